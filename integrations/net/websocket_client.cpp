#include "integrations/net/websocket_client.h"

#include <sys/random.h>
#include <algorithm>
#include <array>
#include <deque>
#include <optional>
#include <type_traits>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "common/strings.h"
#include "integrations/net/connect.h"
#include "integrations/net/http_client.h"
#include "integrations/net/proxy.h"
#include "integrations/net/websocket_codec.h"

namespace shipmate::integrations::net {

namespace {

namespace http = boost::beast::http;
using namespace detail;

// One socket read takes up to this much: a burst of envelopes comes off the socket at once.
constexpr std::size_t kReadChunk = 64 * 1024;
// Frames queued together leave in one write of at most about this size.
constexpr std::size_t kMaxWriteBatch = 256 * 1024;

// Masking keys (RFC 6455 5.3: unpredictable, from a strong source), fetched from the kernel 64
// at a time so a burst of acks costs one getrandom.
class MaskSource {
 public:
  WebSocketMask next() {
    if (used_ == pool_.size()) {
      fill(pool_.data(), pool_.size() * sizeof(WebSocketMask));
      used_ = 0;
    }
    return pool_[used_++];
  }

  static void fill(void* data, std::size_t size) {
    auto* bytes = static_cast<unsigned char*>(data);
    std::size_t done = 0;
    while (done < size) {
      const ssize_t got = getrandom(bytes + done, size - done, 0);
      if (got > 0)
        done += static_cast<std::size_t>(got);
      else if (errno != EINTR)
        throw std::runtime_error("getrandom failed");
    }
  }

 private:
  std::array<WebSocketMask, 64> pool_{};
  std::size_t used_ = 64;
};

struct Outgoing {
  Outgoing(WebSocketOpcode op, std::string text) : opcode(op), payload(std::move(text)) {}
  WebSocketOpcode opcode;
  std::string payload;
  // Set for a sender that waits (send(), close()); cancelled to wake it once the frame is out
  // (or failed). Queued acks have none: there is one per envelope, and nobody waits on them.
  std::unique_ptr<asio::steady_timer> done;
  bool finished = false;
  bool taken = false;  // the writer has it: its payload is no longer ours to change
  Status status = Ok{};
};

template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... Args>
  Session(asio::any_io_executor executor, WebSocketOptions options, Args&&... args)
      : executor_(executor),
        options_(std::move(options)),
        stream_(executor, std::forward<Args>(args)...),
        decoder_(options_.max_frame_bytes),
        idle_timer_(executor),
        ping_timer_(executor),
        drained_signal_(executor, Clock::time_point::max()),
        peer_close_signal_(executor, Clock::time_point::max()) {}

  Stream& stream() { return stream_; }
  beast::flat_buffer& input() { return input_; }
  void hold(std::shared_ptr<asio::ssl::context> context) { tls_context_ = std::move(context); }

  // Called once the opening handshake succeeded.
  void start() {
    last_activity_ = Clock::now();
    beast::get_lowest_layer(stream_).expires_never();
    auto self = this->shared_from_this();
    if (options_.idle_timeout.count() > 0)
      asio::co_spawn(executor_, watchdog(self), asio::detached);
    if (options_.ping_interval.count() > 0)
      asio::co_spawn(executor_, pinger(self), asio::detached);
  }

  // Returns the next text message. Messages already in the buffer come back without suspending,
  // so a caller drains a whole burst in one turn of the event loop.
  asio::awaitable<Result<std::string>> read() {
    auto self = this->shared_from_this();
    for (;;) {
      if (failure_)
        co_return make_error(*failure_);
      auto message = take_buffered();
      if (message)
        co_return std::move(*message);
      if (failure_)
        continue;
      // A frame larger than one chunk is read whole before it is decoded.
      const std::size_t frame = WebSocketDecoder::frame_size(buffered());
      const std::size_t wanted =
          std::max(kReadChunk, frame > input_.size() ? frame - input_.size() : 0);
      reading_ = true;
      auto [ec, n] = co_await stream_.async_read_some(input_.prepare(wanted), kTuple);
      reading_ = false;
      if (ec) {
        fail(describe_read_error(ec));
        continue;
      }
      input_.commit(n);
      last_activity_ = Clock::now();
    }
  }

