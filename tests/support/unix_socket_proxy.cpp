#include "tests/support/unix_socket_proxy.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace shipmate::testing {
namespace {

sockaddr_un address_of(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path))
    throw std::runtime_error("unix socket path too long: " + path);
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return address;
}

// Writes all of `size` bytes; false when the peer is gone.
bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t wrote = ::send(fd, data, size, MSG_NOSIGNAL);
    if (wrote < 0 && errno == EINTR)
      continue;
    if (wrote <= 0)
      return false;
    data += wrote;
    size -= static_cast<std::size_t>(wrote);
  }
  return true;
}

}  // namespace

std::string through_proxy(const std::string& uri, const std::string& server_dir,
                          const std::string& proxy_dir) {
  std::string out = uri;
  const auto at = out.find("host=" + server_dir);
  if (at == std::string::npos)
    throw std::runtime_error("through_proxy: " + uri + " has no host=" + server_dir);
  out.replace(at + 5, server_dir.size(), proxy_dir);
  return out;
}

UnixSocketProxy::UnixSocketProxy(std::string upstream_path, std::string listen_path)
    : upstream_path_(std::move(upstream_path)), listen_path_(std::move(listen_path)) {
  if (::pipe2(wake_, O_CLOEXEC) != 0)
    throw std::runtime_error("proxy: pipe: " + std::string(std::strerror(errno)));
  listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_un address = address_of(listen_path_);
  if (listener_ < 0 ||
      ::bind(listener_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listener_, 64) != 0) {
    const std::string why = std::strerror(errno);
    if (listener_ >= 0)
      ::close(listener_);
    throw std::runtime_error("proxy: cannot listen on " + listen_path_ + ": " + why);
  }
  ::chmod(listen_path_.c_str(), 0777);
  acceptor_ = std::thread([this] { accept_loop(); });
}

UnixSocketProxy::~UnixSocketProxy() {
  cut();
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void UnixSocketProxy::accept_loop() {
  while (!cut_.load()) {
    pollfd fds[2] = {{listener_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      return;
    }
    if (fds[1].revents != 0 || cut_.load())
      return;
    const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0)
      continue;
    const int upstream = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_un address = address_of(upstream_path_);
    if (upstream < 0 ||
        ::connect(upstream, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
      if (upstream >= 0)
        ::close(upstream);
      ::close(client);
      continue;
    }
    std::lock_guard lock(mutex_);
    if (cut_.load()) {
      ::close(client);
      ::close(upstream);
      return;
    }
    accepted_.fetch_add(1);
    open_.push_back(client);
    open_.push_back(upstream);
    threads_.emplace_back([this, client, upstream] { pump(client, upstream); });
  }
}

void UnixSocketProxy::pump(int client, int upstream) {
  char buffer[16384];
  while (!cut_.load()) {
    pollfd fds[3] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (fds[2].revents != 0 || cut_.load())
      break;
    bool open = true;
    for (int side = 0; side < 2 && open; ++side) {
      if (fds[side].revents == 0)
        continue;
      const int from = side == 0 ? client : upstream;
      const int to = side == 0 ? upstream : client;
      const ssize_t got = ::recv(from, buffer, sizeof(buffer), 0);
      if (got < 0 && errno == EINTR)
        continue;
      // cut() shuts both sockets down first (a blocked send fails) and joins this thread, so
      // nothing goes through once it has returned.
      if (got <= 0 || cut_.load() || !write_all(to, buffer, static_cast<std::size_t>(got))) {
        open = false;
        break;
      }
      if (side == 0) {
        upstream_bytes_.fetch_add(static_cast<std::uint64_t>(got));
        client_writes_.fetch_add(1);
      }
    }
    if (!open)
      break;
  }
  std::lock_guard lock(mutex_);
  for (int fd : {client, upstream}) {
    auto it = std::find(open_.begin(), open_.end(), fd);
    if (it != open_.end()) {
      ::shutdown(fd, SHUT_RDWR);
      ::close(fd);
      open_.erase(it);
    }
  }
}

void UnixSocketProxy::cut() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    if (!cut_.exchange(true)) {
      for (int fd : open_)
        ::shutdown(fd, SHUT_RDWR);
      if (listener_ >= 0)
        ::shutdown(listener_, SHUT_RDWR);
      const char wake = 'x';
      [[maybe_unused]] const auto written = ::write(wake_[1], &wake, 1);
    }
  }
  if (acceptor_.joinable())
    acceptor_.join();  // after this, no pump thread is added
  {
    std::lock_guard lock(mutex_);
    threads.swap(threads_);
    if (listener_ >= 0) {
      ::close(listener_);
      listener_ = -1;
      ::unlink(listen_path_.c_str());
    }
  }
  for (auto& thread : threads)
    thread.join();
}

}  // namespace shipmate::testing
