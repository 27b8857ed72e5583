// Deploy, rollback, lock and read commands driven through the real Router, with in-memory
// storage and a fake target.
#include <gtest/gtest.h>

#include <functional>

#include "commands/deploy_flow.h"
#include "commands/deploy_recovery.h"
#include "commands/deploy_runtime.h"
#include "commands/handlers.h"
#include "common/chat_input.h"
#include "storage/deploy_ownership.h"
#include "storage/lease.h"
#include "tests/support/command_harness.h"
#include "tests/support/injection_strings.h"

namespace shipmate::testing {
namespace {

using storage::DeployKind;
using storage::DeployState;

bool has(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class DeployFlowTest : public ::testing::Test {
 protected:
  std::vector<std::string> audit_actions() {
    std::vector<std::string> out;
    for (const auto& record : h.audit.tail(1000))
      out.push_back(record.entry.action);
    return out;
  }
  CommandHarness h;
};

TEST_F(DeployFlowTest, DeploySucceedsAndRecordsEveryTransition) {
  std::string out = h.run("alice", "deploy hello v1 to staging --reason \"first release\"");
  EXPECT_TRUE(has(out, "Deploy #1: hello v1 in staging, requested by Alice")) << out;
  EXPECT_TRUE(has(out, "  | fake: starting v1")) << out;
  EXPECT_TRUE(has(out, "Deploy #1 succeeded: hello v1 is live in staging at fake://staging"))
      << out;
  auto deploy = h.deploys.get(1);
  ASSERT_TRUE(deploy);
  EXPECT_EQ(deploy->state, DeployState::succeeded);
  EXPECT_EQ(deploy->requested_by, "alice");
  EXPECT_EQ(deploy->reason, "first release");
  auto events = h.deploys.events(1);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].to, DeployState::deploying);
  EXPECT_EQ(events[2].to, DeployState::succeeded);
  auto actions = audit_actions();
  EXPECT_EQ(actions, (std::vector<std::string>{"command", "deploy.requested", "deploy.succeeded"}));
  EXPECT_TRUE(h.audit.verify().ok);
}

TEST_F(DeployFlowTest, FailedDeployKeepsThePreviousVersion) {
  h.run("alice", "deploy hello v1 to staging");
  h.target->failing.insert("v3");
  std::string out = h.run("alice", "deploy hello v3 to staging");
  EXPECT_TRUE(has(out, "Deploy #2 failed: health check of v3 failed")) << out;
  ASSERT_FALSE(h.last.updates.empty());
  EXPECT_EQ(h.last.updates.back().context, "staging keeps serving hello v1");
  EXPECT_EQ(h.deploys.get(2)->state, DeployState::failed);
  EXPECT_EQ(h.deploys.last_succeeded("hello", "staging")->version, "v1");
  EXPECT_EQ(h.target->current_version("staging"), "v1");
}

TEST_F(DeployFlowTest, DefaultEnvironmentIsTheFirstAndVersionIsRequiredThere) {
  std::string out = h.run("alice", "deploy hello");
  EXPECT_TRUE(has(out, "which version of hello?")) << out;
  EXPECT_TRUE(has(out, "(available: v1, v2, v3)")) << out;
  EXPECT_TRUE(h.deploys.history("hello", "", 10).empty());
}

TEST_F(DeployFlowTest, WithoutVersionProductionPromotesWhatStagingRuns) {
  h.run("alice", "deploy hello v2 to staging");
  std::string out = h.run("alice", "deploy hello to production");
  EXPECT_TRUE(has(out, "hello v2 is live in production")) << out;
}

TEST_F(DeployFlowTest, UnauthorizedUserIsRefusedAndNothingIsRecorded) {
  std::string out = h.run("bob", "deploy hello v1 to production");
  EXPECT_TRUE(has(out, "Deploy refused: bob may not deploy in production (needs role: sre)"))
      << out;
  EXPECT_TRUE(h.deploys.history("hello", "", 10).empty());
  EXPECT_TRUE(h.target->calls.empty());
  auto actions = audit_actions();
  EXPECT_EQ(actions.back(), "deploy.refused");
}

TEST_F(DeployFlowTest, UnknownIdentityMayReadButNotChange) {
  std::string out = h.run("mallory", "deploy hello v1 to staging");
  EXPECT_TRUE(has(out, "mallory is not a configured user and may not run 'deploy'")) << out;
  EXPECT_TRUE(h.deploys.history("hello", "", 10).empty());
  out = h.run("mallory", "status");
  EXPECT_TRUE(has(out, "never deployed")) << out;
}

TEST_F(DeployFlowTest, UnknownServiceEnvironmentAndVersionAreExplained) {
  EXPECT_TRUE(
      has(h.run("alice", "deploy helo v1"), "unknown service 'helo' (did you mean 'hello'?)"));
  EXPECT_TRUE(has(h.run("alice", "deploy hello v1 to prod"),
                  "unknown environment 'prod' (did you mean 'production'?)"));
  EXPECT_TRUE(has(h.run("alice", "deploy hello v9 to staging"), "no release v9"));
  EXPECT_TRUE(h.deploys.history("hello", "", 10).empty());
}

TEST_F(DeployFlowTest, SameVersionNeedsForceAndBecomesARedeploy) {
  h.run("alice", "deploy hello v1 to staging");
  EXPECT_TRUE(has(h.run("alice", "deploy hello v1 to staging"),
                  "hello v1 is already serving in staging; add --force"));
  std::string out = h.run("alice", "deploy hello v1 to staging --force");
  EXPECT_TRUE(has(out, "succeeded")) << out;
  EXPECT_EQ(h.deploys.get(2)->kind, DeployKind::redeploy);
}

TEST_F(DeployFlowTest, LockBlocksDeployAndRollbackUntilUnlocked) {
  h.run("alice", "deploy hello v1 to staging");
  h.run("alice", "deploy hello v2 to staging");
  std::string out = h.run("bob", "lock hello schema migration");
  EXPECT_TRUE(has(out, "Locked hello for Bob: schema migration")) << out;
  out = h.run("alice", "deploy hello v3 to staging");
  EXPECT_TRUE(has(out, "Deploy refused: hello is locked by bob")) << out;
  EXPECT_TRUE(has(out, "(schema migration)")) << out;
  out = h.run("alice", "rollback hello in staging");
  EXPECT_TRUE(has(out, "Rollback refused: hello is locked by bob")) << out;
  EXPECT_EQ(h.deploys.history("hello", "", 10).size(), 2u);

  EXPECT_TRUE(has(h.run("alice", "unlock hello"), "only bob or an admin may unlock it"));
  EXPECT_TRUE(has(h.run("alice", "locks"), "hello: locked by bob"));
  EXPECT_TRUE(has(h.run("bob", "unlock hello"), "Unlocked hello."));
  EXPECT_TRUE(has(h.run("alice", "deploy hello v3 to staging"), "succeeded"));
}

TEST_F(DeployFlowTest, EnvironmentAndScopedLocks) {
  EXPECT_TRUE(has(h.run("alice", "lock hello@staging"), "Locked hello@staging"));
  EXPECT_TRUE(has(h.run("alice", "deploy hello v1 to staging"), "hello@staging is locked"));
  EXPECT_TRUE(has(h.run("carol", "unlock hello@staging"), "Unlocked"));
  EXPECT_TRUE(has(h.run("bob", "lock production"), "Lock refused: bob may not lock in production"));
  EXPECT_TRUE(has(h.run("alice", "lock staging"), "Locked staging"));
  EXPECT_TRUE(has(h.run("alice", "lock staging"), "already locked by alice"));
  EXPECT_TRUE(has(h.run("alice", "lock stagin"), "did you mean 'staging'"));
}

TEST_F(DeployFlowTest, RollbackReturnsToThePreviousGoodVersion) {
  h.run("alice", "deploy hello v1 to staging");
  h.run("alice", "deploy hello v2 to staging");
  std::string out = h.run("alice", "rollback hello");
  EXPECT_TRUE(has(out, "Rollback #3: hello v2 -> v1 in staging")) << out;
  EXPECT_TRUE(has(out, "Rollback #3 succeeded: hello v1 is live in staging")) << out;
  auto deploy = h.deploys.get(3);
  EXPECT_EQ(deploy->kind, DeployKind::rollback);
  EXPECT_EQ(deploy->previous_version, "v2");
  EXPECT_EQ(h.target->calls.back(), "roll_back staging v1");
}

TEST_F(DeployFlowTest, RollbackSkipsFailedVersions) {
  h.run("alice", "deploy hello v1 to staging");
  h.target->failing.insert("v3");
  h.run("alice", "deploy hello v3 to staging");
  EXPECT_TRUE(has(h.run("alice", "rollback hello"), "no earlier good version of hello"));
  h.run("alice", "deploy hello v2 to staging");
  EXPECT_TRUE(has(h.run("alice", "rollback hello in staging"), "hello v1 is live"));
}

TEST_F(DeployFlowTest, RollbackAsksWhichEnvironmentWhenAmbiguous) {
  EXPECT_TRUE(has(h.run("alice", "rollback hello"), "has never been deployed"));
  h.run("alice", "deploy hello v1 to staging");
  h.run("alice", "deploy hello v1 to production");
  EXPECT_TRUE(
      has(h.run("alice", "rollback hello"), "hello runs in staging and production; say which"));
  EXPECT_TRUE(has(h.run("bob", "rollback hello in production to v2"),
                  "bob may not rollback in production"));
}

TEST_F(DeployFlowTest, OneActiveDeployPerServiceAndEnvironment) {
  storage::NewDeploy stuck{"hello", "staging", "v2", "", DeployKind::deploy, "bob", "", "test"};
  auto record = h.deploys.create(stuck);
  h.deploys.transition(record.id, DeployState::deploying, "deploying v2");
  std::string out = h.run("alice", "deploy hello v3 to staging");
  EXPECT_TRUE(has(out, "deploy #1 (hello v2 to staging) is still deploying")) << out;
  EXPECT_TRUE(has(h.run("alice", "status hello"), "in progress: #1 v2 (deploying)"));
}

TEST_F(DeployFlowTest, RestartReconcilesDeploysLeftRunning) {
  storage::NewDeploy orphan{"hello", "staging", "v2", "v1", DeployKind::deploy, "bob", "", "test"};
  auto record = h.deploys.create(orphan);
  h.deploys.transition(record.id, DeployState::deploying, "deploying v2");
  auto reconciled = commands::reconcile_interrupted_deploys(*h.services);
  ASSERT_EQ(reconciled.size(), 1u);
  EXPECT_EQ(h.deploys.get(record.id)->state, DeployState::failed);
  EXPECT_TRUE(has(h.deploys.get(record.id)->detail, "interrupted"));
  EXPECT_TRUE(h.deploys.in_flight().empty());
  EXPECT_EQ(audit_actions().back(), "deploy.reconciled");
}

// Replicas (issue 17): a deploy records the replica that runs it. Start-up reconciliation on
// another replica leaves a live replica's deploys alone; once the owner's lease has ended (and
// the grace after it), exactly one survivor takes each deploy over, settles it and audits both.
TEST_F(DeployFlowTest, AReplicaLeavesALiveReplicasDeploysAloneAndOneSurvivorTakesADeadOnesOver) {
  h.services->replica = "a";
  h.run("alice", "deploy hello v1 to staging");
  EXPECT_EQ(h.deploys.get(1)->owner, "a");  // recorded as it runs
  // A first deploy whose checks began: with no stable version to roll back to and no recorded
  // progress, the survivor cannot carry it on or roll it back (rollout_test.cpp and
  // deploy_takeover_test.cpp cover the rollouts it carries on or rolls back).
  storage::NewDeploy orphan{"hello", "staging", "v2", "", DeployKind::deploy, "bob", "", "test"};
  orphan.owner = "a";
  const auto id = h.deploys.create(orphan).id;
  h.deploys.transition(id, DeployState::deploying, "deploying v2");
  h.deploys.transition(id, DeployState::verifying, "checking v2");
  storage::LeaseStore leases(*h.db);
  ASSERT_TRUE(leases.acquire(storage::replica_lease_name("a"), "a", h.clock.now_ms(), 10'000));

  h.services->replica = "b";  // a second replica starts
  h.services->takeover_grace_ms = 2'000;
  EXPECT_TRUE(commands::reconcile_interrupted_deploys(*h.services).empty());
  EXPECT_TRUE(commands::take_over_orphaned_deploys(*h.services).taken_over.empty());
  h.clock.advance_ms(11'000);  // the lease ended 1 s ago: still within the grace
  EXPECT_TRUE(commands::take_over_orphaned_deploys(*h.services).taken_over.empty());
  EXPECT_EQ(h.deploys.get(id)->state, DeployState::verifying);
  EXPECT_EQ(h.deploys.get(id)->owner, "a");

  h.clock.advance_ms(1'000);
  auto found = commands::take_over_orphaned_deploys(*h.services);
  ASSERT_EQ(found.taken_over.size(), 1u);
  ASSERT_EQ(found.settled.size(), 1u);
  const auto after = h.deploys.get(id);
  EXPECT_EQ(after->state, DeployState::failed);
  EXPECT_EQ(after->owner, "b");
  EXPECT_EQ(after->epoch, 1);
  EXPECT_EQ(after->detail,
            "interrupted: replica a stopped while this deploy was verifying; it cannot be "
            "carried on or rolled back: its rollout progress was not recorded (an older Shipmate "
            "ran it), so how far traffic had moved is unknown, and there is no earlier version "
            "to roll back to; the environment serves what it served before");
  const auto actions = audit_actions();
  ASSERT_GE(actions.size(), 2u);
  EXPECT_EQ(actions[actions.size() - 2], "deploy.taken_over");
  EXPECT_EQ(actions.back(), "deploy.reconciled");
  // A third replica (or b again) finds nothing left: the takeover is announced once.
  h.services->replica = "c";
  EXPECT_TRUE(commands::take_over_orphaned_deploys(*h.services).taken_over.empty());
  EXPECT_TRUE(h.audit.verify().ok);
}

TEST_F(DeployFlowTest, HistoryAndStatusShowWhatHappened) {
  h.run("alice", "deploy hello v1 to staging");
  h.target->failing.insert("v3");
  h.run("alice", "deploy hello v3 to staging");
  std::string history = h.run("alice", "history hello");
  EXPECT_TRUE(has(history, "v3        failed")) << history;
  EXPECT_TRUE(has(history, "health check of v3 failed")) << history;
  EXPECT_TRUE(has(history, "v1        succeeded")) << history;
  std::string status = h.run("alice", "status");
  EXPECT_TRUE(has(status, "staging     v1        deployed by alice")) << status;
  EXPECT_TRUE(has(h.run("alice", "history hello in qa"), "unknown environment 'qa'"));
  EXPECT_TRUE(has(h.run("alice", "history hello --limit zero"), "--limit must be a number"));
}

TEST_F(DeployFlowTest, UnknownCommandSuggestsAndBadArgumentsShowUsage) {
  EXPECT_TRUE(
      has(h.run("alice", "depoly hello v1"), "Unknown command 'depoly' - did you mean 'deploy'?"));
  EXPECT_TRUE(has(h.run("alice", "deploy"), "deploy: missing <service>. Usage: deploy <service>"));
  EXPECT_TRUE(has(h.run("alice", "deploy \"hello"), "unterminated quote"));
  EXPECT_TRUE(has(h.run("alice", "@shipmate ping"), "pong"));
  EXPECT_TRUE(has(h.run("alice", "shipmate: ping"), "pong"));
  // Slack's <@U...> markup is the Slack transport's to strip; reaching the router it is a word.
  EXPECT_TRUE(has(h.run("alice", "<@U0BOT> ping"), "Unknown command '<@U0BOT>'"));
  EXPECT_TRUE(has(h.run("alice", "shipmate"), "Say 'help'"));
}

TEST_F(DeployFlowTest, HelpWhoamiAndAudit) {
  EXPECT_TRUE(has(h.run("alice", "help"), "rollback"));
  EXPECT_TRUE(has(h.run("alice", "help deploy"), "deploy <service> [<version>] [to <env>]"));
  EXPECT_TRUE(has(h.run("alice", "help deplo"), "did you mean 'deploy'"));
  h.run("bob", "whoami");
  ASSERT_EQ(h.last.posts.size(), 1u);
  EXPECT_EQ(h.last.posts[0].text, "You are bob (Bob), roles: developer");
  ASSERT_EQ(h.last.posts[0].fields.size(), 2u);
  EXPECT_EQ(h.last.posts[0].fields[0].value, "may deploy, rollback, lock");
  EXPECT_EQ(h.last.posts[0].fields[1].value, "read only");
  h.run("alice", "deploy hello v1 to staging");
  EXPECT_TRUE(has(h.run("alice", "audit verify"), "Audit log intact"));
  EXPECT_TRUE(has(h.run("alice", "audit"), "deploy.succeeded"));
}

TEST_F(DeployFlowTest, StorageFailureIsReportedAndNothingIsHalfWritten) {
  h.db->exec("DROP TABLE deploy_events");
  std::string out = h.run("alice", "deploy hello v1 to staging");
  EXPECT_TRUE(has(out, "Internal error while running deploy")) << out;
  auto statement = h.db->prepare("SELECT COUNT(*) FROM deploys");
  ASSERT_TRUE(statement.step());
  EXPECT_EQ(statement.column_int64(0), 0);
  EXPECT_TRUE(h.target->calls.empty());
}

TEST_F(DeployFlowTest, LocksExpireOnTheirOwnAndTheExpiryIsAnnouncedWhereTheyWereTaken) {
  std::string out = h.run("bob", "lock hello@staging db migration --for 30m");
  EXPECT_TRUE(has(out, "Locked hello@staging for Bob until ")) << out;
  EXPECT_TRUE(has(out, ": db migration")) << out;
  EXPECT_TRUE(has(out, "or the lock expires")) << out;
  EXPECT_TRUE(has(h.run("alice", "locks"), "hello@staging: locked by bob since"));
  EXPECT_TRUE(has(h.run("alice", "deploy hello v1 to staging"), "is locked by bob"));

  testing::OneRoomDirectory directory;
  h.services->conversations = &directory;
  EXPECT_TRUE(commands::announce_expired_locks(*h.services).empty());
  h.clock.advance_ms(31 * 60 * 1000);
  auto expired = commands::announce_expired_locks(*h.services);
  ASSERT_EQ(expired.size(), 1u);
  ASSERT_EQ(directory.opened, std::vector<std::string>{"test"});
  ASSERT_EQ(directory.target.posts.size(), 1u);
  EXPECT_EQ(directory.target.posts[0].text,
            "The lock on hello@staging held by bob (db migration) has expired; deploys there may "
            "go ahead.");
  EXPECT_TRUE(commands::announce_expired_locks(*h.services).empty());
  EXPECT_EQ(audit_actions().back(), "lock.expired");
  EXPECT_TRUE(has(h.run("alice", "deploy hello v1 to staging"), "succeeded"));
}

TEST_F(DeployFlowTest, LockDurationsAreValidated) {
  EXPECT_TRUE(has(h.run("bob", "lock hello@staging --for 99d"), "--for takes a duration"));
  EXPECT_TRUE(has(h.run("bob", "lock hello@staging --for soon"), "--for takes a duration"));
  EXPECT_TRUE(h.locks.list().empty());
}

TEST_F(DeployFlowTest, TakeOverNeedsPermissionAndAReasonAndIsAudited) {
  h.run("bob", "lock hello@staging long job");
  std::string out = h.run("alice", "lock hello@staging --take-over");
  EXPECT_TRUE(has(out, "Take-over refused: alice may not take over locks in staging")) << out;
  out = h.run("carol", "lock hello@staging --take-over");
  EXPECT_TRUE(has(out, "Take-over refused: taking over a lock needs a reason")) << out;
  out = h.run("alice", "lock hello@staging mine now");
  EXPECT_TRUE(has(out, "already locked by bob")) << out;
  EXPECT_TRUE(has(out, "--take-over replaces it")) << out;
  out = h.run("carol", "lock hello@staging hotfix for the outage --take-over");
  EXPECT_TRUE(has(out, "Took over the lock on hello@staging from bob: hotfix for the outage"))
      << out;
  EXPECT_EQ(h.locks.get("service:hello@staging")->holder, "carol");
  EXPECT_EQ(audit_actions().back(), "lock.taken_over");
}

TEST_F(DeployFlowTest, ProductionTakesOnlyVersionsThatSoakedInStaging) {
  h.catalog.environments[1].promotion = commands::PromotionRule{"", 30 * 60 * 1000};
  std::string out = h.run("alice", "deploy hello v2 to production");
  EXPECT_TRUE(has(out,
                  "Deploy refused: hello v2 has not succeeded in staging yet, and "
                  "production only takes versions that have"))
      << out;
  h.run("alice", "deploy hello v2 to staging");
  h.clock.advance_ms(10 * 60 * 1000);
  out = h.run("alice", "deploy hello v2 to production");
  EXPECT_TRUE(has(out, "hello v2 has soaked in staging for 10 min 0 s; production needs 30 min"))
      << out;
  EXPECT_TRUE(has(out, "(ready at ")) << out;
  h.clock.advance_ms(20 * 60 * 1000);
  EXPECT_TRUE(has(h.run("alice", "deploy hello v2 to production"), "succeeded"));
  // A failed deploy in staging does not count as passing it.
  h.target->failing.insert("v3");
  h.run("alice", "deploy hello v3 to staging");
  h.clock.advance_ms(60 * 60 * 1000);
  EXPECT_TRUE(has(h.run("alice", "deploy hello v3 to production"), "has not succeeded in staging"));
  // Rollbacks return to versions that already served, so the rule does not apply to them.
  h.run("alice", "deploy hello v1 to staging");
  h.clock.advance_ms(60 * 60 * 1000);
  h.run("alice", "deploy hello v1 to production");
  EXPECT_TRUE(has(h.run("alice", "rollback hello in production"), "Rollback #"));
}

TEST_F(DeployFlowTest, OverridingThePromotionRuleNeedsPermissionAndAReasonAndIsAudited) {
  h.catalog.environments[1].promotion = commands::PromotionRule{"staging", 0};
  std::string out = h.run("alice", "deploy hello v3 to production --override --reason hotfix");
  EXPECT_TRUE(has(out, "alice may not override deploy policy in production")) << out;
  out = h.run("carol", "deploy hello v3 to production --override");
  EXPECT_TRUE(has(out, "--override needs --reason")) << out;
  EXPECT_TRUE(h.deploys.history("hello", "", 10).empty());
  out = h.run("carol", "deploy hello v3 to production --override --reason \"customer outage\"");
  EXPECT_TRUE(has(out, "succeeded")) << out;
  ASSERT_FALSE(h.last.posts.empty());
  EXPECT_TRUE(has(h.last.posts[0].context, "Policy overridden: hello v3 has not succeeded"))
      << h.last.posts[0].context;
  bool audited = false;
  for (const auto& record : h.audit.tail(100)) {
    audited = audited || (record.entry.action == "deploy.policy_overridden" &&
                          has(record.entry.details, "reason: customer outage"));
  }
  EXPECT_TRUE(audited);
}

TEST_F(DeployFlowTest, FreezeRefusesDeploysButNotRollbacksUnlessOverridden) {
  h.run("alice", "deploy hello v1 to production");
  h.run("alice", "deploy hello v2 to production");
  const EpochMillis now = h.clock.now_ms();  // 2023-11-14 22:13:20Z
  auto window = commands::FreezeWindow::one_off(now - 60'000, now + 3'600'000, "holiday freeze",
                                                "Europe/Berlin");
  ASSERT_TRUE(window.ok()) << window.error().message;
  h.catalog.environments[1].freezes.push_back(*window);

  std::string out = h.run("alice", "deploy hello v3 to production");
  EXPECT_TRUE(has(out,
                  "Deploy refused: production is frozen (holiday freeze) until Wed "
                  "2023-11-15 00:13:20 Europe/Berlin (2023-11-14 23:13:20Z)"))
      << out;
  EXPECT_TRUE(has(out, "--override --reason")) << out;
  EXPECT_EQ(h.deploys.history("hello", "production", 10).size(), 2u);
  // Rolling back reduces risk, so a freeze does not stop it.
  EXPECT_TRUE(has(h.run("alice", "rollback hello in production"), "Rollback #3 succeeded"));
  EXPECT_TRUE(has(h.run("alice", "deploy hello v3 to staging"), "succeeded"));

  out = h.run("carol", "deploy hello v3 to production --override --reason \"security fix\"");
  EXPECT_TRUE(has(out, "succeeded")) << out;
  EXPECT_TRUE(has(h.last.posts[0].context, "Policy overridden: production is frozen")) << out;
  h.clock.advance_ms(3'600'000);
  h.target->failing.clear();
  EXPECT_TRUE(has(h.run("alice", "deploy hello v2 to production"), "succeeded"));
}

TEST_F(DeployFlowTest, MetricsCommandReportsDoraForProduction) {
  h.run("alice", "deploy hello v1 to production");
  h.clock.advance_ms(60 * 60 * 1000);
  h.run("alice", "deploy hello v2 to production");
  h.clock.advance_ms(10 * 60 * 1000);
  h.run("alice", "rollback hello in production");
  h.target->failing.insert("v3");
  h.run("alice", "deploy hello v3 to production");
  h.run("alice", "metrics hello --days 7");
  ASSERT_EQ(h.last.posts.size(), 1u);
  const auto& message = h.last.posts[0];
  EXPECT_EQ(message.text, "DORA metrics for hello in production, last 7 days");
  ASSERT_EQ(message.fields.size(), 4u);
  EXPECT_EQ(message.fields[0].value, "2 deploys (0.29 per day)");
  EXPECT_EQ(message.fields[1].value, "unknown (no deploy had a commit time)");
  EXPECT_EQ(message.fields[2].value, "66.7% (2 of 3 changes)");
  EXPECT_EQ(message.fields[3].value, "median 10 min 0 s (1 restore)");
  EXPECT_TRUE(has(h.run("alice", "metrics --days 0"), "--days must be a number"));
}

TEST_F(DeployFlowTest, ADeployLinkedToAnIncidentCountsAsAFailedChange) {
  h.run("alice", "deploy hello v1 to production");
  h.run("alice", "deploy hello v2 to production");
  h.run("alice", "metrics hello");
  EXPECT_EQ(h.last.posts.at(0).fields.at(2).value, "0.0% (0 of 2 changes)");

  EXPECT_TRUE(has(h.run("bob", "link 2 to INC-42"), "Link refused: bob may not rollback"));
  std::string out = h.run("alice", "link 2 to INC-42");
  EXPECT_TRUE(has(out, "Deploy #2 (hello v2 in production) is linked to incident INC-42")) << out;
  EXPECT_EQ(h.deploys.get(2)->incident, "INC-42");
  h.run("alice", "metrics hello");
  EXPECT_EQ(h.last.posts.at(0).fields.at(2).value, "50.0% (1 of 2 changes)");
  EXPECT_TRUE(has(h.run("alice", "history hello"), "caused incident INC-42"));

  h.run("alice", "link 2 to none");
  EXPECT_EQ(h.deploys.get(2)->incident, "");
  EXPECT_TRUE(has(h.run("alice", "link 9 to INC-1"), "there is no deploy #9"));
  EXPECT_TRUE(has(h.run("alice", "link 2"), "name the incident"));
}

class ApprovalTest : public DeployFlowTest {
 protected:
  void SetUp() override {
    h.catalog.environments[1].approvals = commands::ApprovalPolicy{1, {"sre"}, 60 * 60 * 1000};
  }
};

TEST_F(ApprovalTest, AFreezeThatBeganWhileWaitingHoldsTheApprovedDeploy) {
  h.run("alice", "deploy hello v1 to staging");
  h.run("alice", "deploy hello v1 to production");  // #2 waits
  const EpochMillis now = h.clock.now_ms();
  auto window =
      commands::FreezeWindow::one_off(now + 60'000, now + 3'600'000, "launch freeze", "UTC");
  ASSERT_TRUE(window.ok()) << window.error().message;
  h.catalog.environments[1].freezes.push_back(*window);
  h.clock.advance_ms(120'000);  // the freeze is in force now
  std::string out = h.run("carol", "approve 2");
  EXPECT_TRUE(has(out, "Deploy #2 is approved, but production is frozen (launch freeze)")) << out;
  EXPECT_EQ(h.deploys.get(2)->state, DeployState::awaiting_approval);
  EXPECT_EQ(h.target->current_version("production"), std::nullopt);
  h.clock.advance_ms(3'600'000);  // the freeze is over
  out = h.run("carol", "approve 2");
  EXPECT_TRUE(has(out, "Deploy #2 succeeded")) << out;
}

TEST_F(ApprovalTest, AnOverriddenFreezeStaysOverriddenWhenTheApprovalArrives) {
  h.run("alice", "deploy hello v1 to staging");
  const EpochMillis now = h.clock.now_ms();
  auto window = commands::FreezeWindow::one_off(now - 60'000, now + 3'600'000, "freeze", "UTC");
  ASSERT_TRUE(window.ok());
  h.catalog.environments[1].freezes.push_back(*window);
  std::string out =
      h.run("carol", "deploy hello v1 to production --override --reason \"security fix\"");
  EXPECT_TRUE(has(out, "needs 1 approval")) << out;
  EXPECT_EQ(h.deploys.get(2)->overridden.rfind("production is frozen", 0), 0u)
      << h.deploys.get(2)->overridden;
  out = h.run("alice", "approve 2");
  EXPECT_TRUE(has(out, "Deploy #2 succeeded")) << out;
}

TEST_F(ApprovalTest, ProductionDeployWaitsForAnotherPersonsApprovalThenRuns) {
  std::string out = h.run("alice", "deploy hello v2 to production");
  EXPECT_TRUE(has(out, "needs 1 approval from sre (not Alice)")) << out;
  ASSERT_FALSE(h.last.updates.empty());
  ASSERT_EQ(h.last.updates.back().buttons.size(), 2u);
  EXPECT_EQ(h.last.updates.back().buttons[0].command, "approve 1");
  EXPECT_EQ(h.last.updates.back().buttons[1].command, "deny 1");
  EXPECT_EQ(h.deploys.get(1)->state, DeployState::awaiting_approval);
  EXPECT_TRUE(h.target->calls.empty());

  EXPECT_TRUE(has(h.run("alice", "approve 1"), "separation of duties"));
  EXPECT_TRUE(has(h.run("bob", "approve 1"), "bob may not approve deploys to production"));
  EXPECT_TRUE(has(h.run("carol", "approve 12"), "there is no deploy #12"));
  EXPECT_TRUE(has(h.run("carol", "approve twelve"), "is not a deploy number"));
  EXPECT_EQ(h.deploys.get(1)->state, DeployState::awaiting_approval);

  out = h.run("carol", "approve #1");
  EXPECT_TRUE(has(out, "approved by Carol")) << out;
  EXPECT_TRUE(has(out, "Deploy #1 succeeded: hello v2 is live in production")) << out;
  auto events = h.deploys.events(1);
  std::vector<DeployState> states;
  for (const auto& event : events)
    states.push_back(event.to);
  EXPECT_EQ(states, (std::vector<DeployState>{DeployState::requested,
                                              DeployState::awaiting_approval, DeployState::queued,
                                              DeployState::deploying, DeployState::succeeded}));
  auto decisions = h.approvals.for_deploy(1);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].approver, "carol");
  EXPECT_TRUE(has(h.run("carol", "approve 1"), "is not waiting for approval (it is succeeded)"));
  bool audited = false;
  for (const auto& record : h.audit.tail(100))
    audited |= record.entry.action == "deploy.approved";
  EXPECT_TRUE(audited);
}

// Stands in for another writer (a second replica on the same database): when deploy `watch`
// reaches `when`, it runs `act` once, as if that had happened between this writer's read and its
// write.
class InterleavedWriter final : public commands::DeployObserver {
 public:
  void deploy_changed(const storage::DeployRecord& deploy) override {
    if (done_ || deploy.id != watch || deploy.state != when)
      return;
    done_ = true;
    act();
  }
  std::int64_t watch = 0;
  DeployState when = DeployState::requested;
  std::function<void()> act;

 private:
  bool done_ = false;
};

// Expiry against a denial written by another replica after the sweep read its list: the denial
// stands, the sweep writes nothing for that deploy and neither counts nor audits it, so the
// outcome is recorded (and would be announced) once.
TEST_F(ApprovalTest, ExpiryThatLosesToADenialWritesAndAuditsNothing) {
  h.catalog.environments[0].approvals = commands::ApprovalPolicy{1, {"sre"}, 60 * 60 * 1000};
  h.run("alice", "deploy hello v1 to staging");     // #1 waits
  h.run("alice", "deploy hello v1 to production");  // #2 waits
  storage::DeployStore other_store(*h.db, h.clock);
  InterleavedWriter other;
  other.watch = 1;
  other.when = DeployState::timed_out;
  other.act = [&] {
    EXPECT_TRUE(other_store
                    .transition_if(2, DeployState::awaiting_approval, 0, DeployState::cancelled,
                                   "denied by carol: not today")
                    .applied);
  };
  h.services->observers.push_back(&other);
  h.clock.advance_ms(61 * 60 * 1000);
  EXPECT_EQ(commands::expire_approval_requests(*h.services), 1);
  h.services->observers.clear();
  EXPECT_EQ(h.deploys.get(1)->state, DeployState::timed_out);
  EXPECT_EQ(h.deploys.get(2)->state, DeployState::cancelled);
  EXPECT_EQ(h.deploys.get(2)->detail, "denied by carol: not today");
  EXPECT_EQ(h.deploys.events(2).size(), 3u);  // requested, awaiting_approval, cancelled
  int expiries = 0;
  for (const auto& record : h.audit.tail(100))
    expiries += record.entry.action == "deploy.approval_expired" ? 1 : 0;
  EXPECT_EQ(expiries, 1);
}

// Another replica takes the deploy over (bumps its epoch) while the rollout runs here: the run's
// next step fails the epoch check, writes nothing, does not call it a bug, and says so.
TEST_F(DeployFlowTest, ARunWhoseDeployWasTakenOverStopsWritingAndSaysSo) {
  InterleavedWriter other;
  other.watch = 1;
  other.when = DeployState::deploying;
  other.act = [&] {
    h.db->prepare("UPDATE deploys SET owner = 'replica-b', epoch = epoch + 1 WHERE id = 1").run();
  };
  h.services->observers.push_back(&other);
  std::string out = h.run("alice", "deploy hello v1 to staging");
  h.services->observers.clear();
  EXPECT_TRUE(has(out, "Deploy #1: deploy #1 was taken over by another replica")) << out;
  EXPECT_FALSE(has(out, "bug in Shipmate")) << out;
  EXPECT_FALSE(has(out, "succeeded")) << out;
  EXPECT_EQ(h.deploys.get(1)->state, DeployState::deploying);
  EXPECT_EQ(h.deploys.events(1).size(), 2u);  // requested, deploying: nothing after the takeover
  for (const auto& action : audit_actions())
    EXPECT_NE(action, "deploy.succeeded");
}

// Replicas: a deploy waits for approval on the replica that created it, and runs where it is
// approved: that replica takes it over first (owner and epoch move), so the creator, alive or
// not, can write nothing more to it.
TEST_F(ApprovalTest, ApprovingAnotherReplicasDeployTakesItOverAndRunsItHere) {
  h.services->replica = "a";
  h.run("alice", "deploy hello v1 to production");
  EXPECT_EQ(h.deploys.get(1)->state, DeployState::awaiting_approval);
  h.services->replica = "b";
  std::string out = h.run("carol", "approve 1");
  EXPECT_TRUE(has(out, "succeeded")) << out;
  const auto deploy = h.deploys.get(1);
  EXPECT_EQ(deploy->state, DeployState::succeeded);
  EXPECT_EQ(deploy->owner, "b");
  EXPECT_EQ(deploy->epoch, 1);
  // a's stale view (epoch 0) can no longer move it.
  EXPECT_FALSE(
      h.deploys.transition_if(1, DeployState::succeeded, 0, DeployState::failed, "stale").applied);
}

// The approval that loses a race (here a denial lands between the approval's read and its
// compare-and-set, the way another replica's would) writes no approve row and audits nothing.
TEST_F(ApprovalTest, AnApprovalThatLosesTheRaceLeavesNoApproveRow) {
  h.run("alice", "deploy hello v1 to production");  // #1 waits
  // Another replica denies it at the moment this one takes the deploy over to run it.
  h.services->replica = "b";
  h.db->exec(
      "CREATE TEMP TRIGGER deny_meanwhile AFTER UPDATE OF owner ON deploys "
      "BEGIN UPDATE deploys SET state = 'cancelled', detail = 'denied by bob' "
      "WHERE id = NEW.id; END");
  std::string out = h.run("carol", "approve 1");
  EXPECT_TRUE(has(out, "Approval not recorded")) << out;
  EXPECT_FALSE(has(out, "succeeded")) << out;
  EXPECT_EQ(h.deploys.get(1)->state, DeployState::cancelled);
  EXPECT_TRUE(h.approvals.for_deploy(1).empty());
  for (const auto& action : audit_actions())
    EXPECT_NE(action, "deploy.approved");
  EXPECT_TRUE(h.target->calls.empty());

  // A partial approval (two needed) that arrives after a denial records nothing either.
  h.db->exec("DROP TRIGGER deny_meanwhile");
  h.catalog.environments[1].approvals = commands::ApprovalPolicy{2, {"sre"}, 60 * 60 * 1000};
  h.run("alice", "deploy hello v2 to production");                               // #2 waits
  EXPECT_FALSE(h.approvals.record_while_waiting(2, 1, "carol", "approve", ""));  // wrong epoch
  ASSERT_TRUE(
      h.deploys.transition_if(2, DeployState::awaiting_approval, 0, DeployState::cancelled, "no")
          .applied);
  EXPECT_FALSE(h.approvals.record_while_waiting(2, 0, "carol", "approve", ""));
  EXPECT_TRUE(h.approvals.for_deploy(2).empty());
}

TEST_F(ApprovalTest, DenyWithdrawAndExpiry) {
  h.run("alice", "deploy hello v2 to production");
  std::string out = h.run("carol", "deny 1 not during the incident");
  EXPECT_TRUE(has(out, "was denied by carol: not during the incident")) << out;
  EXPECT_EQ(h.deploys.get(1)->state, DeployState::cancelled);

  h.run("alice", "deploy hello v2 to production");
  EXPECT_TRUE(has(h.run("bob", "deny 2"), "bob may not decide on deploys to production"));
  EXPECT_TRUE(has(h.run("alice", "deny 2 changed my mind"), "was withdrawn by alice"));
  EXPECT_EQ(h.deploys.get(2)->state, DeployState::cancelled);

  h.run("alice", "deploy hello v2 to production");
  EXPECT_EQ(commands::expire_approval_requests(*h.services), 0);
  h.clock.advance_ms(61 * 60 * 1000);
  EXPECT_EQ(commands::expire_approval_requests(*h.services), 1);
  EXPECT_EQ(h.deploys.get(3)->state, DeployState::timed_out);
  EXPECT_TRUE(has(h.run("carol", "approve 3"), "not waiting for approval (it is timed_out)"));
  EXPECT_TRUE(h.target->calls.empty());
}

// README: "someone else must approve"; with `count: 2` that is two different people besides
// the requester. Approving twice counts once, and the requester's approval never counts.
TEST_F(ApprovalTest, TwoApprovalsMeanTwoDistinctPeopleNeitherOfThemTheRequester) {
  h.catalog.environments[1].approvals = commands::ApprovalPolicy{2, {"sre"}, 60 * 60 * 1000};
  h.catalog.users.push_back({"dave", "Dave", {"sre"}});
  std::string out = h.run("alice", "deploy hello v2 to production");
  EXPECT_TRUE(has(out, "needs 2 approvals from sre (not Alice)")) << out;

  EXPECT_TRUE(has(h.run("alice", "approve 1"), "separation of duties"));
  out = h.run("carol", "approve 1");
  EXPECT_TRUE(has(out, "Deploy #1 approved by Carol (1 of 2)")) << out;
  out = h.run("carol", "approve 1");
  EXPECT_TRUE(has(out, "Approval refused: carol already approved deploy #1")) << out;
  EXPECT_TRUE(has(h.run("alice", "approve 1"), "separation of duties"));
  EXPECT_EQ(h.deploys.get(1)->state, DeployState::awaiting_approval);
  EXPECT_TRUE(h.target->calls.empty());
  EXPECT_EQ(h.approvals.for_deploy(1).size(), 1u);

  out = h.run("dave", "approve 1");
  EXPECT_TRUE(has(out, "Deploy #1 succeeded: hello v2 is live in production")) << out;
  std::vector<std::string> approvers;
  for (const auto& decision : h.approvals.for_deploy(1))
    approvers.push_back(decision.approver + " " + decision.decision);
  EXPECT_EQ(approvers, (std::vector<std::string>{"carol approve", "dave approve"}));
  EXPECT_EQ(h.target->calls, std::vector<std::string>{"apply production v2"});
}

TEST_F(ApprovalTest, AnOverlongDenyReasonIsRefusedAndTheDeployKeepsWaiting) {
  h.run("alice", "deploy hello v2 to production");
  const std::string essay(kMaxFreeTextLength + 1, 'x');
  std::string out = h.run("carol", "deny 1 " + essay);
  EXPECT_TRUE(has(out, "Denial refused: the reason is 501 characters long")) << out;
  EXPECT_EQ(h.deploys.get(1)->state, DeployState::awaiting_approval);
  EXPECT_TRUE(h.approvals.for_deploy(1).empty());
  EXPECT_TRUE(has(h.run("carol", "deny 1 too risky today"), "was denied by carol: too risky"));
}

TEST_F(ApprovalTest, RollbacksSkipApprovalAndWaitingSurvivesARestart) {
  h.catalog.environments[1].approvals.reset();
  h.run("alice", "deploy hello v1 to production");
  h.run("alice", "deploy hello v2 to production");
  h.catalog.environments[1].approvals = commands::ApprovalPolicy{1, {"sre"}, 60 * 60 * 1000};
  EXPECT_TRUE(has(h.run("alice", "rollback hello in production"), "Rollback #3 succeeded"));
  h.run("alice", "deploy hello v3 to production");
  EXPECT_TRUE(commands::reconcile_interrupted_deploys(*h.services).empty());
  EXPECT_EQ(h.deploys.get(4)->state, DeployState::awaiting_approval);
  // A lock taken while it waited holds the approved deploy back.
  h.run("carol", "lock hello@production investigating");
  EXPECT_TRUE(has(h.run("carol", "approve 4"), "is approved, but hello@production is locked"));
  h.run("carol", "unlock hello@production");
  EXPECT_TRUE(has(h.run("carol", "approve 4"), "Deploy #4 succeeded"));
}

// The refusal happens in prepare_deploy/prepare_rollback for every target kind, before the
// target is asked anything: this target would accept every one of these strings.
TEST_F(DeployFlowTest, VersionsOutsideTheAllowListAreRefusedBeforeAnyTargetSeesThem) {
  auto versions = injection_strings();
  versions.push_back("v1");
  auto fake = std::make_unique<FakeTarget>(versions);
  FakeTarget* target = fake.get();
  h.targets["hello"] = std::move(fake);
  const commands::Caller alice{"alice", h.catalog.find_user("alice")};
  h.run("alice", "deploy hello v1 to staging");
  for (const std::string kind : {"local", "kubernetes", "argocd"}) {
    h.catalog.services.front().target_kind = kind;
    target->kind_name = kind;
    for (const auto& version : injection_strings()) {
      commands::DeployRequest request;
      request.service = "hello";
      request.environment = "staging";
      request.version = version;
      auto plan = commands::prepare_deploy(*h.services, alice, request);
      ASSERT_FALSE(plan.ok()) << kind << " accepted " << quote_for_message(version);
      EXPECT_TRUE(has(plan.error().message, "invalid version")) << plan.error().message;
      auto rollback =
          commands::prepare_rollback(*h.services, alice, "hello", "staging", version, "");
      ASSERT_FALSE(rollback.ok()) << kind << " rolls back to " << quote_for_message(version);
      EXPECT_TRUE(has(rollback.error().message, "invalid version")) << rollback.error().message;
    }
  }
  EXPECT_EQ(target->calls, std::vector<std::string>{"apply staging v1"});
  EXPECT_EQ(h.deploys.history("hello", "", 10).size(), 1u);
}

TEST_F(DeployFlowTest, AnInjectedVersionTypedInChatIsRefusedWithTheRule) {
  std::string out = h.run("alice", "deploy hello \"$(id)\" to staging");
  EXPECT_TRUE(has(out, "Deploy refused: invalid version '$(id)': a version uses letters, digits"))
      << out;
  out = h.run("alice", "deploy hello ../etc to staging");
  EXPECT_TRUE(has(out, "invalid version '../etc'")) << out;
  EXPECT_TRUE(h.deploys.history("hello", "", 10).empty());
  EXPECT_TRUE(h.target->calls.empty());
}

TEST_F(DeployFlowTest, OverlongReasonsAreRefusedEverywhereTheyAreTyped) {
  const std::string essay(kMaxFreeTextLength + 1, 'x');
  std::string out = h.run("alice", "deploy hello v1 to staging --reason \"" + essay + "\"");
  EXPECT_TRUE(has(out, "Deploy refused: the reason is 501 characters long; keep it to 500")) << out;
  EXPECT_TRUE(h.deploys.history("hello", "", 10).empty());
  h.run("alice", "deploy hello v1 to staging");
  h.run("alice", "deploy hello v2 to staging");
  out = h.run("alice", "rollback hello in staging --reason \"" + essay + "\"");
  EXPECT_TRUE(has(out, "the reason is 501 characters long")) << out;
  EXPECT_EQ(h.deploys.history("hello", "", 10).size(), 2u);
  out = h.run("alice", "lock hello " + essay);
  EXPECT_TRUE(has(out, "Lock refused: the reason is 501 characters long")) << out;
  EXPECT_FALSE(h.locks.get("service:hello").has_value());
  // Exactly at the bound is fine.
  const std::string just(kMaxFreeTextLength, 'y');
  EXPECT_TRUE(has(h.run("alice", "lock hello " + just), "Locked hello"));
}

// Item 3 of issue 11: shutdown ends a deploy's bake time at once through its cancellation
// signal; no time passes (manual timers) and the deploy is recorded as cancelled.
TEST_F(DeployFlowTest, ShutdownEndsALongBakeTimeAtOnceAndTheDeployIsCancelled) {
  h.run("alice", "deploy hello v1 to staging");
  h.catalog.services.front().strategy.bake_ms = 60LL * 60 * 1000;  // an hour
  auto& conversation = h.start("alice", "deploy hello v2 to staging");
  ASSERT_TRUE(h.run_until([&] { return h.timers.sleeping() == 1; }));
  EXPECT_EQ(h.deploys.get(2)->state, DeployState::verifying);
  ASSERT_TRUE(h.runtime.is_running(2));

  const EpochMillis before = h.clock.now_ms();
  auto cancelled = commands::cancel_running_deploys(*h.services, "cancelled: SIGTERM");
  ASSERT_EQ(cancelled.size(), 1u);
  commands::cancel_all_deploy_waits(*h.services);
  ASSERT_TRUE(h.run_until([&] { return !h.runtime.is_running(2); }));
  EXPECT_EQ(h.clock.now_ms(), before);  // not a millisecond of the bake time passed
  EXPECT_EQ(h.timers.sleeping(), 0u);
  auto deploy = h.deploys.get(2);
  EXPECT_EQ(deploy->state, DeployState::cancelled);
  EXPECT_EQ(deploy->detail, "cancelled: SIGTERM");
  // It ended where it was: no checks ran, nothing was promoted or rolled back.
  EXPECT_EQ(h.target->calls, (std::vector<std::string>{"apply staging v1", "apply staging v2"}));
  for (const auto& line : conversation.log)
    EXPECT_FALSE(has(line, "succeeded")) << line;
}

TEST_F(DeployFlowTest, ShutdownEndsAWaitForAnOperatorsDecisionAtOnce) {
  h.run("alice", "deploy hello v1 to staging");
  auto& strategy = h.catalog.services.front().strategy;
  strategy.checks = {{"error_rate", "q", 0.05, std::nullopt}};  // no metrics source: inconclusive
  strategy.decision_timeout_ms = 24LL * 60 * 60 * 1000;
  h.start("alice", "deploy hello v2 to staging");
  const std::string key = commands::DeployRuntime::question_key(2);
  ASSERT_TRUE(h.run_until([&] { return h.runtime.questions().is_open(key); }));
  commands::cancel_running_deploys(*h.services, "cancelled: SIGINT");
  commands::cancel_all_deploy_waits(*h.services);
  ASSERT_TRUE(h.run_until([&] { return !h.runtime.is_running(2); }));
  EXPECT_FALSE(h.runtime.questions().is_open(key));
  EXPECT_EQ(h.deploys.get(2)->state, DeployState::cancelled);
  EXPECT_EQ(h.target->calls.back(), "apply staging v2");  // no rollback after a cancel
  EXPECT_TRUE(has(h.run("alice", "continue 2"), "is not waiting for a decision (it is cancelled)"));
}

}  // namespace
}  // namespace shipmate::testing
