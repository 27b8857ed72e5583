// DORA metrics from deploy history: deployment frequency, lead time for changes, change failure
// rate and time to restore.
//
// Contract: pure (history and `now` in, numbers out); thread-safe.
// Definitions, over deploys of one environment requested in the last `days` days:
// - A change is a deploy or redeploy (not a rollback) that finished succeeded, failed,
//   rolled_back or timed_out; cancelled ones never became a change.
// - Deployment frequency counts changes that succeeded.
// - Lead time is finished_at - committed_at for succeeded changes whose commit time is known.
// - A change failed when it failed, timed out, was rolled back during its own verification,
//   succeeded and was later undone by a rollback away from its version, or was linked to an
//   incident (`link <deploy> to <incident>`).
// - Time to restore covers failures that reached users: from a bad version going live to the
//   rollback that replaced it finishing (or, for an automatic rollback, the change's own
//   duration). A deploy that failed before serving caused no outage and is not counted. A change
//   linked to an incident that restored no other way counts the incident's restore time (from
//   detection to mitigation, else to resolution), once per incident.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "storage/deploy_store.h"

namespace shipmate::commands {

struct DoraReport {
  std::string environment;
  int days = 0;
  int deployments = 0;  // successful changes
  double per_day = 0;
  int changes = 0;
  int failed_changes = 0;
  std::optional<double> change_failure_rate;  // 0..1; none without changes
  std::optional<EpochMillis> lead_time_median;
  int lead_time_samples = 0;
  std::optional<EpochMillis> restore_median;
  int restores = 0;
};

// `history` holds deploys (any order) of one or more services in `environment`.
// `incident_restores`: restore time by incident label ("INC-3"), for incidents that have one.
DoraReport compute_dora(const std::vector<storage::DeployRecord>& history,
                        const std::string& environment, EpochMillis now, int days,
                        const std::map<std::string, EpochMillis>& incident_restores = {});

}  // namespace shipmate::commands
