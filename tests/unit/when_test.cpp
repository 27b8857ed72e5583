// parse_when(): every form the chat commands accept, zones, DST gaps, and the errors.
#include "commands/when.h"

#include <gtest/gtest.h>

namespace shipmate::commands {
namespace {

EpochMillis utc(const char* text) {
  return parse_iso8601(text).value();
}

// Monday 7 December 2026, 15:30 UTC (16:30 in Paris).
const EpochMillis kNow = utc("2026-12-07T15:30Z");

EpochMillis when(const char* text, const char* zone = "UTC") {
  auto parsed = parse_when(text, kNow, zone);
  EXPECT_TRUE(parsed) << text << ": " << (parsed ? "" : parsed.error().message);
  return parsed ? *parsed : 0;
}

TEST(ParseWhen, IsoInstantsWithAZoneOrOffset) {
  EXPECT_EQ(when("2026-12-24T09:00Z"), utc("2026-12-24T09:00Z"));
  EXPECT_EQ(when("2026-12-24 09:00+01:00"), utc("2026-12-24T08:00Z"));
}

TEST(ParseWhen, LocalDatesAndTimesInANamedZone) {
  EXPECT_EQ(when("2026-12-24T09:00 Europe/Paris"), utc("2026-12-24T08:00Z"));
  EXPECT_EQ(when("2026-12-24 09:00 America/New_York"), utc("2026-12-24T14:00Z"));
  EXPECT_EQ(when("2026-12-24"), utc("2026-12-24T00:00Z"));
  EXPECT_EQ(when("2026-12-24 09:00", "Europe/Paris"), utc("2026-12-24T08:00Z"));  // default zone
}

TEST(ParseWhen, AClockTimeIsTheNextOneOnThatZonesClock) {
  EXPECT_EQ(when("17:00 Europe/Paris"), utc("2026-12-07T16:00Z"));  // still to come today
  EXPECT_EQ(when("16:00 Europe/Paris"), utc("2026-12-08T15:00Z"));  // passed: tomorrow
  EXPECT_EQ(when("9:05"), utc("2026-12-08T09:05Z"));
  EXPECT_EQ(when("15:30:30"), utc("2026-12-07T15:30:30Z"));
}

TEST(ParseWhen, TodayTomorrowAndWeekdays) {
  EXPECT_EQ(when("tomorrow 09:00"), utc("2026-12-08T09:00Z"));
  EXPECT_EQ(when("Tomorrow 09:00 America/New_York"), utc("2026-12-08T14:00Z"));
  EXPECT_EQ(when("today 18:00"), utc("2026-12-07T18:00Z"));
  EXPECT_EQ(when("friday 17:00"), utc("2026-12-11T17:00Z"));
  EXPECT_EQ(when("mon 09:00"), utc("2026-12-14T09:00Z"));  // today is Monday: the next one
}

TEST(ParseWhen, RelativeDurations) {
  EXPECT_EQ(when("in 2h"), kNow + 2 * 3'600'000);
  EXPECT_EQ(when("in 30m"), kNow + 30 * 60'000);
}

TEST(ParseWhen, AWallTimeInTheSpringGapNamesTheEndOfTheGap) {
  // 8 March 2026 in New York: 02:30 does not exist; it names 03:00 EDT (07:00Z).
  EXPECT_EQ(when("2026-03-08 02:30 America/New_York"), utc("2026-03-08T07:00Z"));
  // 1 November 2026: 01:30 happens twice; the first pass (EDT, 05:30Z).
  EXPECT_EQ(when("2026-11-01 01:30 America/New_York"), utc("2026-11-01T05:30Z"));
}

TEST(ParseWhen, AnythingElseIsAClearError) {
  for (const char* bad : {"soon", "25:00", "17:60", "next week", "2026-13-01", "in forever",
                          "17:00 Paris", "tomorrow", "blursday 09:00"}) {
    auto parsed = parse_when(bad, kNow);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_NE(parsed.error().message.find("tomorrow 09:00"), std::string::npos) << bad;
  }
  auto zone = parse_when("17:00 Mars/Base", kNow);
  ASSERT_FALSE(zone);
  EXPECT_NE(zone.error().message.find("Mars/Base"), std::string::npos);
  EXPECT_FALSE(parse_when("", kNow));
}

TEST(DescribeInstant, LocalThenUtc) {
  EXPECT_EQ(describe_instant(utc("2026-12-07T16:00Z"), "Europe/Paris"),
            "Mon 2026-12-07 17:00 Europe/Paris (16:00Z)");
  EXPECT_EQ(describe_instant(utc("2026-12-07T23:30Z"), "Europe/Paris"),
            "Tue 2026-12-08 00:30 Europe/Paris (Mon 2026-12-07 23:30Z)");
  EXPECT_EQ(describe_instant(utc("2026-12-07T16:00Z"), "UTC"), "Mon 2026-12-07 16:00Z");
}

}  // namespace
}  // namespace shipmate::commands

namespace shipmate::commands {
namespace {

EpochMillis since(const char* text, std::string_view zone = "UTC") {
  auto parsed = parse_since(text, utc("2026-12-07T15:30Z"), zone);  // a Monday
  EXPECT_TRUE(parsed) << text << ": " << (parsed ? "" : parsed.error().message);
  return parsed ? *parsed : 0;
}

TEST(ParseSince, TheLatestInstantAtOrBeforeNowThatTheWordsName) {
  EXPECT_EQ(since("3d"), utc("2026-12-04T15:30Z"));
  EXPECT_EQ(since("90m"), utc("2026-12-07T14:00Z"));
  EXPECT_EQ(since("2026-12-01"), utc("2026-12-01T00:00Z"));
  EXPECT_EQ(since("2026-12-01T09:00+01:00"), utc("2026-12-01T08:00Z"));
  EXPECT_EQ(since("09:00"), utc("2026-12-07T09:00Z"));  // passed today
  EXPECT_EQ(since("17:00"), utc("2026-12-06T17:00Z"));  // yesterday's
  EXPECT_EQ(since("17:00 Europe/Paris"), utc("2026-12-06T16:00Z"));
  EXPECT_EQ(since("monday 09:00"), utc("2026-12-07T09:00Z"));  // this morning
  EXPECT_EQ(since("monday 16:00"), utc("2026-11-30T16:00Z"));  // not yet today: last week
  EXPECT_EQ(since("fri 17:00"), utc("2026-12-04T17:00Z"));
  EXPECT_EQ(since("09:00", "America/New_York"), utc("2026-12-07T14:00Z"));
}

TEST(ParseSince, TheFutureAndNonsenseAreRefused) {
  const EpochMillis now = utc("2026-12-07T15:30Z");
  for (const char* text : {"tomorrow 09:00", "in 2h", "2027-01-01", "today 18:00"}) {
    auto parsed = parse_since(text, now);
    ASSERT_FALSE(parsed) << text;
    EXPECT_NE(parsed.error().message.find("is in the future"), std::string::npos)
        << parsed.error().message;
  }
  auto nonsense = parse_since("teatime", now);
  ASSERT_FALSE(nonsense);
  EXPECT_NE(nonsense.error().message.find("'teatime' is not a time"), std::string::npos);
}

TEST(WrittenZone, TheTrailingZoneElseTheFallback) {
  EXPECT_EQ(written_zone("tomorrow 09:00 Europe/Paris", "UTC"), "Europe/Paris");
  EXPECT_EQ(written_zone("17:00", "America/New_York"), "America/New_York");
  EXPECT_EQ(written_zone("17:00 Mars/Base", "UTC"), "UTC");
  EXPECT_EQ(written_zone("2026-12-24T09:00Z", "Asia/Tokyo"), "Asia/Tokyo");
}

}  // namespace
}  // namespace shipmate::commands
