// Incidents: the pure model (severity, times, room names, which audit records go on timelines,
// reminder planning), the store, and the commands through the real Router, with the timeline
// fed by the engine's own audit records.
#include <gtest/gtest.h>

#include <map>

#include "commands/incident_model.h"
#include "commands/incidents.h"
#include "common/strings.h"
#include "tests/support/command_harness.h"

namespace shipmate {
namespace {

using commands::IncidentSettings;
using storage::IncidentRecord;

constexpr EpochMillis kMinute = 60 * 1000;

// --- the pure model ---------------------------------------------------------------------------

TEST(IncidentModel, SeveritiesAreSev1ToSev4) {
  EXPECT_EQ(*commands::parse_severity("sev1"), 1);
  EXPECT_EQ(*commands::parse_severity("SEV4"), 4);
  EXPECT_EQ(*commands::parse_severity("p2"), 2);
  EXPECT_FALSE(commands::parse_severity("sev5"));
  EXPECT_FALSE(commands::parse_severity("hello"));
  EXPECT_NE(commands::parse_severity("sev0").error().message.find("sev1 (worst) to sev4"),
            std::string::npos);
}

TEST(IncidentModel, StatusesAndMilestonesAreClosedSets) {
  EXPECT_EQ(*commands::parse_incident_status("Identified"), "identified");
  EXPECT_FALSE(commands::parse_incident_status("fixed"));
  EXPECT_EQ(*commands::parse_milestone("mitigated"), "mitigated");
  EXPECT_FALSE(commands::parse_milestone("done"));
}

TEST(IncidentModel, EventTimesAsPeopleTypeThem) {
  // 2026-12-06 16:00:00Z
  const EpochMillis now = 1796572800000;
  EXPECT_EQ(*commands::parse_event_time("20m ago", now), now - 20 * kMinute);
  EXPECT_EQ(*commands::parse_event_time("-1h", now), now - 60 * kMinute);
  EXPECT_EQ(*commands::parse_event_time("15:40", now), now - 20 * kMinute);
  EXPECT_EQ(*commands::parse_event_time("15:40:30Z", now), now - 20 * kMinute + 30000);
  // A wall time later than now today means yesterday.
  EXPECT_EQ(*commands::parse_event_time("16:30", now), now - 24 * 60 * kMinute + 30 * kMinute);
  EXPECT_EQ(*commands::parse_event_time("2026-12-06T15:00Z", now), now - 60 * kMinute);
  EXPECT_FALSE(commands::parse_event_time("2026-12-07T15:00Z", now));  // the future
  EXPECT_FALSE(commands::parse_event_time("25:00", now));
  EXPECT_FALSE(commands::parse_event_time("soon", now));
  EXPECT_NE(commands::parse_event_time("soon", now).error().message.find("20m ago"),
            std::string::npos);
}

TEST(IncidentModel, RoomNamesArePrefixDateSlugLowercaseAndAtMost80Characters) {
  const EpochMillis day = *parse_iso8601("2026-12-06T23:59:00Z");
  EXPECT_EQ(commands::incident_room_name("inc", day, "Checkout errors: 50% of EU!"),
            "inc-2026-12-06-checkout-errors-50-of-eu");
  EXPECT_EQ(commands::incident_room_name("inc", day, "Checkout errors", 2),
            "inc-2026-12-06-checkout-errors-2");
  const std::string long_title(200, 'A');
  const auto name = commands::incident_room_name("inc", day, long_title, 3);
  EXPECT_EQ(name.size(), 80u);
  EXPECT_TRUE(name.ends_with("-3"));
  EXPECT_EQ(name, to_lower(name));
  EXPECT_EQ(commands::incident_room_name("inc", day, "日本語"), "inc-2026-12-06");
  // The prefix is cleaned like the title; an empty one becomes "inc".
  EXPECT_EQ(commands::incident_room_name("Sev Room!", day, "db"), "sev-room-2026-12-06-db");
  EXPECT_EQ(commands::incident_room_name("", day, "db"), "inc-2026-12-06-db");
}

TEST(IncidentModel, ATakenRoomNameIsRetriedWithASuffixAndOtherFailuresFallBackToAThread) {
  const Error taken = make_error("conversations.create failed: name_taken", ErrorKind::conflict);
  EXPECT_EQ(commands::judge_room_failure(taken, 0).retry_with_suffix, 2);
  EXPECT_EQ(commands::judge_room_failure(taken, 2).retry_with_suffix, 3);
  const auto exhausted = commands::judge_room_failure(taken, commands::kMaxRoomSuffix);
  EXPECT_EQ(exhausted.retry_with_suffix, 0);
  EXPECT_NE(exhausted.message.find("taken"), std::string::npos);
  const Error scope =
      make_error("conversations.create failed: missing_scope (the Slack app needs channels:manage)",
                 ErrorKind::auth);
  const auto fallback = commands::judge_room_failure(scope, 0);
  EXPECT_EQ(fallback.retry_with_suffix, 0);
  EXPECT_NE(fallback.message.find("channels:manage"), std::string::npos);
}

storage::AuditRecord audit_record(std::string action, std::string target, std::string details,
                                  std::string outcome = "ok") {
  storage::AuditRecord record;
  record.seq = 9;
  record.at = 1000;
  record.entry = {"alice", std::move(action), std::move(target), std::move(outcome),
                  std::move(details)};
  return record;
}

TEST(IncidentModel, EngineEventsComeFromTheAuditLog) {
  auto deploy = commands::engine_event(audit_record("deploy.succeeded", "hello@production", "#3"));
  ASSERT_TRUE(deploy);
  EXPECT_EQ(deploy->kind, "deploy");
  EXPECT_EQ(deploy->service, "hello");
  EXPECT_EQ(deploy->text, "hello@production: #3");
  EXPECT_EQ(commands::engine_event(audit_record("rollback.requested", "hello@staging", ""))->kind,
            "rollback");
  EXPECT_EQ(commands::engine_event(audit_record("deploy.rolled_back", "hello@staging", ""))->kind,
            "canary");
  EXPECT_EQ(commands::engine_event(audit_record("deploy.approved", "hello@staging", ""))->kind,
            "approval");
  EXPECT_EQ(commands::engine_event(audit_record("lock.acquired", "hello", "db"))->service, "hello");
  auto env_lock = commands::engine_event(audit_record("lock.acquired", "environment prod", ""));
  EXPECT_EQ(env_lock->service, "");  // touches every incident
  EXPECT_EQ(commands::engine_event(audit_record("runbook.step", "hello@production", "ok"))->kind,
            "runbook");
  EXPECT_EQ(
      commands::engine_event(audit_record("deploy.policy_overridden", "hello@prod", ""))->kind,
      "freeze");
  // Not engine events: commands, refusals, the incident's own records.
  EXPECT_FALSE(commands::engine_event(audit_record("command", "deploy", "")));
  EXPECT_FALSE(commands::engine_event(audit_record("deploy.refused", "hello@prod", "")));
  EXPECT_FALSE(commands::engine_event(audit_record("lock.takeover_refused", "hello", "")));
  EXPECT_FALSE(commands::engine_event(audit_record("incident.note", "INC-1", "")));

  IncidentRecord incident;
  incident.services = {"billing"};
  EXPECT_FALSE(commands::event_touches(*deploy, incident, false));
  EXPECT_TRUE(commands::event_touches(*deploy, incident, true));
  EXPECT_TRUE(commands::event_touches(*env_lock, incident, false));
  incident.services.clear();  // an incident naming no service follows everything
  EXPECT_TRUE(commands::event_touches(*deploy, incident, false));
}

TEST(IncidentModel, RemindersFireOncePerCadenceAndNeverInABurst) {
  IncidentSettings settings;  // sev1 every 30 min, sev2 every hour, sev3/sev4 none
  IncidentRecord sev1;
  sev1.id = 1;
  sev1.severity = 1;
  sev1.last_update_at = 0;
  IncidentRecord sev3 = sev1;
  sev3.id = 2;
  sev3.severity = 3;

  // No due time stored yet: planned without a reminder.
  auto steps = commands::plan_reminders({sev1, sev3}, settings, 0);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].incident_id, 1);
  EXPECT_FALSE(steps[0].remind);
  EXPECT_EQ(steps[0].next_due, 30 * kMinute);

