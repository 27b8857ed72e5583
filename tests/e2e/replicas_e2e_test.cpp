// End-to-end: two `shipmate serve` replicas on one PostgreSQL (the ctest PostgreSQL fixture), one
// fake Slack whose Socket Mode envelopes reach both, a fake GitLab building the deploys and a fake
// Kubernetes cluster rolling them out. Commands redelivered to the other replica run exactly once
// across both; a replica killed (SIGKILL), frozen (SIGSTOP) or cut off from the database (a
// Unix-socket proxy in front of PostgreSQL, cut) loses its deploys, runbook runs and unsent
// replies to the other, which carries each on once; a rolling restart (SIGTERM one at a time)
// hands the work over instead of cancelling it.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
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
#include "tests/support/fake_gitlab.h"
#include "tests/support/fake_kubernetes.h"
#include "tests/support/fake_slack.h"
#include "tests/support/postgres_server.h"
#include "tests/support/test_support.h"
#include "tests/support/unix_socket_proxy.h"

namespace shipmate::testing {
namespace {

using namespace std::chrono_literals;

// Replicas of `shipmate serve` on one PostgreSQL, the fake Slack, a fake GitLab and a fake
// Kubernetes cluster. Each replica has a name, a config file of that name and, while it runs, a
// process and the Slack connection it opened.
class TwoReplicas : public ::testing::Test {
 protected:
  void SetUp() override {
    uri = postgres_server().fresh_database();
    port = free_port();
    gitlab.set_stuck(true);  // the build runs until the test lets it finish
    kube.add_deployment("stg", "api", {{"app", std::string(kImage) + ":v1"}}, 2);
    write_file(dir.file("kubeconfig"), kube.kubeconfig());
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
    const std::string build = R"(
    build:
      provider: gitlab
      api_url: )" + gitlab.api_url() +
                              R"(
      project: group/sub/api
      token: {secret: gl}
      variables: {VERSION: "{version}"}
      poll: 50ms
)";
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
)" + build + R"(  - name: api
    environments: [staging]
    target:
      kind: kubernetes
      kubeconfig: )" + dir.file("kubeconfig") + R"(
      namespaces: {staging: stg}
      deployment: api
      container: app
      image: ")" + kImage + R"("
      timeout: 60s
      poll: 50ms
      watch_window: 1s
)" + build);
    }
  }

  void TearDown() override {
    for (auto& [name, process] : running) {
      if (process)
        process->send_signal(SIGKILL);
    }
  }

  // Starts replica `name` (on `database`, the test database when empty) and waits until it has
  // opened its Slack connection and is ready.
  Subprocess& start(const std::string& name, const std::string& database = "") {
    const auto before = slack.open_connections();
    std::map<std::string, std::string> env{
        {"SLACK_APP_TOKEN", slack.options().app_token},
        {"SLACK_BOT_TOKEN", slack.options().bot_token},
        {"SLACK_API_URL", slack.api_url()},
        {"SHIPMATE_TEST_DATABASE", database.empty() ? uri : database},
        {"SHIPMATE_TEST_GITLAB", FakeGitlab::Options{}.private_token},
        {"SHIPMATE_REPLICA", name}};
    auto& process = running[name];
    process = std::make_unique<Subprocess>(
        std::vector<std::string>{shipmate_binary(), "--log-level", "info", "serve", "--no-terminal",
                                 "--config", dir.file(name + ".yaml")},
        env);
    EXPECT_TRUE(slack.wait_for_connections(static_cast<int>(before.size()) + 1))
        << process->output();
    EXPECT_TRUE(process->wait_for_output("ready:")) << process->output();
    for (int connection : slack.open_connections()) {
      if (std::find(before.begin(), before.end(), connection) == before.end())
        connection_of[name] = connection;
    }
    return *process;
  }

  void start_both() {
    start("a");
    start("b");
  }

  Subprocess& replica(const std::string& name) { return *running.at(name); }

  // Ends replica `name` with `signal` and returns its exit status; its output stays readable
  // through output_of().
  int end(const std::string& name, int signal) {
    auto& process = *running.at(name);
    process.send_signal(signal);
    const int status = process.wait();
    ended[name] +=
        "\n--- run ended by signal " + std::to_string(signal) + " ---\n" + process.output();
    running.at(name).reset();
    return status;
  }
  int kill(const std::string& name) { return end(name, SIGKILL); }
  int stop(const std::string& name) { return end(name, SIGTERM); }

  // Waits for `done`, reading the replicas' output meanwhile (a full pipe would stall them).
  bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline)
        return false;
      for (auto& [name, process] : running) {
        if (process)
          process->wait_for_output("\x01never\x01", 1ms);
      }
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }

  // The first `columns` columns of each row, joined by '|'.
  std::vector<std::string> rows(const std::string& sql, int columns = 1) {
    return database_rows(uri, sql, columns);
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

  int posts_with(const std::string& text) {
    int count = 0;
    for (const auto& message : slack.messages())
      count += has(message.text, text) ? 1 : 0;
    return count;
  }

  // How many audit records have an action of exactly `action`.
  int audited(const std::string& action) {
    int count = 0;
    for (const auto& row : rows("SELECT action FROM audit_log"))
      count += row == action ? 1 : 0;
    return count;
  }

  // The run of runbook `hold` with id 1: its owner and the status of its `hold` step's latest
  // attempt, e.g. "a|2|started".
  std::string hold_step() {
    const auto found = rows(
        "SELECT r.owner, s.attempt, s.status FROM runbook_runs r JOIN runbook_steps s ON "
        "s.run_id = r.id WHERE r.id = 1 AND s.name = 'hold' ORDER BY s.attempt DESC LIMIT 1",
        3);
    return found.empty() ? "" : found[0];
  }

  std::string dump() {
    std::string out = "messages:\n";
    for (const auto& run : rows("SELECT id, chat_ref, message_ref FROM runbook_runs", 3))
      out += "  run " + run + "\n";
    for (const auto& deploy : rows("SELECT id, owner, epoch, state FROM deploys", 4))
      out += "  deploy " + deploy + "\n";
    for (const auto& message : slack.messages())
      out += "  [" + message.ts + " thread " + message.thread_ts + "] " + message.text + "\n";
    for (auto& [name, process] : running) {
      if (process) {
        process->wait_for_output("\x01never\x01", 200ms);
        out += "replica " + name + " (running):\n" + process->output() + "\n";
      }
    }
    for (const auto& [name, output] : ended)
      out += "replica " + name + " (earlier runs):" + output + "\n";
    return out;
  }

  // `shipmate audit verify` on the shared database: the chain is intact.
  void expect_chain_verifies() {
    auto [code, verified] =
        run_command({shipmate_binary(), "audit", "verify", "--config", dir.file("b.yaml")}, "",
                    {{"SHIPMATE_TEST_DATABASE", uri}, {"SHIPMATE_TEST_GITLAB", "x"}});
    EXPECT_EQ(code, 0) << verified;
    EXPECT_TRUE(has(verified, "audit log intact")) << verified;
  }

  // The state of deploy 1 and the status of runbook run 1 ("" before they exist).
  std::string deploy_state() {
    const auto state = rows("SELECT state FROM deploys WHERE id = 1");
    return state.empty() ? "" : state[0];
  }
  std::string run_status() {
    const auto status = rows("SELECT status FROM runbook_runs WHERE id = 1");
    return status.empty() ? "" : status[0];
  }

  // Alice asks replica `name` for `text` (a deploy) and waits until that replica owns deploy 1
  // and its CI build has started.
  void deploy_building_on(const std::string& name, const std::string& event, const std::string& ts,
                          const std::string& text) {
    mention(event, ts, text, connection_of[name]);
    ASSERT_TRUE(eventually([&] {
      const auto deploy = rows("SELECT ci_run_id, owner, state FROM deploys WHERE id = 1", 3);
      return !deploy.empty() && has(deploy[0], "|" + name + "|building") &&
             deploy[0].front() != '|';
    })) << dump();
  }

  // Alice starts runbook `hold` on replica `name`, which waits until its step runs there.
  void hold_running_on(const std::string& name, const std::string& event, const std::string& ts) {
    mention(event, ts, "runbook run hold env=staging", connection_of[name]);
    ASSERT_TRUE(eventually([&] { return hold_step() == name + "|1|started"; })) << dump();
  }

  // Once it has appeared, `text` was posted exactly once.
  void expect_posted_once(const std::string& text) {
    EXPECT_TRUE(eventually([&] { return posts_with(text) >= 1; })) << dump();
    EXPECT_EQ(posts_with(text), 1) << dump();
  }

  // Run 1 of `hold`, taken over by b from a (epoch 1) and finished there: a's attempt was cut off
  // by the takeover, b ran the idempotent step again and the rest; the takeover and the outcome
  // were each recorded and told once.
  void expect_hold_taken_over_by_b_and_finished_once() {
    ASSERT_TRUE(eventually([&] { return run_status() == "succeeded"; })) << dump();
    EXPECT_EQ(rows("SELECT owner, epoch FROM runbook_runs WHERE id = 1", 2),
              (std::vector<std::string>{"b|1"}));
    EXPECT_EQ(
        rows("SELECT name, attempt, status FROM runbook_steps WHERE run_id = 1 ORDER BY id", 3),
        (std::vector<std::string>{"hold|1|interrupted", "hold|2|succeeded", "tell|1|succeeded"}));
    EXPECT_EQ(audited("runbook.taken_over"), 1);
    EXPECT_EQ(audited("runbook.succeeded"), 1);
    expect_posted_once("released in staging");
    EXPECT_EQ(posts_with("was taken over by replica b"), 1) << dump();
  }

  // The last replica running, `name`, stops cleanly (status 0); the chain verifies.
  void stop_last_and_verify_chain(const std::string& name) {
    EXPECT_EQ(stop(name), 0) << dump();
    expect_chain_verifies();
  }

  static constexpr const char* kImage = "registry.local:5000/team/api";
  TempDir dir;
  FakeSlack slack;
  FakeGitlab gitlab;
  FakeKubernetes kube;
  std::string uri;
  int port = 0;
  std::map<std::string, std::unique_ptr<Subprocess>> running;
  std::map<std::string, int> connection_of;
  std::map<std::string, std::string> ended;  // output of earlier runs, by replica
};

