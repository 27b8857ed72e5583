// Alerts in: decoding Alertmanager, PagerDuty v3 and generic notifications, their signatures,
// routing, and what ingesting them does to incidents (dedup, snapshot diffs, grouping).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include "commands/alert_intake.h"
#include "commands/incident_model.h"
#include "commands/incidents.h"
#include "common/strings.h"
#include "integrations/alerts/alert_payloads.h"
#include "storage/commit_batcher.h"
#include "tests/support/command_harness.h"
#include "tests/support/test_support.h"

namespace shipmate {
namespace {

namespace alerts = integrations::alerts;

std::string am_alert(const std::string& name, const std::string& status,
                     const std::string& fingerprint, const std::string& service = "hello") {
  return R"({"status":")" + status + R"(","labels":{"alertname":")" + name + R"(","service":")" +
         service + R"(","severity":"critical"},"annotations":{"summary":")" + name +
         R"( is high"},"startsAt":"2023-11-14T22:00:00.123456789Z","endsAt":")" +
         (status == "resolved" ? "2023-11-14T22:05:00Z" : "0001-01-01T00:00:00Z") +
         R"(","generatorURL":"http://prom/graph","fingerprint":")" + fingerprint + R"("})";
}

std::string am_payload(const std::string& status, const std::vector<std::string>& alerts_json,
                       const std::string& group = "{}:{alertname=\"HighErrors\"}") {
  std::string body = R"({"version":"4","groupKey":")";
  for (char c : group) {
    if (c == '"')
      body += "\\\"";
    else
      body += c;
  }
  body += R"(","truncatedAlerts":0,"status":")" + status +
          R"(","receiver":"shipmate","groupLabels":{"alertname":"HighErrors"},)"
          R"("commonLabels":{"alertname":"HighErrors"},"commonAnnotations":{},)"
          R"("externalURL":"http://am:9093","alerts":[)";
  for (std::size_t i = 0; i < alerts_json.size(); ++i)
    body += (i ? "," : "") + alerts_json[i];
  return body + "],\"future_field\":{\"ignored\":true}}";
}

TEST(AlertPayloads, AlertmanagerV4IsDecoded) {
  auto parsed =
      alerts::parse_alertmanager(am_payload("firing", {am_alert("HighErrors", "firing", "fp1")}));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->source, "alertmanager");
  EXPECT_EQ(parsed->group_key, "{}:{alertname=\"HighErrors\"}");
  EXPECT_EQ(parsed->receiver, "shipmate");
  ASSERT_EQ(parsed->alerts.size(), 1u);
  EXPECT_EQ(parsed->alerts[0].fingerprint, "fp1");
  EXPECT_EQ(parsed->alerts[0].labels.at("service"), "hello");
  EXPECT_EQ(parsed->alerts[0].annotations.at("summary"), "HighErrors is high");
}

// Labels is a sorted vector standing in for a map: it must answer as the map did.
TEST(AlertPayloads, LabelSetsAnswerAsAMapWould) {
  alerts::Labels labels = {{"zone", "b"}, {"alertname", "X"}, {"zone", "ignored"}, {"job", "api"}};
  std::string order;
  for (const auto& [name, value] : labels)
    order += name + "=" + value + ",";
  EXPECT_EQ(order, "alertname=X,job=api,zone=b,");  // by name; a repeated name keeps the first
  EXPECT_EQ(labels.at("job"), "api");
  EXPECT_THROW((void)labels.at("absent"), std::out_of_range);
  EXPECT_EQ(labels.find("absent"), labels.end());
  EXPECT_EQ(labels.find("zon"), labels.end());  // a prefix is not a match
  EXPECT_FALSE(labels.emplace("job", "other"));
  EXPECT_EQ(labels.at("job"), "api");
  EXPECT_TRUE(labels.emplace("instance", "i1"));
  labels["severity"] = "critical";
  order.clear();
  for (const auto& [name, value] : labels)
    order += name + ",";
  EXPECT_EQ(order, "alertname,instance,job,severity,zone,");
  // A large set (past the insertion sort) orders the same way, first of a repeated name kept.
  std::vector<alerts::Labels::value_type> many;
  for (int i = 99; i >= 0; --i)
    many.emplace_back("l" + std::to_string(100 + i), std::to_string(i));
  many.emplace_back("l150", "second");
  const auto large = alerts::Labels::from_unsorted(many);
  ASSERT_EQ(large.size(), 100u);
  EXPECT_EQ(large.begin()->first, "l100");
  EXPECT_EQ(large.at("l150"), "50");
  EXPECT_TRUE(std::is_sorted(large.begin(), large.end()));
  // From the wire: any order in, name order out, and the first of a repeated key counts.
  auto parsed = alerts::parse_alertmanager(am_payload(
      "firing",
      {R"({"status":"firing","labels":{"b":"2","a":"1","b":"3"},"startsAt":"2023-11-14T22:00:00Z","fingerprint":"f"})"}));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->alerts[0].labels, (alerts::Labels{{"a", "1"}, {"b", "2"}}));
}

