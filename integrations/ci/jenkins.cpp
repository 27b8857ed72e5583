#include "integrations/ci/jenkins.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "common/redact.h"
#include "common/strings.h"

namespace shipmate::integrations {

namespace json = boost::json;

namespace {

constexpr std::string_view kService = "Jenkins";

std::string percent_encode_segment(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '.' || c == '_' || c == '~';
    if (plain) {
      out += c;
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    }
  }
  return out;
}

std::optional<long long> parse_number(std::string_view text) {
  long long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0 || text.empty())
    return std::nullopt;
  return value;
}

// ".../queue/item/17/" -> 17
std::optional<long long> queue_id_from_location(std::string_view location) {
  constexpr std::string_view kMarker = "/queue/item/";
  const auto at = location.find(kMarker);
  if (at == std::string_view::npos)
    return std::nullopt;
  std::string_view rest = location.substr(at + kMarker.size());
  rest = rest.substr(0, rest.find('/'));
  return parse_number(rest);
}

std::optional<json::object> parse_object(std::string_view body) {
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec || !value.is_object())
    return std::nullopt;
  return std::move(value.as_object());
}

bool field_true(const json::object& object, std::string_view key) {
  const json::value* field = object.if_contains(key);
  return field && field->is_bool() && field->as_bool();
}

std::string field_string(const json::object& object, std::string_view key) {
  const json::value* field = object.if_contains(key);
  return field && field->is_string() ? std::string(field->as_string()) : std::string();
}

std::optional<long long> field_number(const json::object& object, std::string_view key) {
  const json::value* field = object.if_contains(key);
  if (!field)
    return std::nullopt;
  if (field->is_int64())
    return field->as_int64();
  if (field->is_uint64())
    return static_cast<long long>(field->as_uint64());
  return std::nullopt;
}

bool mentions(std::string_view body, std::string_view needle) {
  return to_lower(body).find(to_lower(needle)) != std::string::npos;
}

std::string trim_trailing_slashes(std::string text) {
  while (!text.empty() && text.back() == '/')
    text.pop_back();
  return text;
}

struct RunId {
  bool queued = false;  // "queue:<n>" rather than "build:<n>"
  long long number = 0;
};

std::optional<RunId> parse_run_id(std::string_view id) {
  RunId run;
  if (id.starts_with("queue:")) {
    run.queued = true;
    id.remove_prefix(6);
  } else if (id.starts_with("build:")) {
    id.remove_prefix(6);
  } else {
    return std::nullopt;
  }
  const auto number = parse_number(id);
  if (!number)
    return std::nullopt;
  run.number = *number;
  return run;
}

// What a queue item says about itself.
struct QueueItem {
  bool cancelled = false;
  std::optional<long long> build;  // set once it left the queue and started
  std::string why;
  bool blocked = false;
  bool stuck = false;
};

}  // namespace

std::string jenkins_job_path(std::string_view job) {
  std::string path;
  while (!job.empty()) {
    const auto slash = job.find('/');
    const std::string_view name = job.substr(0, slash);
    if (!name.empty())
      path += "/job/" + percent_encode_segment(name);
    if (slash == std::string_view::npos)
      break;
    job.remove_prefix(slash + 1);
  }
  return path;
}

struct Jenkins::Impl {
  JenkinsConfig config;
  net::ApiClient api;
  std::string job_path;  // "/job/a/job/b"
  std::string job_url;   // absolute, with a trailing '/'

  // The CSRF crumb and the session it belongs to, once Jenkins has asked for one.
  std::string crumb_field;
  std::string crumb;
  std::string session_cookie;

  // Queue items seen to become builds: later polls of a "queue:<n>" handle go straight to the
  // build, which Jenkins keeps after it forgets the queue item.
  std::map<long long, long long> build_of_queue_item;

  Impl(net::HttpClient& http, JenkinsConfig config_in)
      : config(std::move(config_in)),
        api(http, options(config)),
        job_path(jenkins_job_path(config.job)),
        job_url(trim_trailing_slashes(config.url) + job_path + "/") {}

