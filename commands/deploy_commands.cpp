#include <algorithm>

#include "commands/deploy_flow.h"
#include "commands/dora.h"
#include "commands/handlers.h"
#include "commands/permission.h"
#include "commands/resolve.h"
#include "common/strings.h"

namespace shipmate::commands {
namespace {

std::string ago(const Services& services, EpochMillis at) {
  return time_ago(services.clock.now_ms() - at);
}

// Always leaves a space after the text, so a long value (an image digest) does not run into the
// next column.
std::string pad(std::string text, std::size_t width) {
  text += std::string(text.size() < width ? width - text.size() : 1, ' ');
  return text;
}

}  // namespace

boost::asio::awaitable<void> handle_deploy(CommandContext& ctx) {
  DeployRequest request;
  request.service = ctx.args.get("service");
  request.version = ctx.args.get("version");
  request.environment = ctx.args.get("environment");
  request.reason = ctx.args.get("reason");
  request.force = ctx.args.has("force");
  request.override_policy = ctx.args.has("override");
  auto plan = prepare_deploy(ctx.services, ctx.caller, request);
  if (!plan) {
    record_audit(ctx.services, ctx.caller.user_id, "deploy.refused",
                 request.service + "@" + request.environment, "refused", plan.error().message);
    ctx.conversation.post(error_message("Deploy refused: " + plan.error().message));
    co_return;
  }
  co_await execute_deploy(ctx.services, ctx.caller, ctx.conversation, std::move(*plan));
}

boost::asio::awaitable<void> handle_rollback(CommandContext& ctx) {
  auto plan = prepare_rollback(ctx.services, ctx.caller, ctx.args.get("service"),
                               ctx.args.get("environment"), ctx.args.get("version"),
                               ctx.args.get("reason"));
  if (!plan) {
    record_audit(ctx.services, ctx.caller.user_id, "rollback.refused", ctx.args.get("service"),
                 "refused", plan.error().message);
    ctx.conversation.post(error_message("Rollback refused: " + plan.error().message));
    co_return;
  }
  co_await execute_deploy(ctx.services, ctx.caller, ctx.conversation, std::move(*plan));
}

boost::asio::awaitable<void> handle_status(CommandContext& ctx) {
  auto& services = ctx.services;
  auto chosen = selected_services(services.catalog, ctx.args);
  if (!chosen) {
    ctx.conversation.post(error_message(chosen.error().message));
    co_return;
  }
  const std::vector<const ServiceSpec*>& selected = *chosen;
  if (selected.empty()) {
    ctx.conversation.post(info("No services are configured."));
    co_return;
  }

  std::string table;
  for (const auto* service : selected) {
    auto target_it = services.targets.find(service->name);
    table +=
        service->name + (service->description.empty() ? "" : " - " + service->description) + "\n";
    for (const auto& env : service->environments) {
      std::string line = "  " + pad(env, 12);
      if (auto last = services.deploys.last_succeeded(service->name, env)) {
        line += pad(last->version, 10) + "deployed by " + last->requested_by + ", " +
                ago(services, last->finished_at.value_or(last->requested_at));
      } else {
        line += pad("-", 10) + "never deployed";
      }
      if (target_it != services.targets.end()) {
        line += "\n  " + std::string(12, ' ') + target_it->second->describe(env);
      }
      if (auto active = services.deploys.active_for(service->name, env)) {
        line += "\n  " + std::string(12, ' ') + "in progress: #" + std::to_string(active->id) +
                " " + active->version + " (" + std::string(to_string(active->state)) + ")";
      }
      for (const auto& scope : blocking_scopes(service->name, env)) {
        if (auto lock = services.locks.get(scope)) {
          line += "\n  " + std::string(12, ' ') + "locked (" + describe_scope(scope) + ") by " +
                  lock->holder + (lock->reason.empty() ? "" : ": " + lock->reason);
        }
      }
      table += line + "\n";
    }
  }
  Message message = info(std::string(trim(table)));
  message.preformatted = true;
  ctx.conversation.post(message);
  co_return;
}

boost::asio::awaitable<void> handle_history(CommandContext& ctx) {
  auto& services = ctx.services;
  auto service = resolve_service(services.catalog, ctx.args.get("service"));
  if (!service) {
    ctx.conversation.post(error_message(service.error().message));
    co_return;
  }
  std::string env = ctx.args.get("environment");
  if (!env.empty()) {
    if (auto found = resolve_environment(services.catalog, env); !found) {
      ctx.conversation.post(error_message(found.error().message));
      co_return;
    }
  }
  auto limit = parse_limit(ctx.args, "history", 10);
  if (!limit) {
    ctx.conversation.post(error_message(limit.error().message));
    co_return;
  }
  auto deploys = services.deploys.history((*service)->name, env, *limit);
  if (deploys.empty()) {
    ctx.conversation.post(
        info("No deploys of " + (*service)->name + (env.empty() ? "" : " in " + env) + " yet."));
    co_return;
  }
  std::string table = pad("#", 6) + pad("kind", 10) + pad("env", 12) + pad("version", 10) +
                      pad("state", 12) + pad("by", 10) + "when\n";
  for (const auto& deploy : deploys) {
    table += pad(std::to_string(deploy.id), 6) + pad(std::string(to_string(deploy.kind)), 10) +
             pad(deploy.environment, 12) + pad(deploy.version, 10) +
             pad(std::string(to_string(deploy.state)), 12) + pad(deploy.requested_by, 10) +
             format_utc(deploy.requested_at);
    if (deploy.finished_at) {
      table += " (" + format_duration(*deploy.finished_at - deploy.requested_at) + ")";
    }
    table += "\n";
    if (deploy.state == storage::DeployState::failed ||
        deploy.state == storage::DeployState::cancelled) {
      table += "      " + deploy.detail + "\n";
    }
    if (!deploy.incident.empty())
      table += "      caused incident " + deploy.incident + "\n";
  }
  Message message = info(std::string(trim(table)));
  message.preformatted = true;
  ctx.conversation.post(message);
  co_return;
}

}  // namespace shipmate::commands

