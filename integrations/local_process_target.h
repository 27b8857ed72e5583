// The local-process target: Shipmate's embedded default for running services.
//
// Each version of a service is a release directory `<releases>/<version>/`. A deploy starts the
// release's command as a child process on a private loopback port, health-checks it (HTTP GET or
// a command, with timeout and retries), then points the environment's public port at it and
// stops the previous process. The public port is served by a small TCP forwarder inside
// Shipmate, so switching versions drops no connection attempts. A failed health check stops the
// new process and leaves the old one serving.
//
// Contract
// - Processes run in their own process group with their output appended to
//   `<state_dir>/<service>/<env>/logs/<version>.log`; they receive SIGTERM if Shipmate dies
//   (PR_SET_PDEATHSIG) and are stopped by shutdown(): SIGTERM, then SIGKILL after the grace time.
//   A second signal ends Shipmate without shutdown(); its groups then get SIGKILL at once
//   (ChildProcess::kill_all_now), so a release that ignores SIGTERM does not outlive it.
// - Versions must match [A-Za-z0-9._-]+ and not start with '.', so a version never escapes the
//   releases directory.
// - The current release of each environment is recorded on disk (`current` symlink) so that
//   restore() can bring it back after a restart.
// - Threading as in deploy_target.h.
//
// Progressive delivery (supports_traffic_split() is true)
// - start_candidate() starts and health-checks the release exactly as apply() does, on its own
//   private port, but leaves every connection on the stable version. Its outcome's endpoint is
//   the candidate's private address ("http://127.0.0.1:<private port>"), so checks can probe the
//   candidate alone. It needs a stable version serving the environment (otherwise use apply()),
//   refuses a second candidate, and a failed health check stops the candidate and changes nothing.
// - set_candidate_weight() moves a share of NEW connections through the forwarder (smooth
//   weighted round-robin, see tcp_forwarder.h: exact, not random). Open connections stay where
//   they are. Raising the weight of a candidate that has exited is refused; 0 is always allowed.
// - promote_candidate() records the candidate as `current` (what restore() brings back), routes
//   everything to it and stops the old stable process. abort_candidate() routes everything back to
//   stable and stops the candidate; with no candidate it is a successful no-op.
// - Blue-green is the same calls with one switch: start_candidate, weight 100, promote. The old
//   version keeps running until promote, so weight 0 (or abort) switches back at once.
// - A candidate is never recorded on disk: after a restart restore() brings back only the stable
//   version (the candidate died with Shipmate through PR_SET_PDEATHSIG).
// - While a candidate runs, apply() is refused (promote or abort first); roll_back() aborts the
//   candidate first and then rolls back, because a rollback must not wait for anyone.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "integrations/deploy_target.h"

namespace shipmate::integrations {

struct HealthCheckConfig {
  std::string http_path;             // e.g. "/health"; used when non-empty
  std::vector<std::string> command;  // argv run in the release directory; used when http is empty
  std::chrono::milliseconds timeout{2000};
  int retries = 5;  // attempts before giving up
  std::chrono::milliseconds interval{500};
};

struct LocalEnvironmentConfig {
  int port = 0;  // public loopback port served by the forwarder
};

struct LocalTargetConfig {
  std::string service;
  std::string releases_dir;  // absolute
  std::string state_dir;     // absolute; per-service state lives below it
  // argv; "{port}", "{version}", "{env}" and "{service}" are substituted in each element.
  std::vector<std::string> start_command;
  std::map<std::string, std::string> env;  // extra environment variables for the process
  HealthCheckConfig health;
  std::map<std::string, LocalEnvironmentConfig> environments;  // by environment name
  std::chrono::milliseconds stop_grace{5000};
};

std::unique_ptr<DeployTarget> make_local_process_target(boost::asio::any_io_executor executor,
                                                        LocalTargetConfig config);

}  // namespace shipmate::integrations
