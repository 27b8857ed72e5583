#include "tests/support/fake_argocd.h"

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>

#include <boost/json.hpp>

namespace shipmate::testing {

namespace {

namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;

constexpr std::size_t kHistoryLimit = 10;  // Argo CD's default revisionHistoryLimit
constexpr const char* kUsername = "shipmate";

std::string rfc3339_now() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

// The grpc-gateway error body Argo CD answers with.
FakeResponse grpc_error(int http_status, int code, const std::string& message) {
  json::object body;
  body["error"] = message;
  body["code"] = code;
  body["message"] = message;
  return FakeResponse::json(http_status, json::serialize(body));
}

FakeResponse not_found_error(const std::string& name) {
  return grpc_error(404, 5, "applications.argoproj.io \"" + name + "\" not found");
}

FakeResponse failed_precondition(const std::string& message) {
  return grpc_error(412, 9, message);
}

FakeResponse invalid_argument(const std::string& message) {
  return grpc_error(400, 3, message);
}

bool is_commit_sha(const std::string& text) {
  return text.size() == 40 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string text_of(const json::value& value, std::string_view key) {
  const json::object* object = value.if_object();
  if (object == nullptr)
    return {};
  const json::value* found = object->if_contains(key);
  if (found == nullptr || !found->is_string())
    return {};
  return std::string(found->get_string());
}

using Parameters = std::vector<std::pair<std::string, std::string>>;

Parameters parameters_of(const json::value& source) {
  Parameters out;
  const json::object* object = source.if_object();
  if (object == nullptr)
    return out;
  const json::value* helm = object->if_contains("helm");
  if (helm == nullptr || !helm->is_object())
    return out;
  const json::value* parameters = helm->get_object().if_contains("parameters");
  if (parameters == nullptr || !parameters->is_array())
    return out;
  for (const json::value& parameter : parameters->get_array())
    out.emplace_back(text_of(parameter, "name"), text_of(parameter, "value"));
  return out;
}

// RFC 7386.
json::value merge_patch(json::value target, const json::value& patch) {
  if (!patch.is_object())
    return patch;
  if (!target.is_object())
    target = json::object();
  json::object& object = target.get_object();
  for (const auto& [key, value] : patch.get_object()) {
    if (value.is_null()) {
      object.erase(key);
    } else {
      json::value* existing = object.if_contains(key);
      json::value merged = merge_patch(existing != nullptr ? *existing : json::value(), value);
      object[key] = std::move(merged);
    }
  }
  return target;
}

// RFC 6902 add/replace/remove over JSON pointers, enough for `argocd app patch --type json`.
bool apply_json_patch(json::value& document, const json::value& patch, std::string& error) {
  if (!patch.is_array()) {
    error = "error decoding json patch: not an array of operations";
    return false;
  }
  for (const json::value& operation : patch.get_array()) {
    std::string op = text_of(operation, "op");
    std::string path = text_of(operation, "path");
    if (path.empty() || path.front() != '/') {
      error = "error applying patch: bad path \"" + path + "\"";
      return false;
    }
    std::vector<std::string> tokens;
    for (std::size_t at = 1; at <= path.size();) {
      std::size_t next = path.find('/', at);
      if (next == std::string::npos)
        next = path.size();
      std::string token = path.substr(at, next - at);
      for (std::size_t i = 0; (i = token.find("~1", i)) != std::string::npos;)
        token.replace(i, 2, "/");
      for (std::size_t i = 0; (i = token.find("~0", i)) != std::string::npos;)
        token.replace(i, 2, "~");
      tokens.push_back(token);
      at = next + 1;
    }
    json::value* parent = &document;
    for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
      if (parent->is_object()) {
        parent = parent->get_object().if_contains(tokens[i]);
      } else if (parent->is_array()) {
        std::size_t index = std::stoul(tokens[i]);
        parent = index < parent->get_array().size() ? &parent->get_array()[index] : nullptr;
      } else {
        parent = nullptr;
      }
      if (parent == nullptr) {
        error = "error applying patch: missing path " + path;
        return false;
      }
    }
    const std::string& last = tokens.back();
    const json::value* value =
        operation.is_object() ? operation.get_object().if_contains("value") : nullptr;
    if (parent->is_object()) {
      json::object& object = parent->get_object();
      if (op == "remove") {
        if (object.erase(last) == 0) {
          error = "error applying patch: missing path " + path;
          return false;
        }
      } else if ((op == "add" || op == "replace") && value != nullptr) {
        if (op == "replace" && !object.contains(last)) {
          error = "error applying patch: missing path " + path;
          return false;
        }
        object[last] = *value;
      } else {
        error = "error applying patch: unsupported operation " + op;
        return false;
      }
    } else if (parent->is_array()) {
      json::array& array = parent->get_array();
      std::size_t index = last == "-" ? array.size() : std::stoul(last);
      if (op == "add" && value != nullptr && index <= array.size()) {
        array.insert(array.begin() + static_cast<std::ptrdiff_t>(index), *value);
      } else if (op == "replace" && value != nullptr && index < array.size()) {
        array[index] = *value;
      } else if (op == "remove" && index < array.size()) {
        array.erase(array.begin() + static_cast<std::ptrdiff_t>(index));
      } else {
        error = "error applying patch: bad operation " + op + " at " + path;
        return false;
      }
    } else {
      error = "error applying patch: missing path " + path;
      return false;
    }
  }
  return true;
}

std::optional<long long> id_of(const json::value* value) {
  if (value == nullptr)
    return std::nullopt;
  if (value->is_int64())
    return value->get_int64();
  if (value->is_uint64())
    return static_cast<long long>(value->get_uint64());
  if (value->is_string()) {
    std::string text(value->get_string());
    if (text.empty() ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    return std::stoll(text);
  }
  return std::nullopt;
}

struct Operation {
  std::string kind;                // "sync", "rollback", "automated"
  json::object source;             // the source this operation deploys
  std::string requested_revision;  // as asked
  std::string revision;            // resolved
  bool prune = false;
  bool with_source = false;  // rollbacks carry their history entry's source
  json::object initiated_by;
  std::string started_at;
  SteadyClock::time_point picked_up_at;
  SteadyClock::time_point ends_at;
  bool foreign = false;  // runs until finish_foreign_operation()
  bool running = false;  // visible in status.operationState
  bool terminating = false;
  std::size_t record = 0;
};

struct App {
  std::string name;
  std::string app_namespace;
  json::object object;  // metadata and spec; status is rendered on every read
  std::optional<Operation> operation;
  json::value operation_state;  // status.operationState (null: none)
  bool deployed = false;
  std::string deployed_revision;
  json::object deployed_source;
  json::array history;
  std::int64_t next_history_id = 0;
  std::string health = "Healthy";
  std::string health_message;
  std::string health_before_operation = "Healthy";
  std::string health_message_before_operation;
  std::optional<SteadyClock::time_point> health_settles_at;
  std::string settled_health;
  std::string settled_message;
  std::map<std::string, std::string> fail_markers;
  std::map<std::string, std::string> degrade_markers;
  std::set<std::string> suspend_markers;
  std::set<std::string> automated_attempts;
  std::vector<FakeArgoCd::OperationRecord> records;

  json::object& spec() { return object["spec"].as_object(); }
  json::object& source() { return spec()["source"].as_object(); }
};

}  // namespace

struct FakeArgoCd::Impl {
  explicit Impl(Options options_in) : options(std::move(options_in)) {}

