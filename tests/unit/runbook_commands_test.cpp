// runbook list / show / run --dry-run through the real Router, with the shipped runbooks.
#include <gtest/gtest.h>

#include "bot/runbook_config.h"
#include "tests/support/command_harness.h"

namespace shipmate::commands {
namespace {

using shipmate::testing::CommandHarness;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class RunbookCommandsTest : public ::testing::Test {
 protected:
  RunbookCommandsTest() {
    bot::Config config;
    config.catalog = harness.catalog;
    // The embedded default's hello: a local target on 8081 and 8082 ({service.url}).
    for (auto& service : config.catalog.services) {
      if (service.name != "hello")
        continue;
      service.target_kind = "local";
      service.local.environments["staging"].port = 8081;
      service.local.environments["production"].port = 8082;
    }
    std::vector<bot::Diagnostic> diagnostics;
    bot::load_runbooks(config, diagnostics);
    for (const auto& d : diagnostics)
      ADD_FAILURE() << d.to_string();
    library.emplace(bot::make_runbook_library(config));
    harness.services->runbooks = &*library;
  }
  CommandHarness harness;
  std::optional<RunbookLibrary> library;
};

TEST_F(RunbookCommandsTest, ListsShowsAndPlans) {
  const std::string list = harness.run("bob", "runbook list");
  EXPECT_TRUE(has(list, "restart-hello      Restart hello in an environment")) << list;
  EXPECT_EQ(harness.run("bob", "runbook"), list);  // the group's default

  const std::string show = harness.run("bob", "runbook show restart-hello");
  EXPECT_TRUE(has(show, "who may run it: production: sre; staging: developer, sre")) << show;
  EXPECT_TRUE(has(show, "env (environment, required): where to restart it")) << show;
  EXPECT_TRUE(has(show, "source: runbooks/shipped/restart-hello.yaml, hash ")) << show;

  const std::string plan = harness.run("bob", "runbook run restart-hello env=staging --dry-run");
  EXPECT_TRUE(has(plan, "Dry run of runbook restart-hello with env=staging; nothing was run:"))
      << plan;
  EXPECT_TRUE(has(plan, "1. current [idempotent] GET http://127.0.0.1:8081/version")) << plan;
  EXPECT_TRUE(has(plan, "deploy hello {steps.current.version} to staging --force")) << plan;
}

TEST_F(RunbookCommandsTest, BadNamesAndValuesAreExplained) {
  EXPECT_EQ(harness.run("bob", "runbook show restrat-hello"),
            "No runbook 'restrat-hello' (did you mean 'restart-hello'?); 'runbook list' shows "
            "them all\n");
  EXPECT_EQ(harness.run("bob", "runbook run restart-hello env=prod --dry-run"),
            "Runbook restart-hello refused: parameter 'env': 'prod' is not an environment "
            "(environments: staging, production); it accepts a configured environment\n");
  EXPECT_EQ(harness.run("bob", "runbook run restart-hello --dry-run"),
            "Runbook restart-hello refused: runbook restart-hello needs env=... (a configured "
            "environment)\n");
}

TEST_F(RunbookCommandsTest, PermissionsPerEnvironmentAreCheckedAndAudited) {
  // The environment's permission, checked by the router from env=...
  EXPECT_EQ(harness.run("bob", "runbook run flush-hello-cache env=production --dry-run"),
            "Runbook run refused: bob may not run runbooks in production: production allows "
            "nobody but admins until the configuration lists roles for it\n");
  // An unknown identity may only read.
  EXPECT_TRUE(has(harness.run("mallory", "runbook run health-report --dry-run"),
                  "mallory is not a configured user"));
  // Admins may.
  EXPECT_TRUE(has(harness.run("carol", "runbook run flush-hello-cache env=production --dry-run"),
                  "Dry run of runbook flush-hello-cache"));
  const auto records = harness.audit.tail(10);
  bool refused = false;
  for (const auto& record : records)
    refused =
        refused || (record.entry.action == "runbook.run.refused" && record.entry.actor == "bob" &&
                    record.entry.target == "flush-hello-cache@production");
  EXPECT_TRUE(refused);
}

}  // namespace
}  // namespace shipmate::commands
