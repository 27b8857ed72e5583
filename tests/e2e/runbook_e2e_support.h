// What the runbook end-to-end tests share: a configuration like the embedded default (terminal
// chat, alice / bob / carol, hello's real releases) on free ports, a directory for the tests' own
// runbooks, and ways to look at what the binary left behind.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <thread>

#include "tests/support/e2e_support.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {

class RunbookE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    staging_port = free_port();
    production_port = free_port();
    while (production_port == staging_port)
      production_port = free_port();
    std::filesystem::create_directories(dir.file("runbooks"));
    write_config();
  }

  // `extra` is appended at the top level (metrics:, secrets:).
  void write_config(const std::string& extra = "") {
    write_file(dir.file("shipmate.yaml"), R"(shipmate:
  database: state/shipmate.db
  state_dir: state/run
terminal:
  user: alice
environments:
  - name: staging
    allow: {deploy: [developer, sre], rollback: [developer, sre], lock: [developer, sre], runbook: [developer, sre]}
  - name: production
    production: true
    allow: {deploy: [sre], rollback: [sre], lock: [sre], runbook: [sre]}
users:
  - {id: alice, name: Alice, roles: [developer, sre], slack: UALICE}
  - {id: bob, name: Bob, roles: [developer], slack: UBOB}
  - {id: carol, name: Carol, roles: [admin], slack: UCAROL}
runbooks:
  directory: runbooks
services:
  - name: hello
    environments: [staging, production]
    target:
      kind: local
      releases: )" + source_dir() + R"(/examples/hello/releases
      start: [python3, server.py]
      health: {http: /health, timeout: 1s, retries: 50, interval: 100ms}
      stop_grace: 2s
      ports: {staging: )" + std::to_string(staging_port) +
                                              ", production: " + std::to_string(production_port) +
                                              "}\n" + extra);
  }

  void write_runbook(const std::string& name, const std::string& yaml) {
    write_file(dir.file("runbooks/" + name + ".yaml"), yaml);
  }

  std::unique_ptr<Subprocess> start_chat(const std::string& user = "alice",
                                         const std::map<std::string, std::string>& env = {}) {
    return std::make_unique<Subprocess>(
        std::vector<std::string>{shipmate_binary(), "--log-level", "info", "chat", "--config",
                                 dir.file("shipmate.yaml"), "--as", user},
        env);
  }

  static void finish(Subprocess& chat) {
    chat.close_stdin();
    EXPECT_EQ(chat.wait(), 0) << chat.output();
  }

  // Waits (a failure guard, not a timing claim) until `condition` holds.
  static bool eventually(const std::function<bool()>& condition,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (condition())
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return condition();
  }

  bool audit_intact() {
    auto [code, output] =
        run_command({shipmate_binary(), "audit", "verify", "--config", dir.file("shipmate.yaml")});
    EXPECT_TRUE(has(output, "intact")) << output;
    return code == 0;
  }

  std::string db() const { return dir.file("state/shipmate.db"); }
  long long count(const std::string& sql) const {
    auto rows = query(db(), sql);
    return rows.size() == 1 ? std::stoll(rows[0]) : -1;
  }
  std::string url(const std::string& env) const {
    return "http://127.0.0.1:" + std::to_string(env == "staging" ? staging_port : production_port);
  }
  static std::string body_at(int port) {
    auto response = http_get(port, "/");
    return response ? response->body : "<no answer>";
  }

  TempDir dir;
  int staging_port = 0;
  int production_port = 0;
};

}  // namespace shipmate::testing
