#include "integrations/ci/github_compare.h"

#include <algorithm>
#include <utility>

#include "integrations/ci/github_api.h"

namespace shipmate::integrations {
using namespace github_detail;

struct GithubCompare::Impl {
  Impl(net::HttpClient& http, GithubCompareConfig c)
      : config(std::move(c)), api(http, config.api) {}

  GithubCompareConfig config;
  GithubApi api;

  Error fail(const std::string& step, const std::string& why, ErrorKind kind) const {
    return make_error(redact("GitHub: " + step + " in " + api.repository() + ": " + why), kind);
  }

  static SourceCommit commit_of(const json::object& item) {
    SourceCommit out;
    out.sha = string_field(item, "sha");
    if (const auto* commit = item.if_contains("commit"); commit && commit->is_object()) {
      split_commit_message(string_field(commit->as_object(), "message"), out.subject, out.body);
      if (const auto* author = commit->as_object().if_contains("author");
          author && author->is_object())
        out.author = string_field(author->as_object(), "name");
    }
    if (const auto* parents = item.if_contains("parents"); parents && parents->is_array())
      out.parents = static_cast<int>(parents->as_array().size());
    return out;
  }

  asio::awaitable<Result<bool>> touches_paths(const std::string& sha) {
    const std::string step = "read commit " + sha.substr(0, 12);
    ApiCall call{.step = step, .path = api.repo_path() + "/commits/" + encode_segment(sha)};
    Result<HttpResponse> response = co_await api.call(std::move(call));
    if (!response)
      co_return response.error();
    auto parsed = parse_json(response->body);
    if (!parsed || !parsed->is_object())
      co_return fail(step, "the answer is not a commit object", ErrorKind::invalid);
    const auto* files = parsed->as_object().if_contains("files");
    if (files == nullptr || !files->is_array())
      co_return true;
    if (files->as_array().size() >= 300)
      co_return true;  // GitHub stops listing at 300: do not drop what may be ours
    for (const auto& file : files->as_array()) {
      if (!file.is_object())
        continue;
      const std::string name = string_field(file.as_object(), "filename");
      const std::string previous = string_field(file.as_object(), "previous_filename");
      if (any_glob_matches(config.paths, name) ||
          (!previous.empty() && any_glob_matches(config.paths, previous)))
        co_return true;
    }
    co_return false;
  }
};

GithubCompare::GithubCompare(net::HttpClient& http, GithubCompareConfig config)
    : impl_(std::make_unique<Impl>(http, std::move(config))) {}

GithubCompare::~GithubCompare() = default;

std::string GithubCompare::describe() const {
  return "GitHub " + impl_->api.repository();
}

asio::awaitable<Result<std::string>> GithubCompare::resolve(std::string version) {
  const std::string step = "resolve " + version;
  ApiCall call{.step = step,
               .path = impl_->api.repo_path() + "/commits/" + encode_segment(version),
               .pass_through = {404, 422}};
  Result<HttpResponse> response = co_await impl_->api.call(std::move(call));
  if (!response)
    co_return response.error();
  if (response->status == 404 || response->status == 422)
    co_return impl_->fail(step, "no tag, branch or commit named " + version, ErrorKind::not_found);
  auto parsed = parse_json(response->body);
  if (!parsed || !parsed->is_object() || string_field(parsed->as_object(), "sha").empty())
    co_return impl_->fail(step, "the answer is not a commit object", ErrorKind::invalid);
  co_return string_field(parsed->as_object(), "sha");
}

asio::awaitable<Result<std::vector<SourceCommit>>> GithubCompare::range(std::string from_sha,
                                                                        std::string to_sha) {
  const std::string step = "compare " + from_sha.substr(0, 12) + "..." + to_sha.substr(0, 12);
  if (from_sha.empty())
    co_return impl_->fail(step, "no earlier commit to compare with", ErrorKind::invalid);
  std::vector<SourceCommit> oldest_first;
  std::size_t total = 0;
  for (int page = 1;; ++page) {
    ApiCall call{.step = step,
                 .path = impl_->api.repo_path() + "/compare/" + encode_segment(from_sha) + "..." +
                         encode_segment(to_sha) + "?per_page=" +
                         std::to_string(impl_->config.per_page) + "&page=" + std::to_string(page)};
    Result<HttpResponse> response = co_await impl_->api.call(std::move(call));
    if (!response)
      co_return response.error();
    auto parsed = parse_json(response->body);
    if (!parsed || !parsed->is_object())
      co_return impl_->fail(step, "the answer is not a comparison", ErrorKind::invalid);
    const json::object& body = parsed->as_object();
    total = static_cast<std::size_t>(integer_field(body, "total_commits").value_or(0));
    if (total > impl_->config.max_commits)
      co_return impl_->fail(step,
                            std::to_string(total) + " commits, more than the " +
                                std::to_string(impl_->config.max_commits) + " notes are made for",
                            ErrorKind::invalid);
    const auto* commits = body.if_contains("commits");
    if (commits == nullptr || !commits->is_array())
      co_return impl_->fail(step, "the comparison has no commits list", ErrorKind::invalid);
    for (const auto& item : commits->as_array()) {
      if (item.is_object())
        oldest_first.push_back(Impl::commit_of(item.as_object()));
    }
    if (commits->as_array().empty() || oldest_first.size() >= total)
      break;
  }
  if (oldest_first.size() < total)
    co_return impl_->fail(step,
                          "GitHub listed " + std::to_string(oldest_first.size()) + " of " +
                              std::to_string(total) + " commits",
                          ErrorKind::unavailable);
  std::vector<SourceCommit> out;
  out.reserve(oldest_first.size());
  for (auto it = oldest_first.rbegin(); it != oldest_first.rend(); ++it) {
    if (!impl_->config.paths.empty() && it->parents <= 1) {
      const std::string sha = it->sha;
      Result<bool> touches = co_await impl_->touches_paths(sha);
      if (!touches)
        co_return touches.error();
      if (!*touches)
        continue;
    }
    out.push_back(std::move(*it));
  }
  co_return out;
}

}  // namespace shipmate::integrations
