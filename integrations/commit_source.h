// Where release notes get their commits: a repository that can resolve a version to a commit and
// list the commits of a range by ancestry. Two sources implement it: a local clone read with
// libgit2 (integrations/git/git_commit_source.h) and GitHub's compare API
// (integrations/ci/github_compare.h).
//
// Contract
// - Threading: members are called on the event-loop thread; the coroutines run there too and
//   never block it (the libgit2 source does its work on a thread of its own and resumes the
//   caller on the caller's executor). One source may serve several calls at once.
// - resolve(version): a tag, a branch or a commit SHA (full or abbreviated) to the full SHA of a
//   commit. Only names that passed common/chat_input.h's validate_version() reach a source, so no
//   revision syntax (`HEAD~2`, `main@{1}`, `a..b`) is ever evaluated. A name that is not there
//   is ErrorKind::not_found, with the name and the repository in the message.
// - range(from, to): the commits reachable from `to` and not from `from` (never by date), newest
//   first as `git log from..to` lists them. An empty `from` is refused (a first deploy has no
//   range; the caller says so instead of listing all history). When the source was given path
//   globs (a service in a monorepo), commits that change no matching path are left out; merge
//   commits are kept for the grouper to count.
// - Errors are one line naming the source and the step; no secret appears in them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "common/result.h"

namespace shipmate::integrations {

struct SourceCommit {
  std::string sha;
  std::string subject;
  std::string body;
  std::string author;
  int parents = 1;
};

class CommitSource {
 public:
  virtual ~CommitSource() = default;
  // "git /srv/api" or "GitHub acme/api", for messages.
  virtual std::string describe() const = 0;
  virtual boost::asio::awaitable<Result<std::string>> resolve(std::string version) = 0;
  virtual boost::asio::awaitable<Result<std::vector<SourceCommit>>> range(std::string from_sha,
                                                                          std::string to_sha) = 0;
};

// Monorepo path globs, matched against repository-relative paths with `/` separators:
// `*` and `?` stay within one path segment, `**` spans any number of segments (`services/api/**`,
// `**/*.proto`), and a glob without wildcards names a file or a whole directory
// (`services/api` matches `services/api/main.cc`). Pure.
bool path_glob_matches(std::string_view glob, std::string_view path);
bool any_glob_matches(const std::vector<std::string>& globs, std::string_view path);

// "feat: x" and the rest of the message: git's subject (the first paragraph, its lines joined
// by spaces) and body (what follows the blank line), as `git log --format=%s / %b` split them.
void split_commit_message(std::string_view message, std::string& subject, std::string& body);

}  // namespace shipmate::integrations
