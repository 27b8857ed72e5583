// The machinery behind the local-process target (local_process_target.h): one Core per target
// that owns every environment's forwarder and processes. local_process_target.cpp holds deploys,
// rollbacks, restore and shutdown; local_process_candidate.cpp the progressive-delivery calls
// (start, weigh, promote, abort a candidate).
//
// Contract
// - Private to integrations/: only those two sources include it.
// - Threading: a Core is used on its executor's thread only. Coroutines take a shared_ptr to it
//   (`self`) so that it outlives every operation in flight.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "common/result.h"
#include "integrations/deploy_target.h"
#include "integrations/local_process_target.h"
#include "integrations/process.h"
#include "integrations/tcp_forwarder.h"

namespace shipmate::integrations::local_process {

namespace asio = boost::asio;

// Why apply() runs: a deploy (refused while a candidate runs), a rollback (aborts a candidate
// first), or restore() bringing back the recorded release after a restart.
enum class Mode { deploy, roll_back, restore };

struct Instance {
  std::string version;
  int port = 0;
  std::shared_ptr<ChildProcess> process;
  std::string log_path;
};

struct EnvState {
  std::unique_ptr<TcpForwarder> forwarder;
  std::shared_ptr<Instance> current;  // the stable version: where new connections go by default
  // Progressive delivery: a healthy release beside `current` that gets `candidate_percent` of new
  // connections. Never recorded on disk.
  std::shared_ptr<Instance> candidate;
  int candidate_percent = 0;
  // Every process started for this environment and not yet known to be reaped (the serving one,
  // a candidate under health check, an old one being stopped, a health-check command), so that
  // shutdown() and the destructor can find them all.
  std::vector<std::shared_ptr<ChildProcess>> live;
  std::optional<std::string> busy;  // version being applied
};

// Drops the processes of `env` that are known to have been reaped.
inline void forget_exited(EnvState& env) {
  std::erase_if(env.live, [](const std::shared_ptr<ChildProcess>& p) { return !p->running(); });
}

class Core {
 public:
  Core(asio::any_io_executor executor, LocalTargetConfig config)
      : executor_(std::move(executor)), config_(std::move(config)) {
    for (const auto& [name, ignored] : config_.environments)
      envs_[name];
  }

  Status validate(const std::string& environment, const std::string& version) const;
  std::vector<std::string> available_versions() const;
  std::optional<std::string> current_version(const std::string& environment) const;
  std::string describe(const std::string& environment);

  static asio::awaitable<ApplyOutcome> apply(std::shared_ptr<Core> self, std::string environment,
                                             std::string version, ProgressFn progress, Mode mode);
  static asio::awaitable<ApplyOutcome> start_candidate(std::shared_ptr<Core> self,
                                                       std::string environment, std::string version,
                                                       ProgressFn progress);
  ApplyOutcome set_candidate_weight(const std::string& environment, int percent);
  static asio::awaitable<ApplyOutcome> promote_candidate(std::shared_ptr<Core> self,
                                                         std::string environment);
  static asio::awaitable<ApplyOutcome> abort_candidate(std::shared_ptr<Core> self,
                                                       std::string environment);
  static asio::awaitable<std::vector<ApplyOutcome>> restore(std::shared_ptr<Core> self);
  static asio::awaitable<void> shutdown(std::shared_ptr<Core> self);
  // Synchronous last resort for the destructor.
  void kill_everything_now();
  // Stops routing traffic, forgets every process, sends each SIGTERM and returns them to be
  // reaped; bumps the epoch so that applies in progress give up.
  std::vector<std::shared_ptr<ChildProcess>> abandon_everything();

  std::string release_dir(const std::string& version) const {
    return config_.releases_dir + "/" + version;
  }

 private:
  std::string env_dir(const std::string& environment) const {
    return config_.state_dir + "/" + config_.service + "/" + environment;
  }
  std::string label(const std::string& environment) const {
    return config_.service + "/" + environment;
  }
  std::map<std::string, std::string> placeholders(const std::string& environment,
                                                  const std::string& version, int port) const {
    return {{"{port}", std::to_string(port)},
            {"{version}", version},
            {"{env}", environment},
            {"{service}", config_.service}};
  }
  std::map<std::string, std::string> process_env(const std::string& environment,
                                                 const std::string& version, int port) const {
    std::map<std::string, std::string> env = config_.env;
    env["PORT"] = std::to_string(port);
    env["SHIPMATE_SERVICE"] = config_.service;
    env["SHIPMATE_ENVIRONMENT"] = environment;
    env["SHIPMATE_VERSION"] = version;
    return env;
  }
  Status record_current(const std::string& environment, const std::string& version) const;

  // The environment marked busy with a version until the claim ends (RAII), with the epoch at
  // the time it was claimed (an apply gives up when shutdown has bumped it since).
  class EnvClaim {
   public:
    EnvClaim(EnvState& env, std::uint64_t epoch) : env_(env), epoch_(epoch) {}
    ~EnvClaim() { env_.busy.reset(); }
    EnvClaim(const EnvClaim&) = delete;
    EnvClaim& operator=(const EnvClaim&) = delete;
    EnvState& env() const { return env_; }
    std::uint64_t epoch() const { return epoch_; }

   private:
    EnvState& env_;
    std::uint64_t epoch_;
  };
  // The checks apply() and start_candidate() share, in this order: the version is valid, the
  // environment is not busy, `refuse` (the caller's own check of the environment; "" to go on)
  // has nothing to say, a start command is configured. Then the environment is claimed for
  // `version` and its reaped processes forgotten. An Error carries the sentence for the person.
  Result<std::unique_ptr<EnvClaim>> claim(const std::string& environment,
                                          const std::string& version,
                                          const std::function<std::string(EnvState&)>& refuse);

  // A process started for `version` and not yet known to be healthy.
  struct Starting {
    std::string environment;
    std::string version;
    int port = 0;
    std::shared_ptr<ChildProcess> process;
    std::string log_path;
    std::uintmax_t log_offset = 0;
  };
  // Ok with the number of attempts it took, or why the candidate is not healthy; ends early
  // once shutdown() has bumped the epoch from `epoch` (the one its apply claimed at).
  static asio::awaitable<Result<int>> check_health(std::shared_ptr<Core> self,
                                                   const Starting& candidate, const ProgressFn& say,
                                                   std::uint64_t epoch);
  static asio::awaitable<Status> run_check_command(std::shared_ptr<Core> self,
                                                   const Starting& candidate);
  // Starts `version` on a free private port and waits until it passes its health check. On
  // failure the new process is stopped and the error says why, whether the stable version still
  // serves, and where the log is; nothing else has changed. Gives up when `epoch` moves on.
  static asio::awaitable<Result<Starting>> launch(std::shared_ptr<Core> self,
                                                  const std::string& environment,
                                                  const std::string& version,
                                                  const ProgressFn& progress, std::uint64_t epoch);
  // The state of an environment that has a candidate, or why `action` cannot be done there.
  Result<EnvState*> candidate_env(const std::string& environment, const char* action);
  std::string public_endpoint(const std::string& environment) const {
    return "http://127.0.0.1:" + std::to_string(config_.environments.at(environment).port);
  }

  asio::any_io_executor executor_;
  LocalTargetConfig config_;
  std::map<std::string, EnvState> envs_;  // one per configured environment, never erased
  // Bumped by shutdown() and the destructor; an apply that sees it change abandons its work.
  std::uint64_t epoch_ = 0;
};

}  // namespace shipmate::integrations::local_process
