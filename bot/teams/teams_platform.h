// How Shipmate joins Microsoft Teams: the "teams" entry of the platform table (bot/platforms.h).
//
// make_teams_transport() reads the Teams settings (bot/teams/teams_auth.h: the config file's
// `teams:` section and the Bot Framework environment names, MicrosoftAppId / MICROSOFT_APP_ID and
// the rest) and returns null when Teams is not asked for. Asked for, it builds the token verifier,
// the connector credentials, the conversation-reference store and the TeamsTransport, all owned
// by the transport it returns. It listens on PORT when set (as Bot Framework tooling does), else
// 3978, on every interface, over HTTPS when TEAMS_TLS_CERT_FILE and TEAMS_TLS_KEY_FILE are set.
// With an outgoing-webhook secret it also serves /api/teams-webhook; with only that secret (no app
// id) it runs in outgoing-webhook mode alone.
//
// Contract: event-loop thread, at start-up. Settings that are asked for but unusable (a missing
// password, a bad PORT) are logged in one line naming what to fix, and Teams is not joined.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "bot/platforms.h"
#include "common/result.h"

namespace shipmate::bot::teams {

// PORT's value as a listening port: nullopt when unset, an Error when it is not 1-65535.
Result<std::optional<int>> port_from_environment(const std::string& value);

std::unique_ptr<ChatTransport> make_teams_transport(const PlatformContext& context);

}  // namespace shipmate::bot::teams
