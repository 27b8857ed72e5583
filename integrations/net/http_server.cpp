#include "integrations/net/http_server.h"

#include <algorithm>
#include <array>
#include <exception>

#include <openssl/ssl.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

#include "common/strings.h"
#include "integrations/net/http_read.h"

namespace shipmate::integrations::net {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using TlsStream = asio::ssl::stream<beast::tcp_stream>;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kHeaderLimit = 16 * 1024;
// Refused requests are read to the end before closing (or the client may see a reset instead of
// the answer), but only this much of them and for at most kDrainTime.
constexpr std::size_t kDrainLimit = 64 * 1024 * 1024;
constexpr auto kDrainTime = std::chrono::seconds(5);
constexpr std::size_t kDefaultBodyLimit = RouteOptions{}.max_body_bytes;

// An HTTP token (RFC 9110): what a header name may be made of.
bool is_header_name(std::string_view name) {
  if (name.empty())
    return false;
  for (const char c : name) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos)
      return false;
  }
  return true;
}

std::string format_peer(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(endpoint.port());
}

bool is_parse_error(const boost::system::error_code& ec) {
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec == http::error::body_limit)
    return false;
  return ec.category() == http::make_error_code(http::error::bad_version).category();
}

std::string parse_error_reason(const boost::system::error_code& ec) {
  if (ec == http::error::header_limit)
    return "request header larger than " + std::to_string(kHeaderLimit / 1024) + " KiB";
  return "malformed request: " + to_lower(ec.message());
}

std::string too_large_reason(std::size_t limit) {
  if (limit >= 1024 && limit % 1024 == 0) {
    const std::size_t kib = limit / 1024;
    if (kib >= 1024 && kib % 1024 == 0)
      return "request body larger than " + std::to_string(kib / 1024) + " MiB";
    return "request body larger than " + std::to_string(kib) + " KiB";
  }
  return "request body larger than " + std::to_string(limit) + " bytes";
}

struct Route {
  RouteHandler handler;
  RouteOptions options;
  // Shared by the copies a request takes, so the count outlives a withdraw() or a new mount().
  std::shared_ptr<std::size_t> in_flight = std::make_shared<std::size_t>(0);
  bool withdrawn = false;
};

// Counts one request in its route for as long as its handler runs.
class InFlight {
 public:
  explicit InFlight(std::shared_ptr<std::size_t> count) : count_(std::move(count)) { ++*count_; }
  ~InFlight() { --*count_; }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  std::shared_ptr<std::size_t> count_;
};

}  // namespace

bool CaseInsensitiveLess::operator()(std::string_view a, std::string_view b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return ascii_lower(x) < ascii_lower(y);
  });
}

