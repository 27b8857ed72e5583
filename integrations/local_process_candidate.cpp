// The progressive-delivery half of the local-process target: a candidate release beside the
// stable one, its traffic weight, promotion and abort (contract in local_process_target.h).
#include <string>
#include <utility>

#include "integrations/local_process_core.h"

namespace shipmate::integrations::local_process {

Result<EnvState*> Core::candidate_env(const std::string& environment, const char* action) {
  if (config_.environments.count(environment) == 0) {
    return make_error("cannot " + std::string(action) + ": unknown environment '" + environment +
                      "' for " + config_.service);
  }
  EnvState& env = envs_[environment];
  if (!env.candidate) {
    return make_error("cannot " + std::string(action) + ": " + label(environment) +
                      " has no candidate (start one first)");
  }
  return &env;
}

asio::awaitable<ApplyOutcome> Core::start_candidate(std::shared_ptr<Core> self,
                                                    std::string environment, std::string version,
                                                    ProgressFn progress) {
  auto say = [&progress](const std::string& line) {
    if (progress)
      progress(line);
  };
  auto fail = [](std::string message) { return ApplyOutcome{false, std::move(message), ""}; };
  const LocalTargetConfig& config = self->config_;
  const std::string service = config.service;
  auto claimed = self->claim(environment, version, [&](EnvState& state) -> std::string {
    if (state.candidate) {
      return self->label(environment) + " already has a candidate " + state.candidate->version +
             " at " + std::to_string(state.candidate_percent) + "%; promote or abort it first";
    }
    if (!state.current || !state.current->process->running() || !state.forwarder) {
      return "no stable version of " + service + " is serving " + environment +
             ", so there is nothing to run " + version + " beside; deploy it instead";
    }
    if (state.current->version == version)
      return service + " " + version + " is already the stable version in " + environment;
    return "";
  });
  if (!claimed)
    co_return fail(claimed.error().message);
  const std::unique_ptr<EnvClaim> claim = std::move(*claimed);
  EnvState& env = claim->env();
  const std::uint64_t epoch = claim->epoch();

  auto launched = co_await launch(self, environment, version, progress, epoch);
  if (!launched)
    co_return fail(launched.error().message);
  const Starting& started = *launched;
  if (!env.forwarder) {
    // Only shutdown removes the forwarder, and that bumps the epoch, which launch() checked.
    co_await started.process->stop(config.stop_grace);
    co_return fail("no stable version of " + service + " is serving " + environment +
                   " any more; stopped " + version);
  }
  env.candidate = std::make_shared<Instance>(
      Instance{version, started.port, started.process, started.log_path});
  env.candidate_percent = 0;
  env.forwarder->set_candidate(started.port, 0);
  const std::string stable = env.current ? env.current->version : std::string("nothing");
  say(version + " is ready beside " + stable + ", with no traffic yet");

  ApplyOutcome outcome;
  outcome.ok = true;
  outcome.endpoint = "http://127.0.0.1:" + std::to_string(started.port);
  outcome.message = service + " " + version + " is running beside " + stable + " in " +
                    environment + " at " + outcome.endpoint + " (pid " +
                    std::to_string(started.process->pid()) + "), with no traffic yet";
  co_return outcome;
}

ApplyOutcome Core::set_candidate_weight(const std::string& environment, int percent) {
  auto found = candidate_env(environment, "move traffic");
  if (!found)
    return ApplyOutcome{false, found.error().message, ""};
  EnvState& env = **found;
  if (percent < 0 || percent > 100) {
    return ApplyOutcome{false,
                        "cannot move traffic: a weight is a percentage from 0 to 100, not " +
                            std::to_string(percent),
                        ""};
  }
  const Instance& candidate = *env.candidate;
  if (percent > 0) {
    if (auto status = candidate.process->poll()) {
      return ApplyOutcome{false,
                          "cannot send traffic to " + config_.service + " " + candidate.version +
                              " in " + environment + ": it is not running (" + status->describe() +
                              "); abort it (log: " + candidate.log_path + ")",
                          ""};
    }
  }
  env.forwarder->set_candidate(candidate.port, percent);
  env.candidate_percent = percent;
  const std::string stable = env.current ? env.current->version : std::string("nothing");
  return ApplyOutcome{true,
                      label(environment) + ": " + std::to_string(percent) +
                          "% of new connections go to " + candidate.version + " (candidate), " +
                          std::to_string(100 - percent) + "% to " + stable + " (stable)",
                      public_endpoint(environment)};
}

asio::awaitable<ApplyOutcome> Core::promote_candidate(std::shared_ptr<Core> self,
                                                      std::string environment) {
  auto found = self->candidate_env(environment, "promote");
  if (!found)
    co_return ApplyOutcome{false, found.error().message, ""};
  EnvState& env = **found;
  const std::string service = self->config_.service;
  const std::string version = env.candidate->version;
  if (auto status = env.candidate->process->poll()) {
    co_return ApplyOutcome{false,
                           "cannot promote " + service + " " + version + " in " + environment +
                               ": it is not running (" + status->describe() +
                               "); abort it (log: " + env.candidate->log_path + ")",
                           ""};
  }
  if (auto recorded = self->record_current(environment, version); !recorded) {
    co_return ApplyOutcome{false, "cannot promote: " + recorded.error().message, ""};
  }
  // From here on the state is final before anything is awaited: the candidate is the stable
  // version, on disk and in the forwarder.
  env.forwarder->set_backend(env.candidate->port);
  env.forwarder->clear_candidate();
  auto promoted = std::exchange(env.candidate, nullptr);
  env.candidate_percent = 0;
  auto previous = std::exchange(env.current, promoted);

  std::string stopped;
  if (previous && previous->process) {
    const int old_pid = previous->process->pid();
    if (auto status = previous->process->poll()) {
      stopped = "; " + previous->version + " (pid " + std::to_string(old_pid) + ") had already " +
                status->describe();
    } else {
      co_await previous->process->stop(self->config_.stop_grace);
      stopped = "; stopped " + previous->version + " (pid " + std::to_string(old_pid) + ")";
    }
  }
  forget_exited(env);
  const std::string endpoint = self->public_endpoint(environment);
  co_return ApplyOutcome{true,
                         "promoted " + service + " " + version + " in " + environment +
                             ": serving all traffic at " + endpoint + " (pid " +
                             std::to_string(promoted->process->pid()) + ")" + stopped,
                         endpoint};
}

asio::awaitable<ApplyOutcome> Core::abort_candidate(std::shared_ptr<Core> self,
                                                    std::string environment) {
  if (self->config_.environments.count(environment) == 0) {
    co_return ApplyOutcome{
        false,
        "cannot abort: unknown environment '" + environment + "' for " + self->config_.service, ""};
  }
  EnvState& env = self->envs_[environment];
  const std::string endpoint = self->public_endpoint(environment);
  if (!env.candidate) {
    co_return ApplyOutcome{true, self->label(environment) + " has no candidate; nothing to abort",
                           endpoint};
  }
  if (env.forwarder)
    env.forwarder->clear_candidate();
  auto aborted = std::exchange(env.candidate, nullptr);
  env.candidate_percent = 0;
  const int pid = aborted->process->pid();
  std::string stopped;
  if (auto status = aborted->process->poll()) {
    stopped = aborted->version + " was not running (" + status->describe() + ")";
  } else {
    co_await aborted->process->stop(self->config_.stop_grace);
    stopped = "stopped " + aborted->version + " (pid " + std::to_string(pid) + ")";
  }
  forget_exited(env);
  std::string serving = "nothing else is running";
  if (env.current && env.current->process->running())
    serving = "all traffic back to " + env.current->version;
  co_return ApplyOutcome{true,
                         "aborted candidate " + self->config_.service + " " + aborted->version +
                             " in " + environment + ": " + serving + "; " + stopped,
                         endpoint};
}

}  // namespace shipmate::integrations::local_process
