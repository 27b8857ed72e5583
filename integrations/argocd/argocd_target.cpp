#include "integrations/argocd/argocd_target.h"

#include <algorithm>
#include <utility>

#include <boost/json.hpp>

#include "common/clock.h"
#include "common/strings.h"
#include "common/timer.h"
#include "integrations/argocd/argocd_application.h"
#include "integrations/argocd/argocd_client.h"
#include "integrations/argocd/argocd_judge.h"
#include "integrations/net/http_client.h"

namespace shipmate::integrations {

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;
using argocd::AppRef;
using argocd::AppState;
using argocd::FollowGoal;
using argocd::health_summary;
using argocd::HistoryEntry;
using argocd::looks_like_commit;
using argocd::operation_summary;
using argocd::short_revision;
using argocd::valid_object_name;
using argocd::valid_version;

struct FollowResult {
  bool ok = false;
  std::string failure;
  std::optional<AppState> last;
  bool operation_running = false;  // failed while our operation was still going
};

struct CachedState {
  std::optional<std::string> version;
  std::string sync_status;
  std::string health_status;
  std::string revision;
  std::string note;  // e.g. "rollback failed; state uncertain"
};

std::string format_timeout(milliseconds timeout) {
  return format_duration(timeout.count());
}

ArgoCdTargetConfig without_trailing_slash(ArgoCdTargetConfig config) {
  while (!config.server_url.empty() && config.server_url.back() == '/')
    config.server_url.pop_back();
  return config;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Status validate_argocd_config(const ArgoCdTargetConfig& config) {
  std::vector<std::string> problems;
  auto url = net::parse_url(config.server_url);
  if (!url || (url->scheme != "https" && url->scheme != "http"))
    problems.push_back("server_url must be an http(s) URL like https://argocd.example.com");
  if (config.token.empty())
    problems.push_back("an Argo CD API token is required");
  if (config.environments.empty())
    problems.push_back("no environments are mapped to Argo CD applications");
  for (const auto& [environment, settings] : config.environments) {
    std::string name =
        settings.application.empty() ? config.service + "-" + environment : settings.application;
    if (!valid_object_name(name))
      problems.push_back("application name \"" + name + "\" for " + environment +
                         " is not a valid Kubernetes object name (lowercase letters, digits, '-', "
                         "'.')");
    if (!settings.app_namespace.empty() && !valid_object_name(settings.app_namespace))
      problems.push_back("app namespace \"" + settings.app_namespace + "\" for " + environment +
                         " is not a valid namespace name");
  }
  if (config.version_mode == ArgoCdVersionMode::helm_parameter && config.helm_parameter.empty())
    problems.push_back("helm_parameter mode needs the parameter name (e.g. image.tag)");
  if (config.poll_interval <= milliseconds(0))
    problems.push_back("poll interval must be positive");
  if (config.sync_timeout <= config.poll_interval)
    problems.push_back("sync timeout must be longer than the poll interval");
  if (problems.empty())
    return Ok{};
  return make_error("Argo CD target for " + config.service + ": " + join(problems, "; "));
}

// ---------------------------------------------------------------------------------------------

struct ArgoCdTarget::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor executor_in, ArgoCdTargetConfig config_in,
       std::shared_ptr<Timers> timers_in)
      : executor(std::move(executor_in)),
        config(without_trailing_slash(std::move(config_in))),
        timers(timers_in ? std::move(timers_in) : std::make_shared<SteadyTimers>(executor)),
        client(executor, config, timers) {}

  asio::any_io_executor executor;
  ArgoCdTargetConfig config;
  std::shared_ptr<Timers> timers;  // before client, which waits out its retry back-offs on it
  argocd::Client client;
  std::map<std::string, CachedState> cache;
  bool stopping = false;

  // -------------------------------------------------------------------------------------------
  // Plumbing

  std::optional<AppRef> app_for(const std::string& environment) const {
    auto found = config.environments.find(environment);
    if (found == config.environments.end())
      return std::nullopt;
    AppRef ref;
    ref.environment = environment;
    ref.name = found->second.application.empty() ? config.service + "-" + environment
                                                 : found->second.application;
    ref.app_namespace = found->second.app_namespace;
    return ref;
  }

