// Runbook files through the configuration loader: the shipped ones load, and each kind of
// mistake is reported at its file:line:col with a suggestion.
#include <gtest/gtest.h>

#include <filesystem>

#include "bot/config.h"
#include "tests/support/test_support.h"

namespace shipmate::bot {
namespace {

using shipmate::testing::TempDir;
using shipmate::testing::write_file;

const char* kConfig = R"(environments:
  - name: staging
  - name: production
    production: true
users:
  - {id: alice, roles: [developer, sre]}
secrets:
  api: {env: SHIPMATE_RUNBOOK_TEST_SECRET}
services:
  - name: hello
    target: {kind: local, releases: rel, start: [python3, server.py], ports: {staging: 8081, production: 8082}}
runbooks:
  directory: runbooks
)";

class RunbookConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir.file("rel/v1"));
    std::filesystem::create_directories(dir.file("runbooks"));
  }
  // Loads the configuration with one runbook file; every diagnostic, one per line.
  std::string load(const std::string& runbook, ConfigLoad* out = nullptr) {
    write_file(dir.file("runbooks/mine.yaml"), runbook);
    write_file(dir.file("shipmate.yaml"), kConfig);
    ConfigLoad load = load_config(dir.file("shipmate.yaml"));
    std::string text;
    for (const auto& d : load.diagnostics) {
      std::string line = d.to_string();
      // Paths differ per run; keep the file's name.
      const auto slash = line.rfind('/', line.find(".yaml"));
      if (slash != std::string::npos)
        line = line.substr(slash + 1);
      text += line + "\n";
    }
    if (out)
      *out = std::move(load);
    return text;
  }
  TempDir dir;
};

TEST_F(RunbookConfigTest, ShippedAndConfiguredRunbooksLoad) {
  ConfigLoad loaded;
  EXPECT_EQ(load(R"(runbook: mine
description: ok
params:
  - {name: env, type: environment, required: true}
  - {name: token, type: secret, default: {secret: api}}
steps:
  - name: run
    safety: idempotent
    exec:
      argv: [echo, "{env}"]
      env: {TOKEN: "{token}"}
)",
                 &loaded),
            "");
  ASSERT_TRUE(loaded.ok());
  std::vector<std::string> names;
  for (const auto& runbook : loaded.config->runbooks)
    names.push_back(runbook.name);
  EXPECT_EQ(names, (std::vector<std::string>{"drain-hello", "flush-hello-cache", "health-report",
                                             "restart-hello", "mine"}));
  const auto& mine = loaded.config->runbooks.back();
  EXPECT_EQ(mine.hash.size(), 64u);
  EXPECT_EQ(mine.steps[0].exec.env.at("TOKEN"), "{token}");
}

TEST_F(RunbookConfigTest, MistakesAreReportedWhereTheyAreWithSuggestions) {
  EXPECT_EQ(load(R"(runbook: mine
param:
  - {name: env, type: enviroment}
steps:
  - name: run
    exec: [echo, hi]
    safty: unsafe
)"),
            "mine.yaml:2:1: error: unknown key 'param' in a runbook (did you mean 'params'?); "
            "expected one of: runbook, description, service, owners, allow, params, vars, "
            "steps, cleanup, on_failure\n"
            "mine.yaml:7:5: error: unknown key 'safty' in a step (did you mean 'safety'?); "
            "expected one of: name, safety, timeout, retries, backoff, on_failure, check, exec, "
            "http, command, confirm, wait, notify\n");
  EXPECT_EQ(load(R"(runbook: mine
params:
  - {name: env, type: enviroment}
steps: []
)"),
            "mine.yaml:3:23: error: parameter type 'enviroment' is not one of string, int, bool, "
            "enum, duration, service, environment, secret (did you mean 'environment'?)\n");
}

TEST_F(RunbookConfigTest, PlaceholdersMustNameSomethingKnown) {
  EXPECT_EQ(
      load(R"(runbook: mine
params:
  - {name: env, type: environment}
steps:
  - name: a
    notify: "{evn} {steps.later.x}"
  - name: later
    notify: hi
)"),
      "mine.yaml:6:13: error: unknown placeholder {evn} (did you mean 'env'?); parameters "
      "are written {name}, and also {vars.key}, {service.url}, {steps.step.output}, {run.id}, "
      "{run.by}\n"
      "mine.yaml:6:13: error: {steps.later.x} refers to 'later', which is not an earlier "
      "step\n");
}

TEST_F(RunbookConfigTest, SecretsMayNotReachArgvUrlsOrChat) {
  EXPECT_EQ(load(R"(runbook: mine
params:
  - {name: token, type: secret, default: {env: X}}
steps:
  - name: a
    exec: [curl, "-H", "Authorization: {token}"]
  - name: b
    http: "http://x/{token}"
  - name: c
    notify: "{token}"
)"),
            "mine.yaml:6:24: error: secret parameter {token} may not appear in an argv element; "
            "pass it through exec env:/files: or an http header or body\n"
            "mine.yaml:8:11: error: secret parameter {token} may not appear in a URL; pass it "
            "through exec env:/files: or an http header or body\n"
            "mine.yaml:10:13: error: secret parameter {token} may not appear in a chat message; "
            "pass it through exec env:/files: or an http header or body\n");
  EXPECT_EQ(load(R"(runbook: mine
params:
  - {name: token, type: secret, default: hunter2}
steps: []
)"),
            "mine.yaml:3:42: error: a secret parameter's default is a reference: {env: "
            "VARIABLE}, {file: /path} or {secret: name}; never a literal value\n");
}

