// `notes <service> [<version> | <from>..<to>] [in <env>] [--full]`,
// `notes edit <service> <version> "text"` (commands/release_notes_book.h) and
// `whats-new <env> [since <when> | since #<deploy>] [--full]` (commands/whats_new.h).
#include <algorithm>

#include "commands/handlers.h"
#include "commands/release_notes_book.h"
#include "commands/resolve.h"
#include "commands/whats_new.h"
#include "commands/when.h"
#include "common/chat_input.h"
#include "common/strings.h"

namespace shipmate::commands {
namespace {

constexpr std::size_t kLongestEdit = 20000;
constexpr EpochMillis kWhatsNewDefaultWindow = 7LL * 24 * 60 * 60 * 1000;

bool wired(CommandContext& ctx, const std::string& service) {
  if (ctx.services.notes == nullptr) {
    ctx.conversation.post(error_message(
        "Release notes are not set up: give a service notes: {git: {path: ...}} or notes: "
        "{github: {repo: owner/name, token: ...}} in the configuration."));
    return false;
  }
  if (!ctx.services.notes->covers(service)) {
    ctx.conversation.post(
        error_message(service +
                      " has no repository for release notes: add notes: {git: {path: ...}} or "
                      "notes: {github: {repo: owner/name, token: ...}} to the service."));
    return false;
  }
  return true;
}

const integrations::DeployTarget* target_of(Services& services, const std::string& service) {
  const auto it = services.targets.find(service);
  return it == services.targets.end() ? nullptr : it->second.get();
}

// The deploy that brought `version` (newest first), with the version that served before it.
std::optional<storage::DeployRecord> deploy_of(Services& services, const std::string& service,
                                               const std::string& environment,
                                               const std::string& version) {
  for (const auto& deploy : services.deploys.history(service, environment, 500)) {
    if (deploy.state == storage::DeployState::succeeded &&
        deploy.kind != storage::DeployKind::rollback && deploy.version == version &&
        !deploy.previous_version.empty())
      return deploy;
  }
  return std::nullopt;
}

void show(CommandContext& ctx, const std::string& header, const std::string& text,
          const std::string& full_command, bool full) {
  const auto pieces =
      split_at_lines(text.empty() ? std::string("(no changes)") : text,
                     kNotesPieceLimit - std::min<std::size_t>(header.size() + 200, 2000));
  Message first(Tone::info, header + "\n\n" + pieces.front());
  if (pieces.size() > 1 && !full)
    first.text += "\n\u2026 cut here (" + std::to_string(pieces.size()) +
                  " parts); the full notes: `" + full_command + " --full`";
  const MessageRef ref = ctx.conversation.post(first);
  if (!full)
    return;
  for (std::size_t i = 1; i < pieces.size(); ++i)
    ctx.conversation.thread_reply(ref, Message(Tone::info, pieces[i]));
}

}  // namespace

boost::asio::awaitable<void> handle_notes_show(CommandContext& ctx) {
  auto& services = ctx.services;
  auto service = resolve_service(services.catalog, ctx.args.get("service"));
  if (!service) {
    ctx.conversation.post(error_message(service.error().message));
    co_return;
  }
  const std::string name = (*service)->name;
  if (!wired(ctx, name))
    co_return;
  std::string environment;
  if (ctx.args.has("environment")) {
    auto env = resolve_environment(services.catalog, ctx.args.get("environment"));
    if (!env) {
      ctx.conversation.post(error_message(env.error().message));
      co_return;
    }
    environment = (*env)->name;
  }
  const bool full = ctx.args.has("full");
  const integrations::DeployTarget* target = target_of(services, name);
  std::string version = ctx.args.get("version");
  const auto dots = version.find("..");
  if (dots != std::string::npos) {
    // An explicit range: computed now, not stored (it may be no release at all).
    const std::string from = version.substr(0, dots);
    const std::string to = version.substr(dots + 2);
    for (const std::string* v : {&from, &to}) {
      if (auto valid = validate_version(*v); !valid) {
        ctx.conversation.post(error_message("notes " + name + " " + version +
                                            ": write a range as <from>..<to>, two versions, "
                                            "tags, branches or commits: " +
                                            valid.error().message));
        co_return;
      }
    }
    Result<GeneratedNotes> notes = co_await services.notes->generate(name, from, to, target, false);
    if (!notes) {
      ctx.conversation.post(
          error_message("No notes for " + name + " " + version + ": " + notes.error().message));
      co_return;
    }
    show(ctx,
         "Changes in " + name + " from " + from + " to " + to + " (" +
             std::to_string(notes->commits) + " commits): " + notes->record.summary,
         notes->record.generated, "notes " + name + " " + version, full);
    co_return;
  }
  if (version.empty()) {
    // What serves now in the environment (default: the service's last one).
    if (environment.empty())
      environment = (*service)->environments.empty() ? "" : (*service)->environments.back();
    auto serving = services.deploys.last_succeeded(name, environment);
    if (!serving) {
      ctx.conversation.post(error_message(name + " has never been deployed to " + environment +
                                          "; name a version: notes " + name + " <version>"));
      co_return;
    }
    version = serving->version;
  } else if (auto valid = validate_version(version); !valid) {
    ctx.conversation.post(error_message("notes " + name + ": " + valid.error().message));
    co_return;
  }
  auto stored = services.notes->store().find(name, version);
  if (!stored || (stored->generated.empty() && !stored->edited)) {
    auto deploy = deploy_of(services, name, environment, version);
    if (!deploy) {
      ctx.conversation.post(error_message("No notes for " + name + " " + version +
                                          ": it was never deployed over an earlier "
                                          "version" +
                                          (environment.empty() ? "" : " in " + environment) +
                                          "; name a range: notes " + name + " <from>.." + version));
      co_return;
    }
    Result<GeneratedNotes> notes =
        co_await services.notes->generate(name, deploy->previous_version, version, target, true);
    if (!notes) {
      ctx.conversation.post(
          error_message("No notes for " + name + " " + version + ": " + notes.error().message));
      co_return;
    }
    stored = notes->record;
  }
  std::string header = "Release notes for " + name + " " + version;
  if (!stored->from_version.empty())
    header += " (since " + stored->from_version + ")";
  if (!stored->summary.empty())
    header += ": " + stored->summary;
  if (stored->edited)
    header += " \u00b7 edited by " + stored->edited_by;
  show(ctx, header, stored->text(), "notes " + name + " " + version, full);
}

boost::asio::awaitable<void> handle_notes_edit(CommandContext& ctx) {
  auto& services = ctx.services;
  auto service = resolve_service(services.catalog, ctx.args.get("service"));
  if (!service) {
    ctx.conversation.post(error_message("Notes edit refused: " + service.error().message));
    co_return;
  }
  const std::string name = (*service)->name;
  if (services.notes == nullptr) {
    ctx.conversation.post(error_message("Release notes are not set up in this process."));
    co_return;
  }
  const std::string version = ctx.args.get("version");
  if (auto valid = validate_version(version); !valid) {
    ctx.conversation.post(error_message("Notes edit refused: " + valid.error().message));
    co_return;
  }
  // Who may: someone who may deploy the service in one of its environments, or an admin.
  bool allowed = false;
  std::string why;
  for (const auto& env_name : (*service)->environments) {
    const EnvironmentSpec* env = services.catalog.find_environment(env_name);
    if (env == nullptr)
      continue;
    auto decision = authorize(ctx.caller.user, ctx.caller.user_id, Action::deploy, *env);
    if (decision.allowed) {
      allowed = true;
      break;
    }
    if (why.empty())
      why = decision.reason;
  }
  const std::string target = name + " " + version;
  if (!allowed) {
    record_audit(services, ctx.caller.user_id, "notes.edit.refused", target, "refused",
                 "may not deploy " + name + " anywhere");
    ctx.conversation.post(error_message("Notes edit refused: " + ctx.caller.user_id +
                                        " may not deploy " + name +
                                        " in any of its environments, so may not edit its "
                                        "release notes"));
    co_return;
  }
  std::string text = ctx.args.get("text");
  const auto open = ctx.text.find('"');
  const auto close = ctx.text.rfind('"');
  if (open != std::string::npos && close != std::string::npos && close > open)
    text = ctx.text.substr(open + 1, close - open - 1);
  text = std::string(trim(text));
  if (text.empty()) {
    ctx.conversation.post(
        error_message("Notes edit refused: give the new text in quotes: notes "
                      "edit " +
                      name + " " + version + " \"...\""));
    co_return;
  }
  if (text.size() > kLongestEdit) {
    ctx.conversation.post(error_message("Notes edit refused: at most " +
                                        std::to_string(kLongestEdit) + " characters, not " +
                                        std::to_string(text.size())));
    co_return;
  }
  services.database.transaction([&] {
    services.notes->store().edit(name, version, text, ctx.caller.user_id);
    record_audit(services, ctx.caller.user_id, "notes.edited", target, "ok",
                 std::to_string(text.size()) + " characters");
  });
  ctx.conversation.post(success("Release notes for " + target +
                                " replaced; regenerating them keeps your text (`notes " + name +
                                " " + version + "` shows it)"));
}

// whats-new <env> [since <when> | since #<deploy> | since <duration>] [--full]
boost::asio::awaitable<void> handle_whats_new(CommandContext& ctx) {
  auto& services = ctx.services;
  auto environment = resolve_environment(services.catalog, ctx.args.get("environment"));
  if (!environment) {
    ctx.conversation.post(error_message("Whats-new: " + environment.error().message));
    co_return;
  }
  const std::string env = (*environment)->name;
  const EpochMillis now = services.clock.now_ms();
  EpochMillis since = now - kWhatsNewDefaultWindow;
  std::string rest(trim(ctx.args.get("since")));
  if (!rest.empty()) {
    if (!starts_with_ci(rest, "since ")) {
      ctx.conversation.post(error_message("Whats-new: write whats-new " + env +
                                          " since <when>, e.g. since monday 09:00, since "
                                          "2026-12-01, since 3d or since #<deploy>"));
      co_return;
    }
    const std::string when(trim(std::string_view(rest).substr(6)));
    if (when.starts_with("#")) {
      const std::string digits = when.substr(1);
      const bool numeric = !digits.empty() && digits.size() < 18 &&
                           std::all_of(digits.begin(), digits.end(), ::isdigit);
      auto deploy = numeric ? services.deploys.get(std::stoll(digits)) : std::nullopt;
      if (!deploy || deploy->environment != env || !deploy->finished_at) {
        ctx.conversation.post(error_message(
            "Whats-new: " + when + " is not a finished deploy to " + env +
            (deploy && deploy->environment != env ? " (it went to " + deploy->environment + ")"
                                                  : std::string()) +
            "; 'history <service> in " + env + "' lists them"));
        co_return;
      }
      since = *deploy->finished_at;
    } else {
      auto parsed = parse_since(when, now, services.catalog.time_zone);
      if (!parsed) {
        ctx.conversation.post(
            error_message("Whats-new: " + parsed.error().message + "; or since #<deploy>"));
        co_return;
      }
      since = *parsed;
    }
  }
  const bool full = ctx.args.has("full");
  std::string title = "What's new in " + env;
  WhatsNew answer = co_await compose_whats_new(services, env, since, now, title);
  if (answer.body.empty()) {
    ctx.conversation.post(info(answer.header));
    co_return;
  }
  show(ctx, answer.header, answer.body, "whats-new " + env + (rest.empty() ? "" : " " + rest),
       full);
}

}  // namespace shipmate::commands
