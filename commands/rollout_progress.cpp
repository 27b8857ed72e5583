#include "commands/rollout_progress.h"

#include <charconv>
#include <optional>

namespace shipmate::commands {

using storage::DeployState;

namespace {

constexpr RolloutPhase kPhases[] = {RolloutPhase::starting, RolloutPhase::stepping,
                                    RolloutPhase::baking, RolloutPhase::rolling_back};
constexpr StrategyKind kStrategies[] = {StrategyKind::rolling, StrategyKind::canary,
                                        StrategyKind::blue_green};

template <typename Int>
std::optional<Int> number(std::string_view text) {
  Int value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size())
    return std::nullopt;
  return value;
}

ResumeDecision roll_back_or_fail(const ResumeFacts& facts, RolloutProgress progress,
                                 const std::string& why) {
  ResumeDecision out;
  if (facts.previous_version.empty()) {
    out.verdict = ResumeVerdict::fail;
    out.why = why + ", and there is no earlier version to roll back to";
    return out;
  }
  out.verdict = ResumeVerdict::roll_back;
  progress.phase = RolloutPhase::rolling_back;
  progress.stable = facts.previous_version;
  progress.candidate = facts.version;
  progress.why = why;
  out.why = why;
  out.progress = std::move(progress);
  return out;
}

}  // namespace

std::string_view to_string(RolloutPhase phase) {
  switch (phase) {
    case RolloutPhase::starting:
      return "starting";
    case RolloutPhase::stepping:
      return "stepping";
    case RolloutPhase::baking:
      return "baking";
    case RolloutPhase::rolling_back:
      return "rolling_back";
  }
  return "?";
}

std::string RolloutProgress::where() const {
  return "step " + std::to_string(step + 1) + " of " + std::to_string(steps) + " (" +
         std::to_string(weight) + "%)";
}

std::string format_rollout(const RolloutProgress& progress) {
  std::string out =
      "v1;strategy=" + std::string(to_string(progress.strategy)) +
      ";phase=" + std::string(to_string(progress.phase)) + ";stable=" + progress.stable +
      ";candidate=" + progress.candidate + ";step=" + std::to_string(progress.step) +
      ";steps=" + std::to_string(progress.steps) + ";weight=" + std::to_string(progress.weight) +
      ";passed=" + std::to_string(progress.passed) +
      ";bake_started_at=" + std::to_string(progress.bake_started_at) +
      ";serving=" + progress.serving_colour();
  // Last, because it may hold anything.
  out += ";why=" + progress.why;
  return out;
}

Result<RolloutProgress> parse_rollout(std::string_view text) {
  const auto bad = [&](std::string_view field) -> Error {
    return make_error("the recorded rollout progress cannot be read (its " + std::string(field) +
                      " field is missing or malformed)");
  };
  if (!text.starts_with("v1;"))
    return make_error("the recorded rollout progress is in a format this Shipmate does not know");
  text.remove_prefix(3);
  RolloutProgress out;
  bool have_strategy = false, have_phase = false, have_step = false, have_steps = false;
  while (!text.empty()) {
    const auto equals = text.find('=');
    if (equals == std::string_view::npos)
      return bad("last");
    const std::string_view key = text.substr(0, equals);
    std::string_view value;
    if (key == "why") {
      value = text.substr(equals + 1);
      text = {};
    } else {
      const auto semicolon = text.find(';', equals);
      value = text.substr(equals + 1, semicolon == std::string_view::npos ? std::string_view::npos
                                                                          : semicolon - equals - 1);
      text = semicolon == std::string_view::npos ? std::string_view{} : text.substr(semicolon + 1);
    }
    if (key == "strategy") {
      for (auto kind : kStrategies)
        if (to_string(kind) == value) {
          out.strategy = kind;
          have_strategy = true;
        }
      if (!have_strategy)
        return bad(key);
    } else if (key == "phase") {
      for (auto phase : kPhases)
        if (to_string(phase) == value) {
          out.phase = phase;
          have_phase = true;
        }
      if (!have_phase)
        return bad(key);
    } else if (key == "stable") {
      out.stable = std::string(value);
    } else if (key == "candidate") {
      out.candidate = std::string(value);
    } else if (key == "step" || key == "steps" || key == "weight" || key == "passed") {
      const auto parsed = number<int>(value);
      if (!parsed || *parsed < 0)
        return bad(key);
      if (key == "step") {
        out.step = *parsed;
        have_step = true;
      } else if (key == "steps") {
        out.steps = *parsed;
        have_steps = true;
      } else if (key == "weight") {
        out.weight = *parsed;
      } else {
        out.passed = *parsed;
      }
    } else if (key == "bake_started_at") {
      const auto parsed = number<EpochMillis>(value);
      if (!parsed)
        return bad(key);
      out.bake_started_at = *parsed;
    } else if (key == "why") {
      out.why = std::string(value);
    }
    // "serving" is derived from the weight; unknown fields are a newer Shipmate's, skipped.
  }
  if (!have_strategy)
    return bad("strategy");
  if (!have_phase)
    return bad("phase");
  if (!have_step || !have_steps || out.steps < 1 || out.step >= out.steps || out.weight > 100)
    return bad("step");
  return out;
}

