#include "commands/deploy_flow.h"
#include "commands/handlers.h"
#include "commands/permission.h"

// The router has refused a malformed deploy number and, for continue and abort, a caller without
// the deploy or rollback permission in the deploy's environment (Scope::deploy). Who may approve
// or deny depends on the deploy's approval policy and requester, which the flow decides.
namespace shipmate::commands {

boost::asio::awaitable<void> handle_approve(CommandContext& ctx) {
  co_await approve_deploy(ctx.services, ctx.caller, ctx.conversation, deploy_argument(ctx.args));
}

boost::asio::awaitable<void> handle_deny(CommandContext& ctx) {
  deny_deploy(ctx.services, ctx.caller, ctx.conversation, deploy_argument(ctx.args),
              ctx.args.get("reason"));
  co_return;
}

boost::asio::awaitable<void> handle_continue(CommandContext& ctx) {
  decide_paused_deploy(ctx.services, ctx.caller, ctx.conversation, deploy_argument(ctx.args),
                       false);
  co_return;
}

boost::asio::awaitable<void> handle_abort(CommandContext& ctx) {
  decide_paused_deploy(ctx.services, ctx.caller, ctx.conversation, deploy_argument(ctx.args), true);
  co_return;
}

}  // namespace shipmate::commands
