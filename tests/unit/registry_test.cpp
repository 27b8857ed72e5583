#include "commands/registry.h"

#include <gtest/gtest.h>

#include "commands/command_table.h"

namespace shipmate::commands {
namespace {

Result<ParsedArgs> parse(const CommandRegistry& registry, std::string_view text) {
  auto tokens = tokenize(text);
  EXPECT_TRUE(tokens.ok());
  const auto* spec = registry.find(tokens->front().text);
  EXPECT_NE(spec, nullptr) << text;
  std::vector<Token> args(tokens->begin() + 1, tokens->end());
  return CommandRegistry::parse(*spec, args);
}

class RegistryTest : public ::testing::Test {
 protected:
  CommandRegistry registry = build_command_table();
};

TEST_F(RegistryTest, EveryCommandHasSummaryExamplesAndHandler) {
  for (const auto& spec : registry.all()) {
    EXPECT_FALSE(spec.summary.empty()) << spec.name;
    EXPECT_FALSE(spec.examples.empty()) << spec.name;
    EXPECT_TRUE(static_cast<bool>(spec.handler)) << spec.name;
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
  EXPECT_EQ(registry.find("deploy")->name, "deploy");
  EXPECT_EQ(registry.find("SHIP")->name, "deploy");
  EXPECT_EQ(registry.find("revert")->name, "rollback");
  EXPECT_EQ(registry.find("nonsense"), nullptr);
}

TEST_F(RegistryTest, DuplicateNamesAreRejected) {
  CommandSpec spec;
  spec.name = "status";
  EXPECT_THROW(registry.add(spec), std::logic_error);
  spec.name = "fresh";
  spec.aliases = {"st"};
  EXPECT_THROW(registry.add(spec), std::logic_error);
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

TEST_F(RegistryTest, ChoicesAreEnforcedWithSuggestion) {
  auto args = parse(registry, "audit verfy");
  ASSERT_FALSE(args.ok());
  EXPECT_NE(args.error().message.find("did you mean 'verify'"), std::string::npos)
      << args.error().message;
}

TEST_F(RegistryTest, HelpPagesComeFromTheSpecs) {
  const std::string page = CommandRegistry::describe(*registry.find("rollback"));
  EXPECT_NE(page.find("rollback <service> [in <env>] [to <version>]"), std::string::npos) << page;
  EXPECT_NE(page.find("Examples:"), std::string::npos);
  EXPECT_NE(page.find("Also: revert, undo"), std::string::npos);
  const std::string overview = registry.overview();
  for (const auto& spec : registry.all()) {
    EXPECT_NE(overview.find(spec.name), std::string::npos) << spec.name;
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
