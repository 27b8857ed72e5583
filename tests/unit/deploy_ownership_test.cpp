// Deploy ownership and takeover (storage/deploy_ownership.h): the decision step by step, and the
// two compare-and-set updates on both backends, with survivors racing on threads.
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "storage/database.h"
#include "storage/deploy_ownership.h"
#include "storage/deploy_store.h"
#include "storage/lease.h"
#include "tests/support/backends.h"
#include "tests/support/test_support.h"

namespace shipmate::storage {
namespace {

using shipmate::testing::Backend;
using shipmate::testing::fresh_location;
using shipmate::testing::open_or_throw;

constexpr EpochMillis kNow = 1'000'000;
constexpr EpochMillis kGrace = 2'000;

LeaseRecord lease(const std::string& holder, EpochMillis expires_at) {
  return LeaseRecord{replica_lease_name(holder), holder, 3, expires_at};
}

TEST(TakeoverDecisionTest, OwnDeploysAreOwn) {
  EXPECT_EQ(takeover_decision("a", "a", std::nullopt, kNow, kGrace).verdict, TakeoverVerdict::own);
  EXPECT_EQ(takeover_decision("", "", std::nullopt, kNow, kGrace).verdict, TakeoverVerdict::own);
}

TEST(TakeoverDecisionTest, ALiveOwnersDeployIsLeftAlone) {
  const auto decision = takeover_decision("a", "b", lease("a", kNow + 5'000), kNow, kGrace);
  EXPECT_EQ(decision.verdict, TakeoverVerdict::owner_live);
  EXPECT_NE(decision.why.find("replica a is alive"), std::string::npos) << decision.why;
}

TEST(TakeoverDecisionTest, AnExpiredLeaseCountsOnlyAfterTheGrace) {
  // Ended 1 s ago: within the grace, still treated as alive (its clock may be behind ours).
  EXPECT_EQ(takeover_decision("a", "b", lease("a", kNow - 1'000), kNow, kGrace).verdict,
            TakeoverVerdict::owner_live);
  // Exactly at the end of the grace, and after it: orphaned.
  EXPECT_EQ(takeover_decision("a", "b", lease("a", kNow - kGrace), kNow, kGrace).verdict,
            TakeoverVerdict::orphaned);
  const auto decision = takeover_decision("a", "b", lease("a", kNow - 60'000), kNow, kGrace);
  EXPECT_EQ(decision.verdict, TakeoverVerdict::orphaned);
  EXPECT_NE(decision.why.find("was not renewed"), std::string::npos) << decision.why;
}

TEST(TakeoverDecisionTest, NoLeaseOrAnotherHoldersLeaseMeansOrphaned) {
  EXPECT_EQ(takeover_decision("a", "b", std::nullopt, kNow, kGrace).verdict,
            TakeoverVerdict::orphaned);
  // Deploys from before replicas had names: nobody renews a lease for them.
  EXPECT_EQ(takeover_decision("", "b", std::nullopt, kNow, kGrace).verdict,
            TakeoverVerdict::orphaned);
  LeaseRecord other = lease("c", kNow + 5'000);
  other.name = replica_lease_name("a");
  EXPECT_EQ(takeover_decision("a", "b", other, kNow, kGrace).verdict, TakeoverVerdict::orphaned);
}

// A rolling restart (commands/handover.h): a parked deploy has no owner, and a released lease
// (expires_at 0) ends its holder's claim at once; both say so for the takeover announcement.
TEST(TakeoverDecisionTest, AParkedDeployAndAReleasedLeaseAreOrphansAtOnce) {
  const auto parked = takeover_decision("", "b", std::nullopt, kNow, kGrace);
  EXPECT_EQ(parked.verdict, TakeoverVerdict::orphaned);
  EXPECT_NE(parked.why.find("handed it over"), std::string::npos) << parked.why;
  const auto released = takeover_decision("a", "b", lease("a", 0), kNow, kGrace);
  EXPECT_EQ(released.verdict, TakeoverVerdict::orphaned);
  EXPECT_NE(released.why.find("replica a stopped and released its lease"), std::string::npos)
      << released.why;
}

class DeployOwnershipTest : public ::testing::TestWithParam<Backend> {
 protected:
  DeployRecord live_deploy(const std::string& service) {
    NewDeploy request;
    request.service = service;
    request.environment = "prod";
    request.version = "1.0";
    request.requested_by = "alice";
    const DeployRecord created = deploys.create(request);
    return deploys.transition(created.id, DeployState::deploying, "rolling out");
  }

  ManualClock clock;
  shipmate::testing::TempDir dir;
  std::string location = fresh_location(GetParam(), dir, "shipmate.db");
  std::unique_ptr<Database> db = open_or_throw(location);
  DeployStore deploys{*db, clock};
};
SHIPMATE_ON_BOTH_BACKENDS(DeployOwnershipTest);

TEST_P(DeployOwnershipTest, ClaimRecordsTheOwnerOnceAndNeverStealsOne) {
  const DeployRecord deploy = live_deploy("hello");
  EXPECT_TRUE(claim_deploy(*db, deploy.id, "a", 0));
  EXPECT_TRUE(claim_deploy(*db, deploy.id, "a", 0));  // again by the owner: harmless
  EXPECT_FALSE(claim_deploy(*db, deploy.id, "b", 0));
  EXPECT_FALSE(claim_deploy(*db, deploy.id, "a", 1));  // a wrong epoch
  EXPECT_EQ(deploys.get(deploy.id)->owner, "a");
  EXPECT_EQ(deploys.get(deploy.id)->epoch, 0);
}

TEST_P(DeployOwnershipTest, TakeoverBumpsTheEpochAndFencesTheFormerOwner) {
  const DeployRecord deploy = live_deploy("hello");
  ASSERT_TRUE(claim_deploy(*db, deploy.id, "a", 0));
  const auto epoch = take_over_deploy(*db, deploy.id, "a", 0, "b");
  ASSERT_TRUE(epoch);
  EXPECT_EQ(*epoch, 1);
  EXPECT_EQ(deploys.get(deploy.id)->owner, "b");
  // The former owner's late write is refused; the new owner's goes through.
  EXPECT_FALSE(
      deploys.transition_if(deploy.id, DeployState::deploying, 0, DeployState::succeeded, "late")
          .applied);
  EXPECT_FALSE(take_over_deploy(*db, deploy.id, "a", 0, "c"));  // stale: a no longer owns it
  EXPECT_TRUE(deploys
                  .transition_if(deploy.id, DeployState::deploying, *epoch, DeployState::failed,
                                 "taken over from a")
                  .applied);
  // A finished deploy is not taken over.
  EXPECT_FALSE(take_over_deploy(*db, deploy.id, "b", *epoch, "c"));
}

// Parking (hand_over_running_deploys): the owner moves its deploy to no owner at the next epoch;
// its own late write is refused, and one survivor takes it over from there.
TEST_P(DeployOwnershipTest, AParkedDeployFencesItsFormerOwnerAndIsTakenOverOnce) {
  const DeployRecord deploy = live_deploy("hello");
  ASSERT_TRUE(claim_deploy(*db, deploy.id, "a", 0));
  const auto parked = take_over_deploy(*db, deploy.id, "a", 0, "");
  ASSERT_TRUE(parked);
  EXPECT_EQ(deploys.get(deploy.id)->owner, "");
  EXPECT_FALSE(
      deploys.transition_if(deploy.id, DeployState::deploying, 0, DeployState::failed, "late")
          .applied);
  const auto taken = take_over_deploy(*db, deploy.id, "", *parked, "b");
  ASSERT_TRUE(taken);
  EXPECT_EQ(*taken, 2);
  EXPECT_FALSE(take_over_deploy(*db, deploy.id, "", *parked, "c"));
  EXPECT_EQ(deploys.get(deploy.id)->owner, "b");
}

TEST_P(DeployOwnershipTest, RacingSurvivorsTakeADeployOverOnce) {
  constexpr int kSurvivors = 3;
  constexpr int kRounds = 10;
  std::vector<std::unique_ptr<Database>> connections;
  for (int i = 0; i < kSurvivors; ++i)
    connections.push_back(open_or_throw(location));
  for (int round = 0; round < kRounds; ++round) {
    const DeployRecord deploy = live_deploy("svc" + std::to_string(round));
    ASSERT_TRUE(claim_deploy(*db, deploy.id, "dead", 0));
    std::atomic<int> won{0};
    std::latch start(kSurvivors);
    std::vector<std::thread> survivors;
    for (int i = 0; i < kSurvivors; ++i) {
      survivors.emplace_back([&, i] {
        start.arrive_and_wait();
        if (take_over_deploy(*connections[static_cast<std::size_t>(i)], deploy.id, "dead", 0,
                             "survivor" + std::to_string(i)))
          won.fetch_add(1);
      });
    }
    for (auto& survivor : survivors)
      survivor.join();
    EXPECT_EQ(won.load(), 1) << "round " << round;
    const DeployRecord after = *deploys.get(deploy.id);
    EXPECT_EQ(after.epoch, 1);
    EXPECT_EQ(after.owner.rfind("survivor", 0), 0u) << after.owner;
  }
}

// The decision reads the owner's lease row as replicas write it (lease.h).
TEST_P(DeployOwnershipTest, DecisionFromTheLeaseTable) {
  LeaseStore leases(*db);
  ASSERT_TRUE(leases.acquire(replica_lease_name("a"), "a", kNow, 10'000));
  EXPECT_EQ(takeover_decision("a", "b", leases.get(replica_lease_name("a")), kNow + 5'000, kGrace)
                .verdict,
            TakeoverVerdict::owner_live);
  EXPECT_EQ(takeover_decision("a", "b", leases.get(replica_lease_name("a")), kNow + 12'000, kGrace)
                .verdict,
            TakeoverVerdict::orphaned);
  // Released at a clean shutdown: orphaned at once (after the grace).
  ASSERT_TRUE(leases.release(replica_lease_name("a"), "a", 1));
  EXPECT_EQ(takeover_decision("a", "b", leases.get(replica_lease_name("a")), kNow, kGrace).verdict,
            TakeoverVerdict::orphaned);
}

}  // namespace
}  // namespace shipmate::storage
