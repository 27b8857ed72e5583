#include "commands/deploy_policy.h"

#include <algorithm>

#include "commands/deploy_steps.h"
#include "commands/handlers.h"
#include "commands/resolve.h"
#include "common/chat_input.h"
#include "common/strings.h"

namespace shipmate::commands {
namespace {

using storage::DeployKind;
using storage::DeployState;

// Refusals shared by deploys and rollbacks: locks, and one active deploy per scope.
Status check_scope_free(Services& services, const std::string& service,
                        const std::string& environment) {
  for (const auto& scope : blocking_scopes(service, environment)) {
    if (auto lock = services.locks.get(scope)) {
      std::string text = describe_scope(scope) + " is locked by " + lock->holder + " since " +
                         format_utc(lock->since);
      if (!lock->reason.empty())
        text += " (" + lock->reason + ")";
      return make_error(text + "; ask " + lock->holder + " or run 'unlock " +
                        describe_scope(scope) + "' when it is safe");
    }
  }
  if (auto active = services.deploys.active_for(service, environment)) {
    return make_error("deploy #" + std::to_string(active->id) + " (" + service + " " +
                      active->version + " to " + environment + ") is still " +
                      std::string(to_string(active->state)) + "; wait for it to finish");
  }
  return Ok{};
}

Result<const EnvironmentSpec*> environment_for_service(const Catalog& catalog,
                                                       const ServiceSpec& service,
                                                       const std::string& name) {
  auto env = resolve_environment(catalog, name);
  if (!env)
    return env;
  if (std::find(service.environments.begin(), service.environments.end(), name) ==
      service.environments.end()) {
    return make_error(service.name + " is not deployed to " + name + "; it runs in " +
                      join(service.environments, ", "));
  }
  return env;
}

std::string versions_hint(const integrations::DeployTarget& target) {
  auto versions = target.available_versions();
  return versions.empty() ? "" : " (available: " + join(versions, ", ") + ")";
}

// The promotion rule of `environment`, if it has one: `version` must have succeeded in the
// environment before it and served there for the soak time.
Status check_promotion(Services& services, const ServiceSpec& service,
                       const EnvironmentSpec& environment, const std::string& version) {
  if (!environment.promotion)
    return Ok{};
  std::string from = environment.promotion->from;
  if (from.empty()) {
    auto previous = services.catalog.previous_environment(service, environment.name);
    if (!previous)
      return Ok{};
    from = *previous;
  }
  std::optional<storage::DeployRecord> passed;
  for (const auto& deploy : services.deploys.history(service.name, from, 500)) {
    if (deploy.version == version && deploy.state == DeployState::succeeded) {
      passed = deploy;
      break;
    }
  }
  if (!passed) {
    return make_error(service.name + " " + version + " has not succeeded in " + from +
                      " yet, and " + environment.name + " only takes versions that have");
  }
  const EpochMillis since = passed->finished_at.value_or(passed->requested_at);
  const EpochMillis soaked = services.clock.now_ms() - since;
  if (soaked < environment.promotion->soak_ms) {
    return make_error(service.name + " " + version + " has soaked in " + from + " for " +
                      format_duration(soaked) + "; " + environment.name + " needs " +
                      format_duration(environment.promotion->soak_ms) + " (ready at " +
                      format_utc(since + environment.promotion->soak_ms) + ")");
  }
  return Ok{};
}

}  // namespace

std::vector<std::string> blocking_scopes(const std::string& service,
                                         const std::string& environment) {
  return {"service:" + service + "@" + environment, "service:" + service, "env:" + environment};
}

Result<DeployPlan> prepare_deploy(Services& services, const Caller& caller,
                                  const DeployRequest& request) {
  if (auto bounded = validate_free_text("reason", request.reason); !bounded)
    return bounded.error();
  auto service = resolve_service(services.catalog, request.service);
  if (!service)
    return service.error();
  if ((*service)->environments.empty()) {
    return make_error((*service)->name + " has no environments configured");
  }
  const std::string env_name =
      request.environment.empty() ? (*service)->environments.front() : request.environment;
  auto environment = environment_for_service(services.catalog, **service, env_name);
  if (!environment)
    return environment.error();

  auto decision = authorize(caller.user, caller.user_id, Action::deploy, **environment);
  if (!decision.allowed)
    return make_error(decision.reason);

  auto target_it = services.targets.find((*service)->name);
  if (target_it == services.targets.end()) {
    return make_error((*service)->name + " has no deploy target configured");
  }
  const auto& target = *target_it->second;

  DeployPlan plan;
  plan.service = *service;
  plan.environment = *environment;
  plan.kind = request.kind;
  plan.reason = request.reason;
  plan.version = request.version;
  if (plan.version.empty()) {
    auto previous = services.catalog.previous_environment(**service, env_name);
    std::string promoted = previous ? current_version(services, plan.service->name, *previous) : "";
    if (promoted.empty()) {
      return make_error("which version of " + plan.service->name + "? say 'deploy " +
                        plan.service->name + " <version> to " + env_name + "'" +
                        versions_hint(target));
    }
    plan.version = promoted;
  }
  // One allow-list for every target kind, before any target sees the version.
  if (auto allowed = validate_version(plan.version); !allowed)
    return allowed.error();
  if (auto valid = target.validate(env_name, plan.version); !valid)
    return valid.error();

  // Policies that --override may set aside: the promotion rule, then freeze windows.
  std::vector<std::string> refusals;
  if (auto promoted = check_promotion(services, *plan.service, **environment, plan.version);
      !promoted) {
    refusals.push_back(promoted.error().message);
  }
  if (auto freeze = active_freeze((*environment)->freezes, services.clock.now_ms())) {
    const auto& window = (*environment)->freezes[freeze->window_index];
    refusals.push_back(env_name + " is frozen" +
                       (freeze->reason.empty() ? "" : " (" + freeze->reason + ")") + " " +
                       describe_until(window, freeze->ends_at_ms));
  }
  if (auto frozen = chat_freeze_refusal(services, **environment))
    refusals.push_back(*frozen);
  if (!refusals.empty()) {
    const std::string refused = join(refusals, "; ");
    if (!request.override_policy)
      return make_error(refused + "; someone allowed to may add --override --reason \"...\"");
    auto may = authorize(caller.user, caller.user_id, Action::override, **environment);
    if (!may.allowed)
      return make_error(refused + "; and " + may.reason);
    if (request.reason.empty())
      return make_error("--override needs --reason \"why\", for the audit log");
    plan.overridden = refused;
  }

  plan.previous_version = current_version(services, plan.service->name, env_name);
  if (plan.previous_version == plan.version && !request.force) {
    return make_error(plan.service->name + " " + plan.version + " is already serving in " +
                      env_name + "; add --force to deploy it again");
  }
  if (plan.previous_version == plan.version)
    plan.kind = DeployKind::redeploy;
  if (auto free = check_scope_free(services, plan.service->name, env_name); !free) {
    return free.error();
  }
  return plan;
}

Result<DeployPlan> prepare_rollback(Services& services, const Caller& caller,
                                    const std::string& service_name, const std::string& environment,
                                    const std::string& to_version, const std::string& reason) {
  if (auto bounded = validate_free_text("reason", reason); !bounded)
    return bounded.error();
  auto service = resolve_service(services.catalog, service_name);
  if (!service)
    return service.error();

  std::string env_name = environment;
  if (env_name.empty()) {
    std::vector<std::string> deployed;
    for (const auto& env : (*service)->environments) {
      if (services.deploys.last_succeeded((*service)->name, env))
        deployed.push_back(env);
    }
    if (deployed.empty()) {
      return make_error((*service)->name + " has never been deployed, so there is nothing to " +
                        "roll back");
    }
    if (deployed.size() > 1) {
      return make_error((*service)->name + " runs in " + join(deployed, " and ") +
                        "; say which: 'rollback " + (*service)->name + " in " + deployed.back() +
                        "'");
    }
    env_name = deployed.front();
  }
  auto env = environment_for_service(services.catalog, **service, env_name);
  if (!env)
    return env.error();

  auto decision = authorize(caller.user, caller.user_id, Action::rollback, **env);
  if (!decision.allowed)
    return make_error(decision.reason);

  auto target_it = services.targets.find((*service)->name);
  if (target_it == services.targets.end()) {
    return make_error((*service)->name + " has no deploy target configured");
  }

  const std::string current = current_version(services, (*service)->name, env_name);
  if (current.empty()) {
    return make_error((*service)->name + " has never been deployed to " + env_name +
                      ", so there is nothing to roll back");
  }
  std::string version = to_version;
  if (version.empty()) {
    auto earlier = services.deploys.last_succeeded_other_than((*service)->name, env_name, current);
    if (!earlier) {
      return make_error("no earlier good version of " + (*service)->name + " in " + env_name +
                        " to roll back to; " + current + " is the only one that ever succeeded");
    }
    version = earlier->version;
  } else if (version == current) {
    return make_error((*service)->name + " " + version + " is already serving in " + env_name);
  }
  if (auto allowed = validate_version(version); !allowed)
    return allowed.error();
  if (auto valid = target_it->second->validate(env_name, version); !valid)
    return valid.error();
  if (auto free = check_scope_free(services, (*service)->name, env_name); !free) {
    return free.error();
  }

  DeployPlan plan;
  plan.service = *service;
  plan.environment = *env;
  plan.version = version;
  plan.previous_version = current;
  plan.kind = DeployKind::rollback;
  plan.reason = reason;
  return plan;
}

}  // namespace shipmate::commands
