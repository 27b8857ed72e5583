// Timed jobs on the one scheduler (scheduler/timed_job.h), on manual time (ManualTimers +
// ManualClock) against SQLite: a deadline fires at its instant once; a deadline that moves fires
// at its new time and never at the old one, and one removed never fires; a slow run is not
// started twice; a deadline that passed while nothing ran fires once after start (the misfire
// rule: run-once, however late); a run a crash cut off runs again at the next start of the same
// holder, and another holder takes it over only when its lease ends; two schedulers on one
// database run each occurrence once.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/timer.h"
#include "scheduler/scheduler.h"
#include "storage/timed_claims.h"
#include "tests/support/scheduler_fixture.h"
#include "tests/support/test_support.h"

namespace shipmate::scheduler {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

constexpr EpochMillis kMinute = 60'000;
constexpr EpochMillis kStart = 1'796'630'400'000;  // 2026-12-07 08:00Z

// The rows a job's deadlines live in (a lock table in miniature), shared by every scheduler of
// a test as a database would be.
struct Rows {
  std::map<std::string, EpochMillis> deadlines;
  std::vector<std::pair<std::string, EpochMillis>> settled;  // (key, nominal) in run order
  int started = 0;
};

class FakeJob final : public TimedJob {
 public:
  FakeJob(Rows& rows, Timers& timers, std::string label) : rows_(rows), timers_(timers) {
    (void)label;
  }
  std::string_view name() const override { return "test-job"; }
  std::optional<EpochMillis> next_due() override {
    std::optional<EpochMillis> out;
    for (const auto& [key, at] : rows_.deadlines)
      out = out ? std::min(*out, at) : at;
    return out;
  }
  std::vector<TimedOccurrence> due(EpochMillis now, int limit) override {
    std::vector<TimedOccurrence> out;
    for (const auto& [key, at] : rows_.deadlines) {
      if (at <= now)
        out.push_back({key, at});
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.nominal < b.nominal; });
    if (static_cast<int>(out.size()) > limit)
      out.resize(static_cast<std::size_t>(limit));
    return out;
  }
  asio::awaitable<Result<std::string>> run(TimedOccurrence occurrence) override {
    ++rows_.started;
    if (hold.count() > 0) {
      auto wait = timers_.sleep_for(hold);
      co_await std::move(wait);
    }
    if (!settles)
      co_return make_error("database is locked");  // as a storage failure would leave it
    const auto found = rows_.deadlines.find(occurrence.key);
    if (found == rows_.deadlines.end() || found->second != occurrence.nominal)
      co_return std::string("moved");
    rows_.deadlines.erase(found);
    rows_.settled.emplace_back(occurrence.key, occurrence.nominal);
    co_return std::string("settled");
  }
  milliseconds hold{0};  // how long a run takes before it settles (a slow post)
  bool settles = true;   // false: the run fails and its deadline keeps standing

 private:
  Rows& rows_;
  Timers& timers_;
};

class SchedulerJobsTest : public shipmate::testing::SchedulerFixture {
 protected:
  SchedulerJobsTest() : SchedulerFixture(kStart) {}

  // A scheduler with no stored schedules and one FakeJob over `rows`.
  std::unique_ptr<Scheduler> make(std::string holder = "", FakeJob** job_out = nullptr) {
    auto scheduler = std::make_unique<Scheduler>(
        io.get_executor(), timers, clock, *db, *store,
        [](const storage::ScheduleRecord&, EpochMillis) -> asio::awaitable<Result<std::string>> {
          co_return std::string("unused");
        });
    auto job = std::make_unique<FakeJob>(rows, timers, holder);
    if (job_out != nullptr)
      *job_out = job.get();
    scheduler->add_job(std::move(job));
    scheduler->set_claim_holder(std::move(holder));
    return scheduler;
  }

  Rows rows;
};

