#include "integrations/net/websocket_client.h"

#include <functional>
#include <memory>
#include <optional>

#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "integrations/net/websocket_codec.h"
#include "tests/support/async_test.h"
#include "tests/support/test_proxy.h"
#include "tests/support/test_support.h"
#include "tests/support/test_tls.h"

namespace shipmate::integrations::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// The server's end of one WebSocket connection, as test scripts drive it.
class Peer {
 public:
  virtual ~Peer() = default;
  // The next message (text or binary); nullopt once the connection is gone (see last_error).
  virtual asio::awaitable<std::optional<std::string>> read() = 0;
  virtual asio::awaitable<void> text(std::string message) = 0;
  virtual asio::awaitable<void> binary(std::string message) = 0;
  virtual asio::awaitable<void> ping() = 0;
  virtual asio::awaitable<void> close(websocket::close_reason reason) = 0;
  // Splits every later outgoing message into frames of at most `bytes` payload.
  virtual void fragment_writes(std::size_t bytes) = 0;

  // Called for every ping/pong the server receives (while a read is pending).
  std::function<void(websocket::frame_type)> on_control;
  boost::system::error_code last_error;
  std::uint16_t close_code = 0;  // the client's close code, when it sent one
  std::vector<std::string> received;
};

template <class Stream>
class PeerImpl final : public Peer, public std::enable_shared_from_this<PeerImpl<Stream>> {
 public:
  explicit PeerImpl(Stream stream) : ws_(std::move(stream)) {}
  websocket::stream<Stream>& ws() { return ws_; }

  void install() {
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (on_control)
        on_control(kind);
    });
  }

  asio::awaitable<std::optional<std::string>> read() override {
    beast::flat_buffer buffer;
    auto [ec, n] = co_await ws_.async_read(buffer, kTuple);
    if (ec) {
      last_error = ec;
      // The close frame may have arrived even when the teardown after it failed.
      close_code = ws_.reason().code;
      co_return std::nullopt;
    }
    std::string message = beast::buffers_to_string(buffer.data());
    received.push_back(message);
    co_return message;
  }
  asio::awaitable<void> text(std::string message) override {
    ws_.text(true);
    co_await ws_.async_write(asio::buffer(message), kTuple);
  }
  asio::awaitable<void> binary(std::string message) override {
    ws_.binary(true);
    co_await ws_.async_write(asio::buffer(message), kTuple);
  }
  asio::awaitable<void> ping() override { co_await ws_.async_ping({}, kTuple); }
  asio::awaitable<void> close(websocket::close_reason reason) override {
    co_await ws_.async_close(reason, kTuple);
  }
  void fragment_writes(std::size_t bytes) override {
    ws_.auto_fragment(true);
    ws_.write_buffer_bytes(bytes);
  }

 private:
  websocket::stream<Stream> ws_;
};

using Script = std::function<asio::awaitable<void>(std::shared_ptr<Peer>)>;

// A WebSocket server on 127.0.0.1 (plain or TLS) running `script` for each connection.
class TestWsServer {
 public:
  TestWsServer(asio::io_context& ioc, Script script, bool tls = false)
      : state_(std::make_shared<State>(ioc, std::move(script))) {
    if (tls) {
      state_->tls = testing::test_server_tls_context();
    }
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    state_->acceptor.open(endpoint.protocol());
    state_->acceptor.bind(endpoint);
    state_->acceptor.listen();
    asio::co_spawn(ioc, accept_loop(state_), asio::detached);
  }
  ~TestWsServer() {
    boost::system::error_code ignored;
    state_->acceptor.close(ignored);
  }

  std::string url(const std::string& target = "/") const {
    return std::string(state_->tls ? "wss" : "ws") +
           "://localhost:" + std::to_string(state_->acceptor.local_endpoint().port()) + target;
  }
  int port() const { return state_->acceptor.local_endpoint().port(); }
  // Rejects upgrades with this HTTP status instead of accepting them.
  void reject_with(int status) { state_->reject_status = status; }
  const std::vector<std::shared_ptr<Peer>>& peers() const { return state_->peers; }
  const std::vector<std::pair<std::string, std::string>>& handshakes() const {
    return state_->handshakes;  // (target, Host)
  }