// Bodies up to 64 KiB reuse one parser per thread; a larger one gets its own. Either way, each
// parse sees only its own body, whatever came before it.
TEST(AlertPayloads, BodiesOfAnySizeParseOneAfterAnother) {
  std::vector<std::string> many;
  for (int i = 0; i < 400; ++i)
    many.push_back(am_alert("HighErrors", "firing", "fp" + std::to_string(i)));
  const std::string big = am_payload("firing", many);
  ASSERT_GT(big.size(), 64u * 1024);
  const std::string small = am_payload("firing", {am_alert("Small", "resolved", "s1")});
  for (const auto* body : {&small, &big, &small, &big}) {
    auto parsed = alerts::parse_alertmanager(*body);
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed->alerts.size(), body == &big ? 400u : 1u);
    EXPECT_EQ(parsed->alerts.back().fingerprint, body == &big ? "fp399" : "s1");
  }
  // A truncated body after a longer one is not completed by what the longer one left behind.
  EXPECT_EQ(alerts::parse_alertmanager(small.substr(0, small.size() - 2)).error().message,
            "the body is not JSON");
  EXPECT_TRUE(alerts::parse_alertmanager(small));
}

TEST(AlertPayloads, BadAlertmanagerBodiesSayWhatIsWrong) {
  EXPECT_EQ(alerts::parse_alertmanager("not json").error().message, "the body is not JSON");
  EXPECT_NE(alerts::parse_alertmanager(R"({"version":"3"})").error().message.find("\"3\""),
            std::string::npos);
  EXPECT_EQ(alerts::parse_alertmanager(R"({"version":"4","status":"firing","alerts":[]})")
                .error()
                .message,
            "missing \"groupKey\"");
  auto bad_status = am_payload("firing", {am_alert("X", "weird", "fp")});
  EXPECT_EQ(alerts::parse_alertmanager(bad_status).error().message,
            "alerts[0].status must be \"firing\" or \"resolved\"");
  EXPECT_EQ(alerts::parse_alertmanager(bad_status).error().kind, ErrorKind::invalid);
}

constexpr std::string_view kPagerDutyBody =
    R"({"event":{"id":"01DEN8H8EDZ2","event_type":"incident.triggered","resource_type":"incident",)"
    R"("occurred_at":"2023-11-14T22:00:00.000Z","data":{"id":"PGR0VU2","type":"incident",)"
    R"("html_url":"https://acme.pagerduty.com/incidents/PGR0VU2","number":2,"status":"triggered",)"
    R"("title":"Checkout is slow","created_at":"2023-11-14T21:59:00Z","urgency":"high",)"
    R"("service":{"id":"PF9KMXH","summary":"hello","type":"service_reference"}}}})";

