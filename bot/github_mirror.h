// Mirrors Shipmate's deploys into GitHub Deployments, so a repository's environments page shows
// every deploy made from chat with its state.
//
// Contract
// - deploy_changed() is called on the event-loop thread and returns at once; the GitHub calls run
//   in a coroutine on the same executor, one at a time per deploy and in the order of the
//   changes, so GitHub sees requested -> in_progress -> success in that order.
// - A GitHub failure is logged and never affects the deploy itself. The deployment id lives in
//   memory: after a restart, the next change of a deploy creates a fresh deployment.
// - Only services with an entry in the map are mirrored.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "commands/context.h"
#include "integrations/ci/github_actions.h"

namespace shipmate::bot {

class GithubDeploymentMirror final : public commands::DeployObserver {
 public:
  // `clients` by service name; the mirror owns them.
  GithubDeploymentMirror(
      boost::asio::any_io_executor executor,
      std::map<std::string, std::unique_ptr<integrations::GithubDeployments>> clients);
  ~GithubDeploymentMirror() override;

  void deploy_changed(const storage::DeployRecord& deploy) override;

  // How many status updates are queued or running (tests wait for zero).
  std::size_t pending() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// The GitHub deployment state for a Shipmate deploy state (nullopt: nothing to report).
std::optional<integrations::GithubDeploymentState> github_state_for(storage::DeployState state);

}  // namespace shipmate::bot
