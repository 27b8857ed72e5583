// Issue 17, takeover of every deploy kind, on both backends: two "replicas" (two command
// harnesses, each with its own loop, manual clock and fake target) share one database. Replica a
// runs a canary into a step's bake time and then stops being driven (as if killed: it writes
// nothing more); once a's lease is over, replica b takes the deploy over and carries it on from
// the progress a recorded with each transition, or rolls it back to the stable version where
// carrying on is unsafe. Exactly one terminal state, announced once; a's late writes are fenced.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "commands/deploy_flow.h"
#include "commands/rollout_progress.h"
#include "storage/deploy_ownership.h"
#include "storage/lease.h"
#include "tests/support/backends.h"
#include "tests/support/command_harness.h"
#include "tests/support/scripted_fakes.h"

namespace shipmate::testing {
namespace {

using commands::CheckVerdict;
using commands::RolloutPhase;
using commands::StrategyKind;
using storage::DeployState;

bool has(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class DeployTakeoverTest : public ::testing::TestWithParam<Backend> {
 protected:
  DeployTakeoverTest() {
    a.services->metrics = &metrics_a;
    b.services->metrics = &metrics_b;
    a.services->replica = "a";
    b.services->replica = "b";
    for (CommandHarness* h : {&a, &b}) {
      h->target->split = true;
      h->services->takeover_grace_ms = 2'000;
    }
  }

  void use_canary(CommandHarness& h, std::vector<int> steps, StrategyKind kind) {
    auto& strategy = h.catalog.services.front().strategy;
    strategy.kind = kind;
    strategy.steps = std::move(steps);
    strategy.bake_ms = 60'000;
    strategy.checks = {{"error_rate", "errors{version=\"{version}\"}", 0.05, std::nullopt}};
  }

  commands::RolloutProgress recorded(std::int64_t id) {
    auto deploy = b.deploys.get(id);
    auto progress = commands::parse_rollout(deploy ? deploy->rollout : "");
    return progress ? *progress : commands::RolloutProgress{};
  }

  // a's lease ran out 3 s ago on b's clock (a lease of 10 s taken at a's current time).
  void a_dies() {
    storage::LeaseStore leases(*b.db);
    ASSERT_TRUE(leases.acquire(storage::replica_lease_name("a"), "a", a.clock.now_ms(), 10'000));
    b.clock.advance_ms(a.clock.now_ms() + 13'000 - b.clock.now_ms());
  }

  // A deploy of v2 recorded as replica a's, cut off in `state` with `progress` (or none).
  std::int64_t left_by_a(DeployState state, const std::string& progress) {
    storage::NewDeploy request{"hello", "staging", "v2",  "v1", storage::DeployKind::deploy,
                               "alice", "",        "test"};
    request.owner = "a";
    const auto id = a.deploys.create(request).id;
    a.deploys.transition_if(id, DeployState::requested, 0, DeployState::deploying, "deploying v2",
                            progress);
    if (state == DeployState::verifying)
      a.deploys.transition(id, DeployState::verifying, "checking v2");
    return id;
  }

  bool settled(CommandHarness& h, std::int64_t id) {
    auto deploy = h.deploys.get(id);
    return deploy && storage::is_terminal(deploy->state) && !h.runtime.is_running(id);
  }

  // a dies; b takes its one deploy over as resumable (carried on, not failed) and carries it on,
  // posting in `conversation`, until deploy `id` settles.
  void b_takes_over_and_settles(std::int64_t id, RecordingConversation& conversation) {
    ASSERT_NO_FATAL_FAILURE(a_dies());
    auto found = commands::take_over_orphaned_deploys(*b.services);
    ASSERT_EQ(found.taken_over.size(), 1u);
    EXPECT_TRUE(found.settled.empty());
    ASSERT_EQ(found.resumable.size(), 1u);
    boost::asio::co_spawn(b.io,
                          commands::resume_deploy(*b.services, conversation, found.resumable[0]),
                          boost::asio::detached);
    ASSERT_TRUE(b.drive([&] { return settled(b, id); }, std::chrono::seconds(1)));
  }

  int count(const std::vector<std::string>& actions, const std::string& action) {
    return static_cast<int>(std::count(actions.begin(), actions.end(), action));
  }
  // Audit records of `action` about deploy `id` ("#<id> ..." in their details).
  int audited(const std::string& action, std::int64_t id) {
    int n = 0;
    for (const auto& record : b.audit.tail(1000))
      n +=
          record.entry.action == action && has(record.entry.details, "#" + std::to_string(id) + " ")
              ? 1
              : 0;
    return n;
  }
  std::vector<std::string> audit_actions() {
    std::vector<std::string> out;
    for (const auto& record : b.audit.tail(1000))
      out.push_back(record.entry.action);
    return out;
  }

  TempDir dir;
  std::string location = fresh_location(GetParam(), dir);
  CommandHarness a{location};
  CommandHarness b{location};
  ScriptedMetrics metrics_a;
  ScriptedMetrics metrics_b;
};
SHIPMATE_ON_BOTH_BACKENDS(DeployTakeoverTest);

// a's canary (10%, 50%, 100%) passed step 1 and is baking step 2 when a stops. b carries it on
// from step 2: it brings the stable version back on its own target (a's processes stopped with
// a), restarts the candidate, sets 50% again, bakes and checks it, then step 3 and the promotion.
// Step 1 is not checked again. One succeeded, announced once; a's late wake-up writes nothing.
TEST_P(DeployTakeoverTest, ACanaryTakenOverMidBakeIsCarriedOnFromTheRecordedStep) {
  a.run("alice", "deploy hello v1 to staging");
  b.target->calls.clear();
  use_canary(a, {10, 50}, StrategyKind::canary);
  use_canary(b, {10, 50}, StrategyKind::canary);
  a.start("alice", "deploy hello v2 to staging");
  ASSERT_TRUE(a.drive(
      [&] {
        auto deploy = a.deploys.get(2);
        const auto progress = recorded(2);
        return deploy && deploy->state == DeployState::verifying &&
               progress.phase == RolloutPhase::baking && progress.step == 1;
      },
      std::chrono::seconds(1)));
  // What a recorded before starting step 2's bake: everything a new owner needs.
  const auto at_kill = recorded(2);
  EXPECT_EQ(at_kill.strategy, StrategyKind::canary);
  EXPECT_EQ(at_kill.stable, "v1");
  EXPECT_EQ(at_kill.candidate, "v2");
  EXPECT_EQ(at_kill.steps, 3);
  EXPECT_EQ(at_kill.weight, 50);
  EXPECT_EQ(at_kill.passed, 1);
  EXPECT_EQ(at_kill.bake_started_at, a.clock.now_ms());
  EXPECT_EQ(metrics_a.asked.size(), 1u);  // step 1's check; step 2 bakes
  RecordingConversation conversation;
  ASSERT_NO_FATAL_FAILURE(b_takes_over_and_settles(2, conversation));

  const auto after = b.deploys.get(2);
  EXPECT_EQ(after->state, DeployState::succeeded);
  EXPECT_EQ(after->owner, "b");
  EXPECT_EQ(after->epoch, 1);
  // (The abort is a no-op here: a's candidate stopped with a; a target that kept it would
  // stop it before the new one starts.)
  EXPECT_EQ(b.target->calls,
            (std::vector<std::string>{"roll_back staging v1", "abort staging",
                                      "start_candidate staging v2", "weight staging 50",
                                      "weight staging 100", "promote staging"}));
  EXPECT_EQ(b.target->current_version("staging"), "v2");
  EXPECT_EQ(metrics_b.asked, (std::vector<std::string>{"error_rate@v2", "error_rate@v2"}));
  ASSERT_FALSE(conversation.posts.empty());
  EXPECT_TRUE(has(conversation.posts[0].text,
                  "carrying the canary on from step 2 of 3 (50%) (1 step already passed"))
      << conversation.posts[0].text;
  int outcomes = 0;
  std::string said;
  for (const auto& update : conversation.updates) {
    outcomes += has(update.text, "succeeded") ? 1 : 0;
    said += update.text + "\n";
  }
  EXPECT_EQ(outcomes, 1) << said;
  EXPECT_EQ(audited("deploy.taken_over", 2), 1);
  EXPECT_EQ(audited("deploy.resumed", 2), 1);
  EXPECT_EQ(audited("deploy.succeeded", 2), 1);
  EXPECT_TRUE(b.audit.verify().ok);

  // a wakes up (its bake ends): it finds the deploy over and writes nothing; a stale write of
  // a's is refused by the epoch.
  const auto events_before = b.deploys.events(2).size();
  ASSERT_TRUE(a.drive([&] { return !a.runtime.is_running(2); }, std::chrono::seconds(10)));
  EXPECT_EQ(b.deploys.events(2).size(), events_before);
  EXPECT_EQ(b.deploys.get(2)->state, DeployState::succeeded);
  EXPECT_EQ(metrics_a.asked.size(), 1u);
  EXPECT_FALSE(
      a.deploys.transition_if(2, DeployState::verifying, 0, DeployState::failed, "late").applied);
}

// a had found a breach and recorded the rollback (phase rolling_back, why) before starting it,
// then stopped: b finishes the rollback; the deploy ends rolled back, naming v1, once.
TEST_P(DeployTakeoverTest, ARollbackCutOffIsFinishedByTheSurvivor) {
  use_canary(b, {10, 50}, StrategyKind::canary);
  commands::RolloutProgress progress;
  progress.strategy = StrategyKind::canary;
  progress.phase = RolloutPhase::rolling_back;
  progress.stable = "v1";
  progress.candidate = "v2";
  progress.steps = 3;
  progress.step = 1;
  progress.weight = 50;
  progress.passed = 1;
  progress.why = "check failed: error_rate: 0.31 > max 0.05";
  const auto id = left_by_a(DeployState::deploying, commands::format_rollout(progress));
  RecordingConversation conversation;
  ASSERT_NO_FATAL_FAILURE(b_takes_over_and_settles(id, conversation));
  const auto after = b.deploys.get(id);
  EXPECT_EQ(after->state, DeployState::rolled_back);
  EXPECT_TRUE(has(after->detail, "check failed: error_rate: 0.31 > max 0.05")) << after->detail;
  EXPECT_TRUE(has(after->detail, "v1 serves again")) << after->detail;
  EXPECT_EQ(b.target->calls, (std::vector<std::string>{"roll_back staging v1"}));
  EXPECT_EQ(b.target->current_version("staging"), "v1");
  EXPECT_TRUE(metrics_b.asked.empty());
  ASSERT_FALSE(conversation.posts.empty());
  EXPECT_TRUE(has(conversation.posts[0].text, "rolling back to v1 because check failed"))
      << conversation.posts[0].text;
  EXPECT_EQ(count(audit_actions(), "deploy.rolled_back"), 1);
}

// Recorded progress that no longer matches the configuration (the canary lost a step since) is
// not carried on: b rolls back to the stable version and says why, in the deploy's detail.
TEST_P(DeployTakeoverTest, ProgressThatNoLongerMatchesTheStrategyRollsBackAndSaysWhy) {
  use_canary(b, {50}, StrategyKind::canary);
  commands::RolloutProgress progress;
  progress.strategy = StrategyKind::canary;
  progress.phase = RolloutPhase::baking;
  progress.stable = "v1";
  progress.candidate = "v2";
  progress.steps = 3;
  progress.step = 1;
  progress.weight = 50;
  const auto id = left_by_a(DeployState::verifying, commands::format_rollout(progress));
  RecordingConversation conversation;
  ASSERT_NO_FATAL_FAILURE(b_takes_over_and_settles(id, conversation));
  const auto after = b.deploys.get(id);
  EXPECT_EQ(after->state, DeployState::rolled_back);
  EXPECT_TRUE(has(after->detail, "the service's rollout strategy changed since the rollout began"))
      << after->detail;
  EXPECT_EQ(b.target->current_version("staging"), "v1");
}

// A blue-green switched to green and baking when a stopped: b starts green again, switches all
// traffic to it, checks it and promotes.
TEST_P(DeployTakeoverTest, ABlueGreenTakenOverWhileBakingIsCarriedOn) {
  use_canary(b, {}, StrategyKind::blue_green);
  commands::RolloutProgress progress;
  progress.strategy = StrategyKind::blue_green;
  progress.phase = RolloutPhase::baking;
  progress.stable = "v1";
  progress.candidate = "v2";
  progress.steps = 1;
  progress.step = 0;
  progress.weight = 100;
  const auto text = commands::format_rollout(progress);
  EXPECT_TRUE(has(text, "serving=green")) << text;
  const auto id = left_by_a(DeployState::verifying, text);
  RecordingConversation conversation;
  ASSERT_NO_FATAL_FAILURE(b_takes_over_and_settles(id, conversation));
  EXPECT_EQ(b.deploys.get(id)->state, DeployState::succeeded);
  EXPECT_EQ(b.target->calls, (std::vector<std::string>{"roll_back staging v1", "abort staging",
                                                       "start_candidate staging v2",
                                                       "weight staging 100", "promote staging"}));
  EXPECT_EQ(b.target->current_version("staging"), "v2");
  EXPECT_EQ(metrics_b.asked.size(), 1u);
}

}  // namespace
}  // namespace shipmate::testing
