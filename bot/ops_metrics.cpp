#include "bot/ops_metrics.h"

#include <unistd.h>

#include <fstream>

#include "storage/database.h"
#include "storage/deploy_store.h"
#include "storage/lock_store.h"

namespace shipmate::bot {

namespace {

constexpr std::size_t kRememberedDeploys = 4096;

bool is_final(storage::DeployState state) {
  switch (state) {
    case storage::DeployState::succeeded:
    case storage::DeployState::failed:
    case storage::DeployState::rolled_back:
    case storage::DeployState::cancelled:
    case storage::DeployState::timed_out:
      return true;
    case storage::DeployState::requested:
    case storage::DeployState::awaiting_approval:
    case storage::DeployState::queued:
    case storage::DeployState::building:
    case storage::DeployState::deploying:
    case storage::DeployState::verifying:
      return false;
  }
  return false;
}

}  // namespace

double resident_memory_bytes() {
  std::ifstream statm("/proc/self/statm");
  long long size = 0;
  long long resident = 0;
  if (!(statm >> size >> resident))
    return 0;
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

void register_app_metrics(metrics::Registry& registry, storage::Database& database,
                          storage::LockStore& locks) {
  registry.gauge_function("shipmate_locks_held", "Unexpired service locks held now.",
                          [&locks] { return static_cast<double>(locks.list().size()); });
  registry.gauge_function(
      "shipmate_approvals_waiting", "Deploys waiting for an approval now.", [&database] {
        auto count =
            database.prepare("SELECT COUNT(*) FROM deploys WHERE state = 'awaiting_approval'");
        return count.step() ? static_cast<double>(count.column_int64(0)) : 0.0;
      });
  registry.gauge_function("process_resident_memory_bytes", "Resident memory size in bytes.",
                          [] { return resident_memory_bytes(); });
}

void DeployMetrics::deploy_changed(const storage::DeployRecord& deploy) {
  if (!is_final(deploy.state) || counted_.count(deploy.id) != 0)
    return;
  counted_.insert(deploy.id);
  if (counted_.size() > kRememberedDeploys)
    counted_.erase(counted_.begin());
  registry_
      .counter("shipmate_deploys_total", "Finished deploys by service, environment, kind, outcome.",
               {"service", "environment", "kind", "outcome"},
               {deploy.service, deploy.environment, std::string(storage::to_string(deploy.kind)),
                std::string(storage::to_string(deploy.state))})
      .inc();
  if (deploy.finished_at && *deploy.finished_at >= deploy.requested_at) {
    registry_
        .histogram("shipmate_deploy_duration_seconds",
                   "Deploy duration from request to final state.",
                   {1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600}, {"service", "environment"},
                   {deploy.service, deploy.environment})
        .observe_seconds(static_cast<double>(*deploy.finished_at - deploy.requested_at) / 1000.0);
  }
}

}  // namespace shipmate::bot
