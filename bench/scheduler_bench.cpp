// 10,000 schedules in the durable scheduler (scheduler/scheduler.h) on SQLite (a file, WAL):
//  1. the time to compute next due occurrences: ZonedCron-backed Timing::next_after across a mix
//     of expressions and zones (DST zones included), and Scheduler::start() loading all 10,000
//     (one SQLite read each plus its next occurrence);
//  2. firing lag under load: 10,000 one-off occurrences due within a few seconds of real time
//     (SteadyTimers, SystemClock), each claimed in SQLite and run as a job that holds a "chat
//     post" open for 20 ms, while a load coroutine keeps the event loop half busy. The lag is
//     when the job starts minus its nominal instant, in microseconds. Run with 1 schedule per
//     instant and with 32 sharing each instant.
//  3. the timed jobs (scheduler/timed_job.h) on the same loop: N locks whose expiries are
//     spread over the same 10 s as the one-offs, run by a lock-expiry job over the real
//     LockStore reads (MIN over the locks, due page, DELETE ... RETURNING per lock), each
//     occurrence claimed in timed_claims before it runs; its lag is reported apart from the
//     schedules'. And the next-due read of the job with N locks stored (LockStore::next_expiry: a
//     MIN over the locks' expiry index, SQLite migration 27).
//     `--jobs 0` runs the schedules alone (the workload an older build measures).
//
// Run: build-release/bench/shipmate_scheduler_bench [--schedules N] [--jobs N]
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/timer.h"
#include "scheduler/scheduler.h"
#include "storage/lock_store.h"

namespace {

using namespace shipmate;
namespace asio = boost::asio;
using Steady = std::chrono::steady_clock;

long long now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double percentile(std::vector<long long> values, double p) {
  if (values.empty())
    return 0;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1));
  return static_cast<double>(values[index]);
}

// The lock-expiry job as Shipmate runs it (commands/timed_jobs.cpp), without the chat post: the
// run records its lag, removes the lock if it still expires then, and holds a 20 ms "post".
class BenchLockExpiry final : public scheduler::TimedJob {
 public:
  BenchLockExpiry(storage::LockStore& locks, asio::io_context& io, std::vector<long long>& lags,
                  int& finished)
      : locks_(locks), io_(io), lags_(lags), finished_(finished) {}
  std::string_view name() const override { return "lock-expiry"; }
  std::optional<EpochMillis> next_due() override { return locks_.next_expiry(); }
  std::vector<scheduler::TimedOccurrence> due(EpochMillis now, int limit) override {
    std::vector<scheduler::TimedOccurrence> out;
    for (auto& [scope, at] : locks_.expired_by(now, limit))
      out.push_back({std::move(scope), at});
    return out;
  }
  asio::awaitable<Result<std::string>> run(scheduler::TimedOccurrence occurrence) override {
    lags_.push_back(now_us() - occurrence.nominal * 1000);
    (void)locks_.take_expired(occurrence.key, occurrence.nominal);
    asio::steady_timer post(io_, std::chrono::milliseconds(20));
    co_await post.async_wait(asio::use_awaitable);
    ++finished_;
    co_return std::string("announced");
  }

 private:
  storage::LockStore& locks_;
  asio::io_context& io_;
  std::vector<long long>& lags_;
  int& finished_;
};

const char* const kZones[] = {"UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe",
                              "Asia/Kolkata"};
const char* const kCrons[] = {"*/5 * * * *",  "0 9 * * mon-fri", "30 2 * * *",
                              "15 */3 * * *", "0 17 * * fri",    "0 0 1 * *"};

