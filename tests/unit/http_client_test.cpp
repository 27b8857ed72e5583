#include "integrations/net/http_client.h"

#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>

#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "integrations/net/url_cache.h"
#include "tests/support/async_test.h"
#include "tests/support/test_proxy.h"
#include "tests/support/test_support.h"
#include "tests/support/test_tls.h"

namespace shipmate::integrations::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// What the test server does with one request.
struct Reply {
  enum class Action { respond, respond_then_close, drop, hang } action = Action::respond;
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct Seen {
  std::string method;
  std::string target;
  std::string host;
  std::string body;
  http::request<http::string_body> raw;
};

// A small HTTP/1.1 server on a loopback port (plain or TLS) whose behavior is a callback of the
// connection number and the request number on that connection.
class TestServer {
 public:
  using Handler = std::function<Reply(const Seen&, int connection, int request)>;

  TestServer(asio::io_context& ioc, Handler handler, std::shared_ptr<ssl::context> tls = nullptr,
             const std::string& address = "127.0.0.1")
      : state_(std::make_shared<State>(ioc, std::move(handler), std::move(tls))) {
    tcp::endpoint endpoint(asio::ip::make_address(address), 0);
    state_->acceptor.open(endpoint.protocol());
    state_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    state_->acceptor.bind(endpoint);
    state_->acceptor.listen();
    asio::co_spawn(ioc, accept_loop(state_), asio::detached);
  }
  ~TestServer() {
    boost::system::error_code ignored;
    state_->acceptor.close(ignored);
  }

  int port() const { return state_->acceptor.local_endpoint().port(); }
  int connections() const { return state_->connections; }
  const std::vector<Seen>& requests() const { return state_->requests; }

 private:
  struct State {
    State(asio::io_context& ioc, Handler h, std::shared_ptr<ssl::context> t)
        : acceptor(ioc), handler(std::move(h)), tls(std::move(t)) {}
    tcp::acceptor acceptor;
    Handler handler;
    std::shared_ptr<ssl::context> tls;
    int connections = 0;
    std::vector<Seen> requests;
  };

  static asio::awaitable<void> accept_loop(std::shared_ptr<State> state) {
    for (;;) {
      auto [ec, socket] = co_await state->acceptor.async_accept(kTuple);
      if (ec)
        co_return;
      int index = state->connections++;
      asio::co_spawn(state->acceptor.get_executor(), session(state, std::move(socket), index),
                     asio::detached);
    }
  }

  static asio::awaitable<void> session(std::shared_ptr<State> state, tcp::socket socket,
                                       int index) {
    if (!state->tls) {
      co_await serve(state, socket, index);
      co_return;
    }
    ssl::stream<tcp::socket> stream(std::move(socket), *state->tls);
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, kTuple);
    if (ec)
      co_return;
    co_await serve(state, stream, index);
  }

  template <class Stream>
  static asio::awaitable<void> serve(std::shared_ptr<State> state, Stream& stream, int index) {
    beast::flat_buffer buffer;
    for (int number = 0;; ++number) {
      http::request<http::string_body> request;
      auto [ec, n] = co_await http::async_read(stream, buffer, request, kTuple);
      if (ec)
        co_return;
      Seen seen{std::string(request.method_string()), std::string(request.target()),
                std::string(request[http::field::host]), request.body(), request};
      state->requests.push_back(seen);
      Reply reply = state->handler(seen, index, number);
      if (reply.action == Reply::Action::drop)
        co_return;
      if (reply.action == Reply::Action::hang) {
        asio::steady_timer forever(stream.get_executor(), 1h);
        co_await forever.async_wait(kTuple);
        co_return;
      }
      http::response<http::string_body> response{static_cast<http::status>(reply.status), 11};
      for (const auto& [name, value] : reply.headers)
        response.set(name, value);
      response.body() = reply.body;
      response.keep_alive(request.keep_alive());
      response.prepare_payload();
      auto [write_ec, written] = co_await http::async_write(stream, response, kTuple);
      if (write_ec || reply.action == Reply::Action::respond_then_close || !request.keep_alive())
        co_return;
    }
  }

