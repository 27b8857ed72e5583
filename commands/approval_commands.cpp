#include "commands/deploy_flow.h"
#include "commands/handlers.h"
#include "commands/resolve.h"

namespace shipmate::commands {

boost::asio::awaitable<void> handle_approve(CommandContext& ctx) {
  auto id = parse_deploy_id(ctx.args.get("deploy"));
  if (!id) {
    ctx.conversation.post(error_message("approve: '" + ctx.args.get("deploy") +
                                        "' is not a deploy number (e.g. approve 12)"));
    co_return;
  }
  co_await approve_deploy(ctx.services, ctx.caller, ctx.conversation, *id);
}

boost::asio::awaitable<void> handle_deny(CommandContext& ctx) {
  auto id = parse_deploy_id(ctx.args.get("deploy"));
  if (!id) {
    ctx.conversation.post(error_message("deny: '" + ctx.args.get("deploy") +
                                        "' is not a deploy number (e.g. deny 12 not today)"));
    co_return;
  }
  deny_deploy(ctx.services, ctx.caller, ctx.conversation, *id, ctx.args.get("reason"));
  co_return;
}

boost::asio::awaitable<void> handle_continue(CommandContext& ctx) {
  auto id = parse_deploy_id(ctx.args.get("deploy"));
  if (!id) {
    ctx.conversation.post(error_message("continue: '" + ctx.args.get("deploy") +
                                        "' is not a deploy number (e.g. continue 12)"));
    co_return;
  }
  decide_paused_deploy(ctx.services, ctx.caller, ctx.conversation, *id, false);
}

boost::asio::awaitable<void> handle_abort(CommandContext& ctx) {
  auto id = parse_deploy_id(ctx.args.get("deploy"));
  if (!id) {
    ctx.conversation.post(error_message("abort: '" + ctx.args.get("deploy") +
                                        "' is not a deploy number (e.g. abort 12)"));
    co_return;
  }
  decide_paused_deploy(ctx.services, ctx.caller, ctx.conversation, *id, true);
}

}  // namespace shipmate::commands
