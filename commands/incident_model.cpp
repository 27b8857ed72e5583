#include "commands/incident_model.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "common/strings.h"

namespace shipmate::commands {
namespace {

constexpr EpochMillis kDay = 24LL * 60 * 60 * 1000;
constexpr EpochMillis kSkew = 60 * 1000;

std::string choices(const auto& words) {
  std::vector<std::string> list(words.begin(), words.end());
  return join(list, ", ");
}

std::string span(std::optional<EpochMillis> from, std::optional<EpochMillis> to) {
  if (!from || !to)
    return "-";
  return format_duration(std::max<EpochMillis>(0, *to - *from));
}

std::string timeline_line(const storage::TimelineEntry& entry) {
  std::string line = format_utc(entry.event_at) + "  " + entry.kind + "  ";
  if (!entry.actor.empty())
    line += entry.actor + ": ";
  line += entry.text;
  // A record whose event happened well before Shipmate heard of it says when it was recorded.
  if (entry.ingested_at - entry.event_at > kSkew)
    line += "  (recorded " + format_utc(entry.ingested_at) + ")";
  return line;
}

std::string markdown_escape_cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n')
      out += ' ';
    else
      out += c;
  }
  return out;
}

}  // namespace

Result<int> parse_severity(std::string_view word) {
  const std::string lower = to_lower(trim(word));
  std::string_view digits = lower;
  if (digits.starts_with("sev"))
    digits.remove_prefix(3);
  else if (digits.starts_with("p"))
    digits.remove_prefix(1);
  if (digits.size() == 1 && digits[0] >= '1' && digits[0] <= '4')
    return digits[0] - '0';
  return make_error("'" + std::string(word) + "' is not a severity: use sev1 (worst) to sev4",
                    ErrorKind::invalid);
}

std::string severity_label(int severity) {
  return "sev" + std::to_string(severity);
}

Result<std::string> parse_incident_status(std::string_view word) {
  const std::string lower = to_lower(trim(word));
  for (auto status : kIncidentStatuses) {
    if (lower == status)
      return std::string(status);
  }
  return make_error(
      "'" + std::string(word) + "' is not an incident status: use " + choices(kIncidentStatuses),
      ErrorKind::invalid);
}

Result<std::string> parse_milestone(std::string_view word) {
  const std::string lower = to_lower(trim(word));
  for (auto milestone : kMilestones) {
    if (lower == milestone)
      return std::string(milestone);
  }
  return make_error("'" + std::string(word) + "' is not a milestone: use " + choices(kMilestones),
                    ErrorKind::invalid);
}

Result<EpochMillis> parse_event_time(std::string_view text, EpochMillis now) {
  const std::string_view trimmed = trim(text);
  const auto refuse = [&] {
    return make_error("'" + std::string(trimmed) +
                          "' is not a time: use 14:05 (UTC), 20m ago, or 2026-12-06T14:05Z",
                      ErrorKind::invalid);
  };
  std::optional<EpochMillis> at;
  std::string_view relative = trimmed;
  if (relative.ends_with(" ago"))
    relative.remove_suffix(4);
  else if (relative.starts_with('-'))
    relative.remove_prefix(1);
  else
    relative = {};
  if (!relative.empty()) {
    const auto millis = parse_duration_ms(relative);
    if (!millis || *millis < 0)
      return refuse();
    at = now - *millis;
  } else if (auto iso = parse_iso8601(trimmed)) {
    at = *iso;
  } else {
    int hour = 0, minute = 0, second = 0, consumed = 0;
    const std::string copy(trimmed);
    const int fields =
        std::sscanf(copy.c_str(), "%2d:%2d%n:%2d%n", &hour, &minute, &consumed, &second, &consumed);
    std::string_view rest = std::string_view(copy).substr(static_cast<std::size_t>(consumed));
    if (rest == "Z" || rest == "z")
      rest = {};
    if (fields < 2 || !rest.empty() || hour > 23 || minute > 59 || second > 59 || hour < 0 ||
        minute < 0 || second < 0)
      return refuse();
    const EpochMillis midnight = now - ((now % kDay) + kDay) % kDay;
    at = midnight + ((hour * 60LL + minute) * 60 + second) * 1000;
    if (*at > now + kSkew)
      *at -= kDay;
  }
  if (*at > now + kSkew) {
    return make_error(
        "'" + std::string(trimmed) + "' is in the future (it is " + format_utc(now) + " now)",
        ErrorKind::invalid);
  }
  return *at;
}