void next_due_bench(int schedules) {
  std::vector<scheduler::Timing> timings;
  for (int i = 0; i < schedules; ++i) {
    timings.push_back(scheduler::Timing::cron(kCrons[i % 6], kZones[i % 5]).value());
  }
  const EpochMillis from = SystemClock().now_ms();
  const auto start = Steady::now();
  EpochMillis earliest = INT64_MAX;
  for (const auto& timing : timings)
    earliest = std::min(earliest, timing.next_after(from).value_or(INT64_MAX));
  const double seconds = std::chrono::duration<double>(Steady::now() - start).count();
  std::printf(
      "next occurrence of %d cron schedules (6 expressions x 5 zones): %.1f ms, %.2f us each\n",
      schedules, seconds * 1e3, seconds * 1e6 / schedules);

  const auto dir = std::filesystem::temp_directory_path() / "shipmate_scheduler_bench_load";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto db = storage::Database::open((dir / "bench.db").string()).value();
  SystemClock clock;
  storage::ScheduleStore store(*db, clock);
  db->transaction([&] {
    for (int i = 0; i < schedules; ++i) {
      storage::ScheduleRecord record;
      record.name = "s" + std::to_string(i);
      record.cron = kCrons[i % 6];
      record.timezone = kZones[i % 5];
      record.action = "announce";
      record.created_by = "bench";
      record.watermark = from;
      (void)store.add(record);
    }
  });
  asio::io_context io;
  SteadyTimers timers(io.get_executor());
  scheduler::Scheduler sched(
      io.get_executor(), timers, clock, *db, store,
      [](const storage::ScheduleRecord&, EpochMillis) -> asio::awaitable<Result<std::string>> {
        co_return std::string();
      });
  const auto load_start = Steady::now();
  sched.start();
  const double load = std::chrono::duration<double>(Steady::now() - load_start).count();
  const auto due_start = Steady::now();
  const auto next = sched.next_due();
  const double due = std::chrono::duration<double>(Steady::now() - due_start).count();
  std::printf(
      "Scheduler::start() loading %zu schedules from SQLite: %.1f ms; next_due(): %.2f us (%s)\n",
      sched.stats().scheduled, load * 1e3, due * 1e6, next ? "found" : "none");
  sched.stop();
  io.run_for(std::chrono::milliseconds(50));
  std::filesystem::remove_all(dir);
}

// Next-due read of the lock-expiry job with `locks` locks stored (a MIN over the table).
void job_next_due_bench(int locks) {
  if (locks <= 0)
    return;
  const auto dir = std::filesystem::temp_directory_path() / "shipmate_scheduler_bench_jobs";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto db = storage::Database::open((dir / "bench.db").string()).value();
  SystemClock clock;
  storage::LockStore store(*db, clock);
  const EpochMillis from = clock.now_ms() + 3'600'000;
  db->transaction([&] {
    for (int i = 0; i < locks; ++i)
      (void)store.acquire("service:s" + std::to_string(i) + "@prod", "bench", "", from + i * 7);
  });
  constexpr int kReads = 1000;
  const auto start = Steady::now();
  EpochMillis sum = 0;
  for (int i = 0; i < kReads; ++i)
    sum += store.next_expiry().value_or(0);
  const double seconds = std::chrono::duration<double>(Steady::now() - start).count();
  std::printf(
      "lock-expiry job next_due() with %d locks stored (MIN over the expiry index): %.2f us "
      "each%s\n",
      locks, seconds * 1e6 / kReads, sum == 0 ? " (none?)" : "");
  std::filesystem::remove_all(dir);
}

