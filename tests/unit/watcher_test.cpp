// The watcher: plan_watch() step by step (due jobs, next due times, late loops, clock jumps), and
// the loop itself on manual time.
#include "bot/watcher.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <limits>
#include <stdexcept>

#include "common/timer.h"

namespace shipmate::bot {
namespace {

using std::chrono::milliseconds;

TEST(PlanWatch, NothingIsDueBeforeItsTimeAndTheLoopWakesAtTheEarliest) {
  const auto plan = plan_watch({{milliseconds(1000), 5000}, {milliseconds(300), 4200}}, 4000);
  EXPECT_TRUE(plan.due.empty());
  EXPECT_EQ(plan.next_due, (std::vector<EpochMillis>{5000, 4200}));
  EXPECT_EQ(plan.wake_at, 4200);
}

TEST(PlanWatch, AJobIsDueAtItsTimeAndNextDueOnePeriodAfterThat) {
  const auto plan = plan_watch({{milliseconds(1000), 5000}, {milliseconds(300), 5200}}, 5000);
  EXPECT_EQ(plan.due, (std::vector<std::size_t>{0}));
  EXPECT_EQ(plan.next_due, (std::vector<EpochMillis>{6000, 5200}));
  EXPECT_EQ(plan.wake_at, 5200);
}

TEST(PlanWatch, ALittleLateKeepsTheRhythm) {
  const auto plan = plan_watch({{milliseconds(1000), 5000}}, 5030);
  EXPECT_EQ(plan.due, (std::vector<std::size_t>{0}));
  EXPECT_EQ(plan.next_due, (std::vector<EpochMillis>{6000}));
}

TEST(PlanWatch, MissedPeriodsRunOnceNotInABurst) {
  const auto plan = plan_watch({{milliseconds(1000), 5000}}, 9500);
  EXPECT_EQ(plan.due, (std::vector<std::size_t>{0}));
  EXPECT_EQ(plan.next_due, (std::vector<EpochMillis>{10500}));
  const auto next = plan_watch({{milliseconds(1000), plan.next_due[0]}}, 9501);
  EXPECT_TRUE(next.due.empty());
}

TEST(PlanWatch, SeveralDueTogetherRunInRegistrationOrder) {
  const auto plan = plan_watch(
      {{milliseconds(1000), 5000}, {milliseconds(50), 6000}, {milliseconds(200), 4900}}, 5000);
  EXPECT_EQ(plan.due, (std::vector<std::size_t>{0, 2}));
  EXPECT_EQ(plan.wake_at, 5050);  // the second job's due time is pulled in: see below
}

TEST(PlanWatch, AClockJumpBackDoesNotSilenceAJob) {
  // Due at 5000 when the wall clock jumps back to 1000: due again within one period.
  const auto plan = plan_watch({{milliseconds(1000), 5000}}, 1000);
  EXPECT_TRUE(plan.due.empty());
  EXPECT_EQ(plan.next_due, (std::vector<EpochMillis>{2000}));
}

TEST(PlanWatch, NoJobsMeansNoWake) {
  const auto plan = plan_watch({}, 1000);
  EXPECT_TRUE(plan.due.empty());
  EXPECT_EQ(plan.wake_at, std::numeric_limits<EpochMillis>::max());
}

class WatcherTest : public ::testing::Test {
 protected:
  void settle() {
    while (io.poll() > 0) {
    }
    io.restart();
  }
  boost::asio::io_context io;
  ManualClock clock;
  ManualTimers timers{io.get_executor(), &clock};
};

TEST_F(WatcherTest, RunsEachJobOncePerPeriodOnManualTime) {
  Watcher watcher(io.get_executor(), timers, clock);
  int locks = 0;
  int approvals = 0;
  watcher.add("lock expiry", milliseconds(1000), [&] { ++locks; });
  watcher.add("approval expiry", milliseconds(1500), [&] { ++approvals; });
  watcher.start();
  settle();
  EXPECT_EQ(locks, 0);
  timers.advance(milliseconds(999));
  settle();
  EXPECT_EQ(locks, 0);
  timers.advance(milliseconds(1));
  settle();
  EXPECT_EQ(locks, 1);
  EXPECT_EQ(approvals, 0);
  timers.advance(milliseconds(500));
  settle();
  EXPECT_EQ(approvals, 1);
  timers.advance(milliseconds(500));
  settle();
  EXPECT_EQ(locks, 2);
  EXPECT_EQ(watcher.runs(), (std::vector<std::size_t>{2, 1}));
}

TEST_F(WatcherTest, AJobThatThrowsRunsAgainNextPeriod) {
  Watcher watcher(io.get_executor(), timers, clock);
  int runs = 0;
  watcher.add("flaky", milliseconds(100), [&] {
    ++runs;
    throw std::runtime_error("database is locked");
  });
  watcher.start();
  for (int i = 0; i < 3; ++i) {
    timers.advance(milliseconds(100));
    settle();
  }
  EXPECT_EQ(runs, 3);
}

TEST_F(WatcherTest, StopEndsTheLoop) {
  Watcher watcher(io.get_executor(), timers, clock);
  int runs = 0;
  watcher.add("job", milliseconds(100), [&] { ++runs; });
  watcher.start();
  settle();
  EXPECT_EQ(timers.sleeping(), 1u);
  watcher.stop();
  settle();
  EXPECT_EQ(timers.sleeping(), 0u);
  timers.advance(milliseconds(1000));
  settle();
  EXPECT_EQ(runs, 0);
  EXPECT_EQ(io.run(), 0u);  // nothing left on the loop
}

}  // namespace
}  // namespace shipmate::bot
