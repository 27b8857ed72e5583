#include "scheduler/scheduler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/redact.h"
#include "common/timer.h"
#include "storage/timed_claims.h"

namespace shipmate::scheduler {
namespace asio = boost::asio;

Result<Timing> timing_of(const storage::ScheduleRecord& record) {
  if (record.cron.empty()) {
    if (!record.once)
      return make_error("schedule #" + std::to_string(record.id) + " has neither a cron nor a time",
                        ErrorKind::invalid);
    return Timing::once(*record.once);
  }
  return Timing::cron(record.cron, record.timezone);
}

MisfirePolicy misfire_of(const storage::ScheduleRecord& record) {
  MisfirePolicy policy;
  if (auto parsed = parse_misfire(record.misfire))
    policy.policy = *parsed;
  policy.lateness_limit_ms = record.lateness_ms;
  return policy;
}

namespace {
// The longest single sleep; the loop re-reads the clock at least this often, so a wall-clock
// jump is noticed within it.
constexpr EpochMillis kLongestSleepMs = 60'000;
// Timed-job occurrences read per pass; a full page is followed by another pass at once.
constexpr int kJobPage = 200;
// How long a claim on a timed-job occurrence keeps others off it; after that another replica
// may take it (its claimant died). A restart of the same holder releases it at once.
constexpr EpochMillis kClaimLeaseMs = 10LL * 60 * 1000;
// Finished claims are kept this long (the deadlines they name have moved on).
constexpr EpochMillis kClaimMemoryMs = 7LL * 24 * 60 * 60 * 1000;
// A job whose deadlines cannot be read is asked again this much later.
constexpr EpochMillis kJobRetryMs = 60'000;
}  // namespace

struct Scheduler::Impl {
  Impl(asio::any_io_executor executor_in, Timers& timers_in, const Clock& clock_in,
       storage::Database& database_in, storage::ScheduleStore& store_in, Job job_in)
      : executor(std::move(executor_in)),
        timers(timers_in),
        clock(clock_in),
        database(database_in),
        store(store_in),
        job(std::move(job_in)),
        claims(std::make_unique<storage::TimedClaimStore>(database_in, clock_in)) {}

  struct JobSlot {
    std::unique_ptr<TimedJob> job;
    EpochMillis wake_at = kNever;
    std::set<std::pair<std::string, EpochMillis>> running;  // occurrences running here
    // Occurrences run here in the last kContendedRetryMs, by when they finished: one whose row
    // still stands after its run (a storage failure) waits that long before it runs again, so a
    // job that cannot settle never spins.
    std::map<std::pair<std::string, EpochMillis>, EpochMillis> finished;
  };

  static std::string_view job_name(const JobSlot& slot) { return slot.job->name(); }

  // Re-reads every job's earliest deadline (after a change, at start, after a run finished).
  void refresh_jobs() {
    const EpochMillis now = clock.now_ms();
    for (auto& slot : jobs) {
      try {
        slot.wake_at = next_job_wake(slot.job->next_due(), now, true);
      } catch (const std::exception& e) {
        spdlog::error("scheduler: reading the next {} deadline failed: {}", job_name(slot),
                      redact(e.what()));
        slot.wake_at = now + kJobRetryMs;
      }
    }
    jobs_dirty = false;
  }

  // One pass over a job whose wake-up has come: claim and start what is due.
  void pass(std::size_t index, EpochMillis now) {
    JobSlot& slot = jobs[index];
    std::erase_if(slot.finished,
                  [now](const auto& entry) { return entry.second + kContendedRetryMs <= now; });
    const auto due = slot.job->due(now, kJobPage);
    for (const auto& occurrence : due) {
      if (slot.running.contains({occurrence.key, occurrence.nominal}) ||
          slot.finished.contains({occurrence.key, occurrence.nominal}))
        continue;
      if (!claims->claim(slot.job->name(), occurrence.key, occurrence.nominal, kClaimLeaseMs)) {
        ++stats.timed_lost;
        continue;
      }
      ++stats.timed_fired;
      slot.running.emplace(occurrence.key, occurrence.nominal);
      asio::co_spawn(executor, run_timed(self.lock(), index, occurrence), asio::detached);
    }
    const bool more = static_cast<int>(due.size()) == kJobPage;
    slot.wake_at = next_job_wake(slot.job->next_due(), now, more);
  }

  static asio::awaitable<void> run_timed(std::shared_ptr<Impl> self, std::size_t index,
                                         TimedOccurrence occurrence) {
    JobSlot& slot = self->jobs[index];
    const std::string name(slot.job->name());
    Result<std::string> outcome = make_error("the job did not report");
    try {
      auto work = slot.job->run(occurrence);
      outcome = co_await std::move(work);
    } catch (const std::exception& e) {
      outcome = make_error(e.what());
    }
    try {
      self->claims->finish(name, occurrence.key, occurrence.nominal);
    } catch (const std::exception& e) {
      spdlog::error("scheduler: recording the {} of {} failed: {}", name, occurrence.key,
                    redact(e.what()));
    }
    if (!outcome) {
      spdlog::warn("scheduler: {} of {} (due {}) failed: {}", name, occurrence.key,
                   format_utc(occurrence.nominal), redact(outcome.error().message));
    } else {
      spdlog::debug("scheduler: {} of {} (due {}): {}", name, occurrence.key,
                    format_utc(occurrence.nominal), *outcome);
    }
    slot.running.erase({occurrence.key, occurrence.nominal});
    slot.finished[{occurrence.key, occurrence.nominal}] = self->clock.now_ms();
    self->jobs_dirty = true;
    self->wake.emit(asio::cancellation_type::terminal);
  }

