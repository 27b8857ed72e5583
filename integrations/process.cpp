#include "integrations/process.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

extern char** environ;

namespace shipmate::integrations {

namespace {

// The process groups of children started and not yet reaped, for kill_all_now(). Children are
// started on the event loop and on the spawner thread, so the set has a lock. A group leaves the
// set while its leader is still an unreaped zombie, so a group id in the set is never reused.
std::mutex live_groups_mutex;
std::set<int> live_groups;

void add_live_group(int pgid) {
  std::lock_guard lock(live_groups_mutex);
  live_groups.insert(pgid);
}

void remove_live_group(int pgid) {
  std::lock_guard lock(live_groups_mutex);
  live_groups.erase(pgid);
}

}  // namespace

namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

constexpr milliseconds kPollInterval{20};

// What the child reports through the CLOEXEC pipe when it cannot reach exec.
enum class Stage : int { kSetpgid = 1, kChdir, kRedirect, kExec };
struct ChildFailure {
  Stage stage;
  int error;
};

std::string errno_text(int error) {
  return std::strerror(error);
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// The child dup2()s onto 0, 1 and 2; a descriptor already sitting there (Shipmate started with
// a closed stdio) would be clobbered before use, so keep ours above them.
int above_stdio(int fd) {
  if (fd < 0 || fd > 2)
    return fd;
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  return moved;
}

// PATH search is done before fork so the child only walks a ready-made list of execve
// candidates; glibc's execvp would also fall back to /bin/sh on ENOEXEC, which we never want.
std::vector<std::string> exec_candidates(const ProcessSpec& spec) {
  const std::string& file = spec.argv.front();
  if (file.find('/') != std::string::npos)
    return {file};
  std::string path;
  if (auto it = spec.env.find("PATH"); it != spec.env.end()) {
    path = it->second;
  } else if (const char* inherited = std::getenv("PATH"); inherited != nullptr) {
    path = inherited;
  } else {
    path = "/usr/local/bin:/usr/bin:/bin";
  }
  std::vector<std::string> candidates;
  std::size_t begin = 0;
  while (true) {
    std::size_t end = path.find(':', begin);
    std::string dir =
        path.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    candidates.push_back((dir.empty() ? std::string(".") : dir) + "/" + file);
    if (end == std::string::npos)
      break;
    begin = end + 1;
  }
  return candidates;
}

std::vector<std::string> build_environment(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> out;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    auto eq = text.find('=');
    if (eq != std::string_view::npos && extra.count(std::string(text.substr(0, eq))) > 0)
      continue;
    out.emplace_back(text);
  }
  for (const auto& [key, value] : extra)
    out.push_back(key + "=" + value);
  return out;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

ExitStatus decode(int status) {
  ExitStatus out;
  if (WIFEXITED(status)) {
    out.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    out.signal = WTERMSIG(status);
  }
  return out;
}

// Everything below runs in the forked child before exec: async-signal-safe calls only (no
// allocation, no locks, no stdio).
[[noreturn]] void report_and_exit(int error_fd, Stage stage) {
  ChildFailure failure{stage, errno};
  ssize_t ignored = ::write(error_fd, &failure, sizeof failure);
  (void)ignored;
  ::_exit(127);
}

bool move_fd(int from, int to) {
  if (from == to)
    return ::fcntl(to, F_SETFD, 0) == 0;  // dup2 would keep FD_CLOEXEC
  return ::dup2(from, to) == to;
}

void close_other_fds(int keep, long max_fd) {
  auto close_span = [max_fd](unsigned first, unsigned last) {
    if (first > last)
      return;
    if (::close_range(first, last, 0) == 0)
      return;
    // Kernels before 5.9 lack close_range.
    long stop = last == UINT_MAX ? max_fd : static_cast<long>(last) + 1;
    for (long fd = first; fd < stop; ++fd)
      ::close(static_cast<int>(fd));
  };
  close_span(3, static_cast<unsigned>(keep) - 1);
  close_span(static_cast<unsigned>(keep) + 1, UINT_MAX);
}

[[noreturn]] void run_child(const char* cwd, int stdin_fd, int output_fd, int error_fd,
                            pid_t parent, long max_fd, char* const* argv, char* const* envp,
                            char* const* candidates) {
  // The parent's handlers (asio's signal_set among them) must never run in the child, and
  // ignored signals would stay ignored across exec.
  struct sigaction defaults {};
  defaults.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    ::sigaction(sig, &defaults, nullptr);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  if (::setpgid(0, 0) != 0)
    report_and_exit(error_fd, Stage::kSetpgid);
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  // The parent may have died between fork and prctl; then nobody would ever send the signal.
  if (::getppid() != parent)
    ::_exit(128 + SIGTERM);

  if (cwd != nullptr && ::chdir(cwd) != 0)
    report_and_exit(error_fd, Stage::kChdir);
  if (!move_fd(stdin_fd, 0) || !move_fd(output_fd, 1) || !move_fd(output_fd, 2)) {
    report_and_exit(error_fd, Stage::kRedirect);
  }
  close_other_fds(error_fd, max_fd);

  int error = ENOENT;
  bool saw_eacces = false;
  for (char* const* candidate = candidates; *candidate != nullptr; ++candidate) {
    ::execve(*candidate, argv, envp);
    if (errno == EACCES) {
      saw_eacces = true;
    } else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ENODEV &&
               errno != ETIMEDOUT) {
      error = errno;
      break;
    }
  }
  errno = saw_eacces && error == ENOENT ? EACCES : error;
  report_and_exit(error_fd, Stage::kExec);
}

// run_child's arguments in one place, for clone().
struct ChildArgs {
  const char* cwd;
  int stdin_fd;
  int output_fd;
  int error_fd;
  pid_t parent;
  long max_fd;
  char* const* argv;
  char* const* envp;
  char* const* candidates;
};

int child_entry(void* raw) {
  const auto* a = static_cast<const ChildArgs*>(raw);
  run_child(a->cwd, a->stdin_fd, a->output_fd, a->error_fd, a->parent, a->max_fd, a->argv, a->envp,
            a->candidates);
}

// Starts the child the way posix_spawn does: it shares this process's memory until it has exec'd
// (CLONE_VM | CLONE_VFORK), so no page tables are copied, and the calling thread is suspended
// only until the exec (or the child's failure report). A fork copied the page tables of the whole
// process, holding its memory map locked meanwhile, so the event loop's page faults waited on
// every start. The child runs on a stack of its own (one per starting thread, reused: the caller
// is suspended while the child uses it) and only makes system calls until it execs: run_child
// resets the signal handlers it inherited blocked, and its errno writes land in the suspended
// caller's. posix_spawn itself cannot be used: it has no PR_SET_PDEATHSIG and no way to report
// which step failed. Under AddressSanitizer the child would poison the shadow of a stack the parent
// reuses, so sanitized builds fork (CI's sanitizer run covers that path, the normal run this one).
pid_t spawn_child(ChildArgs& args) {
#if defined(__SANITIZE_ADDRESS__)
  const pid_t pid = ::fork();
  if (pid == 0)
    child_entry(&args);
  return pid;
#else
  constexpr std::size_t kStackSize = 64 * 1024;
  static thread_local std::unique_ptr<char[]> stack;
  if (!stack)
    stack = std::make_unique<char[]>(kStackSize);
  // The stack grows down from its end, 16-byte aligned.
  char* top = stack.get() + kStackSize;
  top -= reinterpret_cast<std::uintptr_t>(top) % 16;
  return ::clone(child_entry, top, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
#endif
}

void sleep_briefly(milliseconds duration) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(duration.count() / 1000);
  ts.tv_nsec = static_cast<long>((duration.count() % 1000) * 1'000'000);
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// The spawner thread: one for the whole process, alive until exit (see the header).
asio::thread_pool& spawner() {
  static asio::thread_pool pool(1);
  return pool;
}

std::atomic<bool> pidfd_enabled{true};
std::atomic<std::uint64_t> fallback_check_count{0};

// A pidfd for `pid`, or -1 when the kernel refuses one (then the caller falls back to checking).
int open_pidfd(int pid) {
  if (!pidfd_enabled.load(std::memory_order_relaxed))
    return -1;
#ifdef SYS_pidfd_open
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0)
    return above_stdio(static_cast<int>(fd));
#else
  (void)pid;
#endif
  return -1;
}

using Started = Result<std::unique_ptr<ChildProcess>>;

// One per io_context that has used start_off_loop(): counts the starts that have not been handed
// back yet, so the io_context's destruction (which shuts this service down first, while its
// scheduler still exists) can wait for them instead of leaving the spawner thread holding it.
class SpawnerLink final : public asio::execution_context::service {
 public:
  struct State {
    std::mutex mutex;
    std::condition_variable idle;
    int outstanding = 0;
    bool closing = false;
  };
  static inline asio::execution_context::id id;

