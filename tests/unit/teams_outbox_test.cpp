// Teams replies through the reply outbox (bot/reply_outbox.h), against the fake connector over
// real sockets: each reply is held in the connector's queue until its row is recorded, and its
// row is confirmed with the activity id the connector returned; after a restart, unconfirmed
// rows are sent once (Teams cannot be asked whether a post arrived) and an update edits the
// activity recorded for its post.
#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "bot/command_intake.h"
#include "bot/reply_outbox.h"
#include "bot/teams/teams_transport.h"
#include "common/timer.h"
#include "storage/conversation_refs.h"
#include "storage/database.h"
#include "storage/inbox_store.h"
#include "storage/outbox_store.h"
#include "tests/support/async_test.h"
#include "tests/support/fake_teams.h"
#include "tests/support/teams_doubles.h"

namespace shipmate::bot::teams {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using testing::FakeTeamsConnector;

const std::string kAlice = "00000000-0000-0000-0000-0000000000a1";
const std::string kConversation = "a:1personal";

// "card": a post, an update of it and a reply in its thread. Anything else: one reply.
class CardDispatcher final : public CommandDispatcher {
 public:
  bool changes_state(std::string_view) const override { return false; }
  asio::awaitable<void> dispatch(ChatEvent event, commands::Conversation& conversation) override {
    if (event.text == "card") {
      const auto ref = conversation.post(commands::info("card v1"));
      conversation.update(ref, commands::info("card v2"));
      conversation.thread_reply(ref, commands::info("detail"));
      co_return;
    }
    conversation.post(commands::info("pong: " + event.text));
  }
};

asio::awaitable<bool> eventually(std::function<bool()> condition,
                                 std::chrono::milliseconds limit = 20s) {
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

std::string activity(const FakeTeamsConnector& fake, const std::string& id,
                     const std::string& text) {
  json::object body{{"type", "message"},
                    {"id", id},
                    {"channelId", "msteams"},
                    {"serviceUrl", fake.service_url()},
                    {"from", {{"id", "29:alice"}, {"aadObjectId", kAlice}, {"name", "Alice"}}},
                    {"recipient", {{"id", "28:app-id"}, {"name", "Shipmate"}}},
                    {"conversation", {{"id", kConversation}, {"conversationType", "personal"}}},
                    {"text", text}};
  return json::serialize(body);
}

struct Row {
  std::string key;
  std::string intent;
  std::string state;
  std::string platform_id;
};

std::vector<Row> rows_of(storage::Database& db) {
  std::vector<Row> rows;
  auto select = db.prepare("SELECT idem_key, intent, state, platform_id FROM outbox ORDER BY seq");
  while (select.step())
    rows.push_back(Row{select.column_text(0), select.column_text(1), select.column_text(2),
                       select.column_text(3)});
  return rows;
}

class TeamsOutboxTest : public ::testing::Test {
 protected:
  TeamsOptions options() {
    TeamsOptions options;
    options.app_id = "app-id";
    options.bind_address = "127.0.0.1";
    options.port = 0;
    options.identities = {{kAlice, "alice"}};
    return options;
  }
  CommandIntake::Options intake_options() {
    CommandIntake::Options options;
    options.outbox = &outbox;
    return options;
  }
  bool all_sent() {
    const auto rows = rows_of(*db);
    return !rows.empty() && outbox.unsent("teams").empty();
  }

  FakeTeamsConnector fake;
  std::unique_ptr<storage::Database> db = std::move(*storage::Database::open(":memory:"));
  ManualClock clock;
  storage::InboxStore inbox{*db, clock};
  storage::OutboxStore outbox{*db, inbox, clock};
  storage::ConversationRefStore refs{*db, clock};
  testing::ScriptedVerifier verifier;
  testing::CountingCredentials credentials;
  CardDispatcher dispatcher;
};

TEST_F(TeamsOutboxTest, EachReplyIsConfirmedWithTheActivityIdTheConnectorReturned) {
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    SteadyTimers timers(io.get_executor());
    CommandIntake intake(io.get_executor(), inbox, dispatcher, timers, intake_options());
    TeamsTransport transport(io.get_executor(), intake, timers, &verifier, &credentials, &refs,
                             options());
    EXPECT_TRUE((co_await transport.start()).ok());
    TeamsRequest request{"Bearer good", activity(fake, "1700000000001", "card")};
    EXPECT_EQ((co_await transport.handle(std::move(request))).status, 202);
    EXPECT_TRUE(co_await eventually([&] { return rows_of(*db).size() == 3 && all_sent(); }));
    co_await transport.connector().drain();

    const auto rows = rows_of(*db);
    const auto posted = fake.activities_in(kConversation);
    EXPECT_EQ(rows.size(), 3u);
    EXPECT_EQ(posted.size(), 2u);  // the card, and the reply in its thread
    if (rows.size() == 3 && posted.size() == 2) {
      const auto& card = posted[0];
      const auto& detail = posted[1];
      EXPECT_EQ(card.versions.size(), 2u);  // posted, then updated in place
      EXPECT_NE(card.body().find("card v2"), std::string::npos);
      EXPECT_EQ(detail.reply_to_id, card.id);
      EXPECT_EQ(rows[0].intent, "post");
      EXPECT_EQ(rows[0].platform_id, card.id);
      EXPECT_EQ(rows[1].intent, "update");
      EXPECT_EQ(rows[1].platform_id, card.id);
      EXPECT_EQ(rows[2].intent, "thread_reply");
      EXPECT_EQ(rows[2].platform_id, detail.id);
      EXPECT_TRUE(rows[0].key.starts_with("teams:")) << rows[0].key;
      EXPECT_TRUE(rows[0].key.ends_with("#0")) << rows[0].key;
    }
    EXPECT_EQ(intake.outbox()->stats().sent, 3u);
    EXPECT_EQ(intake.outbox()->stats().resent, 0u);
    intake.stop();
    co_await transport.stop(1s);
  });
}

