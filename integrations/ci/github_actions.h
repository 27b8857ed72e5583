// GitHub Actions as a CiProvider (workflow_dispatch runs), and GitHub Deployments.
//
// Contract
// - Threading: like every CiProvider, members are called on the event-loop thread; coroutines run
//   on the HttpClient's executor. The HttpClient is borrowed and must outlive these objects.
// - What the workflow must look like: it declares `on: workflow_dispatch` with an input for every
//   entry of GithubActionsConfig::inputs plus the correlation input (`shipmate_id` by default),
//   and its `run-name:` includes that input, e.g.
//       run-name: "Deploy ${{ inputs.version }} to ${{ inputs.environment }} [${{
//       inputs.shipmate_id }}]"
//   GitHub (since 2026-02) names the run a dispatch started when asked (`return_run_details`);
//   older servers (GHES 3.20 and before) answer 204 without it, and then the only way to find the
//   run is to list recent workflow_dispatch runs and look for the correlation id in their title,
//   which is what `run-name` provides (the REST run object does not carry the inputs).
// - trigger() asks for the run details; on 400 (a server that does not know the field) it sends
//   the dispatch once more without it and correlates. It returns once the run id is known.
// - status() sends If-None-Match with the ETag of the previous answer for the same run; a 304
//   reuses the cached status (and does not count against GitHub's rate limit). A failed run's
//   detail names the first failed job and step (one extra call, made once per run).
// - cancel() treats 409 (the run already finished) as success.
// - Rate limits: 429 and Retry-After are retried by ApiClient. A 403 whose x-ratelimit-remaining
//   is 0 (or that carries Retry-After: a secondary limit) waits for the reset when it is at most
//   `max_rate_limit_wait` away, once, and otherwise fails saying when the limit resets.
// - Errors are one line naming GitHub, the step and the repository, with a hint for the usual
//   mistakes (wrong workflow file, no workflow_dispatch trigger, undeclared inputs). The token is
//   registered with redact() and never appears in them.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "common/result.h"
#include "integrations/ci_provider.h"
#include "integrations/net/api_client.h"
#include "integrations/net/http_client.h"

namespace shipmate::integrations {

struct GithubActionsConfig {
  std::string api_url = "https://api.github.com";  // GHES: "https://ghe.example.com/api/v3"
  std::string owner;
  std::string repo;
  std::string workflow;      // file name in .github/workflows ("deploy.yml") or the numeric id
  std::string ref = "main";  // used when the CiRunRequest names no ref
  std::string token;         // the secret value, already resolved
  // Workflow input name -> template; {version}, {environment}, {service} and {correlation_id} are
  // replaced. Inputs in the CiRunRequest are added on top. All values are sent as strings.
  std::map<std::string, std::string> inputs;
  // The input that carries CiRunRequest::correlation_id. Empty: not sent (then a server that does
  // not return run details cannot be correlated, and trigger() fails saying so).
  std::string correlation_input = "shipmate_id";

  FollowOptions follow;  // how the deploy flow polls runs of this workflow

  // Correlation when the dispatch answer names no run: list runs created since the dispatch
  // (minus `created_slack`, for clock skew) up to `correlation_attempts` times, waiting
  // `correlation_first_wait` and then 1.5x longer each time.
  bool request_run_details = true;
  int correlation_attempts = 8;
  std::chrono::milliseconds correlation_first_wait{1000};
  std::chrono::milliseconds created_slack{std::chrono::minutes(2)};

  std::chrono::milliseconds max_rate_limit_wait{std::chrono::seconds(60)};
  net::RetryPolicy retry;
  std::chrono::milliseconds timeout{15000};  // per HTTP attempt
};

class GithubActions final : public CiProvider {
 public:
  GithubActions(net::HttpClient& http, GithubActionsConfig config);
  ~GithubActions() override;

  std::string kind() const override { return "github"; }
  Status validate() const override;
  boost::asio::awaitable<Result<CiRunHandle>> trigger(CiRunRequest request) override;
  boost::asio::awaitable<Result<CiRunStatus>> status(CiRunHandle handle) override;
  boost::asio::awaitable<Status> cancel(CiRunHandle handle) override;
  boost::asio::awaitable<Result<std::string>> check_access() override;

  const GithubActionsConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The workflow inputs a dispatch for `request` sends: merge_ci_inputs() of the configured inputs,
// plus the correlation input (GitHub's own: its REST API does not say which run a dispatch
// started).
std::map<std::string, std::string> github_workflow_inputs(const GithubActionsConfig& config,
                                                          const CiRunRequest& request);

// ---- GitHub Deployments: the "Environments" view of a repository shows Shipmate's deploys. ----

enum class GithubDeploymentState {
  queued,
  pending,
  in_progress,
  success,
  failure,
  error,
  inactive
};
std::string_view to_string(GithubDeploymentState state);

struct GithubDeploymentRequest {
  std::string ref;  // a branch, tag or sha that exists in the repository (422 otherwise)
  std::string environment;
  std::string description;
  std::string shipmate_deploy_id;              // stored in the deployment's payload
  std::map<std::string, std::string> payload;  // more payload fields
  std::string task = "deploy";
  bool transient_environment = false;
  // GitHub's default: true when the environment is named "production".
  std::optional<bool> production_environment = {};
};

struct GithubDeploymentStatus {
  GithubDeploymentState state = GithubDeploymentState::in_progress;
  std::string log_url;          // where the deploy's log is (Shipmate's status, the CI run)
  std::string environment_url;  // where the deployed service answers
  std::string description;      // cut to GitHub's 140 characters
};

// Contract: as GithubActions (same config; only api_url, owner, repo, token, retry, timeout and
// max_rate_limit_wait are used). Deployments are created with auto_merge false and no required
// contexts, so GitHub never refuses or merges instead of recording the deploy; a 202 (GitHub
// merged the base branch instead) is reported as an error anyway.
class GithubDeployments {
 public:
  GithubDeployments(net::HttpClient& http, GithubActionsConfig config);
  ~GithubDeployments();

  // The new deployment's id.
  boost::asio::awaitable<Result<std::int64_t>> create(GithubDeploymentRequest request);
  boost::asio::awaitable<Status> set_status(std::int64_t deployment_id,
                                            GithubDeploymentStatus status);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shipmate::integrations
