// The audit log: append-only and hash-chained.
//
// Each record carries the SHA-256 of the previous record's hash together with its own fields, so
// editing, deleting or reordering any record breaks the chain at that point. SQLite triggers
// refuse UPDATE and DELETE on the table; `verify()` catches what bypasses them (someone editing
// the file with another tool).
//
// Contract
// - append() writes one record durably (its own transaction, or the caller's if one is open)
//   and returns it with seq and hash filled in. Text fields pass through redact() first.
// - verify() walks every record in seq order and reports the first one that does not match.
// - Observers (add_observer) hear of every appended record inside the appending transaction, in
//   seq order, so what they write commits or rolls back with the record. An observer must not
//   append to the audit log itself, must not throw for records it does not care about, and must
//   outlive the AuditLog (or be removed first).
// - Threading and errors as in database.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "storage/database.h"

namespace shipmate::storage {

struct AuditEntry {
  std::string actor;    // user id, or "shipmate" for the bot's own actions
  std::string action;   // e.g. "deploy.requested", "lock.acquired", "command"
  std::string target;   // e.g. "hello@staging", "deploy#12"
  std::string outcome;  // "ok", "refused", "failed", ...
  std::string details;  // free text, already human-readable
};

struct AuditRecord {
  std::int64_t seq = 0;  // 1, 2, 3, ... with no gaps
  EpochMillis at = 0;
  AuditEntry entry;
  std::string prev_hash;  // hex; 64 zeros for the first record
  std::string hash;       // hex
};

struct AuditVerifyReport {
  bool ok = true;
  std::int64_t records_checked = 0;
  std::optional<std::int64_t> first_bad_seq;  // the first record that fails, when !ok
  std::string problem;                        // one line: what is wrong with it
};

// Told about each record as it is appended (incident timelines follow the engine this way, so
// the deploy flow never needs to know incidents exist).
class AuditObserver {
 public:
  virtual ~AuditObserver() = default;
  virtual void audit_appended(const AuditRecord& record) = 0;
};

class AuditLog {
 public:
  AuditLog(Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  AuditRecord append(const AuditEntry& entry);
  // Appends many records in one transaction (the fast path for bulk writers).
  void append_batch(const std::vector<AuditEntry>& entries);
  // The newest `limit` records, oldest first.
  std::vector<AuditRecord> tail(int limit);
  AuditVerifyReport verify();

  void add_observer(AuditObserver* observer) { observers_.push_back(observer); }
  void remove_observer(AuditObserver* observer);

  // Exposed for tests: the hash of a record given its fields and predecessor's hash.
  static std::string compute_hash(std::int64_t seq, EpochMillis at, const AuditEntry& entry,
                                  std::string_view prev_hash);

 private:
  void notify(const AuditRecord& record);

  Database& db_;
  const Clock& clock_;
  std::vector<AuditObserver*> observers_;
};

}  // namespace shipmate::storage
