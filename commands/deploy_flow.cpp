#include "commands/deploy_flow.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "commands/deploy_state_machine.h"
#include "commands/resolve.h"
#include "common/strings.h"

namespace shipmate::commands {
namespace {

using storage::DeployKind;
using storage::DeployState;

std::string scope_of(const DeployPlan& plan) {
  return plan.service->name + "@" + plan.environment->name;
}

// Refusals shared by deploys and rollbacks: locks, and one active deploy per scope.
Status check_scope_free(Services& services, const std::string& service,
                        const std::string& environment) {
  for (const auto& scope : blocking_scopes(service, environment)) {
    if (auto lock = services.locks.get(scope)) {
      std::string text = describe_scope(scope) + " is locked by " + lock->holder + " since " +
                         format_utc(lock->since);
      if (!lock->reason.empty())
        text += " (" + lock->reason + ")";
      return make_error(text + "; ask " + lock->holder + " or run 'unlock " +
                        describe_scope(scope) + "' when it is safe");
    }
  }
  if (auto active = services.deploys.active_for(service, environment)) {
    return make_error("deploy #" + std::to_string(active->id) + " (" + service + " " +
                      active->version + " to " + environment + ") is still " +
                      std::string(to_string(active->state)) + "; wait for it to finish");
  }
  return Ok{};
}

Result<const EnvironmentSpec*> environment_for_service(const Catalog& catalog,
                                                       const ServiceSpec& service,
                                                       const std::string& name) {
  auto env = resolve_environment(catalog, name);
  if (!env)
    return env;
  if (std::find(service.environments.begin(), service.environments.end(), name) ==
      service.environments.end()) {
    return make_error(service.name + " is not deployed to " + name + "; it runs in " +
                      join(service.environments, ", "));
  }
  return env;
}

std::string current_version(Services& services, const std::string& service,
                            const std::string& environment) {
  if (auto last = services.deploys.last_succeeded(service, environment))
    return last->version;
  return "";
}

std::string versions_hint(const integrations::DeployTarget& target) {
  auto versions = target.available_versions();
  return versions.empty() ? "" : " (available: " + join(versions, ", ") + ")";
}

// How the effects a step may return are checked against what its caller carries out: a step in
// the middle of execute_deploy does exactly one thing next, while cancellation and recovery
// hand a mix of effects to their callers depending on the state the deploy was in.
enum class Expect { exactly, any_of };

struct Step {
  bool ok = false;  // persisted; carry out `effects`
  DeployState to = DeployState::requested;
  std::vector<DeployEffect> effects;            // in order
  std::optional<storage::DeployRecord> record;  // the row after this step, when one was written
  std::string error;                            // when !ok: already logged and recorded
};

bool contains(const std::vector<DeployEffect>& effects, DeployEffect effect) {
  return std::find(effects.begin(), effects.end(), effect) != effects.end();
}

// One step of a deploy: ask the state machine what `input` means in state `from`, persist the
// transition, and only then hand back the effects. An answer the caller cannot carry out (an
// illegal transition, or an effect the flow does not implement) is a bug in the flow, not in the
// deploy: it is logged and the deploy is recorded as failed with the reason, so it neither
// crashes the bot nor stays in flight.
Step advance(Services& services, std::int64_t id, DeployState from, DeployInput input,
             const std::string& message, const std::vector<DeployEffect>& carried_out,
             Expect expect) {
  Step step;
  auto answer = next_step(from, input);
  std::string bug;
  if (!answer) {
    bug = answer.error().message;
  } else if (expect == Expect::exactly && answer->effects != carried_out) {
    bug = "the deploy state machine answered " + std::string(to_string(input)) + " in state " +
          std::string(storage::to_string(from)) + " with effects this flow does not carry out";
  } else {
    for (auto effect : answer->effects) {
      if (!contains(carried_out, effect)) {
        bug = "the deploy state machine asked for " + std::string(to_string(effect)) + " after " +
              std::string(to_string(input)) + ", which this flow does not carry out";
        break;
      }
    }
  }
  if (!bug.empty()) {
    spdlog::error("deploy #{}: {}", id, bug);
    step.error = "internal error: " + bug;
    if (!storage::is_terminal(from)) {
      step.record = services.deploys.transition(id, DeployState::failed, step.error);
      step.to = DeployState::failed;
    } else {
      step.to = from;
    }
    return step;
  }
  // A step that keeps the state changed nothing durable (see deploy_state_machine.h), so it
  // writes no event; that keeps a plain deploy's history at requested, deploying, outcome.
  if (answer->to != from)
    step.record = services.deploys.transition(id, answer->to, message);
  step.ok = true;
  step.to = answer->to;
  step.effects = std::move(answer->effects);
  return step;
}

// The promotion rule of `environment`, if it has one: `version` must have succeeded in the
// environment before it and served there for the soak time.
Status check_promotion(Services& services, const ServiceSpec& service,
                       const EnvironmentSpec& environment, const std::string& version) {
  if (!environment.promotion)
    return Ok{};
  std::string from = environment.promotion->from;
  if (from.empty()) {
    auto previous = services.catalog.previous_environment(service, environment.name);
    if (!previous)
      return Ok{};
    from = *previous;
  }
  std::optional<storage::DeployRecord> passed;
  for (const auto& deploy : services.deploys.history(service.name, from, 500)) {
    if (deploy.version == version && deploy.state == DeployState::succeeded) {
      passed = deploy;
      break;
    }
  }
  if (!passed) {
    return make_error(service.name + " " + version + " has not succeeded in " + from +
                      " yet, and " + environment.name + " only takes versions that have");
  }
  const EpochMillis since = passed->finished_at.value_or(passed->requested_at);
  const EpochMillis soaked = services.clock.now_ms() - since;
  if (soaked < environment.promotion->soak_ms) {
    return make_error(service.name + " " + version + " has soaked in " + from + " for " +
                      format_duration(soaked) + "; " + environment.name + " needs " +
                      format_duration(environment.promotion->soak_ms) + " (ready at " +
                      format_utc(since + environment.promotion->soak_ms) + ")");
  }
  return Ok{};
}

}  // namespace

std::vector<std::string> blocking_scopes(const std::string& service,
                                         const std::string& environment) {
  return {"service:" + service + "@" + environment, "service:" + service, "env:" + environment};
}

Result<DeployPlan> prepare_deploy(Services& services, const Caller& caller,
                                  const DeployRequest& request) {
  auto service = resolve_service(services.catalog, request.service);
  if (!service)
    return service.error();
  if ((*service)->environments.empty()) {
    return make_error((*service)->name + " has no environments configured");
  }
  const std::string env_name =
      request.environment.empty() ? (*service)->environments.front() : request.environment;
  auto environment = environment_for_service(services.catalog, **service, env_name);
  if (!environment)
    return environment.error();

  auto decision = authorize(caller.user, caller.user_id, Action::deploy, **environment);
  if (!decision.allowed)
    return make_error(decision.reason);

  auto target_it = services.targets.find((*service)->name);
  if (target_it == services.targets.end()) {
    return make_error((*service)->name + " has no deploy target configured");
  }
  const auto& target = *target_it->second;

  DeployPlan plan;
  plan.service = *service;
  plan.environment = *environment;
  plan.kind = request.kind;
  plan.reason = request.reason;
  plan.version = request.version;
  if (plan.version.empty()) {
    auto previous = services.catalog.previous_environment(**service, env_name);
    std::string promoted = previous ? current_version(services, plan.service->name, *previous) : "";
    if (promoted.empty()) {
      return make_error("which version of " + plan.service->name + "? say 'deploy " +
                        plan.service->name + " <version> to " + env_name + "'" +
                        versions_hint(target));
    }
    plan.version = promoted;
  }
  if (auto valid = target.validate(env_name, plan.version); !valid)
    return valid.error();

  // Policies that --override may set aside: the promotion rule, then freeze windows.
  std::vector<std::string> refusals;
  if (auto promoted = check_promotion(services, *plan.service, **environment, plan.version);
      !promoted) {
    refusals.push_back(promoted.error().message);
  }
  if (auto freeze = active_freeze((*environment)->freezes, services.clock.now_ms())) {
    const auto& window = (*environment)->freezes[freeze->window_index];
    refusals.push_back(env_name + " is frozen" +
                       (freeze->reason.empty() ? "" : " (" + freeze->reason + ")") + " " +
                       describe_until(window, freeze->ends_at_ms));
  }
  if (!refusals.empty()) {
    const std::string refused = join(refusals, "; ");
    if (!request.override_policy)
      return make_error(refused + "; someone allowed to may add --override --reason \"...\"");
    auto may = authorize(caller.user, caller.user_id, Action::override, **environment);
    if (!may.allowed)
      return make_error(refused + "; and " + may.reason);
    if (request.reason.empty())
      return make_error("--override needs --reason \"why\", for the audit log");
    plan.overridden = refused;
  }

  plan.previous_version = current_version(services, plan.service->name, env_name);
  if (plan.previous_version == plan.version && !request.force) {
    return make_error(plan.service->name + " " + plan.version + " is already serving in " +
                      env_name + "; add --force to deploy it again");
  }
  if (plan.previous_version == plan.version)
    plan.kind = DeployKind::redeploy;
  if (auto free = check_scope_free(services, plan.service->name, env_name); !free) {
    return free.error();
  }
  return plan;
}

Result<DeployPlan> prepare_rollback(Services& services, const Caller& caller,
                                    const std::string& service_name, const std::string& environment,
                                    const std::string& to_version, const std::string& reason) {
  auto service = resolve_service(services.catalog, service_name);
  if (!service)
    return service.error();

  std::string env_name = environment;
  if (env_name.empty()) {
    std::vector<std::string> deployed;
    for (const auto& env : (*service)->environments) {
      if (services.deploys.last_succeeded((*service)->name, env))
        deployed.push_back(env);
    }
    if (deployed.empty()) {
      return make_error((*service)->name + " has never been deployed, so there is nothing to " +
                        "roll back");
    }
    if (deployed.size() > 1) {
      return make_error((*service)->name + " runs in " + join(deployed, " and ") +
                        "; say which: 'rollback " + (*service)->name + " in " + deployed.back() +
                        "'");
    }
    env_name = deployed.front();
  }
  auto env = environment_for_service(services.catalog, **service, env_name);
  if (!env)
    return env.error();

  auto decision = authorize(caller.user, caller.user_id, Action::rollback, **env);
  if (!decision.allowed)
    return make_error(decision.reason);

  auto target_it = services.targets.find((*service)->name);
  if (target_it == services.targets.end()) {
    return make_error((*service)->name + " has no deploy target configured");
  }

  const std::string current = current_version(services, (*service)->name, env_name);
  if (current.empty()) {
    return make_error((*service)->name + " has never been deployed to " + env_name +
                      ", so there is nothing to roll back");
  }
  std::string version = to_version;
  if (version.empty()) {
    auto earlier = services.deploys.last_succeeded_other_than((*service)->name, env_name, current);
    if (!earlier) {
      return make_error("no earlier good version of " + (*service)->name + " in " + env_name +
                        " to roll back to; " + current + " is the only one that ever succeeded");
    }
    version = earlier->version;
  } else if (version == current) {
    return make_error((*service)->name + " " + version + " is already serving in " + env_name);
  }
  if (auto valid = target_it->second->validate(env_name, version); !valid)
    return valid.error();
  if (auto free = check_scope_free(services, (*service)->name, env_name); !free) {
    return free.error();
  }

  DeployPlan plan;
  plan.service = *service;
  plan.environment = *env;
  plan.version = version;
  plan.previous_version = current;
  plan.kind = DeployKind::rollback;
  plan.reason = reason;
  return plan;
}

boost::asio::awaitable<std::int64_t> execute_deploy(Services& services, const Caller& caller,
                                                    Conversation& conversation, DeployPlan plan) {
  auto& target = *services.targets.at(plan.service->name);
  const std::string scope = scope_of(plan);
  const bool is_rollback = plan.kind == DeployKind::rollback;
  const std::string verb = is_rollback ? "Rollback" : "Deploy";

  storage::NewDeploy request;
  request.service = plan.service->name;
  request.environment = plan.environment->name;
  request.version = plan.version;
  request.previous_version = plan.previous_version;
  request.kind = plan.kind;
  request.requested_by = caller.user_id;
  request.reason = plan.reason;
  request.chat_ref = conversation.address();
  request.committed_at = target.commit_time(plan.version);
  storage::DeployRecord record = services.deploys.create(request);
  const std::int64_t id = record.id;

  const std::string label = verb + " #" + std::to_string(id);
  const std::string change =
      plan.previous_version.empty() ? plan.version : plan.previous_version + " -> " + plan.version;
  record_audit(services, caller.user_id, is_rollback ? "rollback.requested" : "deploy.requested",
               scope, "ok",
               "#" + std::to_string(id) + " " + change +
                   (plan.reason.empty() ? "" : " reason: " + plan.reason));

  if (!plan.overridden.empty()) {
    record_audit(services, caller.user_id, "deploy.policy_overridden", scope, "ok",
                 "#" + std::to_string(id) + " " + plan.overridden + "; reason: " + plan.reason);
  }
  Message status;
  status.tone = Tone::progress;
  status.text = label + ": " + plan.service->name + " " + change + " in " + plan.environment->name +
                ", requested by " + caller.display();
  if (!plan.reason.empty())
    status.context = "Reason: " + plan.reason;
  if (!plan.overridden.empty())
    status.context += " | Policy overridden: " + plan.overridden;
  const MessageRef ref = conversation.post(status);

  // Environments that ask for approvals hold the deploy until enough people say yes (rollbacks
  // are emergencies and go straight through).
  if (plan.environment->approvals && !is_rollback) {
    const auto& policy = *plan.environment->approvals;
    Step step = advance(services, id, DeployState::requested, DeployInput::approval_required,
                        "waiting for approval",
                        {DeployEffect::request_approvals, DeployEffect::announce}, Expect::exactly);
    Message waiting = status;
    if (!step.ok) {
      waiting.tone = Tone::error;
      waiting.text = label + " failed: " + step.error;
      conversation.update(ref, waiting);
      co_return id;
    }
    waiting.tone = Tone::warning;
    waiting.text = label + ": " + plan.service->name + " " + change + " in " +
                   plan.environment->name + " needs " + std::to_string(policy.count) +
                   (policy.count == 1 ? " approval" : " approvals") + " from " +
                   (policy.roles.empty() ? std::string("an admin") : join(policy.roles, " or ")) +
                   " (not " + caller.display() + ") by " +
                   format_utc(record.requested_at + policy.expire_ms);
    waiting.buttons = {Button{"Approve", "approve " + std::to_string(id), "primary"},
                       Button{"Deny", "deny " + std::to_string(id), "danger"}};
    conversation.update(ref, waiting);
    co_return id;
  }
  std::string requester = caller.display();  // named: no temporaries in a co_await (GCC 12)
  co_await run_deploy(services, std::move(requester), conversation, ref, id, plan,
                      DeployState::requested);
  co_return id;
}

boost::asio::awaitable<void> run_deploy(Services& services, std::string requester,
                                        Conversation& conversation, MessageRef ref, std::int64_t id,
                                        DeployPlan plan, DeployState from) {
  auto& target = *services.targets.at(plan.service->name);
  const std::string scope = scope_of(plan);
  const bool is_rollback = plan.kind == DeployKind::rollback;
  const std::string label = (is_rollback ? "Rollback #" : "Deploy #") + std::to_string(id);
  services.running_deploys.insert(id);
  struct Untrack {
    Services& services;
    std::int64_t id;
    ~Untrack() { services.running_deploys.erase(id); }
  } untrack{services, id};

  Message final_message;
  final_message.fields = {{"Service", plan.service->name},
                          {"Environment", plan.environment->name},
                          {"Version", plan.version},
                          {"Requested by", requester}};
  // Said when the state machine and this flow disagree; the log has the details.
  auto report_bug = [&](const Step& step) {
    record_audit(services, "shipmate", is_rollback ? "rollback.failed" : "deploy.failed", scope,
                 "failed", "#" + std::to_string(id) + " " + step.error);
    final_message.tone = Tone::error;
    final_message.text = label + " failed: " + step.error;
    final_message.context = "this is a bug in Shipmate; check what " + plan.environment->name +
                            " serves before deploying again";
    conversation.update(ref, final_message);
  };

  // Policy checks and approvals are behind us: prepare_deploy() found the slot free, or
  // approve_deploy() found it unlocked, with no co_await since on this one thread; releases are
  // directories the target already has, so there is nothing to build. The machine still decides
  // where each answer leads, and the self-steps it takes on the way write no events.
  Step step;
  step.ok = true;
  step.to = from;
  if (from == DeployState::requested) {
    step = advance(services, id, DeployState::requested, DeployInput::checks_passed, "",
                   {DeployEffect::claim_slot}, Expect::exactly);
  }
  if (step.ok) {
    step = advance(services, id, step.to, DeployInput::slot_free, "", {DeployEffect::check_build},
                   Expect::exactly);
  }
  if (step.ok) {
    step = advance(services, id, step.to, DeployInput::build_not_needed,
                   (is_rollback ? "rolling back to " : "deploying ") + plan.version,
                   {DeployEffect::start_rollout}, Expect::exactly);
  }
  if (!step.ok) {
    report_bug(step);
    co_return;
  }

  // start_rollout: a rollback command rolls the target out to an older version, which is a
  // rollout like any other as far as the deploy's states go.
  const EpochMillis started = services.clock.now_ms();
  integrations::ProgressFn progress = [&conversation, ref](const std::string& line) {
    conversation.thread_reply(ref, Message(Tone::progress, line));
  };
  // GCC 12 miscompiles co_await inside a conditional expression (double destruction), so the
  // two calls stay separate statements.
  integrations::ApplyOutcome outcome;
  if (is_rollback) {
    outcome = co_await target.roll_back(plan.environment->name, plan.version, progress);
  } else {
    outcome = co_await target.apply(plan.environment->name, plan.version, progress);
  }

  // A shutdown while the target worked has already recorded this deploy as cancelled.
  auto current = services.deploys.get(id);
  if (!current || storage::is_terminal(current->state))
    co_return;

  const std::string took = format_duration(services.clock.now_ms() - started);
  const DeployInput result =
      outcome.ok ? DeployInput::rollout_succeeded : DeployInput::rollout_failed;
  // release_slot needs no action here: the slot is this deploy's row being non-terminal (see
  // check_scope_free), so persisting the outcome released it. announce is the update below.
  step = advance(services, id, current->state, result, outcome.message,
                 {DeployEffect::release_slot, DeployEffect::announce}, Expect::exactly);
  if (!step.ok) {
    report_bug(step);
    co_return;
  }
  if (outcome.ok) {
    record_audit(services, "shipmate", is_rollback ? "rollback.succeeded" : "deploy.succeeded",
                 scope, "ok", "#" + std::to_string(id) + " " + plan.version + " serving");
    final_message.tone = Tone::success;
    final_message.text = label + " succeeded: " + plan.service->name + " " + plan.version +
                         " is live in " + plan.environment->name +
                         (outcome.endpoint.empty() ? "" : " at " + outcome.endpoint) + " (took " +
                         took + ")";
    if (!plan.previous_version.empty()) {
      final_message.buttons.push_back(Button{"Roll back to " + plan.previous_version,
                                             "rollback " + plan.service->name + " in " +
                                                 plan.environment->name + " to " +
                                                 plan.previous_version,
                                             "danger"});
    }
  } else {
    record_audit(services, "shipmate", is_rollback ? "rollback.failed" : "deploy.failed", scope,
                 "failed", "#" + std::to_string(id) + " " + outcome.message);
    final_message.tone = Tone::error;
    final_message.text = label + " failed: " + outcome.message;
    final_message.context =
        plan.previous_version.empty()
            ? plan.environment->name + " has no earlier version of " + plan.service->name
            : plan.environment->name + " keeps serving " + plan.service->name + " " +
                  plan.previous_version;
  }
  conversation.update(ref, final_message);
  co_return;
}

// Both functions below leave the announcing (and, on shutdown, stopping the targets) to their
// caller in bot/, which gets every deploy they recorded; release_slot is the persisted terminal
// state itself.
std::vector<storage::DeployRecord> reconcile_interrupted_deploys(Services& services) {
  std::vector<storage::DeployRecord> reconciled;
  for (const auto& deploy : services.deploys.in_flight()) {
    // A deploy waiting for approval is not running anything; it keeps waiting across restarts.
    if (services.running_deploys.count(deploy.id) > 0 ||
        deploy.state == DeployState::awaiting_approval)
      continue;
    const std::string why = "interrupted: Shipmate stopped while this deploy was " +
                            std::string(to_string(deploy.state)) +
                            "; the environment serves what it served before";
    Step step = advance(services, deploy.id, deploy.state, DeployInput::recovered, why,
                        {DeployEffect::release_slot, DeployEffect::announce}, Expect::any_of);
    if (!step.record)
      continue;  // the machine kept it in flight: nothing changed, nothing to announce
    reconciled.push_back(*step.record);
    record_audit(services, "shipmate", "deploy.reconciled",
                 deploy.service + "@" + deploy.environment,
                 std::string(storage::to_string(step.record->state)),
                 "#" + std::to_string(deploy.id) + " " + (step.ok ? why : step.error));
  }
  return reconciled;
}

std::vector<storage::DeployRecord> cancel_running_deploys(Services& services,
                                                          const std::string& why) {
  std::vector<storage::DeployRecord> cancelled;
  for (const auto& deploy : services.deploys.in_flight()) {
    if (services.running_deploys.count(deploy.id) == 0)
      continue;
    Step step =
        advance(services, deploy.id, deploy.state, DeployInput::cancel_requested, why,
                {DeployEffect::stop_work, DeployEffect::release_slot, DeployEffect::announce},
                Expect::any_of);
    if (!step.record)
      continue;
    cancelled.push_back(*step.record);
    record_audit(services, "shipmate", step.ok ? "deploy.cancelled" : "deploy.failed",
                 deploy.service + "@" + deploy.environment,
                 std::string(storage::to_string(step.record->state)),
                 "#" + std::to_string(deploy.id) + " " + (step.ok ? why : step.error));
  }
  return cancelled;
}

}  // namespace shipmate::commands

