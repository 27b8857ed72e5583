#include "commands/deploy_recovery.h"

#include <spdlog/spdlog.h>

#include "commands/deploy_flow.h"
#include "commands/deploy_runtime.h"
#include "commands/deploy_steps.h"
#include "commands/handover.h"
#include "commands/resolve.h"
#include "commands/rollout_progress.h"
#include "storage/deploy_ownership.h"

namespace shipmate::commands {

using storage::DeployState;

namespace {

bool can_resume_build(const Services& services, const storage::DeployRecord& deploy) {
  return deploy.state == DeployState::building && services.builds != nullptr &&
         services.builds->count(deploy.service) > 0 &&
         services.catalog.find_service(deploy.service) != nullptr &&
         services.catalog.find_environment(deploy.environment) != nullptr;
}

// What a new owner does with a rollout cut off in deploying or verifying (rollout_progress.h,
// decide_resume): carry it on from its recorded step, roll back to the stable version, or fail
// it. Nothing when the deploy is not such a rollout, or its service, environment or target is
// no longer configured (then it is failed as before).
std::optional<ResumeDecision> rollout_resume(Services& services,
                                             const storage::DeployRecord& deploy) {
  if (deploy.state != DeployState::deploying && deploy.state != DeployState::verifying)
    return std::nullopt;
  const auto target = services.targets.find(deploy.service);
  if (target == services.targets.end() || target->second == nullptr)
    return std::nullopt;
  const ServiceSpec* service = services.catalog.find_service(deploy.service);
  if (service == nullptr || services.catalog.find_environment(deploy.environment) == nullptr)
    return std::nullopt;
  ResumeFacts facts;
  facts.state = deploy.state;
  facts.recorded = deploy.rollout;
  facts.version = deploy.version;
  facts.previous_version = deploy.previous_version;
  // The strategy as configured for this deploy, before the target's abilities are weighed:
  // decide_resume() weighs them itself and says so when they changed.
  facts.strategy = effective_strategy(service->strategy, deploy.environment, deploy.kind,
                                      deploy.previous_version, true);
  facts.supports_traffic_split = target->second->supports_traffic_split();
  for (const auto& event : services.deploys.events(deploy.id))
    facts.checks_began = facts.checks_began || event.to == DeployState::verifying;
  return decide_resume(facts);
}

bool can_resume_rollout(Services& services, const storage::DeployRecord& deploy) {
  const auto decision = rollout_resume(services, deploy);
  return decision && decision->verdict != ResumeVerdict::fail;
}

bool can_resume(Services& services, const storage::DeployRecord& deploy) {
  return can_resume_build(services, deploy) || can_resume_rollout(services, deploy);
}

// Why a deploy cut off in `state` is not carried on (for the announcement).
std::string why_not_resumed(Services& services, const storage::DeployRecord& deploy) {
  const auto decision = rollout_resume(services, deploy);
  if (decision && decision->verdict == ResumeVerdict::fail)
    return "; it cannot be carried on or rolled back: " + decision->why;
  return "";
}

// Whether this replica may settle `deploy`: its own (when `own_too`), or one whose owner is a
// dead replica, which it takes over here first (one compare-and-set: of two survivors one wins),
// updating `deploy` to the new owner and epoch. A live replica's deploy is never touched.
bool mine_or_taken_over(Services& services, storage::DeployRecord& deploy, bool own_too,
                        std::vector<storage::DeployRecord>& taken_over) {
  if (deploy.owner == services.replica)
    return own_too;
  const storage::TakeoverDecision decision =
      storage::decide_takeover(services.database, deploy.owner, services.replica,
                               services.clock.now_ms(), services.takeover_grace_ms);
  if (decision.verdict != storage::TakeoverVerdict::orphaned)
    return false;
  const auto epoch = storage::take_over_deploy(services.database, deploy.id, deploy.owner,
                                               deploy.epoch, services.replica);
  if (!epoch)
    return false;  // another survivor took it first, or it finished meanwhile
  record_audit(
      services, "shipmate", "deploy.taken_over", deploy.service + "@" + deploy.environment, "ok",
      "#" + std::to_string(deploy.id) + " by replica " + services.replica + ": " + decision.why);
  spdlog::warn("deploy #{}: taken over by replica {}: {}", deploy.id, services.replica,
               decision.why);
  deploy.owner = services.replica;
  deploy.epoch = *epoch;
  taken_over.push_back(deploy);
  return true;
}

// Settles deploys left non-terminal by a process that is gone (see reconcile_interrupted_deploys).
std::vector<storage::DeployRecord> settle(Services& services, bool own_too,
                                          std::vector<storage::DeployRecord>& taken_over) {
  std::vector<storage::DeployRecord> reconciled;
  for (auto deploy : services.deploys.in_flight()) {
    if (services.runtime.is_running(deploy.id))
      continue;
    const std::string previous_owner = deploy.owner;
    if (!mine_or_taken_over(services, deploy, own_too, taken_over))
      continue;
    // A deploy waiting for approval is not running anything; it keeps waiting across restarts.
    // A build carries on in CI and is resumed (resume_deploy).
    // A dead replica's rollout is carried on (or rolled back) by the survivor from the progress
    // it recorded (resume_deploy); this replica's own, found after its restart, is failed as
    // before: its target restored at start what it recorded as serving, which is what it reports.
    const bool taken = previous_owner != services.replica;
    if (deploy.state == DeployState::awaiting_approval || can_resume_build(services, deploy) ||
        (taken && can_resume_rollout(services, deploy)))
      continue;
    // A build no longer configured cannot be followed; nothing was deployed, so it failed.
    // Anything further along was cut off, and the target restored what served before.
    const bool orphaned_build = deploy.state == DeployState::building;
    const std::string stopped =
        previous_owner == services.replica
            ? std::string("Shipmate stopped")
            : "replica " + (previous_owner.empty() ? std::string("(unnamed)") : previous_owner) +
                  " stopped";
    const std::string why = orphaned_build
                                ? "interrupted while building, and " + deploy.service +
                                      " has no build configured any more; nothing was deployed"
                                : "interrupted: " + stopped + " while this deploy was " +
                                      std::string(to_string(deploy.state)) +
                                      (taken ? why_not_resumed(services, deploy) : std::string()) +
                                      "; the environment serves what it served before";
    Step step = advance(services, deploy.id, deploy.state, deploy.epoch,
                        orphaned_build ? DeployInput::build_failed : DeployInput::recovered, why,
                        {DeployEffect::release_slot, DeployEffect::announce}, Expect::any_of);
    if (!step.record || step.lost)
      continue;  // kept in flight (nothing changed), or another writer settled it first
    reconciled.push_back(*step.record);
    record_audit(services, "shipmate", "deploy.reconciled",
                 deploy.service + "@" + deploy.environment,
                 std::string(storage::to_string(step.record->state)),
                 "#" + std::to_string(deploy.id) + " " + (step.ok ? why : step.error));
  }
  return reconciled;
}

}  // namespace

std::vector<storage::DeployRecord> resumable_deploys(Services& services) {
  std::vector<storage::DeployRecord> out;
  for (const auto& deploy : services.deploys.in_flight()) {
    if (deploy.owner == services.replica && !services.runtime.is_running(deploy.id) &&
        can_resume(services, deploy))
      out.push_back(deploy);
  }
  return out;
}

boost::asio::awaitable<void> resume_deploy(Services& services, Conversation& conversation,
                                           storage::DeployRecord deploy) {
  if (services.runtime.is_running(deploy.id) || !can_resume(services, deploy))
    co_return;
  const bool rollout =
      deploy.state == DeployState::deploying || deploy.state == DeployState::verifying;
  std::optional<ResumeDecision> decision;
  Step step;
  if (rollout) {
    decision = rollout_resume(services, deploy);
    const bool back = decision->verdict == ResumeVerdict::roll_back;
    // The progress it carries on from (or the rollback and its reason) is recorded before the
    // target is touched, so a third replica taking over from this one reads the same.
    step = advance(
        services, deploy.id, deploy.state, deploy.epoch,
        back ? DeployInput::rollback_resumed : DeployInput::rollout_resumed,
        back ? "taken over; rolling back to " + deploy.previous_version + ": " + decision->why
             : "taken over; " + decision->why,
        {back ? DeployEffect::start_rollback : DeployEffect::start_rollout}, Expect::exactly,
        format_rollout(decision->progress));
  } else {
    step = advance(services, deploy.id, deploy.state, deploy.epoch, DeployInput::recovered, "",
                   {DeployEffect::start_build}, Expect::exactly);
  }
  if (!step.ok)
    co_return;
  DeployPlan plan;
  plan.service = services.catalog.find_service(deploy.service);
  plan.environment = services.catalog.find_environment(deploy.environment);
  plan.version = deploy.version;
  plan.previous_version = deploy.previous_version;
  plan.kind = deploy.kind;
  plan.reason = deploy.reason;
  std::string doing;
  if (!rollout) {
    doing = deploy.ci_run_url.empty() ? std::string("starting its build again")
                                      : "following its build " + deploy.ci_run_url;
  } else if (decision->verdict == ResumeVerdict::roll_back) {
    doing = "rolling back to " + deploy.previous_version + " because " + decision->why;
  } else if (decision->progress.strategy == StrategyKind::rolling) {
    doing = decision->why + " and following its rollout";
  } else {
    doing = decision->why;
  }
  record_audit(services, "shipmate", "deploy.resumed", deploy.service + "@" + deploy.environment,
               "ok",
               "#" + std::to_string(deploy.id) +
                   (rollout ? " rollout resumed: " + doing : std::string(" build resumed")) +
                   " after a restart");
  Message status(Tone::progress, "Deploy #" + std::to_string(deploy.id) + ": " + deploy.service +
                                     " " + deploy.version + " in " + deploy.environment +
                                     " resumed after a restart; " + doing);
  const MessageRef ref = conversation.post(status);
  std::string requester = deploy.requested_by;
  const std::int64_t epoch = deploy.epoch;
  co_await run_deploy(services, std::move(requester), conversation, ref, deploy.id, std::move(plan),
                      rollout ? DeployState::deploying : DeployState::building, epoch,
                      std::move(decision));
}

std::vector<storage::DeployRecord> reconcile_interrupted_deploys(Services& services) {
  std::vector<storage::DeployRecord> taken_over;
  return settle(services, true, taken_over);
}

OrphanTakeover take_over_orphaned_deploys(Services& services) {
  OrphanTakeover out;
  out.settled = settle(services, false, out.taken_over);
  for (const auto& deploy : out.taken_over) {
    if (!services.runtime.is_running(deploy.id) && can_resume(services, deploy))
      out.resumable.push_back(deploy);
  }
  return out;
}

std::vector<storage::DeployRecord> cancel_running_deploys(Services& services,
                                                          const std::string& why) {
  std::vector<storage::DeployRecord> cancelled;
  for (const auto& deploy : services.deploys.in_flight()) {
    if (!services.runtime.is_running(deploy.id))
      continue;
    Step step =
        advance(services, deploy.id, deploy.state, deploy.epoch, DeployInput::cancel_requested, why,
                {DeployEffect::stop_work, DeployEffect::release_slot, DeployEffect::announce},
                Expect::any_of);
    if (!step.record || step.lost)
      continue;
    cancelled.push_back(*step.record);
    record_audit(services, "shipmate", step.ok ? "deploy.cancelled" : "deploy.failed",
                 deploy.service + "@" + deploy.environment,
                 std::string(storage::to_string(step.record->state)),
                 "#" + std::to_string(deploy.id) + " " + (step.ok ? why : step.error));
  }
  return cancelled;
}

DeployHandover hand_over_running_deploys(Services& services, const std::string& why) {
  DeployHandover out;
  for (auto deploy : services.deploys.in_flight()) {
    if (!services.runtime.is_running(deploy.id) || deploy.owner != services.replica)
      continue;
    // Parked only when a survivor would carry it on from where it is; a deploy it would roll
    // back (or fail) is finished here instead.
    const auto rollout = rollout_resume(services, deploy);
    const bool carried_on = can_resume_build(services, deploy) ||
                            (rollout && rollout->verdict == ResumeVerdict::carry_on);
    if (deploy_exit(carried_on) == DeployExit::finish) {
      out.finishing.push_back(deploy.id);
      continue;
    }
    // Persisted before its effect: from here on the running coroutine's writes are refused.
    const auto epoch =
        storage::take_over_deploy(services.database, deploy.id, deploy.owner, deploy.epoch, "");
    if (!epoch) {
      out.finishing.push_back(deploy.id);  // it moved meanwhile: let it end as it would
      continue;
    }
    record_audit(services, "shipmate", "deploy.handed_over",
                 deploy.service + "@" + deploy.environment, "ok",
                 "#" + std::to_string(deploy.id) + " by replica " + services.replica + " (" + why +
                     ") while " + std::string(storage::to_string(deploy.state)) +
                     "; another replica carries it on");
    spdlog::info("deploy #{}: handed over while {} ({})", deploy.id,
                 storage::to_string(deploy.state), why);
    deploy.owner.clear();
    deploy.epoch = *epoch;
    services.runtime.cancel(deploy.id);
    out.parked.push_back(std::move(deploy));
  }
  return out;
}

void cancel_all_deploy_waits(Services& services) {
  services.runtime.cancel_all();
}

}  // namespace shipmate::commands
