#include "tests/support/fake_github.h"
#include "tests/support/fake_github_git.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <deque>
#include <functional>
#include <iomanip>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>

#include <boost/json.hpp>

namespace shipmate::testing {
namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

namespace {

constexpr const char* kDocs = "https://docs.github.com/rest";

std::string iso8601(SystemClock::time_point at) {
  const std::time_t seconds = SystemClock::to_time_t(at);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return buffer;
}

std::optional<SystemClock::time_point> parse_iso8601(std::string_view text) {
  std::tm parts{};
  std::istringstream in{std::string(text)};
  in >> std::get_time(&parts, "%Y-%m-%dT%H:%M:%S");
  if (in.fail())
    return std::nullopt;
  std::string rest;
  in >> rest;
  if (rest != "Z" && rest != "+00:00")
    return std::nullopt;
  return SystemClock::from_time_t(timegm(&parts));
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  while (!path.empty()) {
    while (!path.empty() && path.front() == '/')
      path.remove_prefix(1);
    if (path.empty())
      break;
    const auto slash = path.find('/');
    parts.emplace_back(path.substr(0, slash));
    if (slash == std::string_view::npos)
      break;
    path.remove_prefix(slash);
  }
  return parts;
}

std::optional<std::int64_t> to_integer(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    return std::nullopt;
  return value;
}

std::string fake_sha(std::string_view seed) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string sha;
  std::size_t h = std::hash<std::string_view>{}(seed);
  while (sha.size() < 40) {
    h = h * 6364136223846793005ULL + 1442695040888963407ULL;
    sha += kHex[(h >> 60) & 0xF];
  }
  return sha;
}

FakeResponse message(int status, const std::string& text) {
  json::object body;
  body["message"] = text;
  body["documentation_url"] = kDocs;
  body["status"] = std::to_string(status);
  return FakeResponse::json(status, json::serialize(body));
}

FakeResponse not_found() {
  return message(404, "Not Found");
}

std::string input_value(const json::value& value) {
  if (value.is_string())
    return std::string(value.as_string());
  if (value.is_bool())
    return value.as_bool() ? "true" : "false";
  return json::serialize(value);
}

}  // namespace

struct FakeGithub::State {
  struct Run {
    std::int64_t id = 0;
    const FakeWorkflow* workflow = nullptr;
    std::int64_t run_number = 0;
    std::string ref;
    std::string head_sha;
    std::map<std::string, std::string> inputs;
    std::string display_title;
    FakeRunPlan plan;
    SteadyClock::time_point created_steady;
    SystemClock::time_point created_at;
    std::optional<SteadyClock::time_point> cancelled_at;
    std::int64_t first_job_id = 0;
  };
  struct Phase {
    std::string status;
    std::string conclusion;          // "" while not completed
    SteadyClock::duration since{0};  // from creation to the start of this phase
  };
  struct Fault {
    int remaining = 0;
    int status = 500;
    std::string path_prefix;
  };
  struct Limit {
    FakeRateLimit kind;
    int seconds;
  };

  explicit State(FakeGithubOptions options_in) : options(std::move(options_in)) {
    if (options.workflows.empty()) {
      FakeWorkflow deploy;
      deploy.file = "deploy.yml";
      deploy.name = "Deploy";
      deploy.run_name =
          "Deploy ${{ inputs.version }} to ${{ inputs.environment }} [${{ inputs.shipmate_id }}]";
      deploy.inputs = {{"version", true}, {"environment", true}, {"shipmate_id", false}};
      options.workflows.push_back(deploy);
    }
    std::int64_t next_workflow_id = 61'000'001;
    for (auto& workflow : options.workflows) {
      if (workflow.id == 0)
        workflow.id = next_workflow_id++;
      if (workflow.jobs.empty()) {
        workflow.jobs.push_back(
            {"deploy", {"Set up job", "Run actions/checkout@v4", "Deploy", "Complete job"}});
      }
    }
  }

  FakeGithubOptions options;
  std::string base_url;

  mutable std::mutex mu;
  std::deque<FakeRunPlan> plans;
  std::vector<Fault> faults;
  std::deque<Limit> limits;
  std::deque<std::chrono::milliseconds> delays;
  std::vector<Run> runs;                             // oldest first
  std::map<std::int64_t, std::int64_t> run_numbers;  // workflow id -> last run number
  std::int64_t next_run_id = 12'000'000'001;         // above 2^32, as real run ids are
  std::int64_t next_job_id = 33'000'000'001;
  std::vector<FakeDeployment> deployments;
  std::int64_t next_deployment_id = 2'100'000'001;
  std::int64_t next_status_id = 5'200'000'001;
  std::map<std::int64_t, std::vector<std::string>> status_times;  // deployment -> created_at
  std::map<std::int64_t, std::string> deployment_times;
  std::map<std::int64_t, json::value> deployment_payloads;
  int not_modified = 0;
  int rate_remaining = 5000;

  std::string repo_full() const { return options.owner + "/" + options.repo; }
  std::string api_repo() const { return base_url + "/repos/" + repo_full(); }
  std::string html_repo() const { return "https://github.com/" + repo_full(); }

