// Which statements keep their plan on PostgreSQL. Every statement there is planned again at each
// execution, against the tables as they are then (storage/postgres.h, "Plans"): a plan made once,
// while a table was still empty, could go on scanning it sequentially long after it has grown.
// Planning costs the server about as much CPU as running the hot path's statements, though, so
// those are marked: SQL that starts with kKeepPlan (a comment, which SQLite ignores, and which
// also shows in PostgreSQL's views of the statement) has its plan made once per connection inside
// a transaction, a generic plan made without sequential scans where an index can serve, and kept.
//
// Only for statements whose best plan depends neither on the values bound nor on how large the
// tables are: lookups and changes by a key that has an index, and inserts. Never for a statement
// that should read a whole table. The marker is part of the SQL text, so one text has one policy
// (the server prepares each distinct text once per connection).
#pragma once

#include <string>
#include <string_view>

namespace shipmate::storage {

inline constexpr std::string_view kKeepPlan = "/* keep plan */ ";

// `sql` marked with kKeepPlan.
inline std::string keep_plan(std::string_view sql) {
  std::string out(kKeepPlan);
  out += sql;
  return out;
}

}  // namespace shipmate::storage
