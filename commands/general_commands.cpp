#include "commands/handlers.h"
#include "commands/resolve.h"
#include "common/strings.h"

namespace shipmate::commands {

boost::asio::awaitable<void> handle_whoami(CommandContext& ctx) {
  const auto& caller = ctx.caller;
  if (caller.user == nullptr) {
    ctx.conversation.post(info("You are " + caller.user_id +
                               ", who is not a configured user: you may read (status, history, "
                               "help) but not change anything."));
    co_return;
  }
  std::string text = "You are " + caller.user->id;
  if (!caller.user->name.empty())
    text += " (" + caller.user->name + ")";
  text += ", roles: " + (caller.user->roles.empty() ? "none" : join(caller.user->roles, ", "));
  Message message = info(text);
  for (const auto& env : ctx.services.catalog.environments) {
    std::vector<std::string> allowed;
    for (Action action : {Action::deploy, Action::rollback, Action::lock}) {
      if (authorize(caller.user, caller.user_id, action, env).allowed) {
        allowed.emplace_back(to_string(action));
      }
    }
    message.fields.push_back(
        {env.name, allowed.empty() ? "read only" : "may " + join(allowed, ", ")});
  }
  ctx.conversation.post(message);
  co_return;
}

boost::asio::awaitable<void> handle_help(CommandContext& ctx) {
  const auto* registry = ctx.services.registry;
  Message message;
  message.preformatted = true;
  const std::string asked = ctx.args.get("command");
  if (asked.empty()) {
    message.text = registry->overview();
    ctx.conversation.post(message);
    co_return;
  }
  // "help audit" explains the group (even though 'audit' alone runs 'audit tail'); "help audit
  // verify" and "help ship" one command.
  const std::string_view words = asked;
  const auto space = words.find(' ');
  const std::string_view first = words.substr(0, space);
  const std::string_view second =
      space == std::string_view::npos ? std::string_view() : trim(words.substr(space + 1));
  const Lookup found = registry->lookup(first, second);
  if (found.group != nullptr && second.empty()) {
    message.text = registry->describe_group(*found.group);
    ctx.conversation.post(message);
    co_return;
  }
  if (found.kind != Lookup::Kind::command || (found.words == 1 && !second.empty())) {
    auto suggestions = registry->suggest(first, second);
    ctx.conversation.post(error_message(
        "No command '" + asked + "'" +
        (suggestions.empty() ? "" : " (did you mean '" + suggestions.front() + "'?)") +
        ". Type 'help' for the list."));
    co_return;
  }
  message.text = CommandRegistry::describe(*found.spec);
  ctx.conversation.post(message);
  co_return;
}

boost::asio::awaitable<void> handle_ping(CommandContext& ctx) {
  ctx.conversation.post(info("pong"));
  co_return;
}

boost::asio::awaitable<void> handle_audit_verify(CommandContext& ctx) {
  auto report = ctx.services.audit.verify();
  if (report.ok) {
    ctx.conversation.post(
        success("Audit log intact: " + count_of(report.records_checked, "record") +
                ", hash chain verified."));
  } else {
    ctx.conversation.post(error_message("Audit log TAMPERED: " + report.problem));
  }
  co_return;
}

boost::asio::awaitable<void> handle_audit_tail(CommandContext& ctx) {
  auto limit = parse_limit(ctx.args, ctx.spec.path, 20);
  if (!limit) {
    ctx.conversation.post(error_message(limit.error().message));
    co_return;
  }
  std::string text;
  for (const auto& record : ctx.services.audit.tail(*limit)) {
    text += std::to_string(record.seq) + "  " + format_utc(record.at) + "  " + record.entry.actor +
            "  " + record.entry.action + "  " + record.entry.target + "  " + record.entry.outcome +
            (record.entry.details.empty() ? "" : "  " + record.entry.details) + "\n";
  }
  Message message = info(text.empty() ? "The audit log is empty." : std::string(trim(text)));
  message.preformatted = true;
  ctx.conversation.post(message);
  co_return;
}

}  // namespace shipmate::commands