  static net::ApiClientOptions options(const JenkinsConfig& config) {
    net::ApiClientOptions options;
    options.service = std::string(kService);
    options.base_url = trim_trailing_slashes(config.url);
    options.retry = config.retry;
    options.timeout = config.timeout;
    options.default_headers.emplace_back("Accept", "application/json");
    options.default_headers.emplace_back(
        "Authorization", "Basic " + shipmate::base64_encode(config.user + ":" + config.api_token));
    return options;
  }

  std::string prefix(std::string_view step) const {
    return std::string(kService) + ": " + std::string(step) + ": ";
  }

  std::string build_path(long long number) const {
    return job_path + "/" + std::to_string(number) + "/";
  }
  std::string build_url(long long number) const { return job_url + std::to_string(number) + "/"; }

  // Failures every call can meet, worded for Jenkins.
  std::string common_failure(std::string_view step, int status, std::string_view body) const {
    if (status == 401)
      return prefix(step) + "credentials rejected (401): check the user '" + config.user +
             "' and its API token";
    return prefix(step) + net::describe_http_failure(status, body);
  }

  boost::asio::awaitable<Status> fetch_crumb(std::string_view step) {
    net::ApiCall call;
    call.step = std::string(step) + " (CSRF crumb)";
    call.path = "/crumbIssuer/api/json";
    call.pass_through = {401, 404};
    auto response = co_await api.call(std::move(call));
    if (!response)
      co_return response.error();
    if (response->status == 404)
      co_return make_error(prefix(step) +
                           "Jenkins asked for a CSRF crumb, but its crumb issuer answers 404");
    if (response->status >= 300)
      co_return make_error(common_failure(step, response->status, response->body));
    const auto object = parse_object(response->body);
    const std::string value = object ? field_string(*object, "crumb") : std::string();
    if (value.empty())
      co_return make_error(prefix(step) + "the crumb issuer's answer carries no crumb");
    crumb = value;
    crumb_field = field_string(*object, "crumbRequestField");
    if (crumb_field.empty())
      crumb_field = "Jenkins-Crumb";
    // Crumbs are bound to the web session (Jenkins 2.176.2+), so its cookie goes with the crumb.
    std::vector<std::string> cookies;
    for (const auto& [name, header] : response->headers) {
      if (to_lower(name) != "set-cookie")
        continue;
      const std::string pair(trim(std::string_view(header).substr(0, header.find(';'))));
      if (starts_with_ci(pair, "JSESSIONID"))
        cookies.push_back(pair);
    }
    session_cookie = join(cookies, "; ");
    co_return Ok{};
  }

  // A POST with the crumb when Jenkins wants one. 403 is answered here: after one fresh crumb, a
  // refusal is a missing permission (`permission` names it).
  boost::asio::awaitable<Result<net::HttpResponse>> post(net::ApiCall call,
                                                         std::string_view permission) {
    call.method = "POST";
    call.pass_through.push_back(403);
    for (int attempt = 0;; ++attempt) {
      net::ApiCall attempt_call = call;
      if (!crumb.empty()) {
        attempt_call.headers.emplace_back(crumb_field, crumb);
        if (!session_cookie.empty())
          attempt_call.headers.emplace_back("Cookie", session_cookie);
      }
      auto response = co_await api.call(std::move(attempt_call));
      if (!response || response->status != 403)
        co_return response;
      const bool wants_crumb = mentions(response->body, "No valid crumb");
      if (wants_crumb && attempt == 0) {
        const std::string step = call.step;
        Status fetched = co_await fetch_crumb(step);
        if (!fetched)
          co_return fetched.error();
        continue;
      }
      if (wants_crumb)
        co_return make_error(prefix(call.step) +
                             "Jenkins rejected a fresh CSRF crumb (403): a proxy may be dropping "
                             "the session cookie");
      co_return make_error(prefix(call.step) + "forbidden (403): user '" + config.user +
                           "' lacks the " + std::string(permission) + " permission");
    }
  }

