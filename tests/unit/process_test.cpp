// ChildProcess's waits (a pidfd, and the timer fallback) and start_off_loop()'s hand-back: the
// spawner thread keeps nothing of the caller, and an io_context may go while a start for it is
// queued or running. Run under ASan (build-asan) these catch a spawner that still holds a
// destroyed io_context.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "integrations/output_pump.h"
#include "integrations/process.h"
#include "tests/support/test_support.h"

namespace shipmate::integrations {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Runs `io` until `done` holds, for at most 30 s (a generous deadline for a loaded machine).
template <class Done>
bool run_until(asio::io_context& io, Done done) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    io.restart();
    io.run_for(20ms);
  }
  return true;
}

// Sets the process-wide wait mode for one test, and restores the pidfd default after.
class WaitMode {
 public:
  explicit WaitMode(bool pidfd) { ChildProcess::use_pidfd(pidfd); }
  ~WaitMode() { ChildProcess::use_pidfd(true); }
};

std::unique_ptr<ChildProcess> sleeper() {
  ProcessSpec spec;
  spec.argv = {"sleep", "30"};
  auto child = ChildProcess::start(spec);
  EXPECT_TRUE(child.ok()) << child.error().message;
  return child ? std::move(*child) : nullptr;
}

// The child runs until the test signals it, after the wait has begun: the wait must notice the
// exit by itself, through whichever mechanism is in use.
ExitStatus wait_for_signalled_exit(asio::io_context& io, ChildProcess& child) {
  std::optional<ExitStatus> status;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { status = co_await child.wait(); }, asio::detached);
  io.poll();  // the wait is under way
  EXPECT_FALSE(status.has_value());
  child.signal_group(SIGTERM);
  EXPECT_TRUE(run_until(io, [&] { return status.has_value(); }));
  return status.value_or(ExitStatus{});
}

// A child started with a log cap writes into a pipe; the pump copies it into the log file.
struct Pumped {
  std::unique_ptr<ChildProcess> child;
  std::shared_ptr<OutputPump> pump;
};
Pumped start_pumped(asio::io_context& io, std::vector<std::string> argv, const std::string& log,
                    std::size_t cap) {
  ProcessSpec spec;
  spec.argv = std::move(argv);
  spec.log_path = log;
  spec.log_cap = cap;
  auto child = ChildProcess::start(spec);
  EXPECT_TRUE(child.ok()) << child.error().message;
  if (!child)
    return {};
  const int fd = (*child)->take_output();
  EXPECT_GE(fd, 0);
  EXPECT_EQ((*child)->take_output(), -1);  // handed over once
  auto pump = OutputPump::start(io.get_executor(), fd, log, cap);
  return {std::move(*child), std::move(pump)};
}

// Waits for the child's exit and then the pump's end, as a runbook step does.
void finish(asio::io_context& io, Pumped& p, std::optional<ExitStatus>& status) {
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto waiting = p.child->wait();
        status = co_await std::move(waiting);
        auto draining = p.pump->finish(30s);
        co_await std::move(draining);
        done = true;
      },
      asio::detached);
  EXPECT_TRUE(run_until(io, [&] { return done; }));
}

TEST(OutputPump, EverythingUnderTheCapReachesTheLogFile) {
  shipmate::testing::TempDir dir;
  asio::io_context io;
  const std::string log = dir.file("out/step.log");  // the directory is created for it
  auto p = start_pumped(io, {"sh", "-c", "echo one; echo two >&2; printf three"}, log, 1024);
  ASSERT_TRUE(p.child);
  std::optional<ExitStatus> status;
  finish(io, p, status);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->code, 0);
  EXPECT_FALSE(p.pump->capped());
  EXPECT_EQ(p.pump->written(), 13u);
  EXPECT_EQ(shipmate::testing::read_file(log), "one\ntwo\nthree");
}

