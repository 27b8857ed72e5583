// GitLab CI provider against the fake GitLab, over real sockets through the real HTTP client.
#include "integrations/ci/gitlab_ci.h"

#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "integrations/net/http_client.h"
#include "tests/support/async_test.h"
#include "tests/support/ci_test_support.h"
#include "tests/support/fake_gitlab.h"
#include "tests/support/non_json_answers.h"
#include "tests/support/test_support.h"

namespace shipmate::integrations {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::client_options;
using testing::deploy_request;
using testing::FakeGitlab;
using testing::fast_follow;
using testing::follow;
using testing::run_async_test;

GitlabCiConfig config_for(const FakeGitlab& fake) {
  GitlabCiConfig config;
  config.api_url = fake.api_url();
  config.project = fake.options().project_path;
  config.token = fake.options().private_token;
  config.variables = {{"VERSION", "{version}"},
                      {"DEPLOY_ENV", "{environment}"},
                      {"SHIPMATE_ID", "{correlation_id}"},
                      {"SERVICE_IMAGE", "registry.example.com/{service}:{version}"}};
  config.retry = {4, 5ms, 20ms};
  config.timeout = 20s;  // a guard for a loaded machine, not a timing claim
  return config;
}

const CiRunRequest kDeployRequest = deploy_request();

boost::json::value parse(const std::string& text) {
  return boost::json::parse(text);
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(asio::use_awaitable);
}

TEST(GitlabCi, PipelineIsCreatedWithVariablesAndFollowedToSuccess) {
  FakeGitlab fake;
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const auto gitlab_config = config_for(fake);
    GitlabCi gitlab(http, gitlab_config);
    CO_ASSERT_OK(gitlab.validate());

    auto handle = co_await gitlab.trigger(kDeployRequest);
    CO_ASSERT_OK(handle);
    EXPECT_EQ(handle->id, "1001");
    EXPECT_EQ(handle->url, fake.api_url().substr(0, fake.api_url().size() - 7) +
                               "/group/sub/api/-/pipelines/1001");

    std::vector<CiRunStatus> seen;
    auto final_status = co_await follow(gitlab, *handle, fast_follow(), &seen);
    CO_ASSERT_OK(final_status);
    EXPECT_EQ(final_status->state, CiRunState::succeeded);
    EXPECT_EQ(final_status->url, handle->url);
    CO_ASSERT_TRUE(seen.size() >= 2u, "");
    bool saw_running = false;
    for (const auto& s : seen)
      saw_running = saw_running || s.state == CiRunState::running;
    EXPECT_TRUE(saw_running);
  });

  const auto pipelines = fake.pipelines();
  ASSERT_EQ(pipelines.size(), 1u);
  EXPECT_EQ(pipelines[0].ref, "main");
  EXPECT_EQ(pipelines[0].source, "api");
  const std::map<std::string, std::string> expected = {
      {"VERSION", "v2.3.1"},
      {"DEPLOY_ENV", "staging"},
      {"SHIPMATE_ID", "shipmate-7-1700000000"},
      {"SERVICE_IMAGE", "registry.example.com/api:v2.3.1"}};
  EXPECT_EQ(pipelines[0].variables, expected);
  EXPECT_EQ(pipelines[0].variable_types, std::vector<std::string>(4, "env_var"));

  const auto creates = fake.server().requests_to("POST", "/api/v4/projects/");
  ASSERT_EQ(creates.size(), 1u);
  // The path form of the project is encoded, as GitLab requires.
  EXPECT_EQ(creates[0].target, "/api/v4/projects/group%2Fsub%2Fapi/pipeline");
  EXPECT_EQ(creates[0].header("PRIVATE-TOKEN"), fake.options().private_token);
  EXPECT_EQ(parse(creates[0].body).at("ref").as_string(), "main");
}

