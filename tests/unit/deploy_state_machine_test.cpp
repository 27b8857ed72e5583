// The deploy state machine, exhaustively: every (state, input) pair is either a transition this
// file lists or the one-line error, and the paths a deploy takes end where they should.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "commands/deploy_flow.h"
#include "commands/deploy_state_machine.h"
#include "tests/support/command_harness.h"

namespace shipmate::commands {
namespace {

using storage::DeployState;
using E = DeployEffect;
using I = DeployInput;
using S = DeployState;

// Sizes of the enums this file was written against. When one grows, every row of the table
// below has to be reconsidered for the new value, so the test says so instead of passing.
constexpr std::size_t kStates = 11;
constexpr std::size_t kInputs = 28;

const std::vector<E> kEnd = {E::release_slot, E::announce};
const std::vector<E> kEndStopping = {E::stop_work, E::release_slot, E::announce};

// The legal transitions, written out independently of the implementation. Anything not listed
// must be refused.
const std::map<std::pair<S, I>, Transition>& legal() {
  static const std::map<std::pair<S, I>, Transition> table = {
      {{S::requested, I::checks_passed}, {S::requested, {E::claim_slot}}},
      {{S::requested, I::approval_required},
       {S::awaiting_approval, {E::request_approvals, E::announce}}},
      {{S::requested, I::slot_free}, {S::requested, {E::check_build}}},
      {{S::requested, I::slot_busy}, {S::queued, {E::announce}}},
      {{S::requested, I::build_not_needed}, {S::deploying, {E::start_rollout}}},
      {{S::requested, I::build_required}, {S::building, {E::start_build}}},
      {{S::requested, I::cancel_requested}, {S::cancelled, kEnd}},
      {{S::requested, I::deadline_passed}, {S::timed_out, kEnd}},
      {{S::requested, I::recovered}, {S::failed, kEnd}},

      {{S::awaiting_approval, I::approval_granted}, {S::queued, {E::announce, E::claim_slot}}},
      {{S::awaiting_approval, I::approval_denied}, {S::cancelled, kEnd}},
      {{S::awaiting_approval, I::approval_expired}, {S::timed_out, kEnd}},
      {{S::awaiting_approval, I::cancel_requested}, {S::cancelled, kEnd}},
      {{S::awaiting_approval, I::deadline_passed}, {S::timed_out, kEnd}},
      {{S::awaiting_approval, I::recovered}, {S::failed, kEnd}},

      {{S::queued, I::slot_free}, {S::queued, {E::check_build}}},
      {{S::queued, I::slot_busy}, {S::queued, {}}},
      {{S::queued, I::build_not_needed}, {S::deploying, {E::start_rollout}}},
      {{S::queued, I::build_required}, {S::building, {E::start_build}}},
      {{S::queued, I::cancel_requested}, {S::cancelled, kEnd}},
      {{S::queued, I::deadline_passed}, {S::timed_out, kEnd}},
      {{S::queued, I::recovered}, {S::failed, kEnd}},

      {{S::building, I::build_started}, {S::building, {}}},
      {{S::building, I::build_succeeded}, {S::deploying, {E::start_rollout}}},
      {{S::building, I::build_failed}, {S::failed, kEnd}},
      {{S::building, I::cancel_requested}, {S::cancelled, kEndStopping}},
      {{S::building, I::deadline_passed}, {S::timed_out, kEndStopping}},
      {{S::building, I::recovered}, {S::building, {E::start_build}}},

      {{S::deploying, I::rollout_started}, {S::deploying, {}}},
      {{S::deploying, I::rollout_step_done}, {S::verifying, {E::start_verification}}},
      {{S::deploying, I::rollout_succeeded}, {S::succeeded, kEnd}},
      {{S::deploying, I::rollout_failed}, {S::failed, kEnd}},
      {{S::deploying, I::rollback_succeeded}, {S::rolled_back, kEnd}},
      {{S::deploying, I::rollback_failed}, {S::failed, kEnd}},
      {{S::deploying, I::cancel_requested}, {S::cancelled, kEndStopping}},
      {{S::deploying, I::deadline_passed}, {S::timed_out, kEndStopping}},
      {{S::deploying, I::recovered}, {S::failed, kEnd}},
      {{S::deploying, I::rollout_resumed}, {S::deploying, {E::start_rollout}}},
      {{S::deploying, I::rollback_resumed}, {S::deploying, {E::start_rollback}}},

      {{S::verifying, I::verification_passed}, {S::deploying, {E::start_rollout}}},
      {{S::verifying, I::verification_failed}, {S::deploying, {E::start_rollback}}},
      {{S::verifying, I::verification_inconclusive}, {S::verifying, {E::ask_operator}}},
      {{S::verifying, I::operator_continued}, {S::deploying, {E::start_rollout}}},
      {{S::verifying, I::operator_rolled_back}, {S::deploying, {E::start_rollback}}},
      {{S::verifying, I::cancel_requested}, {S::cancelled, kEndStopping}},
      {{S::verifying, I::deadline_passed}, {S::timed_out, kEndStopping}},
      {{S::verifying, I::recovered}, {S::failed, kEnd}},
      {{S::verifying, I::rollout_resumed}, {S::deploying, {E::start_rollout}}},
      {{S::verifying, I::rollback_resumed}, {S::deploying, {E::start_rollback}}},
  };
  return table;
}

std::string describe(S state, I input) {
  return std::string(storage::to_string(state)) + " + " + std::string(to_string(input));
}

std::string refusal(S state, I input) {
  return "deploy in state " + std::string(storage::to_string(state)) + " cannot take input " +
         std::string(to_string(input));
}

// Feeds inputs in order from `start`, as a caller would, and remembers where the deploy went
// and every effect it was asked to carry out.
struct Run {
  S state;
  std::vector<S> persisted;  // the states a caller would write as events
  std::vector<E> effects;
};

Run drive(S start, const std::vector<I>& inputs) {
  Run run{start, {}, {}};
  for (auto input : inputs) {
    auto answer = next_step(run.state, input);
    if (!answer) {
      ADD_FAILURE() << answer.error().message;
      return run;
    }
    if (answer->to != run.state)
      run.persisted.push_back(answer->to);
    run.state = answer->to;
    run.effects.insert(run.effects.end(), answer->effects.begin(), answer->effects.end());
  }
  return run;
}

TEST(DeployStateMachine, EnumsAreTheSizeTheTableWasDecidedFor) {
  EXPECT_EQ(all_deploy_states().size(), kStates)
      << "a deploy state was added or removed: decide its row in legal() and in the machine";
  EXPECT_EQ(all_deploy_inputs().size(), kInputs)
      << "a deploy input was added or removed: decide it in every state in legal() and the machine";
  std::set<std::string_view> names;
  for (auto input : all_deploy_inputs()) {
    EXPECT_NE(to_string(input), "unknown");
    names.insert(to_string(input));
  }
  EXPECT_EQ(names.size(), all_deploy_inputs().size()) << "input names must be unique";
}

TEST(DeployStateMachine, EveryStateAndInputIsEitherListedOrRefused) {
  std::size_t legal_seen = 0;
  for (auto state : all_deploy_states()) {
    for (auto input : all_deploy_inputs()) {
      auto answer = next_step(state, input);
      auto expected = legal().find({state, input});
      if (expected == legal().end()) {
        ASSERT_FALSE(answer.ok()) << describe(state, input) << " should be refused";
        EXPECT_EQ(answer.error().message, refusal(state, input));
      } else {
        ++legal_seen;
        ASSERT_TRUE(answer.ok()) << describe(state, input) << ": " << answer.error().message;
        EXPECT_EQ(answer->to, expected->second.to) << describe(state, input);
        EXPECT_EQ(answer->effects, expected->second.effects) << describe(state, input);
      }
    }
  }
  EXPECT_EQ(legal_seen, legal().size()) << "the table lists a state or input that does not exist";
}

TEST(DeployStateMachine, RefusalIsOneLineNamingStateAndInput) {
  auto answer = next_step(S::succeeded, I::build_failed);
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.error().message, "deploy in state succeeded cannot take input build_failed");
  EXPECT_EQ(answer.error().message.find('\n'), std::string::npos);
}

TEST(DeployStateMachine, TerminalStatesRejectEverything) {
  for (auto state : all_deploy_states()) {
    if (!storage::is_terminal(state))
      continue;
    for (auto input : all_deploy_inputs()) {
      auto answer = next_step(state, input);
      ASSERT_FALSE(answer.ok()) << describe(state, input);
      EXPECT_EQ(answer.error().message, refusal(state, input));
    }
  }
}

TEST(DeployStateMachine, EveryEndingReleasesTheSlotAndAnnouncesLast) {
  for (const auto& [key, transition] : legal()) {
    if (!storage::is_terminal(transition.to))
      continue;
    ASSERT_GE(transition.effects.size(), 2u) << describe(key.first, key.second);
    const auto n = transition.effects.size();
    EXPECT_EQ(transition.effects[n - 2], E::release_slot) << describe(key.first, key.second);
    EXPECT_EQ(transition.effects[n - 1], E::announce) << describe(key.first, key.second);
  }
}

TEST(DeployStateMachine, StepsThatKeepTheStateOnlyAskOrAnnounce) {
  // Such steps are not persisted (see the header), so they must not start anything.
  const std::set<E> harmless = {E::claim_slot, E::check_build, E::ask_operator, E::announce};
  for (const auto& [key, transition] : legal()) {
    if (transition.to != key.first)
      continue;
    // The one exception: resuming a build after a restart. `building` was persisted when the
    // build first started and the CI run id right after the trigger, so asking again after
    // another crash follows the same run instead of starting a second one.
    if (key == std::pair{S::building, I::recovered})
      continue;
    // And its sibling for a straight rollout a new owner carries on: `deploying` was persisted
    // before the first apply, and applying the same version again is idempotent on every target.
    if (key == std::pair{S::deploying, I::rollout_resumed})
      continue;
    // And a new owner rolling back from deploying: the step writes the deploy's rollout progress
    // (phase rolling_back and why) in a fenced write before the rollback starts, so a third
    // owner reads the same decision (deploy_steps.h, advance's `rollout`).
    if (key == std::pair{S::deploying, I::rollback_resumed})
      continue;
    for (auto effect : transition.effects) {
      EXPECT_TRUE(harmless.count(effect) > 0)
          << describe(key.first, key.second) << " keeps the state but asks for "
          << to_string(effect);
    }
  }
}

TEST(DeployStateMachine, HappyPathWithoutApprovalWritesOnlyDeployingAndTheOutcome) {
  auto run = drive(S::requested, {I::checks_passed, I::slot_free, I::build_not_needed,
                                  I::rollout_started, I::rollout_succeeded});
  EXPECT_EQ(run.state, S::succeeded);
  EXPECT_EQ(run.persisted, (std::vector<S>{S::deploying, S::succeeded}));
  EXPECT_EQ(run.effects, (std::vector<E>{E::claim_slot, E::check_build, E::start_rollout,
                                         E::release_slot, E::announce}));
}

TEST(DeployStateMachine, HappyPathWithApproval) {
  auto run = drive(S::requested, {I::approval_required, I::approval_granted, I::slot_free,
                                  I::build_not_needed, I::rollout_succeeded});
  EXPECT_EQ(run.state, S::succeeded);
  EXPECT_EQ(run.persisted,
            (std::vector<S>{S::awaiting_approval, S::queued, S::deploying, S::succeeded}));
  EXPECT_EQ(run.effects,
            (std::vector<E>{E::request_approvals, E::announce, E::announce, E::claim_slot,
                            E::check_build, E::start_rollout, E::release_slot, E::announce}));
}

TEST(DeployStateMachine, BusySlotQueuesUntilItFrees) {
  auto run = drive(S::requested, {I::checks_passed, I::slot_busy, I::slot_busy, I::slot_free,
                                  I::build_not_needed, I::rollout_succeeded});
  EXPECT_EQ(run.state, S::succeeded);
  EXPECT_EQ(run.persisted, (std::vector<S>{S::queued, S::deploying, S::succeeded}));
  EXPECT_EQ(run.effects, (std::vector<E>{E::claim_slot, E::announce, E::check_build,
                                         E::start_rollout, E::release_slot, E::announce}));
}

TEST(DeployStateMachine, HappyPathWithBuild) {
  auto run = drive(S::requested, {I::checks_passed, I::slot_free, I::build_required,
                                  I::build_started, I::build_succeeded, I::rollout_succeeded});
  EXPECT_EQ(run.state, S::succeeded);
  EXPECT_EQ(run.persisted, (std::vector<S>{S::building, S::deploying, S::succeeded}));
  EXPECT_EQ(run.effects, (std::vector<E>{E::claim_slot, E::check_build, E::start_build,
                                         E::start_rollout, E::release_slot, E::announce}));
}

TEST(DeployStateMachine, FailedBuildFailsTheDeploy) {
  auto run = drive(S::queued, {I::slot_free, I::build_required, I::build_failed});
  EXPECT_EQ(run.state, S::failed);
  EXPECT_EQ(run.persisted, (std::vector<S>{S::building, S::failed}));
}

TEST(DeployStateMachine, HappyPathWithVerificationOverTwoCanarySteps) {
  auto run =
      drive(S::deploying, {I::rollout_step_done, I::verification_passed, I::rollout_step_done,
                           I::verification_passed, I::rollout_succeeded});
  EXPECT_EQ(run.state, S::succeeded);
  EXPECT_EQ(run.persisted,
            (std::vector<S>{S::verifying, S::deploying, S::verifying, S::deploying, S::succeeded}));
  EXPECT_EQ(run.effects,
            (std::vector<E>{E::start_verification, E::start_rollout, E::start_verification,
                            E::start_rollout, E::release_slot, E::announce}));
}

TEST(DeployStateMachine, CanaryBreachRollsBackWithoutAsking) {
  auto run =
      drive(S::deploying, {I::rollout_step_done, I::verification_failed, I::rollback_succeeded});
  EXPECT_EQ(run.state, S::rolled_back);
  EXPECT_EQ(run.persisted, (std::vector<S>{S::verifying, S::deploying, S::rolled_back}));
  EXPECT_EQ(run.effects, (std::vector<E>{E::start_verification, E::start_rollback, E::release_slot,
                                         E::announce}));
}

TEST(DeployStateMachine, FailedRollbackEndsFailed) {
  auto run = drive(S::verifying, {I::verification_failed, I::rollback_failed});
  EXPECT_EQ(run.state, S::failed);
}

TEST(DeployStateMachine, InconclusiveAsksAndContinues) {
  auto run = drive(S::verifying,
                   {I::verification_inconclusive, I::operator_continued, I::rollout_succeeded});
  EXPECT_EQ(run.state, S::succeeded);
  EXPECT_EQ(run.persisted, (std::vector<S>{S::deploying, S::succeeded}));
  EXPECT_EQ(run.effects,
            (std::vector<E>{E::ask_operator, E::start_rollout, E::release_slot, E::announce}));
}

TEST(DeployStateMachine, InconclusiveAsksAndRollsBack) {
  auto run = drive(S::verifying, {I::verification_inconclusive, I::verification_inconclusive,
                                  I::operator_rolled_back, I::rollback_succeeded});
  EXPECT_EQ(run.state, S::rolled_back);
  EXPECT_EQ(run.effects, (std::vector<E>{E::ask_operator, E::ask_operator, E::start_rollback,
                                         E::release_slot, E::announce}));
}

TEST(DeployStateMachine, DeniedApprovalIsCancelledAndExpiredApprovalTimesOut) {
  EXPECT_EQ(drive(S::awaiting_approval, {I::approval_denied}).state, S::cancelled);
  EXPECT_EQ(drive(S::awaiting_approval, {I::approval_expired}).state, S::timed_out);
}

TEST(DeployStateMachine, CancelAndDeadlineEndEveryLiveStateAndStopRunningWork) {
  const std::set<S> working = {S::building, S::deploying, S::verifying};
  for (auto state : all_deploy_states()) {
    if (storage::is_terminal(state))
      continue;
    const auto& expected = working.count(state) ? kEndStopping : kEnd;
    auto cancel = next_step(state, I::cancel_requested);
    ASSERT_TRUE(cancel.ok()) << describe(state, I::cancel_requested);
    EXPECT_EQ(cancel->to, S::cancelled);
    EXPECT_EQ(cancel->effects, expected) << describe(state, I::cancel_requested);
    auto deadline = next_step(state, I::deadline_passed);
    ASSERT_TRUE(deadline.ok()) << describe(state, I::deadline_passed);
    EXPECT_EQ(deadline->to, S::timed_out);
    EXPECT_EQ(deadline->effects, expected) << describe(state, I::deadline_passed);
  }
}

TEST(DeployStateMachine, RecoveryResumesABuildAndFailsEveryOtherNonTerminalState) {
  auto resumed = next_step(S::building, I::recovered);
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(resumed->to, S::building);
  EXPECT_EQ(resumed->effects, std::vector<E>{E::start_build});
  int recovered = 1;
  for (auto state : all_deploy_states()) {
    if (storage::is_terminal(state) || state == S::building)
      continue;
    ++recovered;
    auto answer = next_step(state, I::recovered);
    ASSERT_TRUE(answer.ok()) << describe(state, I::recovered);
    EXPECT_EQ(answer->to, S::failed) << describe(state, I::recovered);
    EXPECT_EQ(answer->effects, kEnd) << describe(state, I::recovered);
  }
  EXPECT_EQ(recovered, 6);
}

TEST(DeployStateMachine, LateReportsCannotReviveAFinishedDeploy) {
  EXPECT_FALSE(next_step(S::cancelled, I::build_succeeded).ok());
  EXPECT_FALSE(next_step(S::timed_out, I::rollout_succeeded).ok());
  EXPECT_FALSE(next_step(S::rolled_back, I::rollback_succeeded).ok());
  EXPECT_FALSE(next_step(S::failed, I::recovered).ok());
}

TEST(DeployStateMachine, AnswersAreTheSameFromManyThreads) {
  // Pure and without shared mutable state: concurrent callers get the table, not a race.
  auto snapshot = [] {
    std::vector<std::string> out;
    for (auto state : all_deploy_states()) {
      for (auto input : all_deploy_inputs()) {
        auto answer = next_step(state, input);
        out.push_back(answer.ok() ? std::string(storage::to_string(answer->to))
                                  : answer.error().message);
      }
    }
    return out;
  };
  const auto expected = snapshot();
  std::vector<std::vector<std::string>> results(4);
  std::vector<std::thread> threads;
  for (auto& result : results)
    threads.emplace_back([&result, &snapshot] { result = snapshot(); });
  for (auto& thread : threads)
    thread.join();
  for (const auto& result : results)
    EXPECT_EQ(result, expected);
}

// The flow's side of the contract: an answer the machine refuses is a bug in the flow. It is
// logged, the deploy is recorded as failed with the reason, and chat is told; nothing crashes.
// (Kept here rather than in deploy_flow_test.cpp because it exists to exercise the machine.)
class StateChangingTarget final : public integrations::DeployTarget {
 public:
  explicit StateChangingTarget(storage::DeployStore& deploys) : deploys_(deploys) {}
  std::string kind() const override { return inner_.kind(); }
  Status validate(const std::string& env, const std::string& version) const override {
    return inner_.validate(env, version);
  }
  std::vector<std::string> available_versions() const override {
    return inner_.available_versions();
  }
  std::optional<std::string> current_version(const std::string& env) const override {
    return inner_.current_version(env);
  }
  std::string describe(const std::string& env) const override { return inner_.describe(env); }
  boost::asio::awaitable<integrations::ApplyOutcome> apply(
      std::string env, std::string version, integrations::ProgressFn progress) override {
    // Something else moved the deploy on while the target worked, so the rollout's result no
    // longer fits its state.
    deploys_.transition(1, S::verifying, "moved by the test");
    auto outcome = co_await inner_.apply(env, version, progress);
    co_return outcome;
  }
  boost::asio::awaitable<integrations::ApplyOutcome> roll_back(
      std::string env, std::string version, integrations::ProgressFn progress) override {
    auto outcome = co_await inner_.roll_back(env, version, progress);
    co_return outcome;
  }
  boost::asio::awaitable<std::vector<integrations::ApplyOutcome>> restore() override {
    auto outcomes = co_await inner_.restore();
    co_return outcomes;
  }
  boost::asio::awaitable<void> shutdown() override { co_await inner_.shutdown(); }

