#include "storage/schedule_store.h"

#include "common/redact.h"

namespace shipmate::storage {
namespace {

constexpr std::string_view kColumns =
    "id, name, cron, timezone, once_at, action, payload, channel, misfire, lateness_ms, state, "
    "origin, created_by, created_at, watermark, next_at";

ScheduleRecord read_schedule(const Statement& row) {
  ScheduleRecord out;
  out.id = row.column_int64(0);
  out.name = row.column_text(1);
  out.cron = row.column_text(2);
  out.timezone = row.column_text(3);
  out.once = row.column_optional_int64(4);
  out.action = row.column_text(5);
  out.payload = row.column_text(6);
  out.channel = row.column_text(7);
  out.misfire = row.column_text(8);
  out.lateness_ms = row.column_int64(9);
  out.state = row.column_text(10);
  out.origin = row.column_text(11);
  out.created_by = row.column_text(12);
  out.created_at = row.column_int64(13);
  out.watermark = row.column_int64(14);
  out.next_at = row.column_optional_int64(15);
  return out;
}

std::string select(std::string_view where) {
  return "SELECT " + std::string(kColumns) + " FROM schedules " + std::string(where);
}

}  // namespace

Result<ScheduleRecord> ScheduleStore::add(ScheduleRecord record) {
  return db_.transaction([&]() -> Result<ScheduleRecord> {
    if (auto existing = find_by_name(record.name)) {
      return make_error("a schedule named '" + record.name + "' already exists (#" +
                            std::to_string(existing->id) + ")",
                        ErrorKind::conflict);
    }
    record.payload = redact(record.payload);
    if (record.created_at == 0)
      record.created_at = clock_.now_ms();
    record.id =
        db_.prepare(
               "INSERT INTO schedules (name, cron, timezone, once_at, action, payload, channel, "
               "misfire, lateness_ms, state, origin, created_by, created_at, watermark, next_at) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) "
               "RETURNING id")
            .bind(1, record.name)
            .bind(2, record.cron)
            .bind(3, record.timezone)
            .bind(4, record.once)
            .bind(5, record.action)
            .bind(6, record.payload)
            .bind(7, record.channel)
            .bind(8, record.misfire)
            .bind(9, record.lateness_ms)
            .bind(10, record.state)
            .bind(11, record.origin)
            .bind(12, record.created_by)
            .bind(13, record.created_at)
            .bind(14, record.watermark)
            .bind(15, record.next_at)
            .scalar();
    return record;
  });
}

std::optional<ScheduleRecord> ScheduleStore::get(std::int64_t id) {
  auto query = db_.prepare(select("WHERE id = ?1"));
  query.bind(1, id);
  if (!query.step())
    return std::nullopt;
  return read_schedule(query);
}

std::optional<ScheduleRecord> ScheduleStore::find_by_name(std::string_view name) {
  auto query = db_.prepare(select("WHERE name = ?1 AND state IN ('active', 'paused') LIMIT 1"));
  query.bind(1, name);
  if (!query.step())
    return std::nullopt;
  return read_schedule(query);
}

std::vector<ScheduleRecord> ScheduleStore::list(bool include_finished) {
  auto query = db_.prepare(include_finished ? select("ORDER BY id")
                                            : select("WHERE state IN ('active', 'paused') "
                                                     "ORDER BY id"));
  std::vector<ScheduleRecord> out;
  while (query.step())
    out.push_back(read_schedule(query));
  return out;
}

std::vector<ScheduleRecord> ScheduleStore::active() {
  auto query = db_.prepare(select("WHERE state = 'active' ORDER BY id"));
  std::vector<ScheduleRecord> out;
  while (query.step())
    out.push_back(read_schedule(query));
  return out;
}

bool ScheduleStore::set_state(std::int64_t id, std::string_view state) {
  db_.prepare("UPDATE schedules SET state = ?2 WHERE id = ?1").bind(1, id).bind(2, state).run();
  return db_.changes() > 0;
}

void ScheduleStore::update_definition(const ScheduleRecord& record) {
  db_.prepare(
         "UPDATE schedules SET cron = ?2, timezone = ?3, once_at = ?4, action = ?5, payload = ?6, "
         "channel = ?7, misfire = ?8, lateness_ms = ?9 WHERE id = ?1")
      .bind(1, record.id)
      .bind(2, record.cron)
      .bind(3, record.timezone)
      .bind(4, record.once)
      .bind(5, record.action)
      .bind(6, redact(record.payload))
      .bind(7, record.channel)
      .bind(8, record.misfire)
      .bind(9, record.lateness_ms)
      .run();
}

void ScheduleStore::advance(std::int64_t id, EpochMillis watermark,
                            std::optional<EpochMillis> next_at) {
  db_.prepare("UPDATE schedules SET watermark = ?2, next_at = ?3 WHERE id = ?1")
      .bind(1, id)
      .bind(2, watermark)
      .bind(3, next_at)
      .run();
}

bool ScheduleStore::claim(std::int64_t schedule_id, EpochMillis nominal_at) {
  db_.prepare(
         "INSERT INTO schedule_runs (schedule_id, nominal_at, outcome, detail, at) "
         "VALUES (?1, ?2, 'claimed', '', ?3) ON CONFLICT DO NOTHING")
      .bind(1, schedule_id)
      .bind(2, nominal_at)
      .bind(3, clock_.now_ms())
      .run();
  return db_.changes() > 0;
}

void ScheduleStore::finish(std::int64_t schedule_id, EpochMillis nominal_at,
                           std::string_view outcome, std::string_view detail) {
  db_.prepare(
         "UPDATE schedule_runs SET outcome = ?3, detail = ?4, at = ?5 "
         "WHERE schedule_id = ?1 AND nominal_at = ?2")
      .bind(1, schedule_id)
      .bind(2, nominal_at)
      .bind(3, outcome)
      .bind(4, redact(detail))
      .bind(5, clock_.now_ms())
      .run();
}

void ScheduleStore::record_skipped(std::int64_t schedule_id, EpochMillis nominal_at,
                                   std::string_view why) {
  db_.prepare(
         "INSERT INTO schedule_runs (schedule_id, nominal_at, outcome, detail, at) "
         "VALUES (?1, ?2, 'skipped', ?3, ?4) ON CONFLICT DO NOTHING")
      .bind(1, schedule_id)
      .bind(2, nominal_at)
      .bind(3, redact(why))
      .bind(4, clock_.now_ms())
      .run();
}

std::vector<ScheduleRun> ScheduleStore::runs(std::int64_t schedule_id, int limit) {
  auto query = db_.prepare(
      "SELECT schedule_id, nominal_at, outcome, detail, at FROM schedule_runs "
      "WHERE schedule_id = ?1 ORDER BY nominal_at DESC LIMIT ?2");
  query.bind(1, schedule_id).bind(2, static_cast<std::int64_t>(limit));
  std::vector<ScheduleRun> out;
  while (query.step()) {
    out.push_back(ScheduleRun{query.column_int64(0), query.column_int64(1), query.column_text(2),
                              query.column_text(3), query.column_int64(4)});
  }
  return out;
}

std::vector<ScheduleRun> ScheduleStore::take_interrupted() {
  return db_.transaction([&] {
    auto query = db_.prepare(
        "SELECT schedule_id, nominal_at, outcome, detail, at FROM schedule_runs "
        "WHERE outcome = 'claimed' ORDER BY schedule_id, nominal_at");
    std::vector<ScheduleRun> out;
    while (query.step()) {
      out.push_back(ScheduleRun{query.column_int64(0), query.column_int64(1), "interrupted",
                                "cut off by a restart; not run again", query.column_int64(4)});
    }
    for (const auto& run : out)
      finish(run.schedule_id, run.nominal_at, run.outcome, run.detail);
    return out;
  });
}

}  // namespace shipmate::storage
