#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/redact.h"
#include "storage/database.h"
#include "storage/deploy_store.h"
#include "storage/lock_store.h"
#include "tests/support/backends.h"
#include "tests/support/test_support.h"

namespace shipmate::storage {
namespace {

using shipmate::testing::Backend;
using shipmate::testing::fresh_location;

constexpr EpochMillis kSecond = 1000;
constexpr EpochMillis kMinute = 60 * kSecond;

::testing::AssertionResult Contains(std::string_view text, std::string_view needle) {
  if (text.find(needle) != std::string_view::npos)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "\"" << text << "\" does not contain \"" << needle << "\"";
}

std::unique_ptr<Database> open_or_fail(const std::string& path) {
  auto db = Database::open(path);
  if (!db)
    throw std::runtime_error("open failed: " + db.error().message);
  return std::move(db).value();
}

NewDeploy new_deploy(std::string service, std::string environment, std::string version) {
  NewDeploy request;
  request.service = std::move(service);
  request.environment = std::move(environment);
  request.version = std::move(version);
  request.requested_by = "alice";
  request.reason = "routine release";
  request.chat_ref = "terminal";
  return request;
}

class DeployStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void TearDown() override { clear_registered_secrets(); }

  // Walks a fresh deploy to `final_state` through the usual path.
  DeployRecord deploy_to(const std::string& service, const std::string& environment,
                         const std::string& version, DeployState final_state) {
    DeployRecord record = store.create(new_deploy(service, environment, version));
    clock.advance_ms(kSecond);
    store.transition(record.id, DeployState::deploying, "rolling out");
    clock.advance_ms(kSecond);
    return store.transition(record.id, final_state, "done");
  }

  ManualClock clock;
  shipmate::testing::TempDir dir;
  std::unique_ptr<Database> db = open_or_fail(fresh_location(GetParam(), dir, ":memory:"));
  DeployStore store{*db, clock};
};
SHIPMATE_ON_BOTH_BACKENDS(DeployStoreTest);

TEST(DeployEnumsTest, NamesRoundTrip) {
  for (DeployKind kind : {DeployKind::deploy, DeployKind::rollback, DeployKind::redeploy}) {
    EXPECT_EQ(parse_deploy_kind(to_string(kind)), kind);
  }
  for (int i = 0; i <= static_cast<int>(DeployState::timed_out); ++i) {
    const auto state = static_cast<DeployState>(i);
    EXPECT_NE(to_string(state), "unknown");
    EXPECT_EQ(parse_deploy_state(to_string(state)), state);
  }
  EXPECT_EQ(to_string(DeployState::awaiting_approval), "awaiting_approval");
  EXPECT_EQ(to_string(DeployKind::rollback), "rollback");
  EXPECT_EQ(parse_deploy_state("Succeeded"), std::nullopt);
  EXPECT_EQ(parse_deploy_kind(""), std::nullopt);
}

TEST(DeployEnumsTest, TerminalStates) {
  EXPECT_FALSE(is_terminal(DeployState::requested));
  EXPECT_FALSE(is_terminal(DeployState::awaiting_approval));
  EXPECT_FALSE(is_terminal(DeployState::queued));
  EXPECT_FALSE(is_terminal(DeployState::building));
  EXPECT_FALSE(is_terminal(DeployState::deploying));
  EXPECT_FALSE(is_terminal(DeployState::verifying));
  EXPECT_TRUE(is_terminal(DeployState::succeeded));
  EXPECT_TRUE(is_terminal(DeployState::failed));
  EXPECT_TRUE(is_terminal(DeployState::rolled_back));
  EXPECT_TRUE(is_terminal(DeployState::cancelled));
  EXPECT_TRUE(is_terminal(DeployState::timed_out));
}

TEST_P(DeployStoreTest, CreateStoresEveryFieldAndAFirstEvent) {
  NewDeploy request = new_deploy("hello", "staging", "1.4.2");
  request.previous_version = "1.4.1";
  request.kind = DeployKind::redeploy;
  const DeployRecord created = store.create(request);

  EXPECT_GT(created.id, 0);
  EXPECT_EQ(created.state, DeployState::requested);
  EXPECT_EQ(created.requested_at, clock.now_ms());
  EXPECT_EQ(created.finished_at, std::nullopt);

  auto stored = store.get(created.id);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->id, created.id);
  EXPECT_EQ(stored->service, "hello");
  EXPECT_EQ(stored->environment, "staging");
  EXPECT_EQ(stored->version, "1.4.2");
  EXPECT_EQ(stored->previous_version, "1.4.1");
  EXPECT_EQ(stored->kind, DeployKind::redeploy);
  EXPECT_EQ(stored->requested_by, "alice");
  EXPECT_EQ(stored->state, DeployState::requested);
  EXPECT_EQ(stored->reason, "routine release");
  EXPECT_EQ(stored->detail, created.detail);
  EXPECT_EQ(stored->chat_ref, "terminal");
  EXPECT_EQ(stored->requested_at, created.requested_at);
  EXPECT_EQ(stored->finished_at, std::nullopt);

