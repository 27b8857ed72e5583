#include "integrations/argocd/argocd_client.h"

#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "common/strings.h"

namespace shipmate::integrations::argocd {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

net::HttpClientOptions make_http_options(const ArgoCdTargetConfig& config) {
  net::HttpClientOptions options;
  options.ca_file = config.ca_file;
  options.proxy = config.proxy;
  return options;
}

net::ApiClientOptions make_api_options(const ArgoCdTargetConfig& config,
                                       std::shared_ptr<Timers> timers) {
  net::ApiClientOptions options;
  options.timers = std::move(timers);
  options.service = "Argo CD";
  options.base_url = config.server_url;
  while (!options.base_url.empty() && options.base_url.back() == '/')
    options.base_url.pop_back();
  options.default_headers = {{"Authorization", "Bearer " + config.token},
                             {"Accept", "application/json"}};
  options.retry = config.retry;
  options.timeout = config.request_timeout;
  return options;
}

}  // namespace

Client::Client(asio::any_io_executor executor, const ArgoCdTargetConfig& config,
               std::shared_ptr<Timers> timers)
    : config_(config),
      http_(std::move(executor), make_http_options(config)),
      api_(http_, make_api_options(config, std::move(timers))) {}

std::string Client::app_url(const AppRef& app) const {
  return config_.server_url + "/applications/" +
         (app.app_namespace.empty() ? "" : app.app_namespace + "/") + app.name;
}

// Belt and braces: the token is never sent anywhere but the header, but a server or proxy
// could echo it back in an error body.
std::string Client::scrub(std::string text) const {
  if (config_.token.size() < 4)
    return text;
  for (std::size_t at = text.find(config_.token); at != std::string::npos;
       at = text.find(config_.token, at))
    text.replace(at, config_.token.size(), "[REDACTED]");
  return text;
}

std::string Client::explain_failure(const AppRef& app, const std::string& step, int status,
                                    const std::string& body) const {
  std::string text = "Argo CD: " + step + ": ";
  if (status == 412) {
    // grpc-gateway v1 maps FailedPrecondition to 412: Argo CD's "not now" answer.
    text += "refused (412)";
    std::string reason = argo_message(body);
    if (!reason.empty())
      text += ": " + reason;
  } else {
    text += net::describe_http_failure(status, body);
  }
  if (status == 401) {
    text +=
        "; the API token was rejected (expired or revoked?): issue a new one with "
        "`argocd account generate-token` and update the secret";
  } else if (status == 403) {
    text += "; Argo CD answers this both when app " + app.name +
            " does not exist and when the token's account lacks RBAC permission for it";
    if (config_.project.empty())
      text += " (set the project so a missing app shows as not found)";
  } else if (status == 404) {
    text += "; check the application name";
    text += app.app_namespace.empty() ? "" : " and its namespace " + app.app_namespace;
  }
  return scrub(std::move(text));
}

std::string Client::query_for(const AppRef& app, bool with_project) const {
  std::vector<std::string> parts;
  if (!app.app_namespace.empty())
    parts.push_back("appNamespace=" + net::form_encode(app.app_namespace));
  if (with_project && !config_.project.empty())
    parts.push_back("project=" + net::form_encode(config_.project));
  return parts.empty() ? "" : "?" + join(parts, "&");
}

// Fields every write request body carries besides its own.
void Client::add_scope(json::object& body, const AppRef& app) const {
  body["name"] = app.name;
  if (!app.app_namespace.empty())
    body["appNamespace"] = app.app_namespace;
  if (!config_.project.empty())
    body["project"] = config_.project;
}

net::ApiCall Client::make_call(std::string step, std::string method, std::string path,
                               std::string body, bool idempotent) {
  net::ApiCall call;
  call.step = std::move(step);
  call.method = std::move(method);
  call.path = std::move(path);
  if (!body.empty())
    call.headers.emplace_back("Content-Type", "application/json");
  call.body = std::move(body);
  call.idempotent = idempotent;
  // Statuses Argo CD uses to explain itself; they get a message with a hint, not a retry.
  call.pass_through = {400, 401, 403, 404, 409, 412};
  return call;
}

asio::awaitable<Result<std::string>> Client::send(const AppRef& app, net::ApiCall call) {
  const std::string step = call.step;
  Result<net::HttpResponse> response = co_await api_.call(std::move(call));
  if (!response)
    co_return make_error(scrub(response.error().message), response.error().kind);
  if (response->status >= 400)
    co_return make_error(explain_failure(app, step, response->status, response->body),
                         net::http_status_kind(response->status));
  co_return std::move(response->body);
}

