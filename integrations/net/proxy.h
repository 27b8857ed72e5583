// Forward proxies for the HTTP and WebSocket clients (internal; Beast inside).
//
// Contract
// - proxy_for() picks the proxy for one connection: the configured one when given (an empty
//   string means none), otherwise HTTPS_PROXY / https_proxy for secure schemes and HTTP_PROXY /
//   http_proxy for plain ones, unless NO_PROXY / no_proxy covers the host ("example.org",
//   ".example.org", "*.example.org", "host:port", "*").
// - open_connect_tunnel() asks the proxy, over an already connected stream, to CONNECT to the
//   target; on success the stream carries the target's bytes (TLS goes on top of it). Errors name
//   the proxy and the step: "proxy 10.0.0.1:3128: CONNECT refused with 407 Proxy Authentication
//   Required".
// - Credentials in a proxy URL (http://user:pass@host:port) become a Basic Proxy-Authorization
//   header; they never appear in errors.
// Include only from shipmate_net sources.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>

#include "integrations/net/connect.h"
#include "integrations/net/proxy_env.h"

namespace shipmate::integrations::net::detail {

struct Proxy {
  std::string host;
  std::string port;
  std::string authorization;  // "Basic ..." when the proxy URL carries credentials
};

// "http://[user:pass@]host[:port]" (the scheme may be left out).
Result<Proxy> parse_proxy(std::string text);

// nullopt: connect directly. An Error: the proxy setting is malformed.
Result<std::optional<Proxy>> proxy_for(const std::optional<std::string>& configured, bool secure,
                                       const std::string& host,
                                       const std::vector<std::string>& no_proxy);

asio::awaitable<Status> open_connect_tunnel(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                            const std::string& host, const std::string& port,
                                            const Proxy& proxy, const std::string& user_agent,
                                            Clock::time_point deadline,
                                            std::chrono::milliseconds budget);

}  // namespace shipmate::integrations::net::detail
