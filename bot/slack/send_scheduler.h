// Decides when each queued Slack Web API call may be sent, without doing any I/O.
//
// Slack allows about one chat.postMessage per second per channel (short bursts tolerated) and
// answers 429 with Retry-After when an app goes over. The scheduler keeps one FIFO queue per
// channel, lets a channel send `burst` messages back to back and then one per `interval`, and
// pauses every channel until the Retry-After time when told about a 429. Calls within one
// channel always go out in the order they were queued; a rate-limited call goes back to the
// front of its queue.
//
// Contract: not thread-safe (one event loop owns it); time is passed in, never read.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>

namespace shipmate::bot::slack {

class SendScheduler {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  struct Options {
    Duration interval = std::chrono::milliseconds(1000);
    int burst = 3;
    std::size_t max_queued = 10000;  // across all channels
  };

  explicit SendScheduler(Options options);
  SendScheduler() : SendScheduler(Options{}) {}

  // Queues job `id` for `channel`. Returns false (and queues nothing) when full.
  bool push(const std::string& channel, std::uint64_t id);

  // At most one job per channel is out at a time (otherwise a 429 on one call could let the
  // call after it overtake), so each job handed out must be answered with done() or
  // rate_limited() before its channel sends again.
  struct Next {
    std::optional<std::uint64_t> job;  // send this now (it is removed from the queue)
    std::optional<TimePoint> wake_at;  // otherwise: ask again at this time (nullopt: idle, or
                                       // every waiting channel has a call out: ask after done())
    std::string channel;               // the job's channel
  };
  Next next(TimePoint now);

  // The call last handed out for `channel` has finished, whatever its outcome; the channel may
  // send its next job. Harmless when nothing is out (e.g. after rate_limited()).
  void done(const std::string& channel);

  // The job sent for `channel` was answered 429: put it back at the front of its channel and
  // hold every channel until now + retry_after. Also ends the call, as done() would.
  void rate_limited(const std::string& channel, std::uint64_t id, TimePoint now,
                    Duration retry_after);

  std::size_t queued() const { return queued_; }

 private:
  struct Channel {
    std::deque<std::uint64_t> jobs;
    // Token bucket kept as time so refills are exact: a send costs one interval of credit and
    // credit grows with elapsed time up to burst intervals.
    Duration credit{};
    TimePoint refilled_at{};
    bool initialised = false;
    bool in_flight = false;  // a job was handed out and not yet answered
  };
  void refill(Channel& channel, TimePoint now) const;
  Duration capacity() const;
  Duration cost() const;

  Options options_;
  std::map<std::string, Channel> channels_;
  std::size_t queued_ = 0;
  TimePoint paused_until_{};
  std::string last_served_;  // round-robin start, so one busy channel cannot starve the rest
};

// Jittered exponential backoff for reconnects: base * 2^(attempt-1), capped, then a random
// factor in [1 - jitter, 1]. Pure: the random value in [0,1) is passed in.
std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap, double jitter,
                                        double random01);

// How long a Socket Mode slot waits before its next connection attempt, after `failures`
// failures in a row since its last connection was ready (a cut or lost connection counts as
// one). The first attempt goes at once: a cut is usually one dead socket, not an outage, and
// every moment without a socket delays envelopes. From the second failure on, backoff_delay
// with attempt = failures - 1 (base, 2 * base, ..., up to cap). Pure, like backoff_delay.
std::chrono::milliseconds reconnect_delay(int failures, std::chrono::milliseconds base,
                                          std::chrono::milliseconds cap, double jitter,
                                          double random01);

}  // namespace shipmate::bot::slack
