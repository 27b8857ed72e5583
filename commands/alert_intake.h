// Alerts in: what a decoded notification (integrations/alerts/alert_payloads.h) does to incidents.
//
// Each alert of a notification is keyed by (source, group key, fingerprint, startsAt, status),
// and a key already seen is a duplicate (Alertmanager delivers at least once, and twice from an
// HA pair; a PagerDuty webhook id is a key of its own). Because an Alertmanager notification is
// a snapshot of its group, a repeated snapshot adds nothing, and a changed one adds exactly the
// alerts that started or resolved since.
//
// For each new alert the first route whose `match` labels all equal the alert's (common labels
// and its own) decides: the service (the route's, else the alert's `service` label when it is a
// configured service), the severity (the route's, else the `severity` label: critical -> sev1,
// error/high -> sev2, warning -> sev3, else sev4, or sevN as written), where to post, and whether
// a firing alert opens an incident. The alert goes on the timeline of the incident its group
// opened, else of an open incident for its service; it opens one when its route says so.
//
// A notification's chat output is grouped: one message per conversation per notification, never
// one per alert (at most 10 alerts listed, then "and N more").
//
// Contract: event-loop thread (Services). ingest_alerts() writes everything (dedup keys, audit
// records, timeline rows, incidents) in one transaction before it posts anything; posting only
// queues (Conversation never blocks), so a webhook handler answers as soon as it returns.
// ingest_alerts_grouped() (the webhooks' path) writes the same into the next transaction of a
// storage::CommitBatcher, shared with the notifications that arrived with it, and resumes once that
// committed and the chat work is queued; a second copy of an alert in the same transaction is a
// duplicate there too (the writes run one after another on one connection). When the shared
// transaction fails it resumes with the Error (nothing of the notification was written: answer
// 503 and the sender delivers it again).
// Routing is pure (route_alert) and tested row by row.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "commands/context.h"
#include "common/result.h"
#include "integrations/alerts/alert_payloads.h"
#include "storage/commit_batcher.h"

namespace shipmate::commands {

struct AlertRoute {
  std::map<std::string, std::string> match;  // label -> value; all must be equal
  std::string service = {};
  std::optional<int> severity = {};
  std::string channel = {};  // a conversation address; "" for the alerts default
  bool open_incident = false;
};

struct AlertSettings {
  std::string bind = "127.0.0.1";
  int port = -1;             // -1: no alert endpoint; 0: any free port
  std::string channel = {};  // where alerts post and alert-opened incidents live by default
  std::string bearer_token = {};
  std::string basic_user = {};
  std::string basic_password = {};
  std::vector<std::string> pagerduty_secrets = {};
  std::map<std::string, std::vector<std::string>> generic_secrets = {};  // name -> secrets
  std::vector<AlertRoute> routes = {};
};

struct RoutedAlert {
  std::string service;  // "" when none is known
  int severity = 4;
  std::string channel;
  bool open_incident = false;
  bool matched = false;  // a route matched (otherwise defaults)
};
RoutedAlert route_alert(const AlertSettings& settings, const Catalog& catalog,
                        const integrations::alerts::AlertNotification& notification,
                        const integrations::alerts::Alert& alert);

struct AlertIngest {
  int accepted = 0;    // new alerts acted on
  int duplicates = 0;  // keys seen before
  std::vector<std::int64_t> incidents_opened;
  std::vector<std::int64_t> incidents_touched;
};

AlertIngest ingest_alerts(Services& services, const AlertSettings& settings,
                          const integrations::alerts::AlertNotification& notification);

// The same through `commits`: answered after the shared transaction committed (see above).
boost::asio::awaitable<Result<AlertIngest>> ingest_alerts_grouped(
    Services& services, storage::CommitBatcher& commits, const AlertSettings& settings,
    integrations::alerts::AlertNotification notification);

}  // namespace shipmate::commands
