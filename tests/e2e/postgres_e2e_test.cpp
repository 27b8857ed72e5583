// End-to-end on PostgreSQL: the real shipmate binary, a scripted terminal session, the sample
// service's real releases, and a database on the test binary's throwaway PostgreSQL server
// (tests/support/postgres_server.h), named through a secret reference.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "storage/database.h"
#include "tests/support/e2e_support.h"
#include "tests/support/postgres_server.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

// With the server's trust authentication the password is never asked for, so it can stand for
// any credential the URI carries: it must not show up anywhere.
constexpr const char* kPassword = "pg-pass-6b1f0c";

class PostgresSession : public ::testing::Test {
 protected:
  void SetUp() override {
    uri = postgres_server().fresh_database() + "&password=" + kPassword;
    port = free_port();
    write_config("{secret: database}");
  }

  void write_config(const std::string& database, const std::string& extra = "") {
    write_file(dir.file("shipmate.yaml"), "shipmate:\n  database: " + database + "\n" + extra +
                                              R"(  state_dir: state/run
terminal:
  user: alice
environments:
  - name: staging
    allow: {deploy: [developer], rollback: [developer], lock: [developer]}
users:
  - {id: alice, name: Alice, roles: [developer]}
secrets:
  database: {env: SHIPMATE_TEST_DATABASE}
services:
  - name: hello
    environments: [staging]
    target:
      kind: local
      releases: )" + source_dir() + R"(/examples/hello/releases
      start: [python3, server.py]
      health: {http: /health, timeout: 1s, retries: 50, interval: 100ms}
      stop_grace: 2s
      ports: {staging: )" + std::to_string(port) +
                                              "}\n");
  }

  std::map<std::string, std::string> env() const { return {{"SHIPMATE_TEST_DATABASE", uri}}; }

  std::unique_ptr<Subprocess> start_chat() {
    return std::make_unique<Subprocess>(
        std::vector<std::string>{shipmate_binary(), "chat", "--config", dir.file("shipmate.yaml")},
        env());
  }

  std::vector<std::string> rows(const std::string& sql) {
    auto db = storage::Database::open(uri);
    EXPECT_TRUE(db.ok()) << db.error().message;
    std::vector<std::string> out;
    if (!db)
      return out;
    auto query = (*db)->prepare(sql);
    while (query.step()) {
      std::string row = query.column_text(0);
      for (int i = 1; i < 4 && !query.column_text(i).empty(); ++i)
        row += "|" + query.column_text(i);
      out.push_back(row);
    }
    return out;
  }

  TempDir dir;
  std::string uri;
  int port = 0;
};

TEST_F(PostgresSession, DeployLockAndAuditLiveInPostgreSQL) {
  auto chat = start_chat();
  say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");
  say(*chat, "deploy hello v2 to staging", "Deploy #2 succeeded");
  say(*chat, "lock hello@staging db work", "Locked hello@staging");
  std::string out = say(*chat, "deploy hello v1 to staging", "Deploy refused");
  EXPECT_TRUE(has(out, "hello@staging is locked by alice")) << out;

  // A second Shipmate on the same database is refused while the first runs.
  auto [second_code, second] =
      run_command({shipmate_binary(), "chat", "--config", dir.file("shipmate.yaml")}, "", env());
  EXPECT_NE(second_code, 0) << second;
  EXPECT_TRUE(has(second, "another Shipmate is using it")) << second;
  // Verifying reads only, so it runs next to the bot.
  auto [verify_code, verified] = run_command(
      {shipmate_binary(), "audit", "verify", "--config", dir.file("shipmate.yaml")}, "", env());
  EXPECT_EQ(verify_code, 0) << verified;
  EXPECT_TRUE(has(verified, "audit log intact")) << verified;

  say(*chat, "unlock hello@staging", "Unlocked hello@staging");
  chat->close_stdin();
  ASSERT_EQ(chat->wait(), 0) << chat->output();

  EXPECT_EQ(rows("SELECT id, version, state FROM deploys ORDER BY id"),
            (std::vector<std::string>{"1|v1|succeeded", "2|v2|succeeded"}));
  EXPECT_TRUE(rows("SELECT scope FROM locks").empty());
  EXPECT_FALSE(rows("SELECT seq FROM audit_log").empty());
  for (const std::string& text : {chat->output(), second, verified})
    EXPECT_FALSE(has(text, kPassword)) << text;

  // Started again, it finds its history there.
  auto again = start_chat();
  out = say(*again, "history hello", "v1");
  EXPECT_TRUE(has(out, "v2")) << out;
  again->close_stdin();
  EXPECT_EQ(again->wait(), 0) << again->output();
}

