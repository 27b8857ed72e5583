#include "storage/outbox_store.h"

#include <algorithm>

#include "storage/inbox_store.h"

namespace shipmate::storage {

namespace {
constexpr const char* kColumns =
    "seq, idem_key, platform, channel, thread, intent, target_key, body, state, platform_id, "
    "created_at, replica";
}  // namespace

Statement& OutboxStore::cached(std::optional<Statement>& slot, std::string_view sql) {
  if (!slot)
    slot.emplace(db_, sql);
  slot->reset();
  return *slot;
}

OutboxRow OutboxStore::row_of(const Statement& select) {
  OutboxRow row;
  row.seq = select.column_int64(0);
  row.key = select.column_text(1);
  row.platform = select.column_text(2);
  row.channel = select.column_text(3);
  row.thread = select.column_text(4);
  row.intent = select.column_text(5);
  row.target_key = select.column_text(6);
  row.body = select.column_text(7);
  row.state = select.column_text(8);
  row.platform_id = select.column_text(9);
  row.created_at = select.column_int64(10);
  row.replica = select.column_text(11);
  return row;
}

std::vector<bool> OutboxStore::commit(
    const std::vector<OutboxRow>& rows, const std::vector<std::string>& finished,
    const std::vector<std::pair<std::string, std::string>>& sent) {
  std::vector<bool> fresh;
  fresh.reserve(rows.size());
  if (rows.empty() && finished.empty() && sent.empty())
    return fresh;
  const EpochMillis now = clock_.now_ms();
  db_.transaction([&] {
    for (const auto& row : rows) {
      auto& insert = cached(insert_,
                            "INSERT INTO outbox (idem_key, platform, channel, thread, intent, "
                            "target_key, body, state, created_at, replica) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) "
                            "ON CONFLICT (idem_key) DO NOTHING");
      insert.bind(1, row.key)
          .bind(2, row.platform)
          .bind(3, row.channel)
          .bind(4, row.thread)
          .bind(5, row.intent)
          .bind(6, row.target_key)
          .bind(7, row.body)
          .bind(8, row.created_at != 0 ? row.created_at : now)
          .bind(9, inbox_.replica());
      insert.run();
      fresh.push_back(db_.changes() > 0);
    }
    for (const auto& [key, platform_id] : sent) {
      auto& mark = cached(mark_sent_,
                          "UPDATE outbox SET state = 'sent', platform_id = ?, sent_at = ? "
                          "WHERE idem_key = ?");
      mark.bind(1, platform_id).bind(2, now).bind(3, key);
      mark.run();
    }
    inbox_.mark_done(finished);
  });
  return fresh;
}

std::vector<OutboxRow> OutboxStore::unsent(std::string_view platform) {
  auto select = db_.prepare(
      std::string("SELECT ") + kColumns +
      " FROM outbox WHERE state = 'pending' AND platform = ? AND replica = ? ORDER BY seq");
  select.bind(1, platform).bind(2, inbox_.replica());
  std::vector<OutboxRow> out;
  while (select.step())
    out.push_back(row_of(select));
  return out;
}

std::vector<std::string> OutboxStore::others_with_unsent(std::string_view platform) {
  auto select = db_.prepare(
      "SELECT DISTINCT replica FROM outbox WHERE state = 'pending' AND platform = ? AND "
      "replica <> ? ORDER BY replica");
  select.bind(1, platform).bind(2, inbox_.replica());
  std::vector<std::string> out;
  while (select.step())
    out.push_back(select.column_text(0));
  return out;
}

std::vector<OutboxRow> OutboxStore::adopt_unsent(std::string_view platform, std::string_view from) {
  auto adopt = db_.prepare(std::string("UPDATE outbox SET replica = ? WHERE state = 'pending' AND "
                                       "platform = ? AND replica = ? RETURNING ") +
                           kColumns);
  adopt.bind(1, inbox_.replica()).bind(2, platform).bind(3, from);
  std::vector<OutboxRow> out;
  while (adopt.step())
    out.push_back(row_of(adopt));
  std::sort(out.begin(), out.end(),
            [](const OutboxRow& a, const OutboxRow& b) { return a.seq < b.seq; });
  return out;
}

std::optional<OutboxRow> OutboxStore::find(std::string_view key) {
  auto select = db_.prepare(std::string("SELECT ") + kColumns + " FROM outbox WHERE idem_key = ?");
  select.bind(1, key);
  if (!select.step())
    return std::nullopt;
  return row_of(select);
}

int OutboxStore::prune_sent_before(EpochMillis cutoff) {
  // A row's command is its key up to the last '#'; rows of commands still pending stay.
  auto remove = db_.prepare(
      "DELETE FROM outbox WHERE state = 'sent' AND created_at < ? AND NOT EXISTS (SELECT 1 FROM "
      "inbox_pending p WHERE outbox.idem_key LIKE p.key || '#%')");
  remove.bind(1, cutoff);
  remove.run();
  return db_.changes();
}

std::size_t OutboxStore::size() {
  auto count = db_.prepare("SELECT COUNT(*) FROM outbox");
  count.step();
  return static_cast<std::size_t>(count.column_int64(0));
}

}  // namespace shipmate::storage
