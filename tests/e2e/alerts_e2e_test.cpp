// End-to-end: Debian's real Alertmanager notifies the real `shipmate` binary. A firing alert
// opens an incident (its card in terminal chat), Alertmanager's own repeats of the same snapshot
// are not duplicated, and the resolution lands on the incident's timeline. Also through the
// binary: the endpoint refuses a wrong token and a bad body with one-line reasons, changing
// nothing.
//
// The test fails (never skips) when prometheus-alertmanager is not installed. It waits for rows
// and lines with generous deadlines, never for a fixed time.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <thread>

#include "tests/support/e2e_support.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kAlertmanager = "/usr/bin/prometheus-alertmanager";
constexpr const char* kToken = "am-e2e-token-4f9c2";

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition())
      return true;
    std::this_thread::sleep_for(50ms);
  }
  return condition();
}

std::string iso_now_minus(int seconds) {
  const std::time_t at = std::time(nullptr) - seconds;
  std::tm parts{};
  gmtime_r(&at, &parts);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return buffer;
}

class AlertsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(kAlertmanager))
        << kAlertmanager << " is missing: run scripts/install-deps (prometheus-alertmanager)";
    alerts_port = free_port();
    am_port = free_port();
    while (am_port == alerts_port)
      am_port = free_port();
    am2_port = free_port();
    while (am2_port == alerts_port || am2_port == am_port)
      am2_port = free_port();
    int staging = free_port(), production = free_port();
    write_file(dir.file("shipmate.yaml"), R"(shipmate:
  database: state/shipmate.db
  state_dir: state/run
terminal:
  user: alice
environments:
  - name: staging
  - name: production
    production: true
users:
  - {id: alice, name: Alice, roles: [developer, sre]}
secrets:
  am_token: {env: SHIPMATE_E2E_AM_TOKEN}
services:
  - name: hello
    target:
      kind: local
      releases: )" + source_dir() + R"(/examples/hello/releases
      start: [python3, server.py]
      ports: {staging: )" + std::to_string(staging) +
                                              ", production: " + std::to_string(production) +
                                              R"(}
alerts:
  listen: {bind: 127.0.0.1, port: )" + std::to_string(alerts_port) +
                                              R"(}
  channel: terminal
  alertmanager: {token: {secret: am_token}}
  routes:
    - {match: {severity: critical}, action: open incident}
)");
    write_file(dir.file("am.yml"), R"(route:
  receiver: shipmate
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: shipmate
    webhook_configs:
      - url: http://127.0.0.1:)" + std::to_string(alerts_port) +
                                       R"(/alerts/alertmanager
        send_resolved: true
        http_config:
          authorization: {credentials: )" +
                                       kToken + R"(}
)");
  }

  std::unique_ptr<Subprocess> start_shipmate() {
    auto chat = std::make_unique<Subprocess>(
        std::vector<std::string>{shipmate_binary(), "--log-level", "info", "chat", "--config",
                                 dir.file("shipmate.yaml")},
        std::map<std::string, std::string>{{"SHIPMATE_E2E_AM_TOKEN", kToken}});
    EXPECT_TRUE(chat->wait_for_output("alerts: listening on 127.0.0.1:", 30s)) << chat->output();
    return chat;
  }

  // Two Alertmanagers with the same configuration stand for an HA pair: both notify.
  std::unique_ptr<Subprocess> start_alertmanager(int port) {
    auto am = std::make_unique<Subprocess>(std::vector<std::string>{
        kAlertmanager, "--config.file=" + dir.file("am.yml"),
        "--storage.path=" + dir.file("am-data-" + std::to_string(port)),
        "--web.listen-address=127.0.0.1:" + std::to_string(port), "--cluster.listen-address="});
    EXPECT_TRUE(eventually([&] {
      auto ready = http_get(port, "/-/ready", 500ms);
      return ready && ready->status == 200;
    })) << am->output();
    return am;
  }

  void post_alert(const std::string& ends_at, int port) {
    const std::string body =
        R"([{"labels":{"alertname":"CheckoutErrors","service":"hello","severity":"critical"},)"
        R"("annotations":{"summary":"checkout errors above 5%"},"startsAt":")" +
        starts_at + "\"" + (ends_at.empty() ? "" : ",\"endsAt\":\"" + ends_at + "\"") +
        R"(,"generatorURL":"http://prometheus.local/graph"}])";
    auto answer = http_post(port, "/api/v2/alerts", {"Content-Type: application/json"}, body, 5s);
    ASSERT_TRUE(answer);
    ASSERT_EQ(answer->status, 200) << answer->body;
  }

  std::vector<std::string> timeline(const std::string& kind) {
    return query(dir.file("state/shipmate.db"),
                 "SELECT text FROM incident_timeline WHERE kind = '" + kind + "' ORDER BY id");
  }

  TempDir dir;
  int alerts_port = 0;
  int am_port = 0;
  int am2_port = 0;
  const std::string starts_at = iso_now_minus(120);
};

