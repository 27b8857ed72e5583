// End-to-end: the real shipmate binary in `chat` mode, commands piped on stdin, deploying through
// the CI systems it integrates with. The fake GitHub, GitLab and Jenkins servers run in this test
// process; the binary reaches them over loopback like any real server. Each test reads three
// records afterwards: what the chat said, what the SQLite file holds, and what the fake saw.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/e2e_support.h"
#include "tests/support/fake_github.h"
#include "tests/support/fake_gitlab.h"
#include "tests/support/fake_jenkins.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

using namespace std::chrono_literals;

// Every text of every row of every table must be free of `secret`; returns how many rows were
// read, so a caller can tell the scan looked at something.
std::size_t expect_database_free_of(const std::string& db_path, const std::string& secret) {
  std::size_t rows_read = 0;
  for (const auto& table :
       query(db_path, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")) {
    for (const auto& row : query(db_path, "SELECT * FROM \"" + table + "\"")) {
      ++rows_read;
      EXPECT_FALSE(has(row, secret)) << "table " << table << " holds the secret: " << row;
    }
  }
  return rows_read;
}

// "line:column" (1-based) of the first occurrence of `needle` in `text`.
std::string position_of(const std::string& text, const std::string& needle) {
  const auto at = text.find(needle);
  if (at == std::string::npos)
    return "<'" + needle + "' not in the text>";
  int line = 1;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < at; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return std::to_string(line) + ":" + std::to_string(at - line_start + 1);
}

// Polls `done` until it holds or `limit` passes (a guard against hanging, not a timing assert).
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

constexpr const char* kGithubTokenVar = "SHIPMATE_E2E_GITHUB_TOKEN";
constexpr const char* kGitlabTokenVar = "SHIPMATE_E2E_GITLAB_TOKEN";
constexpr const char* kJenkinsTokenVar = "SHIPMATE_E2E_JENKINS_TOKEN";
constexpr const char* kNeverSetVar = "SHIPMATE_E2E_NEVER_SET_TOKEN";

// The head every configuration shares: two environments, one user, the secrets by reference.
std::string config_head() {
  return std::string(R"(shipmate:
  database: state/shipmate.db
  state_dir: state/run
terminal:
  user: alice
environments:
  - name: staging
  - name: production
    production: true
    allow: {deploy: [sre], rollback: [sre], lock: [sre]}
users:
  - {id: alice, name: Alice, roles: [developer, sre]}
secrets:
  gh: {env: )") +
         kGithubTokenVar + "}\n  gl: {env: " + kGitlabTokenVar +
         "}\n  jk: {env: " + kJenkinsTokenVar + "}\n  unset: {env: " + kNeverSetVar + "}\n";
}

// The GitHub workflow every test dispatches: it takes what the pipeline target and the configured
// inputs send, and names its runs with the correlation id as Shipmate's docs ask.
FakeGithubOptions github_options() {
  FakeGithubOptions options;
  options.owner = "o";
  options.repo = "r";
  FakeWorkflow deploy;
  deploy.file = "deploy.yml";
  deploy.name = "Deploy";
  deploy.run_name =
      "${{ inputs.action }} ${{ inputs.version }} to ${{ inputs.environment }} [${{ "
      "inputs.shipmate_id }}]";
  deploy.inputs = {
      {"version", true}, {"environment", true}, {"action", true}, {"shipmate_id", false}};
  options.workflows = {deploy};
  return options;
}

class CiSession : public ::testing::Test {
 protected:
  void write_config(const std::string& services) {
    config_text = config_head() + "services:\n" + services;
    write_file(dir.file("shipmate.yaml"), config_text);
  }

  // A service on the local-process target, running the sample service's real releases.
  std::string hello_service(const std::string& extra) {
    staging_port = free_port();
    production_port = free_port();
    while (production_port == staging_port)
      production_port = free_port();
    return R"(  - name: hello
    environments: [staging, production]
    target:
      kind: local
      releases: )" +
           source_dir() + R"(/examples/hello/releases
      start: [python3, server.py]
      health: {http: /health, timeout: 1s, retries: 100, interval: 100ms}
      stop_grace: 2s
      ports: {staging: )" +
           std::to_string(staging_port) + ", production: " + std::to_string(production_port) +
           "}\n" + extra;
  }

  std::map<std::string, std::string> secrets_env() const {
    return {{kGithubTokenVar, github_token},
            {kGitlabTokenVar, gitlab_token},
            {kJenkinsTokenVar, jenkins_token}};
  }

  // Debug logs on: whatever the binary says about its HTTP calls is checked for tokens too.
  std::unique_ptr<Subprocess> start_chat() {
    return std::make_unique<Subprocess>(
        std::vector<std::string>{shipmate_binary(), "--log-level", "debug", "chat", "--config",
                                 dir.file("shipmate.yaml"), "--as", "alice"},
        secrets_env());
  }

  // Sends one command and waits until `expect` shows up in the output that follows it.
  // Ends the session the way a person does (end of input) and returns its whole output.
  std::string finish(Subprocess& chat) {
    chat.close_stdin();
    EXPECT_EQ(chat.wait(), 0) << chat.output();
    return chat.output();
  }

  std::string body_at(int port) {
    auto response = http_get(port, "/");
    return response ? response->body : "<no answer>";
  }

  std::string db() const { return dir.file("state/shipmate.db"); }

  std::vector<std::string> states_of(int deploy_id) {
    return query(db(), "SELECT to_state FROM deploy_events WHERE deploy_id = " +
                           std::to_string(deploy_id) + " ORDER BY id");
  }

  // Nothing is left in flight and no lock is held: a failed deploy released what it claimed.
  void expect_nothing_running() {
    EXPECT_TRUE(query(db(),
                      "SELECT id, state FROM deploys WHERE state NOT IN "
                      "('succeeded','failed','rolled_back','cancelled','timed_out')")
                    .empty());
    EXPECT_TRUE(query(db(), "SELECT scope FROM locks").empty());
  }

  // Checked at the end of every test: no token reaches the terminal (stdout and stderr
  // are one stream here) or any column of any table.
  void expect_secret_kept(const std::string& output, const std::string& secret) {
    EXPECT_FALSE(has(output, secret)) << "the token reached the output:\n" << output;
    EXPECT_GT(expect_database_free_of(db(), secret), 0u);
  }

  TempDir dir;
  std::string config_text;
  int staging_port = 0;
  int production_port = 0;
  std::string github_token = FakeGithubOptions{}.token;
  std::string gitlab_token = FakeGitlab::Options{}.private_token;
  std::string jenkins_token = FakeJenkins::Options{}.api_token;
};

// ---- GitHub Actions as the pipeline target ----

TEST_F(CiSession, GithubActionsPipelineDeploysFailsAndRollsBack) {
  FakeGithub github(github_options());
  write_config(R"(  - name: api
    environments: [staging, production]
    target:
      kind: pipeline
      provider: github
      api_url: )" +
               github.base_url() + R"(
      repo: o/r
      workflow: deploy.yml
      token: {secret: gh}
      inputs: {version: "{version}", environment: "{environment}"}
      poll: 50ms
)");
  auto chat = start_chat();

  std::string out = say(*chat, "deploy api v1.4.2 to staging", "Deploy #1 succeeded");
  EXPECT_TRUE(has(out, "Deploy #1: api v1.4.2 in staging, requested by Alice")) << out;
  EXPECT_TRUE(has(out, "github run started: https://github.com/o/r/actions/runs/")) << out;
  EXPECT_TRUE(has(out, "OK Deploy #1 succeeded: api v1.4.2 is live in staging")) << out;
  auto runs = github.runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].workflow_file, "deploy.yml");
  EXPECT_EQ(runs[0].ref, "main");
  EXPECT_EQ(runs[0].inputs.at("version"), "v1.4.2");
  EXPECT_EQ(runs[0].inputs.at("environment"), "staging");
  EXPECT_EQ(runs[0].inputs.at("action"), "deploy");
  EXPECT_TRUE(runs[0].inputs.at("shipmate_id").starts_with("shipmate-")) << runs[0].display_title;
  EXPECT_EQ(runs[0].conclusion, "success");
  EXPECT_TRUE(has(out, "actions/runs/" + std::to_string(runs[0].id))) << out;
  // Every request carried the token as a bearer credential, which is how GitHub wants it.
  for (const auto& request : github.requests())
    EXPECT_EQ(request.header("Authorization"), "Bearer " + github_token) << request.target;

  say(*chat, "deploy api v1.5.0 to staging", "Deploy #2 succeeded");

  github.next_run_fails("deploy", "Deploy");
  out = say(*chat, "deploy api v1.6.0 to staging", "Deploy #3 failed");
  EXPECT_TRUE(has(out, "job 'deploy' failed at step 'Deploy'")) << out;
  EXPECT_TRUE(has(out, "check what staging serves now: the pipeline may have changed it")) << out;
  runs = github.runs();
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[2].conclusion, "failure");

  // v1.5.0 is what succeeded last; the rollback returns to the good version before it.
  out = say(*chat, "rollback api in staging", "Rollback #4 succeeded");
  EXPECT_TRUE(has(out, "api v1.4.2 is live in staging")) << out;
  runs = github.runs();
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_EQ(runs[3].inputs.at("action"), "rollback");
  EXPECT_EQ(runs[3].inputs.at("version"), "v1.4.2");
  EXPECT_EQ(runs[3].inputs.at("environment"), "staging");
  EXPECT_EQ(runs[3].conclusion, "success");

  out = say(*chat, "history api", "rollback");
  EXPECT_TRUE(has(out, "4     rollback  staging     v1.4.2    succeeded")) << out;
  EXPECT_TRUE(has(out, "3     deploy    staging     v1.6.0    failed")) << out;
  EXPECT_TRUE(has(out, "2     deploy    staging     v1.5.0    succeeded")) << out;
  EXPECT_TRUE(has(out, "1     deploy    staging     v1.4.2    succeeded")) << out;
  // The failure's reason is in the history, under the failed deploy.
  const auto failed_line = out.find("v1.6.0    failed");
  ASSERT_NE(failed_line, std::string::npos) << out;
  EXPECT_NE(out.find("job 'deploy' failed at step 'Deploy'", failed_line), std::string::npos)
      << out;

  const std::string all = finish(*chat);
  EXPECT_EQ(
      query(db(), "SELECT id, kind, version, previous_version, state FROM deploys ORDER BY id"),
      (std::vector<std::string>{"1|deploy|v1.4.2||succeeded", "2|deploy|v1.5.0|v1.4.2|succeeded",
                                "3|deploy|v1.6.0|v1.5.0|failed",
                                "4|rollback|v1.4.2|v1.5.0|succeeded"}));
  EXPECT_EQ(states_of(1), (std::vector<std::string>{"requested", "deploying", "succeeded"}));
  EXPECT_EQ(states_of(3), (std::vector<std::string>{"requested", "deploying", "failed"}));
  auto detail = query(db(), "SELECT detail FROM deploys WHERE id = 3");
  ASSERT_EQ(detail.size(), 1u);
  EXPECT_TRUE(has(detail[0], "job 'deploy' failed at step 'Deploy'")) << detail[0];
  expect_nothing_running();
  expect_secret_kept(all, github_token);
}