 private:
  struct State {
    State(asio::io_context& ioc, Script s) : acceptor(ioc), script(std::move(s)) {}
    tcp::acceptor acceptor;
    Script script;
    std::shared_ptr<ssl::context> tls;
    int reject_status = 0;
    std::vector<std::shared_ptr<Peer>> peers;
    std::vector<std::pair<std::string, std::string>> handshakes;
  };

  static asio::awaitable<void> accept_loop(std::shared_ptr<State> state) {
    for (;;) {
      auto [ec, socket] = co_await state->acceptor.async_accept(kTuple);
      if (ec)
        co_return;
      asio::co_spawn(state->acceptor.get_executor(), session(state, std::move(socket)),
                     asio::detached);
    }
  }

  static asio::awaitable<void> session(std::shared_ptr<State> state, tcp::socket socket) {
    if (!state->tls) {
      auto peer = std::make_shared<PeerImpl<tcp::socket>>(std::move(socket));
      co_await serve(state, peer);
      co_return;
    }
    ssl::stream<tcp::socket> stream(std::move(socket), *state->tls);
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, kTuple);
    if (ec)
      co_return;
    auto peer = std::make_shared<PeerImpl<ssl::stream<tcp::socket>>>(std::move(stream));
    co_await serve(state, peer);
  }

  template <class Stream>
  static asio::awaitable<void> serve(std::shared_ptr<State> state,
                                     std::shared_ptr<PeerImpl<Stream>> peer) {
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    auto [read_ec, n] = co_await http::async_read(peer->ws().next_layer(), buffer, request, kTuple);
    if (read_ec)
      co_return;
    state->handshakes.emplace_back(std::string(request.target()),
                                   std::string(request[http::field::host]));
    if (state->reject_status != 0) {
      http::response<http::string_body> response{static_cast<http::status>(state->reject_status),
                                                 11};
      response.body() = "no";
      response.prepare_payload();

      co_await http::async_write(peer->ws().next_layer(), response, kTuple);
      co_return;
    }
    auto [accept_ec] = co_await peer->ws().async_accept(request, kTuple);
    if (accept_ec)
      co_return;
    peer->install();
    state->peers.push_back(peer);
    co_await state->script(peer);
  }

  std::shared_ptr<State> state_;
};

asio::awaitable<void> echo(std::shared_ptr<Peer> peer) {
  for (;;) {
    auto message = co_await peer->read();
    if (!message)
      co_return;
    co_await peer->text(*message);
  }
}

asio::awaitable<void> wait_for(std::chrono::milliseconds duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(kTuple);
}

// Keeps the connection open without reading: no pongs, no data.
asio::awaitable<void> silent(std::shared_ptr<Peer> peer) {
  co_await wait_for(1h);
  (void)peer;
}

WebSocketOptions test_options() {
  WebSocketOptions options;
  options.proxy = "";             // a proxy configured on the build machine must not interfere
  options.connect_timeout = 20s;  // a guard for a loaded machine; the time-out test sets its own
  options.ca_file = testing::shared_test_certificates().ca_path;
  return options;
}

using ConnectionPtr = std::unique_ptr<WebSocketConnection>;

asio::awaitable<ConnectionPtr> connect_or_fail(asio::io_context& ioc, std::string url,
                                               WebSocketOptions options = test_options()) {
  auto connected = co_await connect_websocket(ioc.get_executor(), std::move(url), options);
  if (!connected) {
    ADD_FAILURE() << connected.error().message;
    co_return nullptr;
  }
  co_return std::move(*connected);
}

std::string message_of(const Result<std::string>& result) {
  return result ? "(got text: " + *result + ")" : result.error().message;
}

TEST(WebSocketClientTest, EchoOverPlainWebSocket) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestWsServer server(ioc, echo);
    auto ws = co_await connect_or_fail(ioc, server.url("/socket?ticket=abc&x=1"));
    if (!ws)
      co_return;
    auto sent = co_await ws->send("hello");
    EXPECT_TRUE(sent.ok());
    auto reply = co_await ws->read();
    EXPECT_EQ(message_of(reply), "(got text: hello)");
    EXPECT_EQ(server.handshakes().size(), 1u);
    if (server.handshakes().size() == 1) {
      EXPECT_EQ(server.handshakes()[0].first, "/socket?ticket=abc&x=1");
      EXPECT_EQ(server.handshakes()[0].second, "localhost:" + std::to_string(server.port()));
    }
    co_await ws->close();
  });
}

