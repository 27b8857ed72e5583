// The incident commands: declare, status, severity, assign, note, milestone, link, timeline,
// resolve, and the `incidents` listing. The router has checked incident.manage (and that the
// caller is a configured user) before any handler that changes state runs.
#include <filesystem>
#include <fstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "commands/handlers.h"
#include "commands/incident_rooms.h"
#include "commands/incidents.h"
#include "commands/resolve.h"
#include "commands/timed_jobs.h"
#include "common/chat_input.h"
#include "common/redact.h"
#include "common/strings.h"

namespace shipmate::commands {
namespace {

constexpr std::size_t kMaxTitle = 200;

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> out;
  std::string word;
  for (char c : text) {
    if (c == ' ' || c == ',') {
      if (!word.empty())
        out.push_back(std::exchange(word, {}));
    } else {
      word.push_back(c);
    }
  }
  if (!word.empty())
    out.push_back(word);
  return out;
}

bool incidents_ready(CommandContext& ctx) {
  if (ctx.services.incidents != nullptr && ctx.services.incident_settings != nullptr)
    return true;
  ctx.conversation.post(error_message("Incidents are not set up in this Shipmate."));
  return false;
}

// The incident a command means, or an error posted.
std::optional<storage::IncidentRecord> target_incident(CommandContext& ctx, bool must_be_open) {
  auto incident = incident_for_command(ctx.services, ctx.args, ctx.conversation);
  if (!incident) {
    ctx.conversation.post(error_message(ctx.spec.path + ": " + incident.error().message));
    return std::nullopt;
  }
  if (!can_see_incident(ctx.services, *incident, ctx.caller)) {
    ctx.conversation.post(error_message(
        ctx.spec.path + ": " + storage::incident_label(incident->id) +
        " is private: only its declarer, the people holding its roles, the invited on-call "
        "roles and admins may see or change it"));
    return std::nullopt;
  }
  if (must_be_open && !incident->open()) {
    ctx.conversation.post(error_message(ctx.spec.path + ": " +
                                        storage::incident_label(incident->id) +
                                        " is resolved; its record can no longer change"));
    return std::nullopt;
  }
  return *incident;
}

std::optional<EpochMillis> event_time(CommandContext& ctx, bool& ok) {
  ok = true;
  if (!ctx.args.has("at"))
    return std::nullopt;
  auto at = parse_event_time(ctx.args.get("at"), ctx.services.clock.now_ms());
  if (!at) {
    ctx.conversation.post(error_message(ctx.spec.path + ": --at " + at.error().message));
    ok = false;
    return std::nullopt;
  }
  return *at;
}

bool bounded_text(CommandContext& ctx, std::string_view field, std::string_view text) {
  if (auto bounded = validate_free_text(field, text); !bounded) {
    ctx.conversation.post(error_message(ctx.spec.path + ": " + bounded.error().message));
    return false;
  }
  return true;
}

std::string label_of(const storage::IncidentRecord& incident) {
  return storage::incident_label(incident.id);
}

// `topic`: the change shows in a room's topic (status, severity, roles), which is then rewritten
// in the background (Slack announces every topic change in the channel, so notes do not).
void after_change(CommandContext& ctx, std::int64_t id, bool topic = false) {
  replan_incident_reminder(ctx.services, id);
  refresh_incident_card(ctx.services, id, &ctx.conversation);
  if (topic && ctx.services.incident_rooms != nullptr)
    boost::asio::co_spawn(ctx.services.executor, refresh_room_topic(ctx.services, id),
                          boost::asio::detached);
}

// Suspected changes: deploys of the affected services (all, when none is named) from the
// suspect window before detection until now, each with a one-click link.
void post_suspects(CommandContext& ctx, const storage::IncidentRecord& incident,
                   Conversation& home) {
  auto& services = ctx.services;
  std::vector<std::string> names = incident.services;
  if (names.empty()) {
    for (const auto& service : services.catalog.services)
      names.push_back(service.name);
  }
  const EpochMillis detected = incident.detected_at.value_or(incident.declared_at);
  const EpochMillis now = services.clock.now_ms();
  const auto suspects = services.incidents->deploys_between(
      names, detected - services.incident_settings->suspect_window_ms, now);
  if (suspects.empty())
    return;
  Message message(Tone::info, "Suspected changes for " + label_of(incident) + " (deploys from " +
                                  format_duration(services.incident_settings->suspect_window_ms) +
                                  " before detection):");
  for (const auto& deploy : suspects) {
    message.text += "\n- " + describe_deploy(deploy, now);
    if (message.buttons.size() < 5) {
      message.buttons.push_back(
          {"Link #" + std::to_string(deploy.id),
           "incident link " + std::to_string(deploy.id) + " --id " + std::to_string(incident.id),
           ""});
    }
  }
  message.context = "Typed: incident link <deploy> (DORA counts a linked deploy as failed)";
  home.post(message);
}

std::string write_postmortem(const IncidentSettings& settings, std::int64_t id,
                             const std::string& markdown, std::string& problem) {
  if (settings.postmortem_dir.empty())
    return "";
  std::error_code ec;
  std::filesystem::create_directories(settings.postmortem_dir, ec);
  const std::string path = (std::filesystem::path(settings.postmortem_dir) /
                            (storage::incident_label(id) + "-postmortem.md"))
                               .string();
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << redact(markdown);
    if (!out) {
      problem = "could not write " + path;
      return "";
    }
  }
  std::filesystem::rename(temporary, path, ec);
  if (ec) {
    problem = "could not write " + path + ": " + ec.message();
    return "";
  }
  return path;
}

}  // namespace