// ---- GitHub Deployments mirror a local-target service ----

TEST_F(CiSession, GithubDeploymentsMirrorEachDeployWithItsStatuses) {
  FakeGithub github(github_options());
  write_config(hello_service(R"(    github_deployments:
      repo: o/r
      token: {secret: gh}
      api_url: )" + github.base_url() +
                             "\n"));
  auto chat = start_chat();

  say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");
  EXPECT_EQ(body_at(staging_port), "hello from v1\n");
  // The mirror posts in the background; wait until GitHub has the final status.
  auto final_status_of = [&](std::size_t index, const std::string& state) {
    return eventually([&] {
      auto deployments = github.deployments();
      return deployments.size() > index && !deployments[index].statuses.empty() &&
             deployments[index].statuses.back().state == state;
    });
  };
  ASSERT_TRUE(final_status_of(0, "success")) << chat->output();

  say(*chat, "deploy hello v3 to staging", "Deploy #2 failed");
  ASSERT_TRUE(final_status_of(1, "failure")) << chat->output();
  EXPECT_EQ(body_at(staging_port), "hello from v1\n");
  const std::string all = finish(*chat);

  auto deployments = github.deployments();
  ASSERT_EQ(deployments.size(), 2u);
  auto states = [](const FakeDeployment& deployment) {
    std::vector<std::string> out;
    for (const auto& status : deployment.statuses)
      out.push_back(status.state);
    return out;
  };
  EXPECT_EQ(deployments[0].ref, "v1");
  EXPECT_EQ(deployments[0].environment, "staging");
  EXPECT_TRUE(has(deployments[0].payload_json, "\"1\"")) << deployments[0].payload_json;
  EXPECT_EQ(states(deployments[0]),
            (std::vector<std::string>{"pending", "in_progress", "success"}));
  EXPECT_EQ(deployments[1].ref, "v3");
  EXPECT_EQ(states(deployments[1]),
            (std::vector<std::string>{"pending", "in_progress", "failure"}));
  EXPECT_TRUE(has(deployments[1].statuses.back().description, "health"))
      << deployments[1].statuses.back().description;
  EXPECT_EQ(query(db(), "SELECT id, version, state FROM deploys ORDER BY id"),
            (std::vector<std::string>{"1|v1|succeeded", "2|v3|failed"}));
  expect_secret_kept(all, github_token);
}

