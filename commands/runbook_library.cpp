#include "commands/runbook_library.h"

#include <algorithm>

#include "common/strings.h"

namespace shipmate::commands {

RunbookLibrary::RunbookLibrary(std::vector<runbooks::Definition> definitions,
                               runbooks::ParamContext context,
                               std::map<std::string, runbooks::SecretSource> secrets)
    : definitions_(std::move(definitions)),
      context_(std::move(context)),
      secrets_(std::move(secrets)) {
  std::sort(definitions_.begin(), definitions_.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
}

const runbooks::Definition* RunbookLibrary::find(std::string_view name) const {
  for (const auto& definition : definitions_) {
    if (definition.name == name)
      return &definition;
  }
  return nullptr;
}

std::vector<std::string> RunbookLibrary::names() const {
  std::vector<std::string> out;
  for (const auto& definition : definitions_)
    out.push_back(definition.name);
  return out;
}

const runbooks::SecretSource* RunbookLibrary::secret(std::string_view name) const {
  auto it = secrets_.find(std::string(name));
  return it == secrets_.end() ? nullptr : &it->second;
}

std::optional<std::string> RunbookLibrary::environment_of(
    const runbooks::Definition& definition, const std::map<std::string, std::string>& given) const {
  const auto* param = definition.environment_param();
  if (param == nullptr)
    return std::nullopt;
  if (auto it = given.find(param->name); it != given.end())
    return it->second;
  return param->default_value;
}

PolicyDecision authorize_runbook(const runbooks::Definition& definition,
                                 const EnvironmentSpec* environment, const Caller& caller) {
  const UserSpec* user = caller.user;
  if (user == nullptr) {
    return {false, caller.user_id +
                       " is not a configured user and may not run runbooks; ask an "
                       "admin to add them under users:"};
  }
  if (user->has_role(kAdminRole))
    return {true, ""};
  if (environment != nullptr) {
    auto decision = authorize(user, caller.user_id, Action::runbook, *environment);
    if (!decision.allowed)
      return decision;
  }
  auto listed = definition.allow.end();
  if (environment != nullptr)
    listed = definition.allow.find(environment->name);
  if (listed == definition.allow.end())
    listed = definition.allow.find("*");
  if (listed == definition.allow.end())
    return {true, ""};
  for (const auto& role : listed->second) {
    if (user->has_role(role))
      return {true, ""};
  }
  return {false, caller.user_id + " may not run runbook " + definition.name +
                     (environment ? " in " + environment->name : std::string()) +
                     "; it is open to: " + join(listed->second, ", ")};
}

}  // namespace shipmate::commands
