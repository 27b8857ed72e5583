// Issue 18, item 5: a version typed in chat must not reach a CI pipeline unless it passes the
// shared allow-list (common/chat_input.h). Each injection string goes to the pipeline target on
// GitHub Actions, GitLab CI and Jenkins (fakes over real sockets); the fake must receive no
// request at all. A valid version then does reach each fake, so the check is not vacuous.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/chat_input.h"
#include "common/timer.h"
#include "integrations/ci/github_actions.h"
#include "integrations/ci/gitlab_ci.h"
#include "integrations/ci/jenkins.h"
#include "integrations/ci/pipeline_target.h"
#include "integrations/net/http_client.h"
#include "tests/support/async_test.h"
#include "tests/support/ci_test_support.h"
#include "tests/support/fake_github.h"
#include "tests/support/fake_gitlab.h"
#include "tests/support/fake_jenkins.h"
#include "tests/support/injection_strings.h"

namespace shipmate::integrations {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::FakeGithub;
using testing::FakeGitlab;
using testing::FakeJenkins;
using testing::injection_strings;
using testing::run_async_test;

PipelineTargetConfig pipeline_config() {
  PipelineTargetConfig config;
  config.service = "api";
  config.follow = testing::fast_follow();
  config.action_input = "";  // the fakes' default workflow declares no "action" input
  return config;
}

// Every injection string is refused by validate(), apply() and roll_back() without a request.
asio::awaitable<void> expect_all_refused(DeployTarget& target, const std::string& provider) {
  ProgressFn progress = [](const std::string&) {};
  for (const auto& version : injection_strings()) {
    const Status valid = target.validate("staging", version);
    EXPECT_FALSE(valid.ok()) << provider << " accepted " << quote_for_message(version);
    if (!valid.ok()) {
      EXPECT_NE(valid.error().message.find("invalid version"), std::string::npos)
          << valid.error().message;
    }
    std::string env = "staging";
    std::string v = version;
    ApplyOutcome applied = co_await target.apply(env, v, progress);
    EXPECT_FALSE(applied.ok) << provider << " applied " << quote_for_message(version);
    std::string env2 = "staging";
    std::string v2 = version;
    ApplyOutcome rolled = co_await target.roll_back(env2, v2, progress);
    EXPECT_FALSE(rolled.ok) << provider << " rolled back to " << quote_for_message(version);
  }
}

TEST(PipelineTargetInjection, GithubActionsReceivesNoRequestForAnyInjectionString) {
  FakeGithub fake;
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = testing::client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    GithubActionsConfig config;
    config.api_url = fake.base_url();
    config.owner = fake.options().owner;
    config.repo = fake.options().repo;
    config.workflow = "deploy.yml";
    config.token = fake.options().token;
    config.inputs = {{"version", "{version}"}, {"environment", "{environment}"}};
    config.retry.first_backoff = 5ms;
    config.timeout = 20s;
    auto target =
        make_pipeline_target(std::make_unique<GithubActions>(http, config), pipeline_config());
    co_await expect_all_refused(*target, "github");
    EXPECT_EQ(fake.requests().size(), 0u);
    // The control: a valid version is dispatched.
    ProgressFn progress = [](const std::string&) {};
    std::string env = "staging";
    std::string version = "v2.3.1";
    ApplyOutcome applied = co_await target->apply(env, version, progress);
    EXPECT_TRUE(applied.ok) << applied.message;
    EXPECT_FALSE(fake.requests().empty());
    CO_ASSERT_TRUE(!fake.runs().empty(), "no run");
    EXPECT_EQ(fake.runs().front().inputs.at("version"), "v2.3.1");
  });
}