// ---- GitLab CI builds in front of a local target ----

TEST_F(CiSession, GitlabBuildRunsBeforeTheLocalTargetAndAFailedPipelineTouchesNothing) {
  FakeGitlab gitlab;
  write_config(hello_service(R"(    build:
      provider: gitlab
      api_url: )" + gitlab.api_url() +
                             R"(
      project: group/sub/api
      token: {secret: gl}
      variables: {VERSION: "{version}", DEPLOY_TO: "{environment}"}
      poll: 50ms
)"));
  auto chat = start_chat();

  std::string out = say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");
  EXPECT_TRUE(has(out, "building hello v1 with gitlab")) << out;
  EXPECT_TRUE(has(out, "build started: ")) << out;
  EXPECT_EQ(body_at(staging_port), "hello from v1\n");
  auto pipelines = gitlab.pipelines();
  ASSERT_EQ(pipelines.size(), 1u);
  EXPECT_EQ(pipelines[0].ref, "main");
  EXPECT_EQ(pipelines[0].source, "api");
  EXPECT_EQ(pipelines[0].variables.at("VERSION"), "v1");
  EXPECT_EQ(pipelines[0].variables.at("DEPLOY_TO"), "staging");
  EXPECT_EQ(pipelines[0].status, "success");
  for (const auto& request : gitlab.server().requests())
    EXPECT_EQ(request.header("PRIVATE-TOKEN"), gitlab_token) << request.target;

  gitlab.fail_next_pipeline({"package", "build", "script_failure"});
  out = say(*chat, "deploy hello v2 to staging", "Deploy #2 failed");
  EXPECT_TRUE(has(out, "build failed")) << out;
  EXPECT_TRUE(has(out, "staging was not touched")) << out;
  EXPECT_TRUE(has(out, "package")) << out;
  // v2 never started: v1 keeps serving.
  EXPECT_EQ(body_at(staging_port), "hello from v1\n");
  pipelines = gitlab.pipelines();
  ASSERT_EQ(pipelines.size(), 2u);
  EXPECT_EQ(pipelines[1].status, "failed");
  EXPECT_EQ(pipelines[1].variables.at("VERSION"), "v2");

  const std::string all = finish(*chat);
  EXPECT_EQ(states_of(1),
            (std::vector<std::string>{"requested", "building", "deploying", "succeeded"}));
  EXPECT_EQ(states_of(2), (std::vector<std::string>{"requested", "building", "failed"}));
  const std::string api_url = gitlab.api_url();
  const std::string web = api_url.substr(0, api_url.rfind("/api/v4")) + "/group/sub/api";
  EXPECT_EQ(query(db(), "SELECT id, state, ci_run_id, ci_run_url FROM deploys ORDER BY id"),
            (std::vector<std::string>{"1|succeeded|" + std::to_string(pipelines[0].id) + "|" + web +
                                          "/-/pipelines/" + std::to_string(pipelines[0].id),
                                      "2|failed|" + std::to_string(pipelines[1].id) + "|" + web +
                                          "/-/pipelines/" + std::to_string(pipelines[1].id)}));
  // No process of v2 was ever started by the local target.
  EXPECT_FALSE(std::filesystem::exists(dir.file("state/run/local/hello/staging/logs/v2.log")));
  expect_nothing_running();
  expect_secret_kept(all, gitlab_token);
}

