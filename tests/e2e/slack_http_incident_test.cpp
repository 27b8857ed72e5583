// End-to-end: incidents with Slack in HTTP mode (the Events API) on the shared `http:` listener.
// The real shipmate binary serves Slack's signed POSTs and the Alertmanager webhook on one port
// and calls the fake Slack's Web API:
// - a firing alert whose route opens an incident gets a room of its own exactly like a declared
//   one (conversations.create under the room name, the on-call role invited, the topic set, the
//   summary card posted and pinned there, a pointer in the alerts channel);
// - a signed reaction_added (:pushpin:) on a message in that room puts the message on the
//   timeline once, however often Slack retries the delivery; a forged one changes nothing.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <functional>
#include <thread>

#include "bot/slack/signing.h"
#include "common/clock.h"
#include "tests/support/e2e_support.h"
#include "tests/support/fake_slack.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kSigningSecret = "http-incident-signing-secret-7f3a";
constexpr const char* kAlertToken = "http-incident-am-token-0c9d2e";

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds limit = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition())
      return true;
    std::this_thread::sleep_for(20ms);
  }
  return condition();
}

class SlackHttpIncident : public ::testing::Test {
 protected:
  void SetUp() override {
    alerts_channel = slack.add_channel("incidents");
    write_file(dir.file("shipmate.yaml"), R"(shipmate:
  database: state/shipmate.db
  state_dir: state/run
http:
  bind: 127.0.0.1
  port: )" + std::to_string(port) + R"(
slack:
  mode: http
environments:
  - name: staging
users:
  - {id: alice, roles: [developer, sre], slack: UALICE}
  - {id: carol, roles: [oncall], slack: UCAROL}
services:
  - name: hello
    target:
      kind: local
      releases: )" + source_dir() + R"(/examples/hello/releases
      start: [python3, server.py]
      ports: {staging: )" + std::to_string(free_port()) +
                                              R"(}
incidents:
  invite: [oncall]
alerts:
  channel: "slack:#incidents"
  alertmanager: {token: {secret: am_token}}
  routes:
    - {match: {severity: critical}, action: open incident}
secrets:
  am_token: {env: SHIPMATE_E2E_AM_TOKEN}
)");
  }

  std::unique_ptr<Subprocess> start_shipmate() {
    std::map<std::string, std::string> env{{"SLACK_BOT_TOKEN", slack.options().bot_token},
                                           {"SLACK_SIGNING_SECRET", kSigningSecret},
                                           {"SLACK_API_URL", slack.api_url()},
                                           {"SHIPMATE_E2E_AM_TOKEN", kAlertToken}};
    auto shipmate = std::make_unique<Subprocess>(
        std::vector<std::string>{shipmate_binary(), "--log-level", "info", "serve", "--no-terminal",
                                 "--config", dir.file("shipmate.yaml")},
        env);
    EXPECT_TRUE(shipmate->wait_for_output("shipmate ready", 30s)) << shipmate->output();
    return shipmate;
  }

  // A signed Events API POST; `retry` > 0 adds Slack's retry headers.
  std::optional<HttpResponse> slack_post(const std::string& body, int retry = 0,
                                         const std::string& secret = kSigningSecret) const {
    const std::string timestamp =
        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count());
    std::vector<std::string> headers{
        "Content-Type: application/json", "X-Slack-Request-Timestamp: " + timestamp,
        "X-Slack-Signature: " + bot::slack::compute_signature(secret, timestamp, body)};
    if (retry > 0) {
      headers.push_back("X-Slack-Retry-Num: " + std::to_string(retry));
      headers.push_back("X-Slack-Retry-Reason: http_timeout");
    }
    return http_post(port, "/slack/events", headers, body, 10s);
  }

  std::optional<HttpResponse> fire_alert() const {
    const std::string body =
        R"({"version":"4","groupKey":"{}:{alertname=\"CheckoutErrors\"}","truncatedAlerts":0,)"
        R"("status":"firing","receiver":"shipmate","groupLabels":{"alertname":"CheckoutErrors"},)"
        R"("commonLabels":{"alertname":"CheckoutErrors","severity":"critical"},)"
        R"("commonAnnotations":{"summary":"checkout errors above 5%"},)"
        R"("externalURL":"http://am:9093","alerts":[{"status":"firing","labels":)"
        R"({"alertname":"CheckoutErrors","service":"hello","severity":"critical"},)"
        R"("annotations":{"summary":"checkout errors above 5%"},)"
        R"("startsAt":"2023-11-14T22:00:00Z","endsAt":"0001-01-01T00:00:00Z",)"
        R"("generatorURL":"http://prom","fingerprint":"c0ffee01"}]})";
    return http_post(
        port, "/alerts/alertmanager",
        {"Content-Type: application/json", "Authorization: Bearer " + std::string(kAlertToken)},
        body, 10s);
  }

  std::string dump(Subprocess& shipmate) const {
    std::string out = "messages:\n";
    for (const auto& message : slack.messages()) {
      out += "  [" + message.channel + " " + message.ts + " thread " + message.thread_ts +
             " updates " + std::to_string(message.updates) + "] " + message.text + "\n";
    }
    out += "calls:";
    for (const auto& call : slack.calls())
      out += " " + call.method;
    return out + "\nshipmate output:\n" + shipmate.output();
  }

  // The room the binary created (the one channel whose members include the on-call person).
  std::string room_with(const std::string& user) const {
    for (const auto& [id, members] : slack.channel_members()) {
      if (std::find(members.begin(), members.end(), user) != members.end())
        return id;
    }
    return {};
  }

  // The text of the reply in the thread of `ts` that contains `part`; "" when there is none yet.
  std::string reply_to(const std::string& ts, const std::string& part) const {
    for (const auto& message : slack.messages()) {
      if (message.thread_ts == ts && has(message.text, part))
        return message.text;
    }
    return {};
  }

  FakeSlack slack;
  TempDir dir;
  int port = free_port();
  std::string alerts_channel;
};

