// Incident rooms and durable announcements through the real Router: a fake IncidentRooms (the
// platform side) and conversations recorded per address. Rooms: created under a suffix when the
// name is taken, card posted and pinned there, topic set and kept current, the declarer, the
// on-call role and later assignees invited, a refused permission falling back to the declaring
// conversation with the reason. Reactions: a :pushpin: on a message in the room is put on the
// timeline once. Announcements: reminders and status updates wait, pending, for a room nobody
// serves right now and go out once when it is back, also after a restart.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "commands/incident_model.h"
#include "commands/incident_room_ops.h"
#include "commands/incident_rooms.h"
#include "commands/incidents.h"
#include "commands/room_op_pacing.h"
#include "commands/timed_jobs.h"
#include "common/rate_limit.h"
#include "scheduler/scheduler.h"
#include "storage/room_op_store.h"
#include "tests/support/command_harness.h"

namespace shipmate {
namespace {

namespace asio = boost::asio;
using commands::IncidentSettings;

constexpr EpochMillis kMinute = 60 * 1000;

// Conversations by address, each recording into one log per address; `offline` addresses are
// not served (their transport is down).
struct Rooms final : commands::ConversationDirectory {
  struct At final : commands::Conversation {
    At(testing::RecordingConversation& target, std::string address)
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
    if (offline.contains(address))
      return nullptr;
    return std::make_unique<At>(log[address], address);
  }
  std::map<std::string, testing::RecordingConversation> log;
  std::set<std::string> offline;
};

// The platform: rooms "chat:R<n>:" (conversations there have addresses "chat:R<n>:<thread>").
struct FakePlatform final : commands::IncidentRooms {
  bool can_create(const std::string& address) const override {
    return address.starts_with("chat:");
  }
  asio::awaitable<Result<commands::OpenedRoom>> create(std::string from, std::string name,
                                                       bool is_private) override {
    created_from.push_back(from);
    names.push_back(name);
    if (is_private)
      private_names.insert(name);
    if (!refuse.empty())
      co_return make_error(refuse, ErrorKind::auth);
    if (create_rate_limits > 0) {
      --create_rate_limits;
      co_return rate_limited_error("conversations.create was rate limited",
                                   std::chrono::seconds(40));
    }
    if (create_outages > 0) {
      --create_outages;
      co_return make_error("conversations.create: HTTP 503", ErrorKind::unavailable);
    }
    if (taken.contains(name))
      co_return make_error("name_taken", ErrorKind::conflict);
    taken.insert(name);
    const std::string id = "R" + std::to_string(names.size());
    made[name] = commands::OpenedRoom{"chat:" + id + ":", "<#" + id + ">", true, made_at};
    co_return made[name];
  }
  asio::awaitable<Result<commands::OpenedRoom>> find(std::string, std::string name) override {
    finds.push_back(name);
    if (auto room = made.find(name); room != made.end())
      co_return room->second;
    co_return make_error("no room named " + name, ErrorKind::not_found);
  }
  asio::awaitable<Status> invite(std::string room, std::vector<std::string> ids) override {
    for (auto& id : ids)
      invited[room].push_back(id);
    co_return Ok{};
  }
  asio::awaitable<Status> set_topic(std::string room, std::string topic) override {
    topics[room] = topic;
    co_return Ok{};
  }
  asio::awaitable<Status> pin(std::string room, commands::MessageRef ref) override {
    ++pin_calls;
    pin_rooms.push_back(room);
    if (auto limited = rate_limits.find(room);
        limited != rate_limits.end() && limited->second > 0) {
      --limited->second;
      co_return rate_limited_error("pins.add was rate limited", std::chrono::seconds(30));
    }
    if (pin_outages > 0) {
      --pin_outages;
      co_return make_error("pins.add: HTTP 503", ErrorKind::unavailable);
    }
    auto& pinned = pins[room];
    if (std::find(pinned.begin(), pinned.end(), ref) == pinned.end())  // already_pinned: done
      pinned.push_back(ref);
    co_return Ok{};
  }
  EpochMillis made_at = 0;     // when the platform says a room create() makes was made
  int pin_outages = 0;         // the next pins fail as an outage would
  int create_outages = 0;      // the next creates fail as an outage would
  int create_rate_limits = 0;  // the next creates answer 429 (40 s)
  int pin_calls = 0;
  std::vector<std::string> pin_rooms;      // the room of each pin asked, in order
  std::map<std::string, int> rate_limits;  // room -> the next pins there answer 429 (30 s)
  std::map<std::string, commands::OpenedRoom> made;  // rooms by name
  std::vector<std::string> finds;
  bool can_archive(const std::string& room) const override { return room.starts_with("chat:"); }
  asio::awaitable<Status> archive(std::string room) override {
    archive_calls.push_back(room);
    if (auto failing = archive_errors.find(room); failing != archive_errors.end())
      co_return failing->second;
    archived.insert(room);
    co_return Ok{};
  }
  std::vector<std::string> created_from, names, archive_calls;
  std::set<std::string> taken, private_names, archived;
  std::map<std::string, Error> archive_errors;  // room -> what archive() answers
  std::string refuse;                           // set: create() answers this auth error
  std::map<std::string, std::vector<std::string>> invited, pins;
  std::map<std::string, std::string> topics;
};

class IncidentRooms : public ::testing::Test {
 protected:
  IncidentRooms() : incidents(*h.db, h.clock), feed(*h.db, incidents, settings) {
    settings.postmortem_dir = "";
    settings.invite_roles = {"oncall"};
    h.audit.add_observer(&feed);
    h.services->incidents = &incidents;
    h.services->incident_settings = &settings;
    h.services->conversations = &rooms;
    h.services->incident_rooms = &platform;
    h.catalog.users[0].ids["chat"] = "UALICE";
    h.catalog.users[1].ids["chat"] = "UBOB";
    h.catalog.users.push_back({"olga", "Olga", {"oncall"}, {{"chat", "UOLGA"}}});
    h.catalog.users.push_back({"omar", "Omar", {"oncall"}});  // no chat id
    h.clock.set_ms(*parse_iso8601("2026-12-06T10:00:00Z"));
  }
  ~IncidentRooms() override {
    h.services->room_ops = nullptr;
    h.audit.remove_observer(&feed);
  }

  // Runs a command as `user` in the conversation at `address`; returns what it said there.
  std::string run_in(const std::string& address, const std::string& user, const std::string& text) {
    auto conversation = rooms.open(address);
    bool finished = false;
    asio::co_spawn(
        h.io, h.router->dispatch(bot::ChatEvent{"chat", "", user, "c", "", text}, *conversation),
        [&finished](std::exception_ptr) { finished = true; });
    while (!finished) {
      h.io.run();
      h.io.restart();
    }
    std::string out;
    for (const auto& line : rooms.log[address].log)
      out += line + "\n";
    return out;
  }

