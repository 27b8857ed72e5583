#include "integrations/ci/gitlab_ci.h"

#include <algorithm>
#include <charconv>
#include <utility>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "common/redact.h"
#include "common/strings.h"

namespace shipmate::integrations {

namespace json = boost::json;

namespace {

constexpr std::string_view kService = "GitLab";

bool unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    if (unreserved(c)) {
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

bool is_number(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<json::value> parse_json(std::string_view body) {
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec)
    return std::nullopt;
  return value;
}

std::string json_text(const json::value& value) {
  if (value.is_string())
    return std::string(value.as_string());
  if (value.is_int64())
    return std::to_string(value.as_int64());
  if (value.is_uint64())
    return std::to_string(value.as_uint64());
  if (value.is_null())
    return {};
  return json::serialize(value);
}

std::string field_text(const json::object& object, std::string_view key) {
  const json::value* field = object.if_contains(key);
  return field ? json_text(*field) : std::string();
}

// GitLab's error bodies: {"message":"404 Project Not Found"}, {"message":{"base":["Reference not
// found"]}}, {"message":{"ref":["is invalid"]}}, {"error":"ref is missing"}.
std::string gitlab_message(std::string_view body) {
  const auto value = parse_json(body);
  if (!value || !value->is_object())
    return {};
  const json::object& object = value->as_object();
  if (const json::value* message = object.if_contains("message")) {
    if (message->is_string())
      return std::string(message->as_string());
    std::vector<std::string> parts;
    const auto add_list = [&](std::string_view key, const json::value& list) {
      std::string prefix = key.empty() || key == "base" ? std::string() : std::string(key) + " ";
      if (list.is_array()) {
        for (const json::value& item : list.as_array())
          parts.push_back(prefix + json_text(item));
      } else {
        parts.push_back(prefix + json_text(list));
      }
    };
    if (message->is_object()) {
      for (const auto& [key, list] : message->as_object())
        add_list(key, list);
    } else {
      add_list("", *message);
    }
    return join(parts, "; ");
  }
  for (const char* key : {"error_description", "error"}) {
    const std::string text = field_text(object, key);
    if (!text.empty())
      return text;
  }
  return {};
}

std::string with_message(std::string text, std::string_view body) {
  const std::string message = gitlab_message(body);
  if (!message.empty())
    text += ": " + message;
  return text;
}

bool contains_ci(std::string_view text, std::string_view needle) {
  return to_lower(text).find(to_lower(needle)) != std::string::npos;
}

std::string humanize(std::string_view snake) {
  std::string out(snake);
  std::replace(out.begin(), out.end(), '_', ' ');
  return out;
}

std::string trim_trailing_slashes(std::string text) {
  while (!text.empty() && text.back() == '/')
    text.pop_back();
  return text;
}

}  // namespace

std::optional<GitlabTokenKind> parse_gitlab_token_kind(std::string_view text) {
  if (text == "private")
    return GitlabTokenKind::private_token;
  if (text == "trigger")
    return GitlabTokenKind::trigger;
  return std::nullopt;
}

std::string gitlab_project_segment(std::string_view project) {
  return is_number(project) ? std::string(project) : percent_encode(project);
}

struct GitlabCi::Impl {
  GitlabCiConfig config;
  // Reads, cancels and (private-token mode) creates pipelines.
  net::ApiClient api;
  // The trigger endpoint authenticates with the form field alone; no header token rides along.
  net::ApiClient anonymous;
  std::string project_path;  // "/projects/<segment>"

  Impl(net::HttpClient& http, GitlabCiConfig config_in)
      : config(std::move(config_in)),
        api(http, options(config, true)),
        anonymous(http, options(config, false)),
        project_path("/projects/" + gitlab_project_segment(config.project)) {}

  static net::ApiClientOptions options(const GitlabCiConfig& config, bool with_token) {
    net::ApiClientOptions options;
    options.service = std::string(kService);
    options.base_url = trim_trailing_slashes(config.api_url);
    options.retry = config.retry;
    options.timeout = config.timeout;
    options.default_headers.emplace_back("Accept", "application/json");
    const std::string& token =
        config.token_kind == GitlabTokenKind::trigger ? config.read_token : config.token;
    if (with_token && !token.empty())
      options.default_headers.emplace_back("PRIVATE-TOKEN", token);
    return options;
  }

