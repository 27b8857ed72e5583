// A forward HTTP proxy on 127.0.0.1 for client tests, and a scoped environment variable to
// point clients at it (header-only; Beast inside).
//
// Contract: the proxy serves on the io_context it is given (a test may run that context on a
// thread of its own: what it records is read under a mutex). With require_authorization(), a
// request whose Proxy-Authorization differs is answered 407, as a corporate proxy does.
#pragma once

#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace shipmate::testing {

// A forward proxy: CONNECT opens a tunnel to the target; other methods with absolute URIs are
// answered by the proxy itself so tests can see what it was asked.
class TestProxy {
  static constexpr auto kTuple = boost::asio::as_tuple(boost::asio::use_awaitable);
  using tcp = boost::asio::ip::tcp;

 public:
  explicit TestProxy(boost::asio::io_context& ioc) : state_(std::make_shared<State>(ioc)) {
    tcp::endpoint endpoint(boost::asio::ip::make_address("127.0.0.1"), 0);
    state_->acceptor.open(endpoint.protocol());
    state_->acceptor.bind(endpoint);
    state_->acceptor.listen();
    boost::asio::co_spawn(ioc, accept_loop(state_), boost::asio::detached);
  }
  ~TestProxy() {
    boost::system::error_code ignored;
    state_->acceptor.close(ignored);
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(state_->acceptor.local_endpoint().port());
  }
  std::vector<std::string> requests() const {
    std::lock_guard lock(state_->mutex);
    return state_->requests;
  }
  // The Proxy-Authorization header of each request, in order ("" when it had none).
  std::vector<std::string> authorizations() const {
    std::lock_guard lock(state_->mutex);
    return state_->authorizations;
  }
  // From now on, answer 407 to any request that does not carry exactly this header value.
  void require_authorization(std::string value) {
    std::lock_guard lock(state_->mutex);
    state_->required_authorization = std::move(value);
  }

 private:
  struct State {
    explicit State(boost::asio::io_context& ioc) : acceptor(ioc) {}
    tcp::acceptor acceptor;
    mutable std::mutex mutex;
    std::vector<std::string> requests;  // "METHOD target"
    std::vector<std::string> authorizations;
    std::optional<std::string> required_authorization;
  };

  static boost::asio::awaitable<void> accept_loop(std::shared_ptr<State> state) {
    for (;;) {
      auto [ec, socket] = co_await state->acceptor.async_accept(kTuple);
      if (ec)
        co_return;
      boost::asio::co_spawn(state->acceptor.get_executor(), session(state, std::move(socket)),
                            boost::asio::detached);
    }
  }

  static boost::asio::awaitable<void> pump(std::shared_ptr<tcp::socket> from,
                                           std::shared_ptr<tcp::socket> to) {
    std::vector<char> data(16 * 1024);
    for (;;) {
      auto [ec, n] = co_await from->async_read_some(boost::asio::buffer(data), kTuple);
      if (ec) {
        boost::system::error_code ignored;
        to->shutdown(tcp::socket::shutdown_send, ignored);
        co_return;
      }
      auto [write_ec, written] =
          co_await boost::asio::async_write(*to, boost::asio::buffer(data, n), kTuple);
      if (write_ec)
        co_return;
    }
  }

  static boost::asio::awaitable<void> session(std::shared_ptr<State> state, tcp::socket socket) {
    auto client = std::make_shared<tcp::socket>(std::move(socket));
    boost::beast::flat_buffer buffer;
    boost::beast::http::request_parser<boost::beast::http::string_body> parser;
    auto [ec, n] = co_await boost::beast::http::async_read(*client, buffer, parser, kTuple);
    if (ec)
      co_return;
    auto& request = parser.get();
    std::string target(request.target());
    const std::string authorization(request[boost::beast::http::field::proxy_authorization]);
    bool refused = false;
    {
      std::lock_guard lock(state->mutex);
      state->requests.push_back(std::string(request.method_string()) + " " + target);
      state->authorizations.push_back(authorization);
      refused = state->required_authorization && *state->required_authorization != authorization;
    }
    if (refused) {
      boost::beast::http::response<boost::beast::http::string_body> response{
          boost::beast::http::status::proxy_authentication_required, 11};
      response.set(boost::beast::http::field::proxy_authenticate, "Basic realm=\"test\"");
      response.body() = "proxy authentication required";
      response.keep_alive(false);
      response.prepare_payload();
      co_await boost::beast::http::async_write(*client, response, kTuple);
      co_return;
    }
    if (request.method() != boost::beast::http::verb::connect) {
      boost::beast::http::response<boost::beast::http::string_body> response{
          boost::beast::http::status::ok, 11};
      response.body() = "proxied " + target;
      response.keep_alive(false);
      response.prepare_payload();
      co_await boost::beast::http::async_write(*client, response, kTuple);
      co_return;
    }
    auto colon = target.rfind(':');
    tcp::resolver resolver(client->get_executor());
    auto [resolve_ec, results] =
        co_await resolver.async_resolve(target.substr(0, colon), target.substr(colon + 1), kTuple);
    auto upstream = std::make_shared<tcp::socket>(client->get_executor());
    boost::system::error_code connect_ec = resolve_ec;
    if (!connect_ec) {
      auto [e, endpoint] = co_await boost::asio::async_connect(*upstream, results, kTuple);
      connect_ec = e;
    }
    std::string answer = connect_ec ? "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"
                                    : "HTTP/1.1 200 Connection established\r\n\r\n";
    auto [write_ec, written] =
        co_await boost::asio::async_write(*client, boost::asio::buffer(answer), kTuple);
    if (write_ec || connect_ec)
      co_return;
    auto executor = client->get_executor();
    boost::asio::co_spawn(executor, pump(client, upstream), boost::asio::detached);
    boost::asio::co_spawn(executor, pump(upstream, client), boost::asio::detached);
  }

  std::shared_ptr<State> state_;
};

// Sets an environment variable for one test and restores the previous value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name))
      old_ = old;
    if (value != nullptr)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_.c_str(), old_->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace shipmate::testing
