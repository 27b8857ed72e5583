// The configuration of external systems: CI builds and pipeline targets (GitHub Actions, GitLab
// CI, Jenkins), Kubernetes and Argo CD targets, rollout strategies with metric checks, the
// Prometheus source, and the GitHub Deployments mirror. Each section parses into its structs, and
// each usual mistake is one diagnostic at the line and column where it was made.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "bot/config.h"
#include "bot/target_kinds.h"
#include "common/redact.h"
#include "tests/support/test_support.h"

namespace shipmate::bot {
namespace {

using shipmate::testing::TempDir;

constexpr const char* kGithubToken = "ghp_configTestToken0123456789abcdef";
constexpr const char* kGitlabToken = "glpat-configTestToken-0123456789";
constexpr const char* kReadToken = "glpat-configTestReadToken-987654";
constexpr const char* kJenkinsToken = "11cc22dd33ee44ff55aa66bb77cc88dd99";
constexpr const char* kArgoToken = "argocd.configTestToken.abcdefghij";
constexpr const char* kPromToken = "prom-configTestToken-4242424242";

// Environments, users and secrets; a test appends `metrics:` or `services:` after it.
const std::string kHead = R"(environments:
  - name: staging
  - name: production
    production: true
users:
  - {id: alice, roles: [developer, sre]}
secrets:
  gh: {env: SHIPMATE_CFG_TEST_GH}
  gl: {env: SHIPMATE_CFG_TEST_GL}
  gl_read: {env: SHIPMATE_CFG_TEST_GL_READ}
  jk: {env: SHIPMATE_CFG_TEST_JK}
  argo: {env: SHIPMATE_CFG_TEST_ARGO}
  prom: {env: SHIPMATE_CFG_TEST_PROM}
)";

// A pipeline target on GitHub Actions: the smallest valid service to hang other sections on.
const std::string kApiService = R"(services:
  - name: api
    target:
      kind: pipeline
      provider: github
      repo: acme/api
      workflow: deploy.yml
      token: {secret: gh}
)";

class ConfigIntegrationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("SHIPMATE_CFG_TEST_GH", kGithubToken, 1);
    ::setenv("SHIPMATE_CFG_TEST_GL", kGitlabToken, 1);
    ::setenv("SHIPMATE_CFG_TEST_GL_READ", kReadToken, 1);
    ::setenv("SHIPMATE_CFG_TEST_JK", kJenkinsToken, 1);
    ::setenv("SHIPMATE_CFG_TEST_ARGO", kArgoToken, 1);
    ::setenv("SHIPMATE_CFG_TEST_PROM", kPromToken, 1);
  }
  void TearDown() override {
    for (const char* name :
         {"SHIPMATE_CFG_TEST_GH", "SHIPMATE_CFG_TEST_GL", "SHIPMATE_CFG_TEST_GL_READ",
          "SHIPMATE_CFG_TEST_JK", "SHIPMATE_CFG_TEST_ARGO", "SHIPMATE_CFG_TEST_PROM"}) {
      ::unsetenv(name);
    }
  }

  ConfigLoad parse(const std::string& yaml) {
    text = yaml;
    return parse_config(yaml, dir.file("shipmate.yaml"));
  }

  // Every error, one per line, for assertions and failure messages.
  static std::string errors(const ConfigLoad& load) {
    std::string out;
    for (const auto& d : load.diagnostics) {
      if (d.severity == Diagnostic::Severity::error)
        out += d.to_string() + "\n";
    }
    return out;
  }

  // "file:line:column: error: " for the first occurrence of `needle` in the parsed text.
  std::string at(const std::string& needle) const {
    const auto offset = text.find(needle);
    if (offset == std::string::npos)
      return "<'" + needle + "' is not in the configuration>";
    int line = 1;
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < offset; ++i) {
      if (text[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    }
    return dir.file("shipmate.yaml") + ":" + std::to_string(line) + ":" +
           std::to_string(offset - line_start + 1) + ": error: ";
  }

  // Expects the load to fail with an error at `where` that contains `message`.
  void expect_error(const ConfigLoad& load, const std::string& where, const std::string& message) {
    EXPECT_FALSE(load.ok());
    const std::string all = errors(load);
    EXPECT_NE(all.find(at(where) + message), std::string::npos)
        << "expected '" << at(where) << message << "' among:\n"
        << all;
  }

  TempDir dir;
  std::string text;
};