TEST_F(AlertsE2E, FiringOpensAnIncidentRepeatsAreDroppedAndResolutionLandsOnTheTimeline) {
  auto shipmate = start_shipmate();
  auto am = start_alertmanager(am_port);
  auto am2 = start_alertmanager(am2_port);
  post_alert("", am_port);
  ASSERT_TRUE(eventually([&] {
    return query(dir.file("state/shipmate.db"), "SELECT count(*) FROM incidents") ==
           std::vector<std::string>{"1"};
  })) << shipmate->output()
      << am->output();
  EXPECT_TRUE(
      shipmate->wait_for_output("INC-1 checkout errors above 5% [sev1, investigating]", 30s))
      << shipmate->output();
  EXPECT_EQ(query(dir.file("state/shipmate.db"),
                  "SELECT title, severity, services, declared_by, room FROM incidents"),
            std::vector<std::string>{"checkout errors above 5%|1|hello|alertmanager|terminal"});

  // The HA peer gets the same alert and notifies too: the same snapshot, dropped as a duplicate.
  post_alert("", am2_port);
  ASSERT_TRUE(shipmate->wait_for_output("0 new, 1 duplicate", 60s)) << shipmate->output();
  EXPECT_EQ(timeline("alert").size(), 1u);
  EXPECT_EQ(query(dir.file("state/shipmate.db"), "SELECT count(*) FROM incidents"),
            std::vector<std::string>{"1"});

  // Resolved: Alertmanager sends the resolved snapshot; it lands on the same incident.
  post_alert(iso_now_minus(1), am_port);
  ASSERT_TRUE(eventually([&] { return timeline("alert").size() == 2; })) << shipmate->output();
  EXPECT_TRUE(has(timeline("alert")[1], "resolved: CheckoutErrors (hello)"))
      << timeline("alert")[1];
  EXPECT_EQ(query(dir.file("state/shipmate.db"), "SELECT count(*) FROM incidents"),
            std::vector<std::string>{"1"});

  // The endpoint itself: a wrong token and a bad body are refused with one line, nothing changes.
  auto wrong = http_post(alerts_port, "/alerts/alertmanager",
                         {"Authorization: Bearer nope", "Content-Type: application/json"}, "{}");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(wrong->body, "the credentials do not match\n");
  auto bad = http_post(alerts_port, "/alerts/alertmanager",
                       {std::string("Authorization: Bearer ") + kToken}, R"({"version":"4"})");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(bad->body, "missing \"groupKey\"\n");
  EXPECT_EQ(timeline("alert").size(), 2u);

  for (auto* peer : {am.get(), am2.get()}) {
    peer->send_signal(SIGTERM);
    peer->wait();
  }
  shipmate->close_stdin();
  EXPECT_EQ(shipmate->wait(), 0) << shipmate->output();
  // The token never reaches the log.
  EXPECT_FALSE(has(shipmate->output(), kToken));
  ::setenv("SHIPMATE_E2E_AM_TOKEN", kToken, 1);  // the configuration names it
  auto [code, output] =
      run_command({shipmate_binary(), "audit", "verify", "--config", dir.file("shipmate.yaml")});
  ::unsetenv("SHIPMATE_E2E_AM_TOKEN");
  EXPECT_EQ(code, 0) << output;
}

}  // namespace
}  // namespace shipmate::testing
