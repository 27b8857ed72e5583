// HttpListeners: the HTTP listeners of one process, so that every owner configured on the same
// address mounts its routes on one HttpServer (http_server.h) instead of opening a port each.
//
// Contract
// - The shared listener is the one the configuration's `http:` block describes (set_shared()).
//   shared() starts it on first use and hands the same HttpServer to every caller after that.
// - listen(options) is for an owner that asks for an address of its own: when a listener with the
//   same bind address and port is already open (the shared one included), that one is returned;
//   otherwise a new one is started with `options`. Port 0 ("any free port") is never matched: each
//   such request gets a listener of its own. Two owners that ask for one address with different
//   TLS files are refused with a sentence naming both, instead of one silently getting the
//   other's.
// - Errors are the HttpServer's start() errors ("http: 0.0.0.0:8080 is already in use by another
//   process"), unchanged.
// - Threading: event-loop thread only, like HttpServer. Ownership: the returned pointers stay
//   valid until the HttpListeners is destroyed; stop() closes every listener (the App does so
//   once draining is over), after which owners only withdraw routes.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "common/result.h"
#include "integrations/net/http_server.h"

namespace shipmate::integrations::net {

class HttpListeners {
 public:
  explicit HttpListeners(boost::asio::any_io_executor executor);
  ~HttpListeners();
  HttpListeners(const HttpListeners&) = delete;
  HttpListeners& operator=(const HttpListeners&) = delete;

  // The shared listener's address, TLS files and timeouts; before the first shared() call.
  void set_shared(HttpServerOptions options);
  bool has_shared() const;
  // The shared listener, started on first use. An Error when none is configured or it cannot
  // listen (then every later call answers the same Error).
  Result<HttpServer*> shared();
  // The listener already open at options' bind address and port (port 0 never matches), or a
  // new one.
  Result<HttpServer*> listen(HttpServerOptions options);

  // Closes every listener. Event-loop thread.
  void stop();

  // Every open listener, for tests and the log.
  std::vector<HttpServer*> open() const;

 private:
  struct Entry {
    HttpServerOptions options;  // as asked for (port 0 stays 0)
    std::unique_ptr<HttpServer> server;
  };
  Result<HttpServer*> start(HttpServerOptions options);

  boost::asio::any_io_executor executor_;
  std::optional<HttpServerOptions> shared_options_;
  HttpServer* shared_ = nullptr;
  std::optional<Error> shared_error_;
  std::vector<Entry> entries_;
};

}  // namespace shipmate::integrations::net
