#include "bot/watcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <limits>

#include "common/timer.h"

namespace shipmate::bot {
namespace asio = boost::asio;

WatchPlan plan_watch(const std::vector<JobTiming>& jobs, EpochMillis now) {
  WatchPlan plan;
  plan.wake_at = std::numeric_limits<EpochMillis>::max();
  plan.next_due.reserve(jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const EpochMillis period = std::max<EpochMillis>(1, jobs[i].period.count());
    EpochMillis next = jobs[i].next_due;
    if (next <= now) {
      plan.due.push_back(i);
      next += period;
      if (next <= now)
        next = now + period;
    } else if (next > now + period) {
      next = now + period;
    }
    plan.next_due.push_back(next);
    plan.wake_at = std::min(plan.wake_at, next);
  }
  return plan;
}

struct Watcher::Impl {
  struct Job {
    std::string name;
    std::function<void()> run;
    std::size_t runs = 0;
  };

  Impl(asio::any_io_executor executor_in, Timers& timers_in, const Clock& clock_in)
      : executor(std::move(executor_in)), timers(timers_in), clock(clock_in) {}

  static asio::awaitable<void> loop(std::shared_ptr<Impl> self) {
    while (!self->stopped) {
      const EpochMillis now = self->clock.now_ms();
      WatchPlan plan = plan_watch(self->timings, now);
      for (std::size_t i = 0; i < self->timings.size(); ++i)
        self->timings[i].next_due = plan.next_due[i];
      for (const std::size_t index : plan.due) {
        Job& job = self->jobs[index];
        ++job.runs;
        try {
          job.run();
        } catch (const std::exception& e) {
          spdlog::error("watcher: {}: {}", job.name, e.what());
        }
        if (self->stopped)
          co_return;
      }
      if (self->timings.empty())
        co_return;
      const auto wait =
          std::chrono::milliseconds(std::max<EpochMillis>(0, plan.wake_at - self->clock.now_ms()));
      co_await self->timers.sleep_for(wait);
    }
  }

  asio::any_io_executor executor;
  Timers& timers;
  const Clock& clock;
  std::vector<Job> jobs;
  std::vector<JobTiming> timings;
  asio::cancellation_signal cancel;
  bool started = false;
  bool stopped = false;
};

Watcher::Watcher(asio::any_io_executor executor, Timers& timers, const Clock& clock)
    : impl_(std::make_shared<Impl>(std::move(executor), timers, clock)) {}

Watcher::~Watcher() {
  stop();
}

void Watcher::add(std::string name, std::chrono::milliseconds period, std::function<void()> job) {
  impl_->jobs.push_back(Impl::Job{std::move(name), std::move(job)});
  impl_->timings.push_back(JobTiming{period, 0});
}

std::vector<std::pair<std::string, std::chrono::milliseconds>> Watcher::jobs() const {
  std::vector<std::pair<std::string, std::chrono::milliseconds>> out;
  for (std::size_t i = 0; i < impl_->jobs.size(); ++i)
    out.emplace_back(impl_->jobs[i].name, impl_->timings[i].period);
  return out;
}

void Watcher::start() {
  if (impl_->started)
    return;
  impl_->started = true;
  const EpochMillis now = impl_->clock.now_ms();
  for (auto& timing : impl_->timings)
    timing.next_due = now + timing.period.count();
  asio::co_spawn(impl_->executor, Impl::loop(impl_),
                 asio::bind_cancellation_slot(impl_->cancel.slot(), [](std::exception_ptr) {}));
}

void Watcher::stop() {
  if (impl_->stopped)
    return;
  impl_->stopped = true;
  if (impl_->started)
    impl_->cancel.emit(asio::cancellation_type::terminal);
}

std::vector<std::size_t> Watcher::runs() const {
  std::vector<std::size_t> out;
  for (const auto& job : impl_->jobs)
    out.push_back(job.runs);
  return out;
}

}  // namespace shipmate::bot
