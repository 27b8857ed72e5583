#include "commands/alert_intake.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>

#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "commands/incident_model.h"
#include "commands/incident_rooms.h"
#include "commands/incidents.h"
#include "common/redact.h"
#include "common/strings.h"

namespace shipmate::commands {
namespace asio = boost::asio;
namespace {

using integrations::alerts::Alert;
using integrations::alerts::AlertNotification;

constexpr std::size_t kListedPerMessage = 10;

std::string label(const AlertNotification& notification, const Alert& alert,
                  const std::string& name) {
  if (auto it = alert.labels.find(name); it != alert.labels.end())
    return it->second;
  if (auto it = notification.common_labels.find(name); it != notification.common_labels.end())
    return it->second;
  return "";
}

std::string annotation(const AlertNotification& notification, const Alert& alert,
                       const std::string& name) {
  if (auto it = alert.annotations.find(name); it != alert.annotations.end())
    return it->second;
  if (auto it = notification.common_annotations.find(name);
      it != notification.common_annotations.end())
    return it->second;
  return "";
}

int severity_from_label(const std::string& value) {
  const std::string lower = to_lower(value);
  if (auto parsed = parse_severity(lower))
    return *parsed;
  if (lower == "critical" || lower == "page")
    return 1;
  if (lower == "error" || lower == "high" || lower == "major")
    return 2;
  if (lower == "warning" || lower == "medium" || lower == "minor")
    return 3;
  return 4;
}

// "2026-12-06T16:30:00.123456789Z" -> epoch ms (fractions dropped); nullopt when unreadable.
std::optional<EpochMillis> alert_time(std::string_view text) {
  std::string copy(text);
  if (const auto dot = copy.find('.'); dot != std::string::npos && dot > 10) {
    std::size_t end = dot + 1;
    while (end < copy.size() && copy[end] >= '0' && copy[end] <= '9')
      ++end;
    copy.erase(dot, end - dot);
  }
  auto at = parse_iso8601(copy);
  if (at && *at <= 0)
    return std::nullopt;  // Alertmanager's zero time for "no end"
  return at;
}

std::string describe_alert(const AlertNotification& notification, const Alert& alert,
                           const RoutedAlert& routed) {
  std::string name = label(notification, alert, "alertname");
  if (name.empty())
    name = alert.fingerprint;
  std::string text = alert.status + ": " + name;
  if (!routed.service.empty())
    text += " (" + routed.service + ")";
  const std::string summary = annotation(notification, alert, "summary");
  if (!summary.empty())
    text += " - " + summary;
  return text;
}

std::string source_name(const std::string& source) {
  if (source == "alertmanager")
    return "Alertmanager";
  if (source == "pagerduty")
    return "PagerDuty";
  return source;
}

}  // namespace

RoutedAlert route_alert(const AlertSettings& settings, const Catalog& catalog,
                        const AlertNotification& notification, const Alert& alert) {
  RoutedAlert routed;
  routed.channel = settings.channel;
  const AlertRoute* chosen = nullptr;
  for (const auto& route : settings.routes) {
    bool all = true;
    for (const auto& [name, value] : route.match)
      all = all && label(notification, alert, name) == value;
    if (all) {
      chosen = &route;
      break;
    }
  }
  const std::string service_label = label(notification, alert, "service");
  if (catalog.find_service(service_label) != nullptr)
    routed.service = service_label;
  routed.severity = severity_from_label(label(notification, alert, "severity"));
  if (chosen != nullptr) {
    routed.matched = true;
    if (!chosen->service.empty())
      routed.service = chosen->service;
    if (chosen->severity)
      routed.severity = *chosen->severity;
    if (!chosen->channel.empty())
      routed.channel = chosen->channel;
    routed.open_incident = chosen->open_incident;
  }
  return routed;
}

namespace {

bool wants_room(Services& services, const std::string& address) {
  return services.incident_rooms != nullptr && services.incident_settings != nullptr &&
         services.incident_settings->create_rooms && services.incident_rooms->can_create(address);
}

asio::awaitable<void> settle_in_background(Services& services, std::int64_t id,
                                           std::unique_ptr<Conversation> where) {
  std::string declarer = "alerts";
  co_await settle_incident_room(services, id, *where, std::move(declarer));
}

// What a notification wrote, and what it says in chat once that is committed.
struct AlertPlan {
  AlertIngest result;
  // Lines to post, per conversation address, in arrival order.
  std::vector<std::pair<std::string, std::vector<std::string>>> posts;
};

// Everything the notification writes (dedup keys, audit records, timeline rows, incidents),
// inside the caller's transaction. Runs again from scratch when a shared transaction is retried.
AlertPlan record_alerts(Services& services, const AlertSettings& settings,
                        const AlertNotification& notification) {
  AlertPlan plan;
  AlertIngest& result = plan.result;
  auto& store = *services.incidents;
  const EpochMillis now = services.clock.now_ms();
  const std::string group_key = notification.source + "|" + notification.group_key;
  auto& posts = plan.posts;
  auto post_line = [&posts](const std::string& channel, std::string line) {
    if (channel.empty())
      return;
    auto it = std::find_if(posts.begin(), posts.end(),
                           [&](const auto& entry) { return entry.first == channel; });
    if (it == posts.end()) {
      posts.push_back({channel, {}});
      it = std::prev(posts.end());
    }
    it->second.push_back(std::move(line));
  };

  services.database.transaction([&] {
    if (!notification.delivery_id.empty() &&
        !store.remember_alert(notification.source + "|delivery|" + notification.delivery_id,
                              std::nullopt)) {
      result.duplicates = static_cast<int>(notification.alerts.size());
      return;
    }
    // Which incident an alert joins: the one its group opened, else the newest open one for its
    // service. Both are read once per notification (an alert-opened incident updates the
    // first), so a notification of many alerts costs a few indexed reads, not a scan per alert.
    std::optional<std::optional<storage::IncidentRecord>> group_incident;
    std::map<std::string, std::optional<storage::IncidentRecord>, std::less<>> service_incident;
    for (const auto& alert : notification.alerts) {
      const std::string key =
          group_key + "|" + alert.fingerprint + "|" + alert.starts_at + "|" + alert.status;
      // A key seen before is a duplicate whatever it would route to: skip the routing.
      if (store.alert_seen(key)) {
        ++result.duplicates;
        continue;
      }
      const RoutedAlert routed = route_alert(settings, services.catalog, notification, alert);
      if (!group_incident)
        group_incident = store.open_with_key(group_key);
      std::optional<storage::IncidentRecord> incident = *group_incident;
      if (!incident && !routed.service.empty()) {
        auto cached = service_incident.find(routed.service);
        if (cached == service_incident.end())
          cached = service_incident.emplace(routed.service, store.open_for_service(routed.service))
                       .first;
        incident = cached->second;
      }
      if (!store.remember_alert(key, incident ? std::optional(incident->id) : std::nullopt)) {
        ++result.duplicates;
        continue;
      }
      ++result.accepted;
      const std::string text = describe_alert(notification, alert, routed);
      if (!incident && routed.open_incident && alert.status == "firing") {
        std::string title = annotation(notification, alert, "summary");
        if (title.empty())
          title = label(notification, alert, "alertname");
        if (title.empty())
          title = "alert " + alert.fingerprint;
        storage::DeclareRequest request;
        request.title = title.substr(0, 200);
        request.severity = routed.severity;
        if (!routed.service.empty())
          request.services = {routed.service};
        request.declared_by = notification.source;
        request.detected_at = alert_time(alert.starts_at);
        if (request.detected_at && *request.detected_at > now)
          request.detected_at = now;
        request.room = routed.channel;
        request.dedup_key = group_key;
        auto declared = store.declare(request);
        incident = declared.incident;
        group_incident = incident;  // later alerts of this group join it
        if (declared.created) {
          result.incidents_opened.push_back(incident->id);
          record_incident_event(
              services, incident->id, "declared", notification.source,
              request.title + " (" + severity_label(request.severity) + ", opened by an alert)");
        }
      }
      if (incident) {
        const EpochMillis event_at =
            alert_time(alert.status == "resolved" && !alert.ends_at.empty() ? alert.ends_at
                                                                            : alert.starts_at)
                .value_or(now);
        const storage::AuditRecord record = services.audit.append(
            storage::AuditEntry{notification.source, "incident.alert",
                                storage::incident_label(incident->id), "ok", text});
        storage::TimelineEntry entry;
        entry.incident_id = incident->id;
        entry.event_at = std::min(event_at, now);
        entry.ingested_at = now;
        entry.kind = "alert";
        entry.actor = record.entry.actor;
        entry.text = record.entry.details;
        entry.audit_seq = record.seq;
        entry.source_ref = key;
        store.append(entry);
        if (std::find(result.incidents_touched.begin(), result.incidents_touched.end(),
                      incident->id) == result.incidents_touched.end())
          result.incidents_touched.push_back(incident->id);
        post_line(incident->room.empty() ? routed.channel : incident->room,
                  storage::incident_label(incident->id) + " " + text);
      } else {
        post_line(routed.channel, text);
      }
    }
  });
  return plan;
}

// After the commit: reminders planned, new incidents' cards, one message per place.
void publish_alerts(Services& services, const AlertNotification& notification,
                    const AlertPlan& plan) {
  const AlertIngest& result = plan.result;
  auto& store = *services.incidents;
  // New incidents' first status reminders (the incident alarm is told).
  for (const auto id : result.incidents_opened)
    replan_incident_reminder(services, id);
  // Chat, after everything is recorded: new incidents' cards, then one message per place.
  if (services.conversations == nullptr)
    return;
  for (const auto id : result.incidents_opened) {
    auto incident = store.get(id);
    if (!incident || incident->room.empty())
      continue;
    auto room = services.conversations->open(incident->room);
    if (!room)
      continue;
    // Where the platform makes rooms, the incident gets one (in the background: the webhook is
    // answered first); elsewhere its card goes where the alert posts.
    if (wants_room(services, incident->room)) {
      asio::co_spawn(services.executor, settle_in_background(services, id, std::move(room)),
                     asio::detached);
    } else {
      post_incident_card(services, id, *room);
    }
  }
  for (const auto id : result.incidents_touched) {
    if (std::find(result.incidents_opened.begin(), result.incidents_opened.end(), id) ==
        result.incidents_opened.end())
      refresh_incident_card(services, id);
  }
  for (const auto& [channel, lines] : plan.posts) {
    auto conversation = services.conversations->open(channel);
    if (!conversation)
      continue;
    Message message(
        Tone::warning,
        source_name(notification.source) + ": " +
            count_of(static_cast<long long>(lines.size()), "alert") +
            (notification.receiver.empty() ? std::string() : " for " + notification.receiver));
    for (std::size_t i = 0; i < lines.size() && i < kListedPerMessage; ++i)
      message.text += "\n- " + lines[i];
    if (lines.size() > kListedPerMessage)
      message.text += "\n... and " + std::to_string(lines.size() - kListedPerMessage) + " more";
    if (!notification.external_url.empty())
      message.context = notification.external_url;
    conversation->post(message);
  }
}

}  // namespace

AlertIngest ingest_alerts(Services& services, const AlertSettings& settings,
                          const AlertNotification& notification) {
  if (services.incidents == nullptr)
    return {};
  AlertPlan plan;
  services.database.transaction([&] { plan = record_alerts(services, settings, notification); });
  publish_alerts(services, notification, plan);
  return plan.result;
}

asio::awaitable<Result<AlertIngest>> ingest_alerts_grouped(Services& services,
                                                           storage::CommitBatcher& commits,
                                                           const AlertSettings& settings,
                                                           AlertNotification notification) {
  if (services.incidents == nullptr)
    co_return AlertIngest{};
  struct State {
    AlertNotification notification;
    AlertPlan plan;
  };
  auto state = std::make_shared<State>(State{std::move(notification), {}});
  auto initiation = [&services, &commits, &settings, state](auto handler) {
    using Handler = decltype(handler);
    // std::function wants a copyable callable: the one-shot handler is shared.
    auto waiter = std::make_shared<std::optional<Handler>>(std::move(handler));
    storage::CommitBatcher::Work work;
    work.write = [&services, &settings, state] {
      state->plan = record_alerts(services, settings, state->notification);
    };
    work.done = [&services, state, waiter](const Status& committed) {
      Result<AlertIngest> outcome = committed ? Result<AlertIngest>(state->plan.result)
                                              : Result<AlertIngest>(committed.error());
      if (committed)
        publish_alerts(services, state->notification, state->plan);
      // Resumed from the loop, not inside the flush that answers the rest of its batch.
      asio::post(services.executor, [waiter, outcome = std::move(outcome)]() mutable {
        Handler resume = std::move(**waiter);
        waiter->reset();
        std::move(resume)(std::move(outcome));
      });
    };
    commits.submit(std::move(work));
  };
  auto ingested =
      co_await asio::async_initiate<const asio::use_awaitable_t<>, void(Result<AlertIngest>)>(
          std::move(initiation), asio::use_awaitable);
  co_return ingested;
}

}  // namespace shipmate::commands