  std::shared_ptr<State> state_;
};

Reply ok_reply(const Seen& seen, int, int) {
  return Reply{Reply::Action::respond, 200, "hello " + seen.target, {}};
}

// Tests talk to loopback servers: a proxy configured on the build machine must not interfere.
HttpClientOptions direct() {
  HttpClientOptions options;
  options.proxy = "";
  return options;
}

std::string base_url(const TestServer& server, const std::string& host = "127.0.0.1",
                     const std::string& scheme = "http") {
  return scheme + "://" + host + ":" + std::to_string(server.port());
}

asio::awaitable<Result<HttpResponse>> get(HttpClient& client, std::string url,
                                          std::chrono::milliseconds timeout = 20s) {  // a guard
  HttpRequest request;
  request.url = std::move(url);
  request.timeout = timeout;
  auto result = co_await client.send(std::move(request));
  co_return result;
}

TEST(HttpClientTest, GetAndPostCarryHeadersAndBody) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestServer server(ioc, [](const Seen& seen, int, int) {
      return Reply{Reply::Action::respond,
                   201,
                   seen.method + " " + seen.target + " [" + seen.body + "] " +
                       std::string(seen.raw["X-Test"]) + " " +
                       std::string(seen.raw[http::field::content_type]) + " " +
                       std::string(seen.raw[http::field::user_agent]),
                   {{"X-Reply", "yes"}}};
    });
    HttpClient client(ioc.get_executor(), direct());

    HttpRequest get_request;
    get_request.url = base_url(server) + "/items?id=7";
    get_request.headers = {{"X-Test", "one"}};
    auto got = co_await client.send(get_request);
    EXPECT_TRUE(got.ok()) << (got ? "" : got.error().message);
    if (got) {
      EXPECT_EQ(got->status, 201);
      EXPECT_EQ(got->body, "GET /items?id=7 [] one  shipmate/0.1");
      EXPECT_EQ(got->header("x-reply"), "yes");
      EXPECT_EQ(got->header("X-Missing"), "");
    }

    HttpRequest post;
    post.method = "POST";
    post.url = base_url(server) + "/submit";
    post.headers = {{"X-Test", "two"}, {"Content-Type", "application/json"}};
    post.body = R"({"a":1})";
    auto posted = co_await client.send(post);
    EXPECT_TRUE(posted.ok()) << (posted ? "" : posted.error().message);
    if (posted) {
      EXPECT_EQ(posted->body, R"(POST /submit [{"a":1}] two application/json shipmate/0.1)");
    }

    EXPECT_EQ(server.requests().size(), 2u);
    if (server.requests().size() == 2) {
      EXPECT_EQ(server.requests()[0].host, "127.0.0.1:" + std::to_string(server.port()));
      EXPECT_EQ(server.requests()[1].raw[http::field::content_length], "7");
    }
  });
}

// The headers the client writes itself are its own whatever case a caller spells them in: a
// caller's Host, Content-Length, Connection and Transfer-Encoding are dropped, and a caller's
// User-Agent replaces the default one instead of being sent beside it.
TEST(HttpClientTest, ReservedHeadersAndUserAgentAreRecognisedInAnyCase) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestServer server(ioc, [](const Seen&, int, int) { return Reply{}; });
    HttpClient client(ioc.get_executor(), direct());
    HttpRequest post;
    post.method = "POST";
    post.url = base_url(server) + "/submit";
    post.headers = {{"HOST", "evil.example.com"},
                    {"content-LENGTH", "999"},
                    {"CONNECTION", "close"},
                    {"transfer-ENCODING", "chunked"},
                    {"user-AGENT", "mine/1"}};
    post.body = "abc";
    auto posted = co_await client.send(post);
    EXPECT_TRUE(posted.ok()) << (posted ? "" : posted.error().message);
    EXPECT_EQ(server.requests().size(), 1u);
    if (server.requests().size() == 1) {
      const auto& raw = server.requests()[0].raw;
      EXPECT_EQ(server.requests()[0].host, "127.0.0.1:" + std::to_string(server.port()));
      EXPECT_EQ(raw.count(http::field::host), 1u);
      EXPECT_EQ(raw[http::field::content_length], "3");
      EXPECT_EQ(raw.count(http::field::content_length), 1u);
      EXPECT_EQ(raw.count(http::field::connection), 0u);
      EXPECT_EQ(raw.count(http::field::transfer_encoding), 0u);
      EXPECT_EQ(raw.count(http::field::user_agent), 1u);
      EXPECT_EQ(raw[http::field::user_agent], "mine/1");
      EXPECT_EQ(server.requests()[0].body, "abc");
    }
  });
}