  const FakeWorkflow* find_workflow(const std::string& key) const {
    for (const auto& workflow : options.workflows) {
      if (workflow.file == key || std::to_string(workflow.id) == key)
        return &workflow;
    }
    return nullptr;
  }

  bool visible(const Run& run, SteadyClock::time_point now) const {
    return now - run.created_steady >= options.run_visible_after;
  }

  Phase phase(const Run& run, SteadyClock::time_point now) const {
    const auto queued = std::chrono::duration_cast<SteadyClock::duration>(options.queued_for);
    const auto running = std::chrono::duration_cast<SteadyClock::duration>(options.running_for);
    const auto age = now - run.created_steady;
    if (run.cancelled_at) {
      const auto at = *run.cancelled_at - run.created_steady;
      const bool finished_before = !run.plan.stuck && at >= queued + running;
      if (!finished_before)
        return {"completed", "cancelled", at};
    }
    if (age < queued)
      return {"queued", "", SteadyClock::duration(0)};
    if (run.plan.stuck || age < queued + running)
      return {"in_progress", "", queued};
    return {"completed", run.plan.conclusion, queued + running};
  }

  SystemClock::time_point wall(const Run& run, SteadyClock::duration offset) const {
    return run.created_at + std::chrono::duration_cast<SystemClock::duration>(offset);
  }

  json::object repository_json() const {
    json::object owner;
    owner["login"] = options.owner;
    owner["id"] = 9'100'001;
    owner["type"] = "Organization";
    json::object repo;
    repo["id"] = 700'000'001;
    repo["node_id"] = "R_kgDOfake";
    repo["name"] = options.repo;
    repo["full_name"] = repo_full();
    repo["private"] = true;
    repo["owner"] = std::move(owner);
    repo["html_url"] = html_repo();
    repo["url"] = api_repo();
    return repo;
  }

  json::object actor_json() const {
    json::object user;
    user["login"] = "shipmate-bot";
    user["id"] = 4'200'001;
    user["node_id"] = "U_kgDOfake";
    user["type"] = "User";
    user["site_admin"] = false;
    return user;
  }

  json::object run_json(const Run& run, SteadyClock::time_point now) const {
    const Phase current = phase(run, now);
    const std::string id = std::to_string(run.id);
    const std::string api = api_repo() + "/actions/runs/" + id;
    json::object out;
    out["id"] = run.id;
    out["name"] = run.workflow->name;
    out["node_id"] = "WFR_kwLOfake" + id;
    out["check_suite_id"] = run.id + 1000;
    out["check_suite_node_id"] = "CS_kwDOfake" + id;
    out["head_branch"] = run.ref;
    out["head_sha"] = run.head_sha;
    out["path"] = ".github/workflows/" + run.workflow->file;
    out["display_title"] = run.display_title;
    out["run_number"] = run.run_number;
    out["event"] = "workflow_dispatch";
    out["status"] = current.status;
    out["conclusion"] =
        current.conclusion.empty() ? json::value(nullptr) : json::value(current.conclusion);
    out["workflow_id"] = run.workflow->id;
    out["url"] = api;
    out["html_url"] = html_repo() + "/actions/runs/" + id;
    out["pull_requests"] = json::array();
    out["created_at"] = iso8601(run.created_at);
    out["updated_at"] = iso8601(wall(run, current.since));
    out["actor"] = actor_json();
    out["triggering_actor"] = actor_json();
    out["run_attempt"] = 1;
    out["referenced_workflows"] = json::array();
    out["run_started_at"] = iso8601(run.created_at);
    out["jobs_url"] = api + "/jobs";
    out["logs_url"] = api + "/logs";
    out["check_suite_url"] = api_repo() + "/check-suites/" + std::to_string(run.id + 1000);
    out["artifacts_url"] = api + "/artifacts";
    out["cancel_url"] = api + "/cancel";
    out["rerun_url"] = api + "/rerun";
    out["previous_attempt_url"] = nullptr;
    out["workflow_url"] = api_repo() + "/actions/workflows/" + std::to_string(run.workflow->id);
    out["head_commit"] = nullptr;
    out["repository"] = repository_json();
    out["head_repository"] = repository_json();
    return out;
  }

  json::object workflow_json(const FakeWorkflow& workflow) const {
    json::object out;
    out["id"] = workflow.id;
    out["node_id"] = "W_kwDOfake" + std::to_string(workflow.id);
    out["name"] = workflow.name;
    out["path"] = ".github/workflows/" + workflow.file;
    out["state"] = "active";
    out["created_at"] = "2025-01-01T00:00:00Z";
    out["updated_at"] = "2025-01-01T00:00:00Z";
    out["url"] = api_repo() + "/actions/workflows/" + std::to_string(workflow.id);
    out["html_url"] = html_repo() + "/blob/main/.github/workflows/" + workflow.file;
    out["badge_url"] = html_repo() + "/workflows/" + workflow.name + "/badge.svg";
    return out;
  }

