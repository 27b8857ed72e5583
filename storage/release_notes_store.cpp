#include "storage/release_notes_store.h"

#include "common/redact.h"

namespace shipmate::storage {

void ReleaseNotesStore::save(const ReleaseNotesRecord& notes) {
  db_.prepare(
         "INSERT INTO release_notes (service, version, from_version, from_sha, to_sha, summary, "
         "generated, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
         "ON CONFLICT (service, version) DO UPDATE SET from_version = ?3, from_sha = ?4, "
         "to_sha = ?5, summary = ?6, generated = ?7, updated_at = ?8")
      .bind(1, notes.service)
      .bind(2, notes.version)
      .bind(3, notes.from_version)
      .bind(4, notes.from_sha)
      .bind(5, notes.to_sha)
      .bind(6, redact(notes.summary))
      .bind(7, redact(notes.generated))
      .bind(8, clock_.now_ms())
      .run();
}

void ReleaseNotesStore::edit(std::string_view service, std::string_view version,
                             std::string_view text, std::string_view by) {
  const EpochMillis now = clock_.now_ms();
  db_.prepare(
         "INSERT INTO release_notes (service, version, edited, edited_by, edited_at, updated_at) "
         "VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (service, version) DO UPDATE SET "
         "edited = ?3, edited_by = ?4, edited_at = ?5, updated_at = ?5")
      .bind(1, service)
      .bind(2, version)
      .bind(3, redact(text))
      .bind(4, by)
      .bind(5, now)
      .run();
}

std::optional<ReleaseNotesRecord> ReleaseNotesStore::find(std::string_view service,
                                                          std::string_view version) {
  auto query = db_.prepare(
      "SELECT service, version, from_version, from_sha, to_sha, summary, generated, edited, "
      "edited_by, edited_at, updated_at FROM release_notes WHERE service = ?1 AND version = ?2");
  query.bind(1, service).bind(2, version);
  if (!query.step())
    return std::nullopt;
  ReleaseNotesRecord out;
  out.service = query.column_text(0);
  out.version = query.column_text(1);
  out.from_version = query.column_text(2);
  out.from_sha = query.column_text(3);
  out.to_sha = query.column_text(4);
  out.summary = query.column_text(5);
  out.generated = query.column_text(6);
  if (!query.column_is_null(7))
    out.edited = query.column_text(7);
  out.edited_by = query.column_text(8);
  out.edited_at = query.column_optional_int64(9);
  out.updated_at = query.column_int64(10);
  return out;
}

}  // namespace shipmate::storage
