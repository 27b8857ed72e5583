#include "tests/support/e2e_support.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

namespace shipmate::testing {

std::vector<std::string> query(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::vector<std::string> rows;
  if (sqlite3_open(db_path.c_str(), &db) != SQLITE_OK) {
    ADD_FAILURE() << "cannot open " << db_path;
    sqlite3_close(db);
    return rows;
  }
  // Shipmate may hold the write lock for a moment (migrations, WAL checkpoints) while a test
  // reads; wait for it rather than fail.
  sqlite3_busy_timeout(db, 10000);
  char* error = nullptr;
  sqlite3_exec(
      db, sql.c_str(),
      [](void* out, int columns, char** values, char**) {
        std::string row;
        for (int i = 0; i < columns; ++i) {
          if (i > 0)
            row += "|";
          row += values[i] ? values[i] : "NULL";
        }
        static_cast<std::vector<std::string>*>(out)->push_back(row);
        return 0;
      },
      &rows, &error);
  if (error != nullptr) {
    ADD_FAILURE() << sql << ": " << error;
    sqlite3_free(error);
  }
  sqlite3_close(db);
  return rows;
}

void install_spin_trigger(const std::string& db_path, const std::string& name,
                          const std::string& when) {
  query(db_path,
        "CREATE TABLE IF NOT EXISTS spin (x INTEGER);"
        "DELETE FROM spin;"
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3000) "
        "INSERT INTO spin SELECT x FROM n;"
        "CREATE TRIGGER " +
            name + " " + when + " BEGIN SELECT count(*) FROM spin a, spin b, spin c; END;");
}

std::string say(Subprocess& chat, const std::string& command, const std::string& expect,
                std::chrono::milliseconds timeout) {
  const std::size_t before = chat.output().size();
  chat.write(command + "\n");
  const bool seen = chat.wait_for_output(expect, timeout, before);
  EXPECT_TRUE(seen) << "after '" << command << "' expected '" << expect << "'; got:\n"
                    << chat.output_since(before);
  return chat.output_since(before);
}

}  // namespace shipmate::testing
