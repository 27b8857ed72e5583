#include "commands/deploy_flow.h"
#include "commands/release_notes_book.h"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

#include "commands/deploy_runtime.h"
#include "commands/deploy_steps.h"
#include "commands/resolve.h"
#include "commands/rollout_progress.h"
#include "commands/timed_jobs.h"
#include "common/chat_input.h"
#include "common/strings.h"
#include "common/timer.h"

namespace shipmate::commands {

using storage::DeployKind;
using storage::DeployState;

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
  request.owner = services.replica;
  storage::DeployRecord record = services.deploys.create(request);
  notify_observers(services, record);
  const std::int64_t id = record.id;
  spdlog::info("deploy #{} {} {} to {}: requested by {} from {}", id, record.service,
               record.version, record.environment, record.requested_by, record.chat_ref);

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
    Step step = advance(services, id, DeployState::requested, record.epoch,
                        DeployInput::approval_required, "waiting for approval",
                        {DeployEffect::request_approvals, DeployEffect::announce}, Expect::exactly);
    Message waiting = status;
    if (!step.ok) {
      waiting.tone = Tone::error;
      waiting.text = label + " failed: " + step.error;
      conversation.update(ref, waiting);
      co_return id;
    }
    timed_deadlines_changed(services);  // the approval timeout job's new deadline
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
  const std::int64_t epoch = record.epoch;
  co_await run_deploy(services, std::move(requester), conversation, ref, id, plan,
                      DeployState::requested, epoch);
  co_return id;
}

namespace {

// Drives one recorded deploy from its first step to its end: build, rollout (rolling, canary or
// blue-green), metric checks, a question to a person when the checks cannot decide, and the
// rollback a breach calls for. Every step goes through advance() before its effect happens.
class DeployRun {
 public:
  DeployRun(Services& services, std::string requester, Conversation& conversation, MessageRef ref,
            std::int64_t id, DeployPlan plan, std::int64_t epoch,
            std::optional<ResumeDecision> resume)
      : services_(services),
        conversation_(conversation),
        ref_(std::move(ref)),
        id_(id),
        epoch_(epoch),
        plan_(std::move(plan)),
        target_(*services.targets.at(plan_.service->name)),
        scope_(scope_of(plan_)),
        is_rollback_(plan_.kind == DeployKind::rollback),
        label_((is_rollback_ ? "Rollback #" : "Deploy #") + std::to_string(id)),
        strategy_(effective_strategy(plan_.service->strategy, plan_.environment->name, plan_.kind,
                                     plan_.previous_version, target_.supports_traffic_split())),
        weights_(rollout_weights(strategy_)),
        resume_(std::move(resume)) {
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
    // A deploy resumed after a restart or a takeover (from == building, or deploying for a
    // straight rollout cut off: deploy_recovery.h) has its build or its rollout left to do, and
    // nothing before it.
    if (from != DeployState::building && from != DeployState::deploying) {
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
                  {DeployEffect::start_rollout}, progress_at(RolloutPhase::starting, 0)))
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
    if (resume_ && resume_->verdict == ResumeVerdict::roll_back) {
      // Taken over where carrying on is unsafe, or while rolling back: the stable version goes
      // back through the normal rollback (rollout_progress.h, decide_resume).
      const std::string why = "taken over from a stopped replica: " + resume_->why;
      co_await roll_back_after(why);
      co_return;
    }
    if (progressive()) {
      const int first = resume_ ? resume_->progress.step : 0;
      co_await progressive_rollout(first, resume_.has_value());
    } else {
      co_await rolling_rollout();
    }
    if (state_ == DeployState::succeeded && services_.notes != nullptr &&
        services_.notes->covers(plan_.service->name))
      co_await post_release_notes();
  }

 private:
  // ---- steps ----

