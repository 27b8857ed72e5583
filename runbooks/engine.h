// The runbook engine: a state machine that is told what happened and answers what to do next.
//
//   Engine engine(definition);             // or Engine(definition, state) after a restart
//   Action next = engine.resume(Start{});  // RunStep{0, attempt 1}
//   ... the executor carries the step out, then:
//   next = engine.resume(StepSucceeded{{{"version", "v2"}}});
//
// Contract
// - Sans-I/O and pure: no clock, no sockets, no processes, no storage. Time arrives inside
//   events (a wait step's ProbeResult says how long it has waited). The executor
//   (commands/runbook_executor.h) journals state() before and after every effect, so the state
//   it reloads after a crash is the state before the effect or after it, never in between.
// - resume() never throws. An event that does not fit the state (a step result with nothing in
//   flight, `resume` on a run that is not waiting) answers Refused with a reason a person can
//   read, and changes nothing.
// - Rules. A failed attempt is retried while attempts remain (RunStep after Sleep, back-off
//   backoff * 2^(n-1), at most five minutes); a failure that is not retryable (a declined
//   confirmation) is not. A step that has failed for good follows its on_failure (else the
//   runbook's): stop ends the run failed; continue records the failure and goes on (the run then
//   succeeds, naming what failed); cleanup runs the cleanup steps in order (each one's failure
//   is recorded and the next still runs) and then ends the run failed. A wait step polls: each
//   ProbeResult that is not satisfied sleeps `interval` and probes again, until its timeout.
// - Recovery after a crash (Recovered): a step in flight runs again if idempotent (confirm, wait
//   and notify steps always are), its check runs if checkable (CheckResult decides: done counts
//   the step as succeeded, not done runs it again), and an unsafe one makes the run wait for an
//   operator (AskOperator; OperatorResume runs it again, or with skip counts it done; Abort
//   stops). A step that was not in flight simply starts.
// - Abort stops the run at once; when the runbook's policy is cleanup, the cleanup steps run
//   first and the run ends aborted.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"
#include "runbooks/definition.h"

namespace shipmate::runbooks {

enum class RunStatus { running, waiting_operator, succeeded, failed, aborted };
std::string_view to_string(RunStatus status);
std::optional<RunStatus> parse_run_status(std::string_view text);
inline bool is_finished(RunStatus status) {
  return status == RunStatus::succeeded || status == RunStatus::failed ||
         status == RunStatus::aborted;
}

enum class Phase { main, cleanup };

// Everything the engine knows about a run; the executor persists it after every transition.
struct RunState {
  RunStatus status = RunStatus::running;
  Phase phase = Phase::main;
  std::size_t cursor = 0;  // index of the current step in its phase's list
  int attempt = 0;         // attempts of the current step so far (1 while the first runs)
  bool started = false;
  bool in_flight = false;  // the current step's effect started and its end is not recorded
  bool sleeping = false;   // between attempts (back-off) or between a wait step's probes
  bool checking = false;   // a checkable step's check runs
  bool aborting = false;   // cleanup runs because of an abort
  std::map<std::string, std::string> outputs;  // "steps.<step>.<key>" -> value
  std::vector<std::string> failures;           // "<step>: <error>", in order
  std::string error;                           // what ended (or is ending) the run
  std::string operator_reason;                 // while waiting_operator: why

  bool operator==(const RunState&) const = default;
};

// JSON for the journal, and back. decode() refuses text it did not write.
std::string encode_state(const RunState& state);
Result<RunState> decode_state(std::string_view json);

// What happened.
struct Start {};
struct StepSucceeded {
  std::map<std::string, std::string> outputs;  // keys without the "steps.<name>." prefix
};
struct StepFailed {
  std::string error;
  bool retryable = true;
};
struct ProbeResult {
  bool satisfied = false;
  std::string detail;        // "status 503", "value 0.2 above 0.05"
  long long elapsed_ms = 0;  // since the wait step started
};
struct SleepElapsed {};
struct CheckResult {
  bool already_done = false;
  std::string detail;
};
struct Recovered {};
struct OperatorResume {
  bool skip = false;  // count the step as done instead of running it again
};
struct Abort {
  std::string by;
};
using Event = std::variant<Start, StepSucceeded, StepFailed, ProbeResult, SleepElapsed, CheckResult,
                           Recovered, OperatorResume, Abort>;

// What to do next.
struct RunStep {
  Phase phase = Phase::main;
  std::size_t index = 0;
  int attempt = 1;
};
struct RunCheck {
  Phase phase = Phase::main;
  std::size_t index = 0;
};
struct Sleep {
  long long ms = 0;
  std::string why;  // "retry 2 of 3 in 4s", "probe again in 5s"
};
struct AskOperator {
  std::string reason;
};
struct Finish {
  RunStatus status = RunStatus::succeeded;
  std::string summary;
};
struct Refused {
  std::string reason;
};
using Action = std::variant<RunStep, RunCheck, Sleep, AskOperator, Finish, Refused>;

class Engine {
 public:
  explicit Engine(const Definition& definition, RunState state = {});

  Action resume(const Event& event);

  const RunState& state() const { return state_; }
  const Definition& definition() const { return definition_; }
  // The step at the cursor (null once past the last one).
  const StepSpec* current_step() const;
  // Steps in the main list, for "step n of m".
  std::size_t step_count() const { return definition_.steps.size(); }

 private:
  const std::vector<StepSpec>& steps() const;
  Action begin_step();
  Action advance();
  Action fail_step(const std::string& error);
  Action finish(RunStatus status, std::string summary);
  Action rerun();

  Action on(const Start&);
  Action on(const StepSucceeded& event);
  Action on(const StepFailed& event);
  Action on(const ProbeResult& event);
  Action on(const SleepElapsed&);
  Action on(const CheckResult& event);
  Action on(const Recovered&);
  Action on(const OperatorResume& event);
  Action on(const Abort& event);

  const Definition& definition_;
  RunState state_;
};

// The back-off before attempt `next_attempt` (2 for the first retry).
long long backoff_before(const StepSpec& step, int next_attempt);

}  // namespace shipmate::runbooks
