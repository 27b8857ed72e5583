// common/metrics.h: the exposition text, checked line by line and by Debian's promtool.
#include "common/metrics.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/test_support.h"

namespace shipmate::metrics {
namespace {

TEST(Metrics, CountersAndGaugesRenderWithHelpTypeAndEscapedLabels) {
  Registry registry;
  registry
      .counter("shipmate_commands_total", "Commands by name and outcome.", {"command", "outcome"},
               {"deploy", "ok"})
      .inc(3);
  registry
      .counter("shipmate_commands_total", "Commands by name and outcome.", {"command", "outcome"},
               {"we\"ird\\\nname", "error"})
      .inc();
  registry.gauge("shipmate_locks_held", "Locks held now.\nSecond line \\ slash").set(2);
  const std::string text = registry.render();
  EXPECT_NE(text.find("# HELP shipmate_commands_total Commands by name and outcome.\n"
                      "# TYPE shipmate_commands_total counter\n"
                      "shipmate_commands_total{command=\"deploy\",outcome=\"ok\"} 3\n"
                      "shipmate_commands_total{command=\"we\\\"ird\\\\\\nname\",outcome=\"error\"} "
                      "1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# HELP shipmate_locks_held Locks held now.\\nSecond line \\\\ slash\n"
                      "# TYPE shipmate_locks_held gauge\nshipmate_locks_held 2\n"),
            std::string::npos)
      << text;
}

TEST(Metrics, HistogramBucketsAreCumulativeAndEndAtInf) {
  Registry registry;
  auto& h = registry.histogram("shipmate_ack_seconds", "Ack latency.", {0.001, 0.01}, {"platform"},
                               {"slack"});
  h.observe_seconds(0.0005);
  h.observe_seconds(0.001);  // on the bound: counted in that bucket
  h.observe_seconds(0.005);
  h.observe_seconds(2);
  const std::string text = registry.render();
  EXPECT_NE(text.find("# TYPE shipmate_ack_seconds histogram\n"
                      "shipmate_ack_seconds_bucket{platform=\"slack\",le=\"0.001\"} 2\n"
                      "shipmate_ack_seconds_bucket{platform=\"slack\",le=\"0.01\"} 3\n"
                      "shipmate_ack_seconds_bucket{platform=\"slack\",le=\"+Inf\"} 4\n"
                      "shipmate_ack_seconds_sum{platform=\"slack\"} 2.0065\n"
                      "shipmate_ack_seconds_count{platform=\"slack\"} 4\n"),
            std::string::npos)
      << text;
}

TEST(Metrics, GaugeFunctionsAreReadAtRenderTime) {
  Registry registry;
  double value = 1.5;
  registry.gauge_function("process_resident_memory_bytes", "RSS.", [&] { return value; });
  EXPECT_NE(registry.render().find("process_resident_memory_bytes 1.5\n"), std::string::npos);
  value = 4096;
  EXPECT_NE(registry.render().find("process_resident_memory_bytes 4096\n"), std::string::npos);
}

TEST(Metrics, TheSameSeriesIsOneObjectAndShapesCannotChange) {
  Registry registry;
  auto& a = registry.counter("x_total", "X.", {"k"}, {"v"});
  auto& b = registry.counter("x_total", "X.", {"k"}, {"v"});
  EXPECT_EQ(&a, &b);
  EXPECT_THROW(registry.gauge("x_total", "X."), std::logic_error);
  EXPECT_THROW(registry.counter("x_total", "X.", {"k"}, {"v", "w"}), std::logic_error);
  EXPECT_THROW(registry.counter("bad-name", "X."), std::invalid_argument);
  EXPECT_THROW(registry.counter("y_total", "Y.", {"le"}, {"1"}), std::invalid_argument);
  EXPECT_THROW(registry.counter("y_total", "Y.", {"__x"}, {"1"}), std::invalid_argument);
}

TEST(Metrics, PromtoolAcceptsTheExposition) {
  const std::string promtool = "/usr/bin/promtool";
  ASSERT_TRUE(std::ifstream(promtool).good())
      << "promtool is missing: install Debian's prometheus package (scripts/install-deps)";
  Registry registry;
  registry
      .counter("shipmate_commands_total", "Commands by name and outcome.", {"command", "outcome"},
               {"deploy \"x\"\n", "ok"})
      .inc();
  registry
      .histogram("shipmate_sqlite_commit_seconds", "SQLite commit latency.",
                 short_latency_buckets())
      .observe_seconds(0.0002);
  registry.gauge("shipmate_locks_held", "Locks held now.").set(1);
  registry.gauge_function("process_resident_memory_bytes", "Resident memory.", [] { return 1e6; });
  shipmate::testing::Subprocess tool({promtool, "check", "metrics"});
  tool.write(registry.render());
  tool.close_stdin();
  const int status = tool.wait(std::chrono::seconds(30));
  const std::string output = tool.output();
  EXPECT_EQ(status, 0) << output << registry.render();
  EXPECT_EQ(output, "") << output;
}

}  // namespace
}  // namespace shipmate::metrics