  std::string configured_environments() const {
    std::vector<std::string> names;
    for (const auto& entry : config.environments)
      names.push_back(entry.first);
    return names.empty() ? "none" : join(names, ", ");
  }

  // What the spec names as the version (targetRevision, or the Helm parameter); nullopt when
  // it names none.
  std::optional<std::string> spec_version(const AppState& state) const {
    if (config.version_mode == ArgoCdVersionMode::helm_parameter)
      return state.helm_value;
    if (state.target_revision.empty())
      return std::nullopt;
    return state.target_revision;
  }

  // Points the spec at `version` (nullopt: names none, i.e. removes the parameter or the
  // targetRevision). Merge patches replace arrays whole, so the Helm parameter list is rewritten

  // Time since a wait began, for its deadline: real time, or the time the Timers slept when that
  // is more. With real timers the two agree (a sleep never ends early); with ManualTimers a test
  // moves past a deadline by advancing manual time instead of waiting for it.
  struct Stopwatch {
    SteadyClock::time_point started = SteadyClock::now();
    milliseconds slept{0};
    milliseconds elapsed() const {
      return std::max(std::chrono::duration_cast<milliseconds>(SteadyClock::now() - started),
                      slept);
    }
  };

  // Waits between polls; a cancelled wait just polls early (the loops check `stopping`).
  asio::awaitable<void> sleep_for(milliseconds duration, Stopwatch& watch) {
    const bool waited = co_await timers->sleep_for(duration);
    if (waited)
      watch.slept += duration;
  }

  // -------------------------------------------------------------------------------------------
  // Following an operation

  // Polls the Application until the operation that our request started has finished and the app
  // is Synced + Healthy as `goal` expects, or until it clearly failed or the timeout passed.
  // Our request cleared status.operationState (Argo CD does that when it sets an operation), so
  // the first operationState that shows up afterwards belongs to it.
  asio::awaitable<FollowResult> follow(const AppRef& app, const FollowGoal& goal,
                                       const ProgressFn& progress) {
    FollowResult result;
    Stopwatch watch;
    std::string last_line;
    auto say = [&](const std::string& line) {
      if (line != last_line && progress)
        progress(client.scrub("Argo CD " + app.name + ": " + line));
      last_line = line;
    };
    std::string waiting_for = "the " + goal.what + " to start";
    while (true) {
      if (stopping) {
        result.failure =
            "Shipmate is shutting down; Argo CD carries on with the " + goal.what + " on its own";
        result.operation_running = true;
        co_return result;
      }
      Result<AppState> read = co_await client.read_app(app);
      if (!read) {
        result.failure = "lost track of the " + goal.what + ": " + read.error().message;
        result.operation_running = true;
        co_return result;
      }
      AppState& state = *read;
      result.last = state;
      const argocd::Judgement judgement = argocd::judge(state, goal);
      switch (judgement.verdict) {
        case argocd::Verdict::succeeded:
          result.ok = true;
          co_return result;
        case argocd::Verdict::failed:
          result.failure = judgement.reason;
          co_return result;
        case argocd::Verdict::keep_waiting:
          if (!judgement.waiting_for.empty())
            waiting_for = judgement.waiting_for;
          say(judgement.reason);
          break;
      }

      const milliseconds elapsed = watch.elapsed();
      if (elapsed >= config.sync_timeout) {
        result.failure =
            goal.what + " timed out after " + format_timeout(config.sync_timeout) +
            " waiting for " + waiting_for + " (last: " +
            (state.phase.empty() ? std::string("no operation state") : operation_summary(state)) +
            ", " + health_summary(state) + ")";
        result.operation_running = state.operation_in_progress();
        co_return result;
      }
      const milliseconds left = config.sync_timeout - elapsed;
      co_await sleep_for(std::min(config.poll_interval, left), watch);
    }
  }

