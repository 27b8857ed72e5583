#include "bot/app_database.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

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
  // Everything here assumes one Shipmate per database, as SQLite's file lock ensures; on
  // PostgreSQL an advisory lock does, until replicas are supported. A Shipmate that has just
  // exited (a restart) holds it until the server notices its connection closed, so the claim is
  // retried for a few seconds before a second Shipmate is refused.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  bool claimed = !database || (*database)->claim_sole_writer();
  while (!claimed && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    claimed = (*database)->claim_sole_writer();
  }
  if (!claimed) {
    return make_error("cannot use database " + (*database)->path() +
                      ": another Shipmate is using it, and running several against one "
                      "database is not supported yet");
  }
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
