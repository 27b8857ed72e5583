// The Argo CD deploy target against the fake Argo CD server, over real sockets (plain and TLS).
#include "integrations/argocd/argocd_target.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include "common/timer.h"
#include "integrations/argocd/argocd_client.h"
#include "integrations/net/http_client.h"
#include "tests/support/fake_argocd.h"
#include "tests/support/non_json_answers.h"

namespace shipmate::integrations {
namespace {

using namespace std::chrono_literals;
using testing::FakeArgoCd;
using testing::FakeRequest;
namespace json = boost::json;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

json::value body_of(const FakeRequest& request) {
  return json::parse(request.body);
}

// The merge patch carried, as a string, inside an ApplicationPatchRequest.
json::value patch_of(const FakeRequest& request) {
  return json::parse(body_of(request).at("patch").as_string());
}

std::size_t count_writes(const std::vector<FakeRequest>& requests) {
  return static_cast<std::size_t>(std::count_if(
      requests.begin(), requests.end(), [](const FakeRequest& r) { return r.method != "GET"; }));
}

class ArgoCdTargetTest : public ::testing::Test {
 protected:
  static FakeArgoCd::AppSetup app(std::string name = "api-production") {
    FakeArgoCd::AppSetup setup;
    setup.name = std::move(name);
    return setup;
  }

  static ArgoCdTargetConfig config_for(const FakeArgoCd& server) {
    ArgoCdTargetConfig config;
    config.service = "api";
    config.server_url = server.base_url();
    config.token = server.options().token;
    config.ca_file = server.ca_path();
    config.proxy = "";
    config.environments["production"] = {};
    config.poll_interval = 10ms;
    // Guards, not timing claims (a sync here settles in about 40 ms of wall time; the time-out
    // tests run in manual time): generous for a loaded machine.
    config.sync_timeout = 30s;
    config.request_timeout = 20s;
    config.retry.first_backoff = 5ms;
    config.retry.max_backoff = 20ms;
    return config;
  }

  ArgoCdTargetConfig config() const { return config_for(argo); }

  template <class T>
  T run(boost::asio::awaitable<T> task) {
    std::optional<T> result;
    std::exception_ptr failure;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
          T value = co_await std::move(task);
          result.emplace(std::move(value));
        },
        [&](std::exception_ptr error) { failure = error; });
    io.restart();
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!result && !failure && std::chrono::steady_clock::now() < deadline)
      io.run_one_for(50ms);
    if (failure)
      std::rethrow_exception(failure);
    if (!result)
      throw std::runtime_error("the target did not finish within 60 s");
    return std::move(*result);
  }

  // Runs `task` with the target's waits on `timers`: whenever nothing is ready and the target
  // sleeps, manual time moves on by `step` (and `after_step` runs); requests in flight still go
  // over real sockets.
  template <class T>
  T run_in_manual_time(boost::asio::awaitable<T> task, ManualTimers& timers,
                       std::chrono::milliseconds step,
                       const std::function<void()>& after_step = nullptr) {
    std::optional<T> result;
    std::exception_ptr failure;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
          T value = co_await std::move(task);
          result.emplace(std::move(value));
        },
        [&](std::exception_ptr error) { failure = error; });
    io.restart();
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!result && !failure && std::chrono::steady_clock::now() < deadline) {
      if (io.poll() > 0)
        continue;
      if (timers.sleeping() > 0) {
        timers.advance(step);
        if (after_step)
          after_step();
      } else {
        io.run_one_for(50ms);
      }
    }
    if (failure)
      std::rethrow_exception(failure);
    if (!result)
      throw std::runtime_error("the target did not finish within 60 s");
    return std::move(*result);
  }

  ApplyOutcome apply(ArgoCdTarget& target, const std::string& version) {
    return run(target.apply("production", version, record_progress()));
  }

  ApplyOutcome roll_back(ArgoCdTarget& target, const std::string& version) {
    return run(target.roll_back("production", version, record_progress()));
  }

  ProgressFn record_progress() {
    return [this](const std::string& line) { progress.push_back(line); };
  }

  bool progress_mentions(const std::string& part) const {
    return std::any_of(progress.begin(), progress.end(),
                       [&](const std::string& line) { return contains(line, part); });
  }

  FakeArgoCd argo;
  boost::asio::io_context io;
  std::vector<std::string> progress;
};

// ---------------------------------------------------------------------------------------------
// Deploys

// Bad input loses nothing: an answer that is not JSON fails the deploy (and restore) with an error
// that names Argo CD, and nothing is written to the server.
TEST_F(ArgoCdTargetTest, NonJsonAnswersAreClearErrorsNamingArgoCd) {
  for (const auto& answer : testing::non_json_answers()) {
    SCOPED_TRACE(answer.name);
    auto server = testing::server_answering(answer.response);
    ArgoCdTargetConfig settings = config();
    settings.server_url = server->base_url();
    settings.ca_file = "";
    settings.retry.max_attempts = 2;
    ArgoCdTarget target(io.get_executor(), settings);
    const ApplyOutcome outcome = apply(target, "v2");
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(testing::non_json_problem(outcome.message, "Argo CD"), "") << outcome.message;
    for (const auto& one : run(target.restore())) {
      EXPECT_FALSE(one.ok);
      EXPECT_EQ(testing::non_json_problem(one.message, "Argo CD"), "") << one.message;
    }
    EXPECT_EQ(count_writes(server->requests()), 0u);
  }
}

