// Two writers on one database (issue 17): replicas sharing PostgreSQL, or two connections to one
// SQLite file. Each test opens separate connections and makes them race, sequentially (the loser
// comes second) and on threads released together (a latch), and checks the invariant that the
// store promises: one winner per deploy transition, a stale epoch refused, one live deploy per
// target, each expired lock taken once, one audit chain. No test waits on time.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <latch>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "storage/audit_log.h"
#include "storage/database.h"
#include "storage/deploy_store.h"
#include "storage/lock_store.h"
#include "storage/migrations.h"
#include "tests/support/backends.h"
#include "tests/support/test_support.h"

namespace shipmate::storage {
namespace {

using shipmate::testing::Backend;
using shipmate::testing::fresh_location;
using shipmate::testing::open_or_throw;

NewDeploy new_deploy(const std::string& service, const std::string& environment = "prod") {
  NewDeploy request;
  request.service = service;
  request.environment = environment;
  request.version = "2.0";
  request.requested_by = "alice";
  request.chat_ref = "terminal";
  return request;
}

class TwoWritersTest : public ::testing::TestWithParam<Backend> {
 protected:
  // A deploy waiting for approval, written by the first writer.
  DeployRecord waiting(const std::string& service) {
    const DeployRecord created = first.create(new_deploy(service));
    const TransitionOutcome outcome = first.transition_if(
        created.id, DeployState::requested, 0, DeployState::awaiting_approval, "waiting");
    EXPECT_TRUE(outcome.applied);
    return outcome.record;
  }

