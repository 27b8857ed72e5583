#include "integrations/ci/github_actions.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "common/clock.h"
#include "common/redact.h"
#include "integrations/ci/github_api.h"

namespace shipmate::integrations {
namespace asio = boost::asio;
namespace json = boost::json;
using net::ApiCall;
using net::HttpResponse;

namespace {

using namespace github_detail;

constexpr std::size_t kMaxInputs = 25;  // GitHub's limit on workflow_dispatch inputs
constexpr std::size_t kMaxStatusDescription = 140;

struct RunSummary {
  std::string status;
  std::string conclusion;
  std::string html_url;
  std::int64_t run_number = 0;
};

}  // namespace

std::map<std::string, std::string> github_workflow_inputs(const GithubActionsConfig& config,
                                                          const CiRunRequest& request) {
  std::map<std::string, std::string> inputs = merge_ci_inputs(config.inputs, request);
  if (!config.correlation_input.empty() && !request.correlation_id.empty())
    inputs[config.correlation_input] = request.correlation_id;
  return inputs;
}

// ---- GithubActions ----

struct GithubActions::Impl {
  struct CachedRun {
    std::string etag;
    CiRunStatus status;
  };

  Impl(net::HttpClient& http, GithubActionsConfig config_in)
      : config(std::move(config_in)),
        api(http, config),
        workflow_path(api.repo_path() + "/actions/workflows/" + encode_segment(config.workflow)),
        ask_for_run_details(config.request_run_details) {}

  std::string trigger_step() const {
    return "trigger workflow " + config.workflow + " in " + api.repository();
  }

  Error dispatch_failure(const HttpResponse& response) const {
    const std::string message = server_message(response.body);
    std::string hint;
    if (response.status == 404) {
      hint = "check the workflow file name (" + config.workflow +
             "), that the repository exists and that the token can see it";
    } else if (contains(message, "workflow_dispatch")) {
      hint = "add a workflow_dispatch trigger (on: workflow_dispatch) to " + config.workflow +
             " on the branch being run";
    } else if (contains(message, "Unexpected inputs")) {
      hint = "declare these inputs under on.workflow_dispatch.inputs in " + config.workflow +
             ", or remove them from the service's GitHub inputs";
    } else if (contains(message, "No ref found")) {
      hint = "the ref must be a branch or tag of " + api.repository();
    } else if (contains(message, "Required input")) {
      hint = "give that input a value in the service's GitHub inputs";
    }
    return GithubApi::fail(trigger_step(), response, hint);
  }

  std::string dispatch_body(const std::string& ref,
                            const std::map<std::string, std::string>& inputs,
                            bool with_run_details) const {
    json::object body;
    body["ref"] = ref;
    json::object input_values;
    for (const auto& [name, value] : inputs)
      input_values[name] = value;
    body["inputs"] = std::move(input_values);
    if (with_run_details)
      body["return_run_details"] = true;
    return json::serialize(body);
  }

