// `shipmate doctor` through the binary against the fake servers, over real sockets: the fake Slack
// (auth.test, apps.connections.open), the fake Kubernetes API (TLS, bearer token), the fake GitHub
// (the workflow a build dispatches) and the fake Prometheus; then the Teams login endpoint (the
// fake Bot Framework auth), Argo CD (TLS, bearer token), a GitLab build and a Jenkins pipeline.
// With good credentials every line is "ok" and the exit status 0; with bad ones the refused checks
// are FAIL lines naming what was refused, the status is 1, and no secret is printed.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "tests/support/fake_argocd.h"
#include "tests/support/fake_bot_framework_auth.h"
#include "tests/support/fake_github.h"
#include "tests/support/fake_gitlab.h"
#include "tests/support/fake_jenkins.h"
#include "tests/support/fake_kubernetes.h"
#include "tests/support/fake_prometheus.h"
#include "tests/support/fake_slack.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

constexpr const char* kGithubTokenVar = "SHIPMATE_DOCTOR_GITHUB_TOKEN";

FakeGithubOptions github_options() {
  FakeGithubOptions options;
  options.owner = "o";
  options.repo = "r";
  FakeWorkflow deploy;
  deploy.file = "build.yml";
  deploy.name = "Build";
  deploy.inputs = {{"version", true}};
  options.workflows = {deploy};
  return options;
}

FakeKubernetes::Options kube_options() {
  FakeKubernetes::Options options;
  options.tls = true;
  return options;
}

class Doctor : public ::testing::Test {
 protected:
  Doctor() : github(github_options()), kubernetes(kube_options()) {
    kubernetes.add_deployment("stg", "api", {{"app", "registry.local/api:v1"}}, 1);
    kubernetes.add_deployment("prod", "api", {{"app", "registry.local/api:v1"}}, 1);
    prometheus.set_vector("vector(1)", {{{}, "1"}});
  }

  void write_config(const std::string& kube_token) {
    write_file(dir.file("kubeconfig"),
               kubernetes.kubeconfig(kube_token.empty() ? "" : "    token: " + kube_token + "\n",
                                     "default"));
    write_file(dir.file("shipmate.yaml"), R"(shipmate:
  database: state/shipmate.db
  state_dir: state/run
environments:
  - name: staging
  - name: production
users:
  - {id: alice, roles: [developer], ids: {slack: UALICE}}
secrets:
  gh: {env: )" + std::string(kGithubTokenVar) +
                                              R"(}
metrics: {prometheus: ')" + prometheus.url() + R"(', timeout: 2s}
services:
  - name: api
    environments: [staging, production]
    build:
      provider: github
      api_url: )" + github.base_url() + R"(
      repo: o/r
      workflow: build.yml
      token: {secret: gh}
      inputs: {version: "{version}"}
    target:
      kind: kubernetes
      kubeconfig: kubeconfig
      namespaces: {staging: stg, production: prod}
      deployment: api
      image: registry.local/api
)");
  }

  // Runs doctor; the exit status and everything it printed.
  std::pair<int, std::string> doctor(const std::string& bot_token,
                                     const std::string& github_token) {
    const std::map<std::string, std::string> env{{"SLACK_BOT_TOKEN", bot_token},
                                                 {"SLACK_APP_TOKEN", slack.options().app_token},
                                                 {"SLACK_API_URL", slack.api_url()},
                                                 {kGithubTokenVar, github_token}};
    Subprocess child({shipmate_binary(), "doctor", "--config", dir.file("shipmate.yaml")}, env);
    child.close_stdin();
    const int status = child.wait(std::chrono::seconds(60));
    return {status, child.output()};
  }

  static int count_of(const std::string& text, const std::string& needle) {
    int count = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
      ++count;
    return count;
  }

  TempDir dir;
  FakeSlack slack;
  FakeGithub github;
  FakeKubernetes kubernetes;
  FakePrometheus prometheus;
};

