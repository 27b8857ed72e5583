// Running a storage test on both backends: SQLite and PostgreSQL (storage/database.h).
//
// A parameterized fixture takes `Backend` as its parameter and opens fresh_location(GetParam()):
// a new SQLite file in the fixture's TempDir, or a new database on the binary's throwaway
// PostgreSQL server (postgres_server.h), so every test starts empty and can reopen its
// database. Instantiate with SHIPMATE_ON_BOTH_BACKENDS(Fixture). Without PostgreSQL installed
// the PostgreSQL instances fail (they never skip).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "storage/database.h"
#include "tests/support/postgres_server.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {

enum class Backend { sqlite, postgresql };

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::sqlite ? "SQLite" : "PostgreSQL";
}

// A location no test has used: an SQLite file under `dir` (":memory:" as `name` gives SQLite's
// private in-memory database), or a new PostgreSQL database.
inline std::string fresh_location(Backend backend, const TempDir& dir,
                                  const std::string& name = "shipmate.db") {
  if (backend == Backend::sqlite)
    return name == ":memory:" ? name : dir.file(name);
  return postgres_server().fresh_database();
}

inline std::unique_ptr<storage::Database> open_or_throw(const std::string& location) {
  auto db = storage::Database::open(location);
  if (!db)
    throw std::runtime_error("open failed: " + db.error().message);
  return std::move(db).value();
}

}  // namespace shipmate::testing

#define SHIPMATE_ON_BOTH_BACKENDS(fixture)                                              \
  INSTANTIATE_TEST_SUITE_P(Backends, fixture,                                           \
                           ::testing::Values(::shipmate::testing::Backend::sqlite,      \
                                             ::shipmate::testing::Backend::postgresql), \
                           ::shipmate::testing::backend_name)
