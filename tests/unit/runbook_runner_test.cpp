// The runbook executor through the real Router: exec, command, notify and confirm steps, the
// journal before and after each effect, the audit trail, secrets and injection attempts, abort,
// and reconciliation after a restart (re-run, operator decision, changed definition).
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <filesystem>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "bot/runbook_config.h"
#include "commands/group_commit.h"
#include "commands/runbook_runner.h"
#include "common/redact.h"
#include "storage/database.h"
#include "storage/deploy_ownership.h"
#include "storage/lease.h"
#include "storage/runbook_store.h"
#include "tests/support/command_harness.h"
#include "tests/support/test_support.h"

namespace shipmate::commands {
namespace {

using shipmate::testing::CommandHarness;
using shipmate::testing::TempDir;

constexpr const char* kSecret = "s3cr3t-planted-7f2a";

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class RunbookRunnerTest : public ::testing::Test {
 protected:
  RunbookRunnerTest() { ::setenv("SHIPMATE_RB_TEST_SECRET", kSecret, 1); }
  ~RunbookRunnerTest() override {
    ::unsetenv("SHIPMATE_RB_TEST_SECRET");
    clear_registered_secrets();
  }

  // Loads `yaml` as the only runbook and wires a runner.
  void load(const std::string& yaml) {
    bot::Config config;
    config.path = dir.file("shipmate.yaml");
    config.catalog = harness.catalog;
    std::vector<bot::Diagnostic> diagnostics;
    shipmate::testing::write_file(dir.file("rb/mine.yaml"), yaml);
    config.runbooks_dir = dir.file("rb");
    bot::load_runbooks(config, diagnostics);
    for (const auto& d : diagnostics) {
      if (d.severity == bot::Diagnostic::Severity::error)
        ADD_FAILURE() << d.to_string();
    }
    library.emplace(bot::make_runbook_library(config));
    harness.services->runbooks = &*library;
    make_runner();
  }

  void make_runner() {
    runner.reset();
    RunbookPorts ports;
    ports.run_command = [this](std::string user, std::string text,
                               Conversation& where) -> boost::asio::awaitable<void> {
      bot::ChatEvent event{"runbook", "", std::move(user), "", "", std::move(text)};
      co_await harness.router->dispatch(std::move(event), where);
    };
    ports.work_dir = dir.file("work");
    if (output_cap != 0)
      ports.output_cap = output_cap;
    if (max_processes != 0)
      ports.max_processes = max_processes;
    runner.emplace(*harness.services, *library, store, std::move(ports));
    library->set_runner(&*runner);
  }

  // Everything stored anywhere: journal rows, audit records.
  std::string everything_stored() {
    std::string out;
    for (const auto& run : store.recent(100)) {
      out += run.params + run.state;
      for (const auto& step : store.steps(run.id))
        out += step.detail + step.log;
    }
    for (const auto& record : harness.audit.tail(1000))
      out += record.entry.details + record.entry.target;
    return out;
  }

  std::string all_chat(const shipmate::testing::RecordingConversation& c) {
    std::string out;
    for (const auto& line : c.log)
      out += line + "\n";
    for (const auto& m : c.updates)
      out += m.text + "\n";
    return out;
  }

  TempDir dir;
  std::size_t output_cap = 0;     // 0: the runner's default
  std::size_t max_processes = 0;  // 0: the runner's default
  CommandHarness harness;
  storage::RunbookStore store{*harness.db, harness.clock};
  std::optional<RunbookLibrary> library;
  std::optional<RunbookRunner> runner;
};

TEST_F(RunbookRunnerTest, RunsStepsJournalsAuditsAndReportsInOneStatusMessage) {
  load(R"(runbook: mine
service: hello
params:
  - {name: env, type: environment, default: staging}
steps:
  - name: hello
    safety: idempotent
    exec: [echo, "hi from {env}"]
  - name: lock
    safety: unsafe
    command: lock hello@{env} runbook run {run.id}
  - name: tell
    notify: "said {steps.hello.stdout}"
)");
  const std::string out = harness.run("alice", "runbook run mine");
  const auto& chat = harness.last;
  ASSERT_FALSE(chat.posts.empty());
  EXPECT_TRUE(has(chat.posts.front().text, "Runbook mine #1 by Alice")) << out;
  ASSERT_FALSE(chat.updates.empty());
  EXPECT_EQ(chat.updates.back().tone, Tone::success);
  EXPECT_TRUE(has(chat.updates.back().text, "Runbook mine #1 succeeded: all 3 steps succeeded"))
      << chat.updates.back().text;
  EXPECT_TRUE(has(out, "said hi from staging")) << out;
  // The command step ran as alice through the router: the lock is hers.
  auto lock = harness.locks.get("service:hello@staging");
  ASSERT_TRUE(lock.has_value());
  EXPECT_EQ(lock->holder, "alice");

  auto run = store.get(1);
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->status, "succeeded");
  EXPECT_TRUE(run->finished_at.has_value());
  const auto steps = store.steps(1);
  ASSERT_EQ(steps.size(), 3u);
  for (const auto& step : steps) {
    EXPECT_EQ(step.status, "succeeded") << step.name;
    EXPECT_TRUE(step.finished_at.has_value());
  }
  EXPECT_EQ(steps[0].log, "hi from staging\n");

