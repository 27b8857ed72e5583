#include "commands/deploy_flow.h"

#include <algorithm>
#include <chrono>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

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

void notify_observers(Services& services, const storage::DeployRecord& record) {
  for (auto* observer : services.observers)
    observer->deploy_changed(record);
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
      notify_observers(services, *step.record);
      step.to = DeployState::failed;
    } else {
      step.to = from;
    }
    return step;
  }
  // A step that keeps the state changed nothing durable (see deploy_state_machine.h), so it
  // writes no event; that keeps a plain deploy's history at requested, deploying, outcome.
  if (answer->to != from) {
    step.record = services.deploys.transition(id, answer->to, message);
    notify_observers(services, *step.record);
  }
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
  request.overridden = plan.overridden;
  storage::DeployRecord record = services.deploys.create(request);
  notify_observers(services, record);
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

namespace {

// Drives one recorded deploy from its first step to its end: build, rollout (rolling, canary or
// blue-green), metric checks, a question to a person when the checks cannot decide, and the
// rollback a breach calls for. Every step goes through advance() before its effect happens.
class DeployRun {
 public:
  DeployRun(Services& services, std::string requester, Conversation& conversation, MessageRef ref,
            std::int64_t id, DeployPlan plan)
      : services_(services),
        conversation_(conversation),
        ref_(std::move(ref)),
        id_(id),
        plan_(std::move(plan)),
        target_(*services.targets.at(plan_.service->name)),
        scope_(scope_of(plan_)),
        is_rollback_(plan_.kind == DeployKind::rollback),
        label_((is_rollback_ ? "Rollback #" : "Deploy #") + std::to_string(id)),
        strategy_(effective_strategy()) {
    final_.fields = {{"Service", plan_.service->name},
                     {"Environment", plan_.environment->name},
                     {"Version", plan_.version},
                     {"Requested by", std::move(requester)}};
    if (strategy_.kind != StrategyKind::rolling)
      final_.fields.push_back({"Strategy", std::string(to_string(strategy_.kind))});
    progress_ = [this](const std::string& line) {
      conversation_.thread_reply(ref_, Message(Tone::progress, line));
    };
  }

  boost::asio::awaitable<void> run(DeployState from) {
    state_ = from;
    started_ = services_.clock.now_ms();
    // A deploy resumed after a restart (from == building) has its build left to do, and nothing
    // before it.
    if (from != DeployState::building) {
      // Policy checks and approvals are behind us: prepare_deploy() found the slot free, or
      // approve_deploy() found it unlocked, with no co_await since on this one thread. The
      // machine still decides where each answer leads; its self-steps write no events.
      if (from == DeployState::requested &&
          !step(DeployInput::checks_passed, "", {DeployEffect::claim_slot}))
        co_return;
      if (!step(DeployInput::slot_free, "", {DeployEffect::check_build}))
        co_return;
      if (!needs_build()) {
        if (!step(DeployInput::build_not_needed,
                  (is_rollback_ ? "rolling back to " : "deploying ") + plan_.version,
                  {DeployEffect::start_rollout}))
          co_return;
      } else if (!step(DeployInput::build_required, "building " + plan_.version,
                       {DeployEffect::start_build})) {
        co_return;
      }
    }
    if (state_ == DeployState::building) {
      const bool built = co_await build();
      if (!built)
        co_return;
    }
    if (progressive())
      co_await progressive_rollout();
    else
      co_await rolling_rollout();
  }

 private:
  // ---- steps ----

  // Puts `input` to the machine from the current state and persists the answer. False when the
  // deploy cannot go on (the failure is already recorded and announced).
  bool step(DeployInput input, const std::string& message, std::vector<DeployEffect> effects) {
    Step answer = advance(services_, id_, state_, input, message, effects, Expect::exactly);
    state_ = answer.to;
    if (!answer.ok) {
      record_audit(services_, "shipmate", is_rollback_ ? "rollback.failed" : "deploy.failed",
                   scope_, "failed", "#" + std::to_string(id_) + " " + answer.error);
      final_.tone = Tone::error;
      final_.text = label_ + " failed: " + answer.error;
      final_.context = "this is a bug in Shipmate; check what " + plan_.environment->name +
                       " serves before deploying again";
      conversation_.update(ref_, final_);
      return false;
    }
    return true;
  }

