// What a Prometheus scrape of /metrics costs the event loop with 100 services: the Registry of a
// running Shipmate (the same families the App registers, the scrape-time ones reading a real
// SQLite database) filled as a busy day leaves it, rendered again and again.
//
//   build-release/bench/shipmate_metrics_bench [--services 100] [--renders 500]
//
// Prints the median, p90 and max render time, the size of the exposition and its series count.
// The HTTP round trip on loopback (tens of microseconds) comes on top; rendering is what holds
// the event loop.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bot/ops_metrics.h"
#include "commands/model.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "storage/database.h"
#include "storage/lock_store.h"

using namespace shipmate;

int main(int argc, char** argv) {
  int services = 100;
  int renders = 500;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--services") == 0)
      services = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--renders") == 0)
      renders = std::atoi(argv[i + 1]);
  }
  if (services < 1 || renders < 1) {
    std::fprintf(stderr, "usage: shipmate_metrics_bench [--services N] [--renders N]\n");
    return 2;
  }

  auto opened = storage::Database::open(":memory:");
  if (!opened) {
    std::fprintf(stderr, "shipmate_metrics_bench: %s\n", opened.error().message.c_str());
    return 1;
  }
  auto& db = **opened;
  ManualClock clock;
  storage::LockStore locks(db, clock);

  commands::Catalog catalog;
  const std::vector<std::string> environments = {"dev", "staging", "production"};
  for (const auto& name : environments) {
    commands::EnvironmentSpec environment;
    environment.name = name;
    environment.production = name == "production";
    catalog.environments.push_back(environment);
  }
  for (int i = 0; i < services; ++i) {
    commands::ServiceSpec service;
    service.name = "service-" + std::to_string(i);
    service.environments = environments;
    service.target_kind = "kubernetes";
    catalog.services.push_back(service);
  }

  metrics::Registry registry;
  // What the App registers (bot/app.cpp), in the same order.
  auto& commit =
      registry.histogram("shipmate_sqlite_commit_seconds", "SQLite transaction COMMIT latency.",
                         metrics::short_latency_buckets());
  auto& lag = registry.histogram("shipmate_event_loop_lag_seconds",
                                 "How late the event loop's 1 s heartbeat timer fired.",
                                 metrics::short_latency_buckets());
  bot::register_app_metrics(registry, db, locks);
  bot::register_store_metrics(registry, db, catalog, clock);
  bot::register_transport_metrics(registry,
                                  [] { return std::vector<const bot::ChatTransport*>(); });
  bot::DeployMetrics deploys(registry, &catalog);

  // A busy day: every command with every outcome, both platforms' latencies, and five finished
  // deploys of every service in every environment (each outcome, rollbacks among them).
  const std::vector<std::string> commands = {"help",
                                             "status",
                                             "deploy",
                                             "rollback",
                                             "redeploy",
                                             "lock",
                                             "unlock",
                                             "locks",
                                             "freeze",
                                             "unfreeze",
                                             "approve",
                                             "reject",
                                             "history",
                                             "audit tail",
                                             "audit verify",
                                             "metrics",
                                             "incident declare",
                                             "incident resolve",
                                             "incident note",
                                             "runbook run",
                                             "runbook list",
                                             "schedule list",
                                             "notes",
                                             "ping",
                                             "whoami",
                                             "cancel",
                                             "promote",
                                             "diff"};
  for (const auto& command : commands) {
    for (const char* outcome : {"ok", "error", "refused", "bad_arguments"}) {
      registry
          .counter("shipmate_commands_total", "Commands by name and outcome.",
                   {"command", "outcome"}, {command, outcome})
          .inc(17);
    }
  }
  for (const char* platform : {"slack", "teams"}) {
    for (const char* name : {"shipmate_ack_latency_seconds", "shipmate_reply_latency_seconds"}) {
      auto& histogram = registry.histogram(name, "Latency.", metrics::short_latency_buckets(),
                                           {"platform"}, {platform});
      for (int i = 0; i < 1000; ++i)
        histogram.observe_nanoseconds(50'000 + 997 * i);
    }
  }
  for (int i = 0; i < 1000; ++i) {
    commit.observe_nanoseconds(20'000 + 131 * i);
    lag.observe_nanoseconds(100'000 + 53 * i);
  }
  std::int64_t id = 0;
  const std::vector<storage::DeployState> outcomes = {
      storage::DeployState::succeeded, storage::DeployState::failed,
      storage::DeployState::rolled_back, storage::DeployState::cancelled,
      storage::DeployState::succeeded};
  for (const auto& service : catalog.services) {
    for (const auto& environment : environments) {
      for (const auto state : outcomes) {
        storage::DeployRecord record;
        record.id = ++id;
        record.service = service.name;
        record.environment = environment;
        record.version = "v" + std::to_string(id);
        record.state = state;
        record.requested_at = clock.now_ms() - 120'000;
        record.finished_at = clock.now_ms();
        deploys.deploy_changed(record);
      }
    }
  }

  std::vector<double> micros;
  micros.reserve(static_cast<std::size_t>(renders));
  std::size_t bytes = 0;
  std::size_t series = 0;
  for (int i = 0; i < renders + 10; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const std::string text = registry.render();
    const auto elapsed = std::chrono::steady_clock::now() - start;
    if (i < 10)
      continue;  // warm-up
    micros.push_back(std::chrono::duration<double, std::micro>(elapsed).count());
    bytes = text.size();
    series = 0;
    for (std::size_t at = 0; at < text.size();) {
      const std::size_t end = text.find('\n', at);
      if (text[at] != '#')
        ++series;
      at = end == std::string::npos ? text.size() : end + 1;
    }
  }
  std::sort(micros.begin(), micros.end());
  auto at = [&](double q) { return micros[static_cast<std::size_t>(q * (micros.size() - 1))]; };
  std::printf("services          %d (3 environments each, %lld finished deploys)\n", services,
              static_cast<long long>(id));
  std::printf("exposition        %zu bytes, %zu sample lines\n", bytes, series);
  std::printf("render            p50 %.0f us, p90 %.0f us, max %.0f us (%d renders)\n", at(0.5),
              at(0.9), micros.back(), renders);
  std::printf(
      "{\"services\":%d,\"bytes\":%zu,\"samples\":%zu,\"render_p50_us\":%.1f,"
      "\"render_p90_us\":%.1f,\"render_max_us\":%.1f}\n",
      services, bytes, series, at(0.5), at(0.9), micros.back());
  return 0;
}
