#include "integrations/kubernetes/kubernetes_target.h"

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <utility>

#include <boost/json.hpp>

#include "common/strings.h"
#include "common/timer.h"
#include "integrations/kubernetes/image_ref.h"
#include "integrations/kubernetes/kubernetes_objects.h"
#include "integrations/net/http_client.h"

namespace shipmate::integrations {

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;
using namespace kube;  // the Deployment helpers and patches (kubernetes_objects.h)

constexpr auto kTokenRefresh = std::chrono::minutes(1);
constexpr int kWatchFailuresBeforePolling = 3;

struct FollowResult {
  bool ok = false;
  std::string message;      // the last rollout state line, or why following stopped
  json::object deployment;  // the last state seen
};

}  // namespace

struct KubernetesTarget::Impl {
  asio::any_io_executor executor;
  KubernetesTargetConfig config;
  KubeCredentials credentials;
  std::unique_ptr<net::HttpClient> http;
  std::unique_ptr<net::ApiClient> api;
  std::map<std::string, Observed> cache;
  bool stopping = false;
  std::string token;
  std::optional<SteadyClock::time_point> token_read_at;
  std::shared_ptr<Timers> timers;

  Impl(asio::any_io_executor ex, KubernetesTargetConfig cfg, KubeCredentials creds,
       std::shared_ptr<Timers> timers_in)
      : executor(std::move(ex)),
        config(std::move(cfg)),
        credentials(std::move(creds)),
        timers(timers_in ? std::move(timers_in) : std::make_shared<SteadyTimers>(executor)) {
    net::HttpClientOptions options;
    options.ca_file = credentials.ca_file;
    options.verify_peer = !credentials.insecure_skip_tls_verify;
    options.client_cert_file = credentials.client_cert_file;
    options.client_key_file = credentials.client_key_file;
    options.proxy = credentials.proxy_url;
    http = std::make_unique<net::HttpClient>(executor, options);
    net::ApiClientOptions api_options;
    api_options.service = "Kubernetes";
    api_options.base_url = credentials.server;
    api_options.default_headers = {{"Accept", "application/json"}};
    api_options.retry = config.retry;
    api_options.timeout = config.request_timeout;
    api_options.timers = timers;  // retry back-offs move with manual time in tests too
    api = std::make_unique<net::ApiClient>(*http, api_options);
  }

  // -------------------------------------------------------------------------------------------
  // Plumbing

  std::optional<std::string> namespace_of(const std::string& environment) const {
    auto it = config.namespaces.find(environment);
    if (it == config.namespaces.end())
      return std::nullopt;
    return it->second.empty() ? credentials.default_namespace : it->second;
  }

  std::string deployment_path(const std::string& ns) const {
    return "/apis/apps/v1/namespaces/" + ns + "/deployments/" + config.deployment;
  }

  std::string where(const std::string& ns) const {
    return "deployment " + ns + "/" + config.deployment;
  }

  // Service account tokens rotate; like client-go, re-read a token file at most once a minute.
  Result<net::Headers> auth_headers() {
    net::Headers headers;
    if (!credentials.token_file.empty() && credentials.token.empty()) {
      auto now = SteadyClock::now();
      if (!token_read_at || now - *token_read_at >= kTokenRefresh) {
        auto read = current_token(credentials);
        if (!read) {
          if (token.empty())
            return make_error("Kubernetes: " + read.error().message);
        } else {
          token = *read;
        }
        token_read_at = now;
      }
      headers.emplace_back("Authorization", "Bearer " + token);
    } else if (!credentials.token.empty()) {
      headers.emplace_back("Authorization", "Bearer " + credentials.token);
    } else if (!credentials.username.empty()) {
      headers.emplace_back(
          "Authorization",
          "Basic " + shipmate::base64_encode(credentials.username + ":" + credentials.password));
    }
    return headers;
  }

  std::string rejected_message(const std::string& step, int status, const std::string& body) {
    std::string text = "Kubernetes: " + step + ": " + net::describe_http_failure(status, body);
    if (status == 401)
      text += "; the API server did not accept the credentials from " + credentials.source +
              " (an expired token or client certificate?)";
    return text;
  }

  struct Request {
    std::string step;  // for errors: "read deployment prod/api"
    std::string method = "GET";
    std::string path;
    std::string body = {};
    std::string content_type = {};
    std::vector<int> pass = {};  // statuses returned as responses rather than errors
  };