// Bad input loses nothing: an answer that is not JSON is an error naming GitLab, from trigger and
// from status, never a crash or a pipeline taken for a success.
TEST(GitlabCi, NonJsonAnswersAreClearErrorsNamingGitlab) {
  FakeGitlab reference;
  for (const auto& answer : testing::non_json_answers()) {
    SCOPED_TRACE(answer.name);
    auto server = testing::server_answering(answer.response);
    std::string triggered_error;
    std::string status_error;
    run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
      net::HttpClientOptions http_options;
      http_options.proxy = "";
      net::HttpClient http(ioc.get_executor(), http_options);
      GitlabCiConfig config = config_for(reference);
      config.api_url = server->base_url() + "/api/v4";
      config.retry = {2, 5ms, 20ms};
      GitlabCi gitlab(http, config);
      auto handle = co_await gitlab.trigger(kDeployRequest);
      triggered_error = handle ? "" : handle.error().message;
      CiRunHandle existing{"1001", ""};
      auto status = co_await gitlab.status(existing);
      status_error = status ? "" : status.error().message;
    });
    EXPECT_EQ(testing::non_json_problem(triggered_error, "GitLab"), "") << triggered_error;
    EXPECT_EQ(testing::non_json_problem(status_error, "GitLab"), "") << status_error;
  }
}

TEST(GitlabCi, NumericProjectIdAndRequestRefAndInputsWin) {
  FakeGitlab fake;
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    GitlabCiConfig config = config_for(fake);
    config.project = "42";
    GitlabCi gitlab(http, config);
    CiRunRequest request = deploy_request();
    request.ref = "release";
    request.inputs = {{"VERSION", "override"}, {"EXTRA", "yes"}};
    auto handle = co_await gitlab.trigger(request);
    CO_ASSERT_OK(handle);
  });
  const auto pipelines = fake.pipelines();
  ASSERT_EQ(pipelines.size(), 1u);
  EXPECT_EQ(pipelines[0].ref, "release");
  EXPECT_EQ(pipelines[0].variables.at("VERSION"), "override");
  EXPECT_EQ(pipelines[0].variables.at("EXTRA"), "yes");
  EXPECT_EQ(pipelines[0].variables.at("DEPLOY_ENV"), "staging");
  EXPECT_EQ(fake.server().requests_to("POST", "/api/v4/projects/42/pipeline").size(), 1u);
}

TEST(GitlabCi, FailedPipelineNamesTheJobThatFailedIt) {
  FakeGitlab fake;
  fake.fail_next_pipeline({"migrate-db", "deploy", "script_failure"});
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const auto gitlab_config = config_for(fake);
    GitlabCi gitlab(http, gitlab_config);
    auto handle = co_await gitlab.trigger(kDeployRequest);
    CO_ASSERT_OK(handle);
    auto final_status = co_await follow(gitlab, *handle);
    CO_ASSERT_OK(final_status);
    EXPECT_EQ(final_status->state, CiRunState::failed);
    // The job allowed to fail ("lint") is listed first but did not fail the pipeline.
    EXPECT_EQ(final_status->detail, "job migrate-db (stage deploy) failed: script failure");
    EXPECT_NE(final_status->url.find("/group/sub/api/-/jobs/"), std::string::npos)
        << final_status->url;
  });
  const auto listed =
      fake.server().requests_to("GET", "/api/v4/projects/group/sub/api/pipelines/1001/jobs");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].query.at("scope[]"), "failed");
}

TEST(GitlabCi, CancelStopsARunningPipeline) {
  FakeGitlab::Options options;
  options.running_steps = 2000;  // runs for 50 s unless cancelled: a stall cannot skip it
  FakeGitlab fake(options);
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const auto gitlab_config = config_for(fake);
    GitlabCi gitlab(http, gitlab_config);
    auto handle = co_await gitlab.trigger(kDeployRequest);
    CO_ASSERT_OK(handle);
    CiRunState state = CiRunState::queued;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (state != CiRunState::running && std::chrono::steady_clock::now() < deadline) {
      co_await sleep_for(10ms);
      auto polled = co_await gitlab.status(*handle);
      CO_ASSERT_OK(polled);
      state = polled->state;
    }
    CO_ASSERT_TRUE(state == CiRunState::running, "");
    auto cancelled = co_await gitlab.cancel(*handle);
    CO_ASSERT_OK(cancelled);
    auto polled = co_await gitlab.status(*handle);
    CO_ASSERT_OK(polled);
    EXPECT_EQ(polled->state, CiRunState::cancelled);
  });
  EXPECT_EQ(fake.pipeline(1001)->status, "canceled");
}

