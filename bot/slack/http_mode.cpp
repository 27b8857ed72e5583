#include "bot/slack/http_mode.h"

#include <spdlog/spdlog.h>

#include "bot/slack/signing.h"
#include "integrations/net/http_server.h"

namespace shipmate::bot::slack {
namespace asio = boost::asio;
namespace net = integrations::net;

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
    if (decoded->reaction && reaction_)
      reaction_(*decoded->reaction);
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

struct SlackHttpServer::Impl {
  std::unique_ptr<net::HttpServer> server;
};

namespace {

SlackHttpRequest to_slack_request(const net::ServerRequest& request) {
  SlackHttpRequest incoming;
  incoming.method = request.method;
  incoming.path = request.path;
  incoming.timestamp = request.header("X-Slack-Request-Timestamp");
  incoming.signature = request.header("X-Slack-Signature");
  incoming.retry_num = request.header("X-Slack-Retry-Num");
  incoming.body = request.body;
  return incoming;
}

}  // namespace

Status mount_slack_routes(net::HttpServer& server, SlackHttpServer::Handler handler,
                          std::size_t max_body_bytes) {
  auto shared = std::make_shared<SlackHttpServer::Handler>(std::move(handler));
  for (const char* path : kSlackPaths) {
    auto mounted = server.mount(
        "POST", path,
        [shared](net::ServerRequest request) -> asio::awaitable<net::ServerResponse> {
          const SlackHttpRequest incoming = to_slack_request(request);
          SlackHttpResponse answer = (*shared)(incoming);
          net::ServerResponse response;
          response.status = answer.status;
          response.headers.emplace_back("Content-Type", answer.content_type);
          response.body = std::move(answer.body);
          co_return response;
        },
        net::RouteOptions{.max_body_bytes = max_body_bytes});
    if (!mounted)
      return mounted;
  }
  return Ok{};
}

Result<std::unique_ptr<SlackHttpServer>> SlackHttpServer::start(asio::any_io_executor executor,
                                                                const std::string& bind_address,
                                                                int port, Handler handler,
                                                                std::size_t max_body_bytes) {
  net::HttpServerOptions options;
  options.name = "slack http";
  options.bind_address = bind_address;
  options.port = port;
  auto started = net::HttpServer::start(std::move(executor), std::move(options));
  if (!started)
    return started.error();
  auto mounted = mount_slack_routes(**started, std::move(handler), max_body_bytes);
  if (!mounted)
    return mounted.error();
  auto impl = std::make_shared<Impl>();
  impl->server = std::move(*started);
  return std::unique_ptr<SlackHttpServer>(new SlackHttpServer(std::move(impl)));
}

SlackHttpServer::~SlackHttpServer() {
  stop();
}

int SlackHttpServer::port() const {
  return impl_->server->port();
}

void SlackHttpServer::stop() {
  impl_->server->stop();
}

}  // namespace shipmate::bot::slack
