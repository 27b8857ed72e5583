#include "storage/inbox_store.h"

#include "common/redact.h"

namespace shipmate::storage {

Statement& InboxStore::cached(std::optional<Statement>& slot, std::string_view sql) {
  if (!slot)
    slot.emplace(db_, sql);
  // A statement left mid-step by an earlier exception must not carry old state or bindings.
  slot->reset();
  return *slot;
}

bool InboxStore::accept(const InboxEntry& entry) {
  auto& insert = cached(
      insert_,
      "INSERT INTO inbox (key, platform, user_id, channel, thread, text, state, received_at) "
      "VALUES (?, ?, ?, ?, ?, ?, 'received', ?) ON CONFLICT (key) DO NOTHING");
  insert.bind(1, entry.key)
      .bind(2, entry.platform)
      .bind(3, entry.user_id)
      .bind(4, entry.channel)
      .bind(5, entry.thread)
      .bind(6, redact(entry.text))
      .bind(7, clock_.now_ms());
  insert.run();
  return db_.changes() > 0;
}

std::vector<bool> InboxStore::accept_all(const std::vector<InboxEntry>& entries,
                                         const std::vector<std::string>& finished) {
  std::vector<bool> fresh;
  fresh.reserve(entries.size());
  if (entries.empty() && finished.empty())
    return fresh;
  db_.transaction([&] {
    const EpochMillis now = clock_.now_ms();
    for (const auto& key : finished)
      set_state(key, "done", now);
    for (const auto& entry : entries)
      fresh.push_back(accept(entry));
  });
  return fresh;
}

void InboxStore::set_state(std::string_view key, std::string_view state,
                           std::optional<EpochMillis> finished_at) {
  auto& update = cached(set_state_, "UPDATE inbox SET state = ?, finished_at = ? WHERE key = ?");
  update.bind(1, state).bind(2, finished_at).bind(3, key);
  update.run();
}

void InboxStore::mark_started(std::string_view key) {
  set_state(key, "started", std::nullopt);
}

void InboxStore::mark_done(std::string_view key) {
  set_state(key, "done", clock_.now_ms());
}

void InboxStore::mark_done(const std::vector<std::string>& keys) {
  if (keys.empty())
    return;
  db_.transaction([&] {
    for (const auto& key : keys)
      set_state(key, "done", clock_.now_ms());
  });
}

std::vector<InboxEntry> InboxStore::in_state(std::string_view state) {
  auto select = db_.prepare(
      "SELECT key, platform, user_id, channel, thread, text, state, received_at FROM inbox "
      "WHERE state = ? ORDER BY received_at, rowid");
  select.bind(1, state);
  std::vector<InboxEntry> out;
  while (select.step()) {
    out.push_back(InboxEntry{select.column_text(0), select.column_text(1), select.column_text(2),
                             select.column_text(3), select.column_text(4), select.column_text(5),
                             select.column_text(6), select.column_int64(7)});
  }
  return out;
}

int InboxStore::prune_done_before(EpochMillis cutoff) {
  auto remove = db_.prepare("DELETE FROM inbox WHERE state = 'done' AND received_at < ?");
  remove.bind(1, cutoff);
  remove.run();
  return db_.changes();
}

std::size_t InboxStore::size() {
  auto count = db_.prepare("SELECT COUNT(*) FROM inbox");
  count.step();
  return static_cast<std::size_t>(count.column_int64(0));
}

}  // namespace shipmate::storage