TEST_F(TeamsOutboxTest, AfterARestartUnconfirmedRepliesAreSentOnceAndAnUpdateEditsTheKnownCard) {
  std::string card_key;
  std::string card_id;
  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    SteadyTimers timers(io.get_executor());
    CommandIntake intake(io.get_executor(), inbox, dispatcher, timers, intake_options());
    TeamsTransport transport(io.get_executor(), intake, timers, &verifier, &credentials, &refs,
                             options());
    co_await transport.start();
    TeamsRequest request{"Bearer good", activity(fake, "1700000000001", "ping")};
    co_await transport.handle(std::move(request));
    EXPECT_TRUE(co_await eventually([&] { return all_sent(); }));
    const auto rows = rows_of(*db);
    if (!rows.empty()) {
      card_key = rows[0].key;
      card_id = rows[0].platform_id;
    }
    intake.stop();
    co_await transport.stop(1s);
  });
  ASSERT_FALSE(card_id.empty());
  ASSERT_EQ(fake.activities().size(), 1u);

  // What a crash leaves: a post recorded but never confirmed (it may or may not have left), and
  // an update of the first card recorded but not confirmed.
  {
    storage::OutboxRow post;
    post.key = "teams:message:a:1personal:1700000000002#0";
    post.platform = "teams";
    post.channel = kConversation;
    post.thread = "1700000000002";
    post.intent = "post";
    post.body = encode_message(commands::info("pong: again"));
    storage::OutboxRow update;
    update.key = "teams:message:a:1personal:1700000000001#1";
    update.platform = "teams";
    update.channel = kConversation;
    update.thread = "1700000000001";
    update.intent = "update";
    update.target_key = card_key;
    update.body = encode_message(commands::success("pong, edited"));
    outbox.commit({post, update}, {}, {});
  }

  testing::run_async_test([&](asio::io_context& io) -> asio::awaitable<void> {
    SteadyTimers timers(io.get_executor());
    CommandIntake intake(io.get_executor(), inbox, dispatcher, timers, intake_options());
    TeamsTransport transport(io.get_executor(), intake, timers, &verifier, &credentials, &refs,
                             options());
    co_await transport.start();  // replays: the outbox settles the two rows first
    EXPECT_TRUE(co_await eventually([&] { return all_sent(); }));
    co_await transport.connector().drain();
    const auto posted = fake.activities_in(kConversation);
    EXPECT_EQ(posted.size(), 2u);  // the first card and the post, once
    if (posted.size() == 2) {
      EXPECT_EQ(posted[0].id, card_id);
      EXPECT_EQ(posted[0].versions.size(), 2u);
      EXPECT_NE(posted[0].body().find("pong, edited"), std::string::npos);
      EXPECT_EQ(posted[1].reply_to_id, "1700000000002");
      EXPECT_NE(posted[1].body().find("pong: again"), std::string::npos);
      EXPECT_EQ(outbox.find("teams:message:a:1personal:1700000000002#0")->platform_id,
                posted[1].id);
    }
    const auto& stats = intake.outbox()->stats();
    EXPECT_EQ(stats.recovered, 2u);
    EXPECT_EQ(stats.found, 0u);  // Teams cannot be asked
    EXPECT_EQ(stats.resent, 2u);
    intake.stop();
    co_await transport.stop(1s);
  });
}

}  // namespace
}  // namespace shipmate::bot::teams