TEST_F(TwoReplicas, CommandsRunOnceAcrossBothAndAKilledReplicasDeployIsTakenOverAndFinished) {
  start_both();
  const int to_a = connection_of["a"];
  const int to_b = connection_of["b"];

  // Every command delivered to one replica and redelivered (Slack's retry) to the other: each is
  // answered exactly once across the two.
  constexpr int kCommands = 10;
  for (int i = 0; i < kCommands; ++i) {
    const std::string ts = "1700000001.00000" + std::to_string(i);
    const std::string event = "EvPing" + std::to_string(i);
    mention(event, ts, "ping", i % 2 == 0 ? to_a : to_b);
    mention(event, ts, "ping", i % 2 == 0 ? to_b : to_a, 1);
  }
  ASSERT_TRUE(slack.wait_for_acks(2 * kCommands)) << dump();
  // Fences, one per replica: once their pongs are out, every earlier command each replica
  // accepted has answered.
  mention("EvFenceA", "1700000001.900000", "ping", to_a);
  mention("EvFenceB", "1700000001.900001", "ping", to_b);
  ASSERT_TRUE(eventually([&] {
    return replies_containing("1700000001.900000", "pong") == 1 &&
           replies_containing("1700000001.900001", "pong") == 1;
  })) << dump();
  for (int i = 0; i < kCommands; ++i) {
    EXPECT_EQ(replies_containing("1700000001.00000" + std::to_string(i), "pong"), 1)
        << "command " << i << "\n"
        << dump();
  }

  // A deploy on replica a: its build starts, then a is killed while the build runs.
  ASSERT_NO_FATAL_FAILURE(
      deploy_building_on("a", "EvDeploy", "1700000002.000001", "deploy hello v1 to staging"));
  ASSERT_EQ(gitlab.pipelines().size(), 1u);
  EXPECT_EQ(kill("a"), 128 + SIGKILL);
  gitlab.release_stuck();

  // b takes it over once a's lease (2 s) and the grace have passed, follows the same pipeline
  // and finishes the deploy.
  ASSERT_TRUE(eventually([&] { return deploy_state() == "succeeded"; })) << dump();
  EXPECT_EQ(rows("SELECT owner, epoch FROM deploys WHERE id = 1", 2),
            (std::vector<std::string>{"b|1"}));
  EXPECT_EQ(gitlab.pipelines().size(), 1u);  // followed, never triggered again
  EXPECT_EQ(http_get(port, "/") ? http_get(port, "/")->body : "<no answer>", "hello from v1\n");

  const auto audit = rows("SELECT actor, action, details FROM audit_log ORDER BY seq", 3);
  for (const auto& row : audit) {
    if (has(row, "deploy.taken_over")) {
      EXPECT_TRUE(has(row, "#1 by replica b: replica a")) << row;
    }
  }
  EXPECT_EQ(audited("deploy.taken_over"), 1);
  EXPECT_EQ(audited("deploy.resumed"), 1);
  EXPECT_EQ(audited("deploy.succeeded"), 1);
  std::vector<std::string> events =
      rows("SELECT to_state FROM deploy_events WHERE deploy_id = 1 ORDER BY id");
  EXPECT_EQ(events, (std::vector<std::string>{"requested", "building", "deploying", "succeeded"}));
  // In the chat: b announced the takeover where the deploy was asked for, and its outcome.
  // The outcome reaches the chat after the database: wait for it, then count.
  expect_posted_once("Deploy #1 succeeded");
  // (b's status message, "resumed after a restart; following its build", became that outcome.)
  EXPECT_TRUE(replica("b").wait_for_output("taken over by replica b")) << dump();
  EXPECT_TRUE(rows("SELECT key FROM inbox_pending").empty());

  // A clean stop releases b's lease; the chain verifies.
  stop_last_and_verify_chain("b");
  EXPECT_EQ(rows("SELECT holder, expires_at FROM leases WHERE name = 'replica:b'", 2),
            (std::vector<std::string>{"b|0"}));
}

