// The reply outbox's decision (bot/outbox_policy.h), state by input, with no I/O: every pair has
// an expected answer in the table below, for a post on a platform that can look for its replies.
#include "bot/outbox_policy.h"

#include <gtest/gtest.h>

#include <map>
#include <utility>

namespace shipmate::bot {
namespace {

using S = OutboxState;
using I = OutboxInput;
using A = OutboxAction;

constexpr S kStates[] = {S::recorded, S::sending, S::unknown, S::checking,
                         S::waiting,  S::sent,    S::parked};
constexpr I kInputs[] = {I::committed,       I::restarted,    I::send_ok,     I::send_not_sent,
                         I::send_maybe_sent, I::send_refused, I::check_found, I::check_absent,
                         I::check_failed,    I::retry_due};

TEST(OutboxPolicy, EveryStateAndInputOfAPostHasTheExpectedStep) {
  // (state, input) -> (next, action); anything not listed keeps its state and does nothing.
  const std::map<std::pair<S, I>, std::pair<S, A>> expected = {
      {{S::recorded, I::committed}, {S::sending, A::send}},
      {{S::recorded, I::restarted}, {S::checking, A::check}},
      {{S::sending, I::send_ok}, {S::sent, A::mark_sent}},
      {{S::sending, I::send_not_sent}, {S::waiting, A::retry}},
      {{S::sending, I::send_maybe_sent}, {S::unknown, A::retry}},
      {{S::sending, I::send_refused}, {S::parked, A::park}},
      {{S::unknown, I::restarted}, {S::checking, A::check}},
      {{S::unknown, I::retry_due}, {S::checking, A::check}},
      {{S::checking, I::check_found}, {S::sent, A::mark_sent}},
      {{S::checking, I::check_absent}, {S::sending, A::send}},
      {{S::checking, I::check_failed}, {S::unknown, A::retry}},
      {{S::waiting, I::retry_due}, {S::sending, A::send}},
  };
  int pairs = 0;
  for (S state : kStates) {
    for (I input : kInputs) {
      ++pairs;
      OutboxRowProgress row;
      row.state = state;
      const OutboxStep step = decide(row, input);
      auto found = expected.find({state, input});
      const std::pair<S, A> want =
          found == expected.end() ? std::make_pair(state, A::none) : found->second;
      EXPECT_EQ(step.next, want.first) << to_string(state) << " x " << to_string(input);
      EXPECT_EQ(step.action, want.second) << to_string(state) << " x " << to_string(input);
    }
  }
  EXPECT_EQ(pairs, 70);
}

TEST(OutboxPolicy, AnUpdateIsSentAgainInsteadOfLookedFor) {
  OutboxRowProgress row;
  row.idempotent = true;
  row.state = S::recorded;
  EXPECT_EQ(decide(row, I::restarted).action, A::send);
  row.state = S::sending;
  const auto step = decide(row, I::send_maybe_sent);
  EXPECT_EQ(step.next, S::waiting);
  EXPECT_EQ(step.action, A::retry);
}

TEST(OutboxPolicy, APlatformThatCannotLookGetsTheReplyAgainRatherThanLosingIt) {
  OutboxRowProgress row;
  row.can_check = false;
  row.state = S::unknown;
  EXPECT_EQ(decide(row, I::restarted).action, A::send);
  EXPECT_EQ(decide(row, I::retry_due).next, S::sending);
}

TEST(OutboxPolicy, BacksOffDoublingThenParksAfterTheLastAttempt) {
  EXPECT_EQ(outbox_retry_delay(1), std::chrono::milliseconds(500));
  EXPECT_EQ(outbox_retry_delay(2), std::chrono::milliseconds(1000));
  EXPECT_EQ(outbox_retry_delay(4), std::chrono::milliseconds(4000));
  EXPECT_EQ(outbox_retry_delay(30), kOutboxLongestRetry);
  OutboxRowProgress row;
  row.state = S::sending;
  row.attempts = 0;
  EXPECT_EQ(decide(row, I::send_not_sent).delay, std::chrono::milliseconds(500));
  row.attempts = kOutboxMaxAttempts - 2;
  EXPECT_EQ(decide(row, I::send_not_sent).action, A::retry);
  row.attempts = kOutboxMaxAttempts - 1;
  EXPECT_EQ(decide(row, I::send_not_sent).action, A::park);
  row.state = S::checking;
  EXPECT_EQ(decide(row, I::check_failed).action, A::park);
}

}  // namespace
}  // namespace shipmate::bot
