// FakeJenkins: a stand-in for Jenkins' remote access API, over real sockets (plain or TLS).
//
// Contract
// - Built on FakeHttpServer: binds 127.0.0.1 on a free port and serves on its own thread; every
//   public method is thread-safe and returns copies.
// - Everything lives under Options::prefix ("" or e.g. "/jenkins"). Routes:
//     GET  /crumbIssuer/api/json                 {"crumb","crumbRequestField":"Jenkins-Crumb"} and
//                                                a JSESSIONID cookie the crumb is bound to
//     POST /job/A/job/B/buildWithParameters      form or query parameters -> 201, Location:
//                                                {root}/queue/item/N/
//     GET  /queue/item/N/api/json                waiting item (why, blocked, stuck) or left item
//                                                (cancelled, executable {number,url})
//     POST /queue/cancelItem?id=N                204; 404 when the item is not waiting
//     GET  /job/A/job/B/N/api/json               building, result, number, url, ...
//     GET  /job/A/job/B/N/                       the build's HTML page (where /stop redirects)
//     POST /job/A/job/B/N/stop                   aborts a running build; 302 to the build
// - Every request needs HTTP Basic user:api_token: none -> 403 "Authentication required", wrong ->
//   401. With `require_crumb`, a POST without the crumb of a session it presents the cookie of gets
//   403 "No valid crumb was included in the request" (HTML, as Jenkins sends it).
// - Unknown job -> 404 (HTML). A job without parameters answers buildWithParameters with 500 and
//   the IllegalStateException "This build is not parameterized!" (older cores), or 400 with the
//   same words when `polite_not_parameterized` is set (newer cores).
// - Time moves the queue and builds on: a queue item becomes build #n of its job `queue_delay`
//   after it was queued (unless the queue is held), and the build ends `build_duration` later
//   with SUCCESS or the injected result. Location and executable.url use `root_url` when set (a
//   Jenkins whose configured root URL differs from the address clients reach it at).
// - fail_next_requests(n) answers the next n requests (any route) with a 5xx before any check.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/fake_http_server.h"

namespace shipmate::testing {

class FakeJenkins {
 public:
  struct Options {
    bool tls = false;
    std::string prefix;  // "" or "/jenkins"
    std::string user = "shipmate";
    std::string api_token = "11aa22bb33cc44dd55ee66ff77aa88bb99";
    bool require_crumb = false;
    bool polite_not_parameterized = false;
    std::string root_url;  // empty: the address the fake is reached at (plus prefix)
    std::chrono::milliseconds queue_delay{40};
    std::chrono::milliseconds build_duration{80};
  };

  struct Build {
    std::string job;
    long long number = 0;
    long long queue_id = 0;
    std::map<std::string, std::string> parameters;
    bool building = false;
    std::string result;  // "" while building
  };

  FakeJenkins();
  explicit FakeJenkins(Options options);
  ~FakeJenkins();
  FakeJenkins(const FakeJenkins&) = delete;
  FakeJenkins& operator=(const FakeJenkins&) = delete;

  std::string url() const;      // "http://127.0.0.1:PORT" + prefix
  std::string ca_path() const;  // empty unless tls
  const Options& options() const;
  FakeHttpServer& server();

  // A job by full name ("folder/sub/deploy"); next build number starts at `next_build`.
  void add_job(const std::string& full_name, bool parameterized = true, long long next_build = 1);

  // Injections.
  void set_next_result(std::string result);  // "FAILURE", "UNSTABLE", "ABORTED", "NOT_BUILT"
  // Items stay in the queue with this reason (stuck or blocked) until release_queue().
  void hold_queue(std::string why, bool stuck = false, bool blocked = false);
  void release_queue();
  void cancel_next_queue_item();  // the next item is cancelled when it would have started
  void forget_queue_items();      // as Jenkins does ~5 minutes after items leave the queue
  void fail_next_requests(int count, int status = 500);

  std::vector<Build> builds() const;
  int crumbs_issued() const;
  int queue_items_cancelled() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::unique_ptr<FakeHttpServer> server_;
};

}  // namespace shipmate::testing