TEST_F(ArgoCdTargetTest, SyncsToRevisionAndWaitsForSyncedAndHealthy) {
  argo.add_application(app());
  ArgoCdTarget target(io.get_executor(), config());

  ApplyOutcome outcome = apply(target, "v2");

  ASSERT_TRUE(outcome.ok) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "Synced and Healthy")) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, FakeArgoCd::resolve_revision("v2").substr(0, 7)))
      << outcome.message;
  EXPECT_EQ(outcome.endpoint, argo.base_url() + "/applications/api-production");

  auto requests = argo.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests.front().method, "GET");
  EXPECT_EQ(requests.front().path, "/api/v1/applications/api-production");
  for (const auto& request : requests)
    EXPECT_EQ(request.header("Authorization"), "Bearer " + argo.options().token);

  auto patches = argo.requests_to("PATCH", "/api/v1/applications/api-production");
  ASSERT_EQ(patches.size(), 1u);
  json::value patch_request = body_of(patches[0]);
  EXPECT_EQ(patch_request.at("patchType"), "merge");
  EXPECT_EQ(patch_request.at("name"), "api-production");
  EXPECT_EQ(patch_of(patches[0]), json::parse(R"({"spec":{"source":{"targetRevision":"v2"}}})"));

  auto syncs = argo.requests_to("POST", "/api/v1/applications/api-production/sync");
  ASSERT_EQ(syncs.size(), 1u);
  json::value sync = body_of(syncs[0]);
  EXPECT_EQ(sync.at("revision"), "v2");
  EXPECT_EQ(sync.at("prune"), false);
  EXPECT_EQ(sync.at("dryRun"), false);
  EXPECT_EQ(sync.at("name"), "api-production");
  EXPECT_FALSE(sync.as_object().contains("appNamespace"));
  EXPECT_TRUE(argo.requests_to("POST", "/api/v1/applications/api-production/rollback").empty());

  EXPECT_EQ(argo.target_revision("api-production"), "v2");
  EXPECT_EQ(argo.history_ids("api-production"), (std::vector<long long>{0, 1}));
  json::value live = argo.application("api-production");
  EXPECT_EQ(live.at("status").at("sync").at("status"), "Synced");
  EXPECT_EQ(live.at("status").at("health").at("status"), "Healthy");

  EXPECT_EQ(target.current_version("production"), "v2");
  EXPECT_TRUE(contains(target.describe("production"), "v2 via Argo CD app api-production"))
      << target.describe("production");
  EXPECT_TRUE(progress_mentions("sync to v2 requested"));
  EXPECT_TRUE(progress_mentions("Progressing"));
}

TEST_F(ArgoCdTargetTest, HelmParameterModeSetsTheParameterAndKeepsTheOthers) {
  FakeArgoCd::AppSetup setup = app();
  setup.helm_parameters = {{"replicaCount", "2"}, {"image.tag", "1.0.0"}};
  argo.add_application(setup);
  ArgoCdTargetConfig settings = config();
  settings.version_mode = ArgoCdVersionMode::helm_parameter;
  settings.helm_parameter = "image.tag";
  ArgoCdTarget target(io.get_executor(), settings);

  ApplyOutcome outcome = apply(target, "1.1.0");

  ASSERT_TRUE(outcome.ok) << outcome.message;
  auto patches = argo.requests_to("PATCH", "/api/v1/applications/api-production");
  ASSERT_EQ(patches.size(), 1u);
  EXPECT_EQ(patch_of(patches[0]), json::parse(R"({"spec":{"source":{"helm":{"parameters":[
                                      {"name":"replicaCount","value":"2"},
                                      {"name":"image.tag","value":"1.1.0"}]}}}})"));
  auto syncs = argo.requests_to("POST", "/api/v1/applications/api-production/sync");
  ASSERT_EQ(syncs.size(), 1u);
  EXPECT_FALSE(body_of(syncs[0]).as_object().contains("revision"));
  EXPECT_EQ(argo.helm_parameter("api-production", "image.tag"), "1.1.0");
  EXPECT_EQ(argo.helm_parameter("api-production", "replicaCount"), "2");
  EXPECT_EQ(argo.target_revision("api-production"), "v1");
  EXPECT_EQ(target.current_version("production"), "1.1.0");
}

TEST_F(ArgoCdTargetTest, HelmParameterModeAddsAMissingParameter) {
  argo.add_application(app());
  ArgoCdTargetConfig settings = config();
  settings.version_mode = ArgoCdVersionMode::helm_parameter;
  settings.helm_parameter = "image.tag";
  ArgoCdTarget target(io.get_executor(), settings);

  ApplyOutcome outcome = apply(target, "2.0.0");

  ASSERT_TRUE(outcome.ok) << outcome.message;
  EXPECT_EQ(argo.helm_parameter("api-production", "image.tag"), "2.0.0");
}

