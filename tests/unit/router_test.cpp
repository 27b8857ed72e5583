#include "bot/router.h"

#include <gtest/gtest.h>

#include "commands/handlers.h"
#include "common/redact.h"
#include "tests/support/command_harness.h"

namespace shipmate::testing {
namespace {

TEST(Router, StripsEveryFormOfAddress) {
  CommandHarness h;
  auto& router = *h.router;
  EXPECT_EQ(router.strip_address("deploy x"), "deploy x");
  EXPECT_EQ(router.strip_address("@shipmate deploy x"), "deploy x");
  EXPECT_EQ(router.strip_address("Shipmate: deploy x"), "deploy x");
  EXPECT_EQ(router.strip_address("shipmate, status"), "status");
  EXPECT_EQ(router.strip_address("/shipmate status"), "status");
  // Platform mention markup is each transport's to strip (Slack's <@U...> in bot/slack/).
  EXPECT_EQ(router.strip_address("<@U024BE7LH> status"), "<@U024BE7LH> status");
  EXPECT_EQ(router.strip_address("  status  "), "status");
  // A word that merely starts with the bot's name is not an address.
  EXPECT_EQ(router.strip_address("shipmates status"), "shipmates status");
}

TEST(Router, ReadOnlyCommandsAreNotAuditedButChangesAre) {
  CommandHarness h;
  h.run("alice", "status");
  h.run("alice", "help");
  EXPECT_TRUE(h.audit.tail(10).empty());
  h.run("alice", "lock hello");
  auto records = h.audit.tail(10);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].entry.action, "command");
  EXPECT_EQ(records[0].entry.details, "lock hello");
  EXPECT_EQ(records[1].entry.action, "lock.acquired");
}

TEST(Router, SecretsInCommandTextNeverReachTheAuditLog) {
  CommandHarness h;
  register_secret("xoxb-very-secret-token");
  h.run("alice", "lock hello leaked xoxb-very-secret-token here");
  for (const auto& record : h.audit.tail(10)) {
    EXPECT_EQ(record.entry.details.find("xoxb-very-secret-token"), std::string::npos);
  }
  auto lock = h.locks.get("service:hello");
  ASSERT_TRUE(lock);
  EXPECT_EQ(lock->reason.find("xoxb-very-secret-token"), std::string::npos);
  clear_registered_secrets();
}

}  // namespace
}  // namespace shipmate::testing

