// SlackWorkspace (bot/slack/slack_workspace.h) on its own, over a WebApi against the fake Slack:
// addresses, mentions, and reading back the message a reaction was added to (found, missing, a
// refused scope). The room operations are also driven through SlackTransport in
// slack_transport_test.cpp.
#include "bot/slack/slack_workspace.h"

#include <gtest/gtest.h>

#include "bot/slack/web_api.h"
#include "common/timer.h"
#include "integrations/net/http_client.h"
#include "tests/support/async_test.h"
#include "tests/support/fake_slack.h"

namespace shipmate::bot::slack {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::FakeSlack;

TEST(SlackWorkspaceTest, AddressesSplitIntoChannelAndThreadAndMentionTheChannel) {
  EXPECT_EQ(split_slack_address("slack:C1:1700000000.000100"),
            (std::pair<std::string, std::string>{"C1", "1700000000.000100"}));
  EXPECT_EQ(split_slack_address("slack:C1:"), (std::pair<std::string, std::string>{"C1", ""}));
  EXPECT_EQ(split_slack_address("slack:C1"), (std::pair<std::string, std::string>{"C1", ""}));
  EXPECT_EQ(split_slack_address("teams:19:abc").first, "");
  EXPECT_EQ(SlackWorkspace::mention("slack:C9:"), "<#C9>");
  EXPECT_EQ(SlackWorkspace::mention("#deploys"), "#deploys");
}

TEST(SlackWorkspaceTest, AReactedToMessageIsReadBackOrTheReasonSaysWhyNot) {
  FakeSlack slack{FakeSlack::Options{}};
  const std::string channel = slack.add_channel("incident-1");
  const std::string ts = slack.add_user_message(channel, "UALICE", "the database is back");
  testing::run_async_test(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        ManualTimers timers(io.get_executor());
        integrations::net::HttpClient http(io.get_executor());
        WebApi web(io.get_executor(), http, slack.options().bot_token,
                   WebApiOptions{slack.api_url(), 1, {}}, timers);
        ManualClock clock;
        SlackWorkspace workspace(web, clock, 60s);
        std::string found_channel = channel, found_ts = ts;
        auto found =
            co_await workspace.read_message_text(std::move(found_channel), std::move(found_ts));
        EXPECT_EQ(found.ok() ? *found : found.error().message, "the database is back");

        // No message at that ts (deleted, or a reply inside a thread, which history omits).
        std::string missing_channel = channel, missing_ts = "1600000000.000001";
        auto missing =
            co_await workspace.read_message_text(std::move(missing_channel), std::move(missing_ts));
        EXPECT_FALSE(missing.ok());
        if (!missing.ok()) {
          EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
          EXPECT_EQ(missing.error().message, "a thread reply, or deleted");
        }

        // A refused read names the scope to add.
        slack.fail_next("conversations.history", "missing_scope");
        std::string refused_channel = channel, refused_ts = ts;
        auto refused =
            co_await workspace.read_message_text(std::move(refused_channel), std::move(refused_ts));
        EXPECT_FALSE(refused.ok());
        if (!refused.ok()) {
          EXPECT_EQ(refused.error().kind, ErrorKind::auth);
          EXPECT_NE(refused.error().message.find("the Slack app needs the channels:history scope"),
                    std::string::npos)
              << refused.error().message;
        }
        web.shutdown();
      },
      20s);
}

}  // namespace
}  // namespace shipmate::bot::slack
