#include <algorithm>
#include <cstdio>

#include "commands/dora.h"
#include "commands/handlers.h"
#include "commands/release_notes_book.h"
#include "commands/resolve.h"
#include "commands/schedules.h"
#include "commands/whats_new.h"
#include "commands/when.h"
#include "common/chat_input.h"
#include "common/strings.h"
#include "scheduler/plan.h"
#include "scheduler/scheduler.h"

namespace shipmate::commands {
namespace {

constexpr std::size_t kMaxAnnouncement = 3000;
constexpr EpochMillis kDayMs = 86'400'000;
constexpr EpochMillis kFurthestOneOff = 366 * kDayMs;

// The last quoted part of what was typed ("..." or typographic quotes), without its quotes.
std::optional<std::string> quoted_text(std::string_view raw) {
  static constexpr std::string_view kOpen[] = {"\"", "\xE2\x80\x9C"};   // " and left “
  static constexpr std::string_view kClose[] = {"\"", "\xE2\x80\x9D"};  // " and right ”
  for (std::size_t kind = 0; kind < 2; ++kind) {
    const auto open = raw.find(kOpen[kind]);
    if (open == std::string_view::npos)
      continue;
    const auto start = open + kOpen[kind].size();
    const auto close = raw.rfind(kClose[kind]);
    if (close == std::string_view::npos || close < start)
      continue;
    return std::string(raw.substr(start, close - start));
  }
  return std::nullopt;
}

// `rest` with `tail` removed from its end (the rest argument ends with the quoted text).
std::string before_tail(const std::string& rest, const std::string& tail) {
  if (tail.empty() || rest.size() < tail.size() ||
      rest.compare(rest.size() - tail.size(), tail.size(), tail) != 0)
    return rest;
  return std::string(trim(std::string_view(rest).substr(0, rest.size() - tail.size())));
}

bool may_manage(const Caller& caller, const storage::ScheduleRecord& schedule) {
  return schedule.created_by == caller.user_id ||
         (caller.user != nullptr && caller.user->has_role(kAdminRole));
}

std::string describe_what(const storage::ScheduleRecord& schedule) {
  if (schedule.action == kAnnounce)
    return "announce \"" + schedule.payload + "\"";
  if (schedule.action == kReleaseDigest)
    return "release digest of " + schedule.payload;
  return schedule.action;
}

std::string describe_when(const storage::ScheduleRecord& schedule) {
  if (schedule.cron.empty())
    return "once, " + describe_instant(schedule.once.value_or(0), schedule.timezone);
  return "cron '" + schedule.cron + "' in " + schedule.timezone;
}

std::string channel_label(const std::string& address) {
  const auto colon = address.find(':');
  return colon == std::string::npos ? address : address.substr(colon + 1);
}

Result<storage::ScheduleRecord> find_schedule(Services& services, const std::string& word) {
  const std::string id_text = word.starts_with("#") ? word.substr(1) : word;
  std::int64_t id = 0;
  if (!id_text.empty() && std::all_of(id_text.begin(), id_text.end(), ::isdigit)) {
    id = std::stoll(id_text);
    if (auto found = services.schedules->get(id))
      return *found;
  } else if (auto found = services.schedules->find_by_name(word)) {
    return *found;
  }
  return make_error("no schedule '" + word + "'; 'schedule list' shows them", ErrorKind::not_found);
}

bool wired(CommandContext& ctx) {
  if (ctx.services.schedules != nullptr)
    return true;
  ctx.conversation.post(error_message("Schedules are not available in this process."));
  return false;
}

void notify_scheduler(Services& services, std::int64_t id) {
  if (services.scheduler != nullptr)
    services.scheduler->changed(id);
}

std::string dora_digest(Services& services, EpochMillis now) {
  std::vector<std::string> out;
  for (const auto& env : services.catalog.environments) {
    if (!env.production)
      continue;
    std::vector<storage::DeployRecord> history;
    for (const auto& service : services.catalog.services) {
      auto deploys = services.deploys.history(service.name, env.name, 100000);
      history.insert(history.end(), deploys.begin(), deploys.end());
    }
    const DoraReport report = compute_dora(history, env.name, now, 7);
    char rate[32] = "n/a";
    if (report.change_failure_rate)
      std::snprintf(rate, sizeof rate, "%.1f%%", *report.change_failure_rate * 100.0);
    out.push_back(
        env.name + ": " + count_of(report.deployments, "deploy") + ", change failure rate " + rate +
        ", lead time " +
        (report.lead_time_median ? format_duration(*report.lead_time_median)
                                 : std::string("unknown")) +
        ", time to restore " +
        (report.restore_median ? format_duration(*report.restore_median) : std::string("n/a")));
  }
  if (out.empty())
    return "DORA digest, last 7 days: no production environment is configured.";
  return "DORA digest, last 7 days:\n" + join(out, "\n");
}

}  // namespace

Result<std::string> channel_address(const Conversation& here, std::string_view channel) {
  if (channel == "here")
    return here.address();
  const bool plausible = !channel.empty() && channel.size() <= 80 &&
                         std::all_of(channel.begin(), channel.end(), [](char c) {
                           return std::isalnum(static_cast<unsigned char>(c)) || c == '#' ||
                                  c == '-' || c == '_' || c == '.';
                         });
  if (!plausible) {
    return make_error("'" + std::string(channel) +
                          "' is not a channel; name one like #ops or C0123ABCD, or say here",
                      ErrorKind::invalid);
  }
  const std::string address = here.address();
  const std::string platform = address.substr(0, address.find(':'));
  if (platform == "terminal" || platform == "test" || platform == "log")
    return address;
  return platform + ":" + std::string(channel);
}

Status validate_schedule(const Catalog& catalog, const storage::ScheduleRecord& record) {
  if (record.name.empty() || record.name.size() > 64 ||
      !std::all_of(record.name.begin(), record.name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
      })) {
    return make_error(
        "a schedule name is 1-64 letters, digits, '-', '_' or '.', not '" + record.name + "'",
        ErrorKind::invalid);
  }
  if (record.action == kAnnounce) {
    if (trim(record.payload).empty())
      return make_error("an announcement needs its text in quotes", ErrorKind::invalid);
    if (record.payload.size() > kMaxAnnouncement)
      return make_error("an announcement is at most 3000 characters", ErrorKind::invalid);
  } else if (record.action == kReleaseDigest) {
    if (auto env = resolve_environment(catalog, record.payload); !env)
      return env.error();
  } else if (record.action != kDoraDigest) {
    return make_error(
        "a schedule does one of: announce \"text\", release-digest <env>, "
        "dora-digest; not '" +
            record.action + "'",
        ErrorKind::invalid);
  }
  if (auto timing = scheduler::timing_of(record); !timing)
    return timing.error();
  if (auto misfire = scheduler::parse_misfire(record.misfire); !misfire)
    return misfire.error();
  if (record.lateness_ms < scheduler::kOnTimeMs || record.lateness_ms > scheduler::kMaxLatenessMs)
    return make_error("the lateness limit is from 1m to 7d", ErrorKind::invalid);
  return Ok{};
}