std::string ServerRequest::header(std::string_view name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

ServerResponse ServerResponse::text(int status, std::string body) {
  return ServerResponse{status, {{"Content-Type", "text/plain; charset=utf-8"}}, std::move(body)};
}

struct HttpServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor ex, HttpServerOptions opts)
      : executor(std::move(ex)), options(std::move(opts)), acceptor(executor) {}

  // What the connection loop decided about one request.
  struct Outcome {
    ServerResponse response;
    bool close = false;  // answer with Connection: close
    bool drain = false;  // then read what the client still sends before closing
  };

  static asio::awaitable<void> accept_loop(std::shared_ptr<Impl> self) {
    for (;;) {
      auto [ec, socket] = co_await self->acceptor.async_accept(kTuple);
      if (self->stopped || ec == asio::error::operation_aborted)
        co_return;
      if (ec) {
        // Out of descriptors and the like: pause rather than spin.
        asio::steady_timer pause(self->executor, std::chrono::milliseconds(50));
        auto [ignored] = co_await pause.async_wait(kTuple);
        (void)ignored;
        continue;
      }
      asio::co_spawn(self->executor, serve_socket(self, std::move(socket)), asio::detached);
    }
  }

  static asio::awaitable<void> serve_socket(std::shared_ptr<Impl> self, tcp::socket socket) {
    boost::system::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    const std::string peer = ec ? std::string("unknown") : format_peer(remote);
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    beast::tcp_stream plain(std::move(socket));
    if (!self->tls) {
      co_await serve(self, plain, plain, peer);
      co_return;
    }
    TlsStream stream(std::move(plain), *self->tls);
    beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
    const auto id = self->track(lowest);
    lowest.expires_after(self->options.header_timeout);
    auto [handshake_ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kTuple);
    self->untrack(id);
    if (handshake_ec || self->stopped) {
      lowest.close();
      co_return;
    }
    co_await serve(self, stream, lowest, peer);
  }

  std::uint64_t track(beast::tcp_stream& lowest) {
    const auto id = next_id++;
    open[id] = &lowest;
    return id;
  }
  void untrack(std::uint64_t id) { open.erase(id); }

  template <class Stream>
  static asio::awaitable<void> serve(std::shared_ptr<Impl> self, Stream& stream,
                                     beast::tcp_stream& lowest, std::string peer) {
    const auto id = self->track(lowest);
    beast::flat_buffer buffer;
    bool first = true;
    while (!self->stopped) {
      // Between keep-alive requests the client may stay silent for idle_timeout; once it has
      // started a request, its header must arrive within header_timeout.
      if (!first && buffer.size() == 0) {
        lowest.expires_after(self->options.idle_timeout);
        auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), kTuple);
        if (ec)
          break;
        buffer.commit(n);
      }
      first = false;
      Outcome outcome;
      const bool keep_going = co_await handle_one(self, stream, lowest, buffer, peer, outcome);
      if (!keep_going)
        break;
      lowest.expires_after(self->options.header_timeout);
      const bool written = co_await write_response(stream, outcome);
      if (!written)
        break;
      if (outcome.close) {
        if (outcome.drain)
          co_await drain(lowest, self->options.header_timeout);
        break;
      }
    }
    self->untrack(id);
    boost::system::error_code ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest.close();
  }

  // Reads one request and decides its answer. false: close the connection without answering
  // (timeout, the client went away).
  template <class Stream>
  static asio::awaitable<bool> handle_one(std::shared_ptr<Impl> self, Stream& stream,
                                          beast::tcp_stream& lowest, beast::flat_buffer& buffer,
                                          const std::string& peer, Outcome& outcome) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    // Beast would refuse a declared length over its default limit while reading the header; the
    // route's limit is applied below, once the route is known.
    parser.body_limit(boost::none);
    lowest.expires_after(self->options.header_timeout);
    const auto header_ec = co_await detail::read_message(stream, buffer, parser, true);
    if (header_ec) {
      if (!is_parse_error(header_ec))
        co_return false;
      outcome = {ServerResponse::text(400, parse_error_reason(header_ec) + "\n"), true, true};
      co_return true;
    }
    const auto& header = parser.get();
    ServerRequest request;
    request.method = std::string(header.method_string());
    request.target = std::string(header.target());
    const auto question = request.target.find('?');
    request.path = request.target.substr(0, question);
    if (question != std::string::npos)
      request.query = request.target.substr(question + 1);
    for (const auto& field : header) {
      auto [it, inserted] =
          request.headers.emplace(std::string(field.name_string()), std::string(field.value()));
      if (!inserted) {
        it->second += ", ";
        it->second += field.value();
      }
    }
    request.peer = peer;
    outcome.close = !header.keep_alive();

    // Route before reading the body: the route sets the body limit.
    std::shared_ptr<const Route> route;
    std::size_t limit = kDefaultBodyLimit;
    auto by_path = self->routes.find(request.path);
    if (by_path == self->routes.end()) {
      outcome.response = ServerResponse::text(404, "not found: " + request.path + "\n");
    } else if (auto by_method = by_path->second.find(request.method);
               by_method == by_path->second.end()) {
      std::string allow;
      for (const auto& [method, unused] : by_path->second)
        allow += (allow.empty() ? "" : ", ") + method;
      outcome.response = ServerResponse::text(405, "method not allowed (use " + allow + ")\n");
      outcome.response.headers.emplace_back("Allow", allow);
    } else if (by_method->second->withdrawn) {
      outcome.response = ServerResponse::text(503, request.path + " is shutting down\n");
    } else {
      // Shared, not copied (a copy of the handler allocated per request): a mount() while the
      // handler runs replaces the map's pointer and leaves this one alone.
      route = by_method->second;
      limit = route->options.max_body_bytes;
    }

    const auto declared = parser.content_length();
    if (declared && *declared > limit) {
      outcome = {ServerResponse::text(413, too_large_reason(limit) + "\n"), true, true};
      co_return true;
    }
    if (!parser.is_done() && equals_ci(request.header("Expect"), "100-continue") && route) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      auto [continue_ec, sent] =
          co_await asio::async_write(stream, asio::buffer(kContinue), kTuple);
      (void)sent;
      if (continue_ec)
        co_return false;
    }
    parser.body_limit(limit);
    const bool own_timeout = route && route->options.body_timeout.count() > 0;
    lowest.expires_after(own_timeout ? route->options.body_timeout : self->options.body_timeout);
    const auto body_ec = co_await detail::read_message(stream, buffer, parser, false);
    if (body_ec == http::error::body_limit) {
      outcome = {ServerResponse::text(413, too_large_reason(limit) + "\n"), true, true};
      co_return true;
    }
    if (body_ec) {
      if (!is_parse_error(body_ec))
        co_return false;
      outcome = {ServerResponse::text(400, parse_error_reason(body_ec) + "\n"), true, true};
      co_return true;
    }
    if (!route)
      co_return true;  // 404, 405 or 503, decided above; the body was read, so keep-alive holds
    const std::size_t most = route->options.max_in_flight;
    if (most > 0 && *route->in_flight >= most) {
      outcome.response =
          ServerResponse::text(503, std::to_string(most) + " requests to " + request.path +
                                        " are already running; retry shortly\n");
      outcome.response.headers.emplace_back("Retry-After", "1");
      co_return true;
    }
    request.body = std::move(parser.get().body());
    lowest.expires_never();  // the handler's time is its own
    InFlight counted(route->in_flight);
    try {
      auto answer = route->handler(std::move(request));
      outcome.response = co_await std::move(answer);
    } catch (const std::exception&) {
      outcome.response = ServerResponse::text(500, "internal error\n");
      outcome.close = true;
    }
    co_return !self->stopped;
  }

  // The response as it goes on the wire, serialized by hand into one buffer (as HttpClient does
  // its requests): filling Beast's header container and walking its serializer cost more than
  // the rest of answering a small request. Same bytes as Beast's serializer: status line, the
  // handler's headers in order, Content-Type when the handler set none and there is a body,
  // Connection: close when closing, then Content-Length. A handler's header whose name is not an
  // HTTP token is left out, and CR or LF in a value is sent as a space, so no handler can split
  // the response (Beast wrote both as they were).
  static std::string serialize_response(Outcome& outcome) {
    int status = outcome.response.status;
    if (status < 100 || status > 999)
      status = 500;
    // No body for these (Beast's prepare_payload refused one with an exception).
    if (status < 200 || status == 204 || status == 304)
      outcome.response.body.clear();
    const std::string& body = outcome.response.body;
    const auto reason = http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status)));
    std::string wire;
    wire.reserve(128 + body.size());
    wire += "HTTP/1.1 ";
    wire += std::to_string(status);
    wire += ' ';
    wire.append(reason.data(), reason.size());
    wire += "\r\n";
    auto add = [&wire](std::string_view name, std::string_view value) {
      wire += name;
      wire += ": ";
      const std::size_t start = wire.size();
      wire += value;
      for (std::size_t i = start; i < wire.size(); ++i) {
        if (wire[i] == '\r' || wire[i] == '\n')
          wire[i] = ' ';
      }
      wire += "\r\n";
    };
    bool has_type = false;
    for (const auto& [name, value] : outcome.response.headers) {
      if (!is_header_name(name) || equals_ci(name, "Content-Length") ||
          equals_ci(name, "Connection") || equals_ci(name, "Transfer-Encoding"))
        continue;
      has_type = has_type || equals_ci(name, "Content-Type");
      add(name, value);
    }
    if (!has_type && !body.empty())
      add("Content-Type", "text/plain; charset=utf-8");
    if (outcome.close)
      add("Connection", "close");
    add("Content-Length", std::to_string(body.size()));
    wire += "\r\n";
    wire += body;
    return wire;
  }

  template <class Stream>
  static asio::awaitable<bool> write_response(Stream& stream, Outcome& outcome) {
    const std::string wire = serialize_response(outcome);
    const auto bytes = asio::buffer(wire);
    auto [ec, written] = co_await asio::async_write(stream, bytes, kTuple);
    (void)written;
    co_return !ec;
  }

  // After a refusal: stop sending, then read and drop what the client still sends until it
  // closes, so that the close does not reset the connection under the answer.
  static asio::awaitable<void> drain(beast::tcp_stream& lowest, std::chrono::milliseconds limit) {
    boost::system::error_code ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_send, ignored);
    lowest.expires_after(std::min<std::chrono::milliseconds>(limit, kDrainTime));
    std::array<char, 16 * 1024> sink;
    std::size_t total = 0;
    while (total < kDrainLimit) {
      auto [ec, n] = co_await lowest.async_read_some(asio::buffer(sink), kTuple);
      if (ec)
        break;
      total += n;
    }
  }

  asio::any_io_executor executor;
  HttpServerOptions options;
  tcp::acceptor acceptor;
  std::shared_ptr<asio::ssl::context> tls;
  // path -> method -> route
  std::map<std::string, std::map<std::string, std::shared_ptr<Route>>, std::less<>> routes;
  std::map<std::uint64_t, beast::tcp_stream*> open;  // every connection's socket, for stop()
  std::uint64_t next_id = 1;
  bool stopped = false;
};

