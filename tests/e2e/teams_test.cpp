// End-to-end: the real shipmate binary joins Teams because MicrosoftAppId and
// MicrosoftAppPassword are set, with the Bot Framework endpoints pointed at a fake (OpenID
// metadata, JWKS and token endpoint: tests/support/fake_bot_framework_auth.h) and replies going to
// a fake connector (tests/support/fake_teams.h). Activities are POSTed to /api/messages on PORT
// with tokens the fake signs, or forges.
#include <gtest/gtest.h>

#include <signal.h>
#include <filesystem>
#include <fstream>

#include <boost/json.hpp>
#include <thread>

#include "bot/teams/bot_framework_auth.h"
#include "tests/support/e2e_support.h"
#include "tests/support/fake_bot_framework_auth.h"
#include "tests/support/fake_teams.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

const std::string kAlice = "00000000-0000-0000-0000-0000000000a1";
const std::string kBob = "00000000-0000-0000-0000-0000000000b2";
const std::string kDave = "00000000-0000-0000-0000-0000000000d4";
const std::string kChannel = "19:deploys@thread.tacv2;messageid=1700000000000";

class TeamsSession : public ::testing::Test {
 protected:
  void SetUp() override {
    staging_port = free_port();
    production_port = free_port();
    while (production_port == staging_port)
      production_port = free_port();
    bot_port = free_port();
    while (bot_port == staging_port || bot_port == production_port)
      bot_port = free_port();
    write_file(dir.file("shipmate.yaml"), R"(shipmate:
  database: state/shipmate.db
  state_dir: state/run
environments:
  - name: staging
  - name: production
    production: true
    allow: {deploy: [developer, sre], rollback: [sre], lock: [sre]}
    approvals: {count: 1, roles: [sre], expire: 1h}
users:
  - {id: alice, roles: [developer, sre], ids: {teams: )" +
                                              kAlice + R"(}}
  - {id: bob, roles: [developer], ids: {teams: )" +
                                              kBob + R"(}}
  - {id: dave, roles: [developer], ids: {teams: )" +
                                              kDave + R"(}}
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

  std::unique_ptr<Subprocess> start_shipmate() {
    std::map<std::string, std::string> env{
        {"MicrosoftAppId", auth.options().app_id},
        {"MicrosoftAppPassword", auth.options().app_password},
        {"BOTFRAMEWORK_OPENID_METADATA_URL", auth.openid_metadata_url()},
        {"BOTFRAMEWORK_LOGIN_URL", auth.login_url()},
        {"PORT", std::to_string(bot_port)}};
    auto shipmate = std::make_unique<Subprocess>(
        std::vector<std::string>{shipmate_binary(), "--log-level", "info", "serve", "--no-terminal",
                                 "--config", dir.file("shipmate.yaml")},
        env);
    EXPECT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
    EXPECT_TRUE(shipmate->wait_for_output("teams: receiving activities", 30s))
        << shipmate->output();
    return shipmate;
  }

  std::string token() const {
    FakeBotFrameworkAuth::TokenSpec spec;
    spec.service_url = connector.service_url();
    return auth.mint(spec);
  }

  json::object base_activity(const std::string& type, const std::string& id,
                             const std::string& user, const std::string& name) const {
    return json::object{
        {"type", type},
        {"id", id},
        {"channelId", "msteams"},
        {"serviceUrl", connector.service_url()},
        {"from", {{"id", "29:" + name}, {"aadObjectId", user}, {"name", name}}},
        {"recipient", {{"id", "28:" + auth.options().app_id}, {"name", "Shipmate"}}},
        {"conversation",
         {{"id", kChannel}, {"conversationType", "channel"}, {"tenantId", "tenant-1"}}},
        {"channelData", {{"tenant", {{"id", "tenant-1"}}}}}};
  }

  std::string message(const std::string& id, const std::string& user, const std::string& text) {
    auto activity = base_activity("message", id, user, "someone");
    activity["text"] = "<at>Shipmate</at> " + text;
    return json::serialize(activity);
  }
  std::string submit(const std::string& id, const std::string& user, const std::string& command,
                     const std::string& card_id) {
    auto activity = base_activity("message", id, user, "someone");
    activity["replyToId"] = card_id;
    activity["value"] = {{"shipmate", command}};
    return json::serialize(activity);
  }
  std::string execute(const std::string& id, const std::string& user, const std::string& name,
                      const std::string& command, const std::string& card_id) {
    auto activity = base_activity("invoke", id, user, name);
    activity["name"] = "adaptiveCard/action";
    activity["replyToId"] = card_id;
    activity["value"] = {{"action",
                          {{"type", "Action.Execute"},
                           {"verb", "shipmate.command"},
                           {"data", {{"shipmate", command}}}}}};
    return json::serialize(activity);
  }

  std::optional<HttpResponse> deliver(const std::string& body,
                                      const std::string& authorization = "") {
    std::vector<std::string> headers{"Content-Type: application/json"};
    const std::string bearer = authorization.empty() ? "Bearer " + token() : authorization;
    if (bearer != "none")
      headers.push_back("Authorization: " + bearer);
    return http_post(bot_port, "/api/messages", headers, body, 10s);
  }

  // The first connector activity whose latest version contains `needle`.
  std::optional<ConnectorActivity> find(const std::string& needle) const {
    for (const auto& activity : connector.activities()) {
      if (has(activity.body(), needle))
        return activity;
    }
    return std::nullopt;
  }

  bool wait_for(const std::string& needle, std::chrono::milliseconds limit = 30s) const {
    return connector.wait_for([&] { return find(needle).has_value(); }, limit);
  }

  std::string dump(Subprocess& shipmate) const {
    shipmate.wait_for_output("\x01never\x01", 200ms);
    std::string out = "connector activities:\n";
    for (const auto& activity : connector.activities()) {
      out += "  [" + activity.id + " reply to " + activity.reply_to_id + ", " +
             std::to_string(activity.versions.size()) + " versions] " + activity.body() + "\n";
    }
    return out + "shipmate output:\n" + shipmate.output();
  }

  TempDir dir;
  FakeBotFrameworkAuth auth;
  FakeTeamsConnector connector;
  int staging_port = 0;
  int production_port = 0;
  int bot_port = 0;
};

TEST_F(TeamsSession, DeployStatusCardIsUpdatedInPlaceAndARedeliveryIsAnsweredOnce) {
  auto shipmate = start_shipmate();
  const std::string body = message("1700000000101", kAlice, "deploy hello v1 to staging");
  auto first = deliver(body);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->status, 202);
  auto again = deliver(body);  // Teams re-sends when the bot seems slow
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->status, 202);

  ASSERT_TRUE(wait_for("hello v1 is live in staging")) << dump(*shipmate);
  std::vector<ConnectorActivity> status;
  for (const auto& activity : connector.activities()) {
    if (has(activity.versions.front(), "Deploy #1"))
      status.push_back(activity);
  }
  ASSERT_EQ(status.size(), 1u) << dump(*shipmate);
  EXPECT_GE(status[0].versions.size(), 2u);
  EXPECT_EQ(status[0].reply_to_id, "1700000000101");
  EXPECT_TRUE(has(status[0].body(), "application/vnd.microsoft.card.adaptive"));
  EXPECT_EQ(query(dir.file("state/shipmate.db"), "SELECT count(*) FROM deploys"),
            std::vector<std::string>{"1"});
  auto response = http_get(staging_port, "/");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "hello from v1\n");
  // Every connector call carried a token the login endpoint issued.
  const auto issued = auth.issued_tokens();
  ASSERT_FALSE(issued.empty());
  for (const auto& call : connector.calls()) {
    EXPECT_TRUE(std::find(issued.begin(), issued.end(), call.authorization.substr(7)) !=
                issued.end())
        << call.authorization;
  }
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
}

// libpq (and the Kerberos, LDAP and GnuTLS libraries it needs, about 3.4 MB resident) is loaded
// only when a PostgreSQL database is asked for, libgit2 (mbedTLS, libssh2, pcre2) only when
// release notes first open a clone: a bot on SQLite without such notes maps neither.
TEST_F(TeamsSession, ABotOnSqliteWithoutReleaseNotesLoadsNeitherLibpqNorLibgit2) {
  auto shipmate = start_shipmate();
  auto answered = deliver(message("1700000000151", kAlice, "ping"));
  ASSERT_TRUE(answered.has_value());
  EXPECT_EQ(answered->status, 202);
  ASSERT_TRUE(wait_for("pong")) << dump(*shipmate);
  std::ifstream maps("/proc/" + std::to_string(shipmate->pid()) + "/maps");
  ASSERT_TRUE(maps.good());
  std::string line;
  int mappings = 0;
  while (std::getline(maps, line)) {
    ++mappings;
    EXPECT_EQ(line.find("/libpq.so"), std::string::npos) << line;
    EXPECT_EQ(line.find("/libgnutls.so"), std::string::npos) << line;
    EXPECT_EQ(line.find("/libgit2.so"), std::string::npos) << line;
  }
  EXPECT_GT(mappings, 10);
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
}

TEST_F(TeamsSession, ApprovalByCardButtonInBothStylesAndAPresserWithoutThePermissionIsRefused) {
  auto shipmate = start_shipmate();
  ASSERT_EQ(deliver(message("1700000000201", kBob, "deploy hello v1 to production"))->status, 202);
  ASSERT_TRUE(wait_for("\"shipmate\":\"approve 1\"")) << dump(*shipmate);
  const auto card = *find("\"shipmate\":\"approve 1\"");
  EXPECT_TRUE(has(card.body(), "Action.Execute"));

  // Dave may not approve: his press runs as Dave and is refused; nothing is deployed.
  auto refused = deliver(execute("f:dave", kDave, "Dave", "approve 1", card.id));
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 200);
  // The answer is the same card, its buttons kept for whoever may approve.
  EXPECT_TRUE(has(refused->body, "\"shipmate\":\"approve 1\"")) << refused->body;
  EXPECT_TRUE(has(refused->body, "approve 1: pressed by Dave")) << refused->body;
  ASSERT_TRUE(wait_for("dave may not approve deploys to production")) << dump(*shipmate);
  EXPECT_FALSE(http_get(production_port, "/", 300ms).has_value());

  // Alice approves with Action.Execute: the invoke is answered with the updated card.
  auto approved = deliver(execute("f:alice", kAlice, "Alice", "approve 1", card.id));
  ASSERT_TRUE(approved.has_value());
  EXPECT_EQ(approved->status, 200);
  const json::value invoke = json::parse(approved->body);
  EXPECT_EQ(invoke.at("statusCode"), 200);
  EXPECT_EQ(invoke.at("type"), "application/vnd.microsoft.card.adaptive");
  EXPECT_TRUE(has(approved->body, "approve 1: pressed by Alice")) << approved->body;
  EXPECT_TRUE(has(approved->body, "Deploy #1")) << approved->body;
  ASSERT_TRUE(wait_for("hello v1 is live in production")) << dump(*shipmate);

  // Bob's next production deploy is approved with an Action.Submit press.
  ASSERT_EQ(deliver(message("1700000000202", kBob, "deploy hello v2 to production"))->status, 202);
  ASSERT_TRUE(wait_for("\"shipmate\":\"approve 2\"")) << dump(*shipmate);
  const auto second = *find("\"shipmate\":\"approve 2\"");
  ASSERT_EQ(deliver(submit("1700000000203", kAlice, "approve 2", second.id))->status, 202);
  ASSERT_TRUE(wait_for("hello v2 is live in production")) << dump(*shipmate);
  auto response = http_get(production_port, "/");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "hello from v2\n");
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
}

