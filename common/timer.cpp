#include "common/timer.h"

#include <algorithm>
#include <list>
#include <map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/clock.h"

namespace shipmate {

namespace asio = boost::asio;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// True when the awaiting coroutine was cancelled before this sleep began.
asio::awaitable<bool> already_cancelled() {
  asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
  co_return state.cancelled() != asio::cancellation_type::none;
}

}  // namespace

// ---- SteadyTimers ----------------------------------------------------------------------------

struct SteadyTimers::State {
  explicit State(asio::any_io_executor ex) : executor(std::move(ex)) {}
  asio::any_io_executor executor;
  std::list<asio::steady_timer*> pending;  // the timers of sleeps in progress, for cancel_all()
};

SteadyTimers::SteadyTimers(asio::any_io_executor executor)
    : state_(std::make_shared<State>(std::move(executor))) {}

SteadyTimers::~SteadyTimers() = default;

asio::awaitable<bool> SteadyTimers::sleep_for(std::chrono::milliseconds duration) {
  std::shared_ptr<State> state = state_;
  const bool cancelled = co_await already_cancelled();
  if (cancelled)
    co_return false;
  asio::steady_timer timer(state->executor, std::max(duration, std::chrono::milliseconds(0)));
  state->pending.push_front(&timer);
  const auto position = state->pending.begin();
  struct Unlist {
    State& state;
    std::list<asio::steady_timer*>::iterator position;
    ~Unlist() { state.pending.erase(position); }
  } unlist{*state, position};
  auto [ec] = co_await timer.async_wait(kTuple);
  co_return !ec;
}

void SteadyTimers::cancel_all() {
  for (asio::steady_timer* timer : state_->pending)
    timer->cancel();
}

// ---- ManualTimers ----------------------------------------------------------------------------

namespace {

// One sleep in progress: it waits on a timer that never expires by itself; advance() or
// cancel_all() cancels that timer after recording which of the two it was.
struct ManualSleep {
  explicit ManualSleep(const asio::any_io_executor& executor)
      : timer(executor, asio::steady_timer::time_point::max()) {}
  asio::steady_timer timer;
  bool reached = false;  // set by advance(): the deadline passed
  bool listed = true;    // still in State::pending
};

}  // namespace

struct ManualTimers::State {
  State(asio::any_io_executor ex, ManualClock* c) : executor(std::move(ex)), clock(c) {}
  asio::any_io_executor executor;
  ManualClock* clock;
  std::chrono::milliseconds now{0};
  // By deadline; equal deadlines keep their insertion order (multimap inserts at the upper bound).
  std::multimap<std::chrono::milliseconds, ManualSleep*> pending;
};

ManualTimers::ManualTimers(asio::any_io_executor executor, ManualClock* clock)
    : state_(std::make_shared<State>(std::move(executor), clock)) {}

ManualTimers::~ManualTimers() = default;

asio::awaitable<bool> ManualTimers::sleep_for(std::chrono::milliseconds duration) {
  std::shared_ptr<State> state = state_;
  const bool cancelled = co_await already_cancelled();
  if (cancelled)
    co_return false;
  if (duration <= std::chrono::milliseconds(0))
    co_return true;
  ManualSleep sleep(state->executor);
  const auto position = state->pending.emplace(state->now + duration, &sleep);
  // advance() and cancel_all() take the sleep out of `pending` themselves (clearing `listed`);
  // a sleep cancelled through its slot, or destroyed with its executor, takes itself out.
  struct Unlist {
    State& state;
    decltype(position) at;
    const ManualSleep& sleep;
    ~Unlist() {
      if (sleep.listed)
        state.pending.erase(at);
    }
  } unlist{*state, position, sleep};
  auto [ec] = co_await sleep.timer.async_wait(kTuple);
  (void)ec;  // always operation_aborted: the timer never expires by itself
  co_return sleep.reached;
}

void ManualTimers::cancel_all() {
  auto pending = std::move(state_->pending);
  state_->pending.clear();
  for (auto& [deadline, sleep] : pending) {
    sleep->listed = false;
    sleep->timer.cancel();
  }
}

void ManualTimers::advance(std::chrono::milliseconds delta) {
  if (delta <= std::chrono::milliseconds(0))
    return;
  State& state = *state_;
  state.now += delta;
  if (state.clock != nullptr)
    state.clock->advance_ms(delta.count());
  // Cancelling posts each completion in call order, so they resume in deadline order.
  while (!state.pending.empty() && state.pending.begin()->first <= state.now) {
    ManualSleep* sleep = state.pending.begin()->second;
    state.pending.erase(state.pending.begin());
    sleep->reached = true;
    sleep->listed = false;
    sleep->timer.cancel();
  }
}

std::size_t ManualTimers::sleeping() const {
  return state_->pending.size();
}

std::chrono::milliseconds ManualTimers::now() const {
  return state_->now;
}

}  // namespace shipmate
