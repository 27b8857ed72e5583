// What /metrics reports about the running App, on top of common/metrics.h.
//
// Contract
// - register_app_metrics() adds the scrape-time gauges (locks held, deploys waiting for approval,
//   resident memory). They query SQLite on the event loop at scrape time (an index scan of a
//   small table); `locks` and `database` must outlive the Registry's last render.
// - DeployMetrics is a DeployObserver (commands/context.h): when a deploy reaches a final state
//   it counts shipmate_deploys_total{service,environment,kind,outcome} and observes
//   shipmate_deploy_duration_seconds{service,environment} (requested to finished), once per
//   deploy even when observers hear the final state again. Event-loop thread only. Deploys are
//   rare, so their series are looked up per deploy (one mutex, an allocation on first use).
#pragma once

#include <cstdint>
#include <set>

#include "commands/context.h"
#include "common/metrics.h"

namespace shipmate::storage {
class Database;
class LockStore;
}  // namespace shipmate::storage

namespace shipmate::bot {

void register_app_metrics(metrics::Registry& registry, storage::Database& database,
                          storage::LockStore& locks);

// Resident set size of this process in bytes (/proc/self/statm); 0 when unreadable.
double resident_memory_bytes();

class DeployMetrics final : public commands::DeployObserver {
 public:
  explicit DeployMetrics(metrics::Registry& registry) : registry_(registry) {}
  void deploy_changed(const storage::DeployRecord& deploy) override;

 private:
  metrics::Registry& registry_;
  std::set<std::int64_t> counted_;  // the newest few thousand finished deploy ids
};

}  // namespace shipmate::bot
