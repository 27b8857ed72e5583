// GitHub Actions (CiProvider + follow_ci_run) and GitHub Deployments against FakeGithub over real
// sockets, and the official @octokit/rest client against the same fake.
#include "integrations/ci/github_actions.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "tests/support/async_test.h"
#include "tests/support/fake_github.h"
#include "tests/support/non_json_answers.h"
#include "tests/support/test_support.h"

namespace shipmate::integrations {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using shipmate::testing::FakeGithub;
using shipmate::testing::FakeGithubOptions;
using shipmate::testing::FakeRateLimit;
using shipmate::testing::FakeRequest;
using shipmate::testing::FakeRunDetails;
using shipmate::testing::FakeRunPlan;
using shipmate::testing::FakeWorkflow;
using shipmate::testing::run_async_test;

// gtest's ASSERT_* return from the function, which a coroutine cannot do.
#define CO_REQUIRE(condition)                           \
  if (!(condition)) {                                   \
    ADD_FAILURE() << "requirement failed: " #condition; \
    co_return;                                          \
  }
#define CO_REQUIRE_OK(result)                                  \
  if (!(result).ok()) {                                        \
    ADD_FAILURE() << #result ": " << (result).error().message; \
    co_return;                                                 \
  }

constexpr const char* kCorrelation = "shipmate-42-1700000000";

GithubActionsConfig config_for(const FakeGithub& fake) {
  GithubActionsConfig config;
  config.api_url = fake.base_url();
  config.owner = fake.options().owner;
  config.repo = fake.options().repo;
  config.workflow = "deploy.yml";
  config.token = fake.options().token;
  config.inputs = {{"version", "{version}"}, {"environment", "{environment}"}};
  config.correlation_first_wait = 20ms;
  config.correlation_attempts = 8;
  config.retry.first_backoff = 5ms;
  config.retry.max_backoff = 40ms;
  config.timeout = 20s;  // a guard for a loaded machine, not a timing claim
  config.max_rate_limit_wait = 5s;
  config.follow.first_poll = 10ms;
  config.follow.max_poll = 40ms;
  config.follow.deadline = 30s;  // a guard (the fake's runs end in ~100 ms); see fast_follow()
  config.follow.max_consecutive_errors = 3;
  return config;
}

net::HttpClientOptions client_options(const FakeGithub& fake) {
  net::HttpClientOptions options;
  options.proxy = "";  // never a proxy from the environment: the fake is on loopback
  options.ca_file = fake.ca_path();
  return options;
}

CiRunRequest deploy_request(std::string_view correlation_id = kCorrelation) {
  CiRunRequest request;
  request.service = "shop";
  request.environment = "staging";
  request.version = "v1.2.3";
  request.correlation_id = std::string(correlation_id);
  return request;
}

json::object parse_object(const std::string& text) {
  return json::parse(text).as_object();
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor, duration);
  co_await timer.async_wait(asio::use_awaitable);
}

// Polls until the run reaches `state` (the fake moves runs by wall clock).
asio::awaitable<CiRunStatus> wait_for_state(GithubActions& github, CiRunHandle handle,
                                            CiRunState state) {
  // A deadline, not a count of polls: each poll is a request that a loaded machine may slow.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    Result<CiRunStatus> current = co_await github.status(handle);
    if (current && current->state == state)
      co_return *current;
    co_await sleep_for(10ms);
  }
  ADD_FAILURE() << "run " << handle.id << " never reached " << to_string(state);
  co_return CiRunStatus{};
}

std::vector<FakeRequest> run_gets(const FakeGithub& fake, const std::string& id) {
  std::vector<FakeRequest> out;
  for (auto& request : fake.requests_to("GET", "/repos/acme/shop/actions/runs/" + id)) {
    if (request.path == "/repos/acme/shop/actions/runs/" + id)
      out.push_back(request);
  }
  return out;
}

// Bad input loses nothing: an answer that is not JSON is an error naming GitHub, from trigger
// (which reads the run back) and from status, never a crash or a run taken for a success.
TEST(GithubActions, NonJsonAnswersAreClearErrorsNamingGithub) {
  FakeGithub reference;
  for (const auto& answer : shipmate::testing::non_json_answers()) {
    SCOPED_TRACE(answer.name);
    auto server = shipmate::testing::server_answering(answer.response);
    std::string triggered_error;
    std::string status_error;
    run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
      net::HttpClientOptions http_options;
      http_options.proxy = "";
      net::HttpClient http(ioc.get_executor(), http_options);
      GithubActionsConfig config = config_for(reference);
      config.api_url = server->base_url();
      config.retry.max_attempts = 2;
      GithubActions github(http, config);
      CiRunRequest request = deploy_request();
      Result<CiRunHandle> triggered = co_await github.trigger(request);
      triggered_error = triggered ? "" : triggered.error().message;
      CiRunHandle existing{"4242", ""};
      Result<CiRunStatus> status = co_await github.status(existing);
      status_error = status ? "" : status.error().message;
    });
    EXPECT_EQ(shipmate::testing::non_json_problem(triggered_error, "GitHub"), "")
        << triggered_error;
    EXPECT_EQ(shipmate::testing::non_json_problem(status_error, "GitHub"), "") << status_error;
  }
}

// ---- trigger and follow ----

