// The connector client against the fake connector over real sockets: post, reply in a thread,
// update in place, delete; retries on 429/412/5xx after Retry-After or a jittered back-off (on
// ManualTimers); a fresh token after a 401; no call to a service URL nobody vouched for; the
// paced queue keeps order and Teams' per-thread limits.
#include "bot/teams/connector.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "common/timer.h"
#include "integrations/net/http_client.h"
#include "tests/support/async_test.h"
#include "tests/support/fake_teams.h"
#include "tests/support/teams_doubles.h"

namespace shipmate::bot::teams {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using testing::CountingCredentials;
using testing::FakeTeamsConnector;

// Polls on the event loop (10 ms steps, generous deadline; not a timing assertion).
asio::awaitable<bool> eventually(std::function<bool()> condition,
                                 std::chrono::milliseconds limit = 30s) {
  auto executor = co_await asio::this_coro::executor;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline)
      co_return false;
    asio::steady_timer pause(executor, 5ms);
    co_await pause.async_wait(asio::use_awaitable);
  }
  co_return true;
}

// A send whose outcome lands in *out (parameters live in the coroutine frame, not in a lambda).
asio::awaitable<void> send_into(ConnectorClient* connector, std::string service_url,
                                std::optional<Result<std::string>>* out) {
  std::string body = R"({"type":"message"})";
  ConversationTarget target{std::move(service_url), "a:1"};
  std::string reply_to;
  auto answer = co_await connector->send(std::move(target), std::move(reply_to), std::move(body));
  *out = std::move(answer);
}

struct Rig {
  explicit Rig(asio::io_context& io, std::vector<std::string> tokens = {"T1"})
      : timers(io.get_executor()),
        credentials(std::move(tokens)),
        http(io.get_executor()),
        connector(io.get_executor(), http, credentials, timers, options()) {}
  ConnectorOptions options() {
    ConnectorOptions options;
    options.now = [this] { return std::chrono::steady_clock::time_point{} + timers.now(); };
    return options;
  }
  ManualTimers timers;
  CountingCredentials credentials;
  integrations::net::HttpClient http;
  ConnectorClient connector;
};

const std::string kChannel = "19:abc@thread.tacv2;messageid=1699";

TEST(TeamsConnector, PostsRepliesUpdatesAndDeletesWithTheConversationIdEncoded) {
  FakeTeamsConnector fake;
  fake.expect_token("T1");
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    Rig rig(io);
    rig.connector.allow(fake.service_url());
    const ConversationTarget target{fake.service_url(), kChannel};
    ConversationTarget posted_arg0{target};
    std::string posted_arg1{""};
    std::string posted_arg2{R"({"type":"message","text":"one"})"};
    auto posted = co_await rig.connector.send(std::move(posted_arg0), std::move(posted_arg1),
                                              std::move(posted_arg2));
    EXPECT_TRUE(posted.ok()) << (posted ? "" : posted.error().message);
    ConversationTarget reply_arg0{target};
    std::string reply_arg1{*posted};
    std::string reply_arg2{R"({"type":"message","text":"two"})"};
    auto reply = co_await rig.connector.send(std::move(reply_arg0), std::move(reply_arg1),
                                             std::move(reply_arg2));
    EXPECT_TRUE(reply.ok());
    ConversationTarget updated_arg0{target};
    std::string updated_arg1{*posted};
    std::string updated_arg2{R"({"type":"message","text":"one'"})"};
    auto updated = co_await rig.connector.update(std::move(updated_arg0), std::move(updated_arg1),
                                                 std::move(updated_arg2));
    EXPECT_TRUE(updated.ok());
    ConversationTarget removed_arg0{target};
    std::string removed_arg1{*reply};
    auto removed = co_await rig.connector.remove(std::move(removed_arg0), std::move(removed_arg1));
    EXPECT_TRUE(removed.ok());
    ConversationTarget missing_arg0{target};
    std::string missing_arg1{"nope"};
    auto missing = co_await rig.connector.remove(std::move(missing_arg0), std::move(missing_arg1));
    EXPECT_FALSE(missing.ok());
    if (!missing.ok()) {
      EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
    }

    const auto activities = fake.activities_in(kChannel);
    EXPECT_EQ(activities.size(), 2u);
    if (activities.size() == 2) {
      EXPECT_EQ(activities[0].versions.size(), 2u);
      EXPECT_EQ(activities[1].reply_to_id, *posted);
      EXPECT_TRUE(activities[1].deleted);
    }
    const auto raw = fake.server().requests();
    EXPECT_NE(raw.at(0).target.find("19%3Aabc%40thread.tacv2%3Bmessageid%3D1699"),
              std::string::npos);
    EXPECT_EQ(raw.at(0).header("Authorization"), "Bearer T1");
  });
}

