#include "storage/inbox_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "common/redact.h"
#include "storage/migrations.h"
#include "tests/support/backends.h"
#include "tests/support/test_support.h"

namespace shipmate::storage {
namespace {

using shipmate::testing::Backend;
using shipmate::testing::fresh_location;

class InboxStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  InboxEntry entry(const std::string& key, const std::string& text = "deploy hello v1") {
    return InboxEntry{key, "slack", "U1", "C1", "", text, "", 0};
  }
  // A trigger that refuses to record the text "boom", on either backend.
  void refuse_boom() {
    if (GetParam() == Backend::sqlite) {
      db->exec(
          "CREATE TRIGGER refuse BEFORE INSERT ON inbox_pending WHEN NEW.text = 'boom' "
          "BEGIN SELECT RAISE(ABORT, 'refused'); END");
      return;
    }
    db->exec(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.text = 'boom' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;"
        "CREATE TRIGGER refuse BEFORE INSERT ON inbox_pending FOR EACH ROW "
        "EXECUTE FUNCTION refuse()");
  }
  void allow_boom() {
    db->exec(GetParam() == Backend::sqlite ? "DROP TRIGGER refuse"
                                           : "DROP TRIGGER refuse ON inbox_pending");
  }

  ManualClock clock;
  shipmate::testing::TempDir dir;
  std::unique_ptr<Database> db =
      shipmate::testing::open_or_throw(fresh_location(GetParam(), dir, ":memory:"));
  InboxStore inbox{*db, clock};
};
SHIPMATE_ON_BOTH_BACKENDS(InboxStoreTest);

TEST_P(InboxStoreTest, SecondDeliveryOfTheSameKeyIsRecognised) {
  EXPECT_TRUE(inbox.accept(entry("slack:event:Ev1")));
  EXPECT_FALSE(inbox.accept(entry("slack:event:Ev1", "something else")));
  EXPECT_TRUE(inbox.accept(entry("slack:event:Ev2")));
  EXPECT_EQ(inbox.size(), 2u);
  auto received = inbox.in_state("received");
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].text, "deploy hello v1");
}

TEST_P(InboxStoreTest, AcceptAllRecordsABatchAndSpotsRedeliveriesInsideIt) {
  EXPECT_TRUE(inbox.accept(entry("seen")));
  const auto fresh =
      inbox.accept_all({entry("a"), entry("seen"), entry("b"), entry("a", "redelivered")});
  EXPECT_EQ(fresh, (std::vector<bool>{true, false, true, false}));
  EXPECT_EQ(inbox.size(), 3u);
  EXPECT_EQ(inbox.in_state("received").size(), 3u);
  EXPECT_TRUE(inbox.accept_all({}).empty());
}

TEST_P(InboxStoreTest, AcceptAllMarksFinishedKeysDoneInTheSameTransaction) {
  inbox.accept(entry("earlier"));
  clock.advance_ms(5);
  EXPECT_EQ(inbox.accept_all({entry("next")}, {"earlier"}), (std::vector<bool>{true}));
  ASSERT_EQ(inbox.in_state("done").size(), 1u);
  EXPECT_EQ(inbox.in_state("done").front().key, "earlier");
  EXPECT_EQ(inbox.in_state("received").front().key, "next");
  // Only finished keys, no new deliveries: still one transaction, nothing accepted.
  EXPECT_TRUE(inbox.accept_all({}, {"next"}).empty());
  EXPECT_TRUE(inbox.in_state("received").empty());
}

// A command that already ran and finished (its replies recorded in the same transaction) is
// recorded done: its key is remembered for redeliveries, and no pending row is written (the
// trigger refuses any, so writing one would throw).
TEST_P(InboxStoreTest, AnEntryAcceptedDoneKeepsOnlyItsKey) {
  refuse_boom();
  auto finished = entry("ran", "boom");
  finished.state = "done";
  EXPECT_EQ(inbox.accept_all({finished, entry("next")}), (std::vector<bool>{true, true}));
  ASSERT_EQ(inbox.in_state("done").size(), 1u);
  EXPECT_EQ(inbox.in_state("done").front().key, "ran");
  ASSERT_EQ(inbox.in_state("received").size(), 1u);
  EXPECT_EQ(inbox.in_state("received").front().key, "next");
  EXPECT_FALSE(inbox.accept(entry("ran")));  // a redelivery is still recognised
  EXPECT_FALSE(inbox.accept(finished));
  EXPECT_EQ(inbox.size(), 2u);
}

