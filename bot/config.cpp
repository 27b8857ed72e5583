#include "bot/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "bot/config_checker.h"
#include "bot/config_incidents.h"
#include "bot/config_integrations.h"
#include "bot/config_schedules.h"
#include "bot/config_web.h"
#include "bot/runbook_config.h"
#include "commands/registry.h"
#include "common/cron.h"
#include "common/redact.h"
#include "common/strings.h"
#include "storage/database.h"

namespace shipmate::bot {
namespace fs = std::filesystem;
using commands::Action;

std::string Diagnostic::to_string() const {
  std::string out = file;
  if (line > 0)
    out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += severity == Severity::error ? ": error: " : ": warning: ";
  return out + message;
}

namespace {

const std::regex kNamePattern("^[A-Za-z0-9][A-Za-z0-9_.-]*$");

// One freeze window: recurring {cron, duration, timezone, reason} or one-off {from, until,
// [timezone], reason}.
void parse_freeze(Checker& check, const YAML::Node& node, commands::EnvironmentSpec& env,
                  const std::string& default_zone) {
  if (!check.expect_map(node, "a freeze window"))
    return;
  check.check_keys(node, {"cron", "duration", "timezone", "from", "until", "reason"},
                   "a freeze window of " + env.name);
  const std::string reason =
      node["reason"] ? check.scalar(node["reason"], "reason").value_or("") : "";
  // Without timezone: the configuration's (UTC unless timezone: says otherwise).
  const std::string zone =
      node["timezone"] ? check.scalar(node["timezone"], "timezone").value_or("") : default_zone;
  Result<commands::FreezeWindow> window = make_error("");
  if (node["cron"]) {
    if (node["from"] || node["until"]) {
      check.error(node, "a freeze window takes cron + duration, or from + until, not both");
      return;
    }
    if (!node["duration"]) {
      check.error(node, "a recurring freeze window needs duration: (e.g. 64h)");
      return;
    }
    auto duration = check.duration(node["duration"], "duration");
    if (!duration)
      return;
    window = commands::FreezeWindow::recurring(check.scalar(node["cron"], "cron").value_or(""),
                                               *duration, zone, reason);
  } else if (node["from"] && node["until"]) {
    const std::string from = check.scalar(node["from"], "from").value_or("");
    const std::string until = check.scalar(node["until"], "until").value_or("");
    auto start = parse_iso8601(from);
    auto end = parse_iso8601(until);
    if (!start || !end) {
      check.error(!start ? node["from"] : node["until"],
                  "freeze times are written like 2026-12-20T00:00:00Z or "
                  "2026-12-20T09:00+01:00");
      return;
    }
    window = commands::FreezeWindow::one_off(*start, *end, reason, zone);
  } else {
    check.error(node, "a freeze window needs cron: (recurring) or from: and until: (one-off)");
    return;
  }
  if (!window) {
    check.error(node, "freeze window of " + env.name + ": " + window.error().message);
    return;
  }
  env.freezes.push_back(std::move(*window));
}

void parse_environments(Checker& check, const YAML::Node& node, Config& config) {
  if (!node) {
    check.error_at(1, 1, "missing 'environments': list at least one, e.g. - name: staging");
    return;
  }
  if (!check.expect_sequence(node, "environments"))
    return;
  if (node.size() == 0)
    check.error(node, "environments is empty: list at least one");
  std::set<std::string> seen;
  for (const auto& item : node) {
    if (!check.expect_map(item, "an environment"))
      continue;
    check.check_keys(
        item, {"name", "production", "allow", "promotion", "freeze", "approvals", "description"},
        "an environment");
    commands::EnvironmentSpec env;
    if (!item["name"]) {
      check.error(item, "environment without a name");
      continue;
    }
    env.name = check.scalar(item["name"], "environment name").value_or("");
    if (!std::regex_match(env.name, kNamePattern)) {
      check.error(item["name"], "environment name '" + env.name +
                                    "' may only use letters, digits, '-', '_' and '.'");
    }
    if (!seen.insert(env.name).second) {
      check.error(item["name"], "environment '" + env.name + "' is defined twice");
    }
    if (item["production"])
      env.production = check.boolean(item["production"], "production").value_or(true);
    if (const auto promotion = item["promotion"]) {
      commands::PromotionRule rule;
      if (check.expect_map(promotion, "promotion")) {
        check.check_keys(promotion, {"from", "soak"}, "promotion of " + env.name);
        if (promotion["from"])
          rule.from = check.scalar(promotion["from"], "from").value_or("");
        if (promotion["soak"])
          rule.soak_ms = check.duration(promotion["soak"], "soak").value_or(0);
      }
      env.promotion = rule;
    }
    if (const auto approvals = item["approvals"]) {
      commands::ApprovalPolicy policy;
      if (check.expect_map(approvals, "approvals")) {
        check.check_keys(approvals, {"count", "roles", "expire"}, "approvals of " + env.name);
        if (approvals["count"])
          policy.count =
              static_cast<int>(check.integer(approvals["count"], "count", 1, 10).value_or(1));
        if (approvals["roles"])
          policy.roles = check.string_list(approvals["roles"], "roles");
        if (approvals["expire"])
          policy.expire_ms = check.duration(approvals["expire"], "expire").value_or(3600000);
      }
      env.approvals = policy;
    }
    if (const auto freezes = item["freeze"]) {
      if (check.expect_sequence(freezes, "freeze")) {
        for (const auto& freeze : freezes)
          parse_freeze(check, freeze, env, config.catalog.time_zone);
      }
    }
    if (const auto allow = item["allow"]) {
      if (check.expect_map(allow, "allow")) {
        check.check_keys(
            allow, {"deploy", "rollback", "lock", "takeover", "override", "runbook", "freeze"},
            "allow of " + env.name);
        for (const auto& entry : allow) {
          auto action = commands::parse_action(entry.first.as<std::string>(""));
          if (!action)
            continue;
          env.allowed_roles[*action] = check.string_list(entry.second, "allowed roles");
        }
      }
    }
    config.catalog.environments.push_back(std::move(env));
  }
}

// A promotion rule must name an environment that exists and comes earlier.
void check_promotions(Checker& check, const YAML::Node& node, const Config& config) {
  if (!node || !node.IsSequence())
    return;
  std::vector<std::string> earlier;
  std::size_t index = 0;
  for (const auto& item : node) {
    if (index >= config.catalog.environments.size())
      break;
    const auto& env = config.catalog.environments[index++];
    if (env.promotion && !env.promotion->from.empty() &&
        std::find(earlier.begin(), earlier.end(), env.promotion->from) == earlier.end()) {
      check.error(item["promotion"]["from"],
                  "promotion of " + env.name + " names '" + env.promotion->from +
                      "', which is not an environment listed before it" +
                      commands::did_you_mean(env.promotion->from, earlier));
    }
    earlier.push_back(env.name);
  }
}

// A user's id on each chat platform Shipmate knows: what it looks like, and how to say so. Roles
// come from these ids, never from display names, so each is checked for the platform's id shape.
struct PlatformIdFormat {
  const char* platform;
  const char* pattern;
  const char* description;
};
constexpr PlatformIdFormat kPlatformIds[] = {
    {"slack", "^[UW][A-Z0-9]{2,}$", "a Slack user id (U... or W...)"},
    {"teams", "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
     "a Microsoft Entra (Azure AD) object id, a GUID like 00000000-0000-0000-0000-000000000000"},
};

// Checks and stores `value` as the user's id on `platform`.
void add_platform_id(Checker& check, const YAML::Node& at, const std::string& platform,
                     const std::string& value, commands::UserSpec& user) {
  const PlatformIdFormat* format = nullptr;
  std::vector<std::string> known;
  for (const auto& candidate : kPlatformIds) {
    known.emplace_back(candidate.platform);
    if (platform == candidate.platform)
      format = &candidate;
  }
  if (format == nullptr) {
    check.error(at, "user '" + user.id + "': unknown chat platform '" + platform + "'" +
                        commands::did_you_mean(platform, known) +
                        "; ids can be given for: " + join(known, ", "));
    return;
  }
  if (!std::regex_match(value, std::regex(format->pattern))) {
    check.error(at, platform + ": '" + value + "' is not " + format->description +
                        "; Shipmate maps ids, never display names");
    return;
  }
  if (!user.ids.emplace(platform, value).second) {
    check.error(at, "user '" + user.id + "' has two " + platform +
                        " ids; give it once, under ids: (slack: is the same as ids: {slack: ...})");
  }
}

void parse_users(Checker& check, const YAML::Node& node, Config& config) {
  if (!node)
    return;
  if (!check.expect_sequence(node, "users"))
    return;
  std::set<std::string> seen;
  std::map<std::string, std::string> owner_of;  // "platform:id" -> the user it maps to
  for (const auto& item : node) {
    if (!check.expect_map(item, "a user"))
      continue;
    check.check_keys(item, {"id", "name", "roles", "ids", "slack"}, "a user");
    commands::UserSpec user;
    if (!item["id"]) {
      check.error(item, "user without an id");
      continue;
    }
    user.id = check.scalar(item["id"], "user id").value_or("");
    if (!std::regex_match(user.id, kNamePattern)) {
      check.error(item["id"],
                  "user id '" + user.id + "' may only use letters, digits, '-', '_' and '.'");
    }
    if (!seen.insert(user.id).second)
      check.error(item["id"], "user '" + user.id + "' is defined twice");
    if (item["name"])
      user.name = check.scalar(item["name"], "user name").value_or("");
    if (item["roles"])
      user.roles = check.string_list(item["roles"], "roles");
    // `slack: U123` is the older spelling of `ids: {slack: U123}`.
    if (item["slack"]) {
      if (auto id = check.scalar(item["slack"], "slack user id"))
        add_platform_id(check, item["slack"], "slack", *id, user);
    }
    if (const YAML::Node ids = item["ids"]; ids && check.expect_map(ids, "ids")) {
      for (const auto& entry : ids) {
        const std::string platform = entry.first.as<std::string>("");
        if (auto id = check.scalar(entry.second, platform + " user id"))
          add_platform_id(check, entry.first, platform, *id, user);
      }
    }
    for (const auto& [platform, id] : user.ids) {
      auto [owner, fresh] = owner_of.emplace(platform + ":" + id, user.id);
      if (!fresh && owner->second != user.id) {
        check.error(item, platform + " id " + id + " is given to both '" + owner->second +
                              "' and '" + user.id + "'; one person, one identity");
      }
    }
    config.catalog.users.push_back(std::move(user));
  }
}

// shipmate.database given as {secret: name} (a postgresql:// URI with its password), and
// shipmate.database_tls, whose options reach libpq as URI parameters.
void parse_database_reference(Checker& check, const std::optional<YAML::Node>& secret_node,
                              const std::optional<YAML::Node>& tls_node, Config& config,
                              const fs::path& base) {
  if (secret_node) {
    const YAML::Node& secret = *secret_node;
    if (auto uri = secret_value(check, secret, config, "database")) {
      if (!storage::Database::is_postgresql(*uri)) {
        check.error(secret,
                    "the secret behind database must hold a postgresql:// URI; an SQLite "
                    "file is named directly (database: path)");
      } else if (auto problem = storage::Database::postgresql_uri_problem(*uri, true);
                 !problem.empty()) {
        check.error(secret, problem);
      } else {
        config.database_path = *uri;
      }
    }
  }
  if (!tls_node || !check.expect_map(*tls_node, "database_tls"))
    return;
  const YAML::Node& tls = *tls_node;
  check.check_keys(tls, {"mode", "ca_file", "cert_file", "key_file"}, "database_tls");
  if (!storage::Database::is_postgresql(config.database_path)) {
    check.error(tls, "database_tls applies to a PostgreSQL database (database: postgresql://...)");
    return;
  }
  std::vector<std::pair<std::string, std::string>> parameters;
  if (tls["mode"]) {
    const std::string mode = check.scalar(tls["mode"], "mode").value_or("");
    static const std::vector<std::string> kModes = {"disable", "allow",     "prefer",
                                                    "require", "verify-ca", "verify-full"};
    if (std::find(kModes.begin(), kModes.end(), mode) == kModes.end()) {
      check.error(tls["mode"],
                  "database_tls mode must be one of disable, allow, prefer, require, "
                  "verify-ca, verify-full (libpq's sslmode)");
    } else {
      parameters.emplace_back("sslmode", mode);
    }
  }
  for (const auto& [key, parameter] :
       {std::pair{"ca_file", "sslrootcert"}, std::pair{"cert_file", "sslcert"},
        std::pair{"key_file", "sslkey"}}) {
    if (!tls[key])
      continue;
    const std::string path = absolute_from(base, check.scalar(tls[key], key).value_or(""));
    std::error_code ec;
    if (!fs::is_regular_file(path, ec))
      check.error(tls[key], std::string("database_tls ") + key + ": no such file " + path);
    parameters.emplace_back(parameter, path);
  }
  config.database_path = storage::Database::with_uri_parameters(config.database_path, parameters);
}

void parse_secrets(Checker& check, const YAML::Node& node, Config& config) {
  if (!node)
    return;
  if (!check.expect_map(node, "secrets"))
    return;
  for (const auto& entry : node) {
    SecretRef ref;
    ref.name = entry.first.as<std::string>("");
    const YAML::Node& body = entry.second;
    if (body.IsScalar()) {
      check.error(body, "secret '" + ref.name +
                            "' has a literal value; secrets are given by reference: "
                            "{env: VARIABLE} or {file: /path}");
      continue;
    }
    if (!check.expect_map(body, "secret '" + ref.name + "'"))
      continue;
    check.check_keys(body, {"env", "file"}, "secret '" + ref.name + "'");
    if (body["env"])
      ref.env = check.scalar(body["env"], "env").value_or("");
    if (body["file"]) {
      ref.file = absolute_from(fs::path(config.path).parent_path(),
                               check.scalar(body["file"], "file").value_or(""));
    }
    if (ref.env.empty() == ref.file.empty()) {
      check.error(body, "secret '" + ref.name + "' needs exactly one of env: or file:");
      continue;
    }
    config.secrets[ref.name] = ref;
  }
}

// The services: list. Each entry's own keys (name, description, environments) are read here; its
// integration keys (target, build, strategy, github_deployments) by parse_service_integrations().
void parse_services(Checker& check, const YAML::Node& node, Config& config) {
  if (!node) {
    check.error_at(1, 1, "missing 'services': list the services Shipmate deploys");
    return;
  }
  if (!check.expect_sequence(node, "services"))
    return;
  std::vector<std::string> env_names;
  for (const auto& env : config.catalog.environments)
    env_names.push_back(env.name);
  std::set<std::string> seen;
  std::set<long long> used_ports;
  for (const auto& item : node) {
    if (!check.expect_map(item, "a service"))
      continue;
    // `owners:` used to be accepted and then ignored; say so rather than let someone believe it
    // restricts who may deploy.
    if (const auto owners = item["owners"]) {
      check.error(owners,
                  "services have no owners: key: Shipmate does not record service owners; who "
                  "may deploy is set by the roles in each environment's allow:");
    }
    check.check_keys(item,
                     {"name", "description", "environments", "target", "owners", "build",
                      "strategy", "github_deployments", "notes"},
                     "a service");
    commands::ServiceSpec service;
    if (!item["name"]) {
      check.error(item, "service without a name");
      continue;
    }
    service.name = check.scalar(item["name"], "service name").value_or("");
    if (!std::regex_match(service.name, kNamePattern)) {
      check.error(item["name"], "service name '" + service.name +
                                    "' may only use letters, digits, '-', '_' and '.'");
    }
    if (!seen.insert(service.name).second) {
      check.error(item["name"], "service '" + service.name + "' is defined twice");
    }
    if (item["description"]) {
      service.description = check.scalar(item["description"], "description").value_or("");
    }
    if (item["environments"]) {
      service.environments = check.string_list(item["environments"], "environments");
      for (const auto& env : service.environments) {
        if (std::find(env_names.begin(), env_names.end(), env) == env_names.end()) {
          check.error(item["environments"], "service " + service.name +
                                                " names unknown environment '" + env + "'" +
                                                commands::did_you_mean(env, env_names));
        }
      }
    } else {
      service.environments = env_names;
    }
    parse_service_integrations(check, item, config, service, used_ports);
    config.catalog.services.push_back(std::move(service));
  }
}

}  // namespace

ConfigLoad parse_config(std::string_view yaml, const std::string& path) {
  Checker check(path);
  ConfigLoad result;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    check.error_at(e.mark.line + 1, e.mark.column + 1, "YAML syntax: " + e.msg);
    result.diagnostics = check.take();
    return result;
  }
  if (!root.IsMap()) {
    check.error_at(1, 1, "the configuration must be a mapping with environments:, services:, ...");
    result.diagnostics = check.take();
    return result;
  }
  check.check_keys(
      root,
      {"shipmate", "terminal", "environments", "users", "services", "secrets", "slack", "metrics",
       "teams", "incidents", "alerts", "runbooks", "schedules", "ops", "http", "timezone"},
      "the configuration");

