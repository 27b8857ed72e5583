// Leases: which replica owns a piece of work (or the whole of Shipmate's background work) for
// the moment, and the epoch that fences out an owner that lost it.
//
// Two halves:
// - LeaseStore: the `leases` table (one row per lease name) on either backend. Acquiring is one
//   statement that only succeeds on a free or expired row and bumps the epoch; renewing and
//   releasing succeed only for the holder with the current epoch. A writer that carries its
//   epoch into its own updates (WHERE ... AND epoch = ?) cannot write after a takeover.
// - LeaseKeeper: the holder's decisions, sans I/O. It says when to acquire or renew, and whether
//   the replica may act on targets now, from the outcomes of those requests and the time alone.
//   A lease counts from when its request was *sent*, so a slow answer never lengthens it; the
//   replica stops acting `safety_ms` before the lease runs out by its own clock (so clocks may
//   differ by less than that). Taken over, the lease is lost for good; lapsed by this replica's
//   clock (the database could not be reached), nothing more is asked for. Either way the
//   replica must stop acting and exit.
//
// Contract: LeaseStore threading and errors as in database.h; times are the callers' clocks
// (common/clock.h). LeaseKeeper is a value type with no I/O, used from one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "storage/database.h"

namespace shipmate::storage {

struct LeaseRecord {
  std::string name;
  std::string holder;
  std::int64_t epoch = 0;
  EpochMillis expires_at = 0;
};

class LeaseStore {
 public:
  explicit LeaseStore(Database& db) : db_(db) {}

  // Takes `name` for `holder` until now + duration when it is free or expired (including an
  // expired lease of the same holder); returns the new epoch (1 for a lease never held, one more
  // than before otherwise). Empty when someone holds it.
  std::optional<std::int64_t> acquire(std::string_view name, std::string_view holder,
                                      EpochMillis now, EpochMillis duration_ms);
  // Extends the lease to now + duration if `holder` still has it at `epoch`; false when it was
  // taken over (or never held).
  bool renew(std::string_view name, std::string_view holder, std::int64_t epoch, EpochMillis now,
             EpochMillis duration_ms);
  // Ends the lease at once (a clean shutdown), so another replica need not wait for it to
  // expire. False when `holder` no longer had it at `epoch`.
  bool release(std::string_view name, std::string_view holder, std::int64_t epoch);
  std::optional<LeaseRecord> get(std::string_view name);

 private:
  Database& db_;
};

struct LeaseTiming {
  EpochMillis duration_ms = 10'000;    // how long each grant or renewal lasts
  EpochMillis renew_every_ms = 3'000;  // how often the holder renews (and a standby retries)
  EpochMillis safety_ms = 2'000;       // stop acting this long before the lease runs out
};

class LeaseKeeper {
 public:
  enum class Step { none, acquire, renew };

  explicit LeaseKeeper(LeaseTiming timing = {}) : timing_(timing) {}

  // What to ask the database at `now`; then report the outcome below, with the time the request
  // was sent. Step::none once the lease is lost.
  Step next(EpochMillis now) const;
  // When next() will next ask for something (for a timer); empty once lost.
  std::optional<EpochMillis> next_at() const;

  // The request sent at `sent_at` was granted at `epoch` (acquire: a new epoch; renew: the same).
  void granted(EpochMillis sent_at, std::int64_t epoch);
  // The database answered no: for an acquire, someone else holds it (try again later); for a
  // renewal, the lease was taken over, which loses it.
  void refused(EpochMillis sent_at);
  // No answer (the database is unreachable or failed): the lease, if held, runs on until it
  // lapses by this replica's clock, and is then lost.
  void failed(EpochMillis sent_at);

  // Whether this replica may act on targets (start, change or finish work) at `now`.
  bool may_act(EpochMillis now) const;
  // Whether the lease was held and is gone (taken over or lapsed): stop acting and exit.
  bool lost(EpochMillis now) const;
  bool held(EpochMillis now) const { return may_act(now); }
  std::optional<std::int64_t> epoch() const { return epoch_; }
  // The end of the lease as this replica counts it (sent time + duration); 0 when never held.
  EpochMillis valid_until() const { return valid_until_; }

 private:
  LeaseTiming timing_;
  std::optional<std::int64_t> epoch_;  // set while held (and kept after it is lost, for logs)
  EpochMillis valid_until_ = 0;
  EpochMillis last_sent_ = 0;  // the latest request's send time
  bool ever_sent_ = false;
  bool taken_over_ = false;
};

}  // namespace shipmate::storage
