#include "integrations/argocd/argocd_target.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <utility>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "common/clock.h"
#include "common/strings.h"
#include "integrations/net/http_client.h"

namespace shipmate::integrations {

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr std::size_t kMaxVersionLength = 200;
constexpr std::size_t kMaxAppNameLength = 253;
constexpr std::size_t kMaxResourceNotes = 3;

// ---------------------------------------------------------------------------------------------
// Names and versions

bool is_alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

// Git refs and Helm values both fit this; anything else (spaces, quotes, "..") is a typo or an
// attempt to smuggle something into a patch.
bool valid_version(std::string_view version) {
  if (version.empty() || version.size() > kMaxVersionLength)
    return false;
  if (version.front() == '-' || version.front() == '/' || version.front() == '.' ||
      version.back() == '/' || version.back() == '.')
    return false;
  if (version.find("..") != std::string_view::npos || version.find("//") != std::string_view::npos)
    return false;
  return std::all_of(version.begin(), version.end(), [](char c) {
    return is_alnum(c) || c == '.' || c == '_' || c == '-' || c == '/' || c == '+';
  });
}

// Kubernetes object names (DNS-1123 subdomain): Argo CD Applications are Kubernetes objects.
bool valid_object_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxAppNameLength || !is_alnum(name.front()) ||
      !is_alnum(name.back()))
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (is_alnum(c) && !std::isupper(static_cast<unsigned char>(c))) || c == '-' || c == '.';
  });
}

std::string short_revision(const std::string& revision) {
  bool hex = revision.size() == 40 && std::all_of(revision.begin(), revision.end(), [](char c) {
               return std::isxdigit(static_cast<unsigned char>(c)) != 0;
             });
  return hex ? revision.substr(0, 7) : revision;
}

bool looks_like_commit(const std::string& text) {
  return text.size() >= 7 && text.size() <= 40 && std::all_of(text.begin(), text.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c)) != 0;
         });
}

// ---------------------------------------------------------------------------------------------
// JSON access

const json::value* find(const json::value& root, std::initializer_list<std::string_view> path) {
  const json::value* at = &root;
  for (std::string_view key : path) {
    const json::object* object = at->if_object();
    if (object == nullptr)
      return nullptr;
    at = object->if_contains(key);
    if (at == nullptr)
      return nullptr;
  }
  return at;
}

std::string text_at(const json::value& root, std::initializer_list<std::string_view> path) {
  const json::value* found = find(root, path);
  if (found != nullptr && found->is_string())
    return std::string(found->get_string());
  return {};
}

const json::array* array_at(const json::value& root, std::initializer_list<std::string_view> path) {
  const json::value* found = find(root, path);
  return found != nullptr ? found->if_array() : nullptr;
}

// History ids are int64; protobuf-JSON encoders write those as strings, Argo CD's as numbers.
std::optional<std::int64_t> int_value(const json::value* value) {
  if (value == nullptr)
    return std::nullopt;
  if (value->is_int64())
    return value->get_int64();
  if (value->is_uint64())
    return static_cast<std::int64_t>(value->get_uint64());
  if (value->is_string()) {
    std::string text(value->get_string());
    if (text.empty() || !std::all_of(text.begin(), text.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c)) != 0;
        }))
      return std::nullopt;
    return std::stoll(text);
  }
  return std::nullopt;
}