TEST_F(RunbookConfigTest, ChatNeverChoosesTheProgramOrReachesAShell) {
  EXPECT_EQ(load(R"(runbook: mine
params:
  - {name: what, type: string}
steps:
  - name: a
    exec: ["{what}"]
  - name: b
    exec: [sh, -c, "echo {what}"]
  - name: c
    exec: "echo hi | wc"
)"),
            "mine.yaml:6:12: error: the program to run must be written out, not a placeholder "
            "('{what}'): chat never chooses what runs\n"
            "mine.yaml:8:20: error: a placeholder in a shell's arguments would let chat text "
            "reach a shell; pass values through env: and quote \"$VAR\" in the script\n"
            "mine.yaml:10:11: error: exec takes a list ([program, arg, ...]), not a command "
            "line: no shell ever runs, so quoting and pipes would not mean what they seem\n");
}

TEST_F(RunbookConfigTest, CommandStepsNameRealCommandsAndNeverNest) {
  EXPECT_EQ(load(R"(runbook: mine
steps:
  - {name: a, command: deplyo hello v1 to staging}
  - {name: b, command: runbook run mine}
)"),
            "mine.yaml:3:24: error: 'deplyo' is not a Shipmate command (did you mean "
            "'deploy'?)\n"
            "mine.yaml:4:24: error: a command step may not run a runbook (runs do not nest)\n");
}

TEST_F(RunbookConfigTest, EnvironmentsRolesVarsAndPoliciesAreChecked) {
  EXPECT_EQ(load(R"(runbook: mine
allow: {prodution: [sre]}
params:
  - {name: env, type: environment, default: staging}
vars:
  staging: {url: "http://a"}
on_failure: cleanup
steps:
  - name: a
    safety: checkable
    http: "{vars.url}/x"
)"),
            "mine.yaml:2:9: error: allow: names environment 'prodution', which is not "
            "configured (did you mean 'production'?)\n"
            "mine.yaml:9:5: error: step 'a' is checkable but has no check: (exec: or http: "
            "whose success means it already happened)\n"
            "mine.yaml:7:13: error: on_failure: cleanup needs a cleanup: list of steps\n");
}

TEST_F(RunbookConfigTest, ServiceUrlNeedsAServiceWithAnAddressAndAnEnvironment) {
  EXPECT_EQ(load(R"(runbook: mine
params:
  - {name: env, type: environment, default: staging}
steps:
  - {name: a, safety: idempotent, http: "{service.url}/x"}
)"),
            "mine.yaml:5:41: error: {service.url} needs the runbook's service: (whose address "
            "it is)\n");
  EXPECT_EQ(load(R"(runbook: mine
service: hello
steps:
  - {name: a, safety: idempotent, http: "{service.url}/x"}
)"),
            "mine.yaml:4:41: error: {service.url} needs a parameter of type environment to "
            "choose by\n");
}

TEST_F(RunbookConfigTest, AConfiguredRunbookReplacesAShippedOneOfTheSameName) {
  ConfigLoad loaded;
  EXPECT_EQ(load(R"(runbook: health-report
steps:
  - {name: a, notify: mine}
)",
                 &loaded),
            "mine.yaml:1:10: warning: runbook health-report replaces the one in "
            "runbooks/shipped/health-report.yaml\n");
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded.config->runbooks.size(), 4u);
}

}  // namespace
}  // namespace shipmate::bot

namespace shipmate::bot {
namespace {

TEST(ShippedRunbooks, AllLoadOnTheEmbeddedDefault) {
  ConfigLoad loaded = load_config(std::string(SHIPMATE_SOURCE_DIR) + "/examples/shipmate.yaml");
  for (const auto& d : loaded.diagnostics)
    ADD_FAILURE() << d.to_string();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded.config->runbooks.size(), 4u);
}

TEST(ShippedRunbooks, FollowTheServicesConfiguredPortsThroughServiceUrl) {
  shipmate::testing::TempDir dir;
  shipmate::testing::write_file(dir.file("shipmate.yaml"), R"(environments:
  - name: staging
  - name: production
users:
  - {id: alice, roles: [sre]}
services:
  - name: hello
    target: {kind: local, releases: rel, start: [python3, server.py], ports: {staging: 18181, production: 18182}}
)");
  std::filesystem::create_directories(dir.file("rel"));
  ConfigLoad loaded = load_config(dir.file("shipmate.yaml"));
  for (const auto& d : loaded.diagnostics)
    ADD_FAILURE() << d.to_string();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded.config->runbooks.size(), 4u);
  for (const auto& definition : loaded.config->runbooks) {
    EXPECT_EQ(definition.service_urls,
              (std::map<std::string, std::string>{{"staging", "http://127.0.0.1:18181"},
                                                  {"production", "http://127.0.0.1:18182"}}))
        << definition.name;
  }
  const auto& restart = loaded.config->runbooks.front();
  runbooks::BoundParams params;
  params.values["env"] = "production";
  const std::string plan = runbooks::render_plan(restart, &params);
  EXPECT_NE(plan.find("http://127.0.0.1:18182/"), std::string::npos) << plan;
}

TEST(ShippedRunbooks, AConfigurationTheyDoNotFitLoadsWithoutThemAndWithoutNoise) {
  shipmate::testing::TempDir dir;
  shipmate::testing::write_file(dir.file("shipmate.yaml"), R"(environments:
  - name: dev
users:
  - {id: alice, roles: [sre]}
services:
  - name: api
    target: {kind: local, releases: rel, start: [python3, server.py], ports: {dev: 9001}}
)");
  std::filesystem::create_directories(dir.file("rel"));
  ConfigLoad loaded = load_config(dir.file("shipmate.yaml"));
  for (const auto& d : loaded.diagnostics)
    ADD_FAILURE() << d.to_string();
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded.config->runbooks.empty());
}

}  // namespace
}  // namespace shipmate::bot