// Issue 17, runbooks: the replica driving a run is killed with SIGKILL while a step runs; the
// other takes the run over once the dead one's lease has lapsed (one compare-and-set that bumps
// the epoch), says so once in the run's thread, reconciles it as a restart would (the idempotent
// step runs again) and finishes it; the chain verifies.
TEST_F(TwoReplicas, AKilledReplicasRunbookRunIsTakenOverReconciledAndFinishedOnce) {
  start_both();
  ASSERT_NO_FATAL_FAILURE(hold_running_on("a", "EvRun", "1700000003.000001"));
  EXPECT_EQ(kill("a"), 128 + SIGKILL);
  write_file(dir.file("gate"), "open\n");

  ASSERT_NO_FATAL_FAILURE(expect_hold_taken_over_by_b_and_finished_once());
  stop_last_and_verify_chain("b");
}

// Issue 17, a frozen replica: a is stopped (SIGSTOP) while it runs a runbook step, past its
// lease. b takes the run over and finishes it. When a wakes (SIGCONT) its lease has lapsed by its
// own clock: it stops acting and exits with status 1, and nothing it would still write lands
// (its step's end is refused by the epoch check, and it posts no second outcome).
TEST_F(TwoReplicas, AReplicaFrozenPastItsLeaseIsFencedOutAndExitsWhenItWakes) {
  start_both();
  ASSERT_NO_FATAL_FAILURE(hold_running_on("a", "EvRun", "1700000004.000001"));
  replica("a").send_signal(SIGSTOP);
  // b takes the run over once a's lease (2 s) and the grace have passed, and runs the step again.
  ASSERT_TRUE(eventually([&] {
    return rows("SELECT owner, epoch FROM runbook_runs WHERE id = 1", 2) ==
               std::vector<std::string>{"b|1"} &&
           hold_step() == "b|2|started";
  })) << dump();
  write_file(dir.file("gate"), "open\n");  // both attempts' processes may finish now
  ASSERT_TRUE(eventually([&] { return run_status() == "succeeded"; })) << dump();

  // a wakes: it stops acting and exits; none of its late writes landed.
  EXPECT_EQ(end("a", SIGCONT), 1) << dump();
  EXPECT_TRUE(has(ended["a"], "replica a lost its lease")) << dump();
  ASSERT_NO_FATAL_FAILURE(expect_hold_taken_over_by_b_and_finished_once());
  stop_last_and_verify_chain("b");
}