boost::asio::awaitable<void> handle_incident_declare(CommandContext& ctx) {
  if (!incidents_ready(ctx))
    co_return;
  auto& services = ctx.services;
  const std::string title(trim(ctx.args.get("title")));
  if (title.empty() || title.size() > kMaxTitle) {
    ctx.conversation.post(error_message(
        "incident declare: give a title of 1 to 200 characters, e.g. incident declare "
        "\"checkout errors\" sev2 checkout"));
    co_return;
  }
  int severity = 3;
  std::vector<std::string> affected;
  std::string rest = ctx.args.get("more");
  for (const auto& word : split_words(rest)) {
    if (auto sev = parse_severity(word)) {
      severity = *sev;
      continue;
    }
    const std::string lower = to_lower(word);
    if (lower.starts_with("sev") && services.catalog.find_service(word) == nullptr) {
      ctx.conversation.post(
          error_message("incident declare: " + parse_severity(word).error().message));
      co_return;
    }
    auto service = resolve_service(services.catalog, word);
    if (!service) {
      ctx.conversation.post(error_message("incident declare: " + service.error().message +
                                          " (after the title: a severity sev1-sev4, then "
                                          "services)"));
      co_return;
    }
    if (std::find(affected.begin(), affected.end(), (*service)->name) == affected.end())
      affected.push_back((*service)->name);
  }
  bool ok = true;
  const auto detected = event_time(ctx, ok);
  if (!ok)
    co_return;
  // A private incident needs an invite-only room: where none can be made, it would run in this
  // conversation for everyone to read, so nothing is declared.
  const bool is_private = ctx.args.has("private");
  if (is_private &&
      (services.incident_rooms == nullptr || !services.incident_settings->create_rooms ||
       !services.incident_rooms->can_create(ctx.conversation.address()))) {
    ctx.conversation.post(error_message(
        "incident declare --private: this chat cannot make an invite-only room (rooms need "
        "Slack and incidents.rooms on), so a private incident would be read by everyone here; "
        "nothing was declared. Declare it from Slack, or without --private."));
    co_return;
  }

  storage::DeclareRequest request;
  request.title = title;
  request.severity = severity;
  request.services = affected;
  request.declared_by = ctx.caller.user_id;
  request.detected_at = detected;
  request.acknowledged_at = services.clock.now_ms();  // a person declared it
  request.room = ctx.conversation.address();
  request.is_private = is_private;
  const auto declared = services.database.transaction([&] {
    auto result = services.incidents->declare(request);
    if (result.created) {
      const auto id = result.incident.id;
      const auto& roles = services.incident_settings->roles;
      if (!roles.empty())
        services.incidents->assign(id, roles.front(), ctx.caller.user_id);
      if (detected) {
        record_incident_event(services, id, "milestone", ctx.caller.user_id, "detected", *detected);
      }
      record_incident_event(services, id, "declared", ctx.caller.user_id,
                            title + " (" + severity_label(severity) +
                                (affected.empty() ? "" : "; " + join(affected, ", ")) + ")");
      if (!roles.empty()) {
        record_incident_event(services, id, "role", ctx.caller.user_id,
                              roles.front() + ": " + ctx.caller.user_id);
      }
    }
    return result;
  });
  const auto& incident = declared.incident;
  if (!declared.created) {
    ctx.conversation.post(info(label_of(incident) + " \"" + incident.title +
                               "\" is already open (declared by " + incident.declared_by + " " +
                               time_ago(services.clock.now_ms() - incident.declared_at) +
                               "); nothing new was declared."));
    co_return;
  }
  // Its room (or this conversation), and the summary card there, updated in place from now on.
  const std::string declarer = ctx.caller.user_id;
  const std::string home_address =
      co_await settle_incident_room(services, incident.id, ctx.conversation, declarer);
  std::unique_ptr<Conversation> room;
  if (home_address != ctx.conversation.address() && services.conversations != nullptr)
    room = services.conversations->open(home_address);
  Conversation& home = room ? *room : ctx.conversation;
  const MessageRef ref = services.incidents->get(incident.id)->card_ref;
  replan_incident_reminder(services, incident.id);
  home.thread_reply(ref, info("Declared " + label_of(incident) +
                              ". Update it with: incident status "
                              "identified \"what we know\", incident note "
                              "\"...\", incident assign comms <user>."));
  post_suspects(ctx, incident, home);
  co_return;
}