// ---- Jenkins as the pipeline target ----

TEST_F(CiSession, JenkinsPipelineDeploysAndRejectedCredentialsAreNamedWithoutTheToken) {
  FakeJenkins::Options options;
  options.queue_delay = 0ms;  // the first queue poll finds the build: no wait on the 1 s poll
  FakeJenkins jenkins(options);
  jenkins.add_job("deploys/api");
  write_config(R"(  - name: api
    environments: [staging, production]
    target:
      kind: pipeline
      provider: jenkins
      url: )" + jenkins.url() +
               R"(
      job: deploys/api
      user: shipmate
      token: {secret: jk}
      parameters: {VERSION: "{version}", TARGET_ENV: "{environment}"}
      poll: 50ms
)");
  std::string all;
  {
    auto chat = start_chat();
    std::string out = say(*chat, "deploy api 2024.06.1 to staging", "Deploy #1 succeeded");
    EXPECT_TRUE(has(out, "jenkins run started: " + jenkins.url() + "/job/deploys/job/api/1/"))
        << out;
    all += finish(*chat);
  }
  auto builds = jenkins.builds();
  ASSERT_EQ(builds.size(), 1u);
  EXPECT_EQ(builds[0].job, "deploys/api");
  EXPECT_EQ(builds[0].parameters.at("VERSION"), "2024.06.1");
  EXPECT_EQ(builds[0].parameters.at("TARGET_ENV"), "staging");
  EXPECT_EQ(builds[0].parameters.at("action"), "deploy");
  EXPECT_EQ(builds[0].result, "SUCCESS");

  // Someone rotated the API token in Jenkins but not in Shipmate's environment.
  const std::string good_token = jenkins_token;
  jenkins_token = "0123456789abcdef0123456789abcdef00";
  {
    auto chat = start_chat();
    std::string out = say(*chat, "deploy api 2024.06.2 to staging", "Deploy #2 failed");
    EXPECT_TRUE(has(out, "Jenkins")) << out;
    EXPECT_TRUE(has(out, "credentials rejected (401)")) << out;
    EXPECT_TRUE(has(out, "'shipmate'")) << out;
    all += finish(*chat);
  }
  EXPECT_EQ(jenkins.builds().size(), 1u);
  EXPECT_EQ(query(db(), "SELECT id, version, state FROM deploys ORDER BY id"),
            (std::vector<std::string>{"1|2024.06.1|succeeded", "2|2024.06.2|failed"}));
  expect_nothing_running();
  expect_secret_kept(all, jenkins_token);
  expect_secret_kept(all, good_token);
}

