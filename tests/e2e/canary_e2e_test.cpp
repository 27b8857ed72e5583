// End-to-end: the real shipmate binary rolls out canary and blue-green deploys of the sample
// service's real releases on the local-process target, while a person types into the running
// chat. Metric checks are answered by the real Prometheus (Debian's binary, scraping an exporter
// the test sets) and, for broken answers, by the fake Prometheus or by nothing at all.
//
// One Prometheus serves the whole suite (its first scrape lands seconds after start); each test
// uses its own series, told apart by a `test` label, so tests never see each other's values.
// Commands are written to the chat's stdin as the session goes on, the way a person types.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <thread>

#include "tests/support/e2e_support.h"
#include "tests/support/fake_prometheus.h"
#include "tests/support/real_prometheus.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

using namespace std::chrono_literals;

// The private port a release was started on, from "starting hello v1 on 127.0.0.1:PORT".
int private_port(const std::string& output, const std::string& version) {
  const std::string marker = "starting hello " + version + " on 127.0.0.1:";
  const auto at = output.find(marker);
  return at == std::string::npos ? 0 : std::atoi(output.c_str() + at + marker.size());
}

// The check every test uses, on its own series: shipmate_test_error_ratio{test="<name>",...}.
std::string series(const std::string& test, const std::string& version) {
  return "shipmate_test_error_ratio{test=\"" + test + "\",version=\"" + version + "\"}";
}

class CanaryE2e : public ::testing::Test {
 protected:
  void SetUp() override { port = free_port(); }

