// What the Kubernetes target reads from and writes to apps/v1 Deployments, without I/O: JSON
// access, the container Shipmate deploys, kubectl's rollout-status decision (rollout_state), the
// label selector of a Deployment, what an environment runs (observe), and the patches a deploy
// and a rollback send.
//
// Contract
// - Pure functions of their arguments; safe on any thread. Nothing throws: missing or mistyped
//   fields read as absent; problems a person must fix come back as an Error naming `where`.
// - Private to integrations/kubernetes (it exposes Boost.JSON types): only the target's sources
//   and its tests include it.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "common/result.h"

namespace shipmate::integrations::kube {

inline constexpr std::string_view kRevisionAnnotation = "deployment.kubernetes.io/revision";
inline constexpr std::string_view kChangeCause = "kubernetes.io/change-cause";
inline constexpr std::string_view kVersionAnnotation = "shipmate/version";
inline constexpr std::string_view kHashLabel = "pod-template-hash";

// ---- Small helpers

std::string in_quotes(std::string_view text);
// DNS-1123 subdomain (Deployment names, dots allowed) or label (namespaces, containers).
bool valid_name(std::string_view name, bool dots_allowed, std::size_t max_length);
// Percent-encoding for query values (RFC 3986 unreserved characters pass).
std::string query_encode(std::string_view value);
// "3 min", "45 s", "500 ms".
std::string format_duration(std::chrono::milliseconds duration);

// ---- JSON access (nullptr / empty / nullopt when absent or of another type)

const boost::json::object* object_at(const boost::json::object& parent, std::string_view key);
const boost::json::object* object_path(const boost::json::object& root,
                                       std::initializer_list<std::string_view> path);
std::string string_at(const boost::json::object* parent, std::string_view key);
std::optional<std::int64_t> int_at(const boost::json::object* parent, std::string_view key);
std::int64_t int_or(const boost::json::object* parent, std::string_view key, std::int64_t fallback);
// An API server answer as an object; an Error naming `what` otherwise.
Result<boost::json::object> parse_object(const std::string& body, const std::string& what);

// ---- Deployments

struct Container {
  std::string name;
  std::string image;
};

std::vector<Container> containers_of(const boost::json::object& pod_template);
// The container Shipmate deploys: the configured one, or the only one.
Result<Container> pick_container(const boost::json::object& pod_template,
                                 const std::string& configured, const std::string& where);
// The tag or digest of an image reference ("api:v2" -> "v2").
std::string version_of_image(const std::string& image);

// kubectl's DeploymentStatusViewer (pkg/polymorphichelpers/rollout_status.go), word for word:
// spec not yet observed, ProgressDeadlineExceeded (failed), then updated / old / available
// replica counts; done when none is pending.
struct RolloutState {
  bool done = false;
  bool failed = false;
  std::string message;
};
RolloutState rollout_state(const boost::json::object& deployment);

// spec.selector as a label selector query string ("app=api,tier in (web)").
Result<std::string> selector_string(const boost::json::object& deployment,
                                    const std::string& where);

// What restore()/apply()/roll_back() learned about an environment.
struct Observed {
  std::string version;
  std::string image;
  std::string revision;
  std::string where;  // "deployment prod/api"
  std::int64_t desired = 0;
  std::int64_t available = 0;
  std::string state;  // the rollout state line when not done
};
Observed observe(const boost::json::object& deployment, const Container& container,
                 const std::string& where);
// "deployment prod/api revision 4, 3/3 available".
std::string summary(const Observed& observed);

// ---- Patches

// The strategic merge patch that points `container` at `image`. The resourceVersion makes it
// conditional on the state it was computed from.
std::string image_patch(const boost::json::object& current, const std::string& container,
                        const std::string& image, const std::string& version,
                        const std::string& cause);
// A JSON patch that puts `pod_template` back (what `kubectl rollout undo` sends), with
// `annotations` for the Deployment and its resourceVersion as a precondition.
std::string template_patch(const boost::json::object& current,
                           const boost::json::object& pod_template,
                           const boost::json::object& annotations);
// metadata.annotations of a Deployment (empty when it has none).
boost::json::object deployment_annotations(const boost::json::object& deployment);

}  // namespace shipmate::integrations::kube