  // A shutdown while we awaited has already recorded the deploy as cancelled; then it is over.
  bool still_running() {
    auto current = services_.deploys.get(id_);
    if (!current || storage::is_terminal(current->state))
      return false;
    state_ = current->state;
    return true;
  }

  void show(Tone tone, const std::string& text) {
    Message message = final_;
    message.tone = tone;
    message.text = label_ + ": " + text;
    conversation_.update(ref_, message);
  }

  // ---- decisions about this deploy ----

  RolloutStrategy effective_strategy() const {
    RolloutStrategy strategy = plan_.service->strategy;
    // A rollback is the way out of trouble: it goes straight in, without steps or checks.
    if (is_rollback_ || !strategy.applies_to(plan_.environment->name))
      return RolloutStrategy{};
    // A first deploy has no stable version to split traffic with: it goes in whole, and is
    // still checked at 100%.
    if (strategy.kind != StrategyKind::rolling &&
        (!target_.supports_traffic_split() || plan_.previous_version.empty()))
      strategy.kind = StrategyKind::rolling;
    return strategy;
  }

  bool needs_build() const {
    return !is_rollback_ && plan_.service->has_build && services_.builds != nullptr &&
           services_.builds->count(plan_.service->name) > 0;
  }

  bool progressive() const { return strategy_.kind != StrategyKind::rolling; }

  std::map<std::string, std::string> check_vars() const {
    return {{"service", plan_.service->name},
            {"environment", plan_.environment->name},
            {"version", plan_.version},
            {"stable_version", plan_.previous_version}};
  }

  // ---- build ----

  boost::asio::awaitable<bool> build() {
    auto& ci = *services_.builds->at(plan_.service->name);
    auto recorded = services_.deploys.get(id_);
    if (recorded && !recorded->ci_run_id.empty()) {
      // A run started before a restart: follow it rather than start another.
      integrations::CiRunHandle existing{recorded->ci_run_id, recorded->ci_run_url};
      final_.fields.push_back({"Build", existing.url});
      progress_("following build " + existing.url + " again after a restart");
      co_return co_await follow_build(ci, std::move(existing));
    }
    integrations::CiRunRequest request;
    request.service = plan_.service->name;
    request.environment = plan_.environment->name;
    request.version = plan_.version;
    request.correlation_id = "shipmate-" + std::to_string(id_) + "-" +
                             std::to_string(recorded ? recorded->requested_at : started_);
    show(Tone::progress,
         "building " + plan_.service->name + " " + plan_.version + " with " + ci.kind());
    auto handle = co_await ci.trigger(std::move(request));
    if (!still_running())
      co_return false;
    if (!handle) {
      fail_build(handle.error().message, "");
      co_return false;
    }
    services_.deploys.set_ci_run(id_, handle->id, handle->url);
    final_.fields.push_back({"Build", handle->url});
    progress_("build started: " + handle->url);
    integrations::CiRunHandle started = *handle;
    co_return co_await follow_build(ci, std::move(started));
  }

  boost::asio::awaitable<bool> follow_build(integrations::CiProvider& ci,
                                            integrations::CiRunHandle handle) {
    integrations::FollowOptions follow;
    follow.first_poll = plan_.service->build_poll;
    follow.max_poll = std::max(plan_.service->build_poll * 8, plan_.service->build_poll);
    follow.deadline = std::chrono::milliseconds(plan_.service->build_timeout_ms);
    std::function<void(const integrations::CiRunStatus&)> report =
        [this](const integrations::CiRunStatus& status) {
          progress_("build " + std::string(integrations::to_string(status.state)) +
                    (status.detail.empty() ? "" : ": " + status.detail));
        };
    integrations::CiRunHandle run = handle;
    auto outcome = co_await integrations::follow_ci_run(ci, std::move(run), follow, report);
    if (!still_running())
      co_return false;
    if (!outcome) {
      fail_build(outcome.error().message, handle.url);
      co_return false;
    }
    if (outcome->state != integrations::CiRunState::succeeded) {
      fail_build("build " + std::string(integrations::to_string(outcome->state)) +
                     (outcome->detail.empty() ? "" : ": " + outcome->detail),
                 outcome->url.empty() ? handle.url : outcome->url);
      co_return false;
    }
    co_return step(DeployInput::build_succeeded, "built; deploying " + plan_.version,
                   {DeployEffect::start_rollout});
  }

