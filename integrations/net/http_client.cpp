#include "integrations/net/http_client.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <deque>
#include <map>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>

#include "common/strings.h"
#include "integrations/net/connect.h"
#include "integrations/net/http_read.h"
#include "integrations/net/proxy.h"
#include "integrations/net/url_cache.h"

namespace shipmate::integrations::net {

namespace {

namespace http = boost::beast::http;
using namespace detail;

// Servers drop idle keep-alive connections after anything from a few seconds to minutes; past
// this age a pooled connection is more likely dead than worth the retry.
constexpr auto kMaxIdleAge = std::chrono::seconds(30);
// A connection back in the pool for less than this is reused without asking the kernel whether
// the server closed it meanwhile (a syscall per request under load). A server that did close it
// in that moment costs one retry on a fresh connection: the request never reached it.
constexpr auto kTrustedIdle = std::chrono::milliseconds(500);

struct Connection {
  explicit Connection(const asio::any_io_executor& executor)
      : plain(std::make_unique<beast::tcp_stream>(executor)) {}
  beast::tcp_stream& tcp() { return tls ? tls->next_layer() : *plain; }

  std::unique_ptr<beast::tcp_stream> plain;  // moved into `tls` once TLS is layered on
  std::unique_ptr<TlsStream> tls;
  beast::flat_buffer buffer;
  Clock::time_point idle_since;
};
using ConnectionPtr = std::shared_ptr<Connection>;

// A pooled connection whose peer has closed (FIN or RST pending) or sent something unasked
// (a late response, a TLS alert) must not carry the next request.
bool looks_reusable(Connection& connection, Clock::time_point now) {
  auto& socket = connection.tcp().socket();
  if (!socket.is_open() || connection.buffer.size() != 0)
    return false;
  if (now - connection.idle_since < kTrustedIdle)
    return true;
  char byte = 0;
  ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void close_quietly(Connection& connection) {
  boost::system::error_code ignored;
  connection.tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
  connection.tcp().close();
}

// ASCII only: std::isalnum depends on the C locale.
bool is_ascii_alnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_token_char(unsigned char c) {
  return is_ascii_alnum(c) ||
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// Whether `text` holds a CR or an LF. Two vectorised scans: std::string::find_first_of with a
// set calls memchr on the set once per byte of `text`, which for a bearer token of 1-2 KB cost
// more than the rest of building the request.
bool has_line_break(std::string_view text) {
  return text.find('\r') != std::string_view::npos || text.find('\n') != std::string_view::npos;
}

bool is_reserved_header(std::string_view name) {
  return equals_ci(name, "host") || equals_ci(name, "content-length") ||
         equals_ci(name, "connection") || equals_ci(name, "transfer-encoding");
}

struct Attempt {
  HttpResponse response;
  bool ok = false;
  bool keep_alive = false;
  // Set when the failure happened before any byte of a response arrived, i.e. the server cannot
  // have acted on a request it never answered; only then may a reused connection be retried.
  bool retryable = false;
  std::string cause;
  ErrorKind kind = ErrorKind::unavailable;
  // The request was written (or partly): the server may have acted on it. A deadline that passed
  // first is timed_out.
  Reach reach = Reach::sent;
};

// A request serialized once, ready for the wire (and for the one retry on a fresh connection).
struct WireRequest {
  std::string bytes;
  bool head = false;
};

template <class Stream>
asio::awaitable<Attempt> exchange(Stream& stream, Connection& connection,
                                  const WireRequest& request, Clock::time_point deadline,
                                  std::chrono::milliseconds budget, std::size_t body_limit) {
  Attempt attempt;
  connection.tcp().expires_at(deadline);
  auto [write_ec, written] =
      co_await asio::async_write(stream, asio::buffer(request.bytes), kTuple);
  (void)written;
  if (write_ec) {
    attempt.retryable = write_ec != beast::error::timeout;
    attempt.cause = describe_exchange_error(write_ec, "sending the request", budget, body_limit);
    attempt.kind = exchange_error_kind(write_ec);
    attempt.reach = write_ec == beast::error::timeout ? Reach::timed_out : Reach::sent;
    co_return attempt;
  }
  const bool head = request.head;
  for (;;) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(body_limit);
    parser.header_limit(kHeaderLimit);
    if (head)
      parser.skip(true);
    const auto read_ec = co_await read_message(stream, connection.buffer, parser, false);
    if (read_ec) {
      attempt.retryable =
          read_ec != beast::error::timeout && !parser.got_some() && connection.buffer.size() == 0;
      attempt.cause =
          describe_exchange_error(read_ec, "waiting for the response", budget, body_limit);
      attempt.kind = exchange_error_kind(read_ec);
      attempt.reach = read_ec == beast::error::timeout ? Reach::timed_out : Reach::sent;
      co_return attempt;
    }
    auto& message = parser.get();
    int status = static_cast<int>(message.result_int());
    // Interim responses (103 Early Hints and friends) precede the real one.
    if (status >= 100 && status < 200 && status != 101)
      continue;
    attempt.ok = true;
    attempt.keep_alive = message.keep_alive() && parser.is_done() && status != 101;
    attempt.response.status = status;
    for (const auto& field : message)
      attempt.response.headers.emplace_back(field.name_string(), field.value());
    attempt.response.body = std::move(message.body());
    co_return attempt;
  }
}

std::string openssl_reason() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0)
    return "unknown error";
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? to_lower(reason) : "error " + std::to_string(code);
}

Status load_client_certificate(asio::ssl::context& context, const std::string& cert_file,
                               const std::string& key_file) {
  if (cert_file.empty() || key_file.empty())
    return make_error("client certificate: both a certificate and a key file are needed",
                      ErrorKind::tls);
  SSL_CTX* native = context.native_handle();
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(native, cert_file.c_str()) != 1)
    return make_error("client certificate " + cert_file + " does not load: " + openssl_reason(),
                      ErrorKind::tls);
  if (SSL_CTX_use_PrivateKey_file(native, key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    return make_error("client key " + key_file + " does not load: " + openssl_reason(),
                      ErrorKind::tls);
  if (SSL_CTX_check_private_key(native) != 1)
    return make_error("client key " + key_file + " does not match certificate " + cert_file,
                      ErrorKind::tls);
  return Ok{};
}

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (equals_ci(key, name))
      return value;
  }
  return {};
}

