// Prometheus metric checks: the client against the fake Prometheus (every answer shape and
// failure), and against the real Prometheus from Debian scraping an exporter the test controls.
#include "integrations/metrics/prometheus.h"

#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "integrations/net/http_client.h"
#include "tests/support/async_test.h"
#include "tests/support/fake_prometheus.h"
#include "tests/support/real_prometheus.h"

namespace shipmate::integrations {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::FakePrometheus;
using testing::MetricsExporter;
using testing::RealPrometheus;
using Vars = std::map<std::string, std::string>;

const Vars kVars = {{"service", "hello"},
                    {"environment", "production"},
                    {"version", "v2"},
                    {"stable_version", "v1"}};

const char* kErrorRateTemplate =
    "sum(rate(http_requests_total{job=\"{service}\",env=\"{environment}\",version=\"{version}\","
    "code=~\"5..\"}[2m])) / sum(rate(http_requests_total{job=\"{service}\",version=\"{version}\"}"
    "[2m]))";
const char* kErrorRateQuery =
    "sum(rate(http_requests_total{job=\"hello\",env=\"production\",version=\"v2\","
    "code=~\"5..\"}[2m])) / sum(rate(http_requests_total{job=\"hello\",version=\"v2\"}[2m]))";

::testing::AssertionResult Contains(const std::string& text, const std::string& needle) {
  if (text.find(needle) != std::string::npos)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "\"" << text << "\" does not contain \"" << needle << "\"";
}

MetricCheck error_rate_check(double max = 0.05) {
  MetricCheck check;
  check.name = "error_rate";
  check.query = kErrorRateTemplate;
  check.max = max;
  return check;
}

PrometheusOptions options_for(const std::string& url) {
  PrometheusOptions options;
  options.base_url = url;
  options.timeout = 20s;  // a guard for a loaded machine; the time-out test sets 200 ms
  options.retry_delay = 10ms;
  return options;
}

struct Evaluated {
  CheckResult result;
  int attempts = 0;
};

// One evaluate() on a private event loop, through the real HTTP client.
Evaluated evaluate(const PrometheusOptions& options, const MetricCheck& check,
                   const Vars& vars = kVars) {
  Evaluated out;
  testing::run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    net::HttpClientOptions http_options;
    http_options.proxy = "";  // never route loopback servers through a proxy from the environment
    net::HttpClient http(ioc.get_executor(), http_options);
    PrometheusClient client(http, options);
    MetricCheck this_check = check;
    Vars these_vars = vars;
    out.result = co_await client.evaluate(this_check, these_vars);
    out.attempts = client.last_attempts();
  });
  return out;
}

FakePrometheus::Sample sample(std::map<std::string, std::string> labels, std::string value) {
  return FakePrometheus::Sample{std::move(labels), std::move(value)};
}

// Placeholders and configuration checks.

TEST(MetricCheckTest, ExpandsPlaceholdersAndEscapesValuesForPromqlStrings) {
  auto expanded = expand_query(kErrorRateTemplate, kVars);
  ASSERT_TRUE(expanded.ok()) << expanded.error().message;
  EXPECT_EQ(*expanded, kErrorRateQuery);

  auto escaped = expand_query("up{version=\"{version}\"}", {{"version", "a\"b\\c"}});
  ASSERT_TRUE(escaped.ok());
  EXPECT_EQ(*escaped, "up{version=\"a\\\"b\\\\c\"}");

  // Label matchers and other braces are PromQL, not placeholders.
  auto untouched = expand_query("sum by (x) (up{job=\"a\"}) > {}", kVars);
  ASSERT_TRUE(untouched.ok());
  EXPECT_EQ(*untouched, "sum by (x) (up{job=\"a\"}) > {}");

  auto missing = expand_query("up{version=\"{stable_version}\"}", {{"version", "v2"}});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "query uses {stable_version}, which has no value here");
}

