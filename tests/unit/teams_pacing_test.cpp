// The per-thread pacer against Teams' limits (7 per second, 8 per 2 s, 60 per 30 s), step by
// step with time passed in; and the retry back-off.
#include "bot/teams/pacing.h"

#include <gtest/gtest.h>

#include <string>

namespace shipmate::bot::teams {
namespace {
using namespace std::chrono_literals;
using TimePoint = ThreadPacer::TimePoint;

// Sends as fast as the pacer allows from t0 and returns the send times.
std::vector<TimePoint> send_greedily(ThreadPacer& pacer, const std::string& thread, TimePoint t0,
                                     int count) {
  std::vector<TimePoint> sent;
  TimePoint now = t0;
  for (int i = 0; i < count; ++i) {
    now = pacer.allowed_at(thread, now);
    pacer.sent(thread, now);
    sent.push_back(now);
  }
  return sent;
}

// Every window of `length` holds at most `max` sends.
bool within(const std::vector<TimePoint>& sends, std::chrono::steady_clock::duration length,
            std::size_t max) {
  for (std::size_t i = 0; i < sends.size(); ++i) {
    std::size_t in_window = 0;
    for (std::size_t j = i; j < sends.size() && sends[j] < sends[i] + length; ++j)
      ++in_window;
    if (in_window > max)
      return false;
  }
  return true;
}

TEST(TeamsPacing, SevenGoAtOnceTheEighthWaitsASecond) {
  ThreadPacer pacer;
  const TimePoint t0{};
  const auto sent = send_greedily(pacer, "c1", t0, 9);
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(sent[i], t0) << i;
  }
  EXPECT_EQ(sent[7], t0 + 1s);
  // Eight within 2 s: the ninth waits for the first to leave the 2 s window.
  EXPECT_EQ(sent[8], t0 + 2s);
}

TEST(TeamsPacing, AGreedySenderStaysWithinEveryWindow) {
  ThreadPacer pacer;
  const auto sent = send_greedily(pacer, "c1", TimePoint{}, 200);
  EXPECT_TRUE(within(sent, 1s, 7));
  EXPECT_TRUE(within(sent, 2s, 8));
  EXPECT_TRUE(within(sent, 30s, 60));
  // 60 per 30 s is the binding limit over a long run.
  EXPECT_GE(sent.back() - sent.front(), 90s);
}

TEST(TeamsPacing, ThreadsArePacedIndependentlyAndForgottenWhenIdle) {
  ThreadPacer pacer;
  const TimePoint t0{};
  send_greedily(pacer, "c1", t0, 7);
  EXPECT_EQ(pacer.allowed_at("c2", t0), t0);
  EXPECT_GT(pacer.allowed_at("c1", t0), t0);
  EXPECT_EQ(pacer.allowed_at("c1", t0 + 31s), t0 + 31s);
  EXPECT_EQ(pacer.threads(), 0u);  // c1 was forgotten; c2 never sent
}

// A thread that is never asked about again (a conversation that went quiet) is forgotten too:
// a send 30 s after the last sweep sweeps every thread idle for 30 s.
TEST(TeamsPacing, ThreadsThatGoQuietAreSweptAwayByLaterSends) {
  ThreadPacer pacer;
  const TimePoint t0{};
  for (int i = 0; i < 100; ++i)
    pacer.sent("quiet" + std::to_string(i), t0);
  pacer.sent("busy", t0 + 10s);
  pacer.throttled("paused", t0 + 10s, 60s);
  EXPECT_EQ(pacer.threads(), 102u);
  pacer.sent("busy", t0 + 31s);
  EXPECT_EQ(pacer.threads(), 2u);  // busy sent within 30 s; paused is still paused
  EXPECT_EQ(pacer.allowed_at("paused", t0 + 31s), t0 + 70s);
  EXPECT_EQ(pacer.allowed_at("quiet0", t0 + 31s), t0 + 31s);
}

TEST(TeamsPacing, A429PausesTheThreadUntilRetryAfter) {
  ThreadPacer pacer;
  const TimePoint t0{};
  pacer.sent("c1", t0);
  pacer.throttled("c1", t0, 3s);
  EXPECT_EQ(pacer.allowed_at("c1", t0 + 1s), t0 + 3s);
  EXPECT_EQ(pacer.allowed_at("c2", t0 + 1s), t0 + 1s);
  EXPECT_EQ(pacer.allowed_at("c1", t0 + 4s), t0 + 4s);
}

TEST(TeamsPacing, RetryDelayHonoursRetryAfterElseBacksOffWithJitter) {
  EXPECT_EQ(retry_delay(1, 2500ms, 500ms, 30s, 0.3), 2500ms);
  EXPECT_EQ(retry_delay(1, 90s, 500ms, 30s, 0.3), 30s);
  EXPECT_EQ(retry_delay(1, std::nullopt, 500ms, 30s, 0.999999), 499ms);
  EXPECT_EQ(retry_delay(1, std::nullopt, 500ms, 30s, 0.0), 250ms);
  EXPECT_EQ(retry_delay(3, std::nullopt, 500ms, 30s, 0.0), 1000ms);
  EXPECT_EQ(retry_delay(30, std::nullopt, 500ms, 30s, 0.0), 15s);
}

TEST(TeamsPacing, RetryAfterParsesDeltaSecondsOnly) {
  EXPECT_EQ(parse_retry_after("3"), 3000ms);
  EXPECT_EQ(parse_retry_after("1.5"), 1500ms);
  EXPECT_EQ(parse_retry_after(""), std::nullopt);
  EXPECT_EQ(parse_retry_after("soon"), std::nullopt);
  EXPECT_EQ(parse_retry_after("-1"), std::nullopt);
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), std::nullopt);
}

}  // namespace
}  // namespace shipmate::bot::teams
