// Jenkins provider against the fake Jenkins, over real sockets through the real HTTP client.
#include "integrations/ci/jenkins.h"

#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>

#include "integrations/net/http_client.h"
#include "tests/support/async_test.h"
#include "tests/support/ci_test_support.h"
#include "tests/support/fake_jenkins.h"
#include "tests/support/test_support.h"

namespace shipmate::integrations {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::client_options;
using testing::deploy_request;
using testing::FakeJenkins;
using testing::fast_follow;
using testing::follow;
using testing::run_async_test;

constexpr const char* kJob = "deploys/web/api";

JenkinsConfig config_for(const FakeJenkins& fake) {
  JenkinsConfig config;
  config.url = fake.url();
  config.job = kJob;
  config.user = fake.options().user;
  config.api_token = fake.options().api_token;
  config.parameters = {{"VERSION", "{version}"},
                       {"TARGET_ENV", "{environment}"},
                       {"SHIPMATE_ID", "{correlation_id}"}};
  // Guards for a loaded machine (the fake's queue and builds move in tens of ms); the tests of a
  // held queue set a short queue_wait of their own.
  config.queue_wait = 20s;
  config.queue_poll = 10ms;
  config.retry = {4, 5ms, 20ms};
  config.timeout = 20s;
  return config;
}

const CiRunRequest kDeployRequest = deploy_request();

FakeJenkins::Options with_prefix() {
  FakeJenkins::Options options;
  options.prefix = "/jenkins";
  return options;
}

// Triggers one build of kJob and follows it to the end.
Result<CiRunStatus> trigger_and_follow(FakeJenkins& fake, JenkinsConfig config,
                                       CiRunHandle* handle_out = nullptr) {
  Result<CiRunStatus> outcome = make_error("test did not finish");
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    Jenkins jenkins(http, config);
    auto handle = co_await jenkins.trigger(kDeployRequest);
    if (!handle.ok()) {
      outcome = handle.error();
      co_return;
    }
    if (handle_out)
      *handle_out = *handle;
    outcome = co_await follow(jenkins, *handle);
  });
  return outcome;
}

TEST(Jenkins, BuildInANestedFolderBehindAPathPrefixRunsToSuccess) {
  FakeJenkins fake(with_prefix());
  fake.add_job(kJob, true, 41);
  std::vector<CiRunStatus> seen;
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const auto jenkins_config = config_for(fake);
    Jenkins jenkins(http, jenkins_config);
    CO_ASSERT_OK(jenkins.validate());
    auto handle = co_await jenkins.trigger(kDeployRequest);
    CO_ASSERT_OK(handle);
    // trigger() waited for the queue item to become a build.
    EXPECT_EQ(handle->id, "build:41");
    EXPECT_EQ(handle->url, fake.url() + "/job/deploys/job/web/job/api/41/");
    auto final_status = co_await follow(jenkins, *handle, fast_follow(), &seen);
    CO_ASSERT_OK(final_status);
    EXPECT_EQ(final_status->state, CiRunState::succeeded);
    EXPECT_EQ(final_status->detail, "build #41 succeeded");
    EXPECT_EQ(final_status->url, fake.url() + "/job/deploys/job/web/job/api/41/console");
  });
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front().state, CiRunState::running);

  const auto builds = fake.builds();
  ASSERT_EQ(builds.size(), 1u);
  const std::map<std::string, std::string> expected = {
      {"VERSION", "v2.3.1"}, {"TARGET_ENV", "staging"}, {"SHIPMATE_ID", "shipmate-7-1700000000"}};
  EXPECT_EQ(builds[0].parameters, expected);

  const auto posts =
      fake.server().requests_to("POST", "/jenkins/job/deploys/job/web/job/api/buildWithParameters");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(posts[0].header("Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_TRUE(posts[0].header("Authorization").starts_with("Basic "))
      << posts[0].header("Authorization");
  // API tokens need no crumb: none was asked for.
  EXPECT_EQ(fake.crumbs_issued(), 0);
  EXPECT_FALSE(fake.server().requests_to("GET", "/jenkins/queue/item/101/api/json").empty());
}

TEST(Jenkins, ResultsMapToRunStates) {
  struct Case {
    std::string result;
    CiRunState state;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {"FAILURE", CiRunState::failed, "build #1 failed"},
      {"UNSTABLE", CiRunState::failed, "build #1 unstable (tests failed)"},
      {"ABORTED", CiRunState::cancelled, "build #1 aborted"},
      {"NOT_BUILT", CiRunState::failed, "build #1 not built"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.result);
    FakeJenkins fake;
    fake.add_job(kJob);
    fake.set_next_result(c.result);
    auto outcome = trigger_and_follow(fake, config_for(fake));
    ASSERT_TRUE(outcome.ok()) << outcome.error().message;
    EXPECT_EQ(outcome->state, c.state);
    EXPECT_EQ(outcome->detail, c.detail);
  }
}

TEST(Jenkins, CancelStopsARunningBuild) {
  FakeJenkins::Options options;
  options.build_duration = 10s;
  FakeJenkins fake(options);
  fake.add_job(kJob);
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const auto jenkins_config = config_for(fake);
    Jenkins jenkins(http, jenkins_config);
    auto handle = co_await jenkins.trigger(kDeployRequest);
    CO_ASSERT_OK(handle);
    auto running = co_await jenkins.status(*handle);
    CO_ASSERT_OK(running);
    EXPECT_EQ(running->state, CiRunState::running);
    auto stopped = co_await jenkins.cancel(*handle);
    CO_ASSERT_OK(stopped);
    auto after = co_await jenkins.status(*handle);
    CO_ASSERT_OK(after);
    EXPECT_EQ(after->state, CiRunState::cancelled);
    EXPECT_EQ(after->detail, "build #1 aborted");
  });
  EXPECT_EQ(fake.server().requests_to("POST", "/job/deploys/job/web/job/api/1/stop").size(), 1u);
}

