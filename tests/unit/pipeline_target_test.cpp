// Issue 18, item 5: a version typed in chat must not reach a CI pipeline unless it passes the
// shared allow-list (common/chat_input.h). Each injection string goes to the pipeline target on
// GitHub Actions, GitLab CI and Jenkins (fakes over real sockets); the fake must receive no
// request at all. A valid version then does reach each fake, so the check is not vacuous.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/chat_input.h"
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

namespace shipmate::integrations {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::FakeGithub;
using testing::FakeGitlab;
using testing::FakeJenkins;
using testing::run_async_test;

// What a workflow that interpolates its inputs into a shell step, a path or a tool's options
// would misread, and characters that only look like the allowed ones.
std::vector<std::string> injection_strings() {
  return {"$(id)",
          ";rm -rf /",
          "`id`",
          "../etc",
          "-rf",
          ".hidden",
          "a..b",
          "v1\nv2",
          "v1\r\nX-Injected: 1",
          std::string(kMaxVersionLength + 1, 'a'),
          "v1 && curl evil.example",
          "${{ secrets.TOKEN }}",
          "v1|sh",
          "v1'\"",
          "/etc/passwd",
          "v1\xe2\x80\xa4"
          "2",  // U+2024 ONE DOT LEADER, not '.'
          "\xef\xbd\x96"
          "1",  // U+FF56 FULLWIDTH v
          "v1\xe2\x80\x90"
          "2",          // U+2010 HYPHEN, not '-'
          "v\xd0\xb0",  // Cyrillic a
          std::string("v1\0rm", 5)};
}

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
    config.timeout = 2000ms;
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
    config.timeout = 2s;
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
    config.queue_wait = 2s;
    config.queue_poll = 10ms;
    config.retry = {4, 5ms, 20ms};
    config.timeout = 2s;
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
