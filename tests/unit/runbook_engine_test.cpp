// The runbook engine, step by step, with no I/O: every step kind, retries and back-off, wait
// polling and its timeout, each failure policy, cleanup, abort, and each recovery rule.
#include <gtest/gtest.h>

#include "runbooks/engine.h"

namespace shipmate::runbooks {
namespace {

StepSpec step(std::string name, StepKind kind, Safety safety = Safety::idempotent) {
  StepSpec s;
  s.name = std::move(name);
  s.kind = kind;
  s.safety = safety;
  return s;
}

Definition three_steps() {
  Definition d;
  d.name = "three";
  d.steps = {step("a", StepKind::exec), step("b", StepKind::http), step("c", StepKind::notify)};
  return d;
}

// The action as T (by value: the action is usually a temporary).
template <class T>
T as(const Action& action) {
  EXPECT_TRUE(std::holds_alternative<T>(action)) << "got action index " << action.index();
  return std::holds_alternative<T>(action) ? std::get<T>(action) : T{};
}

TEST(RunbookEngine, RunsEveryStepInOrderAndCollectsOutputs) {
  Definition d = three_steps();
  Engine engine(d);
  EXPECT_EQ(as<RunStep>(engine.resume(Start{})).index, 0u);
  EXPECT_TRUE(engine.state().in_flight);
  EXPECT_EQ(as<RunStep>(engine.resume(StepSucceeded{{{"stdout", "up 3 days"}}})).index, 1u);
  EXPECT_EQ(as<RunStep>(engine.resume(StepSucceeded{{{"version", "v2"}}})).index, 2u);
  const auto finish = as<Finish>(engine.resume(StepSucceeded{}));
  EXPECT_EQ(finish.status, RunStatus::succeeded);
  EXPECT_EQ(finish.summary, "all 3 steps succeeded");
  EXPECT_EQ(engine.state().outputs.at("steps.a.stdout"), "up 3 days");
  EXPECT_EQ(engine.state().outputs.at("steps.b.version"), "v2");
  EXPECT_FALSE(engine.state().in_flight);
}

TEST(RunbookEngine, EveryStepKindIsCarriedOutTheSameWay) {
  Definition d;
  d.name = "kinds";
  for (StepKind kind :
       {StepKind::exec, StepKind::http, StepKind::command, StepKind::confirm, StepKind::notify}) {
    d.steps.push_back(step(std::string(to_string(kind)), kind));
  }
  Engine engine(d);
  Action next = engine.resume(Start{});
  for (std::size_t i = 0; i < d.steps.size(); ++i) {
    EXPECT_EQ(as<RunStep>(next).index, i);
    next = engine.resume(StepSucceeded{});
  }
  EXPECT_EQ(as<Finish>(next).status, RunStatus::succeeded);
}

TEST(RunbookEngine, AnEmptyRunbookSucceedsAtOnce) {
  Definition d;
  d.name = "empty";
  Engine engine(d);
  EXPECT_EQ(as<Finish>(engine.resume(Start{})).status, RunStatus::succeeded);
}

TEST(RunbookEngine, RetriesWithDoublingBackoffThenFails) {
  Definition d = three_steps();
  d.steps[0].retries = 2;
  d.steps[0].backoff_ms = 1000;
  Engine engine(d);
  engine.resume(Start{});
  const auto first = as<Sleep>(engine.resume(StepFailed{"exited with status 1"}));
  EXPECT_EQ(first.ms, 1000);
  EXPECT_FALSE(engine.state().in_flight);
  EXPECT_EQ(as<RunStep>(engine.resume(SleepElapsed{})).attempt, 2);
  EXPECT_EQ(as<Sleep>(engine.resume(StepFailed{"exited with status 1"})).ms, 2000);
  EXPECT_EQ(as<RunStep>(engine.resume(SleepElapsed{})).attempt, 3);
  const auto finish = as<Finish>(engine.resume(StepFailed{"exited with status 1"}));
  EXPECT_EQ(finish.status, RunStatus::failed);
  EXPECT_EQ(finish.summary, "step a failed: exited with status 1 (after 3 attempts)");
}

TEST(RunbookEngine, ARetrySucceedsAndTheRunGoesOn) {
  Definition d = three_steps();
  d.steps[1].retries = 1;
  Engine engine(d);
  engine.resume(Start{});
  engine.resume(StepSucceeded{});
  as<Sleep>(engine.resume(StepFailed{"status 503"}));
  as<RunStep>(engine.resume(SleepElapsed{}));
  EXPECT_EQ(as<RunStep>(engine.resume(StepSucceeded{})).index, 2u);
}

TEST(RunbookEngine, BackoffIsCappedAtFiveMinutes) {
  StepSpec s = step("x", StepKind::exec);
  s.backoff_ms = 60'000;
  EXPECT_EQ(backoff_before(s, 2), 60'000);
  EXPECT_EQ(backoff_before(s, 3), 120'000);
  EXPECT_EQ(backoff_before(s, 4), 240'000);
  EXPECT_EQ(backoff_before(s, 5), 300'000);
  EXPECT_EQ(backoff_before(s, 50), 300'000);
}

TEST(RunbookEngine, ADeclinedConfirmationIsNotRetried) {
  Definition d;
  d.name = "ask";
  d.steps = {step("ok", StepKind::confirm)};
  d.steps[0].retries = 3;
  Engine engine(d);
  engine.resume(Start{});
  const auto finish = as<Finish>(engine.resume(StepFailed{"declined by bob", false}));
  EXPECT_EQ(finish.status, RunStatus::failed);
  EXPECT_EQ(finish.summary, "step ok failed: declined by bob");
}

TEST(RunbookEngine, ATimedOutStepIsAFailureLikeAnyOther) {
  Definition d = three_steps();
  Engine engine(d);
  engine.resume(Start{});
  EXPECT_EQ(as<Finish>(engine.resume(StepFailed{"timed out after 30s"})).summary,
            "step a failed: timed out after 30s");
}

TEST(RunbookEngine, WaitPollsUntilSatisfied) {
  Definition d;
  d.name = "wait";
  d.steps = {step("up", StepKind::wait), step("tell", StepKind::notify)};
  d.steps[0].timeout_ms = 10'000;
  d.steps[0].wait.interval_ms = 2'000;
  Engine engine(d);
  EXPECT_EQ(as<RunStep>(engine.resume(Start{})).index, 0u);
  EXPECT_EQ(as<Sleep>(engine.resume(ProbeResult{false, "status 503", 0})).ms, 2000);
  EXPECT_EQ(as<RunStep>(engine.resume(SleepElapsed{})).index, 0u);
  EXPECT_EQ(as<Sleep>(engine.resume(ProbeResult{false, "status 503", 2000})).ms, 2000);
  as<RunStep>(engine.resume(SleepElapsed{}));
  EXPECT_EQ(as<RunStep>(engine.resume(ProbeResult{true, "status 200", 4000})).index, 1u);
  EXPECT_EQ(engine.state().outputs.at("steps.up.detail"), "status 200");
}

TEST(RunbookEngine, WaitFailsWhenTheNextProbeWouldPassItsTimeout) {
  Definition d;
  d.name = "wait";
  d.steps = {step("up", StepKind::wait)};
  d.steps[0].timeout_ms = 5'000;
  d.steps[0].wait.interval_ms = 2'000;
  d.steps[0].retries = 5;  // retries do not apply to waits: the timeout is the bound
  Engine engine(d);
  engine.resume(Start{});
  as<Sleep>(engine.resume(ProbeResult{false, "status 503", 2'000}));
  as<RunStep>(engine.resume(SleepElapsed{}));
  const auto finish = as<Finish>(engine.resume(ProbeResult{false, "status 503", 4'000}));
  EXPECT_EQ(finish.summary, "step up failed: still not true after 4.0 s: status 503");
}

TEST(RunbookEngine, AProbeResultOutsideAWaitIsRefused) {
  Definition d = three_steps();
  Engine engine(d);
  engine.resume(Start{});
  const RunState before = engine.state();
  EXPECT_EQ(as<Refused>(engine.resume(ProbeResult{true, "", 0})).reason, "no wait step is probing");
  EXPECT_EQ(engine.state(), before);
}

TEST(RunbookEngine, ContinuePolicyRecordsTheFailureAndGoesOn) {
  Definition d = three_steps();
  d.on_failure = FailurePolicy::continue_run;
  Engine engine(d);
  engine.resume(Start{});
  EXPECT_EQ(as<RunStep>(engine.resume(StepFailed{"exited with status 2"})).index, 1u);
  engine.resume(StepSucceeded{});
  const auto finish = as<Finish>(engine.resume(StepSucceeded{}));
  EXPECT_EQ(finish.status, RunStatus::succeeded);
  EXPECT_EQ(finish.summary,
            "finished; 1 step failed and was continued past: a: exited with status 2");
}

TEST(RunbookEngine, AStepsOwnPolicyOverridesTheRunbooks) {
  Definition d = three_steps();
  d.on_failure = FailurePolicy::stop;
  d.steps[0].on_failure = FailurePolicy::continue_run;
  Engine engine(d);
  engine.resume(Start{});
  EXPECT_EQ(as<RunStep>(engine.resume(StepFailed{"x"})).index, 1u);
  EXPECT_EQ(as<Finish>(engine.resume(StepFailed{"y"})).status, RunStatus::failed);
}

TEST(RunbookEngine, CleanupRunsEveryCleanupStepThenFails) {
  Definition d = three_steps();
  d.on_failure = FailurePolicy::cleanup;
  d.cleanup = {step("unlock", StepKind::command), step("say", StepKind::notify)};
  Engine engine(d);
  engine.resume(Start{});
  engine.resume(StepSucceeded{});
  const auto first = as<RunStep>(engine.resume(StepFailed{"status 500"}));
  EXPECT_EQ(first.phase, Phase::cleanup);
  EXPECT_EQ(first.index, 0u);
  // A failing cleanup step does not stop the next one.
  const auto second = as<RunStep>(engine.resume(StepFailed{"not locked"}));
  EXPECT_EQ(second.phase, Phase::cleanup);
  EXPECT_EQ(second.index, 1u);
  const auto finish = as<Finish>(engine.resume(StepSucceeded{}));
  EXPECT_EQ(finish.status, RunStatus::failed);
  EXPECT_EQ(finish.summary, "step b failed: status 500; cleanup ran (see the failed steps)");
  EXPECT_EQ(engine.state().failures.size(), 2u);
}

TEST(RunbookEngine, AbortStopsAtOnceOrRunsCleanupFirst) {
  {
    Definition d = three_steps();
    Engine engine(d);
    engine.resume(Start{});
    const auto finish = as<Finish>(engine.resume(Abort{"alice"}));
    EXPECT_EQ(finish.status, RunStatus::aborted);
    EXPECT_EQ(finish.summary, "aborted by alice");
    // A late result of the step that was cut off changes nothing.
    as<Refused>(engine.resume(StepSucceeded{}));
    EXPECT_EQ(engine.state().status, RunStatus::aborted);
  }
  {
    Definition d = three_steps();
    d.on_failure = FailurePolicy::cleanup;
    d.cleanup = {step("unlock", StepKind::command)};
    Engine engine(d);
    engine.resume(Start{});
    EXPECT_EQ(as<RunStep>(engine.resume(Abort{"alice"})).phase, Phase::cleanup);
    const auto finish = as<Finish>(engine.resume(StepSucceeded{}));
    EXPECT_EQ(finish.status, RunStatus::aborted);
    EXPECT_EQ(finish.summary, "aborted by alice; cleanup ran");
  }
}

TEST(RunbookEngine, AbortDuringBackoffStopsTheRetries) {
  Definition d = three_steps();
  d.steps[0].retries = 3;
  Engine engine(d);
  engine.resume(Start{});
  as<Sleep>(engine.resume(StepFailed{"x"}));
  EXPECT_EQ(as<Finish>(engine.resume(Abort{"bob"})).status, RunStatus::aborted);
  as<Refused>(engine.resume(SleepElapsed{}));
}

// --- recovery after a crash ---

RunState in_flight_at(const Definition& d, std::size_t index) {
  Engine engine(d);
  engine.resume(Start{});
  for (std::size_t i = 0; i < index; ++i)
    engine.resume(StepSucceeded{});
  EXPECT_TRUE(engine.state().in_flight);
  // Through the journal's JSON, as a restart reads it.
  auto decoded = decode_state(encode_state(engine.state()));
  EXPECT_TRUE(decoded.ok());
  return *decoded;
}

TEST(RunbookEngine, RecoveryRerunsAnIdempotentStep) {
  Definition d = three_steps();
  Engine engine(d, in_flight_at(d, 1));
  const auto run = as<RunStep>(engine.resume(Recovered{}));
  EXPECT_EQ(run.index, 1u);
  EXPECT_EQ(run.attempt, 2);
}

TEST(RunbookEngine, RecoveryChecksACheckableStep) {
  Definition d = three_steps();
  d.steps[1].safety = Safety::checkable;
  {
    Engine engine(d, in_flight_at(d, 1));
    EXPECT_EQ(as<RunCheck>(engine.resume(Recovered{})).index, 1u);
    // It already happened: count it done and go on.
    EXPECT_EQ(as<RunStep>(engine.resume(CheckResult{true, "status 200"})).index, 2u);
  }
  {
    Engine engine(d, in_flight_at(d, 1));
    as<RunCheck>(engine.resume(Recovered{}));
    const auto again = as<RunStep>(engine.resume(CheckResult{false, "status 404"}));
    EXPECT_EQ(again.index, 1u);
    EXPECT_TRUE(engine.state().in_flight);
  }
  {
    // A crash while the check itself ran: the check runs again.
    Engine engine(d, in_flight_at(d, 1));
    as<RunCheck>(engine.resume(Recovered{}));
    Engine restarted(d, *decode_state(encode_state(engine.state())));
    EXPECT_EQ(as<RunCheck>(restarted.resume(Recovered{})).index, 1u);
  }
}

TEST(RunbookEngine, RecoveryOfAnUnsafeStepWaitsForAnOperator) {
  Definition d = three_steps();
  d.steps[0].safety = Safety::unsafe;
  {
    Engine engine(d, in_flight_at(d, 0));
    const auto ask = as<AskOperator>(engine.resume(Recovered{}));
    EXPECT_EQ(ask.reason,
              "step a (unsafe) was running when Shipmate stopped, so it may or may not have "
              "happened");
    EXPECT_EQ(engine.state().status, RunStatus::waiting_operator);
    // Nothing runs until someone decides; a second restart asks again.
    as<Refused>(engine.resume(StepSucceeded{}));
    Engine restarted(d, *decode_state(encode_state(engine.state())));
    as<AskOperator>(restarted.resume(Recovered{}));
    const auto run = as<RunStep>(restarted.resume(OperatorResume{}));
    EXPECT_EQ(run.index, 0u);
    EXPECT_EQ(restarted.state().status, RunStatus::running);
  }
  {
    Engine engine(d, in_flight_at(d, 0));
    as<AskOperator>(engine.resume(Recovered{}));
    EXPECT_EQ(as<RunStep>(engine.resume(OperatorResume{true})).index, 1u);  // skip: done
  }
  {
    Engine engine(d, in_flight_at(d, 0));
    as<AskOperator>(engine.resume(Recovered{}));
    EXPECT_EQ(as<Finish>(engine.resume(Abort{"carol"})).status, RunStatus::aborted);
  }
}

TEST(RunbookEngine, ResumeIsRefusedUnlessTheRunWaits) {
  Definition d = three_steps();
  Engine engine(d);
  engine.resume(Start{});
  EXPECT_EQ(as<Refused>(engine.resume(OperatorResume{})).reason,
            "the run is not waiting for an operator");
}

TEST(RunbookEngine, RecoveryRerunsConfirmationsAndWaitsWhateverTheyDeclare) {
  Definition d;
  d.name = "x";
  d.steps = {step("ok", StepKind::confirm, Safety::unsafe),
             step("up", StepKind::wait, Safety::unsafe)};
  {
    Engine engine(d, in_flight_at(d, 0));
    EXPECT_EQ(as<RunStep>(engine.resume(Recovered{})).index, 0u);
  }
  {
    Engine engine(d, in_flight_at(d, 1));
    EXPECT_EQ(as<RunStep>(engine.resume(Recovered{})).index, 1u);
  }
}

TEST(RunbookEngine, RecoveryBetweenStepsStartsTheNextOne) {
  Definition d = three_steps();
  Engine engine(d);
  engine.resume(Start{});
  engine.resume(StepSucceeded{});
  RunState state = engine.state();
  state.in_flight = false;  // the journal wrote "b" as not started yet
  Engine restarted(d, state);
  const auto run = as<RunStep>(restarted.resume(Recovered{}));
  EXPECT_EQ(run.index, 1u);
  EXPECT_EQ(run.attempt, 1);
}

TEST(RunbookEngine, RecoveryDuringBackoffStartsTheNextAttempt) {
  Definition d = three_steps();
  d.steps[0].retries = 2;
  Engine engine(d);
  engine.resume(Start{});
  as<Sleep>(engine.resume(StepFailed{"x"}));
  Engine restarted(d, *decode_state(encode_state(engine.state())));
  EXPECT_EQ(as<RunStep>(restarted.resume(Recovered{})).attempt, 2);
}

TEST(RunbookEngine, RecoveryOfARunThatNeverStartedStartsIt) {
  Definition d = three_steps();
  Engine engine(d);
  EXPECT_EQ(as<RunStep>(engine.resume(Recovered{})).index, 0u);
}

TEST(RunbookEngine, EventsAfterTheEndAreRefused) {
  Definition d = three_steps();
  Engine engine(d);
  engine.resume(Start{});
  engine.resume(StepFailed{"x"});
  EXPECT_EQ(as<Refused>(engine.resume(Recovered{})).reason, "the run has already failed");
  EXPECT_EQ(as<Refused>(engine.resume(Abort{"a"})).reason, "the run has already failed");
}

TEST(RunbookEngine, StateSurvivesTheJournalRoundTrip) {
  RunState state;
  state.status = RunStatus::waiting_operator;
  state.phase = Phase::cleanup;
  state.cursor = 4;
  state.attempt = 3;
  state.started = state.in_flight = state.aborting = true;
  state.outputs = {{"steps.a.stdout", "line 1\nline \"2\"\t\\"}, {"steps.b.x", ""}};
  state.failures = {"a: boom"};
  state.error = "step a failed";
  state.operator_reason = "why";
  auto decoded = decode_state(encode_state(state));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, state);
  EXPECT_FALSE(decode_state("{\"v\":2}").ok());
  EXPECT_FALSE(decode_state("not json").ok());
}

}  // namespace
}  // namespace shipmate::runbooks
