// What the end-to-end tests that drive the shipmate binary share: reading the SQLite file it
// leaves, and a terminal-chat exchange (type a command, wait for the line that answers it).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/test_support.h"

namespace shipmate::testing {

inline bool has(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Rows of `sql` against the database file at `db_path`, each row's columns joined by '|'
// (NULL for null). A file that does not open or a statement that fails is a test failure.
std::vector<std::string> query(const std::string& db_path, const std::string& sql);

// Holds Shipmate at an exact write, with no timing: creates (if needed) a 3000-row table `spin`
// and a trigger `name` that fires `when` (for example "BEFORE INSERT ON deploy_events WHEN
// NEW.to_state = 'deploying'") and joins that table with itself three times (27 billion rows).
// The statement it fires on never commits, and Shipmate's one thread stays inside it until the
// test kills the process: the database then holds exactly what was committed before it.
// Shipmate must have created the database already. Drop the trigger before the next start.
void install_spin_trigger(const std::string& db_path, const std::string& name,
                          const std::string& when);

// Types `command` into a running `shipmate chat` and waits until `expect` appears in what it
// writes after that; a test failure (with the output) when it does not within `timeout`.
// Returns everything written since the command was typed.
std::string say(Subprocess& chat, const std::string& command, const std::string& expect,
                std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace shipmate::testing
