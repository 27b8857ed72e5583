// End-to-end: what the README promises about the running binary's life, each through the real
// `shipmate` on a terminal session: the approval-expiry watcher, Ctrl-C then a second signal,
// and SIGKILL while a deploy waits for approval or is queued, each followed by a restart.
//
// No test waits a fixed time for something to happen: each waits for the line or the database
// row that shows it, with a generous deadline, and crashes land at exact writes through a
// trigger that never finishes (install_spin_trigger).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <thread>

#include "tests/support/e2e_support.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

using namespace std::chrono_literals;

class Lifecycle : public ::testing::Test {
 protected:
  void SetUp() override {
    staging_port = free_port();
    production_port = free_port();
    while (production_port == staging_port)
      production_port = free_port();
    write_config();
  }

  // `approvals` is the production environment's approvals mapping ("" for none); `releases`
  // the releases directory; `stop_grace` how long a stopped release has after SIGTERM.
  void write_config(const std::string& approvals = "{count: 1, roles: [sre], expire: 1h}",
                    const std::string& releases = "", const std::string& stop_grace = "2s") {
    write_file(dir.file("shipmate.yaml"), R"(shipmate:
  database: state/shipmate.db
  state_dir: state/run
terminal:
  user: alice
environments:
  - name: staging
    allow: {deploy: [developer], rollback: [developer], lock: [developer]}
  - name: production
    production: true
    allow: {deploy: [sre], rollback: [sre], lock: [sre]}
)" + (approvals.empty() ? std::string() : "    approvals: " + approvals + "\n") +
                                              R"(users:
  - {id: alice, name: Alice, roles: [developer, sre]}
  - {id: carol, name: Carol, roles: [sre]}
services:
  - name: hello
    environments: [staging, production]
    target:
      kind: local
      releases: )" + (releases.empty() ? source_dir() + "/examples/hello/releases" : releases) +
                                              R"(
      start: [python3, server.py]
      health: {http: /health, timeout: 1s, retries: 100, interval: 100ms}
      stop_grace: )" + stop_grace + R"(
      ports: {staging: )" + std::to_string(staging_port) +
                                              ", production: " + std::to_string(production_port) +
                                              "}\n");
  }

  // A release `name` of the sample service that ignores SIGTERM, so stopping it takes the whole
  // stop_grace and then SIGKILL. Returns the releases directory holding it.
  std::string stubborn_release(const std::string& name) {
    const std::string releases = dir.file("releases");
    std::filesystem::create_directories(releases + "/" + name);
    std::string server = read_file(source_dir() + "/examples/hello/releases/v1/server.py");
    const std::string version = "VERSION = \"v1\"";
    server.replace(server.find(version), version.size(), "VERSION = \"" + name + "\"");
    const std::string handler = "signal.signal(signal.SIGTERM, stop)";
    server.replace(server.find(handler), handler.size(),
                   "signal.signal(signal.SIGTERM, signal.SIG_IGN)");
    write_file(releases + "/" + name + "/server.py", server);
    return releases;
  }

  std::unique_ptr<Subprocess> start_chat(const std::string& user = "alice") {
    return std::make_unique<Subprocess>(
        std::vector<std::string>{shipmate_binary(), "--log-level", "info", "chat", "--config",
                                 dir.file("shipmate.yaml"), "--as", user});
  }

  static void finish(Subprocess& chat) {
    chat.close_stdin();
    EXPECT_EQ(chat.wait(), 0) << chat.output();
  }

  // Waits (a failure guard, not a timing claim) until `condition` holds.
  static bool eventually(const std::function<bool()>& condition,
                         std::chrono::milliseconds timeout = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (condition())
        return true;
      std::this_thread::sleep_for(20ms);
    }
    return condition();
  }

  // Nothing listens on the port any more: a connection is refused. (An HTTP answer that is only
  // slow on a loaded machine must not count as stopped, nor may a listener whose process lives
  // on.)
  static bool refuses_connections(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      return false;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool refused =
        ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 &&
        errno == ECONNREFUSED;
    ::close(fd);
    return refused;
  }

  // No process runs in a directory under `root` any more (a release's working directory is its
  // release directory; the staging port itself is Shipmate's, so it closes with Shipmate even
  // when the release lives on).
  static bool no_process_under(const std::string& root) {
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      const std::string name = entry.path().filename();
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos)
        continue;
      std::error_code error;
      const auto cwd = std::filesystem::read_symlink(entry.path() / "cwd", error);
      if (!error && cwd.string().rfind(root, 0) == 0)
        return false;
    }
    return true;
  }

  static bool stops_answering(int port) {
    return eventually([&] { return refuses_connections(port); });
  }

  bool audit_intact() {
    auto [code, output] =
        run_command({shipmate_binary(), "audit", "verify", "--config", dir.file("shipmate.yaml")});
    EXPECT_TRUE(has(output, "intact")) << output;
    return code == 0;
  }

  std::string db() const { return dir.file("state/shipmate.db"); }
  std::vector<std::string> states() const {
    return query(db(), "SELECT id, state FROM deploys ORDER BY id");
  }

  TempDir dir;
  int staging_port = 0;
  int production_port = 0;
};