namespace {
// Lowercase ASCII letters and digits, runs of anything else as one '-', no '-' at either end.
std::string slug(std::string_view text) {
  std::string words;
  bool dash = true;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) && u < 0x80) {
      words.push_back(static_cast<char>(std::tolower(u)));
      dash = false;
    } else if (!dash) {
      words.push_back('-');
      dash = true;
    }
  }
  while (!words.empty() && words.back() == '-')
    words.pop_back();
  return words;
}
}  // namespace

std::string incident_room_name(std::string_view prefix, EpochMillis declared_at,
                               std::string_view title, int suffix) {
  std::string name = slug(prefix);
  if (name.empty())
    name = "inc";
  // "2026-12-06 10:15:00Z" -> "2026-12-06"
  name += "-" + format_utc(declared_at).substr(0, 10);
  const std::string tail = suffix > 0 ? "-" + std::to_string(suffix) : "";
  const std::size_t budget = 80 - tail.size();
  if (const std::string words = slug(title); !words.empty())
    name += "-" + words;
  if (name.size() > budget)
    name.resize(budget);
  while (!name.empty() && name.back() == '-')
    name.pop_back();
  return name + tail;
}

RoomFallback judge_room_failure(const Error& error, int suffix_tried) {
  RoomFallback decision;
  const int next = suffix_tried == 0 ? 2 : suffix_tried + 1;
  if (error.kind == ErrorKind::conflict && next <= kMaxRoomSuffix) {
    decision.retry_with_suffix = next;
    return decision;
  }
  decision.message =
      error.kind == ErrorKind::conflict
          ? "every room name up to suffix -" + std::to_string(kMaxRoomSuffix) + " is taken"
          : error.message;
  return decision;
}

bool may_adopt_room(bool made_by_shipmate, EpochMillis created_at, EpochMillis asked_from,
                    bool another_incident_lives_there) {
  return made_by_shipmate && !another_incident_lives_there && created_at > 0 &&
         created_at >= asked_from - kRoomClockSkew;
}

std::optional<EngineEvent> engine_event(const storage::AuditRecord& record) {
  const std::string& action = record.entry.action;
  if (record.entry.outcome == "refused" || action.ends_with(".refused") ||
      action.ends_with("_refused"))
    return std::nullopt;
  const auto dot = action.find('.');
  if (dot == std::string::npos)
    return std::nullopt;
  const std::string family = action.substr(0, dot);
  const std::string what = action.substr(dot + 1);
  EngineEvent event;
  if (family == "deploy") {
    if (what == "incident_linked")
      return std::nullopt;
    if (what == "approved" || what == "denied" || what == "withdrawn" || what == "approval_expired")
      event.kind = "approval";
    else if (what == "continued" || what == "continue" || what == "abort" || what == "rolled_back")
      event.kind = "canary";
    else if (what == "policy_overridden")
      event.kind = "freeze";
    else
      event.kind = "deploy";
  } else if (family == "rollback") {
    event.kind = "rollback";
  } else if (family == "lock" || family == "unlock") {
    event.kind = "lock";
  } else if (family == "freeze" || family == "unfreeze") {
    event.kind = "freeze";
  } else if (family == "runbook") {
    event.kind = "runbook";
  } else {
    return std::nullopt;
  }
  // Targets: "hello@production", "hello", "environment production", "production".
  const std::string& target = record.entry.target;
  if (const auto at = target.find('@'); at != std::string::npos)
    event.service = target.substr(0, at);
  else if (!target.starts_with("environment ") && !target.starts_with('#'))
    event.service = target;
  event.text = target.empty() ? record.entry.details : target + ": " + record.entry.details;
  return event;
}

