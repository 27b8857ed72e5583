// A Unix-socket proxy for tests that cut a process off from a server it reaches over a Unix
// socket (the test PostgreSQL: tests/support/postgres_server.h).
//
// Contract
// - Listens on `listen_path` (which must not exist; made 0777 so a process of another user may
//   connect) and, for each connection accepted, connects to `upstream_path` and copies bytes both
//   ways until either side closes. A connection the upstream refuses is closed at once.
// - cut() is a network cut, not a freeze: every open connection is shut down in both directions
//   (both peers see the connection end), the listening socket is closed and its file removed, so
//   new connections are refused (ENOENT or ECONNREFUSED). Nothing is copied after cut() returns.
// - Threading: one accepting thread and one copying thread per connection, all joined by cut()
//   and the destructor; every public method is thread-safe. Errors setting up the listener throw
//   std::runtime_error naming the path.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace shipmate::testing {

// `uri` (a test PostgreSQL's, with host=<server_dir>) reaching the server through a proxy
// listening in `proxy_dir` instead.
std::string through_proxy(const std::string& uri, const std::string& server_dir,
                          const std::string& proxy_dir);

class UnixSocketProxy {
 public:
  UnixSocketProxy(std::string upstream_path, std::string listen_path);
  ~UnixSocketProxy();
  UnixSocketProxy(const UnixSocketProxy&) = delete;
  UnixSocketProxy& operator=(const UnixSocketProxy&) = delete;

  void cut();

  int connections_accepted() const { return accepted_.load(); }
  // Bytes copied towards the upstream (what the clients wrote), ever.
  std::uint64_t bytes_upstream() const { return upstream_bytes_.load(); }
  // Reads from the clients, ever: one per client write, unless a client wrote again before this
  // proxy read (which a client waiting for each answer never does), so for a client that waits
  // after each write this counts its round trips.
  std::uint64_t client_writes() const { return client_writes_.load(); }
  bool is_cut() const { return cut_.load(); }

 private:
  void accept_loop();
  void pump(int client, int upstream);

  std::string upstream_path_;
  std::string listen_path_;
  int listener_ = -1;
  int wake_[2] = {-1, -1};  // written by cut(): ends every poll
  std::atomic<bool> cut_{false};
  std::atomic<int> accepted_{0};
  std::atomic<std::uint64_t> upstream_bytes_{0};
  std::atomic<std::uint64_t> client_writes_{0};
  std::mutex mutex_;
  std::vector<int> open_;  // both fds of every live pair
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace shipmate::testing
