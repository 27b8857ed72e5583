// Locks on deploy scopes.
//
// A scope is a string chosen by commands/: "env:<name>", "service:<name>" or
// "service:<name>@<env>". At most one lock per scope. Expired locks are ignored by every read, so
// a lock past its expiry never blocks anything; take_expired() collects them for announcing, and
// acquire() replaces an expired lock on the same scope.
//
// Threading and errors as in database.h.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "storage/database.h"

namespace shipmate::storage {

struct LockRecord {
  std::string scope;
  std::string holder;  // user id
  std::string reason;
  EpochMillis since = 0;
  std::optional<EpochMillis> expires_at;
  std::string chat_ref;  // where it was taken (Conversation::address()), for announcements
};

class LockStore {
 public:
  LockStore(Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  // Fails with a message naming the current holder when the scope is already locked.
  Result<LockRecord> acquire(std::string_view scope, std::string_view holder,
                             std::string_view reason, std::optional<EpochMillis> expires_at,
                             std::string_view chat_ref = "");
  // Removes and returns every lock whose expiry has passed, oldest expiry first (to announce).
  std::vector<LockRecord> take_expired();
  // The lock expiry job's reads (scheduler/timed_job.h): the earliest expiry of any lock (expired
  // or not), and the (scope, expiry) of locks expired by `now`, oldest first. Both read the whole
  // table: there is at most one lock per scope (services x environments), a few dozen rows.
  std::optional<EpochMillis> next_expiry();
  std::vector<std::pair<std::string, EpochMillis>> expired_by(EpochMillis now, int limit);
  // Removes and returns the lock on `scope` if it still expires at `expires_at` and that has
  // passed; nullopt when it was released, re-taken or extended since (one DELETE ... RETURNING).
  std::optional<LockRecord> take_expired(std::string_view scope, EpochMillis expires_at);
  // Returns false when there was no (unexpired) lock on the scope.
  bool release(std::string_view scope);
  std::optional<LockRecord> get(std::string_view scope);
  // Unexpired locks, oldest first.
  std::vector<LockRecord> list();

 private:
  Database& db_;
  const Clock& clock_;
};

}  // namespace shipmate::storage
