// Rollout progress (commands/rollout_progress.h): its text round-trips, a text it cannot read is
// a clear error, and the takeover rule (decide_resume) rule by rule.
#include "commands/rollout_progress.h"

#include <gtest/gtest.h>

namespace shipmate::commands {
namespace {

using storage::DeployState;

bool has(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

RolloutStrategy canary(std::vector<int> steps) {
  RolloutStrategy strategy;
  strategy.kind = StrategyKind::canary;
  strategy.steps = std::move(steps);
  return strategy;
}

RolloutProgress baking_step(int step, int steps, int weight) {
  RolloutProgress progress;
  progress.strategy = StrategyKind::canary;
  progress.phase = RolloutPhase::baking;
  progress.stable = "v1";
  progress.candidate = "v2";
  progress.step = step;
  progress.steps = steps;
  progress.weight = weight;
  progress.passed = step;
  progress.bake_started_at = 1'700'000'000'000;
  return progress;
}

ResumeFacts facts_for(const RolloutProgress& progress, RolloutStrategy strategy) {
  ResumeFacts facts;
  facts.state = DeployState::verifying;
  facts.recorded = format_rollout(progress);
  facts.version = "v2";
  facts.previous_version = "v1";
  facts.strategy = std::move(strategy);
  facts.supports_traffic_split = true;
  facts.checks_began = true;
  return facts;
}

TEST(RolloutProgress, RoundTripsEveryFieldAndNamesTheServingColour) {
  RolloutProgress progress = baking_step(1, 3, 50);
  progress.phase = RolloutPhase::rolling_back;
  progress.why = "check failed: a=b; c (query: x{y=\"z\"})";
  const std::string text = format_rollout(progress);
  EXPECT_TRUE(has(text, "serving=blue")) << text;
  auto parsed = parse_rollout(text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(*parsed, progress);
  progress.weight = 100;
  EXPECT_EQ(progress.serving_colour(), "green");
  EXPECT_EQ(progress.where(), "step 2 of 3 (100%)");
}

TEST(RolloutProgress, ATextItCannotReadIsAnErrorNamingTheField) {
  EXPECT_TRUE(has(parse_rollout("").error().message, "format this Shipmate does not know"));
  EXPECT_TRUE(has(parse_rollout("v9;strategy=canary").error().message, "does not know"));
  EXPECT_TRUE(has(parse_rollout("v1;strategy=zigzag;phase=baking;step=0;steps=1").error().message,
                  "its strategy field"));
  EXPECT_TRUE(has(parse_rollout("v1;strategy=canary;phase=baking;step=x;steps=1").error().message,
                  "its step field"));
  EXPECT_TRUE(has(parse_rollout("v1;strategy=canary;phase=baking;step=3;steps=3").error().message,
                  "its step field"));
  EXPECT_TRUE(
      has(parse_rollout("v1;strategy=canary;step=0;steps=1").error().message, "its phase field"));
  // Unknown fields (a newer Shipmate's) are skipped.
  EXPECT_TRUE(parse_rollout("v1;strategy=canary;phase=baking;step=0;steps=1;later=1").ok());
}

TEST(RolloutProgress, WeightsEndAtOneHundred) {
  EXPECT_EQ(rollout_weights(canary({10, 50})), (std::vector<int>{10, 50, 100}));
  EXPECT_EQ(rollout_weights(canary({25, 100})), (std::vector<int>{25, 100}));
  EXPECT_EQ(rollout_weights(canary({})), (std::vector<int>{100}));
  RolloutStrategy blue_green;
  blue_green.kind = StrategyKind::blue_green;
  EXPECT_EQ(rollout_weights(blue_green), (std::vector<int>{100}));
  EXPECT_EQ(rollout_weights(RolloutStrategy{}), (std::vector<int>{100}));
}

TEST(RolloutProgress, EffectiveStrategyGoesStraightForRollbacksFirstDeploysAndNoSplit) {
  const auto configured = canary({10});
  EXPECT_EQ(effective_strategy(configured, "staging", storage::DeployKind::deploy, "v1", true).kind,
            StrategyKind::canary);
  EXPECT_EQ(
      effective_strategy(configured, "staging", storage::DeployKind::rollback, "v1", true).kind,
      StrategyKind::rolling);
  EXPECT_EQ(effective_strategy(configured, "staging", storage::DeployKind::deploy, "", true).kind,
            StrategyKind::rolling);
  EXPECT_EQ(
      effective_strategy(configured, "staging", storage::DeployKind::deploy, "v1", false).kind,
      StrategyKind::rolling);
}

TEST(DecideResume, ACanaryBakingCarriesOnFromItsStepWithTheBakeStartingAgain) {
  const auto decision = decide_resume(facts_for(baking_step(1, 3, 50), canary({10, 50})));
  EXPECT_EQ(decision.verdict, ResumeVerdict::carry_on);
  EXPECT_EQ(decision.progress.step, 1);
  EXPECT_EQ(decision.progress.weight, 50);
  EXPECT_EQ(decision.progress.passed, 1);
  EXPECT_EQ(decision.progress.phase, RolloutPhase::stepping);
  EXPECT_EQ(decision.progress.bake_started_at, 0);
  EXPECT_EQ(decision.why,
            "carrying the canary on from step 2 of 3 (50%) (1 step already passed their checks; "
            "this step's bake time starts again)");
}

TEST(DecideResume, ACanaryStillStartingCarriesOnFromItsFirstStep) {
  RolloutProgress starting = baking_step(0, 3, 10);
  starting.phase = RolloutPhase::starting;
  starting.bake_started_at = 0;
  auto facts = facts_for(starting, canary({10, 50}));
  facts.state = DeployState::deploying;
  facts.checks_began = false;
  const auto decision = decide_resume(facts);
  EXPECT_EQ(decision.verdict, ResumeVerdict::carry_on);
  EXPECT_EQ(decision.progress.step, 0);
  EXPECT_EQ(decision.progress.phase, RolloutPhase::starting);
}

TEST(DecideResume, RollingBackCarriesTheRollbackOnWithItsReason) {
  RolloutProgress back = baking_step(1, 3, 50);
  back.phase = RolloutPhase::rolling_back;
  back.why = "check failed: error_rate";
  auto facts = facts_for(back, canary({10, 50}));
  facts.state = DeployState::deploying;
  const auto decision = decide_resume(facts);
  EXPECT_EQ(decision.verdict, ResumeVerdict::roll_back);
  EXPECT_EQ(decision.why, "check failed: error_rate");
  EXPECT_EQ(decision.progress.phase, RolloutPhase::rolling_back);
  // With nothing to roll back to, it fails and says so.
  facts.previous_version = "";
  const auto no_stable = decide_resume(facts);
  EXPECT_EQ(no_stable.verdict, ResumeVerdict::fail);
  EXPECT_TRUE(has(no_stable.why, "no earlier version to roll back to")) << no_stable.why;
}

TEST(DecideResume, ProgressThatNoLongerMatchesOrCannotBeReadRollsBack) {
  const auto changed = decide_resume(facts_for(baking_step(1, 3, 50), canary({50})));
  EXPECT_EQ(changed.verdict, ResumeVerdict::roll_back);
  EXPECT_TRUE(has(changed.why, "rollout strategy changed")) << changed.why;
  RolloutStrategy blue_green;
  blue_green.kind = StrategyKind::blue_green;
  EXPECT_EQ(decide_resume(facts_for(baking_step(1, 3, 50), blue_green)).verdict,
            ResumeVerdict::roll_back);
  auto other_version = facts_for(baking_step(1, 3, 50), canary({10, 50}));
  other_version.version = "v3";
  EXPECT_EQ(decide_resume(other_version).verdict, ResumeVerdict::roll_back);
  auto unreadable = facts_for(baking_step(1, 3, 50), canary({10, 50}));
  unreadable.recorded = "v1;strategy=canary;phase=baking;step=oops;steps=3";
  const auto bad = decide_resume(unreadable);
  EXPECT_EQ(bad.verdict, ResumeVerdict::roll_back);
  EXPECT_TRUE(has(bad.why, "cannot be read")) << bad.why;
  auto no_split = facts_for(baking_step(1, 3, 50), canary({10, 50}));
  no_split.supports_traffic_split = false;
  const auto unsplit = decide_resume(no_split);
  EXPECT_EQ(unsplit.verdict, ResumeVerdict::roll_back);
  EXPECT_TRUE(has(unsplit.why, "can no longer split traffic")) << unsplit.why;
}

TEST(DecideResume, NoRecordedProgress) {
  ResumeFacts facts;
  facts.state = DeployState::deploying;
  facts.version = "v2";
  facts.previous_version = "v1";
  // A straight rollout with no check begun: applied again (as before progress was recorded).
  EXPECT_EQ(decide_resume(facts).verdict, ResumeVerdict::carry_on);
  EXPECT_EQ(decide_resume(facts).why, "applying v2 again");
  // Checks begun, or a canary: how far it got is unknown: roll back.
  facts.checks_began = true;
  EXPECT_EQ(decide_resume(facts).verdict, ResumeVerdict::roll_back);
  facts.checks_began = false;
  facts.strategy = canary({10});
  const auto unknown = decide_resume(facts);
  EXPECT_EQ(unknown.verdict, ResumeVerdict::roll_back);
  EXPECT_TRUE(has(unknown.why, "progress was not recorded")) << unknown.why;
  // And a first deploy (no stable version) with checks begun: failed.
  facts.previous_version = "";
  facts.strategy = RolloutStrategy{};
  facts.checks_began = true;
  EXPECT_EQ(decide_resume(facts).verdict, ResumeVerdict::fail);
}

TEST(DecideResume, AStraightRolloutBakingIsAppliedAgainAndCheckedAgain) {
  RolloutProgress straight;
  straight.strategy = StrategyKind::rolling;
  straight.phase = RolloutPhase::baking;
  straight.stable = "v1";
  straight.candidate = "v2";
  straight.weight = 100;
  const auto decision = decide_resume(facts_for(straight, RolloutStrategy{}));
  EXPECT_EQ(decision.verdict, ResumeVerdict::carry_on);
  EXPECT_EQ(decision.why, "applying v2 again (its checks start again)");
}

TEST(DecideResume, OtherStatesAreNotRolloutsToCarryOn) {
  for (auto state : {DeployState::building, DeployState::requested, DeployState::succeeded}) {
    ResumeFacts facts;
    facts.state = state;
    EXPECT_EQ(decide_resume(facts).verdict, ResumeVerdict::fail) << storage::to_string(state);
  }
}

}  // namespace
}  // namespace shipmate::commands
