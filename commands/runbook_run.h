// Internal to the runbook runner (runbook_runner.cpp, runbook_effects.cpp): one run in memory and
// what carrying out one step produced.
//
// Contract: event-loop thread only; a Run is shared by the coroutine that drives it and the
// commands (abort, confirm, status) that look at it, and is owned by RunbookRunner::runs_.
#pragma once

#include <boost/asio/cancellation_signal.hpp>
#include <memory>
#include <optional>
#include <string>

#include "commands/runbook_runner.h"

namespace shipmate::commands {

struct RunbookRunner::Run {
  Run(const runbooks::Definition& definition_in, runbooks::RunState state)
      : definition(definition_in), engine(definition_in, std::move(state)) {}

  std::int64_t id = 0;
  const runbooks::Definition& definition;
  runbooks::BoundParams params;
  runbooks::Engine engine;
  Caller starter;
  Conversation* conversation = nullptr;  // where it reports
  std::unique_ptr<Conversation> owned;   // set when the runner opened the conversation
  MessageRef status_ref;
  EpochMillis started_at = 0;
  boost::asio::cancellation_signal cancel;  // ends the current wait (sleep, confirmation)
  std::optional<std::string> abort_by;      // set by `runbook abort` while a step runs
  bool driving = false;
  bool hash_changed = false;  // the definition changed since the run began: only abort works
  storage::RunFence fence;    // its owner replica and epoch: every journal write checks both
  // When the wait step at (phase, index) began probing, for its elapsed time.
  std::optional<std::pair<int, std::size_t>> wait_of;
  EpochMillis wait_started = 0;

  std::string key() const { return "runbook:" + std::to_string(id); }
  std::string label() const { return "Runbook " + definition.name + " #" + std::to_string(id); }
};

struct RunbookRunner::Outcome {
  runbooks::Event event;
  std::string detail;  // one line for the thread and the journal
  std::string log;     // full output (exec), redacted
  bool ok = false;
};

// Messages carry text through redact() at the transport; these helpers keep one line short.
std::string first_line(std::string_view text, std::size_t limit = 300);
std::string tail_of(std::string_view text, std::size_t limit);

}  // namespace shipmate::commands