  ManualClock clock;
  shipmate::testing::TempDir dir;
  std::string location = fresh_location(GetParam(), dir, "shipmate.db");
  std::unique_ptr<Database> db_a = open_or_throw(location);
  std::unique_ptr<Database> db_b = open_or_throw(location);
  DeployStore first{*db_a, clock};
  DeployStore second{*db_b, clock};
};
SHIPMATE_ON_BOTH_BACKENDS(TwoWritersTest);

struct Decision {
  const char* name;
  DeployState to;
};
constexpr Decision kDecisions[] = {{"approve", DeployState::queued},
                                   {"deny", DeployState::cancelled},
                                   {"expire", DeployState::timed_out}};

// Whichever of approve, deny and expiry writes first wins; the two later ones change nothing,
// write no event, and see the winner's row (state and message), which is what they tell people.
TEST_P(TwoWritersTest, ApproveDenyAndExpiryHaveExactlyOneWinnerInEveryOrder) {
  for (const Decision& winner : kDecisions) {
    const DeployRecord deploy = waiting(std::string("svc-") + winner.name);
    const TransitionOutcome won = first.transition_if(deploy.id, DeployState::awaiting_approval,
                                                      deploy.epoch, winner.to, winner.name);
    ASSERT_TRUE(won.applied) << winner.name;
    EXPECT_EQ(won.record.state, winner.to);
    for (const Decision& loser : kDecisions) {
      if (loser.to == winner.to)
        continue;
      const TransitionOutcome lost = second.transition_if(deploy.id, DeployState::awaiting_approval,
                                                          deploy.epoch, loser.to, loser.name);
      EXPECT_FALSE(lost.applied) << loser.name << " after " << winner.name;
      EXPECT_EQ(lost.record.state, winner.to);
      EXPECT_EQ(lost.record.detail, winner.name);
    }
    const auto events = second.events(deploy.id);
    ASSERT_EQ(events.size(), 3u);  // requested, awaiting_approval, the winner's
    EXPECT_EQ(events.back().to, winner.to);
    EXPECT_EQ(events.back().from, DeployState::awaiting_approval);
    EXPECT_EQ(first.get(deploy.id)->finished_at.has_value(), is_terminal(winner.to));
  }
}

// The same race on threads, each with its own connection, released together: exactly one
// decision is recorded per deploy, and the row and its history agree on which.
TEST_P(TwoWritersTest, RacingDecisionsOnThreadsRecordOneOutcome) {
  constexpr int kRounds = 15;
  std::vector<std::unique_ptr<Database>> connections;
  for (int i = 0; i < 3; ++i)
    connections.push_back(open_or_throw(location));
  for (int round = 0; round < kRounds; ++round) {
    const DeployRecord deploy = waiting("svc" + std::to_string(round));
    std::atomic<int> applied{0};
    std::latch start(3);
    std::vector<std::thread> writers;
    for (int i = 0; i < 3; ++i) {
      writers.emplace_back([&, i] {
        ManualClock own_clock;
        DeployStore store(*connections[static_cast<std::size_t>(i)], own_clock);
        start.arrive_and_wait();
        const TransitionOutcome outcome =
            store.transition_if(deploy.id, DeployState::awaiting_approval, deploy.epoch,
                                kDecisions[i].to, kDecisions[i].name);
        if (outcome.applied)
          applied.fetch_add(1);
      });
    }
    for (auto& writer : writers)
      writer.join();
    EXPECT_EQ(applied.load(), 1) << "round " << round;
    const auto events = first.events(deploy.id);
    ASSERT_EQ(events.size(), 3u) << "round " << round;
    EXPECT_EQ(first.get(deploy.id)->state, events.back().to);
  }
}

// A replica that took the deploy over bumped its epoch: the former owner's write, even from the
// right state, is refused and writes nothing; the new owner's goes through.
TEST_P(TwoWritersTest, AStaleEpochIsRefusedEvenFromTheRightState) {
  const DeployRecord created = first.create(new_deploy("hello"));
  ASSERT_TRUE(
      first.transition_if(created.id, DeployState::requested, 0, DeployState::deploying, "go")
          .applied);
  db_b->prepare("UPDATE deploys SET owner = ?2, epoch = epoch + 1 WHERE id = ?1")
      .bind(1, created.id)
      .bind(2, "replica-b")
      .run();
  const TransitionOutcome stale =
      first.transition_if(created.id, DeployState::deploying, 0, DeployState::succeeded, "done");
  EXPECT_FALSE(stale.applied);
  EXPECT_EQ(stale.record.state, DeployState::deploying);
  EXPECT_EQ(stale.record.epoch, 1);
  EXPECT_EQ(stale.record.owner, "replica-b");
  EXPECT_EQ(first.events(created.id).size(), 2u);
  const TransitionOutcome fresh =
      second.transition_if(created.id, DeployState::deploying, 1, DeployState::failed, "took over");
  EXPECT_TRUE(fresh.applied);
  EXPECT_EQ(fresh.record.state, DeployState::failed);
  EXPECT_EQ(first.events(created.id).size(), 3u);
}

TEST_P(TwoWritersTest, TransitionIfOfAMissingDeployThrowsAndWritesNothing) {
  EXPECT_THROW(
      first.transition_if(999, DeployState::requested, 0, DeployState::deploying, "nothing"),
      StorageError);
  EXPECT_TRUE(first.events(999).empty());
}

// Both writers passed the policy's "nothing live" check at once: the unique index lets one
// deploy of the target live, and the other writer is told which one, in a sentence.
TEST_P(TwoWritersTest, OneLiveDeployPerTargetAcrossWriters) {
  const DeployRecord live = first.create(new_deploy("hello"));
  try {
    second.create(new_deploy("hello"));
    FAIL() << "a second live deploy of hello@prod was stored";
  } catch (const StorageError& error) {
    EXPECT_EQ(std::string(error.what()),
              "deploy #" + std::to_string(live.id) +
                  " (hello 2.0 to prod) is still requested; only one deploy per service and "
                  "environment can be live");
  }
  EXPECT_EQ(second.history("hello", "prod", 10).size(), 1u);
  second.create(new_deploy("hello", "staging"));  // another target is free
  ASSERT_TRUE(
      second.transition_if(live.id, DeployState::requested, 0, DeployState::cancelled, "stop")
          .applied);
  EXPECT_EQ(first.create(new_deploy("hello")).state, DeployState::requested);
}

TEST_P(TwoWritersTest, RacingCreatesOnThreadsLeaveOneLiveDeploy) {
  constexpr int kWriters = 4;
  std::vector<std::unique_ptr<Database>> connections;
  for (int i = 0; i < kWriters; ++i)
    connections.push_back(open_or_throw(location));
  std::atomic<int> created{0};
  std::atomic<int> refused{0};
  std::latch start(kWriters);
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([&, i] {
      ManualClock own_clock;
      DeployStore store(*connections[static_cast<std::size_t>(i)], own_clock);
      start.arrive_and_wait();
      try {
        store.create(new_deploy("hello"));
        created.fetch_add(1);
      } catch (const StorageError& error) {
        if (std::string(error.what()).find("only one deploy per service and environment") !=
            std::string::npos)
          refused.fetch_add(1);
      }
    });
  }
  for (auto& writer : writers)
    writer.join();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(refused.load(), kWriters - 1);
  EXPECT_EQ(first.in_flight().size(), 1u);
}

// Two replicas sweep expired locks at the same moment: each lock is taken (and so announced) by
// exactly one of them, and every one of them is taken.
TEST_P(TwoWritersTest, EachExpiredLockIsTakenByOneWriter) {
  constexpr int kLocks = 40;
  LockStore locks_a(*db_a, clock);
  for (int i = 0; i < kLocks; ++i) {
    ASSERT_TRUE(locks_a.acquire("svc" + std::to_string(i) + "@prod", "alice", "maintenance",
                                clock.now_ms() + 1000 + i));
  }
  ASSERT_TRUE(locks_a.acquire("kept@prod", "bob", "no expiry", std::nullopt));
  clock.advance_ms(10'000);
  std::vector<std::vector<LockRecord>> taken(2);
  std::latch start(2);
  std::vector<std::thread> sweepers;
  for (int i = 0; i < 2; ++i) {
    sweepers.emplace_back([&, i] {
      LockStore locks(i == 0 ? *db_a : *db_b, clock);
      start.arrive_and_wait();
      taken[static_cast<std::size_t>(i)] = locks.take_expired();
    });
  }
  for (auto& sweeper : sweepers)
    sweeper.join();
  std::multiset<std::string> scopes;
  for (const auto& batch : taken) {
    for (const auto& lock : batch)
      scopes.insert(lock.scope);
  }
  EXPECT_EQ(scopes.size(), static_cast<std::size_t>(kLocks));
  EXPECT_EQ(std::set<std::string>(scopes.begin(), scopes.end()).size(),
            static_cast<std::size_t>(kLocks));
  EXPECT_TRUE(locks_a.take_expired().empty());
  EXPECT_TRUE(LockStore(*db_b, clock).get("kept@prod").has_value());
}

// Appends from threads on their own connections make one chain with no gap and no fork, on
// both backends (PostgreSQL: the chain-head row lock; SQLite: writers take turns).
TEST_P(TwoWritersTest, AuditAppendsFromRacingWritersKeepOneChain) {
  constexpr int kWriters = 3;
  constexpr int kEach = 30;
  std::vector<std::unique_ptr<Database>> connections;
  for (int i = 0; i < kWriters; ++i)
    connections.push_back(open_or_throw(location));
  std::latch start(kWriters);
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      ManualClock own_clock;
      AuditLog log(*connections[static_cast<std::size_t>(w)], own_clock);
      start.arrive_and_wait();
      for (int i = 0; i < kEach; ++i)
        log.append(
            AuditEntry{"writer" + std::to_string(w), "command", std::to_string(i), "ok", ""});
    });
  }
  for (auto& writer : writers)
    writer.join();
  const auto report = AuditLog(*db_a, clock).verify();
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.records_checked, kWriters * kEach);
}

