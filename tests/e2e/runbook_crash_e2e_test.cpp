// End-to-end: SIGKILL at many points of a four-step run through the real binary, each time with a
// step in flight (the journal shows it started and not finished), then a restart: an idempotent
// step runs again, a checkable one is checked, an unsafe one waits for `runbook resume|abort`,
// resume is refused when the runbook's file changed, and the audit chain verifies every time.
//
// The kill lands at an exact point with no timing: a trigger that never finishes holds Shipmate
// inside the write that would record the step's end (install_spin_trigger), after the step's
// effect happened; the test sees the effect (a line in a marks file, a chat line), kills, and
// checks the journal before restarting. A probe of a wait step (HTTP or Prometheus) is held by
// the fake answering it instead.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "tests/e2e/runbook_e2e_support.h"
#include "tests/support/fake_http_server.h"
#include "tests/support/fake_prometheus.h"

namespace shipmate::testing {
namespace {

using namespace std::chrono_literals;

class RunbookCrash : public RunbookE2e {
 protected:
  void SetUp() override {
    RunbookE2e::SetUp();
    write_crashy();
  }

  // prepare (idempotent) -> apply (checkable: its check looks for the file it makes; it waits
  // for a "go" file first, so a test can kill it mid-effect) -> migrate (unsafe) -> tell (notify).
  void write_crashy(const std::string& comment = "") {
    const std::string marks = dir.file("marks");
    write_runbook("crashy", R"(runbook: crashy
description: four steps of every kind of safety)" +
                                comment + R"(
service: hello
params:
  - {name: env, type: environment, default: staging}
steps:
  - name: prepare
    safety: idempotent
    exec:
      argv: [sh, -c, 'echo prepare >> "$MARKS"']
      env: {MARKS: ")" + marks + R"("}
  - name: apply
    safety: checkable
    exec:
      argv: [sh, -c, 'echo apply >> "$MARKS"; while [ ! -f "$GO" ]; do sleep 0.02; done; touch "$DONE"']
      env: {MARKS: ")" + marks + R"(", GO: ")" +
                                dir.file("go") + R"(", DONE: ")" + dir.file("applied") + R"("}
    check: {exec: [test, -f, ")" +
                                dir.file("applied") + R"("]}
  - name: migrate
    safety: unsafe
    exec:
      argv: [sh, -c, 'echo migrate >> "$MARKS"']
      env: {MARKS: ")" + marks + R"("}
  - name: tell
    notify: "crashy run {run.id} is done"
)");
  }

  std::string marks() const {
    return std::filesystem::exists(dir.file("marks")) ? read_file(dir.file("marks")) : "";
  }

  // Starts run #1 and kills Shipmate once `effect_seen` holds, holding it (when `hold_step` is
  // set) inside the write that would record that step's end. Then checks that `in_flight` was
  // journaled as started and not finished.
  void run_and_kill(const std::string& hold_step, const std::function<bool(Subprocess&)>& seen,
                    const std::string& in_flight,
                    const std::string& command = "runbook run crashy") {
    {
      // The database exists before the trigger goes in.
      auto chat = start_chat();
      say(*chat, "runbook list", "crashy");
      finish(*chat);
    }
    if (!hold_step.empty()) {
      install_spin_trigger(db(), "hold_step_end",
                           "BEFORE UPDATE ON runbook_steps WHEN NEW.name = '" + hold_step +
                               "' AND NEW.status <> 'started'");
    }
    auto chat = start_chat();
    chat->write(command + "\n");
    ASSERT_TRUE(eventually([&] { return seen(*chat); })) << chat->output() << "\nmarks:\n"
                                                         << marks();
    chat->send_signal(SIGKILL);
    EXPECT_EQ(chat->wait(), 128 + SIGKILL);
    if (!hold_step.empty())
      query(db(), "DROP TRIGGER hold_step_end");
    // The step really was in flight: started, never finished, and the run is unfinished.
    EXPECT_EQ(query(db(), "SELECT name, status FROM runbook_steps ORDER BY id DESC LIMIT 1"),
              std::vector<std::string>{in_flight + "|started"});
    EXPECT_EQ(query(db(), "SELECT status, finished_at IS NULL FROM runbook_runs WHERE id = 1"),
              std::vector<std::string>{"running|1"});
  }