  std::vector<std::string> actions;
  for (const auto& record : harness.audit.tail(50)) {
    if (record.entry.action.rfind("runbook.", 0) == 0) {
      actions.push_back(record.entry.action);
      EXPECT_EQ(record.entry.target, "hello@staging");
      EXPECT_TRUE(
          has(record.entry.details, "runbook=mine run=1 service=hello environment=staging: "))
          << record.entry.details;
    }
  }
  EXPECT_EQ(actions,
            (std::vector<std::string>{
                "runbook.started", "runbook.step.started", "runbook.step", "runbook.step.started",
                "runbook.step", "runbook.step.started", "runbook.step", "runbook.succeeded"}));
  EXPECT_TRUE(harness.audit.verify().ok);
}

TEST_F(RunbookRunnerTest, AStepThatPrintsWithoutEndIsStoppedAtTheOutputCapAndNoMoreIsWritten) {
  // The step writes 16 KiB at a time for as long as it can, and notes after each write how much
  // it has written so far. The cap is 64 KiB: what the step manages to write past it is what a
  // runbook printing gigabytes would put on the disk before it is stopped.
  const std::string progress = dir.file("progress");
  shipmate::testing::write_file(dir.file("flood.py"), R"(import os, sys
chunk = b"x" * 16384
total = 0
while True:
    try:
        total += os.write(1, chunk)
    except BrokenPipeError:
        sys.exit(3)
    # Written aside and renamed, so a stop between two writes never leaves it empty.
    with open(sys.argv[1] + ".new", "w") as f:
        f.write(str(total))
    os.replace(sys.argv[1] + ".new", sys.argv[1])
)");
  output_cap = 64 * 1024;
  load(R"(runbook: mine
params:
  - {name: env, type: environment, default: staging}
steps:
  - {name: flood, safety: idempotent, timeout: 10m, exec: [python3, ")" +
       dir.file("flood.py") + R"(", ")" + progress + R"("]}
  - {name: after, notify: "not reached"}
)");
  harness.run("alice", "runbook run mine");
  ASSERT_TRUE(harness.run_until([&] { return store.get(1)->status != "running"; }));
  EXPECT_EQ(store.get(1)->status, "failed");
  const auto steps = store.steps(1);
  ASSERT_EQ(steps.size(), 1u);  // the run stopped at the step: "after" never ran
  EXPECT_TRUE(has(steps[0].detail, "stopped: its output passed 64 KiB")) << steps[0].detail;
  // What is kept is the cap's worth and a line that says it was cut.
  EXPECT_TRUE(has(steps[0].log, "[output cut at the cap]"));
  EXPECT_LE(steps[0].log.size(), output_cap + 64);
  EXPECT_EQ(steps[0].log.substr(0, 16), std::string(16, 'x'));
  // The step could write no more than the cap plus what a pipe holds before it was stopped.
  const long long written = std::stoll(shipmate::testing::read_file(progress));
  EXPECT_GE(written, static_cast<long long>(output_cap));
  EXPECT_LE(written, static_cast<long long>(output_cap + 256 * 1024)) << written;
}

TEST_F(RunbookRunnerTest, AStepThatIgnoresTheClosedPipeIsStoppedTheMomentItsOutputPassesTheCap) {
  // The step writes past the cap, shrugs off the broken pipe and then sleeps for ten minutes
  // without another write. Only the pump's word that the cap was passed can end its wait before
  // the step's timeout of two minutes (which, without that word, fails the test in two minutes
  // with "ran past its timeout").
  const std::string pid_file = dir.file("pid");
  shipmate::testing::write_file(dir.file("stubborn.py"), R"(import os, signal, sys, time
signal.signal(signal.SIGPIPE, signal.SIG_IGN)
with open(sys.argv[1], "w") as f:
    f.write(str(os.getpid()))
try:
    os.write(1, b"y" * (128 * 1024))
except OSError:
    pass
time.sleep(600)
)");
  output_cap = 16 * 1024;
  load(R"(runbook: mine
params:
  - {name: env, type: environment, default: staging}
steps:
  - {name: stubborn, safety: idempotent, timeout: 2m, exec: [python3, ")" +
       dir.file("stubborn.py") + R"(", ")" + pid_file + R"("]}
)");
  harness.run("alice", "runbook run mine");
  ASSERT_TRUE(harness.run_until([&] { return store.get(1)->status != "running"; },
                                std::chrono::seconds(60)));
  EXPECT_EQ(store.get(1)->status, "failed");
  const auto steps = store.steps(1);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_TRUE(has(steps[0].detail, "stopped: its output passed 16 KiB")) << steps[0].detail;
  EXPECT_TRUE(has(steps[0].log, "[output cut at the cap]"));
  // The sleeper is gone: it was stopped, not left behind.
  const int pid = std::stoi(shipmate::testing::read_file(pid_file));
  EXPECT_NE(::kill(pid, 0), 0);
}

TEST_F(RunbookRunnerTest, ExecStepsPastMaxProcessesWaitTheirTurnAndAnAbortGivesItUp) {
  const std::string go = dir.file("go");
  const std::string starts = dir.file("starts");
  max_processes = 1;
  // The step notes its start, then holds until the test creates `go`.
  load(R"(runbook: mine
params:
  - {name: env, type: environment, default: staging}
steps:
  - name: hold
    safety: idempotent
    exec:
      argv: [sh, -c, 'echo start >> "$STARTS"; while [ ! -f "$GO" ]; do sleep 0.01; done']
      env: {STARTS: ")" +
       starts + R"(", GO: ")" + go + R"("}
)");
  harness.start("alice", "runbook run mine");
  harness.start("alice", "runbook run mine");
  // One process runs; the second run's step waits for its turn and starts nothing. (The shell
  // creates `starts` before echo writes to it: wait for a whole line, not for the file, which
  // failed once under ASan reading "".)
  ASSERT_TRUE(harness.run_until(
      [&] {
        return runner->processes_waiting() == 1 &&
               shipmate::testing::read_file(starts).find('\n') != std::string::npos;
      },
      std::chrono::seconds(30)));
  EXPECT_EQ(runner->processes_running(), 1u);
  EXPECT_EQ(shipmate::testing::read_file(starts), "start\n");
  // A third run waits too; aborted while it waits, it gives its turn up and never starts one.
  harness.start("alice", "runbook run mine");
  ASSERT_TRUE(harness.run_until([&] { return runner->processes_waiting() == 2; },
                                std::chrono::seconds(30)));
  harness.run("alice", "runbook abort 3");
  ASSERT_TRUE(harness.run_until([&] { return store.get(3)->status != "running"; },
                                std::chrono::seconds(30)));
  EXPECT_EQ(store.get(3)->status, "aborted");
  EXPECT_EQ(runner->processes_waiting(), 1u);
  // The first process ends; the second run gets the turn, starts, and both succeed.
  shipmate::testing::write_file(go, "");
  ASSERT_TRUE(harness.run_until(
      [&] { return store.get(1)->status == "succeeded" && store.get(2)->status == "succeeded"; },
      std::chrono::seconds(30)));
  EXPECT_EQ(shipmate::testing::read_file(starts), "start\nstart\n");
  EXPECT_EQ(runner->processes_running(), 0u);
  EXPECT_EQ(runner->processes_waiting(), 0u);
}

TEST_F(RunbookRunnerTest, ACommandStepHasTheStartersPermissionsAndPolicies) {
  load(R"(runbook: mine
params:
  - {name: env, type: environment, default: staging}
steps:
  - {name: ship, safety: idempotent, command: deploy hello v1 to production}
)");
  // bob may run the runbook in staging, but the deploy it asks for is production's: refused.
  harness.run("bob", "runbook run mine");
  EXPECT_TRUE(has(harness.last.updates.back().text, "Runbook mine #1 failed: step ship failed: "))
      << harness.last.updates.back().text;
  EXPECT_TRUE(has(harness.last.updates.back().text, "bob may not deploy in production"));
  EXPECT_TRUE(harness.deploys.history("hello", "", 10).empty());
}

TEST_F(RunbookRunnerTest, ASecretPlantedInOutputAndErrorsAppearsNowhere) {
  load(R"(runbook: mine
params:
  - {name: token, type: secret, default: {env: SHIPMATE_RB_TEST_SECRET}}
steps:
  - name: leak
    safety: idempotent
    exec:
      argv: [sh, -c, 'echo "token is $TOKEN"; cat "$TOKEN_FILE"; echo; echo "fail $TOKEN" >&2; exit 3']
      env: {TOKEN: "{token}"}
      files: {TOKEN_FILE: "{token}"}
)");
  harness.run("alice", "runbook run mine");
  const std::string chat = all_chat(harness.last);
  EXPECT_TRUE(has(chat, "token is [REDACTED]")) << chat;
  EXPECT_FALSE(has(chat, kSecret)) << chat;
  const std::string stored = everything_stored();
  EXPECT_TRUE(has(stored, "token is [REDACTED]")) << stored;
  EXPECT_FALSE(has(stored, kSecret));
  // The run's parameters hold the reference only.
  EXPECT_TRUE(has(store.get(1)->params, "token=env:SHIPMATE_RB_TEST_SECRET"));
  // The secret file is gone; the log on disk is redacted.
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir.file("work"))) {
    if (!entry.is_regular_file())
      continue;
    EXPECT_EQ(entry.path().extension(), ".log") << entry.path();
    EXPECT_FALSE(has(shipmate::testing::read_file(entry.path()), kSecret)) << entry.path();
  }
}

