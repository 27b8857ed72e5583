// The Teams transport with a scripted verifier (tests/support/teams_doubles.h) and the fake
// connector: commands from every conversation kind through the CommandIntake as the mapped AAD
// user, a redelivery answered once, both card action styles, refusals that make no outbound
// call, malformed bodies, the HTTP route with its body limit, and proactive posting after a
// restart from stored conversation references.
#include "bot/teams/teams_transport.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "bot/command_intake.h"
#include "common/timer.h"
#include "integrations/net/http_client.h"
#include "storage/conversation_refs.h"
#include "storage/database.h"
#include "storage/inbox_store.h"
#include "tests/support/async_test.h"
#include "tests/support/fake_teams.h"
#include "tests/support/teams_doubles.h"

namespace shipmate::bot::teams {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using testing::FakeTeamsConnector;

class Echo final : public CommandDispatcher {
 public:
  bool changes_state(std::string_view) const override { return false; }
  asio::awaitable<void> dispatch(ChatEvent event, commands::Conversation& conversation) override {
    conversation.post(commands::info("pong: " + event.text));
    events.push_back(std::move(event));
    co_return;
  }
  std::vector<ChatEvent> events;
};

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

const std::string kAlice = "00000000-0000-0000-0000-0000000000a1";

std::string activity(const FakeTeamsConnector& fake, const std::string& id, const std::string& text,
                     const std::string& conversation = "a:1personal",
                     const std::string& type = "personal") {
  json::object body{{"type", "message"},
                    {"id", id},
                    {"channelId", "msteams"},
                    {"serviceUrl", fake.service_url()},
                    {"from", {{"id", "29:alice"}, {"aadObjectId", kAlice}, {"name", "Alice"}}},
                    {"recipient", {{"id", "28:app-id"}, {"name", "Shipmate"}}},
                    {"conversation", {{"id", conversation}, {"conversationType", type}}},
                    {"text", text}};
  return json::serialize(body);
}

std::string execute_invoke(const FakeTeamsConnector& fake, const std::string& id,
                           const std::string& command, const std::string& card_id) {
  json::object body{{"type", "invoke"},
                    {"name", "adaptiveCard/action"},
                    {"id", id},
                    {"channelId", "msteams"},
                    {"serviceUrl", fake.service_url()},
                    {"replyToId", card_id},
                    {"from", {{"id", "29:alice"}, {"aadObjectId", kAlice}, {"name", "Alice"}}},
                    {"conversation",
                     {{"id", "19:chan@thread.tacv2;messageid=9"}, {"conversationType", "channel"}}},
                    {"value",
                     {{"action",
                       {{"type", "Action.Execute"},
                        {"verb", "shipmate.command"},
                        {"data", {{"shipmate", command}}}}}}}};
  return json::serialize(body);
}

class TeamsTransportTest : public ::testing::Test {
 protected:
  TeamsOptions options() {
    TeamsOptions options;
    options.app_id = "app-id";
    options.bind_address = "127.0.0.1";
    options.port = 0;
    options.identities = {{kAlice, "alice"}};
    return options;
  }
  FakeTeamsConnector fake;
  std::unique_ptr<storage::Database> db = std::move(*storage::Database::open(":memory:"));
  ManualClock clock;
  storage::InboxStore inbox{*db, clock};
  storage::ConversationRefStore refs{*db, clock};
  testing::ScriptedVerifier verifier;
  testing::CountingCredentials credentials;
  Echo echo;
};

// Activities that arrive together (many connections, many conversations) are recorded in one
// inbox transaction, and each request is answered only once that transaction committed.
TEST_F(TeamsTransportTest, ActivitiesArrivingTogetherShareOneCommitAndAreEachAnsweredAfterIt) {
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    SteadyTimers timers(io.get_executor());
    CommandIntake intake(io.get_executor(), inbox, echo, timers);
    TeamsTransport transport(io.get_executor(), intake, timers, &verifier, &credentials, &refs,
                             options());
    EXPECT_TRUE((co_await transport.start()).ok());
    constexpr int kActivities = 5;
    std::vector<int> statuses;
    for (int i = 0; i < kActivities; ++i) {
      const std::string id = "17000000001" + std::to_string(i);
      const std::string conversation = "a:together" + std::to_string(i);
      asio::co_spawn(
          io,
          [&transport, &statuses, &intake, body = activity(fake, id, "ping", conversation),
           kActivities]() -> asio::awaitable<void> {
            TeamsRequest request{"Bearer good", body};
            auto answer = co_await transport.handle(std::move(request));
            // Answered after the one commit that recorded all of them.
            EXPECT_EQ(intake.stats().batches, 1u);
            EXPECT_EQ(intake.stats().acks, static_cast<std::uint64_t>(kActivities));
            statuses.push_back(answer.status);
          },
          asio::detached);
    }
    EXPECT_TRUE(co_await eventually([&] { return statuses.size() == kActivities; }));
    EXPECT_EQ(statuses, std::vector<int>(kActivities, 202));
    EXPECT_EQ(intake.stats().batches, 1u);
    EXPECT_TRUE(co_await eventually([&] { return fake.activities().size() == kActivities; }));
    EXPECT_EQ(echo.events.size(), static_cast<std::size_t>(kActivities));
    EXPECT_EQ(transport.stats().commands, static_cast<std::uint64_t>(kActivities));
    intake.stop();
    co_await transport.stop(1s);
  });
}