TEST(GitlabCi, StuckPipelineTimesOutAndIsCancelled) {
  FakeGitlab fake;
  fake.set_stuck(true);
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const auto gitlab_config = config_for(fake);
    GitlabCi gitlab(http, gitlab_config);
    auto handle = co_await gitlab.trigger(kDeployRequest);
    CO_ASSERT_OK(handle);
    FollowOptions follow_options = fast_follow();
    follow_options.deadline = 200ms;
    auto final_status = co_await follow(gitlab, *handle, follow_options);
    CO_ASSERT_OK(final_status);
    EXPECT_EQ(final_status->state, CiRunState::timed_out);
    EXPECT_NE(final_status->detail.find("the run was cancelled"), std::string::npos)
        << final_status->detail;
  });
  EXPECT_EQ(fake.pipeline(1001)->status, "canceled");
  EXPECT_EQ(fake.server()
                .requests_to("POST", "/api/v4/projects/group/sub/api/pipelines/1001/cancel")
                .size(),
            1u);
}

TEST(GitlabCi, RejectedTokenSaysSoWithoutTheToken) {
  FakeGitlab fake;
  const std::string secret = "glpat-this-token-is-wrong-and-secret";
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    GitlabCiConfig config = config_for(fake);
    config.token = secret;
    GitlabCi gitlab(http, config);
    auto handle = co_await gitlab.trigger(kDeployRequest);
    CO_ASSERT_FAILS(handle);
    const std::string& message = handle.error().message;
    EXPECT_NE(message.find("GitLab: create pipeline for group/sub/api on main"), std::string::npos)
        << message;
    EXPECT_NE(message.find("credentials rejected (401)"), std::string::npos) << message;
    EXPECT_NE(message.find("401 Unauthorized"), std::string::npos) << message;
    EXPECT_EQ(message.find(secret), std::string::npos) << message;

    const CiRunHandle some_pipeline{"1001", ""};
    auto polled = co_await gitlab.status(some_pipeline);
    CO_ASSERT_FAILS(polled);
    EXPECT_NE(polled.error().message.find("credentials rejected (401)"), std::string::npos)
        << polled.error().message;
    EXPECT_EQ(polled.error().message.find(secret), std::string::npos);
  });
  EXPECT_TRUE(fake.pipelines().empty());
}

TEST(GitlabCi, ReadOnlyTokenIsToldItLacksTheApiScope) {
  FakeGitlab fake;
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    GitlabCiConfig config = config_for(fake);
    config.token = fake.options().read_token;
    GitlabCi gitlab(http, config);
    auto handle = co_await gitlab.trigger(kDeployRequest);
    CO_ASSERT_FAILS(handle);
    EXPECT_NE(handle.error().message.find("forbidden (403): the token lacks the api scope"),
              std::string::npos)
        << handle.error().message;
    EXPECT_EQ(handle.error().message.find(fake.options().read_token), std::string::npos);
  });
}

TEST(GitlabCi, UnknownProjectIsNamed) {
  FakeGitlab fake;
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    GitlabCiConfig config = config_for(fake);
    config.project = "group/missing";
    GitlabCi gitlab(http, config);
    auto handle = co_await gitlab.trigger(kDeployRequest);
    CO_ASSERT_FAILS(handle);
    EXPECT_EQ(handle.error().message,
              "GitLab: create pipeline for group/missing on main: project 'group/missing' not "
              "found, or the token cannot see it (404): 404 Project Not Found");
  });
}

TEST(GitlabCi, UnknownRefAndRefWithoutJobsAreExplained) {
  FakeGitlab fake;
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const auto gitlab_config = config_for(fake);
    GitlabCi gitlab(http, gitlab_config);
    CiRunRequest request = deploy_request();
    request.ref = "no-such-branch";
    auto unknown = co_await gitlab.trigger(request);
    CO_ASSERT_FAILS(unknown);
    EXPECT_EQ(unknown.error().message,
              "GitLab: create pipeline for group/sub/api on no-such-branch: ref 'no-such-branch' "
              "does not exist in group/sub/api (400: Reference not found)");

    request.ref = "docs-only";
    auto empty = co_await gitlab.trigger(request);
    CO_ASSERT_FAILS(empty);
    EXPECT_NE(empty.error().message.find("no job would run on ref 'docs-only'"), std::string::npos)
        << empty.error().message;
    EXPECT_NE(empty.error().message.find("No stages / jobs for this pipeline."), std::string::npos)
        << empty.error().message;
  });
  EXPECT_TRUE(fake.pipelines().empty());
}

