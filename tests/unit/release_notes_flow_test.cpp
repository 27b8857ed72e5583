// Release notes wired to the deploy ledger (commands/release_notes_book.h, the deploy flow and
// notes_commands.cpp), through the real Router with a libgit2 source over a repository built
// here with the git CLI: notes for exactly (previous, new] in the deploy's thread and their
// summary on the status message, a first deploy that says so, a rollback listing what it takes
// out, `notes` and `notes edit` (permission, audit, kept by regeneration), long notes cut at a
// line with the whole text stored and shown by --full.
#include <gtest/gtest.h>

#include "commands/release_notes_book.h"
#include "integrations/git/git_commit_source.h"
#include "storage/release_notes_store.h"
#include "tests/support/command_harness.h"
#include "tests/support/git_repo.h"

namespace shipmate::commands {
namespace {

using shipmate::testing::CommandHarness;
using shipmate::testing::GitRepo;

bool has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

struct NotesFixture {
  NotesFixture() {
    repo.commit("feat: greet in French");
    repo.git({"tag", "v1"});
    repo.commit("feat(api): greet by name (#4)");
    repo.commit("fix: trailing newline", "bob");
    repo.git({"tag", "v2"});
    repo.commit("feat!: drop the v0 endpoint", "carol");
    repo.git({"tag", "v3"});
    std::map<std::string, NotesSource> sources;
    sources["hello"] = NotesSource{std::make_unique<integrations::GitCommitSource>(
                                       integrations::GitSourceConfig{.path = repo.dir.path()}),
                                   "https://github.com/acme/hello/pull/"};
    book = std::make_unique<ReleaseNotesBook>(store, std::move(sources));
    h.services->notes = book.get();
  }
  GitRepo repo;
  CommandHarness h;
  storage::ReleaseNotesStore store{*h.db, h.clock};
  std::unique_ptr<ReleaseNotesBook> book;
};

TEST(ReleaseNotesFlow, ADeployThreadsTheNotesOfExactlyItsRangeAndAFirstDeploySaysSo) {
  NotesFixture f;
  const std::string first = f.h.run("alice", "deploy hello v1 to staging");
  EXPECT_TRUE(has(first, "First deploy of hello to staging: no earlier release here")) << first;
  const std::string second = f.h.run("alice", "deploy hello v2 to staging");
  EXPECT_TRUE(has(second,
                  "Release notes for hello v2 in staging (v1 \u2192 v2, 2 commits): "
                  "1 feature, 1 fix"))
      << second;
  // Exactly (v1, v2]: nothing from v1 or before, nothing from v3.
  EXPECT_TRUE(has(second, "greet by name")) << second;
  EXPECT_FALSE(has(second, "greet in French")) << second;
  EXPECT_FALSE(has(second, "drop the v0 endpoint")) << second;
  EXPECT_TRUE(has(second, "[#4](https://github.com/acme/hello/pull/4)")) << second;
  // The summary is on the status message itself.
  ASSERT_FALSE(f.h.last.updates.empty());
  EXPECT_TRUE(has(f.h.last.updates.back().context, "1 feature, 1 fix"))
      << f.h.last.updates.back().context;
  // Stored under the release, with its range.
  auto stored = f.store.find("hello", "v2");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->from_version, "v1");
  EXPECT_EQ(stored->from_sha, f.repo.rev("v1"));
  EXPECT_EQ(stored->to_sha, f.repo.rev("v2"));
  EXPECT_TRUE(has(stored->generated, "trailing newline"));
}

TEST(ReleaseNotesFlow, ARollbackListsWhatItTakesOutAndStoresNothingUnderTheOldVersion) {
  NotesFixture f;
  f.h.run("alice", "deploy hello v2 to staging");
  f.h.run("alice", "deploy hello v3 to staging");
  const auto before = f.store.find("hello", "v2");
  const std::string out = f.h.run("alice", "rollback hello in staging");
  EXPECT_TRUE(has(out,
                  "Taken out of staging by this rollback (v3 \u2192 v2, 1 commits): "
                  "1 breaking"))
      << out;
  EXPECT_TRUE(has(out, "drop the v0 endpoint")) << out;
  EXPECT_TRUE(has(f.h.last.updates.back().context, "taken out: 1 breaking"));
  const auto after = f.store.find("hello", "v2");
  EXPECT_EQ(before.has_value(), after.has_value());
}

TEST(ReleaseNotesFlow, NotesShowsAReleaseOrARangeAndRefusesWhatItCannotKnow) {
  NotesFixture f;
  f.h.run("alice", "deploy hello v1 to staging");
  f.h.run("alice", "deploy hello v3 to staging");
  // The stored notes of a release, by version or as what an environment serves.
  std::string out = f.h.run("bob", "notes hello v3");
  EXPECT_TRUE(has(out, "Release notes for hello v3 (since v1): 1 feature, 1 fix, 1 breaking"))
      << out;
  EXPECT_EQ(f.h.run("bob", "notes hello in staging"), out);
  // A range need not be a release.
  out = f.h.run("bob", "notes hello v2..v3");
  EXPECT_TRUE(has(out, "Changes in hello from v2 to v3 (1 commits): 1 breaking")) << out;
  out = f.h.run("bob", "notes hello v9..v3");
  EXPECT_TRUE(has(out, "No notes for hello v9..v3")) << out;
  EXPECT_TRUE(has(out, "no tag, branch or commit named v9")) << out;
  out = f.h.run("bob", "notes hello v2");
  EXPECT_TRUE(has(out, "it was never deployed over an earlier version")) << out;
  out = f.h.run("bob", "notes hello in production");
  EXPECT_TRUE(has(out, "never been deployed to production")) << out;
  out = f.h.run("bob", "notes hello $(reboot)");
  EXPECT_TRUE(has(out, "notes hello:")) << out;
}

TEST(ReleaseNotesFlow, AnEditNeedsDeployRightsIsAuditedAndSurvivesRegeneration) {
  NotesFixture f;
  f.h.catalog.users.push_back({"dave", "Dave", {"viewer"}});
  f.h.run("alice", "deploy hello v1 to staging");
  f.h.run("alice", "deploy hello v2 to staging");
  std::string out = f.h.run("dave", "notes edit hello v2 \"Greetings by name.\"");
  EXPECT_TRUE(has(out, "Notes edit refused: dave may not deploy hello")) << out;
  out = f.h.run("mallory", "notes edit hello v2 \"x\"");
  EXPECT_FALSE(has(out, "replaced")) << out;
  out = f.h.run("bob", "notes edit hello v2");
  EXPECT_TRUE(has(out, "give the new text in quotes")) << out;
  out = f.h.run("bob", "notes edit hello v2 \"Greetings by name; newline fixed.\"");
  EXPECT_TRUE(has(out, "Release notes for hello v2 replaced")) << out;
  out = f.h.run("alice", "notes hello v2");
  EXPECT_TRUE(has(out, "Greetings by name; newline fixed.")) << out;
  EXPECT_TRUE(has(out, "edited by bob")) << out;
  EXPECT_FALSE(has(out, "trailing newline")) << out;
  // Deploying v2 again regenerates the notes and keeps the edit.
  f.h.run("alice", "deploy hello v1 to staging");
  out = f.h.run("alice", "deploy hello v2 to staging");
  EXPECT_TRUE(has(out, "edited by bob")) << out;
  EXPECT_TRUE(has(out, "Greetings by name; newline fixed.")) << out;
  const auto stored = f.store.find("hello", "v2");
  ASSERT_TRUE(stored && stored->edited);
  EXPECT_TRUE(has(stored->generated, "trailing newline"));  // the generated text is kept too
  // Audited: who edited what, and the refusal.
  const std::string audit = f.h.run("carol", "audit tail --limit 50");
  EXPECT_TRUE(has(audit, "notes.edited")) << audit;
  EXPECT_TRUE(has(audit, "notes.edit.refused")) << audit;
}

TEST(ReleaseNotesFlow, LongNotesAreCutAtALineWithThePointerAndFullShowsEveryPart) {
  NotesFixture f;
  // A squash merge listing 150 changes: each its own entry, far beyond one message.
  std::string body = "Release train (#90)\n\n";
  for (int i = 0; i < 150; ++i)
    body += "* feat(area" + std::to_string(i) +
            "): a change with a description long enough to "
            "matter number " +
            std::to_string(i) + "\n";
  f.repo.commit(body);
  f.repo.git({"tag", "v4"});
  f.h.target->add_version("v4");
  f.h.run("alice", "deploy hello v3 to staging");
  const std::string out = f.h.run("alice", "deploy hello v4 to staging");
  EXPECT_TRUE(has(out, "cut here; the full notes: `notes hello v4 --full`")) << out;
  for (const auto& message : f.h.last.threads)
    EXPECT_LE(message.text.size(), kNotesPieceLimit) << message.text.substr(0, 80);
  const auto stored = f.store.find("hello", "v4");
  ASSERT_TRUE(stored);
  EXPECT_TRUE(has(stored->generated, "number 149"));
  f.h.run("bob", "notes hello v4 --full");
  std::string joined;
  const auto& parts = f.h.last;
  ASSERT_EQ(parts.posts.size(), 1u);
  ASSERT_GT(parts.threads.size(), 0u);
  joined = parts.posts[0].text.substr(parts.posts[0].text.find("\n\n") + 2);
  for (const auto& piece : parts.threads)
    joined += piece.text;
  EXPECT_EQ(joined, stored->generated);
  for (const auto& piece : parts.threads)
    EXPECT_LE(piece.text.size(), kNotesPieceLimit);
}

TEST(ReleaseNotesFlow, WithoutASourceDeploysPostNoNotesAndTheCommandSaysWhy) {
  CommandHarness h;
  const std::string deploy = h.run("alice", "deploy hello v1 to staging");
  EXPECT_FALSE(has(deploy, "notes")) << deploy;
  EXPECT_TRUE(has(h.run("alice", "notes hello v1"), "Release notes are not set up"));
  EXPECT_TRUE(has(h.run("alice", "notes hllo v1"), "hello")) << "did you mean";
}

TEST(SplitAtLines, PiecesStayWithinTheLimitCutAfterNewlinesAndJoinBack) {
  std::string text;
  for (int i = 0; i < 200; ++i)
    text += "- line " + std::to_string(i) + " \u00e9\u00e9\u00e9\n";
  const auto pieces = split_at_lines(text, 100);
  std::string joined;
  for (const auto& piece : pieces) {
    EXPECT_LE(piece.size(), 100u);
    EXPECT_EQ(piece.back(), '\n');
    joined += piece;
  }
  EXPECT_EQ(joined, text);
  // One line longer than the limit is cut at a character boundary.
  const std::string wide(250, 'x');
  const auto cut = split_at_lines("\u00e9" + wide, 100);
  EXPECT_EQ(cut.size(), 3u);
  EXPECT_EQ(cut[0].size(), 100u);
  EXPECT_EQ(split_at_lines("", 10), (std::vector<std::string>{""}));
}

}  // namespace
}  // namespace shipmate::commands
