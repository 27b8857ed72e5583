// A throwaway PostgreSQL 15 server for tests, and a fresh database per test.
//
// Contract
// - Under ctest, one server per ctest run is shared by every test process that asks for one:
//   the `postgres_fixture_start` test (a ctest FIXTURES_SETUP) starts it in
//   $TMPDIR/shipmate-test-pg-<ctest's pid> under a small keeper process, and
//   `postgres_fixture_stop` (FIXTURES_CLEANUP) stops it; the keeper also stops it within a
//   fraction of a second when ctest itself is gone (killed, interrupted). Test binaries built
//   with shipmate_postgres_test() get SHIPMATE_TEST_POSTGRES=shared and use that server, found by
//   their parent's pid (ctest's). Starting a server costs an initdb and a start-up (seconds on a
//   loaded 2-core machine), which each test process used to pay.
// - Anywhere else (a test binary run by hand, or the shared server not answering), each test
//   binary starts its own server on first use of postgres_server(), in a new directory under
//   $TMPDIR, as before.
// - Either way the server listens only on a Unix socket in its directory (no TCP port, so
//   parallel runs never collide), with fsync off, and dies with its owner: a private server is
//   stopped (fast shutdown) and its directory removed when the process exits normally, and gets
//   SIGKILL from the kernel (parent-death signal) if the test binary dies; the shared one does
//   the same with its keeper.
// - fresh_database() names are unique across processes (pid and a random part), so test
//   processes sharing a server never collide; on the shared server a process drops the
//   databases it made when it exits normally.
// - PostgreSQL refuses to run as root, and CI runs tests as root: the server and initdb then
//   run as the `postgres` user (Debian's package creates it). The child drops its group and user
//   first and sets the parent-death signal afterwards, since a credential change clears it.
// - Missing PostgreSQL is a test failure, not a skip: postgres_server() throws
//   std::runtime_error saying what to install (scripts/install-deps does).
// - Threading: postgres_server() and fresh_database() may be called from any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace shipmate::testing {

class PostgresServer {
 public:
  // Where the binaries are: Debian's postgresql-15.
  static constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";

  // Starts a private server in a new directory under $TMPDIR.
  PostgresServer();
  // Starts a server in `dir`, which must not exist yet (the shared server's keeper).
  explicit PostgresServer(const std::string& dir);
  // A handle on a server that already answers on its socket in `dir`; it never stops that
  // server, and drops the databases it made when destroyed. Null when nothing answers there.
  static std::unique_ptr<PostgresServer> attach(const std::string& dir);
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // Where the shared server of the ctest run whose pid is `run` lives.
  static std::string shared_dir(int run);

  // Creates an empty database with a new name and returns its libpq URI
  // ("postgresql:///NAME?host=/tmp/...&user=postgres").
  std::string fresh_database();
  // The URI of an existing database on this server.
  std::string uri(const std::string& database) const;
  const std::string& socket_dir() const { return dir_; }
  int pid() const { return pid_; }

 private:
  struct Attached {};
  PostgresServer(Attached, std::string dir);
  void start();
  void stop();

  std::string dir_;
  int pid_ = -1;
  bool owned_ = true;              // false: attached to the shared server
  std::vector<std::string> made_;  // databases made through an attached handle
  int next_database_ = 0;
};

// The binary's one server, started on first use.
PostgresServer& postgres_server();

}  // namespace shipmate::testing
