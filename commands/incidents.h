// What every incident command and feed shares: recording an event on an incident's timeline
// (with the audit record that carries it), refreshing the summary card in place, picking which
// incident a command means, and the feed that puts the engine's own audit records (deploys,
// rollbacks, canary verdicts, approvals, locks, freezes, runbook steps) on the timelines of the
// open incidents they touch.
//
// Contract
// - Event-loop thread only, like Services. Writes go through the Database's transactions; an
//   event and its audit record commit together or not at all.
// - The feed is an AuditObserver: it runs inside the appending transaction and writes only
//   timeline rows (never audit records); it ignores records that are not engine events, and its
//   own failures propagate like any storage failure (the caller's transaction rolls back).
// - Chat side effects (card updates) never throw; a conversation that cannot be opened (its
//   transport is not running) is skipped, and the card catches up on the next change.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "commands/context.h"
#include "commands/incident_model.h"
#include "storage/audit_log.h"
#include "storage/incident_store.h"

namespace shipmate::commands {

class IncidentTimelineFeed;

// Appends an audit record ("incident.<kind>", target INC-<id>, details `text`) and the timeline
// entry it carries, in one transaction. `event_at` defaults to now.
// A non-empty `source_ref` is stored with the entry (an event that may arrive twice, e.g. a
// redelivered reaction, checks has_entry() first). Returns the audit record's sequence number.
std::int64_t record_incident_event(Services& services, std::int64_t incident_id,
                                   std::string_view kind, std::string_view actor,
                                   std::string_view text,
                                   std::optional<EpochMillis> event_at = std::nullopt,
                                   std::string_view source_ref = {});

// Durable announcements (reminders, status updates): announce() records one for the incident's
// room, inside the caller's transaction, under a unique key (a second call with the same key adds
// nothing); deliver_announcements() posts every pending one whose room a running transport
// serves, oldest first, each marked sent in its own commit just before it is handed to the
// transport. So a crash before that commit leaves it pending and the next start delivers it, and
// a crash after it never sends it twice. `here` is used for its own address (no directory
// needed). Returns how many were delivered.
void announce(Services& services, std::int64_t incident_id, std::string_view kind, std::string key,
              const Message& message);
int deliver_announcements(Services& services, Conversation* here = nullptr);

// Posts the incident's summary card in `room` and records it there (room, card_ref), so every
// later change updates it in place.
void post_incident_card(Services& services, std::int64_t incident_id, Conversation& room);

// Rewrites the incident's summary card where it lives. `here` is used when it is the incident's
// room (no directory lookup needed).
void refresh_incident_card(Services& services, std::int64_t incident_id,
                           Conversation* here = nullptr);

// Re-plans the status reminder from the stored state (after any change that moves it), and tells
// the scheduler (the deadline moved).
void replan_incident_reminder(Services& services, std::int64_t incident_id);

// Sends the status reminders due now, read through the store's due index (only the incidents
// that are due, never every open one): for each, plan_reminders() decides; its next due time,
// timeline row and durable announcement (keyed by the due time it answers) commit together, and
// the announcements are then delivered. Returns how many reminders were decided.
int send_due_reminders(Services& services);
// The reminder job's run (commands/timed_jobs.h): the reminder of one incident whose stored due
// time is still `due_at` (and has come), decided and committed as above, then delivered; false
// when the incident was updated, resolved or reminded since (its due time moved).
bool remind_incident(Services& services, std::int64_t incident_id, EpochMillis due_at);

// The watcher's step each second: delivers pending announcements (a room whose transport was
// reconnecting), refreshes the cards of incidents whose timelines the feed touched, and starts
// the room operations that are due (incident_room_ops.h: retries, and what a crash left).
// Reminders and room archiving are timed jobs of the scheduler (timed_jobs.h), at their due time.
void run_incident_upkeep(Services& services, IncidentTimelineFeed* feed);

// Both, by hand: send_due_reminders() then run_incident_upkeep() (tests and the bench).
void run_incident_watch(Services& services, IncidentTimelineFeed* feed);

// Which incident a command means: the --id option, else the open incident whose room this
// conversation is, else the only open incident. The error says which ids are open.
Result<storage::IncidentRecord> incident_for_command(Services& services, const ParsedArgs& args,
                                                     const Conversation& conversation);

// Puts engine events on the timelines of the open incidents they touch. It follows what was
// committed: the open incidents are cached between incident.* records, and a transaction that
// rolls back (a resolve, a declare, a link that never happened, or an engine event whose
// transaction read the list) drops the cache, so the next event reads the list as committed.
// Registers itself with `db` for rollbacks and must live on that database's thread.
class IncidentTimelineFeed final : public storage::AuditObserver, public storage::RollbackObserver {
 public:
  IncidentTimelineFeed(storage::Database& db, storage::IncidentStore& incidents,
                       const IncidentSettings& settings);
  ~IncidentTimelineFeed() override;
  IncidentTimelineFeed(const IncidentTimelineFeed&) = delete;
  IncidentTimelineFeed& operator=(const IncidentTimelineFeed&) = delete;

  void audit_appended(const storage::AuditRecord& record) override;
  void rolled_back() noexcept override { open_.reset(); }

  // Incidents whose timeline changed since the last call (their cards may want a refresh).
  std::vector<std::int64_t> take_touched();

 private:
  storage::Database& db_;
  storage::IncidentStore& incidents_;
  const IncidentSettings& settings_;
  // Open incidents, read once and re-read after an incident.* record (declare, resolve, ...), a
  // rollback, or an entry the store did not add (a repeat, or an incident that vanished).
  std::optional<std::vector<storage::IncidentRecord>> open_;
  std::vector<std::int64_t> touched_;
};

}  // namespace shipmate::commands