  const auto events = store.events(created.id);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].deploy_id, created.id);
  EXPECT_EQ(events[0].from, std::nullopt);
  EXPECT_EQ(events[0].to, DeployState::requested);
  EXPECT_EQ(events[0].at, clock.now_ms());
  EXPECT_EQ(events[0].message, created.detail);
  EXPECT_TRUE(Contains(created.detail, "alice"));
}

// Issue 17: the rollout progress is written with the transition, in the same compare-and-set
// (a lost one writes neither), or alone, fenced the same way; a transition without one keeps it.
TEST_P(DeployStoreTest, RolloutProgressIsWrittenWithTheTransitionAndFenced) {
  auto d = store.create(new_deploy("hello", "staging", "v2"));
  EXPECT_EQ(d.rollout, "");
  auto moved = store.transition_if(d.id, DeployState::requested, 0, DeployState::deploying,
                                   "deploying", std::string_view("v1;step=0"));
  ASSERT_TRUE(moved.applied);
  EXPECT_EQ(moved.record.rollout, "v1;step=0");
  // Lost (wrong state, then wrong epoch): nothing is written.
  EXPECT_FALSE(store
                   .transition_if(d.id, DeployState::requested, 0, DeployState::failed, "x",
                                  std::string_view("v1;lost"))
                   .applied);
  EXPECT_FALSE(store.set_rollout_if(d.id, DeployState::deploying, 7, "v1;stale").applied);
  EXPECT_EQ(store.get(d.id)->rollout, "v1;step=0");
  // Alone, fenced on state and epoch; then a transition without progress keeps it.
  auto alone = store.set_rollout_if(d.id, DeployState::deploying, 0, "v1;step=1");
  ASSERT_TRUE(alone.applied);
  EXPECT_EQ(alone.record.rollout, "v1;step=1");
  EXPECT_EQ(store.events(d.id).size(), 2u);  // requested, deploying: no event for progress
  auto done = store.transition_if(d.id, DeployState::deploying, 0, DeployState::succeeded, "done");
  ASSERT_TRUE(done.applied);
  EXPECT_EQ(done.record.rollout, "v1;step=1");
}

TEST_P(DeployStoreTest, GetOfUnknownIdIsEmpty) {
  EXPECT_EQ(store.get(12345), std::nullopt);
}

