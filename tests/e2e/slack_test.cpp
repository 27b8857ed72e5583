// End-to-end: the real shipmate binary joins a fake Slack (Socket Mode + Web API on loopback)
// because SLACK_APP_TOKEN and SLACK_BOT_TOKEN are set, and is driven with real envelopes.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <boost/json.hpp>
#include <set>
#include <thread>

#include "bot/slack/signing.h"
#include "tests/support/e2e_support.h"
#include "tests/support/fake_slack.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

using namespace std::chrono_literals;

class SlackSession : public ::testing::Test {
 protected:
  void SetUp() override {
    staging_port = free_port();
    production_port = free_port();
    while (production_port == staging_port)
      production_port = free_port();
    write_file(dir.file("shipmate.yaml"), R"(shipmate:
  database: state/shipmate.db
  state_dir: state/run
slack:
  connections: 2
environments:
  - name: staging
  - name: production
    production: true
    allow: {deploy: [sre], rollback: [sre], lock: [sre]}
users:
  - {id: alice, roles: [developer, sre], slack: UALICE}
  - {id: bob, roles: [developer], slack: UBOB}
services:
  - name: hello
    target:
      kind: local
      releases: )" + source_dir() + R"(/examples/hello/releases
      start: [python3, server.py]
      health: {http: /health, timeout: 1s, retries: 50, interval: 100ms}
      ports: {staging: )" + std::to_string(staging_port) +
                                              ", production: " + std::to_string(production_port) +
                                              "}\n");
  }

  std::unique_ptr<Subprocess> start_shipmate(FakeSlack& slack, const std::string& app_token = "",
                                             const std::string& bot_token = "") {
    std::map<std::string, std::string> env{
        {"SLACK_APP_TOKEN", app_token.empty() ? slack.options().app_token : app_token},
        {"SLACK_BOT_TOKEN", bot_token.empty() ? slack.options().bot_token : bot_token},
        {"SLACK_API_URL", slack.api_url()}};
    return std::make_unique<Subprocess>(
        std::vector<std::string>{shipmate_binary(), "--log-level", "info", "serve", "--no-terminal",
                                 "--config", dir.file("shipmate.yaml")},
        env);
  }

  // Messages posted (not updated) in reply under thread `ts`.
  static std::vector<FakeSlack::Message> replies_in(const FakeSlack& slack, const std::string& ts) {
    std::vector<FakeSlack::Message> out;
    for (const auto& message : slack.messages()) {
      if (message.thread_ts == ts)
        out.push_back(message);
    }
    return out;
  }

  // "@shipmate ping" from Alice, as an app_mention with its own event id and ts.
  static FakeSlack::MentionSpec ping_from_alice(const std::string& event_id,
                                                const std::string& ts) {
    FakeSlack::MentionSpec mention;
    mention.event_id = event_id;
    mention.user = "UALICE";
    mention.text = "<@UBOT> ping";
    mention.ts = ts;
    return mention;
  }

  // What the fake holds and what Shipmate logged, for failure messages.
  static std::string dump(const FakeSlack& slack, Subprocess& shipmate) {
    shipmate.wait_for_output("\x01never\x01", 200ms);
    std::string out = "messages:\n";
    for (const auto& message : slack.messages()) {
      out += "  [" + message.channel + " " + message.ts + " thread " + message.thread_ts +
             " updates " + std::to_string(message.updates) + "] " + message.text + "\n";
    }
    return out + "shipmate output:\n" + shipmate.output();
  }

  static bool wait_until(const std::function<bool()>& condition,
                         std::chrono::milliseconds timeout = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (condition())
        return true;
      std::this_thread::sleep_for(20ms);
    }
    return condition();
  }

  // "Nothing more is coming", as a condition instead of a sleep: Alice pings in `channel`, the
  // ping delivered by `send` after whatever the test waits out. Commands start in the order they
  // arrive and a channel's replies leave in order, so once the fence's pong is posted, anything an
  // earlier delivery in that channel would have caused has been posted too.
  static bool fence(const FakeSlack& slack, const std::string& name,
                    const std::function<void(const std::string& event)>& send,
                    const std::string& channel = "C1") {
    FakeSlack::MentionSpec mention = ping_from_alice("EvFence" + name, "1799999999." + name);
    mention.channel = channel;
    send(FakeSlack::app_mention_event(mention));
    return wait_until([&] {
      for (const auto& message : replies_in(slack, mention.ts)) {
        if (has(message.text, "pong"))
          return true;
      }
      return false;
    });
  }

  TempDir dir;
  int staging_port = 0;
  int production_port = 0;
};

TEST_F(SlackSession, MentionDeploysAndUpdatesOneStatusMessageInPlace) {
  FakeSlack slack;
  auto shipmate = start_shipmate(slack);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  ASSERT_TRUE(slack.wait_for_connections(2, 20s)) << shipmate->output();

  FakeSlack::MentionSpec mention;
  mention.user = "UALICE";
  mention.text = "<@UBOT> deploy hello v1 to staging";
  mention.ts = "1700000001.000100";
  const std::string envelope =
      slack.send_envelope("events_api", FakeSlack::app_mention_event(mention));
  ASSERT_TRUE(slack.wait_for_acks(1));
  EXPECT_EQ(slack.ack_count(envelope), 1);

  ASSERT_TRUE(wait_until([&] {
    for (const auto& message : slack.messages()) {
      if (has(message.text, "succeeded") && message.updates > 0)
        return true;
    }
    return false;
  })) << dump(slack, *shipmate);
  auto messages = replies_in(slack, mention.ts);
  // One status message in the command's thread, updated in place; progress lines under it.
  std::vector<FakeSlack::Message> status;
  for (const auto& message : messages) {
    if (has(message.text, "Deploy #1"))
      status.push_back(message);
  }
  ASSERT_EQ(status.size(), 1u);
  EXPECT_GE(status[0].updates, 1);
  EXPECT_TRUE(has(status[0].text, "hello v1 is live in staging")) << status[0].text;
  EXPECT_TRUE(has(status[0].blocks, "\"type\":\"section\"")) << status[0].blocks;
  auto response = http_get(staging_port, "/");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "hello from v1\n");

  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
}

