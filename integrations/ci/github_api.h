// GitHub's REST plumbing that the GitHub classes share (GithubActions, GithubDeployments,
// GithubCompare): default headers, repository paths, JSON field readers and 403 rate limits.
//
// Contract
// - Internal to integrations/ci: included by the .cpp files of the GitHub classes only.
// - GithubApi belongs to one executor like the ApiClient it wraps; call() may run concurrently.
//   It registers the token with redact() and never puts it in an error.
// - call() is ApiClient::call plus GitHub's rate limits: a 403 whose x-ratelimit-remaining is 0
//   (or that carries Retry-After) waits once for a reset at most max_rate_limit_wait away, and
//   otherwise fails saying when the limit resets.
#pragma once

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <ctime>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "common/clock.h"
#include "common/redact.h"
#include "integrations/ci/github_actions.h"
#include "integrations/net/api_client.h"

namespace shipmate::integrations::github_detail {
namespace asio = boost::asio;
namespace json = boost::json;
using net::ApiCall;
using net::HttpResponse;

inline std::string encode_segment(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

inline std::optional<json::value> parse_json(std::string_view body) {
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec)
    return std::nullopt;
  return value;
}

inline std::string string_field(const json::object& object, std::string_view key) {
  const auto* field = object.if_contains(key);
  return field && field->is_string() ? std::string(field->as_string()) : std::string();
}

inline std::optional<std::int64_t> integer_field(const json::object& object, std::string_view key) {
  const auto* field = object.if_contains(key);
  if (field == nullptr)
    return std::nullopt;
  if (field->is_int64())
    return field->as_int64();
  if (field->is_uint64())
    return static_cast<std::int64_t>(field->as_uint64());
  if (field->is_double())
    return static_cast<std::int64_t>(field->as_double());
  return std::nullopt;
}

inline std::string iso8601_seconds(std::chrono::system_clock::time_point at) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(at);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return buffer;
}

inline std::string server_message(std::string_view body) {
  auto value = parse_json(body);
  return value && value->is_object() ? string_field(value->as_object(), "message") : std::string();
}

inline bool contains(std::string_view text, std::string_view needle) {
  return text.find(needle) != std::string_view::npos;
}

// Placeholders in `text` that fill_ci_template does not know.
inline std::vector<std::string> unknown_placeholders(std::string_view text) {
  static const std::set<std::string, std::less<>> known = {"version", "environment", "service",
                                                           "correlation_id"};
  std::vector<std::string> unknown;
  for (std::size_t open = text.find('{'); open != std::string_view::npos;
       open = text.find('{', open + 1)) {
    const auto close = text.find('}', open);
    if (close == std::string_view::npos)
      break;
    const std::string_view name = text.substr(open + 1, close - open - 1);
    if (!known.contains(name))
      unknown.emplace_back(name);
  }
  return unknown;
}

// At most `limit` characters (code points, as GitHub counts), never cutting a UTF-8 sequence.
inline std::string cut_characters(const std::string& text, std::size_t limit) {
  std::vector<std::size_t> starts;  // byte offset of each character
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80)
      starts.push_back(i);
  }
  if (starts.size() <= limit)
    return text;
  return text.substr(0, starts[limit - 1]) + "\u2026";
}

// The REST plumbing both GitHub classes share: headers, repository paths, and 403 rate limits.
class GithubApi {
 public:
  GithubApi(net::HttpClient& http, const GithubActionsConfig& config)
      : api_(http, options_for(config)),
        repository_(config.owner + "/" + config.repo),
        repo_path_("/repos/" + encode_segment(config.owner) + "/" + encode_segment(config.repo)),
        max_rate_limit_wait_(config.max_rate_limit_wait) {
    register_secret(config.token);
  }

  const std::string& repository() const { return repository_; }
  const std::string& repo_path() const { return repo_path_; }

  // ApiClient::call, plus GitHub's 403 rate limits: waits for a reset that is near, once.
  asio::awaitable<Result<HttpResponse>> call(ApiCall call) {
    const bool caller_takes_403 = std::find(call.pass_through.begin(), call.pass_through.end(),
                                            403) != call.pass_through.end();
    if (!caller_takes_403)
      call.pass_through.push_back(403);
    for (int round = 0;; ++round) {
      ApiCall attempt = call;
      Result<HttpResponse> response = co_await api_.call(std::move(attempt));
      if (!response || response->status != 403)
        co_return response;
      const auto limit = rate_limit(*response);
      if (!limit) {
        if (caller_takes_403)
          co_return response;
        co_return fail(call.step, *response);
      }
      if (round == 0 && limit->wait <= max_rate_limit_wait_) {
        auto executor = co_await asio::this_coro::executor;
        asio::steady_timer timer(executor, limit->wait);
        co_await timer.async_wait(asio::use_awaitable);
        continue;
      }
      co_return make_error("GitHub: " + call.step + ": " + limit->describe);
    }
  }

  // "GitHub: <step>: not found (404): Not Found; <hint>"
  static Error fail(const std::string& step, const HttpResponse& response,
                    const std::string& hint = "") {
    std::string message =
        "GitHub: " + step + ": " + net::describe_http_failure(response.status, response.body);
    if (!hint.empty())
      message += "; " + hint;
    return make_error(redact(message));
  }

 private:
  struct RateLimit {
    std::chrono::milliseconds wait{0};
    std::string describe;
  };

  static net::ApiClientOptions options_for(const GithubActionsConfig& config) {
    net::ApiClientOptions options;
    options.service = "GitHub";
    std::string base = config.api_url;
    while (!base.empty() && base.back() == '/')
      base.pop_back();
    options.base_url = base;
    options.default_headers = {{"Authorization", "Bearer " + config.token},
                               {"Accept", "application/vnd.github+json"},
                               {"X-GitHub-Api-Version", "2022-11-28"}};
    options.retry = config.retry;
    options.timeout = config.timeout;
    return options;
  }

  static std::optional<long long> header_number(const HttpResponse& response,
                                                std::string_view name) {
    const std::string value = response.header(name);
    long long number = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (value.empty() || ec != std::errc() || end != value.data() + value.size())
      return std::nullopt;
    return number;
  }

  // A 403 that is a rate limit rather than a missing permission, and how long it lasts.
  static std::optional<RateLimit> rate_limit(const HttpResponse& response) {
    if (auto seconds = header_number(response, "retry-after"); seconds && *seconds >= 0) {
      return RateLimit{std::chrono::seconds(*seconds),
                       "secondary rate limit (403); GitHub asks to retry after " +
                           std::to_string(*seconds) + " s"};
    }
    if (response.header("x-ratelimit-remaining") != "0")
      return std::nullopt;
    const auto reset = header_number(response, "x-ratelimit-reset");
    const long long now = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    const long long wait = reset ? std::max(0LL, *reset - now) : 60;
    std::string describe = "rate limit exhausted (403)";
    if (reset)
      describe += "; it resets at " + format_utc(*reset * 1000);
    return RateLimit{std::chrono::seconds(wait), describe};
  }

  net::ApiClient api_;
  std::string repository_;
  std::string repo_path_;
  std::chrono::milliseconds max_rate_limit_wait_;
};

}  // namespace shipmate::integrations::github_detail
