#include "tests/support/fake_http_server.h"

#include <cstdio>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <type_traits>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "common/strings.h"
#include "tests/support/async_test.h"

namespace shipmate::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i]))
      return false;
  }
  return true;
}

}  // namespace

std::string percent_decode(std::string_view text, bool plus_as_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 2 < text.size() && hex_digit_value(text[i + 1]) >= 0 &&
        hex_digit_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit_value(text[i + 1]) * 16 + hex_digit_value(text[i + 2]));
      i += 2;
    } else if (c == '+' && plus_as_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string FakeRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (iequals(key, name))
      return value;
  return {};
}

FakeResponse FakeResponse::json(int status, std::string body) {
  FakeResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

FakeResponse FakeResponse::text(int status, std::string body) {
  FakeResponse response;
  response.status = status;
  response.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  response.body = std::move(body);
  return response;
}

struct FakeHttpServer::Impl {
  Handler handler;
  Options options;
  unsigned short port = 0;

  mutable std::mutex mu;
  std::vector<FakeRequest> recorded;  // under mu

  std::optional<net::ssl::context> ssl_ctx;
  net::io_context ioc{1};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptor;
  std::map<std::uint64_t, std::function<void()>> closers;  // server thread only
  std::uint64_t next_id = 0;
  bool stopping = false;
  std::thread thread;

  static FakeRequest to_fake(const http::request<http::string_body>& request) {
    FakeRequest fake;
    fake.method = std::string(request.method_string());
    fake.target = std::string(request.target());
    const auto question = fake.target.find('?');
    fake.path = percent_decode(std::string_view(fake.target).substr(0, question), false);
    if (question != std::string::npos) {
      std::string_view query = std::string_view(fake.target).substr(question + 1);
      while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        const auto eq = pair.find('=');
        const std::string key = percent_decode(pair.substr(0, eq), true);
        const std::string value = eq == std::string_view::npos
                                      ? std::string()
                                      : percent_decode(pair.substr(eq + 1), true);
        if (!key.empty())
          fake.query[key] = value;
        if (amp == std::string_view::npos)
          break;
        query.remove_prefix(amp + 1);
      }
    }
    for (const auto& field : request)
      fake.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    fake.body = request.body();
    return fake;
  }

  net::awaitable<void> accept_loop() {
    for (;;) {
      error_code ec;
      tcp::socket socket =
          co_await acceptor->async_accept(net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        if (stopping || ec == net::error::operation_aborted)
          co_return;
        continue;
      }
      if (options.tls) {
        net::co_spawn(ioc, serve(beast::ssl_stream<beast::tcp_stream>(std::move(socket), *ssl_ctx)),
                      net::detached);
      } else {
        net::co_spawn(ioc, serve(beast::tcp_stream(std::move(socket))), net::detached);
      }
    }
  }

  template <class Stream>
  net::awaitable<void> serve(Stream stream) {
    const std::uint64_t id = next_id++;
    // A held answer (delay) ends when the server stops too, not only when it is due: otherwise
    // the connection would outlive the server's loop (and the map this closer lives in).
    net::steady_timer delay_timer(ioc);
    closers[id] = [&stream, &delay_timer] {
      error_code ignored;
      beast::get_lowest_layer(stream).socket().close(ignored);
      delay_timer.cancel();
    };
    struct Unregister {
      Impl* impl;
      std::uint64_t id;
      ~Unregister() { impl->closers.erase(id); }
    } unregister{this, id};
    try {
      if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
        co_await stream.async_handshake(net::ssl::stream_base::server, net::use_awaitable);
        beast::get_lowest_layer(stream).expires_never();
      }
      beast::flat_buffer buffer;
      for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(64 * 1024 * 1024);
        co_await http::async_read(stream, buffer, parser, net::use_awaitable);
        http::request<http::string_body> request = parser.release();
        FakeRequest fake = to_fake(request);
        {
          std::lock_guard lock(mu);
          recorded.push_back(fake);
        }
        FakeResponse answer = handler(fake);
        if (answer.delay.count() > 0) {
          delay_timer.expires_after(answer.delay);
          co_await delay_timer.async_wait(net::use_awaitable);
        }
        if (answer.close_connection || stopping)
          break;
        const bool keep_alive = request.keep_alive() && !answer.stream;
        if (answer.stream) {
          co_await write_streaming(stream, request.version(), answer);
          break;
        }
        http::response<http::string_body> response{static_cast<http::status>(answer.status),
                                                   request.version()};
        bool has_type = false;
        for (const auto& [name, value] : answer.headers) {
          response.insert(name, value);
          has_type = has_type || iequals(name, "Content-Type");
        }
        if (!has_type)
          response.set(http::field::content_type, "application/json; charset=utf-8");
        response.body() = std::move(answer.body);
        response.keep_alive(keep_alive);
        response.prepare_payload();
        co_await http::async_write(stream, response, net::use_awaitable);
        if (!keep_alive)
          break;
      }
    } catch (const std::exception&) {
      // The client went away or the server is stopping; either ends this connection.
    }
    error_code ignored;
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream).socket().close(ignored);
  }

  template <class Stream>
  net::awaitable<void> write_streaming(Stream& stream, unsigned version, FakeResponse& answer) {
    http::response<http::empty_body> response{static_cast<http::status>(answer.status), version};
    bool has_type = false;
    for (const auto& [name, value] : answer.headers) {
      response.insert(name, value);
      has_type = has_type || iequals(name, "Content-Type");
    }
    if (!has_type)
      response.set(http::field::content_type, "application/json");
    response.chunked(true);
    response.keep_alive(false);
    http::response_serializer<http::empty_body> serializer{response};
    co_await http::async_write_header(stream, serializer, net::use_awaitable);
    net::steady_timer timer(ioc);
    while (!stopping) {
      std::optional<std::string> chunk = answer.stream();
      if (!chunk)
        break;
      if (!chunk->empty()) {
        co_await net::async_write(stream, http::make_chunk(net::buffer(*chunk)),
                                  net::use_awaitable);
        continue;
      }
      timer.expires_after(answer.stream_poll);
      co_await timer.async_wait(net::use_awaitable);
    }
    co_await net::async_write(stream, http::make_chunk_last(), net::use_awaitable);
  }
};

