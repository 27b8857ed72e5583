#include "storage/timed_claims.h"

#include "storage/database.h"

namespace shipmate::storage {

bool TimedClaimStore::claim(std::string_view job, std::string_view key, EpochMillis nominal,
                            EpochMillis lease_ms) {
  const EpochMillis now = clock_.now_ms();
  // Insert, or take over a finished claim or one whose lease ended: one statement, so two
  // claimants on the same database (SQLite's single writer, PostgreSQL's row lock on the
  // conflict) never both win.
  db_.prepare(
         "INSERT INTO timed_claims (job, key, nominal_at, holder, state, claimed_at, "
         "lease_until) VALUES (?1, ?2, ?3, ?4, 'claimed', ?5, ?6) "
         "ON CONFLICT (job, key, nominal_at) DO UPDATE SET state = 'claimed', holder = "
         "excluded.holder, "
         "claimed_at = excluded.claimed_at, lease_until = excluded.lease_until "
         "WHERE timed_claims.state = 'done' OR timed_claims.lease_until <= ?5")
      .bind(1, job)
      .bind(2, key)
      .bind(3, nominal)
      .bind(4, holder_)
      .bind(5, now)
      .bind(6, now + lease_ms)
      .run();
  return db_.changes() > 0;
}

void TimedClaimStore::finish(std::string_view job, std::string_view key, EpochMillis nominal) {
  db_.prepare(
         "UPDATE timed_claims SET state = 'done', lease_until = ?5 "
         "WHERE job = ?1 AND key = ?2 AND nominal_at = ?3 AND holder = ?4")
      .bind(1, job)
      .bind(2, key)
      .bind(3, nominal)
      .bind(4, holder_)
      .bind(5, clock_.now_ms())
      .run();
}

int TimedClaimStore::release_mine() {
  db_.prepare("DELETE FROM timed_claims WHERE state = 'claimed' AND holder = ?1")
      .bind(1, holder_)
      .run();
  return db_.changes();
}

int TimedClaimStore::prune_done_before(EpochMillis before) {
  db_.prepare("DELETE FROM timed_claims WHERE state = 'done' AND lease_until < ?1")
      .bind(1, before)
      .run();
  return db_.changes();
}

std::optional<std::string> TimedClaimStore::state(std::string_view job, std::string_view key,
                                                  EpochMillis nominal) {
  Statement query =
      db_.prepare("SELECT state FROM timed_claims WHERE job = ?1 AND key = ?2 AND nominal_at = ?3");
  query.bind(1, job).bind(2, key).bind(3, nominal);
  if (!query.step())
    return std::nullopt;
  return query.column_text(0);
}

}  // namespace shipmate::storage
