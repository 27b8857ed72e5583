#include "bot/router.h"

#include <gtest/gtest.h>

#include "common/redact.h"
#include "tests/support/command_harness.h"

namespace shipmate::testing {
namespace {

TEST(Router, StripsEveryFormOfAddress) {
  CommandHarness h;
  auto& router = *h.router;
  EXPECT_EQ(router.strip_address("deploy x"), "deploy x");
  EXPECT_EQ(router.strip_address("@shipmate deploy x"), "deploy x");
  EXPECT_EQ(router.strip_address("Shipmate: deploy x"), "deploy x");
  EXPECT_EQ(router.strip_address("shipmate, status"), "status");
  EXPECT_EQ(router.strip_address("/shipmate status"), "status");
  EXPECT_EQ(router.strip_address("<@U024BE7LH> status"), "status");
  EXPECT_EQ(router.strip_address("  status  "), "status");
  // A word that merely starts with the bot's name is not an address.
  EXPECT_EQ(router.strip_address("shipmates status"), "shipmates status");
}

TEST(Router, ReadOnlyCommandsAreNotAuditedButChangesAre) {
  CommandHarness h;
  h.run("alice", "status");
  h.run("alice", "help");
  EXPECT_TRUE(h.audit.tail(10).empty());
  h.run("alice", "lock hello");
  auto records = h.audit.tail(10);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].entry.action, "command");
  EXPECT_EQ(records[0].entry.details, "lock hello");
  EXPECT_EQ(records[1].entry.action, "lock.acquired");
}

TEST(Router, SecretsInCommandTextNeverReachTheAuditLog) {
  CommandHarness h;
  register_secret("xoxb-very-secret-token");
  h.run("alice", "lock hello leaked xoxb-very-secret-token here");
  for (const auto& record : h.audit.tail(10)) {
    EXPECT_EQ(record.entry.details.find("xoxb-very-secret-token"), std::string::npos);
  }
  auto lock = h.locks.get("service:hello");
  ASSERT_TRUE(lock);
  EXPECT_EQ(lock->reason.find("xoxb-very-secret-token"), std::string::npos);
  clear_registered_secrets();
}

}  // namespace
}  // namespace shipmate::testing
