// The fake Teams connector checked by Microsoft's own client: botframework-connector's
// ConnectorClient (what every botbuilder bot replies through) posts, replies in a thread, updates
// in place and deletes through the fake, and honours its 429. Missing Node or the package is a
// failure, never a skip: a cross-check that cannot run must not pass quietly.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/fake_teams.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {
using namespace std::chrono_literals;

std::string node_dir() {
  return source_dir() + "/tests/node";
}

TEST(TeamsConnectorCrossCheck, MicrosoftsConnectorClientPostsRepliesUpdatesAndDeletes) {
  ASSERT_TRUE(std::filesystem::exists(node_dir() + "/node_modules/botframework-connector"))
      << "tests/node/node_modules/botframework-connector is missing: run scripts/install-deps";
  auto [status, version] =
      run_command({"/usr/bin/env", "node", "-p", "process.versions.node.split('.')[0]"});
  ASSERT_EQ(status, 0) << "node is not installed: run scripts/install-deps";
  ASSERT_GE(std::atoi(version.c_str()), 18)
      << "needs Node.js 18 or newer (found " << version << ")";

  FakeTeamsConnector fake;
  fake.expect_token("node-token");
  fake.fail_next({{429, "1"}});
  const std::string conversation = "19:abc@thread.tacv2;messageid=1699";
  Subprocess node({"/usr/bin/env", "node", node_dir() + "/teams_connector_check.mjs",
                   fake.service_url(), "node-token", conversation},
                  {}, node_dir());
  ASSERT_TRUE(node.wait_for_output("RESULT ok", 60s)) << node.output();
  EXPECT_EQ(node.wait(30s), 0) << node.output();

  const auto activities = fake.activities_in(conversation);
  ASSERT_EQ(activities.size(), 2u) << node.output();
  EXPECT_NE(node.output().find("POSTED " + activities[0].id), std::string::npos) << node.output();
  EXPECT_NE(node.output().find("REPLIED " + activities[1].id + " TO " + activities[0].id),
            std::string::npos)
      << node.output();
  EXPECT_EQ(activities[1].reply_to_id, activities[0].id);
  EXPECT_EQ(activities[0].versions.size(), 2u);
  EXPECT_NE(activities[0].body().find("Deployed hello v2"), std::string::npos);
  EXPECT_TRUE(activities[1].deleted);
  EXPECT_NE(node.output().find("MISSING status=404"), std::string::npos) << node.output();
  // The 429 was answered once and retried by the client itself.
  const auto calls = fake.calls();
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls[0].status, 429);
  EXPECT_EQ(calls[1].status, 201);
  for (const auto& call : calls)
    EXPECT_EQ(call.authorization, "Bearer node-token");
}

}  // namespace
}  // namespace shipmate::testing
