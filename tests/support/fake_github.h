// FakeGithub: the parts of GitHub's REST API that Shipmate uses (Actions workflow_dispatch, runs,
// jobs, cancel; Deployments and their statuses), on a FakeHttpServer, with GitHub's JSON shapes,
// status codes, ETags and rate-limit headers.
//
// Contract
// - Serves one repository (options.owner/options.repo); other repositories answer 404 as GitHub
//   does for repositories a token cannot see. Every request needs `Authorization: Bearer <token>`
//   (or `token <token>`) and a User-Agent.
// - A dispatch validates the workflow (known by file name or id, has workflow_dispatch), the ref
//   (when options.refs is set) and the inputs against the declared ones, then creates a run whose
//   display_title is the workflow's run-name with ${{ inputs.X }} filled in. Runs move by wall
//   clock: queued for `queued_for`, in_progress for `running_for`, then completed with the outcome
//   planned for that run (success unless a test planned otherwise).
// - Run GETs carry an ETag; a matching If-None-Match answers 304 with no body and does not use
//   rate limit.
// - Injected faults (fail_next, rate_limit_next, delay_next) apply to the next requests that
//   reach the handler, in order, before any other processing (auth included).
// - Thread safety: the handler runs on the server thread; every public member may be called from
//   the test's thread at any time.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/fake_http_server.h"

namespace shipmate::testing {

struct FakeWorkflowInput {
  std::string name;
  bool required = false;
  std::string default_value = {};
};

struct FakeWorkflowJob {
  std::string name;
  std::vector<std::string> steps;
};

struct FakeWorkflow {
  std::int64_t id = 0;  // 0: the fake assigns one
  std::string file;     // "deploy.yml" (under .github/workflows)
  std::string name = "Deploy";
  // `run-name:` of the workflow; ${{ inputs.X }} is filled in. Empty: the title is `name`.
  std::string run_name = {};
  bool dispatchable = true;  // has `on: workflow_dispatch`
  std::vector<FakeWorkflowInput> inputs = {};
  std::vector<FakeWorkflowJob> jobs = {};  // empty: job "deploy" with four steps
};

// How a dispatch answers `return_run_details: true`.
enum class FakeRunDetails {
  returned,  // github.com since 2026-02: 200 with workflow_run_id, run_url, html_url
  ignored,   // 204 whatever was asked: the caller has to find the run itself
  rejected,  // GHES 3.20 and older: 400 for the unknown field
};

struct FakeGithubOptions {
  bool tls = false;
  std::string token = "ghp_fakeTokenFor0Tests9Only";
  std::string owner = "acme";
  std::string repo = "shop";
  std::vector<FakeWorkflow> workflows =
      {};  // empty: deploy.yml with version/environment/shipmate_id
  FakeRunDetails run_details = FakeRunDetails::returned;
  std::chrono::milliseconds queued_for{20};
  std::chrono::milliseconds running_for{60};
  // A new run is invisible (lists and GETs) for this long: GitHub creates runs asynchronously.
  std::chrono::milliseconds run_visible_after{0};
  std::vector<std::string> refs = {};  // known branches/tags; empty: every ref exists
  // A deployment request with auto_merge true (GitHub's default) answers 202 "Auto-merged ...".
  bool deployments_auto_merge = false;
  // A git repository (built by the test) behind /commits/{ref} and /compare/{base}...{head};
  // empty: those answer 404 (fake_github_git.h).
  std::string git_dir = {};
};

// What a planned run does instead of succeeding.
struct FakeRunPlan {
  std::string conclusion = "success";  // failure, cancelled, timed_out, startup_failure, ...
  std::string failed_job = {};         // failure: this job fails ...
  std::string failed_step = {};        // ... at this step
  bool stuck = false;                  // stays in_progress until cancelled
};

struct FakeRun {
  std::int64_t id = 0;
  std::int64_t workflow_id = 0;
  std::string workflow_file;
  std::int64_t run_number = 0;
  std::string ref;
  std::map<std::string, std::string> inputs;
  std::string display_title;
  std::string status;      // at the time of the call
  std::string conclusion;  // "" while not completed
  bool cancel_requested = false;
};

struct FakeDeploymentStatus {
  std::int64_t id = 0;
  std::string state;
  std::string description;
  std::string environment;
  std::string log_url;
  std::string environment_url;
};

struct FakeDeployment {
  std::int64_t id = 0;
  std::string ref;
  std::string sha;
  std::string task;
  std::string environment;
  std::string description;
  std::string payload_json;  // as stored: an object or a string
  bool auto_merge = true;
  bool transient_environment = false;
  bool production_environment = false;  // defaults to environment == "production"
  std::string required_contexts_json;   // "" when not sent (GitHub then checks every context)
  std::vector<FakeDeploymentStatus> statuses;  // oldest first
};

enum class FakeRateLimit {
  primary_403,    // 403, x-ratelimit-remaining: 0, x-ratelimit-reset
  secondary_403,  // 403 with Retry-After
  too_many_429,   // 429 with Retry-After
};

class FakeGithub {
 public:
  explicit FakeGithub(FakeGithubOptions options = {});
  ~FakeGithub();
  FakeGithub(const FakeGithub&) = delete;
  FakeGithub& operator=(const FakeGithub&) = delete;

  std::string base_url() const;  // the api_url a client uses
  std::string ca_path() const;   // empty unless tls
  const FakeGithubOptions& options() const;

  // The next dispatched runs follow these plans, in order.
  void plan_next_run(FakeRunPlan plan);
  void next_run_fails(std::string job, std::string step);
  void next_run_sticks();

  // The next `count` requests whose path starts with `path_prefix` answer `status`.
  void fail_next(int count, int status = 500, std::string path_prefix = "");
  // The next request answers with a rate limit. `seconds`: until the reset (primary) or the
  // Retry-After value (secondary, 429); may be 0 or negative for a reset already past.
  void rate_limit_next(FakeRateLimit kind, int seconds);
  // The next request's answer is held back this long.
  void delay_next(std::chrono::milliseconds delay);

  std::vector<FakeRun> runs() const;
  std::vector<FakeDeployment> deployments() const;  // oldest first
  int not_modified_answers() const;                 // 304s sent for If-None-Match

  std::vector<FakeRequest> requests() const;
  std::vector<FakeRequest> requests_to(std::string_view method, std::string_view path_prefix) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::unique_ptr<FakeHttpServer> server_;
};

}  // namespace shipmate::testing
