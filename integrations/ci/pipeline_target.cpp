#include "integrations/ci/pipeline_target.h"

#include <chrono>

#include <boost/asio/this_coro.hpp>

#include "common/chat_input.h"

namespace shipmate::integrations {
namespace {

class PipelineTarget final : public DeployTarget {
 public:
  PipelineTarget(std::unique_ptr<CiProvider> provider, PipelineTargetConfig config)
      : provider_(std::move(provider)), config_(std::move(config)) {}

  std::string kind() const override { return "pipeline (" + provider_->kind() + ")"; }

  Status validate(const std::string& environment, const std::string& version) const override {
    (void)environment;
    // The shared allow-list again (prepare_deploy checked it first): the version becomes a
    // workflow input, a pipeline variable or a build parameter.
    if (auto allowed = validate_version(version); !allowed)
      return allowed;
    return provider_->validate();
  }

  std::vector<std::string> available_versions() const override { return {}; }

  std::optional<std::string> current_version(const std::string& environment) const override {
    auto found = current_.find(environment);
    if (found == current_.end())
      return std::nullopt;
    return found->second;
  }

  std::string describe(const std::string& environment) const override {
    auto current = current_version(environment);
    std::string text = current ? *current + " deployed by " + provider_->kind()
                               : "deployed by " + provider_->kind() + " pipelines";
    auto run = last_run_.find(environment);
    if (run != last_run_.end())
      text += " (last run: " + run->second + ")";
    return text;
  }

  boost::asio::awaitable<ApplyOutcome> apply(std::string environment, std::string version,
                                             ProgressFn progress) override {
    std::string action = "deploy";  // named: no temporaries in a co_await (GCC 12)
    co_return co_await run(std::move(environment), std::move(version), std::move(action),
                           std::move(progress));
  }

  boost::asio::awaitable<ApplyOutcome> roll_back(std::string environment, std::string version,
                                                 ProgressFn progress) override {
    std::string action = "rollback";  // named: no temporaries in a co_await (GCC 12)
    co_return co_await run(std::move(environment), std::move(version), std::move(action),
                           std::move(progress));
  }

  boost::asio::awaitable<std::vector<ApplyOutcome>> restore() override {
    co_return std::vector<ApplyOutcome>{};
  }

  boost::asio::awaitable<void> shutdown() override { co_return; }

  // The pipeline's provider accepts the credentials for what it would run.
  boost::asio::awaitable<Result<std::optional<std::string>>> check_access() override {
    Result<std::string> read = co_await provider_->check_access();
    if (!read)
      co_return read.error();
    co_return std::optional<std::string>("read " + *read);
  }

 private:
  boost::asio::awaitable<ApplyOutcome> run(std::string environment, std::string version,
                                           std::string action, ProgressFn progress) {
    // Nothing reaches the provider unless the version passes the allow-list, whoever calls.
    if (auto allowed = validate_version(version); !allowed)
      co_return ApplyOutcome{false, allowed.error().message, {}};
    CiRunRequest request;
    request.service = config_.service;
    request.environment = environment;
    request.version = version;
    if (!config_.action_input.empty())
      request.inputs[config_.action_input] = action;
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    request.correlation_id =
        "shipmate-" + config_.service + "-" + environment + "-" +
        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
    auto handle = co_await provider_->trigger(std::move(request));
    if (!handle)
      co_return ApplyOutcome{false, handle.error().message, {}};
    last_run_[environment] = handle->url;
    progress(provider_->kind() + " run started: " + handle->url);
    std::function<void(const CiRunStatus&)> report = [progress](const CiRunStatus& status) {
      progress("pipeline " + std::string(to_string(status.state)) +
               (status.detail.empty() ? "" : ": " + status.detail));
    };
    CiRunHandle followed = *handle;
    FollowOptions follow = config_.follow;
    if (follow.timers == nullptr)
      follow.timers = config_.timers.get();
    auto outcome = co_await follow_ci_run(*provider_, std::move(followed), follow, report);
    if (!outcome) {
      co_return ApplyOutcome{false, outcome.error().message + " (run: " + handle->url + ")", {}};
    }
    if (outcome->state != CiRunState::succeeded) {
      co_return ApplyOutcome{
          false,
          "the " + action + " pipeline " + std::string(to_string(outcome->state)) +
              (outcome->detail.empty() ? "" : ": " + outcome->detail) + " (run: " + handle->url +
              "); what it changed before stopping is in its log",
          {}};
    }
    current_[environment] = version;
    co_return ApplyOutcome{true, "pipeline run succeeded: " + handle->url, {}};
  }

  std::unique_ptr<CiProvider> provider_;
  PipelineTargetConfig config_;
  std::map<std::string, std::string> current_;
  std::map<std::string, std::string> last_run_;
};

}  // namespace

std::unique_ptr<DeployTarget> make_pipeline_target(std::unique_ptr<CiProvider> provider,
                                                   PipelineTargetConfig config) {
  return std::make_unique<PipelineTarget>(std::move(provider), std::move(config));
}

}  // namespace shipmate::integrations