// README: "Unanswered requests time out". The watcher in the running binary ends the request,
// says so where it was asked, and an approval after that is refused.
TEST_F(Lifecycle, AnApprovalNobodyGivesExpiresInTheRunningBinaryAndIsAnnounced) {
  write_config("{count: 1, roles: [sre], expire: 1s}");
  auto chat = start_chat();
  say(*chat, "deploy hello v1 to production", "needs 1 approval from sre (not Alice)");
  ASSERT_TRUE(chat->wait_for_output(
      "Deploy #1 of hello v1 to production timed out: nobody approved it within 1", 30s))
      << chat->output();
  finish(*chat);
  EXPECT_EQ(states(), std::vector<std::string>{"1|timed_out"});
  EXPECT_EQ(query(db(), "SELECT COUNT(*) FROM audit_log WHERE action = 'deploy.approval_expired'"),
            std::vector<std::string>{"1"});
  auto carol = start_chat("carol");
  say(*carol, "approve 1", "is not waiting for approval (it is timed_out)");
  finish(*carol);
  EXPECT_FALSE(http_get(production_port, "/", 300ms).has_value());
  EXPECT_TRUE(audit_intact());
}

// A request waiting for approval runs nothing, so a crash loses nothing: after SIGKILL and a
// restart it still waits, is not reported as interrupted, and the approval runs it.
TEST_F(Lifecycle, SigkillWhileAwaitingApprovalKeepsTheRequestWaitingAcrossTheRestart) {
  {
    auto chat = start_chat();
    say(*chat, "deploy hello v1 to production", "needs 1 approval from sre (not Alice)");
    chat->send_signal(SIGKILL);
    EXPECT_EQ(chat->wait(), 128 + SIGKILL);
  }
  EXPECT_EQ(states(), std::vector<std::string>{"1|awaiting_approval"});
  auto carol = start_chat("carol");
  std::string out = say(*carol, "approve 1", "Deploy #1 succeeded: hello v1 is live in production");
  EXPECT_FALSE(has(carol->output(), "interrupted")) << carol->output();
  EXPECT_EQ(http_get(production_port, "/")->body, "hello from v1\n");
  finish(*carol);
  EXPECT_EQ(states(), std::vector<std::string>{"1|succeeded"});
  EXPECT_EQ(query(db(), "SELECT approver, decision FROM approvals"),
            std::vector<std::string>{"carol|approve"});
  EXPECT_TRUE(audit_intact());
}

