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

TEST(Metrics, FunctionFamiliesAreReadAtRenderTimeWithTheirLabels) {
  Registry registry;
  std::vector<Registry::Sample> open{{{"sev1"}, 1}, {{"sev3"}, 2}};
  registry.function_family("shipmate_incidents_open", "Open incidents.", Registry::Kind::gauge,
                           {"severity"}, [&] { return open; });
  registry.function_family("shipmate_x_total", "X \"quoted\".", Registry::Kind::counter,
                           {"platform", "method"}, [] {
                             return std::vector<Registry::Sample>{{{"slack", "a\"b"}, 7}};
                           });
  std::string text = registry.render();
  EXPECT_NE(text.find("# HELP shipmate_incidents_open Open incidents.\n"
                      "# TYPE shipmate_incidents_open gauge\n"
                      "shipmate_incidents_open{severity=\"sev1\"} 1\n"
                      "shipmate_incidents_open{severity=\"sev3\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE shipmate_x_total counter\n"
                      "shipmate_x_total{platform=\"slack\",method=\"a\\\"b\"} 7\n"),
            std::string::npos)
      << text;
  // A family with no series now is left out entirely (no HELP/TYPE without samples).
  open.clear();
  text = registry.render();
  EXPECT_EQ(text.find("shipmate_incidents_open"), std::string::npos) << text;
  // Read values of the wrong arity are a programming error.
  registry.function_family("shipmate_bad", "Bad.", Registry::Kind::gauge, {"a"}, [] {
    return std::vector<Registry::Sample>{{{"1", "2"}, 1}};
  });
  EXPECT_THROW(registry.render(), std::logic_error);
}

TEST(Metrics, CallCountsKeepOneEntryPerMethodAndStatus) {
  CallCounts counts;
  counts.count("chat.postMessage", 200);
  counts.count("chat.postMessage", 200);
  counts.count("chat.postMessage", 429);
  counts.count("chat.update", 0);
  ASSERT_EQ(counts.all().size(), 3u);
  EXPECT_EQ(counts.all()[0].method, "chat.postMessage");
  EXPECT_EQ(counts.all()[0].status, 200);
  EXPECT_EQ(counts.all()[0].count, 2u);
  EXPECT_EQ(counts.all()[1].status, 429);
  EXPECT_EQ(counts.all()[2].method, "chat.update");
  EXPECT_EQ(counts.all()[2].status, 0);
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
  registry.function_family("shipmate_chat_api_calls_total", "Calls by platform, method, status.",
                           Registry::Kind::counter, {"platform", "method", "status"}, [] {
                             return std::vector<Registry::Sample>{
                                 {{"slack", "chat.postMessage", "200"}, 3},
                                 {{"slack", "chat.postMessage", "429"}, 1}};
                           });
  registry.function_family("shipmate_incidents_open", "Open incidents.", Registry::Kind::gauge,
                           {"severity"}, [] {
                             return std::vector<Registry::Sample>{{{"sev2"}, 1}};
                           });
  shipmate::testing::Subprocess tool({promtool, "check", "metrics"});
  tool.write(registry.render());
  tool.close_stdin();
  const int status = tool.wait(std::chrono::seconds(30));
  const std::string output = tool.output();
  EXPECT_EQ(status, 0) << output << registry.render();
  EXPECT_EQ(output, "") << output;
}

// The whole exposition of one registry, byte for byte: every kind of line the renderer writes
// (labelled and unlabelled counters, gauges, histograms, function families, escapes), so a
// change in how it is written cannot change what is written.
TEST(Metrics, TheWholeExpositionIsExactlyThePrometheusText) {
  Registry registry;
  registry.counter("a_total", "A.").inc(7);
  registry.counter("b_total", "B.", {"k", "v"}, {"x\"y", "a\\b\nc"}).inc(2);
  registry.gauge("c", "C.", {"zone"}, {"eu"}).set(-4);
  auto& plain = registry.histogram("d_seconds", "D.", {0.5, 1});
  plain.observe_seconds(0.25);
  plain.observe_seconds(2);
  registry.histogram("e_seconds", "E.", {0.001}, {"platform"}, {"slack"}).observe_seconds(0.0005);
  registry.gauge_function("f", "F.", [] { return 1.5; });
  registry.function_family("g_total", "G.", Registry::Kind::counter, {"m"}, [] {
    return std::vector<Registry::Sample>{{{"p"}, 3}};
  });
  const std::string expected =
      "# HELP a_total A.\n# TYPE a_total counter\na_total 7\n"
      "# HELP b_total B.\n# TYPE b_total counter\nb_total{k=\"x\\\"y\",v=\"a\\\\b\\nc\"} 2\n"
      "# HELP c C.\n# TYPE c gauge\nc{zone=\"eu\"} -4\n"
      "# HELP d_seconds D.\n# TYPE d_seconds histogram\n"
      "d_seconds_bucket{le=\"0.5\"} 1\nd_seconds_bucket{le=\"1\"} 1\n"
      "d_seconds_bucket{le=\"+Inf\"} 2\nd_seconds_sum 2.25\nd_seconds_count 2\n"
      "# HELP e_seconds E.\n# TYPE e_seconds histogram\n"
      "e_seconds_bucket{platform=\"slack\",le=\"0.001\"} 1\n"
      "e_seconds_bucket{platform=\"slack\",le=\"+Inf\"} 1\n"
      "e_seconds_sum{platform=\"slack\"} 5e-04\ne_seconds_count{platform=\"slack\"} 1\n"
      "# HELP f F.\n# TYPE f gauge\nf 1.5\n"
      "# HELP g_total G.\n# TYPE g_total counter\ng_total{m=\"p\"} 3\n";
  EXPECT_EQ(registry.render(), expected);
  EXPECT_EQ(registry.render(), expected);  // a second render (reserved from the first) is the same
}

}  // namespace
}  // namespace shipmate::metrics