TEST_F(SlackSession, SlashCommandDmAndButtonClickWithPermissionsCheckedAgain) {
  FakeSlack slack;
  auto shipmate = start_shipmate(slack);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  ASSERT_TRUE(slack.wait_for_connections(2, 20s)) << shipmate->output();

  FakeSlack::SlashSpec slash;
  slash.user_id = "UBOB";
  slash.channel_id = "C9";
  slash.text = "whoami";
  slash.trigger_id = "t-slash-1";
  slack.send_envelope("slash_commands", FakeSlack::slash_command(slash));
  ASSERT_TRUE(wait_until([&] {
    for (const auto& message : slack.messages()) {
      if (message.channel == "C9" && has(message.text, "You are bob"))
        return true;
    }
    return false;
  })) << dump(slack, *shipmate);

  FakeSlack::MessageSpec dm;
  dm.user = "UALICE";
  dm.text = "ping";
  dm.ts = "1700000002.000100";
  slack.send_envelope("events_api", FakeSlack::message_event(dm));
  ASSERT_TRUE(wait_until([&] {
    auto replies = replies_in(slack, dm.ts);
    return !replies.empty() && has(replies[0].text, "pong");
  })) << shipmate->output();

  // Bob clicks a button that would deploy to production: the click runs as Bob, and is refused.
  FakeSlack::BlockActionSpec click;
  click.user_id = "UBOB";
  click.value = "deploy hello v1 to production";
  click.trigger_id = "t-click-1";
  click.message_ts = "1700000003.000100";
  slack.send_envelope("interactive", FakeSlack::block_actions(click));
  ASSERT_TRUE(wait_until([&] {
    for (const auto& message : slack.messages()) {
      if (has(message.text, "bob may not deploy in production"))
        return true;
    }
    return false;
  })) << dump(slack, *shipmate);
  EXPECT_FALSE(http_get(production_port, "/", 300ms).has_value());

  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
}

// The exactly-once invariant under redeliveries, dropped sockets and refreshes: 1,000 commands,
// each answered once.
TEST_F(SlackSession, ThousandCommandsWithRedeliveriesAndCutsAreEachAnsweredOnce) {
  FakeSlack slack;
  auto shipmate = start_shipmate(slack);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  ASSERT_TRUE(slack.wait_for_connections(2, 20s)) << shipmate->output();

  constexpr int kCommands = 1000;
  std::map<std::string, std::string> payload_by_ts;
  std::vector<std::string> order;
  for (int i = 0; i < kCommands; ++i) {
    FakeSlack::MentionSpec mention;
    mention.event_id = "Ev" + std::to_string(100000 + i);
    mention.user = "UALICE";
    mention.text = "<@UBOT> ping";
    // Many channels, as in a busy workspace: replies are paced per channel at about 1/s.
    mention.channel = "C" + std::to_string(1000 + i % 500);
    char ts[32];
    std::snprintf(ts, sizeof ts, "1700001000.%06d", i);
    mention.ts = ts;
    payload_by_ts[mention.ts] = FakeSlack::app_mention_event(mention);
    order.push_back(mention.ts);
  }
  for (int i = 0; i < kCommands; ++i) {
    const std::string& payload = payload_by_ts[order[i]];
    while (slack.connection_count() == 0)
      std::this_thread::sleep_for(5ms);
    try {
      slack.send_envelope("events_api", payload);
      // Every seventh event is redelivered as Slack does after a slow ack: new envelope, same
      // event_id, retry_attempt 1.
      if (i % 7 == 0)
        slack.send_envelope("events_api", payload, 1, "timeout");
      if (i % 250 == 125)
        slack.cut(-1);
      if (i % 400 == 200)
        slack.send_disconnect("refresh_requested", -1);
    } catch (const std::exception&) {
      // The connection went away under us; the unanswered sweep below redelivers.
    }
  }
  // Slack redelivers what was never acked; so does this test, until everything is answered.
  for (int round = 0; round < 20; ++round) {
    ASSERT_TRUE(slack.wait_for_connections(1, 20s)) << shipmate->output();
    std::set<std::string> answered;
    const auto all_answered = [&] {
      answered.clear();
      for (const auto& message : slack.messages())
        answered.insert(message.thread_ts);
      return std::all_of(order.begin(), order.end(),
                         [&](const std::string& ts) { return answered.count(ts) > 0; });
    };
    // What is still unanswered after a generous wait is redelivered, as Slack would.
    wait_until(all_answered, 2s);
    int missing = 0;
    for (const auto& ts : order) {
      if (answered.count(ts) > 0)
        continue;
      ++missing;
      try {
        slack.send_envelope("events_api", payload_by_ts[ts], 1, "timeout");
      } catch (const std::exception&) {
      }
    }
    if (missing == 0)
      break;
  }
  std::map<std::string, int> answers;
  for (const auto& message : slack.messages()) {
    if (has(message.text, "pong"))
      ++answers[message.thread_ts];
  }
  EXPECT_EQ(answers.size(), static_cast<std::size_t>(kCommands));
  int duplicated = 0;
  for (const auto& [ts, count] : answers) {
    if (count != 1)
      ++duplicated;
  }
  EXPECT_EQ(duplicated, 0);
  for (const auto& [envelope, count] : slack.ack_counts()) {
    EXPECT_EQ(count, 1) << envelope;
  }
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
}

// Group commit: envelopes that are already waiting when Shipmate reads are recorded in shared
// inbox transactions and acked together, and every one is still answered exactly once. SIGSTOP
// makes them wait: the fake reports all forty written to the sockets before Shipmate resumes.
TEST_F(SlackSession, EnvelopesArrivingTogetherShareInboxCommits) {
  FakeSlack slack;
  auto shipmate = start_shipmate(slack);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  ASSERT_TRUE(slack.wait_for_connections(2, 20s)) << shipmate->output();

#if !defined(__SANITIZE_ADDRESS__)  // under ASan its allocator replaces glibc's; no re-exec
  // Shipmate re-executed itself with a larger allocator cache (bot/allocator_tuning.h): the
  // process image it runs as was started with the setting, under the same pid.
  const std::string environment =
      read_file("/proc/" + std::to_string(shipmate->pid()) + "/environ");
  EXPECT_NE(environment.find("glibc.malloc.tcache_count=128"), std::string::npos);
#endif

  constexpr int kEnvelopes = 40;
  shipmate->send_signal(SIGSTOP);
  const int written_before = slack.texts_written();
  for (int i = 0; i < kEnvelopes; ++i) {
    char ts[32];
    std::snprintf(ts, sizeof ts, "1700002000.%06d", i);
    auto mention = ping_from_alice("EvBurst" + std::to_string(i), ts);
    // A channel each: replies are paced per channel at about one a second.
    mention.channel = "C" + std::to_string(3000 + i);
    slack.send_envelope("events_api", FakeSlack::app_mention_event(mention));
  }
  // Every envelope is in the socket buffers (not just queued in the fake) before Shipmate wakes.
  ASSERT_TRUE(slack.wait_for_texts_written(written_before + kEnvelopes)) << dump(slack, *shipmate);
  shipmate->send_signal(SIGCONT);

  ASSERT_TRUE(wait_until([&] {
    int pongs = 0;
    for (const auto& message : slack.messages())
      pongs += has(message.text, "pong") ? 1 : 0;
    return pongs == kEnvelopes;
  })) << dump(slack, *shipmate);
  for (const auto& [envelope, count] : slack.ack_counts())
    EXPECT_EQ(count, 1) << envelope;
  shipmate->send_signal(SIGTERM);
  ASSERT_EQ(shipmate->wait(30s), 0) << shipmate->output();

  // "slack: 40 envelopes recorded in N inbox commits", logged at shutdown.
  const std::string output = shipmate->output();
  const auto at = output.find(" envelopes recorded in ");
  ASSERT_NE(at, std::string::npos) << output;
  const auto line_start = output.rfind("slack: ", at);
  ASSERT_NE(line_start, std::string::npos) << output;
  const int envelopes = std::stoi(output.substr(line_start + 7));
  const int commits = std::stoi(output.substr(at + std::string(" envelopes recorded in ").size()));
  EXPECT_EQ(envelopes, kEnvelopes);
  EXPECT_GE(commits, 1);
  EXPECT_LE(commits, kEnvelopes / 4) << "envelopes read together were committed one by one";
}