TEST_P(DeployStoreTest, TransitionsAreRecordedAsEventsInOrder) {
  const DeployRecord created = store.create(new_deploy("hello", "staging", "1.4.2"));
  const EpochMillis start = clock.now_ms();

  clock.advance_ms(kSecond);
  DeployRecord record = store.transition(created.id, DeployState::building, "building image");
  EXPECT_EQ(record.state, DeployState::building);
  EXPECT_EQ(record.detail, "building image");
  EXPECT_EQ(record.finished_at, std::nullopt);

  clock.advance_ms(kSecond);
  record = store.transition(created.id, DeployState::deploying, "rolling out 3 instances");
  EXPECT_EQ(record.finished_at, std::nullopt);

  clock.advance_ms(kSecond);
  record = store.transition(created.id, DeployState::verifying, "probing /healthz");
  clock.advance_ms(kSecond);
  record = store.transition(created.id, DeployState::succeeded, "healthy");
  EXPECT_EQ(record.state, DeployState::succeeded);
  EXPECT_EQ(record.detail, "healthy");
  EXPECT_EQ(record.finished_at, start + 4 * kSecond);
  EXPECT_EQ(record.requested_at, start);
  EXPECT_EQ(store.get(created.id)->finished_at, start + 4 * kSecond);

  const auto events = store.events(created.id);
  ASSERT_EQ(events.size(), 5u);
  const DeployState expected[] = {DeployState::requested, DeployState::building,
                                  DeployState::deploying, DeployState::verifying,
                                  DeployState::succeeded};
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].to, expected[i]) << i;
    EXPECT_EQ(events[i].at, start + static_cast<EpochMillis>(i) * kSecond) << i;
    if (i > 0) {
      EXPECT_EQ(events[i].from, expected[i - 1]) << i;
      EXPECT_GT(events[i].id, events[i - 1].id);
    }
  }
  EXPECT_EQ(events[4].message, "healthy");
}

TEST_P(DeployStoreTest, EveryTerminalStateSetsFinishedAt) {
  for (DeployState terminal :
       {DeployState::succeeded, DeployState::failed, DeployState::rolled_back,
        DeployState::cancelled, DeployState::timed_out}) {
    const DeployRecord created = store.create(new_deploy("hello", "staging", "1.0"));
    clock.advance_ms(kMinute);
    const DeployRecord done = store.transition(created.id, terminal, "over");
    EXPECT_EQ(done.finished_at, clock.now_ms()) << to_string(terminal);
  }
}

TEST_P(DeployStoreTest, TransitionOfMissingDeployThrowsAndWritesNothing) {
  EXPECT_THROW(store.transition(404, DeployState::failed, "nope"), StorageError);
  EXPECT_TRUE(store.events(404).empty());
}

TEST_P(DeployStoreTest, SetChatRef) {
  const DeployRecord created = store.create(new_deploy("hello", "staging", "1.0"));
  store.set_chat_ref(created.id, "C123/1700000000.0001");
  EXPECT_EQ(store.get(created.id)->chat_ref, "C123/1700000000.0001");
  EXPECT_THROW(store.set_chat_ref(created.id + 1, "x"), StorageError);
}

TEST_P(DeployStoreTest, HistoryIsNewestFirstAndFiltered) {
  const auto a = store.create(new_deploy("hello", "staging", "1"));
  store.transition(a.id, DeployState::succeeded, "ok");  // one live deploy per target
  const auto b = store.create(new_deploy("hello", "prod", "1"));
  const auto c = store.create(new_deploy("other", "staging", "9"));
  const auto d = store.create(new_deploy("hello", "staging", "2"));

  auto staging = store.history("hello", "staging", 10);
  ASSERT_EQ(staging.size(), 2u);
  EXPECT_EQ(staging[0].id, d.id);
  EXPECT_EQ(staging[1].id, a.id);

  auto everywhere = store.history("hello", "", 10);
  ASSERT_EQ(everywhere.size(), 3u);
  EXPECT_EQ(everywhere[0].id, d.id);
  EXPECT_EQ(everywhere[1].id, b.id);
  EXPECT_EQ(everywhere[2].id, a.id);

  auto limited = store.history("hello", "", 2);
  ASSERT_EQ(limited.size(), 2u);
  EXPECT_EQ(limited[0].id, d.id);
  EXPECT_EQ(limited[1].id, b.id);

  EXPECT_TRUE(store.history("hello", "", 0).empty());
  EXPECT_TRUE(store.history("nobody", "", 10).empty());
  ASSERT_EQ(store.history("other", "staging", 10).size(), 1u);
  EXPECT_EQ(store.history("other", "staging", 10)[0].id, c.id);
}

