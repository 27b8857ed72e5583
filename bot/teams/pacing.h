// Decides when the next connector call for a Teams thread may go out, without doing any I/O.
//
// Teams throttles a bot per thread (a conversation, or a thread of a channel): at most 7
// messages in any second, 8 in any 2 seconds and 60 in any 30 seconds; past that it answers 429.
// ThreadPacer remembers each thread's recent sends (sliding windows, so the limits hold over
// every window, not just aligned ones) and says when a send is allowed. A 429 pauses the thread
// until its Retry-After. Threads idle for a full 30 s are forgotten (when next asked about, and
// by a sweep of every thread at most once per 30 s of sends), so memory follows the number of
// busy threads. A thread costs its key and 8 bytes per send in the last 30 s.
//
// retry_delay() is the back-off between attempts of one call: the Retry-After when the answer
// had one, else exponential from `base` (doubling per attempt, capped) with jitter, so many
// callers refused at once do not return at once.
//
// Contract: not thread-safe (one event loop owns it); time and randomness are passed in.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace shipmate::bot::teams {

class ThreadPacer {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  struct Window {
    Duration length;
    std::size_t max_sends;
  };
  // Teams' documented per-thread limits for a bot.
  static constexpr Window kLimits[] = {
      {std::chrono::seconds(1), 7}, {std::chrono::seconds(2), 8}, {std::chrono::seconds(30), 60}};

  // The earliest time a send to `thread` may go out: `now` when it may go now.
  TimePoint allowed_at(const std::string& thread, TimePoint now);
  // A send to `thread` went out at `now`.
  void sent(const std::string& thread, TimePoint now);
  // The connector answered 429 for `thread`: nothing goes to it before now + retry_after.
  void throttled(const std::string& thread, TimePoint now, Duration retry_after);

  std::size_t threads() const { return threads_.size(); }

 private:
  struct Thread {
    // Within the longest window, oldest first; at most 60 (a vector: a few sends cost a few
    // words, where a deque's first block alone is 512 bytes).
    std::vector<TimePoint> sends;
    TimePoint paused_until{};
  };
  void forget_old(Thread& thread, TimePoint now) const;
  // Forgets every thread idle for the longest window (no send in it, no pause left).
  void sweep(TimePoint now);

  std::map<std::string, Thread> threads_;
  TimePoint next_sweep_{};
};

// The wait before attempt `attempt` + 1 (attempt counts from 1). `retry_after` wins when set
// (capped at `cap`); otherwise base * 2^(attempt-1), capped, times a factor in [0.5, 1] taken
// from random01 in [0, 1).
std::chrono::milliseconds retry_delay(int attempt,
                                      std::optional<std::chrono::milliseconds> retry_after,
                                      std::chrono::milliseconds base, std::chrono::milliseconds cap,
                                      double random01);

// Parses a Retry-After header: delta seconds ("3", "1.5"), nothing else; nullopt when absent or
// not a number.
std::optional<std::chrono::milliseconds> parse_retry_after(const std::string& header);

}  // namespace shipmate::bot::teams
