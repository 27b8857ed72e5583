// The domain model the commands work on: services, environments, users and the policy that
// decides who may do what where. Built once from configuration (bot/config.cpp) and read-only
// afterwards, so it may be shared freely between threads.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "commands/freeze_windows.h"
#include "integrations/local_process_target.h"

namespace shipmate::commands {

// What a user asks to do in an environment; each environment lists which roles may do each.
// takeover: replace someone else's lock. override: deploy past a policy (promotion rule, and
// later freezes) with a reason. Both are open only to admins unless an environment lists roles.
// runbook: run a runbook whose environment parameter names the environment (a runbook's own
// allow: may narrow it further); like deploy, open outside production unless listed.
// freeze: freeze or unfreeze the environment from chat (like deploy: open outside production,
// closed in production unless roles are listed).
enum class Action { deploy, rollback, lock, takeover, override, runbook, freeze };

// Deploys to this environment wait for `count` approvals from people holding one of `roles`
// (admins always qualify), never the requester; unanswered requests time out after `expire_ms`.
struct ApprovalPolicy {
  int count = 1;
  std::vector<std::string> roles;
  long long expire_ms = 60LL * 60 * 1000;
};

// A version may enter this environment only after it succeeded in `from` (default: the
// environment before it in the service's order) and has served there for `soak_ms`.
struct PromotionRule {
  std::string from;
  long long soak_ms = 0;
};

std::string_view to_string(Action action);
std::optional<Action> parse_action(std::string_view text);

struct EnvironmentSpec {
  std::string name;
  bool production = false;
  // Roles allowed per action. An action missing here is open to every configured user in a
  // non-production environment and closed to everyone in production (deny by default).
  std::map<Action, std::vector<std::string>> allowed_roles;
  std::optional<PromotionRule> promotion = {};
  std::optional<ApprovalPolicy> approvals = {};
  // While one of these is in force, deploys (not rollbacks) need --override.
  std::vector<FreezeWindow> freezes = {};
};

struct UserSpec {
  std::string id;  // the identity commands run as ("alice"); platform ids map onto it
  std::string name;
  std::vector<std::string> roles;
  // Platform -> this user's id there ({"slack": "U123"}, {"teams": "<AAD object id>"}): who may
  // act as this user. Never a display name.
  std::map<std::string, std::string, std::less<>> ids = {};
  bool has_role(std::string_view role) const;
};

// A Prometheus instant query and the bounds its value must stay within while a new version
// serves. {service}, {environment}, {version} and {stable_version} are substituted in `query`.
struct MetricCheckSpec {
  std::string name;
  std::string query;
  std::optional<double> max = {};
  std::optional<double> min = {};
  // The query's values are already in it (a runbook's wait step): it is sent as it is, and a
  // "{name}" that a value brought in is never expanded again.
  bool expanded = false;
};

// How a new version reaches users.
//  rolling: the target replaces the old version (then the checks, if any, after `bake`).
//  canary: the new version starts beside the old and takes `steps` percent of traffic in turn,
//          each held for `bake` and then checked, before it takes everything.
//  blue_green: the new version starts in the idle slot, takes all traffic at once, is held for
//          `bake` and checked, and only then does the old slot stop.
// A breach rolls back without asking; an inconclusive check asks in chat and waits at most
// `decision_timeout` for an answer, then rolls back.
enum class StrategyKind { rolling, canary, blue_green };
std::string_view to_string(StrategyKind kind);

struct RolloutStrategy {
  StrategyKind kind = StrategyKind::rolling;
  std::vector<int> steps = {};                 // canary weights in percent, ascending, below 100
  long long bake_ms = 0;                       // hold before each step's checks
  std::vector<std::string> environments = {};  // where the strategy applies; empty: everywhere
  std::vector<MetricCheckSpec> checks = {};
  long long decision_timeout_ms = 30LL * 60 * 1000;
  bool applies_to(std::string_view environment) const;
};

struct ServiceSpec {
  std::string name;
  std::string description;
  std::vector<std::string> environments;  // where it may be deployed, in promotion order
  std::string target_kind;                // "local", "kubernetes", "argocd" or "pipeline"
  integrations::LocalTargetConfig local;  // when target_kind == "local"
  RolloutStrategy strategy = {};
  // A CI pipeline that builds the version before the target rolls it out ("" for none). Its
  // configuration lives with the integrations (bot/config.h); the flow only needs to know.
  bool has_build = false;
  std::chrono::milliseconds build_poll{5000};  // first poll of the CI run; backs off from there
  long long build_timeout_ms = 60LL * 60 * 1000;
};

// Everything the commands need to know about the world, in configuration order.
struct Catalog {
  std::vector<EnvironmentSpec> environments;  // ordered: dev -> staging -> production
  std::vector<ServiceSpec> services;
  std::vector<UserSpec> users;
  // The IANA zone for times a command writes without one (announce, freeze, schedule add,
  // whats-new since) and for showing them back: `timezone:` in the configuration, else UTC.
  std::string time_zone = "UTC";

  const EnvironmentSpec* find_environment(std::string_view name) const;
  const ServiceSpec* find_service(std::string_view name) const;
  const UserSpec* find_user(std::string_view id) const;
  // The environment before `environment` in the service's promotion order, if any.
  std::optional<std::string> previous_environment(const ServiceSpec& service,
                                                  std::string_view environment) const;
};

// The role that grants every action everywhere.
inline constexpr std::string_view kAdminRole = "admin";

struct PolicyDecision {
  bool allowed = false;
  std::string reason;  // when refused: one line a person can act on
};

// Decides whether `user` (null for an unknown identity) may perform `action` in `environment`.
PolicyDecision authorize(const UserSpec* user, std::string_view user_id, Action action,
                         const EnvironmentSpec& environment);

}  // namespace shipmate::commands