TEST_P(DeployStoreTest, LastSucceeded) {
  EXPECT_EQ(store.last_succeeded("hello", "staging"), std::nullopt);
  const auto v1 = deploy_to("hello", "staging", "1.0", DeployState::succeeded);
  const auto v2 = deploy_to("hello", "staging", "2.0", DeployState::succeeded);
  deploy_to("hello", "staging", "3.0", DeployState::failed);
  deploy_to("hello", "prod", "4.0", DeployState::succeeded);
  store.create(new_deploy("hello", "staging", "5.0"));  // still in flight

  auto last = store.last_succeeded("hello", "staging");
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->id, v2.id);
  EXPECT_EQ(last->version, "2.0");

  auto other = store.last_succeeded_other_than("hello", "staging", "2.0");
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->id, v1.id);
  EXPECT_EQ(store.last_succeeded_other_than("hello", "staging", "1.0")->id, v2.id);
  EXPECT_EQ(store.last_succeeded("hello", "dev"), std::nullopt);
}

TEST_P(DeployStoreTest, LastSucceededOtherThanSkipsEveryDeployOfThatVersion) {
  const auto v1 = deploy_to("hello", "staging", "1.0", DeployState::succeeded);
  deploy_to("hello", "staging", "2.0", DeployState::succeeded);
  deploy_to("hello", "staging", "2.0", DeployState::succeeded);  // a redeploy
  EXPECT_EQ(store.last_succeeded_other_than("hello", "staging", "2.0")->id, v1.id);
  EXPECT_EQ(store.last_succeeded_other_than("hello", "prod", "2.0"), std::nullopt);
}

TEST_P(DeployStoreTest, LastSucceededFollowsFinishTime) {
  // A deploy requested earlier but finishing later is what ends up running. One target has one
  // live deploy at a time now (a unique index on both backends), so history from before that
  // index (or copied in) is what holds such a pair: its finish time is written directly here.
  const auto early = store.create(new_deploy("hello", "staging", "1.0"));
  EXPECT_THROW(store.create(new_deploy("hello", "staging", "2.0")), StorageError);
  clock.advance_ms(kSecond);
  store.transition(early.id, DeployState::succeeded, "ok");
  const auto late = store.create(new_deploy("hello", "staging", "2.0"));
  clock.advance_ms(kSecond);
  store.transition(late.id, DeployState::succeeded, "ok");
  EXPECT_EQ(store.last_succeeded("hello", "staging")->id, late.id);
  db->prepare("UPDATE deploys SET finished_at = ?2 WHERE id = ?1")
      .bind(1, early.id)
      .bind(2, clock.now_ms() + kSecond)
      .run();
  EXPECT_EQ(store.last_succeeded("hello", "staging")->id, early.id);
}

TEST_P(DeployStoreTest, ActiveForAndInFlight) {
  EXPECT_EQ(store.active_for("hello", "staging"), std::nullopt);
  EXPECT_TRUE(store.in_flight().empty());

  deploy_to("hello", "staging", "1.0", DeployState::succeeded);
  const auto first = store.create(new_deploy("hello", "staging", "2.0"));
  deploy_to("other", "prod", "6", DeployState::cancelled);
  const auto second = store.create(new_deploy("other", "prod", "7"));
  store.transition(second.id, DeployState::awaiting_approval, "needs bob");

  auto active = store.active_for("hello", "staging");
  ASSERT_TRUE(active.has_value());
  EXPECT_EQ(active->id, first.id);
  EXPECT_EQ(store.active_for("hello", "prod"), std::nullopt);
  EXPECT_EQ(store.active_for("other", "prod")->id, second.id);

  auto flying = store.in_flight();
  ASSERT_EQ(flying.size(), 2u);
  EXPECT_EQ(flying[0].id, first.id);
  EXPECT_EQ(flying[1].id, second.id);

  for (DeployState state : {DeployState::queued, DeployState::building, DeployState::deploying,
                            DeployState::verifying}) {
    store.transition(first.id, state, "");
    EXPECT_EQ(store.active_for("hello", "staging")->state, state);
  }
  store.transition(first.id, DeployState::timed_out, "no answer");
  EXPECT_EQ(store.active_for("hello", "staging"), std::nullopt);
  ASSERT_EQ(store.in_flight().size(), 1u);
  EXPECT_EQ(store.in_flight()[0].id, second.id);
}