TEST(HttpClientTest, ErrorStatusesAreResponses) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestServer server(ioc, [](const Seen& seen, int, int) {
      int status = seen.target == "/missing" ? 404 : 503;
      return Reply{Reply::Action::respond, status, "status " + std::to_string(status), {}};
    });
    HttpClient client(ioc.get_executor(), direct());
    auto missing = co_await get(client, base_url(server) + "/missing");
    EXPECT_TRUE(missing.ok());
    if (missing) {
      EXPECT_EQ(missing->status, 404);
      EXPECT_EQ(missing->body, "status 404");
    }
    auto down = co_await get(client, base_url(server) + "/down");
    EXPECT_TRUE(down.ok());
    if (down) {
      EXPECT_EQ(down->status, 503);
    }
  });
}

TEST(HttpClientTest, KeepAliveReusesOneConnection) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestServer server(ioc, ok_reply);
    HttpClient client(ioc.get_executor(), direct());
    for (int i = 0; i < 5; ++i) {
      auto response = co_await get(client, base_url(server) + "/n" + std::to_string(i));
      EXPECT_TRUE(response.ok()) << (response ? "" : response.error().message);
      if (response) {
        EXPECT_EQ(response->body, "hello /n" + std::to_string(i));
      }
    }
    EXPECT_EQ(client.connections_opened(), 1u);
    EXPECT_EQ(server.connections(), 1);
  });
}

TEST(HttpClientTest, ConcurrentRequestsOpenSeparateConnectionsThenReuseThem) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestServer server(ioc, ok_reply);
    auto client = std::make_shared<HttpClient>(ioc.get_executor(), direct());
    std::string url = base_url(server) + "/c";
    int finished = 0;
    asio::steady_timer all_done(ioc, std::chrono::steady_clock::time_point::max());
    for (int i = 0; i < 3; ++i) {
      asio::co_spawn(
          ioc,
          [](std::shared_ptr<HttpClient> c, std::string u) -> asio::awaitable<bool> {
            auto response = co_await get(*c, u);
            co_return response.ok();
          }(client, url),
          [&finished, &all_done](std::exception_ptr, bool ok) {
            EXPECT_TRUE(ok);
            if (++finished == 3)
              all_done.cancel();
          });
    }
    co_await all_done.async_wait(kTuple);
    EXPECT_EQ(client->connections_opened(), 3u);
    auto again = co_await get(*client, url);
    EXPECT_TRUE(again.ok());
    EXPECT_EQ(client->connections_opened(), 3u);
  });
}

TEST(HttpClientTest, ServerClosingIdleConnectionIsTransparent) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    // Answers as keep-alive, then hangs up: the pooled connection is dead when next used.
    TestServer server(ioc, [](const Seen&, int, int) {
      return Reply{Reply::Action::respond_then_close, 200, "ok", {}};
    });
    HttpClient client(ioc.get_executor(), direct());
    // Reused at once, the dead connection fails the attempt and the request is retried on a new
    // one; after a pause the pool notices the hang-up (a peek) before using it.
    for (auto pause : {0ms, 0ms, 600ms, 600ms}) {
      if (pause > 0ms) {
        asio::steady_timer timer(ioc, pause);
        co_await timer.async_wait(asio::use_awaitable);
      }
      auto response = co_await get(client, base_url(server) + "/");
      EXPECT_TRUE(response.ok()) << (response ? "" : response.error().message);
    }
    EXPECT_EQ(client.connections_opened(), 4u);
  });
}