TEST(Jenkins, ABuildStillQueuedIsFollowedFromItsQueueItem) {
  FakeJenkins fake;
  fake.add_job(kJob);
  fake.hold_queue("Waiting for next available executor on ‘linux’", /*stuck=*/true);
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    JenkinsConfig config = config_for(fake);
    config.queue_wait = 120ms;
    Jenkins jenkins(http, config);
    auto handle = co_await jenkins.trigger(kDeployRequest);
    CO_ASSERT_OK(handle);
    EXPECT_EQ(handle->id, "queue:101");
    EXPECT_EQ(handle->url, fake.url() + "/job/deploys/job/web/job/api/");
    auto queued = co_await jenkins.status(*handle);
    CO_ASSERT_OK(queued);
    EXPECT_EQ(queued->state, CiRunState::queued);
    EXPECT_EQ(queued->detail, "stuck in the queue: Waiting for next available executor on ‘linux’");

    fake.release_queue();
    std::vector<CiRunStatus> seen;
    auto final_status = co_await follow(jenkins, *handle, fast_follow(), &seen);
    CO_ASSERT_OK(final_status);
    EXPECT_EQ(final_status->state, CiRunState::succeeded);
    EXPECT_EQ(final_status->url, fake.url() + "/job/deploys/job/web/job/api/1/console");

    // Jenkins forgets the queue item minutes later; the provider remembers which build it became.
    fake.forget_queue_items();
    auto later = co_await jenkins.status(*handle);
    CO_ASSERT_OK(later);
    EXPECT_EQ(later->state, CiRunState::succeeded);

    // A provider that never saw the item become a build (a restart) says where to look.
    Jenkins restarted(http, config);
    auto lost = co_await restarted.status(*handle);
    CO_ASSERT_FAILS(lost);
    EXPECT_NE(lost.error().message.find("Jenkins forgets items about 5 minutes after they leave"),
              std::string::npos)
        << lost.error().message;
  });
}

