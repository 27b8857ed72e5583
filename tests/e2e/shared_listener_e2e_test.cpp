// End-to-end: one `http:` listener in the shipmate binary carries Slack's HTTP mode, Teams'
// /api/messages, the Alertmanager webhook and the ops endpoints (bot/listeners.h), each route
// with its own body limit; the listener's header timeout closes a silent connection; an owner
// that asks for an address of its own still gets one.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <thread>

#include "bot/slack/signing.h"
#include "tests/support/e2e_support.h"
#include "tests/support/fake_bot_framework_auth.h"
#include "tests/support/fake_slack.h"
#include "tests/support/fake_teams.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* kSigningSecret = "shared-listener-signing-secret-42";
constexpr const char* kAlertToken = "shared-listener-am-token-0123456789";
const std::string kAlice = "00000000-0000-0000-0000-0000000000a1";
const std::string kChannel = "19:deploys@thread.tacv2;messageid=1700000000000";

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds limit = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition())
      return true;
    std::this_thread::sleep_for(20ms);
  }
  return condition();
}

class SharedListener : public ::testing::Test {
 protected:
  void write_config(const std::string& extra) {
    write_file(dir.file("shipmate.yaml"), R"(shipmate:
  database: state/shipmate.db
  state_dir: state/run
http:
  bind: 127.0.0.1
  port: )" + std::to_string(port) + R"(
  header_timeout: 300ms
environments:
  - name: staging
users:
  - {id: alice, roles: [developer], ids: {slack: UALICE, teams: )" +
                                              kAlice + R"(}}
secrets:
  am_token: {env: SHIPMATE_E2E_AM_TOKEN}
services:
  - name: hello
    target:
      kind: local
      releases: )" + source_dir() + R"(/examples/hello/releases
      start: [python3, server.py]
      ports: {staging: )" + std::to_string(free_port()) +
                                              R"(}
slack:
  mode: http
ops: {}
alerts:
  alertmanager: {token: {secret: am_token}}
)" + extra);
  }

  std::unique_ptr<Subprocess> start_shipmate(const std::map<std::string, std::string>& more = {}) {
    std::map<std::string, std::string> env{
        {"SLACK_BOT_TOKEN", slack.options().bot_token},
        {"SLACK_SIGNING_SECRET", kSigningSecret},
        {"SLACK_API_URL", slack.api_url()},
        {"MicrosoftAppId", auth.options().app_id},
        {"MicrosoftAppPassword", auth.options().app_password},
        {"BOTFRAMEWORK_OPENID_METADATA_URL", auth.openid_metadata_url()},
        {"BOTFRAMEWORK_LOGIN_URL", auth.login_url()},
        {"SHIPMATE_E2E_AM_TOKEN", kAlertToken}};
    env.insert(more.begin(), more.end());
    auto shipmate = std::make_unique<Subprocess>(
        std::vector<std::string>{shipmate_binary(), "--log-level", "info", "serve", "--no-terminal",
                                 "--config", dir.file("shipmate.yaml")},
        env);
    EXPECT_TRUE(shipmate->wait_for_output("shipmate ready", 30s)) << shipmate->output();
    return shipmate;
  }

  std::optional<HttpResponse> slack_post(const std::string& body) const {
    const std::string timestamp =
        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count());
    return http_post(
        port, "/slack/events",
        {"Content-Type: application/json", "X-Slack-Request-Timestamp: " + timestamp,
         "X-Slack-Signature: " + bot::slack::compute_signature(kSigningSecret, timestamp, body)},
        body, 10s);
  }

  std::optional<HttpResponse> teams_post(const std::string& text, const std::string& id) const {
    FakeBotFrameworkAuth::TokenSpec spec;
    spec.service_url = connector.service_url();
    json::object activity{
        {"type", "message"},
        {"id", id},
        {"channelId", "msteams"},
        {"serviceUrl", connector.service_url()},
        {"from", {{"id", "29:alice"}, {"aadObjectId", kAlice}, {"name", "Alice"}}},
        {"recipient", {{"id", "28:" + auth.options().app_id}, {"name", "Shipmate"}}},
        {"conversation",
         {{"id", kChannel}, {"conversationType", "channel"}, {"tenantId", "tenant-1"}}},
        {"channelData", {{"tenant", {{"id", "tenant-1"}}}}},
        {"text", "<at>Shipmate</at> " + text}};
    return http_post(port, "/api/messages",
                     {"Content-Type: application/json", "Authorization: Bearer " + auth.mint(spec)},
                     json::serialize(activity), 10s);
  }

