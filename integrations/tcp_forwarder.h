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
// - Traffic splitting (canary, blue-green): with a candidate set, each NEW connection goes either
//   to the stable backend (set_backend) or to the candidate, by weight. The choice is smooth
//   weighted round-robin, not random, so the split is exact over any run of connections: at 25%,
//   exactly one of every four consecutive connections goes to the candidate (the third), at 50%
//   every second one, at 10% one in ten. Every set_candidate()/clear_candidate() restarts that
//   pattern. 0% keeps the candidate registered but idle; 100% sends everything to it.
// - Failover: while a candidate is set, a connection whose chosen side refuses it (a dead
//   candidate, or a stable instance that went away) is handed to the other side instead of being
//   closed, and counted in routed().failed_over. The forwarder does not judge health beyond
//   that: the caller still watches its processes and decides the rollout.
// - stop() closes the listener and every open connection; it is idempotent and also run by the
//   destructor. Coroutines still in flight keep the internals alive until they unwind.
// - Threading: call everything from the executor's thread (the event loop).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
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

  // The stable backend.
  void set_backend(int port);
  int backend_port() const;
  // Sends `percent` (clamped to 0..100) of new connections to 127.0.0.1:<port>.
  void set_candidate(int port, int percent);
  // Everything back to the stable backend. Open candidate connections are left to finish.
  void clear_candidate();
  std::optional<int> candidate_port() const;
  int candidate_percent() const;  // 0 without a candidate

  // New connections routed to each side since the last set_candidate()/clear_candidate().
  struct Routed {
    std::uint64_t stable = 0;
    std::uint64_t candidate = 0;
    std::uint64_t failed_over = 0;  // of those, served by the other side after a refusal
  };
  Routed routed() const;

  int public_port() const;
  std::size_t open_connections() const;
  void stop();

  struct Impl;

 private:
  explicit TcpForwarder(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace shipmate::integrations