TEST(TeamsConnector, RetriesThrottlingAndGatewayErrorsAfterRetryAfterOrBackOff) {
  FakeTeamsConnector fake;
  fake.fail_next({{429, "2"}, {412, ""}, {502, ""}, {503, "1"}, {504, ""}});
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    Rig rig(io);
    rig.connector.allow(fake.service_url());
    std::optional<Result<std::string>> result;
    asio::co_spawn(io, send_into(&rig.connector, fake.service_url(), &result), asio::detached);
    // The first wait is the 429's Retry-After exactly: 1999 ms is not enough.
    EXPECT_TRUE(co_await eventually([&] { return rig.timers.sleeping() == 1; }));
    rig.timers.advance(1999ms);
    EXPECT_EQ(fake.call_count(), 1u);
    rig.timers.advance(1ms);
    for (int wait = 0; wait < 4; ++wait) {
      EXPECT_TRUE(co_await eventually([&] { return rig.timers.sleeping() == 1 || result; }));
      rig.timers.advance(30s);
    }
    EXPECT_TRUE(co_await eventually([&] { return result.has_value(); }));
    EXPECT_TRUE(result && result->ok());
    EXPECT_EQ(fake.call_count(), 6u);
    EXPECT_EQ(rig.connector.stats().rate_limited, 1u);
    EXPECT_EQ(rig.connector.stats().retries, 5u);
  });
}

TEST(TeamsConnector, GivesUpAfterMaxAttemptsAndDoesNotRetryClientErrors) {
  FakeTeamsConnector fake;
  fake.fail_next(std::vector<FakeTeamsConnector::Failure>(6, {503, "0"}));
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    Rig rig(io);
    rig.connector.allow(fake.service_url());
    ConversationTarget failed_arg0{fake.service_url(), "a:1"};
    std::string failed_arg1{""};
    std::string failed_arg2{R"({"type":"message"})"};
    auto failed = co_await rig.connector.send(std::move(failed_arg0), std::move(failed_arg1),
                                              std::move(failed_arg2));
    EXPECT_FALSE(failed.ok());
    if (!failed.ok()) {
      EXPECT_EQ(failed.error().kind, ErrorKind::unavailable);
      EXPECT_NE(failed.error().message.find("HTTP 503"), std::string::npos);
    }
    EXPECT_EQ(fake.call_count(), 6u);
    ConversationTarget bad_arg0{fake.service_url(), "a:1"};
    std::string bad_arg1{""};
    std::string bad_arg2{"[1]"};
    auto bad =
        co_await rig.connector.send(std::move(bad_arg0), std::move(bad_arg1), std::move(bad_arg2));
    EXPECT_FALSE(bad.ok());
    if (!bad.ok()) {
      EXPECT_EQ(bad.error().kind, ErrorKind::invalid);
    }
    EXPECT_EQ(fake.call_count(), 7u);
  });
}

TEST(TeamsConnector, A401FetchesAFreshTokenOnce) {
  FakeTeamsConnector fake;
  fake.expect_token("T2");
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    Rig rig(io, {"T1", "T2"});
    rig.connector.allow(fake.service_url());
    ConversationTarget posted_arg0{fake.service_url(), "a:1"};
    std::string posted_arg1{""};
    std::string posted_arg2{R"({"type":"message"})"};
    auto posted = co_await rig.connector.send(std::move(posted_arg0), std::move(posted_arg1),
                                              std::move(posted_arg2));
    EXPECT_TRUE(posted.ok());
    EXPECT_EQ(rig.credentials.invalidated, 1u);
    fake.expect_token("T3");
    ConversationTarget refused_arg0{fake.service_url(), "a:1"};
    std::string refused_arg1{""};
    std::string refused_arg2{R"({"type":"message"})"};
    auto refused = co_await rig.connector.send(std::move(refused_arg0), std::move(refused_arg1),
                                               std::move(refused_arg2));
    EXPECT_FALSE(refused.ok());
    if (!refused.ok()) {
      EXPECT_EQ(refused.error().kind, ErrorKind::auth);
    }
    EXPECT_EQ(fake.call_count(), 4u);  // one retry each, no loop
  });
}