boost::asio::awaitable<void> handle_incident_status(CommandContext& ctx) {
  if (!incidents_ready(ctx))
    co_return;
  auto status = parse_incident_status(ctx.args.get("state"));
  if (!status) {
    ctx.conversation.post(error_message("incident status: " + status.error().message));
    co_return;
  }
  if (*status == "resolved") {
    ctx.conversation.post(error_message(
        "incident status: resolve with incident resolve \"summary\", which also writes the "
        "postmortem skeleton"));
    co_return;
  }
  const std::string text = ctx.args.get("text");
  if (!bounded_text(ctx, "update", text))
    co_return;
  auto incident = target_incident(ctx, true);
  if (!incident)
    co_return;
  auto& services = ctx.services;
  const EpochMillis now = services.clock.now_ms();
  const std::string update =
      label_of(*incident) + " is " + *status + (text.empty() ? "" : ": " + text);
  services.database.transaction([&] {
    services.incidents->set_status(incident->id, *status, text, now);
    const auto seq = record_incident_event(services, incident->id, "status", ctx.caller.user_id,
                                           *status + (text.empty() ? "" : ": " + text));
    // The update is announced in the incident's room, durably (after a crash it still goes out).
    announce(services, incident->id, "status", "status:" + std::to_string(seq),
             success(update + " (" + ctx.caller.user_id + ")"));
    if (*status == "monitoring" && !incident->mitigated_at) {
      services.incidents->set_milestone(incident->id, "mitigated", now);
      record_incident_event(services, incident->id, "milestone", ctx.caller.user_id, "mitigated");
    }
    if (!incident->acknowledged_at) {
      services.incidents->set_milestone(incident->id, "acknowledged", now);
      record_incident_event(services, incident->id, "milestone", ctx.caller.user_id,
                            "acknowledged");
    }
  });
  after_change(ctx, incident->id, true);
  deliver_announcements(services, &ctx.conversation);
  const std::string room = services.incidents->get(incident->id)->room;
  const std::string here = ctx.conversation.address();
  const bool in_room = here == room || (room.ends_with(':') && here.starts_with(room));
  if (!in_room)
    ctx.conversation.post(success(update + " (announced in its room)"));
  co_return;
}

