#include "storage/deploy_ownership.h"

namespace shipmate::storage {
namespace {

// The states a deploy is live in (deploy_store.cpp's non-terminal states, spelled out for the
// one statement that needs them here).
constexpr std::string_view kLiveStates =
    "('requested', 'awaiting_approval', 'queued', 'building', 'deploying', 'verifying')";

}  // namespace

std::string replica_lease_name(std::string_view replica) {
  return "replica:" + std::string(replica);
}

TakeoverDecision takeover_decision(std::string_view owner, std::string_view self,
                                   const std::optional<LeaseRecord>& owner_lease, EpochMillis now,
                                   EpochMillis grace_ms) {
  if (owner == self)
    return {TakeoverVerdict::own, "it is this replica's own deploy"};
  // No owner while replicas run: a stopping replica handed it over (commands/handover.h).
  if (owner.empty() && !self.empty())
    return {TakeoverVerdict::orphaned,
            "it has no owner (a stopping replica handed it over, or it dates from before replicas "
            "had names)"};
  const std::string name =
      owner.empty() ? std::string("a replica with no name") : "replica " + std::string(owner);
  if (!owner_lease || owner_lease->holder != owner) {
    return {TakeoverVerdict::orphaned, name + " holds no lease"};
  }
  if (owner_lease->expires_at + grace_ms > now) {
    return {TakeoverVerdict::owner_live, name + " is alive (its lease runs until " +
                                             std::to_string(owner_lease->expires_at) + ")"};
  }
  if (owner_lease->expires_at == 0)  // LeaseStore::release(): a clean stop
    return {TakeoverVerdict::orphaned, name + " stopped and released its lease"};
  return {TakeoverVerdict::orphaned, name + "'s lease ended at " +
                                         std::to_string(owner_lease->expires_at) +
                                         " and was not renewed"};
}

TakeoverDecision decide_takeover(Database& db, std::string_view owner, std::string_view self,
                                 EpochMillis now, EpochMillis grace_ms) {
  if (owner == self)
    return takeover_decision(owner, self, std::nullopt, now, grace_ms);
  LeaseStore leases(db);
  return takeover_decision(owner, self, leases.get(replica_lease_name(owner)), now, grace_ms);
}

bool claim_deploy(Database& db, std::int64_t id, std::string_view owner, std::int64_t epoch) {
  db.prepare(
        "UPDATE deploys SET owner = ?2 WHERE id = ?1 AND epoch = ?3 AND (owner = '' OR "
        "owner = ?2) AND state IN " +
        std::string(kLiveStates))
      .bind(1, id)
      .bind(2, owner)
      .bind(3, epoch)
      .run();
  return db.changes() == 1;
}

std::optional<std::int64_t> take_over_deploy(Database& db, std::int64_t id,
                                             std::string_view from_owner, std::int64_t epoch,
                                             std::string_view new_owner) {
  Statement take = db.prepare(
      "UPDATE deploys SET owner = ?4, epoch = epoch + 1 WHERE id = ?1 AND owner = ?2 "
      "AND epoch = ?3 AND state IN " +
      std::string(kLiveStates) + " RETURNING epoch");
  take.bind(1, id).bind(2, from_owner).bind(3, epoch).bind(4, new_owner);
  if (!take.step())
    return std::nullopt;
  const std::int64_t new_epoch = take.column_int64(0);
  take.reset();
  return new_epoch;
}

}  // namespace shipmate::storage