TEST(GitlabCi, ServerErrorsWhilePollingAreRetried) {
  FakeGitlab fake;
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const auto gitlab_config = config_for(fake);
    GitlabCi gitlab(http, gitlab_config);
    auto handle = co_await gitlab.trigger(kDeployRequest);
    CO_ASSERT_OK(handle);
    fake.fail_next_requests(3, 500);
    auto polled = co_await gitlab.status(*handle);
    CO_ASSERT_OK(polled);
    auto final_status = co_await follow(gitlab, *handle);
    CO_ASSERT_OK(final_status);
    EXPECT_EQ(final_status->state, CiRunState::succeeded);
  });
  // Three 500s and the answer for that one poll, plus the polls of follow_ci_run.
  EXPECT_GE(fake.server().requests_to("GET", "/api/v4/projects/").size(), 5u);
}

TEST(GitlabCi, CreateIsRetriedOn503ButNotOn500) {
  FakeGitlab fake;
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const auto gitlab_config = config_for(fake);
    GitlabCi gitlab(http, gitlab_config);
    // 503 says the request was not processed, so even a POST is sent again.
    fake.fail_next_requests(2, 503);
    auto handle = co_await gitlab.trigger(kDeployRequest);
    CO_ASSERT_OK(handle);
    EXPECT_EQ(fake.pipelines().size(), 1u);
    // A 500 may have created the pipeline: sending again could start a second deploy.
    fake.fail_next_requests(1, 500);
    auto failed = co_await gitlab.trigger(kDeployRequest);
    CO_ASSERT_FAILS(failed);
    EXPECT_NE(failed.error().message.find("server error (500)"), std::string::npos)
        << failed.error().message;
  });
  EXPECT_EQ(fake.pipelines().size(), 1u);
  EXPECT_EQ(fake.server().requests_to("POST", "/api/v4/projects/").size(), 4u);
}

TEST(GitlabCi, TriggerTokenModeSendsAFormAndPollsWithTheReadToken) {
  FakeGitlab fake;
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    GitlabCiConfig config = config_for(fake);
    config.token_kind = GitlabTokenKind::trigger;
    config.token = fake.options().trigger_token;
    config.read_token = fake.options().read_token;
    GitlabCi gitlab(http, config);
    CO_ASSERT_OK(gitlab.validate());
    auto handle = co_await gitlab.trigger(kDeployRequest);
    CO_ASSERT_OK(handle);
    auto final_status = co_await follow(gitlab, *handle);
    CO_ASSERT_OK(final_status);
    EXPECT_EQ(final_status->state, CiRunState::succeeded);
  });
  const auto pipelines = fake.pipelines();
  ASSERT_EQ(pipelines.size(), 1u);
  EXPECT_EQ(pipelines[0].source, "trigger");
  EXPECT_EQ(pipelines[0].variables.at("VERSION"), "v2.3.1");
  EXPECT_EQ(pipelines[0].variables.at("SERVICE_IMAGE"), "registry.example.com/api:v2.3.1");

  const auto triggers =
      fake.server().requests_to("POST", "/api/v4/projects/group/sub/api/trigger/pipeline");
  ASSERT_EQ(triggers.size(), 1u);
  EXPECT_EQ(triggers[0].header("Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(triggers[0].header("PRIVATE-TOKEN"), "");
  EXPECT_NE(triggers[0].body.find("variables%5BVERSION%5D=v2.3.1"), std::string::npos)
      << triggers[0].body;
  for (const auto& poll : fake.server().requests_to("GET", "/api/v4/projects/"))
    EXPECT_EQ(poll.header("PRIVATE-TOKEN"), fake.options().read_token);
}

TEST(GitlabCi, WrongTriggerTokenAndMissingReadTokenAreExplained) {
  FakeGitlab fake;
  const std::string secret = "glptt-wrong-trigger-secret";
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    GitlabCiConfig config = config_for(fake);
    config.token_kind = GitlabTokenKind::trigger;
    config.token = secret;
    GitlabCi wrong(http, config);
    auto handle = co_await wrong.trigger(kDeployRequest);
    CO_ASSERT_FAILS(handle);
    EXPECT_EQ(handle.error().message,
              "GitLab: trigger pipeline for group/sub/api on main: project 'group/sub/api' not "
              "found, or the trigger token is not valid for it (404): 404 Not Found");

    config.token = fake.options().trigger_token;
    GitlabCi no_reader(http, config);
    auto started = co_await no_reader.trigger(kDeployRequest);
    CO_ASSERT_OK(started);
    auto polled = co_await no_reader.status(*started);
    CO_ASSERT_FAILS(polled);
    EXPECT_NE(polled.error().message.find("credentials rejected (401)"), std::string::npos)
        << polled.error().message;
    EXPECT_NE(polled.error().message.find("set read_token"), std::string::npos)
        << polled.error().message;
    EXPECT_EQ(polled.error().message.find(fake.options().trigger_token), std::string::npos);
  });
}