  explicit SpawnerLink(asio::execution_context& context)
      : asio::execution_context::service(context), state_(std::make_shared<State>()) {}
  std::shared_ptr<State> state() const { return state_; }

 private:
  void shutdown() override {
    std::unique_lock lock(state_->mutex);
    state_->closing = true;
    state_->idle.wait(lock, [&] { return state_->outstanding == 0; });
  }
  std::shared_ptr<State> state_;
};

// Spawns on the spawner thread and hands the result back through the caller's executor.
struct SpawnOp {
  template <typename Handler>
  void operator()(Handler handler, ProcessSpec spec, std::function<Status()> prepare) const {
    auto caller = asio::get_associated_executor(handler);
    auto link =
        asio::use_service<SpawnerLink>(asio::query(caller, asio::execution::context)).state();
    {
      std::lock_guard lock(link->mutex);
      ++link->outstanding;
    }
    // Everything of the caller's the spawner touches lives in here, and leaves it in one piece.
    struct Handoff {
      Handler handler;
      decltype(asio::prefer(caller, asio::execution::outstanding_work.tracked)) work;
      std::optional<Started> result;
    };
    auto handoff = std::make_unique<Handoff>(
        Handoff{std::move(handler), asio::prefer(caller, asio::execution::outstanding_work.tracked),
                std::nullopt});
    asio::post(spawner(), [handoff = std::move(handoff), link, spec = std::move(spec),
                           prepare = std::move(prepare)]() mutable {
      bool closing = false;
      {
        std::lock_guard lock(link->mutex);
        closing = link->closing;
      }
      if (closing) {
        handoff->result.emplace(make_error("not started: Shipmate is shutting down"));
      } else {
        Status prepared = prepare ? prepare() : Status(Ok{});
        if (!prepared)
          handoff->result.emplace(prepared.error());
        else
          handoff->result.emplace(ChildProcess::start(spec));
      }
      {
        // A plain (untracked) copy to post through; the tracked one travels in the completion
        // and is released on the caller's thread, after which the caller may go at any moment.
        auto target = asio::prefer(handoff->work, asio::execution::outstanding_work.untracked);
        asio::post(target, [done = std::move(handoff)]() mutable {
          Handler resume = std::move(done->handler);
          Started result = std::move(*done->result);
          done.reset();
          std::move(resume)(std::move(result));
        });
      }
      // Nothing of the caller is left here; the io_context's destruction may go on.
      std::lock_guard lock(link->mutex);
      if (--link->outstanding == 0)
        link->idle.notify_all();
    });
  }
};

}  // namespace

