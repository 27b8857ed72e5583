// End-to-end: two `shipmate serve` replicas on one PostgreSQL (the ctest PostgreSQL fixture), one
// fake Slack whose Socket Mode envelopes reach both, and a fake GitLab building the deploys.
// Commands redelivered to the other replica run exactly once across both; the replica running a
// deploy is killed with SIGKILL while its build runs, and the other takes the deploy over once
// the dead one's lease has lapsed, follows the same CI pipeline (never a second one) and finishes
// the deploy, as the audit log and the chat show.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/database.h"
#include "tests/support/e2e_support.h"
#include "tests/support/fake_gitlab.h"
#include "tests/support/fake_slack.h"
#include "tests/support/postgres_server.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

using namespace std::chrono_literals;

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

class TwoReplicas : public ::testing::Test {
 protected:
  void SetUp() override {
    uri = postgres_server().fresh_database();
    port = free_port();
    gitlab.set_stuck(true);  // the build runs until the test lets it finish
    // A runbook whose only real step holds until the test creates the gate file: idempotent, so a
    // survivor that takes the run over runs it again.
    write_file(dir.file("hold.py"),
               "import os, sys, time\nwhile not os.path.exists(sys.argv[1]):\n    "
               "time.sleep(0.05)\n");
    write_file(dir.file("runbooks/hold.yaml"), R"(runbook: hold
params:
  - {name: env, type: environment, default: staging}
steps:
  - name: hold
    safety: idempotent
    timeout: 2m
    exec: [python3, )" + dir.file("hold.py") + ", " +
                                                   dir.file("gate") + R"(]
  - name: tell
    notify: "released in {env}"
)");
    for (const std::string name : {"a", "b"}) {
      write_file(dir.file(name + ".yaml"), R"(shipmate:
  database: {secret: database}
  state_dir: )" + name + R"(-state
  replica_lease: 2s
runbooks:
  directory: )" + dir.file("runbooks") + R"(
slack:
  connections: 1
environments:
  - name: staging
users:
  - {id: alice, roles: [developer], slack: UALICE}
secrets:
  database: {env: SHIPMATE_TEST_DATABASE}
  gl: {env: SHIPMATE_TEST_GITLAB}
services:
  - name: hello
    environments: [staging]
    target:
      kind: local
      releases: )" + source_dir() + R"(/examples/hello/releases
      start: [python3, server.py]
      health: {http: /health, timeout: 1s, retries: 100, interval: 100ms}
      stop_grace: 2s
      ports: {staging: )" + std::to_string(port) +
                                               R"(}
    build:
      provider: gitlab
      api_url: )" + gitlab.api_url() + R"(
      project: group/sub/api
      token: {secret: gl}
      variables: {VERSION: "{version}"}
      poll: 50ms
)");
    }
  }

  std::unique_ptr<Subprocess> start_replica(const std::string& name) {
    std::map<std::string, std::string> env{
        {"SLACK_APP_TOKEN", slack.options().app_token},
        {"SLACK_BOT_TOKEN", slack.options().bot_token},
        {"SLACK_API_URL", slack.api_url()},
        {"SHIPMATE_TEST_DATABASE", uri},
        {"SHIPMATE_TEST_GITLAB", FakeGitlab::Options{}.private_token},
        {"SHIPMATE_REPLICA", name}};
    return std::make_unique<Subprocess>(
        std::vector<std::string>{shipmate_binary(), "--log-level", "info", "serve", "--no-terminal",
                                 "--config", dir.file(name + ".yaml")},
        env);
  }

  // The first `columns` columns of each row, joined by '|'.
  std::vector<std::string> rows(const std::string& sql, int columns = 1) {
    auto db = storage::Database::open(uri);
    EXPECT_TRUE(db.ok()) << db.error().message;
    std::vector<std::string> out;
    if (!db)
      return out;
    auto select = (*db)->prepare(sql);
    while (select.step()) {
      std::string row = select.column_text(0);
      for (int i = 1; i < columns; ++i)
        row += "|" + select.column_text(i);
      out.push_back(row);
    }
    return out;
  }

  // Alice mentions the bot in C1 with `text`, as event `event_id` at `ts`, on `connection`.
  std::string mention(const std::string& event_id, const std::string& ts, const std::string& text,
                      int connection, int retry = 0) {
    FakeSlack::MentionSpec spec;
    spec.event_id = event_id;
    spec.user = "UALICE";
    spec.text = "<@UBOT> " + text;
    spec.ts = ts;
    return slack.send_envelope("events_api", FakeSlack::app_mention_event(spec), retry,
                               retry == 0 ? "" : "timeout", "", connection);
  }

