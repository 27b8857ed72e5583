// common/cron.h on its own: next and last occurrences on a zone's wall clock, across the DST
// gaps and overlaps of America/New_York and Europe/Berlin. (Parsing is covered in depth by
// freeze_windows_test.cpp, which uses the same parser.)
#include "common/cron.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace shipmate {
namespace {

EpochMillis at(const char* iso) {
  auto parsed = parse_iso8601(iso);
  EXPECT_TRUE(parsed.has_value()) << iso;
  return parsed.value_or(0);
}

ZonedCron zoned(const char* expression, const char* zone) {
  auto parsed = ZonedCron::parse(expression, zone);
  if (!parsed)
    throw std::runtime_error(parsed.error().message);
  return std::move(parsed).value();
}

// The next `count` occurrences after `from`, as UTC text.
std::vector<std::string> chain(const ZonedCron& cron, EpochMillis from, int count) {
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) {
    auto next = cron.next_after(from);
    if (!next)
      break;
    out.push_back(format_utc(next->at));
    from = next->at;
  }
  return out;
}

TEST(ZonedCron, NextAfterIsStrictlyLaterAndWalksTheWallClock) {
  const auto cron = zoned("0 9 * * mon-fri", "Europe/Berlin");
  // Friday 2026-03-20 09:00 CET is 08:00Z; strictly after it comes Monday.
  auto next = cron.next_after(at("2026-03-20T08:00:00Z"));
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(format_utc(next->at), "2026-03-23 08:00:00Z");
  EXPECT_EQ(chain(cron, at("2026-03-20T07:59:59Z"), 2),
            (std::vector<std::string>{"2026-03-20 08:00:00Z", "2026-03-23 08:00:00Z"}));
}

TEST(ZonedCron, WeeklyJobKeepsItsLocalTimeAcrossBerlinSpringForward) {
  const auto cron = zoned("0 9 * * 1", "Europe/Berlin");  // Mondays 09:00 local
  // CET (+01:00) before Sunday 2026-03-29, CEST (+02:00) after.
  EXPECT_EQ(chain(cron, at("2026-03-20T00:00Z"), 3),
            (std::vector<std::string>{"2026-03-23 08:00:00Z", "2026-03-30 07:00:00Z",
                                      "2026-04-06 07:00:00Z"}));
}

TEST(ZonedCron, NewYorkSpringForwardGapResolvesToTheFirstInstantAfterIt) {
  // 2026-03-08: 02:00 EST becomes 03:00 EDT, so 02:30 does not exist that day.
  const auto cron = zoned("30 2 * * *", "America/New_York");
  const auto in_gap = cron.next_after(at("2026-03-07T12:00-05:00"));
  ASSERT_TRUE(in_gap.has_value());
  EXPECT_EQ(in_gap->at, at("2026-03-08T03:00-04:00"));
  EXPECT_EQ(cron.zone().to_wall(in_gap->at), in_gap->wall + 30 * 60'000);  // 03:00 vs 02:30
  EXPECT_EQ(chain(cron, at("2026-03-07T12:00-05:00"), 3),
            (std::vector<std::string>{"2026-03-08 07:00:00Z", "2026-03-09 06:30:00Z",
                                      "2026-03-10 06:30:00Z"}));
}

TEST(ZonedCron, SeveralTimesInTheGapNameOneInstantAndFireOnce) {
  const auto cron = zoned("*/15 2 * * *", "America/New_York");
  // 02:00, 02:15, 02:30 and 02:45 on 2026-03-08 all name 03:00 EDT.
  EXPECT_EQ(chain(cron, at("2026-03-08T01:59-05:00"), 2),
            (std::vector<std::string>{"2026-03-08 07:00:00Z", "2026-03-09 06:00:00Z"}));
}

TEST(ZonedCron, NewYorkFallBackOverlapMatchesOnlyTheFirstPass) {
  // 2026-11-01: 02:00 EDT becomes 01:00 EST, so 01:30 happens twice; only the first counts.
  const auto cron = zoned("30 1 * * *", "America/New_York");
  EXPECT_EQ(chain(cron, at("2026-10-31T12:00-04:00"), 2),
            (std::vector<std::string>{"2026-11-01 05:30:00Z", "2026-11-02 06:30:00Z"}));
  // During the second pass (01:15 EST), the next is tomorrow's, not 01:30 EST today.
  auto next = cron.next_after(at("2026-11-01T01:15-05:00"));
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->at, at("2026-11-02T01:30-05:00"));
}

