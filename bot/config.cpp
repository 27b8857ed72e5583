#include "bot/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "commands/registry.h"
#include "common/redact.h"
#include "common/strings.h"

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

// Collects diagnostics while walking the document.
class Checker {
 public:
  explicit Checker(std::string file) : file_(std::move(file)) {}

  void error(const YAML::Node& at, const std::string& message) {
    add(Diagnostic::Severity::error, at, message);
  }
  void warning(const YAML::Node& at, const std::string& message) {
    add(Diagnostic::Severity::warning, at, message);
  }
  void error_at(int line, int column, const std::string& message) {
    diagnostics_.push_back({Diagnostic::Severity::error, file_, line, column, message});
  }

  // Reports keys of `map` that are not in `allowed`, with a suggestion.
  void check_keys(const YAML::Node& map, const std::vector<std::string>& allowed,
                  const std::string& where) {
    if (!map.IsMap())
      return;
    for (const auto& entry : map) {
      const std::string key = entry.first.as<std::string>("");
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        error(entry.first, "unknown key '" + key + "' in " + where +
                               commands::did_you_mean(key, allowed) +
                               "; expected one of: " + join(allowed, ", "));
      }
    }
  }

  bool expect_map(const YAML::Node& node, const std::string& what) {
    if (node.IsMap())
      return true;
    error(node, what + " must be a mapping (key: value)");
    return false;
  }
  bool expect_sequence(const YAML::Node& node, const std::string& what) {
    if (node.IsSequence())
      return true;
    error(node, what + " must be a list");
    return false;
  }

  std::optional<std::string> scalar(const YAML::Node& node, const std::string& what) {
    if (node.IsScalar())
      return node.Scalar();
    error(node, what + " must be a single value");
    return std::nullopt;
  }

  std::vector<std::string> string_list(const YAML::Node& node, const std::string& what) {
    std::vector<std::string> out;
    if (node.IsScalar()) {
      out.push_back(node.Scalar());
      return out;
    }
    if (!expect_sequence(node, what))
      return out;
    for (const auto& item : node) {
      if (auto value = scalar(item, "each entry of " + what))
        out.push_back(*value);
    }
    return out;
  }

  std::optional<long long> duration(const YAML::Node& node, const std::string& what) {
    auto text = scalar(node, what);
    if (!text)
      return std::nullopt;
    auto ms = parse_duration_ms(*text);
    if (!ms)
      error(node, what + " '" + *text + "' is not a duration; write e.g. 500ms, 2s, 1m");
    return ms;
  }

  std::optional<long long> integer(const YAML::Node& node, const std::string& what, long long low,
                                   long long high) {
    auto text = scalar(node, what);
    if (!text)
      return std::nullopt;
    char* end = nullptr;
    long long value = std::strtoll(text->c_str(), &end, 10);
    if (text->empty() || *end != '\0' || value < low || value > high) {
      error(node, what + " must be a whole number from " + std::to_string(low) + " to " +
                      std::to_string(high) + ", not '" + *text + "'");
      return std::nullopt;
    }
    return value;
  }

  std::optional<bool> boolean(const YAML::Node& node, const std::string& what) {
    auto text = scalar(node, what);
    if (!text)
      return std::nullopt;
    if (*text == "true" || *text == "yes")
      return true;
    if (*text == "false" || *text == "no")
      return false;
    error(node, what + " must be true or false");
    return std::nullopt;
  }

  bool has_errors() const {
    return std::any_of(diagnostics_.begin(), diagnostics_.end(), [](const Diagnostic& d) {
      return d.severity == Diagnostic::Severity::error;
    });
  }
  std::vector<Diagnostic> take() { return std::move(diagnostics_); }
  const std::string& file() const { return file_; }

 private:
  void add(Diagnostic::Severity severity, const YAML::Node& at, const std::string& message) {
    const auto mark = at.Mark();
    const bool known = mark.line >= 0;
    diagnostics_.push_back(
        {severity, file_, known ? mark.line + 1 : 0, known ? mark.column + 1 : 0, message});
  }

  std::string file_;
  std::vector<Diagnostic> diagnostics_;
};

std::string absolute_from(const fs::path& base, const std::string& path) {
  fs::path p(path);
  if (p.is_relative())
    p = base / p;
  return p.lexically_normal().string();
}

bool looks_like_credential(std::string_view key) {
  const std::string lowered = to_lower(key);
  for (std::string_view word : {"token", "password", "passwd", "secret", "apikey", "api_key",
                                "private_key", "credential"}) {
    if (lowered.find(word) != std::string::npos)
      return true;
  }
  return false;
}