TEST(GitlabCi, WorksOverTlsWithTheTestCa) {
  FakeGitlab::Options options;
  options.tls = true;
  FakeGitlab fake(options);
  ASSERT_TRUE(fake.api_url().starts_with("https://"));
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const auto gitlab_config = config_for(fake);
    GitlabCi gitlab(http, gitlab_config);
    auto handle = co_await gitlab.trigger(kDeployRequest);
    CO_ASSERT_OK(handle);
    auto final_status = co_await follow(gitlab, *handle);
    CO_ASSERT_OK(final_status);
    EXPECT_EQ(final_status->state, CiRunState::succeeded);
  });
}

TEST(GitlabCi, UntrustedCertificateFailsTheTrigger) {
  FakeGitlab::Options options;
  options.tls = true;
  FakeGitlab fake(options);
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    net::HttpClientOptions client;
    client.proxy = "";
    net::HttpClient http(ioc.get_executor(), client);  // system store only: the test CA is unknown
    GitlabCiConfig config = config_for(fake);
    config.retry.max_attempts = 1;
    GitlabCi gitlab(http, config);
    auto handle = co_await gitlab.trigger(kDeployRequest);
    CO_ASSERT_FAILS(handle);
    EXPECT_NE(handle.error().message.find("GitLab: create pipeline"), std::string::npos)
        << handle.error().message;
    EXPECT_NE(handle.error().message.find("certificate"), std::string::npos)
        << handle.error().message;
  });
  EXPECT_TRUE(fake.pipelines().empty());
}

TEST(GitlabCi, ValidateFindsConfigurationMistakes) {
  asio::io_context ioc;
  net::HttpClient http(ioc.get_executor());
  GitlabCiConfig config;
  config.project = "group/api";
  config.token = "glpat-some-token";
  EXPECT_TRUE(GitlabCi(http, config).validate().ok());

  GitlabCiConfig no_token = config;
  no_token.token.clear();
  EXPECT_EQ(GitlabCi(http, no_token).validate().error().message,
            "GitLab: no access token set for project group/api");
  no_token.token_kind = GitlabTokenKind::trigger;
  EXPECT_EQ(GitlabCi(http, no_token).validate().error().message,
            "GitLab: no trigger token set for project group/api");

  GitlabCiConfig no_project = config;
  no_project.project.clear();
  EXPECT_FALSE(GitlabCi(http, no_project).validate().ok());

  GitlabCiConfig bad_url = config;
  bad_url.api_url = "gitlab.com/api/v4";
  EXPECT_NE(GitlabCi(http, bad_url).validate().error().message.find("not an http(s) URL"),
            std::string::npos);

  GitlabCiConfig typo = config;
  typo.variables = {{"VERSION", "{verison}"}};
  EXPECT_EQ(GitlabCi(http, typo).validate().error().message,
            "GitLab: variable VERSION uses the unknown placeholder {verison} (known: {version}, "
            "{environment}, {service}, {correlation_id})");
}

