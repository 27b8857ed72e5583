// End-to-end: the real shipmate binary, a scripted terminal session on a pipe, the sample
// service's real releases as real processes, and the SQLite file it leaves behind.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <thread>

#include "tests/support/e2e_support.h"
#include "tests/support/git_repo.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

using namespace std::chrono_literals;

class TerminalSession : public ::testing::Test {
 protected:
  void SetUp() override {
    staging_port = free_port();
    production_port = free_port();
    while (production_port == staging_port)
      production_port = free_port();
    // 50 checks 100 ms apart: a healthy start on a loaded machine can take more than the
    // half-second five would allow; a test about failing checks sets its own.
    write_config(50, "100ms");
  }

  void write_config(int retries, const std::string& interval) {
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
users:
  - {id: alice, name: Alice, roles: [developer, sre]}
  - {id: bob, name: Bob, roles: [developer]}
services:
  - name: hello
    environments: [staging, production]
    target:
      kind: local
      releases: )" + source_dir() + R"(/examples/hello/releases
      start: [python3, server.py]
      health: {http: /health, timeout: 1s, retries: )" +
                                              std::to_string(retries) + ", interval: " + interval +
                                              R"(}
      stop_grace: 2s
      ports: {staging: )" + std::to_string(staging_port) +
                                              ", production: " + std::to_string(production_port) +
                                              "}\n");
  }

  std::unique_ptr<Subprocess> start_chat(const std::string& user = "alice") {
    return std::make_unique<Subprocess>(std::vector<std::string>{
        shipmate_binary(), "chat", "--config", dir.file("shipmate.yaml"), "--as", user});
  }

  // Sends one command and waits until `expect` shows up in the output that follows it.
  std::string body_at(int port) {
    auto response = http_get(port, "/");
    return response ? response->body : "<no answer>";
  }

  std::string db() const { return dir.file("state/shipmate.db"); }

  TempDir dir;
  int staging_port = 0;
  int production_port = 0;
};

TEST_F(TerminalSession, DeployFailRollbackAndHistory) {
  auto chat = start_chat();
  say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");
  EXPECT_EQ(body_at(staging_port), "hello from v1\n");

  std::string out = say(*chat, "deploy hello v2 to staging", "Deploy #2 succeeded");
  EXPECT_TRUE(
      has(out, "hello v2 is live in staging at http://127.0.0.1:" + std::to_string(staging_port)))
      << out;
  EXPECT_EQ(body_at(staging_port), "hello from v2\n");

  out = say(*chat, "deploy hello v3 to staging", "Deploy #3 failed");
  EXPECT_TRUE(has(out, "staging keeps serving hello v2")) << out;
  EXPECT_EQ(body_at(staging_port), "hello from v2\n");

  out = say(*chat, "rollback hello in staging", "Rollback #4 succeeded");
  EXPECT_TRUE(has(out, "hello v1 is live in staging")) << out;
  EXPECT_EQ(body_at(staging_port), "hello from v1\n");

  out = say(*chat, "history hello", "rollback");
  EXPECT_TRUE(has(out, "failed")) << out;
  out = say(*chat, "status hello", "staging");
  EXPECT_TRUE(has(out, "v1 at http://127.0.0.1:" + std::to_string(staging_port))) << out;

  chat->close_stdin();
  EXPECT_EQ(chat->wait(), 0) << chat->output();
  // Shutting down stops the service: nothing answers on its port any more.
  EXPECT_FALSE(http_get(staging_port, "/", 500ms).has_value());

  auto rows = query(db(), "SELECT id, kind, version, state FROM deploys ORDER BY id");
  EXPECT_EQ(rows, (std::vector<std::string>{"1|deploy|v1|succeeded", "2|deploy|v2|succeeded",
                                            "3|deploy|v3|failed", "4|rollback|v1|succeeded"}));
  auto events = query(db(), "SELECT to_state FROM deploy_events WHERE deploy_id = 3 ORDER BY id");
  EXPECT_EQ(events, (std::vector<std::string>{"requested", "deploying", "failed"}));
}

