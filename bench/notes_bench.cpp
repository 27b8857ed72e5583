// Release notes for a 10,000-commit range read from a git clone with libgit2
// (integrations/git/git_commit_source.h) and grouped (commands/release_notes.h): the time to walk
// the range by ancestry, to group and render it, the same with monorepo path globs (one tree diff
// per commit), and the process's peak resident memory (VmHWM) after each step.
//
// The repository is written once into a temporary directory by `git fast-import`: N commits on
// main (every 100th a merge of a one-commit side branch), conventional subjects of every type, a
// breaking footer every 250th, a squash body every 500th, a non-conventional subject every 7th;
// each commit changes one file under services/api, services/web or libs. Tags v0 (the root) and
// vN (the tip).
//
// With --fetches F it measures instead what a long-running serve does to memory: a clone whose
// remote is a second repository on disk, F resolves of a tag (each one a libgit2 fetch, as for
// every deploy's notes), and the resident set (VmRSS) after 1, 10, 100, ... F of them.
//
// Run: build-release/bench/shipmate_notes_bench [--commits N] [--runs R] [--fetches F]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <algorithm>
#include <chrono>

#include "commands/release_notes.h"
#include "integrations/git/git_commit_source.h"

namespace {

using Clock = std::chrono::steady_clock;

bool build_repository(const std::string& dir, int commits);
double ms_since(Clock::time_point start);

long status_kb(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const std::size_t length = std::strlen(field);
  while (std::getline(status, line)) {
    if (line.compare(0, length, field) == 0)
      return std::atol(line.c_str() + length);
  }
  return -1;
}

// F fetches through one GitCommitSource (as the serve keeps one per service), RSS along the way.
int fetch_rss(int fetches) {
  char tmpl[] = "/tmp/shipmate-fetch-bench-XXXXXX";
  const char* dir = mkdtemp(tmpl);
  if (dir == nullptr)
    return 1;
  const std::string origin = std::string(dir) + "/origin";
  const std::string clone = std::string(dir) + "/clone";
  if (!build_repository(origin, 200)) {
    std::fprintf(stderr, "could not build the origin repository\n");
    return 1;
  }
  const std::string command = "git clone -q '" + origin + "' '" + clone + "'";
  if (std::system(command.c_str()) != 0)
    return 1;
  shipmate::integrations::GitCommitSource source({.path = clone});
  std::printf("fetches: RSS before any %ld kB\n", status_kb("VmRSS:"));
  const auto start = Clock::now();
  int next_report = 1;
  for (int i = 1; i <= fetches; ++i) {
    auto sha = source.resolve_now("vN");  // a name: fetched first, every time
    if (!sha) {
      std::fprintf(stderr, "%s\n", sha.error().message.c_str());
      return 1;
    }
    if (i == next_report || i == fetches) {
      std::printf("fetches: after %d: RSS %ld kB (peak %ld kB), %.1f ms per fetch so far\n", i,
                  status_kb("VmRSS:"), status_kb("VmHWM:"), ms_since(start) / i);
      next_report *= 10;
    }
  }
  std::printf("fetches: %d counted by the source\n", source.fetches());
  std::filesystem::remove_all(dir);
  return 0;
}

long peak_rss_kb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0)
      return std::atol(line.c_str() + 6);
  }
  return -1;
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string message_for(int i) {
  static const char* kTypes[] = {"feat", "fix", "perf", "docs", "refactor", "chore", "test"};
  static const char* kScopes[] = {"api", "web", "db", "auth", ""};
  if (i % 7 == 3)
    return "Update things in area " + std::to_string(i) + "\n";
  std::string type = kTypes[i % 7];
  std::string scope = kScopes[i % 5];
  std::string subject = type + (scope.empty() ? "" : "(" + scope + ")") + ": change number " +
                        std::to_string(i) + " (#" + std::to_string(1000 + i) + ")";
  std::string body;
  if (i % 500 == 0)
    body = "\n* feat(api): squashed one " + std::to_string(i) + "\n* fix(api): squashed two\n";
  if (i % 250 == 0)
    body += "\nBREAKING CHANGE: behaviour " + std::to_string(i) + " changed\n";
  return subject + "\n" + body;
}

void data(FILE* out, const std::string& text) {
  std::fprintf(out, "data %zu\n%s\n", text.size(), text.c_str());
}