TEST(GithubActions, TriggerGetsTheRunIdAndFollowsItToSuccess) {
  FakeGithubOptions options;
  options.queued_for = 100ms;
  options.running_for = 200ms;
  FakeGithub fake(options);
  std::vector<CiRunStatus> seen;
  CiRunHandle handle;
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const GithubActionsConfig github_config = config_for(fake);
    GithubActions github(http, github_config);
    EXPECT_TRUE(github.validate().ok());
    EXPECT_EQ(github.kind(), "github");
    CiRunRequest request = deploy_request();
    Result<CiRunHandle> triggered = co_await github.trigger(request);
    if (!triggered) {
      ADD_FAILURE() << triggered.error().message;
      co_return;
    }
    handle = *triggered;
    std::function<void(const CiRunStatus&)> progress = [&](const CiRunStatus& status) {
      seen.push_back(status);
    };
    Result<CiRunStatus> final_status =
        co_await follow_ci_run(github, handle, github.config().follow, progress);
    CO_REQUIRE_OK(final_status);
    EXPECT_EQ(final_status->state, CiRunState::succeeded);
    EXPECT_EQ(final_status->detail, "run #1 succeeded");
    EXPECT_EQ(final_status->url, handle.url);
  });

  const auto runs = fake.runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(handle.id, std::to_string(runs[0].id));
  EXPECT_EQ(handle.url, "https://github.com/acme/shop/actions/runs/" + handle.id);
  EXPECT_EQ(runs[0].ref, "main");
  EXPECT_EQ(runs[0].display_title, std::string("Deploy v1.2.3 to staging [") + kCorrelation + "]");

  const auto dispatches =
      fake.requests_to("POST", "/repos/acme/shop/actions/workflows/deploy.yml/dispatches");
  ASSERT_EQ(dispatches.size(), 1u);
  const FakeRequest& dispatch = dispatches[0];
  EXPECT_EQ(dispatch.header("Authorization"), "Bearer " + fake.options().token);
  EXPECT_EQ(dispatch.header("Accept"), "application/vnd.github+json");
  EXPECT_EQ(dispatch.header("X-GitHub-Api-Version"), "2022-11-28");
  EXPECT_FALSE(dispatch.header("User-Agent").empty());
  const json::object body = parse_object(dispatch.body);
  EXPECT_EQ(body.at("ref"), "main");
  EXPECT_EQ(body.at("return_run_details"), true);
  const json::object& inputs = body.at("inputs").as_object();
  EXPECT_EQ(inputs.size(), 3u);
  EXPECT_EQ(inputs.at("version"), "v1.2.3");
  EXPECT_EQ(inputs.at("environment"), "staging");
  EXPECT_EQ(inputs.at("shipmate_id"), kCorrelation);

  // Progress reports changes only, in the order a run moves, ending at the final status.
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen.back().state, CiRunState::succeeded);
  for (std::size_t i = 1; i < seen.size(); ++i) {
    EXPECT_LE(static_cast<int>(seen[i - 1].state), static_cast<int>(seen[i].state));
    EXPECT_TRUE(seen[i - 1].state != seen[i].state || seen[i - 1].detail != seen[i].detail);
  }
  const bool saw_running = std::any_of(seen.begin(), seen.end(), [](const CiRunStatus& s) {
    return s.state == CiRunState::running && s.detail == "run #1 in progress";
  });
  EXPECT_TRUE(saw_running);
  EXPECT_GE(run_gets(fake, handle.id).size(), 2u);
}

TEST(GithubActions, FailedRunNamesTheFailedJobAndStep) {
  FakeGithubOptions options;
  FakeWorkflow workflow;
  workflow.file = "release.yaml";
  workflow.name = "Release";
  workflow.run_name = "Release ${{ inputs.version }} (${{ inputs.shipmate_id }})";
  workflow.inputs = {{"version", true}, {"environment", true}, {"shipmate_id", true}};
  workflow.jobs = {{"build", {"Set up job", "Build image"}},
                   {"deploy", {"Set up job", "kubectl apply", "Complete job"}}};
  options.workflows = {workflow};
  FakeGithub fake(options);
  fake.next_run_fails("deploy", "kubectl apply");
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    GithubActionsConfig config = config_for(fake);
    config.workflow = "release.yaml";
    GithubActions github(http, config);
    CiRunRequest request = deploy_request();
    Result<CiRunHandle> handle = co_await github.trigger(request);
    CO_REQUIRE_OK(handle);
    std::function<void(const CiRunStatus&)> progress;
    Result<CiRunStatus> final_status =
        co_await follow_ci_run(github, *handle, config.follow, progress);
    CO_REQUIRE_OK(final_status);
    EXPECT_EQ(final_status->state, CiRunState::failed);
    EXPECT_EQ(final_status->detail, "run #1 failed: job 'deploy' failed at step 'kubectl apply'");
    EXPECT_EQ(final_status->url, handle->url);
    EXPECT_EQ(
        fake.requests_to("GET", "/repos/acme/shop/actions/runs/" + handle->id + "/jobs").size(),
        1u);
  });
}