// ---- Bad input ----

// Each broken configuration is one clear file:line:column message and exit code 1.
TEST_F(CiSession, CheckConfigNamesEachMistakeWhereItIs) {
  struct Case {
    std::string name;
    std::string service;
    std::string at;  // the text the diagnostic points at
    std::vector<std::string> says;
  };
  const std::string pipeline_head = R"(  - name: api
    target:
      kind: pipeline
)";
  const std::vector<Case> cases = {
      {"unknown provider",
       pipeline_head + R"(      provider: githb
      repo: o/r
      workflow: deploy.yml
      token: {secret: gh}
)",
       "githb",
       {"unknown CI provider 'githb'", "github, gitlab and jenkins", "(did you mean 'github'"}},
      {"missing token",
       pipeline_head + R"(      provider: github
      repo: o/r
      workflow: deploy.yml
)",
       "kind: pipeline",
       {"pipeline target of api needs token: {secret: name}"}},
      {"secret without its variable",
       pipeline_head + R"(      provider: github
      repo: o/r
      workflow: deploy.yml
      token: {secret: unset}
)",
       "unset}",
       {"secret 'unset': environment variable " + std::string(kNeverSetVar) + " is not set"}},
      {"unknown target kind",
       R"(  - name: api
    target:
      kind: kubernets
)",
       "kubernets",
       {"unknown target kind 'kubernets'", "did you mean 'kubernetes'?"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    write_config(c.service);
    auto [code, output] = run_command(
        {shipmate_binary(), "check-config", dir.file("shipmate.yaml")}, "", secrets_env());
    EXPECT_EQ(code, 1) << output;
    const std::string where =
        dir.file("shipmate.yaml") + ":" + position_of(config_text, c.at) + ": error: ";
    EXPECT_TRUE(has(output, where)) << "expected '" << where << "' in:\n" << output;
    for (const auto& text : c.says)
      EXPECT_TRUE(has(output, text)) << "expected '" << text << "' in:\n" << output;
    EXPECT_FALSE(has(output, github_token)) << output;
  }
}

