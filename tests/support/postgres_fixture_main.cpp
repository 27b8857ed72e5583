// shipmate_test_postgres_fixture: the shared test PostgreSQL of one ctest run (postgres_server.h).
//
//   shipmate_test_postgres_fixture start   (ctest FIXTURES_SETUP)
//   shipmate_test_postgres_fixture stop    (ctest FIXTURES_CLEANUP)
//
// Both find the run by their parent's pid, which is ctest's, as the test processes do.
// `start` forks a keeper into its own session (so ctest's timeouts and process-group kills of the
// setup test do not reach it), with its standard streams on /dev/null (ctest waits for the setup
// test's output pipes to close). The keeper starts PostgreSQL (which gets SIGKILL from the kernel
// if the keeper dies), reports "ok" or the failure through a pipe, and then checks ten times a
// second for a `stop` file in the server's directory or for ctest having gone; either stops the
// server and removes the directory. `start` exits 0 once the server answers, 1 with the reason
// otherwise. `stop` asks the keeper to stop and waits (up to 60 s) for the directory to go.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "tests/support/postgres_server.h"

namespace {

using shipmate::testing::PostgresServer;
namespace fs = std::filesystem;

bool alive(pid_t pid) {
  return kill(pid, 0) == 0 || errno == EPERM;
}

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    done += static_cast<std::size_t>(n);
  }
}

// The keeper: runs in the forked child, never returns.
[[noreturn]] void keep(const std::string& dir, pid_t run, int report) {
  setsid();
  if (const int null = open("/dev/null", O_RDWR); null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2)
      close(null);
  }
  std::unique_ptr<PostgresServer> server;
  try {
    server = std::make_unique<PostgresServer>(dir);
    write_all(report, "ok");
  } catch (const std::exception& e) {
    write_all(report, e.what());
    close(report);
    _exit(1);
  }
  close(report);
  const std::string stop_file = dir + "/stop";
  while (alive(run) && access(stop_file.c_str(), F_OK) != 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  server.reset();  // fast shutdown, directory removed
  _exit(0);
}

int start(pid_t run) {
  const std::string dir = PostgresServer::shared_dir(run);
  // A directory left by a keeper that was killed (its server died with it).
  std::error_code ignored;
  fs::remove_all(dir, ignored);
  // Close-on-exec: initdb and postgres, which the keeper starts, must not hold the write end,
  // or this read would never see the end of the report.
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    std::perror("pipe");
    return 1;
  }
  const pid_t keeper = fork();
  if (keeper < 0) {
    std::perror("fork");
    return 1;
  }
  if (keeper == 0) {
    close(pipe_fds[0]);
    keep(dir, run, pipe_fds[1]);
  }
  close(pipe_fds[1]);
  std::string answer;
  char buffer[512];
  for (;;) {
    const ssize_t n = read(pipe_fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    answer.append(buffer, static_cast<std::size_t>(n));
  }
  close(pipe_fds[0]);
  if (answer != "ok") {
    std::fprintf(stderr, "the shared test PostgreSQL did not start: %s\n",
                 answer.empty() ? "its keeper died" : answer.c_str());
    return 1;
  }
  std::printf("shared test PostgreSQL for ctest %d: %s (keeper %d)\n", static_cast<int>(run),
              dir.c_str(), static_cast<int>(keeper));
  return 0;
}

int stop(pid_t run) {
  const std::string dir = PostgresServer::shared_dir(run);
  if (!fs::exists(dir)) {
    std::printf("no shared test PostgreSQL for ctest %d\n", static_cast<int>(run));
    return 0;
  }
  { std::ofstream(dir + "/stop") << "stop\n"; }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (fs::exists(dir)) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "the shared test PostgreSQL in %s did not stop within 60 s\n",
                   dir.c_str());
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::printf("shared test PostgreSQL for ctest %d stopped\n", static_cast<int>(run));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view what = argc == 2 ? argv[1] : "";
  const pid_t run = getppid();
  if (what == "start")
    return start(run);
  if (what == "stop")
    return stop(run);
  std::fprintf(stderr, "usage: shipmate_test_postgres_fixture start|stop\n");
  return 2;
}