TEST_F(SchedulerJobsTest, ADeadlineFiresAtItsInstantOnceAndTheLoopDoesNotPoll) {
  rows.deadlines["env:prod"] = kStart + 5 * kMinute;
  auto scheduler = make();
  scheduler->start();
  settle();
  EXPECT_EQ(scheduler->next_due(), kStart + 5 * kMinute);
  run_for(5 * kMinute - 1000);
  EXPECT_TRUE(rows.settled.empty());
  run_for(1000);
  ASSERT_EQ(rows.settled.size(), 1u);
  EXPECT_EQ(rows.settled[0],
            (std::pair<std::string, EpochMillis>{"env:prod", kStart + 5 * kMinute}));
  EXPECT_EQ(
      storage::TimedClaimStore(*db, clock).state("test-job", "env:prod", kStart + 5 * kMinute),
      "done");
  run_for(30 * kMinute);
  EXPECT_EQ(rows.started, 1);
  EXPECT_EQ(scheduler->stats().timed_fired, 1u);
  // 35 minutes: the deadline, the run's end, and the idle once-a-minute clock check; never once
  // a second (2,100).
  EXPECT_LE(scheduler->stats().wakeups, 40u);
}

TEST_F(SchedulerJobsTest, AMovedDeadlineFiresAtItsNewTimeAndARemovedOneNever) {
  rows.deadlines["extended"] = kStart + 5 * kMinute;
  rows.deadlines["released"] = kStart + 5 * kMinute;
  rows.deadlines["sooner"] = kStart + 50 * kMinute;
  auto scheduler = make();
  scheduler->start();
  run_for(2 * kMinute);
  // As commands would: a lock extended, a lock released, a reminder brought forward; each tells
  // the scheduler.
  rows.deadlines["extended"] = kStart + 10 * kMinute;
  rows.deadlines.erase("released");
  rows.deadlines["sooner"] = kStart + 3 * kMinute;
  scheduler->jobs_changed();
  settle();
  run_for(kMinute);
  ASSERT_EQ(rows.settled.size(), 1u);
  EXPECT_EQ(rows.settled[0].first, "sooner");
  EXPECT_EQ(clock.now_ms(), kStart + 3 * kMinute);
  run_for(6 * kMinute);  // 09:09: the old 08:05 deadline of "extended" never fired
  EXPECT_EQ(rows.settled.size(), 1u);
  run_for(kMinute);
  ASSERT_EQ(rows.settled.size(), 2u);
  EXPECT_EQ(rows.settled[1],
            (std::pair<std::string, EpochMillis>{"extended", kStart + 10 * kMinute}));
  run_for(10 * kMinute);
  EXPECT_EQ(rows.started, 2);
}

TEST_F(SchedulerJobsTest, ASlowRunIsNotStartedAgainWhileItIsStillRunning) {
  rows.deadlines["INC-1"] = kStart + kMinute;
  FakeJob* job = nullptr;
  auto scheduler = make("", &job);
  job->hold = milliseconds(3 * kMinute);  // the post takes three minutes
  scheduler->start();
  run_for(2 * kMinute);
  EXPECT_EQ(rows.started, 1);
  EXPECT_EQ(scheduler->stats().timed_running, 1u);
  EXPECT_TRUE(rows.settled.empty());  // its deadline still stands while it runs
  run_for(3 * kMinute);
  EXPECT_EQ(rows.started, 1);
  ASSERT_EQ(rows.settled.size(), 1u);
  EXPECT_EQ(scheduler->stats().timed_running, 0u);
}

TEST_F(SchedulerJobsTest, ADeadlineThatPassedWhileDownFiresOnceAfterStart) {
  rows.deadlines["INC-7"] = kStart + 5 * kMinute;
  rows.deadlines["INC-8"] = kStart + 20 * kMinute;
  clock.advance_ms(3 * 60 * kMinute);  // Shipmate was down for three hours
  auto scheduler = make();
  scheduler->start();
  settle();
  // Run-once, however late: each passed deadline once, oldest first, at start.
  ASSERT_EQ(rows.settled.size(), 2u);
  EXPECT_EQ(rows.settled[0], (std::pair<std::string, EpochMillis>{"INC-7", kStart + 5 * kMinute}));
  EXPECT_EQ(rows.settled[1].first, "INC-8");
  run_for(10 * kMinute);
  EXPECT_EQ(rows.started, 2);
}