TEST_F(SlackSession, RateLimitedRepliesWaitForRetryAfterAndAreNotLost) {
  FakeSlack slack;
  auto shipmate = start_shipmate(slack);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  ASSERT_TRUE(slack.wait_for_connections(2, 20s)) << shipmate->output();
  slack.rate_limit_next("chat.postMessage", 1, 2);
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    FakeSlack::MentionSpec mention;
    mention.event_id = "EvRate" + std::to_string(i);
    mention.user = "UALICE";
    mention.text = "<@UBOT> ping";
    mention.ts = "1700002000.00000" + std::to_string(i);
    slack.send_envelope("events_api", FakeSlack::app_mention_event(mention));
  }
  ASSERT_TRUE(wait_until([&] {
    int pongs = 0;
    for (const auto& message : slack.messages())
      pongs += has(message.text, "pong") ? 1 : 0;
    return pongs == 3;
  })) << shipmate->output();
  // Two 429s with Retry-After: 1 were honoured before the replies went out.
  EXPECT_GE(std::chrono::steady_clock::now() - started, 900ms);
  // The fake records a call in the same step as the message it stores (fake_slack.h), so with
  // the third pong visible all five calls are recorded: two answered 429, three posted.
  EXPECT_EQ(slack.calls("chat.postMessage").size(), 5u);
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0);
}

TEST_F(SlackSession, RefreshRequestedOpensTheReplacementBeforeClosing) {
  FakeSlack slack;
  auto shipmate = start_shipmate(slack);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  ASSERT_TRUE(slack.wait_for_connections(2, 20s)) << shipmate->output();
  const auto before = slack.open_connections();
  slack.send_disconnect("refresh_requested", before.front());
  ASSERT_TRUE(slack.wait_for_closed(before.front(), 20s)) << shipmate->output();
  // When the old connection closed, its replacement was already open.
  EXPECT_GE(slack.total_connections(), 3);
  EXPECT_EQ(slack.connection_count(), 2);
  const auto mention = ping_from_alice("EvAfterRefresh", "1700003000.000001");
  slack.send_envelope("events_api", FakeSlack::app_mention_event(mention));
  ASSERT_TRUE(wait_until([&] { return !replies_in(slack, mention.ts).empty(); }));
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0);
}

TEST_F(SlackSession, MalformedFramesAreLoggedAndWellFormedOnesStillAcked) {
  FakeSlack slack;
  auto shipmate = start_shipmate(slack);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  ASSERT_TRUE(slack.wait_for_connections(2, 20s)) << shipmate->output();
  const int first = slack.open_connections().front();
  slack.send_raw("this is not json", first);
  slack.send_raw("[1,2,3]", first);
  slack.send_raw(R"({"type":"events_api","payload":{}})", first);
  slack.send_raw(R"({"envelope_id":"env-unknown","type":"something_new","payload":{}})", first);
  const auto mention = ping_from_alice("EvAfterGarbage", "1700004000.000001");
  slack.send_envelope("events_api", FakeSlack::app_mention_event(mention), 0, "", "", first);
  ASSERT_TRUE(wait_until([&] { return !replies_in(slack, mention.ts).empty(); }))
      << shipmate->output();
  // Acks travel on the websocket, replies over HTTP: the fake may read either first.
  ASSERT_TRUE(wait_until([&] { return slack.ack_count("env-unknown") >= 1; }))
      << shipmate->output();
  EXPECT_EQ(slack.ack_count("env-unknown"), 1);
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0);
  EXPECT_TRUE(has(shipmate->output(), "malformed")) << shipmate->output();
}

TEST_F(SlackSession, RevokedTokenStopsWithAClearMessageInsteadOfLooping) {
  FakeSlack slack;
  auto shipmate = start_shipmate(slack, "", "xoxb-revoked");
  EXPECT_EQ(shipmate->wait(20s), 1) << shipmate->output();
  EXPECT_TRUE(has(shipmate->output(), "Slack refused the bot token")) << shipmate->output();
  EXPECT_TRUE(has(shipmate->output(), "invalid_auth")) << shipmate->output();
  EXPECT_FALSE(has(shipmate->output(), "xoxb-revoked")) << shipmate->output();
  EXPECT_FALSE(has(shipmate->output(), "unreachable")) << shipmate->output();

  FakeSlack disabled;
  disabled.set_connections_open_error("invalid_auth");
  auto again = start_shipmate(disabled);
  EXPECT_EQ(again->wait(20s), 1) << again->output();
  EXPECT_TRUE(has(again->output(), "Slack refused the app-level token")) << again->output();
  EXPECT_LE(disabled.calls("apps.connections.open").size(), 2u);
}

// Issue 18 item 9: a Slack API that cannot be reached is not a refused token. (The Web API
// client tries five times, 6 s of back-off in all; the schedule itself is checked on manual time
// in web_api_test.cpp.)
TEST_F(SlackSession, UnreachableApiIsReportedAsUnreachableNotAsARefusedToken) {
  FakeSlack slack;
  const std::string url = "http://127.0.0.1:" + std::to_string(free_port()) + "/api/";
  Subprocess shipmate({shipmate_binary(), "--log-level", "info", "serve", "--no-terminal",
                       "--config", dir.file("shipmate.yaml")},
                      {{"SLACK_APP_TOKEN", slack.options().app_token},
                       {"SLACK_BOT_TOKEN", slack.options().bot_token},
                       {"SLACK_API_URL", url}});
  EXPECT_EQ(shipmate.wait(60s), 1) << shipmate.output();
  const std::string output = shipmate.output();
  EXPECT_TRUE(has(output, "Slack's Web API at " + url + " is unreachable (")) << output;
  EXPECT_TRUE(has(output, "connection refused")) << output;
  EXPECT_TRUE(has(output, "the bot token was not checked")) << output;
  EXPECT_FALSE(has(output, "refused the bot token")) << output;
  EXPECT_FALSE(has(output, "check SLACK_BOT_TOKEN")) << output;
  EXPECT_TRUE(slack.calls("auth.test").empty());
}

TEST_F(SlackSession, LinkDisabledDisconnectStops) {
  FakeSlack slack;
  auto shipmate = start_shipmate(slack);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  ASSERT_TRUE(slack.wait_for_connections(2, 20s)) << shipmate->output();
  slack.send_disconnect("link_disabled", -1);
  EXPECT_EQ(shipmate->wait(20s), 1) << shipmate->output();
  EXPECT_TRUE(has(shipmate->output(), "Socket Mode was turned off")) << shipmate->output();
}

