// End-to-end: incident rooms in Slack. The real shipmate binary joins a fake Slack (Socket Mode
// + Web API on loopback); a declare in a channel makes a room of its own (conversations.create,
// a taken name retried with a suffix), invites the declarer and the on-call role, sets the topic,
// posts and pins the summary card; a :pushpin: reaction in the room puts the message on the
// timeline once; a missing scope falls back to the declaring thread with a clear message; and
// alerts.channel given by name is looked up with conversations.list; a resolved incident's room
// is archived after incidents.archive_after, once, through a Slack failure and a kill -9.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <thread>

#include "common/clock.h"
#include "tests/support/e2e_support.h"
#include "tests/support/fake_slack.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

using namespace std::chrono_literals;

class SlackIncidentSession : public ::testing::Test {
 protected:
  void SetUp() override {
    alerts_port = free_port();
    write_file(dir.file("shipmate.yaml"), R"(shipmate:
  database: state/shipmate.db
  state_dir: state/run
slack:
  connections: 1
environments:
  - name: staging
users:
  - {id: alice, roles: [developer, sre], slack: UALICE}
  - {id: bob, roles: [developer], slack: UBOB}
  - {id: carol, roles: [oncall], slack: UCAROL}
  - {id: dave, roles: [oncall]}
services:
  - name: hello
    target:
      kind: local
      releases: )" + source_dir() + R"(/examples/hello/releases
      start: [python3, server.py]
      health: {http: /health, timeout: 1s, retries: 50, interval: 100ms}
      ports: {staging: )" + std::to_string(free_port()) +
                                              R"(}
incidents:
  invite: [oncall]
alerts:
  listen: {bind: 127.0.0.1, port: )" + std::to_string(alerts_port) +
                                              R"(}
  channel: "slack:#incidents"
  alertmanager: {token: {secret: am_token}}
secrets:
  am_token: {env: SHIPMATE_E2E_AM_TOKEN}
)");
  }

  std::unique_ptr<Subprocess> start_shipmate(FakeSlack& slack) {
    std::map<std::string, std::string> env{{"SLACK_APP_TOKEN", slack.options().app_token},
                                           {"SLACK_BOT_TOKEN", slack.options().bot_token},
                                           {"SLACK_API_URL", slack.api_url()},
                                           {"SHIPMATE_E2E_AM_TOKEN", "am-token-52d1e07b"}};
    return std::make_unique<Subprocess>(
        std::vector<std::string>{shipmate_binary(), "--log-level", "info", "serve", "--no-terminal",
                                 "--config", dir.file("shipmate.yaml")},
        env);
  }

  // Starts the bot and waits until it is ready and holds its Socket Mode link.
  void start_connected(FakeSlack& slack, std::unique_ptr<Subprocess>& shipmate) {
    shipmate = start_shipmate(slack);
    ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 30s)) << shipmate->output();
    ASSERT_TRUE(slack.wait_for_connections(1, 20s)) << shipmate->output();
  }

  static bool wait_until(const std::function<bool()>& condition,
                         std::chrono::milliseconds timeout = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (condition())
        return true;
      std::this_thread::sleep_for(20ms);
    }
    return condition();
  }

  static std::string dump(const FakeSlack& slack, Subprocess& shipmate) {
    shipmate.wait_for_output("\x01never\x01", 200ms);
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

  // A mention of the bot by `user` in `channel`, with its own event id and ts.
  static std::string mention(FakeSlack& slack, const std::string& event_id, const std::string& ts,
                             const std::string& channel, const std::string& user,
                             const std::string& text) {
    FakeSlack::MentionSpec spec;
    spec.event_id = event_id;
    spec.ts = ts;
    spec.channel = channel;
    spec.user = user;
    spec.text = "<@UBOT> " + text;
    return slack.send_envelope("events_api", FakeSlack::app_mention_event(spec));
  }

  static std::vector<FakeSlack::Message> in_channel(const FakeSlack& slack,
                                                    const std::string& channel) {
    std::vector<FakeSlack::Message> out;
    for (const auto& message : slack.messages()) {
      if (message.channel == channel)
        out.push_back(message);
    }
    return out;
  }

  static int count(const std::string& text, const std::string& part) {
    int found = 0;
    for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1))
      ++found;
    return found;
  }

  TempDir dir;
  int alerts_port = 0;
};