TEST_F(TeamsSession, ARunbookConfirmationIsAnsweredByACardButtonReAuthorizedForThePresser) {
  write_file(dir.file("shipmate.yaml"),
             read_file(dir.file("shipmate.yaml")) + "runbooks:\n  directory: runbooks\n");
  std::filesystem::create_directories(dir.file("runbooks"));
  write_file(dir.file("runbooks/ask.yaml"), R"(runbook: ask
service: hello
params:
  - {name: env, type: environment, default: staging}
steps:
  - {name: sure, confirm: {prompt: "go on in {env}?", roles: [sre]}}
  - {name: tell, notify: "confirmed by {steps.sure.by}"}
)");
  auto shipmate = start_shipmate();
  ASSERT_EQ(deliver(message("1700000000251", kBob, "runbook run ask"))->status, 202);
  // The question is a card whose Confirm button carries the command text.
  ASSERT_TRUE(wait_for("\"shipmate\":\"runbook confirm 1\"")) << dump(*shipmate);
  const auto card = *find("\"shipmate\":\"runbook confirm 1\"");
  EXPECT_TRUE(has(card.body(), "go on in staging?")) << card.body();

  // Each press runs as the presser: Dave and Bob are no sre, so theirs are refused (Action.Submit
  // and Action.Execute) and the run still waits.
  ASSERT_EQ(deliver(submit("1700000000252", kDave, "runbook confirm 1", card.id))->status, 202);
  ASSERT_TRUE(wait_for("dave may not confirm this step; it needs: sre")) << dump(*shipmate);
  auto refused = deliver(execute("f:bob", kBob, "Bob", "runbook confirm 1", card.id));
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 200);
  ASSERT_TRUE(wait_for("bob may not confirm this step; it needs: sre")) << dump(*shipmate);
  EXPECT_EQ(query(dir.file("state/shipmate.db"), "SELECT status FROM runbook_runs"),
            std::vector<std::string>{"running"});

  // Alice's Action.Submit press confirms it.
  ASSERT_EQ(deliver(submit("1700000000253", kAlice, "runbook confirm 1", card.id))->status, 202);
  ASSERT_TRUE(wait_for("Runbook ask #1 succeeded")) << dump(*shipmate);
  EXPECT_TRUE(find("confirmed by alice").has_value()) << dump(*shipmate);
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  EXPECT_EQ(query(dir.file("state/shipmate.db"),
                  "SELECT actor FROM audit_log WHERE action = 'runbook.confirmed'"),
            std::vector<std::string>{"alice"});
}

