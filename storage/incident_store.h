// Incidents, their roles, their timeline and the deploys linked to them.
//
// An incident is a row in `incidents`; its roles (commander, comms, scribe and custom ones) are
// rows in `incident_roles`; its timeline is `incident_timeline`, one row per event with the time
// the event happened (`event_at`, which a person may set earlier than when Shipmate heard of it)
// and the time Shipmate recorded it (`ingested_at`). Every timeline row names the audit record
// that carries it (`audit_seq`), so the hash-chained audit log covers the timeline: verify_
// timeline() checks each row against its record.
//
// Contract
// - The store does not judge transitions (commands/incident_model.h does); it records them.
// - declare() is idempotent twice over: a `dedup_key` (an alert group) names at most one open
//   incident, and the same person declaring the same title again within `window_ms` gets the
//   incident they already declared (a double-clicked button, a retried command).
// - Text passes through redact() before it is written.
// - Threading and errors as in database.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "storage/database.h"

namespace shipmate::storage {

struct IncidentRecord {
  std::int64_t id = 0;
  std::string title;
  int severity = 3;                      // 1 (worst) .. 4
  std::string status = "investigating";  // investigating, identified, monitoring, resolved
  std::vector<std::string> services;
  std::string declared_by;
  EpochMillis declared_at = 0;
  std::optional<EpochMillis> detected_at;
  std::optional<EpochMillis> acknowledged_at;
  std::optional<EpochMillis> mitigated_at;
  std::optional<EpochMillis> resolved_at;
  std::string room;      // the conversation address the incident lives in
  std::string card_ref;  // its summary card there (a MessageRef); empty until posted
  std::string latest_update;
  EpochMillis last_update_at = 0;  // the last status update (the cadence counts from it)
  std::string summary;             // set on resolve
  std::string dedup_key;           // "" for incidents declared by people
  std::optional<EpochMillis> next_reminder_at;
  bool is_private = false;                 // `incident declare --private`: seen by its people only
  std::optional<EpochMillis> archive_at;   // when its room is to be archived (resolved, pending)
  std::optional<EpochMillis> archived_at;  // when its room was archived
  bool open() const { return status != "resolved"; }
};

struct IncidentRole {
  std::string role;
  std::string user_id;
  EpochMillis assigned_at = 0;
};

struct TimelineEntry {
  std::int64_t id = 0;
  std::int64_t incident_id = 0;
  EpochMillis event_at = 0;
  EpochMillis ingested_at = 0;
  std::string kind =
      {};  // note, status, severity, role, milestone, deploy, rollback, lock, alert, ...
  std::string actor = {};
  std::string text = {};
  std::optional<std::int64_t> audit_seq = {};
  std::string source_ref = {};  // dedups engine-fed events per incident; "" for none
};

struct LinkedDeploy {
  std::int64_t id = 0;
  std::string service;
  std::string environment;
  std::string version;
  std::string state;
  EpochMillis requested_at = 0;
  std::optional<EpochMillis> finished_at;
};

// A message an incident owes its room (a status reminder, a status update), recorded with the
// change that causes it and delivered after.
struct Announcement {
  std::int64_t id = 0;
  std::string key = {};  // unique: "reminder:INC-3:<due ms>", "status:<audit seq>"
  std::int64_t incident_id = 0;
  std::string kind = {};  // reminder, status
  std::string room = {};  // the conversation address it goes to
  int tone = 0;           // commands::Tone, as a number
  std::string text = {};
  EpochMillis created_at = 0;
  std::optional<EpochMillis> sent_at = {};
  std::string message_ref = {};
};

struct DeclareRequest {
  std::string title = {};
  int severity = 3;
  std::vector<std::string> services = {};
  std::string declared_by = {};
  std::optional<EpochMillis> detected_at = {};
  std::optional<EpochMillis> acknowledged_at = {};
  std::string room = {};
  std::string dedup_key = {};
  bool is_private = false;
  EpochMillis window_ms = 5 * 60 * 1000;  // same declarer + same title within this: the same one
};

struct DeclareResult {
  IncidentRecord incident;
  bool created = false;  // false: an existing incident answered the declare
};

class IncidentStore {
 public:
  IncidentStore(Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  DeclareResult declare(const DeclareRequest& request);
  std::optional<IncidentRecord> get(std::int64_t id);
  // Open incidents first (newest first), then the `recent` most recently resolved.
  std::vector<IncidentRecord> list(int recent = 5);
  std::vector<IncidentRecord> open_incidents();
  // The open incident living in `room`, or in the room a conversation address belongs to: a room
  // stored as a whole channel ("slack:C1:") also holds the threads in it ("slack:C1:1700.1").
  std::optional<IncidentRecord> open_in_room(std::string_view room);
  std::optional<IncidentRecord> open_with_key(std::string_view dedup_key);
  // The newest open incident that names `service` among its services (what open_incidents()
  // would find first), matched in the query: no open incident is read into memory but that one.
  std::optional<IncidentRecord> open_for_service(std::string_view service);

  // Field updates; each writes only its columns.
  void set_status(std::int64_t id, std::string_view status, std::string_view text, EpochMillis at);
  void set_severity(std::int64_t id, int severity);
  void set_milestone(std::int64_t id, std::string_view milestone, EpochMillis at);
  void set_room(std::int64_t id, std::string_view room, std::string_view card_ref);
  void set_card(std::int64_t id, std::string_view card_ref);
  void set_latest_update(std::int64_t id, std::string_view text, EpochMillis at);
  void set_summary(std::int64_t id, std::string_view summary);
  void add_services(std::int64_t id, const std::vector<std::string>& services);
  void set_next_reminder(std::int64_t id, std::optional<EpochMillis> at);
  // The room's archiving: when it is due (nullopt: not, or no longer) and when it was done.
  void set_archive(std::int64_t id, std::optional<EpochMillis> archive_at,
                   std::optional<EpochMillis> archived_at);

  // Deadlines, read through their partial indexes (no scan of the open incidents): open
  // incidents whose next reminder is due at `now`, earliest first; resolved incidents whose room
  // is due to be archived; and the earliest of either deadline (nullopt: none at all).
  std::vector<IncidentRecord> due_reminders(EpochMillis now, int limit);
  std::vector<IncidentRecord> due_archives(EpochMillis now, int limit);
  std::optional<EpochMillis> next_deadline();

  void assign(std::int64_t id, std::string_view role, std::string_view user_id);
  std::vector<IncidentRole> roles(std::int64_t id);

  // Appends one entry; false when `source_ref` was already on this incident's timeline, or when
  // the incident does not exist (then nothing fails: the caller's transaction carries on).
  bool append(const TimelineEntry& entry);
  // Whether the incident's timeline holds an entry with this `source_ref`.
  bool has_entry(std::int64_t id, std::string_view source_ref);
  // Many entries in one transaction (the batched path); returns how many were new.
  std::size_t append_batch(const std::vector<TimelineEntry>& entries);
  // Ordered by event time, then by when it was recorded.
  std::vector<TimelineEntry> timeline(std::int64_t id);

  // Deploys linked to the incident (deploys.incident = "INC-<id>").
  std::vector<LinkedDeploy> linked_deploys(std::int64_t id);
  // Deploys of `services` requested in [from, to], newest first (suspected changes).
  std::vector<LinkedDeploy> deploys_between(const std::vector<std::string>& services,
                                            EpochMillis from, EpochMillis to, int limit = 10);

  // Announcements: add() is idempotent on `key` (false when it was recorded before); pending()
  // lists the unsent ones, oldest first; mark_announced() records the delivery.
  bool add_announcement(const Announcement& announcement);
  std::vector<Announcement> pending_announcements(int limit = 100);
  void mark_announced(std::int64_t announcement_id, std::string_view message_ref, EpochMillis at);
  std::vector<Announcement> announcements(std::int64_t incident_id);

  // Records an alert notification's dedup key; false when it was recorded before.
  bool remember_alert(std::string_view key, std::optional<std::int64_t> incident_id);
  // Whether remember_alert() has recorded this key (one read of its unique index).
  bool alert_seen(std::string_view key);

  // Checks every timeline row that names an audit record against it: the record exists, its
  // action starts with the row's incident or source, and its details contain the row's text.
  // Returns the first row that does not match, with a one-line problem; nullopt when all match.
  std::optional<std::string> verify_timeline(std::int64_t id);

 private:
  Database& db_;
  const Clock& clock_;
};

// "INC-7"
std::string incident_label(std::int64_t id);
// "7", "#7", "INC-7", "inc-7" -> 7; nullopt otherwise.
std::optional<std::int64_t> parse_incident_id(std::string_view text);

}  // namespace shipmate::storage
