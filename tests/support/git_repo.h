// A git repository built by a test with the git CLI in a temporary directory, with fixed dates
// so that ranges can only be told apart by ancestry.
//
// Contract: test-thread only; every git call is expected to succeed (a failure is a test
// failure naming the command and git's output).
#pragma once

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "integrations/commit_source.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {

class GitRepo {
 public:
  explicit GitRepo(bool init = true) {
    if (!init)
      return;
    git({"init", "-q", "-b", "main"});
    git({"config", "user.email", "t@example.com"});
    git({"config", "commit.gpgsign", "false"});
  }
  std::string git(const std::vector<std::string>& args, const std::string& author = "alice") {
    std::vector<std::string> argv = {"/usr/bin/git",
                                     "-C",
                                     dir.path(),
                                     "-c",
                                     "user.name=" + author,
                                     "-c",
                                     "user.email=t@example.com"};
    argv.insert(argv.end(), args.begin(), args.end());
    Subprocess process(argv,
                       {{"GIT_AUTHOR_DATE", "2026-12-01T00:00:00Z"},
                        {"GIT_COMMITTER_DATE", "2026-12-01T00:00:00Z"}},
                       "", false);
    const int code = process.wait();
    EXPECT_EQ(code, 0) << "git " << args[0] << ": " << process.output();
    return process.output();
  }
  // Each commit changes its own file (or `path`, when given), so that it can be reverted.
  void commit(const std::string& message, const std::string& author = "alice",
              const std::string& path = "") {
    const std::string name = path.empty() ? "change" + std::to_string(++changes_) + ".txt" : path;
    const auto slash = name.rfind('/');
    if (slash != std::string::npos)
      std::filesystem::create_directories(dir.file(name.substr(0, slash)));
    write_file(dir.file(name), message + std::to_string(++changes_) + "\n");
    git({"add", name});
    git({"commit", "-q", "-m", message}, author);
  }
  std::string head() { return rev("HEAD"); }
  std::string rev(const std::string& name) {
    std::string sha = git({"rev-parse", name + "^{commit}"});
    return sha.substr(0, sha.find('\n'));
  }
  // The commits reachable from `to` and not from `from`, newest first, as `git log` lists them.
  std::vector<integrations::SourceCommit> range(const std::string& from, const std::string& to,
                                                const std::vector<std::string>& paths = {}) {
    std::vector<std::string> args = {"log", "--format=%H%x1f%an%x1f%P%x1f%s%x1f%b%x1e",
                                     from + ".." + to};
    if (!paths.empty()) {
      args.push_back("--");
      args.insert(args.end(), paths.begin(), paths.end());
    }
    const std::string out = git(args);
    std::vector<integrations::SourceCommit> commits;
    std::size_t start = 0;
    while (true) {
      const auto end = out.find('\x1e', start);
      if (end == std::string::npos)
        break;
      std::string record = out.substr(start, end - start);
      start = end + 1;
      while (!record.empty() && record.front() == '\n')
        record.erase(0, 1);
      std::vector<std::string> fields;
      std::size_t pos = 0;
      for (int i = 0; i < 4; ++i) {
        const auto sep = record.find('\x1f', pos);
        fields.push_back(record.substr(pos, sep - pos));
        pos = sep + 1;
      }
      std::string body = record.substr(pos);
      while (!body.empty() && body.back() == '\n')
        body.pop_back();
      const int parents = static_cast<int>(std::count(fields[2].begin(), fields[2].end(), ' ')) + 1;
      commits.push_back(integrations::SourceCommit{fields[0], fields[3], body, fields[1], parents});
    }
    return commits;
  }
  TempDir dir;

 private:
  int changes_ = 0;
};

}  // namespace shipmate::testing
