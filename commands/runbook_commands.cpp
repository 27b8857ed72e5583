// runbook list | show | run, and the runs' own commands (status, abort, resume, confirm), which
// the RunbookRunner carries out.
#include <algorithm>
#include <charconv>
#include <optional>

#include "commands/handlers.h"
#include "commands/runbook_library.h"
#include "commands/runbook_runner.h"
#include "common/strings.h"

namespace shipmate::commands {
namespace {

RunbookLibrary* library_or_explain(CommandContext& ctx) {
  if (ctx.services.runbooks == nullptr) {
    ctx.conversation.post(error_message("Runbooks are not set up in this Shipmate."));
  }
  return ctx.services.runbooks;
}

const runbooks::Definition* find_or_explain(CommandContext& ctx, RunbookLibrary& library) {
  const std::string name = ctx.args.get("runbook");
  const auto* definition = library.find(name);
  if (definition == nullptr) {
    ctx.conversation.post(error_message("No runbook '" + name + "'" +
                                        did_you_mean(name, library.names()) +
                                        "; 'runbook list' shows them all"));
  }
  return definition;
}

std::string params_summary(const runbooks::Definition& definition) {
  std::vector<std::string> parts;
  for (const auto& param : definition.params) {
    std::string part = param.name + "=";
    part += param.required && !param.default_value && !param.default_secret
                ? "<" + std::string(runbooks::to_string(param.type)) + ">"
                : "[" + std::string(runbooks::to_string(param.type)) + "]";
    parts.push_back(part);
  }
  return join(parts, " ");
}

}  // namespace

boost::asio::awaitable<void> handle_runbook_list(CommandContext& ctx) {
  auto* library = library_or_explain(ctx);
  if (library == nullptr)
    co_return;
  if (library->all().empty()) {
    ctx.conversation.post(info("No runbooks are configured."));
    co_return;
  }
  std::size_t width = 0;
  for (const auto& definition : library->all())
    width = std::max(width, definition.name.size());
  std::string text = "Runbooks (" + std::to_string(library->all().size()) + "):\n";
  for (const auto& definition : library->all()) {
    text += "  " + definition.name + std::string(width - definition.name.size() + 2, ' ') +
            definition.description;
    const std::string params = params_summary(definition);
    if (!params.empty())
      text += "  (" + params + ")";
    text += "\n";
  }
  text += "'runbook show <name>' explains one; 'runbook run <name> k=v --dry-run' plans a run.";
  Message message = info(text);
  message.preformatted = true;
  ctx.conversation.post(message);
  co_return;
}

boost::asio::awaitable<void> handle_runbook_show(CommandContext& ctx) {
  auto* library = library_or_explain(ctx);
  if (library == nullptr)
    co_return;
  const auto* definition = find_or_explain(ctx, *library);
  if (definition == nullptr)
    co_return;
  std::string text = "Runbook " + definition->name + ": " + definition->description + "\n";
  if (!definition->owners.empty())
    text += "owners: " + join(definition->owners, ", ") + "\n";
  if (definition->allow.empty()) {
    text += "who may run it: whoever holds the runbook permission in its environment\n";
  } else {
    std::vector<std::string> rules;
    for (const auto& [env, roles] : definition->allow)
      rules.push_back((env == "*" ? std::string("anywhere") : env) + ": " + join(roles, ", "));
    text += "who may run it: " + join(rules, "; ") + "\n";
  }
  if (!definition->params.empty()) {
    text += "parameters:\n";
    for (const auto& param : definition->params) {
      text += "  " + param.name + " (" + std::string(runbooks::to_string(param.type)) + ", ";
      if (param.default_secret)
        text += "default " + param.default_secret->describe();
      else if (param.default_value)
        text += "default " + param.default_value.value();
      else
        text += param.required ? "required" : "optional";
      text += "): " + (param.description.empty() ? std::string() : param.description + "; ") +
              param.accepts() + "\n";
    }
  }
  text += "steps:\n" + runbooks::render_plan(*definition, nullptr) + "\n";
  text += "source: " + definition->source + ", hash " + definition->hash.substr(0, 12);
  Message message = info(text);
  message.preformatted = true;
  ctx.conversation.post(message);
  co_return;
}

boost::asio::awaitable<void> handle_runbook_run(CommandContext& ctx) {
  auto* library = library_or_explain(ctx);
  if (library == nullptr)
    co_return;
  const auto* definition = find_or_explain(ctx, *library);
  if (definition == nullptr)
    co_return;
  auto params = runbooks::bind_parameters(*definition, ctx.args.params, library->context());
  if (!params) {
    ctx.conversation.post(
        error_message("Runbook " + definition->name + " refused: " + params.error().message));
    co_return;
  }
  // The router has checked the environment's permission when the environment came from the
  // arguments; the runbook's own allow: (and a defaulted environment) are checked here.
  const EnvironmentSpec* environment = nullptr;
  if (const auto* env_param = definition->environment_param()) {
    auto it = params->values.find(env_param->name);
    if (it != params->values.end())
      environment = ctx.services.catalog.find_environment(it->second);
  }
  if (auto decision = authorize_runbook(*definition, environment, ctx.caller); !decision.allowed) {
    const std::string target =
        definition->name + (environment ? "@" + environment->name : std::string());
    ctx.services.audit.append(
        {.actor = ctx.caller.user_id,
         .action = "runbook.run.refused",
         .target = target,
         .outcome = "refused",
         .details = runbook_audit_details(*definition, *params, "") + decision.reason});
    ctx.conversation.post(error_message("Runbook run refused: " + decision.reason));
    co_return;
  }
  if (ctx.args.has("dry_run")) {
    const std::string described = params->describe();
    Message message = info("Dry run of runbook " + definition->name +
                           (described.empty() ? std::string() : " with " + described) +
                           "; nothing was run:\n" + runbooks::render_plan(*definition, &*params));
    message.preformatted = true;
    ctx.conversation.post(message);
    co_return;
  }
  if (library->runner() == nullptr) {
    ctx.conversation.post(error_message(
        "This Shipmate cannot run runbooks (no runner is set up); add --dry-run to see the plan."));
    co_return;
  }
  co_await library->runner()->start(ctx, *definition, std::move(*params));
}

namespace {

RunbookRunner* runner_or_explain(CommandContext& ctx) {
  RunbookRunner* runner = ctx.services.runbooks ? ctx.services.runbooks->runner() : nullptr;
  if (runner == nullptr)
    ctx.conversation.post(error_message("Runbook runs are not set up in this Shipmate."));
  return runner;
}

// "12" or "#12"; explains anything else.
std::optional<std::int64_t> run_number(CommandContext& ctx, const std::string& text) {
  std::string_view digits = text;
  if (!digits.empty() && digits.front() == '#')
    digits.remove_prefix(1);
  std::int64_t id = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || id <= 0) {
    ctx.conversation.post(
        error_message("'" + text + "' is not a run number (e.g. " + ctx.spec.path + " 3)"));
    return std::nullopt;
  }
  return id;
}

}  // namespace