  json::object job_json(const Run& run, std::size_t index, SteadyClock::time_point now) const {
    const FakeWorkflowJob& job = run.workflow->jobs[index];
    const Phase current = phase(run, now);
    const std::int64_t id = run.first_job_id + static_cast<std::int64_t>(index);
    const bool is_failed_job =
        run.plan.conclusion == "failure" &&
        (run.plan.failed_job.empty() ? index == 0 : job.name == run.plan.failed_job);
    std::string job_status = current.status;
    std::string job_conclusion = current.conclusion;
    if (current.status == "completed" && current.conclusion == "failure")
      job_conclusion = is_failed_job ? "failure" : "success";

    json::array steps;
    if (current.status != "queued") {
      for (std::size_t i = 0; i < job.steps.size(); ++i) {
        json::object step;
        step["name"] = job.steps[i];
        step["number"] = static_cast<std::int64_t>(i + 1);
        std::string status = "completed";
        std::string conclusion = "success";
        if (current.status == "in_progress") {
          status = i == 0 ? "completed" : (i == 1 ? "in_progress" : "queued");
          conclusion = i == 0 ? "success" : "";
        } else if (job_conclusion == "failure") {
          const std::string& failed = run.plan.failed_step;
          std::size_t failed_index = job.steps.size() - 1;
          for (std::size_t k = 0; k < job.steps.size(); ++k) {
            if (job.steps[k] == failed)
              failed_index = k;
          }
          conclusion = i < failed_index ? "success" : (i == failed_index ? "failure" : "skipped");
        } else if (job_conclusion != "success") {
          // Stopped (cancelled, timed out, ...) in its second step; the rest never ran.
          conclusion = i == 0 ? "success" : (i == 1 ? job_conclusion : "skipped");
        }
        step["status"] = status;
        step["conclusion"] = conclusion.empty() ? json::value(nullptr) : json::value(conclusion);
        step["started_at"] =
            status == "queued" ? json::value(nullptr) : json::value(iso8601(run.created_at));
        step["completed_at"] = status == "completed"
                                   ? json::value(iso8601(wall(run, current.since)))
                                   : json::value(nullptr);
        steps.push_back(std::move(step));
      }
    }
    const std::string run_api = api_repo() + "/actions/runs/" + std::to_string(run.id);
    json::object out;
    out["id"] = id;
    out["run_id"] = run.id;
    out["workflow_name"] = run.workflow->name;
    out["head_branch"] = run.ref;
    out["run_url"] = run_api;
    out["run_attempt"] = 1;
    out["node_id"] = "CR_kwDOfake" + std::to_string(id);
    out["head_sha"] = run.head_sha;
    out["url"] = api_repo() + "/actions/jobs/" + std::to_string(id);
    out["html_url"] =
        html_repo() + "/actions/runs/" + std::to_string(run.id) + "/job/" + std::to_string(id);
    out["status"] = job_status;
    out["conclusion"] = job_conclusion.empty() ? json::value(nullptr) : json::value(job_conclusion);
    out["created_at"] = iso8601(run.created_at);
    out["started_at"] = iso8601(run.created_at);
    out["completed_at"] = current.status == "completed"
                              ? json::value(iso8601(wall(run, current.since)))
                              : json::value(nullptr);
    out["name"] = job.name;
    out["steps"] = std::move(steps);
    out["check_run_url"] = api_repo() + "/check-runs/" + std::to_string(id);
    out["labels"] = json::array{"ubuntu-latest"};
    out["runner_id"] = current.status == "queued" ? json::value(nullptr) : json::value(7);
    out["runner_name"] =
        current.status == "queued" ? json::value(nullptr) : json::value("GitHub Actions 7");
    out["runner_group_id"] = current.status == "queued" ? json::value(nullptr) : json::value(2);
    out["runner_group_name"] =
        current.status == "queued" ? json::value(nullptr) : json::value("GitHub Actions");
    return out;
  }

  json::object deployment_json(const FakeDeployment& deployment) const {
    const std::string url = api_repo() + "/deployments/" + std::to_string(deployment.id);
    json::object out;
    out["url"] = url;
    out["id"] = deployment.id;
    out["node_id"] = "DE_kwDOfake" + std::to_string(deployment.id);
    out["sha"] = deployment.sha;
    out["ref"] = deployment.ref;
    out["task"] = deployment.task;
    out["payload"] = deployment_payloads.at(deployment.id);
    out["original_environment"] = deployment.environment;
    out["environment"] = deployment.environment;
    out["description"] = deployment.description;
    out["creator"] = actor_json();
    out["created_at"] = deployment_times.at(deployment.id);
    out["updated_at"] = deployment_times.at(deployment.id);
    out["statuses_url"] = url + "/statuses";
    out["repository_url"] = api_repo();
    out["transient_environment"] = deployment.transient_environment;
    out["production_environment"] = deployment.production_environment;
    return out;
  }