  Config config;
  config.path = fs::absolute(path).lexically_normal().string();
  const fs::path base = fs::path(config.path).parent_path();
  config.database_path = absolute_from(base, ".shipmate/shipmate.db");
  config.state_dir = absolute_from(base, ".shipmate/state");
  // timezone: the zone for times written without one (schedules, freezes, announcements).
  if (const auto zone = root["timezone"]) {
    const std::string name = check.scalar(zone, "timezone").value_or("");
    if (auto found = TimeZone::find(name); !found)
      check.error(zone, "timezone: " + found.error().message);
    else
      config.catalog.time_zone = name;
  }
  // database: {secret: name}, resolved once secrets: is read; and database_tls.
  std::optional<YAML::Node> database_secret;
  std::optional<YAML::Node> database_tls;
  if (const auto bot = root["shipmate"]) {
    if (check.expect_map(bot, "shipmate")) {
      check.check_keys(
          bot, {"name", "database", "database_tls", "state_dir", "replica", "replica_lease"},
          "shipmate");
      if (bot["replica"])
        config.replica = check.scalar(bot["replica"], "replica").value_or("");
      if (bot["replica_lease"]) {
        if (auto lease = check.duration(bot["replica_lease"], "replica_lease")) {
          if (*lease < 1000)
            check.error(bot["replica_lease"], "replica_lease must be at least 1s");
          else
            config.replica_lease_ms = *lease;
        }
      }
      if (bot["name"])
        config.bot_name = check.scalar(bot["name"], "name").value_or("shipmate");
      if (bot["database"] && bot["database"].IsMap()) {
        database_secret = bot["database"];
      } else if (bot["database"]) {
        const std::string value = check.scalar(bot["database"], "database").value_or("");
        if (storage::Database::is_postgresql(value)) {
          if (auto problem = storage::Database::postgresql_uri_problem(value, false);
              !problem.empty())
            check.error(bot["database"], problem);
          config.database_path = value;
        } else {
          config.database_path = absolute_from(base, value);
        }
      }
      if (bot["database_tls"])
        database_tls = bot["database_tls"];
      if (bot["state_dir"]) {
        config.state_dir =
            absolute_from(base, check.scalar(bot["state_dir"], "state_dir").value_or(""));
      }
    }
  }
  if (const auto terminal = root["terminal"]) {
    if (check.expect_map(terminal, "terminal")) {
      check.check_keys(terminal, {"user"}, "terminal");
      if (terminal["user"])
        config.terminal_user = check.scalar(terminal["user"], "user").value_or("");
    }
  }
  if (const auto http = root["http"])
    parse_http_section(check, http, config, base);
  if (const auto slack = root["slack"]) {
    if (check.expect_map(slack, "slack")) {
      check.check_keys(slack,
                       {"mode", "listen", "http_bind", "http_port", "connections", "ca_file",
                        "reply_interval", "reply_burst"},
                       "slack");
      if (slack["mode"]) {
        config.slack.mode = check.scalar(slack["mode"], "mode").value_or("socket");
        if (config.slack.mode != "socket" && config.slack.mode != "http") {
          check.error(slack["mode"],
                      "slack mode must be socket or http, not '" + config.slack.mode + "'");
        }
      }
      if (slack["http_bind"]) {
        deprecated_listen_key(check, slack["http_bind"], "slack", "http_bind");
        config.slack.listen_set = true;
        config.slack.http_bind = check.scalar(slack["http_bind"], "http_bind").value_or("");
      }
      if (slack["http_port"]) {
        deprecated_listen_key(check, slack["http_port"], "slack", "http_port");
        config.slack.listen_set = true;
        config.slack.http_port = static_cast<int>(
            check.integer(slack["http_port"], "http_port", 0, 65535).value_or(3000));
      }
      if (slack["listen"]) {
        if (slack["http_bind"] || slack["http_port"])
          check.error(slack["listen"], "slack listen replaces http_bind and http_port; keep one");
        if (auto address = parse_listen(check, slack["listen"], "slack", "0.0.0.0")) {
          config.slack.listen_set = true;
          config.slack.http_bind = address->bind;
          config.slack.http_port = address->port;
        }
      }
      if (slack["reply_interval"]) {
        config.slack.reply_interval_ms =
            check.duration(slack["reply_interval"], "reply_interval").value_or(1000);
      }
      if (slack["reply_burst"]) {
        config.slack.reply_burst = static_cast<int>(
            check.integer(slack["reply_burst"], "reply_burst", 1, 1000).value_or(3));
      }
      if (slack["connections"]) {
        config.slack.connections =
            static_cast<int>(check.integer(slack["connections"], "connections", 1, 10).value_or(2));
      }
      if (slack["ca_file"]) {
        config.slack.ca_file =
            absolute_from(base, check.scalar(slack["ca_file"], "ca_file").value_or(""));
      }
    }
  }
  if (const auto ops = root["ops"]) {
    if (check.expect_map(ops, "ops")) {
      check.check_keys(ops, {"listen", "bind", "port", "liveness_deadline", "web"}, "ops");
      config.ops.enabled = true;
      if (ops["bind"]) {
        deprecated_listen_key(check, ops["bind"], "ops", "bind");
        config.ops.listen_set = true;
        config.ops.bind = check.scalar(ops["bind"], "bind").value_or("127.0.0.1");
      }
      if (ops["port"]) {
        deprecated_listen_key(check, ops["port"], "ops", "port");
        config.ops.listen_set = true;
        config.ops.port =
            static_cast<int>(check.integer(ops["port"], "port", 0, 65535).value_or(9464));
      }
      if (ops["listen"]) {
        if (ops["bind"] || ops["port"])
          check.error(ops["listen"], "ops listen replaces bind and port; keep one");
        if (auto address = parse_listen(check, ops["listen"], "ops", "127.0.0.1")) {
          config.ops.listen_set = true;
          config.ops.bind = address->bind;
          config.ops.port = address->port;
        }
      }
      if (ops["liveness_deadline"]) {
        config.ops.liveness_deadline_ms =
            check.duration(ops["liveness_deadline"], "liveness_deadline").value_or(10'000);
      }
    }
  }
  parse_environments(check, root["environments"], config);
  check_promotions(check, root["environments"], config);
  parse_users(check, root["users"], config);
  parse_secrets(check, root["secrets"], config);
  if (const auto ops = root["ops"]; ops && ops.IsMap() && ops["web"])
    parse_web_view(check, ops["web"], config);
  parse_database_reference(check, database_secret, database_tls, config, base);
  if (const auto bot = root["shipmate"]; bot && bot.IsMap() && bot["replica"]) {
    const auto bad = std::find_if_not(config.replica.begin(), config.replica.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
    if (config.replica.empty() || config.replica.size() > 64 || bad != config.replica.end()) {
      check.error(bot["replica"],
                  "replica must be 1-64 letters, digits, '.', '-' or '_' (e.g. the host name)");
    } else if (!storage::Database::is_postgresql(config.database_path)) {
      check.error(bot["replica"],
                  "replica: names one of several Shipmates sharing a PostgreSQL database; an "
                  "SQLite file serves one Shipmate (database: postgresql://...)");
    }
  }
  if (root["teams"])
    parse_teams_section(check, root["teams"], config, base);
  if (root["metrics"])
    parse_metrics(check, root["metrics"], config);
  parse_services(check, root["services"], config);
  parse_incidents(check, root["incidents"], config);
  parse_alerts(check, root["alerts"], config);
  if (root["schedules"])
    parse_schedules(check, root["schedules"], config);

  // Roles named in permissions that nobody has are almost always typos.
  std::set<std::string> held;
  for (const auto& user : config.catalog.users)
    held.insert(user.roles.begin(), user.roles.end());
  if (const auto envs = root["environments"]; envs && envs.IsSequence()) {
    for (const auto& item : envs) {
      if (!item.IsMap() || !item["allow"] || !item["allow"].IsMap())
        continue;
      for (const auto& entry : item["allow"]) {
        for (const auto& role : check.string_list(entry.second, "roles")) {
          if (held.count(role) == 0 && role != commands::kAdminRole) {
            check.warning(entry.second, "role '" + role + "' is not given to any user");
          }
        }
      }
    }
  }
  if (!config.terminal_user.empty() && !config.catalog.find_user(config.terminal_user)) {
    check.warning(root["terminal"]["user"],
                  "terminal user '" + config.terminal_user + "' is not listed under users:");
  }

  // Runbooks last: they name environments, services, roles and secrets.
  if (const auto runbooks = root["runbooks"]) {
    if (check.expect_map(runbooks, "runbooks")) {
      check.check_keys(runbooks, {"directory"}, "runbooks");
      if (runbooks["directory"]) {
        config.runbooks_dir =
            absolute_from(base, check.scalar(runbooks["directory"], "directory").value_or(""));
      }
    }
  }
  bool failed = check.has_errors();
  result.diagnostics = check.take();
  if (!failed) {
    load_runbooks(config, result.diagnostics);
    failed =
        std::any_of(result.diagnostics.begin(), result.diagnostics.end(),
                    [](const Diagnostic& d) { return d.severity == Diagnostic::Severity::error; });
  }
  if (!failed)
    result.config = std::move(config);
  return result;
}

ConfigLoad load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    ConfigLoad result;
    result.diagnostics.push_back({Diagnostic::Severity::error, path, 0, 0,
                                  "cannot read the configuration file (does it exist?)"});
    return result;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_config(buffer.str(), path);
}

}  // namespace shipmate::bot
