// The Argo CD deploy target: a service runs as one Argo CD Application per environment, and a
// deploy asks Argo CD (REST API, /api/v1/applications/...) to sync that Application to the version.
//
// A deploy (apply):
//  1. Reads the Application. If an operation is already running or requested (someone's sync, an
//     automated sync), it refuses and changes nothing.
//  2. Automated sync (spec.syncPolicy.automated, unless `enabled: false`): policy `refuse` refuses
//     with a message; policy `suspend` removes it for the duration of the deploy and puts the very
//     same object back once the deploy is over, whether it succeeded or was rolled back. That is
//     safe because of step 3: the spec always names what is serving when automation returns.
//  3. Points the spec at the version, so that Argo CD's own view agrees with what runs:
//     `revision` mode sets spec.source.targetRevision (like `argocd app set --revision`);
//     `helm_parameter` mode sets one spec.source.helm.parameters entry (e.g. image.tag).
//     A sync to a revision the spec does not name would leave the app OutOfSync, and a later
//     automated sync would quietly undo the deploy.
//  4. POSTs .../sync and follows the Application until the operation Succeeded, sync is Synced at
//     the operation's revision, and health is Healthy. Progressing (and Suspended, which waits for
//     an outside resume such as a paused rollout) keep it waiting until `sync_timeout`;
//     Degraded or Missing health, or an operation that Failed / Errored, fail it. That decision
//     is argocd::judge() (argocd_judge.h), a pure function of one reading of the Application.
//  5. On failure it leaves the previous version serving: it terminates a still-running operation,
//     puts the spec back, and POSTs .../rollback to the history id that was serving before the
//     deploy, then follows that too. The outcome says what happened to each step.
//
// roll_back(env, version) finds the newest status.history entry for `version` (by git revision,
// targetRevision, or Helm parameter value), or the entry before the current one when there is none,
// points the spec at it, and POSTs .../rollback with that history id, then follows it to Healthy
// (saying so when Argo CD still shows OutOfSync because the spec differs in other ways). Argo CD
// refuses a rollback while automated sync is on, so the same auto-sync policy applies.
//
// Contract
// - Threading and outcomes as in deploy_target.h. current_version()/describe() answer from a
//   cache that apply(), roll_back() and restore() update; restore() only reads Argo CD.
// - Errors name Argo CD, the step and the Application, with Argo CD's own message. The token is
//   sent only as `Authorization: Bearer` and never appears in an error or a progress line.
// - Multi-source Applications (spec.sources) are refused with a message.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "common/result.h"
#include "integrations/deploy_target.h"
#include "integrations/net/api_client.h"

namespace shipmate {
class Timers;
}

namespace shipmate::integrations {

enum class ArgoCdVersionMode {
  revision,        // the version is a git revision: tag, branch or commit SHA
  helm_parameter,  // the version is the value of one Helm parameter (e.g. image.tag)
};

enum class ArgoCdAutoSyncPolicy {
  refuse,   // an app with automated sync on is not deployed by Shipmate
  suspend,  // automated sync is removed during the deploy and restored afterwards
};

struct ArgoCdEnvironment {
  std::string application;    // empty: "<service>-<environment>"
  std::string app_namespace;  // empty: the Argo CD server's own namespace
};

struct ArgoCdTargetConfig {
  std::string service;
  std::string server_url;  // "https://argocd.example.com"
  std::string token;       // the secret value itself (an Argo CD API token)
  std::string project;     // optional; with it a missing app is "not found", not "denied"
  std::map<std::string, ArgoCdEnvironment> environments;  // by Shipmate environment name
  ArgoCdVersionMode version_mode = ArgoCdVersionMode::revision;
  std::string helm_parameter;  // helm_parameter mode: the parameter name, e.g. "image.tag"
  ArgoCdAutoSyncPolicy auto_sync = ArgoCdAutoSyncPolicy::refuse;
  bool prune = false;  // passed to sync and rollback
  // From the sync request to Synced + Healthy (and again for a rollback).
  std::chrono::milliseconds sync_timeout{std::chrono::minutes(10)};
  std::chrono::milliseconds poll_interval{std::chrono::seconds(2)};
  std::chrono::milliseconds request_timeout{std::chrono::seconds(15)};
  net::RetryPolicy retry = {};
  std::string ca_file;               // extra trusted CA certificates (PEM)
  std::optional<std::string> proxy;  // nullopt: from HTTPS_PROXY / HTTP_PROXY
};

// Problems with the configuration itself (URL, token, names, helm_parameter, intervals), one
// line each, for `check-config`.
Status validate_argocd_config(const ArgoCdTargetConfig& config);

class ArgoCdTarget final : public DeployTarget {
 public:
  // `timers` paces the polling of a sync or rollback (the setup passes one SteadyTimers for
  // every target; tests pass ManualTimers); nullptr: real time, a SteadyTimers of its own.
  ArgoCdTarget(boost::asio::any_io_executor executor, ArgoCdTargetConfig config,
               std::shared_ptr<Timers> timers = nullptr);
  ~ArgoCdTarget() override;
  ArgoCdTarget(const ArgoCdTarget&) = delete;
  ArgoCdTarget& operator=(const ArgoCdTarget&) = delete;

  std::string kind() const override { return "argocd"; }
  Status validate(const std::string& environment, const std::string& version) const override;
  std::vector<std::string> available_versions() const override { return {}; }
  std::optional<std::string> current_version(const std::string& environment) const override;
  std::string describe(const std::string& environment) const override;

  boost::asio::awaitable<ApplyOutcome> apply(std::string environment, std::string version,
                                             ProgressFn progress) override;
  boost::asio::awaitable<ApplyOutcome> roll_back(std::string environment, std::string version,
                                                 ProgressFn progress) override;
  boost::asio::awaitable<std::vector<ApplyOutcome>> restore() override;
  // Nothing runs inside Shipmate; a follow loop in progress stops waiting (Argo CD carries on).
  // Reads the Application of every configured environment.
  boost::asio::awaitable<Result<std::optional<std::string>>> check_access() override;
  boost::asio::awaitable<void> shutdown() override;

  // The Application name used for `environment` ("" when it is not configured).
  std::string application_for(const std::string& environment) const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace shipmate::integrations