  Options options;

  SteadyClock::time_point now() const {
    return options.clock ? options.clock() : SteadyClock::now();
  }
  mutable std::mutex mutex;
  std::map<std::string, App> apps;  // by "namespace/name"
  struct Failure {
    int remaining = 0;
    int status = 500;
    std::string method;
  } failure;
  std::unique_ptr<FakeHttpServer> server;

  // -------------------------------------------------------------------------------------------

  App* find_app(const std::string& app_namespace, const std::string& name) {
    std::string ns = app_namespace.empty() ? options.server_namespace : app_namespace;
    auto found = apps.find(ns + "/" + name);
    return found == apps.end() ? nullptr : &found->second;
  }

  App& app_named(const std::string& name) {
    for (auto& [key, app] : apps) {
      if (app.name == name)
        return app;
    }
    throw std::out_of_range("FakeArgoCd: no application " + name);
  }

  static bool automated_on(App& app) {
    const json::value* policy = app.spec().if_contains("syncPolicy");
    if (policy == nullptr || !policy->is_object())
      return false;
    const json::value* automated = policy->get_object().if_contains("automated");
    if (automated == nullptr || !automated->is_object())
      return false;
    const json::value* enabled = automated->get_object().if_contains("enabled");
    return enabled == nullptr || !enabled->is_bool() || enabled->get_bool();
  }