void lag_bench(int schedules, int per_instant, int jobs) {
  const auto dir = std::filesystem::temp_directory_path() / "shipmate_scheduler_bench_lag";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto db = storage::Database::open((dir / "bench.db").string()).value();
  SystemClock clock;
  storage::ScheduleStore store(*db, clock);
  asio::io_context io;
  SteadyTimers timers(io.get_executor());

  // Due from 1 s from now, one instant per `per_instant` schedules, instants 1 ms apart when one
  // each (so 10,000 fire over 10 s) or spread over the same 10 s when 32 share each.
  const EpochMillis first = clock.now_ms() + 1000;
  const int instants = (schedules + per_instant - 1) / per_instant;
  const EpochMillis spacing = std::max<EpochMillis>(1, 10'000 / instants);
  db->transaction([&] {
    for (int i = 0; i < schedules; ++i) {
      storage::ScheduleRecord record;
      record.name = "s" + std::to_string(i);
      record.once = first + (i / per_instant) * spacing;
      record.action = "announce";
      record.created_by = "bench";
      record.watermark = clock.now_ms();
      (void)store.add(record);
    }
  });

  // The timed job's deadlines: `jobs` locks expiring over the same window, one per millisecond
  // step (shifted half a step from the one-offs so the two kinds interleave).
  storage::LockStore locks(*db, clock);
  db->transaction([&] {
    const EpochMillis lock_spacing = std::max<EpochMillis>(1, 10'000 / std::max(1, jobs));
    for (int i = 0; i < jobs; ++i) {
      (void)locks.acquire("service:s" + std::to_string(i) + "@prod", "bench", "",
                          first + i * lock_spacing + lock_spacing / 2);
    }
  });
  std::vector<long long> job_lags;
  job_lags.reserve(static_cast<std::size_t>(jobs));
  int jobs_finished = 0;

  std::vector<long long> lags;
  lags.reserve(static_cast<std::size_t>(schedules));
  int finished = 0;
  std::size_t peak_running = 0;
  bool done = false;
  scheduler::Scheduler* self = nullptr;
  scheduler::Scheduler sched(io.get_executor(), timers, clock, *db, store,
                             [&](const storage::ScheduleRecord&,
                                 EpochMillis nominal) -> asio::awaitable<Result<std::string>> {
                               lags.push_back(now_us() - nominal * 1000);
                               peak_running = std::max(peak_running, self->stats().running);
                               asio::steady_timer post(
                                   io, std::chrono::milliseconds(20));  // a chat post in flight
                               co_await post.async_wait(asio::use_awaitable);
                               ++finished;
                               co_return std::string("posted");
                             });
  self = &sched;
  if (jobs > 0)
    sched.add_job(std::make_unique<BenchLockExpiry>(locks, io, job_lags, jobs_finished));
  // Load: every millisecond, 0.5 ms of CPU on the loop.
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer tick(io);
        while (!done) {
          const auto busy_until = Steady::now() + std::chrono::microseconds(500);
          while (Steady::now() < busy_until) {
          }
          tick.expires_after(std::chrono::microseconds(500));
          co_await tick.async_wait(asio::use_awaitable);
        }
      },
      asio::detached);
  sched.start();
  const auto start = Steady::now();
  while (!done && Steady::now() - start < std::chrono::seconds(60)) {
    io.run_for(std::chrono::milliseconds(100));
    done = finished == schedules && jobs_finished == jobs;
  }
  sched.stop();
  io.run_for(std::chrono::milliseconds(50));
  std::printf(
      "firing lag, %d one-offs, %d per instant, loop 50%% busy, 20 ms jobs: p50 %.0f us, p99 %.0f "
      "us, max %.0f us; %d finished; peak %zu jobs in flight\n",
      schedules, per_instant, percentile(lags, 0.50), percentile(lags, 0.99), percentile(lags, 1.0),
      finished, peak_running);
  if (jobs > 0) {
    std::printf(
        "  with %d lock expiries on the same loop (timed job, claimed each): their lag p50 %.0f "
        "us, p99 %.0f us, max %.0f us; %d finished, %zu claims lost\n",
        jobs, percentile(job_lags, 0.50), percentile(job_lags, 0.99), percentile(job_lags, 1.0),
        jobs_finished, sched.stats().timed_lost);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  int schedules = 10'000;
  int jobs = -1;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--schedules") == 0)
      schedules = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--jobs") == 0)
      jobs = std::atoi(argv[i + 1]);
  }
  if (jobs < 0)
    jobs = schedules;
  spdlog::set_level(spdlog::level::err);
  next_due_bench(schedules);
  job_next_due_bench(jobs);
  lag_bench(schedules, 1, jobs);
  lag_bench(schedules, 32, jobs);
  return 0;
}