void ChildProcess::use_pidfd(bool enabled) {
  pidfd_enabled.store(enabled, std::memory_order_relaxed);
}

std::uint64_t ChildProcess::fallback_checks() {
  return fallback_check_count.load(std::memory_order_relaxed);
}

asio::awaitable<Result<std::unique_ptr<ChildProcess>>> ChildProcess::start_off_loop(
    ProcessSpec spec, std::function<Status()> prepare) {
  return asio::async_initiate<const asio::use_awaitable_t<>, void(Started)>(
      SpawnOp{}, asio::use_awaitable, std::move(spec), std::move(prepare));
}

std::string ExitStatus::describe() const {
  if (signal != 0) {
    const char* name = ::sigabbrev_np(signal);
    return "killed by signal " + std::to_string(signal) +
           (name != nullptr ? std::string(" (SIG") + name + ")" : std::string());
  }
  if (code >= 0)
    return "exited with status " + std::to_string(code);
  return "exited (status unknown)";
}

Result<std::unique_ptr<ChildProcess>> ChildProcess::start(const ProcessSpec& spec) {
  if (spec.argv.empty() || spec.argv.front().empty())
    return make_error("empty command");

  if (!spec.log_path.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(spec.log_path).parent_path(), ec);
    if (ec) {
      return make_error("cannot create the log directory for " + spec.log_path + ": " +
                        ec.message());
    }
  }
  Fd output;
  Fd output_read;  // with a log cap: the parent's end of the output pipe
  if (spec.log_cap > 0) {
    int output_pipe[2];
    if (::pipe2(output_pipe, O_CLOEXEC) != 0)
      return make_error("cannot create a pipe: " + errno_text(errno));
    output_read.reset(above_stdio(output_pipe[0]));
    output.reset(output_pipe[1]);
    if (output_read.get() < 0 || ::fcntl(output_read.get(), F_SETFL, O_NONBLOCK) != 0)
      return make_error("cannot create a pipe: " + errno_text(errno));
  } else if (spec.log_path.empty()) {
    output.reset(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  } else {
    output.reset(::open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  }
  output.reset(above_stdio(output.release()));
  if (output.get() < 0) {
    return make_error("cannot open log file " + spec.log_path + ": " + errno_text(errno));
  }
  Fd input(above_stdio(::open("/dev/null", O_RDONLY | O_CLOEXEC)));
  if (input.get() < 0)
    return make_error("cannot open /dev/null: " + errno_text(errno));

  // Everything the child needs is allocated here, before fork.
  std::vector<std::string> args = spec.argv;
  std::vector<std::string> env = build_environment(spec.env);
  std::vector<std::string> candidates = exec_candidates(spec);
  std::vector<char*> argv = pointers(args);
  std::vector<char*> envp = pointers(env);
  std::vector<char*> candidate_ptrs = pointers(candidates);
  const char* cwd = spec.cwd.empty() ? nullptr : spec.cwd.c_str();
  long max_fd = ::sysconf(_SC_OPEN_MAX);
  if (max_fd < 0 || max_fd > 65536)
    max_fd = 65536;

  int error_pipe[2];
  if (::pipe2(error_pipe, O_CLOEXEC) != 0)
    return make_error("cannot create a pipe: " + errno_text(errno));
  Fd error_read(above_stdio(error_pipe[0]));
  Fd error_write(above_stdio(error_pipe[1]));
  if (error_read.get() < 0 || error_write.get() < 0)
    return make_error("cannot create a pipe: " + errno_text(errno));

  // Blocked across fork so no signal handler of ours can run in the child before it resets them.
  sigset_t all;
  sigset_t previous;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  const pid_t parent = ::getpid();
  const auto started_at = std::chrono::steady_clock::now();
  ChildArgs child_args{cwd,    input.get(), output.get(), error_write.get(),    parent,
                       max_fd, argv.data(), envp.data(),  candidate_ptrs.data()};
  const pid_t pid = spawn_child(child_args);
  const int fork_error = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (pid < 0)
    return make_error("cannot start a process: " + errno_text(fork_error));

  error_write.reset();
  input.reset();
  output.reset();

  // EOF means exec succeeded (the pipe closed on exec); a record means the child gave up.
  ChildFailure failure{};
  ssize_t got;
  do {
    got = ::read(error_read.get(), &failure, sizeof failure);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof failure)) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    std::string why = errno_text(failure.error);
    switch (failure.stage) {
      case Stage::kSetpgid:
        return make_error("cannot create a process group: " + why);
      case Stage::kChdir:
        return make_error("cannot enter " + spec.cwd + ": " + why);
      case Stage::kRedirect:
        return make_error("cannot redirect output: " + why);
      case Stage::kExec:
        return make_error(spec.argv.front() + ": " + why);
    }
    return make_error(spec.argv.front() + ": " + why);
  }
  add_live_group(pid);
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, started_at, output_read.release()));
}