TEST(GitlabCi, ProjectSegmentsAndTokenKinds) {
  EXPECT_EQ(gitlab_project_segment("1234"), "1234");
  EXPECT_EQ(gitlab_project_segment("group/sub/api"), "group%2Fsub%2Fapi");
  EXPECT_EQ(gitlab_project_segment("my group/api.v2"), "my%20group%2Fapi.v2");
  EXPECT_EQ(parse_gitlab_token_kind("private"), GitlabTokenKind::private_token);
  EXPECT_EQ(parse_gitlab_token_kind("trigger"), GitlabTokenKind::trigger);
  EXPECT_FALSE(parse_gitlab_token_kind("job").has_value());
}

// ---- a real client against the fake: Debian's python3-gitlab ----

// Runs tests/python/gitlab_client_check.py (python3-gitlab, installed by scripts/install-deps)
// against the fake. A missing module fails the test: the cross-check must not pass quietly.
std::pair<int, std::string> run_python_gitlab(const FakeGitlab& fake, const std::string& mode) {
  return testing::run_command({"/usr/bin/python3",
                               testing::source_dir() + "/tests/python/gitlab_client_check.py",
                               fake.api_url(), fake.options().project_path,
                               fake.options().private_token, fake.options().trigger_token, mode});
}

TEST(PythonGitlabClient, CreatesTriggersAndFollowsPipelinesOnTheFake) {
  FakeGitlab fake;
  auto [code, output] = run_python_gitlab(fake, "success");
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("GITLAB OK"), std::string::npos) << output;
  const auto pipelines = fake.pipelines();
  ASSERT_EQ(pipelines.size(), 2u) << output;
  EXPECT_EQ(pipelines[0].source, "api");
  EXPECT_EQ(pipelines[0].ref, "main");
  EXPECT_EQ(pipelines[0].variables,
            (std::map<std::string, std::string>{{"SHIPMATE_ID", "py-1"}, {"VERSION", "1.2.3"}}));
  EXPECT_EQ(pipelines[1].source, "trigger");
  EXPECT_EQ(pipelines[1].ref, "release");
  EXPECT_EQ(pipelines[1].variables, (std::map<std::string, std::string>{{"VERSION", "2.0.0"}}));
  // The client saw the pipeline move through GitLab's statuses to success, and got GitLab's
  // error codes: 400 for an unknown ref, 401 for a wrong token.
  const std::string id = std::to_string(pipelines[0].id);
  EXPECT_NE(output.find("CREATED " + id + " status=created ref=main"), std::string::npos) << output;
  EXPECT_NE(output.find("STATUSES " + id + " "), std::string::npos) << output;
  EXPECT_NE(output.find(" success\n"), std::string::npos) << output;
  EXPECT_NE(output.find("UNKNOWN_REF 400 {'base': ['Reference not found']}"), std::string::npos)
      << output;
  EXPECT_NE(output.find("WRONG_TOKEN 401"), std::string::npos) << output;
  // The project read (shipmate doctor's check) by its URL-encoded path.
  EXPECT_NE(output.find("PROJECT 42 group/sub/api default=main\n"), std::string::npos) << output;
}

TEST(PythonGitlabClient, ListsTheFailedJobOfAFailedPipeline) {
  FakeGitlab fake;
  fake.fail_next_pipeline({"smoke-test", "verify", "script_failure"});
  auto [code, output] = run_python_gitlab(fake, "failure");
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("FAILED_JOB name=smoke-test stage=verify reason=script_failure"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find(" failed\n"), std::string::npos) << output;
}

TEST(PythonGitlabClient, CancelsAStuckPipeline) {
  FakeGitlab fake;
  fake.set_stuck(true);
  auto [code, output] = run_python_gitlab(fake, "cancel");
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("BEFORE_CANCEL pending"), std::string::npos) << output;
  ASSERT_EQ(fake.pipelines().size(), 1u);
  EXPECT_EQ(fake.pipelines()[0].status, "canceled");
}

}  // namespace
}  // namespace shipmate::integrations
