// Freeze windows: the periods in which deploys are refused unless someone permitted overrides.
//
// Contract
// - Pure: the answers depend only on the arguments and the system time-zone database
//   (/usr/share/zoneinfo, read through Howard Hinnant's date/tz built with USE_OS_TZDB). That
//   database is the only I/O, it happens the first time a zone is looked up, and nothing here
//   reads a clock: callers pass `now`, so every answer is reproducible in a unit test.
// - Thread-safe: a CronSchedule and a FreezeWindow are immutable once made, and the zone
//   database is loaded once behind a call_once inside the library.
// - Errors are Result values (common/result.h) with one line a person can act on, naming the bad
//   part ("cron field 'hour' value 25 is out of range 0-23"). Nothing here throws; the only
//   fallible steps are parsing and validation, so evaluating a valid window cannot fail.
//
// Recurring windows live on the zone's wall clock, because that is how people think about them
// ("no deploys from Friday 17:00 to Monday 09:00 New York time"):
// - A window starts at each local time the cron expression matches in its zone, and ends when
//   that zone's wall clock has advanced by `duration` from the start. Across a DST change the
//   window therefore still ends at Monday 09:00 local; in absolute time it is an hour shorter or
//   longer than `duration`.
// - A wall time that does not exist (the spring-forward gap, e.g. 02:30 in New York on the
//   second Sunday of March) resolves to the first valid instant after the gap (03:00 EDT).
// - A wall time that happens twice (the fall-back overlap, e.g. 01:30 in New York on the first
//   Sunday of November) resolves to its first occurrence (01:30 EDT). These rules apply to both
//   ends of a window, so an end in the overlap ends the window at the first pass.
//
// Every window is the half-open interval [start, end): in force at its start, free at its end.
#pragma once

#include <bitset>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/cron.h"
#include "common/result.h"

namespace shipmate::commands {

// The cron parser and its wall-clock evaluation live in common/cron.h.
using shipmate::CronSchedule;

// One occurrence of a window: [start_ms, end_ms) in UTC epoch milliseconds.
struct FreezeOccurrence {
  EpochMillis start_ms = 0;
  EpochMillis end_ms = 0;
};

// A recurring or one-off freeze. Made only through the factories, so a FreezeWindow that exists
// is valid (the cron parses, the zone is known, the duration or range is sensible).
class FreezeWindow {
 public:
  // The longest recurring duration accepted. It bounds how far back evaluation looks, and a
  // longer "recurring" freeze is more likely a unit typo ("64d" for "64h") than intended.
  static constexpr EpochMillis kMaxDurationMs = 366LL * 24 * 3600 * 1000;

  // Starts at each local time `cron` matches in `time_zone` (an IANA name such as
  // "Europe/Berlin") and lasts `duration_ms` of that zone's wall-clock time.
  static Result<FreezeWindow> recurring(std::string_view cron, EpochMillis duration_ms,
                                        std::string_view time_zone, std::string reason);
  // From `start_ms` (inclusive) to `end_ms` (exclusive), both UTC. `time_zone`, when given, is
  // only used to describe the end to people; it is validated like a recurring window's.
  static Result<FreezeWindow> one_off(EpochMillis start_ms, EpochMillis end_ms, std::string reason,
                                      std::string_view time_zone = {});

  bool recurring() const { return cron_.has_value(); }
  const std::string& reason() const { return reason_; }
  // The IANA zone name; empty for a one-off window given without one (described in UTC).
  const std::string& time_zone() const;
  const CronSchedule* schedule() const { return cron_ ? &cron_->schedule() : nullptr; }
  EpochMillis duration_ms() const { return duration_ms_; }

  // The occurrence in force at `now`, if any. Occurrences of one recurring window may overlap
  // (a duration longer than the gap between starts); then the one that started last, which is
  // also the one that ends last, is returned.
  std::optional<FreezeOccurrence> occurrence_at(EpochMillis now) const;
  // The first occurrence that starts strictly after `now` ("freezes" lists what is coming).
  std::optional<FreezeOccurrence> next_occurrence_after(EpochMillis now) const;

 private:
  friend std::string describe_until(const FreezeWindow& window, EpochMillis end_ms);
  FreezeWindow() = default;

  std::string reason_;
  std::optional<TimeZone> zone_;  // recurring windows always; one-offs when given one
  std::optional<ZonedCron> cron_;
  EpochMillis duration_ms_ = 0;
  EpochMillis start_ms_ = 0;  // one-off only
  EpochMillis end_ms_ = 0;    // one-off only
};

struct ActiveFreeze {
  std::size_t window_index = 0;  // into the vector given to active_freeze()
  std::string reason;
  EpochMillis started_at_ms = 0;
  EpochMillis ends_at_ms = 0;  // UTC; the first instant at which this window no longer applies
};

// The freeze in force at `now`: of the windows whose occurrence contains `now`, the one ending
// last (the first such in `windows` on a tie). Back-to-back windows are not chained: when one
// ends exactly as another begins, the answer at any instant is only the one in force then.
std::optional<ActiveFreeze> active_freeze(const std::vector<FreezeWindow>& windows,
                                          EpochMillis now);

// "until Mon 2026-11-23 09:00 Europe/Berlin (08:00Z)": `end_ms` in the window's own zone, then
// in UTC for people elsewhere. The UTC part gains its date when that differs from the local one
// ("(2026-11-22 23:00Z)"), and both gain seconds when the end is not on a whole minute. A
// window without a zone reads "until Mon 2026-11-23 08:00Z".
std::string describe_until(const FreezeWindow& window, EpochMillis end_ms);

}  // namespace shipmate::commands
