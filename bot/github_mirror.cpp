#include "bot/github_mirror.h"

#include <deque>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

namespace shipmate::bot {

using integrations::GithubDeploymentState;
using storage::DeployState;

std::optional<GithubDeploymentState> github_state_for(DeployState state) {
  switch (state) {
    case DeployState::requested:
    case DeployState::awaiting_approval:
      return GithubDeploymentState::pending;
    case DeployState::queued:
      return GithubDeploymentState::queued;
    case DeployState::building:
    case DeployState::deploying:
    case DeployState::verifying:
      return GithubDeploymentState::in_progress;
    case DeployState::succeeded:
      return GithubDeploymentState::success;
    case DeployState::failed:
    case DeployState::rolled_back:
      return GithubDeploymentState::failure;
    case DeployState::cancelled:
    case DeployState::timed_out:
      return GithubDeploymentState::error;
  }
  return std::nullopt;
}

struct GithubDeploymentMirror::Impl : std::enable_shared_from_this<Impl> {
  boost::asio::any_io_executor executor;
  std::map<std::string, std::unique_ptr<integrations::GithubDeployments>> clients;

  struct PerDeploy {
    std::optional<std::int64_t> github_id;
    std::deque<storage::DeployRecord> queue;
    bool draining = false;
    bool given_up = false;  // creating the deployment failed: later changes are dropped
  };
  std::map<std::int64_t, PerDeploy> deploys;
  std::size_t pending = 0;
  bool stopped = false;

  boost::asio::awaitable<void> drain(std::int64_t id) {
    auto self = shared_from_this();  // the coroutine may outlive the mirror's owner
    for (;;) {
      if (stopped)
        co_return;
      auto& entry = deploys[id];
      if (entry.queue.empty()) {
        entry.draining = false;
        co_return;
      }
      storage::DeployRecord record = entry.queue.front();
      entry.queue.pop_front();
      co_await publish(id, record);
      --pending;
      if (storage::is_terminal(record.state) && deploys[id].queue.empty()) {
        deploys.erase(id);  // nothing follows a final state
        co_return;
      }
    }
  }

  boost::asio::awaitable<void> publish(std::int64_t id, const storage::DeployRecord& record) {
    auto client = clients.find(record.service);
    if (client == clients.end())
      co_return;
    auto& entry = deploys[id];
    if (entry.given_up)
      co_return;
    if (!entry.github_id) {
      integrations::GithubDeploymentRequest request;
      request.ref = record.version;
      request.environment = record.environment;
      request.description = std::string(storage::to_string(record.kind)) + " #" +
                            std::to_string(id) + " by " + record.requested_by + " via Shipmate";
      request.shipmate_deploy_id = std::to_string(id);
      auto created = co_await client->second->create(std::move(request));
      if (stopped)
        co_return;
      if (!created) {
        spdlog::warn("deploy #{}: GitHub deployment not recorded: {}", id, created.error().message);
        deploys[id].given_up = true;
        co_return;
      }
      deploys[id].github_id = *created;
    }
    const auto state = github_state_for(record.state);
    if (!state)
      co_return;
    integrations::GithubDeploymentStatus status;
    status.state = *state;
    status.log_url = record.ci_run_url;
    status.description =
        record.detail.empty() ? std::string(storage::to_string(record.state)) : record.detail;
    const std::int64_t github_id = *deploys[id].github_id;
    auto set = co_await client->second->set_status(github_id, std::move(status));
    if (!set) {
      spdlog::warn("deploy #{}: GitHub deployment status not recorded: {}", id,
                   set.error().message);
    }
  }
};

GithubDeploymentMirror::GithubDeploymentMirror(
    boost::asio::any_io_executor executor,
    std::map<std::string, std::unique_ptr<integrations::GithubDeployments>> clients)
    : impl_(std::make_shared<Impl>()) {
  impl_->executor = std::move(executor);
  impl_->clients = std::move(clients);
}

GithubDeploymentMirror::~GithubDeploymentMirror() {
  impl_->stopped = true;
}

void GithubDeploymentMirror::deploy_changed(const storage::DeployRecord& deploy) {
  if (impl_->clients.count(deploy.service) == 0)
    return;
  auto& entry = impl_->deploys[deploy.id];
  entry.queue.push_back(deploy);
  ++impl_->pending;
  if (entry.draining)
    return;
  entry.draining = true;
  boost::asio::co_spawn(impl_->executor, impl_->drain(deploy.id), boost::asio::detached);
}

std::size_t GithubDeploymentMirror::pending() const {
  return impl_->pending;
}

}  // namespace shipmate::bot
