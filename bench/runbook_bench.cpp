// Runbook runs through the real Router, runbook runner, engine, journal and audit log (SQLite
// file in WAL mode): a 5-step runbook (exec `true`, an HTTP GET against a local server, a notify,
// exec `true` again, a notify), N runs (default 1,000) one at a time, 32 in flight, and all
// started in the same loop turn. Reports the time to drive them all to completion, each run's
// own time, how late a 1 ms probe timer ran on the event loop meanwhile, and the runner's own
// cost per step (engine, two journal transactions, two audit records, the status update)
// measured with a runbook of five notify steps, which do no I/O.
//
// The HTTP server runs on a thread of its own, so its work does not count as the loop's.
//
// Run: build/bench/shipmate_runbook_bench [--runs N] [--in-flight N (32)]
//        [--arrival-us N: the burst's starts spread N us apart (0, default: one loop turn)]
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bot/router.h"
#include "bot/runbook_config.h"
#include "commands/command_table.h"
#include "commands/deploy_runtime.h"
#include "commands/runbook_runner.h"
#include "common/timer.h"
#include "integrations/net/http_client.h"
#include "runbooks/engine.h"
#include "storage/audit_log.h"
#include "storage/deploy_store.h"
#include "storage/lock_store.h"
#include "storage/runbook_store.h"

namespace {

using namespace shipmate;
namespace asio = boost::asio;
namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

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

// A local HTTP server on its own thread: answers every request with a small JSON body.
class LocalServer {
 public:
  LocalServer() : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    asio::co_spawn(io_, accept(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~LocalServer() {
    io_.stop();
    thread_.join();
  }
  int port() const { return acceptor_.local_endpoint().port(); }

 private:
  asio::awaitable<void> accept() {
    while (true) {
      auto socket = co_await acceptor_.async_accept(asio::use_awaitable);
      asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
    }
  }
  static asio::awaitable<void> serve(asio::ip::tcp::socket socket) {
    asio::streambuf buffer;
    const std::string answer =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
        "{\"ok\":true}";
    try {
      while (true) {
        const std::size_t n =
            co_await asio::async_read_until(socket, buffer, "\r\n\r\n", asio::use_awaitable);
        buffer.consume(n);
        co_await asio::async_write(socket, asio::buffer(answer), asio::use_awaitable);
      }
    } catch (const std::exception&) {
      // The client closed the connection.
    }
  }
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

struct Outcome {
  double seconds = 0;          // from the first start to the last run's end
  std::vector<double> run_ms;  // each run's own time, from its command to its end
  int succeeded = 0;
  std::vector<double> lag_ms;
};

// Runs `runs` runs of `runbook`, `in_flight` at a time, through one Router.
Outcome drive(const std::string& runbook, int runs, int in_flight, const fs::path& work, int port,
              int arrival_us = 0) {
  const std::string path = (work / ("bench-" + runbook + ".db")).string();
  for (const auto* suffix : {"", "-wal", "-shm"})
    fs::remove(path + suffix);
  asio::io_context io(1);
  auto db = storage::Database::open(path);
  if (!db) {
    std::fprintf(stderr, "%s\n", db.error().message.c_str());
    std::exit(1);
  }
  SystemClock clock;
  storage::DeployStore store(**db, clock);
  storage::LockStore locks(**db, clock);
  storage::AuditLog audit(**db, clock);
  storage::RunbookStore journal(**db, clock);

  bot::Config config;
  config.path = (work / "shipmate.yaml").string();
  config.catalog.environments.push_back({"staging", false, {}});
  config.catalog.users.push_back({"alice", "Alice", {"admin"}});
  config.runbooks_dir = (work / "runbooks").string();
  std::vector<bot::Diagnostic> diagnostics;
  bot::load_runbooks(config, diagnostics);
  for (const auto& d : diagnostics) {
    if (d.severity == bot::Diagnostic::Severity::error) {
      std::fprintf(stderr, "%s\n", d.to_string().c_str());
      std::exit(1);
    }
  }
  commands::RunbookLibrary library = bot::make_runbook_library(config);

  std::map<std::string, std::unique_ptr<integrations::DeployTarget>> targets;
  const auto registry = commands::build_command_table();
  SteadyTimers timers(io.get_executor());
  commands::DeployRuntime runtime(timers);
  commands::Services services{io.get_executor(), config.catalog, clock,  **db, store, locks, audit,
                              targets,           timers,         runtime};
  services.registry = &registry;
  services.runbooks = &library;
  bot::Router router(services, registry, "shipmate");
  integrations::net::HttpClient http(io.get_executor());
  commands::RunbookPorts ports;
  ports.http = &http;
  ports.work_dir = (work / ("state-" + runbook)).string();
  commands::RunbookRunner runner(services, library, journal, std::move(ports));
  library.set_runner(&runner);
  CountingConversation conversation;

  Outcome result;
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer probe(io);
        while (!done) {
          const auto due = Steady::now() + std::chrono::milliseconds(1);
          probe.expires_at(due);
          co_await probe.async_wait(asio::use_awaitable);
          result.lag_ms.push_back(
              std::chrono::duration<double, std::milli>(Steady::now() - due).count());
        }
      },
      asio::detached);

  int started = 0;
  int finished = 0;
  Steady::time_point last_end;
  const std::string text = "runbook run " + runbook + " port=" + std::to_string(port);
  std::function<void()> launch = [&] {
    if (started == runs)
      return;
    ++started;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          bot::ChatEvent event{"bench", "", "alice", "c", "", text};
          const auto began = Steady::now();
          co_await router.dispatch(std::move(event), conversation);
          const auto ended = Steady::now();
          result.run_ms.push_back(std::chrono::duration<double, std::milli>(ended - began).count());
          if (++finished == runs) {
            done = true;
            last_end = ended;
          } else {
            launch();
          }
        },
        asio::detached);
  };
  const auto begin = Steady::now();
  if (arrival_us == 0) {
    for (int i = 0; i < in_flight && i < runs; ++i)
      launch();
  } else {
    // Runs start over time, as from many people and alerts, not in one instant.
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer pace(io);
          auto next = Steady::now();
          for (int i = 0; i < in_flight && i < runs; ++i) {
            launch();
            next += std::chrono::microseconds(arrival_us);
            pace.expires_at(next);
            co_await pace.async_wait(asio::use_awaitable);
          }
        },
        asio::detached);
  }
  io.run();  // also waits for the HTTP client's idle connections to time out: not counted
  result.seconds = std::chrono::duration<double>(last_end - begin).count();
  auto count = (*db)->prepare("SELECT COUNT(*) FROM runbook_runs WHERE status = 'succeeded'");
  if (count.step())
    result.succeeded = static_cast<int>(count.column_int64(0));
  if (!audit.verify().ok) {
    std::fprintf(stderr, "audit chain broken\n");
    std::exit(1);
  }
  return result;
}