TEST(GithubActions, OtherConclusionsMapToStatesWithAReason) {
  struct Case {
    std::string conclusion;
    CiRunState state;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {"cancelled", CiRunState::cancelled, "run #1 was cancelled"},
      {"timed_out", CiRunState::timed_out, "run #2 timed out in GitHub"},
      {"startup_failure", CiRunState::failed,
       "run #3 failed to start (startup_failure): check the workflow file"},
      {"action_required", CiRunState::failed,
       "run #4 needs someone to approve it in GitHub (action_required)"},
      {"neutral", CiRunState::succeeded, "run #5 finished neutral"},
      {"skipped", CiRunState::failed, "run #6 was skipped: no job ran"},
  };
  FakeGithubOptions options;
  options.queued_for = 0ms;
  options.running_for = 0ms;
  FakeGithub fake(options);
  for (const auto& c : cases) {
    FakeRunPlan plan;
    plan.conclusion = c.conclusion;
    fake.plan_next_run(plan);
  }
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const GithubActionsConfig github_config = config_for(fake);
    GithubActions github(http, github_config);
    for (const auto& c : cases) {
      const std::string correlation_id = "shipmate-" + c.conclusion;
      CiRunRequest request = deploy_request(correlation_id);
      Result<CiRunHandle> handle = co_await github.trigger(request);
      CO_REQUIRE_OK(handle);
      Result<CiRunStatus> status = co_await github.status(*handle);
      CO_REQUIRE_OK(status);
      EXPECT_EQ(status->state, c.state) << c.conclusion;
      // A run that timed out names its job (the fake's default job is "deploy").
      if (c.conclusion == "timed_out")
        EXPECT_EQ(status->detail,
                  c.detail + ": job 'deploy' timed out at step 'Run actions/checkout@v4'");
      else
        EXPECT_EQ(status->detail, c.detail);
    }
  });
}

TEST(GithubActions, CancelStopsARunAndToleratesAFinishedOne) {
  FakeGithub fake;
  fake.next_run_sticks();
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const GithubActionsConfig github_config = config_for(fake);
    GithubActions github(http, github_config);
    CiRunRequest request = deploy_request();
    Result<CiRunHandle> handle = co_await github.trigger(request);
    CO_REQUIRE_OK(handle);
    co_await wait_for_state(github, *handle, CiRunState::running);
    Status cancelled = co_await github.cancel(*handle);
    EXPECT_TRUE(cancelled.ok()) << cancelled.error().message;
    Result<CiRunStatus> status = co_await github.status(*handle);
    CO_REQUIRE_OK(status);
    EXPECT_EQ(status->state, CiRunState::cancelled);
    EXPECT_EQ(status->detail, "run #1 was cancelled");
    // The run is finished now: GitHub answers 409, which is what the caller wanted anyway.
    Status again = co_await github.cancel(*handle);
    EXPECT_TRUE(again.ok()) << again.error().message;
  });
  const auto runs = fake.runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_TRUE(runs[0].cancel_requested);
  EXPECT_EQ(runs[0].conclusion, "cancelled");
  EXPECT_EQ(fake.requests_to("POST", "/repos/acme/shop/actions/runs/").size(), 2u);
}

TEST(GithubActions, DeadlineCancelsTheRunAndReportsTimedOut) {
  FakeGithub fake;
  fake.next_run_sticks();
  std::vector<CiRunStatus> seen;
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const GithubActionsConfig github_config = config_for(fake);
    GithubActions github(http, github_config);
    CiRunRequest request = deploy_request();
    Result<CiRunHandle> handle = co_await github.trigger(request);
    CO_REQUIRE_OK(handle);
    FollowOptions follow = github.config().follow;
    follow.deadline = 200ms;
    std::function<void(const CiRunStatus&)> progress = [&](const CiRunStatus& status) {
      seen.push_back(status);
    };
    Result<CiRunStatus> final_status = co_await follow_ci_run(github, *handle, follow, progress);
    CO_REQUIRE_OK(final_status);
    EXPECT_EQ(final_status->state, CiRunState::timed_out);
    EXPECT_NE(final_status->detail.find("no result after"), std::string::npos)
        << final_status->detail;
    EXPECT_NE(final_status->detail.find("the run was cancelled"), std::string::npos)
        << final_status->detail;
    EXPECT_EQ(final_status->url, handle->url);
  });
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().state, CiRunState::timed_out);
  const auto cancels = fake.requests_to("POST", "/repos/acme/shop/actions/runs/");
  ASSERT_EQ(cancels.size(), 1u);
  EXPECT_TRUE(cancels[0].path.ends_with("/cancel"));
  ASSERT_EQ(fake.runs().size(), 1u);
  EXPECT_EQ(fake.runs()[0].conclusion, "cancelled");
}

// ---- correlation when the dispatch answer names no run ----

TEST(GithubActions, CorrelatesARunThatAppearsLateWhenDispatchAnswers204) {
  FakeGithubOptions options;
  options.run_details = FakeRunDetails::ignored;
  options.run_visible_after = 120ms;
  FakeGithub fake(options);
  std::vector<CiRunHandle> handles;
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const GithubActionsConfig github_config = config_for(fake);
    GithubActions github(http, github_config);
    // Two deploys in a row: each must find its own run, not the newest one.
    for (const char* id : {"shipmate-1-1700000000", "shipmate-2-1700000001"}) {
      CiRunRequest request = deploy_request(id);
      Result<CiRunHandle> handle = co_await github.trigger(request);
      CO_REQUIRE_OK(handle);
      handles.push_back(*handle);
    }
  });
  const auto runs = fake.runs();
  ASSERT_EQ(runs.size(), 2u);
  ASSERT_EQ(handles.size(), 2u);
  EXPECT_EQ(handles[0].id, std::to_string(runs[0].id));
  EXPECT_EQ(handles[1].id, std::to_string(runs[1].id));
  EXPECT_EQ(handles[1].url, "https://github.com/acme/shop/actions/runs/" + handles[1].id);

  const auto lists = fake.requests_to("GET", "/repos/acme/shop/actions/workflows/deploy.yml/runs");
  ASSERT_GE(lists.size(), 4u);  // the run was invisible at the first look of each trigger
  const FakeRequest& list = lists.front();
  EXPECT_EQ(list.query.at("event"), "workflow_dispatch");
  EXPECT_EQ(list.query.at("created").rfind(">=", 0), 0u) << list.query.at("created");
  EXPECT_EQ(list.query.at("per_page"), "100");
}

