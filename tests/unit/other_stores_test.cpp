// The schedule, incident, runbook, freeze, release-notes and conversation-reference stores on both
// backends: each statement they run, once, with the outcomes that differ between a first and a
// repeated write (claims, upserts, dedupe). Their behaviour in depth is covered through the
// commands' tests on SQLite.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "common/clock.h"
#include "storage/conversation_refs.h"
#include "storage/freeze_store.h"
#include "storage/incident_store.h"
#include "storage/release_notes_store.h"
#include "storage/room_op_store.h"
#include "storage/runbook_store.h"
#include "storage/schedule_store.h"
#include "tests/support/backends.h"
#include "tests/support/test_support.h"

namespace shipmate::storage {
namespace {

using shipmate::testing::Backend;
using shipmate::testing::fresh_location;

class OtherStoresTest : public ::testing::TestWithParam<Backend> {
 protected:
  ManualClock clock;
  shipmate::testing::TempDir dir;
  std::unique_ptr<Database> db =
      shipmate::testing::open_or_throw(fresh_location(GetParam(), dir, ":memory:"));
};
SHIPMATE_ON_BOTH_BACKENDS(OtherStoresTest);

TEST_P(OtherStoresTest, Schedules) {
  ScheduleStore schedules(*db, clock);
  ScheduleRecord record;
  record.name = "weekly";
  record.cron = "0 9 * * mon";
  record.action = "announce";
  record.payload = "hello";
  record.created_by = "alice";
  auto added = schedules.add(record);
  ASSERT_TRUE(added.ok()) << added.error().message;
  EXPECT_GT(added->id, 0);
  EXPECT_EQ(schedules.find_by_name("weekly")->id, added->id);
  EXPECT_EQ(schedules.active().size(), 1u);
  EXPECT_TRUE(schedules.claim(added->id, 1000));
  EXPECT_FALSE(schedules.claim(added->id, 1000));                // one claim per occurrence
  schedules.record_skipped(added->id, 1000, "already claimed");  // no-op on a claimed one
  schedules.record_skipped(added->id, 2000, "too late");
  EXPECT_EQ(schedules.take_interrupted().size(), 1u);
  schedules.finish(added->id, 1000, "done", "");
  schedules.advance(added->id, 1000, 5000);
  EXPECT_EQ(schedules.get(added->id)->next_at, 5000);
  const auto runs = schedules.runs(added->id, 10);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].outcome, "skipped");
  EXPECT_EQ(runs[1].outcome, "done");
  EXPECT_TRUE(schedules.set_state(added->id, "paused"));
  EXPECT_FALSE(schedules.set_state(added->id + 100, "paused"));
  EXPECT_EQ(schedules.list(false).size(), 1u);
}

TEST_P(OtherStoresTest, Incidents) {
  IncidentStore incidents(*db, clock);
  DeclareRequest request;
  request.title = "Checkout Errors";
  request.declared_by = "alice";
  request.services = {"checkout"};
  request.room = "C1";
  const auto first = incidents.declare(request);
  EXPECT_TRUE(first.created);
  request.title = "checkout errors";  // the same declarer and title, differently cased
  const auto again = incidents.declare(request);
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.incident.id, first.incident.id);
  const auto id = first.incident.id;

  incidents.assign(id, "commander", "alice");
  incidents.assign(id, "commander", "bob");  // replaces
  ASSERT_EQ(incidents.roles(id).size(), 1u);
  EXPECT_EQ(incidents.roles(id)[0].user_id, "bob");

  TimelineEntry entry{0, id, clock.now_ms(), clock.now_ms(), "note", "alice", "looking", {}, "x"};
  EXPECT_TRUE(incidents.append(entry));
  EXPECT_FALSE(incidents.append(entry));  // the same source_ref again
  EXPECT_EQ(incidents.timeline(id).size(), 1u);

  EXPECT_TRUE(incidents.remember_alert("am:group:fp:1", id));
  EXPECT_FALSE(incidents.remember_alert("am:group:fp:1", id));
  incidents.set_status(id, "mitigated", "", clock.now_ms());
  EXPECT_EQ(incidents.get(id)->status, "mitigated");
  EXPECT_EQ(incidents.open_in_room("C1")->id, id);
  incidents.set_status(id, "resolved", "fixed", clock.now_ms());
  EXPECT_EQ(incidents.list(5).size(), 1u);
  EXPECT_TRUE(incidents.open_incidents().empty());
}

