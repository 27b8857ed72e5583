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
// - Versions must match [A-Za-z0-9._-]+ and not start with '.', so a version never escapes the
//   releases directory.
// - The current release of each environment is recorded on disk (`current` symlink) so that
//   restore() can bring it back after a restart.
// - Threading as in deploy_target.h.
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