TEST(GithubActions, ServerWithoutRunDetailsGetsTheDispatchAgainWithoutTheField) {
  FakeGithubOptions options;
  options.run_details = FakeRunDetails::rejected;  // GHES 3.20 and older
  FakeGithub fake(options);
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const GithubActionsConfig github_config = config_for(fake);
    GithubActions github(http, github_config);
    CiRunRequest first = deploy_request("shipmate-1-1");
    Result<CiRunHandle> handle = co_await github.trigger(first);
    CO_REQUIRE_OK(handle);
    EXPECT_EQ(handle->id, std::to_string(fake.runs().at(0).id));
    // The provider remembers: the next dispatch goes without the field straight away.
    CiRunRequest second = deploy_request("shipmate-2-2");
    Result<CiRunHandle> next = co_await github.trigger(second);
    CO_REQUIRE_OK(next);
    EXPECT_EQ(next->id, std::to_string(fake.runs().at(1).id));
  });
  const auto dispatches =
      fake.requests_to("POST", "/repos/acme/shop/actions/workflows/deploy.yml/dispatches");
  ASSERT_EQ(dispatches.size(), 3u);
  EXPECT_TRUE(parse_object(dispatches[0].body).contains("return_run_details"));
  EXPECT_FALSE(parse_object(dispatches[1].body).contains("return_run_details"));
  EXPECT_FALSE(parse_object(dispatches[2].body).contains("return_run_details"));
  EXPECT_EQ(fake.runs().size(), 2u);
}

TEST(GithubActions, CorrelationFailsClearlyWhenTheRunNameLacksTheId) {
  FakeGithubOptions options;
  options.run_details = FakeRunDetails::ignored;
  FakeWorkflow workflow;
  workflow.file = "deploy.yml";
  workflow.name = "Deploy";  // no run-name: every run is titled "Deploy"
  workflow.inputs = {{"version"}, {"environment"}, {"shipmate_id"}};
  options.workflows = {workflow};
  FakeGithub fake(options);
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    GithubActionsConfig config = config_for(fake);
    config.correlation_attempts = 3;
    GithubActions github(http, config);
    CiRunRequest request = deploy_request();
    Result<CiRunHandle> handle = co_await github.trigger(request);
    CO_REQUIRE(!handle.ok());
    const std::string& message = handle.error().message;
    EXPECT_EQ(message.rfind("GitHub: find the run started for deploy.yml in acme/shop: no run "
                            "mentioning shipmate-42-1700000000 appeared within",
                            0),
              0u)
        << message;
    EXPECT_NE(message.find("run-name must include ${{ inputs.shipmate_id }}"), std::string::npos)
        << message;
  });
  EXPECT_EQ(fake.requests_to("GET", "/repos/acme/shop/actions/workflows/deploy.yml/runs").size(),
            3u);
}

// ---- errors people read ----

TEST(GithubActions, UnknownWorkflowIsA404WithAHint) {
  FakeGithub fake;
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    GithubActionsConfig config = config_for(fake);
    config.workflow = "deploy-prod.yml";
    GithubActions github(http, config);
    CiRunRequest request = deploy_request();
    Result<CiRunHandle> handle = co_await github.trigger(request);
    CO_REQUIRE(!handle.ok());
    EXPECT_EQ(handle.error().message,
              "GitHub: trigger workflow deploy-prod.yml in acme/shop: not found (404): Not Found; "
              "check the workflow file name (deploy-prod.yml), that the repository exists and "
              "that the token can see it");
  });
  EXPECT_TRUE(fake.runs().empty());
}

TEST(GithubActions, UndeclaredInputsAreA422NamingThem) {
  FakeGithub fake;
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    GithubActionsConfig config = config_for(fake);
    config.inputs["colour"] = "blue";
    GithubActions github(http, config);
    CiRunRequest request = deploy_request();
    Result<CiRunHandle> handle = co_await github.trigger(request);
    CO_REQUIRE(!handle.ok());
    EXPECT_EQ(handle.error().message,
              "GitHub: trigger workflow deploy.yml in acme/shop: rejected as invalid (422): "
              "Unexpected inputs provided: [\"colour\"]; declare these inputs under "
              "on.workflow_dispatch.inputs in deploy.yml, or remove them from the service's "
              "GitHub inputs");
  });
  EXPECT_TRUE(fake.runs().empty());
}

