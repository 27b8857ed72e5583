// A replica's lease (bot/replica.h) on both backends: claimed at start-up (a dead holder's lease
// waited out, a live one refused), renewed on the timer with manual time, and lost for good when
// another process took it over while this one was frozen.
#include "bot/replica.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "common/timer.h"
#include "storage/deploy_ownership.h"
#include "storage/lease.h"
#include "tests/support/backends.h"
#include "tests/support/test_support.h"

namespace shipmate::bot {
namespace {

using shipmate::testing::Backend;
namespace asio = boost::asio;

constexpr EpochMillis kLease = 9'000;  // renewed every 3 s, acting stops 1.8 s before the end

class ReplicaLeaseTest : public ::testing::TestWithParam<Backend> {
 protected:
  void settle() {
    io.restart();
    while (io.poll() > 0) {
    }
  }

  shipmate::testing::TempDir dir;
  std::string location = shipmate::testing::fresh_location(GetParam(), dir);
  std::unique_ptr<storage::Database> db = shipmate::testing::open_or_throw(location);
  storage::LeaseStore leases{*db};
  asio::io_context io;
  ManualClock clock;
  ManualTimers timers{io.get_executor(), &clock};
  // claim()'s waits move manual time instead of sleeping.
  std::function<void(std::chrono::milliseconds)> sleep = [this](std::chrono::milliseconds d) {
    clock.advance_ms(d.count());
  };
};
SHIPMATE_ON_BOTH_BACKENDS(ReplicaLeaseTest);

TEST_P(ReplicaLeaseTest, RenewsOnTheTimerAndStaysHeld) {
  ReplicaLease replica(*db, clock, "a", replica_lease_timing(kLease));
  ASSERT_TRUE(replica.claim(sleep).ok());
  EXPECT_EQ(replica.epoch(), 1);
  EXPECT_TRUE(replica.may_act());
  const EpochMillis start = clock.now_ms();
  EXPECT_EQ(leases.get("replica:a")->expires_at, start + kLease);
  int held = 0;
  std::string lost;
  asio::co_spawn(io,
                 replica.keep(
                     timers, [&] { ++held; }, [&](std::string why) { lost = why; }),
                 asio::detached);
  settle();
  for (int i = 1; i <= 5; ++i) {
    timers.advance(std::chrono::milliseconds(3'000));
    settle();
    EXPECT_EQ(held, i);
    EXPECT_EQ(leases.get("replica:a")->expires_at, start + i * 3'000 + kLease);
  }
  EXPECT_TRUE(lost.empty());
  EXPECT_TRUE(replica.may_act());
  // A clean stop frees it at once: a successor need not wait.
  EXPECT_TRUE(replica.release());
  settle();
  EXPECT_EQ(leases.acquire("replica:a", "a", clock.now_ms(), kLease), 2);
}

TEST_P(ReplicaLeaseTest, AReplicaFrozenPastItsLeaseLosesItAndSaysSoOnce) {
  ReplicaLease replica(*db, clock, "a", replica_lease_timing(kLease));
  ASSERT_TRUE(replica.claim(sleep).ok());
  // Frozen (SIGSTOP) for longer than the lease: meanwhile a new process named a takes it.
  clock.advance_ms(kLease + 1);
  ASSERT_EQ(leases.acquire("replica:a", "a", clock.now_ms(), kLease), 2);
  EXPECT_FALSE(replica.may_act());
  int held = 0;
  std::vector<std::string> lost;
  asio::co_spawn(io,
                 replica.keep(
                     timers, [&] { ++held; }, [&](std::string why) { lost.push_back(why); }),
                 asio::detached);
  settle();
  timers.advance(std::chrono::milliseconds(3'000));
  settle();
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0],
            "replica a lost its lease (epoch 1): another replica may have taken its work over");
  EXPECT_EQ(held, 0);
  EXPECT_EQ(timers.sleeping(), 0u);              // it stopped renewing
  EXPECT_EQ(leases.get("replica:a")->epoch, 2);  // and wrote nothing over its successor
  EXPECT_FALSE(replica.release());
}

TEST_P(ReplicaLeaseTest, ClaimWaitsOutADeadHoldersLeaseAndRefusesALiveOne) {
  // A process named a was killed 2 s into its lease: the next a waits for the rest, then takes it
  // at the next epoch.
  ASSERT_EQ(leases.acquire("replica:a", "a", clock.now_ms(), kLease), 1);
  clock.advance_ms(2'000);
  ReplicaLease restarted(*db, clock, "a", replica_lease_timing(kLease));
  const EpochMillis asked = clock.now_ms();
  ASSERT_TRUE(restarted.claim(sleep).ok());
  EXPECT_EQ(restarted.epoch(), 2);
  EXPECT_GE(clock.now_ms(), asked + kLease - 2'000);

  // A live process named b keeps renewing: a second b is refused, naming the fix.
  ASSERT_EQ(leases.acquire("replica:b", "b", clock.now_ms(), kLease), 1);
  ReplicaLease second(*db, clock, "b", replica_lease_timing(kLease));
  auto renewing = [&](std::chrono::milliseconds d) {
    clock.advance_ms(d.count());
    leases.renew("replica:b", "b", 1, clock.now_ms(), kLease);
  };
  auto refused = second.claim(renewing);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message,
            "another Shipmate is using it as replica b (it keeps renewing its lease); give each "
            "replica its own name (shipmate: replica:, or SHIPMATE_REPLICA)");
}

TEST(ReplicaNameTest, EnvironmentThenConfigThenDefaultOnPostgresqlAndNoneOnSqlite) {
  EXPECT_EQ(*replica_name("", true, nullptr), "default");
  EXPECT_EQ(*replica_name("a", true, nullptr), "a");
  EXPECT_EQ(*replica_name("a", true, "pod-7"), "pod-7");
  EXPECT_EQ(*replica_name("a", true, ""), "a");
  EXPECT_EQ(*replica_name("", false, nullptr), "");
  EXPECT_FALSE(replica_name("", false, "pod-7").ok());
  EXPECT_EQ(replica_name("", true, "a b; rm -rf /").error().message,
            "replica name must be 1-64 letters, digits, '.', '-' or '_'");
  EXPECT_EQ(replica_lease_timing(9'000).renew_every_ms, 3'000);
  EXPECT_EQ(replica_lease_timing(9'000).safety_ms, 1'800);
  EXPECT_EQ(replica_takeover_grace(10'000), 2'000);
}

}  // namespace
}  // namespace shipmate::bot
