#include "bot/slack/http_mode.h"

#include <gtest/gtest.h>

#include <vector>

#include <boost/asio/io_context.hpp>

#include "bot/slack/signing.h"
#include "integrations/net/http_client.h"
#include "integrations/net/http_server.h"
#include "tests/support/async_test.h"

namespace shipmate::bot::slack {
namespace {

constexpr const char* kSecret = "8f742231b10e8888abcd99yyyzzz85a5";
constexpr std::int64_t kNow = 1'700'000'000;

class SlackHttpTest : public ::testing::Test {
 protected:
  SlackHttpRequest signed_request(const std::string& path, const std::string& body,
                                  std::int64_t at = kNow) {
    SlackHttpRequest request;
    request.path = path;
    request.body = body;
    request.timestamp = std::to_string(at);
    request.signature = compute_signature(kSecret, request.timestamp, body);
    return request;
  }

  std::vector<InboundCommand> accepted;
  bool accept_result = true;
  SlackHttpHandler handler{kSecret, "UBOT",
                           [this](const InboundCommand& command) {
                             accepted.push_back(command);
                             return accept_result;
                           },
                           [] { return kNow; }};
};

const std::string kMention =
    R"({"type":"event_callback","team_id":"T1","api_app_id":"A1","event_id":"Ev42",)"
    R"("event_time":1700000000,"event":{"type":"app_mention","user":"U1",)"
    R"("text":"<@UBOT> ping","ts":"1700000000.000100","channel":"C1",)"
    R"("event_ts":"1700000000.000100"}})";

TEST_F(SlackHttpTest, SignedEventIsAcceptedAndAnsweredAtOnce) {
  auto response = handler.handle(signed_request("/slack/events", kMention));
  EXPECT_EQ(response.status, 200);
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(accepted[0].dedupe_key, "event:Ev42");
  EXPECT_EQ(accepted[0].user_id, "U1");
}

TEST_F(SlackHttpTest, UrlVerificationEchoesTheChallenge) {
  auto response = handler.handle(signed_request(
      "/slack/events", R"({"type":"url_verification","token":"x","challenge":"abc123"})"));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "abc123");
  EXPECT_TRUE(accepted.empty());
}

TEST_F(SlackHttpTest, ForgedTamperedStaleAndReplayedRequestsAreRefused) {
  auto forged = signed_request("/slack/events", kMention);
  forged.signature = compute_signature("not-the-secret", forged.timestamp, kMention);
  EXPECT_EQ(handler.handle(forged).status, 401);

  auto tampered = signed_request("/slack/events", kMention);
  tampered.body.replace(tampered.body.find("ping"), 4, "lock");
  EXPECT_EQ(handler.handle(tampered).status, 401);

  // Signed correctly, but six minutes ago: a replay of a captured request.
  auto stale = signed_request("/slack/events", kMention, kNow - 360);
  EXPECT_EQ(handler.handle(stale).status, 401);

  // A captured signature replayed with a fresh timestamp no longer matches.
  auto replayed = stale;
  replayed.timestamp = std::to_string(kNow);
  EXPECT_EQ(handler.handle(replayed).status, 401);

  auto unsigned_request = signed_request("/slack/events", kMention);
  unsigned_request.signature.clear();
  EXPECT_EQ(handler.handle(unsigned_request).status, 401);
  EXPECT_TRUE(accepted.empty());
}

TEST_F(SlackHttpTest, SlashCommandAndInteractionForms) {
  const std::string slash =
      "token=x&team_id=T1&channel_id=C7&user_id=U2&command=%2Fshipmate&text=status+hello&"
      "trigger_id=13345224609.738474920.8088930838d88f008e0&response_url=https%3A%2F%2Fx";
  EXPECT_EQ(handler.handle(signed_request("/slack/commands", slash)).status, 200);
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(accepted[0].text, "status hello");
  EXPECT_EQ(accepted[0].channel, "C7");

  const std::string payload =
      R"({"type":"block_actions","user":{"id":"U3","username":"c"},"trigger_id":"t9",)"
      R"("channel":{"id":"C8","name":"deploys"},"container":{"type":"message",)"
      R"("message_ts":"1700000000.000500","channel_id":"C8"},"actions":[{"type":"button",)"
      R"("block_id":"b","action_id":"shipmate_cmd_0","value":"rollback hello in staging",)"
      R"("action_ts":"1700000001.000000","text":{"type":"plain_text","text":"Roll back"}}]})";
  std::string form = "payload=";
  for (char c : payload) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      form += c;
    } else {
      char buffer[4];
      std::snprintf(buffer, sizeof buffer, "%%%02X", static_cast<unsigned char>(c));
      form += buffer;
    }
  }
  EXPECT_EQ(handler.handle(signed_request("/slack/interactivity", form)).status, 200);
  ASSERT_EQ(accepted.size(), 2u);
  EXPECT_EQ(accepted[1].text, "rollback hello in staging");
  EXPECT_EQ(accepted[1].user_id, "U3");
}

TEST_F(SlackHttpTest, SslCheckIsAnsweredWithoutASignature) {
  SlackHttpRequest check;
  check.path = "/slack/commands";
  check.body = "ssl_check=1&token=x";
  EXPECT_EQ(handler.handle(check).status, 200);
  EXPECT_TRUE(accepted.empty());
}

