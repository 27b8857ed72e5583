// Copying a whole Shipmate database from one backend to another (`shipmate storage copy`):
// SQLite to PostgreSQL when moving to replicas, or back.
//
// Contract
// - The source is read in one read transaction (a consistent snapshot, so a running Shipmate
//   may keep writing meanwhile; it is opened read-only). Its schema must be this build's.
// - The destination must be empty (a new SQLite file, or a PostgreSQL database with no
//   Shipmate data in it); it is migrated to the latest schema, then every table is copied row
//   by row with its ids, inside one transaction: on any failure nothing is left half-copied.
//   PostgreSQL's identity sequences are moved past the copied ids.
// - The audit chain is copied verbatim and verified on the destination afterwards.
// - Errors are Error values written for a person; secrets in locations are redacted.
// - Threading: runs on the calling thread, blocking.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "storage/audit_log.h"

namespace shipmate::storage {

struct CopyReport {
  std::vector<std::pair<std::string, std::int64_t>> rows;  // table -> rows copied, in order
  AuditVerifyReport audit;                                 // verify() on the destination
  std::string from;                                        // descriptions without passwords
  std::string to;
};

// `from` and `to` are database locations: an SQLite path (optionally written `sqlite:PATH`) or
// a postgresql:// URI.
Result<CopyReport> copy_database(const std::string& from, const std::string& to);

// "sqlite:PATH" -> "PATH"; anything else unchanged.
std::string database_location(const std::string& text);

}  // namespace shipmate::storage
