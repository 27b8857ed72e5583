#include "commands/deploy_runtime.h"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/timer.h"

namespace shipmate::commands {
namespace asio = boost::asio;

struct DeployRuntime::Entry {
  asio::cancellation_signal signal;
  bool cancelled = false;
};

DeployRuntime::DeployRuntime(Timers& timers) : timers_(timers), questions_(timers) {}

DeployRuntime::~DeployRuntime() = default;

DeployRuntime::Registration::~Registration() {
  if (runtime_ != nullptr)
    runtime_->running_.erase(id_);
}

DeployRuntime::Registration DeployRuntime::track(std::int64_t id) {
  running_[id] = std::make_unique<Entry>();
  return Registration(*this, id);
}

DeployRuntime::Entry* DeployRuntime::find(std::int64_t id) const {
  auto found = running_.find(id);
  return found == running_.end() ? nullptr : found->second.get();
}

bool DeployRuntime::is_running(std::int64_t id) const {
  return running_.count(id) > 0;
}

std::vector<std::int64_t> DeployRuntime::running() const {
  std::vector<std::int64_t> ids;
  for (const auto& [id, entry] : running_)
    ids.push_back(id);
  return ids;
}

bool DeployRuntime::cancelled(std::int64_t id) const {
  const Entry* entry = find(id);
  return entry != nullptr && entry->cancelled;
}

asio::awaitable<bool> DeployRuntime::sleep_for(std::int64_t id,
                                               std::chrono::milliseconds duration) {
  Entry* entry = find(id);
  if (entry == nullptr) {
    const bool slept = co_await timers_.sleep_for(duration);
    co_return slept;
  }
  if (entry->cancelled)
    co_return false;
  const auto executor = co_await asio::this_coro::executor;
  auto sleep = timers_.sleep_for(duration);
  const bool slept = co_await asio::co_spawn(
      executor, std::move(sleep),
      asio::bind_cancellation_slot(entry->signal.slot(), asio::use_awaitable));
  co_return slept;
}

asio::awaitable<QuestionOutcome> DeployRuntime::ask(std::int64_t id,
                                                    std::vector<std::string> choices,
                                                    std::chrono::milliseconds timeout,
                                                    MayAnswer may_answer) {
  Entry* entry = find(id);
  if (entry != nullptr && entry->cancelled)
    co_return QuestionOutcome{};
  auto question =
      questions_.ask(question_key(id), std::move(choices), timeout, std::move(may_answer));
  if (entry == nullptr) {
    auto outcome = co_await std::move(question);
    co_return outcome;
  }
  const auto executor = co_await asio::this_coro::executor;
  auto outcome = co_await asio::co_spawn(
      executor, std::move(question),
      asio::bind_cancellation_slot(entry->signal.slot(), asio::use_awaitable));
  co_return outcome;
}

namespace {

class OneDeployTimers final : public Timers {
 public:
  OneDeployTimers(DeployRuntime& runtime, std::int64_t id) : runtime_(runtime), id_(id) {}
  asio::awaitable<bool> sleep_for(std::chrono::milliseconds duration) override {
    const bool slept = co_await runtime_.sleep_for(id_, duration);
    co_return slept;
  }
  void cancel_all() override { runtime_.cancel(id_); }

 private:
  DeployRuntime& runtime_;
  std::int64_t id_;
};

}  // namespace

std::unique_ptr<Timers> DeployRuntime::timers_for(std::int64_t id) {
  return std::make_unique<OneDeployTimers>(*this, id);
}

std::string DeployRuntime::question_key(std::int64_t id) {
  return "deploy:" + std::to_string(id);
}

void DeployRuntime::cancel(std::int64_t id) {
  if (Entry* entry = find(id)) {
    entry->cancelled = true;
    entry->signal.emit(asio::cancellation_type::terminal);
  }
}

void DeployRuntime::cancel_all() {
  for (const auto id : running())
    cancel(id);
}

}  // namespace shipmate::commands