  std::optional<HttpResponse> alert_post(const std::string& token) const {
    const std::string body =
        R"({"version":"4","groupKey":"{}:{alertname=\"HighErrors\"}","truncatedAlerts":0,)"
        R"("status":"firing","receiver":"shipmate","groupLabels":{"alertname":"HighErrors"},)"
        R"("commonLabels":{"alertname":"HighErrors"},"commonAnnotations":{},)"
        R"("externalURL":"http://am:9093","alerts":[{"status":"firing","labels":)"
        R"({"alertname":"HighErrors","service":"hello","severity":"warning"},)"
        R"("annotations":{"summary":"errors are high"},"startsAt":"2023-11-14T22:00:00Z",)"
        R"("endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom","fingerprint":"f1"}]})";
    return http_post(port, "/alerts/alertmanager",
                     {"Content-Type: application/json", "Authorization: Bearer " + token}, body,
                     10s);
  }

  // Writes `bytes` on a fresh connection and reads until the server closes it (at most 20 s).
  std::string raw_exchange(const std::string& bytes) const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      if (fd >= 0)
        ::close(fd);
      return "connect failed";
    }
    timeval generous{20, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &generous, sizeof(generous));
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0)
        break;
      sent += static_cast<std::size_t>(n);
    }
    std::string received;
    char chunk[4096];
    for (;;) {
      const auto n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0) {
        if (n < 0)
          received += "[no close within 20 s]";
        break;
      }
      received.append(chunk, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return received;
  }

  TempDir dir;
  FakeSlack slack;
  FakeBotFrameworkAuth auth;
  FakeTeamsConnector connector;
  const int port = free_port();
};

TEST_F(SharedListener, OnePortAnswersSlackTeamsAlertmanagerAndHealth) {
  write_config("");
  auto shipmate = start_shipmate();
  ASSERT_TRUE(shipmate->wait_for_output("http: port " + std::to_string(port) + " serves", 30s))
      << shipmate->output();
  // One listener holds every owner's routes.
  const std::string routes = shipmate->output();
  for (const char* route : {"GET /healthz", "GET /metrics", "POST /alerts/alertmanager",
                            "POST /api/messages", "POST /slack/events"})
    EXPECT_TRUE(has(routes, route)) << route << "\n" << routes;

  // Slack's signed POST: the challenge, then a command that is answered in the fake Slack.
  auto challenge = slack_post(R"({"type":"url_verification","challenge":"c-7"})");
  ASSERT_TRUE(challenge.has_value());
  EXPECT_EQ(challenge->status, 200);
  EXPECT_EQ(challenge->body, "c-7");
  FakeSlack::MentionSpec mention;
  mention.event_id = "EvShared1";
  mention.user = "UALICE";
  mention.text = "<@UBOT> ping";
  mention.ts = "1700007000.000001";
  auto event = slack_post(FakeSlack::app_mention_event(mention));
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->status, 200);
  EXPECT_TRUE(wait_until([&] {
    for (const auto& message : slack.messages()) {
      if (message.thread_ts == mention.ts && has(message.text, "pong"))
        return true;
    }
    return false;
  })) << shipmate->output();

  // A Teams activity with a token the fake Bot Framework signed: 202, then a reply.
  auto activity = teams_post("ping", "1700000000201");
  ASSERT_TRUE(activity.has_value());
  EXPECT_EQ(activity->status, 202) << activity->body;
  EXPECT_TRUE(connector.wait_for(
      [&] {
        for (const auto& sent : connector.activities()) {
          if (has(sent.body(), "pong"))
            return true;
        }
        return false;
      },
      30s))
      << shipmate->output();
  // Forged: no token at all.
  auto forged = http_post(port, "/api/messages", {"Content-Type: application/json"}, "{}", 10s);
  ASSERT_TRUE(forged.has_value());
  EXPECT_EQ(forged->status, 401);

  // The Alertmanager webhook, with and without its token.
  auto alert = alert_post(kAlertToken);
  ASSERT_TRUE(alert.has_value());
  EXPECT_EQ(alert->status, 200) << alert->body;
  EXPECT_TRUE(has(alert->body, "accepted 1")) << alert->body;
  auto refused = alert_post("wrong-token");
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 401);

  // The ops endpoints.
  auto health = http_get(port, "/healthz");
  ASSERT_TRUE(health.has_value());
  EXPECT_EQ(health->status, 200) << health->body;
  std::string ready_body;
  EXPECT_TRUE(wait_until([&] {
    auto ready = http_get(port, "/readyz");
    ready_body = ready ? ready->body : "";
    return ready && ready->status == 200;
  })) << ready_body;
  EXPECT_TRUE(has(ready_body, "chat:slack")) << ready_body;
  EXPECT_TRUE(has(ready_body, "chat:teams")) << ready_body;
  auto metrics = http_get(port, "/metrics");
  ASSERT_TRUE(metrics.has_value());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_TRUE(has(metrics->body, "# TYPE")) << metrics->body;

  // Each route keeps its own body limit on the one listener: /healthz takes 1 KiB, Teams 256 KiB,
  // Slack 1 MiB.
  const std::string big_probe = raw_exchange(
      "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n\r\n" + std::string(2048, 'x'));
  EXPECT_TRUE(big_probe.starts_with("HTTP/1.1 413 ")) << big_probe;
  EXPECT_TRUE(has(big_probe, "larger than 1 KiB")) << big_probe;
  auto big_activity = http_post(port, "/api/messages", {"Content-Type: application/json"},
                                std::string(300 * 1024, 'x'), 10s);
  ASSERT_TRUE(big_activity.has_value());
  EXPECT_EQ(big_activity->status, 413);
  EXPECT_TRUE(has(big_activity->body, "larger than 256 KiB")) << big_activity->body;
  auto big_event = http_post(port, "/slack/events", {"Content-Type: application/json"},
                             std::string((1 << 20) + 1, 'x'), 10s);
  ASSERT_TRUE(big_event.has_value());
  EXPECT_EQ(big_event->status, 413);
  EXPECT_TRUE(has(big_event->body, "larger than 1 MiB")) << big_event->body;
  // Unknown paths are the listener's 404.
  auto unknown = http_get(port, "/nothing");
  ASSERT_TRUE(unknown.has_value());
  EXPECT_EQ(unknown->status, 404);

  // The http: block's header timeout (300 ms) closes a connection that never sends a request
  // (the read below ends at the close; its 20 s limit is a deadline, not a measurement).
  EXPECT_EQ(raw_exchange(""), "") << "the silent connection was not closed";

  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  EXPECT_FALSE(has(shipmate->output(), kSigningSecret));
  EXPECT_FALSE(has(shipmate->output(), kAlertToken));
  EXPECT_FALSE(http_get(port, "/healthz").has_value()) << "the listener closes with the process";
}

