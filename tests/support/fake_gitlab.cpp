#include "tests/support/fake_gitlab.h"

#include <mutex>
#include <string_view>
#include <utility>

#include <boost/json.hpp>

namespace shipmate::testing {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<std::string> split_raw_path(std::string_view target) {
  target = target.substr(0, target.find('?'));
  std::vector<std::string> parts;
  while (!target.empty()) {
    const auto slash = target.find('/');
    if (slash != 0)
      parts.emplace_back(target.substr(0, slash));
    if (slash == std::string_view::npos)
      break;
    target.remove_prefix(slash + 1);
  }
  return parts;
}

// application/x-www-form-urlencoded body -> fields (the last value of a key wins).
std::map<std::string, std::string> parse_form(std::string_view body) {
  std::map<std::string, std::string> fields;
  while (!body.empty()) {
    const auto amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    const auto eq = pair.find('=');
    const std::string key = percent_decode(pair.substr(0, eq), true);
    if (!key.empty())
      fields[key] =
          eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1), true);
    if (amp == std::string_view::npos)
      break;
    body.remove_prefix(amp + 1);
  }
  return fields;
}

std::string iso_time(Clock::time_point) {
  return "2026-03-01T12:00:00.000Z";
}

FakeResponse message(int status, std::string text) {
  json::object body;
  body["message"] = std::move(text);
  return FakeResponse::json(status, json::serialize(body));
}

FakeResponse base_error(std::string text) {
  json::object body;
  body["message"] = json::object{{"base", json::array{json::value(std::move(text))}}};
  return FakeResponse::json(400, json::serialize(body));
}

}  // namespace

struct FakeGitlab::State {
  Options options;
  std::string base_url;  // set once the server is up

  mutable std::mutex mu;
  struct Record {
    Pipeline pipeline;
    Clock::time_point created;
    std::optional<JobFailure> failure;
    bool stuck = false;
    bool canceled = false;
  };
  std::map<long long, Record> pipelines;
  long long next_pipeline_id = 1001;
  long long next_job_id = 5001;
  std::optional<JobFailure> next_failure;
  bool stuck = false;
  int failures_left = 0;
  int failure_status = 500;

  std::string web_base() const { return base_url + "/" + options.project_path; }

  // Caller holds mu.
  std::string status_of(const Record& record) const {
    if (record.canceled)
      return "canceled";
    const auto elapsed = Clock::now() - record.created;
    const auto step = options.step;
    if (elapsed < step)
      return "created";
    if (record.stuck || elapsed < 2 * step)
      return "pending";
    if (elapsed < (2 + options.running_steps) * step)
      return "running";
    return record.failure ? "failed" : "success";
  }

  json::object pipeline_json(const Record& record) const {
    const Pipeline& p = record.pipeline;
    const std::string status = status_of(record);
    json::object out;
    out["id"] = p.id;
    out["iid"] = p.id - 1000;
    out["project_id"] = options.project_id;
    out["sha"] = "a91957a858320c0e17f3a0eca7cfacbff50ea29a";
    out["ref"] = p.ref;
    out["status"] = status;
    out["source"] = p.source;
    out["created_at"] = iso_time(record.created);
    out["updated_at"] = iso_time(record.created);
    out["web_url"] = web_base() + "/-/pipelines/" + std::to_string(p.id);
    out["before_sha"] = "0000000000000000000000000000000000000000";
    out["tag"] = false;
    out["yaml_errors"] = nullptr;
    out["user"] = json::object{{"id", 1}, {"username", "shipmate-bot"}, {"name", "Shipmate"}};
    out["started_at"] = status == "created" || status == "pending"
                            ? json::value(nullptr)
                            : json::value(iso_time(record.created));
    out["finished_at"] = nullptr;
    out["committed_at"] = nullptr;
    out["duration"] = nullptr;
    out["queued_duration"] = nullptr;
    out["coverage"] = nullptr;
    out["detailed_status"] = json::object{
        {"icon", "status_" + status}, {"text", status}, {"label", status}, {"group", status}};
    return out;
  }