// ---- sections that parse ----

TEST_F(ConfigIntegrationsTest, GithubPipelineTargetIsRead) {
  auto load = parse(kHead + R"(services:
  - name: api
    target:
      kind: pipeline
      provider: github
      api_url: https://ghe.example.com/api/v3
      repo: acme/api
      workflow: deploy.yml
      ref: release
      token: {secret: gh}
      inputs: {version: "{version}", environment: "{environment}"}
      correlation_input: deploy_id
      ca_file: certs/ghe.pem
      poll: 2s
      timeout: 20m
)");
  ASSERT_TRUE(load.ok()) << errors(load);
  const Config& config = *load.config;
  const auto& service = config.catalog.services.at(0);
  EXPECT_EQ(service.target_kind, "pipeline");
  EXPECT_FALSE(service.has_build);
  const auto& extra = config.integrations.at("api");
  ASSERT_TRUE(extra.pipeline.has_value());
  EXPECT_FALSE(extra.build.has_value());
  EXPECT_FALSE(extra.github_deployments.has_value());
  const CiSpec& spec = *extra.pipeline;
  EXPECT_EQ(spec.provider, "github");
  EXPECT_EQ(spec.ca_file, dir.file("certs/ghe.pem"));
  EXPECT_EQ(spec.github.api_url, "https://ghe.example.com/api/v3");
  EXPECT_EQ(spec.github.owner, "acme");
  EXPECT_EQ(spec.github.repo, "api");
  EXPECT_EQ(spec.github.workflow, "deploy.yml");
  EXPECT_EQ(spec.github.ref, "release");
  EXPECT_EQ(spec.github.token, kGithubToken);
  EXPECT_EQ(spec.github.inputs, (std::map<std::string, std::string>{
                                    {"environment", "{environment}"}, {"version", "{version}"}}));
  EXPECT_EQ(spec.github.correlation_input, "deploy_id");
  EXPECT_EQ(spec.github.follow.first_poll.count(), 2000);
  EXPECT_EQ(spec.github.follow.deadline.count(), 20 * 60 * 1000);
  // The token was read from the environment and is redacted wherever it might show up.
  EXPECT_EQ(redact(std::string("token ") + kGithubToken).find(kGithubToken), std::string::npos);
}

TEST_F(ConfigIntegrationsTest, DefaultsOfAGithubPipeline) {
  auto load = parse(kHead + kApiService);
  ASSERT_TRUE(load.ok()) << errors(load);
  const auto& github = load.config->integrations.at("api").pipeline->github;
  EXPECT_EQ(github.api_url, "https://api.github.com");
  EXPECT_EQ(github.ref, "main");
  EXPECT_EQ(github.correlation_input, "shipmate_id");
  EXPECT_TRUE(github.inputs.empty());
  EXPECT_FALSE(load.config->metrics.has_value());
  EXPECT_EQ(load.config->catalog.services.at(0).strategy.kind, commands::StrategyKind::rolling);
}