boost::asio::awaitable<Result<std::string>> run_scheduled(Services& services,
                                                          const storage::ScheduleRecord& schedule,
                                                          EpochMillis nominal) {
  Message message;
  std::vector<std::string> more;  // the rest of a long digest, threaded under the first piece
  if (schedule.action == kAnnounce) {
    message = info(schedule.payload);
  } else if (schedule.action == kReleaseDigest) {
    if (services.catalog.find_environment(schedule.payload) == nullptr)
      co_return make_error("environment " + schedule.payload + " is no longer configured");
    const EpochMillis since = schedule.watermark > 0 && schedule.watermark < nominal
                                  ? schedule.watermark
                                  : nominal - 7 * kDayMs;
    // What shipped, per service with its release notes (commands/whats_new.h).
    const std::string environment = schedule.payload;
    const EpochMillis until = services.clock.now_ms();
    std::string title = "What shipped to " + environment;
    WhatsNew digest = co_await compose_whats_new(services, environment, since, until, title);
    if (digest.body.empty()) {
      message = info(digest.header);
    } else {
      auto pieces = split_at_lines(digest.body, kNotesPieceLimit - 200);
      message = info(digest.header + "\n\n" + pieces.front());
      more.assign(std::make_move_iterator(pieces.begin() + 1),
                  std::make_move_iterator(pieces.end()));
    }
  } else if (schedule.action == kDoraDigest) {
    message = info(dora_digest(services, services.clock.now_ms()));
    message.preformatted = true;
  } else {
    co_return make_error("unknown schedule action '" + schedule.action + "'");
  }
  message.context = "Schedule #" + std::to_string(schedule.id) + " " + schedule.name + " (" +
                    (schedule.origin == "config" ? std::string("configured")
                                                 : "set up by " + schedule.created_by) +
                    "), due " + format_utc(nominal);
  if (services.conversations == nullptr)
    co_return make_error("no chat platform is running to post to " + schedule.channel);
  auto conversation = services.conversations->open(schedule.channel);
  if (!conversation)
    co_return make_error("no running chat platform serves " + schedule.channel);
  const MessageRef posted = conversation->post(message);
  for (const auto& piece : more)
    conversation->thread_reply(posted, info(piece));
  record_audit(services, "shipmate", "schedule.fired",
               "#" + std::to_string(schedule.id) + " " + schedule.name, "ok",
               "due " + format_utc(nominal) + ", posted to " + schedule.channel);
  co_return "posted to " + schedule.channel;
}

