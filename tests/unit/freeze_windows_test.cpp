// Freeze windows: cron parsing and matching, recurring windows on a zone's wall clock across DST
// changes (gaps and overlaps included), one-off windows, overlaps, and the chat description.
//
// Expected instants are written out in UTC, worked out from the zones' rules (checked against
// `zdump -v -c 2026,2027 <zone>`), not computed with the code under test. A brute-force check
// at the end compares the evaluator's day-skipping search with a minute-by-minute scan.
#include <gtest/gtest.h>

#include <date/tz.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "commands/freeze_windows.h"

namespace shipmate::commands {
namespace {

using std::chrono::year;
using std::chrono::year_month_day;

constexpr EpochMillis kMinute = 60'000;
constexpr EpochMillis kHour = 60 * kMinute;
constexpr EpochMillis kDay = 24 * kHour;

// "2026-03-06 22:00Z" (seconds optional) -> epoch milliseconds.
EpochMillis utc(const char* text) {
  int y = 0;
  unsigned mo = 0, d = 0, h = 0, mi = 0, s = 0;
  const int fields = std::sscanf(text, "%d-%u-%u %u:%u:%u", &y, &mo, &d, &h, &mi, &s);
  EXPECT_GE(fields, 5) << text;
  const std::chrono::sys_days day{year{y} / std::chrono::month{mo} / std::chrono::day{d}};
  return std::chrono::duration_cast<std::chrono::milliseconds>(day.time_since_epoch()).count() +
         h * kHour + mi * kMinute + s * 1000;
}

CronSchedule cron(const char* text) {
  auto parsed = CronSchedule::parse(text);
  EXPECT_TRUE(parsed.ok()) << text << ": " << (parsed.ok() ? "" : parsed.error().message);
  return std::move(parsed).value();
}

std::string cron_error(const char* text) {
  auto parsed = CronSchedule::parse(text);
  if (parsed.ok())
    return "(parsed)";
  return parsed.error().message;
}

FreezeWindow recurring(const char* expression, EpochMillis duration, const char* zone,
                       std::string reason = "freeze") {
  auto window = FreezeWindow::recurring(expression, duration, zone, std::move(reason));
  EXPECT_TRUE(window.ok()) << (window.ok() ? "" : window.error().message);
  return std::move(window).value();
}

FreezeWindow one_off(const char* start, const char* end, std::string reason = "one-off",
                     std::string_view zone = {}) {
  auto window = FreezeWindow::one_off(utc(start), utc(end), std::move(reason), zone);
  EXPECT_TRUE(window.ok()) << (window.ok() ? "" : window.error().message);
  return std::move(window).value();
}

// The occurrence in force at `at`, as "start..end" in UTC, or "free".
std::string at(const FreezeWindow& window, EpochMillis instant) {
  const auto occurrence = window.occurrence_at(instant);
  if (!occurrence)
    return "free";
  return format_utc(occurrence->start_ms) + ".." + format_utc(occurrence->end_ms);
}
std::string at(const FreezeWindow& window, const char* instant) {
  return at(window, utc(instant));
}

year_month_day ymd(int y, unsigned m, unsigned d) {
  return year{y} / std::chrono::month{m} / std::chrono::day{d};
}

// ----------------------------------------------------------------------------------------------
// Cron parsing and matching

TEST(CronParse, StarMatchesEverything) {
  const auto all = cron("* * * * *");
  for (unsigned hour = 0; hour < 24; ++hour) {
    for (unsigned minute = 0; minute < 60; ++minute)
      EXPECT_TRUE(all.matches(ymd(2026, 2, 28), hour, minute));
  }
  EXPECT_TRUE(all.matches_day(ymd(2028, 2, 29)));
  EXPECT_FALSE(all.matches_day(ymd(2026, 2, 29)));  // not a date
  EXPECT_EQ(all.text(), "* * * * *");
}

TEST(CronParse, ListsRangesAndSteps) {
  const auto every_quarter = cron("*/15 * * * *");
  for (unsigned minute = 0; minute < 60; ++minute)
    EXPECT_EQ(every_quarter.minute_matches(minute), minute % 15 == 0) << minute;

  const auto stepped_range = cron("1-30/5 * * * *");
  for (unsigned minute = 0; minute < 60; ++minute) {
    const bool expected =
        minute == 1 || minute == 6 || minute == 11 || minute == 16 || minute == 21 || minute == 26;
    EXPECT_EQ(stepped_range.minute_matches(minute), expected) << minute;
  }

  const auto list = cron("0 1,3,22-23 * * *");
  for (unsigned hour = 0; hour < 24; ++hour) {
    EXPECT_EQ(list.hour_matches(hour), hour == 1 || hour == 3 || hour >= 22) << hour;
  }
  EXPECT_FALSE(list.minute_matches(1));

  const auto mixed = cron("0,30 8-18/2,21 * * *");
  EXPECT_TRUE(mixed.hour_matches(8));
  EXPECT_TRUE(mixed.hour_matches(18));
  EXPECT_FALSE(mixed.hour_matches(9));
  EXPECT_TRUE(mixed.hour_matches(21));
  EXPECT_TRUE(mixed.minute_matches(30));
  EXPECT_FALSE(mixed.minute_matches(15));

  const auto leading_zeros = cron("05 09 * * *");
  EXPECT_TRUE(leading_zeros.minute_matches(5));
  EXPECT_TRUE(leading_zeros.hour_matches(9));

  // Any whitespace separates fields.
  EXPECT_TRUE(CronSchedule::parse("  0\t17  *  * fri ").ok());
  // Steps larger than the range are legal and select just the first value.
  EXPECT_TRUE(cron("*/90 * * * *").minute_matches(0));
  EXPECT_FALSE(cron("*/90 * * * *").minute_matches(30));
}

TEST(CronParse, MonthAndWeekdayNamesInAnyCase) {
  const auto months = cron("0 0 1 jan,JUL,Oct-dec *");
  for (unsigned month = 1; month <= 12; ++month) {
    EXPECT_EQ(months.matches_day(ymd(2026, month, 1)), month == 1 || month == 7 || month >= 10)
        << month;
  }
  // 2026-03-02 is a Monday.
  const auto weekdays = cron("0 9 * * MON-Fri");
  for (unsigned offset = 0; offset < 7; ++offset) {
    EXPECT_EQ(weekdays.matches_day(ymd(2026, 3, 2 + offset)), offset < 5) << offset;
  }
  EXPECT_TRUE(cron("0 0 * * sat,SUN").matches_day(ymd(2026, 3, 7)));
  EXPECT_TRUE(cron("0 0 * * sat,SUN").matches_day(ymd(2026, 3, 8)));
  EXPECT_FALSE(cron("0 0 * * sat,SUN").matches_day(ymd(2026, 3, 9)));
}

TEST(CronParse, SundayIsZeroAndSeven) {
  const auto sunday = ymd(2026, 3, 8);
  const auto monday = ymd(2026, 3, 9);
  const auto saturday = ymd(2026, 3, 7);
  EXPECT_TRUE(cron("0 0 * * 0").matches_day(sunday));
  EXPECT_TRUE(cron("0 0 * * 7").matches_day(sunday));
  EXPECT_FALSE(cron("0 0 * * 7").matches_day(saturday));
  // A range up to 7 includes Sunday; so does a named range ending on sun.
  for (const char* expression : {"0 0 * * 5-7", "0 0 * * fri-sun", "0 0 * * FRI-7"}) {
    const auto weekend = cron(expression);
    EXPECT_TRUE(weekend.matches_day(ymd(2026, 3, 6))) << expression;  // Friday
    EXPECT_TRUE(weekend.matches_day(saturday)) << expression;
    EXPECT_TRUE(weekend.matches_day(sunday)) << expression;
    EXPECT_FALSE(weekend.matches_day(monday)) << expression;
  }
  EXPECT_TRUE(cron("0 0 * * 0-6").matches_day(sunday));
  EXPECT_TRUE(cron("0 0 * * sun-sat").matches_day(saturday));
}

TEST(CronMatch, DayOfMonthOrDayOfWeekWhenBothRestricted) {
  // Vixie cron: "0 0 13 * fri" runs on every 13th and on every Friday.
  const auto either = cron("0 0 13 * fri");
  EXPECT_TRUE(either.matches_day(ymd(2026, 3, 13)));   // Friday the 13th
  EXPECT_TRUE(either.matches_day(ymd(2026, 4, 13)));   // a Monday, but the 13th
  EXPECT_TRUE(either.matches_day(ymd(2026, 4, 17)));   // a Friday
  EXPECT_FALSE(either.matches_day(ymd(2026, 4, 14)));  // neither
}

TEST(CronMatch, BothMustMatchWhenEitherStartsWithStar) {
  // Only day-of-week restricted: it alone decides.
  const auto fridays = cron("0 0 * * fri");
  EXPECT_TRUE(fridays.matches_day(ymd(2026, 4, 17)));
  EXPECT_FALSE(fridays.matches_day(ymd(2026, 4, 13)));
  // Only day-of-month restricted.
  const auto thirteenths = cron("0 0 13 * *");
  EXPECT_TRUE(thirteenths.matches_day(ymd(2026, 4, 13)));
  EXPECT_FALSE(thirteenths.matches_day(ymd(2026, 4, 17)));
  // "*/2" starts with '*', so as in Vixie cron it combines with AND: odd days that are Mondays.
  const auto odd_mondays = cron("0 0 */2 * mon");
  EXPECT_TRUE(odd_mondays.matches_day(ymd(2026, 3, 9)));    // Monday the 9th
  EXPECT_FALSE(odd_mondays.matches_day(ymd(2026, 3, 16)));  // Monday the 16th
  EXPECT_FALSE(odd_mondays.matches_day(ymd(2026, 3, 11)));  // Wednesday the 11th
  // The month always has to match.
  EXPECT_FALSE(cron("0 0 13 jan fri").matches_day(ymd(2026, 3, 13)));
}

TEST(CronMatch, HourAndMinuteMustMatch) {
  const auto weekly = cron("0 17 * * fri");
  EXPECT_TRUE(weekly.matches(ymd(2026, 3, 6), 17, 0));
  EXPECT_FALSE(weekly.matches(ymd(2026, 3, 6), 17, 1));
  EXPECT_FALSE(weekly.matches(ymd(2026, 3, 6), 16, 0));
  EXPECT_FALSE(weekly.matches(ymd(2026, 3, 5), 17, 0));
  EXPECT_FALSE(weekly.matches(ymd(2026, 3, 6), 24, 0));
}

TEST(CronParse, RefusesWrongFieldCount) {
  EXPECT_EQ(cron_error("0 17 * *"),
            "cron expression '0 17 * *' has 4 fields; expected 5: minute hour day-of-month month "
            "day-of-week");
  EXPECT_EQ(cron_error("0 0 17 * * fri"),
            "cron expression '0 0 17 * * fri' has 6 fields; expected 5: minute hour day-of-month "
            "month day-of-week");
  EXPECT_EQ(cron_error(""),
            "cron expression '' has 0 fields; expected 5: minute hour day-of-month month "
            "day-of-week");
  EXPECT_EQ(cron_error("@daily"),
            "cron expression '@daily' has 1 fields; expected 5: minute hour day-of-month month "
            "day-of-week");
}

TEST(CronParse, RefusesValuesOutOfRangeNamingTheField) {
  EXPECT_EQ(cron_error("0 25 * * *"), "cron field 'hour' value 25 is out of range 0-23");
  EXPECT_EQ(cron_error("60 0 * * *"), "cron field 'minute' value 60 is out of range 0-59");
  EXPECT_EQ(cron_error("0 0 0 * *"), "cron field 'day-of-month' value 0 is out of range 1-31");
  EXPECT_EQ(cron_error("0 0 32 * *"), "cron field 'day-of-month' value 32 is out of range 1-31");
  EXPECT_EQ(cron_error("0 0 * 0 *"), "cron field 'month' value 0 is out of range 1-12");
  EXPECT_EQ(cron_error("0 0 * 13 *"), "cron field 'month' value 13 is out of range 1-12");
  EXPECT_EQ(cron_error("0 0 * * 8"), "cron field 'day-of-week' value 8 is out of range 0-7");
  EXPECT_EQ(cron_error("0 0-24 * * *"), "cron field 'hour' value 24 is out of range 0-23");
  EXPECT_EQ(cron_error("99999999999 * * * *"),
            "cron field 'minute' value 99999999999 is out of range 0-59");
}

TEST(CronParse, RefusesWhatIsNotANumberOrAName) {
  EXPECT_EQ(cron_error("x * * * *"), "cron field 'minute' value 'x' is not a number");
  EXPECT_EQ(cron_error("0 mon * * *"), "cron field 'hour' value 'mon' is not a number");
  EXPECT_EQ(cron_error("0 0 * foo *"), "cron field 'month' value 'foo' is not a number or a name");
  EXPECT_EQ(cron_error("0 0 * * monday"),
            "cron field 'day-of-week' value 'monday' is not a number or a name");
  EXPECT_EQ(cron_error("0 0 * jan fri-jan"),
            "cron field 'day-of-week' value 'jan' is not a number or a name");
  EXPECT_EQ(cron_error("-1 * * * *"), "cron field 'minute' has an empty value");
  EXPECT_EQ(cron_error("0 1- * * *"), "cron field 'hour' has an empty value");
  EXPECT_EQ(cron_error("0 1-2-3 * * *"), "cron field 'hour' value '2-3' is not a number");
  EXPECT_EQ(cron_error("+5 * * * *"), "cron field 'minute' value '+5' is not a number");
}

TEST(CronParse, RefusesMalformedListsRangesAndSteps) {
  EXPECT_EQ(cron_error("1,,2 * * * *"), "cron field 'minute' has an empty list item in '1,,2'");
  EXPECT_EQ(cron_error("1, * * * *"), "cron field 'minute' has an empty list item in '1,'");
  EXPECT_EQ(cron_error("0 ,1 * * *"), "cron field 'hour' has an empty list item in ',1'");
  EXPECT_EQ(cron_error("0 5-1 * * *"), "cron field 'hour' range '5-1' runs backwards");
  EXPECT_EQ(cron_error("0 0 * dec-jan *"), "cron field 'month' range 'dec-jan' runs backwards");
  EXPECT_EQ(cron_error("*/0 * * * *"),
            "cron field 'minute' step '0' in '*/0' is not a positive number");
  EXPECT_EQ(cron_error("*/ * * * *"),
            "cron field 'minute' step '' in '*/' is not a positive number");
  EXPECT_EQ(cron_error("0 */x * * *"),
            "cron field 'hour' step 'x' in '*/x' is not a positive number");
  EXPECT_EQ(cron_error("*/5/2 * * * *"),
            "cron field 'minute' step '5/2' in '*/5/2' is not a positive number");
  EXPECT_EQ(cron_error("5/10 * * * *"),
            "cron field 'minute' step in '5/10' needs a range or '*' before it (e.g. '*/10')");
}

TEST(CronParse, RefusesDatesNoMonthHas) {
  EXPECT_EQ(cron_error("0 0 30 2 *"),
            "cron expression '0 0 30 2 *' never matches: no selected month has the selected days");
  EXPECT_EQ(cron_error("0 0 31 apr,jun,sep,nov *"),
            "cron expression '0 0 31 apr,jun,sep,nov *' never matches: no selected month has the "
            "selected days");
  // Possible, if rarely: leap days, and the 31st in a list with a long month.
  EXPECT_TRUE(CronSchedule::parse("0 0 29 2 *").ok());
  EXPECT_TRUE(CronSchedule::parse("0 0 31 4,5 *").ok());
  // With day-of-week restricted too, every Friday matches, so this is fine.
  EXPECT_TRUE(CronSchedule::parse("0 0 30 2 fri").ok());
}

// ----------------------------------------------------------------------------------------------
// Recurring windows across DST changes

// "No deploys from Friday 17:00 to Monday 09:00 New York time": 64 hours of wall clock.
class FreezeWeekendNewYork : public ::testing::Test {
 protected:
  FreezeWindow weekend = recurring("0 17 * * fri", 64 * kHour, "America/New_York", "weekend");
};

TEST_F(FreezeWeekendNewYork, SpringForwardWeekendEndsAtNineLocal) {
  // Fri 2026-03-06 17:00 EST (-5) = 22:00Z. DST starts Sun 03-08 02:00 (07:00Z). The freeze ends
  // Mon 03-09 09:00 EDT (-4) = 13:00Z: 63 hours of absolute time, not 64.
  const std::string occurrence = "2026-03-06 22:00:00Z..2026-03-09 13:00:00Z";
  EXPECT_EQ(at(weekend, "2026-03-06 21:59:59"), "free");
  EXPECT_EQ(at(weekend, "2026-03-06 22:00"), occurrence);
  EXPECT_EQ(at(weekend, "2026-03-08 06:59:59"), occurrence);
  EXPECT_EQ(at(weekend, "2026-03-08 07:00"), occurrence);
  EXPECT_EQ(at(weekend, utc("2026-03-09 13:00") - 1), occurrence);
  EXPECT_EQ(at(weekend, "2026-03-09 13:00"), "free");
  EXPECT_EQ(at(weekend, "2026-03-09 13:30"), "free");  // 64 absolute hours would still freeze
  EXPECT_EQ(at(weekend, "2026-03-11 12:00"), "free");
  // The next Friday is on EDT: 17:00 is 21:00Z.
  EXPECT_EQ(at(weekend, "2026-03-13 20:59"), "free");
  EXPECT_EQ(at(weekend, "2026-03-13 21:00"), "2026-03-13 21:00:00Z..2026-03-16 13:00:00Z");
}

TEST_F(FreezeWeekendNewYork, FallBackWeekendEndsAtNineLocal) {
  // Fri 2026-10-30 17:00 EDT = 21:00Z. DST ends Sun 11-01 02:00 EDT (06:00Z), clocks back to
  // 01:00. The freeze ends Mon 11-02 09:00 EST = 14:00Z: 65 hours of absolute time.
  const std::string occurrence = "2026-10-30 21:00:00Z..2026-11-02 14:00:00Z";
  EXPECT_EQ(at(weekend, "2026-10-30 20:59"), "free");
  EXPECT_EQ(at(weekend, "2026-10-30 21:00"), occurrence);
  EXPECT_EQ(at(weekend, "2026-11-01 05:30"), occurrence);  // 01:30 EDT
  EXPECT_EQ(at(weekend, "2026-11-01 06:30"), occurrence);  // 01:30 EST, the second pass
  EXPECT_EQ(at(weekend, "2026-11-02 13:59:59"), occurrence);
  EXPECT_EQ(at(weekend, "2026-11-02 14:00"), "free");
  // The next Friday is on EST: 17:00 is 22:00Z.
  EXPECT_EQ(at(weekend, "2026-11-06 21:59"), "free");
  EXPECT_EQ(at(weekend, "2026-11-06 22:00"), "2026-11-06 22:00:00Z..2026-11-09 14:00:00Z");
}

TEST_F(FreezeWeekendNewYork, ActiveFreezeReportsReasonAndEnd) {
  const std::vector<FreezeWindow> windows = {weekend};
  const auto active = active_freeze(windows, utc("2026-03-08 12:00"));
  ASSERT_TRUE(active.has_value());
  EXPECT_EQ(active->reason, "weekend");
  EXPECT_EQ(active->window_index, 0u);
  EXPECT_EQ(active->started_at_ms, utc("2026-03-06 22:00"));
  EXPECT_EQ(active->ends_at_ms, utc("2026-03-09 13:00"));
  EXPECT_EQ(describe_until(windows[0], active->ends_at_ms),
            "until Mon 2026-03-09 09:00 America/New_York (13:00Z)");
  EXPECT_FALSE(active_freeze(windows, utc("2026-03-10 12:00")).has_value());
}

// A nightly window 01:00-04:00 Berlin time, across the last Sundays of March and October.
TEST(FreezeDailyBerlin, FollowsTheWallClockAcrossBothChanges) {
  const auto nightly = recurring("0 1 * * *", 3 * kHour, "Europe/Berlin");
  // An ordinary winter night: CET (+1).
  EXPECT_EQ(at(nightly, "2026-03-28 00:00"), "2026-03-28 00:00:00Z..2026-03-28 03:00:00Z");
  // Sun 03-29: 02:00 CET jumps to 03:00 CEST at 01:00Z; 04:00 CEST is 02:00Z, two hours in.
  EXPECT_EQ(at(nightly, "2026-03-28 23:59"), "free");
  EXPECT_EQ(at(nightly, "2026-03-29 00:00"), "2026-03-29 00:00:00Z..2026-03-29 02:00:00Z");
  EXPECT_EQ(at(nightly, "2026-03-29 01:59"), "2026-03-29 00:00:00Z..2026-03-29 02:00:00Z");
  EXPECT_EQ(at(nightly, "2026-03-29 02:00"), "free");
  // The first summer night: CEST (+2).
  EXPECT_EQ(at(nightly, "2026-03-29 23:00"), "2026-03-29 23:00:00Z..2026-03-30 02:00:00Z");
  // Sun 10-25: 01:00 CEST is 10-24 23:00Z; 03:00 CEST goes back to 02:00 CET at 01:00Z; 04:00
  // CET is 03:00Z, four hours in.
  EXPECT_EQ(at(nightly, "2026-10-24 22:59"), "free");
  EXPECT_EQ(at(nightly, "2026-10-24 23:00"), "2026-10-24 23:00:00Z..2026-10-25 03:00:00Z");
  EXPECT_EQ(at(nightly, "2026-10-25 02:59"), "2026-10-24 23:00:00Z..2026-10-25 03:00:00Z");
  EXPECT_EQ(at(nightly, "2026-10-25 03:00"), "free");
  EXPECT_EQ(at(nightly, "2026-10-26 00:00"), "2026-10-26 00:00:00Z..2026-10-26 03:00:00Z");
}

TEST(FreezeNoDst, KolkataHalfHourOffset) {
  // IST is +05:30 all year: 09:30 IST is 04:00Z, weekdays only.
  const auto standup = recurring("30 9 * * mon-fri", 2 * kHour, "Asia/Kolkata");
  EXPECT_EQ(at(standup, "2026-06-01 03:59"), "free");  // Monday
  EXPECT_EQ(at(standup, "2026-06-01 04:00"), "2026-06-01 04:00:00Z..2026-06-01 06:00:00Z");
  EXPECT_EQ(at(standup, utc("2026-06-01 06:00") - 1), "2026-06-01 04:00:00Z..2026-06-01 06:00:00Z");
  EXPECT_EQ(at(standup, "2026-06-01 06:00"), "free");
  EXPECT_EQ(at(standup, "2026-06-06 04:30"), "free");  // Saturday
  // The same in January: no DST, so the same UTC times.
  EXPECT_EQ(at(standup, "2026-01-05 04:00"), "2026-01-05 04:00:00Z..2026-01-05 06:00:00Z");
}

TEST(FreezeNoDst, KathmanduQuarterHourOffset) {
  // Nepal is +05:45: 10:00 local is 04:15Z.
  const auto window = recurring("0 10 * * *", 15 * kMinute, "Asia/Kathmandu");
  EXPECT_EQ(at(window, "2026-06-01 04:14"), "free");
  EXPECT_EQ(at(window, "2026-06-01 04:15"), "2026-06-01 04:15:00Z..2026-06-01 04:30:00Z");
  EXPECT_EQ(at(window, "2026-06-01 04:30"), "free");
}

TEST(FreezeGap, StartInSpringForwardGapBeginsAtFirstValidInstant) {
  // New York, Sun 2026-03-08: 02:00-02:59 does not exist. 02:30 becomes 03:00 EDT (07:00Z) and
  // the window ends at 03:30 EDT, after 30 minutes.
  const auto window = recurring("30 2 * * *", kHour, "America/New_York");
  EXPECT_EQ(at(window, "2026-03-07 07:30"), "2026-03-07 07:30:00Z..2026-03-07 08:30:00Z");
  EXPECT_EQ(at(window, "2026-03-08 06:59"), "free");
  EXPECT_EQ(at(window, "2026-03-08 07:00"), "2026-03-08 07:00:00Z..2026-03-08 07:30:00Z");
  EXPECT_EQ(at(window, "2026-03-08 07:30"), "free");
  EXPECT_EQ(at(window, "2026-03-09 06:30"), "2026-03-09 06:30:00Z..2026-03-09 07:30:00Z");

  // Berlin, Sun 2026-03-29: 02:30 becomes 03:00 CEST (01:00Z).
  const auto berlin = recurring("30 2 * * *", kHour, "Europe/Berlin");
  EXPECT_EQ(at(berlin, "2026-03-29 00:59"), "free");
  EXPECT_EQ(at(berlin, "2026-03-29 01:00"), "2026-03-29 01:00:00Z..2026-03-29 01:30:00Z");
}

TEST(FreezeGap, EndInSpringForwardGapEndsAtFirstValidInstant) {
  // 01:00 + 90 minutes is 02:30, which does not exist on 2026-03-08: the window ends at 03:00
  // EDT (07:00Z), one absolute hour after it began at 01:00 EST (06:00Z).
  const auto window = recurring("0 1 * * *", 90 * kMinute, "America/New_York");
  EXPECT_EQ(at(window, "2026-03-08 06:59"), "2026-03-08 06:00:00Z..2026-03-08 07:00:00Z");
  EXPECT_EQ(at(window, "2026-03-08 07:00"), "free");
}

TEST(FreezeOverlap, StartInFallBackOverlapBeginsAtFirstOccurrence) {
  // New York, Sun 2026-11-01: 01:00-01:59 happens twice. 01:30 starts at 01:30 EDT (05:30Z), not
  // again at 01:30 EST (06:30Z); the end, 02:30, happens once (EST, 07:30Z).
  const auto window = recurring("30 1 * * *", kHour, "America/New_York");
  const std::string occurrence = "2026-11-01 05:30:00Z..2026-11-01 07:30:00Z";
  EXPECT_EQ(at(window, "2026-11-01 05:29"), "free");
  EXPECT_EQ(at(window, "2026-11-01 05:30"), occurrence);
  EXPECT_EQ(at(window, "2026-11-01 06:30"), occurrence);  // no second start
  EXPECT_EQ(at(window, "2026-11-01 07:29"), occurrence);
  EXPECT_EQ(at(window, "2026-11-01 07:30"), "free");
  EXPECT_EQ(at(window, "2026-11-02 06:30"), "2026-11-02 06:30:00Z..2026-11-02 07:30:00Z");
}

TEST(FreezeOverlap, EndInFallBackOverlapEndsAtFirstOccurrence) {
  // 00:00 EDT (04:00Z) + 90 minutes of wall clock is 01:30, first reached at 05:30Z.
  const auto window = recurring("0 0 * * *", 90 * kMinute, "America/New_York");
  EXPECT_EQ(at(window, "2026-11-01 05:29"), "2026-11-01 04:00:00Z..2026-11-01 05:30:00Z");
  EXPECT_EQ(at(window, "2026-11-01 05:30"), "free");
  EXPECT_EQ(at(window, "2026-11-01 06:30"), "free");  // 01:30 again, but the window is over
}

TEST(FreezeLordHowe, HalfHourDstShift) {
  // Lord Howe Island is +10:30, and +11 in summer; its clocks move by 30 minutes.
  // Sun 2026-10-04: 02:00 jumps to 02:30 (at 15:30Z on the 3rd), so 02:15 starts at 02:30.
  const auto gap = recurring("15 2 * * *", kHour, "Australia/Lord_Howe");
  EXPECT_EQ(at(gap, "2026-10-02 15:45"), "2026-10-02 15:45:00Z..2026-10-02 16:45:00Z");
  EXPECT_EQ(at(gap, "2026-10-03 15:29"), "free");
  EXPECT_EQ(at(gap, "2026-10-03 15:30"), "2026-10-03 15:30:00Z..2026-10-03 16:15:00Z");
  EXPECT_EQ(at(gap, "2026-10-04 15:15"), "2026-10-04 15:15:00Z..2026-10-04 16:15:00Z");
  // Sun 2026-04-05: 02:00 goes back to 01:30 (at 15:00Z on the 4th), so 01:45 happens at 14:45Z
  // and again at 15:15Z; the window starts at the first and ends at 02:15 (+10:30, 15:45Z).
  const auto overlap = recurring("45 1 * * *", 30 * kMinute, "Australia/Lord_Howe");
  const std::string occurrence = "2026-04-04 14:45:00Z..2026-04-04 15:45:00Z";
  EXPECT_EQ(at(overlap, "2026-04-04 14:44"), "free");
  EXPECT_EQ(at(overlap, "2026-04-04 14:45"), occurrence);
  EXPECT_EQ(at(overlap, "2026-04-04 15:15"), occurrence);
  EXPECT_EQ(at(overlap, "2026-04-04 15:45"), "free");
  EXPECT_EQ(at(overlap, "2026-04-05 15:15"), "2026-04-05 15:15:00Z..2026-04-05 15:45:00Z");
}

TEST(FreezeRecurring, OccurrencesOfOneWindowMayOverlap) {
  // Every hour for 90 minutes: at 10:20 both the 09:00 and the 10:00 occurrences apply, and
  // the later one (ending 11:30) is the answer.
  const auto window = recurring("0 * * * *", 90 * kMinute, "UTC");
  EXPECT_EQ(at(window, "2026-05-05 10:20"), "2026-05-05 10:00:00Z..2026-05-05 11:30:00Z");
  EXPECT_EQ(at(window, "2026-05-05 10:00"), "2026-05-05 10:00:00Z..2026-05-05 11:30:00Z");
}

TEST(FreezeRecurring, LongAndSparseWindows) {
  // A year-end freeze: from Dec 15 00:00 for 25 days of Berlin wall clock.
  const auto year_end = recurring("0 0 15 dec *", 25 * kDay, "Europe/Berlin", "year end");
  EXPECT_EQ(at(year_end, "2026-12-14 22:59"), "free");
  EXPECT_EQ(at(year_end, "2027-01-08 12:00"), "2026-12-14 23:00:00Z..2027-01-08 23:00:00Z");
  EXPECT_EQ(at(year_end, "2027-01-08 23:00"), "free");
  EXPECT_EQ(at(year_end, "2027-06-01 00:00"), "free");
  // Leap days only: evaluated quickly however far the last one is.
  const auto leap = recurring("0 0 29 feb *", kDay, "UTC");
  EXPECT_EQ(at(leap, "2028-02-29 12:00"), "2028-02-29 00:00:00Z..2028-03-01 00:00:00Z");
  EXPECT_EQ(at(leap, "2027-02-28 12:00"), "free");
  // Every minute, all day: the binary search within a day finds the minute just started.
  const auto always = recurring("* * * * *", kMinute, "Europe/Berlin");
  EXPECT_EQ(at(always, "2026-03-29 01:00:30"), "2026-03-29 01:00:00Z..2026-03-29 01:01:00Z");
  // Sub-minute instants round down to the minute that started.
  EXPECT_EQ(at(always, utc("2026-07-01 12:34:59") + 999),
            "2026-07-01 12:34:00Z..2026-07-01 12:35:00Z");
}

TEST(FreezeRecurring, RefusesBadZonesAndDurations) {
  auto unknown = FreezeWindow::recurring("0 17 * * fri", kHour, "Europe/Berln", "x");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message,
            "unknown time zone 'Europe/Berln' (did you mean Europe/Berlin?); expected an IANA name "
            "such as Europe/Berlin or America/New_York");
  auto empty = FreezeWindow::recurring("0 17 * * fri", kHour, "", "x");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().message,
            "time zone is empty; expected an IANA name such as Europe/Berlin");
  auto bad_cron = FreezeWindow::recurring("0 25 * * fri", kHour, "UTC", "x");
  ASSERT_FALSE(bad_cron.ok());
  EXPECT_EQ(bad_cron.error().message, "cron field 'hour' value 25 is out of range 0-23");
  auto zero = FreezeWindow::recurring("0 17 * * fri", 0, "UTC", "x");
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().message, "freeze duration must be positive");
  auto too_long = FreezeWindow::recurring("0 17 * * fri", 400 * kDay, "UTC", "x");
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.error().message.find("is longer than 366 days; use a one-off window"),
            std::string::npos)
      << too_long.error().message;
  EXPECT_TRUE(FreezeWindow::recurring("0 17 * * fri", 366 * kDay, "UTC", "x").ok());
  // Zone names are case-sensitive IANA names; links from the backward file resolve.
  EXPECT_FALSE(FreezeWindow::recurring("0 0 * * *", kHour, "europe/berlin", "x").ok());
  EXPECT_TRUE(FreezeWindow::recurring("0 0 * * *", kHour, "US/Eastern", "x").ok());
}