TEST_F(SchedulerJobsTest, ARunCutOffByACrashRunsAgainAtTheNextStartOfTheSameHolderOnce) {
  rows.deadlines["INC-1"] = kStart + kMinute;
  FakeJob* job = nullptr;
  auto first = make("", &job);
  job->hold = milliseconds(24 * 60 * kMinute);  // never ends in this process
  first->start();
  run_for(2 * kMinute);
  EXPECT_EQ(rows.started, 1);
  EXPECT_EQ(storage::TimedClaimStore(*db, clock).state("test-job", "INC-1", kStart + kMinute),
            "claimed");
  // The process dies: its run never finishes (it stays asleep, as if the process were gone), its
  // claim stays "claimed".
  first->stop();
  settle();
  first.reset();
  rows.started = 0;
  auto second = make();
  second->start();
  settle();
  ASSERT_EQ(rows.settled.size(), 1u);  // released at start, run again, settled once
  run_for(10 * kMinute);
  EXPECT_EQ(rows.started, 1);
  EXPECT_EQ(storage::TimedClaimStore(*db, clock).state("test-job", "INC-1", kStart + kMinute),
            "done");
  timers.cancel_all();  // the dead process's run goes away with the test
  settle();
  EXPECT_EQ(rows.settled.size(), 1u);
}

TEST_F(SchedulerJobsTest, AnotherHoldersLiveClaimIsLeftAloneUntilItsLeaseEnds) {
  rows.deadlines["#12"] = kStart;
  // Replica "a" claimed it and died without finishing (its lease: ten minutes).
  storage::TimedClaimStore a(*db, clock, "a");
  ASSERT_TRUE(a.claim("test-job", "#12", kStart, 10 * kMinute));
  auto b = make("b");
  b->start();
  run_for(9 * kMinute);
  EXPECT_EQ(rows.started, 0);
  EXPECT_GE(b->stats().timed_lost, 1u);
  // Contended: looked at again every few seconds, not every turn of the loop.
  EXPECT_LE(b->stats().wakeups, 9u * 60 / 5 + 20);
  run_for(2 * kMinute);
  EXPECT_EQ(rows.started, 1);
  ASSERT_EQ(rows.settled.size(), 1u);
}

TEST_F(SchedulerJobsTest, ARunThatCannotSettleItsRowIsRetriedEveryFewSecondsNeverInABurst) {
  rows.deadlines["#3"] = kStart;
  FakeJob* job = nullptr;
  auto scheduler = make("", &job);
  job->settles = false;
  scheduler->start();
  settle();
  EXPECT_EQ(rows.started, 1);
  run_for(60'000);
  // Once at start, then once per kContendedRetryMs: 13 runs in a minute, not thousands.
  EXPECT_GE(rows.started, 12);
  EXPECT_LE(rows.started, 14);
  job->settles = true;
  run_for(10'000);
  EXPECT_EQ(rows.settled.size(), 1u);
  const int runs = rows.started;
  run_for(60'000);
  EXPECT_EQ(rows.started, runs);
}

TEST_F(SchedulerJobsTest, TwoSchedulersOnOneDatabaseRunEachOccurrenceOnce) {
  for (int i = 0; i < 40; ++i)
    rows.deadlines["k" + std::to_string(i)] = kStart + (i % 8) * kMinute;
  auto first = make("a");
  auto second = make("b");
  first->start();
  second->start();
  run_for(10 * kMinute);
  EXPECT_EQ(rows.started, 40);
  EXPECT_EQ(rows.settled.size(), 40u);
  EXPECT_EQ(first->stats().timed_fired + second->stats().timed_fired, 40u);
}

}  // namespace
}  // namespace shipmate::scheduler