TEST(Jenkins, CancellingAQueuedBuildCancelsTheQueueItem) {
  FakeJenkins fake;
  fake.add_job(kJob);
  fake.hold_queue("Build #3 is already in progress (ETA: 1 min 2 sec)", false, /*blocked=*/true);
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    JenkinsConfig config = config_for(fake);
    config.queue_wait = 80ms;
    Jenkins jenkins(http, config);
    auto handle = co_await jenkins.trigger(kDeployRequest);
    CO_ASSERT_OK(handle);
    CO_ASSERT_TRUE(handle->id == "queue:101", handle->id);
    auto queued = co_await jenkins.status(*handle);
    CO_ASSERT_OK(queued);
    EXPECT_EQ(queued->detail, "blocked: Build #3 is already in progress (ETA: 1 min 2 sec)");
    auto cancelled = co_await jenkins.cancel(*handle);
    CO_ASSERT_OK(cancelled);
    auto after = co_await jenkins.status(*handle);
    CO_ASSERT_OK(after);
    EXPECT_EQ(after->state, CiRunState::cancelled);
  });
  EXPECT_EQ(fake.queue_items_cancelled(), 1);
  EXPECT_TRUE(fake.builds().empty());
}

TEST(Jenkins, AQueueItemCancelledBeforeItStartsFailsTheTrigger) {
  FakeJenkins fake;
  fake.add_job(kJob);
  fake.cancel_next_queue_item();
  auto outcome = trigger_and_follow(fake, config_for(fake));
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().message,
            "Jenkins: trigger job deploys/web/api: queue item 101 was cancelled before the build "
            "started");
}

TEST(Jenkins, ABuildPastTheDeadlineIsStoppedAndTimedOut) {
  FakeJenkins::Options options;
  options.build_duration = 10s;
  FakeJenkins fake(options);
  fake.add_job(kJob);
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const auto jenkins_config = config_for(fake);
    Jenkins jenkins(http, jenkins_config);
    auto handle = co_await jenkins.trigger(kDeployRequest);
    CO_ASSERT_OK(handle);
    FollowOptions follow_options = fast_follow();
    follow_options.deadline = 150ms;
    auto final_status = co_await follow(jenkins, *handle, follow_options);
    CO_ASSERT_OK(final_status);
    EXPECT_EQ(final_status->state, CiRunState::timed_out);
    EXPECT_NE(final_status->detail.find("the run was cancelled"), std::string::npos)
        << final_status->detail;
  });
  const auto builds = fake.builds();
  ASSERT_EQ(builds.size(), 1u);
  EXPECT_EQ(builds[0].result, "ABORTED");
}

TEST(Jenkins, RejectedCredentialsAreNamedWithoutTheToken) {
  FakeJenkins fake;
  fake.add_job(kJob);
  JenkinsConfig config = config_for(fake);
  config.api_token = "11ffffffffffffffffffffffffffffffff-secret";
  auto outcome = trigger_and_follow(fake, config);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().message,
            "Jenkins: trigger job deploys/web/api: credentials rejected (401): check the user "
            "'shipmate' and its API token");
  EXPECT_EQ(outcome.error().message.find(config.api_token), std::string::npos);
  EXPECT_TRUE(fake.builds().empty());
}

TEST(Jenkins, UnknownJobIsNotFound) {
  FakeJenkins fake(with_prefix());
  fake.add_job("deploys/web/other");
  auto outcome = trigger_and_follow(fake, config_for(fake));
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().message,
            "Jenkins: trigger job deploys/web/api: job not found (404) at " + fake.url() +
                "/job/deploys/job/web/job/api/: check the job's full name (folders separated by "
                "'/') and that user 'shipmate' can see it");
}

TEST(Jenkins, AJobWithoutParametersIsExplained) {
  for (const bool polite : {false, true}) {
    SCOPED_TRACE(polite ? "newer core (400)" : "older core (500)");
    FakeJenkins::Options options;
    options.polite_not_parameterized = polite;
    FakeJenkins fake(options);
    fake.add_job(kJob, /*parameterized=*/false);
    auto outcome = trigger_and_follow(fake, config_for(fake));
    ASSERT_FALSE(outcome.ok());
    EXPECT_EQ(
        outcome.error().message,
        "Jenkins: trigger job deploys/web/api: job deploys/web/api takes no parameters ('This "
        "project is parameterized' is off); add the parameters Shipmate sends: SHIPMATE_ID, "
        "TARGET_ENV, VERSION");
  }
}