void ChildProcess::kill_all_now() {
  std::lock_guard lock(live_groups_mutex);
  for (const int pgid : live_groups)
    ::kill(-pgid, SIGKILL);
}

ChildProcess::~ChildProcess() {
  if (output_fd_ >= 0)
    ::close(output_fd_);
  if (!exit_)
    stop_now(milliseconds(0));
}

std::optional<ExitStatus> ChildProcess::poll() {
  if (exit_)
    return exit_;
  siginfo_t info{};
  int rc;
  do {
    rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    // ECHILD: someone else reaped our child (SIGCHLD ignored, or a stray waitpid(-1)).
    remove_live_group(pid_);
    exit_ = ExitStatus{};
    return exit_;
  }
  if (info.si_pid == 0)
    return std::nullopt;
  // The leader is a zombie, so its pgid cannot be reused yet: safe to sweep what it left behind.
  ::kill(-pid_, SIGKILL);
  remove_live_group(pid_);
  int status = 0;
  pid_t reaped;
  do {
    reaped = ::waitpid(pid_, &status, 0);
  } while (reaped < 0 && errno == EINTR);
  exit_ = reaped == pid_ ? decode(status) : ExitStatus{};
  return exit_;
}

void ChildProcess::signal_group(int signal) {
  if (!exit_)
    ::kill(-pid_, signal);
}

