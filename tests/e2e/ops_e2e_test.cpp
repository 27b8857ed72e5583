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
users:
  - {id: alice, roles: [developer], slack: UALICE}
services:
  - name: hello
    target:
      kind: local
      releases: )" + source_dir() + R"(/examples/hello/releases
      start: [python3, server.py]
      ports: {staging: )" + std::to_string(free_port()) +
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