TEST(WebSocketClientTest, EchoOverTls) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestWsServer server(ioc, echo, /*tls=*/true);
    auto ws = co_await connect_or_fail(ioc, server.url("/link/?ticket=t"));
    if (!ws)
      co_return;
    auto sent = co_await ws->send("over tls");
    EXPECT_TRUE(sent.ok());
    auto reply = co_await ws->read();
    EXPECT_EQ(message_of(reply), "(got text: over tls)");
    co_await ws->close();
  });
}

TEST(WebSocketClientTest, TlsWithoutCaFailsToConnect) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestWsServer server(ioc, echo, /*tls=*/true);
    auto options = test_options();
    options.ca_file.clear();
    auto connected =
        co_await connect_websocket(ioc.get_executor(), server.url("/s?t=secret"), options);
    EXPECT_FALSE(connected.ok());
    if (!connected) {
      EXPECT_EQ(
          connected.error().message.rfind("websocket localhost:" + std::to_string(server.port()) +
                                              "/s: TLS handshake failed: certificate "
                                              "verify failed",
                                          0),
          0u)
          << connected.error().message;
    }
  });
}

TEST(WebSocketClientTest, ConnectionRefusedAndRejectedUpgradeAreNamed) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    int port = 0;
    {
      tcp::acceptor closed(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
      port = closed.local_endpoint().port();
    }
    auto refused = co_await connect_websocket(
        ioc.get_executor(), "ws://127.0.0.1:" + std::to_string(port) + "/", test_options());
    EXPECT_FALSE(refused.ok());
    if (!refused) {
      EXPECT_EQ(refused.error().message,
                "websocket 127.0.0.1:" + std::to_string(port) + "/: connection refused");
    }

    TestWsServer server(ioc, echo);
    server.reject_with(403);
    auto rejected = co_await connect_websocket(ioc.get_executor(), server.url("/"), test_options());
    EXPECT_FALSE(rejected.ok());
    if (!rejected) {
      EXPECT_NE(rejected.error().message.find("handshake rejected: HTTP 403 Forbidden"),
                std::string::npos)
          << rejected.error().message;
    }
  });
}

TEST(WebSocketClientTest, ConcurrentSendsArriveInCallOrder) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestWsServer server(ioc, echo);
    auto ws = co_await connect_or_fail(ioc, server.url());
    if (!ws)
      co_return;
    constexpr int kCount = 50;
    int completed = 0;
    asio::steady_timer all_sent(ioc, std::chrono::steady_clock::time_point::max());
    for (int i = 0; i < kCount; ++i) {
      // Large enough that several writes cannot all complete synchronously.
      std::string payload = std::to_string(i) + ":" + std::string(20000, 'p');
      asio::co_spawn(
          ioc,
          [](WebSocketConnection* c, std::string p) -> asio::awaitable<bool> {
            auto status = co_await c->send(std::move(p));
            co_return status.ok();
          }(ws.get(), std::move(payload)),
          [&completed, &all_sent](std::exception_ptr, bool ok) {
            EXPECT_TRUE(ok);
            if (++completed == kCount)
              all_sent.cancel();
          });
    }
    for (int i = 0; i < kCount; ++i) {
      auto reply = co_await ws->read();
      EXPECT_TRUE(reply.ok());
      if (!reply)
        co_return;
      EXPECT_EQ(reply->substr(0, reply->find(':')), std::to_string(i));
    }
    if (completed < kCount) {
      co_await all_sent.async_wait(kTuple);
    }
    EXPECT_EQ(completed, kCount);
    co_await ws->close();
  });
}

TEST(WebSocketClientTest, QueuedSendsGoOutInOrderWithoutWaiting) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestWsServer server(ioc, echo);
    auto ws = co_await connect_or_fail(ioc, server.url());
    if (!ws)
      co_return;
    constexpr int kCount = 50;
    for (int i = 0; i < kCount; ++i) {
      // Returns before the frame is written: all 50 are queued in this loop, with no suspension.
      EXPECT_TRUE(ws->queue_send(std::to_string(i) + ":" + std::string(20000, 'q')).ok());
    }
    for (int i = 0; i < kCount; ++i) {
      auto reply = co_await ws->read();
      EXPECT_TRUE(reply.ok());
      if (!reply)
        co_return;
      EXPECT_EQ(reply->substr(0, reply->find(':')), std::to_string(i));
    }
    co_await ws->close();
    auto refused = ws->queue_send("after close");
    EXPECT_FALSE(refused.ok());
  });
}