TEST_F(ArgoCdTargetTest, DegradedHealthFailsAndRollsBackToThePreviousHistoryId) {
  argo.add_application(app());
  argo.degrade_on("api-production", "v3",
                  "Deployment \"api-production\" has timed out progressing.");
  ArgoCdTarget target(io.get_executor(), config());
  ASSERT_TRUE(apply(target, "v2").ok);
  ASSERT_EQ(argo.history_ids("api-production"), (std::vector<long long>{0, 1}));
  argo.clear_requests();

  ApplyOutcome outcome = apply(target, "v3");

  EXPECT_FALSE(outcome.ok);
  EXPECT_TRUE(contains(outcome.message, "health Degraded")) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "has timed out progressing")) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "rolled back to history id 1 (v2)")) << outcome.message;

  auto rollbacks = argo.requests_to("POST", "/api/v1/applications/api-production/rollback");
  ASSERT_EQ(rollbacks.size(), 1u);
  json::value rollback = body_of(rollbacks[0]);
  EXPECT_EQ(rollback.at("id"), 1);
  EXPECT_EQ(rollback.at("prune"), false);
  EXPECT_EQ(rollback.at("dryRun"), false);

  // The spec names the serving version again, and Argo CD agrees it is Synced and Healthy.
  EXPECT_EQ(argo.target_revision("api-production"), "v2");
  json::value live = argo.application("api-production");
  EXPECT_EQ(live.at("status").at("sync").at("status"), "Synced");
  EXPECT_EQ(live.at("status").at("health").at("status"), "Healthy");
  auto operations = argo.operations("api-production");
  ASSERT_FALSE(operations.empty());
  EXPECT_EQ(operations.back().kind, "rollback");
  EXPECT_EQ(operations.back().revision, FakeArgoCd::resolve_revision("v2"));
  EXPECT_EQ(target.current_version("production"), "v2");
  EXPECT_TRUE(progress_mentions("rolling back to history id 1"));
}

TEST_F(ArgoCdTargetTest, FailedSyncOperationRollsBack) {
  argo.add_application(app());
  argo.fail_sync_of("api-production", "v2",
                    "admission webhook \"policy.example.com\" denied the request");
  ArgoCdTarget target(io.get_executor(), config());

  ApplyOutcome outcome = apply(target, "v2");

  EXPECT_FALSE(outcome.ok);
  EXPECT_TRUE(contains(outcome.message, "operation Failed")) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "denied the request")) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "rolled back to history id 0 (v1)")) << outcome.message;
  auto rollbacks = argo.requests_to("POST", "/api/v1/applications/api-production/rollback");
  ASSERT_EQ(rollbacks.size(), 1u);
  EXPECT_EQ(body_of(rollbacks[0]).at("id"), 0);
  EXPECT_EQ(argo.target_revision("api-production"), "v1");
  EXPECT_EQ(target.current_version("production"), "v1");
}

// The sync timeout passes in manual time: the fake's controller runs without delays, the target
// polls on ManualTimers, and the test moves time one poll at a time while the target sleeps.
TEST_F(ArgoCdTargetTest, SuspendedHealthWaitsUntilTheTimeoutThenRollsBack) {
  FakeArgoCd::Options instant_options;
  instant_options.operation_duration = 0ms;
  instant_options.health_delay = 0ms;
  FakeArgoCd instant(instant_options);
  instant.add_application(app());
  instant.suspend_on("api-production", "v2");
  ArgoCdTargetConfig settings = config_for(instant);
  settings.poll_interval = 2s;
  settings.sync_timeout = 2min;
  auto timers = std::make_shared<ManualTimers>(io.get_executor());
  ArgoCdTarget target(io.get_executor(), settings, timers);

  ApplyOutcome outcome =
      run_in_manual_time(target.apply("production", "v2", record_progress()), *timers, 2s);

  EXPECT_FALSE(outcome.ok);
  EXPECT_TRUE(contains(outcome.message, "timed out after")) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "Suspended")) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "rolled back to history id 0 (v1)")) << outcome.message;
  EXPECT_TRUE(progress_mentions("waiting for it to be resumed"));
  EXPECT_GE(timers->now(), settings.sync_timeout);
}

TEST_F(ArgoCdTargetTest, AlreadySyncingIsRefusedAndNothingChanges) {
  argo.add_application(app());
  argo.start_foreign_operation("api-production", "bob");
  ArgoCdTarget target(io.get_executor(), config());

  ApplyOutcome outcome = apply(target, "v2");
  ApplyOutcome rollback = roll_back(target, "v1");

  EXPECT_FALSE(outcome.ok);
  EXPECT_TRUE(contains(outcome.message, "Argo CD app api-production is already syncing"))
      << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "by bob")) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "Shipmate changed nothing")) << outcome.message;
  EXPECT_FALSE(rollback.ok);
  EXPECT_TRUE(contains(rollback.message, "already syncing")) << rollback.message;
  EXPECT_EQ(count_writes(argo.requests()), 0u);
  EXPECT_EQ(argo.target_revision("api-production"), "v1");
}

TEST_F(ArgoCdTargetTest, AutomatedSyncWithRefusePolicyIsRefused) {
  FakeArgoCd::AppSetup setup = app();
  setup.automated = true;
  argo.add_application(setup);
  ArgoCdTarget target(io.get_executor(), config());

  ApplyOutcome outcome = apply(target, "v2");
  ApplyOutcome rollback = roll_back(target, "v1");

  EXPECT_FALSE(outcome.ok);
  EXPECT_TRUE(contains(outcome.message,
                       "Argo CD app api-production has automated sync on; "
                       "Shipmate will not fight it"))
      << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "auto_sync: suspend")) << outcome.message;
  EXPECT_FALSE(rollback.ok);
  EXPECT_TRUE(contains(rollback.message, "refuses rollbacks while automated sync is on"))
      << rollback.message;
  EXPECT_EQ(count_writes(argo.requests()), 0u);
  EXPECT_TRUE(argo.automated("api-production"));
}

