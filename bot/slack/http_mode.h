// Slack over HTTP, for teams that cannot use Socket Mode: the Events API, slash commands and
// interactivity delivered as signed POST requests.
//
// Contract
// - SlackHttpHandler is pure (no sockets, time passed in): it verifies the v0 signature of every
//   request except Slack's unsigned `ssl_check`, decodes the body, hands commands to `accept`, and
//   says what to answer. It answers within the 3-second budget because it never runs a command
//   itself: `accept` records and schedules it.
// - Routes: POST /slack/events, /slack/commands, /slack/interactivity. Anything else is 404;
//   other methods 405 (the server decides those before calling the handler).
// - Refusals: bad or missing signature, stale timestamp (401, with the reason in the log, not in
//   the body), malformed body (400). `accept` returning false (storage trouble) gives 500, so
//   Slack retries later.
// - The endpoints are mounted on integrations/net's HttpServer (keep-alive, timeouts, a body
//   limit per route). mount_slack_routes() puts them on a server shared with other owners;
//   SlackHttpServer is a server of its own with only these routes. A body over the limit
//   (default 1 MiB) is answered 413 with a one-line reason before the handler sees it; a path
//   that is not Slack's is 404 and other methods 405, both decided by the server.
//   Threading: event-loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "bot/slack/slack_protocol.h"
#include "common/result.h"

namespace shipmate::integrations::net {
class HttpServer;
}

namespace shipmate::bot::slack {

struct SlackHttpRequest {
  std::string method = "POST";
  std::string path;       // target without the query string
  std::string timestamp;  // X-Slack-Request-Timestamp
  std::string signature;  // X-Slack-Signature
  std::string retry_num;  // X-Slack-Retry-Num, when Slack redelivers
  std::string body;
};

struct SlackHttpResponse {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
};

class SlackHttpHandler {
 public:
  // `accept` records a command for execution; false means it could not be recorded.
  SlackHttpHandler(std::string signing_secret, std::string bot_user_id,
                   std::function<bool(const InboundCommand&)> accept,
                   std::function<std::int64_t()> now_seconds);
  SlackHttpResponse handle(const SlackHttpRequest& request) const;
  // reaction_added events (after the signature check) go here; none: they are ignored.
  void on_reaction(std::function<void(const InboundReaction&)> handler) {
    reaction_ = std::move(handler);
  }

 private:
  std::function<void(const InboundReaction&)> reaction_;
  std::string signing_secret_;
  std::string bot_user_id_;
  std::function<bool(const InboundCommand&)> accept_;
  std::function<std::int64_t()> now_seconds_;
};

// Slack's three endpoints, POST only.
inline constexpr const char* kSlackPaths[] = {"/slack/events", "/slack/commands",
                                              "/slack/interactivity"};

class SlackHttpServer {
 public:
  using Handler = std::function<SlackHttpResponse(const SlackHttpRequest&)>;
  // Listens on bind_address:port (port 0 picks a free one). Fails with a clear message when the
  // address is in use.
  static Result<std::unique_ptr<SlackHttpServer>> start(boost::asio::any_io_executor executor,
                                                        const std::string& bind_address, int port,
                                                        Handler handler,
                                                        std::size_t max_body_bytes = 1 << 20);
  ~SlackHttpServer();
  int port() const;
  void stop();

 private:
  struct Impl;
  explicit SlackHttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

// Mounts POST kSlackPaths on `server`, each handing a SlackHttpRequest to `handler`. Fails when
// another owner already mounted one of them.
Status mount_slack_routes(integrations::net::HttpServer& server, SlackHttpServer::Handler handler,
                          std::size_t max_body_bytes = 1 << 20);

}  // namespace shipmate::bot::slack
