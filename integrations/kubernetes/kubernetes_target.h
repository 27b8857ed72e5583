// The Kubernetes deploy target: a service runs as one apps/v1 Deployment per environment (one
// namespace each), and a version is an image tag or digest of one container in it.
//
// A deploy (apply):
//  1. GETs the Deployment and finds the container (by name, or the only one).
//  2. PATCHes it with a strategic merge patch that sets that container's image to
//     `<image_repository>:<version>` (or `@sha256:...`) and records the change in the
//     `kubernetes.io/change-cause` and `shipmate/version` annotations. The patch carries the
//     resourceVersion it was computed from, so a concurrent writer produces 409 Conflict, which is
//     retried (re-read, re-patch) up to `conflict_retries` times.
//  3. Follows the rollout exactly as `kubectl rollout status` decides: spec observed
//     (observedGeneration), ProgressDeadlineExceeded fails, then updated / old / available counts.
//     It lists with fieldSelector=metadata.name=<deployment> and watches from the list's
//     resourceVersion (bounded by timeoutSeconds=`watch_window`); a watch that ends, answers 410
//     Gone or an ERROR event (expired resourceVersion) leads to a fresh list and a new watch. When
//     watching is refused (other statuses, transport errors), it polls every `poll_interval`.
//  4. If the rollout fails (progress deadline exceeded, `rollout_timeout` passed), it puts the
//     previous pod template back (so the previous version keeps serving), follows that rollout
//     too, and reports both in the outcome.
//
// roll_back(env, version) does what `kubectl rollout undo` does: it lists the ReplicaSets the
// Deployment owns (label selector + controller owner reference), picks the newest one whose
// container runs `version` (or, with an empty version, the previous revision), and JSON-patches
// the Deployment's pod template to that ReplicaSet's (without its pod-template-hash label). When no
// ReplicaSet has that version any more, it sets the image to `version` instead. Then it follows
// the rollout.
//
// Contract
// - Threading and outcomes as in deploy_target.h. current_version()/describe() answer from a cache
//   that apply(), roll_back() and restore() keep; restore() only reads the cluster.
// - Errors name Kubernetes, the step, the namespace/deployment and the API server's own Status
//   message; a 401 says the credentials were rejected (expired token or certificate). Tokens never
//   appear in errors or progress lines.
// - A token from a file (in-cluster service accounts) is re-read at most once a minute, as
//   client-go does, so rotated tokens keep working.
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
#include "integrations/kubernetes/kube_config.h"
#include "integrations/net/api_client.h"

namespace shipmate {
class Timers;
}

namespace shipmate::integrations {

struct KubernetesCredentialsSource {
  std::string kubeconfig;   // path to a kubeconfig; ignored with in_cluster
  std::string context;      // empty: the kubeconfig's current-context
  bool in_cluster = false;  // the pod's service account (InClusterSource::from_environment())
};

struct KubernetesTargetConfig {
  std::string service;
  KubernetesCredentialsSource credentials;
  // One entry per environment the service runs in: environment → namespace. An empty namespace
  // means the credentials' default (the kubeconfig context's namespace, or the pod's).
  std::map<std::string, std::string> namespaces;
  std::string deployment;        // the Deployment's name (the same in every namespace)
  std::string container;         // required when the Deployment has several containers
  std::string image_repository;  // "registry.example.com:5000/team/api"
  std::chrono::milliseconds rollout_timeout{std::chrono::minutes(10)};
  std::chrono::milliseconds poll_interval{std::chrono::seconds(2)};
  // Each watch asks the API server to end it after this long (timeoutSeconds, at least 1 s); the
  // events it carried are then evaluated in order and a new list + watch starts.
  std::chrono::milliseconds watch_window{std::chrono::seconds(2)};
  std::chrono::milliseconds request_timeout{std::chrono::seconds(15)};
  int conflict_retries = 4;
  net::RetryPolicy retry = {};
};

// Problems with the configuration itself (names, image repository, intervals), one line each.
Status validate_kubernetes_config(const KubernetesTargetConfig& config);

// Loads the credentials `source` names.
Result<KubeCredentials> load_kubernetes_credentials(const KubernetesCredentialsSource& source);

class KubernetesTarget final : public DeployTarget {
 public:
  // Uses `credentials` as they are (tests build them directly; see also create()). `timers`
  // paces polling, conflict retries and watch restarts (the setup passes one SteadyTimers for
  // every target; tests may pass ManualTimers); nullptr: real time, a SteadyTimers of its own.
  KubernetesTarget(boost::asio::any_io_executor executor, KubernetesTargetConfig config,
                   KubeCredentials credentials, std::shared_ptr<Timers> timers = nullptr);
  ~KubernetesTarget() override;
  KubernetesTarget(const KubernetesTarget&) = delete;
  KubernetesTarget& operator=(const KubernetesTarget&) = delete;

  // Validates `config`, loads its credentials and builds the target.
  static Result<std::unique_ptr<KubernetesTarget>> create(boost::asio::any_io_executor executor,
                                                          KubernetesTargetConfig config,
                                                          std::shared_ptr<Timers> timers = nullptr);

  std::string kind() const override { return "kubernetes"; }
  Status validate(const std::string& environment, const std::string& version) const override;
  std::vector<std::string> available_versions() const override { return {}; }
  std::optional<std::string> current_version(const std::string& environment) const override;
  std::string describe(const std::string& environment) const override;

  boost::asio::awaitable<ApplyOutcome> apply(std::string environment, std::string version,
                                             ProgressFn progress) override;
  boost::asio::awaitable<ApplyOutcome> roll_back(std::string environment, std::string version,
                                                 ProgressFn progress) override;
  boost::asio::awaitable<std::vector<ApplyOutcome>> restore() override;
  // Nothing runs inside Shipmate; a rollout being followed stops being waited for.
  // Reads the Deployment in every configured namespace (`get` is all it needs).
  boost::asio::awaitable<Result<std::optional<std::string>>> check_access() override;
  boost::asio::awaitable<void> shutdown() override;

  // The namespace `environment` deploys to.
  std::string namespace_for(const std::string& environment) const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace shipmate::integrations
