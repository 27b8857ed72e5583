// Opening connections for the HTTP and WebSocket clients (internal; Beast and Asio SSL inside).
//
// Contract
// - Every step takes an absolute deadline, so a caller's "whole exchange" timeout covers DNS,
//   TCP connect and the TLS handshake without each step restarting the clock.
// - Failures come back as a cause only ("connection refused", "timed out after 200 ms while
//   connecting", "TLS handshake failed: certificate verify failed: ..."); callers add what was
//   being attempted (method, host, path).
// - DNS resolution runs on Asio's resolver thread and cannot be interrupted; on timeout the
//   caller is released at the deadline and the lookup's late answer is dropped.
// Include only from shipmate_net sources: this pulls in Beast and Asio SSL.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>

#include "common/result.h"
#include "common/strings.h"
#include "integrations/net/tls.h"

namespace shipmate::integrations::net::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using TlsStream = asio::ssl::stream<beast::tcp_stream>;

inline constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

inline std::string timeout_cause(std::chrono::milliseconds budget, std::string_view phase) {
  return "timed out after " + std::to_string(budget.count()) + " ms while " + std::string(phase);
}

// Largest response header either client accepts (HTTP responses, the CONNECT answer).
inline constexpr std::uint32_t kHeaderLimit = 64 * 1024;

// What kind of failure a socket error during an exchange is: a limit this client sets is
// `internal` (the answer is too large for us), TLS trouble after the handshake is `tls`, and
// everything else (timeouts, resets, closes, garbage) says the server is not answering properly.
inline ErrorKind exchange_error_kind(const boost::system::error_code& ec) {
  if (ec == beast::http::error::body_limit || ec == beast::http::error::header_limit)
    return ErrorKind::internal;
  if (ec != asio::ssl::error::stream_truncated && ec.category() == asio::error::get_ssl_category())
    return ErrorKind::tls;
  return ErrorKind::unavailable;
}

// One cause for a failed HTTP exchange (a request, a CONNECT), naming the `phase` it failed in.
inline std::string describe_exchange_error(const boost::system::error_code& ec,
                                           std::string_view phase, std::chrono::milliseconds budget,
                                           std::size_t body_limit) {
  if (ec == beast::error::timeout)
    return timeout_cause(budget, phase);
  if (ec == beast::http::error::body_limit)
    return "response body larger than " + std::to_string(body_limit) + " bytes";
  if (ec == beast::http::error::header_limit)
    return "response header larger than " + std::to_string(kHeaderLimit) + " bytes";
  if (ec == beast::http::error::end_of_stream)
    return "connection closed before a response";
  if (ec == beast::http::error::partial_message)
    return "connection closed in the middle of the response";
  if (ec.category() == beast::http::make_error_code(beast::http::error::bad_version).category())
    return "malformed response: " + to_lower(ec.message());
  if (ec == asio::ssl::error::stream_truncated)
    return "connection closed without a TLS close_notify";
  if (ec.category() == asio::error::get_ssl_category())
    return "TLS error: " + describe_tls_error(ec, nullptr);
  return describe_network_error(ec);
}

// "host" or "host:port" as it belongs in a Host header; the port is left out when it is the
// scheme's default, and IPv6 literals get their brackets back.
inline std::string host_header(const std::string& host, const std::string& port, bool secure) {
  std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != (secure ? "443" : "80"))
    out += ":" + port;
  return out;
}

inline asio::awaitable<Result<tcp::resolver::results_type>> resolve(
    std::string host, std::string port, Clock::time_point deadline,
    std::chrono::milliseconds budget) {
  struct Lookup {
    explicit Lookup(const asio::any_io_executor& ex) : resolver(ex), wake(ex) {}
    tcp::resolver resolver;
    asio::steady_timer wake;
    boost::system::error_code ec;
    tcp::resolver::results_type results;
    bool finished = false;
  };
  auto executor = co_await asio::this_coro::executor;
  auto lookup = std::make_shared<Lookup>(executor);
  lookup->wake.expires_at(deadline);
  // The handler owns the lookup: a blocking getaddrinfo may outlive this coroutine.
  lookup->resolver.async_resolve(
      host, port, [lookup](boost::system::error_code ec, tcp::resolver::results_type results) {
        lookup->ec = ec;
        lookup->results = std::move(results);
        lookup->finished = true;
        lookup->wake.cancel();
      });
  if (!lookup->finished) {
    auto [wait_ec] = co_await lookup->wake.async_wait(kTuple);
    (void)wait_ec;
  }
  if (!lookup->finished) {
    lookup->resolver.cancel();
    co_return make_error(timeout_cause(budget, "resolving " + host), ErrorKind::unavailable,
                         Reach::not_sent);
  }
  if (lookup->ec)
    co_return make_error("cannot resolve " + host + ": " + describe_network_error(lookup->ec),
                         ErrorKind::unavailable, Reach::not_sent);
  co_return std::move(lookup->results);
}

inline asio::awaitable<Status> connect_tcp(beast::tcp_stream& stream, std::string host,
                                           std::string port, Clock::time_point deadline,
                                           std::chrono::milliseconds budget) {
  auto resolved = co_await resolve(host, port, deadline, budget);
  if (!resolved)
    co_return resolved.error();
  stream.expires_at(deadline);
  auto [ec, endpoint] = co_await stream.async_connect(*resolved, kTuple);
  (void)endpoint;
  if (ec == beast::error::timeout)
    co_return make_error(timeout_cause(budget, "connecting"), ErrorKind::unavailable,
                         Reach::not_sent);
  if (ec)
    co_return make_error(describe_network_error(ec), ErrorKind::unavailable, Reach::not_sent);
  boost::system::error_code ignored;
  stream.socket().set_option(tcp::no_delay(true), ignored);
  co_return Ok{};
}

inline asio::awaitable<Status> tls_handshake(TlsStream& stream, std::string host, bool verify_peer,
                                             Clock::time_point deadline,
                                             std::chrono::milliseconds budget) {
  auto prepared = prepare_tls_connection(stream.native_handle(), host, verify_peer);
  if (!prepared)
    co_return prepared.error();
  beast::get_lowest_layer(stream).expires_at(deadline);
  auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::client, kTuple);
  if (ec == beast::error::timeout)
    co_return make_error(timeout_cause(budget, "in the TLS handshake"), ErrorKind::unavailable,
                         Reach::not_sent);
  // Certificate verification failures, and any other refusal to agree on TLS: a person has to
  // fix trust or configuration; retrying will not help.
  if (ec)
    co_return make_error("TLS handshake failed: " + describe_tls_error(ec, stream.native_handle()),
                         ErrorKind::tls, Reach::not_sent);
  co_return Ok{};
}

}  // namespace shipmate::integrations::net::detail
