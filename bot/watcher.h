// The watcher: one loop for every periodic job the running bot has (lock expiry announcements
// and approval expiry today; incident upkeep too; incident reminders run on their own alarm).
//
// plan_watch() is the decision, without I/O: given each job's period and next due time and the
// current time, which jobs are due now, when each is due next, and when to wake to ask again.
// Rules:
// - A job is due when its due time has come (next_due <= now). It then runs once, however late:
//   missed periods are not caught up in a burst. Its next due time is one period after the due
//   time it served, or one period from now when that is already past (the loop fell behind).
// - The wall clock may jump. A due time more than one period ahead (the clock went back) is
//   pulled in to one period from now, so a jump back never silences a job for the jump's length.
// - The loop wakes at the earliest next due time.
//
// Watcher runs the plan: jobs registered with add() before start() run on the event loop, in
// registration order when several are due together. It waits through a Timers (common/timer.h),
// so tests move time by hand. A job that throws is logged and runs again next period.
//
// Contract: event-loop thread only. stop() ends the loop through its cancellation signal; the
// Watcher must outlive the loop's last step (the App keeps it until the loop has ended or the
// event loop has stopped).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "common/clock.h"

namespace shipmate {
class Timers;
}

namespace shipmate::bot {

struct JobTiming {
  std::chrono::milliseconds period;
  EpochMillis next_due = 0;
};

struct WatchPlan {
  std::vector<std::size_t> due;       // indices of the jobs to run now, in order
  std::vector<EpochMillis> next_due;  // every job's due time after this step
  EpochMillis wake_at = 0;            // when to ask again (the earliest next_due)
};

WatchPlan plan_watch(const std::vector<JobTiming>& jobs, EpochMillis now);

class Watcher {
 public:
  Watcher(boost::asio::any_io_executor executor, Timers& timers, const Clock& clock);
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // A job first due one period after start().
  void add(std::string name, std::chrono::milliseconds period, std::function<void()> job);
  void start();
  void stop();
  // Times each job has run (tests, logs).
  std::vector<std::size_t> runs() const;
  // Each job's name and period, in registration order (tests, logs).
  std::vector<std::pair<std::string, std::chrono::milliseconds>> jobs() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace shipmate::bot
