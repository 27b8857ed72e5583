// FakeGitlab: a stand-in for GitLab's REST API (v4) pipelines, over real sockets (plain or TLS).
//
// Contract
// - Built on FakeHttpServer: binds 127.0.0.1 on a free port and serves on its own thread; every
//   public method is thread-safe and returns copies.
// - Routes under /api/v4 (the project is its numeric id or its URL-encoded path, "group%2Fapi";
//   an unencoded path does not match, as on GitLab):
//     POST /projects/:id/pipeline                    JSON {"ref","variables":[{key,value,...}]}
//                                                    or ref in the query; PRIVATE-TOKEN with api
//     POST /projects/:id/trigger/pipeline            form or JSON: token, ref, variables[KEY]
//     GET  /projects/:id/pipelines/:pid              PRIVATE-TOKEN with read_api or api
//     GET  /projects/:id/pipelines/:pid/jobs         scope[]=failed or scope=failed filters
//     POST /projects/:id/pipelines/:pid/cancel       PRIVATE-TOKEN with api
// - Answers in GitLab's shapes, with Content-Type exactly "application/json": 401 {"message":"401
// Unauthorized"}; 403 insufficient_scope for a
//   read-only token on a write; 404 {"message":"404 Project Not Found"} (an unknown trigger token:
//   {"message":"404 Not Found"}); 400 {"message":{"base":["Reference not found"]}} for an unknown
//   ref and {"message":{"base":["No stages / jobs for this pipeline."]}} for a ref without jobs.
// - Pipelines move on by themselves as time passes: created, then pending, then running (each
//   `step` long), then success after `running_steps` steps, or failed when a job failure was
//   injected. A canceled pipeline stays canceled; a stuck one stays pending.
// - fail_next_requests(n) answers the next n requests (any route) with a 5xx before any check.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/support/fake_http_server.h"

namespace shipmate::testing {

class FakeGitlab {
 public:
  struct Options {
    bool tls = false;
    long long project_id = 42;
    std::string project_path = "group/sub/api";
    std::string private_token = "glpat-fake-private-token";  // scopes: api
    std::string read_token = "glpat-fake-read-token";        // scopes: read_api
    std::string trigger_token = "glptt-fake-trigger-token";
    std::set<std::string> refs = {"main", "release"};
    std::set<std::string> refs_without_jobs = {"docs-only"};
    std::chrono::milliseconds step{25};
    int running_steps = 2;
  };

  struct JobFailure {
    std::string name = "deploy";
    std::string stage = "deploy";
    std::string failure_reason = "script_failure";
  };

  struct Pipeline {
    long long id = 0;
    std::string ref;
    std::string source;  // "api" or "trigger"
    std::map<std::string, std::string> variables;
    std::vector<std::string> variable_types;  // as sent, one per variable ("env_var")
    std::string status;                       // at the time of the call
  };

  FakeGitlab();
  explicit FakeGitlab(Options options);
  ~FakeGitlab();
  FakeGitlab(const FakeGitlab&) = delete;
  FakeGitlab& operator=(const FakeGitlab&) = delete;

  std::string api_url() const;  // "http://127.0.0.1:PORT/api/v4"
  std::string ca_path() const;  // empty unless tls
  const Options& options() const;
  FakeHttpServer& server();

  // Injections; each applies to pipelines created after the call.
  void fail_next_pipeline(JobFailure failure);  // the next pipeline fails at this job
  void set_stuck(bool stuck);                   // new pipelines stay pending until canceled
  void release_stuck();                         // stuck pipelines carry on running now
  void fail_next_requests(int count, int status = 500);

  std::vector<Pipeline> pipelines() const;
  std::optional<Pipeline> pipeline(long long id) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::unique_ptr<FakeHttpServer> server_;
};

}  // namespace shipmate::testing
