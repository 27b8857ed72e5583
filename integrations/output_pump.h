// Copies a child process's output from its pipe into its log file, up to a cap.
//
// Contract
// - What it is for: a child started with ProcessSpec::log_cap writes into a pipe, not into its
//   log file (integrations/process.h). An OutputPump reads that pipe on the caller's executor and
//   appends what it reads to the log file until `cap` bytes are written. The byte that would pass
//   the cap is never written: the pump keeps what fits, marks itself capped() and closes its end
//   of the pipe, so the child's next write fails (SIGPIPE, or EPIPE where it ignores SIGPIPE) or
//   it blocks on a full pipe until it is stopped. A child printing without end thus puts at most
//   `cap` bytes on the disk, where a file written by the child itself grows until someone looks.
// - Threading: start() and everything after it on the executor's thread (the event loop). The
//   reading is one coroutine on that executor; the file writes are small synchronous appends.
// - Ownership: start() takes the pipe's read end (it closes it); the pump keeps itself alive until
//   it is done, and the caller's shared_ptr may go at any time.
// - finish(timeout) completes when the pipe has reached its end (every writer closed it: the child
//   and everything in its process group exited) or after `timeout`, whichever is first; on the
//   timeout (a grandchild that left the group still holds the pipe) the pump stops reading and
//   closes the pipe. Once finish() completes the log file holds everything the pump will write.
//   One finish() at a time.
// - on_capped(f): f runs once, on the executor, the moment the cap is passed (so a caller
//   waiting for the child can stop it at once instead of looking at capped() now and then). The
//   pump drops f when it ends; the caller drops it with on_capped({}) before what f refers to goes.
// - Errors: a log file that cannot be opened or written makes the pump drain and discard the
//   rest, so the child never blocks on it; failed() says so and error() says why, in a sentence.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace shipmate::integrations {

class OutputPump {
 public:
  static std::shared_ptr<OutputPump> start(boost::asio::any_io_executor executor, int pipe_fd,
                                           const std::string& log_path, std::size_t cap);
  ~OutputPump();
  OutputPump(const OutputPump&) = delete;
  OutputPump& operator=(const OutputPump&) = delete;

  bool capped() const;          // more than `cap` bytes arrived; the rest was refused
  std::size_t written() const;  // bytes appended to the log so far
  bool failed() const;          // the log file could not be written
  const std::string& error() const;
  void on_capped(std::function<void()> wake);

  boost::asio::awaitable<void> finish(std::chrono::milliseconds timeout);

  struct State;

 private:
  explicit OutputPump(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace shipmate::integrations