// One freeze window: recurring {cron, duration, timezone, reason} or one-off {from, until,
// [timezone], reason}.
void parse_freeze(Checker& check, const YAML::Node& node, commands::EnvironmentSpec& env) {
  if (!check.expect_map(node, "a freeze window"))
    return;
  check.check_keys(node, {"cron", "duration", "timezone", "from", "until", "reason"},
                   "a freeze window of " + env.name);
  const std::string reason =
      node["reason"] ? check.scalar(node["reason"], "reason").value_or("") : "";
  const std::string zone =
      node["timezone"] ? check.scalar(node["timezone"], "timezone").value_or("") : "";
  Result<commands::FreezeWindow> window = make_error("");
  if (node["cron"]) {
    if (node["from"] || node["until"]) {
      check.error(node, "a freeze window takes cron + duration, or from + until, not both");
      return;
    }
    if (!node["duration"] || zone.empty()) {
      check.error(node,
                  "a recurring freeze window needs duration: and timezone: (e.g. 64h and "
                  "America/New_York)");
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
          parse_freeze(check, freeze, env);
      }
    }
    if (const auto allow = item["allow"]) {
      if (check.expect_map(allow, "allow")) {
        check.check_keys(allow, {"deploy", "rollback", "lock", "takeover", "override"},
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

void parse_users(Checker& check, const YAML::Node& node, Config& config) {
  if (!node)
    return;
  if (!check.expect_sequence(node, "users"))
    return;
  std::set<std::string> seen;
  for (const auto& item : node) {
    if (!check.expect_map(item, "a user"))
      continue;
    check.check_keys(item, {"id", "name", "roles", "slack"}, "a user");
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
    if (item["slack"]) {
      user.slack_id = check.scalar(item["slack"], "slack user id").value_or("");
      static const std::regex slack_id("^[UW][A-Z0-9]{2,}$");
      if (!std::regex_match(user.slack_id, slack_id)) {
        check.error(item["slack"], "slack: '" + user.slack_id +
                                       "' is not a Slack user id (U... or W...); Shipmate maps "
                                       "ids, never display names");
      }
    }
    config.catalog.users.push_back(std::move(user));
  }
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

// Reads a secret's value and registers it for redaction; nullopt with a diagnostic on failure.
std::optional<std::string> read_secret(Checker& check, const YAML::Node& at, const SecretRef& ref) {
  std::string value;
  if (!ref.env.empty()) {
    const char* raw = std::getenv(ref.env.c_str());
    if (raw == nullptr || *raw == '\0') {
      check.error(at, "secret '" + ref.name + "': environment variable " + ref.env + " is not set");
      return std::nullopt;
    }
    value = raw;
  } else {
    std::ifstream in(ref.file);
    if (!in) {
      check.error(at, "secret '" + ref.name + "': cannot read " + ref.file);
      return std::nullopt;
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    value = buffer.str();
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r'))
      value.pop_back();
  }
  register_secret(value);
  return value;
}

void parse_local_target(Checker& check, const YAML::Node& node, Config& config,
                        commands::ServiceSpec& service, std::set<long long>& used_ports) {
  const std::string where = "target of " + service.name;
  check.check_keys(node, {"kind", "releases", "start", "env", "health", "ports", "stop_grace"},
                   where);
  auto& local = service.local;
  local.service = service.name;
  local.state_dir = config.state_dir + "/local";
  const fs::path base = fs::path(config.path).parent_path();

  if (!node["releases"]) {
    check.error(node, where + " needs 'releases': the directory holding one folder per version");
  } else if (auto dir = check.scalar(node["releases"], "releases")) {
    local.releases_dir = absolute_from(base, *dir);
    std::error_code ec;
    if (!fs::is_directory(local.releases_dir, ec)) {
      check.error(node["releases"], "releases directory " + local.releases_dir + " of " +
                                        service.name + " does not exist");
    }
  }
  if (!node["start"]) {
    check.error(node, where + " needs 'start': the command that runs a release, as a list");
  } else {
    local.start_command = check.string_list(node["start"], "start");
    if (node["start"].IsScalar()) {
      check.error(node["start"],
                  "start must be a list of arguments such as [python3, server.py]; "
                  "Shipmate never runs commands through a shell");
    } else if (local.start_command.empty()) {
      check.error(node["start"], "start is empty");
    }
  }
  if (const auto env = node["env"]) {
    if (check.expect_map(env, "env")) {
      for (const auto& entry : env) {
        const std::string key = entry.first.as<std::string>("");
        const YAML::Node& value = entry.second;
        if (value.IsMap() && value["secret"]) {
          const std::string name = check.scalar(value["secret"], "secret").value_or("");
          auto ref = config.secrets.find(name);
          if (ref == config.secrets.end()) {
            check.error(value["secret"],
                        "unknown secret '" + name + "'; declare it under secrets:");
            continue;
          }
          if (auto secret = read_secret(check, value["secret"], ref->second)) {
            local.env[key] = *secret;
          }
          continue;
        }
        auto text = check.scalar(value, "env " + key);
        if (!text)
          continue;
        if (looks_like_credential(key)) {
          check.error(value, "env " + key +
                                 " looks like a credential; put it under secrets: and "
                                 "write {secret: name} here");
          continue;
        }
        local.env[key] = *text;
      }
    }
  }
  if (const auto health = node["health"]) {
    if (check.expect_map(health, "health")) {
      check.check_keys(health, {"http", "command", "timeout", "retries", "interval"},
                       "health of " + service.name);
      if (health["http"]) {
        local.health.http_path = check.scalar(health["http"], "health http").value_or("/");
        if (local.health.http_path.empty() || local.health.http_path[0] != '/') {
          check.error(health["http"], "health http must be a path starting with '/'");
        }
      }
      if (health["command"]) {
        local.health.command = check.string_list(health["command"], "health command");
        if (health["command"].IsScalar()) {
          check.error(health["command"], "health command must be a list of arguments");
        }
      }
      if (health["http"] && health["command"]) {
        check.error(health, "health takes http or command, not both");
      }
      if (health["timeout"]) {
        if (auto ms = check.duration(health["timeout"], "health timeout")) {
          local.health.timeout = std::chrono::milliseconds(*ms);
        }
      }
      if (health["interval"]) {
        if (auto ms = check.duration(health["interval"], "health interval")) {
          local.health.interval = std::chrono::milliseconds(*ms);
        }
      }
      if (health["retries"]) {
        local.health.retries = static_cast<int>(
            check.integer(health["retries"], "health retries", 1, 10000).value_or(5));
      }
    }
  }
  if (local.health.http_path.empty() && local.health.command.empty())
    local.health.http_path = "/";
  if (node["stop_grace"]) {
    if (auto ms = check.duration(node["stop_grace"], "stop_grace")) {
      local.stop_grace = std::chrono::milliseconds(*ms);
    }
  }
  const auto ports = node["ports"];
  if (!ports) {
    check.error(node, where +
                          " needs 'ports': one loopback port per environment, e.g. "
                          "{staging: 8081}");
    return;
  }
  if (!check.expect_map(ports, "ports"))
    return;
  for (const auto& entry : ports) {
    const std::string env = entry.first.as<std::string>("");
    if (std::find(service.environments.begin(), service.environments.end(), env) ==
        service.environments.end()) {
      check.error(entry.first, "ports lists '" + env + "', which is not an environment of " +
                                   service.name +
                                   commands::did_you_mean(env, service.environments));
      continue;
    }
    auto port = check.integer(entry.second, "port", 1, 65535);
    if (!port)
      continue;
    if (!used_ports.insert(*port).second) {
      check.error(entry.second, "port " + std::to_string(*port) + " is used twice");
    }
    local.environments[env].port = static_cast<int>(*port);
  }
  for (const auto& env : service.environments) {
    if (local.environments.count(env) == 0) {
      check.error(ports, "ports has no entry for " + env + " (" + service.name + " runs there)");
    }
  }
}

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
    check.check_keys(item, {"name", "description", "environments", "target", "owners"},
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
    const auto target = item["target"];
    if (!target) {
      check.error(item, "service " + service.name + " needs a target: (kind: local, ...)");
    } else if (check.expect_map(target, "target")) {
      service.target_kind =
          target["kind"] ? check.scalar(target["kind"], "kind").value_or("") : "local";
      if (service.target_kind == "local") {
        parse_local_target(check, target, config, service, used_ports);
      } else {
        check.error(target["kind"], "unknown target kind '" + service.target_kind +
                                        "'; this build supports: local");
      }
    }
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
      root, {"shipmate", "terminal", "environments", "users", "services", "secrets", "slack"},
      "the configuration");

  Config config;
  config.path = fs::absolute(path).lexically_normal().string();
  const fs::path base = fs::path(config.path).parent_path();
  config.database_path = absolute_from(base, ".shipmate/shipmate.db");
  config.state_dir = absolute_from(base, ".shipmate/state");
  if (const auto bot = root["shipmate"]) {
    if (check.expect_map(bot, "shipmate")) {
      check.check_keys(bot, {"name", "database", "state_dir"}, "shipmate");
      if (bot["name"])
        config.bot_name = check.scalar(bot["name"], "name").value_or("shipmate");
      if (bot["database"]) {
        config.database_path =
            absolute_from(base, check.scalar(bot["database"], "database").value_or(""));
      }
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
  if (const auto slack = root["slack"]) {
    if (check.expect_map(slack, "slack")) {
      check.check_keys(slack,
                       {"mode", "http_bind", "http_port", "connections", "ca_file",
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
        config.slack.http_bind = check.scalar(slack["http_bind"], "http_bind").value_or("");
      }
      if (slack["http_port"]) {
        config.slack.http_port = static_cast<int>(
            check.integer(slack["http_port"], "http_port", 0, 65535).value_or(3000));
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
            static_cast<int>(check.integer(slack["connections"], "connections", 1, 10).value_or(1));
      }
      if (slack["ca_file"]) {
        config.slack.ca_file =
            absolute_from(base, check.scalar(slack["ca_file"], "ca_file").value_or(""));
      }
    }
  }
  parse_environments(check, root["environments"], config);
  check_promotions(check, root["environments"], config);
  parse_users(check, root["users"], config);
  parse_secrets(check, root["secrets"], config);
  parse_services(check, root["services"], config);

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

  const bool failed = check.has_errors();
  result.diagnostics = check.take();
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
