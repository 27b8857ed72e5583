// The Slack Web API client and its paced queue against the fake Slack, over real sockets.
#include "bot/slack/web_api.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <optional>

#include "common/rate_limit.h"
#include "common/timer.h"
#include "integrations/net/http_client.h"
#include "tests/support/fake_slack.h"
#include "tests/support/test_support.h"

namespace shipmate::bot::slack {
namespace {

using namespace std::chrono_literals;
using testing::FakeSlack;

class WebApiTest : public ::testing::Test {
 protected:
  WebApi make_api(SendScheduler::Options pacing = {}) {
    return WebApi(io.get_executor(), http, slack.options().bot_token,
                  WebApiOptions{slack.api_url(), 5, pacing});
  }

  template <class T>
  T run(boost::asio::awaitable<T> task) {
    std::optional<T> result;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
          T value = co_await std::move(task);
          result.emplace(std::move(value));
        },
        [](std::exception_ptr error) {
          if (error)
            std::rethrow_exception(error);
        });
    io.restart();
    while (!result)
      io.run_one_for(50ms);
    return std::move(*result);
  }

  void drain(WebApi& api) {
    bool done = false;
    boost::asio::co_spawn(io, api.drain(), [&](std::exception_ptr) { done = true; });
    io.restart();
    while (!done)
      io.run_one_for(50ms);
  }

  FakeSlack slack;
  boost::asio::io_context io;
  integrations::net::HttpClient http{io.get_executor(), [] {
                                       integrations::net::HttpClientOptions options;
                                       options.proxy = "";
                                       return options;
                                     }()};
};

TEST_F(WebApiTest, PostThenUpdateEditsThatVeryMessageAndThreadsUnderIt) {
  auto api = make_api();
  auto ref = api.post("C1", "", commands::Message(commands::Tone::progress, "Deploy #1 started"));
  api.thread_reply(ref, commands::Message(commands::Tone::progress, "health check 1/5"));
  api.update(ref, commands::success("Deploy #1 succeeded"));
  drain(api);
  auto ts = api.ts_of(ref);
  ASSERT_TRUE(ts.has_value());
  auto message = slack.message("C1", *ts);
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->updates, 1);
  EXPECT_NE(message->text.find("Deploy #1 succeeded"), std::string::npos) << message->text;
  int in_thread = 0;
  for (const auto& m : slack.messages())
    in_thread += m.thread_ts == *ts ? 1 : 0;
  EXPECT_EQ(in_thread, 1);
  auto calls = slack.calls("chat.postMessage");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].authorization, "Bearer " + slack.options().bot_token);
  EXPECT_FALSE(calls[0].param("blocks").empty());
}

// Regression: N updates of one message (an alert batch refreshing its incident's card once per
// notification) cost N chat.update calls. Updates still queued behind the channel's call in
// flight fold into one, with the last content; every post between them is still sent, in order.
TEST_F(WebApiTest, QueuedUpdatesOfOneMessageCoalesceAndTheLastWins) {
  auto api = make_api();
  const auto card = api.post("C1", "", commands::info("card v0"));
  drain(api);
  ASSERT_TRUE(api.ts_of(card));
  for (int i = 1; i <= 5; ++i) {
    api.update(card, commands::info("card v" + std::to_string(i)));
    api.post("C1", "", commands::warning("alert " + std::to_string(i)));
  }
  drain(api);
  // Those waiting behind the channel's pacing or its call in flight became one call (v1 may
  // have gone out alone first): before, five.
  const auto updates = slack.calls("chat.update").size();
  EXPECT_LE(updates, 2u);
  EXPECT_EQ(updates + api.updates_coalesced(), 5u);
  const auto message = slack.message("C1", *api.ts_of(card));
  ASSERT_TRUE(message.has_value());
  EXPECT_NE(message->text.find("card v5"), std::string::npos) << message->text;
  std::vector<std::string> alerts;
  for (const auto& m : slack.messages())
    if (m.text.find("alert ") != std::string::npos)
      alerts.push_back(m.text);
  ASSERT_EQ(alerts.size(), 5u);
  for (int i = 0; i < 5; ++i)
    EXPECT_NE(alerts[i].find("alert " + std::to_string(i + 1)), std::string::npos) << alerts[i];
}

