// The scheduler: one loop that runs every durable timed job (announcements, digests) at its
// occurrences, exactly once each, across restarts.
//
// How it works
// - Schedules live in SQLite (storage/schedule_store.h). start() loads the active ones, reports
//   runs that a crash cut off (claimed, never finished: marked `interrupted`, not run again), and
//   starts the loop.
// - The loop keeps every active schedule's next due instant in an ordered queue, wakes at the
//   earliest (through the Timers seam, common/timer.h, so tests move manual time), and for each
//   schedule that is due asks plan_occurrences() (scheduler/plan.h) what to fire and what to skip.
//   Skips are logged and stored as `skipped` runs. Each occurrence to fire is claimed in SQLite
//   first (ScheduleStore::claim); only the call that inserted the claim runs the job, so a
//   restart or a second process never runs an occurrence twice. The watermark is stored in the
//   same transaction as the claims, and a one-off whose occurrence is decided becomes `done`.
// - Jobs run as their own coroutines, so a slow job (a post to a slow chat API) does not hold up
//   other schedules. A job's Result sets the run's outcome (done / failed with its message); a
//   job that throws is logged and recorded failed.
// - changed(id) reloads one schedule after a command added, paused, resumed or cancelled it, and
//   wakes the loop, so a schedule due in a second fires in a second without polling.
// - Timed jobs (timed_job.h: lock expiry, approval timeouts, incident reminders, room archiving)
//   share the loop. For each the loop keeps one wake-up time, the job's earliest standing
//   deadline (next_job_wake() in plan.h); at that time it reads the occurrences due, claims each
//   in the database (storage/timed_claims.h: keyed by job, key and nominal instant, with a lease),
//   and runs only what it claimed, each as its own coroutine, marking the claim done after.
//   jobs_changed() (a command moved a deadline: a lock taken, an approval requested, an incident
//   updated or resolved) re-reads every job's earliest deadline and wakes the loop. A run that
//   finishes does the same. With nothing due the loop still wakes once a minute (kLongestSleep)
//   and re-reads the clock; deadlines are re-read only when told or when due.
// - start() gives up the unfinished claims of this holder (a crash cut them off: they run again,
//   which every job is written to survive) and forgets done claims older than a week.
//
// Contract: event-loop thread only, for every member and for the job callback. The Scheduler
// must outlive the loop and every job it started (the App stops it and drains the loop before
// destroying it). stop() ends the loop at once; jobs already running finish on their own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "common/clock.h"
#include "common/result.h"
#include "scheduler/plan.h"
#include "scheduler/timed_job.h"
#include "storage/schedule_store.h"

namespace shipmate {
class Timers;
}

namespace shipmate::scheduler {

// The Timing and misfire policy a stored schedule describes; an error when the row is invalid
// (a zone removed from the system database, a hand-edited cron).
Result<Timing> timing_of(const storage::ScheduleRecord& record);
MisfirePolicy misfire_of(const storage::ScheduleRecord& record);

class Scheduler {
 public:
  // Runs one occurrence. The string is a short detail stored with the run ("posted to #ops").
  using Job = std::function<boost::asio::awaitable<Result<std::string>>(
      const storage::ScheduleRecord& schedule, EpochMillis nominal)>;

  Scheduler(boost::asio::any_io_executor executor, Timers& timers, const Clock& clock,
            storage::Database& database, storage::ScheduleStore& store, Job job);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // A timed job for the loop (before start()). `holder` names this process's claims (the
  // replica name; "" for a single process).
  void add_job(std::unique_ptr<TimedJob> job);
  void set_claim_holder(std::string holder);
  // The timed jobs' names, in the order they were added.
  std::vector<std::string> job_names() const;
  // Some deadline of a timed job moved or appeared: re-read them and wake the loop.
  void jobs_changed();

  void start();
  void stop();
  // Reloads schedule `id` from the store (added, paused, resumed, cancelled, edited) and wakes
  // the loop to reconsider it.
  void changed(std::int64_t id);

  struct Stats {
    std::size_t scheduled = 0;    // schedules in the queue
    std::size_t fired = 0;        // occurrences claimed and started by this process
    std::size_t lost_claims = 0;  // occurrences another claimant had already taken
    std::size_t skipped = 0;
    std::size_t running = 0;      // jobs started and not finished
    std::size_t timed_fired = 0;  // timed-job occurrences claimed and run here
    std::size_t timed_lost = 0;   // timed-job occurrences another claimant held
    std::size_t timed_running = 0;
    std::size_t wakeups = 0;  // times the loop woke (a deadline, a change, the idle minute)
  };
  Stats stats() const;
  // When the loop next wakes for a schedule (nullopt: nothing scheduled).
  std::optional<EpochMillis> next_due() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace shipmate::scheduler