  void fail_build(const std::string& why, const std::string& url) {
    if (!step(DeployInput::build_failed, why, {DeployEffect::release_slot, DeployEffect::announce}))
      return;
    record_audit(services_, "shipmate", "deploy.failed", scope_, "failed",
                 "#" + std::to_string(id_) + " " + why);
    final_.tone = Tone::error;
    final_.text = label_ + " failed: " + why;
    final_.context =
        (url.empty() ? "" : "Logs: " + url + " | ") + plan_.environment->name + " was not touched";
    conversation_.update(ref_, final_);
  }

  // ---- rollouts ----

  boost::asio::awaitable<void> rolling_rollout() {
    integrations::ApplyOutcome outcome;
    // GCC 12 miscompiles co_await inside a conditional expression (double destruction), so the
    // two calls stay separate statements.
    if (is_rollback_) {
      outcome = co_await target_.roll_back(plan_.environment->name, plan_.version, progress_);
    } else {
      outcome = co_await target_.apply(plan_.environment->name, plan_.version, progress_);
    }
    if (!still_running())
      co_return;
    if (!outcome.ok) {
      finish_failed(outcome.message);
      co_return;
    }
    endpoint_ = outcome.endpoint;
    if (!strategy_.checks.empty() || strategy_.bake_ms > 0) {
      // The new version serves everything; hold it and check it like a final canary step.
      const std::string where = "the new version serves everything";
      const auto verdict = co_await verify_step(where, 100);
      if (verdict != Verdict::passed)
        co_return;
    }
    finish_succeeded(outcome.message);
  }

  boost::asio::awaitable<void> progressive_rollout() {
    const std::string env = plan_.environment->name;
    auto started = co_await target_.start_candidate(env, plan_.version, progress_);
    if (!still_running()) {
      co_await target_.abort_candidate(env);
      co_return;
    }
    if (!started.ok) {
      finish_failed(started.message);
      co_return;
    }
    std::vector<int> weights = strategy_.steps;
    if (strategy_.kind == StrategyKind::blue_green || weights.empty() || weights.back() != 100)
      weights.push_back(100);
    if (strategy_.kind == StrategyKind::blue_green)
      weights = {100};
    for (std::size_t i = 0; i < weights.size(); ++i) {
      const int weight = weights[i];
      auto moved = co_await target_.set_candidate_weight(env, weight);
      if (!still_running()) {
        co_await target_.abort_candidate(env);
        co_return;
      }
      if (!moved.ok) {
        co_await target_.abort_candidate(env);
        finish_failed(moved.message);
        co_return;
      }
      const std::string where =
          strategy_.kind == StrategyKind::blue_green
              ? "switched all traffic to " + plan_.version + " (the old slot stays up)"
              : plan_.version + " takes " + std::to_string(weight) + "% of traffic (step " +
                    std::to_string(i + 1) + " of " + std::to_string(weights.size()) + ")";
      progress_(where);
      const auto verdict = co_await verify_step(where, weight);
      if (verdict != Verdict::passed)
        co_return;
    }
    auto promoted = co_await target_.promote_candidate(env);
    if (!still_running())
      co_return;
    if (!promoted.ok) {
      co_await target_.abort_candidate(env);
      finish_failed(promoted.message);
      co_return;
    }
    endpoint_ = promoted.endpoint.empty() ? started.endpoint : promoted.endpoint;
    finish_succeeded(promoted.message);
  }

  // ---- verification ----