TEST_F(RunbookRunnerTest, InjectionAttemptsArriveAsOneLiteralArgument) {
  load(R"(runbook: mine
params:
  - {name: note, type: string}
steps:
  - name: say
    safety: idempotent
    exec: [printf, "[%s]", "{note}"]
)");
  const std::string marker = dir.file("pwned");
  const std::string attack = "$(touch " + marker + "); `touch " + marker + "` ; ../x";
  harness.run("alice", "runbook run mine note=\"" + attack + "\"");
  const auto steps = store.steps(1);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].log, "[" + attack + "]");
  EXPECT_FALSE(std::filesystem::exists(marker));
}

TEST_F(RunbookRunnerTest, AConfirmationWaitsForAnAllowedAnswer) {
  load(R"(runbook: mine
params:
  - {name: env, type: environment, default: staging}
steps:
  - {name: ok, confirm: {prompt: "go on in {env}?", roles: [sre]}}
  - {name: tell, notify: "confirmed by {steps.ok.by}"}
)");
  auto& conversation = harness.start("alice", "runbook run mine");
  ASSERT_TRUE(harness.run_until([&] { return harness.runtime.questions().is_open("runbook:1"); }));
  bool asked = false;
  for (const auto& m : conversation.threads)
    asked = asked || (m.text == "go on in staging?" && m.buttons.size() == 2 &&
                      m.buttons[0].command == "runbook confirm 1");
  EXPECT_TRUE(asked);
  EXPECT_TRUE(has(harness.run("bob", "runbook confirm 1"),
                  "Confirm refused: bob may not confirm this step; it needs: sre"));
  EXPECT_TRUE(has(harness.run("alice", "runbook confirm #1"), "confirmed by Alice"));
  ASSERT_TRUE(harness.run_until([&] { return store.get(1)->status == "succeeded"; }));
  EXPECT_TRUE(has(all_chat(conversation), "confirmed by alice"));
}

