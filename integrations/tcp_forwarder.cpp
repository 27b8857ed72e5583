#include "integrations/tcp_forwarder.h"

#include <fcntl.h>

#include <algorithm>
#include <cstdint>
#include <unordered_map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace shipmate::integrations {

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Asio opens sockets without SOCK_CLOEXEC; a listener inherited by a service we spawn would keep
// the public port bound after Shipmate exits.
template <class Socket>
void set_cloexec(Socket& socket) {
  int fd = socket.native_handle();
  int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0)
    ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

tcp::endpoint loopback(int port) {
  return tcp::endpoint(asio::ip::address_v4::loopback(), static_cast<unsigned short>(port));
}

struct Connection {
  explicit Connection(tcp::socket accepted)
      : client(std::move(accepted)), backend(client.get_executor()) {}
  void close() {
    boost::system::error_code ignored;
    client.close(ignored);
    backend.close(ignored);
  }
  tcp::socket client;
  tcp::socket backend;
};

// Copies one direction until EOF (then half-closes the other side so the peer sees it) or an
// error (then closes both, which also ends the opposite direction).
asio::awaitable<void> pump(Connection& connection, tcp::socket& from, tcp::socket& to) {
  char buffer[8192];
  while (true) {
    auto [read_error, n] = co_await from.async_read_some(asio::buffer(buffer), kTuple);
    if (n > 0) {
      auto [write_error, written] = co_await asio::async_write(to, asio::buffer(buffer, n), kTuple);
      (void)written;
      if (write_error) {
        connection.close();
        co_return;
      }
    }
    if (read_error) {
      boost::system::error_code ignored;
      if (read_error == asio::error::eof) {
        to.shutdown(tcp::socket::shutdown_send, ignored);
      } else {
        connection.close();
      }
      co_return;
    }
  }
}

}  // namespace

struct TcpForwarder::Impl {
  explicit Impl(asio::any_io_executor ex) : executor(ex), acceptor(ex) {}

  asio::any_io_executor executor;
  tcp::acceptor acceptor;
  int public_port = 0;
  int backend_port = 0;
  // Traffic split: 0 means no candidate.
  int candidate_port = 0;
  int candidate_percent = 0;
  // Smooth weighted round-robin state: each new connection adds every side's weight to its
  // credit, the side with the most credit wins (stable on a tie) and pays back the total.
  int stable_credit = 0;
  int candidate_credit = 0;
  TcpForwarder::Routed routed;
  bool stopped = false;
  std::uint64_t next_id = 0;
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> connections;
};

namespace {

struct Choice {
  int port;
  int fallback;  // the other side's port, 0 when there is none
};

Choice pick_backend(TcpForwarder::Impl& self) {
  const int percent = self.candidate_port != 0 ? self.candidate_percent : 0;
  bool to_candidate = false;
  if (percent >= 100) {
    to_candidate = true;
  } else if (percent > 0) {
    self.stable_credit += 100 - percent;
    self.candidate_credit += percent;
    to_candidate = self.candidate_credit > self.stable_credit;
    (to_candidate ? self.candidate_credit : self.stable_credit) -= 100;
  }
  const bool split = self.candidate_port != 0 && self.candidate_port != self.backend_port;
  if (to_candidate) {
    ++self.routed.candidate;
    return Choice{self.candidate_port, split ? self.backend_port : 0};
  }
  ++self.routed.stable;
  return Choice{self.backend_port, split ? self.candidate_port : 0};
}

// Opens `socket` to 127.0.0.1:<port>; the socket is left closed on failure.
asio::awaitable<boost::system::error_code> connect_backend(tcp::socket& socket, int port) {
  boost::system::error_code error;
  socket.open(tcp::v4(), error);
  if (error)
    co_return error;
  set_cloexec(socket);
  auto [connect_error] = co_await socket.async_connect(loopback(port), kTuple);
  if (connect_error) {
    boost::system::error_code ignored;
    socket.close(ignored);
  }
  co_return connect_error;
}

asio::awaitable<void> serve(std::shared_ptr<TcpForwarder::Impl> self, tcp::socket client,
                            Choice choice) {
  auto connection = std::make_shared<Connection>(std::move(client));
  const std::uint64_t id = self->next_id++;
  self->connections.emplace(id, connection);
  auto error = co_await connect_backend(connection->backend, choice.port);
  // A side that refuses (a canary that died, a stable instance gone) hands its connection to the
  // other side rather than dropping the user's request while the rollout notices.
  if (error && choice.fallback != 0 && !self->stopped) {
    error = co_await connect_backend(connection->backend, choice.fallback);
    if (!error)
      ++self->routed.failed_over;
  }
  if (!error && !self->stopped) {
    co_await (pump(*connection, connection->client, connection->backend) &&
              pump(*connection, connection->backend, connection->client));
  }
  connection->close();
  self->connections.erase(id);
}

asio::awaitable<void> accept_loop(std::shared_ptr<TcpForwarder::Impl> self) {
  asio::steady_timer backoff(self->executor);
  while (!self->stopped) {
    auto [error, client] = co_await self->acceptor.async_accept(kTuple);
    if (self->stopped)
      co_return;
    if (error) {
      if (error == asio::error::operation_aborted)
        co_return;
      // Out of descriptors and the like: pause instead of spinning on a failing accept.
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(kTuple);
      continue;
    }
    set_cloexec(client);
    const Choice choice = pick_backend(*self);
    asio::co_spawn(self->executor, serve(self, std::move(client), choice), asio::detached);
  }
}

}  // namespace