  sev1.next_reminder_at = 30 * kMinute;
  EXPECT_TRUE(commands::plan_reminders({sev1}, settings, 29 * kMinute).empty());
  // Due: one reminder, and the next one a whole cadence from now, even three hours late.
  steps = commands::plan_reminders({sev1}, settings, 210 * kMinute);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_TRUE(steps[0].remind);
  EXPECT_EQ(steps[0].next_due, 240 * kMinute);
  // Once stored, the same instant plans nothing more: never twice.
  sev1.next_reminder_at = steps[0].next_due;
  EXPECT_TRUE(commands::plan_reminders({sev1}, settings, 210 * kMinute).empty());
  // A severity that lost its cadence has its due time cleared.
  sev1.severity = 4;
  steps = commands::plan_reminders({sev1}, settings, 210 * kMinute);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_FALSE(steps[0].next_due);
}

// --- the store --------------------------------------------------------------------------------

TEST(IncidentStore, DeclareIsIdempotentPerPersonTitleAndAlertKey) {
  ManualClock clock;
  auto db = std::move(*storage::Database::open(":memory:"));
  storage::IncidentStore store(*db, clock);
  storage::DeclareRequest request{
      .title = "Checkout errors", .severity = 2, .services = {"hello"}, .declared_by = "alice"};
  const auto first = store.declare(request);
  EXPECT_TRUE(first.created);
  request.title = "checkout ERRORS";
  const auto second = store.declare(request);  // a double click
  EXPECT_FALSE(second.created);
  EXPECT_EQ(second.incident.id, first.incident.id);
  request.declared_by = "bob";  // someone else: a second incident (they may differ)
  EXPECT_TRUE(store.declare(request).created);
  clock.advance_ms(10 * kMinute);  // long after: a new incident
  request.declared_by = "alice";
  EXPECT_TRUE(store.declare(request).created);

  storage::DeclareRequest alert{
      .title = "HighErrorRate", .declared_by = "alertmanager", .dedup_key = "am:group-1"};
  const auto opened = store.declare(alert);
  EXPECT_TRUE(opened.created);
  clock.advance_ms(60 * kMinute);
  EXPECT_EQ(store.declare(alert).incident.id, opened.incident.id);
  store.set_status(opened.incident.id, "resolved", "", clock.now_ms());
  EXPECT_TRUE(store.declare(alert).created);  // resolved: the key may open a new one
}

