// The PostgreSQL side of the storage seam: placeholders, connection errors, the schema history,
// the sole-writer claim, URI checks, and copying whole databases between the two backends.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/redact.h"
#include "storage/audit_log.h"
#include "storage/copy.h"
#include "storage/database.h"
#include "storage/deploy_store.h"
#include "storage/inbox_store.h"
#include "storage/kept_plan.h"
#include "storage/lock_store.h"
#include "storage/migrations.h"
#include "storage/outbox_store.h"
#include "storage/postgres.h"
#include "storage/release_notes_store.h"
#include "tests/support/backends.h"
#include "tests/support/postgres_server.h"
#include "tests/support/store_rows.h"
#include "tests/support/test_support.h"
#include "tests/support/unix_socket_proxy.h"

namespace shipmate::storage {
namespace {

using shipmate::testing::open_or_throw;
using shipmate::testing::ping_command;
using shipmate::testing::postgres_server;
using shipmate::testing::reply_row;
using shipmate::testing::TempDir;
using shipmate::testing::through_proxy;
using shipmate::testing::UnixSocketProxy;

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

TEST(PostgresPlaceholdersTest, NumberedAndBareBecomeDollarNumbers) {
  EXPECT_EQ(detail::postgres_placeholders("SELECT a FROM t WHERE b = ?1 AND c > ?12"),
            "SELECT a FROM t WHERE b = $1 AND c > $12");
  // Bare ones count on from the highest number so far, as SQLite numbers them.
  EXPECT_EQ(detail::postgres_placeholders("VALUES (?, ?, ?5, ?)"), "VALUES ($1, $2, $5, $6)");
  EXPECT_EQ(detail::postgres_placeholders("WHERE key IN (SELECT x(?::json))"),
            "WHERE key IN (SELECT x($1::json))");
}

TEST(PostgresPlaceholdersTest, QuotesAndCommentsAreLeftAlone) {
  EXPECT_EQ(detail::postgres_placeholders("SELECT 'what?', \"odd?col\" FROM t WHERE x = ?"),
            "SELECT 'what?', \"odd?col\" FROM t WHERE x = $1");
  EXPECT_EQ(detail::postgres_placeholders("SELECT 'it''s ?' -- really?\n, ?2"),
            "SELECT 'it''s ?' -- really?\n, $2");
}

TEST(PostgresDatabaseTest, OpensMigratesAndReopensWithoutRemigrating) {
  const std::string uri = postgres_server().fresh_database();
  {
    auto db = open_or_throw(uri);
    EXPECT_EQ(db->dialect(), Dialect::postgresql);
    EXPECT_EQ(db->schema_version(), detail::latest_postgresql_schema_version());
    EXPECT_TRUE(contains(db->path(), "postgresql://postgres@")) << db->path();
    db->exec("INSERT INTO locks (scope, holder, since) VALUES ('env:prod', 'alice', 1)");
  }
  auto again = open_or_throw(uri);
  EXPECT_EQ(again->prepare("SELECT COUNT(*) FROM locks").scalar(), 1);
  EXPECT_EQ(again->prepare("SELECT COUNT(*) FROM shipmate_schema").scalar(), 1);
  EXPECT_THROW(again->last_insert_rowid(), StorageError);
}

TEST(PostgresDatabaseTest, AnUnreachableServerIsOneLineWithoutThePassword) {
  TempDir dir;
  const std::string uri =
      "postgresql:///shipmate?host=" + dir.path() + "&user=bot&password=hunter2-pg-secret";
  auto db = Database::open(uri);
  ASSERT_FALSE(db.ok());
  EXPECT_TRUE(contains(db.error().message,
                       "cannot connect to postgresql://bot@" + dir.path() + "/shipmate: "))
      << db.error().message;
  EXPECT_FALSE(contains(db.error().message, "hunter2")) << db.error().message;
  EXPECT_FALSE(contains(db.error().message, "\n"));
  EXPECT_TRUE(contains_secret("hunter2-pg-secret"));  // registered, so logs redact it too
  clear_registered_secrets();
}

TEST(PostgresDatabaseTest, ANewerSchemaIsRefused) {
  const std::string uri = postgres_server().fresh_database();
  open_or_throw(uri)->exec("UPDATE shipmate_schema SET version = 99");
  auto db = Database::open(uri);
  ASSERT_FALSE(db.ok());
  EXPECT_TRUE(contains(db.error().message, "its schema version 99 is newer than this build"))
      << db.error().message;
}

TEST(PostgresDatabaseTest, ReadOnlyOpenReadsButNeverWrites) {
  const std::string uri = postgres_server().fresh_database();
  {
    ManualClock clock;
    auto db = open_or_throw(uri);
    AuditLog(*db, clock).append(AuditEntry{"alice", "lock", "hello", "ok", ""});
  }
  auto reader = Database::open_read_only(uri);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  ManualClock clock;
  EXPECT_TRUE(AuditLog(**reader, clock).verify().ok);
  EXPECT_THROW((*reader)->exec("DELETE FROM locks"), StorageError);
  // A database Shipmate never migrated is named, with what to do.
  auto empty = Database::open_read_only(postgres_server().fresh_database());
  ASSERT_FALSE(empty.ok());
  EXPECT_TRUE(contains(empty.error().message, "start `shipmate serve` once to migrate it"))
      << empty.error().message;
}

// Each SQL text (with its parameter types) is prepared on the server the first time it runs on a
// connection and executed by name after that, so the server parses it once; a rolled-back
// transaction keeps it; a statement the server refuses is an error and leaves no name behind.
TEST(PostgresDatabaseTest, AStatementIsPreparedOnceAndThenRunByName) {
  auto db = open_or_throw(postgres_server().fresh_database());
  const std::string insert = "INSERT INTO locks (scope, holder, since) VALUES (?, ?, ?)";
  for (int i = 0; i < 3; ++i)
    db->prepare(insert).bind(1, "env:" + std::to_string(i)).bind(2, "alice").bind(3, i).run();
  EXPECT_THROW(db->transaction([&] {
    db->prepare(insert).bind(1, "env:gone").bind(2, "bob").bind(3, 9).run();
    throw StorageError("roll back");
  }),
               StorageError);
  EXPECT_THROW(db->prepare("SELECT no_such_column FROM locks").step(), StorageError);

  auto prepared = db->prepare(
      "SELECT COUNT(*), COALESCE(SUM(generic_plans + custom_plans), 0) FROM pg_prepared_statements "
      "WHERE statement LIKE ?");
  prepared.bind(1, "INSERT INTO locks %");
  ASSERT_TRUE(prepared.step());
  EXPECT_EQ(prepared.column_int64(0), 1);  // one statement on the server...
  EXPECT_EQ(prepared.column_int64(1), 4);  // ...executed four times by name
  prepared.reset();
  prepared.bind(1, "%no_such_column%");
  ASSERT_TRUE(prepared.step());
  EXPECT_EQ(prepared.column_int64(0), 0);
  EXPECT_EQ(db->prepare("SELECT COUNT(*) FROM locks").scalar(), 3);
  // Still planned at each execution: a generic plan made while a table was empty would go on
  // scanning it sequentially after it had grown.
  auto mode = db->prepare("SELECT current_setting('plan_cache_mode')");
  ASSERT_TRUE(mode.step());
  EXPECT_EQ(mode.column_text(0), "force_custom_plan");
}

// A fresh database on the test server reached through a proxy that counts the client's writes
// (its round trips) and can cut the connection.
struct ProxiedDatabase {
  TempDir dir;
  std::string direct_uri = postgres_server().fresh_database();
  UnixSocketProxy proxy{postgres_server().socket_dir() + "/.s.PGSQL.5432",
                        dir.path() + "/.s.PGSQL.5432"};
  std::unique_ptr<Database> db =
      open_or_throw(through_proxy(direct_uri, postgres_server().socket_dir(), dir.path()));