// Slack HTTP mode on `port` instead of Socket Mode, signed with kSigningSecret.
constexpr const char* kSigningSecret = "e2e-signing-secret-0123456789";

class SlackHttpSession : public SlackSession {
 protected:
  std::unique_ptr<Subprocess> start_http_shipmate(const FakeSlack& slack) {
    std::string config = read_file(dir.file("shipmate.yaml"));
    const std::string original = "slack:\n  connections: 2\n";
    config.replace(config.find(original), original.size(),
                   "slack:\n  mode: http\n  http_bind: 127.0.0.1\n  http_port: " +
                       std::to_string(port) + "\n");
    write_file(dir.file("shipmate.yaml"), config);
    return std::make_unique<Subprocess>(
        std::vector<std::string>{shipmate_binary(), "--log-level", "info", "serve", "--no-terminal",
                                 "--config", dir.file("shipmate.yaml")},
        std::map<std::string, std::string>{{"SLACK_BOT_TOKEN", slack.options().bot_token},
                                           {"SLACK_SIGNING_SECRET", kSigningSecret},
                                           {"SLACK_API_URL", slack.api_url()}});
  }

  // A POST signed with `key`, its timestamp `age_seconds` old, answered within `timeout`.
  std::optional<HttpResponse> post(const std::string& path, const std::string& body,
                                   std::int64_t age_seconds, const std::string& key,
                                   const std::vector<std::string>& extra = {},
                                   std::chrono::milliseconds timeout = 20s) const {
    const std::string timestamp =
        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count() -
                       age_seconds);
    std::vector<std::string> headers{
        "Content-Type: application/json", "X-Slack-Request-Timestamp: " + timestamp,
        "X-Slack-Signature: " + bot::slack::compute_signature(key, timestamp, body)};
    headers.insert(headers.end(), extra.begin(), extra.end());
    return http_post(port, path, headers, body, timeout);
  }

  const int port = free_port();
};

TEST_F(SlackHttpSession, HttpModeVerifiesSignaturesAndRunsEachEventOnce) {
  FakeSlack slack;
  const std::string secret = kSigningSecret;
  auto started = start_http_shipmate(slack);
  Subprocess& shipmate = *started;
  ASSERT_TRUE(shipmate.wait_for_output("shipmate ready", 20s)) << shipmate.output();

  auto challenge =
      post("/slack/events", R"({"type":"url_verification","challenge":"c-42"})", 0, secret);
  ASSERT_TRUE(challenge.has_value());
  EXPECT_EQ(challenge->status, 200);
  EXPECT_EQ(challenge->body, "c-42");

  const auto mention = ping_from_alice("EvHttp1", "1700005000.000001");
  const std::string event = FakeSlack::app_mention_event(mention);

  EXPECT_EQ(post("/slack/events", event, 0, "forged-secret")->status, 401);
  EXPECT_EQ(post("/slack/events", event, 600, secret)->status, 401);
  EXPECT_EQ(post("/slack/events", event, 0, secret)->status, 200);
  // Slack's redelivery of the same event (after a slow answer) is acknowledged, not rerun.
  EXPECT_EQ(post("/slack/events", event, 0, secret,
                 {"X-Slack-Retry-Num: 1", "X-Slack-Retry-Reason: http_timeout"})
                ->status,
            200);
  ASSERT_TRUE(wait_until([&] { return !replies_in(slack, mention.ts).empty(); }))
      << dump(slack, shipmate);
  ASSERT_TRUE(fence(slack, "000001", [&](const std::string& body) {
    EXPECT_EQ(post("/slack/events", body, 0, secret)->status, 200);
  })) << dump(slack, shipmate);
  EXPECT_EQ(replies_in(slack, mention.ts).size(), 1u) << dump(slack, shipmate);

  shipmate.send_signal(SIGTERM);
  EXPECT_EQ(shipmate.wait(30s), 0) << shipmate.output();
  EXPECT_TRUE(has(shipmate.output(), "signature mismatch")) << shipmate.output();
  EXPECT_TRUE(has(shipmate.output(), "stale request timestamp")) << shipmate.output();
  EXPECT_FALSE(has(shipmate.output(), secret)) << shipmate.output();
}

// README: "Shipmate answers within Slack's 3-second budget and runs the command afterwards". The
// budget holds because the answer never waits for the command: the deploy of v3 below spends
// about five seconds failing its health checks, and the event is answered while that deploy is
// still going. The client's 20 s is a guard for a loaded machine, not the budget (a 3 s bound
// on the wall clock failed there without the bot being wrong); what is checked is the order.
// More retries would make that order certain, but a deploy cancelled at shutdown runs its
// remaining health checks out before the process exits (seen with 10,000 retries: no exit).
TEST_F(SlackHttpSession, HttpModeAnswersWithinSlacksBudgetAndRunsTheCommandAfterwards) {
  FakeSlack slack;
  auto shipmate = start_http_shipmate(slack);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  const std::string db = dir.file("state/shipmate.db");
  FakeSlack::MentionSpec mention = ping_from_alice("EvSlowDeploy", "1700005100.000001");
  mention.text = "<@UBOT> deploy hello v3 to staging";
  auto answer =
      post("/slack/events", FakeSlack::app_mention_event(mention), 0, kSigningSecret, {}, 20s);
  ASSERT_TRUE(answer.has_value()) << "no answer within 20 s\n" << dump(slack, *shipmate);
  EXPECT_EQ(answer->status, 200);
  // Answered before the command's work was done: v3's health checks fail for seconds.
  const auto finished = query(db,
                              "SELECT id FROM deploys WHERE state NOT IN ('requested', "
                              "'deploying')");
  EXPECT_TRUE(finished.empty()) << dump(slack, *shipmate);
  // ... and the command ran after the answer.
  ASSERT_TRUE(wait_until([&] {
    return query(db, "SELECT state FROM deploys") == std::vector<std::string>{"deploying"};
  })) << dump(slack, *shipmate);
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  EXPECT_EQ(query(db, "SELECT state FROM deploys"), std::vector<std::string>{"cancelled"});
}

