// Conventional Commits grouping (commands/release_notes.h): parsing subjects, breaking markers
// and footers, squash bodies, reverts that pair, merges skipped, PR numbers, authors once; then
// the same grouping over real repositories built here with the git CLI, the range taken by
// ancestry (`git log old..new`), never by date.
#include "commands/release_notes.h"

#include <gtest/gtest.h>

#include "tests/support/git_repo.h"
#include "tests/support/test_support.h"

namespace shipmate::commands {
namespace {

using shipmate::testing::GitRepo;
using shipmate::testing::TempDir;

std::vector<std::string> descriptions(const std::vector<NoteEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries)
    out.push_back(e.description);
  return out;
}

TEST(ParseConventional, TypeScopeBangAndPullRequests) {
  auto entry = parse_conventional("feat(api)!: drop v1 endpoints (#123)", "");
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->type, "feat");
  EXPECT_EQ(entry->scope, "api");
  EXPECT_TRUE(entry->breaking);
  EXPECT_EQ(entry->description, "drop v1 endpoints");
  EXPECT_EQ(entry->pull_requests, (std::vector<int>{123}));
  EXPECT_FALSE(parse_conventional("Update README", ""));
  EXPECT_FALSE(parse_conventional("feat:missing space", ""));
  EXPECT_FALSE(parse_conventional("feat(: broken", ""));
  auto footer =
      parse_conventional("fix: tighten parsing", "Body.\n\nBREAKING-CHANGE: dates need Z");
  ASSERT_TRUE(footer);
  EXPECT_TRUE(footer->breaking);
  EXPECT_EQ(footer->breaking_note, "dates need Z");
}

