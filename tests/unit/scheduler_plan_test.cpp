// plan_occurrences() step by step: on-time occurrences, the three misfire policies after a
// downtime, the lateness limit, one-offs, bulk skips, and occurrences across DST changes in
// Europe/London, America/New_York and Australia/Lord_Howe (whose clocks move by 30 minutes).
#include "scheduler/plan.h"

#include <gtest/gtest.h>

namespace shipmate::scheduler {
namespace {

EpochMillis utc(const char* text) {
  return parse_iso8601(text).value();
}

constexpr EpochMillis kMinute = 60'000;
constexpr EpochMillis kHour = 60 * kMinute;

Timing cron(const char* expression, const char* zone) {
  auto timing = Timing::cron(expression, zone);
  EXPECT_TRUE(timing) << (timing ? "" : timing.error().message);
  return std::move(timing).value();
}

std::vector<EpochMillis> nominals(const std::vector<SkippedOccurrence>& skipped) {
  std::vector<EpochMillis> out;
  for (const auto& s : skipped)
    out.push_back(s.nominal);
  return out;
}

TEST(Timing, RefusesABadCronOrZoneWithTheReason) {
  auto bad = Timing::cron("0 25 * * *", "UTC");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("hour"), std::string::npos);
  auto zone = Timing::cron("0 9 * * *", "Mars/Base");
  ASSERT_FALSE(zone);
  EXPECT_NE(zone.error().message.find("Mars/Base"), std::string::npos);
  EXPECT_EQ(parse_misfire("sometimes").error().message,
            "misfire policy 'sometimes' is not one of skip, run-once, run-all");
}

TEST(PlanOccurrences, NothingIsDueBeforeTheFirstOccurrence) {
  const Timing timing = cron("0 9 * * *", "UTC");
  const auto plan =
      plan_occurrences(timing, {}, utc("2026-12-07T08:00Z"), utc("2026-12-07T08:59Z"));
  EXPECT_TRUE(plan.fire.empty());
  EXPECT_EQ(plan.skipped_total, 0u);
  EXPECT_EQ(plan.watermark, utc("2026-12-07T08:00Z"));
  EXPECT_EQ(plan.next_due, utc("2026-12-07T09:00Z"));
}

TEST(PlanOccurrences, AnOnTimeOccurrenceFiresAndTheNextIsTomorrow) {
  const Timing timing = cron("0 9 * * *", "UTC");
  const auto plan =
      plan_occurrences(timing, {}, utc("2026-12-07T08:00Z"), utc("2026-12-07T09:00:30Z"));
  EXPECT_EQ(plan.fire, (std::vector<EpochMillis>{utc("2026-12-07T09:00Z")}));
  EXPECT_EQ(plan.watermark, utc("2026-12-07T09:00Z"));
  EXPECT_EQ(plan.next_due, utc("2026-12-08T09:00Z"));
  // Asking again at once decides nothing new: the watermark holds.
  const auto again = plan_occurrences(timing, {}, plan.watermark, utc("2026-12-07T09:00:40Z"));
  EXPECT_TRUE(again.fire.empty());
}

TEST(PlanOccurrences, OnTimeMeansAtMostOneMinuteLateWhateverThePolicy) {
  const Timing timing = cron("0 9 * * *", "UTC");
  const MisfirePolicy skip{Misfire::skip, kHour};
  auto plan = plan_occurrences(timing, skip, utc("2026-12-07T08:00Z"), utc("2026-12-07T09:01Z"));
  EXPECT_EQ(plan.fire.size(), 1u);
  plan = plan_occurrences(timing, skip, utc("2026-12-07T08:00Z"), utc("2026-12-07T09:01:01Z"));
  EXPECT_TRUE(plan.fire.empty());
  ASSERT_EQ(plan.skipped.size(), 1u);
  EXPECT_EQ(plan.skipped[0].why, "missed by 1 min 1 s (misfire policy skip)");
}

// Down from 08:00 to 11:30 with an hourly schedule: 09:00, 10:00 and 11:00 were missed.
struct Downtime : ::testing::Test {
  const Timing timing = cron("0 * * * *", "UTC");
  const EpochMillis down = utc("2026-12-07T08:00Z");
  const EpochMillis back = utc("2026-12-07T11:30Z");
};

TEST_F(Downtime, SkipRunsNothingAndSaysWhatWasMissed) {
  const auto plan = plan_occurrences(timing, {Misfire::skip, 4 * kHour}, down, back);
  EXPECT_TRUE(plan.fire.empty());
  EXPECT_EQ(nominals(plan.skipped),
            (std::vector<EpochMillis>{utc("2026-12-07T09:00Z"), utc("2026-12-07T10:00Z"),
                                      utc("2026-12-07T11:00Z")}));
  EXPECT_EQ(plan.skipped_total, 3u);
  EXPECT_EQ(plan.watermark, utc("2026-12-07T11:00Z"));
  EXPECT_EQ(plan.next_due, utc("2026-12-07T12:00Z"));
}

TEST_F(Downtime, RunOnceCatchesUpWithTheNewestAndSkipsTheRest) {
  const auto plan = plan_occurrences(timing, {Misfire::run_once, 4 * kHour}, down, back);
  EXPECT_EQ(plan.fire, (std::vector<EpochMillis>{utc("2026-12-07T11:00Z")}));
  EXPECT_EQ(nominals(plan.skipped),
            (std::vector<EpochMillis>{utc("2026-12-07T09:00Z"), utc("2026-12-07T10:00Z")}));
  EXPECT_NE(plan.skipped[0].why.find("one run stands for all"), std::string::npos);
}

TEST_F(Downtime, RunAllRunsEachMissedOccurrenceOldestFirst) {
  const auto plan = plan_occurrences(timing, {Misfire::run_all, 4 * kHour}, down, back);
  EXPECT_EQ(plan.fire, (std::vector<EpochMillis>{utc("2026-12-07T09:00Z"), utc("2026-12-07T10:00Z"),
                                                 utc("2026-12-07T11:00Z")}));
  EXPECT_EQ(plan.skipped_total, 0u);
}

TEST_F(Downtime, TheLatenessLimitSkipsWhatIsTooOldForEveryPolicy) {
  // Limit 2 h at 11:30: 09:00 is 2 h 30 min late, beyond it; 10:00 and 11:00 are within.
  auto all = plan_occurrences(timing, {Misfire::run_all, 2 * kHour}, down, back);
  EXPECT_EQ(all.fire,
            (std::vector<EpochMillis>{utc("2026-12-07T10:00Z"), utc("2026-12-07T11:00Z")}));
  ASSERT_EQ(all.skipped.size(), 1u);
  EXPECT_EQ(all.skipped[0].why, "missed by 2 h 30 min, beyond the lateness limit of 2 h");
  // run-once with a limit shorter than the newest miss: nothing is recent enough to catch up.
  auto once = plan_occurrences(timing, {Misfire::run_once, 20 * kMinute}, down, back);
  EXPECT_TRUE(once.fire.empty());
  EXPECT_EQ(once.skipped_total, 3u);
}

TEST_F(Downtime, RunOnceDoesNotCatchUpWhenAnOnTimeOccurrenceFires) {
  // Back at 11:00:20: 11:00 is on time and fires; 09:00 and 10:00 need no extra catch-up.
  const auto plan =
      plan_occurrences(timing, {Misfire::run_once, 4 * kHour}, down, utc("2026-12-07T11:00:20Z"));
  EXPECT_EQ(plan.fire, (std::vector<EpochMillis>{utc("2026-12-07T11:00Z")}));
  EXPECT_EQ(plan.skipped_total, 2u);
}

TEST(PlanOccurrences, AWeekOfMinutesIsSkippedInBulkAndListedOnlyInPart) {
  const Timing timing = cron("* * * * *", "UTC");
  const EpochMillis down = utc("2026-12-01T00:00Z");
  const EpochMillis back = utc("2026-12-15T00:00:30Z");  // two weeks: 20,160 minutes
  const auto plan = plan_occurrences(timing, {Misfire::skip, kHour}, down, back);
  EXPECT_GE(plan.skipped_total, kScanLimit);  // the last is on time and fires
  EXPECT_TRUE(plan.skipped_total_is_lower_bound);
  EXPECT_EQ(plan.skipped.size(), kListedSkips);
  EXPECT_EQ(plan.fire, (std::vector<EpochMillis>{utc("2026-12-15T00:00Z")}));  // on time
  EXPECT_EQ(plan.next_due, utc("2026-12-15T00:01Z"));
}

TEST(PlanOccurrences, AYearOfMinutesIsJumpedNotWalked) {
  const Timing timing = cron("* * * * *", "UTC");
  const auto plan = plan_occurrences(timing, {Misfire::skip, kHour}, utc("2025-12-01T00:00Z"),
                                     utc("2026-12-01T00:00:30Z"));
  EXPECT_TRUE(plan.skipped_total_is_lower_bound);
  EXPECT_GT(plan.skipped_total, kScanLimit);
  EXPECT_EQ(plan.fire, (std::vector<EpochMillis>{utc("2026-12-01T00:00Z")}));
  EXPECT_EQ(plan.next_due, utc("2026-12-01T00:01Z"));
}

TEST(PlanOccurrences, AOneOffFiresOnceAndThenNeverAgain) {
  const Timing timing = Timing::once(utc("2026-12-07T17:00Z"));
  auto before = plan_occurrences(timing, {}, utc("2026-12-07T10:00Z"), utc("2026-12-07T16:00Z"));
  EXPECT_TRUE(before.fire.empty());
  EXPECT_EQ(before.next_due, utc("2026-12-07T17:00Z"));
  auto at = plan_occurrences(timing, {}, utc("2026-12-07T10:00Z"), utc("2026-12-07T17:00Z"));
  EXPECT_EQ(at.fire, (std::vector<EpochMillis>{utc("2026-12-07T17:00Z")}));
  EXPECT_EQ(at.next_due, std::nullopt);
  // Late by a day (downtime), beyond the default hour's limit: skipped, and it says so.
  auto late = plan_occurrences(timing, {}, utc("2026-12-07T10:00Z"), utc("2026-12-08T17:00Z"));
  EXPECT_TRUE(late.fire.empty());
  EXPECT_EQ(late.skipped_total, 1u);
  EXPECT_EQ(late.next_due, std::nullopt);
}

TEST(PlanOccurrences, UpcomingListsTheNextFive) {
  const Timing timing = cron("0 9 * * mon-fri", "Europe/Paris");
  EXPECT_EQ(timing.upcoming(utc("2026-12-04T12:00Z"), 5),  // a Friday
            (std::vector<EpochMillis>{utc("2026-12-07T08:00Z"), utc("2026-12-08T08:00Z"),
                                      utc("2026-12-09T08:00Z"), utc("2026-12-10T08:00Z"),
                                      utc("2026-12-11T08:00Z")}));
  EXPECT_EQ(timing.describe(), "cron '0 9 * * mon-fri' in Europe/Paris");
}

// Every occurrence between `from` and `to`, fired step by step as a running scheduler would.
std::vector<EpochMillis> fired_between(const Timing& timing, EpochMillis from, EpochMillis to) {
  std::vector<EpochMillis> fired;
  EpochMillis watermark = from;
  std::optional<EpochMillis> next = timing.next_after(watermark);
  while (next && *next <= to) {
    const auto plan = plan_occurrences(timing, {}, watermark, *next);
    fired.insert(fired.end(), plan.fire.begin(), plan.fire.end());
    EXPECT_EQ(plan.skipped_total, 0u);
    watermark = plan.watermark;
    next = plan.next_due;
  }
  return fired;
}

TEST(PlanOccurrencesDst, LondonRepeatedHourFiresOnceAndSkippedHourFiresAfterTheGap) {
  const Timing timing = cron("30 1 * * *", "Europe/London");
  // 25 October 2026: 01:00-02:00 happens twice (BST, then GMT). One run, at the first pass.
  EXPECT_EQ(fired_between(timing, utc("2026-10-24T12:00Z"), utc("2026-10-26T12:00Z")),
            (std::vector<EpochMillis>{utc("2026-10-25T00:30Z"), utc("2026-10-26T01:30Z")}));
  // 29 March 2026: 01:00-02:00 does not exist; 01:30 fires at 02:00 BST (01:00Z).
  EXPECT_EQ(fired_between(timing, utc("2026-03-28T12:00Z"), utc("2026-03-30T12:00Z")),
            (std::vector<EpochMillis>{utc("2026-03-29T01:00Z"), utc("2026-03-30T00:30Z")}));
}

TEST(PlanOccurrencesDst, NewYorkQuarterHoursInTheGapAreOneOccurrence) {
  // 8 March 2026: 02:00-03:00 does not exist. 02:00, 02:15, 02:30, 02:45 all name 03:00 EDT.
  const Timing gap = cron("*/15 2 * * *", "America/New_York");
  EXPECT_EQ(fired_between(gap, utc("2026-03-08T05:00Z"), utc("2026-03-08T12:00Z")),
            (std::vector<EpochMillis>{utc("2026-03-08T07:00Z")}));
  // 1 November 2026: 01:00 happens at 05:00Z (EDT) and 06:00Z (EST); it fires once.
  const Timing overlap = cron("0 1 * * *", "America/New_York");
  EXPECT_EQ(fired_between(overlap, utc("2026-10-31T12:00Z"), utc("2026-11-01T12:00Z")),
            (std::vector<EpochMillis>{utc("2026-11-01T05:00Z")}));
  // An hourly schedule that day fires 25 hours' worth of wall hours minus the repeat: 24 times.
  const Timing hourly = cron("0 * * * *", "America/New_York");
  EXPECT_EQ(fired_between(hourly, utc("2026-11-01T03:59Z"), utc("2026-11-02T04:59Z")).size(), 24u);
}

TEST(PlanOccurrencesDst, LordHoweHalfHourShiftRepeatsAndSkipsHalfAnHour) {
  // 5 April 2026: at 02:00 (+11) clocks go back to 01:30 (+10:30); 01:45 happens twice.
  const Timing repeated = cron("45 1 * * *", "Australia/Lord_Howe");
  EXPECT_EQ(fired_between(repeated, utc("2026-04-04T00:00Z"), utc("2026-04-05T00:00Z")),
            (std::vector<EpochMillis>{utc("2026-04-04T14:45Z")}));
  // 4 October 2026: at 02:00 (+10:30) clocks go forward to 02:30 (+11); 02:15 fires at 02:30.
  const Timing skipped = cron("15 2 * * *", "Australia/Lord_Howe");
  EXPECT_EQ(fired_between(skipped, utc("2026-10-03T00:00Z"), utc("2026-10-04T00:00Z")),
            (std::vector<EpochMillis>{utc("2026-10-03T15:30Z")}));
}

// Timed jobs: when the loop looks at a job again after a pass, step by step.
TEST(NextJobWake, AFutureDeadlineIsWaitedForAndNoDeadlineIsNeverLookedAtUntilTold) {
  const EpochMillis now = 1'000'000;
  EXPECT_EQ(next_job_wake(std::nullopt, now, false), kNever);
  EXPECT_EQ(next_job_wake(std::nullopt, now, true), kNever);
  EXPECT_EQ(next_job_wake(now + 1, now, false), now + 1);
  EXPECT_EQ(next_job_wake(now + 3'600'000, now, true), now + 3'600'000);
}

TEST(NextJobWake, ADeadlineStillStandingAfterAPassIsLookedAtAgainLaterNeverInABusyLoop) {
  const EpochMillis now = 1'000'000;
  // Running here or claimed elsewhere: again after the contention retry (a run finishing here
  // wakes the loop sooner).
  EXPECT_EQ(next_job_wake(now, now, false), now + kContendedRetryMs);
  EXPECT_EQ(next_job_wake(now - 60'000, now, false), now + kContendedRetryMs);
  // The pass stopped at a full page: the next page at once.
  EXPECT_EQ(next_job_wake(now - 60'000, now, true), now);
}

}  // namespace
}  // namespace shipmate::scheduler
