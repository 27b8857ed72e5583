// Release notes wired to the deploy ledger (commands/release_notes_book.h, the deploy flow and
// notes_commands.cpp), through the real Router with a libgit2 source over a repository built
// here with the git CLI: notes for exactly (previous, new] in the deploy's thread and their
// summary on the status message, a first deploy that says so, a rollback listing what it takes
// out, `notes` and `notes edit` (permission, audit, kept by regeneration), long notes cut at a
// line with the whole text stored and shown by --full; `whats-new` (its plan step by step, then
// through the Router: net change per service since a time or a deploy, rollbacks, edits).
#include <gtest/gtest.h>

#include "commands/release_notes_book.h"
#include "commands/whats_new.h"
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

// ---------------------------------------------------------------------------------------------
// whats-new

constexpr EpochMillis kHour = 60 * 60 * 1000;

storage::DeployRecord served(std::int64_t id, const std::string& service,
                             const std::string& version, EpochMillis at,
                             storage::DeployState state = storage::DeployState::succeeded) {
  storage::DeployRecord deploy;
  deploy.id = id;
  deploy.service = service;
  deploy.environment = "production";
  deploy.version = version;
  deploy.state = state;
  deploy.requested_by = "alice";
  deploy.requested_at = at - 1000;
  deploy.finished_at = at;
  return deploy;
}

TEST(PlanWhatsNew, NetChangePerServiceFromWhatServedAtTheStartOfTheWindow) {
  const EpochMillis since = 10 * kHour;
  const EpochMillis until = 20 * kHour;
  std::vector<storage::DeployRecord> deploys = {
      served(6, "api", "v7", 15 * kHour),
      served(1, "api", "v5", 2 * kHour),
      served(2, "api", "v6", 9 * kHour),  // what served at `since`
      served(3, "web", "w2", 11 * kHour),
      served(4, "api", "v9", 12 * kHour, storage::DeployState::failed),  // changed nothing
      served(5, "api", "v8", 13 * kHour, storage::DeployState::rolled_back),
      served(7, "db", "d1", 21 * kHour),    // after the window
      served(8, "cache", "c1", 3 * kHour),  // no deploy inside the window
  };
  const auto plan = plan_whats_new(deploys, since, until);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].service, "web");  // its deploy came first in the window
  EXPECT_EQ(plan[0].before, "");      // first deployed inside the window
  EXPECT_EQ(plan[0].after, "w2");
  EXPECT_EQ(plan[1].service, "api");
  EXPECT_EQ(plan[1].before, "v6");
  EXPECT_EQ(plan[1].after, "v7");
  ASSERT_EQ(plan[1].deploys.size(), 1u);
  EXPECT_EQ(plan[1].deploys[0].id, 6);
  // A deploy finished exactly at `since` served before the window; one at `until` is inside.
  const auto edges =
      plan_whats_new({served(1, "api", "v1", since), served(2, "api", "v2", until)}, since, until);
  ASSERT_EQ(edges.size(), 1u);
  EXPECT_EQ(edges[0].before, "v1");
  EXPECT_EQ(edges[0].after, "v2");
  EXPECT_TRUE(plan_whats_new({}, since, until).empty());
}

EpochMillis utc(const char* text) {
  return parse_iso8601(text).value();
}

TEST(ReleaseNotesFlow, WhatsNewShowsEachServicesNetChangeSinceATimeOrADeploy) {
  NotesFixture f;
  f.h.clock.set_ms(utc("2026-12-07T08:00Z"));      // a Monday
  f.h.run("alice", "deploy hello v1 to staging");  // #1
  f.h.clock.advance_ms(2 * kHour);
  f.h.run("alice", "deploy hello v2 to staging");  // #2, 10:00
  f.h.clock.advance_ms(2 * kHour);
  f.h.run("alice", "deploy hello v3 to staging");  // #3, 12:00
  f.h.clock.advance_ms(kHour);

  // Since 09:00 today: v1 -> v3, exactly the commits between them, and both deploys.
  std::string out = f.h.run("bob", "whats-new staging since 09:00");
  EXPECT_TRUE(has(out,
                  "What's new in staging since Mon 2026-12-07 09:00Z (2 deploys of 1 "
                  "service):"))
      << out;
  EXPECT_TRUE(has(out, "*hello* v1 \u2192 v3: 1 feature, 1 fix, 1 breaking (3 commits)")) << out;
  EXPECT_TRUE(has(out, "\u2022 hello v2 by alice, 2026-12-07 10:00:00Z (#2)")) << out;
  EXPECT_TRUE(has(out, "\u2022 hello v3 by alice, 2026-12-07 12:00:00Z (#3)")) << out;
  EXPECT_TRUE(has(out, "greet by name")) << out;
  EXPECT_TRUE(has(out, "drop the v0 endpoint")) << out;
  EXPECT_FALSE(has(out, "greet in French")) << out;

  // Since deploy #2: what came after it, one release, from its stored notes.
  out = f.h.run("bob", "whats-new staging since #2");
  EXPECT_TRUE(has(out, "*hello* v2 \u2192 v3: 1 breaking")) << out;
  EXPECT_FALSE(has(out, "greet by name")) << out;

  // The default window (7 days) starts before the first deploy: it says so, no history dump.
  out = f.h.run("bob", "whats-new staging");
  EXPECT_TRUE(has(out,
                  "*hello* v3: first deployed here in this window, so there is no earlier "
                  "release to compare with"))
      << out;
  EXPECT_FALSE(has(out, "greet")) << out;

  EXPECT_TRUE(has(f.h.run("bob", "whats-new staging since 30m"),
                  "What's new in staging since Mon 2026-12-07 12:30Z: nothing."));
  EXPECT_TRUE(has(f.h.run("bob", "whats-new production"), "nothing."));
}