  asio::awaitable<Result<CiRunHandle>> correlate(std::string correlation_id,
                                                 std::chrono::system_clock::time_point since) {
    const std::string step =
        "find the run started for " + config.workflow + " in " + api.repository();
    if (config.correlation_input.empty() || correlation_id.empty()) {
      co_return make_error("GitHub: " + step +
                           ": the server did not name the run and no correlation input is "
                           "configured, so it cannot be told apart from other runs");
    }
    const std::string created =
        iso8601_seconds(since - std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                    config.created_slack));
    const std::string path =
        workflow_path + "/runs?event=workflow_dispatch&created=" + encode_segment(">=" + created) +
        "&per_page=100";
    auto wait = config.correlation_first_wait;
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor);
    const int attempts = std::max(1, config.correlation_attempts);
    std::chrono::milliseconds waited{0};
    for (int attempt = 1; attempt <= attempts; ++attempt) {
      timer.expires_after(wait);
      co_await timer.async_wait(asio::use_awaitable);
      waited += wait;
      wait = std::chrono::milliseconds(wait.count() * 3 / 2);
      ApiCall call;
      call.step = step;
      call.path = path;
      Result<HttpResponse> listed = co_await api.call(std::move(call));
      if (!listed)
        co_return listed.error();
      auto value = parse_json(listed->body);
      if (!value || !value->is_object() || !value->as_object().contains("workflow_runs") ||
          !value->as_object().at("workflow_runs").is_array()) {
        co_return make_error("GitHub: " + step + ": the run list is not the JSON GitHub sends");
      }
      for (const auto& item : value->as_object().at("workflow_runs").as_array()) {
        if (!item.is_object())
          continue;
        const auto& run = item.as_object();
        if (!mentions(run, correlation_id))
          continue;
        auto id = integer_field(run, "id");
        if (!id)
          continue;
        co_return CiRunHandle{std::to_string(*id), string_field(run, "html_url")};
      }
    }
    co_return make_error("GitHub: " + step + ": no run mentioning " + correlation_id +
                         " appeared within " + format_duration(waited.count()) +
                         "; the workflow's run-name must include ${{ inputs." +
                         config.correlation_input + " }} (the run may have started: check " +
                         api.repository() + ")");
  }

  static bool mentions(const json::object& run, const std::string& correlation_id) {
    if (contains(string_field(run, "display_title"), correlation_id) ||
        contains(string_field(run, "name"), correlation_id)) {
      return true;
    }
    // Not part of GitHub's REST run object today, but some servers (and webhooks) carry it.
    const auto* inputs = run.if_contains("inputs");
    if (inputs && inputs->is_object()) {
      for (const auto& [name, value] : inputs->as_object()) {
        if (value.is_string() && value.as_string() == correlation_id)
          return true;
      }
    }
    return false;
  }

  // "job 'deploy' failed at step 'Deploy'", from the run's jobs; empty when they cannot be read.
  asio::awaitable<std::string> failed_job(std::string run_id, std::string conclusion) {
    ApiCall call;
    call.step = "read jobs of run " + run_id + " in " + api.repository();
    call.path = api.repo_path() + "/actions/runs/" + run_id + "/jobs?filter=latest&per_page=100";
    Result<HttpResponse> response = co_await api.call(std::move(call));
    if (!response)
      co_return std::string();
    auto value = parse_json(response->body);
    if (!value || !value->is_object() || !value->as_object().contains("jobs") ||
        !value->as_object().at("jobs").is_array()) {
      co_return std::string();
    }
    const json::object* culprit = nullptr;
    for (const auto& item : value->as_object().at("jobs").as_array()) {
      if (!item.is_object())
        continue;
      const std::string job_conclusion = string_field(item.as_object(), "conclusion");
      if (job_conclusion == conclusion) {
        culprit = &item.as_object();
        break;
      }
      if (culprit == nullptr && !job_conclusion.empty() && job_conclusion != "success" &&
          job_conclusion != "skipped" && job_conclusion != "neutral") {
        culprit = &item.as_object();
      }
    }
    if (culprit == nullptr)
      co_return std::string();
    std::string text = "job '" + string_field(*culprit, "name") + "'";
    text += conclusion == "timed_out" ? " timed out" : " failed";
    const auto* steps = culprit->if_contains("steps");
    if (steps && steps->is_array()) {
      for (const auto& step : steps->as_array()) {
        if (!step.is_object())
          continue;
        const std::string step_conclusion = string_field(step.as_object(), "conclusion");
        if (step_conclusion == "failure" || step_conclusion == "timed_out" ||
            step_conclusion == "cancelled") {
          text += " at step '" + string_field(step.as_object(), "name") + "'";
          break;
        }
      }
    }
    co_return text;
  }

  static CiRunStatus map_status(const RunSummary& run) {
    CiRunStatus out;
    out.url = run.html_url;
    const std::string label = "run #" + std::to_string(run.run_number);
    if (run.status == "completed") {
      const std::string& c = run.conclusion;
      if (c == "success") {
        out.state = CiRunState::succeeded;
        out.detail = label + " succeeded";
      } else if (c == "neutral") {
        // GitHub counts neutral as passing (as checks do): the workflow chose not to fail.
        out.state = CiRunState::succeeded;
        out.detail = label + " finished neutral";
      } else if (c == "failure") {
        out.state = CiRunState::failed;
        out.detail = label + " failed";
      } else if (c == "cancelled") {
        out.state = CiRunState::cancelled;
        out.detail = label + " was cancelled";
      } else if (c == "timed_out") {
        out.state = CiRunState::timed_out;
        out.detail = label + " timed out in GitHub";
      } else if (c == "action_required") {
        out.state = CiRunState::failed;
        out.detail = label + " needs someone to approve it in GitHub (action_required)";
      } else if (c == "skipped") {
        out.state = CiRunState::failed;
        out.detail = label + " was skipped: no job ran";
      } else if (c == "stale") {
        out.state = CiRunState::failed;
        out.detail = label + " went stale";
      } else if (c == "startup_failure") {
        out.state = CiRunState::failed;
        out.detail = label + " failed to start (startup_failure): check the workflow file";
      } else {
        out.state = CiRunState::failed;
        out.detail = label + " completed with conclusion '" + c + "'";
      }
    } else if (run.status == "in_progress") {
      out.state = CiRunState::running;
      out.detail = label + " in progress";
    } else if (run.status == "waiting") {
      out.state = CiRunState::queued;
      out.detail = label + " waiting for an environment's protection rules (approval or timer)";
    } else if (run.status == "pending") {
      out.state = CiRunState::queued;
      out.detail = label + " pending (another run holds its concurrency group)";
    } else {
      // requested, queued, and whatever GitHub adds before it starts running.
      out.state = CiRunState::queued;
      out.detail = label + " " + (run.status.empty() ? std::string("queued") : run.status);
    }
    return out;
  }

  GithubActionsConfig config;
  GithubApi api;
  std::string workflow_path;
  bool ask_for_run_details;
  std::map<std::string, CachedRun> cache;  // run id -> last answer, for If-None-Match
};