TEST_F(Doctor, GoodCredentialsPassEveryCheckOneLineEach) {
  write_config("");
  const auto [status, output] = doctor(slack.options().bot_token, github.options().token);
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("ok    slack bot token: auth.test accepted it (team "), std::string::npos)
      << output;
  EXPECT_NE(output.find("ok    slack app token: apps.connections.open issued a Socket Mode URL"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find("ok    kubernetes (service api): read deployment prod/api, deployment "
                        "stg/api"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find("ok    github build (service api): read workflow build.yml in o/r"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find("ok    prometheus: answered the query vector(1)"), std::string::npos)
      << output;
  EXPECT_NE(output.find("skip  teams: not configured"), std::string::npos) << output;
  EXPECT_NE(output.find("doctor: every check passed"), std::string::npos) << output;
  EXPECT_EQ(count_of(output, "FAIL"), 0) << output;
  // Read-only: doctor dispatched no workflow, patched nothing and posted nothing.
  EXPECT_TRUE(github.runs().empty());
  for (const auto& request : kubernetes.http().requests())
    EXPECT_EQ(request.method, "GET") << request.path;
  EXPECT_TRUE(slack.calls("chat.postMessage").empty());
}

TEST_F(Doctor, RefusedCredentialsAreFailLinesAndExitOne) {
  write_config("k8s-wrong-token-3f9a");
  const auto [status, output] = doctor("xoxb-wrong-token-8c1d", "ghp_wrongTokenForDoctor");
  EXPECT_EQ(status, 1) << output;
  EXPECT_NE(output.find("FAIL  slack bot token: "), std::string::npos) << output;
  EXPECT_NE(output.find("invalid_auth"), std::string::npos) << output;
  EXPECT_NE(output.find("FAIL  kubernetes (service api): "), std::string::npos) << output;
  EXPECT_NE(output.find("did not accept the credentials"), std::string::npos) << output;
  EXPECT_NE(output.find("FAIL  github build (service api): "), std::string::npos) << output;
  // What still works is still reported as working.
  EXPECT_NE(output.find("ok    slack app token"), std::string::npos) << output;
  EXPECT_NE(output.find("ok    prometheus"), std::string::npos) << output;
  EXPECT_NE(output.find("doctor: 3 check(s) failed"), std::string::npos) << output;
  // The wrong secrets are not echoed back.
  EXPECT_EQ(output.find("xoxb-wrong-token-8c1d"), std::string::npos) << output;
  EXPECT_EQ(output.find("ghp_wrongTokenForDoctor"), std::string::npos) << output;
  EXPECT_EQ(output.find("k8s-wrong-token-3f9a"), std::string::npos) << output;
}

TEST_F(Doctor, APrometheusThatDoesNotAnswerFails) {
  write_config("");
  prometheus.set_error("vector(1)", 503, "unavailable", "the query engine is down");
  const auto [status, output] = doctor(slack.options().bot_token, github.options().token);
  EXPECT_EQ(status, 1) << output;
  EXPECT_NE(output.find("FAIL  prometheus: "), std::string::npos) << output;
  EXPECT_NE(output.find("doctor: 1 check(s) failed"), std::string::npos) << output;
}

// ---- Teams, Argo CD, GitLab and Jenkins ----

constexpr const char* kArgoTokenVar = "SHIPMATE_DOCTOR_ARGOCD_TOKEN";
constexpr const char* kGitlabTokenVar = "SHIPMATE_DOCTOR_GITLAB_TOKEN";
constexpr const char* kJenkinsTokenVar = "SHIPMATE_DOCTOR_JENKINS_TOKEN";

FakeArgoCd::Options argo_options() {
  FakeArgoCd::Options options;
  options.tls = true;
  return options;
}

class DoctorMore : public ::testing::Test {
 protected:
  DoctorMore() : argocd(argo_options()) {
    for (const char* name : {"api-staging", "api-production"}) {
      FakeArgoCd::AppSetup app;
      app.name = name;
      argocd.add_application(app);
    }
    jenkins.add_job("deploys/worker");
    write_file(dir.file("shipmate.yaml"), R"(shipmate:
  database: state/shipmate.db
  state_dir: state/run
environments:
  - name: staging
  - name: production
users:
  - {id: alice, roles: [developer], ids: {teams: 00000000-0000-0000-0000-0000000a11ce}}
secrets:
  argocd: {env: )" + std::string(kArgoTokenVar) +
                                              R"(}
  gl: {env: )" + std::string(kGitlabTokenVar) +
                                              R"(}
  jk: {env: )" + std::string(kJenkinsTokenVar) +
                                              R"(}
services:
  - name: api
    environments: [staging, production]
    build:
      provider: gitlab
      api_url: )" + gitlab.api_url() +
                                              R"(
      project: group/sub/api
      token: {secret: gl}
      variables: {VERSION: "{version}"}
    target:
      kind: argocd
      server: )" + argocd.base_url() +
                                              R"(
      token: {secret: argocd}
      applications: {staging: api-staging, production: api-production}
      auto_sync: refuse
      ca_file: )" + argocd.ca_path() +
                                              R"(
  - name: worker
    environments: [staging, production]
    target:
      kind: pipeline
      provider: jenkins
      url: )" + jenkins.url() + R"(
      job: deploys/worker
      user: shipmate
      token: {secret: jk}
      parameters: {VERSION: "{version}"}
)");
  }

  struct Credentials {
    std::string teams_password;
    std::string argocd_token;
    std::string gitlab_token;
    std::string jenkins_token;
  };

  Credentials good() const {
    return {auth.options().app_password, argocd.options().token, gitlab.options().private_token,
            jenkins.options().api_token};
  }

  std::pair<int, std::string> doctor(const Credentials& credentials) {
    const std::map<std::string, std::string> env{
        {"MicrosoftAppId", auth.options().app_id},
        {"MicrosoftAppPassword", credentials.teams_password},
        {"BOTFRAMEWORK_OPENID_METADATA_URL", auth.openid_metadata_url()},
        {"BOTFRAMEWORK_LOGIN_URL", auth.login_url()},
        {kArgoTokenVar, credentials.argocd_token},
        {kGitlabTokenVar, credentials.gitlab_token},
        {kJenkinsTokenVar, credentials.jenkins_token}};
    Subprocess child({shipmate_binary(), "doctor", "--config", dir.file("shipmate.yaml")}, env);
    child.close_stdin();
    const int status = child.wait(std::chrono::seconds(60));
    return {status, child.output()};
  }

  TempDir dir;
  FakeBotFrameworkAuth auth;
  FakeArgoCd argocd;
  FakeGitlab gitlab;
  FakeJenkins jenkins;
};