TEST_F(TeamsSession, ADeployCutOffByACrashIsReportedInItsThreadAfterRestartWithoutBeingAsked) {
  std::string config = read_file(dir.file("shipmate.yaml"));
  const std::string quick = "retries: 50";
  config.replace(config.find(quick), quick.size(), "retries: 200");
  write_file(dir.file("shipmate.yaml"), config);
  {
    auto shipmate = start_shipmate();
    ASSERT_EQ(deliver(message("1700000000301", kAlice, "deploy hello v3 to staging"))->status, 202);
    ASSERT_TRUE(wait_for("HTTP 500")) << dump(*shipmate);
    shipmate->send_signal(SIGKILL);
    shipmate->wait();
  }
  const std::size_t before = connector.activities().size();
  auto shipmate = start_shipmate();
  // No activity arrives after the restart: the stored conversation reference says where to post.
  ASSERT_TRUE(wait_for("Deploy #1 (hello v3 to staging) interrupted")) << dump(*shipmate);
  const auto report = *find("Deploy #1 (hello v3 to staging) interrupted");
  EXPECT_EQ(report.conversation_id, kChannel);
  EXPECT_GT(connector.activities().size(), before);
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
}

TEST_F(TeamsSession, A429BurstIsWaitedOutAndEveryReplyArrives) {
  auto shipmate = start_shipmate();
  connector.fail_next({{429, "1"}, {429, "1"}, {429, "1"}, {429, "1"}});
  for (int i = 0; i < 5; ++i) {
    auto accepted = deliver(message("17000000004" + std::to_string(i), kAlice, "whoami"));
    ASSERT_TRUE(accepted.has_value());
    EXPECT_EQ(accepted->status, 202);
  }
  ASSERT_TRUE(connector.wait_for(
      [&] {
        int answered = 0;
        for (const auto& activity : connector.activities())
          answered += has(activity.body(), "You are alice") ? 1 : 0;
        return answered == 5;
      },
      60s))
      << dump(*shipmate);
  int throttled = 0;
  for (const auto& call : connector.calls())
    throttled += call.status == 429 ? 1 : 0;
  EXPECT_EQ(throttled, 4);
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
}

