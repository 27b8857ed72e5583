#include "bot/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "common/redact.h"
#include "tests/support/test_support.h"

namespace shipmate::bot {
namespace {

using shipmate::testing::TempDir;
using shipmate::testing::write_file;

// A valid configuration with one service; tests break it in one place at a time.
std::string valid_yaml(const std::string& releases) {
  return R"(shipmate:
  database: state/db.sqlite
environments:
  - name: staging
    allow:
      deploy: [developer]
  - name: production
    production: true
    allow:
      deploy: [sre]
users:
  - id: alice
    name: Alice
    roles: [developer, sre]
services:
  - name: hello
    environments: [staging, production]
    target:
      kind: local
      releases: )" +
         releases + R"(
      start: [python3, server.py]
      health: {http: /health, timeout: 1s, retries: 3, interval: 100ms}
      ports: {staging: 18081, production: 18082}
)";
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { std::filesystem::create_directories(dir.file("releases/v1")); }
  ConfigLoad parse(const std::string& yaml) {
    return parse_config(yaml, dir.file("shipmate.yaml"));
  }
  // The first error's text, for assertions.
  static std::string first_error(const ConfigLoad& load) {
    for (const auto& d : load.diagnostics) {
      if (d.severity == Diagnostic::Severity::error)
        return d.to_string();
    }
    return "";
  }
  TempDir dir;
};