// A timeline entry for an incident that does not exist (a declare that rolled back after a
// reader saw it) is left out, and the transaction it is part of carries on and commits: the
// foreign key never fails the caller's transaction (on PostgreSQL a failed statement would
// abort all of it).
TEST_P(OtherStoresTest, TimelineEntryForAVanishedIncidentIsSkippedWithoutFailingTheTransaction) {
  IncidentStore incidents(*db, clock);
  const auto id = incidents.declare({.title = "x", .declared_by = "alice"}).incident.id;
  TimelineEntry ghost{0,    id + 1, clock.now_ms(), clock.now_ms(), "deploy", "alice",
                      "v2", {},     "audit:7"};
  TimelineEntry real = ghost;
  real.incident_id = id;
  db->transaction([&] {
    EXPECT_FALSE(incidents.append(ghost));
    EXPECT_TRUE(incidents.append(real));
  });
  EXPECT_EQ(incidents.timeline(id).size(), 1u);
  EXPECT_TRUE(incidents.timeline(id + 1).empty());
  EXPECT_EQ(incidents.append_batch({ghost, real, ghost}), 0u);
}

// The Database's rollback announcement (what IncidentTimelineFeed relies on): once per
// transaction() that rolled back, after its writes are gone, never for a commit or a nested body.
TEST_P(OtherStoresTest, RollbackObserversAreToldAfterEachRollbackOnly) {
  struct Counter : RollbackObserver {
    int told = 0;
    void rolled_back() noexcept override { ++told; }
  } counter;
  db->add_rollback_observer(&counter);
  IncidentStore incidents(*db, clock);
  db->transaction([&] { incidents.declare({.title = "kept", .declared_by = "alice"}); });
  EXPECT_EQ(counter.told, 0);
  EXPECT_THROW(db->transaction([&] {
    db->transaction([&] { incidents.declare({.title = "gone", .declared_by = "alice"}); });
    EXPECT_EQ(counter.told, 0);  // the nested body joined the outer transaction
    throw std::runtime_error("after the declare");
  }),
               std::runtime_error);
  EXPECT_EQ(counter.told, 1);
  EXPECT_EQ(incidents.open_incidents().size(), 1u);
  // A statement the server refuses rolls back too (on PostgreSQL it is thrown at COMMIT's wait).
  EXPECT_THROW(db->transaction([&] { db->exec("INSERT INTO no_such_table VALUES (1)"); }),
               StorageError);
  EXPECT_EQ(counter.told, 2);
  db->remove_rollback_observer(&counter);
  EXPECT_THROW(db->transaction([&] { throw std::runtime_error("unobserved"); }),
               std::runtime_error);
  EXPECT_EQ(counter.told, 2);
}