TEST_F(TeamsSession, ForgedRequestsAreRefusedWithNoOutboundCall) {
  auto shipmate = start_shipmate();
  const std::string unendorsed = auth.add_key({"skype"});
  const std::string attacker = auth.add_unpublished_key();
  auto forged = [&](auto change) {
    FakeBotFrameworkAuth::TokenSpec spec;
    spec.service_url = connector.service_url();
    change(spec);
    return "Bearer " + auth.mint(spec);
  };
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  struct Row {
    std::string name;
    std::string authorization;
    int status;
  };
  using Spec = FakeBotFrameworkAuth::TokenSpec;
  const std::vector<Row> rows = {
      {"no header", "none", 401},
      {"alg none", forged([](Spec& s) { s.forge = FakeBotFrameworkAuth::Forge::alg_none; }), 401},
      {"HS256 keyed by the public key",
       forged([](Spec& s) { s.forge = FakeBotFrameworkAuth::Forge::hs256_with_public_key; }), 401},
      {"bad signature",
       forged([](Spec& s) { s.forge = FakeBotFrameworkAuth::Forge::bad_signature; }), 401},
      {"unknown kid", forged([&](Spec& s) { s.kid = attacker; }), 401},
      {"wrong aud", forged([](Spec& s) { s.audience = "someone-elses-app"; }), 401},
      {"wrong iss", forged([](Spec& s) { s.issuer = "https://evil.example"; }), 401},
      {"expired", forged([&](Spec& s) { s.now_seconds = now - 7200; }), 401},
      {"not yet valid", forged([&](Spec& s) { s.not_before_offset = 3600; }), 401},
      {"key without the msteams endorsement", forged([&](Spec& s) { s.kid = unendorsed; }), 403},
      {"serviceurl differs",
       forged([](Spec& s) { s.service_url = "https://smba.trafficmanager.net/evil/"; }), 403},
      {"garbage", "Bearer not.a.token", 401},
  };
  const std::size_t tokens_before = auth.token_requests();
  for (const auto& row : rows) {
    auto answer = deliver(message("forged-" + row.name, kAlice, "deploy hello v1 to staging"),
                          row.authorization);
    ASSERT_TRUE(answer.has_value()) << row.name;
    EXPECT_EQ(answer->status, row.status) << row.name;
  }
  // A malformed body and a huge one are refused too, without a 500.
  auto malformed = deliver("{not json");
  ASSERT_TRUE(malformed.has_value());
  EXPECT_EQ(malformed->status, 400);
  auto huge = deliver(message("huge", kAlice, std::string(2 << 20, 'x')));
  ASSERT_TRUE(huge.has_value());
  EXPECT_EQ(huge->status, 413);
  EXPECT_EQ(connector.call_count(), 0u) << dump(*shipmate);
  EXPECT_EQ(auth.token_requests(), tokens_before);
  EXPECT_EQ(query(dir.file("state/shipmate.db"), "SELECT count(*) FROM deploys"),
            std::vector<std::string>{"0"});
  // One log line per refusal, never the token.
  for (const auto& row : rows) {
    if (row.authorization.size() > 20) {
      EXPECT_FALSE(has(shipmate->output(), row.authorization.substr(7))) << row.name;
    }
  }
  // The genuine article still works afterwards.
  ASSERT_EQ(deliver(message("1700000000501", kAlice, "whoami"))->status, 202);
  ASSERT_TRUE(wait_for("You are alice")) << dump(*shipmate);
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
}