TEST_F(TerminalSession, ReleaseNotesInTheDeploysThreadAreExactlyTheCommitsBetweenTheTwo) {
  // A repository made with the git CLI, and the sample's releases naming their commits in their
  // RELEASE files, as a build would write them.
  GitRepo repo;
  repo.commit("chore: initial import");
  repo.commit("feat: greet in French");
  const std::string v1 = repo.head();
  repo.commit("feat(api): greet by name (#4)");
  repo.commit("Merge-free cleanup of the greeting table", "bob");
  repo.commit("fix: trailing newline", "bob");
  const std::string v2 = repo.head();
  repo.commit("feat!: drop the v0 endpoint", "carol");  // after v2: not in its notes
  for (const auto& [version, sha] : {std::pair{"v1", v1}, std::pair{"v2", v2}}) {
    const std::string to = dir.file(std::string("releases/") + version);
    std::filesystem::create_directories(to);
    std::filesystem::copy_file(source_dir() + "/examples/hello/releases/" + version + "/server.py",
                               to + "/server.py");
    write_file(to + "/RELEASE", "commit=" + sha + "\n");
  }
  std::string config = read_file(dir.file("shipmate.yaml"));
  const std::string releases = source_dir() + "/examples/hello/releases";
  config.replace(config.find(releases), releases.size(), dir.file("releases"));
  config += "    notes:\n      git: {path: " + repo.dir.path() + ", fetch: false}\n";
  write_file(dir.file("shipmate.yaml"), config);

  auto chat = start_chat();
  std::string out = say(*chat, "deploy hello v1 to staging", "First deploy of hello to staging");
  out = say(*chat, "deploy hello v2 to staging", "Release notes for hello v2 in staging");
  EXPECT_TRUE(has(out, "Deploy #2 succeeded")) << out;
  out = say(*chat, "whats-new staging since #1", "*hello* v1");
  EXPECT_TRUE(has(out, "*hello* v1 \u2192 v2: 1 feature, 1 fix, 1 other change")) << out;
  chat->close_stdin();
  ASSERT_EQ(chat->wait(), 0) << chat->output();
  const std::string all = chat->output();
  // The thread of deploy #2: (v1, v2] by ancestry, nothing before or after.
  EXPECT_TRUE(has(all,
                  "Release notes for hello v2 in staging (v1 \u2192 v2, 3 commits): "
                  "1 feature, 1 fix, 1 other change"))
      << all;
  EXPECT_TRUE(has(all, "greet by name")) << all;
  EXPECT_TRUE(has(all, "Merge-free cleanup of the greeting table")) << all;
  EXPECT_TRUE(has(all, "trailing newline")) << all;
  EXPECT_FALSE(has(all, "greet in French")) << all;
  EXPECT_FALSE(has(all, "initial import")) << all;
  EXPECT_FALSE(has(all, "drop the v0 endpoint")) << all;
  // Stored under the release, with the commits the RELEASE files named.
  EXPECT_EQ(query(db(),
                  "SELECT from_version, from_sha, to_sha FROM release_notes WHERE "
                  "service = 'hello' AND version = 'v2'"),
            (std::vector<std::string>{"v1|" + v1 + "|" + v2}));
}

TEST_F(TerminalSession, LockBlocksDeployAndUnauthorizedUserIsRefused) {
  {
    auto chat = start_chat("bob");
    say(*chat, "lock hello@staging release freeze", "Locked hello@staging");
    say(*chat, "deploy hello v1 to production",
        "Deploy refused: bob may not deploy in production (needs role: sre)");
    chat->close_stdin();
    EXPECT_EQ(chat->wait(), 0);
  }
  auto chat = start_chat("alice");
  std::string out = say(*chat, "deploy hello v1 to staging", "Deploy refused");
  EXPECT_TRUE(has(out, "hello@staging is locked by bob")) << out;
  EXPECT_TRUE(has(out, "(release freeze)")) << out;
  say(*chat, "locks", "hello@staging: locked by bob");
  chat->close_stdin();
  EXPECT_EQ(chat->wait(), 0);
  EXPECT_TRUE(query(db(), "SELECT id FROM deploys").empty());
  EXPECT_FALSE(http_get(staging_port, "/", 300ms).has_value());
}