GithubActions::GithubActions(net::HttpClient& http, GithubActionsConfig config)
    : impl_(std::make_unique<Impl>(http, std::move(config))) {}

GithubActions::~GithubActions() = default;

const GithubActionsConfig& GithubActions::config() const {
  return impl_->config;
}

Status GithubActions::validate() const {
  const GithubActionsConfig& c = impl_->config;
  const std::string prefix = "GitHub Actions: ";
  if (c.owner.empty() || c.repo.empty())
    return make_error(prefix + "owner and repo are required");
  if (c.workflow.empty())
    return make_error(prefix + "no workflow configured (a file name like deploy.yml, or its id)");
  const bool numeric = std::all_of(c.workflow.begin(), c.workflow.end(),
                                   [](unsigned char ch) { return std::isdigit(ch); });
  const bool file_name = c.workflow.find('/') == std::string::npos &&
                         (c.workflow.ends_with(".yml") || c.workflow.ends_with(".yaml"));
  if (!numeric && !file_name) {
    return make_error(prefix + "workflow '" + c.workflow +
                      "' must be a file name in .github/workflows (deploy.yml) or a numeric id");
  }
  if (c.token.empty())
    return make_error(prefix + "no token configured for " + c.owner + "/" + c.repo);
  auto url = net::parse_url(c.api_url);
  if (!url || (url->scheme != "https" && url->scheme != "http"))
    return make_error(prefix + "api_url '" + c.api_url + "' is not an http(s) URL");
  for (const auto& [name, text] : c.inputs) {
    auto unknown = unknown_placeholders(text);
    if (!unknown.empty()) {
      return make_error(prefix + "input '" + name + "' uses {" + unknown.front() +
                        "}; the placeholders are {version}, {environment}, {service} and "
                        "{correlation_id}");
    }
    if (name == c.correlation_input) {
      return make_error(prefix + "input '" + name +
                        "' is the correlation input, which Shipmate fills itself");
    }
  }
  const std::size_t count = c.inputs.size() + (c.correlation_input.empty() ? 0 : 1);
  if (count > kMaxInputs) {
    return make_error(prefix + std::to_string(count) + " workflow inputs; GitHub accepts at most " +
                      std::to_string(kMaxInputs));
  }
  return Ok{};
}

