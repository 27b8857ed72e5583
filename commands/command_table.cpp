#include "commands/command_table.h"

#include "commands/handlers.h"

namespace shipmate::commands {
namespace {

using Kind = ArgSpec::Kind;

// Arguments several commands share.
ArgSpec deploy_number() {
  return {.name = "deploy", .required = true, .help = "the deploy number"};
}

ArgSpec reason_option(std::string help) {
  return {.name = "reason", .kind = Kind::option, .placeholder = "text", .help = std::move(help)};
}

ArgSpec limit_option(std::string help) {
  return {.name = "limit", .kind = Kind::option, .placeholder = "n", .help = std::move(help)};
}

ArgSpec incident_option() {
  return {.name = "id",
          .kind = Kind::option,
          .placeholder = "incident",
          .help = "which incident (default: this room's, or the only open one)"};
}

ArgSpec at_option(std::string help) {
  return {.name = "at", .kind = Kind::option, .placeholder = "time", .help = std::move(help)};
}

// Incidents (issue 14): declare, roles, status, timeline, resolve.
void add_incident_commands(CommandRegistry& registry) {
  registry.add_group(GroupSpec{.word = "incident",
                               .summary = "Declare and run incidents: roles, status, timeline",
                               .default_path = "incident list"});
  registry.add(CommandSpec{
      .path = "incident declare",
      .summary = "Declare an incident (the declarer becomes its commander)",
      .args = {{.name = "title", .required = true, .help = "what is wrong, in quotes"},
               {.name = "more",
                .kind = Kind::rest,
                .placeholder = "sevN services",
                .help = "severity sev1 (worst) to sev4 (default sev3), then affected services"},
               at_option("when it was detected, if earlier: 14:05 (UTC), 20m ago, ISO 8601"),
               {.name = "private",
                .kind = Kind::flag,
                .help = "an invite-only room (Slack); only its people see the incident"}},
      .examples = {"incident declare \"checkout errors\" sev2 hello",
                   "incident declare \"slow logins\" sev3 --at \"20m ago\"",
                   "incident declare \"leaked token\" sev1 --private"},
      .action = CommandAction::incident,
      .scope = Scope::incident,
      .handler = handle_incident_declare});
  registry.add(CommandSpec{
      .path = "incident status",
      .summary = "Post a status update: investigating, identified or monitoring",
      .args = {{.name = "state", .required = true, .help = "investigating, identified, monitoring"},
               {.name = "text", .kind = Kind::rest, .help = "what is known now"},
               incident_option()},
      .examples = {"incident status identified \"bad config in v2\"",
                   "incident status monitoring rolled back, errors falling"},
      .action = CommandAction::incident,
      .scope = Scope::incident,
      .handler = handle_incident_status});
  registry.add(CommandSpec{
      .path = "incident severity",
      .summary = "Change an incident's severity",
      .args = {{.name = "severity", .required = true, .help = "sev1 to sev4"}, incident_option()},
      .examples = {"incident severity sev1"},
      .action = CommandAction::incident,
      .scope = Scope::incident,
      .handler = handle_incident_severity});
  registry.add(CommandSpec{
      .path = "incident assign",
      .summary = "Give someone an incident role (commander, comms, scribe, ...)",
      .args = {{.name = "role", .required = true, .help = "the role"},
               {.name = "user", .required = true, .help = "a configured user, or me"},
               incident_option()},
      .examples = {"incident assign comms bob", "incident assign commander me --id INC-3"},
      .action = CommandAction::incident,
      .scope = Scope::incident,
      .handler = handle_incident_assign});
  registry.add(CommandSpec{.path = "incident note",
                           .summary = "Add a note to the incident's timeline",
                           .args = {{.name = "text", .kind = Kind::rest, .help = "the note"},
                                    at_option("when it happened, if earlier"),
                                    incident_option()},
                           .examples = {"incident note \"paged the database team\"",
                                        "incident note failover started --at 14:02"},
                           .action = CommandAction::incident,
                           .scope = Scope::incident,
                           .handler = handle_incident_note});
  registry.add(CommandSpec{
      .path = "incident milestone",
      .summary = "Record when the incident was detected, acknowledged or mitigated",
      .args = {{.name = "milestone", .required = true, .help = "detected, acknowledged, mitigated"},
               at_option("when (default now): 14:05 (UTC), 20m ago, ISO 8601"),
               incident_option()},
      .examples = {"incident milestone detected --at 13:52", "incident milestone mitigated"},
      .action = CommandAction::incident,
      .scope = Scope::incident,
      .handler = handle_incident_milestone});
  registry.add(CommandSpec{
      .path = "incident link",
      .summary = "Link a deploy to the incident as its cause (DORA counts it as failed)",
      .args = {deploy_number(), incident_option()},
      .examples = {"incident link 12", "incident link 12 --id INC-3"},
      .action = CommandAction::incident,
      .scope = Scope::incident,
      .handler = handle_incident_link});
  registry.add(CommandSpec{
      .path = "incident timeline",
      .summary = "Show an incident's timeline (in chat, or as Markdown)",
      .args = {{.name = "incident", .help = "its id; default: this room's, or the only open one"},
               {.name = "markdown", .kind = Kind::flag, .help = "as a Markdown table"},
               incident_option()},
      .examples = {"incident timeline", "incident timeline INC-3 --markdown"},
      .handler = handle_incident_timeline});
  registry.add(CommandSpec{
      .path = "incident resolve",
      .summary = "Resolve an incident and write its postmortem skeleton",
      .args = {{.name = "summary", .kind = Kind::rest, .help = "what happened, in a sentence"},
               at_option("when it was resolved, if earlier"),
               incident_option()},
      .examples = {"incident resolve \"bad config in v2; rolled back\""},
      .action = CommandAction::incident,
      .scope = Scope::incident,
      .handler = handle_incident_resolve});
  registry.add(CommandSpec{.path = "incident list",
                           .aliases = {"incidents"},
                           .summary = "Open and recently resolved incidents",
                           .examples = {"incidents", "incident list"},
                           .handler = handle_incidents});
}

// The runbook group: definitions (list, show, run) and the runs' own commands.
void add_runbook_commands(CommandRegistry& registry) {
  registry.add_group(GroupSpec{.word = "runbook",
                               .summary = "Run runbooks: declared, typed, journaled step by step",
                               .default_path = "runbook list"});
  registry.add(CommandSpec{.path = "runbook list",
                           .aliases = {"runbooks"},
                           .summary = "List the runbooks with their parameters",
                           .examples = {"runbook list"},
                           .handler = handle_runbook_list});
  registry.add(
      CommandSpec{.path = "runbook show",
                  .summary = "Explain a runbook: who may run it, its parameters and steps",
                  .args = {{.name = "runbook", .required = true, .help = "the runbook's name"}},
                  .examples = {"runbook show restart-hello"},
                  .handler = handle_runbook_show});
  registry.add(CommandSpec{
      .path = "runbook run",
      .summary = "Run a runbook (k=v parameters); --dry-run prints the plan and runs nothing",
      .args = {{.name = "runbook", .required = true, .help = "the runbook's name"},
               {.name = "dry_run",
                .kind = Kind::flag,
                .marker = "dry-run",
                .help = "resolve the parameters and print the plan; run nothing"}},
      .examples = {"runbook run restart-hello env=staging",
                   "runbook run health-report env=production --dry-run"},
      .action = CommandAction::runbook,
      .scope = Scope::runbook,
      .refusal_audit = "runbook.run.refused",
      .accepts_params = true,
      .handler = handle_runbook_run});
  const ArgSpec run_arg{.name = "run", .required = true, .help = "the run's number"};
  registry.add(
      CommandSpec{.path = "runbook status",
                  .summary = "Recent runbook runs, or one run step by step",
                  .args = {{.name = "run", .help = "a run's number; default: the recent runs"}},
                  .examples = {"runbook status", "runbook status 3"},
                  .handler = handle_runbook_status});
  registry.add(CommandSpec{.path = "runbook abort",
                           .summary = "Stop a run (its cleanup steps run when it has them)",
                           .args = {run_arg},
                           .examples = {"runbook abort 3"},
                           .action = CommandAction::runbook,
                           .scope = Scope::runbook,
                           .handler = handle_runbook_abort});
  registry.add(CommandSpec{
      .path = "runbook resume",
      .summary = "Go on with a run that waits after a restart: run the step again, or --skip it",
      .args = {run_arg,
               {.name = "skip",
                .kind = Kind::flag,
                .help = "count the interrupted step as done instead of running it again"}},
      .examples = {"runbook resume 3", "runbook resume 3 --skip"},
      .action = CommandAction::runbook,
      .scope = Scope::runbook,
      .handler = handle_runbook_resume});
  registry.add(CommandSpec{.path = "runbook confirm",
                           .summary = "Confirm a run's confirmation step (also its button)",
                           .args = {run_arg},
                           .examples = {"runbook confirm 3"},
                           .action = CommandAction::runbook,
                           .scope = Scope::runbook,
                           .handler = handle_runbook_confirm});
}

}  // namespace

CommandRegistry build_command_table() {
  CommandRegistry registry;

  registry.add(CommandSpec{
      .path = "deploy",
      .aliases = {"ship"},
      .summary = "Deploy a version of a service to an environment",
      .args = {{.name = "service", .required = true, .help = "the service to deploy"},
               {.name = "version",
                .help = "release to deploy; default: what runs in the previous environment"},
               {.name = "environment",
                .kind = Kind::keyword,
                .marker = "to",
                .placeholder = "env",
                .help = "target environment; default: the service's first"},
               reason_option("why, for the audit log and the status message"),
               {.name = "force",
                .kind = Kind::flag,
                .help = "deploy even if this version is already serving"},
               {.name = "override",
                .kind = Kind::flag,
                .help = "deploy past the promotion rule (needs --reason and permission)"}},
      .examples = {"deploy hello v2 to staging",
                   "deploy hello to production  (promotes staging's version)",
                   "deploy hello v2 to staging --reason \"hotfix for login\""},
      .action = CommandAction::deploy,
      .scope = Scope::environment,
      .handler = handle_deploy});

  registry.add(CommandSpec{
      .path = "rollback",
      .aliases = {"revert", "undo"},
      .summary = "Roll a service back to its previous good version",
      .args = {{.name = "service", .required = true, .help = "the service to roll back"},
               {.name = "environment",
                .kind = Kind::keyword,
                .marker = "in",
                .placeholder = "env",
                .help = "environment; default: the only one it runs in"},
               {.name = "version",
                .kind = Kind::keyword,
                .marker = "to",
                .help = "version to return to; default: the last good one"},
               reason_option("why, for the audit log")},
      .examples = {"rollback hello in staging",
                   "rollback hello in production to v1 --reason \"errors\""},
      .action = CommandAction::rollback,
      .scope = Scope::environment,
      .handler = handle_rollback});

  registry.add(CommandSpec{.path = "approve",
                           .aliases = {"lgtm"},
                           .summary = "Approve a deploy that waits for approval (not your own)",
                           .args = {deploy_number()},
                           .examples = {"approve 12"},
                           .action = CommandAction::approve,
                           .scope = Scope::deploy,
                           .handler = handle_approve});

  registry.add(CommandSpec{
      .path = "deny",
      .aliases = {"reject"},
      .summary = "Deny a deploy that waits for approval, or withdraw your own",
      .args = {deploy_number(),
               {.name = "reason", .kind = Kind::rest, .help = "why, told to the requester"}},
      .examples = {"deny 12 not during the incident"},
      .action = CommandAction::approve,
      .scope = Scope::deploy,
      .handler = handle_deny});

  registry.add(CommandSpec{
      .path = "link",
      .summary = "Link a deploy to the incident it caused (DORA counts it as failed)",
      .args = {deploy_number(),
               {.name = "incident",
                .kind = Kind::keyword,
                .marker = "to",
                .help = "the incident's id or URL; 'none' removes the link"}},
      .examples = {"link 12 to INC-42", "link 12 to none"},
      // Blaming a deploy is an operator's call in that environment: the rollback permission.
      .action = CommandAction::rollback,
      .scope = Scope::deploy,
      .handler = handle_link});

  registry.add(CommandSpec{.path = "continue",
                           .aliases = {"proceed"},
                           .summary = "Let a deploy paused on inconclusive checks go on",
                           .args = {deploy_number()},
                           .examples = {"continue 12"},
                           .action = CommandAction::deploy,
                           .scope = Scope::deploy,
                           .refusal_audit = "deploy.continue_refused",
                           .handler = handle_continue});

  registry.add(CommandSpec{.path = "abort",
                           .summary = "Roll back a deploy paused on inconclusive checks",
                           .args = {deploy_number()},
                           .examples = {"abort 12"},
                           .action = CommandAction::rollback,
                           .scope = Scope::deploy,
                           .refusal_audit = "deploy.abort_refused",
                           .handler = handle_abort});

  registry.add(CommandSpec{.path = "status",
                           .aliases = {"st"},
                           .summary = "What runs where, what is in progress, what is locked",
                           .args = {{.name = "service", .help = "limit to one service"}},
                           .examples = {"status", "status hello"},
                           .handler = handle_status});

  registry.add(CommandSpec{.path = "history",
                           .aliases = {"log"},
                           .summary = "Recent deploys and rollbacks of a service",
                           .args = {{.name = "service", .required = true, .help = "the service"},
                                    {.name = "environment",
                                     .kind = Kind::keyword,
                                     .marker = "in",
                                     .placeholder = "env",
                                     .help = "limit to one environment"},
                                    limit_option("how many (default 10)")},
                           .examples = {"history hello", "history hello in production --limit 20"},
                           .handler = handle_history});

  registry.add(CommandSpec{
      .path = "lock",
      .summary = "Block deploys and rollbacks of a service, an environment, or service@environment",
      .args = {{.name = "scope",
                .required = true,
                .help = "service, environment, or service@environment"},
               {.name = "reason",
                .kind = Kind::rest,
                .help = "why (shown to anyone who is blocked)"},
               {.name = "for",
                .kind = Kind::option,
                .placeholder = "duration",
                .help = "expire after this long: 30m, 2h, 1d"},
               {.name = "take-over",
                .kind = Kind::flag,
                .help = "replace someone else's lock (needs a reason and permission)"}},
      .examples = {"lock hello database migration running", "lock production --for 2h",
                   "lock hello@staging", "lock production release train --take-over"},
      .action = CommandAction::lock,
      .scope = Scope::lock,
      .handler = handle_lock});

  registry.add(CommandSpec{.path = "unlock",
                           .summary = "Release a lock you hold (admins may release any)",
                           .args = {{.name = "scope", .required = true, .help = "what was locked"}},
                           .examples = {"unlock hello", "unlock production"},
                           .action = CommandAction::unlock,
                           .scope = Scope::lock,
                           .handler = handle_unlock});

  registry.add(CommandSpec{.path = "locks",
                           .summary = "List current locks",
                           .examples = {"locks"},
                           .handler = handle_locks});

  registry.add(CommandSpec{
      .path = "metrics",
      .aliases = {"dora"},
      .summary =
          "DORA metrics: deployment frequency, lead time, change failure rate, time to restore",
      .args = {{.name = "service", .help = "limit to one service"},
               {.name = "days",
                .kind = Kind::option,
                .placeholder = "n",
                .help = "how far back to look (default 30)"}},
      .examples = {"metrics", "metrics hello --days 7"},
      .handler = handle_metrics});

  add_incident_commands(registry);
  // Scheduled announcements and digests, and freezes from chat (issue 15).
  registry.add(CommandSpec{
      .path = "announce",
      .summary = "Post an announcement in a channel at a given time",
      .args = {{.name = "channel", .required = true, .help = "#channel, a channel id, or here"},
               {.name = "when",
                .kind = Kind::rest,
                .help = "at <when> \"text\": 17:00 Europe/Paris, tomorrow 09:00, "
                        "2026-12-24T09:00Z, in 2h"}},
      .examples = {"announce #releases at 17:00 Europe/Paris \"Release train leaves in 1 hour\"",
                   "announce here at tomorrow 09:00 \"Deploy freeze starts now\""},
      .action = CommandAction::schedule,
      .scope = Scope::workspace,
      .handler = handle_announce});
  registry.add_group(GroupSpec{.word = "schedule",
                               .summary = "Recurring announcements and digests",
                               .default_path = "schedule list"});
  registry.add(CommandSpec{
      .path = "schedule add",
      .summary = "Add a cron schedule: an announcement, a release digest or the DORA digest",
      .args = {{.name = "name", .required = true, .help = "a short name: letters, digits, -"},
               {.name = "cron", .required = true, .help = "5-field cron, in quotes"},
               {.name = "what",
                .kind = Kind::rest,
                .help = "[zone] announce \"text\" | release-digest <env> | dora-digest"},
               {.name = "channel",
                .kind = Kind::option,
                .placeholder = "channel",
                .help = "where to post (default: here)"},
               {.name = "misfire",
                .kind = Kind::option,
                .placeholder = "policy",
                .help = "after downtime: skip, run-once (default) or run-all"},
               {.name = "lateness",
                .kind = Kind::option,
                .placeholder = "duration",
                .help = "how late a missed run may still run (default 1h, at most 7d)"}},
      .examples =
          {"schedule add weekly-prod \"0 9 * * mon\" Europe/Paris release-digest production",
           "schedule add standup \"30 9 * * mon-fri\" America/New_York announce \"Standup\"",
           "schedule add dora \"0 8 1 * *\" dora-digest --channel #eng --misfire skip"},
      .action = CommandAction::schedule,
      .scope = Scope::workspace,
      .handler = handle_schedule_add});
  registry.add(CommandSpec{.path = "schedule list",
                           .summary = "List schedules and their next run",
                           .examples = {"schedule list"},
                           .handler = handle_schedule_list});
  registry.add(
      CommandSpec{.path = "schedule show",
                  .summary = "A schedule's details, its next five runs and what it did lately",
                  .args = {{.name = "id", .required = true, .help = "its number or name"}},
                  .examples = {"schedule show 3", "schedule show weekly-prod"},
                  .handler = handle_schedule_show});
  registry.add(CommandSpec{.path = "schedule pause",
                           .summary = "Stop a schedule from running until resumed",
                           .args = {{.name = "id", .required = true, .help = "its number or name"}},
                           .examples = {"schedule pause 3"},
                           .action = CommandAction::schedule,
                           .scope = Scope::workspace,
                           .handler = handle_schedule_pause});
  registry.add(
      CommandSpec{.path = "schedule resume",
                  .summary = "Resume a paused schedule (what it missed meanwhile is not run)",
                  .args = {{.name = "id", .required = true, .help = "its number or name"}},
                  .examples = {"schedule resume 3"},
                  .action = CommandAction::schedule,
                  .scope = Scope::workspace,
                  .handler = handle_schedule_resume});
  registry.add(CommandSpec{.path = "schedule cancel",
                           .summary = "Cancel a schedule or a pending announcement",
                           .args = {{.name = "id", .required = true, .help = "its number or name"}},
                           .examples = {"schedule cancel 3"},
                           .action = CommandAction::schedule,
                           .scope = Scope::workspace,
                           .handler = handle_schedule_cancel});

  registry.add(CommandSpec{
      .path = "freeze",
      .summary = "Freeze an environment: deploys are refused (rollbacks are fine) until it ends",
      .args = {{.name = "environment", .required = true, .help = "the environment"},
               {.name = "rest",
                .kind = Kind::rest,
                .help = "[until <when>] \"reason\"; without until: until 'unfreeze'"}},
      .examples = {"freeze production until monday 09:00 Europe/Paris \"holidays\"",
                   "freeze staging \"incident INC-42\""},
      .action = CommandAction::freeze,
      .scope = Scope::environment,
      .handler = handle_freeze});
  registry.add(
      CommandSpec{.path = "unfreeze",
                  .summary = "Lift the freezes declared from chat on an environment",
                  .args = {{.name = "environment", .required = true, .help = "the environment"}},
                  .examples = {"unfreeze production"},
                  .action = CommandAction::freeze,
                  .scope = Scope::environment,
                  .handler = handle_unfreeze});
  registry.add(CommandSpec{.path = "freezes",
                           .summary = "Freezes in force and coming (chat and configured windows)",
                           .examples = {"freezes"},
                           .handler = handle_freezes});

  registry.add_group(GroupSpec{.word = "notes",
                               .summary = "Release notes of a service's releases",
                               .default_path = "notes show",
                               .default_takes_words = true});
  registry.add(CommandSpec{
      .path = "notes show",
      .summary = "Release notes of a version (what its deploy brought), or of a range",
      .args = {{.name = "service", .required = true, .help = "the service"},
               {.name = "version",
                .placeholder = "version|from..to",
                .help = "a version, or two versions, tags or commits as from..to (default: what "
                        "the environment serves)"},
               {.name = "environment",
                .kind = Kind::keyword,
                .marker = "in",
                .placeholder = "env",
                .help = "where to look for the deploy"},
               {.name = "full", .kind = Kind::flag, .help = "every part of long notes"}},
      .examples = {"notes hello v2", "notes hello v1..v3", "notes hello in production",
                   "notes show hello v2 --full"},
      .handler = handle_notes_show});
  registry.add(CommandSpec{
      .path = "notes edit",
      .summary = "Replace a release's notes (regeneration keeps your text)",
      .args = {{.name = "service", .required = true, .help = "the service"},
               {.name = "version", .required = true, .help = "the release"},
               {.name = "text", .kind = Kind::rest, .help = "the new notes, in quotes"}},
      .examples = {"notes edit hello v2 \"Faster checkout; see the migration guide\""},
      .action = CommandAction::notes,
      .scope = Scope::workspace,
      .handler = handle_notes_edit});
  registry.add(CommandSpec{
      .path = "whats-new",
      .summary = "What reached an environment: each service's net change with its release notes",
      .args = {{.name = "environment", .required = true, .help = "the environment"},
               {.name = "since",
                .kind = Kind::rest,
                .help = "since <when> (monday 09:00, 2026-12-01, 3d) or since #<deploy>; "
                        "default: the last 7 days"},
               {.name = "full", .kind = Kind::flag, .help = "every part of a long answer"}},
      .examples = {"whats-new production", "whats-new production since monday 09:00",
                   "whats-new staging since #42", "whats-new production since 2d --full"},
      .handler = handle_whats_new});

  registry.add_group(GroupSpec{.word = "audit",
                               .summary = "Read the audit log or verify its hash chain",
                               .default_path = "audit tail"});
  registry.add(CommandSpec{.path = "audit tail",
                           .summary = "Show the newest audit records",
                           .args = {limit_option("records to show (default 20)")},
                           .examples = {"audit tail", "audit tail --limit 50"},
                           .handler = handle_audit_tail});
  registry.add(CommandSpec{.path = "audit verify",
                           .summary = "Verify the audit log's hash chain",
                           .examples = {"audit verify"},
                           .handler = handle_audit_verify});

  registry.add(
      CommandSpec{.path = "whoami",
                  .aliases = {"me"},
                  .summary = "Your identity, roles and what you may do in each environment",
                  .examples = {"whoami"},
                  .handler = handle_whoami});

  registry.add(CommandSpec{.path = "help",
                           .aliases = {"?"},
                           .summary = "List commands, or explain one or a group",
                           .args = {{.name = "command",
                                     .kind = Kind::rest,
                                     .help = "a command (one or two words) or a group"}},
                           .examples = {"help", "help deploy", "help audit", "help audit verify"},
                           .handler = handle_help});

  registry.add(CommandSpec{.path = "ping",
                           .summary = "Check that Shipmate is listening (answers pong)",
                           .examples = {"ping"},
                           .handler = handle_ping});

  add_runbook_commands(registry);
  return registry;
}

}  // namespace shipmate::commands