struct HttpClient::Impl {
  struct Route {
    std::string pool_key;
    std::optional<Proxy> proxy;
    bool tunnel = false;      // https through an HTTP CONNECT tunnel
    std::string authority{};  // the Host header's value
  };
  // The route of the origin asked for last. It depends on the scheme, host and port alone (the
  // proxy settings are read when the client is made), and a client calls one API over and over:
  // working it out per request cost a few strings and the proxy rules each time.
  struct KnownRoute {
    std::string scheme;
    std::string host;
    std::string port;
    std::shared_ptr<const Route> route;
  };

  Impl(asio::any_io_executor ex, HttpClientOptions opts)
      : executor(std::move(ex)), options(std::move(opts)) {
    no_proxy = parse_no_proxy(env_first("NO_PROXY", "no_proxy"));
    // The proxy variables too are read once, with NO_PROXY, not per request (two getenv calls
    // that scan the whole environment each). Empty: none.
    if (!options.proxy) {
      const char* http = env_first("HTTP_PROXY", "http_proxy");
      const char* https = env_first("HTTPS_PROXY", "https_proxy");
      env_proxy = std::string(http != nullptr ? http : "");
      env_proxy_secure = std::string(https != nullptr ? https : "");
    }
  }

  Result<std::shared_ptr<asio::ssl::context>> tls_context() {
    if (!tls) {
      auto made = make_client_tls_context(options.ca_file, options.verify_peer);
      if (made && (!options.client_cert_file.empty() || !options.client_key_file.empty())) {
        auto loaded =
            load_client_certificate(**made, options.client_cert_file, options.client_key_file);
        if (!loaded)
          made = loaded.error();
      }
      tls = std::move(made);
    }
    return *tls;
  }

