// Shipmate's release-note grouping (commands/release_notes.h over the libgit2 source) against
// git-cliff, a well-known Conventional Commits changelog tool (npm's git-cliff, its Linux
// binary), on the same repositories built here with the git CLI. tests/node/cliff.toml makes
// git-cliff print one line per commit: its type group, whether it is breaking, its scope.
//
// Where the two differ by design, the test names the commits and says why:
// - Squash merges: GitHub's squash body lists the squashed commits (`* feat(auth): login`);
//   Shipmate gives each listed conventional line its own entry and honours a BREAKING CHANGE
//   footer anywhere in that body. git-cliff reads the subject only ("Add login (#20)"), so it
//   files the whole squash under non-conventional changes and misses the breaking change.
// - Reverts: Shipmate pairs a revert with the commit it reverts when both are in the range and
//   lists the pair apart (the change never shipped); git-cliff lists both commits.
// Everything else (types, scopes, `!` and both footer spellings, merges skipped, ancestry
// ranges after a hotfix merged back, a force-pushed tag, monorepo paths) must agree exactly.
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "commands/release_notes.h"
#include "integrations/git/git_commit_source.h"
#include "tests/support/git_repo.h"

namespace shipmate::commands {
namespace {

using shipmate::testing::GitRepo;

struct Reading {
  std::string group;  // feat, fix, perf, conventional, revert, other
  bool breaking = false;
  std::string scope;
};

std::string cliff_binary() {
  return shipmate::testing::source_dir() +
         "/tests/node/node_modules/git-cliff-linux-x64/bin/git-cliff";
}

// git-cliff's reading of from..to (paths: --include-path), by commit.
std::map<std::string, Reading> cliff(GitRepo& repo, const std::string& range,
                                     const std::vector<std::string>& paths = {}) {
  std::vector<std::string> argv = {cliff_binary(), "--config",
                                   shipmate::testing::source_dir() + "/tests/node/cliff.toml"};
  for (const auto& path : paths) {
    argv.push_back("--include-path");
    argv.push_back(path);
  }
  argv.push_back(range);
  shipmate::testing::Subprocess process(argv, {{"NO_COLOR", "1"}}, repo.dir.path(), false);
  const int code = process.wait();
  EXPECT_EQ(code, 0) << process.output();
  std::map<std::string, Reading> out;
  std::istringstream lines(process.output());
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("COMMIT\t"))
      continue;
    std::vector<std::string> f;
    std::istringstream fields(line);
    for (std::string field; std::getline(fields, field, '\t');)
      f.push_back(field);
    if (f.size() < 5)
      continue;
    out[f[1]] = Reading{f[2], f[3] == "true", f[4]};
  }
  return out;
}

std::string group_of(const NoteEntry& entry) {
  if (entry.type == "feat" || entry.type == "fix" || entry.type == "perf")
    return entry.type;
  return entry.type.empty() ? "other" : "conventional";
}

struct Ours {
  std::map<std::string, std::vector<Reading>> by_commit;
  std::set<std::string> reverted;  // both commits of each pair
};

Ours ours(GitRepo& repo, const std::string& from, const std::string& to,
          const std::vector<std::string>& paths = {}) {
  integrations::GitCommitSource source({.path = repo.dir.path(), .paths = paths});
  auto commits = source.range_now(repo.rev(from), repo.rev(to));
  EXPECT_TRUE(commits) << commits.error().message;
  const ReleaseNotes notes = group_commits(*commits);
  Ours out;
  auto add = [&](const std::vector<NoteEntry>& entries) {
    for (const auto& e : entries)
      out.by_commit[e.sha].push_back(Reading{group_of(e), e.breaking, e.scope});
  };
  add(notes.breaking);
  add(notes.features);
  add(notes.fixes);
  add(notes.performance);
  add(notes.other_conventional);
  add(notes.other_changes);
  for (const auto& e : notes.reverts)
    out.by_commit[e.sha].push_back(Reading{"revert", false, ""});
  for (const auto& pair : notes.reverted) {
    out.reverted.insert(pair.original.sha);
    out.reverted.insert(pair.revert_sha);
  }
  return out;
}

// Both tools agree on every commit but `designed` (checked by the caller).
void expect_agreement(const Ours& mine, const std::map<std::string, Reading>& theirs,
                      const std::set<std::string>& designed) {
  for (const auto& [sha, reading] : theirs) {
    if (designed.contains(sha))
      continue;
    auto it = mine.by_commit.find(sha);
    ASSERT_NE(it, mine.by_commit.end()) << "git-cliff lists " << sha << " and Shipmate does not";
    ASSERT_EQ(it->second.size(), 1u) << sha;
    EXPECT_EQ(it->second[0].group, reading.group) << sha;
    EXPECT_EQ(it->second[0].breaking, reading.breaking) << sha;
    EXPECT_EQ(it->second[0].scope, reading.scope) << sha;
  }
  for (const auto& [sha, readings] : mine.by_commit) {
    if (!designed.contains(sha)) {
      EXPECT_TRUE(theirs.contains(sha)) << "Shipmate lists " << sha << " and git-cliff does not";
    }
  }
}

class GitCliffCrossCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(cliff_binary()))
        << "git-cliff is missing from tests/node/node_modules: run scripts/install-deps";
  }
};

TEST_F(GitCliffCrossCheck, LinearHistoryTypesScopesAndBreakingMarkersAgree) {
  GitRepo repo;
  repo.commit("chore: start");
  repo.git({"tag", "v1"});
  repo.commit("feat(api): greet by name (#4)");
  repo.commit("fix(ui)!: button colour", "bob");
  repo.commit("perf: cache zones");
  repo.commit("docs: explain notes");
  repo.commit("feat: new config\n\nBody text.\n\nBREAKING CHANGE: key renamed", "carol");
  repo.commit("refactor: tidy\n\nBREAKING-CHANGE: hyphenated footer");
  repo.commit("tweak the thing");
  repo.commit("Update README.md");
  repo.git({"tag", "v2"});
  const auto theirs = cliff(repo, "v1..v2");
  EXPECT_EQ(theirs.size(), 8u);
  expect_agreement(ours(repo, "v1", "v2"), theirs, {});
}