// Approved, the deploy is queued for its slot; the crash lands before "deploying" is recorded (the
// trigger holds that write), so nothing was started. After the restart it is reported as
// interrupted, production serves nothing new, and the approval stays on record.
TEST_F(Lifecycle, SigkillWhileQueuedIsReportedAsInterruptedAndNothingWasDeployed) {
  {
    auto chat = start_chat();
    say(*chat, "deploy hello v1 to production", "needs 1 approval");
    finish(*chat);
  }
  install_spin_trigger(db(), "hold_before_deploying",
                       "BEFORE INSERT ON deploy_events WHEN NEW.to_state = 'deploying'");
  {
    auto carol = start_chat("carol");
    carol->write("approve 1\n");
    ASSERT_TRUE(eventually([&] { return states() == std::vector<std::string>{"1|queued"}; }))
        << carol->output();
    carol->send_signal(SIGKILL);
    EXPECT_EQ(carol->wait(), 128 + SIGKILL);
  }
  EXPECT_EQ(states(), std::vector<std::string>{"1|queued"});
  query(db(), "DROP TRIGGER hold_before_deploying");
  auto again = start_chat("carol");
  // Wait for the chat announcement itself: the deploy's log line ("deploy #1 hello v1 to
  // production: queued -> failed ...") is printed before it and also mentions v1.
  EXPECT_TRUE(
      again->wait_for_output("Deploy #1 (hello v1 to production) interrupted: Shipmate "
                             "stopped while this deploy was queued",
                             30s))
      << again->output();
  say(*again, "history hello", "failed");
  EXPECT_FALSE(http_get(production_port, "/", 300ms).has_value());
  finish(*again);
  EXPECT_EQ(states(), std::vector<std::string>{"1|failed"});
  EXPECT_EQ(query(db(), "SELECT approver, decision FROM approvals"),
            std::vector<std::string>{"carol|approve"});
  EXPECT_EQ(query(db(), "SELECT to_state FROM deploy_events WHERE deploy_id = 1 ORDER BY id"),
            (std::vector<std::string>{"requested", "awaiting_approval", "queued", "failed"}));
  EXPECT_TRUE(audit_intact());
}

// README: "When you quit (Ctrl-D, Ctrl-C or SIGTERM), Shipmate stops the services it started";
// docs: "a second one exits at once". The release ignores SIGTERM, so the first SIGINT's drain
// would wait out its stop_grace; the second SIGINT ends the process without waiting for it, and
// the release dies with it: SIGKILL to its group (the SIGTERM of PR_SET_PDEATHSIG it ignores).
TEST_F(Lifecycle, FirstSigintDrainsWithGraceAndASecondOneExitsAtOnce) {
  // A grace longer than the 20 s shutdown deadline: a drain that ignored the second signal would
  // end in that deadline (exit 1, "shutdown took too long"), whatever the machine's speed.
  write_config("", stubborn_release("stubborn"), "10m");
  auto chat = start_chat();
  say(*chat, "deploy hello stubborn to staging", "Deploy #1 succeeded");
  ASSERT_EQ(http_get(staging_port, "/")->body, "hello from stubborn\n");
  const std::size_t before = chat->output().size();
  chat->send_signal(SIGINT);
  ASSERT_TRUE(chat->wait_for_output("shutting down: SIGINT", 20s, before)) << chat->output();
  // Draining from here until the release's grace is over: it ignores the SIGTERM it was sent.
  chat->send_signal(SIGINT);
  // The wait is a guard longer than the deadline, not a bound on how fast the exit is.
  EXPECT_EQ(chat->wait(60s), 128 + SIGINT) << chat->output();
  EXPECT_TRUE(has(chat->output(), "second signal: exiting immediately")) << chat->output();
  EXPECT_FALSE(has(chat->output(), "shutdown took too long")) << chat->output();
  EXPECT_TRUE(stops_answering(staging_port));
  // The release itself is gone too, although it ignores SIGTERM.
  EXPECT_TRUE(eventually([&] { return no_process_under(dir.file("releases")); }));
}

// The first SIGINT alone: the drain gives the release its grace, then SIGKILL, and the process
// exits 0 with the stop audited and nothing left serving.
TEST_F(Lifecycle, ASingleSigintDrainsAStubbornReleaseAfterItsGraceAndExitsCleanly) {
  write_config("", stubborn_release("stubborn"), "1s");
  auto chat = start_chat();
  say(*chat, "deploy hello stubborn to staging", "Deploy #1 succeeded");
  chat->send_signal(SIGINT);
  EXPECT_EQ(chat->wait(30s), 0) << chat->output();
  EXPECT_TRUE(has(chat->output(), "shutting down: SIGINT")) << chat->output();
  EXPECT_FALSE(has(chat->output(), "second signal")) << chat->output();
  EXPECT_FALSE(http_get(staging_port, "/", 300ms).has_value());
  auto stopped = query(db(), "SELECT details FROM audit_log WHERE action = 'shipmate.stopped'");
  ASSERT_FALSE(stopped.empty());
  EXPECT_EQ(stopped.back(), "SIGINT");
  EXPECT_TRUE(audit_intact());
}

}  // namespace
}  // namespace shipmate::testing
