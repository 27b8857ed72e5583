#include "storage/room_op_store.h"

#include "common/redact.h"
#include "storage/database.h"

namespace shipmate::storage {
namespace {

constexpr const char* kColumns =
    "SELECT id, key, incident_id, kind, room, payload, state, attempts, created_at, next_at, "
    "done_at, result, replica FROM incident_room_ops ";

RoomOp read_op(Statement& query) {
  RoomOp out;
  out.id = query.column_int64(0);
  out.key = query.column_text(1);
  out.incident_id = query.column_int64(2);
  out.kind = query.column_text(3);
  out.room = query.column_text(4);
  out.payload = query.column_text(5);
  out.state = query.column_text(6);
  out.attempts = static_cast<int>(query.column_int64(7));
  out.created_at = query.column_int64(8);
  out.next_at = query.column_int64(9);
  if (!query.column_is_null(10))
    out.done_at = query.column_int64(10);
  out.result = query.column_text(11);
  out.replica = query.column_text(12);
  return out;
}

}  // namespace

RoomOp RoomOpStore::add(const RoomOp& op) {
  Statement insert = db_.prepare(
      "INSERT INTO incident_room_ops (key, incident_id, kind, room, payload, created_at, next_at, "
      "replica) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (key) DO NOTHING");
  insert.bind(1, op.key);
  insert.bind(2, op.incident_id);
  insert.bind(3, op.kind);
  insert.bind(4, op.room);
  insert.bind(5, op.payload);
  insert.bind(6, op.created_at);
  insert.bind(7, op.next_at);
  insert.bind(8, replica_);
  insert.run();
  Statement query = db_.prepare(std::string(kColumns) + "WHERE key = ?1");
  query.bind(1, op.key);
  if (!query.step())
    throw StorageError("the room operation " + op.key + " was not recorded");
  return read_op(query);
}

std::optional<RoomOp> RoomOpStore::get(std::int64_t id) {
  Statement query = db_.prepare(std::string(kColumns) + "WHERE id = ?1");
  query.bind(1, id);
  if (!query.step())
    return std::nullopt;
  return read_op(query);
}

bool RoomOpStore::claim(std::int64_t id, EpochMillis now, EpochMillis lease_until) {
  Statement update = db_.prepare(
      "UPDATE incident_room_ops SET attempts = attempts + 1, next_at = ?3, replica = ?4 "
      "WHERE id = ?1 AND state = 'pending' AND next_at <= ?2");
  update.bind(1, id);
  update.bind(2, now);
  update.bind(3, lease_until);
  update.bind(4, replica_);
  update.run();
  return db_.changes() > 0;
}

void RoomOpStore::set_payload(std::int64_t id, std::string_view payload) {
  Statement update = db_.prepare("UPDATE incident_room_ops SET payload = ?2 WHERE id = ?1");
  update.bind(1, id);
  update.bind(2, payload);
  update.run();
}

void RoomOpStore::finish(std::int64_t id, std::string_view state, std::string_view result,
                         EpochMillis at) {
  Statement update = db_.prepare(
      "UPDATE incident_room_ops SET state = ?2, result = ?3, done_at = ?4 WHERE id = ?1");
  update.bind(1, id);
  update.bind(2, state);
  update.bind(3, redact(std::string(result)));
  update.bind(4, at);
  update.run();
}

void RoomOpStore::retry(std::int64_t id, EpochMillis at, std::string_view why) {
  Statement update =
      db_.prepare("UPDATE incident_room_ops SET next_at = ?2, result = ?3 WHERE id = ?1");
  update.bind(1, id);
  update.bind(2, at);
  update.bind(3, redact(std::string(why)));
  update.run();
}

bool RoomOpStore::defer(std::int64_t id, EpochMillis at, EpochMillis now) {
  Statement update = db_.prepare(
      "UPDATE incident_room_ops SET next_at = ?2 WHERE id = ?1 AND state = 'pending' AND "
      "next_at <= ?3");
  update.bind(1, id);
  update.bind(2, at);
  update.bind(3, now);
  update.run();
  return db_.changes() > 0;
}

std::vector<RoomOp> RoomOpStore::due(EpochMillis now, int limit) {
  Statement query = db_.prepare(std::string(kColumns) +
                                "WHERE state = 'pending' AND next_at <= ?1 ORDER BY next_at, id "
                                "LIMIT ?2");
  query.bind(1, now);
  query.bind(2, static_cast<std::int64_t>(limit));
  std::vector<RoomOp> out;
  while (query.step())
    out.push_back(read_op(query));
  return out;
}

std::vector<RoomOp> RoomOpStore::for_incident(std::int64_t incident_id) {
  Statement query = db_.prepare(std::string(kColumns) + "WHERE incident_id = ?1 ORDER BY id");
  query.bind(1, incident_id);
  std::vector<RoomOp> out;
  while (query.step())
    out.push_back(read_op(query));
  return out;
}

int RoomOpStore::release_claims() {
  // Only this replica's own claims: a live replica's in-flight claim stays its own until its
  // lease ends (then any replica's upkeep may claim it again).
  Statement update = db_.prepare(
      "UPDATE incident_room_ops SET next_at = 0 WHERE state = 'pending' AND next_at > 0 AND "
      "replica = ?1");
  update.bind(1, replica_);
  update.run();
  return static_cast<int>(db_.changes());
}

void RoomOpStore::save_pace(const RoomOpPace& line) {
  Statement upsert = db_.prepare(
      "INSERT INTO incident_room_pacing (scope, held_until, milli_tokens, counted_at) "
      "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (scope) DO UPDATE SET held_until = excluded.held_until, "
      "milli_tokens = excluded.milli_tokens, counted_at = excluded.counted_at");
  upsert.bind(1, line.scope);
  upsert.bind(2, line.held_until);
  upsert.bind(3, static_cast<std::int64_t>(line.tokens * 1000.0 + 0.5));
  upsert.bind(4, line.counted_at);
  upsert.run();
}

std::vector<RoomOpPace> RoomOpStore::paces(EpochMillis now, EpochMillis full_after_ms) {
  Statement stale =
      db_.prepare("DELETE FROM incident_room_pacing WHERE held_until <= ?1 AND counted_at <= ?2");
  stale.bind(1, now);
  stale.bind(2, now - full_after_ms);
  stale.run();
  Statement query = db_.prepare(
      "SELECT scope, held_until, milli_tokens, counted_at FROM incident_room_pacing "
      "ORDER BY scope");
  std::vector<RoomOpPace> out;
  while (query.step()) {
    RoomOpPace line;
    line.scope = query.column_text(0);
    line.held_until = query.column_int64(1);
    line.tokens = static_cast<double>(query.column_int64(2)) / 1000.0;
    line.counted_at = query.column_int64(3);
    out.push_back(std::move(line));
  }
  return out;
}

}  // namespace shipmate::storage
