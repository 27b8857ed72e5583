// The `teams:` section of the configuration: the Teams app's identity, its secret by reference,
// and overridable Bot Framework endpoints (for a test Bot Framework). The environment can supply
// or override every value (bot/teams/teams_auth.h, load_teams_settings).
#include <string>
#include <vector>

#include "bot/config_checker.h"

namespace shipmate::bot {
namespace {

bool is_http_url(const std::string& text) {
  return text.starts_with("https://") || text.starts_with("http://");
}

}  // namespace

void parse_teams_section(Checker& check, const YAML::Node& node, Config& config,
                         const std::filesystem::path& base) {
  if (!check.expect_map(node, "teams"))
    return;
  TeamsConfig& teams = config.teams;
  teams.present = true;
  check.check_keys(
      node,
      {"app_id", "app_password", "tenant_id", "app_type", "openid_metadata_url", "login_url",
       "token_url", "oauth_scope", "token_issuer", "ca_file", "outgoing_webhook_secret", "listen"},
      "teams");
  if (node["app_id"])
    teams.app_id = check.scalar(node["app_id"], "teams app_id").value_or("");
  if (node["app_password"]) {
    teams.app_password =
        secret_value(check, node["app_password"], config, "teams app_password").value_or("");
  }
  if (node["outgoing_webhook_secret"]) {
    teams.outgoing_webhook_secret = secret_value(check, node["outgoing_webhook_secret"], config,
                                                 "teams outgoing_webhook_secret")
                                        .value_or("");
  }
  if (node["tenant_id"])
    teams.tenant_id = check.scalar(node["tenant_id"], "teams tenant_id").value_or("");
  if (node["app_type"]) {
    teams.app_type = check.scalar(node["app_type"], "teams app_type").value_or("");
    const std::vector<std::string> types = {"MultiTenant", "SingleTenant"};
    if (teams.app_type == "UserAssignedMSI") {
      check.error(node["app_type"],
                  "teams app_type UserAssignedMSI (a managed identity) is not supported; use "
                  "MultiTenant or SingleTenant with an app password");
    } else if (std::find(types.begin(), types.end(), teams.app_type) == types.end()) {
      check.error(node["app_type"], "teams app_type must be MultiTenant or SingleTenant, not '" +
                                        teams.app_type + "'" +
                                        commands::did_you_mean(teams.app_type, types));
    }
  }
  if (teams.app_type == "SingleTenant" && teams.tenant_id.empty() && node["app_type"]) {
    check.error(node["app_type"],
                "a SingleTenant teams app needs tenant_id: (its Microsoft Entra tenant id)");
  }
  struct UrlKey {
    const char* key;
    std::string* target;
  };
  for (const UrlKey& url :
       {UrlKey{"openid_metadata_url", &teams.openid_metadata_url},
        UrlKey{"login_url", &teams.login_url}, UrlKey{"token_url", &teams.token_url}}) {
    if (!node[url.key])
      continue;
    *url.target = check.scalar(node[url.key], std::string("teams ") + url.key).value_or("");
    if (!url.target->empty() && !is_http_url(*url.target)) {
      check.error(node[url.key], std::string("teams ") + url.key +
                                     " must be an http(s) URL, not '" + *url.target + "'");
    }
  }
  if (node["listen"])
    teams.listen = parse_listen(check, node["listen"], "teams", "0.0.0.0");
  if (node["oauth_scope"])
    teams.oauth_scope = check.scalar(node["oauth_scope"], "teams oauth_scope").value_or("");
  if (node["token_issuer"])
    teams.token_issuer = check.scalar(node["token_issuer"], "teams token_issuer").value_or("");
  if (node["ca_file"]) {
    teams.ca_file =
        absolute_from(base, check.scalar(node["ca_file"], "teams ca_file").value_or(""));
    std::error_code error;
    if (!std::filesystem::exists(teams.ca_file, error))
      check.error(node["ca_file"], "teams ca_file " + teams.ca_file + " does not exist");
  }
}

}  // namespace shipmate::bot