  // One API call. 401 and every non-2xx status not in `pass` become errors naming the step.
  asio::awaitable<Result<net::HttpResponse>> send(Request request) {
    auto headers = auth_headers();
    if (!headers)
      co_return headers.error();
    net::ApiCall call;
    call.step = request.step;
    call.method = std::move(request.method);
    call.path = std::move(request.path);
    call.headers = std::move(*headers);
    if (!request.content_type.empty())
      call.headers.emplace_back("Content-Type", request.content_type);
    call.body = std::move(request.body);
    // Writes carry the resourceVersion they were computed from, so resending one is safe.
    call.idempotent = true;
    call.pass_through = std::move(request.pass);
    call.pass_through.push_back(401);
    Result<net::HttpResponse> response = co_await api->call(std::move(call));
    if (!response)
      co_return response;
    if (response->status == 401)
      co_return make_error(rejected_message(request.step, 401, response->body), ErrorKind::auth);
    co_return response;
  }

  asio::awaitable<Result<json::object>> read_deployment(const std::string& ns) {
    Request request{"read " + where(ns), "GET", deployment_path(ns)};
    const std::string step = request.step;
    Result<net::HttpResponse> response = co_await send(std::move(request));
    if (!response)
      co_return response.error();
    co_return parse_object(response->body, step);
  }

  // Waits between polls and retries; a cancelled wait just goes on early (the loops check
  // `stopping`).
  asio::awaitable<void> sleep_for(milliseconds duration) {
    const bool waited = co_await timers->sleep_for(duration);
    static_cast<void>(waited);
  }

  // -------------------------------------------------------------------------------------------
  // Following a rollout

  // Evaluates one observed state; returns a finished result when the rollout is decided.
  std::optional<FollowResult> consider(const json::object& deployment, std::string& last_line,
                                       const ProgressFn& progress) {
    RolloutState state = rollout_state(deployment);
    if (state.message != last_line) {
      last_line = state.message;
      if (progress && !state.done && !state.failed)
        progress(state.message);
    }
    if (state.done || state.failed)
      return FollowResult{state.done, state.message, deployment};
    return std::nullopt;
  }

