// Freezes declared from chat ("freeze production until monday 09:00 \"holidays\""), beside the
// configuration's freeze windows (commands/freeze_windows.h).
//
// A freeze covers one environment from `starts_at` until `ends_at` (none: until someone
// unfreezes it). Lifting one records who lifted it and when; the row stays, so `freezes` and the
// audit log can tell the story afterwards.
//
// Contract: threading and errors as in database.h; reasons pass through redact().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "storage/database.h"

namespace shipmate::storage {

struct FreezeRecord {
  std::int64_t id = 0;
  std::string environment;
  EpochMillis starts_at = 0;
  std::optional<EpochMillis> ends_at;  // none: until unfrozen
  std::string reason;
  std::string created_by;
  EpochMillis created_at = 0;
};

class FreezeStore {
 public:
  FreezeStore(Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  FreezeRecord add(std::string_view environment, EpochMillis starts_at,
                   std::optional<EpochMillis> ends_at, std::string_view reason,
                   std::string_view created_by);
  // Lifts every freeze of `environment` in force or still to come at `now`; returns them.
  std::vector<FreezeRecord> lift(std::string_view environment, std::string_view lifted_by);
  // Freezes not lifted that are in force at `now` or start later, soonest first. Empty
  // `environment`: every environment.
  std::vector<FreezeRecord> current_and_coming(std::string_view environment = {});
  // The freeze of `environment` in force now that ends last (an open-ended one first).
  std::optional<FreezeRecord> in_force(std::string_view environment);

 private:
  Database& db_;
  const Clock& clock_;
};

}  // namespace shipmate::storage
