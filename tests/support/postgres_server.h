// A throwaway PostgreSQL 15 server for tests, and a fresh database per test.
//
// Contract
// - One server per test binary: started on first use of postgres_server(), in a new directory
//   under $TMPDIR, listening only on a Unix socket in that directory (no TCP port, so parallel
//   test binaries never collide), with fsync off. It is stopped (fast shutdown) and the
//   directory removed when the process exits normally; if the test binary dies, the server gets
//   SIGKILL from the kernel (parent-death signal) and its backends follow it.
// - PostgreSQL refuses to run as root, and CI runs tests as root: the server and initdb then
//   run as the `postgres` user (Debian's package creates it). The child drops its group and user
//   first and sets the parent-death signal afterwards, since a credential change clears it.
// - Missing PostgreSQL is a test failure, not a skip: postgres_server() throws
//   std::runtime_error saying what to install (scripts/install-deps does).
// - Threading: postgres_server() and fresh_database() may be called from any thread.
#pragma once

#include <string>

namespace shipmate::testing {

class PostgresServer {
 public:
  // Where the binaries are: Debian's postgresql-15.
  static constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";

  PostgresServer();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // Creates an empty database with a new name and returns its libpq URI
  // ("postgresql:///NAME?host=/tmp/...&user=postgres").
  std::string fresh_database();
  // The URI of an existing database on this server.
  std::string uri(const std::string& database) const;
  const std::string& socket_dir() const { return dir_; }
  int pid() const { return pid_; }

 private:
  void start();
  void stop();

  std::string dir_;
  int pid_ = -1;
  int next_database_ = 0;
};

// The binary's one server, started on first use.
PostgresServer& postgres_server();

}  // namespace shipmate::testing