TEST_F(ConfigTest, ValidConfigurationLoads) {
  auto load = parse(valid_yaml("releases"));
  ASSERT_TRUE(load.ok()) << first_error(load);
  const auto& config = *load.config;
  ASSERT_EQ(config.catalog.environments.size(), 2u);
  EXPECT_EQ(config.catalog.environments[0].name, "staging");
  EXPECT_TRUE(config.catalog.environments[1].production);
  EXPECT_EQ(config.catalog.environments[1].allowed_roles.at(commands::Action::deploy),
            std::vector<std::string>{"sre"});
  const auto& service = config.catalog.services.at(0);
  EXPECT_EQ(service.local.releases_dir, dir.file("releases"));
  EXPECT_EQ(service.local.start_command, (std::vector<std::string>{"python3", "server.py"}));
  EXPECT_EQ(service.local.health.timeout.count(), 1000);
  EXPECT_EQ(service.local.health.interval.count(), 100);
  EXPECT_EQ(service.local.environments.at("production").port, 18082);
  EXPECT_EQ(config.database_path, dir.file("state/db.sqlite"));
  EXPECT_EQ(config.state_dir, dir.file(".shipmate/state"));
  // Unless set, a replica's lease lasts 6 s: a takeover within 10 s of a death (issue 17).
  EXPECT_EQ(config.replica_lease_ms, 6'000);
}

TEST_F(ConfigTest, TheShippedExampleIsValid) {
  auto load = load_config(shipmate::testing::source_dir() + "/examples/shipmate.yaml");
  EXPECT_TRUE(load.ok()) << first_error(load);
  EXPECT_TRUE(load.diagnostics.empty());
}

TEST_F(ConfigTest, SyntaxErrorHasLineAndColumn) {
  auto load = parse("environments:\n  - name: [staging\n");
  ASSERT_FALSE(load.ok());
  EXPECT_NE(first_error(load).find(dir.file("shipmate.yaml") + ":3:1: error: YAML syntax"),
            std::string::npos)
      << first_error(load);
}

TEST_F(ConfigTest, UnknownKeyIsReportedWhereItIsWithSuggestion) {
  std::string yaml = valid_yaml("releases");
  yaml.replace(yaml.find("      ports:"), 12, "      prots:");
  auto load = parse(yaml);
  ASSERT_FALSE(load.ok());
  EXPECT_NE(first_error(load).find(":23:7: error: unknown key 'prots' in target of hello "
                                   "(did you mean 'ports'?)"),
            std::string::npos)
      << first_error(load);
}

TEST_F(ConfigTest, MissingReleasesDirectoryIsAnError) {
  auto load = parse(valid_yaml("no-such-dir"));
  ASSERT_FALSE(load.ok());
  EXPECT_NE(first_error(load).find("releases directory " + dir.file("no-such-dir") +
                                   " of hello does not exist"),
            std::string::npos)
      << first_error(load);
}

TEST_F(ConfigTest, UnknownEnvironmentInServiceSuggests) {
  std::string yaml = valid_yaml("releases");
  yaml.replace(yaml.find("[staging, production]"), 21, "[stagin, production]");
  auto load = parse(yaml);
  ASSERT_FALSE(load.ok());
  EXPECT_NE(first_error(load).find("unknown environment 'stagin' (did you mean 'staging'?)"),
            std::string::npos)
      << first_error(load);
}

TEST_F(ConfigTest, ShellStringStartCommandIsRefused) {
  std::string yaml = valid_yaml("releases");
  yaml.replace(yaml.find("[python3, server.py]"), 20, "\"python3 server.py && rm -rf /\"");
  auto load = parse(yaml);
  ASSERT_FALSE(load.ok());
  EXPECT_NE(first_error(load).find("never runs commands through a shell"), std::string::npos);
}

TEST_F(ConfigTest, BadValuesAreNamed) {
  std::string yaml = valid_yaml("releases");
  yaml.replace(yaml.find("timeout: 1s"), 11, "timeout: soon");
  yaml.replace(yaml.find("staging: 18081"), 14, "staging: 99999");
  auto load = parse(yaml);
  ASSERT_FALSE(load.ok());
  std::string all;
  for (const auto& d : load.diagnostics)
    all += d.to_string() + "\n";
  EXPECT_NE(all.find("health timeout 'soon' is not a duration"), std::string::npos) << all;
  EXPECT_NE(all.find("port must be a whole number from 1 to 65535, not '99999'"), std::string::npos)
      << all;
}

TEST_F(ConfigTest, DuplicatePortsAndNamesAreErrors) {
  std::string yaml = valid_yaml("releases");
  yaml.replace(yaml.find("production: 18082"), 17, "production: 18081");
  yaml.replace(yaml.find("  - name: production"), 20, "  - name: staging");
  auto load = parse(yaml);
  ASSERT_FALSE(load.ok());
  std::string all;
  for (const auto& d : load.diagnostics)
    all += d.to_string() + "\n";
  EXPECT_NE(all.find("environment 'staging' is defined twice"), std::string::npos) << all;
}

TEST_F(ConfigTest, MissingPortForAnEnvironment) {
  std::string yaml = valid_yaml("releases");
  yaml.replace(yaml.find("{staging: 18081, production: 18082}"), 35, "{staging: 18081}");
  auto load = parse(yaml);
  ASSERT_FALSE(load.ok());
  EXPECT_NE(first_error(load).find("ports has no entry for production"), std::string::npos)
      << first_error(load);
}

TEST_F(ConfigTest, LiteralSecretsAreRefused) {
  std::string yaml = valid_yaml("releases") + "secrets:\n  api: hunter2\n";
  auto load = parse(yaml);
  ASSERT_FALSE(load.ok());
  EXPECT_NE(first_error(load).find("secret 'api' has a literal value"), std::string::npos);

  std::string env_yaml = valid_yaml("releases");
  env_yaml.replace(env_yaml.find("      health:"), 0, "      env: {API_TOKEN: abc123}\n");
  load = parse(env_yaml);
  ASSERT_FALSE(load.ok());
  EXPECT_NE(first_error(load).find("API_TOKEN looks like a credential"), std::string::npos)
      << first_error(load);
}

TEST_F(ConfigTest, SecretFromEnvironmentIsLoadedAndRegisteredForRedaction) {
  clear_registered_secrets();
  ::setenv("SHIPMATE_TEST_SECRET", "s3cr3t-value-42", 1);
  std::string yaml = valid_yaml("releases") + "secrets:\n  api: {env: SHIPMATE_TEST_SECRET}\n";
  yaml.replace(yaml.find("      health:"), 0,
               "      env: {API_TOKEN: {secret: api}, MODE: demo}\n");
  auto load = parse(yaml);
  ASSERT_TRUE(load.ok()) << first_error(load);
  const auto& env = load.config->catalog.services[0].local.env;
  EXPECT_EQ(env.at("API_TOKEN"), "s3cr3t-value-42");
  EXPECT_EQ(env.at("MODE"), "demo");
  EXPECT_EQ(redact("token=s3cr3t-value-42"), "token=[REDACTED]");
  ::unsetenv("SHIPMATE_TEST_SECRET");
  clear_registered_secrets();
}

TEST_F(ConfigTest, SecretFromFileAndMissingVariable) {
  clear_registered_secrets();
  write_file(dir.file("key.txt"), "file-secret-99\n");
  std::string yaml = valid_yaml("releases") +
                     "secrets:\n  a: {file: key.txt}\n  b: {env: SHIPMATE_TEST_UNSET_VAR}\n";
  yaml.replace(yaml.find("      health:"), 0,
               "      env: {A_KEY: {secret: a}, B_KEY: {secret: b}}\n");
  auto load = parse(yaml);
  ASSERT_FALSE(load.ok());
  EXPECT_NE(first_error(load).find("environment variable SHIPMATE_TEST_UNSET_VAR is not set"),
            std::string::npos)
      << first_error(load);
  EXPECT_EQ(redact("file-secret-99"), "[REDACTED]");
  clear_registered_secrets();
}

TEST_F(ConfigTest, RoleNobodyHasIsAWarningNotAnError) {
  std::string yaml = valid_yaml("releases");
  yaml.replace(yaml.find("deploy: [sre]"), 13, "deploy: [sre, oncall]");
  auto load = parse(yaml);
  ASSERT_TRUE(load.ok());
  ASSERT_EQ(load.diagnostics.size(), 1u);
  EXPECT_NE(load.diagnostics[0].to_string().find("warning: role 'oncall' is not given to any user"),
            std::string::npos);
}

TEST_F(ConfigTest, UnreadableFile) {
  auto load = load_config(dir.file("missing.yaml"));
  ASSERT_FALSE(load.ok());
  EXPECT_NE(first_error(load).find("cannot read the configuration file"), std::string::npos);
}

TEST_F(ConfigTest, PromotionRulesAreReadAndChecked) {
  std::string yaml = valid_yaml("releases");
  yaml.replace(yaml.find("    production: true\n"), 21,
               "    production: true\n    promotion: {from: staging, soak: 30m}\n");
  auto load = parse(yaml);
  ASSERT_TRUE(load.ok()) << first_error(load);
  const auto& rule = load.config->catalog.environments[1].promotion;
  ASSERT_TRUE(rule.has_value());
  EXPECT_EQ(rule->from, "staging");
  EXPECT_EQ(rule->soak_ms, 30 * 60 * 1000);
  EXPECT_FALSE(load.config->catalog.environments[0].promotion.has_value());

  yaml.replace(yaml.find("from: staging"), 13, "from: stagin");
  load = parse(yaml);
  ASSERT_FALSE(load.ok());
  EXPECT_NE(first_error(load).find("promotion of production names 'stagin', which is not an "
                                   "environment listed before it (did you mean 'staging'?)"),
            std::string::npos)
      << first_error(load);
}

TEST_F(ConfigTest, FreezeWindowsAreReadAndChecked) {
  std::string yaml = valid_yaml("releases");
  const std::string freezes =
      "    production: true\n"
      "    freeze:\n"
      "      - {cron: \"0 17 * * fri\", duration: 64h, timezone: America/New_York, reason: "
      "weekend}\n"
      "      - {from: \"2026-12-20T00:00:00Z\", until: \"2027-01-04T00:00:00Z\", reason: "
      "holidays}\n";
  yaml.replace(yaml.find("    production: true\n"), 21, freezes);
  auto load = parse(yaml);
  ASSERT_TRUE(load.ok()) << first_error(load);
  const auto& windows = load.config->catalog.environments[1].freezes;
  ASSERT_EQ(windows.size(), 2u);
  EXPECT_TRUE(windows[0].recurring());
  EXPECT_EQ(windows[0].time_zone(), "America/New_York");
  EXPECT_FALSE(windows[1].recurring());
  EXPECT_EQ(windows[1].reason(), "holidays");

  std::string bad = yaml;
  bad.replace(bad.find("America/New_York"), 16, "America/Nowhere");
  load = parse(bad);
  ASSERT_FALSE(load.ok());
  EXPECT_NE(first_error(load).find("freeze window of production"), std::string::npos)
      << first_error(load);

  bad = yaml;
  bad.replace(bad.find("0 17 * * fri"), 12, "0 25 * * fri");
  load = parse(bad);
  ASSERT_FALSE(load.ok());
  EXPECT_NE(first_error(load).find("hour"), std::string::npos) << first_error(load);

  bad = yaml;
  bad.replace(bad.find("2027-01-04T00:00:00Z"), 20, "next year");
  load = parse(bad);
  ASSERT_FALSE(load.ok());
  EXPECT_NE(first_error(load).find("freeze times are written like"), std::string::npos);
}

TEST_F(ConfigTest, TheDefaultTimeZoneIsCheckedAndUsedByFreezeWindowsAndSchedules) {
  // Without timezone: UTC.
  auto load = parse(valid_yaml("releases"));
  ASSERT_TRUE(load.ok()) << first_error(load);
  EXPECT_EQ(load.config->catalog.time_zone, "UTC");

  std::string yaml = "timezone: Europe/Paris\n" + valid_yaml("releases");
  yaml.replace(yaml.find("    production: true\n"), 21,
               "    production: true\n"
               "    freeze:\n"
               "      - {cron: \"0 17 * * fri\", duration: 64h, reason: weekend}\n"
               "      - {cron: \"0 9 * * mon\", duration: 1h, timezone: Asia/Tokyo}\n");
  yaml +=
      "schedules:\n"
      "  - {name: weekly, cron: \"0 9 * * mon\", dora_digest: true, channel: terminal}\n"
      "  - {name: tokyo, cron: \"0 9 * * mon\", timezone: Asia/Tokyo, dora_digest: true, "
      "channel: terminal}\n";
  load = parse(yaml);
  ASSERT_TRUE(load.ok()) << first_error(load);
  EXPECT_EQ(load.config->catalog.time_zone, "Europe/Paris");
  const auto& windows = load.config->catalog.environments[1].freezes;
  ASSERT_EQ(windows.size(), 2u);
  EXPECT_EQ(windows[0].time_zone(), "Europe/Paris");  // none written: the default
  EXPECT_EQ(windows[1].time_zone(), "Asia/Tokyo");    // its own wins
  ASSERT_EQ(load.config->schedules.size(), 2u);
  EXPECT_EQ(load.config->schedules[0].timezone, "Europe/Paris");
  EXPECT_EQ(load.config->schedules[1].timezone, "Asia/Tokyo");

  // A typo is an error at its line, with the closest name.
  std::string bad = "timezone: Europe/Pari\n" + valid_yaml("releases");
  load = parse(bad);
  ASSERT_FALSE(load.ok());
  EXPECT_NE(first_error(load).find("shipmate.yaml:1:11: error: timezone: unknown time zone "
                                   "'Europe/Pari' (did you mean Europe/Paris?)"),
            std::string::npos)
      << first_error(load);
}

TEST_F(ConfigTest, ApprovalPoliciesAreRead) {
  std::string yaml = valid_yaml("releases");
  yaml.replace(yaml.find("    production: true\n"), 21,
               "    production: true\n    approvals: {count: 2, roles: [sre], expire: 30m}\n");
  auto load = parse(yaml);
  ASSERT_TRUE(load.ok()) << first_error(load);
  const auto& policy = load.config->catalog.environments[1].approvals;
  ASSERT_TRUE(policy.has_value());
  EXPECT_EQ(policy->count, 2);
  EXPECT_EQ(policy->roles, std::vector<std::string>{"sre"});
  EXPECT_EQ(policy->expire_ms, 30 * 60 * 1000);
  yaml.replace(yaml.find("count: 2"), 8, "count: 0");
  EXPECT_FALSE(parse(yaml).ok());
}

// Users' chat ids, per platform: ids: {slack: U..., teams: <object id>}, `slack:` as the older
// spelling. Roles attach to these ids, never to display names.
std::string with_users(const std::string& users) {
  std::string yaml = valid_yaml("releases");
  const std::string original = R"(users:
  - id: alice
    name: Alice
    roles: [developer, sre]
)";
  yaml.replace(yaml.find(original), original.size(), "users:\n" + users);
  return yaml;
}