  asio::awaitable<Status> send(std::string text) {
    auto self = this->shared_from_this();
    if (failure_)
      co_return make_error(*failure_);
    if (closing_)
      co_return make_error("connection is closing");
    auto item = enqueue(WebSocketOpcode::text, std::move(text), true);
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
    enqueue(WebSocketOpcode::text, std::move(text));
    return Ok{};
  }

  bool has_buffered() const { return input_.size() > 0; }

  void when_drained(std::function<void()> then) {
    if (!writing_) {
      then();
      return;
    }
    drained_callbacks_.push_back(std::move(then));
  }

  asio::awaitable<void> drained() {
    auto self = this->shared_from_this();
    while (writing_) {
      auto [ec] = co_await drained_signal_.async_wait(kTuple);
      (void)ec;
    }
  }

  // Sends a normal closure, waits (bounded) for the peer's close frame, then drops the socket.
  asio::awaitable<void> close() {
    auto self = this->shared_from_this();
    if (failure_ || closing_)
      co_return;
    closing_ = true;
    auto item = enqueue(WebSocketOpcode::close, close_frame_payload(1000, ""), true);
    if (!item->finished) {
      auto [ec] = co_await item->done->async_wait(kTuple);
      (void)ec;
    }
    if (!failure_ && !peer_closed_) {
      if (reading_) {
        // The pending read sees the peer's answer and wakes us.
        peer_close_signal_.expires_after(options_.close_wait);
        auto [ec] = co_await peer_close_signal_.async_wait(kTuple);
        (void)ec;
      } else {
        co_await await_peer_close();
      }
    }
    fail("connection closed");
  }

  void abort() {
    if (failure_)
      return;
    boost::system::error_code ignored;
    // Linger 0 makes close() send a reset instead of a FIN: the peer learns at once.
    beast::get_lowest_layer(stream_).socket().set_option(tcp::socket::linger(true, 0), ignored);
    fail("connection aborted");
  }

  // Marks the connection dead for good and drops the socket; pending operations then fail and
  // report `cause` rather than whatever the socket error was.
  void fail(std::string cause) {
    if (!failure_)
      failure_ = std::move(cause);
    idle_timer_.cancel();
    ping_timer_.cancel();
    peer_close_signal_.cancel();
    auto& lowest = beast::get_lowest_layer(stream_);
    if (lowest.socket().is_open())
      lowest.close();
  }

 private:
  std::string_view buffered() const {
    return {static_cast<const char*>(input_.data().data()), input_.size()};
  }

  // Decodes what the buffer holds: the next text message, or nothing when more bytes are needed
  // or the connection failed (failure_ set). Control frames are handled on the way.
  std::optional<std::string> take_buffered() {
    for (;;) {
      std::string_view view = buffered();
      const std::size_t before = view.size();
      auto step = decoder_.next(view);
      input_.consume(before - view.size());
      if (step.violation) {
        std::string cause = step.violation->code == 1009
                                ? "message larger than " +
                                      std::to_string(options_.max_frame_bytes) +
                                      " bytes (max_frame_bytes)"
                                : "protocol error: " + step.violation->reason;
        fail_after_close_frame(std::move(cause), step.violation->code);
        return std::nullopt;
      }
      if (!step.message)
        return std::nullopt;
      auto& message = *step.message;
      switch (message.opcode) {
        case WebSocketOpcode::text:
          return std::move(message.payload);
        case WebSocketOpcode::ping:
          if (closing_)
            break;
          // A pong still waiting in the queue answers the newest ping instead (RFC 6455 5.5.3
          // allows it), so a flood of pings cannot grow the queue.
          if (pending_pong_ && !pending_pong_->taken)
            pending_pong_->payload = std::move(message.payload);
          else
            pending_pong_ = enqueue(WebSocketOpcode::pong, std::move(message.payload));
          break;
        case WebSocketOpcode::close:
          on_peer_close(message);
          return std::nullopt;
        default:  // binary messages are skipped; a pong only proves the peer alive
          break;
      }
    }
  }