namespace shipmate::commands {
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

  if (!already) {
    services.approvals->record(id, who, "approve", "");
    record_audit(services, who, "deploy.approved", deploy->service + "@" + deploy->environment,
                 "ok", "#" + std::to_string(id));
    ++approvals;
  }
  if (approvals < policy.count) {
    conversation.post(info("Deploy #" + std::to_string(id) + " approved by " + caller.display() +
                           " (" + std::to_string(approvals) + " of " +
                           std::to_string(policy.count) + ")."));
    co_return;
  }

  // Enough approvals: check that nothing now blocks the scope (a lock taken while it waited),
  // then run it here, and tell the requester.
  for (const auto& scope : blocking_scopes(deploy->service, deploy->environment)) {
    if (auto lock = services.locks.get(scope)) {
      conversation.post(warning("Deploy #" + std::to_string(id) + " is approved, but " +
                                describe_scope(scope) + " is locked by " + lock->holder +
                                "; approve it again once the lock is released."));
      co_return;
    }
  }
  Step step = advance(services, id, DeployState::awaiting_approval, DeployInput::approval_granted,
                      "approved by " + who, {DeployEffect::announce, DeployEffect::claim_slot},
                      Expect::exactly);
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
                      DeployState::queued);
}

void deny_deploy(Services& services, const Caller& caller, Conversation& conversation,
                 std::int64_t id, const std::string& reason) {
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
  if (services.approvals != nullptr)
    services.approvals->record(id, caller.user_id, "deny", reason);
  const std::string why = (own ? "withdrawn by " : "denied by ") + caller.user_id +
                          (reason.empty() ? "" : ": " + reason);
  Step step = advance(services, id, DeployState::awaiting_approval, DeployInput::approval_denied,
                      why, {DeployEffect::release_slot, DeployEffect::announce}, Expect::exactly);
  if (!step.ok) {
    conversation.post(error_message("Deploy #" + std::to_string(id) + ": " + step.error));
    return;
  }
  record_audit(services, caller.user_id, own ? "deploy.withdrawn" : "deploy.denied",
               deploy->service + "@" + deploy->environment, "ok",
               "#" + std::to_string(id) + (reason.empty() ? "" : " " + reason));
  const Message message =
      warning("Deploy #" + std::to_string(id) + " of " + deploy->service + " " + deploy->version +
              " to " + deploy->environment + " was " + why + ".");
  conversation.post(message);
  tell_requester(services, *deploy, conversation, message);
}