// A reply in the message's thread queued between two updates keeps them apart: the reply is
// posted after the first update and before the second, and nothing is folded away.
TEST_F(WebApiTest, AnUpdateDoesNotJumpAheadOfAReplyInItsThread) {
  auto api = make_api();
  const auto status = api.post("C1", "", commands::info("deploy #1 queued"));
  drain(api);
  const auto other = api.post("C1", "", commands::info("keeps the channel busy"));
  api.update(status, commands::info("deploy #1 step 1"));
  api.thread_reply(status, commands::info("step 1 log"));
  api.update(status, commands::info("deploy #1 step 2"));
  api.post("C1", *api.ts_of(status), commands::info("a post in its thread"));
  api.update(status, commands::info("deploy #1 done"));
  api.update(other, commands::info("other, updated"));
  drain(api);
  EXPECT_EQ(api.updates_coalesced(), 0u);
  const auto updates = slack.calls("chat.update");
  ASSERT_EQ(updates.size(), 4u);
  std::vector<std::string> order;
  for (const auto& call : slack.calls())
    if (call.method == "chat.update" || call.method == "chat.postMessage")
      order.push_back(call.method + " " + std::string(call.params.at("text").as_string()));
  ASSERT_EQ(order.size(), 8u);
  EXPECT_NE(order[2].find("chat.update deploy #1 step 1"), std::string::npos) << order[2];
  EXPECT_NE(order[3].find("chat.postMessage step 1 log"), std::string::npos) << order[3];
  EXPECT_NE(order[4].find("chat.update deploy #1 step 2"), std::string::npos) << order[4];
  EXPECT_NE(order[5].find("a post in its thread"), std::string::npos) << order[5];
  EXPECT_NE(order[6].find("chat.update deploy #1 done"), std::string::npos) << order[6];
  EXPECT_NE(slack.message("C1", *api.ts_of(status))->text.find("deploy #1 done"),
            std::string::npos);
}

TEST_F(WebApiTest, RateLimitedQueueWaitsRetryAfterAndKeepsOrder) {
  auto api = make_api();
  slack.rate_limit_next("chat.postMessage", 1, 1);
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i)
    api.post("C2", "", commands::info("message " + std::to_string(i)));
  drain(api);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 950ms);
  EXPECT_EQ(api.rate_limited_count(), 1u);
  std::vector<std::string> texts;
  for (const auto& m : slack.messages())
    texts.push_back(m.text);
  ASSERT_EQ(texts.size(), 3u);
  EXPECT_NE(texts[0].find("message 0"), std::string::npos);
  EXPECT_NE(texts[2].find("message 2"), std::string::npos);
}

TEST_F(WebApiTest, PacingSpacesMessagesInOneChannel) {
  SendScheduler::Options pacing;
  pacing.interval = 200ms;
  pacing.burst = 1;
  auto api = make_api(pacing);
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i)
    api.post("C3", "", commands::info("m" + std::to_string(i)));
  drain(api);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 550ms);
  EXPECT_EQ(slack.messages().size(), 4u);
}

