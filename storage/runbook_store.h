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

  std::int64_t create_run(const RunbookRunRecord& run);
  void set_message_ref(std::int64_t id, const std::string& message_ref);
  // The run's new state (and status; finished_at is set for a finished status).
  void save_state(std::int64_t id, const std::string& status, const std::string& state,
                  bool finished = false);
  // A step's start and the state that says so, in one transaction; returns the step row's id.
  std::int64_t step_started(const RunbookStepRecord& step, const std::string& status,
                            const std::string& state);
  // A step's end and the state after it, in one transaction.
  void step_finished(std::int64_t step_id, const std::string& step_status,
                     const std::string& detail, const std::string& log, std::int64_t run_id,
                     const std::string& status, const std::string& state, bool finished);
  // Marks steps still "started" as interrupted (a restart found them cut off).
  void interrupt_open_steps(std::int64_t run_id, const std::string& detail);

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