// An activity the intake cannot record (here: stopped) is answered 503 at once, so Teams sends it
// again; nothing else would wake its request.
TEST_F(TeamsTransportTest, AnActivityThatCannotBeRecordedIsAnswered503) {
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    SteadyTimers timers(io.get_executor());
    CommandIntake intake(io.get_executor(), inbox, echo, timers);
    TeamsTransport transport(io.get_executor(), intake, timers, &verifier, &credentials, &refs,
                             options());
    EXPECT_TRUE((co_await transport.start()).ok());
    intake.stop();
    TeamsRequest request{"Bearer good", activity(fake, "1700000000099", "ping")};
    auto answer = co_await transport.handle(std::move(request));  // never answered: a hang
    EXPECT_EQ(answer.status, 503);
    EXPECT_TRUE(echo.events.empty());
    co_await transport.stop(1s);
  });
}

// A conversation's reference is stored in the transaction that records the activity that brought
// it (not in one of its own): an activity that cannot be recorded leaves none behind, and its
// redelivery stores it with its record.
TEST_F(TeamsTransportTest, ANewConversationsReferenceIsStoredOnlyWithItsActivitysRecord) {
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    SteadyTimers timers(io.get_executor());
    const std::string body = activity(fake, "1700000000098", "ping", "a:new");
    {
      CommandIntake intake(io.get_executor(), inbox, echo, timers);
      TeamsTransport transport(io.get_executor(), intake, timers, &verifier, &credentials, &refs,
                               options());
      EXPECT_TRUE((co_await transport.start()).ok());
      intake.stop();
      TeamsRequest request{"Bearer good", body};
      auto answer = co_await transport.handle(std::move(request));
      EXPECT_EQ(answer.status, 503);
      EXPECT_FALSE(refs.get("teams", "a:new").has_value());
      co_await transport.stop(1s);
    }
    CommandIntake intake(io.get_executor(), inbox, echo, timers);
    TeamsTransport transport(io.get_executor(), intake, timers, &verifier, &credentials, &refs,
                             options());
    EXPECT_TRUE((co_await transport.start()).ok());
    TeamsRequest again{"Bearer good", body};  // Teams sends it again
    auto answer = co_await transport.handle(std::move(again));
    EXPECT_EQ(answer.status, 202);
    EXPECT_EQ(intake.stats().batches, 1u);
    const auto stored = refs.get("teams", "a:new");
    EXPECT_TRUE(stored.has_value());
    if (stored) {
      EXPECT_EQ(stored->service_url, fake.service_url());
    }
    EXPECT_TRUE(co_await eventually([&] { return fake.activities_in("a:new").size() == 1; }));
    intake.stop();
    co_await transport.stop(1s);
  });
}