  Result<Route> route_for(const ParsedUrl& url) {
    bool secure = url.scheme == "https";
    std::string origin = url.scheme + "://" + url.host + ":" + url.port;
    const std::optional<std::string>& configured =
        options.proxy ? options.proxy : (secure ? env_proxy_secure : env_proxy);
    auto chosen = proxy_for(configured, secure, url.host, no_proxy);
    if (!chosen)
      return chosen.error();
    Route route;
    route.authority = host_header(url.host, url.port, secure);
    if (!*chosen) {
      route.pool_key = std::move(origin);
      return route;
    }
    const Proxy* proxy = &**chosen;
    route.proxy = *proxy;
    if (secure) {
      route.pool_key = "tunnel " + proxy->host + ":" + proxy->port + " " + origin;
      route.tunnel = true;
      return route;
    }
    // Plain http through a proxy: one connection to the proxy serves every origin.
    route.pool_key = "proxy " + proxy->host + ":" + proxy->port;
    return route;
  }

  Result<std::shared_ptr<const Route>> cached_route(const ParsedUrl& url) {
    if (last_route && last_route->port == url.port && last_route->host == url.host &&
        last_route->scheme == url.scheme)
      return last_route->route;
    auto made = route_for(url);
    if (!made)
      return made.error();
    auto route = std::make_shared<const Route>(std::move(*made));
    last_route = KnownRoute{url.scheme, url.host, url.port, route};
    return route;
  }

  ConnectionPtr take_idle(const std::string& key) {
    auto it = idle.find(key);
    if (it == idle.end())
      return nullptr;
    auto& list = it->second;
    ConnectionPtr found;
    while (!list.empty() && !found) {
      ConnectionPtr candidate = std::move(list.back());
      list.pop_back();
      const auto now = Clock::now();
      if (now - candidate->idle_since < kMaxIdleAge && looks_reusable(*candidate, now))
        found = std::move(candidate);
      else
        close_quietly(*candidate);
    }
    // An emptied list stays: the connection is put back after its exchange, and a list made
    // anew each time would allocate a deque (and its map entry) per request.
    return found;
  }

  void put_idle(const std::string& key, ConnectionPtr connection) {
    if (options.max_idle_per_host == 0) {
      close_quietly(*connection);
      return;
    }
    connection->tcp().expires_never();
    connection->idle_since = Clock::now();
    auto& list = idle[key];
    list.push_back(std::move(connection));
    while (list.size() > options.max_idle_per_host) {
      close_quietly(*list.front());
      list.pop_front();
    }
  }

  asio::awaitable<Status> open(Connection& connection, const ParsedUrl& url, const Route& route,
                               Clock::time_point deadline, std::chrono::milliseconds budget) {
    bool secure = url.scheme == "https";
    std::shared_ptr<asio::ssl::context> context;
    if (secure) {
      auto made = tls_context();
      if (!made)
        co_return made.error();
      context = *made;
    }
    const std::string& host = route.proxy ? route.proxy->host : url.host;
    const std::string& port = route.proxy ? route.proxy->port : url.port;
    ++opened;
    auto connected = co_await connect_tcp(*connection.plain, host, port, deadline, budget);
    if (!connected) {
      if (route.proxy)
        co_return prefix_error("proxy " + host + ":" + port + ": ", connected.error());
      co_return connected;
    }
    if (route.tunnel) {
      auto tunneled =
          co_await open_connect_tunnel(*connection.plain, connection.buffer, url.host, url.port,
                                       *route.proxy, options.user_agent, deadline, budget);
      if (!tunneled)
        co_return tunneled;
    }
    if (!secure)
      co_return Ok{};
    connection.tls = std::make_unique<TlsStream>(std::move(*connection.plain), *context);
    connection.plain.reset();
    co_return co_await tls_handshake(*connection.tls, url.host, options.verify_peer, deadline,
                                     budget);
  }

