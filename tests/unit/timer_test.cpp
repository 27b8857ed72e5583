#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>

#include "common/clock.h"
#include "common/timer.h"

namespace shipmate {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

struct Finished {
  std::string name;
  bool reached;
};

// Starts a sleep as its own coroutine; its outcome is appended to `log` when it completes.
void start_sleep(asio::io_context& ioc, Timers& timers, std::string name, milliseconds duration,
                 std::vector<Finished>& log, asio::cancellation_slot slot = {}) {
  auto body = [](Timers& t, std::string n, milliseconds d,
                 std::vector<Finished>& out) -> asio::awaitable<void> {
    const bool reached = co_await t.sleep_for(d);
    out.push_back({n, reached});
  };
  asio::co_spawn(ioc, body(timers, std::move(name), duration, log),
                 asio::bind_cancellation_slot(slot, [](std::exception_ptr e) {
                   if (e)
                     std::rethrow_exception(e);
                 }));
}

// Runs every handler that is ready. restart(): a loop that ran out of work counts as stopped.
void drain(asio::io_context& ioc) {
  ioc.restart();
  ioc.poll();
}

std::vector<std::string> names(const std::vector<Finished>& log) {
  std::vector<std::string> out;
  for (const auto& entry : log)
    out.push_back(entry.name + (entry.reached ? ":reached" : ":cancelled"));
  return out;
}

TEST(ManualTimers, AdvanceCompletesSleepsInDeadlineOrder) {
  asio::io_context ioc;
  ManualTimers timers(ioc.get_executor());
  std::vector<Finished> log;
  start_sleep(ioc, timers, "c", 30ms, log);
  start_sleep(ioc, timers, "a", 10ms, log);
  start_sleep(ioc, timers, "b", 20ms, log);
  start_sleep(ioc, timers, "a2", 10ms, log);  // same deadline as "a", started later
  drain(ioc);
  EXPECT_EQ(timers.sleeping(), 4u);
  EXPECT_TRUE(log.empty());

  timers.advance(100ms);
  EXPECT_EQ(timers.sleeping(), 0u);
  drain(ioc);
  EXPECT_EQ(names(log),
            (std::vector<std::string>{"a:reached", "a2:reached", "b:reached", "c:reached"}));
  EXPECT_EQ(timers.now(), 100ms);
}

TEST(ManualTimers, PartialAdvanceCompletesNothingEarly) {
  asio::io_context ioc;
  ManualTimers timers(ioc.get_executor());
  std::vector<Finished> log;
  start_sleep(ioc, timers, "short", 50ms, log);
  start_sleep(ioc, timers, "long", 100ms, log);
  drain(ioc);

  timers.advance(49ms);
  drain(ioc);
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(timers.sleeping(), 2u);

  timers.advance(1ms);  // exactly at the first deadline
  drain(ioc);
  EXPECT_EQ(names(log), (std::vector<std::string>{"short:reached"}));
  EXPECT_EQ(timers.sleeping(), 1u);

  timers.advance(49ms);
  drain(ioc);
  EXPECT_EQ(log.size(), 1u);
  timers.advance(1ms);
  drain(ioc);
  EXPECT_EQ(names(log), (std::vector<std::string>{"short:reached", "long:reached"}));
}

TEST(ManualTimers, DeadlineCountsFromWhenTheSleepStarted) {
  asio::io_context ioc;
  ManualTimers timers(ioc.get_executor());
  std::vector<Finished> log;
  timers.advance(1000ms);
  start_sleep(ioc, timers, "late", 10ms, log);
  drain(ioc);
  timers.advance(9ms);
  drain(ioc);
  EXPECT_TRUE(log.empty());
  timers.advance(1ms);
  drain(ioc);
  EXPECT_EQ(names(log), (std::vector<std::string>{"late:reached"}));
}

TEST(ManualTimers, CancellationSlotEndsOneSleepWithFalse) {
  asio::io_context ioc;
  ManualTimers timers(ioc.get_executor());
  std::vector<Finished> log;
  asio::cancellation_signal signal;
  start_sleep(ioc, timers, "cancelled", 10ms, log, signal.slot());
  start_sleep(ioc, timers, "kept", 10ms, log);
  drain(ioc);
  ASSERT_EQ(timers.sleeping(), 2u);

  signal.emit(asio::cancellation_type::terminal);
  drain(ioc);
  EXPECT_EQ(names(log), (std::vector<std::string>{"cancelled:cancelled"}));
  EXPECT_EQ(timers.sleeping(), 1u);

  timers.advance(10ms);
  drain(ioc);
  EXPECT_EQ(names(log), (std::vector<std::string>{"cancelled:cancelled", "kept:reached"}));
}

TEST(ManualTimers, CancelAllEndsEveryPendingSleepWithFalse) {
  asio::io_context ioc;
  ManualTimers timers(ioc.get_executor());
  std::vector<Finished> log;
  start_sleep(ioc, timers, "a", 10ms, log);
  start_sleep(ioc, timers, "b", 1h, log);
  drain(ioc);
  timers.cancel_all();
  EXPECT_EQ(timers.sleeping(), 0u);
  drain(ioc);
  EXPECT_EQ(names(log), (std::vector<std::string>{"a:cancelled", "b:cancelled"}));

  // Sleeps started after cancel_all() wait normally.
  start_sleep(ioc, timers, "after", 5ms, log);
  drain(ioc);
  EXPECT_EQ(timers.sleeping(), 1u);
  timers.advance(5ms);
  drain(ioc);
  EXPECT_EQ(log.back().name, "after");
  EXPECT_TRUE(log.back().reached);
}

TEST(ManualTimers, ZeroAndNegativeDurationsCompleteWithoutAdvance) {
  asio::io_context ioc;
  ManualTimers timers(ioc.get_executor());
  std::vector<Finished> log;
  start_sleep(ioc, timers, "zero", 0ms, log);
  start_sleep(ioc, timers, "negative", -5ms, log);
  drain(ioc);
  EXPECT_EQ(names(log), (std::vector<std::string>{"zero:reached", "negative:reached"}));
  EXPECT_EQ(timers.sleeping(), 0u);
}

TEST(ManualTimers, AdvancesTheManualClockToo) {
  asio::io_context ioc;
  ManualClock clock(5'000);
  ManualTimers timers(ioc.get_executor(), &clock);
  std::optional<EpochMillis> woke_at;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        const bool reached = co_await timers.sleep_for(250ms);
        EXPECT_TRUE(reached);
        woke_at = clock.now_ms();
      },
      asio::detached);
  drain(ioc);
  timers.advance(250ms);
  drain(ioc);
  EXPECT_EQ(woke_at, 5'250);
}

TEST(ManualTimers, LosingSideOfAnAwaitableOrIsCancelled) {
  using namespace asio::experimental::awaitable_operators;
  asio::io_context ioc;
  ManualTimers timers(ioc.get_executor());
  std::optional<std::variant<bool, bool>> outcome;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        auto slow = timers.sleep_for(1h);
        auto fast = timers.sleep_for(10ms);
        outcome = co_await (std::move(slow) || std::move(fast));
      },
      asio::detached);
  drain(ioc);
  EXPECT_EQ(timers.sleeping(), 2u);
  timers.advance(10ms);
  drain(ioc);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->index(), 1u);
  EXPECT_TRUE(std::get<1>(*outcome));
  EXPECT_EQ(timers.sleeping(), 0u);  // the hour-long sleep was cancelled, not left behind
}