TEST_F(SlackHttpTest, MalformedBodiesUnknownPathsAndStorageTrouble) {
  EXPECT_EQ(handler.handle(signed_request("/slack/events", "{not json")).status, 400);
  EXPECT_EQ(handler.handle(signed_request("/other", kMention)).status, 404);
  auto get = signed_request("/slack/events", kMention);
  get.method = "GET";
  EXPECT_EQ(handler.handle(get).status, 405);
  accept_result = false;
  EXPECT_EQ(handler.handle(signed_request("/slack/events", kMention)).status, 500);
}

// The endpoints over real sockets, on integrations/net's HttpServer.
namespace net = integrations::net;
namespace asio = boost::asio;

net::HttpRequest slack_post(int port, const std::string& path, const std::string& body,
                            std::int64_t at = kNow) {
  net::HttpRequest request;
  request.method = "POST";
  request.url = "http://127.0.0.1:" + std::to_string(port) + path;
  const std::string timestamp = std::to_string(at);
  request.headers = {{"Content-Type", "application/json"},
                     {"X-Slack-Request-Timestamp", timestamp},
                     {"x-slack-signature", compute_signature(kSecret, timestamp, body)}};
  request.body = body;
  request.timeout = std::chrono::seconds(20);  // a guard for a loaded machine
  return request;
}

net::HttpClientOptions no_proxy() {
  net::HttpClientOptions options;
  options.proxy = "";
  return options;
}

TEST_F(SlackHttpTest, ServerAnswersSignedEventsAndRefusesOtherPathsAndMethods) {
  shipmate::testing::run_async_test([this](asio::io_context& ioc) -> asio::awaitable<void> {
    auto server = SlackHttpServer::start(
        ioc.get_executor(), "127.0.0.1", 0,
        [this](const SlackHttpRequest& request) { return handler.handle(request); });
    if (!server) {
      ADD_FAILURE() << server.error().message;
      co_return;
    }
    const int port = (*server)->port();
    net::HttpClient client(ioc.get_executor(), no_proxy());
    net::HttpRequest event = slack_post(port, "/slack/events", kMention);
    auto answered = co_await client.send(event);
    EXPECT_TRUE(answered.ok() && answered->status == 200);
    EXPECT_EQ(accepted.size(), 1u);

    net::HttpRequest forged = slack_post(port, "/slack/events", kMention);
    forged.headers.back().second = "v0=0000";
    auto refused = co_await client.send(forged);
    EXPECT_TRUE(refused.ok() && refused->status == 401);

    net::HttpRequest elsewhere = slack_post(port, "/slack/other", kMention);
    auto not_found = co_await client.send(elsewhere);
    EXPECT_TRUE(not_found.ok() && not_found->status == 404);

    net::HttpRequest get = slack_post(port, "/slack/commands", "");
    get.method = "GET";
    auto wrong_method = co_await client.send(get);
    EXPECT_TRUE(wrong_method.ok() && wrong_method->status == 405);
    EXPECT_EQ(accepted.size(), 1u);
    (*server)->stop();
  });
}

// Issue 18, item 10: a body over the limit used to reset the connection.
TEST_F(SlackHttpTest, BodyOverTheLimitIsAnswered413WithAReasonNotAReset) {
  shipmate::testing::run_async_test([this](asio::io_context& ioc) -> asio::awaitable<void> {
    auto server = SlackHttpServer::start(
        ioc.get_executor(), "127.0.0.1", 0,
        [this](const SlackHttpRequest& request) { return handler.handle(request); });
    if (!server) {
      ADD_FAILURE() << server.error().message;
      co_return;
    }
    net::HttpClient client(ioc.get_executor(), no_proxy());
    const std::string huge(1024 * 1024 + 1, 'x');
    net::HttpRequest request = slack_post((*server)->port(), "/slack/commands", huge);
    auto response = co_await client.send(request);
    if (!response) {
      ADD_FAILURE() << "no answer: " << response.error().message;
      co_return;
    }
    EXPECT_EQ(response->status, 413);
    EXPECT_EQ(response->body, "request body larger than 1 MiB\n");
    EXPECT_TRUE(accepted.empty());
  });
}

TEST_F(SlackHttpTest, RoutesMountOnAServerSharedWithOtherOwners) {
  shipmate::testing::run_async_test([this](asio::io_context& ioc) -> asio::awaitable<void> {
    auto server = net::HttpServer::start(ioc.get_executor(), {});
    if (!server) {
      ADD_FAILURE() << server.error().message;
      co_return;
    }
    EXPECT_TRUE((*server)
                    ->mount("GET", "/healthz",
                            [](net::ServerRequest) -> asio::awaitable<net::ServerResponse> {
                              co_return net::ServerResponse::text(200, "ok");
                            })
                    .ok());
    auto handle = [this](const SlackHttpRequest& request) { return handler.handle(request); };
    EXPECT_TRUE(mount_slack_routes(**server, handle).ok());
    EXPECT_FALSE(mount_slack_routes(**server, handle).ok());  // already mounted
    net::HttpClient client(ioc.get_executor(), no_proxy());
    net::HttpRequest event = slack_post((*server)->port(), "/slack/events", kMention);
    auto answered = co_await client.send(event);
    EXPECT_TRUE(answered.ok() && answered->status == 200);
    EXPECT_EQ(accepted.size(), 1u);
  });
}

}  // namespace
}  // namespace shipmate::bot::slack
