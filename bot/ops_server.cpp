#include "bot/ops_server.h"

#include <boost/asio/awaitable.hpp>

#include "integrations/net/http_server.h"

namespace shipmate::bot {
namespace net = integrations::net;
namespace asio = boost::asio;

namespace {

net::ServerResponse json_answer(const HealthReport& report) {
  net::ServerResponse response;
  response.status = report.http_status();
  response.headers = {{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}};
  response.body = report.to_json();
  return response;
}

}  // namespace

Result<std::unique_ptr<OpsServer>> OpsServer::start(asio::any_io_executor executor,
                                                    const OpsConfig& config, OpsProbes probes) {
  net::HttpServerOptions options;
  options.name = "ops http";
  options.bind_address = config.bind;
  options.port = config.port;
  // Probes and scrapers send a request and wait; a slow sender is not one of them.
  options.header_timeout = std::chrono::seconds(5);
  options.body_timeout = std::chrono::seconds(5);
  auto started = net::HttpServer::start(std::move(executor), std::move(options));
  if (!started)
    return started.error();
  std::unique_ptr<OpsServer> self(new OpsServer());
  self->server_ = std::move(*started);
  self->probes_ = std::make_shared<OpsProbes>(std::move(probes));
  const net::RouteOptions small{1024};
  auto probes_ref = self->probes_;
  auto mounted = self->server_->mount(
      "GET", "/healthz",
      [probes_ref](net::ServerRequest) -> asio::awaitable<net::ServerResponse> {
        co_return json_answer(probes_ref->liveness());
      },
      small);
  if (!mounted)
    return mounted.error();
  mounted = self->server_->mount(
      "GET", "/readyz",
      [probes_ref](net::ServerRequest) -> asio::awaitable<net::ServerResponse> {
        co_return json_answer(probes_ref->readiness());
      },
      small);
  if (!mounted)
    return mounted.error();
  mounted = self->server_->mount(
      "GET", "/metrics",
      [probes_ref](net::ServerRequest) -> asio::awaitable<net::ServerResponse> {
        if (!probes_ref->metrics)
          co_return net::ServerResponse::text(404, "metrics are not enabled\n");
        net::ServerResponse response;
        response.headers = {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"},
                            {"Cache-Control", "no-store"}};
        response.body = probes_ref->metrics();
        co_return response;
      },
      small);
  if (!mounted)
    return mounted.error();
  return self;
}

OpsServer::~OpsServer() {
  stop();
}

int OpsServer::port() const {
  return server_ ? server_->port() : 0;
}

void OpsServer::stop() {
  if (server_)
    server_->stop();
}

}  // namespace shipmate::bot
