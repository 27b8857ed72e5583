#include "integrations/metrics/prometheus.h"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "common/strings.h"
#include "integrations/net/api_client.h"
#include "integrations/net/http_client.h"

namespace shipmate::integrations {

namespace {

namespace asio = boost::asio;
namespace json = boost::json;

// Queries and server messages are quoted in chat; a page-long PromQL helps nobody there.
constexpr std::size_t kMaxQuoted = 300;
constexpr std::size_t kMaxSeriesNamed = 3;

bool is_placeholder_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (!first && c >= '0' && c <= '9');
}

// Calls `found(begin, end, name)` for each "{identifier}" in `text`.
template <class F>
void for_each_placeholder(std::string_view text, F found) {
  for (std::size_t open = text.find('{'); open != std::string_view::npos;
       open = text.find('{', open + 1)) {
    std::size_t i = open + 1;
    while (i < text.size() && is_placeholder_char(text[i], i == open + 1))
      ++i;
    if (i > open + 1 && i < text.size() && text[i] == '}')
      found(open, i + 1, text.substr(open + 1, i - open - 1));
  }
}

std::string escape_for_promql_string(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// One line, at most kMaxQuoted characters.
std::string one_line(std::string_view text) {
  std::string out;
  for (char c : trim(text)) {
    if (c == '\n' || c == '\r' || c == '\t') {
      if (!out.empty() && out.back() != ' ')
        out += ' ';
    } else {
      out += c;
    }
  }
  if (out.size() > kMaxQuoted)
    out = out.substr(0, kMaxQuoted - 3) + "...";
  return out;
}

// Shortest text that reads back as the same double: "0.31", "1e-05", "120".
std::string format_number(double value) {
  if (std::isnan(value))
    return "NaN";
  if (std::isinf(value))
    return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  if (ec != std::errc())
    return std::to_string(value);
  return std::string(buffer, end);
}

// Prometheus writes sample values as strings: "0.31", "NaN", "+Inf", "-Inf", "1e-05".
std::optional<double> parse_sample_value(std::string_view text) {
  if (!text.empty() && text.front() == '+')
    text.remove_prefix(1);
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    return std::nullopt;
  return value;
}

std::string format_time(EpochMillis at) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%lld.%03lld", static_cast<long long>(at / 1000),
                static_cast<long long>(at % 1000));
  return buffer;
}

struct Series {
  std::string labels;  // `{instance="a", version="v2"}`, with the metric name in front if any
  std::optional<double> value;  // nullopt when the sample could not be read
  std::string raw;              // the value as sent
};

// `name{a="1", b="2"}` in PromQL's own notation; "" for a series without labels.
std::string describe_labels(const json::object& metric) {
  std::string name;
  std::vector<std::string> pairs;
  for (const auto& [key, value] : metric) {
    const std::string text = value.is_string() ? std::string(value.get_string()) : "?";
    if (key == "__name__")
      name = text;
    else
      pairs.push_back(std::string(key) + "=\"" + escape_for_promql_string(text) + "\"");
  }
  std::sort(pairs.begin(), pairs.end());
  if (pairs.empty())
    return name;
  return name + "{" + join(pairs, ", ") + "}";
}

// A [time, "value"] pair from a vector item or a scalar.
Series read_sample(const json::value& pair, std::string labels) {
  Series series;
  series.labels = std::move(labels);
  const json::array* items = pair.if_array();
  if (items && items->size() == 2 && (*items)[1].is_string()) {
    series.raw = std::string((*items)[1].get_string());
    series.value = parse_sample_value(series.raw);
  } else {
    series.raw = json::serialize(pair);
  }
  return series;
}

// What Prometheus said: `error` (and `errorType`) from its JSON envelope, when there is one.
struct ServerError {
  std::string type;
  std::string message;
};
ServerError server_error(std::string_view body) {
  boost::system::error_code ec;
  json::value parsed = json::parse(body, ec);
  ServerError out;
  if (ec || !parsed.is_object())
    return out;
  const json::object& object = parsed.get_object();
  if (auto* type = object.if_contains("errorType"); type && type->is_string())
    out.type = std::string(type->get_string());
  if (auto* error = object.if_contains("error"); error && error->is_string())
    out.message = one_line(error->get_string());
  return out;
}