  json::array jobs_json(const Record& record, bool failed_only) const {
    const std::string pipeline_status = status_of(record);
    struct JobSpec {
      std::string name, stage, status, failure_reason;
    };
    std::vector<JobSpec> specs;
    const bool failed = pipeline_status == "failed";
    specs.push_back(
        {"build", "build", pipeline_status == "success" || failed ? "success" : "running", ""});
    // A job allowed to fail comes first, so a client must look past it.
    specs.push_back(
        {"lint", "build", failed ? "failed" : "success", failed ? "script_failure" : ""});
    if (record.failure)
      specs.push_back({record.failure->name, record.failure->stage, failed ? "failed" : "created",
                       failed ? record.failure->failure_reason : ""});
    else
      specs.push_back(
          {"deploy", "deploy", pipeline_status == "success" ? "success" : "created", ""});
    json::array out;
    long long id = record.pipeline.id * 10;
    for (const JobSpec& spec : specs) {
      ++id;
      if (failed_only && spec.status != "failed")
        continue;
      json::object job;
      job["id"] = id;
      job["status"] = spec.status;
      job["stage"] = spec.stage;
      job["name"] = spec.name;
      job["ref"] = record.pipeline.ref;
      job["tag"] = false;
      job["coverage"] = nullptr;
      job["allow_failure"] = spec.name == "lint";
      job["created_at"] = iso_time(record.created);
      job["started_at"] = nullptr;
      job["finished_at"] = nullptr;
      job["duration"] = nullptr;
      job["queued_duration"] = nullptr;
      job["user"] = json::object{{"id", 1}, {"username", "shipmate-bot"}};
      job["pipeline"] = json::object{{"id", record.pipeline.id},
                                     {"project_id", options.project_id},
                                     {"ref", record.pipeline.ref},
                                     {"sha", "a91957a858320c0e17f3a0eca7cfacbff50ea29a"},
                                     {"status", pipeline_status}};
      job["web_url"] = web_base() + "/-/jobs/" + std::to_string(id);
      if (!spec.failure_reason.empty())
        job["failure_reason"] = spec.failure_reason;
      job["artifacts"] = json::array();
      job["runner"] = nullptr;
      job["tag_list"] = json::array();
      out.push_back(std::move(job));
    }
    return out;
  }

  enum class Access { none, read, write };
  Access access_of(const FakeRequest& request) const {
    std::string token = request.header("PRIVATE-TOKEN");
    const std::string authorization = request.header("Authorization");
    if (token.empty() && authorization.starts_with("Bearer "))
      token = authorization.substr(7);
    if (!token.empty() && token == options.private_token)
      return Access::write;
    if (!token.empty() && token == options.read_token)
      return Access::read;
    return Access::none;
  }

  static FakeResponse insufficient_scope() {
    json::object body{{"error", "insufficient_scope"},
                      {"error_description",
                       "The request requires higher privileges than provided by the access token."},
                      {"scope", "api"}};
    return FakeResponse::json(403, json::serialize(body));
  }

  // The fields of GET /projects/:id that clients read first (a real answer has many more).
  json::object project_json() const {
    const std::string path = options.project_path;
    const auto slash = path.rfind('/');
    const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    const std::string space = slash == std::string::npos ? std::string() : path.substr(0, slash);
    json::object out;
    out["id"] = options.project_id;
    out["name"] = name;
    out["path"] = name;
    out["path_with_namespace"] = path;
    out["name_with_namespace"] = path;
    out["default_branch"] = "main";
    out["visibility"] = "private";
    out["web_url"] = web_base();
    out["namespace"] = json::object{{"full_path", space}, {"kind", "group"}};
    out["archived"] = false;
    return out;
  }

  bool project_matches(const std::string& id) const {
    return id == std::to_string(options.project_id) || id == options.project_path;
  }

  // Caller holds mu.
  FakeResponse create(std::string ref, std::map<std::string, std::string> variables,
                      std::vector<std::string> types, std::string source) {
    if (ref.empty())
      return FakeResponse::json(400, R"({"error":"ref is missing"})");
    if (options.refs_without_jobs.count(ref))
      return base_error("No stages / jobs for this pipeline.");
    if (!options.refs.count(ref))
      return base_error("Reference not found");
    Record record;
    record.pipeline.id = next_pipeline_id++;
    record.pipeline.ref = std::move(ref);
    record.pipeline.source = std::move(source);
    record.pipeline.variables = std::move(variables);
    record.pipeline.variable_types = std::move(types);
    record.created = Clock::now();
    record.failure = std::exchange(next_failure, std::nullopt);
    record.stuck = stuck;
    const long long id = record.pipeline.id;
    pipelines[id] = std::move(record);
    return FakeResponse::json(201, json::serialize(pipeline_json(pipelines[id])));
  }

