// Deploy policy: whether a deploy or rollback may happen, decided before anything is recorded.
//
// prepare_deploy() and prepare_rollback() run every check that can refuse (known service and
// environment, permission, a version that passes the shared allow-list (common/chat_input.h) and
// the target's own validation, free-text lengths, the promotion rule and freeze windows (which
// --override may set aside), "already serving", locks on service / environment /
// service@environment, and one active deploy per service and environment). They return a plan or
// the reason for refusing, written for the person who asked.
//
// Contract: event-loop thread only; they write nothing (no deploy row, no audit record: the
// handler audits the refusal) and never throw for an expected refusal. A version that fails the
// allow-list is refused here for every target kind, before any target sees it.
#pragma once

#include <string>
#include <vector>

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

// Lock scopes that block a deploy of service@environment, most specific first.
std::vector<std::string> blocking_scopes(const std::string& service,
                                         const std::string& environment);

}  // namespace shipmate::commands
