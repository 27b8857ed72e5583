// The incident alarm: one timer for every incident deadline, armed for the earliest one.
//
// Two kinds of deadline live on the incidents themselves (storage/incident_store.h): the next
// status reminder of an open incident (`next_reminder_at`) and the archiving of a resolved
// incident's room (`archive_at`, set on resolve when `incidents.archive_after` is on). Instead of
// reading every open incident each second, the alarm asks the store for the earliest deadline
// (an indexed MIN over the two columns), sleeps until then through the Timers seam
// (common/timer.h), and at that time reads only the incidents that are due:
// - a due reminder is decided by plan_reminders() (incident_model.h) and committed with its next
//   due time, its timeline row and its durable announcement in one transaction, keyed by the due
//   time it answers, then delivered (so across restarts it is sent exactly once, as before);
// - a due room is archived through IncidentRooms::archive(); on success (or when it was already
//   archived) the archive time and a timeline row commit together. A transport that is not
//   running, or a failure that may pass (a timeout, a 5xx, a rate limit), moves the deadline
//   `kArchiveRetry` later; a refusal that will not pass (a missing scope, a channel that is gone)
//   is put on the timeline once and the room is left as it is.
// Every change that moves a deadline (a status update, a severity change, a resolve) calls
// changed(), which re-arms the timer at once; changed() costs one wake-up, not a scan.
//
// start() makes up, once, the reminder times a crash or an older version left unplanned (one
// pass over the open incidents), then starts the loop, whose first step runs on a later turn of
// the event loop (never inside the caller). A deadline already past at start fires at
// once (late, never twice).
//
// Contract: event-loop thread only, for every member. The alarm must outlive its loop: the App
// calls stop() and drains the event loop before destroying it. stop() ends the loop at once; an
// archive call in flight finishes on its own and is recorded. Nothing here throws to the caller;
// a storage failure inside a step is logged and the step is tried again after kStepRetry.
#pragma once

#include <chrono>
#include <memory>

#include <boost/asio/awaitable.hpp>

#include "commands/context.h"

namespace shipmate::commands {

inline constexpr std::chrono::milliseconds kArchiveRetry{10 * 60 * 1000};
inline constexpr std::chrono::milliseconds kStepRetry{60 * 1000};

class IncidentAlarm {
 public:
  explicit IncidentAlarm(Services& services);
  ~IncidentAlarm();
  IncidentAlarm(const IncidentAlarm&) = delete;
  IncidentAlarm& operator=(const IncidentAlarm&) = delete;

  void start();
  void stop();
  // A deadline moved (or appeared): wake and re-arm.
  void changed();

  // One step at `now` (what the loop does when it wakes): reminders due, then rooms due.
  // Returns how many reminders were sent and rooms archived. Public for tests and the bench.
  struct StepOutcome {
    int reminded = 0;
    int archived = 0;
  };
  boost::asio::awaitable<StepOutcome> step();

  struct Stats {
    long long wakeups = 0;  // times the loop woke (a deadline or a change)
    long long steps = 0;    // steps that found something due
  };
  Stats stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Plans a reminder time for every open incident whose severity has a cadence but which has none
// stored (after a restart from an older version); returns how many it planned.
int plan_missing_reminders(Services& services);

}  // namespace shipmate::commands