TEST(IncidentStore, TimelineDedupsSourcesAndOrdersByEventTime) {
  ManualClock clock;
  auto db = std::move(*storage::Database::open(":memory:"));
  storage::IncidentStore store(*db, clock);
  const auto id = store.declare({.title = "x", .declared_by = "alice"}).incident.id;
  storage::TimelineEntry late{.incident_id = id,
                              .event_at = 500,
                              .ingested_at = 900,
                              .kind = "note",
                              .actor = "alice",
                              .text = "late"};
  storage::TimelineEntry alert{.incident_id = id,
                               .event_at = 100,
                               .ingested_at = 1000,
                               .kind = "alert",
                               .actor = "alertmanager",
                               .text = "firing",
                               .source_ref = "am:fp:1:firing"};
  EXPECT_EQ(store.append_batch({late, alert, alert}), 2u);
  EXPECT_FALSE(store.append(alert));
  const auto entries = store.timeline(id);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].text, "firing");
  EXPECT_EQ(entries[1].text, "late");
}

// --- commands through the router --------------------------------------------------------------

// Conversations opened by address record into one shared log per address.
struct RecordingDirectory final : commands::ConversationDirectory {
  struct Forward final : commands::Conversation {
    explicit Forward(testing::RecordingConversation& target) : target(target) {}
    commands::MessageRef post(const commands::Message& m) override { return target.post(m); }
    void update(const commands::MessageRef& ref, const commands::Message& m) override {
      target.update(ref, m);
    }
    void thread_reply(const commands::MessageRef& ref, const commands::Message& m) override {
      target.thread_reply(ref, m);
    }
    std::string address() const override { return "test"; }
    testing::RecordingConversation& target;
  };
  std::unique_ptr<commands::Conversation> open(const std::string& address) override {
    return std::make_unique<Forward>(rooms[address]);
  }
  std::map<std::string, testing::RecordingConversation> rooms;
};