TEST(ZonedCron, BerlinGapAndOverlap) {
  const auto cron = zoned("30 2 * * *", "Europe/Berlin");
  // 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00Z); 02:30 names 03:00 CEST.
  auto spring = cron.next_after(at("2026-03-28T12:00+01:00"));
  ASSERT_TRUE(spring.has_value());
  EXPECT_EQ(format_utc(spring->at), "2026-03-29 01:00:00Z");
  // 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 CEST (00:30Z) is the one that fires.
  EXPECT_EQ(chain(cron, at("2026-10-24T12:00+02:00"), 2),
            (std::vector<std::string>{"2026-10-25 00:30:00Z", "2026-10-26 01:30:00Z"}));
}

TEST(ZonedCron, LastAtOrBeforeFindsTheFirstPassFromInsideTheSecond) {
  const auto cron = zoned("30 1 * * *", "America/New_York");
  // At 01:15 EST (second pass) the wall clock reads earlier than 01:30, yet 01:30 EDT passed.
  auto last = cron.last_at_or_before(at("2026-11-01T01:15-05:00"), at("2026-10-31T00:00Z"));
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->at, at("2026-11-01T01:30-04:00"));
  // At the instant itself it counts ("at or before").
  auto exact = cron.last_at_or_before(at("2026-11-01T01:30-04:00"), at("2026-10-31T00:00Z"));
  ASSERT_TRUE(exact.has_value());
  EXPECT_EQ(exact->at, at("2026-11-01T01:30-04:00"));
  // Nothing within a span that holds no match.
  const auto yearly = zoned("0 0 1 1 *", "UTC");
  EXPECT_FALSE(yearly.last_at_or_before(at("2026-06-01T00:00Z"), at("2026-05-01T00:00Z")));
}

TEST(ZonedCron, RareDatesAreFoundYearsAhead) {
  const auto leap_day = zoned("0 0 29 2 *", "UTC");
  auto next = leap_day.next_after(at("2026-01-01T00:00Z"));
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(format_utc(next->at), "2028-02-29 00:00:00Z");
}

TEST(ZonedCron, NextAfterAgreesWithAMinuteByMinuteScanInUtc) {
  const auto cron = zoned("*/7 */5 * * mon,thu", "UTC");
  EpochMillis from = at("2026-05-01T00:00Z");
  const EpochMillis until = at("2026-05-15T00:00Z");
  std::vector<EpochMillis> scanned;
  for (EpochMillis t = from + 60'000; t < until; t += 60'000) {
    const std::int64_t day = t / 86'400'000;
    const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{day}}};
    const auto hour = static_cast<unsigned>(t / 3'600'000 % 24);
    const auto minute = static_cast<unsigned>(t / 60'000 % 60);
    if (cron.schedule().matches(ymd, hour, minute))
      scanned.push_back(t);
  }
  std::vector<EpochMillis> chained;
  for (auto next = cron.next_after(from); next && next->at < until;
       next = cron.next_after(next->at))
    chained.push_back(next->at);
  EXPECT_EQ(chained, scanned);
  EXPECT_FALSE(chained.empty());
}

TEST(ZonedCron, ErrorsSayWhatIsWrongAndAreInvalid) {
  auto bad_zone = ZonedCron::parse("0 9 * * *", "Mars/Olympus_Mons");
  ASSERT_FALSE(bad_zone.ok());
  EXPECT_EQ(bad_zone.error().kind, ErrorKind::invalid);
  EXPECT_NE(bad_zone.error().message.find("unknown time zone 'Mars/Olympus_Mons'"),
            std::string::npos);
  auto bad_hour = ZonedCron::parse("0 25 * * *", "UTC");
  ASSERT_FALSE(bad_hour.ok());
  EXPECT_EQ(bad_hour.error().kind, ErrorKind::invalid);
  EXPECT_NE(bad_hour.error().message.find("hour"), std::string::npos);
  auto never = ZonedCron::parse("0 0 31 2 *", "UTC");
  ASSERT_FALSE(never.ok());
  EXPECT_NE(never.error().message.find("never matches"), std::string::npos);
}

}  // namespace
}  // namespace shipmate