FakeHttpServer::FakeHttpServer(Handler handler) : FakeHttpServer(std::move(handler), Options{}) {}

FakeHttpServer::FakeHttpServer(Handler handler, Options options) : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  impl_->options = options;
  if (options.tls) {
    const TestCertificates& certificates = shared_test_certificates();
    impl_->ssl_ctx.emplace(net::ssl::context::tls_server);
    impl_->ssl_ctx->use_certificate_chain_file(certificates.cert_path);
    impl_->ssl_ctx->use_private_key_file(certificates.key_path, net::ssl::context::pem);
    if (!options.client_ca_file.empty()) {
      impl_->ssl_ctx->load_verify_file(options.client_ca_file);
      impl_->ssl_ctx->set_verify_mode(net::ssl::verify_peer |
                                      net::ssl::verify_fail_if_no_peer_cert);
    }
  }
  impl_->work.emplace(impl_->ioc.get_executor());
  impl_->acceptor.emplace(impl_->ioc);
  tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor->open(endpoint.protocol());
  impl_->acceptor->set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor->bind(endpoint);
  impl_->acceptor->listen();
  impl_->port = impl_->acceptor->local_endpoint().port();
  net::co_spawn(impl_->ioc, impl_->accept_loop(), net::detached);
  impl_->thread = std::thread([impl = impl_.get()] {
    try {
      impl->ioc.run();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "fake http server: event loop stopped: %s\n", e.what());
    }
  });
}

FakeHttpServer::~FakeHttpServer() {
  std::promise<void> stopped;
  auto done = stopped.get_future();
  net::post(impl_->ioc, [impl = impl_.get(), &stopped] {
    impl->stopping = true;
    error_code ignored;
    impl->acceptor->close(ignored);
    auto closers = impl->closers;
    for (auto& [id, close_socket] : closers)
      close_socket();
    impl->work.reset();
    stopped.set_value();
  });
  done.wait();
  if (impl_->thread.joinable()) {
    // Coroutines finish once their sockets fail; give them a moment, then force the loop down.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!impl_->ioc.stopped() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    impl_->ioc.stop();
    impl_->thread.join();
  }
}

unsigned short FakeHttpServer::port() const {
  return impl_->port;
}

std::string FakeHttpServer::base_url() const {
  return std::string(impl_->options.tls ? "https" : "http") +
         "://127.0.0.1:" + std::to_string(impl_->port);
}

std::string FakeHttpServer::ca_path() const {
  return impl_->options.tls ? shared_test_certificates().ca_path : std::string();
}

std::vector<FakeRequest> FakeHttpServer::requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->recorded;
}

std::size_t FakeHttpServer::request_count() const {
  std::lock_guard lock(impl_->mu);
  return impl_->recorded.size();
}

std::vector<FakeRequest> FakeHttpServer::requests_to(std::string_view method,
                                                     std::string_view path_prefix) const {
  std::lock_guard lock(impl_->mu);
  std::vector<FakeRequest> out;
  for (const auto& request : impl_->recorded)
    if (request.method == method && request.path.starts_with(path_prefix))
      out.push_back(request);
  return out;
}

void FakeHttpServer::clear_requests() {
  std::lock_guard lock(impl_->mu);
  impl_->recorded.clear();
}

}  // namespace shipmate::testing
