#include "bot/target_kinds.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <utility>

#include "bot/config_checker.h"
#include "bot/config_integrations.h"
#include "bot/integrations_setup.h"
#include "commands/registry.h"
#include "integrations/argocd/argocd_target.h"
#include "integrations/ci/pipeline_target.h"
#include "integrations/kubernetes/kubernetes_target.h"
#include "integrations/local_process_target.h"

namespace shipmate::bot {
namespace fs = std::filesystem;

namespace {

using TargetPtr = std::unique_ptr<integrations::DeployTarget>;

Error not_configured(const TargetBuild& in) {
  return make_error(in.where + ": target kind '" + in.service.target_kind + "' is not configured");
}

// ---- local: a release directory per version, run as a child process (local_process_target.h)

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

void parse_local(const TargetParse& in) {
  parse_local_target(in.check, in.node, in.config, in.service, in.used_ports);
}

Result<TargetPtr> build_local(const TargetBuild& in) {
  auto local = in.service.local;
  local.state_dir = in.config.state_dir + "/local";
  return integrations::make_local_process_target(in.executor, local);
}

// ---- kubernetes: an apps/v1 Deployment per environment (kubernetes_target.h)

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

void parse_kubernetes(const TargetParse& in) {
  parse_kubernetes_target(in.check, in.node, in.config, in.service);
}

Result<TargetPtr> build_kubernetes(const TargetBuild& in) {
  if (!in.extra.kubernetes)
    return not_configured(in);
  auto target =
      integrations::KubernetesTarget::create(in.executor, *in.extra.kubernetes, in.out.timers);
  if (!target)
    return make_error(in.where + ": " + target.error().message);
  return TargetPtr(std::move(*target));
}

// ---- argocd: an Argo CD Application per environment (argocd_target.h)

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
      argo.version_mode = integrations::ArgoCdVersionMode::revision;
    } else if (mode == "helm") {
      argo.version_mode = integrations::ArgoCdVersionMode::helm_parameter;
    } else {
      check.error(node["mode"], "mode must be revision or helm, not '" + mode + "'");
    }
  }
  if (node["helm_parameter"])
    argo.helm_parameter = check.scalar(node["helm_parameter"], "helm_parameter").value_or("");
  if (node["auto_sync"]) {
    const std::string policy = check.scalar(node["auto_sync"], "auto_sync").value_or("");
    if (policy == "refuse") {
      argo.auto_sync = integrations::ArgoCdAutoSyncPolicy::refuse;
    } else if (policy == "suspend") {
      argo.auto_sync = integrations::ArgoCdAutoSyncPolicy::suspend;
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

void parse_argocd(const TargetParse& in) {
  parse_argocd_target(in.check, in.node, in.config, in.service);
}

Result<TargetPtr> build_argocd(const TargetBuild& in) {
  if (!in.extra.argocd)
    return not_configured(in);
  return TargetPtr(
      std::make_unique<integrations::ArgoCdTarget>(in.executor, *in.extra.argocd, in.out.timers));
}

// ---- pipeline: a CI pipeline deploys (ci/pipeline_target.h)

void parse_pipeline(const TargetParse& in) {
  in.config.integrations[in.service.name].pipeline = parse_ci(
      in.check, in.node, in.config, "pipeline target of " + in.service.name, "provider", {"kind"});
}

Result<TargetPtr> build_pipeline(const TargetBuild& in) {
  if (!in.extra.pipeline)
    return not_configured(in);
  auto provider =
      make_ci_provider(in.out, in.executor, *in.extra.pipeline, in.where + " (pipeline target)");
  if (!provider)
    return provider.error();
  integrations::PipelineTargetConfig pipeline;
  pipeline.service = in.service.name;
  pipeline.follow = in.extra.pipeline->follow();
  pipeline.timers = in.out.timers;
  return integrations::make_pipeline_target(std::move(*provider), pipeline);
}

constexpr std::array kKinds = {
    TargetKind{"local", parse_local, build_local},
    TargetKind{"kubernetes", parse_kubernetes, build_kubernetes},
    TargetKind{"argocd", parse_argocd, build_argocd},
    TargetKind{"pipeline", parse_pipeline, build_pipeline},
};

}  // namespace

std::span<const TargetKind> target_kinds() {
  return kKinds;
}

const TargetKind* find_target_kind(std::string_view name) {
  for (const TargetKind& kind : kKinds) {
    if (kind.name == name)
      return &kind;
  }
  return nullptr;
}

std::vector<std::string> target_kind_names() {
  std::vector<std::string> names;
  for (const TargetKind& kind : kKinds)
    names.emplace_back(kind.name);
  return names;
}

}  // namespace shipmate::bot