TEST_F(TeamsTransportTest, AMessageRunsAsTheMappedUserAndIsAnsweredInItsThreadOnce) {
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    SteadyTimers timers(io.get_executor());
    CommandIntake intake(io.get_executor(), inbox, echo, timers);
    TeamsTransport transport(io.get_executor(), intake, timers, &verifier, &credentials, &refs,
                             options());
    EXPECT_TRUE((co_await transport.start()).ok());
    const std::string body = activity(fake, "1700000000001", "<at>Shipmate</at> ping");
    TeamsRequest first_request{"Bearer good", body};
    auto first = co_await transport.handle(std::move(first_request));
    EXPECT_EQ(first.status, 202);
    TeamsRequest again_request{"Bearer good", body};
    auto again = co_await transport.handle(std::move(again_request));  // Teams re-sends
    EXPECT_EQ(again.status, 202);
    EXPECT_TRUE(co_await eventually([&] { return fake.activities().size() == 1; }));
    co_await transport.connector().drain();
    EXPECT_EQ(echo.events.size(), 1u);
    if (!echo.events.empty()) {
      EXPECT_EQ(echo.events[0].text, "ping");
      EXPECT_EQ(echo.events[0].user_id, "alice");
      EXPECT_EQ(echo.events[0].platform, "teams");
    }
    const auto replies = fake.activities_in("a:1personal");
    EXPECT_EQ(replies.size(), 1u);
    if (!replies.empty()) {
      EXPECT_EQ(replies[0].reply_to_id, "1700000000001");
      EXPECT_NE(replies[0].body().find("pong: ping"), std::string::npos);
    }
    EXPECT_EQ(transport.stats().duplicates, 1u);
    EXPECT_EQ(refs.list("teams").size(), 1u);
    intake.stop();
    co_await transport.stop(1s);
  });
}

TEST_F(TeamsTransportTest, UnknownUsersActUnderTheirPlatformIdAndDisplayNamesNeverCount) {
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    SteadyTimers timers(io.get_executor());
    CommandIntake intake(io.get_executor(), inbox, echo, timers);
    TeamsTransport transport(io.get_executor(), intake, timers, &verifier, &credentials, &refs,
                             options());
    co_await transport.start();
    json::value body = json::parse(activity(fake, "2", "status", "19:g@thread.v2", "groupChat"));
    body.at("from").as_object()["aadObjectId"] = "00000000-0000-0000-0000-00000000ffff";
    body.at("from").as_object()["name"] = "alice";
    TeamsRequest request{"Bearer good", json::serialize(body)};
    co_await transport.handle(std::move(request));
    EXPECT_TRUE(co_await eventually([&] { return echo.events.size() == 1; }));
    if (!echo.events.empty()) {
      EXPECT_EQ(echo.events[0].user_id, "teams:00000000-0000-0000-0000-00000000ffff");
    }
    intake.stop();
    co_await transport.stop(1s);
  });
}

TEST_F(TeamsTransportTest, AnExecuteButtonIsAnsweredWithTheUpdatedCardAndRunsAsThePresser) {
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    SteadyTimers timers(io.get_executor());
    CommandIntake intake(io.get_executor(), inbox, echo, timers);
    TeamsTransport transport(io.get_executor(), intake, timers, &verifier, &credentials, &refs,
                             options());
    co_await transport.start();
    const std::string body = execute_invoke(fake, "f:1", "approve 12", "1699");
    TeamsRequest answer_request{"Bearer good", body};
    auto answer = co_await transport.handle(std::move(answer_request));
    EXPECT_EQ(answer.status, 200);
    EXPECT_EQ(answer.content_type, "application/json");
    const json::value invoke = json::parse(answer.body);
    EXPECT_EQ(invoke.at("statusCode"), 200);
    EXPECT_EQ(invoke.at("type"), "application/vnd.microsoft.card.adaptive");
    // A card this process never posted: a plain card naming the press.
    EXPECT_FALSE(invoke.at("value").as_object().contains("actions"));
    EXPECT_NE(answer.body.find("approve 12: pressed by Alice"), std::string::npos);
    TeamsRequest again_request{"Bearer good", body};
    auto again = co_await transport.handle(std::move(again_request));
    EXPECT_EQ(again.status, 200);
    EXPECT_TRUE(co_await eventually([&] { return fake.activities().size() == 1; }));
    EXPECT_EQ(echo.events.size(), 1u);
    if (!echo.events.empty()) {
      EXPECT_EQ(echo.events[0].text, "approve 12");
      EXPECT_EQ(echo.events[0].user_id, "alice");
    }
    const auto replies = fake.activities();
    if (!replies.empty()) {
      EXPECT_EQ(replies[0].reply_to_id, "1699");  // in the card's thread
    }
    intake.stop();
    co_await transport.stop(1s);
  });
}

