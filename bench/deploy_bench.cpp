// 1,000 concurrent deploys driven through the real Router, deploy flow and SQLite (a file in
// WAL mode), against a target whose rollouts take 50-150 ms of timer time, as a cluster's would.
// Reports the time to drive all of them to completion and how late a 1 ms probe timer ran on
// the event loop meanwhile (its lag is what every other chat command would wait).
//
// Run: build-release/bench/shipmate_deploy_bench [--deploys N] [--arrival-us N (0: all at once)]
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "bot/router.h"
#include "commands/command_table.h"
#include "commands/deploy_runtime.h"
#include "common/timer.h"
#include "storage/audit_log.h"
#include "storage/deploy_store.h"
#include "storage/lock_store.h"

namespace {

using namespace shipmate;
namespace asio = boost::asio;
using Steady = std::chrono::steady_clock;

// A deploy target whose rollouts take a while, without blocking: a timer, not a sleep.
class SlowTarget final : public integrations::DeployTarget {
 public:
  SlowTarget(asio::any_io_executor executor, std::chrono::milliseconds delay)
      : executor_(std::move(executor)), delay_(delay) {}
  std::string kind() const override { return "bench"; }
  Status validate(const std::string&, const std::string&) const override { return Ok{}; }
  std::vector<std::string> available_versions() const override { return {"v1", "v2"}; }
  std::optional<std::string> current_version(const std::string&) const override {
    return std::nullopt;
  }
  std::string describe(const std::string&) const override { return "bench"; }
  asio::awaitable<integrations::ApplyOutcome> apply(std::string, std::string version,
                                                    integrations::ProgressFn progress) override {
    progress("rolling out " + version);
    asio::steady_timer timer(executor_, delay_);
    co_await timer.async_wait(asio::use_awaitable);
    co_return integrations::ApplyOutcome{true, version + " rolled out", ""};
  }
  asio::awaitable<integrations::ApplyOutcome> roll_back(
      std::string environment, std::string version, integrations::ProgressFn progress) override {
    return apply(std::move(environment), std::move(version), std::move(progress));
  }
  asio::awaitable<std::vector<integrations::ApplyOutcome>> restore() override {
    co_return std::vector<integrations::ApplyOutcome>{};
  }
  asio::awaitable<void> shutdown() override { co_return; }

 private:
  asio::any_io_executor executor_;
  std::chrono::milliseconds delay_;
};

class CountingConversation final : public commands::Conversation {
 public:
  commands::MessageRef post(const commands::Message&) override {
    ++messages;
    return "1";
  }
  void update(const commands::MessageRef&, const commands::Message& message) override {
    ++messages;
    if (message.tone == commands::Tone::success)
      ++succeeded;
  }
  void thread_reply(const commands::MessageRef&, const commands::Message&) override { ++messages; }
  std::string address() const override { return "bench"; }
  int messages = 0;
  int succeeded = 0;
};

double percentile(std::vector<double> values, double p) {
  if (values.empty())
    return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<std::size_t>(p * values.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::off);
  int deploys = 1000;
  int arrival_us = 200;  // one request every 200 us: 1,000 requests within 0.2 s
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--deploys")
      deploys = std::max(1, std::atoi(argv[i + 1]));
    if (std::string(argv[i]) == "--arrival-us")
      arrival_us = std::max(0, std::atoi(argv[i + 1]));
  }
  const std::string path = (std::filesystem::temp_directory_path() / "shipmate-deploy-bench.db");
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");

