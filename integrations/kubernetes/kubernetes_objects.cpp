#include "integrations/kubernetes/kubernetes_objects.h"

#include <algorithm>
#include <utility>

#include <boost/json.hpp>

#include "common/strings.h"
#include "integrations/kubernetes/image_ref.h"
#include "integrations/kubernetes/kubernetes_target.h"

namespace shipmate::integrations {

namespace kube {

namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

bool is_dns_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Small helpers

std::string in_quotes(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

// DNS-1123 subdomain (Deployment names) or label (namespaces, containers: no dots).
bool valid_name(std::string_view name, bool dots_allowed, std::size_t max_length) {
  if (name.empty() || name.size() > max_length)
    return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front()) || !alnum(name.back()))
    return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return is_dns_char(c) && (dots_allowed || c != '.'); });
}

// Percent-encoding for query values (RFC 3986 unreserved characters pass).
std::string query_encode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : value) {
    auto byte = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    }
  }
  return out;
}

std::string format_duration(milliseconds duration) {
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(duration).count();
  if (seconds >= 120 && seconds % 60 == 0)
    return std::to_string(seconds / 60) + " min";
  if (seconds >= 1)
    return std::to_string(seconds) + " s";
  return std::to_string(duration.count()) + " ms";
}

// ---------------------------------------------------------------------------------------------
// JSON access

const json::object* object_at(const json::object& parent, std::string_view key) {
  const json::value* value = parent.if_contains(key);
  return value != nullptr && value->is_object() ? &value->as_object() : nullptr;
}

const json::object* object_path(const json::object& root,
                                std::initializer_list<std::string_view> path) {
  const json::object* at = &root;
  for (auto key : path) {
    at = object_at(*at, key);
    if (at == nullptr)
      return nullptr;
  }
  return at;
}

std::string string_at(const json::object* parent, std::string_view key) {
  if (parent == nullptr)
    return {};
  const json::value* value = parent->if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->as_string()) : std::string();
}

std::optional<std::int64_t> int_at(const json::object* parent, std::string_view key) {
  if (parent == nullptr)
    return std::nullopt;
  const json::value* value = parent->if_contains(key);
  if (value == nullptr)
    return std::nullopt;
  if (value->is_int64())
    return value->as_int64();
  if (value->is_uint64())
    return static_cast<std::int64_t>(value->as_uint64());
  return std::nullopt;
}

std::int64_t int_or(const json::object* parent, std::string_view key, std::int64_t fallback) {
  return int_at(parent, key).value_or(fallback);
}

Result<json::object> parse_object(const std::string& body, const std::string& what) {
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec || !value.is_object())
    return make_error("Kubernetes: " + what +
                      ": the API server answered something that is not a "
                      "JSON object");
  return std::move(value.as_object());
}

// ---------------------------------------------------------------------------------------------
// Deployments

std::vector<Container> containers_of(const json::object& pod_template) {
  std::vector<Container> out;
  const json::object* spec = object_at(pod_template, "spec");
  const json::value* list = spec != nullptr ? spec->if_contains("containers") : nullptr;
  if (list == nullptr || !list->is_array())
    return out;
  for (const auto& entry : list->as_array()) {
    if (entry.is_object())
      out.push_back(
          {string_at(&entry.as_object(), "name"), string_at(&entry.as_object(), "image")});
  }
  return out;
}

// The container Shipmate deploys: the configured one, or the only one.
Result<Container> pick_container(const json::object& pod_template, const std::string& configured,
                                 const std::string& where) {
  std::vector<Container> containers = containers_of(pod_template);
  std::vector<std::string> names;
  for (const auto& container : containers)
    names.push_back(container.name);
  if (containers.empty())
    return make_error(where + " has no containers");
  if (!configured.empty()) {
    for (const auto& container : containers) {
      if (container.name == configured)
        return container;
    }
    return make_error(where + " has no container " + in_quotes(configured) +
                      " (its containers: " + join(names, ", ") + ")");
  }
  if (containers.size() == 1)
    return containers.front();
  return make_error(where + " has " + std::to_string(containers.size()) + " containers (" +
                    join(names, ", ") +
                    "); set the Kubernetes target's container to the one Shipmate deploys");
}

std::string version_of_image(const std::string& image) {
  auto ref = parse_image_ref(image);
  if (ref)
    return ref->version();
  // Not a reference we can parse: fall back to what follows the last ':' of the last segment.
  auto slash = image.rfind('/');
  auto colon = image.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash))
    return image.substr(colon + 1);
  return image;
}