TEST_F(SlackIncidentSession, DeclareMakesARoomInvitesSetsTheTopicAndPinsTheCard) {
  FakeSlack slack;
  const std::string alerts_channel = slack.add_channel("incidents");
  const std::string today = format_utc(SystemClock().now_ms()).substr(0, 10);
  // The plain name is taken: the room gets the next suffix.
  slack.add_channel("inc-" + today + "-checkout-errors");
  auto shipmate = start_shipmate(slack);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 30s)) << shipmate->output();
  // alerts.channel by name, looked up once at start.
  EXPECT_TRUE(has(shipmate->output(), "alerts: slack:#incidents is slack:" + alerts_channel))
      << shipmate->output();
  ASSERT_TRUE(slack.wait_for_connections(1, 20s)) << shipmate->output();

  mention(slack, "EvDeclare", "1700000001.000100", "C1", "UALICE",
          "incident declare \"Checkout errors\" sev2 hello");
  ASSERT_TRUE(wait_until([&] { return !slack.calls("pins.add").empty(); }))
      << dump(slack, *shipmate);
  ASSERT_TRUE(wait_until([&] { return !slack.calls("conversations.invite").empty(); }))
      << dump(slack, *shipmate);

  const auto creates = slack.calls("conversations.create");
  ASSERT_EQ(creates.size(), 2u) << dump(slack, *shipmate);
  EXPECT_EQ(creates[0].param("name"), "inc-" + today + "-checkout-errors");
  EXPECT_EQ(creates[1].param("name"), "inc-" + today + "-checkout-errors-2");
  std::string room;
  for (const auto& [id, members] : slack.channel_members()) {
    if (std::find(members.begin(), members.end(), "UALICE") != members.end())
      room = id;
  }
  ASSERT_FALSE(room.empty()) << dump(slack, *shipmate);
  // The declarer and the on-call role (dave has no Slack id: named in a warning instead).
  const auto members = slack.channel_members().at(room);
  EXPECT_NE(std::find(members.begin(), members.end(), "UCAROL"), members.end());
  EXPECT_EQ(std::find(members.begin(), members.end(), "UBOB"), members.end());
  ASSERT_TRUE(wait_until([&] { return slack.channel_topics().contains(room); }));
  EXPECT_EQ(slack.channel_topics().at(room),
            "INC-1 | sev2 | investigating | commander alice | Checkout errors");
  // The card lives in the room and is what got pinned.
  const auto pins = slack.channel_pins().at(room);
  ASSERT_EQ(pins.size(), 1u);
  auto card = slack.message(room, pins[0]);
  ASSERT_TRUE(card.has_value());
  EXPECT_TRUE(has(card->text, "INC-1")) << card->text;
  EXPECT_TRUE(card->thread_ts.empty());
  // The declaring thread points at the room.
  ASSERT_TRUE(wait_until([&] {
    for (const auto& message : in_channel(slack, "C1")) {
      if (has(message.text, "has its own room: <#" + room + ">"))
        return true;
    }
    return false;
  })) << dump(slack, *shipmate);
  ASSERT_TRUE(wait_until([&] {
    for (const auto& message : in_channel(slack, room)) {
      if (has(message.text, "could not invite dave"))
        return true;
    }
    return false;
  })) << dump(slack, *shipmate);

  // A status update in the room updates the card in place and the topic.
  mention(slack, "EvStatus", "1700000002.000100", room, "UALICE",
          "incident status identified \"bad config in v2\"");
  ASSERT_TRUE(wait_until([&] {
    auto now = slack.message(room, pins[0]);
    return now && has(now->text, "identified") && now->updates > 0;
  })) << dump(slack, *shipmate);
  ASSERT_TRUE(wait_until([&] {
    return has(slack.channel_topics().at(room), "INC-1 | sev2 | identified");
  })) << dump(slack, *shipmate);

  // Assigning comms to bob invites him.
  mention(slack, "EvAssign", "1700000003.000100", room, "UALICE", "incident assign comms bob");
  ASSERT_TRUE(wait_until([&] {
    const auto now = slack.channel_members().at(room);
    return std::find(now.begin(), now.end(), "UBOB") != now.end();
  })) << dump(slack, *shipmate);

  // A :pushpin: on someone's message in the room puts it on the timeline, once, however often
  // Slack delivers the reaction; other reactions do nothing.
  const std::string said = slack.add_user_message(room, "UBOB", "error rate is 40% since 10:02");
  FakeSlack::ReactionSpec pin;
  pin.event_id = "EvPin1";
  pin.user = "UBOB";
  pin.channel = room;
  pin.item_ts = said;
  pin.item_user = "UBOB";
  slack.send_envelope("events_api", FakeSlack::reaction_added_event(pin));
  slack.send_envelope("events_api", FakeSlack::reaction_added_event(pin), 1, "timeout");
  pin.event_id = "EvPin2";  // alice pins the same message too
  pin.user = "UALICE";
  slack.send_envelope("events_api", FakeSlack::reaction_added_event(pin));
  pin.event_id = "EvEyes";
  pin.reaction = "eyes";
  slack.send_envelope("events_api", FakeSlack::reaction_added_event(pin));
  ASSERT_TRUE(wait_until([&] { return slack.calls("conversations.history").size() >= 4; }))
      << dump(slack, *shipmate);

  mention(slack, "EvTimeline", "1700000004.000100", room, "UALICE", "incident timeline");
  std::string timeline;
  ASSERT_TRUE(wait_until([&] {
    for (const auto& message : slack.messages()) {
      if (message.thread_ts == "1700000004.000100" && has(message.text, "declared")) {
        timeline = message.text;
        return true;
      }
    }
    return false;
  })) << dump(slack, *shipmate);
  EXPECT_EQ(count(timeline, "error rate is 40% since 10:02"), 1) << timeline;
  EXPECT_TRUE(has(timeline, "pinned")) << timeline;
  EXPECT_TRUE(has(timeline, "room slack:" + room)) << timeline;

  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  // The audit chain (which carries every timeline row) verifies.
  auto verify =
      run_command({shipmate_binary(), "audit", "verify", "--config", dir.file("shipmate.yaml")}, "",
                  {{"SHIPMATE_E2E_AM_TOKEN", "am-token-52d1e07b"}});
  EXPECT_EQ(verify.first, 0) << verify.second;
}

