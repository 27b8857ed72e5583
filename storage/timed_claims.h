// Claims on the occurrences of timed jobs whose deadlines live in other rows: a lock's expiry,
// an approval request's deadline, an incident's next reminder, a resolved incident's archive
// time (scheduler/timed_job.h). Each occurrence is named by its job, a key inside the job (the
// lock's scope, the deploy or incident id) and its nominal instant; the scheduler claims it here
// before it runs and marks it done after, so it runs once per database whatever restarts, slow
// posts or other replicas do.
//
// Contract
// - Threading and errors as in database.h (same thread as the Database; SQL failures throw
//   StorageError). Works on both backends (SQLite migration 26, PostgreSQL schema 10).
// - claim() is one statement: it inserts the occurrence as `claimed` by this store's holder with
//   a lease, or takes over a row whose lease has ended (its claimant died) or that is `done`, and
//   says whether this call now holds it. So a claim keeps an occurrence from running twice at
//   once (a slow post, a second replica); what keeps a finished one from running again is its
//   own row: each job re-reads its deadline after claiming and acts only if it still stands
//   (timed_job.h). A deadline set back to an instant already run (by hand) therefore runs again.
// - finish() marks an occurrence done (only when this holder holds it).
// - release_mine() (at start-up) gives up every unfinished claim of this holder: the process
//   that made them was this one's predecessor (same replica name, or the single process), so a
//   crash between a claim and its job's effect re-runs the job at once instead of after the
//   lease. The jobs are written so that running an occurrence again after such a crash is safe
//   (each settles its deadline row in its own transaction, and the rows say what is left).
// - prune_done_before() forgets finished claims older than a time (their deadlines have moved).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"

namespace shipmate::storage {

class Database;

class TimedClaimStore {
 public:
  // `holder` names the claimant: the replica name, or "" for a single process.
  TimedClaimStore(Database& db, const Clock& clock, std::string holder = "")
      : db_(db), clock_(clock), holder_(std::move(holder)) {}

  bool claim(std::string_view job, std::string_view key, EpochMillis nominal, EpochMillis lease_ms);
  void finish(std::string_view job, std::string_view key, EpochMillis nominal);
  int release_mine();
  int prune_done_before(EpochMillis before);
  // "claimed", "done", or nullopt when never claimed (tests, `schedule` listings).
  std::optional<std::string> state(std::string_view job, std::string_view key, EpochMillis nominal);
  const std::string& holder() const { return holder_; }

 private:
  Database& db_;
  const Clock& clock_;
  std::string holder_;
};

}  // namespace shipmate::storage