TEST_P(OtherStoresTest, OpenIncidentForAServiceMatchesWholeNamesNewestFirst) {
  IncidentStore incidents(*db, clock);
  auto declare = [&](std::string title, std::vector<std::string> services) {
    DeclareRequest request;
    request.title = std::move(title);
    request.declared_by = "alice";
    request.services = std::move(services);
    return incidents.declare(request).incident.id;
  };
  const auto gateway = declare("gateway down", {"api-gateway"});
  EXPECT_FALSE(incidents.open_for_service("api"));  // a whole name, not a part of one
  EXPECT_FALSE(incidents.open_for_service("gateway"));
  EXPECT_EQ(incidents.open_for_service("api-gateway")->id, gateway);
  const auto older = declare("checkout slow", {"web", "checkout", "api"});
  const auto newer = declare("api errors", {"api"});
  EXPECT_EQ(incidents.open_for_service("api")->id, newer);  // what open_incidents() lists first
  EXPECT_EQ(incidents.open_for_service("checkout")->id, older);
  EXPECT_EQ(incidents.open_for_service("web")->id, older);
  EXPECT_FALSE(incidents.open_for_service("%"));  // no pattern characters
  EXPECT_FALSE(incidents.open_for_service(""));
  EXPECT_FALSE(incidents.open_for_service("web checkout"));
  incidents.set_status(newer, "resolved", "fixed", clock.now_ms());
  EXPECT_EQ(incidents.open_for_service("api")->id, older);  // resolved ones are not open
  incidents.set_status(older, "resolved", "fixed", clock.now_ms());
  EXPECT_FALSE(incidents.open_for_service("api"));

  EXPECT_FALSE(incidents.alert_seen("am|g|fp|t|firing"));
  EXPECT_TRUE(incidents.remember_alert("am|g|fp|t|firing", std::nullopt));
  EXPECT_TRUE(incidents.alert_seen("am|g|fp|t|firing"));
  EXPECT_FALSE(incidents.alert_seen("am|g|fp|t|resolved"));
}

TEST_P(OtherStoresTest, RunbookJournal) {
  RunbookStore runbooks(*db, clock);
  RunbookRunRecord run;
  run.runbook = "restart";
  run.hash = "abc";
  run.started_by = "alice";
  run.chat_ref = "C1";
  run.status = "running";
  const auto run_id = runbooks.create_run(run);
  EXPECT_GT(run_id, 0);
  RunbookStepRecord step;
  step.run_id = run_id;
  step.phase = "main";
  step.name = "check";
  step.attempt = 1;
  const auto step_id = runbooks.step_started(step, "running", "state-1");
  EXPECT_GT(step_id, 0);
  EXPECT_EQ(runbooks.unfinished().size(), 1u);
  runbooks.save_state(run_id, "succeeded", "state-2", true);
  EXPECT_TRUE(runbooks.unfinished().empty());
  EXPECT_TRUE(runbooks.get(run_id)->finished_at.has_value());
  runbooks.interrupt_open_steps(run_id, "stopped");
  ASSERT_EQ(runbooks.steps(run_id).size(), 1u);
  EXPECT_EQ(runbooks.steps(run_id)[0].status, "interrupted");
  EXPECT_EQ(runbooks.recent(5).size(), 1u);
}

