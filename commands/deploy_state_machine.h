// The deploy state machine: told what happened to a deploy, it answers what to do next.
//
// Contract
// - Pure: next_step() depends only on its arguments. No sockets, clocks, storage, asio or
//   logging inside, so it is safe to call from any thread and every answer is reproducible in a
//   unit test.
// - The answer is either a Transition {to, effects} or an Error that names the illegal pair in
//   one line ("deploy in state succeeded cannot take input build_failed"). Terminal states
//   (succeeded, failed, rolled_back, cancelled, timed_out) accept no input at all.
// - Persist before acting: when `to` differs from the current state the caller MUST record the
//   transition as a deploy event (DeployStore::transition) BEFORE carrying out any effect, and
//   carry the effects out in the order given. A crash then leaves the database knowing at least
//   as much as the world does, and start-up reconciliation sees where the deploy had got to.
// - A transition whose `to` equals the current state changes nothing durable. Such answers only
//   ask the caller a question (claim_slot, check_build) or re-announce the current state, which
//   are safe to repeat after a crash, so there is nothing to persist.
// - The machine knows only the state, not which questions were already answered inside it: the
//   effects it returns tell the caller what to find out next, and the caller answers in that
//   order (in `requested`: checks first, then the slot, then the build).
//
// Life of a deploy (the happy paths; every row is in the table in the .cpp):
//   requested --checks_passed--> (claim_slot) --slot_free--> (check_build)
//             --build_not_needed--> deploying --rollout_succeeded--> succeeded
//   requested --approval_required--> awaiting_approval --approval_granted--> queued --slot_free
//             --> (check_build) --build_required--> building --build_succeeded--> deploying
//   deploying --rollout_step_done--> verifying --verification_passed--> deploying (next step or
//             final switch) --rollout_succeeded--> succeeded
//   verifying --verification_failed--> deploying (rolling back) --rollback_succeeded-->
//             rolled_back
//   verifying --verification_inconclusive--> verifying (ask_operator) --operator_continued /
//             operator_rolled_back--> deploying
#pragma once

#include <string_view>
#include <vector>

#include "common/result.h"
#include "storage/deploy_store.h"

namespace shipmate::commands {

// What happened. Each is reported by whoever observed it: policy evaluation, approvers, the slot
// (one active deploy per service@environment), CI, the deploy target, metric checks, an
// operator in chat, a timer, or start-up reconciliation.
enum class DeployInput {
  checks_passed,              // every policy check passed and no approval is needed
  approval_required,          // the checks passed but the environment needs approvals
  approval_granted,           // enough permitted approvers approved (the count is policy's)
  approval_denied,            // an approver denied
  approval_expired,           // approvals did not arrive in time
  slot_free,                  // no other deploy of service@environment is active: this one starts
  slot_busy,                  // another deploy of service@environment is active: this one waits
  build_not_needed,           // the artifact for the version already exists
  build_required,             // the version has to be built first
  build_started,              // CI accepted the build (a run exists)
  build_succeeded,            // the artifact exists now
  build_failed,               // CI failed to build it
  rollout_started,            // the target began changing what is served
  rollout_step_done,          // a step (canary weight, green slot) is in place, awaiting checks
  rollout_succeeded,          // the rollout is complete: the version serves everything
  rollout_failed,             // the target failed; the previous version keeps serving
  verification_passed,        // metric checks of the current step passed
  verification_failed,        // a metric check breached its threshold
  verification_inconclusive,  // no data or the metrics source was unreachable
  operator_continued,         // asked after an inconclusive check, an operator said continue
  operator_rolled_back,       // ... or said roll back
  rollback_succeeded,         // the previous version serves again
  rollback_failed,            // the rollback itself failed
  cancel_requested,           // a person or shutdown cancelled the deploy
  deadline_passed,            // the deploy's overall deadline passed
  recovered,                  // found in flight by a new process after a restart (a build is
                              // resumed; anything further along is over)
  rollout_resumed,            // a new owner carries on a rollout cut off in deploying or
                              // verifying, from the step its recorded progress names
  rollback_resumed,           // a new owner carries on (or starts) the rollback to the stable
                              // version of a deploy cut off in deploying or verifying
};

// What to do next, carried out in the order given, after persisting the transition.
enum class DeployEffect {
  claim_slot,          // question: is service@environment free? answer slot_free or slot_busy
  check_build,         // question: does the version need a build? build_not_needed/required
  request_approvals,   // ask the environment's approvers in chat (approve / deny buttons)
  start_build,         // start the CI build; report build_started, then succeeded or failed
  start_rollout,       // start or continue the rollout (next canary step, or the final switch)
  start_verification,  // run the metric checks for the current step (after its bake time)
  ask_operator,        // post "continue / roll back?" because the checks could not decide
  start_rollback,      // put the previous version back
  stop_work,           // stop whatever runs for this deploy (build, rollout, checks)
  release_slot,        // let the next queued deploy of service@environment start (idempotent:
                       // nothing happens when this deploy does not hold the slot)
  announce,            // update the deploy's status message to say the state it is now in
};

struct Transition {
  storage::DeployState to = storage::DeployState::requested;
  std::vector<DeployEffect> effects;

  friend bool operator==(const Transition&, const Transition&) = default;
};

std::string_view to_string(DeployInput input);
std::string_view to_string(DeployEffect effect);

// Every input and every state, in declaration order, so tests and tables can cover the full
// cross product and a new enumerator cannot be forgotten.
const std::vector<DeployInput>& all_deploy_inputs();
const std::vector<storage::DeployState>& all_deploy_states();

// The answer to "a deploy in `state` was told `input`": where it goes and what to do, or why
// that is illegal.
Result<Transition> next_step(storage::DeployState state, DeployInput input);

}  // namespace shipmate::commands