  void on_peer_close(const WebSocketMessage& message) {
    peer_closed_ = true;
    if (closing_) {
      // The answer to our own close: close() finishes the job.
      peer_close_signal_.cancel();
      return;
    }
    std::string cause = "closed by peer (" + std::to_string(message.close_code) + " " +
                        std::string(close_code_name(message.close_code));
    if (!message.payload.empty())
      cause += ": " + message.payload;
    cause += ")";
    // RFC 6455 5.5.1: answer with a close frame echoing the code.
    const std::uint16_t echo = message.close_code == 1005 ? 1000 : message.close_code;
    fail_after_close_frame(std::move(cause), echo);
  }

  // Fails the connection for reads and sends now, but lets a close frame with `code` go out
  // first; the socket is dropped once it is written (or at once if the writer cannot run).
  void fail_after_close_frame(std::string cause, std::uint16_t code) {
    if (failure_)
      return;
    failure_ = std::move(cause);
    idle_timer_.cancel();
    ping_timer_.cancel();
    final_close_ = true;
    enqueue(WebSocketOpcode::close, close_frame_payload(code, ""));
  }

  // Reads and discards frames until the peer's close frame, an error, or options_.close_wait.
  asio::awaitable<void> await_peer_close() {
    auto& lowest = beast::get_lowest_layer(stream_);
    lowest.expires_after(options_.close_wait);
    while (!failure_ && !peer_closed_) {
      while (take_buffered()) {
      }
      if (failure_ || peer_closed_)
        break;
      auto [ec, n] = co_await stream_.async_read_some(input_.prepare(kReadChunk), kTuple);
      if (ec)
        break;
      input_.commit(n);
    }
  }

  std::shared_ptr<Outgoing> enqueue(WebSocketOpcode opcode, std::string payload,
                                    bool awaited = false) {
    auto item = std::make_shared<Outgoing>(opcode, std::move(payload));
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
  // in the order they were queued. Everything queued when a write starts goes out in that one
  // write (a batch of acks is one segment, and wakes the peer once).
  static asio::awaitable<void> writer(std::shared_ptr<Session> self) {
    std::string out;
    std::vector<std::shared_ptr<Outgoing>> batch;
    while (!self->queue_.empty()) {
      out.clear();
      batch.clear();
      bool drop_after = false;
      while (!self->queue_.empty() && (out.empty() || out.size() < kMaxWriteBatch)) {
        std::shared_ptr<Outgoing> item = std::move(self->queue_.front());
        self->queue_.pop_front();
        item->taken = true;
        const bool final_close = self->final_close_ && item->opcode == WebSocketOpcode::close;
        if (self->failure_ && !final_close) {
          finish(*item, make_error(*self->failure_));
          continue;
        }
        append_client_frame(out, item->opcode, item->payload, self->masks_.next());
        batch.push_back(std::move(item));
        if (final_close) {
          drop_after = true;
          break;
        }
      }
      if (batch.empty())
        continue;
      auto& lowest = beast::get_lowest_layer(self->stream_);
      if (!lowest.socket().is_open()) {
        for (auto& item : batch)
          finish(*item, make_error(self->failure_ ? *self->failure_ : "connection closed"));
        continue;
      }
      if (drop_after)
        lowest.expires_after(self->options_.close_wait);
      auto [ec, n] = co_await asio::async_write(self->stream_, asio::buffer(out), kTuple);
      (void)n;
      if (ec && !self->failure_)
        self->fail(self->describe_write_error(ec));
      for (auto& item : batch)
        finish(*item, ec ? make_error(*self->failure_) : Status(Ok{}));
      if (drop_after) {
        self->final_close_ = false;
        self->fail(*self->failure_);
      }
    }
    self->writing_ = false;
    self->drained_signal_.cancel();
    std::vector<std::function<void()>> callbacks;
    callbacks.swap(self->drained_callbacks_);
    for (auto& callback : callbacks)
      callback();
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
      self->enqueue(WebSocketOpcode::ping, {});
    }
  }