// An SQLite file from before migration 19 where a target somehow has two live deploys (one writer
// never did this, but an upgrade must not be stuck on it): the older one is recorded as failed,
// with an event saying why, and the unique index then holds.
TEST(TwoWritersMigrationTest, UpgradeFailsOlderDuplicateLiveDeploysThenIndexesThem) {
  shipmate::testing::TempDir dir;
  const std::string path = dir.file("old.db");
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  for (const auto& migration : detail::migrations()) {
    if (migration.version < 19) {
      ASSERT_EQ(sqlite3_exec(raw, std::string(migration.sql).c_str(), nullptr, nullptr, nullptr),
                SQLITE_OK)
          << sqlite3_errmsg(raw);
    }
  }
  const char* rows =
      "INSERT INTO deploys (service, environment, version, kind, requested_by, state, "
      "requested_at) VALUES ('hello', 'prod', '1.0', 'deploy', 'alice', 'deploying', 1), "
      "('hello', 'prod', '2.0', 'deploy', 'bob', 'awaiting_approval', 2), "
      "('hello', 'staging', '2.0', 'deploy', 'bob', 'queued', 3), "
      "('other', 'prod', '1.0', 'deploy', 'bob', 'succeeded', 4);"
      "PRAGMA user_version = 18;";
  ASSERT_EQ(sqlite3_exec(raw, rows, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(raw);
  sqlite3_close(raw);

  auto db = open_or_throw(path);
  ManualClock clock;
  DeployStore store(*db, clock);
  EXPECT_EQ(store.get(1)->state, DeployState::failed);
  EXPECT_TRUE(store.get(1)->finished_at.has_value());
  ASSERT_EQ(store.events(1).size(), 1u);
  EXPECT_EQ(store.events(1)[0].from, DeployState::deploying);
  EXPECT_NE(store.events(1)[0].message.find("newer deploy"), std::string::npos);
  EXPECT_EQ(store.get(2)->state, DeployState::awaiting_approval);
  EXPECT_EQ(store.get(3)->state, DeployState::queued);
  EXPECT_EQ(store.get(4)->state, DeployState::succeeded);
  EXPECT_EQ(store.get(2)->epoch, 0);
  EXPECT_THROW(store.create(new_deploy("hello")), StorageError);
}

}  // namespace
}  // namespace shipmate::storage
