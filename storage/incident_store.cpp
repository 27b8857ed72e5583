#include "storage/incident_store.h"

#include "storage/history_pages.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "common/redact.h"
#include "common/strings.h"

namespace shipmate::storage {
namespace {

constexpr std::string_view kColumns =
    "id, title, severity, status, services, declared_by, declared_at, detected_at, "
    "acknowledged_at, mitigated_at, resolved_at, room, card_ref, latest_update, last_update_at, "
    "summary, dedup_key, next_reminder_at, private, archive_at, archived_at";

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find(' ', start);
    const std::string_view word =
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!word.empty())
      out.emplace_back(word);
    if (end == std::string_view::npos)
      break;
    start = end + 1;
  }
  return out;
}

IncidentRecord read_incident(const Statement& row) {
  IncidentRecord record;
  record.id = row.column_int64(0);
  record.title = row.column_text(1);
  record.severity = static_cast<int>(row.column_int64(2));
  record.status = row.column_text(3);
  record.services = split_words(row.column_text(4));
  record.declared_by = row.column_text(5);
  record.declared_at = row.column_int64(6);
  record.detected_at = row.column_optional_int64(7);
  record.acknowledged_at = row.column_optional_int64(8);
  record.mitigated_at = row.column_optional_int64(9);
  record.resolved_at = row.column_optional_int64(10);
  record.room = row.column_text(11);
  record.card_ref = row.column_text(12);
  record.latest_update = row.column_text(13);
  record.last_update_at = row.column_int64(14);
  record.summary = row.column_text(15);
  record.dedup_key = row.column_text(16);
  record.next_reminder_at = row.column_optional_int64(17);
  record.is_private = row.column_int64(18) != 0;
  record.archive_at = row.column_optional_int64(19);
  record.archived_at = row.column_optional_int64(20);
  return record;
}

std::string select_incidents(std::string_view where) {
  return "SELECT " + std::string(kColumns) + " FROM incidents " + std::string(where);
}

TimelineEntry read_entry(const Statement& row) {
  TimelineEntry entry;
  entry.id = row.column_int64(0);
  entry.incident_id = row.column_int64(1);
  entry.event_at = row.column_int64(2);
  entry.ingested_at = row.column_int64(3);
  entry.kind = row.column_text(4);
  entry.actor = row.column_text(5);
  entry.text = row.column_text(6);
  entry.audit_seq = row.column_optional_int64(7);
  entry.source_ref = row.column_text(8);
  return entry;
}

LinkedDeploy read_deploy(const Statement& row) {
  LinkedDeploy deploy;
  deploy.id = row.column_int64(0);
  deploy.service = row.column_text(1);
  deploy.environment = row.column_text(2);
  deploy.version = row.column_text(3);
  deploy.state = row.column_text(4);
  deploy.requested_at = row.column_int64(5);
  deploy.finished_at = row.column_optional_int64(6);
  return deploy;
}

// An entry for an incident that is not there (its declare rolled back after a reader saw it) is
// left out in the statement itself: a foreign-key failure would fail the caller's transaction,
// and on PostgreSQL any failed statement aborts all of it.
bool insert_entry(Database& db, const TimelineEntry& entry) {
  db.prepare(
        "INSERT INTO incident_timeline (incident_id, event_at, ingested_at, kind, actor, text, "
        "audit_seq, source_ref) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 "
        "WHERE EXISTS (SELECT 1 FROM incidents WHERE id = ?1) ON CONFLICT DO NOTHING")
      .bind(1, entry.incident_id)
      .bind(2, entry.event_at)
      .bind(3, entry.ingested_at)
      .bind(4, entry.kind)
      .bind(5, redact(entry.actor))
      .bind(6, redact(entry.text))
      .bind(7, entry.audit_seq)
      .bind(8, entry.source_ref)
      .run();
  return db.changes() > 0;
}

}  // namespace

std::string incident_label(std::int64_t id) {
  return "INC-" + std::to_string(id);
}

std::optional<std::int64_t> parse_incident_id(std::string_view text) {
  text = trim(text);
  if (starts_with_ci(text, "inc-"))
    text.remove_prefix(4);
  else if (text.starts_with('#'))
    text.remove_prefix(1);
  std::int64_t id = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, id);
  if (text.empty() || ec != std::errc() || ptr != end || id <= 0)
    return std::nullopt;
  return id;
}