TEST_P(InboxStoreTest, MarkingManyDoneFindsKeysWithAnyCharacters) {
  const std::vector<std::string> odd{"quote\"d", "back\\slash", "new\nline", "t\tab", "ünï"};
  for (const auto& key : odd)
    inbox.accept(entry(key));
  inbox.accept(entry("untouched"));
  // A list of one key takes the single-key statement (one command in flight's usual case).
  inbox.mark_done(std::vector<std::string>{odd.front()});
  EXPECT_EQ(inbox.in_state("received").size(), odd.size());
  ASSERT_EQ(inbox.in_state("done").size(), 1u);
  EXPECT_EQ(inbox.in_state("done").front().key, odd.front());
  inbox.mark_done(odd);  // the first again, already done: no error
  ASSERT_EQ(inbox.in_state("received").size(), 1u);
  EXPECT_EQ(inbox.in_state("received").front().key, "untouched");
  EXPECT_EQ(inbox.in_state("done").size(), odd.size());
  inbox.mark_done(std::vector<std::string>{});  // nothing to do, no error
}

TEST_P(InboxStoreTest, AcceptAllRecordsNothingWhenOneEntryFails) {
  refuse_boom();
  inbox.accept(entry("finished"));
  EXPECT_THROW(inbox.accept_all({entry("a"), entry("b", "boom"), entry("c")}, {"finished"}),
               StorageError);
  EXPECT_EQ(inbox.size(), 1u);
  EXPECT_EQ(inbox.in_state("received").size(), 1u);  // "finished" was not marked done either
  // The store is usable afterwards, and the batch can be delivered again.
  allow_boom();
  EXPECT_EQ(inbox.accept_all({entry("a"), entry("c")}), (std::vector<bool>{true, true}));
  EXPECT_EQ(inbox.size(), 3u);
}

// Migration 10 split the inbox: every key is kept for deduplication, and only unfinished
// commands keep their content.
TEST(InboxMigrationTest, SplitKeepsEveryKeyAndOnlyUnfinishedCommands) {
  shipmate::testing::TempDir dir;
  const std::string path = dir.file("old.db");
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
    const std::string old_schema =
        "CREATE TABLE inbox (key TEXT PRIMARY KEY, platform TEXT NOT NULL, user_id TEXT NOT "
        "NULL, channel TEXT NOT NULL, thread TEXT NOT NULL DEFAULT '', text TEXT NOT NULL, "
        "state TEXT NOT NULL, received_at INTEGER NOT NULL, finished_at INTEGER);"
        // The tables later migrations change (19: owner, epoch and an index on deploys).
        "CREATE TABLE deploys (id INTEGER PRIMARY KEY, service TEXT NOT NULL, environment TEXT "
        "NOT NULL, state TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '', requested_at INTEGER "
        "NOT NULL, finished_at INTEGER);"
        "CREATE TABLE deploy_events (id INTEGER PRIMARY KEY, deploy_id INTEGER NOT NULL, at "
        "INTEGER NOT NULL, from_state TEXT, to_state TEXT NOT NULL, message TEXT NOT NULL);"
        // (27: an index on the locks' expiry.)
        "CREATE TABLE locks (scope TEXT PRIMARY KEY, holder TEXT NOT NULL, reason TEXT NOT NULL "
        "DEFAULT '', since INTEGER NOT NULL, expires_at INTEGER);"
        "INSERT INTO inbox VALUES ('k-done', 'slack', 'U1', 'C1', '', 'ping', 'done', 1, 2);"
        "INSERT INTO inbox VALUES ('k-started', 'slack', 'U1', 'C1', 't', 'deploy', 'started', "
        "3, NULL);"
        "INSERT INTO inbox VALUES ('k-received', 'slack', 'U2', 'C2', '', 'status', 'received', "
        "4, NULL);";
    ASSERT_EQ(sqlite3_exec(raw, old_schema.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);
  }
  // Migration 10 alone, as an upgrade from version 9 runs it.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  for (const auto& migration : detail::migrations()) {
    if (migration.version == 10) {
      ASSERT_EQ(sqlite3_exec(raw, std::string(migration.sql).c_str(), nullptr, nullptr, nullptr),
                SQLITE_OK)
          << sqlite3_errmsg(raw);
    }
  }
  ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version = 10", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);

  auto upgraded = Database::open(path);
  ASSERT_TRUE(upgraded.ok()) << upgraded.error().message;
  ManualClock clock;
  InboxStore inbox(**upgraded, clock);
  EXPECT_EQ(inbox.size(), 3u);
  ASSERT_EQ(inbox.in_state("started").size(), 1u);
  EXPECT_EQ(inbox.in_state("started").front().text, "deploy");
  EXPECT_EQ(inbox.in_state("started").front().thread, "t");
  ASSERT_EQ(inbox.in_state("received").size(), 1u);
  EXPECT_EQ(inbox.in_state("received").front().user_id, "U2");
  ASSERT_EQ(inbox.in_state("done").size(), 1u);
  EXPECT_EQ(inbox.in_state("done").front().key, "k-done");
  // Every key, finished or not, still stops a redelivery.
  for (const char* key : {"k-done", "k-started", "k-received"})
    EXPECT_FALSE(inbox.accept(InboxEntry{key, "slack", "U1", "C1", "", "again", "", 0})) << key;
}