TEST_F(TeamsTransportTest, ASubmitButtonRunsItsCommand) {
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    SteadyTimers timers(io.get_executor());
    CommandIntake intake(io.get_executor(), inbox, echo, timers);
    TeamsTransport transport(io.get_executor(), intake, timers, &verifier, &credentials, &refs,
                             options());
    co_await transport.start();
    json::value body = json::parse(activity(fake, "3", ""));
    body.as_object()["value"] = {{"shipmate", "abort 12"}};
    body.as_object()["replyToId"] = "1699";
    TeamsRequest answer_request{"Bearer good", json::serialize(body)};
    auto answer = co_await transport.handle(std::move(answer_request));
    EXPECT_EQ(answer.status, 202);
    EXPECT_TRUE(co_await eventually([&] { return fake.activities().size() == 1; }));
    if (!echo.events.empty()) {
      EXPECT_EQ(echo.events[0].text, "abort 12");
    }
    EXPECT_EQ(fake.activities().at(0).reply_to_id, "1699");
    intake.stop();
    co_await transport.stop(1s);
  });
}

TEST_F(TeamsTransportTest, RefusedRequestsMakeNoOutboundCallAndRunNothing) {
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    SteadyTimers timers(io.get_executor());
    CommandIntake intake(io.get_executor(), inbox, echo, timers);
    TeamsTransport transport(io.get_executor(), intake, timers, &verifier, &credentials, &refs,
                             options());
    co_await transport.start();
    const std::size_t tokens_after_start = credentials.requested;  // start() checks the secret
    const std::string body = activity(fake, "4", "ping");
    {
      TeamsRequest request{"", body};
      auto answer = co_await transport.handle(std::move(request));
      EXPECT_EQ(answer.status, 401);
    }
    EXPECT_TRUE(verifier.calls.empty());  // no header: refused before anything else
    {
      TeamsRequest request{"Bearer forged", body};
      auto answer = co_await transport.handle(std::move(request));
      EXPECT_EQ(answer.status, 401);
    }
    verifier.refusal = {403, "key not endorsed for msteams", {}};
    {
      TeamsRequest request{"Bearer forged", body};
      auto answer = co_await transport.handle(std::move(request));
      EXPECT_EQ(answer.status, 403);
    }
    verifier.refusal = {401, "keys unreachable", {}};
    {
      TeamsRequest request{"Bearer forged", body};
      auto answer = co_await transport.handle(std::move(request));
      EXPECT_EQ(answer.status, 401);
    }
    verifier.token_service_url = "https://elsewhere.example/";
    {
      TeamsRequest request{"Bearer good", body};
      auto answer = co_await transport.handle(std::move(request));
      EXPECT_EQ(answer.status, 403);
    }
    EXPECT_EQ(transport.stats().refused, 5u);
    EXPECT_EQ(fake.call_count(), 0u);
    EXPECT_EQ(credentials.requested, tokens_after_start);
    EXPECT_TRUE(echo.events.empty());
    EXPECT_TRUE(refs.list("teams").empty());
    EXPECT_FALSE(transport.connector().allowed(fake.service_url()));
    intake.stop();
    co_await transport.stop(1s);
  });
}

