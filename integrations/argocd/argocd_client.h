// The Argo CD REST calls the Argo CD target makes (/api/v1/applications/...): read an
// Application, patch its spec (version, automated sync), request a sync or a rollback, terminate
// an operation. Each call is one request through net::ApiClient (retries, timeouts, the proxy);
// nothing here decides what a deploy does next.
//
// Contract
// - Threading: used on the executor it was built with; one call at a time is not required.
// - Ownership: borrows the target's configuration, which must outlive it.
// - Errors name Argo CD, the step and the Application, with Argo CD's own message and a hint for
//   401 / 403 / 404 / 412. The token is sent only as `Authorization: Bearer` and scrubbed from
//   every error text (a server or proxy could echo it back).
// - Private to integrations/argocd (it exposes Boost.JSON types).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include "common/result.h"
#include "common/timer.h"
#include "integrations/argocd/argocd_application.h"
#include "integrations/argocd/argocd_target.h"
#include "integrations/net/api_client.h"
#include "integrations/net/http_client.h"

namespace shipmate::integrations::argocd {

// One Application, as a Shipmate environment maps to it.
struct AppRef {
  std::string environment;
  std::string name;
  std::string app_namespace;
};

class Client {
 public:
  // `config.server_url` must have no trailing '/'.
  // Retry back-offs wait on `timers` (null: real time).
  Client(boost::asio::any_io_executor executor, const ArgoCdTargetConfig& config,
         std::shared_ptr<Timers> timers = nullptr);

  // The Application's page in the Argo CD UI.
  std::string app_url(const AppRef& app) const;
  // `text` with the token replaced by [REDACTED].
  std::string scrub(std::string text) const;

  boost::asio::awaitable<Result<AppState>> read_app(const AppRef& app);
  // Sets (or, with nullopt, removes) spec.syncPolicy.automated.
  boost::asio::awaitable<Status> set_automated(const AppRef& app,
                                               std::optional<boost::json::value> automated);
  // Points the spec at `version` (nullopt: names none, i.e. removes the parameter or the
  // targetRevision). Merge patches replace arrays whole, so the Helm parameter list is rewritten
  // from `current` with every other parameter kept as it was.
  boost::asio::awaitable<Status> set_spec_version(const AppRef& app, const AppState& current,
                                                  std::optional<std::string> version);
  // POST .../sync; answers the Application as Argo CD returned it.
  boost::asio::awaitable<Result<AppState>> request_sync(const AppRef& app,
                                                        const std::string& version);
  boost::asio::awaitable<Status> request_rollback(const AppRef& app, std::int64_t history_id);
  boost::asio::awaitable<Status> terminate_operation(const AppRef& app);

 private:
  std::string explain_failure(const AppRef& app, const std::string& step, int status,
                              const std::string& body) const;
  std::string query_for(const AppRef& app, bool with_project) const;
  // Fields every write request body carries besides its own.
  void add_scope(boost::json::object& body, const AppRef& app) const;
  static net::ApiCall make_call(std::string step, std::string method, std::string path,
                                std::string body, bool idempotent);
  boost::asio::awaitable<Result<std::string>> send(const AppRef& app, net::ApiCall call);
  boost::asio::awaitable<Status> patch_app(const AppRef& app, std::string step,
                                           boost::json::object patch);

  const ArgoCdTargetConfig& config_;
  net::HttpClient http_;
  net::ApiClient api_;
};

}  // namespace shipmate::integrations::argocd