TEST(GithubActions, WorkflowWithoutDispatchTriggerIsA422WithAHint) {
  FakeGithubOptions options;
  FakeWorkflow workflow;
  workflow.file = "ci.yml";
  workflow.dispatchable = false;
  options.workflows = {workflow};
  FakeGithub fake(options);
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    GithubActionsConfig config = config_for(fake);
    config.workflow = "ci.yml";
    config.inputs.clear();
    GithubActions github(http, config);
    CiRunRequest request = deploy_request();
    Result<CiRunHandle> handle = co_await github.trigger(request);
    CO_REQUIRE(!handle.ok());
    EXPECT_EQ(handle.error().message,
              "GitHub: trigger workflow ci.yml in acme/shop: rejected as invalid (422): Workflow "
              "does not have 'workflow_dispatch' trigger; add a workflow_dispatch trigger (on: "
              "workflow_dispatch) to ci.yml on the branch being run");
  });
}

TEST(GithubActions, BadTokenIsA401AndTheTokenNeverShows) {
  FakeGithub fake;
  const std::string wrong = "ghp_wrongTokenValue4242";
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    GithubActionsConfig config = config_for(fake);
    config.token = wrong;
    GithubActions github(http, config);
    CiRunRequest request = deploy_request();
    Result<CiRunHandle> handle = co_await github.trigger(request);
    CO_REQUIRE(!handle.ok());
    EXPECT_EQ(handle.error().message,
              "GitHub: trigger workflow deploy.yml in acme/shop: credentials rejected (401): Bad "
              "credentials");
    CiRunHandle some_run{"12000000001", ""};
    Result<CiRunStatus> status = co_await github.status(some_run);
    CO_REQUIRE(!status.ok());
    EXPECT_EQ(status.error().message,
              "GitHub: read run 12000000001 in acme/shop: credentials rejected (401): Bad "
              "credentials");
    GithubDeployments deployments(http, config);
    GithubDeploymentRequest deployment;
    deployment.ref = "main";
    deployment.environment = "staging";
    Result<std::int64_t> created = co_await deployments.create(deployment);
    CO_REQUIRE(!created.ok());
    for (const std::string& message :
         {handle.error().message, status.error().message, created.error().message}) {
      EXPECT_EQ(message.find(wrong), std::string::npos) << message;
      EXPECT_EQ(message.find(fake.options().token), std::string::npos) << message;
    }
  });
  // The wrong token was sent, so the fake saw it; nothing else did.
  EXPECT_EQ(fake.requests().at(0).header("Authorization"), "Bearer " + wrong);
}

// ---- retries, ETags and rate limits ----

TEST(GithubActions, ServerErrorsOnPollsAreRetried) {
  FakeGithub fake;
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const GithubActionsConfig github_config = config_for(fake);
    GithubActions github(http, github_config);
    CiRunRequest request = deploy_request();
    Result<CiRunHandle> handle = co_await github.trigger(request);
    CO_REQUIRE_OK(handle);
    fake.fail_next(2, 500, "/repos/acme/shop/actions/runs/");
    Result<CiRunStatus> status = co_await github.status(*handle);
    CO_REQUIRE_OK(status);
    EXPECT_EQ(run_gets(fake, handle->id).size(), 3u);
  });
}

TEST(GithubActions, DispatchIsNotSentTwiceAfterA500) {
  FakeGithub fake;
  fake.fail_next(1, 500, "/repos/acme/shop/actions/workflows/");
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const GithubActionsConfig github_config = config_for(fake);
    GithubActions github(http, github_config);
    CiRunRequest request = deploy_request();
    Result<CiRunHandle> handle = co_await github.trigger(request);
    CO_REQUIRE(!handle.ok());
    EXPECT_EQ(handle.error().message,
              "GitHub: trigger workflow deploy.yml in acme/shop: server error (500): Server Error");
  });
  // GitHub may have started a run before failing; a second dispatch could deploy twice.
  EXPECT_EQ(fake.requests_to("POST", "/repos/acme/shop/actions/workflows/").size(), 1u);
}

TEST(GithubActions, FollowGivesUpAfterConsecutivePollErrors) {
  FakeGithub fake;
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    GithubActionsConfig config = config_for(fake);
    config.retry.max_attempts = 1;
    GithubActions github(http, config);
    CiRunRequest request = deploy_request();
    Result<CiRunHandle> handle = co_await github.trigger(request);
    CO_REQUIRE_OK(handle);
    fake.fail_next(1000, 502, "/repos/acme/shop/actions/runs/");
    std::function<void(const CiRunStatus&)> progress;
    Result<CiRunStatus> followed = co_await follow_ci_run(github, *handle, config.follow, progress);
    CO_REQUIRE(!followed.ok());
    EXPECT_EQ(followed.error().message,
              "GitHub: read run " + handle->id +
                  " in acme/shop: server error (502): Server Error (gave up following github "
                  "run " +
                  handle->id + " after 3 failed polls in a row)");
  });
}