TEST_F(TeamsTransportTest, MalformedAndUninterestingActivities) {
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    SteadyTimers timers(io.get_executor());
    CommandIntake intake(io.get_executor(), inbox, echo, timers);
    TeamsTransport transport(io.get_executor(), intake, timers, &verifier, &credentials, &refs,
                             options());
    co_await transport.start();
    {
      TeamsRequest request{"Bearer good", "{garbage"};
      auto answer = co_await transport.handle(std::move(request));
      EXPECT_EQ(answer.status, 400);
    }
    {
      TeamsRequest request{"Bearer good", R"({"type":"message"})"};
      auto answer = co_await transport.handle(std::move(request));
      EXPECT_EQ(answer.status, 400);
    }
    const std::string update =
        R"({"type":"conversationUpdate","channelId":"msteams","serviceUrl":")" +
        fake.service_url() +
        R"(","conversation":{"id":"a:1"},"membersAdded":[{"id":"28:app-id"}]})";
    {
      TeamsRequest request{"Bearer good", update};
      auto answer = co_await transport.handle(std::move(request));
      EXPECT_EQ(answer.status, 200);
    }
    EXPECT_EQ(transport.stats().malformed, 2u);
    EXPECT_EQ(transport.stats().ignored, 1u);
    // An ignored activity records nothing: its conversation's reference is stored on its own.
    EXPECT_TRUE(refs.get("teams", "a:1").has_value());
    EXPECT_TRUE(echo.events.empty());
    EXPECT_EQ(fake.call_count(), 0u);
    intake.stop();
    co_await transport.stop(1s);
  });
}

TEST_F(TeamsTransportTest, TheRouteListensAndRefusesBodiesOverItsLimit) {
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    SteadyTimers timers(io.get_executor());
    CommandIntake intake(io.get_executor(), inbox, echo, timers);
    TeamsOptions small = options();
    small.max_body_bytes = 4096;
    TeamsTransport transport(io.get_executor(), intake, timers, &verifier, &credentials, &refs,
                             small);
    EXPECT_TRUE((co_await transport.start()).ok());
    EXPECT_GT(transport.port(), 0);
    integrations::net::HttpClient http(io.get_executor());
    const std::string url =
        "http://127.0.0.1:" + std::to_string(transport.port()) + "/api/messages";
    integrations::net::HttpRequest post{
        "POST",
        url,
        {{"Authorization", "Bearer good"}, {"Content-Type", "application/json"}},
        activity(fake, "5", "ping")};
    auto accepted = co_await http.send(post);
    EXPECT_TRUE(accepted.ok());
    if (accepted) {
      EXPECT_EQ(accepted->status, 202);
    }
    post.body = activity(fake, "6", std::string(10'000, 'x'));
    auto too_big = co_await http.send(post);
    EXPECT_TRUE(too_big.ok());
    if (too_big) {
      EXPECT_EQ(too_big->status, 413);
    }
    post.method = "GET";
    auto wrong_method = co_await http.send(post);
    if (wrong_method) {
      EXPECT_EQ(wrong_method->status, 405);
    }
    EXPECT_TRUE(co_await eventually([&] { return echo.events.size() == 1; }));
    intake.stop();
    co_await transport.stop(1s);
  });
}

TEST_F(TeamsTransportTest, AfterARestartStoredReferencesLetWorkReportWhereItWasAsked) {
  std::string address;
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    SteadyTimers timers(io.get_executor());
    CommandIntake intake(io.get_executor(), inbox, echo, timers);
    TeamsTransport transport(io.get_executor(), intake, timers, &verifier, &credentials, &refs,
                             options());
    co_await transport.start();
    TeamsRequest request{
        "Bearer good", activity(fake, "7", "ping", "19:chan@thread.tacv2;messageid=7", "channel")};
    co_await transport.handle(std::move(request));
    EXPECT_TRUE(co_await eventually([&] { return fake.activities().size() == 1; }));
    address = teams_address("19:chan@thread.tacv2;messageid=7", "7");
    intake.stop();
    co_await transport.stop(1s);
  });
  // A new process: nothing has arrived yet, but the stored reference knows the service URL.
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    SteadyTimers timers(io.get_executor());
    CommandIntake intake(io.get_executor(), inbox, echo, timers);
    TeamsTransport transport(io.get_executor(), intake, timers, &verifier, &credentials, &refs,
                             options());
    co_await transport.start();
    EXPECT_TRUE(transport.owns(address));
    auto conversation = transport.open(address);
    EXPECT_NE(conversation, nullptr);
    if (conversation) {
      EXPECT_EQ(conversation->address(), address);
      conversation->post(commands::success("deploy #12 finished"));
    }
    EXPECT_EQ(transport.open("teams:unknown-conversation:1"), nullptr);
    EXPECT_EQ(transport.open("slack:C1:1"), nullptr);
    co_await transport.connector().drain();
    const auto posted = fake.activities_in("19:chan@thread.tacv2;messageid=7");
    EXPECT_EQ(posted.size(), 2u);
    if (posted.size() == 2) {
      EXPECT_EQ(posted[1].reply_to_id, "7");
      EXPECT_NE(posted[1].body().find("deploy #12 finished"), std::string::npos);
    }
    intake.stop();
    co_await transport.stop(1s);
  });
}