TEST(HttpClientTest, PooledConnectionDroppedBeforeAnsweringIsRetriedOnce) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    // The first connection serves one request and drops the second without a byte of answer.
    TestServer server(ioc, [](const Seen& seen, int connection, int request) {
      if (connection == 0 && request == 1)
        return Reply{Reply::Action::drop, 0, "", {}};
      return ok_reply(seen, connection, request);
    });
    HttpClient client(ioc.get_executor(), direct());
    auto first = co_await get(client, base_url(server) + "/a");
    EXPECT_TRUE(first.ok());
    auto second = co_await get(client, base_url(server) + "/b");
    EXPECT_TRUE(second.ok()) << (second ? "" : second.error().message);
    if (second) {
      EXPECT_EQ(second->body, "hello /b");
    }
    EXPECT_EQ(client.connections_opened(), 2u);
    EXPECT_EQ(server.requests().size(), 3u);
  });
}

TEST(HttpClientTest, FreshConnectionDroppedIsAnErrorNotARetry) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestServer server(ioc, [](const Seen&, int, int) {
      return Reply{Reply::Action::drop, 0, "", {}};
    });
    HttpClient client(ioc.get_executor(), direct());
    auto response = co_await get(client, base_url(server) + "/x");
    EXPECT_FALSE(response.ok());
    if (!response) {
      EXPECT_EQ(response.error().message, "GET 127.0.0.1:" + std::to_string(server.port()) +
                                              "/x: connection closed before a response");
    }
    EXPECT_EQ(server.requests().size(), 1u);
  });
}

TEST(HttpClientTest, TimeoutCoversAServerThatNeverAnswers) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestServer server(ioc, [](const Seen&, int, int) {
      return Reply{Reply::Action::hang, 0, "", {}};
    });
    HttpClient client(ioc.get_executor(), direct());
    auto started = std::chrono::steady_clock::now();
    auto response = co_await get(client, base_url(server) + "/slow?token=secret", 200ms);
    auto elapsed = std::chrono::steady_clock::now() - started;
    EXPECT_FALSE(response.ok());
    if (!response) {
      EXPECT_EQ(response.error().message,
                "GET 127.0.0.1:" + std::to_string(server.port()) +
                    "/slow: timed out after 200 ms while waiting for the response");
      EXPECT_EQ(response.error().kind, ErrorKind::unavailable);
    }
    EXPECT_GE(elapsed, 200ms);
    // Generous on purpose (a loaded 2-core machine): it only catches a timeout that never fires
    // or fires on some much later timer; the message above names the 200 ms that did.
    EXPECT_LT(elapsed, 10s);
  });
}

TEST(HttpClientTest, ConnectionRefusedIsNamed) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    int port = 0;
    {
      tcp::acceptor closed(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
      port = closed.local_endpoint().port();
    }
    HttpClient client(ioc.get_executor(), direct());
    HttpRequest request;
    request.method = "POST";
    request.url = "http://127.0.0.1:" + std::to_string(port) + "/api/x";
    auto response = co_await client.send(request);
    EXPECT_FALSE(response.ok());
    if (!response) {
      EXPECT_EQ(response.error().message,
                "POST 127.0.0.1:" + std::to_string(port) + "/api/x: connection refused");
      EXPECT_EQ(response.error().kind, ErrorKind::unavailable);
    }
  });
}

TEST(HttpClientTest, InvalidUrlIsAnError) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    HttpClient client(ioc.get_executor(), direct());
    auto response = co_await get(client, "not a url");
    EXPECT_FALSE(response.ok());
    if (!response) {
      EXPECT_NE(response.error().message.find("invalid URL"), std::string::npos);
      EXPECT_EQ(response.error().kind, ErrorKind::invalid);
    }
  });
}

