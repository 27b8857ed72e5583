// Metric checks against Prometheus, for canary and blue-green verification.
//
// A MetricCheck is a PromQL query with a threshold. The deploy flow evaluates it at each step of
// a rollout and asks for a verdict: pass, breach (roll back), or inconclusive (ask a person).
// Nothing here guesses: missing data, NaN, an unreachable Prometheus or a bad query are all
// inconclusive, each with a one-line message saying which.
//
// Contract
// - evaluate() sends one instant query, GET <base_url>/api/v1/query?query=<PromQL>&time=<unix>,
//   and never throws. It retries at most once, and only when Prometheus provably did not answer
//   the query: a connection that failed or closed before a response, or HTTP 502/503/504. A
//   timeout is not retried (the flow would wait twice as long to learn the same thing).
// - Results: an instant vector is judged series by series (a breach in any series is a breach,
//   and the message names the series' labels); a scalar is one value; an empty vector is "no
//   data"; a range vector (matrix) or a string is a configuration error. Values are strings on
//   the wire; NaN and ±Inf are inconclusive (usually 0/0 or x/0: no traffic yet).
// - Messages are one line for chat, prefixed with the check's name:
//     "error_rate: 0.31 > max 0.05 (query: sum(rate(...)))"
//     "error_rate: no data (query returned an empty vector)"
//     "error_rate: Prometheus unreachable: GET 127.0.0.1:9090/api/v1/query: connection refused"
//     "error_rate: bad query (a configuration error): invalid parameter \"query\": 1:18: parse
//      error: unclosed left parenthesis (query: sum(rate(x[5m]))"
//   The bearer token and the basic-auth password never appear in a message.
// - Threading: a PrometheusClient belongs to the HttpClient's executor (the event loop); evaluate()
//   may run concurrently from several coroutines. It borrows the HttpClient, which must outlive it.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "common/clock.h"
#include "common/result.h"

namespace shipmate::integrations::net {
class HttpClient;
}

namespace shipmate::integrations {

struct MetricCheck {
  std::string name;                // how messages name it: "error_rate"
  std::string query;               // PromQL with placeholders, see expand_query()
  std::optional<double> max = {};  // a value above it breaches
  std::optional<double> min = {};  // a value below it breaches
  // The query is final (its caller substituted and escaped the values): expand_query() is not
  // applied, so text a value brought in is never taken for a placeholder.
  bool expanded = false;
};

enum class CheckVerdict { pass, breach, inconclusive };

// "pass", "breach", "inconclusive"
std::string_view to_string(CheckVerdict verdict);

struct CheckResult {
  CheckVerdict verdict = CheckVerdict::inconclusive;
  // The value the verdict is about: the single value, the worst breaching series, or on a pass
  // the series closest to its limit. nullopt when there was none (no data, errors).
  std::optional<double> value = {};
  std::string message;  // one line for chat, starting with the check's name
};

// The placeholders every check may use; the deploy flow supplies their values.
inline constexpr std::string_view kCheckPlaceholders[] = {"service", "environment", "version",
                                                          "stable_version"};

// Replaces each "{name}" whose name is a key of `vars` (typically service, environment, version,
// stable_version) with the value, escaped for a PromQL string literal (backslash, double quote,
// newline), since values usually sit inside label matchers: version="{version}". A "{name}" with no
// value is an error naming it ("query uses {stable_version}, which has no value here"); PromQL
// itself never has a bare "{identifier}", so label matchers such as {job="x"} are left alone.
Result<std::string> expand_query(std::string_view query_template,
                                 const std::map<std::string, std::string>& vars);

// For configuration loading: a name, a query, at least one of max and min, min <= max, and no
// placeholder other than kCheckPlaceholders. Errors name the check.
Status validate_check(const MetricCheck& check);

struct PrometheusOptions {
  std::string base_url;  // "http://prometheus:9090", or with a path prefix ("https://x/prometheus")
  std::string bearer_token;    // secret; sent as "Authorization: Bearer ..." when non-empty
  std::string basic_user;      // HTTP basic auth when non-empty (and no bearer token)
  std::string basic_password;  // secret
  std::chrono::milliseconds timeout{10000};     // per attempt, connect included
  std::chrono::milliseconds retry_delay{1000};  // before the single retry
  const Clock* clock = nullptr;                 // for &time=; nullptr: the system clock
};

class PrometheusClient {
 public:
  PrometheusClient(net::HttpClient& http, PrometheusOptions options);

  // Arguments are taken by value so the coroutine owns them whatever the caller passes.
  boost::asio::awaitable<CheckResult> evaluate(MetricCheck check,
                                               std::map<std::string, std::string> vars);

  const PrometheusOptions& options() const { return options_; }
  // HTTP attempts made by the last evaluate() to finish (1 or 2), for tests of the retry rule.
  int last_attempts() const { return last_attempts_; }

 private:
  net::HttpClient& http_;
  PrometheusOptions options_;
  int last_attempts_ = 0;
};

}  // namespace shipmate::integrations
