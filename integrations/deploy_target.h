// Where a service runs: the interface every deploy target implements (local processes,
// Kubernetes, Argo CD, and CI pipelines; bot/target_kinds.h lists them).
//
// Contract
// - One DeployTarget instance serves one service across all of its environments.
// - Threading: every member is called on the event-loop thread; coroutines run on the executor
//   the target was built with. A target never blocks that thread for longer than a syscall.
// - apply() either finishes with the new version serving (ok) or leaves the previous version
//   serving and says why (not ok). It never throws for expected failures (a release that does not
//   exist, a failed health check, a port in use); those come back as ApplyOutcome messages.
// - Progress callbacks are short human-readable lines ("starting v2", "health check 2/5 ...").
//   Each becomes a chat message in the deploy's thread, and chat platforms take about one
//   message a second per channel, so a probe retried every 100 ms must not report every attempt
//   (the outcome would queue behind dozens of lines): report_attempt() says which to report.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "common/result.h"

namespace shipmate::integrations {

using ProgressFn = std::function<void(const std::string&)>;

// Whether failed attempt `attempt` (1-based) of a retried check is worth a progress line, given
// its `problem` and the problem of the last attempt reported (empty when none was): the first
// attempt, each power of two (2, 4, 8, ...), and any attempt whose problem differs from the last
// one reported. A hundred attempts refused the same way make seven lines, and a change of
// cause ("connection refused" becoming "HTTP 500") is always seen.
bool report_attempt(int attempt, std::string_view problem, std::string_view last_reported);

struct ApplyOutcome {
  bool ok = false;
  std::string message;   // one line: what happened, or why it failed
  std::string endpoint;  // where the version serves, when ok (e.g. "http://127.0.0.1:8081")
};

class DeployTarget {
 public:
  virtual ~DeployTarget() = default;

  virtual std::string kind() const = 0;
  // Checks that `version` can be deployed to `environment` (syntax, release present) without
  // touching anything.
  virtual Status validate(const std::string& environment, const std::string& version) const = 0;
  // Versions the target knows how to deploy, oldest first; empty when it cannot tell.
  virtual std::vector<std::string> available_versions() const = 0;
  // What is serving now according to the target itself.
  virtual std::optional<std::string> current_version(const std::string& environment) const = 0;
  // When `version` was committed, if the release says (DORA lead time); nullopt otherwise.
  virtual std::optional<long long> commit_time(const std::string& version) const {
    (void)version;
    return std::nullopt;
  }
  // The commit a release was built from, when the release names it (the local target's RELEASE
  // file: `commit=<sha>`); release notes then need no tag or branch lookup.
  virtual std::optional<std::string> release_commit(const std::string& version) const {
    (void)version;
    return std::nullopt;
  }
  // One line describing the running state ("v2 at http://127.0.0.1:8081, pid 4242, up 3 min").
  virtual std::string describe(const std::string& environment) const = 0;

  // Brings `version` up in `environment`, verifies it, and switches traffic to it.
  virtual boost::asio::awaitable<ApplyOutcome> apply(std::string environment, std::string version,
                                                     ProgressFn progress) = 0;
  // Returns `environment` to `version`, a release that served before. The local target treats
  // this as an apply of the old release; cluster targets restore the previous revision.
  virtual boost::asio::awaitable<ApplyOutcome> roll_back(std::string environment,
                                                         std::string version,
                                                         ProgressFn progress) = 0;
  // Progressive delivery (canary and blue-green). The deploy flow drives the steps, bakes and
  // metric checks; the target only moves traffic. A target that cannot split traffic answers
  // false and the flow falls back to apply() (rolling).
  //  - start_candidate: bring `version` up and healthy beside the serving (stable) version, with
  //    no traffic yet. Not ok leaves the stable version serving everything.
  //  - set_candidate_weight: send `percent` (0..100) of new traffic to the candidate.
  //  - promote_candidate: the candidate becomes the stable version (100%) and the old one stops.
  //  - abort_candidate: all traffic back to the stable version and the candidate stops.
  // At most one candidate per environment; describe() mentions it and its weight.
  virtual bool supports_traffic_split() const { return false; }
  virtual boost::asio::awaitable<ApplyOutcome> start_candidate(std::string environment,
                                                               std::string version,
                                                               ProgressFn progress);
  virtual boost::asio::awaitable<ApplyOutcome> set_candidate_weight(std::string environment,
                                                                    int percent);
  virtual boost::asio::awaitable<ApplyOutcome> promote_candidate(std::string environment);
  virtual boost::asio::awaitable<ApplyOutcome> abort_candidate(std::string environment);

  // For `shipmate doctor`: read-only calls that only succeed when the target's system accepts
  // the credentials it holds (Kubernetes: read the Deployment in each namespace); answers what it
  // read, or the refusal as an error. A target with no remote system answers nullopt.
  virtual boost::asio::awaitable<Result<std::optional<std::string>>> check_access();

  // Brings back what was serving before Shipmate last stopped (a supervisor's restart). Returns
  // one outcome per environment that had a current version.
  virtual boost::asio::awaitable<std::vector<ApplyOutcome>> restore() = 0;
  // Stops everything this target started. Idempotent.
  virtual boost::asio::awaitable<void> shutdown() = 0;
};

inline boost::asio::awaitable<Result<std::optional<std::string>>> DeployTarget::check_access() {
  co_return std::optional<std::string>();
}

// The defaults for targets without traffic splitting: each says so.
inline boost::asio::awaitable<ApplyOutcome> DeployTarget::start_candidate(std::string environment,
                                                                          std::string version,
                                                                          ProgressFn progress) {
  (void)environment, (void)version, (void)progress;
  co_return ApplyOutcome{false, kind() + " target cannot split traffic", {}};
}
inline boost::asio::awaitable<ApplyOutcome> DeployTarget::set_candidate_weight(
    std::string environment, int percent) {
  (void)environment, (void)percent;
  co_return ApplyOutcome{false, kind() + " target cannot split traffic", {}};
}
inline boost::asio::awaitable<ApplyOutcome> DeployTarget::promote_candidate(
    std::string environment) {
  (void)environment;
  co_return ApplyOutcome{false, kind() + " target cannot split traffic", {}};
}
inline boost::asio::awaitable<ApplyOutcome> DeployTarget::abort_candidate(std::string environment) {
  (void)environment;
  co_return ApplyOutcome{false, kind() + " target cannot split traffic", {}};
}

}  // namespace shipmate::integrations