  json::object status_json(const FakeDeployment& deployment, std::size_t index) const {
    const FakeDeploymentStatus& status = deployment.statuses[index];
    const std::string deployment_url = api_repo() + "/deployments/" + std::to_string(deployment.id);
    const std::string at = status_times.at(deployment.id).at(index);
    json::object out;
    out["url"] = deployment_url + "/statuses/" + std::to_string(status.id);
    out["id"] = status.id;
    out["node_id"] = "DES_kwDOfake" + std::to_string(status.id);
    out["state"] = status.state;
    out["creator"] = actor_json();
    out["description"] = status.description;
    out["environment"] = status.environment;
    out["target_url"] = status.log_url;
    out["log_url"] = status.log_url;
    out["environment_url"] = status.environment_url;
    out["created_at"] = at;
    out["updated_at"] = at;
    out["deployment_url"] = deployment_url;
    out["repository_url"] = api_repo();
    return out;
  }

  void add_rate_headers(FakeResponse& response, bool counts) {
    if (counts && rate_remaining > 0)
      --rate_remaining;
    const auto reset =
        std::chrono::duration_cast<std::chrono::seconds>(SystemClock::now().time_since_epoch())
            .count() +
        3600;
    response.headers.emplace_back("x-ratelimit-limit", "5000");
    response.headers.emplace_back("x-ratelimit-remaining", std::to_string(rate_remaining));
    response.headers.emplace_back("x-ratelimit-reset", std::to_string(reset));
    response.headers.emplace_back("x-ratelimit-used", std::to_string(5000 - rate_remaining));
    response.headers.emplace_back("x-ratelimit-resource", "core");
    response.headers.emplace_back("x-github-api-version-selected", "2022-11-28");
    response.headers.emplace_back("x-github-media-type", "github.v3; format=json");
  }

  // A rate limit or a failure injected by the test, in the order they were asked for.
  std::optional<FakeResponse> injected(const FakeRequest& request) {
    if (!limits.empty()) {
      const Limit limit = limits.front();
      limits.pop_front();
      const auto now_s =
          std::chrono::duration_cast<std::chrono::seconds>(SystemClock::now().time_since_epoch())
              .count();
      if (limit.kind == FakeRateLimit::primary_403) {
        FakeResponse answer =
            message(403,
                    "API rate limit exceeded for user ID 4200001. If you reach out to "
                    "GitHub Support for help, please include the request ID.");
        answer.headers = {{"x-ratelimit-limit", "5000"},
                          {"x-ratelimit-remaining", "0"},
                          {"x-ratelimit-used", "5000"},
                          {"x-ratelimit-reset", std::to_string(now_s + limit.seconds)},
                          {"x-ratelimit-resource", "core"}};
        return answer;
      }
      FakeResponse answer = message(
          limit.kind == FakeRateLimit::secondary_403 ? 403 : 429,
          "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
          "again.");
      answer.headers = {{"retry-after", std::to_string(limit.seconds)}};
      return answer;
    }
    for (auto& fault : faults) {
      if (fault.remaining > 0 && request.path.starts_with(fault.path_prefix)) {
        --fault.remaining;
        return message(fault.status, fault.status >= 500 ? "Server Error" : "Injected failure");
      }
    }
    return std::nullopt;
  }

  FakeResponse handle(const FakeRequest& request) {
    std::lock_guard lock(mu);
    std::optional<std::chrono::milliseconds> delay;
    if (!delays.empty()) {
      delay = delays.front();
      delays.pop_front();
    }
    std::optional<FakeResponse> response = injected(request);
    if (!response)
      response = route(request);
    if (delay)
      response->delay = *delay;
    return *response;
  }

  FakeResponse route(const FakeRequest& request) {
    const std::string authorization = request.header("Authorization");
    if (authorization.empty())
      return message(401, "Requires authentication");
    if (authorization != "Bearer " + options.token && authorization != "token " + options.token &&
        authorization != "bearer " + options.token) {
      return message(401, "Bad credentials");
    }
    if (request.header("User-Agent").empty()) {
      return message(403,
                     "Request forbidden by administrative rules. Please make sure your request "
                     "has a User-Agent header (https://docs.github.com/en/rest/overview/"
                     "resources-in-the-rest-api#user-agent-required).");
    }
    bool counts = true;
    FakeResponse response = dispatch_route(request, counts);
    add_rate_headers(response, counts);
    return response;
  }

