// announce, schedule add/list/show/pause/resume/cancel and freeze/unfreeze/freezes through the
// real Router on in-memory storage, with the scheduler on manual time posting to a recording
// conversation: what is stored, what fires (once), who may do what, and the audit trail.
#include <gtest/gtest.h>

#include "commands/schedules.h"
#include "scheduler/scheduler.h"
#include "tests/support/command_harness.h"

namespace shipmate::testing {
namespace {

namespace asio = boost::asio;

EpochMillis utc(const char* text) {
  return parse_iso8601(text).value();
}

class ScheduleCommandsTest : public ::testing::Test {
 protected:
  ScheduleCommandsTest() {
    h.clock.set_ms(utc("2026-12-07T15:30Z"));  // Monday
    h.services->conversations = &directory;
    runner = std::make_unique<scheduler::Scheduler>(
        h.io.get_executor(), h.timers, h.clock, *h.db, h.schedules,
        [this](const storage::ScheduleRecord& s, EpochMillis nominal) {
          return commands::run_scheduled(*h.services, s, nominal);
        });
    h.services->scheduler = runner.get();
    runner->start();
    // The scheduler's loop keeps the event loop busy (its sleep is outstanding work), so the
    // harness runs each command until it finishes instead of until the loop runs dry.
    h.background.push_back(std::make_unique<RecordingConversation>());
  }
  ~ScheduleCommandsTest() override {
    runner->stop();
    h.io.restart();
    h.io.poll();
  }

  // Moves manual time on in one-minute steps, letting the scheduler run after each.
  void pass(std::chrono::minutes minutes) {
    for (int i = 0; i < minutes.count(); ++i) {
      h.timers.advance(std::chrono::minutes(1));
      h.io.restart();
      while (h.io.poll() > 0) {
      }
    }
  }

  std::string audit_actions() {
    std::string out;
    for (const auto& record : h.audit.tail(100))
      out += record.entry.action + " ";
    return out;
  }