TEST(AlertPayloads, PagerDutySignaturesAcceptAnyListedSecretInConstantTime) {
  const std::string body(kPagerDutyBody);
  const std::string first = "v1=" + alerts::hmac_sha256_hex("old-secret", body);
  const std::string second = "v1=" + alerts::hmac_sha256_hex("new-secret", body);
  // Valid with the one secret; during rotation PagerDuty sends one signature per secret.
  EXPECT_TRUE(alerts::verify_pagerduty_signature(first, body, {"old-secret"}));
  EXPECT_TRUE(alerts::verify_pagerduty_signature(first + "," + second, body, {"new-secret"}));
  EXPECT_TRUE(alerts::verify_pagerduty_signature(second, body, {"old-secret", "new-secret"}));
  // Wrong, missing, or a signature over another body (a replayed signature with edits).
  auto wrong = alerts::verify_pagerduty_signature(first, body, {"other"});
  EXPECT_FALSE(wrong);
  EXPECT_EQ(wrong.error().kind, ErrorKind::auth);
  EXPECT_FALSE(alerts::verify_pagerduty_signature("", body, {"old-secret"}));
  EXPECT_FALSE(alerts::verify_pagerduty_signature("v0=abc", body, {"old-secret"}));
  EXPECT_FALSE(alerts::verify_pagerduty_signature(first, body + " ", {"old-secret"}));

  auto parsed = alerts::parse_pagerduty(body);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->delivery_id, "01DEN8H8EDZ2");
  EXPECT_EQ(parsed->alerts[0].status, "firing");
  EXPECT_EQ(parsed->alerts[0].labels.at("service"), "hello");
}

TEST(AlertPayloads, GenericFormAndAuth) {
  const std::string body =
      R"({"id":"job-17","status":"firing","title":"Backup failed","labels":{"service":"hello"}})";
  EXPECT_TRUE(alerts::verify_generic_signature("sha256=" + alerts::hmac_sha256_hex("k", body), body,
                                               {"k"}));
  EXPECT_FALSE(alerts::verify_generic_signature("sha256=00", body, {"k"}));
  auto parsed = alerts::parse_generic(body, "backups");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->source, "generic:backups");
  EXPECT_EQ(alerts::parse_generic(R"({"id":"x"})", "b").error().message,
            "missing \"status\" (a string)");

  EXPECT_TRUE(alerts::verify_alertmanager_auth("Bearer t0k", "t0k", "", ""));
  EXPECT_FALSE(alerts::verify_alertmanager_auth("Bearer nope", "t0k", "", ""));
  EXPECT_TRUE(alerts::verify_alertmanager_auth("Basic " + base64_encode("am:pw"), "", "am", "pw"));
  EXPECT_FALSE(alerts::verify_alertmanager_auth("", "t0k", "", ""));
  EXPECT_FALSE(alerts::verify_alertmanager_auth("Bearer x", "", "", ""));  // nothing configured
}

// --- ingesting --------------------------------------------------------------------------------

struct Rooms final : commands::ConversationDirectory {
  struct Forward final : commands::Conversation {
    Forward(testing::RecordingConversation& target, std::string address)
        : target(target), where(std::move(address)) {}
    commands::MessageRef post(const commands::Message& m) override { return target.post(m); }
    void update(const commands::MessageRef& ref, const commands::Message& m) override {
      target.update(ref, m);
    }
    void thread_reply(const commands::MessageRef& ref, const commands::Message& m) override {
      target.thread_reply(ref, m);
    }
    std::string address() const override { return where; }
    testing::RecordingConversation& target;
    std::string where;
  };
  std::unique_ptr<commands::Conversation> open(const std::string& address) override {
    return std::make_unique<Forward>(rooms[address], address);
  }
  std::map<std::string, testing::RecordingConversation> rooms;
};

class AlertIngestTest : public ::testing::Test {
 protected:
  AlertIngestTest() : incidents(*h.db, h.clock), feed(*h.db, incidents, incident_settings) {
    h.audit.add_observer(&feed);
    h.services->incidents = &incidents;
    h.services->incident_settings = &incident_settings;
    h.services->conversations = &rooms;
    settings.channel = "ops";
    settings.routes.push_back(
        commands::AlertRoute{.match = {{"severity", "critical"}}, .open_incident = true});
  }
  ~AlertIngestTest() override { h.audit.remove_observer(&feed); }

  commands::AlertIngest ingest(const std::string& body) {
    auto parsed = alerts::parse_alertmanager(body);
    EXPECT_TRUE(parsed) << parsed.error().message;
    return commands::ingest_alerts(*h.services, settings, *parsed);
  }

  testing::CommandHarness h;
  commands::IncidentSettings incident_settings;
  commands::AlertSettings settings;
  storage::IncidentStore incidents;
  commands::IncidentTimelineFeed feed;
  Rooms rooms;
};

