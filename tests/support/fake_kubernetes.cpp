#include "tests/support/fake_kubernetes.h"

#include <sys/stat.h>

#include <algorithm>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <boost/json.hpp>

namespace shipmate::testing {

namespace {

namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kRevision = "deployment.kubernetes.io/revision";
constexpr const char* kHashLabel = "pod-template-hash";

// ---------------------------------------------------------------------------------------------
// JSON helpers

json::object& child(json::object& parent, std::string_view key) {
  json::value& value = parent[key];
  if (!value.is_object())
    value = json::object();
  return value.as_object();
}

const json::object* child(const json::object& parent, std::string_view key) {
  const json::value* value = parent.if_contains(key);
  return value != nullptr && value->is_object() ? &value->as_object() : nullptr;
}

std::string string_at(const json::object& parent, std::string_view key) {
  const json::value* value = parent.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->as_string()) : std::string();
}

std::int64_t int_at(const json::object& parent, std::string_view key, std::int64_t fallback = 0) {
  const json::value* value = parent.if_contains(key);
  if (value == nullptr)
    return fallback;
  if (value->is_int64())
    return value->as_int64();
  if (value->is_uint64())
    return static_cast<std::int64_t>(value->as_uint64());
  return fallback;
}

std::string meta_string(const json::object& object, std::string_view key) {
  const json::object* meta = child(object, "metadata");
  return meta != nullptr ? string_at(*meta, key) : std::string();
}

std::string annotation(const json::object& object, std::string_view key) {
  const json::object* meta = child(object, "metadata");
  const json::object* annotations = meta != nullptr ? child(*meta, "annotations") : nullptr;
  return annotations != nullptr ? string_at(*annotations, key) : std::string();
}

// Keys sorted at every level: the same template always hashes the same.
void write_canonical(const json::value& value, std::string& out) {
  if (value.is_object()) {
    std::vector<std::string_view> keys;
    for (const auto& entry : value.as_object())
      keys.push_back(entry.key());
    std::sort(keys.begin(), keys.end());
    out += '{';
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (i > 0)
        out += ',';
      out += json::serialize(json::value(keys[i]));
      out += ':';
      write_canonical(value.as_object().at(keys[i]), out);
    }
    out += '}';
  } else if (value.is_array()) {
    out += '[';
    bool first = true;
    for (const auto& item : value.as_array()) {
      if (!first)
        out += ',';
      first = false;
      write_canonical(item, out);
    }
    out += ']';
  } else {
    out += json::serialize(value);
  }
}

// Like the controller's hash: short, from a consonant-and-digit alphabet so it never spells words.
std::string template_hash(const json::value& pod_template) {
  std::string canonical;
  write_canonical(pod_template, canonical);
  std::uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : canonical) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  for (int i = 0; i < 10; ++i) {
    out += kAlphabet[hash % (sizeof kAlphabet - 1)];
    hash /= (sizeof kAlphabet - 1);
  }
  return out;
}

json::object without_hash_label(json::object pod_template) {
  if (auto* meta = pod_template.if_contains("metadata"); meta != nullptr && meta->is_object()) {
    if (auto* labels = meta->as_object().if_contains("labels"); labels && labels->is_object())
      labels->as_object().erase(kHashLabel);
  }
  return pod_template;
}

std::string rfc3339_now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

