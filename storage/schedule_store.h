// Schedules and their occurrences: what the scheduler (scheduler/scheduler.h) keeps durable.
//
// A schedule row says when (a cron expression in a zone, or one instant), what (an action such as
// "announce" with its payload, and the conversation to report in), its misfire policy and its
// state (active, paused, cancelled, done). Its watermark is the newest nominal instant already
// decided; next_at caches the occurrence after it (for listing; the scheduler recomputes it).
//
// Each occurrence that runs is claimed first: claim() inserts (schedule, nominal instant) into
// schedule_runs and reports whether this call inserted it, so a second claim of the same
// occurrence (a restart, a second replica) loses and does not run it. A claimed run ends as
// `done` or `failed` with a detail; one still `claimed` at start-up was cut off by a crash and is
// reported `interrupted`, never run again. Skipped occurrences are rows with outcome `skipped`.
//
// Contract: threading and errors as in database.h (SQL failures throw StorageError). Text fields
// (payload, reasons, details) pass through redact() before they are stored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "storage/database.h"

namespace shipmate::storage {

struct ScheduleRecord {
  std::int64_t id = 0;
  std::string name;                 // unique among schedules that are not cancelled or done
  std::string cron;                 // "" for a one-off
  std::string timezone = "UTC";     // the cron's zone; for a one-off, how to show its time
  std::optional<EpochMillis> once;  // the one-off's instant
  std::string action;               // "announce", "release-digest", "dora-digest"
  std::string payload;              // the announcement text, or the digest's environment
  std::string channel;              // where to report (a conversation address)
  std::string misfire = "run-once";
  EpochMillis lateness_ms = 3'600'000;
  std::string state = "active";  // active, paused, cancelled, done
  std::string origin = "chat";   // chat or config
  std::string created_by;
  EpochMillis created_at = 0;
  EpochMillis watermark = 0;
  std::optional<EpochMillis> next_at;
};

struct ScheduleRun {
  std::int64_t schedule_id = 0;
  EpochMillis nominal_at = 0;
  std::string outcome;  // claimed, done, failed, skipped, interrupted
  std::string detail;
  EpochMillis at = 0;  // when it was claimed, skipped or last changed
};

class ScheduleStore {
 public:
  ScheduleStore(Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  // Inserts `record` (its id is assigned) and returns it. A name already used by an active or
  // paused schedule is a conflict that names it.
  Result<ScheduleRecord> add(ScheduleRecord record);
  std::optional<ScheduleRecord> get(std::int64_t id);
  // The active or paused schedule with this name.
  std::optional<ScheduleRecord> find_by_name(std::string_view name);
  // Active and paused schedules (and, when asked, finished ones), by id.
  std::vector<ScheduleRecord> list(bool include_finished = false);
  std::vector<ScheduleRecord> active();
  // Returns false when there is no such schedule.
  bool set_state(std::int64_t id, std::string_view state);
  // Replaces what a config-declared schedule says (timing, action, channel, misfire), keeping its
  // id, watermark and state.
  void update_definition(const ScheduleRecord& record);
  void advance(std::int64_t id, EpochMillis watermark, std::optional<EpochMillis> next_at);

  // True when this call claimed the occurrence; false when it was claimed (or skipped) before.
  bool claim(std::int64_t schedule_id, EpochMillis nominal_at);
  void finish(std::int64_t schedule_id, EpochMillis nominal_at, std::string_view outcome,
              std::string_view detail);
  void record_skipped(std::int64_t schedule_id, EpochMillis nominal_at, std::string_view why);
  // Newest first.
  std::vector<ScheduleRun> runs(std::int64_t schedule_id, int limit = 10);
  // Marks every run still `claimed` as `interrupted` and returns them (start-up).
  std::vector<ScheduleRun> take_interrupted();

 private:
  Database& db_;
  const Clock& clock_;
};

}  // namespace shipmate::storage