// Sends `message` from the server when the first control frame of `kind` arrives.
void report_first(const std::shared_ptr<Peer>& peer, asio::any_io_executor executor,
                  websocket::frame_type kind, std::string message) {
  Peer* raw = peer.get();  // the server keeps its peers alive for the whole test
  auto reported = std::make_shared<bool>(false);
  peer->on_control = [raw, executor, kind, message, reported](websocket::frame_type seen) {
    if (seen != kind || *reported)
      return;
    *reported = true;
    asio::co_spawn(executor, raw->text(message), asio::detached);
  };
}

asio::awaitable<void> drain(std::shared_ptr<Peer> peer) {
  for (;;) {
    auto message = co_await peer->read();
    if (!message)
      co_return;
  }
}

// Polls `condition` (state the other side updates) until it holds or `limit` passes.
asio::awaitable<bool> eventually(std::function<bool()> condition,
                                 std::chrono::milliseconds limit = 20s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline)
      co_return false;
    co_await wait_for(5ms);
  }
  co_return true;
}

TEST(WebSocketClientTest, AnswersServerPing) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestWsServer server(ioc, [](std::shared_ptr<Peer> peer) -> asio::awaitable<void> {
      auto executor = co_await asio::this_coro::executor;
      report_first(peer, executor, websocket::frame_type::pong, "got pong");
      co_await peer->ping();
      co_await drain(peer);
    });
    auto ws = co_await connect_or_fail(ioc, server.url());
    if (!ws)
      co_return;
    auto reply = co_await ws->read();
    EXPECT_EQ(message_of(reply), "(got text: got pong)");
  });
}

TEST(WebSocketClientTest, SendsItsOwnPings) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestWsServer server(ioc, [](std::shared_ptr<Peer> peer) -> asio::awaitable<void> {
      auto executor = co_await asio::this_coro::executor;
      report_first(peer, executor, websocket::frame_type::ping, "got ping");
      co_await drain(peer);
    });
    auto options = test_options();
    options.ping_interval = 50ms;
    auto ws = co_await connect_or_fail(ioc, server.url(), options);
    if (!ws)
      co_return;
    auto reply = co_await ws->read();
    EXPECT_EQ(message_of(reply), "(got text: got ping)");
  });
}

TEST(WebSocketClientTest, IdleWatchdogFailsASilentConnection) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestWsServer server(ioc, silent);
    auto options = test_options();
    options.ping_interval = 100ms;
    options.idle_timeout = 300ms;
    auto ws = co_await connect_or_fail(ioc, server.url(), options);
    if (!ws)
      co_return;
    auto started = std::chrono::steady_clock::now();
    auto reply = co_await ws->read();
    auto elapsed = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(message_of(reply), "no traffic for 300 ms");
    EXPECT_GE(elapsed, 250ms);
    // Generous on purpose (a loaded 2-core machine): it only catches a watchdog that never fires
    // or fires on some much later timer; the message above names the 300 ms that did.
    EXPECT_LT(elapsed, 10s);
    auto later = co_await ws->send("anything");
    EXPECT_FALSE(later.ok());
  });
}

TEST(WebSocketClientTest, PongsKeepAQuietConnectionAlive) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    // Reads (so it answers pings) but sends nothing for well over idle_timeout. Client and server
    // share this thread, so a stall of the whole process delays pings and pongs alike: the idle
    // limit leaves 900 ms for one (a loaded machine), the silence still spans two and a half.
    TestWsServer server(ioc, [](std::shared_ptr<Peer> peer) -> asio::awaitable<void> {
      asio::co_spawn(co_await asio::this_coro::executor, drain(peer), asio::detached);
      co_await wait_for(2500ms);
      co_await peer->text("still here");
    });
    auto options = test_options();
    options.ping_interval = 100ms;
    options.idle_timeout = 1000ms;
    auto ws = co_await connect_or_fail(ioc, server.url(), options);
    if (!ws)
      co_return;
    auto reply = co_await ws->read();
    EXPECT_EQ(message_of(reply), "(got text: still here)");
  });
}

TEST(WebSocketClientTest, PeerCloseIsReportedWithItsCode) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestWsServer server(ioc, [](std::shared_ptr<Peer> peer) -> asio::awaitable<void> {
      co_await peer->close(websocket::close_reason(websocket::close_code::going_away, "bye"));
    });
    auto ws = co_await connect_or_fail(ioc, server.url());
    if (!ws)
      co_return;
    auto reply = co_await ws->read();
    EXPECT_EQ(message_of(reply), "closed by peer (1001 going away: bye)");
    auto again = co_await ws->read();
    EXPECT_EQ(message_of(again), "closed by peer (1001 going away: bye)");
    auto sent = co_await ws->send("late");
    EXPECT_FALSE(sent.ok());
  });
}