std::vector<std::int64_t> sync_configured_schedules(
    Services& services, const std::vector<storage::ScheduleRecord>& declared) {
  std::vector<std::int64_t> touched;
  if (services.schedules == nullptr)
    return touched;
  for (const auto& existing : services.schedules->list()) {
    if (existing.origin != "config")
      continue;
    const bool still = std::any_of(declared.begin(), declared.end(),
                                   [&](const auto& d) { return d.name == existing.name; });
    if (!still) {
      services.schedules->set_state(existing.id, "cancelled");
      touched.push_back(existing.id);
    }
  }
  for (auto record : declared) {
    record.origin = "config";
    if (auto existing = services.schedules->find_by_name(record.name)) {
      record.id = existing->id;
      services.schedules->update_definition(record);
      touched.push_back(existing->id);
      continue;
    }
    record.created_by = "config";
    record.watermark = services.clock.now_ms();
    if (auto added = services.schedules->add(record))
      touched.push_back(added->id);
  }
  return touched;
}

boost::asio::awaitable<void> handle_announce(CommandContext& ctx) {
  if (!wired(ctx))
    co_return;
  auto& services = ctx.services;
  const auto text = quoted_text(ctx.text);
  const std::string rest = ctx.args.get("when");
  if (!text || trim(*text).empty()) {
    ctx.conversation.post(error_message(
        "Announce: put the text in quotes, e.g. announce #ops at 17:00 Europe/Paris \"Deploy "
        "freeze starts now\""));
    co_return;
  }
  std::string when = before_tail(rest, *text);
  if (!starts_with_ci(when, "at ")) {
    ctx.conversation.post(error_message(
        "Announce: say when with 'at', e.g. announce #ops at tomorrow 09:00 \"...\""));
    co_return;
  }
  when = std::string(trim(std::string_view(when).substr(3)));
  const EpochMillis now = services.clock.now_ms();
  // The zone the time was written in (else the configured default), to show it back that way.
  const std::string zone = written_zone(when, services.catalog.time_zone);
  auto at = parse_when(when, now, services.catalog.time_zone);
  if (!at) {
    ctx.conversation.post(error_message("Announce: " + at.error().message));
    co_return;
  }
  if (*at <= now) {
    ctx.conversation.post(
        error_message("Announce: " + describe_instant(*at, zone) + " has already passed"));
    co_return;
  }
  if (*at > now + kFurthestOneOff) {
    ctx.conversation.post(error_message("Announce: at most a year ahead"));
    co_return;
  }
  auto address = channel_address(ctx.conversation, ctx.args.get("channel"));
  if (!address) {
    ctx.conversation.post(error_message("Announce: " + address.error().message));
    co_return;
  }
  storage::ScheduleRecord record;
  record.name = "announce-" + std::to_string(services.schedules->list(true).size() + 1);
  record.once = *at;
  record.timezone = zone;
  record.action = std::string(kAnnounce);
  record.payload = std::string(trim(*text));
  record.channel = *address;
  record.misfire = "run-once";
  record.created_by = ctx.caller.user_id;
  record.watermark = now;
  if (auto valid = validate_schedule(services.catalog, record); !valid) {
    ctx.conversation.post(error_message("Announce: " + valid.error().message));
    co_return;
  }
  auto added = services.schedules->add(record);
  if (!added) {
    ctx.conversation.post(error_message("Announce: " + added.error().message));
    co_return;
  }
  notify_scheduler(services, added->id);
  record_audit(services, ctx.caller.user_id, "schedule.added", "#" + std::to_string(added->id),
               "ok", "announce to " + added->channel + " at " + format_utc(*at));
  ctx.conversation.post(success("Announcement #" + std::to_string(added->id) + " will go to " +
                                channel_label(added->channel) + " " + describe_instant(*at, zone) +
                                ". 'schedule cancel " + std::to_string(added->id) +
                                "' withdraws it."));
}