  enum class Verdict { passed, ended };

  // Holds the current step for the bake time, runs the checks, and acts on the answer. `passed`
  // means go on; `ended` means the deploy is over (rolled back, failed or cancelled).
  boost::asio::awaitable<Verdict> verify_step(const std::string& where, int weight) {
    if (!step(DeployInput::rollout_step_done, where, {DeployEffect::start_verification}))
      co_return Verdict::ended;
    show(Tone::progress, where + "; checking" +
                             (strategy_.bake_ms > 0 ? " after " + format_duration(strategy_.bake_ms)
                                                    : std::string()));
    co_await sleep_for(std::chrono::milliseconds(strategy_.bake_ms));
    if (!still_running())
      co_return Verdict::ended;
    CheckOutcome overall{CheckVerdict::pass, ""};
    std::vector<std::string> inconclusive;
    for (const auto& check : strategy_.checks) {
      CheckOutcome outcome;
      if (services_.metrics == nullptr) {
        outcome = {CheckVerdict::inconclusive, check.name + ": no metrics source is configured"};
      } else {
        const auto vars = check_vars();
        outcome = co_await services_.metrics->evaluate(check, vars);
      }
      if (!still_running())
        co_return Verdict::ended;
      progress_("check " + outcome.message);
      if (outcome.verdict == CheckVerdict::breach) {
        overall = outcome;
        break;
      }
      if (outcome.verdict == CheckVerdict::inconclusive)
        inconclusive.push_back(outcome.message);
    }
    (void)weight;
    if (overall.verdict == CheckVerdict::breach) {
      if (!step(DeployInput::verification_failed, "check failed: " + overall.message,
                {DeployEffect::start_rollback}))
        co_return Verdict::ended;
      const std::string because = "check failed: " + overall.message;
      co_await roll_back_after(because);
      co_return Verdict::ended;
    }
    if (!inconclusive.empty()) {
      const std::string why = join(inconclusive, "; ");
      if (!step(DeployInput::verification_inconclusive, "inconclusive: " + why,
                {DeployEffect::ask_operator}))
        co_return Verdict::ended;
      const auto decision = co_await ask_operator(where, why);
      if (!still_running())
        co_return Verdict::ended;
      if (decision.roll_back) {
        const std::string because =
            decision.decided_by.empty()
                ? "nobody answered within " + format_duration(strategy_.decision_timeout_ms) +
                      " after inconclusive checks (" + why + ")"
                : decision.decided_by + " chose to roll back after inconclusive checks (" + why +
                      ")";
        if (!step(DeployInput::operator_rolled_back, because, {DeployEffect::start_rollback}))
          co_return Verdict::ended;
        co_await roll_back_after(because);
        co_return Verdict::ended;
      }
      record_audit(services_, decision.decided_by, "deploy.continued", scope_, "ok",
                   "#" + std::to_string(id_) + " past inconclusive checks: " + why);
      co_return step(DeployInput::operator_continued,
                     decision.decided_by + " chose to continue past inconclusive checks",
                     {DeployEffect::start_rollout})
          ? Verdict::passed
          : Verdict::ended;
    }
    co_return step(DeployInput::verification_passed, "checks passed: " + where,
                   {DeployEffect::start_rollout})
        ? Verdict::passed
        : Verdict::ended;
  }

  boost::asio::awaitable<PendingDecision> ask_operator(const std::string& where,
                                                       const std::string& why) {
    auto pending = std::make_shared<PendingDecision>();
    pending->environment = plan_.environment->name;
    boost::asio::steady_timer timer(services_.executor,
                                    std::chrono::milliseconds(strategy_.decision_timeout_ms));
    services_.decisions[id_] = pending;
    services_.wakers[id_] = [&timer] { timer.cancel(); };
    Message question = final_;
    question.tone = Tone::warning;
    question.text = label_ + ": " + where + ", but the checks could not decide: " + why +
                    ". Continue or roll back?";
    question.context =
        "No answer by " + format_utc(services_.clock.now_ms() + strategy_.decision_timeout_ms) +
        " rolls back. Type: continue " + std::to_string(id_) + "  or  abort " + std::to_string(id_);
    question.buttons = {Button{"Continue", "continue " + std::to_string(id_), "primary"},
                        Button{"Roll back", "abort " + std::to_string(id_), "danger"}};
    conversation_.update(ref_, question);
    conversation_.thread_reply(ref_, Message(Tone::warning, "waiting for a decision: " + why));
    boost::system::error_code ignored;
    co_await timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
    services_.decisions.erase(id_);
    services_.wakers.erase(id_);
    PendingDecision decision = *pending;
    if (!decision.decided)
      decision.roll_back = true;  // the safe default when nobody answers
    co_return decision;
  }