TEST(WebSocketClientTest, AbortDropsTheConnectionWithoutCloseHandshake) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestWsServer server(ioc, drain);
    auto ws = co_await connect_or_fail(ioc, server.url());
    if (!ws)
      co_return;
    std::string outcome;
    asio::steady_timer read_done(ioc, std::chrono::steady_clock::time_point::max());
    asio::co_spawn(
        ioc,
        [](WebSocketConnection* c) -> asio::awaitable<std::string> {
          auto result = co_await c->read();
          co_return message_of(result);
        }(ws.get()),
        [&outcome, &read_done](std::exception_ptr, std::string text) {
          outcome = std::move(text);
          read_done.cancel();
        });
    // Let the read start before aborting under it.
    co_await wait_for(10ms);
    ws->abort();
    if (outcome.empty()) {
      co_await read_done.async_wait(kTuple);
    }
    EXPECT_EQ(outcome, "connection aborted");
    bool server_saw_drop = co_await eventually(
        [&server] { return !server.peers().empty() && server.peers()[0]->last_error; });
    EXPECT_TRUE(server_saw_drop);
    if (server_saw_drop) {
      EXPECT_NE(server.peers()[0]->last_error, websocket::error::closed);
    }
    ws->abort();  // harmless the second time
  });
}

TEST(WebSocketClientTest, CloseSendsNormalClosureAndIsIdempotent) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestWsServer server(ioc, drain);
    auto ws = co_await connect_or_fail(ioc, server.url());
    if (!ws)
      co_return;
    co_await ws->close();
    co_await ws->close();
    auto reply = co_await ws->read();
    EXPECT_EQ(message_of(reply), "connection closed");
    bool closed = co_await eventually(
        [&server] { return !server.peers().empty() && server.peers()[0]->close_code != 0; });
    EXPECT_TRUE(closed);
    if (closed) {
      EXPECT_EQ(server.peers()[0]->close_code, 1000);
    }
  });
}

TEST(WebSocketClientTest, CloseWhileAReadIsPending) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestWsServer server(ioc, drain);
    // A close that waited out its limit instead of waking on the peer's answer never finishes
    // within run_async_test's 30 s: no bound on elapsed time that a loaded machine could break.
    auto options = test_options();
    options.close_wait = std::chrono::hours(1);
    auto ws = co_await connect_or_fail(ioc, server.url(), options);
    if (!ws)
      co_return;
    std::string outcome;
    asio::steady_timer read_done(ioc, std::chrono::steady_clock::time_point::max());
    asio::co_spawn(
        ioc,
        [](WebSocketConnection* c) -> asio::awaitable<std::string> {
          auto result = co_await c->read();
          co_return message_of(result);
        }(ws.get()),
        [&outcome, &read_done](std::exception_ptr, std::string text) {
          outcome = std::move(text);
          read_done.cancel();
        });
    co_await wait_for(10ms);
    co_await ws->close();
    if (outcome.empty()) {
      co_await read_done.async_wait(kTuple);
    }
    EXPECT_EQ(outcome, "connection closed");
  });
}

// The other side of the bound: a peer that never answers the close frame holds close() only for
// `close_wait` (the test waits for the close itself, never for a fixed time).
TEST(WebSocketClientTest, CloseGivesUpOnAPeerThatNeverAnswers) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestWsServer server(ioc, silent);
    auto options = test_options();
    options.close_wait = 50ms;
    auto ws = co_await connect_or_fail(ioc, server.url(), options);
    if (!ws)
      co_return;
    co_await ws->close();
    auto reply = co_await ws->read();
    EXPECT_EQ(message_of(reply), "connection closed");
  });
}

TEST(WebSocketClientTest, ConnectTimeoutCoversTheHandshake) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    // Accepts TCP connections and never says a word.
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    tcp::socket held(ioc);
    acceptor.async_accept(held, [](boost::system::error_code) {});
    auto options = test_options();
    options.connect_timeout = 200ms;
    auto url = "ws://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/";
    auto connected = co_await connect_websocket(ioc.get_executor(), url, options);
    EXPECT_FALSE(connected.ok());
    if (!connected) {
      EXPECT_EQ(connected.error().message,
                "websocket 127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) +
                    "/: timed out after 200 ms while in the WebSocket handshake");
    }
  });
}