// incidents.archive_after through the binary: a resolve sets the room's archive time; the time
// passing while Shipmate is down (the row's deadline moved into the past, as a restart a day later
// finds it) archives the room at start. A Slack failure that may pass is retried later; a kill -9
// after Slack archived but before Shipmate recorded it archives again on restart, Slack's
// already_archived counts as done, and the timeline says "archived" once.
TEST_F(SlackIncidentSession, AResolvedIncidentsRoomIsArchivedOnceThroughOutagesAndAKill) {
  {
    std::ifstream in(dir.file("shipmate.yaml"));
    std::string config((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string incidents = "incidents:\n  invite: [oncall]\n";
    ASSERT_TRUE(has(config, incidents));
    config.replace(config.find(incidents), incidents.size(), incidents + "  archive_after: 1h\n");
    write_file(dir.file("shipmate.yaml"), config);
  }
  const std::string db = dir.file("state/shipmate.db");
  auto archive_rows = [&] {
    return query(db,
                 "SELECT COUNT(*) FROM incident_timeline WHERE incident_id = 1 AND kind = 'room' "
                 "AND text LIKE '%archived%'")
        .at(0);
  };
  FakeSlack slack;
  slack.add_channel("incidents");
  std::string room;
  {
    std::unique_ptr<Subprocess> shipmate;
    ASSERT_NO_FATAL_FAILURE(start_connected(slack, shipmate));
    mention(slack, "EvDeclare", "1700000001.000100", "C1", "UALICE",
            "incident declare \"Checkout errors\" sev2 hello");
    ASSERT_TRUE(wait_until([&] { return !slack.calls("pins.add").empty(); }))
        << dump(slack, *shipmate);
    room = slack.calls("pins.add").at(0).param("channel");
    ASSERT_FALSE(room.empty()) << dump(slack, *shipmate);
    mention(slack, "EvResolve", "1700000002.000100", room, "UALICE",
            "incident resolve \"bad config reverted\"");
    ASSERT_TRUE(wait_until([&] {
      for (const auto& message : in_channel(slack, room)) {
        if (has(message.text, "its room is archived in 1 h"))
          return true;
      }
      return false;
    })) << dump(slack, *shipmate);
    EXPECT_EQ(query(db, "SELECT archive_at IS NOT NULL, archived_at IS NULL FROM incidents"),
              std::vector<std::string>{"1|1"});
    EXPECT_TRUE(slack.calls("conversations.archive").empty());
    shipmate->send_signal(SIGTERM);
    ASSERT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  }

  // The hour passes while Shipmate is down, and Slack fails the first archive (its servers).
  query(db, "UPDATE incidents SET archive_at = 1 WHERE id = 1");
  slack.fail_next("conversations.archive", "fatal_error");
  {
    auto shipmate = start_shipmate(slack);
    // The retry time is stored after the failure is logged: wait for the row itself.
    ASSERT_TRUE(wait_until([&] {
      return query(db, "SELECT archive_at > 1 FROM incidents WHERE id = 1").at(0) == "1";
    })) << dump(slack, *shipmate);
    EXPECT_TRUE(shipmate->wait_for_output("trying again in 10 min", 30s)) << shipmate->output();
    EXPECT_EQ(slack.calls("conversations.archive").size(), 1u);
    EXPECT_TRUE(slack.archived_channels().empty());
    EXPECT_EQ(query(db, "SELECT archive_at > 1, archived_at IS NULL FROM incidents"),
              std::vector<std::string>{"1|1"});
    EXPECT_EQ(archive_rows(), "0");
    shipmate->send_signal(SIGTERM);
    ASSERT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  }

  // The retry is due; Shipmate is killed after Slack archived the room but before it recorded
  // that (held at the write, then SIGKILL).
  query(db, "UPDATE incidents SET archive_at = 1 WHERE id = 1");
  install_spin_trigger(db, "hold_archive_record",
                       "BEFORE UPDATE ON incidents WHEN NEW.archived_at IS NOT NULL");
  {
    auto shipmate = start_shipmate(slack);
    ASSERT_TRUE(wait_until([&] { return slack.archived_channels().contains(room); }))
        << dump(slack, *shipmate);
    shipmate->send_signal(SIGKILL);
    EXPECT_EQ(shipmate->wait(30s), 128 + SIGKILL);
  }
  query(db, "DROP TRIGGER hold_archive_record");
  EXPECT_EQ(query(db, "SELECT archive_at IS NOT NULL, archived_at IS NULL FROM incidents"),
            std::vector<std::string>{"1|1"});
  EXPECT_EQ(archive_rows(), "0");

  // The restart archives again; Slack answers already_archived, which is done: recorded once.
  {
    auto shipmate = start_shipmate(slack);
    ASSERT_TRUE(wait_until([&] {
      return query(db, "SELECT archived_at IS NOT NULL FROM incidents WHERE id = 1").at(0) == "1";
    })) << dump(slack, *shipmate);
    EXPECT_EQ(slack.calls("conversations.archive").size(), 3u);
    EXPECT_EQ(slack.archived_channels(), std::set<std::string>{room});
    EXPECT_EQ(archive_rows(), "1");
    EXPECT_EQ(query(db, "SELECT archive_at IS NULL FROM incidents"), std::vector<std::string>{"1"});
    shipmate->send_signal(SIGTERM);
    ASSERT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  }
  auto verify =
      run_command({shipmate_binary(), "audit", "verify", "--config", dir.file("shipmate.yaml")}, "",
                  {{"SHIPMATE_E2E_AM_TOKEN", "am-token-52d1e07b"}});
  EXPECT_EQ(verify.first, 0) << verify.second;
}

// Room operations are durable (commands/incident_room_ops.h): Shipmate is killed (-9) after
// Slack made the room but before Shipmate recorded it. The restart finds the room by the name it
// recorded before asking, makes no second one, and carries out the rest once: the card posted
// and pinned there, the topic set, the people invited, the declaring thread pointed at it.
TEST_F(SlackIncidentSession, KilledAfterSlackMadeTheRoomTheRestartUsesThatRoomAndMakesNoOther) {
  FakeSlack slack;
  const std::string alerts_channel = slack.add_channel("incidents");
  // Channels Slack made for Shipmate (conversations.create), by id.
  auto rooms_made = [&] {
    std::vector<std::string> out;
    for (const auto& [id, members] : slack.channel_members()) {
      if (id != alerts_channel)
        out.push_back(id);
    }
    return out;
  };
  const std::string today = format_utc(SystemClock().now_ms()).substr(0, 10);
  const std::string name = "inc-" + today + "-checkout-errors";
  const std::string db = dir.file("state/shipmate.db");
  {
    auto shipmate = start_shipmate(slack);  // creates the database
    ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 30s)) << shipmate->output();
    shipmate->send_signal(SIGTERM);
    ASSERT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  }
  // Held at the write that records the room Slack made.
  install_spin_trigger(db, "hold_room_record",
                       "BEFORE UPDATE ON incident_room_ops WHEN OLD.kind = 'create' AND "
                       "NEW.result != ''");
  {
    std::unique_ptr<Subprocess> shipmate;
    ASSERT_NO_FATAL_FAILURE(start_connected(slack, shipmate));
    mention(slack, "EvDeclare", "1700000001.000100", "C1", "UALICE",
            "incident declare \"Checkout errors\" sev2 hello");
    ASSERT_TRUE(slack.wait_for_calls("conversations.create", 1, 30s)) << dump(slack, *shipmate);
    shipmate->send_signal(SIGKILL);
    EXPECT_EQ(shipmate->wait(30s), 128 + SIGKILL);
  }
  query(db, "DROP TRIGGER hold_room_record");
  EXPECT_EQ(query(db, "SELECT kind, state, payload, result FROM incident_room_ops"),
            std::vector<std::string>{"create|pending|" + name + "|"});
  EXPECT_TRUE(slack.calls("pins.add").empty());
  ASSERT_EQ(rooms_made().size(), 1u);
  const std::string room = rooms_made().front();

  {
    auto shipmate = start_shipmate(slack);
    ASSERT_TRUE(wait_until([&] {
      return query(db, "SELECT COUNT(*) FROM incident_room_ops WHERE state != 'done'").at(0) ==
                 "0" &&
             query(db, "SELECT COUNT(*) FROM incident_room_ops").at(0) == "4";
    })) << dump(slack, *shipmate);
    // Asked once more under the recorded name (taken: by this very room), then found by it.
    const auto creates = slack.calls("conversations.create");
    ASSERT_EQ(creates.size(), 2u) << dump(slack, *shipmate);
    EXPECT_EQ(creates[1].param("name"), name);
    EXPECT_EQ(rooms_made(), std::vector<std::string>{room}) << dump(slack, *shipmate);
    ASSERT_EQ(slack.channel_pins().at(room).size(), 1u);
    auto card = slack.message(room, slack.channel_pins().at(room)[0]);
    ASSERT_TRUE(card.has_value());
    EXPECT_TRUE(has(card->text, "INC-1")) << card->text;
    const auto members = slack.channel_members().at(room);
    EXPECT_NE(std::find(members.begin(), members.end(), "UALICE"), members.end());
    EXPECT_NE(std::find(members.begin(), members.end(), "UCAROL"), members.end());
    ASSERT_TRUE(wait_until([&] { return slack.channel_topics().contains(room); }));
    EXPECT_TRUE(has(slack.channel_topics().at(room), "INC-1 | sev2 | investigating"));
    int pointers = 0;
    for (const auto& message : in_channel(slack, "C1"))
      pointers += has(message.text, "has its own room: <#" + room + ">") ? 1 : 0;
    EXPECT_EQ(pointers, 1) << dump(slack, *shipmate);
    EXPECT_EQ(query(db, "SELECT kind, state FROM incident_room_ops ORDER BY id"),
              (std::vector<std::string>{"create|done", "pin|done", "topic|done", "invite|done"}));
    EXPECT_EQ(query(db, "SELECT room FROM incidents WHERE id = 1").at(0).rfind("slack:" + room, 0),
              0u);
    shipmate->send_signal(SIGTERM);
    ASSERT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  }
  auto verify =
      run_command({shipmate_binary(), "audit", "verify", "--config", dir.file("shipmate.yaml")}, "",
                  {{"SHIPMATE_E2E_AM_TOKEN", "am-token-52d1e07b"}});
  EXPECT_EQ(verify.first, 0) << verify.second;
}

