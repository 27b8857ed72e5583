// The domain model the commands work on: services, environments, users and the policy that
// decides who may do what where. Built once from configuration (bot/config.cpp) and read-only
// afterwards, so it may be shared freely between threads.
#pragma once

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
enum class Action { deploy, rollback, lock, takeover, override };

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
  std::string slack_id = {};  // Slack user id (U...) acting as this user; never a display name
  bool has_role(std::string_view role) const;
};

struct ServiceSpec {
  std::string name;
  std::string description;
  std::vector<std::string> environments;  // where it may be deployed, in promotion order
  std::string target_kind;                // "local"
  integrations::LocalTargetConfig local;  // when target_kind == "local"
};

// Everything the commands need to know about the world, in configuration order.
struct Catalog {
  std::vector<EnvironmentSpec> environments;  // ordered: dev -> staging -> production
  std::vector<ServiceSpec> services;
  std::vector<UserSpec> users;

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