int expire_approval_requests(Services& services) {
  int expired = 0;
  for (const auto& deploy : services.deploys.in_flight()) {
    if (deploy.state != DeployState::awaiting_approval)
      continue;
    const auto* environment = services.catalog.find_environment(deploy.environment);
    const long long expire_ms =
        environment && environment->approvals ? environment->approvals->expire_ms : 0;
    if (deploy.requested_at + expire_ms > services.clock.now_ms())
      continue;
    const std::string why = "nobody approved it within " + format_duration(expire_ms);
    Step step =
        advance(services, deploy.id, DeployState::awaiting_approval, DeployInput::approval_expired,
                why, {DeployEffect::release_slot, DeployEffect::announce}, Expect::exactly);
    if (!step.ok)
      continue;
    ++expired;
    record_audit(services, "shipmate", "deploy.approval_expired",
                 deploy.service + "@" + deploy.environment, "timed_out",
                 "#" + std::to_string(deploy.id));
    if (services.conversations != nullptr) {
      if (auto conversation = services.conversations->open(deploy.chat_ref)) {
        conversation->post(warning("Deploy #" + std::to_string(deploy.id) + " of " +
                                   deploy.service + " " + deploy.version + " to " +
                                   deploy.environment + " timed out: " + why + "."));
      }
    }
  }
  return expired;
}

}  // namespace shipmate::commands
