// What /metrics reports about the running App, on top of common/metrics.h.
//
// Contract
// - register_app_metrics() adds the scrape-time gauges (locks held, deploys waiting for approval,
//   resident memory). They query SQLite on the event loop at scrape time (an index scan of a
//   small table); `locks` and `database` must outlive the Registry's last render.
// - DeployMetrics is a DeployObserver (commands/context.h): when a deploy reaches a final state
//   it counts shipmate_deploys_total{service,environment,kind,strategy,outcome} (strategy: the
//   service's rollout strategy where it applies, else rolling), shipmate_rollbacks_total
//   {service,environment,trigger} (automatic: state rolled_back; requested: a rollback that
//   succeeded), and observes
//   shipmate_deploy_duration_seconds{service,environment} (requested to finished), once per
//   deploy even when observers hear the final state again. Event-loop thread only. Deploys are
//   rare, so their series are looked up per deploy (one mutex, an allocation on first use).
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <vector>

#include "bot/chat_transport.h"
#include "commands/context.h"
#include "common/metrics.h"

namespace shipmate::storage {
class Database;
class LockStore;
}  // namespace shipmate::storage

namespace shipmate::bot {

void register_app_metrics(metrics::Registry& registry, storage::Database& database,
                          storage::LockStore& locks);

// Scrape-time families read from the database (each an indexed or small GROUP BY, on the event
// loop): shipmate_runbook_runs_total{runbook,outcome}, shipmate_runbook_steps_total{runbook,
// outcome}, shipmate_incidents_open{severity}, shipmate_schedule_firings_total{outcome},
// shipmate_schedule_misfires_total, and shipmate_freezes_in_force{environment,source} (chat
// freezes from the database, configured windows from `catalog` at `clock`'s now). Counters read
// from tables survive restarts. `database`, `catalog` and `clock` must outlive the registry's
// last render.
void register_store_metrics(metrics::Registry& registry, storage::Database& database,
                            const commands::Catalog& catalog, const Clock& clock);

// Scrape-time families from each running chat transport's counters (ChatTransport::counters()):
// shipmate_chat_reconnects_total{platform}, shipmate_chat_rate_limit_pauses_total{platform},
// shipmate_chat_api_calls_total{platform,method,status}. `transports` answers the transports
// running now.
void register_transport_metrics(metrics::Registry& registry,
                                std::function<std::vector<const ChatTransport*>()> transports);

// Resident set size of this process in bytes (/proc/self/statm); 0 when unreadable.
double resident_memory_bytes();

class DeployMetrics final : public commands::DeployObserver {
 public:
  // `catalog` (may be null: every strategy is "rolling") names each service's rollout strategy;
  // it must outlive this.
  explicit DeployMetrics(metrics::Registry& registry, const commands::Catalog* catalog = nullptr)
      : registry_(registry), catalog_(catalog) {}
  void deploy_changed(const storage::DeployRecord& deploy) override;

 private:
  std::string strategy_of(const storage::DeployRecord& deploy) const;
  metrics::Registry& registry_;
  const commands::Catalog* catalog_;
  std::set<std::int64_t> counted_;  // the newest few thousand finished deploy ids
};

}  // namespace shipmate::bot