  asio::awaitable<Result<FollowResult>> follow(const std::string& ns, const ProgressFn& progress) {
    const auto started = SteadyClock::now();
    const auto deadline = started + config.rollout_timeout;
    const std::string step = "follow the rollout of " + where(ns);
    const std::string list_path = "/apis/apps/v1/namespaces/" + ns + "/deployments?fieldSelector=" +
                                  query_encode("metadata.name=" + config.deployment);
    std::string last_line;
    json::object last_seen;
    bool watching = true;
    int watch_failures = 0;  // in a row; a few 5xx or dropped connections are worth a re-list
    for (;;) {
      if (stopping)
        co_return make_error("Kubernetes: " + step +
                             ": Shipmate is shutting down; the rollout goes on in the cluster");
      Request list_request{step, "GET", list_path};
      Result<net::HttpResponse> listed = co_await send(std::move(list_request));
      if (!listed)
        co_return listed.error();
      auto list = parse_object(listed->body, step);
      if (!list)
        co_return list.error();
      const json::value* items = list->if_contains("items");
      if (items == nullptr || !items->is_array() || items->as_array().empty() ||
          !items->as_array().front().is_object())
        co_return FollowResult{false, where(ns) + " was deleted during the rollout", last_seen};
      last_seen = items->as_array().front().as_object();
      if (auto decided = consider(last_seen, last_line, progress))
        co_return *decided;
      const std::string resource_version =
          string_at(object_at(*list, "metadata"), "resourceVersion");

      auto now = SteadyClock::now();
      if (now >= deadline) {
        co_return FollowResult{false,
                               "the rollout did not finish within " +
                                   format_duration(config.rollout_timeout) + ": " + last_line,
                               last_seen};
      }
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - now);
      if (!watching || resource_version.empty()) {
        co_await sleep_for(std::min(config.poll_interval, left));
        continue;
      }

      // A bounded watch: the API server ends it after timeoutSeconds, and its events are then
      // judged in order. A watch that cannot be had (not 200/410) turns into polling.
      auto window = std::min(config.watch_window, left);
      auto seconds = std::max<long long>(
          1, std::chrono::duration_cast<std::chrono::seconds>(window + milliseconds(999)).count());
      std::string watch_url =
          credentials.server + list_path + "&resourceVersion=" + query_encode(resource_version) +
          "&timeoutSeconds=" + std::to_string(seconds) + "&allowWatchBookmarks=true&watch=true";
      auto headers = auth_headers();
      if (!headers)
        co_return headers.error();
      net::HttpRequest request;
      request.method = "GET";
      request.url = std::move(watch_url);
      request.headers = std::move(*headers);
      request.headers.emplace_back("Accept", "application/json");
      request.timeout = std::chrono::seconds(seconds) + config.request_timeout;
      const auto watch_started = SteadyClock::now();
      Result<net::HttpResponse> watched = co_await http->send(std::move(request));
      if (watched && watched->status == 401)
        co_return make_error(rejected_message(step, 401, watched->body), ErrorKind::auth);
      if (watched && watched->status == 410)
        continue;  // expired resourceVersion: list again
      if (!watched || watched->status != 200) {
        const bool transient = !watched || watched->status >= 500 || watched->status == 429;
        if (transient && ++watch_failures < kWatchFailuresBeforePolling) {
          co_await sleep_for(std::min(config.poll_interval, left));
          continue;
        }
        watching = false;
        if (progress) {
          std::string cause = watched ? net::describe_http_failure(watched->status, watched->body)
                                      : watched.error().message;
          progress("watching " + where(ns) + " failed (" + cause + "); polling every " +
                   format_duration(config.poll_interval));
        }
        continue;
      }
      watch_failures = 0;
      bool saw_event = false;
      std::string_view rest = watched->body;
      while (!rest.empty()) {
        auto newline = rest.find('\n');
        std::string_view line = rest.substr(0, newline);
        rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
        if (trim(line).empty())
          continue;
        boost::system::error_code ec;
        json::value event = json::parse(line, ec);
        if (ec || !event.is_object())
          break;  // a torn line: the list below catches up
        const std::string type = string_at(&event.as_object(), "type");
        const json::object* object = object_at(event.as_object(), "object");
        if (object == nullptr)
          continue;
        saw_event = true;
        if (type == "ADDED" || type == "MODIFIED") {
          last_seen = *object;
          if (auto decided = consider(last_seen, last_line, progress))
            co_return *decided;
        } else if (type == "DELETED") {
          co_return FollowResult{false, where(ns) + " was deleted during the rollout", *object};
        } else if (type == "ERROR") {
          break;  // usually 410 Expired: list again for a fresh resourceVersion
        }
      }
      // A server that ends watches at once would otherwise make this loop spin.
      if (!saw_event && SteadyClock::now() - watch_started < window / 2)
        co_await sleep_for(std::min(config.poll_interval, left));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Writes

  // PATCHes with `content_type`; a 409 re-runs `build` on a fresh read, up to conflict_retries.
  // `build` returns the patch body for the deployment it is given, or an error.
  template <class Build>
  asio::awaitable<Result<json::object>> patch_with_retries(const std::string& ns,
                                                           const std::string& content_type,
                                                           Build build,
                                                           const ProgressFn& progress) {
    const std::string step = "update " + where(ns);
    const std::string path = deployment_path(ns);
    for (int attempt = 0;; ++attempt) {
      Result<json::object> current = co_await read_deployment(ns);
      if (!current)
        co_return current.error();
      Result<std::string> body = build(*current);
      if (!body)
        co_return body.error();
      if (body->empty())
        co_return *current;  // nothing to change
      Request request{step, "PATCH", path, std::move(*body), content_type, {409}};
      Result<net::HttpResponse> patched = co_await send(std::move(request));
      if (!patched)
        co_return patched.error();
      if (patched->status != 409)
        co_return parse_object(patched->body, step);
      if (attempt >= config.conflict_retries)
        co_return make_error("Kubernetes: " + step + ": " +
                             net::describe_http_failure(409, patched->body) + " (gave up after " +
                             std::to_string(attempt + 1) + " tries; nothing was changed)");
      if (progress)
        progress(where(ns) +
                 " changed while Shipmate was updating it (409 Conflict); reading "
                 "it again");
      co_await sleep_for(milliseconds(20 * (attempt + 1)));
    }
  }

  std::string change_cause(const std::string& action) const { return "shipmate: " + action; }

  // -------------------------------------------------------------------------------------------
  // The operations

  asio::awaitable<ApplyOutcome> apply(std::string environment, std::string version,
                                      ProgressFn progress) {
    auto ns = namespace_of(environment);
    if (!ns)
      co_return ApplyOutcome{false, no_namespace(environment), ""};
    auto image = image_for_version(config.image_repository, version);
    if (!image)
      co_return ApplyOutcome{false, image.error().message, ""};
    const std::string target = where(*ns);

    std::optional<json::object> before;
    std::optional<Container> previous;
    bool changed = false;
    auto build = [&](const json::object& current) -> Result<std::string> {
      const json::object* pod_template = object_path(current, {"spec", "template"});
      if (pod_template == nullptr)
        return make_error(target + " has no pod template");
      auto container = pick_container(*pod_template, config.container, target);
      if (!container)
        return container.error();
      if (!before) {
        before = current;
        previous = *container;
      }
      if (container->image == *image) {
        changed = false;
        return std::string();
      }
      changed = true;
      return image_patch(
          current, container->name, *image, version,
          change_cause("deploy " + config.service + " " + version + " to " + environment));
    };
    if (progress)
      progress("setting " + target + " to " + *image);
    const std::string content_type = "application/strategic-merge-patch+json";
    Result<json::object> patched = co_await patch_with_retries(*ns, content_type, build, progress);
    if (!patched)
      co_return ApplyOutcome{false, patched.error().message, ""};
    if (!changed && progress)
      progress(target + " already runs " + *image + "; checking its rollout");

    Result<FollowResult> followed = co_await follow(*ns, progress);
    if (followed && followed->ok) {
      remember(environment, followed->deployment, *ns);
      const std::string what = changed ? " rolled out in " : " was already running in ";
      co_return ApplyOutcome{
          true, version + what + environment + ": " + summary(cache.at(environment)), target};
    }
    const std::string why = followed ? followed->message : followed.error().message;
    if (stopping) {
      // Shipmate is going down: it leaves the cluster to finish what it was asked to do.
      co_return ApplyOutcome{false, version + " is not confirmed in " + environment + ": " + why,
                             target};
    }
    if (!changed || !before) {
      // Shipmate changed nothing, so there is nothing of its own to undo.
      co_return ApplyOutcome{false, version + " is not rolled out in " + environment + ": " + why,
                             target};
    }
    const std::string previous_version = version_of_image(previous->image);
    if (progress)
      progress("the rollout of " + version + " failed (" + why + "); putting " + previous_version +
               " back");
    const json::object previous_template = before->at("spec").at("template").as_object();
    auto restore_build = [&](const json::object& current) -> Result<std::string> {
      json::object annotations = deployment_annotations(current);
      annotations[kChangeCause] =
          change_cause("roll back " + config.service + " to " + previous_version + " in " +
                       environment + " after a failed rollout of " + version);
      annotations[kVersionAnnotation] = previous_version;
      return template_patch(current, previous_template, annotations);
    };
    const std::string json_patch_type = "application/json-patch+json";
    Result<json::object> restored =
        co_await patch_with_retries(*ns, json_patch_type, restore_build, progress);
    if (!restored)
      co_return ApplyOutcome{false,
                             version + " failed to roll out in " + environment + ": " + why +
                                 "; putting " + previous_version +
                                 " back failed too: " + restored.error().message,
                             target};
    Result<FollowResult> back = co_await follow(*ns, progress);
    if (back && back->ok) {
      remember(environment, back->deployment, *ns);
      co_return ApplyOutcome{false,
                             version + " failed to roll out in " + environment + ": " + why +
                                 "; rolled back to " + previous_version + ", which is serving (" +
                                 summary(cache.at(environment)) + ")",
                             target};
    }
    const std::string back_why = back ? back->message : back.error().message;
    co_return ApplyOutcome{false,
                           version + " failed to roll out in " + environment + ": " + why +
                               "; the rollback to " + previous_version +
                               " did not finish either: " + back_why,
                           target};
  }

  struct Candidate {
    std::int64_t revision = 0;
    std::string name;
    json::object pod_template;
    json::object annotations;
    std::string image;
  };

  asio::awaitable<Result<std::vector<Candidate>>> owned_replicasets(const std::string& ns,
                                                                    const json::object& deployment,
                                                                    const std::string& container) {
    const std::string target = where(ns);
    auto selector = selector_string(deployment, target);
    if (!selector)
      co_return selector.error();
    const std::string step = "list the ReplicaSets of " + target;
    const std::string path =
        "/apis/apps/v1/namespaces/" + ns + "/replicasets?labelSelector=" + query_encode(*selector);
    Request request{step, "GET", path};
    Result<net::HttpResponse> listed = co_await send(std::move(request));
    if (!listed)
      co_return listed.error();
    auto list = parse_object(listed->body, step);
    if (!list)
      co_return list.error();
    const std::string uid = string_at(object_at(deployment, "metadata"), "uid");
    std::vector<Candidate> out;
    const json::value* items = list->if_contains("items");
    if (items == nullptr || !items->is_array())
      co_return out;
    for (const auto& item : items->as_array()) {
      if (!item.is_object())
        continue;
      const json::object& rs = item.as_object();
      const json::object* meta = object_at(rs, "metadata");
      bool owned = false;
      if (const json::value* owners =
              meta != nullptr ? meta->if_contains("ownerReferences") : nullptr;
          owners != nullptr && owners->is_array()) {
        for (const auto& owner : owners->as_array()) {
          if (owner.is_object() && string_at(&owner.as_object(), "uid") == uid &&
              owner.as_object().if_contains("controller") &&
              owner.as_object().at("controller") == json::value(true))
            owned = true;
        }
      }
      const json::object* pod_template = object_path(rs, {"spec", "template"});
      if (!owned || pod_template == nullptr)
        continue;
      Candidate candidate;
      const std::string revision = string_at(object_at(*meta, "annotations"), kRevisionAnnotation);
      try {
        candidate.revision = revision.empty() ? 0 : std::stoll(revision);
      } catch (const std::exception&) {
        candidate.revision = 0;
      }
      candidate.name = string_at(meta, "name");
      candidate.pod_template = *pod_template;
      if (const json::object* annotations = object_at(*meta, "annotations"))
        candidate.annotations = *annotations;
      for (const auto& c : containers_of(*pod_template)) {
        if (c.name == container)
          candidate.image = c.image;
      }
      out.push_back(std::move(candidate));
    }
    std::sort(out.begin(), out.end(),
              [](const Candidate& a, const Candidate& b) { return a.revision > b.revision; });
    co_return out;
  }

  asio::awaitable<ApplyOutcome> roll_back(std::string environment, std::string version,
                                          ProgressFn progress) {
    auto ns = namespace_of(environment);
    if (!ns)
      co_return ApplyOutcome{false, no_namespace(environment), ""};
    const std::string target = where(*ns);
    std::optional<std::string> wanted_image;
    if (!version.empty()) {
      auto image = image_for_version(config.image_repository, version);
      if (!image)
        co_return ApplyOutcome{false, image.error().message, ""};
      wanted_image = *image;
    }
    Result<json::object> deployment = co_await read_deployment(*ns);
    if (!deployment)
      co_return ApplyOutcome{false, deployment.error().message, ""};
    if (const json::object* spec = object_at(*deployment, "spec");
        spec != nullptr && spec->if_contains("paused") && spec->at("paused") == json::value(true))
      co_return ApplyOutcome{false,
                             target +
                                 " is paused; resume it (kubectl rollout resume) before "
                                 "rolling back",
                             target};
    const json::object& pod_template = deployment->at("spec").at("template").as_object();
    auto container = pick_container(pod_template, config.container, target);
    if (!container)
      co_return ApplyOutcome{false, container.error().message, target};

    Result<std::vector<Candidate>> candidates =
        co_await owned_replicasets(*ns, *deployment, container->name);
    if (!candidates)
      co_return ApplyOutcome{false, candidates.error().message, target};
    const Candidate* chosen = nullptr;
    if (wanted_image) {
      // The exact image first; then the same version from another repository (a registry move).
      for (const auto& candidate : *candidates) {
        if (chosen == nullptr && candidate.image == *wanted_image)
          chosen = &candidate;
      }
      for (const auto& candidate : *candidates) {
        if (chosen == nullptr && !candidate.image.empty() &&
            version_of_image(candidate.image) == version)
          chosen = &candidate;
      }
    } else if (candidates->size() >= 2) {
      chosen = &(*candidates)[1];  // kubectl's default: the revision before the newest
    }
    std::string restored_version = version;
    if (chosen != nullptr && version.empty())
      restored_version = version_of_image(chosen->image);
    if (restored_version.empty())
      co_return ApplyOutcome{false, target + " has no earlier revision to roll back to", target};

    const std::string cause = change_cause("roll back " + config.service + " to " +
                                           restored_version + " in " + environment);
    Result<json::object> patched = make_error("");
    if (chosen != nullptr) {
      json::object rs_template = chosen->pod_template;
      if (auto* meta = rs_template.if_contains("metadata"); meta && meta->is_object()) {
        if (auto* labels = meta->as_object().if_contains("labels"); labels && labels->is_object())
          labels->as_object().erase(kHashLabel);
      }
      if (progress)
        progress("restoring revision " + std::to_string(chosen->revision) + " (ReplicaSet " +
                 chosen->name + ", " + chosen->image + ") of " + target);
      const json::object rs_annotations = chosen->annotations;
      auto build = [&](const json::object& current) -> Result<std::string> {
        // kubectl rollout undo: the ReplicaSet's annotations, except those the Deployment owns.
        static constexpr std::string_view kKeep[] = {
            "kubectl.kubernetes.io/last-applied-configuration",
            kRevisionAnnotation,
            "deployment.kubernetes.io/revision-history",
            "deployment.kubernetes.io/desired-replicas",
            "deployment.kubernetes.io/max-replicas",
            "deprecated.deployment.rollback.to"};
        json::object own = deployment_annotations(current);
        json::object annotations;
        for (const auto& [key, value] : rs_annotations) {
          if (std::find(std::begin(kKeep), std::end(kKeep), std::string_view(key)) ==
              std::end(kKeep))
            annotations[key] = value;
        }
        for (auto key : kKeep) {
          if (const json::value* value = own.if_contains(key))
            annotations[key] = *value;
        }
        annotations[kChangeCause] = cause;
        annotations[kVersionAnnotation] = restored_version;
        const json::object* current_template = object_path(current, {"spec", "template"});
        if (current_template != nullptr &&
            json::value(*current_template) == json::value(rs_template))
          return std::string();  // kubectl: "skipped rollback (current template already matches)"
        return template_patch(current, rs_template, annotations);
      };
      const std::string content_type = "application/json-patch+json";
      patched = co_await patch_with_retries(*ns, content_type, build, progress);
    } else {
      if (progress)
        progress("no ReplicaSet of " + target + " runs " + version +
                 " any more; setting the image to " + *wanted_image);
      const std::string container_name = container->name;
      auto build = [&](const json::object& current) -> Result<std::string> {
        const json::object* current_template = object_path(current, {"spec", "template"});
        if (current_template == nullptr)
          return make_error(target + " has no pod template");
        auto picked = pick_container(*current_template, container_name, target);
        if (!picked)
          return picked.error();
        if (picked->image == *wanted_image)
          return std::string();
        return image_patch(current, container_name, *wanted_image, version, cause);
      };
      const std::string content_type = "application/strategic-merge-patch+json";
      patched = co_await patch_with_retries(*ns, content_type, build, progress);
    }
    if (!patched)
      co_return ApplyOutcome{false, patched.error().message, target};
    Result<FollowResult> followed = co_await follow(*ns, progress);
    if (followed && followed->ok) {
      remember(environment, followed->deployment, *ns);
      co_return ApplyOutcome{true,
                             "rolled back to " + restored_version + " in " + environment + ": " +
                                 summary(cache.at(environment)),
                             target};
    }
    const std::string why = followed ? followed->message : followed.error().message;
    co_return ApplyOutcome{
        false,
        "the rollback to " + restored_version + " in " + environment + " did not finish: " + why,
        target};
  }

  asio::awaitable<std::vector<ApplyOutcome>> restore() {
    std::vector<ApplyOutcome> outcomes;
    for (const auto& [environment, configured] : config.namespaces) {
      const std::string ns = configured.empty() ? credentials.default_namespace : configured;
      const std::string target = where(ns);
      Result<json::object> deployment = co_await read_deployment(ns);
      if (!deployment) {
        outcomes.push_back({false, environment + ": " + deployment.error().message, target});
        continue;
      }
      const json::object* pod_template = object_path(*deployment, {"spec", "template"});
      if (pod_template == nullptr) {
        outcomes.push_back({false, environment + ": " + target + " has no pod template", target});
        continue;
      }
      auto container = pick_container(*pod_template, config.container, target);
      if (!container) {
        outcomes.push_back({false, environment + ": " + container.error().message, target});
        continue;
      }
      cache[environment] = observe(*deployment, *container, target);
      const Observed& observed = cache.at(environment);
      outcomes.push_back(
          {true, observed.version + " serving in " + environment + ": " + summary(observed),
           target});
    }
    co_return outcomes;
  }

  void remember(const std::string& environment, const json::object& deployment,
                const std::string& ns) {
    const std::string target = where(ns);
    const json::object* pod_template = object_path(deployment, {"spec", "template"});
    if (pod_template == nullptr)
      return;
    auto container = pick_container(*pod_template, config.container, target);
    if (!container)
      return;
    cache[environment] = observe(deployment, *container, target);
  }

  std::string no_namespace(const std::string& environment) const {
    return "the Kubernetes target of " + config.service + " has no namespace for environment " +
           environment;
  }
};

KubernetesTarget::KubernetesTarget(asio::any_io_executor executor, KubernetesTargetConfig config,
                                   KubeCredentials credentials, std::shared_ptr<Timers> timers)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(config), std::move(credentials),
                                   std::move(timers))) {}

