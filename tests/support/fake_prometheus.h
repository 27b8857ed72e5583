// FakePrometheus: Prometheus' instant query API over real sockets, with answers from a table.
//
// Contract
// - Built on FakeHttpServer (plain or TLS); binds 127.0.0.1 on a free port and serves on its own
//   thread. Every public method is thread-safe.
// - GET /api/v1/query?query=...&time=... (and the form-encoded POST) looks the decoded query up in
//   the table and answers in Prometheus' envelope, as Prometheus 2.x does:
//     {"status":"success","data":{"resultType":"vector","result":[{"metric":{...},
//      "value":[<time>,"<value>"]}]}}
//   scalar results are [<time>,"<value>"]; values are strings ("0.31", "NaN", "+Inf"). <time> is
//   the request's `time` parameter when given. A query not in the table answers an empty vector
//   (what Prometheus says for a series that does not exist). Any other path is 404.
// - Errors: set_error() answers one query with {"status":"error","errorType":...,"error":...} and
//   an HTTP status (400 bad_data, 422 execution, 503 timeout), as Prometheus does.
// - Injections for the next N requests, whatever the query, in this order of precedence:
//   drop_next (close without answering), unavailable_next (503 errorType "unavailable"),
//   delay_next (hold the answer back, for client timeouts).
// - require_bearer / require_basic make every request without those credentials a 401.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/fake_http_server.h"

namespace shipmate::testing {

class FakePrometheus {
 public:
  struct Sample {
    std::map<std::string, std::string> labels;  // "__name__" included when the series has one
    std::string value;                          // as Prometheus writes it: "0.31", "NaN", "+Inf"
  };

  FakePrometheus();
  explicit FakePrometheus(FakeHttpServer::Options options);
  ~FakePrometheus();
  FakePrometheus(const FakePrometheus&) = delete;
  FakePrometheus& operator=(const FakePrometheus&) = delete;

  std::string url() const;  // "http://127.0.0.1:PORT"
  FakeHttpServer& server();

  // Table entries, by the exact query text the client sends (after placeholder expansion).
  void set_vector(const std::string& query, std::vector<Sample> samples);  // {} = no data
  void set_scalar(const std::string& query, std::string value);
  void set_string(const std::string& query, std::string value);
  void set_matrix(const std::string& query, std::vector<Sample> samples);  // one point each
  void set_error(const std::string& query, int http_status, std::string error_type,
                 std::string error);

  void drop_next(int count);
  void unavailable_next(int count);
  void delay_next(int count, std::chrono::milliseconds delay);
  void require_bearer(std::string token);
  void require_basic(std::string user, std::string password);

  // The decoded `query` parameter of every query request, in order.
  std::vector<std::string> queries() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::unique_ptr<FakeHttpServer> server_;
};

}  // namespace shipmate::testing
