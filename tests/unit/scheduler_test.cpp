// The scheduler loop on manual time (ManualTimers + ManualClock) against SQLite: occurrences fire
// at their instants and exactly once, a restart never fires twice, a run cut off by a crash is
// reported and not rerun, two schedulers sharing a database split the work, misfire policies
// apply after downtime, and changed() wakes the loop for a new, paused or cancelled schedule.
#include "scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>

#include "common/timer.h"
#include "tests/support/scheduler_fixture.h"
#include "tests/support/test_support.h"

namespace shipmate::scheduler {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

EpochMillis utc(const char* text) {
  return parse_iso8601(text).value();
}

constexpr EpochMillis kMinute = 60'000;

class SchedulerTest : public shipmate::testing::SchedulerFixture {
 protected:
  SchedulerTest() : SchedulerFixture(utc("2026-12-07T08:00Z")) {}

  Scheduler::Job recording_job() {
    return [this](const storage::ScheduleRecord& schedule,
                  EpochMillis nominal) -> asio::awaitable<Result<std::string>> {
      fired.emplace_back(schedule.name, nominal);
      fired_at.push_back(clock.now_ms());
      co_return std::string("posted");
    };
  }

  std::unique_ptr<Scheduler> make_scheduler(Scheduler::Job job) {
    return std::make_unique<Scheduler>(io.get_executor(), timers, clock, *db, *store,
                                       std::move(job));
  }

  storage::ScheduleRecord add(std::string name, std::string cron, std::string misfire = "run-once",
                              std::optional<EpochMillis> once = std::nullopt) {
    storage::ScheduleRecord record;
    record.name = std::move(name);
    record.cron = std::move(cron);
    record.once = once;
    record.action = "announce";
    record.payload = "hello";
    record.misfire = std::move(misfire);
    record.created_by = "alice";
    record.watermark = clock.now_ms();
    auto added = store->add(record);
    EXPECT_TRUE(added) << (added ? "" : added.error().message);
    return *added;
  }

  std::vector<std::pair<std::string, EpochMillis>> fired;
  std::vector<EpochMillis> fired_at;
};

TEST_F(SchedulerTest, AOneOffFiresAtItsInstantOnceAndIsThenDone) {
  const auto schedule = add("release", "", "run-once", utc("2026-12-07T08:05Z"));
  auto scheduler = make_scheduler(recording_job());
  scheduler->start();
  settle();
  EXPECT_EQ(scheduler->next_due(), utc("2026-12-07T08:05Z"));
  run_for(5 * kMinute - 1000);
  EXPECT_TRUE(fired.empty());
  run_for(1000);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].second, utc("2026-12-07T08:05Z"));
  EXPECT_EQ(fired_at[0], utc("2026-12-07T08:05Z"));  // no lag on manual time
  run_for(10 * kMinute);
  EXPECT_EQ(fired.size(), 1u);
  EXPECT_EQ(store->get(schedule.id)->state, "done");
  const auto runs = store->runs(schedule.id);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].outcome, "done");
  EXPECT_EQ(runs[0].detail, "posted");
}

TEST_F(SchedulerTest, ACronFiresEveryOccurrenceAndKeepsItsWatermark) {
  const auto schedule = add("tick", "*/5 * * * *");
  auto scheduler = make_scheduler(recording_job());
  scheduler->start();
  run_for(16 * kMinute);
  ASSERT_EQ(fired.size(), 3u);
  EXPECT_EQ(fired[2].second, utc("2026-12-07T08:15Z"));
  EXPECT_EQ(store->get(schedule.id)->watermark, utc("2026-12-07T08:15Z"));
  EXPECT_EQ(store->get(schedule.id)->next_at, utc("2026-12-07T08:20Z"));
}

TEST_F(SchedulerTest, ARestartAtTheSameInstantDoesNotFireAgain) {
  add("tick", "*/5 * * * *");
  auto first = make_scheduler(recording_job());
  first->start();
  run_for(5 * kMinute);
  ASSERT_EQ(fired.size(), 1u);
  first->stop();
  settle();
  first.reset();
  // The restarted process sees the same clock (a quick restart) and the same database.
  auto second = make_scheduler(recording_job());
  second->start();
  settle();
  run_for(kMinute);
  EXPECT_EQ(fired.size(), 1u);
  run_for(4 * kMinute);
  EXPECT_EQ(fired.size(), 2u);  // 08:10, once
}

TEST_F(SchedulerTest, AClaimWithoutAWatermarkIsNotRunTwice) {
  // A crash between the claim's commit and... the watermark is committed with the claim, so
  // simulate an older claimant: the claim exists, the watermark does not know it.
  const auto schedule = add("tick", "*/5 * * * *");
  ASSERT_TRUE(store->claim(schedule.id, utc("2026-12-07T08:05Z")));
  auto scheduler = make_scheduler(recording_job());
  scheduler->start();  // the claimed run is reported interrupted, not rerun
  run_for(5 * kMinute);
  EXPECT_TRUE(fired.empty());
  EXPECT_EQ(scheduler->stats().lost_claims, 1u);
  EXPECT_EQ(store->runs(schedule.id)[0].outcome, "interrupted");
  run_for(5 * kMinute);
  EXPECT_EQ(fired.size(), 1u);
}

