// A timed job whose deadlines live in other rows (a lock's expiry, an approval request's
// deadline, an incident's next reminder, a resolved incident's archive time), run by the one
// scheduler (scheduler.h) beside the stored schedules.
//
// Contract
// - The scheduler calls every member on the event-loop thread. next_due() and due() read the
//   rows that hold the deadlines (indexed reads; they may throw StorageError, which the
//   scheduler logs and retries after a minute); they never change anything.
// - next_due(): the earliest deadline still standing (nullopt: none). The scheduler asks it at
//   every wake-up, so a deadline that moved (a lock released or re-taken, an incident updated in
//   time) is seen at once and an old one never fires.
// - due(now): the occurrences due at `now`, oldest first, at most `limit`. Each is named by a key
//   inside the job and its nominal instant (the deadline as stored), which is what the scheduler
//   claims (storage/timed_claims.h) before it runs it: one run at a time per occurrence per
//   database, and with run()'s re-read below, one run that acts.
// - run(occurrence): settles one claimed occurrence (announces the expiry and removes the lock,
//   times the request out, reminds and plans the next reminder, archives the room). It re-reads
//   its row first and does nothing when the deadline moved in between (a released lock, an
//   approved deploy, or the same occurrence settled by an earlier claimant): the row, not the
//   claim, is what keeps a settled occurrence from acting twice. It must be safe to run again after
//   a crash cut it off (the scheduler's successor re-runs an unfinished claim): each job settles
//   its row in one transaction. Errors are reported in the Result (logged by the scheduler); the
//   claim is finished either way, and a job that wants another try moves its deadline (a new
//   occurrence).
// - Misfire rule: run-once, with no lateness limit. An occurrence due while Shipmate was down runs
//   once after start, however late (a lock that expired during downtime is announced once, a
//   reminder missed during downtime is sent once and the next one is planned from then): each of
//   these deadlines is a state that must be settled, not a wall-clock moment worth skipping.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "common/clock.h"
#include "common/result.h"

namespace shipmate::scheduler {

struct TimedOccurrence {
  std::string key;  // the lock's scope, "#<deploy id>", "INC-<n>"
  EpochMillis nominal = 0;
  bool operator==(const TimedOccurrence&) const = default;
};

class TimedJob {
 public:
  virtual ~TimedJob() = default;
  // Stable: it names the job's claims in the database ("lock-expiry").
  virtual std::string_view name() const = 0;
  virtual std::optional<EpochMillis> next_due() = 0;
  virtual std::vector<TimedOccurrence> due(EpochMillis now, int limit) = 0;
  // The string is a short detail for the log ("announced in chat:C1").
  virtual boost::asio::awaitable<Result<std::string>> run(TimedOccurrence occurrence) = 0;
};

}  // namespace shipmate::scheduler