// README/http_mode.h: the body limit is 1 MiB. A signed event padded to exactly 1 MiB is taken
// and run; one byte more is refused with 413 and a one-line reason, and never reaches the
// handler (nothing is recorded for it).
TEST_F(SlackHttpSession, HttpModeTakesOneMebibyteAndRefusesOneByteMoreWith413) {
  FakeSlack slack;
  auto shipmate = start_http_shipmate(slack);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  constexpr std::size_t kLimit = 1024 * 1024;
  const auto padded = [](const FakeSlack::MentionSpec& mention, std::size_t size) {
    std::string event = FakeSlack::app_mention_event(mention);
    const std::size_t close = event.rfind('}');
    event.insert(close, size - event.size(), ' ');  // JSON allows whitespace before the brace
    return event;
  };
  const auto at_limit = ping_from_alice("EvAtLimit", "1700005200.000001");
  const std::string fits = padded(at_limit, kLimit);
  ASSERT_EQ(fits.size(), kLimit);
  auto taken = post("/slack/events", fits, 0, kSigningSecret, {}, 30s);
  ASSERT_TRUE(taken.has_value()) << dump(slack, *shipmate);
  EXPECT_EQ(taken->status, 200) << taken->body;
  ASSERT_TRUE(wait_until([&] { return !replies_in(slack, at_limit.ts).empty(); }))
      << dump(slack, *shipmate);

  const auto over = ping_from_alice("EvOverLimit", "1700005200.000002");
  const std::string too_big = padded(over, kLimit + 1);
  auto refused = post("/slack/events", too_big, 0, kSigningSecret, {}, 30s);
  ASSERT_TRUE(refused.has_value()) << "the connection was reset instead of answered\n"
                                   << dump(slack, *shipmate);
  EXPECT_EQ(refused->status, 413);
  EXPECT_EQ(refused->body, "request body larger than 1 MiB\n");
  EXPECT_EQ(std::count(refused->body.begin(), refused->body.end(), '\n'), 1) << refused->body;
  ASSERT_TRUE(fence(slack, "000004", [&](const std::string& body) {
    EXPECT_EQ(post("/slack/events", body, 0, kSigningSecret)->status, 200);
  })) << dump(slack, *shipmate);
  EXPECT_TRUE(replies_in(slack, over.ts).empty()) << dump(slack, *shipmate);
  EXPECT_EQ(query(dir.file("state/shipmate.db"),
                  "SELECT COUNT(*) FROM inbox_keys WHERE key LIKE '%EvOverLimit%'"),
            std::vector<std::string>{"0"});
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
}

TEST_F(SlackSession, RedeliveryAfterARestartIsStillRecognised) {
  FakeSlack slack;
  const auto mention = ping_from_alice("EvAcrossRestart", "1700006000.000001");
  {
    auto shipmate = start_shipmate(slack);
    ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
    ASSERT_TRUE(slack.wait_for_connections(2, 20s));
    slack.send_envelope("events_api", FakeSlack::app_mention_event(mention));
    ASSERT_TRUE(wait_until([&] { return !replies_in(slack, mention.ts).empty(); }));
    shipmate->send_signal(SIGTERM);
    ASSERT_EQ(shipmate->wait(30s), 0);
  }
  auto shipmate = start_shipmate(slack);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  ASSERT_TRUE(wait_until([&] { return slack.connection_count() == 2; }));
  const std::string envelope =
      slack.send_envelope("events_api", FakeSlack::app_mention_event(mention), 1, "timeout");
  ASSERT_TRUE(wait_until([&] { return slack.ack_count(envelope) == 1; }));
  ASSERT_TRUE(fence(slack, "000002", [&](const std::string& body) {
    slack.send_envelope("events_api", body);
  })) << dump(slack, *shipmate);
  EXPECT_EQ(replies_in(slack, mention.ts).size(), 1u) << dump(slack, *shipmate);
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0);
}

TEST_F(SlackSession, SocketModeOverTlsWithACustomCa) {
  FakeSlack::Options options;
  options.tls = true;
  FakeSlack slack(options);
  std::string config = read_file(dir.file("shipmate.yaml"));
  const std::string original = "slack:\n  connections: 2\n";
  config.replace(config.find(original), original.size(),
                 "slack:\n  connections: 1\n  ca_file: " + slack.ca_path() + "\n");
  write_file(dir.file("shipmate.yaml"), config);
  auto shipmate = start_shipmate(slack);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  ASSERT_TRUE(slack.wait_for_connections(1, 20s)) << shipmate->output();
  const auto mention = ping_from_alice("EvTls", "1700007000.000001");
  slack.send_envelope("events_api", FakeSlack::app_mention_event(mention));
  ASSERT_TRUE(wait_until([&] { return !replies_in(slack, mention.ts).empty(); }))
      << dump(slack, *shipmate);
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0);
}

TEST_F(SlackSession, TlsWithoutTrustingTheCaIsRefusedClearly) {
  FakeSlack::Options options;
  options.tls = true;
  FakeSlack slack(options);
  auto shipmate = start_shipmate(slack);
  EXPECT_EQ(shipmate->wait(30s), 1) << shipmate->output();
  EXPECT_TRUE(has(shipmate->output(), "certificate verify failed")) << shipmate->output();
}

TEST_F(SlackSession, OversizedFrameDropsThatConnectionOnlyAndShipmateReconnects) {
  FakeSlack slack;
  auto shipmate = start_shipmate(slack);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  ASSERT_TRUE(slack.wait_for_connections(2, 20s));
  const int first = slack.open_connections().front();
  slack.send_raw(R"({"envelope_id":"huge","type":"events_api","payload":{"x":")" +
                     std::string(2 * 1024 * 1024, 'a') + "\"}}",
                 first);
  ASSERT_TRUE(slack.wait_for_closed(first, 20s)) << dump(slack, *shipmate);
  ASSERT_TRUE(wait_until([&] { return slack.connection_count() == 2; })) << dump(slack, *shipmate);
  const auto mention = ping_from_alice("EvAfterHuge", "1700008000.000001");
  slack.send_envelope("events_api", FakeSlack::app_mention_event(mention));
  ASSERT_TRUE(wait_until([&] { return !replies_in(slack, mention.ts).empty(); }))
      << dump(slack, *shipmate);
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0);
}

TEST_F(SlackSession, DeployCutOffByACrashIsReportedInItsThreadAfterRestart) {
  std::string config = read_file(dir.file("shipmate.yaml"));
  const std::string quick = "retries: 50";
  config.replace(config.find(quick), quick.size(), "retries: 200");
  write_file(dir.file("shipmate.yaml"), config);
  FakeSlack slack;
  FakeSlack::MentionSpec mention;
  mention.event_id = "EvCrash";
  mention.user = "UALICE";
  mention.channel = "C77";
  mention.text = "<@UBOT> deploy hello v3 to staging";
  mention.ts = "1700009000.000001";
  {
    auto shipmate = start_shipmate(slack);
    ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
    ASSERT_TRUE(slack.wait_for_connections(2, 20s));
    slack.send_envelope("events_api", FakeSlack::app_mention_event(mention));
    ASSERT_TRUE(wait_until([&] {
      for (const auto& message : slack.messages()) {
        if (message.text.find("HTTP 500") != std::string::npos)
          return true;
      }
      return false;
    })) << dump(slack, *shipmate);
    shipmate->send_signal(SIGKILL);
    shipmate->wait();
  }
  auto shipmate = start_shipmate(slack);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  ASSERT_TRUE(wait_until([&] {
    for (const auto& message : replies_in(slack, mention.ts)) {
      if (message.channel == "C77" &&
          has(message.text, "Deploy #1 (hello v3 to staging) interrupted"))
        return true;
    }
    return false;
  })) << dump(slack, *shipmate);
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0);
}