bool event_touches(const EngineEvent& event, const storage::IncidentRecord& incident,
                   bool all_services) {
  if (all_services || event.service.empty() || incident.services.empty())
    return true;
  return std::find(incident.services.begin(), incident.services.end(), event.service) !=
         incident.services.end();
}

std::optional<EpochMillis> next_reminder_due(const storage::IncidentRecord& incident,
                                             const IncidentSettings& settings) {
  if (!incident.open() || incident.severity < 1 || incident.severity > 4)
    return std::nullopt;
  const long long cadence = settings.cadence_ms[static_cast<std::size_t>(incident.severity - 1)];
  if (cadence <= 0)
    return std::nullopt;
  return incident.last_update_at + cadence;
}

std::vector<ReminderStep> plan_reminders(const std::vector<storage::IncidentRecord>& open,
                                         const IncidentSettings& settings, EpochMillis now) {
  std::vector<ReminderStep> steps;
  for (const auto& incident : open) {
    const auto planned = next_reminder_due(incident, settings);
    if (!incident.next_reminder_at) {
      if (planned)
        steps.push_back({incident.id, false, planned});
      continue;
    }
    if (!planned) {  // the severity lost its cadence
      steps.push_back({incident.id, false, std::nullopt});
      continue;
    }
    if (*incident.next_reminder_at > now)
      continue;
    const long long cadence = settings.cadence_ms[static_cast<std::size_t>(incident.severity - 1)];
    steps.push_back({incident.id, true, now + cadence});
  }
  return steps;
}

std::string describe_deploy(const storage::LinkedDeploy& deploy, EpochMillis now) {
  return "#" + std::to_string(deploy.id) + " " + deploy.service + " " + deploy.version + " in " +
         deploy.environment + " (" + deploy.state + ", " + time_ago(now - deploy.requested_at) +
         ")";
}

Message incident_card(const IncidentView& view, EpochMillis now) {
  const auto& incident = view.incident;
  Message card;
  card.tone = incident.open() ? Tone::warning : Tone::success;
  card.text = storage::incident_label(incident.id) + " " + incident.title + " [" +
              severity_label(incident.severity) + ", " + incident.status + "]";
  card.fields.push_back({"Severity", severity_label(incident.severity)});
  card.fields.push_back({"Status", incident.status});
  for (const auto& role : view.roles)
    card.fields.push_back({role.role, role.user_id});
  card.fields.push_back(
      {"Services", incident.services.empty() ? "-" : join(incident.services, ", ")});
  const EpochMillis start = incident.detected_at.value_or(incident.declared_at);
  const EpochMillis end = incident.resolved_at.value_or(now);
  card.fields.push_back({"Duration", format_duration(std::max<EpochMillis>(0, end - start))});
  if (incident.mitigated_at)
    card.fields.push_back({"Mitigated", format_utc(*incident.mitigated_at)});
  if (!incident.latest_update.empty())
    card.fields.push_back({"Latest update", incident.latest_update});
  if (!view.linked.empty()) {
    std::vector<std::string> ids;
    for (const auto& deploy : view.linked)
      ids.push_back("#" + std::to_string(deploy.id));
    card.fields.push_back({"Linked deploys", join(ids, ", ")});
  }
  card.context = "Declared by " + incident.declared_by + " at " + format_utc(incident.declared_at);
  if (!incident.summary.empty())
    card.context += " | " + incident.summary;
  const std::string id = std::to_string(incident.id);
  if (incident.open()) {
    card.buttons.push_back({"Timeline", "incident timeline " + id, ""});
    if (!incident.mitigated_at)
      card.buttons.push_back({"Mitigated", "incident milestone mitigated --id " + id, "primary"});
    card.buttons.push_back({"Resolve", "incident resolve --id " + id, "danger"});
  }
  return card;
}

