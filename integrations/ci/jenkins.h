// Jenkins as a CiProvider: one build of a parameterized job per deploy (buildWithParameters).
//
// Contract
// - Threading: like every CiProvider, members are called on the event-loop thread; coroutines run
//   on the HttpClient's executor. The HttpClient is borrowed and must outlive the provider.
// - Authentication is HTTP Basic with the user's API token. Jenkins 2.96 and later exempt API
//   tokens from CSRF crumbs, but some setups still demand one: a POST answered 403 "No valid
//   crumb" fetches /crumbIssuer/api/json (keeping the JSESSIONID cookie the crumb is bound to) and
//   is sent once more with it; the crumb is then reused until Jenkins rejects it again.
// - Run ids: "queue:<n>" while the build waits in the queue, "build:<n>" once it has a number.
//   trigger() queues the build and waits (up to `queue_wait`) for the queue item to become a build,
//   so it normally returns "build:<n>". A build still queued at that bound is returned as
//   "queue:<n>", and status() keeps following it (queued, with Jenkins' "why" as the detail) until
//   it starts. Jenkins forgets a queue item about 5 minutes after it left the queue, so a
//   "queue:<n>" handle must be followed, not shelved. A queue item cancelled before it started
//   fails trigger().
// - URLs are built from `url` and `job` (Jenkins' own absolute URLs carry its configured root URL,
//   which behind a proxy is often not the address Shipmate reaches it at).
// - Build results: SUCCESS -> succeeded; FAILURE, UNSTABLE ("unstable (tests failed)"), NOT_BUILT
//   -> failed; ABORTED -> cancelled. The url of a build's status is its console.
// - Errors name Jenkins, the step and the job, and say what to check (job path, user permissions,
//   a job without parameters). The API token is registered with redact() and never appears in
//   them.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "common/result.h"
#include "integrations/ci_provider.h"
#include "integrations/net/api_client.h"
#include "integrations/net/http_client.h"

namespace shipmate::integrations {

struct JenkinsConfig {
  std::string url;  // Jenkins' root, path prefix included: "https://ci.example.com/jenkins"
  std::string job;  // full name; folders separated by '/': "deploys/web/api"
  std::string user;
  std::string api_token;  // secret value
  // Build parameter name -> template; {version}, {environment}, {service} and {correlation_id} are
  // replaced. Inputs in the CiRunRequest are added on top.
  std::map<std::string, std::string> parameters;

  FollowOptions follow;  // how the deploy flow polls builds of this job
  // trigger(): how long to wait for the queue item to become a build, polling every `queue_poll`.
  std::chrono::milliseconds queue_wait{std::chrono::seconds(60)};
  std::chrono::milliseconds queue_poll{1000};
  net::RetryPolicy retry;
  std::chrono::milliseconds timeout{15000};  // per HTTP attempt
};

class Jenkins final : public CiProvider {
 public:
  Jenkins(net::HttpClient& http, JenkinsConfig config);
  ~Jenkins() override;

  std::string kind() const override { return "jenkins"; }
  Status validate() const override;
  boost::asio::awaitable<Result<CiRunHandle>> trigger(CiRunRequest request) override;
  boost::asio::awaitable<Result<CiRunStatus>> status(CiRunHandle handle) override;
  boost::asio::awaitable<Status> cancel(CiRunHandle handle) override;
  boost::asio::awaitable<Result<std::string>> check_access() override;

  const JenkinsConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "deploys/web/api" -> "/job/deploys/job/web/job/api" (each name percent-encoded).
std::string jenkins_job_path(std::string_view job);

}  // namespace shipmate::integrations