TEST(MetricCheckTest, ValidatesConfiguration) {
  EXPECT_TRUE(validate_check(error_rate_check()).ok());
  MetricCheck check = error_rate_check();
  check.max.reset();
  EXPECT_EQ(validate_check(check).error().message,
            "metric check error_rate needs a threshold: max, min or both");
  check.min = 0.9;
  check.max = 0.5;
  EXPECT_EQ(validate_check(check).error().message,
            "metric check error_rate has min 0.9 above max 0.5");
  check = error_rate_check();
  check.query = "up{version=\"{verison}\"}";
  EXPECT_EQ(validate_check(check).error().message,
            "metric check error_rate uses an unknown placeholder {verison} (known: {service}, "
            "{environment}, {version}, {stable_version})");
  check.query = " ";
  EXPECT_FALSE(validate_check(check).ok());
  check = error_rate_check();
  check.name.clear();
  EXPECT_FALSE(validate_check(check).ok());
  EXPECT_EQ(to_string(CheckVerdict::breach), "breach");
}

// Against the fake Prometheus.

TEST(PrometheusFakeTest, ValueBelowMaxPassesAndTheRequestIsAnInstantQuery) {
  FakePrometheus fake;
  fake.set_vector(kErrorRateQuery, {sample({}, "0.012")});
  ManualClock clock(1'700'000'123'456);
  auto options = options_for(fake.url());
  options.clock = &clock;
  auto [result, attempts] = evaluate(options, error_rate_check());
  EXPECT_EQ(result.verdict, CheckVerdict::pass) << result.message;
  EXPECT_EQ(result.value, 0.012);
  EXPECT_EQ(result.message, "error_rate: 0.012 <= max 0.05");
  EXPECT_EQ(attempts, 1);

  auto requests = fake.server().requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].path, "/api/v1/query");
  EXPECT_EQ(requests[0].query.at("query"), kErrorRateQuery);
  EXPECT_EQ(requests[0].query.at("time"), "1700000123.456");
  EXPECT_EQ(requests[0].header("Authorization"), "");
}

TEST(PrometheusFakeTest, AnExpandedQueryIsSentAsItIsAndBracesFromAValueStayText) {
  // A runbook's wait step substitutes (and escapes) its values itself; a value such as
  // "{version}" that it brought in is text, not a placeholder to expand a second time.
  const std::string query = "up{job=\"a{version}b\\\"c\"}";
  FakePrometheus fake;
  fake.set_vector(query, {sample({}, "1")});
  MetricCheck check;
  check.name = "up";
  check.query = query;
  check.min = 1;
  check.expanded = true;
  auto [result, attempts] = evaluate(options_for(fake.url()), check, Vars{});
  EXPECT_EQ(result.verdict, CheckVerdict::pass) << result.message;
  auto requests = fake.server().requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].query.at("query"), query);

  // The same text as a template names the placeholder that has no value.
  check.expanded = false;
  auto [template_result, template_attempts] = evaluate(options_for(fake.url()), check, Vars{});
  EXPECT_EQ(template_result.verdict, CheckVerdict::inconclusive);
  EXPECT_TRUE(Contains(template_result.message, "query uses {version}, which has no value here"));
}

TEST(PrometheusFakeTest, ValueAboveMaxBreachesWithValueAndQuery) {
  FakePrometheus fake;
  fake.set_vector(kErrorRateQuery, {sample({{"job", "hello"}}, "0.31")});
  auto [result, attempts] = evaluate(options_for(fake.url()), error_rate_check());
  EXPECT_EQ(result.verdict, CheckVerdict::breach);
  EXPECT_EQ(result.value, 0.31);
  EXPECT_EQ(result.message,
            std::string("error_rate: 0.31 > max 0.05 (query: ") + kErrorRateQuery + ")");
}

TEST(PrometheusFakeTest, MinThresholdAndBothThresholds) {
  FakePrometheus fake;
  fake.set_vector("apdex{version=\"v2\"}", {sample({}, "0.8")});
  MetricCheck apdex{"apdex", "apdex{version=\"{version}\"}", std::nullopt, 0.9};
  auto low = evaluate(options_for(fake.url()), apdex).result;
  EXPECT_EQ(low.verdict, CheckVerdict::breach);
  EXPECT_EQ(low.message, "apdex: 0.8 < min 0.9 (query: apdex{version=\"v2\"})");

  apdex.min = 0.5;
  apdex.max = 0.95;
  auto within = evaluate(options_for(fake.url()), apdex).result;
  EXPECT_EQ(within.verdict, CheckVerdict::pass);
  EXPECT_EQ(within.message, "apdex: 0.8 within min 0.5 and max 0.95");
}