  // After a breach or an operator's "roll back": put the previous version back.
  boost::asio::awaitable<void> roll_back_after(const std::string& why) {
    integrations::ApplyOutcome outcome;
    if (progressive()) {
      outcome = co_await target_.abort_candidate(plan_.environment->name);
    } else if (plan_.previous_version.empty()) {
      outcome = {false, "there is no earlier version to return to", {}};
    } else {
      outcome =
          co_await target_.roll_back(plan_.environment->name, plan_.previous_version, progress_);
    }
    if (!still_running())
      co_return;
    const std::string back_to =
        plan_.previous_version.empty() ? "the previous version" : plan_.previous_version;
    if (!outcome.ok) {
      if (!step(DeployInput::rollback_failed, why + "; the rollback failed too: " + outcome.message,
                {DeployEffect::release_slot, DeployEffect::announce}))
        co_return;
      record_audit(services_, "shipmate", "deploy.failed", scope_, "failed",
                   "#" + std::to_string(id_) + " " + why + "; rollback failed: " + outcome.message);
      final_.tone = Tone::error;
      final_.text = label_ + " failed: " + why + "; rolling back failed too: " + outcome.message;
      final_.context = "check what " + plan_.environment->name + " serves now";
      conversation_.update(ref_, final_);
      co_return;
    }
    if (!step(DeployInput::rollback_succeeded, why + "; " + back_to + " serves again",
              {DeployEffect::release_slot, DeployEffect::announce}))
      co_return;
    record_audit(services_, "shipmate", "deploy.rolled_back", scope_, "rolled_back",
                 "#" + std::to_string(id_) + " " + why);
    final_.tone = Tone::error;
    final_.text = label_ + " rolled back: " + why;
    final_.context = plan_.environment->name + " serves " + plan_.service->name + " " + back_to +
                     " again (took " + format_duration(services_.clock.now_ms() - started_) + ")";
    conversation_.update(ref_, final_);
  }

  // ---- endings ----

  void finish_failed(const std::string& why) {
    // release_slot needs no action: the slot is this deploy's row being non-terminal (see
    // check_scope_free), so persisting the outcome released it. announce is the update below.
    if (!step(DeployInput::rollout_failed, why,
              {DeployEffect::release_slot, DeployEffect::announce}))
      return;
    record_audit(services_, "shipmate", is_rollback_ ? "rollback.failed" : "deploy.failed", scope_,
                 "failed", "#" + std::to_string(id_) + " " + why);
    final_.tone = Tone::error;
    final_.text = label_ + " failed: " + why;
    if (target_.kind().starts_with("pipeline")) {
      // Shipmate cannot know what a failed pipeline changed before it stopped.
      final_.context = "check what " + plan_.environment->name +
                       " serves now: the pipeline may have changed it before it failed";
    } else {
      final_.context =
          plan_.previous_version.empty()
              ? plan_.environment->name + " has no earlier version of " + plan_.service->name
              : plan_.environment->name + " keeps serving " + plan_.service->name + " " +
                    plan_.previous_version;
    }
    conversation_.update(ref_, final_);
  }

