// End-to-end, issue 17: a canary taken over mid-bake. Two `shipmate serve` replicas share one
// PostgreSQL (the ctest PostgreSQL fixture) and one fake Slack; the service runs on the
// local-process target (its public port is the "cluster" the test reads). Replica a deploys v1,
// then starts a canary of v2 and is killed with SIGKILL while step 1 (50%) bakes: its processes
// stop with it. Once a's lease has lapsed, b takes the deploy over, brings v1 back, restarts the
// v2 candidate at 50%, bakes and checks that step again, then the final step, and promotes: one
// succeeded, announced once, v2 serving, every transition after the kill b's (a is dead).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/database.h"
#include "tests/support/database_rows.h"
#include "tests/support/e2e_support.h"
#include "tests/support/fake_slack.h"
#include "tests/support/postgres_server.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

using namespace std::chrono_literals;

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 90s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

class CanaryTakeover : public ::testing::Test {
 protected:
  void SetUp() override {
    uri = postgres_server().fresh_database();
    port = free_port();
    for (const std::string name : {"a", "b"}) {
      // The bake is long enough that the kill lands inside it (the test waits for the recorded
      // bake to begin, then kills at once) and short enough to keep the test brief.
      write_file(dir.file(name + ".yaml"), R"(shipmate:
  database: {secret: database}
  state_dir: )" + name + R"(-state
  replica_lease: 2s
slack:
  connections: 1
environments:
  - name: staging
users:
  - {id: alice, roles: [developer], slack: UALICE}
secrets:
  database: {env: SHIPMATE_TEST_DATABASE}
services:
  - name: hello
    environments: [staging]
    strategy: {kind: canary, steps: [50], bake: 4s}
    target:
      kind: local
      releases: )" + source_dir() + R"(/examples/hello/releases
      start: [python3, server.py]
      health: {http: /health, timeout: 1s, retries: 100, interval: 100ms}
      stop_grace: 2s
      ports: {staging: )" + std::to_string(port) +
                                               "}\n");
    }
  }

  std::unique_ptr<Subprocess> start_replica(const std::string& name) {
    std::map<std::string, std::string> env{{"SLACK_APP_TOKEN", slack.options().app_token},
                                           {"SLACK_BOT_TOKEN", slack.options().bot_token},
                                           {"SLACK_API_URL", slack.api_url()},
                                           {"SHIPMATE_TEST_DATABASE", uri},
                                           {"SHIPMATE_REPLICA", name}};
    return std::make_unique<Subprocess>(
        std::vector<std::string>{shipmate_binary(), "--log-level", "info", "serve", "--no-terminal",
                                 "--config", dir.file(name + ".yaml")},
        env);
  }

  std::vector<std::string> rows(const std::string& sql, int columns = 1) {
    return database_rows(uri, sql, columns);
  }

  void mention(const std::string& event_id, const std::string& ts, const std::string& text,
               int connection) {
    FakeSlack::MentionSpec spec;
    spec.event_id = event_id;
    spec.user = "UALICE";
    spec.text = "<@UBOT> " + text;
    spec.ts = ts;
    slack.send_envelope("events_api", FakeSlack::app_mention_event(spec), 0, "", "", connection);
  }

  int posts_with(const std::string& text) {
    int count = 0;
    for (const auto& message : slack.messages())
      count += has(message.text, text) ? 1 : 0;
    return count;
  }

  std::string served() {
    auto answer = http_get(port, "/");
    return answer ? answer->body : "<no answer>";
  }

  std::string dump(Subprocess& a, Subprocess& b) {
    a.wait_for_output("\x01never\x01", 200ms);
    b.wait_for_output("\x01never\x01", 200ms);
    std::string out = "deploys:\n";
    for (const auto& row :
         rows("SELECT id, state, owner, epoch, detail, rollout FROM deploys ORDER BY id", 6))
      out += "  " + row + "\n";
    out += "messages:\n";
    for (const auto& message : slack.messages())
      out += "  [" + message.ts + " thread " + message.thread_ts + "] " + message.text + "\n";
    return out + "replica a:\n" + a.output() + "\nreplica b:\n" + b.output();
  }

  TempDir dir;
  FakeSlack slack;
  std::string uri;
  int port = 0;
};