  // Puts `input` to the machine from the current state and persists the answer. False when the
  // deploy cannot go on (the failure is already recorded and announced).
  // `progress`, when given, is recorded with the transition (before its effect).
  bool step(DeployInput input, const std::string& message, std::vector<DeployEffect> effects,
            std::optional<RolloutProgress> progress = std::nullopt) {
    std::optional<std::string> rollout;
    if (progress)
      rollout = format_rollout(*progress);
    Step answer = advance(services_, id_, state_, epoch_, input, message, effects, Expect::exactly,
                          std::move(rollout));
    state_ = answer.to;
    if (answer.lost) {
      // Another writer (a shutdown's cancellation, another replica) finished or took it; its
      // outcome is recorded and announced by whoever wrote it.
      final_.tone = storage::is_terminal(answer.to) ? Tone::warning : Tone::progress;
      final_.text = label_ + ": " + answer.error;
      conversation_.update(ref_, final_);
      return false;
    }
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

  bool needs_build() const {
    return !is_rollback_ && plan_.service->has_build && services_.builds != nullptr &&
           services_.builds->count(plan_.service->name) > 0;
  }

  bool progressive() const { return strategy_.kind != StrategyKind::rolling; }

  // The rollout progress at step `index` in `phase` (rollout_progress.h): what a replica taking
  // this deploy over reads to carry it on from here.
  RolloutProgress progress_at(RolloutPhase phase, std::size_t index) const {
    RolloutProgress progress;
    progress.strategy = strategy_.kind;
    progress.phase = phase;
    progress.stable = plan_.previous_version;
    progress.candidate = plan_.version;
    progress.steps = static_cast<int>(weights_.size());
    progress.step = static_cast<int>(std::min(index, weights_.size() - 1));
    progress.weight = weights_[static_cast<std::size_t>(progress.step)];
    progress.passed = static_cast<int>(std::min(index, weights_.size()));
    if (phase == RolloutPhase::baking)
      progress.bake_started_at = services_.clock.now_ms();
    return progress;
  }

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
    // Defence in depth: prepare_deploy() checked the version, but a resumed deploy comes from
    // the database, and the version becomes a CI input.
    if (auto allowed = validate_version(plan_.version); !allowed) {
      fail_build(allowed.error().message, "");
      co_return false;
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
    // Polls wait on this deploy's timers: manual time in tests, and a cancelled deploy stops
    // following at once.
    const std::unique_ptr<Timers> polls = services_.runtime.timers_for(id_);
    follow.timers = polls.get();
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
                   {DeployEffect::start_rollout}, progress_at(RolloutPhase::starting, 0));
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
      const auto verdict = co_await verify_step(where, 0);
      if (verdict != Verdict::passed)
        co_return;
    }
    finish_succeeded(outcome.message);
  }

  // From step `first` (0, or the step a taken-over deploy had reached). A taken-over deploy's
  // candidate stopped with the replica that ran it: the stable version is brought back first if
  // this replica's target does not serve it, then the candidate starts again.
  boost::asio::awaitable<void> progressive_rollout(int first, bool taken_over) {
    const std::string env = plan_.environment->name;
    if (taken_over) {
      const auto serving = target_.current_version(env);
      if (!serving || *serving != plan_.previous_version) {
        progress_("bringing " + plan_.previous_version + " back as the stable version first");
        auto back = co_await target_.roll_back(env, plan_.previous_version, progress_);
        if (!still_running())
          co_return;
        if (!back.ok) {
          finish_failed("could not bring the stable version " + plan_.previous_version +
                        " back before carrying the rollout on: " + back.message);
          co_return;
        }
      }
      co_await target_.abort_candidate(env);  // a no-op unless this target still has one
      if (!still_running())
        co_return;
    }
    auto started = co_await target_.start_candidate(env, plan_.version, progress_);
    if (!still_running()) {
      co_await target_.abort_candidate(env);
      co_return;
    }
    if (!started.ok) {
      finish_failed(started.message);
      co_return;
    }
    candidate_here_ = true;
    const std::vector<int>& weights = weights_;
    for (auto i = static_cast<std::size_t>(std::max(first, 0)); i < weights.size(); ++i) {
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
      const auto verdict = co_await verify_step(where, i);
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
  // `index` is the step's place in weights_ (0 for a straight rollout's single check).
  boost::asio::awaitable<Verdict> verify_step(const std::string& where, std::size_t index) {
    if (!step(DeployInput::rollout_step_done, where, {DeployEffect::start_verification},
              progress_at(RolloutPhase::baking, index)))
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
    // Passing moves the recorded progress to the next step before its weight moves (the last
    // step stays last: a new owner would check it again rather than promote unchecked).
    RolloutProgress next = progress_at(RolloutPhase::stepping, index + 1);
    next.passed = static_cast<int>(index) + 1;
    if (overall.verdict == CheckVerdict::breach) {
      if (!step(DeployInput::verification_failed, "check failed: " + overall.message,
                {DeployEffect::start_rollback},
                rolling_back_progress(index, "check failed: " + overall.message)))
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
        if (!step(DeployInput::operator_rolled_back, because, {DeployEffect::start_rollback},
                  rolling_back_progress(index, because)))
          co_return Verdict::ended;
        co_await roll_back_after(because);
        co_return Verdict::ended;
      }
      record_audit(services_, decision.decided_by, "deploy.continued", scope_, "ok",
                   "#" + std::to_string(id_) + " past inconclusive checks: " + why);
      co_return step(DeployInput::operator_continued,
                     decision.decided_by + " chose to continue past inconclusive checks",
                     {DeployEffect::start_rollout}, next)
          ? Verdict::passed
          : Verdict::ended;
    }
    co_return step(DeployInput::verification_passed, "checks passed: " + where,
                   {DeployEffect::start_rollout}, next)
        ? Verdict::passed
        : Verdict::ended;
  }

  RolloutProgress rolling_back_progress(std::size_t index, const std::string& why) const {
    RolloutProgress progress = progress_at(RolloutPhase::rolling_back, index);
    progress.why = why;
    return progress;
  }

  // The operator's answer to inconclusive checks, through the pending-question registry: who
  // decided (empty when nobody did in time) and whether to roll back.
  struct Decision {
    bool roll_back = true;  // the safe default when nobody answers
    std::string decided_by;
  };

  boost::asio::awaitable<Decision> ask_operator(const std::string& where, const std::string& why) {
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
    // Continuing is deploying further; aborting is rolling back. Each needs that permission in
    // this deploy's environment.
    const EnvironmentSpec* environment = plan_.environment;
    MayAnswer may_answer = [environment](const std::string& choice,
                                         const Caller& caller) -> Status {
      const Action action = choice == kAbortChoice ? Action::rollback : Action::deploy;
      const auto allowed = authorize(caller.user, caller.user_id, action, *environment);
      if (!allowed.allowed)
        return make_error(allowed.reason);
      return Ok{};
    };
    std::vector<std::string> choices = {std::string(kContinueChoice), std::string(kAbortChoice)};
    const auto timeout = std::chrono::milliseconds(strategy_.decision_timeout_ms);
    const QuestionOutcome outcome =
        co_await services_.runtime.ask(id_, std::move(choices), timeout, std::move(may_answer));
    Decision decision;
    if (outcome.kind == QuestionOutcome::Kind::answered) {
      decision.roll_back = outcome.choice == kAbortChoice;
      decision.decided_by = outcome.answered_by;
    }
    co_return decision;
  }

  // After a breach or an operator's "roll back": put the previous version back.
  boost::asio::awaitable<void> roll_back_after(const std::string& why) {
    integrations::ApplyOutcome outcome;
    // The candidate is this process's only if it started it here; a deploy taken over before
    // that rolls back by applying the stable version (which also stops any candidate).
    if (progressive() && candidate_here_) {
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

  // Release notes for exactly (what served before, what serves now], in the deploy's thread, and
  // their summary on the status message. A rollback lists what it takes out; a first deploy says
  // it has nothing to compare with. Notes never change the deploy's outcome.
  boost::asio::awaitable<void> post_release_notes() {
    const std::string service = plan_.service->name;
    const std::string env = plan_.environment->name;
    if (plan_.previous_version.empty()) {
      conversation_.thread_reply(
          ref_, info("First deploy of " + service + " to " + env +
                     ": no earlier release here to compare with, so no release notes (`notes " +
                     service + " <from>.." + plan_.version + "` lists a range)"));
      co_return;
    }
    // Forward: the commits in the new version and not in the old. A rollback: the commits of
    // the version leaving and not in the one coming back, i.e. what is taken out.
    const std::string from = is_rollback_ ? plan_.version : plan_.previous_version;
    const std::string to = is_rollback_ ? plan_.previous_version : plan_.version;
    Result<GeneratedNotes> notes =
        co_await services_.notes->generate(service, from, to, &target_, !is_rollback_);
    if (!notes) {
      conversation_.thread_reply(ref_, warning("No release notes for " + service + " " +
                                               plan_.version + ": " + notes.error().message));
      co_return;
    }
    const std::string& summary = notes->record.summary;
    const std::string range = plan_.previous_version + " \u2192 " + plan_.version;
    final_.context += std::string(final_.context.empty() ? "" : " \u00b7 ") +
                      (is_rollback_ ? "taken out: " : "") + summary;
    conversation_.update(ref_, final_);
    std::string header =
        is_rollback_
            ? "Taken out of " + env + " by this rollback (" + range + ", " +
                  std::to_string(notes->commits) + " commits): " + summary
            : "Release notes for " + service + " " + plan_.version + " in " + env + " (" + range +
                  ", " + std::to_string(notes->commits) + " commits" +
                  (notes->edited ? ", edited by " + notes->record.edited_by : "") + "): " + summary;
    const std::string text = is_rollback_ ? notes->record.generated : notes->record.text();
    const std::size_t room =
        kNotesPieceLimit > header.size() + 200 ? kNotesPieceLimit - header.size() - 200 : 500;
    auto pieces = split_at_lines(text, room);
    Message message(Tone::info, header + "\n\n" + pieces.front());
    if (pieces.size() > 1) {
      message.text += "\n\u2026 cut here; the full notes: `notes " + service + " " +
                      (is_rollback_ ? from + ".." + to : plan_.version) + " --full`";
    }
    conversation_.thread_reply(ref_, message);
  }

  // A bake time; ends early when the deploy is cancelled (the caller then finds it terminal).
  boost::asio::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
    co_await services_.runtime.sleep_for(id_, duration);
  }

  Services& services_;
  Conversation& conversation_;
  MessageRef ref_;
  std::int64_t id_;
  std::int64_t epoch_;
  DeployPlan plan_;
  integrations::DeployTarget& target_;
  std::string scope_;
  bool is_rollback_;
  std::string label_;
  RolloutStrategy strategy_;
  std::vector<int> weights_;              // the steps' weights, ending at 100
  std::optional<ResumeDecision> resume_;  // set when carrying on a taken-over deploy
  bool candidate_here_ = false;           // this process started the candidate
  Message final_;
  integrations::ProgressFn progress_;
  DeployState state_ = DeployState::requested;
  EpochMillis started_ = 0;
  std::string endpoint_;
};

}  // namespace

boost::asio::awaitable<void> run_deploy(Services& services, std::string requester,
                                        Conversation& conversation, MessageRef ref, std::int64_t id,
                                        DeployPlan plan, DeployState from, std::int64_t epoch,
                                        std::optional<ResumeDecision> resume) {
  const DeployRuntime::Registration running = services.runtime.track(id);
  DeployRun deploy(services, std::move(requester), conversation, std::move(ref), id,
                   std::move(plan), epoch, std::move(resume));
  co_await deploy.run(from);
}
}  // namespace shipmate::commands
