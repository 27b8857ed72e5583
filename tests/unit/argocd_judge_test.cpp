// argocd::judge(), one reading at a time: every row is an Application status in Argo CD's own
// vocabulary (operationState.phase, sync.status, health.status) and the answer it must get.
#include "integrations/argocd/argocd_judge.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace shipmate::integrations::argocd {
namespace {

const std::string kV2 = "5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f";  // what v2 resolved to
const std::string kV1 = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";

// The goal of `sync to v2` in revision mode.
FollowGoal sync_goal() {
  FollowGoal goal;
  goal.what = "sync to v2";
  goal.expect_revision = "v2";
  goal.expect_target_revision = "v2";
  return goal;
}

// The goal of `sync to 2.0.1` in Helm parameter mode.
FollowGoal helm_goal() {
  FollowGoal goal;
  goal.what = "sync to 2.0.1";
  goal.expect_helm_value = "2.0.1";
  goal.helm_parameter = "image.tag";
  return goal;
}

// The goal of a rollback whose spec could not be put back: Synced is not required.
FollowGoal rollback_goal() {
  FollowGoal goal;
  goal.what = "rollback to history id 4";
  goal.expect_revision = kV1;
  goal.require_synced = false;
  goal.require_compared = false;
  return goal;
}

// A sync to v2 that Argo CD finished: Succeeded, compared at v2's commit, with `sync` and
// `health` as given.
AppStatus finished(std::string sync, std::string health) {
  AppStatus status;
  status.phase = "Succeeded";
  status.operation_revision = kV2;
  status.operation_target_revision = "v2";
  status.sync_status = std::move(sync);
  status.sync_revision = kV2;
  status.health_status = std::move(health);
  return status;
}

AppStatus in_phase(std::string phase) {
  AppStatus status;
  status.phase = std::move(phase);
  status.sync_status = "OutOfSync";
  status.sync_revision = kV1;
  status.health_status = "Healthy";
  return status;
}

struct Row {
  const char* name;
  AppStatus status;
  FollowGoal goal;
  Verdict verdict;
  std::vector<std::string> reason_mentions;  // each must appear in Judgement::reason
  std::string waiting_for;                   // expected Judgement::waiting_for (keep_waiting)
};

std::vector<Row> rows() {
  std::vector<Row> out;
  auto add = [&](const char* name, AppStatus status, FollowGoal goal, Verdict verdict,
                 std::vector<std::string> mentions, std::string waiting_for = {}) {
    out.push_back({name, std::move(status), std::move(goal), verdict, std::move(mentions),
                   std::move(waiting_for)});
  };

  // Before and during the operation.
  AppStatus none;
  none.operation_requested = true;
  none.sync_status = "Synced";
  none.health_status = "Healthy";
  add("no operation state yet: the controller has not started it", none, sync_goal(),
      Verdict::keep_waiting, {"requested; waiting for the controller"}, "the sync to v2 to start");
  AppStatus left_over = in_phase("Succeeded");
  left_over.operation_requested = true;  // an old Succeeded state with our request still pending
  add("operation still requested over an old Succeeded phase", left_over, sync_goal(),
      Verdict::keep_waiting, {"sync to v2: operation Succeeded"}, "the sync to v2 to finish");
  AppStatus running = in_phase("Running");
  running.operation_message = "waiting for healthy state of apps/Deployment/api";
  add("phase Running", running, sync_goal(), Verdict::keep_waiting,
      {"operation Running: waiting for healthy state of apps/Deployment/api"},
      "the sync to v2 to finish");
  add("phase Terminating", in_phase("Terminating"), sync_goal(), Verdict::keep_waiting,
      {"operation Terminating"}, "the sync to v2 to finish");
  add("a phase Shipmate does not know", in_phase("Pausing"), sync_goal(), Verdict::keep_waiting,
      {"sync to v2: operation Pausing"}, "");

  // The operation ended badly.
  AppStatus failed = in_phase("Failed");
  failed.operation_message = "one or more objects failed to apply";
  failed.failed_tasks = {{"Job", "migrate", "SyncFailed", "BackoffLimitExceeded"}};
  add("phase Failed names the message and the failed sync task", failed, sync_goal(),
      Verdict::failed,
      {"sync to v2 operation Failed: one or more objects failed to apply",
       "Job migrate: SyncFailed: BackoffLimitExceeded"});
  AppStatus errored = in_phase("Error");
  errored.operation_message = "rpc error: code = Unknown desc = authentication required";
  add("phase Error", errored, sync_goal(), Verdict::failed,
      {"operation Error: rpc error", "authentication required"});
  AppStatus hook_failed = in_phase("Failed");
  hook_failed.failed_tasks = {{"Job", "pre-1", "Failed", ""},
                              {"Job", "pre-2", "Error", ""},
                              {"Job", "pre-3", "Failed", ""},
                              {"Job", "pre-4", "Failed", ""}};
  add("many failed hooks are cut to three", hook_failed, sync_goal(), Verdict::failed,
      {"Job pre-1: Failed", "Job pre-3: Failed", "and 1 more"});

  // Succeeded, but not what was asked for.
  AppStatus other_revision = finished("Synced", "Healthy");
  other_revision.operation_revision = kV1;
  other_revision.operation_target_revision = "v1";
  add("Succeeded at another revision", other_revision, sync_goal(), Verdict::failed,
      {"finished, but it deployed revision 0a1b2c3 (v1)"});
  AppStatus by_sha = finished("Synced", "Healthy");
  by_sha.operation_target_revision = "main";
  FollowGoal sha_goal = sync_goal();
  sha_goal.expect_revision = kV2;
  add("Succeeded at the expected commit under another targetRevision", by_sha, sha_goal,
      Verdict::succeeded, {});
  AppStatus wrong_helm = finished("Synced", "Healthy");
  wrong_helm.operation_helm_value = "1.9.0";
  add("Helm mode: the operation deployed another value", wrong_helm, helm_goal(), Verdict::failed,
      {"sync to 2.0.1 finished, but it deployed image.tag=1.9.0, not 2.0.1"});
  AppStatus unset_helm = finished("Synced", "Healthy");
  add("Helm mode: the parameter is missing from what was deployed", unset_helm, helm_goal(),
      Verdict::failed, {"image.tag=(unset), not 2.0.1"});
  AppStatus right_helm = finished("Synced", "Healthy");
  right_helm.operation_helm_value = "2.0.1";
  add("Helm mode: the value deployed, Synced and Healthy", right_helm, helm_goal(),
      Verdict::succeeded, {});

  // Succeeded: waiting for Argo CD to compare and show Synced.
  add("Succeeded but OutOfSync", finished("OutOfSync", "Healthy"), sync_goal(),
      Verdict::keep_waiting, {"succeeded; waiting for status Synced at 5e6f7a8 (now OutOfSync)"},
      "status Synced at 5e6f7a8");
  add("Succeeded but sync Unknown", finished("Unknown", "Healthy"), sync_goal(),
      Verdict::keep_waiting, {"(now Unknown)"}, "status Synced at 5e6f7a8");
  add("Succeeded, no sync status at all", finished("", "Healthy"), sync_goal(),
      Verdict::keep_waiting, {"(now Unknown)"}, "status Synced at 5e6f7a8");
  AppStatus stale = finished("Synced", "Healthy");
  stale.sync_revision = kV1;  // the comparison (and its health) predate the operation
  add("Synced and Healthy, but compared before the operation", stale, sync_goal(),
      Verdict::keep_waiting, {"waiting for status Synced at 5e6f7a8 (now Synced)"},
      "status Synced at 5e6f7a8");
  AppStatus stale_rollback = finished("OutOfSync", "Healthy");
  stale_rollback.operation_revision = kV1;
  stale_rollback.operation_target_revision = "v1";
  stale_rollback.sync_revision = kV2;
  add("rollback without require_synced/compared: OutOfSync and Healthy is done", stale_rollback,
      rollback_goal(), Verdict::succeeded, {});
  FollowGoal compared_only = rollback_goal();
  compared_only.require_compared = true;
  add("rollback requiring a comparison waits until Argo CD compared", stale_rollback, compared_only,
      Verdict::keep_waiting, {"waiting for status Synced at 0a1b2c3"}, "status Synced at 0a1b2c3");
  AppStatus no_revision = finished("Synced", "Healthy");
  no_revision.operation_revision.clear();
  no_revision.operation_target_revision.clear();
  FollowGoal any_goal;
  any_goal.what = "sync";
  add("no revision expected and none reported: health decides", no_revision, any_goal,
      Verdict::succeeded, {});

  // Succeeded and Synced: health decides.
  add("Synced and Healthy", finished("Synced", "Healthy"), sync_goal(), Verdict::succeeded, {});
  add("Synced, Progressing", finished("Synced", "Progressing"), sync_goal(), Verdict::keep_waiting,
      {"synced at 5e6f7a8, health Progressing"}, "health Healthy");
  AppStatus degraded = finished("Synced", "Degraded");
  degraded.health_message = "Deployment \"api\" exceeded its progress deadline";
  add("Synced, Degraded: fails with Argo CD's message", degraded, sync_goal(), Verdict::failed,
      {"sync to v2 went health Degraded: Deployment \"api\" exceeded its progress deadline"});
  AppStatus degraded_resources = finished("Synced", "Degraded");
  degraded_resources.unhealthy = {{"Deployment", "api", "Degraded", "ImagePullBackOff"}};
  add("Synced, Degraded without a message: the unhealthy resources", degraded_resources,
      sync_goal(), Verdict::failed, {"went health Degraded: Deployment api: Degraded"});
  add("Synced, Missing", finished("Synced", "Missing"), sync_goal(), Verdict::failed,
      {"went health Missing"});
  add("Synced, Suspended waits for an outside resume", finished("Synced", "Suspended"), sync_goal(),
      Verdict::keep_waiting, {"health Suspended (waiting for it to be resumed)"},
      "health Healthy (the app is Suspended, waiting for an outside resume)");
  add("Synced, health Unknown", finished("Synced", "Unknown"), sync_goal(), Verdict::keep_waiting,
      {"health Unknown"}, "health Healthy");
  add("Synced, no health assessed yet", finished("Synced", ""), sync_goal(), Verdict::keep_waiting,
      {"health Unknown"}, "health Healthy");
  // Health never overrides the sync check: a Degraded app still OutOfSync waits for Synced.
  add("OutOfSync and Degraded waits for Synced first", finished("OutOfSync", "Degraded"),
      sync_goal(), Verdict::keep_waiting, {"waiting for status Synced"},
      "status Synced at 5e6f7a8");
  return out;
}

const char* name_of(Verdict verdict) {
  switch (verdict) {
    case Verdict::keep_waiting:
      return "keep_waiting";
    case Verdict::succeeded:
      return "succeeded";
    case Verdict::failed:
      return "failed";
  }
  return "?";
}

TEST(ArgoCdJudge, EveryRow) {
  for (const Row& row : rows()) {
    SCOPED_TRACE(row.name);
    const Judgement judgement = judge(row.status, row.goal);
    EXPECT_EQ(name_of(judgement.verdict), std::string(name_of(row.verdict)));
    for (const std::string& part : row.reason_mentions) {
      EXPECT_NE(judgement.reason.find(part), std::string::npos)
          << "reason: " << judgement.reason << "\nexpected to mention: " << part;
    }
    if (row.verdict == Verdict::keep_waiting) {
      EXPECT_EQ(judgement.waiting_for, row.waiting_for);
    } else if (row.verdict == Verdict::succeeded) {
      EXPECT_TRUE(judgement.reason.empty()) << judgement.reason;
    } else {
      EXPECT_FALSE(judgement.reason.empty());
    }
  }
}

// Every combination of Argo CD's sync and health statuses after a Succeeded operation at the
// wanted revision: only Synced + Healthy succeeds, only Synced + Degraded/Missing fails.
TEST(ArgoCdJudge, SyncTimesHealthAfterSucceeded) {
  for (const char* sync : {"Synced", "OutOfSync", "Unknown"}) {
    for (const char* health :
         {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}) {
      SCOPED_TRACE(std::string(sync) + " / " + health);
      const Verdict verdict = judge(finished(sync, health), sync_goal()).verdict;
      const std::string s = sync;
      const std::string h = health;
      Verdict expected = Verdict::keep_waiting;
      if (s == "Synced" && h == "Healthy")
        expected = Verdict::succeeded;
      else if (s == "Synced" && (h == "Degraded" || h == "Missing"))
        expected = Verdict::failed;
      EXPECT_EQ(name_of(verdict), std::string(name_of(expected)));
    }
  }
}

// While an operation runs, nothing in sync or health ends the wait; once it ended badly, nothing
// in them saves it.
TEST(ArgoCdJudge, PhaseDecidesBeforeSyncAndHealth) {
  for (const char* phase : {"Running", "Terminating", "Failed", "Error"}) {
    for (const char* health : {"Healthy", "Degraded", "Missing"}) {
      SCOPED_TRACE(std::string(phase) + " / " + health);
      AppStatus status = finished("Synced", health);
      status.phase = phase;
      const bool ended_badly = std::string(phase) == "Failed" || std::string(phase) == "Error";
      EXPECT_EQ(name_of(judge(status, sync_goal()).verdict),
                std::string(name_of(ended_badly ? Verdict::failed : Verdict::keep_waiting)));
    }
  }
}

TEST(ArgoCdJudge, Summaries) {
  AppStatus status;
  EXPECT_EQ(health_summary(status), "health Unknown");
  status.health_status = "Degraded";
  status.unhealthy = {{"Deployment", "api", "Degraded", "ImagePullBackOff"},
                      {"Service", "api", "Missing", ""}};
  EXPECT_EQ(health_summary(status),
            "health Degraded: Deployment api: Degraded: ImagePullBackOff; Service api: Missing");
  status.health_message = "the app is degraded";
  EXPECT_EQ(health_summary(status), "health Degraded: the app is degraded");
  status.phase = "Failed";
  EXPECT_EQ(operation_summary(status), "operation Failed");
  EXPECT_EQ(short_revision(kV2), "5e6f7a8");
  EXPECT_EQ(short_revision("v2"), "v2");
}

}  // namespace
}  // namespace shipmate::integrations::argocd
