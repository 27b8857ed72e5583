// End-to-end: the shipmate binary's operations listener (bot/ops_server.h) over real sockets.
// /healthz and /readyz while it joins a fake Slack, loses its Socket Mode connection, gets it
// back, and shuts down.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fstream>
#include <thread>

#include "tests/support/e2e_support.h"
#include "tests/support/fake_slack.h"
#include "tests/support/real_prometheus.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

using namespace std::chrono_literals;

class OpsSession : public ::testing::Test {
 protected:
  void SetUp() override { ops_port = free_port(); }

  void write_config(const std::string& ops_block) {
    write_file(dir.file("shipmate.yaml"), R"(shipmate:
  database: state/shipmate.db
  state_dir: state/run
)" + ops_block + R"(environments:
  - name: staging
  - name: production
users:
  - {id: alice, roles: [developer, admin], slack: UALICE}
services:
  - name: hello
    target:
      kind: local
      releases: )" + source_dir() + R"(/examples/hello/releases
      start: [python3, server.py]
      # v1 answers /health as soon as python3 is up: up to 30 s for that on a loaded machine
      # (the default, 5 checks, failed at load 20), with no cost when it starts at once.
      health: {http: /health, timeout: 1s, retries: 300, interval: 100ms}
      ports: {staging: )" + std::to_string(free_port()) +
                                              ", production: " + std::to_string(free_port()) +
                                              "}\n");
  }