asio::awaitable<Result<AppState>> Client::read_app(const AppRef& app) {
  net::ApiCall call =
      make_call("read application " + app.name, "GET",
                "/api/v1/applications/" + app.name + query_for(app, true), "", true);
  Result<std::string> body = co_await send(app, std::move(call));
  if (!body)
    co_return body.error();
  Result<AppState> parsed = parse_application(*body, config_.helm_parameter);
  if (!parsed)
    co_return make_error("Argo CD: read application " + app.name + ": " + parsed.error().message);
  co_return parsed;
}

asio::awaitable<Status> Client::patch_app(const AppRef& app, std::string step, json::object patch) {
  json::object body;
  add_scope(body, app);
  body["patch"] = json::serialize(patch);
  body["patchType"] = "merge";
  net::ApiCall call = make_call(std::move(step), "PATCH", "/api/v1/applications/" + app.name,
                                json::serialize(body), true);
  Result<std::string> answer = co_await send(app, std::move(call));
  if (!answer)
    co_return answer.error();
  co_return Ok{};
}

asio::awaitable<Status> Client::set_automated(const AppRef& app,
                                              std::optional<json::value> automated) {
  json::object policy;
  policy["automated"] = automated ? *automated : json::value(nullptr);
  json::object spec;
  spec["syncPolicy"] = std::move(policy);
  json::object patch;
  patch["spec"] = std::move(spec);
  std::string step =
      (automated ? "restore automated sync on " : "suspend automated sync on ") + app.name;
  co_return co_await patch_app(app, std::move(step), std::move(patch));
}

// What the spec names as the version (targetRevision, or the Helm parameter); nullopt when
// it names none.
// with every other parameter kept as it was.
asio::awaitable<Status> Client::set_spec_version(const AppRef& app, const AppState& current,
                                                 std::optional<std::string> version) {
  json::object source;
  std::string step;
  if (config_.version_mode == ArgoCdVersionMode::helm_parameter) {
    json::array parameters;
    bool replaced = false;
    for (const json::value& parameter : current.helm_parameters) {
      if (text_at(parameter, {"name"}) != config_.helm_parameter) {
        parameters.push_back(parameter);
        continue;
      }
      if (replaced || !version)
        continue;
      json::object updated = parameter.as_object();
      updated["value"] = *version;
      parameters.push_back(std::move(updated));
      replaced = true;
    }
    if (version && !replaced)
      parameters.push_back(json::object{{"name", config_.helm_parameter}, {"value", *version}});
    json::object helm;
    helm["parameters"] = std::move(parameters);
    source["helm"] = std::move(helm);
    step = "set Helm parameter " + config_.helm_parameter + " on " + app.name;
  } else {
    source["targetRevision"] = version ? json::value(*version) : json::value(nullptr);
    step = "set targetRevision on " + app.name;
  }
  json::object spec;
  spec["source"] = std::move(source);
  json::object patch;
  patch["spec"] = std::move(spec);
  co_return co_await patch_app(app, std::move(step), std::move(patch));
}

asio::awaitable<Result<AppState>> Client::request_sync(const AppRef& app,
                                                       const std::string& version) {
  json::object body;
  add_scope(body, app);
  if (config_.version_mode == ArgoCdVersionMode::revision)
    body["revision"] = version;
  body["prune"] = config_.prune;
  body["dryRun"] = false;
  net::ApiCall call =
      make_call("sync application " + app.name, "POST",
                "/api/v1/applications/" + app.name + "/sync", json::serialize(body), false);
  Result<std::string> answer = co_await send(app, std::move(call));
  if (!answer)
    co_return answer.error();
  co_return parse_application(*answer, config_.helm_parameter);
}

asio::awaitable<Status> Client::request_rollback(const AppRef& app, std::int64_t history_id) {
  json::object body;
  add_scope(body, app);
  body["id"] = history_id;
  body["prune"] = config_.prune;
  body["dryRun"] = false;
  net::ApiCall call = make_call(
      "roll back application " + app.name + " to history id " + std::to_string(history_id), "POST",
      "/api/v1/applications/" + app.name + "/rollback", json::serialize(body), false);
  Result<std::string> answer = co_await send(app, std::move(call));
  if (!answer)
    co_return answer.error();
  co_return Ok{};
}

asio::awaitable<Status> Client::terminate_operation(const AppRef& app) {
  net::ApiCall call = make_call(
      "terminate the operation on " + app.name, "DELETE",
      "/api/v1/applications/" + app.name + "/operation" + query_for(app, false), "", true);
  Result<std::string> answer = co_await send(app, std::move(call));
  if (!answer)
    co_return answer.error();
  co_return Ok{};
}

}  // namespace shipmate::integrations::argocd
