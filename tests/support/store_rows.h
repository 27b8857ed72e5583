// Rows the inbox and outbox store tests write: a recorded "ping" command and its reply, with the
// fields every backend requires filled in. Shared by tests/unit/outbox_store_test.cpp and the
// PostgreSQL plan tests (tests/unit/postgres_test.cpp), which are linked into one binary.
#pragma once

#include <string>

#include "storage/inbox_store.h"
#include "storage/outbox_store.h"

namespace shipmate::testing {

// A "ping" from U1 in C1, recorded under `key`.
inline storage::InboxEntry ping_command(const std::string& key) {
  storage::InboxEntry entry;
  entry.key = key;
  entry.platform = "slack";
  entry.user_id = "U1";
  entry.channel = "C1";
  entry.text = "ping";
  return entry;
}

// A reply in C1's thread, under `key` (a command's key plus "#n").
inline storage::OutboxRow reply_row(const std::string& key, const std::string& platform = "slack",
                                    const std::string& intent = "post",
                                    const std::string& target = "") {
  storage::OutboxRow row;
  row.key = key;
  row.platform = platform;
  row.channel = "C1";
  row.thread = "1700000000.000100";
  row.intent = intent;
  row.target_key = target;
  row.body = R"({"text":"pong"})";
  return row;
}

}  // namespace shipmate::testing