  // After a terminate request: waits (bounded) until no operation runs, so a rollback can start.
  asio::awaitable<Status> wait_until_idle(const AppRef& app) {
    Stopwatch watch;
    while (true) {
      Result<AppState> state = co_await client.read_app(app);
      if (!state)
        co_return state.error();
      if (!state->operation_in_progress())
        co_return Ok{};
      if (watch.elapsed() >= config.sync_timeout)
        co_return make_error("the operation on " + app.name + " is still " + state->phase +
                             " after " + format_timeout(config.sync_timeout));
      co_await sleep_for(config.poll_interval, watch);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Version labels

  std::optional<std::string> entry_version(const HistoryEntry& entry) const {
    return argocd::entry_version(entry, config.version_mode);
  }
  std::optional<std::string> live_version(const AppState& state) const {
    return argocd::live_version(state, config.version_mode);
  }
  bool entry_matches(const HistoryEntry& entry, const std::string& version) const {
    return argocd::entry_matches(entry, version, config.version_mode);
  }

  void remember(const AppRef& app, const AppState& state, std::optional<std::string> version,
                std::string note = {}) {
    CachedState& cached = cache[app.environment];
    cached.version = std::move(version);
    cached.sync_status = state.sync_status;
    cached.health_status = state.health_status;
    cached.revision = state.sync_revision;
    cached.note = std::move(note);
  }

  std::string in_app(const AppRef& app) const { return " (Argo CD app " + app.name + ")"; }

  // Suspends automated sync when the policy allows; fills `saved` with what to put back.
  asio::awaitable<Result<std::optional<json::value>>> handle_automation(
      const AppRef& app, const AppState& state, bool for_rollback, const ProgressFn& progress) {
    if (!state.automated)
      co_return std::optional<json::value>();
    if (config.auto_sync == ArgoCdAutoSyncPolicy::refuse)
      co_return make_error(argocd::automated_refusal(app.name, for_rollback));
    std::optional<json::value> none;
    Status suspended = co_await client.set_automated(app, std::move(none));
    if (!suspended)
      co_return suspended.error();
    if (progress)
      progress("Argo CD " + app.name +
               ": automated sync suspended for this deploy; Shipmate restores it afterwards");
    co_return std::optional<json::value>(*state.automated);
  }

  // Puts automated sync back; returns a sentence for the outcome ("" when all went well).
  asio::awaitable<std::string> restore_automation(const AppRef& app,
                                                  const std::optional<json::value>& saved,
                                                  bool spec_agrees, const ProgressFn& progress) {
    if (!saved)
      co_return std::string();
    if (!spec_agrees)
      co_return "automated sync stays suspended on " + app.name +
          " because its spec could not be pointed back at the serving version; turn it "
          "back on once the spec is right";
    Status restored = co_await client.set_automated(app, saved);
    if (!restored)
      co_return "automated sync could not be restored on " + app.name + ": " +
          restored.error().message;
    if (progress)
      progress("Argo CD " + app.name + ": automated sync restored");
    co_return std::string();
  }

  // -------------------------------------------------------------------------------------------
  // apply

  asio::awaitable<ApplyOutcome> apply(std::string environment, std::string version,
                                      ProgressFn progress) {
    auto self = shared_from_this();
    ApplyOutcome outcome;
    std::optional<AppRef> found = app_for(environment);
    if (!found) {
      outcome.message = "no Argo CD application is configured for " + config.service + " in " +
                        environment + " (configured: " + configured_environments() + ")";
      co_return outcome;
    }
    const AppRef app = *found;
    const std::string label = config.service + " " + version + " in " + environment;
    if (!valid_version(version)) {
      outcome.message = "\"" + version + "\" is not a version Shipmate can deploy via Argo CD";
      co_return outcome;
    }
    auto say = [&](const std::string& line) {
      if (progress)
        progress(client.scrub(line));
    };

    Result<AppState> before = co_await client.read_app(app);
    if (!before) {
      outcome.message = "deploy of " + label + " did not start: " + before.error().message;
      co_return outcome;
    }
    if (before->multi_source) {
      outcome.message = "Argo CD app " + app.name +
                        " has several sources (spec.sources); Shipmate deploys single-source apps "
                        "only. Nothing was changed.";
      co_return outcome;
    }
    if (before->operation_in_progress()) {
      outcome.message = argocd::busy_refusal(app.name, *before);
      co_return outcome;
    }
    Result<std::optional<json::value>> automation =
        co_await handle_automation(app, *before, false, progress);
    if (!automation) {
      outcome.message = automation.error().message;
      co_return outcome;
    }
    const std::optional<json::value> saved_automation = *automation;
    const std::optional<HistoryEntry> previous =
        before->history.empty() ? std::nullopt : std::optional(before->history.back());
    const std::optional<std::string> previous_spec = spec_version(*before);
    const std::optional<std::string> previous_version = live_version(*before);

    // Point the spec at the version.
    bool spec_changed = false;
    if (previous_spec != version) {
      const std::optional<std::string> wanted = version;
      Status pointed = co_await client.set_spec_version(app, *before, wanted);
      if (!pointed) {
        std::string note = co_await restore_automation(app, saved_automation, true, progress);
        outcome.message = "deploy of " + label + " did not start: " + pointed.error().message +
                          (note.empty() ? "" : "; " + note);
        co_return outcome;
      }
      spec_changed = true;
      say("Argo CD " + app.name + ": " +
          (config.version_mode == ArgoCdVersionMode::helm_parameter
               ? "Helm parameter " + config.helm_parameter + "=" + version
               : "targetRevision " + version) +
          " set in the app spec");
    }

    Result<AppState> requested = co_await client.request_sync(app, version);
    if (!requested) {
      // Nothing was synced: the previous version still serves; only the spec needs putting back.
      std::vector<std::string> after;
      bool spec_back = !spec_changed;
      if (spec_changed) {
        Status reverted = co_await client.set_spec_version(app, *before, previous_spec);
        spec_back = static_cast<bool>(reverted);
        after.push_back(reverted
                            ? "the app spec was put back"
                            : "could not point the app spec back: " + reverted.error().message);
      }
      std::string note = co_await restore_automation(app, saved_automation, spec_back, progress);
      if (!note.empty())
        after.push_back(note);
      outcome.message = "deploy of " + label + " did not start: " + requested.error().message +
                        (after.empty() ? "" : "; " + join(after, "; "));
      co_return outcome;
    }
    FollowGoal goal;
    goal.what = "sync to " + version;
    goal.helm_parameter = config.helm_parameter;
    if (config.version_mode == ArgoCdVersionMode::helm_parameter) {
      goal.expect_helm_value = version;
    } else {
      goal.expect_target_revision = version;
      goal.expect_revision = version;
    }
    FollowResult followed = co_await follow(app, goal, progress);

    if (followed.ok) {
      std::string note = co_await restore_automation(app, saved_automation, true, progress);
      remember(app, *followed.last, version);
      outcome.ok = true;
      outcome.endpoint = client.app_url(app);
      outcome.message = label + " is Synced and Healthy" + in_app(app) + " at revision " +
                        short_revision(followed.last->operation_revision) +
                        (note.empty() ? "" : "; " + note);
      co_return outcome;
    }
    if (stopping) {
      outcome.message = "deploy of " + label + " interrupted: " + followed.failure;
      if (saved_automation)
        outcome.message +=
            "; automated sync on " + app.name + " stays suspended until someone turns it back on";
      co_return outcome;
    }
    ApplyOutcome failed = co_await recover(app, label, followed, spec_changed, previous_spec,
                                           previous, previous_version, saved_automation, progress);
    co_return failed;
  }

  // A deploy failed after its sync started: leave the previous version serving. Terminates a
  // still-running operation, points the spec back, rolls back to the history entry that served
  // before, and restores automated sync when the spec is right again.
  asio::awaitable<ApplyOutcome> recover(const AppRef& app, const std::string& label,
                                        const FollowResult& followed, bool spec_changed,
                                        const std::optional<std::string>& previous_spec,
                                        const std::optional<HistoryEntry>& previous,
                                        const std::optional<std::string>& previous_version,
                                        const std::optional<json::value>& saved_automation,
                                        const ProgressFn& progress) {
    auto say = [&](const std::string& line) {
      if (progress)
        progress(client.scrub("Argo CD " + app.name + ": " + line));
    };
    say(followed.failure);
    std::vector<std::string> after;
    if (followed.operation_running) {
      Status terminated = co_await client.terminate_operation(app);
      if (terminated) {
        say("terminated the running sync");
        Status idle = co_await wait_until_idle(app);
        if (!idle)
          after.push_back(idle.error().message);
      } else {
        after.push_back("could not terminate the running sync: " + terminated.error().message);
      }
    }
    Result<AppState> current = co_await client.read_app(app);
    bool spec_back = !spec_changed;
    if (spec_changed && current) {
      Status reverted = co_await client.set_spec_version(app, *current, previous_spec);
      spec_back = static_cast<bool>(reverted);
      if (!reverted)
        after.push_back("could not point the app spec back: " + reverted.error().message);
    } else if (spec_changed) {
      after.push_back("could not point the app spec back: " + current.error().message);
    }

    bool rolled_back = false;
    if (!previous) {
      after.push_back("Argo CD has no earlier deployment of " + app.name + " to roll back to");
    } else if (!current || current->operation_in_progress()) {
      after.push_back("an operation may still be running on " + app.name + ", so no rollback");
    } else {
      const std::string id = std::to_string(previous->id);
      const std::string target =
          entry_version(*previous).value_or(short_revision(previous->revision));
      say("rolling back to history id " + id + " (" + target + ")");
      Status asked = co_await client.request_rollback(app, previous->id);
      if (!asked) {
        after.push_back("rollback to history id " + id + " failed: " + asked.error().message);
      } else {
        FollowGoal goal;
        goal.what = "rollback to history id " + id;
        goal.expect_revision = previous->revision;
        goal.require_compared = spec_back;
        goal.require_synced = spec_back;
        FollowResult back = co_await follow(app, goal, progress);
        if (back.ok) {
          rolled_back = true;
          after.push_back("rolled back to history id " + id + " (" + target +
                          "), which is Healthy");
          remember(app, *back.last, previous_version.value_or(target));
        } else {
          after.push_back(back.failure);
        }
      }
    }
    std::string note = co_await restore_automation(app, saved_automation, spec_back, progress);
    if (!note.empty())
      after.push_back(note);
    if (!rolled_back) {
      Result<AppState> now = co_await client.read_app(app);
      if (now)
        remember(app, *now, live_version(*now), "the last deploy failed and was not rolled back");
      after.push_back("check Argo CD app " + app.name + " by hand: " + client.app_url(app));
    }
    ApplyOutcome outcome;
    outcome.message = client.scrub("deploy of " + label + " failed: " + followed.failure + "; " +
                                   join(after, "; "));
    co_return outcome;
  }

  // -------------------------------------------------------------------------------------------
  // roll_back

  asio::awaitable<ApplyOutcome> roll_back(std::string environment, std::string version,
                                          ProgressFn progress) {
    auto self = shared_from_this();
    ApplyOutcome outcome;
    std::optional<AppRef> found = app_for(environment);
    if (!found) {
      outcome.message = "no Argo CD application is configured for " + config.service + " in " +
                        environment + " (configured: " + configured_environments() + ")";
      co_return outcome;
    }
    const AppRef app = *found;
    auto say = [&](const std::string& line) {
      if (progress)
        progress(client.scrub(line));
    };
    Result<AppState> before = co_await client.read_app(app);
    if (!before) {
      outcome.message = "rollback of " + config.service + " in " + environment +
                        " did not start: " + before.error().message;
      co_return outcome;
    }
    if (before->multi_source) {
      outcome.message = "Argo CD app " + app.name +
                        " has several sources (spec.sources); Shipmate rolls back single-source "
                        "apps only. Nothing was changed.";
      co_return outcome;
    }
    if (before->operation_in_progress()) {
      outcome.message = argocd::busy_refusal(app.name, *before);
      co_return outcome;
    }
    const std::vector<HistoryEntry>& history = before->history;
    std::optional<HistoryEntry> target;
    for (auto entry = history.rbegin(); entry != history.rend(); ++entry) {
      if (entry_matches(*entry, version)) {
        target = *entry;
        break;
      }
    }
    if (!target) {
      if (history.size() < 2) {
        outcome.message = "Argo CD app " + app.name + " has no deployment of " + version +
                          " in its history and nothing earlier to roll back to";
        co_return outcome;
      }
      target = history[history.size() - 2];
      say("Argo CD " + app.name + ": no history entry for " + version +
          "; rolling back to the previous entry, id " + std::to_string(target->id) + " (" +
          entry_version(*target).value_or(short_revision(target->revision)) + ")");
    }
    const std::string restored_version =
        entry_version(*target).value_or(short_revision(target->revision));
    const std::string label = config.service + " " + restored_version + " in " + environment;

    Result<std::optional<json::value>> automation =
        co_await handle_automation(app, *before, true, progress);
    if (!automation) {
      outcome.message = automation.error().message;
      co_return outcome;
    }
    const std::optional<json::value> saved_automation = *automation;

    // The spec names the version being returned to, so the app ends Synced and a restored
    // automated sync keeps it.
    std::optional<std::string> wanted_spec =
        config.version_mode == ArgoCdVersionMode::helm_parameter
            ? target->helm_value
            : (target->target_revision.empty() ? std::nullopt
                                               : std::optional(target->target_revision));
    if (spec_version(*before) != wanted_spec) {
      Status pointed = co_await client.set_spec_version(app, *before, wanted_spec);
      if (!pointed) {
        std::string note = co_await restore_automation(app, saved_automation, true, progress);
        outcome.message = "rollback of " + config.service + " in " + environment +
                          " did not start: " + pointed.error().message +
                          (note.empty() ? "" : "; " + note);
        co_return outcome;
      }
    }
    say("Argo CD " + app.name + ": rolling back to history id " + std::to_string(target->id) +
        " (" + restored_version + ")");
    Status asked = co_await client.request_rollback(app, target->id);
    FollowResult followed;
    if (!asked) {
      followed.failure = asked.error().message;
    } else {
      FollowGoal goal;
      goal.what = "rollback to history id " + std::to_string(target->id);
      goal.expect_revision = target->revision;
      // The rollback deploys the history entry's whole source; if the spec differs elsewhere
      // (another Helm parameter changed since), Argo CD rightly shows OutOfSync afterwards.
      goal.require_synced = false;
      followed = co_await follow(app, goal, progress);
    }
    std::string note = co_await restore_automation(app, saved_automation, true, progress);
    if (followed.ok) {
      remember(app, *followed.last, restored_version);
      outcome.ok = true;
      outcome.endpoint = client.app_url(app);
      const AppState& after = *followed.last;
      outcome.message = label + " is back: rolled back to history id " +
                        std::to_string(target->id) + ", Healthy" + in_app(app);
      if (after.sync_status != "Synced")
        outcome.message +=
            "; Argo CD shows it " +
            (after.sync_status.empty() ? std::string("Unknown") : after.sync_status) +
            " because the app spec differs from that deployment in other ways";
      if (!note.empty())
        outcome.message += "; " + note;
      co_return outcome;
    }
    Result<AppState> now = co_await client.read_app(app);
    if (now)
      remember(app, *now, live_version(*now), "the last rollback failed");
    outcome.message = "rollback of " + config.service + " in " + environment + " to " +
                      restored_version + " failed: " + followed.failure +
                      (note.empty() ? "" : "; " + note) + "; check " + client.app_url(app);
    outcome.message = client.scrub(std::move(outcome.message));
    co_return outcome;
  }

  // -------------------------------------------------------------------------------------------
  // restore

  asio::awaitable<std::vector<ApplyOutcome>> restore() {
    auto self = shared_from_this();
    std::vector<ApplyOutcome> outcomes;
    std::vector<std::string> environments;
    for (const auto& entry : config.environments)
      environments.push_back(entry.first);
    for (const std::string& environment : environments) {
      std::optional<AppRef> app = app_for(environment);
      Result<AppState> state = co_await client.read_app(*app);
      if (!state) {
        ApplyOutcome outcome;
        outcome.message = config.service + " in " + environment +
                          ": could not read its Argo CD app: " + state.error().message;
        outcomes.push_back(std::move(outcome));
        continue;
      }
      std::optional<std::string> version = live_version(*state);
      remember(*app, *state, version);
      if (!version)
        continue;
      ApplyOutcome outcome;
      outcome.ok = state->sync_status == "Synced" && state->health_status == "Healthy";
      outcome.endpoint = client.app_url(*app);
      outcome.message = config.service + " " + *version + " in " + environment + in_app(*app) +
                        ": " + (state->sync_status.empty() ? "Unknown" : state->sync_status) +
                        ", " + health_summary(*state);
      if (state->operation_in_progress())
        outcome.message +=
            "; an operation is " + (state->phase.empty() ? std::string("requested") : state->phase);
      outcomes.push_back(std::move(outcome));
    }
    co_return outcomes;
  }
};

// ---------------------------------------------------------------------------------------------

ArgoCdTarget::ArgoCdTarget(boost::asio::any_io_executor executor, ArgoCdTargetConfig config,
                           std::shared_ptr<Timers> timers)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(config), std::move(timers))) {}