// A header value with a line break would smuggle a header (or a request) onto the wire.
TEST(HttpClientTest, HeadersWithLineBreaksAreRefusedBeforeAnythingIsSent) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestServer server(ioc, [](const Seen&, int, int) {
      return Reply{Reply::Action::respond, 200, "ok", {}};
    });
    HttpClient client(ioc.get_executor(), direct());
    for (const auto& header :
         std::vector<std::pair<std::string, std::string>>{{"X-Test", "one\r\nX-Injected: yes"},
                                                          {"X-Test", "one\nX-Injected: yes"},
                                                          {"X-Test", "a long value\r"},
                                                          {"X-Colon:", "yes"},
                                                          {"X-Bad\r\nX-Injected", "yes"},
                                                          {"X Spaced", "yes"}}) {
      HttpRequest request;
      request.url = base_url(server) + "/items";
      request.headers = {header};
      auto response = co_await client.send(request);
      EXPECT_FALSE(response.ok()) << header.first;
      if (!response) {
        EXPECT_NE(response.error().message.find("invalid header"), std::string::npos)
            << response.error().message;
      }
    }
    EXPECT_TRUE(server.requests().empty());
  });
}

TEST(HttpClientTest, MalformedResponseIsNamed) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    asio::co_spawn(
        ioc,
        [](tcp::acceptor& a) -> asio::awaitable<void> {
          auto [ec, socket] = co_await a.async_accept(kTuple);
          if (ec)
            co_return;
          std::string garbage = "SMTP ready\r\n\r\n";
          co_await asio::async_write(socket, asio::buffer(garbage), kTuple);
        }(acceptor),
        asio::detached);
    HttpClient client(ioc.get_executor(), direct());
    auto response = co_await get(
        client, "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/");
    EXPECT_FALSE(response.ok());
    if (!response) {
      EXPECT_NE(response.error().message.find(": malformed response: "), std::string::npos)
          << response.error().message;
    }
  });
}

TEST(HttpClientTest, BodyOverLimitIsAnError) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestServer server(ioc, [](const Seen&, int, int) {
      return Reply{Reply::Action::respond, 200, std::string(5000, 'x'), {}};
    });
    auto options = direct();
    options.max_body_bytes = 1000;
    HttpClient client(ioc.get_executor(), options);
    auto response = co_await get(client, base_url(server) + "/big");
    EXPECT_FALSE(response.ok());
    if (!response) {
      EXPECT_EQ(response.error().message, "GET 127.0.0.1:" + std::to_string(server.port()) +
                                              "/big: response body larger than 1000 bytes");
    }
  });
}

TEST(HttpClientTest, HttpsWithTestCaSucceedsForNameAndAddress) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestServer server(ioc, ok_reply, testing::test_server_tls_context());
    auto options = direct();
    options.ca_file = testing::shared_test_certificates().ca_path;
    HttpClient client(ioc.get_executor(), options);
    auto by_name = co_await get(client, base_url(server, "localhost", "https") + "/secure");
    EXPECT_TRUE(by_name.ok()) << (by_name ? "" : by_name.error().message);
    if (by_name) {
      EXPECT_EQ(by_name->body, "hello /secure");
    }
    auto again = co_await get(client, base_url(server, "localhost", "https") + "/again");
    EXPECT_TRUE(again.ok());
    EXPECT_EQ(client.connections_opened(), 1u);
    auto by_address = co_await get(client, base_url(server, "127.0.0.1", "https") + "/ip");
    EXPECT_TRUE(by_address.ok()) << (by_address ? "" : by_address.error().message);
  });
}

TEST(HttpClientTest, HttpsWithoutTheCaFailsVerification) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestServer server(ioc, ok_reply, testing::test_server_tls_context());
    HttpClient client(ioc.get_executor(), direct());
    auto response = co_await get(client, base_url(server, "localhost", "https") + "/secure");
    EXPECT_FALSE(response.ok());
    if (!response) {
      EXPECT_EQ(response.error().message.rfind("GET localhost:" + std::to_string(server.port()) +
                                                   "/secure: TLS handshake failed: "
                                                   "certificate verify failed",
                                               0),
                0u)
          << response.error().message;
      EXPECT_EQ(response.error().kind, ErrorKind::tls);
    }
  });
}