bool build_repository(const std::string& dir, int commits) {
  const std::string init = "git init -q -b main '" + dir + "'";
  if (std::system(init.c_str()) != 0)
    return false;
  const std::string command = "git -C '" + dir + "' fast-import --quiet";
  FILE* out = popen(command.c_str(), "w");
  if (out == nullptr)
    return false;
  static const char* kAreas[] = {"services/api", "services/web", "libs"};
  static const char* kAuthors[] = {"Alice", "Bob", "Carol", "Dana", "Erin"};
  int mark = 0;
  int main_tip = 0;
  for (int i = 0; i < commits; ++i) {
    if (i > 0 && i % 100 == 0) {
      // A side branch with one commit, merged back with --no-ff.
      std::fprintf(out, "commit refs/heads/side\nmark :%d\n", ++mark);
      std::fprintf(out,
                   "author Bob <b@example.com> %d +0000\ncommitter Bob <b@example.com> %d +0000\n",
                   1700000000 + i, 1700000000 + i);
      data(out, "fix(side): side change " + std::to_string(i) + "\n");
      std::fprintf(out, "from :%d\n", main_tip);
      std::fprintf(out, "M 644 inline libs/side%d.txt\n", i);
      data(out, "side " + std::to_string(i));
      const int side = mark;
      std::fprintf(out, "commit refs/heads/main\nmark :%d\n", ++mark);
      std::fprintf(
          out, "author Alice <a@example.com> %d +0000\ncommitter Alice <a@example.com> %d +0000\n",
          1700000000 + i, 1700000000 + i);
      data(out, "Merge pull request #" + std::to_string(i) + " from acme/side\n");
      std::fprintf(out, "from :%d\nmerge :%d\n", main_tip, side);
      main_tip = mark;
      continue;
    }
    std::fprintf(out, "commit refs/heads/main\nmark :%d\n", ++mark);
    const char* author = kAuthors[i % 5];
    std::fprintf(out,
                 "author %s <%s@example.com> %d +0000\ncommitter %s <%s@example.com> %d +0000\n",
                 author, author, 1700000000 + i, author, author, 1700000000 + i);
    data(out, message_for(i));
    if (main_tip != 0)
      std::fprintf(out, "from :%d\n", main_tip);
    std::fprintf(out, "M 644 inline %s/file%d.txt\n", kAreas[i % 3], i % 200);
    data(out, "content " + std::to_string(i));
    main_tip = mark;
    if (i == 0)
      std::fprintf(out, "reset refs/tags/v0\nfrom :%d\n\n", mark);
  }
  std::fprintf(out, "reset refs/tags/vN\nfrom :%d\n\n", main_tip);
  return pclose(out) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  int commits = 10000;
  int runs = 3;
  int fetches = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--commits") == 0)
      commits = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--runs") == 0)
      runs = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--fetches") == 0)
      fetches = std::atoi(argv[i + 1]);
  }
  if (fetches > 0)
    return fetch_rss(fetches);
  char tmpl[] = "/tmp/shipmate-notes-bench-XXXXXX";
  const char* dir = mkdtemp(tmpl);
  if (dir == nullptr)
    return 1;
  const auto build_start = Clock::now();
  if (!build_repository(dir, commits)) {
    std::fprintf(stderr, "could not build the repository with git fast-import\n");
    return 1;
  }
  std::printf("repository: %d commits in %.0f ms (git fast-import)\n", commits,
              ms_since(build_start));
  std::printf("peak RSS at start: %ld kB\n", peak_rss_kb());
  for (int run = 0; run < runs; ++run) {
    shipmate::integrations::GitCommitSource source({.path = dir, .fetch = false});
    const std::string from = *source.resolve_now("v0");
    const std::string to = *source.resolve_now("vN");
    auto start = Clock::now();
    auto range = source.range_now(from, to);
    if (!range) {
      std::fprintf(stderr, "%s\n", range.error().message.c_str());
      return 1;
    }
    const double walk_ms = ms_since(start);
    const long rss_walk = peak_rss_kb();
    start = Clock::now();
    const auto notes = shipmate::commands::group_commits(*range);
    const std::string text =
        shipmate::commands::render_notes(notes, "https://github.com/acme/api/pull/");
    const double group_ms = ms_since(start);
    const long rss_group = peak_rss_kb();
    shipmate::integrations::GitCommitSource filtered(
        {.path = dir, .fetch = false, .paths = {"services/api/**"}});
    start = Clock::now();
    auto api_only = filtered.range_now(from, to);
    const double paths_ms = ms_since(start);
    const long rss_paths = peak_rss_kb();
    std::printf(
        "run %d: walk %zu commits %.1f ms (peak RSS %ld kB); group+render %.1f ms, %zu bytes of "
        "Markdown, %s (peak RSS %ld kB); with paths services/api/** %zu commits %.1f ms (peak RSS "
        "%ld kB)\n",
        run + 1, range->size(), walk_ms, rss_walk, group_ms, text.size(),
        shipmate::commands::summary_line(notes).c_str(), rss_group, api_only ? api_only->size() : 0,
        paths_ms, rss_paths);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
