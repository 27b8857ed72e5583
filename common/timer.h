// Waiting as a seam: production code sleeps through a Timers, tests hand in ManualTimers and move
// time themselves, so no test depends on a real wait of tens of milliseconds.
//
// Contract
// - Threading: a Timers belongs to one executor (the event loop). sleep_for(), cancel_all(),
//   and ManualTimers::advance() / sleeping() are called on that executor's thread only.
// - sleep_for(d) completes with true when `d` has passed, and with false when the wait was
//   cancelled, either per operation (the awaiting coroutine's cancellation slot fired, e.g. a
//   co_spawn with bind_cancellation_slot, or the losing side of asio's `||` awaitable operator)
//   or by cancel_all(). It never throws for cancellation. A coroutine whose cancellation state is
//   already cancelled gets false at once. Note: asio's own rule still applies in the *caller's*
//   frame: with the default this_coro::throw_if_cancelled(true), a coroutine that was cancelled
//   throws operation_aborted at its next co_await of anything, this call included.
// - Per-operation cancellation follows asio's default for coroutines: terminal cancellation only
//   (what co_spawn's default filter and the awaitable operators deliver).
// - A zero or negative duration completes with true without waiting for time (SteadyTimers still
//   yields to the event loop once; ManualTimers needs no advance()).
// - cancel_all() ends every sleep pending at that moment (shutdown); sleeps started afterwards
//   wait normally.
// - Ownership: the pending sleeps share state with the Timers object, so destroying a Timers
//   while sleeps are pending is safe; those sleeps then end only through their cancellation
//   slot or the destruction of their executor.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace shipmate {

class ManualClock;

class Timers {
 public:
  virtual ~Timers() = default;
  // Waits `duration`. true when the time passed; false when the wait was cancelled (the
  // awaiting coroutine's cancellation slot fired, or cancel_all()). Never throws for cancellation.
  virtual boost::asio::awaitable<bool> sleep_for(std::chrono::milliseconds duration) = 0;
  // Ends every pending sleep (shutdown); each returns false.
  virtual void cancel_all() = 0;
};

// Real time: one asio::steady_timer per sleep.
class SteadyTimers final : public Timers {
 public:
  explicit SteadyTimers(boost::asio::any_io_executor executor);
  ~SteadyTimers() override;
  SteadyTimers(const SteadyTimers&) = delete;
  SteadyTimers& operator=(const SteadyTimers&) = delete;

  boost::asio::awaitable<bool> sleep_for(std::chrono::milliseconds duration) override;
  void cancel_all() override;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

// For tests: manual time that starts at zero and moves only in advance(). A sleep completes only
// when advance() moves manual time to or past its deadline (now + duration at the call); sleeps
// completed by one advance() resume in deadline order (ties in the order they started), on later
// turns of the event loop. When a ManualClock is given, advance() moves it by the same amount at
// once, so code that reads the clock after waking sees the time it waited for (or later).
class ManualTimers final : public Timers {
 public:
  explicit ManualTimers(boost::asio::any_io_executor executor, ManualClock* clock = nullptr);
  ~ManualTimers() override;
  ManualTimers(const ManualTimers&) = delete;
  ManualTimers& operator=(const ManualTimers&) = delete;

  boost::asio::awaitable<bool> sleep_for(std::chrono::milliseconds duration) override;
  void cancel_all() override;

  // Moves manual time forward by `delta` (negative deltas are ignored) and completes, with true,
  // every sleep whose deadline is now reached.
  void advance(std::chrono::milliseconds delta);
  // Sleeps started and not yet completed or cancelled.
  std::size_t sleeping() const;
  // Manual time since construction.
  std::chrono::milliseconds now() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace shipmate
