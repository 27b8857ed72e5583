// HTTP(S) client shared by every integration (Slack Web API, CI systems, clusters, metrics).
//
// Contract
// - Threading: one HttpClient belongs to one executor (the event loop); send() may be called
//   concurrently from many coroutines. Requests to the same scheme://host:port reuse idle
//   keep-alive connections (at most `max_idle_per_host` kept); a connection carries one request
//   at a time.
// - TLS: certificate verification and SNI are always on for https:// unless `verify_peer` is
//   false (tests only). `ca_file` adds a PEM bundle to the system trust store.
//   `client_cert_file`/`client_key_file` present a client certificate (Kubernetes mutual TLS).
// - Proxy: when `proxy` is set (or, by default, the HTTPS_PROXY / https_proxy environment
//   variable for https URLs and HTTP_PROXY / http_proxy for http URLs), https requests go through
//   an HTTP CONNECT tunnel and http requests are sent to the proxy with absolute URIs. NO_PROXY
//   (comma-separated host suffixes, "*" for all) bypasses it. The environment is read when the
//   client is made, not per request.
// - Errors: transport failures (DNS, connect, TLS, timeout, malformed response, body over
//   `max_body_bytes`) come back as an Error with one line naming the method, host and cause, e.g.
//   "POST slack.com/api/chat.postMessage: TLS handshake failed: certificate verify failed".
//   Its kind: `unavailable` for DNS, connect, reset and timeout failures and malformed answers;
//   `tls` for a failed handshake (certificate verification) or a client certificate that does not
//   load; `invalid` for a request that cannot be sent (URL, method, header); `internal` for a
//   response over this client's limits. A proxy's 407 is `auth`.
//   Any HTTP status, 4xx and 5xx included, is a successful HttpResponse; callers decide.
// - No retries here: callers own retry policy (they know what is idempotent).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "common/result.h"

namespace shipmate::integrations::net {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // absolute: http://host[:port]/path?query or https://...
  Headers headers;  // Host, Content-Length, Connection are set by the client
  std::string body;
  std::chrono::milliseconds timeout{15000};  // whole exchange, connect included
};

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;
  // Case-insensitive lookup; empty when absent.
  std::string header(std::string_view name) const;
};

// The User-Agent of every request and WebSocket upgrade unless a caller sets its own.
inline constexpr const char* kDefaultUserAgent = "shipmate/0.1";

struct HttpClientOptions {
  std::string ca_file;  // extra trusted CA certificates (PEM); empty: system store only
  bool verify_peer = true;
  // Mutual TLS: a PEM client certificate (chain) and its private key, presented to servers that
  // ask for one. Both or neither; a file that does not load fails every https request with a
  // message naming it.
  std::string client_cert_file = {};
  std::string client_key_file = {};
  std::optional<std::string> proxy;  // "http://host:port"; nullopt: from the environment
  std::size_t max_body_bytes = 16 * 1024 * 1024;
  std::size_t max_idle_per_host = 4;
  std::string user_agent = kDefaultUserAgent;
};

class HttpClient {
 public:
  HttpClient(boost::asio::any_io_executor executor, HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  boost::asio::awaitable<Result<HttpResponse>> send(HttpRequest request);

  // Counters for tests and benchmarks.
  std::size_t connections_opened() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Splits an absolute URL; nullopt when it is not http(s)://host[:port][/path].
struct ParsedUrl {
  std::string scheme;  // "http", "https", "ws", "wss"
  std::string host;
  std::string port;    // always set ("443" for https/wss, "80" for http/ws when absent)
  std::string target;  // path and query, at least "/"
};
std::optional<ParsedUrl> parse_url(std::string_view url);

// The ErrorKind of a refusal with this HTTP status: 400/422 invalid, 401/403/407 auth, 404/410
// not_found, 409/412 conflict, 408/429/5xx unavailable, anything else internal.
ErrorKind http_status_kind(int status);

// application/x-www-form-urlencoded encoding of one value.
std::string form_encode(std::string_view value);

}  // namespace shipmate::integrations::net
