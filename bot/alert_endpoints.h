// The alert webhooks, mounted on an HttpServer (integrations/net/http_server.h):
//
//   POST /alerts/alertmanager     Alertmanager webhook v4; Authorization: Bearer or Basic
//   POST /alerts/pagerduty        PagerDuty v3; X-PagerDuty-Signature (any configured secret)
//   POST /alerts/generic/<name>   the generic JSON form; X-Shipmate-Signature: sha256=<hex>
//
// Only the endpoints whose credentials are configured are mounted. Each answers as soon as the
// notification is recorded (commands/alert_intake.h; chat posts are queued). With `commits`, the
// notifications that arrive together share one transaction (storage/commit_batcher.h) and each is
// answered after it committed; 503 with the reason when it failed (nothing of it was written, so
// the sender's retry loses nothing). Without, each notification commits on its own.
// 200 "accepted N, duplicates M"; 401 with a one-line reason for missing or wrong credentials
// or signatures; 400 with a one-line reason for a body that does not decode. A refused request
// changes nothing.
//
// The routes go on the listener bot/listeners.h chooses: the shared http: listener, or the
// address under alerts listen:. At shutdown the App withdraws them (503 from then on).
//
// Contract: event-loop thread; `services` and `settings` outlive the server's routes.
#pragma once

#include <string>
#include <vector>

#include "commands/alert_intake.h"
#include "common/result.h"

namespace shipmate::integrations::net {
class HttpServer;
}

namespace shipmate::bot {

Status mount_alert_routes(integrations::net::HttpServer& server, commands::Services& services,
                          const commands::AlertSettings& settings,
                          storage::CommitBatcher* commits = nullptr);
// The paths mount_alert_routes() serves for `settings`; empty when no credentials are set.
std::vector<std::string> alert_paths(const commands::AlertSettings& settings);
bool wants_alert_routes(const commands::AlertSettings& settings);
void withdraw_alert_routes(integrations::net::HttpServer& server,
                           const commands::AlertSettings& settings);

}  // namespace shipmate::bot