// The deploy policy refuses a second deploy of a target while one is live; with several writers
// two could pass that check at once, so a unique index (on both backends) refuses the second
// insert, whoever makes it, with a message naming the live one. Once it finishes, the next is
// accepted.
TEST_P(DeployStoreTest, OneLiveDeployPerTargetOnBothBackends) {
  const auto live = store.create(new_deploy("hello", "staging", "1.0"));
  store.transition(live.id, DeployState::deploying, "rolling out");
  store.create(new_deploy("hello", "prod", "1.0"));  // another environment is another target
  {
    try {
      store.create(new_deploy("hello", "staging", "2.0"));
      FAIL() << "a second live deploy of hello@staging was stored";
    } catch (const StorageError& error) {
      EXPECT_EQ(std::string(error.what()),
                "deploy #" + std::to_string(live.id) +
                    " (hello 1.0 to staging) is still deploying; only one deploy per service and "
                    "environment can be live");
    }
    EXPECT_EQ(store.history("hello", "staging", 10).size(), 1u);  // nothing half-written
  }
  store.transition(live.id, DeployState::succeeded, "ok");
  EXPECT_EQ(store.create(new_deploy("hello", "staging", "2.0")).state, DeployState::requested);
}

TEST_P(DeployStoreTest, SecretsAreRedactedBeforeTheyAreStored) {
  register_secret("s3cr3t-token-value");
  NewDeploy request = new_deploy("hello", "staging", "1.0");
  request.reason = "rotate s3cr3t-token-value please";
  const auto created = store.create(request);
  EXPECT_EQ(created.reason, "rotate [REDACTED] please");
  store.transition(created.id, DeployState::failed, "curl -H 'Bearer s3cr3t-token-value' failed");

  const auto stored = store.get(created.id);
  EXPECT_EQ(stored->reason, "rotate [REDACTED] please");
  EXPECT_EQ(stored->detail, "curl -H 'Bearer [REDACTED]' failed");
  EXPECT_EQ(store.events(created.id).back().message, "curl -H 'Bearer [REDACTED]' failed");

  Statement raw = db->prepare(
      "SELECT count(*) FROM deploys JOIN deploy_events ON deploy_events.deploy_id = deploys.id "
      "WHERE reason || detail || message LIKE '%s3cr3t%'");
  ASSERT_TRUE(raw.step());
  EXPECT_EQ(raw.column_int64(0), 0);
}

TEST_P(DeployStoreTest, DeploysSurviveReopen) {
  const std::string path = fresh_location(GetParam(), dir);
  std::int64_t id = 0;
  {
    auto file_db = open_or_fail(path);
    DeployStore file_store(*file_db, clock);
    id = file_store.create(new_deploy("hello", "staging", "1.0")).id;
    file_store.transition(id, DeployState::succeeded, "ok");
  }
  auto file_db = open_or_fail(path);
  DeployStore file_store(*file_db, clock);
  EXPECT_EQ(file_store.last_succeeded("hello", "staging")->id, id);
  EXPECT_EQ(file_store.events(id).size(), 2u);
}

class LockStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void TearDown() override { clear_registered_secrets(); }

  ManualClock clock;
  shipmate::testing::TempDir dir;
  std::unique_ptr<Database> db = open_or_fail(fresh_location(GetParam(), dir, ":memory:"));
  LockStore locks{*db, clock};
};
SHIPMATE_ON_BOTH_BACKENDS(LockStoreTest);

