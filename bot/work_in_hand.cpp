#include "bot/work_in_hand.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "bot/command_intake.h"
#include "commands/context.h"
#include "commands/deploy_recovery.h"
#include "commands/deploy_runtime.h"
#include "commands/runbook_runner.h"
#include "common/redact.h"
#include "common/timer.h"

namespace shipmate::bot {

namespace {
constexpr std::chrono::milliseconds kLookEvery{100};
}  // namespace

WorkInHand::WorkInHand(commands::Services& services, commands::RunbookRunner& runner,
                       CommandIntake& intake, std::function<void(const std::string&)> announce)
    : services_(services), runner_(runner), intake_(intake), announce_(std::move(announce)) {}

void WorkInHand::stop_intake() {
  try {
    intake_.stop();
  } catch (const std::exception& failure) {
    spdlog::error("stopping: finished commands could not be recorded: {}", redact(failure.what()));
  }
}

void WorkInHand::cancel_running(const std::string& why) {
  try {
    for (const auto& deploy : commands::cancel_running_deploys(services_, "cancelled: " + why)) {
      announce_("Deploy #" + std::to_string(deploy.id) + " of " + deploy.service + " " +
                deploy.version + " was cancelled: " + why);
    }
  } catch (const std::exception& failure) {
    // Cut off from the database: nothing can be recorded; whoever takes the deploys over
    // settles them once this replica's lease has lapsed.
    spdlog::error("stopping: running deploys could not be recorded as cancelled: {}",
                  redact(failure.what()));
  }
  // Deploys waiting out a bake time or a decision are over (recorded as cancelled above, or
  // past recording): their cancellation signals end those waits so they see it and end.
  commands::cancel_all_deploy_waits(services_);
}

void WorkInHand::stop(commands::StopMode mode, const std::string& why) {
  mode_ = mode;
  if (mode == commands::StopMode::cancel) {
    stop_intake();
    cancel_running(why);
    // Runbook runs stop where they are (journaled); the next start reconciles them.
    try {
      runner_.shutdown();
    } catch (const std::exception& failure) {
      spdlog::error("stopping: runbook runs could not be journaled: {}", redact(failure.what()));
    }
    return;
  }
  deadline_ = services_.clock.now_ms() + commands::kHandoverBudgetMs;
  try {
    auto handover = commands::hand_over_running_deploys(services_, why);
    parked_ = handover.parked.size();
    finishing_ = std::move(handover.finishing);
  } catch (const std::exception& failure) {
    spdlog::error("stopping: deploys could not be handed over: {}", redact(failure.what()));
  }
  try {
    runner_.shutdown();
    runner_.hand_over(why);
  } catch (const std::exception& failure) {
    spdlog::error("stopping: runbook runs could not be handed over: {}", redact(failure.what()));
  }
  spdlog::info("stopping: {} deploy(s) handed over, {} to finish here first", parked_,
               finishing_.size());
}

boost::asio::awaitable<void> WorkInHand::settle(std::string why) {
  if (mode_ == commands::StopMode::cancel)
    co_return;
  while (true) {
    std::erase_if(finishing_,
                  [this](std::int64_t id) { return !services_.runtime.is_running(id); });
    // The runs' coroutines and the commands end once woken; their last replies are recorded
    // before the intake stops. (A parked deploy is not waited for: a target operation may hold
    // its coroutine, and what it still says goes to the survivor with this replica's replies.)
    const std::size_t still = finishing_.size() + intake_.running() + runner_.driving();
    const auto step = commands::drain_step(still, services_.clock.now_ms(), deadline_);
    if (step == commands::DrainStep::let_go)
      break;
    if (step == commands::DrainStep::cancel_rest) {
      spdlog::warn("stopping: {} deploy(s), {} command(s) and {} run(s) did not finish within {} s",
                   finishing_.size(), intake_.running(), runner_.driving(),
                   commands::kHandoverBudgetMs / 1000);
      if (!finishing_.empty())
        cancel_running(why);
      break;
    }
    const auto pause = kLookEvery;
    const bool slept = co_await services_.timers.sleep_for(pause);
    if (!slept)  // the timers were stopped: nothing can wait any more
      deadline_ = services_.clock.now_ms();
  }
  finishing_.clear();
  stop_intake();  // the finished commands' replies are recorded; nothing more is
}

}  // namespace shipmate::bot