// An owner that names an address of its own (ops listen:, Teams' PORT) keeps a port of its own
// next to the shared listener; the old keys still work and check-config calls them deprecated.
TEST_F(SharedListener, OwnersThatAskForTheirOwnPortKeepIt) {
  const int ops_port = free_port();
  const int teams_port = free_port();
  write_config("");
  std::string config = read_file(dir.file("shipmate.yaml"));
  config.replace(config.find("ops: {}"), 7, "ops:\n  port: " + std::to_string(ops_port));
  write_file(dir.file("shipmate.yaml"), config);

  Subprocess check({shipmate_binary(), "check-config", dir.file("shipmate.yaml")},
                   {{"SHIPMATE_E2E_AM_TOKEN", kAlertToken}});
  EXPECT_EQ(check.wait(30s), 0) << check.output();
  EXPECT_TRUE(has(check.output(), "ops port is deprecated")) << check.output();

  auto shipmate = start_shipmate({{"PORT", std::to_string(teams_port)}});
  ASSERT_TRUE(shipmate->wait_for_output("ops http: port " + std::to_string(ops_port), 30s))
      << shipmate->output();
  EXPECT_EQ(http_get(ops_port, "/healthz")->status, 200);
  EXPECT_EQ(http_get(port, "/healthz")->status, 404) << "ops asked for a port of its own";
  auto activity = http_post(teams_port, "/api/messages", {"Content-Type: application/json"}, "{}");
  ASSERT_TRUE(activity.has_value());
  EXPECT_EQ(activity->status, 401) << "Teams listens on PORT";
  EXPECT_EQ(http_post(port, "/api/messages", {}, "{}")->status, 404);
  // Slack and the alerts stayed on the shared listener.
  EXPECT_EQ(alert_post(kAlertToken)->status, 200);
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
}

}  // namespace
}  // namespace shipmate::testing