// Issue 17, replies left behind: a records its answers to three commands, but Slack rate-limits
// its first chat.postMessage for a minute, so none is sent when a is killed with SIGKILL. b
// adopts a's unsent outbox rows once a's lease has lapsed and sends each exactly once.
TEST_F(TwoReplicas, ASurvivorSendsADeadReplicasUnsentRepliesExactlyOnce) {
  start_both();
  slack.rate_limit_next("chat.postMessage", 60);
  constexpr int kCommands = 3;
  for (int i = 0; i < kCommands; ++i) {
    mention("EvHeld" + std::to_string(i), "1700000005.00000" + std::to_string(i), "ping",
            connection_of["a"]);
  }
  // Recorded (acked, answered in the outbox) and not sent: a's sender waits out the 429.
  ASSERT_TRUE(eventually([&] {
    return rows("SELECT replica, state FROM outbox ORDER BY seq", 2) ==
               std::vector<std::string>(kCommands, "a|pending") &&
           !slack.calls("chat.postMessage").empty();
  })) << dump();
  EXPECT_EQ(posts_with("pong"), 0) << dump();
  EXPECT_EQ(kill("a"), 128 + SIGKILL);

  ASSERT_TRUE(eventually([&] {
    return rows("SELECT replica, state FROM outbox ORDER BY seq", 2) ==
           std::vector<std::string>(kCommands, "b|sent");
  })) << dump();
  // A fence through b: once its pong is out, anything b would still send has been sent.
  mention("EvFence", "1700000005.900000", "ping", connection_of["b"]);
  ASSERT_TRUE(eventually([&] { return replies_containing("1700000005.900000", "pong") == 1; }))
      << dump();
  for (int i = 0; i < kCommands; ++i) {
    EXPECT_EQ(replies_containing("1700000005.00000" + std::to_string(i), "pong"), 1)
        << "command " << i << "\n"
        << dump();
  }
  EXPECT_TRUE(replica("b").wait_for_output("unsent replies to slack adopted from replica a"))
      << dump();
  EXPECT_TRUE(rows("SELECT key FROM inbox_pending").empty());
  stop_last_and_verify_chain("b");
}

