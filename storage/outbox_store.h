// The reply outbox's table: every reply a chat command produces, recorded before it is posted.
//
// A row is one message a command asked for (a post, an update of one of its posts, a reply in a
// post's thread), keyed by an idempotency key that a run of the command computes the same way
// every time (the inbox key and the reply's index, bot/reply_outbox.h). Rows are written in the
// transaction that also marks their command's inbox state (commit()), so after a crash either
// the command is unfinished and nothing of its reply was recorded (nor posted), or the reply is
// here, and it is posted from here at most once: a key that is already present is skipped. A row
// is `pending` until the platform confirmed it, then `sent` with the platform's id for it
// (Slack's ts, a Teams activity id). What a row says is opaque here (bot/ encodes it).
//
// Replicas (issue 17): each row records the replica that recorded it (the inbox's replica tag,
// empty for a single replica). unsent() is this replica's own rows only, so a starting replica
// never touches a live replica's unsent replies; adopt_unsent() moves a dead replica's unsent
// rows to this one in one compare-and-set UPDATE (of two survivors, one gets them).
//
// Contract: threading and errors as in database.h (StorageError on SQL failures; commit() is all
// or nothing). Callers redact text before it reaches a row. The queries are plain SQL that
// PostgreSQL accepts too (ON CONFLICT DO NOTHING), so a second backend can share them; only the
// schema's rowid alias differs. Cost: on SQLite the unsent rows have no index of their own
// (migration 30): keeping one cost every command's commit a page and two B-tree operations, so
// unsent(), others_with_unsent() and adopt_unsent(), run when a replica starts or adopts, scan
// the table (a day of rows, see App's pruning; about 60 ms for 86,400 one-line replies).
// PostgreSQL keeps its partial index.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "storage/database.h"

namespace shipmate::storage {

class InboxStore;

struct OutboxRow {
  std::int64_t seq = 0;     // recording order; assigned by the store
  std::string key;          // idempotency key: "<inbox key>#<index>"
  std::string platform;     // "slack", "teams", "terminal"
  std::string channel;      // the conversation the command came from
  std::string thread;       // and its thread; may be empty
  std::string intent;       // "post", "update", "thread_reply"
  std::string target_key;   // update / thread_reply: the key of the post it refers to
  std::string body;         // the message, encoded by bot/reply_outbox.h
  std::string state;        // "pending", "sent"
  std::string platform_id;  // once sent: the platform's id for the message
  EpochMillis created_at = 0;
  std::string replica;  // the replica that recorded it (or adopted it)
};

// Keeps its prepared statements for its lifetime, so it must be destroyed before `db`.
class OutboxStore {
 public:
  OutboxStore(Database& db, InboxStore& inbox, const Clock& clock)
      : db_(db), inbox_(inbox), clock_(clock) {}

  // One transaction: inserts `rows` (element i of the result is false when row i's key was
  // already there, so the row must not be sent again), marks the inbox keys in `finished` done,
  // and records `sent` confirmations (key, platform id). All or nothing.
  std::vector<bool> commit(const std::vector<OutboxRow>& rows,
                           const std::vector<std::string>& finished,
                           const std::vector<std::pair<std::string, std::string>>& sent);

  // record()'s answer: which rows were new, readable once the transaction has ended.
  class FreshRows {
   public:
    // Element i false: row i's key was already there. On PostgreSQL the new keys come with the
    // COMMIT's answer: call this after the transaction committed, before the store records
    // anything else, and at most once.
    std::vector<bool> read();

   private:
    friend class OutboxStore;
    std::vector<bool> known_;         // SQLite, or nothing to insert: decided already
    Statement* returning_ = nullptr;  // PostgreSQL: the INSERT ... RETURNING sent
    std::vector<std::string> keys_;   // its rows' keys, in order
  };
  // What commit() writes, inside a transaction someone else commits (the intake records
  // deliveries and their replies together this way). On PostgreSQL nothing in it waits for the
  // server: the rows' INSERT ... RETURNING is sent and its answer read with the COMMIT's.
  FreshRows record(const std::vector<OutboxRow>& rows, const std::vector<std::string>& finished,
                   const std::vector<std::pair<std::string, std::string>>& sent);
  // Runs `body` in one transaction; commit() calls and other stores' writes on the same database
  // inside it join it (the intake records deliveries and their replies together this way).
  template <typename F>
  decltype(auto) transaction(F&& body) {
    return db_.transaction(std::forward<F>(body));
  }
  // This replica's unsent rows of a platform, in recording order.
  std::vector<OutboxRow> unsent(std::string_view platform);
  // The other replicas that have unsent rows of a platform.
  std::vector<std::string> others_with_unsent(std::string_view platform);
  // Takes `from`'s unsent rows of `platform` for this replica (a dead replica's, decided by the
  // caller); returns the rows this call moved, in recording order (none when another survivor
  // took them first).
  std::vector<OutboxRow> adopt_unsent(std::string_view platform, std::string_view from);
  std::optional<OutboxRow> find(std::string_view key);
  // Forgets sent rows recorded before `cutoff` whose command has finished (a command still in
  // the inbox may run again after a crash and must find its keys).
  int prune_sent_before(EpochMillis cutoff);
  std::size_t size();

 private:
  Statement& cached(std::optional<Statement>& slot, std::string_view sql);
  static OutboxRow row_of(const Statement& select);
  // PostgreSQL: what commit() does row by row, in one statement each (the rows' INSERT is only
  // sent: `fresh` reads its answer later).
  void insert_batch(const std::vector<OutboxRow>& rows, EpochMillis now, FreshRows& fresh);
  void mark_sent_batch(const std::vector<std::pair<std::string, std::string>>& sent,
                       EpochMillis now);
  // One "sent" mark: SQLite finds a row this store inserted recently by its `seq` (the table's
  // own B-tree) instead of through the unique index on idem_key (about 2,800 instructions of a
  // Slack command's commit, bench/README.md session 15). The UPDATE checks the key too, so a
  // remembered seq gone stale (its transaction rolled back, the seq taken by another row) matches
  // nothing and the mark falls back to the key.
  void mark_sent(std::string_view key, std::string_view platform_id, EpochMillis now);
  void remember_inserted(std::string_view key);

  // SQLite: the keys and seqs of the rows inserted last (a ring; the newest at next_inserted_ - 1).
  struct Inserted {
    std::string key;
    std::int64_t seq = 0;
  };
  static constexpr std::size_t kRememberedRows = 16;
  std::array<Inserted, kRememberedRows> inserted_{};
  std::size_t next_inserted_ = 0;

  Database& db_;
  InboxStore& inbox_;
  const Clock& clock_;
  std::optional<Statement> insert_;
  std::optional<Statement> mark_sent_;
  std::optional<Statement> mark_sent_by_seq_;
  std::optional<Statement> insert_batch_;
  std::optional<Statement> mark_sent_batch_;
};

}  // namespace shipmate::storage