boost::asio::awaitable<void> handle_incident_severity(CommandContext& ctx) {
  if (!incidents_ready(ctx))
    co_return;
  auto severity = parse_severity(ctx.args.get("severity"));
  if (!severity) {
    ctx.conversation.post(error_message("incident severity: " + severity.error().message));
    co_return;
  }
  auto incident = target_incident(ctx, true);
  if (!incident)
    co_return;
  if (incident->severity == *severity) {
    ctx.conversation.post(
        info(label_of(*incident) + " is already " + severity_label(*severity) + "."));
    co_return;
  }
  auto& services = ctx.services;
  services.database.transaction([&] {
    services.incidents->set_severity(incident->id, *severity);
    record_incident_event(services, incident->id, "severity", ctx.caller.user_id,
                          severity_label(incident->severity) + " -> " + severity_label(*severity));
  });
  after_change(ctx, incident->id, true);
  ctx.conversation.post(success(label_of(*incident) + " is now " + severity_label(*severity) +
                                " (was " + severity_label(incident->severity) + ")"));
  co_return;
}

boost::asio::awaitable<void> handle_incident_assign(CommandContext& ctx) {
  if (!incidents_ready(ctx))
    co_return;
  auto& services = ctx.services;
  const auto& roles = services.incident_settings->roles;
  const std::string role = to_lower(ctx.args.get("role"));
  if (std::find(roles.begin(), roles.end(), role) == roles.end()) {
    ctx.conversation.post(error_message("incident assign: '" + ctx.args.get("role") +
                                        "' is not an incident role" + did_you_mean(role, roles) +
                                        " (roles: " + join(roles, ", ") + ")"));
    co_return;
  }
  std::string user(trim(ctx.args.get("user")));
  if (user.starts_with('@'))
    user.erase(0, 1);
  if (user == "me")
    user = ctx.caller.user_id;
  if (services.catalog.find_user(user) == nullptr) {
    std::vector<std::string> ids;
    for (const auto& known : services.catalog.users)
      ids.push_back(known.id);
    ctx.conversation.post(error_message("incident assign: '" + user + "' is not a configured user" +
                                        did_you_mean(user, ids)));
    co_return;
  }
  auto incident = target_incident(ctx, true);
  if (!incident)
    co_return;
  const EpochMillis now = services.clock.now_ms();
  services.database.transaction([&] {
    services.incidents->assign(incident->id, role, user);
    record_incident_event(services, incident->id, "role", ctx.caller.user_id, role + ": " + user);
    if (!incident->acknowledged_at && role == roles.front()) {
      services.incidents->set_milestone(incident->id, "acknowledged", now);
      record_incident_event(services, incident->id, "milestone", ctx.caller.user_id,
                            "acknowledged");
    }
  });
  after_change(ctx, incident->id, true);
  std::vector<std::string> invitees{user};
  co_await invite_to_incident_room(services, incident->id, std::move(invitees));
  ctx.conversation.post(success(user + " is " + role + " of " + label_of(*incident) + "."));
  co_return;
}

boost::asio::awaitable<void> handle_incident_note(CommandContext& ctx) {
  if (!incidents_ready(ctx))
    co_return;
  const std::string text(trim(ctx.args.get("text")));
  if (text.empty()) {
    ctx.conversation.post(
        error_message("incident note: say what to note, e.g. incident note "
                      "\"rolled back the config change\""));
    co_return;
  }
  if (!bounded_text(ctx, "note", text))
    co_return;
  bool ok = true;
  const auto at = event_time(ctx, ok);
  if (!ok)
    co_return;
  auto incident = target_incident(ctx, true);
  if (!incident)
    co_return;
  record_incident_event(ctx.services, incident->id, "note", ctx.caller.user_id, text, at);
  ctx.conversation.post(success("Noted on " + label_of(*incident) + "'s timeline."));
  co_return;
}

