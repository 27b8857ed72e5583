// The operations endpoints: /healthz, /readyz and /metrics for probes and scrapers.
//
// Contract
// - Mounted on an integrations/net HttpServer chosen by bot/listeners.h: the shared http:
//   listener when the configuration has one and `ops:` names no address of its own, otherwise a
//   listener at ops' own address (`listen:`, or the deprecated bind/port; default
//   127.0.0.1:9464), so probes can keep a port of their own. Off unless the configuration has an
//   `ops:` section.
// - Threading: mounted, served and stopped on the event loop. Handlers call the probes there, so
//   an answer at all proves the loop turns; the probes must be quick and must not block.
// - Routes (GET only; other methods get 405 from the server, unknown paths 404):
//     /healthz  decide_liveness() as JSON (bot/ops_health.h), 200 or 503;
//     /readyz   decide_readiness() as JSON, 200 or 503, the failing check named;
//     /metrics  the probes' `metrics` text, Content-Type text/plain; version=0.0.4 (the
//               Prometheus text exposition format); 404 while no metrics probe is set.
//   Every answer carries Cache-Control: no-store. Request bodies are refused over 1 KiB and must
//   arrive within 5 s; at most 16 requests of each route run at once (503 beyond).
// - Errors: mounting fails when another owner already serves one of the paths; a listener that
//   cannot start fails with its one-line reason ("ops http: 127.0.0.1:9464 is already in use by
//   another process"); the App exits with status 2.
// - Lifetime: the routes stay until the App closes its listeners, once draining is over.
#pragma once

#include <functional>
#include <string>

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

Status mount_ops_routes(integrations::net::HttpServer& server, OpsProbes probes);

}  // namespace shipmate::bot
