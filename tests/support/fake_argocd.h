// FakeArgoCd: a stand-in for an Argo CD API server in tests, speaking its REST API (the
// grpc-gateway in front of application.ApplicationService) over real sockets, plain or TLS.
// See /work/shared/protocols.md §7.
//
// Contract
// - Built on FakeHttpServer: binds 127.0.0.1 on a free port, serves on a background thread, and
//   records every request (requests(), requests_to()).
// - Routes (name = metadata.name; `appNamespace` query or body field picks the namespace,
//   default the server's own, Options::server_namespace):
//     GET    /api/v1/applications/{name}[?appNamespace=&project=&refresh=]
//     PATCH  /api/v1/applications/{name}            ApplicationPatchRequest, patchType merge|json
//     PUT    /api/v1/applications/{name}            the whole Application (Update)
//     PUT    /api/v1/applications/{name}/spec       an ApplicationSpec (UpdateSpec)
//     POST   /api/v1/applications/{name}/sync       ApplicationSyncRequest
//     POST   /api/v1/applications/{name}/rollback   ApplicationRollbackRequest {id,...}
//     DELETE /api/v1/applications/{name}/operation  terminate the running operation
// - Errors have the grpc-gateway shape {"error","code","message"} with Argo CD's texts and the
//   gateway v1 status mapping (NotFound 404, PermissionDenied 403, Unauthenticated 401,
//   InvalidArgument 400, FailedPrecondition 412):
//     no/other token → 401 "no session information" / "invalid session: token is expired";
//     missing app → 404 `applications.argoproj.io "x" not found` when the request names a
//       project, else 403 "permission denied" (Argo CD hides which apps exist);
//     sync or rollback while an operation exists → 412 "another operation is already in progress";
//     rollback with automated sync on → 412 "rollback cannot be initiated when auto-sync is
//       enabled"; unknown history id → 400 "application x does not have deployment with id N";
//     sync to a revision other than spec.source.targetRevision with automated sync on → 412
//       "Cannot sync to R: auto-sync currently set to T".
// - A controller is simulated lazily on every request, driven by the steady clock: a requested
//   operation shows up in status.operationState as Running, finishes after
//   Options::operation_duration (Succeeded, or Failed for injected failures), clears the top-level
//   `operation`, and on success appends status.history (ids increase) and sets health Progressing
//   for Options::health_delay, then Healthy (or Degraded for injected versions). status.sync
//   compares spec.source with what was last deployed. Git revisions resolve to commit SHAs
//   (resolve_revision()); a 40-hex revision stays as it is.
// - Automated sync (spec.syncPolicy.automated, unless enabled:false) starts its own sync when the
//   app is OutOfSync, once per (revision, parameters), as Argo CD does.
// - Every public method is thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

#include "tests/support/fake_http_server.h"

namespace shipmate::testing {

class FakeArgoCd {
 public:
  struct Options {
    bool tls = false;
    std::string token = "argocd-fake-token-5f1d2c";
    std::string server_namespace = "argocd";
    std::chrono::milliseconds operation_duration{40};
    std::chrono::milliseconds health_delay{40};
    // The simulated controller's time (operations and health settle by it); empty: the steady
    // clock. A test that must see an operation still running sets its own and moves it.
    std::function<std::chrono::steady_clock::time_point()> clock;
  };

  struct AppSetup {
    std::string name;
    std::string app_namespace;  // empty: Options::server_namespace
    std::string project = "default";
    std::string repo_url = "https://git.example.com/platform/deploy.git";
    std::string path = "apps/service";
    std::string target_revision = "v1";
    std::vector<std::pair<std::string, std::string>> helm_parameters;
    bool automated = false;  // spec.syncPolicy.automated {prune: true, selfHeal: true}
    // Starts with one successful deployment of the spec in history, Synced and Healthy.
    bool deployed = true;
  };

  // One operation the simulated controller ran (or runs).
  struct OperationRecord {
    std::string kind;      // "sync", "rollback", "automated"
    std::string revision;  // resolved
    std::string target_revision;
    std::vector<std::pair<std::string, std::string>> helm_parameters;
    std::string initiated_by;
    std::string phase;  // last known
  };

  FakeArgoCd();
  explicit FakeArgoCd(Options options);
  ~FakeArgoCd();
  FakeArgoCd(const FakeArgoCd&) = delete;
  FakeArgoCd& operator=(const FakeArgoCd&) = delete;

  const Options& options() const;
  std::string base_url() const;
  std::string ca_path() const;
  FakeHttpServer& server();

  void add_application(AppSetup setup);

  // Injections. A `version` matches an operation whose requested revision, source
  // targetRevision or any Helm parameter value equals it.
  void fail_sync_of(const std::string& app, const std::string& version, std::string message);
  void degrade_on(const std::string& app, const std::string& version, std::string message);
  void suspend_on(const std::string& app, const std::string& version);
  // Someone else's sync that keeps running until finish_foreign_operation().
  void start_foreign_operation(const std::string& app, const std::string& username);
  void finish_foreign_operation(const std::string& app);
  // The next `count` requests (of `method`, or any when empty) answer `status` with a
  // grpc-gateway error body.
  void fail_next_requests(int count, int status = 500, std::string method = "");
  void set_automated(const std::string& app, bool on);

  // Observations (the simulated controller advances first).
  boost::json::value application(const std::string& app);
  std::string target_revision(const std::string& app);
  std::optional<std::string> helm_parameter(const std::string& app, const std::string& name);
  bool automated(const std::string& app);
  std::vector<long long> history_ids(const std::string& app);
  std::vector<OperationRecord> operations(const std::string& app);

  std::vector<FakeRequest> requests() const;
  std::vector<FakeRequest> requests_to(std::string_view method, std::string_view path_prefix) const;
  void clear_requests();

  // "v2" → a stable fake commit SHA (40 hex); a 40-hex revision is returned as it is.
  static std::string resolve_revision(const std::string& revision);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shipmate::testing
