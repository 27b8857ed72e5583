#include "commands/handlers.h"
#include "commands/resolve.h"
#include "common/strings.h"

namespace shipmate::commands {
namespace {

struct Scope {
  std::string key;                                   // "service:hello@staging"
  std::vector<const EnvironmentSpec*> environments;  // lock permission in any one suffices
};

Result<Scope> parse_scope(const Catalog& catalog, const std::string& word) {
  if (auto at = word.find('@'); at != std::string::npos) {
    auto service = resolve_service(catalog, word.substr(0, at));
    if (!service)
      return service.error();
    auto env = resolve_environment(catalog, word.substr(at + 1));
    if (!env)
      return env.error();
    return Scope{"service:" + (*service)->name + "@" + (*env)->name, {*env}};
  }
  if (const auto* service = catalog.find_service(word)) {
    Scope scope{"service:" + service->name, {}};
    for (const auto& env : service->environments) {
      if (const auto* spec = catalog.find_environment(env))
        scope.environments.push_back(spec);
    }
    return scope;
  }
  if (const auto* env = catalog.find_environment(word))
    return Scope{"env:" + env->name, {env}};
  std::vector<std::string> names;
  for (const auto& service : catalog.services)
    names.push_back(service.name);
  for (const auto& env : catalog.environments)
    names.push_back(env.name);
  return make_error("'" + word + "' is neither a service nor an environment" +
                    did_you_mean(word, names) + "; lock a service, an environment, or " +
                    "service@environment");
}

}  // namespace

boost::asio::awaitable<void> handle_lock(CommandContext& ctx) {
  auto& services = ctx.services;
  auto scope = parse_scope(services.catalog, ctx.args.get("scope"));
  if (!scope) {
    ctx.conversation.post(error_message("Lock refused: " + scope.error().message));
    co_return;
  }
  // A lock only stops things, so holding the lock permission in any environment the scope
  // covers is enough: a staging developer may pause a service that is misbehaving everywhere.
  PolicyDecision decision{false, "nothing to lock"};
  for (const auto* env : scope->environments) {
    decision = authorize(ctx.caller.user, ctx.caller.user_id, Action::lock, *env);
    if (decision.allowed)
      break;
  }
  if (!decision.allowed) {
    record_audit(services, ctx.caller.user_id, "lock.refused", describe_scope(scope->key),
                 "refused", decision.reason);
    ctx.conversation.post(error_message("Lock refused: " + decision.reason));
    co_return;
  }
  const std::string reason = ctx.args.get("reason");
  auto lock = services.locks.acquire(scope->key, ctx.caller.user_id, reason, std::nullopt);
  if (!lock) {
    ctx.conversation.post(error_message("Lock refused: " + lock.error().message));
    co_return;
  }
  record_audit(services, ctx.caller.user_id, "lock.acquired", describe_scope(scope->key), "ok",
               reason);
  ctx.conversation.post(success("Locked " + describe_scope(scope->key) + " for " +
                                ctx.caller.display() + (reason.empty() ? "" : ": " + reason) +
                                ". Deploys and rollbacks there are blocked until 'unlock " +
                                describe_scope(scope->key) + "'."));
  co_return;
}

boost::asio::awaitable<void> handle_unlock(CommandContext& ctx) {
  auto& services = ctx.services;
  auto scope = parse_scope(services.catalog, ctx.args.get("scope"));
  if (!scope) {
    ctx.conversation.post(error_message("Unlock refused: " + scope.error().message));
    co_return;
  }
  auto lock = services.locks.get(scope->key);
  if (!lock) {
    ctx.conversation.post(info(describe_scope(scope->key) + " is not locked."));
    co_return;
  }
  const bool admin = ctx.caller.user && ctx.caller.user->has_role(kAdminRole);
  if (lock->holder != ctx.caller.user_id && !admin) {
    const std::string why = describe_scope(scope->key) + " is locked by " + lock->holder +
                            "; only " + lock->holder + " or an admin may unlock it";
    record_audit(services, ctx.caller.user_id, "unlock.refused", describe_scope(scope->key),
                 "refused", why);
    ctx.conversation.post(error_message("Unlock refused: " + why));
    co_return;
  }
  services.locks.release(scope->key);
  record_audit(services, ctx.caller.user_id, "lock.released", describe_scope(scope->key), "ok",
               lock->holder == ctx.caller.user_id ? "released by holder"
                                                  : "released by admin; held by " + lock->holder);
  ctx.conversation.post(success("Unlocked " + describe_scope(scope->key) + "."));
  co_return;
}

boost::asio::awaitable<void> handle_locks(CommandContext& ctx) {
  auto locks = ctx.services.locks.list();
  if (locks.empty()) {
    ctx.conversation.post(info("Nothing is locked."));
    co_return;
  }
  std::string text;
  for (const auto& lock : locks) {
    text += describe_scope(lock.scope) + ": locked by " + lock.holder + " since " +
            format_utc(lock.since) + (lock.reason.empty() ? "" : " (" + lock.reason + ")") + "\n";
  }
  Message message = info(std::string(trim(text)));
  message.preformatted = true;
  ctx.conversation.post(message);
  co_return;
}

}  // namespace shipmate::commands
