// FakeTeamsConnector: the Bot Framework connector as Teams serves it, over real sockets (plain or
// TLS), for the Teams transport's tests, the e2e tests through the binary, the benchmark and the
// botframework-connector cross-check.
//
// It serves, under /v3/conversations/{conversationId}/activities:
//   POST  .../activities              a new message           -> 201 {"id": "<new id>"}
//   POST  .../activities/{replyToId}  a reply in a thread     -> 201 {"id": "<new id>"}
//   PUT   .../activities/{activityId} an update in place      -> 200 {"id": "<id>"}, 404 if unknown
//   DELETE .../activities/{activityId}                         -> 200, 404 if unknown
// A request whose Authorization is not "Bearer <expected token>" is answered 401 (when an
// expected token is set). A body that is not a JSON object with a "type" is answered 400, as the
// real connector does. fail_next() scripts the next answers (429 with Retry-After, 412, 502,
// 503, 504) before the normal one. Activities are kept with every version they had.
//
// Threading: the server runs on its own thread; every accessor takes a lock, so tests read it
// from theirs. wait_for() polls real time (bounded) for the server thread to catch up; it is for
// e2e tests that talk to a separate process.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/fake_http_server.h"

namespace shipmate::testing {

struct ConnectorActivity {
  std::string id;
  std::string conversation_id;
  std::string reply_to_id;            // from the URL; empty for a new message
  std::vector<std::string> versions;  // the body as posted, then each PUT
  bool deleted = false;
  const std::string& body() const { return versions.back(); }
};

struct ConnectorCall {
  std::string method;
  std::string conversation_id;
  std::string activity_id;  // from the URL, empty for a plain POST
  int status = 0;
  std::string authorization;
};

class FakeTeamsConnector {
 public:
  explicit FakeTeamsConnector(bool tls = false);
  ~FakeTeamsConnector();

  std::string service_url() const;  // "http://127.0.0.1:PORT/" (with the trailing slash)
  std::string ca_path() const;

  // Only "Bearer <token>" is accepted from now on; empty accepts anything.
  void expect_token(std::string token);

  struct Failure {
    int status = 429;
    std::string retry_after;  // Retry-After header value; empty: none
  };
  // The next answers (to any call) are these, in order, before calls succeed again.
  void fail_next(std::vector<Failure> failures);

  std::vector<ConnectorActivity> activities() const;
  std::vector<ConnectorActivity> activities_in(const std::string& conversation_id) const;
  std::optional<ConnectorActivity> activity(const std::string& id) const;
  std::vector<ConnectorCall> calls() const;
  std::size_t call_count() const;

  // Called on the server's thread (under the fake's lock: do not call back into the fake) for
  // every activity created by a POST, after it is stored. For benchmarks.
  void on_activity(std::function<void(const ConnectorActivity&)> callback);

  // Polls (real time, up to `limit`) until `done()` holds; false on timeout.
  bool wait_for(const std::function<bool()>& done,
                std::chrono::milliseconds limit = std::chrono::seconds(30)) const;

  FakeHttpServer& server();

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::unique_ptr<FakeHttpServer> server_;
};

}  // namespace shipmate::testing