  std::int64_t count_direct(const std::string& where) {
    auto direct = open_or_throw(direct_uri);
    return direct->prepare("SELECT COUNT(*) FROM pipe WHERE " + where).scalar();
  }
};

void insert(Database& db, const std::string& key, std::int64_t value) {
  db.prepare("INSERT INTO pipe (k, v) VALUES (?, ?)").bind(1, key).bind(2, value).run();
}

// Inside a transaction, BEGIN, the statements whose rows nobody reads and COMMIT travel in one
// pipeline: the transaction waits once, plus once for each statement whose rows it reads (or
// changes()), and the read sees what was sent before it. Before pipelining, each statement was
// its own round trip (five for the first transaction here).
TEST(PostgresPipelineTest, ATransactionOfWritesIsOneRoundTripAndEachReadOneMore) {
  ProxiedDatabase p;
  Database& db = *p.db;
  db.exec("CREATE TABLE pipe (k TEXT PRIMARY KEY, v BIGINT NOT NULL)");
  // Every statement prepared once (a statement's first use adds its Parse to the same pipeline).
  db.transaction([&] {
    insert(db, "warm", 0);
    db.prepare("SELECT COUNT(*) FROM pipe").scalar();
    db.prepare("UPDATE pipe SET v = v + 1 WHERE v >= ?").bind(1, 100).run();
    db.changes();
  });

  auto before = p.proxy.client_writes();
  db.transaction([&] {
    insert(db, "a", 1);
    insert(db, "b", 2);
    insert(db, "c", 3);
  });
  EXPECT_EQ(p.proxy.client_writes() - before, 1u);
  EXPECT_EQ(p.count_direct("k IN ('a', 'b', 'c')"), 3);

  before = p.proxy.client_writes();
  std::int64_t seen = 0;
  int changed = 0;
  db.transaction([&] {
    insert(db, "d", 100);
    seen = db.prepare("SELECT COUNT(*) FROM pipe").scalar();  // waits: sees "d"
    insert(db, "e", 200);
    db.prepare("UPDATE pipe SET v = v + 1 WHERE v >= ?").bind(1, 100).run();
    changed = db.changes();  // waits: both rows
  });
  EXPECT_EQ(seen, 5);
  EXPECT_EQ(changed, 2);
  EXPECT_EQ(p.proxy.client_writes() - before, 3u);  // the read, changes(), COMMIT
  EXPECT_EQ(p.count_direct("v IN (101, 201)"), 2);

  // Outside a transaction a statement is still its own round trip.
  before = p.proxy.client_writes();
  insert(db, "f", 4);
  insert(db, "g", 5);
  EXPECT_EQ(p.proxy.client_writes() - before, 2u);
}

// Statement::send(): its rows come with the COMMIT's answer and are read after it, so a
// transaction that reads them costs one round trip, not two; a send() that fails fails the COMMIT
// and nothing of the transaction stays. The intake's commit uses it for the outbox's new rows
// (OutboxStore::record): deliveries and replies then wait twice, not three times.
TEST(PostgresPipelineTest, ASentStatementsRowsAreReadAfterCommitWithoutAWaitOfTheirOwn) {
  ProxiedDatabase p;
  Database& db = *p.db;
  db.exec("CREATE TABLE pipe (k TEXT PRIMARY KEY, v BIGINT NOT NULL)");
  const char* sql =
      "INSERT INTO pipe (k, v) VALUES (?1, 1), (?2, 2) ON CONFLICT (k) DO NOTHING "
      "RETURNING k";
  db.transaction([&] { insert(db, "warm", 0); });
  {
    Statement warm = db.prepare(sql);
    warm.bind(1, "w1").bind(2, "w2");
    db.transaction([&] { warm.send(); });  // prepared once, outside the counted transactions
  }

  Statement returning = db.prepare(sql);
  returning.bind(1, "a").bind(2, "b");
  auto before = p.proxy.client_writes();
  db.transaction([&] {
    insert(db, "x", 9);
    returning.send();
    insert(db, "y", 9);
  });
  EXPECT_EQ(p.proxy.client_writes() - before, 1u);  // COMMIT only
  std::vector<std::string> keys;
  while (returning.step())
    keys.push_back(returning.column_text(0));
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(p.proxy.client_writes() - before, 1u);  // reading them waited for nothing
  EXPECT_EQ(p.count_direct("k IN ('a', 'b', 'x', 'y')"), 4);

  // Read inside the transaction, the rows wait for themselves (one round trip more).
  returning.reset();
  returning.bind(1, "a").bind(2, "c");
  before = p.proxy.client_writes();
  db.transaction([&] {
    returning.send();
    keys.clear();
    while (returning.step())
      keys.push_back(returning.column_text(0));
  });
  EXPECT_EQ(keys, (std::vector<std::string>{"c"}));  // "a" was there already
  EXPECT_EQ(p.proxy.client_writes() - before, 2u);

  // A failing send() (the same key twice in one INSERT) fails the COMMIT: nothing stays.
  Statement clash = db.prepare("INSERT INTO pipe (k, v) VALUES (?1, 1), (?1, 2) RETURNING k");
  clash.bind(1, "twice");
  EXPECT_THROW(db.transaction([&] {
    insert(db, "z", 9);
    clash.send();
  }),
               ConstraintError);
  EXPECT_EQ(p.count_direct("k IN ('twice', 'z')"), 0);
  insert(db, "after", 1);  // the connection carries on
  EXPECT_EQ(p.count_direct("k = 'after'"), 1);
}

// A statement failing mid-pipeline fails the transaction with the error it fails with on its own
// (same type, same message); nothing of the transaction stays, what the server skipped after it
// (including a statement's first Parse) is forgotten, and the connection carries on.
TEST(PostgresPipelineTest, AFailingStatementMidPipelineRollsBackAndReportsAsAlone) {
  ProxiedDatabase p;
  Database& db = *p.db;
  db.exec("CREATE TABLE pipe (k TEXT PRIMARY KEY, v BIGINT NOT NULL)");
  insert(db, "taken", 0);
  std::string alone;
  try {
    insert(db, "taken", 1);
  } catch (const ConstraintError& e) {
    alone = e.what();
  }
  ASSERT_TRUE(contains(alone, "duplicate key")) << alone;

  const std::string first_use = "INSERT INTO pipe (k, v) VALUES (?, 7)";
  std::string in_pipeline;
  bool ran_past = false;
  try {
    db.transaction([&] {
      insert(db, "b", 1);
      insert(db, "taken", 1);  // refused by the server; reported at the next wait
      insert(db, "c", 2);
      db.prepare(first_use).bind(1, "d").run();  // Parse and execution skipped
      ran_past = true;
    });
  } catch (const ConstraintError& e) {
    in_pipeline = e.what();
  }
  EXPECT_TRUE(ran_past);
  EXPECT_EQ(in_pipeline, alone);
  EXPECT_EQ(p.count_direct("TRUE"), 1);  // only "taken"

  // A read waits, so a failure before it is thrown there, before the read's own result.
  std::string at_read;
  try {
    db.transaction([&] {
      insert(db, "taken", 2);
      db.prepare("SELECT COUNT(*) FROM pipe").scalar();
      ADD_FAILURE() << "the read returned after a failed statement";
    });
  } catch (const ConstraintError& e) {
    at_read = e.what();
  }
  EXPECT_EQ(at_read, alone);

  // SQL the server refuses: the same StorageError as outside a transaction.
  std::string refused_alone, refused_in_pipeline;
  try {
    db.prepare("UPDATE pipe SET no_such_column = 1").run();
  } catch (const StorageError& e) {
    refused_alone = e.what();
  }
  try {
    db.transaction([&] {
      insert(db, "e", 3);
      db.prepare("UPDATE pipe SET no_such_column = 1").run();
    });
  } catch (const StorageError& e) {
    refused_in_pipeline = e.what();
  }
  EXPECT_TRUE(contains(refused_alone, "no_such_column")) << refused_alone;
  EXPECT_EQ(refused_in_pipeline, refused_alone);
  EXPECT_EQ(p.count_direct("TRUE"), 1);

  // The connection goes on, and the statement whose Parse was skipped is prepared anew.
  db.transaction([&] {
    db.prepare(first_use).bind(1, "d").run();
    insert(db, "f", 4);
  });
  EXPECT_EQ(p.count_direct("k IN ('d', 'f')"), 2);
}

// The connection cut while a transaction's statements are queued: the wait fails with an error
// saying the connection is lost, nothing of the transaction is written, and later calls fail
// instead of hanging.
TEST(PostgresPipelineTest, AConnectionLostMidPipelineFailsTheCommitAndWritesNothing) {
  ProxiedDatabase p;
  Database& db = *p.db;
  db.exec("CREATE TABLE pipe (k TEXT PRIMARY KEY, v BIGINT NOT NULL)");
  insert(db, "before", 0);
  std::string message;
  try {
    db.transaction([&] {
      insert(db, "a", 1);
      insert(db, "b", 2);
      p.proxy.cut();
      insert(db, "c", 3);
    });
  } catch (const StorageError& e) {
    message = e.what();
  }
  EXPECT_TRUE(contains(message, "is lost")) << message;
  EXPECT_EQ(p.count_direct("TRUE"), 1);
  EXPECT_THROW(db.transaction([&] { insert(db, "d", 4); }), StorageError);
  EXPECT_THROW(insert(db, "e", 5), StorageError);
  EXPECT_EQ(p.count_direct("TRUE"), 1);
}

// The two settings a kept plan switches, as one text: "force_generic_plan off" under a kept
// statement, "force_custom_plan on" (the connection's own) otherwise.
const std::string kPlanSettings =
    "SELECT current_setting('plan_cache_mode') || ' ' || current_setting('enable_seqscan')";

// The settings an unmarked statement runs under now ("" when it returns no row).
std::string unmarked_settings(Database& db) {
  auto statement = db.prepare(kPlanSettings);
  return statement.step() ? statement.column_text(0) : "";
}

// A statement marked kKeepPlan (storage/kept_plan.h): inside a transaction it runs under
// transaction-local settings that make its plan once (generic) without sequential scans; the next
// statement not so marked runs under the connection's own again (a plan made at each execution), as
// does everything outside a transaction and after COMMIT. The switches ride in the same pipeline: a
// transaction of writes is still one round trip.
TEST(PostgresPlanTest, AKeptPlanIsMadeOnceWithoutSequentialScansInsideItsTransactionOnly) {
  ProxiedDatabase p;
  Database& db = *p.db;
  db.exec("CREATE TABLE pipe (k TEXT PRIMARY KEY, v BIGINT NOT NULL)");
  std::string kept_inside, plain_after_kept, kept_again;
  db.transaction([&] {
    auto kept = db.prepare(keep_plan(kPlanSettings + " AS kept"));
    kept_inside = kept.step() ? kept.column_text(0) : "";
    auto plain = db.prepare(kPlanSettings);
    plain_after_kept = plain.step() ? plain.column_text(0) : "";
    kept.reset();
    kept_again = kept.step() ? kept.column_text(0) : "";
  });
  EXPECT_EQ(kept_inside, "force_generic_plan off");
  EXPECT_EQ(plain_after_kept, "force_custom_plan on");
  EXPECT_EQ(kept_again, "force_generic_plan off");
  auto kept_outside = db.prepare(keep_plan(kPlanSettings + " AS kept"));
  ASSERT_TRUE(kept_outside.step());
  EXPECT_EQ(kept_outside.column_text(0), "force_custom_plan on");
  EXPECT_EQ(unmarked_settings(db), "force_custom_plan on");

  auto kept_insert = [&](const std::string& key, std::int64_t value) {
    db.prepare(keep_plan("INSERT INTO pipe (k, v) VALUES (?, ?)"))
        .bind(1, key)
        .bind(2, value)
        .run();
  };
  db.transaction([&] {
    kept_insert("warm", 0);
    insert(db, "warm too", 0);
  });
  const auto before = p.proxy.client_writes();
  db.transaction([&] {
    kept_insert("a", 1);
    insert(db, "b", 2);
    kept_insert("c", 3);
  });
  EXPECT_EQ(p.proxy.client_writes() - before, 1u);
  EXPECT_EQ(p.count_direct("k IN ('a', 'b', 'c')"), 3);
  // The kept insert was planned once (generic) and then kept; the unmarked text, another
  // statement on the server, is planned at each execution.
  auto plans = db.prepare(
      "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE ?");
  plans.bind(1, "/* keep plan */ INSERT INTO pipe %");
  ASSERT_TRUE(plans.step());
  EXPECT_EQ(plans.column_int64(0), 3);
  EXPECT_EQ(plans.column_int64(1), 0);
  plans.reset();
  plans.bind(1, "INSERT INTO pipe %");
  ASSERT_TRUE(plans.step());
  EXPECT_EQ(plans.column_int64(0), 0);
  EXPECT_EQ(plans.column_int64(1), 2);
}

// The kept plans' settings are the session's: transactions of kept statements one after another
// switch them once, not once each (at 5,000 commands/s nearly every transaction is one), and
// BEGIN and COMMIT run by name instead of being parsed at each transaction. Fails with the
// transaction-local switch (three executions of it) and with BEGIN and COMMIT sent unnamed.
TEST(PostgresPlanTest, KeptStatementsInTransactionsOneAfterAnotherSwitchTheSettingsOnce) {
  ProxiedDatabase p;
  Database& db = *p.db;
  db.exec("CREATE TABLE pipe (k TEXT PRIMARY KEY, v BIGINT NOT NULL)");
  auto runs = db.prepare(
      "SELECT COALESCE(SUM(generic_plans + custom_plans), 0) FROM pg_prepared_statements "
      "WHERE statement = ?");
  const std::vector<std::string> statements = {
      "SELECT set_config('plan_cache_mode', 'force_generic_plan', false), "
      "set_config('enable_seqscan', 'off', false)",
      "BEGIN", "COMMIT"};
  auto runs_of_each = [&] {
    std::vector<std::int64_t> out;
    for (const auto& statement : statements) {
      runs.reset();
      runs.bind(1, statement);
      out.push_back(runs.step() ? runs.column_int64(0) : -1);
    }
    return out;
  };
  const std::vector<std::int64_t> before = runs_of_each();
  std::vector<std::string> inside;
  for (int i = 0; i < 3; ++i) {
    db.transaction([&] {
      db.prepare(keep_plan("INSERT INTO pipe (k, v) VALUES (?, ?)"))
          .bind(1, "k" + std::to_string(i))
          .bind(2, i)
          .run();
      auto kept = db.prepare(keep_plan(kPlanSettings + " AS kept"));
      inside.push_back(kept.step() ? kept.column_text(0) : "");
    });
  }
  EXPECT_EQ(inside, (std::vector<std::string>(3, "force_generic_plan off")));
  // Outside a transaction, every statement runs under the connection's own settings again.
  EXPECT_EQ(unmarked_settings(db), "force_custom_plan on");
  const std::vector<std::int64_t> now = runs_of_each();
  const std::vector<std::int64_t> expected = {1, 3, 3};  // the switch once, BEGIN and COMMIT 3
  for (std::size_t i = 0; i < statements.size(); ++i)
    EXPECT_EQ(now[i] - before[i], expected[i]) << statements[i];
}

// A transaction that rolls back undoes the settings switched in it, so the connection must know
// them to be what they were at BEGIN: here the kept plans' (left by the committed transaction
// before it), switched back for an unmarked statement, then undone by the ROLLBACK. A statement
// run on its own afterwards must still be planned as usual, not under the kept plans' settings.
// Fails when the connection keeps believing in the switch the ROLLBACK undid.
TEST(PostgresPlanTest, ARolledBackSwitchOfTheSettingsIsNotBelievedAfterwards) {
  ProxiedDatabase p;
  Database& db = *p.db;
  db.exec("CREATE TABLE pipe (k TEXT PRIMARY KEY, v BIGINT NOT NULL)");
  db.transaction([&] {
    db.prepare(keep_plan("INSERT INTO pipe (k, v) VALUES (?, ?)")).bind(1, "a").bind(2, 1).run();
  });
  EXPECT_THROW(db.transaction([&] {
    insert(db, "b", 2);  // not kept: the settings switch back inside this transaction
    insert(db, "a", 3);  // a duplicate key: the transaction fails and rolls back
    db.prepare("SELECT 1").step();
  }),
               ConstraintError);
  EXPECT_EQ(unmarked_settings(db), "force_custom_plan on");
  EXPECT_EQ(p.count_direct("TRUE"), 1);
}

// The inbox's and outbox's statements keep their plans (InboxStore and OutboxStore mark them
// kKeepPlan), and those plans are made while the tables are empty, as on a new database. They
// must still find the rows through the indexes once the tables have grown: with PostgreSQL's own
// settings, a generic plan made on the empty outbox went on scanning it sequentially (session 14:
// 49 ms per batch of "sent" marks at 200,000 rows, 0.14 ms through the index).
TEST(PostgresPlanTest, TheStoresKeptPlansMadeOnEmptyTablesStillUseTheIndexesOnceTheyGrow) {
  auto db = open_or_throw(postgres_server().fresh_database());
  ManualClock clock;
  InboxStore inbox(*db, clock, "r0");
  OutboxStore outbox(*db, inbox, clock);
  // What the intake commits: deliveries, their replies, then the replies' "sent" marks with the
  // commands' "done".
  auto round = [&](const std::string& name) {
    const std::string a = "slack:event:" + name + "a", b = "slack:event:" + name + "b";
    EXPECT_EQ(inbox.accept_all({ping_command(a), ping_command(b)}, {}),
              (std::vector<bool>{true, true}));
    EXPECT_EQ(outbox.commit({reply_row(a + "#1"), reply_row(b + "#1")}, {}, {}),
              (std::vector<bool>{true, true}));
    outbox.commit({}, {a, b}, {{a + "#1", "1.1"}, {b + "#1", "1.2"}});
  };
  round("empty1");
  round("empty2");
  db->exec(
      "INSERT INTO outbox (idem_key, platform, channel, intent, body, created_at) "
      "SELECT 'grown:' || g, 'slack', 'C1', 'post', 'x', 0 FROM generate_series(1, 50000) g; "
      "INSERT INTO inbox_pending (key, platform, user_id, channel, text, state, received_at) "
      "SELECT 'grown:' || g, 'slack', 'U1', 'C1', 'x', 'received', 0 "
      "FROM generate_series(1, 50000) g");
  round("grown");
  EXPECT_EQ(db->prepare("SELECT COUNT(*) FROM outbox").scalar(), 50006);
  EXPECT_EQ(db->prepare("SELECT COUNT(*) FROM inbox_pending").scalar(), 50000);

  struct Hot {
    std::string sql_start;
    std::string arguments;
    std::string table;
  };
  for (const Hot& hot : {
           Hot{"/* keep plan */ UPDATE outbox SET state = 'sent', platform_id = s.e%",
               "('[[\"grown:7\",\"1.1\"],[\"grown:9\",\"1.2\"]]', 1)", "outbox"},
           Hot{"/* keep plan */ DELETE FROM inbox_pending WHERE key = ANY%",
               "('[\"grown:7\",\"grown:9\"]')", "inbox_pending"},
       }) {
    SCOPED_TRACE(hot.sql_start);
    auto found = db->prepare(
        "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements "
        "WHERE statement LIKE ?");
    found.bind(1, hot.sql_start);
    ASSERT_TRUE(found.step());
    const std::string name = found.column_text(0);
    EXPECT_EQ(found.column_int64(1), 3);  // one plan, kept for the three rounds
    EXPECT_EQ(found.column_int64(2), 0);
    // The plan it keeps, shown as is: a generic plan exists, so it is not made again.
    std::string plan;
    db->transaction([&] {
      db->exec("SET LOCAL plan_cache_mode = force_generic_plan");
      auto explain = db->prepare("EXPLAIN EXECUTE " + name + hot.arguments);
      while (explain.step())
        plan += explain.column_text(0) + "\n";
    });
    EXPECT_FALSE(contains(plan, "Seq Scan on " + hot.table)) << plan;
    EXPECT_TRUE(contains(plan, "Index Scan")) << plan;
  }
}

// The outbox's lists of values are domains, not CHECK constraints of the table: PostgreSQL reads
// a table's checks back from their stored text and plans them again at every INSERT and UPDATE
// (about 10% of the intake commit's instructions for these two, bench/README.md, session 17),
// while a domain's check is kept parsed. Fails with the table's three checks (PostgreSQL schema
// 13). A value outside either list is still refused, as a constraint error; the two-column check
// (OutboxPostgresTest) stays the table's.
TEST(PostgresPlanTest, TheOutboxChecksItsValuesThroughDomainsNotTableChecks) {
  auto db = open_or_throw(postgres_server().fresh_database());
  auto checks = db->prepare(
      "SELECT string_agg(conname, ' ') FROM pg_constraint WHERE conrelid = 'outbox'::regclass "
      "AND contype = 'c'");
  ASSERT_TRUE(checks.step());
  EXPECT_EQ(checks.column_text(0), "outbox_sent_has_time");
  auto insert = [&](const std::string& key, const std::string& intent, const std::string& state) {
    db->prepare(
          "INSERT INTO outbox (idem_key, platform, channel, intent, body, state, created_at) "
          "VALUES (?, 'slack', 'C1', ?, '{}', ?, 0)")
        .bind(1, key)
        .bind(2, intent)
        .bind(3, state)
        .run();
  };
  insert("a#0", "post", "pending");
  insert("b#0", "thread_reply", "pending");
  EXPECT_THROW(insert("c#0", "delete", "pending"), ConstraintError);
  EXPECT_THROW(insert("d#0", "post", "lost"), ConstraintError);
  EXPECT_THROW(db->prepare("UPDATE outbox SET state = 'gone' WHERE idem_key = 'a#0'").run(),
               ConstraintError);
  EXPECT_EQ(db->prepare("SELECT COUNT(*) FROM outbox").scalar(), 2);
}

TEST(PostgresDatabaseTest, UriChecks) {
  EXPECT_TRUE(Database::is_postgresql("postgresql://h/db"));
  EXPECT_TRUE(Database::is_postgresql("postgres://h/db"));
  EXPECT_FALSE(Database::is_postgresql("/var/lib/shipmate.db"));
  EXPECT_EQ(Database::postgresql_uri_problem("postgresql://bot@db/shipmate", false), "");
  const std::string with_password = "postgresql://bot:pw-3f9a1c@db/shipmate";
  EXPECT_EQ(Database::postgresql_uri_problem(with_password, true), "");
  const auto problem = Database::postgresql_uri_problem(with_password, false);
  EXPECT_TRUE(contains(problem, "carries a password")) << problem;
  EXPECT_FALSE(contains(problem, "pw-3f9a1c"));
  EXPECT_TRUE(contains(Database::postgresql_uri_problem("postgresql://db/x?nonsense=1", true),
                       "not one libpq understands"));
  EXPECT_EQ(
      Database::with_uri_parameters(
          "postgresql://db/x", {{"sslmode", "verify-full"}, {"sslrootcert", "/etc/my ca&.pem"}}),
      "postgresql://db/x?sslmode=verify-full&sslrootcert=/etc/my%20ca%26.pem");
  EXPECT_EQ(Database::with_uri_parameters("postgresql://db/x?connect_timeout=5", {{"a", "b"}}),
            "postgresql://db/x?connect_timeout=5&a=b");
  clear_registered_secrets();
}

// ---------------------------------------------------------------------------------------------
// storage copy

NewDeploy deploy_of(const std::string& version) {
  NewDeploy request;
  request.service = "hello";
  request.environment = "staging";
  request.version = version;
  request.requested_by = "alice";
  return request;
}

void fill(Database& db, ManualClock& clock) {
  DeployStore deploys(db, clock);
  AuditLog audit(db, clock);
  LockStore locks(db, clock);
  for (const char* version : {"v1", "v2", "v3"}) {
    clock.advance_ms(1000);
    const auto created = deploys.create(deploy_of(version));
    deploys.transition(created.id, DeployState::succeeded, "ok");
    audit.append(AuditEntry{"alice", "deploy", std::string("hello ") + version, "ok", ""});
  }
  ASSERT_TRUE(locks.acquire("env:prod", "bob", "freeze", std::nullopt).ok());
  ReleaseNotesStore notes(db, clock);
  ReleaseNotesRecord record;
  record.service = "hello";
  record.version = "v3";
  record.from_version = "v2";
  record.summary = "1 fix";
  record.generated = "### Fixes\n- a fix";
  notes.save(record);
  notes.edit("hello", "v3", "Edited by hand", "carol");
}

TEST(StorageCopyTest, SQLiteToPostgreSQLAndBackKeepsEverything) {
  TempDir dir;
  ManualClock clock;
  const std::string sqlite_path = dir.file("from.db");
  fill(*open_or_throw(sqlite_path), clock);

  const std::string uri = postgres_server().fresh_database();
  auto copied = copy_database("sqlite:" + sqlite_path, uri);
  ASSERT_TRUE(copied.ok()) << copied.error().message;
  EXPECT_TRUE(copied->audit.ok) << copied->audit.problem;
  EXPECT_EQ(copied->audit.records_checked, 3);
  EXPECT_EQ(copied->rows.front(), (std::pair<std::string, std::int64_t>{"deploys", 3}));

  {
    auto pg = open_or_throw(uri);
    DeployStore deploys(*pg, clock);
    EXPECT_EQ(deploys.last_succeeded("hello", "staging")->version, "v3");
    EXPECT_EQ(deploys.events(2).size(), 2u);
    EXPECT_EQ(LockStore(*pg, clock).get("env:prod")->holder, "bob");
    // Release notes come along, the edit beside the generated text.
    const auto notes = ReleaseNotesStore(*pg, clock).find("hello", "v3");
    ASSERT_TRUE(notes);
    EXPECT_EQ(notes->generated, "### Fixes\n- a fix");
    EXPECT_EQ(notes->text(), "Edited by hand");
    EXPECT_EQ(notes->edited_by, "carol");
    // Ids carry on after the copied ones.
    EXPECT_EQ(deploys.create(deploy_of("v4")).id, 4);
  }

  // And back into a new SQLite file.
  const std::string back = dir.file("back.db");
  auto returned = copy_database(uri, back);
  ASSERT_TRUE(returned.ok()) << returned.error().message;
  EXPECT_TRUE(returned->audit.ok);
  auto sqlite = open_or_throw(back);
  EXPECT_EQ(DeployStore(*sqlite, clock).get(4)->version, "v4");
  DeployStore(*sqlite, clock).transition(4, DeployState::succeeded, "ok");  // one live per target
  EXPECT_EQ(DeployStore(*sqlite, clock).create(deploy_of("v5")).id, 5);
  EXPECT_EQ(ReleaseNotesStore(*sqlite, clock).find("hello", "v3")->text(), "Edited by hand");
  // Every table is counted, in the copy's order (the outbox, empty here, comes after the notes).
  const std::pair<std::string, std::int64_t> notes_row{"release_notes", 1};
  EXPECT_NE(std::find(returned->rows.begin(), returned->rows.end(), notes_row),
            returned->rows.end());
  EXPECT_EQ(returned->rows.back(), (std::pair<std::string, std::int64_t>{"outbox", 0}));
}

TEST(StorageCopyTest, RefusesADestinationWithDataOrAnExistingFile) {
  TempDir dir;
  ManualClock clock;
  const std::string sqlite_path = dir.file("from.db");
  fill(*open_or_throw(sqlite_path), clock);
  const std::string uri = postgres_server().fresh_database();
  fill(*open_or_throw(uri), clock);
  auto copied = copy_database(sqlite_path, uri);
  ASSERT_FALSE(copied.ok());
  EXPECT_TRUE(contains(copied.error().message,
                       "it already holds data (3 in deploys, 6 in deploy_events, 1 in locks, 3 "
                       "in audit_log, 1 in release_notes); copy into an empty database"))
      << copied.error().message;

  auto onto_file = copy_database(uri, sqlite_path);
  ASSERT_FALSE(onto_file.ok());
  EXPECT_TRUE(contains(onto_file.error().message, "the file exists; name a new SQLite file"))
      << onto_file.error().message;
  EXPECT_FALSE(copy_database(sqlite_path, "sqlite:" + sqlite_path).ok());
}

TEST(StorageCopyTest, AFailureCopiesNothing) {
  // Two live deploys of one target in an SQLite file whose unique index was dropped by hand:
  // PostgreSQL's unique index refuses the second, and the whole copy is rolled back.
  TempDir dir;
  ManualClock clock;
  const std::string sqlite_path = dir.file("from.db");
  {
    auto db = open_or_throw(sqlite_path);
    DeployStore deploys(*db, clock);
    AuditLog(*db, clock).append(AuditEntry{"alice", "deploy", "hello", "ok", ""});
    db->exec("DROP INDEX deploys_one_live");
    deploys.create(deploy_of("v1"));
    deploys.create(deploy_of("v2"));
  }
  const std::string uri = postgres_server().fresh_database();
  auto copied = copy_database(sqlite_path, uri);
  ASSERT_FALSE(copied.ok());
  EXPECT_TRUE(contains(copied.error().message, "failed, and nothing was copied"))
      << copied.error().message;
  EXPECT_TRUE(contains(copied.error().message, "deploys_one_live")) << copied.error().message;
  auto pg = open_or_throw(uri);
  EXPECT_EQ(pg->prepare("SELECT COUNT(*) FROM deploys").scalar(), 0);
  EXPECT_EQ(pg->prepare("SELECT COUNT(*) FROM audit_log").scalar(), 0);
}

}  // namespace
}  // namespace shipmate::storage
