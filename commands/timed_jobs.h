// The timed jobs whose deadlines live in the engine's own rows, run by the one scheduler
// (scheduler/scheduler.h, scheduler/timed_job.h) beside the stored schedules:
//   lock-expiry       a lock's `expires_at`: removed, audited (`lock.expired`) and announced where
//                     it was taken (LockStore::take_expired(scope, at), one DELETE ... RETURNING);
//   approval-timeout  a deploy waiting for approvals, at `requested_at` + its environment's
//                     approvals.expire: moved to `approval_expired` (a state change on the
//                     deploy's epoch), audited and announced;
//   incident-reminder an open incident's `next_reminder_at`: the reminder, its timeline row, its
//                     durable announcement and the next due time commit together (keyed by the due
//                     time it answers), then it is delivered;
//   room-archive      a resolved incident's `archive_at`: the room is archived through
//                     IncidentRooms::archive(); on success (or already archived) the archive time
//                     and a timeline row commit together. A failure that may pass (unavailable,
//                     TLS, internal) moves the deadline kArchiveRetry later; a refusal that will
//                     not pass is put on the timeline once and the room is left as it is.
// Each occurrence is keyed by its row (the lock's scope, "#<deploy id>", "INC-<n>") and its
// deadline as stored, and the scheduler claims it in the database before it runs it. Each run
// re-reads its row and does nothing when the deadline moved (a lock released, re-taken or
// extended; a deploy approved or denied; an incident updated in time or resolved): a moved
// deadline is a new occurrence, the old one never fires.
//
// A command that moves one of these deadlines calls timed_deadlines_changed() (a lock with an
// expiry taken, an approval requested, an incident reminder re-planned, an incident resolved
// with an archive time); the scheduler re-reads the earliest deadlines and wakes.
//
// Contract: event-loop thread only, like the handlers. The jobs hold a reference to Services,
// which must outlive the scheduler's loop and every run it started (the App stops the scheduler
// and drains the event loop first). Storage errors propagate to the scheduler, which logs them
// and tries again a minute later.
#pragma once

#include <chrono>
#include <cstdint>

#include <boost/asio/awaitable.hpp>

#include "commands/context.h"
#include "storage/incident_store.h"

namespace shipmate::scheduler {
class Scheduler;
}

namespace shipmate::commands {

inline constexpr std::chrono::milliseconds kArchiveRetry{10 * 60 * 1000};

// Adds the four jobs above to `scheduler` (before its start()).
void add_timed_jobs(scheduler::Scheduler& scheduler, Services& services);

// A deadline of a timed job moved or appeared; no-op without a scheduler.
void timed_deadlines_changed(Services& services);

// Plans a reminder time for every open incident whose severity has a cadence but which has none
// stored (after a restart from an older version); returns how many it planned. Run once at start.
int plan_missing_reminders(Services& services);

// The room-archive run for one resolved incident whose `archive_at` is still `due_at`; true when
// the room was archived (or found archived) and recorded.
boost::asio::awaitable<bool> archive_incident_room(Services& services, std::int64_t incident_id,
                                                   EpochMillis due_at);

}  // namespace shipmate::commands
