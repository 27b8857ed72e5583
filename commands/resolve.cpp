#include "commands/resolve.h"

namespace shipmate::commands {

Result<const ServiceSpec*> resolve_service(const Catalog& catalog, std::string_view name) {
  if (const auto* service = catalog.find_service(name))
    return service;
  std::vector<std::string> names;
  for (const auto& service : catalog.services)
    names.push_back(service.name);
  std::string known = names.empty() ? "none are configured" : "known: " + join(names, ", ");
  return make_error("unknown service '" + std::string(name) + "'" + did_you_mean(name, names) +
                    "; " + known);
}

Result<const EnvironmentSpec*> resolve_environment(const Catalog& catalog, std::string_view name) {
  if (const auto* env = catalog.find_environment(name))
    return env;
  std::vector<std::string> names;
  for (const auto& env : catalog.environments)
    names.push_back(env.name);
  return make_error("unknown environment '" + std::string(name) + "'" + did_you_mean(name, names) +
                    "; known: " + join(names, ", "));
}

void record_audit(Services& services, std::string_view actor, std::string_view action,
                  std::string_view target, std::string_view outcome, std::string_view details) {
  services.audit.append(storage::AuditEntry{std::string(actor), std::string(action),
                                            std::string(target), std::string(outcome),
                                            std::string(details)});
}

Result<int> parse_limit(const ParsedArgs& args, std::string_view command, int fallback) {
  if (!args.has("limit"))
    return fallback;
  const std::string text = args.get("limit");
  int limit = 0;
  try {
    std::size_t used = 0;
    limit = std::stoi(text, &used);
    if (used != text.size())
      limit = 0;
  } catch (const std::exception&) {
    limit = 0;
  }
  if (limit <= 0 || limit > 1000) {
    return make_error(std::string(command) + ": --limit must be a number from 1 to 1000, not '" +
                      text + "'");
  }
  return limit;
}

std::string describe_scope(std::string_view scope) {
  for (std::string_view prefix : {"service:", "env:"}) {
    if (scope.substr(0, prefix.size()) == prefix)
      return std::string(scope.substr(prefix.size()));
  }
  return std::string(scope);
}

}  // namespace shipmate::commands