TEST_F(ConfigTest, UserIdsPerPlatformAreRead) {
  auto load =
      parse(with_users("  - {id: alice, roles: [sre], ids: {slack: UALICE, teams: "
                       "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b}}\n"
                       "  - {id: bob, roles: [developer], slack: WBOB}\n"));
  ASSERT_TRUE(load.ok()) << first_error(load);
  const auto& users = load.config->catalog.users;
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users[0].ids.at("slack"), "UALICE");
  EXPECT_EQ(users[0].ids.at("teams"), "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b");
  EXPECT_EQ(users[1].ids.at("slack"), "WBOB");
  EXPECT_EQ(users[1].ids.size(), 1u);
}

TEST_F(ConfigTest, UnknownChatPlatformInIdsSuggestsTheClosest) {
  auto load = parse(with_users("  - {id: alice, ids: {slak: UALICE}}\n"));
  ASSERT_FALSE(load.ok());
  EXPECT_NE(first_error(load).find("user 'alice': unknown chat platform 'slak' (did you mean "
                                   "'slack'?); ids can be given for: slack, teams"),
            std::string::npos)
      << first_error(load);
}

TEST_F(ConfigTest, PlatformIdsMustLookLikeIdsNotDisplayNames) {
  auto slack = parse(with_users("  - {id: alice, ids: {slack: '@alice'}}\n"));
  ASSERT_FALSE(slack.ok());
  EXPECT_NE(first_error(slack).find("slack: '@alice' is not a Slack user id (U... or W...); "
                                    "Shipmate maps ids, never display names"),
            std::string::npos)
      << first_error(slack);
  auto alias = parse(with_users("  - {id: alice, slack: Alice Smith}\n"));
  ASSERT_FALSE(alias.ok());
  EXPECT_NE(first_error(alias).find("is not a Slack user id"), std::string::npos);
  auto teams = parse(with_users("  - {id: alice, ids: {teams: Alice Smith}}\n"));
  ASSERT_FALSE(teams.ok());
  EXPECT_NE(first_error(teams).find("teams: 'Alice Smith' is not a Microsoft Entra (Azure AD) "
                                    "object id"),
            std::string::npos)
      << first_error(teams);
}

