// HttpServer: one HTTP/1.1 listener (plain or TLS) that several owners mount routes on: Slack's
// HTTP mode, Teams' /api/messages, the alert webhooks and the ops endpoints (/healthz, /readyz,
// /metrics). HttpListeners (http_listeners.h) hands the same listener to every owner configured
// on one address.
//
// Contract
// - Threading: an HttpServer belongs to one executor (the event loop). start(), mount(), port()
//   and stop() are called on that thread; handlers run there too, as coroutines, one request of a
//   connection at a time (connections are served concurrently).
// - Routes: exact path (the target without its query) plus method. mount() may be called before
//   or after requests arrive; mounting a method and path twice is refused with an Error, so two
//   owners cannot silently shadow each other. A path nobody mounted is answered 404; a path
//   mounted for other methods is answered 405 with an Allow header. Handlers see neither.
// - Limits, answered with a one-line text/plain reason and then the connection is closed (after
//   reading what the client still sends, so it sees the answer instead of a reset):
//     - a body over the route's `max_body_bytes` (default 1 MiB): 413, decided from
//       Content-Length before the body is read, or while reading a chunked one;
//     - a request that does not parse (or a header over 16 KiB): 400.
//   Answered without closing: a route already running `max_in_flight` requests answers 503 with
//   Retry-After: 1 (the caller retries; nothing reached the handler); a withdrawn route (its
//   owner is shutting down, see withdraw()) answers 503 too.
//   A connection that does not deliver a request's header within `header_timeout`, or its body
//   within `body_timeout` (or the route's own body_timeout), or that stays idle between keep-alive
//   requests past `idle_timeout`, is closed without an answer.
// - Handlers are coroutines returning the response; they may co_await (say, to hand work to
//   another coroutine) but should answer promptly: the client waits. An exception escaping a
//   handler is answered 500 ("internal error") and the connection is closed.
// - Responses: the server sets Content-Length and Connection (keep-alive unless the client or a
//   refusal says otherwise) and defaults Content-Type to text/plain; charset=utf-8.
// - TLS: when `tls_cert_file` and `tls_key_file` are set, every connection is HTTPS (TLS 1.2 or
//   newer); start() fails with a message naming the file that does not load.
// - Errors from start(): one line naming the server (`name`) and the address, e.g.
//   "slack http: 0.0.0.0:3000 is already in use by another process".
// - Lifetime: stop() (also run by the destructor) closes the listener and every open connection;
//   requests whose handlers are still running finish without being answered.
// Beast and Asio's SSL stay inside http_server.cpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "common/result.h"

namespace shipmate::integrations::net {

// Orders header names without regard to ASCII case.
struct CaseInsensitiveLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const;
};

// Request headers by name, case-insensitively. A header sent more than once holds its values
// joined with ", " (as HTTP allows for list-valued headers).
using HeaderMap = std::map<std::string, std::string, CaseInsensitiveLess>;

struct ServerRequest {
  std::string method;  // "POST"
  std::string target;  // as sent: "/slack/events?x=1"
  std::string path;    // the target without its query: "/slack/events"
  std::string query;   // after the '?', without it; empty when there is none
  HeaderMap headers;
  std::string body;  // raw bytes, never decoded
  std::string peer;  // "127.0.0.1:54321" or "[::1]:54321"

  // The header's value; empty when absent.
  std::string header(std::string_view name) const;
};

struct ServerResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers = {};
  std::string body = {};

  // A text/plain answer.
  static ServerResponse text(int status, std::string body);
};

using RouteHandler = std::function<boost::asio::awaitable<ServerResponse>(ServerRequest)>;

struct RouteOptions {
  std::size_t max_body_bytes = 1 << 20;
  // Requests this route may run at once (0: no limit); more are answered 503, Retry-After: 1.
  std::size_t max_in_flight = 0;
  // How long the body may take to arrive (0: the server's body_timeout).
  std::chrono::milliseconds body_timeout{0};
};

struct HttpServerOptions {
  std::string name = "http";  // how errors name this server: "slack http"
  std::string bind_address = "127.0.0.1";
  int port = 0;  // 0: the system picks a free port (see port())
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::string tls_cert_file = {};  // PEM certificate chain; with tls_key_file: HTTPS
  std::string tls_key_file = {};
};

class HttpServer {
 public:
  // Binds and starts accepting at once; routes can be mounted afterwards.
  static Result<std::unique_ptr<HttpServer>> start(boost::asio::any_io_executor executor,
                                                   HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes `method` requests for exactly `path` to `handler`. Refused when that method and path
  // are already mounted (a withdrawn route may be mounted again).
  Status mount(std::string method, std::string path, RouteHandler handler,
               RouteOptions options = {});
  // Stops handing `method` requests for `path` to its handler: from now on they are answered 503
  // ("<path> is shutting down"), so that an owner stopping on a listener others still use is
  // told apart from a path nobody serves (404). Requests already in the handler finish. Does
  // nothing for a route that is not mounted.
  void withdraw(std::string_view method, std::string_view path);

  // The port actually listened on (the chosen one when started with port 0); 0 once stopped.
  int port() const;
  bool tls() const;
  const std::string& name() const;
  // The mounted routes as "METHOD /path", sorted, withdrawn ones included.
  std::vector<std::string> routes() const;
  void stop();

  struct Impl;

 private:
  explicit HttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace shipmate::integrations::net