TEST(HttpClientTest, HttpsWithWrongHostnameFailsVerification) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    // Linux routes all of 127/8 to loopback; 127.0.0.2 is not in the certificate.
    TestServer server(ioc, ok_reply, testing::test_server_tls_context(), "127.0.0.2");
    auto options = direct();
    options.ca_file = testing::shared_test_certificates().ca_path;
    HttpClient client(ioc.get_executor(), options);
    auto response = co_await get(client, base_url(server, "127.0.0.2", "https") + "/");
    EXPECT_FALSE(response.ok());
    if (!response) {
      EXPECT_NE(response.error().message.find("certificate verify failed"), std::string::npos);
      EXPECT_NE(response.error().message.find("mismatch"), std::string::npos)
          << response.error().message;
      EXPECT_EQ(response.error().kind, ErrorKind::tls);
    }
  });
}

TEST(HttpClientTest, VerifyPeerOffAcceptsUnknownCertificates) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestServer server(ioc, ok_reply, testing::test_server_tls_context());
    auto options = direct();
    options.verify_peer = false;
    HttpClient client(ioc.get_executor(), options);
    auto response = co_await get(client, base_url(server, "localhost", "https") + "/");
    EXPECT_TRUE(response.ok()) << (response ? "" : response.error().message);
  });
}

TEST(HttpClientTest, HttpsGoesThroughConnectProxy) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestServer server(ioc, ok_reply, testing::test_server_tls_context());
    testing::TestProxy proxy(ioc);
    auto options = direct();
    options.ca_file = testing::shared_test_certificates().ca_path;
    options.proxy = proxy.url();
    HttpClient client(ioc.get_executor(), options);
    for (int i = 0; i < 2; ++i) {
      auto response = co_await get(client, base_url(server, "localhost", "https") + "/tunnel");
      EXPECT_TRUE(response.ok()) << (response ? "" : response.error().message);
      if (response) {
        EXPECT_EQ(response->body, "hello /tunnel");
      }
    }
    EXPECT_EQ(proxy.requests(),
              std::vector<std::string>{"CONNECT localhost:" + std::to_string(server.port())});
    EXPECT_EQ(client.connections_opened(), 1u);
  });
}

TEST(HttpClientTest, TheProxyEnvironmentIsReadWhenTheClientIsMade) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestServer server(ioc, ok_reply, testing::test_server_tls_context());
    testing::TestProxy proxy(ioc);
    testing::ScopedEnv no_https_proxy("HTTPS_PROXY", nullptr);
    testing::ScopedEnv no_https_proxy_lower("https_proxy", nullptr);
    testing::ScopedEnv no_proxy("NO_PROXY", nullptr);
    testing::ScopedEnv no_proxy_lower("no_proxy", nullptr);
    HttpClientOptions options;  // proxy from the environment
    options.ca_file = testing::shared_test_certificates().ca_path;
    HttpClient made_without(ioc.get_executor(), options);
    // Set after the client was made: that client goes on without a proxy, a new one uses it.
    testing::ScopedEnv https_proxy("HTTPS_PROXY", proxy.url().c_str());
    auto direct = co_await get(made_without, base_url(server, "localhost", "https") + "/");
    EXPECT_TRUE(direct.ok()) << (direct ? "" : direct.error().message);
    EXPECT_TRUE(proxy.requests().empty());
    HttpClient made_with(ioc.get_executor(), options);
    auto via_proxy = co_await get(made_with, base_url(server, "localhost", "https") + "/");
    EXPECT_TRUE(via_proxy.ok()) << (via_proxy ? "" : via_proxy.error().message);
    EXPECT_EQ(proxy.requests().size(), 1u);
  });
}

TEST(HttpClientTest, ProxyFromEnvironmentAndNoProxyBypass) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestServer server(ioc, ok_reply, testing::test_server_tls_context());
    testing::TestProxy proxy(ioc);
    testing::ScopedEnv https_proxy("HTTPS_PROXY", proxy.url().c_str());
    testing::ScopedEnv no_proxy("NO_PROXY", "example.org, .localhost,localhost");
    testing::ScopedEnv no_proxy_lower("no_proxy", nullptr);
    HttpClientOptions options;  // proxy from the environment
    options.ca_file = testing::shared_test_certificates().ca_path;
    HttpClient bypassing(ioc.get_executor(), options);
    auto direct_response = co_await get(bypassing, base_url(server, "localhost", "https") + "/");
    EXPECT_TRUE(direct_response.ok()) << (direct_response ? "" : direct_response.error().message);
    EXPECT_TRUE(proxy.requests().empty());

    testing::ScopedEnv other_no_proxy("NO_PROXY", "example.org");
    HttpClient proxied(ioc.get_executor(), options);
    auto via_proxy = co_await get(proxied, base_url(server, "localhost", "https") + "/");
    EXPECT_TRUE(via_proxy.ok()) << (via_proxy ? "" : via_proxy.error().message);
    EXPECT_EQ(proxy.requests().size(), 1u);
  });
}

