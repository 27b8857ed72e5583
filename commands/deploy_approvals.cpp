#include "commands/deploy_approvals.h"

#include <algorithm>

#include "commands/deploy_flow.h"
#include "commands/deploy_runtime.h"
#include "commands/deploy_steps.h"
#include "commands/freeze_windows.h"
#include "commands/resolve.h"
#include "common/chat_input.h"
#include "common/strings.h"
#include "storage/deploy_ownership.h"

namespace shipmate::commands {

using storage::DeployState;
namespace {

// Tells the person who asked for deploy `deploy`, wherever they asked, if that is not here.
void tell_requester(Services& services, const storage::DeployRecord& deploy,
                    const Conversation& here, const Message& message) {
  if (services.conversations == nullptr || deploy.chat_ref == here.address())
    return;
  if (auto conversation = services.conversations->open(deploy.chat_ref))
    conversation->post(message);
}

// The deploy waiting for a decision, or why there is nothing to decide.
Result<storage::DeployRecord> waiting_deploy(Services& services, std::int64_t id) {
  auto deploy = services.deploys.get(id);
  if (!deploy)
    return make_error("there is no deploy #" + std::to_string(id));
  if (deploy->state != DeployState::awaiting_approval) {
    return make_error("deploy #" + std::to_string(id) + " is not waiting for approval (it is " +
                      std::string(to_string(deploy->state)) + ")");
  }
  return *deploy;
}

bool may_decide(const UserSpec* user, const ApprovalPolicy& policy) {
  if (user == nullptr)
    return false;
  if (user->has_role(kAdminRole))
    return true;
  return std::any_of(policy.roles.begin(), policy.roles.end(),
                     [&](const std::string& role) { return user->has_role(role); });
}

}  // namespace

boost::asio::awaitable<void> approve_deploy(Services& services, const Caller& caller,
                                            Conversation& conversation, std::int64_t id) {
  auto deploy = waiting_deploy(services, id);
  if (!deploy) {
    conversation.post(error_message("Approval refused: " + deploy.error().message));
    co_return;
  }
  const auto* service = services.catalog.find_service(deploy->service);
  const auto* environment = services.catalog.find_environment(deploy->environment);
  if (service == nullptr || environment == nullptr || !environment->approvals ||
      services.approvals == nullptr) {
    conversation.post(error_message("Approval refused: deploy #" + std::to_string(id) +
                                    " no longer matches the configuration"));
    co_return;
  }
  const auto& policy = *environment->approvals;
  const std::string who = caller.user_id;
  std::string refusal;
  if (who == deploy->requested_by) {
    refusal = "you requested deploy #" + std::to_string(id) +
              "; someone else must approve it (separation of duties)";
  } else if (!may_decide(caller.user, policy)) {
    refusal = who + " may not approve deploys to " + environment->name + " (needs role: " +
              (policy.roles.empty() ? std::string("admin") : join(policy.roles, " or ")) + ")";
  }
  bool already = false;
  int approvals = 0;
  for (const auto& earlier : services.approvals->for_deploy(id)) {
    if (earlier.decision != "approve")
      continue;
    ++approvals;
    already = already || earlier.approver == who;
  }
  // Approving again is how a fully approved deploy that a lock held back is started later.
  if (refusal.empty() && already && approvals < policy.count)
    refusal = who + " already approved deploy #" + std::to_string(id);
  if (!refusal.empty()) {
    record_audit(services, who, "deploy.approval_refused", "#" + std::to_string(id), "refused",
                 refusal);
    conversation.post(error_message("Approval refused: " + refusal));
    co_return;
  }

  // The approval row is written only while the deploy still waits at the epoch read above: an
  // approval that loses a race (to a denial, the expiry, another approval) leaves no row.
  const auto record_approval = [&]() -> bool {
    if (already)
      return true;
    if (!services.approvals->record_while_waiting(id, deploy->epoch, who, "approve", ""))
      return false;
    record_audit(services, who, "deploy.approved", deploy->service + "@" + deploy->environment,
                 "ok", "#" + std::to_string(id));
    return true;
  };
  const auto moved_on = [&] {
    const auto now = services.deploys.get(id);
    conversation.post(error_message(
        "Approval not recorded: deploy #" + std::to_string(id) +
        (now ? " is " + std::string(storage::to_string(now->state)) + " now" : " is gone")));
  };
  if (approvals + (already ? 0 : 1) < policy.count) {
    if (!record_approval()) {
      moved_on();
      co_return;
    }
    ++approvals;
    conversation.post(info("Deploy #" + std::to_string(id) + " approved by " + caller.display() +
                           " (" + std::to_string(approvals) + " of " +
                           std::to_string(policy.count) + ")."));
    co_return;
  }

  // Enough approvals: check that nothing now blocks the scope (a lock taken, or a freeze begun,
  // while it waited), then run it here, and tell the requester.
  if (auto freeze = active_freeze(environment->freezes, services.clock.now_ms());
      freeze && deploy->overridden.empty()) {
    const auto& window = environment->freezes[freeze->window_index];
    if (!record_approval()) {
      moved_on();
      co_return;
    }
    conversation.post(warning("Deploy #" + std::to_string(id) + " is approved, but " +
                              environment->name + " is frozen" +
                              (freeze->reason.empty() ? "" : " (" + freeze->reason + ")") + " " +
                              describe_until(window, freeze->ends_at_ms) +
                              "; approve it again after the freeze, or deny it."));
    co_return;
  }
  for (const auto& scope : blocking_scopes(deploy->service, deploy->environment)) {
    if (auto lock = services.locks.get(scope)) {
      if (!record_approval()) {
        moved_on();
        co_return;
      }
      conversation.post(warning("Deploy #" + std::to_string(id) + " is approved, but " +
                                describe_scope(scope) + " is locked by " + lock->holder +
                                "; approve it again once the lock is released."));
      co_return;
    }
  }
  // With replicas, the deploy runs where it is approved: a deploy another replica created is
  // taken over first (nothing runs a deploy that waits for approval), which moves its epoch.
  std::int64_t epoch = deploy->epoch;
  if (deploy->owner != services.replica) {
    const auto taken =
        storage::take_over_deploy(services.database, id, deploy->owner, epoch, services.replica);
    if (!taken) {
      moved_on();
      co_return;
    }
    epoch = *taken;
    deploy->epoch = epoch;
    deploy->owner = services.replica;
  }
  // The transition and the approval row commit together: an approval that loses the
  // compare-and-set writes neither.
  Step step;
  services.database.transaction([&] {
    step = advance(services, id, DeployState::awaiting_approval, epoch,
                   DeployInput::approval_granted, "approved by " + who,
                   {DeployEffect::announce, DeployEffect::claim_slot}, Expect::exactly);
    if (step.ok && !already)
      services.approvals->record(id, who, "approve", "");
  });
  if (step.ok && !already) {
    record_audit(services, who, "deploy.approved", deploy->service + "@" + deploy->environment,
                 "ok", "#" + std::to_string(id));
  }
  if (step.lost) {
    conversation.post(error_message("Approval not recorded: " + step.error));
    co_return;
  }
  if (!step.ok) {
    conversation.post(error_message("Deploy #" + std::to_string(id) + " failed: " + step.error));
    co_return;
  }
  tell_requester(services, *deploy, conversation,
                 info("Deploy #" + std::to_string(id) + " of " + deploy->service + " " +
                      deploy->version + " to " + deploy->environment + " was approved by " +
                      caller.display() + "; it is running now."));

  DeployPlan plan;
  plan.service = service;
  plan.environment = environment;
  plan.version = deploy->version;
  plan.previous_version = current_version(services, deploy->service, deploy->environment);
  plan.kind = deploy->kind;
  plan.reason = deploy->reason;
  Message status(Tone::progress, "Deploy #" + std::to_string(id) + ": " + deploy->service + " " +
                                     deploy->version + " in " + deploy->environment +
                                     ", requested by " + deploy->requested_by + ", approved by " +
                                     caller.display());
  const MessageRef ref = conversation.post(status);
  std::string requester = deploy->requested_by;
  co_await run_deploy(services, std::move(requester), conversation, ref, id, std::move(plan),
                      DeployState::queued, epoch);
}

void deny_deploy(Services& services, const Caller& caller, Conversation& conversation,
                 std::int64_t id, const std::string& reason) {
  if (auto bounded = validate_free_text("reason", reason); !bounded) {
    conversation.post(error_message("Denial refused: " + bounded.error().message));
    return;
  }
  auto deploy = waiting_deploy(services, id);
  if (!deploy) {
    conversation.post(error_message("Denial refused: " + deploy.error().message));
    return;
  }
  const auto* environment = services.catalog.find_environment(deploy->environment);
  const bool own = caller.user_id == deploy->requested_by;  // withdrawing one's own request
  if (!own && (environment == nullptr || !environment->approvals ||
               !may_decide(caller.user, *environment->approvals))) {
    conversation.post(error_message("Denial refused: " + caller.user_id +
                                    " may not decide on deploys to " + deploy->environment));
    return;
  }
  const std::string why = (own ? "withdrawn by " : "denied by ") + caller.user_id +
                          (reason.empty() ? "" : ": " + reason);
  Step step = advance(services, id, DeployState::awaiting_approval, deploy->epoch,
                      DeployInput::approval_denied, why,
                      {DeployEffect::release_slot, DeployEffect::announce}, Expect::exactly);
  if (step.lost) {
    conversation.post(error_message((own ? "Withdrawal" : "Denial") +
                                    std::string(" not recorded: ") + step.error));
    return;
  }
  if (!step.ok) {
    conversation.post(error_message("Deploy #" + std::to_string(id) + ": " + step.error));
    return;
  }
  // Recorded once the denial won: a denial that lost to an approval or the expiry left nothing.
  if (services.approvals != nullptr)
    services.approvals->record(id, caller.user_id, "deny", reason);
  record_audit(services, caller.user_id, own ? "deploy.withdrawn" : "deploy.denied",
               deploy->service + "@" + deploy->environment, "ok",
               "#" + std::to_string(id) + (reason.empty() ? "" : " " + reason));
  const Message message =
      warning("Deploy #" + std::to_string(id) + " of " + deploy->service + " " + deploy->version +
              " to " + deploy->environment + " was " + why + ".");
  conversation.post(message);
  tell_requester(services, *deploy, conversation, message);
}

void decide_paused_deploy(Services& services, const Caller& caller, Conversation& conversation,
                          std::int64_t id, bool roll_back) {
  const std::string verb = roll_back ? "abort" : "continue";
  const std::string choice(roll_back ? kAbortChoice : kContinueChoice);
  // The waiting deploy checks the permission (deploy to continue, rollback to abort) and wakes.
  const AnswerVerdict verdict =
      services.runtime.questions().answer(DeployRuntime::question_key(id), choice, caller);
  switch (verdict.kind) {
    case AnswerVerdict::Kind::not_open: {
      auto deploy = services.deploys.get(id);
      conversation.post(error_message(verb + ": " +
                                      (deploy ? "deploy #" + std::to_string(id) +
                                                    " is not waiting for a decision (it is " +
                                                    std::string(to_string(deploy->state)) + ")"
                                              : "there is no deploy #" + std::to_string(id))));
      return;
    }
    case AnswerVerdict::Kind::refused:
      record_audit(services, caller.user_id, "deploy." + verb + "_refused",
                   "#" + std::to_string(id), "refused", verdict.reason);
      conversation.post(error_message(verb + " refused: " + verdict.reason));
      return;
    case AnswerVerdict::Kind::accepted:
      break;
  }
  record_audit(services, caller.user_id, roll_back ? "deploy.abort" : "deploy.continue",
               "#" + std::to_string(id), "ok", "answered the inconclusive checks");
  conversation.post(info((roll_back ? "Rolling back deploy #" : "Continuing deploy #") +
                         std::to_string(id) + " (" + caller.display() + ")"));
}

std::optional<EpochMillis> approval_deadline(const Services& services,
                                             const storage::DeployRecord& deploy) {
  if (deploy.state != DeployState::awaiting_approval)
    return std::nullopt;
  const auto* environment = services.catalog.find_environment(deploy.environment);
  const long long expire_ms =
      environment && environment->approvals ? environment->approvals->expire_ms : 0;
  return deploy.requested_at + expire_ms;
}

namespace {

// Times out one deploy waiting for approvals whose deadline has passed.
bool expire_one(Services& services, const storage::DeployRecord& deploy) {
  const auto deadline = approval_deadline(services, deploy);
  if (!deadline || *deadline > services.clock.now_ms())
    return false;
  const auto* environment = services.catalog.find_environment(deploy.environment);
  const long long expire_ms =
      environment && environment->approvals ? environment->approvals->expire_ms : 0;
  const std::string why = "nobody approved it within " + format_duration(expire_ms);
  Step step = advance(services, deploy.id, DeployState::awaiting_approval, deploy.epoch,
                      DeployInput::approval_expired, why,
                      {DeployEffect::release_slot, DeployEffect::announce}, Expect::exactly);
  if (!step.ok)
    return false;
  record_audit(services, "shipmate", "deploy.approval_expired",
               deploy.service + "@" + deploy.environment, "timed_out",
               "#" + std::to_string(deploy.id));
  if (services.conversations != nullptr) {
    if (auto conversation = services.conversations->open(deploy.chat_ref)) {
      conversation->post(warning("Deploy #" + std::to_string(deploy.id) + " of " + deploy.service +
                                 " " + deploy.version + " to " + deploy.environment +
                                 " timed out: " + why + "."));
    }
  }
  return true;
}

}  // namespace

int expire_approval_requests(Services& services) {
  int expired = 0;
  for (const auto& deploy : services.deploys.in_flight()) {
    if (expire_one(services, deploy))
      ++expired;
  }
  return expired;
}

bool expire_approval_request(Services& services, std::int64_t id) {
  const auto deploy = services.deploys.get(id);
  return deploy && expire_one(services, *deploy);
}

}  // namespace shipmate::commands
