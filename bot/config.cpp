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
#include "integrations/metrics/prometheus.h"

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

// `{secret: name}` resolved to its value (and registered for redaction). Anything else is an
// error: credentials are never written into the file.
std::optional<std::string> secret_value(Checker& check, const YAML::Node& node, Config& config,
                                        const std::string& what) {
  if (!node.IsMap() || !node["secret"]) {
    check.error(node, what +
                          " must be a reference such as {secret: name}, declared under "
                          "secrets:; credentials are never written in the file");
    return std::nullopt;
  }
  const std::string name = check.scalar(node["secret"], "secret").value_or("");
  auto ref = config.secrets.find(name);
  if (ref == config.secrets.end()) {
    check.error(node["secret"], "unknown secret '" + name + "'; declare it under secrets:");
    return std::nullopt;
  }
  return read_secret(check, node["secret"], ref->second);
}

std::map<std::string, std::string> string_map(Checker& check, const YAML::Node& node,
                                              const std::string& what) {
  std::map<std::string, std::string> out;
  if (!check.expect_map(node, what))
    return out;
  for (const auto& entry : node) {
    const std::string key = entry.first.as<std::string>("");
    if (auto value = check.scalar(entry.second, what + " " + key))
      out[key] = *value;
  }
  return out;
}

std::string required(Checker& check, const YAML::Node& node, const std::string& key,
                     const std::string& where, const std::string& example) {
  if (!node[key]) {
    check.error(node, where + " needs " + key + ": (" + example + ")");
    return {};
  }
  return check.scalar(node[key], key).value_or("");
}

// `repo: owner/name` read into a GitHub config; an error at `node` when it is not exactly that.
void parse_github_repo(Checker& check, const YAML::Node& node, const std::string& where,
                       integrations::GithubActionsConfig& github) {
  const std::string repo = required(check, node, "repo", where, "owner/name");
  const auto slash = repo.find('/');
  if (!repo.empty() && (slash == std::string::npos || slash == 0 || slash + 1 == repo.size() ||
                        repo.find('/', slash + 1) != std::string::npos)) {
    check.error(node["repo"], "repo must be owner/name, not '" + repo + "'");
  } else if (!repo.empty()) {
    github.owner = repo.substr(0, slash);
    github.repo = repo.substr(slash + 1);
  }
}

// A per-environment setting must name an environment the service is deployed to.
void check_service_environment(Checker& check, const YAML::Node& at, const std::string& where,
                               const commands::ServiceSpec& service, const std::string& env) {
  if (std::find(service.environments.begin(), service.environments.end(), env) ==
      service.environments.end()) {
    check.error(at, where + " names environment '" + env + "', which " + service.name +
                        " is not deployed to");
  }
}