boost::asio::awaitable<void> handle_incident_milestone(CommandContext& ctx) {
  if (!incidents_ready(ctx))
    co_return;
  auto milestone = parse_milestone(ctx.args.get("milestone"));
  if (!milestone) {
    ctx.conversation.post(error_message("incident milestone: " + milestone.error().message));
    co_return;
  }
  bool ok = true;
  const auto at = event_time(ctx, ok);
  if (!ok)
    co_return;
  // Times of a resolved incident may still be corrected (the postmortem reads them).
  auto incident = target_incident(ctx, false);
  if (!incident)
    co_return;
  if (*milestone == "resolved" && incident->open()) {
    ctx.conversation.post(error_message(
        "incident milestone: resolve with incident resolve \"summary\" (--at sets its time)"));
    co_return;
  }
  auto& services = ctx.services;
  const EpochMillis when = at.value_or(services.clock.now_ms());
  services.database.transaction([&] {
    services.incidents->set_milestone(incident->id, *milestone, when);
    record_incident_event(services, incident->id, "milestone", ctx.caller.user_id, *milestone,
                          when);
  });
  after_change(ctx, incident->id);
  ctx.conversation.post(
      success(label_of(*incident) + ": " + *milestone + " at " + format_utc(when) + "."));
  co_return;
}

boost::asio::awaitable<void> handle_incident_link(CommandContext& ctx) {
  if (!incidents_ready(ctx))
    co_return;
  auto& services = ctx.services;
  const auto deploy_id = parse_deploy_id(ctx.args.get("deploy"));
  auto deploy = deploy_id ? services.deploys.get(*deploy_id) : std::nullopt;
  if (!deploy) {
    ctx.conversation.post(error_message("incident link: there is no deploy '" +
                                        ctx.args.get("deploy") + "' (e.g. incident link 12)"));
    co_return;
  }
  auto incident = target_incident(ctx, false);
  if (!incident)
    co_return;
  const std::string label = label_of(*incident);
  if (deploy->incident == label) {
    ctx.conversation.post(
        info("Deploy #" + std::to_string(deploy->id) + " is already linked to " + label + "."));
    co_return;
  }
  services.database.transaction([&] {
    services.deploys.link_incident(deploy->id, label);
    services.incidents->add_services(incident->id, {deploy->service});
    record_incident_event(services, incident->id, "link", ctx.caller.user_id,
                          "deploy #" + std::to_string(deploy->id) + " " + deploy->service + " " +
                              deploy->version + " in " + deploy->environment);
  });
  after_change(ctx, incident->id);
  ctx.conversation.post(success("Linked deploy #" + std::to_string(deploy->id) + " (" +
                                deploy->service + " " + deploy->version + " in " +
                                deploy->environment + ") to " + label +
                                "; DORA counts it as a failed change."));
  co_return;
}

boost::asio::awaitable<void> handle_incident_timeline(CommandContext& ctx) {
  if (!incidents_ready(ctx))
    co_return;
  auto& services = ctx.services;
  if (ctx.args.has("incident") && !ctx.args.has("id"))
    ctx.args.values["id"] = ctx.args.get("incident");
  auto incident = target_incident(ctx, false);
  if (!incident)
    co_return;
  const auto entries = services.incidents->timeline(incident->id);
  if (ctx.args.has("markdown")) {
    const auto roles = services.incidents->roles(incident->id);
    const auto linked = services.incidents->linked_deploys(incident->id);
    Message message(Tone::info, timeline_markdown(IncidentView{*incident, roles, linked}, entries));
    message.preformatted = true;
    ctx.conversation.post(message);
    co_return;
  }
  ctx.conversation.post(timeline_message(*incident, entries));
  co_return;
}