TEST_F(CanaryTakeover, ACanaryKilledMidBakeIsCarriedOnByTheSurvivorAndServesTheNewVersion) {
  auto a = start_replica("a");
  ASSERT_TRUE(slack.wait_for_connections(1)) << a->output();
  ASSERT_TRUE(a->wait_for_output("ready:")) << a->output();
  auto b = start_replica("b");
  ASSERT_TRUE(slack.wait_for_connections(2)) << b->output();
  ASSERT_TRUE(b->wait_for_output("ready:")) << b->output();
  const auto open = slack.open_connections();  // in accept order: a's, then b's
  ASSERT_EQ(open.size(), 2u);

  // v1 first (a first deploy goes in whole, checked at 100%), then the canary of v2.
  mention("EvV1", "1700000005.000001", "deploy hello v1 to staging", open[0]);
  ASSERT_TRUE(eventually([&] {
    return rows("SELECT state FROM deploys WHERE id = 1") == std::vector<std::string>{"succeeded"};
  })) << dump(*a, *b);
  ASSERT_EQ(served(), "hello from v1\n");
  mention("EvV2", "1700000005.000002", "deploy hello v2 to staging", open[0]);
  // Kill a as soon as it has recorded step 1's bake (50% of traffic on the v2 candidate).
  ASSERT_TRUE(eventually([&] {
    const auto row = rows("SELECT owner, state, rollout FROM deploys WHERE id = 2", 3);
    return !row.empty() && row[0].starts_with("a|verifying|") && has(row[0], "phase=baking") &&
           has(row[0], ";step=0;steps=2;weight=50;");
  })) << dump(*a, *b);
  const auto killed_at = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  a->send_signal(SIGKILL);
  EXPECT_EQ(a->wait(), 128 + SIGKILL);
  const auto events_at_kill = rows("SELECT to_state FROM deploy_events WHERE deploy_id = 2");
  EXPECT_EQ(events_at_kill, (std::vector<std::string>{"requested", "deploying", "verifying"}));

  ASSERT_TRUE(eventually([&] {
    return rows("SELECT state FROM deploys WHERE id = 2") == std::vector<std::string>{"succeeded"};
  })) << dump(*a, *b);
  EXPECT_EQ(rows("SELECT owner, epoch FROM deploys WHERE id = 2", 2),
            (std::vector<std::string>{"b|1"}));
  EXPECT_EQ(served(), "hello from v2\n");
  // b re-established step 1 (back to deploying), baked and checked it, then the final step.
  EXPECT_EQ(
      rows("SELECT to_state FROM deploy_events WHERE deploy_id = 2 ORDER BY id"),
      (std::vector<std::string>{"requested", "deploying", "verifying", "deploying", "verifying",
                                "deploying", "verifying", "deploying", "succeeded"}));
  int taken = 0, resumed = 0, succeeded = 0;
  for (const auto& row : rows("SELECT action, details FROM audit_log ORDER BY seq", 2)) {
    if (!has(row, "#2"))
      continue;
    taken += has(row, "deploy.taken_over|") ? 1 : 0;
    resumed += has(row, "deploy.resumed|") ? 1 : 0;
    succeeded += has(row, "deploy.succeeded|") ? 1 : 0;
    if (has(row, "deploy.resumed|")) {
      EXPECT_TRUE(has(row, "carrying the canary on from step 1 of 2 (50%)")) << row;
    }
  }
  EXPECT_EQ(taken, 1);
  EXPECT_EQ(resumed, 1);
  // For the record (not asserted: real time on a loaded machine): the kill-to-takeover gap with
  // a 2 s lease (the takeover waits for the lease, a fifth of it as grace, and b's next renewal).
  const auto taken_at = rows("SELECT at FROM audit_log WHERE action = 'deploy.taken_over'");
  if (!taken_at.empty()) {
    std::printf("kill to takeover: %lld ms (replica_lease 2s)\n",
                std::stoll(taken_at[0]) - static_cast<long long>(killed_at));
  }
  EXPECT_EQ(succeeded, 1);
  EXPECT_TRUE(eventually([&] { return posts_with("Deploy #2 succeeded") >= 1; })) << dump(*a, *b);
  EXPECT_EQ(posts_with("Deploy #2 succeeded"), 1) << dump(*a, *b);
  EXPECT_EQ(posts_with("Deploy #2 failed"), 0) << dump(*a, *b);

  b->send_signal(SIGTERM);
  EXPECT_EQ(b->wait(), 0) << b->output();
  auto [code, verified] =
      run_command({shipmate_binary(), "audit", "verify", "--config", dir.file("b.yaml")}, "",
                  {{"SHIPMATE_TEST_DATABASE", uri}});
  EXPECT_EQ(code, 0) << verified;
}

}  // namespace
}  // namespace shipmate::testing