TEST_F(RunbookRunnerTest, AbortEndsAWaitingRunAndRunsItsCleanup) {
  load(R"(runbook: mine
params:
  - {name: env, type: environment, default: staging}
on_failure: cleanup
steps:
  - {name: ok, confirm: "really?"}
cleanup:
  - {name: undo, notify: "cleaning up"}
)");
  auto& conversation = harness.start("alice", "runbook run mine");
  ASSERT_TRUE(harness.run_until([&] { return harness.runtime.questions().is_open("runbook:1"); }));
  EXPECT_TRUE(has(harness.run("alice", "runbook abort 1"), "aborting"));
  ASSERT_TRUE(harness.run_until([&] { return store.get(1)->status == "aborted"; }));
  EXPECT_TRUE(has(all_chat(conversation), "cleaning up"));
  EXPECT_TRUE(has(conversation.updates.back().text,
                  "Runbook mine #1 aborted: aborted by alice; cleanup ran"))
      << conversation.updates.back().text;
  EXPECT_TRUE(has(harness.run("alice", "runbook abort 1"), "has already aborted"));
}

// A run journaled by an earlier process with step `index` in flight.
std::int64_t journal_in_flight(storage::RunbookStore& store, const runbooks::Definition& d,
                               std::size_t index, const std::string& hash,
                               const std::string& owner = "",
                               const std::string& chat_ref = "nowhere") {
  runbooks::Engine engine(d);
  engine.resume(runbooks::Start{});
  for (std::size_t i = 0; i < index; ++i)
    engine.resume(runbooks::StepSucceeded{});
  storage::RunbookRunRecord record{.runbook = d.name,
                                   .hash = hash,
                                   .params = "env=staging\n",
                                   .started_by = "alice",
                                   .chat_ref = chat_ref,
                                   .status = "running",
                                   .state = runbooks::encode_state(engine.state()),
                                   .owner = owner};
  const auto id = store.create_run(record);
  store.step_started({.run_id = id,
                      .phase = "main",
                      .index = static_cast<int>(index),
                      .name = d.steps[index].name,
                      .attempt = 1},
                     "running", runbooks::encode_state(engine.state()),
                     storage::RunFence{owner, 0});
  return id;
}