Message timeline_message(const storage::IncidentRecord& incident,
                         const std::vector<storage::TimelineEntry>& entries) {
  Message message;
  message.text = "Timeline of " + storage::incident_label(incident.id) + " " + incident.title +
                 " (" + count_of(static_cast<long long>(entries.size()), "event") + ")";
  std::string body;
  for (const auto& entry : entries)
    body += "\n" + timeline_line(entry);
  message.text += body;
  message.preformatted = true;
  return message;
}

std::string timeline_markdown(const IncidentView& view,
                              const std::vector<storage::TimelineEntry>& entries) {
  const auto& incident = view.incident;
  std::string out = "## Timeline of " + storage::incident_label(incident.id) + ": " +
                    incident.title +
                    "\n\n| time (UTC) | event | by | what | recorded |\n"
                    "|---|---|---|---|---|\n";
  for (const auto& entry : entries) {
    out += "| " + format_utc(entry.event_at) + " | " + entry.kind + " | " +
           markdown_escape_cell(entry.actor) + " | " + markdown_escape_cell(entry.text) + " | " +
           format_utc(entry.ingested_at) + " |\n";
  }
  return out;
}

std::string postmortem_markdown(const IncidentView& view,
                                const std::vector<storage::TimelineEntry>& entries) {
  const auto& incident = view.incident;
  const std::optional<EpochMillis> detected = incident.detected_at.value_or(incident.declared_at);
  std::string out =
      "# Postmortem: " + storage::incident_label(incident.id) + " " + incident.title + "\n\n";
  out += "- Severity: " + severity_label(incident.severity) + "\n";
  out += "- Services: " + (incident.services.empty() ? "-" : join(incident.services, ", ")) + "\n";
  out += "- Declared by " + incident.declared_by + " at " + format_utc(incident.declared_at) + "\n";
  for (const auto& role : view.roles)
    out += "- " + role.role + ": " + role.user_id + "\n";
  out += "\n## Summary\n\n" + (incident.summary.empty() ? "_To be written._" : incident.summary) +
         "\n\n## Impact\n\n_Who was affected, how, and for how long._\n\n";
  out += "## Key times\n\n| milestone | at (UTC) | since detection |\n|---|---|---|\n";
  const std::array<std::pair<std::string_view, std::optional<EpochMillis>>, 4> milestones = {{
      {"detected", detected},
      {"acknowledged", incident.acknowledged_at},
      {"mitigated", incident.mitigated_at},
      {"resolved", incident.resolved_at},
  }};
  for (const auto& [name, at] : milestones) {
    out += "| " + std::string(name) + " | " + (at ? format_utc(*at) : "-") + " | " +
           span(detected, at) + " |\n";
  }
  out += "\n- Time to acknowledge: " + span(detected, incident.acknowledged_at) + "\n";
  out += "- Time to mitigate: " + span(detected, incident.mitigated_at) + "\n";
  out += "- Time to resolve: " + span(detected, incident.resolved_at) + "\n\n";
  out += "## Linked deploys\n\n";
  if (view.linked.empty())
    out += "None linked.\n";
  for (const auto& deploy : view.linked) {
    out += "- #" + std::to_string(deploy.id) + " " + deploy.service + " " + deploy.version +
           " in " + deploy.environment + " (" + deploy.state + ", requested " +
           format_utc(deploy.requested_at) + ")\n";
  }
  out += "\n" + timeline_markdown(view, entries);
  out += "\n## Action items\n\n| action | owner | due |\n|---|---|---|\n|  |  |  |\n";
  return out;
}

bool incident_visible_to(const storage::IncidentRecord& incident, std::string_view identity,
                         const UserSpec* user, const std::vector<std::string>& invite_roles,
                         const std::vector<storage::IncidentRole>& holders) {
  if (!incident.is_private)
    return true;
  if (identity.empty())
    return false;
  if (identity == incident.declared_by)
    return true;
  if (user != nullptr) {
    if (user->has_role(kAdminRole))
      return true;
    for (const auto& role : invite_roles) {
      if (user->has_role(role))
        return true;
    }
  }
  return std::any_of(holders.begin(), holders.end(),
                     [&](const storage::IncidentRole& held) { return held.user_id == identity; });
}

}  // namespace shipmate::commands