// A CI block: `provider:` plus that provider's fields. Used for a service's build: and for
// targets of kind pipeline (`provider_key` names the key that holds the provider there).
std::optional<CiSpec> parse_ci(Checker& check, const YAML::Node& node, Config& config,
                               const std::string& where, const std::string& provider_key,
                               std::vector<std::string> extra_keys) {
  if (!check.expect_map(node, where))
    return std::nullopt;
  CiSpec spec;
  if (!node[provider_key]) {
    check.error(node, where + " needs " + provider_key + ": github, gitlab or jenkins");
    return std::nullopt;
  }
  spec.provider = check.scalar(node[provider_key], provider_key).value_or("");
  const fs::path base = fs::path(config.path).parent_path();
  std::vector<std::string> keys = {provider_key, "ca_file", "poll", "timeout"};
  keys.insert(keys.end(), extra_keys.begin(), extra_keys.end());
  integrations::FollowOptions follow;
  if (node["poll"])
    follow.first_poll =
        std::chrono::milliseconds(check.duration(node["poll"], "poll").value_or(5000));
  follow.max_poll = std::max(follow.max_poll, follow.first_poll);
  if (node["timeout"]) {
    follow.deadline =
        std::chrono::milliseconds(check.duration(node["timeout"], "timeout").value_or(3600000));
  }
  if (node["ca_file"])
    spec.ca_file = absolute_from(base, check.scalar(node["ca_file"], "ca_file").value_or(""));

  if (spec.provider == "github") {
    keys.insert(keys.end(),
                {"api_url", "repo", "workflow", "ref", "token", "inputs", "correlation_input"});
    check.check_keys(node, keys, where);
    auto& github = spec.github;
    if (node["api_url"])
      github.api_url = check.scalar(node["api_url"], "api_url").value_or("");
    parse_github_repo(check, node, where, github);
    github.workflow = required(check, node, "workflow", where, "the file name, e.g. deploy.yml");
    if (node["ref"])
      github.ref = check.scalar(node["ref"], "ref").value_or("main");
    if (!node["token"])
      check.error(node, where + " needs token: {secret: name} (a GitHub token with actions:write)");
    else
      github.token = secret_value(check, node["token"], config, "token").value_or("");
    if (node["inputs"])
      github.inputs = string_map(check, node["inputs"], "inputs");
    if (node["correlation_input"])
      github.correlation_input =
          check.scalar(node["correlation_input"], "correlation_input").value_or("");
    github.follow = follow;
  } else if (spec.provider == "gitlab") {
    keys.insert(keys.end(),
                {"api_url", "project", "ref", "token", "token_kind", "read_token", "variables"});
    check.check_keys(node, keys, where);
    auto& gitlab = spec.gitlab;
    if (node["api_url"])
      gitlab.api_url = check.scalar(node["api_url"], "api_url").value_or("");
    gitlab.project = required(check, node, "project", where, "group/project or its numeric id");
    if (node["ref"])
      gitlab.ref = check.scalar(node["ref"], "ref").value_or("main");
    if (node["token_kind"]) {
      const std::string kind = check.scalar(node["token_kind"], "token_kind").value_or("");
      auto parsed = integrations::parse_gitlab_token_kind(kind);
      if (!parsed)
        check.error(node["token_kind"],
                    "token_kind must be private or trigger, not '" + kind + "'");
      else
        gitlab.token_kind = *parsed;
    }
    if (!node["token"])
      check.error(node, where + " needs token: {secret: name} (an access token with api scope)");
    else
      gitlab.token = secret_value(check, node["token"], config, "token").value_or("");
    if (node["read_token"])
      gitlab.read_token =
          secret_value(check, node["read_token"], config, "read_token").value_or("");
    if (node["variables"])
      gitlab.variables = string_map(check, node["variables"], "variables");
    gitlab.follow = follow;
  } else if (spec.provider == "jenkins") {
    keys.insert(keys.end(), {"url", "job", "user", "token", "parameters"});
    check.check_keys(node, keys, where);
    auto& jenkins = spec.jenkins;
    jenkins.url = required(check, node, "url", where, "Jenkins' root URL");
    jenkins.job = required(check, node, "job", where, "the job's full name, e.g. deploys/api");
    jenkins.user = required(check, node, "user", where, "the user the API token belongs to");
    if (!node["token"])
      check.error(node, where + " needs token: {secret: name} (the user's API token)");
    else
      jenkins.api_token = secret_value(check, node["token"], config, "token").value_or("");
    if (node["parameters"])
      jenkins.parameters = string_map(check, node["parameters"], "parameters");
    jenkins.follow = follow;
  } else {
    check.error(node[provider_key],
                "unknown CI provider '" + spec.provider +
                    "'; Shipmate supports github, gitlab and jenkins" +
                    commands::did_you_mean(spec.provider, {"github", "gitlab", "jenkins"}));
    return std::nullopt;
  }
  return spec;
}

