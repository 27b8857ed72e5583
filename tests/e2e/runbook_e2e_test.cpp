// End-to-end: runbooks through the real `shipmate` binary on a terminal session, against the
// sample service's real releases (examples/hello) on free ports: the four shipped runbooks,
// --dry-run and its permission check, confirmation typed and by button, resume and abort.
//
// No test waits a fixed time: each waits for the line or the database row that shows what it
// expects, with a generous deadline.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <thread>

#include "tests/e2e/runbook_e2e_support.h"

namespace shipmate::testing {
namespace {

using namespace std::chrono_literals;

class RunbookSession : public RunbookE2e {};

TEST_F(RunbookSession, ShippedRunbooksRunAgainstTheSampleService) {
  auto chat = start_chat();
  say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");

  // A dry run resolves the parameters against the configured ports and runs nothing.
  std::string out =
      say(*chat, "runbook run restart-hello env=staging --dry-run", "on failure: stop");
  EXPECT_TRUE(has(out, "Dry run of runbook restart-hello with env=staging; nothing was run:"))
      << out;
  EXPECT_TRUE(has(out, "GET " + url("staging") + "/version")) << out;
  EXPECT_EQ(count("SELECT COUNT(*) FROM runbook_runs"), 0);

  out = say(*chat, "runbook run health-report", "Runbook health-report #1 succeeded");
  EXPECT_TRUE(has(out, "all 5 steps succeeded")) << out;
  EXPECT_TRUE(has(out, "hello in staging: health answered 200, serving v1; host: ")) << out;

  out = say(*chat, "runbook run flush-hello-cache env=staging",
            "Runbook flush-hello-cache #2 succeeded");
  EXPECT_TRUE(has(out, "hello's cache in staging flushed (")) << out;

  out = say(*chat, "runbook run restart-hello env=staging", "Runbook restart-hello #3 succeeded");
  EXPECT_TRUE(has(out, "hello v1 restarted in staging")) << out;
  // The restart was a real redeploy of the version it served, through the deploy flow.
  EXPECT_EQ(query(db(), "SELECT version, state FROM deploys ORDER BY id"),
            (std::vector<std::string>{"v1|succeeded", "v1|succeeded"}));
  EXPECT_EQ(body_at(staging_port), "hello from v1\n");

  EXPECT_EQ(query(db(), "SELECT id, runbook, status FROM runbook_runs ORDER BY id"),
            (std::vector<std::string>{"1|health-report|succeeded", "2|flush-hello-cache|succeeded",
                                      "3|restart-hello|succeeded"}));
  // Every step start and end is audited with its service and environment.
  EXPECT_EQ(
      count("SELECT COUNT(*) FROM audit_log WHERE action = 'runbook.step.started' AND "
            "target = 'hello@staging' AND details LIKE '%service=hello environment=staging%'"),
      5 + 2 + 4);
  EXPECT_EQ(count("SELECT COUNT(*) FROM audit_log WHERE action = 'runbook.step' AND target = "
                  "'hello@staging'"),
            5 + 2 + 4);
  finish(*chat);
  EXPECT_TRUE(audit_intact());
}

TEST_F(RunbookSession, DryRunNeedsTheRunPermissionAndTheRefusalIsAudited) {
  auto bob = start_chat("bob");
  std::string out =
      say(*bob, "runbook run restart-hello env=production --dry-run", "Runbook run refused");
  EXPECT_TRUE(has(out, "bob may not run runbooks in production")) << out;
  EXPECT_FALSE(has(out, "Dry run")) << out;
  out = say(*bob, "runbook run restart-hello env=staging --dry-run", "nothing was run");
  EXPECT_TRUE(has(out, "GET " + url("staging") + "/version")) << out;
  finish(*bob);
  EXPECT_EQ(query(db(), "SELECT actor, target FROM audit_log WHERE action = 'runbook.run.refused'"),
            std::vector<std::string>{"bob|restart-hello@production"});
  EXPECT_EQ(count("SELECT COUNT(*) FROM runbook_runs"), 0);
}

TEST_F(RunbookSession, DrainHelloWaitsForATypedConfirmationThenRestores) {
  auto chat = start_chat();
  say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");
  say(*chat, "deploy hello v2 to staging", "Deploy #2 succeeded");
  std::string out =
      say(*chat, "runbook run drain-hello env=staging", "[Confirm] type: runbook confirm 1");
  EXPECT_TRUE(has(out, "hello is drained in staging (was v2). Restore it?")) << out;
  // Drained: rolled back to v1 and locked while it waits.
  EXPECT_EQ(body_at(staging_port), "hello from v1\n");
  say(*chat, "deploy hello v2 to staging", "is locked by alice");

  out = say(*chat, "runbook status 1", "Runbook drain-hello #1: running");
  EXPECT_TRUE(has(out, "lock attempt 1: succeeded")) << out;
  out = say(*chat, "runbook confirm 1", "Runbook drain-hello #1 succeeded");
  EXPECT_TRUE(has(out, "confirmed by Alice")) << out;
  EXPECT_EQ(body_at(staging_port), "hello from v2\n");
  say(*chat, "locks", "Nothing is locked.");
  finish(*chat);
  EXPECT_EQ(query(db(), "SELECT status FROM runbook_runs"), std::vector<std::string>{"succeeded"});
  EXPECT_TRUE(audit_intact());
}

TEST_F(RunbookSession, AbortingAWaitingDrainRunsItsCleanupAndReleasesTheLock) {
  auto chat = start_chat();
  say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");
  say(*chat, "deploy hello v2 to staging", "Deploy #2 succeeded");
  say(*chat, "runbook run drain-hello env=staging", "[Confirm] type: runbook confirm 1");
  std::string out = say(*chat, "runbook abort 1", "Runbook drain-hello #1 aborted");
  EXPECT_TRUE(has(out, "cleanup ran")) << out;
  say(*chat, "locks", "Nothing is locked.");
  say(*chat, "runbook confirm 1", "Runbook run #1 (drain-hello) has already aborted");
  finish(*chat);
  EXPECT_EQ(query(db(), "SELECT name, status FROM runbook_steps WHERE phase = 'cleanup'"),
            std::vector<std::string>{"release-lock|succeeded"});
  EXPECT_TRUE(audit_intact());
}

TEST_F(RunbookSession, StepStartsAndEndsLandOnTheTimelineOfAnOpenIncidentForTheService) {
  write_runbook("poke-hello", R"(runbook: poke-hello
service: hello
params:
  - {name: env, type: environment, default: staging}
steps:
  - {name: poke, safety: idempotent, exec: ["true"]}
  - {name: tell, notify: "poked hello in {env}"}
)");
  // No service: its records name the runbook, and stay off an incident about hello.
  write_runbook("poke-nothing", R"(runbook: poke-nothing
steps:
  - {name: elsewhere, notify: "nothing here"}
)");
  auto chat = start_chat();
  say(*chat, "incident declare \"checkout errors\" sev2 hello", "INC-1");
  say(*chat, "runbook run poke-hello env=staging", "Runbook poke-hello #1 succeeded");
  say(*chat, "runbook run poke-nothing", "Runbook poke-nothing #2 succeeded");
  std::string out = say(*chat, "incident timeline", "tell (notify, attempt 1)");
  finish(*chat);
  // Each step's start and its end, in order, as runbook events about hello in staging.
  const auto rows = query(db(),
                          "SELECT kind, text FROM incident_timeline WHERE incident_id = 1 AND "
                          "kind = 'runbook' ORDER BY id");
  std::vector<std::string> steps;
  for (const auto& row : rows) {
    EXPECT_TRUE(has(row, "runbook|hello@staging: runbook=poke-hello run=1")) << row;
    for (const char* needle :
         {"poke (exec, attempt 1)", "poke (exec, attempt 1): true exited with 0",
          "tell (notify, attempt 1)", "tell (notify, attempt 1): posted in the run's thread"}) {
      if (row.size() >= std::string(needle).size() &&
          row.compare(row.size() - std::string(needle).size(), std::string::npos, needle) == 0) {
        steps.push_back(needle);
        break;
      }
    }
  }
  EXPECT_EQ(steps, (std::vector<std::string>{
                       "poke (exec, attempt 1)", "poke (exec, attempt 1): true exited with 0",
                       "tell (notify, attempt 1)",
                       "tell (notify, attempt 1): posted in the run's thread"}))
      << out;
  EXPECT_EQ(count("SELECT COUNT(*) FROM incident_timeline WHERE text LIKE '%poke-nothing%'"), 0);
  EXPECT_TRUE(has(out, "poke (exec, attempt 1)")) << out;
  EXPECT_TRUE(audit_intact());
}

}  // namespace
}  // namespace shipmate::testing
