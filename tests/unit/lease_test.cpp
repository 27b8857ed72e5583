// Leases (storage/lease.h): the store on both backends, and the keeper's decisions step by step
// with manual time.
#include "storage/lease.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/backends.h"
#include "tests/support/test_support.h"

namespace shipmate::storage {
namespace {

using shipmate::testing::Backend;
using shipmate::testing::fresh_location;
using Step = LeaseKeeper::Step;

constexpr EpochMillis kStart = 1'700'000'000'000;
constexpr EpochMillis kDuration = 10'000;

class LeaseStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  shipmate::testing::TempDir dir;
  std::string location = fresh_location(GetParam(), dir);
  std::unique_ptr<Database> db = shipmate::testing::open_or_throw(location);
  LeaseStore leases{*db};
};
SHIPMATE_ON_BOTH_BACKENDS(LeaseStoreTest);

TEST_P(LeaseStoreTest, OneHolderAtATimeAndTheEpochGrowsAtEachTakeover) {
  EXPECT_EQ(leases.get("work"), std::nullopt);
  EXPECT_EQ(leases.acquire("work", "replica-a", kStart, kDuration), 1);
  EXPECT_EQ(leases.acquire("work", "replica-b", kStart + 1, kDuration), std::nullopt);
  // Not even its holder takes a live lease again; it renews it.
  EXPECT_EQ(leases.acquire("work", "replica-a", kStart + 1, kDuration), std::nullopt);
  EXPECT_TRUE(leases.renew("work", "replica-a", 1, kStart + 5'000, kDuration));
  EXPECT_EQ(leases.get("work")->expires_at, kStart + 15'000);
  // Still live at 14.999 s, expired from 15 s on.
  EXPECT_EQ(leases.acquire("work", "replica-b", kStart + 14'999, kDuration), std::nullopt);
  EXPECT_EQ(leases.acquire("work", "replica-b", kStart + 15'000, kDuration), 2);
  const auto now_held = leases.get("work");
  ASSERT_TRUE(now_held.has_value());
  EXPECT_EQ(now_held->holder, "replica-b");
  EXPECT_EQ(now_held->epoch, 2);
  EXPECT_EQ(now_held->expires_at, kStart + 25'000);
  // Leases are independent of each other.
  EXPECT_EQ(leases.acquire("other", "replica-a", kStart, kDuration), 1);
}

TEST_P(LeaseStoreTest, AFormerHolderIsFencedOut) {
  ASSERT_EQ(leases.acquire("work", "replica-a", kStart, kDuration), 1);
  ASSERT_EQ(leases.acquire("work", "replica-b", kStart + kDuration, kDuration), 2);
  // replica-a wakes up (it was frozen past its lease) and tries to carry on at epoch 1.
  EXPECT_FALSE(leases.renew("work", "replica-a", 1, kStart + kDuration + 1, kDuration));
  EXPECT_FALSE(leases.release("work", "replica-a", 1));
  EXPECT_EQ(leases.get("work")->holder, "replica-b");
  EXPECT_EQ(leases.get("work")->expires_at, kStart + 2 * kDuration);
  // Even the same name at a stale epoch is refused: the epoch is the fence, not the name.
  ASSERT_EQ(leases.acquire("work", "replica-a", kStart + 3 * kDuration, kDuration), 3);
  EXPECT_FALSE(leases.renew("work", "replica-b", 2, kStart + 3 * kDuration, kDuration));
  EXPECT_TRUE(leases.renew("work", "replica-a", 3, kStart + 3 * kDuration, kDuration));
}

TEST_P(LeaseStoreTest, ReleaseHandsOverAtOnce) {
  ASSERT_EQ(leases.acquire("work", "replica-a", kStart, kDuration), 1);
  EXPECT_TRUE(leases.release("work", "replica-a", 1));
  EXPECT_EQ(leases.acquire("work", "replica-b", kStart + 1, kDuration), 2);
  EXPECT_FALSE(leases.renew("work", "replica-a", 1, kStart + 2, kDuration));
}

TEST(LeaseStorePostgresTest, ConcurrentAcquiresGrantOne) {
  // Several replicas, each on its own connection, ask for a free lease at the same instant.
  const std::string uri = shipmate::testing::postgres_server().fresh_database();
  constexpr int kReplicas = 6;
  std::vector<std::unique_ptr<Database>> connections;
  for (int i = 0; i < kReplicas; ++i)
    connections.push_back(shipmate::testing::open_or_throw(uri));
  std::vector<std::optional<std::int64_t>> outcomes(kReplicas);
  std::vector<std::thread> replicas;
  for (int i = 0; i < kReplicas; ++i) {
    replicas.emplace_back([&, i] {
      LeaseStore store(*connections[i]);
      outcomes[i] = store.acquire("work", "replica-" + std::to_string(i), kStart, kDuration);
    });
  }
  for (auto& replica : replicas)
    replica.join();
  int granted = 0;
  for (const auto& outcome : outcomes) {
    if (outcome) {
      ++granted;
      EXPECT_EQ(*outcome, 1);
    }
  }
  EXPECT_EQ(granted, 1);
}

// ---------------------------------------------------------------------------------------------
// LeaseKeeper, with timing {duration 10 s, renew every 3 s, safety 2 s}.

LeaseTiming timing() {
  return LeaseTiming{10'000, 3'000, 2'000};
}

TEST(LeaseKeeperTest, AcquiresAtOnceThenRenewsOnSchedule) {
  LeaseKeeper keeper(timing());
  EXPECT_EQ(keeper.next(kStart), Step::acquire);
  EXPECT_FALSE(keeper.may_act(kStart));
  keeper.granted(kStart, 1);
  EXPECT_EQ(keeper.epoch(), 1);
  EXPECT_TRUE(keeper.may_act(kStart));
  EXPECT_EQ(keeper.valid_until(), kStart + 10'000);
  EXPECT_EQ(keeper.next_at(), kStart + 3'000);
  EXPECT_EQ(keeper.next(kStart + 2'999), Step::none);
  EXPECT_EQ(keeper.next(kStart + 3'000), Step::renew);
  keeper.granted(kStart + 3'000, 1);
  EXPECT_EQ(keeper.valid_until(), kStart + 13'000);
  EXPECT_TRUE(keeper.may_act(kStart + 10'500));  // past the first grant, within the renewal
  EXPECT_FALSE(keeper.lost(kStart + 12'999));
}

TEST(LeaseKeeperTest, AStandbyRetriesUntilTheLeaseIsFree) {
  LeaseKeeper keeper(timing());
  keeper.refused(kStart);  // someone else holds it
  EXPECT_FALSE(keeper.may_act(kStart));
  EXPECT_FALSE(keeper.lost(kStart));  // never held, so nothing lost
  EXPECT_EQ(keeper.next(kStart + 2'999), Step::none);
  EXPECT_EQ(keeper.next(kStart + 3'000), Step::acquire);
  keeper.failed(kStart + 3'000);  // the database did not answer
  EXPECT_EQ(keeper.next(kStart + 6'000), Step::acquire);
  keeper.granted(kStart + 6'000, 4);
  EXPECT_EQ(keeper.epoch(), 4);
  EXPECT_TRUE(keeper.may_act(kStart + 6'001));
}

TEST(LeaseKeeperTest, StopsActingBeforeTheLeaseRunsOutWhenRenewalsFail) {
  LeaseKeeper keeper(timing());
  keeper.granted(kStart, 1);
  keeper.failed(kStart + 3'000);
  keeper.failed(kStart + 6'000);
  EXPECT_TRUE(keeper.may_act(kStart + 7'999));
  // The safety margin: acting stops 2 s before the end, by this replica's clock.
  EXPECT_FALSE(keeper.may_act(kStart + 8'000));
  EXPECT_FALSE(keeper.lost(kStart + 8'000));
  EXPECT_EQ(keeper.next(kStart + 9'000), Step::renew);  // still worth asking
  keeper.failed(kStart + 9'000);
  EXPECT_TRUE(keeper.lost(kStart + 10'000));
  EXPECT_EQ(keeper.next(kStart + 12'000), Step::none);  // lapsed: nothing more is asked for
  EXPECT_FALSE(keeper.may_act(kStart + 12'000));
}

TEST(LeaseKeeperTest, ARenewalSentBeforeTheEndButAnsweredLateStillCounts) {
  // The database extended the lease from the moment the request was sent, before anyone could
  // take it over; the answer's lateness does not matter, and the lease counts from sending.
  LeaseKeeper keeper(timing());
  keeper.granted(kStart, 1);
  keeper.granted(kStart + 9'000, 1);  // sent at 9 s, answered whenever
  EXPECT_EQ(keeper.valid_until(), kStart + 19'000);
  EXPECT_TRUE(keeper.may_act(kStart + 16'999));
  EXPECT_FALSE(keeper.may_act(kStart + 17'000));
}

TEST(LeaseKeeperTest, AGrantForARequestSentAfterTheLapseDoesNotReviveIt) {
  LeaseKeeper keeper(timing());
  keeper.granted(kStart, 1);
  keeper.granted(kStart + 10'000, 1);  // sent when the lease had already lapsed
  EXPECT_TRUE(keeper.lost(kStart + 10'000));
  EXPECT_FALSE(keeper.may_act(kStart + 10'001));
}

TEST(LeaseKeeperTest, ATakeoverIsLostForGood) {
  LeaseKeeper keeper(timing());
  keeper.granted(kStart, 1);
  keeper.refused(kStart + 3'000);  // the renewal found another holder or epoch
  EXPECT_TRUE(keeper.lost(kStart + 3'000));
  EXPECT_FALSE(keeper.may_act(kStart + 3'000));
  EXPECT_EQ(keeper.next(kStart + 6'000), Step::none);
  EXPECT_EQ(keeper.next_at(), std::nullopt);
  keeper.granted(kStart + 6'000, 1);  // a stray late answer changes nothing
  EXPECT_FALSE(keeper.may_act(kStart + 6'000));
  EXPECT_EQ(keeper.epoch(), 1);
}

}  // namespace
}  // namespace shipmate::storage
