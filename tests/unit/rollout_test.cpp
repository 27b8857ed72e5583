// Rollout strategies, metric checks, operator decisions and CI builds, driven through the real
// Router and deploy flow against a fake target, scripted metrics and a scripted CI provider.
#include <gtest/gtest.h>

#include "commands/deploy_flow.h"
#include "commands/deploy_runtime.h"
#include "storage/deploy_ownership.h"
#include "storage/lease.h"
#include "tests/support/command_harness.h"
#include "tests/support/scripted_fakes.h"

namespace shipmate::testing {
namespace {

using commands::CheckOutcome;
using commands::CheckVerdict;
using commands::StrategyKind;
using integrations::CiRunState;
using storage::DeployState;

bool has(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class RolloutTest : public ::testing::Test {
 protected:
  RolloutTest() {
    h.services->metrics = &metrics;
    h.services->builds = &builds;
    h.target->split = true;
  }

  commands::ServiceSpec& hello() { return h.catalog.services.front(); }

  void use_canary(std::vector<int> steps) {
    auto& strategy = hello().strategy;
    strategy.kind = StrategyKind::canary;
    strategy.steps = std::move(steps);
    strategy.checks = {{"error_rate", "errors{version=\"{version}\"}", 0.05, std::nullopt}};
  }

  std::vector<std::string> audit_actions() {
    std::vector<std::string> out;
    for (const auto& record : h.audit.tail(1000))
      out.push_back(record.entry.action);
    return out;
  }

  bool audited(const std::string& action) {
    auto actions = audit_actions();
    return std::find(actions.begin(), actions.end(), action) != actions.end();
  }

  std::vector<DeployState> states(std::int64_t id) {
    std::vector<DeployState> out;
    for (const auto& event : h.deploys.events(id))
      out.push_back(event.to);
    return out;
  }

  // Deploy `id` waits for an answer to "continue or roll back?".
  bool asked(std::int64_t id) {
    return h.runtime.questions().is_open(commands::DeployRuntime::question_key(id));
  }
  // Deploy `id` is over and its coroutine has returned.
  bool settled(std::int64_t id) {
    auto deploy = h.deploys.get(id);
    return deploy && storage::is_terminal(deploy->state) && !h.runtime.is_running(id);
  }
  static std::string log_of(const RecordingConversation& conversation) {
    std::string out;
    for (const auto& line : conversation.log)
      out += line + "\n";
    return out;
  }

  CommandHarness h;
  ScriptedMetrics metrics;
  std::map<std::string, std::unique_ptr<integrations::CiProvider>> builds;
};

TEST_F(RolloutTest, CanaryWalksItsStepsCheckingEachThenPromotes) {
  h.run("alice", "deploy hello v1 to staging");
  use_canary({25, 50});
  std::string out = h.run("alice", "deploy hello v2 to staging");
  EXPECT_TRUE(has(out, "Deploy #2 succeeded: hello v2 is live in staging")) << out;
  EXPECT_TRUE(has(out, "v2 takes 25% of traffic (step 1 of 3)")) << out;
  EXPECT_TRUE(has(out, "check error_rate: ok")) << out;
  const std::vector<std::string> expected = {"apply staging v1",   "start_candidate staging v2",
                                             "weight staging 25",  "weight staging 50",
                                             "weight staging 100", "promote staging"};
  EXPECT_EQ(h.target->calls, expected);
  EXPECT_EQ(metrics.asked,
            (std::vector<std::string>{"error_rate@v2", "error_rate@v2", "error_rate@v2"}));
  EXPECT_EQ(h.deploys.get(2)->state, DeployState::succeeded);
  // Each step is persisted: deploying, verifying, and back, three times over.
  EXPECT_EQ(states(2),
            (std::vector<DeployState>{
                DeployState::requested, DeployState::deploying, DeployState::verifying,
                DeployState::deploying, DeployState::verifying, DeployState::deploying,
                DeployState::verifying, DeployState::deploying, DeployState::succeeded}));
  EXPECT_EQ(h.target->current_version("staging"), "v2");
  EXPECT_TRUE(h.audit.verify().ok);
}

TEST_F(RolloutTest, BreachRollsBackAutomaticallyAndSaysWhichQueryFailedWithWhatValue) {
  h.run("alice", "deploy hello v1 to staging");
  use_canary({25, 50});
  metrics.script["error_rate"] = {
      {CheckVerdict::pass, "error_rate: 0.01 within max 0.05"},
      {CheckVerdict::breach, "error_rate: 0.31 > max 0.05 (query: errors{version=\"v2\"})"}};
  std::string out = h.run("alice", "deploy hello v2 to staging");
  EXPECT_TRUE(has(out,
                  "Deploy #2 rolled back: check failed: error_rate: 0.31 > max 0.05 "
                  "(query: errors{version=\"v2\"})"))
      << out;
  ASSERT_FALSE(h.last.updates.empty());
  EXPECT_TRUE(has(h.last.updates.back().context, "staging serves hello v1 again")) << out;
  EXPECT_EQ(h.target->calls.back(), "abort staging");
  EXPECT_EQ(h.target->current_version("staging"), "v1");
  EXPECT_EQ(h.deploys.get(2)->state, DeployState::rolled_back);
  EXPECT_TRUE(audited("deploy.rolled_back"));
  // The change failure shows up where DORA looks: a rolled-back deploy.
  EXPECT_EQ(h.deploys.last_succeeded("hello", "staging")->version, "v1");
}

TEST_F(RolloutTest, InconclusiveChecksAskAndContinueOnlyWhenSomeoneSaysSo) {
  h.run("alice", "deploy hello v1 to production");
  use_canary({50});
  metrics.script["error_rate"] = {
      {CheckVerdict::inconclusive, "error_rate: no data (query returned an empty vector)"},
      {CheckVerdict::pass, "error_rate: 0.0 within max 0.05"}};
  auto& conversation = h.start("alice", "deploy hello v2 to production");
  ASSERT_TRUE(h.run_until([&] { return asked(2); }));
  ASSERT_FALSE(conversation.updates.empty());
  const auto& question = conversation.updates.back();
  EXPECT_TRUE(has(question.text, "the checks could not decide: error_rate: no data"))
      << question.text;
  ASSERT_EQ(question.buttons.size(), 2u);
  EXPECT_EQ(question.buttons[0].command, "continue 2");
  EXPECT_EQ(question.buttons[1].command, "abort 2");
  EXPECT_EQ(h.deploys.get(2)->state, DeployState::verifying);

  // bob holds no role that may deploy to production, so his answer does not count.
  std::string refused = h.run("bob", "continue 2");
  EXPECT_TRUE(has(refused, "Continue refused: bob may not deploy in production")) << refused;
  EXPECT_EQ(h.deploys.get(2)->state, DeployState::verifying);

  std::string answer = h.run("alice", "continue 2");
  EXPECT_TRUE(has(answer, "Continuing deploy #2 (Alice)")) << answer;
  EXPECT_EQ(h.deploys.get(2)->state, DeployState::succeeded);
  EXPECT_TRUE(audited("deploy.continue"));
  EXPECT_TRUE(audited("deploy.continue_refused"));
  EXPECT_EQ(h.target->current_version("production"), "v2");
  std::string again = h.run("alice", "continue 2");
  EXPECT_TRUE(has(again, "deploy #2 is not waiting for a decision (it is succeeded)")) << again;
}

TEST_F(RolloutTest, AbortAfterInconclusiveChecksRollsBack) {
  h.run("alice", "deploy hello v1 to staging");
  use_canary({50});
  metrics.script["error_rate"] = {
      {CheckVerdict::inconclusive, "error_rate: Prometheus unreachable"}};
  h.start("alice", "deploy hello v2 to staging");
  ASSERT_TRUE(h.run_until([&] { return asked(2); }));
  h.run("bob", "abort 2");
  auto deploy = h.deploys.get(2);
  EXPECT_EQ(deploy->state, DeployState::rolled_back);
  EXPECT_TRUE(has(deploy->detail, "bob chose to roll back after inconclusive checks"))
      << deploy->detail;
  EXPECT_EQ(h.target->current_version("staging"), "v1");
}

// README: "continuing needs the deploy permission, aborting the rollback one". Dora may deploy
// to production but not roll back there: she may continue and may not abort; bob may do neither.
TEST_F(RolloutTest, AbortNeedsTheRollbackPermissionInTheDeploysEnvironment) {
  h.catalog.environments[1].allowed_roles[commands::Action::deploy] = {"sre", "deployer"};
  h.catalog.users.push_back({"dora", "Dora", {"deployer"}});
  h.run("alice", "deploy hello v1 to production");
  use_canary({50});
  metrics.script["error_rate"] = {{CheckVerdict::inconclusive, "error_rate: no data"}};
  h.start("alice", "deploy hello v2 to production");
  ASSERT_TRUE(h.run_until([&] { return asked(2); }));

  std::string out = h.run("bob", "abort 2");
  EXPECT_TRUE(has(out, "Abort refused: bob may not rollback in production")) << out;
  out = h.run("dora", "abort 2");
  EXPECT_TRUE(has(out, "Abort refused: dora may not rollback in production")) << out;
  EXPECT_TRUE(asked(2));
  EXPECT_EQ(h.deploys.get(2)->state, DeployState::verifying);
  EXPECT_TRUE(audited("deploy.abort_refused"));
  EXPECT_FALSE(audited("deploy.abort"));

  out = h.run("alice", "abort 2");
  EXPECT_TRUE(has(out, "Rolling back deploy #2 (Alice)")) << out;
  ASSERT_TRUE(h.run_until([&] { return settled(2); }));
  EXPECT_EQ(h.deploys.get(2)->state, DeployState::rolled_back);
  EXPECT_TRUE(has(h.deploys.get(2)->detail, "alice chose to roll back"))
      << h.deploys.get(2)->detail;
  EXPECT_EQ(h.target->current_version("production"), "v1");
  EXPECT_TRUE(audited("deploy.abort"));
}

// The other half: the same person who may not abort may continue (the deploy permission).
TEST_F(RolloutTest, ContinueNeedsOnlyTheDeployPermission) {
  h.catalog.environments[1].allowed_roles[commands::Action::deploy] = {"sre", "deployer"};
  h.catalog.users.push_back({"dora", "Dora", {"deployer"}});
  h.run("alice", "deploy hello v1 to production");
  use_canary({50});
  metrics.script["error_rate"] = {{CheckVerdict::inconclusive, "error_rate: no data"},
                                  {CheckVerdict::pass, "error_rate: 0.0 within max 0.05"}};
  h.start("alice", "deploy hello v2 to production");
  ASSERT_TRUE(h.run_until([&] { return asked(2); }));
  std::string out = h.run("dora", "continue 2");
  EXPECT_TRUE(has(out, "Continuing deploy #2 (Dora)")) << out;
  ASSERT_TRUE(h.run_until([&] { return settled(2); }));
  EXPECT_EQ(h.deploys.get(2)->state, DeployState::succeeded);
}

TEST_F(RolloutTest, NobodyAnsweringRollsBackAfterTheDecisionTimeout) {
  h.run("alice", "deploy hello v1 to staging");
  use_canary({50});
  hello().strategy.decision_timeout_ms = 10 * 60 * 1000;
  metrics.script["error_rate"] = {{CheckVerdict::inconclusive, "error_rate: no data"}};
  auto& conversation = h.start("alice", "deploy hello v2 to staging");
  ASSERT_TRUE(h.run_until([&] { return asked(2); }));
  // Manual time: a millisecond short of the timeout, the deploy still waits.
  h.timers.advance(std::chrono::minutes(10) - std::chrono::milliseconds(1));
  h.io.poll();
  EXPECT_TRUE(asked(2));
  EXPECT_EQ(h.deploys.get(2)->state, DeployState::verifying);
  h.timers.advance(std::chrono::milliseconds(1));
  ASSERT_TRUE(h.run_until([&] { return settled(2); }));
  const std::string out = log_of(conversation);
  EXPECT_TRUE(has(out, "Deploy #2 rolled back: nobody answered within 10 min")) << out;
  EXPECT_EQ(h.deploys.get(2)->state, DeployState::rolled_back);
  EXPECT_EQ(h.runtime.questions().open_count(), 0u);
  EXPECT_TRUE(h.runtime.running().empty());
}

TEST_F(RolloutTest, BlueGreenSwitchesOnceChecksThenStopsTheOldSlot) {
  h.run("alice", "deploy hello v1 to staging");
  hello().strategy.kind = StrategyKind::blue_green;
  hello().strategy.checks = {{"latency", "p99", 0.5, std::nullopt}};
  std::string out = h.run("alice", "deploy hello v2 to staging");
  EXPECT_TRUE(has(out, "switched all traffic to v2 (the old slot stays up)")) << out;
  const std::vector<std::string> expected = {"apply staging v1", "start_candidate staging v2",
                                             "weight staging 100", "promote staging"};
  EXPECT_EQ(h.target->calls, expected);
  EXPECT_EQ(h.deploys.get(2)->state, DeployState::succeeded);
}

TEST_F(RolloutTest, RollingDeployWithChecksRollsBackToThePreviousVersionOnBreach) {
  h.target->split = false;
  h.run("alice", "deploy hello v1 to staging");
  hello().strategy.checks = {{"error_rate", "q", 0.05, std::nullopt}};
  metrics.script["error_rate"] = {{CheckVerdict::breach, "error_rate: 0.2 > max 0.05"}};
  std::string out = h.run("alice", "deploy hello v2 to staging");
  EXPECT_TRUE(has(out, "Deploy #2 rolled back: check failed: error_rate: 0.2 > max 0.05")) << out;
  EXPECT_EQ(h.target->calls.back(), "roll_back staging v1");
  EXPECT_EQ(h.target->current_version("staging"), "v1");
}

TEST_F(RolloutTest, BreachWithNothingToReturnToIsAFailureThatSaysSo) {
  h.target->split = false;
  hello().strategy.checks = {{"error_rate", "q", 0.05, std::nullopt}};
  metrics.script["error_rate"] = {{CheckVerdict::breach, "error_rate: 0.2 > max 0.05"}};
  std::string out = h.run("alice", "deploy hello v1 to staging");
  EXPECT_TRUE(has(out, "there is no earlier version to return to")) << out;
  EXPECT_EQ(h.deploys.get(1)->state, DeployState::failed);
}

TEST_F(RolloutTest, CanaryOnATargetThatCannotSplitTrafficIsARollingDeploy) {
  h.target->split = false;
  use_canary({10});
  std::string out = h.run("alice", "deploy hello v1 to staging");
  EXPECT_EQ(h.target->calls, (std::vector<std::string>{"apply staging v1"}));
  EXPECT_EQ(h.deploys.get(1)->state, DeployState::succeeded);
}

TEST_F(RolloutTest, StrategyAppliesOnlyToItsEnvironmentsAndNeverToRollbacks) {
  use_canary({10});
  hello().strategy.environments = {"production"};
  h.run("alice", "deploy hello v1 to staging");
  h.run("alice", "deploy hello v2 to staging");
  EXPECT_EQ(h.target->calls, (std::vector<std::string>{"apply staging v1", "apply staging v2"}));
  hello().strategy.environments = {};
  h.run("alice", "rollback hello in staging");
  EXPECT_EQ(h.target->calls.back(), "roll_back staging v1");
  EXPECT_TRUE(metrics.asked.empty());
}

TEST_F(RolloutTest, NoMetricsSourceMakesChecksInconclusiveNeverAPass) {
  h.services->metrics = nullptr;
  h.run("alice", "deploy hello v1 to staging");
  use_canary({});
  hello().strategy.decision_timeout_ms = 20'000;
  auto& conversation = h.start("alice", "deploy hello v2 to staging");
  ASSERT_TRUE(h.run_until([&] { return asked(2); }));
  h.timers.advance(std::chrono::seconds(20));
  ASSERT_TRUE(h.run_until([&] { return settled(2); }));
  const std::string out = log_of(conversation);
  EXPECT_TRUE(has(out, "error_rate: no metrics source is configured")) << out;
  EXPECT_EQ(h.deploys.get(2)->state, DeployState::rolled_back);
}

TEST_F(RolloutTest, ABuildRunsFirstAndItsRunIsRecorded) {
  auto ci = std::make_unique<ScriptedCi>();
  ci->states = {CiRunState::queued, CiRunState::running, CiRunState::succeeded};
  auto* scripted = ci.get();
  builds["hello"] = std::move(ci);
  hello().has_build = true;
  hello().build_poll = std::chrono::seconds(10);
  std::string out = h.run_with_time("alice", "deploy hello v2 to staging", hello().build_poll);
  EXPECT_TRUE(has(out, "build started: https://ci.example/runs/1")) << out;
  EXPECT_TRUE(has(out, "build running")) << out;
  EXPECT_TRUE(has(out, "Deploy #1 succeeded")) << out;
  ASSERT_EQ(scripted->triggered.size(), 1u);
  EXPECT_EQ(scripted->triggered[0].version, "v2");
  EXPECT_EQ(scripted->triggered[0].environment, "staging");
  EXPECT_TRUE(scripted->triggered[0].correlation_id.starts_with("shipmate-1-"));
  auto deploy = h.deploys.get(1);
  EXPECT_EQ(deploy->ci_run_id, "1");
  EXPECT_EQ(deploy->ci_run_url, "https://ci.example/runs/1");
  EXPECT_EQ(states(1), (std::vector<DeployState>{DeployState::requested, DeployState::building,
                                                 DeployState::deploying, DeployState::succeeded}));
}

TEST_F(RolloutTest, AFailedBuildFailsTheDeployWithoutTouchingTheEnvironment) {
  auto ci = std::make_unique<ScriptedCi>();
  ci->states = {CiRunState::running, CiRunState::failed};
  ci->failure_detail = "job compile failed at step 'make'";
  builds["hello"] = std::move(ci);
  hello().has_build = true;
  hello().build_poll = std::chrono::seconds(10);
  std::string out = h.run_with_time("alice", "deploy hello v2 to staging", hello().build_poll);
  EXPECT_TRUE(has(out, "Deploy #1 failed: build failed: job compile failed at step 'make'")) << out;
  ASSERT_FALSE(h.last.updates.empty());
  EXPECT_EQ(h.last.updates.back().context,
            "Logs: https://ci.example/runs/1 | staging was not touched");
  EXPECT_TRUE(h.target->calls.empty());
  EXPECT_EQ(h.deploys.get(1)->state, DeployState::failed);
}

TEST_F(RolloutTest, ABuildThatCannotStartFailsWithTheProvidersMessage) {
  auto ci = std::make_unique<ScriptedCi>();
  ci->trigger_error = "GitHub: trigger workflow deploy.yml in o/r: not found (404)";
  builds["hello"] = std::move(ci);
  hello().has_build = true;
  std::string out = h.run("alice", "deploy hello v2 to staging");
  EXPECT_TRUE(has(out, "Deploy #1 failed: GitHub: trigger workflow deploy.yml in o/r: not found"))
      << out;
  EXPECT_TRUE(h.target->calls.empty());
}

TEST_F(RolloutTest, ShutdownWhileABuildIsFollowedStopsPollingAtOnce) {
  auto ci = std::make_unique<ScriptedCi>();
  ci->states = {CiRunState::running};  // never finishes
  auto* scripted = ci.get();
  builds["hello"] = std::move(ci);
  hello().has_build = true;
  hello().build_poll = std::chrono::minutes(1);
  h.start("alice", "deploy hello v2 to staging");
  ASSERT_TRUE(h.run_until([&] { return h.timers.sleeping() == 1; }));
  EXPECT_EQ(h.deploys.get(1)->state, DeployState::building);
  const auto polls = scripted->polls["1"];
  commands::cancel_running_deploys(*h.services, "cancelled: SIGTERM");
  commands::cancel_all_deploy_waits(*h.services);
  ASSERT_TRUE(h.run_until([&] { return settled(1); }));
  EXPECT_EQ(scripted->polls["1"], polls);  // no poll after the cancel, and no time passed
  EXPECT_EQ(h.timers.sleeping(), 0u);
  EXPECT_EQ(h.deploys.get(1)->state, DeployState::cancelled);
  EXPECT_TRUE(h.target->calls.empty());
}

// A deploy an earlier process left building, as the database shows it after a crash.
std::int64_t left_building(CommandHarness& h, const std::string& run_id) {
  storage::NewDeploy request;
  request.service = "hello";
  request.environment = "staging";
  request.version = "v2";
  request.requested_by = "alice";
  request.chat_ref = "test";
  const auto id = h.deploys.create(request).id;
  h.deploys.transition(id, DeployState::building, "building v2");
  if (!run_id.empty())
    h.deploys.set_ci_run(id, run_id, "https://ci.example/runs/" + run_id);
  return id;
}

TEST_F(RolloutTest, ARestartResumesABuildByFollowingItsRecordedRun) {
  auto ci = std::make_unique<ScriptedCi>();
  ci->states = {CiRunState::running, CiRunState::succeeded};
  auto* scripted = ci.get();
  builds["hello"] = std::move(ci);
  hello().has_build = true;
  hello().build_poll = std::chrono::seconds(10);
  const auto id = left_building(h, "77");
  EXPECT_TRUE(commands::reconcile_interrupted_deploys(*h.services).empty());
  auto resumable = commands::resumable_deploys(*h.services);
  ASSERT_EQ(resumable.size(), 1u);
  RecordingConversation conversation;
  boost::asio::co_spawn(h.io, commands::resume_deploy(*h.services, conversation, resumable[0]),
                        boost::asio::detached);
  ASSERT_TRUE(h.drive([&] { return settled(id); }, hello().build_poll));
  EXPECT_TRUE(scripted->triggered.empty());  // followed, not started again
  EXPECT_EQ(scripted->polls["77"], 2u);
  EXPECT_EQ(h.deploys.get(id)->state, DeployState::succeeded);
  EXPECT_EQ(h.target->current_version("staging"), "v2");
  ASSERT_FALSE(conversation.posts.empty());
  EXPECT_TRUE(has(conversation.posts[0].text,
                  "resumed after a restart; following its build https://ci.example/runs/77"))
      << conversation.posts[0].text;
  EXPECT_TRUE(audited("deploy.resumed"));
}

TEST_F(RolloutTest, ARestartBeforeTheRunWasRecordedStartsTheBuildAgain) {
  auto ci = std::make_unique<ScriptedCi>();
  auto* scripted = ci.get();
  builds["hello"] = std::move(ci);
  hello().has_build = true;
  hello().build_poll = std::chrono::seconds(10);
  const auto id = left_building(h, "");
  auto resumable = commands::resumable_deploys(*h.services);
  ASSERT_EQ(resumable.size(), 1u);
  RecordingConversation conversation;
  boost::asio::co_spawn(h.io, commands::resume_deploy(*h.services, conversation, resumable[0]),
                        boost::asio::detached);
  ASSERT_TRUE(h.drive([&] { return settled(id); }, hello().build_poll));
  EXPECT_EQ(scripted->triggered.size(), 1u);
  EXPECT_EQ(h.deploys.get(id)->state, DeployState::succeeded);
}

// Replicas (issue 17): a build that a replica triggered carries on in CI after that replica dies.
// A survivor leaves it alone while the owner's lease runs, then takes it over (owner and epoch
// move) and follows the recorded run: the build is never triggered twice.
TEST_F(RolloutTest, ADeadReplicasBuildIsTakenOverAndFollowedNotTriggeredAgain) {
  auto ci = std::make_unique<ScriptedCi>();
  ci->states = {CiRunState::running, CiRunState::succeeded};
  auto* scripted = ci.get();
  builds["hello"] = std::move(ci);
  hello().has_build = true;
  hello().build_poll = std::chrono::seconds(10);
  const auto id = left_building(h, "77");
  h.db->prepare("UPDATE deploys SET owner = 'a' WHERE id = ?1").bind(1, id).run();
  storage::LeaseStore leases(*h.db);
  ASSERT_TRUE(leases.acquire(storage::replica_lease_name("a"), "a", h.clock.now_ms(), 10'000));
  h.services->replica = "b";
  h.services->takeover_grace_ms = 2'000;

  EXPECT_TRUE(commands::reconcile_interrupted_deploys(*h.services).empty());
  EXPECT_TRUE(commands::take_over_orphaned_deploys(*h.services).taken_over.empty());
  EXPECT_TRUE(commands::resumable_deploys(*h.services).empty());  // a's, and a is alive
  EXPECT_EQ(h.deploys.get(id)->owner, "a");

  h.clock.advance_ms(12'000);  // a's lease and the grace are over
  auto found = commands::take_over_orphaned_deploys(*h.services);
  ASSERT_EQ(found.taken_over.size(), 1u);
  EXPECT_TRUE(found.settled.empty());
  ASSERT_EQ(found.resumable.size(), 1u);
  EXPECT_EQ(found.resumable[0].owner, "b");
  EXPECT_EQ(found.resumable[0].epoch, 1);
  EXPECT_TRUE(audited("deploy.taken_over"));
  RecordingConversation conversation;
  boost::asio::co_spawn(h.io,
                        commands::resume_deploy(*h.services, conversation, found.resumable[0]),
                        boost::asio::detached);
  ASSERT_TRUE(h.drive([&] { return settled(id); }, hello().build_poll));
  EXPECT_TRUE(scripted->triggered.empty());  // followed, not started again
  EXPECT_EQ(h.deploys.get(id)->state, DeployState::succeeded);
  EXPECT_EQ(h.deploys.get(id)->owner, "b");
  EXPECT_EQ(h.target->current_version("staging"), "v2");
  // Another survivor asking afterwards finds nothing to take.
  h.services->replica = "c";
  EXPECT_TRUE(commands::take_over_orphaned_deploys(*h.services).taken_over.empty());
}

// Issue 17: a dead replica's straight rollout cut off before its checks began (state deploying,
// no verifying event) is carried on by the survivor: the same version is applied again
// (idempotent on every target) and the deploy ends once, succeeded, serving that version.
TEST_F(RolloutTest, AStraightRolloutCutOffIsAppliedAgainAndFinishedByADeadReplicasSurvivor) {
  storage::NewDeploy request;
  request.service = "hello";
  request.environment = "staging";
  request.version = "v2";
  request.requested_by = "alice";
  request.chat_ref = "test";
  request.owner = "a";
  const auto id = h.deploys.create(request).id;
  h.deploys.transition(id, DeployState::deploying, "deploying v2");
  storage::LeaseStore leases(*h.db);
  ASSERT_TRUE(leases.acquire(storage::replica_lease_name("a"), "a", h.clock.now_ms(), 10'000));
  h.services->replica = "b";
  h.services->takeover_grace_ms = 2'000;
  EXPECT_TRUE(commands::reconcile_interrupted_deploys(*h.services).empty());  // a is alive
  EXPECT_TRUE(commands::resumable_deploys(*h.services).empty());

  h.clock.advance_ms(12'000);
  auto found = commands::take_over_orphaned_deploys(*h.services);
  ASSERT_EQ(found.taken_over.size(), 1u);
  EXPECT_TRUE(found.settled.empty());  // not failed: carried on
  ASSERT_EQ(found.resumable.size(), 1u);
  RecordingConversation conversation;
  boost::asio::co_spawn(h.io,
                        commands::resume_deploy(*h.services, conversation, found.resumable[0]),
                        boost::asio::detached);
  ASSERT_TRUE(h.drive([&] { return settled(id); }, std::chrono::seconds(1)));
  const auto after = h.deploys.get(id);
  EXPECT_EQ(after->state, DeployState::succeeded);
  EXPECT_EQ(after->owner, "b");
  EXPECT_EQ(h.target->current_version("staging"), "v2");
  ASSERT_FALSE(conversation.posts.empty());
  EXPECT_TRUE(has(conversation.posts[0].text,
                  "resumed after a restart; applying v2 again and following its rollout"))
      << conversation.posts[0].text;
  EXPECT_TRUE(audited("deploy.resumed"));
  // One succeeded event: requested, deploying, succeeded (the resumption writes no event).
  std::vector<DeployState> states;
  for (const auto& event : h.deploys.events(id))
    states.push_back(event.to);
  EXPECT_EQ(states, (std::vector<DeployState>{DeployState::requested, DeployState::deploying,
                                              DeployState::succeeded}));
}

// A dead replica's canary cut off mid-way with no recorded progress (an older Shipmate ran it):
// how far traffic had moved is unknown, so the survivor rolls it back to the stable version
// through the normal rollback, says why, and the deploy ends rolled back, naming v1.
TEST_F(RolloutTest, ADeadReplicasCanaryWithoutRecordedProgressIsRolledBackWithTheReason) {
  use_canary({10, 50});
  storage::NewDeploy request;
  request.service = "hello";
  request.environment = "staging";
  request.version = "v2";
  request.previous_version = "v1";
  request.requested_by = "alice";
  request.chat_ref = "test";
  request.owner = "a";  // a holds no lease: it is gone
  const auto id = h.deploys.create(request).id;
  h.deploys.transition(id, DeployState::deploying, "deploying v2");
  h.services->replica = "b";
  EXPECT_TRUE(commands::reconcile_interrupted_deploys(*h.services).empty());  // not failed
  auto resumable = commands::resumable_deploys(*h.services);
  ASSERT_EQ(resumable.size(), 1u);
  RecordingConversation conversation;
  boost::asio::co_spawn(h.io, commands::resume_deploy(*h.services, conversation, resumable[0]),
                        boost::asio::detached);
  ASSERT_TRUE(h.drive([&] { return settled(id); }, std::chrono::seconds(1)));
  const auto after = h.deploys.get(id);
  EXPECT_EQ(after->state, DeployState::rolled_back);
  EXPECT_TRUE(has(after->detail, "its rollout progress was not recorded")) << after->detail;
  EXPECT_EQ(h.target->calls, (std::vector<std::string>{"roll_back staging v1"}));
  EXPECT_EQ(h.target->current_version("staging"), "v1");
  ASSERT_FALSE(conversation.updates.empty());
  EXPECT_TRUE(has(conversation.updates.back().text, "Deploy #1 rolled back: taken over"))
      << conversation.updates.back().text;
  EXPECT_TRUE(has(conversation.updates.back().context, "staging serves hello v1 again"))
      << conversation.updates.back().context;
}

TEST_F(RolloutTest, ABuildNoLongerConfiguredIsReconciledAsFailed) {
  const auto id = left_building(h, "5");
  auto reconciled = commands::reconcile_interrupted_deploys(*h.services);
  ASSERT_EQ(reconciled.size(), 1u);
  EXPECT_EQ(h.deploys.get(id)->state, DeployState::failed);
  EXPECT_TRUE(has(h.deploys.get(id)->detail, "has no build configured any more"))
      << h.deploys.get(id)->detail;
  EXPECT_TRUE(commands::resumable_deploys(*h.services).empty());
}

TEST_F(RolloutTest, ABadDeployNumberOrNothingToDecideIsAClearError) {
  EXPECT_TRUE(has(h.run("alice", "continue twelve"), "'twelve' is not a deploy number"));
  EXPECT_TRUE(has(h.run("alice", "abort 9"), "there is no deploy #9"));
}

}  // namespace
}  // namespace shipmate::testing