TEST_F(TerminalSession, ScriptedSessionFromAFileEchoesCommands) {
  write_file(dir.file("session.txt"),
             "# a comment line is ignored\nwhoami\nhelp depoly\ndepoly hello\nping\nexit\n"
             "ping\n");
  auto [code, output] =
      run_command({"/bin/sh", "-c",
                   shipmate_binary() + " chat --config " + dir.file("shipmate.yaml") +
                       " --as bob < " + dir.file("session.txt")});
  EXPECT_EQ(code, 0) << output;
  EXPECT_TRUE(has(output, "bob> whoami\nYou are bob (Bob), roles: developer")) << output;
  EXPECT_TRUE(has(output, "No command 'depoly' (did you mean 'deploy'?)")) << output;
  EXPECT_TRUE(has(output, "Unknown command 'depoly' - did you mean 'deploy'?")) << output;
  EXPECT_TRUE(has(output, "bob> ping\npong")) << output;
  // 'exit' ends the session: the second ping is never read.
  EXPECT_EQ(output.find("pong"), output.rfind("pong")) << output;
  EXPECT_FALSE(has(output, "a comment line")) << output;
}

TEST_F(TerminalSession, AuditVerifyRunsNextToARunningShipmate) {
  // The running bot is the database's only writer; verifying only reads, so it must not be
  // refused as "a second Shipmate" or wait for the bot to exit.
  auto chat = start_chat();
  say(*chat, "lock hello maintenance", "Locked hello");
  auto [code, output] =
      run_command({shipmate_binary(), "audit", "verify", "--config", dir.file("shipmate.yaml")});
  EXPECT_EQ(code, 0) << output;
  EXPECT_TRUE(has(output, "audit log intact")) << output;
  say(*chat, "unlock hello", "Unlocked hello");
  chat->close_stdin();
  ASSERT_EQ(chat->wait(), 0);
}

TEST_F(TerminalSession, EditedAuditRowIsDetectedByAuditVerify) {
  auto chat = start_chat();
  say(*chat, "lock hello maintenance", "Locked hello");
  say(*chat, "unlock hello", "Unlocked hello");
  chat->close_stdin();
  ASSERT_EQ(chat->wait(), 0);

  const std::vector<std::string> verify{shipmate_binary(), "audit", "verify", "--config",
                                        dir.file("shipmate.yaml")};
  auto [ok_code, ok_output] = run_command(verify);
  EXPECT_EQ(ok_code, 0) << ok_output;
  EXPECT_TRUE(has(ok_output, "audit log intact")) << ok_output;

  // Someone with the file edits history: the triggers stop a plain UPDATE, so they drop them.
  auto seq = query(db(), "SELECT seq FROM audit_log WHERE action = 'lock.acquired'");
  ASSERT_EQ(seq.size(), 1u);
  query(db(), "DROP TRIGGER IF EXISTS audit_log_no_update");
  for (const auto& name : query(db(), "SELECT name FROM sqlite_master WHERE type = 'trigger'")) {
    query(db(), "DROP TRIGGER " + name);
  }
  query(db(), "UPDATE audit_log SET actor = 'mallory' WHERE seq = " + seq[0]);
  auto [bad_code, bad_output] = run_command(verify);
  EXPECT_EQ(bad_code, 1) << bad_output;
  EXPECT_TRUE(has(bad_output, "TAMPERED")) << bad_output;
  EXPECT_TRUE(has(bad_output, "record " + seq[0])) << bad_output;
}

TEST_F(TerminalSession, TakenPortFailsTheDeployClearlyAndLeavesNothingRunning) {
  // Something else already listens on staging's public port.
  Subprocess squatter({"/usr/bin/env", "python3", "-c",
                       "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1'," +
                           std::to_string(staging_port) +
                           "))\ns.listen()\nprint('bound',flush=True)\ntime.sleep(60)"});
  ASSERT_TRUE(squatter.wait_for_output("bound", 30s)) << squatter.output();
  auto chat = start_chat();
  std::string out = say(*chat, "deploy hello v1 to staging", "Deploy #1 failed");
  EXPECT_TRUE(has(out, "port " + std::to_string(staging_port))) << out;
  EXPECT_TRUE(has(out, "in use")) << out;
  chat->close_stdin();
  EXPECT_EQ(chat->wait(), 0);
  EXPECT_EQ(query(db(), "SELECT state FROM deploys"), std::vector<std::string>{"failed"});
}