  asio::io_context io(1);
  auto db = storage::Database::open(path);
  if (!db) {
    std::fprintf(stderr, "%s\n", db.error().message.c_str());
    return 1;
  }
  SystemClock clock;
  storage::DeployStore store(**db, clock);
  storage::LockStore locks(**db, clock);
  storage::AuditLog audit(**db, clock);
  commands::Catalog catalog;
  catalog.environments.push_back({"staging", false, {}});
  catalog.users.push_back({"alice", "Alice", {"admin"}});
  std::map<std::string, std::unique_ptr<integrations::DeployTarget>> targets;
  std::mt19937 random(42);
  std::uniform_int_distribution<int> delay(50, 150);
  for (int i = 0; i < deploys; ++i) {
    commands::ServiceSpec service;
    service.name = "svc" + std::to_string(i);
    service.environments = {"staging"};
    service.target_kind = "bench";
    catalog.services.push_back(service);
    targets[service.name] =
        std::make_unique<SlowTarget>(io.get_executor(), std::chrono::milliseconds(delay(random)));
  }
  const auto registry = commands::build_command_table();
  SteadyTimers timers(io.get_executor());
  commands::DeployRuntime runtime(timers);
  commands::Services services{io.get_executor(), catalog, clock,  **db, store, locks, audit,
                              targets,           timers,  runtime};
  services.registry = &registry;
  bot::Router router(services, registry, "shipmate");
  CountingConversation conversation;

  // The probe: a timer due every millisecond; how late it fires is the loop's latency.
  std::vector<double> lag_ms;
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer probe(io);
        while (!done) {
          const auto due = Steady::now() + std::chrono::milliseconds(1);
          probe.expires_at(due);
          co_await probe.async_wait(asio::use_awaitable);
          lag_ms.push_back(std::chrono::duration<double, std::milli>(Steady::now() - due).count());
        }
      },
      asio::detached);

  int finished = 0;
  const auto started = Steady::now();
  auto launch = [&](int i) {
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          bot::ChatEvent event{"bench", "", "alice",
                               "c",     "", "deploy svc" + std::to_string(i) + " v1 to staging"};
          co_await router.dispatch(std::move(event), conversation);
          if (++finished == deploys)
            done = true;
        },
        asio::detached);
  };
  if (arrival_us == 0) {
    for (int i = 0; i < deploys; ++i)
      launch(i);
  } else {
    // Requests arrive over time, as from many people and pipelines, not in one instant.
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer pace(io);
          auto next = Steady::now();
          for (int i = 0; i < deploys; ++i) {
            launch(i);
            next += std::chrono::microseconds(arrival_us);
            pace.expires_at(next);
            co_await pace.async_wait(asio::use_awaitable);
          }
        },
        asio::detached);
  }
  io.run();
  const double seconds = std::chrono::duration<double>(Steady::now() - started).count();

  int succeeded = 0;
  auto count = (*db)->prepare("SELECT COUNT(*) FROM deploys WHERE state = 'succeeded'");
  if (count.step())
    succeeded = static_cast<int>(count.column_int64(0));
  const auto verify = audit.verify();
  std::printf(
      "%d deploys arriving every %d us, rollouts of 50-150 ms each (so all are in flight at "
      "once), SQLite file in WAL mode\n",
      deploys, arrival_us);
  std::printf("all driven to completion in %.3f s; %d succeeded; %d chat messages\n", seconds,
              succeeded, conversation.messages);
  std::printf(
      "event-loop lag of a 1 ms probe: p50 %.3f ms  p99 %.3f ms  max %.3f ms (%zu samples)\n",
      percentile(lag_ms, 0.50), percentile(lag_ms, 0.99), percentile(lag_ms, 1.0), lag_ms.size());
  std::printf("audit chain %s (%lld records)\n", verify.ok ? "verified" : "BROKEN",
              static_cast<long long>(verify.records_checked));
  std::printf(
      "{\"bench\":\"shipmate_deploys\",\"deploys\":%d,\"seconds\":%.3f,\"succeeded\":%d,"
      "\"lag_p50_ms\":%.3f,\"lag_p99_ms\":%.3f,\"lag_max_ms\":%.3f}\n",
      deploys, seconds, succeeded, percentile(lag_ms, 0.50), percentile(lag_ms, 0.99),
      percentile(lag_ms, 1.0));
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  return succeeded == deploys && verify.ok ? 0 : 1;
}