// ----------------------------------------------------------------------------------------------
// One-off windows, overlaps, descriptions

TEST(FreezeOneOff, StartInclusiveEndExclusive) {
  const auto launch = one_off("2026-11-20 18:00", "2026-11-23 08:00", "launch");
  EXPECT_FALSE(launch.recurring());
  EXPECT_EQ(at(launch, utc("2026-11-20 18:00") - 1), "free");
  EXPECT_EQ(at(launch, "2026-11-20 18:00"), "2026-11-20 18:00:00Z..2026-11-23 08:00:00Z");
  EXPECT_EQ(at(launch, utc("2026-11-23 08:00") - 1), "2026-11-20 18:00:00Z..2026-11-23 08:00:00Z");
  EXPECT_EQ(at(launch, "2026-11-23 08:00"), "free");
}

TEST(FreezeOneOff, RefusesEmptyOrReversedRangesAndUnknownZones) {
  auto empty = FreezeWindow::one_off(utc("2026-11-20 18:00"), utc("2026-11-20 18:00"), "x");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().message,
            "freeze from 2026-11-20 18:00:00Z to 2026-11-20 18:00:00Z ends before it starts");
  EXPECT_FALSE(FreezeWindow::one_off(utc("2026-11-21 00:00"), utc("2026-11-20 00:00"), "x").ok());
  auto zone = FreezeWindow::one_off(utc("2026-11-20 00:00"), utc("2026-11-21 00:00"), "x",
                                    "Mars/Olympus_Mons");
  ASSERT_FALSE(zone.ok());
  EXPECT_EQ(zone.error().message,
            "unknown time zone 'Mars/Olympus_Mons'; expected an IANA name such as Europe/Berlin "
            "or America/New_York");
}

