#include "runbooks/engine.h"

#include <simdjson.h>

#include <algorithm>

#include "common/clock.h"
#include "common/strings.h"

namespace shipmate::runbooks {
namespace {

constexpr long long kMaxBackoffMs = 5LL * 60 * 1000;

}  // namespace

std::string_view to_string(RunStatus status) {
  switch (status) {
    case RunStatus::running:
      return "running";
    case RunStatus::waiting_operator:
      return "waiting";
    case RunStatus::succeeded:
      return "succeeded";
    case RunStatus::failed:
      return "failed";
    case RunStatus::aborted:
      return "aborted";
  }
  return "running";
}

std::optional<RunStatus> parse_run_status(std::string_view text) {
  for (RunStatus status : {RunStatus::running, RunStatus::waiting_operator, RunStatus::succeeded,
                           RunStatus::failed, RunStatus::aborted}) {
    if (to_string(status) == text)
      return status;
  }
  return std::nullopt;
}

long long backoff_before(const StepSpec& step, int next_attempt) {
  long long delay = std::max(0LL, step.backoff_ms);
  for (int i = 2; i < next_attempt && delay < kMaxBackoffMs; ++i)
    delay *= 2;
  return std::min(delay, kMaxBackoffMs);
}

Engine::Engine(const Definition& definition, RunState state)
    : definition_(definition), state_(std::move(state)) {}

const std::vector<StepSpec>& Engine::steps() const {
  return state_.phase == Phase::main ? definition_.steps : definition_.cleanup;
}

const StepSpec* Engine::current_step() const {
  const auto& list = steps();
  return state_.cursor < list.size() ? &list[state_.cursor] : nullptr;
}

Action Engine::resume(const Event& event) {
  if (is_finished(state_.status))
    return Refused{"the run has already " + std::string(to_string(state_.status))};
  return std::visit([this](const auto& e) { return on(e); }, event);
}

Action Engine::begin_step() {
  if (!current_step())
    return advance();
  state_.attempt = 1;
  state_.in_flight = true;
  state_.sleeping = false;
  state_.checking = false;
  return RunStep{state_.phase, state_.cursor, state_.attempt};
}

Action Engine::rerun() {
  state_.attempt += 1;
  state_.in_flight = true;
  state_.sleeping = false;
  state_.checking = false;
  return RunStep{state_.phase, state_.cursor, state_.attempt};
}

Action Engine::advance() {
  if (current_step())
    state_.cursor += 1;
  state_.in_flight = false;
  state_.sleeping = false;
  state_.checking = false;
  state_.attempt = 0;
  if (current_step())
    return begin_step();
  if (state_.phase == Phase::cleanup) {
    return finish(state_.aborting ? RunStatus::aborted : RunStatus::failed,
                  state_.error + "; cleanup ran" +
                      (state_.failures.size() > 1 ? " (see the failed steps)" : ""));
  }
  if (state_.failures.empty())
    return finish(
        RunStatus::succeeded,
        "all " + count_of(static_cast<long long>(steps().size()), "step", "steps") + " succeeded");
  return finish(RunStatus::succeeded, "finished; " +
                                          count_of(static_cast<long long>(state_.failures.size()),
                                                   "step failed and was", "steps failed and were") +
                                          " continued past: " + join(state_.failures, "; "));
}

Action Engine::finish(RunStatus status, std::string summary) {
  state_.status = status;
  state_.in_flight = false;
  state_.sleeping = false;
  state_.checking = false;
  if (status != RunStatus::succeeded && state_.error.empty())
    state_.error = summary;
  return Finish{status, std::move(summary)};
}

Action Engine::fail_step(const std::string& error) {
  const StepSpec& step = *current_step();
  state_.in_flight = false;
  state_.sleeping = false;
  state_.checking = false;
  state_.failures.push_back(step.name + ": " + error);
  if (state_.phase == Phase::cleanup)
    return advance();  // every cleanup step gets its chance
  const FailurePolicy policy = step.on_failure.value_or(definition_.on_failure);
  switch (policy) {
    case FailurePolicy::continue_run:
      return advance();
    case FailurePolicy::stop:
      state_.error = "step " + step.name + " failed: " + error;
      return finish(RunStatus::failed, state_.error);
    case FailurePolicy::cleanup:
      state_.error = "step " + step.name + " failed: " + error;
      if (definition_.cleanup.empty())
        return finish(RunStatus::failed, state_.error);
      state_.phase = Phase::cleanup;
      state_.cursor = 0;
      return begin_step();
  }
  return finish(RunStatus::failed, error);
}

Action Engine::on(const Start&) {
  if (state_.started)
    return Refused{"the run has already started"};
  state_.started = true;
  state_.cursor = 0;
  state_.phase = Phase::main;
  if (definition_.steps.empty())
    return finish(RunStatus::succeeded, "nothing to do: the runbook has no steps");
  return begin_step();
}

Action Engine::on(const StepSucceeded& event) {
  if (!state_.in_flight || state_.checking || state_.status != RunStatus::running)
    return Refused{"no step is running"};
  const StepSpec& step = *current_step();
  for (const auto& [key, value] : event.outputs)
    state_.outputs["steps." + step.name + "." + key] = value;
  return advance();
}

Action Engine::on(const StepFailed& event) {
  if (!state_.in_flight || state_.checking || state_.status != RunStatus::running)
    return Refused{"no step is running"};
  const StepSpec& step = *current_step();
  state_.in_flight = false;
  if (event.retryable && step.kind != StepKind::wait && state_.attempt <= step.retries) {
    state_.sleeping = true;
    const long long delay = backoff_before(step, state_.attempt + 1);
    return Sleep{delay, "retry " + std::to_string(state_.attempt) + " of " +
                            std::to_string(step.retries) + " in " + format_duration(delay) +
                            " after: " + event.error};
  }
  const std::string error =
      state_.attempt > 1
          ? event.error + " (after " + count_of(state_.attempt, "attempt", "attempts") + ")"
          : event.error;
  return fail_step(error);
}

Action Engine::on(const ProbeResult& event) {
  const StepSpec* step = current_step();
  if (!state_.in_flight || state_.checking || !step || step->kind != StepKind::wait ||
      state_.status != RunStatus::running)
    return Refused{"no wait step is probing"};
  state_.in_flight = false;
  if (event.satisfied) {
    state_.outputs["steps." + step->name + ".detail"] = event.detail;
    return advance();
  }
  if (event.elapsed_ms + step->wait.interval_ms > step->timeout_ms) {
    return fail_step("still not true after " + format_duration(event.elapsed_ms) +
                     (event.detail.empty() ? "" : ": " + event.detail));
  }
  state_.sleeping = true;
  return Sleep{step->wait.interval_ms, "probe again in " + format_duration(step->wait.interval_ms) +
                                           (event.detail.empty() ? "" : " (" + event.detail + ")")};
}

Action Engine::on(const SleepElapsed&) {
  if (!state_.sleeping || state_.status != RunStatus::running)
    return Refused{"the run is not sleeping"};
  const StepSpec& step = *current_step();
  state_.sleeping = false;
  state_.in_flight = true;
  if (step.kind == StepKind::wait)
    return RunStep{state_.phase, state_.cursor, state_.attempt};  // the next probe
  state_.attempt += 1;
  return RunStep{state_.phase, state_.cursor, state_.attempt};
}

Action Engine::on(const CheckResult& event) {
  if (!state_.checking || state_.status != RunStatus::running)
    return Refused{"no check is running"};
  state_.checking = false;
  if (event.already_done) {
    state_.in_flight = false;
    return advance();
  }
  return rerun();
}

Action Engine::on(const Recovered&) {
  if (!state_.started)
    return on(Start{});
  if (state_.status == RunStatus::waiting_operator)
    return AskOperator{state_.operator_reason};
  const StepSpec* step = current_step();
  if (!step)
    return advance();
  if (state_.checking)
    return RunCheck{state_.phase, state_.cursor};
  if (state_.sleeping) {
    // The back-off or the pause between probes was cut short; the previous attempt's end is
    // recorded, so the next one starts now.
    return on(SleepElapsed{});
  }
  if (!state_.in_flight) {
    state_.attempt = 0;
    return begin_step();
  }
  Safety safety = step->safety;
  if (step->kind == StepKind::confirm || step->kind == StepKind::wait)
    safety = Safety::idempotent;
  switch (safety) {
    case Safety::idempotent:
      if (step->kind == StepKind::wait)
        return RunStep{state_.phase, state_.cursor, state_.attempt};
      return rerun();
    case Safety::checkable:
      state_.checking = true;
      return RunCheck{state_.phase, state_.cursor};
    case Safety::unsafe:
      state_.status = RunStatus::waiting_operator;
      state_.operator_reason = "step " + step->name +
                               " (unsafe) was running when Shipmate stopped, so it may or may "
                               "not have happened";
      return AskOperator{state_.operator_reason};
  }
  return rerun();
}

Action Engine::on(const OperatorResume& event) {
  if (state_.status != RunStatus::waiting_operator)
    return Refused{"the run is not waiting for an operator"};
  state_.status = RunStatus::running;
  state_.operator_reason.clear();
  if (event.skip) {
    state_.in_flight = false;
    return advance();
  }
  return rerun();
}

Action Engine::on(const Abort& event) {
  const std::string why =
      "aborted by " + (event.by.empty() ? std::string("an operator") : event.by);
  state_.in_flight = false;
  state_.sleeping = false;
  state_.checking = false;
  state_.status = RunStatus::running;
  state_.operator_reason.clear();
  if (state_.phase == Phase::main && definition_.on_failure == FailurePolicy::cleanup &&
      !definition_.cleanup.empty()) {
    state_.aborting = true;
    state_.error = why;
    state_.phase = Phase::cleanup;
    state_.cursor = 0;
    return begin_step();
  }
  if (state_.phase == Phase::cleanup) {
    // A second abort while cleanup runs stops the cleanup too.
    state_.error = state_.error.empty() ? why : state_.error + "; cleanup " + why;
    return finish(RunStatus::aborted, state_.error);
  }
  state_.error = why;
  return finish(RunStatus::aborted, why);
}

// --- the journal's JSON ---

std::string encode_state(const RunState& state) {
  std::string out = "{\"v\":1,\"status\":";
  append_json_string(out, to_string(state.status));
  out += ",\"phase\":";
  out += state.phase == Phase::main ? "\"main\"" : "\"cleanup\"";
  out += ",\"cursor\":" + std::to_string(state.cursor);
  out += ",\"attempt\":" + std::to_string(state.attempt);
  auto flag = [&](const char* name, bool value) {
    out += ",\"";
    out += name;
    out += "\":";
    out += value ? "true" : "false";
  };
  flag("started", state.started);
  flag("in_flight", state.in_flight);
  flag("sleeping", state.sleeping);
  flag("checking", state.checking);
  flag("aborting", state.aborting);
  out += ",\"outputs\":{";
  bool first = true;
  for (const auto& [key, value] : state.outputs) {
    if (!first)
      out += ',';
    first = false;
    append_json_string(out, key);
    out += ':';
    append_json_string(out, value);
  }
  out += "},\"failures\":[";
  first = true;
  for (const auto& failure : state.failures) {
    if (!first)
      out += ',';
    first = false;
    append_json_string(out, failure);
  }
  out += "],\"error\":";
  append_json_string(out, state.error);
  out += ",\"operator_reason\":";
  append_json_string(out, state.operator_reason);
  out += '}';
  return out;
}

Result<RunState> decode_state(std::string_view json) {
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded(json);
  RunState state;
  try {
    simdjson::ondemand::document doc = parser.iterate(padded);
    simdjson::ondemand::object root = doc.get_object();
    for (auto field : root) {
      const std::string_view key = field.unescaped_key().value();
      auto value = field.value();
      if (key == "v") {
        if (value.get_int64().value() != 1)
          return make_error("a runbook run's journal state has an unknown version");
      } else if (key == "status") {
        auto status = parse_run_status(value.get_string().value());
        if (!status)
          return make_error("a runbook run's journal state has an unknown status");
        state.status = *status;
      } else if (key == "phase") {
        state.phase = value.get_string().value() == "cleanup" ? Phase::cleanup : Phase::main;
      } else if (key == "cursor") {
        state.cursor = static_cast<std::size_t>(value.get_uint64().value());
      } else if (key == "attempt") {
        state.attempt = static_cast<int>(value.get_int64().value());
      } else if (key == "started") {
        state.started = value.get_bool().value();
      } else if (key == "in_flight") {
        state.in_flight = value.get_bool().value();
      } else if (key == "sleeping") {
        state.sleeping = value.get_bool().value();
      } else if (key == "checking") {
        state.checking = value.get_bool().value();
      } else if (key == "aborting") {
        state.aborting = value.get_bool().value();
      } else if (key == "outputs") {
        for (auto output : value.get_object()) {
          std::string name(output.unescaped_key().value());
          state.outputs[name] = std::string(output.value().get_string().value());
        }
      } else if (key == "failures") {
        for (auto item : value.get_array())
          state.failures.emplace_back(item.get_string().value());
      } else if (key == "error") {
        state.error = std::string(value.get_string().value());
      } else if (key == "operator_reason") {
        state.operator_reason = std::string(value.get_string().value());
      }
    }
  } catch (const simdjson::simdjson_error& e) {
    return make_error(std::string("a runbook run's journal state is not readable: ") + e.what());
  }
  return state;
}

}  // namespace shipmate::runbooks