TEST_F(TerminalSession, SigtermMidDeployRecordsItAndStopsChildren) {
  write_config(200, "100ms");  // v3 would keep failing its health check for 20 s
  auto chat = start_chat();
  say(*chat, "deploy hello v2 to staging", "Deploy #1 succeeded");
  const std::size_t before = chat->output().size();
  chat->write("deploy hello v3 to staging\n");
  // A failed health check of v3: the deploy is recorded and in the middle of its work.
  ASSERT_TRUE(chat->wait_for_output("/200: HTTP 500", 20s, before)) << chat->output();
  chat->send_signal(SIGTERM);
  EXPECT_EQ(chat->wait(30s), 0) << chat->output();
  EXPECT_TRUE(has(chat->output(), "was cancelled: SIGTERM")) << chat->output();
  EXPECT_EQ(query(db(), "SELECT state FROM deploys ORDER BY id"),
            (std::vector<std::string>{"succeeded", "cancelled"}));
  EXPECT_FALSE(http_get(staging_port, "/", 300ms).has_value());
  // No python process of ours is left: every child was in the state directory's logs, and
  // none of them still holds a port. Restarting brings back the last good version.
  auto again = start_chat();
  say(*again, "status hello", "v2 at http://127.0.0.1:" + std::to_string(staging_port));
  EXPECT_EQ(body_at(staging_port), "hello from v2\n");
  again->close_stdin();
  EXPECT_EQ(again->wait(), 0);
}

TEST_F(TerminalSession, SigkillMidDeployIsReconciledOnRestart) {
  write_config(200, "100ms");
  auto chat = start_chat();
  say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");
  const std::size_t before = chat->output().size();
  chat->write("deploy hello v3 to staging\n");
  // A failed health check of v3: the deploy is recorded and in the middle of its work.
  ASSERT_TRUE(chat->wait_for_output("/200: HTTP 500", 20s, before)) << chat->output();
  chat->send_signal(SIGKILL);
  chat->wait();
  // The children die with their parent (PR_SET_PDEATHSIG); give them a moment to exit.
  for (int i = 0; i < 50 && http_get(staging_port, "/", 100ms).has_value(); ++i) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_FALSE(http_get(staging_port, "/", 300ms).has_value());
  EXPECT_EQ(query(db(), "SELECT state FROM deploys ORDER BY id"),
            (std::vector<std::string>{"succeeded", "deploying"}));

  auto again = start_chat();
  // Commands are read only after start-up has restored what was serving.
  std::string out = say(*again, "history hello", "v3        failed");
  EXPECT_TRUE(has(out, "interrupted")) << out;
  EXPECT_TRUE(has(again->output(), "Deploy #2 (hello v3 to staging) interrupted"))
      << again->output();
  EXPECT_EQ(body_at(staging_port), "hello from v1\n") << again->output();
  again->close_stdin();
  EXPECT_EQ(again->wait(), 0);
  EXPECT_EQ(query(db(), "SELECT state FROM deploys ORDER BY id"),
            (std::vector<std::string>{"succeeded", "failed"}));
  auto [code, verify] =
      run_command({shipmate_binary(), "audit", "verify", "--config", dir.file("shipmate.yaml")});
  EXPECT_EQ(code, 0) << verify;
}

TEST_F(TerminalSession, ServeRestoresServicesAndStopsOnSigterm) {
  {
    auto chat = start_chat();
    say(*chat, "deploy hello v2 to staging", "Deploy #1 succeeded");
    chat->close_stdin();
    ASSERT_EQ(chat->wait(), 0);
  }
  Subprocess serve({shipmate_binary(), "--log-level", "info", "serve", "--no-terminal", "--config",
                    dir.file("shipmate.yaml")});
  ASSERT_TRUE(serve.wait_for_output("shipmate ready", 20s)) << serve.output();
  EXPECT_TRUE(has(serve.output(), "v2")) << serve.output();
  EXPECT_EQ(body_at(staging_port), "hello from v2\n");
  serve.send_signal(SIGTERM);
  EXPECT_EQ(serve.wait(20s), 0) << serve.output();
  EXPECT_TRUE(has(serve.output(), "shutting down: SIGTERM")) << serve.output();
  EXPECT_FALSE(http_get(staging_port, "/", 300ms).has_value());
  auto stopped = query(db(), "SELECT details FROM audit_log WHERE action = 'shipmate.stopped'");
  ASSERT_FALSE(stopped.empty());
  EXPECT_EQ(stopped.back(), "SIGTERM");
}