  // Runs every job whose wake-up has come; returns the earliest wake-up after.
  EpochMillis run_jobs(EpochMillis now) {
    if (jobs_dirty)
      refresh_jobs();
    EpochMillis earliest = kNever;
    for (std::size_t i = 0; i < jobs.size() && !stopped; ++i) {
      if (jobs[i].wake_at <= now) {
        try {
          pass(i, now);
        } catch (const std::exception& e) {
          spdlog::error("scheduler: {}: {}", job_name(jobs[i]), redact(e.what()));
          jobs[i].wake_at = now + kJobRetryMs;
        }
      }
      earliest = std::min(earliest, jobs[i].wake_at);
    }
    return earliest;
  }

  void unqueue(std::int64_t id) {
    auto found = due_of.find(id);
    if (found == due_of.end())
      return;
    queue.erase({found->second, id});
    due_of.erase(found);
  }

  void enqueue(std::int64_t id, EpochMillis due) {
    unqueue(id);
    queue.emplace(due, id);
    due_of.emplace(id, due);
  }

  // Puts an active schedule in the queue at its first occurrence after its watermark.
  void load(const storage::ScheduleRecord& record) {
    unqueue(record.id);
    if (record.state != "active")
      return;
    auto timing = timing_of(record);
    if (!timing) {
      spdlog::error("schedule #{} '{}' cannot run: {}", record.id, record.name,
                    timing.error().message);
      return;
    }
    if (auto next = timing->next_after(record.watermark))
      enqueue(record.id, *next);
  }

  void process(std::int64_t id, EpochMillis now) {
    auto record = store.get(id);
    if (!record || record->state != "active")
      return;
    auto timing = timing_of(*record);
    if (!timing)
      return;
    const OccurrencePlan plan =
        plan_occurrences(*timing, misfire_of(*record), record->watermark, now);
    std::vector<EpochMillis> claimed;
    database.transaction([&] {
      for (const auto& skipped : plan.skipped)
        store.record_skipped(id, skipped.nominal, skipped.why);
      for (const EpochMillis nominal : plan.fire) {
        if (store.claim(id, nominal))
          claimed.push_back(nominal);
        else
          ++stats.lost_claims;
      }
      store.advance(id, plan.watermark, plan.next_due);
      if (!plan.next_due && !timing->recurring())
        store.set_state(id, "done");
    });
    if (plan.skipped_total > 0) {
      stats.skipped += plan.skipped_total;
      spdlog::warn(
          "schedule #{} '{}': skipped {} occurrence(s){}{}", id, record->name, plan.skipped_total,
          plan.skipped.empty() ? "" : ", first " + format_utc(plan.skipped.front().nominal),
          plan.skipped.empty() ? "" : ": " + plan.skipped.front().why);
    }
    if (plan.next_due)
      enqueue(id, *plan.next_due);
    for (const EpochMillis nominal : claimed) {
      ++stats.fired;
      ++stats.running;
      asio::co_spawn(executor, run(self.lock(), *record, nominal), asio::detached);
    }
  }

  static asio::awaitable<void> run(std::shared_ptr<Impl> self, storage::ScheduleRecord record,
                                   EpochMillis nominal) {
    Result<std::string> outcome = make_error("the job did not report");
    try {
      auto work = self->job(record, nominal);
      outcome = co_await std::move(work);
    } catch (const std::exception& e) {
      spdlog::error("schedule #{} '{}' at {}: {}", record.id, record.name, format_utc(nominal),
                    e.what());
      outcome = make_error(e.what());
    }
    --self->stats.running;
    try {
      if (outcome)
        self->store.finish(record.id, nominal, "done", *outcome);
      else
        self->store.finish(record.id, nominal, "failed", outcome.error().message);
    } catch (const std::exception& e) {
      spdlog::error("schedule #{}: recording the run failed: {}", record.id, e.what());
    }
    if (!outcome) {
      spdlog::warn("schedule #{} '{}' at {} failed: {}", record.id, record.name,
                   format_utc(nominal), outcome.error().message);
    }
  }

