#include "tests/support/fake_teams.h"

#include <boost/json.hpp>

#include <deque>
#include <map>
#include <thread>

namespace shipmate::testing {
namespace json = boost::json;

struct FakeTeamsConnector::State {
  mutable std::mutex mutex;
  std::string expected_token;
  std::deque<Failure> failures;
  std::vector<ConnectorActivity> activities;  // in creation order
  std::map<std::string, std::size_t> by_id;
  std::vector<ConnectorCall> calls;
  long long next_id = 1700000000000;
  std::function<void(const ConnectorActivity&)> on_activity;

  FakeResponse handle(const FakeRequest& request) {
    std::lock_guard lock(mutex);
    ConnectorCall call{request.method, {}, {}, 0, request.header("Authorization")};
    auto answer = [&](FakeResponse response) {
      call.status = response.status;
      calls.push_back(call);
      return response;
    };
    // /v3/conversations/{id}/activities[/{activityId}]
    constexpr std::string_view kPrefix = "/v3/conversations/";
    const std::string& path = request.path;
    if (!path.starts_with(kPrefix))
      return answer(FakeResponse::json(404, R"({"error":{"code":"NotFound"}})"));
    const std::string rest = path.substr(kPrefix.size());
    const auto marker = rest.find("/activities");
    if (marker == std::string::npos)
      return answer(FakeResponse::json(404, R"({"error":{"code":"NotFound"}})"));
    call.conversation_id = rest.substr(0, marker);
    std::string tail = rest.substr(marker + 11);
    if (!tail.empty() && tail.front() == '/')
      tail.erase(0, 1);
    call.activity_id = tail;

    if (!expected_token.empty() && call.authorization != "Bearer " + expected_token)
      return answer(FakeResponse::json(
          401, R"({"message":"Authorization has been denied for this request."})"));
    if (!failures.empty()) {
      const Failure failure = failures.front();
      failures.pop_front();
      FakeResponse response = FakeResponse::json(
          failure.status, R"({"error":{"code":"Throttled","message":"scripted failure"}})");
      if (!failure.retry_after.empty())
        response.headers.emplace_back("Retry-After", failure.retry_after);
      return answer(std::move(response));
    }

    if (request.method == "DELETE") {
      auto found = by_id.find(call.activity_id);
      if (found == by_id.end() || activities[found->second].deleted)
        return answer(FakeResponse::json(404, R"({"error":{"code":"ActivityNotFound"}})"));
      activities[found->second].deleted = true;
      return answer(FakeResponse::json(200, "{}"));
    }
    json::error_code error;
    const json::value body = json::parse(request.body, error);
    if (error || !body.is_object() || !body.as_object().contains("type"))
      return answer(FakeResponse::json(
          400, R"({"error":{"code":"BadArgument","message":"Activity is not valid"}})"));
    if (request.method == "PUT") {
      auto found = by_id.find(call.activity_id);
      if (call.activity_id.empty() || found == by_id.end() || activities[found->second].deleted)
        return answer(FakeResponse::json(404, R"({"error":{"code":"ActivityNotFound"}})"));
      activities[found->second].versions.push_back(request.body);
      return answer(FakeResponse::json(200, "{\"id\":\"" + call.activity_id + "\"}"));
    }
    if (request.method != "POST")
      return answer(FakeResponse::json(405, R"({"error":{"code":"MethodNotAllowed"}})"));
    ConnectorActivity created;
    created.id = std::to_string(next_id++);
    created.conversation_id = call.conversation_id;
    created.reply_to_id = call.activity_id;
    created.versions.push_back(request.body);
    by_id[created.id] = activities.size();
    activities.push_back(created);
    if (on_activity)
      on_activity(activities.back());
    return answer(FakeResponse::json(201, "{\"id\":\"" + created.id + "\"}"));
  }
};

FakeTeamsConnector::FakeTeamsConnector(bool tls) : state_(std::make_shared<State>()) {
  FakeHttpServer::Options options;
  options.tls = tls;
  server_ = std::make_unique<FakeHttpServer>(
      [state = state_](const FakeRequest& request) { return state->handle(request); }, options);
}

FakeTeamsConnector::~FakeTeamsConnector() = default;

std::string FakeTeamsConnector::service_url() const {
  return server_->base_url() + "/";
}
std::string FakeTeamsConnector::ca_path() const {
  return server_->ca_path();
}

void FakeTeamsConnector::expect_token(std::string token) {
  std::lock_guard lock(state_->mutex);
  state_->expected_token = std::move(token);
}

void FakeTeamsConnector::fail_next(std::vector<Failure> failures) {
  std::lock_guard lock(state_->mutex);
  for (auto& failure : failures)
    state_->failures.push_back(std::move(failure));
}

void FakeTeamsConnector::on_activity(std::function<void(const ConnectorActivity&)> callback) {
  std::lock_guard lock(state_->mutex);
  state_->on_activity = std::move(callback);
}

std::vector<ConnectorActivity> FakeTeamsConnector::activities() const {
  std::lock_guard lock(state_->mutex);
  return state_->activities;
}

std::vector<ConnectorActivity> FakeTeamsConnector::activities_in(
    const std::string& conversation_id) const {
  std::lock_guard lock(state_->mutex);
  std::vector<ConnectorActivity> found;
  for (const auto& activity : state_->activities)
    if (activity.conversation_id == conversation_id)
      found.push_back(activity);
  return found;
}

std::optional<ConnectorActivity> FakeTeamsConnector::activity(const std::string& id) const {
  std::lock_guard lock(state_->mutex);
  auto found = state_->by_id.find(id);
  if (found == state_->by_id.end())
    return std::nullopt;
  return state_->activities[found->second];
}

std::vector<ConnectorCall> FakeTeamsConnector::calls() const {
  std::lock_guard lock(state_->mutex);
  return state_->calls;
}

std::size_t FakeTeamsConnector::call_count() const {
  std::lock_guard lock(state_->mutex);
  return state_->calls.size();
}

bool FakeTeamsConnector::wait_for(const std::function<bool()>& done,
                                  std::chrono::milliseconds limit) const {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

FakeHttpServer& FakeTeamsConnector::server() {
  return *server_;
}

}  // namespace shipmate::testing
