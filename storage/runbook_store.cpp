#include "storage/runbook_store.h"

#include "storage/history_pages.h"

#include "common/redact.h"

namespace shipmate::storage {
namespace {

constexpr std::string_view kRunColumns =
    "id, runbook, hash, params, started_by, chat_ref, message_ref, status, state, started_at, "
    "updated_at, finished_at, owner, epoch";

RunbookRunRecord read_run(const Statement& row) {
  RunbookRunRecord run;
  run.id = row.column_int64(0);
  run.runbook = row.column_text(1);
  run.hash = row.column_text(2);
  run.params = row.column_text(3);
  run.started_by = row.column_text(4);
  run.chat_ref = row.column_text(5);
  run.message_ref = row.column_text(6);
  run.status = row.column_text(7);
  run.state = row.column_text(8);
  run.started_at = row.column_int64(9);
  run.updated_at = row.column_int64(10);
  run.finished_at = row.column_optional_int64(11);
  run.owner = row.column_text(12);
  run.epoch = row.column_int64(13);
  return run;
}

}  // namespace

std::int64_t RunbookStore::create_run(const RunbookRunRecord& run) {
  const EpochMillis now = clock_.now_ms();
  return db_.transaction([&] {
    return db_
        .prepare(
            "INSERT INTO runbook_runs (runbook, hash, params, started_by, chat_ref, message_ref, "
            "status, state, started_at, updated_at, owner, epoch) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
            "?7, ?8, ?9, ?9, ?10, 0) "
            "RETURNING id")
        .bind(1, run.runbook)
        .bind(2, run.hash)
        .bind(3, redact(run.params))
        .bind(4, run.started_by)
        .bind(5, run.chat_ref)
        .bind(6, run.message_ref)
        .bind(7, run.status)
        .bind(8, redact(run.state))
        .bind(9, static_cast<std::int64_t>(now))
        .bind(10, run.owner)
        .scalar();
  });
}

bool RunbookStore::set_message_ref(std::int64_t id, const std::string& message_ref,
                                   const RunFence& fence) {
  db_.prepare(
         "UPDATE runbook_runs SET message_ref = ?2 WHERE id = ?1 AND owner = ?3 AND epoch = ?4")
      .bind(1, id)
      .bind(2, message_ref)
      .bind(3, fence.owner)
      .bind(4, fence.epoch)
      .run();
  return db_.changes() == 1;
}

bool RunbookStore::save_state(std::int64_t id, const std::string& status, const std::string& state,
                              bool finished, const RunFence& fence) {
  const EpochMillis now = clock_.now_ms();
  db_.prepare(
         "UPDATE runbook_runs SET status = ?2, state = ?3, updated_at = ?4, "
         "finished_at = CASE WHEN ?5 <> 0 THEN ?4 ELSE finished_at END "
         "WHERE id = ?1 AND owner = ?6 AND epoch = ?7")
      .bind(1, id)
      .bind(2, status)
      .bind(3, redact(state))
      .bind(4, static_cast<std::int64_t>(now))
      .bind(5, static_cast<std::int64_t>(finished ? 1 : 0))
      .bind(6, fence.owner)
      .bind(7, fence.epoch)
      .run();
  return db_.changes() == 1;
}

std::int64_t RunbookStore::step_started(const RunbookStepRecord& step, const std::string& status,
                                        const std::string& state, const RunFence& fence) {
  const EpochMillis now = clock_.now_ms();
  return db_.transaction([&]() -> std::int64_t {
    // The fenced state first: a run taken over gets no step row either.
    if (!save_state(step.run_id, status, state, false, fence))
      return 0;
    return db_
        .prepare(
            "INSERT INTO runbook_steps (run_id, phase, idx, name, attempt, status, started_at) "
            "VALUES (?1, ?2, ?3, ?4, ?5, 'started', ?6) RETURNING id")
        .bind(1, step.run_id)
        .bind(2, step.phase)
        .bind(3, static_cast<std::int64_t>(step.index))
        .bind(4, step.name)
        .bind(5, static_cast<std::int64_t>(step.attempt))
        .bind(6, static_cast<std::int64_t>(now))
        .scalar();
  });
}

bool RunbookStore::step_finished(std::int64_t step_id, const std::string& step_status,
                                 const std::string& detail, const std::string& log,
                                 std::int64_t run_id, const std::string& status,
                                 const std::string& state, bool finished, const RunFence& fence) {
  const EpochMillis now = clock_.now_ms();
  return db_.transaction([&] {
    if (!save_state(run_id, status, state, finished, fence))
      return false;
    db_.prepare(
           "UPDATE runbook_steps SET status = ?2, detail = ?3, log = ?4, finished_at = ?5 "
           "WHERE id = ?1")
        .bind(1, step_id)
        .bind(2, step_status)
        .bind(3, redact(detail))
        .bind(4, redact(log))
        .bind(5, static_cast<std::int64_t>(now))
        .run();
    return true;
  });
}

bool RunbookStore::interrupt_open_steps(std::int64_t run_id, const std::string& detail,
                                        const RunFence& fence) {
  const EpochMillis now = clock_.now_ms();
  return db_.transaction([&] {
    // Locks the run's row (PostgreSQL) so a takeover cannot slip between the check and the
    // update; SQLite has one writer.
    if (db_.dialect() == Dialect::postgresql) {
      auto locked = db_.prepare(
          "SELECT id FROM runbook_runs WHERE id = ?1 AND owner = ?2 AND epoch = ?3 FOR UPDATE");
      locked.bind(1, run_id).bind(2, fence.owner).bind(3, fence.epoch);
      if (!locked.step())
        return false;
    } else {
      auto owned =
          db_.prepare("SELECT id FROM runbook_runs WHERE id = ?1 AND owner = ?2 AND epoch = ?3");
      owned.bind(1, run_id).bind(2, fence.owner).bind(3, fence.epoch);
      if (!owned.step())
        return false;
    }
    db_.prepare(
           "UPDATE runbook_steps SET status = 'interrupted', detail = ?2, finished_at = ?3 "
           "WHERE run_id = ?1 AND status = 'started'")
        .bind(1, run_id)
        .bind(2, redact(detail))
        .bind(3, static_cast<std::int64_t>(now))
        .run();
    return true;
  });
}

std::optional<std::int64_t> RunbookStore::take_over(std::int64_t id, const RunFence& from,
                                                    const std::string& new_owner) {
  Statement take = db_.prepare(
      "UPDATE runbook_runs SET owner = ?4, epoch = epoch + 1 WHERE id = ?1 AND owner = ?2 AND "
      "epoch = ?3 AND finished_at IS NULL RETURNING epoch");
  take.bind(1, id).bind(2, from.owner).bind(3, from.epoch).bind(4, new_owner);
  if (!take.step())
    return std::nullopt;
  const std::int64_t epoch = take.column_int64(0);
  take.reset();
  return epoch;
}

std::optional<RunbookRunRecord> RunbookStore::get(std::int64_t id) {
  auto statement =
      db_.prepare("SELECT " + std::string(kRunColumns) + " FROM runbook_runs WHERE id = ?1");
  statement.bind(1, id);
  if (!statement.step())
    return std::nullopt;
  return read_run(statement);
}

std::vector<RunbookRunRecord> RunbookStore::unfinished() {
  auto statement = db_.prepare("SELECT " + std::string(kRunColumns) +
                               " FROM runbook_runs WHERE finished_at IS NULL ORDER BY id");
  std::vector<RunbookRunRecord> out;
  while (statement.step())
    out.push_back(read_run(statement));
  return out;
}

std::vector<RunbookRunRecord> RunbookStore::recent(int limit) {
  auto statement = db_.prepare("SELECT " + std::string(kRunColumns) +
                               " FROM runbook_runs ORDER BY id DESC LIMIT ?1");
  statement.bind(1, static_cast<std::int64_t>(limit));
  std::vector<RunbookRunRecord> out;
  while (statement.step())
    out.push_back(read_run(statement));
  return out;
}

std::vector<RunbookStepRecord> RunbookStore::steps(std::int64_t run_id) {
  auto statement = db_.prepare(
      "SELECT id, run_id, phase, idx, name, attempt, status, detail, log, started_at, "
      "finished_at FROM runbook_steps WHERE run_id = ?1 ORDER BY id");
  statement.bind(1, run_id);
  std::vector<RunbookStepRecord> out;
  while (statement.step()) {
    RunbookStepRecord step;
    step.id = statement.column_int64(0);
    step.run_id = statement.column_int64(1);
    step.phase = statement.column_text(2);
    step.index = static_cast<int>(statement.column_int64(3));
    step.name = statement.column_text(4);
    step.attempt = static_cast<int>(statement.column_int64(5));
    step.status = statement.column_text(6);
    step.detail = statement.column_text(7);
    step.log = statement.column_text(8);
    step.started_at = statement.column_int64(9);
    step.finished_at = statement.column_optional_int64(10);
    out.push_back(std::move(step));
  }
  return out;
}

IdPage<RunbookRunRecord> runbook_run_page(Database& db, const PageWindow& window,
                                          std::string_view runbook, std::string_view status) {
  return page_by_id<RunbookRunRecord>(
      db, kRunColumns, "runbook_runs", "(?1 = '' OR runbook = ?1) AND (?2 = '' OR status = ?2)", 2,
      window, [&](Statement& query) { query.bind(1, runbook).bind(2, status); }, read_run);
}

}  // namespace shipmate::storage