TEST_F(ConfigIntegrationsTest, GitlabBuildInFrontOfAPipelineIsRead) {
  auto load = parse(kHead + kApiService + R"(    build:
      provider: gitlab
      api_url: https://gitlab.example.com/api/v4
      project: group/sub/api
      ref: release
      token_kind: trigger
      token: {secret: gl}
      read_token: {secret: gl_read}
      variables: {VERSION: "{version}", TARGET: "{environment}"}
      poll: 3s
      timeout: 45m
)");
  ASSERT_TRUE(load.ok()) << errors(load);
  const auto& service = load.config->catalog.services.at(0);
  EXPECT_TRUE(service.has_build);
  EXPECT_EQ(service.build_poll.count(), 3000);
  EXPECT_EQ(service.build_timeout_ms, 45LL * 60 * 1000);
  const auto& build = load.config->integrations.at("api").build;
  ASSERT_TRUE(build.has_value());
  EXPECT_EQ(build->provider, "gitlab");
  EXPECT_EQ(build->gitlab.api_url, "https://gitlab.example.com/api/v4");
  EXPECT_EQ(build->gitlab.project, "group/sub/api");
  EXPECT_EQ(build->gitlab.ref, "release");
  EXPECT_EQ(build->gitlab.token_kind, integrations::GitlabTokenKind::trigger);
  EXPECT_EQ(build->gitlab.token, kGitlabToken);
  EXPECT_EQ(build->gitlab.read_token, kReadToken);
  EXPECT_EQ(build->gitlab.variables, (std::map<std::string, std::string>{
                                         {"TARGET", "{environment}"}, {"VERSION", "{version}"}}));
  EXPECT_EQ(build->gitlab.follow.first_poll.count(), 3000);
}

TEST_F(ConfigIntegrationsTest, JenkinsPipelineTargetIsRead) {
  auto load = parse(kHead + R"(services:
  - name: api
    target:
      kind: pipeline
      provider: jenkins
      url: https://ci.example.com/jenkins
      job: deploys/web/api
      user: shipmate
      token: {secret: jk}
      parameters: {VERSION: "{version}"}
      poll: 500ms
)");
  ASSERT_TRUE(load.ok()) << errors(load);
  const auto& spec = *load.config->integrations.at("api").pipeline;
  EXPECT_EQ(spec.provider, "jenkins");
  EXPECT_EQ(spec.jenkins.url, "https://ci.example.com/jenkins");
  EXPECT_EQ(spec.jenkins.job, "deploys/web/api");
  EXPECT_EQ(spec.jenkins.user, "shipmate");
  EXPECT_EQ(spec.jenkins.api_token, kJenkinsToken);
  EXPECT_EQ(spec.jenkins.parameters,
            (std::map<std::string, std::string>{{"VERSION", "{version}"}}));
  EXPECT_EQ(spec.jenkins.follow.first_poll.count(), 500);
}

TEST_F(ConfigIntegrationsTest, CanaryStrategyAndPrometheusAreRead) {
  auto load = parse(kHead + R"(metrics:
  prometheus: http://prometheus.example.com:9090/
  token: {secret: prom}
  ca_file: certs/prom.pem
  timeout: 3s
)" + kApiService + R"(    strategy:
      kind: canary
      steps: [10, "50%"]
      bake: 2m
      environments: [production]
      decision_timeout: 10m
      checks:
        - {name: error_rate, query: 'sum(rate(errors{version="{version}"}[1m]))', max: 0.01}
        - {name: throughput, query: 'sum(rate(requests[1m]))', min: 5, max: 1e4}
)");
  ASSERT_TRUE(load.ok()) << errors(load);
  ASSERT_TRUE(load.config->metrics.has_value());
  const MetricsConfig& metrics = *load.config->metrics;
  EXPECT_EQ(metrics.prometheus_url, "http://prometheus.example.com:9090");
  EXPECT_EQ(metrics.bearer_token, kPromToken);
  EXPECT_EQ(metrics.ca_file, dir.file("certs/prom.pem"));
  EXPECT_EQ(metrics.timeout_ms, 3000);

  const auto& strategy = load.config->catalog.services.at(0).strategy;
  EXPECT_EQ(strategy.kind, commands::StrategyKind::canary);
  EXPECT_EQ(strategy.steps, (std::vector<int>{10, 50}));
  EXPECT_EQ(strategy.bake_ms, 2 * 60 * 1000);
  EXPECT_EQ(strategy.environments, std::vector<std::string>{"production"});
  EXPECT_EQ(strategy.decision_timeout_ms, 10 * 60 * 1000);
  EXPECT_TRUE(strategy.applies_to("production"));
  EXPECT_FALSE(strategy.applies_to("staging"));
  ASSERT_EQ(strategy.checks.size(), 2u);
  EXPECT_EQ(strategy.checks[0].name, "error_rate");
  EXPECT_EQ(strategy.checks[0].query, "sum(rate(errors{version=\"{version}\"}[1m]))");
  EXPECT_EQ(strategy.checks[0].max, 0.01);
  EXPECT_FALSE(strategy.checks[0].min.has_value());
  EXPECT_EQ(strategy.checks[1].min, 5.0);
  EXPECT_EQ(strategy.checks[1].max, 10000.0);
}