  bool marked(const std::string& text) const { return marks() == text; }
  std::vector<std::string> step_rows() const {
    return query(db(), "SELECT name, attempt, status FROM runbook_steps ORDER BY id");
  }
};

TEST_F(RunbookCrash, AnIdempotentStepCutOffAfterItsEffectRunsAgain) {
  write_file(dir.file("go"), "");
  run_and_kill(
      "prepare", [&](Subprocess&) { return marked("prepare\n"); }, "prepare");
  auto chat = start_chat();
  ASSERT_TRUE(chat->wait_for_output("Runbook crashy #1 succeeded", 30s)) << chat->output();
  finish(*chat);
  EXPECT_EQ(marks(), "prepare\nprepare\napply\nmigrate\n");
  EXPECT_EQ(step_rows(), (std::vector<std::string>{"prepare|1|interrupted", "prepare|2|succeeded",
                                                   "apply|1|succeeded", "migrate|1|succeeded",
                                                   "tell|1|succeeded"}));
  EXPECT_TRUE(audit_intact());
}

TEST_F(RunbookCrash, ACheckableStepCutOffAfterItsEffectIsCheckedAndCountsAsDone) {
  write_file(dir.file("go"), "");
  run_and_kill(
      "apply", [&](Subprocess&) { return std::filesystem::exists(dir.file("applied")); }, "apply");
  auto chat = start_chat();
  ASSERT_TRUE(chat->wait_for_output("Runbook crashy #1 succeeded", 30s)) << chat->output();
  EXPECT_TRUE(has(chat->output(), "apply: already happened")) << chat->output();
  finish(*chat);
  EXPECT_EQ(marks(), "prepare\napply\nmigrate\n");  // apply's effect happened once
  EXPECT_EQ(step_rows(), (std::vector<std::string>{"prepare|1|succeeded", "apply|1|interrupted",
                                                   "migrate|1|succeeded", "tell|1|succeeded"}));
  EXPECT_TRUE(audit_intact());
}

TEST_F(RunbookCrash, ACheckableStepKilledMidEffectIsCheckedAndRunsAgain) {
  // No "go" file: apply starts, marks, and waits; the kill lands while its process runs.
  run_and_kill(
      "", [&](Subprocess&) { return marked("prepare\napply\n"); }, "apply");
  write_file(dir.file("go"), "");
  auto chat = start_chat();
  ASSERT_TRUE(chat->wait_for_output("Runbook crashy #1 succeeded", 30s)) << chat->output();
  EXPECT_TRUE(has(chat->output(), "apply: did not happen")) << chat->output();
  finish(*chat);
  EXPECT_EQ(marks(), "prepare\napply\napply\nmigrate\n");
  EXPECT_EQ(step_rows(), (std::vector<std::string>{"prepare|1|succeeded", "apply|1|interrupted",
                                                   "apply|2|succeeded", "migrate|1|succeeded",
                                                   "tell|1|succeeded"}));
  EXPECT_TRUE(audit_intact());
}

TEST_F(RunbookCrash, AnUnsafeStepCutOffWaitsForResumeWhichRunsItAgain) {
  write_file(dir.file("go"), "");
  run_and_kill(
      "migrate", [&](Subprocess&) { return marked("prepare\napply\nmigrate\n"); }, "migrate");
  auto chat = start_chat();
  ASSERT_TRUE(chat->wait_for_output("[Run it again] type: runbook resume 1", 30s))
      << chat->output();
  EXPECT_EQ(query(db(), "SELECT status FROM runbook_runs"), std::vector<std::string>{"waiting"});
  EXPECT_EQ(marks(), "prepare\napply\nmigrate\n");  // nothing ran again by itself
  say(*chat, "runbook resume 1", "Runbook crashy #1 succeeded");
  finish(*chat);
  EXPECT_EQ(marks(), "prepare\napply\nmigrate\nmigrate\n");
  EXPECT_EQ(count("SELECT COUNT(*) FROM audit_log WHERE action = 'runbook.resumed' AND actor = "
                  "'alice'"),
            1);
  EXPECT_TRUE(audit_intact());
}

TEST_F(RunbookCrash, AnUnsafeStepCutOffCanBeCountedDoneByAnotherPermittedUser) {
  write_file(dir.file("go"), "");
  run_and_kill(
      "migrate", [&](Subprocess&) { return marked("prepare\napply\nmigrate\n"); }, "migrate");
  {
    auto bob = start_chat("bob");
    ASSERT_TRUE(bob->wait_for_output("[Run it again] type: runbook resume 1", 30s))
        << bob->output();
    say(*bob, "runbook resume 1 --skip", "the step counts as done");
    ASSERT_TRUE(bob->wait_for_output("Runbook crashy #1 succeeded", 30s)) << bob->output();
    finish(*bob);
  }
  EXPECT_EQ(marks(), "prepare\napply\nmigrate\n");
  EXPECT_TRUE(audit_intact());
}

TEST_F(RunbookCrash, ANotifyStepCutOffIsPostedAgain) {
  write_file(dir.file("go"), "");
  run_and_kill(
      "tell", [&](Subprocess& chat) { return chat.wait_for_output("crashy run 1 is done", 100ms); },
      "tell");
  auto chat = start_chat();
  ASSERT_TRUE(chat->wait_for_output("Runbook crashy #1 succeeded", 30s)) << chat->output();
  EXPECT_TRUE(has(chat->output(), "crashy run 1 is done")) << chat->output();
  finish(*chat);
  EXPECT_EQ(marks(), "prepare\napply\nmigrate\n");
  EXPECT_TRUE(audit_intact());
}

TEST_F(RunbookCrash, ResumeIsRefusedWhenTheRunbookChangedAndAbortEndsTheRun) {
  write_file(dir.file("go"), "");
  run_and_kill(
      "migrate", [&](Subprocess&) { return marked("prepare\napply\nmigrate\n"); }, "migrate");
  write_crashy("\n# edited after the run began");
  auto chat = start_chat();
  ASSERT_TRUE(
      chat->wait_for_output("cannot resume: runbook crashy changed since this run began", 30s))
      << chat->output();
  std::string out = say(*chat, "runbook resume 1", "Resume refused");
  EXPECT_TRUE(has(out, "runbook crashy changed since run #1 began")) << out;
  say(*chat, "runbook abort 1", "Runbook crashy #1 aborted");
  finish(*chat);
  EXPECT_EQ(marks(), "prepare\napply\nmigrate\n");
  EXPECT_EQ(query(db(), "SELECT status, finished_at IS NOT NULL FROM runbook_runs"),
            std::vector<std::string>{"aborted|1"});
  EXPECT_TRUE(audit_intact());
}

// The other step kinds, each killed while it is in flight (the journal says started, not ended).

TEST_F(RunbookCrash, AConfirmationCutOffIsAskedAgainAfterTheRestart) {
  write_runbook("ask", R"(runbook: ask
service: hello
params:
  - {name: env, type: environment, default: staging}
steps:
  - {name: sure, confirm: "go on in {env}?"}
  - {name: tell, notify: "ask run {run.id} confirmed by {steps.sure.by}"}
)");
  run_and_kill(
      "",
      [&](Subprocess& chat) {
        return chat.wait_for_output("[Confirm] type: runbook confirm 1", 100ms);
      },
      "sure", "runbook run ask");
  auto chat = start_chat();
  // Confirmations can always be asked again: the question comes back by itself.
  ASSERT_TRUE(chat->wait_for_output("[Confirm] type: runbook confirm 1", 30s)) << chat->output();
  say(*chat, "runbook confirm 1", "Runbook ask #1 succeeded");
  finish(*chat);
  EXPECT_EQ(step_rows(), (std::vector<std::string>{"sure|1|interrupted", "sure|2|succeeded",
                                                   "tell|1|succeeded"}));
  EXPECT_TRUE(audit_intact());
}

TEST_F(RunbookCrash, AWaitCutOffProbesAgainAfterTheRestart) {
  // The second probe is held until the test lets go, so the kill lands while it is in flight.
  std::atomic<bool> hold{true};
  std::atomic<bool> ready{false};
  std::atomic<int> probes{0};
  FakeHttpServer probe([&](const FakeRequest&) {
    if (++probes == 2) {
      while (hold)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return ready ? FakeResponse::json(200, "{}") : FakeResponse::json(503, "{}");
  });
  write_runbook("settle", R"(runbook: settle
service: hello
params:
  - {name: env, type: environment, default: staging}
steps:
  - name: up
    timeout: 5m
    wait: {http: ")" + probe.base_url() +
                              R"(/ready", interval: 100ms}
  - {name: tell, notify: "settled"}
)");
  run_and_kill(
      "", [&](Subprocess&) { return probe.requests().size() == 2; }, "up", "runbook run settle");
  hold = false;
  auto chat = start_chat();
  // Waits can always be repeated: it probes again by itself.
  ASSERT_TRUE(eventually([&] { return probe.requests().size() >= 3; })) << chat->output();
  ready = true;
  ASSERT_TRUE(chat->wait_for_output("Runbook settle #1 succeeded", 30s)) << chat->output();
  finish(*chat);
  const auto rows = step_rows();
  ASSERT_GE(rows.size(), 4u);
  EXPECT_EQ(rows[0].substr(0, 3), "up|");
  EXPECT_EQ(rows[0].substr(rows[0].rfind('|')), "|failed");  // the first probe: not yet
  EXPECT_EQ(rows[1].substr(rows[1].rfind('|')), "|interrupted");
  EXPECT_EQ(rows[rows.size() - 2].substr(rows[rows.size() - 2].rfind('|')), "|succeeded");
  EXPECT_EQ(rows.back(), "tell|1|succeeded");
  EXPECT_TRUE(audit_intact());
}

TEST_F(RunbookCrash, APrometheusWaitCutOffMidQueryProbesAgainAfterTheRestart) {
  // The first query's answer is held back far longer than the test runs, so the kill lands while
  // that probe is in flight; the restarted Shipmate gets answers at once.
  FakePrometheus prometheus;
  const std::string query_text = R"(sum(rate(http_errors_total{env="staging"}[1m])))";
  prometheus.set_vector(query_text, {{{{"env", "staging"}}, "0.4"}});
  prometheus.delay_next(1, 10min);
  write_config("metrics: {prometheus: \"" + prometheus.url() + "\"}\n");
  write_runbook("calm", R"(runbook: calm
service: hello
params:
  - {name: env, type: environment, default: staging}
steps:
  - name: errors-low
    timeout: 5m
    wait: {prometheus: 'sum(rate(http_errors_total{{env="{env}"}}[1m]))', max: 0.05, interval: 100ms}
  - {name: tell, notify: "errors are down in {env}"}
)");
  run_and_kill(
      "", [&](Subprocess&) { return prometheus.queries().size() == 1; }, "errors-low",
      "runbook run calm");
  auto chat = start_chat();
  // Waits can always be repeated: it queries again by itself, and keeps waiting while the
  // answer is out of bounds.
  ASSERT_TRUE(eventually([&] { return prometheus.queries().size() >= 3; })) << chat->output();
  for (const auto& sent : prometheus.queries())
    EXPECT_EQ(sent, query_text);
  EXPECT_EQ(query(db(), "SELECT status FROM runbook_runs WHERE id = 1"),
            std::vector<std::string>{"running"});
  prometheus.set_vector(query_text, {{{{"env", "staging"}}, "0.01"}});
  ASSERT_TRUE(chat->wait_for_output("Runbook calm #1 succeeded", 30s)) << chat->output();
  EXPECT_TRUE(has(chat->output(), "errors are down in staging")) << chat->output();
  finish(*chat);
  const auto rows = step_rows();
  ASSERT_GE(rows.size(), 4u);
  EXPECT_EQ(rows[0], "errors-low|1|interrupted");  // the probe the kill cut off
  for (std::size_t i = 1; i + 2 < rows.size(); ++i)
    EXPECT_EQ(rows[i].substr(rows[i].rfind('|')), "|failed") << rows[i];  // not yet
  EXPECT_EQ(rows[rows.size() - 2].substr(0, 11), "errors-low|");
  EXPECT_EQ(rows[rows.size() - 2].substr(rows[rows.size() - 2].rfind('|')), "|succeeded");
  EXPECT_EQ(rows.back(), "tell|1|succeeded");
  EXPECT_TRUE(audit_intact());
}

TEST_F(RunbookCrash, AnUnsafeHttpCallCutOffWaitsForAnOperator) {
  // The service holds the first call until the test lets go, so the kill lands mid-request.
  std::atomic<bool> hold{true};
  FakeHttpServer service([&](const FakeRequest&) {
    while (hold)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return FakeResponse::json(200, R"({"flushed":true})");
  });
  write_runbook("flush", R"(runbook: flush
service: hello
params:
  - {name: env, type: environment, default: staging}
steps:
  - name: call
    safety: unsafe
    http: {method: POST, url: ")" +
                             service.base_url() + R"(/flush"}
  - {name: tell, notify: "flushed"}
)");
  run_and_kill(
      "", [&](Subprocess&) { return service.requests().size() == 1; }, "call", "runbook run flush");
  hold = false;
  auto chat = start_chat();
  ASSERT_TRUE(chat->wait_for_output("[Run it again] type: runbook resume 1", 30s))
      << chat->output();
  EXPECT_EQ(query(db(), "SELECT status FROM runbook_runs"), std::vector<std::string>{"waiting"});
  EXPECT_EQ(service.requests().size(), 1u);  // nothing was sent again by itself
  say(*chat, "runbook resume 1", "Runbook flush #1 succeeded");
  finish(*chat);
  EXPECT_EQ(service.requests_to("POST", "/flush").size(), 2u);
  EXPECT_EQ(step_rows(), (std::vector<std::string>{"call|1|interrupted", "call|2|succeeded",
                                                   "tell|1|succeeded"}));
  EXPECT_TRUE(audit_intact());
}

TEST_F(RunbookCrash, ACommandStepCutOffAfterItsEffectWaitsAndCanBeCountedDone) {
  write_runbook("hold", R"(runbook: hold
service: hello
params:
  - {name: env, type: environment, default: staging}
steps:
  - {name: take-lock, command: "lock hello@{env} maintenance by runbook"}
  - {name: tell, notify: "locked"}
)");
  // The lock is taken (the command's effect), and Shipmate is held in the write of the step's end.
  run_and_kill(
      "take-lock",
      [&](Subprocess&) {
        return count(
                   "SELECT COUNT(*) FROM audit_log WHERE action = 'lock.acquired' AND actor = "
                   "'alice'") == 1;
      },
      "take-lock", "runbook run hold");
  auto chat = start_chat();
  ASSERT_TRUE(chat->wait_for_output("[Run it again] type: runbook resume 1", 30s))
      << chat->output();
  say(*chat, "locks", "hello@staging");
  say(*chat, "runbook resume 1 --skip", "Runbook hold #1 succeeded");
  finish(*chat);
  EXPECT_EQ(step_rows(), (std::vector<std::string>{"take-lock|1|interrupted", "tell|1|succeeded"}));
  EXPECT_EQ(
      count("SELECT COUNT(*) FROM audit_log WHERE action = 'lock.acquired' AND actor = 'alice'"),
      1);
  EXPECT_TRUE(audit_intact());
}

}  // namespace
}  // namespace shipmate::testing