  bool trigger_mode() const { return config.token_kind == GitlabTokenKind::trigger; }

  std::string error_prefix(std::string_view step) const {
    return std::string(kService) + ": " + std::string(step) + ": ";
  }

  // Why a pipeline could not be created, in words that point at the fix.
  std::string create_failure(std::string_view step, int status, std::string_view body,
                             const std::string& ref) const {
    const std::string message = gitlab_message(body);
    const std::string prefix = error_prefix(step);
    switch (status) {
      case 400:
        if (contains_ci(message, "reference not found"))
          return prefix + "ref '" + ref + "' does not exist in " + config.project +
                 " (400: " + message + ")";
        if (contains_ci(message, "no stages / jobs"))
          return prefix + "no job would run on ref '" + ref +
                 "': check the rules of .gitlab-ci.yml for this ref (400: " + message + ")";
        if (contains_ci(message, "missing") && contains_ci(message, ".gitlab-ci.yml"))
          return prefix + "ref '" + ref + "' has no .gitlab-ci.yml (400: " + message + ")";
        return with_message(prefix + "GitLab refused a pipeline on ref '" + ref + "' (400)", body);
      case 401:
        return with_message(prefix +
                                "credentials rejected (401): the token is invalid, expired or "
                                "revoked",
                            body);
      case 403:
        if (trigger_mode())
          return with_message(prefix +
                                  "forbidden (403): the trigger token's owner may not run "
                                  "pipelines on ref '" +
                                  ref + "' (protected ref?)",
                              body);
        return with_message(prefix +
                                "forbidden (403): the token lacks the api scope, or its user "
                                "may not run pipelines on ref '" +
                                ref + "' (protected ref?)",
                            body);
      case 404:
        if (trigger_mode())
          return with_message(prefix + "project '" + config.project +
                                  "' not found, or the trigger token is not valid for it (404)",
                              body);
        return with_message(
            prefix + "project '" + config.project + "' not found, or the token cannot see it (404)",
            body);
      default:
        return prefix + net::describe_http_failure(status, body);
    }
  }

  // Why a pipeline could not be read or cancelled.
  std::string read_failure(std::string_view step, int status, std::string_view body,
                           std::string_view pipeline_id, std::string_view scope) const {
    std::string text = error_prefix(step);
    switch (status) {
      case 401:
        text += "credentials rejected (401)";
        break;
      case 403:
        text += "forbidden (403): the token lacks the " + std::string(scope) + " scope";
        break;
      case 404:
        text += "pipeline " + std::string(pipeline_id) + " of project '" + config.project +
                "' not found (404)";
        break;
      default:
        return text + net::describe_http_failure(status, body);
    }
    text = with_message(std::move(text), body);
    if (trigger_mode() && config.read_token.empty())
      text += " (a trigger token cannot read pipelines: set read_token)";
    return text;
  }

  Result<CiRunHandle> handle_from_pipeline(std::string_view step, std::string_view body) const {
    const auto value = parse_json(body);
    if (!value || !value->is_object() || !value->as_object().contains("id"))
      return make_error(error_prefix(step) + "GitLab's answer names no pipeline");
    const json::object& pipeline = value->as_object();
    return CiRunHandle{json_text(pipeline.at("id")), field_text(pipeline, "web_url")};
  }

  boost::asio::awaitable<Result<CiRunHandle>> create(const CiRunRequest& request,
                                                     const std::string& ref) {
    const std::string step = "create pipeline for " + config.project + " on " + ref;
    json::object body;
    body["ref"] = ref;
    json::array variables;
    for (const auto& [key, value] : merge_ci_inputs(config.variables, request)) {
      json::object variable;
      variable["key"] = key;
      variable["value"] = value;
      variable["variable_type"] = "env_var";
      variables.push_back(std::move(variable));
    }
    body["variables"] = std::move(variables);
    net::ApiCall call;
    call.step = step;
    call.method = "POST";
    call.path = project_path + "/pipeline";
    call.headers.emplace_back("Content-Type", "application/json");
    call.body = json::serialize(body);
    call.idempotent = false;
    call.pass_through = {400, 401, 403, 404};
    auto response = co_await api.call(std::move(call));
    if (!response)
      co_return response.error();
    if (response->status >= 300)
      co_return make_error(create_failure(step, response->status, response->body, ref));
    co_return handle_from_pipeline(step, response->body);
  }