TEST_F(ConfigIntegrationsTest, BlueGreenAndRollingStrategiesAreRead) {
  for (const auto& [written, kind] : std::vector<std::pair<std::string, commands::StrategyKind>>{
           {"blue-green", commands::StrategyKind::blue_green},
           {"blue_green", commands::StrategyKind::blue_green},
           {"rolling", commands::StrategyKind::rolling}}) {
    auto load = parse(kHead + kApiService + "    strategy: {kind: " + written + ", bake: 30s}\n");
    ASSERT_TRUE(load.ok()) << written << "\n" << errors(load);
    const auto& strategy = load.config->catalog.services.at(0).strategy;
    EXPECT_EQ(strategy.kind, kind) << written;
    EXPECT_EQ(strategy.bake_ms, 30000) << written;
    EXPECT_TRUE(strategy.steps.empty());
  }
}

TEST_F(ConfigIntegrationsTest, GithubDeploymentsMirrorIsRead) {
  auto load = parse(kHead + kApiService + R"(    github_deployments:
      repo: acme/api-deployments
      token: {secret: gh}
      api_url: https://ghe.example.com/api/v3
      ca_file: certs/ghe.pem
)");
  ASSERT_TRUE(load.ok()) << errors(load);
  const auto& extra = load.config->integrations.at("api");
  ASSERT_TRUE(extra.github_deployments.has_value());
  EXPECT_EQ(extra.github_deployments->owner, "acme");
  EXPECT_EQ(extra.github_deployments->repo, "api-deployments");
  EXPECT_EQ(extra.github_deployments->token, kGithubToken);
  EXPECT_EQ(extra.github_deployments->api_url, "https://ghe.example.com/api/v3");
  EXPECT_EQ(extra.github_deployments_ca_file, dir.file("certs/ghe.pem"));
}

