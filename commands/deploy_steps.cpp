#include "commands/deploy_steps.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace shipmate::commands {

using storage::DeployState;

std::string scope_of(const DeployPlan& plan) {
  return plan.service->name + "@" + plan.environment->name;
}

std::string current_version(Services& services, const std::string& service,
                            const std::string& environment) {
  if (auto last = services.deploys.last_succeeded(service, environment))
    return last->version;
  return "";
}

namespace {

bool contains(const std::vector<DeployEffect>& effects, DeployEffect effect) {
  return std::find(effects.begin(), effects.end(), effect) != effects.end();
}

}  // namespace

void notify_observers(Services& services, const storage::DeployRecord& record) {
  for (auto* observer : services.observers)
    observer->deploy_changed(record);
}

std::string lost_race_message(const storage::DeployRecord& record) {
  std::string text = "deploy #" + std::to_string(record.id) +
                     " changed in the meantime: it is now " +
                     std::string(storage::to_string(record.state));
  if (!record.detail.empty())
    text += " (" + record.detail + ")";
  return text + "; nothing was recorded";
}

namespace {

// Writes from -> to unless another writer got there first; fills `step` either way.
void write_transition(Services& services, Step& step, std::int64_t id, DeployState from,
                      std::int64_t epoch, DeployState to, const std::string& message,
                      const std::optional<std::string>& rollout = std::nullopt) {
  const std::optional<std::string_view> progress =
      rollout ? std::optional<std::string_view>(*rollout) : std::nullopt;
  storage::TransitionOutcome outcome =
      to == from && rollout
          ? services.deploys.set_rollout_if(id, from, epoch, *rollout)
          : services.deploys.transition_if(id, from, epoch, to, message, progress);
  if (!outcome.applied) {
    step.ok = false;
    step.lost = true;
    step.to = outcome.record.state;
    step.error = outcome.record.epoch != epoch
                     ? "deploy #" + std::to_string(id) + " was taken over by another replica"
                     : lost_race_message(outcome.record);
    spdlog::info("deploy #{}: {}", id, step.error);
    step.record = std::move(outcome.record);
    return;
  }
  step.record = std::move(outcome.record);
  notify_observers(services, *step.record);
  step.to = to;
  // One line per state change: with the request id (bot/logging.h) this ties the deploy to the
  // chat request that drove it and to that request's integration calls.
  spdlog::info("deploy #{} {} {} to {}: {} -> {}: {}", id, step.record->service,
               step.record->version, step.record->environment, storage::to_string(from),
               storage::to_string(to), message);
}

}  // namespace

Step advance(Services& services, std::int64_t id, DeployState from, std::int64_t epoch,
             DeployInput input, const std::string& message,
             const std::vector<DeployEffect>& carried_out, Expect expect,
             std::optional<std::string> rollout) {
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
      const std::string why = step.error;
      write_transition(services, step, id, from, epoch, DeployState::failed, why);
      if (!step.lost)
        step.error = why;
    } else {
      step.to = from;
    }
    return step;
  }
  // A step that keeps the state changed nothing durable (see deploy_state_machine.h), so it
  // writes no event; that keeps a plain deploy's history at requested, deploying, outcome.
  // Its rollout progress, if it has one, is still written (fenced) before the effects.
  if (answer->to != from || rollout) {
    write_transition(services, step, id, from, epoch, answer->to, message, rollout);
    if (step.lost)
      return step;
  }
  step.ok = true;
  step.to = answer->to;
  step.effects = std::move(answer->effects);
  return step;
}

// The promotion rule of `environment`, if it has one: `version` must have succeeded in the

}  // namespace shipmate::commands