RolloutState rollout_state(const json::object& deployment) {
  const json::object* meta = object_at(deployment, "metadata");
  const json::object* spec = object_at(deployment, "spec");
  const json::object* status = object_at(deployment, "status");
  const std::string name = string_at(meta, "name");
  RolloutState state;
  if (int_or(meta, "generation", 0) > int_or(status, "observedGeneration", 0)) {
    state.message = "Waiting for deployment spec update to be observed...";
    return state;
  }
  if (status != nullptr) {
    if (const json::value* conditions = status->if_contains("conditions");
        conditions != nullptr && conditions->is_array()) {
      for (const auto& entry : conditions->as_array()) {
        if (!entry.is_object())
          continue;
        if (string_at(&entry.as_object(), "type") == "Progressing" &&
            string_at(&entry.as_object(), "reason") == "ProgressDeadlineExceeded") {
          state.failed = true;
          state.message = "deployment " + in_quotes(name) + " exceeded its progress deadline";
          return state;
        }
      }
    }
  }
  const std::int64_t updated = int_or(status, "updatedReplicas", 0);
  const std::int64_t replicas = int_or(status, "replicas", 0);
  const std::int64_t available = int_or(status, "availableReplicas", 0);
  const std::string waiting = "Waiting for deployment " + in_quotes(name) + " rollout to finish: ";
  if (auto wanted = int_at(spec, "replicas"); wanted && updated < *wanted) {
    state.message = waiting + std::to_string(updated) + " out of " + std::to_string(*wanted) +
                    " new replicas have been updated...";
    return state;
  }
  if (replicas > updated) {
    state.message =
        waiting + std::to_string(replicas - updated) + " old replicas are pending termination...";
    return state;
  }
  if (available < updated) {
    state.message = waiting + std::to_string(available) + " of " + std::to_string(updated) +
                    " updated replicas are available...";
    return state;
  }
  state.done = true;
  state.message = "deployment " + in_quotes(name) + " successfully rolled out";
  return state;
}

// spec.selector as a label selector query string.
Result<std::string> selector_string(const json::object& deployment, const std::string& where) {
  const json::object* selector = object_path(deployment, {"spec", "selector"});
  if (selector == nullptr)
    return make_error(where + " has no spec.selector");
  std::vector<std::string> terms;
  if (const json::object* labels = object_at(*selector, "matchLabels")) {
    for (const auto& [key, value] : *labels) {
      if (value.is_string())
        terms.push_back(std::string(key) + "=" + std::string(value.as_string()));
    }
  }
  if (const json::value* expressions = selector->if_contains("matchExpressions");
      expressions != nullptr && expressions->is_array()) {
    for (const auto& entry : expressions->as_array()) {
      if (!entry.is_object())
        continue;
      const json::object& expression = entry.as_object();
      std::string key = string_at(&expression, "key");
      std::string op = string_at(&expression, "operator");
      std::vector<std::string> values;
      if (const json::value* list = expression.if_contains("values"); list && list->is_array()) {
        for (const auto& value : list->as_array()) {
          if (value.is_string())
            values.emplace_back(value.as_string());
        }
      }
      if (op == "In")
        terms.push_back(key + " in (" + join(values, ",") + ")");
      else if (op == "NotIn")
        terms.push_back(key + " notin (" + join(values, ",") + ")");
      else if (op == "Exists")
        terms.push_back(key);
      else if (op == "DoesNotExist")
        terms.push_back("!" + key);
      else
        return make_error(where + ": unknown selector operator " + in_quotes(op));
    }
  }
  if (terms.empty())
    return make_error(where + " has an empty selector");
  return join(terms, ",");
}

// ---------------------------------------------------------------------------------------------
// What restore()/apply()/roll_back() learned about an environment.

Observed observe(const json::object& deployment, const Container& container,
                 const std::string& where) {
  Observed observed;
  observed.image = container.image;
  observed.version = version_of_image(container.image);
  observed.revision =
      string_at(object_path(deployment, {"metadata", "annotations"}), kRevisionAnnotation);
  observed.where = where;
  observed.desired = int_or(object_at(deployment, "spec"), "replicas", 1);
  observed.available = int_or(object_at(deployment, "status"), "availableReplicas", 0);
  RolloutState state = rollout_state(deployment);
  if (!state.done)
    observed.state = state.message;
  return observed;
}

