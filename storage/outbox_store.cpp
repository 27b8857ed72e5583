#include "storage/outbox_store.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "common/strings.h"
#include "storage/inbox_store.h"
#include "storage/kept_plan.h"

namespace shipmate::storage {

namespace {
constexpr const char* kColumns =
    "seq, idem_key, platform, channel, thread, intent, target_key, body, state, platform_id, "
    "created_at, replica";
}  // namespace

Statement& OutboxStore::cached(std::optional<Statement>& slot, std::string_view sql) {
  // Each statement kept here is the hot path's, a lookup or change by an indexed key or an
  // insert: on PostgreSQL its plan is made once (storage/kept_plan.h), not at every execution.
  if (!slot)
    slot.emplace(db_, keep_plan(sql));
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
  if (rows.empty() && finished.empty() && sent.empty())
    return {};
  FreshRows fresh;
  db_.transaction([&] { fresh = record(rows, finished, sent); });
  return fresh.read();
}

std::vector<bool> OutboxStore::FreshRows::read() {
  if (returning_ == nullptr)
    return std::move(known_);
  std::unordered_set<std::string> added;
  while (returning_->step())
    added.insert(returning_->column_text(0));
  returning_->reset();
  returning_ = nullptr;
  std::vector<bool> fresh;
  fresh.reserve(keys_.size());
  for (const auto& key : keys_)
    fresh.push_back(added.erase(key) > 0);
  return fresh;
}

OutboxStore::FreshRows OutboxStore::record(
    const std::vector<OutboxRow>& rows, const std::vector<std::string>& finished,
    const std::vector<std::pair<std::string, std::string>>& sent) {
  FreshRows out;
  std::vector<bool>& fresh = out.known_;
  fresh.reserve(rows.size());
  if (rows.empty() && finished.empty() && sent.empty())
    return out;
  const EpochMillis now = clock_.now_ms();
  // On PostgreSQL each statement that is waited for is a round trip to the server: the rows go
  // as one JSON array in one statement whose answer is read after COMMIT, and two or more marks
  // as one statement.
  const bool batched = db_.dialect() == Dialect::postgresql;
  db_.transaction([&] {
    if (batched && !rows.empty()) {
      insert_batch(rows, now, out);
    } else {
      for (const auto& row : rows) {
        auto& insert = cached(insert_,
                              "INSERT INTO outbox (idem_key, platform, channel, thread, intent, "
                              "target_key, body, state, created_at, replica) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) "
                              "ON CONFLICT (idem_key) DO NOTHING");
        // `rows` outlives the run: the strings are bound where they are, not copied.
        insert.bind_borrowed(1, row.key)
            .bind_borrowed(2, row.platform)
            .bind_borrowed(3, row.channel)
            .bind_borrowed(4, row.thread)
            .bind_borrowed(5, row.intent)
            .bind_borrowed(6, row.target_key)
            .bind_borrowed(7, row.body)
            .bind(8, row.created_at != 0 ? row.created_at : now)
            .bind_borrowed(9, inbox_.replica());
        insert.run();
        const bool added = db_.changes() > 0;
        fresh.push_back(added);
        if (added)
          remember_inserted(row.key);
      }
    }
    if (batched && sent.size() >= 2) {
      mark_sent_batch(sent, now);
      inbox_.mark_done(finished);
      return;
    }
    for (const auto& [key, platform_id] : sent)
      mark_sent(key, platform_id, now);
    inbox_.mark_done(finished);
  });
  return out;
}

void OutboxStore::remember_inserted(std::string_view key) {
  if (db_.dialect() != Dialect::sqlite)
    return;
  Inserted& slot = inserted_[next_inserted_ % kRememberedRows];
  slot.key.assign(key);  // into the slot's own buffer: no allocation once it is large enough
  slot.seq = db_.last_insert_rowid();
  ++next_inserted_;
}

void OutboxStore::mark_sent(std::string_view key, std::string_view platform_id, EpochMillis now) {
  if (db_.dialect() == Dialect::sqlite) {
    // Newest first: the mark is usually of the reply recorded just before.
    const std::size_t remembered = std::min(next_inserted_, kRememberedRows);
    for (std::size_t back = 1; back <= remembered; ++back) {
      const Inserted& slot = inserted_[(next_inserted_ - back) % kRememberedRows];
      if (slot.key != key)
        continue;
      auto& mark = cached(mark_sent_by_seq_,
                          "UPDATE outbox SET state = 'sent', platform_id = ?, sent_at = ? "
                          "WHERE seq = ? AND idem_key = ?");
      mark.bind_borrowed(1, platform_id).bind(2, now).bind(3, slot.seq).bind_borrowed(4, key);
      mark.run();
      if (db_.changes() > 0)
        return;
      break;  // stale: by the key below
    }
  }
  auto& mark = cached(mark_sent_,
                      "UPDATE outbox SET state = 'sent', platform_id = ?, sent_at = ? "
                      "WHERE idem_key = ?");
  mark.bind_borrowed(1, platform_id).bind(2, now).bind_borrowed(3, key);
  mark.run();
}

void OutboxStore::insert_batch(const std::vector<OutboxRow>& rows, EpochMillis now,
                               FreshRows& fresh) {
  std::string batch = "[";
  for (const auto& row : rows) {
    if (batch.size() > 1)
      batch += ',';
    batch += '[';
    for (const std::string* field : {&row.key, &row.platform, &row.channel, &row.thread,
                                     &row.intent, &row.target_key, &row.body}) {
      append_json_string(batch, *field);
      batch += ',';
    }
    batch += std::to_string(row.created_at != 0 ? row.created_at : now);
    batch += ']';
  }
  batch += ']';
  // In the array's order, so `seq` follows the order the rows were queued in.
  auto& insert = cached(
      insert_batch_,
      "INSERT INTO outbox (idem_key, platform, channel, thread, intent, target_key, body, state, "
      "created_at, replica) "
      "SELECT r->>0, r->>1, r->>2, r->>3, r->>4, r->>5, r->>6, 'pending', (r->>7)::bigint, ?2 "
      "FROM jsonb_array_elements(?1::jsonb) WITH ORDINALITY AS t(r, n) ORDER BY n "
      "ON CONFLICT (idem_key) DO NOTHING RETURNING idem_key");
  insert.bind(1, batch).bind(2, inbox_.replica());
  insert.send();
  fresh.returning_ = &insert;
  fresh.keys_.clear();
  for (const auto& row : rows)
    fresh.keys_.push_back(row.key);
}

void OutboxStore::mark_sent_batch(const std::vector<std::pair<std::string, std::string>>& sent,
                                  EpochMillis now) {
  // A key marked twice keeps its last platform id, as the one-by-one updates did.
  std::unordered_map<std::string_view, std::size_t> last;
  for (std::size_t i = 0; i < sent.size(); ++i)
    last[sent[i].first] = i;
  std::string batch = "[";
  for (std::size_t i = 0; i < sent.size(); ++i) {
    if (last[sent[i].first] != i)
      continue;
    if (batch.size() > 1)
      batch += ',';
    batch += '[';
    append_json_string(batch, sent[i].first);
    batch += ',';
    append_json_string(batch, sent[i].second);
    batch += ']';
  }
  batch += ']';
  // The `= ANY` on the keys lets the server find the rows through the unique index on
  // idem_key whatever its statistics say; the join alone was planned as a hash join over a
  // sequential scan of the whole outbox while the table had not been analysed yet.
  auto& mark = cached(mark_sent_batch_,
                      "UPDATE outbox SET state = 'sent', platform_id = s.e->>1, sent_at = ?2 "
                      "FROM jsonb_array_elements(?1::jsonb) AS s(e) WHERE idem_key = s.e->>0 AND "
                      "idem_key = ANY (ARRAY(SELECT m->>0 FROM jsonb_array_elements(?1::jsonb) "
                      "AS m))");
  mark.bind(1, batch).bind(2, now);
  mark.run();
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