  // GitLab answers JSON as exactly "application/json" (python-gitlab compares the header with
  // that string and hands back the raw response for anything else).
  FakeResponse handle(const FakeRequest& request) {
    FakeResponse response = route(request);
    bool has_type = false;
    for (const auto& [name, value] : response.headers)
      has_type = has_type || name == "Content-Type";
    if (!has_type)
      response.headers.emplace_back("Content-Type", "application/json");
    return response;
  }

  FakeResponse route(const FakeRequest& request) {
    std::lock_guard lock(mu);
    if (failures_left > 0) {
      --failures_left;
      return message(failure_status, std::to_string(failure_status) +
                                         (failure_status == 500 ? " Internal Server Error"
                                                                : " Service Unavailable"));
    }
    const std::vector<std::string> parts = split_raw_path(request.target);
    // api / v4 / projects / :id / ...
    if (parts.size() < 4 || parts[0] != "api" || parts[1] != "v4" || parts[2] != "projects")
      return message(404, "404 Not Found");
    const std::string project = percent_decode(parts[3], false);
    const std::vector<std::string> rest(parts.begin() + 4, parts.end());

    if (request.method == "POST" && rest.size() == 2 && rest[0] == "trigger" &&
        rest[1] == "pipeline")
      return trigger(request, project);

    const Access access = access_of(request);
    if (access == Access::none)
      return message(401, "401 Unauthorized");
    if (!project_matches(project))
      return message(404, "404 Project Not Found");

    // The project itself: what a read-only check (shipmate doctor, python-gitlab's
    // projects.get) reads. read_api is enough.
    if (request.method == "GET" && rest.empty())
      return FakeResponse::json(200, json::serialize(project_json()));

    if (request.method == "POST" && rest.size() == 1 && rest[0] == "pipeline") {
      if (access != Access::write)
        return insufficient_scope();
      std::string ref;
      std::map<std::string, std::string> variables;
      std::vector<std::string> types;
      if (auto it = request.query.find("ref"); it != request.query.end())
        ref = it->second;
      if (!request.body.empty()) {
        boost::system::error_code ec;
        const json::value body = json::parse(request.body, ec);
        if (ec || !body.is_object())
          return message(400, "400 Bad request - body is not JSON");
        const json::object& object = body.as_object();
        if (const auto* r = object.if_contains("ref"); r && r->is_string())
          ref = std::string(r->as_string());
        if (const auto* list = object.if_contains("variables")) {
          if (!list->is_array())
            return FakeResponse::json(400, R"({"error":"variables is invalid"})");
          for (const json::value& item : list->as_array()) {
            const json::object* variable = item.if_object();
            if (!variable || !variable->contains("key") || !variable->at("key").is_string() ||
                !variable->contains("value") || !variable->at("value").is_string())
              return FakeResponse::json(400, R"({"message":{"variables.key":["can't be blank"]}})");
            variables[std::string(variable->at("key").as_string())] =
                std::string(variable->at("value").as_string());
            const json::value* type = variable->if_contains("variable_type");
            types.push_back(type && type->is_string() ? std::string(type->as_string()) : "");
          }
        }
      }
      return create(std::move(ref), std::move(variables), std::move(types), "api");
    }

    if (rest.size() >= 2 && rest[0] == "pipelines") {
      long long id = 0;
      try {
        id = std::stoll(rest[1]);
      } catch (const std::exception&) {
        return message(404, "404 Not found");
      }
      auto it = pipelines.find(id);
      if (it == pipelines.end())
        return message(404, "404 Not found");
      Record& record = it->second;
      if (request.method == "GET" && rest.size() == 2)
        return FakeResponse::json(200, json::serialize(pipeline_json(record)));
      if (request.method == "GET" && rest.size() == 3 && rest[2] == "jobs") {
        // GitLab takes the scope as a string or an array (scope=failed or scope[]=failed).
        auto scope = request.query.find("scope[]");
        if (scope == request.query.end())
          scope = request.query.find("scope");
        const bool failed_only = scope != request.query.end() && scope->second == "failed";
        return FakeResponse::json(200, json::serialize(jobs_json(record, failed_only)));
      }
      if (request.method == "POST" && rest.size() == 3 && rest[2] == "cancel") {
        if (access != Access::write)
          return insufficient_scope();
        const std::string status = status_of(record);
        if (status != "success" && status != "failed" && status != "canceled")
          record.canceled = true;
        return FakeResponse::json(201, json::serialize(pipeline_json(record)));
      }
    }
    return message(404, "404 Not Found");
  }

  // Caller holds mu.
  FakeResponse trigger(const FakeRequest& request, const std::string& project) {
    std::map<std::string, std::string> fields;
    std::map<std::string, std::string> variables;
    if (request.header("Content-Type").starts_with("application/json")) {
      boost::system::error_code ec;
      const json::value body = json::parse(request.body, ec);
      if (ec || !body.is_object())
        return message(400, "400 Bad request");
      for (const auto& [key, value] : body.as_object()) {
        if (key == "variables" && value.is_object()) {
          for (const auto& [name, v] : value.as_object()) {
            if (!v.is_string())
              return message(400, "variables needs to be a map of key-valued strings");
            variables[std::string(name)] = std::string(v.as_string());
          }
        } else if (value.is_string()) {
          fields[std::string(key)] = std::string(value.as_string());
        }
      }
    } else {
      for (auto& [key, value] : parse_form(request.body)) {
        if (key.starts_with("variables[") && key.ends_with("]"))
          variables[key.substr(10, key.size() - 11)] = value;
        else
          fields[key] = value;
      }
    }
    if (fields["token"].empty())
      return FakeResponse::json(400, R"({"error":"token is missing"})");
    if (fields["ref"].empty())
      return FakeResponse::json(400, R"({"error":"ref is missing"})");
    if (!project_matches(project) || fields["token"] != options.trigger_token)
      return message(404, "404 Not Found");
    return create(fields["ref"], std::move(variables), {}, "trigger");
  }
};

FakeGitlab::FakeGitlab() : FakeGitlab(Options{}) {}

FakeGitlab::FakeGitlab(Options options) : state_(std::make_shared<State>()) {
  state_->options = std::move(options);
  FakeHttpServer::Options server_options;
  server_options.tls = state_->options.tls;
  server_ = std::make_unique<FakeHttpServer>(
      [state = state_](const FakeRequest& request) { return state->handle(request); },
      server_options);
  std::lock_guard lock(state_->mu);
  state_->base_url = server_->base_url();
}

FakeGitlab::~FakeGitlab() {
  server_.reset();  // stops the handler thread before the state goes
}

std::string FakeGitlab::api_url() const {
  return server_->base_url() + "/api/v4";
}

std::string FakeGitlab::ca_path() const {
  return server_->ca_path();
}

const FakeGitlab::Options& FakeGitlab::options() const {
  return state_->options;
}

FakeHttpServer& FakeGitlab::server() {
  return *server_;
}

void FakeGitlab::fail_next_pipeline(JobFailure failure) {
  std::lock_guard lock(state_->mu);
  state_->next_failure = std::move(failure);
}

void FakeGitlab::release_stuck() {
  std::lock_guard lock(state_->mu);
  for (auto& [id, record] : state_->pipelines)
    record.stuck = false;
}

void FakeGitlab::set_stuck(bool stuck) {
  std::lock_guard lock(state_->mu);
  state_->stuck = stuck;
}

void FakeGitlab::fail_next_requests(int count, int status) {
  std::lock_guard lock(state_->mu);
  state_->failures_left = count;
  state_->failure_status = status;
}

std::vector<FakeGitlab::Pipeline> FakeGitlab::pipelines() const {
  std::lock_guard lock(state_->mu);
  std::vector<Pipeline> out;
  for (const auto& [id, record] : state_->pipelines) {
    Pipeline copy = record.pipeline;
    copy.status = state_->status_of(record);
    out.push_back(std::move(copy));
  }
  return out;
}

std::optional<FakeGitlab::Pipeline> FakeGitlab::pipeline(long long id) const {
  std::lock_guard lock(state_->mu);
  const auto it = state_->pipelines.find(id);
  if (it == state_->pipelines.end())
    return std::nullopt;
  Pipeline copy = it->second.pipeline;
  copy.status = state_->status_of(it->second);
  return copy;
}

}  // namespace shipmate::testing