// Slack fails conversations.create at declare (its servers): the incident runs in the
// declaring thread for now, the create stays on the durable queue, and when it is retried (here
// after a restart, with the retry made due) the room is made and the incident moves there: card
// posted and pinned, topic set, people invited, the thread told where it went.
TEST_F(SlackIncidentSession, ARoomSlackFailedToMakeAtDeclareIsMadeLaterAndTheIncidentMovesThere) {
  FakeSlack slack;
  const std::string alerts_channel = slack.add_channel("incidents");
  slack.fail_next("conversations.create", "internal_error");
  const std::string db = dir.file("state/shipmate.db");
  const std::string thread_ts = "1700000001.000100";
  {
    std::unique_ptr<Subprocess> shipmate;
    ASSERT_NO_FATAL_FAILURE(start_connected(slack, shipmate));
    mention(slack, "EvDeclare", thread_ts, "C1", "UALICE",
            "incident declare \"Checkout errors\" sev2 hello");
    ASSERT_TRUE(wait_until([&] {
      for (const auto& message : in_channel(slack, "C1")) {
        if (message.thread_ts == thread_ts &&
            has(message.text, "keeps trying to make the room and moves the incident there"))
          return true;
      }
      return false;
    })) << dump(slack, *shipmate);
    // The retry time is stored after the warning is posted: wait for the row itself.
    ASSERT_TRUE(wait_until([&] {
      return query(db, "SELECT state, attempts, result != '' FROM incident_room_ops").at(0) ==
             "pending|1|1";
    })) << dump(slack, *shipmate);
    EXPECT_EQ(query(db, "SELECT room FROM incidents WHERE id = 1").at(0), "slack:C1:" + thread_ts);
    EXPECT_TRUE(slack.calls("pins.add").empty());
    shipmate->send_signal(SIGTERM);
    ASSERT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  }
  query(db, "UPDATE incident_room_ops SET next_at = 1 WHERE kind = 'create'");
  {
    auto shipmate = start_shipmate(slack);
    ASSERT_TRUE(wait_until([&] {
      return query(db, "SELECT COUNT(*) FROM incident_room_ops WHERE state != 'done'").at(0) ==
                 "0" &&
             query(db, "SELECT COUNT(*) FROM incident_room_ops").at(0) == "4";
    })) << dump(slack, *shipmate);
    const auto creates = slack.calls("conversations.create");
    ASSERT_EQ(creates.size(), 2u) << dump(slack, *shipmate);
    EXPECT_EQ(creates[0].param("name"), creates[1].param("name"));
    std::string room;
    for (const auto& [id, members] : slack.channel_members()) {
      if (id != alerts_channel)
        room = id;
    }
    ASSERT_FALSE(room.empty()) << dump(slack, *shipmate);
    EXPECT_EQ(query(db, "SELECT room FROM incidents WHERE id = 1").at(0), "slack:" + room + ":");
    ASSERT_EQ(slack.channel_pins().at(room).size(), 1u);
    auto card = slack.message(room, slack.channel_pins().at(room)[0]);
    ASSERT_TRUE(card.has_value());
    EXPECT_TRUE(has(card->text, "INC-1")) << card->text;
    const auto members = slack.channel_members().at(room);
    EXPECT_NE(std::find(members.begin(), members.end(), "UALICE"), members.end());
    EXPECT_NE(std::find(members.begin(), members.end(), "UCAROL"), members.end());
    ASSERT_TRUE(wait_until([&] { return slack.channel_topics().contains(room); }));
    EXPECT_TRUE(has(slack.channel_topics().at(room), "INC-1 | sev2 | investigating"));
    // The thread is told where the incident went (its old card is not edited here: message
    // references do not outlive the process that posted them).
    ASSERT_TRUE(wait_until([&] {
      int pointers = 0;
      for (const auto& message : in_channel(slack, "C1")) {
        if (message.thread_ts == thread_ts)
          pointers += has(message.text, "has its own room: <#" + room + ">") ? 1 : 0;
      }
      return pointers == 1;
    })) << dump(slack, *shipmate);
    // Commands in the room find the incident.
    mention(slack, "EvNote", "1700000003.000100", room, "UALICE", "incident note \"in the room\"");
    ASSERT_TRUE(wait_until([&] {
      return query(db, "SELECT COUNT(*) FROM incident_timeline WHERE text LIKE '%in the room%'")
                 .at(0) == "1";
    })) << dump(slack, *shipmate);
    shipmate->send_signal(SIGTERM);
    ASSERT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  }
  auto verify =
      run_command({shipmate_binary(), "audit", "verify", "--config", dir.file("shipmate.yaml")}, "",
                  {{"SHIPMATE_E2E_AM_TOKEN", "am-token-52d1e07b"}});
  EXPECT_EQ(verify.first, 0) << verify.second;
}