namespace shipmate::testing {
namespace {

std::vector<std::string> audit_actions(CommandHarness& h) {
  std::vector<std::string> out;
  for (const auto& record : h.audit.tail(1000))
    out.push_back(record.entry.action);
  return out;
}

TEST(Router, ChangesStateFollowsTheLongestPath) {
  CommandHarness h;
  auto& router = *h.router;
  EXPECT_TRUE(router.changes_state("deploy hello v1"));
  EXPECT_TRUE(router.changes_state("@shipmate SHIP hello v1"));
  EXPECT_TRUE(router.changes_state("@shipmate lock hello \"for a while\""));
  EXPECT_FALSE(router.changes_state("status"));
  EXPECT_FALSE(router.changes_state("audit"));
  EXPECT_FALSE(router.changes_state("audit verify"));
  EXPECT_FALSE(router.changes_state("audit --limit 5"));
  EXPECT_FALSE(router.changes_state("depoly hello"));
  EXPECT_FALSE(router.changes_state("\"deploy\" hello"));
  EXPECT_FALSE(router.changes_state("--deploy"));
  EXPECT_FALSE(router.changes_state("deploy=now"));
  EXPECT_FALSE(router.changes_state(""));
  EXPECT_FALSE(router.changes_state("shipmate"));
}

TEST(Router, AGroupWordAloneRunsItsDefaultWithItsOptions) {
  CommandHarness h;
  h.run("alice", "lock hello");
  h.run("alice", "unlock hello");
  std::string out = h.run("alice", "audit --limit 1");
  EXPECT_TRUE(out.find("lock.released") != std::string::npos) << out;
  EXPECT_TRUE(out.find("lock.acquired") == std::string::npos) << out;
  EXPECT_TRUE(h.run("alice", "audit tail").find("lock.acquired") != std::string::npos);
  EXPECT_EQ(h.run("alice", "audit verify"), "Audit log intact: 4 records, hash chain verified.\n");
  EXPECT_EQ(h.run("alice", "audit tail --limit 0"),
            "audit tail: --limit must be a number from 1 to 1000, not '0'\n");
}

TEST(Router, UnknownPathsGetADidYouMeanOnTheWholePath) {
  CommandHarness h;
  EXPECT_EQ(h.run("alice", "audti verify"),
            "Unknown command 'audti verify' - did you mean 'audit verify'? Type 'help' for the "
            "list.\n");
  EXPECT_EQ(h.run("alice", "audit verfy"),
            "Unknown command 'audit verfy' - did you mean 'audit verify'? Type 'help' for the "
            "list.\n");
  EXPECT_EQ(h.run("alice", "audit xyzzyplugh"),
            "Unknown command 'audit xyzzyplugh'. Type 'help audit' for its commands.\n");
  EXPECT_EQ(h.run("alice", "audti"),
            "Unknown command 'audti' - did you mean 'audit'? Type 'help' for the list.\n");
  EXPECT_EQ(h.run("alice", "depoly hello v1"),
            "Unknown command 'depoly' - did you mean 'deploy'? Type 'help' for the list.\n");
  EXPECT_EQ(h.run("alice", "xyzzyplugh now"),
            "Unknown command 'xyzzyplugh'. Type 'help' for the list.\n");
}

TEST(Router, HelpExplainsGroupsAndTwoWordCommands) {
  CommandHarness h;
  std::string out = h.run("alice", "help audit");
  EXPECT_EQ(out.rfind("audit: Read the audit log or verify its hash chain ('audit' alone: audit "
                      "tail)\n  audit tail [--limit <n>]",
                      0),
            0u)
      << out;
  out = h.run("alice", "help audit verify");
  EXPECT_EQ(out.rfind("audit verify\n  Verify the audit log's hash chain", 0), 0u) << out;
  EXPECT_EQ(h.run("alice", "help audit tial"),
            "No command 'audit tial' (did you mean 'audit tail'?). Type 'help' for the list.\n");
  EXPECT_EQ(h.run("alice", "help ship").rfind("deploy <service>", 0), 0u);
  out = h.run("alice", "help");
  EXPECT_NE(out.find("    audit verify"), std::string::npos) << out;
}

TEST(Router, PermissionIsCheckedBeforeTheHandlerWhereTheArgumentsNameTheEnvironment) {
  CommandHarness h;
  // Named environment: refused by the router, audited as the handler did.
  EXPECT_EQ(h.run("bob", "rollback hello in production"),
            "Rollback refused: bob may not rollback in production (needs role: sre)\n");
  auto actions = audit_actions(h);
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0], "command");
  EXPECT_EQ(actions[1], "rollback.refused");
  EXPECT_EQ(h.audit.tail(1)[0].entry.target, "hello@production");
  EXPECT_EQ(h.audit.tail(1)[0].entry.outcome, "refused");
  // A lock scope: any environment it covers is enough.
  EXPECT_EQ(
      h.run("bob", "lock production").rfind("Lock refused: bob may not lock in production", 0), 0u);
  EXPECT_EQ(audit_actions(h).back(), "lock.refused");
  EXPECT_EQ(h.run("bob", "lock hello").rfind("Locked hello for Bob", 0), 0u);
  // What the arguments cannot resolve is the handler's to explain.
  EXPECT_NE(h.run("bob", "lock prod").find("did you mean 'production'"), std::string::npos);
  EXPECT_NE(h.run("bob", "deploy hello v1 to prod").find("Deploy refused: unknown environment"),
            std::string::npos);
}

TEST(Router, DeployNumbersAreCheckedOnceForEveryCommandThatTakesOne) {
  CommandHarness h;
  EXPECT_EQ(h.run("alice", "approve twelve"),
            "approve: 'twelve' is not a deploy number (e.g. approve 12)\n");
  EXPECT_EQ(h.run("alice", "deny x"),
            "deny: 'x' is not a deploy number (e.g. deny 12 not during the incident)\n");
  EXPECT_EQ(h.run("alice", "continue #"),
            "continue: '#' is not a deploy number (e.g. continue 12)\n");
  EXPECT_EQ(h.run("alice", "abort 1.5"), "abort: '1.5' is not a deploy number (e.g. abort 12)\n");
  EXPECT_EQ(h.run("alice", "link x to INC-1"),
            "link: 'x' is not a deploy number (e.g. link 12 to INC-42)\n");
  EXPECT_EQ(h.run("alice", "continue 9"), "continue: there is no deploy #9\n");
  // The deploy's environment is resolved from the store: bob may not blame a production deploy.
  h.run("alice", "deploy hello v1 to production");
  EXPECT_EQ(h.run("bob", "link 1 to INC-1"),
            "Link refused: bob may not rollback in production (needs role: sre)\n");
  EXPECT_EQ(audit_actions(h).back(), "link.refused");
  EXPECT_EQ(h.audit.tail(1)[0].entry.target, "#1");
  EXPECT_EQ(h.run("bob", "abort 1"),
            "Abort refused: bob may not rollback in production (needs role: sre)\n");
  EXPECT_EQ(audit_actions(h).back(), "deploy.abort_refused");
  // A deploy to an environment the configuration has since dropped: nobody but... nobody.
  h.catalog.environments[1].name = "prod-old";
  EXPECT_EQ(h.run("carol", "link 1 to INC-1"),
            "Link refused: deploy #1 went to production, which is no longer configured\n");
}