// Replicas (issue 17): a run's owner and epoch fence every write after its creation, and a
// takeover is one compare-and-set that only one survivor wins.
TEST_P(OtherStoresTest, RunbookWritesAreFencedOnOwnerAndEpoch) {
  RunbookStore runbooks(*db, clock);
  RunbookRunRecord run;
  run.runbook = "restart";
  run.hash = "abc";
  run.started_by = "alice";
  run.chat_ref = "C1";
  run.status = "running";
  run.owner = "a";
  const auto run_id = runbooks.create_run(run);
  EXPECT_EQ(runbooks.get(run_id)->owner, "a");
  EXPECT_EQ(runbooks.get(run_id)->epoch, 0);
  const RunFence a{"a", 0};
  RunbookStepRecord step{.run_id = run_id, .phase = "main", .name = "first", .attempt = 1};
  EXPECT_FALSE(runbooks.step_started(step, "running", "wrong-owner", RunFence{"b", 0}) > 0);
  const auto first = runbooks.step_started(step, "running", "state-1", a);
  ASSERT_GT(first, 0);
  EXPECT_TRUE(runbooks.set_message_ref(run_id, "msg-1", a));

  // b takes it over from a at epoch 0; c, late with the same view, loses.
  EXPECT_EQ(runbooks.take_over(run_id, a, "b"), std::optional<std::int64_t>(1));
  EXPECT_EQ(runbooks.take_over(run_id, a, "c"), std::nullopt);
  EXPECT_EQ(runbooks.get(run_id)->owner, "b");
  EXPECT_EQ(runbooks.get(run_id)->epoch, 1);

  // Every late write of a's is refused and changes nothing.
  EXPECT_FALSE(runbooks.save_state(run_id, "failed", "stale", true, a));
  EXPECT_FALSE(runbooks.step_finished(first, "succeeded", "late", "", run_id, "succeeded", "stale",
                                      true, a));
  EXPECT_EQ(runbooks.step_started(step, "running", "stale", a), 0);
  EXPECT_FALSE(runbooks.set_message_ref(run_id, "msg-stale", a));
  EXPECT_FALSE(runbooks.interrupt_open_steps(run_id, "stale", a));
  auto stored = runbooks.get(run_id);
  EXPECT_EQ(stored->state, "state-1");
  EXPECT_EQ(stored->message_ref, "msg-1");
  EXPECT_FALSE(stored->finished_at.has_value());
  ASSERT_EQ(runbooks.steps(run_id).size(), 1u);
  EXPECT_EQ(runbooks.steps(run_id)[0].status, "started");

  // b, at epoch 1, writes.
  const RunFence b{"b", 1};
  EXPECT_TRUE(runbooks.interrupt_open_steps(run_id, "cut off: taken over", b));
  EXPECT_EQ(runbooks.steps(run_id)[0].status, "interrupted");
  EXPECT_TRUE(runbooks.save_state(run_id, "succeeded", "state-2", true, b));
  // A finished run is not taken over.
  EXPECT_EQ(runbooks.take_over(run_id, b, "c"), std::nullopt);
}