TEST(PrometheusFakeTest, EverySeriesIsJudgedAndOffendersAreNamed) {
  FakePrometheus fake;
  const std::string query = "sum by (instance) (rate(errors_total{version=\"v2\"}[1m]))";
  fake.set_vector(
      query, {sample({{"instance", "a:8080"}}, "0.01"), sample({{"instance", "b:8080"}}, "0.2"),
              sample({{"instance", "c:8080"}}, "0.7")});
  MetricCheck check{"error_rate",
                    "sum by (instance) (rate(errors_total{version=\"{version}\"}[1m]))", 0.1,
                    std::nullopt};
  auto result = evaluate(options_for(fake.url()), check).result;
  EXPECT_EQ(result.verdict, CheckVerdict::breach);
  EXPECT_EQ(result.value, 0.7);
  EXPECT_EQ(result.message,
            "error_rate: 0.7 > max 0.1 for {instance=\"c:8080\"}, 0.2 > max 0.1 "
            "for {instance=\"b:8080\"} (2 of 3 series) (query: " +
                query + ")");

  // All within: the pass names the series closest to the limit.
  fake.set_vector(query, {sample({{"instance", "a:8080"}}, "0.01"),
                          sample({{"__name__", "x"}, {"instance", "b:8080"}}, "0.09")});
  auto pass = evaluate(options_for(fake.url()), check).result;
  EXPECT_EQ(pass.verdict, CheckVerdict::pass);
  EXPECT_EQ(pass.value, 0.09);
  EXPECT_EQ(pass.message,
            "error_rate: 0.09 <= max 0.1 (closest of 2 series for x{instance=\"b:8080\"})");
}

TEST(PrometheusFakeTest, ScalarResultIsOneValue) {
  FakePrometheus fake;
  fake.set_scalar("scalar(latency_p99{version=\"v2\"})", "0.25");
  MetricCheck check{"p99", "scalar(latency_p99{version=\"{version}\"})", 0.5, std::nullopt};
  auto pass = evaluate(options_for(fake.url()), check).result;
  EXPECT_EQ(pass.verdict, CheckVerdict::pass) << pass.message;
  EXPECT_EQ(pass.value, 0.25);
  check.max = 0.2;
  auto breach = evaluate(options_for(fake.url()), check).result;
  EXPECT_EQ(breach.verdict, CheckVerdict::breach);
  EXPECT_EQ(breach.message, "p99: 0.25 > max 0.2 (query: scalar(latency_p99{version=\"v2\"}))");
}

TEST(PrometheusFakeTest, NanAndInfinityAreInconclusive) {
  FakePrometheus fake;
  fake.set_vector(kErrorRateQuery, {sample({}, "NaN")});
  auto nan = evaluate(options_for(fake.url()), error_rate_check()).result;
  EXPECT_EQ(nan.verdict, CheckVerdict::inconclusive);
  EXPECT_EQ(nan.value, std::nullopt);
  EXPECT_EQ(nan.message, std::string("error_rate: NaN (0/0, usually no traffic yet), cannot judge "
                                     "(query: ") +
                             kErrorRateQuery + ")");

  fake.set_vector(kErrorRateQuery, {sample({}, "+Inf")});
  auto inf = evaluate(options_for(fake.url()), error_rate_check()).result;
  EXPECT_EQ(inf.verdict, CheckVerdict::inconclusive);
  EXPECT_TRUE(Contains(inf.message, "error_rate: +Inf (a division by zero"));

  // A finite breach elsewhere still counts: it is evidence, the NaN series is not.
  fake.set_vector(kErrorRateQuery, {sample({{"pod", "a"}}, "NaN"), sample({{"pod", "b"}}, "0.5")});
  auto mixed = evaluate(options_for(fake.url()), error_rate_check()).result;
  EXPECT_EQ(mixed.verdict, CheckVerdict::breach);
  EXPECT_TRUE(Contains(mixed.message, "0.5 > max 0.05 for {pod=\"b\"} (1 of 2 series)"));

  fake.set_vector(kErrorRateQuery, {sample({{"pod", "a"}}, "NaN"), sample({{"pod", "b"}}, "0.01")});
  auto nan_and_pass = evaluate(options_for(fake.url()), error_rate_check()).result;
  EXPECT_EQ(nan_and_pass.verdict, CheckVerdict::inconclusive);
  EXPECT_TRUE(Contains(nan_and_pass.message, "NaN (0/0, usually no traffic yet) for {pod=\"a\"}"));
}

