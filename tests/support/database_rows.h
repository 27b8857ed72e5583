// Reading what a running shipmate left in its database, on either backend (a SQLite path or a
// postgresql:// URI), for the end-to-end tests that link the stores.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/database.h"

namespace shipmate::testing {

// The first `columns` columns of each row of `sql`, joined by '|'. A database that does not
// open is a test failure (and no rows).
inline std::vector<std::string> database_rows(const std::string& location, const std::string& sql,
                                              int columns = 1) {
  auto db = storage::Database::open(location);
  EXPECT_TRUE(db.ok()) << db.error().message;
  std::vector<std::string> out;
  if (!db)
    return out;
  auto select = (*db)->prepare(sql);
  while (select.step()) {
    std::string row = select.column_text(0);
    for (int i = 1; i < columns; ++i)
      row += "|" + select.column_text(i);
    out.push_back(row);
  }
  return out;
}

}  // namespace shipmate::testing
