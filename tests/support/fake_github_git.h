// The commit endpoints of FakeGithub (`GET /repos/{o}/{r}/commits/{ref}` and
// `GET /repos/{o}/{r}/compare/{base}...{head}`), answered from a real git repository that the
// test built with the git CLI, so the fake's ancestry is git's own.
//
// Contract
// - Called on the fake's server thread under its lock; runs `git` (no shell) in `git_dir`.
// - Shapes as GitHub's: a commit object (sha, commit.message, commit.author, parents, files with
//   filename/status/previous_filename); a comparison (status, ahead_by, behind_by,
//   total_commits, merge_base_commit, commits oldest first). An unknown ref answers 422
//   "No commit found for SHA: <ref>" on /commits and 404 on /compare, as GitHub does.
// - Pagination: without per_page, the first 250 commits, as GitHub; with per_page (at most 100)
//   and page, that page, with a Link header (next, last) built from the request's Host.
#pragma once

#include <string>
#include <vector>

#include "tests/support/fake_http_server.h"

namespace shipmate::testing {

FakeResponse fake_github_git_route(const std::string& git_dir, bool tls, const FakeRequest& request,
                                   const std::vector<std::string>& rest);

}  // namespace shipmate::testing
