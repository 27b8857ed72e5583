#include "commands/release_notes_book.h"

#include <utility>

#include "common/chat_input.h"

namespace shipmate::commands {

ReleaseNotesBook::ReleaseNotesBook(storage::ReleaseNotesStore& store,
                                   std::map<std::string, NotesSource> sources)
    : store_(store) {
  for (auto& [name, source] : sources)
    sources_.emplace(name, std::move(source));
}

bool ReleaseNotesBook::covers(std::string_view service) const {
  const auto it = sources_.find(service);
  return it != sources_.end() && it->second.source != nullptr;
}

std::string ReleaseNotesBook::describe(std::string_view service) const {
  const auto it = sources_.find(service);
  return it == sources_.end() || !it->second.source ? "" : it->second.source->describe();
}

boost::asio::awaitable<Result<std::string>> ReleaseNotesBook::resolve(
    std::string service, std::string version, const integrations::DeployTarget* target) {
  if (auto valid = validate_version(version); !valid)
    co_return make_error(valid.error().message, ErrorKind::invalid);
  const auto it = sources_.find(service);
  if (it == sources_.end() || !it->second.source)
    co_return make_error(service +
                             " has no repository for release notes (notes: in its "
                             "configuration)",
                         ErrorKind::not_found);
  // A release that names its commit is looked up by that commit (the source expands an
  // abbreviated SHA and fetches it when missing).
  std::string name = version;
  if (target != nullptr) {
    if (auto named = target->release_commit(version))
      name = *named;
  }
  integrations::CommitSource& source = *it->second.source;
  Result<std::string> sha = co_await source.resolve(name);
  co_return sha;
}

boost::asio::awaitable<Result<GeneratedNotes>> ReleaseNotesBook::generate(
    std::string service, std::string from_version, std::string to_version,
    const integrations::DeployTarget* target, bool store) {
  if (from_version.empty())
    co_return make_error("no earlier version to compare " + to_version + " with",
                         ErrorKind::invalid);
  const auto it = sources_.find(service);
  if (it == sources_.end() || !it->second.source)
    co_return make_error(service +
                             " has no repository for release notes (notes: in its "
                             "configuration)",
                         ErrorKind::not_found);
  Result<std::string> from = co_await resolve(service, from_version, target);
  if (!from)
    co_return from.error();
  Result<std::string> to = co_await resolve(service, to_version, target);
  if (!to)
    co_return to.error();
  integrations::CommitSource& source = *it->second.source;
  const std::string from_sha = *from;
  const std::string to_sha = *to;
  Result<std::vector<integrations::SourceCommit>> commits = co_await source.range(from_sha, to_sha);
  if (!commits)
    co_return commits.error();
  const ReleaseNotes notes = group_commits(*commits);
  GeneratedNotes out;
  out.commits = commits->size();
  out.record.service = service;
  out.record.version = to_version;
  out.record.from_version = from_version;
  out.record.from_sha = from_sha;
  out.record.to_sha = to_sha;
  out.record.summary = summary_line(notes);
  out.record.generated = render_notes(notes, it->second.pull_url);
  if (store) {
    store_.save(out.record);
    if (auto kept = store_.find(service, to_version); kept && kept->edited) {
      out.record = *kept;
      out.edited = true;
    }
  }
  co_return out;
}

std::vector<std::string> split_at_lines(std::string_view text, std::size_t limit) {
  std::vector<std::string> out;
  if (limit == 0)
    limit = 1;
  while (text.size() > limit) {
    std::size_t cut = text.rfind('\n', limit - 1);
    if (cut == std::string_view::npos || cut == 0) {
      cut = limit;
      while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
        --cut;
      if (cut == 0)
        cut = limit;
    } else {
      cut += 1;  // keep the newline with the piece it ends
    }
    out.emplace_back(text.substr(0, cut));
    text.remove_prefix(cut);
  }
  if (!text.empty() || out.empty())
    out.emplace_back(text);
  return out;
}

}  // namespace shipmate::commands