DeclareResult IncidentStore::declare(const DeclareRequest& request) {
  const EpochMillis now = clock_.now_ms();
  return db_.transaction([&]() -> DeclareResult {
    if (!request.dedup_key.empty()) {
      if (auto existing = open_with_key(request.dedup_key))
        return {std::move(*existing), false};
    } else {
      Statement same = db_.prepare(select_incidents(
          "WHERE status != 'resolved' AND declared_by = ?1 AND lower(title) = lower(?2) "
          "AND declared_at >= ?3 ORDER BY id DESC LIMIT 1"));
      same.bind(1, request.declared_by).bind(2, redact(request.title));
      same.bind(3, now - request.window_ms);
      if (same.step())
        return {read_incident(same), false};
    }
    const std::int64_t id =
        db_.prepare(
               "INSERT INTO incidents (title, severity, status, services, declared_by, "
               "declared_at, "
               "detected_at, acknowledged_at, room, last_update_at, dedup_key, private) "
               "VALUES (?1, ?2, 'investigating', ?3, ?4, ?5, ?6, ?7, ?8, ?5, ?9, ?10) "
               "RETURNING id")
            .bind(1, redact(request.title))
            .bind(2, static_cast<std::int64_t>(request.severity))
            .bind(3, join(request.services, " "))
            .bind(4, request.declared_by)
            .bind(5, now)
            .bind(6, std::optional<std::int64_t>(request.detected_at.value_or(now)))
            .bind(7, request.acknowledged_at)
            .bind(8, request.room)
            .bind(9, request.dedup_key)
            .bind(10, static_cast<std::int64_t>(request.is_private ? 1 : 0))
            .scalar();
    return {*get(id), true};
  });
}

std::optional<IncidentRecord> IncidentStore::get(std::int64_t id) {
  Statement query = db_.prepare(select_incidents("WHERE id = ?1"));
  query.bind(1, id);
  if (!query.step())
    return std::nullopt;
  return read_incident(query);
}

std::vector<IncidentRecord> IncidentStore::list(int recent) {
  std::vector<IncidentRecord> out = open_incidents();
  Statement query = db_.prepare(
      select_incidents("WHERE status = 'resolved' ORDER BY resolved_at DESC, id DESC LIMIT ?1"));
  query.bind(1, static_cast<std::int64_t>(recent));
  while (query.step())
    out.push_back(read_incident(query));
  return out;
}

std::vector<IncidentRecord> IncidentStore::open_incidents() {
  Statement query = db_.prepare(select_incidents("WHERE status != 'resolved' ORDER BY id DESC"));
  std::vector<IncidentRecord> out;
  while (query.step())
    out.push_back(read_incident(query));
  return out;
}

std::optional<IncidentRecord> IncidentStore::open_in_room(std::string_view room) {
  Statement query = db_.prepare(
      select_incidents("WHERE status != 'resolved' AND (room = ?1 OR (room <> '' AND "
                       "substr(room, length(room)) = ':' AND substr(?1, 1, length(room)) = room)) "
                       "ORDER BY id DESC LIMIT 1"));
  query.bind(1, room);
  if (!query.step())
    return std::nullopt;
  return read_incident(query);
}

std::optional<IncidentRecord> IncidentStore::open_with_key(std::string_view dedup_key) {
  Statement query = db_.prepare(
      // `dedup_key != ''` repeats the partial unique index's condition, so the index answers
      // (without it SQLite scanned every incident).
      select_incidents("WHERE status != 'resolved' AND dedup_key != '' AND dedup_key = ?1 "
                       "ORDER BY id DESC LIMIT 1"));
  query.bind(1, dedup_key);
  if (!query.step())
    return std::nullopt;
  return read_incident(query);
}

std::optional<IncidentRecord> IncidentStore::open_for_service(std::string_view service) {
  if (service.empty() || service.find(' ') != std::string_view::npos)
    return std::nullopt;  // services are stored as words joined by spaces
  // The services column is words joined by spaces: padded with one on each side, it holds
  // " service " exactly when the service is one of them.
  Statement query = db_.prepare(select_incidents(
      db_.dialect() == Dialect::postgresql
          ? "WHERE status != 'resolved' AND strpos(' ' || services || ' ', ' ' || CAST(?1 AS TEXT) "
            "|| ' ') > 0 "
            "ORDER BY id DESC LIMIT 1"
          : "WHERE status != 'resolved' AND instr(' ' || services || ' ', ' ' || ?1 || ' ') > 0 "
            "ORDER BY id DESC LIMIT 1"));
  query.bind(1, service);
  if (!query.step())
    return std::nullopt;
  return read_incident(query);
}

