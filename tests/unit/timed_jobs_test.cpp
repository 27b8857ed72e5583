// Lock expiry and approval timeouts as timed jobs of the one scheduler (commands/timed_jobs.h),
// through the real commands and router, on manual time: a lock expires at its instant and is
// announced and audited once; a lock released before its expiry never fires, and one re-taken
// with a new expiry fires at the new one only; an approval request times out at its deadline,
// once, and one denied in time never does. What the old once-a-second watcher guaranteed.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "commands/timed_jobs.h"
#include "scheduler/scheduler.h"
#include "tests/support/command_harness.h"

namespace shipmate {
namespace {

namespace asio = boost::asio;
using storage::DeployState;
using testing::RecordingConversation;
constexpr EpochMillis kMinute = 60'000;

class TimedJobsTest : public ::testing::Test {
 protected:
  TimedJobsTest()
      : scheduler(h.io.get_executor(), h.timers, h.clock, *h.db, h.schedules,
                  [](const storage::ScheduleRecord&,
                     EpochMillis) -> asio::awaitable<Result<std::string>> {
                    co_return std::string("unused");
                  }) {
    h.catalog.environments[1].approvals = commands::ApprovalPolicy{1, {"sre"}, 60 * kMinute};
    h.services->conversations = &directory;
    commands::add_timed_jobs(scheduler, *h.services);
    h.services->scheduler = &scheduler;
  }
  ~TimedJobsTest() override {
    scheduler.stop();
    settle();
    h.services->scheduler = nullptr;
  }

  void settle() {
    h.io.restart();
    while (h.io.poll() > 0) {
    }
  }
  // A command while the scheduler's loop sleeps on manual time (io.run() would wait for it):
  // these commands never sleep, so polling runs them to the end.
  std::string say(const std::string& user, const std::string& text) {
    RecordingConversation conversation;
    bool finished = false;
    asio::co_spawn(
        h.io, h.router->dispatch(bot::ChatEvent{"test", "", user, "c", "", text}, conversation),
        [&finished](std::exception_ptr) { finished = true; });
    settle();
    EXPECT_TRUE(finished) << text;
    std::string out;
    for (const auto& line : conversation.log)
      out += line + "\n";
    return out;
  }
  void run_for(EpochMillis millis) {
    for (EpochMillis done = 0; done < millis; done += 1000) {
      h.timers.advance(std::chrono::milliseconds(1000));
      settle();
    }
  }
  int audited(const std::string& action) {
    int n = 0;
    for (const auto& record : h.audit.tail(1000))
      n += record.entry.action == action ? 1 : 0;
    return n;
  }
  std::vector<std::string> posts() const {
    std::vector<std::string> out;
    for (const auto& post : directory.target.posts)
      out.push_back(post.text);
    return out;
  }

  testing::CommandHarness h;
  testing::OneRoomDirectory directory;
  scheduler::Scheduler scheduler;
};

TEST_F(TimedJobsTest, ALockExpiresAtItsInstantOnceAndIsAnnouncedWhereItWasTaken) {
  scheduler.start();
  settle();
  const EpochMillis taken = h.clock.now_ms();
  EXPECT_NE(say("bob", "lock hello@staging db migration --for 30m").find("Locked hello@staging"),
            std::string::npos);
  EXPECT_EQ(scheduler.next_due(), taken + 30 * kMinute);  // told by the command, no polling
  run_for(30 * kMinute - 1000);
  EXPECT_TRUE(posts().empty());
  EXPECT_TRUE(h.locks.get("service:hello@staging").has_value());
  run_for(1000);
  ASSERT_EQ(posts().size(), 1u);
  EXPECT_EQ(posts()[0],
            "The lock on hello@staging held by bob (db migration) has expired; deploys there may "
            "go ahead.");
  EXPECT_EQ(audited("lock.expired"), 1);
  run_for(10 * kMinute);
  EXPECT_EQ(posts().size(), 1u);
  EXPECT_EQ(audited("lock.expired"), 1);
}

TEST_F(TimedJobsTest, ALockReleasedOrReTakenBeforeItsExpiryDoesNotFireAtTheOldTime) {
  scheduler.start();
  settle();
  const EpochMillis start = h.clock.now_ms();
  say("bob", "lock hello@staging one --for 10m");
  say("alice", "lock hello@production two --for 10m");
  run_for(5 * kMinute);
  EXPECT_NE(say("bob", "unlock hello@staging").find("Unlocked"), std::string::npos);
  // Taken over with a new expiry: the old 10-minute deadline is gone with the old lock.
  EXPECT_NE(say("carol", "lock hello@production three --for 20m --take-over").find("Locked"),
            std::string::npos);
  run_for(6 * kMinute);  // past the old deadlines
  EXPECT_TRUE(posts().empty());
  EXPECT_EQ(audited("lock.expired"), 0);
  run_for(14 * kMinute);  // start + 25 min: the new expiry
  ASSERT_EQ(posts().size(), 1u);
  EXPECT_NE(posts()[0].find("held by carol (three) has expired"), std::string::npos);
  EXPECT_EQ(h.clock.now_ms(), start + 25 * kMinute);
  EXPECT_EQ(audited("lock.expired"), 1);
}

TEST_F(TimedJobsTest, AnApprovalRequestTimesOutAtItsDeadlineOnceAndADeniedOneNever) {
  scheduler.start();
  settle();
  say("alice", "deploy hello v1 to production");  // #1 waits for an approval (60 min)
  run_for(30 * kMinute);
  EXPECT_EQ(h.deploys.get(1)->state, DeployState::awaiting_approval);
  run_for(30 * kMinute - 1000);
  EXPECT_EQ(h.deploys.get(1)->state, DeployState::awaiting_approval);
  run_for(1000);
  EXPECT_EQ(h.deploys.get(1)->state, DeployState::timed_out);
  EXPECT_EQ(audited("deploy.approval_expired"), 1);
  const auto said = posts();
  ASSERT_EQ(said.size(), 1u);
  EXPECT_NE(said[0].find("Deploy #1 of hello v1 to production timed out: nobody approved it "
                         "within 1 h 0 min"),
            std::string::npos)
      << said[0];
  run_for(10 * kMinute);
  EXPECT_EQ(audited("deploy.approval_expired"), 1);
  EXPECT_EQ(posts().size(), 1u);

  // #2 is denied before its deadline: it never times out.
  say("alice", "deploy hello v2 to production");
  run_for(10 * kMinute);
  EXPECT_NE(say("carol", "deny 2 not today").find("denied"), std::string::npos);
  run_for(60 * kMinute);
  EXPECT_EQ(h.deploys.get(2)->state, DeployState::cancelled);
  EXPECT_EQ(audited("deploy.approval_expired"), 1);
  EXPECT_EQ(posts().size(), 1u);
}

}  // namespace
}  // namespace shipmate