TEST_F(TerminalSession, InteractiveTerminalShowsAPrompt) {
  // script(1) gives the child a pseudo-terminal, as a person at a keyboard would have.
  auto [code, output] =
      run_command({"/usr/bin/script", "-qec",
                   shipmate_binary() + " chat --config " + dir.file("shipmate.yaml"), "/dev/null"},
                  "ping\nexit\n");
  EXPECT_EQ(code, 0) << output;
  EXPECT_TRUE(has(output, "Shipmate terminal chat as alice")) << output;
  EXPECT_TRUE(has(output, "shipmate> ")) << output;
  EXPECT_TRUE(has(output, "pong")) << output;
}

TEST_F(TerminalSession, ExpiredLockIsAnnouncedAndNoLongerBlocks) {
  auto chat = start_chat();
  say(*chat, "lock hello@staging quick check --for 1s", "Locked hello@staging for Alice until");
  ASSERT_TRUE(chat->wait_for_output(
      "The lock on hello@staging held by alice (quick check) has expired", 10s))
      << chat->output();
  say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");
  chat->close_stdin();
  EXPECT_EQ(chat->wait(), 0);
  EXPECT_EQ(query(db(), "SELECT COUNT(*) FROM audit_log WHERE action = 'lock.expired'"),
            std::vector<std::string>{"1"});
}

// Kill -9 at many points of deploys and rollbacks; every restart must leave no deploy in flight
// and an audit chain that still verifies. Each kill waits until the command's deploy is in the
// round's state (read from the database), and the state the dead process left behind is read
// again: a round counts only if a deploy really was in flight when it died (a deploy that
// finished before the kill landed is tried again), so an early or late kill cannot pass without
// testing anything.
TEST_F(TerminalSession, SigkillAtManyPointsAlwaysReconcilesAndKeepsTheAuditChain) {
  struct Point {
    std::string command;
    std::string state;  // kill once the deploy is in this state ("" for any non-terminal one)
  };
  const std::vector<Point> points{{"deploy hello v1 to staging --force", ""},
                                  {"deploy hello v2 to staging --force", "deploying"},
                                  {"rollback hello", ""},
                                  {"deploy hello v3 to staging --force", "deploying"},
                                  {"deploy hello v1 to staging --force", ""},
                                  {"rollback hello", "deploying"},
                                  {"deploy hello v2 to staging --force", ""},
                                  {"deploy hello v3 to staging --force", "deploying"}};
  const std::string terminal = "('succeeded','failed','rolled_back','cancelled','timed_out')";
  // Health checks with room for a slow start on a loaded machine: the deploys run between the
  // kills must succeed, and a killed one has a long in-flight phase to be caught in.
  write_config(100, "100ms");
  {
    auto chat = start_chat();  // creates the database the rounds read
    say(*chat, "ping", "pong");
    chat->close_stdin();
    ASSERT_EQ(chat->wait(), 0) << chat->output();
  }
  for (const Point& point : points) {
    SCOPED_TRACE(point.command + " killed in state '" + point.state + "'");
    if (point.command.starts_with("rollback")) {
      // Something to roll back to: two good deploys since the last kill.
      auto chat = start_chat();
      say(*chat, "deploy hello v1 to staging --force", "succeeded");
      say(*chat, "deploy hello v2 to staging --force", "succeeded");
      chat->close_stdin();
      ASSERT_EQ(chat->wait(), 0) << chat->output();
    }
    bool tested = false;
    bool gave_up = false;
    for (int attempt = 0; attempt < 5 && !tested && !gave_up; ++attempt) {
      const auto last = query(db(), "SELECT COALESCE(MAX(id), 0) FROM deploys");
      const std::string after = last.empty() ? "0" : last.front();
      std::string id;
      {
        auto chat = start_chat();
        chat->write(point.command + "\n");
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (std::chrono::steady_clock::now() < deadline) {
          auto rows = query(db(), "SELECT id, state FROM deploys WHERE id > " + after +
                                      " AND state NOT IN " + terminal + " ORDER BY id LIMIT 1");
          if (!rows.empty() && (point.state.empty() || rows.front().ends_with("|" + point.state))) {
            id = rows.front().substr(0, rows.front().find('|'));
            break;
          }
          if (!query(db(),
                     "SELECT id FROM deploys WHERE id > " + after + " AND state IN " + terminal)
                   .empty())
            break;  // finished before it was seen in that state: try again
          std::this_thread::sleep_for(2ms);
        }
        chat->send_signal(SIGKILL);
        chat->wait();
        if (id.empty() && query(db(), "SELECT id FROM deploys WHERE id > " + after).empty()) {
          ADD_FAILURE() << "the command started no deploy: " << chat->output();
          gave_up = true;
        }
      }
      if (id.empty())
        continue;
      // What the dead process left: still in flight, or it finished before the kill landed.
      auto left = query(
          db(), "SELECT state FROM deploys WHERE id = " + id + " AND state NOT IN " + terminal);
      tested = !left.empty();
      // The next start settles whatever the kill left behind, before reading any command.
      auto again = start_chat();
      say(*again, "ping", "pong");
      again->close_stdin();
      ASSERT_EQ(again->wait(), 0) << again->output();
      auto in_flight = query(db(), "SELECT id, state FROM deploys WHERE state NOT IN " + terminal);
      EXPECT_TRUE(in_flight.empty()) << "after the kill: " << in_flight.front();
      auto [code, verify] = run_command(
          {shipmate_binary(), "audit", "verify", "--config", dir.file("shipmate.yaml")});
      EXPECT_EQ(code, 0) << verify;
    }
    EXPECT_TRUE(tested) << "no kill in 5 attempts found the deploy in flight";
  }
  // The children of killed processes are gone too: nothing serves staging's port any more.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (http_get(staging_port, "/", 100ms).has_value() &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(http_get(staging_port, "/", 300ms).has_value());
}