TEST_F(AlertIngestTest, FiringOpensOneIncidentAndRepeatsAreNotDuplicated) {
  const auto body = am_payload("firing", {am_alert("HighErrors", "firing", "fp1")});
  auto first = ingest(body);
  EXPECT_EQ(first.accepted, 1);
  ASSERT_EQ(first.incidents_opened.size(), 1u);
  auto incident = *incidents.get(first.incidents_opened[0]);
  EXPECT_EQ(incident.title, "HighErrors is high");
  EXPECT_EQ(incident.severity, 1);  // severity=critical
  // Its first status reminder is planned at once (sev1: 30 min), as for a declared one.
  EXPECT_EQ(incident.next_reminder_at, h.clock.now_ms() + incident_settings.cadence_ms[0]);
  EXPECT_EQ(incident.services, std::vector<std::string>{"hello"});
  EXPECT_EQ(incident.room, "ops");
  EXPECT_FALSE(incident.acknowledged_at);           // nobody has looked yet
  EXPECT_EQ(*incident.detected_at, 1699999200000);  // startsAt, fractions dropped
  // The same snapshot again (a retry, the HA peer): nothing new.
  auto again = ingest(body);
  EXPECT_EQ(again.accepted, 0);
  EXPECT_EQ(again.duplicates, 1);
  EXPECT_EQ(incidents.list().size(), 1u);
  const auto& ops = rooms.rooms["ops"];
  EXPECT_EQ(ops.posts.size(), 2u);  // the card and one grouped alert message
  EXPECT_NE(ops.posts[1].text.find("INC-1 firing: HighErrors (hello) - HighErrors is high"),
            std::string::npos)
      << ops.posts[1].text;

  // A snapshot with the alert resolved and a second one firing: exactly those two are new.
  auto diff = ingest(am_payload("firing", {am_alert("HighErrors", "resolved", "fp1"),
                                           am_alert("HighErrors", "firing", "fp2")}));
  EXPECT_EQ(diff.accepted, 2);
  EXPECT_TRUE(diff.incidents_opened.empty());
  std::string timeline;
  for (const auto& entry : incidents.timeline(incident.id))
    timeline += entry.kind + " " + entry.text + "\n";
  EXPECT_NE(timeline.find("alert resolved: HighErrors (hello)"), std::string::npos) << timeline;
  EXPECT_NE(timeline.find("alert firing: HighErrors (hello)"), std::string::npos);
  EXPECT_FALSE(incidents.verify_timeline(incident.id));
  EXPECT_TRUE(h.audit.verify().ok);
}

TEST_F(AlertIngestTest, AFloodIsOneMessageNotOnePerAlert) {
  settings.routes.clear();  // post only
  std::vector<std::string> many;
  for (int i = 0; i < 40; ++i)
    many.push_back(am_alert("DiskFull", "firing", "fp" + std::to_string(i), "other"));
  auto result = ingest(am_payload("firing", many));
  EXPECT_EQ(result.accepted, 40);
  EXPECT_TRUE(incidents.list().empty());
  const auto& ops = rooms.rooms["ops"];
  ASSERT_EQ(ops.posts.size(), 1u);
  EXPECT_NE(ops.posts[0].text.find("Alertmanager: 40 alerts for shipmate"), std::string::npos);
  EXPECT_NE(ops.posts[0].text.find("... and 30 more"), std::string::npos);
}

TEST_F(AlertIngestTest, AlertsForAServiceJoinItsOpenIncident) {
  settings.routes.clear();
  h.run("alice", "incident declare \"errors\" sev2 hello");
  auto result = ingest(am_payload("firing", {am_alert("Latency", "firing", "fpL")}));
  ASSERT_EQ(result.incidents_touched, std::vector<std::int64_t>{1});
  // On the timeline at the time it started firing, before the declaration.
  EXPECT_NE(incidents.timeline(1).front().text.find("firing: Latency (hello)"), std::string::npos);
}