TEST(PrometheusFakeTest, EmptyVectorIsNoData) {
  FakePrometheus fake;
  fake.set_vector(kErrorRateQuery, {});
  auto result = evaluate(options_for(fake.url()), error_rate_check()).result;
  EXPECT_EQ(result.verdict, CheckVerdict::inconclusive);
  EXPECT_EQ(result.value, std::nullopt);
  EXPECT_EQ(result.message, "error_rate: no data (query returned an empty vector)");
}

TEST(PrometheusFakeTest, BadQueryIsAConfigurationErrorAndIsNotRetried) {
  FakePrometheus fake;
  fake.set_error(kErrorRateQuery, 400, "bad_data",
                 "invalid parameter \"query\": 1:18: parse error: unclosed left parenthesis");
  auto [result, attempts] = evaluate(options_for(fake.url()), error_rate_check());
  EXPECT_EQ(result.verdict, CheckVerdict::inconclusive);
  EXPECT_EQ(result.message,
            std::string("error_rate: bad query (a configuration error): invalid parameter "
                        "\"query\": 1:18: parse error: unclosed left parenthesis (query: ") +
                kErrorRateQuery + ")");
  EXPECT_EQ(attempts, 1);
  EXPECT_EQ(fake.queries().size(), 1u);

  fake.set_error(kErrorRateQuery, 422, "execution", "query processing would load too many samples");
  auto execution = evaluate(options_for(fake.url()), error_rate_check());
  EXPECT_EQ(execution.result.verdict, CheckVerdict::inconclusive);
  EXPECT_TRUE(Contains(execution.result.message,
                       "error_rate: Prometheus could not run the query (execution): query "
                       "processing would load too many samples (query: "));
  EXPECT_EQ(execution.attempts, 1);
}

TEST(PrometheusFakeTest, UnavailableIsRetriedOnceThenInconclusive) {
  FakePrometheus fake;
  fake.set_vector(kErrorRateQuery, {sample({}, "0.01")});
  fake.unavailable_next(1);
  auto recovered = evaluate(options_for(fake.url()), error_rate_check());
  EXPECT_EQ(recovered.result.verdict, CheckVerdict::pass) << recovered.result.message;
  EXPECT_EQ(recovered.attempts, 2);

  fake.unavailable_next(5);
  auto down = evaluate(options_for(fake.url()), error_rate_check());
  EXPECT_EQ(down.result.verdict, CheckVerdict::inconclusive);
  EXPECT_EQ(down.result.message,
            "error_rate: Prometheus unavailable (503, unavailable): Service Unavailable (tried "
            "twice)");
  EXPECT_EQ(down.attempts, 2);
  EXPECT_EQ(fake.queries().size(), 4u);
}

TEST(PrometheusFakeTest, TimeoutIsInconclusiveAndNotRetried) {
  FakePrometheus fake;
  fake.set_vector(kErrorRateQuery, {sample({}, "0.01")});
  fake.delay_next(1, 500ms);
  auto options = options_for(fake.url());
  options.timeout = 200ms;
  auto [result, attempts] = evaluate(options, error_rate_check());
  EXPECT_EQ(result.verdict, CheckVerdict::inconclusive);
  EXPECT_TRUE(Contains(result.message,
                       "error_rate: Prometheus did not answer in time: GET "
                       "127.0.0.1:"));
  EXPECT_TRUE(Contains(result.message, "/api/v1/query: timed out after 200 ms"));
  EXPECT_EQ(attempts, 1);
}

