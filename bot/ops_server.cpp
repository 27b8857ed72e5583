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

Status mount_ops_routes(net::HttpServer& server, OpsProbes probes) {
  // Probes and scrapers send a small request and wait; a slow or crowding sender is not one.
  const net::RouteOptions small{
      .max_body_bytes = 1024, .max_in_flight = 16, .body_timeout = std::chrono::seconds(5)};
  auto probes_ref = std::make_shared<OpsProbes>(std::move(probes));
  auto mounted = server.mount(
      "GET", "/healthz",
      [probes_ref](net::ServerRequest) -> asio::awaitable<net::ServerResponse> {
        co_return json_answer(probes_ref->liveness());
      },
      small);
  if (!mounted)
    return mounted;
  mounted = server.mount(
      "GET", "/readyz",
      [probes_ref](net::ServerRequest) -> asio::awaitable<net::ServerResponse> {
        co_return json_answer(probes_ref->readiness());
      },
      small);
  if (!mounted)
    return mounted;
  mounted = server.mount(
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
    return mounted;
  return Ok{};
}

}  // namespace shipmate::bot
