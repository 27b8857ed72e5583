#include "integrations/argocd/argocd_application.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include <boost/json.hpp>

#include "common/strings.h"

namespace shipmate::integrations::argocd {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxVersionLength = 200;
constexpr std::size_t kMaxAppNameLength = 253;

bool is_alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

}  // namespace

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

bool looks_like_commit(const std::string& text) {
  return text.size() >= 7 && text.size() <= 40 && std::all_of(text.begin(), text.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c)) != 0;
         });
}

// ---------------------------------------------------------------------------------------------
// JSON access

namespace {

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

}  // namespace

std::string text_at(const json::value& root, std::initializer_list<std::string_view> path) {
  const json::value* found = find(root, path);
  if (found != nullptr && found->is_string())
    return std::string(found->get_string());
  return {};
}

namespace {

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

}  // namespace

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

// The `message` (or `error`) of a grpc-gateway error body.
std::string argo_message(std::string_view body) {
  boost::system::error_code ec;
  json::value root = json::parse(body, ec);
  if (ec)
    return {};
  std::string message = text_at(root, {"message"});
  return message.empty() ? text_at(root, {"error"}) : message;
}

// ---------------------------------------------------------------------------------------------
// Version labels

// How Shipmate names what a history entry deployed.
std::optional<std::string> entry_version(const HistoryEntry& entry, ArgoCdVersionMode mode) {
  if (mode == ArgoCdVersionMode::helm_parameter)
    return entry.helm_value;
  if (!entry.target_revision.empty())
    return entry.target_revision;
  if (!entry.revision.empty())
    return entry.revision;
  return std::nullopt;
}

// What serves now: the spec when the app is Synced to it, else the last deployment Argo CD
// recorded.
std::optional<std::string> live_version(const AppState& state, ArgoCdVersionMode mode) {
  if (state.sync_status == "Synced") {
    if (mode == ArgoCdVersionMode::helm_parameter) {
      if (state.helm_value)
        return state.helm_value;
    } else if (!state.target_revision.empty()) {
      return state.target_revision;
    } else if (!state.sync_revision.empty()) {
      return state.sync_revision;
    }
  }
  if (!state.history.empty())
    return entry_version(state.history.back(), mode);
  return std::nullopt;
}

bool entry_matches(const HistoryEntry& entry, const std::string& version, ArgoCdVersionMode mode) {
  if (mode == ArgoCdVersionMode::helm_parameter)
    return entry.helm_value == version;
  if (entry.target_revision == version || entry.revision == version)
    return true;
  return looks_like_commit(version) && entry.revision.rfind(version, 0) == 0;
}

// ---------------------------------------------------------------------------------------------
// Refusals

std::string busy_refusal(const std::string& app, const AppState& state) {
  std::string text = "Argo CD app " + app + " is already syncing";
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

std::string automated_refusal(const std::string& app, bool for_rollback) {
  std::string text = "Argo CD app " + app + " has automated sync on; Shipmate will not fight it: ";
  text += for_rollback ? "Argo CD refuses rollbacks while automated sync is on, and automation "
                         "would sync the app straight back to its source. "
                       : "automation owns what this app runs. ";
  text +=
      "Change the version in the app's source instead, or set auto_sync: suspend for this "
      "service so Shipmate turns automated sync off while it deploys and back on after.";
  return text;
}

}  // namespace shipmate::integrations::argocd