TEST(GithubActions, UnchangedRunIsA304AndReusesTheCachedStatus) {
  FakeGithub fake;
  fake.next_run_sticks();
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const GithubActionsConfig github_config = config_for(fake);
    GithubActions github(http, github_config);
    CiRunRequest request = deploy_request();
    Result<CiRunHandle> handle = co_await github.trigger(request);
    CO_REQUIRE_OK(handle);
    const CiRunStatus running = co_await wait_for_state(github, *handle, CiRunState::running);
    const int not_modified_before = fake.not_modified_answers();
    Result<CiRunStatus> again = co_await github.status(*handle);
    CO_REQUIRE_OK(again);
    EXPECT_EQ(again->state, CiRunState::running);
    EXPECT_EQ(again->detail, running.detail);
    EXPECT_EQ(again->url, running.url);
    EXPECT_EQ(fake.not_modified_answers(), not_modified_before + 1);
    const auto gets = run_gets(fake, handle->id);
    CO_REQUIRE(gets.size() >= 2u);
    EXPECT_TRUE(gets.front().header("If-None-Match").empty());
    EXPECT_EQ(gets.back().header("If-None-Match").rfind("W/\"", 0), 0u);
  });
}

TEST(GithubActions, PrimaryRateLimitWaitsForAResetThatIsNear) {
  FakeGithub fake;
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const GithubActionsConfig github_config = config_for(fake);
    GithubActions github(http, github_config);
    CiRunRequest request = deploy_request();
    Result<CiRunHandle> handle = co_await github.trigger(request);
    CO_REQUIRE_OK(handle);
    fake.rate_limit_next(FakeRateLimit::primary_403, 0);  // resets now
    Result<CiRunStatus> status = co_await github.status(*handle);
    CO_REQUIRE_OK(status);
    EXPECT_EQ(run_gets(fake, handle->id).size(), 2u);
  });
}

TEST(GithubActions, PrimaryRateLimitFarAwayIsAClearError) {
  FakeGithub fake;
  fake.rate_limit_next(FakeRateLimit::primary_403, 3600);
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const GithubActionsConfig github_config = config_for(fake);
    GithubActions github(http, github_config);
    CiRunRequest request = deploy_request();
    Result<CiRunHandle> handle = co_await github.trigger(request);
    CO_REQUIRE(!handle.ok());
    EXPECT_EQ(handle.error().message.rfind("GitHub: trigger workflow deploy.yml in acme/shop: "
                                           "rate limit exhausted (403); it resets at ",
                                           0),
              0u)
        << handle.error().message;
  });
  EXPECT_TRUE(fake.runs().empty());
}

TEST(GithubActions, SecondaryRateLimitsAreWaitedOut) {
  FakeGithub fake;
  fake.rate_limit_next(FakeRateLimit::secondary_403, 0);
  fake.rate_limit_next(FakeRateLimit::too_many_429, 0);
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const GithubActionsConfig github_config = config_for(fake);
    GithubActions github(http, github_config);
    CiRunRequest request = deploy_request();
    Result<CiRunHandle> handle = co_await github.trigger(request);
    CO_REQUIRE_OK(handle);
  });
  // 403 waited out by the provider, 429 retried by ApiClient (a 429 was not processed).
  EXPECT_EQ(fake.requests_to("POST", "/repos/acme/shop/actions/workflows/").size(), 3u);
  EXPECT_EQ(fake.runs().size(), 1u);
}

// ---- TLS, numeric workflow ids, configuration ----

TEST(GithubActions, WorksOverTlsWithTheTestCa) {
  FakeGithubOptions options;
  options.tls = true;
  FakeGithub fake(options);
  ASSERT_EQ(fake.base_url().rfind("https://", 0), 0u);
  run_async_test(
      [&](asio::io_context& ioc) -> asio::awaitable<void> {
        const net::HttpClientOptions http_options = client_options(fake);
        net::HttpClient http(ioc.get_executor(), http_options);
        const GithubActionsConfig github_config = config_for(fake);
        GithubActions github(http, github_config);
        CiRunRequest request = deploy_request();
        Result<CiRunHandle> handle = co_await github.trigger(request);
        CO_REQUIRE_OK(handle);
        std::function<void(const CiRunStatus&)> progress;
        Result<CiRunStatus> final_status =
            co_await follow_ci_run(github, *handle, github.config().follow, progress);
        CO_REQUIRE_OK(final_status);
        EXPECT_EQ(final_status->state, CiRunState::succeeded);

        // Without the test CA the certificate does not verify, and nothing is dispatched.
        net::HttpClientOptions untrusting = client_options(fake);
        untrusting.ca_file.clear();
        net::HttpClient strict(ioc.get_executor(), untrusting);
        GithubActions refused(strict, github_config);
        CiRunRequest second = deploy_request("shipmate-2");
        Result<CiRunHandle> none = co_await refused.trigger(second);
        CO_REQUIRE(!none.ok());
        EXPECT_NE(none.error().message.find("certificate"), std::string::npos)
            << none.error().message;
      },
      10s);
  EXPECT_EQ(fake.runs().size(), 1u);
}

TEST(GithubActions, WorkflowCanBeNamedByItsNumericId) {
  FakeGithub fake;
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    GithubActionsConfig config = config_for(fake);
    config.workflow = std::to_string(fake.options().workflows.at(0).id);
    GithubActions github(http, config);
    EXPECT_TRUE(github.validate().ok());
    CiRunRequest request = deploy_request();
    Result<CiRunHandle> handle = co_await github.trigger(request);
    CO_REQUIRE_OK(handle);
  });
  ASSERT_EQ(fake.runs().size(), 1u);
  EXPECT_EQ(fake.runs()[0].workflow_file, "deploy.yml");
}