TEST(WebSocketClientTest, OversizedMessageFailsTheConnection) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestWsServer server(ioc, [](std::shared_ptr<Peer> peer) -> asio::awaitable<void> {
      co_await peer->text(std::string(2000, 'x'));
      co_await drain(peer);
    });
    auto options = test_options();
    options.max_frame_bytes = 1024;
    auto ws = co_await connect_or_fail(ioc, server.url(), options);
    if (!ws)
      co_return;
    auto reply = co_await ws->read();
    EXPECT_EQ(message_of(reply), "message larger than 1024 bytes (max_frame_bytes)");
    bool told = co_await eventually(
        [&server] { return !server.peers().empty() && server.peers()[0]->close_code != 0; });
    EXPECT_TRUE(told) << (server.peers().empty() ? "no peer"
                                                 : server.peers()[0]->last_error.message());
    if (told) {
      EXPECT_EQ(server.peers()[0]->close_code, 1009);
    }
  });
}

TEST(WebSocketClientTest, BinaryFramesAreSkipped) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestWsServer server(ioc, [](std::shared_ptr<Peer> peer) -> asio::awaitable<void> {
      co_await peer->binary("\x01\x02binary");
      co_await peer->text("after binary");
      co_await drain(peer);
    });
    auto ws = co_await connect_or_fail(ioc, server.url());
    if (!ws)
      co_return;
    auto reply = co_await ws->read();
    EXPECT_EQ(message_of(reply), "(got text: after binary)");
  });
}

TEST(WebSocketClientTest, FragmentedMessagesArriveWhole) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    const std::string big(10000, 'f');
    TestWsServer server(ioc, [big](std::shared_ptr<Peer> peer) -> asio::awaitable<void> {
      peer->fragment_writes(64);
      co_await peer->text(big);
      co_await peer->text("small after big");
      co_await drain(peer);
    });
    auto ws = co_await connect_or_fail(ioc, server.url());
    if (!ws)
      co_return;
    auto first = co_await ws->read();
    EXPECT_EQ(first ? first->size() : 0, big.size());
    EXPECT_TRUE(first && *first == big);
    auto second = co_await ws->read();
    EXPECT_EQ(message_of(second), "(got text: small after big)");
  });
}

TEST(WebSocketClientTest, BurstOfMessagesIsReadWithoutLosingAny) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    constexpr int kCount = 500;
    TestWsServer server(ioc, [](std::shared_ptr<Peer> peer) -> asio::awaitable<void> {
      for (int i = 0; i < kCount; ++i)
        co_await peer->text(std::to_string(i) + ":" +
                            std::string(static_cast<std::size_t>(i * 37 % 3000), 'b'));
      co_await drain(peer);
    });
    auto ws = co_await connect_or_fail(ioc, server.url());
    if (!ws)
      co_return;
    for (int i = 0; i < kCount; ++i) {
      auto message = co_await ws->read();
      EXPECT_TRUE(message.ok()) << message.error().message;
      if (!message)
        co_return;
      EXPECT_EQ(message->substr(0, message->find(':')), std::to_string(i));
      EXPECT_EQ(message->size(),
                std::to_string(i).size() + 1 + static_cast<std::size_t>(i * 37 % 3000));
    }
  });
}

// A server written by hand, for what Beast's server never does: it answers the upgrade with
// `respond(key)` (and whatever bytes follow in the same write), then reads until the client goes.
class RawServer {
 public:
  RawServer(asio::io_context& ioc, std::function<std::string(const std::string& key)> respond)
      : acceptor_(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    asio::co_spawn(ioc, serve(std::move(respond)), asio::detached);
  }
  std::string url() const {
    return "ws://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/";
  }
  // Everything the client sent after its upgrade request.
  const std::string& received() const { return *received_; }

