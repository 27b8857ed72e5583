// bot/ops_health.h: liveness and readiness decisions, step by step, and their JSON.
#include "bot/ops_health.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "common/redact.h"

namespace shipmate::bot {
namespace {

using namespace std::chrono_literals;

TEST(OpsHealth, LiveWhileTheHeartbeatIsWithinTheDeadline) {
  const auto report = decide_liveness({100'000, 95'000, 1'000, 10s});
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.http_status(), 200);
}

TEST(OpsHealth, NotLiveOnceTheHeartbeatIsOlderThanTheDeadline) {
  const auto report = decide_liveness({100'000, 89'999, 1'000, 10s});
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.http_status(), 503);
  EXPECT_EQ(report.failing(), "event-loop");
  EXPECT_NE(report.checks[0].detail.find("10001 ms ago"), std::string::npos);
}

TEST(OpsHealth, BeforeTheFirstBeatTheDeadlineCountsFromStart) {
  EXPECT_TRUE(decide_liveness({10'000, 0, 1'000, 10s}).ok());
  EXPECT_FALSE(decide_liveness({12'000, 0, 1'000, 10s}).ok());
}

TEST(OpsHealth, AClockThatWentBackIsNotAStall) {
  EXPECT_TRUE(decide_liveness({50'000, 60'000, 1'000, 10s}).ok());
}

TEST(OpsHealth, ReadyOnlyWhenEveryCheckPasses) {
  ReadinessInputs in;
  in.startup_done = true;
  in.chat = {{"slack", ""}, {"teams", ""}};
  auto report = decide_readiness(in);
  EXPECT_TRUE(report.ok());
  ASSERT_EQ(report.checks.size(), 5u);
  EXPECT_EQ(report.checks[0].name, "shutdown");
  EXPECT_EQ(report.checks[1].name, "startup");
  EXPECT_EQ(report.checks[2].name, "database");
  EXPECT_EQ(report.checks[3].name, "chat:slack");
  EXPECT_EQ(report.checks[4].name, "chat:teams");
}

TEST(OpsHealth, EachFailingCheckIsNamedInOrder) {
  ReadinessInputs in;
  in.startup_done = true;
  in.chat = {{"slack", ""}, {"teams", "down"}};
  EXPECT_EQ(decide_readiness(in).failing(), "chat:teams");
  in.chat[0].problem = "no Socket Mode connection is open";
  EXPECT_EQ(decide_readiness(in).failing(), "chat:slack");
  in.database_problem = "the database cannot take writes: readonly";
  EXPECT_EQ(decide_readiness(in).failing(), "database");
  in.startup_done = false;
  EXPECT_EQ(decide_readiness(in).failing(), "startup");
  in.stopping = true;
  EXPECT_EQ(decide_readiness(in).failing(), "shutdown");
  EXPECT_EQ(decide_readiness(in).http_status(), 503);
}

TEST(OpsHealth, JsonNamesTheFailingCheckAndRedactsDetails) {
  register_secret("hunter2-very-secret");
  ReadinessInputs in;
  in.startup_done = true;
  in.database_problem = "cannot open with key hunter2-very-secret";
  const std::string text = decide_readiness(in).to_json();
  EXPECT_EQ(text.find("hunter2-very-secret"), std::string::npos) << text;
  const auto json = boost::json::parse(text).as_object();
  EXPECT_EQ(json.at("status").as_string(), "failing");
  EXPECT_EQ(json.at("failing").as_string(), "database");
  const auto& checks = json.at("checks").as_array();
  ASSERT_EQ(checks.size(), 3u);
  EXPECT_EQ(checks[2].at("name").as_string(), "database");
  EXPECT_FALSE(checks[2].at("ok").as_bool());
}

TEST(OpsHealth, JsonOfAHealthyReportHasNullFailing) {
  const auto json = boost::json::parse(decide_liveness({1, 1, 1, 10s}).to_json()).as_object();
  EXPECT_EQ(json.at("status").as_string(), "ok");
  EXPECT_TRUE(json.at("failing").is_null());
}

}  // namespace
}  // namespace shipmate::bot