void IncidentStore::set_status(std::int64_t id, std::string_view status, std::string_view text,
                               EpochMillis at) {
  db_.prepare(
         "UPDATE incidents SET status = ?2, latest_update = CASE WHEN ?3 = '' THEN latest_update "
         "ELSE ?3 END, last_update_at = ?4 WHERE id = ?1")
      .bind(1, id)
      .bind(2, status)
      .bind(3, redact(text))
      .bind(4, at)
      .run();
}

void IncidentStore::set_severity(std::int64_t id, int severity) {
  db_.prepare("UPDATE incidents SET severity = ?2 WHERE id = ?1")
      .bind(1, id)
      .bind(2, static_cast<std::int64_t>(severity))
      .run();
}

void IncidentStore::set_milestone(std::int64_t id, std::string_view milestone, EpochMillis at) {
  std::string column;
  if (milestone == "detected")
    column = "detected_at";
  else if (milestone == "acknowledged")
    column = "acknowledged_at";
  else if (milestone == "mitigated")
    column = "mitigated_at";
  else if (milestone == "resolved")
    column = "resolved_at";
  else
    throw StorageError("unknown incident milestone '" + std::string(milestone) + "'");
  db_.prepare("UPDATE incidents SET " + column + " = ?2 WHERE id = ?1")
      .bind(1, id)
      .bind(2, at)
      .run();
}

void IncidentStore::set_room(std::int64_t id, std::string_view room, std::string_view card_ref) {
  db_.prepare("UPDATE incidents SET room = ?2, card_ref = ?3 WHERE id = ?1")
      .bind(1, id)
      .bind(2, room)
      .bind(3, card_ref)
      .run();
}

void IncidentStore::set_card(std::int64_t id, std::string_view card_ref) {
  db_.prepare("UPDATE incidents SET card_ref = ?2 WHERE id = ?1")
      .bind(1, id)
      .bind(2, card_ref)
      .run();
}

void IncidentStore::set_latest_update(std::int64_t id, std::string_view text, EpochMillis at) {
  db_.prepare("UPDATE incidents SET latest_update = ?2, last_update_at = ?3 WHERE id = ?1")
      .bind(1, id)
      .bind(2, redact(text))
      .bind(3, at)
      .run();
}

void IncidentStore::set_summary(std::int64_t id, std::string_view summary) {
  db_.prepare("UPDATE incidents SET summary = ?2 WHERE id = ?1")
      .bind(1, id)
      .bind(2, redact(summary))
      .run();
}

void IncidentStore::add_services(std::int64_t id, const std::vector<std::string>& services) {
  db_.transaction([&] {
    auto incident = get(id);
    if (!incident)
      return;
    std::vector<std::string> all = incident->services;
    for (const auto& service : services) {
      if (std::find(all.begin(), all.end(), service) == all.end())
        all.push_back(service);
    }
    db_.prepare("UPDATE incidents SET services = ?2 WHERE id = ?1")
        .bind(1, id)
        .bind(2, join(all, " "))
        .run();
  });
}

void IncidentStore::set_next_reminder(std::int64_t id, std::optional<EpochMillis> at) {
  db_.prepare("UPDATE incidents SET next_reminder_at = ?2 WHERE id = ?1")
      .bind(1, id)
      .bind(2, at)
      .run();
}

void IncidentStore::set_archive(std::int64_t id, std::optional<EpochMillis> archive_at,
                                std::optional<EpochMillis> archived_at) {
  db_.prepare("UPDATE incidents SET archive_at = ?2, archived_at = ?3 WHERE id = ?1")
      .bind(1, id)
      .bind(2, archive_at)
      .bind(3, archived_at)
      .run();
}

std::vector<IncidentRecord> IncidentStore::due_reminders(EpochMillis now, int limit) {
  Statement query = db_.prepare(select_incidents(
      "WHERE next_reminder_at IS NOT NULL AND next_reminder_at <= ?1 AND status != 'resolved' "
      "ORDER BY next_reminder_at, id LIMIT ?2"));
  query.bind(1, now).bind(2, static_cast<std::int64_t>(limit));
  std::vector<IncidentRecord> out;
  while (query.step())
    out.push_back(read_incident(query));
  return out;
}

std::vector<IncidentRecord> IncidentStore::due_archives(EpochMillis now, int limit) {
  Statement query = db_.prepare(
      select_incidents("WHERE archive_at IS NOT NULL AND archive_at <= ?1 AND status = 'resolved' "
                       "ORDER BY archive_at, id LIMIT ?2"));
  query.bind(1, now).bind(2, static_cast<std::int64_t>(limit));
  std::vector<IncidentRecord> out;
  while (query.step())
    out.push_back(read_incident(query));
  return out;
}