KubernetesTarget::~KubernetesTarget() = default;

Result<std::unique_ptr<KubernetesTarget>> KubernetesTarget::create(asio::any_io_executor executor,
                                                                   KubernetesTargetConfig config,
                                                                   std::shared_ptr<Timers> timers) {
  auto valid = validate_kubernetes_config(config);
  if (!valid)
    return valid.error();
  auto credentials = load_kubernetes_credentials(config.credentials);
  if (!credentials)
    return make_error("Kubernetes target for " + config.service + ": " +
                      credentials.error().message);
  return std::make_unique<KubernetesTarget>(std::move(executor), std::move(config),
                                            std::move(*credentials), std::move(timers));
}

Status KubernetesTarget::validate(const std::string& environment,
                                  const std::string& version) const {
  if (!impl_->namespace_of(environment))
    return make_error(impl_->no_namespace(environment));
  auto image = image_for_version(impl_->config.image_repository, version);
  if (!image)
    return image.error();
  return Ok{};
}

std::optional<std::string> KubernetesTarget::current_version(const std::string& environment) const {
  auto it = impl_->cache.find(environment);
  if (it == impl_->cache.end())
    return std::nullopt;
  return it->second.version;
}

std::string KubernetesTarget::describe(const std::string& environment) const {
  auto it = impl_->cache.find(environment);
  if (it == impl_->cache.end()) {
    auto ns = impl_->namespace_of(environment);
    return ns ? impl_->where(*ns) + ": not read yet" : impl_->no_namespace(environment);
  }
  return it->second.version + " (" + it->second.image + ") in " + summary(it->second);
}

