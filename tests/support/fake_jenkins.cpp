#include "tests/support/fake_jenkins.h"
#include "common/strings.h"

#include <cstdint>
#include <mutex>
#include <string_view>
#include <utility>

#include <boost/json.hpp>

namespace shipmate::testing {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

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

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  while (!path.empty()) {
    const auto slash = path.find('/');
    if (slash != 0)
      parts.emplace_back(path.substr(0, slash));
    if (slash == std::string_view::npos)
      break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

// Jenkins answers errors with Jetty/Stapler HTML pages.
FakeResponse html_error(int status, const std::string& reason, const std::string& detail = {}) {
  FakeResponse response;
  response.status = status;
  response.headers.emplace_back("Content-Type", "text/html;charset=utf-8");
  response.body =
      "<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=utf-8\"/>\n"
      "<title>Error " +
      std::to_string(status) + " " + reason + "</title>\n</head>\n<body><h2>HTTP ERROR " +
      std::to_string(status) + " " + reason + "</h2>\n" + detail +
      "<hr><a href=\"https://eclipse.org/jetty\">Powered by Jetty:// 10.0.20</a>"
      "<hr/>\n</body>\n</html>\n";
  return response;
}

long long epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct FakeJenkins::State {
  Options options;
  std::string reached_url;  // base_url + prefix, set once the server is up

  mutable std::mutex mu;
  struct Job {
    bool parameterized = true;
    long long next_build = 1;
  };
  std::map<std::string, Job> jobs;
  struct QueueItem {
    long long id = 0;
    std::string job;
    std::map<std::string, std::string> parameters;
    Clock::time_point queued;
    long long queued_epoch = 0;
    bool cancelled = false;
    bool cancel_when_due = false;
    std::optional<long long> build;
    bool forgotten = false;
  };
  std::map<long long, QueueItem> queue;
  long long next_queue_id = 101;
  struct BuildRecord {
    Build build;
    Clock::time_point started;
    long long started_epoch = 0;
    std::string injected_result;
    bool aborted = false;
  };
  std::map<std::pair<std::string, long long>, BuildRecord> builds;
  std::string next_result;
  bool held = false;
  std::string held_why;
  bool held_stuck = false;
  bool held_blocked = false;
  bool cancel_next = false;
  int failures_left = 0;
  int failure_status = 500;
  std::map<std::string, std::string> crumb_of_session;
  int crumbs_issued = 0;
  int queue_items_cancelled = 0;

  std::string root() const { return options.root_url.empty() ? reached_url : options.root_url; }
  static std::string job_path(const std::string& full_name) {
    std::string path;
    for (const std::string& name : split_path(full_name))
      path += "/job/" + name;
    return path;
  }
  std::string job_url(const std::string& job) const { return root() + job_path(job) + "/"; }
  std::string build_url(const std::string& job, long long number) const {
    return job_url(job) + std::to_string(number) + "/";
  }

  // Caller holds mu. GET /job/<...>/api/json: the job's fields, cut to `tree=a,b[...]` when the
  // request names some (Jenkins keeps `_class` and the named top-level fields only).
  json::object job_json(const std::string& full_name, const Job& job,
                        const FakeRequest& request) const {
    const auto names = split_path(full_name);
    json::object all;
    all["_class"] = job.parameterized ? "hudson.model.FreeStyleProject"
                                      : "org.jenkinsci.plugins.workflow.job.WorkflowJob";
    all["name"] = names.empty() ? full_name : names.back();
    all["fullName"] = full_name;
    all["displayName"] = all["name"];
    all["url"] = job_url(full_name);
    all["buildable"] = true;
    all["inQueue"] = false;
    all["nextBuildNumber"] = job.next_build;
    all["color"] = "blue";
    const auto tree = request.query.find("tree");
    if (tree == request.query.end())
      return all;
    json::object cut{{"_class", all["_class"]}};
    std::string field;
    int depth = 0;
    auto keep = [&] {
      if (!field.empty() && all.contains(field))
        cut[field] = all[field];
      field.clear();
    };
    for (const char c : tree->second) {
      if (c == '[' || c == '{')
        ++depth;
      else if (c == ']' || c == '}')
        --depth;
      else if (depth == 0 && c == ',')
        keep();
      else if (depth == 0)
        field += c;
    }
    keep();
    return cut;
  }

  // Caller holds mu. Moves queue items and builds along with the clock.
  void advance() {
    const auto now = Clock::now();
    for (auto& [id, item] : queue) {
      if (item.cancelled || item.build || now - item.queued < options.queue_delay)
        continue;
      if (item.cancel_when_due) {
        item.cancelled = true;
        continue;
      }
      if (held)
        continue;
      Job& job = jobs[item.job];
      BuildRecord record;
      record.build.job = item.job;
      record.build.number = job.next_build++;
      record.build.queue_id = id;
      record.build.parameters = item.parameters;
      record.started = now;
      record.started_epoch = epoch_ms();
      record.injected_result = std::exchange(next_result, std::string());
      item.build = record.build.number;
      builds[{item.job, record.build.number}] = std::move(record);
    }
    for (auto& [key, record] : builds) {
      if (!record.build.building && !record.build.result.empty())
        continue;
      if (record.aborted) {
        record.build.building = false;
        record.build.result = "ABORTED";
      } else if (now - record.started >= options.build_duration) {
        record.build.building = false;
        record.build.result =
            record.injected_result.empty() ? std::string("SUCCESS") : record.injected_result;
      } else {
        record.build.building = true;
      }
    }
  }

  json::object parameters_action(const std::map<std::string, std::string>& parameters) const {
    json::array list;
    for (const auto& [name, value] : parameters)
      list.push_back(json::object{
          {"_class", "hudson.model.StringParameterValue"}, {"name", name}, {"value", value}});
    return json::object{{"_class", "hudson.model.ParametersAction"}, {"parameters", list}};
  }

  json::object queue_json(const QueueItem& item) const {
    json::object out;
    const bool left = item.cancelled || item.build.has_value();
    const bool waiting_held = !left && held && Clock::now() - item.queued >= options.queue_delay;
    if (left)
      out["_class"] = "hudson.model.Queue$LeftItem";
    else if (waiting_held && held_blocked)
      out["_class"] = "hudson.model.Queue$BlockedItem";
    else if (waiting_held)
      out["_class"] = "hudson.model.Queue$BuildableItem";
    else
      out["_class"] = "hudson.model.Queue$WaitingItem";
    out["actions"] = json::array{parameters_action(item.parameters)};
    out["blocked"] = waiting_held && held_blocked;
    out["buildable"] = waiting_held && !held_blocked;
    out["id"] = item.id;
    out["inQueueSince"] = item.queued_epoch;
    std::string params;
    for (const auto& [name, value] : item.parameters)
      params += "\n" + name + "=" + value;
    out["params"] = params;
    out["stuck"] = waiting_held && held_stuck;
    const std::string name = split_path(item.job).back();
    out["task"] = json::object{{"_class", "hudson.model.FreeStyleProject"},
                               {"name", name},
                               {"url", job_url(item.job)},
                               {"color", "blue"}};
    out["url"] = "queue/item/" + std::to_string(item.id) + "/";
    if (left) {
      out["why"] = nullptr;
      out["cancelled"] = item.cancelled;
      if (item.build)
        out["executable"] = json::object{{"_class", "hudson.model.FreeStyleBuild"},
                                         {"number", *item.build},
                                         {"url", build_url(item.job, *item.build)}};
      else
        out["executable"] = nullptr;
    } else if (waiting_held) {
      out["why"] = held_why;
      out["buildableStartMilliseconds"] = item.queued_epoch;
      out["pending"] = false;
    } else {
      out["why"] = "In the quiet period. Expires in 0 ms";
      out["timestamp"] = item.queued_epoch;
    }
    return out;
  }

  json::object build_json(const BuildRecord& record) const {
    const Build& build = record.build;
    json::object out;
    out["_class"] = "hudson.model.FreeStyleBuild";
    out["actions"] = json::array{
        parameters_action(build.parameters),
        json::object{{"_class", "hudson.model.CauseAction"},
                     {"causes", json::array{json::object{
                                    {"_class", "hudson.model.Cause$UserIdCause"},
                                    {"shortDescription", "Started by user " + options.user},
                                    {"userId", options.user},
                                    {"userName", options.user}}}}}};
    out["artifacts"] = json::array();
    out["building"] = build.building;
    out["description"] = nullptr;
    out["displayName"] = "#" + std::to_string(build.number);
    out["duration"] = build.building ? 0 : static_cast<long long>(options.build_duration.count());
    out["estimatedDuration"] = static_cast<long long>(options.build_duration.count());
    out["executor"] = build.building
                          ? json::value(json::object{{"_class", "hudson.model.Executor"}})
                          : json::value(nullptr);
    std::string display;
    for (const std::string& name : split_path(build.job))
      display += (display.empty() ? "" : " » ") + name;
    out["fullDisplayName"] = display + " #" + std::to_string(build.number);
    out["id"] = std::to_string(build.number);
    out["keepLog"] = false;
    out["number"] = build.number;
    out["queueId"] = build.queue_id;
    out["result"] = build.result.empty() ? json::value(nullptr) : json::value(build.result);
    out["timestamp"] = record.started_epoch;
    out["url"] = build_url(build.job, build.number);
    out["builtOn"] = "";
    out["changeSet"] = json::object{
        {"_class", "hudson.scm.EmptyChangeLogSet"}, {"items", json::array()}, {"kind", nullptr}};
    return out;
  }

  // Caller holds mu.
  bool crumb_ok(const FakeRequest& request) const {
    const std::string crumb = request.header("Jenkins-Crumb");
    const std::string cookie = request.header("Cookie");
    if (crumb.empty())
      return false;
    for (const auto& [session, issued] : crumb_of_session)
      if (issued == crumb && cookie.find(session) != std::string::npos)
        return true;
    return false;
  }

  FakeResponse handle(const FakeRequest& request) {
    std::lock_guard lock(mu);
    if (failures_left > 0) {
      --failures_left;
      return html_error(failure_status,
                        failure_status == 500 ? "Server Error" : "Service Unavailable");
    }
    if (!request.path.starts_with(options.prefix + "/"))
      return html_error(404, "Not Found");
    const std::string authorization = request.header("Authorization");
    if (authorization.empty())
      return html_error(403, "Forbidden", "<p>Authentication required</p>");
    if (authorization != "Basic " + shipmate::base64_encode(options.user + ":" + options.api_token))
      return html_error(401, "Unauthorized",
                        "<p>Invalid password/token for user: " + options.user + "</p>");
    advance();
    const std::vector<std::string> parts =
        split_path(std::string_view(request.path).substr(options.prefix.size()));
    if (parts.empty())
      return html_error(404, "Not Found");

    if (request.method == "GET" &&
        parts == std::vector<std::string>{"crumbIssuer", "api", "json"}) {
      ++crumbs_issued;
      const std::string session = "node0s" + std::to_string(1000 + crumbs_issued) + "x";
      const std::string crumb = "c0ffee" + std::to_string(7919 * crumbs_issued) + "fade";
      crumb_of_session[session] = crumb;
      FakeResponse response = FakeResponse::json(
          200, json::serialize(json::object{{"_class", "hudson.security.csrf.DefaultCrumbIssuer"},
                                            {"crumb", crumb},
                                            {"crumbRequestField", "Jenkins-Crumb"}}));
      response.headers.emplace_back(
          "Set-Cookie", "JSESSIONID.4f2a9c1e=" + session + ".node0; Path=" +
                            (options.prefix.empty() ? std::string("/") : options.prefix + "/") +
                            "; HttpOnly");
      return response;
    }

    if (request.method == "POST" && options.require_crumb && !crumb_ok(request))
      return html_error(403, "No valid crumb was included in the request",
                        "<table><tr><th>URI:</th><td>" + request.path +
                            "</td></tr><tr><th>STATUS:</th><td>403</td></tr></table>");

    if (parts[0] == "queue") {
      if (request.method == "POST" && parts.size() == 2 && parts[1] == "cancelItem") {
        const auto id_field = request.query.find("id");
        if (id_field == request.query.end())
          return html_error(400, "Bad Request");
        const auto it = queue.find(std::stoll(id_field->second));
        if (it == queue.end() || it->second.build || it->second.cancelled)
          return FakeResponse::text(404, "");
        it->second.cancelled = true;
        ++queue_items_cancelled;
        return FakeResponse::text(204, "");
      }
      if (request.method == "GET" && parts.size() == 5 && parts[1] == "item" && parts[3] == "api" &&
          parts[4] == "json") {
        long long id = 0;
        try {
          id = std::stoll(parts[2]);
        } catch (const std::exception&) {
          return html_error(404, "Not Found");
        }
        const auto it = queue.find(id);
        if (it == queue.end() || it->second.forgotten)
          return html_error(404, "Not Found");
        return FakeResponse::json(200, json::serialize(queue_json(it->second)));
      }
      return html_error(404, "Not Found");
    }

    // /job/a/job/b/<rest...>
    std::string job;
    std::size_t i = 0;
    while (i + 1 < parts.size() && parts[i] == "job") {
      job += (job.empty() ? "" : "/") + parts[i + 1];
      i += 2;
    }
    const std::vector<std::string> rest(parts.begin() + static_cast<long>(i), parts.end());
    const auto job_it = jobs.find(job);
    if (job.empty() || job_it == jobs.end())
      return html_error(404, "Not Found");

    // The job's own page as JSON: what a read-only check (shipmate doctor's ?tree=name,
    // python-jenkins' get_job_name and get_job_info) reads.
    if (request.method == "GET" && rest == std::vector<std::string>{"api", "json"})
      return FakeResponse::json(200, json::serialize(job_json(job, job_it->second, request)));

    if (request.method == "POST" && rest == std::vector<std::string>{"buildWithParameters"}) {
      if (!job_it->second.parameterized) {
        if (options.polite_not_parameterized)
          return html_error(400, "Bad Request",
                            "<p>This build is not parameterized! Use /build instead.</p>");
        return html_error(500, "Server Error",
                          "<pre>java.lang.IllegalStateException: This build is not parameterized!\n"
                          "\tat jenkins.model.ParameterizedJobMixIn.doBuildWithParameters"
                          "(ParameterizedJobMixIn.java:246)\n</pre>");
      }
      std::map<std::string, std::string> parameters = request.query;
      for (auto& [key, value] : parse_form(request.body))
        parameters[key] = value;
      QueueItem item;
      item.id = next_queue_id++;
      item.job = job;
      item.parameters = std::move(parameters);
      item.queued = Clock::now();
      item.queued_epoch = epoch_ms();
      item.cancel_when_due = std::exchange(cancel_next, false);
      const long long id = item.id;
      queue[id] = std::move(item);
      FakeResponse response = FakeResponse::text(201, "");
      response.headers.emplace_back("Location", root() + "/queue/item/" + std::to_string(id) + "/");
      return response;
    }

    if (!rest.empty()) {
      long long number = 0;
      try {
        number = std::stoll(rest[0]);
      } catch (const std::exception&) {
        return html_error(404, "Not Found");
      }
      const auto build = builds.find({job, number});
      if (build == builds.end())
        return html_error(404, "Not Found");
      // The build's page, where Jenkins' 302 after /stop leads (python-jenkins follows it).
      if (request.method == "GET" && rest.size() == 1) {
        FakeResponse page = FakeResponse::text(
            200, "<html><body><h1>" + job + " #" + rest[0] + "</h1></body></html>");
        page.headers = {{"Content-Type", "text/html;charset=utf-8"}};
        return page;
      }
      if (request.method == "GET" && rest.size() == 3 && rest[1] == "api" && rest[2] == "json")
        return FakeResponse::json(200, json::serialize(build_json(build->second)));
      if (request.method == "POST" && rest.size() == 2 && rest[1] == "stop") {
        if (build->second.build.building)
          build->second.aborted = true;
        advance();
        FakeResponse response = FakeResponse::text(302, "");
        response.headers.emplace_back("Location", build_url(job, number));
        return response;
      }
    }
    return html_error(404, "Not Found");
  }
};

FakeJenkins::FakeJenkins() : FakeJenkins(Options{}) {}

FakeJenkins::FakeJenkins(Options options) : state_(std::make_shared<State>()) {
  state_->options = std::move(options);
  FakeHttpServer::Options server_options;
  server_options.tls = state_->options.tls;
  server_ = std::make_unique<FakeHttpServer>(
      [state = state_](const FakeRequest& request) { return state->handle(request); },
      server_options);
  std::lock_guard lock(state_->mu);
  state_->reached_url = server_->base_url() + state_->options.prefix;
}

FakeJenkins::~FakeJenkins() {
  server_.reset();  // stops the handler thread before the state goes
}

std::string FakeJenkins::url() const {
  return server_->base_url() + state_->options.prefix;
}

std::string FakeJenkins::ca_path() const {
  return server_->ca_path();
}

const FakeJenkins::Options& FakeJenkins::options() const {
  return state_->options;
}

FakeHttpServer& FakeJenkins::server() {
  return *server_;
}

void FakeJenkins::add_job(const std::string& full_name, bool parameterized, long long next_build) {
  std::lock_guard lock(state_->mu);
  state_->jobs[full_name] = State::Job{parameterized, next_build};
}

void FakeJenkins::set_next_result(std::string result) {
  std::lock_guard lock(state_->mu);
  state_->next_result = std::move(result);
}

void FakeJenkins::hold_queue(std::string why, bool stuck, bool blocked) {
  std::lock_guard lock(state_->mu);
  state_->held = true;
  state_->held_why = std::move(why);
  state_->held_stuck = stuck;
  state_->held_blocked = blocked;
}

void FakeJenkins::release_queue() {
  std::lock_guard lock(state_->mu);
  state_->held = false;
}

void FakeJenkins::cancel_next_queue_item() {
  std::lock_guard lock(state_->mu);
  state_->cancel_next = true;
}

void FakeJenkins::forget_queue_items() {
  std::lock_guard lock(state_->mu);
  for (auto& [id, item] : state_->queue)
    item.forgotten = true;
}

void FakeJenkins::fail_next_requests(int count, int status) {
  std::lock_guard lock(state_->mu);
  state_->failures_left = count;
  state_->failure_status = status;
}

std::vector<FakeJenkins::Build> FakeJenkins::builds() const {
  std::lock_guard lock(state_->mu);
  state_->advance();
  std::vector<Build> out;
  for (const auto& [key, record] : state_->builds)
    out.push_back(record.build);
  return out;
}

int FakeJenkins::crumbs_issued() const {
  std::lock_guard lock(state_->mu);
  return state_->crumbs_issued;
}

int FakeJenkins::queue_items_cancelled() const {
  std::lock_guard lock(state_->mu);
  return state_->queue_items_cancelled;
}

}  // namespace shipmate::testing
