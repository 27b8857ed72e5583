#include "storage/lock_store.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "common/redact.h"

namespace shipmate::storage {
namespace {

// A lock counts as expired from the millisecond named by expires_at onwards.
constexpr std::string_view kUnexpired = "(expires_at IS NULL OR expires_at > ?1)";

// Scopes are machine-shaped ("service:hello@staging"); people read "hello@staging".
std::string describe_scope(std::string_view scope) {
  constexpr std::string_view kEnv = "env:";
  constexpr std::string_view kService = "service:";
  if (scope.starts_with(kEnv))
    return "environment " + std::string(scope.substr(kEnv.size()));
  if (scope.starts_with(kService))
    return std::string(scope.substr(kService.size()));
  return std::string(scope);
}

LockRecord read_lock(const Statement& row) {
  LockRecord record;
  record.scope = row.column_text(0);
  record.holder = row.column_text(1);
  record.reason = row.column_text(2);
  record.since = row.column_int64(3);
  record.expires_at = row.column_optional_int64(4);
  record.chat_ref = row.column_text(5);
  return record;
}

}  // namespace

Result<LockRecord> LockStore::acquire(std::string_view scope, std::string_view holder,
                                      std::string_view reason,
                                      std::optional<EpochMillis> expires_at,
                                      std::string_view chat_ref) {
  const EpochMillis now = clock_.now_ms();
  auto refusal = [&](const LockRecord& existing) -> Result<LockRecord> {
    std::string message = describe_scope(scope) + " is already locked by " + existing.holder +
                          " since " + format_utc(existing.since);
    if (existing.expires_at)
      message += " (until " + format_utc(*existing.expires_at) + ")";
    if (!existing.reason.empty())
      message += ": " + existing.reason;
    return make_error(std::move(message));
  };
  return db_.transaction([&]() -> Result<LockRecord> {
    if (auto existing = get(scope))
      return refusal(*existing);

    LockRecord record;
    record.scope = std::string(scope);
    record.holder = std::string(holder);
    record.reason = redact(reason);
    record.since = now;
    record.expires_at = expires_at;
    record.chat_ref = std::string(chat_ref);
    // An expired lock on the scope may still be waiting for take_expired(): it is replaced. A
    // live one is not, even if another writer took it since get() (PostgreSQL, several
    // replicas): the update's condition fails, nothing changes, and its holder is named.
    db_.prepare(
           "INSERT INTO locks (scope, holder, reason, since, expires_at, chat_ref) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (scope) DO UPDATE SET "
           "holder = excluded.holder, reason = excluded.reason, since = excluded.since, "
           "expires_at = excluded.expires_at, chat_ref = excluded.chat_ref "
           "WHERE locks.expires_at IS NOT NULL AND locks.expires_at <= ?4")
        .bind(1, record.scope)
        .bind(2, record.holder)
        .bind(3, record.reason)
        .bind(4, record.since)
        .bind(5, record.expires_at)
        .bind(6, record.chat_ref)
        .run();
    if (db_.changes() == 0) {
      if (auto existing = get(scope))
        return refusal(*existing);
      throw StorageError("the lock on " + describe_scope(scope) +
                         " changed while it was being taken; try again");
    }
    return record;
  });
}

bool LockStore::release(std::string_view scope) {
  return db_.transaction([&] {
    const bool held = get(scope).has_value();
    // An expired row for the scope goes too: nobody holds it, and keeping it serves no one.
    db_.prepare("DELETE FROM locks WHERE scope = ?1").bind(1, scope).run();
    return held;
  });
}

std::optional<LockRecord> LockStore::get(std::string_view scope) {
  Statement query = db_.prepare(
      "SELECT scope, holder, reason, since, expires_at, chat_ref FROM locks WHERE scope = ?2 AND " +
      std::string(kUnexpired));
  query.bind(1, clock_.now_ms()).bind(2, scope);
  if (!query.step())
    return std::nullopt;
  return read_lock(query);
}

std::vector<LockRecord> LockStore::take_expired() {
  // One statement claims and removes them, so with several writers each expired lock is taken
  // (and announced) by exactly one.
  Statement query = db_.prepare(
      "DELETE FROM locks WHERE expires_at IS NOT NULL AND expires_at <= ?1 "
      "RETURNING scope, holder, reason, since, expires_at, chat_ref");
  query.bind(1, clock_.now_ms());
  std::vector<LockRecord> expired;
  while (query.step())
    expired.push_back(read_lock(query));
  query.reset();
  // RETURNING gives no order; callers announce the oldest expiry first.
  std::sort(expired.begin(), expired.end(), [](const LockRecord& a, const LockRecord& b) {
    return std::tie(*a.expires_at, a.scope) < std::tie(*b.expires_at, b.scope);
  });
  return expired;
}

std::optional<EpochMillis> LockStore::next_expiry() {
  Statement query = db_.prepare("SELECT MIN(expires_at) FROM locks WHERE expires_at IS NOT NULL");
  if (!query.step())
    return std::nullopt;
  return query.column_optional_int64(0);
}

std::vector<std::pair<std::string, EpochMillis>> LockStore::expired_by(EpochMillis now, int limit) {
  Statement query = db_.prepare(
      "SELECT scope, expires_at FROM locks WHERE expires_at IS NOT NULL AND expires_at <= ?1 "
      "ORDER BY expires_at, scope LIMIT ?2");
  query.bind(1, now).bind(2, static_cast<std::int64_t>(limit));
  std::vector<std::pair<std::string, EpochMillis>> out;
  while (query.step())
    out.emplace_back(query.column_text(0), query.column_int64(1));
  return out;
}

std::optional<LockRecord> LockStore::take_expired(std::string_view scope, EpochMillis expires_at) {
  Statement query = db_.prepare(
      "DELETE FROM locks WHERE scope = ?1 AND expires_at = ?2 AND expires_at <= ?3 "
      "RETURNING scope, holder, reason, since, expires_at, chat_ref");
  query.bind(1, scope).bind(2, expires_at).bind(3, clock_.now_ms());
  std::optional<LockRecord> out;
  if (query.step())
    out = read_lock(query);
  while (query.step()) {
  }
  return out;
}

std::vector<LockRecord> LockStore::list() {
  Statement query =
      db_.prepare("SELECT scope, holder, reason, since, expires_at, chat_ref FROM locks WHERE " +
                  std::string(kUnexpired) + " ORDER BY since ASC, scope ASC");
  query.bind(1, clock_.now_ms());
  std::vector<LockRecord> out;
  while (query.step())
    out.push_back(read_lock(query));
  return out;
}

}  // namespace shipmate::storage