TEST_F(TerminalSession, MetricsUseCommitTimesFromReleaseFiles) {
  auto chat = start_chat();
  say(*chat, "deploy hello v1 to production", "Deploy #1 succeeded");
  std::string out = say(*chat, "metrics hello", "Time to restore");
  EXPECT_TRUE(has(out, "Deployment frequency: 1 deploy (0.03 per day)")) << out;
  EXPECT_TRUE(has(out, "(1 deploy with commit times)")) << out;
  chat->close_stdin();
  EXPECT_EQ(chat->wait(), 0);
  // examples/hello/releases/v1/RELEASE: committed_at=2026-11-18T09:12:00Z
  EXPECT_EQ(query(db(), "SELECT committed_at FROM deploys WHERE id = 1"),
            std::vector<std::string>{"1794993120000"});
}

TEST_F(TerminalSession, ProductionDeployWaitsForApprovalFromSomeoneElse) {
  std::string config = read_file(dir.file("shipmate.yaml"));
  const std::string production = "    production: true\n";
  config.replace(config.find(production), production.size(),
                 production + "    approvals: {count: 1, roles: [sre], expire: 1h}\n");
  const std::string bob = "  - {id: bob, name: Bob, roles: [developer]}\n";
  config.replace(config.find(bob), bob.size(),
                 bob + "  - {id: carol, name: Carol, roles: [sre]}\n");
  write_file(dir.file("shipmate.yaml"), config);
  {
    auto chat = start_chat("alice");
    say(*chat, "deploy hello v1 to production", "needs 1 approval from sre (not Alice)");
    say(*chat, "approve 1", "separation of duties");
    chat->close_stdin();
    ASSERT_EQ(chat->wait(), 0);
  }
  // The request waited across the restart; Carol approves it in her own session.
  auto chat = start_chat("carol");
  say(*chat, "approve 1", "Deploy #1 succeeded: hello v1 is live in production");
  EXPECT_EQ(body_at(production_port), "hello from v1\n");
  chat->close_stdin();
  EXPECT_EQ(chat->wait(), 0);
  EXPECT_EQ(query(db(), "SELECT approver, decision FROM approvals"),
            std::vector<std::string>{"carol|approve"});
}

