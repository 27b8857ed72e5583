// Child processes started without a shell and supervised from the event loop.
//
// Contract
// - start() forks and execs an argv vector directly (PATH is searched, /bin/sh never runs). The
//   child gets its own process group, the given working directory and extra environment, stdin
//   from /dev/null, stdout+stderr appended to a log file, and SIGTERM when the thread that started
//   it dies (PR_SET_PDEATHSIG). start() returns only after the exec succeeded or failed; a failure
//   (missing executable, bad directory) comes back as an Error such as
//   "python3: No such file or directory".
// - Ownership: a ChildProcess owns its child. Every exit is reaped with waitpid on that specific
//   pid, never waitpid(-1), so processes started elsewhere in Shipmate are left alone. When the
//   child exits, the rest of its process group is killed before the reap (the pgid cannot be
//   reused while the leader is an unreaped zombie). The destructor kills and reaps a child that
//   is still running (blocking, best effort).
// - Threading: not thread-safe; use each ChildProcess from one thread (the event loop). The
//   awaitable members poll with a short steady_timer, so no SIGCHLD handler is installed.
// - start_off_loop() does what start() does on one spawner thread that Shipmate starts on first
//   use and keeps until it exits (so PR_SET_PDEATHSIG still fires only when Shipmate dies): the
//   fork, and the wait until the child has exec'd, which on a loaded machine means waiting for
//   the child to be scheduled, then block that thread and not the caller's event loop. Starts
//   from many coroutines queue there, one at a time. It completes on the caller's executor.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "common/result.h"

namespace shipmate::integrations {

struct ProcessSpec {
  std::vector<std::string> argv;           // argv[0] is looked up in PATH when it has no '/'
  std::string cwd;                         // empty: inherit
  std::map<std::string, std::string> env;  // added to (and overriding) the inherited environment
  std::string log_path;  // stdout+stderr appended here (parents created); empty: /dev/null
};

struct ExitStatus {
  int code = -1;   // exit code when the process exited normally, else -1
  int signal = 0;  // terminating signal, else 0
  // "exited with status 3", "killed by signal 9 (SIGKILL)"
  std::string describe() const;
};

class ChildProcess {
 public:
  static Result<std::unique_ptr<ChildProcess>> start(const ProcessSpec& spec);
  // As start(), carried out on the spawner thread (see the contract above).
  // Blocks until the spawner thread has finished everything queued on it so far, including the
  // clean-up that follows each start_off_loop() after its caller has resumed (that clean-up still
  // holds a copy of the caller's executor). Call it before destroying an io_context that used
  // start_off_loop() (tests stop and destroy theirs; the process's own lives until exit).
  static void wait_for_spawner();
  static boost::asio::awaitable<Result<std::unique_ptr<ChildProcess>>> start_off_loop(
      ProcessSpec spec);

  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  int pid() const { return pid_; }
  std::chrono::steady_clock::time_point started_at() const { return started_at_; }

  // Non-blocking: reaps the child if it has exited. nullopt while it runs.
  std::optional<ExitStatus> poll();
  bool running() { return !poll().has_value(); }

  // Sends `signal` to the whole process group (no-op once reaped).
  void signal_group(int signal);

  // Completes when the child has exited (and been reaped).
  boost::asio::awaitable<ExitStatus> wait();
  // As wait(), but gives up after `timeout` and returns nullopt (the child keeps running).
  boost::asio::awaitable<std::optional<ExitStatus>> wait_for(std::chrono::milliseconds timeout);
  // SIGTERM to the group, up to `grace` for the child to exit, then SIGKILL; always reaps.
  boost::asio::awaitable<ExitStatus> stop(std::chrono::milliseconds grace);
  // Blocking variant of stop() for destructors: SIGTERM, up to `grace`, SIGKILL, reap.
  ExitStatus stop_now(std::chrono::milliseconds grace);

 private:
  ChildProcess(int pid, std::chrono::steady_clock::time_point started_at)
      : pid_(pid), started_at_(started_at) {}

  int pid_;
  std::chrono::steady_clock::time_point started_at_;
  std::optional<ExitStatus> exit_;
};

}  // namespace shipmate::integrations