TEST(FreezeActive, NoWindowsOrNoneInForce) {
  EXPECT_FALSE(active_freeze({}, utc("2026-11-20 18:00")).has_value());
  const std::vector<FreezeWindow> windows = {one_off("2026-11-20 18:00", "2026-11-21 00:00")};
  EXPECT_FALSE(active_freeze(windows, utc("2026-11-21 00:00")).has_value());
}

TEST(FreezeActive, OverlappingWindowsReportTheOneEndingLast) {
  const std::vector<FreezeWindow> windows = {
      one_off("2026-11-20 10:00", "2026-11-20 12:00", "release train"),
      recurring("0 9 * * fri", 4 * kHour, "UTC", "friday"),  // 2026-11-20 is a Friday
      one_off("2026-11-20 11:00", "2026-11-20 13:00", "same end as friday"),
      one_off("2026-11-20 11:30", "2026-11-20 11:45", "short"),
  };
  auto active = active_freeze(windows, utc("2026-11-20 11:40"));
  ASSERT_TRUE(active.has_value());
  EXPECT_EQ(active->reason, "friday");  // ends 13:00; the tie goes to the first listed
  EXPECT_EQ(active->window_index, 1u);
  EXPECT_EQ(active->started_at_ms, utc("2026-11-20 09:00"));
  EXPECT_EQ(active->ends_at_ms, utc("2026-11-20 13:00"));

  active = active_freeze(windows, utc("2026-11-20 09:30"));
  ASSERT_TRUE(active.has_value());
  EXPECT_EQ(active->reason, "friday");

  // After the recurring window ended at 13:00 nothing is left.
  EXPECT_FALSE(active_freeze(windows, utc("2026-11-20 13:00")).has_value());

  // Only the release train and the short window: the train ends later.
  const std::vector<FreezeWindow> two = {windows[3], windows[0]};
  active = active_freeze(two, utc("2026-11-20 11:35"));
  ASSERT_TRUE(active.has_value());
  EXPECT_EQ(active->window_index, 1u);
  EXPECT_EQ(active->reason, "release train");
  EXPECT_EQ(active->ends_at_ms, utc("2026-11-20 12:00"));
}

