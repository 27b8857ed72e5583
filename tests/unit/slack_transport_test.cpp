// The Slack transport as a ChatTransport against the fake Slack: a mention goes through the
// CommandIntake with Slack's markup removed and the user mapped by id; the workspace abilities
// incidents will use; a refused bot token is an auth error.
#include "bot/slack/slack_transport.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <set>

#include "bot/command_intake.h"
#include "common/timer.h"
#include "storage/database.h"
#include "storage/inbox_store.h"
#include "tests/support/async_test.h"
#include "tests/support/fake_slack.h"

namespace shipmate::bot::slack {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::FakeSlack;

// Answers every command with "pong: <text>" and remembers what it was given.
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

// Polls `condition` on the event loop every 10 ms for up to `limit` (a generous deadline, not a
// timing assertion).
asio::awaitable<bool> eventually(std::function<bool()> condition,
                                 std::chrono::milliseconds limit = 30s) {
  auto executor = co_await asio::this_coro::executor;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline)
      co_return false;
    asio::steady_timer pause(executor, 10ms);
    co_await pause.async_wait(asio::use_awaitable);
  }
  co_return true;
}

class SlackTransportTest : public ::testing::Test {
 protected:
  SlackOptions options_for(const FakeSlack& slack) {
    SlackOptions options;
    options.app_token = slack.options().app_token;
    options.bot_token = slack.options().bot_token;
    options.api_url = slack.api_url();
    options.identities = {{"UALICE", "alice"}};
    options.reconnect_base = 10ms;
    return options;
  }
  FakeSlack slack{FakeSlack::Options{}};
  std::unique_ptr<storage::Database> db = std::move(*storage::Database::open(":memory:"));
  ManualClock clock;
  storage::InboxStore inbox{*db, clock};
  Echo echo;
};

TEST_F(SlackTransportTest, AMentionRunsThroughTheIntakeWithoutMarkupAsTheMappedUser) {
  testing::run_async_test(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        SteadyTimers timers(io.get_executor());
        CommandIntake intake(io.get_executor(), inbox, echo, timers);
        SlackTransport transport(io.get_executor(), intake, timers, options_for(slack));
        EXPECT_EQ(transport.name(), "slack");
        auto started = co_await transport.start();
        EXPECT_TRUE(started.ok());
        const bool connected = co_await eventually([&] { return transport.stats().connects >= 1; });
        EXPECT_TRUE(connected);

        FakeSlack::MentionSpec mention;
        mention.event_id = "EvT1";
        mention.user = "UALICE";
        mention.text = "<@UBOT> ping";
        mention.ts = "1700000001.000100";
        const std::string envelope =
            slack.send_envelope("events_api", FakeSlack::app_mention_event(mention));
        const bool answered = co_await eventually([&] {
          for (const auto& message : slack.messages()) {
            if (message.thread_ts == mention.ts &&
                message.text.find("pong: ping") != std::string::npos)
              return true;
          }
          return false;
        });
        EXPECT_TRUE(answered);
        EXPECT_EQ(echo.events.size(), 1u);
        if (!echo.events.empty()) {
          EXPECT_EQ(echo.events[0].text, "ping");
          EXPECT_EQ(echo.events[0].user_id, "alice");
          EXPECT_EQ(echo.events[0].platform, "slack");
          EXPECT_EQ(echo.events[0].event_id, "slack:event:EvT1");
        }
        // The ack and the reply travel on different sockets, so the fake may read the reply
        // first: wait for the ack itself.
        const bool acked = co_await eventually([&] { return slack.ack_count(envelope) >= 1; });
        EXPECT_TRUE(acked);
        EXPECT_EQ(slack.ack_count(envelope), 1);
        // A conversation for a stored address answers in the same thread.
        auto conversation = transport.open("slack:C1:" + mention.ts);
        EXPECT_NE(conversation, nullptr);
        if (conversation) {
          EXPECT_EQ(conversation->address(), "slack:C1:" + mention.ts);
        }
        EXPECT_TRUE(transport.owns("slack:C1:1.2"));
        EXPECT_FALSE(transport.owns("slackware:C1"));
        EXPECT_EQ(transport.open("terminal"), nullptr);
        intake.stop();
        co_await transport.stop(1s);
      },
      20s);
}