TEST_F(SchedulerTest, ARunCutOffByACrashIsReportedInterrupted) {
  const auto schedule = add("slow", "*/5 * * * *");
  // A job that never finishes; then the process "dies" (its scheduler goes away).
  auto never = [this](const storage::ScheduleRecord& s,
                      EpochMillis nominal) -> asio::awaitable<Result<std::string>> {
    fired.emplace_back(s.name, nominal);
    co_await timers.sleep_for(std::chrono::hours(24));
    co_return std::string("late");
  };
  auto first = make_scheduler(never);
  first->start();
  run_for(5 * kMinute);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(store->runs(schedule.id)[0].outcome, "claimed");
  first->stop();
  auto second = make_scheduler(recording_job());
  second->start();
  EXPECT_EQ(store->runs(schedule.id)[0].outcome, "interrupted");
  run_for(kMinute);
  EXPECT_EQ(fired.size(), 1u);  // 08:05 is not run again
  timers.cancel_all();
  settle();
}

TEST_F(SchedulerTest, TwoSchedulersOnOneDatabaseRunEachOccurrenceOnce) {
  add("tick", "* * * * *");
  int a = 0;
  int b = 0;
  auto count = [](int& n) {
    return
        [&n](const storage::ScheduleRecord&, EpochMillis) -> asio::awaitable<Result<std::string>> {
          ++n;
          co_return std::string("ok");
        };
  };
  auto first = make_scheduler(count(a));
  auto second = make_scheduler(count(b));
  first->start();
  second->start();
  run_for(10 * kMinute);
  // Whichever is first to a due occurrence claims it and moves the watermark; the other sees it
  // decided (or loses the claim). Either way each minute ran once.
  EXPECT_EQ(a + b, 10);
  EXPECT_EQ(first->stats().fired + second->stats().fired, 10u);
}

TEST_F(SchedulerTest, AfterDowntimeEachPolicyDoesWhatItSays) {
  const auto skip = add("skip", "0 * * * *", "skip");
  const auto once = add("once", "0 * * * *", "run-once");
  const auto all = add("all", "0 * * * *", "run-all");
  for (const auto& s : {skip, once, all}) {
    auto record = *store->get(s.id);
    record.lateness_ms = 4 * 60 * kMinute;
    store->update_definition(record);
  }
  clock.set_ms(utc("2026-12-07T11:30Z"));  // down from 08:00 to 11:30
  auto scheduler = make_scheduler(recording_job());
  scheduler->start();
  settle();
  std::map<std::string, std::vector<EpochMillis>> by_name;
  for (const auto& [name, nominal] : fired)
    by_name[name].push_back(nominal);
  EXPECT_EQ(by_name.count("skip"), 0u);
  EXPECT_EQ(by_name["once"], (std::vector<EpochMillis>{utc("2026-12-07T11:00Z")}));
  EXPECT_EQ(by_name["all"],
            (std::vector<EpochMillis>{utc("2026-12-07T09:00Z"), utc("2026-12-07T10:00Z"),
                                      utc("2026-12-07T11:00Z")}));
  const auto skipped_runs = store->runs(skip.id);
  ASSERT_EQ(skipped_runs.size(), 3u);
  EXPECT_EQ(skipped_runs[0].outcome, "skipped");
  EXPECT_EQ(skipped_runs[0].detail, "missed by 30 min (misfire policy skip)");
  EXPECT_EQ(scheduler->stats().skipped, 5u);  // 3 for skip, 2 for run-once
}

TEST_F(SchedulerTest, ChangedWakesTheLoopForANewPausedOrCancelledSchedule) {
  auto scheduler = make_scheduler(recording_job());
  scheduler->start();
  settle();
  EXPECT_EQ(scheduler->next_due(), std::nullopt);
  const auto soon = add("soon", "", "run-once", utc("2026-12-07T08:00:02Z"));
  scheduler->changed(soon.id);
  settle();
  EXPECT_EQ(scheduler->next_due(), utc("2026-12-07T08:00:02Z"));
  run_for(2000);
  EXPECT_EQ(fired.size(), 1u);

  const auto tick = add("tick", "* * * * *");
  scheduler->changed(tick.id);
  run_for(kMinute);
  EXPECT_EQ(fired.size(), 2u);
  store->set_state(tick.id, "paused");
  scheduler->changed(tick.id);
  run_for(3 * kMinute);
  EXPECT_EQ(fired.size(), 2u);
  store->set_state(tick.id, "cancelled");
  scheduler->changed(tick.id);
  EXPECT_EQ(scheduler->next_due(), std::nullopt);
}

TEST_F(SchedulerTest, AFailingJobIsRecordedFailedAndTheScheduleGoesOn) {
  const auto schedule = add("flaky", "*/5 * * * *");
  int calls = 0;
  auto scheduler = make_scheduler(
      [&](const storage::ScheduleRecord&, EpochMillis) -> asio::awaitable<Result<std::string>> {
        ++calls;
        if (calls == 1)
          co_return make_error("Slack: channel_not_found");
        throw std::runtime_error("boom");
      });
  scheduler->start();
  run_for(10 * kMinute);
  EXPECT_EQ(calls, 2);
  const auto runs = store->runs(schedule.id);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1].outcome, "failed");
  EXPECT_EQ(runs[1].detail, "Slack: channel_not_found");
  EXPECT_EQ(runs[0].detail, "boom");
  EXPECT_EQ(scheduler->stats().running, 0u);
}

}  // namespace
}  // namespace shipmate::scheduler