RolloutStrategy effective_strategy(const RolloutStrategy& configured, std::string_view environment,
                                   storage::DeployKind kind, std::string_view previous_version,
                                   bool supports_traffic_split) {
  if (kind == storage::DeployKind::rollback || !configured.applies_to(environment))
    return RolloutStrategy{};
  RolloutStrategy strategy = configured;
  if (strategy.kind != StrategyKind::rolling &&
      (!supports_traffic_split || previous_version.empty()))
    strategy.kind = StrategyKind::rolling;
  return strategy;
}

std::vector<int> rollout_weights(const RolloutStrategy& strategy) {
  if (strategy.kind != StrategyKind::canary)
    return {100};
  std::vector<int> weights = strategy.steps;
  if (weights.empty() || weights.back() != 100)
    weights.push_back(100);
  return weights;
}

ResumeDecision decide_resume(const ResumeFacts& facts) {
  ResumeDecision out;
  if (facts.state != DeployState::deploying && facts.state != DeployState::verifying) {
    out.why = "it was " + std::string(storage::to_string(facts.state)) +
              ", which is not a rollout to carry on";
    return out;
  }
  const bool straight = facts.strategy.kind == StrategyKind::rolling;
  const auto weights = rollout_weights(facts.strategy);
  RolloutProgress base;
  base.strategy = facts.strategy.kind;
  base.stable = facts.previous_version;
  base.candidate = facts.version;
  base.steps = static_cast<int>(weights.size());
  base.weight = weights.front();
  if (facts.recorded.empty()) {
    if (straight && !facts.checks_began && facts.state == DeployState::deploying) {
      out.verdict = ResumeVerdict::carry_on;
      out.why = "applying " + facts.version + " again";
      out.progress = base;
      return out;
    }
    return roll_back_or_fail(facts, base,
                             "its rollout progress was not recorded (an older Shipmate ran it), so "
                             "how far traffic had moved is unknown");
  }
  auto parsed = parse_rollout(facts.recorded);
  if (!parsed)
    return roll_back_or_fail(facts, base, parsed.error().message);
  RolloutProgress progress = *parsed;
  if (progress.phase == RolloutPhase::rolling_back) {
    return roll_back_or_fail(
        facts, progress, progress.why.empty() ? std::string("it was rolling back") : progress.why);
  }
  if (progress.strategy != facts.strategy.kind ||
      progress.steps != static_cast<int>(weights.size()) || progress.candidate != facts.version) {
    return roll_back_or_fail(
        facts, progress,
        "the service's rollout strategy changed since the rollout began (recorded " +
            std::string(to_string(progress.strategy)) + " with " + std::to_string(progress.steps) +
            " steps, configured " + std::string(to_string(facts.strategy.kind)) + " with " +
            std::to_string(weights.size()) + ")");
  }
  if (!straight && !facts.supports_traffic_split) {
    return roll_back_or_fail(facts, progress,
                             "the target can no longer split traffic for a " +
                                 std::string(to_string(progress.strategy)) + " rollout");
  }
  // Carry on from the recorded step: steps before it passed their checks.
  progress.weight = weights[static_cast<std::size_t>(progress.step)];
  progress.passed = progress.step;
  progress.phase =
      progress.phase == RolloutPhase::starting ? RolloutPhase::starting : RolloutPhase::stepping;
  progress.bake_started_at = 0;
  out.verdict = ResumeVerdict::carry_on;
  out.why = straight ? "applying " + facts.version + " again" +
                           (progress.phase == RolloutPhase::starting
                                ? std::string()
                                : std::string(" (its checks start again)"))
                     : "carrying the " + std::string(to_string(progress.strategy)) + " on from " +
                           progress.where() + " (" + std::to_string(progress.passed) + " step" +
                           (progress.passed == 1 ? "" : "s") +
                           " already passed their checks; this step's bake time starts again)";
  out.progress = std::move(progress);
  return out;
}

}  // namespace shipmate::commands