// The client secret is revoked while Shipmate runs: the connector refuses the cached token (401),
// the login endpoint refuses the secret (invalid_client), and serve exits 1 naming it.
TEST_F(TeamsSession, ASecretRevokedWhileRunningStopsServeWithExitCode1NamingIt) {
  auto shipmate = start_shipmate();
  connector.fail_next({{401, ""}});
  auth.fail_token_requests(
      10, 401,
      R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret )"
      R"(provided. Trace ID: 0000 Correlation ID: 0000 Timestamp: 2026-12-06 00:00:00Z"})");
  auto answered = deliver(message("1700000000801", kAlice, "ping"));
  ASSERT_TRUE(answered.has_value());
  EXPECT_EQ(answered->status, 202);
  EXPECT_EQ(shipmate->wait(30s), 1) << shipmate->output();
  const std::string output = shipmate->output();
  EXPECT_TRUE(has(output, "Microsoft refused the app's credentials while running")) << output;
  EXPECT_TRUE(has(output, "AADSTS7000215")) << output;
  EXPECT_TRUE(has(output, "shutting down: Teams:")) << output;
  EXPECT_FALSE(has(output, auth.options().app_password)) << output;
}

TEST_F(TeamsSession, TheExampleConfigJoinsTeamsWithOnlyTheEnvironmentSet) {
  Subprocess shipmate({shipmate_binary(), "--log-level", "info", "serve", "--no-terminal",
                       "--config", source_dir() + "/examples/shipmate.yaml", "--database",
                       dir.file("example.db"), "--state-dir", dir.file("example-state")},
                      {{"MICROSOFT_APP_ID", auth.options().app_id},
                       {"MICROSOFT_APP_PASSWORD", auth.options().app_password},
                       {"BOTFRAMEWORK_OPENID_METADATA_URL", auth.openid_metadata_url()},
                       {"BOTFRAMEWORK_LOGIN_URL", auth.login_url()},
                       {"PORT", std::to_string(bot_port)}});
  ASSERT_TRUE(shipmate.wait_for_output(
      "teams: receiving activities on 0.0.0.0:" + std::to_string(bot_port) + "/api/messages", 20s))
      << shipmate.output();
  ASSERT_EQ(deliver(message("1700000000601", kAlice, "ping"))->status, 202);
  ASSERT_TRUE(wait_for("pong")) << dump(shipmate);
  // The secret never reaches the log.
  EXPECT_FALSE(has(shipmate.output(), auth.options().app_password));
  shipmate.send_signal(SIGTERM);
  EXPECT_EQ(shipmate.wait(30s), 0) << shipmate.output();
}

