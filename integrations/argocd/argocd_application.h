// The Argo CD Application as the Argo CD target reads it: its status (argocd_judge.h), its
// deployment history, its automated-sync policy and what its spec names as the version; the
// name and version checks the target applies before it sends anything; how versions are named
// from history entries; and the refusals the target answers with.
//
// Contract
// - Pure functions of their arguments; safe on any thread.
// - parse_application() never throws: a body that is not an Application object is an Error; a
//   field that is missing or of another type reads as empty.
// - Private to integrations/argocd: it exposes Boost.JSON types (the spec pieces the target
//   writes back), so only the target's own sources include it.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "common/result.h"
#include "integrations/argocd/argocd_judge.h"
#include "integrations/argocd/argocd_target.h"

namespace shipmate::integrations::argocd {

// Git refs and Helm values: letters, digits and . _ - / +, no "..", "//", no leading '-', '/'
// or '.'. Anything else is a typo or an attempt to smuggle something into a patch.
bool valid_version(std::string_view version);
// A Kubernetes object name (DNS-1123 subdomain): Argo CD Applications are Kubernetes objects.
bool valid_object_name(std::string_view name);
// 7 to 40 hex digits: a (possibly abbreviated) commit SHA.
bool looks_like_commit(const std::string& text);

struct HistoryEntry {
  std::int64_t id = 0;
  std::string revision;                   // resolved (a commit SHA for git sources)
  std::string target_revision;            // source.targetRevision as it was deployed
  std::optional<std::string> helm_value;  // our Helm parameter in that source
  std::string deployed_at;
};

struct AppState : AppStatus {
  std::vector<HistoryEntry> history;            // oldest first, as Argo CD keeps it
  std::optional<boost::json::value> automated;  // spec.syncPolicy.automated when it is in force
  bool multi_source = false;
  std::string target_revision;            // spec.source.targetRevision
  std::optional<std::string> helm_value;  // our Helm parameter in spec.source
  boost::json::array helm_parameters;     // spec.source.helm.parameters as they are
};

// An Application object (GET /api/v1/applications/<name>, or the answer to a sync request).
// `helm_parameter` names the parameter whose value is read into the helm_value fields.
Result<AppState> parse_application(std::string_view body, const std::string& helm_parameter);

// The `message` (or `error`) of a grpc-gateway error body; "" when there is none.
std::string argo_message(std::string_view body);

// How Shipmate names what a history entry deployed (the Helm value, the targetRevision, or the
// resolved revision); nullopt when it names none.
std::optional<std::string> entry_version(const HistoryEntry& entry, ArgoCdVersionMode mode);
// What serves now: the spec when the app is Synced to it, else the last deployment Argo CD
// recorded.
std::optional<std::string> live_version(const AppState& state, ArgoCdVersionMode mode);
// Whether `entry` deployed `version` (a tag, branch, Helm value, or a commit SHA prefix).
bool entry_matches(const HistoryEntry& entry, const std::string& version, ArgoCdVersionMode mode);

// The refusal when someone else's operation runs on `app`: who, since when, and what to do.
std::string busy_refusal(const std::string& app, const AppState& state);
// The refusal when automated sync is on and the policy is `refuse`.
std::string automated_refusal(const std::string& app, bool for_rollback);

// The string at `path` in `root` ("" when absent or not a string).
std::string text_at(const boost::json::value& root, std::initializer_list<std::string_view> path);

}  // namespace shipmate::integrations::argocd