void parse_argocd_target(Checker& check, const YAML::Node& node, Config& config,
                         const commands::ServiceSpec& service) {
  const std::string where = "argocd target of " + service.name;
  check.check_keys(node,
                   {"kind", "server", "token", "project", "applications", "mode", "helm_parameter",
                    "auto_sync", "prune", "timeout", "poll", "ca_file"},
                   where);
  integrations::ArgoCdTargetConfig argo;
  argo.service = service.name;
  argo.server_url = required(check, node, "server", where, "https://argocd.example.com");
  if (!node["token"])
    check.error(node, where + " needs token: {secret: name} (an Argo CD API token)");
  else
    argo.token = secret_value(check, node["token"], config, "token").value_or("");
  if (node["project"])
    argo.project = check.scalar(node["project"], "project").value_or("");
  if (node["applications"]) {
    for (const auto& [env, app] : string_map(check, node["applications"], "applications")) {
      check_service_environment(check, node["applications"], where, service, env);
      argo.environments[env].application = app;
    }
  }
  if (node["mode"]) {
    const std::string mode = check.scalar(node["mode"], "mode").value_or("");
    if (mode == "revision") {
      argo.version_mode = integrations::ArgoCdVersionMode::kRevision;
    } else if (mode == "helm") {
      argo.version_mode = integrations::ArgoCdVersionMode::kHelmParameter;
    } else {
      check.error(node["mode"], "mode must be revision or helm, not '" + mode + "'");
    }
  }
  if (node["helm_parameter"])
    argo.helm_parameter = check.scalar(node["helm_parameter"], "helm_parameter").value_or("");
  if (node["auto_sync"]) {
    const std::string policy = check.scalar(node["auto_sync"], "auto_sync").value_or("");
    if (policy == "refuse") {
      argo.auto_sync = integrations::ArgoCdAutoSyncPolicy::kRefuse;
    } else if (policy == "suspend") {
      argo.auto_sync = integrations::ArgoCdAutoSyncPolicy::kSuspend;
    } else {
      check.error(node["auto_sync"], "auto_sync must be refuse or suspend, not '" + policy + "'");
    }
  }
  if (node["prune"])
    argo.prune = check.boolean(node["prune"], "prune").value_or(false);
  if (node["timeout"]) {
    argo.sync_timeout =
        std::chrono::milliseconds(check.duration(node["timeout"], "timeout").value_or(600000));
  }
  if (node["poll"])
    argo.poll_interval =
        std::chrono::milliseconds(check.duration(node["poll"], "poll").value_or(2000));
  if (node["ca_file"]) {
    argo.ca_file = absolute_from(fs::path(config.path).parent_path(),
                                 check.scalar(node["ca_file"], "ca_file").value_or(""));
  }
  if (!check.has_errors()) {
    if (auto valid = integrations::validate_argocd_config(argo); !valid)
      check.error(node, where + ": " + valid.error().message);
  }
  config.integrations[service.name].argocd = std::move(argo);
}

void parse_kubernetes_target(Checker& check, const YAML::Node& node, Config& config,
                             const commands::ServiceSpec& service) {
  const std::string where = "kubernetes target of " + service.name;
  check.check_keys(node,
                   {"kind", "kubeconfig", "context", "in_cluster", "namespaces", "deployment",
                    "container", "image", "timeout", "poll", "watch_window"},
                   where);
  integrations::KubernetesTargetConfig kube;
  kube.service = service.name;
  const fs::path base = fs::path(config.path).parent_path();
  if (node["in_cluster"])
    kube.credentials.in_cluster = check.boolean(node["in_cluster"], "in_cluster").value_or(false);
  if (node["kubeconfig"]) {
    kube.credentials.kubeconfig =
        absolute_from(base, check.scalar(node["kubeconfig"], "kubeconfig").value_or(""));
  } else if (!kube.credentials.in_cluster) {
    const char* env = std::getenv("KUBECONFIG");
    const char* home = std::getenv("HOME");
    if (env != nullptr && *env != '\0') {
      kube.credentials.kubeconfig = std::string(env).substr(0, std::string(env).find(':'));
    } else if (home != nullptr) {
      kube.credentials.kubeconfig = std::string(home) + "/.kube/config";
    }
  }
  if (node["context"])
    kube.credentials.context = check.scalar(node["context"], "context").value_or("");
  if (node["namespaces"]) {
    kube.namespaces = string_map(check, node["namespaces"], "namespaces");
    for (const auto& [env, ns] : kube.namespaces) {
      check_service_environment(check, node["namespaces"], where, service, env);
    }
  }
  for (const auto& env : service.environments)
    kube.namespaces.try_emplace(env, "");
  kube.deployment = required(check, node, "deployment", where, "the Deployment's name");
  if (node["container"])
    kube.container = check.scalar(node["container"], "container").value_or("");
  kube.image_repository =
      required(check, node, "image", where, "the image repository, e.g. registry.example.com/api");
  if (node["timeout"]) {
    kube.rollout_timeout =
        std::chrono::milliseconds(check.duration(node["timeout"], "timeout").value_or(600000));
  }
  if (node["poll"])
    kube.poll_interval =
        std::chrono::milliseconds(check.duration(node["poll"], "poll").value_or(2000));
  if (node["watch_window"]) {
    kube.watch_window = std::chrono::milliseconds(
        check.duration(node["watch_window"], "watch_window").value_or(2000));
  }
  if (!check.has_errors()) {
    if (auto valid = integrations::validate_kubernetes_config(kube); !valid)
      check.error(node, where + ": " + valid.error().message);
  }
  config.integrations[service.name].kubernetes = std::move(kube);
}

