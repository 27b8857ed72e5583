#include "bot/slack/send_scheduler.h"

#include <gtest/gtest.h>

#include <vector>

namespace shipmate::bot::slack {
namespace {

using namespace std::chrono_literals;
using TimePoint = SendScheduler::TimePoint;

const TimePoint kStart = TimePoint(1000s);

// Takes every job that may go out at `now`, each call finishing at once.
std::vector<std::uint64_t> drain(SendScheduler& scheduler, TimePoint now,
                                 std::vector<std::string>* channels = nullptr) {
  std::vector<std::uint64_t> sent;
  for (;;) {
    const auto next = scheduler.next(now);
    if (!next.job) {
      break;
    }
    scheduler.done(next.channel);
    sent.push_back(*next.job);
    if (channels != nullptr) {
      channels->push_back(next.channel);
    }
  }
  return sent;
}

TEST(SendScheduler, IdleWhenEmpty) {
  SendScheduler scheduler;
  const auto next = scheduler.next(kStart);
  EXPECT_FALSE(next.job);
  EXPECT_FALSE(next.wake_at);
  EXPECT_EQ(scheduler.queued(), 0u);
}

TEST(SendScheduler, BurstThenOnePerInterval) {
  SendScheduler scheduler({.interval = 1000ms, .burst = 3, .max_queued = 100});
  for (std::uint64_t id = 1; id <= 6; ++id) {
    ASSERT_TRUE(scheduler.push("C1", id));
  }
  EXPECT_EQ(drain(scheduler, kStart), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(scheduler.queued(), 3u);

  auto next = scheduler.next(kStart);
  EXPECT_FALSE(next.job);
  ASSERT_TRUE(next.wake_at);
  EXPECT_EQ(*next.wake_at, kStart + 1000ms);

  EXPECT_TRUE(drain(scheduler, kStart + 999ms).empty());
  EXPECT_EQ(drain(scheduler, kStart + 1000ms), (std::vector<std::uint64_t>{4}));
  next = scheduler.next(kStart + 1500ms);
  ASSERT_TRUE(next.wake_at);
  EXPECT_EQ(*next.wake_at, kStart + 2000ms);
  EXPECT_EQ(drain(scheduler, kStart + 2000ms), (std::vector<std::uint64_t>{5}));
  EXPECT_EQ(drain(scheduler, kStart + 3000ms), (std::vector<std::uint64_t>{6}));
  EXPECT_EQ(scheduler.queued(), 0u);
  EXPECT_FALSE(scheduler.next(kStart + 3000ms).wake_at);
}

TEST(SendScheduler, BucketRefillsUpToBurstOnly) {
  SendScheduler scheduler({.interval = 1000ms, .burst = 2, .max_queued = 100});
  for (std::uint64_t id = 1; id <= 8; ++id) {
    ASSERT_TRUE(scheduler.push("C1", id));
  }
  EXPECT_EQ(drain(scheduler, kStart).size(), 2u);
  // A long quiet spell earns at most `burst` sends, not one per elapsed interval.
  EXPECT_EQ(drain(scheduler, kStart + 60s).size(), 2u);
  // Partial credit accumulates: 500 ms + 500 ms is one send.
  EXPECT_TRUE(drain(scheduler, kStart + 60s + 500ms).empty());
  EXPECT_EQ(drain(scheduler, kStart + 61s).size(), 1u);
}

TEST(SendScheduler, KeepsOrderWithinChannel) {
  SendScheduler scheduler({.interval = 100ms, .burst = 1, .max_queued = 1000});
  for (std::uint64_t id = 0; id < 50; ++id) {
    ASSERT_TRUE(scheduler.push("C1", id));
  }
  std::vector<std::uint64_t> sent;
  TimePoint now = kStart;
  while (scheduler.queued() > 0) {
    const auto next = scheduler.next(now);
    if (next.job) {
      sent.push_back(*next.job);
      scheduler.done(next.channel);
    } else {
      ASSERT_TRUE(next.wake_at);
      ASSERT_GT(*next.wake_at, now);
      now = *next.wake_at;
    }
  }
  ASSERT_EQ(sent.size(), 50u);
  for (std::uint64_t id = 0; id < 50; ++id) {
    EXPECT_EQ(sent[id], id);
  }
  EXPECT_EQ(now, kStart + 49 * 100ms);
}

TEST(SendScheduler, OneCallOutPerChannel) {
  SendScheduler scheduler({.interval = 1000ms, .burst = 3, .max_queued = 100});
  ASSERT_TRUE(scheduler.push("C1", 1));
  ASSERT_TRUE(scheduler.push("C1", 2));
  ASSERT_TRUE(scheduler.push("C2", 3));
  auto next = scheduler.next(kStart);
  ASSERT_TRUE(next.job);
  EXPECT_EQ(*next.job, 1u);
  // C1 has credit but its first call is still out; C2 is not held back by it.
  next = scheduler.next(kStart);
  ASSERT_TRUE(next.job);
  EXPECT_EQ(*next.job, 3u);
  next = scheduler.next(kStart);
  EXPECT_FALSE(next.job);
  EXPECT_FALSE(next.wake_at);  // nothing to wait for but done()
  EXPECT_EQ(scheduler.queued(), 1u);

  scheduler.done("C1");
  next = scheduler.next(kStart + 10ms);
  ASSERT_TRUE(next.job);
  EXPECT_EQ(*next.job, 2u);
  scheduler.done("C1");
  scheduler.done("C1");  // a second done() is harmless
  scheduler.done("nowhere");
  EXPECT_FALSE(scheduler.next(kStart + 10ms).job);
}

TEST(SendScheduler, RateLimitedEndsTheCall) {
  SendScheduler scheduler({.interval = 0ms, .burst = 1, .max_queued = 100});
  ASSERT_TRUE(scheduler.push("C1", 1));
  ASSERT_TRUE(scheduler.push("C1", 2));
  auto next = scheduler.next(kStart);
  ASSERT_TRUE(next.job);
  scheduler.rate_limited("C1", *next.job, kStart, 1s);
  next = scheduler.next(kStart + 1s);
  ASSERT_TRUE(next.job);
  EXPECT_EQ(*next.job, 1u);
  scheduler.done("C1");
  EXPECT_EQ(drain(scheduler, kStart + 1s), (std::vector<std::uint64_t>{2}));
}

TEST(SendScheduler, ChannelsAreIndependentAndShareFairly) {
  SendScheduler scheduler({.interval = 1000ms, .burst = 1, .max_queued = 100});
  ASSERT_TRUE(scheduler.push("C1", 1));
  ASSERT_TRUE(scheduler.push("C1", 2));
  ASSERT_TRUE(scheduler.push("C2", 10));
  ASSERT_TRUE(scheduler.push("C2", 11));
  ASSERT_TRUE(scheduler.push("D3", 20));
  std::vector<std::string> channels;
  const auto sent = drain(scheduler, kStart, &channels);
  EXPECT_EQ(sent, (std::vector<std::uint64_t>{1, 10, 20}));
  EXPECT_EQ(channels, (std::vector<std::string>{"C1", "C2", "D3"}));
  // A busy channel does not hold back a fresh one.
  ASSERT_TRUE(scheduler.push("C9", 30));
  EXPECT_EQ(drain(scheduler, kStart + 1ms), (std::vector<std::uint64_t>{30}));
  EXPECT_EQ(drain(scheduler, kStart + 1000ms), (std::vector<std::uint64_t>{2, 11}));
}

TEST(SendScheduler, RoundRobinAcrossReadyChannels) {
  SendScheduler scheduler({.interval = 0ms, .burst = 1, .max_queued = 100});
  for (std::uint64_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(scheduler.push("A", 100 + i));
    ASSERT_TRUE(scheduler.push("B", 200 + i));
  }
  EXPECT_EQ(drain(scheduler, kStart), (std::vector<std::uint64_t>{100, 200, 101, 201, 102, 202}));
}

TEST(SendScheduler, RateLimitPausesEveryChannelAndRequeuesAtFront) {
  SendScheduler scheduler({.interval = 1000ms, .burst = 3, .max_queued = 100});
  ASSERT_TRUE(scheduler.push("C1", 1));
  ASSERT_TRUE(scheduler.push("C1", 2));
  ASSERT_TRUE(scheduler.push("C2", 7));

  auto next = scheduler.next(kStart);
  ASSERT_TRUE(next.job);
  EXPECT_EQ(*next.job, 1u);
  EXPECT_EQ(next.channel, "C1");
  scheduler.rate_limited("C1", 1, kStart + 100ms, 30s);
  EXPECT_EQ(scheduler.queued(), 3u);

  next = scheduler.next(kStart + 200ms);
  EXPECT_FALSE(next.job);
  ASSERT_TRUE(next.wake_at);
  EXPECT_EQ(*next.wake_at, kStart + 100ms + 30s);
  EXPECT_TRUE(drain(scheduler, kStart + 30s).empty());

  std::vector<std::string> channels;
  const auto sent = drain(scheduler, kStart + 100ms + 30s, &channels);
  ASSERT_EQ(sent.size(), 3u);
  // Job 1 is sent again ahead of job 2 in its channel; C2 was held too.
  std::vector<std::uint64_t> c1;
  for (std::size_t i = 0; i < sent.size(); ++i) {
    if (channels[i] == "C1") {
      c1.push_back(sent[i]);
    }
  }
  EXPECT_EQ(c1, (std::vector<std::uint64_t>{1, 2}));
}

TEST(SendScheduler, ShorterRetryAfterDoesNotShortenPause) {
  SendScheduler scheduler({.interval = 0ms, .burst = 1, .max_queued = 100});
  ASSERT_TRUE(scheduler.push("C1", 1));
  ASSERT_TRUE(scheduler.push("C2", 2));
  ASSERT_EQ(drain(scheduler, kStart).size(), 2u);
  scheduler.rate_limited("C1", 1, kStart, 10s);
  scheduler.rate_limited("C2", 2, kStart + 1s, 2s);
  const auto next = scheduler.next(kStart + 5s);
  ASSERT_TRUE(next.wake_at);
  EXPECT_EQ(*next.wake_at, kStart + 10s);
}

TEST(SendScheduler, QueueFull) {
  SendScheduler scheduler({.interval = 1000ms, .burst = 1, .max_queued = 3});
  EXPECT_TRUE(scheduler.push("C1", 1));
  EXPECT_TRUE(scheduler.push("C2", 2));
  EXPECT_TRUE(scheduler.push("C1", 3));
  EXPECT_FALSE(scheduler.push("C3", 4));
  EXPECT_EQ(scheduler.queued(), 3u);

  const auto next = scheduler.next(kStart);
  ASSERT_TRUE(next.job);
  EXPECT_TRUE(scheduler.push("C3", 4));
  EXPECT_FALSE(scheduler.push("C3", 5));
  // A rate-limited job is never dropped, even when the queue is full.
  scheduler.rate_limited(next.channel, *next.job, kStart, 1s);
  EXPECT_EQ(scheduler.queued(), 4u);
}

TEST(SendScheduler, IdleChannelComesBackWithFullBurstOnlyAfterRefill) {
  SendScheduler scheduler({.interval = 1000ms, .burst = 2, .max_queued = 100});
  ASSERT_TRUE(scheduler.push("C1", 1));
  ASSERT_TRUE(scheduler.push("C1", 2));
  EXPECT_EQ(drain(scheduler, kStart).size(), 2u);
  // Emptied but not yet refilled: it must not get a fresh burst.
  ASSERT_TRUE(scheduler.push("C1", 3));
  ASSERT_TRUE(scheduler.push("C1", 4));
  EXPECT_TRUE(drain(scheduler, kStart + 10ms).empty());
  EXPECT_EQ(drain(scheduler, kStart + 2000ms).size(), 2u);
}

TEST(Backoff, GrowsExponentiallyAndCaps) {
  using std::chrono::milliseconds;
  const milliseconds base(1000);
  const milliseconds cap(30000);
  EXPECT_EQ(backoff_delay(1, base, cap, 0.0, 0.5), milliseconds(1000));
  EXPECT_EQ(backoff_delay(2, base, cap, 0.0, 0.5), milliseconds(2000));
  EXPECT_EQ(backoff_delay(3, base, cap, 0.0, 0.5), milliseconds(4000));
  EXPECT_EQ(backoff_delay(5, base, cap, 0.0, 0.5), milliseconds(16000));
  EXPECT_EQ(backoff_delay(6, base, cap, 0.0, 0.5), milliseconds(30000));
  EXPECT_EQ(backoff_delay(1000000, base, cap, 0.0, 0.5), milliseconds(30000));
  EXPECT_EQ(backoff_delay(0, base, cap, 0.0, 0.5), milliseconds(1000));
  EXPECT_EQ(backoff_delay(-3, base, cap, 0.0, 0.5), milliseconds(1000));
  EXPECT_EQ(backoff_delay(3, base, milliseconds(500), 0.0, 0.0), milliseconds(500));
  EXPECT_EQ(backoff_delay(70, milliseconds::max(), milliseconds::max(), 0.0, 0.0),
            milliseconds::max());
}

TEST(Backoff, AReconnectGoesAtOnceAfterOneFailureAndBacksOffFromTheSecond) {
  using std::chrono::milliseconds;
  const milliseconds base(1000);
  const milliseconds cap(30000);
  // A cut (or the first failed attempt) is retried at once, whatever the jitter draws.
  EXPECT_EQ(reconnect_delay(1, base, cap, 0.5, 0.0), milliseconds(0));
  EXPECT_EQ(reconnect_delay(1, base, cap, 0.5, 0.99), milliseconds(0));
  EXPECT_EQ(reconnect_delay(0, base, cap, 0.0, 0.0), milliseconds(0));
  // Failures in a row then back off as before: base, 2 * base, ..., the cap.
  EXPECT_EQ(reconnect_delay(2, base, cap, 0.0, 0.5), milliseconds(1000));
  EXPECT_EQ(reconnect_delay(3, base, cap, 0.0, 0.5), milliseconds(2000));
  EXPECT_EQ(reconnect_delay(7, base, cap, 0.0, 0.5), milliseconds(30000));
  EXPECT_EQ(reconnect_delay(3, base, cap, 0.5, 0.5), milliseconds(1500));
}

TEST(Backoff, JitterStaysInBounds) {
  using std::chrono::milliseconds;
  const milliseconds base(1000);
  const milliseconds cap(30000);
  EXPECT_EQ(backoff_delay(3, base, cap, 0.5, 0.0), milliseconds(4000));
  EXPECT_EQ(backoff_delay(3, base, cap, 0.5, 0.5), milliseconds(3000));
  for (int attempt = 1; attempt <= 10; ++attempt) {
    const auto full = backoff_delay(attempt, base, cap, 0.0, 0.0);
    for (double r = 0.0; r < 1.0; r += 0.01) {
      const auto delay = backoff_delay(attempt, base, cap, 0.25, r);
      EXPECT_LE(delay, full);
      EXPECT_GE(delay.count(), static_cast<long long>(0.75 * static_cast<double>(full.count())));
    }
  }
  // Out-of-range inputs are clamped rather than producing negative or inflated delays.
  EXPECT_EQ(backoff_delay(1, base, cap, 2.0, 0.99), milliseconds(10));
  EXPECT_EQ(backoff_delay(1, base, cap, -1.0, 0.5), milliseconds(1000));
  EXPECT_EQ(backoff_delay(1, base, cap, 0.5, 7.0), milliseconds(500));
}

}  // namespace
}  // namespace shipmate::bot::slack
