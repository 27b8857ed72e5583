// The decisions of a stopping replica (commands/handover.h), step by step: no I/O.
#include "commands/handover.h"

#include <gtest/gtest.h>

namespace shipmate::commands {
namespace {

TEST(HandoverTest, OnlyAnAskedStopOfAReplicaThatStillHoldsItsLeaseHandsOver) {
  EXPECT_EQ(stop_mode(true, true, true), StopMode::hand_over);
  // One replica on SQLite: nobody to hand over to; today's cancellation.
  EXPECT_EQ(stop_mode(false, true, true), StopMode::cancel);
  EXPECT_EQ(stop_mode(false, true, false), StopMode::cancel);
  // A lost lease: its work may already be another replica's.
  EXPECT_EQ(stop_mode(true, true, false), StopMode::cancel);
  // A stop it did not choose (a platform failing for good, start-up failing, the lease lost).
  EXPECT_EQ(stop_mode(true, false, true), StopMode::cancel);
  EXPECT_EQ(stop_mode(true, false, false), StopMode::cancel);
}

TEST(HandoverTest, WhatASurvivorCanResumeIsParkedTheRestIsFinishedHere) {
  EXPECT_EQ(deploy_exit(true), DeployExit::park);
  EXPECT_EQ(deploy_exit(false), DeployExit::finish);
}

TEST(HandoverTest, TheDrainWaitsForFinishingDeploysUntilTheBudgetIsSpent) {
  constexpr EpochMillis kStart = 1'000'000;
  constexpr EpochMillis kDeadline = kStart + kHandoverBudgetMs;
  // Nothing to finish: let go at once.
  EXPECT_EQ(drain_step(0, kStart, kDeadline), DrainStep::let_go);
  // Two still running: wait, up to the last millisecond before the deadline.
  EXPECT_EQ(drain_step(2, kStart, kDeadline), DrainStep::wait);
  EXPECT_EQ(drain_step(2, kDeadline - 1, kDeadline), DrainStep::wait);
  // One finished, one still running at the deadline: cancel the rest.
  EXPECT_EQ(drain_step(1, kDeadline, kDeadline), DrainStep::cancel_rest);
  EXPECT_EQ(drain_step(1, kDeadline + 5'000, kDeadline), DrainStep::cancel_rest);
  // Both finished, even late: nothing to cancel.
  EXPECT_EQ(drain_step(0, kDeadline + 5'000, kDeadline), DrainStep::let_go);
  // The budget fits under the 20 s shutdown watchdog.
  EXPECT_LT(kHandoverBudgetMs, 20'000);
}

}  // namespace
}  // namespace shipmate::commands