  std::string describe_read_error(const boost::system::error_code& ec) {
    if (failure_)
      return *failure_;
    // Our own close() ends a pending read one way or another; the cause is the local close.
    if (closing_)
      return "connection closed";
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
      return "connection closed by peer without a close frame";
    if (ec.category() == asio::error::get_ssl_category())
      return "TLS error: " + describe_tls_error(ec, nullptr);
    return describe_network_error(ec);
  }

  std::string describe_write_error(const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor)
      return "connection closed";
    return "send failed: " + describe_network_error(ec);
  }

  asio::any_io_executor executor_;
  WebSocketOptions options_;
  std::shared_ptr<asio::ssl::context> tls_context_;  // outlives stream_: declared before it
  Stream stream_;
  beast::flat_buffer input_;
  WebSocketDecoder decoder_;
  MaskSource masks_;
  std::deque<std::shared_ptr<Outgoing>> queue_;
  std::shared_ptr<Outgoing> pending_pong_;  // the last pong queued, while it may still be changed
  bool writing_ = false;
  bool reading_ = false;
  bool closing_ = false;
  bool peer_closed_ = false;
  // A close frame is queued behind which the socket is dropped (a protocol failure or the answer
  // to the peer's close); the writer still sends it although the connection has failed.
  bool final_close_ = false;
  std::optional<std::string> failure_;
  Clock::time_point last_activity_;
  asio::steady_timer idle_timer_;
  asio::steady_timer ping_timer_;
  // Never expire on their own; cancelled to wake drained() and close().
  asio::steady_timer drained_signal_;
  std::vector<std::function<void()>> drained_callbacks_;  // when_drained(), called by the writer
  asio::steady_timer peer_close_signal_;
};

template <class Stream>
class Connection final : public WebSocketConnection {
 public:
  explicit Connection(std::shared_ptr<Session<Stream>> session) : session_(std::move(session)) {}
  ~Connection() override { session_->abort(); }

  asio::awaitable<Result<std::string>> read() override { return session_->read(); }
  bool has_buffered() const override { return session_->has_buffered(); }
  asio::awaitable<Status> send(std::string text) override {
    return session_->send(std::move(text));
  }
  Status queue_send(std::string text) override { return session_->queue_send(std::move(text)); }
  asio::awaitable<void> drained() override { return session_->drained(); }
  void when_drained(std::function<void()> then) override {
    session_->when_drained(std::move(then));
  }
  asio::awaitable<void> close() override { return session_->close(); }
  void abort() override { session_->abort(); }

 private:
  std::shared_ptr<Session<Stream>> session_;
};

// The HTTP upgrade (RFC 6455 4.1) with Beast's HTTP parser. Bytes the server sends after its
// response (often the first message) stay in the session's input buffer.
template <class Stream>
asio::awaitable<Status> handshake(Session<Stream>& session, const ParsedUrl& url, bool secure,
                                  Clock::time_point deadline, std::chrono::milliseconds budget) {
  std::string key(16, '\0');
  MaskSource::fill(key.data(), key.size());
  key = base64_encode(key);
  http::request<http::empty_body> request{http::verb::get, url.target, 11};
  request.set(http::field::host, host_header(url.host, url.port, secure));
  request.set(http::field::upgrade, "websocket");
  request.set(http::field::connection, "Upgrade");
  request.set(http::field::sec_websocket_key, key);
  request.set(http::field::sec_websocket_version, "13");
  request.set(http::field::user_agent, kDefaultUserAgent);

  auto& stream = session.stream();
  beast::get_lowest_layer(stream).expires_at(deadline);
  auto [write_ec, written] = co_await http::async_write(stream, request, kTuple);
  (void)written;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024);
  boost::system::error_code ec = write_ec;
  if (!ec) {
    auto [read_ec, read] =
        co_await http::async_read_header(stream, session.input(), parser, kTuple);
    (void)read;
    ec = read_ec;
  }
  if (ec == beast::error::timeout)
    co_return make_error(timeout_cause(budget, "in the WebSocket handshake"),
                         ErrorKind::unavailable);
  if (ec)
    co_return make_error("handshake failed: " + describe_network_error(ec),
                         exchange_error_kind(ec));
  const auto& response = parser.get();
  if (response.result() != http::status::switching_protocols) {
    co_return make_error("handshake rejected: HTTP " + std::to_string(response.result_int()) + " " +
                             std::string(response.reason()),
                         http_status_kind(static_cast<int>(response.result_int())));
  }
  if (!beast::iequals(response[http::field::upgrade], "websocket") ||
      !http::token_list{response[http::field::connection]}.exists("upgrade"))
    co_return make_error("handshake failed: the server did not upgrade to WebSocket");
  if (response[http::field::sec_websocket_accept] != websocket_accept_value(key))
    co_return make_error("handshake failed: wrong Sec-WebSocket-Accept from the server");
  if (response.count(http::field::sec_websocket_extensions) > 0 ||
      response.count(http::field::sec_websocket_protocol) > 0)
    co_return make_error("handshake failed: the server chose an extension or subprotocol");
  co_return Ok{};
}

