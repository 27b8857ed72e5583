// Group commit (storage/commit_batcher.h): CommitQueue's decisions step by step, with no database;
// then CommitBatcher on both backends, through IncidentStore's alert keys, with the schedule in the
// test's hands (a queue it pumps) and a second connection to see what is durable when each waiter
// is answered.
#include "storage/commit_batcher.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/clock.h"
#include "storage/database.h"
#include "storage/incident_store.h"
#include "tests/support/backends.h"
#include "tests/support/test_support.h"

namespace shipmate::storage {
namespace {

using shipmate::testing::Backend;
using shipmate::testing::fresh_location;
using shipmate::testing::open_or_throw;
using Ticket = CommitQueue::Ticket;
using Tickets = std::vector<Ticket>;

TEST(CommitQueue, TheFirstArrivalSchedulesOneFlushAndLaterOnesJoinIt) {
  CommitQueue queue(8);
  EXPECT_TRUE(queue.arrive(1));
  EXPECT_FALSE(queue.arrive(2));
  EXPECT_FALSE(queue.arrive(3));
  EXPECT_TRUE(queue.scheduled());
  EXPECT_EQ(queue.begin_batch(), (Tickets{1, 2, 3}));
  EXPECT_FALSE(queue.scheduled());
  // Arrivals while the transaction is written wait for the next one, without a second flush.
  EXPECT_FALSE(queue.arrive(4));
  const auto verdict = queue.finish(CommitQueue::Outcome::committed);
  EXPECT_EQ(verdict.answer_ok, (Tickets{1, 2, 3}));
  EXPECT_TRUE(verdict.answer_failed.empty());
  EXPECT_TRUE(verdict.schedule_flush);
  EXPECT_EQ(queue.begin_batch(), (Tickets{4}));
  const auto last = queue.finish(CommitQueue::Outcome::committed);
  EXPECT_EQ(last.answer_ok, (Tickets{4}));
  EXPECT_FALSE(last.schedule_flush);
  EXPECT_FALSE(queue.scheduled());
  EXPECT_FALSE(queue.running());
  EXPECT_TRUE(queue.arrive(5));  // idle again: a new flush
}

TEST(CommitQueue, ABatchTakesAtMostMaxBatchInArrivalOrder) {
  CommitQueue queue(2);
  EXPECT_TRUE(queue.arrive(1));
  for (Ticket t = 2; t <= 5; ++t)
    EXPECT_FALSE(queue.arrive(t));
  EXPECT_EQ(queue.begin_batch(), (Tickets{1, 2}));
  EXPECT_TRUE(queue.finish(CommitQueue::Outcome::committed).schedule_flush);
  EXPECT_EQ(queue.begin_batch(), (Tickets{3, 4}));
  EXPECT_TRUE(queue.finish(CommitQueue::Outcome::committed).schedule_flush);
  EXPECT_EQ(queue.begin_batch(), (Tickets{5}));
  EXPECT_FALSE(queue.finish(CommitQueue::Outcome::committed).schedule_flush);
}

TEST(CommitQueue, AFailedWriteFailsAloneAndTheOthersGoFirstInTheNextBatch) {
  CommitQueue queue(8);
  EXPECT_TRUE(queue.arrive(1));
  EXPECT_FALSE(queue.arrive(2));
  EXPECT_FALSE(queue.arrive(3));
  EXPECT_EQ(queue.begin_batch(), (Tickets{1, 2, 3}));
  EXPECT_FALSE(queue.arrive(4));
  const auto verdict = queue.finish(CommitQueue::Outcome::write_failed, 1);
  EXPECT_TRUE(verdict.answer_ok.empty());  // rolled back: not answered yet
  EXPECT_EQ(verdict.answer_failed, (Tickets{2}));
  EXPECT_TRUE(verdict.schedule_flush);
  EXPECT_EQ(queue.begin_batch(), (Tickets{1, 3, 4}));
}

TEST(CommitQueue, AFailedCommitFailsTheWholeBatchAndNothingElse) {
  CommitQueue queue(8);
  EXPECT_TRUE(queue.arrive(1));
  EXPECT_FALSE(queue.arrive(2));
  EXPECT_EQ(queue.begin_batch(), (Tickets{1, 2}));
  EXPECT_FALSE(queue.arrive(3));
  const auto verdict = queue.finish(CommitQueue::Outcome::commit_failed);
  EXPECT_TRUE(verdict.answer_ok.empty());
  EXPECT_EQ(verdict.answer_failed, (Tickets{1, 2}));
  EXPECT_TRUE(verdict.schedule_flush);  // 3 was not in it
  EXPECT_EQ(queue.begin_batch(), (Tickets{3}));
  // A write failure naming no item of the batch cannot say who failed: all did.
  const auto unknown = queue.finish(CommitQueue::Outcome::write_failed, 7);
  EXPECT_EQ(unknown.answer_failed, (Tickets{3}));
  EXPECT_FALSE(unknown.schedule_flush);
}

class CommitBatcherTest : public ::testing::TestWithParam<Backend> {
 protected:
  // What each submitted work item was told, in the order it was told.
  struct Answer {
    std::string name;
    bool ok = false;
    std::string error;
    bool durable = false;  // its key was visible on the second connection when it was answered
  };