std::string KubernetesTarget::namespace_for(const std::string& environment) const {
  return impl_->namespace_of(environment).value_or("");
}

asio::awaitable<ApplyOutcome> KubernetesTarget::apply(std::string environment, std::string version,
                                                      ProgressFn progress) {
  std::shared_ptr<Impl> impl = impl_;
  ApplyOutcome outcome =
      co_await impl->apply(std::move(environment), std::move(version), std::move(progress));
  co_return outcome;
}

asio::awaitable<ApplyOutcome> KubernetesTarget::roll_back(std::string environment,
                                                          std::string version,
                                                          ProgressFn progress) {
  std::shared_ptr<Impl> impl = impl_;
  ApplyOutcome outcome =
      co_await impl->roll_back(std::move(environment), std::move(version), std::move(progress));
  co_return outcome;
}

asio::awaitable<std::vector<ApplyOutcome>> KubernetesTarget::restore() {
  std::shared_ptr<Impl> impl = impl_;
  std::vector<ApplyOutcome> outcomes = co_await impl->restore();
  co_return outcomes;
}

asio::awaitable<Result<std::optional<std::string>>> KubernetesTarget::check_access() {
  std::shared_ptr<Impl> impl = impl_;
  std::string read;
  for (const auto& [environment, configured] : impl->config.namespaces) {
    const std::optional<std::string> ns = impl->namespace_of(environment);
    if (!ns)
      continue;
    Result<json::object> deployment = co_await impl->read_deployment(*ns);
    if (!deployment)
      co_return deployment.error();
    read += (read.empty() ? "" : ", ") + impl->where(*ns);
  }
  co_return std::optional<std::string>("read " + read);
}

asio::awaitable<void> KubernetesTarget::shutdown() {
  impl_->stopping = true;
  co_return;
}

}  // namespace shipmate::integrations
