// Release-note commits from GitHub, for teams without a clone: the compare API through the GitHub
// client the CI and Deployments integrations use.
//
// Contract
// - A CommitSource (integrations/commit_source.h); members and coroutines on the HttpClient's
//   executor, which must outlive the source.
// - resolve(version): `GET /repos/{o}/{r}/commits/{version}` (a tag, branch or SHA; GitHub
//   resolves it) and the commit's full SHA. 404 and 422 are ErrorKind::not_found.
// - range(from, to): `GET /repos/{o}/{r}/compare/{from}...{to}?per_page=100&page=N`, page after
//   page until `total_commits` commits are read (GitHub lists them oldest first; the source
//   returns them newest first). Three dots: the commits reachable from `to` and not from their
//   merge base with `from`, which is the ancestry range. At most `max_commits` (10,000 by
//   default) are read; more is an error rather than truncated notes.
// - With path globs, each non-merge commit of the range is read once more
//   (`GET /repos/{o}/{r}/commits/{sha}`, its `files`) and kept when a file matches; GitHub lists
//   at most 300 files per commit there, and a commit with more is kept.
// - Errors and rate limits as the other GitHub classes (github_actions.h): one line naming
//   GitHub, the step and the repository; the token never appears.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "integrations/ci/github_actions.h"
#include "integrations/commit_source.h"
#include "integrations/net/http_client.h"

namespace shipmate::integrations {

struct GithubCompareConfig {
  GithubActionsConfig api;  // api_url, owner, repo, token, retry, timeout, max_rate_limit_wait
  std::vector<std::string> paths;
  int per_page = 100;
  std::size_t max_commits = 10000;
};

class GithubCompare final : public CommitSource {
 public:
  GithubCompare(net::HttpClient& http, GithubCompareConfig config);
  ~GithubCompare() override;

  std::string describe() const override;
  boost::asio::awaitable<Result<std::string>> resolve(std::string version) override;
  boost::asio::awaitable<Result<std::vector<SourceCommit>>> range(std::string from_sha,
                                                                  std::string to_sha) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shipmate::integrations
