// Times typed in chat ("17:00 Europe/Paris", "tomorrow 09:00", "2026-12-24T09:00Z", "in 2h"), for
// announcements, freezes and schedules.
//
// Contract
// - Pure: the answer depends only on the arguments and the system time-zone database (through
//   common/cron.h). Callers pass `now`; nothing here reads a clock.
// - Thread-safe; nothing here throws. Errors are Result values (kind `invalid`) with one line a
//   person can act on, listing the forms that work.
//
// Forms (a trailing IANA zone applies to the wall-clock forms; without one, `zone` does):
//   2026-12-24T09:00Z, 2026-12-24 09:00+01:00   an instant (ISO 8601 with Z or an offset)
//   2026-12-24T09:00 [zone], 2026-12-24 09:00 [zone], 2026-12-24 [zone] (midnight)
//   17:00 [zone]                  the next 17:00 on that zone's clock (today, else tomorrow)
//   today 17:00, tomorrow 09:00, monday 09:00 (mon, tue, ...: the next such day, never today)
//   in 30m, in 2h, in 1d          from now
// Wall times that do not exist (a spring-forward gap) name the first instant after the gap; wall
// times that happen twice name their first pass (common/cron.h's rules).
#pragma once

#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"

namespace shipmate::commands {

Result<EpochMillis> parse_when(std::string_view text, EpochMillis now,
                               std::string_view zone = "UTC");

// A point in the past, for "since <when>" (whats-new): the latest instant at or before `now`
// that the text names. `3d`, `12h`, `90m` count back from now; `monday 09:00` is the most recent
// Monday 09:00 (today's when it has passed), `17:00` the most recent 17:00; dates and ISO 8601
// instants name themselves. A time that can only be in the future ("tomorrow 09:00", "in 2h",
// next year's date) is an error that says so.
Result<EpochMillis> parse_since(std::string_view text, EpochMillis now,
                                std::string_view zone = "UTC");

// The zone a time was written in, to show it back the same way: the trailing IANA name of `text`
// ("tomorrow 09:00 Europe/Paris" -> "Europe/Paris"), else `fallback`.
std::string written_zone(std::string_view text, std::string_view fallback);

// "Mon 2026-12-07 17:00 Europe/Paris (16:00Z)", or "Mon 2026-12-07 16:00Z" in UTC.
std::string describe_instant(EpochMillis at, std::string_view zone);

}  // namespace shipmate::commands