  boost::asio::awaitable<Result<QueueItem>> read_queue_item(long long id) {
    const std::string step = "read queue item " + std::to_string(id) + " of job " + config.job;
    net::ApiCall call;
    call.step = step;
    call.path = "/queue/item/" + std::to_string(id) +
                "/api/json?tree=id,why,blocked,stuck,cancelled,executable%5Bnumber,url%5D";
    call.pass_through = {401, 404};
    auto response = co_await api.call(std::move(call));
    if (!response)
      co_return response.error();
    if (response->status == 404)
      co_return make_error(prefix(step) +
                           "the queue item is gone (404): Jenkins forgets items about 5 minutes "
                           "after they leave the queue; look for the build at " +
                           job_url);
    if (response->status >= 300)
      co_return make_error(common_failure(step, response->status, response->body));
    const auto object = parse_object(response->body);
    if (!object)
      co_return make_error(prefix(step) + "Jenkins' answer is not a queue item");
    QueueItem item;
    item.cancelled = field_true(*object, "cancelled");
    const json::value* executable = object->if_contains("executable");
    if (executable && executable->is_object())
      item.build = field_number(executable->as_object(), "number");
    item.why = field_string(*object, "why");
    item.blocked = field_true(*object, "blocked");
    item.stuck = field_true(*object, "stuck");
    if (item.build)
      build_of_queue_item[id] = *item.build;
    co_return item;
  }

  static std::string queue_detail(const QueueItem& item) {
    std::string detail = item.why.empty() ? std::string("waiting in the queue") : item.why;
    if (item.stuck)
      detail = "stuck in the queue: " + detail;
    else if (item.blocked)
      detail = "blocked: " + detail;
    return detail;
  }

  boost::asio::awaitable<Result<CiRunStatus>> build_status(long long number) {
    const std::string step = "read build #" + std::to_string(number) + " of job " + config.job;
    net::ApiCall call;
    call.step = step;
    call.path = build_path(number) + "api/json?tree=number,building,result,url,duration";
    call.pass_through = {401, 404};
    auto response = co_await api.call(std::move(call));
    if (!response)
      co_return response.error();
    if (response->status == 404)
      co_return make_error(prefix(step) + "build not found (404) at " + build_url(number));
    if (response->status >= 300)
      co_return make_error(common_failure(step, response->status, response->body));
    const auto object = parse_object(response->body);
    if (!object)
      co_return make_error(prefix(step) + "Jenkins' answer is not a build");
    const std::string name = "build #" + std::to_string(number);
    CiRunStatus status;
    status.url = build_url(number) + "console";
    const std::string result = field_string(*object, "result");
    if (result.empty() || field_true(*object, "building")) {
      status.state = CiRunState::running;
      status.detail = name + " running";
    } else if (result == "SUCCESS") {
      status.state = CiRunState::succeeded;
      status.detail = name + " succeeded";
    } else if (result == "UNSTABLE") {
      status.state = CiRunState::failed;
      status.detail = name + " unstable (tests failed)";
    } else if (result == "FAILURE") {
      status.state = CiRunState::failed;
      status.detail = name + " failed";
    } else if (result == "ABORTED") {
      status.state = CiRunState::cancelled;
      status.detail = name + " aborted";
    } else if (result == "NOT_BUILT") {
      status.state = CiRunState::failed;
      status.detail = name + " not built";
    } else {
      status.state = CiRunState::failed;
      status.detail = name + " ended with result " + result;
    }
    co_return status;
  }

  boost::asio::awaitable<Status> stop_build(long long number) {
    const std::string step = "stop build #" + std::to_string(number) + " of job " + config.job;
    net::ApiCall call;
    call.step = step;
    call.path = build_path(number) + "stop";
    // Stopping a build twice is harmless, so a lost answer may be asked again.
    call.idempotent = true;
    // Jenkins answers a stop with a redirect back to the build page.
    call.pass_through = {301, 302, 303, 401, 404};
    auto response = co_await post(std::move(call), "Job/Cancel");
    if (!response)
      co_return response.error();
    if (response->status == 404)
      co_return make_error(prefix(step) + "build not found (404) at " + build_url(number));
    if (response->status >= 400)
      co_return make_error(common_failure(step, response->status, response->body));
    co_return Ok{};
  }