TEST_F(SlackSession, CommandThatCannotRecordItsStartIsAnsweredAndNotRunAfterRestart) {
  FakeSlack slack;
  {
    // A first start creates the database; the trigger then makes marking a command started fail
    // the way a refusing disk would, while recording deliveries still works.
    auto shipmate = start_shipmate(slack);
    ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
    shipmate->send_signal(SIGTERM);
    ASSERT_EQ(shipmate->wait(30s), 0);
  }
  const std::string db = dir.file("state/shipmate.db");
  query(db,
        "CREATE TRIGGER refuse_start BEFORE UPDATE OF state ON inbox_pending "
        "BEGIN SELECT RAISE(ABORT, 'disk is on fire'); END");
  FakeSlack::MentionSpec mention;
  mention.event_id = "EvNoStart";
  mention.user = "UALICE";
  mention.text = "<@UBOT> deploy hello v1 to staging";
  mention.ts = "1700010000.000001";
  {
    auto shipmate = start_shipmate(slack);
    ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
    ASSERT_TRUE(slack.wait_for_connections(2, 20s));
    slack.send_envelope("events_api", FakeSlack::app_mention_event(mention));
    ASSERT_TRUE(wait_until([&] {
      for (const auto& message : replies_in(slack, mention.ts)) {
        if (has(message.text, "disk is on fire") && has(message.text, "did not run"))
          return true;
      }
      return false;
    })) << dump(slack, *shipmate);
    shipmate->send_signal(SIGTERM);
    ASSERT_EQ(shipmate->wait(30s), 0);
  }
  EXPECT_TRUE(query(db, "SELECT key FROM inbox_pending").empty());
  EXPECT_TRUE(query(db, "SELECT id FROM deploys").empty());
  query(db, "DROP TRIGGER refuse_start");
  // Started again, Shipmate has nothing left over to run for that delivery.
  auto shipmate = start_shipmate(slack);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  ASSERT_TRUE(slack.wait_for_connections(2, 20s));
  // Replay runs in start(), before any delivery: the fence is answered after anything replayed.
  ASSERT_TRUE(fence(slack, "000003", [&](const std::string& body) {
    slack.send_envelope("events_api", body);
  })) << dump(slack, *shipmate);
  EXPECT_EQ(replies_in(slack, mention.ts).size(), 1u) << dump(slack, *shipmate);
  EXPECT_TRUE(query(db, "SELECT id FROM deploys").empty());
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0);
}

// ---- crash replay: SIGKILL between "acked" and "started", and between "started" and "done" ----
//
// A trigger that never finishes (install_spin_trigger, e2e_support.h) holds Shipmate at an exact
// point: whatever moment the kill lands at, the database holds exactly what was committed before
// that statement.

// "@shipmate deploy hello <version> to staging" from Alice, in channel C90.
FakeSlack::MentionSpec deploy_from_alice(const std::string& event_id, const std::string& version,
                                         const std::string& ts) {
  FakeSlack::MentionSpec mention;
  mention.event_id = event_id;
  mention.user = "UALICE";
  mention.channel = "C90";
  mention.text = "<@UBOT> deploy hello " + version + " to staging";
  mention.ts = ts;
  return mention;
}

TEST_F(SlackSession, CommandAckedButNotStartedBeforeASigkillRunsExactlyOnceAfterRestart) {
  FakeSlack slack;
  const std::string db = dir.file("state/shipmate.db");
  {
    auto shipmate = start_shipmate(slack);  // creates the database
    ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
    shipmate->send_signal(SIGTERM);
    ASSERT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  }
  // Marking the command started (the first write after it was recorded and acked) never ends.
  install_spin_trigger(db, "hold_before_start", "BEFORE UPDATE ON inbox_pending");
  const auto mention = deploy_from_alice("EvReplay", "v1", "1700011000.000001");
  const std::string key_sql = "SELECT state FROM inbox_pending WHERE key LIKE '%EvReplay%'";
  {
    auto shipmate = start_shipmate(slack);
    ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
    ASSERT_TRUE(slack.wait_for_connections(2, 20s));
    const std::string envelope =
        slack.send_envelope("events_api", FakeSlack::app_mention_event(mention));
    ASSERT_TRUE(wait_until([&] { return slack.ack_count(envelope) == 1; }))
        << dump(slack, *shipmate);
    // Recorded, acked, not started, nothing deployed: the point this test is about.
    ASSERT_EQ(query(db, key_sql), std::vector<std::string>{"received"});
    ASSERT_TRUE(query(db, "SELECT id FROM deploys").empty());
    shipmate->send_signal(SIGKILL);
    EXPECT_EQ(shipmate->wait(30s), 128 + SIGKILL);
  }
  EXPECT_EQ(query(db, key_sql), std::vector<std::string>{"received"});
  EXPECT_TRUE(query(db, "SELECT id FROM deploys").empty());
  EXPECT_TRUE(replies_in(slack, mention.ts).empty()) << "answered before the crash";
  query(db, "DROP TRIGGER hold_before_start");

  auto deploy_replies = [&] {
    int succeeded = 0;
    for (const auto& message : slack.messages()) {
      if (message.thread_ts == mention.ts && has(message.text, "succeeded"))
        ++succeeded;
    }
    return succeeded;
  };
  {
    // The restart runs it: once.
    auto shipmate = start_shipmate(slack);
    ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
    ASSERT_TRUE(wait_until([&] { return deploy_replies() == 1; })) << dump(slack, *shipmate);
    ASSERT_TRUE(wait_until([&] { return query(db, key_sql).empty(); })) << dump(slack, *shipmate);
    // Slack's redelivery of the same event (it may not have seen the ack) is not run again.
    ASSERT_TRUE(slack.wait_for_connections(2, 20s));
    const std::string again =
        slack.send_envelope("events_api", FakeSlack::app_mention_event(mention), 1, "timeout");
    ASSERT_TRUE(wait_until([&] { return slack.ack_count(again) == 1; })) << dump(slack, *shipmate);
    shipmate->send_signal(SIGTERM);
    ASSERT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  }
  {
    // A second restart finds nothing left to run.
    auto shipmate = start_shipmate(slack);
    ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
    ASSERT_TRUE(slack.wait_for_connections(2, 20s));
    shipmate->send_signal(SIGTERM);
    ASSERT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  }
  EXPECT_EQ(query(db, "SELECT id, version, state FROM deploys"),
            std::vector<std::string>{"1|v1|succeeded"});
  EXPECT_EQ(deploy_replies(), 1) << dump(slack, *start_shipmate(slack));
  EXPECT_TRUE(query(db, "SELECT key FROM inbox_pending").empty());
}