TEST_F(ArgoCdTargetTest, AutomatedSyncWithSuspendPolicyIsSuspendedAndRestored) {
  FakeArgoCd::AppSetup setup = app();
  setup.automated = true;
  argo.add_application(setup);
  ArgoCdTargetConfig settings = config();
  settings.auto_sync = ArgoCdAutoSyncPolicy::suspend;
  ArgoCdTarget target(io.get_executor(), settings);

  ApplyOutcome outcome = apply(target, "v2");

  ASSERT_TRUE(outcome.ok) << outcome.message;
  auto patches = argo.requests_to("PATCH", "/api/v1/applications/api-production");
  ASSERT_EQ(patches.size(), 3u);
  EXPECT_EQ(patch_of(patches[0]), json::parse(R"({"spec":{"syncPolicy":{"automated":null}}})"));
  EXPECT_EQ(patch_of(patches[1]), json::parse(R"({"spec":{"source":{"targetRevision":"v2"}}})"));
  EXPECT_EQ(patch_of(patches[2]), json::parse(R"({"spec":{"syncPolicy":{"automated":
                                      {"prune":true,"selfHeal":true}}}})"));
  EXPECT_TRUE(argo.automated("api-production"));
  EXPECT_EQ(argo.target_revision("api-production"), "v2");
  // Automation never raced the deploy: every operation was Shipmate's.
  for (const auto& operation : argo.operations("api-production"))
    EXPECT_NE(operation.kind, "automated");
  EXPECT_TRUE(progress_mentions("automated sync suspended"));
  EXPECT_TRUE(progress_mentions("automated sync restored"));
}

TEST_F(ArgoCdTargetTest, SuspendPolicyRestoresAutomationOnlyAfterTheSpecIsBack) {
  FakeArgoCd::AppSetup setup = app();
  setup.automated = true;
  argo.add_application(setup);
  argo.degrade_on("api-production", "v2", "Back-off restarting failed container");
  ArgoCdTargetConfig settings = config();
  settings.auto_sync = ArgoCdAutoSyncPolicy::suspend;
  ArgoCdTarget target(io.get_executor(), settings);

  ApplyOutcome outcome = apply(target, "v2");

  EXPECT_FALSE(outcome.ok);
  EXPECT_TRUE(contains(outcome.message, "rolled back to history id 0 (v1)")) << outcome.message;
  EXPECT_TRUE(argo.automated("api-production"));
  EXPECT_EQ(argo.target_revision("api-production"), "v1");
  // Restored automation finds the app Synced at v1 and leaves it alone.
  json::value live = argo.application("api-production");
  EXPECT_EQ(live.at("status").at("sync").at("status"), "Synced");
  for (const auto& operation : argo.operations("api-production"))
    EXPECT_NE(operation.kind, "automated");
}

// ---------------------------------------------------------------------------------------------
// Rollbacks

TEST_F(ArgoCdTargetTest, RollsBackToTheHistoryIdOfTheVersion) {
  argo.add_application(app());
  ArgoCdTarget target(io.get_executor(), config());
  ASSERT_TRUE(apply(target, "v2").ok);
  ASSERT_TRUE(apply(target, "v3").ok);
  ASSERT_EQ(argo.history_ids("api-production"), (std::vector<long long>{0, 1, 2}));
  argo.clear_requests();

  ApplyOutcome outcome = roll_back(target, "v2");

  ASSERT_TRUE(outcome.ok) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "rolled back to history id 1")) << outcome.message;
  auto rollbacks = argo.requests_to("POST", "/api/v1/applications/api-production/rollback");
  ASSERT_EQ(rollbacks.size(), 1u);
  EXPECT_EQ(body_of(rollbacks[0]).at("id"), 1);
  EXPECT_EQ(body_of(rollbacks[0]).at("prune"), false);
  EXPECT_EQ(argo.target_revision("api-production"), "v2");
  EXPECT_EQ(argo.history_ids("api-production"), (std::vector<long long>{0, 1, 2, 3}));
  EXPECT_EQ(target.current_version("production"), "v2");
  json::value live = argo.application("api-production");
  EXPECT_EQ(live.at("status").at("sync").at("status"), "Synced");
}

TEST_F(ArgoCdTargetTest, RollbackToAnUnknownVersionUsesThePreviousEntry) {
  argo.add_application(app());
  ArgoCdTarget target(io.get_executor(), config());
  ASSERT_TRUE(apply(target, "v2").ok);
  argo.clear_requests();

  ApplyOutcome outcome = roll_back(target, "v0");

  ASSERT_TRUE(outcome.ok) << outcome.message;
  EXPECT_TRUE(progress_mentions("no history entry for v0")) << outcome.message;
  auto rollbacks = argo.requests_to("POST", "/api/v1/applications/api-production/rollback");
  ASSERT_EQ(rollbacks.size(), 1u);
  EXPECT_EQ(body_of(rollbacks[0]).at("id"), 0);
  EXPECT_EQ(target.current_version("production"), "v1");
}

TEST_F(ArgoCdTargetTest, RollbackWithSuspendPolicyTurnsAutomationOffAndBackOn) {
  FakeArgoCd::AppSetup setup = app();
  argo.add_application(setup);
  ArgoCdTargetConfig settings = config();
  settings.auto_sync = ArgoCdAutoSyncPolicy::suspend;
  ArgoCdTarget target(io.get_executor(), settings);
  ASSERT_TRUE(apply(target, "v2").ok);
  argo.set_automated("api-production", true);

  ApplyOutcome outcome = roll_back(target, "v1");

  ASSERT_TRUE(outcome.ok) << outcome.message;
  EXPECT_TRUE(argo.automated("api-production"));
  EXPECT_EQ(argo.target_revision("api-production"), "v1");
  for (const auto& operation : argo.operations("api-production"))
    EXPECT_NE(operation.kind, "automated");
}