class IncidentCommands : public ::testing::Test {
 protected:
  IncidentCommands() : incidents(*h.db, h.clock), feed(*h.db, incidents, settings) {
    settings.postmortem_dir = "";
    h.audit.add_observer(&feed);
    h.services->incidents = &incidents;
    h.services->incident_settings = &settings;
    h.services->conversations = &directory;
  }
  ~IncidentCommands() override { h.audit.remove_observer(&feed); }

  std::string timeline_text(std::int64_t id) {
    std::string out;
    for (const auto& entry : incidents.timeline(id))
      out += entry.kind + " " + entry.actor + ": " + entry.text + "\n";
    return out;
  }

  // After a transaction that rolled back: a deploy reaches incident #1's timeline, the event
  // written inside the rolled-back transaction does not, and the timeline's chain verifies.
  void expect_next_deploy_on_timeline_without(const std::string& rolled_back_event) {
    const auto out = h.run("alice", "deploy hello v2 to staging");
    EXPECT_NE(out.find("#1"), std::string::npos) << out;
    const auto timeline = timeline_text(1);
    EXPECT_NE(timeline.find("deploy alice: hello@staging: #1"), std::string::npos) << timeline;
    EXPECT_EQ(timeline.find(rolled_back_event), std::string::npos) << timeline;
    EXPECT_FALSE(incidents.verify_timeline(1));
  }

  testing::CommandHarness h;
  IncidentSettings settings;
  storage::IncidentStore incidents;
  commands::IncidentTimelineFeed feed;
  RecordingDirectory directory;
};

TEST_F(IncidentCommands, DeclareTwiceMakesOneIncidentWithACardAndTheDeclarerAsCommander) {
  const auto out = h.run("alice", "incident declare \"checkout errors\" sev2 hello");
  EXPECT_NE(out.find("INC-1 checkout errors [sev2, investigating]"), std::string::npos) << out;
  ASSERT_EQ(h.last.posts.size(), 1u);  // the card (no deploys to suspect yet)
  EXPECT_EQ(h.last.threads.size(), 1u);
  const auto again = h.run("alice", "incident declare \"checkout errors\" sev2 hello");
  EXPECT_NE(again.find("INC-1 \"checkout errors\" is already open"), std::string::npos) << again;
  EXPECT_EQ(incidents.list().size(), 1u);
  const auto incident = *incidents.get(1);
  EXPECT_EQ(incident.room, "test");
  EXPECT_EQ(incident.card_ref, "1");
  ASSERT_EQ(incidents.roles(1).size(), 1u);
  EXPECT_EQ(incidents.roles(1)[0].role, "commander");
  EXPECT_EQ(incidents.roles(1)[0].user_id, "alice");
  EXPECT_TRUE(incident.next_reminder_at);  // sev2: every hour
}

TEST_F(IncidentCommands, BadInputIsRefusedAndChangesNothing) {
  EXPECT_NE(h.run("alice", "incident declare \"x\" sev9").find("'sev9' is not a severity"),
            std::string::npos);
  EXPECT_NE(h.run("alice", "incident declare \"x\" helo").find("did you mean 'hello'"),
            std::string::npos);
  EXPECT_NE(h.run("alice", "incident declare \"x\" --at tomorrow").find("is not a time"),
            std::string::npos);
  EXPECT_TRUE(incidents.list().empty());
  EXPECT_NE(h.run("alice", "incident status identified").find("no incident is open"),
            std::string::npos);
  EXPECT_NE(h.run("dave", "incident declare \"x\"").find("not a configured user"),
            std::string::npos);
  h.run("alice", "incident declare \"x\"");
  EXPECT_NE(h.run("alice", "incident status fixed").find("not an incident status"),
            std::string::npos);
  EXPECT_NE(h.run("alice", "incident assign pilot bob").find("not an incident role"),
            std::string::npos);
  EXPECT_NE(h.run("alice", "incident assign comms bobby").find("did you mean 'bob'"),
            std::string::npos);
  EXPECT_NE(h.run("alice", "incident link 99").find("there is no deploy"), std::string::npos);
  EXPECT_EQ(incidents.timeline(1).size(), 2u);  // declared, commander
}