// TCP (to the proxy when there is one, then a CONNECT tunnel through it), TLS for wss, and the
// upgrade, all within the one connect deadline.
template <class Stream>
asio::awaitable<Status> open_session(Session<Stream>& session, const ParsedUrl& url,
                                     const std::optional<Proxy>& proxy,
                                     const WebSocketOptions& options, Clock::time_point deadline,
                                     std::chrono::milliseconds budget) {
  auto& lowest = beast::get_lowest_layer(session.stream());
  const std::string& host = proxy ? proxy->host : url.host;
  const std::string& port = proxy ? proxy->port : url.port;
  auto connected = co_await connect_tcp(lowest, host, port, deadline, budget);
  if (!connected) {
    if (proxy)
      co_return prefix_error("proxy " + host + ":" + port + ": ", connected.error());
    co_return connected;
  }
  if (proxy) {
    auto tunneled = co_await open_connect_tunnel(lowest, session.input(), url.host, url.port,
                                                 *proxy, kDefaultUserAgent, deadline, budget);
    if (!tunneled)
      co_return tunneled;
  }
  const bool secure = std::is_same_v<Stream, TlsStream>;
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    auto secured =
        co_await tls_handshake(session.stream(), url.host, options.verify_peer, deadline, budget);
    if (!secured)
      co_return secured;
  }
  co_return co_await handshake(session, url, secure, deadline, budget);
}

}  // namespace

asio::awaitable<Result<std::unique_ptr<WebSocketConnection>>> connect_websocket(
    asio::any_io_executor executor, std::string url_text, WebSocketOptions options) {
  auto url = parse_url(url_text);
  if (!url || (url->scheme != "ws" && url->scheme != "wss"))
    co_return make_error("websocket " + url_text + ": invalid URL (want ws(s)://host/path)",
                         ErrorKind::invalid);
  bool secure = url->scheme == "wss";
  // The query often carries a ticket or token; errors name only the path.
  std::string what = "websocket " + host_header(url->host, url->port, secure) +
                     url->target.substr(0, url->target.find('?')) + ": ";
  auto proxy = proxy_for(options.proxy, secure, url->host,
                         parse_no_proxy(env_first("NO_PROXY", "no_proxy")));
  if (!proxy)
    co_return prefix_error(what, proxy.error());
  const auto budget = options.connect_timeout;
  const auto deadline = Clock::now() + budget;

  if (!secure) {
    auto session = std::make_shared<Session<beast::tcp_stream>>(executor, options);
    auto opened = co_await open_session(*session, *url, *proxy, options, deadline, budget);
    if (!opened) {
      session->fail("could not connect");
      co_return prefix_error(what, opened.error());
    }
    session->start();
    co_return std::make_unique<Connection<beast::tcp_stream>>(std::move(session));
  }
  auto context = make_client_tls_context(options.ca_file, options.verify_peer);
  if (!context)
    co_return prefix_error(what, context.error());
  auto session = std::make_shared<Session<TlsStream>>(executor, options, **context);
  session->hold(*context);
  auto opened = co_await open_session(*session, *url, *proxy, options, deadline, budget);
  if (!opened) {
    session->fail("could not connect");
    co_return prefix_error(what, opened.error());
  }
  session->start();
  co_return std::make_unique<Connection<TlsStream>>(std::move(session));
}

}  // namespace shipmate::integrations::net
