#include "commands/dora.h"

#include "commands/dora_weeks.h"

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

EpochMillis week_start_utc(EpochMillis at) {
  // 1970-01-01 was a Thursday: Monday 1969-12-29 is day -3.
  constexpr EpochMillis kWeek = 7 * kDay;
  constexpr EpochMillis kMondayOffset = 3 * kDay;
  const EpochMillis shifted = at + kMondayOffset;
  EpochMillis weeks = shifted / kWeek;
  if (shifted % kWeek < 0)
    --weeks;
  return weeks * kWeek - kMondayOffset;
}

std::vector<DoraWeek> compute_dora_weeks(
    const std::vector<storage::DeployRecord>& history, const std::string& environment,
    EpochMillis now, int weeks, const std::map<std::string, EpochMillis>& incident_restores) {
  std::vector<DoraWeek> out;
  if (weeks <= 0)
    return out;
  constexpr EpochMillis kWeek = 7 * kDay;
  const EpochMillis first = week_start_utc(now) - static_cast<EpochMillis>(weeks - 1) * kWeek;
  out.resize(static_cast<std::size_t>(weeks));
  for (int i = 0; i < weeks; ++i) {
    out[i].start = first + i * kWeek;
    out[i].end = out[i].start + kWeek;
    out[i].report.environment = environment;
    out[i].report.days = 7;
  }
  // The deploys of this environment by id; the succeeded ones per service, in id order, so the
  // deploy that followed a change is one lookup.
  std::vector<const storage::DeployRecord*> ordered;
  for (const auto& deploy : history) {
    if (deploy.environment == environment)
      ordered.push_back(&deploy);
  }
  std::sort(ordered.begin(), ordered.end(),
            [](const auto* a, const auto* b) { return a->id < b->id; });
  std::map<std::string, std::vector<const storage::DeployRecord*>> succeeded;
  for (const auto* deploy : ordered) {
    if (deploy->state == DeployState::succeeded)
      succeeded[deploy->service].push_back(deploy);
  }
  auto undoing = [&](const storage::DeployRecord& change) -> const storage::DeployRecord* {
    const auto& list = succeeded[change.service];
    auto next = std::upper_bound(list.begin(), list.end(), change.id,
                                 [](std::int64_t id, const auto* d) { return id < d->id; });
    if (next == list.end())
      return nullptr;
    const auto* candidate = *next;
    return candidate->kind == DeployKind::rollback && candidate->previous_version == change.version
               ? candidate
               : nullptr;
  };
  std::vector<std::vector<EpochMillis>> lead(out.size()), restore(out.size());
  std::vector<std::vector<std::string>> incidents_counted(out.size());
  for (const auto* deploy : ordered) {
    if (deploy->kind == DeployKind::rollback || deploy->requested_at < first ||
        deploy->requested_at >= out.back().end) {
      continue;
    }
    const bool counted =
        deploy->state == DeployState::succeeded || deploy->state == DeployState::failed ||
        deploy->state == DeployState::rolled_back || deploy->state == DeployState::timed_out;
    if (!counted)
      continue;
    const auto w = static_cast<std::size_t>((deploy->requested_at - first) / kWeek);
    DoraReport& report = out[w].report;
    ++report.changes;
    const EpochMillis finished = deploy->finished_at.value_or(deploy->requested_at);
    bool failed = deploy->state != DeployState::succeeded;
    bool restored = false;
    if (deploy->state == DeployState::rolled_back) {
      restore[w].push_back(finished - deploy->requested_at);
      restored = true;
    }
    if (deploy->state == DeployState::succeeded) {
      ++report.deployments;
      if (deploy->committed_at)
        lead[w].push_back(finished - *deploy->committed_at);
      if (const auto* rollback = undoing(*deploy)) {
        failed = true;
        restore[w].push_back(rollback->finished_at.value_or(rollback->requested_at) - finished);
        restored = true;
      }
    }
    if (!deploy->incident.empty()) {
      failed = true;
      const auto found = incident_restores.find(deploy->incident);
      auto& counted_here = incidents_counted[w];
      if (!restored && found != incident_restores.end() &&
          std::find(counted_here.begin(), counted_here.end(), deploy->incident) ==
              counted_here.end()) {
        restore[w].push_back(found->second);
        counted_here.push_back(deploy->incident);
      }
    }
    if (failed)
      ++report.failed_changes;
  }
  for (std::size_t w = 0; w < out.size(); ++w) {
    DoraReport& report = out[w].report;
    report.per_day = static_cast<double>(report.deployments) / 7.0;
    if (report.changes > 0)
      report.change_failure_rate = static_cast<double>(report.failed_changes) / report.changes;
    report.lead_time_samples = static_cast<int>(lead[w].size());
    report.lead_time_median = median(std::move(lead[w]));
    report.restores = static_cast<int>(restore[w].size());
    report.restore_median = median(std::move(restore[w]));
  }
  return out;
}

}  // namespace shipmate::commands
