// The pending-question registry and the deploy runtime's cancellation, driven step by step on a
// private event loop with manual time: nothing here waits for real.
#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "commands/deploy_runtime.h"
#include "commands/pending_questions.h"
#include "common/timer.h"

namespace shipmate::commands {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Kind = QuestionOutcome::Kind;

class PendingQuestionsTest : public ::testing::Test {
 protected:
  // Starts ask() in the background; the outcome lands in `out` when it ends.
  void start(std::optional<QuestionOutcome>& out, const std::string& key,
             std::chrono::milliseconds timeout, MayAnswer may = {}) {
    std::vector<std::string> choices = {"continue", "abort"};
    asio::co_spawn(io, questions.ask(key, std::move(choices), timeout, std::move(may)),
                   [&out](std::exception_ptr error, QuestionOutcome outcome) {
                     ASSERT_FALSE(error);
                     out = std::move(outcome);
                   });
    settle();
  }
  void settle() {
    io.restart();
    io.poll();
  }

  Caller caller(const std::string& id) { return Caller{id, nullptr}; }

  asio::io_context io;
  ManualClock clock;
  ManualTimers timers{io.get_executor(), &clock};
  PendingQuestions questions{timers};
};

TEST_F(PendingQuestionsTest, AnAcceptedAnswerEndsTheWaitAtOnceAndClosesTheQuestion) {
  std::optional<QuestionOutcome> out;
  start(out, "deploy:1", 10min);
  EXPECT_TRUE(questions.is_open("deploy:1"));
  EXPECT_FALSE(out);

  auto verdict = questions.answer("deploy:1", "continue", caller("alice"));
  EXPECT_TRUE(verdict.accepted());
  EXPECT_FALSE(questions.is_open("deploy:1"));  // closed synchronously
  settle();
  ASSERT_TRUE(out);
  EXPECT_EQ(out->kind, Kind::answered);
  EXPECT_EQ(out->choice, "continue");
  EXPECT_EQ(out->answered_by, "alice");
  EXPECT_EQ(timers.sleeping(), 0u);

  auto again = questions.answer("deploy:1", "abort", caller("bob"));
  EXPECT_EQ(again.kind, AnswerVerdict::Kind::not_open);
  EXPECT_EQ(again.reason, "nothing is waiting for an answer");
}

TEST_F(PendingQuestionsTest, RefusedAnswersChangeNothing) {
  std::optional<QuestionOutcome> out;
  start(out, "deploy:2", 10min, [](const std::string& choice, const Caller& who) -> Status {
    if (who.user_id == "bob" && choice == "continue")
      return make_error("bob may not deploy in production");
    return Ok{};
  });
  auto not_a_choice = questions.answer("deploy:2", "maybe", caller("alice"));
  EXPECT_EQ(not_a_choice.kind, AnswerVerdict::Kind::refused);
  EXPECT_EQ(not_a_choice.reason, "'maybe' is not one of the answers (continue, abort)");
  auto not_allowed = questions.answer("deploy:2", "continue", caller("bob"));
  EXPECT_EQ(not_allowed.kind, AnswerVerdict::Kind::refused);
  EXPECT_EQ(not_allowed.reason, "bob may not deploy in production");
  settle();
  EXPECT_FALSE(out);
  EXPECT_TRUE(questions.is_open("deploy:2"));

  EXPECT_TRUE(questions.answer("deploy:2", "abort", caller("bob")).accepted());
  settle();
  ASSERT_TRUE(out);
  EXPECT_EQ(out->choice, "abort");
  EXPECT_EQ(out->answered_by, "bob");
}

TEST_F(PendingQuestionsTest, SilenceTimesOutOnManualTime) {
  std::optional<QuestionOutcome> out;
  start(out, "deploy:3", 10min);
  timers.advance(10min - 1ms);
  settle();
  EXPECT_FALSE(out);
  EXPECT_TRUE(questions.is_open("deploy:3"));
  timers.advance(1ms);
  settle();
  ASSERT_TRUE(out);
  EXPECT_EQ(out->kind, Kind::timed_out);
  EXPECT_FALSE(questions.is_open("deploy:3"));
}

TEST_F(PendingQuestionsTest, TheAskersCancellationSlotEndsTheWaitAsCancelled) {
  std::optional<QuestionOutcome> out;
  asio::cancellation_signal signal;
  std::vector<std::string> choices = {"yes", "no"};
  asio::co_spawn(io, questions.ask("runbook:restart", std::move(choices), 1h),
                 asio::bind_cancellation_slot(
                     signal.slot(), [&out](std::exception_ptr error, QuestionOutcome outcome) {
                       ASSERT_FALSE(error);
                       out = std::move(outcome);
                     }));
  settle();
  EXPECT_TRUE(questions.is_open("runbook:restart"));
  signal.emit(asio::cancellation_type::terminal);
  settle();
  ASSERT_TRUE(out);
  EXPECT_EQ(out->kind, Kind::cancelled);
  EXPECT_FALSE(questions.is_open("runbook:restart"));
  EXPECT_EQ(clock.now_ms(), ManualClock().now_ms());  // no time passed
}

TEST_F(PendingQuestionsTest, OneQuestionPerKeyAndCancelAllEndsEveryOne) {
  std::optional<QuestionOutcome> first, second, other;
  start(first, "deploy:4", 1h);
  start(second, "deploy:4", 1h);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->kind, Kind::cancelled);  // the open one is left alone
  EXPECT_FALSE(first);
  start(other, "deploy:5", 1h);
  EXPECT_EQ(questions.open_count(), 2u);
  questions.cancel_all();
  EXPECT_EQ(questions.open_count(), 0u);
  settle();
  ASSERT_TRUE(first && other);
  EXPECT_EQ(first->kind, Kind::cancelled);
  EXPECT_EQ(other->kind, Kind::cancelled);
}