// Says "started", waits an hour on the test's Timers, then says "finished".
class Slow final : public CommandDispatcher {
 public:
  explicit Slow(Timers& timers) : timers_(timers) {}
  bool changes_state(std::string_view) const override { return false; }
  asio::awaitable<void> dispatch(ChatEvent event, commands::Conversation& conversation) override {
    const auto ref = conversation.post(commands::info("started " + event.text));
    const auto hour = std::chrono::milliseconds(std::chrono::hours(1));
    co_await timers_.sleep_for(hour);
    conversation.update(ref, commands::success("finished " + event.text));
  }

 private:
  Timers& timers_;
};

TeamsOptions webhook_options() {
  TeamsOptions options;
  options.bind_address = "127.0.0.1";
  options.port = 0;
  options.identities = {{kAlice, "alice"}};
  options.webhook_verify = [](std::string_view authorization, std::string_view) -> Status {
    if (authorization == "HMAC good")
      return Ok{};
    return make_error("the HMAC does not match");
  };
  return options;
}

TEST_F(TeamsTransportTest, AnOutgoingWebhookIsAnsweredWithTheCommandsReplies) {
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    SteadyTimers timers(io.get_executor());
    CommandIntake intake(io.get_executor(), inbox, echo, timers);
    TeamsTransport transport(io.get_executor(), intake, timers, nullptr, nullptr, nullptr,
                             webhook_options());
    EXPECT_TRUE((co_await transport.start()).ok());
    TeamsRequest forged{"HMAC bad", activity(fake, "w1", "<at>Shipmate</at> ping")};
    auto refused = co_await transport.handle_webhook(std::move(forged));
    EXPECT_EQ(refused.status, 401);
    EXPECT_TRUE(echo.events.empty());
    TeamsRequest signed_request{"HMAC good", activity(fake, "w2", "<at>Shipmate</at> ping")};
    auto answer = co_await transport.handle_webhook(std::move(signed_request));
    EXPECT_EQ(answer.status, 200);
    const json::value body = json::parse(answer.body);
    EXPECT_EQ(body.at("type"), "message");
    EXPECT_EQ(body.at("text"), "pong: ping");
    EXPECT_EQ(echo.events.size(), 1u);
    if (!echo.events.empty()) {
      EXPECT_EQ(echo.events[0].user_id, "alice");
    }
    // No bot credentials: /api/messages is not served, and nothing calls a connector.
    TeamsRequest bot_request{"Bearer good", activity(fake, "w3", "ping")};
    auto not_served = co_await transport.handle(std::move(bot_request));
    EXPECT_EQ(not_served.status, 404);
    EXPECT_EQ(fake.call_count(), 0u);
    intake.stop();
    co_await transport.stop(1s);
  });
}

TEST_F(TeamsTransportTest, AnOutgoingWebhookAnswersBeforeTeamsGivesUpOnASlowCommand) {
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    ManualTimers timers(io.get_executor());
    Slow slow(timers);
    CommandIntake intake(io.get_executor(), inbox, slow, timers);
    TeamsTransport transport(io.get_executor(), intake, timers, nullptr, nullptr, nullptr,
                             webhook_options());
    std::optional<TeamsResponse> answer;
    asio::co_spawn(
        io,
        transport.handle_webhook(TeamsRequest{"HMAC good", activity(fake, "w4", "deploy hello")}),
        [&](std::exception_ptr, TeamsResponse response) { answer = std::move(response); });
    EXPECT_TRUE(co_await eventually([&] { return timers.sleeping() == 2; }));
    timers.advance(4499ms);
    EXPECT_FALSE(co_await eventually([&] { return answer.has_value(); }, 50ms));
    timers.advance(1ms);
    EXPECT_TRUE(co_await eventually([&] { return answer.has_value(); }));
    if (answer) {
      const json::value body = json::parse(answer->body);
      const std::string text(body.at("text").as_string());
      EXPECT_NE(text.find("started deploy hello"), std::string::npos) << text;
      EXPECT_NE(text.find("Still running"), std::string::npos) << text;
    }
    timers.advance(std::chrono::hours(1));
    intake.stop();
    co_await transport.stop(0ms);
  });
}