TEST_F(ConfigIntegrationsTest, ReleaseNotesFromAClonedRepositoryAreRead) {
  auto load = parse(kHead + kApiService + R"(    notes:
      git: {path: clones/api, remote: upstream, fetch: false, proxy: "http://proxy:3128",
            ca_file: certs/git.pem, token: {secret: gh}}
      paths: [services/api/**, "**/*.proto"]
      pull_url: https://git.example.com/api/pulls/
)");
  ASSERT_TRUE(load.ok()) << errors(load);
  const auto& extra = load.config->integrations.at("api");
  ASSERT_TRUE(extra.notes_git.has_value());
  EXPECT_FALSE(extra.notes_github.has_value());
  EXPECT_EQ(extra.notes_git->path, dir.file("clones/api"));
  EXPECT_EQ(extra.notes_git->remote, "upstream");
  EXPECT_FALSE(extra.notes_git->fetch);
  EXPECT_EQ(extra.notes_git->proxy, "http://proxy:3128");
  EXPECT_EQ(extra.notes_git->ca_file, dir.file("certs/git.pem"));
  EXPECT_EQ(extra.notes_git->token, kGithubToken);
  EXPECT_EQ(extra.notes_git->paths, (std::vector<std::string>{"services/api/**", "**/*.proto"}));
  EXPECT_EQ(extra.notes_pull_url, "https://git.example.com/api/pulls/");
}

TEST_F(ConfigIntegrationsTest, ReleaseNotesFromGithubAreReadAndMistakesNamed) {
  auto load = parse(kHead + kApiService + R"(    notes:
      github: {repo: acme/api, token: {secret: gh}, api_url: https://ghe.example.com/api/v3}
      paths: [services/api]
)");
  ASSERT_TRUE(load.ok()) << errors(load);
  const auto& extra = load.config->integrations.at("api");
  ASSERT_TRUE(extra.notes_github.has_value());
  EXPECT_EQ(extra.notes_github->api.owner, "acme");
  EXPECT_EQ(extra.notes_github->api.repo, "api");
  EXPECT_EQ(extra.notes_github->api.token, kGithubToken);
  EXPECT_EQ(extra.notes_github->paths, (std::vector<std::string>{"services/api"}));
  EXPECT_EQ(extra.notes_pull_url, "https://github.com/acme/api/pull/");

  auto both = parse(kHead + kApiService + R"(    notes:
      git: {path: clones/api}
      github: {repo: acme/api, token: {secret: gh}}
)");
  expect_error(both, "git: {path", "notes of api: choose git: (a clone) or github:");
  auto neither = parse(kHead + kApiService + R"(    notes:
      paths: [x]
)");
  expect_error(neither, "paths: [x]", "notes of api needs git: {path: ...} or github:");
  auto typo = parse(kHead + kApiService + R"(    notes:
      git: {path: clones/api, fetsh: true}
)");
  EXPECT_FALSE(typo.ok());
  EXPECT_NE(errors(typo).find("fetsh"), std::string::npos) << errors(typo);
}

TEST_F(ConfigIntegrationsTest, ArgoCdTargetIsRead) {
  auto load = parse(kHead + R"(services:
  - name: web
    target:
      kind: argocd
      server: https://argocd.example.com
      token: {secret: argo}
      project: shop
      applications: {staging: web-staging, production: web-prod}
      mode: helm
      helm_parameter: image.tag
      auto_sync: suspend
      prune: true
      timeout: 5m
      poll: 1s
      ca_file: certs/argo.pem
)");
  ASSERT_TRUE(load.ok()) << errors(load);
  EXPECT_EQ(load.config->catalog.services.at(0).target_kind, "argocd");
  const auto& argo = load.config->integrations.at("web").argocd;
  ASSERT_TRUE(argo.has_value());
  EXPECT_EQ(argo->service, "web");
  EXPECT_EQ(argo->server_url, "https://argocd.example.com");
  EXPECT_EQ(argo->token, kArgoToken);
  EXPECT_EQ(argo->project, "shop");
  EXPECT_EQ(argo->environments.at("staging").application, "web-staging");
  EXPECT_EQ(argo->environments.at("production").application, "web-prod");
  EXPECT_EQ(argo->version_mode, integrations::ArgoCdVersionMode::helm_parameter);
  EXPECT_EQ(argo->helm_parameter, "image.tag");
  EXPECT_EQ(argo->auto_sync, integrations::ArgoCdAutoSyncPolicy::suspend);
  EXPECT_TRUE(argo->prune);
  EXPECT_EQ(argo->sync_timeout.count(), 5 * 60 * 1000);
  EXPECT_EQ(argo->poll_interval.count(), 1000);
  EXPECT_EQ(argo->ca_file, dir.file("certs/argo.pem"));
}

TEST_F(ConfigIntegrationsTest, KubernetesTargetIsRead) {
  auto load = parse(kHead + R"(services:
  - name: web
    target:
      kind: kubernetes
      kubeconfig: kube/config
      context: prod-cluster
      namespaces: {staging: shop-staging, production: shop}
      deployment: web
      container: app
      image: registry.example.com:5000/shop/web
      timeout: 4m
      poll: 250ms
)");
  ASSERT_TRUE(load.ok()) << errors(load);
  EXPECT_EQ(load.config->catalog.services.at(0).target_kind, "kubernetes");
  const auto& kube = load.config->integrations.at("web").kubernetes;
  ASSERT_TRUE(kube.has_value());
  EXPECT_EQ(kube->service, "web");
  EXPECT_EQ(kube->credentials.kubeconfig, dir.file("kube/config"));
  EXPECT_EQ(kube->credentials.context, "prod-cluster");
  EXPECT_FALSE(kube->credentials.in_cluster);
  EXPECT_EQ(kube->namespaces, (std::map<std::string, std::string>{{"production", "shop"},
                                                                  {"staging", "shop-staging"}}));
  EXPECT_EQ(kube->deployment, "web");
  EXPECT_EQ(kube->container, "app");
  EXPECT_EQ(kube->image_repository, "registry.example.com:5000/shop/web");
  EXPECT_EQ(kube->rollout_timeout.count(), 4 * 60 * 1000);
  EXPECT_EQ(kube->poll_interval.count(), 250);
}

TEST_F(ConfigIntegrationsTest, KubernetesNamespacesDefaultForEveryEnvironment) {
  auto load = parse(kHead + R"(services:
  - name: web
    environments: [staging]
    target: {kind: kubernetes, in_cluster: true, deployment: web, image: ghcr.io/acme/web}
)");
  ASSERT_TRUE(load.ok()) << errors(load);
  const auto& kube = *load.config->integrations.at("web").kubernetes;
  EXPECT_TRUE(kube.credentials.in_cluster);
  EXPECT_EQ(kube.namespaces, (std::map<std::string, std::string>{{"staging", ""}}));
}

// ---- mistakes ----

TEST_F(ConfigIntegrationsTest, UnknownProviderSuggestsTheClosest) {
  auto load = parse(kHead + kApiService + R"(    build:
      provider: gitlabb
      project: group/api
      token: {secret: gl}
)");
  // The closest provider is suggested first.
  expect_error(load, "gitlabb",
               "unknown CI provider 'gitlabb'; Shipmate supports github, gitlab and jenkins (did "
               "you mean 'gitlab'");

  load = parse(kHead + R"(services:
  - name: api
    target:
      kind: pipeline
      provider: jenkns
)");
  expect_error(load, "jenkns", "unknown CI provider 'jenkns'");
  EXPECT_NE(errors(load).find("did you mean 'jenkins'?"), std::string::npos) << errors(load);

  load = parse(kHead + R"(services:
  - name: api
    target:
      kind: pipeline
      workflow: deploy.yml
)");
  expect_error(load, "kind: pipeline",
               "pipeline target of api needs provider: github, gitlab or jenkins");
}

// The target kinds config accepts are the table's: an unknown one lists them all and suggests the
// closest, and every kind in the table has both a parser and a builder.
TEST_F(ConfigIntegrationsTest, UnknownTargetKindListsTheTableWithASuggestion) {
  auto load = parse(kHead + R"(services:
  - name: api
    target:
      kind: kubernets
)");
  expect_error(load, "kubernets",
               "unknown target kind 'kubernets'; Shipmate supports local, kubernetes, argocd and "
               "pipeline (did you mean 'kubernetes'?");

  EXPECT_EQ(target_kind_names(),
            (std::vector<std::string>{"local", "kubernetes", "argocd", "pipeline"}));
  for (const TargetKind& kind : target_kinds()) {
    SCOPED_TRACE(std::string(kind.name));
    EXPECT_NE(kind.parse, nullptr);
    EXPECT_NE(kind.build, nullptr);
    EXPECT_EQ(find_target_kind(kind.name), &kind);
  }
  EXPECT_EQ(find_target_kind("kubernets"), nullptr);
}

// `owners:` was once accepted and silently dropped; now it is refused with the reason.
TEST_F(ConfigIntegrationsTest, ServiceOwnersAreRefusedNotDropped) {
  auto load = parse(kHead + kApiService + "    owners: [alice]\n");
  expect_error(load, "[alice]",
               "services have no owners: key: Shipmate does not record service owners");
}

TEST_F(ConfigIntegrationsTest, RepoMustBeOwnerSlashName) {
  for (const std::string repo : {"acme", "acme/", "/api", "acme/api/extra"}) {
    auto load = parse(kHead + R"(services:
  - name: api
    target:
      kind: pipeline
      provider: github
      repo: )" + repo +
                      R"(
      workflow: deploy.yml
      token: {secret: gh}
)");
    expect_error(load, repo + "\n", "repo must be owner/name, not '" + repo + "'");
  }
  for (const std::string repo : {"just-a-name", "acme/api/extra"}) {
    auto load = parse(kHead + kApiService + R"(    github_deployments:
      repo: )" + repo +
                      R"(
      token: {secret: gh}
)");
    expect_error(load, repo + "\n", "repo must be owner/name, not '" + repo + "'");
  }
}