std::string summary(const Observed& observed) {
  std::string text = observed.where;
  if (!observed.revision.empty())
    text += " revision " + observed.revision;
  text += ", " + std::to_string(observed.available) + "/" + std::to_string(observed.desired) +
          " available";
  if (!observed.state.empty())
    text += " (" + observed.state + ")";
  return text;
}

// The strategic merge patch that points `container` at `image`. The resourceVersion makes it
// conditional on the state it was computed from.
std::string image_patch(const json::object& current, const std::string& container,
                        const std::string& image, const std::string& version,
                        const std::string& cause) {
  json::object patch{
      {"metadata",
       json::object{
           {"resourceVersion", string_at(object_at(current, "metadata"), "resourceVersion")},
           {"annotations", json::object{{kChangeCause, cause}, {kVersionAnnotation, version}}}}},
      {"spec",
       json::object{
           {"template",
            json::object{{"metadata", json::object{{"annotations",
                                                    json::object{{kVersionAnnotation, version}}}}},
                         {"spec", json::object{{"containers",
                                                json::array{json::object{{"name", container},
                                                                         {"image", image}}}}}}}}}}};
  return json::serialize(patch);
}

// A JSON patch that puts `pod_template` back (what `kubectl rollout undo` sends), with
// `annotations` for the Deployment and its resourceVersion as a precondition.
std::string template_patch(const json::object& current, const json::object& pod_template,
                           const json::object& annotations) {
  json::array operations{
      json::object{{"op", "replace"},
                   {"path", "/metadata/resourceVersion"},
                   {"value", string_at(object_at(current, "metadata"), "resourceVersion")}},
      json::object{{"op", "replace"}, {"path", "/spec/template"}, {"value", pod_template}},
      json::object{{"op", "add"}, {"path", "/metadata/annotations"}, {"value", annotations}}};
  return json::serialize(operations);
}

json::object deployment_annotations(const json::object& deployment) {
  const json::object* annotations = object_path(deployment, {"metadata", "annotations"});
  return annotations != nullptr ? *annotations : json::object();
}

}  // namespace kube

// ---------------------------------------------------------------------------------------------

using kube::in_quotes;
using kube::valid_name;

// ---------------------------------------------------------------------------------------------

Status validate_kubernetes_config(const KubernetesTargetConfig& config) {
  std::vector<std::string> problems;
  if (!valid_name(config.deployment, true, 253))
    problems.push_back("deployment " + in_quotes(config.deployment) +
                       " is not a Kubernetes object name (lowercase letters, digits, '-', '.')");
  if (!config.container.empty() && !valid_name(config.container, false, 63))
    problems.push_back("container " + in_quotes(config.container) +
                       " is not a Kubernetes container name");
  for (const auto& [environment, ns] : config.namespaces) {
    if (!ns.empty() && !valid_name(ns, false, 63))
      problems.push_back("namespace " + in_quotes(ns) + " of environment " + environment +
                         " is not a Kubernetes namespace name");
  }
  if (config.namespaces.empty())
    problems.push_back("no environments: map each environment to a namespace");
  auto repository = parse_image_ref(config.image_repository);
  if (!repository)
    problems.push_back("image repository: " + repository.error().message);
  else if (!repository->tag.empty() || !repository->digest.empty())
    problems.push_back("image repository " + in_quotes(config.image_repository) +
                       " must not carry a tag or digest; the version supplies it");
  if (!config.credentials.in_cluster && config.credentials.kubeconfig.empty())
    problems.push_back("credentials: name a kubeconfig, or use in-cluster credentials");
  if (config.rollout_timeout.count() <= 0 || config.poll_interval.count() <= 0 ||
      config.watch_window.count() <= 0 || config.request_timeout.count() <= 0)
    problems.push_back(
        "rollout_timeout, poll_interval, watch_window and request_timeout must be "
        "positive");
  if (config.conflict_retries < 0)
    problems.push_back("conflict_retries must not be negative");
  if (problems.empty())
    return Ok{};
  return make_error("Kubernetes target for " + config.service + ": " + join(problems, "; "));
}

Result<KubeCredentials> load_kubernetes_credentials(const KubernetesCredentialsSource& source) {
  if (source.in_cluster)
    return load_in_cluster(InClusterSource::from_environment());
  std::optional<std::string> context;
  if (!source.context.empty())
    context = source.context;
  return load_kubeconfig(source.kubeconfig, context);
}

}  // namespace shipmate::integrations
