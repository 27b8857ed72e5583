// Teams authentication: the settings a bot needs, the verifier every inbound Bot Framework
// request passes before anything else happens, and the client-credentials token for outbound
// connector calls. The pure decisions live in bot_framework_auth.h.
//
// Contract
// - Threading: an InboundVerifier and a ConnectorCredentials belong to one executor (the event
//   loop); verify() and bearer() may run concurrently from many coroutines. Both borrow the
//   HttpClient and the Clock, which must outlive them.
// - Inbound (make_inbound_verifier): `Authorization: Bearer <JWT>`. The OpenID metadata is
//   fetched, then its jwks_uri; the keys are cached, refreshed after a day, and fetched again when
//   a token names an unknown kid, at most once per `min_refetch` (a flood of made-up kids fetches
//   at most that often; concurrent verifications share one fetch). The token must be RS256, and
//   only RS256: the algorithm is decided here, never by the token's header (libjwt would otherwise
//   verify an HS256 token keyed by the public key). Then iss, aud, exp/nbf (5 min skew), the
//   key's endorsements (the activity's channelId) and the serviceurl claim (the activity's
//   serviceUrl) are checked. A refusal says 401 or 403 and one line to log; it never contains the
//   token. A token whose signature verified is remembered (at most 1024, dropped once expired):
//   the Bot Framework reuses one token for many activities, and libjwt's PEM-keyed check costs
//   about half a millisecond of CPU, so a token seen before skips only the signature check; its
//   key must still be published and its claims are checked against every activity. The verifier
//   does not log and makes no call other than fetching keys: the caller logs the reason once and
//   answers with the status, calling nothing else.
// - Outbound (make_connector_credentials): client credentials against the login endpoint
//   (`<login_url>/<tenant>/oauth2/v2.0/token`, tenant = botframework.com for multi-tenant apps,
//   the app's tenant for single-tenant ones; or the explicit token URL). The token is cached and
//   fetched again `refresh_margin` before it expires (or at half its life when that is shorter);
//   concurrent callers share one request; invalidate() drops it (after the connector answered
//   401). Errors are sentences for a person (wrong secret, unknown app, unknown tenant, an
//   unreachable endpoint); the secret never appears in them or in logs.
// - Settings: load_teams_settings() reads the config file's `teams:` section and the environment
//   names Bot Framework tooling uses; see there.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "bot/teams/bot_framework_auth.h"
#include "bot/teams/teams_auth_api.h"
#include "common/result.h"

namespace shipmate {
class Clock;
}
namespace shipmate::integrations::net {
class HttpClient;
}
namespace shipmate::bot {
struct Config;
}

namespace shipmate::bot::teams {

inline constexpr const char* kDefaultOpenIdMetadataUrl =
    "https://login.botframework.com/v1/.well-known/openidconfiguration";
inline constexpr const char* kDefaultLoginUrl = "https://login.microsoftonline.com";
inline constexpr const char* kDefaultOAuthScope = "https://api.botframework.com/.default";
inline constexpr const char* kDefaultTokenIssuer = "https://api.botframework.com";
inline constexpr const char* kMultiTenantAuthority = "botframework.com";

enum class TeamsAppType { multi_tenant, single_tenant };

struct TeamsEndpoints {
  std::string openid_metadata_url = kDefaultOpenIdMetadataUrl;
  std::string login_url = kDefaultLoginUrl;  // + "/<tenant>/oauth2/v2.0/token"
  std::string token_url;                     // when set, used as is instead
  std::string oauth_scope = kDefaultOAuthScope;
  std::string token_issuer = kDefaultTokenIssuer;  // the iss inbound tokens must carry
};

struct TeamsSettings {
  std::string app_id;
  std::string app_password;  // the client secret, resolved and registered for redaction
  std::string tenant_id;     // required for single-tenant apps
  TeamsAppType app_type = TeamsAppType::multi_tenant;
  TeamsEndpoints endpoints;
  std::string ca_file;  // extra trusted CA certificates (PEM), e.g. for a test Bot Framework
  // Outgoing-webhook mode: the base64 security token Teams shows (resolved, registered).
  std::string outgoing_webhook_secret;

  // The tenant whose login endpoint issues connector tokens.
  std::string token_tenant() const;
  // The token endpoint actually called.
  std::string token_url() const;
};

// The Teams settings from `config.teams` and the environment. The environment wins over the
// file. Names (either spelling): MicrosoftAppId / MICROSOFT_APP_ID, MicrosoftAppPassword /
// MICROSOFT_APP_PASSWORD, MicrosoftAppTenantId / MICROSOFT_APP_TENANT_ID, MicrosoftAppType /
// MICROSOFT_APP_TYPE; endpoints BOTFRAMEWORK_OPENID_METADATA_URL, BOTFRAMEWORK_LOGIN_URL,
// BOTFRAMEWORK_TOKEN_URL, BOTFRAMEWORK_OAUTH_SCOPE, BOTFRAMEWORK_TOKEN_ISSUER, and
// BOTFRAMEWORK_CA_FILE. Secret values read from the environment are registered for redaction.
// - nullopt: Teams is not asked for (no app id anywhere and no outgoing-webhook secret).
// - Error: asked for but unusable (no password, an app type it cannot serve, single-tenant
//   without a tenant, an endpoint that is not an http(s) URL), in one sentence naming the variable
//   or key to fix.
using Environment = std::function<std::string(const char* name)>;
Result<std::optional<TeamsSettings>> load_teams_settings(const Config& config,
                                                         const Environment& environment);

// --- Inbound ---

// VerifiedActivityCaller, InboundCheck, InboundVerifier and ConnectorCredentials are declared in
// teams_auth_api.h (light, for the transport); the factories below make the real ones.

struct InboundVerifierOptions {
  std::chrono::milliseconds refresh_after{std::chrono::hours(24)};
  std::chrono::milliseconds min_refetch{std::chrono::minutes(5)};
  std::chrono::seconds skew{300};
  std::size_t max_token_bytes = 16 * 1024;
};

std::unique_ptr<InboundVerifier> make_inbound_verifier(boost::asio::any_io_executor executor,
                                                       const TeamsSettings& settings,
                                                       integrations::net::HttpClient& http,
                                                       const Clock& clock,
                                                       InboundVerifierOptions options = {});

// --- Outbound ---

struct ConnectorCredentialsOptions {
  std::chrono::seconds refresh_margin{300};
  std::chrono::milliseconds timeout{10'000};
};

std::unique_ptr<ConnectorCredentials> make_connector_credentials(
    boost::asio::any_io_executor executor, const TeamsSettings& settings,
    integrations::net::HttpClient& http, const Clock& clock,
    ConnectorCredentialsOptions options = {});

}  // namespace shipmate::bot::teams