TEST_F(IncidentCommands, ManageRolesRestrictWhoMayRunIncidents) {
  settings.manage_roles = {"sre"};
  const auto out = h.run("bob", "incident declare \"x\" sev1");
  EXPECT_NE(out.find("Incident declare refused: bob may not manage incidents"), std::string::npos)
      << out;
  EXPECT_TRUE(incidents.list().empty());
  EXPECT_NE(h.run("alice", "incident declare \"x\" sev1").find("INC-1"), std::string::npos);
  EXPECT_NE(h.run("carol", "incident note admins may").find("Noted"), std::string::npos);
  // Reading is open to everyone.
  EXPECT_NE(h.run("bob", "incidents").find("INC-1"), std::string::npos);
}

TEST_F(IncidentCommands, LifecycleUpdatesTheCardInPlaceAndFillsTheTimeline) {
  h.run("alice", "incident declare \"checkout errors\" sev2 hello --at \"20m ago\"");
  h.run("alice", "incident assign comms bob");
  EXPECT_EQ(h.last.updates.size(), 1u);  // the card, in place
  EXPECT_NE(h.last.updates[0].text.find("INC-1"), std::string::npos);
  h.run("alice", "incident status identified \"bad config in v2\"");
  ASSERT_EQ(h.last.updates.size(), 1u);
  bool has_update = false;
  for (const auto& field : h.last.updates[0].fields)
    has_update =
        has_update || (field.label == "Latest update" && field.value == "bad config in v2");
  EXPECT_TRUE(has_update);
  h.run("alice", "incident severity sev1");
  h.run("bob", "incident note \"customers report 500s\" --at \"10m ago\"");
  h.run("alice", "incident status monitoring");
  auto incident = *incidents.get(1);
  EXPECT_EQ(incident.severity, 1);
  EXPECT_EQ(incident.status, "monitoring");
  EXPECT_TRUE(incident.mitigated_at);
  EXPECT_EQ(*incident.detected_at, incident.declared_at - 20 * kMinute);

  const auto timeline = timeline_text(1);
  EXPECT_NE(timeline.find("milestone alice: detected"), std::string::npos) << timeline;
  EXPECT_NE(timeline.find("role alice: comms: bob"), std::string::npos);
  EXPECT_NE(timeline.find("status alice: identified: bad config in v2"), std::string::npos);
  EXPECT_NE(timeline.find("severity alice: sev2 -> sev1"), std::string::npos);
  EXPECT_NE(timeline.find("note bob: customers report 500s"), std::string::npos);
  EXPECT_NE(timeline.find("milestone alice: mitigated"), std::string::npos);
  // The back-dated note sorts by when it happened, and says when it was recorded.
  const auto shown = h.run("alice", "incident timeline");
  EXPECT_LT(shown.find("customers report"), shown.find("identified: bad config"));
  EXPECT_NE(shown.find("(recorded "), std::string::npos);
  EXPECT_NE(h.run("alice", "incident timeline 1 --markdown").find("| time (UTC) | event |"),
            std::string::npos);

  const auto resolved = h.run("alice", "incident resolve \"bad config; rolled back\"");
  EXPECT_NE(resolved.find("Resolved INC-1 after 20 min"), std::string::npos) << resolved;
  EXPECT_NE(resolved.find("# Postmortem: INC-1 checkout errors"), std::string::npos);
  EXPECT_NE(resolved.find("Time to mitigate: 20 min"), std::string::npos);
  EXPECT_NE(resolved.find("## Action items"), std::string::npos);
  EXPECT_FALSE(incidents.get(1)->next_reminder_at);
  EXPECT_NE(h.run("alice", "incident note late").find("no incident is open"), std::string::npos);
  EXPECT_NE(h.run("alice", "incident note late --id 1").find("is resolved"), std::string::npos);
  // Every timeline row matches the hash-chained audit record that carries it.
  EXPECT_FALSE(incidents.verify_timeline(1));
  EXPECT_TRUE(h.audit.verify().ok);
}