// Slack rate-limits conversations.create (429, Retry-After 3 s) during a declare, and then the
// new room's pins.add: the incident is declared at once in its thread, its room is made after
// Slack's time and it moves there; an incident that already has its room goes on meanwhile
// (its status reaches the topic); every room is made once and pinned once; the audit verifies.
TEST_F(SlackIncidentSession, ARateLimitedCreateKeepsTheIncidentInItsThreadAndHoldsNoOtherRoom) {
  FakeSlack slack;
  slack.add_channel("incidents");
  const std::string db = dir.file("state/shipmate.db");
  std::unique_ptr<Subprocess> shipmate;
  ASSERT_NO_FATAL_FAILURE(start_connected(slack, shipmate));
  // INC-1 gets its room as usual.
  mention(slack, "EvFirst", "1700000001.000100", "C1", "UALICE",
          "incident declare \"Search slow\" sev3 hello");
  ASSERT_TRUE(wait_until([&] {
    return query(db, "SELECT COUNT(*) FROM incident_room_ops WHERE state = 'done'").at(0) == "4";
  })) << dump(slack, *shipmate);
  const std::string first_room = query(db, "SELECT room FROM incidents WHERE id = 1").at(0);
  ASSERT_TRUE(first_room.starts_with("slack:C")) << first_room;
  const std::string first_channel = first_room.substr(6, first_room.size() - 7);

  // Slack now answers the next create and the next pin with 429.
  slack.rate_limit_next("conversations.create", 3, 1);
  slack.rate_limit_next("pins.add", 3, 1);
  const std::string thread_ts = "1700000002.000100";
  mention(slack, "EvDeclare", thread_ts, "C2", "UBOB",
          "incident declare \"Checkout errors\" sev2 hello");
  // Declared at once in the thread: its card and the reason are there.
  ASSERT_TRUE(wait_until([&] {
    bool card = false, reason = false;
    for (const auto& message : in_channel(slack, "C2")) {
      if (message.thread_ts != thread_ts)
        continue;
      card = card || has(message.text, "INC-2 Checkout errors");
      reason = reason || has(message.text, "(asked to wait 3 s)");
    }
    return card && reason;
  })) << dump(slack, *shipmate);
  // INC-1 is not held: a status change in its room reaches its topic.
  mention(slack, "EvStatus", "1700000003.000100", first_channel, "UALICE",
          "incident status identified \"cache cold\"");
  ASSERT_TRUE(wait_until([&] {
    const auto topics = slack.channel_topics();
    return topics.contains(first_channel) && has(topics.at(first_channel), "identified");
  })) << dump(slack, *shipmate);
  // After Slack's time INC-2's room is made and it moves there; everything is done once.
  ASSERT_TRUE(wait_until(
      [&] {
        return query(db,
                     "SELECT COUNT(*) FROM incident_room_ops WHERE incident_id = 2 AND "
                     "state = 'done'")
                       .at(0) == "4" &&
               query(db, "SELECT room LIKE 'slack:C%:' FROM incidents WHERE id = 2").at(0) == "1";
      },
      60s))
      << dump(slack, *shipmate);
  const std::string second_room = query(db, "SELECT room FROM incidents WHERE id = 2").at(0);
  const std::string second_channel = second_room.substr(6, second_room.size() - 7);
  EXPECT_NE(second_channel, "C2");
  EXPECT_EQ(query(db, "SELECT COUNT(*) FROM incident_room_ops WHERE state != 'done'").at(0), "0");
  EXPECT_EQ(query(db, "SELECT COUNT(*) FROM incident_room_ops").at(0),
            "9");  // INC-1's status topic
  // conversations.create: INC-1's, INC-2's rate-limited one, INC-2's under the same name.
  const auto creates = slack.calls("conversations.create");
  ASSERT_EQ(creates.size(), 3u) << dump(slack, *shipmate);
  EXPECT_EQ(creates[1].status, 429);
  EXPECT_EQ(creates[1].param("name"), creates[2].param("name"));
  // The thread had the card before the room was asked for again.
  const auto calls = slack.calls();
  std::size_t thread_card = calls.size(), second_create = calls.size(), seen = 0;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    if (calls[i].method == "conversations.create" && ++seen == 3)
      second_create = i;
    if (calls[i].method == "chat.postMessage" && calls[i].param("channel") == "C2" &&
        has(calls[i].param("text") + calls[i].body, "INC-2") && thread_card == calls.size())
      thread_card = i;
  }
  EXPECT_LT(thread_card, second_create) << dump(slack, *shipmate);
  // One pin per room (the rate-limited one was asked again, once).
  const auto pins = slack.channel_pins();
  ASSERT_TRUE(pins.contains(second_channel)) << dump(slack, *shipmate);
  EXPECT_EQ(pins.at(first_channel).size(), 1u);
  EXPECT_EQ(pins.at(second_channel).size(), 1u);
  EXPECT_EQ(slack.calls("pins.add").size(), 3u);
  EXPECT_EQ(query(db, "SELECT COUNT(*) FROM incidents").at(0), "2");
  ASSERT_TRUE(wait_until([&] {
    for (const auto& message : in_channel(slack, "C2")) {
      if (message.thread_ts == thread_ts &&
          has(message.text, "has its own room: <#" + second_channel + ">"))
        return true;
    }
    return false;
  })) << dump(slack, *shipmate);
  shipmate->send_signal(SIGTERM);
  ASSERT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  auto verify =
      run_command({shipmate_binary(), "audit", "verify", "--config", dir.file("shipmate.yaml")}, "",
                  {{"SHIPMATE_E2E_AM_TOKEN", "am-token-52d1e07b"}});
  EXPECT_EQ(verify.first, 0) << verify.second;
}