TEST(FreezeDescribe, EndInTheWindowsZoneThenUtc) {
  const auto berlin = recurring("0 17 * * fri", 64 * kHour, "Europe/Berlin");
  EXPECT_EQ(describe_until(berlin, utc("2026-11-23 08:00")),
            "until Mon 2026-11-23 09:00 Europe/Berlin (08:00Z)");
  // Summer time: +2.
  EXPECT_EQ(describe_until(berlin, utc("2026-07-06 07:00")),
            "until Mon 2026-07-06 09:00 Europe/Berlin (07:00Z)");
  // When the UTC date differs from the local one, the UTC part says so.
  const auto tokyo = recurring("0 0 * * *", kHour, "Asia/Tokyo");
  EXPECT_EQ(describe_until(tokyo, utc("2026-11-22 16:00")),
            "until Mon 2026-11-23 01:00 Asia/Tokyo (2026-11-22 16:00Z)");
  const auto new_york = recurring("0 0 * * *", kHour, "America/New_York");
  EXPECT_EQ(describe_until(new_york, utc("2026-11-23 02:00")),
            "until Sun 2026-11-22 21:00 America/New_York (2026-11-23 02:00Z)");
  // Half-hour offsets and ends off the minute.
  const auto kolkata = recurring("0 0 * * *", kHour, "Asia/Kolkata");
  EXPECT_EQ(describe_until(kolkata, utc("2026-11-23 03:30")),
            "until Mon 2026-11-23 09:00 Asia/Kolkata (03:30Z)");
  EXPECT_EQ(describe_until(berlin, utc("2026-11-23 08:00:30")),
            "until Mon 2026-11-23 09:00:30 Europe/Berlin (08:00:30Z)");
  // One-off windows: in UTC unless given a zone.
  EXPECT_EQ(
      describe_until(one_off("2026-11-20 18:00", "2026-11-23 08:00"), utc("2026-11-23 08:00")),
      "until Mon 2026-11-23 08:00Z");
  EXPECT_EQ(describe_until(one_off("2026-11-20 18:00", "2026-11-23 08:00", "x", "Europe/Berlin"),
                           utc("2026-11-23 08:00")),
            "until Mon 2026-11-23 09:00 Europe/Berlin (08:00Z)");
}