TEST_F(SlackTransportTest, WorkspaceAbilitiesForIncidents) {
  testing::run_async_test(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        SteadyTimers timers(io.get_executor());
        CommandIntake intake(io.get_executor(), inbox, echo, timers);
        SlackOptions options = options_for(slack);
        options.mode = "http";  // no sockets needed for the Web API
        options.signing_secret = "secret-0123456789";
        options.http_bind = "127.0.0.1";
        options.http_port = 0;
        SlackTransport transport(io.get_executor(), intake, timers, options);
        auto started = co_await transport.start();
        EXPECT_TRUE(started.ok());
        const WorkspaceAbilities abilities = transport.abilities();
        EXPECT_TRUE(abilities.create_room);
        EXPECT_TRUE(abilities.invite);
        EXPECT_TRUE(abilities.pin);
        EXPECT_TRUE(abilities.set_topic);
        EXPECT_TRUE(abilities.resolve_channel);
        EXPECT_TRUE(abilities.archive_room);

        std::string room_name = "inc-42-payments";
        auto room = co_await transport.create_room(std::move(room_name), false);
        EXPECT_TRUE(room.ok());
        const std::string address = room.ok() ? *room : "";
        EXPECT_EQ(address.rfind("slack:C", 0), 0u) << address;
        std::vector<std::string> users{"UALICE"};
        std::string target = address;
        auto invited = co_await transport.invite(std::move(target), std::move(users));
        EXPECT_TRUE(invited.ok());
        const auto members = slack.channel_members();
        const auto room_members =
            members.find(address.substr(std::min<std::size_t>(6, address.size())));
        EXPECT_TRUE(room_members != members.end());
        if (room_members != members.end()) {
          EXPECT_NE(std::find(room_members->second.begin(), room_members->second.end(), "UALICE"),
                    room_members->second.end());
        }
        // Channels by name: conversations.list, page by page; an unknown name says so.
        const std::string deploys = slack.add_channel("deploys");
        std::string wanted = "#Deploys";
        auto found = co_await transport.resolve_channel(std::move(wanted));
        EXPECT_TRUE(found.ok());
        EXPECT_EQ(found.ok() ? *found : found.error().message, "slack:" + deploys);
        std::string room_by_name = "inc-42-payments";  // made above: remembered, no lookup
        const auto lists = slack.calls("conversations.list").size();
        auto room_again = co_await transport.resolve_channel(std::move(room_by_name));
        EXPECT_EQ(room_again.ok() ? *room_again : "", address);
        EXPECT_EQ(slack.calls("conversations.list").size(), lists);
        std::string unknown = "nowhere";
        auto missing = co_await transport.resolve_channel(std::move(unknown));
        EXPECT_FALSE(missing.ok());
        if (!missing.ok()) {
          EXPECT_NE(missing.error().message.find("no Slack channel named #nowhere is visible"),
                    std::string::npos)
              << missing.error().message;
        }
        EXPECT_EQ(transport.mention(address), "<#" + address.substr(6) + ">");
        // Topic and pin on the room; a second pin of the same message is not an error.
        std::string topic_room = address;
        std::string topic_text = "INC-42 | sev1";
        auto topic = co_await transport.set_topic(std::move(topic_room), std::move(topic_text));
        EXPECT_TRUE(topic.ok());
        EXPECT_EQ(slack.channel_topics()[address.substr(6)], "INC-42 | sev1");
        auto room_conversation = transport.open(address);
        const auto card = room_conversation->post(commands::info("INC-42 card"));
        for (int i = 0; i < 2; ++i) {
          std::string pin_room = address;
          auto pinned = co_await transport.pin(std::move(pin_room), card);
          EXPECT_TRUE(pinned.ok()) << (pinned.ok() ? "" : pinned.error().message);
        }
        EXPECT_EQ(slack.channel_pins()[address.substr(6)].size(), 1u);
        // A refused scope names the scope the app needs.
        slack.fail_next("conversations.create", "missing_scope");
        std::string refused_name = "inc-43-x";
        auto refused = co_await transport.create_room(std::move(refused_name), false);
        EXPECT_FALSE(refused.ok());
        if (!refused.ok()) {
          EXPECT_EQ(refused.error().kind, ErrorKind::auth);
          EXPECT_NE(refused.error().message.find("missing_scope (the Slack app needs the "
                                                 "channels:manage scope)"),
                    std::string::npos)
              << refused.error().message;
        }
        // A private room is created invite-only; archiving twice is done once.
        std::string private_name = "inc-44-secret";
        auto secret = co_await transport.create_room(std::move(private_name), true);
        EXPECT_TRUE(secret.ok());
        const auto creates = slack.calls("conversations.create");
        EXPECT_EQ(creates.back().param("is_private"), "true");
        for (int i = 0; i < 2; ++i) {
          std::string archive_room = address;
          auto archived = co_await transport.archive_room(std::move(archive_room));
          EXPECT_TRUE(archived.ok()) << (archived.ok() ? "" : archived.error().message);
        }
        EXPECT_EQ(slack.archived_channels(), (std::set<std::string>{address.substr(6)}));
        EXPECT_EQ(slack.calls("conversations.archive").size(), 2u);
        std::vector<std::string> more{"UALICE"};
        std::string elsewhere = "terminal";
        auto bad = co_await transport.invite(std::move(elsewhere), std::move(more));
        EXPECT_FALSE(bad.ok());
        intake.stop();
        co_await transport.stop(1s);
      },
      20s);
}

