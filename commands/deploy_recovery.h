// Deploy recovery: what happens to deploys at start-up (left behind by an earlier process) and at
// shutdown (running in this one).
//
// Contract: event-loop thread only. Every change goes through the deploy state machine and is
// persisted (and audited) before it is returned for announcing; nothing here posts to chat
// except resume_deploy(), which reports in the conversation it is given.
// - At start-up, before any command runs: reconcile_interrupted_deploys() first (marks orphans
//   failed), then resumable_deploys() / resume_deploy() for builds that carry on in CI.
// - At shutdown: cancel_running_deploys() records the deploys this process runs as cancelled;
//   then DeployRuntime::cancel_all() (deploy_runtime.h) ends their current waits at once so
//   their coroutines see it and return.
#pragma once

#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "commands/context.h"
#include "storage/deploy_store.h"

namespace shipmate::commands {

// Marks deploys left non-terminal by an earlier process as failed and returns them (called at
// start-up, before any command runs). Deploys waiting for approval keep waiting; resumable
// builds are left for resume_deploy(). With replicas (Services::replica set), "an earlier
// process" is this replica's earlier run (deploys it owns) or a dead replica (one whose lease
// ended, storage/deploy_ownership.h), whose deploys are taken over first (owner and epoch move,
// audited as deploy.taken_over); a live replica's deploys are left alone.
std::vector<storage::DeployRecord> reconcile_interrupted_deploys(Services& services);

// The periodic half (each lease renewal): only dead replicas' deploys, taken over as above.
struct OrphanTakeover {
  std::vector<storage::DeployRecord> taken_over;  // every deploy taken over, at its new epoch
  std::vector<storage::DeployRecord> settled;     // of those, the ones marked failed (announce)
  std::vector<storage::DeployRecord> resumable;   // of those, builds to follow (resume_deploy)
};
OrphanTakeover take_over_orphaned_deploys(Services& services);

// Deploys an earlier process left building whose service still has a build configured (their CI
// run carries on without Shipmate), and a dead replica's rollouts cut off in deploying or
// verifying: they are resumed rather than failed (this replica's own, including those it took
// over; never another live replica's). A resumed build is followed, never triggered again, when
// its CI run was recorded. A rollout is carried on from the progress its owner recorded with each
// transition (rollout_progress.h, decide_resume: a straight rollout is applied again, a canary or
// blue-green restarts its candidate at the recorded step, steps already checked stay passed), or
// rolled back to the stable version through the normal rollback where carrying on is unsafe (it
// was rolling back, its progress is unknown or no longer matches the configuration). This
// replica's own rollouts found after its restart are failed as before: its target restored what
// it recorded as serving.
std::vector<storage::DeployRecord> resumable_deploys(Services& services);
// Follows (or restarts) the build of `deploy`, or carries its rollout on (or rolls it back) as
// above, to exactly one end, reporting in a new status message in `conversation`. The decision
// and its progress are recorded (inputs rollout_resumed / rollback_resumed) before the target is
// touched.
boost::asio::awaitable<void> resume_deploy(Services& services, Conversation& conversation,
                                           storage::DeployRecord deploy);

// Records that in-flight deploys were interrupted by shutdown (called on SIGINT/SIGTERM), and
// returns them for announcing. It does not wake them: call cancel_all_deploy_waits() next.
std::vector<storage::DeployRecord> cancel_running_deploys(Services& services,
                                                          const std::string& why);

// A rolling restart with replicas (commands/handover.h): each deploy this process runs that a
// survivor would carry on from where it is (a build to follow, or a rollout whose recorded
// progress decide_resume() carries on; not one it would roll back) is parked: one compare-and-set
// moves it from this replica at its epoch to no owner at the next epoch, audited as
// deploy.handed_over, and only then is its coroutine woken (DeployRuntime::cancel), so anything
// it would still write fails the fence. A survivor takes it over at its next lease renewal.
// The others keep running; their ids are returned for the drain to wait on.
struct DeployHandover {
  std::vector<storage::DeployRecord> parked;  // at their new epoch, owner empty
  std::vector<std::int64_t> finishing;        // running here until they end (or are cancelled)
};
DeployHandover hand_over_running_deploys(Services& services, const std::string& why);

// Emits every running deploy's cancellation signal: a bake time or a question it is waiting on
// ends at once. The one call app shutdown makes after cancel_running_deploys().
void cancel_all_deploy_waits(Services& services);

}  // namespace shipmate::commands