TEST_F(CiSession, MissingWorkflowFailsTheDeployNamingItAndLeavesNothingRunning) {
  FakeGithub github(github_options());
  write_config(R"(  - name: api
    target:
      kind: pipeline
      provider: github
      api_url: )" +
               github.base_url() + R"(
      repo: o/r
      workflow: nope.yml
      token: {secret: gh}
      inputs: {version: "{version}", environment: "{environment}"}
      poll: 50ms
)");
  auto [code, checked] = run_command({shipmate_binary(), "check-config", dir.file("shipmate.yaml")},
                                     "", secrets_env());
  EXPECT_EQ(code, 0) << checked;  // only GitHub knows which workflows exist

  auto chat = start_chat();
  std::string out = say(*chat, "deploy api v1 to staging", "Deploy #1 failed");
  EXPECT_TRUE(has(out, "GitHub")) << out;
  EXPECT_TRUE(has(out, "nope.yml")) << out;
  EXPECT_TRUE(has(out, "404")) << out;
  // The slot was released: the next attempt runs (and fails the same way) instead of being
  // refused because #1 is still going.
  out = say(*chat, "deploy api v1 to staging", "Deploy #2 failed");
  EXPECT_FALSE(has(out, "still")) << out;
  const std::string all = finish(*chat);

  EXPECT_TRUE(github.runs().empty());
  EXPECT_EQ(github.requests_to("POST", "/repos/o/r/actions/workflows/nope.yml/dispatches").size(),
            2u);
  EXPECT_EQ(query(db(), "SELECT id, state FROM deploys ORDER BY id"),
            (std::vector<std::string>{"1|failed", "2|failed"}));
  EXPECT_EQ(states_of(1), (std::vector<std::string>{"requested", "deploying", "failed"}));
  expect_nothing_running();
  expect_secret_kept(all, github_token);
}

}  // namespace
}  // namespace shipmate::testing