TEST_F(TeamsTransportTest, StartFailsClearlyWhenTheAppsCredentialsAreRefused) {
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    SteadyTimers timers(io.get_executor());
    CommandIntake intake(io.get_executor(), inbox, echo, timers);
    credentials.failure = make_error("the app password is wrong (AADSTS7000215)", ErrorKind::auth);
    TeamsTransport refused(io.get_executor(), intake, timers, &verifier, &credentials, &refs,
                           options());
    auto started = co_await refused.start();
    EXPECT_FALSE(started.ok());
    if (!started.ok()) {
      EXPECT_EQ(started.error().kind, ErrorKind::auth);
      EXPECT_NE(started.error().message.find("Teams refused the app's credentials"),
                std::string::npos);
      EXPECT_NE(started.error().message.find("MicrosoftAppPassword"), std::string::npos);
    }
    // An unreachable login endpoint is only a warning: inbound keeps working.
    credentials.failure =
        make_error("login.microsoftonline.com: connection refused", ErrorKind::unavailable);
    TeamsTransport unreachable(io.get_executor(), intake, timers, &verifier, &credentials, &refs,
                               options());
    EXPECT_TRUE((co_await unreachable.start()).ok());
    intake.stop();
    co_await unreachable.stop(0ms);
  });
}

// A client secret revoked while running: the next reply cannot get a token (the login endpoint
// answers invalid_client, an auth error), and the transport reports it as fatal, once, with a
// sentence naming what to check; a transient failure (unreachable login endpoint) is not fatal.
TEST_F(TeamsTransportTest, CredentialsRefusedWhileRunningAreFatalOnce) {
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    SteadyTimers timers(io.get_executor());
    CommandIntake intake(io.get_executor(), inbox, echo, timers);
    TeamsTransport transport(io.get_executor(), intake, timers, &verifier, &credentials, &refs,
                             options());
    std::vector<std::string> fatal;
    transport.on_fatal([&fatal](std::string why) { fatal.push_back(std::move(why)); });
    EXPECT_TRUE((co_await transport.start()).ok());

    credentials.failure =
        make_error("login.microsoftonline.com: connection refused", ErrorKind::unavailable);
    TeamsRequest transient{"Bearer good", activity(fake, "1700000000701", "ping")};
    EXPECT_EQ((co_await transport.handle(std::move(transient))).status, 202);
    EXPECT_TRUE(co_await eventually([&] { return echo.events.size() == 1; }));
    co_await transport.connector().drain();
    EXPECT_TRUE(fatal.empty());

    credentials.failure = make_error(
        "Microsoft Entra refused the app password for app 'app-id': the client secret is wrong "
        "(AADSTS7000215)",
        ErrorKind::auth);
    for (const char* id : {"1700000000702", "1700000000703"}) {
      TeamsRequest request{"Bearer good", activity(fake, id, "ping")};
      EXPECT_EQ((co_await transport.handle(std::move(request))).status, 202);
    }
    EXPECT_TRUE(co_await eventually([&] { return echo.events.size() == 3; }));
    co_await transport.connector().drain();
    EXPECT_EQ(fatal.size(), 1u);
    if (!fatal.empty()) {
      EXPECT_NE(fatal[0].find("Microsoft refused the app's credentials while running"),
                std::string::npos)
          << fatal[0];
      EXPECT_NE(fatal[0].find("AADSTS7000215"), std::string::npos) << fatal[0];
      EXPECT_NE(fatal[0].find("MicrosoftAppPassword"), std::string::npos) << fatal[0];
    }
    EXPECT_TRUE(fake.activities().empty());
    intake.stop();
    co_await transport.stop(0ms);
  });
}