boost::asio::awaitable<void> handle_runbook_status(CommandContext& ctx) {
  auto* runner = runner_or_explain(ctx);
  if (runner == nullptr)
    co_return;
  std::optional<std::int64_t> id;
  if (ctx.args.has("run")) {
    id = run_number(ctx, ctx.args.get("run"));
    if (!id)
      co_return;
  }
  runner->status(ctx, id);
}

boost::asio::awaitable<void> handle_runbook_abort(CommandContext& ctx) {
  auto* runner = runner_or_explain(ctx);
  auto id = runner ? run_number(ctx, ctx.args.get("run")) : std::nullopt;
  if (!id)
    co_return;
  co_await runner->abort(ctx, *id);
}

boost::asio::awaitable<void> handle_runbook_resume(CommandContext& ctx) {
  auto* runner = runner_or_explain(ctx);
  auto id = runner ? run_number(ctx, ctx.args.get("run")) : std::nullopt;
  if (!id)
    co_return;
  co_await runner->resume(ctx, *id, ctx.args.has("skip"));
}

boost::asio::awaitable<void> handle_runbook_confirm(CommandContext& ctx) {
  auto* runner = runner_or_explain(ctx);
  auto id = runner ? run_number(ctx, ctx.args.get("run")) : std::nullopt;
  if (!id)
    co_return;
  runner->confirm(ctx, *id);
}

}  // namespace shipmate::commands