 private:
  asio::awaitable<void> serve(std::function<std::string(const std::string&)> respond) {
    auto received = received_;
    auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
    if (ec)
      co_return;
    std::string request;
    char chunk[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      auto [read_ec, n] = co_await socket.async_read_some(asio::buffer(chunk), kTuple);
      if (read_ec)
        co_return;
      request.append(chunk, n);
    }
    const std::string header = "Sec-WebSocket-Key: ";
    const auto at = request.find(header);
    const std::string key =
        at == std::string::npos
            ? ""
            : request.substr(at + header.size(), request.find("\r\n", at) - at - header.size());
    received->assign(request.substr(request.find("\r\n\r\n") + 4));
    const std::string response = respond(key);
    co_await asio::async_write(socket, asio::buffer(response), kTuple);
    for (;;) {
      auto [read_ec, n] = co_await socket.async_read_some(asio::buffer(chunk), kTuple);
      if (read_ec)
        co_return;
      received->append(chunk, n);
    }
  }

  tcp::acceptor acceptor_;
  std::shared_ptr<std::string> received_ = std::make_shared<std::string>();
};

std::string switching_protocols(const std::string& accept, const std::string& extra_headers = "") {
  return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: " +
         accept + "\r\n" + extra_headers + "\r\n";
}

std::string unmasked_text_frame(std::string_view text) {
  std::string frame{"\x81"};
  frame.push_back(static_cast<char>(text.size()));
  frame.append(text);
  return frame;
}

TEST(WebSocketClientTest, MessagesSentWithTheUpgradeResponseAreKept) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    // Socket Mode's hello can share a segment with the 101 response.
    RawServer server(ioc, [](const std::string& key) {
      return switching_protocols(websocket_accept_value(key)) + unmasked_text_frame("hello") +
             unmasked_text_frame("second");
    });
    auto ws = co_await connect_or_fail(ioc, server.url());
    if (!ws)
      co_return;
    EXPECT_EQ(message_of(co_await ws->read()), "(got text: hello)");
    EXPECT_EQ(message_of(co_await ws->read()), "(got text: second)");
  });
}

TEST(WebSocketClientTest, UpgradeResponsesThatBreakTheProtocolAreRefused) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    RawServer wrong_key(ioc, [](const std::string&) {
      return switching_protocols(websocket_accept_value("some other key"));
    });
    auto refused = co_await connect_websocket(ioc.get_executor(), wrong_key.url(), test_options());
    EXPECT_FALSE(refused.ok());
    if (!refused) {
      EXPECT_NE(refused.error().message.find("wrong Sec-WebSocket-Accept"), std::string::npos)
          << refused.error().message;
    }

    RawServer extension(ioc, [](const std::string& key) {
      return switching_protocols(websocket_accept_value(key),
                                 "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    });
    auto unasked = co_await connect_websocket(ioc.get_executor(), extension.url(), test_options());
    EXPECT_FALSE(unasked.ok());
    if (!unasked) {
      EXPECT_NE(unasked.error().message.find("extension"), std::string::npos)
          << unasked.error().message;
    }
  });
}

TEST(WebSocketClientTest, MaskedFrameFromTheServerFailsWithProtocolError) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    RawServer server(ioc, [](const std::string& key) {
      // Masked with an all-zero key: legal bytes, but a server must never mask.
      return switching_protocols(websocket_accept_value(key)) +
             std::string("\x81\x82\0\0\0\0hi", 8);
    });
    auto ws = co_await connect_or_fail(ioc, server.url());
    if (!ws)
      co_return;
    EXPECT_EQ(message_of(co_await ws->read()), "protocol error: masked frame from the server");
    // The client says why before it hangs up: a masked close frame with 1002.
    bool told = co_await eventually([&server] { return server.received().size() >= 8; });
    EXPECT_TRUE(told);
    if (told) {
      const std::string& frame = server.received();
      EXPECT_EQ(static_cast<std::uint8_t>(frame[0]), 0x88);
      const std::string code{static_cast<char>(frame[6] ^ frame[2]),
                             static_cast<char>(frame[7] ^ frame[3])};
      EXPECT_EQ(code, std::string("\x03\xEA", 2));
    }
  });
}

TEST(WebSocketClientTest, WssAndWsGoThroughAConnectProxy) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    testing::TestProxy proxy(ioc);
    TestWsServer secure_server(ioc, echo, true);
    TestWsServer plain_server(ioc, echo);
    auto options = test_options();
    options.proxy = proxy.url();
    for (auto* server : {&secure_server, &plain_server}) {
      auto ws = co_await connect_or_fail(ioc, server->url(), options);
      if (!ws)
        co_return;
      EXPECT_TRUE((co_await ws->send("through the tunnel")).ok());
      EXPECT_EQ(message_of(co_await ws->read()), "(got text: through the tunnel)");
      co_await ws->close();
    }
    EXPECT_EQ(proxy.requests(), (std::vector<std::string>{
                                    "CONNECT localhost:" + std::to_string(secure_server.port()),
                                    "CONNECT localhost:" + std::to_string(plain_server.port())}));
  });
}

