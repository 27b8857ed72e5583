// Slack's entry in the platform table (bot/platforms.h): the Slack transport built from the
// `slack:` config section and the environment.
//
// Slack joins when its credentials are in the environment: SLACK_BOT_TOKEN, plus SLACK_APP_TOKEN
// (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode). SLACK_API_URL points the Web API elsewhere
// (tests, a proxy). Users map by their `ids: {slack: U...}`.
#pragma once

#include <memory>
#include <optional>

#include "bot/platforms.h"
#include "bot/slack/slack_transport.h"

namespace shipmate::bot::slack {

// The options for the configured mode; nullopt when Slack is not asked for or cannot join.
std::optional<SlackOptions> slack_options(const PlatformContext& context);

std::unique_ptr<ChatTransport> make_slack_transport(const PlatformContext& context);

}  // namespace shipmate::bot::slack