  FakeResponse dispatch_route(const FakeRequest& request, bool& counts) {
    const auto parts = split_path(request.path);
    if (parts.size() < 3 || parts[0] != "repos" || !iequals(parts[1], options.owner) ||
        !iequals(parts[2], options.repo)) {
      return not_found();
    }
    const std::vector<std::string> rest(parts.begin() + 3, parts.end());
    const std::string& method = request.method;
    const auto now = SteadyClock::now();

    if (rest.size() >= 2 && rest[0] == "actions" && rest[1] == "workflows") {
      if (rest.size() == 2 && method == "GET") {
        json::array list;
        for (const auto& workflow : options.workflows)
          list.push_back(workflow_json(workflow));
        json::object body;
        body["total_count"] = static_cast<std::int64_t>(list.size());
        body["workflows"] = std::move(list);
        return FakeResponse::json(200, json::serialize(body));
      }
      const FakeWorkflow* workflow = rest.size() >= 3 ? find_workflow(rest[2]) : nullptr;
      if (workflow == nullptr)
        return not_found();
      if (rest.size() == 3 && method == "GET")
        return FakeResponse::json(200, json::serialize(workflow_json(*workflow)));
      if (rest.size() == 4 && rest[3] == "dispatches" && method == "POST")
        return dispatch(request, *workflow);
      if (rest.size() == 4 && rest[3] == "runs" && method == "GET")
        return list_runs(request, workflow, now);
      return not_found();
    }
    if (rest.size() >= 2 && rest[0] == "actions" && rest[1] == "runs") {
      if (rest.size() == 2 && method == "GET")
        return list_runs(request, nullptr, now);
      Run* run = nullptr;
      if (auto id = to_integer(rest.size() >= 3 ? rest[2] : "")) {
        for (auto& candidate : runs) {
          if (candidate.id == *id && visible(candidate, now))
            run = &candidate;
        }
      }
      if (run == nullptr)
        return not_found();
      if (rest.size() == 3 && method == "GET") {
        const std::string body = json::serialize(run_json(*run, now));
        const std::string etag =
            "W/\"" + std::to_string(std::hash<std::string>{}(body)&0xFFFFFFFFFFFFULL) + "\"";
        if (request.header("If-None-Match") == etag) {
          ++not_modified;
          counts = false;
          FakeResponse unchanged;
          unchanged.status = 304;
          unchanged.headers = {{"ETag", etag}};
          return unchanged;
        }
        FakeResponse response = FakeResponse::json(200, body);
        response.headers.emplace_back("ETag", etag);
        response.headers.emplace_back("Cache-Control", "private, max-age=60, s-maxage=60");
        return response;
      }
      if (rest.size() == 4 && rest[3] == "jobs" && method == "GET") {
        json::array jobs;
        for (std::size_t i = 0; i < run->workflow->jobs.size(); ++i)
          jobs.push_back(job_json(*run, i, now));
        json::object body;
        body["total_count"] = static_cast<std::int64_t>(jobs.size());
        body["jobs"] = std::move(jobs);
        return FakeResponse::json(200, json::serialize(body));
      }
      if (rest.size() == 4 && rest[3] == "cancel" && method == "POST") {
        if (phase(*run, now).status == "completed")
          return message(409, "Cannot cancel a workflow run that is completed.");
        run->cancelled_at = now;
        return FakeResponse::json(202, "{}");
      }
      return not_found();
    }
    if (!rest.empty() && rest[0] == "deployments")
      return deployments_route(request, rest);
    if (!options.git_dir.empty() && !rest.empty() && (rest[0] == "commits" || rest[0] == "compare"))
      return fake_github_git_route(options.git_dir, options.tls, request, rest);
    return not_found();
  }

  FakeResponse dispatch(const FakeRequest& request, const FakeWorkflow& workflow) {
    boost::system::error_code ec;
    const json::value parsed = json::parse(request.body, ec);
    if (ec || !parsed.is_object())
      return message(400, "Problems parsing JSON");
    const json::object& body = parsed.as_object();
    for (const auto& [key, value] : body) {
      const bool known =
          key == "ref" || key == "inputs" ||
          (key == "return_run_details" && options.run_details != FakeRunDetails::rejected);
      if (!known) {
        return message(key == "return_run_details" ? 400 : 422,
                       "Invalid request.\n\n\"" + std::string(key) + "\" is not a permitted key.");
      }
    }
    const auto* ref_field = body.if_contains("ref");
    if (ref_field == nullptr || !ref_field->is_string())
      return message(422, "Invalid request.\n\n\"ref\" wasn't supplied.");
    const std::string ref(ref_field->as_string());
    if (!workflow.dispatchable)
      return message(422, "Workflow does not have 'workflow_dispatch' trigger");
    if (!options.refs.empty() &&
        std::find(options.refs.begin(), options.refs.end(), ref) == options.refs.end()) {
      return message(422, "No ref found for: " + ref);
    }
    std::map<std::string, std::string> inputs;
    if (const auto* given = body.if_contains("inputs")) {
      if (!given->is_object())
        return message(422, "Invalid request.\n\nFor 'properties/inputs', is not an object.");
      std::vector<std::string> unexpected;
      for (const auto& [key, value] : given->as_object()) {
        const bool declared =
            std::any_of(workflow.inputs.begin(), workflow.inputs.end(),
                        [&](const FakeWorkflowInput& input) { return input.name == key; });
        if (!declared)
          unexpected.emplace_back(key);
        inputs[std::string(key)] = input_value(value);
      }
      if (!unexpected.empty()) {
        std::string list;
        for (const auto& name : unexpected)
          list += (list.empty() ? "\"" : ", \"") + name + "\"";
        return message(422, "Unexpected inputs provided: [" + list + "]");
      }
      if (given->as_object().size() > 25)
        return message(422,
                       "you may only define up to 25 `inputs` for a `workflow_dispatch` event");
    }
    for (const auto& input : workflow.inputs) {
      if (inputs.contains(input.name))
        continue;
      if (input.required && input.default_value.empty())
        return message(422, "Required input '" + input.name + "' not provided");
      inputs[input.name] = input.default_value;
    }

    Run run;
    run.id = next_run_id++;
    run.workflow = &workflow;
    run.run_number = ++run_numbers[workflow.id];
    run.ref = ref;
    run.head_sha = fake_sha(ref);
    run.inputs = inputs;
    run.display_title =
        workflow.run_name.empty() ? workflow.name : render(workflow.run_name, inputs);
    if (!plans.empty()) {
      run.plan = plans.front();
      plans.pop_front();
    }
    run.created_steady = SteadyClock::now();
    run.created_at = SystemClock::now();
    run.first_job_id = next_job_id;
    next_job_id += static_cast<std::int64_t>(workflow.jobs.size());
    runs.push_back(run);

    const auto* wants = body.if_contains("return_run_details");
    const bool wants_details = wants && wants->is_bool() && wants->as_bool();
    if (wants_details && options.run_details == FakeRunDetails::returned) {
      json::object details;
      details["workflow_run_id"] = run.id;
      details["run_url"] = api_repo() + "/actions/runs/" + std::to_string(run.id);
      details["html_url"] = html_repo() + "/actions/runs/" + std::to_string(run.id);
      return FakeResponse::json(200, json::serialize(details));
    }
    FakeResponse none;
    none.status = 204;
    return none;
  }