TEST(ReleaseNotesFlow, WhatsNewAfterARollbackListsWhatWasTakenOutAndShowsEdits) {
  NotesFixture f;
  f.h.clock.set_ms(utc("2026-12-07T08:00Z"));
  f.h.run("alice", "deploy hello v1 to staging");  // #1
  f.h.clock.advance_ms(kHour);
  f.h.run("alice", "deploy hello v2 to staging");  // #2
  f.h.clock.advance_ms(kHour);
  // A person's edit of v2's notes is what whats-new shows for that one release.
  f.h.run("bob", "notes edit hello v2 \"Greetings by name, hand-written.\"");
  std::string out = f.h.run("bob", "whats-new staging since #1");
  EXPECT_TRUE(has(out, "*hello* v1 \u2192 v2: 1 feature, 1 fix \u00b7 edited by bob")) << out;
  EXPECT_TRUE(has(out, "Greetings by name, hand-written.")) << out;
  EXPECT_FALSE(has(out, "trailing newline")) << out;

  f.h.run("alice", "deploy hello v3 to staging");  // #3
  f.h.clock.advance_ms(kHour);
  f.h.run("alice", "rollback hello in staging");  // #4: back to v2
  f.h.clock.advance_ms(kHour);
  out = f.h.run("bob", "whats-new staging since #3");
  EXPECT_TRUE(has(out,
                  "*hello* v3 \u2192 v2 (back to an earlier release): takes out 1 breaking "
                  "(1 commit)"))
      << out;
  EXPECT_TRUE(has(out, "hello v2 (rollback) by alice")) << out;
  EXPECT_TRUE(has(out, "drop the v0 endpoint")) << out;
  out = f.h.run("bob", "whats-new staging since #2");
  EXPECT_TRUE(has(out, "*hello* v2 again: no net change (v2 served before as well)")) << out;
}

TEST(ReleaseNotesFlow, WhatsNewExplainsWhatItCannotUse) {
  NotesFixture f;
  f.h.run("alice", "deploy hello v1 to staging");
  EXPECT_TRUE(has(f.h.run("bob", "whats-new staging since tomorrow 09:00"), "is in the future"));
  EXPECT_TRUE(has(f.h.run("bob", "whats-new staging since teatime"), "'teatime' is not a time"));
  EXPECT_TRUE(has(f.h.run("bob", "whats-new staging since #99"),
                  "#99 is not a finished deploy to staging"));
  EXPECT_TRUE(has(f.h.run("bob", "whats-new production since #1"),
                  "#1 is not a finished deploy to production (it went to staging)"));
  EXPECT_TRUE(has(f.h.run("bob", "whats-new staging since #$(reboot)"), "is not a finished"));
  EXPECT_TRUE(
      has(f.h.run("bob", "whats-new staging yesterday"), "write whats-new staging since <when>"));
  EXPECT_TRUE(has(f.h.run("bob", "whats-new stagin"), "staging")) << "did you mean";
}

TEST(ReleaseNotesFlow, WithoutASourceWhatsNewStillListsTheDeploys) {
  CommandHarness h;
  h.clock.set_ms(utc("2026-12-07T08:00Z"));
  h.run("alice", "deploy hello v1 to staging");
  h.clock.advance_ms(kHour);
  h.run("alice", "deploy hello v2 to staging");
  const std::string out = h.run("alice", "whats-new staging since #1");
  EXPECT_TRUE(has(out, "*hello* v1 \u2192 v2\n\u2022 hello v2 by alice")) << out;
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
