// `shipmate doctor`: does what the configuration names answer, and accept its credentials?
//
// check-config proves a file is well formed; doctor goes out on the network and proves that a
// deployment's credentials work, one line per check:
//   ok    slack bot token: auth.test accepted it (team T0123, bot shipmate)
//   FAIL  kubernetes (service api): Kubernetes: read deployment api/api: HTTP 401 ...
//   skip  teams: not configured (no MicrosoftAppId)
//
// Contract
// - Checks, in this order, each only when configured: the Slack bot token (auth.test) and app
//   token (apps.connections.open, which only issues a Socket Mode URL), the Teams app's
//   credentials (a connector token from the login endpoint), every service's deploy target
//   (DeployTarget::check_access(): Kubernetes reads each Deployment, Argo CD each Application;
//   targets with no remote system are not listed), every CI build provider
//   (CiProvider::check_access(): the workflow, project or job Shipmate triggers), and Prometheus
//   (an instant query of vector(1)).
// - Read-only: nothing is deployed, triggered, posted or written, and the database is not opened
//   (a running Shipmate holds it).
// - Each check has its own deadline (`timeout`); a check that runs out fails with "no answer
//   within N s". Checks run one after another on a private event loop.
// - Errors and details pass through redact(): a secret never reaches the output.
// - Exit status of run_doctor(): 0 when nothing failed (skips do not fail), 1 when a check
//   failed, 2 when the integrations cannot even be built (the configuration is unusable).
#pragma once

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "bot/config.h"

namespace shipmate::bot {

struct DoctorCheck {
  enum class Verdict { ok, failed, skipped };
  std::string name;  // "slack bot token", "kubernetes (service api)"
  Verdict verdict = Verdict::skipped;
  std::string detail;
  std::string line() const;  // "ok    name: detail"
};

struct DoctorOptions {
  // Where SLACK_*, MicrosoftApp* and friends are read (the process environment in the product).
  std::function<std::string(const char* name)> environment;
  std::chrono::milliseconds timeout{10'000};
};

// Runs every check; an Error when the integrations cannot be built at all.
Result<std::vector<DoctorCheck>> run_doctor_checks(const Config& config,
                                                   const DoctorOptions& options);

// Prints one line per check to `out` and answers the exit status described above.
int run_doctor(const Config& config, std::FILE* out);

}  // namespace shipmate::bot