std::optional<EpochMillis> IncidentStore::next_deadline() {
  // Two MINs, each answered by its partial index alone.
  Statement query = db_.prepare(
      "SELECT (SELECT MIN(next_reminder_at) FROM incidents WHERE next_reminder_at IS NOT NULL), "
      "(SELECT MIN(archive_at) FROM incidents WHERE archive_at IS NOT NULL)");
  if (!query.step())
    return std::nullopt;
  const auto reminder = query.column_optional_int64(0);
  const auto archive = query.column_optional_int64(1);
  if (reminder && archive)
    return std::min(*reminder, *archive);
  return reminder ? reminder : archive;
}

void IncidentStore::assign(std::int64_t id, std::string_view role, std::string_view user_id) {
  db_.prepare(
         "INSERT INTO incident_roles (incident_id, role, user_id, assigned_at) "
         "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (incident_id, role) DO UPDATE SET "
         "user_id = excluded.user_id, assigned_at = excluded.assigned_at")
      .bind(1, id)
      .bind(2, role)
      .bind(3, user_id)
      .bind(4, clock_.now_ms())
      .run();
}

std::vector<IncidentRole> IncidentStore::roles(std::int64_t id) {
  Statement query = db_.prepare(
      "SELECT role, user_id, assigned_at FROM incident_roles WHERE incident_id = ?1 "
      "ORDER BY assigned_at, role");
  query.bind(1, id);
  std::vector<IncidentRole> out;
  while (query.step())
    out.push_back({query.column_text(0), query.column_text(1), query.column_int64(2)});
  return out;
}

bool IncidentStore::append(const TimelineEntry& entry) {
  return insert_entry(db_, entry);
}

namespace {
Announcement read_announcement(Statement& query) {
  Announcement out;
  out.id = query.column_int64(0);
  out.key = query.column_text(1);
  out.incident_id = query.column_int64(2);
  out.kind = query.column_text(3);
  out.room = query.column_text(4);
  out.tone = static_cast<int>(query.column_int64(5));
  out.text = query.column_text(6);
  out.created_at = query.column_int64(7);
  if (!query.column_is_null(8))
    out.sent_at = query.column_int64(8);
  out.message_ref = query.column_text(9);
  return out;
}
constexpr const char* kAnnouncementColumns =
    "SELECT id, key, incident_id, kind, room, tone, text, created_at, sent_at, message_ref "
    "FROM incident_announcements ";
}  // namespace

bool IncidentStore::add_announcement(const Announcement& announcement) {
  Statement insert = db_.prepare(
      "INSERT INTO incident_announcements (key, incident_id, kind, room, tone, text, created_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (key) DO NOTHING");
  insert.bind(1, announcement.key);
  insert.bind(2, announcement.incident_id);
  insert.bind(3, announcement.kind);
  insert.bind(4, announcement.room);
  insert.bind(5, static_cast<std::int64_t>(announcement.tone));
  insert.bind(6, redact(announcement.text));
  insert.bind(7, announcement.created_at);
  insert.run();
  return db_.changes() > 0;
}

std::vector<Announcement> IncidentStore::pending_announcements(int limit) {
  Statement query =
      db_.prepare(std::string(kAnnouncementColumns) + "WHERE sent_at IS NULL ORDER BY id LIMIT ?1");
  query.bind(1, static_cast<std::int64_t>(limit));
  std::vector<Announcement> out;
  while (query.step())
    out.push_back(read_announcement(query));
  return out;
}

std::vector<Announcement> IncidentStore::announcements(std::int64_t incident_id) {
  Statement query =
      db_.prepare(std::string(kAnnouncementColumns) + "WHERE incident_id = ?1 ORDER BY id");
  query.bind(1, incident_id);
  std::vector<Announcement> out;
  while (query.step())
    out.push_back(read_announcement(query));
  return out;
}

void IncidentStore::mark_announced(std::int64_t announcement_id, std::string_view message_ref,
                                   EpochMillis at) {
  Statement update =
      db_.prepare("UPDATE incident_announcements SET sent_at = ?2, message_ref = ?3 WHERE id = ?1");
  update.bind(1, announcement_id);
  update.bind(2, at);
  update.bind(3, message_ref);
  update.run();
}