// ---------------------------------------------------------------------------------------------
// Restore

TEST_F(ArgoCdTargetTest, RestoreReadsTheLiveRevisionWithoutChangingAnything) {
  argo.add_application(app());
  ArgoCdTarget target(io.get_executor(), config());
  EXPECT_EQ(target.current_version("production"), std::nullopt);

  std::vector<ApplyOutcome> outcomes = run(target.restore());

  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_TRUE(outcomes[0].ok) << outcomes[0].message;
  EXPECT_TRUE(contains(outcomes[0].message, "api v1 in production")) << outcomes[0].message;
  EXPECT_EQ(target.current_version("production"), "v1");
  EXPECT_TRUE(contains(target.describe("production"), "Synced, Healthy"))
      << target.describe("production");
  EXPECT_EQ(count_writes(argo.requests()), 0u);
}

TEST_F(ArgoCdTargetTest, RestoreReadsTheHelmParameter) {
  FakeArgoCd::AppSetup setup = app();
  setup.helm_parameters = {{"image.tag", "4.2.0"}};
  argo.add_application(setup);
  ArgoCdTargetConfig settings = config();
  settings.version_mode = ArgoCdVersionMode::helm_parameter;
  settings.helm_parameter = "image.tag";
  ArgoCdTarget target(io.get_executor(), settings);

  std::vector<ApplyOutcome> outcomes = run(target.restore());

  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_TRUE(outcomes[0].ok) << outcomes[0].message;
  EXPECT_EQ(target.current_version("production"), "4.2.0");
}

TEST_F(ArgoCdTargetTest, RestoreOfAnAppNeverDeployedReportsNoVersion) {
  FakeArgoCd::AppSetup setup = app();
  setup.deployed = false;
  argo.add_application(setup);
  ArgoCdTargetConfig settings = config();
  settings.version_mode = ArgoCdVersionMode::helm_parameter;
  settings.helm_parameter = "image.tag";
  ArgoCdTarget target(io.get_executor(), settings);

  std::vector<ApplyOutcome> outcomes = run(target.restore());

  EXPECT_TRUE(outcomes.empty());
  EXPECT_EQ(target.current_version("production"), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// Errors

// The REST client's errors carry a kind, so callers need not search the message: a rejected
// token is auth, a missing application not_found, a server that keeps failing unavailable.
TEST_F(ArgoCdTargetTest, ClientErrorsCarryTheirKind) {
  argo.add_application(app());
  ArgoCdTargetConfig settings = config();
  settings.retry.max_attempts = 2;
  const argocd::AppRef known{"production", "api-production", ""};
  const argocd::AppRef missing{"production", "nothing-here", ""};

  settings.token = "expired-token-9f8e7d6c";
  argocd::Client rejected(io.get_executor(), settings);
  Result<argocd::AppState> denied = run(rejected.read_app(known));
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().kind, ErrorKind::auth) << denied.error().message;

  settings.token = argo.options().token;
  settings.project = "default";  // with a project, a missing app is 404 rather than 403
  argocd::Client client(io.get_executor(), settings);
  Result<argocd::AppState> absent = run(client.read_app(missing));
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().kind, ErrorKind::not_found) << absent.error().message;

  argo.fail_next_requests(100, 503, "GET");
  Result<argocd::AppState> down = run(client.read_app(known));
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().kind, ErrorKind::unavailable) << down.error().message;
}

TEST_F(ArgoCdTargetTest, ExpiredTokenIsExplainedWithoutTheToken) {
  argo.add_application(app());
  ArgoCdTargetConfig settings = config();
  settings.token = "expired-token-9f8e7d6c";
  ArgoCdTarget target(io.get_executor(), settings);

  ApplyOutcome outcome = apply(target, "v2");

  EXPECT_FALSE(outcome.ok);
  EXPECT_TRUE(contains(outcome.message, "(401)")) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "invalid session: token is expired")) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "token was rejected")) << outcome.message;
  EXPECT_FALSE(contains(outcome.message, settings.token)) << outcome.message;
  EXPECT_FALSE(contains(outcome.message, argo.options().token)) << outcome.message;
  for (const auto& line : progress)
    EXPECT_FALSE(contains(line, settings.token)) << line;
  EXPECT_EQ(argo.requests().at(0).header("Authorization"), "Bearer " + settings.token);
  EXPECT_EQ(count_writes(argo.requests()), 0u);
}

TEST_F(ArgoCdTargetTest, MissingAppIsNotFoundWhenTheProjectIsKnown) {
  argo.add_application(app());
  ArgoCdTargetConfig settings = config();
  settings.project = "default";
  settings.environments["production"].application = "api-prod";
  ArgoCdTarget target(io.get_executor(), settings);

  ApplyOutcome outcome = apply(target, "v2");

  EXPECT_FALSE(outcome.ok);
  EXPECT_TRUE(contains(outcome.message, "not found (404)")) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "applications.argoproj.io \"api-prod\" not found"))
      << outcome.message;
  EXPECT_FALSE(contains(outcome.message, argo.options().token)) << outcome.message;
  EXPECT_EQ(argo.requests().at(0).query.at("project"), "default");
}

