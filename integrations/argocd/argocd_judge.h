// When is an Argo CD sync or rollback done? judge() answers that from one reading of the
// Application, and nothing else: it is told the observed status, and says keep waiting, succeeded,
// or failed (with a reason written for a person). The Argo CD target's follow loop does the
// reading, the polling and the deadline; this is the whole decision.
//
// The vocabulary is Argo CD's own (status.operationState.phase, status.sync.status,
// status.health.status):
// - No operation state yet, an `operation` still requested, or phase Running / Terminating: the
//   controller has not finished; keep waiting.
// - Phase Failed or Error: failed, with the operation's message and the resources that failed.
// - Phase Succeeded: the operation must have deployed what the goal expects (revision, target
//   revision or Helm value), else failed. Then, when the goal asks for it, Argo CD must have
//   compared after the operation (status.sync.revision is the operation's revision) and show
//   Synced; until then keep waiting (OutOfSync and Unknown right after a sync are normal).
//   Then health decides: Healthy succeeds; Degraded and Missing fail; Suspended (a paused
//   rollout, a suspended job waiting for an outside resume), Progressing and Unknown keep
//   waiting.
// - Any other phase: keep waiting.
//
// Contract
// - Pure: no I/O, no clock, no allocation beyond the strings it returns; safe on any thread.
// - The timeout is not judged here: the caller stops waiting at its deadline and names what
//   it was waiting for (Judgement::waiting_for).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace shipmate::integrations::argocd {

// One resource Argo CD reports on: a sync task that failed, or a resource that is not Healthy.
struct ResourceNote {
  std::string kind;
  std::string name;
  std::string state;
  std::string message;
};

// The Application's status as the judge needs it (strings exactly as Argo CD writes them).
struct AppStatus {
  bool operation_requested = false;  // top-level `operation`: set by a sync request until done
  std::string phase;                 // status.operationState.phase ("" when there is none)
  std::string operation_message;
  std::string operation_started_at;
  std::string operation_initiator;
  std::string operation_revision;  // status.operationState.syncResult.revision
  std::string operation_target_revision;
  std::optional<std::string> operation_helm_value;  // the goal's Helm parameter in syncResult
  std::vector<ResourceNote> failed_tasks;           // syncResult.resources that failed
  std::string sync_status;                          // Synced, OutOfSync, Unknown
  std::string sync_revision;                        // status.sync.revision
  std::string health_status;  // Healthy, Progressing, Degraded, Suspended, Missing, Unknown
  std::string health_message;
  std::vector<ResourceNote> unhealthy;  // status.resources whose health is not Healthy

  bool operation_in_progress() const {
    return operation_requested || phase == "Running" || phase == "Terminating";
  }
};

// What a follow loop waits for after a sync or rollback request.
struct FollowGoal {
  std::string what;  // "sync to v2", "rollback to history id 4"
  // The finished operation must have deployed this (any of them; all empty: no check).
  std::string expect_revision;
  std::string expect_target_revision;
  std::optional<std::string> expect_helm_value;
  std::string helm_parameter;  // its name, for the message when the value is wrong
  // status.sync.revision equals the operation's revision: Argo CD has compared (and assessed
  // health) after the operation, so the health seen is not left over from before it.
  bool require_compared = true;
  bool require_synced = true;  // and status.sync.status is Synced
};

enum class Verdict { keep_waiting, succeeded, failed };

struct Judgement {
  Verdict verdict = Verdict::keep_waiting;
  // failed: why, for a person ("sync to v2 went health Degraded: ..."). keep_waiting: a progress
  // line ("synced at 1a2b3c4, health Progressing"). succeeded: empty.
  std::string reason;
  // keep_waiting: what is still awaited, for a timeout message ("health Healthy"); empty when
  // this reading does not change what the caller is waiting for.
  std::string waiting_for;
};

Judgement judge(const AppStatus& status, const FollowGoal& goal);

// "health Degraded: <message or the unhealthy resources>".
std::string health_summary(const AppStatus& status);
// "operation Failed: <message> (<failed sync tasks>)".
std::string operation_summary(const AppStatus& status);
// A 40-hex-digit commit SHA shortened to 7; anything else as it is.
std::string short_revision(const std::string& revision);

}  // namespace shipmate::integrations::argocd
