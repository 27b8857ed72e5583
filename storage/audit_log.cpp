#include "storage/audit_log.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <tuple>
#include <utility>

#include "common/redact.h"

namespace shipmate::storage {
namespace {

const std::string kGenesisHash(64, '0');

// Bumped if the serialization below ever changes, so old and new hashes can never collide.
constexpr std::string_view kHashFormatTag = "shipmate-audit-v1";

constexpr std::string_view kRecordColumns =
    "seq, at, actor, action, target, outcome, details, prev_hash, hash";

// Each field is preceded by its length as 8 big-endian bytes, so no choice of field contents can
// make two different records serialize to the same bytes (unlike separators, which free text
// could contain).
void append_field(std::string& out, std::string_view field) {
  const auto size = static_cast<std::uint64_t>(field.size());
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((size >> shift) & 0xff));
  }
  out.append(field);
}

std::string to_hex(const unsigned char* bytes, unsigned int size) {
  constexpr std::string_view kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(kDigits[bytes[i] >> 4]);
    out.push_back(kDigits[bytes[i] & 0x0f]);
  }
  return out;
}

AuditEntry redacted(const AuditEntry& entry) {
  return AuditEntry{redact(entry.actor), redact(entry.action), redact(entry.target),
                    redact(entry.outcome), redact(entry.details)};
}

AuditRecord read_record(const Statement& row) {
  AuditRecord record;
  record.seq = row.column_int64(0);
  record.at = row.column_int64(1);
  record.entry.actor = row.column_text(2);
  record.entry.action = row.column_text(3);
  record.entry.target = row.column_text(4);
  record.entry.outcome = row.column_text(5);
  record.entry.details = row.column_text(6);
  record.prev_hash = row.column_text(7);
  record.hash = row.column_text(8);
  return record;
}