TEST(HttpClientTest, PlainHttpThroughProxyUsesAbsoluteUri) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    testing::TestProxy proxy(ioc);
    auto options = direct();
    options.proxy = proxy.url();
    HttpClient client(ioc.get_executor(), options);
    auto response = co_await get(client, "http://ci.example.invalid:8080/jobs?x=1");
    EXPECT_TRUE(response.ok()) << (response ? "" : response.error().message);
    if (response) {
      EXPECT_EQ(response->body, "proxied http://ci.example.invalid:8080/jobs?x=1");
    }
  });
}

TEST(HttpClientTest, ProxyRefusingConnectIsNamed) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    testing::TestProxy proxy(ioc);
    int closed_port = 0;
    {
      tcp::acceptor closed(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
      closed_port = closed.local_endpoint().port();
    }
    auto options = direct();
    options.proxy = proxy.url();
    HttpClient client(ioc.get_executor(), options);
    auto response = co_await get(client, "https://127.0.0.1:" + std::to_string(closed_port) + "/x");
    EXPECT_FALSE(response.ok());
    if (!response) {
      EXPECT_NE(response.error().message.find("CONNECT refused with 502"), std::string::npos)
          << response.error().message;
      EXPECT_EQ(response.error().kind, ErrorKind::unavailable);
    }
  });
}

// README: "Credentials in the proxy URL are sent as Basic proxy authorization". A proxy that
// requires them tunnels HTTPS (CONNECT) and forwards plain HTTP (absolute URI) only with the
// right header; wrong credentials are a clear auth error that never shows the password.
TEST(HttpClientTest, ProxyCredentialsInTheUrlAreSentAsBasicProxyAuthorization) {
  testing::run_async_test([](asio::io_context& ioc) -> asio::awaitable<void> {
    TestServer server(ioc, ok_reply, testing::test_server_tls_context());
    testing::TestProxy proxy(ioc);
    // base64("proxy user:pa:ss w0rd") -- a colon and a space in the password, percent-encoded
    // in the URL as RFC 3986 asks.
    proxy.require_authorization("Basic cHJveHkgdXNlcjpwYTpzcyB3MHJk");
    const std::string authority = proxy.url().substr(std::string("http://").size());
    auto options = direct();
    options.ca_file = testing::shared_test_certificates().ca_path;
    options.proxy = "http://proxy%20user:pa%3Ass%20w0rd@" + authority;
    HttpClient client(ioc.get_executor(), options);
    auto tunnelled = co_await get(client, base_url(server, "localhost", "https") + "/tunnel");
    EXPECT_TRUE(tunnelled.ok()) << (tunnelled ? "" : tunnelled.error().message);
    auto forwarded = co_await get(client, "http://ci.example.invalid:8080/jobs");
    EXPECT_TRUE(forwarded.ok()) << (forwarded ? "" : forwarded.error().message);
    EXPECT_EQ(proxy.authorizations(),
              (std::vector<std::string>{"Basic cHJveHkgdXNlcjpwYTpzcyB3MHJk",
                                        "Basic cHJveHkgdXNlcjpwYTpzcyB3MHJk"}));

    auto wrong = direct();
    wrong.ca_file = options.ca_file;
    wrong.proxy = "http://proxy%20user:not-the-password@" + authority;
    HttpClient refused_client(ioc.get_executor(), wrong);
    auto refused = co_await get(refused_client, base_url(server, "localhost", "https") + "/x");
    EXPECT_FALSE(refused.ok());
    if (!refused) {
      EXPECT_NE(refused.error().message.find("407"), std::string::npos) << refused.error().message;
      EXPECT_EQ(refused.error().message.find("not-the-password"), std::string::npos)
          << refused.error().message;
      EXPECT_EQ(refused.error().kind, ErrorKind::auth);
    }
    auto forwarded_refused = co_await get(refused_client, "http://ci.example.invalid:8080/jobs");
    EXPECT_TRUE(!forwarded_refused.ok() || forwarded_refused->status == 407);
  });
}