  static std::string render(const std::string& run_name,
                            const std::map<std::string, std::string>& inputs) {
    std::string out;
    std::string_view text = run_name;
    while (!text.empty()) {
      const auto open = text.find("${{");
      if (open == std::string_view::npos) {
        out += text;
        break;
      }
      const auto close = text.find("}}", open);
      if (close == std::string_view::npos) {
        out += text;
        break;
      }
      out += text.substr(0, open);
      std::string expression(text.substr(open + 3, close - open - 3));
      expression.erase(0, expression.find_first_not_of(' '));
      expression.erase(expression.find_last_not_of(' ') + 1);
      constexpr std::string_view kPrefix = "inputs.";
      if (expression.starts_with(kPrefix)) {
        auto found = inputs.find(expression.substr(kPrefix.size()));
        if (found != inputs.end())
          out += found->second;
      }
      text.remove_prefix(close + 2);
    }
    return out;
  }

  // GitHub's `created` qualifier: ">=T", "<=T", ">T", "<T", "A..B" or "T"; nullopt when
  // malformed.
  static std::optional<bool> created_matches(std::string_view filter,
                                             SystemClock::time_point created) {
    const auto at = std::chrono::time_point_cast<std::chrono::seconds>(created);
    if (auto dots = filter.find(".."); dots != std::string_view::npos) {
      auto from = parse_iso8601(filter.substr(0, dots));
      auto to = parse_iso8601(filter.substr(dots + 2));
      if (!from || !to)
        return std::nullopt;
      return at >= *from && at <= *to;
    }
    for (std::string_view op : {">=", "<=", ">", "<"}) {
      if (!filter.starts_with(op))
        continue;
      auto bound = parse_iso8601(filter.substr(op.size()));
      if (!bound)
        return std::nullopt;
      if (op == ">=")
        return at >= *bound;
      if (op == "<=")
        return at <= *bound;
      if (op == ">")
        return at > *bound;
      return at < *bound;
    }
    auto exact = parse_iso8601(filter);
    if (!exact)
      return std::nullopt;
    return at == *exact;
  }