json::object status_object(int code, std::string_view reason, std::string_view message,
                           json::object details = {}) {
  json::object status{{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
                      {"status", "Failure"}, {"message", message}, {"reason", reason},
                      {"code", code}};
  if (!details.empty())
    status["details"] = std::move(details);
  return status;
}

FakeResponse status_response(int code, std::string_view reason, std::string_view message,
                             json::object details = {}) {
  return FakeResponse::json(
      code, json::serialize(status_object(code, reason, message, std::move(details))));
}

FakeResponse not_found(std::string_view resource, std::string_view name) {
  return status_response(404, "NotFound",
                         std::string(resource) + ".apps \"" + std::string(name) + "\" not found",
                         json::object{{"name", name}, {"group", "apps"}, {"kind", resource}});
}

// ---------------------------------------------------------------------------------------------
// Patches

// Lists strategic merge patch merges element-wise, and the key that identifies an element.
std::string merge_key_for(std::string_view field) {
  static const std::map<std::string_view, std::string_view> keys = {{"containers", "name"},
                                                                    {"initContainers", "name"},
                                                                    {"ephemeralContainers", "name"},
                                                                    {"env", "name"},
                                                                    {"volumes", "name"},
                                                                    {"imagePullSecrets", "name"},
                                                                    {"volumeMounts", "mountPath"},
                                                                    {"ports", "containerPort"},
                                                                    {"conditions", "type"},
                                                                    {"ownerReferences", "uid"}};
  auto it = keys.find(field);
  return it == keys.end() ? std::string() : std::string(it->second);
}

json::value strip_directives(const json::value& value) {
  if (value.is_object()) {
    json::object out;
    for (const auto& [key, item] : value.as_object()) {
      if (!key.starts_with("$"))
        out[key] = strip_directives(item);
    }
    return out;
  }
  if (value.is_array()) {
    json::array out;
    for (const auto& item : value.as_array())
      out.push_back(strip_directives(item));
    return out;
  }
  return value;
}

void strategic_merge(json::object& target, const json::object& patch);

void strategic_merge_list(json::array& target, const json::array& patch, const std::string& key) {
  for (const auto& element : patch) {
    if (!element.is_object()) {
      target.push_back(element);
      continue;
    }
    const auto& patch_item = element.as_object();
    const json::value* id = patch_item.if_contains(key);
    auto found = std::find_if(target.begin(), target.end(), [&](const json::value& existing) {
      return id != nullptr && existing.is_object() && existing.as_object().if_contains(key) &&
             existing.as_object().at(key) == *id;
    });
    if (string_at(patch_item, "$patch") == "delete") {
      if (found != target.end())
        target.erase(found);
      continue;
    }
    if (found != target.end() && found->is_object())
      strategic_merge(found->as_object(), patch_item);
    else
      target.push_back(strip_directives(element));
  }
}

void strategic_merge(json::object& target, const json::object& patch) {
  if (string_at(patch, "$patch") == "replace") {
    target = strip_directives(patch).as_object();
    return;
  }
  for (const auto& [key, value] : patch) {
    if (key.starts_with("$"))
      continue;  // $setElementOrder/..., $retainKeys, $deleteFromPrimitiveList/...: order hints
    if (value.is_null()) {
      target.erase(key);
      continue;
    }
    json::value* existing = target.if_contains(key);
    if (existing != nullptr && existing->is_object() && value.is_object()) {
      strategic_merge(existing->as_object(), value.as_object());
      continue;
    }
    std::string list_key = merge_key_for(key);
    if (existing != nullptr && existing->is_array() && value.is_array() && !list_key.empty()) {
      strategic_merge_list(existing->as_array(), value.as_array(), list_key);
      continue;
    }
    target[key] = strip_directives(value);
  }
}

void merge_patch(json::object& target, const json::object& patch) {
  for (const auto& [key, value] : patch) {
    if (value.is_null()) {
      target.erase(key);
    } else if (value.is_object()) {
      json::value& slot = target[key];
      if (!slot.is_object())
        slot = json::object();
      merge_patch(slot.as_object(), value.as_object());
    } else {
      target[key] = value;
    }
  }
}

std::vector<std::string> pointer_tokens(std::string_view pointer) {
  std::vector<std::string> tokens;
  if (pointer.empty())
    return tokens;
  if (pointer.front() != '/')
    throw std::invalid_argument("JSON pointer must start with '/'");
  std::size_t start = 1;
  for (;;) {
    auto slash = pointer.find('/', start);
    std::string token(pointer.substr(start, slash - start));
    std::string decoded;
    for (std::size_t i = 0; i < token.size(); ++i) {
      if (token[i] == '~' && i + 1 < token.size() && (token[i + 1] == '0' || token[i + 1] == '1')) {
        decoded += token[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        decoded += token[i];
      }
    }
    tokens.push_back(decoded);
    if (slash == std::string_view::npos)
      return tokens;
    start = slash + 1;
  }
}

std::size_t array_index(const json::array& array, const std::string& token, bool allow_end) {
  if (token == "-" && allow_end)
    return array.size();
  if (token.empty() || !std::all_of(token.begin(), token.end(), ::isdigit))
    throw std::invalid_argument("bad array index " + token);
  std::size_t index = std::stoul(token);
  if (index > array.size() || (!allow_end && index == array.size()))
    throw std::invalid_argument("array index " + token + " out of range");
  return index;
}

json::value* resolve_pointer(json::value& root, const std::vector<std::string>& tokens,
                             std::size_t count) {
  json::value* at = &root;
  for (std::size_t i = 0; i < count; ++i) {
    if (at->is_object()) {
      at = at->as_object().if_contains(tokens[i]);
    } else if (at->is_array()) {
      at = &at->as_array()[array_index(at->as_array(), tokens[i], false)];
    } else {
      at = nullptr;
    }
    if (at == nullptr)
      throw std::invalid_argument("path not found");
  }
  return at;
}

void pointer_remove(json::value& root, const std::vector<std::string>& tokens) {
  if (tokens.empty())
    throw std::invalid_argument("cannot remove the root");
  json::value* parent = resolve_pointer(root, tokens, tokens.size() - 1);
  if (parent->is_object()) {
    if (parent->as_object().erase(tokens.back()) == 0)
      throw std::invalid_argument("path not found");
  } else if (parent->is_array()) {
    auto& array = parent->as_array();
    array.erase(array.begin() +
                static_cast<std::ptrdiff_t>(array_index(array, tokens.back(), false)));
  } else {
    throw std::invalid_argument("path not found");
  }
}

void pointer_add(json::value& root, const std::vector<std::string>& tokens, json::value value,
                 bool replace) {
  if (tokens.empty()) {
    root = std::move(value);
    return;
  }
  json::value* parent = resolve_pointer(root, tokens, tokens.size() - 1);
  if (parent->is_object()) {
    auto& object = parent->as_object();
    if (replace && !object.contains(tokens.back()))
      throw std::invalid_argument("replace of a missing member " + tokens.back());
    object[tokens.back()] = std::move(value);
  } else if (parent->is_array()) {
    auto& array = parent->as_array();
    std::size_t index = array_index(array, tokens.back(), !replace);
    if (replace)
      array[index] = std::move(value);
    else
      array.insert(array.begin() + static_cast<std::ptrdiff_t>(index), std::move(value));
  } else {
    throw std::invalid_argument("path not found");
  }
}

// RFC 6902.
void json_patch(json::value& root, const json::array& operations) {
  for (const auto& entry : operations) {
    if (!entry.is_object())
      throw std::invalid_argument("operation is not an object");
    const auto& operation = entry.as_object();
    std::string op = string_at(operation, "op");
    auto path = pointer_tokens(string_at(operation, "path"));
    const json::value* value = operation.if_contains("value");
    if (op == "add" || op == "replace") {
      if (value == nullptr)
        throw std::invalid_argument(op + " without a value");
      pointer_add(root, path, *value, op == "replace");
    } else if (op == "remove") {
      pointer_remove(root, path);
    } else if (op == "test") {
      if (value == nullptr || *resolve_pointer(root, path, path.size()) != *value)
        throw std::invalid_argument("test operation failed");
    } else if (op == "move" || op == "copy") {
      auto from = pointer_tokens(string_at(operation, "from"));
      json::value copy = *resolve_pointer(root, from, from.size());
      if (op == "move")
        pointer_remove(root, from);
      pointer_add(root, path, std::move(copy), false);
    } else {
      throw std::invalid_argument("unknown operation \"" + op + "\"");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Selectors

struct Requirement {
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kNotExists };
  std::string key;
  Op op = Op::kEquals;
  std::vector<std::string> values;
};

std::string trimmed(std::string_view text) {
  while (!text.empty() && text.front() == ' ')
    text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ')
    text.remove_suffix(1);
  return std::string(text);
}

std::optional<std::vector<Requirement>> parse_selector(std::string_view text) {
  std::vector<Requirement> out;
  std::vector<std::string> terms;
  int depth = 0;
  std::string current;
  for (char c : text) {
    if (c == '(')
      ++depth;
    if (c == ')')
      --depth;
    if (c == ',' && depth == 0) {
      terms.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty())
    terms.push_back(current);
  for (const auto& raw : terms) {
    std::string term = trimmed(raw);
    if (term.empty())
      continue;
    Requirement requirement;
    auto set_values = [&](std::string_view list) -> bool {
      auto open = list.find('(');
      auto close = list.rfind(')');
      if (open == std::string_view::npos || close == std::string_view::npos || close < open)
        return false;
      std::string_view inside = list.substr(open + 1, close - open - 1);
      std::size_t start = 0;
      for (;;) {
        auto comma = inside.find(',', start);
        requirement.values.push_back(trimmed(inside.substr(start, comma - start)));
        if (comma == std::string_view::npos)
          return true;
        start = comma + 1;
      }
    };
    if (auto pos = term.find(" notin "); pos != std::string::npos) {
      requirement.key = trimmed(term.substr(0, pos));
      requirement.op = Requirement::Op::kNotIn;
      if (!set_values(std::string_view(term).substr(pos + 7)))
        return std::nullopt;
    } else if (auto in = term.find(" in "); in != std::string::npos) {
      requirement.key = trimmed(term.substr(0, in));
      requirement.op = Requirement::Op::kIn;
      if (!set_values(std::string_view(term).substr(in + 4)))
        return std::nullopt;
    } else if (auto ne = term.find("!="); ne != std::string::npos) {
      requirement.key = trimmed(term.substr(0, ne));
      requirement.op = Requirement::Op::kNotEquals;
      requirement.values.push_back(trimmed(term.substr(ne + 2)));
    } else if (auto eq = term.find('='); eq != std::string::npos) {
      requirement.key = trimmed(term.substr(0, eq));
      std::size_t skip = eq + 1 < term.size() && term[eq + 1] == '=' ? 2 : 1;
      requirement.values.push_back(trimmed(term.substr(eq + skip)));
    } else if (term.front() == '!') {
      requirement.key = trimmed(term.substr(1));
      requirement.op = Requirement::Op::kNotExists;
    } else {
      requirement.key = term;
      requirement.op = Requirement::Op::kExists;
    }
    if (requirement.key.empty())
      return std::nullopt;
    out.push_back(std::move(requirement));
  }
  return out;
}

bool matches(const std::vector<Requirement>& requirements,
             const std::function<std::optional<std::string>(const std::string&)>& lookup) {
  for (const auto& requirement : requirements) {
    std::optional<std::string> value = lookup(requirement.key);
    bool in_values = value && std::find(requirement.values.begin(), requirement.values.end(),
                                        *value) != requirement.values.end();
    switch (requirement.op) {
      case Requirement::Op::kEquals:
      case Requirement::Op::kIn:
        if (!in_values)
          return false;
        break;
      case Requirement::Op::kNotEquals:
      case Requirement::Op::kNotIn:
        if (in_values)
          return false;
        break;
      case Requirement::Op::kExists:
        if (!value)
          return false;
        break;
      case Requirement::Op::kNotExists:
        if (value)
          return false;
        break;
    }
  }
  return true;
}

struct Filter {
  std::string resource;  // "deployments" or "replicasets"
  std::string ns;        // empty: every namespace
  std::vector<Requirement> labels;
  std::vector<Requirement> fields;

  bool accepts(const std::string& object_resource, const json::object& object) const {
    if (object_resource != resource)
      return false;
    if (!ns.empty() && meta_string(object, "namespace") != ns)
      return false;
    const json::object* meta = child(object, "metadata");
    const json::object* label_map = meta != nullptr ? child(*meta, "labels") : nullptr;
    bool labels_ok = matches(labels, [&](const std::string& key) -> std::optional<std::string> {
      if (label_map == nullptr || !label_map->contains(key))
        return std::nullopt;
      return string_at(*label_map, key);
    });
    bool fields_ok = matches(fields, [&](const std::string& key) -> std::optional<std::string> {
      if (key == "metadata.name")
        return meta_string(object, "name");
      if (key == "metadata.namespace")
        return meta_string(object, "namespace");
      return std::nullopt;
    });
    return labels_ok && fields_ok;
  }
};

// ---------------------------------------------------------------------------------------------
// Discovery documents

json::object deployment_resource(const char* name, const char* singular, const char* kind,
                                 json::array short_names) {
  return json::object{{"name", name},
                      {"singularName", singular},
                      {"namespaced", true},
                      {"kind", kind},
                      {"verbs", json::array{"create", "delete", "deletecollection", "get", "list",
                                            "patch", "update", "watch"}},
                      {"shortNames", std::move(short_names)},
                      {"categories", json::array{"all"}},
                      {"storageVersionHash", "fakehash="}};
}

json::object subresource(const char* name, const char* kind) {
  return json::object{{"name", name},
                      {"singularName", ""},
                      {"namespaced", true},
                      {"kind", kind},
                      {"verbs", json::array{"get", "patch", "update"}}};
}

json::object apps_group() {
  json::object version{{"groupVersion", "apps/v1"}, {"version", "v1"}};
  return json::object{
      {"name", "apps"}, {"versions", json::array{version}}, {"preferredVersion", version}};
}

constexpr const char* kRbacGroup = "rbac.authorization.k8s.io";

json::object rbac_group() {
  json::object version{{"groupVersion", std::string(kRbacGroup) + "/v1"}, {"version", "v1"}};
  return json::object{
      {"name", kRbacGroup}, {"versions", json::array{version}}, {"preferredVersion", version}};
}

// A namespaced kind the fake only knows by name (so `kubectl apply --dry-run=client` can map a
// manifest): it holds none, so every read of one is 404 NotFound.
json::object known_resource(const char* name, const char* singular, const char* kind) {
  return json::object{{"name", name},
                      {"singularName", singular},
                      {"namespaced", true},
                      {"kind", kind},
                      {"verbs", json::array{"create", "delete", "deletecollection", "get", "list",
                                            "patch", "update", "watch"}}};
}

// {"pvc" ...} plural names of the kinds above per group, for the 404 answers.
bool known_empty_resource(std::string_view group_version, std::string_view plural) {
  if (group_version == "v1")
    return plural == "serviceaccounts" || plural == "configmaps" || plural == "secrets" ||
           plural == "persistentvolumeclaims" || plural == "services";
  return group_version == "rbac.authorization.k8s.io/v1" &&
         (plural == "roles" || plural == "rolebindings");
}

struct Key {
  std::string ns;
  std::string name;
  auto operator<=>(const Key&) const = default;
};

struct Event {
  std::uint64_t rv = 0;
  std::string resource;
  std::string type;
  json::object object;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

struct FakeKubernetes::Impl {
  Options options;

  mutable std::mutex mu;
  std::condition_variable wake;
  std::map<Key, json::object> deployments;  // under mu, each with kind/apiVersion
  std::map<Key, json::object> replicasets;
  std::map<Key, SteadyClock::time_point> last_progress;
  std::uint64_t resource_version = 1000;
  std::uint64_t compacted_through = 0;
  std::deque<Event> events;
  std::uint64_t uid_counter = 0;

  std::string broken_image;
  int conflicts_left = 0;
  bool credentials_rejected = false;
  int failures_left = 0;
  int failure_status = 500;
  std::string failure_prefix;
  int expiries_left = 0;
  WatchExpiry expiry = WatchExpiry::error_event;
  bool paused = false;
  bool watches_refused = false;
  bool stopping = false;
  int watches = 0;
  std::map<std::string, int> lists;

  std::thread controller;
  std::unique_ptr<FakeHttpServer> server;

  // -------------------------------------------------------------------------------------------
  // Store (mu held)

  std::string next_uid() {
    char buffer[40];
    std::snprintf(buffer, sizeof buffer, "6f1c2d3e-0000-4000-8000-%012llx",
                  static_cast<unsigned long long>(++uid_counter));
    return buffer;
  }

  void record(const std::string& resource, const std::string& type, json::object& object) {
    ++resource_version;
    child(object, "metadata")["resourceVersion"] = std::to_string(resource_version);
    events.push_back(Event{resource_version, resource, type, object});
    // A bounded history, like etcd's compaction window.
    while (events.size() > 5000) {
      compacted_through = events.front().rv;
      events.pop_front();
    }
  }

  std::vector<Key> owned_replicasets(const json::object& deployment) const {
    std::string uid = meta_string(deployment, "uid");
    std::string ns = meta_string(deployment, "namespace");
    std::vector<Key> out;
    for (const auto& [key, rs] : replicasets) {
      if (key.ns != ns)
        continue;
      const json::object* meta = child(rs, "metadata");
      const json::value* owners = meta != nullptr ? meta->if_contains("ownerReferences") : nullptr;
      if (owners == nullptr || !owners->is_array())
        continue;
      for (const auto& owner : owners->as_array()) {
        if (owner.is_object() && string_at(owner.as_object(), "uid") == uid)
          out.push_back(key);
      }
    }
    return out;
  }

  static std::int64_t revision_of(const json::object& object) {
    std::string text = annotation(object, kRevision);
    return text.empty() ? 0 : std::stoll(text);
  }

  // The annotations a ReplicaSet takes over from its Deployment (change-cause and the like).
  static void copy_annotations(const json::object& deployment, json::object& rs_annotations) {
    const json::object* meta = child(deployment, "metadata");
    const json::object* annotations = meta != nullptr ? child(*meta, "annotations") : nullptr;
    if (annotations == nullptr)
      return;
    for (const auto& [key, value] : *annotations) {
      if (key.starts_with("deployment.kubernetes.io/") ||
          key == "kubectl.kubernetes.io/last-applied-configuration")
        continue;
      rs_annotations[key] = value;
    }
  }

  Key create_replicaset(const Key& deployment_key, const json::object& deployment,
                        std::int64_t revision) {
    const json::object& spec = deployment.at("spec").as_object();
    json::object pod_template = spec.at("template").as_object();
    std::string hash = template_hash(pod_template);
    child(child(pod_template, "metadata"), "labels")[kHashLabel] = hash;
    json::object labels = child(pod_template, "metadata")["labels"].as_object();
    json::object selector;
    if (const json::object* original = child(spec, "selector"))
      selector = *original;
    child(selector, "matchLabels")[kHashLabel] = hash;
    std::int64_t replicas = int_at(spec, "replicas", 1);
    json::object annotations{
        {"deployment.kubernetes.io/desired-replicas", std::to_string(replicas)},
        {"deployment.kubernetes.io/max-replicas", std::to_string(replicas + 1)},
        {kRevision, std::to_string(revision)}};
    copy_annotations(deployment, annotations);
    Key key{deployment_key.ns, deployment_key.name + "-" + hash};
    json::object rs{
        {"kind", "ReplicaSet"},
        {"apiVersion", "apps/v1"},
        {"metadata", json::object{{"name", key.name},
                                  {"namespace", key.ns},
                                  {"uid", next_uid()},
                                  {"generation", 1},
                                  {"creationTimestamp", rfc3339_now()},
                                  {"labels", labels},
                                  {"annotations", annotations},
                                  {"ownerReferences",
                                   json::array{json::object{{"apiVersion", "apps/v1"},
                                                            {"kind", "Deployment"},
                                                            {"name", deployment_key.name},
                                                            {"uid", meta_string(deployment, "uid")},
                                                            {"controller", true},
                                                            {"blockOwnerDeletion", true}}}}}},
        {"spec", json::object{{"replicas", 0}, {"selector", selector}, {"template", pod_template}}},
        {"status", json::object{{"replicas", 0}, {"observedGeneration", 1}}}};
    record("replicasets", "ADDED", rs);
    replicasets[key] = rs;
    return key;
  }

  bool uses_broken_image(const json::object& rs) const {
    if (broken_image.empty())
      return false;
    const json::value* containers = nullptr;
    try {
      containers = &rs.at("spec").at("template").at("spec").at("containers");
    } catch (const std::exception&) {
      return false;
    }
    if (!containers->is_array())
      return false;
    for (const auto& container : containers->as_array()) {
      if (container.is_object() && string_at(container.as_object(), "image") == broken_image)
        return true;
    }
    return false;
  }

  static void set_condition(json::object& status, const std::string& type, const std::string& value,
                            const std::string& reason, const std::string& message) {
    json::value& list = status["conditions"];
    if (!list.is_array())
      list = json::array();
    std::string now = rfc3339_now();
    for (auto& entry : list.as_array()) {
      auto& condition = entry.as_object();
      if (string_at(condition, "type") != type)
        continue;
      if (string_at(condition, "status") == value && string_at(condition, "reason") == reason &&
          string_at(condition, "message") == message)
        return;
      if (string_at(condition, "status") != value)
        condition["lastTransitionTime"] = now;
      condition["status"] = value;
      condition["reason"] = reason;
      condition["message"] = message;
      condition["lastUpdateTime"] = now;
      return;
    }
    list.as_array().push_back(json::object{{"type", type},
                                           {"status", value},
                                           {"lastUpdateTime", now},
                                           {"lastTransitionTime", now},
                                           {"reason", reason},
                                           {"message", message}});
  }

  static std::string condition_reason(const json::object& status, const std::string& type) {
    const json::value* list = status.if_contains("conditions");
    if (list == nullptr || !list->is_array())
      return {};
    for (const auto& entry : list->as_array()) {
      if (entry.is_object() && string_at(entry.as_object(), "type") == type)
        return string_at(entry.as_object(), "reason");
    }
    return {};
  }

  // One controller step for one Deployment; `ignore_broken` settles seeds instantly.
  void reconcile(const Key& key, bool ignore_broken) {
    json::object& deployment = deployments.at(key);
    const json::object before = deployment;
    json::object& meta = child(deployment, "metadata");
    json::object& spec = child(deployment, "spec");
    json::object& status = child(deployment, "status");
    const std::int64_t generation = int_at(meta, "generation", 1);
    const std::int64_t desired = int_at(spec, "replicas", 1);
    const auto now = SteadyClock::now();

    const json::object pod_template = spec.at("template").as_object();
    std::vector<Key> owned = owned_replicasets(deployment);
    std::optional<Key> current;
    std::int64_t max_revision = 0;
    for (const auto& rs_key : owned) {
      const json::object& rs = replicasets.at(rs_key);
      max_revision = std::max(max_revision, revision_of(rs));
      if (json::value(without_hash_label(rs.at("spec").at("template").as_object())) ==
          json::value(pod_template))
        current = rs_key;
    }
    if (generation > int_at(status, "observedGeneration")) {
      if (!current) {
        current = create_replicaset(key, deployment, max_revision + 1);
      } else if (revision_of(replicasets.at(*current)) != max_revision) {
        json::object& rs = replicasets.at(*current);
        json::object& annotations = child(child(rs, "metadata"), "annotations");
        annotations[kRevision] = std::to_string(max_revision + 1);
        copy_annotations(deployment, annotations);
        record("replicasets", "MODIFIED", rs);
      }
      child(meta, "annotations")[kRevision] =
          std::string(annotation(replicasets.at(*current), kRevision));
      status["observedGeneration"] = generation;
      last_progress[key] = now;
      set_condition(status, "Progressing", "True", "ReplicaSetUpdated",
                    "ReplicaSet \"" + current->name + "\" is progressing.");
      owned = owned_replicasets(deployment);
    }
    if (!current)
      return;  // a template change the controller has not observed yet

    bool progressed = false;
    json::object& fresh = replicasets.at(*current);
    const json::object fresh_before = fresh;
    json::object& fresh_spec = child(fresh, "spec");
    json::object& fresh_status = child(fresh, "status");
    std::int64_t fresh_replicas = int_at(fresh_spec, "replicas");
    const bool broken = !ignore_broken && uses_broken_image(fresh);
    // Pods created on the previous step are ready now (unless their image is broken).
    if (!broken && int_at(fresh_status, "availableReplicas") < int_at(fresh_status, "replicas")) {
      fresh_status["readyReplicas"] = int_at(fresh_status, "replicas");
      fresh_status["availableReplicas"] = int_at(fresh_status, "replicas");
      progressed = true;
    }
    if (fresh_replicas < desired) {
      ++fresh_replicas;  // maxSurge 1
      progressed = true;
    } else if (fresh_replicas > desired) {
      fresh_replicas = desired;
    }
    fresh_spec["replicas"] = fresh_replicas;
    fresh_status["replicas"] = fresh_replicas;
    fresh_status["fullyLabeledReplicas"] = fresh_replicas;
    fresh_status["readyReplicas"] = std::min(int_at(fresh_status, "readyReplicas"), fresh_replicas);
    fresh_status["availableReplicas"] =
        std::min(int_at(fresh_status, "availableReplicas"), fresh_replicas);
    const std::int64_t fresh_available = int_at(fresh_status, "availableReplicas");
    if (fresh != fresh_before)
      record("replicasets", "MODIFIED", fresh);

    // Old ReplicaSets: pods asked to stop last step are gone now; scale down what the new
    // ReplicaSet's available pods replace.
    std::sort(owned.begin(), owned.end(), [&](const Key& a, const Key& b) {
      return revision_of(replicasets.at(a)) < revision_of(replicasets.at(b));
    });
    std::int64_t old_allowed = std::max<std::int64_t>(0, desired - fresh_available);
    std::int64_t old_total = 0;
    for (const auto& rs_key : owned) {
      if (rs_key != *current)
        old_total += int_at(replicasets.at(rs_key).at("spec").as_object(), "replicas");
    }
    for (const auto& rs_key : owned) {
      if (rs_key == *current)
        continue;
      json::object& rs = replicasets.at(rs_key);
      const json::object rs_before = rs;
      json::object& rs_spec = child(rs, "spec");
      json::object& rs_status = child(rs, "status");
      std::int64_t replicas = int_at(rs_spec, "replicas");
      rs_status["replicas"] = replicas;  // terminated since the last step
      if (old_total > old_allowed && replicas > 0) {
        std::int64_t cut = std::min(replicas, old_total - old_allowed);
        replicas -= cut;
        old_total -= cut;
        rs_spec["replicas"] = replicas;
        progressed = true;
      }
      rs_status["readyReplicas"] = replicas;
      rs_status["availableReplicas"] = replicas;
      rs_status["fullyLabeledReplicas"] = int_at(rs_status, "replicas");
      if (rs != rs_before)
        record("replicasets", "MODIFIED", rs);
    }

    std::int64_t total = 0, ready = 0, available = 0;
    for (const auto& rs_key : owned) {
      const json::object& rs_status = replicasets.at(rs_key).at("status").as_object();
      total += int_at(rs_status, "replicas");
      ready += int_at(rs_status, "readyReplicas");
      available += int_at(rs_status, "availableReplicas");
    }
    const std::int64_t updated = fresh_replicas;
    status["replicas"] = total;
    status["updatedReplicas"] = updated;
    status["readyReplicas"] = ready;
    status["availableReplicas"] = available;
    status["unavailableReplicas"] = std::max<std::int64_t>(0, desired - available);
    const std::int64_t max_unavailable = desired / 4;
    if (available >= desired - max_unavailable)
      set_condition(status, "Available", "True", "MinimumReplicasAvailable",
                    "Deployment has minimum availability.");
    else
      set_condition(status, "Available", "False", "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.");

    const bool complete = updated == desired && total == desired && available == desired;
    const std::string rs_name = "ReplicaSet \"" + current->name + "\"";
    if (complete) {
      set_condition(status, "Progressing", "True", "NewReplicaSetAvailable",
                    rs_name + " has successfully progressed.");
    } else if (condition_reason(status, "Progressing") == "ProgressDeadlineExceeded") {
      // Stays failed until the template changes.
    } else if (progressed) {
      last_progress[key] = now;
      set_condition(status, "Progressing", "True", "ReplicaSetUpdated",
                    rs_name + " is progressing.");
    } else if (now - last_progress[key] > options.progress_deadline) {
      set_condition(status, "Progressing", "False", "ProgressDeadlineExceeded",
                    rs_name + " has timed out progressing.");
    }
    if (deployment != before)
      record("deployments", "MODIFIED", deployment);
  }

  void controller_loop() {
    std::unique_lock lock(mu);
    while (!stopping) {
      wake.wait_for(lock, options.tick);
      if (stopping)
        break;
      if (paused)
        continue;
      std::vector<Key> keys;
      for (const auto& [key, deployment] : deployments)
        keys.push_back(key);
      for (const auto& key : keys)
        reconcile(key, false);
    }
  }

  bool complete_locked(const Key& key) const {
    auto it = deployments.find(key);
    if (it == deployments.end())
      return false;
    const json::object& deployment = it->second;
    const json::object* status = child(deployment, "status");
    if (status == nullptr)
      return false;
    std::int64_t desired = int_at(deployment.at("spec").as_object(), "replicas", 1);
    return int_at(deployment.at("metadata").as_object(), "generation", 1) <=
               int_at(*status, "observedGeneration") &&
           int_at(*status, "updatedReplicas") == desired &&
           int_at(*status, "replicas") == desired &&
           int_at(*status, "availableReplicas") == desired;
  }

  // -------------------------------------------------------------------------------------------
  // HTTP

  FakeResponse handle(const FakeRequest& request) {
    std::unique_lock lock(mu);
    if (credentials_rejected)
      return status_response(401, "Unauthorized", "Unauthorized");
    const std::string authorization = request.header("Authorization");
    const bool token_ok = !options.token.empty() && authorization == "Bearer " + options.token;
    // With client_ca_file the TLS handshake already refused clients without a valid certificate.
    const bool certificate_ok = options.tls && !options.client_ca_file.empty();
    if (!token_ok && !certificate_ok)
      return status_response(401, "Unauthorized", "Unauthorized");
    if (failures_left > 0 && request.path.starts_with(failure_prefix)) {
      --failures_left;
      return status_response(failure_status,
                             failure_status == 503 ? "ServiceUnavailable" : "InternalError",
                             "an error on the server (\"injected failure\") has prevented the "
                             "request from succeeding");
    }
    return route(request);
  }

  FakeResponse route(const FakeRequest& request) {
    const std::string& path = request.path;
    if (request.method == "GET") {
      if (path == "/version") {
        std::string minor = options.server_version.substr(3);
        minor = minor.substr(0, minor.find('.'));
        return FakeResponse::json(
            200, json::serialize(json::object{{"major", "1"},
                                              {"minor", minor},
                                              {"gitVersion", options.server_version},
                                              {"gitCommit", std::string(40, '0')},
                                              {"gitTreeState", "clean"},
                                              {"buildDate", "2024-12-11T00:00:00Z"},
                                              {"goVersion", "go1.23.3"},
                                              {"compiler", "gc"},
                                              {"platform", "linux/amd64"}}));
      }
      if (path == "/api") {
        return FakeResponse::json(
            200, json::serialize(json::object{
                     {"kind", "APIVersions"},
                     {"versions", json::array{"v1"}},
                     {"serverAddressByClientCIDRs",
                      json::array{json::object{
                          {"clientCIDR", "0.0.0.0/0"},
                          {"serverAddress", "127.0.0.1:" + std::to_string(server->port())}}}}}));
      }
      if (path == "/apis") {
        return FakeResponse::json(200, json::serialize(json::object{
                                           {"kind", "APIGroupList"},
                                           {"apiVersion", "v1"},
                                           {"groups", json::array{apps_group(), rbac_group()}}}));
      }
      if (path == "/apis/apps") {
        json::object group = apps_group();
        group["kind"] = "APIGroup";
        group["apiVersion"] = "v1";
        return FakeResponse::json(200, json::serialize(group));
      }
      if (path == std::string("/apis/") + kRbacGroup) {
        json::object group = rbac_group();
        group["kind"] = "APIGroup";
        group["apiVersion"] = "v1";
        return FakeResponse::json(200, json::serialize(group));
      }
      if (path == std::string("/apis/") + kRbacGroup + "/v1") {
        return FakeResponse::json(
            200, json::serialize(json::object{
                     {"kind", "APIResourceList"},
                     {"apiVersion", "v1"},
                     {"groupVersion", std::string(kRbacGroup) + "/v1"},
                     {"resources",
                      json::array{known_resource("roles", "role", "Role"),
                                  known_resource("rolebindings", "rolebinding", "RoleBinding")}}}));
      }
      if (path == "/api/v1") {
        return FakeResponse::json(
            200,
            json::serialize(json::object{
                {"kind", "APIResourceList"},
                {"groupVersion", "v1"},
                {"resources",
                 json::array{json::object{{"name", "namespaces"},
                                          {"singularName", "namespace"},
                                          {"namespaced", false},
                                          {"kind", "Namespace"},
                                          {"verbs", json::array{"create", "delete", "get", "list",
                                                                "patch", "update", "watch"}},
                                          {"shortNames", json::array{"ns"}}},
                             known_resource("serviceaccounts", "serviceaccount", "ServiceAccount"),
                             known_resource("configmaps", "configmap", "ConfigMap"),
                             known_resource("secrets", "secret", "Secret"),
                             known_resource("persistentvolumeclaims", "persistentvolumeclaim",
                                            "PersistentVolumeClaim"),
                             known_resource("services", "service", "Service")}}}));
      }
      if (path == "/apis/apps/v1") {
        return FakeResponse::json(
            200,
            json::serialize(json::object{
                {"kind", "APIResourceList"},
                {"apiVersion", "v1"},
                {"groupVersion", "apps/v1"},
                {"resources", json::array{deployment_resource("deployments", "deployment",
                                                              "Deployment", json::array{"deploy"}),
                                          [] {
                                            json::object scale =
                                                subresource("deployments/scale", "Scale");
                                            scale["group"] = "autoscaling";
                                            scale["version"] = "v1";
                                            return scale;
                                          }(),
                                          subresource("deployments/status", "Deployment"),
                                          deployment_resource("replicasets", "replicaset",
                                                              "ReplicaSet", json::array{"rs"}),
                                          subresource("replicasets/status", "ReplicaSet")}}}));
      }
    }

    // kubectl looks up the namespace after a NotFound to say which of the two is missing.
    constexpr std::string_view kNamespaces = "/api/v1/namespaces/";
    if (request.method == "GET" && path.starts_with(kNamespaces) &&
        path.find('/', kNamespaces.size()) == std::string::npos) {
      std::string name = path.substr(kNamespaces.size());
      if (!namespace_exists(name))
        return status_response(404, "NotFound", "namespaces \"" + name + "\" not found",
                               json::object{{"name", name}, {"kind", "namespaces"}});
      return FakeResponse::json(
          200, json::serialize(json::object{
                   {"kind", "Namespace"},
                   {"apiVersion", "v1"},
                   {"metadata",
                    json::object{{"name", name},
                                 {"resourceVersion", "1"},
                                 {"labels", json::object{{"kubernetes.io/metadata.name", name}}}}},
                   {"spec", json::object{{"finalizers", json::array{"kubernetes"}}}},
                   {"status", json::object{{"phase", "Active"}}}}));
    }

    // The kinds known by name only: /api/v1/namespaces/{ns}/{plural}/{name} and the same under
    // /apis/rbac.authorization.k8s.io/v1/. There are none, so a read is the API's NotFound.
    for (const std::string_view group_version : {"v1", "rbac.authorization.k8s.io/v1"}) {
      const std::string prefix = std::string(group_version == "v1" ? "/api/" : "/apis/") +
                                 std::string(group_version) + "/namespaces/";
      if (request.method != "GET" || !path.starts_with(prefix))
        continue;
      const std::string rest = path.substr(prefix.size());  // {ns}/{plural}/{name}
      const auto first = rest.find('/');
      const auto second = first == std::string::npos ? first : rest.find('/', first + 1);
      if (second == std::string::npos)
        continue;
      const std::string plural = rest.substr(first + 1, second - first - 1);
      const std::string name = rest.substr(second + 1);
      if (!known_empty_resource(group_version, plural) || name.find('/') != std::string::npos)
        continue;
      return status_response(404, "NotFound", plural + " \"" + name + "\" not found",
                             json::object{{"name", name}, {"kind", plural}});
    }

    // /apis/apps/v1/[namespaces/{ns}/]{resource}[/{name}]
    constexpr std::string_view kPrefix = "/apis/apps/v1/";
    if (!path.starts_with(kPrefix))
      return not_found_path();
    std::vector<std::string> parts;
    {
      std::string_view rest = std::string_view(path).substr(kPrefix.size());
      std::size_t start = 0;
      while (start <= rest.size()) {
        auto slash = rest.find('/', start);
        parts.emplace_back(rest.substr(start, slash - start));
        if (slash == std::string_view::npos)
          break;
        start = slash + 1;
      }
    }
    std::string ns;
    if (parts.size() >= 3 && parts[0] == "namespaces") {
      ns = parts[1];
      parts.erase(parts.begin(), parts.begin() + 2);
    }
    if (parts.empty() || (parts[0] != "deployments" && parts[0] != "replicasets") ||
        parts.size() > 2)
      return not_found_path();
    const std::string resource = parts[0];
    auto& store = resource == "deployments" ? deployments : replicasets;
    if (parts.size() == 1) {
      if (request.method != "GET")
        return status_response(405, "MethodNotAllowed",
                               "the server does not allow this method on the requested resource");
      auto watch = request.query.find("watch");
      if (watch != request.query.end() && (watch->second == "true" || watch->second == "1"))
        return start_watch(request, resource, ns);
      return list(request, resource, ns);
    }
    if (ns.empty())
      return not_found_path();
    const Key key{ns, parts[1]};
    auto it = store.find(key);
    if (request.method == "GET") {
      if (it == store.end())
        return not_found(resource, key.name);
      if (resource == "deployments" && wants_table(request))
        return FakeResponse::json(
            200, deployment_table({it->second},
                                  request.header("Accept").find("v=v1;") != std::string::npos));
      return FakeResponse::json(200, json::serialize(it->second));
    }
    if (resource != "deployments" || (request.method != "PATCH" && request.method != "PUT"))
      return status_response(405, "MethodNotAllowed",
                             "the server does not allow this method on the requested resource");
    if (it == store.end())
      return not_found(resource, key.name);
    return write(request, key, it->second);
  }

  bool namespace_exists(const std::string& name) const {
    if (name == "default" || name == "kube-system")
      return true;
    for (const auto& [key, deployment] : deployments) {
      if (key.ns == name)
        return true;
    }
    return false;
  }

  static bool wants_table(const FakeRequest& request) {
    return request.header("Accept").find("as=Table") != std::string::npos;
  }

  // What `kubectl get deployments` prints: server-side columns, as a meta.k8s.io Table.
  std::string deployment_table(const std::vector<json::object>& items, bool v1) const {
    auto column = [](const char* name, const char* type, int priority, const char* format = "") {
      return json::object{{"name", name},
                          {"type", type},
                          {"format", format},
                          {"description", std::string(name) + " of the deployment"},
                          {"priority", priority}};
    };
    json::array rows;
    for (const auto& deployment : items) {
      const json::object& status = deployment.at("status").as_object();
      const json::object& spec = deployment.at("spec").as_object();
      std::vector<std::string> names, images;
      for (const auto& container : spec.at("template").at("spec").at("containers").as_array()) {
        names.push_back(string_at(container.as_object(), "name"));
        images.push_back(string_at(container.as_object(), "image"));
      }
      auto joined = [](const std::vector<std::string>& parts) {
        std::string out;
        for (const auto& part : parts)
          out += (out.empty() ? "" : ",") + part;
        return out;
      };
      std::string selector;
      if (const json::object* match = child(*child(spec, "selector"), "matchLabels")) {
        for (const auto& [key, value] : *match)
          selector += (selector.empty() ? "" : ",") + std::string(key) + "=" +
                      std::string(value.as_string());
      }
      json::object partial{{"kind", "PartialObjectMetadata"},
                           {"apiVersion", v1 ? "meta.k8s.io/v1" : "meta.k8s.io/v1beta1"},
                           {"metadata", deployment.at("metadata")}};
      rows.push_back(json::object{
          {"cells",
           json::array{deployment.at("metadata").at("name"),
                       std::to_string(int_at(status, "readyReplicas")) + "/" +
                           std::to_string(int_at(spec, "replicas", 1)),
                       int_at(status, "updatedReplicas"), int_at(status, "availableReplicas"), "1m",
                       joined(names), joined(images), selector}},
          {"object", partial}});
    }
    return json::serialize(json::object{
        {"kind", "Table"},
        {"apiVersion", v1 ? "meta.k8s.io/v1" : "meta.k8s.io/v1beta1"},
        {"metadata", json::object{{"resourceVersion", std::to_string(resource_version)}}},
        {"columnDefinitions",
         json::array{column("Name", "string", 0, "name"), column("Ready", "string", 0),
                     column("Up-to-date", "integer", 0), column("Available", "integer", 0),
                     column("Age", "string", 0), column("Containers", "string", 1),
                     column("Images", "string", 1), column("Selector", "string", 1)}},
        {"rows", std::move(rows)}});
  }

  static FakeResponse not_found_path() {
    return status_response(404, "NotFound", "the server could not find the requested resource");
  }

  FakeResponse write(const FakeRequest& request, const Key& key, json::object& stored) {
    const std::string conflict_message =
        "Operation cannot be fulfilled on deployments.apps \"" + key.name +
        "\": the object has been modified; please apply your changes to the latest version and "
        "try again";
    const json::object conflict_details{
        {"name", key.name}, {"group", "apps"}, {"kind", "deployments"}};
    if (conflicts_left > 0) {
      --conflicts_left;
      return status_response(409, "Conflict", conflict_message, conflict_details);
    }
    std::string content_type = request.header("Content-Type");
    content_type = content_type.substr(0, content_type.find(';'));
    boost::system::error_code ec;
    json::value body = json::parse(request.body, ec);
    if (ec)
      return status_response(400, "BadRequest", "error decoding patch: " + ec.message());
    json::value patched = stored;
    try {
      if (request.method == "PUT") {
        if (!body.is_object())
          return status_response(400, "BadRequest", "the body is not an object");
        patched = body;
      } else if (content_type == "application/strategic-merge-patch+json") {
        if (!body.is_object())
          return status_response(400, "BadRequest", "a strategic merge patch must be an object");
        strategic_merge(patched.as_object(), body.as_object());
      } else if (content_type == "application/merge-patch+json") {
        if (!body.is_object())
          return status_response(400, "BadRequest", "a merge patch must be an object");
        merge_patch(patched.as_object(), body.as_object());
      } else if (content_type == "application/json-patch+json") {
        if (!body.is_array())
          return status_response(400, "BadRequest", "a JSON patch must be an array");
        json_patch(patched, body.as_array());
      } else {
        return status_response(415, "UnsupportedMediaType",
                               "the body of the request was in an unknown format - accepted media "
                               "types include: application/json-patch+json, "
                               "application/merge-patch+json, "
                               "application/strategic-merge-patch+json");
      }
    } catch (const std::exception& e) {
      return status_response(422, "Invalid",
                             std::string("the patch cannot be applied: ") + e.what());
    }
    if (!patched.is_object())
      return status_response(422, "Invalid", "the patched object is not an object");
    json::object& result = patched.as_object();
    // A stale resourceVersion in the body is an optimistic-concurrency failure.
    std::string sent_rv = meta_string(result, "resourceVersion");
    if (!sent_rv.empty() && sent_rv != meta_string(stored, "resourceVersion"))
      return status_response(409, "Conflict", conflict_message, conflict_details);
    if (request.method == "PUT" && sent_rv.empty())
      return status_response(422, "Invalid",
                             "Deployment.apps \"" + key.name +
                                 "\" is invalid: metadata.resourceVersion: Invalid value: 0x0: "
                                 "must be specified for an update");
    std::string invalid = validate(result);
    if (!invalid.empty())
      return status_response(422, "Invalid",
                             "Deployment.apps \"" + key.name + "\" is invalid: " + invalid);
    json::object& meta = child(result, "metadata");
    const json::object& old_meta = stored.at("metadata").as_object();
    for (const char* immutable : {"name", "namespace", "uid", "creationTimestamp", "generation"})
      if (const json::value* value = old_meta.if_contains(immutable))
        meta[immutable] = *value;
    result["kind"] = "Deployment";
    result["apiVersion"] = "apps/v1";
    // The status subresource is separate: writes to the main resource do not change it.
    if (const json::value* status = stored.if_contains("status"))
      result["status"] = *status;
    if (result.at("spec") != stored.at("spec"))
      meta["generation"] = int_at(old_meta, "generation", 1) + 1;
    record("deployments", "MODIFIED", result);
    stored = result;
    wake.notify_all();
    return FakeResponse::json(200, json::serialize(stored));
  }

  static std::string validate(const json::object& deployment) {
    const json::object* spec = child(deployment, "spec");
    const json::object* pod_template = spec != nullptr ? child(*spec, "template") : nullptr;
    const json::object* pod_spec = pod_template != nullptr ? child(*pod_template, "spec") : nullptr;
    const json::value* containers =
        pod_spec != nullptr ? pod_spec->if_contains("containers") : nullptr;
    if (containers == nullptr || !containers->is_array() || containers->as_array().empty())
      return "spec.template.spec.containers: Required value";
    std::size_t index = 0;
    for (const auto& container : containers->as_array()) {
      std::string at = "spec.template.spec.containers[" + std::to_string(index++) + "]";
      if (!container.is_object())
        return at + ": Invalid value";
      if (string_at(container.as_object(), "name").empty())
        return at + ".name: Required value";
      if (string_at(container.as_object(), "image").empty())
        return at + ".image: Required value";
    }
    if (int_at(*spec, "replicas", 1) < 0)
      return "spec.replicas: Invalid value: must be greater than or equal to 0";
    return {};
  }

  std::optional<Filter> make_filter(const FakeRequest& request, const std::string& resource,
                                    const std::string& ns, FakeResponse* error) {
    Filter filter;
    filter.resource = resource;
    filter.ns = ns;
    if (auto it = request.query.find("labelSelector"); it != request.query.end()) {
      auto parsed = parse_selector(it->second);
      if (!parsed) {
        *error = status_response(400, "BadRequest", "unable to parse requirement: " + it->second);
        return std::nullopt;
      }
      filter.labels = *parsed;
    }
    if (auto it = request.query.find("fieldSelector"); it != request.query.end()) {
      auto parsed = parse_selector(it->second);
      if (!parsed) {
        *error = status_response(400, "BadRequest", "invalid field selector: " + it->second);
        return std::nullopt;
      }
      for (const auto& requirement : *parsed) {
        if (requirement.key != "metadata.name" && requirement.key != "metadata.namespace") {
          *error =
              status_response(400, "BadRequest", "field label not supported: " + requirement.key);
          return std::nullopt;
        }
      }
      filter.fields = *parsed;
    }
    return filter;
  }

  static std::string list_kind(const std::string& resource) {
    return resource == "deployments" ? "DeploymentList" : "ReplicaSetList";
  }

  std::vector<json::object> matching(const Filter& filter) const {
    std::vector<json::object> out;
    const auto& store = filter.resource == "deployments" ? deployments : replicasets;
    for (const auto& [key, object] : store) {
      if (filter.accepts(filter.resource, object))
        out.push_back(object);
    }
    return out;
  }

  FakeResponse list(const FakeRequest& request, const std::string& resource,
                    const std::string& ns) {
    FakeResponse error;
    auto filter = make_filter(request, resource, ns, &error);
    if (!filter)
      return error;
    ++lists[resource];
    if (resource == "deployments" && wants_table(request))
      return FakeResponse::json(
          200, deployment_table(matching(*filter),
                                request.header("Accept").find("v=v1;") != std::string::npos));
    json::array items;
    for (auto object : matching(*filter)) {
      // Typed lists carry kind and apiVersion once, on the list.
      object.erase("kind");
      object.erase("apiVersion");
      items.push_back(std::move(object));
    }
    return FakeResponse::json(
        200, json::serialize(json::object{
                 {"kind", list_kind(resource)},
                 {"apiVersion", "apps/v1"},
                 {"metadata", json::object{{"resourceVersion", std::to_string(resource_version)}}},
                 {"items", std::move(items)}}));
  }

  static std::string event_line(std::string_view type, const json::object& object) {
    return json::serialize(json::object{{"type", type}, {"object", object}}) + "\n";
  }

  FakeResponse start_watch(const FakeRequest& request, const std::string& resource,
                           const std::string& ns) {
    FakeResponse error;
    auto filter = make_filter(request, resource, ns, &error);
    if (!filter)
      return error;
    ++watches;
    if (watches_refused)
      return status_response(405, "MethodNotAllowed",
                             "the server does not allow this method on the requested resource");
    const std::string requested_rv =
        request.query.count("resourceVersion") ? request.query.at("resourceVersion") : "";
    const std::string expired_message =
        "too old resource version: " + (requested_rv.empty() ? "0" : requested_rv) + " (" +
        std::to_string(resource_version) + ")";
    bool expire_now = false;
    if (expiries_left > 0) {
      --expiries_left;
      if (expiry == WatchExpiry::http_gone)
        return status_response(410, "Expired", expired_message);
      expire_now = true;
    }

    auto state = std::make_shared<WatchState>();
    state->filter = *filter;
    std::chrono::seconds timeout(1800);
    if (auto it = request.query.find("timeoutSeconds"); it != request.query.end()) {
      try {
        timeout = std::chrono::seconds(std::stol(it->second));
      } catch (const std::exception&) {
        return status_response(400, "BadRequest", "invalid timeoutSeconds");
      }
    }
    state->deadline = SteadyClock::now() + timeout;

    std::uint64_t from = 0;
    bool initial_events = requested_rv.empty() || requested_rv == "0";
    if (!initial_events) {
      try {
        from = std::stoull(requested_rv);
      } catch (const std::exception&) {
        return status_response(400, "BadRequest", "invalid resourceVersion " + requested_rv);
      }
    }
    if (expire_now || (!initial_events && from < compacted_through)) {
      state->pending = event_line("ERROR", status_object(410, "Expired", expired_message));
      state->finished = true;
    } else {
      const bool send_initial = request.query.count("sendInitialEvents") &&
                                request.query.at("sendInitialEvents") == "true";
      if (initial_events || send_initial) {
        for (const auto& object : matching(*filter))
          state->pending += event_line("ADDED", object);
        from = resource_version;
      }
      if (send_initial) {
        json::object bookmark{
            {"kind", resource == "deployments" ? "Deployment" : "ReplicaSet"},
            {"apiVersion", "apps/v1"},
            {"metadata",
             json::object{{"resourceVersion", std::to_string(resource_version)},
                          {"annotations", json::object{{"k8s.io/initial-events-end", "true"}}}}}};
        state->pending += event_line("BOOKMARK", bookmark);
      }
      state->cursor = from;
    }
    FakeResponse response;
    response.status = 200;
    response.headers.emplace_back("Content-Type", "application/json");
    response.stream = [this, state]() -> std::optional<std::string> { return next_chunk(*state); };
    response.stream_poll = std::chrono::milliseconds(10);
    return response;
  }

  struct WatchState {
    Filter filter;
    std::uint64_t cursor = 0;
    SteadyClock::time_point deadline;
    std::string pending;
    bool finished = false;
  };

  std::optional<std::string> next_chunk(WatchState& state) {
    if (!state.pending.empty()) {
      std::string out = std::move(state.pending);
      state.pending.clear();
      return out;
    }
    if (state.finished)
      return std::nullopt;
    std::lock_guard lock(mu);
    if (stopping || SteadyClock::now() >= state.deadline)
      return std::nullopt;
    std::string out;
    for (const auto& event : events) {
      if (event.rv <= state.cursor)
        continue;
      if (state.filter.accepts(event.resource, event.object))
        out += event_line(event.type, event.object);
    }
    state.cursor = resource_version;
    return out;
  }
};

FakeKubernetes::FakeKubernetes() : FakeKubernetes(Options{}) {}

FakeKubernetes::FakeKubernetes(Options options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  FakeHttpServer::Options server_options;
  server_options.tls = impl_->options.tls;
  server_options.client_ca_file = impl_->options.client_ca_file;
  impl_->server = std::make_unique<FakeHttpServer>(
      [impl = impl_.get()](const FakeRequest& request) { return impl->handle(request); },
      server_options);
  impl_->controller = std::thread([impl = impl_.get()] { impl->controller_loop(); });
}

FakeKubernetes::~FakeKubernetes() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->controller.join();
  impl_->server.reset();
}

FakeHttpServer& FakeKubernetes::http() {
  return *impl_->server;
}

std::string FakeKubernetes::base_url() const {
  return impl_->server->base_url();
}

std::string FakeKubernetes::ca_path() const {
  return impl_->server->ca_path();
}

std::string FakeKubernetes::kubeconfig(const std::string& user_block,
                                       const std::string& context_namespace) const {
  std::string out = "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n";
  out += "    server: " + base_url() + "\n";
  out += "    certificate-authority: " + ca_path() + "\n";
  out += "users:\n- name: shipmate\n  user:\n";
  out += user_block.empty() ? "    token: " + options().token + "\n" : user_block;
  out += "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: shipmate\n";
  if (!context_namespace.empty())
    out += "    namespace: " + context_namespace + "\n";
  out += "current-context: fake\n";
  return out;
}

const FakeKubernetes::Options& FakeKubernetes::options() const {
  return impl_->options;
}

void FakeKubernetes::add_deployment(const std::string& ns, const std::string& name,
                                    const std::vector<FakeContainer>& containers, int replicas) {
  std::lock_guard lock(impl_->mu);
  json::array container_list;
  for (const auto& container : containers) {
    container_list.push_back(json::object{
        {"name", container.name},
        {"image", container.image},
        {"ports", json::array{json::object{{"containerPort", 8080}, {"protocol", "TCP"}}}},
        {"resources", json::object()},
        {"imagePullPolicy", "IfNotPresent"}});
  }
  json::object labels{{"app", name}};
  json::object deployment{
      {"kind", "Deployment"},
      {"apiVersion", "apps/v1"},
      {"metadata", json::object{{"name", name},
                                {"namespace", ns},
                                {"uid", impl_->next_uid()},
                                {"generation", 1},
                                {"creationTimestamp", rfc3339_now()},
                                {"labels", labels},
                                {"annotations", json::object()}}},
      {"spec",
       json::object{
           {"replicas", replicas},
           {"selector", json::object{{"matchLabels", labels}}},
           {"template", json::object{{"metadata", json::object{{"labels", labels}}},
                                     {"spec", json::object{{"containers", container_list},
                                                           {"restartPolicy", "Always"}}}}},
           {"strategy", json::object{{"type", "RollingUpdate"},
                                     {"rollingUpdate", json::object{{"maxUnavailable", "25%"},
                                                                    {"maxSurge", "25%"}}}}},
           {"revisionHistoryLimit", 10},
           {"progressDeadlineSeconds", 600}}},
      {"status", json::object()}};
  const Key key{ns, name};
  impl_->record("deployments", "ADDED", deployment);
  impl_->deployments[key] = deployment;
  for (int step = 0; step < 4 * replicas + 8 && !impl_->complete_locked(key); ++step)
    impl_->reconcile(key, true);
}

void FakeKubernetes::delete_deployment(const std::string& ns, const std::string& name) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->deployments.find(Key{ns, name});
  if (it == impl_->deployments.end())
    return;
  json::object deployment = it->second;
  impl_->deployments.erase(it);
  impl_->record("deployments", "DELETED", deployment);
}

void FakeKubernetes::set_image(const std::string& ns, const std::string& name,
                               const std::string& container, const std::string& image) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->deployments.find(Key{ns, name});
  if (it == impl_->deployments.end())
    return;
  json::object& deployment = it->second;
  for (auto& entry : deployment["spec"].at("template").at("spec").at("containers").as_array()) {
    if (string_at(entry.as_object(), "name") == container)
      entry.as_object()["image"] = image;
  }
  json::object& meta = child(deployment, "metadata");
  meta["generation"] = int_at(meta, "generation", 1) + 1;
  impl_->record("deployments", "MODIFIED", deployment);
  impl_->wake.notify_all();
}

json::object FakeKubernetes::deployment(const std::string& ns, const std::string& name) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->deployments.find(Key{ns, name});
  return it == impl_->deployments.end() ? json::object() : it->second;
}

std::vector<json::object> FakeKubernetes::replica_sets(const std::string& ns) const {
  std::lock_guard lock(impl_->mu);
  std::vector<json::object> out;
  for (const auto& [key, rs] : impl_->replicasets) {
    if (key.ns == ns)
      out.push_back(rs);
  }
  return out;
}

std::string FakeKubernetes::image_of(const std::string& ns, const std::string& name,
                                     const std::string& container) const {
  json::object deployment = this->deployment(ns, name);
  try {
    for (const auto& entry :
         deployment.at("spec").at("template").at("spec").at("containers").as_array()) {
      if (string_at(entry.as_object(), "name") == container)
        return string_at(entry.as_object(), "image");
    }
  } catch (const std::exception&) {
  }
  return {};
}

bool FakeKubernetes::rollout_complete(const std::string& ns, const std::string& name) const {
  std::lock_guard lock(impl_->mu);
  return impl_->complete_locked(Key{ns, name});
}

bool FakeKubernetes::wait_until(const std::function<bool()>& condition,
                                std::chrono::milliseconds timeout) {
  auto deadline = SteadyClock::now() + timeout;
  while (!condition()) {
    if (SteadyClock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

void FakeKubernetes::set_broken_image(const std::string& image) {
  std::lock_guard lock(impl_->mu);
  impl_->broken_image = image;
}

void FakeKubernetes::conflict_next_writes(int count) {
  std::lock_guard lock(impl_->mu);
  impl_->conflicts_left = count;
}

void FakeKubernetes::reject_credentials(bool rejected) {
  std::lock_guard lock(impl_->mu);
  impl_->credentials_rejected = rejected;
}

void FakeKubernetes::fail_next_requests(int count, int status, const std::string& path_prefix) {
  std::lock_guard lock(impl_->mu);
  impl_->failures_left = count;
  impl_->failure_status = status;
  impl_->failure_prefix = path_prefix;
}

void FakeKubernetes::expire_next_watches(int count, WatchExpiry how) {
  std::lock_guard lock(impl_->mu);
  impl_->expiries_left = count;
  impl_->expiry = how;
}

void FakeKubernetes::refuse_watches(bool refused) {
  std::lock_guard lock(impl_->mu);
  impl_->watches_refused = refused;
}

void FakeKubernetes::compact() {
  std::lock_guard lock(impl_->mu);
  impl_->compacted_through = impl_->resource_version;
  impl_->events.clear();
}

void FakeKubernetes::pause_controller(bool paused) {
  std::lock_guard lock(impl_->mu);
  impl_->paused = paused;
}

int FakeKubernetes::watch_requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->watches;
}

int FakeKubernetes::list_requests(const std::string& resource) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->lists.find(resource);
  return it == impl_->lists.end() ? 0 : it->second;
}

namespace {

template <class T, void (*Free)(T*)>
struct OpenSslFree {
  void operator()(T* p) const { Free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, OpenSslFree<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, OpenSslFree<X509, X509_free>>;
using Bio = std::unique_ptr<BIO, OpenSslFree<BIO, BIO_free_all>>;
using Extension = std::unique_ptr<X509_EXTENSION, OpenSslFree<X509_EXTENSION, X509_EXTENSION_free>>;

void ensure(bool ok, const std::string& what) {
  if (ok)
    return;
  char reason[256] = "unknown";
  if (unsigned long code = ERR_get_error(); code != 0)
    ERR_error_string_n(code, reason, sizeof reason);
  ERR_clear_error();
  throw std::runtime_error("make_client_certificates: " + what + ": " + reason);
}

Pkey new_p256_key() {
  Pkey key(EVP_EC_gen("P-256"));
  ensure(key != nullptr, "EVP_EC_gen");
  return key;
}

void add_x509_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Extension extension(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  ensure(extension != nullptr, std::string("extension ") + value);
  ensure(X509_add_ext(cert, extension.get(), -1) == 1, "X509_add_ext");
}

Cert new_certificate(EVP_PKEY* key, const char* organization, const char* common_name, X509* issuer,
                     EVP_PKEY* issuer_key, long serial) {
  Cert cert(X509_new());
  ensure(cert != nullptr, "X509_new");
  ensure(X509_set_version(cert.get(), 2) == 1, "X509_set_version");
  ensure(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial) == 1, "serial");
  ensure(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr, "notBefore");
  ensure(X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400) != nullptr, "notAfter");
  ensure(X509_set_pubkey(cert.get(), key) == 1, "X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(cert.get());
  ensure(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                    reinterpret_cast<const unsigned char*>(organization), -1, -1,
                                    0) == 1,
         "subject O");
  ensure(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    reinterpret_cast<const unsigned char*>(common_name), -1, -1,
                                    0) == 1,
         "subject CN");
  X509* signer = issuer != nullptr ? issuer : cert.get();
  ensure(X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) == 1, "issuer");
  if (issuer == nullptr) {
    add_x509_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_x509_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_x509_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    add_x509_extension(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
    add_x509_extension(cert.get(), signer, NID_ext_key_usage, "clientAuth");
  }
  ensure(X509_sign(cert.get(), issuer_key, EVP_sha256()) > 0, "X509_sign");
  return cert;
}

std::string to_pem(const std::function<int(BIO*)>& write) {
  Bio bio(BIO_new(BIO_s_mem()));
  ensure(bio != nullptr && write(bio.get()) == 1, "PEM output");
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

void write_private(const std::string& path, const std::string& content, mode_t mode) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out)
    throw std::runtime_error("make_client_certificates: cannot write " + path);
  ::chmod(path.c_str(), mode);
}

}  // namespace

ClientCertificates make_client_certificates(const std::string& dir) {
  ERR_clear_error();
  Pkey ca_key = new_p256_key();
  Cert ca = new_certificate(ca_key.get(), "Shipmate tests", "Shipmate Test Client CA", nullptr,
                            ca_key.get(), 1);
  Pkey client_key = new_p256_key();
  Cert client =
      new_certificate(client_key.get(), "system:masters", "shipmate", ca.get(), ca_key.get(), 2);
  ClientCertificates out;
  out.ca_pem = to_pem([&](BIO* bio) { return PEM_write_bio_X509(bio, ca.get()); });
  out.cert_pem = to_pem([&](BIO* bio) { return PEM_write_bio_X509(bio, client.get()); });
  out.key_pem = to_pem([&](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, client_key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  out.ca_path = dir + "/client-ca.pem";
  out.cert_path = dir + "/client.pem";
  out.key_path = dir + "/client-key.pem";
  write_private(out.ca_path, out.ca_pem, 0644);
  write_private(out.cert_path, out.cert_pem, 0644);
  write_private(out.key_path, out.key_pem, 0600);
  return out;
}

}  // namespace shipmate::testing