TEST_F(PostgresSession, StorageCopyMovesAnSQLiteHistoryThatThenServes) {
  write_config("state/shipmate.db");
  {
    auto chat = start_chat();
    say(*chat, "deploy hello v1 to staging", "Deploy #1 succeeded");
    say(*chat, "deploy hello v2 to staging", "Deploy #2 succeeded");
    say(*chat, "lock hello@staging migration", "Locked hello@staging");
    chat->close_stdin();
    ASSERT_EQ(chat->wait(), 0) << chat->output();
  }
  const std::vector<std::string> copy = {shipmate_binary(),
                                         "storage",
                                         "copy",
                                         "--from",
                                         "sqlite:" + dir.file("state/shipmate.db"),
                                         "--to",
                                         uri};
  auto [code, output] = run_command(copy);
  ASSERT_EQ(code, 0) << output;
  EXPECT_TRUE(has(output, "deploys            2 rows")) << output;
  EXPECT_TRUE(has(output, "locks              1 rows")) << output;
  EXPECT_TRUE(has(output, "audit log intact on the copy")) << output;
  EXPECT_FALSE(has(output, kPassword)) << output;

  // The copy is the database from now on: history, locks and ids carry on from where they were.
  write_config("{secret: database}");
  auto chat = start_chat();
  std::string out = say(*chat, "history hello", "v1");
  EXPECT_TRUE(has(out, "v2")) << out;
  say(*chat, "locks", "hello@staging: locked by alice");
  say(*chat, "unlock hello@staging", "Unlocked hello@staging");
  say(*chat, "deploy hello v1 to staging", "Deploy #3 succeeded");  // (v3 is the broken one)
  chat->close_stdin();
  ASSERT_EQ(chat->wait(), 0) << chat->output();
  auto [verify_code, verified] = run_command(
      {shipmate_binary(), "audit", "verify", "--config", dir.file("shipmate.yaml")}, "", env());
  EXPECT_EQ(verify_code, 0) << verified;
  EXPECT_TRUE(has(verified, "audit log intact")) << verified;

  // A second copy into the same database is refused: it is not empty any more.
  std::tie(code, output) = run_command(copy);
  EXPECT_NE(code, 0) << output;
  EXPECT_TRUE(has(output, "it already holds data (3 in deploys")) << output;
  EXPECT_FALSE(has(output, kPassword)) << output;
}

TEST_F(PostgresSession, APasswordWrittenInTheFileIsRefused) {
  write_config(uri);
  auto [code, output] = run_command({shipmate_binary(), "check-config", dir.file("shipmate.yaml")});
  EXPECT_NE(code, 0) << output;
  EXPECT_TRUE(has(output, "the PostgreSQL URI carries a password")) << output;
  EXPECT_FALSE(has(output, kPassword)) << output;
}

// A server on loopback TCP that answers libpq's SSLRequest with 'N' (no TLS here), as a
// PostgreSQL without ssl=on does. (libpq never uses TLS on a Unix socket, so the test server
// cannot show this.)
class NoTlsServer {
 public:
  NoTlsServer() {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    listen(listener_, 4);
    socklen_t size = sizeof address;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] {
      const int client = accept(listener_, nullptr, nullptr);
      if (client < 0)
        return;
      char request[8];
      std::size_t got = 0;
      while (got < sizeof request) {
        const ssize_t n = read(client, request + got, sizeof request - got);
        if (n <= 0)
          break;
        got += static_cast<std::size_t>(n);
      }
      saw_ssl_request_ = got == sizeof request && request[4] == 0x04 && request[5] == (char)0xd2 &&
                         request[6] == 0x16 && request[7] == 0x2f;  // 80877103
      (void)!write(client, "N", 1);
      close(client);
    });
  }
  ~NoTlsServer() {
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    thread_.join();
  }
  int port() const { return port_; }
  bool saw_ssl_request() const { return saw_ssl_request_; }

 private:
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> saw_ssl_request_{false};
};

TEST_F(PostgresSession, TlsOptionsReachLibpq) {
  NoTlsServer server;
  uri = "postgresql://postgres@127.0.0.1:" + std::to_string(server.port()) +
        "/shipmate?gssencmode=disable&password=" + kPassword;
  write_config("{secret: database}", "  database_tls: {mode: require}\n");
  auto [code, output] =
      run_command({shipmate_binary(), "chat", "--config", dir.file("shipmate.yaml")}, "", env());
  EXPECT_NE(code, 0) << output;
  EXPECT_TRUE(server.saw_ssl_request());
  EXPECT_TRUE(has(output, "cannot connect to postgresql://postgres@127.0.0.1:" +
                              std::to_string(server.port()) + "/shipmate: "))
      << output;
  EXPECT_TRUE(has(output, "SSL")) << output;
  EXPECT_FALSE(has(output, kPassword)) << output;

  write_config("{secret: database}", "  database_tls: {mode: verify-full, ca_file: missing.pem}\n");
  std::tie(code, output) =
      run_command({shipmate_binary(), "check-config", dir.file("shipmate.yaml")}, "", env());
  EXPECT_NE(code, 0) << output;
  EXPECT_TRUE(has(output, "database_tls ca_file: no such file")) << output;
  write_config("{secret: database}", "  database_tls: {mode: sometimes}\n");
  std::tie(code, output) =
      run_command({shipmate_binary(), "check-config", dir.file("shipmate.yaml")}, "", env());
  EXPECT_NE(code, 0) << output;
  EXPECT_TRUE(has(output, "database_tls mode must be one of")) << output;
}

TEST_F(PostgresSession, AnUnreachableServerIsAClearError) {
  uri = "postgresql:///nowhere?host=" + dir.path() + "&user=postgres&password=" + kPassword;
  auto [code, output] =
      run_command({shipmate_binary(), "chat", "--config", dir.file("shipmate.yaml")}, "", env());
  EXPECT_NE(code, 0) << output;
  EXPECT_TRUE(has(output, "cannot connect to postgresql://postgres@" + dir.path() + "/nowhere"))
      << output;
  EXPECT_FALSE(has(output, kPassword)) << output;
}

}  // namespace
}  // namespace shipmate::testing
