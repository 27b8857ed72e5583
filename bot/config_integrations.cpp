#include "bot/config_integrations.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <utility>

#include "bot/config_checker.h"
#include "bot/target_kinds.h"
#include "commands/registry.h"
#include "integrations/metrics/prometheus.h"

namespace shipmate::bot {
namespace fs = std::filesystem;

namespace {

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

// notes: {git: {path, remote, fetch, proxy, ca_file, token} | github: {repo, token, api_url,
// ca_file}, paths: [globs], pull_url}
void parse_notes(Checker& check, const YAML::Node& node, Config& config,
                 const commands::ServiceSpec& service) {
  const std::string where = "notes of " + service.name;
  if (!check.expect_map(node, where))
    return;
  check.check_keys(node, {"git", "github", "paths", "pull_url"}, where);
  const fs::path base = fs::path(config.path).parent_path();
  auto& entry = config.integrations[service.name];
  std::vector<std::string> paths;
  if (const auto list = node["paths"]; list && check.expect_sequence(list, "paths of " + where)) {
    for (const auto& glob : list) {
      auto text = check.scalar(glob, "a path glob");
      if (text && !text->empty())
        paths.push_back(*text);
    }
  }
  if (node["git"] && node["github"])
    check.error(node, where + ": choose git: (a clone) or github: (the compare API), not both");
  if (const auto git = node["git"]; git && check.expect_map(git, "git of " + where)) {
    check.check_keys(git, {"path", "remote", "fetch", "proxy", "ca_file", "token"},
                     "git of " + where);
    integrations::GitSourceConfig source;
    const std::string path = required(check, git, "path", "git of " + where, "a clone's path");
    source.path = path.empty() ? "" : absolute_from(base, path);
    if (git["remote"])
      source.remote = check.scalar(git["remote"], "remote").value_or("origin");
    if (git["fetch"])
      source.fetch = check.boolean(git["fetch"], "fetch").value_or(true);
    if (git["proxy"])
      source.proxy = check.scalar(git["proxy"], "proxy").value_or("");
    if (git["ca_file"])
      source.ca_file = absolute_from(base, check.scalar(git["ca_file"], "ca_file").value_or(""));
    if (git["token"])
      source.token = secret_value(check, git["token"], config, "token").value_or("");
    source.paths = paths;
    entry.notes_git = std::move(source);
  } else if (const auto github = node["github"];
             github && check.expect_map(github, "github of " + where)) {
    check.check_keys(github, {"repo", "token", "api_url", "ca_file"}, "github of " + where);
    integrations::GithubCompareConfig source;
    parse_github_repo(check, github, "github of " + where, source.api);
    if (!github["token"])
      check.error(github, "github of " + where + " needs token: {secret: name} (contents:read)");
    else
      source.api.token = secret_value(check, github["token"], config, "token").value_or("");
    if (github["api_url"])
      source.api.api_url = check.scalar(github["api_url"], "api_url").value_or("");
    if (github["ca_file"])
      entry.notes_ca_file =
          absolute_from(base, check.scalar(github["ca_file"], "ca_file").value_or(""));
    source.paths = paths;
    if (!source.api.owner.empty())
      entry.notes_pull_url =
          "https://github.com/" + source.api.owner + "/" + source.api.repo + "/pull/";
    entry.notes_github = std::move(source);
  } else if (!node["git"] && !node["github"]) {
    check.error(node, where + " needs git: {path: ...} or github: {repo: owner/name, token: ...}");
  }
  if (node["pull_url"])
    entry.notes_pull_url = check.scalar(node["pull_url"], "pull_url").value_or("");
}

// "a, b, c and d".
std::string listed(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0)
      out += i + 1 == names.size() ? " and " : ", ";
    out += names[i];
  }
  return out;
}

void parse_target(Checker& check, const YAML::Node& target, Config& config,
                  commands::ServiceSpec& service, std::set<long long>& used_ports) {
  service.target_kind =
      target["kind"] ? check.scalar(target["kind"], "kind").value_or("") : "local";
  if (const TargetKind* kind = find_target_kind(service.target_kind)) {
    kind->parse(TargetParse{check, target, config, service, used_ports});
    return;
  }
  const std::vector<std::string> names = target_kind_names();
  check.error(target["kind"], "unknown target kind '" + service.target_kind +
                                  "'; Shipmate supports " + listed(names) +
                                  commands::did_you_mean(service.target_kind, names));
}

}  // namespace

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

void parse_service_integrations(Checker& check, const YAML::Node& item, Config& config,
                                commands::ServiceSpec& service, std::set<long long>& used_ports) {
  const auto target = item["target"];
  if (!target) {
    check.error(item, "service " + service.name + " needs a target: (kind: local, ...)");
  } else if (check.expect_map(target, "target")) {
    parse_target(check, target, config, service, used_ports);
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
  if (const auto notes = item["notes"])
    parse_notes(check, notes, config, service);
}

}  // namespace shipmate::bot
