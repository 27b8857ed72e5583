#include "tests/support/postgres_server.h"

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

namespace shipmate::testing {
namespace {

namespace fs = std::filesystem;

constexpr int kPort = 5432;  // names the socket file only; nothing listens on TCP
constexpr auto kStartDeadline = std::chrono::seconds(60);

struct Account {
  uid_t uid = 0;
  gid_t gid = 0;
  bool drop = false;
};

// Root runs PostgreSQL as `postgres`; anyone else as themselves.
Account account() {
  if (geteuid() != 0)
    return {geteuid(), getegid(), false};
  const passwd* user = getpwnam("postgres");
  if (user == nullptr) {
    throw std::runtime_error(
        "tests run as root and PostgreSQL refuses root, but there is no `postgres` user to run it "
        "as: install postgresql-15 (scripts/install-deps)");
  }
  return {user->pw_uid, user->pw_gid, true};
}

// Forks and execs `argv` as `who`, with the parent-death signal set after dropping privileges.
// Output goes to `log`. Returns the child's pid.
pid_t spawn(const std::vector<std::string>& argv, const Account& who, const std::string& log) {
  std::vector<char*> args;
  for (const auto& arg : argv)
    args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0)
    throw std::runtime_error("cannot fork to start PostgreSQL");
  if (pid == 0) {
    const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out >= 0) {
      dup2(out, 1);
      dup2(out, 2);
      close(out);
    }
    const int null = open("/dev/null", O_RDONLY);
    if (null >= 0)
      dup2(null, 0);
    setsid();
    if (who.drop) {
      if (setgroups(0, nullptr) != 0 || setgid(who.gid) != 0 || setuid(who.uid) != 0)
        _exit(126);
    }
    // After the credential change, which clears it; then make sure the parent did not die
    // between fork and now (the signal would have been missed).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(125);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

std::string read_log(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "r");
  if (file == nullptr)
    return {};
  std::string text;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0)
    text.append(buffer, n);
  std::fclose(file);
  return text;
}

std::string temp_root() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
}

int wait_exit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

PostgresServer::PostgresServer() {
  std::string pattern = temp_root() + "/pg-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("cannot create a directory for PostgreSQL under " + pattern);
  dir_ = pattern;
  try {
    start();
  } catch (...) {
    stop();
    throw;
  }
}

PostgresServer::PostgresServer(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0) {
    throw std::runtime_error("cannot create " + dir +
                             " for the shared test PostgreSQL: " + std::strerror(errno));
  }
  dir_ = dir;
  try {
    start();
  } catch (...) {
    stop();
    throw;
  }
}

PostgresServer::PostgresServer(Attached, std::string dir) : dir_(std::move(dir)), owned_(false) {}

std::unique_ptr<PostgresServer> PostgresServer::attach(const std::string& dir) {
  std::unique_ptr<PostgresServer> server(new PostgresServer(Attached{}, dir));
  const std::string probe = "host=" + dir + " port=" + std::to_string(kPort) +
                            " user=postgres dbname=postgres connect_timeout=10";
  if (PQping(probe.c_str()) != PQPING_OK)
    return nullptr;
  return server;
}

std::string PostgresServer::shared_dir(int run) {
  return temp_root() + "/shipmate-test-pg-" + std::to_string(run);
}