TEST(ParseUrlTest, SplitsSchemeHostPortAndTarget) {
  auto url = parse_url("https://Slack.com/api/chat.postMessage?x=1#frag");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->scheme, "https");
  EXPECT_EQ(url->host, "slack.com");
  EXPECT_EQ(url->port, "443");
  EXPECT_EQ(url->target, "/api/chat.postMessage?x=1");

  auto plain = parse_url("http://127.0.0.1:8080");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->port, "8080");
  EXPECT_EQ(plain->target, "/");

  auto ws = parse_url("wss://wss-primary.slack.com/link/?ticket=abc&app_id=1");
  ASSERT_TRUE(ws);
  EXPECT_EQ(ws->port, "443");
  EXPECT_EQ(ws->target, "/link/?ticket=abc&app_id=1");

  auto v6 = parse_url("ws://[::1]:9000?q");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, "9000");
  EXPECT_EQ(v6->target, "/?q");

  EXPECT_FALSE(parse_url("ftp://example.com/"));
  EXPECT_FALSE(parse_url("example.com/path"));
  EXPECT_FALSE(parse_url("http:///path"));
  EXPECT_FALSE(parse_url("http://host:99999/"));
}

TEST(UrlCacheTest, AUrlOfTheLastOriginWithAnotherPlainPathSkipsTheParserAndKeepsItsTarget) {
  detail::UrlCache urls;
  auto first = urls.parse("https://smba.example.net:8443/v3/conversations/a%3Ab/activities/1");
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->target, "/v3/conversations/a%3Ab/activities/1");
  EXPECT_EQ(urls.parsed(), 1u);
  // Same origin, another path and a query: not parsed, the target exactly as written.
  auto second =
      urls.parse("https://smba.example.net:8443/v3/conversations/c/activities?x=1&y=%20;@:!");
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->scheme, "https");
  EXPECT_EQ(second->host, "smba.example.net");
  EXPECT_EQ(second->port, "8443");
  EXPECT_EQ(second->target, "/v3/conversations/c/activities?x=1&y=%20;@:!");
  EXPECT_EQ(urls.parsed(), 1u);
  // What the grammar does not allow as it is goes through the parser: refused, or cut.
  EXPECT_FALSE(urls.parse("https://smba.example.net:8443/with space").has_value());
  EXPECT_FALSE(urls.parse("https://smba.example.net:8443/bad%zzescape").has_value());
  EXPECT_EQ(urls.parsed(), 3u);
  auto fragment = urls.parse("https://smba.example.net:8443/frag#part");
  ASSERT_TRUE(fragment.has_value());
  EXPECT_EQ(fragment->target, "/frag");
  EXPECT_EQ(urls.parsed(), 4u);
  // Another authority, even one the last one's text starts with, is parsed.
  auto longer_port = urls.parse("https://smba.example.net:84430/v3");
  EXPECT_FALSE(longer_port.has_value());  // not a TCP port
  auto other_host = urls.parse("http://Other.example.net/v3");
  ASSERT_TRUE(other_host.has_value());
  EXPECT_EQ(other_host->host, "other.example.net");
  EXPECT_EQ(other_host->port, "80");
  EXPECT_EQ(urls.parsed(), 6u);
  auto same_again = urls.parse("http://Other.example.net/v3");
  ASSERT_TRUE(same_again.has_value());
  EXPECT_EQ(same_again->target, "/v3");
  EXPECT_EQ(urls.parsed(), 6u);
}

TEST(FormEncodeTest, EncodesReservedCharacters) {
  EXPECT_EQ(form_encode("abc-._*XYZ019"), "abc-._*XYZ019");
  EXPECT_EQ(form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
  EXPECT_EQ(form_encode(""), "");
}

}  // namespace
}  // namespace shipmate::integrations::net