asio::awaitable<ExitStatus> ChildProcess::wait() {
  while (true) {
    auto waited = wait_for(std::chrono::hours(24));
    auto status = co_await std::move(waited);
    if (status)
      co_return *status;
    // A day passed, or the caller was cancelled: then the next wait throws operation_aborted, as
    // any awaited operation of a cancelled coroutine does.
  }
}

asio::awaitable<std::optional<ExitStatus>> ChildProcess::wait_for(milliseconds timeout) {
  if (auto status = poll())
    co_return status;
  const auto executor = co_await asio::this_coro::executor;
  const int fd = open_pidfd(pid_);
  if (fd >= 0) {
    // Readable once the child has exited. The timer cancels the watch; it holds the watch, so a
    // timer that fires as the watch completes still finds it.
    auto watch = std::make_shared<asio::posix::stream_descriptor>(executor, fd);
    asio::steady_timer timer(executor, timeout);
    timer.async_wait([watch](boost::system::error_code ec) {
      if (!ec)
        watch->cancel();
    });
    auto watching = watch->async_wait(asio::posix::stream_descriptor::wait_read,
                                      asio::as_tuple(asio::use_awaitable));
    co_await std::move(watching);
    timer.cancel();
    co_return poll();
  }
  asio::steady_timer timer(executor);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline)
      co_return std::nullopt;
    timer.expires_after(
        std::min<std::chrono::steady_clock::duration>(kPollInterval, deadline - now));
    auto ticking = timer.async_wait(asio::as_tuple(asio::use_awaitable));
    auto [ec] = co_await std::move(ticking);
    fallback_check_count.fetch_add(1, std::memory_order_relaxed);
    if (auto status = poll())
      co_return status;
    if (ec == asio::error::operation_aborted)
      co_return std::nullopt;
  }
}

asio::awaitable<ExitStatus> ChildProcess::stop(milliseconds grace) {
  if (auto status = poll())
    co_return *status;
  signal_group(SIGTERM);
  if (auto status = co_await wait_for(grace))
    co_return *status;
  signal_group(SIGKILL);
  co_return co_await wait();
}

ExitStatus ChildProcess::stop_now(milliseconds grace) {
  if (auto status = poll())
    return *status;
  signal_group(SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto status = poll())
      return *status;
    sleep_briefly(milliseconds(5));
  }
  signal_group(SIGKILL);
  // SIGKILL cannot be ignored, but a process stuck in the kernel may take a moment; give up
  // after a few seconds rather than hang the caller forever.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (true) {
    if (auto status = poll())
      return *status;
    if (std::chrono::steady_clock::now() >= give_up)
      return ExitStatus{};
    sleep_briefly(milliseconds(2));
  }
}

}  // namespace shipmate::integrations
