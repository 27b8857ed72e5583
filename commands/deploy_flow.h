// Deploy and rollback orchestration.
//
// prepare_deploy() runs every check that can refuse a deploy (known service and environment,
// permission, release present, locks, one active deploy per service and environment) and
// returns either a plan or the reason it was refused; it writes nothing. execute_deploy()
// records the deploy, drives the target and records every state change before announcing it,
// so the database always knows at least as much as the chat does. Every state change is first
// put to the deploy state machine (deploy_state_machine.h); an answer it refuses is a bug, logged
// and recorded as a failed deploy rather than a crash.
#pragma once

#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "commands/context.h"
#include "storage/deploy_store.h"

namespace shipmate::commands {

struct DeployRequest {
  std::string service;
  std::string environment;  // empty: the service's first environment
  std::string version;      // empty: promote what runs in the previous environment
  storage::DeployKind kind = storage::DeployKind::deploy;
  std::string reason;
  bool force = false;  // deploy even when the version is already serving
  // Deploy past a policy that would refuse it (the promotion rule); needs the override
  // permission and a reason, and is audited and announced.
  bool override_policy = false;
};

struct DeployPlan {
  const ServiceSpec* service = nullptr;
  const EnvironmentSpec* environment = nullptr;
  std::string version;
  std::string previous_version;
  storage::DeployKind kind = storage::DeployKind::deploy;
  std::string reason;
  std::string overridden;  // the policy refusal that --override set aside, if any
};

Result<DeployPlan> prepare_deploy(Services& services, const Caller& caller,
                                  const DeployRequest& request);

// Plans a rollback of `service` in `environment` (empty: the only environment it runs in) to
// `to_version` (empty: the last good version before the current one).
Result<DeployPlan> prepare_rollback(Services& services, const Caller& caller,
                                    const std::string& service, const std::string& environment,
                                    const std::string& to_version, const std::string& reason);

// Runs a prepared plan to completion and reports in `conversation`. Returns the deploy's id.
boost::asio::awaitable<std::int64_t> execute_deploy(Services& services, const Caller& caller,
                                                    Conversation& conversation, DeployPlan plan);

// Carries a recorded deploy from `from` (requested, or queued once approved) through its
// rollout, reporting in `conversation` by updating message `ref`.
boost::asio::awaitable<void> run_deploy(Services& services, std::string requester,
                                        Conversation& conversation, MessageRef ref, std::int64_t id,
                                        DeployPlan plan, storage::DeployState from);

// approve / deny: decisions on a deploy that waits for approvals. Each reports in
// `conversation`; an approval that completes the count runs the deploy there.
boost::asio::awaitable<void> approve_deploy(Services& services, const Caller& caller,
                                            Conversation& conversation, std::int64_t id);
void deny_deploy(Services& services, const Caller& caller, Conversation& conversation,
                 std::int64_t id, const std::string& reason);
// continue / abort: an operator's answer to a deploy paused on inconclusive checks. Continuing
// needs the deploy permission in its environment, aborting (rolling back) the rollback one.
void decide_paused_deploy(Services& services, const Caller& caller, Conversation& conversation,
                          std::int64_t id, bool roll_back);
// Times out approval requests past their policy's expiry; returns how many.
int expire_approval_requests(Services& services);

// Lock scopes that block a deploy of service@environment, most specific first.
std::vector<std::string> blocking_scopes(const std::string& service,
                                         const std::string& environment);

// Marks deploys left non-terminal by an earlier process as failed and returns them (called at
// start-up, before any command runs).
std::vector<storage::DeployRecord> reconcile_interrupted_deploys(Services& services);

// Deploys an earlier process left building whose service still has a build configured: their CI
// run carries on without Shipmate, so they are resumed rather than failed.
std::vector<storage::DeployRecord> resumable_deploys(Services& services);
// Follows (or restarts) the build of `deploy` and carries it on to the end, reporting in a new
// status message in `conversation`.
boost::asio::awaitable<void> resume_deploy(Services& services, Conversation& conversation,
                                           storage::DeployRecord deploy);

// Records that in-flight deploys were interrupted by shutdown (called on SIGINT/SIGTERM).
std::vector<storage::DeployRecord> cancel_running_deploys(Services& services,
                                                          const std::string& why);

}  // namespace shipmate::commands