  int replies_containing(const std::string& ts, const std::string& text) {
    int count = 0;
    for (const auto& message : slack.messages())
      count += message.thread_ts == ts && has(message.text, text) ? 1 : 0;
    return count;
  }

  std::string dump(Subprocess& a, Subprocess& b) {
    a.wait_for_output("\x01never\x01", 200ms);
    b.wait_for_output("\x01never\x01", 200ms);
    std::string out = "messages:\n";
    for (const auto& run : rows("SELECT id, chat_ref, message_ref FROM runbook_runs", 3))
      out += "  run " + run + "\n";
    for (const auto& message : slack.messages())
      out += "  [" + message.ts + " thread " + message.thread_ts + "] " + message.text + "\n";
    return out + "replica a:\n" + a.output() + "\nreplica b:\n" + b.output();
  }

  TempDir dir;
  FakeSlack slack;
  FakeGitlab gitlab;
  std::string uri;
  int port = 0;
};

TEST_F(TwoReplicas, CommandsRunOnceAcrossBothAndAKilledReplicasDeployIsTakenOverAndFinished) {
  auto a = start_replica("a");
  ASSERT_TRUE(slack.wait_for_connections(1)) << a->output();
  ASSERT_TRUE(a->wait_for_output("ready:")) << a->output();
  auto b = start_replica("b");
  ASSERT_TRUE(slack.wait_for_connections(2)) << b->output();
  ASSERT_TRUE(b->wait_for_output("ready:")) << b->output();
  const auto open = slack.open_connections();  // in accept order: a's, then b's
  ASSERT_EQ(open.size(), 2u);
  const int to_a = open[0];
  const int to_b = open[1];

  // Every command delivered to one replica and redelivered (Slack's retry) to the other: each is
  // answered exactly once across the two.
  constexpr int kCommands = 10;
  for (int i = 0; i < kCommands; ++i) {
    const std::string ts = "1700000001.00000" + std::to_string(i);
    const std::string event = "EvPing" + std::to_string(i);
    mention(event, ts, "ping", i % 2 == 0 ? to_a : to_b);
    mention(event, ts, "ping", i % 2 == 0 ? to_b : to_a, 1);
  }
  ASSERT_TRUE(slack.wait_for_acks(2 * kCommands)) << dump(*a, *b);
  // Fences, one per replica: once their pongs are out, every earlier command each replica
  // accepted has answered.
  mention("EvFenceA", "1700000001.900000", "ping", to_a);
  mention("EvFenceB", "1700000001.900001", "ping", to_b);
  ASSERT_TRUE(eventually([&] {
    return replies_containing("1700000001.900000", "pong") == 1 &&
           replies_containing("1700000001.900001", "pong") == 1;
  })) << dump(*a, *b);
  for (int i = 0; i < kCommands; ++i) {
    EXPECT_EQ(replies_containing("1700000001.00000" + std::to_string(i), "pong"), 1)
        << "command " << i << "\n"
        << dump(*a, *b);
  }

  // A deploy on replica a: its build starts, then a is killed while the build runs.
  mention("EvDeploy", "1700000002.000001", "deploy hello v1 to staging", to_a);
  ASSERT_TRUE(eventually([&] {
    const auto run = rows("SELECT ci_run_id, owner, state FROM deploys WHERE id = 1", 3);
    return !run.empty() && run[0].find("|a|building") != std::string::npos && run[0].front() != '|';
  })) << dump(*a, *b);
  ASSERT_EQ(gitlab.pipelines().size(), 1u);
  a->send_signal(SIGKILL);
  EXPECT_EQ(a->wait(), 128 + SIGKILL);
  gitlab.release_stuck();

  // b takes it over once a's lease (2 s) and the grace have passed, follows the same pipeline
  // and finishes the deploy.
  ASSERT_TRUE(eventually([&] {
    const auto state = rows("SELECT state FROM deploys WHERE id = 1");
    return !state.empty() && state[0] == "succeeded";
  })) << dump(*a, *b);
  EXPECT_EQ(rows("SELECT owner, epoch FROM deploys WHERE id = 1", 2),
            (std::vector<std::string>{"b|1"}));
  EXPECT_EQ(gitlab.pipelines().size(), 1u);  // followed, never triggered again
  EXPECT_EQ(http_get(port, "/") ? http_get(port, "/")->body : "<no answer>", "hello from v1\n");

  const auto audit = rows("SELECT actor, action, details FROM audit_log ORDER BY seq", 3);
  int taken = 0, resumed = 0, succeeded = 0;
  for (const auto& row : audit) {
    taken += has(row, "deploy.taken_over") ? 1 : 0;
    resumed += has(row, "deploy.resumed") ? 1 : 0;
    succeeded += has(row, "deploy.succeeded") ? 1 : 0;
    if (has(row, "deploy.taken_over")) {
      EXPECT_TRUE(has(row, "#1 by replica b: replica a")) << row;
    }
  }
  EXPECT_EQ(taken, 1);
  EXPECT_EQ(resumed, 1);
  EXPECT_EQ(succeeded, 1);
  std::vector<std::string> events =
      rows("SELECT to_state FROM deploy_events WHERE deploy_id = 1 ORDER BY id");
  EXPECT_EQ(events, (std::vector<std::string>{"requested", "building", "deploying", "succeeded"}));
  // In the chat: b announced the takeover where the deploy was asked for, and its outcome.
  const auto posts_with = [&](const std::string& text) {
    int count = 0;
    for (const auto& message : slack.messages())
      count += has(message.text, text) ? 1 : 0;
    return count;
  };
  // The outcome reaches the chat after the database: wait for it, then count.
  EXPECT_TRUE(eventually([&] { return posts_with("Deploy #1 succeeded") >= 1; })) << dump(*a, *b);
  EXPECT_EQ(posts_with("Deploy #1 succeeded"), 1) << dump(*a, *b);
  // (b's status message, "resumed after a restart; following its build", became that outcome.)
  EXPECT_TRUE(b->wait_for_output("taken over by replica b")) << b->output();
  EXPECT_TRUE(rows("SELECT key FROM inbox_pending").empty());

  // A clean stop releases b's lease; the chain verifies.
  b->send_signal(SIGTERM);
  EXPECT_EQ(b->wait(), 0) << b->output();
  auto [code, verified] =
      run_command({shipmate_binary(), "audit", "verify", "--config", dir.file("b.yaml")}, "",
                  {{"SHIPMATE_TEST_DATABASE", uri}, {"SHIPMATE_TEST_GITLAB", "x"}});
  EXPECT_EQ(code, 0) << verified;
  EXPECT_TRUE(has(verified, "audit log intact")) << verified;
  EXPECT_EQ(rows("SELECT holder, expires_at FROM leases WHERE name = 'replica:b'", 2),
            (std::vector<std::string>{"b|0"}));
}