TEST_P(LockStoreTest, AcquireAndGet) {
  auto lock = locks.acquire("service:hello@staging", "bob", "db migration", std::nullopt);
  ASSERT_TRUE(lock.ok()) << lock.error().message;
  EXPECT_EQ(lock->scope, "service:hello@staging");
  EXPECT_EQ(lock->holder, "bob");
  EXPECT_EQ(lock->reason, "db migration");
  EXPECT_EQ(lock->since, clock.now_ms());
  EXPECT_EQ(lock->expires_at, std::nullopt);

  auto stored = locks.get("service:hello@staging");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->holder, "bob");
  EXPECT_EQ(stored->since, clock.now_ms());
  EXPECT_EQ(locks.get("service:hello@prod"), std::nullopt);
}

TEST_P(LockStoreTest, SecondAcquireNamesTheHolder) {
  ASSERT_TRUE(locks.acquire("service:hello@staging", "bob", "db migration", std::nullopt).ok());
  clock.advance_ms(5 * kMinute);
  auto again = locks.acquire("service:hello@staging", "alice", "hotfix", std::nullopt);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message,
            "hello@staging is already locked by bob since 2023-11-14 22:13:20Z: db migration");
  EXPECT_EQ(locks.get("service:hello@staging")->holder, "bob");
}

TEST_P(LockStoreTest, ConflictMessagesForEachScopeShape) {
  ASSERT_TRUE(locks.acquire("env:prod", "bob", "", std::nullopt).ok());
  ASSERT_TRUE(locks.acquire("service:hello", "carol", "freeze", clock.now_ms() + kMinute).ok());
  ASSERT_TRUE(locks.acquire("custom", "dave", "x", std::nullopt).ok());

  EXPECT_EQ(locks.acquire("env:prod", "alice", "", std::nullopt).error().message,
            "environment prod is already locked by bob since 2023-11-14 22:13:20Z");
  EXPECT_EQ(locks.acquire("service:hello", "alice", "", std::nullopt).error().message,
            "hello is already locked by carol since 2023-11-14 22:13:20Z "
            "(until 2023-11-14 22:14:20Z): freeze");
  EXPECT_EQ(locks.acquire("custom", "alice", "", std::nullopt).error().message,
            "custom is already locked by dave since 2023-11-14 22:13:20Z: x");
}

TEST_P(LockStoreTest, ReleaseFreesTheScope) {
  ASSERT_TRUE(locks.acquire("env:staging", "bob", "", std::nullopt).ok());
  EXPECT_TRUE(locks.release("env:staging"));
  EXPECT_EQ(locks.get("env:staging"), std::nullopt);
  EXPECT_FALSE(locks.release("env:staging"));
  EXPECT_FALSE(locks.release("env:never-locked"));
  EXPECT_TRUE(locks.acquire("env:staging", "alice", "", std::nullopt).ok());
}

TEST_P(LockStoreTest, ExpiredLocksAreIgnoredAndReplaced) {
  const EpochMillis expiry = clock.now_ms() + 10 * kMinute;
  ASSERT_TRUE(locks.acquire("env:staging", "bob", "lunch", expiry).ok());
  ASSERT_TRUE(locks.acquire("env:prod", "bob", "forever", std::nullopt).ok());

  clock.set_ms(expiry - 1);
  EXPECT_TRUE(locks.get("env:staging").has_value());
  EXPECT_FALSE(locks.acquire("env:staging", "alice", "", std::nullopt).ok());
  EXPECT_EQ(locks.list().size(), 2u);

  clock.set_ms(expiry);
  EXPECT_EQ(locks.get("env:staging"), std::nullopt);
  ASSERT_EQ(locks.list().size(), 1u);
  EXPECT_EQ(locks.list()[0].scope, "env:prod");
  EXPECT_FALSE(locks.release("env:staging"));

  // Expired rows stay until take_expired() collects them for announcing.
  ASSERT_TRUE(locks.acquire("env:dev", "carol", "", expiry - kMinute).ok());
  ASSERT_TRUE(locks.acquire("env:dev2", "carol", "", clock.now_ms() + kMinute).ok());
  Statement rows = db->prepare("SELECT count(*) FROM locks");
  ASSERT_TRUE(rows.step());
  EXPECT_EQ(rows.column_int64(0), 3);  // env:prod, env:dev2, and env:dev, born expired
  auto expired = locks.take_expired();
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].scope, "env:dev");
  EXPECT_TRUE(locks.take_expired().empty());

  auto relocked = locks.acquire("env:staging", "alice", "my turn", std::nullopt);
  ASSERT_TRUE(relocked.ok()) << relocked.error().message;
  EXPECT_EQ(locks.get("env:staging")->holder, "alice");
}

