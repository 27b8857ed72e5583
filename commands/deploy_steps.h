// Internal to the deploy flow (deploy_policy, deploy_run, deploy_recovery, deploy_approvals):
// the one way a deploy changes state, and small helpers they share. Not for handlers; they use
// deploy_flow.h.
//
// Contract: event-loop thread only. advance() is the only writer of deploy transitions in the
// flow: it asks the state machine (deploy_state_machine.h), persists the answer, tells the
// DeployObservers, and only then hands the effects back to be carried out. It never throws for
// a refused transition; the refusal is a bug in the flow, logged and recorded as a failed deploy.
// Every write is a compare-and-set on the state and epoch the caller holds
// (DeployStore::transition_if): when another writer (a second approver, a denial, the expiry
// sweep, a shutdown, another replica) moved the deploy first, the step is `lost`, nothing is
// written, and `error` says for a person what happened instead.
// Storage errors propagate as exceptions, as everywhere in commands/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "commands/context.h"
#include "commands/deploy_policy.h"
#include "commands/deploy_state_machine.h"

namespace shipmate::commands {

// "hello@staging": the scope a plan deploys to, for the audit log.
std::string scope_of(const DeployPlan& plan);

// The version that last succeeded in service@environment, or "" when none has.
std::string current_version(Services& services, const std::string& service,
                            const std::string& environment);

void notify_observers(Services& services, const storage::DeployRecord& record);

// How the effects a step may return are checked against what its caller carries out: a step in
// the middle of execute_deploy does exactly one thing next, while cancellation and recovery
// hand a mix of effects to their callers depending on the state the deploy was in.
enum class Expect { exactly, any_of };

struct Step {
  bool ok = false;  // persisted; carry out `effects`
  storage::DeployState to = storage::DeployState::requested;
  std::vector<DeployEffect> effects;            // in order
  std::optional<storage::DeployRecord> record;  // the row after this step, when one was written
  std::string error;                            // when !ok: already logged and recorded
  // When !ok: someone else changed the deploy first; `record` is the row as they left it and
  // `error` says so ("it was denied by bob in the meantime"). Not a bug, and nothing to record.
  bool lost = false;
};

// For a person: what became of deploy `record` while this writer was deciding, e.g. "deploy #4
// changed in the meantime: it is now cancelled (denied by U2: not today); nothing was recorded".
std::string lost_race_message(const storage::DeployRecord& record);

// One step of a deploy: ask the state machine what `input` means in state `from`, persist the
// transition, and only then hand back the effects. An answer the caller cannot carry out (an
// illegal transition, or an effect the flow does not implement) is a bug in the flow, not in the
// deploy: it is logged and the deploy is recorded as failed with the reason, so it neither
// crashes the bot nor stays in flight.
// `from` and `epoch` are what the caller holds: the step writes only if the row still has both.
// `rollout`, when given, is the deploy's new rollout progress (rollout_progress.h), written in
// the same compare-and-set as the state, or on its own (still fenced) by a step that keeps the
// state: either way before the effects are handed back.
Step advance(Services& services, std::int64_t id, storage::DeployState from, std::int64_t epoch,
             DeployInput input, const std::string& message,
             const std::vector<DeployEffect>& carried_out, Expect expect,
             std::optional<std::string> rollout = std::nullopt);

}  // namespace shipmate::commands
