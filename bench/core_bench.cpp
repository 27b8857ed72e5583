// Benchmarks of the paths every command takes, measured without sockets:
// tokenizing and binding arguments, routing a command end to end through the Router, and
// appending to the hash-chained audit log (one record per transaction, and batched).
//
// Run: build/bench/shipmate_bench   (see README "Benchmarks" for the numbers on this machine)
#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "bot/router.h"
#include "commands/command_table.h"
#include "commands/deploy_runtime.h"
#include "common/timer.h"
#include "storage/audit_log.h"
#include "storage/deploy_store.h"
#include "storage/lock_store.h"

namespace {

using namespace shipmate;

class NullConversation final : public commands::Conversation {
 public:
  commands::MessageRef post(const commands::Message& message) override {
    bytes += message.text.size();
    return "1";
  }
  void update(const commands::MessageRef&, const commands::Message& message) override {
    bytes += message.text.size();
  }
  void thread_reply(const commands::MessageRef&, const commands::Message& message) override {
    bytes += message.text.size();
  }
  std::string address() const override { return "bench"; }
  std::size_t bytes = 0;
};

void BM_TokenizeAndParse(benchmark::State& state) {
  const auto registry = commands::build_command_table();
  const auto* spec = registry.find("deploy");
  for (auto _ : state) {
    auto tokens =
        commands::tokenize("deploy api v1.4.2 to production --reason \"hotfix for login\"");
    std::vector<commands::Token> args(tokens->begin() + 1, tokens->end());
    auto parsed = commands::CommandRegistry::parse(*spec, args);
    benchmark::DoNotOptimize(parsed);
  }
}
BENCHMARK(BM_TokenizeAndParse);

// A read-only command through the whole Router: strip mention, tokenize, look up, bind, run the
// handler, render a reply.
void BM_RouterDispatch(benchmark::State& state, const char* text) {
  boost::asio::io_context io;
  auto db = storage::Database::open(":memory:");
  SystemClock clock;
  storage::DeployStore deploys(**db, clock);
  storage::LockStore locks(**db, clock);
  storage::AuditLog audit(**db, clock);
  commands::Catalog catalog;
  catalog.environments.push_back({"staging", false, {}});
  catalog.users.push_back({"alice", "Alice", {"admin"}});
  std::map<std::string, std::unique_ptr<integrations::DeployTarget>> targets;
  const auto registry = commands::build_command_table();
  SteadyTimers timers(io.get_executor());
  commands::DeployRuntime runtime(timers);
  commands::Services services{io.get_executor(), catalog, clock,  **db, deploys, locks, audit,
                              targets,           timers,  runtime};
  services.registry = &registry;
  bot::Router router(services, registry, "shipmate");
  NullConversation conversation;
  for (auto _ : state) {
    boost::asio::co_spawn(
        io, router.dispatch(bot::ChatEvent{"bench", "", "alice", "c", "", text}, conversation),
        boost::asio::detached);
    io.run();
    io.restart();
  }
  benchmark::DoNotOptimize(conversation.bytes);
}
// The Slack transport strips its own <@U...> markup before the router sees the text.
BENCHMARK_CAPTURE(BM_RouterDispatch, ping, "shipmate: ping");
BENCHMARK_CAPTURE(BM_RouterDispatch, locks, "@shipmate locks");

void BM_AuditAppend(benchmark::State& state) {
  const std::string path = std::filesystem::temp_directory_path() / "shipmate-bench-audit.db";
  std::filesystem::remove(path);
  {
    auto db = storage::Database::open(path);
    SystemClock clock;
    storage::AuditLog audit(**db, clock);
    const storage::AuditEntry entry{"alice", "deploy.requested", "hello@staging", "ok",
                                    "#12 v1 -> v2 reason: benchmark"};
    const auto batch = static_cast<std::size_t>(state.range(0));
    std::vector<storage::AuditEntry> entries(batch, entry);
    for (auto _ : state) {
      if (batch == 1) {
        audit.append(entry);
      } else {
        audit.append_batch(entries);
      }
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
  }
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
}
BENCHMARK(BM_AuditAppend)->Arg(1)->Arg(100)->Arg(1000);

}  // namespace

int main(int argc, char** argv) {
  // Benchmarks measure the work, not the terminal: logging stays off.
  spdlog::set_level(spdlog::level::off);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
