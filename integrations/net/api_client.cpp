#include "integrations/net/api_client.h"

#include <algorithm>
#include <charconv>
#include <random>

#include <spdlog/spdlog.h>

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "common/strings.h"

namespace shipmate::integrations::net {

namespace {

std::string_view meaning(int status) {
  switch (status) {
    case 400:
      return "bad request";
    case 401:
      return "credentials rejected";
    case 403:
      return "forbidden (the credentials lack a permission or scope)";
    case 404:
      return "not found";
    case 405:
      return "method not allowed";
    case 409:
      return "conflict";
    case 410:
      return "gone";
    case 422:
      return "rejected as invalid";
    case 429:
      return "rate limited";
    default:
      break;
  }
  if (status >= 500)
    return "server error";
  return "unexpected answer";
}

// The server's own explanation, when the body is JSON and carries one. Bodies that are not JSON
// contribute their first line when short (Jenkins and proxies answer in text or HTML).
std::string server_message(std::string_view body) {
  if (body.empty())
    return {};
  boost::system::error_code ec;
  const boost::json::value value = boost::json::parse(body, ec);
  if (!ec && value.is_object()) {
    const auto& object = value.as_object();
    for (const char* key : {"message", "error_description", "error"}) {
      const auto* field = object.if_contains(key);
      if (field && field->is_string() && !field->as_string().empty())
        return std::string(field->as_string());
      if (field && (field->is_object() || field->is_array()))
        return boost::json::serialize(*field);  // GitLab: {"message":{"base":["..."]}}
    }
    return {};
  }
  if (body.front() == '<')
    return {};  // an HTML error page says nothing a chat line could use
  const std::string_view first_line = body.substr(0, body.find('\n'));
  if (first_line.size() > 200)
    return std::string(first_line.substr(0, 200)) + "...";
  return std::string(first_line);
}

bool retryable_status(int status) {
  return status == 429 || status == 502 || status == 503 || status == 504 || status == 500;
}

std::chrono::milliseconds retry_after(const HttpResponse& response, std::chrono::milliseconds cap) {
  const std::string value = response.header("Retry-After");
  int seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc() || end != value.data() + value.size() || seconds < 0)
    return std::chrono::milliseconds(-1);
  return std::min<std::chrono::milliseconds>(std::chrono::seconds(seconds), cap);
}

}  // namespace

std::string describe_http_failure(int status, std::string_view body) {
  std::string text = std::string(meaning(status)) + " (" + std::to_string(status) + ")";
  const std::string message = server_message(body);
  if (!message.empty())
    text += ": " + message;
  return text;
}

// One line per attempt, inside the calling request (its id is added by the logger): calls that
// change something at info, reads (polls) at debug, failures at warn. The path is logged without
// its query string; the logger redacts registered secrets from whatever remains.
void ApiClient::log_attempt(const ApiCall& call, const Result<HttpResponse>& result, int attempt,
                            std::chrono::steady_clock::time_point started) const {
  const bool reads = call.method == "GET" || call.method == "HEAD";
  const bool failed = !result.ok() || result->status >= 400;
  const auto level =
      failed ? spdlog::level::warn : (reads ? spdlog::level::debug : spdlog::level::info);
  if (!spdlog::should_log(level))
    return;
  const std::string_view path = std::string_view(call.path).substr(0, call.path.find('?'));
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
  const std::string outcome =
      result.ok() ? std::to_string(result->status) : "failed: " + result.error().message;
  spdlog::log(level, "{}: {}: {} {} -> {} ({} ms, attempt {})", options_.service, call.step,
              call.method, path, outcome, millis, attempt);
}

ApiClient::ApiClient(HttpClient& http, ApiClientOptions options)
    : http_(http), options_(std::move(options)), timers_(options_.timers) {}

boost::asio::awaitable<Result<HttpResponse>> ApiClient::call(ApiCall call) {
  HttpRequest request;
  request.method = call.method;
  request.url = call.path.starts_with("http://") || call.path.starts_with("https://")
                    ? call.path
                    : options_.base_url + call.path;
  request.headers = options_.default_headers;
  for (auto& [name, value] : call.headers) {
    std::erase_if(request.headers,
                  [&](const auto& header) { return equals_ci(header.first, name); });
    request.headers.emplace_back(name, value);
  }
  request.body = call.body;
  request.timeout = options_.timeout;

  const std::string prefix = options_.service + ": " + call.step + ": ";
  static thread_local std::mt19937 random{std::random_device{}()};
  auto executor = co_await boost::asio::this_coro::executor;
  std::chrono::milliseconds backoff = options_.retry.first_backoff;
  const int attempts_allowed = std::max(1, options_.retry.max_attempts);

  const auto started = std::chrono::steady_clock::now();
  for (int attempt = 1;; ++attempt) {
    last_attempts_ = attempt;
    HttpRequest attempt_request = request;
    Result<HttpResponse> result = co_await http_.send(std::move(attempt_request));
    log_attempt(call, result, attempt, started);
    std::chrono::milliseconds wait = backoff;
    if (!result.ok()) {
      // A request that never left (DNS, connect, proxy, TLS handshake) can be sent again even
      // when it is not idempotent; one that left may have been acted on.
      const bool may_retry = call.idempotent || result.error().reach == Reach::not_sent;
      if (!may_retry || attempt >= attempts_allowed)
        co_return prefix_error(prefix, result.error());
    } else {
      const int status = result->status;
      const bool passes = std::find(call.pass_through.begin(), call.pass_through.end(), status) !=
                          call.pass_through.end();
      if ((status >= 200 && status < 300) || passes)
        co_return result;
      const bool may_retry =
          retryable_status(status) && (call.idempotent || status == 429 || status == 503);
      if (!may_retry || attempt >= attempts_allowed)
        co_return make_error(prefix + describe_http_failure(status, result->body),
                             http_status_kind(status));
      const auto hinted = retry_after(*result, options_.retry.max_backoff);
      if (hinted.count() >= 0)
        wait = hinted;
    }
    if (wait == backoff) {
      // Full jitter in the upper half keeps many clients from retrying in lockstep.
      std::uniform_int_distribution<long long> jitter(backoff.count() / 2, backoff.count());
      wait = std::chrono::milliseconds(jitter(random));
    }
    if (!timers_)
      timers_ = std::make_shared<SteadyTimers>(executor);
    const std::shared_ptr<Timers> timers = timers_;
    const bool waited = co_await timers->sleep_for(wait);
    if (!waited) {
      if (!result.ok())
        co_return prefix_error(prefix, result.error());
      co_return make_error(prefix + describe_http_failure(result->status, result->body),
                           http_status_kind(result->status));
    }
    backoff = std::min(backoff * 2, options_.retry.max_backoff);
  }
}

}  // namespace shipmate::integrations::net