TEST(PrometheusFakeTest, DroppedConnectionIsRetriedOnce) {
  FakePrometheus fake;
  fake.set_vector(kErrorRateQuery, {sample({}, "0.01")});
  fake.drop_next(1);
  auto recovered = evaluate(options_for(fake.url()), error_rate_check());
  EXPECT_EQ(recovered.result.verdict, CheckVerdict::pass) << recovered.result.message;
  EXPECT_EQ(recovered.attempts, 2);

  fake.drop_next(2);
  auto dropped = evaluate(options_for(fake.url()), error_rate_check());
  EXPECT_EQ(dropped.result.verdict, CheckVerdict::inconclusive);
  EXPECT_TRUE(
      Contains(dropped.result.message, "error_rate: Prometheus unreachable: GET 127.0.0.1:"));
  EXPECT_TRUE(
      Contains(dropped.result.message, "connection closed before a response (tried twice)"));
  EXPECT_EQ(dropped.attempts, 2);
}

TEST(PrometheusFakeTest, UnreachablePrometheusIsInconclusive) {
  const int closed_port = testing::free_port();
  auto [result, attempts] =
      evaluate(options_for("http://127.0.0.1:" + std::to_string(closed_port)), error_rate_check());
  EXPECT_EQ(result.verdict, CheckVerdict::inconclusive);
  EXPECT_EQ(result.message,
            "error_rate: Prometheus unreachable: GET 127.0.0.1:" + std::to_string(closed_port) +
                "/api/v1/query: connection refused (tried twice)");
  EXPECT_EQ(attempts, 2);
}

TEST(PrometheusFakeTest, RangeVectorsAndStringsAreConfigurationErrors) {
  FakePrometheus fake;
  fake.set_matrix("errors_total{version=\"v2\"}[5m]", {sample({{"pod", "a"}}, "1")});
  MetricCheck range{"errors", "errors_total{version=\"{version}\"}[5m]", 1, std::nullopt};
  auto matrix = evaluate(options_for(fake.url()), range).result;
  EXPECT_EQ(matrix.verdict, CheckVerdict::inconclusive);
  EXPECT_TRUE(Contains(matrix.message, "errors: the query returns a range vector"));
  EXPECT_TRUE(Contains(matrix.message, "a configuration error (query: "));

  fake.set_string("\"ok\"", "ok");
  MetricCheck text{"text", "\"ok\"", 1, std::nullopt};
  auto string = evaluate(options_for(fake.url()), text).result;
  EXPECT_EQ(string.verdict, CheckVerdict::inconclusive);
  EXPECT_TRUE(Contains(string.message, "text: the query returns a string, not a number"));

  // A placeholder without a value never reaches Prometheus.
  MetricCheck stable{"delta", "x{version=\"{stable_version}\"}", 1, std::nullopt};
  auto unresolved = evaluate(options_for(fake.url()), stable, {{"version", "v2"}}).result;
  EXPECT_EQ(unresolved.verdict, CheckVerdict::inconclusive);
  EXPECT_EQ(unresolved.message,
            "delta: query uses {stable_version}, which has no value here (a configuration error) "
            "(query: x{version=\"{stable_version}\"})");
  EXPECT_EQ(fake.queries().size(), 2u);
}

TEST(PrometheusFakeTest, CredentialsAreSentAndNeverShown) {
  FakePrometheus fake;
  fake.set_vector(kErrorRateQuery, {sample({}, "0.01")});
  const std::string token = "prom-token-5f2c9a7d1e";
  fake.require_bearer(token);
  auto options = options_for(fake.url() + "/");  // a trailing slash is tolerated
  options.bearer_token = token;
  auto ok = evaluate(options, error_rate_check()).result;
  EXPECT_EQ(ok.verdict, CheckVerdict::pass) << ok.message;
  EXPECT_EQ(fake.server().requests().back().header("Authorization"), "Bearer " + token);

  options.bearer_token = "wrong-token-0b1c2d3e";
  auto rejected = evaluate(options, error_rate_check()).result;
  EXPECT_EQ(rejected.verdict, CheckVerdict::inconclusive);
  EXPECT_TRUE(Contains(rejected.message, "error_rate: Prometheus: credentials rejected (401)"));
  EXPECT_FALSE(Contains(rejected.message, "wrong-token"));

  fake.require_basic("shipmate", "s3cret-pass");
  options.bearer_token.clear();
  options.basic_user = "shipmate";
  options.basic_password = "s3cret-pass";
  auto basic = evaluate(options, error_rate_check()).result;
  EXPECT_EQ(basic.verdict, CheckVerdict::pass) << basic.message;
}