TEST_F(IncidentCommands, DeploysAndLocksLandOnTheTimelineByThemselves) {
  h.run("alice", "deploy hello v1 to staging");  // before the incident: a suspect
  const auto declared = h.run("alice", "incident declare \"errors\" sev2 hello");
  EXPECT_NE(declared.find("Suspected changes for INC-1"), std::string::npos) << declared;
  EXPECT_NE(declared.find("#1 hello v1 in staging"), std::string::npos);
  ASSERT_EQ(h.last.posts.size(), 2u);
  ASSERT_FALSE(h.last.posts[1].buttons.empty());
  EXPECT_EQ(h.last.posts[1].buttons[0].command, "incident link 1 --id 1");

  h.run("alice", "deploy hello v2 to staging");
  h.run("alice", "rollback hello in staging");
  h.run("alice", "lock hello@staging investigating");
  const auto timeline = timeline_text(1);
  EXPECT_NE(timeline.find("deploy alice: hello@staging: #2 v1 -> v2"), std::string::npos)
      << timeline;
  EXPECT_NE(timeline.find("deploy shipmate: hello@staging: #2 v2 serving"), std::string::npos);
  EXPECT_NE(timeline.find("rollback alice: hello@staging"), std::string::npos);
  EXPECT_NE(timeline.find("lock alice: hello@staging: investigating"), std::string::npos);
  // The feed marks the incident for a card refresh; the watcher's step does it.
  commands::run_incident_watch(*h.services, &feed);
  EXPECT_FALSE(directory.rooms["test"].updates.empty());
  EXPECT_FALSE(incidents.verify_timeline(1));
}

// Regression: the feed re-read the open incidents inside a declare's transaction that then
// rolled back, and kept the incident that never existed; the next engine event's timeline row
// for it broke the foreign key and failed that event's own transaction (here: the deploy).
TEST_F(IncidentCommands, AnIncidentWhoseDeclareRolledBackNeverFailsTheNextEvent) {
  h.run("alice", "incident declare \"errors\" sev2 hello");
  EXPECT_THROW(h.db->transaction([&] {
    const auto ghost = incidents.declare({.title = "ghost", .declared_by = "alice"});
    h.audit.append(
        {"alice", "incident.declared", storage::incident_label(ghost.incident.id), "ok", "ghost"});
    // An engine event in the same transaction: the feed reads the open incidents, ghost included.
    h.audit.append({"alice", "lock.acquired", "hello@staging", "ok", "before the rollback"});
    throw std::runtime_error("the declare fails after its event");
  }),
               std::runtime_error);
  ASSERT_EQ(incidents.open_incidents().size(), 1u);
  expect_next_deploy_on_timeline_without("before the rollback");
}

// Regression: a resolve whose transaction rolled back after an engine event in it had made the
// feed read the open incidents (the resolved one missing) left the feed with that list: the
// incident stayed open, and the engine's later events never reached its timeline.
TEST_F(IncidentCommands, EventsAfterARolledBackResolveReachTheStillOpenIncident) {
  h.run("alice", "incident declare \"errors\" sev2 hello");
  EXPECT_THROW(h.db->transaction([&] {
    incidents.set_status(1, "resolved", "not yet", h.clock.now_ms());
    h.audit.append({"alice", "incident.resolved", "INC-1", "ok", "not yet"});
    h.audit.append({"alice", "lock.acquired", "hello@staging", "ok", "inside the resolve"});
    throw std::runtime_error("the resolve fails after its event");
  }),
               std::runtime_error);
  ASSERT_EQ(incidents.open_incidents().size(), 1u);
  expect_next_deploy_on_timeline_without("inside the resolve");
}