TEST_F(ConfigTest, APlatformIdIsGivenOnceAndToOneUser) {
  auto twice = parse(with_users("  - {id: alice, slack: UALICE, ids: {slack: UALICE2}}\n"));
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(first_error(twice).find("user 'alice' has two slack ids"), std::string::npos)
      << first_error(twice);
  auto shared =
      parse(with_users("  - {id: alice, slack: UALICE}\n"
                       "  - {id: bob, ids: {slack: UALICE}}\n"));
  ASSERT_FALSE(shared.ok());
  EXPECT_NE(first_error(shared).find("slack id UALICE is given to both 'alice' and 'bob'"),
            std::string::npos)
      << first_error(shared);
}

TEST(Duration, Parses) {
  EXPECT_EQ(parse_duration_ms("500ms"), 500);
  EXPECT_EQ(parse_duration_ms("2s"), 2000);
  EXPECT_EQ(parse_duration_ms("1.5s"), 1500);
  EXPECT_EQ(parse_duration_ms("3m"), 180000);
  EXPECT_EQ(parse_duration_ms("1h"), 3600000);
  EXPECT_FALSE(parse_duration_ms("2 days"));
  EXPECT_FALSE(parse_duration_ms("s"));
}

}  // namespace
}  // namespace shipmate::bot