TEST(Cli, HelpListsEverySubcommand) {
  auto [code, output] = run_command({shipmate_binary(), "--help"});
  EXPECT_EQ(code, 0);
  for (const char* word : {"serve", "chat", "check-config", "audit"}) {
    EXPECT_TRUE(has(output, word)) << word << "\n" << output;
  }
}

TEST(Cli, CheckConfigReportsFileLineAndColumn) {
  TempDir dir;
  write_file(dir.file("bad.yaml"), "environments:\n  - name: staging\n    prodution: true\n");
  auto [code, output] = run_command({shipmate_binary(), "check-config", dir.file("bad.yaml")});
  EXPECT_EQ(code, 1);
  EXPECT_TRUE(has(output, dir.file("bad.yaml") + ":3:5: error: unknown key 'prodution'")) << output;
  EXPECT_TRUE(has(output, "missing 'services'")) << output;

  auto [ok_code, ok_output] =
      run_command({shipmate_binary(), "check-config", source_dir() + "/examples/shipmate.yaml"});
  EXPECT_EQ(ok_code, 0) << ok_output;
  EXPECT_TRUE(has(ok_output, "OK (1 services, 2 environments, 3 users)")) << ok_output;
}

TEST(Cli, UnusableDatabaseIsOneClearLineAndExitCode2) {
  TempDir dir;
  write_file(dir.file("not-a-db"), "this is not sqlite\n");
  auto [code, output] =
      run_command({shipmate_binary(), "chat", "--config", source_dir() + "/examples/shipmate.yaml",
                   "--database", dir.file("not-a-db")},
                  "status\n");
  EXPECT_EQ(code, 2) << output;
  EXPECT_TRUE(has(output, "cannot open database " + dir.file("not-a-db"))) << output;
  EXPECT_EQ(read_file(dir.file("not-a-db")), "this is not sqlite\n");
}

TEST(Cli, JsonLogsAreOneObjectPerLine) {
  TempDir dir;
  auto [code, output] =
      run_command({shipmate_binary(), "--log-format", "json", "--log-level", "info", "chat",
                   "--config", source_dir() + "/examples/shipmate.yaml", "--database",
                   dir.file("db.sqlite"), "--state-dir", dir.file("state")},
                  "ping\n");
  EXPECT_EQ(code, 0) << output;
  std::size_t json_lines = 0;
  std::size_t start = 0;
  while (start < output.size()) {
    std::size_t end = output.find('\n', start);
    std::string line = output.substr(start, end - start);
    if (line.rfind("{\"ts\":", 0) == 0) {
      ++json_lines;
      EXPECT_EQ(line.back(), '}') << line;
    }
    start = end == std::string::npos ? output.size() : end + 1;
  }
  EXPECT_GE(json_lines, 2u) << output;
  EXPECT_TRUE(has(output, "pong")) << output;
}

// An announcement fires in the terminal on a short real schedule (waited for by condition), is
// recorded once, and a restart does not post it again.
TEST_F(TerminalSession, AnAnnouncementFiresInTheTerminalOnceAndNotAgainAfterARestart) {
  {
    auto chat = start_chat();
    say(*chat, "announce here at in 2s \"Release train leaves now\"", "Announcement #1 will go to");
    const std::size_t from = chat->output().size();
    ASSERT_TRUE(chat->wait_for_output("Release train leaves now", std::chrono::seconds(30), from))
        << chat->output();
    ASSERT_TRUE(chat->wait_for_output("(set up by alice)", std::chrono::seconds(10), from));
    say(*chat, "schedule show 1", "done");
    chat->close_stdin();
    EXPECT_EQ(chat->wait(), 0) << chat->output();
  }
  EXPECT_EQ(query(db(), "SELECT outcome, detail FROM schedule_runs"),
            (std::vector<std::string>{"done|posted to terminal"}));
  auto again = start_chat();
  std::string out = say(*again, "schedule list", "No schedules");
  out = say(*again, "audit tail", "schedule.fired");
  again->close_stdin();
  EXPECT_EQ(again->wait(), 0);
  EXPECT_EQ(query(db(), "SELECT count(*) FROM schedule_runs"), (std::vector<std::string>{"1"}));
  // The audit log quotes the command that set it up; the announcement itself (with its
  // "set up by" context line) was not posted again.
  EXPECT_FALSE(has(again->output(), "(set up by alice)")) << again->output();
}