// The adoption window: someone already has a channel under the incident's room name; Slack
// answers name_taken, and Shipmate is killed (-9) before it records the next name. The restart
// asks under the recorded name again (taken), looks that channel up (conversations.info: made by
// a person) and passes it over: the incident gets a room of its own under the next name, and
// the stranger's channel is left alone.
TEST_F(SlackIncidentSession, AKillAfterNameTakenNeverAdoptsTheStrangersChannelOfThatName) {
  FakeSlack slack;
  slack.add_channel("incidents");
  const std::string today = format_utc(SystemClock().now_ms()).substr(0, 10);
  const std::string name = "inc-" + today + "-checkout-errors";
  const std::string theirs = slack.add_channel(name, false, "UPERSON");
  const std::string db = dir.file("state/shipmate.db");
  {
    auto shipmate = start_shipmate(slack);  // creates the database
    ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 30s)) << shipmate->output();
    shipmate->send_signal(SIGTERM);
    ASSERT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  }
  // Held at the write that records the next name after name_taken.
  install_spin_trigger(db, "hold_next_name",
                       "BEFORE UPDATE ON incident_room_ops WHEN OLD.kind = 'create' AND "
                       "NEW.payload LIKE '%-2'");
  {
    std::unique_ptr<Subprocess> shipmate;
    ASSERT_NO_FATAL_FAILURE(start_connected(slack, shipmate));
    mention(slack, "EvDeclare", "1700000001.000100", "C1", "UALICE",
            "incident declare \"Checkout errors\" sev2 hello");
    ASSERT_TRUE(slack.wait_for_calls("conversations.create", 1, 30s)) << dump(slack, *shipmate);
    // Logged when the answer is in, right before the write the trigger holds.
    ASSERT_TRUE(
        shipmate->wait_for_output("room name " + name + " is taken; trying " + name + "-2", 30s))
        << dump(slack, *shipmate);
    shipmate->send_signal(SIGKILL);
    EXPECT_EQ(shipmate->wait(30s), 128 + SIGKILL);
  }
  query(db, "DROP TRIGGER hold_next_name");
  ASSERT_EQ(query(db, "SELECT kind, state, payload FROM incident_room_ops"),
            std::vector<std::string>{"create|pending|" + name});
  {
    auto shipmate = start_shipmate(slack);
    ASSERT_TRUE(wait_until([&] {
      return query(db, "SELECT COUNT(*) FROM incident_room_ops WHERE state != 'done'").at(0) ==
                 "0" &&
             query(db, "SELECT COUNT(*) FROM incident_room_ops").at(0) == "4";
    })) << dump(slack, *shipmate);
    const auto creates = slack.calls("conversations.create");
    ASSERT_EQ(creates.size(), 3u) << dump(slack, *shipmate);
    EXPECT_EQ(creates[1].param("name"), name);
    EXPECT_EQ(creates[2].param("name"), name + "-2");
    EXPECT_FALSE(slack.calls("conversations.info").empty());
    const std::string room = query(db, "SELECT room FROM incidents WHERE id = 1").at(0);
    EXPECT_NE(room, "slack:" + theirs + ":");
    EXPECT_EQ(room.rfind("slack:C", 0), 0u) << room;
    // The stranger's channel: nothing posted, pinned, set or invited there.
    EXPECT_TRUE(in_channel(slack, theirs).empty()) << dump(slack, *shipmate);
    EXPECT_FALSE(slack.channel_pins().contains(theirs));
    EXPECT_FALSE(slack.channel_topics().contains(theirs));
    for (const auto& call : slack.calls("conversations.invite"))
      EXPECT_NE(call.param("channel"), theirs);
    shipmate->send_signal(SIGTERM);
    ASSERT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  }
}

