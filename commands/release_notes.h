// Release notes from a list of commits: Conventional Commits grouping, without I/O.
//
// Contract
// - Pure: commits in (as a range source produced them, newest first), notes out; thread-safe;
//   nothing here throws. Where the commits come from (a range by ancestry in a git repository,
//   the GitHub compare API) is not this file's business.
//
// Rules
// - A subject `type(scope)!: description` is conventional (type: letters; scope optional). `!`
//   after the type, or a `BREAKING CHANGE:` / `BREAKING-CHANGE:` footer anywhere in the body,
//   makes it breaking; the footer's text is the breaking note.
// - A squash merge body that lists several commits (lines `* feat: ...`, `- fix(api): ...`)
//   contributes each listed conventional line as its own entry, and breaking footers anywhere in
//   that body still count.
// - Merge commits (more than one parent) are skipped; the commits they bring in are listed on
//   their own. `Merge pull request #N` subjects are skipped the same way.
// - `Revert "<subject>"` with `This reverts commit <sha>` in the body pairs with the commit it
//   reverts when that commit is in the list: both leave the groups and the pair is listed as
//   reverted. A revert whose target is outside the list is listed under reverts.
// - Groups, in order: breaking changes, features, fixes, performance, other conventional types
//   (docs, refactor, ...), reverts, and "Other changes" for non-conventional subjects (never
//   dropped). Within a group, oldest first.
// - `(#123)` at the end of a subject is a pull request number: removed from the text, kept as a
//   link. Authors are listed once each, in order of first appearance (oldest first).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "integrations/commit_source.h"

namespace shipmate::commands {

// What a range source (integrations/commit_source.h) gives: sha, subject, body, author, parents.
using CommitInfo = integrations::SourceCommit;

struct NoteEntry {
  std::string type;  // "feat", "fix", ...; "" for non-conventional
  std::string scope;
  std::string description;
  bool breaking = false;
  std::string breaking_note;
  std::vector<int> pull_requests;
  std::string sha;
  std::string author;
};

struct RevertedPair {
  NoteEntry original;
  std::string revert_sha;
};

struct ReleaseNotes {
  std::vector<NoteEntry> breaking;
  std::vector<NoteEntry> features;
  std::vector<NoteEntry> fixes;
  std::vector<NoteEntry> performance;
  std::vector<NoteEntry> other_conventional;
  std::vector<NoteEntry> reverts;      // reverts of commits outside the range
  std::vector<RevertedPair> reverted;  // changes made and undone within the range
  std::vector<NoteEntry> other_changes;
  std::vector<std::string> authors;
  int merges_skipped = 0;
};

// The conventional parts of a subject; nullopt when it is not conventional.
std::optional<NoteEntry> parse_conventional(std::string_view subject, std::string_view body);

// `commits` newest first, as `git log` lists them.
ReleaseNotes group_commits(const std::vector<CommitInfo>& commits);

// "3 features, 5 fixes, 1 breaking" (parts with zero left out; "no changes" when empty).
std::string summary_line(const ReleaseNotes& notes);

// Markdown for chat and storage. `pull_url` is a prefix such as
// "https://github.com/acme/api/pull/"; empty: numbers are shown as "#123" without links.
std::string render_notes(const ReleaseNotes& notes, std::string_view pull_url = {});

}  // namespace shipmate::commands
