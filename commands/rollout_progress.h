// Rollout progress: what a replica taking a deploy over needs to carry its rollout on from where
// the stopped owner left it, and the decision whether it may.
//
// Contract
// - Pure: no storage, clock, sockets or logging. format_rollout() / parse_rollout() turn the
//   progress into the text DeployStore keeps in deploys.rollout and back; decide_resume() is the
//   takeover rule, tested step by step.
// - Written before the effect: the deploy flow (deploy_run.cpp) hands the new progress to every
//   transition of the rollout (advance() writes it in the same compare-and-set as the state), so
//   the row never says less than the world shows: "starting" before the candidate starts,
//   "stepping" with step i before the weight moves to step i, "baking" with the time before the
//   checks of step i run, "rolling_back" with the reason before the rollback starts.
// - parse_rollout() never throws: a text it cannot read (a newer Shipmate's, or damaged) is an
//   error naming the field, and decide_resume() then rolls back rather than guess.
// - Versions are validated before a deploy is recorded ([A-Za-z0-9._-]), so they never hold the
//   ';' and '=' that separate fields; the rolling-back reason, which may hold anything, is the
//   last field and takes the rest of the text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "commands/model.h"
#include "common/clock.h"
#include "common/result.h"
#include "storage/deploy_store.h"

namespace shipmate::commands {

enum class RolloutPhase {
  starting,      // the candidate (or, for a straight rollout, the version) is being brought up
  stepping,      // traffic is being moved to step `step`'s weight
  baking,        // step `step` holds at its weight: its bake time began at `bake_started_at`,
                 // then its checks run (or an operator is asked)
  rolling_back,  // the stable version is being put back, because of `why`
};
std::string_view to_string(RolloutPhase phase);

struct RolloutProgress {
  StrategyKind strategy = StrategyKind::rolling;
  RolloutPhase phase = RolloutPhase::starting;
  std::string stable;     // the version serving before (empty for a first deploy)
  std::string candidate;  // the version being rolled out
  int step = 0;           // 0-based index of the current step
  int steps = 1;          // how many steps (weights) the rollout has; blue-green and rolling: 1
  int weight = 0;         // percent of traffic on the candidate at the current step
  int passed = 0;         // steps whose checks passed (every step before `step`)
  EpochMillis bake_started_at = 0;  // when the current step's bake began (baking only)
  std::string why;                  // rolling_back only: what called for the rollback

  // Blue-green's colours: "blue" is the stable slot, "green" the candidate's; which serves.
  std::string serving_colour() const { return weight >= 100 ? "green" : "blue"; }
  // "step 2 of 3 (25%)", for people.
  std::string where() const;

  friend bool operator==(const RolloutProgress&, const RolloutProgress&) = default;
};

std::string format_rollout(const RolloutProgress& progress);
Result<RolloutProgress> parse_rollout(std::string_view text);

// The strategy a deploy actually runs: a rollback, or an environment the service's strategy does
// not apply to, goes straight in (rolling); a canary or blue-green falls back to rolling (still
// checked at 100%) on a target that cannot split traffic or with no stable version to split with.
RolloutStrategy effective_strategy(const RolloutStrategy& configured, std::string_view environment,
                                   storage::DeployKind kind, std::string_view previous_version,
                                   bool supports_traffic_split);

// The weights a strategy moves through, ending at 100 (blue-green: just 100; rolling: 100).
std::vector<int> rollout_weights(const RolloutStrategy& strategy);

enum class ResumeVerdict {
  carry_on,   // re-establish the recorded step and go on from it (input rollout_resumed)
  roll_back,  // put the stable version back through the normal rollback (rollback_resumed)
  fail,       // neither is possible: record the deploy as failed with `why` (input recovered)
};

struct ResumeDecision {
  ResumeVerdict verdict = ResumeVerdict::fail;
  std::string why;           // for people: why it rolls back or fails, or what carrying on means
  RolloutProgress progress;  // carry_on: the step to start from; roll_back: with phase and why
};

// What the deploy's new owner found and knows: the row, the strategy the service has now (the
// effective one: rolling for a rollback or an environment it does not apply to), whether the
// target can split traffic, and whether any check of this deploy began (a verifying event).
struct ResumeFacts {
  storage::DeployState state = storage::DeployState::deploying;
  std::string recorded;  // deploys.rollout
  std::string version;
  std::string previous_version;
  RolloutStrategy strategy;  // effective, as the new owner would run it
  bool supports_traffic_split = false;
  bool checks_began = false;
};

// The takeover rule for a deploy cut off in deploying or verifying (anything else: fail).
// - Rolling back when it stopped: roll back (the rollback is idempotent).
// - No recorded progress (a row from before progress was recorded): a straight rollout with no
//   check begun carries on (applying the same version again is idempotent); a canary or
//   blue-green, or checks begun, rolls back to the stable version, since nothing says how far
//   traffic had moved; with no stable version to return to, fail.
// - Recorded progress that cannot be read, or that no longer matches the strategy the service
//   has now (kind or number of steps changed), or a target that cannot split traffic any more:
//   roll back (fail without a stable version), saying why.
// - Otherwise carry on from the recorded step: steps whose checks passed are not checked again;
//   the current step's traffic is set again and its bake starts again (the candidate the stopped
//   owner ran stopped with it, so its bake so far does not count).
ResumeDecision decide_resume(const ResumeFacts& facts);

}  // namespace shipmate::commands