  void finish_succeeded(const std::string& message) {
    if (!step(DeployInput::rollout_succeeded, message,
              {DeployEffect::release_slot, DeployEffect::announce}))
      return;
    record_audit(services_, "shipmate", is_rollback_ ? "rollback.succeeded" : "deploy.succeeded",
                 scope_, "ok", "#" + std::to_string(id_) + " " + plan_.version + " serving");
    final_.tone = Tone::success;
    final_.text = label_ + " succeeded: " + plan_.service->name + " " + plan_.version +
                  " is live in " + plan_.environment->name +
                  (endpoint_.empty() ? "" : " at " + endpoint_) + " (took " +
                  format_duration(services_.clock.now_ms() - started_) + ")";
    if (!plan_.previous_version.empty()) {
      final_.buttons.push_back(Button{"Roll back to " + plan_.previous_version,
                                      "rollback " + plan_.service->name + " in " +
                                          plan_.environment->name + " to " + plan_.previous_version,
                                      "danger"});
    }
    conversation_.update(ref_, final_);
  }

  boost::asio::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
    if (duration.count() <= 0)
      co_return;
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, duration);
    services_.wakers[id_] = [&timer] { timer.cancel(); };
    boost::system::error_code ignored;
    co_await timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
    services_.wakers.erase(id_);
  }

  Services& services_;
  Conversation& conversation_;
  MessageRef ref_;
  std::int64_t id_;
  DeployPlan plan_;
  integrations::DeployTarget& target_;
  std::string scope_;
  bool is_rollback_;
  std::string label_;
  RolloutStrategy strategy_;
  Message final_;
  integrations::ProgressFn progress_;
  DeployState state_ = DeployState::requested;
  EpochMillis started_ = 0;
  std::string endpoint_;
};

}  // namespace

boost::asio::awaitable<void> run_deploy(Services& services, std::string requester,
                                        Conversation& conversation, MessageRef ref, std::int64_t id,
                                        DeployPlan plan, DeployState from) {
  services.running_deploys.insert(id);
  struct Untrack {
    Services& services;
    std::int64_t id;
    ~Untrack() { services.running_deploys.erase(id); }
  } untrack{services, id};
  DeployRun deploy(services, std::move(requester), conversation, std::move(ref), id,
                   std::move(plan));
  co_await deploy.run(from);
}

namespace {

bool can_resume_build(const Services& services, const storage::DeployRecord& deploy) {
  return deploy.state == DeployState::building && services.builds != nullptr &&
         services.builds->count(deploy.service) > 0 &&
         services.catalog.find_service(deploy.service) != nullptr &&
         services.catalog.find_environment(deploy.environment) != nullptr;
}

}  // namespace

std::vector<storage::DeployRecord> resumable_deploys(Services& services) {
  std::vector<storage::DeployRecord> out;
  for (const auto& deploy : services.deploys.in_flight()) {
    if (services.running_deploys.count(deploy.id) == 0 && can_resume_build(services, deploy))
      out.push_back(deploy);
  }
  return out;
}

boost::asio::awaitable<void> resume_deploy(Services& services, Conversation& conversation,
                                           storage::DeployRecord deploy) {
  if (services.running_deploys.count(deploy.id) > 0 || !can_resume_build(services, deploy))
    co_return;
  Step step = advance(services, deploy.id, deploy.state, DeployInput::recovered, "",
                      {DeployEffect::start_build}, Expect::exactly);
  if (!step.ok)
    co_return;
  DeployPlan plan;
  plan.service = services.catalog.find_service(deploy.service);
  plan.environment = services.catalog.find_environment(deploy.environment);
  plan.version = deploy.version;
  plan.previous_version = deploy.previous_version;
  plan.kind = deploy.kind;
  plan.reason = deploy.reason;
  record_audit(services, "shipmate", "deploy.resumed", deploy.service + "@" + deploy.environment,
               "ok", "#" + std::to_string(deploy.id) + " build resumed after a restart");
  Message status(Tone::progress,
                 "Deploy #" + std::to_string(deploy.id) + ": " + deploy.service + " " +
                     deploy.version + " in " + deploy.environment + " resumed after a restart; " +
                     (deploy.ci_run_url.empty() ? std::string("starting its build again")
                                                : "following its build " + deploy.ci_run_url));
  const MessageRef ref = conversation.post(status);
  std::string requester = deploy.requested_by;
  co_await run_deploy(services, std::move(requester), conversation, ref, deploy.id, std::move(plan),
                      DeployState::building);
}

