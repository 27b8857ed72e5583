// The reply outbox's table (storage/outbox_store.h) on both backends: each statement the store
// runs, the outcomes that differ between a first and a repeated write, the commit that marks a
// command done with its replies, and PostgreSQL's constraints. The outbox's behaviour around it
// (holding, sending, recovering) is covered by tests/unit/reply_outbox_test.cpp on SQLite.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "storage/copy.h"
#include "storage/inbox_store.h"
#include "storage/outbox_store.h"
#include "tests/support/backends.h"
#include "tests/support/store_rows.h"
#include "tests/support/test_support.h"

namespace shipmate::storage {
namespace {

using shipmate::testing::Backend;
using shipmate::testing::fresh_location;
using shipmate::testing::ping_command;
using shipmate::testing::reply_row;

class OutboxStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  ManualClock clock;
  shipmate::testing::TempDir dir;
  std::unique_ptr<Database> db =
      shipmate::testing::open_or_throw(fresh_location(GetParam(), dir, ":memory:"));
  InboxStore inbox{*db, clock};
  OutboxStore outbox{*db, inbox, clock};
};
SHIPMATE_ON_BOTH_BACKENDS(OutboxStoreTest);

// record() inside a transaction someone else commits (the intake's way): which rows are new is
// read once the transaction has ended, the same on both backends.
TEST_P(OutboxStoreTest, RecordInsideATransactionTellsTheNewRowsAfterItsCommit) {
  outbox.commit({reply_row("slack:event:E1#0")}, {}, {});
  inbox.accept(ping_command("slack:event:E2"));
  OutboxStore::FreshRows recorded;
  db->transaction([&] {
    recorded = outbox.record({reply_row("slack:event:E1#0"), reply_row("slack:event:E2#0"),
                              reply_row("slack:event:E2#1")},
                             {"slack:event:E2"}, {});
  });
  EXPECT_EQ(recorded.read(), (std::vector<bool>{false, true, true}));
  EXPECT_EQ(outbox.size(), 3u);
  // One row alone, too (PostgreSQL sends it the same way).
  db->transaction([&] { recorded = outbox.record({reply_row("slack:event:E3#0")}, {}, {}); });
  EXPECT_EQ(recorded.read(), (std::vector<bool>{true}));
  db->transaction([&] { recorded = outbox.record({reply_row("slack:event:E3#0")}, {}, {}); });
  EXPECT_EQ(recorded.read(), (std::vector<bool>{false}));
}

TEST_P(OutboxStoreTest, ARowIsRecordedOnceAndARepeatedKeyIsReportedAsNotFresh) {
  clock.set_ms(5000);
  const auto first =
      outbox.commit({reply_row("slack:event:E1#0"), reply_row("slack:event:E1#1")}, {}, {});
  EXPECT_EQ(first, (std::vector<bool>{true, true}));
  // A command run again after a crash makes the same keys: not recorded, not to be sent again.
  const auto again =
      outbox.commit({reply_row("slack:event:E1#1"), reply_row("slack:event:E1#2")}, {}, {});
  EXPECT_EQ(again, (std::vector<bool>{false, true}));
  EXPECT_EQ(outbox.size(), 3u);
  const auto row = outbox.find("slack:event:E1#0");
  ASSERT_TRUE(row);
  EXPECT_EQ(row->platform, "slack");
  EXPECT_EQ(row->channel, "C1");
  EXPECT_EQ(row->thread, "1700000000.000100");
  EXPECT_EQ(row->intent, "post");
  EXPECT_EQ(row->body, R"({"text":"pong"})");
  EXPECT_EQ(row->state, "pending");
  EXPECT_EQ(row->platform_id, "");
  EXPECT_EQ(row->created_at, 5000);
  EXPECT_FALSE(outbox.find("slack:event:E9#0"));
}

TEST_P(OutboxStoreTest, UnsentRowsComeInRecordingOrderPerPlatformAndLeaveOnceSent) {
  outbox.commit({reply_row("slack:event:E1#0"), reply_row("teams:message:c:1#0", "teams"),
                 reply_row("slack:event:E1#1", "slack", "update", "slack:event:E1#0"),
                 reply_row("slack:event:E2#0")},
                {}, {});
  auto unsent = outbox.unsent("slack");
  ASSERT_EQ(unsent.size(), 3u);
  EXPECT_EQ(unsent[0].key, "slack:event:E1#0");
  EXPECT_EQ(unsent[1].key, "slack:event:E1#1");
  EXPECT_EQ(unsent[1].target_key, "slack:event:E1#0");
  EXPECT_EQ(unsent[2].key, "slack:event:E2#0");
  EXPECT_LT(unsent[0].seq, unsent[1].seq);
  EXPECT_LT(unsent[1].seq, unsent[2].seq);
  EXPECT_EQ(outbox.unsent("teams").size(), 1u);

  clock.set_ms(9000);
  outbox.commit({}, {}, {{"slack:event:E1#0", "1700000001.000200"}, {"slack:event:E1#1", ""}});
  unsent = outbox.unsent("slack");
  ASSERT_EQ(unsent.size(), 1u);
  EXPECT_EQ(unsent[0].key, "slack:event:E2#0");
  const auto sent = outbox.find("slack:event:E1#0");
  EXPECT_EQ(sent->state, "sent");
  EXPECT_EQ(sent->platform_id, "1700000001.000200");
  // Confirming a key twice (a late answer) changes nothing more.
  outbox.commit({}, {}, {{"slack:event:E1#0", "1700000001.000200"}});
  EXPECT_EQ(outbox.find("slack:event:E1#0")->platform_id, "1700000001.000200");
}

// The batch statements carry the rows as one JSON array (on PostgreSQL, parsed once as jsonb):
// whatever a body or a platform id holds comes back byte for byte, escapes and all.
TEST_P(OutboxStoreTest, BatchedRowsAndSentMarksKeepEveryCharacter) {
  const std::string body =
      "{\"text\":\"a \\\"quoted\\\" \\\\ back\\/slash\\n\\u00e9\"}\n\t\x01 \"\\ \xc3\xa9 "
      "\xf0\x9f\x9a\x80";
  auto first = reply_row("slack:event:E1#0");
  first.body = body;
  first.thread = "t\"h\\r\n";
  auto second = reply_row("slack:event:E1#1", "slack", "update", "slack:event:E1#0");
  second.body = "\xe2\x80\xa8 [\"]";
  EXPECT_EQ(outbox.commit({first, second}, {}, {}), (std::vector<bool>{true, true}));
  outbox.commit({}, {}, {{"slack:event:E1#0", "id \"1\"\\\n"}, {"slack:event:E1#1", "\xc3\xa9"}});
  const auto one = outbox.find("slack:event:E1#0");
  const auto two = outbox.find("slack:event:E1#1");
  ASSERT_TRUE(one && two);
  EXPECT_EQ(one->body, body);
  EXPECT_EQ(one->thread, "t\"h\\r\n");
  EXPECT_EQ(one->platform_id, "id \"1\"\\\n");
  EXPECT_EQ(one->state, "sent");
  EXPECT_EQ(two->body, "\xe2\x80\xa8 [\"]");
  EXPECT_EQ(two->target_key, "slack:event:E1#0");
  EXPECT_EQ(two->platform_id, "\xc3\xa9");
}

// Replicas (issue 17): a replica's recovery sees only its own unsent rows, never a live
// replica's; a dead replica's are adopted by one survivor in one UPDATE.
TEST_P(OutboxStoreTest, EachReplicaRecoversOnlyItsOwnRowsAndOneSurvivorAdoptsADeadOnes) {
  InboxStore inbox_a{*db, clock, "a"};
  InboxStore inbox_b{*db, clock, "b"};
  InboxStore inbox_c{*db, clock, "c"};
  OutboxStore a{*db, inbox_a, clock};
  OutboxStore b{*db, inbox_b, clock};
  OutboxStore c{*db, inbox_c, clock};
  a.commit(
      {reply_row("slack:E1#0"), reply_row("slack:E1#1", "slack", "thread_reply", "slack:E1#0")}, {},
      {});
  b.commit({reply_row("slack:E2#0")}, {}, {});
  ASSERT_EQ(a.unsent("slack").size(), 2u);
  EXPECT_EQ(a.unsent("slack")[0].replica, "a");
  ASSERT_EQ(b.unsent("slack").size(), 1u);  // a's rows are not b's to recover
  EXPECT_EQ(b.unsent("slack")[0].key, "slack:E2#0");
  EXPECT_EQ(b.others_with_unsent("slack"), std::vector<std::string>{"a"});
  EXPECT_TRUE(b.others_with_unsent("teams").empty());

  // a died: b adopts its rows (in recording order); c, late, finds none.
  const auto adopted = b.adopt_unsent("slack", "a");
  ASSERT_EQ(adopted.size(), 2u);
  EXPECT_EQ(adopted[0].key, "slack:E1#0");
  EXPECT_EQ(adopted[1].key, "slack:E1#1");
  EXPECT_EQ(adopted[0].replica, "b");
  EXPECT_TRUE(c.adopt_unsent("slack", "a").empty());
  EXPECT_TRUE(a.unsent("slack").empty());
  EXPECT_EQ(b.unsent("slack").size(), 3u);
  // Sent rows are not adopted.
  b.commit({}, {}, {{"slack:E2#0", "1700.1"}});
  EXPECT_TRUE(c.adopt_unsent("slack", "b").size() == 2u);
}

TEST_P(OutboxStoreTest, ACommandIsMarkedDoneInTheCommitThatRecordsItsLastReply) {
  ASSERT_TRUE(inbox.accept(ping_command("slack:event:E1")));
  ASSERT_TRUE(inbox.accept(ping_command("slack:event:E2")));
  outbox.commit({reply_row("slack:event:E1#0")}, {"slack:event:E1"}, {});
  EXPECT_EQ(inbox.in_state("received").size(), 1u);
  EXPECT_EQ(inbox.in_state("done").size(), 1u);
  EXPECT_EQ(inbox.in_state("done")[0].key, "slack:event:E1");
  // Only finished keys: no row to write, the inbox still moves.
  const auto none = outbox.commit({}, {"slack:event:E2"}, {});
  EXPECT_TRUE(none.empty());
  EXPECT_TRUE(inbox.in_state("received").empty());
}

TEST_P(OutboxStoreTest, AFailedCommitWritesNoRowAndMarksNothingDone) {
  ASSERT_TRUE(inbox.accept(ping_command("slack:event:E1")));
  db->exec("DROP TABLE inbox_pending");  // the inbox half of the commit fails
  EXPECT_THROW(outbox.commit({reply_row("slack:event:E1#0")}, {"slack:event:E1"}, {}),
               StorageError);
  EXPECT_EQ(outbox.size(), 0u);
}

TEST_P(OutboxStoreTest, SentRowsOfFinishedCommandsArePrunedOthersStay) {
  ASSERT_TRUE(inbox.accept(ping_command("slack:event:E2")));  // still running: may run again
  clock.set_ms(1000);
  outbox.commit(
      {reply_row("slack:event:E1#0"), reply_row("slack:event:E2#0"), reply_row("slack:event:E3#0")},
      {}, {});
  outbox.commit({}, {}, {{"slack:event:E1#0", "1.1"}, {"slack:event:E2#0", "1.2"}});
  clock.set_ms(2000);
  outbox.commit({reply_row("slack:event:E4#0")}, {}, {{"slack:event:E4#0", "1.4"}});
  // E1: sent, finished, old: gone. E2: its command is pending. E3: unsent. E4: too young.
  EXPECT_EQ(outbox.prune_sent_before(1500), 1);
  EXPECT_FALSE(outbox.find("slack:event:E1#0"));
  EXPECT_TRUE(outbox.find("slack:event:E2#0"));
  EXPECT_TRUE(outbox.find("slack:event:E3#0"));
  EXPECT_TRUE(outbox.find("slack:event:E4#0"));
}

TEST_P(OutboxStoreTest, RowsSurviveReopen) {
  const std::string location = fresh_location(GetParam(), dir, "outbox.db");
  {
    auto first = shipmate::testing::open_or_throw(location);
    InboxStore first_inbox(*first, clock);
    OutboxStore first_outbox(*first, first_inbox, clock);
    first_outbox.commit({reply_row("slack:event:E1#0")}, {}, {});
  }
  auto second = shipmate::testing::open_or_throw(location);
  InboxStore second_inbox(*second, clock);
  OutboxStore second_outbox(*second, second_inbox, clock);
  ASSERT_EQ(second_outbox.unsent("slack").size(), 1u);
  EXPECT_EQ(second_outbox.commit({reply_row("slack:event:E1#0")}, {}, {}),
            (std::vector<bool>{false}));
}

// What one command costs SQLite at one command in flight is mostly the pages its commit writes:
// each changed page is a WAL frame that SQLite checksums and writes whole. A `ping` done before
// its commit writes its delivery key, its reply's row and the previous reply's "sent" mark. The
// outbox has no index of unsent rows on SQLite (migration 30: a restart scans the table
// instead), which took one page of the five per commit, and two B-tree operations. Counted
// through the WAL's length (no background pass runs: its threshold is out of reach).
TEST(OutboxStoreSqliteTest, ACommandsCommitWritesFewerThanFivePagesOnAverage) {
  ManualClock clock;
  shipmate::testing::TempDir dir;
  auto opened = Database::open(dir.file("pages.db"), 1'000'000);
  ASSERT_TRUE(opened) << opened.error().message;
  std::unique_ptr<Database> db = std::move(opened).value();
  InboxStore inbox{*db, clock};
  OutboxStore outbox{*db, inbox, clock};
  std::string previous;
  auto one_command = [&](int i) {
    const std::string key = "slack:event:Ev" + std::to_string(1000000 + i);
    InboxEntry delivery = ping_command(key);
    delivery.state = "done";
    OutboxRow reply = reply_row(key + "#0");
    reply.channel = "C" + std::to_string(100 + i % 512);
    reply.thread = "1700000000." + std::to_string(100000 + i);
    std::vector<std::pair<std::string, std::string>> sent;
    if (!previous.empty())
      sent.emplace_back(previous, "1700000001." + std::to_string(100000 + i));
    db->transaction([&] {
      EXPECT_TRUE(inbox.accept(delivery));
      outbox.record({reply}, {}, sent);
    });
    previous = reply.key;
  };
  for (int i = 0; i < 200; ++i)
    one_command(i);
  const std::uint64_t frames_before = db->wal_counters().wal_frames;
  constexpr int kCommands = 1000;
  for (int i = 200; i < 200 + kCommands; ++i)
    one_command(i);
  const double pages_per_command =
      static_cast<double>(db->wal_counters().wal_frames - frames_before) / kCommands;
  EXPECT_LT(pages_per_command, 4.8);
  // The row left pending is still found, and the one marked sent is not.
  const std::vector<OutboxRow> unsent = outbox.unsent("slack");
  ASSERT_EQ(unsent.size(), 1u);
  EXPECT_EQ(unsent.front().key, previous);
}

// On SQLite a "sent" mark finds a row the store inserted recently by its seq; a seq gone stale
// (the insert rolled back, and another store's row took the seq) must not mark that other row.
TEST(OutboxStoreSqliteTest, ASentMarkWhoseRememberedSeqWentToAnotherRowMarksItsOwnRow) {
  ManualClock clock;
  auto db = shipmate::testing::open_or_throw(":memory:");
  InboxStore inbox{*db, clock};
  OutboxStore rolled_back{*db, inbox, clock};
  OutboxStore other{*db, inbox, clock};
  EXPECT_THROW(db->transaction([&] {
    rolled_back.record({reply_row("slack:event:A#0")}, {}, {});
    throw StorageError("the commit fails");
  }),
               StorageError);
  // The other store's first row takes the seq A had; A comes after it.
  other.commit({reply_row("slack:event:B#0"), reply_row("slack:event:A#0")}, {}, {});
  ASSERT_EQ(other.find("slack:event:B#0")->seq, 1);
  rolled_back.commit({}, {}, {{"slack:event:A#0", "1700000001.000200"}});
  const auto a = rolled_back.find("slack:event:A#0");
  const auto b = rolled_back.find("slack:event:B#0");
  EXPECT_EQ(a->state, "sent");
  EXPECT_EQ(a->platform_id, "1700000001.000200");
  EXPECT_EQ(b->state, "pending");
  EXPECT_EQ(b->platform_id, "");
  // The remembered seq of a row that is there is used (and marks that row only).
  other.commit({}, {}, {{"slack:event:B#0", "1700000001.000300"}});
  EXPECT_EQ(other.find("slack:event:B#0")->state, "sent");
  EXPECT_EQ(other.unsent("slack").size(), 0u);
}

// SQLite's table has no such checks (the store is its only writer); PostgreSQL may have several.
TEST(OutboxPostgresTest, PostgreSQLRefusesRowsTheStoreNeverWrites) {
  ManualClock clock;
  auto db = shipmate::testing::open_or_throw(shipmate::testing::postgres_server().fresh_database());
  InboxStore inbox(*db, clock);
  OutboxStore outbox(*db, inbox, clock);
  EXPECT_THROW(db->exec("INSERT INTO outbox (idem_key, platform, channel, intent, body, "
                        "created_at) VALUES ('k#0', 'slack', 'C1', 'delete', '{}', 1)"),
               ConstraintError);
  EXPECT_THROW(db->exec("INSERT INTO outbox (idem_key, platform, channel, intent, body, state, "
                        "created_at) VALUES ('k#0', 'slack', 'C1', 'post', '{}', 'sent', 1)"),
               ConstraintError);
  EXPECT_THROW(db->exec("INSERT INTO outbox (idem_key, platform, channel, intent, body, state, "
                        "created_at) VALUES ('k#0', 'slack', 'C1', 'post', '{}', 'lost', 1)"),
               ConstraintError);
  outbox.commit({reply_row("k#0")}, {}, {});
  // Two writers recording one reply: the second is refused by the key, so it is posted once.
  EXPECT_THROW(db->exec("INSERT INTO outbox (idem_key, platform, channel, intent, body, "
                        "created_at) VALUES ('k#0', 'slack', 'C1', 'post', '{}', 1)"),
               ConstraintError);
  EXPECT_EQ(outbox.commit({reply_row("k#0")}, {}, {}), (std::vector<bool>{false}));
}

TEST(OutboxCopyTest, StorageCopyCarriesTheOutboxBothWaysAndItsSequenceCarriesOn) {
  shipmate::testing::TempDir dir;
  ManualClock clock;
  const std::string sqlite_path = dir.file("from.db");
  {
    auto db = shipmate::testing::open_or_throw(sqlite_path);
    InboxStore inbox(*db, clock);
    OutboxStore outbox(*db, inbox, clock);
    outbox.commit({reply_row("slack:event:E1#0"), reply_row("slack:event:E2#0")}, {},
                  {{"slack:event:E1#0", "1.1"}});
  }
  const std::string uri = shipmate::testing::postgres_server().fresh_database();
  auto copied = copy_database(sqlite_path, uri);
  ASSERT_TRUE(copied.ok()) << copied.error().message;
  EXPECT_EQ(copied->rows.back(), (std::pair<std::string, std::int64_t>{"outbox", 2}));
  {
    auto pg = shipmate::testing::open_or_throw(uri);
    InboxStore inbox(*pg, clock);
    OutboxStore outbox(*pg, inbox, clock);
    EXPECT_EQ(outbox.find("slack:event:E1#0")->platform_id, "1.1");
    const auto unsent = outbox.unsent("slack");
    ASSERT_EQ(unsent.size(), 1u);
    EXPECT_EQ(unsent[0].key, "slack:event:E2#0");
    // New rows follow the copied ones.
    outbox.commit({reply_row("slack:event:E3#0")}, {}, {});
    EXPECT_GT(outbox.find("slack:event:E3#0")->seq, unsent[0].seq);
  }
  const std::string back = dir.file("back.db");
  auto returned = copy_database(uri, back);
  ASSERT_TRUE(returned.ok()) << returned.error().message;
  auto sqlite = shipmate::testing::open_or_throw(back);
  InboxStore inbox(*sqlite, clock);
  OutboxStore outbox(*sqlite, inbox, clock);
  EXPECT_EQ(outbox.size(), 3u);
  EXPECT_EQ(outbox.unsent("slack").size(), 2u);
}

}  // namespace
}  // namespace shipmate::storage
