// End-to-end: an incident through SIGKILLs, on the real shipmate binary (terminal chat plus the
// alerts listener). Declared, an alert in from Alertmanager's webhook, a deploy during the
// incident, a status update; then the process is killed at exact writes (a trigger that never
// finishes, install_spin_trigger): while a status update's announcement is being marked sent,
// while a reminder is being decided, and while that reminder is being marked sent. After each
// restart: the timeline holds every event once, the status update and the reminder each reached
// the chat exactly once, and the audit chain (which carries every timeline row) verifies.
#include <gtest/gtest.h>
#include <signal.h>

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <thread>

#include "tests/support/e2e_support.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kToken = "am-token-3f9a61c2";
constexpr const char* kReminder = "has had no status update";
constexpr const char* kStatusUpdate = "INC-1 is identified: bad config in v2 (alice)";

class IncidentCrash : public ::testing::Test {
 protected:
  void SetUp() override {
    staging_port = free_port();
    alerts_port = free_port();
    while (alerts_port == staging_port)
      alerts_port = free_port();
    write_file(dir.file("shipmate.yaml"), R"(shipmate:
  database: state/shipmate.db
  state_dir: state/run
terminal:
  user: alice
environments:
  - name: staging
    allow: {deploy: [developer], rollback: [developer], lock: [developer]}
users:
  - {id: alice, name: Alice, roles: [developer, sre]}
services:
  - name: hello
    environments: [staging]
    target:
      kind: local
      releases: )" + source_dir() + R"(/examples/hello/releases
      start: [python3, server.py]
      health: {http: /health, timeout: 1s, retries: 100, interval: 100ms}
      ports: {staging: )" + std::to_string(staging_port) +
                                              R"(}
secrets:
  am_token: {env: SHIPMATE_E2E_AM_TOKEN}
alerts:
  listen: {bind: 127.0.0.1, port: )" + std::to_string(alerts_port) +
                                              R"(}
  channel: terminal
  alertmanager: {token: {secret: am_token}}
  routes:
    - {match: {service: hello}, service: hello, action: post}
)");
  }

  std::unique_ptr<Subprocess> start_chat() {
    auto chat = std::make_unique<Subprocess>(
        std::vector<std::string>{shipmate_binary(), "--log-level", "info", "chat", "--config",
                                 dir.file("shipmate.yaml")},
        std::map<std::string, std::string>{{"SHIPMATE_E2E_AM_TOKEN", kToken}});
    EXPECT_TRUE(chat->wait_for_output("ready", 30s)) << chat->output();
    return chat;
  }

  static void finish(Subprocess& chat) {
    chat.close_stdin();
    EXPECT_EQ(chat.wait(), 0) << chat.output();
  }

  static bool eventually(const std::function<bool()>& condition,
                         std::chrono::milliseconds timeout = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (condition())
        return true;
      std::this_thread::sleep_for(20ms);
    }
    return condition();
  }

  // CPU seconds the process has used (user + system, from /proc/<pid>/stat).
  static double cpu_seconds(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = stat.rfind(')');
    if (close == std::string::npos)
      return 0;
    std::istringstream fields(stat.substr(close + 2));
    std::string field;
    long long utime = 0, stime = 0;
    for (int index = 3; fields >> field; ++index) {
      if (index == 14)
        utime = std::stoll(field);
      if (index == 15) {
        stime = std::stoll(field);
        break;
      }
    }
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }

  // The process is held inside the trigger: its one thread spins in SQLite, burning a whole
  // second of CPU more than it had (an idle Shipmate uses a few milliseconds a second). A test
  // failure when that does not happen within the deadline.
  static void held_in_trigger(Subprocess& chat) {
    const double start = cpu_seconds(chat.pid());
    ASSERT_TRUE(eventually([&] { return cpu_seconds(chat.pid()) > start + 1.0; }))
        << "the trigger never held Shipmate\n"
        << chat.output();
  }

  static void kill(Subprocess& chat) {
    chat.send_signal(SIGKILL);
    EXPECT_EQ(chat.wait(), 128 + SIGKILL);
  }

  static int count(const std::string& text, const std::string& part) {
    int found = 0;
    for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1))
      ++found;
    return found;
  }

  std::string db() const { return dir.file("state/shipmate.db"); }
  std::vector<std::string> timeline_kinds() const {
    return query(db(), "SELECT kind FROM incident_timeline WHERE incident_id = 1 ORDER BY id");
  }
  int rows(const std::string& sql) const { return std::stoi(query(db(), sql).at(0)); }

  TempDir dir;
  int staging_port = 0;
  int alerts_port = 0;
};

