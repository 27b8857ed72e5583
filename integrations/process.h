// Child processes started without a shell and supervised from the event loop.
//
// Contract
// - start() starts a child and execs an argv vector directly (PATH is searched, /bin/sh never
//   runs); the child shares Shipmate's memory until its exec, as with posix_spawn, so starting it
//   copies no page tables (sanitized builds fork instead). The
//   child gets its own process group, the given working directory and extra environment, stdin
//   from /dev/null, stdout+stderr appended to a log file (or, with a log cap, into a pipe whose
//   read end the caller takes and drains with an OutputPump), and SIGTERM when the thread that
//   started it dies (PR_SET_PDEATHSIG). start() returns only after the exec succeeded or failed; a
//   failure (missing executable, bad directory) comes back as an Error such as "python3: No such
//   file or directory".
// - Ownership: a ChildProcess owns its child. Every exit is reaped with waitpid on that specific
//   pid, never waitpid(-1), so processes started elsewhere in Shipmate are left alone. When the
//   child exits, the rest of its process group is killed before the reap (the pgid cannot be
//   reused while the leader is an unreaped zombie). The destructor kills and reaps a child that
//   is still running (blocking, best effort).
// - Threading: not thread-safe; use each ChildProcess from one thread (the event loop).
// - Waiting: wait(), wait_for() and stop() install no SIGCHLD handler and do not poll. They watch
//   a pidfd (pidfd_open, Linux >= 5.3) for the child's exit through the caller's executor, so a
//   waiting step costs the loop nothing until the child exits. Where pidfd_open is refused
//   (an older kernel, a seccomp filter, no descriptors left) they fall back to checking with
//   waitid(WNOHANG) every 20 ms on a timer; use_pidfd(false) forces that fallback (tests).
// - start_off_loop() does what start() does on one spawner thread that Shipmate starts on first
//   use and keeps until it exits (so PR_SET_PDEATHSIG still fires only when Shipmate dies): the
//   optional `prepare` (file-system work that must come first: directories, secret files), the
//   fork, and the wait until the child has exec'd, which on a loaded machine means waiting for
//   the child to be scheduled, then block that thread and not the caller's event loop. Starts
//   from many coroutines queue there, one at a time.
//   Hand-back: it completes through the caller's executor, and the spawner thread keeps nothing
//   of the caller once it has posted that completion: the caller's work guard travels inside the
//   completion and is released on the caller's thread. An io_context may be destroyed while a
//   start for it is queued or running: its destruction waits for that start to be handed back
//   (a queued start is not carried out, the child of a running one is stopped with the
//   completion it never ran), so no barrier is needed before an io_context goes.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
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
  // > 0: stdout+stderr go into a pipe instead, and at most this many bytes of it reach log_path
  // through an OutputPump (integrations/output_pump.h) the caller starts on the pipe it takes
  // with take_output(). The child never writes the file itself, so the cap is a hard one.
  std::size_t log_cap = 0;
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
  // As start(), carried out on the spawner thread (see the contract above). `prepare`, when set,
  // runs there first; its error is returned and nothing is started.
  static boost::asio::awaitable<Result<std::unique_ptr<ChildProcess>>> start_off_loop(
      ProcessSpec spec, std::function<Status()> prepare = {});

  // Waiting through a pidfd (true, the default where the kernel allows it) or by the 20 ms
  // fallback check (false). Process-wide; tests switch it to cover the fallback.
  static void use_pidfd(bool enabled);
  // How many times a wait so far woke on the fallback timer to check a child (tests: a wait
  // through a pidfd adds none).
  static std::uint64_t fallback_checks();

  // SIGKILL to the process group of every child started and not yet reaped, from any thread:
  // for a process about to end without its shutdown (a second SIGINT), where PR_SET_PDEATHSIG's
  // SIGTERM would not stop a child that ignores SIGTERM.
  static void kill_all_now();

  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  int pid() const { return pid_; }
  // With ProcessSpec::log_cap: the read end of the child's output pipe (non-blocking,
  // close-on-exec), handed over once; -1 otherwise or when already taken.
  int take_output() { return std::exchange(output_fd_, -1); }
  std::chrono::steady_clock::time_point started_at() const { return started_at_; }

  // Non-blocking: reaps the child if it has exited. nullopt while it runs.
  std::optional<ExitStatus> poll();
  bool running() { return !poll().has_value(); }

  // Sends `signal` to the whole process group (no-op once reaped).
  void signal_group(int signal);

  // Completes when the child has exited (and been reaped).
  boost::asio::awaitable<ExitStatus> wait();
  // As wait(), but gives up after `timeout` and returns nullopt (the child keeps running). A
  // cancellation of the awaiting coroutine (its cancellation slot) also ends it with nullopt.
  boost::asio::awaitable<std::optional<ExitStatus>> wait_for(std::chrono::milliseconds timeout);
  // SIGTERM to the group, up to `grace` for the child to exit, then SIGKILL; always reaps.
  boost::asio::awaitable<ExitStatus> stop(std::chrono::milliseconds grace);
  // Blocking variant of stop() for destructors: SIGTERM, up to `grace`, SIGKILL, reap.
  ExitStatus stop_now(std::chrono::milliseconds grace);

 private:
  ChildProcess(int pid, std::chrono::steady_clock::time_point started_at, int output_fd)
      : pid_(pid), started_at_(started_at), output_fd_(output_fd) {}

  int pid_;
  std::chrono::steady_clock::time_point started_at_;
  std::optional<ExitStatus> exit_;
  int output_fd_ = -1;
};

}  // namespace shipmate::integrations
