// A CI system that runs a pipeline for Shipmate: GitHub Actions, GitLab CI, Jenkins.
//
// Contract
// - Threading: every member is called on the event-loop thread; coroutines run on the executor the
//   provider was built with (its ApiClient's). Nothing blocks that thread.
// - trigger() starts exactly one run or fails without starting any (a failed trigger may be retried
//   by the caller). It returns once the provider has named the run (GitHub: the run id found by
//   correlation; Jenkins: the build number behind the queue item), so the handle can be stored and
//   followed after a restart.
// - status() is one poll. Providers poll politely: ETags / conditional requests where the API has
//   them, and the caller's back-off between polls (follow_ci_run below).
// - Errors are one line that names the provider and the step ("GitLab: create pipeline for
//   group/api: credentials rejected (401)"). An expected failure of the run itself (a failed job)
//   is not an Error: it is a CiRunStatus with state `failed` and a detail line.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "common/result.h"

namespace shipmate {
class Timers;
}

namespace shipmate::integrations {

struct CiRunRequest {
  std::string service;
  std::string environment;
  std::string version;  // the version being deployed (a tag, a sha, an image tag)
  std::string ref;      // git ref the pipeline runs on; providers default it from their config
  std::map<std::string, std::string> inputs;  // workflow inputs / pipeline variables / parameters
  // Unique per Shipmate deploy ("shipmate-42-1700000000"); passed to the pipeline as an input so a
  // run can be correlated when the API does not say which run a trigger started.
  std::string correlation_id;
};

enum class CiRunState { queued, running, succeeded, failed, cancelled, timed_out };
std::string_view to_string(CiRunState state);
inline bool is_finished(CiRunState state) {
  return state != CiRunState::queued && state != CiRunState::running;
}

struct CiRunHandle {
  std::string id;   // provider-specific: run id, pipeline id, "queue:<n>" / build number
  std::string url;  // where a person can read the logs
};

struct CiRunStatus {
  CiRunState state = CiRunState::queued;
  std::string detail;  // one line: "job deploy failed at step 'kubectl apply'", "in progress"
  std::string url;     // logs / console link
};

class CiProvider {
 public:
  virtual ~CiProvider() = default;
  virtual std::string kind() const = 0;  // "github", "gitlab", "jenkins"
  // Config-level problems found without calling the network (missing token, empty workflow).
  virtual Status validate() const = 0;
  virtual boost::asio::awaitable<Result<CiRunHandle>> trigger(CiRunRequest request) = 0;
  virtual boost::asio::awaitable<Result<CiRunStatus>> status(CiRunHandle handle) = 0;
  virtual boost::asio::awaitable<Status> cancel(CiRunHandle handle) = 0;
  // For `shipmate doctor`: one read-only call that only succeeds when the provider accepts the
  // configured credentials for what Shipmate will trigger; answers what it read ("repository
  // acme/api") or the refusal as an error. Nothing is triggered or changed.
  virtual boost::asio::awaitable<Result<std::string>> check_access() = 0;
};

// Fills "{version}", "{environment}", "{service}" and "{correlation_id}" in a configured input,
// variable or parameter from `request`; anything else is kept as written.
std::string fill_ci_template(std::string_view text, const CiRunRequest& request);
// What a run for `request` is given, from a provider's configured templates (GitHub workflow
// inputs, GitLab pipeline variables, Jenkins build parameters): every template filled in by
// fill_ci_template, then the request's own inputs on top (they win over a template of the same
// name). Providers add only what is theirs alone (GitHub: its correlation input).
std::map<std::string, std::string> merge_ci_inputs(
    const std::map<std::string, std::string>& templates, const CiRunRequest& request);
// The first "{word}" in `text` that fill_ci_template does not know (with its braces), or "".
// Non-word braces ("{ a: 1 }") are not placeholders and are ignored.
std::string unknown_ci_placeholder(std::string_view text);

struct FollowOptions {
  std::chrono::milliseconds first_poll{1000};
  std::chrono::milliseconds max_poll{15000};             // polls back off by 1.5x up to this
  std::chrono::milliseconds deadline{60LL * 60 * 1000};  // then timed_out, and the run is cancelled
  int max_consecutive_errors = 5;  // poll errors in a row before giving up (returned as Error)
  // Where the waits between polls happen (common/timer.h); null: a SteadyTimers of the follow's
  // own. A wait that ends cancelled stops the follow with an Error ("stopped following ...").
  // The deadline counts real time or the time these Timers slept, whichever is more, so with
  // ManualTimers a test moves past it by advancing manual time. Not owned.
  Timers* timers = nullptr;
};

// Polls `handle` until the run finishes, reporting each change of state or detail through
// `progress`. Returns the final status; a run still unfinished at the deadline is cancelled and
// reported as timed_out.
boost::asio::awaitable<Result<CiRunStatus>> follow_ci_run(
    CiProvider& provider, CiRunHandle handle, FollowOptions options,
    std::function<void(const CiRunStatus&)> progress);

}  // namespace shipmate::integrations
