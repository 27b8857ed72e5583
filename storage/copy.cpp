#include "storage/copy.h"

#include <filesystem>

#include "common/clock.h"
#include "common/redact.h"
#include "storage/database.h"

namespace shipmate::storage {
namespace {

struct TableSpec {
  std::string_view name;
  // Column names; a leading '#' marks an integer column (everything else is text).
  std::string_view columns;
  std::string_view order;
  // The column PostgreSQL generates (an identity), whose sequence follows the copied values;
  // empty when there is none.
  std::string_view identity;
};

// Parents before children (foreign keys); every table of the schema, by name.
constexpr TableSpec kTables[] = {
    {"deploys",
     "#id service environment version previous_version kind requested_by state reason detail "
     "chat_ref #requested_at #finished_at #committed_at ci_run_id ci_run_url overridden incident "
     "owner #epoch rollout",
     "id", "id"},
    {"deploy_events", "#id #deploy_id #at from_state to_state message", "id", "id"},
    {"approvals", "#id #deploy_id approver decision reason #at", "id", "id"},
    {"locks", "scope holder reason #since #expires_at chat_ref", "scope", ""},
    {"audit_log", "#seq #at actor action target outcome details prev_hash hash", "seq", ""},
    {"inbox_keys", "key #received_at", "key", ""},
    {"inbox_pending", "#id key platform user_id channel thread text state #received_at replica",
     "id", "id"},
    {"schedules",
     "#id name cron timezone #once_at action payload channel misfire #lateness_ms state origin "
     "created_by #created_at #watermark #next_at",
     "id", "id"},
    {"schedule_runs", "#schedule_id #nominal_at outcome detail #at", "schedule_id, nominal_at", ""},
    {"conversation_refs",
     "platform conversation_id service_url tenant_id conversation_type bot_id #updated_at",
     "platform, conversation_id", ""},
    {"incidents",
     "#id title #severity status services declared_by #declared_at #detected_at "
     "#acknowledged_at #mitigated_at #resolved_at room card_ref latest_update #last_update_at "
     "summary dedup_key #next_reminder_at #private #archive_at #archived_at",
     "id", "id"},
    {"incident_roles", "#incident_id role user_id #assigned_at", "incident_id, role", ""},
    {"incident_timeline",
     "#id #incident_id #event_at #ingested_at kind actor text #audit_seq source_ref", "id", "id"},
    {"alert_events", "dedup_key #incident_id #received_at", "dedup_key", ""},
    {"incident_announcements",
     "#id key #incident_id kind room #tone text #created_at #sent_at message_ref", "id", "id"},
    {"incident_room_ops",
     "#id key #incident_id kind room payload state #attempts #created_at #next_at #done_at result "
     "replica",
     "id", "id"},
    {"incident_room_pacing", "scope #held_until #milli_tokens #counted_at", "scope", ""},
    {"runbook_runs",
     "#id runbook hash params started_by chat_ref message_ref status state #started_at "
     "#updated_at #finished_at owner #epoch",
     "id", "id"},
    {"runbook_steps",
     "#id #run_id phase #idx name #attempt status detail log #started_at #finished_at", "id", "id"},
    {"freezes",
     "#id environment #starts_at #ends_at reason created_by #created_at #lifted_at lifted_by", "id",
     "id"},
    {"leases", "name holder #epoch #expires_at", "name", ""},
    {"timed_claims", "job key #nominal_at holder state #claimed_at #lease_until",
     "job, key, nominal_at", ""},
    {"release_notes",
     "service version from_version from_sha to_sha summary generated edited edited_by #edited_at "
     "#updated_at",
     "service, version", ""},
    {"outbox",
     "#seq idem_key platform channel thread intent target_key body state platform_id #created_at "
     "#sent_at replica",
     "seq", "seq"},
};

struct Column {
  std::string name;
  bool integer;
};

std::vector<Column> columns_of(std::string_view spec) {
  std::vector<Column> out;
  std::size_t at = 0;
  while (at < spec.size()) {
    const std::size_t end = std::min(spec.find(' ', at), spec.size());
    std::string_view word = spec.substr(at, end - at);
    const bool integer = word.starts_with('#');
    if (integer)
      word.remove_prefix(1);
    if (!word.empty())
      out.push_back(Column{std::string(word), integer});
    at = end + 1;
  }
  return out;
}

std::string column_list(const std::vector<Column>& columns) {
  std::string out;
  for (const auto& column : columns)
    out += (out.empty() ? "" : ", ") + column.name;
  return out;
}

std::int64_t count_rows(Database& db, std::string_view table) {
  return db.prepare("SELECT COUNT(*) FROM " + std::string(table)).scalar();
}

std::int64_t copy_table(Database& from, Database& to, const TableSpec& table) {
  const auto columns = columns_of(table.columns);
  const std::string list = column_list(columns);
  std::string placeholders;
  for (std::size_t i = 1; i <= columns.size(); ++i)
    placeholders += (i > 1 ? ", ?" : "?") + std::to_string(i);
  Statement read = from.prepare("SELECT " + list + " FROM " + std::string(table.name) +
                                " ORDER BY " + std::string(table.order));
  const std::string insert_sql =
      "INSERT INTO " + std::string(table.name) + " (" + list + ") VALUES (" + placeholders + ")";
  std::int64_t copied = 0;
  while (read.step()) {
    Statement insert = to.prepare(insert_sql);
    for (std::size_t i = 0; i < columns.size(); ++i) {
      const int index = static_cast<int>(i);
      if (read.column_is_null(index))
        insert.bind_null(index + 1);
      else if (columns[i].integer)
        insert.bind(index + 1, read.column_int64(index));
      else
        insert.bind(index + 1, read.column_text(index));
    }
    insert.run();
    ++copied;
  }
  if (!table.identity.empty() && to.dialect() == Dialect::postgresql) {
    const std::string name(table.name);
    const std::string column(table.identity);
    to.exec("SELECT setval(pg_get_serial_sequence('" + name + "', '" + column +
            "'), COALESCE(MAX(" + column + "), 1), MAX(" + column + ") IS NOT NULL) FROM " + name);
  }
  return copied;
}

}  // namespace

std::string database_location(const std::string& text) {
  constexpr std::string_view kPrefix = "sqlite:";
  if (text.starts_with(kPrefix))
    return text.substr(kPrefix.size());
  return text;
}

Result<CopyReport> copy_database(const std::string& from_text, const std::string& to_text) {
  const std::string from_location = database_location(from_text);
  const std::string to_location = database_location(to_text);
  if (Database::is_postgresql(from_location))
    Database::postgresql_uri_problem(from_location, true);  // registers its password
  if (Database::is_postgresql(to_location))
    Database::postgresql_uri_problem(to_location, true);
  if (from_location == to_location)
    return make_error("--from and --to name the same database");
  if (!Database::is_postgresql(to_location)) {
    std::error_code ec;
    if (std::filesystem::exists(to_location, ec))
      return make_error("cannot copy into " + to_location +
                        ": the file exists; name a new SQLite file");
  }
  auto from = Database::open_read_only(from_location);
  if (!from)
    return from.error();
  auto to = Database::open(to_location);
  if (!to)
    return to.error();
  Database& source = **from;
  Database& destination = **to;

  CopyReport report;
  report.from = source.path();
  report.to = destination.path();
  try {
    std::string held;
    for (const auto& table : kTables) {
      if (const auto rows = count_rows(destination, table.name); rows > 0)
        held +=
            (held.empty() ? "" : ", ") + std::to_string(rows) + " in " + std::string(table.name);
    }
    if (!held.empty()) {
      return make_error("cannot copy into " + destination.path() + ": it already holds data (" +
                        held + "); copy into an empty database");
    }
    // One snapshot of the source for every table.
    source.exec(source.dialect() == Dialect::postgresql
                    ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                    : "BEGIN");
    destination.transaction([&] {
      for (const auto& table : kTables)
        report.rows.emplace_back(std::string(table.name), copy_table(source, destination, table));
    });
    source.exec("COMMIT");
  } catch (const StorageError& error) {
    return make_error(redact("copying from " + source.path() + " to " + destination.path() +
                             " failed, and nothing was copied: " + error.what()));
  }
  SystemClock clock;
  report.audit = AuditLog(destination, clock).verify();
  return report;
}

}  // namespace shipmate::storage