TEST(Router, UnknownIdentitiesMayReadButNotChangeAnything) {
  CommandHarness h;
  EXPECT_EQ(h.run("mallory", "abort 3"),
            "mallory is not a configured user and may not run 'abort'; ask an admin to add them "
            "under users:\n");
  EXPECT_EQ(audit_actions(h), std::vector<std::string>{"command.refused"});
  EXPECT_EQ(h.run("mallory", "audit verify").rfind("Audit log intact", 0), 0u);
}

// The fake incident group of the registry tests, through the router: a group without a default
// lists its commands; two-word commands run with their own arguments.
TEST(Router, TwoWordCommandsOfATestGroupRunWithTheirArguments) {
  CommandHarness h;
  std::vector<std::string> ran;
  commands::CommandRegistry registry;
  registry.add_group(commands::GroupSpec{.word = "incident", .summary = "Incidents"});
  auto record = [&ran](commands::CommandContext& ctx) -> boost::asio::awaitable<void> {
    ran.push_back(ctx.spec.path + "|" + ctx.args.get("title") + ctx.args.get("id"));
    co_return;
  };
  registry.add(
      commands::CommandSpec{.path = "incident declare",
                            .summary = "Declare an incident",
                            .args = {{.name = "title", .kind = commands::ArgSpec::Kind::rest}},
                            .examples = {"incident declare checkout is down"},
                            .action = commands::CommandAction::lock,
                            .scope = commands::Scope::none,
                            .handler = record});
  registry.add(commands::CommandSpec{.path = "incident status",
                                     .summary = "One incident",
                                     .args = {{.name = "id", .required = true}},
                                     .examples = {"incident status 4"},
                                     .handler = record});
  registry.add(
      commands::CommandSpec{.path = "help",
                            .summary = "Help",
                            .args = {{.name = "command", .kind = commands::ArgSpec::Kind::rest}},
                            .examples = {"help"},
                            .handler = commands::handle_help});
  h.services->registry = &registry;
  h.router = std::make_unique<bot::Router>(*h.services, registry, "shipmate");

  EXPECT_EQ(h.run("alice", "@shipmate incident declare checkout is down"), "");
  EXPECT_EQ(h.run("alice", "incident status 4"), "");
  EXPECT_EQ(ran,
            (std::vector<std::string>{"incident declare|checkout is down", "incident status|4"}));
  EXPECT_EQ(audit_actions(h), std::vector<std::string>{"command"});
  EXPECT_EQ(h.audit.tail(1)[0].entry.target, "incident declare");
  EXPECT_TRUE(h.router->changes_state("incident declare x"));
  EXPECT_FALSE(h.router->changes_state("incident status 4"));
  EXPECT_FALSE(h.router->changes_state("incident"));

  EXPECT_EQ(h.run("alice", "incident"),
            "incident: Incidents\n"
            "  incident declare [<title...>]  Declare an incident\n"
            "  incident status <id>           One incident\n"
            "Type 'help incident <command>' for arguments and examples.\n");
  EXPECT_EQ(h.run("alice", "incident declre x"),
            "Unknown command 'incident declre' - did you mean 'incident declare'? Type 'help' for "
            "the list.\n");
  EXPECT_EQ(h.run("alice", "incident status"),
            "incident status: missing <id>. Usage: incident status <id>\n");
  EXPECT_EQ(h.run("mallory", "incident declare x"),
            "mallory is not a configured user and may not run 'incident declare'; ask an admin "
            "to add them under users:\n");
  EXPECT_EQ(h.run("alice", "help incident"), h.run("alice", "incident"));
}

}  // namespace
}  // namespace shipmate::testing