class DeployRuntimeTest : public PendingQuestionsTest {
 protected:
  void sleep(std::optional<bool>& out, std::int64_t id, std::chrono::milliseconds duration) {
    asio::co_spawn(io, runtime.sleep_for(id, duration),
                   [&out](std::exception_ptr error, bool slept) {
                     ASSERT_FALSE(error);
                     out = slept;
                   });
    settle();
  }
  DeployRuntime runtime{timers};
};

TEST_F(DeployRuntimeTest, CancellingADeployEndsItsSleepAndEveryLaterWaitAtOnce) {
  std::optional<DeployRuntime::Registration> running;
  running.emplace(runtime.track(7));
  EXPECT_TRUE(runtime.is_running(7));
  std::optional<bool> bake;
  sleep(bake, 7, 1h);
  EXPECT_FALSE(bake);
  runtime.cancel(7);
  settle();
  ASSERT_TRUE(bake);
  EXPECT_FALSE(*bake);
  EXPECT_TRUE(runtime.cancelled(7));

  std::optional<bool> later;
  sleep(later, 7, 1h);
  ASSERT_TRUE(later);  // ended before it began
  EXPECT_FALSE(*later);
  std::optional<QuestionOutcome> question;
  asio::co_spawn(io, runtime.ask(7, {"continue", "abort"}, 1h, {}),
                 [&question](std::exception_ptr, QuestionOutcome outcome) { question = outcome; });
  settle();
  ASSERT_TRUE(question);
  EXPECT_EQ(question->kind, Kind::cancelled);

  running.reset();
  EXPECT_FALSE(runtime.is_running(7));
  EXPECT_TRUE(runtime.running().empty());
}

TEST_F(DeployRuntimeTest, CancelAllEndsEachDeploysWaitButTheTimeStillPassesForOthers) {
  auto one = runtime.track(1);
  auto two = runtime.track(2);
  std::optional<bool> a, b, untracked;
  sleep(a, 1, 1h);
  std::optional<QuestionOutcome> question;
  asio::co_spawn(io, runtime.ask(2, {"continue", "abort"}, 1h, {}),
                 [&question](std::exception_ptr, QuestionOutcome outcome) { question = outcome; });
  sleep(untracked, 99, 1min);  // not a running deploy: just sleeps
  settle();
  EXPECT_TRUE(runtime.questions().is_open(DeployRuntime::question_key(2)));
  runtime.cancel_all();
  settle();
  ASSERT_TRUE(a && question);
  EXPECT_FALSE(*a);
  EXPECT_EQ(question->kind, Kind::cancelled);
  EXPECT_FALSE(untracked);
  timers.advance(1min);
  settle();
  ASSERT_TRUE(untracked);
  EXPECT_TRUE(*untracked);
}

TEST_F(DeployRuntimeTest, AnAnswerReachesTheDeploysQuestionThroughTheSharedRegistry) {
  auto running = runtime.track(3);
  std::optional<QuestionOutcome> question;
  asio::co_spawn(io, runtime.ask(3, {"continue", "abort"}, 1h, {}),
                 [&question](std::exception_ptr, QuestionOutcome outcome) { question = outcome; });
  settle();
  EXPECT_TRUE(runtime.questions()
                  .answer(DeployRuntime::question_key(3), "abort", Caller{"carol"})
                  .accepted());
  settle();
  ASSERT_TRUE(question);
  EXPECT_EQ(question->kind, Kind::answered);
  EXPECT_EQ(question->choice, "abort");
  EXPECT_FALSE(runtime.cancelled(3));
}

}  // namespace
}  // namespace shipmate::commands