namespace {

Result<std::shared_ptr<asio::ssl::context>> server_tls_context(const HttpServerOptions& options) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_compression);
  boost::system::error_code ec;
  context->use_certificate_chain_file(options.tls_cert_file, ec);
  if (ec) {
    return make_error(options.name + ": TLS certificate " + options.tls_cert_file +
                          " does not load: " + to_lower(ec.message()),
                      ErrorKind::tls);
  }
  context->use_private_key_file(options.tls_key_file, asio::ssl::context::pem, ec);
  if (ec) {
    return make_error(options.name + ": TLS key " + options.tls_key_file +
                          " does not load: " + to_lower(ec.message()),
                      ErrorKind::tls);
  }
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    return make_error(options.name + ": TLS key " + options.tls_key_file +
                          " does not match certificate " + options.tls_cert_file,
                      ErrorKind::tls);
  }
  return context;
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::start(asio::any_io_executor executor,
                                                      HttpServerOptions options) {
  auto impl = std::make_shared<Impl>(executor, std::move(options));
  const HttpServerOptions& opts = impl->options;
  if (opts.tls_cert_file.empty() != opts.tls_key_file.empty()) {
    return make_error(opts.name + ": TLS needs both a certificate and a key file",
                      ErrorKind::invalid);
  }
  if (!opts.tls_cert_file.empty()) {
    auto context = server_tls_context(opts);
    if (!context)
      return context.error();
    impl->tls = *context;
  }
  const std::string where = opts.bind_address + ":" + std::to_string(opts.port);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(opts.bind_address, ec);
  if (ec || opts.port < 0 || opts.port > 65535) {
    return make_error(opts.name + ": '" + where + "' is not an IP address and port",
                      ErrorKind::invalid);
  }
  tcp::endpoint endpoint(address, static_cast<unsigned short>(opts.port));
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec)
    impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec)
    impl->acceptor.bind(endpoint, ec);
  if (!ec)
    impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec == asio::error::address_in_use)
    return make_error(opts.name + ": " + where + " is already in use by another process",
                      ErrorKind::conflict);
  if (ec) {
    return make_error(opts.name + ": cannot listen on " + where + ": " + to_lower(ec.message()),
                      ErrorKind::unavailable);
  }
  asio::co_spawn(executor, Impl::accept_loop(impl), asio::detached);
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::~HttpServer() {
  stop();
}