TEST(OutputPump, PastTheCapNothingMoreIsWrittenAndTheWriterLosesItsPipe) {
  shipmate::testing::TempDir dir;
  asio::io_context io;
  const std::string log = dir.file("step.log");
  // `yes` writes for ever; with the pipe closed under it, it dies of SIGPIPE.
  auto p = start_pumped(io, {"yes", "0123456789"}, log, 100'000);
  ASSERT_TRUE(p.child);
  // The caller hears of the cap once, as it is passed.
  int woken = 0;
  std::size_t written_when_woken = 0;
  p.pump->on_capped([&] {
    ++woken;
    written_when_woken = p.pump->written();
  });
  std::optional<ExitStatus> status;
  finish(io, p, status);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->signal, SIGPIPE) << status->describe();
  EXPECT_TRUE(p.pump->capped());
  EXPECT_EQ(p.pump->written(), 100'000u);
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(written_when_woken, 100'000u);
  const std::string kept = shipmate::testing::read_file(log);
  ASSERT_EQ(kept.size(), 100'000u);
  EXPECT_EQ(kept.substr(0, 22), "0123456789\n0123456789\n");
}

TEST(OutputPump, ALogFileThatCannotBeOpenedIsReportedAndTheOutputDrained) {
  shipmate::testing::TempDir dir;
  asio::io_context io;
  const std::string log = dir.file("step.log");
  ProcessSpec spec;
  spec.argv = {"sh", "-c", "head -c 300000 /dev/zero"};
  spec.log_path = log;
  spec.log_cap = 1024;
  auto child = ChildProcess::start(spec);
  ASSERT_TRUE(child.ok());
  // The pump is pointed at a directory: it cannot open it, says so, and still drains the pipe
  // (the child is not left blocked on a full pipe) without counting anything as written.
  const int fd = (*child)->take_output();
  Pumped p{std::move(*child), OutputPump::start(io.get_executor(), fd, dir.path(), 1024)};
  std::optional<ExitStatus> status;
  finish(io, p, status);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->code, 0);
  EXPECT_TRUE(p.pump->failed());
  EXPECT_NE(p.pump->error().find("cannot open the step's log"), std::string::npos)
      << p.pump->error();
  EXPECT_EQ(p.pump->written(), 0u);
}

TEST(ChildProcessWait, ThroughAPidfdTheExitWakesTheWaitWithNoTimerChecks) {
  WaitMode mode(true);
  asio::io_context io;
  auto child = sleeper();
  ASSERT_TRUE(child);
  const auto checks_before = ChildProcess::fallback_checks();
  const ExitStatus status = wait_for_signalled_exit(io, *child);
  EXPECT_EQ(status.signal, SIGTERM);
  EXPECT_EQ(ChildProcess::fallback_checks(), checks_before);
  EXPECT_FALSE(child->running());
}

TEST(ChildProcessWait, WithoutAPidfdItFallsBackToCheckingOnATimer) {
  WaitMode mode(false);
  asio::io_context io;
  auto child = sleeper();
  ASSERT_TRUE(child);
  const auto checks_before = ChildProcess::fallback_checks();
  const ExitStatus status = wait_for_signalled_exit(io, *child);
  EXPECT_EQ(status.signal, SIGTERM);
  EXPECT_GT(ChildProcess::fallback_checks(), checks_before);
}

TEST(ChildProcessWait, ACancelledWaitForEndsWithNothingAndTheChildRunsOn) {
  for (const bool pidfd : {true, false}) {
    SCOPED_TRACE(pidfd ? "pidfd" : "fallback");
    WaitMode mode(pidfd);
    asio::io_context io;
    auto child = sleeper();
    ASSERT_TRUE(child);
    asio::cancellation_signal cancel;
    bool ended = false;
    std::optional<ExitStatus> status;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto waiting = child->wait_for(std::chrono::hours(1));
          status = co_await std::move(waiting);
          ended = true;
        },
        asio::bind_cancellation_slot(cancel.slot(), asio::detached));
    io.poll();
    ASSERT_FALSE(ended);
    cancel.emit(asio::cancellation_type::terminal);
    ASSERT_TRUE(run_until(io, [&] { return ended; }));
    EXPECT_FALSE(status.has_value());
    EXPECT_TRUE(child->running());
    const ExitStatus stopped = child->stop_now(0ms);
    EXPECT_EQ(stopped.signal, SIGTERM);
  }
}

TEST(ChildProcessWait, AChildThatHasAlreadyExitedIsReportedAtOnce) {
  asio::io_context io;
  ProcessSpec spec;
  spec.argv = {"sh", "-c", "exit 3"};
  auto child = ChildProcess::start(spec);
  ASSERT_TRUE(child.ok()) << child.error().message;
  std::optional<ExitStatus> status;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { status = co_await (*child)->wait(); }, asio::detached);
  ASSERT_TRUE(run_until(io, [&] { return status.has_value(); }));
  EXPECT_EQ(status->code, 3);
}

// The second SIGINT's exit: every child still running gets SIGKILL to its group, one that ignores
// SIGTERM (which is all PR_SET_PDEATHSIG would send it) included; a reaped child is not touched.
TEST(ChildProcessKillAll, EveryRunningChildsGroupGetsSigkillEvenOneIgnoringSigterm) {
  ProcessSpec stubborn;
  // An ignored signal stays ignored across exec, so sleep itself ignores SIGTERM.
  stubborn.argv = {"sh", "-c", "trap '' TERM; exec sleep 30"};
  auto ignoring = ChildProcess::start(stubborn);
  ASSERT_TRUE(ignoring.ok()) << ignoring.error().message;
  auto plain = sleeper();
  ASSERT_TRUE(plain);
  ProcessSpec quick;
  quick.argv = {"true"};
  auto done = ChildProcess::start(quick);
  ASSERT_TRUE(done.ok()) << done.error().message;
  asio::io_context io;
  std::optional<ExitStatus> finished;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { finished = co_await (*done)->wait(); }, asio::detached);
  ASSERT_TRUE(run_until(io, [&] { return finished.has_value(); }));
  EXPECT_EQ(finished->code, 0);

  ChildProcess::kill_all_now();
  for (ChildProcess* child : {ignoring->get(), plain.get()}) {
    std::optional<ExitStatus> status;
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { status = co_await child->wait(); }, asio::detached);
    ASSERT_TRUE(run_until(io, [&] { return status.has_value(); }));
    EXPECT_EQ(status->signal, SIGKILL);
  }
}