const char* kTwoSteps = R"(runbook: mine
params:
  - {name: env, type: environment, default: staging}
steps:
  - {name: first, safety: idempotent, exec: [echo, one]}
  - {name: second, safety: unsafe, exec: [echo, two]}
)";

TEST_F(RunbookRunnerTest, RecoveryRerunsAnIdempotentStepAndFinishes) {
  load(kTwoSteps);
  const auto& d = *library->find("mine");
  const auto id = journal_in_flight(store, d, 0, d.hash);
  runner->recover();
  EXPECT_EQ(runner->active(), 1u);
  ASSERT_TRUE(harness.run_until([&] { return store.get(id)->status != "running"; }));
  // The second step is unsafe but it was not in flight: it just runs.
  EXPECT_EQ(store.get(id)->status, "succeeded");
  const auto steps = store.steps(id);
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[0].status, "interrupted");
  EXPECT_EQ(steps[1].name, "first");
  EXPECT_EQ(steps[1].attempt, 2);
  EXPECT_EQ(steps[2].status, "succeeded");
}

TEST_F(RunbookRunnerTest, RecoveryOfAnUnsafeStepWaitsForResumeOrAbort) {
  load(kTwoSteps);
  const auto& d = *library->find("mine");
  const auto id = journal_in_flight(store, d, 1, d.hash);
  runner->recover();
  ASSERT_TRUE(harness.run_until([&] { return store.get(id)->status == "waiting"; }));
  const std::string ref = std::to_string(id);
  EXPECT_TRUE(has(harness.run("bob", "runbook status " + ref), "waiting"));
  EXPECT_TRUE(
      has(harness.run("alice", "runbook resume " + ref + " --skip"), "the step counts as done"));
  ASSERT_TRUE(harness.run_until([&] { return store.get(id)->status == "succeeded"; }));
  EXPECT_EQ(store.steps(id).size(), 1u);  // skipped: "second" never ran again
}

TEST_F(RunbookRunnerTest, ResumeIsRefusedWhenTheDefinitionChanged) {
  load(kTwoSteps);
  const auto& d = *library->find("mine");
  const auto id = journal_in_flight(store, d, 1, std::string(64, '0'));
  runner->recover();
  const std::string ref = std::to_string(id);
  EXPECT_TRUE(has(harness.run("alice", "runbook resume " + ref),
                  "Resume refused: runbook mine changed since run #" + ref + " began"));
  harness.run("alice", "runbook abort " + ref);
  EXPECT_EQ(store.get(id)->status, "aborted");
}

TEST_F(RunbookRunnerTest, ACheckableStepInFlightIsCheckedNotRerunWhenItsCheckPasses) {
  const std::string applied = dir.file("applied");
  const std::string marks = dir.file("marks");
  load(R"(runbook: mine
params:
  - {name: env, type: environment, default: staging}
steps:
  - name: apply
    safety: checkable
    exec:
      argv: [sh, -c, 'echo apply >> "$MARKS"; touch "$DONE"']
      env: {MARKS: ")" +
       marks + R"(", DONE: ")" + applied + R"("}
    check: {exec: [test, -f, ")" +
       applied + R"("]}
  - {name: tell, notify: "applied"}
)");
  const auto& d = *library->find("mine");
  // Cut off after its effect: the check finds the file and the step counts as done.
  shipmate::testing::write_file(applied, "");
  const auto first = journal_in_flight(store, d, 0, d.hash);
  runner->recover();
  ASSERT_TRUE(harness.run_until([&] { return store.get(first)->status == "succeeded"; }));
  EXPECT_FALSE(std::filesystem::exists(marks));  // the step itself never ran again
  auto steps = store.steps(first);
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].status, "interrupted");
  EXPECT_EQ(steps[1].name, "tell");

  // Cut off before its effect: the check fails and the step runs again, once.
  std::filesystem::remove(applied);
  const auto second = journal_in_flight(store, d, 0, d.hash);
  runner->recover();
  ASSERT_TRUE(harness.run_until([&] { return store.get(second)->status == "succeeded"; }));
  EXPECT_EQ(shipmate::testing::read_file(marks), "apply\n");
  steps = store.steps(second);
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[1].name, "apply");
  EXPECT_EQ(steps[1].attempt, 2);
  EXPECT_EQ(steps[1].status, "succeeded");
}