void parse_strategy(Checker& check, const YAML::Node& node, Config& config,
                    commands::ServiceSpec& service) {
  const std::string where = "strategy of " + service.name;
  if (!check.expect_map(node, where))
    return;
  check.check_keys(node, {"kind", "steps", "bake", "environments", "checks", "decision_timeout"},
                   where);
  auto& strategy = service.strategy;
  const std::string kind =
      node["kind"] ? check.scalar(node["kind"], "kind").value_or("") : "rolling";
  if (kind == "rolling") {
    strategy.kind = commands::StrategyKind::rolling;
  } else if (kind == "canary") {
    strategy.kind = commands::StrategyKind::canary;
  } else if (kind == "blue-green" || kind == "blue_green") {
    strategy.kind = commands::StrategyKind::blue_green;
  } else {
    check.error(node["kind"],
                "strategy kind must be rolling, canary or blue-green, not '" + kind + "'");
  }
  if (node["steps"]) {
    if (strategy.kind != commands::StrategyKind::canary)
      check.error(node["steps"], "steps: only apply to the canary strategy");
    int previous = 0;
    for (const auto& text : check.string_list(node["steps"], "steps")) {
      char* end = nullptr;
      const long value = std::strtol(text.c_str(), &end, 10);
      const bool percent_sign = *end == '%' && end[1] == '\0';
      if (text.empty() || (*end != '\0' && !percent_sign) || value <= previous || value > 100) {
        check.error(node["steps"],
                    "canary steps are ascending percentages from 1 to 100 (e.g. "
                    "[10, 50]), not '" +
                        text + "'");
        break;
      }
      previous = static_cast<int>(value);
      strategy.steps.push_back(previous);
    }
  }
  if (node["bake"])
    strategy.bake_ms = check.duration(node["bake"], "bake").value_or(0);
  if (node["decision_timeout"]) {
    strategy.decision_timeout_ms =
        check.duration(node["decision_timeout"], "decision_timeout").value_or(1800000);
  }
  if (node["environments"]) {
    strategy.environments = check.string_list(node["environments"], "environments");
    for (const auto& env : strategy.environments) {
      check_service_environment(check, node["environments"], where, service, env);
    }
  }
  if (const auto checks = node["checks"]) {
    if (check.expect_sequence(checks, "checks")) {
      for (const auto& item : checks) {
        if (!check.expect_map(item, "a check"))
          continue;
        check.check_keys(item, {"name", "query", "max", "min"}, "a check of " + service.name);
        commands::MetricCheckSpec metric;
        metric.name = required(check, item, "name", "a check", "e.g. error_rate");
        metric.query =
            required(check, item, "query", "check " + metric.name, "a PromQL expression");
        for (const char* bound : {"max", "min"}) {
          if (!item[bound])
            continue;
          const std::string text = check.scalar(item[bound], bound).value_or("");
          char* end = nullptr;
          const double value = std::strtod(text.c_str(), &end);
          if (text.empty() || *end != '\0') {
            check.error(item[bound], std::string(bound) + " must be a number, not '" + text + "'");
            continue;
          }
          (std::string(bound) == "max" ? metric.max : metric.min) = value;
        }
        if (!metric.max && !metric.min) {
          check.error(item, "check " + metric.name + " needs max: or min: (or both)");
        } else {
          const integrations::MetricCheck probe{metric.name, metric.query, metric.max, metric.min};
          if (auto valid = integrations::validate_check(probe); !valid)
            check.error(item, valid.error().message);
        }
        strategy.checks.push_back(std::move(metric));
      }
    }
  }
  if (!strategy.checks.empty() && !config.metrics) {
    check.error(node["checks"], "checks of " + service.name +
                                    " need a metrics source: add metrics: {prometheus: URL}");
  }
}