// Replicas (issue 17): a starting replica frees only its own claimed room operations; a live
// replica's in-flight claim stays its own until its lease passes.
TEST_P(OtherStoresTest, RoomOperationClaimsAreFreedOnlyByTheReplicaThatHoldsThem) {
  RoomOpStore a(*db, "a");
  RoomOpStore b(*db, "b");
  RoomOp op;
  op.key = "pin:INC-1:card";
  op.incident_id = 1;
  op.kind = "pin";
  op.room = "slack:C1";
  op.created_at = 1000;
  op.next_at = 1000;
  const auto added = a.add(op);
  EXPECT_EQ(added.replica, "a");
  ASSERT_TRUE(a.claim(added.id, 1000, 31'000));
  EXPECT_EQ(b.release_claims(), 0);  // b starting leaves a's claim alone
  EXPECT_EQ(b.get(added.id)->next_at, 31'000);
  EXPECT_FALSE(b.claim(added.id, 2000, 32'000));
  // Once a's claim has run out, b may claim it, and then it is b's.
  ASSERT_TRUE(b.claim(added.id, 31'000, 61'000));
  EXPECT_EQ(b.get(added.id)->replica, "b");
  EXPECT_EQ(a.release_claims(), 0);
  EXPECT_EQ(b.release_claims(), 1);
  EXPECT_EQ(a.get(added.id)->next_at, 0);
}

// The room-operation queue's pacing lines (commands/room_op_pacing.h): replaced per scope, read
// back at start-up, and dropped there once they limit nothing.
TEST_P(OtherStoresTest, RoomPacingLinesAreKeptPerScopeUntilTheyLimitNothing) {
  RoomOpStore store(*db);
  store.save_pace(RoomOpPace{"channel:slack:C1", 31'000, 0, 0});
  store.save_pace(RoomOpPace{"channel:slack:C1", 41'000, 0, 0});  // replaced, not added
  store.save_pace(RoomOpPace{"kind:create", 0, 2.5, 1'000});
  store.save_pace(RoomOpPace{"kind:pin", 0, 19, 500});
  auto lines = store.paces(1'000, 60'000);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].scope, "channel:slack:C1");
  EXPECT_EQ(lines[0].held_until, 41'000);
  EXPECT_EQ(lines[1].scope, "kind:create");
  EXPECT_DOUBLE_EQ(lines[1].tokens, 2.5);
  EXPECT_EQ(lines[1].counted_at, 1'000);
  // Later: the hold has passed and both tiers have refilled: nothing is left.
  EXPECT_EQ(store.paces(61'000, 60'000).size(), 0u);
  EXPECT_EQ(db->prepare("SELECT COUNT(*) FROM incident_room_pacing").scalar(), 0);
}

TEST_P(OtherStoresTest, FreezesAndConversationRefs) {
  FreezeStore freezes(*db, clock);
  const auto open_ended =
      freezes.add("production", clock.now_ms(), std::nullopt, "incident", "bob");
  const auto bounded =
      freezes.add("production", clock.now_ms(), clock.now_ms() + 60'000, "release", "bob");
  EXPECT_NE(open_ended.id, bounded.id);
  EXPECT_EQ(freezes.in_force("production")->id, open_ended.id);  // the open-ended one first
  EXPECT_EQ(freezes.current_and_coming().size(), 2u);
  EXPECT_EQ(freezes.lift("production", "carol").size(), 2u);
  EXPECT_EQ(freezes.in_force("production"), std::nullopt);

  ConversationRefStore refs(*db, clock);
  refs.save(ConversationRef{"teams", "19:abc", "https://one.example", "t1", "channel", "28:b", 0});
  clock.advance_ms(1000);
  refs.save(ConversationRef{"teams", "19:abc", "https://two.example", "t1", "channel", "28:b", 0});
  EXPECT_EQ(refs.get("teams", "19:abc")->service_url, "https://two.example");
  EXPECT_EQ(refs.list("teams").size(), 1u);
}

TEST_P(OtherStoresTest, ReleaseNotes) {
  ReleaseNotesStore notes(*db, clock);
  EXPECT_EQ(notes.find("hello", "v2"), std::nullopt);
  // An edit may come first: the row holds the edit alone.
  clock.advance_ms(1000);
  notes.edit("hello", "v2", "Hand-written notes", "alice");
  auto edited = notes.find("hello", "v2");
  ASSERT_TRUE(edited);
  EXPECT_EQ(edited->text(), "Hand-written notes");
  EXPECT_EQ(edited->generated, "");
  EXPECT_EQ(edited->edited_by, "alice");
  EXPECT_EQ(edited->edited_at, clock.now_ms());

  // Generated notes fill in the row and keep the edit; regenerating replaces only them.
  ReleaseNotesRecord record;
  record.service = "hello";
  record.version = "v2";
  record.from_version = "v1";
  record.from_sha = std::string(40, 'a');
  record.to_sha = std::string(40, 'b');
  record.summary = "1 feature";
  record.generated = "### Features\n- greet";
  for (int i = 0; i < 2; ++i) {
    clock.advance_ms(1000);
    notes.save(record);
  }
  auto saved = notes.find("hello", "v2");
  ASSERT_TRUE(saved);
  EXPECT_EQ(saved->from_version, "v1");
  EXPECT_EQ(saved->to_sha, std::string(40, 'b'));
  EXPECT_EQ(saved->generated, record.generated);
  EXPECT_EQ(saved->text(), "Hand-written notes");
  EXPECT_EQ(saved->updated_at, clock.now_ms());

  // Another release of the same service is its own row.
  record.version = "v3";
  notes.save(record);
  EXPECT_EQ(notes.find("hello", "v3")->text(), record.generated);
  EXPECT_EQ(db->prepare("SELECT COUNT(*) FROM release_notes").scalar(), 2);
}

}  // namespace
}  // namespace shipmate::storage
