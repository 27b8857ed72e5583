#include "integrations/output_pump.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace shipmate::integrations {
namespace asio = boost::asio;

struct OutputPump::State {
  State(asio::any_io_executor executor, int fd)
      : pipe(executor, fd), done(executor, asio::steady_timer::time_point::max()) {}
  ~State() {
    if (log_fd >= 0)
      ::close(log_fd);
  }

  // Appends what fits under the cap; false once the pump should stop reading.
  bool keep(const char* data, std::size_t size) {
    if (log_fd < 0)
      return true;  // nowhere to write: drained and dropped, so the child never blocks on it
    std::size_t fits = size;
    if (written + size > cap) {
      fits = cap - written;
      capped = true;
    }
    while (fits > 0 && log_fd >= 0) {
      const ssize_t n = ::write(log_fd, data, fits);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        error = "cannot write the step's log " + path + ": " +
                (n < 0 ? std::strerror(errno) : std::string("no space"));
        ::close(log_fd);
        log_fd = -1;
        break;
      }
      written += static_cast<std::size_t>(n);
      data += n;
      fits -= static_cast<std::size_t>(n);
    }
    return !capped;
  }

  void close_pipe() {
    boost::system::error_code ignored;
    pipe.cancel(ignored);
    pipe.close(ignored);
  }

  asio::posix::stream_descriptor pipe;
  asio::steady_timer done;  // cancelled when the pump has ended, or by finish()'s timeout
  std::string path;
  int log_fd = -1;
  std::size_t cap = 0;
  std::size_t written = 0;
  bool capped = false;
  bool ended = false;
  std::function<void()> wake_on_cap;
  std::string error;
};

namespace {

// One buffer for every pump of the thread: a pump waits for its pipe to be readable and then
// reads it at once, so no pump needs a buffer of its own across a wait (1,000 steps at once would
// otherwise hold 64 MiB). Allocated on the first read, so only a thread that pumps (the loop)
// holds it; every other thread's TLS holds a null pointer.
constexpr std::size_t kReadBuffer = 64 * 1024;
char* read_buffer(std::size_t& size) {
  static thread_local std::unique_ptr<char[]> buffer;
  if (!buffer)
    buffer = std::make_unique_for_overwrite<char[]>(kReadBuffer);
  size = kReadBuffer;
  return buffer.get();
}

asio::awaitable<void> pump(std::shared_ptr<OutputPump::State> state) {
  bool more = true;
  while (more && state->pipe.is_open()) {
    auto waiting = state->pipe.async_wait(asio::posix::stream_descriptor::wait_read,
                                          asio::as_tuple(asio::use_awaitable));
    auto [ec] = co_await std::move(waiting);
    if (ec)
      break;  // finish() gave up on the pipe
    std::size_t size = 0;
    char* buffer = read_buffer(size);
    // Reads what is there now, a few times at most so a fast writer cannot hold the loop; EAGAIN
    // means wait again, 0 means every writer has closed it.
    for (int reads = 0; reads < 4; ++reads) {
      const ssize_t n = ::read(state->pipe.native_handle(), buffer, size);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        break;
      if (n <= 0 || !state->keep(buffer, static_cast<std::size_t>(n))) {
        more = false;
        break;
      }
    }
    if (state->capped && state->wake_on_cap) {
      auto wake = std::move(state->wake_on_cap);
      state->wake_on_cap = nullptr;
      wake();
    }
  }
  state->close_pipe();
  state->ended = true;
  state->wake_on_cap = nullptr;
  state->done.cancel();
}

}  // namespace

std::shared_ptr<OutputPump> OutputPump::start(asio::any_io_executor executor, int pipe_fd,
                                              const std::string& log_path, std::size_t cap) {
  auto state = std::make_shared<State>(executor, pipe_fd);
  state->path = log_path;
  state->cap = cap;
  state->log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (state->log_fd < 0)
    state->error = "cannot open the step's log " + log_path + ": " + std::strerror(errno);
  asio::co_spawn(executor, pump(state), asio::detached);
  return std::shared_ptr<OutputPump>(new OutputPump(std::move(state)));
}

OutputPump::~OutputPump() = default;

bool OutputPump::capped() const {
  return state_->capped;
}
std::size_t OutputPump::written() const {
  return state_->written;
}
void OutputPump::on_capped(std::function<void()> wake) {
  state_->wake_on_cap = state_->ended ? nullptr : std::move(wake);
}
bool OutputPump::failed() const {
  return !state_->error.empty();
}
const std::string& OutputPump::error() const {
  return state_->error;
}

asio::awaitable<void> OutputPump::finish(std::chrono::milliseconds timeout) {
  if (state_->ended)
    co_return;
  std::shared_ptr<State> state = state_;
  state->done.expires_after(timeout);
  auto waiting = state->done.async_wait(asio::as_tuple(asio::use_awaitable));
  co_await std::move(waiting);
  if (!state->ended) {
    // Timed out: something outside the child's process group still holds the pipe open.
    state->close_pipe();
  }
}

}  // namespace shipmate::integrations