  // Serialized by hand into one buffer: building Beast's header container and walking its
  // serializer cost more than the rest of a small API call's request side.
  WireRequest build_request(const HttpRequest& in, const ParsedUrl& url, const Route& route) {
    WireRequest out;
    out.head = in.method == "HEAD";
    const std::string& authority = route.authority;
    std::string& wire = out.bytes;
    wire.reserve(256 + in.body.size());
    wire += in.method;
    wire += ' ';
    if (route.proxy && !route.tunnel) {
      wire += url.scheme;
      wire += "://";
      wire += authority;
    }
    wire += url.target;
    wire += " HTTP/1.1\r\nHost: ";
    wire += authority;
    wire += "\r\n";
    auto add = [&wire](std::string_view name, std::string_view value) {
      wire += name;
      wire += ": ";
      wire += value;
      wire += "\r\n";
    };
    bool has_user_agent = false;
    for (const auto& [name, value] : in.headers) {
      if (is_reserved_header(name))
        continue;
      has_user_agent = has_user_agent || equals_ci(name, "user-agent");
      add(name, value);
    }
    if (!has_user_agent && !options.user_agent.empty())
      add("User-Agent", options.user_agent);
    if (route.proxy && !route.tunnel && !route.proxy->authorization.empty())
      add("Proxy-Authorization", route.proxy->authorization);
    // As Beast's prepare_payload: a length for any body, and for POST, PUT and OPTIONS always.
    if (!in.body.empty() || in.method == "POST" || in.method == "PUT" || in.method == "OPTIONS")
      add("Content-Length", std::to_string(in.body.size()));
    wire += "\r\n";
    wire += in.body;
    return out;
  }

  asio::awaitable<Result<HttpResponse>> send(HttpRequest in) {
    auto url = urls.parse(in.url);
    std::string method = in.method.empty() ? std::string("GET") : in.method;
    if (!url)
      co_return make_error(method + " " + in.url + ": invalid URL (want http(s)://host/path)",
                           ErrorKind::invalid);
    // The query may carry tokens; errors name only the path. Made only for an error.
    auto what = [&method, &url] {
      return method + " " + host_header(url->host, url->port, url->scheme == "https") +
             url->target.substr(0, url->target.find('?')) + ": ";
    };
    if (url->scheme != "http" && url->scheme != "https")
      co_return make_error(what() + "unsupported scheme " + url->scheme, ErrorKind::invalid);
    for (char c : method) {
      if (!is_token_char(static_cast<unsigned char>(c)))
        co_return make_error(what() + "invalid method", ErrorKind::invalid);
    }
    in.method = method;
    // A line break in a header would let it smuggle in headers (or a second request).
    for (const auto& [name, value] : in.headers) {
      if (name.empty() || has_line_break(name) || name.find_first_of(": ") != std::string::npos ||
          has_line_break(value))
        co_return make_error(what() + "invalid header '" + name + "'", ErrorKind::invalid);
    }
    auto route_found = cached_route(*url);
    if (!route_found)
      co_return prefix_error(what(), route_found.error());
    const std::shared_ptr<const Route> route = *route_found;
    auto request = build_request(in, *url, *route);
    auto budget = in.timeout;
    auto deadline = Clock::now() + budget;

    ConnectionPtr connection = take_idle(route->pool_key);
    bool reused = connection != nullptr;
    for (;;) {
      if (!connection) {
        connection = std::make_shared<Connection>(executor);
        auto opened_ok = co_await open(*connection, *url, *route, deadline, budget);
        if (!opened_ok) {
          close_quietly(*connection);
          co_return prefix_error(what(), opened_ok.error());
        }
      }
      Attempt attempt;
      if (connection->tls) {
        attempt = co_await exchange(*connection->tls, *connection, request, deadline, budget,
                                    options.max_body_bytes);
      } else {
        attempt = co_await exchange(*connection->plain, *connection, request, deadline, budget,
                                    options.max_body_bytes);
      }
      if (attempt.ok) {
        if (attempt.keep_alive)
          put_idle(route->pool_key, std::move(connection));
        else
          close_quietly(*connection);
        co_return std::move(attempt.response);
      }
      close_quietly(*connection);
      connection.reset();
      if (!(reused && attempt.retryable && Clock::now() < deadline))
        co_return make_error(what() + attempt.cause, attempt.kind, attempt.reach);
      reused = false;  // the retry gets a fresh connection, and only one retry
    }
  }

  asio::any_io_executor executor;
  HttpClientOptions options;
  std::vector<std::string> no_proxy;
  std::optional<std::string> env_proxy, env_proxy_secure;  // see the constructor
  std::optional<Result<std::shared_ptr<asio::ssl::context>>> tls;
  std::map<std::string, std::deque<ConnectionPtr>> idle;
  UrlCache urls;
  std::optional<KnownRoute> last_route;
  std::size_t opened = 0;
};

HttpClient::HttpClient(asio::any_io_executor executor, HttpClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options))) {}