ArgoCdTarget::~ArgoCdTarget() {
  impl_->stopping = true;
}

std::string ArgoCdTarget::application_for(const std::string& environment) const {
  auto app = impl_->app_for(environment);
  return app ? app->name : std::string();
}

Status ArgoCdTarget::validate(const std::string& environment, const std::string& version) const {
  if (!impl_->app_for(environment))
    return make_error("no Argo CD application is configured for " + impl_->config.service + " in " +
                      environment + " (configured: " + impl_->configured_environments() + ")");
  if (version.empty())
    return make_error("a version is required to deploy " + impl_->config.service + " via Argo CD");
  if (!valid_version(version))
    return make_error("\"" + version +
                      "\" is not a usable version for Argo CD: use a git tag, branch, commit or "
                      "Helm value made of letters, digits and . _ - / +");
  return Ok{};
}

std::optional<std::string> ArgoCdTarget::current_version(const std::string& environment) const {
  auto found = impl_->cache.find(environment);
  if (found == impl_->cache.end())
    return std::nullopt;
  return found->second.version;
}

std::string ArgoCdTarget::describe(const std::string& environment) const {
  auto app = impl_->app_for(environment);
  if (!app)
    return "no Argo CD application for " + environment;
  auto found = impl_->cache.find(environment);
  if (found == impl_->cache.end())
    return "Argo CD app " + app->name + " (not read yet) at " + impl_->client.app_url(*app);
  const CachedState& cached = found->second;
  std::string text = cached.version ? *cached.version : std::string("nothing deployed");
  text += " via Argo CD app " + app->name + " (" +
          (cached.sync_status.empty() ? "Unknown" : cached.sync_status) + ", " +
          (cached.health_status.empty() ? "Unknown" : cached.health_status);
  if (!cached.revision.empty())
    text += ", revision " + short_revision(cached.revision);
  text += ")";
  if (!cached.note.empty())
    text += "; " + cached.note;
  return text + " at " + impl_->client.app_url(*app);
}