TEST(GithubActions, ValidateCatchesConfigMistakesWithoutTheNetwork) {
  asio::io_context ioc;
  net::HttpClient http(ioc.get_executor());
  auto problem = [&](const std::function<void(GithubActionsConfig&)>& change) {
    GithubActionsConfig config;
    config.owner = "acme";
    config.repo = "shop";
    config.workflow = "deploy.yml";
    config.token = "ghp_validateOnlyToken";
    change(config);
    Status status = GithubActions(http, config).validate();
    return status.ok() ? std::string() : status.error().message;
  };
  EXPECT_EQ(problem([](GithubActionsConfig&) {}), "");
  EXPECT_EQ(problem([](GithubActionsConfig& c) { c.token.clear(); }),
            "GitHub Actions: no token configured for acme/shop");
  EXPECT_EQ(problem([](GithubActionsConfig& c) { c.workflow = ".github/workflows/deploy.yml"; }),
            "GitHub Actions: workflow '.github/workflows/deploy.yml' must be a file name in "
            ".github/workflows (deploy.yml) or a numeric id");
  EXPECT_EQ(problem([](GithubActionsConfig& c) { c.workflow.clear(); }),
            "GitHub Actions: no workflow configured (a file name like deploy.yml, or its id)");
  EXPECT_EQ(problem([](GithubActionsConfig& c) { c.repo.clear(); }),
            "GitHub Actions: owner and repo are required");
  EXPECT_EQ(problem([](GithubActionsConfig& c) { c.inputs["tag"] = "{verison}"; }),
            "GitHub Actions: input 'tag' uses {verison}; the placeholders are {version}, "
            "{environment}, {service} and {correlation_id}");
  EXPECT_EQ(problem([](GithubActionsConfig& c) { c.inputs["shipmate_id"] = "x"; }),
            "GitHub Actions: input 'shipmate_id' is the correlation input, which Shipmate fills "
            "itself");
  EXPECT_EQ(problem([](GithubActionsConfig& c) { c.api_url = "ftp://example.com"; }),
            "GitHub Actions: api_url 'ftp://example.com' is not an http(s) URL");
  EXPECT_EQ(problem([](GithubActionsConfig& c) {
              for (int i = 0; i < 25; ++i)
                c.inputs["input" + std::to_string(i)] = "x";
            }),
            "GitHub Actions: 26 workflow inputs; GitHub accepts at most 25");
  EXPECT_EQ(problem([](GithubActionsConfig& c) { c.workflow = "61000001"; }), "");
}

TEST(GithubActions, WorkflowInputsFillTemplatesAndAddTheCorrelationInput) {
  GithubActionsConfig config;
  config.inputs = {{"image", "registry.example/{service}:{version}"},
                   {"target", "{environment}"},
                   {"note", "deploy {correlation_id} {unknown}"}};
  CiRunRequest request = deploy_request();
  request.inputs = {{"target", "override"}, {"extra", "1"}};
  const auto inputs = github_workflow_inputs(config, request);
  const std::map<std::string, std::string> expected = {
      {"image", "registry.example/shop:v1.2.3"},
      {"target", "override"},
      {"note", std::string("deploy ") + kCorrelation + " {unknown}"},
      {"extra", "1"},
      {"shipmate_id", kCorrelation}};
  EXPECT_EQ(inputs, expected);
  config.correlation_input.clear();
  EXPECT_FALSE(github_workflow_inputs(config, request).contains("shipmate_id"));
}

// ---- GitHub Deployments ----