TEST_F(TeamsSession, AWrongAppPasswordStopsAtStartWithASentenceNotInEveryReply) {
  Subprocess shipmate({shipmate_binary(), "--log-level", "info", "serve", "--no-terminal",
                       "--config", dir.file("shipmate.yaml")},
                      {{"MicrosoftAppId", auth.options().app_id},
                       {"MicrosoftAppPassword", "not-the-password"},
                       {"BOTFRAMEWORK_OPENID_METADATA_URL", auth.openid_metadata_url()},
                       {"BOTFRAMEWORK_LOGIN_URL", auth.login_url()},
                       {"PORT", std::to_string(bot_port)}});
  EXPECT_EQ(shipmate.wait(30s), 1) << shipmate.output();
  EXPECT_TRUE(has(shipmate.output(), "Teams refused the app's credentials")) << shipmate.output();
  EXPECT_TRUE(has(shipmate.output(), "MicrosoftAppPassword")) << shipmate.output();
  EXPECT_FALSE(has(shipmate.output(), "not-the-password")) << shipmate.output();
}

TEST_F(TeamsSession, AnOutgoingWebhookIsAnsweredWithTheReplyAndForgedOnesAreRefused) {
  const std::string secret = "c2hpcG1hdGUtb3V0Z29pbmctd2ViaG9vay1zZWNyZXQ=";
  Subprocess shipmate(
      {shipmate_binary(), "--log-level", "info", "serve", "--no-terminal", "--config",
       dir.file("shipmate.yaml")},
      {{"TEAMS_OUTGOING_WEBHOOK_SECRET", secret}, {"PORT", std::to_string(bot_port)}});
  ASSERT_TRUE(shipmate.wait_for_output("teams: outgoing webhook on", 20s)) << shipmate.output();
  const std::string body = message("1700000000701", kAlice, "whoami");
  auto forged =
      http_post(bot_port, "/api/teams-webhook",
                {"Authorization: HMAC AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}, body, 10s);
  ASSERT_TRUE(forged.has_value());
  EXPECT_EQ(forged->status, 401);
  auto answered = http_post(bot_port, "/api/teams-webhook",
                            {"Authorization: " + bot::teams::sign_outgoing_webhook(body, secret),
                             "Content-Type: application/json"},
                            body, 10s);
  ASSERT_TRUE(answered.has_value());
  EXPECT_EQ(answered->status, 200) << shipmate.output();
  const json::value reply = json::parse(answered->body);
  EXPECT_EQ(reply.at("type"), "message");
  EXPECT_TRUE(has(std::string(reply.at("text").as_string()), "You are alice")) << answered->body;
  // Without a bot registration there is no /api/messages and nothing calls a connector.
  auto bot = http_post(bot_port, "/api/messages", {"Authorization: Bearer x"}, body, 10s);
  ASSERT_TRUE(bot.has_value());
  EXPECT_EQ(bot->status, 404);
  EXPECT_EQ(connector.call_count(), 0u);
  shipmate.send_signal(SIGTERM);
  EXPECT_EQ(shipmate.wait(30s), 0) << shipmate.output();
}

}  // namespace
}  // namespace shipmate::testing