TEST(PrometheusFakeTest, MalformedAnswerIsInconclusive) {
  testing::FakeHttpServer server(
      [](const testing::FakeRequest&) { return testing::FakeResponse::text(200, "<html>hi"); });
  auto result = evaluate(options_for(server.base_url()), error_rate_check()).result;
  EXPECT_EQ(result.verdict, CheckVerdict::inconclusive);
  EXPECT_EQ(result.message,
            "error_rate: unexpected answer from Prometheus: not a JSON object: <html>hi");
}

// Against the real Prometheus (Debian's package), scraping an exporter the test controls.

class RealPrometheusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RealPrometheus::find_binary().empty()) {
      GTEST_SKIP() << "prometheus is not installed (/usr/bin/prometheus, from the Debian package "
                      "`prometheus` that scripts/install-deps installs); skipping the tests "
                      "against a real Prometheus";
    }
    exporter_.set("shipmate_test_error_ratio{version=\"v1\"}", 0.02);
    exporter_.set("shipmate_test_error_ratio{version=\"v2\"}", 0.01);
    RealPrometheus::Options options;
    options.targets = {exporter_.target()};
    auto started = RealPrometheus::start(options);
    ASSERT_TRUE(started.ok()) << started.error().message;
    prometheus_ = std::move(*started);
  }

  CheckResult check(const MetricCheck& metric_check) {
    auto options = options_for(prometheus_->base_url());
    return evaluate(options, metric_check).result;
  }

  // Waits until Prometheus has scraped `value` for `series`.
  bool scraped(const std::string& series, double value) {
    auto seen = prometheus_->wait_for_value(
        series, [value](double v) { return v == value; }, 30s);
    if (!seen) {
      ADD_FAILURE() << series << " never reached " << value << " (scrapes: " << exporter_.scrapes()
                    << "); prometheus log: " << prometheus_->log();
    }
    return seen.has_value();
  }

  MetricsExporter exporter_;
  std::unique_ptr<RealPrometheus> prometheus_;
};

TEST_F(RealPrometheusTest, ScrapedValuesPassThenBreach) {
  const MetricCheck error_rate{"error_rate", "shipmate_test_error_ratio{version=\"{version}\"}",
                               0.05, std::nullopt};
  ASSERT_TRUE(scraped("shipmate_test_error_ratio{version=\"v2\"}", 0.01));
  auto pass = check(error_rate);
  EXPECT_EQ(pass.verdict, CheckVerdict::pass) << pass.message;
  EXPECT_EQ(pass.value, 0.01);
  EXPECT_EQ(pass.message, "error_rate: 0.01 <= max 0.05");

  exporter_.set("shipmate_test_error_ratio{version=\"v2\"}", 0.4);
  ASSERT_TRUE(scraped("shipmate_test_error_ratio{version=\"v2\"}", 0.4));
  auto breach = check(error_rate);
  EXPECT_EQ(breach.verdict, CheckVerdict::breach) << breach.message;
  EXPECT_EQ(breach.value, 0.4);
  EXPECT_EQ(breach.message,
            "error_rate: 0.4 > max 0.05 (query: shipmate_test_error_ratio{version=\"v2\"})");

  // The candidate against the stable version, with both placeholders.
  const MetricCheck worse_than_stable{
      "error_rate_vs_stable",
      "shipmate_test_error_ratio{version=\"{version}\"} - ignoring(version) "
      "shipmate_test_error_ratio{version=\"{stable_version}\"}",
      0.1, std::nullopt};
  auto delta = check(worse_than_stable);
  EXPECT_EQ(delta.verdict, CheckVerdict::breach) << delta.message;
  ASSERT_TRUE(delta.value.has_value());
  EXPECT_NEAR(*delta.value, 0.38, 1e-9);

  // Every series: the one that breaches is named by its labels.
  const MetricCheck all_versions{"error_rate", "shipmate_test_error_ratio", 0.05, std::nullopt};
  auto named = check(all_versions);
  EXPECT_EQ(named.verdict, CheckVerdict::breach) << named.message;
  EXPECT_TRUE(Contains(named.message,
                       "error_rate: 0.4 > max 0.05 for "
                       "shipmate_test_error_ratio{instance=\"" +
                           exporter_.target() +
                           "\", job=\"shipmate_test\", version=\"v2\"} (1 of 2 "
                           "series)"));
}