boost::asio::awaitable<void> handle_schedule_add(CommandContext& ctx) {
  if (!wired(ctx))
    co_return;
  auto& services = ctx.services;
  storage::ScheduleRecord record;
  record.name = ctx.args.get("name");
  record.cron = ctx.args.get("cron");
  record.timezone = services.catalog.time_zone;  // unless the command names a zone
  std::vector<std::string> words;
  {
    std::string current;
    for (char c : ctx.args.get("what")) {
      if (c == ' ') {
        if (!current.empty())
          words.push_back(current);
        current.clear();
      } else {
        current += c;
      }
    }
    if (!current.empty())
      words.push_back(current);
  }
  std::size_t next = 0;
  if (next < words.size() && (words[next].find('/') != std::string::npos || words[next] == "UTC")) {
    record.timezone = words[next++];
  }
  if (next >= words.size()) {
    ctx.conversation.post(
        error_message("Schedule add: say what it does: announce \"text\", release-digest <env> or "
                      "dora-digest"));
    co_return;
  }
  record.action = to_lower(words[next++]);
  if (record.action == kAnnounce) {
    auto text = quoted_text(ctx.text);
    std::vector<std::string> tail(words.begin() + static_cast<std::ptrdiff_t>(next), words.end());
    record.payload = text ? *text : join(tail, " ");
  } else if (record.action == kReleaseDigest) {
    record.payload = next < words.size() ? words[next] : "";
  }
  record.misfire = ctx.args.get("misfire", "run-once");
  if (ctx.args.has("lateness")) {
    auto lateness = parse_duration_ms(ctx.args.get("lateness"));
    record.lateness_ms = lateness.value_or(0);
  }
  auto address = channel_address(ctx.conversation, ctx.args.get("channel", "here"));
  if (!address) {
    ctx.conversation.post(error_message("Schedule add: " + address.error().message));
    co_return;
  }
  record.channel = *address;
  record.created_by = ctx.caller.user_id;
  record.watermark = services.clock.now_ms();
  if (auto valid = validate_schedule(services.catalog, record); !valid) {
    ctx.conversation.post(error_message("Schedule add: " + valid.error().message));
    co_return;
  }
  auto added = services.schedules->add(record);
  if (!added) {
    ctx.conversation.post(error_message("Schedule add: " + added.error().message));
    co_return;
  }
  notify_scheduler(services, added->id);
  record_audit(services, ctx.caller.user_id, "schedule.added", "#" + std::to_string(added->id),
               "ok", added->name + ": " + describe_when(*added) + ", " + describe_what(*added));
  auto timing = scheduler::timing_of(*added);
  const auto upcoming = timing->upcoming(services.clock.now_ms(), 1);
  ctx.conversation.post(success(
      "Schedule #" + std::to_string(added->id) + " " + added->name +
      " added: " + describe_what(*added) + " in " + channel_label(added->channel) + ", " +
      describe_when(*added) +
      (upcoming.empty() ? "" : "; first " + describe_instant(upcoming[0], added->timezone)) + "."));
}

boost::asio::awaitable<void> handle_schedule_list(CommandContext& ctx) {
  if (!wired(ctx))
    co_return;
  const auto schedules = ctx.services.schedules->list();
  if (schedules.empty()) {
    ctx.conversation.post(info("No schedules. 'schedule add' or 'announce' makes one."));
    co_return;
  }
  std::string text;
  for (const auto& s : schedules) {
    text += "#" + std::to_string(s.id) + " " + s.name + ": " + describe_what(s) + " in " +
            channel_label(s.channel) + ", " + describe_when(s) +
            (s.state == "paused" ? " [paused]"
             : s.next_at         ? "; next " + describe_instant(*s.next_at, s.timezone)
                                 : "") +
            (s.origin == "config" ? " (configured)" : "") + "\n";
  }
  Message message = info(std::string(trim(text)));
  message.preformatted = true;
  ctx.conversation.post(message);
}

