// Cron schedules on a time zone's wall clock: parsing a 5-field expression, and finding when it
// next (or last) matches across DST changes. Freeze windows use it today; schedules and incident
// reminders will.
//
// Contract
// - Pure: answers depend only on the arguments and the system time-zone database
//   (/usr/share/zoneinfo, read through Howard Hinnant's date/tz built with USE_OS_TZDB). Reading
//   that database, the first time a zone is looked up, is the only I/O; nothing here reads a
//   clock: callers pass the instant, so every answer is reproducible in a unit test.
// - Thread-safe: CronSchedule, TimeZone and ZonedCron are immutable once made; the zone database
//   is loaded once behind a call_once inside the library.
// - Errors are Result values with one line a person can act on, naming the bad part ("cron field
//   'hour' value 25 is out of range 0-23", "unknown time zone 'Mars/Base'"), kind `invalid` (or
//   `unavailable` when the zone database cannot be read). Nothing here throws.
//
// Instants are UTC epoch milliseconds (EpochMillis). "Wall" times (WallMillis) are milliseconds
// since 1970-01-01 00:00 on a zone's wall clock. An expression matches wall times; which instant
// a wall time names follows two rules:
// - A wall time that does not exist (the spring-forward gap, e.g. 02:30 in New York on the
//   second Sunday of March) names the first instant after the gap (03:00 EDT). Several matching
//   wall times in one gap therefore name the same instant.
// - A wall time that happens twice (the fall-back overlap, e.g. 01:30 in New York on the first
//   Sunday of November) names its first occurrence (01:30 EDT); the second pass does not match
//   again.
#pragma once

#include <bitset>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"

namespace date {
class time_zone;  // date/tz.h stays out of this header, so only cron.cpp needs USE_OS_TZDB
}  // namespace date

namespace shipmate {

using WallMillis = std::int64_t;

// A standard 5-field cron expression: minute hour day-of-month month day-of-week.
// Each field takes *, numbers, lists (1,3), ranges (1-5) and steps (*/15, 1-30/5); month and
// day-of-week also take three-letter names (jan-dec, sun-sat, any case), and day-of-week takes
// both 0 and 7 for Sunday (so "fri-sun" is Friday to Sunday). As in Vixie cron (what most crontabs
// are written for), when both day-of-month and day-of-week are restricted a day matches if either
// does; a field that starts with '*' (including "*/2") counts as unrestricted, and then both must
// match. An expression that can never match ("0 0 31 2 *") is refused.
class CronSchedule {
 public:
  static Result<CronSchedule> parse(std::string_view expression);

  bool matches_day(std::chrono::year_month_day day) const;
  bool matches(std::chrono::year_month_day day, unsigned hour, unsigned minute) const;

  bool hour_matches(unsigned hour) const { return hour < 24 && hours_.test(hour); }
  bool minute_matches(unsigned minute) const { return minute < 60 && minutes_.test(minute); }
  const std::string& text() const { return text_; }

 private:
  CronSchedule() = default;

  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // bits 1-31
  std::bitset<13> months_;         // bits 1-12
  std::bitset<7> days_of_week_;    // 0 = Sunday
  bool day_of_month_star_ = false;
  bool day_of_week_star_ = false;
};

// An IANA time zone from the system database. Cheap to copy; the zone data itself belongs to
// the process-wide database and is never freed.
class TimeZone {
 public:
  // "Europe/Berlin", "America/New_York", "UTC".
  static Result<TimeZone> find(std::string_view name);

  const std::string& name() const { return name_; }
  // The zone's wall clock at instant `at`.
  WallMillis to_wall(EpochMillis at) const;
  // The instant a wall time names, by the gap and overlap rules above. Never maps a later wall
  // time to an earlier instant.
  EpochMillis to_instant(WallMillis wall) const;

 private:
  TimeZone() = default;
  std::string name_;
  const date::time_zone* zone_ = nullptr;
};

// A wall-clock time a schedule matched, and the instant it names.
struct CronMatch {
  EpochMillis at = 0;
  WallMillis wall = 0;
};

// A cron expression evaluated on one zone's wall clock.
class ZonedCron {
 public:
  // How far next_after() looks ahead before giving up. Every expression parse() accepts matches
  // within 8 years (Feb 29 on its own skips 2100), so nullopt means "never" in practice.
  static constexpr int kSearchDays = 9 * 366;

  static Result<ZonedCron> parse(std::string_view expression, std::string_view time_zone);
  ZonedCron(CronSchedule schedule, TimeZone zone);

  const CronSchedule& schedule() const { return schedule_; }
  const TimeZone& zone() const { return zone_; }

  // The first match whose instant is strictly after `after`. Usable on its own: a scheduler
  // sleeps until next_after(now)->at, runs the job, and asks again with that instant.
  std::optional<CronMatch> next_after(EpochMillis after) const;
  // The latest match whose instant is at or before `at`, searching back no further than the
  // wall date of `not_before` minus two days; nullopt when there is none in that span.
  std::optional<CronMatch> last_at_or_before(EpochMillis at, EpochMillis not_before) const;

 private:
  CronSchedule schedule_;
  TimeZone zone_;
};

}  // namespace shipmate