TEST(WebSocketClientTest, ProxyFromTheEnvironmentUnlessNoProxyCoversTheHost) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    testing::TestProxy proxy(ioc);
    TestWsServer server(ioc, echo, true);
    testing::ScopedEnv https_proxy("HTTPS_PROXY", proxy.url().c_str());
    testing::ScopedEnv no_proxy("NO_PROXY", "example.org");
    testing::ScopedEnv no_proxy_lower("no_proxy", nullptr);
    auto options = test_options();
    options.proxy = std::nullopt;  // from the environment
    auto via_proxy = co_await connect_or_fail(ioc, server.url(), options);
    EXPECT_EQ(proxy.requests().size(), 1u);
    testing::ScopedEnv bypass("NO_PROXY", "example.org,localhost");
    auto direct = co_await connect_or_fail(ioc, server.url(), options);
    EXPECT_TRUE(via_proxy && direct);
    EXPECT_EQ(proxy.requests().size(), 1u) << "NO_PROXY covers localhost";
  });
}

TEST(WebSocketClientTest, ProxyThatCannotReachTheServerIsNamed) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    testing::TestProxy proxy(ioc);
    int port = 0;
    {
      tcp::acceptor closed(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
      port = closed.local_endpoint().port();
    }
    auto options = test_options();
    options.proxy = proxy.url();
    auto refused = co_await connect_websocket(
        ioc.get_executor(), "wss://127.0.0.1:" + std::to_string(port) + "/link?ticket=secret",
        options);
    EXPECT_FALSE(refused.ok());
    if (!refused) {
      EXPECT_EQ(refused.error().message,
                "websocket 127.0.0.1:" + std::to_string(port) +
                    "/link: proxy 127.0.0.1:" + proxy.url().substr(proxy.url().rfind(':') + 1) +
                    ": CONNECT refused with 502 Bad Gateway");
    }
  });
}

// (opcode, unmasked payload) of each whole client frame in `bytes`.
std::vector<std::pair<int, std::string>> client_frames(std::string_view bytes) {
  std::vector<std::pair<int, std::string>> out;
  while (bytes.size() >= 6) {
    std::size_t length = static_cast<std::uint8_t>(bytes[1]) & 0x7F;
    std::size_t at = 2;
    if (length == 126) {
      length = (static_cast<std::uint8_t>(bytes[2]) << 8) | static_cast<std::uint8_t>(bytes[3]);
      at = 4;
    }
    if (length == 127 || bytes.size() < at + 4 + length)
      break;
    const std::string_view key = bytes.substr(at, 4);
    std::string payload(bytes.substr(at + 4, length));
    for (std::size_t i = 0; i < payload.size(); ++i)
      payload[i] = static_cast<char>(payload[i] ^ key[i % 4]);
    out.emplace_back(static_cast<std::uint8_t>(bytes[0]) & 0x0F, std::move(payload));
    bytes.remove_prefix(at + 4 + length);
  }
  return out;
}

TEST(WebSocketClientTest, AFloodOfPingsIsAnsweredByAPongToTheLatest) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    RawServer server(ioc, [](const std::string& key) {
      std::string out = switching_protocols(websocket_accept_value(key));
      for (int i = 0; i < 1000; ++i) {
        const std::string payload = std::to_string(i);
        out += '\x89';
        out += static_cast<char>(payload.size());
        out += payload;
      }
      return out + unmasked_text_frame("after the pings");
    });
    auto ws = co_await connect_or_fail(ioc, server.url());
    if (!ws)
      co_return;
    EXPECT_EQ(message_of(co_await ws->read()), "(got text: after the pings)");
    bool answered = co_await eventually([&server] {
      auto frames = client_frames(server.received());
      return !frames.empty() && frames.back().second == "999";
    });
    EXPECT_TRUE(answered);
    const auto frames = client_frames(server.received());
    EXPECT_LE(frames.size(), 10u) << "queued pongs were coalesced";
    for (const auto& [opcode, payload] : frames)
      EXPECT_EQ(opcode, 0xA) << payload;
  });
}

}  // namespace
}  // namespace shipmate::integrations::net
