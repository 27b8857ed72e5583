// What a stopping App does with the deploys and runbook runs it has in hand: the I/O half of
// commands/handover.h, which decides.
//
// Contract
// - Event-loop thread only. The Services and the RunbookRunner must outlive it.
// - stop() is the first stage of a stop (App::shutdown, synchronous). StopMode::cancel does what
//   a stop always did: the intake stops recording, running deploys are recorded as cancelled
//   (each handed to `announce`), their waits end, runbook runs stop where they are, journaled
//   for the next start. StopMode::hand_over parks every deploy a survivor can resume and every
//   runbook run (commands::hand_over_running_deploys, RunbookRunner::hand_over: persisted
//   before their coroutines are woken) and lets the other deploys run on.
// - settle() is the drain's first step: in StopMode::hand_over it waits (through
//   Services::timers, looking every 100 ms) for the deploys stop() let run on, the chat
//   commands still running and the runbook runs still under way (so their last replies are
//   recorded and released), until commands::kHandoverBudgetMs after stop(); deploys still
//   running then are cancelled as in StopMode::cancel; then the intake stops. Meanwhile the
//   replica keeps renewing its lease (the App releases it at the end of the drain), so nobody
//   adopts its replies while it still sends them. Immediate in StopMode::cancel.
// - Storage errors (a database cut off) are logged and end that part of the stop: the stop goes
//   on, and whatever was not parked is taken over once this replica's lease has lapsed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "commands/handover.h"

namespace shipmate::commands {
struct Services;
class RunbookRunner;
}  // namespace shipmate::commands

namespace shipmate::bot {

class CommandIntake;

class WorkInHand {
 public:
  // `announce` gets one sentence per deploy the stop cancelled.
  WorkInHand(commands::Services& services, commands::RunbookRunner& runner, CommandIntake& intake,
             std::function<void(const std::string&)> announce);

  void stop(commands::StopMode mode, const std::string& why);
  boost::asio::awaitable<void> settle(std::string why);

  // What stop() did, for logs and tests.
  std::size_t parked() const { return parked_; }

 private:
  void cancel_running(const std::string& why);
  void stop_intake();

  commands::Services& services_;
  commands::RunbookRunner& runner_;
  CommandIntake& intake_;
  std::function<void(const std::string&)> announce_;
  commands::StopMode mode_ = commands::StopMode::cancel;
  std::vector<std::int64_t> finishing_;
  EpochMillis deadline_ = 0;
  std::size_t parked_ = 0;
};

}  // namespace shipmate::bot