namespace shipmate::bot {
namespace {

class IncidentConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { std::filesystem::create_directories(dir.file("releases/v1")); }
  ConfigLoad parse(const std::string& incidents) {
    return parse_config(valid_yaml("releases") + incidents, dir.file("shipmate.yaml"));
  }
  static std::string first_error(const ConfigLoad& load) {
    for (const auto& d : load.diagnostics) {
      if (d.severity == Diagnostic::Severity::error)
        return d.to_string();
    }
    return "";
  }
  TempDir dir;
};

TEST_F(IncidentConfigTest, DefaultsWithoutTheSection) {
  auto load = parse("");
  ASSERT_TRUE(load.ok()) << first_error(load);
  const auto& incidents = load.config->incidents;
  EXPECT_EQ(incidents.roles, (std::vector<std::string>{"commander", "comms", "scribe"}));
  EXPECT_EQ(incidents.cadence_ms[0], 30LL * 60 * 1000);
  EXPECT_EQ(incidents.cadence_ms[2], 0);
  EXPECT_TRUE(incidents.manage_roles.empty());
}

TEST_F(IncidentConfigTest, TheSectionIsRead) {
  auto load = parse(R"(incidents:
  roles: [commander, comms, scribe, liaison]
  manage: [sre]
  cadence: {sev1: 15m, sev2: off, sev3: 2h}
  suspect_window: 2h
  timeline: all
  postmortem_dir: pm
)");
  ASSERT_TRUE(load.ok()) << first_error(load);
  const auto& incidents = load.config->incidents;
  EXPECT_EQ(incidents.roles.back(), "liaison");
  EXPECT_EQ(incidents.manage_roles, std::vector<std::string>{"sre"});
  EXPECT_EQ(incidents.cadence_ms[0], 15LL * 60 * 1000);
  EXPECT_EQ(incidents.cadence_ms[1], 0);
  EXPECT_EQ(incidents.cadence_ms[2], 2LL * 60 * 60 * 1000);
  EXPECT_EQ(incidents.suspect_window_ms, 2LL * 60 * 60 * 1000);
  EXPECT_TRUE(incidents.timeline_all_services);
  EXPECT_EQ(incidents.postmortem_dir, dir.file("pm"));
}

TEST_F(IncidentConfigTest, BadValuesAreNamed) {
  EXPECT_NE(first_error(parse("incidents:\n  cadense: {}\n")).find("did you mean 'cadence'"),
            std::string::npos);
  EXPECT_NE(first_error(parse("incidents:\n  cadence: {sev1: 10s}\n")).find("at least 1m"),
            std::string::npos);
  EXPECT_NE(first_error(parse("incidents:\n  timeline: some\n")).find("affected or all"),
            std::string::npos);
  EXPECT_NE(first_error(parse("incidents:\n  roles: [a, a]\n")).find("distinct"),
            std::string::npos);
  EXPECT_NE(first_error(parse("incidents:\n  rooms: maybe\n")).find("true or false"),
            std::string::npos);
  EXPECT_NE(first_error(parse("incidents:\n  room_prefix: Inc Room\n")).find("lowercase"),
            std::string::npos);
}

TEST_F(IncidentConfigTest, RoomsInvitesAndThePinEmojiAreRead) {
  auto load = parse(R"(incidents:
  rooms: false
  room_prefix: sev
  invite: [oncall, sre]
  pin_emoji: ":round_pushpin:"
)");
  ASSERT_TRUE(load.ok()) << first_error(load);
  const auto& incidents = load.config->incidents;
  EXPECT_FALSE(incidents.create_rooms);
  EXPECT_EQ(incidents.room_prefix, "sev");
  EXPECT_EQ(incidents.invite_roles, (std::vector<std::string>{"oncall", "sre"}));
  EXPECT_EQ(incidents.pin_emoji, "round_pushpin");
  auto defaults = parse("incidents: {}\n");
  ASSERT_TRUE(defaults.ok()) << first_error(defaults);
  EXPECT_TRUE(defaults.config->incidents.create_rooms);
  EXPECT_EQ(defaults.config->incidents.room_prefix, "inc");
  EXPECT_EQ(defaults.config->incidents.pin_emoji, "pushpin");
  EXPECT_EQ(defaults.config->incidents.archive_after_ms, 24LL * 60 * 60 * 1000);
}

TEST_F(IncidentConfigTest, ArchiveAfterTakesADurationOrNever) {
  auto later = parse("incidents:\n  archive_after: 3h\n");
  ASSERT_TRUE(later.ok()) << first_error(later);
  EXPECT_EQ(later.config->incidents.archive_after_ms, 3LL * 60 * 60 * 1000);
  auto never = parse("incidents:\n  archive_after: never\n");
  ASSERT_TRUE(never.ok()) << first_error(never);
  EXPECT_EQ(never.config->incidents.archive_after_ms, 0);
  EXPECT_NE(first_error(parse("incidents:\n  archive_after: 5s\n")).find("at least 1m"),
            std::string::npos);
}

}  // namespace
}  // namespace shipmate::bot