boost::asio::awaitable<ApplyOutcome> ArgoCdTarget::apply(std::string environment,
                                                         std::string version, ProgressFn progress) {
  auto impl = impl_;
  co_return co_await impl->apply(std::move(environment), std::move(version), std::move(progress));
}

boost::asio::awaitable<ApplyOutcome> ArgoCdTarget::roll_back(std::string environment,
                                                             std::string version,
                                                             ProgressFn progress) {
  auto impl = impl_;
  co_return co_await impl->roll_back(std::move(environment), std::move(version),
                                     std::move(progress));
}

boost::asio::awaitable<std::vector<ApplyOutcome>> ArgoCdTarget::restore() {
  auto impl = impl_;
  co_return co_await impl->restore();
}

boost::asio::awaitable<Result<std::optional<std::string>>> ArgoCdTarget::check_access() {
  std::shared_ptr<Impl> impl = impl_;
  std::string read;
  for (const auto& [environment, configured] : impl->config.environments) {
    const std::optional<AppRef> app = impl->app_for(environment);
    if (!app)
      continue;
    Result<AppState> state = co_await impl->client.read_app(*app);
    if (!state)
      co_return state.error();
    read += (read.empty() ? "application " : ", ") + app->name;
  }
  co_return std::optional<std::string>("read " + read);
}

boost::asio::awaitable<void> ArgoCdTarget::shutdown() {
  impl_->stopping = true;
  co_return;
}

}  // namespace shipmate::integrations