// The durable queue of incident room operations (commands/incident_room_ops.h): every change an
// incident makes to its chat room (create it, pin its card, set its topic, invite people) is a
// row here, recorded before the platform is asked and marked after it answered.
//
// Contract
// - Same thread as the Database it is given (the event loop). Calls throw StorageError.
// - add() is idempotent on `key` (the operation's idempotency key, "pin:INC-3:<card>"): the
//   second add of a key changes nothing and returns the row already there.
// - claim() is the one way to start an attempt: it takes a pending row whose `next_at` has come,
//   counts the attempt and moves `next_at` to the claim's end (a lease), in one statement; a row
//   claimed by another attempt is not taken again until that lease ends. release_claims() (at
//   start-up) makes this replica's own claimed rows due now: a crash left its claims behind.
// - Replicas (issue 17): a row records the replica that added it and, from each claim on, the
//   replica that claimed it last (`replica`, empty for a single replica). release_claims() frees
//   only this replica's claims, never a live replica's in-flight one; a dead replica's claims
//   end by themselves when their lease (`next_at`) passes, and any replica's upkeep retries them.
// - defer() moves a pending row that is due and unclaimed (next_at <= now) to a later time,
//   without counting an attempt: the queue's pacing said it is not its turn yet.
// - finish() records the answer (state `done` or `failed`, with the result: the room's address for
//   a create, the reason for a failure); retry() puts a row back for later with the last error.
// - Pacing (commands/room_op_pacing.h) is kept here too, one line per scope: save_pace()
//   replaces a scope's line, paces() reads them all back at start-up (lines whose hold has
//   passed and whose tier is full again are dropped there).
// - due() is an indexed read of the pending rows whose time has come (a partial index on
//   `next_at`), oldest first.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"

namespace shipmate::storage {

class Database;

struct RoomOp {
  std::int64_t id = 0;
  std::string key = {};  // unique idempotency key
  std::int64_t incident_id = 0;
  std::string kind = {};     // create, pin, topic, invite
  std::string room = {};     // the room it acts on (a create: the declaring conversation)
  std::string payload = {};  // create: the room name; pin: the message; invite: ids, one a line
  std::string state = "pending";  // pending, done, failed
  int attempts = 0;
  EpochMillis created_at = 0;
  EpochMillis next_at = 0;
  std::optional<EpochMillis> done_at = {};
  std::string result = {};   // create: "<address>\n<mention>"; failed or retried: the reason
  std::string replica = {};  // the replica that added it, then the one that claimed it last
};

// One line of the queue's pacing: a channel held by a rate-limited answer, or an operation
// kind's calls (tokens left when counted_at was, 0: never counted) and its tier's hold.
struct RoomOpPace {
  std::string scope = {};  // "channel:<address>" or "kind:<kind>"
  EpochMillis held_until = 0;
  double tokens = 0;
  EpochMillis counted_at = 0;
};

class RoomOpStore {
 public:
  explicit RoomOpStore(Database& db, std::string replica = {})
      : db_(db), replica_(std::move(replica)) {}

  RoomOp add(const RoomOp& op);
  std::optional<RoomOp> get(std::int64_t id);
  bool claim(std::int64_t id, EpochMillis now, EpochMillis lease_until);
  void set_payload(std::int64_t id, std::string_view payload);
  void finish(std::int64_t id, std::string_view state, std::string_view result, EpochMillis at);
  void retry(std::int64_t id, EpochMillis at, std::string_view why);
  // Moves a due, unclaimed row to `at` without counting an attempt (paced: not its turn yet);
  // false when another attempt claimed it meanwhile.
  bool defer(std::int64_t id, EpochMillis at, EpochMillis now);
  std::vector<RoomOp> due(EpochMillis now, int limit = 100);
  std::vector<RoomOp> for_incident(std::int64_t incident_id);
  int release_claims();
  void save_pace(const RoomOpPace& line);
  // Every stored line still in force at `now` (a line that no longer limits anything is
  // removed: its hold has passed and, for a kind, its tier has refilled by `full_after_ms`).
  std::vector<RoomOpPace> paces(EpochMillis now, EpochMillis full_after_ms);

 private:
  Database& db_;
  std::string replica_;
};

}  // namespace shipmate::storage