TEST(TeamsConnector, NeverCallsAServiceUrlNobodyVouchedFor) {
  FakeTeamsConnector fake;
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    Rig rig(io);
    ConversationTarget refused_arg0{fake.service_url(), "a:1"};
    std::string refused_arg1{""};
    std::string refused_arg2{R"({"type":"message"})"};
    auto refused = co_await rig.connector.send(std::move(refused_arg0), std::move(refused_arg1),
                                               std::move(refused_arg2));
    EXPECT_FALSE(refused.ok());
    if (!refused.ok()) {
      EXPECT_NE(refused.error().message.find("no verified request came from"), std::string::npos);
    }
    rig.connector.post({fake.service_url(), "a:1"}, "", commands::info("hi"));
    co_await rig.connector.drain();
    EXPECT_EQ(fake.call_count(), 0u);
    EXPECT_EQ(rig.credentials.requested, 0u);
    EXPECT_EQ(rig.connector.stats().refused_urls, 2u);
  });
}

TEST(TeamsConnector, TheQueueUpdatesThePostedCardInPlaceAndThreadsDetails) {
  FakeTeamsConnector fake;
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    Rig rig(io);
    rig.connector.allow(fake.service_url());
    const ConversationTarget target{fake.service_url(), kChannel};
    const auto ref = rig.connector.post(target, "1699", commands::info("Deploying"));
    rig.connector.update(ref, commands::success("Deployed"));
    rig.connector.thread_reply(ref, commands::info("details"));
    co_await rig.connector.drain();
    const auto activities = fake.activities_in(kChannel);
    EXPECT_EQ(activities.size(), 2u);
    if (activities.size() == 2) {
      EXPECT_EQ(activities[0].reply_to_id, "1699");
      EXPECT_EQ(activities[0].versions.size(), 2u);
      const json::value updated = json::parse(activities[0].body());
      EXPECT_EQ(updated.at("id").as_string(), activities[0].id);
      EXPECT_EQ(updated.at("attachments")
                    .at(0)
                    .at("content")
                    .at("body")
                    .at(0)
                    .at("items")
                    .at(0)
                    .at("text"),
                "Deployed");
      EXPECT_EQ(activities[1].reply_to_id, activities[0].id);
    }
    EXPECT_EQ(rig.connector.activity_id_of(ref), activities.at(0).id);
    // Only cards with buttons are remembered, as they look now.
    EXPECT_FALSE(rig.connector.card_of(activities.at(0).id).has_value());
    commands::Message question(commands::Tone::warning, "Approve deploy #3?");
    question.buttons = {{"Approve", "approve 3", "primary"}};
    const auto asked = rig.connector.post(target, "1699", question);
    co_await rig.connector.drain();
    const auto asked_id = rig.connector.activity_id_of(asked);
    EXPECT_TRUE(asked_id.has_value());
    if (asked_id) {
      auto card = rig.connector.card_of(*asked_id);
      EXPECT_TRUE(card.has_value());
      if (card) {
        EXPECT_EQ(card->buttons.at(0).command, "approve 3");
      }
      rig.connector.update(asked, commands::success("Approved"));
      co_await rig.connector.drain();
      EXPECT_FALSE(rig.connector.card_of(*asked_id).has_value());
    }
  });
}