TEST_P(InboxStoreTest, StatesMoveReceivedStartedDone) {
  inbox.accept(entry("a"));
  clock.advance_ms(10);
  inbox.accept(entry("b"));
  inbox.mark_started("a");
  EXPECT_EQ(inbox.in_state("started").size(), 1u);
  EXPECT_EQ(inbox.in_state("received").front().key, "b");
  inbox.mark_done("a");
  EXPECT_TRUE(inbox.in_state("started").empty());
  EXPECT_EQ(inbox.in_state("done").front().key, "a");
  // A finished key is still remembered, so a late redelivery is still dropped.
  EXPECT_FALSE(inbox.accept(entry("a")));
}

TEST_P(InboxStoreTest, PruneForgetsOnlyOldFinishedEntries) {
  inbox.accept(entry("old"));
  inbox.mark_done("old");
  inbox.accept(entry("old-unfinished"));
  clock.advance_ms(60 * 60 * 1000);
  inbox.accept(entry("new"));
  inbox.mark_done("new");
  EXPECT_EQ(inbox.prune_done_before(clock.now_ms() - 1000), 1);
  EXPECT_EQ(inbox.size(), 2u);
  EXPECT_TRUE(inbox.accept(entry("old")));  // forgotten, so accepted again
}

// Replicas: each row names the replica that received it; a survivor adopts a dead replica's row
// with a compare-and-set on that tag, so of two survivors exactly one gets each row.
TEST_P(InboxStoreTest, RowsCarryTheirReplicaAndExactlyOneSurvivorAdoptsEach) {
  InboxStore a(*db, clock, "a");
  InboxStore b(*db, clock, "b");
  InboxStore c(*db, clock, "c");
  ASSERT_TRUE(a.accept(entry("k1")));
  ASSERT_TRUE(a.accept(entry("k2")));
  a.mark_started("k2");
  EXPECT_FALSE(b.accept(entry("k1")));  // a redelivery to another replica is still recognised
  EXPECT_TRUE(a.others_pending().empty());
  const auto seen = b.others_pending();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].replica, "a");
  EXPECT_EQ(seen[1].state, "started");
  EXPECT_TRUE(b.adopt("k1", "a"));
  EXPECT_FALSE(c.adopt("k1", "a"));  // b got there first
  EXPECT_TRUE(c.adopt("k2", "a"));
  EXPECT_FALSE(b.adopt("k2", "a"));
  EXPECT_EQ(inbox.in_state("received").front().replica, "b");
  EXPECT_EQ(inbox.in_state("started").front().replica, "c");
  EXPECT_TRUE(b.others_pending().size() == 1u && b.others_pending()[0].key == "k2");
  b.mark_done("k1");
  EXPECT_FALSE(c.adopt("k1", "b"));  // finished: nothing left to adopt
}

TEST_P(InboxStoreTest, SecretsAreRedactedBeforeStorage) {
  register_secret("xoxb-inbox-secret");
  inbox.accept(entry("s", "lock hello xoxb-inbox-secret"));
  EXPECT_EQ(inbox.in_state("received").front().text, "lock hello [REDACTED]");
  clear_registered_secrets();
}

}  // namespace
}  // namespace shipmate::storage