TEST_F(RunbookRunnerTest, ACommandStepThatOutlivesItsTimeoutFailsAndIsNotRunTwice) {
  load(R"(runbook: mine
params:
  - {name: env, type: environment, default: staging}
steps:
  - {name: slow, safety: idempotent, timeout: 30s, retries: 2, command: ping}
)");
  int started = 0;
  bool finished_late = false;
  runner.reset();
  RunbookPorts ports;
  // A command that answers after ten minutes (manual time), like a deploy that hangs.
  ports.run_command = [this, &started, &finished_late](
                          std::string, std::string,
                          Conversation& where) -> boost::asio::awaitable<void> {
    ++started;
    where.post(info("working on it"));
    co_await harness.timers.sleep_for(std::chrono::minutes(10));
    where.post(success("finished late"));
    finished_late = true;
  };
  ports.work_dir = dir.file("work");
  runner.emplace(*harness.services, *library, store, std::move(ports));
  library->set_runner(&*runner);

  auto& conversation = harness.start("alice", "runbook run mine");
  ASSERT_TRUE(harness.run_until([&] { return harness.timers.sleeping() >= 2; }));
  harness.timers.advance(std::chrono::seconds(30));
  ASSERT_TRUE(harness.run_until([&] { return store.get(1)->status == "failed"; }));
  EXPECT_EQ(started, 1);  // not retried: the command may still be at work
  const auto steps = store.steps(1);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_TRUE(has(steps[0].detail, "'ping' did not finish within 30.0 s; it goes on by itself"))
      << steps[0].detail;
  EXPECT_TRUE(has(all_chat(conversation), "working on it"));
  // The command ends later, after its run: nothing breaks, and the run stays failed.
  harness.timers.advance(std::chrono::minutes(10));
  ASSERT_TRUE(harness.run_until([&] { return finished_late; }));
  EXPECT_EQ(store.get(1)->status, "failed");
  EXPECT_EQ(runner->active(), 0u);
}

// Conversations by address, for notify steps that name a channel.
class Channels final : public ConversationDirectory {
 public:
  std::unique_ptr<Conversation> open(const std::string& address) override {
    if (address != "#ops")
      return nullptr;
    struct Forward final : Conversation {
      explicit Forward(shipmate::testing::RecordingConversation& to) : to_(to) {}
      MessageRef post(const Message& m) override { return to_.post(m); }
      void update(const MessageRef& r, const Message& m) override { to_.update(r, m); }
      void thread_reply(const MessageRef& r, const Message& m) override { to_.thread_reply(r, m); }
      std::string address() const override { return "#ops"; }
      shipmate::testing::RecordingConversation& to_;
    };
    return std::make_unique<Forward>(ops);
  }
  shipmate::testing::RecordingConversation ops;
};

TEST_F(RunbookRunnerTest, ANotifyStepPostsToANamedChannelAndSaysWhenItCannot) {
  Channels channels;
  harness.services->conversations = &channels;
  load(R"(runbook: mine
params:
  - {name: env, type: environment, default: staging}
on_failure: continue
steps:
  - {name: tell-ops, notify: {text: "run {run.id} in {env} by {run.by}", channel: "#ops"}}
  - {name: tell-nobody, notify: {text: "lost", channel: "#gone"}}
)");
  harness.run("alice", "runbook run mine");
  ASSERT_EQ(channels.ops.log.size(), 1u);
  EXPECT_EQ(channels.ops.log[0], "run 1 in staging by alice");
  const auto steps = store.steps(1);
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].detail, "posted to #ops");
  EXPECT_EQ(steps[1].status, "failed");
  EXPECT_EQ(steps[1].detail, "no conversation #gone is reachable now");
  harness.services->conversations = nullptr;
}

TEST_F(RunbookRunnerTest, RunNumbersAreChecked) {
  load(kTwoSteps);
  EXPECT_EQ(harness.run("alice", "runbook abort x1"),
            "'x1' is not a run number (e.g. runbook abort 3)\n");
  EXPECT_EQ(harness.run("alice", "runbook abort 99"),
            "No runbook run #99; 'runbook status' lists the recent ones\n");
}