 private:
  storage::DeployStore& deploys_;
  testing::FakeTarget inner_{std::vector<std::string>{"v1", "v2", "v3"}};
};

TEST(DeployFlowWithStateMachine, IllegalTransitionIsRecordedAsFailedNotACrash) {
  testing::CommandHarness h;
  h.targets["hello"] = std::make_unique<StateChangingTarget>(h.deploys);
  std::string out = h.run("alice", "deploy hello v1 to staging");
  const std::string expected =
      "Deploy #1 failed: internal error: deploy in state verifying cannot take input "
      "rollout_succeeded";
  EXPECT_NE(out.find(expected), std::string::npos) << out;
  auto deploy = h.deploys.get(1);
  ASSERT_TRUE(deploy);
  EXPECT_EQ(deploy->state, S::failed);
  EXPECT_EQ(deploy->detail,
            "internal error: deploy in state verifying cannot take input rollout_succeeded");
  EXPECT_EQ(h.audit.tail(1).back().entry.action, "deploy.failed");
  EXPECT_TRUE(h.deploys.in_flight().empty());
}

TEST(DeployFlowWithStateMachine, RecoveryAndCancelGoThroughTheMachine) {
  testing::CommandHarness h;
  storage::NewDeploy orphan{"hello", "staging", "v2",  "v1", storage::DeployKind::deploy,
                            "bob",   "",        "test"};
  auto building = h.deploys.create(orphan);
  h.deploys.transition(building.id, S::building, "building v2");
  orphan.environment = "production";
  auto awaiting = h.deploys.create(orphan);
  h.deploys.transition(awaiting.id, S::awaiting_approval, "waiting for approvals");
  auto reconciled = reconcile_interrupted_deploys(*h.services);
  // A deploy waiting for approval is not running anything: it keeps waiting across a restart.
  ASSERT_EQ(reconciled.size(), 1u);
  EXPECT_EQ(reconciled[0].id, building.id);
  EXPECT_EQ(h.deploys.get(awaiting.id)->state, S::awaiting_approval);
  for (const auto& deploy : reconciled) {
    EXPECT_EQ(deploy.state, S::failed);
    auto events = h.deploys.events(deploy.id);
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(events.back().to, S::failed);
  }

  // One live deploy per target: production's is still waiting, staging's was reconciled.
  orphan.environment = "staging";
  auto running = h.deploys.create(orphan);
  h.deploys.transition(running.id, S::deploying, "deploying v2");
  const auto tracked = h.runtime.track(running.id);
  auto cancelled = cancel_running_deploys(*h.services, "cancelled: SIGTERM");
  ASSERT_EQ(cancelled.size(), 1u);
  EXPECT_EQ(cancelled[0].state, S::cancelled);
  EXPECT_EQ(cancelled[0].detail, "cancelled: SIGTERM");
  EXPECT_EQ(h.audit.tail(1).back().entry.action, "deploy.cancelled");
}

}  // namespace
}  // namespace shipmate::commands
