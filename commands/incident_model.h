// The incident model's decisions and renderings, with no I/O.
//
// What a severity, status, milestone or role word means; how a time typed in chat ("14:05",
// "20m ago", an ISO 8601 instant) becomes an instant; which audit records belong on which
// incident's timeline; when a status reminder is due; and how an incident looks as a summary
// card, a timeline (chat and Markdown) and a postmortem skeleton.
//
// Contract: every function here is pure (time is passed in, never read) and thread-safe. Parse
// functions answer an Error whose message is one line a person can act on.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commands/model.h"
#include "commands/reply.h"
#include "common/clock.h"
#include "common/result.h"
#include "storage/audit_log.h"
#include "storage/incident_store.h"

namespace shipmate::commands {

// The `incidents:` section of the configuration.
struct IncidentSettings {
  // Roles people may be assigned; the first is the one reminders go to (the commander).
  std::vector<std::string> roles = {"commander", "comms", "scribe"};
  // Roles allowed to manage incidents (incident.manage); empty: every configured user.
  std::vector<std::string> manage_roles = {};
  // Status cadence per severity (index 0 is sev1); 0 turns reminders off for that severity.
  std::array<long long, 4> cadence_ms = {30LL * 60 * 1000, 60LL * 60 * 1000, 0, 0};
  // How far before detection a deploy counts as a suspected change.
  long long suspect_window_ms = 4LL * 60 * 60 * 1000;
  // Engine events on every service go on every open incident's timeline (not only the affected
  // services').
  bool timeline_all_services = false;
  // Slack and other platforms that can: a room per incident (else a thread where it was declared).
  bool create_rooms = true;
  std::string room_prefix = "inc";
  // Shipmate roles (users' `roles:`) whose holders are invited into every new room, besides the
  // declarer: the on-call rotation, for example.
  std::vector<std::string> invite_roles = {};
  // How long after resolve an incident's room of its own is archived; 0: never.
  long long archive_after_ms = 24LL * 60 * 60 * 1000;
  // The reaction that puts a message in an incident's room on its timeline.
  std::string pin_emoji = "pushpin";
  // Where resolve writes postmortem skeletons (<dir>/INC-<id>-postmortem.md); "" for chat only.
  // The application sets <state_dir>/incidents unless the configuration names one.
  std::string postmortem_dir = "";
};

inline constexpr std::array<std::string_view, 4> kIncidentStatuses = {"investigating", "identified",
                                                                      "monitoring", "resolved"};
inline constexpr std::array<std::string_view, 4> kMilestones = {"detected", "acknowledged",
                                                                "mitigated", "resolved"};

// "sev1".."sev4", "SEV2", "p2" -> 1..4.
Result<int> parse_severity(std::string_view word);
std::string severity_label(int severity);  // "sev2"
Result<std::string> parse_incident_status(std::string_view word);
Result<std::string> parse_milestone(std::string_view word);

// When something happened, as typed: "14:05" or "14:05:30" (UTC, today, or yesterday when that
// would be in the future), "20m ago" / "-20m", or an ISO 8601 instant with a zone. Times in the
// future (beyond a minute of clock skew) are refused.
Result<EpochMillis> parse_event_time(std::string_view text, EpochMillis now);

// The room name for an incident: "<prefix>-<UTC date>-<title words>" ("inc-2026-12-06-checkout-
// errors"), lowercase letters, digits and '-', at most 80 characters; `suffix` > 0 appends
// "-<suffix>" (for a name already taken).
std::string incident_room_name(std::string_view prefix, EpochMillis declared_at,
                               std::string_view title, int suffix = 0);

// What to do when making an incident's room failed: a taken name (ErrorKind::conflict) is tried
// again with the next suffix (none, then -2, -3, ... up to kMaxRoomSuffix; `suffix_tried` is the
// one that failed, 0 for none); anything else (a missing scope, a platform that cannot) falls
// back to a thread, with `message` saying why.
inline constexpr int kMaxRoomSuffix = 9;
struct RoomFallback {
  int retry_with_suffix = 0;  // > 0: try this suffix next
  std::string message;        // why the incident runs in a thread instead
};
RoomFallback judge_room_failure(const Error& error, int suffix_tried);

// A resumed create is told its recorded name is taken: the room of that name is the incident's
// only when Shipmate made it (`made_by_shipmate`) no earlier than the create was recorded
// (`asked_from`, less kRoomClockSkew for the platform's clock, which Slack gives in whole
// seconds) and no other open incident lives in it. Anything else is a stranger's room (or an
// older one of Shipmate's): the next name is tried.
inline constexpr EpochMillis kRoomClockSkew = 60 * 1000;
bool may_adopt_room(bool made_by_shipmate, EpochMillis created_at, EpochMillis asked_from,
                    bool another_incident_lives_there);

// Who may read a private incident, decided from what is known of the reader: anyone for an
// incident that is not private; for a private one its declarer, the people holding one of its
// roles (`holders`), the holders of an `incidents.invite` role (invited into its room) and
// admins. `identity` is the reader's Shipmate id ("" for an unknown reader, who sees no private
// incident); `user` their catalog entry (nullptr when they have none). Chat commands and the web
// view both ask this (commands::can_see_incident reads the pieces from Services).
bool incident_visible_to(const storage::IncidentRecord& incident, std::string_view identity,
                         const UserSpec* user, const std::vector<std::string>& invite_roles,
                         const std::vector<storage::IncidentRole>& holders);

// An engine event an audit record describes, for the timelines of the incidents it touches.
struct EngineEvent {
  std::string kind;     // deploy, rollback, canary, approval, lock, freeze, runbook
  std::string service;  // "" when it touches a whole environment (or none in particular)
  std::string text;     // "<target>: <details>", as the audit record carries it
};
// Nullopt for records that are not engine events (commands, refusals, incident records).
std::optional<EngineEvent> engine_event(const storage::AuditRecord& record);
bool event_touches(const EngineEvent& event, const storage::IncidentRecord& incident,
                   bool all_services);

// When the next status reminder is due: the last update plus the severity's cadence; nullopt
// for a resolved incident or a severity without a cadence.
std::optional<EpochMillis> next_reminder_due(const storage::IncidentRecord& incident,
                                             const IncidentSettings& settings);

// The reminder decision for one watcher step: which open incidents get a reminder now and the
// due time each one stores next. An incident is reminded when its stored due time has come; its
// next due time is one cadence from now (a late step never sends a burst). An incident without a
// stored due time whose severity has a cadence gets one planned without a reminder.
struct ReminderStep {
  std::int64_t incident_id = 0;
  bool remind = false;
  std::optional<EpochMillis> next_due;
};
std::vector<ReminderStep> plan_reminders(const std::vector<storage::IncidentRecord>& open,
                                         const IncidentSettings& settings, EpochMillis now);

struct IncidentView {
  const storage::IncidentRecord& incident;
  const std::vector<storage::IncidentRole>& roles;
  const std::vector<storage::LinkedDeploy>& linked;
};

// The summary card, updated in place on every change.
Message incident_card(const IncidentView& view, EpochMillis now);
// The timeline for chat (a preformatted block) and as Markdown.
Message timeline_message(const storage::IncidentRecord& incident,
                         const std::vector<storage::TimelineEntry>& entries);
std::string timeline_markdown(const IncidentView& view,
                              const std::vector<storage::TimelineEntry>& entries);
// The postmortem skeleton (Markdown): summary, impact, timeline, time to acknowledge / mitigate
// / resolve, linked deploys, action items.
std::string postmortem_markdown(const IncidentView& view,
                                const std::vector<storage::TimelineEntry>& entries);
// A deploy line for suspected changes and postmortems: "#12 hello v2 in production (3 h ago)".
std::string describe_deploy(const storage::LinkedDeploy& deploy, EpochMillis now);

}  // namespace shipmate::commands
