#include "commands/registry.h"

#include <gtest/gtest.h>

#include "commands/command_table.h"
#include "commands/context.h"

namespace shipmate::commands {
namespace {

// Finds the command the way the router does (its first words, longest match) and binds the rest.
Result<ParsedArgs> parse(const CommandRegistry& registry, std::string_view text) {
  auto tokens = tokenize(text);
  EXPECT_TRUE(tokens.ok());
  const auto words = leading_words(text);
  const Lookup found = registry.lookup(words.first, words.second);
  EXPECT_EQ(found.kind, Lookup::Kind::command) << text;
  if (found.kind != Lookup::Kind::command)
    return make_error("no command");
  std::vector<Token> args(tokens->begin() + static_cast<std::ptrdiff_t>(found.words),
                          tokens->end());
  return CommandRegistry::parse(*found.spec, args);
}

boost::asio::awaitable<void> nothing(CommandContext&) {
  co_return;
}

// A registry with a fake "incident" group (the real incident commands come with their own
// issue): several two-word commands, no default, an alias, and one-word neighbours.
CommandRegistry incident_registry() {
  CommandRegistry registry;
  registry.add(CommandSpec{.path = "deploy", .summary = "Deploy", .examples = {"deploy"}});
  registry.add(CommandSpec{.path = "status", .summary = "Status", .examples = {"status"}});
  registry.add_group(GroupSpec{.word = "incident", .summary = "Declare and run incidents"});
  registry.add(CommandSpec{.path = "incident declare",
                           .aliases = {"incident open"},
                           .summary = "Declare an incident",
                           .args = {{.name = "title", .kind = ArgSpec::Kind::rest}},
                           .examples = {"incident declare checkout is down"},
                           .action = CommandAction::lock,
                           .handler = nothing});
  registry.add(CommandSpec{.path = "incident resolve",
                           .summary = "Resolve an incident",
                           .args = {{.name = "id", .required = true}},
                           .examples = {"incident resolve 4"},
                           .action = CommandAction::lock,
                           .handler = nothing});
  registry.add(CommandSpec{.path = "incident list",
                           .summary = "List open incidents",
                           .examples = {"incident list"},
                           .handler = nothing});
  registry.add(CommandSpec{.path = "incident status",
                           .summary = "One incident's timeline",
                           .args = {{.name = "id", .required = true}},
                           .examples = {"incident status 4"},
                           .handler = nothing});
  return registry;
}

class RegistryTest : public ::testing::Test {
 protected:
  CommandRegistry registry = build_command_table();
};

TEST_F(RegistryTest, EveryCommandHasSummaryExamplesAndHandler) {
  for (const auto& spec : registry.all()) {
    EXPECT_FALSE(spec.summary.empty()) << spec.path;
    EXPECT_FALSE(spec.examples.empty()) << spec.path;
    EXPECT_TRUE(static_cast<bool>(spec.handler)) << spec.path;
  }
}

TEST_F(RegistryTest, EveryExampleParses) {
  for (const auto& spec : registry.all()) {
    for (const auto& example : spec.examples) {
      // Examples may carry a trailing "(explanation)".
      std::string text = example.substr(0, example.find("  ("));
      auto parsed = parse(registry, text);
      EXPECT_TRUE(parsed.ok()) << text << ": " << (parsed.ok() ? "" : parsed.error().message);
    }
  }
}

TEST_F(RegistryTest, FindsByNameAndAliasCaseInsensitively) {
  EXPECT_EQ(registry.find("deploy")->path, "deploy");
  EXPECT_EQ(registry.find("SHIP")->path, "deploy");
  EXPECT_EQ(registry.find("revert")->path, "rollback");
  EXPECT_EQ(registry.find("Audit Verify")->path, "audit verify");
  EXPECT_EQ(registry.find("nonsense"), nullptr);
  EXPECT_EQ(registry.find("audit"), nullptr);  // a group's word is not a command
  EXPECT_EQ(registry.find("audit "), nullptr);
}

TEST_F(RegistryTest, DuplicateNamesAreRejected) {
  EXPECT_THROW(registry.add(CommandSpec{.path = "status"}), std::logic_error);
  EXPECT_THROW(registry.add(CommandSpec{.path = "fresh", .aliases = {"st"}}), std::logic_error);
  EXPECT_THROW(registry.add(CommandSpec{.path = "audit verify"}), std::logic_error);
  EXPECT_THROW(registry.add(CommandSpec{.path = "audit"}), std::logic_error);  // the group's word
  EXPECT_THROW(registry.add_group(GroupSpec{.word = "deploy"}), std::logic_error);
}

TEST_F(RegistryTest, MalformedPathsAndUndeclaredGroupsAreRejected) {
  EXPECT_THROW(registry.add(CommandSpec{.path = "Fresh"}), std::logic_error);
  EXPECT_THROW(registry.add(CommandSpec{.path = "one two three"}), std::logic_error);
  EXPECT_THROW(registry.add(CommandSpec{.path = "two  spaces"}), std::logic_error);
  EXPECT_THROW(registry.add(CommandSpec{.path = ""}), std::logic_error);
  EXPECT_THROW(registry.add(CommandSpec{.path = "widget spin"}), std::logic_error);
  EXPECT_THROW(registry.add_group(GroupSpec{.word = "widget", .default_path = "incident list"}),
               std::logic_error);
  registry.add_group(GroupSpec{.word = "widget", .default_path = "widget spin"});
  registry.add(CommandSpec{.path = "widget spin"});
  EXPECT_EQ(registry.find("widget spin")->group(), "widget");
}

TEST_F(RegistryTest, EveryGroupDefaultIsOneOfItsCommands) {
  for (const auto& group : registry.groups()) {
    EXPECT_FALSE(registry.commands_in(group.word).empty()) << group.word;
    if (!group.default_path.empty()) {
      ASSERT_NE(registry.find(group.default_path), nullptr) << group.default_path;
      EXPECT_EQ(registry.find(group.default_path)->group(), group.word);
    }
  }
}

TEST_F(RegistryTest, LongestMatchTwoWordsThenOneThenTheGroupsDefault) {
  Lookup found = registry.lookup("audit", "verify");
  ASSERT_EQ(found.kind, Lookup::Kind::command);
  EXPECT_EQ(found.spec->path, "audit verify");
  EXPECT_EQ(found.words, 2u);
  found = registry.lookup("AUDIT", "Tail");
  EXPECT_EQ(found.spec->path, "audit tail");
  // The word alone runs the group's default; what follows it (flags) are its arguments.
  found = registry.lookup("audit");
  ASSERT_EQ(found.kind, Lookup::Kind::command);
  EXPECT_EQ(found.spec->path, "audit tail");
  EXPECT_EQ(found.words, 1u);
  ASSERT_NE(found.group, nullptr);
  EXPECT_EQ(found.group->word, "audit");
  // A one-word command takes the second word as its argument.
  found = registry.lookup("lock", "hello");
  EXPECT_EQ(found.spec->path, "lock");
  EXPECT_EQ(found.words, 1u);
  // A word after a group's word that is none of its commands is not silently an argument.
  EXPECT_EQ(registry.lookup("audit", "verfy").kind, Lookup::Kind::unknown);
  EXPECT_EQ(registry.lookup("nonsense").kind, Lookup::Kind::unknown);
  EXPECT_EQ(registry.lookup("").kind, Lookup::Kind::unknown);
}

TEST_F(RegistryTest, AuditTailAndVerifyAreRealPaths) {
  auto args = parse(registry, "audit --limit 5");
  ASSERT_TRUE(args.ok()) << args.error().message;
  EXPECT_EQ(args->get("limit"), "5");
  args = parse(registry, "audit tail --limit 50");
  ASSERT_TRUE(args.ok()) << args.error().message;
  EXPECT_EQ(args->get("limit"), "50");
  args = parse(registry, "audit verify --limit 5");
  ASSERT_FALSE(args.ok());
  EXPECT_EQ(args.error().message, "audit verify: unknown flag --limit. Usage: audit verify");
  EXPECT_FALSE(registry.find("audit verify")->changes_state());
}

TEST(IncidentGroup, LookupSuggestAndAliases) {
  const CommandRegistry registry = incident_registry();
  EXPECT_EQ(registry.lookup("incident", "declare").spec->path, "incident declare");
  EXPECT_EQ(registry.lookup("Incident", "OPEN").spec->path, "incident declare");  // alias
  EXPECT_EQ(registry.lookup("incident", "declare").words, 2u);
  // No default: the word alone names the group.
  const Lookup group = registry.lookup("incident");
  EXPECT_EQ(group.kind, Lookup::Kind::group);
  EXPECT_EQ(group.spec, nullptr);
  EXPECT_EQ(group.group->word, "incident");
  // "incident status" is a two-word command even though "status" is a one-word one.
  EXPECT_EQ(registry.lookup("incident", "status").spec->path, "incident status");
  EXPECT_EQ(registry.lookup("status", "incident").spec->path, "status");

  EXPECT_EQ(registry.suggest("incident", "declre"), std::vector<std::string>{"incident declare"});
  EXPECT_EQ(registry.suggest("incidnt", "declare").front(), "incident declare");
  EXPECT_EQ(registry.suggest("incident", "opne").front(), "incident declare");  // via its alias
  EXPECT_EQ(registry.suggest("incidnt").front(), "incident");                   // the group word
  EXPECT_EQ(registry.suggest("depoly", "hello").front(), "deploy");  // one word after all
  EXPECT_TRUE(registry.suggest("incident", "xyzzyplugh").empty());
  EXPECT_EQ(registry.commands_in("incident").size(), 4u);
}

TEST(IncidentGroup, HelpListsTheGroupAndTheOverviewGroupsIt) {
  const CommandRegistry registry = incident_registry();
  const std::string page = registry.describe_group(*registry.find_group("incident"));
  EXPECT_EQ(page,
            "incident: Declare and run incidents\n"
            "  incident declare [<title...>]  Declare an incident\n"
            "  incident resolve <id>          Resolve an incident\n"
            "  incident list                  List open incidents\n"
            "  incident status <id>           One incident's timeline\n"
            "Type 'help incident <command>' for arguments and examples.");
  EXPECT_EQ(registry.overview(),
            "Commands:\n"
            "  deploy              Deploy\n"
            "  status              Status\n"
            "  incident            Declare and run incidents\n"
            "    incident declare  Declare an incident\n"
            "    incident resolve  Resolve an incident\n"
            "    incident list     List open incidents\n"
            "    incident status   One incident's timeline\n"
            "Type 'help <command>' for arguments and examples, 'help <group>' for a group.");
  const std::string one = CommandRegistry::describe(*registry.find("incident declare"));
  EXPECT_NE(one.find("incident declare [<title...>]"), std::string::npos) << one;
  EXPECT_NE(one.find("Also: incident open"), std::string::npos) << one;
}

TEST_F(RegistryTest, SuggestsClosestCommand) {
  EXPECT_EQ(registry.suggest("depoly").front(), "deploy");
  EXPECT_EQ(registry.suggest("rolback").front(), "rollback");
  EXPECT_EQ(registry.suggest("stauts").front(), "status");
  EXPECT_EQ(registry.suggest("unlok").front(), "unlock");
  EXPECT_TRUE(registry.suggest("xyzzyplugh").empty());
}

TEST_F(RegistryTest, DeployBindsPositionalsKeywordsAndOptions) {
  auto args = parse(registry, "deploy api v1.4.2 to prod --reason \"hot fix\" --force");
  ASSERT_TRUE(args.ok()) << args.error().message;
  EXPECT_EQ(args->get("service"), "api");
  EXPECT_EQ(args->get("version"), "v1.4.2");
  EXPECT_EQ(args->get("environment"), "prod");
  EXPECT_EQ(args->get("reason"), "hot fix");
  EXPECT_TRUE(args->has("force"));
}

TEST_F(RegistryTest, KeywordMayComeBeforePositional) {
  auto args = parse(registry, "deploy api to prod");
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(args->get("environment"), "prod");
  EXPECT_FALSE(args->has("version"));
}

TEST_F(RegistryTest, MissingRequiredArgumentShowsUsage) {
  auto args = parse(registry, "deploy");
  ASSERT_FALSE(args.ok());
  EXPECT_EQ(args.error().message,
            "deploy: missing <service>. Usage: deploy <service> [<version>] [to <env>] "
            "[--reason <text>] [--force] [--override]");
}

TEST_F(RegistryTest, UnexpectedExtraWordIsNamed) {
  auto args = parse(registry, "deploy api v1 v2");
  ASSERT_FALSE(args.ok());
  EXPECT_NE(args.error().message.find("unexpected 'v2'"), std::string::npos);
}

TEST_F(RegistryTest, UnknownFlagSuggestsTheClosest) {
  auto args = parse(registry, "deploy api v1 --forse");
  ASSERT_FALSE(args.ok());
  EXPECT_NE(args.error().message.find("unknown flag --forse (did you mean 'force'?)"),
            std::string::npos)
      << args.error().message;
}

TEST_F(RegistryTest, OptionWithoutValueIsAnError) {
  auto args = parse(registry, "deploy api v1 --reason");
  ASSERT_FALSE(args.ok());
  EXPECT_NE(args.error().message.find("--reason needs a value"), std::string::npos);
}

TEST_F(RegistryTest, FlagWithValueIsAnError) {
  auto args = parse(registry, "deploy api v1 --force=yes");
  ASSERT_FALSE(args.ok());
  EXPECT_NE(args.error().message.find("takes no value"), std::string::npos);
}

TEST_F(RegistryTest, RepeatedOptionIsAnError) {
  auto args = parse(registry, "deploy api --reason a --reason b");
  ASSERT_FALSE(args.ok());
  EXPECT_NE(args.error().message.find("given twice"), std::string::npos);
}

TEST_F(RegistryTest, KeywordWithoutValueIsAnError) {
  auto args = parse(registry, "deploy api v1 to");
  ASSERT_FALSE(args.ok());
  EXPECT_NE(args.error().message.find("'to' must be followed by <env>"), std::string::npos);
}

TEST_F(RegistryTest, RestCollectsFreeText) {
  auto args = parse(registry, "lock hello database migration \"in progress\"");
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(args->get("scope"), "hello");
  EXPECT_EQ(args->get("reason"), "database migration in progress");
}

TEST(Choices, AreEnforcedWithSuggestion) {
  const CommandSpec spec{
      .path = "report",
      .args = {{.name = "format", .choices = {"text", "json"}},
               {.name = "as", .kind = ArgSpec::Kind::option, .choices = {"csv"}}}};
  auto tokens = tokenize("jsno");
  auto args = CommandRegistry::parse(spec, *tokens);
  ASSERT_FALSE(args.ok());
  EXPECT_EQ(args.error().message,
            "report: 'jsno' is not a valid format; choose one of: text, json (did you mean "
            "'json'?)");
  tokens = tokenize("json --as csv");
  args = CommandRegistry::parse(spec, *tokens);
  ASSERT_TRUE(args.ok()) << args.error().message;
  EXPECT_EQ(args->get("format"), "json");
  EXPECT_EQ(CommandRegistry::usage(spec), "report [text|json] [--as <as>]");
}

TEST_F(RegistryTest, HelpPagesComeFromTheSpecs) {
  const std::string page = CommandRegistry::describe(*registry.find("rollback"));
  EXPECT_NE(page.find("rollback <service> [in <env>] [to <version>]"), std::string::npos) << page;
  EXPECT_NE(page.find("Examples:"), std::string::npos);
  EXPECT_NE(page.find("Also: revert, undo"), std::string::npos);
  const std::string overview = registry.overview();
  for (const auto& spec : registry.all()) {
    EXPECT_NE(overview.find(spec.path), std::string::npos) << spec.path;
  }
  EXPECT_NE(overview.find("  audit     "), std::string::npos) << overview;
  EXPECT_NE(overview.find("    audit verify"), std::string::npos) << overview;
  EXPECT_NE(overview.find("('audit' alone: audit tail)"), std::string::npos) << overview;
}

TEST_F(RegistryTest, HelpPrintsThePermissionFromTheTypedActionAndScope) {
  auto permission = [&](std::string_view path) {
    const std::string page = CommandRegistry::describe(*registry.find(path));
    return page.substr(page.find("Permission: ") + 12);
  };
  EXPECT_EQ(permission("deploy"), "deploy in the target environment (a configured user; audited)");
  EXPECT_EQ(permission("rollback"),
            "rollback in the target environment (a configured user; audited)");
  EXPECT_EQ(permission("continue"),
            "deploy in the deploy's environment (a configured user; audited)");
  EXPECT_EQ(permission("link"),
            "rollback in the deploy's environment (a configured user; audited)");
  EXPECT_EQ(permission("lock"),
            "lock in an environment the scope covers (a configured user; audited)");
  EXPECT_EQ(permission("unlock"), "the lock's holder, or admin (audited)");
  EXPECT_EQ(permission("approve"),
            "a role the approvals: policy in the deploy's environment lists, or admin; the "
            "requester may only withdraw (audited)");
  EXPECT_EQ(permission("audit verify"), "none (reads only; open to everyone)");
}

TEST_F(RegistryTest, EveryCommandThatChangesStateNamesWhereItActs) {
  for (const auto& spec : registry.all()) {
    if (spec.changes_state()) {
      EXPECT_NE(spec.scope, Scope::none) << spec.path;
    }
    // The router reads these arguments for the scope; a spec that declares the scope has them.
    const char* needed = spec.scope == Scope::deploy        ? "deploy"
                         : spec.scope == Scope::lock        ? "scope"
                         : spec.scope == Scope::environment ? "environment"
                                                            : nullptr;
    if (needed == nullptr)
      continue;
    bool declared = false;
    for (const auto& arg : spec.args)
      declared = declared || arg.name == needed;
    EXPECT_TRUE(declared) << spec.path << " needs an argument named " << needed;
  }
}

TEST(ClosestMatches, RanksByDistanceAndHandlesPrefixes) {
  std::vector<std::string> names{"staging", "production", "dev"};
  EXPECT_EQ(closest_matches("prod", names).front(), "production");
  EXPECT_EQ(closest_matches("stagin", names).front(), "staging");
  EXPECT_TRUE(closest_matches("qa", names).empty());
  EXPECT_EQ(did_you_mean("stagng", names), " (did you mean 'staging'?)");
  EXPECT_EQ(did_you_mean("zzzzzz", names), "");
}

}  // namespace
}  // namespace shipmate::commands