// Run polling waits on the target's Timers, and the follow's deadline counts the time they
// slept: a run that never finishes reaches its one-hour deadline on manual time, is cancelled,
// and fails the deploy, with no real waiting. Polls back off (30 s first, up to 5 min).
TEST(PipelineTargetTimers, AStuckRunReachesItsDeadlineOnManualTimeAndIsCancelled) {
  FakeGithub fake;
  fake.plan_next_run(testing::FakeRunPlan{.stuck = true});
  ApplyOutcome applied;
  std::chrono::milliseconds passed{0};
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = testing::client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    GithubActionsConfig config;
    config.api_url = fake.base_url();
    config.owner = fake.options().owner;
    config.repo = fake.options().repo;
    config.workflow = "deploy.yml";
    config.token = fake.options().token;
    config.inputs = {{"version", "{version}"}, {"environment", "{environment}"}};
    config.retry.first_backoff = 5ms;
    config.timeout = 20s;
    auto timers = std::make_shared<ManualTimers>(ioc.get_executor());
    PipelineTargetConfig pipeline = pipeline_config();
    pipeline.follow.first_poll = 30s;
    pipeline.follow.max_poll = 5min;
    pipeline.follow.deadline = 1h;
    pipeline.timers = timers;
    auto target = make_pipeline_target(std::make_unique<GithubActions>(http, config), pipeline);
    bool finished = false;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          ProgressFn progress = [](const std::string&) {};
          std::string env = "staging";
          std::string version = "v2.3.1";
          applied = co_await target->apply(env, version, progress);
          finished = true;
        },
        asio::detached);
    while (!finished) {
      if (timers->sleeping() > 0)
        timers->advance(5min);
      co_await asio::post(ioc, asio::use_awaitable);  // let the socket work run
    }
    passed = timers->now();
  });
  EXPECT_FALSE(applied.ok);
  EXPECT_NE(applied.message.find("the deploy pipeline timed_out: no result after 1 h"),
            std::string::npos)
      << applied.message;
  EXPECT_NE(applied.message.find("the run was cancelled"), std::string::npos) << applied.message;
  ASSERT_EQ(fake.runs().size(), 1u);
  EXPECT_TRUE(fake.runs().front().cancel_requested);
  EXPECT_GE(passed, 1h - 5min);
  // Backing off: far fewer polls than one every 30 s for an hour.
  const auto polls = fake.requests_to("GET", "/repos/acme/shop/actions/runs/").size();
  EXPECT_LT(polls, 40u);
}

TEST(PipelineTargetInjection, GitlabCiReceivesNoRequestForAnyInjectionString) {
  FakeGitlab fake;
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = testing::client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    GitlabCiConfig config;
    config.api_url = fake.api_url();
    config.project = fake.options().project_path;
    config.token = fake.options().private_token;
    config.variables = {{"VERSION", "{version}"}, {"DEPLOY_ENV", "{environment}"}};
    config.retry = {4, 5ms, 20ms};
    config.timeout = 20s;
    auto target = make_pipeline_target(std::make_unique<GitlabCi>(http, config), pipeline_config());
    co_await expect_all_refused(*target, "gitlab");
    EXPECT_EQ(fake.server().requests().size(), 0u);
    ProgressFn progress = [](const std::string&) {};
    std::string env = "staging";
    std::string version = "release/2026.12+build.7";
    co_await target->apply(env, version, progress);
    CO_ASSERT_TRUE(!fake.pipelines().empty(), "no pipeline");
    EXPECT_EQ(fake.pipelines().front().variables.at("VERSION"), "release/2026.12+build.7");
  });
}

TEST(PipelineTargetInjection, JenkinsReceivesNoRequestForAnyInjectionString) {
  FakeJenkins fake;
  fake.add_job("deploys/api");
  run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    const net::HttpClientOptions http_options = testing::client_options(fake);
    net::HttpClient http(ioc.get_executor(), http_options);
    JenkinsConfig config;
    config.url = fake.url();
    config.job = "deploys/api";
    config.user = fake.options().user;
    config.api_token = fake.options().api_token;
    config.parameters = {{"VERSION", "{version}"}, {"TARGET_ENV", "{environment}"}};
    config.queue_wait = 20s;
    config.queue_poll = 10ms;
    config.retry = {4, 5ms, 20ms};
    config.timeout = 20s;
    auto target = make_pipeline_target(std::make_unique<Jenkins>(http, config), pipeline_config());
    co_await expect_all_refused(*target, "jenkins");
    EXPECT_EQ(fake.server().requests().size(), 0u);
    ProgressFn progress = [](const std::string&) {};
    std::string env = "staging";
    std::string version = "v_1-rc.2";
    co_await target->apply(env, version, progress);
    CO_ASSERT_TRUE(!fake.builds().empty(), "no build");
    EXPECT_EQ(fake.builds().front().parameters.at("VERSION"), "v_1-rc.2");
  });
}

}  // namespace
}  // namespace shipmate::integrations