std::optional<std::string> helm_parameter_value(const json::value& source,
                                                const std::string& name) {
  const json::array* parameters = array_at(source, {"helm", "parameters"});
  if (parameters == nullptr || name.empty())
    return std::nullopt;
  for (const json::value& parameter : *parameters) {
    if (text_at(parameter, {"name"}) == name) {
      const json::value* value = find(parameter, {"value"});
      if (value != nullptr && value->is_string())
        return std::string(value->get_string());
      return std::string();
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// The Application as Shipmate needs it

struct HistoryEntry {
  std::int64_t id = 0;
  std::string revision;                   // resolved (a commit SHA for git sources)
  std::string target_revision;            // source.targetRevision as it was deployed
  std::optional<std::string> helm_value;  // our Helm parameter in that source
  std::string deployed_at;
};

struct ResourceNote {
  std::string kind;
  std::string name;
  std::string state;
  std::string message;
};

struct AppState {
  bool operation_requested = false;  // top-level `operation`: set by a sync request until done
  std::string phase;                 // status.operationState.phase
  std::string operation_message;
  std::string operation_started_at;
  std::string operation_initiator;
  std::string operation_revision;  // status.operationState.syncResult.revision
  std::string operation_target_revision;
  std::optional<std::string> operation_helm_value;
  std::vector<ResourceNote> failed_tasks;  // syncResult.resources that failed
  std::string sync_status;
  std::string sync_revision;
  std::string health_status;
  std::string health_message;
  std::vector<ResourceNote> unhealthy;   // status.resources whose health is not Healthy
  std::vector<HistoryEntry> history;     // oldest first, as Argo CD keeps it
  std::optional<json::value> automated;  // spec.syncPolicy.automated when it is in force
  bool multi_source = false;
  std::string target_revision;            // spec.source.targetRevision
  std::optional<std::string> helm_value;  // our Helm parameter in spec.source
  json::array helm_parameters;            // spec.source.helm.parameters as they are

  bool operation_in_progress() const {
    return operation_requested || phase == "Running" || phase == "Terminating";
  }
};

std::vector<ResourceNote> read_resource_notes(const json::array* resources, bool sync_result) {
  std::vector<ResourceNote> notes;
  if (resources == nullptr)
    return notes;
  for (const json::value& resource : *resources) {
    ResourceNote note;
    note.kind = text_at(resource, {"kind"});
    note.name = text_at(resource, {"name"});
    if (sync_result) {
      std::string status = text_at(resource, {"status"});
      std::string hook_phase = text_at(resource, {"hookPhase"});
      if (status != "SyncFailed" && hook_phase != "Failed" && hook_phase != "Error")
        continue;
      note.state = status == "SyncFailed" ? status : hook_phase;
      note.message = text_at(resource, {"message"});
    } else {
      note.state = text_at(resource, {"health", "status"});
      if (note.state.empty() || note.state == "Healthy")
        continue;
      note.message = text_at(resource, {"health", "message"});
    }
    notes.push_back(std::move(note));
  }
  return notes;
}

Result<AppState> parse_application(std::string_view body, const std::string& helm_parameter) {
  boost::system::error_code ec;
  json::value root = json::parse(body, ec);
  if (ec || !root.is_object())
    return make_error("the answer is not an Application object");
  AppState app;
  const json::value* operation = find(root, {"operation"});
  app.operation_requested = operation != nullptr && !operation->is_null();

  if (const json::value* state = find(root, {"status", "operationState"});
      state != nullptr && state->is_object()) {
    app.phase = text_at(*state, {"phase"});
    app.operation_message = text_at(*state, {"message"});
    app.operation_started_at = text_at(*state, {"startedAt"});
    app.operation_initiator = text_at(*state, {"operation", "initiatedBy", "username"});
    if (const json::value* automated = find(*state, {"operation", "initiatedBy", "automated"});
        automated != nullptr && automated->is_bool() && automated->get_bool())
      app.operation_initiator = "automated sync";
    app.operation_revision = text_at(*state, {"syncResult", "revision"});
    if (const json::value* source = find(*state, {"syncResult", "source"}); source != nullptr) {
      app.operation_target_revision = text_at(*source, {"targetRevision"});
      app.operation_helm_value = helm_parameter_value(*source, helm_parameter);
    }
    app.failed_tasks = read_resource_notes(array_at(*state, {"syncResult", "resources"}), true);
  }

  app.sync_status = text_at(root, {"status", "sync", "status"});
  app.sync_revision = text_at(root, {"status", "sync", "revision"});
  app.health_status = text_at(root, {"status", "health", "status"});
  app.health_message = text_at(root, {"status", "health", "message"});
  app.unhealthy = read_resource_notes(array_at(root, {"status", "resources"}), false);

  if (const json::array* history = array_at(root, {"status", "history"})) {
    for (const json::value& item : *history) {
      HistoryEntry entry;
      std::optional<std::int64_t> id = int_value(find(item, {"id"}));
      if (!id)
        continue;
      entry.id = *id;
      entry.revision = text_at(item, {"revision"});
      entry.deployed_at = text_at(item, {"deployedAt"});
      if (const json::value* source = find(item, {"source"}); source != nullptr) {
        entry.target_revision = text_at(*source, {"targetRevision"});
        entry.helm_value = helm_parameter_value(*source, helm_parameter);
      }
      app.history.push_back(std::move(entry));
    }
  }

  if (const json::value* automated = find(root, {"spec", "syncPolicy", "automated"});
      automated != nullptr && automated->is_object()) {
    // Argo CD counts automation as on unless `enabled` says false (IsAutomatedSyncEnabled).
    const json::value* enabled = automated->get_object().if_contains("enabled");
    if (enabled == nullptr || !enabled->is_bool() || enabled->get_bool())
      app.automated = *automated;
  }

  const json::value* source = find(root, {"spec", "source"});
  const json::array* sources = array_at(root, {"spec", "sources"});
  app.multi_source = (source == nullptr || source->is_null()) && sources != nullptr;
  if (source != nullptr && source->is_object()) {
    app.target_revision = text_at(*source, {"targetRevision"});
    app.helm_value = helm_parameter_value(*source, helm_parameter);
    if (const json::array* parameters = array_at(*source, {"helm", "parameters"}))
      app.helm_parameters = *parameters;
  }
  return app;
}

std::string describe_notes(const std::vector<ResourceNote>& notes) {
  std::string out;
  std::size_t shown = 0;
  for (const ResourceNote& note : notes) {
    if (shown == kMaxResourceNotes) {
      out += "; and " + std::to_string(notes.size() - shown) + " more";
      break;
    }
    if (!out.empty())
      out += "; ";
    out += note.kind + " " + note.name + ": " + note.state;
    if (!note.message.empty())
      out += ": " + note.message;
    ++shown;
  }
  return out;
}

std::string health_summary(const AppState& app) {
  std::string text = "health " + (app.health_status.empty() ? "Unknown" : app.health_status);
  std::string detail = app.health_message;
  if (detail.empty())
    detail = describe_notes(app.unhealthy);
  if (!detail.empty())
    text += ": " + detail;
  return text;
}

std::string operation_summary(const AppState& app) {
  std::string text = "operation " + app.phase;
  if (!app.operation_message.empty())
    text += ": " + app.operation_message;
  if (!app.failed_tasks.empty())
    text += " (" + describe_notes(app.failed_tasks) + ")";
  return text;
}

// ---------------------------------------------------------------------------------------------

struct AppRef {
  std::string environment;
  std::string name;
  std::string app_namespace;
};

// What a follow loop waits for after a sync or rollback request.
struct FollowGoal {
  std::string what;  // "sync to v2", "rollback to history 4"
  // The finished operation must have deployed this (any of them; empty: no check).
  std::string expect_revision;
  std::string expect_target_revision;
  std::optional<std::string> expect_helm_value;
  // status.sync.revision equals the operation's revision: Argo CD has compared (and assessed
  // health) after the operation, so the health seen is not left over from before it.
  bool require_compared = true;
  bool require_synced = true;  // and status.sync.status is Synced
};

struct FollowResult {
  bool ok = false;
  std::string failure;
  std::optional<AppState> last;
  bool operation_running = false;  // failed while our operation was still going
};

struct CachedState {
  std::optional<std::string> version;
  std::string sync_status;
  std::string health_status;
  std::string revision;
  std::string note;  // e.g. "rollback failed; state uncertain"
};

// The `message` (or `error`) of a grpc-gateway error body.
std::string argo_message(std::string_view body) {
  boost::system::error_code ec;
  json::value root = json::parse(body, ec);
  if (ec)
    return {};
  std::string message = text_at(root, {"message"});
  return message.empty() ? text_at(root, {"error"}) : message;
}

std::string format_timeout(milliseconds timeout) {
  return format_duration(timeout.count());
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Status validate_argocd_config(const ArgoCdTargetConfig& config) {
  std::vector<std::string> problems;
  auto url = net::parse_url(config.server_url);
  if (!url || (url->scheme != "https" && url->scheme != "http"))
    problems.push_back("server_url must be an http(s) URL like https://argocd.example.com");
  if (config.token.empty())
    problems.push_back("an Argo CD API token is required");
  if (config.environments.empty())
    problems.push_back("no environments are mapped to Argo CD applications");
  for (const auto& [environment, settings] : config.environments) {
    std::string name =
        settings.application.empty() ? config.service + "-" + environment : settings.application;
    if (!valid_object_name(name))
      problems.push_back("application name \"" + name + "\" for " + environment +
                         " is not a valid Kubernetes object name (lowercase letters, digits, '-', "
                         "'.')");
    if (!settings.app_namespace.empty() && !valid_object_name(settings.app_namespace))
      problems.push_back("app namespace \"" + settings.app_namespace + "\" for " + environment +
                         " is not a valid namespace name");
  }
  if (config.version_mode == ArgoCdVersionMode::kHelmParameter && config.helm_parameter.empty())
    problems.push_back("helm_parameter mode needs the parameter name (e.g. image.tag)");
  if (config.poll_interval <= milliseconds(0))
    problems.push_back("poll interval must be positive");
  if (config.sync_timeout <= config.poll_interval)
    problems.push_back("sync timeout must be longer than the poll interval");
  if (problems.empty())
    return Ok{};
  return make_error("Argo CD target for " + config.service + ": " + join(problems, "; "));
}

// ---------------------------------------------------------------------------------------------

struct ArgoCdTarget::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor executor_in, ArgoCdTargetConfig config_in)
      : executor(std::move(executor_in)),
        config(std::move(config_in)),
        http(executor, make_http_options(config)),
        api(http, make_api_options(config)) {
    while (!config.server_url.empty() && config.server_url.back() == '/')
      config.server_url.pop_back();
  }

  static net::HttpClientOptions make_http_options(const ArgoCdTargetConfig& config) {
    net::HttpClientOptions options;
    options.ca_file = config.ca_file;
    options.proxy = config.proxy;
    return options;
  }

  static net::ApiClientOptions make_api_options(const ArgoCdTargetConfig& config) {
    net::ApiClientOptions options;
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

  asio::any_io_executor executor;
  ArgoCdTargetConfig config;
  net::HttpClient http;
  net::ApiClient api;
  std::map<std::string, CachedState> cache;
  bool stopping = false;

  // -------------------------------------------------------------------------------------------
  // Plumbing

  std::optional<AppRef> app_for(const std::string& environment) const {
    auto found = config.environments.find(environment);
    if (found == config.environments.end())
      return std::nullopt;
    AppRef ref;
    ref.environment = environment;
    ref.name = found->second.application.empty() ? config.service + "-" + environment
                                                 : found->second.application;
    ref.app_namespace = found->second.app_namespace;
    return ref;
  }

  std::string configured_environments() const {
    std::vector<std::string> names;
    for (const auto& entry : config.environments)
      names.push_back(entry.first);
    return names.empty() ? "none" : join(names, ", ");
  }

  std::string app_url(const AppRef& app) const {
    return config.server_url + "/applications/" +
           (app.app_namespace.empty() ? "" : app.app_namespace + "/") + app.name;
  }

  // Belt and braces: the token is never sent anywhere but the header, but a server or proxy
  // could echo it back in an error body.
  std::string scrub(std::string text) const {
    if (config.token.size() < 4)
      return text;
    for (std::size_t at = text.find(config.token); at != std::string::npos;
         at = text.find(config.token, at))
      text.replace(at, config.token.size(), "[REDACTED]");
    return text;
  }

  std::string explain_failure(const AppRef& app, const std::string& step, int status,
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
      if (config.project.empty())
        text += " (set the project so a missing app shows as not found)";
    } else if (status == 404) {
      text += "; check the application name";
      text += app.app_namespace.empty() ? "" : " and its namespace " + app.app_namespace;
    }
    return scrub(std::move(text));
  }

  std::string query_for(const AppRef& app, bool with_project) const {
    std::vector<std::string> parts;
    if (!app.app_namespace.empty())
      parts.push_back("appNamespace=" + net::form_encode(app.app_namespace));
    if (with_project && !config.project.empty())
      parts.push_back("project=" + net::form_encode(config.project));
    return parts.empty() ? "" : "?" + join(parts, "&");
  }

  // Fields every write request body carries besides its own.
  void add_scope(json::object& body, const AppRef& app) const {
    body["name"] = app.name;
    if (!app.app_namespace.empty())
      body["appNamespace"] = app.app_namespace;
    if (!config.project.empty())
      body["project"] = config.project;
  }

  static net::ApiCall make_call(std::string step, std::string method, std::string path,
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

  asio::awaitable<Result<std::string>> send(const AppRef& app, net::ApiCall call) {
    const std::string step = call.step;
    Result<net::HttpResponse> response = co_await api.call(std::move(call));
    if (!response)
      co_return make_error(scrub(response.error().message));
    if (response->status >= 400)
      co_return make_error(explain_failure(app, step, response->status, response->body));
    co_return std::move(response->body);
  }

  asio::awaitable<Result<AppState>> read_app(const AppRef& app) {
    net::ApiCall call =
        make_call("read application " + app.name, "GET",
                  "/api/v1/applications/" + app.name + query_for(app, true), "", true);
    Result<std::string> body = co_await send(app, std::move(call));
    if (!body)
      co_return body.error();
    Result<AppState> parsed = parse_application(*body, config.helm_parameter);
    if (!parsed)
      co_return make_error("Argo CD: read application " + app.name + ": " + parsed.error().message);
    co_return parsed;
  }

  asio::awaitable<Status> patch_app(const AppRef& app, std::string step, json::object patch) {
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

  asio::awaitable<Status> set_automated(const AppRef& app, std::optional<json::value> automated) {
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
  std::optional<std::string> spec_version(const AppState& state) const {
    if (config.version_mode == ArgoCdVersionMode::kHelmParameter)
      return state.helm_value;
    if (state.target_revision.empty())
      return std::nullopt;
    return state.target_revision;
  }

  // Points the spec at `version` (nullopt: names none, i.e. removes the parameter or the
  // targetRevision). Merge patches replace arrays whole, so the Helm parameter list is rewritten
  // with every other parameter kept as it was.
  asio::awaitable<Status> set_spec_version(const AppRef& app, const AppState& current,
                                           std::optional<std::string> version) {
    json::object source;
    std::string step;
    if (config.version_mode == ArgoCdVersionMode::kHelmParameter) {
      json::array parameters;
      bool replaced = false;
      for (const json::value& parameter : current.helm_parameters) {
        if (text_at(parameter, {"name"}) != config.helm_parameter) {
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
        parameters.push_back(json::object{{"name", config.helm_parameter}, {"value", *version}});
      json::object helm;
      helm["parameters"] = std::move(parameters);
      source["helm"] = std::move(helm);
      step = "set Helm parameter " + config.helm_parameter + " on " + app.name;
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

  asio::awaitable<Result<AppState>> request_sync(const AppRef& app, const std::string& version) {
    json::object body;
    add_scope(body, app);
    if (config.version_mode == ArgoCdVersionMode::kRevision)
      body["revision"] = version;
    body["prune"] = config.prune;
    body["dryRun"] = false;
    net::ApiCall call =
        make_call("sync application " + app.name, "POST",
                  "/api/v1/applications/" + app.name + "/sync", json::serialize(body), false);
    Result<std::string> answer = co_await send(app, std::move(call));
    if (!answer)
      co_return answer.error();
    co_return parse_application(*answer, config.helm_parameter);
  }

  asio::awaitable<Status> request_rollback(const AppRef& app, std::int64_t history_id) {
    json::object body;
    add_scope(body, app);
    body["id"] = history_id;
    body["prune"] = config.prune;
    body["dryRun"] = false;
    net::ApiCall call = make_call(
        "roll back application " + app.name + " to history id " + std::to_string(history_id),
        "POST", "/api/v1/applications/" + app.name + "/rollback", json::serialize(body), false);
    Result<std::string> answer = co_await send(app, std::move(call));
    if (!answer)
      co_return answer.error();
    co_return Ok{};
  }

  asio::awaitable<Status> terminate_operation(const AppRef& app) {
    net::ApiCall call = make_call(
        "terminate the operation on " + app.name, "DELETE",
        "/api/v1/applications/" + app.name + "/operation" + query_for(app, false), "", true);
    Result<std::string> answer = co_await send(app, std::move(call));
    if (!answer)
      co_return answer.error();
    co_return Ok{};
  }

  asio::awaitable<void> sleep_for(milliseconds duration) {
    asio::steady_timer timer(executor);
    timer.expires_after(duration);
    boost::system::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }

  // -------------------------------------------------------------------------------------------
  // Following an operation

  // Polls the Application until the operation that our request started has finished and the app
  // is Synced + Healthy as `goal` expects, or until it clearly failed or the timeout passed.
  // Our request cleared status.operationState (Argo CD does that when it sets an operation), so
  // the first operationState that shows up afterwards belongs to it.
  asio::awaitable<FollowResult> follow(const AppRef& app, const FollowGoal& goal,
                                       const ProgressFn& progress) {
    FollowResult result;
    const auto deadline = SteadyClock::now() + config.sync_timeout;
    std::string last_line;
    auto say = [&](const std::string& line) {
      if (line != last_line && progress)
        progress(scrub("Argo CD " + app.name + ": " + line));
      last_line = line;
    };
    std::string waiting_for = "the " + goal.what + " to start";
    while (true) {
      if (stopping) {
        result.failure =
            "Shipmate is shutting down; Argo CD carries on with the " + goal.what + " on its own";
        result.operation_running = true;
        co_return result;
      }
      Result<AppState> read = co_await read_app(app);
      if (!read) {
        result.failure = "lost track of the " + goal.what + ": " + read.error().message;
        result.operation_running = true;
        co_return result;
      }
      AppState& state = *read;
      result.last = state;
      if (state.phase.empty() || state.operation_requested || state.phase == "Running" ||
          state.phase == "Terminating") {
        if (state.phase.empty()) {
          waiting_for = "the " + goal.what + " to start";
          say(goal.what + " requested; waiting for the controller to start it");
        } else {
          waiting_for = "the " + goal.what + " to finish";
          say(goal.what + ": " + operation_summary(state));
        }
      } else if (state.phase == "Failed" || state.phase == "Error") {
        result.failure = goal.what + " " + operation_summary(state);
        co_return result;
      } else if (state.phase == "Succeeded") {
        std::string deployed = state.operation_revision;
        bool revision_ok = goal.expect_revision.empty() && goal.expect_target_revision.empty();
        if (!goal.expect_revision.empty() && deployed == goal.expect_revision)
          revision_ok = true;
        if (!goal.expect_target_revision.empty() &&
            state.operation_target_revision == goal.expect_target_revision)
          revision_ok = true;
        if (goal.expect_helm_value && state.operation_helm_value != goal.expect_helm_value) {
          result.failure = goal.what + " finished, but it deployed " + config.helm_parameter + "=" +
                           state.operation_helm_value.value_or("(unset)") + ", not " +
                           *goal.expect_helm_value;
          co_return result;
        }
        if (!revision_ok) {
          result.failure = goal.what + " finished, but it deployed revision " +
                           short_revision(deployed) +
                           (state.operation_target_revision.empty()
                                ? std::string()
                                : " (" + state.operation_target_revision + ")");
          co_return result;
        }
        bool compared_here = deployed.empty() || state.sync_revision == deployed;
        bool synced_here = state.sync_status == "Synced" && compared_here;
        if ((goal.require_synced && !synced_here) || (goal.require_compared && !compared_here)) {
          waiting_for = "status Synced at " + short_revision(deployed);
          say(goal.what + " succeeded; waiting for status Synced at " + short_revision(deployed) +
              " (now " + (state.sync_status.empty() ? "Unknown" : state.sync_status) + ")");
        } else if (state.health_status == "Healthy") {
          result.ok = true;
          co_return result;
        } else if (state.health_status == "Degraded" || state.health_status == "Missing") {
          result.failure = goal.what + " went " + health_summary(state);
          co_return result;
        } else if (state.health_status == "Suspended") {
          // Suspended waits for an outside resume (a paused rollout, a suspended job): not a
          // failure, not done either.
          waiting_for = "health Healthy (the app is Suspended, waiting for an outside resume)";
          say("synced at " + short_revision(deployed) + ", " + health_summary(state) +
              " (waiting for it to be resumed)");
        } else {
          waiting_for = "health Healthy";
          say("synced at " + short_revision(deployed) + ", " + health_summary(state));
        }
      } else {
        say(goal.what + ": operation " + state.phase);
      }

      auto now = SteadyClock::now();
      if (now >= deadline) {
        result.failure =
            goal.what + " timed out after " + format_timeout(config.sync_timeout) +
            " waiting for " + waiting_for + " (last: " +
            (state.phase.empty() ? std::string("no operation state") : operation_summary(state)) +
            ", " + health_summary(state) + ")";
        result.operation_running = state.operation_in_progress();
        co_return result;
      }
      auto left = std::chrono::duration_cast<milliseconds>(deadline - now);
      co_await sleep_for(std::min(config.poll_interval, left));
    }
  }

  // After a terminate request: waits (bounded) until no operation runs, so a rollback can start.
  asio::awaitable<Status> wait_until_idle(const AppRef& app) {
    const auto deadline = SteadyClock::now() + config.sync_timeout;
    while (true) {
      Result<AppState> state = co_await read_app(app);
      if (!state)
        co_return state.error();
      if (!state->operation_in_progress())
        co_return Ok{};
      if (SteadyClock::now() >= deadline)
        co_return make_error("the operation on " + app.name + " is still " + state->phase +
                             " after " + format_timeout(config.sync_timeout));
      co_await sleep_for(config.poll_interval);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Version labels

  // How Shipmate names what a history entry deployed.
  std::optional<std::string> entry_version(const HistoryEntry& entry) const {
    if (config.version_mode == ArgoCdVersionMode::kHelmParameter)
      return entry.helm_value;
    if (!entry.target_revision.empty())
      return entry.target_revision;
    if (!entry.revision.empty())
      return entry.revision;
    return std::nullopt;
  }

  // What serves now: the spec when the app is Synced to it, else the last deployment Argo CD
  // recorded.
  std::optional<std::string> live_version(const AppState& state) const {
    if (state.sync_status == "Synced") {
      if (config.version_mode == ArgoCdVersionMode::kHelmParameter) {
        if (state.helm_value)
          return state.helm_value;
      } else if (!state.target_revision.empty()) {
        return state.target_revision;
      } else if (!state.sync_revision.empty()) {
        return state.sync_revision;
      }
    }
    if (!state.history.empty())
      return entry_version(state.history.back());
    return std::nullopt;
  }

  bool entry_matches(const HistoryEntry& entry, const std::string& version) const {
    if (config.version_mode == ArgoCdVersionMode::kHelmParameter)
      return entry.helm_value == version;
    if (entry.target_revision == version || entry.revision == version)
      return true;
    return looks_like_commit(version) && entry.revision.rfind(version, 0) == 0;
  }

  void remember(const AppRef& app, const AppState& state, std::optional<std::string> version,
                std::string note = {}) {
    CachedState& cached = cache[app.environment];
    cached.version = std::move(version);
    cached.sync_status = state.sync_status;
    cached.health_status = state.health_status;
    cached.revision = state.sync_revision;
    cached.note = std::move(note);
  }

  std::string in_app(const AppRef& app) const { return " (Argo CD app " + app.name + ")"; }

  std::string busy_refusal(const AppRef& app, const AppState& state) const {
    std::string text = "Argo CD app " + app.name + " is already syncing";
    std::vector<std::string> details;
    if (!state.phase.empty())
      details.push_back("operation " + state.phase);
    else if (state.operation_requested)
      details.push_back("an operation is requested");
    if (!state.operation_initiator.empty())
      details.push_back("by " + state.operation_initiator);
    if (!state.operation_started_at.empty())
      details.push_back("since " + state.operation_started_at);
    if (!details.empty())
      text += " (" + join(details, ", ") + ")";
    if (!state.operation_message.empty())
      text += ": " + state.operation_message;
    text +=
        "; Shipmate changed nothing. Wait for it to finish (or terminate it in Argo CD), then "
        "try again.";
    return text;
  }

  std::string automated_refusal(const AppRef& app, bool for_rollback) const {
    std::string text =
        "Argo CD app " + app.name + " has automated sync on; Shipmate will not fight it: ";
    text += for_rollback ? "Argo CD refuses rollbacks while automated sync is on, and automation "
                           "would sync the app straight back to its source. "
                         : "automation owns what this app runs. ";
    text +=
        "Change the version in the app's source instead, or set auto_sync: suspend for this "
        "service so Shipmate turns automated sync off while it deploys and back on after.";
    return text;
  }

  // Suspends automated sync when the policy allows; fills `saved` with what to put back.
  asio::awaitable<Result<std::optional<json::value>>> handle_automation(
      const AppRef& app, const AppState& state, bool for_rollback, const ProgressFn& progress) {
    if (!state.automated)
      co_return std::optional<json::value>();
    if (config.auto_sync == ArgoCdAutoSyncPolicy::kRefuse)
      co_return make_error(automated_refusal(app, for_rollback));
    std::optional<json::value> none;
    Status suspended = co_await set_automated(app, std::move(none));
    if (!suspended)
      co_return suspended.error();
    if (progress)
      progress("Argo CD " + app.name +
               ": automated sync suspended for this deploy; Shipmate restores it afterwards");
    co_return std::optional<json::value>(*state.automated);
  }

  // Puts automated sync back; returns a sentence for the outcome ("" when all went well).
  asio::awaitable<std::string> restore_automation(const AppRef& app,
                                                  const std::optional<json::value>& saved,
                                                  bool spec_agrees, const ProgressFn& progress) {
    if (!saved)
      co_return std::string();
    if (!spec_agrees)
      co_return "automated sync stays suspended on " + app.name +
          " because its spec could not be pointed back at the serving version; turn it "
          "back on once the spec is right";
    Status restored = co_await set_automated(app, saved);
    if (!restored)
      co_return "automated sync could not be restored on " + app.name + ": " +
          restored.error().message;
    if (progress)
      progress("Argo CD " + app.name + ": automated sync restored");
    co_return std::string();
  }

  // -------------------------------------------------------------------------------------------
  // apply

  asio::awaitable<ApplyOutcome> apply(std::string environment, std::string version,
                                      ProgressFn progress) {
    auto self = shared_from_this();
    ApplyOutcome outcome;
    std::optional<AppRef> found = app_for(environment);
    if (!found) {
      outcome.message = "no Argo CD application is configured for " + config.service + " in " +
                        environment + " (configured: " + configured_environments() + ")";
      co_return outcome;
    }
    const AppRef app = *found;
    const std::string label = config.service + " " + version + " in " + environment;
    if (!valid_version(version)) {
      outcome.message = "\"" + version + "\" is not a version Shipmate can deploy via Argo CD";
      co_return outcome;
    }
    auto say = [&](const std::string& line) {
      if (progress)
        progress(scrub(line));
    };

    Result<AppState> before = co_await read_app(app);
    if (!before) {
      outcome.message = "deploy of " + label + " did not start: " + before.error().message;
      co_return outcome;
    }
    if (before->multi_source) {
      outcome.message = "Argo CD app " + app.name +
                        " has several sources (spec.sources); Shipmate deploys single-source apps "
                        "only. Nothing was changed.";
      co_return outcome;
    }
    if (before->operation_in_progress()) {
      outcome.message = busy_refusal(app, *before);
      co_return outcome;
    }
    Result<std::optional<json::value>> automation =
        co_await handle_automation(app, *before, false, progress);
    if (!automation) {
      outcome.message = automation.error().message;
      co_return outcome;
    }
    const std::optional<json::value> saved_automation = *automation;
    const std::optional<HistoryEntry> previous =
        before->history.empty() ? std::nullopt : std::optional(before->history.back());
    const std::optional<std::string> previous_spec = spec_version(*before);
    const std::optional<std::string> previous_version = live_version(*before);

    // Point the spec at the version.
    bool spec_changed = false;
    if (previous_spec != version) {
      const std::optional<std::string> wanted = version;
      Status pointed = co_await set_spec_version(app, *before, wanted);
      if (!pointed) {
        std::string note = co_await restore_automation(app, saved_automation, true, progress);
        outcome.message = "deploy of " + label + " did not start: " + pointed.error().message +
                          (note.empty() ? "" : "; " + note);
        co_return outcome;
      }
      spec_changed = true;
      say("Argo CD " + app.name + ": " +
          (config.version_mode == ArgoCdVersionMode::kHelmParameter
               ? "Helm parameter " + config.helm_parameter + "=" + version
               : "targetRevision " + version) +
          " set in the app spec");
    }

    Result<AppState> requested = co_await request_sync(app, version);
    if (!requested) {
      // Nothing was synced: the previous version still serves; only the spec needs putting back.
      std::vector<std::string> after;
      bool spec_back = !spec_changed;
      if (spec_changed) {
        Status reverted = co_await set_spec_version(app, *before, previous_spec);
        spec_back = static_cast<bool>(reverted);
        after.push_back(reverted
                            ? "the app spec was put back"
                            : "could not point the app spec back: " + reverted.error().message);
      }
      std::string note = co_await restore_automation(app, saved_automation, spec_back, progress);
      if (!note.empty())
        after.push_back(note);
      outcome.message = "deploy of " + label + " did not start: " + requested.error().message +
                        (after.empty() ? "" : "; " + join(after, "; "));
      co_return outcome;
    }
    FollowGoal goal;
    goal.what = "sync to " + version;
    if (config.version_mode == ArgoCdVersionMode::kHelmParameter) {
      goal.expect_helm_value = version;
    } else {
      goal.expect_target_revision = version;
      goal.expect_revision = version;
    }
    FollowResult followed = co_await follow(app, goal, progress);

    if (followed.ok) {
      std::string note = co_await restore_automation(app, saved_automation, true, progress);
      remember(app, *followed.last, version);
      outcome.ok = true;
      outcome.endpoint = app_url(app);
      outcome.message = label + " is Synced and Healthy" + in_app(app) + " at revision " +
                        short_revision(followed.last->operation_revision) +
                        (note.empty() ? "" : "; " + note);
      co_return outcome;
    }
    if (stopping) {
      outcome.message = "deploy of " + label + " interrupted: " + followed.failure;
      if (saved_automation)
        outcome.message +=
            "; automated sync on " + app.name + " stays suspended until someone turns it back on";
      co_return outcome;
    }
    ApplyOutcome failed = co_await recover(app, label, followed, spec_changed, previous_spec,
                                           previous, previous_version, saved_automation, progress);
    co_return failed;
  }

  // A deploy failed after its sync started: leave the previous version serving. Terminates a
  // still-running operation, points the spec back, rolls back to the history entry that served
  // before, and restores automated sync when the spec is right again.
  asio::awaitable<ApplyOutcome> recover(const AppRef& app, const std::string& label,
                                        const FollowResult& followed, bool spec_changed,
                                        const std::optional<std::string>& previous_spec,
                                        const std::optional<HistoryEntry>& previous,
                                        const std::optional<std::string>& previous_version,
                                        const std::optional<json::value>& saved_automation,
                                        const ProgressFn& progress) {
    auto say = [&](const std::string& line) {
      if (progress)
        progress(scrub("Argo CD " + app.name + ": " + line));
    };
    say(followed.failure);
    std::vector<std::string> after;
    if (followed.operation_running) {
      Status terminated = co_await terminate_operation(app);
      if (terminated) {
        say("terminated the running sync");
        Status idle = co_await wait_until_idle(app);
        if (!idle)
          after.push_back(idle.error().message);
      } else {
        after.push_back("could not terminate the running sync: " + terminated.error().message);
      }
    }
    Result<AppState> current = co_await read_app(app);
    bool spec_back = !spec_changed;
    if (spec_changed && current) {
      Status reverted = co_await set_spec_version(app, *current, previous_spec);
      spec_back = static_cast<bool>(reverted);
      if (!reverted)
        after.push_back("could not point the app spec back: " + reverted.error().message);
    } else if (spec_changed) {
      after.push_back("could not point the app spec back: " + current.error().message);
    }

    bool rolled_back = false;
    if (!previous) {
      after.push_back("Argo CD has no earlier deployment of " + app.name + " to roll back to");
    } else if (!current || current->operation_in_progress()) {
      after.push_back("an operation may still be running on " + app.name + ", so no rollback");
    } else {
      const std::string id = std::to_string(previous->id);
      const std::string target =
          entry_version(*previous).value_or(short_revision(previous->revision));
      say("rolling back to history id " + id + " (" + target + ")");
      Status asked = co_await request_rollback(app, previous->id);
      if (!asked) {
        after.push_back("rollback to history id " + id + " failed: " + asked.error().message);
      } else {
        FollowGoal goal;
        goal.what = "rollback to history id " + id;
        goal.expect_revision = previous->revision;
        goal.require_compared = spec_back;
        goal.require_synced = spec_back;
        FollowResult back = co_await follow(app, goal, progress);
        if (back.ok) {
          rolled_back = true;
          after.push_back("rolled back to history id " + id + " (" + target +
                          "), which is Healthy");
          remember(app, *back.last, previous_version.value_or(target));
        } else {
          after.push_back(back.failure);
        }
      }
    }
    std::string note = co_await restore_automation(app, saved_automation, spec_back, progress);
    if (!note.empty())
      after.push_back(note);
    if (!rolled_back) {
      Result<AppState> now = co_await read_app(app);
      if (now)
        remember(app, *now, live_version(*now), "the last deploy failed and was not rolled back");
      after.push_back("check Argo CD app " + app.name + " by hand: " + app_url(app));
    }
    ApplyOutcome outcome;
    outcome.message =
        scrub("deploy of " + label + " failed: " + followed.failure + "; " + join(after, "; "));
    co_return outcome;
  }

  // -------------------------------------------------------------------------------------------
  // roll_back

  asio::awaitable<ApplyOutcome> roll_back(std::string environment, std::string version,
                                          ProgressFn progress) {
    auto self = shared_from_this();
    ApplyOutcome outcome;
    std::optional<AppRef> found = app_for(environment);
    if (!found) {
      outcome.message = "no Argo CD application is configured for " + config.service + " in " +
                        environment + " (configured: " + configured_environments() + ")";
      co_return outcome;
    }
    const AppRef app = *found;
    auto say = [&](const std::string& line) {
      if (progress)
        progress(scrub(line));
    };
    Result<AppState> before = co_await read_app(app);
    if (!before) {
      outcome.message = "rollback of " + config.service + " in " + environment +
                        " did not start: " + before.error().message;
      co_return outcome;
    }
    if (before->multi_source) {
      outcome.message = "Argo CD app " + app.name +
                        " has several sources (spec.sources); Shipmate rolls back single-source "
                        "apps only. Nothing was changed.";
      co_return outcome;
    }
    if (before->operation_in_progress()) {
      outcome.message = busy_refusal(app, *before);
      co_return outcome;
    }
    const std::vector<HistoryEntry>& history = before->history;
    std::optional<HistoryEntry> target;
    for (auto entry = history.rbegin(); entry != history.rend(); ++entry) {
      if (entry_matches(*entry, version)) {
        target = *entry;
        break;
      }
    }
    if (!target) {
      if (history.size() < 2) {
        outcome.message = "Argo CD app " + app.name + " has no deployment of " + version +
                          " in its history and nothing earlier to roll back to";
        co_return outcome;
      }
      target = history[history.size() - 2];
      say("Argo CD " + app.name + ": no history entry for " + version +
          "; rolling back to the previous entry, id " + std::to_string(target->id) + " (" +
          entry_version(*target).value_or(short_revision(target->revision)) + ")");
    }
    const std::string restored_version =
        entry_version(*target).value_or(short_revision(target->revision));
    const std::string label = config.service + " " + restored_version + " in " + environment;

    Result<std::optional<json::value>> automation =
        co_await handle_automation(app, *before, true, progress);
    if (!automation) {
      outcome.message = automation.error().message;
      co_return outcome;
    }
    const std::optional<json::value> saved_automation = *automation;

    // The spec names the version being returned to, so the app ends Synced and a restored
    // automated sync keeps it.
    std::optional<std::string> wanted_spec =
        config.version_mode == ArgoCdVersionMode::kHelmParameter
            ? target->helm_value
            : (target->target_revision.empty() ? std::nullopt
                                               : std::optional(target->target_revision));
    if (spec_version(*before) != wanted_spec) {
      Status pointed = co_await set_spec_version(app, *before, wanted_spec);
      if (!pointed) {
        std::string note = co_await restore_automation(app, saved_automation, true, progress);
        outcome.message = "rollback of " + config.service + " in " + environment +
                          " did not start: " + pointed.error().message +
                          (note.empty() ? "" : "; " + note);
        co_return outcome;
      }
    }
    say("Argo CD " + app.name + ": rolling back to history id " + std::to_string(target->id) +
        " (" + restored_version + ")");
    Status asked = co_await request_rollback(app, target->id);
    FollowResult followed;
    if (!asked) {
      followed.failure = asked.error().message;
    } else {
      FollowGoal goal;
      goal.what = "rollback to history id " + std::to_string(target->id);
      goal.expect_revision = target->revision;
      // The rollback deploys the history entry's whole source; if the spec differs elsewhere
      // (another Helm parameter changed since), Argo CD rightly shows OutOfSync afterwards.
      goal.require_synced = false;
      followed = co_await follow(app, goal, progress);
    }
    std::string note = co_await restore_automation(app, saved_automation, true, progress);
    if (followed.ok) {
      remember(app, *followed.last, restored_version);
      outcome.ok = true;
      outcome.endpoint = app_url(app);
      const AppState& after = *followed.last;
      outcome.message = label + " is back: rolled back to history id " +
                        std::to_string(target->id) + ", Healthy" + in_app(app);
      if (after.sync_status != "Synced")
        outcome.message +=
            "; Argo CD shows it " +
            (after.sync_status.empty() ? std::string("Unknown") : after.sync_status) +
            " because the app spec differs from that deployment in other ways";
      if (!note.empty())
        outcome.message += "; " + note;
      co_return outcome;
    }
    Result<AppState> now = co_await read_app(app);
    if (now)
      remember(app, *now, live_version(*now), "the last rollback failed");
    outcome.message = "rollback of " + config.service + " in " + environment + " to " +
                      restored_version + " failed: " + followed.failure +
                      (note.empty() ? "" : "; " + note) + "; check " + app_url(app);
    outcome.message = scrub(std::move(outcome.message));
    co_return outcome;
  }

  // -------------------------------------------------------------------------------------------
  // restore

  asio::awaitable<std::vector<ApplyOutcome>> restore() {
    auto self = shared_from_this();
    std::vector<ApplyOutcome> outcomes;
    std::vector<std::string> environments;
    for (const auto& entry : config.environments)
      environments.push_back(entry.first);
    for (const std::string& environment : environments) {
      std::optional<AppRef> app = app_for(environment);
      Result<AppState> state = co_await read_app(*app);
      if (!state) {
        ApplyOutcome outcome;
        outcome.message = config.service + " in " + environment +
                          ": could not read its Argo CD app: " + state.error().message;
        outcomes.push_back(std::move(outcome));
        continue;
      }
      std::optional<std::string> version = live_version(*state);
      remember(*app, *state, version);
      if (!version)
        continue;
      ApplyOutcome outcome;
      outcome.ok = state->sync_status == "Synced" && state->health_status == "Healthy";
      outcome.endpoint = app_url(*app);
      outcome.message = config.service + " " + *version + " in " + environment + in_app(*app) +
                        ": " + (state->sync_status.empty() ? "Unknown" : state->sync_status) +
                        ", " + health_summary(*state);
      if (state->operation_in_progress())
        outcome.message +=
            "; an operation is " + (state->phase.empty() ? std::string("requested") : state->phase);
      outcomes.push_back(std::move(outcome));
    }
    co_return outcomes;
  }
};

// ---------------------------------------------------------------------------------------------

ArgoCdTarget::ArgoCdTarget(boost::asio::any_io_executor executor, ArgoCdTargetConfig config)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(config))) {}

ArgoCdTarget::~ArgoCdTarget() {
  impl_->stopping = true;
}

std::string ArgoCdTarget::application_for(const std::string& environment) const {
  auto app = impl_->app_for(environment);
  return app ? app->name : std::string();
}

Status ArgoCdTarget::validate(const std::string& environment, const std::string& version) const {
  if (!impl_->app_for(environment))
    return make_error("no Argo CD application is configured for " + impl_->config.service + " in " +
                      environment + " (configured: " + impl_->configured_environments() + ")");
  if (version.empty())
    return make_error("a version is required to deploy " + impl_->config.service + " via Argo CD");
  if (!valid_version(version))
    return make_error("\"" + version +
                      "\" is not a usable version for Argo CD: use a git tag, branch, commit or "
                      "Helm value made of letters, digits and . _ - / +");
  return Ok{};
}

std::optional<std::string> ArgoCdTarget::current_version(const std::string& environment) const {
  auto found = impl_->cache.find(environment);
  if (found == impl_->cache.end())
    return std::nullopt;
  return found->second.version;
}

std::string ArgoCdTarget::describe(const std::string& environment) const {
  auto app = impl_->app_for(environment);
  if (!app)
    return "no Argo CD application for " + environment;
  auto found = impl_->cache.find(environment);
  if (found == impl_->cache.end())
    return "Argo CD app " + app->name + " (not read yet) at " + impl_->app_url(*app);
  const CachedState& cached = found->second;
  std::string text = cached.version ? *cached.version : std::string("nothing deployed");
  text += " via Argo CD app " + app->name + " (" +
          (cached.sync_status.empty() ? "Unknown" : cached.sync_status) + ", " +
          (cached.health_status.empty() ? "Unknown" : cached.health_status);
  if (!cached.revision.empty())
    text += ", revision " + short_revision(cached.revision);
  text += ")";
  if (!cached.note.empty())
    text += "; " + cached.note;
  return text + " at " + impl_->app_url(*app);
}

boost::asio::awaitable<ApplyOutcome> ArgoCdTarget::apply(std::string environment,
                                                         std::string version, ProgressFn progress) {
  auto impl = impl_;
  co_return co_await impl->apply(std::move(environment), std::move(version), std::move(progress));
}

boost::asio::awaitable<ApplyOutcome> ArgoCdTarget::roll_back(std::string environment,
                                                             std::string version,
                                                             ProgressFn progress) {
  auto impl = impl_;
  co_return co_await impl->roll_back(std::move(environment), std::move(version),
                                     std::move(progress));
}

boost::asio::awaitable<std::vector<ApplyOutcome>> ArgoCdTarget::restore() {
  auto impl = impl_;
  co_return co_await impl->restore();
}

boost::asio::awaitable<void> ArgoCdTarget::shutdown() {
  impl_->stopping = true;
  co_return;
}

}  // namespace shipmate::integrations