boost::asio::awaitable<void> handle_incident_resolve(CommandContext& ctx) {
  if (!incidents_ready(ctx))
    co_return;
  const std::string summary(trim(ctx.args.get("summary")));
  if (!bounded_text(ctx, "summary", summary))
    co_return;
  bool ok = true;
  const auto at = event_time(ctx, ok);
  if (!ok)
    co_return;
  auto incident = target_incident(ctx, true);
  if (!incident)
    co_return;
  auto& services = ctx.services;
  const EpochMillis now = services.clock.now_ms();
  const EpochMillis when = at.value_or(now);
  // A room of its own is archived `archive_after` from now (durably: the alarm does it, also
  // after a restart).
  const long long archive_after = services.incident_settings->archive_after_ms;
  std::optional<EpochMillis> archive_at;
  if (archive_after > 0 && incident->room.ends_with(':') && services.incident_rooms != nullptr &&
      services.incident_rooms->can_archive(incident->room))
    archive_at = now + archive_after;
  services.database.transaction([&] {
    services.incidents->set_status(incident->id, "resolved", summary, now);
    services.incidents->set_summary(incident->id, summary);
    if (!incident->mitigated_at) {
      services.incidents->set_milestone(incident->id, "mitigated", when);
      record_incident_event(services, incident->id, "milestone", ctx.caller.user_id, "mitigated",
                            when);
    }
    services.incidents->set_milestone(incident->id, "resolved", when);
    services.incidents->set_next_reminder(incident->id, std::nullopt);
    record_incident_event(services, incident->id, "resolved", ctx.caller.user_id,
                          summary.empty() ? "resolved" : summary, when);
    if (archive_at)
      services.incidents->set_archive(incident->id, archive_at, std::nullopt);
  });
  timed_deadlines_changed(services);
  refresh_incident_card(services, incident->id, &ctx.conversation);

  const auto resolved = *services.incidents->get(incident->id);
  const auto roles = services.incidents->roles(incident->id);
  const auto linked = services.incidents->linked_deploys(incident->id);
  const auto entries = services.incidents->timeline(incident->id);
  const std::string markdown = postmortem_markdown(IncidentView{resolved, roles, linked}, entries);
  std::string problem;
  const std::string path =
      write_postmortem(*services.incident_settings, incident->id, markdown, problem);
  const EpochMillis start = resolved.detected_at.value_or(resolved.declared_at);
  ctx.conversation.post(
      success("Resolved " + label_of(resolved) + " after " +
              format_duration(std::max<EpochMillis>(0, when - start)) +
              (path.empty() ? "" : "; postmortem skeleton written to " + path) +
              (problem.empty() ? "" : " (" + problem + ")") +
              (archive_at ? "; its room is archived in " + format_duration(archive_after) : "")));
  Message skeleton(Tone::info, markdown);
  skeleton.preformatted = true;
  ctx.conversation.post(skeleton);
  co_return;
}

boost::asio::awaitable<void> handle_incidents(CommandContext& ctx) {
  if (!incidents_ready(ctx))
    co_return;
  auto& services = ctx.services;
  const auto all = services.incidents->list(5);
  if (all.empty()) {
    ctx.conversation.post(info("No incidents yet."));
    co_return;
  }
  const EpochMillis now = services.clock.now_ms();
  std::string text;
  for (const auto& incident : all) {
    const EpochMillis start = incident.detected_at.value_or(incident.declared_at);
    // A private incident shows only that it exists to people outside it.
    const std::string title =
        can_see_incident(services, incident, ctx.caller) ? incident.title : "(private)";
    text += (text.empty() ? "" : "\n") + label_of(incident) + "  " +
            severity_label(incident.severity) + "  " + incident.status + "  " + title;
    if (incident.open()) {
      text += "  (open " + format_duration(std::max<EpochMillis>(0, now - start)) + ")";
    } else if (incident.resolved_at) {
      text += "  (resolved " + time_ago(now - *incident.resolved_at) + ", lasted " +
              format_duration(std::max<EpochMillis>(0, *incident.resolved_at - start)) + ")";
    }
  }
  Message message(Tone::info, text);
  message.preformatted = true;
  ctx.conversation.post(message);
  co_return;
}

}  // namespace shipmate::commands
