// A replica's lease (issue 17): one row per running Shipmate on a shared PostgreSQL, renewed on a
// timer, that tells the other replicas this one is alive.
//
// - claim() at start-up takes the lease named storage::replica_lease_name(name). A lease still
//   held by an earlier process of the same name (killed without releasing it) is waited out; one
//   that keeps being renewed means another process runs under this name, and claim() refuses
//   with a sentence saying so.
// - keep() renews it every LeaseTiming::renew_every_ms through `timers` (common/timer.h, so tests
//   drive it with ManualTimers and a ManualClock). After each renewal that leaves the lease held it
//   calls `on_held` (the periodic takeover of dead replicas' work hangs there). When the lease is
//   lost (taken over after this process was frozen, or lapsed by this replica's clock while the
//   database could not be reached) it calls `on_lost` once with the reason and returns: the
//   replica must stop acting on targets and exit. Decisions are storage::LeaseKeeper's.
// - release() ends the lease at once on a clean shutdown, so no one waits for it to expire.
//
// Contract: event-loop thread only (claim() blocks in `sleep`, before the loop runs). Storage
// errors while renewing count as "no answer" (the lease runs on until it lapses); claim() turns
// them into an Error. The Database, Clock and Timers must outlive the lease.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "common/clock.h"
#include "common/result.h"
#include "storage/lease.h"

namespace shipmate {
class Timers;
}
namespace shipmate::storage {
class Database;
}

namespace shipmate::bot {

// The lease timing for a lease of `duration_ms`: renewed three times per lease, acting stops a
// fifth of it before the end, and a survivor waits a fifth more before taking work over.
storage::LeaseTiming replica_lease_timing(EpochMillis duration_ms);
EpochMillis replica_takeover_grace(EpochMillis duration_ms);

// The name this process runs as: `from_environment` (SHIPMATE_REPLICA) when set, else
// `configured` (shipmate: replica:), else "default" on PostgreSQL; empty on SQLite, where the
// file lock admits one process. An Error for a malformed name, or a name on SQLite.
Result<std::string> replica_name(const std::string& configured, bool postgresql,
                                 const char* from_environment);

class ReplicaLease {
 public:
  ReplicaLease(storage::Database& db, const Clock& clock, std::string name,
               storage::LeaseTiming timing);

  // Takes the lease (see above). `sleep` waits between attempts (real time in production).
  Status claim(const std::function<void(std::chrono::milliseconds)>& sleep);
  boost::asio::awaitable<void> keep(Timers& timers, std::function<void()> on_held,
                                    std::function<void(std::string)> on_lost);
  // Ends keep() at its next wake-up without calling on_lost.
  void stop() { stopped_ = true; }
  // Clean shutdown: frees the lease now (false when it was no longer ours).
  bool release();

  const std::string& name() const { return name_; }
  bool may_act() const { return keeper_.may_act(clock_.now_ms()); }
  std::optional<std::int64_t> epoch() const { return keeper_.epoch(); }

 private:
  storage::Database& db_;
  const Clock& clock_;
  std::string name_;
  std::string lease_;  // replica_lease_name(name_)
  storage::LeaseTiming timing_;
  storage::LeaseKeeper keeper_;
  bool stopped_ = false;
};

}  // namespace shipmate::bot
