// What a stopping Shipmate does with the work it has in hand (issue 17: rolling restarts).
//
// One replica alone (SQLite) has nobody to hand its work to: a stop cancels the deploys it runs
// (recorded, then their waits end) and leaves its runbook runs journaled for its next start, as
// it always did. With replicas on PostgreSQL, a stop that was asked for (SIGTERM or SIGINT, the
// way systemd and Kubernetes restart a process) hands the work over instead:
// - a deploy a survivor can carry on from what is persisted (commands/deploy_recovery.h:
//   a build to follow, a straight rollout before any check) is parked: one compare-and-set moves
//   it to no owner at the next epoch, before its coroutine is woken, so whatever this process
//   would still write is refused by the fence; a survivor takes it over at its next lease
//   renewal (a deploy with no owner is nobody's: no lease to wait out) and resumes it;
// - a deploy no survivor could carry on (a check under way, a canary or blue-green step) is
//   finished here, for at most the handover budget; what is still running then is cancelled,
//   as without replicas;
// - runbook runs stop where they are (journaled) and are parked the same way; the survivor
//   reconciles them as a restart would;
// - the lease is released last, after the transports have sent what they had queued, so the
//   replies and commands left behind are adopted at once, not after the lease's expiry.
// A stop this replica did not choose (its lease lost, a chat platform failing for good, start-up
// failing) cancels as before: it may no longer own what it would hand over.
//
// Contract: pure functions of their arguments; no I/O, no clock reads, thread-safe. The I/O
// halves are hand_over_running_deploys() (deploy_recovery.h), RunbookRunner::hand_over() and
// bot/work_in_hand.h, which drives the drain with these answers.
#pragma once

#include <cstddef>

#include "common/clock.h"

namespace shipmate::commands {

enum class StopMode {
  cancel,     // record running deploys as cancelled; runs wait for this process's next start
  hand_over,  // park what a survivor can carry on, finish the rest, then let go
};

// `replicated`: this process runs as a named replica on a shared database. `asked`: the stop was
// asked for (a signal), not forced on it. `lease_held`: it may still act (bot/replica.h).
StopMode stop_mode(bool replicated, bool asked, bool lease_held);

enum class DeployExit {
  park,    // a survivor resumes it from what is persisted
  finish,  // this replica carries it to its end first (within the handover budget)
};

// `survivor_can_resume`: what takeover would do with it (deploy_recovery.h's resumable rule).
DeployExit deploy_exit(bool survivor_can_resume);

// How long a stop that hands over waits for deploys it finishes itself before it cancels them:
// below the shutdown watchdog's 20 s, and within Kubernetes' default 30 s grace period.
inline constexpr EpochMillis kHandoverBudgetMs = 12'000;

enum class DrainStep {
  wait,         // work is still finishing and the budget is not spent: look again later
  cancel_rest,  // the budget is spent: cancel the deploys that still run (recorded, announced)
  let_go,       // nothing runs any more: go on stopping (and release the lease at the end)
};

// One look at the drain: `still_finishing` is the work this replica finishes before it lets go
// that still runs at `now`: the deploys it chose to finish, and the chat commands whose handlers
// have not returned (a parked deploy's or run's command returns once woken; until it has, its
// replies are not recorded as done). `deadline` is when the stop began plus kHandoverBudgetMs.
DrainStep drain_step(std::size_t still_finishing, EpochMillis now, EpochMillis deadline);

}  // namespace shipmate::commands