TEST_F(AlertIngestTest, ManyAlertsOfOneGroupOpenOneIncidentAndAllJoinIt) {
  // Several firing alerts of one group in one notification, the route opening incidents: the
  // first opens it, the rest join that one (not a second incident, not the older one below).
  settings.routes.clear();
  h.run("alice", "incident declare \"older\" sev3 hello");
  settings.routes.push_back(commands::AlertRoute{
      .match = {{"alertname", "Burst"}}, .severity = 1, .open_incident = true});
  std::vector<std::string> burst;
  for (int i = 0; i < 12; ++i)
    burst.push_back(am_alert("Burst", "firing", "fpB" + std::to_string(i)));
  // The group already has an open incident of its service (INC-1, declared by a person): the
  // alerts join it; no incident is opened.
  auto joined = ingest(am_payload("firing", burst));
  EXPECT_EQ(joined.accepted, 12);
  EXPECT_TRUE(joined.incidents_opened.empty());
  EXPECT_EQ(joined.incidents_touched, std::vector<std::int64_t>{1});
  // Resolve it; a new burst of the same group opens exactly one incident and all join it.
  incidents.set_status(1, "resolved", "done", h.clock.now_ms());
  std::vector<std::string> next;
  for (int i = 0; i < 12; ++i)
    next.push_back(am_alert("Burst", "firing", "fpN" + std::to_string(i)));
  auto opened = ingest(am_payload("firing", next));
  EXPECT_EQ(opened.accepted, 12);
  ASSERT_EQ(opened.incidents_opened.size(), 1u);
  EXPECT_EQ(opened.incidents_touched, opened.incidents_opened);
  std::size_t alert_rows = 0;
  for (const auto& entry : incidents.timeline(opened.incidents_opened[0]))
    alert_rows += entry.kind == "alert";
  EXPECT_EQ(alert_rows, 12u);
  // The whole notification again is 12 duplicates, and a mix adds only the new alert.
  auto again = ingest(am_payload("firing", next));
  EXPECT_EQ(again.accepted, 0);
  EXPECT_EQ(again.duplicates, 12);
  next.push_back(am_alert("Burst", "firing", "fpLate"));
  auto mixed = ingest(am_payload("firing", next));
  EXPECT_EQ(mixed.accepted, 1);
  EXPECT_EQ(mixed.duplicates, 12);
  EXPECT_EQ(incidents.open_incidents().size(), 1u);
  EXPECT_FALSE(incidents.verify_timeline(opened.incidents_opened[0]));
  EXPECT_TRUE(h.audit.verify().ok);
}

TEST_F(AlertIngestTest, PagerDutyRedeliveriesAreDroppedByWebhookId) {
  auto parsed = alerts::parse_pagerduty(std::string(kPagerDutyBody));
  ASSERT_TRUE(parsed);
  settings.routes = {
      commands::AlertRoute{.match = {{"urgency", "high"}}, .severity = 2, .open_incident = true}};
  auto first = commands::ingest_alerts(*h.services, settings, *parsed);
  EXPECT_EQ(first.incidents_opened.size(), 1u);
  auto replay = commands::ingest_alerts(*h.services, settings, *parsed);
  EXPECT_EQ(replay.accepted, 0);
  EXPECT_EQ(incidents.get(1)->severity, 2);
}

