// What the router decides before a command's handler runs, from the spec's typed action and
// scope (commands/registry.h) and the parsed arguments alone.
//
// check_identity: a command that changes state is refused to an identity missing from users:.
// check_scope: a malformed deploy number is refused like any parse error; then, when the action
// is one of model.h's policy actions (deploy, rollback, lock) and the scope's environment can be
// resolved from the arguments (a named environment, the environment of an existing deploy, a lock
// scope), authorize() decides. What cannot be resolved (an unknown environment or service, a
// deploy that does not exist, a default environment the handler picks) is left to the handler,
// which explains it and checks the permission once it knows the environment. Decisions that need
// state beyond the arguments (taking over someone's lock, approving, unlocking) stay with the
// handlers.
//
// Contract: event-loop thread (check_scope reads the deploy store for Scope::deploy); no writes:
// the router records the refusal's audit entry and posts its reply. Pure otherwise, so each case
// is tested through the router with in-memory stores.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "commands/context.h"

namespace shipmate::commands {

struct Refusal {
  std::string reply;         // the whole one-line reply, e.g. "Deploy refused: bob may not ..."
  std::string audit_action;  // "" when the refusal is not audited (a malformed argument)
  std::string audit_target;  // "hello@production", "#12", "production"
  std::string reason;        // the audit record's details
};

std::optional<Refusal> check_identity(const CommandSpec& spec, const Caller& caller);
std::optional<Refusal> check_scope(Services& services, const CommandSpec& spec,
                                   const ParsedArgs& args, const Caller& caller);

// A lock's scope as typed ("hello", "production", "hello@staging"), resolved.
struct LockScope {
  std::string key;                                   // "service:hello@staging"
  std::vector<const EnvironmentSpec*> environments;  // the lock permission in any one suffices
};
Result<LockScope> parse_lock_scope(const Catalog& catalog, const std::string& word);

// The `deploy` argument of a Scope::deploy command as a number. The router has refused anything
// that is not one, so this returns 0 (no such deploy) only when called without the router.
std::int64_t deploy_argument(const ParsedArgs& args);

}  // namespace shipmate::commands