TEST(ManualTimers, AlreadyCancelledCoroutineGetsFalseAtOnce) {
  asio::io_context ioc;
  ManualTimers timers(ioc.get_executor());
  asio::cancellation_signal signal;
  std::vector<bool> results;
  bool resumed = false;
  ManualTimers gate(ioc.get_executor());
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        co_await asio::this_coro::throw_if_cancelled(false);
        const bool first = co_await gate.sleep_for(1h);  // cancelled through the slot
        results.push_back(first);
        const bool second = co_await timers.sleep_for(1ms);  // the state stays cancelled
        results.push_back(second);
        resumed = true;
      },
      asio::bind_cancellation_slot(signal.slot(), asio::detached));
  drain(ioc);
  signal.emit(asio::cancellation_type::terminal);
  drain(ioc);
  EXPECT_TRUE(resumed);
  EXPECT_EQ(results, (std::vector<bool>{false, false}));
  EXPECT_EQ(timers.sleeping(), 0u);
}

TEST(ManualTimers, DestroyingTheTimersWithSleepsPendingIsSafe) {
  asio::io_context ioc;
  std::vector<Finished> log;
  asio::cancellation_signal signal;
  {
    ManualTimers timers(ioc.get_executor());
    start_sleep(ioc, timers, "orphan", 10ms, log, signal.slot());
    drain(ioc);
  }
  signal.emit(asio::cancellation_type::terminal);
  drain(ioc);
  EXPECT_EQ(names(log), (std::vector<std::string>{"orphan:cancelled"}));
}

TEST(SteadyTimers, CancellationSlotAndCancelAllEndLongSleepsWithFalse) {
  asio::io_context ioc;
  SteadyTimers timers(ioc.get_executor());
  std::vector<Finished> log;
  asio::cancellation_signal signal;
  start_sleep(ioc, timers, "slot", 1h, log, signal.slot());
  start_sleep(ioc, timers, "all", 1h, log);
  drain(ioc);
  signal.emit(asio::cancellation_type::terminal);
  drain(ioc);
  EXPECT_EQ(names(log), (std::vector<std::string>{"slot:cancelled"}));
  timers.cancel_all();
  drain(ioc);
  EXPECT_EQ(names(log), (std::vector<std::string>{"slot:cancelled", "all:cancelled"}));
}

TEST(SteadyTimers, ShortAndZeroSleepsComplete) {
  asio::io_context ioc;
  SteadyTimers timers(ioc.get_executor());
  std::vector<Finished> log;
  start_sleep(ioc, timers, "zero", 0ms, log);
  start_sleep(ioc, timers, "one", 1ms, log);
  ioc.run_for(5s);  // ends as soon as both are done; the bound only stops a hang
  ASSERT_EQ(log.size(), 2u);
  EXPECT_TRUE(log[0].reached);
  EXPECT_TRUE(log[1].reached);
}

}  // namespace
}  // namespace shipmate
