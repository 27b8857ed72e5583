// GitLab CI as a CiProvider: one pipeline per deploy, created through the REST API (v4).
//
// Contract
// - Threading: like every CiProvider, members are called on the event-loop thread; coroutines run
//   on the HttpClient's executor. The HttpClient is borrowed and must outlive the provider.
// - Two ways to start a pipeline (`token_kind`):
//     private_token  POST /projects/:id/pipeline with the token in the PRIVATE-TOKEN header (a
//                    personal, project or group access token with the `api` scope). The same
//                    token reads and cancels the pipeline.
//     trigger        POST /projects/:id/trigger/pipeline with the pipeline trigger token as a form
//                    field. A trigger token cannot read pipelines, so polling and cancelling use
//                    `read_token` (read_api to follow, api to cancel) when it is set, and no
//                    credentials otherwise (enough only for a public project).
// - trigger() returns as soon as GitLab answers 201: the pipeline id names the run.
// - status() is one GET of the pipeline; a failed pipeline costs one more GET that names the
//   failed job (name, stage, failure reason) and links to its log.
// - Errors name GitLab, the step, the project and the ref, and say what to check (unknown ref, no
//   jobs for the ref, token scope, project visibility). Tokens are registered with redact() and are
//   never part of an error: the trigger token only travels in the request body, which errors do
//   not quote.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "common/result.h"
#include "integrations/ci_provider.h"
#include "integrations/net/api_client.h"
#include "integrations/net/http_client.h"

namespace shipmate::integrations {

enum class GitlabTokenKind { private_token, trigger };
// "private" or "trigger"; nullopt for anything else.
std::optional<GitlabTokenKind> parse_gitlab_token_kind(std::string_view text);

struct GitlabCiConfig {
  std::string api_url = "https://gitlab.com/api/v4";  // self-managed: https://host/api/v4
  std::string project;       // numeric id ("1234") or full path ("group/sub/project")
  std::string ref = "main";  // used when the CiRunRequest names no ref
  GitlabTokenKind token_kind = GitlabTokenKind::private_token;
  std::string token;       // secret value: the access token, or the trigger token
  std::string read_token;  // secret value, trigger mode only: reads (and cancels) pipelines
  // Pipeline variable name -> template; {version}, {environment}, {service} and {correlation_id}
  // are replaced. Inputs in the CiRunRequest are added on top.
  std::map<std::string, std::string> variables;

  FollowOptions follow;  // how the deploy flow polls pipelines of this project
  net::RetryPolicy retry;
  std::chrono::milliseconds timeout{15000};  // per HTTP attempt
};

class GitlabCi final : public CiProvider {
 public:
  GitlabCi(net::HttpClient& http, GitlabCiConfig config);
  ~GitlabCi() override;

  std::string kind() const override { return "gitlab"; }
  Status validate() const override;
  boost::asio::awaitable<Result<CiRunHandle>> trigger(CiRunRequest request) override;
  boost::asio::awaitable<Result<CiRunStatus>> status(CiRunHandle handle) override;
  boost::asio::awaitable<Status> cancel(CiRunHandle handle) override;
  boost::asio::awaitable<Result<std::string>> check_access() override;

  const GitlabCiConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The project as a path segment: "group/sub/api" -> "group%2Fsub%2Fapi"; ids stay as they are.
std::string gitlab_project_segment(std::string_view project);

}  // namespace shipmate::integrations