TEST_F(ConfigIntegrationsTest, LiteralTokensAreRefusedAndNeverEchoed) {
  const std::string literal = "ghp_literalTokenInTheFile0000000000";
  auto load = parse(kHead + R"(services:
  - name: api
    target:
      kind: pipeline
      provider: github
      repo: acme/api
      workflow: deploy.yml
      token: )" + literal +
                    "\n");
  expect_error(load, literal,
               "token must be a reference such as {secret: name}, declared under secrets:");
  EXPECT_EQ(errors(load).find(literal), std::string::npos) << errors(load);

  // The same for every other credential: Jenkins, Argo CD, Prometheus, the mirror.
  load = parse(kHead + R"(metrics: {prometheus: "http://prom:9090", token: hunter2}
)" + kApiService);
  expect_error(load, "hunter2", "token must be a reference");
  load = parse(kHead + kApiService + R"(    github_deployments: {repo: acme/api, token: "abc123"}
)");
  expect_error(load, "\"abc123\"", "token must be a reference");
}

TEST_F(ConfigIntegrationsTest, MissingTokensAndUnknownSecretsAreNamed) {
  auto load = parse(kHead + R"(services:
  - name: api
    target:
      kind: pipeline
      provider: github
      repo: acme/api
      workflow: deploy.yml
)");
  expect_error(load, "kind: pipeline",
               "pipeline target of api needs token: {secret: name} (a GitHub token with "
               "actions:write)");

  load = parse(kHead + R"(services:
  - name: api
    target:
      kind: pipeline
      provider: github
      repo: acme/api
      workflow: deploy.yml
      token: {secret: github}
)");
  expect_error(load, "github}", "unknown secret 'github'; declare it under secrets:");

  ::unsetenv("SHIPMATE_CFG_TEST_JK");
  load = parse(kHead + R"(services:
  - name: api
    target: {kind: pipeline, provider: jenkins, url: "http://ci", job: api, user: me, token: {secret: jk}}
)");
  expect_error(load, "jk}}", "secret 'jk': environment variable SHIPMATE_CFG_TEST_JK is not set");
}