// An unheld call (the room-operation queue's) does not wait out a 429: it answers at once with
// the wait Slack asked for, after one request.
TEST_F(WebApiTest, AnUnheldCallAnswersARateLimitAtOnceWithTheWait) {
  auto api = make_api();
  slack.rate_limit_next("pins.add", 42, 1);
  auto result = run(api.call_unheld("pins.add", R"({"channel":"C1","timestamp":"1.2"})"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind, ErrorKind::unavailable);
  EXPECT_EQ(rate_limit_wait(result.error()), std::chrono::milliseconds(42'000))
      << result.error().message;
  EXPECT_EQ(slack.calls("pins.add").size(), 1u);
  EXPECT_EQ(api.rate_limited_count(), 1u);
  // Invites are unheld too.
  slack.rate_limit_next("conversations.invite", 7, 1);
  auto invited = run(api.invite("C1", {"U1"}));
  ASSERT_FALSE(invited.ok());
  EXPECT_EQ(rate_limit_wait(invited.error()), std::chrono::milliseconds(7'000));
  EXPECT_EQ(slack.calls("conversations.invite").size(), 1u);
  // And creates: the incident waits in its thread, not the declare in the client.
  slack.rate_limit_next("conversations.create", 9, 1);
  auto created = run(api.create_channel("inc-1-db-down", false));
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(rate_limit_wait(created.error()), std::chrono::milliseconds(9'000));
  EXPECT_EQ(slack.calls("conversations.create").size(), 1u);
}

TEST_F(WebApiTest, OkFalseBecomesAClearErrorWithoutTheToken) {
  auto api = make_api();
  slack.fail_next("chat.postMessage", "channel_not_found");
  auto result = run(api.call("chat.postMessage", R"({"channel":"C404","text":"x"})"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message, "chat.postMessage failed: channel_not_found");
  EXPECT_EQ(result.error().kind, ErrorKind::not_found);
  auto bad_token = run(api.call("auth.test", "{}", "xoxb-wrong-token-123"));
  ASSERT_FALSE(bad_token.ok());
  EXPECT_EQ(bad_token.error().message.find("xoxb-wrong-token-123"), std::string::npos);
  EXPECT_NE(bad_token.error().message.find("invalid_auth"), std::string::npos);
  EXPECT_EQ(bad_token.error().kind, ErrorKind::auth);
}

// The Retry-After wait of a 429 runs on the injected Timers: with manual time the call resumes
// exactly when the test moves time past the hint, and never before.
TEST_F(WebApiTest, RetryAfterWaitRunsOnManualTime) {
  ManualTimers timers(io.get_executor());
  WebApi api(io.get_executor(), http, slack.options().bot_token,
             WebApiOptions{slack.api_url(), 5, {}}, timers);
  slack.rate_limit_next("chat.postMessage", 30, 1);
  std::optional<Result<ApiReply>> result;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        auto reply = co_await api.call("chat.postMessage", R"({"channel":"C9","text":"hi"})");
        result.emplace(std::move(reply));
      },
      [](std::exception_ptr error) {
        if (error)
          std::rethrow_exception(error);
      });
  // Run until the call sleeps on the hint (the fake answers on its own thread).
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  io.restart();
  while (timers.sleeping() == 0 && !result && std::chrono::steady_clock::now() < give_up)
    io.run_one_for(50ms);
  ASSERT_EQ(timers.sleeping(), 1u);
  EXPECT_FALSE(result.has_value());
  EXPECT_EQ(api.rate_limited_count(), 1u);

  timers.advance(29s);
  io.restart();
  io.poll();
  EXPECT_FALSE(result.has_value());  // one second of the hint is left
  EXPECT_EQ(timers.sleeping(), 1u);

  timers.advance(1s);
  io.restart();
  while (!result && std::chrono::steady_clock::now() < give_up)
    io.run_one_for(50ms);
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->ok()) << (result->ok() ? "" : result->error().message);
  EXPECT_EQ(slack.calls("chat.postMessage").size(), 2u);
}

// A call to an API nobody listens on is tried max_attempts times, backing off 400, 800, 1600
// and 3200 ms between attempts (on manual time), and is reported as unreachable right after the
// last attempt, without another wait.
TEST_F(WebApiTest, AnUnreachableApiIsReportedRightAfterTheLastAttempt) {
  ManualTimers timers(io.get_executor());
  const std::string url = "http://127.0.0.1:" + std::to_string(testing::free_port()) + "/api/";
  WebApi api(io.get_executor(), http, slack.options().bot_token, WebApiOptions{url, 5, {}}, timers);
  std::optional<Result<ApiReply>> result;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        auto reply = co_await api.call("auth.test", "{}");
        result.emplace(std::move(reply));
      },
      [](std::exception_ptr error) {
        if (error)
          std::rethrow_exception(error);
      });
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  // Runs the loop until the call sleeps or has finished.
  auto settle = [&] {
    io.restart();
    while (timers.sleeping() == 0 && !result && std::chrono::steady_clock::now() < give_up)
      io.run_one_for(50ms);
  };
  for (const auto backoff : {400ms, 800ms, 1600ms, 3200ms}) {
    settle();
    ASSERT_EQ(timers.sleeping(), 1u) << "no back-off before " << backoff.count() << " ms";
    ASSERT_FALSE(result.has_value());
    const auto before = timers.now();
    timers.advance(backoff - 1ms);
    io.restart();
    io.poll();
    EXPECT_EQ(timers.sleeping(), 1u);  // not a millisecond early
    timers.advance(1ms);
    EXPECT_EQ(timers.now() - before, backoff);
  }
  settle();
  ASSERT_TRUE(result.has_value()) << timers.sleeping() << " sleeps after the fifth attempt";
  EXPECT_EQ(timers.now(), 6000ms);
  ASSERT_FALSE(result->ok());
  EXPECT_EQ(result->error().kind, ErrorKind::unavailable);
  EXPECT_NE(result->error().message.find("connection refused"), std::string::npos)
      << result->error().message;
}

TEST_F(WebApiTest, CreatesChannelsInvitesAndUploadsSnippets) {
  auto api = make_api();
  auto channel = run(api.create_channel("inc-42-db-down", false));
  ASSERT_TRUE(channel.ok()) << channel.error().message;
  auto invited = run(api.invite(*channel, {"U1", "U2"}));
  EXPECT_TRUE(invited.ok()) << invited.error().message;
  auto taken = run(api.create_channel("inc-42-db-down", false));
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().message, "conversations.create failed: name_taken");

  const std::string content(5000, 'x');
  api.upload_snippet(*channel, "", "Shipmate output", content, "history of hello");
  drain(api);
  auto uploads = slack.uploads();
  ASSERT_EQ(uploads.size(), 1u);
  EXPECT_TRUE(uploads[0].completed);
  EXPECT_EQ(uploads[0].bytes, content);
  EXPECT_EQ(uploads[0].channel_id, *channel);
  EXPECT_EQ(uploads[0].initial_comment, "history of hello");
}

TEST_F(WebApiTest, EphemeralRepliesGoToOnePerson) {
  auto api = make_api();
  api.post_ephemeral("C5", "U7", commands::error_message("you may not deploy to production"));
  drain(api);
  auto messages = slack.messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].ephemeral_user, "U7");
  EXPECT_EQ(messages[0].channel, "C5");
}

}  // namespace
}  // namespace shipmate::bot::slack
