#include "storage/inbox_store.h"

#include <unordered_set>

#include "common/redact.h"
#include "common/strings.h"
#include "storage/kept_plan.h"

namespace shipmate::storage {

Statement& InboxStore::cached(std::optional<Statement>& slot, std::string_view sql) {
  // Each statement kept here is the hot path's, a lookup or change by an indexed key or an
  // insert: on PostgreSQL its plan is made once (storage/kept_plan.h), not at every execution.
  if (!slot)
    slot.emplace(db_, keep_plan(sql));
  // A statement left mid-step by an earlier exception must not carry old state or bindings.
  slot->reset();
  return *slot;
}

bool InboxStore::accept(const InboxEntry& entry) {
  const EpochMillis now = clock_.now_ms();
  auto& remember = cached(remember_,
                          "INSERT INTO inbox_keys (key, received_at) VALUES (?, ?) "
                          "ON CONFLICT (key) DO NOTHING");
  // `entry` outlives the statements' runs: its strings are bound without a copy, but for the
  // redacted text, a temporary.
  remember.bind_borrowed(1, entry.key).bind(2, now);
  return db_.transaction([&] {
    remember.run();
    if (db_.changes() == 0)
      return false;
    if (entry.state == "done")
      return true;  // finished already: nothing to replay or report after a restart
    auto& insert =
        cached(insert_,
               "INSERT INTO inbox_pending (key, platform, user_id, channel, thread, text, state, "
               "received_at, replica) VALUES (?, ?, ?, ?, ?, ?, 'received', ?, ?)");
    insert.bind_borrowed(1, entry.key)
        .bind_borrowed(2, entry.platform)
        .bind_borrowed(3, entry.user_id)
        .bind_borrowed(4, entry.channel)
        .bind_borrowed(5, entry.thread)
        .bind(6, redact(entry.text))
        .bind(7, now)
        .bind_borrowed(8, replica_);
    insert.run();
    return true;
  });
}

std::vector<bool> InboxStore::accept_all(const std::vector<InboxEntry>& entries,
                                         const std::vector<std::string>& finished) {
  std::vector<bool> fresh;
  fresh.reserve(entries.size());
  if (entries.empty() && finished.empty())
    return fresh;
  db_.transaction([&] {
    mark_done(finished);
    if (!entries.empty() && db_.dialect() == Dialect::postgresql) {
      fresh = accept_batch(entries);
      return;
    }
    for (const auto& entry : entries)
      fresh.push_back(accept(entry));
  });
  return fresh;
}

// What accept() does for each entry, in one statement: every statement is a round trip to the
// server, so the batch is sent as one JSON array. The keys are inserted first; the entries whose
// key was new go to inbox_pending in arrival order (a key twice in one batch: its first entry),
// but for those recorded "done" (accept(): the key only).
std::vector<bool> InboxStore::accept_batch(const std::vector<InboxEntry>& entries) {
  std::string batch = "[";
  for (const auto& entry : entries) {
    if (batch.size() > 1)
      batch += ',';
    batch += '[';
    for (const std::string* field :
         {&entry.key, &entry.platform, &entry.user_id, &entry.channel, &entry.thread}) {
      append_json_string(batch, *field);
      batch += ',';
    }
    append_json_string(batch, redact(entry.text));
    batch += ',';
    append_json_string(batch, entry.state);
    batch += ']';
  }
  batch += ']';
  auto& insert = cached(
      accept_batch_,
      "WITH batch AS (SELECT e->>0 AS key, e->>1 AS platform, e->>2 AS user_id, "
      "e->>3 AS channel, e->>4 AS thread, e->>5 AS text, e->>6 AS state, n "
      "FROM jsonb_array_elements(?1::jsonb) WITH ORDINALITY AS b(e, n)), "
      "fresh AS (INSERT INTO inbox_keys (key, received_at) SELECT DISTINCT key, ?2 FROM batch "
      "ON CONFLICT (key) DO NOTHING RETURNING key), "
      "pending AS (INSERT INTO inbox_pending (key, platform, user_id, channel, thread, text, "
      "state, received_at, replica) "
      "SELECT key, platform, user_id, channel, thread, text, 'received', ?2, ?3 FROM "
      "(SELECT DISTINCT ON (b.key) b.* FROM batch b JOIN fresh f ON f.key = b.key "
      "ORDER BY b.key, b.n) first WHERE state <> 'done' ORDER BY n) "
      "SELECT key FROM fresh");
  insert.bind(1, batch).bind(2, clock_.now_ms()).bind(3, replica_);
  std::unordered_set<std::string> added;
  while (insert.step())
    added.insert(insert.column_text(0));
  std::vector<bool> fresh;
  fresh.reserve(entries.size());
  for (const auto& entry : entries)
    fresh.push_back(added.erase(entry.key) > 0);
  return fresh;
}

// The pending table only holds unfinished commands (normally a handful), so finding one by key
// is a short scan, cheaper than keeping an index on it up to date with every delivery.
void InboxStore::mark_started(std::string_view key) {
  auto& update = cached(set_started_, "UPDATE inbox_pending SET state = 'started' WHERE key = ?");
  update.bind(1, key);
  update.run();
}

void InboxStore::mark_done(std::string_view key) {
  auto& remove = cached(remove_, "DELETE FROM inbox_pending WHERE key = ?");
  remove.bind_borrowed(1, key);
  remove.run();
}

void InboxStore::mark_done(const std::vector<std::string>& keys) {
  if (keys.empty())
    return;
  // One command at a time (the usual case at one command in flight): the plain statement. The
  // JSON list below costs about six times the instructions for a single key (json_each's virtual
  // table and the IN list's temporary index: 32,000 against 5,000, callgrind, Release).
  if (keys.size() == 1)
    return mark_done(std::string_view(keys.front()));
  // One statement and one pass over the pending table for the whole batch, the keys passed as
  // a JSON array, instead of a statement and a pass per key.
  std::string list = "[";
  for (const auto& key : keys) {
    if (list.size() > 1)
      list += ',';
    append_json_string(list, key);
  }
  list += ']';
  auto& remove = cached(
      remove_all_, db_.dialect() == Dialect::sqlite
                       ? "DELETE FROM inbox_pending WHERE key IN (SELECT value FROM json_each(?))"
                       // Through the index on key: a sequential scan also reads every row version
                       // deleted since the last vacuum, and this table's rows are all short-lived.
                       : "DELETE FROM inbox_pending WHERE key = ANY (ARRAY(SELECT "
                         "jsonb_array_elements_text(?::jsonb)))");
  remove.bind(1, list);
  remove.run();
}

std::vector<InboxEntry> InboxStore::in_state(std::string_view state) {
  std::vector<InboxEntry> out;
  if (state == "done") {
    // Finished commands keep only their key (for deduplication), not what they said.
    auto select = db_.prepare(
        "SELECT key, received_at FROM inbox_keys WHERE key NOT IN (SELECT key FROM inbox_pending) "
        "ORDER BY received_at, key");
    while (select.step()) {
      out.push_back(
          InboxEntry{select.column_text(0), "", "", "", "", "", "done", select.column_int64(1)});
    }
    return out;
  }
  auto select = db_.prepare(
      "SELECT key, platform, user_id, channel, thread, text, state, received_at, replica FROM "
      "inbox_pending WHERE state = ? ORDER BY received_at, id");
  select.bind(1, state);
  while (select.step()) {
    out.push_back(InboxEntry{select.column_text(0), select.column_text(1), select.column_text(2),
                             select.column_text(3), select.column_text(4), select.column_text(5),
                             select.column_text(6), select.column_int64(7), select.column_text(8)});
  }
  return out;
}

std::vector<InboxEntry> InboxStore::others_pending() {
  std::vector<InboxEntry> out;
  auto select = db_.prepare(
      "SELECT key, platform, user_id, channel, thread, text, state, received_at, replica FROM "
      "inbox_pending WHERE replica <> ? ORDER BY received_at, id");
  select.bind(1, replica_);
  while (select.step()) {
    out.push_back(InboxEntry{select.column_text(0), select.column_text(1), select.column_text(2),
                             select.column_text(3), select.column_text(4), select.column_text(5),
                             select.column_text(6), select.column_int64(7), select.column_text(8)});
  }
  return out;
}

bool InboxStore::adopt(std::string_view key, std::string_view from) {
  auto update = db_.prepare("UPDATE inbox_pending SET replica = ? WHERE key = ? AND replica = ?");
  update.bind(1, replica_).bind(2, key).bind(3, from);
  update.run();
  return db_.changes() > 0;
}

int InboxStore::prune_done_before(EpochMillis cutoff) {
  auto remove = db_.prepare(
      "DELETE FROM inbox_keys WHERE received_at < ? AND key NOT IN (SELECT key FROM "
      "inbox_pending)");
  remove.bind(1, cutoff);
  remove.run();
  return db_.changes();
}

std::size_t InboxStore::size() {
  auto count = db_.prepare("SELECT COUNT(*) FROM inbox_keys");
  count.step();
  return static_cast<std::size_t>(count.column_int64(0));
}

}  // namespace shipmate::storage