TEST_F(RealPrometheusTest, MissingSeriesAndBadPromqlAreInconclusive) {
  // Neither needs a scrape, so this test does not wait for one.
  const MetricCheck missing{"latency", "shipmate_test_no_such_metric{version=\"{version}\"}", 0.5,
                            std::nullopt};
  auto no_data = check(missing);
  EXPECT_EQ(no_data.verdict, CheckVerdict::inconclusive);
  EXPECT_EQ(no_data.message, "latency: no data (query returned an empty vector)");

  const MetricCheck broken{"error_rate", "sum(rate(shipmate_test_error_ratio[5m])", 0.05,
                           std::nullopt};
  auto bad = check(broken);
  EXPECT_EQ(bad.verdict, CheckVerdict::inconclusive);
  EXPECT_TRUE(Contains(bad.message, "error_rate: bad query (a configuration error): "));
  EXPECT_TRUE(Contains(bad.message, "parse error"));
  EXPECT_TRUE(Contains(bad.message, "(query: sum(rate(shipmate_test_error_ratio[5m]))"));

  const MetricCheck range{"error_rate", "shipmate_test_error_ratio[1m]", 0.05, std::nullopt};
  EXPECT_TRUE(Contains(check(range).message, "the query returns a range vector"));

  const MetricCheck division{"ratio", "vector(0) / 0", 0.05, std::nullopt};
  auto nan = check(division);
  EXPECT_EQ(nan.verdict, CheckVerdict::inconclusive);
  EXPECT_TRUE(Contains(nan.message, "ratio: NaN (0/0, usually no traffic yet), cannot judge"));

  const MetricCheck constant{"constant", "scalar(vector(0.02))", 0.05, std::nullopt};
  auto scalar = check(constant);
  EXPECT_EQ(scalar.verdict, CheckVerdict::pass) << scalar.message;
  EXPECT_EQ(scalar.value, 0.02);
}

// The fake against the real thing: the same instant queries, at the same evaluation time, sent
// to Debian's prometheus and to a FakePrometheus whose table holds what the exporter serves. The
// answers must agree in HTTP status, envelope, result type, labels, value encoding and error type
// (only the wording of an error message may differ), so the fake-based tests above mean
// something.

std::string percent_encode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

struct Answer {
  int status = 0;
  boost::json::value body;
};

Answer instant_query(int port, const std::string& query, const std::string& time) {
  auto response = testing::http_get(
      port, "/api/v1/query?query=" + percent_encode(query) + "&time=" + time, 10s);
  if (!response)
    return {};
  boost::system::error_code ec;
  auto body = boost::json::parse(response->body, ec);
  return {response->status, ec ? boost::json::value(response->body) : body};
}

// The answer with what may legitimately differ blanked: an error's wording.
boost::json::value comparable(boost::json::value body) {
  if (auto* object = body.if_object(); object != nullptr && object->contains("error"))
    (*object)["error"] = "<message>";
  return body;
}

