#include "storage/lease.h"

namespace shipmate::storage {

// ---------------------------------------------------------------------------------------------
// LeaseStore

std::optional<std::int64_t> LeaseStore::acquire(std::string_view name, std::string_view holder,
                                                EpochMillis now, EpochMillis duration_ms) {
  // One statement: two replicas asking at once cannot both be granted (the row's primary key
  // and the conflict's condition decide), and the epoch only ever grows.
  Statement take = db_.prepare(
      "INSERT INTO leases (name, holder, epoch, expires_at) VALUES (?1, ?2, 1, ?3 + ?4) "
      "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, epoch = leases.epoch + 1, "
      "expires_at = excluded.expires_at WHERE leases.expires_at <= ?3 RETURNING epoch");
  take.bind(1, name).bind(2, holder).bind(3, now).bind(4, duration_ms);
  if (!take.step())
    return std::nullopt;
  const std::int64_t epoch = take.column_int64(0);
  take.reset();
  return epoch;
}

bool LeaseStore::renew(std::string_view name, std::string_view holder, std::int64_t epoch,
                       EpochMillis now, EpochMillis duration_ms) {
  db_.prepare(
         "UPDATE leases SET expires_at = ?4 + ?5 WHERE name = ?1 AND holder = ?2 AND epoch = ?3")
      .bind(1, name)
      .bind(2, holder)
      .bind(3, epoch)
      .bind(4, now)
      .bind(5, duration_ms)
      .run();
  return db_.changes() == 1;
}

bool LeaseStore::release(std::string_view name, std::string_view holder, std::int64_t epoch) {
  db_.prepare("UPDATE leases SET expires_at = 0 WHERE name = ?1 AND holder = ?2 AND epoch = ?3")
      .bind(1, name)
      .bind(2, holder)
      .bind(3, epoch)
      .run();
  return db_.changes() == 1;
}

std::optional<LeaseRecord> LeaseStore::get(std::string_view name) {
  Statement query =
      db_.prepare("SELECT name, holder, epoch, expires_at FROM leases WHERE name = ?1");
  query.bind(1, name);
  if (!query.step())
    return std::nullopt;
  return LeaseRecord{query.column_text(0), query.column_text(1), query.column_int64(2),
                     query.column_int64(3)};
}

// ---------------------------------------------------------------------------------------------
// LeaseKeeper

LeaseKeeper::Step LeaseKeeper::next(EpochMillis now) const {
  if (taken_over_ || (epoch_ && now >= valid_until_))
    return Step::none;  // lost (or lapsing right now): nothing left to ask for
  const auto due = next_at();
  if (!due || now < *due)
    return Step::none;
  return epoch_ ? Step::renew : Step::acquire;
}

std::optional<EpochMillis> LeaseKeeper::next_at() const {
  if (taken_over_)
    return std::nullopt;
  if (!ever_sent_)
    return EpochMillis{0};  // at once
  return last_sent_ + timing_.renew_every_ms;
}

void LeaseKeeper::granted(EpochMillis sent_at, std::int64_t epoch) {
  ever_sent_ = true;
  last_sent_ = sent_at;
  if (taken_over_)
    return;
  // A grant that arrives after the lease already lapsed by this clock cannot revive it: the
  // replica may have been seen as dead meanwhile.
  if (epoch_ && sent_at >= valid_until_)
    return;
  epoch_ = epoch;
  valid_until_ = sent_at + timing_.duration_ms;
}

void LeaseKeeper::refused(EpochMillis sent_at) {
  ever_sent_ = true;
  last_sent_ = sent_at;
  if (epoch_)
    taken_over_ = true;
}

void LeaseKeeper::failed(EpochMillis sent_at) {
  ever_sent_ = true;
  last_sent_ = sent_at;
}

bool LeaseKeeper::may_act(EpochMillis now) const {
  return epoch_ && !taken_over_ && now < valid_until_ - timing_.safety_ms;
}

bool LeaseKeeper::lost(EpochMillis now) const {
  return epoch_ && (taken_over_ || now >= valid_until_);
}

}  // namespace shipmate::storage
