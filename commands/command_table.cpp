#include "commands/command_table.h"

#include "commands/handlers.h"

namespace shipmate::commands {
namespace {

using Kind = ArgSpec::Kind;

ArgSpec positional(std::string name, bool required, std::string help) {
  ArgSpec arg;
  arg.name = name;
  arg.placeholder = std::move(name);
  arg.kind = Kind::positional;
  arg.required = required;
  arg.help = std::move(help);
  return arg;
}

ArgSpec keyword(std::string marker, std::string name, std::string placeholder, std::string help) {
  return ArgSpec{std::move(name),        Kind::keyword,   false, std::move(marker),
                 std::move(placeholder), std::move(help), {}};
}

ArgSpec option(std::string flag, std::string name, std::string placeholder, std::string help) {
  return ArgSpec{std::move(name),        Kind::option,    false, std::move(flag),
                 std::move(placeholder), std::move(help), {}};
}

ArgSpec flag(std::string flag, std::string help) {
  std::string name = flag;
  return ArgSpec{std::move(name), Kind::flag, false, std::move(flag), "", std::move(help), {}};
}

ArgSpec rest(std::string name, std::string help) {
  std::string placeholder = name;
  return ArgSpec{std::move(name),        Kind::rest,      false, "",
                 std::move(placeholder), std::move(help), {}};
}

}  // namespace

CommandRegistry build_command_table() {
  CommandRegistry registry;

  registry.add(CommandSpec{
      "deploy",
      {"ship"},
      "Deploy a version of a service to an environment",
      {positional("service", true, "the service to deploy"),
       positional("version", false,
                  "release to deploy; default: what runs in the previous environment"),
       keyword("to", "environment", "env", "target environment; default: the service's first"),
       option("reason", "reason", "text", "why, for the audit log and the status message"),
       flag("force", "deploy even if this version is already serving"),
       flag("override", "deploy past the promotion rule (needs --reason and permission)")},
      {"deploy hello v2 to staging", "deploy hello to production  (promotes staging's version)",
       "deploy hello v2 to staging --reason \"hotfix for login\""},
      "deploy in the target environment",
      true,
      false,
      handle_deploy});

  registry.add(CommandSpec{
      "rollback",
      {"revert", "undo"},
      "Roll a service back to its previous good version",
      {positional("service", true, "the service to roll back"),
       keyword("in", "environment", "env", "environment; default: the only one it runs in"),
       keyword("to", "version", "version", "version to return to; default: the last good one"),
       option("reason", "reason", "text", "why, for the audit log")},
      {"rollback hello in staging", "rollback hello in production to v1 --reason \"errors\""},
      "rollback in the environment",
      true,
      false,
      handle_rollback});

  registry.add(CommandSpec{"approve",
                           {"lgtm"},
                           "Approve a deploy that waits for approval (not your own)",
                           {positional("deploy", true, "the deploy number")},
                           {"approve 12"},
                           "a role the environment's approvals: policy lists, or admin",
                           true,
                           false,
                           handle_approve});

  registry.add(
      CommandSpec{"deny",
                  {"reject"},
                  "Deny a deploy that waits for approval, or withdraw your own",
                  {positional("deploy", true, "the deploy number"),
                   rest("reason", "why, told to the requester")},
                  {"deny 12 not during the incident"},
                  "a role the environment's approvals: policy lists, admin, or the requester",
                  true,
                  false,
                  handle_deny});

  registry.add(CommandSpec{
      "link",
      {},
      "Link a deploy to the incident it caused (DORA counts it as failed)",
      {positional("deploy", true, "the deploy number"),
       keyword("to", "incident", "incident", "the incident's id or URL; 'none' removes the link")},
      {"link 12 to INC-42", "link 12 to none"},
      "rollback in the deploy's environment",
      true,
      false,
      handle_link});

  registry.add(CommandSpec{"continue",
                           {"proceed"},
                           "Let a deploy paused on inconclusive checks go on",
                           {positional("deploy", true, "the deploy number")},
                           {"continue 12"},
                           "deploy in the deploy's environment",
                           true,
                           false,
                           handle_continue});

  registry.add(CommandSpec{"abort",
                           {},
                           "Roll back a deploy paused on inconclusive checks",
                           {positional("deploy", true, "the deploy number")},
                           {"abort 12"},
                           "rollback in the deploy's environment",
                           true,
                           false,
                           handle_abort});

  registry.add(CommandSpec{"status",
                           {"st"},
                           "What runs where, what is in progress, what is locked",
                           {positional("service", false, "limit to one service")},
                           {"status", "status hello"},
                           "",
                           false,
                           false,
                           handle_status});

  registry.add(CommandSpec{"history",
                           {"log"},
                           "Recent deploys and rollbacks of a service",
                           {positional("service", true, "the service"),
                            keyword("in", "environment", "env", "limit to one environment"),
                            option("limit", "limit", "n", "how many (default 10)")},
                           {"history hello", "history hello in production --limit 20"},
                           "",
                           false,
                           false,
                           handle_history});

  registry.add(CommandSpec{
      "lock",
      {},
      "Block deploys and rollbacks of a service, an environment, or service@environment",
      {positional("scope", true, "service, environment, or service@environment"),
       rest("reason", "why (shown to anyone who is blocked)"),
       option("for", "for", "duration", "expire after this long: 30m, 2h, 1d"),
       flag("take-over", "replace someone else's lock (needs a reason and permission)")},
      {"lock hello database migration running", "lock production --for 2h", "lock hello@staging",
       "lock production release train --take-over"},
      "lock in an environment the scope covers",
      true,
      false,
      handle_lock});

  registry.add(CommandSpec{"unlock",
                           {},
                           "Release a lock you hold (admins may release any)",
                           {positional("scope", true, "what was locked")},
                           {"unlock hello", "unlock production"},
                           "the lock's holder, or admin",
                           true,
                           false,
                           handle_unlock});

  registry.add(CommandSpec{
      "locks", {}, "List current locks", {}, {"locks"}, "", false, false, handle_locks});

  registry.add(CommandSpec{
      "metrics",
      {"dora"},
      "DORA metrics: deployment frequency, lead time, change failure rate, time to restore",
      {positional("service", false, "limit to one service"),
       option("days", "days", "n", "how far back to look (default 30)")},
      {"metrics", "metrics hello --days 7"},
      "",
      false,
      false,
      handle_metrics});

  ArgSpec audit_action = positional("action", false, "tail (default) or verify");
  audit_action.choices = {"tail", "verify"};
  registry.add(CommandSpec{"audit",
                           {},
                           "Show the audit log or verify its hash chain",
                           {audit_action, option("limit", "limit", "n", "records to show (tail)")},
                           {"audit", "audit verify", "audit tail --limit 50"},
                           "",
                           false,
                           false,
                           handle_audit});

  registry.add(CommandSpec{"whoami",
                           {"me"},
                           "Your identity, roles and what you may do in each environment",
                           {},
                           {"whoami"},
                           "",
                           false,
                           false,
                           handle_whoami});

  registry.add(CommandSpec{"help",
                           {"?"},
                           "List commands, or explain one",
                           {positional("command", false, "a command name")},
                           {"help", "help deploy"},
                           "",
                           false,
                           false,
                           handle_help});

  registry.add(CommandSpec{"ping",
                           {},
                           "Check that Shipmate is listening (answers pong)",
                           {},
                           {"ping"},
                           "",
                           false,
                           false,
                           handle_ping});
  return registry;
}

}  // namespace shipmate::commands