bool IncidentStore::has_entry(std::int64_t id, std::string_view source_ref) {
  Statement query = db_.prepare(
      "SELECT 1 FROM incident_timeline WHERE incident_id = ?1 AND source_ref = ?2 LIMIT 1");
  query.bind(1, id);
  query.bind(2, source_ref);
  return query.step();
}

std::size_t IncidentStore::append_batch(const std::vector<TimelineEntry>& entries) {
  if (entries.empty())
    return 0;
  return db_.transaction([&] {
    std::size_t added = 0;
    for (const auto& entry : entries)
      added += insert_entry(db_, entry) ? 1 : 0;
    return added;
  });
}

std::vector<TimelineEntry> IncidentStore::timeline(std::int64_t id) {
  Statement query = db_.prepare(
      "SELECT id, incident_id, event_at, ingested_at, kind, actor, text, audit_seq, source_ref "
      "FROM incident_timeline WHERE incident_id = ?1 ORDER BY event_at, id");
  query.bind(1, id);
  std::vector<TimelineEntry> out;
  while (query.step())
    out.push_back(read_entry(query));
  return out;
}

std::vector<LinkedDeploy> IncidentStore::linked_deploys(std::int64_t id) {
  Statement query = db_.prepare(
      "SELECT id, service, environment, version, state, requested_at, finished_at FROM deploys "
      "WHERE incident = ?1 ORDER BY id");
  query.bind(1, incident_label(id));
  std::vector<LinkedDeploy> out;
  while (query.step())
    out.push_back(read_deploy(query));
  return out;
}

std::vector<LinkedDeploy> IncidentStore::deploys_between(const std::vector<std::string>& services,
                                                         EpochMillis from, EpochMillis to,
                                                         int limit) {
  std::vector<LinkedDeploy> out;
  Statement query = db_.prepare(
      "SELECT id, service, environment, version, state, requested_at, finished_at FROM deploys "
      "WHERE service = ?1 AND requested_at >= ?2 AND requested_at <= ?3 AND kind != 'rollback' "
      "ORDER BY id DESC LIMIT ?4");
  for (const auto& service : services) {
    query.bind(1, service).bind(2, from).bind(3, to).bind(4, static_cast<std::int64_t>(limit));
    while (query.step())
      out.push_back(read_deploy(query));
    query.reset();
  }
  std::sort(out.begin(), out.end(),
            [](const LinkedDeploy& a, const LinkedDeploy& b) { return a.id > b.id; });
  if (out.size() > static_cast<std::size_t>(limit))
    out.resize(static_cast<std::size_t>(limit));
  return out;
}

bool IncidentStore::remember_alert(std::string_view key, std::optional<std::int64_t> incident_id) {
  db_.prepare(
         "INSERT INTO alert_events (dedup_key, incident_id, received_at) "
         "VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")
      .bind(1, key)
      .bind(2, incident_id)
      .bind(3, clock_.now_ms())
      .run();
  return db_.changes() > 0;
}

bool IncidentStore::alert_seen(std::string_view key) {
  Statement query = db_.prepare("SELECT 1 FROM alert_events WHERE dedup_key = ?1");
  query.bind(1, key);
  return query.step();
}

std::optional<std::string> IncidentStore::verify_timeline(std::int64_t id) {
  Statement record = db_.prepare("SELECT actor, target, details FROM audit_log WHERE seq = ?1");
  for (const auto& entry : timeline(id)) {
    if (!entry.audit_seq)
      continue;
    record.bind(1, *entry.audit_seq);
    const std::string where = "timeline entry " + std::to_string(entry.id) + " (audit record " +
                              std::to_string(*entry.audit_seq) + ")";
    if (!record.step())
      return where + ": its audit record is missing";
    const std::string actor = record.column_text(0);
    const std::string target = record.column_text(1);
    const std::string details = record.column_text(2);
    record.reset();
    if (actor != entry.actor)
      return where + ": its actor differs from the audit record's";
    if (entry.text != details && entry.text != target + ": " + details)
      return where + ": its text differs from the audit record's";
  }
  return std::nullopt;
}

IdPage<IncidentRecord> incident_page(Database& db, const PageWindow& window,
                                     std::string_view status) {
  return page_by_id<IncidentRecord>(
      db, kColumns, "incidents",
      "?1 = '' OR (?1 = 'open' AND status != 'resolved') OR (?1 = 'resolved' AND status = "
      "'resolved')",
      1, window, [&](Statement& query) { query.bind(1, status); }, read_incident);
}

}  // namespace shipmate::storage