  static asio::awaitable<void> loop(std::shared_ptr<Impl> self) {
    // co_spawn runs a coroutine inline when called on the loop: the first step waits for the
    // start-up that called start() to finish (and say it is ready) first.
    co_await asio::post(self->executor, asio::use_awaitable);
    while (!self->stopped) {
      ++self->stats.wakeups;
      const EpochMillis now = self->clock.now_ms();
      while (!self->queue.empty() && self->queue.begin()->first <= now && !self->stopped) {
        const std::int64_t id = self->queue.begin()->second;
        self->unqueue(id);
        try {
          self->process(id, now);
        } catch (const std::exception& e) {
          // A storage failure: try this schedule again later instead of losing it.
          spdlog::error("schedule #{}: {}", id, e.what());
          self->enqueue(id, now + kLongestSleepMs);
        }
      }
      if (self->stopped)
        break;
      const EpochMillis jobs_wake = self->run_jobs(now);
      if (self->stopped)
        break;
      // A run that finished inline, or a change made during this step: read again first.
      if (self->jobs_dirty)
        continue;
      EpochMillis wait = kLongestSleepMs;
      if (!self->queue.empty())
        wait = std::min(wait, self->queue.begin()->first - self->clock.now_ms());
      if (jobs_wake != kNever)
        wait = std::min(wait, jobs_wake - self->clock.now_ms());
      if (wait <= 0)
        continue;
      auto sleeper = self->timers.sleep_for(std::chrono::milliseconds(wait));
      auto token = asio::bind_cancellation_slot(self->wake.slot(), asio::use_awaitable);
      try {
        co_await asio::co_spawn(self->executor, std::move(sleeper), token);
      } catch (const std::exception& e) {
        spdlog::debug("scheduler: sleep ended: {}", e.what());
      }
      // The slot held co_spawn's cancellation handler for this sleep; nothing may reach it now.
      self->wake.slot().clear();
    }
  }

  asio::any_io_executor executor;
  Timers& timers;
  const Clock& clock;
  storage::Database& database;
  storage::ScheduleStore& store;
  Job job;
  std::vector<JobSlot> jobs;
  std::unique_ptr<storage::TimedClaimStore> claims;
  bool jobs_dirty = true;
  std::weak_ptr<Impl> self;
  std::set<std::pair<EpochMillis, std::int64_t>> queue;
  std::unordered_map<std::int64_t, EpochMillis> due_of;
  asio::cancellation_signal wake;
  Stats stats;
  bool started = false;
  bool stopped = false;
};

Scheduler::Scheduler(asio::any_io_executor executor, Timers& timers, const Clock& clock,
                     storage::Database& database, storage::ScheduleStore& store, Job job)
    : impl_(std::make_shared<Impl>(std::move(executor), timers, clock, database, store,
                                   std::move(job))) {
  impl_->self = impl_;
}

Scheduler::~Scheduler() {
  stop();
}

void Scheduler::start() {
  if (impl_->started)
    return;
  impl_->started = true;
  for (const auto& run : impl_->store.take_interrupted()) {
    spdlog::warn("schedule #{}: the run for {} was cut off by a restart; it is not run again",
                 run.schedule_id, format_utc(run.nominal_at));
  }
  for (const auto& record : impl_->store.active())
    impl_->load(record);
  if (!impl_->jobs.empty()) {
    if (const int released = impl_->claims->release_mine(); released > 0) {
      spdlog::warn("scheduler: {} timed job(s) a restart cut off run again now", released);
    }
    impl_->claims->prune_done_before(impl_->clock.now_ms() - kClaimMemoryMs);
  }
  impl_->jobs_dirty = true;
  asio::co_spawn(impl_->executor, Impl::loop(impl_), asio::detached);
}

void Scheduler::stop() {
  if (impl_->stopped)
    return;
  impl_->stopped = true;
  impl_->wake.emit(asio::cancellation_type::terminal);
}

void Scheduler::add_job(std::unique_ptr<TimedJob> job) {
  Impl::JobSlot slot;
  slot.job = std::move(job);
  impl_->jobs.push_back(std::move(slot));
}

void Scheduler::set_claim_holder(std::string holder) {
  impl_->claims =
      std::make_unique<storage::TimedClaimStore>(impl_->database, impl_->clock, std::move(holder));
}

std::vector<std::string> Scheduler::job_names() const {
  std::vector<std::string> out;
  for (const auto& slot : impl_->jobs)
    out.emplace_back(slot.job->name());
  return out;
}

void Scheduler::jobs_changed() {
  impl_->jobs_dirty = true;
  if (impl_->started && !impl_->stopped)
    impl_->wake.emit(asio::cancellation_type::terminal);
}

void Scheduler::changed(std::int64_t id) {
  if (auto record = impl_->store.get(id))
    impl_->load(*record);
  else
    impl_->unqueue(id);
  impl_->wake.emit(asio::cancellation_type::terminal);
}

Scheduler::Stats Scheduler::stats() const {
  Stats out = impl_->stats;
  out.scheduled = impl_->queue.size();
  for (const auto& slot : impl_->jobs)
    out.timed_running += slot.running.size();
  return out;
}

std::optional<EpochMillis> Scheduler::next_due() const {
  std::optional<EpochMillis> out;
  if (!impl_->queue.empty())
    out = impl_->queue.begin()->first;
  for (const auto& slot : impl_->jobs) {
    if (slot.wake_at != kNever && (!out || slot.wake_at < *out))
      out = slot.wake_at;
  }
  return out;
}

}  // namespace shipmate::scheduler