TEST_F(ArgoCdTargetTest, MissingAppWithoutAProjectIsPermissionDenied) {
  argo.add_application(app());
  ArgoCdTargetConfig settings = config();
  settings.environments["production"].application = "api-prod";
  ArgoCdTarget target(io.get_executor(), settings);

  ApplyOutcome outcome = apply(target, "v2");

  EXPECT_FALSE(outcome.ok);
  EXPECT_TRUE(contains(outcome.message, "(403)")) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "permission denied")) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "set the project")) << outcome.message;
}

TEST_F(ArgoCdTargetTest, ServerErrorsAreRetried) {
  argo.add_application(app());
  ArgoCdTarget target(io.get_executor(), config());
  argo.fail_next_requests(2, 500, "GET");

  ApplyOutcome outcome = apply(target, "v2");

  ASSERT_TRUE(outcome.ok) << outcome.message;
  auto reads = argo.requests_to("GET", "/api/v1/applications/api-production");
  ASSERT_GE(reads.size(), 3u);

  // A sync is not idempotent: it is retried only on answers that say it was not processed.
  argo.fail_next_requests(1, 503, "POST");
  ApplyOutcome again = apply(target, "v3");
  ASSERT_TRUE(again.ok) << again.message;
  EXPECT_EQ(argo.requests_to("POST", "/api/v1/applications/api-production/sync").size(), 3u);
}

TEST_F(ArgoCdTargetTest, PersistentServerErrorsFailWithoutChangingAnything) {
  argo.add_application(app());
  ArgoCdTarget target(io.get_executor(), config());
  argo.fail_next_requests(100, 500, "GET");

  ApplyOutcome outcome = apply(target, "v2");

  EXPECT_FALSE(outcome.ok);
  EXPECT_TRUE(contains(outcome.message, "server error (500)")) << outcome.message;
  EXPECT_EQ(count_writes(argo.requests()), 0u);
  argo.fail_next_requests(0);
}

TEST_F(ArgoCdTargetTest, RefusedSyncPutsTheSpecBackAndRollsNothingBack) {
  argo.add_application(app());
  ArgoCdTarget target(io.get_executor(), config());
  argo.fail_next_requests(1, 412, "POST");

  ApplyOutcome outcome = apply(target, "v2");

  EXPECT_FALSE(outcome.ok);
  EXPECT_TRUE(contains(outcome.message, "did not start")) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "refused (412): fake Argo CD: injected failure"))
      << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "the app spec was put back")) << outcome.message;
  EXPECT_EQ(argo.requests_to("POST", "/api/v1/applications/api-production/sync").size(), 1u);
  EXPECT_TRUE(argo.requests_to("POST", "/api/v1/applications/api-production/rollback").empty());
  EXPECT_EQ(argo.target_revision("api-production"), "v1");
  EXPECT_EQ(argo.history_ids("api-production"), (std::vector<long long>{0}));
}

// Shutdown arrives while the target follows a sync that never gets Healthy (after 20 s of manual
// time): it stops waiting and leaves Argo CD alone.
TEST_F(ArgoCdTargetTest, ShutdownStopsFollowingAndLeavesArgoCdAlone) {
  FakeArgoCd::Options instant_options;
  instant_options.operation_duration = 0ms;
  instant_options.health_delay = 0ms;
  FakeArgoCd instant(instant_options);
  instant.add_application(app());
  instant.suspend_on("api-production", "v2");
  ArgoCdTargetConfig settings = config_for(instant);
  settings.poll_interval = 2s;
  settings.sync_timeout = 10min;
  auto timers = std::make_shared<ManualTimers>(io.get_executor());
  ArgoCdTarget target(io.get_executor(), settings, timers);
  bool shut_down = false;
  auto shut_down_after_20s = [&] {
    if (!shut_down && timers->now() >= 20s) {
      shut_down = true;
      boost::asio::co_spawn(io, target.shutdown(), boost::asio::detached);
    }
  };

  ApplyOutcome outcome = run_in_manual_time(target.apply("production", "v2", record_progress()),
                                            *timers, 2s, shut_down_after_20s);

  EXPECT_TRUE(shut_down);
  EXPECT_TRUE(progress_mentions("waiting for it to be resumed"));
  EXPECT_FALSE(outcome.ok);
  EXPECT_TRUE(contains(outcome.message, "interrupted")) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "shutting down")) << outcome.message;
  EXPECT_TRUE(instant.requests_to("POST", "/api/v1/applications/api-production/rollback").empty());
  EXPECT_TRUE(instant.requests_to("DELETE", "/api/v1/applications/api-production").empty());
}

TEST_F(ArgoCdTargetTest, AppNamespaceIsSentWithEveryRequest) {
  FakeArgoCd::AppSetup setup = app();
  setup.app_namespace = "team-a";
  argo.add_application(setup);
  ArgoCdTargetConfig settings = config();
  settings.environments["production"].app_namespace = "team-a";
  ArgoCdTarget target(io.get_executor(), settings);

  ApplyOutcome outcome = apply(target, "v2");

  ASSERT_TRUE(outcome.ok) << outcome.message;
  for (const auto& request : argo.requests()) {
    if (request.method == "GET")
      EXPECT_EQ(request.query.at("appNamespace"), "team-a");
    else
      EXPECT_EQ(body_of(request).at("appNamespace"), "team-a");
  }
  EXPECT_EQ(outcome.endpoint, argo.base_url() + "/applications/team-a/api-production");
}

