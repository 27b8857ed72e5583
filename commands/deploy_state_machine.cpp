#include "commands/deploy_state_machine.h"

#include <optional>
#include <string>

namespace shipmate::commands {
namespace {

using storage::DeployState;
using E = DeployEffect;
using I = DeployInput;

// Every way a deploy ends lets the next queued deploy start and tells chat.
Transition finish(DeployState to) {
  return {to, {E::release_slot, E::announce}};
}

// Ending while work may still run for the deploy (a build, a rollout, checks): stop it first so
// nothing changes the environment after the deploy is recorded as over.
Transition finish_stopping(DeployState to) {
  return {to, {E::stop_work, E::release_slot, E::announce}};
}

// The table. Each non-terminal state switches over every input with no default, so a new input
// does not compile until every state has decided what it means there. std::nullopt is illegal.
std::optional<Transition> requested(I input) {
  switch (input) {
    case I::checks_passed:
      return Transition{DeployState::requested, {E::claim_slot}};
    case I::approval_required:
      return Transition{DeployState::awaiting_approval, {E::request_approvals, E::announce}};
    case I::slot_free:
      return Transition{DeployState::requested, {E::check_build}};
    case I::slot_busy:
      return Transition{DeployState::queued, {E::announce}};
    case I::build_not_needed:
      return Transition{DeployState::deploying, {E::start_rollout}};
    case I::build_required:
      return Transition{DeployState::building, {E::start_build}};
    case I::cancel_requested:
      return finish(DeployState::cancelled);
    case I::deadline_passed:
      return finish(DeployState::timed_out);
    // Nothing was started yet; the new process knows none of the answers already given.
    case I::recovered:
      return finish(DeployState::failed);
    case I::rollout_resumed:
    case I::rollback_resumed:
    case I::approval_granted:
    case I::approval_denied:
    case I::approval_expired:
    case I::build_started:
    case I::build_succeeded:
    case I::build_failed:
    case I::rollout_started:
    case I::rollout_step_done:
    case I::rollout_succeeded:
    case I::rollout_failed:
    case I::verification_passed:
    case I::verification_failed:
    case I::verification_inconclusive:
    case I::operator_continued:
    case I::operator_rolled_back:
    case I::rollback_succeeded:
    case I::rollback_failed:
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<Transition> awaiting_approval(I input) {
  switch (input) {
    // Approved: it now waits for its slot like any other deploy, and chat hears who approved.
    case I::approval_granted:
      return Transition{DeployState::queued, {E::announce, E::claim_slot}};
    // A denial is a decision, not a failed change, so it does not count against the change
    // failure rate.
    case I::approval_denied:
      return finish(DeployState::cancelled);
    case I::approval_expired:
      return finish(DeployState::timed_out);
    case I::cancel_requested:
      return finish(DeployState::cancelled);
    case I::deadline_passed:
      return finish(DeployState::timed_out);
    case I::recovered:
      return finish(DeployState::failed);
    case I::rollout_resumed:
    case I::rollback_resumed:
    case I::checks_passed:
    case I::approval_required:
    case I::slot_free:
    case I::slot_busy:
    case I::build_not_needed:
    case I::build_required:
    case I::build_started:
    case I::build_succeeded:
    case I::build_failed:
    case I::rollout_started:
    case I::rollout_step_done:
    case I::rollout_succeeded:
    case I::rollout_failed:
    case I::verification_passed:
    case I::verification_failed:
    case I::verification_inconclusive:
    case I::operator_continued:
    case I::operator_rolled_back:
    case I::rollback_succeeded:
    case I::rollback_failed:
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<Transition> queued(I input) {
  switch (input) {
    case I::slot_free:
      return Transition{DeployState::queued, {E::check_build}};
    // Still waiting; it was announced as queued when it got here.
    case I::slot_busy:
      return Transition{DeployState::queued, {}};
    case I::build_not_needed:
      return Transition{DeployState::deploying, {E::start_rollout}};
    case I::build_required:
      return Transition{DeployState::building, {E::start_build}};
    case I::cancel_requested:
      return finish(DeployState::cancelled);
    case I::deadline_passed:
      return finish(DeployState::timed_out);
    case I::recovered:
      return finish(DeployState::failed);
    case I::rollout_resumed:
    case I::rollback_resumed:
    case I::checks_passed:
    case I::approval_required:
    case I::approval_granted:
    case I::approval_denied:
    case I::approval_expired:
    case I::build_started:
    case I::build_succeeded:
    case I::build_failed:
    case I::rollout_started:
    case I::rollout_step_done:
    case I::rollout_succeeded:
    case I::rollout_failed:
    case I::verification_passed:
    case I::verification_failed:
    case I::verification_inconclusive:
    case I::operator_continued:
    case I::operator_rolled_back:
    case I::rollback_succeeded:
    case I::rollback_failed:
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<Transition> building(I input) {
  switch (input) {
    // CI accepted the build; the state already says so, the caller may record the run link.
    case I::build_started:
      return Transition{DeployState::building, {}};
    case I::build_succeeded:
      return Transition{DeployState::deploying, {E::start_rollout}};
    case I::build_failed:
      return finish(DeployState::failed);
    case I::cancel_requested:
      return finish_stopping(DeployState::cancelled);
    case I::deadline_passed:
      return finish_stopping(DeployState::timed_out);
    // The environment was not touched yet and the CI run (if one started) carries on without
    // Shipmate: a restarted Shipmate resumes by following the recorded run, or starting one.
    case I::recovered:
      return Transition{DeployState::building, {E::start_build}};
    case I::rollout_resumed:
    case I::rollback_resumed:
    case I::checks_passed:
    case I::approval_required:
    case I::approval_granted:
    case I::approval_denied:
    case I::approval_expired:
    case I::slot_free:
    case I::slot_busy:
    case I::build_not_needed:
    case I::build_required:
    case I::rollout_started:
    case I::rollout_step_done:
    case I::rollout_succeeded:
    case I::rollout_failed:
    case I::verification_passed:
    case I::verification_failed:
    case I::verification_inconclusive:
    case I::operator_continued:
    case I::operator_rolled_back:
    case I::rollback_succeeded:
    case I::rollback_failed:
      return std::nullopt;
  }
  return std::nullopt;
}

// `deploying` covers every change of what is served: the rollout forward and a rollback after a
// failed or abandoned verification, so it takes both kinds of result.
std::optional<Transition> deploying(I input) {
  switch (input) {
    case I::rollout_started:
      return Transition{DeployState::deploying, {}};
    case I::rollout_step_done:
      return Transition{DeployState::verifying, {E::start_verification}};
    case I::rollout_succeeded:
      return finish(DeployState::succeeded);
    // The target leaves the previous version serving when a rollout fails (the local-process
    // target switches only after a healthy start), so there is nothing to roll back.
    case I::rollout_failed:
      return finish(DeployState::failed);
    case I::rollback_succeeded:
      return finish(DeployState::rolled_back);
    case I::rollback_failed:
      return finish(DeployState::failed);
    case I::cancel_requested:
      return finish_stopping(DeployState::cancelled);
    case I::deadline_passed:
      return finish_stopping(DeployState::timed_out);
    // The old process's work died with it; the target restores its recorded release on start.
    case I::recovered:
      return finish(DeployState::failed);
    // A new owner found the first rollout of a straight (rolling) deploy in progress: applying
    // the same version again is idempotent on every target, so it carries the rollout on
    // (deploy_recovery.h says when this applies instead of `recovered`).
    case I::rollout_resumed:
      return Transition{DeployState::deploying, {E::start_rollout}};
    // A new owner found the rollout past the point where carrying it on is safe (or found it
    // already rolling back): it puts the stable version back through the normal rollback.
    case I::rollback_resumed:
      return Transition{DeployState::deploying, {E::start_rollback}};
    case I::checks_passed:
    case I::approval_required:
    case I::approval_granted:
    case I::approval_denied:
    case I::approval_expired:
    case I::slot_free:
    case I::slot_busy:
    case I::build_not_needed:
    case I::build_required:
    case I::build_started:
    case I::build_succeeded:
    case I::build_failed:
    case I::verification_passed:
    case I::verification_failed:
    case I::verification_inconclusive:
    case I::operator_continued:
    case I::operator_rolled_back:
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<Transition> verifying(I input) {
  switch (input) {
    // The step held: continue with the next step, or the final switch.
    case I::verification_passed:
      return Transition{DeployState::deploying, {E::start_rollout}};
    // A breach is a clear answer: roll back without asking.
    case I::verification_failed:
      return Transition{DeployState::deploying, {E::start_rollback}};
    // No data is not a pass: a person decides rather than the bot guessing. The state does not
    // change, so asking again after a restart is harmless.
    case I::verification_inconclusive:
      return Transition{DeployState::verifying, {E::ask_operator}};
    case I::operator_continued:
      return Transition{DeployState::deploying, {E::start_rollout}};
    case I::operator_rolled_back:
      return Transition{DeployState::deploying, {E::start_rollback}};
    case I::cancel_requested:
      return finish_stopping(DeployState::cancelled);
    case I::deadline_passed:
      return finish_stopping(DeployState::timed_out);
    case I::recovered:
      return finish(DeployState::failed);
    // A new owner found a step being checked (its bake time and the checks' verdicts lived in
    // the stopped process): it re-establishes the recorded step and checks it again from the
    // start, back in deploying; or, where carrying on is unsafe, rolls back.
    case I::rollout_resumed:
      return Transition{DeployState::deploying, {E::start_rollout}};
    case I::rollback_resumed:
      return Transition{DeployState::deploying, {E::start_rollback}};
    case I::checks_passed:
    case I::approval_required:
    case I::approval_granted:
    case I::approval_denied:
    case I::approval_expired:
    case I::slot_free:
    case I::slot_busy:
    case I::build_not_needed:
    case I::build_required:
    case I::build_started:
    case I::build_succeeded:
    case I::build_failed:
    case I::rollout_started:
    case I::rollout_step_done:
    case I::rollout_succeeded:
    case I::rollout_failed:
    case I::rollback_succeeded:
    case I::rollback_failed:
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<Transition> lookup(DeployState state, I input) {
  switch (state) {
    case DeployState::requested:
      return requested(input);
    case DeployState::awaiting_approval:
      return awaiting_approval(input);
    case DeployState::queued:
      return queued(input);
    case DeployState::building:
      return building(input);
    case DeployState::deploying:
      return deploying(input);
    case DeployState::verifying:
      return verifying(input);
    // Over is over: a late report (a build finishing after a cancel) must not revive a deploy.
    case DeployState::succeeded:
    case DeployState::failed:
    case DeployState::rolled_back:
    case DeployState::cancelled:
    case DeployState::timed_out:
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(DeployInput input) {
  switch (input) {
    case I::checks_passed:
      return "checks_passed";
    case I::approval_required:
      return "approval_required";
    case I::approval_granted:
      return "approval_granted";
    case I::approval_denied:
      return "approval_denied";
    case I::approval_expired:
      return "approval_expired";
    case I::slot_free:
      return "slot_free";
    case I::slot_busy:
      return "slot_busy";
    case I::build_not_needed:
      return "build_not_needed";
    case I::build_required:
      return "build_required";
    case I::build_started:
      return "build_started";
    case I::build_succeeded:
      return "build_succeeded";
    case I::build_failed:
      return "build_failed";
    case I::rollout_started:
      return "rollout_started";
    case I::rollout_step_done:
      return "rollout_step_done";
    case I::rollout_succeeded:
      return "rollout_succeeded";
    case I::rollout_failed:
      return "rollout_failed";
    case I::verification_passed:
      return "verification_passed";
    case I::verification_failed:
      return "verification_failed";
    case I::verification_inconclusive:
      return "verification_inconclusive";
    case I::operator_continued:
      return "operator_continued";
    case I::operator_rolled_back:
      return "operator_rolled_back";
    case I::rollback_succeeded:
      return "rollback_succeeded";
    case I::rollback_failed:
      return "rollback_failed";
    case I::cancel_requested:
      return "cancel_requested";
    case I::deadline_passed:
      return "deadline_passed";
    case I::recovered:
      return "recovered";
    case I::rollout_resumed:
      return "rollout_resumed";
    case I::rollback_resumed:
      return "rollback_resumed";
  }
  return "unknown";
}

std::string_view to_string(DeployEffect effect) {
  switch (effect) {
    case E::claim_slot:
      return "claim_slot";
    case E::check_build:
      return "check_build";
    case E::request_approvals:
      return "request_approvals";
    case E::start_build:
      return "start_build";
    case E::start_rollout:
      return "start_rollout";
    case E::start_verification:
      return "start_verification";
    case E::ask_operator:
      return "ask_operator";
    case E::start_rollback:
      return "start_rollback";
    case E::stop_work:
      return "stop_work";
    case E::release_slot:
      return "release_slot";
    case E::announce:
      return "announce";
  }
  return "unknown";
}

// Enumerators are contiguous from zero and every to_string() covers them all (a missing case
// does not compile), so walking until "unknown" finds every value, including ones added later.
const std::vector<DeployInput>& all_deploy_inputs() {
  static const std::vector<DeployInput> inputs = [] {
    std::vector<DeployInput> out;
    for (int i = 0; to_string(static_cast<DeployInput>(i)) != "unknown"; ++i)
      out.push_back(static_cast<DeployInput>(i));
    return out;
  }();
  return inputs;
}

const std::vector<DeployState>& all_deploy_states() {
  static const std::vector<DeployState> states = [] {
    std::vector<DeployState> out;
    for (int i = 0; storage::to_string(static_cast<DeployState>(i)) != "unknown"; ++i)
      out.push_back(static_cast<DeployState>(i));
    return out;
  }();
  return states;
}

Result<Transition> next_step(DeployState state, DeployInput input) {
  if (auto transition = lookup(state, input))
    return *std::move(transition);
  return make_error("deploy in state " + std::string(storage::to_string(state)) +
                    " cannot take input " + std::string(to_string(input)));
}

}  // namespace shipmate::commands