// Issue 17, runbooks: the replica driving a run is killed with SIGKILL while a step runs; the
// other takes the run over once the dead one's lease has lapsed (one compare-and-set that bumps
// the epoch), says so once in the run's thread, reconciles it as a restart would (the idempotent
// step runs again) and finishes it; the chain verifies.
TEST_F(TwoReplicas, AKilledReplicasRunbookRunIsTakenOverReconciledAndFinishedOnce) {
  auto a = start_replica("a");
  ASSERT_TRUE(slack.wait_for_connections(1)) << a->output();
  ASSERT_TRUE(a->wait_for_output("ready:")) << a->output();
  auto b = start_replica("b");
  ASSERT_TRUE(slack.wait_for_connections(2)) << b->output();
  ASSERT_TRUE(b->wait_for_output("ready:")) << b->output();
  const auto open = slack.open_connections();
  ASSERT_EQ(open.size(), 2u);

  mention("EvRun", "1700000003.000001", "runbook run hold env=staging", open[0]);
  ASSERT_TRUE(eventually([&] {
    return rows(
               "SELECT r.owner, s.status FROM runbook_runs r JOIN runbook_steps s ON "
               "s.run_id = r.id WHERE r.id = 1 AND s.name = 'hold'",
               2) == std::vector<std::string>{"a|started"};
  })) << dump(*a, *b);
  a->send_signal(SIGKILL);
  EXPECT_EQ(a->wait(), 128 + SIGKILL);
  write_file(dir.file("gate"), "open\n");

  ASSERT_TRUE(eventually([&] {
    const auto status = rows("SELECT status FROM runbook_runs WHERE id = 1");
    return !status.empty() && status[0] == "succeeded";
  })) << dump(*a, *b);
  EXPECT_EQ(rows("SELECT owner, epoch FROM runbook_runs WHERE id = 1", 2),
            (std::vector<std::string>{"b|1"}));
  // a's attempt was cut off by the takeover; b ran the idempotent step again, then the rest.
  EXPECT_EQ(
      rows("SELECT name, attempt, status FROM runbook_steps WHERE run_id = 1 ORDER BY id", 3),
      (std::vector<std::string>{"hold|1|interrupted", "hold|2|succeeded", "tell|1|succeeded"}));
  int taken = 0, succeeded = 0;
  for (const auto& row : rows("SELECT action, details FROM audit_log ORDER BY seq", 2)) {
    taken += has(row, "runbook.taken_over|") ? 1 : 0;
    succeeded += has(row, "runbook.succeeded|") ? 1 : 0;
  }
  EXPECT_EQ(taken, 1);
  EXPECT_EQ(succeeded, 1);
  const auto posts_with = [&](const std::string& text) {
    int count = 0;
    for (const auto& message : slack.messages())
      count += has(message.text, text) ? 1 : 0;
    return count;
  };
  EXPECT_TRUE(eventually([&] { return posts_with("released in staging") >= 1; })) << dump(*a, *b);
  EXPECT_EQ(posts_with("was taken over by replica b"), 1) << dump(*a, *b);
  EXPECT_EQ(posts_with("released in staging"), 1) << dump(*a, *b);

  b->send_signal(SIGTERM);
  EXPECT_EQ(b->wait(), 0) << b->output();
  auto [code, verified] =
      run_command({shipmate_binary(), "audit", "verify", "--config", dir.file("b.yaml")}, "",
                  {{"SHIPMATE_TEST_DATABASE", uri}, {"SHIPMATE_TEST_GITLAB", "x"}});
  EXPECT_EQ(code, 0) << verified;
}