std::vector<storage::DeployRecord> reconcile_interrupted_deploys(Services& services) {
  std::vector<storage::DeployRecord> reconciled;
  for (const auto& deploy : services.deploys.in_flight()) {
    // A deploy waiting for approval is not running anything; it keeps waiting across restarts.
    // A build carries on in CI and is resumed (resume_deploy).
    if (services.running_deploys.count(deploy.id) > 0 ||
        deploy.state == DeployState::awaiting_approval || can_resume_build(services, deploy))
      continue;
    // A build no longer configured cannot be followed; nothing was deployed, so it failed.
    // Anything further along was cut off, and the target restored what served before.
    const bool orphaned_build = deploy.state == DeployState::building;
    const std::string why = orphaned_build
                                ? "interrupted while building, and " + deploy.service +
                                      " has no build configured any more; nothing was deployed"
                                : "interrupted: Shipmate stopped while this deploy was " +
                                      std::string(to_string(deploy.state)) +
                                      "; the environment serves what it served before";
    Step step = advance(services, deploy.id, deploy.state,
                        orphaned_build ? DeployInput::build_failed : DeployInput::recovered, why,
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

  // Enough approvals: check that nothing now blocks the scope (a lock taken, or a freeze begun,
  // while it waited), then run it here, and tell the requester.
  if (auto freeze = active_freeze(environment->freezes, services.clock.now_ms());
      freeze && deploy->overridden.empty()) {
    const auto& window = environment->freezes[freeze->window_index];
    conversation.post(warning("Deploy #" + std::to_string(id) + " is approved, but " +
                              environment->name + " is frozen" +
                              (freeze->reason.empty() ? "" : " (" + freeze->reason + ")") + " " +
                              describe_until(window, freeze->ends_at_ms) +
                              "; approve it again after the freeze, or deny it."));
    co_return;
  }
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

void decide_paused_deploy(Services& services, const Caller& caller, Conversation& conversation,
                          std::int64_t id, bool roll_back) {
  const std::string verb = roll_back ? "abort" : "continue";
  auto found = services.decisions.find(id);
  if (found == services.decisions.end() || found->second->decided) {
    auto deploy = services.deploys.get(id);
    conversation.post(error_message(verb + ": " +
                                    (deploy ? "deploy #" + std::to_string(id) +
                                                  " is not waiting for a decision (it is " +
                                                  std::string(to_string(deploy->state)) + ")"
                                            : "there is no deploy #" + std::to_string(id))));
    return;
  }
  PendingDecision& pending = *found->second;
  const auto* environment = services.catalog.find_environment(pending.environment);
  // Continuing is deploying further; aborting is rolling back. Each needs that permission.
  const Action action = roll_back ? Action::rollback : Action::deploy;
  const auto allowed = environment == nullptr
                           ? PolicyDecision{false, "unknown environment " + pending.environment}
                           : authorize(caller.user, caller.user_id, action, *environment);
  if (!allowed.allowed) {
    record_audit(services, caller.user_id, "deploy." + verb + "_refused", "#" + std::to_string(id),
                 "refused", allowed.reason);
    conversation.post(error_message(verb + " refused: " + allowed.reason));
    return;
  }
  pending.decided = true;
  pending.roll_back = roll_back;
  pending.decided_by = caller.user_id;
  record_audit(services, caller.user_id, roll_back ? "deploy.abort" : "deploy.continue",
               "#" + std::to_string(id), "ok", "answered the inconclusive checks");
  conversation.post(info((roll_back ? "Rolling back deploy #" : "Continuing deploy #") +
                         std::to_string(id) + " (" + caller.display() + ")"));
  // The waiting deploy's timer is its waker (see DeployRun::ask_operator).
  if (auto waker = services.wakers.find(id); waker != services.wakers.end())
    waker->second();
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