TEST_F(SlackSession, CommandStartedButUnfinishedAtASigkillIsReportedAndNotRerun) {
  FakeSlack slack;
  const std::string db = dir.file("state/shipmate.db");
  {
    auto shipmate = start_shipmate(slack);
    ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
    shipmate->send_signal(SIGTERM);
    ASSERT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  }
  // The command is marked started, then recording its deploy (its first effect) never ends.
  install_spin_trigger(db, "hold_in_deploy", "BEFORE INSERT ON deploys");
  const auto mention = deploy_from_alice("EvStarted", "v2", "1700012000.000001");
  const std::string key_sql = "SELECT state FROM inbox_pending WHERE key LIKE '%EvStarted%'";
  {
    auto shipmate = start_shipmate(slack);
    ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
    ASSERT_TRUE(slack.wait_for_connections(2, 20s));
    slack.send_envelope("events_api", FakeSlack::app_mention_event(mention));
    ASSERT_TRUE(wait_until([&] {
      return query(db, key_sql) == std::vector<std::string>{"started"};
    })) << dump(slack, *shipmate);
    ASSERT_TRUE(query(db, "SELECT id FROM deploys").empty());
    shipmate->send_signal(SIGKILL);
    EXPECT_EQ(shipmate->wait(30s), 128 + SIGKILL);
  }
  EXPECT_EQ(query(db, key_sql), std::vector<std::string>{"started"});
  query(db, "DROP TRIGGER hold_in_deploy");

  auto reports = [&] {
    int count = 0;
    for (const auto& message : replies_in(slack, mention.ts)) {
      if (message.channel == "C90" && has(message.text, "restarted while running") &&
          has(message.text, "deploy hello v2 to staging"))
        ++count;
    }
    return count;
  };
  {
    auto shipmate = start_shipmate(slack);
    ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
    ASSERT_TRUE(wait_until([&] { return reports() == 1; })) << dump(slack, *shipmate);
    ASSERT_TRUE(wait_until([&] { return query(db, key_sql).empty(); })) << dump(slack, *shipmate);
    shipmate->send_signal(SIGTERM);
    ASSERT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  }
  {
    auto shipmate = start_shipmate(slack);
    ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
    ASSERT_TRUE(slack.wait_for_connections(2, 20s));
    shipmate->send_signal(SIGTERM);
    ASSERT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  }
  // Reported once, never run: no deploy was recorded, nothing serves staging.
  EXPECT_EQ(reports(), 1);
  EXPECT_TRUE(query(db, "SELECT id FROM deploys").empty());
  EXPECT_FALSE(http_get(staging_port, "/", 300ms).has_value());
  for (const auto& message : replies_in(slack, mention.ts))
    EXPECT_FALSE(has(message.text, "succeeded")) << message.text;
}

// README: roles come from ids, never display names. Eve's Slack profile calls her "alice" (and
// her message carries that name everywhere Slack puts one), but her id UEVE maps to no one: she
// acts as slack:UEVE, an unconfigured user with no roles, and the deploy is refused.
TEST_F(SlackSession, DisplayNameEqualToAnAdminsIdGrantsNothing) {
  FakeSlack slack;
  auto shipmate = start_shipmate(slack);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  ASSERT_TRUE(slack.wait_for_connections(2, 20s));
  FakeSlack::MentionSpec mention;
  mention.event_id = "EvEve";
  mention.user = "UEVE";
  mention.text = "<@UBOT> deploy hello v1 to production";
  mention.ts = "1700013000.000001";
  auto payload = boost::json::parse(FakeSlack::app_mention_event(mention)).as_object();
  auto& event = payload["event"].as_object();
  event["username"] = "alice";
  event["user_profile"] = boost::json::object{{"name", "alice"},
                                              {"display_name", "alice"},
                                              {"real_name", "alice"},
                                              {"first_name", "alice"}};
  slack.send_envelope("events_api", boost::json::serialize(payload));
  ASSERT_TRUE(wait_until([&] {
    for (const auto& message : replies_in(slack, mention.ts)) {
      if (has(message.text, "slack:UEVE is not a configured user and may not run 'deploy'"))
        return true;
    }
    return false;
  })) << dump(slack, *shipmate);
  for (const auto& message : replies_in(slack, mention.ts))
    EXPECT_FALSE(has(message.text, "alice")) << message.text;  // never taken for Alice
  EXPECT_TRUE(query(dir.file("state/shipmate.db"), "SELECT id FROM deploys").empty());
  EXPECT_FALSE(http_get(production_port, "/", 300ms).has_value());
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
}

// A one-off announcement set up from Slack fires in the channel it names, once, on a short real
// schedule (two seconds), waited for by condition rather than by sleeping.
TEST_F(SlackSession, AnAnnouncementSetUpFromSlackIsPostedInItsChannelOnce) {
  FakeSlack slack;
  auto shipmate = start_shipmate(slack);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  ASSERT_TRUE(slack.wait_for_connections(2, 20s)) << shipmate->output();

  FakeSlack::MentionSpec mention;
  mention.user = "UALICE";
  mention.text = "<@UBOT> announce C2 at in 2s \"Release train leaves now\"";
  mention.ts = "1700020000.000001";
  slack.send_envelope("events_api", FakeSlack::app_mention_event(mention));
  ASSERT_TRUE(wait_until([&] {
    for (const auto& message : replies_in(slack, mention.ts)) {
      if (has(message.text, "Announcement #1 will go to C2"))
        return true;
    }
    return false;
  })) << dump(slack, *shipmate);
  const auto posted_in_c2 = [&] {
    std::vector<FakeSlack::Message> out;
    for (const auto& message : slack.messages()) {
      if (message.channel == "C2" && has(message.text, "Release train leaves now"))
        out.push_back(message);
    }
    return out;
  };
  ASSERT_TRUE(wait_until([&] { return !posted_in_c2().empty(); })) << dump(slack, *shipmate);
  EXPECT_EQ(posted_in_c2().size(), 1u);
  EXPECT_TRUE(posted_in_c2()[0].thread_ts.empty());
  // The run is recorded done after Slack has the message: wait for that record itself.
  std::vector<std::string> runs;
  ASSERT_TRUE(wait_until([&] {
    runs = query(dir.file("state/shipmate.db"), "SELECT outcome, detail FROM schedule_runs");
    return runs.size() != 1 || runs[0] != "claimed|";
  })) << dump(slack, *shipmate);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0], "done|posted to slack:C2");
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
}

}  // namespace
}  // namespace shipmate::testing