// Replicas (issue 17): replica b finds a run replica a left with a step in flight. While a's
// lease is live the run is left alone; once it has lapsed (plus the grace) b takes it over once,
// reconciles it exactly as a restart does (the idempotent step runs again), and says so once.
TEST_F(RunbookRunnerTest, ADeadReplicasRunIsTakenOverOnceReconciledAndAnnouncedOnce) {
  Channels channels;
  harness.services->conversations = &channels;
  harness.services->replica = "b";
  harness.services->takeover_grace_ms = 500;
  load(kTwoSteps);
  const auto& d = *library->find("mine");
  const auto id = journal_in_flight(store, d, 0, d.hash, "a", "#ops");
  storage::LeaseStore leases(*harness.db);
  ASSERT_TRUE(leases.acquire(storage::replica_lease_name("a"), "a", harness.clock.now_ms(), 2000));

  runner->recover();  // a is alive: not b's to touch
  EXPECT_EQ(runner->active(), 0u);
  EXPECT_EQ(runner->take_over_orphans(), 0u);
  EXPECT_EQ(store.get(id)->owner, "a");
  EXPECT_EQ(store.steps(id)[0].status, "started");
  EXPECT_TRUE(has(harness.run("alice", "runbook abort " + std::to_string(id)),
                  "is driven by replica a, not this one (b)"));

  harness.clock.advance_ms(2000 + 500 + 1);  // a's lease and the grace are over
  EXPECT_EQ(runner->take_over_orphans(), 1u);
  EXPECT_EQ(runner->take_over_orphans(), 0u);  // b's own now
  ASSERT_TRUE(harness.run_until([&] { return store.get(id)->status == "succeeded"; }));
  const auto stored = store.get(id);
  EXPECT_EQ(stored->owner, "b");
  EXPECT_EQ(stored->epoch, 1);
  const auto steps = store.steps(id);
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[0].status, "interrupted");
  EXPECT_TRUE(has(steps[0].detail, "taken over by replica b")) << steps[0].detail;
  EXPECT_EQ(steps[1].name, "first");
  EXPECT_EQ(steps[1].attempt, 2);
  EXPECT_EQ(steps[2].status, "succeeded");
  int taken = 0;
  for (const auto& record : harness.audit.tail(100))
    taken += record.entry.action == "runbook.taken_over" ? 1 : 0;
  EXPECT_EQ(taken, 1);
  int announced = 0;
  for (const auto& line : channels.ops.log)
    announced += has(line, "was taken over by replica b (replica a's lease ended") ? 1 : 0;
  EXPECT_EQ(announced, 1) << all_chat(channels.ops);
  harness.services->conversations = nullptr;
}

// The other half: replica a's run is taken over behind its back (a was frozen). a's next journal
// write is refused by the fence, so the run stops there and its next step never starts.
TEST_F(RunbookRunnerTest, ARunTakenOverElsewhereStopsAtItsNextWriteAndStartsNothingMore) {
  harness.services->replica = "a";
  const std::string marker = dir.file("second-ran");
  load(R"(runbook: mine
params:
  - {name: env, type: environment, default: staging}
steps:
  - {name: ok, confirm: {prompt: "go on?", roles: [sre]}}
  - {name: second, safety: idempotent, exec: [touch, ")" +
       marker + R"("]}
)");
  harness.start("alice", "runbook run mine");
  ASSERT_TRUE(harness.run_until([&] { return harness.runtime.questions().is_open("runbook:1"); }));
  EXPECT_EQ(store.get(1)->owner, "a");
  ASSERT_EQ(store.take_over(1, storage::RunFence{"a", 0}, "b"), std::optional<std::int64_t>(1));
  harness.run("alice", "runbook confirm 1");
  ASSERT_TRUE(harness.run_until([&] { return runner->active() == 0; }));
  EXPECT_FALSE(std::filesystem::exists(marker));
  const auto stored = store.get(1);
  EXPECT_EQ(stored->owner, "b");
  EXPECT_FALSE(stored->finished_at.has_value());
  const auto steps = store.steps(1);
  ASSERT_EQ(steps.size(), 1u);  // a wrote neither the confirm's end nor the next step's start
  EXPECT_EQ(steps[0].status, "started");
}

}  // namespace
}  // namespace shipmate::commands

namespace shipmate::commands {
namespace {

// The journal's group commit, on its own loop and an in-memory database.
class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = storage::Database::open(":memory:");
    ASSERT_TRUE(opened) << opened.error().message;
    db = std::move(*opened);
    db->exec("CREATE TABLE t (x INTEGER)");
  }
  long long rows() {
    auto statement = db->prepare("SELECT COUNT(*) FROM t");
    return statement.step() ? statement.column_int64(0) : -1;
  }
  boost::asio::awaitable<void> insert(GroupCommit& journal, int x, std::vector<int>& done) {
    auto writing = journal.write(
        [this, x] { db->prepare("INSERT INTO t (x) VALUES (?1)").bind(1, std::int64_t{x}).run(); });
    co_await std::move(writing);
    done.push_back(x);
  }
  boost::asio::io_context io;
  std::unique_ptr<storage::Database> db;
};