// ----------------------------------------------------------------------------------------------
// Brute force: the evaluator's day-skipping, binary-searching walk against a scan of every
// wall-clock minute, at instants every 7 minutes across DST changes in several zones.

EpochMillis reference_resolve(const date::time_zone& zone, std::int64_t wall_ms) {
  // Wall times here are whole minutes, so whole seconds.
  const date::local_seconds local{std::chrono::seconds{wall_ms / 1000}};
  const auto info = zone.get_info(local);
  if (info.result == date::local_info::nonexistent)
    return info.second.begin.time_since_epoch().count() * 1000;
  return wall_ms - info.first.offset.count() * 1000;
}

std::optional<FreezeOccurrence> reference_occurrence(const FreezeWindow& window,
                                                     const date::time_zone& zone, EpochMillis now) {
  const date::sys_seconds now_second{std::chrono::seconds{now / 1000}};
  const std::int64_t now_wall = now + zone.get_info(now_second).offset.count() * 1000;
  std::optional<FreezeOccurrence> best;
  for (std::int64_t wall = (now_wall - window.duration_ms() - 2 * kDay) / kMinute * kMinute;
       wall <= now_wall + 2 * kDay; wall += kMinute) {
    const std::int64_t day = wall >= 0 ? wall / kDay : (wall - kDay + 1) / kDay;
    const auto date = year_month_day{std::chrono::sys_days{std::chrono::days{day}}};
    const auto in_day = static_cast<unsigned>((wall - day * kDay) / kMinute);
    if (!window.schedule()->matches(date, in_day / 60, in_day % 60))
      continue;
    const EpochMillis start = reference_resolve(zone, wall);
    const EpochMillis end = reference_resolve(zone, wall + window.duration_ms());
    // Ties on the end go to the later start, as the header promises.
    if (start <= now && now < end &&
        (!best || end > best->end_ms || (end == best->end_ms && start > best->start_ms)))
      best = FreezeOccurrence{start, end};
  }
  return best;
}

