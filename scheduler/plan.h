// When a schedule fires, and what to do about occurrences that were missed: the scheduler's
// decisions, without I/O.
//
// Contract
// - Pure: every answer depends only on the arguments and the system time-zone database (read
//   through common/cron.h the first time a zone is looked up). Nothing here reads a clock or
//   touches storage; callers pass `now`, so tests walk a schedule step by step.
// - Thread-safe: a Timing is immutable once made.
// - Errors are Result values with one line a person can act on (kind `invalid`); planning a valid
//   Timing cannot fail and nothing here throws.
//
// Occurrences
// - A schedule is a Timing: a cron expression on an IANA zone's wall clock (common/cron.h), or one
//   instant. Each occurrence is named by its nominal instant (UTC epoch ms); the scheduler keys
//   its claims by (schedule, nominal instant), so an occurrence runs at most once.
// - DST follows cron.h and is therefore explicit: a wall time repeated by a fall-back change fires
//   once (at its first pass); a wall time skipped by a spring-forward change fires at the first
//   instant after the gap, and several matches inside one gap are one occurrence.
//
// Planning (plan_occurrences)
// - A schedule carries a watermark: every occurrence at or before it has been decided (fired or
//   skipped). A step looks at the occurrences after the watermark and at or before `now`.
// - An occurrence at most kOnTimeMs late is on time and fires, whatever the policy.
// - One later than that was missed (downtime, a stalled loop, a paused schedule resumed). The
//   schedule's misfire policy decides:
//     skip      every missed occurrence is skipped;
//     run-once  the newest missed occurrence within the lateness limit fires once as a catch-up
//               (unless an on-time occurrence fires in the same step), the others are skipped;
//     run-all   every missed occurrence within the lateness limit fires, oldest first.
//   Missed occurrences older than the lateness limit are always skipped. Every skip says why.
// - After a step the watermark is the newest occurrence it decided, and next_due is the first
//   occurrence after that (nullopt: never again, as for a one-off that has been decided).
// - Skipped occurrences are counted; the first kListedSkips are listed (and stored). After
//   kScanLimit too-old occurrences a step jumps to the newest one before the lateness cutoff, so a
//   year of downtime of an every-minute schedule costs no more than a week's; the count is then a
//   lower bound (skipped_total_is_lower_bound). Occurrences within the limit are always decided
//   one by one, so callers keep the limit at or below kMaxLatenessMs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/cron.h"
#include "common/result.h"

namespace shipmate::scheduler {

enum class Misfire { skip, run_once, run_all };
std::string_view to_string(Misfire policy);
// "skip", "run-once", "run-all"; an error naming the three otherwise.
Result<Misfire> parse_misfire(std::string_view text);

inline constexpr EpochMillis kOnTimeMs = 60'000;
inline constexpr EpochMillis kDefaultLatenessMs = 60LL * 60 * 1000;
inline constexpr std::size_t kScanLimit = 10'000;
inline constexpr EpochMillis kMaxLatenessMs = 7LL * 24 * 60 * 60 * 1000;
// How many skipped occurrences a step lists one by one (the rest are only counted).
inline constexpr std::size_t kListedSkips = 50;

struct MisfirePolicy {
  Misfire policy = Misfire::run_once;
  EpochMillis lateness_limit_ms = kDefaultLatenessMs;
};

// When a schedule fires. Made only through the factories, so a Timing that exists is valid.
class Timing {
 public:
  static Result<Timing> cron(std::string_view expression, std::string_view time_zone);
  static Timing once(EpochMillis at);

  bool recurring() const { return cron_.has_value(); }
  // The first occurrence strictly after `after`; nullopt when there is none.
  std::optional<EpochMillis> next_after(EpochMillis after) const;
  // Up to `count` occurrences strictly after `after`, in order ("schedule show").
  std::vector<EpochMillis> upcoming(EpochMillis after, std::size_t count) const;
  // "cron '0 9 * * mon-fri' in Europe/Paris" or "once at 2026-12-07 09:00:00Z".
  std::string describe() const;
  const ZonedCron* zoned_cron() const { return cron_ ? &*cron_ : nullptr; }
  std::optional<EpochMillis> once_at() const { return once_; }

 private:
  Timing() = default;
  std::optional<ZonedCron> cron_;
  std::optional<EpochMillis> once_;
};

struct SkippedOccurrence {
  EpochMillis nominal = 0;
  std::string why;  // "missed by 3 h 0 min (misfire policy skip)"
};

struct OccurrencePlan {
  std::vector<EpochMillis> fire;              // claim and run now, oldest first
  std::vector<SkippedOccurrence> skipped;     // at most kListedSkips, oldest first
  std::size_t skipped_total = 0;              // every skip, listed or not
  bool skipped_total_is_lower_bound = false;  // a long downtime was jumped over
  EpochMillis watermark = 0;                  // every occurrence at or before this is decided
  std::optional<EpochMillis> next_due;        // the first occurrence after the watermark
};

OccurrencePlan plan_occurrences(const Timing& timing, const MisfirePolicy& misfire,
                                EpochMillis watermark, EpochMillis now);

// Timed jobs (timed_job.h): when the loop looks at a job again after a pass at `now`.
// - `next_due` is the job's earliest standing deadline read after the pass (nullopt: none, and
//   the job is looked at again only when told a deadline moved).
// - A deadline still in the future: at that deadline.
// - One already due: when the pass stopped at a full page (`more`), at once; otherwise it is an
//   occurrence already running here or claimed by another process, so again kContendedRetryMs
//   later (a run finishing here wakes the loop sooner). Never a busy loop.
inline constexpr EpochMillis kContendedRetryMs = 5'000;
inline constexpr EpochMillis kNever = INT64_MAX;
EpochMillis next_job_wake(std::optional<EpochMillis> next_due, EpochMillis now, bool more);

}  // namespace shipmate::scheduler