// Teams has no workspace abilities without Microsoft Graph permissions; a caller that wants a
// room (an incident) falls back to the thread it started in, told why.
TEST_F(TeamsTransportTest, WithoutGraphPermissionsRoomsFallBackToTheThread) {
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    SteadyTimers timers(io.get_executor());
    CommandIntake intake(io.get_executor(), inbox, echo, timers);
    TeamsTransport transport(io.get_executor(), intake, timers, &verifier, &credentials, &refs,
                             options());
    const WorkspaceAbilities abilities = transport.abilities();
    EXPECT_FALSE(abilities.create_room || abilities.invite || abilities.pin ||
                 abilities.set_topic || abilities.resolve_channel);
    std::string name = "inc-7-checkout";
    auto created = co_await transport.create_room(std::move(name), false);
    EXPECT_FALSE(created.ok());
    if (!created.ok()) {
      EXPECT_NE(created.error().message.find("Microsoft Graph"), std::string::npos);
    }
    const std::string thread = teams_address("19:chan@thread.tacv2", "1700000000001");
    auto placed = co_await room_or_thread(transport, "inc-7-checkout", false, thread);
    EXPECT_FALSE(placed.room);
    EXPECT_EQ(placed.address, thread);
    EXPECT_NE(placed.fallback.find("teams cannot create rooms"), std::string::npos)
        << placed.fallback;
    EXPECT_NE(placed.fallback.find("Channel.Create"), std::string::npos) << placed.fallback;
    std::string topic_room = thread;
    auto topic = co_await transport.set_topic(std::move(topic_room), "sev2");
    EXPECT_FALSE(topic.ok());
    EXPECT_TRUE(fake.calls().empty()) << "nothing was asked of the connector";
    intake.stop();
    co_await transport.stop(0ms);
  });
}

TEST_F(TeamsTransportTest, TheListenerCanServeHttpsItself) {
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    SteadyTimers timers(io.get_executor());
    CommandIntake intake(io.get_executor(), inbox, echo, timers);
    TeamsOptions tls = options();
    tls.tls_cert_file = testing::shared_test_certificates().cert_path;
    tls.tls_key_file = testing::shared_test_certificates().key_path;
    TeamsTransport transport(io.get_executor(), intake, timers, &verifier, &credentials, &refs,
                             tls);
    EXPECT_TRUE((co_await transport.start()).ok());
    integrations::net::HttpClientOptions trusting;
    trusting.ca_file = testing::shared_test_certificates().ca_path;
    integrations::net::HttpClient http(io.get_executor(), trusting);
    integrations::net::HttpRequest post{
        "POST",
        "https://localhost:" + std::to_string(transport.port()) + "/api/messages",
        {{"Authorization", "Bearer good"}, {"Content-Type", "application/json"}},
        activity(fake, "t1", "ping")};
    auto accepted = co_await http.send(post);
    EXPECT_TRUE(accepted.ok()) << (accepted ? "" : accepted.error().message);
    if (accepted) {
      EXPECT_EQ(accepted->status, 202);
    }
    EXPECT_TRUE(co_await eventually([&] { return echo.events.size() == 1; }));
    intake.stop();
    co_await transport.stop(1s);
  });
}

TEST(TeamsAddress, RoundTripsIdsWithColonsAndPercents) {
  const std::string address = teams_address("19:a%b@thread.tacv2;messageid=1", "f:2");
  EXPECT_EQ(address, "teams:19%3Aa%25b@thread.tacv2;messageid=1:f%3A2");
  std::string conversation;
  std::string thread;
  ASSERT_TRUE(parse_teams_address(address, conversation, thread));
  EXPECT_EQ(conversation, "19:a%b@thread.tacv2;messageid=1");
  EXPECT_EQ(thread, "f:2");
  EXPECT_FALSE(parse_teams_address("teams:", conversation, thread));
  EXPECT_FALSE(parse_teams_address("teams:%zz:1", conversation, thread));
  EXPECT_FALSE(parse_teams_address("teams:a%2", conversation, thread));
}

}  // namespace
}  // namespace shipmate::bot::teams