TEST_F(ConfigIntegrationsTest, CanaryStepsMustAscend) {
  for (const std::string steps : {"[50, 10]", "[10, 10]", "[0, 50]", "[10, 150]", "[ten]"}) {
    auto load = parse(kHead + kApiService + "    strategy: {kind: canary, steps: " + steps + "}\n");
    expect_error(load, steps, "canary steps are ascending percentages from 1 to 100");
  }
  auto load = parse(kHead + kApiService + "    strategy: {kind: rolling, steps: [10]}\n");
  expect_error(load, "[10]", "steps: only apply to the canary strategy");
  load = parse(kHead + kApiService + "    strategy: {kind: cannary}\n");
  expect_error(load, "cannary", "strategy kind must be rolling, canary or blue-green");
}

TEST_F(ConfigIntegrationsTest, ChecksNeedABoundAndAMetricsSource) {
  const std::string metrics = "metrics: {prometheus: \"http://prom:9090\"}\n";
  auto load = parse(kHead + metrics + kApiService + R"(    strategy:
      kind: canary
      steps: [25]
      checks:
        - {name: error_rate, query: 'rate(errors[1m])'}
)");
  expect_error(load, "{name: error_rate", "check error_rate needs max: or min: (or both)");

  load = parse(kHead + metrics + kApiService + R"(    strategy:
      checks:
        - {name: latency, query: 'p99', max: fast}
)");
  expect_error(load, "fast", "max must be a number, not 'fast'");

  load = parse(kHead + kApiService + R"(    strategy:
      kind: canary
      checks:
        - {name: error_rate, query: 'rate(errors[1m])', max: 0.01}
)");
  expect_error(load, "- {name: error_rate",
               "checks of api need a metrics source: add metrics: {prometheus: URL}");

  load = parse(kHead + "metrics: {prometheus: prom:9090}\n" + kApiService);
  expect_error(load, "prom:9090", "metrics prometheus must be an http:// or https:// URL");
}