TEST(GroupCommits, GroupsInOrderWithBreakingFirstAndNothingDropped) {
  // Newest first, as git log lists them.
  const std::vector<CommitInfo> commits = {
      {"f6", "Merge pull request #9 from acme/topic", "", "carol", 2},
      {"e5", "tweak the thing", "", "bob", 1},
      {"d4", "perf: cache zones", "", "alice", 1},
      {"c3", "fix(ui): button colour (#7)", "", "bob", 1},
      {"b2", "feat: schedules", "BREAKING CHANGE: config key renamed", "alice", 1},
      {"a1", "feat(api): announce (#5)", "", "alice", 1},
  };
  const ReleaseNotes notes = group_commits(commits);
  EXPECT_EQ(descriptions(notes.breaking), (std::vector<std::string>{"schedules"}));
  EXPECT_EQ(descriptions(notes.features), (std::vector<std::string>{"announce"}));
  EXPECT_EQ(descriptions(notes.fixes), (std::vector<std::string>{"button colour"}));
  EXPECT_EQ(descriptions(notes.performance), (std::vector<std::string>{"cache zones"}));
  EXPECT_EQ(descriptions(notes.other_changes), (std::vector<std::string>{"tweak the thing"}));
  EXPECT_EQ(notes.merges_skipped, 1);
  EXPECT_EQ(notes.authors, (std::vector<std::string>{"alice", "bob"}));
  EXPECT_EQ(summary_line(notes),
            "1 feature, 1 fix, 1 breaking, 1 performance change, 1 other change");
  const std::string text = render_notes(notes, "https://github.com/acme/api/pull/");
  EXPECT_LT(text.find("### Breaking changes"), text.find("### Features"));
  EXPECT_NE(text.find("**api**: announce ([#5](https://github.com/acme/api/pull/5))"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  config key renamed"), std::string::npos);
}

TEST(GroupCommits, ASquashBodyListingSeveralCommitsGivesEachItsEntry) {
  const std::vector<CommitInfo> commits = {
      {"s1", "Release train (#40)",
       "* feat: one\n* fix(db): two\n* chore: three\n\nBREAKING CHANGE: migration 14 required",
       "dana", 1}};
  const ReleaseNotes notes = group_commits(commits);
  ASSERT_EQ(notes.breaking.size(), 1u);
  EXPECT_EQ(notes.breaking[0].description, "one");
  EXPECT_EQ(notes.breaking[0].breaking_note, "migration 14 required");
  EXPECT_EQ(descriptions(notes.fixes), (std::vector<std::string>{"two"}));
  EXPECT_EQ(notes.fixes[0].pull_requests, (std::vector<int>{40}));
  EXPECT_EQ(descriptions(notes.other_conventional), (std::vector<std::string>{"three"}));
}

TEST(GroupCommits, AReversionInsideTheRangePairsAndOneOutsideIsListed) {
  const std::vector<CommitInfo> commits = {
      {"ccccccc3", "Revert \"fix: old bug\"", "This reverts commit 0000000aaa.", "bob", 1},
      {"bbbbbbb2", "Revert \"feat: risky\"", "This reverts commit aaaaaaa1.", "bob", 1},
      {"aaaaaaa1", "feat: risky", "", "alice", 1},
  };
  const ReleaseNotes notes = group_commits(commits);
  EXPECT_TRUE(notes.features.empty());
  ASSERT_EQ(notes.reverted.size(), 1u);
  EXPECT_EQ(notes.reverted[0].original.description, "risky");
  EXPECT_EQ(notes.reverted[0].revert_sha, "bbbbbbb2");
  ASSERT_EQ(notes.reverts.size(), 1u);
  EXPECT_EQ(notes.reverts[0].description, "Revert \"fix: old bug\"");
}

TEST(ReleaseNotesFromGit, AHotfixMergedBackBringsOnlyItsOwnCommitsNotAllHistory) {
  GitRepo repo;
  repo.commit("feat: first");
  repo.commit("fix: second");
  repo.git({"tag", "v1"});
  repo.git({"checkout", "-q", "-b", "hotfix", "v1"});
  repo.commit("fix: urgent (#12)", "bob");
  repo.git({"tag", "v1.0.1"});
  repo.git({"checkout", "-q", "main"});
  repo.commit("feat: next");
  repo.git({"merge", "-q", "--no-ff", "-m", "Merge branch 'hotfix'", "hotfix"});
  repo.commit("perf: faster");
  // v1 -> main: the hotfix, the new feature and perf; the merge skipped; nothing from before v1.
  const ReleaseNotes notes = group_commits(repo.range("v1", "main"));
  EXPECT_EQ(descriptions(notes.features), (std::vector<std::string>{"next"}));
  EXPECT_EQ(descriptions(notes.fixes), (std::vector<std::string>{"urgent"}));
  EXPECT_EQ(descriptions(notes.performance), (std::vector<std::string>{"faster"}));
  EXPECT_EQ(notes.merges_skipped, 1);
  // v1.0.1 -> main does not list the hotfix again: it is already an ancestor.
  const ReleaseNotes after_hotfix = group_commits(repo.range("v1.0.1", "main"));
  EXPECT_TRUE(after_hotfix.fixes.empty());
  // Rolling back main -> v1 takes these out: the reverse range is empty of them (the caller
  // lists v1..main as what is taken out).
  EXPECT_TRUE(repo.range("main", "v1").empty());
}

TEST(ReleaseNotesFromGit, SquashWithBreakingFooterRevertsAndAForcePushedTag) {
  GitRepo repo;
  repo.commit("chore: start");
  repo.git({"tag", "v1"});
  repo.commit(
      "Add login (#20)\n\n* feat(auth): login\n* fix(auth): typo\n\nBREAKING CHANGE: "
      "sessions reset");
  repo.commit("feat: risky");
  const std::string risky = repo.head();
  repo.git({"revert", "--no-edit", risky});
  repo.git({"tag", "v2"});
  const ReleaseNotes notes = group_commits(repo.range("v1", "v2"));
  ASSERT_EQ(notes.breaking.size(), 1u);
  EXPECT_EQ(notes.breaking[0].description, "login");
  EXPECT_EQ(notes.breaking[0].breaking_note, "sessions reset");
  EXPECT_EQ(descriptions(notes.fixes), (std::vector<std::string>{"typo"}));
  ASSERT_EQ(notes.reverted.size(), 1u);
  EXPECT_EQ(notes.reverted[0].original.description, "risky");
  // The tag is moved (force-pushed) to a new commit: the range follows where it points now.
  repo.commit("fix: after retag");
  repo.git({"tag", "-f", "v2"});
  const ReleaseNotes moved = group_commits(repo.range("v1", "v2"));
  EXPECT_EQ(descriptions(moved.fixes), (std::vector<std::string>{"typo", "after retag"}));
}

}  // namespace
}  // namespace shipmate::commands