asio::awaitable<Result<CiRunHandle>> GithubActions::trigger(CiRunRequest request) {
  Impl& impl = *impl_;
  const std::map<std::string, std::string> inputs = github_workflow_inputs(impl.config, request);
  const std::string ref = request.ref.empty() ? impl.config.ref : request.ref;
  const auto since = std::chrono::system_clock::now();
  for (;;) {
    const bool with_details = impl.ask_for_run_details;
    ApiCall call;
    call.step = impl.trigger_step();
    call.method = "POST";
    call.path = impl.workflow_path + "/dispatches";
    call.headers = {{"Content-Type", "application/json"}};
    call.body = impl.dispatch_body(ref, inputs, with_details);
    call.idempotent = false;
    call.pass_through = {400, 404, 422};
    Result<HttpResponse> response = co_await impl.api.call(std::move(call));
    if (!response)
      co_return response.error();
    const int code = response->status;
    const bool details_refused =
        code == 400 || (code == 422 && contains(response->body, "return_run_details"));
    if (with_details && details_refused) {
      // A server from before run details (GHES 3.20 and older) refuses the field: the dispatch
      // did not happen, so send it again without and find the run by its title.
      impl.ask_for_run_details = false;
      continue;
    }
    if (code == 400 || code == 404 || code == 422)
      co_return impl.dispatch_failure(*response);
    if (code == 200) {
      auto value = parse_json(response->body);
      if (value && value->is_object()) {
        auto id = integer_field(value->as_object(), "workflow_run_id");
        if (id)
          co_return CiRunHandle{std::to_string(*id), string_field(value->as_object(), "html_url")};
      }
    }
    break;  // 204, or a 200 that names no run
  }
  Result<CiRunHandle> found = co_await impl.correlate(request.correlation_id, since);
  co_return found;
}

asio::awaitable<Result<CiRunStatus>> GithubActions::status(CiRunHandle handle) {
  Impl& impl = *impl_;
  const std::string step = "read run " + handle.id + " in " + impl.api.repository();
  ApiCall call;
  call.step = step;
  call.path = impl.api.repo_path() + "/actions/runs/" + encode_segment(handle.id);
  auto cached = impl.cache.find(handle.id);
  if (cached != impl.cache.end() && !cached->second.etag.empty())
    call.headers = {{"If-None-Match", cached->second.etag}};
  call.pass_through = {304};
  Result<HttpResponse> response = co_await impl.api.call(std::move(call));
  if (!response)
    co_return response.error();
  cached = impl.cache.find(handle.id);  // the map may have changed while this call was away
  if (response->status == 304) {
    if (cached == impl.cache.end())
      co_return make_error("GitHub: " + step + ": 304 Not Modified for a run never read");
    co_return cached->second.status;
  }
  auto value = parse_json(response->body);
  if (!value || !value->is_object())
    co_return make_error("GitHub: " + step + ": the answer is not the JSON GitHub sends");
  const json::object& run = value->as_object();
  RunSummary summary;
  summary.status = string_field(run, "status");
  summary.conclusion = string_field(run, "conclusion");
  summary.html_url = string_field(run, "html_url");
  summary.run_number = integer_field(run, "run_number").value_or(0);
  CiRunStatus mapped = Impl::map_status(summary);
  if (mapped.url.empty())
    mapped.url = handle.url;
  if (summary.status == "completed" &&
      (summary.conclusion == "failure" || summary.conclusion == "timed_out")) {
    std::string job = co_await impl.failed_job(handle.id, summary.conclusion);
    if (!job.empty())
      mapped.detail += ": " + job;
  }
  // A finished run is not polled again, so its entry would only grow the map.
  if (is_finished(mapped.state))
    impl.cache.erase(handle.id);
  else
    impl.cache[handle.id] = Impl::CachedRun{response->header("ETag"), mapped};
  co_return mapped;
}

asio::awaitable<Result<std::string>> GithubActions::check_access() {
  Impl& impl = *impl_;
  ApiCall call;
  call.step = "read workflow " + impl.config.workflow + " in " + impl.api.repository();
  call.path = impl.workflow_path;
  Result<HttpResponse> response = co_await impl.api.call(std::move(call));
  if (!response)
    co_return response.error();
  co_return "workflow " + impl.config.workflow + " in " + impl.api.repository();
}

asio::awaitable<Status> GithubActions::cancel(CiRunHandle handle) {
  Impl& impl = *impl_;
  ApiCall call;
  call.step = "cancel run " + handle.id + " in " + impl.api.repository();
  call.method = "POST";
  call.path = impl.api.repo_path() + "/actions/runs/" + encode_segment(handle.id) + "/cancel";
  call.pass_through = {409};  // "Cannot cancel a workflow run that is completed."
  Result<HttpResponse> response = co_await impl.api.call(std::move(call));
  if (!response)
    co_return response.error();
  co_return Ok{};
}