class Judge {
 public:
  Judge(const MetricCheck& check, std::string quoted_query)
      : check_(check), query_note_(" (query: " + std::move(quoted_query) + ")") {}

  CheckResult inconclusive(const std::string& why, bool with_query) const {
    return CheckResult{CheckVerdict::inconclusive, std::nullopt,
                       check_.name + ": " + why + (with_query ? query_note_ : "")};
  }

  CheckResult judge(const std::vector<Series>& all) const {
    if (all.empty())
      return inconclusive("no data (query returned an empty vector)", false);
    const bool several = all.size() > 1;
    auto named = [&](const Series& series) {
      return several && !series.labels.empty() ? " for " + series.labels : std::string();
    };

    std::vector<const Series*> breaches;
    std::vector<const Series*> unusable;
    for (const auto& series : all) {
      if (!series.value || !std::isfinite(*series.value))
        unusable.push_back(&series);
      else if (outside(*series.value))
        breaches.push_back(&series);
    }
    const std::string out_of = several ? " (" + std::to_string(breaches.size()) + " of " +
                                             std::to_string(all.size()) + " series)"
                                       : std::string();

    if (!breaches.empty()) {
      std::stable_sort(breaches.begin(), breaches.end(), [&](const Series* a, const Series* b) {
        return overshoot(*a->value) > overshoot(*b->value);
      });
      std::vector<std::string> parts;
      for (std::size_t i = 0; i < breaches.size() && i < kMaxSeriesNamed; ++i)
        parts.push_back(compare(*breaches[i]->value) + named(*breaches[i]));
      if (breaches.size() > kMaxSeriesNamed)
        parts.push_back("...");
      return CheckResult{CheckVerdict::breach, *breaches.front()->value,
                         check_.name + ": " + join(parts, ", ") + out_of + query_note_};
    }

    if (!unusable.empty()) {
      const Series& first = *unusable.front();
      std::string why = first.raw;
      if (first.value && std::isnan(*first.value))
        why = "NaN (0/0, usually no traffic yet)";
      else if (first.value)
        why = format_number(*first.value) + " (a division by zero, usually no traffic yet)";
      else
        why = "an unreadable value " + one_line(first.raw);
      std::string text = why + named(first);
      if (unusable.size() > 1)
        text += " and " + std::to_string(unusable.size() - 1) + " more series";
      return inconclusive(text + ", cannot judge", true);
    }

    const Series* closest = &all.front();
    for (const auto& series : all) {
      if (margin(*series.value) < margin(*closest->value))
        closest = &series;
    }
    std::string text = check_.name + ": " + format_number(*closest->value) + " " + limits();
    if (several)
      text += " (closest of " + std::to_string(all.size()) + " series" + named(*closest) + ")";
    return CheckResult{CheckVerdict::pass, *closest->value, text};
  }

 private:
  bool outside(double value) const {
    return (check_.max && value > *check_.max) || (check_.min && value < *check_.min);
  }
  double overshoot(double value) const {
    double worst = 0;
    if (check_.max)
      worst = std::max(worst, value - *check_.max);
    if (check_.min)
      worst = std::max(worst, *check_.min - value);
    return worst;
  }
  // Distance to the nearest limit; smaller is closer to breaching.
  double margin(double value) const {
    double nearest = INFINITY;
    if (check_.max)
      nearest = std::min(nearest, *check_.max - value);
    if (check_.min)
      nearest = std::min(nearest, value - *check_.min);
    return nearest;
  }
  std::string compare(double value) const {
    if (check_.max && value > *check_.max)
      return format_number(value) + " > max " + format_number(*check_.max);
    return format_number(value) + " < min " + format_number(*check_.min);
  }
  std::string limits() const {
    if (check_.max && check_.min) {
      return "within min " + format_number(*check_.min) + " and max " + format_number(*check_.max);
    }
    if (check_.max)
      return "<= max " + format_number(*check_.max);
    return ">= min " + format_number(*check_.min);
  }

  const MetricCheck& check_;
  std::string query_note_;
};

}  // namespace