// Issue 17, a rolling restart: SIGTERM to one replica at a time, each started again before the
// next is stopped, hands the work over instead of cancelling it. A deploy (built by GitLab, rolled
// out on the fake cluster) and a runbook run are in flight on a; a stops (status 0) and b takes
// both over at its next lease renewal; a starts again; the deploy moves on to its rollout, which
// the cluster holds; b stops and a takes both back; b starts again; the cluster and the gate are
// released. Every deploy and run reaches exactly one terminal state, nothing was cancelled,
// each outcome is announced once, the pipeline ran once, and the chain verifies.
TEST_F(TwoReplicas, ARollingRestartHandsTheWorkOverAndCancelsNothing) {
  start_both();
  ASSERT_NO_FATAL_FAILURE(
      deploy_building_on("a", "EvDeploy", "1700000006.000001", "deploy api v2 to staging"));
  ASSERT_NO_FATAL_FAILURE(hold_running_on("a", "EvRun", "1700000006.000002"));
  kube.pause_controller(true);  // the rollout, once it starts, waits for the test

  // a stops: it parks both (no owner, next epoch) and releases its lease; b takes both over.
  const auto a_stopped = std::chrono::steady_clock::now();
  EXPECT_EQ(stop("a"), 0) << dump();
  ASSERT_TRUE(eventually([&] {
    return rows("SELECT owner, state FROM deploys WHERE id = 1", 2) ==
               std::vector<std::string>{"b|building"} &&
           hold_step() == "b|2|started";
  })) << dump();
  const auto handed = std::chrono::steady_clock::now() - a_stopped;
  std::printf("[ rolling ] a's SIGTERM to b holding both: %lld ms (lease 2 s)\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(handed).count()));
  EXPECT_TRUE(has(ended["a"], "handed over")) << dump();
  EXPECT_FALSE(has(ended["a"], "was cancelled")) << dump();

  start("a");
  gitlab.release_stuck();  // b follows the same pipeline to its end and starts the rollout
  ASSERT_TRUE(eventually([&] {
    return rows("SELECT owner, state FROM deploys WHERE id = 1", 2) ==
           std::vector<std::string>{"b|deploying"};
  })) << dump();

  // b stops in the middle of the rollout: a carries both on.
  EXPECT_EQ(stop("b"), 0) << dump();
  ASSERT_TRUE(eventually([&] {
    return rows("SELECT owner FROM deploys WHERE id = 1") == std::vector<std::string>{"a"} &&
           hold_step() == "a|3|started";
  })) << dump();
  start("b");
  kube.pause_controller(false);
  write_file(dir.file("gate"), "open\n");

  ASSERT_TRUE(eventually([&] {
    return deploy_state() == "succeeded" && run_status() == "succeeded";
  })) << dump();
  EXPECT_EQ(kube.image_of("stg", "api", "app"), std::string(kImage) + ":v2");
  EXPECT_EQ(gitlab.pipelines().size(), 1u);  // followed by each owner, never triggered again
  // Four owners' epochs: a 0, parked 1, b 2, parked 3, a 4.
  EXPECT_EQ(rows("SELECT owner, epoch FROM deploys WHERE id = 1", 2),
            (std::vector<std::string>{"a|4"}));
  for (const auto& state : rows("SELECT to_state FROM deploy_events WHERE deploy_id = 1")) {
    EXPECT_NE(state, "cancelled") << dump();
    EXPECT_NE(state, "failed") << dump();
  }
  EXPECT_EQ(rows("SELECT name, attempt, status FROM runbook_steps WHERE run_id = 1 ORDER BY id", 3),
            (std::vector<std::string>{"hold|1|interrupted", "hold|2|interrupted",
                                      "hold|3|succeeded", "tell|1|succeeded"}));
  EXPECT_EQ(audited("deploy.handed_over"), 2);
  EXPECT_EQ(audited("deploy.taken_over"), 2);
  EXPECT_EQ(audited("deploy.cancelled"), 0);
  EXPECT_EQ(audited("deploy.succeeded"), 1);
  EXPECT_EQ(audited("runbook.handed_over"), 2);
  EXPECT_EQ(audited("runbook.taken_over"), 2);
  EXPECT_EQ(audited("runbook.succeeded"), 1);
  EXPECT_TRUE(eventually([&] {
    return posts_with("Deploy #1 succeeded") >= 1 && posts_with("released in staging") >= 1;
  })) << dump();
  EXPECT_EQ(posts_with("Deploy #1 succeeded"), 1) << dump();
  EXPECT_EQ(posts_with("released in staging"), 1) << dump();
  EXPECT_EQ(posts_with("cancelled"), 0) << dump();
  EXPECT_TRUE(rows("SELECT key FROM inbox_pending").empty());

  EXPECT_EQ(stop("a"), 0) << dump();
  stop_last_and_verify_chain("b");
}

// Issue 17, a replica cut off from the database (not frozen): a reaches PostgreSQL through a
// Unix-socket proxy, which the test cuts while a owns a deploy. a cannot renew its lease, stops
// acting and exits with status 1 and a one-line reason; b takes the deploy over within the lease
// and the grace and finishes it; nothing of a's reaches the database after the cut.
TEST_F(TwoReplicas, AReplicaCutOffFromTheDatabaseExitsAndItsDeployIsTakenOver) {
  TempDir proxy_dir;
  const std::string socket = "/.s.PGSQL.5432";
  UnixSocketProxy proxy(postgres_server().socket_dir() + socket, proxy_dir.path() + socket);
  std::string through_proxy = uri;
  const std::string host = "host=" + postgres_server().socket_dir();
  ASSERT_NE(through_proxy.find(host), std::string::npos) << uri;
  through_proxy.replace(through_proxy.find(host), host.size(), "host=" + proxy_dir.path());
  start("a", through_proxy);
  start("b");

  ASSERT_NO_FATAL_FAILURE(
      deploy_building_on("a", "EvDeploy", "1700000007.000001", "deploy api v2 to staging"));
  const auto audit_before = rows("SELECT seq FROM audit_log").size();
  const auto cut_at = std::chrono::steady_clock::now();
  proxy.cut();
  const auto sent_at_cut = proxy.bytes_upstream();

  // a finds its lease lapsed by its own clock (it cannot renew) and exits, saying why.
  const int status = replica("a").wait(std::chrono::seconds(60));
  EXPECT_EQ(status, 1) << dump();
  const std::string out = replica("a").output();
  ended["a"] += out;
  running["a"].reset();
  EXPECT_TRUE(has(out, "replica a lost its lease")) << out;
  // b takes the deploy over once a's lease and the grace have passed, and finishes it.
  ASSERT_TRUE(eventually([&] {
    return rows("SELECT owner, epoch FROM deploys WHERE id = 1", 2) ==
           std::vector<std::string>{"b|1"};
  })) << dump();
  const auto gap = std::chrono::steady_clock::now() - cut_at;
  std::printf(
      "[ cut off ] cut to takeover: %lld ms (lease 2 s, grace 0.4 s, renewal 0.67 s)\n",
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(gap).count()));
  // Never before a's lease had ended: it was renewed at most a renewal period (0.67 s) before
  // the cut, and b adds the grace (0.4 s): 2 - 0.67 + 0.4 s. (Load only makes it later.)
  EXPECT_GE(gap, std::chrono::milliseconds(1'700));
  gitlab.release_stuck();
  ASSERT_TRUE(eventually([&] { return deploy_state() == "succeeded"; })) << dump();
  EXPECT_EQ(kube.image_of("stg", "api", "app"), std::string(kImage) + ":v2");
  EXPECT_EQ(gitlab.pipelines().size(), 1u);

  // Nothing of a's after the cut: no byte went through, no audit record is a's (every record
  // since names b's takeover, resumption and outcome), no event but the deploy's own.
  EXPECT_EQ(proxy.bytes_upstream(), sent_at_cut);
  const auto audit_after = rows("SELECT action, details FROM audit_log ORDER BY seq", 2);
  for (std::size_t i = audit_before; i < audit_after.size(); ++i)
    EXPECT_FALSE(has(audit_after[i], "shipmate.stopped")) << audit_after[i];
  EXPECT_EQ(audited("deploy.cancelled"), 0);
  EXPECT_EQ(rows("SELECT to_state FROM deploy_events WHERE deploy_id = 1 ORDER BY id"),
            (std::vector<std::string>{"requested", "building", "deploying", "succeeded"}));
  expect_posted_once("Deploy #1 succeeded");
  // a, its lease lost, said nothing about the deploy b took over (no "internal error, try again").
  EXPECT_EQ(posts_with("Internal error"), 0) << dump();

  stop_last_and_verify_chain("b");
}

}  // namespace
}  // namespace shipmate::testing
