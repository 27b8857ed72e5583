#include "tests/support/fake_github_git.h"

#include <charconv>
#include <sstream>

#include <boost/json.hpp>

#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace json = boost::json;

namespace {

struct GitOut {
  int code = 0;
  std::string out;
};

GitOut git(const std::string& dir, std::vector<std::string> args) {
  std::vector<std::string> argv = {"/usr/bin/git", "-C", dir};
  argv.insert(argv.end(), args.begin(), args.end());
  Subprocess process(argv, {}, "", false);
  const int code = process.wait();
  return {code, process.output()};
}

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  return text;
}

std::optional<std::string> rev(const std::string& dir, const std::string& ref) {
  if (ref.empty() || ref.front() == '-')
    return std::nullopt;
  GitOut out =
      git(dir, {"rev-parse", "--verify", "--quiet", "--end-of-options", ref + "^{commit}"});
  if (out.code != 0)
    return std::nullopt;
  return trim(out.out);
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty())
      out.push_back(line);
  }
  return out;
}

FakeResponse github_message(int status, const std::string& text) {
  json::object body;
  body["message"] = text;
  body["documentation_url"] = "https://docs.github.com/rest/commits/commits";
  body["status"] = std::to_string(status);
  return FakeResponse::json(status, json::serialize(body));
}

json::object commit_json(const std::string& dir, const std::string& sha, bool with_files) {
  GitOut show =
      git(dir,
          {"show", "-s", "--format=%H%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B", sha});
  std::vector<std::string> f;
  std::string_view rest = show.out;
  for (int i = 0; i < 8; ++i) {
    const auto nul = rest.find('\0');
    f.emplace_back(rest.substr(0, nul));
    rest.remove_prefix(nul == std::string_view::npos ? rest.size() : nul + 1);
  }
  std::string message(rest);
  while (!message.empty() && message.back() == '\n')
    message.pop_back();
  json::object author{{"name", f[2]}, {"email", f[3]}, {"date", f[4]}};
  json::object committer{{"name", f[5]}, {"email", f[6]}, {"date", f[7]}};
  json::array parents;
  std::istringstream parent_list(f[1]);
  for (std::string parent; parent_list >> parent;)
    parents.push_back(
        json::object{{"sha", parent}, {"url", "https://api.github.invalid/commits/" + parent}});
  json::object commit{{"author", author},
                      {"committer", committer},
                      {"message", message},
                      {"comment_count", 0},
                      {"tree", json::object{{"sha", sha}}}};
  json::object out{{"sha", f[0]},
                   {"node_id", "C_" + f[0].substr(0, 12)},
                   {"commit", commit},
                   {"author", nullptr},
                   {"committer", nullptr},
                   {"parents", parents},
                   {"html_url", "https://github.invalid/commit/" + f[0]}};
  if (with_files) {
    GitOut diff =
        git(dir, {"diff-tree", "--no-commit-id", "--name-status", "-r", "-M", "--root", sha});
    json::array files;
    for (const auto& line : lines(diff.out)) {
      std::vector<std::string> cols;
      std::istringstream in(line);
      for (std::string col; std::getline(in, col, '\t');)
        cols.push_back(col);
      if (cols.size() < 2)
        continue;
      json::object file;
      const char kind = cols[0][0];
      file["status"] = kind == 'A'   ? "added"
                       : kind == 'D' ? "removed"
                       : kind == 'R' ? "renamed"
                                     : "modified";
      if (kind == 'R' && cols.size() >= 3) {
        file["previous_filename"] = cols[1];
        file["filename"] = cols[2];
      } else {
        file["filename"] = cols[1];
      }
      files.push_back(std::move(file));
    }
    out["files"] = std::move(files);
  }
  return out;
}

int query_int(const FakeRequest& request, const std::string& key, int fallback) {
  auto it = request.query.find(key);
  if (it == request.query.end())
    return fallback;
  int value = 0;
  const auto [end, ec] =
      std::from_chars(it->second.data(), it->second.data() + it->second.size(), value);
  return ec == std::errc() && end == it->second.data() + it->second.size() ? value : fallback;
}

}  // namespace

FakeResponse fake_github_git_route(const std::string& git_dir, bool tls, const FakeRequest& request,
                                   const std::vector<std::string>& rest) {
  if (request.method != "GET" || rest.size() < 2)
    return github_message(404, "Not Found");
  std::string tail = rest[1];
  for (std::size_t i = 2; i < rest.size(); ++i)
    tail += "/" + rest[i];
  if (rest[0] == "commits") {
    auto sha = rev(git_dir, tail);
    if (!sha)
      return github_message(422, "No commit found for SHA: " + tail);
    return FakeResponse::json(200, json::serialize(commit_json(git_dir, *sha, true)));
  }
  // compare/{base}...{head}
  const auto dots = tail.find("...");
  if (dots == std::string::npos)
    return github_message(404, "Not Found");
  auto base = rev(git_dir, tail.substr(0, dots));
  auto head = rev(git_dir, tail.substr(dots + 3));
  if (!base || !head)
    return github_message(404, "Not Found");
  const std::string merge_base = trim(git(git_dir, {"merge-base", *base, *head}).out);
  const auto ahead =
      lines(git(git_dir, {"rev-list", "--reverse", "--date-order", *head, "^" + merge_base}).out);
  const auto behind = lines(git(git_dir, {"rev-list", *base, "^" + *head}).out);
  json::object body;
  body["url"] = "https://api.github.invalid/compare/" + tail;
  body["html_url"] = "https://github.invalid/compare/" + tail;
  body["base_commit"] = commit_json(git_dir, *base, false);
  body["merge_base_commit"] = commit_json(git_dir, merge_base, false);
  body["status"] = ahead.empty() && behind.empty() ? "identical"
                   : behind.empty()                ? "ahead"
                   : ahead.empty()                 ? "behind"
                                                   : "diverged";
  body["ahead_by"] = static_cast<std::int64_t>(ahead.size());
  body["behind_by"] = static_cast<std::int64_t>(behind.size());
  body["total_commits"] = static_cast<std::int64_t>(ahead.size());
  const bool paged = request.query.contains("per_page") || request.query.contains("page");
  const int per_page = std::min(100, std::max(1, query_int(request, "per_page", 30)));
  const int page = std::max(1, query_int(request, "page", 1));
  std::size_t first = 0;
  std::size_t count = std::min<std::size_t>(ahead.size(), 250);
  if (paged) {
    first = static_cast<std::size_t>(page - 1) * per_page;
    count = first >= ahead.size() ? 0 : std::min<std::size_t>(per_page, ahead.size() - first);
  }
  json::array commits;
  for (std::size_t i = first; i < first + count; ++i)
    commits.push_back(commit_json(git_dir, ahead[i], false));
  body["commits"] = std::move(commits);
  body["files"] = json::array();
  FakeResponse response = FakeResponse::json(200, json::serialize(body));
  if (paged) {
    const int last = std::max<int>(1, static_cast<int>((ahead.size() + per_page - 1) / per_page));
    const std::string base_url = std::string(tls ? "https://" : "http://") +
                                 request.header("Host") + request.path +
                                 "?per_page=" + std::to_string(per_page) + "&page=";
    std::string link;
    if (page < last)
      link += "<" + base_url + std::to_string(page + 1) + ">; rel=\"next\", ";
    link += "<" + base_url + std::to_string(last) + ">; rel=\"last\"";
    response.headers.emplace_back("Link", link);
  }
  return response;
}

}  // namespace shipmate::testing