namespace shipmate::testing {
namespace {

// The reply outbox through the binary (issue 18 item 8): bursts of pings over four channels, a
// SIGKILL in the middle of each burst, a restart, and every envelope that was never acked
// delivered again (with retry_attempt 1, as Slack does). Across all the kills no command goes
// unanswered and none is answered twice; each kill is checked to have landed with commands still
// unanswered (work in flight), so an early or late kill cannot pass without testing anything.
TEST_F(SlackSession, RepeatedSigkillsDuringBurstsLoseNoReplyAndAnswerNoneTwice) {
  constexpr int kKills = 10;
  constexpr int kBurst = 300;
  // Per-channel pacing off (as in the benchmark): four channels at 1 reply/s would take minutes.
  std::string config = read_file(dir.file("shipmate.yaml"));
  const std::string slack_section = "slack:\n  connections: 2\n";
  config.replace(config.find(slack_section), slack_section.size(),
                 slack_section + "  reply_interval: 0ms\n  reply_burst: 1000\n");
  write_file(dir.file("shipmate.yaml"), config);
  FakeSlack slack;
  // event id -> the payload (for redelivery) and every envelope id it was sent under.
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> sent;
  int next = 0;
  auto send_burst = [&](int count) {
    for (int i = 0; i < count; ++i, ++next) {
      char ts[32];
      std::snprintf(ts, sizeof ts, "1700020000.%06d", next);
      auto mention = ping_from_alice("EvBurst" + std::to_string(next), ts);
      mention.channel = "CB" + std::to_string(next % 4);
      const std::string body = FakeSlack::app_mention_event(mention);
      const std::string envelope = slack.send_envelope("events_api", body);
      sent[mention.event_id] = {body, {envelope}};
    }
  };
  // Answers per command, by the outbox key its reply carries in its metadata.
  auto answers = [&] {
    std::map<std::string, int> count;
    for (const auto& message : slack.messages()) {
      const auto at = message.metadata.find("slack:event:EvBurst");
      if (at == std::string::npos)
        continue;
      const auto start = at + std::string("slack:event:").size();
      const auto end = message.metadata.find('#', start);
      count[message.metadata.substr(start, end - start)] += 1;
    }
    return count;
  };
  auto answered = [&] { return answers().size(); };
  // Envelopes of commands never acked under any envelope id are delivered again.
  auto redeliver_unacked = [&] {
    int again = 0;
    for (auto& [event_id, delivery] : sent) {
      bool acked = false;
      for (const auto& envelope : delivery.second)
        acked = acked || slack.ack_count(envelope) > 0;
      if (acked)
        continue;
      delivery.second.push_back(slack.send_envelope("events_api", delivery.first, 1, "timeout"));
      ++again;
    }
    return again;
  };

  int in_flight_at_kills = 0;
  std::string logs;
  for (int kill = 0; kill < kKills; ++kill) {
    auto shipmate = start_shipmate(slack);
    ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
    ASSERT_TRUE(wait_until([&] { return slack.connection_count() >= 1; }));
    redeliver_unacked();
    const std::size_t before = answered();
    send_burst(kBurst);
    // Kill after a few of this burst's replies (the stride varies the point), with work left.
    const std::size_t some = before + 2 + static_cast<std::size_t>(kill * 7 % 23);
    // Polled every millisecond (not wait_until's 20 ms): a burst takes only tens of them.
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (slack.messages().size() < some && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    ASSERT_GE(answered(), some) << dump(slack, *shipmate);
    shipmate->send_signal(SIGKILL);
    EXPECT_EQ(shipmate->wait(30s), 128 + SIGKILL);
    const std::size_t at_kill = answered();
    EXPECT_LT(at_kill, sent.size()) << "kill " << kill << " landed with no command in flight";
    in_flight_at_kills += static_cast<int>(sent.size() - at_kill);
    logs += shipmate->output();
  }
  // A last life finishes everything.
  auto shipmate = start_shipmate(slack);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  ASSERT_TRUE(wait_until([&] { return slack.connection_count() >= 1; }));
  redeliver_unacked();
  ASSERT_TRUE(wait_until([&] { return answered() == sent.size(); }, 60s))
      << answered() << " of " << sent.size() << " answered\n"
      <<
      [&] {
        std::string out = "unanswered:";
        const auto got = answers();
        for (const auto& [event_id, delivery] : sent) {
          if (!got.contains(event_id))
            out += " " + event_id + "(envelopes " + std::to_string(delivery.second.size()) +
                   ", acks " + std::to_string(slack.ack_count(delivery.second.back())) + ")";
        }
        const std::string db = dir.file("state/shipmate.db");
        out += "\ninbox_pending:";
        for (const auto& row : query(db, "SELECT key || ' ' || state FROM inbox_pending"))
          out += " " + row;
        out += "\noutbox pending:";
        for (const auto& row :
             query(db, "SELECT idem_key FROM outbox WHERE state = 'pending' LIMIT 20"))
          out += " " + row;
        return out + "\n";
      }()
      << dump(slack, *shipmate);
  // Nothing more is coming: a fence in each channel is answered after anything still queued.
  for (int channel = 0; channel < 4; ++channel) {
    auto mention = ping_from_alice("EvFence" + std::to_string(channel),
                                   "1700029999.00000" + std::to_string(channel));
    mention.channel = "CB" + std::to_string(channel);
    slack.send_envelope("events_api", FakeSlack::app_mention_event(mention));
  }
  ASSERT_TRUE(wait_until([&] {
    int fences = 0;
    for (const auto& message : slack.messages())
      fences += message.metadata.find("EvFence") != std::string::npos ? 1 : 0;
    return fences == 4;
  })) << dump(slack, *shipmate);
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0);
  logs += shipmate->output();

  int twice = 0;
  for (const auto& [event_id, count] : answers())
    twice += count > 1 ? 1 : 0;
  EXPECT_EQ(answers().size(), sent.size());
  EXPECT_EQ(twice, 0) << dump(slack, *shipmate);
  EXPECT_GT(in_flight_at_kills, kKills);
  // How often a restart found replies that had left unconfirmed (reported, not asserted: where a
  // kill lands is up to the scheduler).
  int recovered = 0;
  for (std::size_t at = logs.find("were recorded but not confirmed"); at != std::string::npos;
       at = logs.find("were recorded but not confirmed", at + 1))
    ++recovered;
  // "outbox: of N unconfirmed replies to slack, F were found posted and S sent again"
  long found_posted = 0;
  long sent_again = 0;
  for (std::size_t at = logs.find("unconfirmed replies to slack, "); at != std::string::npos;
       at = logs.find("unconfirmed replies to slack, ", at + 1)) {
    long found = 0;
    long again = 0;
    if (std::sscanf(logs.c_str() + at,
                    "unconfirmed replies to slack, %ld were found posted and %ld", &found,
                    &again) == 2) {
      found_posted += found;
      sent_again += again;
    }
  }
  // Replies that had left before a kill were found on the platform (what used to be answered
  // twice), and ones that had not were sent.
  EXPECT_GT(found_posted + sent_again, 0);
  RecordProperty("found_posted", static_cast<int>(found_posted));
  RecordProperty("commands", static_cast<int>(sent.size()));
  RecordProperty("unanswered_at_kills", in_flight_at_kills);
  RecordProperty("restarts_with_unconfirmed_replies", recovered);
  std::printf(
      "kill burst: %zu commands, %d kills, %d unanswered at the kills, %d restarts found "
      "unconfirmed replies (%ld found posted, %ld sent again), %zu lost, %d answered twice\n",
      sent.size(), kKills, in_flight_at_kills, recovered, found_posted, sent_again,
      sent.size() - answers().size(), twice);
}

}  // namespace
}  // namespace shipmate::testing
