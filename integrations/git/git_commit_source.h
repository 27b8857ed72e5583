// Release-note commits from a local git repository, read with libgit2 (Debian's libgit2-dev).
//
// Contract
// - A CommitSource (integrations/commit_source.h). libgit2 blocks, so every libgit2 call runs on
//   one worker thread the source owns; the coroutines resume on the caller's executor. Calls are
//   served one at a time, in order. Destroying the source waits for the call in progress.
// - resolve(version): when the repository has the configured remote and `fetch` is on, a name
//   (tag or branch) is fetched first, because names move (a force-pushed tag must not give last
//   week's commit); a SHA is looked up locally and fetched only when it is missing. Lookup order:
//   the tag `refs/tags/<v>`, the remote branch `refs/remotes/<remote>/<v>`, the local branch
//   `refs/heads/<v>`, then a hexadecimal SHA of 7 to 40 digits (an ambiguous prefix is refused).
//   Annotated tags are peeled to their commit. A fetch failure when the name exists locally is
//   not an error (the local answer is used); when it does not, the fetch's error is reported.
// - range(from, to): a revision walk from `to` hiding `from` (ancestry, never dates), in
//   topological order, newest first. A missing commit triggers one fetch. With path globs, a
//   commit is kept when its diff against its first parent (the empty tree for a root commit)
//   touches a matching path; merge commits are kept (the grouper skips them).
// - Fetching: refspecs `+refs/heads/*:refs/remotes/<remote>/*` and `+refs/tags/*:refs/tags/*`
//   (moved tags are updated), through `proxy` when set (else libgit2 follows the HTTPS_PROXY
//   environment as git does), trusting `ca_file` in addition to the system store. The remote's
//   URL is read from the config at each fetch (insteadOf rules applied); memory stays flat over
//   any number of fetches. A token is
//   sent as HTTP basic credentials (`x-access-token`) and registered with redact(); libgit2's
//   error text passes through redact() before it leaves.
// - Errors: "git /srv/api: resolve v9: no tag, branch or commit named v9" and the like.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "common/result.h"
#include "integrations/commit_source.h"

namespace shipmate::integrations {

struct GitSourceConfig {
  std::string path;  // a clone (bare or with a work tree)
  std::string remote = "origin";
  bool fetch = true;         // fetch names before resolving them, and missing commits
  std::string proxy = {};    // http://[user:pass@]host:port; empty: libgit2's own default
  std::string ca_file = {};  // extra trusted CA certificates (PEM)
  std::string token = {};    // HTTPS credentials for the remote, already resolved
  std::vector<std::string> paths = {};  // monorepo: keep only commits touching these globs
};

class GitCommitSource final : public CommitSource {
 public:
  explicit GitCommitSource(GitSourceConfig config);
  ~GitCommitSource() override;
  GitCommitSource(const GitCommitSource&) = delete;
  GitCommitSource& operator=(const GitCommitSource&) = delete;

  std::string describe() const override;
  boost::asio::awaitable<Result<std::string>> resolve(std::string version) override;
  boost::asio::awaitable<Result<std::vector<SourceCommit>>> range(std::string from_sha,
                                                                  std::string to_sha) override;

  // The same work, synchronously, on the calling thread (benchmarks and tests of the walk).
  Result<std::string> resolve_now(const std::string& version);
  Result<std::vector<SourceCommit>> range_now(const std::string& from_sha,
                                              const std::string& to_sha);
  // How many fetches ran (tests check that a present commit needs none).
  int fetches() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shipmate::integrations
