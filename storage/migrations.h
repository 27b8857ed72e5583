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
// file's schema is newer than this build knows, or when SQLite fails.
void apply_migrations(Database& db);

}  // namespace detail
}  // namespace shipmate::storage
