#include "commands/dora.h"

#include <gtest/gtest.h>

namespace shipmate::commands {
namespace {

using storage::DeployKind;
using storage::DeployRecord;
using storage::DeployState;

constexpr EpochMillis kMinute = 60'000;
constexpr EpochMillis kHour = 60 * kMinute;
constexpr EpochMillis kDay = 24 * kHour;
constexpr EpochMillis kNow = 1'700'000'000'000;

// A synthetic history, oldest first; ids follow insertion order as in the store.
class History {
 public:
  DeployRecord& add(DeployKind kind, const std::string& version, DeployState state,
                    EpochMillis requested_at, EpochMillis took, const std::string& previous = "",
                    std::optional<EpochMillis> committed = {},
                    const std::string& env = "production") {
    DeployRecord record;
    record.id = static_cast<std::int64_t>(deploys.size()) + 1;
    record.service = "api";
    record.environment = env;
    record.version = version;
    record.previous_version = previous;
    record.kind = kind;
    record.state = state;
    record.requested_at = requested_at;
    record.finished_at = requested_at + took;
    record.committed_at = committed;
    deploys.push_back(record);
    return deploys.back();
  }
  std::vector<DeployRecord> deploys;
};

TEST(Dora, EmptyHistory) {
  auto report = compute_dora({}, "production", kNow, 30);
  EXPECT_EQ(report.deployments, 0);
  EXPECT_EQ(report.per_day, 0);
  EXPECT_FALSE(report.change_failure_rate.has_value());
  EXPECT_FALSE(report.lead_time_median.has_value());
  EXPECT_FALSE(report.restore_median.has_value());
}

TEST(Dora, FrequencyAndLeadTimeCountOnlySuccessfulChangesInTheWindow) {
  History h;
  h.add(DeployKind::deploy, "v1", DeployState::succeeded, kNow - 40 * kDay, kMinute, "",
        kNow - 41 * kDay);  // outside the window
  h.add(DeployKind::deploy, "v2", DeployState::succeeded, kNow - 20 * kDay, 2 * kMinute, "v1",
        kNow - 20 * kDay - 4 * kHour);
  h.add(DeployKind::deploy, "v3", DeployState::succeeded, kNow - 10 * kDay, 2 * kMinute, "v2",
        kNow - 10 * kDay - 2 * kHour);
  h.add(DeployKind::deploy, "v4", DeployState::succeeded, kNow - 5 * kDay, 2 * kMinute, "v3");
  h.add(DeployKind::deploy, "v5", DeployState::cancelled, kNow - 4 * kDay, kMinute, "v4");
  h.add(DeployKind::deploy, "v5", DeployState::succeeded, kNow - 3 * kDay, 2 * kMinute, "v4", {},
        "staging");  // another environment
  auto report = compute_dora(h.deploys, "production", kNow, 30);
  EXPECT_EQ(report.deployments, 3);
  EXPECT_DOUBLE_EQ(report.per_day, 0.1);
  EXPECT_EQ(report.changes, 3);
  EXPECT_EQ(report.failed_changes, 0);
  EXPECT_DOUBLE_EQ(*report.change_failure_rate, 0.0);
  ASSERT_EQ(report.lead_time_samples, 2);
  // Lead times 4h02m and 2h02m: the median of two is their mean.
  EXPECT_EQ(*report.lead_time_median, 3 * kHour + 2 * kMinute);
}

TEST(Dora, FailuresRollbacksAndTimeToRestore) {
  History h;
  h.add(DeployKind::deploy, "v1", DeployState::succeeded, kNow - 9 * kDay, kMinute);
  // v2 went live, then was rolled back 25 minutes after it finished: a failed change and a
  // 25-minute restore.
  auto& v2 =
      h.add(DeployKind::deploy, "v2", DeployState::succeeded, kNow - 8 * kDay, kMinute, "v1");
  const EpochMillis v2_live = *v2.finished_at;
  h.add(DeployKind::rollback, "v1", DeployState::succeeded, v2_live + 24 * kMinute, kMinute, "v2");
  // v3 failed its health check: a failed change, but nobody was served it, so no restore.
  h.add(DeployKind::deploy, "v3", DeployState::failed, kNow - 7 * kDay, kMinute, "v1");
  // v4 breached its canary and rolled itself back within 6 minutes.
  h.add(DeployKind::deploy, "v4", DeployState::rolled_back, kNow - 6 * kDay, 6 * kMinute, "v1");
  // v5 timed out.
  h.add(DeployKind::deploy, "v5", DeployState::timed_out, kNow - 5 * kDay, 30 * kMinute, "v1");
  // v6 succeeded and was later replaced by v7, not rolled back: not a failure.
  h.add(DeployKind::deploy, "v6", DeployState::succeeded, kNow - 4 * kDay, kMinute, "v1");
  h.add(DeployKind::deploy, "v7", DeployState::succeeded, kNow - 3 * kDay, kMinute, "v6");
  auto report = compute_dora(h.deploys, "production", kNow, 30);
  EXPECT_EQ(report.changes, 7);
  EXPECT_EQ(report.deployments, 4);
  EXPECT_EQ(report.failed_changes, 4);  // v2 (rolled back later), v3, v4, v5
  EXPECT_NEAR(*report.change_failure_rate, 4.0 / 7.0, 1e-9);
  ASSERT_EQ(report.restores, 2);
  // Restores of 25 and 6 minutes: median 15.5 minutes.
  EXPECT_EQ(*report.restore_median, 15 * kMinute + 30'000);
}

TEST(Dora, AChangeLinkedToAnIncidentFailedEvenThoughItSucceeded) {
  History h;
  h.add(DeployKind::deploy, "v1", DeployState::succeeded, kNow - 3 * kDay, kMinute);
  h.add(DeployKind::deploy, "v2", DeployState::succeeded, kNow - 2 * kDay, kMinute, "v1").incident =
      "INC-7";
  h.add(DeployKind::deploy, "v3", DeployState::succeeded, kNow - kDay, kMinute, "v2");
  auto report = compute_dora(h.deploys, "production", kNow, 30);
  EXPECT_EQ(report.deployments, 3);  // it did reach users
  EXPECT_EQ(report.changes, 3);
  EXPECT_EQ(report.failed_changes, 1);
  ASSERT_TRUE(report.change_failure_rate);
  EXPECT_NEAR(*report.change_failure_rate, 1.0 / 3, 1e-9);
}

TEST(Dora, AnIncidentsRestoreTimeCountsOnceForTheChangesLinkedToIt) {
  History h;
  h.add(DeployKind::deploy, "v1", DeployState::succeeded, kNow - 3 * kDay, kMinute);
  h.add(DeployKind::deploy, "v2", DeployState::succeeded, kNow - 2 * kDay, kMinute, "v1").incident =
      "INC-7";
  h.add(DeployKind::deploy, "v3", DeployState::succeeded, kNow - kDay, kMinute, "v2").incident =
      "INC-7";
  h.add(DeployKind::deploy, "v4", DeployState::succeeded, kNow - kHour, kMinute, "v3").incident =
      "INC-8";  // an incident still being worked on: no restore time yet
  auto report = compute_dora(h.deploys, "production", kNow, 30, {{"INC-7", 42 * kMinute}});
  EXPECT_EQ(report.failed_changes, 3);
  EXPECT_EQ(report.restores, 1);
  EXPECT_EQ(report.restore_median, 42 * kMinute);
}

TEST(Dora, ARollbackAfterALaterDeployDoesNotBlameTheEarlierChange) {
  History h;
  h.add(DeployKind::deploy, "v1", DeployState::succeeded, kNow - 5 * kDay, kMinute);
  h.add(DeployKind::deploy, "v2", DeployState::succeeded, kNow - 4 * kDay, kMinute, "v1");
  h.add(DeployKind::deploy, "v3", DeployState::succeeded, kNow - 3 * kDay, kMinute, "v2");
  // Rolls v3 back to v2: v3 failed; v2 did not.
  h.add(DeployKind::rollback, "v2", DeployState::succeeded, kNow - 2 * kDay, kMinute, "v3");
  auto report = compute_dora(h.deploys, "production", kNow, 30);
  EXPECT_EQ(report.failed_changes, 1);
}

}  // namespace
}  // namespace shipmate::commands