  // `strategy` is a YAML flow mapping (see strategy_for).
  void write_config(const std::string& strategy, const std::string& prometheus_url) {
    write_file(dir.file("shipmate.yaml"), R"(shipmate:
  database: state/shipmate.db
  state_dir: state/run
terminal:
  user: alice
environments:
  - name: staging
    allow: {deploy: [developer], rollback: [developer], lock: [developer]}
users:
  - {id: alice, name: Alice, roles: [developer]}
metrics: {prometheus: ')" + prometheus_url +
                                              R"(', timeout: 2s}
services:
  - name: hello
    environments: [staging]
    strategy: )" + strategy + R"(
    target:
      kind: local
      releases: )" + source_dir() + R"(/examples/hello/releases
      start: [python3, server.py]
      health: {http: /health, timeout: 1s, retries: 50, interval: 100ms}
      stop_grace: 2s
      ports: {staging: )" + std::to_string(port) +
                                              "}\n");
  }

  // A canary (or other) strategy whose one check reads this test's series.
  static std::string strategy_for(const std::string& test, const std::string& rest) {
    return "{" + rest + ", checks: [{name: error_rate, query: 'shipmate_test_error_ratio{test=\"" +
           test + "\",version=\"{version}\"}', max: 0.05}]}";
  }

  std::unique_ptr<Subprocess> start_chat() {
    return std::make_unique<Subprocess>(std::vector<std::string>{
        shipmate_binary(), "chat", "--config", dir.file("shipmate.yaml"), "--as", "alice"});
  }

  // Sends one command and waits until `expect` shows up in the output that follows it.
  void finish(Subprocess& chat) {
    chat.close_stdin();
    EXPECT_EQ(chat.wait(), 0) << chat.output();
  }

  std::string body_at(int at) {
    auto response = http_get(at, "/");
    return response ? response->body : "<no answer>";
  }

  // How many of `count` new connections through the environment's port v2 answered.
  int answered_by_v2(int count) {
    int v2 = 0;
    for (int i = 0; i < count; ++i) {
      const std::string body = body_at(port);
      EXPECT_TRUE(body == "hello from v1\n" || body == "hello from v2\n") << body;
      v2 += body == "hello from v2\n" ? 1 : 0;
    }
    return v2;
  }

  // Waits (as a failure guard, not a timing claim) until nothing answers on `at` any more.
  static bool stops_answering(int at) {
    for (int i = 0; i < 100; ++i) {
      if (!http_get(at, "/", 200ms).has_value())
        return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  std::string db() const { return dir.file("state/shipmate.db"); }
  std::vector<std::string> states() const {
    return query(db(), "SELECT id, kind, version, state FROM deploys ORDER BY id");
  }
  std::vector<std::string> events(int id) const {
    return query(db(), "SELECT to_state FROM deploy_events WHERE deploy_id = " +
                           std::to_string(id) + " ORDER BY id");
  }
  bool audit_intact() {
    auto [code, output] =
        run_command({shipmate_binary(), "audit", "verify", "--config", dir.file("shipmate.yaml")});
    EXPECT_TRUE(has(output, "intact")) << output;
    return code == 0;
  }

  TempDir dir;
  int port = 0;
};

// The tests whose checks the real Prometheus answers. Prometheus takes seconds to scrape a new
// target the first time, so the suite shares one and each test publishes its own series.
class CanaryRealPrometheus : public CanaryE2e {
 protected:
  static void SetUpTestSuite() {
    if (RealPrometheus::find_binary().empty())
      return;
    exporter_ = new MetricsExporter();
    exporter_->set("shipmate_test_up", 1);
    RealPrometheus::Options options;
    options.targets = {exporter_->target()};
    auto started = RealPrometheus::start(options);
    if (!started) {
      problem_ = "prometheus did not start: " + started.error().message;
      return;
    }
    prometheus_ = started->release();
    // After the first scrape every value set lands within a scrape interval.
    if (!prometheus_->wait_for_value(
            "shipmate_test_up", [](double value) { return value == 1; }, 30s)) {
      problem_ = "prometheus never scraped the exporter: " + prometheus_->log();
    }
  }

  static void TearDownTestSuite() {
    delete prometheus_;
    prometheus_ = nullptr;
    delete exporter_;
    exporter_ = nullptr;
    problem_.clear();
  }

  void SetUp() override {
    CanaryE2e::SetUp();
    if (RealPrometheus::find_binary().empty()) {
      GTEST_SKIP() << "no prometheus executable (apt-get install prometheus, or set "
                      "SHIPMATE_PROMETHEUS): the real-Prometheus tests are skipped";
    }
    ASSERT_TRUE(prometheus_ != nullptr && problem_.empty()) << problem_;
  }

  // Sets a series on the exporter and waits until Prometheus answers with it.
  static void publish(const std::string& name, double value) {
    exporter_->set(name, value);
    auto seen = prometheus_->wait_for_value(
        name, [value](double got) { return std::abs(got - value) < 1e-9; }, 20s);
    ASSERT_TRUE(seen.has_value()) << name << " never reached Prometheus\n" << prometheus_->log();
  }

  static std::string url() { return prometheus_->base_url(); }

  static MetricsExporter* exporter_;
  static RealPrometheus* prometheus_;
  static std::string problem_;
};

MetricsExporter* CanaryRealPrometheus::exporter_ = nullptr;
RealPrometheus* CanaryRealPrometheus::prometheus_ = nullptr;
std::string CanaryRealPrometheus::problem_;

TEST_F(CanaryRealPrometheus, CanaryWalksItsStepsWithRealPrometheusAndPromotes) {
  ASSERT_NO_FATAL_FAILURE(publish(series("walk", "v1"), 0.01));
  ASSERT_NO_FATAL_FAILURE(publish(series("walk", "v2"), 0.01));
  write_config(strategy_for("walk", "kind: canary, steps: [25, 50], bake: 200ms"), url());
  auto chat = start_chat();
  // The first deploy has nothing to split traffic with: it goes in whole and is checked.
  std::string first = say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");
  EXPECT_TRUE(has(first, "check error_rate: 0.01 <= max 0.05")) << first;
  EXPECT_FALSE(has(first, "% of traffic")) << first;

  std::string out = say(*chat, "deploy hello v2 to staging", "Deploy #2 succeeded");
  EXPECT_TRUE(has(out, "Strategy: canary")) << out;
  EXPECT_TRUE(has(out, "v2 is ready beside v1, with no traffic yet")) << out;
  const std::vector<std::string> steps{"v2 takes 25% of traffic (step 1 of 3)",
                                       "v2 takes 50% of traffic (step 2 of 3)",
                                       "v2 takes 100% of traffic (step 3 of 3)"};
  std::size_t at = 0;
  for (const auto& step : steps) {
    const auto found = out.find(step, at);
    ASSERT_NE(found, std::string::npos) << step << " (in order)\n" << out;
    // Each step is checked before the next one starts.
    const auto checked = out.find("check error_rate: 0.01 <= max 0.05", found);
    ASSERT_NE(checked, std::string::npos) << out;
    at = checked;
  }
  EXPECT_TRUE(has(out, "hello v2 is live in staging at http://127.0.0.1:" + std::to_string(port)))
      << out;
  EXPECT_EQ(body_at(port), "hello from v2\n");
  EXPECT_EQ(answered_by_v2(4), 4);
  finish(*chat);

  EXPECT_EQ(states(), (std::vector<std::string>{"1|deploy|v1|succeeded", "2|deploy|v2|succeeded"}));
  EXPECT_EQ(events(2), (std::vector<std::string>{"requested", "deploying", "verifying", "deploying",
                                                 "verifying", "deploying", "verifying", "deploying",
                                                 "succeeded"}));
}

TEST_F(CanaryRealPrometheus, BreachSeenByRealPrometheusRollsBackAndV1KeepsServing) {
  ASSERT_NO_FATAL_FAILURE(publish(series("breach", "v1"), 0.01));
  ASSERT_NO_FATAL_FAILURE(publish(series("breach", "v2"), 0.4));
  write_config(strategy_for("breach", "kind: canary, steps: [25, 50], bake: 200ms"), url());
  auto chat = start_chat();
  say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");
  std::string out = say(*chat, "deploy hello v2 to staging", "Deploy #2 rolled back");
  EXPECT_TRUE(has(out,
                  "Deploy #2 rolled back: check failed: error_rate: 0.4 > max 0.05 (query: "
                  "shipmate_test_error_ratio{test=\"breach\",version=\"v2\"})"))
      << out;
  EXPECT_TRUE(has(out, "staging serves hello v1 again")) << out;
  // The breach came at the first step: traffic never went further.
  EXPECT_TRUE(has(out, "v2 takes 25% of traffic")) << out;
  EXPECT_FALSE(has(out, "v2 takes 50% of traffic")) << out;
  EXPECT_EQ(body_at(port), "hello from v1\n");
  EXPECT_EQ(answered_by_v2(8), 0);
  const int candidate = private_port(out, "v2");
  ASSERT_NE(candidate, 0) << out;
  EXPECT_TRUE(stops_answering(candidate)) << "the v2 candidate still runs";
  finish(*chat);

  EXPECT_EQ(states(),
            (std::vector<std::string>{"1|deploy|v1|succeeded", "2|deploy|v2|rolled_back"}));
  EXPECT_EQ(query(db(), "SELECT COUNT(*) FROM audit_log WHERE action = 'deploy.rolled_back'"),
            std::vector<std::string>{"1"});
  EXPECT_TRUE(audit_intact());
}

TEST_F(CanaryRealPrometheus, NoDataAsksAndEachContinueTakesTheNextStep) {
  // v2 has no series at all.
  ASSERT_NO_FATAL_FAILURE(publish(series("nodata_continue", "v1"), 0.01));
  write_config(strategy_for("nodata_continue", "kind: canary, steps: [25, 50], bake: 200ms"),
               url());
  auto chat = start_chat();
  say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");

  std::string out = say(*chat, "deploy hello v2 to staging", "Continue or roll back?");
  EXPECT_TRUE(has(out,
                  "v2 takes 25% of traffic (step 1 of 3), but the checks could not decide: "
                  "error_rate: no data (query returned an empty vector)"))
      << out;
  EXPECT_TRUE(has(out, "Type: continue 2  or  abort 2")) << out;
  EXPECT_EQ(query(db(), "SELECT state FROM deploys WHERE id = 2"),
            std::vector<std::string>{"verifying"});
  // Paused at 25%: exactly one new connection in four reaches the candidate.
  EXPECT_EQ(answered_by_v2(8), 2);

  out = say(*chat, "continue 2", "Continue or roll back?");
  EXPECT_TRUE(has(out, "Continuing deploy #2 (Alice)")) << out;
  EXPECT_TRUE(has(out, "v2 takes 50% of traffic (step 2 of 3), but the checks could not decide"))
      << out;
  EXPECT_EQ(answered_by_v2(8), 4);

  out = say(*chat, "continue 2", "Continue or roll back?");
  EXPECT_TRUE(has(out, "v2 takes 100% of traffic (step 3 of 3), but the checks could not decide"))
      << out;
  out = say(*chat, "continue 2", "Deploy #2 succeeded");
  EXPECT_TRUE(has(out, "hello v2 is live in staging")) << out;
  EXPECT_EQ(body_at(port), "hello from v2\n");
  out = say(*chat, "continue 2", "not waiting for a decision");
  EXPECT_TRUE(has(out, "deploy #2 is not waiting for a decision (it is succeeded)")) << out;
  finish(*chat);

  EXPECT_EQ(states(), (std::vector<std::string>{"1|deploy|v1|succeeded", "2|deploy|v2|succeeded"}));
  EXPECT_EQ(query(db(), "SELECT COUNT(*) FROM audit_log WHERE action = 'deploy.continue'"),
            std::vector<std::string>{"3"});
  EXPECT_TRUE(audit_intact());
}

TEST_F(CanaryRealPrometheus, NoDataAndAbortRollsBack) {
  ASSERT_NO_FATAL_FAILURE(publish(series("nodata_abort", "v1"), 0.01));
  write_config(strategy_for("nodata_abort", "kind: canary, steps: [25, 50], bake: 200ms"), url());
  auto chat = start_chat();
  say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");
  say(*chat, "deploy hello v2 to staging", "Continue or roll back?");
  std::string out = say(*chat, "abort 2", "Deploy #2 rolled back");
  EXPECT_TRUE(has(out, "Rolling back deploy #2 (Alice)")) << out;
  EXPECT_TRUE(has(out,
                  "Deploy #2 rolled back: alice chose to roll back after inconclusive checks "
                  "(error_rate: no data"))
      << out;
  EXPECT_EQ(body_at(port), "hello from v1\n");
  EXPECT_EQ(answered_by_v2(4), 0);
  finish(*chat);
  EXPECT_EQ(states(),
            (std::vector<std::string>{"1|deploy|v1|succeeded", "2|deploy|v2|rolled_back"}));
  EXPECT_TRUE(audit_intact());
}

TEST_F(CanaryRealPrometheus, NobodyAnsweringRollsBackAfterTheDecisionTimeout) {
  ASSERT_NO_FATAL_FAILURE(publish(series("nodata_silence", "v1"), 0.01));
  write_config(strategy_for("nodata_silence",
                            "kind: canary, steps: [25], bake: 200ms, decision_timeout: 1s"),
               url());
  auto chat = start_chat();
  say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");
  std::string out = say(*chat, "deploy hello v2 to staging", "Deploy #2 rolled back");
  EXPECT_TRUE(has(out, "Continue or roll back?")) << out;
  EXPECT_TRUE(has(out, "Deploy #2 rolled back: nobody answered within")) << out;
  EXPECT_TRUE(has(out, "after inconclusive checks (error_rate: no data")) << out;
  EXPECT_EQ(body_at(port), "hello from v1\n");
  finish(*chat);
  EXPECT_EQ(states(),
            (std::vector<std::string>{"1|deploy|v1|succeeded", "2|deploy|v2|rolled_back"}));
}

TEST_F(CanaryE2e, PrometheusAnswering503IsInconclusiveNeverAPassOrABreach) {
  FakePrometheus fake;
  const std::string v1 = series("unavailable", "v1");
  const std::string v2 = series("unavailable", "v2");
  fake.set_vector(v1,
                  {FakePrometheus::Sample{{{"__name__", "shipmate_test_error_ratio"}}, "0.01"}});
  fake.set_error(v2, 503, "timeout", "query timed out in expression evaluation");
  write_config(strategy_for("unavailable", "kind: canary, steps: [25, 50], bake: 200ms"),
               fake.url());
  auto chat = start_chat();
  say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");
  std::string out = say(*chat, "deploy hello v2 to staging", "Continue or roll back?");
  EXPECT_TRUE(has(out,
                  "the checks could not decide: error_rate: Prometheus unavailable (503, "
                  "timeout): query timed out in expression evaluation"))
      << out;
  EXPECT_FALSE(has(out, "rolled back")) << out;
  EXPECT_FALSE(has(out, "succeeded")) << out;
  EXPECT_EQ(query(db(), "SELECT state FROM deploys WHERE id = 2"),
            std::vector<std::string>{"verifying"});
  auto asked = fake.queries();
  EXPECT_EQ(std::count(asked.begin(), asked.end(), v2), 2) << "503 is retried once";
  say(*chat, "abort 2", "Deploy #2 rolled back");
  EXPECT_EQ(body_at(port), "hello from v1\n");
  finish(*chat);
  EXPECT_EQ(states(),
            (std::vector<std::string>{"1|deploy|v1|succeeded", "2|deploy|v2|rolled_back"}));
}

TEST_F(CanaryE2e, UnreachablePrometheusIsInconclusiveEvenForTheFirstDeploy) {
  const int nothing = free_port();  // nobody listens there
  write_config(strategy_for("unreachable", "kind: canary, steps: [50], bake: 200ms"),
               "http://127.0.0.1:" + std::to_string(nothing));
  auto chat = start_chat();
  std::string out = say(*chat, "deploy hello v1 to staging", "Continue or roll back?");
  EXPECT_TRUE(has(out,
                  "the new version serves everything, but the checks could not decide: "
                  "error_rate: Prometheus unreachable"))
      << out;
  say(*chat, "continue 1", "Deploy #1 succeeded");
  out = say(*chat, "deploy hello v2 to staging", "Continue or roll back?");
  EXPECT_TRUE(has(out,
                  "v2 takes 50% of traffic (step 1 of 2), but the checks could not decide: "
                  "error_rate: Prometheus unreachable"))
      << out;
  EXPECT_FALSE(has(out, "rolled back")) << out;
  EXPECT_EQ(query(db(), "SELECT state FROM deploys WHERE id = 2"),
            std::vector<std::string>{"verifying"});
  say(*chat, "abort 2", "Deploy #2 rolled back");
  EXPECT_EQ(body_at(port), "hello from v1\n");
  finish(*chat);
}

TEST_F(CanaryRealPrometheus, BlueGreenSwitchesOnceThenStopsTheOldVersion) {
  ASSERT_NO_FATAL_FAILURE(publish(series("bluegreen", "v1"), 0.0));
  ASSERT_NO_FATAL_FAILURE(publish(series("bluegreen", "v2"), 0.02));
  write_config(strategy_for("bluegreen", "kind: blue-green, bake: 200ms"), url());
  auto chat = start_chat();
  std::string first = say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");
  const int old_port = private_port(first, "v1");
  ASSERT_NE(old_port, 0) << first;
  EXPECT_EQ(body_at(old_port), "hello from v1\n");

  std::string out = say(*chat, "deploy hello v2 to staging", "Deploy #2 succeeded");
  EXPECT_TRUE(has(out, "Strategy: blue-green")) << out;
  EXPECT_TRUE(has(out, "switched all traffic to v2 (the old slot stays up)")) << out;
  EXPECT_TRUE(has(out, "check error_rate: 0.02 <= max 0.05")) << out;
  EXPECT_FALSE(has(out, "% of traffic")) << out;  // one switch, no steps
  EXPECT_EQ(answered_by_v2(6), 6);
  EXPECT_TRUE(stops_answering(old_port)) << "v1 still answers on its private port";
  out = say(*chat, "status hello", "staging");
  EXPECT_TRUE(has(out, "v2 at http://127.0.0.1:" + std::to_string(port))) << out;
  EXPECT_FALSE(has(out, "candidate")) << out;
  finish(*chat);
  EXPECT_EQ(events(2), (std::vector<std::string>{"requested", "deploying", "verifying", "deploying",
                                                 "succeeded"}));
}

TEST_F(CanaryE2e, SigkillWhilePausedIsReconciledOnRestartAndV1Serves) {
  FakePrometheus fake;
  fake.set_vector(series("sigkill", "v1"),
                  {FakePrometheus::Sample{{{"__name__", "shipmate_test_error_ratio"}}, "0.01"}});
  // v2 has no data: the canary pauses at its first step and asks.
  write_config(strategy_for("sigkill", "kind: canary, steps: [25, 50], bake: 200ms"), fake.url());
  auto chat = start_chat();
  say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");
  std::string out = say(*chat, "deploy hello v2 to staging", "Continue or roll back?");
  const int candidate = private_port(out, "v2");
  ASSERT_NE(candidate, 0) << out;
  EXPECT_EQ(body_at(candidate), "hello from v2\n");
  chat->send_signal(SIGKILL);
  chat->wait();
  // The forwarder died with shipmate; the releases follow through PR_SET_PDEATHSIG.
  EXPECT_TRUE(stops_answering(port));
  EXPECT_TRUE(stops_answering(candidate));
  EXPECT_EQ(query(db(), "SELECT state FROM deploys WHERE id = 2"),
            std::vector<std::string>{"verifying"});

  auto again = start_chat();
  // Commands are read only after start-up has restored what was serving.
  out = say(*again, "status hello", "v1 at http://127.0.0.1:" + std::to_string(port));
  EXPECT_TRUE(has(again->output(), "Deploy #2 (hello v2 to staging) interrupted"))
      << again->output();
  EXPECT_EQ(body_at(port), "hello from v1\n");
  EXPECT_EQ(answered_by_v2(4), 0);
  // The candidate is gone (its port may since have gone to the restored v1).
  auto leftover = http_get(candidate, "/", 300ms);
  EXPECT_TRUE(!leftover || leftover->body != "hello from v2\n");
  out = say(*again, "continue 2", "not waiting for a decision");
  EXPECT_TRUE(has(out, "(it is failed)")) << out;
  finish(*again);
  EXPECT_EQ(states(), (std::vector<std::string>{"1|deploy|v1|succeeded", "2|deploy|v2|failed"}));
  EXPECT_EQ(query(db(), "SELECT COUNT(*) FROM audit_log WHERE action = 'deploy.reconciled'"),
            std::vector<std::string>{"1"});
  EXPECT_TRUE(audit_intact());
}

// A crash while rolling back: v2's check breaches, the deploy records that it is rolling back,
// and the kill lands before "rolled back" can be recorded (a trigger holds that write). After the
// restart the deploy is reported as interrupted, v1 serves, and v2 is gone.
TEST_F(CanaryE2e, SigkillWhileRollingBackIsReconciledOnRestartAndV1Serves) {
  FakePrometheus fake;
  fake.set_vector(series("rollingback", "v1"),
                  {FakePrometheus::Sample{{{"__name__", "shipmate_test_error_ratio"}}, "0.01"}});
  fake.set_vector(series("rollingback", "v2"),
                  {FakePrometheus::Sample{{{"__name__", "shipmate_test_error_ratio"}}, "0.5"}});
  write_config(strategy_for("rollingback", "kind: canary, steps: [50], bake: 200ms"), fake.url());
  {
    auto chat = start_chat();
    say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");
    finish(*chat);
  }
  install_spin_trigger(db(), "hold_before_rolled_back",
                       "BEFORE INSERT ON deploy_events WHEN NEW.to_state = 'rolled_back'");
  {
    auto chat = start_chat();
    chat->write("deploy hello v2 to staging\n");
    const auto rolling_back = [&] {
      return !query(db(),
                    "SELECT id FROM deploy_events WHERE deploy_id = 2 AND to_state = 'deploying' "
                    "AND message LIKE 'check failed: %'")
                  .empty();
    };
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!rolling_back() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(rolling_back()) << chat->output();
    chat->send_signal(SIGKILL);
    chat->wait();
  }
  EXPECT_EQ(query(db(), "SELECT state FROM deploys WHERE id = 2"),
            std::vector<std::string>{"deploying"});
  EXPECT_TRUE(stops_answering(port));
  query(db(), "DROP TRIGGER hold_before_rolled_back");

  auto again = start_chat();
  std::string out = say(*again, "status hello", "v1 at http://127.0.0.1:" + std::to_string(port));
  EXPECT_TRUE(has(again->output(), "Deploy #2 (hello v2 to staging) interrupted"))
      << again->output();
  EXPECT_EQ(body_at(port), "hello from v1\n");
  EXPECT_EQ(answered_by_v2(4), 0);
  finish(*again);
  EXPECT_EQ(states(), (std::vector<std::string>{"1|deploy|v1|succeeded", "2|deploy|v2|failed"}));
  EXPECT_EQ(events(2), (std::vector<std::string>{"requested", "deploying", "verifying", "deploying",
                                                 "failed"}));
  EXPECT_TRUE(audit_intact());
}

TEST_F(CanaryE2e, RollbackSkipsTheStrategyAndItsChecks) {
  FakePrometheus fake;
  for (const char* version : {"v1", "v2"}) {
    fake.set_vector(series("rollback", version),
                    {FakePrometheus::Sample{{{"__name__", "shipmate_test_error_ratio"}}, "0.01"}});
  }
  write_config(strategy_for("rollback", "kind: canary, steps: [50], bake: 200ms"), fake.url());
  auto chat = start_chat();
  say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");
  say(*chat, "deploy hello v2 to staging", "Deploy #2 succeeded");
  EXPECT_EQ(body_at(port), "hello from v2\n");
  const std::size_t asked = fake.queries().size();
  EXPECT_EQ(asked, 3u) << "v1 once, v2 at 50% and at 100%";

  std::string out = say(*chat, "rollback hello in staging", "Rollback #3 succeeded");
  EXPECT_TRUE(has(out, "hello v1 is live in staging")) << out;
  EXPECT_FALSE(has(out, "% of traffic")) << out;
  EXPECT_FALSE(has(out, "check error_rate")) << out;
  EXPECT_FALSE(has(out, "Strategy:")) << out;
  EXPECT_EQ(fake.queries().size(), asked) << "a rollback asks Prometheus nothing";
  EXPECT_EQ(body_at(port), "hello from v1\n");
  finish(*chat);
  EXPECT_EQ(states(), (std::vector<std::string>{"1|deploy|v1|succeeded", "2|deploy|v2|succeeded",
                                                "3|rollback|v1|succeeded"}));
  EXPECT_EQ(events(3), (std::vector<std::string>{"requested", "deploying", "succeeded"}));
}

}  // namespace
}  // namespace shipmate::testing
