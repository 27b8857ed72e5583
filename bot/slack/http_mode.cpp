#include "bot/slack/http_mode.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <map>

#include "bot/slack/signing.h"

namespace shipmate::bot::slack {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

SlackHttpHandler::SlackHttpHandler(std::string signing_secret, std::string bot_user_id,
                                   std::function<bool(const InboundCommand&)> accept,
                                   std::function<std::int64_t()> now_seconds)
    : signing_secret_(std::move(signing_secret)),
      bot_user_id_(std::move(bot_user_id)),
      accept_(std::move(accept)),
      now_seconds_(std::move(now_seconds)) {}

SlackHttpResponse SlackHttpHandler::handle(const SlackHttpRequest& request) const {
  const bool events = request.path == "/slack/events";
  const bool commands = request.path == "/slack/commands";
  const bool interactivity = request.path == "/slack/interactivity";
  if (!events && !commands && !interactivity)
    return {404, "text/plain", "not found\n"};
  if (request.method != "POST")
    return {405, "text/plain", "use POST\n"};

  // Slack checks a slash-command URL's certificate with an unsigned ssl_check request.
  if (commands && form_field(request.body, "ssl_check").value_or("") == "1") {
    return {200, "text/plain", ""};
  }
  if (auto verified = verify_signature(signing_secret_, request.timestamp, request.signature,
                                       request.body, now_seconds_());
      !verified) {
    spdlog::warn("slack http: refused {}: {}", request.path, verified.error().message);
    return {401, "text/plain", "invalid request signature\n"};
  }

  std::optional<InboundCommand> command;
  if (events) {
    auto decoded = decode_event_callback(request.body, bot_user_id_);
    if (!decoded) {
      spdlog::warn("slack http: malformed event: {}", decoded.error().message);
      return {400, "text/plain", "malformed event\n"};
    }
    if (!decoded->challenge.empty()) {
      return {200, "text/plain", decoded->challenge};
    }
    command = decoded->command;
  } else if (commands) {
    auto decoded = decode_slash_command_form(request.body);
    if (!decoded) {
      spdlog::warn("slack http: malformed slash command: {}", decoded.error().message);
      return {400, "text/plain", "malformed slash command\n"};
    }
    command = *decoded;
  } else {
    auto decoded = decode_interaction_form(request.body);
    if (!decoded) {
      spdlog::warn("slack http: malformed interaction: {}", decoded.error().message);
      return {400, "text/plain", "malformed interaction\n"};
    }
    command = *decoded;
  }
  if (command && !accept_(*command)) {
    return {500, "text/plain", "try again\n"};
  }
  return {200, "text/plain", ""};
}

struct SlackHttpServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor executor_in, Handler handler_in, std::size_t max_body)
      : executor(std::move(executor_in)),
        acceptor(executor),
        handler(std::move(handler_in)),
        max_body_bytes(max_body) {}

  static asio::awaitable<void> accept_loop(std::shared_ptr<Impl> self) {
    while (!self->stopped) {
      boost::system::error_code error;
      tcp::socket socket =
          co_await self->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, error));
      if (error || self->stopped) {
        if (error == asio::error::operation_aborted || self->stopped)
          co_return;
        continue;
      }
      const auto id = self->next_id++;
      auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
      self->connections[id] = stream;
      asio::co_spawn(self->executor, serve(self, stream, id), asio::detached);
    }
  }

  static asio::awaitable<void> serve(std::shared_ptr<Impl> self,
                                     std::shared_ptr<beast::tcp_stream> stream, std::uint64_t id) {
    beast::flat_buffer buffer;
    while (!self->stopped) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(self->max_body_bytes);
      stream->expires_after(std::chrono::seconds(10));
      boost::system::error_code error;
      co_await http::async_read(*stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, error));
      http::response<http::string_body> response;
      bool keep_alive = false;
      if (error == http::error::body_limit) {
        response.result(http::status::payload_too_large);
        response.body() = "request body too large\n";
      } else if (error) {
        break;
      } else {
        const auto& request = parser.get();
        SlackHttpRequest incoming;
        incoming.method = std::string(request.method_string());
        std::string target(request.target());
        incoming.path = target.substr(0, target.find('?'));
        incoming.timestamp = std::string(request["X-Slack-Request-Timestamp"]);
        incoming.signature = std::string(request["X-Slack-Signature"]);
        incoming.retry_num = std::string(request["X-Slack-Retry-Num"]);
        incoming.body = request.body();
        SlackHttpResponse answer = self->handler(incoming);
        response.result(static_cast<http::status>(answer.status));
        response.set(http::field::content_type, answer.content_type);
        response.body() = std::move(answer.body);
        keep_alive = request.keep_alive();
        response.version(request.version());
      }
      response.keep_alive(keep_alive);
      response.prepare_payload();
      stream->expires_after(std::chrono::seconds(10));
      co_await http::async_write(*stream, response,
                                 asio::redirect_error(asio::use_awaitable, error));
      if (error || !keep_alive)
        break;
    }
    boost::system::error_code ignored;
    stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream->close();
    self->connections.erase(id);
  }

  asio::any_io_executor executor;
  tcp::acceptor acceptor;
  Handler handler;
  std::size_t max_body_bytes;
  std::map<std::uint64_t, std::weak_ptr<beast::tcp_stream>> connections;
  std::uint64_t next_id = 1;
  bool stopped = false;
};

Result<std::unique_ptr<SlackHttpServer>> SlackHttpServer::start(asio::any_io_executor executor,
                                                                const std::string& bind_address,
                                                                int port, Handler handler,
                                                                std::size_t max_body_bytes) {
  auto impl = std::make_shared<Impl>(executor, std::move(handler), max_body_bytes);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(bind_address, ec);
  if (ec)
    return make_error("slack http: '" + bind_address + "' is not an IP address");
  tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec)
    impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec)
    impl->acceptor.bind(endpoint, ec);
  if (!ec)
    impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec == asio::error::address_in_use) {
    return make_error("slack http: " + bind_address + ":" + std::to_string(port) +
                      " is already in use by another process");
  }
  if (ec) {
    return make_error("slack http: cannot listen on " + bind_address + ":" + std::to_string(port) +
                      ": " + ec.message());
  }
  asio::co_spawn(executor, Impl::accept_loop(impl), asio::detached);
  return std::unique_ptr<SlackHttpServer>(new SlackHttpServer(std::move(impl)));
}

SlackHttpServer::~SlackHttpServer() {
  stop();
}

int SlackHttpServer::port() const {
  boost::system::error_code ec;
  auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

void SlackHttpServer::stop() {
  if (impl_->stopped)
    return;
  impl_->stopped = true;
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
  for (auto& [id, weak] : impl_->connections) {
    if (auto stream = weak.lock())
      stream->socket().close(ignored);
  }
}

}  // namespace shipmate::bot::slack
