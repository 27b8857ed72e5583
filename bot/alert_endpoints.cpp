#include "bot/alert_endpoints.h"

#include <spdlog/spdlog.h>

#include "common/metrics.h"
#include "common/redact.h"
#include "integrations/net/http_server.h"
#include "storage/commit_batcher.h"

namespace shipmate::bot {
namespace {

namespace net = integrations::net;
namespace alerts = integrations::alerts;

// Alertmanager batches up to a few thousand alerts per notification; 4 MiB leaves room.
constexpr std::size_t kMaxAlertBody = 4u << 20;

net::ServerResponse refuse(const Error& error) {
  const int status = error.kind == ErrorKind::auth ? 401 : 400;
  return net::ServerResponse::text(status, redact(error.message) + "\n");
}

net::ServerResponse answer(commands::Services& services, const std::string& source,
                           const std::string& group_key, const commands::AlertIngest& result) {
  if (services.meters != nullptr) {
    // Alert notifications are rare next to commands: the series are looked up per notification.
    const std::vector<std::string> label{"source"};
    services.meters
        ->counter("shipmate_alerts_received_total",
                  "Alerts received in notifications, by source (alertmanager, pagerduty, ...).",
                  label, {source})
        .inc(static_cast<std::uint64_t>(result.accepted + result.duplicates));
    services.meters
        ->counter("shipmate_alerts_deduplicated_total",
                  "Alerts recognised as already acted on, by source.", label, {source})
        .inc(static_cast<std::uint64_t>(result.duplicates));
  }
  spdlog::info("alerts: {} from {}: {} new, {} duplicate, {} incident(s) opened", group_key, source,
               result.accepted, result.duplicates, result.incidents_opened.size());
  return net::ServerResponse::text(200, "accepted " + std::to_string(result.accepted) +
                                            ", duplicates " + std::to_string(result.duplicates) +
                                            "\n");
}

// Recorded in the next shared transaction when there is a CommitBatcher, else in its own; the
// answer goes out after the commit. A failed transaction wrote nothing of it: 503, sent again.
boost::asio::awaitable<net::ServerResponse> ingest(commands::Services& services,
                                                   storage::CommitBatcher* commits,
                                                   const commands::AlertSettings& settings,
                                                   alerts::AlertNotification notification) {
  std::string source = notification.source;
  std::string group_key = notification.group_key;
  if (commits == nullptr) {
    const auto result = commands::ingest_alerts(services, settings, notification);
    co_return answer(services, source, group_key, result);
  }
  auto result = co_await commands::ingest_alerts_grouped(services, *commits, settings,
                                                         std::move(notification));
  if (!result) {
    spdlog::warn("alerts: {} from {}: {}", group_key, source, redact(result.error().message));
    co_return net::ServerResponse::text(
        503, redact(result.error().message) + "; nothing of it was recorded, send it again\n");
  }
  co_return answer(services, source, group_key, *result);
}

}  // namespace

bool wants_alert_routes(const commands::AlertSettings& settings) {
  return !alert_paths(settings).empty();
}

std::vector<std::string> alert_paths(const commands::AlertSettings& settings) {
  std::vector<std::string> paths;
  if (!settings.bearer_token.empty() || !settings.basic_user.empty())
    paths.push_back("/alerts/alertmanager");
  if (!settings.pagerduty_secrets.empty())
    paths.push_back("/alerts/pagerduty");
  for (const auto& [name, secrets] : settings.generic_secrets)
    paths.push_back("/alerts/generic/" + name);
  return paths;
}

void withdraw_alert_routes(net::HttpServer& server, const commands::AlertSettings& settings) {
  for (const auto& path : alert_paths(settings))
    server.withdraw("POST", path);
}

Status mount_alert_routes(net::HttpServer& server, commands::Services& services,
                          const commands::AlertSettings& settings,
                          storage::CommitBatcher* commits) {
  const net::RouteOptions options{.max_body_bytes = kMaxAlertBody};
  if (!settings.bearer_token.empty() || !settings.basic_user.empty()) {
    auto mounted = server.mount(
        "POST", "/alerts/alertmanager",
        [&services, &settings,
         commits](net::ServerRequest request) -> boost::asio::awaitable<net::ServerResponse> {
          if (auto auth = alerts::verify_alertmanager_auth(
                  request.header("Authorization"), settings.bearer_token, settings.basic_user,
                  settings.basic_password);
              !auth)
            co_return refuse(auth.error());
          auto notification = alerts::parse_alertmanager(request.body);
          if (!notification)
            co_return refuse(notification.error());
          alerts::AlertNotification decoded = std::move(*notification);
          auto response = co_await ingest(services, commits, settings, std::move(decoded));
          co_return response;
        },
        options);
    if (!mounted)
      return mounted;
  }
  if (!settings.pagerduty_secrets.empty()) {
    auto mounted = server.mount(
        "POST", "/alerts/pagerduty",
        [&services, &settings,
         commits](net::ServerRequest request) -> boost::asio::awaitable<net::ServerResponse> {
          if (auto signature =
                  alerts::verify_pagerduty_signature(request.header("X-PagerDuty-Signature"),
                                                     request.body, settings.pagerduty_secrets);
              !signature)
            co_return refuse(signature.error());
          auto notification = alerts::parse_pagerduty(request.body);
          if (!notification)
            co_return refuse(notification.error());
          alerts::AlertNotification decoded = std::move(*notification);
          auto response = co_await ingest(services, commits, settings, std::move(decoded));
          co_return response;
        },
        options);
    if (!mounted)
      return mounted;
  }
  for (const auto& [name, secrets] : settings.generic_secrets) {
    auto mounted = server.mount(
        "POST", "/alerts/generic/" + name,
        [&services, &settings, commits, name = name, &secrets = secrets](
            net::ServerRequest request) -> boost::asio::awaitable<net::ServerResponse> {
          if (auto signature = alerts::verify_generic_signature(
                  request.header("X-Shipmate-Signature"), request.body, secrets);
              !signature)
            co_return refuse(signature.error());
          auto notification = alerts::parse_generic(request.body, name);
          if (!notification)
            co_return refuse(notification.error());
          alerts::AlertNotification decoded = std::move(*notification);
          auto response = co_await ingest(services, commits, settings, std::move(decoded));
          co_return response;
        },
        options);
    if (!mounted)
      return mounted;
  }
  return Ok{};
}

}  // namespace shipmate::bot