  FakeResponse list_runs(const FakeRequest& request, const FakeWorkflow* workflow,
                         SteadyClock::time_point now) {
    auto query = [&](const std::string& key) {
      auto found = request.query.find(key);
      return found == request.query.end() ? std::string() : found->second;
    };
    const std::string created = query("created");
    if (!created.empty() && !created_matches(created, SystemClock::now()))
      return validation_failed("WorkflowRun", "created", "created is not a valid date filter");
    int per_page = 30;
    if (auto value = to_integer(query("per_page")))
      per_page = static_cast<int>(std::clamp<std::int64_t>(*value, 1, 100));
    int page = 1;
    if (auto value = to_integer(query("page")))
      page = static_cast<int>(std::max<std::int64_t>(*value, 1));

    std::vector<const Run*> matching;
    for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
      const Run& run = *it;
      if (!visible(run, now) || (workflow != nullptr && run.workflow != workflow))
        continue;
      if (!query("event").empty() && query("event") != "workflow_dispatch")
        continue;
      if (!query("branch").empty() && query("branch") != run.ref)
        continue;
      if (!query("head_sha").empty() && query("head_sha") != run.head_sha)
        continue;
      if (!query("status").empty()) {
        const Phase current = phase(run, now);
        if (query("status") != current.status && query("status") != current.conclusion)
          continue;
      }
      if (!created.empty() && !*created_matches(created, run.created_at))
        continue;
      matching.push_back(&run);
    }
    json::array list;
    const std::size_t first = static_cast<std::size_t>((page - 1) * per_page);
    for (std::size_t i = first; i < matching.size() && i < first + per_page; ++i)
      list.push_back(run_json(*matching[i], now));
    json::object body;
    body["total_count"] = static_cast<std::int64_t>(matching.size());
    body["workflow_runs"] = std::move(list);
    return FakeResponse::json(200, json::serialize(body));
  }

  FakeDeployment* find_deployment(const std::string& id_text) {
    auto id = to_integer(id_text);
    for (auto& deployment : deployments) {
      if (id && deployment.id == *id)
        return &deployment;
    }
    return nullptr;
  }

  FakeResponse deployments_route(const FakeRequest& request, const std::vector<std::string>& rest) {
    const std::string& method = request.method;
    if (rest.size() == 1 && method == "POST")
      return create_deployment(request);
    if (rest.size() == 1 && method == "GET") {
      auto query = [&](const std::string& key) {
        auto found = request.query.find(key);
        return found == request.query.end() ? std::string() : found->second;
      };
      json::array list;
      for (auto it = deployments.rbegin(); it != deployments.rend(); ++it) {
        if (!query("environment").empty() && query("environment") != it->environment)
          continue;
        if (!query("ref").empty() && query("ref") != it->ref)
          continue;
        if (!query("task").empty() && query("task") != it->task)
          continue;
        list.push_back(deployment_json(*it));
      }
      return FakeResponse::json(200, json::serialize(list));
    }
    FakeDeployment* deployment = rest.size() >= 2 ? find_deployment(rest[1]) : nullptr;
    if (deployment == nullptr)
      return not_found();
    if (rest.size() == 2 && method == "GET")
      return FakeResponse::json(200, json::serialize(deployment_json(*deployment)));
    if (rest.size() == 3 && rest[2] == "statuses" && method == "GET") {
      json::array list;
      for (std::size_t i = deployment->statuses.size(); i-- > 0;)
        list.push_back(status_json(*deployment, i));
      return FakeResponse::json(200, json::serialize(list));
    }
    if (rest.size() == 3 && rest[2] == "statuses" && method == "POST")
      return create_status(request, *deployment);
    return not_found();
  }

  static FakeResponse validation_failed(const std::string& resource, const std::string& field,
                                        const std::string& text) {
    json::object error;
    error["resource"] = resource;
    error["code"] = "custom";
    error["field"] = field;
    error["message"] = text;
    json::object body;
    body["message"] = "Validation Failed";
    body["errors"] = json::array{error};
    body["documentation_url"] = kDocs;
    body["status"] = "422";
    return FakeResponse::json(422, json::serialize(body));
  }

  FakeResponse create_deployment(const FakeRequest& request) {
    boost::system::error_code ec;
    const json::value parsed = json::parse(request.body, ec);
    if (ec || !parsed.is_object())
      return message(400, "Problems parsing JSON");
    const json::object& body = parsed.as_object();
    auto text = [&](std::string_view key, std::string fallback) {
      const auto* field = body.if_contains(key);
      return field && field->is_string() ? std::string(field->as_string()) : fallback;
    };
    const std::string ref = text("ref", "");
    if (ref.empty())
      return message(422, "Invalid request.\n\n\"ref\" wasn't supplied.");
    if (!options.refs.empty() &&
        std::find(options.refs.begin(), options.refs.end(), ref) == options.refs.end()) {
      return message(422, "No ref found for: " + ref);
    }
    bool auto_merge = true;
    if (const auto* field = body.if_contains("auto_merge"); field && field->is_bool())
      auto_merge = field->as_bool();
    if (auto_merge && options.deployments_auto_merge)
      return message(202, "Auto-merged main into " + ref + " on deployment.");

    FakeDeployment deployment;
    deployment.id = next_deployment_id++;
    deployment.ref = ref;
    deployment.sha = fake_sha(ref);
    deployment.task = text("task", "deploy");
    deployment.environment = text("environment", "production");
    deployment.description = text("description", "");
    deployment.auto_merge = auto_merge;
    deployment.production_environment = deployment.environment == "production";
    if (const auto* field = body.if_contains("production_environment"); field && field->is_bool())
      deployment.production_environment = field->as_bool();
    if (const auto* field = body.if_contains("transient_environment"); field && field->is_bool())
      deployment.transient_environment = field->as_bool();
    if (const auto* contexts = body.if_contains("required_contexts"))
      deployment.required_contexts_json = json::serialize(*contexts);
    json::value payload = json::object();
    if (const auto* field = body.if_contains("payload")) {
      if (field->is_string()) {
        // GitHub stores a JSON string payload as the object it encodes.
        boost::system::error_code payload_ec;
        json::value decoded = json::parse(field->as_string(), payload_ec);
        payload = payload_ec ? *field : decoded;
      } else {
        payload = *field;
      }
    }
    deployment.payload_json = json::serialize(payload);
    deployment_payloads[deployment.id] = payload;
    deployment_times[deployment.id] = iso8601(SystemClock::now());
    deployments.push_back(deployment);
    return FakeResponse::json(201, json::serialize(deployment_json(deployments.back())));
  }

  FakeResponse create_status(const FakeRequest& request, FakeDeployment& deployment) {
    boost::system::error_code ec;
    const json::value parsed = json::parse(request.body, ec);
    if (ec || !parsed.is_object())
      return message(400, "Problems parsing JSON");
    const json::object& body = parsed.as_object();
    auto text = [&](std::string_view key) {
      const auto* field = body.if_contains(key);
      return field && field->is_string() ? std::string(field->as_string()) : std::string();
    };
    static const std::set<std::string> states = {"error",  "failure", "inactive", "in_progress",
                                                 "queued", "pending", "success"};
    const std::string state = text("state");
    if (!states.contains(state))
      return validation_failed("DeploymentStatus", "state", "state is not included in the list");
    const std::string description = text("description");
    if (description.size() > 140 * 4)  // bytes; the character count is checked below
      return validation_failed("DeploymentStatus", "description", "description is too long");
    std::size_t characters = 0;
    for (const char c : description)
      characters += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
    if (characters > 140) {
      return validation_failed("DeploymentStatus", "description",
                               "description is too long (maximum is 140 characters)");
    }
    FakeDeploymentStatus status;
    status.id = next_status_id++;
    status.state = state;
    status.description = description;
    status.environment = text("environment").empty() ? deployment.environment : text("environment");
    status.log_url = text("log_url").empty() ? text("target_url") : text("log_url");
    status.environment_url = text("environment_url");
    deployment.statuses.push_back(status);
    status_times[deployment.id].push_back(iso8601(SystemClock::now()));
    return FakeResponse::json(
        201, json::serialize(status_json(deployment, deployment.statuses.size() - 1)));
  }
};