Result<std::unique_ptr<TcpForwarder>> TcpForwarder::start(asio::any_io_executor executor,
                                                          int public_port, int backend_port,
                                                          const std::string& label) {
  auto impl = std::make_shared<Impl>(executor);
  impl->public_port = public_port;
  impl->backend_port = backend_port;
  const std::string where = "port " + std::to_string(public_port) + " for " + label;

  boost::system::error_code ec;
  impl->acceptor.open(tcp::v4(), ec);
  if (ec)
    return make_error("cannot open a socket for " + where + ": " + ec.message());
  set_cloexec(impl->acceptor);
  impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec)
    impl->acceptor.bind(loopback(public_port), ec);
  if (!ec)
    impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec == asio::error::address_in_use) {
    return make_error(where + " is already in use by another process");
  }
  if (ec) {
    return make_error("cannot listen on 127.0.0.1:" + std::to_string(public_port) + " for " +
                      label + ": " + ec.message());
  }
  asio::co_spawn(executor, accept_loop(impl), asio::detached);
  return std::unique_ptr<TcpForwarder>(new TcpForwarder(std::move(impl)));
}

TcpForwarder::~TcpForwarder() {
  stop();
}

void TcpForwarder::set_backend(int port) {
  impl_->backend_port = port;
}
int TcpForwarder::backend_port() const {
  return impl_->backend_port;
}
void TcpForwarder::set_candidate(int port, int percent) {
  impl_->candidate_port = port;
  impl_->candidate_percent = std::clamp(percent, 0, 100);
  impl_->stable_credit = 0;
  impl_->candidate_credit = 0;
  impl_->routed = {};
}
void TcpForwarder::clear_candidate() {
  set_candidate(0, 0);
}
std::optional<int> TcpForwarder::candidate_port() const {
  if (impl_->candidate_port == 0)
    return std::nullopt;
  return impl_->candidate_port;
}
int TcpForwarder::candidate_percent() const {
  return impl_->candidate_port == 0 ? 0 : impl_->candidate_percent;
}
TcpForwarder::Routed TcpForwarder::routed() const {
  return impl_->routed;
}
int TcpForwarder::public_port() const {
  return impl_->public_port;
}
std::size_t TcpForwarder::open_connections() const {
  return impl_->connections.size();
}

void TcpForwarder::stop() {
  if (impl_->stopped)
    return;
  impl_->stopped = true;
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
  auto connections = std::move(impl_->connections);
  impl_->connections.clear();
  for (auto& [id, weak] : connections) {
    if (auto connection = weak.lock())
      connection->close();
  }
}

}  // namespace shipmate::integrations