// Each round: start off the loop, take the child, and destroy the io_context as soon as run()
// returns. A spawner thread that still held the caller's executor or work guard would touch the
// freed io_context after that (ASan: heap-use-after-free).
TEST(StartOffLoop, TheIoContextCanGoAsSoonAsTheStartIsHandedBack) {
  for (int round = 0; round < 40; ++round) {
    auto io = std::make_unique<asio::io_context>();
    std::unique_ptr<ChildProcess> child;
    std::string error;
    asio::co_spawn(
        *io,
        [&]() -> asio::awaitable<void> {
          ProcessSpec spec;
          spec.argv = {"true"};
          auto starting = ChildProcess::start_off_loop(spec);
          auto started = co_await std::move(starting);
          if (started)
            child = std::move(*started);
          else
            error = started.error().message;
        },
        asio::detached);
    io->run();  // returns only once the start is handed back: the spawn holds work meanwhile
    io.reset();
    ASSERT_TRUE(child) << error;
    EXPECT_GT(child->pid(), 0);
    child->stop_now(0ms);  // reaped, whether `true` had finished or not
  }
}

TEST(StartOffLoop, APrepareStepRunsFirstAndItsErrorStartsNothing) {
  testing::TempDir dir;
  asio::io_context io;
  std::optional<Result<std::unique_ptr<ChildProcess>>> result;
  const std::string marker = dir.file("prepared");
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        ProcessSpec spec;
        spec.argv = {"test", "-f", marker};
        auto prepare = [marker]() -> Status {
          std::ofstream(marker) << "ready";
          return Ok{};
        };
        auto starting = ChildProcess::start_off_loop(spec, prepare);
        auto started = co_await std::move(starting);
        result.emplace(std::move(started));
      },
      asio::detached);
  io.run();
  ASSERT_TRUE(result && result->ok()) << (result ? result->error().message : "no result");
  std::optional<ExitStatus> status;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { status = co_await (**result)->wait(); }, asio::detached);
  io.restart();
  io.run();
  EXPECT_EQ(status->code, 0);  // the file existed when the child ran

  result.reset();
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        ProcessSpec spec;
        spec.argv = {"true"};
        auto refuse = []() -> Status { return make_error("cannot write the secret file"); };
        auto starting = ChildProcess::start_off_loop(spec, refuse);
        auto started = co_await std::move(starting);
        result.emplace(std::move(started));
      },
      asio::detached);
  io.restart();
  io.run();
  ASSERT_TRUE(result);
  ASSERT_FALSE(result->ok());
  EXPECT_EQ(result->error().message, "cannot write the secret file");
}

// The io_context is destroyed (on another thread) while its start is held on the spawner
// thread: the destruction waits for the hand-back, the completion never runs, and the child it
// would have received is stopped rather than left behind.
TEST(StartOffLoop, DestroyingTheIoContextWhileItsStartIsInFlightWaitsAndLeavesNoChild) {
  testing::TempDir dir;
  auto io = std::make_unique<asio::io_context>();
  std::promise<void> entered;
  std::promise<void> go;
  auto go_signal = go.get_future().share();
  bool resumed = false;
  asio::co_spawn(
      *io,
      [&]() -> asio::awaitable<void> {
        ProcessSpec spec;
        spec.argv = {"sleep", "30"};
        auto hold = [&entered, go_signal]() -> Status {
          entered.set_value();
          go_signal.wait();
          return Ok{};
        };
        auto starting = ChildProcess::start_off_loop(spec, hold);
        auto started = co_await std::move(starting);
        resumed = true;
      },
      asio::detached);
  io->poll();  // the start is queued on the spawner thread
  entered.get_future().wait();
  std::thread destroyer([&io] { io.reset(); });
  go.set_value();
  destroyer.join();
  EXPECT_FALSE(resumed);
  // Any child that was started was stopped when its undelivered completion was destroyed.
  int status = 0;
  EXPECT_EQ(::waitpid(-1, &status, WNOHANG), -1);  // no child of ours is left, exited or not
}

}  // namespace
}  // namespace shipmate::integrations