TEST_F(GitCliffCrossCheck, MergesAndAHotfixMergedBackAgreeAndAMovedTagIsFollowedByBoth) {
  GitRepo repo;
  repo.commit("feat: first");
  repo.git({"tag", "v1"});
  repo.git({"checkout", "-q", "-b", "hotfix", "v1"});
  repo.commit("fix: urgent (#12)", "bob");
  repo.git({"tag", "v1.0.1"});
  repo.git({"checkout", "-q", "main"});
  repo.commit("feat: next");
  repo.git({"merge", "-q", "--no-ff", "-m", "Merge branch 'hotfix'", "hotfix"});
  repo.git({"checkout", "-q", "-b", "topic"});
  repo.commit("feat(topic): side work");
  repo.git({"checkout", "-q", "main"});
  repo.git({"merge", "-q", "--no-ff", "-m", "Merge pull request #9 from acme/topic", "topic"});
  repo.git({"tag", "v2"});
  expect_agreement(ours(repo, "v1", "v2"), cliff(repo, "v1..v2"), {});
  // After the hotfix release, the hotfix is not listed again by either.
  const auto after = cliff(repo, "v1.0.1..v2");
  const auto mine = ours(repo, "v1.0.1", "v2");
  expect_agreement(mine, after, {});
  for (const auto& [sha, reading] : after)
    EXPECT_NE(sha, repo.rev("v1.0.1"));
  // The tag is force-moved to a later commit: both read the range to where it points now.
  repo.commit("fix: after retag");
  repo.git({"tag", "-f", "v2"});
  const auto moved = cliff(repo, "v1..v2");
  EXPECT_TRUE(moved.contains(repo.head()));
  expect_agreement(ours(repo, "v1", "v2"), moved, {});
}

TEST_F(GitCliffCrossCheck, SquashBodiesAndRevertsDifferByDesignAndEverythingElseAgrees) {
  GitRepo repo;
  repo.commit("chore: start");
  repo.git({"tag", "v1"});
  repo.commit(
      "Add login (#20)\n\n* feat(auth): login\n* fix(auth): typo\n\nBREAKING CHANGE: sessions "
      "reset",
      "dana");
  const std::string squash = repo.head();
  repo.commit(
      "feat(api): v2 endpoints (#30)\n\n* feat(api): list\n* feat(api): get\n\n"
      "BREAKING CHANGE: v1 endpoints removed");
  const std::string conventional_squash = repo.head();
  repo.commit("feat: risky");
  const std::string risky = repo.head();
  repo.git({"revert", "--no-edit", risky});
  const std::string revert = repo.head();
  repo.commit("fix: kept");
  repo.git({"tag", "v2"});
  const auto theirs = cliff(repo, "v1..v2");
  const auto mine = ours(repo, "v1", "v2");
  expect_agreement(mine, theirs, {squash, conventional_squash, risky, revert});

  // The squash with an unconventional subject: git-cliff files it as one non-conventional,
  // non-breaking change; Shipmate lists the squashed feat (breaking, by the footer) and fix.
  EXPECT_EQ(theirs.at(squash).group, "other");
  EXPECT_FALSE(theirs.at(squash).breaking);
  const auto& entries = mine.by_commit.at(squash);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].group, "feat");
  EXPECT_TRUE(entries[0].breaking);
  EXPECT_EQ(entries[1].group, "fix");
  // A conventional squash subject: both call it a breaking feature; Shipmate lists its body's
  // two entries, and the squash's breaking footer is listed once (on the first).
  EXPECT_EQ(theirs.at(conventional_squash).group, "feat");
  EXPECT_TRUE(theirs.at(conventional_squash).breaking);
  int breaking = 0;
  for (const auto& entry : mine.by_commit.at(conventional_squash)) {
    EXPECT_EQ(entry.group, "feat");
    breaking += entry.breaking ? 1 : 0;
  }
  EXPECT_EQ(mine.by_commit.at(conventional_squash).size(), 2u);
  EXPECT_EQ(breaking, 1);
  // The revert and what it reverts: git-cliff lists both; Shipmate pairs them.
  EXPECT_EQ(theirs.at(risky).group, "feat");
  EXPECT_EQ(theirs.at(revert).group, "revert");
  EXPECT_TRUE(mine.reverted.contains(risky));
  EXPECT_TRUE(mine.reverted.contains(revert));
  EXPECT_FALSE(mine.by_commit.contains(risky));
}

TEST_F(GitCliffCrossCheck, MonorepoPathsSelectTheSameCommits) {
  GitRepo repo;
  repo.commit("chore: root", "alice", "README.md");
  repo.git({"tag", "v1"});
  repo.commit("feat(api): endpoint", "alice", "services/api/main.cc");
  repo.commit("feat(web): page", "bob", "services/web/page.tsx");
  repo.commit("fix(api): nil check", "bob", "services/api/handler.cc");
  repo.commit("docs: root readme", "carol", "README.md");
  repo.commit("perf(api): pool", "carol", "services/api/pool/pool.cc");
  repo.git({"tag", "v2"});
  const auto theirs = cliff(repo, "v1..v2", {"services/api/**"});
  EXPECT_EQ(theirs.size(), 3u);
  expect_agreement(ours(repo, "v1", "v2", {"services/api/**"}), theirs, {});
}

}  // namespace
}  // namespace shipmate::commands
