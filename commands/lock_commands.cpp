#include "commands/handlers.h"
#include "commands/permission.h"
#include "commands/resolve.h"
#include "commands/timed_jobs.h"
#include "common/chat_input.h"
#include "common/strings.h"

namespace shipmate::commands {
namespace {

constexpr EpochMillis kLongestLock = 30LL * 24 * 60 * 60 * 1000;

}  // namespace

boost::asio::awaitable<void> handle_lock(CommandContext& ctx) {
  auto& services = ctx.services;
  // The router has checked the lock permission in the scope (Scope::lock); what is left is
  // the expiry and taking over someone else's lock, which depends on who holds it now.
  auto scope = parse_lock_scope(services.catalog, ctx.args.get("scope"));
  if (!scope) {
    ctx.conversation.post(error_message("Lock refused: " + scope.error().message));
    co_return;
  }
  const std::string reason = ctx.args.get("reason");
  if (auto bounded = validate_free_text("reason", reason); !bounded) {
    ctx.conversation.post(error_message("Lock refused: " + bounded.error().message));
    co_return;
  }
  const std::string label = describe_scope(scope->key);
  std::optional<EpochMillis> expires_at;
  if (ctx.args.has("for")) {
    auto millis = parse_duration_ms(ctx.args.get("for"));
    if (!millis || *millis <= 0 || *millis > kLongestLock) {
      ctx.conversation.post(error_message(
          "Lock refused: --for takes a duration from 1s to 30d, such as 30m, 2h or 1d, not '" +
          ctx.args.get("for") + "'"));
      co_return;
    }
    expires_at = services.clock.now_ms() + *millis;
  }

  std::string taken_from;
  if (ctx.args.has("take-over")) {
    auto existing = services.locks.get(scope->key);
    if (existing && existing->holder != ctx.caller.user_id) {
      PolicyDecision may_take{false, "nothing to take over"};
      for (const auto* env : scope->environments) {
        may_take = authorize(ctx.caller.user, ctx.caller.user_id, Action::takeover, *env);
        if (may_take.allowed)
          break;
      }
      if (!may_take.allowed || reason.empty()) {
        const std::string why =
            !may_take.allowed ? may_take.reason : "taking over a lock needs a reason";
        record_audit(services, ctx.caller.user_id, "lock.takeover_refused", label, "refused", why);
        ctx.conversation.post(error_message("Take-over refused: " + why));
        co_return;
      }
      taken_from = existing->holder;
    }
  }

  auto lock = services.database.transaction([&]() -> Result<storage::LockRecord> {
    if (!taken_from.empty())
      services.locks.release(scope->key);
    return services.locks.acquire(scope->key, ctx.caller.user_id, reason, expires_at,
                                  ctx.conversation.address());
  });
  if (!lock) {
    ctx.conversation.post(
        error_message("Lock refused: " + lock.error().message +
                      (ctx.args.has("take-over") ? "" : " (--take-over replaces it)")));
    co_return;
  }
  // A new expiry, or a take-over that replaced one: the lock expiry job re-reads its deadline.
  timed_deadlines_changed(services);
  const std::string until = expires_at ? " until " + format_utc(*expires_at) : "";
  if (!taken_from.empty()) {
    record_audit(services, ctx.caller.user_id, "lock.taken_over", label, "ok",
                 "from " + taken_from + ": " + reason);
    ctx.conversation.post(
        warning("Took over the lock on " + label + " from " + taken_from + until + ": " + reason));
    co_return;
  }
  record_audit(services, ctx.caller.user_id, "lock.acquired", label, "ok",
               reason + (expires_at ? " (until " + format_utc(*expires_at) + ")" : ""));
  ctx.conversation.post(success("Locked " + label + " for " + ctx.caller.display() + until +
                                (reason.empty() ? "" : ": " + reason) +
                                ". Deploys and rollbacks there are blocked until 'unlock " + label +
                                "'" + (expires_at ? " or the lock expires" : "") + "."));
  co_return;
}

namespace {

void announce_expired_lock(Services& services, const storage::LockRecord& lock) {
  const std::string label = describe_scope(lock.scope);
  record_audit(services, "shipmate", "lock.expired", label, "ok", "held by " + lock.holder);
  if (services.conversations == nullptr)
    return;
  if (auto conversation = services.conversations->open(lock.chat_ref)) {
    conversation->post(info("The lock on " + label + " held by " + lock.holder +
                            (lock.reason.empty() ? "" : " (" + lock.reason + ")") +
                            " has expired; deploys there may go ahead."));
  }
}

}  // namespace

std::vector<storage::LockRecord> announce_expired_locks(Services& services) {
  auto expired = services.locks.take_expired();
  for (const auto& lock : expired)
    announce_expired_lock(services, lock);
  return expired;
}

bool expire_lock(Services& services, const std::string& scope, EpochMillis expires_at) {
  auto lock = services.locks.take_expired(scope, expires_at);
  if (!lock)
    return false;
  announce_expired_lock(services, *lock);
  return true;
}

boost::asio::awaitable<void> handle_unlock(CommandContext& ctx) {
  auto& services = ctx.services;
  auto scope = parse_lock_scope(services.catalog, ctx.args.get("scope"));
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
            format_utc(lock.since) +
            (lock.expires_at ? " until " + format_utc(*lock.expires_at) : "") +
            (lock.reason.empty() ? "" : " (" + lock.reason + ")") + "\n";
  }
  Message message = info(std::string(trim(text)));
  message.preformatted = true;
  ctx.conversation.post(message);
  co_return;
}

}  // namespace shipmate::commands