// A freeze declared in chat refuses deploys with its reason, and unfreeze lifts it.
TEST_F(TerminalSession, AFreezeFromChatRefusesDeploysUntilLifted) {
  auto chat = start_chat();
  say(*chat, "freeze staging until tomorrow 09:00 \"db migration\"", "Froze staging");
  std::string out = say(*chat, "deploy hello v1 to staging", "Deploy refused");
  EXPECT_TRUE(has(out, "staging is frozen by alice (db migration)")) << out;
  say(*chat, "freezes", "staging: frozen by alice");
  say(*chat, "unfreeze staging", "Unfroze staging");
  say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");
  chat->close_stdin();
  EXPECT_EQ(chat->wait(), 0) << chat->output();
}

}  // namespace
}  // namespace shipmate::testing

namespace shipmate::testing {
namespace {

// The demo's first minute (README "A five-minute tour"): `./scripts/demo` runs `shipmate chat`
// on examples/shipmate.yaml. Here that very file (copied next to a temporary state directory,
// with the sample releases' absolute path and free ports) drives the incident part of the tour
// in the terminal: the banner says how to open one, and declare, status, timeline and resolve
// work there, the incident living in the terminal's own conversation (no rooms there).
TEST(DemoTour, TheBannerSaysHowToOpenAnIncidentAndTheTourRunsInTheTerminal) {
  TempDir dir;
  std::string config = read_file(source_dir() + "/examples/shipmate.yaml");
  const auto replace = [&](const std::string& from, const std::string& to) {
    const auto at = config.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    config.replace(at, from.size(), to);
  };
  replace("releases: hello/releases", "releases: " + source_dir() + "/examples/hello/releases");
  replace("staging: 8081", "staging: " + std::to_string(free_port()));
  replace("production: 8082", "production: " + std::to_string(free_port()));
  write_file(dir.file("shipmate.yaml"), config);

  // What a person sees at a keyboard (script(1) gives the child a pseudo-terminal).
  auto [code, banner] =
      run_command({"/usr/bin/script", "-qec",
                   shipmate_binary() + " chat --config " + dir.file("shipmate.yaml"), "/dev/null"},
                  "exit\n");
  EXPECT_EQ(code, 0) << banner;
  EXPECT_TRUE(has(banner, "incident declare \"checkout errors\" sev2 hello")) << banner;
  EXPECT_TRUE(has(banner, "incident status")) << banner;
  EXPECT_TRUE(has(banner, "incident timeline")) << banner;
  EXPECT_TRUE(has(banner, "incident resolve")) << banner;

  Subprocess chat({shipmate_binary(), "chat", "--config", dir.file("shipmate.yaml")});
  const std::string declared =
      say(chat, "incident declare \"checkout errors\" sev2 hello", "Declared INC-1");
  EXPECT_TRUE(has(declared, "INC-1 checkout errors")) << declared;  // the card, here
  EXPECT_FALSE(has(declared, "No room of its own")) << "the terminal never tries to make one";
  say(chat, "incident status identified \"bad config in v1\"", "INC-1 is identified");
  const std::string timeline = say(chat, "incident timeline", "bad config in v1");
  EXPECT_TRUE(has(timeline, "declared")) << timeline;
  const std::string resolved =
      say(chat, "incident resolve \"rolled back\"", "postmortem skeleton written to");
  EXPECT_TRUE(has(resolved, "Resolved INC-1")) << resolved;
  const std::string listed = say(chat, "incidents", "INC-1");
  EXPECT_TRUE(has(listed, "resolved")) << listed;
  chat.close_stdin();
  EXPECT_EQ(chat.wait(30s), 0) << chat.output();
  const std::string postmortem =
      read_file(dir.file(".shipmate/state/incidents/INC-1-postmortem.md"));
  EXPECT_TRUE(has(postmortem, "rolled back")) << postmortem;
  EXPECT_TRUE(has(postmortem, "bad config in v1")) << postmortem;
}

}  // namespace
}  // namespace shipmate::testing