TEST_F(SlackIncidentSession, AMissingScopeFallsBackToTheThreadAndSaysWhichScope) {
  FakeSlack slack;
  slack.add_channel("incidents");
  slack.fail_next("conversations.create", "missing_scope");
  std::unique_ptr<Subprocess> shipmate;
  ASSERT_NO_FATAL_FAILURE(start_connected(slack, shipmate));

  mention(slack, "EvDeclare", "1700000001.000100", "C1", "UALICE",
          "incident declare \"db latency\" sev1");
  std::string warning;
  ASSERT_TRUE(wait_until([&] {
    for (const auto& message : slack.messages()) {
      if (has(message.text, "No room of its own for INC-1")) {
        warning = message.text;
        return true;
      }
    }
    return false;
  })) << dump(slack, *shipmate);
  EXPECT_TRUE(has(warning, "missing_scope")) << warning;
  EXPECT_TRUE(has(warning, "channels:manage")) << warning;
  EXPECT_TRUE(has(warning, "It runs here instead")) << warning;
  // The card is in the declaring thread; nothing was pinned, invited or topiced.
  bool card_in_thread = false;
  for (const auto& message : slack.messages()) {
    if (message.channel == "C1" && message.thread_ts == "1700000001.000100" &&
        has(message.text, "INC-1 db latency"))
      card_in_thread = true;
  }
  EXPECT_TRUE(card_in_thread) << dump(slack, *shipmate);
  EXPECT_TRUE(slack.calls("pins.add").empty());
  EXPECT_TRUE(slack.calls("conversations.invite").empty());
  EXPECT_TRUE(slack.calls("conversations.setTopic").empty());
  // Commands in that thread find the incident.
  mention(slack, "EvNote", "1700000002.000100", "C1", "UALICE", "incident note \"looking\"");
  ASSERT_TRUE(wait_until([&] {
    for (const auto& message : slack.messages()) {
      if (message.thread_ts == "1700000002.000100" && has(message.text, "INC-1"))
        return true;
    }
    return false;
  })) << dump(slack, *shipmate);
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
}

TEST_F(SlackIncidentSession, AnAlertChannelNameNoOneCanSeeStopsStartUpWithTheName) {
  FakeSlack slack;  // no #incidents channel
  auto shipmate = start_shipmate(slack);
  EXPECT_NE(shipmate->wait(30s), 0) << shipmate->output();
  EXPECT_TRUE(has(shipmate->output(), "no Slack channel named #incidents is visible"))
      << shipmate->output();
}

}  // namespace
}  // namespace shipmate::testing
