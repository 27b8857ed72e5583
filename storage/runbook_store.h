// The runbook journal: one row per run (its parameters as references, the definition's hash, the
// engine's state) and one row per step attempt, written before its effect starts and again when
// it ends.
//
// Contract
// - Every write is one transaction: a step's "started" row and the state that says it is in
//   flight commit together, before the effect; its end and the next state commit together, after.
//   So a crash leaves either the state before the effect or the state after it.
// - Every text field passes through redact() (common/redact.h) before it is stored; parameters
//   are stored as the run holds them, and a secret parameter holds only a reference.
// - Ownership (issue 17): a run records the replica driving it (`owner`, empty for a single
//   replica) and an `epoch` that each takeover bumps. Every write to a run after its creation is
//   fenced on both (RunFence): it changes nothing and answers false (0 for step_started) once
//   another replica has taken the run over, however late it arrives. take_over() is the one
//   compare-and-set that moves a run: of several survivors exactly one wins.
// - Threading and errors as in database.h (event-loop thread; StorageError on SQLite failure).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "storage/database.h"

namespace shipmate::storage {

struct RunbookRunRecord {
  std::int64_t id = 0;
  std::string runbook = {};
  std::string hash = {};
  std::string params = {};  // "name=value" lines; secrets as references ("secret:api")
  std::string started_by = {};
  std::string chat_ref = {};     // Conversation::address() where it was started
  std::string message_ref = {};  // its status message there
  std::string status = {};       // runbooks::RunStatus as text
  std::string state = {};        // runbooks::encode_state()
  EpochMillis started_at = 0;
  EpochMillis updated_at = 0;
  std::optional<EpochMillis> finished_at = {};
  std::string owner = {};  // the replica driving it ("" for a single replica)
  std::int64_t epoch = 0;  // bumped by each takeover
};

// Who may write to a run: its owner at its epoch. The default is a single replica's fence.
struct RunFence {
  std::string owner = {};
  std::int64_t epoch = 0;
};

struct RunbookStepRecord {
  std::int64_t id = 0;
  std::int64_t run_id = 0;
  std::string phase = {};  // "main" or "cleanup"
  int index = 0;
  std::string name = {};
  int attempt = 0;
  std::string status = {};  // started, succeeded, failed, aborted, interrupted
  std::string detail = {};  // one line: what happened
  std::string log = {};     // output (redacted, capped by the executor)
  EpochMillis started_at = 0;
  std::optional<EpochMillis> finished_at = {};
};

class RunbookStore {
 public:
  RunbookStore(Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  // A new run, owned by run.owner at epoch 0.
  std::int64_t create_run(const RunbookRunRecord& run);
  // Each write below is fenced on `fence`: false (or 0) when the run is no longer the fence's.
  bool set_message_ref(std::int64_t id, const std::string& message_ref, const RunFence& fence = {});
  // The run's new state (and status; finished_at is set for a finished status).
  bool save_state(std::int64_t id, const std::string& status, const std::string& state,
                  bool finished = false, const RunFence& fence = {});
  // A step's start and the state that says so, in one transaction; returns the step row's id
  // (0, and nothing written, when fenced out).
  std::int64_t step_started(const RunbookStepRecord& step, const std::string& status,
                            const std::string& state, const RunFence& fence = {});
  // A step's end and the state after it, in one transaction.
  bool step_finished(std::int64_t step_id, const std::string& step_status,
                     const std::string& detail, const std::string& log, std::int64_t run_id,
                     const std::string& status, const std::string& state, bool finished,
                     const RunFence& fence = {});
  // Marks steps still "started" as interrupted (a restart or a takeover found them cut off).
  bool interrupt_open_steps(std::int64_t run_id, const std::string& detail,
                            const RunFence& fence = {});
  // Takes unfinished run `id` over from `from` for `new_owner`, bumping the epoch: the new
  // epoch, or empty when another replica took it first, its epoch moved, or it has finished.
  std::optional<std::int64_t> take_over(std::int64_t id, const RunFence& from,
                                        const std::string& new_owner);

  std::optional<RunbookRunRecord> get(std::int64_t id);
  // Runs that have not finished, oldest first.
  std::vector<RunbookRunRecord> unfinished();
  // The newest runs, newest first.
  std::vector<RunbookRunRecord> recent(int limit);
  std::vector<RunbookStepRecord> steps(std::int64_t run_id);

 private:
  Database& db_;
  const Clock& clock_;
};

}  // namespace shipmate::storage