// ---- GitHub Deployments ----

std::string_view to_string(GithubDeploymentState state) {
  switch (state) {
    case GithubDeploymentState::queued:
      return "queued";
    case GithubDeploymentState::pending:
      return "pending";
    case GithubDeploymentState::in_progress:
      return "in_progress";
    case GithubDeploymentState::success:
      return "success";
    case GithubDeploymentState::failure:
      return "failure";
    case GithubDeploymentState::error:
      return "error";
    case GithubDeploymentState::inactive:
      return "inactive";
  }
  return "error";
}

struct GithubDeployments::Impl {
  Impl(net::HttpClient& http, const GithubActionsConfig& config) : api(http, config) {}
  GithubApi api;
};

GithubDeployments::GithubDeployments(net::HttpClient& http, GithubActionsConfig config)
    : impl_(std::make_unique<Impl>(http, config)) {}

GithubDeployments::~GithubDeployments() = default;

asio::awaitable<Result<std::int64_t>> GithubDeployments::create(GithubDeploymentRequest request) {
  Impl& impl = *impl_;
  const std::string step = "create deployment of " + request.ref + " to " + request.environment +
                           " in " + impl.api.repository();
  json::object payload;
  for (const auto& [name, value] : request.payload)
    payload[name] = value;
  if (!request.shipmate_deploy_id.empty())
    payload["shipmate_deploy_id"] = request.shipmate_deploy_id;
  json::object body;
  body["ref"] = request.ref;
  body["task"] = request.task;
  body["auto_merge"] = false;
  body["required_contexts"] = json::array();
  body["payload"] = std::move(payload);
  body["environment"] = request.environment;
  body["description"] = request.description;
  body["transient_environment"] = request.transient_environment;
  if (request.production_environment)
    body["production_environment"] = *request.production_environment;

  ApiCall call;
  call.step = step;
  call.method = "POST";
  call.path = impl.api.repo_path() + "/deployments";
  call.headers = {{"Content-Type", "application/json"}};
  call.body = json::serialize(body);
  call.idempotent = false;
  call.pass_through = {409, 422};
  Result<HttpResponse> response = co_await impl.api.call(std::move(call));
  if (!response)
    co_return response.error();
  if (response->status == 422 || response->status == 409) {
    const std::string message = server_message(response->body);
    const std::string hint =
        contains(message, "No ref found") || contains(message, "ref")
            ? "the ref must be a branch, tag or sha of " + impl.api.repository()
            : std::string();
    co_return GithubApi::fail(step, *response, hint);
  }
  if (response->status == 202) {
    co_return make_error(redact("GitHub: " + step +
                                ": GitHub merged the default branch into the ref instead of "
                                "recording a deployment (202): " +
                                server_message(response->body)));
  }
  auto value = parse_json(response->body);
  std::optional<std::int64_t> id;
  if (value && value->is_object())
    id = integer_field(value->as_object(), "id");
  if (!id)
    co_return make_error("GitHub: " + step + ": the answer names no deployment id");
  co_return *id;
}

asio::awaitable<Status> GithubDeployments::set_status(std::int64_t deployment_id,
                                                      GithubDeploymentStatus status) {
  Impl& impl = *impl_;
  json::object body;
  body["state"] = std::string(to_string(status.state));
  if (!status.log_url.empty())
    body["log_url"] = status.log_url;
  if (!status.environment_url.empty())
    body["environment_url"] = status.environment_url;
  if (!status.description.empty())
    body["description"] = cut_characters(status.description, kMaxStatusDescription);

  ApiCall call;
  call.step = "set deployment " + std::to_string(deployment_id) + " to " +
              std::string(to_string(status.state)) + " in " + impl.api.repository();
  call.method = "POST";
  call.path = impl.api.repo_path() + "/deployments/" + std::to_string(deployment_id) + "/statuses";
  call.headers = {{"Content-Type", "application/json"}};
  call.body = json::serialize(body);
  call.idempotent = false;
  Result<HttpResponse> response = co_await impl.api.call(std::move(call));
  if (!response)
    co_return response.error();
  co_return Ok{};
}

}  // namespace shipmate::integrations
