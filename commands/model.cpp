#include "commands/model.h"

#include <algorithm>

#include "common/strings.h"

namespace shipmate::commands {

std::string_view to_string(Action action) {
  switch (action) {
    case Action::deploy:
      return "deploy";
    case Action::rollback:
      return "rollback";
    case Action::lock:
      return "lock";
    case Action::takeover:
      return "takeover";
    case Action::override:
      return "override";
    case Action::runbook:
      return "runbook";
    case Action::freeze:
      return "freeze";
  }
  return "?";
}

std::optional<Action> parse_action(std::string_view text) {
  for (Action action : {Action::deploy, Action::rollback, Action::lock, Action::takeover,
                        Action::override, Action::runbook, Action::freeze}) {
    if (to_string(action) == text)
      return action;
  }
  return std::nullopt;
}

std::string_view to_string(StrategyKind kind) {
  switch (kind) {
    case StrategyKind::rolling:
      return "rolling";
    case StrategyKind::canary:
      return "canary";
    case StrategyKind::blue_green:
      return "blue-green";
  }
  return "?";
}

bool RolloutStrategy::applies_to(std::string_view environment) const {
  return environments.empty() ||
         std::find(environments.begin(), environments.end(), environment) != environments.end();
}

bool UserSpec::has_role(std::string_view role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

const EnvironmentSpec* Catalog::find_environment(std::string_view name) const {
  for (const auto& env : environments) {
    if (env.name == name)
      return &env;
  }
  return nullptr;
}

const ServiceSpec* Catalog::find_service(std::string_view name) const {
  for (const auto& service : services) {
    if (service.name == name)
      return &service;
  }
  return nullptr;
}

const UserSpec* Catalog::find_user(std::string_view id) const {
  for (const auto& user : users) {
    if (user.id == id)
      return &user;
  }
  return nullptr;
}

std::optional<std::string> Catalog::previous_environment(const ServiceSpec& service,
                                                         std::string_view environment) const {
  auto it = std::find(service.environments.begin(), service.environments.end(), environment);
  if (it == service.environments.begin() || it == service.environments.end())
    return std::nullopt;
  return *(it - 1);
}

namespace {
// "deploy", "run runbooks": what a refusal says the user may not do.
std::string verb(Action action) {
  return action == Action::runbook ? "run runbooks" : std::string(to_string(action));
}
}  // namespace

PolicyDecision authorize(const UserSpec* user, std::string_view user_id, Action action,
                         const EnvironmentSpec& environment) {
  if (user == nullptr) {
    return {false, std::string(user_id) +
                       " is not a configured user, so may only read; ask an admin to add them "
                       "under users: in the configuration"};
  }
  if (user->has_role(kAdminRole))
    return {true, {}};
  auto rule = environment.allowed_roles.find(action);
  if (rule == environment.allowed_roles.end() && action == Action::takeover) {
    return {false, user->id + " may not take over locks in " + environment.name +
                       ": only admins, or roles listed under allow: takeover:"};
  }
  if (rule == environment.allowed_roles.end() && action == Action::override) {
    return {false, user->id + " may not override deploy policy in " + environment.name +
                       ": only admins, or roles listed under allow: override:"};
  }
  if (rule == environment.allowed_roles.end()) {
    if (!environment.production)
      return {true, {}};
    return {false, user->id + " may not " + verb(action) + " in " + environment.name +
                       ": production allows nobody but admins until the " +
                       "configuration lists roles for it"};
  }
  for (const auto& role : rule->second) {
    if (user->has_role(role))
      return {true, {}};
  }
  return {false, user->id + " may not " + verb(action) + " in " + environment.name +
                     " (needs role: " + join(rule->second, " or ") + ")"};
}

}  // namespace shipmate::commands
