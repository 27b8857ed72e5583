// Turning words from chat into model objects, with "did you mean" on a miss, and the audit
// helper every command uses.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "commands/context.h"
#include "common/strings.h"

namespace shipmate::commands {

Result<const ServiceSpec*> resolve_service(const Catalog& catalog, std::string_view name);
Result<const EnvironmentSpec*> resolve_environment(const Catalog& catalog, std::string_view name);

// Appends an audit record for `caller`'s action.
void record_audit(Services& services, std::string_view actor, std::string_view action,
                  std::string_view target, std::string_view outcome, std::string_view details);

// Reads the optional "--limit" argument: `fallback` when absent, an error naming `command` when
// it is not a number from 1 to 1000.
Result<int> parse_limit(const ParsedArgs& args, std::string_view command, int fallback);
// The same for any numeric --option, from 1 to `most`.
Result<int> parse_count(const ParsedArgs& args, const std::string& option, std::string_view command,
                        int fallback, int most);

// A deploy number as people type it: "12" or "#12"; nullopt for anything else.
std::optional<std::int64_t> parse_deploy_id(const std::string& text);

// The "service" argument resolved, or every configured service when it is absent.
Result<std::vector<const ServiceSpec*>> selected_services(const Catalog& catalog,
                                                          const ParsedArgs& args);

// "service:hello@staging" -> "hello@staging"; "env:production" -> "production".
std::string describe_scope(std::string_view scope);

}  // namespace shipmate::commands