  std::unique_ptr<Subprocess> start_shipmate(FakeSlack* slack) {
    std::map<std::string, std::string> env;
    if (slack != nullptr) {
      env = {{"SLACK_APP_TOKEN", slack->options().app_token},
             {"SLACK_BOT_TOKEN", slack->options().bot_token},
             {"SLACK_API_URL", slack->api_url()}};
    }
    return std::make_unique<Subprocess>(
        std::vector<std::string>{shipmate_binary(), "--log-level", "info", "serve", "--no-terminal",
                                 "--config", dir.file("shipmate.yaml")},
        env);
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

  // The status of GET `path`, 0 when nothing answered; the body in `body`.
  int get(const std::string& path, std::string* body = nullptr) const {
    auto response = http_get(ops_port, path);
    if (!response)
      return 0;
    if (body != nullptr)
      *body = response->body;
    return response->status;
  }

  static std::string failing(const std::string& body) {
    const auto json = boost::json::parse(body).as_object();
    return json.at("failing").is_null() ? "" : std::string(json.at("failing").as_string());
  }

  TempDir dir;
  int ops_port = 0;
};

TEST_F(OpsSession, ReadinessFollowsTheSlackConnectionDownAndBackUp) {
  write_config("ops:\n  port: " + std::to_string(ops_port) + "\nslack:\n  connections: 1\n");
  FakeSlack slack;
  auto shipmate = start_shipmate(&slack);
  ASSERT_TRUE(shipmate->wait_for_output("ops http: listening", 20s)) << shipmate->output();

  std::string body;
  ASSERT_TRUE(wait_until([&] { return get("/readyz", &body) == 200; }))
      << body << shipmate->output();
  EXPECT_EQ(failing(body), "");
  EXPECT_NE(body.find("\"chat:slack\""), std::string::npos) << body;
  EXPECT_EQ(get("/healthz", &body), 200) << body;
  EXPECT_NE(body.find("\"event-loop\""), std::string::npos) << body;

  // The connection drops and cannot come back while apps.connections.open fails.
  slack.set_connections_open_error("internal_error");
  slack.cut();
  ASSERT_TRUE(wait_until([&] { return get("/readyz", &body) == 503; }))
      << body << shipmate->output();
  EXPECT_EQ(failing(body), "chat:slack") << body;
  EXPECT_NE(body.find("no Socket Mode connection is open"), std::string::npos) << body;
  // Alive all the while: only readiness follows the connection.
  EXPECT_EQ(get("/healthz"), 200);

  slack.set_connections_open_error("");
  ASSERT_TRUE(wait_until([&] { return get("/readyz", &body) == 200; }))
      << body << shipmate->output();
  EXPECT_EQ(failing(body), "");

  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  // The listener closes with the process.
  EXPECT_EQ(get("/healthz"), 0);
}

TEST_F(OpsSession, OnlyGetIsServedAndUnknownPathsAre404) {
  write_config("ops:\n  bind: 127.0.0.1\n  port: " + std::to_string(ops_port) + "\n");
  auto shipmate = start_shipmate(nullptr);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  std::string body;
  EXPECT_EQ(get("/readyz", &body), 200) << body;
  // Without a chat platform the checks are shutdown, startup and database.
  const auto json = boost::json::parse(body).as_object();
  EXPECT_EQ(json.at("checks").as_array().size(), 3u) << body;
  EXPECT_EQ(get("/nothing-here"), 404);
  auto posted = http_post(ops_port, "/readyz", {}, "x");
  ASSERT_TRUE(posted.has_value());
  EXPECT_EQ(posted->status, 405);
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
}

// Runs `argv` (no shell) with `input` on stdin; the exit status and merged output.
std::pair<int, std::string> run_tool(const std::vector<std::string>& argv,
                                     const std::string& input) {
  Subprocess tool(argv, {}, "", true);
  tool.write(input);
  tool.close_stdin();
  const int status = tool.wait(30s);
  return {status, tool.output()};
}

TEST_F(OpsSession, MetricsPassPromtoolAndAreScrapedByTheRealPrometheus) {
  write_config("ops:\n  port: " + std::to_string(ops_port) + "\n");
  // Terminal chat, its input kept open: two commands, then scrape.
  auto shipmate = std::make_unique<Subprocess>(std::vector<std::string>{
      shipmate_binary(), "chat", "--as", "alice", "--config", dir.file("shipmate.yaml")});
  shipmate->write("ping\nfrobnicate\n");
  ASSERT_TRUE(shipmate->wait_for_output("Unknown command", 20s)) << shipmate->output();
  std::string body;
  ASSERT_EQ(get("/metrics", &body), 200);
  EXPECT_NE(body.find("shipmate_commands_total{command=\"ping\",outcome=\"ok\"} 1\n"),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("shipmate_commands_total{command=\"unknown\",outcome=\"bad_arguments\"} 1\n"),
            std::string::npos)
      << body;
  for (const char* name :
       {"# TYPE shipmate_sqlite_commit_seconds histogram",
        "shipmate_sqlite_commit_seconds_bucket{le=\"+Inf\"}", "shipmate_sqlite_commit_seconds_sum",
        "shipmate_sqlite_commit_seconds_count", "# TYPE shipmate_event_loop_lag_seconds histogram",
        "# TYPE shipmate_locks_held gauge", "shipmate_locks_held 0", "shipmate_approvals_waiting 0",
        "# TYPE process_resident_memory_bytes gauge"}) {
    EXPECT_NE(body.find(name), std::string::npos) << name << "\n" << body;
  }

  const std::string promtool = "/usr/bin/promtool";
  ASSERT_TRUE(std::ifstream(promtool).good())
      << "promtool is missing: install Debian's prometheus package (scripts/install-deps)";
  const auto [status, output] = run_tool({promtool, "check", "metrics"}, body);
  EXPECT_EQ(status, 0) << output << body;
  EXPECT_EQ(output, "") << output;

  const std::string binary = RealPrometheus::find_binary();
  ASSERT_FALSE(binary.empty())
      << "no prometheus executable: install Debian's prometheus package (scripts/install-deps)";
  RealPrometheus::Options options;
  options.targets = {"127.0.0.1:" + std::to_string(ops_port)};
  auto prometheus = RealPrometheus::start(options);
  ASSERT_TRUE(prometheus) << prometheus.error().message;
  // Prometheus parsed the scrape: the target is up and a histogram count arrived.
  EXPECT_TRUE((*prometheus)
                  ->wait_for_value(
                      "up", [](double v) { return v == 1; }, 30s))
      << (*prometheus)->log();
  EXPECT_TRUE((*prometheus)
                  ->wait_for_value(
                      "shipmate_sqlite_commit_seconds_count", [](double v) { return v >= 1; }, 30s))
      << (*prometheus)->log();
  EXPECT_TRUE((*prometheus)
                  ->wait_for_value(
                      "process_resident_memory_bytes", [](double v) { return v > 1e6; }, 30s))
      << (*prometheus)->log();
  EXPECT_TRUE(
      (*prometheus)
          ->wait_for_value(
              "shipmate_commands_total{command=\"ping\"}", [](double v) { return v == 1; }, 30s))
      << (*prometheus)->log();
  shipmate->close_stdin();
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
}

// The value of the series `line_prefix` (a name with its labels, up to the space) in `body`; -1
// when absent.
double sample(const std::string& body, const std::string& line_prefix) {
  const auto at = body.find("\n" + line_prefix + " ");
  if (at == std::string::npos)
    return -1;
  return std::stod(body.substr(at + line_prefix.size() + 2));
}

// The families read from the database and the deploy observer, after real commands: a deploy, a
// chat freeze, an incident and a runbook run; then promtool on the whole text.
TEST_F(OpsSession, MetricsCountDeploysFreezesIncidentsAndRunbooks) {
  write_config("ops:\n  port: " + std::to_string(ops_port) + "\n");
  auto shipmate = std::make_unique<Subprocess>(std::vector<std::string>{
      shipmate_binary(), "chat", "--as", "alice", "--config", dir.file("shipmate.yaml")});
  shipmate->write("deploy hello v1 to staging\n");
  ASSERT_TRUE(shipmate->wait_for_output("succeeded", 60s)) << shipmate->output();
  shipmate->write("freeze staging \"release week\"\n");
  ASSERT_TRUE(shipmate->wait_for_output("release week", 20s)) << shipmate->output();
  shipmate->write("incident declare \"checkout errors\" sev2 hello\n");
  ASSERT_TRUE(shipmate->wait_for_output("INC-1", 20s)) << shipmate->output();
  shipmate->write("runbook run health-report\n");
  ASSERT_TRUE(shipmate->wait_for_output("Runbook health-report #1 succeeded", 60s))
      << shipmate->output();

  // The run's last words and its journal's final write are a moment apart: poll the scrape.
  std::string body;
  ASSERT_TRUE(wait_until([&] {
    return get("/metrics", &body) == 200 &&
           body.find("shipmate_runbook_runs_total{runbook=\"health-report\",outcome=\"") !=
               std::string::npos;
  })) << body;
  EXPECT_EQ(sample(body,
                   "shipmate_deploys_total{service=\"hello\",environment=\"staging\","
                   "kind=\"deploy\",strategy=\"rolling\",outcome=\"succeeded\"}"),
            1)
      << body;
  EXPECT_EQ(sample(body,
                   "shipmate_deploy_duration_seconds_count{service=\"hello\","
                   "environment=\"staging\"}"),
            1)
      << body;
  EXPECT_EQ(sample(body, "shipmate_freezes_in_force{environment=\"staging\",source=\"chat\"}"), 1)
      << body;
  EXPECT_EQ(sample(body, "shipmate_incidents_open{severity=\"sev2\"}"), 1) << body;
  EXPECT_NE(body.find("shipmate_runbook_runs_total{runbook=\"health-report\",outcome=\""),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("shipmate_runbook_steps_total{runbook=\"health-report\",outcome=\""),
            std::string::npos)
      << body;
  EXPECT_EQ(sample(body, "shipmate_schedule_misfires_total"), 0) << body;
  EXPECT_EQ(sample(body, "shipmate_commands_total{command=\"deploy\",outcome=\"ok\"}"), 1) << body;

  const auto [status, output] = run_tool({"/usr/bin/promtool", "check", "metrics"}, body);
  EXPECT_EQ(status, 0) << output << body;
  EXPECT_EQ(output, "") << output;
  shipmate->close_stdin();
  EXPECT_EQ(shipmate->wait(60s), 0) << shipmate->output();
}

// The chat families over a real Socket Mode connection to the fake Slack: ack and reply latency,
// a redelivered envelope, a reconnect, Web API calls by method and status, and a 429 pause; the
// real Prometheus scrapes them.
TEST_F(OpsSession, ChatMetricsFollowSlackTrafficAndArePromtoolClean) {
  write_config("ops:\n  port: " + std::to_string(ops_port) + "\nslack:\n  connections: 1\n");
  FakeSlack slack;
  auto shipmate = start_shipmate(&slack);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  ASSERT_TRUE(slack.wait_for_connections(1, 20s)) << shipmate->output();

  slack.rate_limit_next("chat.postMessage", 1);
  FakeSlack::MentionSpec mention;
  mention.user = "UALICE";
  mention.text = "<@UBOT> ping";
  mention.ts = "1700000001.000100";
  const std::string payload = FakeSlack::app_mention_event(mention);
  const std::string envelope = slack.send_envelope("events_api", payload);
  ASSERT_TRUE(slack.wait_for_acks(1));
  // The same envelope again (Slack retries when it thinks the ack was lost).
  slack.send_envelope("events_api", payload, 1, "timeout", envelope);
  ASSERT_TRUE(slack.wait_for_acks(2));
  ASSERT_TRUE(slack.wait_for_calls("chat.postMessage", 2, 30s)) << shipmate->output();

  // The connection drops and comes back: one reconnect.
  slack.cut();
  ASSERT_TRUE(wait_until([&] { return slack.total_connections() >= 2; })) << shipmate->output();
  ASSERT_TRUE(wait_until([&] { return get("/readyz") == 200; })) << shipmate->output();

  std::string body;
  ASSERT_TRUE(wait_until([&] {
    return get("/metrics", &body) == 200 &&
           sample(body, "shipmate_chat_reconnects_total{platform=\"slack\"}") >= 1;
  })) << body;
  EXPECT_EQ(sample(body, "shipmate_ack_latency_seconds_count{platform=\"slack\"}"), 2) << body;
  EXPECT_EQ(sample(body, "shipmate_reply_latency_seconds_count{platform=\"slack\"}"), 1) << body;
  EXPECT_EQ(sample(body, "shipmate_deliveries_deduplicated_total{platform=\"slack\"}"), 1) << body;
  EXPECT_EQ(sample(body, "shipmate_chat_rate_limit_pauses_total{platform=\"slack\"}"), 1) << body;
  EXPECT_EQ(sample(body,
                   "shipmate_chat_api_calls_total{platform=\"slack\",method=\"chat."
                   "postMessage\",status=\"429\"}"),
            1)
      << body;
  EXPECT_GE(sample(body,
                   "shipmate_chat_api_calls_total{platform=\"slack\",method=\"chat."
                   "postMessage\",status=\"200\"}"),
            1)
      << body;
  EXPECT_GE(sample(body,
                   "shipmate_chat_api_calls_total{platform=\"slack\",method=\"apps."
                   "connections.open\",status=\"200\"}"),
            2)
      << body;

  const auto [status, output] = run_tool({"/usr/bin/promtool", "check", "metrics"}, body);
  EXPECT_EQ(status, 0) << output << body;
  EXPECT_EQ(output, "") << output;

  const std::string binary = RealPrometheus::find_binary();
  ASSERT_FALSE(binary.empty())
      << "no prometheus executable: install Debian's prometheus package (scripts/install-deps)";
  RealPrometheus::Options options;
  options.targets = {"127.0.0.1:" + std::to_string(ops_port)};
  auto prometheus = RealPrometheus::start(options);
  ASSERT_TRUE(prometheus) << prometheus.error().message;
  EXPECT_TRUE((*prometheus)
                  ->wait_for_value(
                      "shipmate_ack_latency_seconds_count{platform=\"slack\"}",
                      [](double v) { return v == 2; }, 30s))
      << (*prometheus)->log();
  EXPECT_TRUE((*prometheus)
                  ->wait_for_value(
                      "shipmate_chat_api_calls_total{method=\"chat.postMessage\",status=\"429\"}",
                      [](double v) { return v == 1; }, 30s))
      << (*prometheus)->log();

  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
}

TEST_F(OpsSession, PortInUseStopsStartUpWithAClearMessage) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(ops_port));
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  write_config("ops:\n  port: " + std::to_string(ops_port) + "\n");
  auto shipmate = start_shipmate(nullptr);
  EXPECT_EQ(shipmate->wait(30s), 2) << shipmate->output();
  EXPECT_NE(shipmate->output().find("ops http: 127.0.0.1:" + std::to_string(ops_port)),
            std::string::npos)
      << shipmate->output();
  ::close(fd);
}

TEST_F(OpsSession, WithoutAnOpsSectionNothingListens) {
  write_config("");
  auto shipmate = start_shipmate(nullptr);
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  EXPECT_EQ(shipmate->output().find("ops http"), std::string::npos);
  EXPECT_EQ(get("/healthz"), 0);
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0);
}

}  // namespace
}  // namespace shipmate::testing