TEST_F(IncidentCrash, KilledAtThreeWritesTheTimelineIsWholeAndEachAnnouncementArrivesOnce) {
  std::string all;  // everything every run wrote
  {
    auto chat = start_chat();  // creates the database
    finish(*chat);
    all += chat->output();
  }
  // 1. Held while the status update's announcement is being marked sent: the update is
  //    committed, nothing was posted yet.
  install_spin_trigger(db(), "hold_status_delivery",
                       "BEFORE UPDATE ON incident_announcements WHEN OLD.kind = 'status'");
  {
    auto chat = start_chat();
    say(*chat, "incident declare \"checkout errors\" sev1 hello", "INC-1 checkout errors");
    const std::string alert =
        R"({"version":"4","groupKey":"{}:{alertname=\"HighErrors\"}","status":"firing",)"
        R"("receiver":"shipmate","groupLabels":{"alertname":"HighErrors"},"commonLabels":{},)"
        R"("commonAnnotations":{},"externalURL":"http://am:9093","alerts":[{"status":"firing",)"
        R"("labels":{"alertname":"HighErrors","service":"hello"},"annotations":{"summary":)"
        R"("error rate 40%"},"startsAt":"2026-12-06T10:00:00Z","endsAt":"0001-01-01T00:00:00Z",)"
        R"("generatorURL":"http://prom/graph","fingerprint":"a1b2c3d4e5f60718"}]})";
    auto answer = http_post(
        alerts_port, "/alerts/alertmanager",
        {"Authorization: Bearer " + std::string(kToken), "Content-Type: application/json"}, alert,
        10s);
    ASSERT_TRUE(answer.has_value());
    EXPECT_EQ(answer->status, 200) << answer->body;
    ASSERT_TRUE(chat->wait_for_output("HighErrors", 30s)) << chat->output();
    say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");
    chat->write("incident status identified \"bad config in v2\"\n");
    held_in_trigger(*chat);
    kill(*chat);
    all += chat->output();
    EXPECT_FALSE(has(chat->output(), kStatusUpdate)) << chat->output();
  }
  EXPECT_EQ(query(db(), "SELECT status FROM incidents WHERE id = 1"),
            std::vector<std::string>{"identified"});
  EXPECT_EQ(query(db(), "SELECT kind, sent_at IS NULL FROM incident_announcements"),
            std::vector<std::string>{"status|1"});
  query(db(), "DROP TRIGGER hold_status_delivery");

  // 2. A reminder is due (as if the cadence had passed while Shipmate was down); held while it
  //    is being decided, so nothing of it committed. The restart first delivers the status
  //    update the last kill cut off.
  query(db(), "UPDATE incidents SET next_reminder_at = 1 WHERE id = 1");
  install_spin_trigger(db(), "hold_reminder_decision",
                       "BEFORE INSERT ON incident_announcements WHEN NEW.kind = 'reminder'");
  {
    auto chat = start_chat();
    held_in_trigger(*chat);
    kill(*chat);
    all += chat->output();
    EXPECT_EQ(count(chat->output(), kStatusUpdate), 1) << chat->output();
    EXPECT_FALSE(has(chat->output(), kReminder)) << chat->output();
  }
  EXPECT_EQ(rows("SELECT COUNT(*) FROM incident_announcements WHERE kind = 'reminder'"), 0);
  EXPECT_EQ(rows("SELECT COUNT(*) FROM incident_timeline WHERE kind = 'reminder'"), 0);
  EXPECT_EQ(query(db(), "SELECT next_reminder_at FROM incidents WHERE id = 1"),
            std::vector<std::string>{"1"});
  query(db(), "DROP TRIGGER hold_reminder_decision");

  // 3. Held while the reminder, decided and recorded, is being marked sent: not posted.
  install_spin_trigger(db(), "hold_reminder_delivery",
                       "BEFORE UPDATE ON incident_announcements WHEN OLD.kind = 'reminder'");
  {
    auto chat = start_chat();
    held_in_trigger(*chat);
    kill(*chat);
    all += chat->output();
    EXPECT_FALSE(has(chat->output(), kReminder)) << chat->output();
  }
  EXPECT_EQ(query(db(), "SELECT kind, sent_at IS NULL FROM incident_announcements ORDER BY id"),
            (std::vector<std::string>{"status|0", "reminder|1"}));
  EXPECT_EQ(rows("SELECT COUNT(*) FROM incident_timeline WHERE kind = 'reminder'"), 1);
  query(db(), "DROP TRIGGER hold_reminder_delivery");

  // 4. A clean restart: the reminder goes out once; the next one is a whole cadence away.
  {
    auto chat = start_chat();
    ASSERT_TRUE(chat->wait_for_output(kReminder, 30s)) << chat->output();
    const std::string timeline = say(*chat, "incident timeline", "reminder");
    for (const char* event :
         {"declared", "HighErrors", "deploy", "identified: bad config in v2", "reminder"})
      EXPECT_TRUE(has(timeline, event)) << event << "\n" << timeline;
    say(*chat, "incident note \"rolled forward\"", "INC-1");
    finish(*chat);
    all += chat->output();
    EXPECT_EQ(count(chat->output(), kReminder), 1) << chat->output();
  }
  EXPECT_EQ(count(all, kReminder), 1) << all;
  EXPECT_EQ(count(all, kStatusUpdate), 1) << all;
  EXPECT_EQ(query(db(), "SELECT kind, sent_at IS NULL FROM incident_announcements ORDER BY id"),
            (std::vector<std::string>{"status|0", "reminder|0"}));
  // Every event once, in the order it was recorded.
  const auto kinds = timeline_kinds();
  auto times = [&](const std::string& kind) {
    return static_cast<int>(std::count(kinds.begin(), kinds.end(), kind));
  };
  EXPECT_EQ(times("declared"), 1);
  EXPECT_EQ(times("alert"), 1);
  EXPECT_GE(times("deploy"), 1);  // the deploy's own records (started, succeeded)
  EXPECT_EQ(times("status"), 1);
  EXPECT_EQ(times("reminder"), 1);
  EXPECT_EQ(times("note"), 1);
  EXPECT_GT(query(db(), "SELECT next_reminder_at FROM incidents WHERE id = 1").at(0).size(), 10u);
  // No audit record is carried twice, and every row's record is still what it says.
  EXPECT_EQ(rows("SELECT COUNT(audit_seq) - COUNT(DISTINCT audit_seq) FROM incident_timeline"), 0);
  auto [code, output] =
      run_command({shipmate_binary(), "audit", "verify", "--config", dir.file("shipmate.yaml")}, "",
                  {{"SHIPMATE_E2E_AM_TOKEN", kToken}});
  EXPECT_EQ(code, 0) << output;
  EXPECT_TRUE(has(output, "intact")) << output;
}

}  // namespace
}  // namespace shipmate::testing
