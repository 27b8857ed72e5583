#include "integrations/argocd/argocd_judge.h"

#include <algorithm>
#include <cctype>
#include <cstddef>

namespace shipmate::integrations::argocd {

namespace {

constexpr std::size_t kMaxResourceNotes = 3;

std::string describe_notes(const std::vector<ResourceNote>& notes) {
  std::string out;
  std::size_t shown = 0;
  for (const ResourceNote& note : notes) {
    if (shown == kMaxResourceNotes) {
      out += "; and " + std::to_string(notes.size() - shown) + " more";
      break;
    }
    if (!out.empty())
      out += "; ";
    out += note.kind + " " + note.name + ": " + note.state;
    if (!note.message.empty())
      out += ": " + note.message;
    ++shown;
  }
  return out;
}

Judgement keep_waiting(std::string line, std::string waiting_for) {
  return {Verdict::keep_waiting, std::move(line), std::move(waiting_for)};
}

Judgement failed(std::string reason) {
  return {Verdict::failed, std::move(reason), {}};
}

// The operation Succeeded: did it deploy what the goal asked for, and is the app there?
Judgement judge_succeeded(const AppStatus& status, const FollowGoal& goal) {
  const std::string& deployed = status.operation_revision;
  bool revision_ok = goal.expect_revision.empty() && goal.expect_target_revision.empty();
  if (!goal.expect_revision.empty() && deployed == goal.expect_revision)
    revision_ok = true;
  if (!goal.expect_target_revision.empty() &&
      status.operation_target_revision == goal.expect_target_revision)
    revision_ok = true;
  if (goal.expect_helm_value && status.operation_helm_value != goal.expect_helm_value) {
    return failed(goal.what + " finished, but it deployed " + goal.helm_parameter + "=" +
                  status.operation_helm_value.value_or("(unset)") + ", not " +
                  *goal.expect_helm_value);
  }
  if (!revision_ok) {
    return failed(goal.what + " finished, but it deployed revision " + short_revision(deployed) +
                  (status.operation_target_revision.empty()
                       ? std::string()
                       : " (" + status.operation_target_revision + ")"));
  }
  const bool compared_here = deployed.empty() || status.sync_revision == deployed;
  const bool synced_here = status.sync_status == "Synced" && compared_here;
  if ((goal.require_synced && !synced_here) || (goal.require_compared && !compared_here)) {
    return keep_waiting(goal.what + " succeeded; waiting for status Synced at " +
                            short_revision(deployed) + " (now " +
                            (status.sync_status.empty() ? "Unknown" : status.sync_status) + ")",
                        "status Synced at " + short_revision(deployed));
  }
  if (status.health_status == "Healthy")
    return {Verdict::succeeded, {}, {}};
  if (status.health_status == "Degraded" || status.health_status == "Missing")
    return failed(goal.what + " went " + health_summary(status));
  if (status.health_status == "Suspended") {
    // Suspended waits for an outside resume (a paused rollout, a suspended job): not a failure,
    // not done either.
    return keep_waiting("synced at " + short_revision(deployed) + ", " + health_summary(status) +
                            " (waiting for it to be resumed)",
                        "health Healthy (the app is Suspended, waiting for an outside resume)");
  }
  // Progressing, Unknown, or nothing assessed yet.
  return keep_waiting("synced at " + short_revision(deployed) + ", " + health_summary(status),
                      "health Healthy");
}

}  // namespace

Judgement judge(const AppStatus& status, const FollowGoal& goal) {
  if (status.phase.empty()) {
    // Our request cleared status.operationState; the controller has not picked it up yet.
    return keep_waiting(goal.what + " requested; waiting for the controller to start it",
                        "the " + goal.what + " to start");
  }
  if (status.operation_requested || status.phase == "Running" || status.phase == "Terminating")
    return keep_waiting(goal.what + ": " + operation_summary(status),
                        "the " + goal.what + " to finish");
  if (status.phase == "Failed" || status.phase == "Error")
    return failed(goal.what + " " + operation_summary(status));
  if (status.phase == "Succeeded")
    return judge_succeeded(status, goal);
  // A phase this version of Shipmate does not know: not an answer either way.
  return keep_waiting(goal.what + ": operation " + status.phase, {});
}

std::string health_summary(const AppStatus& status) {
  std::string text = "health " + (status.health_status.empty() ? "Unknown" : status.health_status);
  std::string detail = status.health_message;
  if (detail.empty())
    detail = describe_notes(status.unhealthy);
  if (!detail.empty())
    text += ": " + detail;
  return text;
}

std::string operation_summary(const AppStatus& status) {
  std::string text = "operation " + status.phase;
  if (!status.operation_message.empty())
    text += ": " + status.operation_message;
  if (!status.failed_tasks.empty())
    text += " (" + describe_notes(status.failed_tasks) + ")";
  return text;
}

std::string short_revision(const std::string& revision) {
  const bool hex =
      revision.size() == 40 && std::all_of(revision.begin(), revision.end(), [](char c) {
        return std::isxdigit(static_cast<unsigned char>(c)) != 0;
      });
  return hex ? revision.substr(0, 7) : revision;
}

}  // namespace shipmate::integrations::argocd