  // A work item that remembers `key` (recording whether it was new) and may then throw.
  CommitBatcher::Work remember(const std::string& name, const std::string& key,
                               bool throw_after = false) {
    CommitBatcher::Work work;
    work.write = [this, name, key, throw_after] {
      ++writes[name];
      fresh[name] = store.remember_alert(key, std::nullopt);
      if (throw_after)
        throw std::runtime_error("payload " + name + " is refused");
    };
    work.done = [this, name, key](const Status& status) {
      answers.push_back({name, status.ok(), status.ok() ? "" : status.error().message,
                         other_store.alert_seen(key)});
    };
    return work;
  }

  // Runs what the committer scheduled, as the event loop would, until nothing is left.
  int pump() {
    int runs = 0;
    while (!scheduled.empty()) {
      auto next = std::move(scheduled.front());
      scheduled.erase(scheduled.begin());
      next();
      ++runs;
    }
    return runs;
  }

  ManualClock clock;
  shipmate::testing::TempDir dir;
  std::string location = fresh_location(GetParam(), dir, "shipmate.db");
  std::unique_ptr<Database> db = open_or_throw(location);
  std::unique_ptr<Database> other = open_or_throw(location);
  IncidentStore store{*db, clock};
  IncidentStore other_store{*other, clock};
  std::vector<std::function<void()>> scheduled;
  CommitBatcher commits{
      *db, [this](std::function<void()> flush) { scheduled.push_back(std::move(flush)); }};
  std::vector<Answer> answers;
  std::map<std::string, int> writes;
  std::map<std::string, bool> fresh;
};
SHIPMATE_ON_BOTH_BACKENDS(CommitBatcherTest);

TEST_P(CommitBatcherTest, RequestsOfOneTurnShareOneCommitAndAreAnsweredOnlyOnceItIsDurable) {
  commits.submit(remember("a", "k1"));
  commits.submit(remember("b", "k2"));
  commits.submit(remember("c", "k3"));
  EXPECT_EQ(scheduled.size(), 1u);  // one flush for the three
  EXPECT_TRUE(answers.empty());     // nothing answered, nothing written before the flush runs
  EXPECT_FALSE(other_store.alert_seen("k1"));
  EXPECT_EQ(pump(), 1);
  ASSERT_EQ(answers.size(), 3u);
  for (const auto& answer : answers) {
    EXPECT_TRUE(answer.ok) << answer.name << ": " << answer.error;
    EXPECT_TRUE(answer.durable) << answer.name << " was answered before its commit";
  }
  EXPECT_EQ(answers[0].name, "a");
  EXPECT_EQ(answers[2].name, "c");
  EXPECT_EQ(commits.counters().transactions, 1u);
  EXPECT_EQ(commits.counters().committed, 3u);
}

TEST_P(CommitBatcherTest, AKeyAlreadyInTheBatchIsADuplicateInsideTheBatch) {
  commits.submit(remember("first", "same-key"));
  commits.submit(remember("second", "same-key"));
  commits.submit(remember("third", "other-key"));
  pump();
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_TRUE(fresh["first"]);
  EXPECT_FALSE(fresh["second"]);  // the first's uncommitted key is seen by the second
  EXPECT_TRUE(fresh["third"]);
  EXPECT_EQ(commits.counters().transactions, 1u);
}

TEST_P(CommitBatcherTest, AWriteThatThrowsFailsAloneAndTheOthersCommitWithoutIt) {
  commits.submit(remember("a", "k1"));
  commits.submit(remember("bad", "k-bad", /*throw_after=*/true));
  commits.submit(remember("c", "k3"));
  EXPECT_EQ(pump(), 2);  // the batch, then the two others again
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(answers[0].name, "bad");
  EXPECT_FALSE(answers[0].ok);
  EXPECT_NE(answers[0].error.find("not recorded: payload bad is refused"), std::string::npos)
      << answers[0].error;
  EXPECT_FALSE(answers[0].durable);
  EXPECT_EQ(answers[1].name, "a");
  EXPECT_EQ(answers[2].name, "c");
  EXPECT_TRUE(answers[1].ok && answers[1].durable);
  EXPECT_TRUE(answers[2].ok && answers[2].durable);
  EXPECT_FALSE(other_store.alert_seen("k-bad"));  // its own write went with the rollback
  EXPECT_EQ(writes["a"], 2);                      // written again in the second transaction
  EXPECT_TRUE(fresh["a"]);                        // and new there: the first was rolled back
  EXPECT_EQ(writes["bad"], 1);
  EXPECT_EQ(commits.counters().transactions, 1u);
  EXPECT_EQ(commits.counters().failed, 1u);
  EXPECT_EQ(commits.counters().retried, 2u);
}

// On PostgreSQL a statement whose rows nobody reads is only sent inside the transaction
// (storage/postgres.h): its failure is read at the next wait. Item 2 of 3 violates a unique
// constraint with such a statement; before statements were tagged, the failure was blamed on item
// 3 (whose remember_alert() waits for changes()) or, with nothing waiting, on the COMMIT (all
// three failed as "the shared transaction failed").
class CommitBatcherBlameTest : public CommitBatcherTest {
 protected:
  void SetUp() override {
    db->exec("CREATE TABLE gc_taken (name TEXT PRIMARY KEY)");
    db->exec("INSERT INTO gc_taken (name) VALUES ('taken')");
  }
  // Remembers `key`, then inserts a name that is already taken, reading nothing back.
  CommitBatcher::Work clash(const std::string& name, const std::string& key) {
    CommitBatcher::Work work = remember(name, key);
    auto write = work.write;
    work.write = [this, write] {
      write();
      db->prepare("INSERT INTO gc_taken (name) VALUES ('taken')").run();
    };
    return work;
  }
  // Writes a row of its own without reading anything: nothing in it waits for the server.
  CommitBatcher::Work blind(const std::string& name) {
    CommitBatcher::Work work;
    work.write = [this, name] {
      ++writes[name];
      db->prepare("INSERT INTO gc_taken (name) VALUES (?1)").bind(1, name).run();
    };
    work.done = [this, name](const Status& status) {
      Statement seen = other->prepare("SELECT 1 FROM gc_taken WHERE name = ?1");
      seen.bind(1, name);
      answers.push_back(
          {name, status.ok(), status.ok() ? "" : status.error().message, seen.step()});
    };
    return work;
  }
  void expect_only_the_clash_failed(const std::vector<std::string>& others) {
    ASSERT_EQ(answers.size(), others.size() + 1);
    EXPECT_EQ(answers[0].name, "clash");
    EXPECT_FALSE(answers[0].ok);
    EXPECT_FALSE(answers[0].durable);
    EXPECT_NE(answers[0].error.find("not recorded: "), std::string::npos) << answers[0].error;
    EXPECT_NE(answers[0].error.find("gc_taken"), std::string::npos) << answers[0].error;
    for (std::size_t i = 0; i < others.size(); ++i) {
      EXPECT_EQ(answers[i + 1].name, others[i]);
      EXPECT_TRUE(answers[i + 1].ok) << others[i] << ": " << answers[i + 1].error;
      EXPECT_TRUE(answers[i + 1].durable) << others[i];
    }
    // Before the clash: run again after the rollback. After it: SQLite never got to it in the
    // first transaction, PostgreSQL did (its failure came later).
    EXPECT_EQ(writes[others.front()], 2);
    EXPECT_GE(writes[others.back()], 1);
    EXPECT_EQ(writes["clash"], 1);  // never run again
    EXPECT_FALSE(other_store.alert_seen("k-clash"));
    EXPECT_EQ(commits.counters().failed, 1u);
    EXPECT_EQ(commits.counters().committed, others.size());
    EXPECT_EQ(commits.counters().transactions, 1u);
  }
};
SHIPMATE_ON_BOTH_BACKENDS(CommitBatcherBlameTest);

TEST_P(CommitBatcherBlameTest, AStatementFailingUnreadIsBlamedOnItsItemNotOnTheNextThatWaits) {
  commits.submit(remember("a", "k1"));
  commits.submit(clash("clash", "k-clash"));
  commits.submit(remember("c", "k3"));  // its changes() is the first wait after the clash
  EXPECT_EQ(pump(), 2);
  expect_only_the_clash_failed({"a", "c"});
  EXPECT_TRUE(fresh["a"] && fresh["c"]);
  EXPECT_TRUE(other_store.alert_seen("k1") && other_store.alert_seen("k3"));
}

TEST_P(CommitBatcherBlameTest, AStatementFailingUnreadThatOnlyTheCommitReadsIsBlamedOnItsItem) {
  commits.submit(blind("a"));
  commits.submit(clash("clash", "k-clash"));
  commits.submit(blind("c"));  // nothing waits before COMMIT
  EXPECT_EQ(pump(), 2);
  expect_only_the_clash_failed({"a", "c"});
}

TEST_P(CommitBatcherTest, AFailedCommitFailsEveryWaiterWritesNothingAndTheNextBatchWorks) {
  // A deferred foreign key is checked at COMMIT on both backends: an orphan fails the commit.
  db->exec("CREATE TABLE gc_parent (id INTEGER PRIMARY KEY)");
  db->exec(
      "CREATE TABLE gc_child (parent INTEGER REFERENCES gc_parent (id) DEFERRABLE INITIALLY "
      "DEFERRED)");
  commits.submit(remember("a", "k1"));
  CommitBatcher::Work orphan = remember("orphan", "k2");
  auto write = orphan.write;
  orphan.write = [this, write] {
    write();
    db->exec("INSERT INTO gc_child (parent) VALUES (42)");
  };
  commits.submit(std::move(orphan));
  commits.submit(remember("c", "k3"));
  EXPECT_EQ(pump(), 1);
  ASSERT_EQ(answers.size(), 3u);
  for (const auto& answer : answers) {
    EXPECT_FALSE(answer.ok) << answer.name;
    EXPECT_FALSE(answer.durable) << answer.name;
    EXPECT_NE(answer.error.find("not recorded: the transaction it shared with 2 other request(s) "
                                "failed and was rolled back"),
              std::string::npos)
        << answer.error;
  }
  for (const char* key : {"k1", "k2", "k3"})
    EXPECT_FALSE(other_store.alert_seen(key)) << key;
  EXPECT_EQ(commits.counters().failed, 3u);
  EXPECT_EQ(commits.counters().transactions, 0u);
  // Sent again (without the orphan), they are new and committed.
  answers.clear();
  commits.submit(remember("a", "k1"));
  commits.submit(remember("c", "k3"));
  pump();
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_TRUE(answers[0].ok && answers[0].durable) << answers[0].error;
  EXPECT_TRUE(answers[1].ok && answers[1].durable) << answers[1].error;
  EXPECT_TRUE(fresh["a"]);
}

TEST_P(CommitBatcherTest, WorkSubmittedFromAnAnswerGoesInTheNextTransaction) {
  CommitBatcher::Work first = remember("first", "k1");
  auto done = first.done;
  first.done = [this, done](const Status& status) {
    done(status);
    commits.submit(remember("follow-up", "k2"));
  };
  commits.submit(std::move(first));
  EXPECT_EQ(pump(), 2);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[1].name, "follow-up");
  EXPECT_TRUE(answers[1].ok && answers[1].durable);
  EXPECT_EQ(commits.counters().transactions, 2u);
}

TEST_P(CommitBatcherTest, WorkPendingWhenTheCommitterGoesIsAnsweredAndItsFlushDoesNothing) {
  std::vector<std::string> errors;
  {
    CommitBatcher doomed(
        *db, [this](std::function<void()> flush) { scheduled.push_back(std::move(flush)); });
    CommitBatcher::Work work;
    work.write = [] { FAIL() << "written after its committer went"; };
    work.done = [&errors](const Status& status) {
      errors.push_back(status.ok() ? "ok" : status.error().message);
    };
    doomed.submit(std::move(work));
  }
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "not recorded: shutting down");
  EXPECT_EQ(pump(), 1);  // the scheduled flush runs and does nothing
}

}  // namespace
}  // namespace shipmate::storage