boost::asio::awaitable<void> handle_schedule_show(CommandContext& ctx) {
  if (!wired(ctx))
    co_return;
  auto found = find_schedule(ctx.services, ctx.args.get("id"));
  if (!found) {
    ctx.conversation.post(error_message(found.error().message));
    co_return;
  }
  const auto& s = *found;
  Message message = info("Schedule #" + std::to_string(s.id) + " " + s.name);
  message.fields.push_back({"What", describe_what(s)});
  message.fields.push_back({"When", describe_when(s)});
  message.fields.push_back({"Where", channel_label(s.channel)});
  message.fields.push_back({"State", s.state + (s.origin == "config" ? " (configured)" : "")});
  message.fields.push_back(
      {"Misfires", s.misfire + ", lateness limit " + format_duration(s.lateness_ms)});
  message.fields.push_back({"Set up by", s.created_by + ", " + format_utc(s.created_at)});
  std::string next_text;
  if (s.state == "active" || s.state == "paused") {
    if (auto timing = scheduler::timing_of(s)) {
      const EpochMillis from = std::max(s.watermark, ctx.services.clock.now_ms() - 1);
      for (const EpochMillis at : timing->upcoming(from, 5))
        next_text += describe_instant(at, s.timezone) + "\n";
    }
  }
  message.fields.push_back({"Next", next_text.empty() ? "none" : std::string(trim(next_text))});
  std::string runs_text;
  for (const auto& run : ctx.services.schedules->runs(s.id, 10)) {
    runs_text += format_utc(run.nominal_at) + " " + run.outcome +
                 (run.detail.empty() ? "" : ": " + run.detail) + "\n";
  }
  message.fields.push_back(
      {"Recent", runs_text.empty() ? "none yet" : std::string(trim(runs_text))});
  ctx.conversation.post(message);
}

namespace {

boost::asio::awaitable<void> change_state(CommandContext& ctx, std::string_view verb,
                                          std::string_view done, std::string_view to) {
  if (!wired(ctx))
    co_return;
  auto& services = ctx.services;
  const std::string label =
      std::string(1, static_cast<char>(std::toupper(verb[0]))) + std::string(verb.substr(1));
  auto found = find_schedule(services, ctx.args.get("id"));
  if (!found) {
    ctx.conversation.post(error_message(label + ": " + found.error().message));
    co_return;
  }
  const std::string target = "#" + std::to_string(found->id) + " " + found->name;
  if (!may_manage(ctx.caller, *found)) {
    const std::string why = target + " was set up by " + found->created_by + "; only " +
                            found->created_by + " or an admin may " + std::string(verb) + " it";
    record_audit(services, ctx.caller.user_id, "schedule." + std::string(verb) + "_refused", target,
                 "refused", why);
    ctx.conversation.post(error_message(label + " refused: " + why));
    co_return;
  }
  if (to == "cancelled" && found->origin == "config") {
    ctx.conversation.post(
        error_message(label + " refused: " + target +
                      " is declared in the configuration; remove it there (or pause it here)"));
    co_return;
  }
  if (found->state == to) {
    ctx.conversation.post(info(target + " is already " + std::string(to) + "."));
    co_return;
  }
  services.database.transaction([&] {
    if (to == "active") {
      // Occurrences while it was paused are not caught up: resuming starts from now.
      services.schedules->advance(found->id, services.clock.now_ms(), std::nullopt);
    }
    services.schedules->set_state(found->id, to);
  });
  notify_scheduler(services, found->id);
  record_audit(services, ctx.caller.user_id, "schedule." + std::string(verb), target, "ok",
               found->state + " -> " + std::string(to));
  ctx.conversation.post(
      success(std::string(done) + " " + target + "." +
              (to == "active" ? " Occurrences missed while paused are not run." : "")));
}

}  // namespace

boost::asio::awaitable<void> handle_schedule_pause(CommandContext& ctx) {
  co_await change_state(ctx, "pause", "Paused", "paused");
}

boost::asio::awaitable<void> handle_schedule_resume(CommandContext& ctx) {
  co_await change_state(ctx, "resume", "Resumed", "active");
}

boost::asio::awaitable<void> handle_schedule_cancel(CommandContext& ctx) {
  co_await change_state(ctx, "cancel", "Cancelled", "cancelled");
}

}  // namespace shipmate::commands