TEST_F(IncidentCommands, EventsOnOtherServicesStayOffUnlessConfigured) {
  h.run("alice", "incident declare \"billing is down\" sev2");
  incidents.add_services(1, {"billing"});
  h.audit.append({"alice", "incident.services", "INC-1", "ok", "billing"});  // re-reads the list
  h.run("alice", "deploy hello v1 to staging");
  EXPECT_EQ(timeline_text(1).find("hello@staging"), std::string::npos);
  settings.timeline_all_services = true;
  h.run("alice", "deploy hello v2 to staging");
  EXPECT_NE(timeline_text(1).find("hello@staging"), std::string::npos);
}

TEST_F(IncidentCommands, LinkingADeployMarksItForDora) {
  h.run("alice", "deploy hello v1 to staging");
  h.run("alice", "incident declare \"errors\" sev2 hello");
  const auto out = h.run("alice", "incident link 1");
  EXPECT_NE(out.find("Linked deploy #1 (hello v1 in staging) to INC-1"), std::string::npos) << out;
  EXPECT_EQ(h.deploys.get(1)->incident, "INC-1");
  EXPECT_NE(h.run("alice", "incident link 1").find("already linked"), std::string::npos);
  ASSERT_EQ(incidents.linked_deploys(1).size(), 1u);
  EXPECT_NE(timeline_text(1).find("link alice: deploy #1 hello v1 in staging"), std::string::npos);
}

TEST_F(IncidentCommands, AnIncidentsRestoreTimeFeedsDoraTimeToRestore) {
  h.run("alice", "deploy hello v1 to production");
  h.run("alice", "incident declare \"errors\" sev2 hello --at \"25m ago\"");
  h.run("alice", "incident link 1");
  h.run("alice", "incident milestone mitigated");
  h.run("alice", "metrics hello");
  ASSERT_FALSE(h.last.posts.empty());
  std::string restore;
  for (const auto& field : h.last.posts[0].fields) {
    if (field.label == "Time to restore")
      restore = field.value;
  }
  EXPECT_EQ(restore, "median 25 min 0 s (1 restore)");
}

TEST_F(IncidentCommands, RemindersGoToTheCommanderOncePerCadenceAndSurviveARestart) {
  h.run("alice", "incident declare \"checkout\" sev1 hello");
  auto& room = directory.rooms["test"];
  h.clock.advance_ms(29 * kMinute);
  commands::run_incident_watch(*h.services, &feed);
  EXPECT_TRUE(room.posts.empty());
  h.clock.advance_ms(2 * kMinute);
  commands::run_incident_watch(*h.services, &feed);
  ASSERT_EQ(room.posts.size(), 1u);
  EXPECT_NE(room.posts[0].text.find("alice: INC-1 (sev1) has had no status update for 31 min"),
            std::string::npos)
      << room.posts[0].text;
  commands::run_incident_watch(*h.services, &feed);  // the same instant again: nothing
  EXPECT_EQ(room.posts.size(), 1u);

  // A restart: a new store on the same database plans from the stored due time.
  storage::IncidentStore reopened(*h.db, h.clock);
  h.services->incidents = &reopened;
  commands::run_incident_watch(*h.services, &feed);
  EXPECT_EQ(room.posts.size(), 1u);
  h.clock.advance_ms(30 * kMinute);
  commands::run_incident_watch(*h.services, &feed);
  EXPECT_EQ(room.posts.size(), 2u);

  // A status update moves the next reminder a whole cadence on.
  h.services->incidents = &incidents;
  h.run("alice", "incident status identified \"found it\"");
  h.clock.advance_ms(29 * kMinute);
  commands::run_incident_watch(*h.services, &feed);
  EXPECT_EQ(room.posts.size(), 2u);
  EXPECT_NE(timeline_text(1).find("reminder shipmate"), std::string::npos);
}

}  // namespace
}  // namespace shipmate