  static std::string spec_target(App& app) {
    std::string target = text_of(app.source(), "targetRevision");
    return target.empty() ? "HEAD" : target;
  }

  static std::string source_key(const std::string& revision, const json::value& source) {
    std::string key = revision;
    for (const auto& [name, value] : parameters_of(source))
      key += "|" + name + "=" + value;
    return key;
  }

  static bool synced(App& app) {
    if (!app.deployed)
      return false;
    return resolve_revision(spec_target(app)) == app.deployed_revision &&
           parameters_of(app.source()) == parameters_of(app.deployed_source);
  }

  static bool matches(const Operation& operation, const std::string& marker) {
    if (operation.requested_revision == marker ||
        text_of(operation.source, "targetRevision") == marker)
      return true;
    for (const auto& [name, value] : parameters_of(operation.source)) {
      if (value == marker)
        return true;
    }
    return false;
  }

  static json::object destination(App& app) {
    const json::value* found = app.spec().if_contains("destination");
    return found != nullptr && found->is_object() ? found->get_object() : json::object();
  }

  static json::object operation_object(const Operation& operation) {
    json::object sync;
    sync["revision"] = operation.revision;
    sync["prune"] = operation.prune;
    if (operation.with_source)
      sync["source"] = operation.source;
    json::object out;
    out["sync"] = std::move(sync);
    out["initiatedBy"] = operation.initiated_by;
    out["retry"] = json::object();
    return out;
  }

  json::array sync_result_resources(App& app, const std::string& status,
                                    const std::string& message) {
    json::object deployment;
    deployment["group"] = "apps";
    deployment["version"] = "v1";
    deployment["kind"] = "Deployment";
    deployment["namespace"] = text_of(destination(app), "namespace");
    deployment["name"] = app.name;
    deployment["status"] = status;
    deployment["message"] = message;
    deployment["syncPhase"] = "Sync";
    return json::array{deployment};
  }

  json::object operation_state(App& app, const Operation& operation, const std::string& phase,
                               const std::string& message, bool finished,
                               const std::string& resource_status,
                               const std::string& resource_message) {
    json::object state;
    state["operation"] = operation_object(operation);
    state["phase"] = phase;
    state["message"] = message;
    state["startedAt"] = operation.started_at;
    if (finished) {
      state["finishedAt"] = rfc3339_now();
      json::object result;
      result["resources"] = sync_result_resources(app, resource_status, resource_message);
      result["revision"] = operation.revision;
      result["source"] = operation.source;
      state["syncResult"] = std::move(result);
    }
    return state;
  }

  void record_phase(App& app, const Operation& operation, const std::string& phase) {
    if (operation.record < app.records.size())
      app.records[operation.record].phase = phase;
  }

  Operation& start_operation(App& app, std::string kind, json::object source,
                             std::string requested_revision, json::object initiated_by,
                             bool with_source, bool prune) {
    Operation operation;
    operation.kind = std::move(kind);
    operation.source = std::move(source);
    operation.requested_revision = std::move(requested_revision);
    operation.revision = resolve_revision(operation.requested_revision);
    operation.initiated_by = std::move(initiated_by);
    operation.with_source = with_source;
    operation.prune = prune;
    auto now = this->now();
    operation.picked_up_at = now + options.operation_duration / 4;
    operation.ends_at = operation.picked_up_at + options.operation_duration;
    OperationRecord record;
    record.kind = operation.kind;
    record.revision = operation.revision;
    record.target_revision = text_of(operation.source, "targetRevision");
    record.helm_parameters = parameters_of(operation.source);
    record.initiated_by = text_of(operation.initiated_by, "username");
    if (record.initiated_by.empty())
      record.initiated_by = "automated";
    record.phase = "Requested";
    operation.record = app.records.size();
    app.records.push_back(std::move(record));
    // Argo CD clears the previous operation state when it sets a new operation.
    app.operation_state = nullptr;
    app.operation = std::move(operation);
    return *app.operation;
  }

