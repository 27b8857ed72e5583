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

Result<int> parse_count(const ParsedArgs& args, const std::string& option, std::string_view command,
                        int fallback, int most) {
  if (!args.has(option))
    return fallback;
  const std::string text = args.get(option);
  int count = 0;
  try {
    std::size_t used = 0;
    count = std::stoi(text, &used);
    if (used != text.size())
      count = 0;
  } catch (const std::exception&) {
    count = 0;
  }
  if (count <= 0 || count > most) {
    return make_error(std::string(command) + ": --" + option + " must be a number from 1 to " +
                      std::to_string(most) + ", not '" + text + "'");
  }
  return count;
}

std::optional<std::int64_t> parse_deploy_id(const std::string& text) {
  const std::string digits = text.rfind("#", 0) == 0 ? text.substr(1) : text;
  if (digits.empty() || digits.size() > 15 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return std::stoll(digits);
}

Result<int> parse_limit(const ParsedArgs& args, std::string_view command, int fallback) {
  return parse_count(args, "limit", command, fallback, 1000);
}

Result<std::vector<const ServiceSpec*>> selected_services(const Catalog& catalog,
                                                          const ParsedArgs& args) {
  std::vector<const ServiceSpec*> selected;
  if (args.has("service")) {
    auto service = resolve_service(catalog, args.get("service"));
    if (!service)
      return service.error();
    selected.push_back(*service);
    return selected;
  }
  for (const auto& service : catalog.services)
    selected.push_back(&service);
  return selected;
}

std::string describe_scope(std::string_view scope) {
  for (std::string_view prefix : {"service:", "env:"}) {
    if (scope.substr(0, prefix.size()) == prefix)
      return std::string(scope.substr(prefix.size()));
  }
  return std::string(scope);
}

}  // namespace shipmate::commands