// Socket cuts against the manual-time seam: no sleep is ever completed unless the test moves
// time, so "reconnected without advancing" means "reconnected without waiting".
TEST_F(SlackTransportTest, TwoSocketsByDefaultACutOneIsReplacedAtOnceAndRepeatedFailuresBackOff) {
  testing::run_async_test(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        ManualTimers timers(io.get_executor());
        CommandIntake intake(io.get_executor(), inbox, echo, timers);
        SlackOptions options = options_for(slack);
        options.connections = SlackOptions{}.connections;  // the default
        EXPECT_EQ(options.connections, 2);
        options.reconnect_base = 1s;
        SlackTransport transport(io.get_executor(), intake, timers, options);
        auto started = co_await transport.start();
        EXPECT_TRUE(started.ok());
        bool both = co_await eventually([&] { return transport.stats().open_connections == 2; });
        EXPECT_TRUE(both);
        EXPECT_EQ(slack.total_connections(), 2);

        // A cut: the other socket stays open, and the cut slot connects again at once.
        const auto open = slack.open_connections();
        EXPECT_EQ(open.size(), 2u);
        slack.cut(open.front());
        const bool replaced = co_await eventually([&] {
          return slack.total_connections() == 3 && transport.stats().open_connections == 2;
        });
        EXPECT_TRUE(replaced) << slack.total_connections() << " accepted";
        EXPECT_EQ(timers.sleeping(), 0u);

        // Cut again while Slack refuses new connections: the first retry goes at once and
        // fails, the second waits for the backoff (manual time), the third after twice that.
        const int opens_before = static_cast<int>(slack.calls("apps.connections.open").size());
        slack.set_connections_open_error("internal_error");
        slack.cut(slack.open_connections().front());
        const bool backing_off = co_await eventually([&] { return timers.sleeping() == 1; });
        EXPECT_TRUE(backing_off);
        EXPECT_EQ(static_cast<int>(slack.calls("apps.connections.open").size()), opens_before + 1);
        EXPECT_EQ(transport.stats().open_connections, 1);  // the other socket never went away
        timers.advance(1s);                                // at most base (jitter only shortens it)
        const bool second_try = co_await eventually([&] {
          return static_cast<int>(slack.calls("apps.connections.open").size()) ==
                     opens_before + 2 &&
                 timers.sleeping() == 1;
        });
        EXPECT_TRUE(second_try);
        slack.set_connections_open_error("");
        timers.advance(2s);
        const bool recovered = co_await eventually([&] {
          return transport.stats().open_connections == 2 && slack.total_connections() == 4;
        });
        EXPECT_TRUE(recovered);
        intake.stop();
        co_await transport.stop(0ms);
      },
      20s);
}