TEST_F(SlackHttpIncident, AnAlertOpensAnIncidentWithARoomAndASignedPushpinLandsOnItsTimelineOnce) {
  const std::string today = format_utc(SystemClock().now_ms()).substr(0, 10);
  auto shipmate = start_shipmate();
  ASSERT_TRUE(has(shipmate->output(), "alerts: slack:#incidents is slack:" + alerts_channel))
      << shipmate->output();

  auto accepted = fire_alert();
  ASSERT_TRUE(accepted.has_value());
  ASSERT_EQ(accepted->status, 200) << accepted->body;
  EXPECT_TRUE(has(accepted->body, "accepted 1")) << accepted->body;

  // The room, exactly as for a declare: created under the name, on-call invited, topic, pin.
  // (Each wait is on the state then asserted, never on the call that leads to it.)
  ASSERT_TRUE(wait_until([&] { return !room_with("UCAROL").empty(); })) << dump(*shipmate);
  const std::string room = room_with("UCAROL");
  const auto creates = slack.calls("conversations.create");
  ASSERT_EQ(creates.size(), 1u) << dump(*shipmate);
  EXPECT_TRUE(creates[0].param("name").starts_with("inc-" + today + "-checkout-errors-above-5"))
      << creates[0].param("name");
  ASSERT_TRUE(wait_until([&] { return slack.channel_topics().contains(room); })) << dump(*shipmate);
  EXPECT_TRUE(has(slack.channel_topics().at(room), "INC-1 | sev1 | investigating"))
      << slack.channel_topics().at(room);
  ASSERT_TRUE(wait_until([&] {
    const auto all = slack.channel_pins();
    return all.contains(room) && !all.at(room).empty();
  })) << dump(*shipmate);
  const auto pins = slack.channel_pins().at(room);
  ASSERT_EQ(pins.size(), 1u);
  const auto card = slack.message(room, pins[0]);
  ASSERT_TRUE(card.has_value());
  EXPECT_TRUE(has(card->text, "INC-1")) << card->text;
  EXPECT_TRUE(card->thread_ts.empty()) << "the card is the room's own message";
  // The alerts channel points at the room.
  ASSERT_TRUE(wait_until([&] {
    for (const auto& message : slack.messages()) {
      if (message.channel == alerts_channel && has(message.text, "has its own room: <#" + room))
        return true;
    }
    return false;
  })) << dump(*shipmate);

  // A :pushpin: on carol's message in the room, signed, delivered, then retried by Slack (same
  // event id, X-Slack-Retry-Num): one timeline entry.
  const std::string said = slack.add_user_message(room, "UCAROL", "p99 back under 300ms at 10:14");
  FakeSlack::ReactionSpec pin;
  pin.event_id = "EvHttpPin1";
  pin.user = "UCAROL";
  pin.channel = room;
  pin.item_ts = said;
  pin.item_user = "UCAROL";
  const std::string reaction = FakeSlack::reaction_added_event(pin);
  const auto pinned_rows = [&] {
    const auto rows =
        query(dir.file("state/shipmate.db"),
              "SELECT count(*) FROM incident_timeline WHERE incident_id = 1 AND kind = 'pinned'");
    return rows.empty() ? std::string("?") : rows.front();
  };
  auto first = slack_post(reaction);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->status, 200);
  ASSERT_TRUE(wait_until([&] { return pinned_rows() == "1"; })) << dump(*shipmate);
  auto again = slack_post(reaction, 1);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->status, 200);
  // A forged reaction (wrong signing secret) is refused and reads nothing.
  pin.event_id = "EvForged";
  auto forged = slack_post(FakeSlack::reaction_added_event(pin), 0, "not-the-signing-secret");
  ASSERT_TRUE(forged.has_value());
  EXPECT_EQ(forged->status, 401);
  // The retry was read back (so it reached the incident code), and still one row.
  ASSERT_TRUE(wait_until([&] { return slack.calls("conversations.history").size() >= 2; }))
      << dump(*shipmate);
  EXPECT_EQ(slack.calls("conversations.history").size(), 2u) << dump(*shipmate);

  FakeSlack::MentionSpec ask;
  ask.event_id = "EvHttpTimeline";
  ask.ts = "1700000100.000100";
  ask.channel = room;
  ask.user = "UALICE";
  ask.text = "<@UBOT> incident timeline";
  auto asked = slack_post(FakeSlack::app_mention_event(ask));
  ASSERT_TRUE(asked.has_value());
  EXPECT_EQ(asked->status, 200);
  std::string timeline;
  ASSERT_TRUE(wait_until([&] {
    timeline = reply_to(ask.ts, "declared");
    return !timeline.empty();
  })) << dump(*shipmate);
  std::size_t seen = 0;
  for (auto at = timeline.find("p99 back under 300ms"); at != std::string::npos;
       at = timeline.find("p99 back under 300ms", at + 1))
    ++seen;
  EXPECT_EQ(seen, 1u) << timeline;
  EXPECT_TRUE(has(timeline, "pinned")) << timeline;
  EXPECT_TRUE(has(timeline, "room slack:" + room)) << timeline;
  EXPECT_TRUE(has(timeline, "opened by an alert")) << timeline;

  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  EXPECT_EQ(pinned_rows(), "1");
}

}  // namespace
}  // namespace shipmate::testing
