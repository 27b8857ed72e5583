// The real Prometheus server (Debian's `prometheus` package) as a test fixture, scraping an
// exporter whose values the test sets.
//
// Contract
// - RealPrometheus::find_binary() names the executable: $SHIPMATE_PROMETHEUS when set, else
//   /usr/bin/prometheus; "" when there is none (tests then GTEST_SKIP, saying so).
// - start() writes a config into a fresh TempDir (scrape_interval as given, 200 ms by default,
//   every target at /metrics), starts prometheus on a free loopback port with its TSDB in that
//   directory, quiet logs (warn) and its output in <dir>/prometheus.log, and returns once
//   /-/ready answers 200. A failure is an Error with the tail of that log.
// - Prometheus 2.x hands new scrape targets to the scrape manager on a fixed 5 s tick, so the first
//   sample lands about 5 s after start whatever the scrape interval; later changes land within a
//   scrape interval. Use wait_for_value() instead of sleeping. A test that needs no scraped data
//   (missing series, bad PromQL, constant expressions) pays only the ~0.2 s start.
// - The process can never outlive the test: it is started with PR_SET_PDEATHSIG (it gets SIGTERM
//   if the test process dies) in its own process group, and the destructor sends SIGTERM, then
//   SIGKILL after 3 s, and reaps it before removing the directory.
// - MetricsExporter is a FakeHttpServer serving GET /metrics in the Prometheus text exposition
//   format (version 0.0.4). Thread-safe; each set() is visible to the next scrape.
// - Threading: use a RealPrometheus from one thread (the test's). wait_for_value() blocks.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "tests/support/fake_http_server.h"

namespace shipmate::integrations {
class ChildProcess;
}

namespace shipmate::testing {

class TempDir;

class MetricsExporter {
 public:
  MetricsExporter();
  ~MetricsExporter();
  MetricsExporter(const MetricsExporter&) = delete;
  MetricsExporter& operator=(const MetricsExporter&) = delete;

  // `series` in exposition syntax: a name, optionally with labels:
  //   shipmate_test_error_ratio{version="v2"}
  void set(const std::string& series, double value);
  void remove(const std::string& series);

  std::string target() const;  // "127.0.0.1:PORT", as a scrape target
  std::size_t scrapes() const;
  std::string exposition() const;  // what /metrics answers now

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::unique_ptr<FakeHttpServer> server_;
};

class RealPrometheus {
 public:
  struct Options {
    std::vector<std::string> targets;  // "host:port" scraped at /metrics
    std::chrono::milliseconds scrape_interval{200};
    std::chrono::milliseconds ready_timeout{20000};
  };

  static std::string find_binary();
  static Result<std::unique_ptr<RealPrometheus>> start(Options options);

  ~RealPrometheus();
  RealPrometheus(const RealPrometheus&) = delete;
  RealPrometheus& operator=(const RealPrometheus&) = delete;

  std::string base_url() const;  // "http://127.0.0.1:PORT"
  int port() const { return port_; }
  int pid() const;
  std::string log() const;  // what prometheus wrote so far

  // Polls the instant query API (every 50 ms) until one sample of `query`'s result satisfies
  // `predicate`, and returns that value; nullopt when `timeout` passes first.
  std::optional<double> wait_for_value(const std::string& query,
                                       const std::function<bool(double)>& predicate,
                                       std::chrono::milliseconds timeout);

 private:
  RealPrometheus() = default;

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<integrations::ChildProcess> process_;
  int port_ = 0;
};

}  // namespace shipmate::testing