// The chain's tip is read from the table inside the writing transaction rather than cached: a
// cache could go stale when a caller's transaction rolls back or another connection appends, and
// the lookup is a single rowid seek.
std::pair<std::int64_t, std::string> chain_tip(Database& db) {
  // PostgreSQL: appends from several connections serialize on the chain's head row (held to the
  // end of the transaction); the tip read after it is the one the last committed append left.
  // SQLite's BEGIN IMMEDIATE already lets one writer in at a time.
  if (db.dialect() == Dialect::postgresql)
    db.prepare("SELECT id FROM audit_chain_head WHERE id = 1 FOR UPDATE").run();
  Statement query = db.prepare("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
  if (!query.step())
    return {0, kGenesisHash};
  return {query.column_int64(0), query.column_text(1)};
}

class Appender {
 public:
  explicit Appender(Database& db)
      : insert_(db.prepare("INSERT INTO audit_log (" + std::string(kRecordColumns) +
                           ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")) {
    std::tie(last_seq_, last_hash_) = chain_tip(db);
  }

  AuditRecord append(EpochMillis at, const AuditEntry& entry) {
    AuditRecord record;
    record.seq = last_seq_ + 1;
    record.at = at;
    record.entry = redacted(entry);
    record.prev_hash = last_hash_;
    record.hash = AuditLog::compute_hash(record.seq, record.at, record.entry, record.prev_hash);
    insert_.bind(1, record.seq)
        .bind(2, record.at)
        .bind(3, record.entry.actor)
        .bind(4, record.entry.action)
        .bind(5, record.entry.target)
        .bind(6, record.entry.outcome)
        .bind(7, record.entry.details)
        .bind(8, record.prev_hash)
        .bind(9, record.hash)
        .run();
    last_seq_ = record.seq;
    last_hash_ = record.hash;
    return record;
  }

 private:
  Statement insert_;
  std::int64_t last_seq_ = 0;
  std::string last_hash_;
};

}  // namespace

std::string AuditLog::compute_hash(std::int64_t seq, EpochMillis at, const AuditEntry& entry,
                                   std::string_view prev_hash) {
  std::string message;
  message.reserve(kHashFormatTag.size() + entry.details.size() + prev_hash.size() + 160);
  append_field(message, kHashFormatTag);
  append_field(message, std::to_string(seq));
  append_field(message, std::to_string(at));
  append_field(message, entry.actor);
  append_field(message, entry.action);
  append_field(message, entry.target);
  append_field(message, entry.outcome);
  append_field(message, entry.details);
  append_field(message, prev_hash);

  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_size = 0;
  if (EVP_Digest(message.data(), message.size(), digest.data(), &digest_size, EVP_sha256(),
                 nullptr) != 1) {
    throw StorageError("cannot compute the audit log's SHA-256 (OpenSSL failed)");
  }
  return to_hex(digest.data(), digest_size);
}

AuditRecord AuditLog::append(const AuditEntry& entry) {
  const EpochMillis now = clock_.now_ms();
  return db_.transaction([&] {
    AuditRecord record = Appender(db_).append(now, entry);
    notify(record);
    return record;
  });
}

void AuditLog::remove_observer(AuditObserver* observer) {
  observers_.erase(std::remove(observers_.begin(), observers_.end(), observer), observers_.end());
}

void AuditLog::notify(const AuditRecord& record) {
  for (AuditObserver* observer : observers_)
    observer->audit_appended(record);
}

void AuditLog::append_batch(const std::vector<AuditEntry>& entries) {
  if (entries.empty())
    return;
  const EpochMillis now = clock_.now_ms();
  db_.transaction([&] {
    Appender appender(db_);
    for (const AuditEntry& entry : entries) {
      const AuditRecord record = appender.append(now, entry);
      if (!observers_.empty())
        notify(record);
    }
  });
}

std::vector<AuditRecord> AuditLog::tail(int limit) {
  if (limit <= 0)
    return {};
  Statement query = db_.prepare(
      "SELECT " + std::string(kRecordColumns) + " FROM (SELECT " + std::string(kRecordColumns) +
      " FROM audit_log ORDER BY seq DESC LIMIT ?1) AS newest ORDER BY seq ASC");
  query.bind(1, static_cast<std::int64_t>(limit));
  std::vector<AuditRecord> out;
  while (query.step())
    out.push_back(read_record(query));
  return out;
}

AuditVerifyReport AuditLog::verify() {
  AuditVerifyReport report;
  auto fail = [&report](std::int64_t seq, std::string problem) {
    report.ok = false;
    report.first_bad_seq = seq;
    report.problem = std::move(problem);
    return report;
  };

  // A single statement reads one consistent snapshot, so appends made meanwhile by another
  // connection cannot show up half-way through the walk, and writers are not blocked.
  Statement query =
      db_.prepare("SELECT " + std::string(kRecordColumns) + " FROM audit_log ORDER BY seq ASC");
  std::int64_t expected_seq = 1;
  std::string expected_prev = kGenesisHash;
  while (query.step()) {
    const AuditRecord record = read_record(query);
    ++report.records_checked;
    const std::string seq_text = std::to_string(record.seq);
    if (record.seq != expected_seq) {
      std::string problem = record.seq == expected_seq + 1
                                ? "record " + std::to_string(expected_seq) + " is missing"
                                : "records " + std::to_string(expected_seq) + " to " +
                                      std::to_string(record.seq - 1) + " are missing";
      problem += expected_seq == 1 ? " (deleted?): the log starts at seq " + seq_text
                                   : " (deleted?): the log jumps from seq " +
                                         std::to_string(expected_seq - 1) + " to seq " + seq_text;
      return fail(expected_seq, std::move(problem));
    }
    if (record.prev_hash != expected_prev) {
      return fail(record.seq, "record " + seq_text +
                                  " does not follow the record before it: its prev_hash does not "
                                  "match that record's hash (reordered or replaced?)");
    }
    if (compute_hash(record.seq, record.at, record.entry, record.prev_hash) != record.hash) {
      return fail(record.seq,
                  "record " + seq_text + " was edited: its hash does not match its contents");
    }
    expected_prev = record.hash;
    ++expected_seq;
  }
  return report;
}

}  // namespace shipmate::storage