TEST_P(LockStoreTest, TakeExpiredReturnsEachExpiredLockOnceWithWhereItWasTaken) {
  ASSERT_TRUE(
      locks.acquire("env:a", "bob", "deploy freeze", clock.now_ms() + kMinute, "slack:C1:1700.1")
          .ok());
  ASSERT_TRUE(locks.acquire("env:b", "bob", "", clock.now_ms() + 2 * kMinute).ok());
  EXPECT_TRUE(locks.take_expired().empty());
  clock.advance_ms(kMinute);
  auto expired = locks.take_expired();
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].scope, "env:a");
  EXPECT_EQ(expired[0].chat_ref, "slack:C1:1700.1");
  EXPECT_EQ(expired[0].reason, "deploy freeze");
  clock.advance_ms(kMinute);
  ASSERT_EQ(locks.take_expired().size(), 1u);
  EXPECT_TRUE(locks.list().empty());
}

TEST_P(LockStoreTest, ListIsOldestFirst) {
  ASSERT_TRUE(locks.acquire("env:b", "bob", "", std::nullopt).ok());
  clock.advance_ms(kSecond);
  ASSERT_TRUE(locks.acquire("env:a", "alice", "", std::nullopt).ok());
  clock.advance_ms(kSecond);
  ASSERT_TRUE(locks.acquire("env:c", "carol", "", clock.now_ms() + kMinute).ok());
  auto all = locks.list();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].scope, "env:b");
  EXPECT_EQ(all[1].scope, "env:a");
  EXPECT_EQ(all[2].scope, "env:c");
  EXPECT_EQ(all[2].expires_at, clock.now_ms() + kMinute);
}

// The lock-expiry job asks these two questions at every wake-up; with thousands of locks a scan
// of the table each time held the loop for milliseconds.
// (SQLite's query plans; PostgreSQL's migration 11 makes the same index, and its planner scans a
// table this small whatever it has.)
TEST(LockStoreExpiryIndex, TheExpiryReadsUseAnIndexNotAScan) {
  std::unique_ptr<Database> db = open_or_fail(":memory:");
  for (const char* sql :
       {"EXPLAIN QUERY PLAN SELECT MIN(expires_at) FROM locks WHERE expires_at IS NOT NULL",
        "EXPLAIN QUERY PLAN SELECT scope, expires_at FROM locks WHERE expires_at IS NOT NULL AND "
        "expires_at <= 5 ORDER BY expires_at, scope LIMIT 10"}) {
    auto plan = db->prepare(sql);
    std::string details;
    while (plan.step())
      details += plan.column_text(3) + "\n";
    EXPECT_NE(details.find("locks_by_expiry"), std::string::npos) << sql << "\n" << details;
    EXPECT_EQ(details.find("SCAN locks\n"), std::string::npos) << sql << "\n" << details;
  }
}

TEST_P(LockStoreTest, ReasonIsRedacted) {
  register_secret("hunter2-password");
  auto lock = locks.acquire("env:prod", "bob", "testing hunter2-password", std::nullopt);
  ASSERT_TRUE(lock.ok());
  EXPECT_EQ(lock->reason, "testing [REDACTED]");
  EXPECT_EQ(locks.get("env:prod")->reason, "testing [REDACTED]");
  auto conflict = locks.acquire("env:prod", "alice", "", std::nullopt);
  EXPECT_FALSE(Contains(conflict.error().message, "hunter2"));
}

}  // namespace
}  // namespace shipmate::storage