namespace shipmate::bot {
namespace {

TEST_F(IncidentConfigTest, AlertsSectionIsReadWithSecretsByReference) {
  ::setenv("SHIPMATE_TEST_AM_TOKEN", "tok-123", 1);
  auto load = parse(R"(secrets:
  am: {env: SHIPMATE_TEST_AM_TOKEN}
alerts:
  listen: {port: 0}
  channel: terminal
  alertmanager: {token: {secret: am}}
  pagerduty: {secrets: [{secret: am}]}
  routes:
    - {match: {severity: critical}, service: hello, severity: sev1, action: open incident}
    - {match: {team: infra}, action: post}
)");
  ::unsetenv("SHIPMATE_TEST_AM_TOKEN");
  ASSERT_TRUE(load.ok()) << first_error(load);
  const auto& alerts = load.config->alerts;
  EXPECT_EQ(alerts.port, 0);
  EXPECT_EQ(alerts.bearer_token, "tok-123");
  EXPECT_EQ(alerts.pagerduty_secrets.size(), 1u);
  ASSERT_EQ(alerts.routes.size(), 2u);
  EXPECT_TRUE(alerts.routes[0].open_incident);
  EXPECT_EQ(alerts.routes[0].severity, 1);
  EXPECT_FALSE(alerts.routes[1].open_incident);
}

TEST_F(IncidentConfigTest, AlertsRefusesLiteralsAndOpenEndpoints) {
  EXPECT_NE(first_error(parse("alerts:\n  listen: {port: 0}\n  alertmanager: {token: abc}\n"))
                .find("token"),
            std::string::npos);
  EXPECT_NE(first_error(parse("alerts:\n  listen: {port: 0}\n")).find("needs credentials"),
            std::string::npos);
  EXPECT_NE(first_error(parse("alerts:\n  routes:\n    - {service: nope}\n"))
                .find("not a configured service"),
            std::string::npos);
}

}  // namespace
}  // namespace shipmate::bot