TEST(Jenkins, ServerErrorsAreRetriedWhereThatIsSafe) {
  FakeJenkins fake;
  fake.add_job(kJob);
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const auto jenkins_config = config_for(fake);
    Jenkins jenkins(http, jenkins_config);
    // 503: nothing was queued, so the POST is sent again.
    fake.fail_next_requests(2, 503);
    auto handle = co_await jenkins.trigger(kDeployRequest);
    CO_ASSERT_OK(handle);
    // Polls are reads: 500s are retried.
    fake.fail_next_requests(3, 500);
    auto final_status = co_await follow(jenkins, *handle);
    CO_ASSERT_OK(final_status);
    EXPECT_EQ(final_status->state, CiRunState::succeeded);
    // A 500 on the trigger may have queued a build: it is not sent again.
    fake.fail_next_requests(1, 500);
    auto failed = co_await jenkins.trigger(kDeployRequest);
    CO_ASSERT_FAILS(failed);
    EXPECT_NE(failed.error().message.find("server error (500)"), std::string::npos)
        << failed.error().message;
  });
  EXPECT_EQ(fake.builds().size(), 1u);
  EXPECT_EQ(fake.server().requests_to("POST", "/job/").size(), 4u);
}

TEST(Jenkins, CrumbIsFetchedWhenJenkinsAsksForOneAndThenReused) {
  FakeJenkins::Options options = with_prefix();
  options.require_crumb = true;
  FakeJenkins fake(options);
  fake.add_job(kJob);
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    const auto jenkins_config = config_for(fake);
    Jenkins jenkins(http, jenkins_config);
    auto first = co_await jenkins.trigger(kDeployRequest);
    CO_ASSERT_OK(first);
    auto second = co_await jenkins.trigger(kDeployRequest);
    CO_ASSERT_OK(second);
    EXPECT_EQ(second->id, "build:2");
    auto final_status = co_await follow(jenkins, *second);
    CO_ASSERT_OK(final_status);
    EXPECT_EQ(final_status->state, CiRunState::succeeded);
  });
  EXPECT_EQ(fake.crumbs_issued(), 1);
  const auto posts =
      fake.server().requests_to("POST", "/jenkins/job/deploys/job/web/job/api/buildWithParameters");
  // Refused once without a crumb, then accepted with it, twice.
  ASSERT_EQ(posts.size(), 3u);
  EXPECT_EQ(posts[0].header("Jenkins-Crumb"), "");
  for (std::size_t i = 1; i < posts.size(); ++i) {
    EXPECT_NE(posts[i].header("Jenkins-Crumb"), "");
    EXPECT_TRUE(posts[i].header("Cookie").starts_with("JSESSIONID.4f2a9c1e=node0s"))
        << posts[i].header("Cookie");
  }
  EXPECT_EQ(fake.builds().size(), 2u);
}

TEST(Jenkins, URLsComeFromTheConfigNotFromJenkinsRootUrl) {
  FakeJenkins::Options options = with_prefix();
  options.root_url = "http://jenkins.internal.invalid:8080/jenkins";
  FakeJenkins fake(options);
  fake.add_job(kJob);
  auto outcome = trigger_and_follow(fake, config_for(fake));
  ASSERT_TRUE(outcome.ok()) << outcome.error().message;
  EXPECT_EQ(outcome->state, CiRunState::succeeded);
  EXPECT_EQ(outcome->url, fake.url() + "/job/deploys/job/web/job/api/1/console");
}

TEST(Jenkins, WorksOverTlsWithTheTestCa) {
  FakeJenkins::Options options = with_prefix();
  options.tls = true;
  FakeJenkins fake(options);
  fake.add_job(kJob);
  ASSERT_TRUE(fake.url().starts_with("https://"));
  auto outcome = trigger_and_follow(fake, config_for(fake));
  ASSERT_TRUE(outcome.ok()) << outcome.error().message;
  EXPECT_EQ(outcome->state, CiRunState::succeeded);
}

TEST(Jenkins, ValidateFindsConfigurationMistakes) {
  asio::io_context ioc;
  net::HttpClient http(ioc.get_executor());
  JenkinsConfig config;
  config.url = "https://ci.example.com/jenkins";
  config.job = "deploys/api";
  config.user = "shipmate";
  config.api_token = "11aa22bb33cc44dd";
  EXPECT_TRUE(Jenkins(http, config).validate().ok());

  JenkinsConfig no_job = config;
  no_job.job = "/";
  EXPECT_EQ(Jenkins(http, no_job).validate().error().message,
            "Jenkins: no job set (its full name, folders separated by '/')");
  JenkinsConfig no_token = config;
  no_token.api_token.clear();
  EXPECT_EQ(Jenkins(http, no_token).validate().error().message,
            "Jenkins: no API token set for user 'shipmate'");
  JenkinsConfig bad_url = config;
  bad_url.url = "ci.example.com";
  EXPECT_FALSE(Jenkins(http, bad_url).validate().ok());
  JenkinsConfig typo = config;
  typo.parameters = {{"ENV", "{enviroment}"}};
  EXPECT_NE(Jenkins(http, typo).validate().error().message.find("unknown placeholder {enviroment}"),
            std::string::npos);
}