void PostgresServer::start() {
  const std::string postgres = std::string(kBinDir) + "/postgres";
  const std::string initdb = std::string(kBinDir) + "/initdb";
  if (access(postgres.c_str(), X_OK) != 0 || access(initdb.c_str(), X_OK) != 0) {
    throw std::runtime_error("PostgreSQL 15 is not installed (" + postgres +
                             " is missing): run scripts/install-deps, which installs "
                             "postgresql-15; these tests fail rather than skip without it");
  }
  const Account who = account();
  if (who.drop && chown(dir_.c_str(), who.uid, who.gid) != 0)
    throw std::runtime_error("cannot hand " + dir_ + " to the postgres user");
  const std::string data = dir_ + "/data";
  const std::string log = dir_ + "/server.log";

  const pid_t init = spawn({initdb, "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                            "--locale=C", "--no-sync"},
                           who, log);
  if (const int rc = wait_exit(init); rc != 0) {
    throw std::runtime_error("initdb failed (exit " + std::to_string(rc) + "): " + read_log(log));
  }
  pid_ = spawn(
      {postgres, "-D", data, "-k", dir_, "-p", std::to_string(kPort), "-c",
       "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c",
       "full_page_writes=off", "-c", "max_connections=200", "-c", "unix_socket_permissions=0777"},
      who, log);

  const std::string probe = "host=" + dir_ + " port=" + std::to_string(kPort) +
                            " user=postgres dbname=postgres connect_timeout=5";
  const auto deadline = std::chrono::steady_clock::now() + kStartDeadline;
  while (PQping(probe.c_str()) != PQPING_OK) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("PostgreSQL exited while starting: " + read_log(log));
    }
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("PostgreSQL did not accept connections within 60 s: " +
                               read_log(log));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

PostgresServer::~PostgresServer() {
  stop();
}

void PostgresServer::stop() {
  if (!owned_) {
    // The shared server stays up for other processes; take away only what this one made.
    if (made_.empty())
      return;
    PGconn* admin = PQconnectdb(uri("postgres").c_str());
    if (PQstatus(admin) == CONNECTION_OK) {
      for (const auto& name : made_) {
        const std::string sql = "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)";
        PQclear(PQexec(admin, sql.c_str()));
      }
    }
    PQfinish(admin);
    made_.clear();
    return;
  }
  if (pid_ > 0) {
    kill(pid_, SIGINT);  // fast shutdown: ends sessions, no checkpoint wait worth having
    wait_exit(pid_);
  }
  std::error_code ignored;
  if (!dir_.empty())
    fs::remove_all(dir_, ignored);
  pid_ = -1;
  dir_.clear();
}

std::string PostgresServer::uri(const std::string& database) const {
  return "postgresql:///" + database + "?host=" + dir_ + "&port=" + std::to_string(kPort) +
         "&user=postgres";
}

std::string PostgresServer::fresh_database() {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  // Unique across processes sharing a server, even when a pid is reused within one run.
  static const unsigned salt = std::random_device{}();
  const std::string name = "test_" + std::to_string(getpid()) + "_" + std::to_string(salt) + "_" +
                           std::to_string(++next_database_);
  PGconn* admin = PQconnectdb(uri("postgres").c_str());
  if (PQstatus(admin) != CONNECTION_OK) {
    std::string message = PQerrorMessage(admin);
    PQfinish(admin);
    throw std::runtime_error("cannot connect to the test PostgreSQL: " + message);
  }
  // FILE_COPY: with fsync off, copying template0's files beats logging every page of it.
  const std::string sql = "CREATE DATABASE " + name + " TEMPLATE template0 STRATEGY FILE_COPY";
  PGresult* result = PQexec(admin, sql.c_str());
  const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
  std::string message = ok ? "" : PQresultErrorMessage(result);
  PQclear(result);
  PQfinish(admin);
  if (!ok)
    throw std::runtime_error("cannot create test database " + name + ": " + message);
  if (!owned_)
    made_.push_back(name);
  return uri(name);
}

PostgresServer& postgres_server() {
  // A failed start is remembered, so every test that needs the server fails with the same
  // message instead of each trying initdb again.
  static std::mutex mutex;
  static std::unique_ptr<PostgresServer> server;
  static std::string failure;
  std::lock_guard lock(mutex);
  if (server)
    return *server;
  if (!failure.empty())
    throw std::runtime_error(failure);
  // Under ctest, the run's shared server (postgres_fixture_main.cpp) when it answers.
  if (const char* mode = std::getenv("SHIPMATE_TEST_POSTGRES");
      mode != nullptr && std::string_view(mode) == "shared") {
    server = PostgresServer::attach(PostgresServer::shared_dir(getppid()));
    if (server)
      return *server;
  }
  try {
    server = std::make_unique<PostgresServer>();
  } catch (const std::exception& e) {
    failure = e.what();
    throw;
  }
  return *server;
}

}  // namespace shipmate::testing
