#include "integrations/net/websocket_client.h"

#include <netinet/tcp.h>
#include <deque>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "common/strings.h"
#include "integrations/net/connect.h"
#include "integrations/net/http_client.h"

namespace shipmate::integrations::net {

namespace {

namespace websocket = boost::beast::websocket;
using namespace detail;

// Bounds close(): a peer that never answers the close frame must not hold the caller long.
constexpr auto kMaxCloseWait = std::chrono::milliseconds(2000);
constexpr std::size_t kReadChunk = 64 * 1024;

std::string close_code_name(std::uint16_t code) {
  switch (code) {
    case 1000:
      return "normal";
    case 1001:
      return "going away";
    case 1002:
      return "protocol error";
    case 1003:
      return "unsupported data";
    case 1005:
      return "no status";
    case 1006:
      return "abnormal";
    case 1007:
      return "invalid payload";
    case 1008:
      return "policy violation";
    case 1009:
      return "message too big";
    case 1010:
      return "extension required";
    case 1011:
      return "internal error";
    case 1012:
      return "service restart";
    case 1013:
      return "try again later";
    default:
      return "unknown";
  }
}

struct Outgoing {
  enum class Kind { text, ping, close };
  Outgoing(Kind k, std::string text) : kind(k), payload(std::move(text)) {}
  Kind kind;
  std::string payload;
  // Set for a sender that waits (send(), close()); cancelled to wake it once the frame is out
  // (or failed). Queued acks have none: there is one per envelope, and nobody waits on them.
  std::unique_ptr<asio::steady_timer> done;
  bool finished = false;
  Status status = Ok{};
};

template <class Next>
class Session : public std::enable_shared_from_this<Session<Next>> {
 public:
  template <class... Args>
  Session(asio::any_io_executor executor, WebSocketOptions options, Args&&... args)
      : executor_(executor),
        options_(std::move(options)),
        ws_(executor, std::forward<Args>(args)...),
        idle_timer_(executor),
        ping_timer_(executor),
        drained_signal_(executor, Clock::time_point::max()) {
    ws_.read_message_max(options_.max_frame_bytes);
    ws_.auto_fragment(false);
  }

  websocket::stream<Next>& ws() { return ws_; }
  void hold(std::shared_ptr<asio::ssl::context> context) { tls_context_ = std::move(context); }

  // Called once the opening handshake succeeded.
  void start() {
    last_activity_ = Clock::now();
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::min(kMaxCloseWait, options_.connect_timeout);
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    // The callback lives inside ws_, which this session owns, so `this` cannot dangle.
    ws_.control_callback(
        [this](websocket::frame_type, beast::string_view) { last_activity_ = Clock::now(); });
    auto self = this->shared_from_this();
    if (options_.idle_timeout.count() > 0)
      asio::co_spawn(executor_, watchdog(self), asio::detached);
    if (options_.ping_interval.count() > 0)
      asio::co_spawn(executor_, pinger(self), asio::detached);
  }

  asio::awaitable<Result<std::string>> read() {
    auto self = this->shared_from_this();
    for (;;) {
      if (failure_)
        co_return make_error(*failure_);
      buffer_.clear();
      do {
        auto [ec, n] = co_await ws_.async_read_some(buffer_, kReadChunk, kTuple);
        (void)n;
        if (ec) {
          fail(describe_read_error(ec));
          co_return make_error(*failure_);
        }
        last_activity_ = Clock::now();
      } while (!ws_.is_message_done());
      if (ws_.got_binary())
        continue;
      std::string text = beast::buffers_to_string(buffer_.data());
      buffer_.clear();
      co_return text;
    }
  }

  asio::awaitable<Status> send(std::string text) {
    auto self = this->shared_from_this();
    if (failure_)
      co_return make_error(*failure_);
    if (closing_)
      co_return make_error("connection is closing");
    auto item = enqueue(Outgoing::Kind::text, std::move(text), true);
    if (!item->finished) {
      auto [ec] = co_await item->done->async_wait(kTuple);
      (void)ec;
    }
    co_return item->status;
  }

  Status queue_send(std::string text) {
    if (failure_)
      return make_error(*failure_);
    if (closing_)
      return make_error("connection is closing");
    enqueue(Outgoing::Kind::text, std::move(text));
    return Ok{};
  }

  asio::awaitable<void> drained() {
    auto self = this->shared_from_this();
    while (writing_) {
      auto [ec] = co_await drained_signal_.async_wait(kTuple);
      (void)ec;
    }
  }

  asio::awaitable<void> close() {
    auto self = this->shared_from_this();
    if (failure_ || closing_)
      co_return;
    closing_ = true;
    auto item = enqueue(Outgoing::Kind::close, {}, true);
    if (!item->finished) {
      auto [ec] = co_await item->done->async_wait(kTuple);
      (void)ec;
    }
    fail("connection closed");
  }

  void abort() {
    if (failure_)
      return;
    boost::system::error_code ignored;
    // Linger 0 makes close() send a reset instead of a FIN: the peer learns at once.
    beast::get_lowest_layer(ws_).socket().set_option(tcp::socket::linger(true, 0), ignored);
    fail("connection aborted");
  }

