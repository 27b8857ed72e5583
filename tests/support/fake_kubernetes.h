// FakeKubernetes: a stand-in for a Kubernetes API server in tests, serving apps/v1 Deployments and
// ReplicaSets over real sockets (plain or TLS, optionally mutual TLS), faithful enough that the
// real kubectl (1.20 and 1.32) can `get` and `rollout status` against it. See
// /work/shared/protocols.md §5.
//
// Contract
// - Built on FakeHttpServer: 127.0.0.1 on a free port, a background thread, every request recorded
//   (http().requests(), requests_to()).
// - Routes:
//     GET  /version, /api, /api/v1, /apis, /apis/apps[/v1], /apis/rbac.authorization.k8s.io[/v1]
//          (legacy JSON discovery; the
//          aggregated-discovery Accept types get plain JSON, which clients take as "not supported")
//     GET  /apis/apps/v1/[namespaces/{ns}/]deployments|replicasets      LIST with labelSelector,
//          fieldSelector (metadata.name, metadata.namespace), or WATCH (watch=true|1) from
//          resourceVersion with timeoutSeconds, allowWatchBookmarks and sendInitialEvents
//     GET  /apis/apps/v1/namespaces/{ns}/deployments|replicasets/{name}
//     PATCH .../deployments/{name}   strategic merge (containers/env/volumes/... keyed by name),
//          JSON merge patch, JSON patch; other types get 415
//     PUT  .../deployments/{name}    a whole Deployment
//     GET  /api/v1/namespaces/{ns}/serviceaccounts|configmaps|secrets|persistentvolumeclaims|
//          services/{name} and /apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles|
//          rolebindings/{name}: 404 NotFound. These kinds are in discovery so that
//          `kubectl apply --dry-run=client` can map shipped manifests (deploy/kubernetes); the
//          fake stores none of them.
//   Every error body is a Kubernetes Status object with the real reasons and messages.
// - Auth: `Authorization: Bearer <Options::token>`, or (with Options::client_ca_file) a client
//   certificate the TLS handshake verified. Anything else is 401 Unauthorized.
// - Concurrency: one cluster-wide resourceVersion counter; a write whose body carries a stale
//   metadata.resourceVersion gets 409 Conflict. metadata.generation increments on spec changes.
// - A controller thread steps every Options::tick like the deployment controller: it notices a new
//   pod template (observedGeneration), creates or reuses the ReplicaSet for it (revision
//   annotation max+1, pod-template-hash label, owner reference), surges one new pod per tick, makes
//   pods available a tick later, scales old ReplicaSets down, and keeps the Progressing condition
//   (ReplicaSetUpdated → NewReplicaSetAvailable, or ProgressDeadlineExceeded when pods of a
//   broken image stay unready for Options::progress_deadline) and the Available condition.
// - Watches stream newline-delimited {"type","object"} events through FakeResponse::stream; the
//   event history is kept until compact() (then older resourceVersions get an ERROR event, 410).
// - Every public method is thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "tests/support/fake_http_server.h"

namespace shipmate::testing {

struct FakeContainer {
  std::string name;
  std::string image;
};

class FakeKubernetes {
 public:
  struct Options {
    bool tls = false;
    std::string token = "k8s-fake-token-7c41e9a2";
    // With tls: require client certificates signed by this CA; a verified client is authenticated.
    std::string client_ca_file = {};
    std::chrono::milliseconds tick{30};
    // How long a rollout may go without progress before ProgressDeadlineExceeded (stands in for
    // spec.progressDeadlineSeconds, which is far too long for tests).
    std::chrono::milliseconds progress_deadline{600};
    std::string server_version = "v1.32.0";
  };

  enum class WatchExpiry {
    http_gone,    // the watch request itself answers 410 Gone
    error_event,  // 200, then {"type":"ERROR","object":{Status code 410 Expired}} and the end
  };

  FakeKubernetes();
  explicit FakeKubernetes(Options options);
  ~FakeKubernetes();
  FakeKubernetes(const FakeKubernetes&) = delete;
  FakeKubernetes& operator=(const FakeKubernetes&) = delete;

  FakeHttpServer& http();
  std::string base_url() const;
  std::string ca_path() const;
  const Options& options() const;
  // A kubeconfig for this server: its URL and CA, and the user "shipmate" with `user_block`
  // (YAML under `user:`, indented four spaces) or, when empty, the bearer token. A non-empty
  // `context_namespace` is written into the context.
  std::string kubeconfig(const std::string& user_block = "",
                         const std::string& context_namespace = "") const;

  // A Deployment with `replicas` pods of `containers`, already rolled out (revision 1, its
  // ReplicaSet fully available). Labels: app=<name>.
  void add_deployment(const std::string& ns, const std::string& name,
                      const std::vector<FakeContainer>& containers, int replicas = 3);
  void delete_deployment(const std::string& ns, const std::string& name);
  // What `kubectl set image` does, straight into the store (the controller then rolls it out).
  void set_image(const std::string& ns, const std::string& name, const std::string& container,
                 const std::string& image);

  // Copies of the stored objects (empty when absent).
  boost::json::object deployment(const std::string& ns, const std::string& name) const;
  std::vector<boost::json::object> replica_sets(const std::string& ns) const;
  std::string image_of(const std::string& ns, const std::string& name,
                       const std::string& container) const;
  // Rolled out as `kubectl rollout status` sees it: observed, updated, available, nothing old.
  bool rollout_complete(const std::string& ns, const std::string& name) const;
  // Polls `condition` until true or `timeout`; true when it became true.
  static bool wait_until(const std::function<bool()>& condition,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Faults.
  void set_broken_image(const std::string& image);  // its pods never become ready
  void conflict_next_writes(int count);             // PATCH/PUT answer 409 Conflict
  void reject_credentials(bool rejected);           // 401 for everything (an expired token)
  // The next `count` requests whose path starts with `path_prefix` answer `status`.
  void fail_next_requests(int count, int status = 500, const std::string& path_prefix = "");
  void expire_next_watches(int count, WatchExpiry how);
  void refuse_watches(bool refused);   // watch requests answer 405 MethodNotAllowed
  void compact();                      // forget the event history (older RVs expire)
  void pause_controller(bool paused);  // the controller stops stepping

  // Observations.
  int watch_requests() const;
  int list_requests(const std::string& resource) const;  // "deployments", "replicasets"

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A client CA and a client certificate it signed (EC P-256, CN=shipmate, O=system:masters), made
// under `dir` for mutual-TLS tests.
struct ClientCertificates {
  std::string ca_path;
  std::string cert_path;
  std::string key_path;
  std::string cert_pem, key_pem, ca_pem;
};
ClientCertificates make_client_certificates(const std::string& dir);

}  // namespace shipmate::testing
