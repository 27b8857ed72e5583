// A loopback TCP forwarder: the stable public port of one environment.
//
// Contract
// - start() binds 127.0.0.1:<public port> (SO_REUSEADDR, so a port left in TIME_WAIT by a
//   previous Shipmate is reusable, but never SO_REUSEPORT: a live listener elsewhere is a
//   conflict) and accepts until stop(). A port held by someone else is an Error naming the port
//   and the `label` ("port 8081 for hello/staging is already in use by another process").
// - Each accepted connection is copied both ways to 127.0.0.1:<backend port>, the backend chosen
//   when the connection was accepted: set_backend() only affects new connections, so existing
//   ones finish on the old backend. A connection whose backend refuses is closed.
// - stop() closes the listener and every open connection; it is idempotent and also run by the
//   destructor. Coroutines still in flight keep the internals alive until they unwind.
// - Threading: call everything from the executor's thread (the event loop).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "common/result.h"

namespace shipmate::integrations {

class TcpForwarder {
 public:
  static Result<std::unique_ptr<TcpForwarder>> start(boost::asio::any_io_executor executor,
                                                     int public_port, int backend_port,
                                                     const std::string& label);
  ~TcpForwarder();
  TcpForwarder(const TcpForwarder&) = delete;
  TcpForwarder& operator=(const TcpForwarder&) = delete;

  void set_backend(int port);
  int backend_port() const;
  int public_port() const;
  std::size_t open_connections() const;
  void stop();

  struct Impl;

 private:
  explicit TcpForwarder(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace shipmate::integrations