  // Marks the connection dead for good and drops the socket; pending operations then fail and
  // report `cause` rather than whatever the socket error was.
  void fail(std::string cause) {
    if (!failure_)
      failure_ = std::move(cause);
    idle_timer_.cancel();
    ping_timer_.cancel();
    auto& lowest = beast::get_lowest_layer(ws_);
    if (lowest.socket().is_open())
      lowest.close();
  }

 private:
  std::shared_ptr<Outgoing> enqueue(Outgoing::Kind kind, std::string payload,
                                    bool awaited = false) {
    auto item = std::make_shared<Outgoing>(kind, std::move(payload));
    if (awaited)
      item->done = std::make_unique<asio::steady_timer>(executor_, Clock::time_point::max());
    queue_.push_back(item);
    if (!writing_) {
      writing_ = true;
      asio::co_spawn(executor_, writer(this->shared_from_this()), asio::detached);
    }
    return item;
  }

  static void finish(Outgoing& item, Status status) {
    item.status = std::move(status);
    item.finished = true;
    if (item.done)
      item.done->cancel();
  }

  // The only place frames are written, so at most one write is ever in flight and frames leave
  // in the order they were queued.
  static asio::awaitable<void> writer(std::shared_ptr<Session> self) {
    bool corked = false;
    while (!self->queue_.empty()) {
      std::shared_ptr<Outgoing> item = self->queue_.front();
      self->queue_.pop_front();
      // Several text frames waiting (a batch of acks): hold them in the kernel and let them
      // leave as one segment, so the peer is woken once rather than once per frame. Control
      // frames go out at once: close waits for the peer's answer.
      const bool batch = item->kind == Outgoing::Kind::text && (corked || !self->queue_.empty());
      if (batch != corked && !self->failure_) {
        self->cork(batch);
        corked = batch;
      }
      if (self->failure_) {
        finish(*item, make_error(*self->failure_));
        continue;
      }
      boost::system::error_code ec;
      if (item->kind == Outgoing::Kind::text) {
        self->ws_.text(true);
        auto [write_ec, n] = co_await self->ws_.async_write(asio::buffer(item->payload), kTuple);
        (void)n;
        ec = write_ec;
      } else if (item->kind == Outgoing::Kind::ping) {
        auto [ping_ec] = co_await self->ws_.async_ping({}, kTuple);
        ec = ping_ec;
      } else {
        auto [close_ec] = co_await self->ws_.async_close(websocket::close_code::normal, kTuple);
        // A peer that does not answer the close frame changes nothing for the caller.
        ec = {};
        (void)close_ec;
      }
      if (ec && !self->failure_)
        self->fail(self->describe_write_error(ec));
      if (ec)
        finish(*item, make_error(*self->failure_));
      else
        finish(*item, Ok{});
    }
    if (corked && !self->failure_)
      self->cork(false);
    self->writing_ = false;
    self->drained_signal_.cancel();
  }

  void cork(bool on) {
#ifdef TCP_CORK
    boost::system::error_code ignored;
    using Cork = asio::detail::socket_option::boolean<IPPROTO_TCP, TCP_CORK>;
    beast::get_lowest_layer(ws_).socket().set_option(Cork(on), ignored);
#else
    (void)on;
#endif
  }

  static asio::awaitable<void> watchdog(std::shared_ptr<Session> self) {
    while (!self->failure_) {
      self->idle_timer_.expires_at(self->last_activity_ + self->options_.idle_timeout);
      auto [ec] = co_await self->idle_timer_.async_wait(kTuple);
      (void)ec;
      if (self->failure_)
        break;
      if (Clock::now() - self->last_activity_ >= self->options_.idle_timeout) {
        self->fail("no traffic for " + std::to_string(self->options_.idle_timeout.count()) + " ms");
        break;
      }
    }
  }

  static asio::awaitable<void> pinger(std::shared_ptr<Session> self) {
    while (!self->failure_ && !self->closing_) {
      self->ping_timer_.expires_after(self->options_.ping_interval);
      auto [ec] = co_await self->ping_timer_.async_wait(kTuple);
      (void)ec;
      if (self->failure_ || self->closing_)
        break;
      self->enqueue(Outgoing::Kind::ping, {});
    }
  }

  std::string describe_read_error(const boost::system::error_code& ec) {
    if (failure_)
      return *failure_;
    // Our own close() ends a pending read one way or another (Beast cancels it, or the peer's
    // close reply completes it); either way the cause is the local close.
    if (closing_)
      return "connection closed";
    if (ec == websocket::error::closed) {
      const auto& reason = ws_.reason();
      std::string out =
          "closed by peer (" + std::to_string(reason.code) + " " + close_code_name(reason.code);
      if (!reason.reason.empty())
        out += ": " + std::string(reason.reason.data(), reason.reason.size());
      return out + ")";
    }
    if (ec == websocket::error::message_too_big) {
      return "message larger than " + std::to_string(options_.max_frame_bytes) +
             " bytes (max_frame_bytes)";
    }
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
      return "connection closed by peer without a close frame";
    if (ec.category() == websocket::make_error_code(websocket::error::closed).category())
      return "protocol error: " + to_lower(ec.message());
    if (ec.category() == asio::error::get_ssl_category())
      return "TLS error: " + describe_tls_error(ec, nullptr);
    return describe_network_error(ec);
  }