  std::string trigger_failure(std::string_view step, const CiRunRequest& request, int status,
                              std::string_view body) const {
    if ((status == 400 || status == 500) && mentions(body, "not parameterized")) {
      std::vector<std::string> names;
      for (const auto& [name, value] : merge_ci_inputs(config.parameters, request))
        names.push_back(name);
      std::string text = prefix(step) + "job " + config.job +
                         " takes no parameters ('This project is parameterized' is off)";
      if (!names.empty())
        text += "; add the parameters Shipmate sends: " + join(names, ", ");
      return text;
    }
    switch (status) {
      case 404:
        return prefix(step) + "job not found (404) at " + job_url +
               ": check the job's full name (folders separated by '/') and that user '" +
               config.user + "' can see it";
      case 405:
        return prefix(step) + job_url + " is not a job that can be built (405): is it a folder?";
      case 409:
        return prefix(step) + "job " + config.job + " is disabled or cannot be built now (409)";
      default:
        return common_failure(step, status, body);
    }
  }
};

Jenkins::Jenkins(net::HttpClient& http, JenkinsConfig config)
    : impl_(std::make_unique<Impl>(http, std::move(config))) {
  register_secret(impl_->config.api_token);
}

Jenkins::~Jenkins() = default;

const JenkinsConfig& Jenkins::config() const {
  return impl_->config;
}

Status Jenkins::validate() const {
  const JenkinsConfig& config = impl_->config;
  const std::string prefix = "Jenkins: ";
  if (!net::parse_url(config.url))
    return make_error(prefix + "url '" + config.url + "' is not an http(s) URL");
  if (jenkins_job_path(config.job).empty())
    return make_error(prefix + "no job set (its full name, folders separated by '/')");
  if (config.user.empty())
    return make_error(prefix + "no user set for job " + config.job);
  if (config.api_token.empty())
    return make_error(prefix + "no API token set for user '" + config.user + "'");
  for (const auto& [key, value] : config.parameters) {
    if (key.empty())
      return make_error(prefix + "a build parameter of job " + config.job + " has an empty name");
    const std::string unknown = unknown_ci_placeholder(value);
    if (!unknown.empty())
      return make_error(prefix + "parameter " + key + " uses the unknown placeholder " + unknown +
                        " (known: {version}, {environment}, {service}, {correlation_id})");
  }
  return Ok{};
}