TEST(Jenkins, JobPathsAndParameters) {
  EXPECT_EQ(jenkins_job_path("deploy"), "/job/deploy");
  EXPECT_EQ(jenkins_job_path("deploys/web/api"), "/job/deploys/job/web/job/api");
  EXPECT_EQ(jenkins_job_path("/team a/deploy/"), "/job/team%20a/job/deploy");

  JenkinsConfig config;
  config.parameters = {{"IMAGE", "registry/{service}:{version}"}, {"LITERAL", "{not_a_field}"}};
  CiRunRequest request = deploy_request();
  request.inputs = {{"LITERAL", "given"}};
  const auto parameters = merge_ci_inputs(config.parameters, request);
  EXPECT_EQ(parameters.at("IMAGE"), "registry/api:v2.3.1");
  EXPECT_EQ(parameters.at("LITERAL"), "given");
}

// ---- a real client against the fake: Debian's python3-jenkins ----

// Runs tests/python/jenkins_client_check.py (python3-jenkins, installed by scripts/install-deps)
// against the fake. A missing module fails the test: the cross-check must not pass quietly.
std::pair<int, std::string> run_python_jenkins(const FakeJenkins& fake, const std::string& mode) {
  return testing::run_command(
      {"/usr/bin/python3", testing::source_dir() + "/tests/python/jenkins_client_check.py",
       fake.url(), fake.options().user, fake.options().api_token, kJob, mode});
}

TEST(PythonJenkinsClient, BuildsWithParametersAndACrumbAndFollowsQueueItemToResult) {
  FakeJenkins::Options options;
  options.prefix = "/jenkins";
  options.require_crumb = true;
  FakeJenkins fake(options);
  fake.add_job(kJob, true, 7);
  fake.set_next_result("UNSTABLE");
  auto [code, output] = run_python_jenkins(fake, "result");
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("JENKINS OK"), std::string::npos) << output;
  EXPECT_GE(fake.crumbs_issued(), 1);  // the client fetched a crumb and the fake accepted it
  const auto builds = fake.builds();
  ASSERT_EQ(builds.size(), 1u) << output;
  EXPECT_EQ(builds[0].number, 7);
  EXPECT_EQ(builds[0].parameters,
            (std::map<std::string, std::string>{{"SHIPMATE_ID", "py-1"}, {"VERSION", "1.2.3"}}));
  EXPECT_NE(output.find("QUEUED " + std::to_string(builds[0].queue_id)), std::string::npos)
      << output;
  EXPECT_NE(output.find("EXECUTABLE 7 " + fake.url() + "/job/deploys/job/web/job/api/7/"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find("BUILD 7 result=UNSTABLE"), std::string::npos) << output;
  // The job read (shipmate doctor's check): its short name, its full name and next build number.
  EXPECT_NE(output.find("JOB_NAME api\n"), std::string::npos) << output;
  EXPECT_NE(output.find("JOB deploys/web/api next=7\n"), std::string::npos) << output;
  EXPECT_NE(output.find("UNKNOWN_JOB"), std::string::npos) << output;
}

TEST(PythonJenkinsClient, StopsARunningBuild) {
  FakeJenkins::Options options;
  options.build_duration = 60s;  // runs until the client stops it
  FakeJenkins fake(options);
  fake.add_job(kJob);
  auto [code, output] = run_python_jenkins(fake, "stop");
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("BUILD 1 result=ABORTED"), std::string::npos) << output;
  ASSERT_EQ(fake.builds().size(), 1u);
  EXPECT_EQ(fake.builds()[0].result, "ABORTED");
}

}  // namespace
}  // namespace shipmate::integrations
