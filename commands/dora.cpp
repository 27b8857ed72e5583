#include "commands/dora.h"

#include <algorithm>

namespace shipmate::commands {
namespace {

using storage::DeployKind;
using storage::DeployState;

constexpr EpochMillis kDay = 24LL * 60 * 60 * 1000;

std::optional<EpochMillis> median(std::vector<EpochMillis> values) {
  if (values.empty())
    return std::nullopt;
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

// The successful rollback that undid `change`: later in the same service and environment, and
// rolling back away from the change's version.
const storage::DeployRecord* undoing_rollback(const std::vector<storage::DeployRecord>& history,
                                              const storage::DeployRecord& change) {
  const storage::DeployRecord* best = nullptr;
  for (const auto& deploy : history) {
    if (deploy.kind != DeployKind::rollback || deploy.state != DeployState::succeeded ||
        deploy.service != change.service || deploy.environment != change.environment ||
        deploy.previous_version != change.version || deploy.id <= change.id) {
      continue;
    }
    if (best == nullptr || deploy.id < best->id)
      best = &deploy;
  }
  // Only the rollback that directly followed: a later deploy of another version in between
  // means the change was replaced, not rolled back.
  if (best != nullptr) {
    for (const auto& deploy : history) {
      if (deploy.service == change.service && deploy.environment == change.environment &&
          deploy.id > change.id && deploy.id < best->id && deploy.state == DeployState::succeeded) {
        return nullptr;
      }
    }
  }
  return best;
}

}  // namespace

DoraReport compute_dora(const std::vector<storage::DeployRecord>& history,
                        const std::string& environment, EpochMillis now, int days,
                        const std::map<std::string, EpochMillis>& incident_restores) {
  std::vector<std::string> incidents_counted;
  DoraReport report;
  report.environment = environment;
  report.days = days;
  const EpochMillis since = now - static_cast<EpochMillis>(days) * kDay;
  std::vector<EpochMillis> lead_times;
  std::vector<EpochMillis> restore_times;
  for (const auto& deploy : history) {
    if (deploy.environment != environment || deploy.kind == DeployKind::rollback ||
        deploy.requested_at < since) {
      continue;
    }
    const bool counted =
        deploy.state == DeployState::succeeded || deploy.state == DeployState::failed ||
        deploy.state == DeployState::rolled_back || deploy.state == DeployState::timed_out;
    if (!counted)
      continue;
    ++report.changes;
    const EpochMillis finished = deploy.finished_at.value_or(deploy.requested_at);
    bool failed = deploy.state != DeployState::succeeded;
    bool restored = false;
    if (deploy.state == DeployState::rolled_back) {
      restore_times.push_back(finished - deploy.requested_at);
      restored = true;
    }
    if (deploy.state == DeployState::succeeded) {
      ++report.deployments;
      if (deploy.committed_at)
        lead_times.push_back(finished - *deploy.committed_at);
      if (const auto* rollback = undoing_rollback(history, deploy)) {
        failed = true;
        restore_times.push_back(rollback->finished_at.value_or(rollback->requested_at) - finished);
        restored = true;
      }
    }
    // A change someone linked to an incident failed, whatever its state says.
    if (!deploy.incident.empty()) {
      failed = true;
      const auto restore = incident_restores.find(deploy.incident);
      if (!restored && restore != incident_restores.end() &&
          std::find(incidents_counted.begin(), incidents_counted.end(), deploy.incident) ==
              incidents_counted.end()) {
        restore_times.push_back(restore->second);
        incidents_counted.push_back(deploy.incident);
      }
    }
    if (failed)
      ++report.failed_changes;
  }
  report.per_day = days > 0 ? static_cast<double>(report.deployments) / days : 0;
  if (report.changes > 0) {
    report.change_failure_rate = static_cast<double>(report.failed_changes) / report.changes;
  }
  report.lead_time_samples = static_cast<int>(lead_times.size());
  report.lead_time_median = median(lead_times);
  report.restores = static_cast<int>(restore_times.size());
  report.restore_median = median(restore_times);
  return report;
}

}  // namespace shipmate::commands