// The engine alone: resume() per step of a 5-step definition, no I/O.
double engine_ns_per_step() {
  runbooks::Definition definition;
  definition.name = "pure";
  for (int i = 0; i < 5; ++i) {
    runbooks::StepSpec step;
    step.name = "s" + std::to_string(i);
    step.kind = runbooks::StepKind::notify;
    step.safety = runbooks::Safety::idempotent;
    definition.steps.push_back(step);
  }
  const int rounds = 200'000;
  std::size_t finished = 0;
  const auto begin = Steady::now();
  for (int r = 0; r < rounds; ++r) {
    runbooks::Engine engine(definition);
    auto action = engine.resume(runbooks::Start{});
    while (std::holds_alternative<runbooks::RunStep>(action))
      action = engine.resume(runbooks::StepSucceeded{});
    finished += std::holds_alternative<runbooks::Finish>(action) ? 1 : 0;
  }
  const double ns = std::chrono::duration<double, std::nano>(Steady::now() - begin).count();
  if (finished != static_cast<std::size_t>(rounds))
    std::exit(1);
  return ns / (rounds * 5.0);
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::off);
  int runs = 1000;
  int in_flight = 32;
  int arrival_us = 0;  // the burst's starts: 0 = all in the same loop turn
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--runs")
      runs = std::max(1, std::atoi(argv[i + 1]));
    if (std::string(argv[i]) == "--in-flight")
      in_flight = std::max(1, std::atoi(argv[i + 1]));
    if (std::string(argv[i]) == "--arrival-us")
      arrival_us = std::max(0, std::atoi(argv[i + 1]));
  }
  const fs::path work =
      fs::temp_directory_path() / ("shipmate-runbook-bench-" + std::to_string(::getpid()));
  fs::create_directories(work / "runbooks");
  std::ofstream(work / "runbooks" / "five.yaml") << R"(runbook: five