TEST_F(DoctorMore, TeamsArgoCdGitlabAndJenkinsAcceptGoodCredentials) {
  const auto [status, output] = doctor(good());
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("ok    teams app credentials: "), std::string::npos) << output;
  EXPECT_NE(output.find("issued a connector token"), std::string::npos) << output;
  EXPECT_GE(auth.token_requests(), 1u);
  EXPECT_NE(output.find("ok    argocd (service api): "), std::string::npos) << output;
  EXPECT_NE(output.find("api-staging"), std::string::npos) << output;
  EXPECT_NE(output.find("ok    gitlab build (service api): read "), std::string::npos) << output;
  EXPECT_NE(output.find("ok    pipeline (jenkins) (service worker): "), std::string::npos)
      << output;
  EXPECT_NE(output.find("skip  slack: "), std::string::npos) << output;
  EXPECT_NE(output.find("doctor: every check passed"), std::string::npos) << output;
  // Read-only: no sync, no pipeline, no build.
  for (const auto& request : argocd.server().requests())
    EXPECT_EQ(request.method, "GET") << request.target;
  EXPECT_TRUE(gitlab.pipelines().empty());
  EXPECT_TRUE(jenkins.builds().empty());
}

TEST_F(DoctorMore, RefusedCredentialsAreOneFailLineEachWithoutTheSecret) {
  const Credentials wrong{"wrong-teams-password-7c2e", "argocd-wrong-token-91ab",
                          "glpat-wrong-token-for-doctor", "00ff00ff00ff00ff00ff00ff00ff00ff00"};
  const auto [status, output] = doctor(wrong);
  EXPECT_EQ(status, 1) << output;
  EXPECT_NE(output.find("FAIL  teams app credentials: "), std::string::npos) << output;
  EXPECT_NE(output.find("FAIL  argocd (service api): "), std::string::npos) << output;
  EXPECT_NE(output.find("FAIL  gitlab build (service api): "), std::string::npos) << output;
  EXPECT_NE(output.find("FAIL  pipeline (jenkins) (service worker): "), std::string::npos)
      << output;
  EXPECT_NE(output.find("doctor: 4 check(s) failed"), std::string::npos) << output;
  for (const std::string& secret :
       {wrong.teams_password, wrong.argocd_token, wrong.gitlab_token, wrong.jenkins_token}) {
    EXPECT_EQ(output.find(secret), std::string::npos) << secret << " reached the output\n"
                                                      << output;
  }
}

}  // namespace
}  // namespace shipmate::testing