TEST_F(RealPrometheusTest, FakeAnswersInstantQueriesAsTheRealOneDoes) {
  ASSERT_TRUE(scraped("shipmate_test_error_ratio{version=\"v2\"}", 0.01));
  ASSERT_TRUE(scraped("shipmate_test_error_ratio{version=\"v1\"}", 0.02));
  FakePrometheus fake;
  const std::map<std::string, std::string> v2_labels{{"__name__", "shipmate_test_error_ratio"},
                                                     {"instance", exporter_.target()},
                                                     {"job", "shipmate_test"},
                                                     {"version", "v2"}};
  std::map<std::string, std::string> v1_labels = v2_labels;
  v1_labels["version"] = "v1";
  const std::string one_series = "shipmate_test_error_ratio{version=\"v2\"}";
  fake.set_vector(one_series, {{v2_labels, "0.01"}});
  const std::string two_series = "sort_desc(shipmate_test_error_ratio)";
  fake.set_vector(two_series, {{v1_labels, "0.02"}, {v2_labels, "0.01"}});
  const std::string without_name = "shipmate_test_error_ratio{version=\"v2\"} * 2";
  std::map<std::string, std::string> unnamed = v2_labels;
  unnamed.erase("__name__");
  fake.set_vector(without_name, {{unnamed, "0.02"}});
  fake.set_vector("vector(0) / 0", {{{}, "NaN"}});
  fake.set_vector("vector(1) / 0", {{{}, "+Inf"}});
  fake.set_vector("vector(-1) / 0", {{{}, "-Inf"}});
  fake.set_scalar("scalar(vector(0.02))", "0.02");
  fake.set_string("\"hello\"", "hello");
  // An empty result: the fake answers an empty vector for anything not in its table.
  const std::string missing = "shipmate_test_no_such_metric{version=\"v2\"}";
  const std::string bad = "sum(rate(shipmate_test_error_ratio[5m])";
  fake.set_error(bad, 400, "bad_data", "1:40: parse error: unclosed left parenthesis");

  // One evaluation time for both, a little in the past so that the real one has the samples.
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const std::string time =
      std::to_string(now_ms / 1000) + "." + std::to_string(now_ms % 1000 + 1000).substr(1);
  for (const std::string& query :
       {one_series, two_series, without_name, std::string("vector(0) / 0"),
        std::string("vector(1) / 0"), std::string("vector(-1) / 0"),
        std::string("scalar(vector(0.02))"), std::string("\"hello\""), missing, bad}) {
    SCOPED_TRACE(query);
    const Answer real = instant_query(prometheus_->port(), query, time);
    const Answer fake_answer = instant_query(fake.server().port(), query, time);
    ASSERT_NE(real.status, 0) << "the real prometheus did not answer";
    EXPECT_EQ(fake_answer.status, real.status);
    EXPECT_EQ(boost::json::serialize(comparable(fake_answer.body)),
              boost::json::serialize(comparable(real.body)));
  }

  // A range vector: the fake holds one point per series, the real one several; the shape agrees.
  const std::string range = "shipmate_test_error_ratio{version=\"v2\"}[1m]";
  fake.set_matrix(range, {{v2_labels, "0.01"}});
  const Answer real = instant_query(prometheus_->port(), range, time);
  const Answer fake_answer = instant_query(fake.server().port(), range, time);
  ASSERT_EQ(real.status, 200) << boost::json::serialize(real.body);
  EXPECT_EQ(fake_answer.status, 200);
  for (const Answer* answer : {&real, &fake_answer}) {
    const auto& data = answer->body.at("data");
    EXPECT_EQ(data.at("resultType"), "matrix");
    ASSERT_EQ(data.at("result").as_array().size(), 1u);
    const auto& series = data.at("result").at(0).as_object();
    EXPECT_EQ(series.size(), 2u);  // metric and values, nothing else
    EXPECT_EQ(boost::json::serialize(series.at("metric")),
              boost::json::serialize(real.body.at("data").at("result").at(0).at("metric")));
    for (const auto& point : series.at("values").as_array()) {
      ASSERT_EQ(point.as_array().size(), 2u);
      EXPECT_TRUE(point.at(0).is_number());
      EXPECT_EQ(point.at(1), "0.01");
    }
  }
}

TEST(RealPrometheusHarnessTest, StopsPrometheusForGood) {
  if (RealPrometheus::find_binary().empty())
    GTEST_SKIP() << "prometheus is not installed; skipping";
  int pid = -1;
  {
    auto started = RealPrometheus::start({});
    ASSERT_TRUE(started.ok()) << started.error().message;
    pid = (*started)->pid();
    ASSERT_GT(pid, 0);
  }
  // Reaped by the destructor, not merely signalled: the pid is gone.
  EXPECT_EQ(::kill(pid, 0), -1);
}

}  // namespace
}  // namespace shipmate::integrations