// A name missing from the cache lists conversations again, but at most once per
// channel_relist_interval after a full pass that missed (manual clock); a listing refused for a
// scope names the scopes a person has to add.
TEST_F(SlackTransportTest, ResolveChannelRelistsAtMostOncePerIntervalAndNamesMissingScopes) {
  testing::run_async_test(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        SteadyTimers timers(io.get_executor());
        CommandIntake intake(io.get_executor(), inbox, echo, timers);
        SlackOptions options = options_for(slack);
        options.mode = "http";  // no sockets needed for the Web API
        options.signing_secret = "secret-0123456789";
        options.http_bind = "127.0.0.1";
        options.http_port = 0;
        options.channel_relist_interval = 60s;
        options.clock = &clock;
        SlackTransport transport(io.get_executor(), intake, timers, options);
        auto started = co_await transport.start();
        EXPECT_TRUE(started.ok());
        auto lists = [&] { return slack.calls("conversations.list").size(); };
        // Named locals before every co_await (GCC 12 and temporaries in a co_await's arguments).
        std::string deploys_name = "#deploys", nowhere_name = "#nowhere",
                    deploys_again = "#deploys", later_name = "#made-later",
                    later_again = "#made-later";

        // A refused listing names the scopes, and does not hold back the next listing.
        slack.fail_next("conversations.list", "missing_scope");
        auto refused = co_await transport.resolve_channel(std::move(deploys_name));
        EXPECT_FALSE(refused.ok());
        if (!refused.ok()) {
          EXPECT_EQ(refused.error().kind, ErrorKind::auth);
          EXPECT_NE(refused.error().message.find("missing_scope"), std::string::npos);
          EXPECT_NE(refused.error().message.find(
                        "the Slack app needs the channels:read and groups:read scopes"),
                    std::string::npos)
              << refused.error().message;
        }
        EXPECT_EQ(lists(), 1u);

        const std::string deploys = slack.add_channel("deploys");
        auto missing =
            co_await transport.resolve_channel(std::move(nowhere_name));  // a full pass that misses
        EXPECT_FALSE(missing.ok());
        EXPECT_EQ(lists(), 2u);
        auto found = co_await transport.resolve_channel(
            std::move(deploys_again));  // seen by that pass: no listing
        EXPECT_EQ(found.ok() ? *found : found.error().message, "slack:" + deploys);
        EXPECT_EQ(lists(), 2u);

        // Within the interval another unknown name is not listed for, and says why.
        const std::string later = slack.add_channel("made-later");
        clock.advance_ms(59'000);
        auto held = co_await transport.resolve_channel(std::move(later_name));
        EXPECT_FALSE(held.ok());
        EXPECT_EQ(lists(), 2u);
        if (!held.ok()) {
          EXPECT_EQ(held.error().kind, ErrorKind::not_found);
          EXPECT_NE(held.error().message.find("no Slack channel named #made-later is visible"),
                    std::string::npos);
          EXPECT_NE(held.error().message.find(
                        "listed 59 s ago and are listed again at most once every 60 s"),
                    std::string::npos)
              << held.error().message;
        }
        // Once the interval has passed, the next miss lists again and finds the new channel.
        clock.advance_ms(1'000);
        auto now_found = co_await transport.resolve_channel(std::move(later_again));
        EXPECT_EQ(now_found.ok() ? *now_found : now_found.error().message, "slack:" + later);
        EXPECT_EQ(lists(), 3u);
        intake.stop();
        co_await transport.stop(1s);
      },
      20s);
}

// stop() during each wait the transport can be in ends that wait through the operation's
// cancellation signal: manual time never moves, so an operation that ended did not wait for
// time, and no Web API call is made after stop().
class SlackTransportStopTest : public SlackTransportTest {
 protected:
  // Starts a one-connection transport on manual time, lets `reach` bring it into a wait, stops
  // it, and checks that every operation ended without time passing and nothing was called after.
  void stop_while(const std::function<asio::awaitable<bool>(SlackTransport&, ManualTimers&)>& reach,
                  int connections = 1) {
    testing::run_async_test(
        [&](asio::io_context& io) -> asio::awaitable<void> {
          ManualTimers timers(io.get_executor());
          CommandIntake intake(io.get_executor(), inbox, echo, timers);
          SlackOptions options = options_for(slack);
          options.connections = connections;
          options.reconnect_base = 1s;
          SlackTransport transport(io.get_executor(), intake, timers, options);
          auto started = co_await transport.start();
          EXPECT_TRUE(started.ok());
          const bool waiting = co_await reach(transport, timers);
          EXPECT_TRUE(waiting) << "the transport never reached the wait under test";
          EXPECT_GT(transport.operations_in_flight(), 0u);
          const auto calls_before = slack.calls().size();

          intake.stop();
          co_await transport.stop(0ms);
          EXPECT_EQ(transport.readiness_problem(), "stopping");
          const bool ended = co_await eventually(
              [&] { return transport.operations_in_flight() == 0 && timers.sleeping() == 0; });
          EXPECT_TRUE(ended) << transport.operations_in_flight() << " operations, "
                             << timers.sleeping() << " sleeps left";
          EXPECT_EQ(timers.now(), 0ms);  // nothing waited for time
          EXPECT_EQ(slack.calls().size(), calls_before);
          EXPECT_EQ(transport.stats().open_connections, 0);
        },
        20s);
  }
};

TEST_F(SlackTransportStopTest, StopDuringASocketReadEndsItAtOnce) {
  stop_while([&](SlackTransport& transport, ManualTimers&) -> asio::awaitable<bool> {
    co_return co_await eventually([&] { return transport.stats().open_connections == 1; });
  });
  EXPECT_TRUE(slack.wait_for_closed(0));
}

TEST_F(SlackTransportStopTest, StopDuringTheReconnectBackOffEndsIt) {
  stop_while([&](SlackTransport& transport, ManualTimers& timers) -> asio::awaitable<bool> {
    const bool open = co_await eventually([&] { return transport.stats().open_connections == 1; });
    if (!open)
      co_return false;
    // The retry after a cut goes at once and fails; the next one waits for the backoff.
    slack.set_connections_open_error("internal_error");
    slack.cut(0);
    co_return co_await eventually(
        [&] { return timers.sleeping() == 1 && slack.calls("apps.connections.open").size() == 2; });
  });
}

TEST_F(SlackTransportStopTest, StopDuringARateLimitPauseEndsItWithoutAnotherCall) {
  // apps.connections.open answers 429 with Retry-After: 30; the Web API waits on manual time.
  slack.rate_limit_next("apps.connections.open", 30);
  stop_while([&](SlackTransport&, ManualTimers& timers) -> asio::awaitable<bool> {
    co_return co_await eventually(
        [&] { return timers.sleeping() == 1 && slack.calls("apps.connections.open").size() == 1; });
  });
  EXPECT_EQ(slack.calls("apps.connections.open").size(), 1u);
}

TEST_F(SlackTransportStopTest, StopDuringAHandOverEndsTheWaitAndTheReplacement) {
  // A disconnect asks for a replacement; Slack refuses new connections, so the old connection
  // waits for a hand-over that does not come while the replacement backs off.
  stop_while([&](SlackTransport& transport, ManualTimers& timers) -> asio::awaitable<bool> {
    const bool open = co_await eventually([&] { return transport.stats().open_connections == 1; });
    if (!open)
      co_return false;
    slack.set_connections_open_error("internal_error");
    slack.send_disconnect("refresh_requested", 0);
    co_return co_await eventually([&] {
      return transport.operations_in_flight() == 2 && timers.sleeping() == 1 &&
             slack.calls("apps.connections.open").size() == 3;
    });
  });
}

TEST_F(SlackTransportTest, ARefusedBotTokenIsAnAuthErrorThatNamesTheToken) {
  testing::run_async_test(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        SteadyTimers timers(io.get_executor());
        CommandIntake intake(io.get_executor(), inbox, echo, timers);
        SlackOptions options = options_for(slack);
        options.bot_token = "xoxb-revoked";
        SlackTransport transport(io.get_executor(), intake, timers, options);
        auto started = co_await transport.start();
        EXPECT_FALSE(started.ok());
        if (!started.ok()) {
          EXPECT_EQ(started.error().kind, ErrorKind::auth);
          EXPECT_NE(started.error().message.find("Slack refused the bot token (auth.test failed: "
                                                 "invalid_auth); check SLACK_BOT_TOKEN"),
                    std::string::npos)
              << started.error().message;
        }
        co_await transport.stop(0ms);
      },
      20s);
}

}  // namespace
}  // namespace shipmate::bot::slack