Status HttpServer::mount(std::string method, std::string path, RouteHandler handler,
                         RouteOptions options) {
  if (method.empty() || path.empty() || path.front() != '/')
    return make_error(impl_->options.name + ": cannot mount '" + method + " " + path +
                          "': want a method and a path starting with /",
                      ErrorKind::invalid);
  auto& methods = impl_->routes[path];
  if (auto it = methods.find(method); it != methods.end() && !it->second->withdrawn) {
    return make_error(impl_->options.name + ": " + method + " " + path + " is already mounted",
                      ErrorKind::conflict);
  }
  methods.insert_or_assign(std::move(method),
                           std::make_shared<Route>(Route{std::move(handler), options}));
  return Ok{};
}

void HttpServer::withdraw(std::string_view method, std::string_view path) {
  auto by_path = impl_->routes.find(path);
  if (by_path == impl_->routes.end())
    return;
  auto by_method = by_path->second.find(std::string(method));
  if (by_method != by_path->second.end())
    by_method->second->withdrawn = true;
}

const std::string& HttpServer::name() const {
  return impl_->options.name;
}

std::vector<std::string> HttpServer::routes() const {
  std::vector<std::string> out;
  for (const auto& [path, methods] : impl_->routes) {
    for (const auto& [method, route] : methods)
      out.push_back(method + " " + path);
  }
  return out;
}

int HttpServer::port() const {
  boost::system::error_code ec;
  auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

bool HttpServer::tls() const {
  return impl_->tls != nullptr;
}

void HttpServer::stop() {
  if (impl_->stopped)
    return;
  impl_->stopped = true;
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
  for (auto& [id, stream] : impl_->open)
    stream->socket().close(ignored);
}

}  // namespace shipmate::integrations::net