  // The durable room-operation queue on the harness's database, as the App sets it up (a
  // second call stands for a restart: a new store over the same rows).
  storage::RoomOpStore& use_queue() {
    queue.emplace(*h.db);
    h.services->room_ops = &*queue;
    return *queue;
  }

  // One turn of the upkeep's room-operation retries; returns how many it ran.
  int retry() {
    int ran = -1;
    asio::co_spawn(h.io, commands::retry_room_ops(*h.services),
                   [&ran](std::exception_ptr, int n) { ran = n; });
    while (ran < 0) {
      h.io.run();
      h.io.restart();
    }
    return ran;
  }

  std::string posts_in(const std::string& address) {
    std::string out;
    for (const auto& post : rooms.log[address].posts)
      out += post.text + "\n";
    return out;
  }

  std::string timeline_text(std::int64_t id) {
    std::string out;
    for (const auto& entry : incidents.timeline(id))
      out += entry.kind + " " + entry.actor + ": " + entry.text + "\n";
    return out;
  }

  testing::CommandHarness h;
  IncidentSettings settings;
  storage::IncidentStore incidents;
  commands::IncidentTimelineFeed feed;
  Rooms rooms;
  FakePlatform platform;
  std::optional<storage::RoomOpStore> queue;
};

TEST_F(IncidentRooms, DeclareMakesARoomUnderTheNextFreeNamePinsTheCardAndInvites) {
  platform.taken.insert("inc-2026-12-06-checkout-errors");
  const auto said =
      run_in("chat:C1:100", "alice", "incident declare \"Checkout errors\" sev2 hello");
  ASSERT_EQ(platform.names.size(), 2u);
  EXPECT_EQ(platform.names[1], "inc-2026-12-06-checkout-errors-2");
  EXPECT_EQ(platform.created_from[0], "chat:C1:100");
  const std::string room = "chat:R2:";
  const auto incident = *incidents.get(1);
  EXPECT_EQ(incident.room, room);
  // The card is in the room, pinned; the declaring thread points there.
  ASSERT_EQ(rooms.log[room].posts.size(), 2u) << said;  // the card, then the invite warning
  EXPECT_NE(rooms.log[room].posts[0].text.find("INC-1 Checkout errors"), std::string::npos);
  EXPECT_EQ(platform.pins[room], (std::vector<std::string>{incident.card_ref}));
  EXPECT_NE(said.find("INC-1 \"Checkout errors\" has its own room: <#R2>"), std::string::npos)
      << said;
  EXPECT_EQ(platform.topics[room],
            "INC-1 | sev2 | investigating | commander alice | Checkout errors");
  EXPECT_EQ(platform.invited[room], (std::vector<std::string>{"UALICE", "UOLGA"}));
  EXPECT_NE(rooms.log[room].posts[1].text.find("could not invite omar (no chat id"),
            std::string::npos)
      << rooms.log[room].posts[1].text;
  EXPECT_NE(timeline_text(1).find("room alice: room chat:R2: opened"), std::string::npos);

  // In the room (any thread of it), commands find the incident by themselves; the card updates
  // in place, the topic follows, an assignee is invited.
  run_in("chat:R2:200", "alice", "incident status identified \"bad config\"");
  std::string in_room;
  for (const auto& line : rooms.log[room].log)
    in_room += line + "\n";
  EXPECT_NE(in_room.find("INC-1 is identified: bad config (alice)"), std::string::npos) << in_room;
  EXPECT_FALSE(rooms.log[room].updates.empty());
  h.io.run();
  h.io.restart();
  EXPECT_EQ(platform.topics[room].rfind("INC-1 | sev2 | identified", 0), 0u)
      << platform.topics[room];
  run_in("chat:R2:300", "alice", "incident assign comms bob");
  EXPECT_EQ(platform.invited[room].back(), "UBOB");
}

TEST_F(IncidentRooms, ARefusedPermissionFallsBackToTheDeclaringConversationAndSaysWhy) {
  platform.refuse =
      "conversations.create failed: missing_scope (the Slack app needs the "
      "channels:manage scope)";
  const auto said = run_in("chat:C1:100", "alice", "incident declare \"db slow\" sev1");
  EXPECT_EQ(platform.names.size(), 1u);  // not retried: only a taken name is
  EXPECT_EQ(incidents.get(1)->room, "chat:C1:100");
  EXPECT_NE(said.find("INC-1 db slow"), std::string::npos) << said;
  EXPECT_NE(said.find("No room of its own for INC-1: conversations.create failed: missing_scope "
                      "(the Slack app needs the channels:manage scope). It runs here instead."),
            std::string::npos)
      << said;
  EXPECT_TRUE(platform.pins.empty());
  EXPECT_TRUE(platform.invited.empty());
  // A platform that cannot make rooms (the terminal) and rooms switched off: no attempt at all.
  settings.create_rooms = false;
  run_in("chat:C2:100", "alice", "incident declare \"other\" sev3");
  EXPECT_EQ(platform.names.size(), 1u);
  EXPECT_EQ(incidents.get(2)->room, "chat:C2:100");
}

TEST_F(IncidentRooms, APushpinPutsTheMessageOnTheTimelineOnce) {
  run_in("chat:C1:100", "alice", "incident declare \"Checkout errors\" sev2 hello");
  commands::ReactionNote pin;
  pin.room = "chat:R1:";
  pin.user = "bob";
  pin.emoji = "pushpin";
  pin.message_id = "1765015200.000100";
  pin.message_at = 1765015200000;  // when the message was posted
  pin.author = "alice";
  pin.text = "error rate 40% since 09:58";
  EXPECT_TRUE(commands::note_reaction(*h.services, pin));
  EXPECT_FALSE(commands::note_reaction(*h.services, pin));  // redelivered
  pin.user = "carol";                                       // a second person pins it too
  EXPECT_FALSE(commands::note_reaction(*h.services, pin));
  auto eyes = pin;
  eyes.emoji = "eyes";
  eyes.message_id = "2";
  EXPECT_FALSE(commands::note_reaction(*h.services, eyes));
  auto elsewhere = pin;
  elsewhere.room = "chat:C9:";
  elsewhere.message_id = "3";
  EXPECT_FALSE(commands::note_reaction(*h.services, elsewhere));
  const auto timeline = incidents.timeline(1);
  int pinned = 0;
  for (const auto& entry : timeline) {
    if (entry.kind != "pinned")
      continue;
    ++pinned;
    EXPECT_EQ(entry.text, "alice: error rate 40% since 09:58");
    EXPECT_EQ(entry.actor, "bob");
    EXPECT_EQ(entry.event_at, 1765015200000);  // when it was said, not when it was pinned
    EXPECT_TRUE(entry.audit_seq.has_value());
  }
  EXPECT_EQ(pinned, 1);
  EXPECT_FALSE(incidents.verify_timeline(1).has_value());
  // Unreadable text: recorded with the reason.
  auto unreadable = pin;
  unreadable.message_id = "4";
  unreadable.text = "";
  unreadable.problem = "its text could not be read (missing_scope)";
  EXPECT_TRUE(commands::note_reaction(*h.services, unreadable));
  EXPECT_NE(timeline_text(1).find("alice (its text could not be read (missing_scope))"),
            std::string::npos);
}

TEST_F(IncidentRooms, AnnouncementsWaitForTheirRoomAndGoOutOnceAlsoAfterARestart) {
  settings.create_rooms = false;
  run_in("chat:C1:100", "alice", "incident declare \"Checkout\" sev1 hello");
  const std::string room = "chat:C1:100";
  const auto before = rooms.log[room].posts.size();
  rooms.offline.insert(room);  // its transport is down
  h.clock.advance_ms(31 * kMinute);
  commands::run_incident_watch(*h.services, &feed);
  EXPECT_EQ(rooms.log[room].posts.size(), before);
  ASSERT_EQ(incidents.pending_announcements().size(), 1u);
  EXPECT_EQ(incidents.pending_announcements()[0].kind, "reminder");
  commands::run_incident_watch(*h.services, &feed);  // the same instant: no second reminder
  EXPECT_EQ(incidents.announcements(1).size(), 1u);

  // "A restart": a new store on the same database, the room served again.
  storage::IncidentStore reopened(*h.db, h.clock);
  h.services->incidents = &reopened;
  rooms.offline.clear();
  EXPECT_EQ(commands::deliver_announcements(*h.services), 1);
  ASSERT_EQ(rooms.log[room].posts.size(), before + 1);
  EXPECT_NE(rooms.log[room].posts.back().text.find("alice: INC-1 (sev1) has had no status update"),
            std::string::npos);
  EXPECT_EQ(commands::deliver_announcements(*h.services), 0);
  commands::run_incident_watch(*h.services, &feed);
  EXPECT_EQ(rooms.log[room].posts.size(), before + 1);
  EXPECT_TRUE(reopened.announcements(1)[0].sent_at.has_value());

  // A status update typed elsewhere is announced in the room, and the typing conversation is
  // told where it went.
  const auto said = run_in("chat:C7:1", "alice", "incident status identified \"found it\" --id 1");
  EXPECT_NE(said.find("INC-1 is identified: found it (announced in its room)"), std::string::npos)
      << said;
  EXPECT_NE(rooms.log[room].posts.back().text.find("INC-1 is identified: found it (alice)"),
            std::string::npos);
  EXPECT_EQ(reopened.announcements(1).size(), 2u);
}

// The scheduler's loop on manual time: runs whatever the event loop has ready, without waiting.
void settle(testing::CommandHarness& h) {
  h.io.restart();
  while (h.io.poll() > 0) {
  }
}

// The one scheduler with the timed jobs (commands/timed_jobs.h) on the harness's database and
// manual time; no stored schedules. Told of moved deadlines through Services::scheduler.
struct TimedJobs {
  explicit TimedJobs(testing::CommandHarness& h)
      : services(*h.services),
        scheduler(h.io.get_executor(), h.timers, h.clock, *h.db, h.schedules,
                  [](const storage::ScheduleRecord&,
                     EpochMillis) -> asio::awaitable<Result<std::string>> {
                    co_return std::string("unused");
                  }) {
    commands::add_timed_jobs(scheduler, services);
    services.scheduler = &scheduler;
  }
  ~TimedJobs() {
    scheduler.stop();
    services.scheduler = nullptr;
  }
  void start() { scheduler.start(); }
  void stop() { scheduler.stop(); }
  void changed() { scheduler.jobs_changed(); }
  scheduler::Scheduler::Stats stats() const { return scheduler.stats(); }
  commands::Services& services;
  scheduler::Scheduler scheduler;
};

TEST_F(IncidentRooms, APrivateIncidentGetsAnInviteOnlyRoomAndOnlyItsPeopleSeeIt) {
  const auto said =
      run_in("chat:C1:100", "alice", "incident declare \"leaked deploy token\" sev1 --private");
  ASSERT_EQ(platform.names.size(), 1u);
  EXPECT_TRUE(platform.private_names.contains(platform.names[0]));
  EXPECT_TRUE(incidents.get(1)->is_private);
  // The declaring conversation learns the id and the room, not the title.
  EXPECT_NE(said.find("INC-1 is private: its invite-only room is <#R1>"), std::string::npos)
      << said;
  EXPECT_EQ(said.find("leaked deploy token"), std::string::npos) << said;
  EXPECT_NE(timeline_text(1).find("private room chat:R1: opened"), std::string::npos);

  // bob holds no role in it: the list hides its title, and its commands refuse him.
  const auto listed = h.run("bob", "incidents");
  EXPECT_NE(listed.find("INC-1  sev1  investigating  (private)"), std::string::npos) << listed;
  EXPECT_EQ(listed.find("leaked"), std::string::npos) << listed;
  const auto refused = h.run("bob", "incident timeline 1");
  EXPECT_NE(refused.find("INC-1 is private"), std::string::npos) << refused;
  EXPECT_EQ(refused.find("leaked"), std::string::npos) << refused;
  EXPECT_NE(h.run("bob", "incident note \"me too\" --id 1").find("is private"), std::string::npos);
  // The invited on-call role (olga) and the declarer see it; an assignee does from then on.
  EXPECT_NE(h.run("olga", "incident timeline 1").find("leaked deploy token"), std::string::npos);
  run_in("chat:R1:5", "alice", "incident assign comms bob");
  EXPECT_NE(h.run("bob", "incident timeline 1").find("leaked deploy token"), std::string::npos);

  // Where no invite-only room can be made, nothing is declared.
  settings.create_rooms = false;
  const auto nowhere =
      run_in("chat:C2:100", "alice", "incident declare \"another secret\" sev2 --private");
  EXPECT_NE(nowhere.find("cannot make an invite-only room"), std::string::npos) << nowhere;
  EXPECT_FALSE(incidents.get(2).has_value());
}

TEST_F(IncidentRooms, AResolvedRoomIsArchivedAfterTheDelayOnceAlsoAcrossARestart) {
  settings.archive_after_ms = 2 * 60 * kMinute;
  run_in("chat:C1:100", "alice", "incident declare \"Checkout\" sev2 hello");
  const std::string room = "chat:R1:";
  const auto resolved = run_in(room + "7", "alice", "incident resolve \"rolled back\"");
  EXPECT_NE(resolved.find("its room is archived in 2 h"), std::string::npos) << resolved;
  ASSERT_TRUE(incidents.get(1)->archive_at.has_value());

  auto alarm = std::make_unique<TimedJobs>(h);
  alarm->start();
  settle(h);
  EXPECT_TRUE(platform.archive_calls.empty());
  h.timers.advance(std::chrono::minutes(119));
  settle(h);
  EXPECT_TRUE(platform.archive_calls.empty());
  h.timers.advance(std::chrono::minutes(1));
  settle(h);
  EXPECT_EQ(platform.archived, (std::set<std::string>{room}));
  EXPECT_FALSE(incidents.get(1)->archive_at.has_value());
  EXPECT_TRUE(incidents.get(1)->archived_at.has_value());
  EXPECT_NE(timeline_text(1).find("room shipmate: room chat:R1: archived"), std::string::npos);
  EXPECT_FALSE(incidents.verify_timeline(1));

  // "A restart": a new alarm on the same database archives nothing again.
  alarm->stop();
  settle(h);
  alarm.reset();
  alarm = std::make_unique<TimedJobs>(h);
  alarm->start();
  h.timers.advance(std::chrono::hours(5));
  settle(h);
  EXPECT_EQ(platform.archive_calls.size(), 1u);
  alarm->stop();
  settle(h);
}

TEST_F(IncidentRooms, AnArchiveThatMayPassIsRetriedAndARefusalIsRecordedOnce) {
  settings.archive_after_ms = 60 * kMinute;
  for (const std::string title : {"Checkout", "Billing", "Search"}) {
    const std::string n = std::to_string(platform.names.size() + 1);
    run_in("chat:C" + n + ":100", "alice", "incident declare \"" + title + "\" sev2");
    run_in("chat:R" + n + ":7", "alice", "incident resolve \"fixed\"");
  }
  const Error down = make_error("no running chat platform serves it", ErrorKind::unavailable);
  for (const char* room : {"chat:R1:", "chat:R2:", "chat:R3:"})
    platform.archive_errors[room] = down;
  TimedJobs alarm(h);
  alarm.start();
  h.timers.advance(std::chrono::minutes(60));
  settle(h);
  EXPECT_EQ(platform.archive_calls.size(), 3u);  // all due, all failed for now
  EXPECT_EQ(incidents.get(1)->archive_at, h.clock.now_ms() + commands::kArchiveRetry.count());
  EXPECT_EQ(timeline_text(1).find("archived"), std::string::npos);
  // Ten minutes later two go through and one is refused for good.
  platform.archive_errors.clear();
  platform.archive_errors["chat:R3:"] = make_error(
      "conversations.archive failed: missing_scope (the Slack app needs the channels:manage "
      "scope)",
      ErrorKind::auth);
  h.timers.advance(commands::kArchiveRetry);
  settle(h);
  EXPECT_EQ(platform.archive_calls.size(), 6u);
  EXPECT_EQ(platform.archived, (std::set<std::string>{"chat:R1:", "chat:R2:"}));
  EXPECT_FALSE(incidents.get(3)->archive_at.has_value());
  EXPECT_NE(timeline_text(3).find("could not be archived: conversations.archive failed: "
                                  "missing_scope"),
            std::string::npos)
      << timeline_text(3);
  h.timers.advance(std::chrono::hours(3));
  settle(h);
  EXPECT_EQ(platform.archive_calls.size(), 6u);  // the refusal is not retried
  alarm.stop();
  settle(h);
}

TEST_F(IncidentRooms, TheAlarmRemindsAtTheDueTimeAndIsReArmedWhenTheDueTimeMoves) {
  settings.create_rooms = false;
  run_in("chat:C1:100", "alice", "incident declare \"Checkout\" sev1 hello");  // every 30 min
  const std::string room = "chat:C1:100";
  const auto before = rooms.log[room].posts.size();
  TimedJobs alarm(h);
  alarm.start();
  settle(h);
  // The due time moves sooner (as a status update or severity change would move it): the
  // alarm wakes at the new time, not the old one.
  incidents.set_next_reminder(1, h.clock.now_ms() + 5 * kMinute);
  alarm.changed();
  settle(h);
  h.timers.advance(std::chrono::minutes(4));
  settle(h);
  EXPECT_EQ(rooms.log[room].posts.size(), before);
  h.timers.advance(std::chrono::minutes(1));
  settle(h);
  ASSERT_EQ(rooms.log[room].posts.size(), before + 1);
  EXPECT_NE(rooms.log[room].posts.back().text.find("alice: INC-1 (sev1) has had no status update"),
            std::string::npos);
  // The next one a whole cadence later, once.
  h.timers.advance(std::chrono::minutes(29));
  settle(h);
  EXPECT_EQ(rooms.log[room].posts.size(), before + 1);
  h.timers.advance(std::chrono::minutes(1));
  settle(h);
  EXPECT_EQ(rooms.log[room].posts.size(), before + 2);
  EXPECT_EQ(incidents.announcements(1).size(), 2u);
  // The loop woke for deadlines and changes, and for its idle once-a-minute clock check
  // (scheduler.h), never once a second: 35 minutes passed (2,100 seconds).
  EXPECT_LE(alarm.stats().wakeups, 8u + 35u);
  alarm.stop();
  settle(h);
}

// The restart rule of the reminder job (misfire: run-once, however late): a reminder that fell due
// while Shipmate was down is sent once at start, the next is planned a cadence from then, and a
// second restart right after sends nothing again.
TEST_F(IncidentRooms, AReminderDueWhileDownFiresOnceAfterStartAndARestartNeverRepeatsIt) {
  settings.create_rooms = false;
  run_in("chat:C1:100", "alice", "incident declare \"Checkout\" sev1 hello");  // every 30 min
  const std::string room = "chat:C1:100";
  const auto before = rooms.log[room].posts.size();
  auto running = std::make_unique<TimedJobs>(h);
  running->start();
  settle(h);
  h.timers.advance(std::chrono::minutes(10));
  settle(h);
  running->stop();
  settle(h);
  running.reset();
  EXPECT_EQ(rooms.log[room].posts.size(), before);
  h.clock.advance_ms(2 * 60 * kMinute);  // down for two hours: four cadences passed unseen
  running = std::make_unique<TimedJobs>(h);
  running->start();
  settle(h);
  ASSERT_EQ(rooms.log[room].posts.size(), before + 1);
  EXPECT_NE(rooms.log[room].posts.back().text.find("has had no status update for 2 h 10 min"),
            std::string::npos)
      << rooms.log[room].posts.back().text;
  EXPECT_EQ(incidents.get(1)->next_reminder_at, h.clock.now_ms() + 30 * kMinute);
  h.timers.advance(std::chrono::minutes(29));
  settle(h);
  EXPECT_EQ(rooms.log[room].posts.size(), before + 1);
  // Restarted again at once: nothing is sent twice, and the next reminder keeps its time.
  running->stop();
  settle(h);
  running.reset();
  running = std::make_unique<TimedJobs>(h);
  running->start();
  settle(h);
  EXPECT_EQ(rooms.log[room].posts.size(), before + 1);
  h.timers.advance(std::chrono::minutes(1));
  settle(h);
  EXPECT_EQ(rooms.log[room].posts.size(), before + 2);
  EXPECT_EQ(incidents.announcements(1).size(), 2u);
  running->stop();
  settle(h);
}

// Room operations through the durable queue: a pin that fails as an outage would is recorded,
// retried when its time comes, and done once; an operation done is never asked again.
TEST_F(IncidentRooms, ARoomOperationThatFailsInAnOutageIsRetriedLaterAndDoneOnce) {
  storage::RoomOpStore& ops = use_queue();
  platform.pin_outages = 1;
  run_in("chat:C1:100", "alice", "incident declare \"Checkout errors\" sev2 hello");
  const std::string room = "chat:R1:";
  EXPECT_TRUE(platform.pins[room].empty());
  std::string in_room;
  for (const auto& post : rooms.log[room].posts)
    in_room += post.text + "\n";
  EXPECT_NE(in_room.find("could not pin the summary (pins.add: HTTP 503; trying again later)"),
            std::string::npos)
      << in_room;
  auto states = [&] {
    std::string out;
    for (const auto& op : ops.for_incident(1))
      out += op.kind + ":" + op.state + ":" + std::to_string(op.attempts) + " ";
    return out;
  };
  EXPECT_EQ(states(), "create:done:1 pin:pending:1 topic:done:1 invite:done:1 ");
  // Not yet due: nothing is asked.
  h.clock.advance_ms(commands::kRoomOpFirstRetry.count() - 1);
  EXPECT_EQ(retry(), 0);
  EXPECT_EQ(platform.pin_calls, 1);
  h.clock.advance_ms(1);
  EXPECT_EQ(retry(), 1);
  EXPECT_EQ(platform.pins[room], (std::vector<std::string>{incidents.get(1)->card_ref}));
  EXPECT_EQ(states(), "create:done:1 pin:done:2 topic:done:1 invite:done:1 ");
  h.clock.advance_ms(commands::kRoomOpLongestRetry.count());
  EXPECT_EQ(retry(), 0);
  EXPECT_EQ(platform.pin_calls, 2);
}

// A stop after the platform made the room but before Shipmate recorded it: the create is still
// pending with the name it was asked under; the resumed settling finds that room (the name is
// taken now) instead of making another, posts the card there and pins, sets the topic, invites.
TEST_F(IncidentRooms, AStopAfterThePlatformMadeTheRoomResumesInThatRoomAndMakesNoOther) {
  storage::RoomOpStore& ops = use_queue();
  const auto declared = incidents.declare({"Checkout errors", 2, {"hello"}, "alice"});
  const std::int64_t id = declared.incident.id;
  const std::string name = "inc-2026-12-06-checkout-errors";
  // What the stopped process had done: the operation recorded and claimed, the name recorded,
  // the platform asked (it made the room), and then nothing more.
  storage::RoomOp create;
  create.key = "create:INC-1";
  create.incident_id = id;
  create.kind = "create";
  create.room = "chat:C1:100";
  create.payload = name;
  create.created_at = h.clock.now_ms();
  create.next_at = h.clock.now_ms();
  const auto recorded = ops.add(create);
  ASSERT_TRUE(ops.claim(recorded.id, h.clock.now_ms(), h.clock.now_ms() + 60'000));
  platform.taken.insert(name);
  platform.made[name] = commands::OpenedRoom{"chat:R9:", "<#R9>", true, h.clock.now_ms() + 1000};
  // The restart releases the claim; the upkeep resumes the settling.
  EXPECT_EQ(ops.release_claims(), 1);
  EXPECT_EQ(retry(), 1);
  EXPECT_EQ(platform.names, (std::vector<std::string>{name}));  // asked once more: name_taken
  EXPECT_EQ(platform.finds, (std::vector<std::string>{name}));
  const std::string room = "chat:R9:";
  EXPECT_EQ(incidents.get(id)->room, room);
  ASSERT_FALSE(rooms.log[room].posts.empty());
  EXPECT_NE(rooms.log[room].posts[0].text.find("INC-1 Checkout errors"), std::string::npos);
  EXPECT_EQ(platform.pins[room], (std::vector<std::string>{incidents.get(id)->card_ref}));
  EXPECT_EQ(platform.invited[room], (std::vector<std::string>{"UALICE", "UOLGA"}));
  EXPECT_FALSE(platform.topics[room].empty());
  EXPECT_NE(rooms.log["chat:C1:100"].log.empty(), true);
  const auto all = ops.for_incident(id);
  ASSERT_EQ(all.size(), 4u);
  for (const auto& op : all)
    EXPECT_EQ(op.state, "done") << op.kind;
  EXPECT_EQ(all[0].result, "chat:R9:\n<#R9>");
  // Nothing is left to do, and a second run makes no room.
  EXPECT_EQ(retry(), 0);
  EXPECT_EQ(platform.names.size(), 1u);
}

// A create that fails in an outage at declare: the incident runs in the declaring thread for
// now, the create stays on the queue, and once the room is made the incident moves there (card
// posted and pinned, topic, invites, the thread's card and a message pointing at the room).
TEST_F(IncidentRooms, ARoomCreateFailingInAnOutageKeepsTheThreadThenMovesIntoTheRoom) {
  storage::RoomOpStore& ops = use_queue();
  platform.create_outages = 2;
  const std::string thread = "chat:C1:100";
  const auto said = run_in(thread, "alice", "incident declare \"Checkout errors\" sev2 hello");
  EXPECT_EQ(incidents.get(1)->room, thread);
  const std::string thread_card = incidents.get(1)->card_ref;
  EXPECT_NE(said.find("No room of its own for INC-1: conversations.create: HTTP 503; Shipmate "
                      "keeps trying to make the room and moves the incident there when it can"),
            std::string::npos)
      << said;
  auto create_op = [&] { return ops.for_incident(1).at(0); };
  EXPECT_EQ(create_op().state, "pending");
  EXPECT_EQ(create_op().attempts, 1);
  EXPECT_EQ(create_op().payload, "inc-2026-12-06-checkout-errors");
  // Not due yet; then due, and still failing: retried later again, nothing said twice.
  h.clock.advance_ms(commands::kRoomOpFirstRetry.count() - 1);
  EXPECT_EQ(retry(), 0);
  EXPECT_EQ(platform.names.size(), 1u);
  h.clock.advance_ms(1);
  EXPECT_EQ(retry(), 1);
  EXPECT_EQ(platform.names.size(), 2u);
  EXPECT_EQ(create_op().state, "pending");
  EXPECT_EQ(create_op().next_at, h.clock.now_ms() + 2 * commands::kRoomOpFirstRetry.count());
  EXPECT_EQ(rooms.log[thread].posts.size(), 2u);  // the card and the first warning only
  EXPECT_EQ(incidents.get(1)->room, thread);
  // The platform is back: the room is made under the recorded name and the incident moves.
  h.clock.advance_ms(2 * commands::kRoomOpFirstRetry.count());
  EXPECT_EQ(retry(), 1);
  ASSERT_EQ(platform.names.size(), 3u);
  EXPECT_EQ(platform.names[2], "inc-2026-12-06-checkout-errors");
  const std::string room = "chat:R3:";
  const auto moved = *incidents.get(1);
  EXPECT_EQ(moved.room, room);
  ASSERT_FALSE(rooms.log[room].posts.empty());
  EXPECT_NE(rooms.log[room].posts[0].text.find("INC-1 Checkout errors"), std::string::npos);
  EXPECT_EQ(platform.pins[room], (std::vector<std::string>{moved.card_ref}));
  EXPECT_EQ(platform.topics[room],
            "INC-1 | sev2 | investigating | commander alice | Checkout errors");
  EXPECT_EQ(platform.invited[room], (std::vector<std::string>{"UALICE", "UOLGA"}));
  std::string in_thread;
  for (const auto& line : rooms.log[thread].log)
    in_thread += line + "\n";
  EXPECT_NE(in_thread.find("INC-1 \"Checkout errors\" has its own room: <#R3>"), std::string::npos)
      << in_thread;
  EXPECT_NE(in_thread.find("moved to its own room: <#R3>"), std::string::npos) << in_thread;
  EXPECT_NE(timeline_text(1).find("room alice: room chat:R3: opened"), std::string::npos);
  for (const auto& op : ops.for_incident(1))
    EXPECT_EQ(op.state, "done") << op.kind;
  // Commands in the room find the incident; the thread's card is no longer updated.
  const std::size_t thread_lines = rooms.log[thread].log.size();
  run_in(room + "5", "alice", "incident status identified \"bad config\"");
  EXPECT_EQ(incidents.get(1)->status, "identified");
  EXPECT_EQ(rooms.log[thread].log.size(), thread_lines);
}

// A create that keeps failing is given up after kRoomOpMostAttempts: the incident stays in the
// thread, which is told once.
TEST_F(IncidentRooms, ARoomCreateThatNeverPassesIsGivenUpAndTheThreadIsTold) {
  storage::RoomOpStore& ops = use_queue();
  platform.create_outages = 1000;
  const std::string thread = "chat:C1:100";
  run_in(thread, "alice", "incident declare \"Checkout errors\" sev2 hello");
  for (int i = 0; i < commands::kRoomOpMostAttempts + 2; ++i) {
    h.clock.advance_ms(commands::kRoomOpLongestRetry.count());
    retry();
  }
  EXPECT_EQ(platform.names.size(), static_cast<std::size_t>(commands::kRoomOpMostAttempts));
  EXPECT_EQ(ops.for_incident(1).at(0).state, "failed");
  EXPECT_EQ(incidents.get(1)->room, thread);
  int gave_up = 0;
  for (const auto& post : rooms.log[thread].posts)
    gave_up += post.text.find("gave up making a room for INC-1") != std::string::npos ? 1 : 0;
  EXPECT_EQ(gave_up, 1);
}

// The adoption window: a crash after the platform answered "name taken" for the recorded name
// (a stranger's channel) and before the next name was recorded. The resumed create is told that
// name is taken again; the room of that name is not Shipmate's (or is Shipmate's but older than
// the create), so it is passed over and the next name is made.
TEST_F(IncidentRooms, AResumedCreateNeverAdoptsARoomShipmateDidNotMakeForIt) {
  storage::RoomOpStore& ops = use_queue();
  const std::string name = "inc-2026-12-06-checkout-errors";
  struct Case {
    const char* what;
    commands::OpenedRoom theirs;
  };
  const EpochMillis now = h.clock.now_ms();
  const std::vector<Case> cases = {
      {"a person's room", {"chat:R90:", "<#R90>", false, now + 1000}},
      {"Shipmate's older room", {"chat:R91:", "<#R91>", true, now - 2 * commands::kRoomClockSkew}},
  };
  std::int64_t id = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    platform.names.clear();
    platform.finds.clear();
    platform.taken = {name};
    platform.made = {{name, c.theirs}};
    platform.made_at = h.clock.now_ms();
    const auto declared = incidents.declare({"Checkout errors", 2, {"hello"}, "alice"});
    ASSERT_TRUE(declared.created);
    id = declared.incident.id;
    storage::RoomOp create;
    create.key = "create:" + storage::incident_label(id);
    create.incident_id = id;
    create.kind = "create";
    create.room = "chat:C1:" + std::to_string(id);
    create.payload = name;  // recorded; the platform said name_taken; then the stop
    create.created_at = h.clock.now_ms();
    create.next_at = h.clock.now_ms();
    ops.add(create);
    EXPECT_EQ(retry(), 1);
    EXPECT_EQ(platform.names, (std::vector<std::string>{name, name + "-2"}));
    EXPECT_EQ(platform.finds, (std::vector<std::string>{name}));
    const std::string made = platform.made[name + "-2"].address;
    EXPECT_EQ(incidents.get(id)->room, made);
    EXPECT_NE(made, c.theirs.address);
    EXPECT_TRUE(rooms.log[c.theirs.address].posts.empty());
    EXPECT_TRUE(platform.pins[c.theirs.address].empty());
    EXPECT_EQ(ops.for_incident(id).at(0).state, "done");
    h.clock.advance_ms(10 * kMinute);  // past the double-click window: the next is a new incident
  }
}

TEST(IncidentRoomAdoption, OnlyARoomShipmateMadeSinceTheCreateWasRecordedIsAdopted) {
  const EpochMillis asked = 1'000'000'000;
  using commands::kRoomClockSkew;
  using commands::may_adopt_room;
  EXPECT_TRUE(may_adopt_room(true, asked + 5, asked, false));
  EXPECT_TRUE(may_adopt_room(true, asked - kRoomClockSkew, asked, false));  // the platform's clock
  EXPECT_FALSE(may_adopt_room(true, asked - kRoomClockSkew - 1, asked, false));  // older
  EXPECT_FALSE(may_adopt_room(false, asked + 5, asked, false));                  // a stranger's
  EXPECT_FALSE(may_adopt_room(true, asked + 5, asked, true));  // another incident lives there
  EXPECT_FALSE(may_adopt_room(true, 0, asked, false));         // the platform did not say when
}

// Per-channel pacing: a 429 on one room's pin holds that room until Slack's time; another room's
// pin in the same turn goes at once, and nothing is asked in the held room before its time.
TEST_F(IncidentRooms, ARateLimitedRoomWaitsForItsTimeWhileAnotherRoomGoesOn) {
  storage::RoomOpStore& ops = use_queue();
  // Two incidents in rooms of their own, their first pins failing in an outage.
  platform.pin_outages = 2;
  run_in("chat:C1:100", "alice", "incident declare \"Checkout errors\" sev2 hello");
  h.clock.advance_ms(10 * kMinute);
  run_in("chat:C2:100", "alice", "incident declare \"Search slow\" sev3 hello");
  const std::string a = incidents.get(1)->room;
  const std::string b = incidents.get(2)->room;
  ASSERT_NE(a, b);
  ASSERT_TRUE(platform.pins[a].empty());
  ASSERT_TRUE(platform.pins[b].empty());
  platform.pin_rooms.clear();
  // Both retries are due; a's pin is answered 429 (wait 30 s), b's goes through in the same turn.
  platform.rate_limits[a] = 1;
  h.clock.advance_ms(commands::kRoomOpLongestRetry.count());
  EXPECT_EQ(retry(), 2);
  EXPECT_EQ(platform.pin_rooms, (std::vector<std::string>{a, b}));
  EXPECT_TRUE(platform.pins[a].empty());
  EXPECT_EQ(platform.pins[b].size(), 1u);
  // a waits exactly until Slack's time; a topic change in a meanwhile waits with it, one in b
  // goes at once.
  run_in(a + "7", "alice", "incident status identified \"found it\"");
  run_in(b + "7", "alice", "incident status identified \"found it too\"");
  EXPECT_NE(platform.topics[b].find("identified"), std::string::npos);
  EXPECT_EQ(platform.topics[a].find("identified"), std::string::npos) << platform.topics[a];
  h.clock.advance_ms(30'000 - 1);
  EXPECT_EQ(retry(), 0);
  EXPECT_EQ(platform.pin_rooms.size(), 2u);
  h.clock.advance_ms(1);
  EXPECT_EQ(retry(), 2);  // a's pin and a's topic
  EXPECT_EQ(platform.pins[a].size(), 1u);
  EXPECT_NE(platform.topics[a].find("identified"), std::string::npos);
  for (const auto& op : ops.for_incident(1))
    EXPECT_EQ(op.state, "done") << op.kind << " " << op.key;
}

// A 429 on conversations.create holds the create tier only: the incident is declared at once in
// its thread (the create waits on the queue for Slack's time, and a second incident's create
// waits with it without being asked), while another incident's room operations and the thread
// incidents' own posts go on; after the wait each room is made once and its incident moves in.
TEST_F(IncidentRooms, ARateLimitedCreateHoldsOnlyCreatesAndTheIncidentRunsInItsThreadMeanwhile) {
  storage::RoomOpStore& ops = use_queue();
  run_in("chat:C0:100", "alice", "incident declare \"Search slow\" sev3 hello");
  const std::string earlier_room = incidents.get(1)->room;
  ASSERT_EQ(earlier_room, "chat:R1:");
  platform.create_rate_limits = 1;
  const std::string thread = "chat:C1:100";
  const auto said = run_in(thread, "alice", "incident declare \"Checkout errors\" sev2 hello");
  EXPECT_EQ(incidents.get(2)->room, thread);
  EXPECT_NE(said.find("No room of its own for INC-2: conversations.create was rate limited "
                      "(asked to wait 40 s); Shipmate keeps trying"),
            std::string::npos)
      << said;
  EXPECT_EQ(ops.for_incident(2).at(0).next_at, h.clock.now_ms() + 40'000);
  // A third declare in the same second: its create is not asked at all, it waits for the time.
  const std::string other_thread = "chat:C2:100";
  const auto third = run_in(other_thread, "bob", "incident declare \"Login fails\" sev2 hello");
  EXPECT_EQ(incidents.get(3)->room, other_thread);
  EXPECT_NE(third.find("Slack asked Shipmate to make rooms more slowly; Shipmate makes this one "
                       "in 40.0 s and moves the incident there"),
            std::string::npos)
      << third;
  EXPECT_EQ(platform.names.size(), 2u);
  EXPECT_EQ(ops.for_incident(3).at(0).attempts, 0);
  // Meanwhile the earlier incident's room operations go on, and so do the thread's posts.
  run_in(earlier_room + "7", "alice", "incident status identified \"found it\"");
  EXPECT_NE(platform.topics[earlier_room].find("identified"), std::string::npos);
  run_in(thread, "alice", "incident status identified \"bad config\"");
  EXPECT_EQ(incidents.get(2)->status, "identified");
  // Not before Slack's time; then both rooms are made, once each, and the incidents move.
  h.clock.advance_ms(40'000 - 1);
  EXPECT_EQ(retry(), 0);
  EXPECT_EQ(platform.names.size(), 2u);
  h.clock.advance_ms(1);
  EXPECT_EQ(retry(), 2);
  ASSERT_EQ(platform.names.size(), 4u);
  EXPECT_EQ(platform.names[2], "inc-2026-12-06-checkout-errors");
  EXPECT_EQ(platform.names[3], "inc-2026-12-06-login-fails");
  EXPECT_EQ(incidents.get(2)->room, "chat:R3:");
  EXPECT_EQ(incidents.get(3)->room, "chat:R4:");
  EXPECT_NE(posts_in(thread).find("has its own room: <#R3>"), std::string::npos);
  EXPECT_NE(posts_in(other_thread).find("has its own room: <#R4>"), std::string::npos);
  for (std::int64_t id = 2; id <= 3; ++id) {
    for (const auto& op : ops.for_incident(id))
      EXPECT_EQ(op.state, "done") << id << " " << op.kind;
  }
  h.clock.advance_ms(commands::kRoomOpLongestRetry.count());
  EXPECT_EQ(retry(), 0);
  EXPECT_EQ(platform.names.size(), 4u);
}

// The pacing survives a restart: a channel held by a 429, the create tier held by a 429 and a
// tier's spent calls are stored with the queue and hold again after start-up, where a restart
// used to start unpaced.
TEST_F(IncidentRooms, PacingHoldsAndSpentCallsHoldAgainAfterARestart) {
  use_queue();
  platform.pin_outages = 1;
  run_in("chat:C1:100", "alice", "incident declare \"Checkout errors\" sev2 hello");
  const std::string a = incidents.get(1)->room;
  // a's pin retry is answered 429 (30 s); then a create is answered 429 (40 s).
  platform.rate_limits[a] = 1;
  h.clock.advance_ms(commands::kRoomOpFirstRetry.count());
  EXPECT_EQ(retry(), 1);
  const EpochMillis limited_at = h.clock.now_ms();
  platform.create_rate_limits = 1;
  run_in("chat:C2:100", "alice", "incident declare \"Search slow\" sev3 hello");
  ASSERT_EQ(incidents.get(2)->room, "chat:C2:100");
  // The process stops; the new one starts with an empty pacer, a new store, the same rows.
  h.clock.advance_ms(5'000);
  platform.pacer() = commands::RoomOpPacer{};
  ASSERT_EQ(platform.pacer().ready_at(a, "pin", h.clock.now_ms()), h.clock.now_ms());
  storage::RoomOpStore& ops = use_queue();
  ops.release_claims();
  commands::restore_room_pacing(*h.services);
  EXPECT_EQ(platform.pacer().ready_at(a, "pin", h.clock.now_ms()), limited_at + 30'000);
  EXPECT_EQ(platform.pacer().ready_at("", "create", h.clock.now_ms()), limited_at + 40'000);
  // A declare now goes to its thread without asking for a room; nothing runs before its time.
  const std::size_t creates = platform.names.size();
  run_in("chat:C3:100", "bob", "incident declare \"Login fails\" sev2 hello");
  EXPECT_EQ(incidents.get(3)->room, "chat:C3:100");
  EXPECT_EQ(platform.names.size(), creates);
  const int pins = platform.pin_calls;
  h.clock.set_ms(limited_at + 30'000 - 1);
  EXPECT_EQ(retry(), 0);
  EXPECT_EQ(platform.pin_calls, pins);
  h.clock.set_ms(limited_at + 30'000);
  EXPECT_EQ(retry(), 1);  // a's pin
  EXPECT_EQ(platform.pins[a].size(), 1u);
  EXPECT_EQ(platform.names.size(), creates);
  h.clock.set_ms(limited_at + 40'000);
  EXPECT_EQ(retry(), 2);  // both creates
  EXPECT_EQ(platform.names.size(), creates + 2);
  EXPECT_NE(incidents.get(2)->room, "chat:C2:100");
  EXPECT_NE(incidents.get(3)->room, "chat:C3:100");
}

// A tier's spent calls are stored as they are spent and count again after a restart.
TEST_F(IncidentRooms, SpentCallsOfATierCountAgainAfterARestart) {
  use_queue();
  const EpochMillis t0 = h.clock.now_ms();
  const commands::RoomOpTier tier = commands::room_op_tier("pin");
  for (int i = 0; i < tier.burst; ++i)
    commands::spend_room_call(*h.services, "pin", t0);
  platform.pacer() = commands::RoomOpPacer{};
  use_queue();
  commands::restore_room_pacing(*h.services);
  EXPECT_EQ(platform.pacer().ready_at("chat:R1:", "pin", t0), t0 + tier.refill_every_ms);
  EXPECT_EQ(platform.pacer().ready_at("chat:R1:", "invite", t0), t0);
  // Once the tier has refilled, its line limits nothing and is dropped at start-up.
  h.clock.set_ms(t0 + commands::kRoomOpTiersRefillMs);
  use_queue();
  EXPECT_TRUE(queue->paces(h.clock.now_ms(), commands::kRoomOpTiersRefillMs).empty());
}

// Per method tier: a burst goes at once, then one call per refill interval; a held channel and a
// spent tier both answer with the time the call may go.
TEST(RoomOpPacing, ABurstGoesAtOnceThenOneCallPerIntervalAndAHeldChannelWaits) {
  commands::RoomOpPacer pacer;
  const EpochMillis t0 = 1'000'000;
  const commands::RoomOpTier tier2 = commands::room_op_tier("pin");
  EXPECT_EQ(tier2.burst, 20);
  EXPECT_EQ(commands::room_op_tier("invite").burst, 50);
  for (int i = 0; i < tier2.burst; ++i) {
    ASSERT_EQ(pacer.ready_at("slack:C1:", "pin", t0), t0) << i;
    pacer.spend("pin", t0);
  }
  EXPECT_EQ(pacer.ready_at("slack:C1:", "pin", t0), t0 + tier2.refill_every_ms);
  EXPECT_EQ(pacer.ready_at("slack:C1:", "topic", t0), t0);  // another method: its own calls
  EXPECT_EQ(pacer.ready_at("slack:C1:", "pin", t0 + tier2.refill_every_ms),
            t0 + tier2.refill_every_ms);
  pacer.spend("pin", t0 + tier2.refill_every_ms);
  EXPECT_EQ(pacer.ready_at("slack:C1:", "pin", t0 + tier2.refill_every_ms),
            t0 + 2 * tier2.refill_every_ms);
  // A held channel: its calls wait, another channel's do not; a shorter hold never shortens it.
  pacer.hold_channel("slack:C2:", t0 + 30'000);
  pacer.hold_channel("slack:C2:", t0 + 10'000);
  EXPECT_EQ(pacer.ready_at("slack:C2:", "topic", t0), t0 + 30'000);
  EXPECT_EQ(pacer.ready_at("slack:C3:", "topic", t0), t0);
  EXPECT_EQ(pacer.ready_at("slack:C2:", "topic", t0 + 30'000), t0 + 30'000);
}

TEST(RateLimitError, CarriesItsWaitInWordsAPersonReads) {
  const Error error = rate_limited_error("pins.add was rate limited", std::chrono::seconds(30));
  EXPECT_EQ(error.message, "pins.add was rate limited (asked to wait 30 s)");
  EXPECT_EQ(error.kind, ErrorKind::unavailable);
  EXPECT_EQ(rate_limit_wait(error), std::chrono::milliseconds(30'000));
  EXPECT_EQ(rate_limit_wait(make_error("pins.add: HTTP 503", ErrorKind::unavailable)),
            std::nullopt);
  EXPECT_EQ(rate_limit_wait(make_error("x (asked to wait 3 s)", ErrorKind::auth)), std::nullopt);
  EXPECT_EQ(rate_limit_wait(make_error("x (asked to wait -3 s)", ErrorKind::unavailable)),
            std::nullopt);
}

}  // namespace
}  // namespace shipmate
