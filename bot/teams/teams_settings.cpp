// load_teams_settings(): the config file's teams: section merged with the environment names
// Bot Framework tooling uses (the environment wins). See teams_auth.h.
#include <filesystem>

#include "bot/config.h"
#include "bot/teams/teams_auth.h"
#include "common/redact.h"

namespace shipmate::bot::teams {
namespace {

struct Value {
  std::string value;
  std::string source;  // the variable or key it came from, for errors
};

// The first set variable of `names`, else the file's value under `key`.
Value pick(const Environment& environment, std::initializer_list<const char*> names,
           const std::string& file_value, const char* key) {
  for (const char* name : names) {
    std::string value = environment ? environment(name) : std::string();
    if (!value.empty())
      return {std::move(value), name};
  }
  return {file_value, std::string("teams ") + key};
}

bool is_http_url(const std::string& text) {
  return text.starts_with("https://") || text.starts_with("http://");
}

}  // namespace

Result<std::optional<TeamsSettings>> load_teams_settings(const Config& config,
                                                         const Environment& environment) {
  const TeamsConfig& file = config.teams;
  const Value app_id =
      pick(environment, {"MicrosoftAppId", "MICROSOFT_APP_ID"}, file.app_id, "app_id");
  const Value password = pick(environment, {"MicrosoftAppPassword", "MICROSOFT_APP_PASSWORD"},
                              file.app_password, "app_password");
  const Value tenant = pick(environment, {"MicrosoftAppTenantId", "MICROSOFT_APP_TENANT_ID"},
                            file.tenant_id, "tenant_id");
  const Value type =
      pick(environment, {"MicrosoftAppType", "MICROSOFT_APP_TYPE"}, file.app_type, "app_type");
  const Value webhook_secret = pick(environment, {"TEAMS_OUTGOING_WEBHOOK_SECRET"},
                                    file.outgoing_webhook_secret, "outgoing_webhook_secret");
  register_secret(password.value);
  register_secret(webhook_secret.value);

  if (app_id.value.empty() && webhook_secret.value.empty()) {
    if (file.present || !password.value.empty())
      return make_error(
          "Teams is configured but has no app id: set MicrosoftAppId (or "
          "MICROSOFT_APP_ID) or teams app_id",
          ErrorKind::invalid);
    return std::optional<TeamsSettings>{};
  }

  TeamsSettings settings;
  settings.app_id = app_id.value;
  settings.app_password = password.value;
  settings.tenant_id = tenant.value;
  settings.outgoing_webhook_secret = webhook_secret.value;
  if (!settings.app_id.empty() && settings.app_password.empty())
    return make_error("Teams app " + settings.app_id +
                          " has no password: set MicrosoftAppPassword (or MICROSOFT_APP_PASSWORD) "
                          "or teams app_password: {secret: name}",
                      ErrorKind::invalid);
  // Bot Framework tooling spells the types MultiTenant / SingleTenant, case-insensitively.
  const std::string type_lower = [&] {
    std::string out;
    for (char c : type.value)
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    return out;
  }();
  if (type_lower.empty() || type_lower == "multitenant") {
    settings.app_type = TeamsAppType::multi_tenant;
  } else if (type_lower == "singletenant") {
    settings.app_type = TeamsAppType::single_tenant;
  } else if (type_lower == "userassignedmsi") {
    return make_error(type.source +
                          " is UserAssignedMSI: managed identities are not supported; "
                          "register the bot as MultiTenant or SingleTenant with an app "
                          "password",
                      ErrorKind::invalid);
  } else {
    return make_error(
        type.source + " must be MultiTenant or SingleTenant, not '" + type.value + "'",
        ErrorKind::invalid);
  }
  if (settings.app_type == TeamsAppType::single_tenant && settings.tenant_id.empty())
    return make_error(
        "a SingleTenant Teams app needs its tenant: set MicrosoftAppTenantId (or "
        "MICROSOFT_APP_TENANT_ID) or teams tenant_id",
        ErrorKind::invalid);

  struct Endpoint {
    const char* variable;
    const std::string& file_value;
    const char* key;
    std::string& target;
    bool url;
  };
  TeamsEndpoints& endpoints = settings.endpoints;
  const Endpoint list[] = {
      {"BOTFRAMEWORK_OPENID_METADATA_URL", file.openid_metadata_url, "openid_metadata_url",
       endpoints.openid_metadata_url, true},
      {"BOTFRAMEWORK_LOGIN_URL", file.login_url, "login_url", endpoints.login_url, true},
      {"BOTFRAMEWORK_TOKEN_URL", file.token_url, "token_url", endpoints.token_url, true},
      {"BOTFRAMEWORK_OAUTH_SCOPE", file.oauth_scope, "oauth_scope", endpoints.oauth_scope, false},
      {"BOTFRAMEWORK_TOKEN_ISSUER", file.token_issuer, "token_issuer", endpoints.token_issuer,
       false},
  };
  for (const Endpoint& endpoint : list) {
    Value value = pick(environment, {endpoint.variable}, endpoint.file_value, endpoint.key);
    if (value.value.empty())
      continue;
    if (endpoint.url && !is_http_url(value.value))
      return make_error(value.source + " must be an http(s) URL, not '" + value.value + "'",
                        ErrorKind::invalid);
    endpoint.target = std::move(value.value);
  }
  Value ca = pick(environment, {"BOTFRAMEWORK_CA_FILE"}, file.ca_file, "ca_file");
  if (!ca.value.empty()) {
    std::error_code error;
    if (!std::filesystem::exists(ca.value, error))
      return make_error(ca.source + " names " + ca.value + ", which does not exist",
                        ErrorKind::invalid);
    settings.ca_file = std::move(ca.value);
  }
  return std::optional<TeamsSettings>(std::move(settings));
}

}  // namespace shipmate::bot::teams
