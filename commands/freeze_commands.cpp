#include <algorithm>

#include "commands/handlers.h"
#include "commands/resolve.h"
#include "commands/when.h"
#include "common/chat_input.h"
#include "common/strings.h"

namespace shipmate::commands {
namespace {

constexpr EpochMillis kLongestFreeze = 366LL * 86'400'000;

std::optional<std::string> quoted(std::string_view raw) {
  for (const auto& [open, close] :
       {std::pair<std::string_view, std::string_view>{"\"", "\""},
        std::pair<std::string_view, std::string_view>{"\xE2\x80\x9C", "\xE2\x80\x9D"}}) {
    const auto first = raw.find(open);
    if (first == std::string_view::npos)
      continue;
    const auto start = first + open.size();
    const auto last = raw.rfind(close);
    if (last == std::string_view::npos || last < start)
      continue;
    return std::string(raw.substr(start, last - start));
  }
  return std::nullopt;
}

bool wired(CommandContext& ctx) {
  if (ctx.services.freezes != nullptr)
    return true;
  ctx.conversation.post(error_message("Freezes from chat are not available in this process."));
  return false;
}

}  // namespace

std::optional<std::string> chat_freeze_refusal(Services& services, const EnvironmentSpec& env) {
  if (services.freezes == nullptr)
    return std::nullopt;
  auto freeze = services.freezes->in_force(env.name);
  if (!freeze)
    return std::nullopt;
  return env.name + " is frozen by " + freeze->created_by +
         (freeze->reason.empty() ? "" : " (" + freeze->reason + ")") + " " +
         (freeze->ends_at
              ? "until " + describe_instant(*freeze->ends_at, services.catalog.time_zone)
              : "until someone runs 'unfreeze " + env.name + "'");
}

boost::asio::awaitable<void> handle_freeze(CommandContext& ctx) {
  if (!wired(ctx))
    co_return;
  auto& services = ctx.services;
  auto environment = resolve_environment(services.catalog, ctx.args.get("environment"));
  if (!environment) {
    ctx.conversation.post(error_message("Freeze refused: " + environment.error().message));
    co_return;
  }
  // The router checked the freeze permission when the environment resolved from the arguments.
  const std::string rest = ctx.args.get("rest");
  const auto reason_text = quoted(ctx.text);
  std::string head = rest;
  std::string reason;
  if (reason_text) {
    reason = std::string(trim(*reason_text));
    if (head.size() >= reason_text->size() &&
        head.compare(head.size() - reason_text->size(), reason_text->size(), *reason_text) == 0)
      head = std::string(trim(std::string_view(head).substr(0, head.size() - reason_text->size())));
  } else if (!starts_with_ci(head, "until ")) {
    reason = head;
    head.clear();
  }
  std::optional<EpochMillis> until;
  std::string zone = services.catalog.time_zone;
  const EpochMillis now = services.clock.now_ms();
  if (!head.empty()) {
    if (!starts_with_ci(head, "until ")) {
      ctx.conversation.post(error_message("Freeze refused: write it as freeze " +
                                          (*environment)->name +
                                          " [until <when>] \"reason\" (put the reason in quotes)"));
      co_return;
    }
    const std::string_view when = std::string_view(head).substr(6);
    zone = written_zone(when, services.catalog.time_zone);
    auto parsed = parse_when(when, now, services.catalog.time_zone);
    if (!parsed) {
      ctx.conversation.post(error_message(
          "Freeze refused: " + parsed.error().message +
          (reason_text ? "" : " (if words after the time are the reason, put them in quotes)")));
      co_return;
    }
    if (*parsed <= now || *parsed > now + kLongestFreeze) {
      ctx.conversation.post(
          error_message("Freeze refused: the end must be in the next 366 days, "
                        "not " +
                        describe_instant(*parsed, zone)));
      co_return;
    }
    until = *parsed;
  }
  if (reason.empty()) {
    ctx.conversation.post(error_message("Freeze refused: say why, in quotes: freeze " +
                                        (*environment)->name + " until monday 09:00 \"reason\""));
    co_return;
  }
  if (auto bounded = validate_free_text("reason", reason); !bounded) {
    ctx.conversation.post(error_message("Freeze refused: " + bounded.error().message));
    co_return;
  }
  const auto record =
      services.freezes->add((*environment)->name, now, until, reason, ctx.caller.user_id);
  record_audit(services, ctx.caller.user_id, "freeze.added", (*environment)->name, "ok",
               reason + (until ? " (until " + format_utc(*until) + ")" : " (until unfrozen)"));
  ctx.conversation.post(
      warning("Froze " + (*environment)->name + " " +
              (until ? "until " + describe_instant(*until, zone) : std::string("until unfrozen")) +
              ": " + record.reason +
              ". Deploys there are refused (rollbacks are fine) unless someone allowed to adds "
              "--override --reason; 'unfreeze " +
              (*environment)->name + "' lifts it."));
}

boost::asio::awaitable<void> handle_unfreeze(CommandContext& ctx) {
  if (!wired(ctx))
    co_return;
  auto& services = ctx.services;
  auto environment = resolve_environment(services.catalog, ctx.args.get("environment"));
  if (!environment) {
    ctx.conversation.post(error_message("Unfreeze refused: " + environment.error().message));
    co_return;
  }
  const auto lifted = services.freezes->lift((*environment)->name, ctx.caller.user_id);
  const auto window = active_freeze((*environment)->freezes, services.clock.now_ms());
  const std::string configured =
      window
          ? " The configured window '" + window->reason + "' still holds " +
                describe_until((*environment)->freezes[window->window_index], window->ends_at_ms) +
                "; change it in the configuration, or deploy with --override --reason."
          : "";
  if (lifted.empty()) {
    ctx.conversation.post(info((*environment)->name + " has no freeze from chat." + configured));
    co_return;
  }
  std::vector<std::string> by;
  for (const auto& freeze : lifted)
    by.push_back(freeze.created_by + " (" + freeze.reason + ")");
  record_audit(services, ctx.caller.user_id, "freeze.lifted", (*environment)->name, "ok",
               "lifted " + join(by, ", "));
  ctx.conversation.post(success("Unfroze " + (*environment)->name + ": lifted " +
                                count_of(static_cast<long long>(lifted.size()), "freeze") + " by " +
                                join(by, ", ") + "." + configured));
}

boost::asio::awaitable<void> handle_freezes(CommandContext& ctx) {
  auto& services = ctx.services;
  const EpochMillis now = services.clock.now_ms();
  std::vector<std::string> lines;
  if (services.freezes != nullptr) {
    for (const auto& freeze : services.freezes->current_and_coming()) {
      lines.push_back(
          freeze.environment + ": " +
          (freeze.starts_at <= now
               ? "frozen"
               : "frozen from " + describe_instant(freeze.starts_at, services.catalog.time_zone)) +
          " by " + freeze.created_by + " " +
          (freeze.ends_at ? "until " + describe_instant(*freeze.ends_at, services.catalog.time_zone)
                          : std::string("until unfrozen")) +
          " (" + freeze.reason + ")");
    }
  }
  for (const auto& env : services.catalog.environments) {
    for (const auto& window : env.freezes) {
      const std::string label = window.reason().empty() ? "a configured window" : window.reason();
      if (auto in_force = window.occurrence_at(now)) {
        lines.push_back(env.name + ": frozen (" + label + ", configured) " +
                        describe_until(window, in_force->end_ms));
      } else if (auto coming = window.next_occurrence_after(now)) {
        lines.push_back(env.name + ": " + label + " (configured) from " +
                        describe_instant(coming->start_ms, window.time_zone()) + " " +
                        describe_until(window, coming->end_ms));
      }
    }
  }
  if (lines.empty()) {
    ctx.conversation.post(info("No freezes in force or coming."));
    co_return;
  }
  Message message = info(join(lines, "\n"));
  message.preformatted = true;
  ctx.conversation.post(message);
}

}  // namespace shipmate::commands