// The webhooks' path: notifications that arrive in one loop turn share one transaction
// (storage/commit_batcher.h); each sender is resumed only once it is committed (seen here from a
// second connection), and an HA peer's copy in the same transaction is a duplicate there.
TEST(AlertIngestShared, NotificationsOfOneTurnShareOneCommitAndAreDeduplicatedWithinIt) {
  testing::TempDir dir;
  const std::string location = dir.file("shipmate.db");
  testing::CommandHarness h(location);
  commands::IncidentSettings incident_settings;
  storage::IncidentStore incidents(*h.db, h.clock);
  Rooms rooms;
  h.services->incidents = &incidents;
  h.services->incident_settings = &incident_settings;
  h.services->conversations = &rooms;
  commands::AlertSettings settings;
  settings.channel = "ops";
  settings.routes.push_back(
      commands::AlertRoute{.match = {{"severity", "critical"}}, .open_incident = true});
  auto other = storage::Database::open(location);
  ASSERT_TRUE(other) << other.error().message;
  storage::IncidentStore seen_from_outside(**other, h.clock);
  storage::CommitBatcher commits(
      *h.db, [&h](std::function<void()> flush) { boost::asio::post(h.io, std::move(flush)); });

  struct Sent {
    std::string body;
    std::string key;  // one of its alert keys
    std::optional<Result<commands::AlertIngest>> answer;
    bool durable = false;  // its key was committed when it was answered
  };
  const std::string group = "{}:{alertname=\"HighErrors\"}";
  auto key = [&](const std::string& fingerprint) {
    return "alertmanager|" + group + "|" + fingerprint + "|2023-11-14T22:00:00.123456789Z|firing";
  };
  const std::string first = am_payload(
      "firing", {am_alert("HighErrors", "firing", "fp1"), am_alert("HighErrors", "firing", "fp2")});
  std::vector<Sent> sent = {
      {first, key("fp1"), {}, false},
      {first, key("fp2"), {}, false},  // the HA peer's copy
      {am_payload("firing", {am_alert("HighErrors", "firing", "fp3")}), key("fp3"), {}, false}};
  for (auto& one : sent) {
    boost::asio::co_spawn(
        h.io,
        [&, &one = one]() -> boost::asio::awaitable<void> {
          auto parsed = alerts::parse_alertmanager(one.body);
          EXPECT_TRUE(parsed);
          alerts::AlertNotification decoded = std::move(*parsed);
          auto answer = co_await commands::ingest_alerts_grouped(*h.services, commits, settings,
                                                                 std::move(decoded));
          one.durable = seen_from_outside.alert_seen(one.key);
          one.answer = std::move(answer);
        },
        boost::asio::detached);
  }
  h.io.run();
  for (const auto& one : sent) {
    ASSERT_TRUE(one.answer && *one.answer) << (one.answer ? one.answer->error().message : "");
    EXPECT_TRUE(one.durable) << one.key << ": answered before its commit";
  }
  EXPECT_EQ(commits.counters().transactions, 1u);
  EXPECT_EQ((*sent[0].answer)->accepted, 2);
  EXPECT_EQ((*sent[1].answer)->accepted, 0);
  EXPECT_EQ((*sent[1].answer)->duplicates, 2);
  EXPECT_EQ((*sent[2].answer)->accepted, 1);
  ASSERT_EQ((*sent[0].answer)->incidents_opened.size(), 1u);
  EXPECT_TRUE((*sent[2].answer)->incidents_opened.empty());  // it joined the group's incident
  const auto id = (*sent[0].answer)->incidents_opened[0];
  EXPECT_EQ(seen_from_outside.timeline(id).size(), 4u);  // declared + three alerts, once each
  EXPECT_EQ(seen_from_outside.list().size(), 1u);
}

TEST(AlertRouting, FirstMatchingRouteDecides) {
  commands::Catalog catalog = testing::test_catalog();
  commands::AlertSettings settings;
  settings.channel = "default";
  settings.routes = {
      commands::AlertRoute{.match = {{"team", "payments"}},
                           .service = "hello",
                           .severity = 1,
                           .channel = "pay",
                           .open_incident = true},
      commands::AlertRoute{.match = {{"severity", "warning"}}, .channel = "noise"},
  };
  alerts::AlertNotification notification;
  alerts::Alert alert;
  alert.labels = {{"team", "payments"}, {"severity", "warning"}};
  auto routed = commands::route_alert(settings, catalog, notification, alert);
  EXPECT_TRUE(routed.matched);
  EXPECT_EQ(routed.service, "hello");
  EXPECT_EQ(routed.severity, 1);
  EXPECT_EQ(routed.channel, "pay");
  EXPECT_TRUE(routed.open_incident);
  alert.labels = {{"severity", "warning"}, {"service", "nope"}};
  routed = commands::route_alert(settings, catalog, notification, alert);
  EXPECT_EQ(routed.channel, "noise");
  EXPECT_EQ(routed.service, "");  // not a configured service
  EXPECT_EQ(routed.severity, 3);
  EXPECT_FALSE(routed.open_incident);
  alert.labels = {{"severity", "sev2"}, {"service", "hello"}};
  routed = commands::route_alert(settings, catalog, notification, alert);
  EXPECT_FALSE(routed.matched);
  EXPECT_EQ(routed.channel, "default");
  EXPECT_EQ(routed.severity, 2);
  EXPECT_EQ(routed.service, "hello");
}

}  // namespace
}  // namespace shipmate
