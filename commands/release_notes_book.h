// Release notes for the releases of each service: which commit source a service reads, how a
// version becomes a commit, the notes of a range generated and stored, and their cutting into
// chat-sized pieces. The deploy flow and the `notes` commands use it.
//
// Contract
// - Event-loop thread. generate() awaits the service's CommitSource (a libgit2 clone works on a
//   thread of its own; GitHub is HTTP), so it never blocks the loop.
// - A version resolves to a commit by the release itself first (DeployTarget::release_commit:
//   the local target's RELEASE file may say `commit=<sha>`), else by the source (tag, branch,
//   SHA). Versions pass validate_version() before they reach a source.
// - Ranges are by ancestry (integrations/commit_source.h). An empty `from` is refused: a first
//   deploy says so instead of listing all history.
// - generate(..., store = true) keeps the notes under (service, to_version); a person's edit
//   (`notes edit`) survives regeneration. Errors are one line for chat; the deploy never depends
//   on notes.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "commands/release_notes.h"
#include "common/result.h"
#include "integrations/commit_source.h"
#include "integrations/deploy_target.h"
#include "storage/release_notes_store.h"

namespace shipmate::commands {

// Slack shows at most 3,000 characters in a section block and Teams cards end at 28 KB; notes
// are cut below the smaller, at a line boundary.
inline constexpr std::size_t kNotesPieceLimit = 2900;

struct NotesSource {
  std::unique_ptr<integrations::CommitSource> source;
  std::string pull_url;  // "https://github.com/acme/api/pull/"; empty: #N without links
};

struct GeneratedNotes {
  storage::ReleaseNotesRecord record;  // text() is what to show
  std::size_t commits = 0;
  bool edited = false;
};

class ReleaseNotesBook {
 public:
  ReleaseNotesBook(storage::ReleaseNotesStore& store, std::map<std::string, NotesSource> sources);

  bool covers(std::string_view service) const;
  storage::ReleaseNotesStore& store() { return store_; }
  std::string describe(std::string_view service) const;

  // The commit a version stands for.
  boost::asio::awaitable<Result<std::string>> resolve(std::string service, std::string version,
                                                      const integrations::DeployTarget* target);
  // Notes of the commits reachable from `to_version` and not from `from_version`.
  boost::asio::awaitable<Result<GeneratedNotes>> generate(std::string service,
                                                          std::string from_version,
                                                          std::string to_version,
                                                          const integrations::DeployTarget* target,
                                                          bool store);

 private:
  storage::ReleaseNotesStore& store_;
  std::map<std::string, NotesSource, std::less<>> sources_;
};

// `text` in pieces of at most `limit` bytes, cut after a newline where one is in reach (else at
// a UTF-8 character boundary). Joining the pieces gives back `text`.
std::vector<std::string> split_at_lines(std::string_view text, std::size_t limit);

}  // namespace shipmate::commands
