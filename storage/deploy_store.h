// Deploys and their event history.
//
// Contract
// - Every state change is written as a row in deploy_events in the same transaction that updates
//   the deploy's state, so the history is never out of step with the current state.
// - The store does not judge whether a transition is legal; the deploy state machine in
//   commands/ does, before asking the store to record it.
// - Several writers (replicas sharing PostgreSQL, or two connections to one SQLite file): every
//   transition the flow makes is a compare-and-set (transition_if): it names the state and epoch
//   it believes the deploy is in, and the row changes only if both still hold. Exactly one of two
//   racing writers (approve against deny, against expiry, against a second approve) wins; the
//   other gets the row as the winner left it and writes nothing. One live deploy per service and
//   environment is a unique partial index on both backends (create() turns its refusal into a
//   sentence naming the live deploy).
// - owner and epoch fence a deploy's work: owner names the replica running it (empty for a
//   single replica), set when the deploy is created; epoch counts takeovers
//   (storage/deploy_ownership.h bumps it). Every transition_if names the epoch, and every change
//   of owner bumps it, so a former owner's late writes fail.
// - Text is passed through redact() before it is written.
// - Threading and errors as in database.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "storage/database.h"

namespace shipmate::storage {

enum class DeployKind { deploy, rollback, redeploy };

enum class DeployState {
  requested,
  awaiting_approval,
  queued,
  building,
  deploying,
  verifying,
  succeeded,
  failed,
  rolled_back,
  cancelled,
  timed_out,
};

std::string_view to_string(DeployKind kind);
std::string_view to_string(DeployState state);
std::optional<DeployKind> parse_deploy_kind(std::string_view text);
std::optional<DeployState> parse_deploy_state(std::string_view text);
bool is_terminal(DeployState state);

struct NewDeploy {
  std::string service;
  std::string environment;
  std::string version;
  std::string previous_version;  // empty when nothing was deployed before
  DeployKind kind = DeployKind::deploy;
  std::string requested_by;  // user id
  std::string reason;
  std::string chat_ref;  // where to post updates (transport-specific, opaque here)
  std::optional<EpochMillis> committed_at = {};  // when the version was committed, if known
  std::string overridden = {};                   // the policy refusal --override set aside, if any
  std::string owner = {};  // the replica that will run it (empty for a single replica)
};

struct DeployRecord {
  std::int64_t id = 0;
  std::string service;
  std::string environment;
  std::string version;
  std::string previous_version;
  DeployKind kind = DeployKind::deploy;
  std::string requested_by;
  DeployState state = DeployState::requested;
  std::string reason;
  std::string detail;  // the message of the latest event
  std::string chat_ref;
  EpochMillis requested_at = 0;
  std::optional<EpochMillis> finished_at;
  std::optional<EpochMillis> committed_at;
  std::string ci_run_id;  // the build's CI run, once one was started
  std::string ci_run_url;
  std::string overridden;  // the policy refusal --override set aside at request time
  std::string incident;    // the incident this deploy caused, once someone linked one
  std::string owner;       // the replica running it; empty for a single replica
  std::int64_t epoch = 0;  // bumped when another replica takes it over
  // Where its rollout had got to (canary step and weight, bake start, steps passed, versions,
  // colour), written with each transition of the rollout; opaque here, its format is
  // commands/rollout_progress.h's. Empty before the rollout began (and for older rows).
  std::string rollout;
};

// What transition_if() did. `applied`: the row moved and `record` is the row after the change.
// Otherwise another writer moved it first (or a takeover bumped its epoch): nothing was written
// and `record` is the row as that writer left it, so the caller can say who won and how.
struct TransitionOutcome {
  bool applied = false;
  DeployRecord record;
};

struct DeployEvent {
  std::int64_t id = 0;
  std::int64_t deploy_id = 0;
  EpochMillis at = 0;
  std::optional<DeployState> from;  // empty for the creating event
  DeployState to = DeployState::requested;
  std::string message;
};

class DeployStore {
 public:
  DeployStore(Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  // Inserts a deploy in state `requested` with its first event.
  DeployRecord create(const NewDeploy& request);
  // Compare-and-set: moves deploy `id` from `expected` (at `epoch`) to `to` with its event, and
  // sets finished_at exactly when `to` is terminal; changes nothing when the row is no longer in
  // `expected` or at `epoch` (see TransitionOutcome). Throws StorageError when the deploy does not
  // exist.
  // `rollout`, when given, replaces the recorded rollout progress in the same write.
  TransitionOutcome transition_if(std::int64_t id, DeployState expected, std::int64_t epoch,
                                  DeployState to, std::string_view message,
                                  std::optional<std::string_view> rollout = std::nullopt);
  // Compare-and-set of the rollout progress alone (a step that keeps the state, such as a new
  // owner rolling back from deploying): written only if the row is still in `expected` at
  // `epoch`; otherwise nothing changes and `record` is the row as the other writer left it.
  TransitionOutcome set_rollout_if(std::int64_t id, DeployState expected, std::int64_t epoch,
                                   std::string_view rollout);
  // Moves deploy `id` from whatever state it is in now (read in the same transaction) to `to`.
  // For tests and tools; the deploy flow uses transition_if(). Throws StorageError when the
  // deploy does not exist.
  DeployRecord transition(std::int64_t id, DeployState to, std::string_view message);
  void set_chat_ref(std::int64_t id, std::string_view chat_ref);
  // Records the CI run the deploy's build started (id for the provider, url for people).
  void set_ci_run(std::int64_t id, std::string_view run_id, std::string_view url);
  // Records that the deploy caused `incident` (empty clears it).
  void link_incident(std::int64_t id, std::string_view incident);

  std::optional<DeployRecord> get(std::int64_t id);
  // Newest first. An empty `environment` means every environment.
  std::vector<DeployRecord> history(std::string_view service, std::string_view environment,
                                    int limit);
  // The most recent deploy of service@environment that succeeded.
  std::optional<DeployRecord> last_succeeded(std::string_view service,
                                             std::string_view environment);
  // The newest succeeded deploy of service@environment whose version differs from `version`.
  std::optional<DeployRecord> last_succeeded_other_than(std::string_view service,
                                                        std::string_view environment,
                                                        std::string_view version);
  // The non-terminal deploy of service@environment, if any.
  std::optional<DeployRecord> active_for(std::string_view service, std::string_view environment);
  // Every deploy not in a terminal state, oldest first.
  std::vector<DeployRecord> in_flight();
  std::vector<DeployEvent> events(std::int64_t deploy_id);

 private:
  Database& db_;
  const Clock& clock_;
};

}  // namespace shipmate::storage