TEST(GithubDeployments, DeploymentsAndStatusesAreRecordedInOrder) {
  FakeGithubOptions options;
  options.deployments_auto_merge = true;  // GitHub's default; Shipmate turns it off
  FakeGithub fake(options);
  std::int64_t id = 0;
  const std::string long_description(150, 'x');
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const GithubActionsConfig github_config = config_for(fake);
    GithubDeployments deployments(http, github_config);
    GithubDeploymentRequest request;
    request.ref = "v1.2.3";
    request.environment = "staging";
    request.description = "Deploy #42 of shop v1.2.3 by alice";
    request.shipmate_deploy_id = "42";
    request.payload = {{"service", "shop"}};
    Result<std::int64_t> created = co_await deployments.create(request);
    CO_REQUIRE_OK(created);
    id = *created;

    GithubDeploymentStatus started;
    started.state = GithubDeploymentState::in_progress;
    started.log_url = "https://chat.example/deploys/42";
    started.description = "deploying";
    Status first = co_await deployments.set_status(id, started);
    CO_REQUIRE_OK(first);
    GithubDeploymentStatus done;
    done.state = GithubDeploymentState::success;
    done.log_url = "https://chat.example/deploys/42";
    done.environment_url = "https://staging.shop.example";
    done.description = long_description;
    Status second = co_await deployments.set_status(id, done);
    CO_REQUIRE_OK(second);

    // What GitHub lists back: newest status first.
    net::HttpRequest list;
    list.url = fake.base_url() + "/repos/acme/shop/deployments/" + std::to_string(id) + "/statuses";
    list.headers = {{"Authorization", "Bearer " + fake.options().token}};
    Result<net::HttpResponse> listed = co_await http.send(list);
    CO_REQUIRE_OK(listed);
    const json::array statuses = json::parse(listed->body).as_array();
    CO_REQUIRE(statuses.size() == 2u);
    EXPECT_EQ(statuses[0].at("state"), "success");
    EXPECT_EQ(statuses[0].at("environment_url"), "https://staging.shop.example");
    EXPECT_EQ(statuses[0].at("target_url"), "https://chat.example/deploys/42");
    EXPECT_EQ(statuses[1].at("state"), "in_progress");

    Status unknown = co_await deployments.set_status(id + 1000, started);
    CO_REQUIRE(!unknown.ok());
    EXPECT_EQ(unknown.error().message,
              "GitHub: set deployment " + std::to_string(id + 1000) +
                  " to in_progress in acme/shop: not found (404): Not Found");
  });

  const auto deployments = fake.deployments();
  ASSERT_EQ(deployments.size(), 1u);
  const auto& deployment = deployments[0];
  EXPECT_EQ(deployment.id, id);
  EXPECT_EQ(deployment.ref, "v1.2.3");
  EXPECT_EQ(deployment.environment, "staging");
  EXPECT_EQ(deployment.task, "deploy");
  EXPECT_EQ(deployment.description, "Deploy #42 of shop v1.2.3 by alice");
  EXPECT_FALSE(deployment.auto_merge);
  EXPECT_EQ(deployment.required_contexts_json, "[]");
  EXPECT_FALSE(deployment.production_environment);
  EXPECT_FALSE(deployment.transient_environment);
  // Left to GitHub's default (production only for "production") unless configured.
  const auto posts = fake.requests_to("POST", "/repos/acme/shop/deployments");
  ASSERT_FALSE(posts.empty());
  EXPECT_FALSE(parse_object(posts[0].body).contains("production_environment"));
  const json::object payload = parse_object(deployment.payload_json);
  EXPECT_EQ(payload.at("shipmate_deploy_id"), "42");
  EXPECT_EQ(payload.at("service"), "shop");
  ASSERT_EQ(deployment.statuses.size(), 2u);
  EXPECT_EQ(deployment.statuses[0].state, "in_progress");
  EXPECT_EQ(deployment.statuses[0].log_url, "https://chat.example/deploys/42");
  EXPECT_EQ(deployment.statuses[0].environment, "staging");
  EXPECT_EQ(deployment.statuses[1].state, "success");
  EXPECT_EQ(deployment.statuses[1].environment_url, "https://staging.shop.example");
  // Cut to GitHub's 140 characters, the last one an ellipsis.
  EXPECT_EQ(deployment.statuses[1].description, std::string(139, 'x') + "\u2026");
}

TEST(GithubDeployments, UnknownRefIsA422WithAHint) {
  FakeGithubOptions options;
  options.refs = {"main"};
  FakeGithub fake(options);
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const GithubActionsConfig github_config = config_for(fake);
    GithubDeployments deployments(http, github_config);
    GithubDeploymentRequest request;
    request.ref = "v9.9.9";
    request.environment = "production";
    Result<std::int64_t> created = co_await deployments.create(request);
    CO_REQUIRE(!created.ok());
    EXPECT_EQ(created.error().message,
              "GitHub: create deployment of v9.9.9 to production in acme/shop: rejected as "
              "invalid (422): No ref found for: v9.9.9; the ref must be a branch, tag or sha of "
              "acme/shop");
  });
  EXPECT_TRUE(fake.deployments().empty());
}

// ---- the official client ----

// Why the official-client test cannot run, or "" when it can.
std::string octokit_missing() {
  const std::string node_dir = shipmate::testing::source_dir() + "/tests/node";
  if (!std::filesystem::exists(node_dir + "/node_modules/@octokit/rest"))
    return "tests/node/node_modules is missing @octokit/rest: run scripts/install-deps";
  auto [status, version] = shipmate::testing::run_command(
      {"/usr/bin/env", "node", "-p", "process.versions.node.split('.')[0]"});
  // tests/node pins an Octokit that runs on Debian 12's Node 18.
  if (status != 0 || std::atoi(version.c_str()) < 18)
    return "needs Node.js 18 or newer (found: " + version + ")";
  return "";
}

TEST(OfficialClient, OctokitDispatchesListsRunsAndRecordsDeployments) {
  if (auto missing = octokit_missing(); !missing.empty())
    GTEST_SKIP() << missing;
  FakeGithubOptions options;
  options.queued_for = 0ms;
  options.running_for = 0ms;
  FakeGithub fake(options);
  fake.next_run_fails("deploy", "Deploy");
  const std::string node_dir = shipmate::testing::source_dir() + "/tests/node";
  auto [status, output] = shipmate::testing::run_command(
      {"/usr/bin/env", "node", node_dir + "/octokit_check.mjs", fake.base_url(),
       fake.options().token, fake.options().owner, fake.options().repo},
      "", {}, node_dir);
  ASSERT_EQ(status, 0) << output;
  EXPECT_NE(output.find("OCTOKIT OK"), std::string::npos) << output;

  const auto runs = fake.runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].inputs.at("shipmate_id"), "octokit-1");
  EXPECT_NE(output.find("RUN " + std::to_string(runs[0].id)), std::string::npos) << output;
  const auto deployments = fake.deployments();
  ASSERT_EQ(deployments.size(), 1u);
  ASSERT_EQ(deployments[0].statuses.size(), 1u);
  EXPECT_EQ(deployments[0].statuses[0].state, "success");
  // octokit authenticates with the "token" scheme; the fake accepts it as GitHub does.
  EXPECT_FALSE(fake.requests().at(0).header("Authorization").empty());
}

}  // namespace
}  // namespace shipmate::integrations