TEST(FreezeBruteForce, AgreesWithAMinuteByMinuteScan) {
  struct Case {
    const char* cron;
    EpochMillis duration;
    const char* zone;
    const char* from;  // scanned for two days from here
  };
  const Case cases[] = {
      {"0 17 * * fri", 64 * kHour, "America/New_York", "2026-03-07 00:00"},
      {"0 17 * * fri", 64 * kHour, "America/New_York", "2026-10-31 00:00"},
      {"*/20 1-3 * * *", 50 * kMinute, "America/New_York", "2026-03-07 12:00"},
      {"*/20 1-3 * * *", 50 * kMinute, "America/New_York", "2026-10-31 12:00"},
      {"30 2 * * *", 2 * kHour, "Europe/Berlin", "2026-03-28 12:00"},
      {"30 2 * * *", 2 * kHour, "Europe/Berlin", "2026-10-24 12:00"},
      {"15,45 1,2 * * *", 40 * kMinute, "Australia/Lord_Howe", "2026-04-03 12:00"},
      {"15,45 1,2 * * *", 40 * kMinute, "Australia/Lord_Howe", "2026-10-02 12:00"},
      {"0 9 13 * fri", 20 * kHour, "Asia/Kolkata", "2026-03-12 00:00"},
      {"0 */3 * * *", 5 * kHour, "Europe/Berlin", "2026-10-24 12:00"},
  };
  for (const auto& c : cases) {
    const auto window = recurring(c.cron, c.duration, c.zone);
    const date::time_zone* zone = date::locate_zone(c.zone);
    const EpochMillis from = utc(c.from);
    for (EpochMillis now = from; now < from + 2 * kDay; now += 7 * kMinute) {
      const auto expected = reference_occurrence(window, *zone, now);
      const auto actual = window.occurrence_at(now);
      ASSERT_EQ(actual.has_value(), expected.has_value())
          << c.cron << " " << c.zone << " at " << format_utc(now);
      if (expected) {
        EXPECT_EQ(actual->start_ms, expected->start_ms)
            << c.cron << " " << c.zone << " at " << format_utc(now);
        EXPECT_EQ(actual->end_ms, expected->end_ms)
            << c.cron << " " << c.zone << " at " << format_utc(now);
      }
    }
  }
}

}  // namespace
}  // namespace shipmate::commands
