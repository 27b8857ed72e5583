#include "bot/app_database.h"

#include <cstdio>
#include <filesystem>

#include "bot/app.h"
#include "common/clock.h"
#include "storage/audit_log.h"

namespace shipmate::bot {

Result<std::unique_ptr<storage::Database>> open_app_database(const Config& config) {
  if (!storage::Database::is_postgresql(config.database_path)) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(config.database_path).parent_path(),
                                        ec);
  }
  auto database = storage::Database::open(config.database_path);
  // One process per SQLite file (its file lock, single_writer_vfs.h); on PostgreSQL every
  // process is a replica that holds a lease of its own (bot/replica.h, claimed by the App).
  return database;
}

std::string database_write_problem(storage::Database& database) {
  try {
    if (database.dialect() == storage::Dialect::postgresql) {
      // A hot standby (or a read-only default) refuses a read-write transaction here.
      database.exec("BEGIN READ WRITE");
      database.exec("ROLLBACK");
      return {};
    }
    database.exec("BEGIN IMMEDIATE");
    database.exec("ROLLBACK");
    return {};
  } catch (const std::exception& e) {
    return std::string("the database cannot take writes: ") + e.what();
  }
}

int run_audit_verify(const Config& config) {
  // Read-only: a running `serve` is the database's only writer, and verifying must not wait for
  // it, migrate the file or create one where none is.
  auto database = storage::Database::open_read_only(config.database_path);
  if (!database) {
    std::fprintf(stderr, "shipmate: %s\n", database.error().message.c_str());
    return 2;
  }
  SystemClock clock;
  storage::AuditLog audit(**database, clock);
  auto report = audit.verify();
  if (report.ok) {
    std::printf("audit log intact: %lld records, hash chain verified\n",
                static_cast<long long>(report.records_checked));
    return 0;
  }
  std::printf("audit log TAMPERED: %s\n", report.problem.c_str());
  return 1;
}

}  // namespace shipmate::bot
