#include "tests/support/fake_prometheus.h"
#include "common/strings.h"

#include <openssl/evp.h>

#include <mutex>
#include <utility>

#include <boost/json.hpp>

namespace shipmate::testing {

namespace json = boost::json;

namespace {

std::map<std::string, std::string> parse_form(std::string_view body) {
  std::map<std::string, std::string> fields;
  while (!body.empty()) {
    const auto amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    const auto eq = pair.find('=');
    if (eq != std::string_view::npos)
      fields[percent_decode(pair.substr(0, eq), true)] = percent_decode(pair.substr(eq + 1), true);
    if (amp == std::string_view::npos)
      break;
    body.remove_prefix(amp + 1);
  }
  return fields;
}

json::value sample_pair(double time, const std::string& value) {
  return json::array{time, value};
}

json::object labels_of(const FakePrometheus::Sample& sample) {
  json::object metric;
  for (const auto& [key, value] : sample.labels)
    metric[key] = value;
  return metric;
}

FakeResponse envelope_error(int status, const std::string& type, const std::string& error) {
  return FakeResponse::json(
      status,
      json::serialize(json::object{{"status", "error"}, {"errorType", type}, {"error", error}}));
}

}  // namespace

struct FakePrometheus::State {
  enum class Kind { kVector, kScalar, kString, kMatrix, kError };
  struct Entry {
    Kind kind = Kind::kVector;
    std::vector<Sample> samples;
    std::string value;  // scalar, string, or the error message
    int http_status = 200;
    std::string error_type;
  };

  mutable std::mutex mutex;
  std::map<std::string, Entry> table;
  int drop = 0;
  int unavailable = 0;
  int delayed = 0;
  std::chrono::milliseconds delay{0};
  std::string required_authorization;
  std::vector<std::string> queries;

  FakeResponse handle(const FakeRequest& request) {
    std::lock_guard lock(mutex);
    if (request.path != "/api/v1/query")
      return FakeResponse::text(404, "404 page not found\n");
    if (drop > 0) {
      --drop;
      FakeResponse dropped;
      dropped.close_connection = true;
      return dropped;
    }
    if (!required_authorization.empty() &&
        request.header("Authorization") != required_authorization) {
      return FakeResponse::text(401, "Unauthorized\n");
    }
    std::map<std::string, std::string> params = request.query;
    if (request.method == "POST") {
      for (auto& [key, value] : parse_form(request.body))
        params[key] = value;
    } else if (request.method != "GET") {
      return envelope_error(405, "bad_data", "method not allowed");
    }
    auto query = params.find("query");
    if (query == params.end()) {
      return envelope_error(400, "bad_data",
                            "invalid parameter \"query\": 1:1: parse error: no expression found in "
                            "input");
    }
    queries.push_back(query->second);
    if (unavailable > 0) {
      --unavailable;
      return envelope_error(503, "unavailable", "Service Unavailable");
    }
    double time = 1700000000.0;
    if (auto at = params.find("time"); at != params.end()) {
      try {
        time = std::stod(at->second);
      } catch (const std::exception&) {
        return envelope_error(
            400, "bad_data",
            "invalid parameter \"time\": cannot parse \"" + at->second + "\" to a valid timestamp");
      }
    }
    FakeResponse response = answer(query->second, time);
    if (delayed > 0) {
      --delayed;
      response.delay = delay;
    }
    return response;
  }

  FakeResponse answer(const std::string& query, double time) const {
    auto found = table.find(query);
    Entry empty;
    const Entry& entry = found == table.end() ? empty : found->second;
    json::object data;
    switch (entry.kind) {
      case Kind::kError:
        return envelope_error(entry.http_status, entry.error_type, entry.value);
      case Kind::kScalar:
      case Kind::kString:
        data["resultType"] = entry.kind == Kind::kScalar ? "scalar" : "string";
        data["result"] = sample_pair(time, entry.value);
        break;
      case Kind::kVector: {
        json::array result;
        for (const auto& sample : entry.samples)
          result.push_back(json::object{{"metric", labels_of(sample)},
                                        {"value", sample_pair(time, sample.value)}});
        data["resultType"] = "vector";
        data["result"] = std::move(result);
        break;
      }
      case Kind::kMatrix: {
        json::array result;
        for (const auto& sample : entry.samples)
          result.push_back(json::object{{"metric", labels_of(sample)},
                                        {"values", json::array{sample_pair(time, sample.value)}}});
        data["resultType"] = "matrix";
        data["result"] = std::move(result);
        break;
      }
    }
    return FakeResponse::json(
        200, json::serialize(json::object{{"status", "success"}, {"data", std::move(data)}}));
  }
};

FakePrometheus::FakePrometheus() : FakePrometheus(FakeHttpServer::Options{}) {}

FakePrometheus::FakePrometheus(FakeHttpServer::Options options)
    : state_(std::make_shared<State>()) {
  server_ = std::make_unique<FakeHttpServer>(
      [state = state_](const FakeRequest& request) { return state->handle(request); }, options);
}

FakePrometheus::~FakePrometheus() {
  server_.reset();
}

std::string FakePrometheus::url() const {
  return server_->base_url();
}

FakeHttpServer& FakePrometheus::server() {
  return *server_;
}

void FakePrometheus::set_vector(const std::string& query, std::vector<Sample> samples) {
  std::lock_guard lock(state_->mutex);
  state_->table[query] = State::Entry{State::Kind::kVector, std::move(samples), "", 200, ""};
}

void FakePrometheus::set_scalar(const std::string& query, std::string value) {
  std::lock_guard lock(state_->mutex);
  state_->table[query] = State::Entry{State::Kind::kScalar, {}, std::move(value), 200, ""};
}

void FakePrometheus::set_string(const std::string& query, std::string value) {
  std::lock_guard lock(state_->mutex);
  state_->table[query] = State::Entry{State::Kind::kString, {}, std::move(value), 200, ""};
}

void FakePrometheus::set_matrix(const std::string& query, std::vector<Sample> samples) {
  std::lock_guard lock(state_->mutex);
  state_->table[query] = State::Entry{State::Kind::kMatrix, std::move(samples), "", 200, ""};
}

void FakePrometheus::set_error(const std::string& query, int http_status, std::string error_type,
                               std::string error) {
  std::lock_guard lock(state_->mutex);
  state_->table[query] =
      State::Entry{State::Kind::kError, {}, std::move(error), http_status, std::move(error_type)};
}

void FakePrometheus::drop_next(int count) {
  std::lock_guard lock(state_->mutex);
  state_->drop = count;
}

void FakePrometheus::unavailable_next(int count) {
  std::lock_guard lock(state_->mutex);
  state_->unavailable = count;
}

void FakePrometheus::delay_next(int count, std::chrono::milliseconds delay) {
  std::lock_guard lock(state_->mutex);
  state_->delayed = count;
  state_->delay = delay;
}

void FakePrometheus::require_bearer(std::string token) {
  std::lock_guard lock(state_->mutex);
  state_->required_authorization = "Bearer " + token;
}

void FakePrometheus::require_basic(std::string user, std::string password) {
  std::lock_guard lock(state_->mutex);
  state_->required_authorization = "Basic " + shipmate::base64_encode(user + ":" + password);
}

std::vector<std::string> FakePrometheus::queries() const {
  std::lock_guard lock(state_->mutex);
  return state_->queries;
}

}  // namespace shipmate::testing
