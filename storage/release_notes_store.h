// Release notes as generated for each release of a service, and a person's edit of them.
//
// A row is keyed by (service, version): the notes of the release that brought `version`, with
// the range it covers (from_version/from_sha to to_sha). save() replaces the generated text and
// keeps an edit; edit() sets the replacement text. What people read is the edit when there is
// one, else the generated text.
//
// Contract: threading and errors as in database.h; every text passes through redact().
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "storage/database.h"

namespace shipmate::storage {

struct ReleaseNotesRecord {
  std::string service;
  std::string version;
  std::string from_version;
  std::string from_sha;
  std::string to_sha;
  std::string summary;    // "3 features, 5 fixes, 1 breaking"
  std::string generated;  // the full Markdown
  std::optional<std::string> edited;
  std::string edited_by;
  std::optional<EpochMillis> edited_at;
  EpochMillis updated_at = 0;

  const std::string& text() const { return edited ? *edited : generated; }
};

class ReleaseNotesStore {
 public:
  ReleaseNotesStore(Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  // Stores generated notes; an existing edit of the same release is kept.
  void save(const ReleaseNotesRecord& notes);
  // Replaces what people read. A release without notes yet gets a row with the edit alone (an
  // edit may come before the deploy that generates them).
  void edit(std::string_view service, std::string_view version, std::string_view text,
            std::string_view by);
  std::optional<ReleaseNotesRecord> find(std::string_view service, std::string_view version);

 private:
  Database& db_;
  const Clock& clock_;
};

}  // namespace shipmate::storage