// Updates of one card waiting in the queue (an alert batch refreshing its incident's card once
// per notification) are one PUT with the last content; the posts between them all arrive, in
// order. A reply under the card keeps the updates around it apart.
TEST(TeamsConnector, QueuedUpdatesOfOneMessageCoalesceButNotAcrossARepliesUnderIt) {
  FakeTeamsConnector fake;
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    Rig rig(io);
    rig.connector.allow(fake.service_url());
    const ConversationTarget target{fake.service_url(), kChannel};
    const auto card = rig.connector.post(target, "", commands::info("card v0"));
    co_await rig.connector.drain();
    // Each burst stays within Teams' limits (seven per second), so no send waits for manual time.
    rig.timers.advance(30s);
    for (int i = 1; i <= 3; ++i) {
      rig.connector.update(card, commands::info("card v" + std::to_string(i)));
      rig.connector.post(target, "", commands::warning("alert " + std::to_string(i)));
    }
    co_await rig.connector.drain();
    auto activities = fake.activities_in(kChannel);
    EXPECT_EQ(activities.size(), 4u);
    if (activities.size() == 4) {
      // The post, then v1 (its worker may have taken it at once) and one PUT for v2 and v3;
      // before, three PUTs.
      EXPECT_LE(activities[0].versions.size(), 3u);
      EXPECT_EQ(activities[0].versions.size() - 2 + rig.connector.stats().updates_coalesced, 2u);
      EXPECT_NE(activities[0].body().find("card v3"), std::string::npos);
      for (int i = 1; i <= 3; ++i)
        EXPECT_NE(activities[i].body().find("alert " + std::to_string(i)), std::string::npos);
    }
    const auto coalesced = rig.connector.stats().updates_coalesced;
    EXPECT_GE(coalesced, 1u);

    rig.timers.advance(30s);
    rig.connector.update(card, commands::info("card v4"));
    rig.connector.thread_reply(card, commands::info("details"));
    rig.connector.update(card, commands::info("card v5"));
    co_await rig.connector.drain();
    activities = fake.activities_in(kChannel);
    EXPECT_EQ(activities.size(), 5u);
    if (activities.size() == 5) {
      EXPECT_EQ(activities[0].versions.size() + coalesced, 6u);  // v4 and v5 both PUT
      EXPECT_NE(activities[0].body().find("card v5"), std::string::npos);
      EXPECT_EQ(activities[4].reply_to_id, activities[0].id);
    }
    EXPECT_EQ(rig.connector.stats().updates_coalesced, coalesced);
  });
}

TEST(TeamsConnector, TheQueueKeepsEachThreadWithinTeamsLimits) {
  FakeTeamsConnector fake;
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    Rig rig(io);
    rig.connector.allow(fake.service_url());
    for (int i = 0; i < 10; ++i)
      rig.connector.post({fake.service_url(), "a:busy"}, "", commands::info(std::to_string(i)));
    rig.connector.post({fake.service_url(), "a:quiet"}, "", commands::info("other thread"));
    // Seven go at once, the quiet thread is not held up, the eighth waits for manual time (1 s:
    // seven per second); the ninth waits until 2 s (eight per 2 s).
    EXPECT_TRUE(
        co_await eventually([&] { return fake.call_count() == 8 && rig.timers.sleeping() == 1; }));
    EXPECT_EQ(fake.activities_in("a:quiet").size(), 1u);
    rig.timers.advance(1s);
    EXPECT_TRUE(
        co_await eventually([&] { return fake.call_count() == 9 && rig.timers.sleeping() == 1; }));
    // At 2 s the first sends leave the 2 s window: the ninth and tenth go together.
    rig.timers.advance(1s);
    co_await rig.connector.drain();
    EXPECT_EQ(fake.call_count(), 11u);
    const auto busy = fake.activities_in("a:busy");
    EXPECT_EQ(busy.size(), 10u);
    for (std::size_t i = 0; i < busy.size(); ++i) {
      EXPECT_NE(busy[i].body().find("\"text\":\"" + std::to_string(i) + "\""), std::string::npos);
    }
  });
}

TEST(TeamsConnector, A429BurstPausesTheThreadAndEveryMessageArrivesInOrder) {
  FakeTeamsConnector fake;
  fake.fail_next({{429, "1"}, {429, "1"}, {429, "1"}});
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    Rig rig(io);
    rig.connector.allow(fake.service_url());
    for (int i = 0; i < 5; ++i)
      rig.connector.post({fake.service_url(), "a:1"}, "", commands::info("m" + std::to_string(i)));
    for (int round = 0; round < 6 && rig.connector.pending() > 0; ++round) {
      co_await eventually(
          [&] { return rig.timers.sleeping() > 0 || rig.connector.pending() == 0; });
      rig.timers.advance(1s);
    }
    co_await rig.connector.drain();
    const auto sent = fake.activities_in("a:1");
    EXPECT_EQ(sent.size(), 5u);
    for (std::size_t i = 0; i < sent.size(); ++i) {
      EXPECT_NE(sent[i].body().find("m" + std::to_string(i)), std::string::npos);
    }
    EXPECT_EQ(rig.connector.stats().rate_limited, 3u);
  });
}

}  // namespace
}  // namespace shipmate::bot::teams