TEST_F(GroupCommitTest, WritesOfOneTurnShareOneCommitAndEachWaitsForIt) {
  GroupCommit journal(io.get_executor(), *db);
  std::vector<int> done;
  for (int i = 0; i < 5; ++i)
    boost::asio::co_spawn(io, insert(journal, i, done), boost::asio::detached);
  journal.later([this] { db->exec("INSERT INTO t (x) VALUES (99)"); });
  io.poll_one();  // the first writer queues its write; nothing is committed yet
  EXPECT_EQ(journal.commits(), 0u);
  EXPECT_TRUE(done.empty());
  io.run();
  EXPECT_EQ(journal.commits(), 1u);
  EXPECT_EQ(journal.writes(), 6u);
  EXPECT_EQ(rows(), 6);
  EXPECT_EQ(done, (std::vector<int>{0, 1, 2, 3, 4}));  // each resumed after the commit, in order

  // A later turn makes a commit of its own; flush() commits what is queued at once.
  journal.later([this] { db->exec("INSERT INTO t (x) VALUES (100)"); });
  journal.flush();
  EXPECT_EQ(journal.commits(), 2u);
  EXPECT_EQ(rows(), 7);
  io.restart();
  io.run();  // the posted commit finds nothing left to do
  EXPECT_EQ(journal.commits(), 2u);
}

TEST_F(GroupCommitTest, ABurstOfWritersIsWokenInSlicesInTheOrderTheyWrote) {
  GroupCommit journal(io.get_executor(), *db);
  std::vector<int> done;
  for (int i = 0; i < 120; ++i)
    boost::asio::co_spawn(io, insert(journal, i, done), boost::asio::detached);
  while (journal.commits() == 0)
    ASSERT_EQ(io.run_one(), 1u);
  EXPECT_EQ(rows(), 120);  // all 120 in the one commit
  EXPECT_TRUE(done.empty());
  // The commit woke the first 64 and queued the next slice's wake behind them: the handler after
  // the 64th resumes nobody.
  while (done.size() < 64)
    ASSERT_EQ(io.poll_one(), 1u);
  ASSERT_EQ(io.poll_one(), 1u);
  EXPECT_EQ(done.size(), 64u);
  io.run();
  std::vector<int> expected(120);
  for (int i = 0; i < 120; ++i)
    expected[i] = i;
  EXPECT_EQ(done, expected);
  EXPECT_EQ(journal.commits(), 1u);
}

TEST_F(GroupCommitTest, ATurnOfMoreWritesThanABatchHoldsCommitsThemOneTurnApartInOrder) {
  GroupCommit journal(io.get_executor(), *db);
  std::vector<int> done;
  for (int i = 0; i < 300; ++i)
    boost::asio::co_spawn(io, insert(journal, i, done), boost::asio::detached);
  while (journal.commits() == 0)
    ASSERT_EQ(io.run_one(), 1u);
  EXPECT_EQ(rows(), 128);  // one batch's worth, not the whole turn's
  EXPECT_TRUE(done.empty());
  // The next batch commits in a later handler: the first batch's first slice of writers goes on
  // before it (a timer or a socket ready meanwhile would too).
  while (journal.commits() == 1)
    ASSERT_EQ(io.run_one(), 1u);
  EXPECT_EQ(rows(), 256);
  EXPECT_GE(done.size(), 64u);
  io.run();
  EXPECT_EQ(journal.commits(), 3u);
  EXPECT_EQ(rows(), 300);
  std::vector<int> expected(300);
  for (int i = 0; i < 300; ++i)
    expected[i] = i;
  EXPECT_EQ(done, expected);  // every writer resumed after its own batch, in the order they wrote

  // flush() commits every batch still queued, in order, at once.
  for (int i = 0; i < 300; ++i)
    journal.later([this, i] { db->exec("INSERT INTO t (x) VALUES (" + std::to_string(i) + ")"); });
  journal.flush();
  EXPECT_EQ(journal.commits(), 6u);
  EXPECT_EQ(rows(), 600);
}

TEST_F(GroupCommitTest, AFailingWriteRollsTheBatchBackAndEveryWaiterHearsOfIt) {
  GroupCommit journal(io.get_executor(), *db);
  std::vector<std::string> heard;
  auto writer = [&](std::string sql) -> boost::asio::awaitable<void> {
    try {
      auto writing = journal.write([this, sql] { db->exec(sql); });
      co_await std::move(writing);
      heard.push_back("committed");
    } catch (const storage::StorageError&) {
      heard.push_back("rolled back");
    }
  };
  boost::asio::co_spawn(io, writer("INSERT INTO t (x) VALUES (1)"), boost::asio::detached);
  boost::asio::co_spawn(io, writer("INSERT INTO no_such_table (x) VALUES (2)"),
                        boost::asio::detached);
  io.run();
  EXPECT_EQ(heard, (std::vector<std::string>{"rolled back", "rolled back"}));
  EXPECT_EQ(rows(), 0);  // the good write went with the batch: nothing half-written
  EXPECT_EQ(journal.commits(), 0u);
}

}  // namespace
}  // namespace shipmate::commands
