// Which replica runs each live deploy, and taking a dead replica's deploys over (issue 17).
//
// A deploy row carries `owner` (the replica running it; empty for a single replica) and `epoch`
// (bumped by each takeover). Every state change the deploy flow makes checks both through
// DeployStore::transition_if, so once a survivor has taken a deploy over, the former owner's
// writes fail, however late they arrive. Each replica holds a lease row named
// replica_lease_name(replica) (storage/lease.h) that it keeps renewing while it runs.
//
// Two halves, like lease.h:
// - takeover_decision(): sans I/O. Given a live deploy, the replica looking at it and the
//   owner's lease as read from the database, may this replica touch it (reconcile, resume or
//   fail it), and why not when it may not. A live replica's deploys are never touched; an
//   owner's lease that ended (expired by the reader's clock, with `grace` more for clock skew)
//   or that was never there makes its deploys orphans. So does an empty owner seen by a named
//   replica: a stopping replica parked the deploy for a survivor (commands/handover.h).
// - claim_deploy() / take_over_deploy(): one compare-and-set UPDATE each, on either backend.
//   Of two survivors taking the same deploy over, exactly one wins; the epoch only grows.
//
// Contract: the store functions' threading and errors as in database.h (StorageError on SQL
// failure). takeover_decision() is a pure function.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "storage/database.h"
#include "storage/lease.h"

namespace shipmate::storage {

// "replica:<id>": the lease a replica renews for as long as it runs.
std::string replica_lease_name(std::string_view replica);

enum class TakeoverVerdict {
  own,         // this replica's own deploy (or a single replica's: owner empty and self empty)
  owner_live,  // another replica holds its lease: leave the deploy alone
  orphaned,    // its owner's lease ended (or never existed): take it over, then reconcile
};

struct TakeoverDecision {
  TakeoverVerdict verdict = TakeoverVerdict::own;
  std::string why;  // for logs and the takeover announcement
};

// `owner_lease` is the lease named replica_lease_name(owner) as read now (empty: no such row).
// `grace_ms` is added to the lease's end before it counts as over (clock differences).
TakeoverDecision takeover_decision(std::string_view owner, std::string_view self,
                                   const std::optional<LeaseRecord>& owner_lease, EpochMillis now,
                                   EpochMillis grace_ms);

// takeover_decision() with the owner's lease read from `db` now: the one question every takeover
// (deploys, inbox rows) asks about a replica's work.
TakeoverDecision decide_takeover(Database& db, std::string_view owner, std::string_view self,
                                 EpochMillis now, EpochMillis grace_ms);

// Records `owner` as the replica running live deploy `id`, if it is still at `epoch` and has no
// other owner. False when another replica owns it or its epoch moved.
bool claim_deploy(Database& db, std::int64_t id, std::string_view owner, std::int64_t epoch);

// Takes live deploy `id` over from `from_owner` at `epoch` for `new_owner`: one UPDATE that
// bumps the epoch. Returns the new epoch, or empty when someone else took it first (owner or
// epoch moved) or the deploy is no longer live.
std::optional<std::int64_t> take_over_deploy(Database& db, std::int64_t id,
                                             std::string_view from_owner, std::int64_t epoch,
                                             std::string_view new_owner);

}  // namespace shipmate::storage