TEST(ArgoCdTargetTlsTest, DeploysOverTlsWithTheTestCa) {
  FakeArgoCd::Options options;
  options.tls = true;
  FakeArgoCd argo(options);
  FakeArgoCd::AppSetup setup;
  setup.name = "api-production";
  argo.add_application(setup);
  ASSERT_EQ(argo.base_url().rfind("https://", 0), 0u);
  boost::asio::io_context io;
  ArgoCdTargetConfig config;
  config.service = "api";
  config.server_url = argo.base_url();
  config.token = argo.options().token;
  config.ca_file = argo.ca_path();
  config.proxy = "";
  config.environments["production"] = {};
  config.poll_interval = 10ms;
  config.sync_timeout = 30s;  // a guard, as in config_for()
  ArgoCdTarget target(io.get_executor(), config);

  std::optional<ApplyOutcome> outcome;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        std::string environment = "production";
        std::string version = "v2";
        ProgressFn ignore_progress;
        ApplyOutcome result = co_await target.apply(std::move(environment), std::move(version),
                                                    std::move(ignore_progress));
        outcome = std::move(result);
      },
      [](std::exception_ptr error) {
        if (error)
          std::rethrow_exception(error);
      });
  io.run_for(10s);

  ASSERT_TRUE(outcome.has_value());
  EXPECT_TRUE(outcome->ok) << outcome->message;
  EXPECT_EQ(argo.target_revision("api-production"), "v2");
}

TEST(ArgoCdTargetTlsTest, UntrustedCertificateIsATransportError) {
  FakeArgoCd::Options options;
  options.tls = true;
  FakeArgoCd argo(options);
  FakeArgoCd::AppSetup setup;
  setup.name = "api-production";
  argo.add_application(setup);
  boost::asio::io_context io;
  ArgoCdTargetConfig config;
  config.service = "api";
  config.server_url = argo.base_url();
  config.token = argo.options().token;
  config.proxy = "";
  config.environments["production"] = {};
  config.retry.max_attempts = 1;
  ArgoCdTarget target(io.get_executor(), config);

  std::optional<ApplyOutcome> outcome;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        std::string environment = "production";
        std::string version = "v2";
        ProgressFn ignore_progress;
        ApplyOutcome result = co_await target.apply(std::move(environment), std::move(version),
                                                    std::move(ignore_progress));
        outcome = std::move(result);
      },
      [](std::exception_ptr error) {
        if (error)
          std::rethrow_exception(error);
      });
  io.run_for(10s);

  ASSERT_TRUE(outcome.has_value());
  EXPECT_FALSE(outcome->ok);
  EXPECT_TRUE(contains(outcome->message, "certificate")) << outcome->message;
  EXPECT_TRUE(argo.requests().empty());
}

// ---------------------------------------------------------------------------------------------
// Validation

TEST_F(ArgoCdTargetTest, ValidateChecksTheEnvironmentAndTheVersion) {
  ArgoCdTarget target(io.get_executor(), config());
  EXPECT_TRUE(target.validate("production", "v2").ok());
  EXPECT_TRUE(target.validate("production", "release/2.4.1").ok());
  EXPECT_TRUE(target.validate("production", "0123456789abcdef0123456789abcdef01234567").ok());
  EXPECT_FALSE(target.validate("production", "").ok());
  EXPECT_FALSE(target.validate("production", "v2; rm -rf /").ok());
  EXPECT_FALSE(target.validate("production", "../v2").ok());
  EXPECT_FALSE(target.validate("production", "\"v2\"").ok());
  Status unknown = target.validate("staging", "v2");
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(contains(unknown.error().message, "configured: production"))
      << unknown.error().message;
  EXPECT_TRUE(target.available_versions().empty());
  EXPECT_EQ(target.application_for("production"), "api-production");
  EXPECT_EQ(target.kind(), "argocd");
}

TEST(ArgoCdConfigTest, ValidateConfigNamesEachProblem) {
  ArgoCdTargetConfig config;
  config.service = "Api";
  config.server_url = "argocd.example.com";
  config.environments["production"] = {};
  config.version_mode = ArgoCdVersionMode::helm_parameter;
  Status status = validate_argocd_config(config);
  ASSERT_FALSE(status.ok());
  const std::string& message = status.error().message;
  EXPECT_TRUE(contains(message, "server_url")) << message;
  EXPECT_TRUE(contains(message, "token")) << message;
  EXPECT_TRUE(contains(message, "\"Api-production\"")) << message;
  EXPECT_TRUE(contains(message, "helm_parameter")) << message;

  config.service = "api";
  config.server_url = "https://argocd.example.com";
  config.token = "secret-token";
  config.helm_parameter = "image.tag";
  EXPECT_TRUE(validate_argocd_config(config).ok());
}

// ---------------------------------------------------------------------------------------------
// The fake's wire behaviour that the target relies on, checked with the plain HTTP client.

class FakeArgoCdWireTest : public ::testing::Test {
 protected:
  net::HttpResponse send(std::string method, std::string path, std::string body,
                         std::string token) {
    net::HttpClientOptions options;
    options.proxy = "";
    net::HttpClient http(io.get_executor(), options);
    net::HttpRequest request;
    request.method = std::move(method);
    request.url = server->base_url() + path;
    if (!token.empty())
      request.headers.emplace_back("Authorization", "Bearer " + token);
    request.body = std::move(body);
    std::optional<Result<net::HttpResponse>> result;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
          Result<net::HttpResponse> answer = co_await http.send(std::move(request));
          result.emplace(std::move(answer));
        },
        [](std::exception_ptr error) {
          if (error)
            std::rethrow_exception(error);
        });
    io.restart();
    io.run_for(5s);
    if (!result || !*result)
      throw std::runtime_error("request failed");
    return std::move(**result);
  }

  FakeArgoCd argo;
  FakeArgoCd* server = &argo;  // the one send() talks to
  boost::asio::io_context io;
};

