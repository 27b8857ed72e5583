// The operations listener: /healthz, /readyz and /metrics for probes and scrapers.
//
// Contract
// - One integrations/net HttpServer of its own (`ops:` in the configuration: bind address,
//   default 127.0.0.1, and port), so probes and scrapes never share a port, a body limit or a
//   failure with a chat platform's webhooks. Off unless the configuration has an `ops:` section.
// - Threading: built, served and stopped on the event loop. Handlers call the probes there, so an
//   answer at all proves the loop turns; the probes must be quick and must not block.
// - Routes (GET only; other methods get 405 from the server, unknown paths 404):
//     /healthz  decide_liveness() as JSON (bot/ops_health.h), 200 or 503;
//     /readyz   decide_readiness() as JSON, 200 or 503, the failing check named;
//     /metrics  the probes' `metrics` text, Content-Type text/plain; version=0.0.4 (the
//               Prometheus text exposition format); 404 while no metrics probe is set.
//   Every answer carries Cache-Control: no-store. Request bodies are refused over 1 KiB.
// - Errors: start() fails with the server's one-line reason ("ops http: 127.0.0.1:9464 is already
//   in use by another process"); the App exits with status 2.
// - Lifetime: stop() closes the listener (the App does so once draining is over).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "bot/config.h"
#include "bot/ops_health.h"
#include "common/result.h"

namespace shipmate::integrations::net {
class HttpServer;
}

namespace shipmate::bot {

struct OpsProbes {
  std::function<HealthReport()> liveness;
  std::function<HealthReport()> readiness;
  std::function<std::string()> metrics;  // may be empty: no /metrics
};

class OpsServer {
 public:
  static Result<std::unique_ptr<OpsServer>> start(boost::asio::any_io_executor executor,
                                                  const OpsConfig& config, OpsProbes probes);
  ~OpsServer();
  OpsServer(const OpsServer&) = delete;
  OpsServer& operator=(const OpsServer&) = delete;

  int port() const;
  void stop();

 private:
  OpsServer() = default;
  std::unique_ptr<integrations::net::HttpServer> server_;
  std::shared_ptr<OpsProbes> probes_;
};

}  // namespace shipmate::bot