namespace shipmate::commands {

boost::asio::awaitable<void> handle_metrics(CommandContext& ctx) {
  auto& services = ctx.services;
  auto chosen = selected_services(services.catalog, ctx.args);
  if (!chosen) {
    ctx.conversation.post(error_message(chosen.error().message));
    co_return;
  }
  const std::vector<const ServiceSpec*>& selected = *chosen;
  auto parsed_days = parse_count(ctx.args, "days", "metrics", 30, 3650);
  if (!parsed_days) {
    ctx.conversation.post(error_message(parsed_days.error().message));
    co_return;
  }
  const int days = *parsed_days;
  // DORA is about what reaches users: the production environments (or the last one when none
  // is marked production).
  std::vector<std::string> environments;
  for (const auto& env : services.catalog.environments) {
    if (env.production)
      environments.push_back(env.name);
  }
  if (environments.empty() && !services.catalog.environments.empty())
    environments.push_back(services.catalog.environments.back().name);

  const std::string subject =
      selected.size() == 1 ? selected.front()->name : std::string("all services");
  // Incidents restore service too: detection to mitigation (else resolution).
  std::map<std::string, EpochMillis> incident_restores;
  if (services.incidents != nullptr) {
    for (const auto& incident : services.incidents->list(1000)) {
      const auto end = incident.mitigated_at ? incident.mitigated_at : incident.resolved_at;
      if (end) {
        incident_restores[storage::incident_label(incident.id)] =
            std::max<EpochMillis>(0, *end - incident.detected_at.value_or(incident.declared_at));
      }
    }
  }
  for (const auto& environment : environments) {
    std::vector<storage::DeployRecord> history;
    for (const auto* service : selected) {
      auto deploys = services.deploys.history(service->name, environment, 100000);
      history.insert(history.end(), deploys.begin(), deploys.end());
    }
    const DoraReport report =
        compute_dora(history, environment, services.clock.now_ms(), days, incident_restores);
    Message message = info("DORA metrics for " + subject + " in " + environment + ", last " +
                           (days == 1 ? std::string("day") : count_of(days, "day")));
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.2f per day", report.per_day);
    message.fields.push_back(
        {"Deployment frequency", count_of(report.deployments, "deploy") + " (" + buffer + ")"});
    message.fields.push_back(
        {"Lead time for changes", report.lead_time_median
                                      ? "median " + format_duration(*report.lead_time_median) +
                                            " (" + count_of(report.lead_time_samples, "deploy") +
                                            " with commit times)"
                                      : "unknown (no deploy had a commit time)"});
    if (report.change_failure_rate) {
      std::snprintf(buffer, sizeof buffer, "%.1f%%", *report.change_failure_rate * 100.0);
      message.fields.push_back({"Change failure rate",
                                std::string(buffer) + " (" + std::to_string(report.failed_changes) +
                                    " of " + count_of(report.changes, "change") + ")"});
    } else {
      message.fields.push_back({"Change failure rate", "no changes yet"});
    }
    message.fields.push_back(
        {"Time to restore", report.restore_median
                                ? "median " + format_duration(*report.restore_median) + " (" +
                                      count_of(report.restores, "restore") + ")"
                                : "nothing to restore"});
    ctx.conversation.post(message);
  }
  co_return;
}

}  // namespace shipmate::commands

namespace shipmate::commands {

boost::asio::awaitable<void> handle_link(CommandContext& ctx) {
  auto& services = ctx.services;
  // The router has checked the deploy number and the rollback permission in the deploy's
  // environment (Scope::deploy): blaming a deploy is an operator's call there.
  const std::int64_t id = deploy_argument(ctx.args);
  auto deploy = services.deploys.get(id);
  if (!deploy) {
    ctx.conversation.post(error_message("link: there is no deploy #" + std::to_string(id)));
    co_return;
  }
  const std::string incident = std::string(trim(ctx.args.get("incident")));
  if (incident.empty() || incident.size() > 200) {
    ctx.conversation.post(
        error_message("link: name the incident, e.g. link 12 to INC-42 (or its URL)"));
    co_return;
  }
  const std::string unlink = "none";
  services.deploys.link_incident(id, incident == unlink ? "" : incident);
  record_audit(services, ctx.caller.user_id, "deploy.incident_linked",
               deploy->service + "@" + deploy->environment, "ok",
               "#" + std::to_string(id) + " " + (incident == unlink ? "unlinked" : incident));
  ctx.conversation.post(
      incident == unlink
          ? info("Deploy #" + std::to_string(id) + " is no longer linked to an incident.")
          : success("Deploy #" + std::to_string(id) + " (" + deploy->service + " " +
                    deploy->version + " in " + deploy->environment + ") is linked to incident " +
                    incident + "; DORA counts it as a failed change."));
  co_return;
}

}  // namespace shipmate::commands