  CommandHarness h;
  testing::OneRoomDirectory directory;
  std::unique_ptr<scheduler::Scheduler> runner;
};

TEST_F(ScheduleCommandsTest, AnAnnouncementFiresOnceAtItsTimeInItsChannel) {
  const std::string reply =
      h.run("alice", "announce here at 17:00 Europe/Paris \"Release train leaves in 1 hour\"");
  EXPECT_NE(reply.find("Announcement #1 will go to test Mon 2026-12-07 17:00 Europe/Paris "
                       "(16:00Z)"),
            std::string::npos)
      << reply;
  const auto stored = h.schedules.get(1);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->once, utc("2026-12-07T16:00Z"));
  EXPECT_EQ(stored->payload, "Release train leaves in 1 hour");
  EXPECT_EQ(stored->created_by, "alice");
  pass(std::chrono::minutes(29));
  EXPECT_TRUE(directory.target.posts.empty());
  pass(std::chrono::minutes(1));
  ASSERT_EQ(directory.target.posts.size(), 1u);
  EXPECT_EQ(directory.target.posts[0].text, "Release train leaves in 1 hour");
  EXPECT_NE(directory.target.posts[0].context.find("set up by alice"), std::string::npos);
  pass(std::chrono::minutes(60));
  EXPECT_EQ(directory.target.posts.size(), 1u);
  EXPECT_EQ(h.schedules.get(1)->state, "done");
  EXPECT_NE(audit_actions().find("schedule.added schedule.fired"), std::string::npos);
}

TEST_F(ScheduleCommandsTest, TimesWithoutAZoneUseTheConfiguredOne) {
  h.catalog.time_zone = "America/New_York";  // 15:30Z is 10:30 there
  const std::string announced = h.run("alice", "announce here at 17:00 \"Release at five\"");
  EXPECT_NE(announced.find("Mon 2026-12-07 17:00 America/New_York (22:00Z)"), std::string::npos)
      << announced;
  EXPECT_EQ(h.schedules.get(1)->once, utc("2026-12-07T22:00Z"));
  EXPECT_EQ(h.schedules.get(1)->timezone, "America/New_York");
  // A zone written in the command still wins.
  h.run("alice", "announce here at 17:00 Europe/Paris \"Paris\"");
  EXPECT_EQ(h.schedules.get(2)->once, utc("2026-12-07T16:00Z"));
  EXPECT_EQ(h.schedules.get(2)->timezone, "Europe/Paris");

  const std::string added =
      h.run("alice", "schedule add standup \"30 9 * * mon-fri\" announce \"Standup\"");
  EXPECT_NE(added.find("first Tue 2026-12-08 09:30 America/New_York (14:30Z)"), std::string::npos)
      << added;
  const auto standup = h.schedules.find_by_name("standup");
  ASSERT_TRUE(standup);
  EXPECT_EQ(standup->timezone, "America/New_York");

  const std::string frozen = h.run("bob", "freeze staging until tomorrow 09:00 \"holiday\"");
  EXPECT_NE(frozen.find("until Tue 2026-12-08 09:00 America/New_York (14:00Z)"), std::string::npos)
      << frozen;
  EXPECT_NE(h.run("alice", "freezes").find("until Tue 2026-12-08 09:00 America/New_York"),
            std::string::npos);
}

TEST_F(ScheduleCommandsTest, AnnounceExplainsWhatIsWrong) {
  EXPECT_NE(h.run("alice", "announce here at 17:00 no quotes").find("put the text in quotes"),
            std::string::npos);
  EXPECT_NE(h.run("alice", "announce here at teatime \"x\"").find("'teatime' is not a time"),
            std::string::npos);
  EXPECT_NE(h.run("alice", "announce here at 2026-12-01T09:00Z \"x\"").find("already passed"),
            std::string::npos);
  EXPECT_NE(h.run("alice", "announce here \"x\"").find("say when with 'at'"), std::string::npos);
  EXPECT_NE(h.run("alice", "announce #bad;channel at 17:00 \"x\"").find("is not a channel"),
            std::string::npos);
  EXPECT_NE(h.run("mallory", "announce here at 17:00 \"x\"").find("not a configured user"),
            std::string::npos);
  EXPECT_TRUE(h.schedules.list().empty());
}

TEST_F(ScheduleCommandsTest, ARecurringDigestIsListedShownWithItsNextFiveRunsAndFires) {
  const std::string added = h.run(
      "alice", "schedule add weekly \"0 9 * * mon-fri\" Europe/Paris release-digest production");
  EXPECT_NE(added.find("Schedule #1 weekly added: release digest of production"), std::string::npos)
      << added;
  EXPECT_NE(added.find("first Tue 2026-12-08 09:00 Europe/Paris (08:00Z)"), std::string::npos)
      << added;
  const std::string list = h.run("bob", "schedule list");
  EXPECT_NE(list.find("#1 weekly: release digest of production in test, cron '0 9 * * mon-fri' "
                      "in Europe/Paris"),
            std::string::npos)
      << list;
  h.run("bob", "schedule show weekly");
  std::string next;
  for (const auto& field : h.last.posts.at(0).fields) {
    if (field.label == "Next")
      next = field.value;
  }
  EXPECT_EQ(next,
            "Tue 2026-12-08 09:00 Europe/Paris (08:00Z)\nWed 2026-12-09 09:00 Europe/Paris "
            "(08:00Z)\nThu 2026-12-10 09:00 Europe/Paris (08:00Z)\nFri 2026-12-11 09:00 "
            "Europe/Paris (08:00Z)\nMon 2026-12-14 09:00 Europe/Paris (08:00Z)");
  // A deploy to production a minute later, then the digest the next morning lists it.
  pass(std::chrono::minutes(1));
  EXPECT_NE(h.run("alice", "deploy hello v1 to production").find("succeeded"), std::string::npos);
  pass(std::chrono::minutes(17 * 60));
  ASSERT_EQ(directory.target.posts.size(), 1u);
  EXPECT_NE(directory.target.posts[0].text.find("What shipped to production since"),
            std::string::npos);
  EXPECT_NE(directory.target.posts[0].text.find("hello v1 by alice"), std::string::npos)
      << directory.target.posts[0].text;
}

TEST_F(ScheduleCommandsTest, ScheduleAddRefusesWhatCannotRun) {
  EXPECT_NE(h.run("alice", "schedule add x \"0 25 * * *\" dora-digest").find("hour"),
            std::string::npos);
  EXPECT_NE(h.run("alice", "schedule add x \"0 9 * * *\" Mars/Base dora-digest").find("Mars/Base"),
            std::string::npos);
  EXPECT_NE(h.run("alice", "schedule add x \"0 9 * * *\" release-digest prod").find("production"),
            std::string::npos);  // did you mean
  EXPECT_NE(h.run("alice", "schedule add x \"0 9 * * *\" tweet").find("announce \"text\""),
            std::string::npos);
  EXPECT_NE(h.run("alice", "schedule add x \"0 9 * * *\" dora-digest --misfire maybe")
                .find("skip, run-once, run-all"),
            std::string::npos);
  EXPECT_NE(
      h.run("alice", "schedule add x \"0 9 * * *\" dora-digest --lateness 30d").find("1m to 7d"),
      std::string::npos);
  EXPECT_TRUE(h.schedules.list().empty());
  h.run("alice", "schedule add x \"0 9 * * *\" dora-digest");
  EXPECT_NE(h.run("alice", "schedule add x \"0 10 * * *\" dora-digest").find("already exists"),
            std::string::npos);
}

TEST_F(ScheduleCommandsTest, OnlyTheCreatorOrAnAdminMayPauseResumeOrCancel) {
  h.run("alice", "schedule add tick \"*/10 * * * *\" announce \"tick\"");
  EXPECT_NE(h.run("bob", "schedule pause tick").find("only alice or an admin"), std::string::npos);
  EXPECT_NE(h.run("alice", "schedule pause 1").find("Paused #1 tick"), std::string::npos);
  pass(std::chrono::minutes(30));
  EXPECT_TRUE(directory.target.posts.empty());
  EXPECT_NE(h.run("carol", "schedule resume tick").find("Resumed #1 tick"), std::string::npos);
  pass(std::chrono::minutes(10));
  EXPECT_EQ(directory.target.posts.size(), 1u);  // 16:10 only; paused ones are not caught up
  EXPECT_NE(h.run("alice", "schedule cancel tick").find("Cancelled #1 tick"), std::string::npos);
  pass(std::chrono::minutes(30));
  EXPECT_EQ(directory.target.posts.size(), 1u);
  const std::string actions = audit_actions();
  EXPECT_NE(actions.find("schedule.pause_refused"), std::string::npos);
  EXPECT_NE(actions.find("schedule.resume"), std::string::npos);
  EXPECT_NE(actions.find("schedule.cancel"), std::string::npos);
}

TEST_F(ScheduleCommandsTest, ConfiguredSchedulesAreAddedUpdatedAndRetired) {
  storage::ScheduleRecord declared;
  declared.name = "standup";
  declared.cron = "30 9 * * mon-fri";
  declared.timezone = "America/New_York";
  declared.action = "announce";
  declared.payload = "Standup";
  declared.channel = "test";
  auto touched = commands::sync_configured_schedules(*h.services, {declared});
  ASSERT_EQ(touched.size(), 1u);
  EXPECT_EQ(h.schedules.get(touched[0])->origin, "config");
  declared.payload = "Standup in 5";
  commands::sync_configured_schedules(*h.services, {declared});
  EXPECT_EQ(h.schedules.list().size(), 1u);
  EXPECT_EQ(h.schedules.list()[0].payload, "Standup in 5");
  EXPECT_NE(h.run("carol", "schedule cancel standup").find("declared in the configuration"),
            std::string::npos);
  commands::sync_configured_schedules(*h.services, {});
  EXPECT_TRUE(h.schedules.list().empty());
}

TEST_F(ScheduleCommandsTest, AChatFreezeRefusesDeploysUntilLiftedAndShowsWhy) {
  EXPECT_NE(h.run("bob", "freeze staging until tomorrow 09:00 \"incident INC-42\"")
                .find("Froze staging until Tue 2026-12-08 09:00Z: incident INC-42"),
            std::string::npos);
  const std::string refused = h.run("bob", "deploy hello v2 to staging");
  EXPECT_NE(refused.find("staging is frozen by bob (incident INC-42) until Tue 2026-12-08 09:00Z"),
            std::string::npos)
      << refused;
  EXPECT_NE(h.run("bob", "rollback hello in staging").find("frozen"), std::string::npos - 1);
  const std::string listed = h.run("alice", "freezes");
  EXPECT_NE(listed.find("staging: frozen by bob until Tue 2026-12-08 09:00Z (incident INC-42)"),
            std::string::npos)
      << listed;
  const std::string overridden =
      h.run("carol", "deploy hello v2 to staging --override --reason \"fix for INC-42\"");
  EXPECT_NE(overridden.find("succeeded"), std::string::npos) << overridden;
  EXPECT_NE(h.run("bob", "unfreeze staging").find("Unfroze staging: lifted 1 freeze by bob"),
            std::string::npos);
  EXPECT_NE(h.run("bob", "deploy hello v3 to staging").find("succeeded"), std::string::npos);
  const std::string actions = audit_actions();
  EXPECT_NE(actions.find("freeze.added"), std::string::npos);
  EXPECT_NE(actions.find("freeze.lifted"), std::string::npos);
}

TEST_F(ScheduleCommandsTest, FreezingProductionIsItsOwnPermission) {
  const std::string refused = h.run("alice", "freeze production \"holidays\"");
  EXPECT_NE(refused.find("alice may not freeze in production"), std::string::npos) << refused;
  EXPECT_NE(audit_actions().find("freeze.refused"), std::string::npos);
  EXPECT_NE(h.run("carol", "freeze production \"holidays\"").find("until unfrozen"),
            std::string::npos);
  EXPECT_NE(h.run("alice", "deploy hello v1 to production").find("frozen by carol (holidays)"),
            std::string::npos);
  EXPECT_NE(h.run("alice", "freeze staging until teatime \"x\"").find("not a time"),
            std::string::npos);
  EXPECT_NE(h.run("alice", "freeze staging").find("say why"), std::string::npos);
}

TEST_F(ScheduleCommandsTest, FreezesListsConfiguredWindowsInForceAndComing) {
  auto weekend = commands::FreezeWindow::recurring("0 17 * * fri", 64LL * 3'600'000,
                                                   "America/New_York", "weekend");
  ASSERT_TRUE(weekend);
  h.catalog.environments[1].freezes.push_back(*weekend);
  const std::string listed = h.run("bob", "freezes");
  EXPECT_NE(listed.find("production: weekend (configured) from Fri 2026-12-11 17:00 "
                        "America/New_York (22:00Z) until Mon 2026-12-14 09:00 America/New_York"),
            std::string::npos)
      << listed;
}

}  // namespace
}  // namespace shipmate::testing