TEST_F(ConfigIntegrationsTest, StrategyEnvironmentsMustBeTheServices) {
  auto load = parse(kHead + R"(services:
  - name: api
    environments: [staging]
    target:
      kind: pipeline
      provider: github
      repo: acme/api
      workflow: deploy.yml
      token: {secret: gh}
    strategy:
      kind: blue-green
      environments: [production]
)");
  expect_error(load, "[production]",
               "strategy of api names environment 'production', which api is not deployed to");
}

TEST_F(ConfigIntegrationsTest, ArgoCdModeAndAutoSyncMustBeKnown) {
  const std::string service = R"(services:
  - name: web
    target:
      kind: argocd
      server: https://argocd.example.com
      token: {secret: argo}
      applications: {staging: web-staging, production: web-prod}
)";
  auto load = parse(kHead + service + "      mode: git\n");
  expect_error(load, "git\n", "mode must be revision or helm, not 'git'");
  load = parse(kHead + service + "      auto_sync: always\n");
  expect_error(load, "always", "auto_sync must be refuse or suspend, not 'always'");
  load = parse(kHead + service + "      applications_of: {}\n");
  expect_error(load, "applications_of", "unknown key 'applications_of' in argocd target of web");
  // Helm mode without the parameter that carries the version is caught by the target's own check.
  load = parse(kHead + service + "      mode: helm\n");
  expect_error(load, "kind: argocd", "argocd target of web: Argo CD target for web:");
  EXPECT_NE(errors(load).find("helm_parameter"), std::string::npos) << errors(load);
}

TEST_F(ConfigIntegrationsTest, KubernetesNeedsDeploymentAndImage) {
  auto load = parse(kHead + R"(services:
  - name: web
    target:
      kind: kubernetes
      in_cluster: true
)");
  expect_error(load, "kind: kubernetes",
               "kubernetes target of web needs deployment: (the Deployment's name)");
  expect_error(load, "kind: kubernetes", "kubernetes target of web needs image: (");

  load = parse(kHead + R"(services:
  - name: web
    target:
      kind: kubernetes
      in_cluster: true
      deployment: Web_App
      image: registry.example.com/web:v1
      namespaces: {qa: web-qa}
)");
  expect_error(load, "{qa: web-qa}",
               "kubernetes target of web names environment 'qa', which web is not deployed to");
}

TEST_F(ConfigIntegrationsTest, UnknownTargetKindSuggestsTheClosest) {
  auto load = parse(kHead + R"(services:
  - name: web
    target:
      kind: argo
)");
  expect_error(load, "argo\n",
               "unknown target kind 'argo'; Shipmate supports local, kubernetes, argocd and "
               "pipeline (did you mean 'argocd'?)");
}

}  // namespace
}  // namespace shipmate::bot