TEST_F(FakeArgoCdWireTest, ErrorsHaveTheGrpcGatewayShape) {
  FakeArgoCd::AppSetup setup;
  setup.name = "api-production";
  setup.automated = true;
  argo.add_application(setup);
  const std::string token = argo.options().token;

  net::HttpResponse no_token = send("GET", "/api/v1/applications/api-production", "", "");
  EXPECT_EQ(no_token.status, 401);
  EXPECT_EQ(json::parse(no_token.body), json::parse(R"({"error":"no session information","code":16,
                            "message":"no session information"})"));

  net::HttpResponse missing = send("GET", "/api/v1/applications/nope?project=default", "", token);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(json::parse(missing.body).at("error"), "applications.argoproj.io \"nope\" not found");
  EXPECT_EQ(json::parse(missing.body).at("code"), 5);

  net::HttpResponse automated = send("POST", "/api/v1/applications/api-production/rollback",
                                     R"({"id":0,"prune":false})", token);
  EXPECT_EQ(automated.status, 412);
  EXPECT_EQ(json::parse(automated.body).at("message"),
            "rollback cannot be initiated when auto-sync is enabled");
  EXPECT_EQ(json::parse(automated.body).at("code"), 9);

  net::HttpResponse other_revision =
      send("POST", "/api/v1/applications/api-production/sync", R"({"revision":"v9"})", token);
  EXPECT_EQ(other_revision.status, 412);
  EXPECT_EQ(json::parse(other_revision.body).at("message"),
            "Cannot sync to v9: auto-sync currently set to v1");
}

TEST_F(FakeArgoCdWireTest, SyncClearsTheOperationStateAndHistoryGrows) {
  // The controller runs on the test's clock: the second sync meets the first still running
  // however slowly this machine runs, and the first ends when the test moves the clock.
  auto now =
      std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  FakeArgoCd::Options options;
  options.clock = [now] { return *now; };
  FakeArgoCd on_test_clock(options);
  server = &on_test_clock;
  FakeArgoCd::AppSetup setup;
  setup.name = "api-production";
  on_test_clock.add_application(setup);
  const std::string token = on_test_clock.options().token;

  net::HttpResponse sync =
      send("POST", "/api/v1/applications/api-production/sync", R"({"revision":"v1"})", token);
  ASSERT_EQ(sync.status, 200) << sync.body;
  json::value answer = json::parse(sync.body);
  EXPECT_TRUE(answer.as_object().contains("operation"));
  EXPECT_FALSE(answer.at("status").as_object().contains("operationState"));

  net::HttpResponse busy =
      send("POST", "/api/v1/applications/api-production/sync", R"({"revision":"v1"})", token);
  EXPECT_EQ(busy.status, 412);
  EXPECT_EQ(json::parse(busy.body).at("message"), "another operation is already in progress");

  net::HttpResponse unknown_id =
      send("POST", "/api/v1/applications/api-production/rollback", R"({"id":"42"})", token);
  EXPECT_EQ(unknown_id.status, 400);
  EXPECT_EQ(json::parse(unknown_id.body).at("message"),
            "application api-production does not have deployment with id 42");

  EXPECT_EQ(on_test_clock.history_ids("api-production"), (std::vector<long long>{0}));
  *now += 1h;
  EXPECT_EQ(on_test_clock.history_ids("api-production"), (std::vector<long long>{0, 1}));
  json::value live = on_test_clock.application("api-production");
  EXPECT_EQ(live.at("status").at("operationState").at("phase"), "Succeeded");
  EXPECT_EQ(live.at("status").at("operationState").at("syncResult").at("revision").as_string(),
            FakeArgoCd::resolve_revision("v1"));
  EXPECT_FALSE(live.as_object().contains("operation"));

  net::HttpResponse terminate =
      send("DELETE", "/api/v1/applications/api-production/operation", "", token);
  EXPECT_EQ(terminate.status, 400);
  EXPECT_EQ(json::parse(terminate.body).at("message"),
            "Unable to terminate operation. No operation is in progress");
}

TEST_F(FakeArgoCdWireTest, JsonPatchAndUpdateSpecChangeTheSpec) {
  FakeArgoCd::AppSetup setup;
  setup.name = "api-production";
  argo.add_application(setup);
  const std::string token = argo.options().token;

  json::object patch_request;
  patch_request["patch"] =
      R"([{"op":"replace","path":"/spec/source/targetRevision","value":"v7"}])";
  patch_request["patchType"] = "json";
  net::HttpResponse patched =
      send("PATCH", "/api/v1/applications/api-production", json::serialize(patch_request), token);
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(argo.target_revision("api-production"), "v7");
  EXPECT_EQ(json::parse(patched.body).at("status").at("sync").at("status"), "OutOfSync");

  json::value spec = json::parse(patched.body).at("spec");
  spec.as_object()["source"].as_object()["targetRevision"] = "v8";
  net::HttpResponse updated =
      send("PUT", "/api/v1/applications/api-production/spec", json::serialize(spec), token);
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(json::parse(updated.body).at("source").at("targetRevision"), "v8");
  EXPECT_EQ(argo.target_revision("api-production"), "v8");
}

}  // namespace
}  // namespace shipmate::integrations
