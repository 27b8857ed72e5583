#include "bot/ops_metrics.h"

#include <unistd.h>

#include <fstream>
#include <optional>

#include "commands/freeze_windows.h"
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

namespace {

using Samples = std::vector<metrics::Registry::Sample>;

// One sample per row of `sql`, whose last column is the value and the others the label values.
Samples grouped(storage::Database& database, const char* sql, int labels,
                std::optional<EpochMillis> now = std::nullopt) {
  Samples out;
  auto query = database.prepare(sql);
  if (now)
    query.bind(1, *now);
  while (query.step()) {
    metrics::Registry::Labels values;
    for (int i = 0; i < labels; ++i)
      values.push_back(query.column_text(i));
    out.emplace_back(std::move(values), static_cast<double>(query.column_int64(labels)));
  }
  return out;
}

}  // namespace

void register_store_metrics(metrics::Registry& registry, storage::Database& database,
                            const commands::Catalog& catalog, const Clock& clock) {
  using Kind = metrics::Registry::Kind;
  registry.function_family(
      "shipmate_runbook_runs_total", "Finished runbook runs by runbook and outcome.", Kind::counter,
      {"runbook", "outcome"}, [&database] {
        return grouped(database,
                       "SELECT runbook, status, COUNT(*) FROM runbook_runs "
                       "WHERE finished_at IS NOT NULL GROUP BY runbook, status ORDER BY 1, 2",
                       2);
      });
  registry.function_family(
      "shipmate_runbook_steps_total", "Finished runbook step attempts by runbook and outcome.",
      Kind::counter, {"runbook", "outcome"}, [&database] {
        return grouped(database,
                       "SELECT r.runbook, s.status, COUNT(*) FROM runbook_steps s "
                       "JOIN runbook_runs r ON r.id = s.run_id WHERE s.finished_at IS NOT NULL "
                       "GROUP BY r.runbook, s.status ORDER BY 1, 2",
                       2);
      });
  registry.function_family("shipmate_incidents_open", "Open (not resolved) incidents by severity.",
                           Kind::gauge, {"severity"}, [&database] {
                             return grouped(
                                 database,
                                 "SELECT 'sev' || severity, COUNT(*) FROM incidents "
                                 "WHERE status != 'resolved' GROUP BY severity ORDER BY severity",
                                 1);
                           });
  registry.function_family(
      "shipmate_schedule_firings_total",
      "Schedule occurrences that fired, by outcome (claimed: running now).", Kind::counter,
      {"outcome"}, [&database] {
        return grouped(database,
                       "SELECT outcome, COUNT(*) FROM schedule_runs WHERE outcome != 'skipped' "
                       "GROUP BY outcome ORDER BY outcome",
                       1);
      });
  registry.function_family(
      "shipmate_schedule_misfires_total",
      "Schedule occurrences missed and skipped (the schedule's misfire policy or lateness limit).",
      Kind::counter, {}, [&database] {
        return grouped(database, "SELECT COUNT(*) FROM schedule_runs WHERE outcome = 'skipped'", 0);
      });
  registry.function_family(
      "shipmate_freezes_in_force",
      "Freezes in force now by environment and source (chat: declared in chat; window: "
      "configured).",
      Kind::gauge, {"environment", "source"}, [&database, &catalog, &clock] {
        const EpochMillis now = clock.now_ms();
        Samples out = grouped(database,
                              "SELECT environment, 'chat', COUNT(*) FROM freezes "
                              "WHERE lifted_at IS NULL AND starts_at <= ?1 "
                              "AND (ends_at IS NULL OR ends_at > ?1) GROUP BY environment "
                              "ORDER BY environment",
                              2, now);
        for (const auto& environment : catalog.environments) {
          if (active_freeze(environment.freezes, now))
            out.push_back({{environment.name, "window"}, 1.0});
        }
        return out;
      });
}

void register_transport_metrics(metrics::Registry& registry,
                                std::function<std::vector<const ChatTransport*>()> transports) {
  using Kind = metrics::Registry::Kind;
  auto shared =
      std::make_shared<std::function<std::vector<const ChatTransport*>()>>(std::move(transports));
  registry.function_family(
      "shipmate_chat_reconnects_total",
      "Chat connections opened again after the first (Slack Socket Mode), by platform.",
      Kind::counter, {"platform"}, [shared] {
        Samples out;
        for (const ChatTransport* transport : (*shared)())
          out.push_back({{std::string(transport->name())},
                         static_cast<double>(transport->counters().reconnects)});
        return out;
      });
  registry.function_family(
      "shipmate_chat_rate_limit_pauses_total",
      "HTTP 429 answers from a chat platform's API that held Shipmate's sends, by platform.",
      Kind::counter, {"platform"}, [shared] {
        Samples out;
        for (const ChatTransport* transport : (*shared)())
          out.push_back({{std::string(transport->name())},
                         static_cast<double>(transport->counters().rate_limit_pauses)});
        return out;
      });
  registry.function_family(
      "shipmate_chat_api_calls_total",
      "Calls to a chat platform's API (Slack Web API, Bot Framework connector) by platform, "
      "method and HTTP status (0: no answer).",
      Kind::counter, {"platform", "method", "status"}, [shared] {
        Samples out;
        for (const ChatTransport* transport : (*shared)()) {
          for (const auto& call : transport->counters().api_calls)
            out.push_back(
                {{std::string(transport->name()), call.method, std::to_string(call.status)},
                 static_cast<double>(call.count)});
        }
        return out;
      });
}

std::string DeployMetrics::strategy_of(const storage::DeployRecord& deploy) const {
  // Rollbacks and redeploys of the previous version go straight through the target.
  if (catalog_ == nullptr || deploy.kind == storage::DeployKind::rollback)
    return "rolling";
  const commands::ServiceSpec* service = catalog_->find_service(deploy.service);
  if (service == nullptr || !service->strategy.applies_to(deploy.environment))
    return "rolling";
  return std::string(commands::to_string(service->strategy.kind));
}

void DeployMetrics::deploy_changed(const storage::DeployRecord& deploy) {
  if (!is_final(deploy.state) || counted_.count(deploy.id) != 0)
    return;
  counted_.insert(deploy.id);
  if (counted_.size() > kRememberedDeploys)
    counted_.erase(counted_.begin());
  registry_
      .counter("shipmate_deploys_total",
               "Finished deploys by service, environment, kind, rollout strategy and outcome.",
               {"service", "environment", "kind", "strategy", "outcome"},
               {deploy.service, deploy.environment, std::string(storage::to_string(deploy.kind)),
                strategy_of(deploy), std::string(storage::to_string(deploy.state))})
      .inc();
  // A rollback: the deploy's own, after a failed health check or a breached metric check, or
  // one somebody asked for ("rollback hello") that went through.
  const bool automatic = deploy.state == storage::DeployState::rolled_back;
  const bool requested = deploy.kind == storage::DeployKind::rollback &&
                         deploy.state == storage::DeployState::succeeded;
  if (automatic || requested) {
    registry_
        .counter("shipmate_rollbacks_total",
                 "Rollbacks by service, environment and trigger (automatic: the deploy rolled "
                 "itself back; requested: a rollback command succeeded).",
                 {"service", "environment", "trigger"},
                 {deploy.service, deploy.environment, automatic ? "automatic" : "requested"})
        .inc();
  }
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