void parse_metrics(Checker& check, const YAML::Node& node, Config& config) {
  if (!check.expect_map(node, "metrics"))
    return;
  check.check_keys(node, {"prometheus", "token", "ca_file", "timeout"}, "metrics");
  MetricsConfig metrics;
  metrics.prometheus_url = required(check, node, "prometheus", "metrics",
                                    "the Prometheus URL, e.g. http://127.0.0.1:9090");
  if (!metrics.prometheus_url.empty() && !metrics.prometheus_url.starts_with("http://") &&
      !metrics.prometheus_url.starts_with("https://")) {
    check.error(node["prometheus"], "metrics prometheus must be an http:// or https:// URL");
  }
  while (metrics.prometheus_url.ends_with('/'))
    metrics.prometheus_url.pop_back();
  if (node["token"])
    metrics.bearer_token = secret_value(check, node["token"], config, "token").value_or("");
  if (node["ca_file"]) {
    metrics.ca_file = absolute_from(fs::path(config.path).parent_path(),
                                    check.scalar(node["ca_file"], "ca_file").value_or(""));
  }
  if (node["timeout"])
    metrics.timeout_ms = check.duration(node["timeout"], "timeout").value_or(5000);
  config.metrics = std::move(metrics);
}

void parse_github_deployments(Checker& check, const YAML::Node& node, Config& config,
                              const commands::ServiceSpec& service) {
  const std::string where = "github_deployments of " + service.name;
  if (!check.expect_map(node, where))
    return;
  check.check_keys(node, {"repo", "token", "api_url", "ca_file"}, where);
  integrations::GithubActionsConfig github;
  parse_github_repo(check, node, where, github);
  if (!node["token"])
    check.error(node, where + " needs token: {secret: name} (a token with deployments:write)");
  else
    github.token = secret_value(check, node["token"], config, "token").value_or("");
  if (node["api_url"])
    github.api_url = check.scalar(node["api_url"], "api_url").value_or("");
  auto& entry = config.integrations[service.name];
  if (node["ca_file"]) {
    entry.github_deployments_ca_file = absolute_from(
        fs::path(config.path).parent_path(), check.scalar(node["ca_file"], "ca_file").value_or(""));
  }
  entry.github_deployments = std::move(github);
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
    check.check_keys(item,
                     {"name", "description", "environments", "target", "owners", "build",
                      "strategy", "github_deployments"},
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
      } else if (service.target_kind == "kubernetes") {
        parse_kubernetes_target(check, target, config, service);
      } else if (service.target_kind == "argocd") {
        parse_argocd_target(check, target, config, service);
      } else if (service.target_kind == "pipeline") {
        config.integrations[service.name].pipeline = parse_ci(
            check, target, config, "pipeline target of " + service.name, "provider", {"kind"});
      } else {
        check.error(target["kind"],
                    "unknown target kind '" + service.target_kind +
                        "'; Shipmate supports local, kubernetes, argocd and pipeline" +
                        commands::did_you_mean(service.target_kind,
                                               {"local", "kubernetes", "argocd", "pipeline"}));
      }
    }
    if (const auto build = item["build"]) {
      config.integrations[service.name].build =
          parse_ci(check, build, config, "build of " + service.name, "provider", {});
      service.has_build = config.integrations[service.name].build.has_value();
      if (service.has_build) {
        const auto& spec = *config.integrations[service.name].build;
        const auto& follow = spec.follow();
        service.build_poll = follow.first_poll;
        service.build_timeout_ms = follow.deadline.count();
      }
    }
    if (const auto strategy = item["strategy"])
      parse_strategy(check, strategy, config, service);
    if (const auto mirror = item["github_deployments"])
      parse_github_deployments(check, mirror, config, service);
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
      {"shipmate", "terminal", "environments", "users", "services", "secrets", "slack", "metrics"},
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
  if (root["metrics"])
    parse_metrics(check, root["metrics"], config);
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