namespace shipmate::bot {
namespace {

class HttpConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { std::filesystem::create_directories(dir.file("releases/v1")); }
  ConfigLoad parse(const std::string& extra) {
    return parse_config(valid_yaml("releases") + extra, dir.file("shipmate.yaml"));
  }
  static std::string all(const ConfigLoad& load) {
    std::string out;
    for (const auto& d : load.diagnostics)
      out += d.to_string() + "\n";
    return out;
  }
  TempDir dir;
};

TEST_F(HttpConfigTest, TheHttpBlockDescribesTheSharedListener) {
  write_file(dir.file("cert.pem"), "x");
  write_file(dir.file("key.pem"), "x");
  auto load = parse(
      "http:\n  bind: 0.0.0.0\n  port: 8443\n  tls_cert_file: cert.pem\n  tls_key_file: "
      "key.pem\n  header_timeout: 2s\n  body_timeout: 20s\n  idle_timeout: 1m\n"
      "slack:\n  mode: http\nops: {}\n");
  ASSERT_TRUE(load.ok()) << all(load);
  EXPECT_TRUE(load.diagnostics.empty()) << all(load);
  const Config& config = *load.config;
  EXPECT_TRUE(config.http.enabled);
  EXPECT_EQ(config.http.bind, "0.0.0.0");
  EXPECT_EQ(config.http.port, 8443);
  EXPECT_EQ(config.http.tls_cert_file, dir.file("cert.pem"));
  EXPECT_EQ(config.http.header_timeout_ms, 2000);
  EXPECT_EQ(config.http.body_timeout_ms, 20'000);
  EXPECT_EQ(config.http.idle_timeout_ms, 60'000);
  // Neither Slack nor ops names an address: both go on the shared listener.
  EXPECT_FALSE(config.slack.listen_set);
  EXPECT_TRUE(config.ops.enabled);
  EXPECT_FALSE(config.ops.listen_set);
}

TEST_F(HttpConfigTest, BadHttpBlocksAreErrorsNamingTheKey) {
  auto load = parse("http:\n  prot: 80\n");
  EXPECT_NE(all(load).find("unknown key 'prot' in http (did you mean 'port'?)"), std::string::npos)
      << all(load);
  load = parse("http:\n  tls_cert_file: missing.pem\n");
  EXPECT_NE(all(load).find("http tls_cert_file " + dir.file("missing.pem") + " does not exist"),
            std::string::npos)
      << all(load);
  EXPECT_NE(all(load).find("tls_cert_file and tls_key_file go together"), std::string::npos)
      << all(load);
  load = parse("http:\n  header_timeout: soon\n");
  EXPECT_NE(all(load).find("http header_timeout 'soon' is not a duration"), std::string::npos)
      << all(load);
}

// The old listen keys still work (an address of their own) and are called deprecated.
TEST_F(HttpConfigTest, OldListenKeysAreAcceptedAliasesWithADeprecationNote) {
  auto load = parse(
      "slack:\n  mode: http\n  http_bind: 127.0.0.1\n  http_port: 3001\n"
      "ops:\n  bind: 127.0.0.1\n  port: 9465\n");
  ASSERT_TRUE(load.ok()) << all(load);
  const Config& config = *load.config;
  EXPECT_TRUE(config.slack.listen_set);
  EXPECT_EQ(config.slack.http_bind, "127.0.0.1");
  EXPECT_EQ(config.slack.http_port, 3001);
  EXPECT_TRUE(config.ops.listen_set);
  EXPECT_EQ(config.ops.port, 9465);
  const std::string text = all(load);
  for (const char* key : {"slack http_bind is deprecated", "slack http_port is deprecated",
                          "ops bind is deprecated", "ops port is deprecated"}) {
    EXPECT_NE(text.find(std::string("warning: ") + key), std::string::npos) << key << "\n" << text;
  }
  EXPECT_NE(text.find("write listen: {bind: ..., port: ...} under slack:"), std::string::npos)
      << text;
}

TEST_F(HttpConfigTest, ListenGivesAnOwnerItsOwnAddressWithoutANote) {
  auto load = parse(
      "slack:\n  mode: http\n  listen: {port: 3002}\nops:\n  listen: {bind: 0.0.0.0, port: 9466}\n"
      "teams:\n  listen: {port: 3979}\n");
  ASSERT_TRUE(load.ok()) << all(load);
  EXPECT_TRUE(load.diagnostics.empty()) << all(load);
  const Config& config = *load.config;
  EXPECT_TRUE(config.slack.listen_set);
  EXPECT_EQ(config.slack.http_bind, "0.0.0.0");
  EXPECT_EQ(config.slack.http_port, 3002);
  EXPECT_EQ(config.ops.bind, "0.0.0.0");
  EXPECT_EQ(config.ops.port, 9466);
  ASSERT_TRUE(config.teams.listen.has_value());
  EXPECT_EQ(config.teams.listen->port, 3979);
  load = parse("slack:\n  listen: {port: 3002}\n  http_port: 3003\n");
  EXPECT_NE(all(load).find("slack listen replaces http_bind and http_port; keep one"),
            std::string::npos)
      << all(load);
}

}  // namespace
}  // namespace shipmate::bot