std::string_view to_string(CheckVerdict verdict) {
  switch (verdict) {
    case CheckVerdict::pass:
      return "pass";
    case CheckVerdict::breach:
      return "breach";
    case CheckVerdict::inconclusive:
      return "inconclusive";
  }
  return "inconclusive";
}

Result<std::string> expand_query(std::string_view query_template,
                                 const std::map<std::string, std::string>& vars) {
  std::string out;
  std::size_t copied = 0;
  std::string missing;
  for_each_placeholder(query_template,
                       [&](std::size_t begin, std::size_t end, std::string_view name) {
                         auto it = vars.find(std::string(name));
                         if (it == vars.end()) {
                           if (missing.empty())
                             missing = std::string(name);
                           return;
                         }
                         out.append(query_template.substr(copied, begin - copied));
                         out += escape_for_promql_string(it->second);
                         copied = end;
                       });
  if (!missing.empty())
    return make_error("query uses {" + missing + "}, which has no value here");
  out.append(query_template.substr(copied));
  return out;
}

Status validate_check(const MetricCheck& check) {
  const std::string name = check.name.empty() ? std::string("a metric check") : check.name;
  if (check.name.empty())
    return make_error("a metric check needs a name");
  if (trim(check.query).empty())
    return make_error("metric check " + name + " needs a query");
  if (!check.max && !check.min)
    return make_error("metric check " + name + " needs a threshold: max, min or both");
  if ((check.max && !std::isfinite(*check.max)) || (check.min && !std::isfinite(*check.min)))
    return make_error("metric check " + name + " has a threshold that is not a finite number");
  if (check.max && check.min && *check.min > *check.max) {
    return make_error("metric check " + name + " has min " + format_number(*check.min) +
                      " above max " + format_number(*check.max));
  }
  std::string unknown;
  for_each_placeholder(check.query, [&](std::size_t, std::size_t, std::string_view placeholder) {
    const bool known = std::find(std::begin(kCheckPlaceholders), std::end(kCheckPlaceholders),
                                 placeholder) != std::end(kCheckPlaceholders);
    if (!known && unknown.empty())
      unknown = std::string(placeholder);
  });
  if (!unknown.empty()) {
    std::vector<std::string> names;
    for (auto known : kCheckPlaceholders)
      names.push_back("{" + std::string(known) + "}");
    return make_error("metric check " + name + " uses an unknown placeholder {" + unknown +
                      "} (known: " + join(names, ", ") + ")");
  }
  return Ok{};
}

PrometheusClient::PrometheusClient(net::HttpClient& http, PrometheusOptions options)
    : http_(http), options_(std::move(options)) {
  while (!options_.base_url.empty() && options_.base_url.back() == '/')
    options_.base_url.pop_back();
}

