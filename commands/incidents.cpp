#include "commands/incidents.h"

#include "commands/incident_room_ops.h"
#include "commands/timed_jobs.h"

#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "common/redact.h"
#include "common/strings.h"

namespace shipmate::commands {

std::int64_t record_incident_event(Services& services, std::int64_t incident_id,
                                   std::string_view kind, std::string_view actor,
                                   std::string_view text, std::optional<EpochMillis> event_at,
                                   std::string_view source_ref) {
  const EpochMillis now = services.clock.now_ms();
  return services.database.transaction([&] {
    const storage::AuditRecord record = services.audit.append(
        storage::AuditEntry{std::string(actor), "incident." + std::string(kind),
                            storage::incident_label(incident_id), "ok", std::string(text)});
    storage::TimelineEntry entry;
    entry.incident_id = incident_id;
    entry.event_at = event_at.value_or(now);
    entry.ingested_at = now;
    entry.kind = std::string(kind);
    entry.actor = record.entry.actor;
    entry.text = record.entry.details;  // as redacted and chained
    entry.audit_seq = record.seq;
    entry.source_ref = std::string(source_ref);
    services.incidents->append(entry);
    return record.seq;
  });
}

void announce(Services& services, std::int64_t incident_id, std::string_view kind, std::string key,
              const Message& message) {
  const auto incident = services.incidents->get(incident_id);
  if (!incident)
    return;
  storage::Announcement announcement;
  announcement.key = std::move(key);
  announcement.incident_id = incident_id;
  announcement.kind = std::string(kind);
  announcement.room = incident->room;
  announcement.tone = static_cast<int>(message.tone);
  announcement.text = message.text;
  announcement.created_at = services.clock.now_ms();
  services.incidents->add_announcement(announcement);
}

int deliver_announcements(Services& services, Conversation* here) {
  if (services.incidents == nullptr)
    return 0;
  int delivered = 0;
  // Pages of pending announcements until a page delivers nothing new; those whose room no
  // running transport serves stay pending (and are skipped on later pages).
  std::set<std::int64_t> waiting;
  for (bool progressed = true; progressed;) {
    progressed = false;
    const int page = 100 + static_cast<int>(waiting.size());
    for (const auto& pending : services.incidents->pending_announcements(page)) {
      if (waiting.contains(pending.id))
        continue;
      std::unique_ptr<Conversation> opened;
      Conversation* room = nullptr;
      if (here != nullptr && here->address() == pending.room) {
        room = here;
      } else if (services.conversations != nullptr) {
        opened = services.conversations->open(pending.room);
        room = opened.get();
      }
      if (room == nullptr) {
        waiting.insert(pending.id);  // its transport is not running now: it stays pending
        continue;
      }
      services.database.transaction(
          [&] { services.incidents->mark_announced(pending.id, "", services.clock.now_ms()); });
      room->post(Message(static_cast<Tone>(pending.tone), pending.text));
      ++delivered;
      progressed = true;
    }
  }
  return delivered;
}

void post_incident_card(Services& services, std::int64_t incident_id, Conversation& room) {
  auto incident = services.incidents->get(incident_id);
  if (!incident)
    return;
  const auto roles = services.incidents->roles(incident_id);
  const auto linked = services.incidents->linked_deploys(incident_id);
  const MessageRef ref =
      room.post(incident_card(IncidentView{*incident, roles, linked}, services.clock.now_ms()));
  services.incidents->set_room(incident_id, room.address(), ref);
}

void refresh_incident_card(Services& services, std::int64_t incident_id, Conversation* here) {
  if (services.incidents == nullptr)
    return;
  auto incident = services.incidents->get(incident_id);
  if (!incident || incident->card_ref.empty())
    return;
  const auto roles = services.incidents->roles(incident_id);
  const auto linked = services.incidents->linked_deploys(incident_id);
  const Message card =
      incident_card(IncidentView{*incident, roles, linked}, services.clock.now_ms());
  if (here != nullptr && here->address() == incident->room) {
    here->update(incident->card_ref, card);
    return;
  }
  if (services.conversations == nullptr)
    return;
  if (auto conversation = services.conversations->open(incident->room))
    conversation->update(incident->card_ref, card);
}

void replan_incident_reminder(Services& services, std::int64_t incident_id) {
  if (services.incidents == nullptr || services.incident_settings == nullptr)
    return;
  auto incident = services.incidents->get(incident_id);
  if (!incident)
    return;
  services.incidents->set_next_reminder(incident_id,
                                        next_reminder_due(*incident, *services.incident_settings));
  timed_deadlines_changed(services);
}

namespace {

// Carries out one reminder decision for `incident`; true when a reminder was recorded.
bool apply_reminder_step(Services& services, const storage::IncidentRecord& incident,
                         const ReminderStep& step, EpochMillis now) {
  if (!step.remind) {
    services.incidents->set_next_reminder(step.incident_id, step.next_due);
    return false;
  }
  const auto& roles = services.incident_settings->roles;
  std::string commander;
  for (const auto& held : services.incidents->roles(incident.id)) {
    if (!roles.empty() && held.role == roles.front())
      commander = held.user_id;
  }
  // The next due time, the timeline record and the reminder itself commit together; the
  // reminder is keyed by the due time it answers, so it exists once.
  const std::string key = "reminder:" + storage::incident_label(incident.id) + ":" +
                          std::to_string(incident.next_reminder_at.value_or(now));
  services.database.transaction([&] {
    services.incidents->set_next_reminder(step.incident_id, step.next_due);
    record_incident_event(services, incident.id, "reminder", "shipmate",
                          "no status update for " + format_duration(now - incident.last_update_at) +
                              (commander.empty() ? "" : "; reminded " + commander));
    announce(
        services, incident.id, "reminder", key,
        warning((commander.empty() ? std::string("Nobody is commander of ") : commander + ": ") +
                storage::incident_label(incident.id) + " (" + severity_label(incident.severity) +
                ") has had no status update for " + format_duration(now - incident.last_update_at) +
                ". Post one with: incident status <state> \"what we know\""));
  });
  return true;
}

}  // namespace

int send_due_reminders(Services& services) {
  if (services.incidents == nullptr || services.incident_settings == nullptr)
    return 0;
  constexpr int kPage = 200;
  int reminded = 0;
  for (bool more = true; more;) {
    const EpochMillis now = services.clock.now_ms();
    const auto due = services.incidents->due_reminders(now, kPage);
    more = static_cast<int>(due.size()) == kPage;
    for (const auto& step : plan_reminders(due, *services.incident_settings, now)) {
      const auto incident = std::find_if(due.begin(), due.end(), [&](const auto& candidate) {
        return candidate.id == step.incident_id;
      });
      if (incident == due.end()) {
        services.incidents->set_next_reminder(step.incident_id, step.next_due);
        continue;
      }
      if (apply_reminder_step(services, *incident, step, now))
        ++reminded;
    }
  }
  if (reminded > 0)
    deliver_announcements(services);
  return reminded;
}

bool remind_incident(Services& services, std::int64_t incident_id, EpochMillis due_at) {
  if (services.incidents == nullptr || services.incident_settings == nullptr)
    return false;
  const EpochMillis now = services.clock.now_ms();
  const auto incident = services.incidents->get(incident_id);
  if (!incident || incident->status == "resolved" || incident->next_reminder_at != due_at ||
      due_at > now)
    return false;
  bool reminded = false;
  for (const auto& step : plan_reminders({*incident}, *services.incident_settings, now))
    reminded = apply_reminder_step(services, *incident, step, now) || reminded;
  if (reminded)
    deliver_announcements(services);
  return reminded;
}

void run_incident_upkeep(Services& services, IncidentTimelineFeed* feed) {
  if (services.incidents == nullptr || services.incident_settings == nullptr)
    return;
  deliver_announcements(services);
  if (feed != nullptr) {
    for (const auto id : feed->take_touched())
      refresh_incident_card(services, id);
  }
  if (services.room_ops != nullptr && !services.room_ops->due(services.clock.now_ms(), 1).empty()) {
    boost::asio::co_spawn(
        services.executor,
        [&services]() -> boost::asio::awaitable<void> {
          try {
            co_await retry_room_ops(services);
          } catch (const std::exception& e) {
            spdlog::error("incidents: room operations failed: {}", redact(e.what()));
          }
        },
        boost::asio::detached);
  }
}

void run_incident_watch(Services& services, IncidentTimelineFeed* feed) {
  send_due_reminders(services);
  run_incident_upkeep(services, feed);
}

Result<storage::IncidentRecord> incident_for_command(Services& services, const ParsedArgs& args,
                                                     const Conversation& conversation) {
  if (args.has("id")) {
    const auto id = storage::parse_incident_id(args.get("id"));
    if (!id)
      return make_error("'" + args.get("id") + "' is not an incident id (e.g. INC-3 or 3)",
                        ErrorKind::invalid);
    auto incident = services.incidents->get(*id);
    if (!incident)
      return make_error("there is no incident " + storage::incident_label(*id),
                        ErrorKind::not_found);
    return *incident;
  }
  if (auto here = services.incidents->open_in_room(conversation.address()))
    return *here;
  const auto open = services.incidents->open_incidents();
  if (open.size() == 1)
    return open.front();
  if (open.empty())
    return make_error("no incident is open (declare one with: incident declare \"title\" sev2)",
                      ErrorKind::not_found);
  std::vector<std::string> ids;
  for (const auto& incident : open)
    ids.push_back(storage::incident_label(incident.id));
  return make_error(count_of(static_cast<long long>(open.size()), "incident") + " are open (" +
                        join(ids, ", ") + "): say which with --id",
                    ErrorKind::invalid);
}

IncidentTimelineFeed::IncidentTimelineFeed(storage::Database& db, storage::IncidentStore& incidents,
                                           const IncidentSettings& settings)
    : db_(db), incidents_(incidents), settings_(settings) {
  db_.add_rollback_observer(this);
}

IncidentTimelineFeed::~IncidentTimelineFeed() {
  db_.remove_rollback_observer(this);
}

void IncidentTimelineFeed::audit_appended(const storage::AuditRecord& record) {
  if (record.entry.action.starts_with("incident.")) {
    open_.reset();
    return;
  }
  const auto event = engine_event(record);
  if (!event)
    return;
  if (!open_)
    open_ = incidents_.open_incidents();
  bool stale = false;
  for (const auto& incident : *open_) {
    if (!event_touches(*event, incident, settings_.timeline_all_services))
      continue;
    storage::TimelineEntry entry;
    entry.incident_id = incident.id;
    entry.event_at = record.at;
    entry.ingested_at = record.at;
    entry.kind = event->kind;
    entry.actor = record.entry.actor;
    entry.text = event->text;
    entry.audit_seq = record.seq;
    entry.source_ref = "audit:" + std::to_string(record.seq);
    if (!incidents_.append(entry))
      stale = true;  // a repeat, or an incident that is gone: read the list anew
    else if (std::find(touched_.begin(), touched_.end(), incident.id) == touched_.end())
      touched_.push_back(incident.id);
  }
  if (stale)
    open_.reset();
}

std::vector<std::int64_t> IncidentTimelineFeed::take_touched() {
  return std::exchange(touched_, {});
}

}  // namespace shipmate::commands
