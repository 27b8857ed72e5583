// Internal to storage/: the schema history and the code that brings a database up to date.
//
// Each migration is applied in its own transaction together with the matching
// `PRAGMA user_version`, so a crash between migrations leaves the file at a well-defined version.
// To change the schema, append a new entry to the list in migrations.cpp; never edit an entry
// that has shipped.
#pragma once

#include <span>
#include <string_view>

namespace shipmate::storage {

class Database;

namespace detail {

struct Migration {
  int version;
  std::string_view sql;
};

// In ascending version order.
std::span<const Migration> migrations();
int latest_schema_version();

// Applies every migration newer than the database's user_version. Throws StorageError when the
// file's schema is newer than this build knows, or when SQLite fails. On PostgreSQL, hands over
// to apply_postgresql_migrations().
void apply_migrations(Database& db);

// PostgreSQL has a schema history of its own (migrations_postgres.cpp), numbered from 1, with
// the version in the table shipmate_schema; migrations run under an advisory lock, so replicas
// starting together apply each one once.
std::span<const Migration> postgresql_migrations();
int latest_postgresql_schema_version();
void apply_postgresql_migrations(Database& db);

}  // namespace detail
}  // namespace shipmate::storage