  void finish_operation(App& app, const std::string& phase, const std::string& message,
                        const std::string& resource_status, const std::string& resource_message) {
    Operation operation = std::move(*app.operation);
    app.operation.reset();
    app.operation_state =
        operation_state(app, operation, phase, message, true, resource_status, resource_message);
    record_phase(app, operation, phase);
    if (phase != "Succeeded") {
      app.health = app.health_before_operation;
      app.health_message = app.health_message_before_operation;
      return;
    }
    app.deployed = true;
    app.deployed_revision = operation.revision;
    app.deployed_source = operation.source;
    json::object entry;
    entry["id"] = app.next_history_id++;
    entry["revision"] = operation.revision;
    entry["deployedAt"] = rfc3339_now();
    entry["deployStartedAt"] = operation.started_at;
    entry["source"] = operation.source;
    entry["initiatedBy"] = operation.initiated_by;
    app.history.push_back(std::move(entry));
    while (app.history.size() > kHistoryLimit)
      app.history.erase(app.history.begin());

    app.health = "Progressing";
    app.health_message = "Waiting for rollout to finish: 1 of 2 updated replicas are available...";
    app.health_settles_at = now() + options.health_delay;
    app.settled_health = "Healthy";
    app.settled_message.clear();
    for (const auto& [marker, text] : app.degrade_markers) {
      if (matches(operation, marker)) {
        app.settled_health = "Degraded";
        app.settled_message = text;
      }
    }
    for (const std::string& marker : app.suspend_markers) {
      if (matches(operation, marker)) {
        app.settled_health = "Suspended";
        app.settled_message = "Rollout is paused";
      }
    }
  }

  // The application controller, run lazily before every read or write.
  void advance(App& app) {
    auto now = this->now();
    if (app.operation) {
      Operation& operation = *app.operation;
      if (!operation.running && (now >= operation.picked_up_at || operation.terminating)) {
        operation.running = true;
        operation.started_at = rfc3339_now();
        app.health_before_operation = app.health;
        app.health_message_before_operation = app.health_message;
        if (!operation.foreign) {
          app.health = "Progressing";
          app.health_message =
              "Waiting for rollout to finish: 0 of 2 updated replicas are available...";
          app.health_settles_at.reset();
        }
        app.operation_state = operation_state(
            app, operation, "Running", "waiting for healthy state of apps/Deployment/" + app.name,
            false, "", "");
        record_phase(app, operation, "Running");
      }
      if (operation.running && operation.terminating) {
        finish_operation(app, "Failed", "Operation terminated", "Synced", "terminated");
      } else if (operation.running && !operation.foreign && now >= operation.ends_at) {
        std::optional<std::string> failure;
        for (const auto& [marker, text] : app.fail_markers) {
          if (matches(operation, marker))
            failure = text;
        }
        if (failure) {
          finish_operation(app, "Failed",
                           "one or more objects failed to apply, reason: " + *failure, "SyncFailed",
                           *failure);
        } else {
          finish_operation(app, "Succeeded", "successfully synced (all tasks run)", "Synced",
                           "deployment.apps/" + app.name + " configured");
        }
      }
    }
    if (app.health_settles_at && now >= *app.health_settles_at) {
      app.health = app.settled_health;
      app.health_message = app.settled_message;
      app.health_settles_at.reset();
    }
    if (!app.operation && automated_on(app) && !synced(app)) {
      std::string target = spec_target(app);
      std::string key = source_key(resolve_revision(target), app.source());
      if (app.automated_attempts.insert(key).second) {
        json::object initiated_by;
        initiated_by["automated"] = true;
        start_operation(app, "automated", app.source(), target, std::move(initiated_by), false,
                        false);
      }
    }
  }