FakeGithub::FakeGithub(FakeGithubOptions options)
    : state_(std::make_shared<State>(std::move(options))) {
  FakeHttpServer::Options server_options;
  server_options.tls = state_->options.tls;
  std::shared_ptr<State> state = state_;
  server_ = std::make_unique<FakeHttpServer>(
      [state](const FakeRequest& request) { return state->handle(request); }, server_options);
  std::lock_guard lock(state_->mu);
  state_->base_url = server_->base_url();
}

FakeGithub::~FakeGithub() = default;

std::string FakeGithub::base_url() const {
  return server_->base_url();
}

std::string FakeGithub::ca_path() const {
  return server_->ca_path();
}

const FakeGithubOptions& FakeGithub::options() const {
  return state_->options;
}

void FakeGithub::plan_next_run(FakeRunPlan plan) {
  std::lock_guard lock(state_->mu);
  state_->plans.push_back(std::move(plan));
}

void FakeGithub::next_run_fails(std::string job, std::string step) {
  FakeRunPlan plan;
  plan.conclusion = "failure";
  plan.failed_job = std::move(job);
  plan.failed_step = std::move(step);
  plan_next_run(std::move(plan));
}

void FakeGithub::next_run_sticks() {
  FakeRunPlan plan;
  plan.stuck = true;
  plan_next_run(std::move(plan));
}

void FakeGithub::fail_next(int count, int status, std::string path_prefix) {
  std::lock_guard lock(state_->mu);
  state_->faults.push_back({count, status, std::move(path_prefix)});
}

void FakeGithub::rate_limit_next(FakeRateLimit kind, int seconds) {
  std::lock_guard lock(state_->mu);
  state_->limits.push_back({kind, seconds});
}

void FakeGithub::delay_next(std::chrono::milliseconds delay) {
  std::lock_guard lock(state_->mu);
  state_->delays.push_back(delay);
}

std::vector<FakeRun> FakeGithub::runs() const {
  std::lock_guard lock(state_->mu);
  const auto now = SteadyClock::now();
  std::vector<FakeRun> out;
  for (const auto& run : state_->runs) {
    const auto current = state_->phase(run, now);
    FakeRun copy;
    copy.id = run.id;
    copy.workflow_id = run.workflow->id;
    copy.workflow_file = run.workflow->file;
    copy.run_number = run.run_number;
    copy.ref = run.ref;
    copy.inputs = run.inputs;
    copy.display_title = run.display_title;
    copy.status = current.status;
    copy.conclusion = current.conclusion;
    copy.cancel_requested = run.cancelled_at.has_value();
    out.push_back(std::move(copy));
  }
  return out;
}

std::vector<FakeDeployment> FakeGithub::deployments() const {
  std::lock_guard lock(state_->mu);
  return state_->deployments;
}

int FakeGithub::not_modified_answers() const {
  std::lock_guard lock(state_->mu);
  return state_->not_modified;
}

std::vector<FakeRequest> FakeGithub::requests() const {
  return server_->requests();
}

std::vector<FakeRequest> FakeGithub::requests_to(std::string_view method,
                                                 std::string_view path_prefix) const {
  return server_->requests_to(method, path_prefix);
}

}  // namespace shipmate::testing