HttpClient::~HttpClient() {
  for (auto& [key, list] : impl_->idle) {
    for (auto& connection : list)
      close_quietly(*connection);
  }
  impl_->idle.clear();
}

asio::awaitable<Result<HttpResponse>> HttpClient::send(HttpRequest request) {
  // Requests in flight keep the state alive even if the client is destroyed meanwhile.
  std::shared_ptr<Impl> impl = impl_;
  auto result = co_await impl->send(std::move(request));
  co_return result;
}

std::size_t HttpClient::connections_opened() const {
  return impl_->opened;
}

std::optional<ParsedUrl> parse_url(std::string_view text) {
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed || !parsed->has_authority())
    return std::nullopt;
  ParsedUrl url;
  url.scheme = to_lower(parsed->scheme());
  bool secure = url.scheme == "https" || url.scheme == "wss";
  if (!secure && url.scheme != "http" && url.scheme != "ws")
    return std::nullopt;
  url.host = to_lower(parsed->host_address());
  if (url.host.empty())
    return std::nullopt;
  if (parsed->has_port() && !parsed->port().empty()) {
    // Boost.URL accepts any digit string as a port; TCP does not.
    std::string_view digits = parsed->port();
    unsigned long number = 0;
    for (char c : digits) {
      number = number * 10 + static_cast<unsigned long>(c - '0');
      if (number > 65535)
        return std::nullopt;
    }
    if (number == 0)
      return std::nullopt;
    url.port = std::to_string(number);
  } else {
    url.port = secure ? "443" : "80";
  }
  url.target = std::string(parsed->encoded_target());
  if (url.target.empty() || url.target.front() != '/')
    url.target.insert(0, "/");
  return url;
}

namespace detail {

bool is_plain_target(std::string_view target) {
  for (std::size_t i = 0; i < target.size(); ++i) {
    const auto c = static_cast<unsigned char>(target[i]);
    if (is_ascii_alnum(c))
      continue;
    if (c == '%') {
      if (i + 2 >= target.size() || hex_digit_value(target[i + 1]) < 0 ||
          hex_digit_value(target[i + 2]) < 0)
        return false;
      i += 2;
      continue;
    }
    if (std::string_view("-._~!$&'()*+,;=:@/?").find(static_cast<char>(c)) ==
        std::string_view::npos)
      return false;
  }
  return true;
}

std::optional<ParsedUrl> UrlCache::parse(const std::string& text) {
  if (last_ && last_->first == text)
    return last_->second;
  if (last_ && origin_ > 0 && text.size() > origin_ && text[origin_] == '/' &&
      text.compare(0, origin_, last_->first, 0, origin_) == 0 &&
      is_plain_target(std::string_view(text).substr(origin_))) {
    ParsedUrl url = last_->second;
    url.target.assign(text, origin_);
    last_.emplace(text, url);
    return url;
  }
  ++parsed_;
  auto url = parse_url(text);
  if (!url)
    return std::nullopt;
  last_.emplace(text, std::move(*url));
  // Where the authority ends: the first '/', '?' or '#' after "://" (a shortcut only for '/').
  origin_ = 0;
  if (const auto scheme_end = text.find("://"); scheme_end != std::string::npos) {
    const auto end = text.find_first_of("/?#", scheme_end + 3);
    if (end != std::string::npos && text[end] == '/')
      origin_ = end;
  }
  return last_->second;
}

}  // namespace detail

ErrorKind http_status_kind(int status) {
  switch (status) {
    case 400:
    case 422:
      return ErrorKind::invalid;
    case 401:
    case 403:
    case 407:
      return ErrorKind::auth;
    case 404:
    case 410:
      return ErrorKind::not_found;
    case 409:
    case 412:
      return ErrorKind::conflict;
    case 408:
    case 429:
      return ErrorKind::unavailable;
    default:
      break;
  }
  if (status >= 500 && status < 600)
    return ErrorKind::unavailable;
  return ErrorKind::internal;
}

std::string form_encode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    auto byte = static_cast<unsigned char>(c);
    if (is_ascii_alnum(byte) || c == '-' || c == '.' || c == '_' || c == '*') {
      out += c;
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    }
  }
  return out;
}

}  // namespace shipmate::integrations::net
