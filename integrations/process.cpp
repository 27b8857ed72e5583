#include "integrations/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

extern char** environ;

namespace shipmate::integrations {

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

struct Spawned {
  std::unique_ptr<ChildProcess> child;
  std::string error;
};

// Runs on the spawner thread; the caller's coroutine, which owns both, waits meanwhile.
asio::awaitable<void> spawn_there(const ProcessSpec* spec, Spawned* out) {
  auto started = ChildProcess::start(*spec);
  if (started)
    out->child = std::move(*started);
  else
    out->error = started.error().message;
  co_return;
}

}  // namespace

void ChildProcess::wait_for_spawner() {
  std::promise<void> idle;
  auto done = idle.get_future();
  asio::post(spawner(), [&idle] { idle.set_value(); });
  done.wait();
}

asio::awaitable<Result<std::unique_ptr<ChildProcess>>> ChildProcess::start_off_loop(
    ProcessSpec spec) {
  Spawned spawned;
  auto task = spawn_there(&spec, &spawned);
  co_await asio::co_spawn(spawner(), std::move(task), asio::use_awaitable);
  if (!spawned.child)
    co_return make_error(spawned.error);
  co_return std::move(spawned.child);
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

  Fd output;
  if (spec.log_path.empty()) {
    output.reset(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  } else {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(spec.log_path).parent_path(), ec);
    if (ec) {
      return make_error("cannot create the log directory for " + spec.log_path + ": " +
                        ec.message());
    }
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
  const pid_t pid = ::fork();
  if (pid == 0) {
    run_child(cwd, input.get(), output.get(), error_write.get(), parent, max_fd, argv.data(),
              envp.data(), candidate_ptrs.data());
  }
  const int fork_error = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (pid < 0)
    return make_error("cannot fork: " + errno_text(fork_error));

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
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, started_at));
}

ChildProcess::~ChildProcess() {
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
    exit_ = ExitStatus{};
    return exit_;
  }
  if (info.si_pid == 0)
    return std::nullopt;
  // The leader is a zombie, so its pgid cannot be reused yet: safe to sweep what it left behind.
  ::kill(-pid_, SIGKILL);
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
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (true) {
    if (auto status = poll())
      co_return *status;
    timer.expires_after(kPollInterval);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

asio::awaitable<std::optional<ExitStatus>> ChildProcess::wait_for(milliseconds timeout) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (auto status = poll())
      co_return status;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline)
      co_return std::nullopt;
    timer.expires_after(
        std::min<std::chrono::steady_clock::duration>(kPollInterval, deadline - now));
    co_await timer.async_wait(asio::use_awaitable);
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