  json::value render(App& app) {
    json::object out = app.object;
    if (app.operation)
      out["operation"] = operation_object(*app.operation);
    json::object status;

    json::object deployment;
    deployment["group"] = "apps";
    deployment["version"] = "v1";
    deployment["kind"] = "Deployment";
    deployment["namespace"] = text_of(destination(app), "namespace");
    deployment["name"] = app.name;
    deployment["status"] = synced(app) ? "Synced" : "OutOfSync";
    json::object deployment_health;
    deployment_health["status"] = app.health;
    if (!app.health_message.empty())
      deployment_health["message"] = app.health_message;
    deployment["health"] = std::move(deployment_health);
    json::object service;
    service["version"] = "v1";
    service["kind"] = "Service";
    service["namespace"] = text_of(destination(app), "namespace");
    service["name"] = app.name;
    service["status"] = "Synced";
    service["health"] = json::object{{"status", "Healthy"}};
    status["resources"] = json::array{deployment, service};

    json::object sync;
    sync["status"] = synced(app) ? "Synced" : "OutOfSync";
    json::object compared_to;
    compared_to["source"] = app.source();
    compared_to["destination"] = destination(app);
    sync["comparedTo"] = std::move(compared_to);
    sync["revision"] = resolve_revision(spec_target(app));
    status["sync"] = std::move(sync);
    status["health"] = json::object{{"status", app.health}};
    status["history"] = app.history;
    if (!app.operation_state.is_null())
      status["operationState"] = app.operation_state;
    status["reconciledAt"] = rfc3339_now();
    status["sourceType"] = parameters_of(app.source()).empty() ? "Directory" : "Helm";
    out["status"] = std::move(status);
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // HTTP

  FakeResponse handle(const FakeRequest& request) {
    std::lock_guard lock(mutex);
    if (failure.remaining > 0 && (failure.method.empty() || failure.method == request.method)) {
      --failure.remaining;
      int code = failure.status == 503 ? 14 : failure.status == 429 ? 8 : 13;
      return grpc_error(failure.status, code, "fake Argo CD: injected failure");
    }
    std::string authorization = request.header("Authorization");
    if (authorization.empty())
      return grpc_error(401, 16, "no session information");
    if (authorization != "Bearer " + options.token)
      return grpc_error(401, 16, "invalid session: token is expired");

    const std::string prefix = "/api/v1/applications/";
    if (request.path.rfind(prefix, 0) != 0)
      return grpc_error(404, 5, "Not Found");
    std::string rest = request.path.substr(prefix.size());
    std::string name = rest.substr(0, rest.find('/'));
    std::string action = rest.size() > name.size() ? rest.substr(name.size() + 1) : "";

    json::value body;
    if (!request.body.empty()) {
      boost::system::error_code ec;
      body = json::parse(request.body, ec);
      if (ec || !body.is_object())
        return invalid_argument("invalid character in request body: " + ec.message());
    }
    auto field = [&](std::string_view key) -> std::string {
      std::string value = text_of(body, key);
      if (value.empty()) {
        auto found = request.query.find(std::string(key));
        if (found != request.query.end())
          value = found->second;
      }
      return value;
    };

    App* app = find_app(field("appNamespace"), name);
    if (app == nullptr) {
      if (!field("project").empty())
        return not_found_error(name);
      return grpc_error(403, 7, "permission denied");
    }
    advance(*app);

    if (action.empty() && request.method == "GET")
      return FakeResponse::json(200, json::serialize(render(*app)));
    if (action.empty() && request.method == "PATCH")
      return patch(*app, body);
    if (action.empty() && request.method == "PUT")
      return update(*app, find_in(body, "spec"), false);
    if (action == "spec" && request.method == "PUT")
      return update(*app, body, true);
    if (action == "sync" && request.method == "POST")
      return sync(*app, body);
    if (action == "rollback" && request.method == "POST")
      return rollback(*app, body);
    if (action == "operation" && request.method == "DELETE")
      return terminate(*app);
    return grpc_error(405, 12, "Method Not Allowed");
  }

  static json::value find_in(const json::value& value, std::string_view key) {
    const json::object* object = value.if_object();
    if (object == nullptr)
      return nullptr;
    const json::value* found = object->if_contains(key);
    return found != nullptr ? *found : json::value(nullptr);
  }

  FakeResponse adopt_spec(App& app, const json::value& spec) {
    if (!spec.is_object())
      return invalid_argument("application spec is invalid: spec is missing");
    const json::object& object = spec.get_object();
    const json::value* source = object.if_contains("source");
    const json::value* sources = object.if_contains("sources");
    if ((source == nullptr || !source->is_object()) && (sources == nullptr || !sources->is_array()))
      return invalid_argument("application spec for " + app.name +
                              " is invalid: InvalidSpecError: spec.source or spec.sources is "
                              "required");
    app.object["spec"] = spec;
    advance(app);
    return FakeResponse::json(200, json::serialize(render(app)));
  }

  FakeResponse patch(App& app, const json::value& body) {
    std::string patch_text = text_of(body, "patch");
    std::string type = text_of(body, "patchType");
    boost::system::error_code ec;
    json::value patch = json::parse(patch_text, ec);
    if (ec)
      return invalid_argument("error unmarshaling patch: " + ec.message());
    json::value document = app.object;
    if (type == "merge") {
      document = merge_patch(std::move(document), patch);
    } else if (type == "json" || type.empty()) {
      std::string error;
      if (!apply_json_patch(document, patch, error))
        return invalid_argument(error);
    } else {
      return invalid_argument("Patch type '" + type + "' is not supported");
    }
    return adopt_spec(app, find_in(document, "spec"));
  }

  FakeResponse update(App& app, const json::value& spec, bool answer_spec) {
    FakeResponse response = adopt_spec(app, spec);
    if (response.status == 200 && answer_spec)
      response.body = json::serialize(app.object["spec"]);
    return response;
  }

  FakeResponse sync(App& app, const json::value& body) {
    std::string revision = text_of(body, "revision");
    if (automated_on(app) && !revision.empty() && revision != spec_target(app))
      return failed_precondition("Cannot sync to " + revision + ": auto-sync currently set to " +
                                 text_of(app.source(), "targetRevision"));
    if (app.operation)
      return failed_precondition("another operation is already in progress");
    json::object initiated_by;
    initiated_by["username"] = kUsername;
    const json::value* prune = body.is_object() ? body.get_object().if_contains("prune") : nullptr;
    std::string requested = revision.empty() ? spec_target(app) : revision;
    start_operation(app, "sync", app.source(), requested, std::move(initiated_by), false,
                    prune != nullptr && prune->is_bool() && prune->get_bool());
    return FakeResponse::json(200, json::serialize(render(app)));
  }

  FakeResponse rollback(App& app, const json::value& body) {
    if (!body.is_object())
      return invalid_argument("rollback request body is missing");
    if (automated_on(app))
      return failed_precondition("rollback cannot be initiated when auto-sync is enabled");
    const json::value* id_field = body.is_object() ? body.get_object().if_contains("id") : nullptr;
    std::optional<long long> id = id_of(id_field);
    const json::object* entry = nullptr;
    for (const json::value& item : app.history) {
      if (id && id_of(item.get_object().if_contains("id")) == id)
        entry = &item.get_object();
    }
    if (entry == nullptr)
      return invalid_argument("application " + app.name + " does not have deployment with id " +
                              (id ? std::to_string(*id) : std::string("0")));
    if (app.operation)
      return failed_precondition("another operation is already in progress");
    json::object initiated_by;
    initiated_by["username"] = kUsername;
    json::object source = entry->at("source").as_object();
    std::string revision = text_of(*entry, "revision");
    const json::value* prune = body.get_object().if_contains("prune");
    start_operation(app, "rollback", std::move(source), revision, std::move(initiated_by), true,
                    prune != nullptr && prune->is_bool() && prune->get_bool());
    return FakeResponse::json(200, json::serialize(render(app)));
  }

  FakeResponse terminate(App& app) {
    if (!app.operation)
      return invalid_argument("Unable to terminate operation. No operation is in progress");
    app.operation->terminating = true;
    if (app.operation_state.is_object())
      app.operation_state.as_object()["phase"] = "Terminating";
    return FakeResponse::json(200, "{}");
  }
};

// ---------------------------------------------------------------------------------------------

FakeArgoCd::FakeArgoCd() : FakeArgoCd(Options{}) {}

FakeArgoCd::FakeArgoCd(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {
  FakeHttpServer::Options server_options;
  server_options.tls = impl_->options.tls;
  Impl* impl = impl_.get();
  impl_->server = std::make_unique<FakeHttpServer>(
      [impl](const FakeRequest& request) { return impl->handle(request); }, server_options);
}

FakeArgoCd::~FakeArgoCd() {
  impl_->server.reset();
}

const FakeArgoCd::Options& FakeArgoCd::options() const {
  return impl_->options;
}

std::string FakeArgoCd::base_url() const {
  return impl_->server->base_url();
}

std::string FakeArgoCd::ca_path() const {
  return impl_->server->ca_path();
}

FakeHttpServer& FakeArgoCd::server() {
  return *impl_->server;
}

void FakeArgoCd::add_application(AppSetup setup) {
  std::lock_guard lock(impl_->mutex);
  App app;
  app.name = setup.name;
  app.app_namespace =
      setup.app_namespace.empty() ? impl_->options.server_namespace : setup.app_namespace;

  json::object metadata;
  metadata["name"] = setup.name;
  metadata["namespace"] = app.app_namespace;
  metadata["resourceVersion"] = "1";
  json::object source;
  source["repoURL"] = setup.repo_url;
  source["path"] = setup.path;
  source["targetRevision"] = setup.target_revision;
  if (!setup.helm_parameters.empty()) {
    json::array parameters;
    for (const auto& [name, value] : setup.helm_parameters)
      parameters.push_back(json::object{{"name", name}, {"value", value}});
    source["helm"] = json::object{{"parameters", std::move(parameters)}};
  }
  json::object destination;
  destination["server"] = "https://kubernetes.default.svc";
  destination["namespace"] = setup.name;
  json::object sync_policy;
  if (setup.automated)
    sync_policy["automated"] = json::object{{"prune", true}, {"selfHeal", true}};
  sync_policy["syncOptions"] = json::array{"CreateNamespace=true"};
  json::object spec;
  spec["project"] = setup.project;
  spec["source"] = source;
  spec["destination"] = std::move(destination);
  spec["syncPolicy"] = std::move(sync_policy);
  app.object["apiVersion"] = "argoproj.io/v1alpha1";
  app.object["kind"] = "Application";
  app.object["metadata"] = std::move(metadata);
  app.object["spec"] = std::move(spec);

  if (setup.deployed) {
    json::object initiated_by;
    initiated_by["username"] = "admin";
    Operation& operation = impl_->start_operation(app, "sync", source, setup.target_revision,
                                                  std::move(initiated_by), false, false);
    operation.running = true;
    operation.started_at = rfc3339_now();
    impl_->finish_operation(app, "Succeeded", "successfully synced (all tasks run)", "Synced",
                            "deployment.apps/" + setup.name + " created");
    app.health = "Healthy";
    app.health_message.clear();
    app.health_settles_at.reset();
    app.automated_attempts.insert(
        Impl::source_key(resolve_revision(setup.target_revision), source));
  } else {
    app.health = "Missing";
  }
  std::string key = app.app_namespace + "/" + app.name;
  impl_->apps[key] = std::move(app);
}

void FakeArgoCd::fail_sync_of(const std::string& app, const std::string& version,
                              std::string message) {
  std::lock_guard lock(impl_->mutex);
  impl_->app_named(app).fail_markers[version] = std::move(message);
}

void FakeArgoCd::degrade_on(const std::string& app, const std::string& version,
                            std::string message) {
  std::lock_guard lock(impl_->mutex);
  impl_->app_named(app).degrade_markers[version] = std::move(message);
}

void FakeArgoCd::suspend_on(const std::string& app, const std::string& version) {
  std::lock_guard lock(impl_->mutex);
  impl_->app_named(app).suspend_markers.insert(version);
}

void FakeArgoCd::start_foreign_operation(const std::string& app_name, const std::string& username) {
  std::lock_guard lock(impl_->mutex);
  App& app = impl_->app_named(app_name);
  json::object initiated_by;
  initiated_by["username"] = username;
  std::string target = Impl::spec_target(app);
  Operation& operation = impl_->start_operation(app, "sync", app.source(), target,
                                                std::move(initiated_by), false, false);
  operation.foreign = true;
  operation.picked_up_at = impl_->now();
  impl_->advance(app);
}

void FakeArgoCd::finish_foreign_operation(const std::string& app_name) {
  std::lock_guard lock(impl_->mutex);
  App& app = impl_->app_named(app_name);
  if (app.operation && app.operation->foreign) {
    app.operation->foreign = false;
    app.operation->ends_at = impl_->now();
    impl_->advance(app);
  }
}

void FakeArgoCd::fail_next_requests(int count, int status, std::string method) {
  std::lock_guard lock(impl_->mutex);
  impl_->failure.remaining = count;
  impl_->failure.status = status;
  impl_->failure.method = std::move(method);
}

void FakeArgoCd::set_automated(const std::string& app_name, bool on) {
  std::lock_guard lock(impl_->mutex);
  App& app = impl_->app_named(app_name);
  json::value& policy_value = app.spec()["syncPolicy"];
  if (!policy_value.is_object())
    policy_value.emplace_object();
  json::object& policy = policy_value.get_object();
  if (on)
    policy["automated"] = json::object{{"prune", true}, {"selfHeal", true}};
  else
    policy.erase("automated");
}

json::value FakeArgoCd::application(const std::string& app_name) {
  std::lock_guard lock(impl_->mutex);
  App& app = impl_->app_named(app_name);
  impl_->advance(app);
  return impl_->render(app);
}

std::string FakeArgoCd::target_revision(const std::string& app_name) {
  std::lock_guard lock(impl_->mutex);
  App& app = impl_->app_named(app_name);
  return text_of(app.source(), "targetRevision");
}

std::optional<std::string> FakeArgoCd::helm_parameter(const std::string& app_name,
                                                      const std::string& name) {
  std::lock_guard lock(impl_->mutex);
  App& app = impl_->app_named(app_name);
  for (const auto& [key, value] : parameters_of(app.source())) {
    if (key == name)
      return value;
  }
  return std::nullopt;
}

bool FakeArgoCd::automated(const std::string& app_name) {
  std::lock_guard lock(impl_->mutex);
  return Impl::automated_on(impl_->app_named(app_name));
}

std::vector<long long> FakeArgoCd::history_ids(const std::string& app_name) {
  std::lock_guard lock(impl_->mutex);
  App& app = impl_->app_named(app_name);
  impl_->advance(app);
  std::vector<long long> ids;
  for (const json::value& entry : app.history)
    ids.push_back(*id_of(entry.get_object().if_contains("id")));
  return ids;
}

std::vector<FakeArgoCd::OperationRecord> FakeArgoCd::operations(const std::string& app_name) {
  std::lock_guard lock(impl_->mutex);
  App& app = impl_->app_named(app_name);
  impl_->advance(app);
  return app.records;
}

std::vector<FakeRequest> FakeArgoCd::requests() const {
  return impl_->server->requests();
}

std::vector<FakeRequest> FakeArgoCd::requests_to(std::string_view method,
                                                 std::string_view path_prefix) const {
  return impl_->server->requests_to(method, path_prefix);
}

void FakeArgoCd::clear_requests() {
  impl_->server->clear_requests();
}

std::string FakeArgoCd::resolve_revision(const std::string& revision) {
  if (is_commit_sha(revision))
    return revision;
  // FNV-1a, stretched to 40 hex digits: stable across runs and distinct per name.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  std::uint64_t seed = 1469598103934665603ULL;
  for (int round = 0; out.size() < 40; ++round) {
    std::uint64_t hash = seed ^ static_cast<std::uint64_t>(round);
    for (char c : revision) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 1099511628211ULL;
    }
    for (int i = 0; i < 16 && out.size() < 40; ++i)
      out += kHex[(hash >> (i * 4)) & 15];
    seed = hash;
  }
  return out;
}

}  // namespace shipmate::testing