boost::asio::awaitable<Result<CiRunHandle>> Jenkins::trigger(CiRunRequest request) {
  Impl& impl = *impl_;
  const std::string step = "trigger job " + impl.config.job;
  std::string body;
  for (const auto& [key, value] : merge_ci_inputs(impl.config.parameters, request)) {
    if (!body.empty())
      body += '&';
    body += net::form_encode(key) + "=" + net::form_encode(value);
  }
  net::ApiCall call;
  call.step = step;
  call.path = impl.job_path + "/buildWithParameters";
  call.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  call.body = std::move(body);
  call.idempotent = false;
  // 303: newer cores merge an identical request into the item already queued and point at it.
  call.pass_through = {302, 303, 400, 401, 404, 405, 409, 500};
  auto response = co_await impl.post(std::move(call), "Job/Build");
  if (!response)
    co_return response.error();
  if (response->status >= 400)
    co_return make_error(impl.trigger_failure(step, request, response->status, response->body));
  const auto queue_id = queue_id_from_location(response->header("Location"));
  if (!queue_id)
    co_return make_error(impl.prefix(step) +
                         "Jenkins queued the build but did not say where (no queue item in the "
                         "Location header)");

  // The build is queued: from here on the run exists, so trouble reading the queue hands back the
  // queue item for status() to follow rather than failing the trigger.
  CiRunHandle queued{"queue:" + std::to_string(*queue_id), impl.job_url};
  auto executor = co_await boost::asio::this_coro::executor;
  const auto deadline = std::chrono::steady_clock::now() + impl.config.queue_wait;
  for (;;) {
    auto item = co_await impl.read_queue_item(*queue_id);
    if (!item)
      co_return queued;
    if (item->cancelled)
      co_return make_error(impl.prefix(step) + "queue item " + std::to_string(*queue_id) +
                           " was cancelled before the build started");
    if (item->build)
      co_return CiRunHandle{"build:" + std::to_string(*item->build), impl.build_url(*item->build)};
    if (std::chrono::steady_clock::now() + impl.config.queue_poll > deadline)
      co_return queued;
    boost::asio::steady_timer timer(executor, impl.config.queue_poll);
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
}

boost::asio::awaitable<Result<CiRunStatus>> Jenkins::status(CiRunHandle handle) {
  Impl& impl = *impl_;
  const auto run = parse_run_id(handle.id);
  if (!run)
    co_return make_error(impl.prefix("read run of job " + impl.config.job) + "'" + handle.id +
                         "' is not a Jenkins run id (queue:<n> or build:<n>)");
  long long build = run->number;
  if (run->queued) {
    const auto known = impl.build_of_queue_item.find(run->number);
    if (known != impl.build_of_queue_item.end()) {
      build = known->second;
    } else {
      auto item = co_await impl.read_queue_item(run->number);
      if (!item)
        co_return item.error();
      if (item->cancelled)
        co_return CiRunStatus{
            CiRunState::cancelled,
            "queue item " + std::to_string(run->number) + " was cancelled before the build started",
            impl.job_url};
      if (!item->build)
        co_return CiRunStatus{CiRunState::queued, Impl::queue_detail(*item), impl.job_url};
      build = *item->build;
    }
  }
  auto status = co_await impl.build_status(build);
  co_return status;
}

boost::asio::awaitable<Result<std::string>> Jenkins::check_access() {
  Impl& impl = *impl_;
  net::ApiCall call;
  call.step = "read job " + impl.config.job;
  call.path = impl.job_path + "/api/json?tree=name";
  auto response = co_await impl.api.call(std::move(call));
  if (!response)
    co_return response.error();
  co_return "job " + impl.config.job;
}

boost::asio::awaitable<Status> Jenkins::cancel(CiRunHandle handle) {
  Impl& impl = *impl_;
  const auto run = parse_run_id(handle.id);
  if (!run)
    co_return make_error(impl.prefix("cancel run of job " + impl.config.job) + "'" + handle.id +
                         "' is not a Jenkins run id (queue:<n> or build:<n>)");
  if (!run->queued) {
    auto stopped = co_await impl.stop_build(run->number);
    co_return stopped;
  }
  const auto known = impl.build_of_queue_item.find(run->number);
  if (known != impl.build_of_queue_item.end()) {
    auto stopped = co_await impl.stop_build(known->second);
    co_return stopped;
  }
  const std::string step =
      "cancel queue item " + std::to_string(run->number) + " of job " + impl.config.job;
  net::ApiCall call;
  call.step = step;
  call.path = "/queue/cancelItem?id=" + std::to_string(run->number);
  call.idempotent = true;
  call.pass_through = {301, 302, 303, 401, 404};
  auto response = co_await impl.post(std::move(call), "Job/Cancel");
  if (!response)
    co_return response.error();
  if (response->status >= 400 && response->status != 404)
    co_return make_error(impl.common_failure(step, response->status, response->body));
  if (response->status != 404)
    co_return Ok{};
  // 404: the item left the queue in the meantime; if it became a build, stop that instead.
  auto item = co_await impl.read_queue_item(run->number);
  if (item && item->build) {
    auto stopped = co_await impl.stop_build(*item->build);
    co_return stopped;
  }
  co_return Ok{};
}

}  // namespace shipmate::integrations
