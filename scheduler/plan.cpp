#include "scheduler/plan.h"

#include <algorithm>

namespace shipmate::scheduler {

std::string_view to_string(Misfire policy) {
  switch (policy) {
    case Misfire::skip:
      return "skip";
    case Misfire::run_once:
      return "run-once";
    case Misfire::run_all:
      return "run-all";
  }
  return "run-once";
}

Result<Misfire> parse_misfire(std::string_view text) {
  if (text == "skip")
    return Misfire::skip;
  if (text == "run-once" || text == "run_once")
    return Misfire::run_once;
  if (text == "run-all" || text == "run_all")
    return Misfire::run_all;
  return make_error(
      "misfire policy '" + std::string(text) + "' is not one of skip, run-once, run-all",
      ErrorKind::invalid);
}

Result<Timing> Timing::cron(std::string_view expression, std::string_view time_zone) {
  auto parsed = ZonedCron::parse(expression, time_zone.empty() ? "UTC" : time_zone);
  if (!parsed)
    return parsed.error();
  Timing timing;
  timing.cron_.emplace(std::move(parsed).value());
  return timing;
}

Timing Timing::once(EpochMillis at) {
  Timing timing;
  timing.once_ = at;
  return timing;
}

std::optional<EpochMillis> Timing::next_after(EpochMillis after) const {
  if (cron_) {
    auto match = cron_->next_after(after);
    if (!match)
      return std::nullopt;
    return match->at;
  }
  if (once_ && *once_ > after)
    return once_;
  return std::nullopt;
}

std::vector<EpochMillis> Timing::upcoming(EpochMillis after, std::size_t count) const {
  std::vector<EpochMillis> out;
  std::optional<EpochMillis> next = next_after(after);
  while (next && out.size() < count) {
    out.push_back(*next);
    next = next_after(*next);
  }
  return out;
}

std::string Timing::describe() const {
  if (cron_)
    return "cron '" + cron_->schedule().text() + "' in " + cron_->zone().name();
  return "once at " + format_utc(once_.value_or(0));
}

namespace {

// "2 h", "2 h 30 min", "1 min 1 s", "3 d 4 h": whole seconds, zero parts left out.
std::string span(EpochMillis millis) {
  long long seconds = std::max<EpochMillis>(0, millis) / 1000;
  const long long days = seconds / 86400;
  const long long hours = seconds / 3600 % 24;
  const long long minutes = seconds / 60 % 60;
  seconds %= 60;
  std::string out;
  const auto part = [&](long long value, const char* unit) {
    if (value == 0)
      return;
    if (!out.empty())
      out += ' ';
    out += std::to_string(value) + " " + unit;
  };
  part(days, "d");
  part(hours, "h");
  part(minutes, "min");
  part(seconds, "s");
  return out.empty() ? "0 s" : out;
}

std::string late_by(EpochMillis late) {
  return "missed by " + span(late);
}

}  // namespace

OccurrencePlan plan_occurrences(const Timing& timing, const MisfirePolicy& misfire,
                                EpochMillis watermark, EpochMillis now) {
  OccurrencePlan plan;
  plan.watermark = watermark;
  const auto skip = [&](EpochMillis nominal, std::string why) {
    ++plan.skipped_total;
    if (plan.skipped.size() < kListedSkips)
      plan.skipped.push_back(SkippedOccurrence{nominal, std::move(why)});
  };

  // Older than the lateness limit: skipped whatever the policy. Counted one by one up to
  // kScanLimit, then in bulk by jumping to the cutoff.
  const EpochMillis limit = std::max<EpochMillis>(misfire.lateness_limit_ms, kOnTimeMs);
  const EpochMillis cutoff = now - limit;  // occurrences at or before this are too old
  std::optional<EpochMillis> next = timing.next_after(watermark);
  std::size_t scanned = 0;
  while (next && *next <= cutoff && *next <= now) {
    if (scanned == kScanLimit) {
      // Jump over the rest of the too-old ones: the newest of them becomes the watermark, and
      // the count becomes a lower bound.
      plan.skipped_total_is_lower_bound = true;
      if (const ZonedCron* zoned = timing.zoned_cron()) {
        if (auto newest = zoned->last_at_or_before(cutoff, *next); newest && newest->at >= *next) {
          ++plan.skipped_total;
          plan.watermark = newest->at;
        }
      }
      next = timing.next_after(plan.watermark);
      break;
    }
    ++scanned;
    skip(*next, late_by(now - *next) + ", beyond the lateness limit of " + span(limit));
    plan.watermark = *next;
    next = timing.next_after(*next);
  }

  // Within the limit: on time fires; missed follows the policy.
  std::vector<EpochMillis> missed;
  bool on_time_fires = false;
  std::vector<EpochMillis> on_time;
  while (next && *next <= now) {
    if (now - *next <= kOnTimeMs)
      on_time.push_back(*next);
    else
      missed.push_back(*next);
    plan.watermark = *next;
    next = timing.next_after(*next);
  }
  on_time_fires = !on_time.empty();
  switch (misfire.policy) {
    case Misfire::skip:
      for (const EpochMillis nominal : missed)
        skip(nominal, late_by(now - nominal) + " (misfire policy skip)");
      break;
    case Misfire::run_once:
      for (std::size_t i = 0; i < missed.size(); ++i) {
        const bool catch_up = !on_time_fires && i + 1 == missed.size();
        if (catch_up)
          plan.fire.push_back(missed[i]);
        else
          skip(missed[i], late_by(now - missed[i]) + " (misfire policy run-once: one run stands " +
                              "for all that were missed)");
      }
      break;
    case Misfire::run_all:
      plan.fire = missed;
      break;
  }
  plan.fire.insert(plan.fire.end(), on_time.begin(), on_time.end());
  plan.next_due = next;
  return plan;
}

EpochMillis next_job_wake(std::optional<EpochMillis> next_due, EpochMillis now, bool more) {
  if (!next_due)
    return kNever;
  if (*next_due > now)
    return *next_due;
  return more ? now : now + kContendedRetryMs;
}

}  // namespace shipmate::scheduler