  std::string describe_write_error(const boost::system::error_code& ec) {
    if (ec == websocket::error::closed)
      return "connection closed";
    return "send failed: " + describe_network_error(ec);
  }

  asio::any_io_executor executor_;
  WebSocketOptions options_;
  std::shared_ptr<asio::ssl::context> tls_context_;  // outlives ws_: declared before it
  websocket::stream<Next> ws_;
  beast::flat_buffer buffer_;
  std::deque<std::shared_ptr<Outgoing>> queue_;
  bool writing_ = false;
  bool closing_ = false;
  std::optional<std::string> failure_;
  Clock::time_point last_activity_;
  asio::steady_timer idle_timer_;
  asio::steady_timer ping_timer_;
  // Never expires; cancelled to wake drained() when the queue empties.
  asio::steady_timer drained_signal_;
};

template <class Next>
class Connection final : public WebSocketConnection {
 public:
  explicit Connection(std::shared_ptr<Session<Next>> session) : session_(std::move(session)) {}
  ~Connection() override { session_->abort(); }

  asio::awaitable<Result<std::string>> read() override { return session_->read(); }
  asio::awaitable<Status> send(std::string text) override {
    return session_->send(std::move(text));
  }
  Status queue_send(std::string text) override { return session_->queue_send(std::move(text)); }
  asio::awaitable<void> drained() override { return session_->drained(); }
  asio::awaitable<void> close() override { return session_->close(); }
  void abort() override { session_->abort(); }

 private:
  std::shared_ptr<Session<Next>> session_;
};

template <class Next>
asio::awaitable<Status> handshake(Session<Next>& session, const ParsedUrl& url, bool secure,
                                  Clock::time_point deadline, std::chrono::milliseconds budget) {
  auto& ws = session.ws();
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::request_type& request) { request.set("User-Agent", "shipmate/0.1"); }));
  beast::get_lowest_layer(ws).expires_at(deadline);
  websocket::response_type response;
  auto [ec] = co_await ws.async_handshake(response, host_header(url.host, url.port, secure),
                                          url.target, kTuple);
  if (!ec)
    co_return Ok{};
  if (ec == beast::error::timeout)
    co_return make_error(timeout_cause(budget, "in the WebSocket handshake"));
  if (ec == websocket::error::upgrade_declined) {
    co_return make_error("handshake rejected: HTTP " + std::to_string(response.result_int()) + " " +
                         std::string(response.reason()));
  }
  co_return make_error("handshake failed: " + describe_network_error(ec));
}

}  // namespace

asio::awaitable<Result<std::unique_ptr<WebSocketConnection>>> connect_websocket(
    asio::any_io_executor executor, std::string url_text, WebSocketOptions options) {
  auto url = parse_url(url_text);
  if (!url || (url->scheme != "ws" && url->scheme != "wss"))
    co_return make_error("websocket " + url_text + ": invalid URL (want ws(s)://host/path)");
  bool secure = url->scheme == "wss";
  // The query often carries a ticket or token; errors name only the path.
  std::string what = "websocket " + host_header(url->host, url->port, secure) +
                     url->target.substr(0, url->target.find('?')) + ": ";
  auto budget = options.connect_timeout;
  auto deadline = Clock::now() + budget;

  if (!secure) {
    auto session = std::make_shared<Session<beast::tcp_stream>>(executor, options);
    auto connected = co_await connect_tcp(beast::get_lowest_layer(session->ws()), url->host,
                                          url->port, deadline, budget);
    if (!connected)
      co_return make_error(what + connected.error().message);
    auto shaken = co_await handshake(*session, *url, secure, deadline, budget);
    if (!shaken) {
      session->fail("handshake failed");
      co_return make_error(what + shaken.error().message);
    }
    session->start();
    co_return std::make_unique<Connection<beast::tcp_stream>>(std::move(session));
  }

  auto context = make_client_tls_context(options.ca_file, options.verify_peer);
  if (!context)
    co_return make_error(what + context.error().message);
  auto session = std::make_shared<Session<TlsStream>>(executor, options, **context);
  session->hold(*context);
  auto connected = co_await connect_tcp(beast::get_lowest_layer(session->ws()), url->host,
                                        url->port, deadline, budget);
  if (!connected)
    co_return make_error(what + connected.error().message);
  auto secured = co_await tls_handshake(session->ws().next_layer(), url->host, options.verify_peer,
                                        deadline, budget);
  if (!secured) {
    session->fail("TLS handshake failed");
    co_return make_error(what + secured.error().message);
  }
  auto shaken = co_await handshake(*session, *url, secure, deadline, budget);
  if (!shaken) {
    session->fail("handshake failed");
    co_return make_error(what + shaken.error().message);
  }
  session->start();
  co_return std::make_unique<Connection<TlsStream>>(std::move(session));
}

}  // namespace shipmate::integrations::net