asio::awaitable<CheckResult> PrometheusClient::evaluate(MetricCheck check,
                                                        std::map<std::string, std::string> vars) {
  last_attempts_ = 0;
  auto query = check.expanded ? Result<std::string>(check.query) : expand_query(check.query, vars);
  Judge judge(check, one_line(query ? *query : check.query));
  if (!query)
    co_return judge.inconclusive(query.error().message + " (a configuration error)", true);
  if (!check.max && !check.min)
    co_return judge.inconclusive("no threshold configured (set max, min or both)", false);

  const SystemClock system_clock;
  const Clock& clock = options_.clock ? *options_.clock : system_clock;
  net::HttpRequest request;
  request.method = "GET";
  request.url = options_.base_url + "/api/v1/query?query=" + net::form_encode(*query) +
                "&time=" + format_time(clock.now_ms());
  request.headers.emplace_back("Accept", "application/json");
  if (!options_.bearer_token.empty()) {
    request.headers.emplace_back("Authorization", "Bearer " + options_.bearer_token);
  } else if (!options_.basic_user.empty()) {
    request.headers.emplace_back(
        "Authorization",
        "Basic " + shipmate::base64_encode(options_.basic_user + ":" + options_.basic_password));
  }
  request.timeout = options_.timeout;

  std::optional<Result<net::HttpResponse>> answer;
  int made = 0;
  for (int attempt = 1; attempt <= 2; ++attempt) {
    made = attempt;
    net::HttpRequest this_attempt = request;
    auto sent = co_await http_.send(std::move(this_attempt));
    answer.emplace(std::move(sent));
    bool unanswered = false;
    if (!answer->ok())
      unanswered = answer->error().reach != Reach::timed_out;
    else
      unanswered = (*answer)->status == 502 || (*answer)->status == 503 || (*answer)->status == 504;
    if (!unanswered || attempt == 2)
      break;
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer pause(executor, options_.retry_delay);
    co_await pause.async_wait(asio::use_awaitable);
  }

  // Nothing below suspends, so this is the last evaluate() to finish.
  last_attempts_ = made;
  const std::string attempts = made > 1 ? " (tried twice)" : "";
  if (!answer->ok()) {
    const std::string& cause = answer->error().message;
    if (answer->error().reach == Reach::timed_out)
      co_return judge.inconclusive("Prometheus did not answer in time: " + cause, false);
    co_return judge.inconclusive("Prometheus unreachable: " + cause + attempts, false);
  }
  const net::HttpResponse& response = **answer;
  if (response.status < 200 || response.status > 299) {
    const ServerError error = server_error(response.body);
    const std::string said = error.message.empty() ? std::string() : ": " + error.message;
    if (response.status == 400 && (error.type == "bad_data" || error.type.empty())) {
      co_return judge.inconclusive("bad query (a configuration error)" + said, true);
    }
    if (response.status == 422) {
      co_return judge.inconclusive("Prometheus could not run the query (" +
                                       (error.type.empty() ? "422" : error.type) + ")" + said,
                                   true);
    }
    if (response.status == 503) {
      co_return judge.inconclusive("Prometheus unavailable (503" +
                                       (error.type.empty() ? "" : ", " + error.type) + ")" + said +
                                       attempts,
                                   false);
    }
    co_return judge.inconclusive(
        "Prometheus: " + one_line(net::describe_http_failure(response.status, response.body)) +
            attempts,
        false);
  }

  boost::system::error_code ec;
  json::value parsed = json::parse(response.body, ec);
  auto unexpected = [&](const std::string& what) {
    return judge.inconclusive("unexpected answer from Prometheus: " + what, false);
  };
  if (ec || !parsed.is_object())
    co_return unexpected("not a JSON object: " + one_line(response.body.substr(0, 80)));
  const json::object& envelope = parsed.get_object();
  const json::value* status = envelope.if_contains("status");
  if (!status || !status->is_string() || status->get_string() != "success") {
    const ServerError error = server_error(response.body);
    co_return unexpected("status " + (status ? json::serialize(*status) : "missing") +
                         (error.message.empty() ? "" : ": " + error.message));
  }
  const json::value* data = envelope.if_contains("data");
  const json::object* data_object = data ? data->if_object() : nullptr;
  const json::value* type = data_object ? data_object->if_contains("resultType") : nullptr;
  const json::value* result = data_object ? data_object->if_contains("result") : nullptr;
  if (!type || !type->is_string() || !result)
    co_return unexpected("no data.resultType and data.result");

  std::vector<Series> series;
  const std::string_view result_type = type->get_string();
  if (result_type == "vector") {
    const json::array* items = result->if_array();
    if (!items)
      co_return unexpected("a vector result that is not an array");
    for (const auto& item : *items) {
      const json::object* entry = item.if_object();
      const json::value* metric = entry ? entry->if_contains("metric") : nullptr;
      const json::value* value = entry ? entry->if_contains("value") : nullptr;
      if (!value)
        co_return unexpected("a vector item without a value");
      const std::string labels =
          metric && metric->is_object() ? describe_labels(metric->get_object()) : "";
      series.push_back(read_sample(*value, labels));
    }
  } else if (result_type == "scalar") {
    series.push_back(read_sample(*result, ""));
  } else if (result_type == "matrix") {
    co_return judge.inconclusive(
        "the query returns a range vector; a check needs an instant vector or a scalar (drop "
        "the [range] or wrap it in rate() or avg_over_time()), a configuration error",
        true);
  } else if (result_type == "string") {
    co_return judge.inconclusive("the query returns a string, not a number (a configuration error)",
                                 true);
  } else {
    co_return unexpected("result type " + std::string(result_type));
  }
  co_return judge.judge(series);
}

}  // namespace shipmate::integrations
