// Claims on timed-job occurrences (storage/timed_claims.h) on both backends, through two handles
// on one database as two replicas would hold them: one claimant per occurrence at a time (a done
// one may be claimed again: its job's row decides), a dead claimant's claim taken over only when
// its lease ended, a restart of the same holder releasing its own unfinished claims (and nobody
// else's), old done claims pruned. Locks' expiry reads (LockStore::next_expiry, expired_by,
// take_expired(scope, at)) too.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/clock.h"
#include "storage/lock_store.h"
#include "storage/timed_claims.h"
#include "tests/support/backends.h"
#include "tests/support/test_support.h"

namespace shipmate::storage {
namespace {

using shipmate::testing::Backend;
using shipmate::testing::fresh_location;
using shipmate::testing::open_or_throw;

constexpr EpochMillis kLease = 600'000;

class TimedClaimsTest : public ::testing::TestWithParam<Backend> {
 protected:
  ManualClock clock{1'000'000};
  shipmate::testing::TempDir dir;
  std::string location = fresh_location(GetParam(), dir);
  std::unique_ptr<Database> first = open_or_throw(location);
  std::unique_ptr<Database> second = open_or_throw(location);
  TimedClaimStore a{*first, clock, "a"};
  TimedClaimStore b{*second, clock, "b"};
};
SHIPMATE_ON_BOTH_BACKENDS(TimedClaimsTest);

TEST_P(TimedClaimsTest, OneClaimantPerOccurrenceAcrossTwoHandles) {
  EXPECT_TRUE(a.claim("lock-expiry", "env:prod", 5000, kLease));
  EXPECT_FALSE(b.claim("lock-expiry", "env:prod", 5000, kLease));
  EXPECT_FALSE(a.claim("lock-expiry", "env:prod", 5000, kLease));  // not twice by the same either
  // Another instant, key or job is another occurrence.
  EXPECT_TRUE(b.claim("lock-expiry", "env:prod", 6000, kLease));
  EXPECT_TRUE(b.claim("lock-expiry", "env:staging", 5000, kLease));
  EXPECT_TRUE(b.claim("incident-reminder", "env:prod", 5000, kLease));
  EXPECT_EQ(b.state("lock-expiry", "env:prod", 5000), "claimed");
  a.finish("lock-expiry", "env:prod", 5000);
  EXPECT_EQ(b.state("lock-expiry", "env:prod", 5000), "done");
  EXPECT_EQ(b.state("lock-expiry", "env:prod", 7000), std::nullopt);
}

TEST_P(TimedClaimsTest, ADoneOccurrenceMayBeClaimedAgainOnceAtATimeItsRowDecides) {
  ASSERT_TRUE(a.claim("room-archive", "INC-3", 5000, kLease));
  a.finish("room-archive", "INC-3", 5000);
  // Finished: the claim no longer holds anyone off (the job's row says whether anything is
  // left to do), but again only one claimant at a time.
  EXPECT_TRUE(b.claim("room-archive", "INC-3", 5000, kLease));
  EXPECT_FALSE(a.claim("room-archive", "INC-3", 5000, kLease));
  EXPECT_EQ(a.state("room-archive", "INC-3", 5000), "claimed");
  // Only the holder's finish counts: b cannot mark a's claim done.
  ASSERT_TRUE(a.claim("room-archive", "INC-4", 5000, kLease));
  b.finish("room-archive", "INC-4", 5000);
  EXPECT_EQ(a.state("room-archive", "INC-4", 5000), "claimed");
}

TEST_P(TimedClaimsTest, ADeadClaimantsClaimIsTakenOverOnlyWhenItsLeaseEnded) {
  ASSERT_TRUE(a.claim("approval-timeout", "#12", 5000, kLease));
  clock.advance_ms(kLease - 1);
  EXPECT_FALSE(b.claim("approval-timeout", "#12", 5000, kLease));
  clock.advance_ms(1);
  EXPECT_TRUE(b.claim("approval-timeout", "#12", 5000, kLease));
  // Now b's, with a new lease: a (back from a pause) cannot take it, nor finish it.
  EXPECT_FALSE(a.claim("approval-timeout", "#12", 5000, kLease));
  a.finish("approval-timeout", "#12", 5000);
  EXPECT_EQ(b.state("approval-timeout", "#12", 5000), "claimed");
  b.finish("approval-timeout", "#12", 5000);
  EXPECT_EQ(a.state("approval-timeout", "#12", 5000), "done");
}

TEST_P(TimedClaimsTest, ARestartReleasesOnlyItsOwnUnfinishedClaims) {
  ASSERT_TRUE(a.claim("incident-reminder", "INC-1", 5000, kLease));
  ASSERT_TRUE(a.claim("incident-reminder", "INC-2", 5000, kLease));
  a.finish("incident-reminder", "INC-2", 5000);
  ASSERT_TRUE(b.claim("incident-reminder", "INC-3", 5000, kLease));
  // "a" restarts (same replica name): its cut-off claim goes, its done one and b's stay.
  TimedClaimStore restarted(*first, clock, "a");
  EXPECT_EQ(restarted.release_mine(), 1);
  EXPECT_EQ(restarted.state("incident-reminder", "INC-1", 5000), std::nullopt);
  EXPECT_TRUE(restarted.claim("incident-reminder", "INC-1", 5000, kLease));
  EXPECT_EQ(restarted.state("incident-reminder", "INC-2", 5000), "done");
  EXPECT_FALSE(restarted.claim("incident-reminder", "INC-3", 5000, kLease));
}

TEST_P(TimedClaimsTest, DoneClaimsOlderThanAnInstantArePruned) {
  ASSERT_TRUE(a.claim("lock-expiry", "env:prod", 5000, kLease));
  a.finish("lock-expiry", "env:prod", 5000);
  ASSERT_TRUE(a.claim("lock-expiry", "env:qa", 5000, kLease));
  clock.advance_ms(1000);
  ASSERT_TRUE(a.claim("lock-expiry", "env:staging", 5000, kLease));
  a.finish("lock-expiry", "env:staging", 5000);
  EXPECT_EQ(b.prune_done_before(clock.now_ms()), 1);
  EXPECT_EQ(a.state("lock-expiry", "env:prod", 5000), std::nullopt);
  EXPECT_EQ(a.state("lock-expiry", "env:qa", 5000), "claimed");  // unfinished: kept
  EXPECT_EQ(a.state("lock-expiry", "env:staging", 5000), "done");
}

TEST_P(TimedClaimsTest, LockExpiryReadsTheEarliestExpiryAndTakesOnlyAnUnmovedExpiredLock) {
  LockStore locks_a(*first, clock);
  LockStore locks_b(*second, clock);
  EXPECT_EQ(locks_a.next_expiry(), std::nullopt);
  ASSERT_TRUE(locks_a.acquire("env:prod", "alice", "", clock.now_ms() + 5000));
  ASSERT_TRUE(locks_a.acquire("env:qa", "bob", "", clock.now_ms() + 2000));
  ASSERT_TRUE(locks_a.acquire("env:staging", "carol", "", std::nullopt));
  EXPECT_EQ(locks_b.next_expiry(), clock.now_ms() + 2000);
  EXPECT_TRUE(locks_b.expired_by(clock.now_ms(), 10).empty());
  clock.advance_ms(5000);
  const auto due = locks_b.expired_by(clock.now_ms(), 10);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].first, "env:qa");
  EXPECT_EQ(due[1].first, "env:prod");
  // A different expiry than the one due (the lock was re-taken since): nothing taken.
  EXPECT_FALSE(locks_a.take_expired("env:prod", due[1].second + 1));
  const auto taken = locks_a.take_expired("env:prod", due[1].second);
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->holder, "alice");
  EXPECT_FALSE(locks_b.take_expired("env:prod", due[1].second));  // once
  EXPECT_EQ(locks_b.next_expiry(), due[0].second);
}

}  // namespace
}  // namespace shipmate::storage