params:
  - {name: port, type: int, min: 1, max: 65535}
steps:
  - {name: first, safety: idempotent, exec: ["true"]}
  - {name: call, safety: idempotent, http: "http://127.0.0.1:{port}/ok"}
  - {name: say, notify: "called"}
  - {name: second, safety: idempotent, exec: ["true"]}
  - {name: done, notify: "done"}
)";
  std::ofstream(work / "runbooks" / "quiet.yaml") << R"(runbook: quiet
params:
  - {name: port, type: int}
steps:
  - {name: a, notify: "a"}
  - {name: b, notify: "b"}
  - {name: c, notify: "c"}
  - {name: d, notify: "d"}
  - {name: e, notify: "e"}
)";
  LocalServer server;

  const double engine_ns = engine_ns_per_step();
  const Outcome quiet = drive("quiet", 200, 1, work, server.port());
  const Outcome serial = drive("five", runs, 1, work, server.port());
  const Outcome paced = drive("five", runs, in_flight, work, server.port());
  const Outcome all = drive("five", runs, runs, work, server.port(), arrival_us);
  const Outcome all_quiet = drive("quiet", runs, runs, work, server.port(), arrival_us);

  std::printf("engine alone: %.0f ns per step (resume() of a 5-step run, no I/O)\n", engine_ns);
  std::printf(
      "runner overhead: %.0f us per step (5 notify steps, 1 run in flight: engine, journal of the "
      "step's start and end, two audit records, status update; %d runs)\n",
      quiet.seconds / (200 * 5.0) * 1e6, quiet.succeeded);
  auto report = [&](const char* what, const Outcome& o, int n, int k) {
    std::printf(
        "%s: %d runs, %d in flight: all done in %.3f s (%.0f runs/s); %d succeeded; one run p50 "
        "%.2f ms p99 %.2f ms; loop lag of a 1 ms probe p50 %.3f ms p99 %.3f ms max %.3f ms\n",
        what, n, k, o.seconds, n / o.seconds, o.succeeded, percentile(o.run_ms, 0.5),
        percentile(o.run_ms, 0.99), percentile(o.lag_ms, 0.5), percentile(o.lag_ms, 0.99),
        percentile(o.lag_ms, 1.0));
  };
  std::printf("5-step runs (exec true, http, notify, exec true, notify):\n");
  report("  one at a time", serial, runs, 1);
  report("  paced", paced, runs, in_flight);
  report("  burst, started in one loop turn", all, runs, runs);
  report("  burst of 5 notify steps (no process, no HTTP)", all_quiet, runs, runs);
  std::printf(
      "{\"bench\":\"shipmate_runbooks\",\"runs\":%d,\"one_run_p50_ms\":%.3f,"
      "\"serial_s\":%.3f,\"in_flight\":%d,\"paced_s\":%.3f,\"paced_lag_p99_ms\":%.3f,"
      "\"burst_s\":%.3f,\"burst_lag_p99_ms\":%.3f,\"burst_lag_max_ms\":%.3f,"
      "\"overhead_us_per_step\":%.1f,\"engine_ns_per_step\":%.0f}\n",
      runs, percentile(serial.run_ms, 0.5), serial.seconds, in_flight, paced.seconds,
      percentile(paced.lag_ms, 0.99), all.seconds, percentile(all.lag_ms, 0.99),
      percentile(all.lag_ms, 1.0), quiet.seconds / (200 * 5.0) * 1e6, engine_ns);
  fs::remove_all(work);
  const bool ok = quiet.succeeded == 200 && serial.succeeded == runs && paced.succeeded == runs &&
                  all.succeeded == runs && all_quiet.succeeded == runs;
  return ok ? 0 : 1;
}
