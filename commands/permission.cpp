#include "commands/permission.h"

#include <cctype>

#include "commands/incident_model.h"
#include "commands/resolve.h"
#include "commands/runbook_library.h"

namespace shipmate::commands {
namespace {

std::optional<Action> policy_action(CommandAction action) {
  switch (action) {
    case CommandAction::deploy:
      return Action::deploy;
    case CommandAction::rollback:
      return Action::rollback;
    case CommandAction::lock:
      return Action::lock;
    case CommandAction::runbook:
      return Action::runbook;
    case CommandAction::freeze:
      return Action::freeze;
    case CommandAction::read:
    case CommandAction::schedule:
    case CommandAction::unlock:
    case CommandAction::approve:
    case CommandAction::incident:
    case CommandAction::notes:
      return std::nullopt;
  }
  return std::nullopt;
}

// "Deploy refused", "Continue refused", "Incident declare refused".
std::string refused_label(const CommandSpec& spec) {
  std::string label = spec.path;
  if (!label.empty())
    label[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(label[0])));
  return label + " refused";
}

std::string refusal_audit(const CommandSpec& spec) {
  if (!spec.refusal_audit.empty())
    return spec.refusal_audit;
  std::string action = spec.path;
  for (char& c : action) {
    if (c == ' ')
      c = '.';
  }
  return action + ".refused";
}

// Where the command acts, resolved from its arguments; empty `environments` when that is not
// possible without the handler's knowledge.
struct Resolved {
  std::vector<const EnvironmentSpec*> environments;
  std::string target;       // for the audit record
  std::string none_reason;  // the refusal when `environments` is empty
};

std::optional<Resolved> resolve_scope(Services& services, const CommandSpec& spec,
                                      const ParsedArgs& args) {
  const Catalog& catalog = services.catalog;
  switch (spec.scope) {
    case Scope::none:
    case Scope::incident:
    case Scope::workspace:
      return std::nullopt;
    case Scope::environment: {
      if (!args.has("environment"))
        return std::nullopt;
      const auto* environment = catalog.find_environment(args.get("environment"));
      if (environment == nullptr)
        return std::nullopt;
      const std::string service = args.get("service");
      return Resolved{{environment},
                      service.empty() ? environment->name : service + "@" + environment->name,
                      ""};
    }
    case Scope::deploy: {
      const std::int64_t id = deploy_argument(args);
      auto deploy = services.deploys.get(id);
      if (!deploy)
        return std::nullopt;
      const std::string target = "#" + std::to_string(id);
      // A deploy to an environment the configuration no longer has: deny by default.
      const auto* environment = catalog.find_environment(deploy->environment);
      if (environment == nullptr) {
        return Resolved{{},
                        target,
                        "deploy " + target + " went to " + deploy->environment +
                            ", which is no longer configured"};
      }
      return Resolved{{environment}, target, ""};
    }
    case Scope::lock: {
      auto scope = parse_lock_scope(catalog, args.get("scope"));
      if (!scope)
        return std::nullopt;
      const std::string target = describe_scope(scope->key);
      return Resolved{scope->environments, target, target + " covers no configured environment"};
    }
    case Scope::runbook: {
      if (services.runbooks == nullptr)
        return std::nullopt;
      const auto* definition = services.runbooks->find(args.get("runbook"));
      const auto environment =
          definition ? services.runbooks->environment_of(*definition, args.params) : std::nullopt;
      if (!environment)
        return std::nullopt;
      const auto* spec_env = catalog.find_environment(*environment);
      if (spec_env == nullptr)
        return std::nullopt;
      return Resolved{{spec_env}, definition->name + "@" + spec_env->name, ""};
    }
  }
  return std::nullopt;
}

// incident.manage: open to every configured user unless incidents.manage lists roles.
std::optional<Refusal> check_incident_manage(Services& services, const CommandSpec& spec,
                                             const Caller& caller) {
  const IncidentSettings* settings = services.incident_settings;
  if (settings == nullptr || settings->manage_roles.empty() || caller.user == nullptr)
    return std::nullopt;
  if (caller.user->has_role(kAdminRole))
    return std::nullopt;
  for (const auto& role : settings->manage_roles) {
    if (caller.user->has_role(role))
      return std::nullopt;
  }
  const std::string why = caller.user_id + " may not manage incidents (incidents.manage allows " +
                          join(settings->manage_roles, ", ") + ")";
  return Refusal{refused_label(spec) + ": " + why, refusal_audit(spec), "incidents", why};
}

}  // namespace

std::optional<Refusal> check_identity(const CommandSpec& spec, const Caller& caller) {
  if (!spec.changes_state() || caller.user != nullptr)
    return std::nullopt;
  const std::string why = caller.user_id + " is not a configured user and may not run '" +
                          spec.path + "'; ask an admin to add them under users:";
  return Refusal{why, "command.refused", spec.path, why};
}

std::optional<Refusal> check_scope(Services& services, const CommandSpec& spec,
                                   const ParsedArgs& args, const Caller& caller) {
  if (spec.scope == Scope::deploy && !parse_deploy_id(args.get("deploy"))) {
    const std::string example = spec.examples.empty() ? spec.path + " 12" : spec.examples.front();
    return Refusal{
        spec.path + ": '" + args.get("deploy") + "' is not a deploy number (e.g. " + example + ")",
        "", "", ""};
  }
  if (spec.action == CommandAction::incident)
    return check_incident_manage(services, spec, caller);
  const auto action = policy_action(spec.action);
  if (!action)
    return std::nullopt;
  const auto resolved = resolve_scope(services, spec, args);
  if (!resolved)
    return std::nullopt;
  // The permission in any environment the scope covers suffices: a lock only stops things, so a
  // staging developer may pause a service that misbehaves everywhere.
  PolicyDecision decision{false, resolved->none_reason};
  for (const auto* environment : resolved->environments) {
    decision = authorize(caller.user, caller.user_id, *action, *environment);
    if (decision.allowed)
      return std::nullopt;
  }
  return Refusal{refused_label(spec) + ": " + decision.reason, refusal_audit(spec),
                 resolved->target, decision.reason};
}

Result<LockScope> parse_lock_scope(const Catalog& catalog, const std::string& word) {
  if (auto at = word.find('@'); at != std::string::npos) {
    auto service = resolve_service(catalog, word.substr(0, at));
    if (!service)
      return service.error();
    auto env = resolve_environment(catalog, word.substr(at + 1));
    if (!env)
      return env.error();
    return LockScope{"service:" + (*service)->name + "@" + (*env)->name, {*env}};
  }
  if (const auto* service = catalog.find_service(word)) {
    LockScope scope{"service:" + service->name, {}};
    for (const auto& env : service->environments) {
      if (const auto* spec = catalog.find_environment(env))
        scope.environments.push_back(spec);
    }
    return scope;
  }
  if (const auto* env = catalog.find_environment(word))
    return LockScope{"env:" + env->name, {env}};
  std::vector<std::string> names;
  for (const auto& service : catalog.services)
    names.push_back(service.name);
  for (const auto& env : catalog.environments)
    names.push_back(env.name);
  return make_error("'" + word + "' is neither a service nor an environment" +
                    did_you_mean(word, names) + "; lock a service, an environment, or " +
                    "service@environment");
}

std::int64_t deploy_argument(const ParsedArgs& args) {
  return parse_deploy_id(args.get("deploy")).value_or(0);
}

}  // namespace shipmate::commands