  boost::asio::awaitable<Result<CiRunHandle>> trigger_with_token(const CiRunRequest& request,
                                                                 const std::string& ref) {
    const std::string step = "trigger pipeline for " + config.project + " on " + ref;
    std::string body = "token=" + net::form_encode(config.token) + "&ref=" + net::form_encode(ref);
    for (const auto& [key, value] : merge_ci_inputs(config.variables, request))
      body += "&" + net::form_encode("variables[" + key + "]") + "=" + net::form_encode(value);
    net::ApiCall call;
    call.step = step;
    call.method = "POST";
    call.path = project_path + "/trigger/pipeline";
    call.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    call.body = std::move(body);
    call.idempotent = false;
    call.pass_through = {400, 401, 403, 404};
    auto response = co_await anonymous.call(std::move(call));
    if (!response)
      co_return response.error();
    if (response->status >= 300)
      co_return make_error(create_failure(step, response->status, response->body, ref));
    co_return handle_from_pipeline(step, response->body);
  }

  // "job deploy (stage deploy) failed: script failure", with the job's log as the url. Best
  // effort: when the jobs cannot be listed the pipeline still reads as failed.
  boost::asio::awaitable<void> describe_failed_job(const std::string& pipeline_id,
                                                   CiRunStatus& status) {
    net::ApiCall call;
    call.step = "list failed jobs of pipeline " + pipeline_id;
    call.path =
        project_path + "/pipelines/" + pipeline_id + "/jobs?scope%5B%5D=failed&per_page=100";
    auto response = co_await api.call(std::move(call));
    if (!response)
      co_return;
    const auto value = parse_json(response->body);
    if (!value || !value->is_array())
      co_return;
    // A job allowed to fail did not fail the pipeline: name one only when nothing else failed.
    const json::object* chosen = nullptr;
    for (const json::value& job : value->as_array()) {
      if (!job.is_object())
        continue;
      const json::value* allowed = job.as_object().if_contains("allow_failure");
      const bool allow_failure = allowed && allowed->is_bool() && allowed->as_bool();
      if (!allow_failure) {
        chosen = &job.as_object();
        break;
      }
      if (!chosen)
        chosen = &job.as_object();
    }
    if (!chosen)
      co_return;
    std::string detail = "job " + field_text(*chosen, "name");
    const std::string stage = field_text(*chosen, "stage");
    if (!stage.empty())
      detail += " (stage " + stage + ")";
    detail += " failed";
    const std::string reason = field_text(*chosen, "failure_reason");
    if (!reason.empty())
      detail += ": " + humanize(reason);
    status.detail = std::move(detail);
    const std::string url = field_text(*chosen, "web_url");
    if (!url.empty())
      status.url = url;
  }
};

GitlabCi::GitlabCi(net::HttpClient& http, GitlabCiConfig config)
    : impl_(std::make_unique<Impl>(http, std::move(config))) {
  register_secret(impl_->config.token);
  register_secret(impl_->config.read_token);
}

GitlabCi::~GitlabCi() = default;

const GitlabCiConfig& GitlabCi::config() const {
  return impl_->config;
}

Status GitlabCi::validate() const {
  const GitlabCiConfig& config = impl_->config;
  const std::string prefix = "GitLab: ";
  if (!net::parse_url(config.api_url))
    return make_error(prefix + "api_url '" + config.api_url + "' is not an http(s) URL");
  if (config.project.empty())
    return make_error(prefix + "no project set (a numeric id or a path like group/project)");
  if (config.project.front() == '/' || config.project.back() == '/')
    return make_error(prefix + "project '" + config.project +
                      "' must be a path like group/project, without leading or trailing '/'");
  if (config.ref.empty())
    return make_error(prefix + "no ref set for project " + config.project);
  if (config.token.empty())
    return make_error(prefix +
                      (config.token_kind == GitlabTokenKind::trigger
                           ? "no trigger token set for project "
                           : "no access token set for project ") +
                      config.project);
  for (const auto& [key, value] : config.variables) {
    if (key.empty())
      return make_error(prefix + "a pipeline variable of project " + config.project +
                        " has an empty name");
    const std::string unknown = unknown_ci_placeholder(value);
    if (!unknown.empty())
      return make_error(prefix + "variable " + key + " uses the unknown placeholder " + unknown +
                        " (known: {version}, {environment}, {service}, {correlation_id})");
  }
  return Ok{};
}

boost::asio::awaitable<Result<CiRunHandle>> GitlabCi::trigger(CiRunRequest request) {
  const std::string ref = request.ref.empty() ? impl_->config.ref : request.ref;
  if (impl_->trigger_mode()) {
    auto handle = co_await impl_->trigger_with_token(request, ref);
    co_return handle;
  }
  auto handle = co_await impl_->create(request, ref);
  co_return handle;
}

boost::asio::awaitable<Result<CiRunStatus>> GitlabCi::status(CiRunHandle handle) {
  const std::string step = "read pipeline " + handle.id + " of " + impl_->config.project;
  if (!is_number(handle.id))
    co_return make_error(impl_->error_prefix(step) + "'" + handle.id + "' is not a pipeline id");
  net::ApiCall call;
  call.step = step;
  call.path = impl_->project_path + "/pipelines/" + handle.id;
  call.pass_through = {401, 403, 404};
  auto response = co_await impl_->api.call(std::move(call));
  if (!response)
    co_return response.error();
  if (response->status >= 300)
    co_return make_error(
        impl_->read_failure(step, response->status, response->body, handle.id, "read_api"));
  const auto value = parse_json(response->body);
  if (!value || !value->is_object())
    co_return make_error(impl_->error_prefix(step) + "GitLab's answer is not a pipeline");
  const json::object& pipeline = value->as_object();
  const std::string state = field_text(pipeline, "status");

  CiRunStatus status;
  status.url = field_text(pipeline, "web_url");
  if (status.url.empty())
    status.url = handle.url;
  if (state == "created" || state == "pending" || state == "preparing" ||
      state == "waiting_for_resource") {
    status.state = CiRunState::queued;
    status.detail = humanize(state);
  } else if (state == "scheduled") {
    status.state = CiRunState::queued;
    status.detail = "scheduled: waiting for a delayed job";
  } else if (state == "running") {
    status.state = CiRunState::running;
    status.detail = "running";
  } else if (state == "manual") {
    // Not finished: someone may still play the manual job, and the deadline bounds the wait.
    status.state = CiRunState::running;
    status.detail = "blocked: waiting for a manual job to be started";
  } else if (state == "success") {
    status.state = CiRunState::succeeded;
    status.detail = "pipeline " + handle.id + " passed";
  } else if (state == "failed") {
    status.state = CiRunState::failed;
    status.detail = "pipeline " + handle.id + " failed";
    co_await impl_->describe_failed_job(handle.id, status);
  } else if (state == "canceled") {
    status.state = CiRunState::cancelled;
    status.detail = "pipeline " + handle.id + " was canceled";
  } else if (state == "skipped") {
    status.state = CiRunState::failed;
    status.detail = "pipeline " + handle.id + " was skipped: no job ran";
  } else {
    // Newer states ("canceling", "waiting_for_callback") are transitions, not endings.
    status.state = CiRunState::running;
    status.detail = state.empty() ? std::string("status unknown") : humanize(state);
  }
  co_return status;
}

boost::asio::awaitable<Result<std::string>> GitlabCi::check_access() {
  net::ApiCall call;
  call.step = "read project " + impl_->config.project;
  call.path = impl_->project_path;
  auto response = co_await impl_->api.call(std::move(call));
  if (!response)
    co_return response.error();
  co_return "project " + impl_->config.project;
}

boost::asio::awaitable<Status> GitlabCi::cancel(CiRunHandle handle) {
  const std::string step = "cancel pipeline " + handle.id + " of " + impl_->config.project;
  if (!is_number(handle.id))
    co_return make_error(impl_->error_prefix(step) + "'" + handle.id + "' is not a pipeline id");
  net::ApiCall call;
  call.step = step;
  call.method = "POST";
  call.path = impl_->project_path + "/pipelines/" + handle.id + "/cancel";
  // Cancelling twice is harmless, so a lost answer may be asked again.
  call.idempotent = true;
  call.pass_through = {401, 403, 404};
  auto response = co_await impl_->api.call(std::move(call));
  if (!response)
    co_return response.error();
  if (response->status >= 300)
    co_return make_error(
        impl_->read_failure(step, response->status, response->body, handle.id, "api"));
  co_return Ok{};
}

}  // namespace shipmate::integrations