// Issue 17, a frozen replica: a is stopped (SIGSTOP) while it runs a runbook step, past its
// lease. b takes the run over and finishes it. When a wakes (SIGCONT) its lease has lapsed by its
// own clock: it stops acting and exits with status 1, and nothing it would still write lands
// (its step's end is refused by the epoch check, and it posts no second outcome).
TEST_F(TwoReplicas, AReplicaFrozenPastItsLeaseIsFencedOutAndExitsWhenItWakes) {
  auto a = start_replica("a");
  ASSERT_TRUE(slack.wait_for_connections(1)) << a->output();
  ASSERT_TRUE(a->wait_for_output("ready:")) << a->output();
  auto b = start_replica("b");
  ASSERT_TRUE(slack.wait_for_connections(2)) << b->output();
  ASSERT_TRUE(b->wait_for_output("ready:")) << b->output();
  const auto open = slack.open_connections();
  ASSERT_EQ(open.size(), 2u);

  mention("EvRun", "1700000004.000001", "runbook run hold env=staging", open[0]);
  ASSERT_TRUE(eventually([&] {
    return rows(
               "SELECT r.owner, s.status FROM runbook_runs r JOIN runbook_steps s ON "
               "s.run_id = r.id WHERE r.id = 1 AND s.name = 'hold'",
               2) == std::vector<std::string>{"a|started"};
  })) << dump(*a, *b);
  a->send_signal(SIGSTOP);
  // b takes the run over once a's lease (2 s) and the grace have passed, and runs the step again.
  ASSERT_TRUE(eventually([&] {
    return rows("SELECT owner, epoch FROM runbook_runs WHERE id = 1", 2) ==
               std::vector<std::string>{"b|1"} &&
           rows("SELECT attempt FROM runbook_steps WHERE run_id = 1 AND status = 'started'") ==
               std::vector<std::string>{"2"};
  })) << dump(*a, *b);
  write_file(dir.file("gate"), "open\n");  // both attempts' processes may finish now
  ASSERT_TRUE(eventually([&] {
    const auto status = rows("SELECT status FROM runbook_runs WHERE id = 1");
    return !status.empty() && status[0] == "succeeded";
  })) << dump(*a, *b);

  a->send_signal(SIGCONT);
  EXPECT_EQ(a->wait(), 1) << a->output();
  EXPECT_TRUE(has(a->output(), "replica a lost its lease")) << a->output();
  EXPECT_EQ(rows("SELECT owner, epoch FROM runbook_runs WHERE id = 1", 2),
            (std::vector<std::string>{"b|1"}));
  EXPECT_EQ(
      rows("SELECT name, attempt, status FROM runbook_steps WHERE run_id = 1 ORDER BY id", 3),
      (std::vector<std::string>{"hold|1|interrupted", "hold|2|succeeded", "tell|1|succeeded"}));
  const auto posts_with = [&](const std::string& text) {
    int count = 0;
    for (const auto& message : slack.messages())
      count += has(message.text, text) ? 1 : 0;
    return count;
  };
  EXPECT_TRUE(eventually([&] { return posts_with("released in staging") >= 1; })) << dump(*a, *b);
  EXPECT_EQ(posts_with("released in staging"), 1) << dump(*a, *b);
  EXPECT_EQ(posts_with("was taken over by replica b"), 1) << dump(*a, *b);

  b->send_signal(SIGTERM);
  EXPECT_EQ(b->wait(), 0) << b->output();
  auto [code, verified] =
      run_command({shipmate_binary(), "audit", "verify", "--config", dir.file("b.yaml")}, "",
                  {{"SHIPMATE_TEST_DATABASE", uri}, {"SHIPMATE_TEST_GITLAB", "x"}});
  EXPECT_EQ(code, 0) << verified;
}

}  // namespace
}  // namespace shipmate::testing
