#include "commands/release_notes.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace shipmate::commands {
namespace {

std::string_view trim_view(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  return text;
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto end = text.find('\n', start);
    out.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos)
      break;
    start = end + 1;
  }
  return out;
}

// The text of the first BREAKING CHANGE / BREAKING-CHANGE footer in `body`, if any.
std::optional<std::string> breaking_footer(std::string_view body) {
  for (const auto line : lines_of(body)) {
    const std::string_view trimmed = trim_view(line);
    for (const std::string_view key : {"BREAKING CHANGE:", "BREAKING-CHANGE:"}) {
      if (trimmed.substr(0, key.size()) == key)
        return std::string(trim_view(trimmed.substr(key.size())));
    }
  }
  return std::nullopt;
}

// Removes trailing "(#123)" groups from `text`, collecting the numbers.
std::string take_pull_requests(std::string_view text, std::vector<int>& numbers) {
  text = trim_view(text);
  while (text.size() > 4 && text.back() == ')') {
    const auto open = text.rfind("(#");
    if (open == std::string_view::npos)
      break;
    const std::string_view digits = text.substr(open + 2, text.size() - open - 3);
    if (digits.empty() ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return std::isdigit(c); }))
      break;
    numbers.insert(numbers.begin(), std::stoi(std::string(digits)));
    text = trim_view(text.substr(0, open));
  }
  return std::string(text);
}

// "This reverts commit <sha>." -> sha.
std::optional<std::string> reverted_sha(std::string_view body) {
  constexpr std::string_view kMarker = "This reverts commit ";
  const auto at = body.find(kMarker);
  if (at == std::string_view::npos)
    return std::nullopt;
  std::string sha;
  for (std::size_t i = at + kMarker.size(); i < body.size() && std::isxdigit(body[i]); ++i)
    sha += body[i];
  if (sha.size() < 7)
    return std::nullopt;
  return sha;
}

bool same_commit(const std::string& a, const std::string& b) {
  const std::size_t n = std::min(a.size(), b.size());
  return n >= 7 && a.compare(0, n, b, 0, n) == 0;
}

void place(ReleaseNotes& notes, NoteEntry entry) {
  if (entry.breaking)
    notes.breaking.push_back(std::move(entry));
  else if (entry.type == "feat")
    notes.features.push_back(std::move(entry));
  else if (entry.type == "fix")
    notes.fixes.push_back(std::move(entry));
  else if (entry.type == "perf")
    notes.performance.push_back(std::move(entry));
  else if (entry.type.empty())
    notes.other_changes.push_back(std::move(entry));
  else
    notes.other_conventional.push_back(std::move(entry));
}

std::string describe(const NoteEntry& entry, std::string_view pull_url) {
  std::string out = entry.scope.empty() ? "" : "**" + entry.scope + "**: ";
  out += entry.description;
  for (const int number : entry.pull_requests) {
    const std::string label = "#" + std::to_string(number);
    out += pull_url.empty()
               ? " (" + label + ")"
               : " ([" + label + "](" + std::string(pull_url) + std::to_string(number) + "))";
  }
  if (!entry.sha.empty())
    out += " " + entry.sha.substr(0, 7);
  return out;
}

}  // namespace

std::optional<NoteEntry> parse_conventional(std::string_view subject, std::string_view body) {
  subject = trim_view(subject);
  std::size_t i = 0;
  while (i < subject.size() && std::isalpha(static_cast<unsigned char>(subject[i])))
    ++i;
  if (i == 0)
    return std::nullopt;
  NoteEntry entry;
  entry.type = std::string(subject.substr(0, i));
  std::transform(entry.type.begin(), entry.type.end(), entry.type.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (i < subject.size() && subject[i] == '(') {
    const auto close = subject.find(')', i);
    if (close == std::string_view::npos)
      return std::nullopt;
    entry.scope = std::string(trim_view(subject.substr(i + 1, close - i - 1)));
    i = close + 1;
  }
  if (i < subject.size() && subject[i] == '!') {
    entry.breaking = true;
    ++i;
  }
  if (i + 1 >= subject.size() || subject[i] != ':' || subject[i + 1] != ' ')
    return std::nullopt;
  entry.description = take_pull_requests(subject.substr(i + 2), entry.pull_requests);
  if (entry.description.empty())
    return std::nullopt;
  if (auto footer = breaking_footer(body)) {
    entry.breaking = true;
    entry.breaking_note = *footer;
  }
  return entry;
}

ReleaseNotes group_commits(const std::vector<CommitInfo>& commits) {
  ReleaseNotes notes;
  // Oldest first from here on.
  std::vector<const CommitInfo*> ordered;
  for (auto it = commits.rbegin(); it != commits.rend(); ++it)
    ordered.push_back(&*it);

  // Reverts whose target is in the range pair with it.
  std::vector<std::pair<std::string, std::string>> pairs;  // (reverted sha, revert sha)
  for (const CommitInfo* commit : ordered) {
    if (commit->subject.rfind("Revert \"", 0) != 0)
      continue;
    const auto target = reverted_sha(commit->body);
    if (!target)
      continue;
    for (const CommitInfo* other : ordered) {
      if (same_commit(other->sha, *target))
        pairs.emplace_back(other->sha, commit->sha);
    }
  }
  const auto paired_as_original = [&](const std::string& sha) {
    for (const auto& [original, revert] : pairs) {
      if (original == sha)
        return std::optional<std::string>(revert);
    }
    return std::optional<std::string>();
  };
  const auto paired_as_revert = [&](const std::string& sha) {
    return std::any_of(pairs.begin(), pairs.end(),
                       [&](const auto& pair) { return pair.second == sha; });
  };

  std::set<std::string> seen_authors;
  for (const CommitInfo* commit : ordered) {
    if (commit->parents > 1 || commit->subject.rfind("Merge pull request #", 0) == 0 ||
        commit->subject.rfind("Merge branch ", 0) == 0) {
      ++notes.merges_skipped;
      continue;
    }
    if (!commit->author.empty() && seen_authors.insert(commit->author).second)
      notes.authors.push_back(commit->author);
    if (paired_as_revert(commit->sha))
      continue;
    auto entry = parse_conventional(commit->subject, commit->body);
    NoteEntry base;
    if (entry) {
      base = *entry;
    } else {
      base.description = take_pull_requests(commit->subject, base.pull_requests);
      if (auto footer = breaking_footer(commit->body)) {
        base.breaking = true;
        base.breaking_note = *footer;
      }
    }
    base.sha = commit->sha;
    base.author = commit->author;
    if (auto revert = paired_as_original(commit->sha)) {
      notes.reverted.push_back(RevertedPair{base, *revert});
      continue;
    }
    if (commit->subject.rfind("Revert \"", 0) == 0) {
      notes.reverts.push_back(base);
      continue;
    }
    // A squash merge body listing several conventional commits: each is an entry.
    std::vector<NoteEntry> listed;
    for (const auto line : lines_of(commit->body)) {
      const std::string_view trimmed = trim_view(line);
      if (trimmed.size() < 3 || (trimmed[0] != '*' && trimmed[0] != '-') || trimmed[1] != ' ')
        continue;
      if (auto sub = parse_conventional(trimmed.substr(2), "")) {
        sub->sha = commit->sha;
        sub->author = commit->author;
        if (sub->pull_requests.empty())
          sub->pull_requests = base.pull_requests;
        listed.push_back(*sub);
      }
    }
    if (listed.size() >= 2) {
      bool any_breaking = false;
      for (auto& sub : listed)
        any_breaking = any_breaking || sub.breaking;
      if (base.breaking && !any_breaking) {
        // The footer belongs to the squash as a whole: it marks the first listed entry.
        listed.front().breaking = true;
        listed.front().breaking_note = base.breaking_note;
      }
      for (auto& sub : listed)
        place(notes, std::move(sub));
      continue;
    }
    place(notes, std::move(base));
  }
  return notes;
}

std::string summary_line(const ReleaseNotes& notes) {
  std::vector<std::string> parts;
  const auto add = [&](std::size_t count, const char* one, const char* many) {
    if (count > 0)
      parts.push_back(std::to_string(count) + " " + (count == 1 ? one : many));
  };
  add(notes.features.size(), "feature", "features");
  add(notes.fixes.size(), "fix", "fixes");
  add(notes.breaking.size(), "breaking", "breaking");
  add(notes.performance.size(), "performance change", "performance changes");
  add(notes.other_conventional.size() + notes.other_changes.size() + notes.reverts.size(),
      "other change", "other changes");
  if (parts.empty())
    return "no changes";
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i)
    out += (i == 0 ? "" : ", ") + parts[i];
  return out;
}

std::string render_notes(const ReleaseNotes& notes, std::string_view pull_url) {
  std::string out;
  const auto section = [&](const char* title, const std::vector<NoteEntry>& entries) {
    if (entries.empty())
      return;
    out += std::string("### ") + title + "\n";
    for (const auto& entry : entries) {
      out += "- " + describe(entry, pull_url);
      if (!entry.breaking_note.empty())
        out += "\n  " + entry.breaking_note;
      out += "\n";
    }
    out += "\n";
  };
  section("Breaking changes", notes.breaking);
  section("Features", notes.features);
  section("Fixes", notes.fixes);
  section("Performance", notes.performance);
  section("Other conventional changes", notes.other_conventional);
  section("Reverts", notes.reverts);
  if (!notes.reverted.empty()) {
    out += "### Made and reverted in this range\n";
    for (const auto& pair : notes.reverted) {
      out += "- " + describe(pair.original, pull_url) + " (reverted by " +
             pair.revert_sha.substr(0, 7) + ")\n";
    }
    out += "\n";
  }
  section("Other changes", notes.other_changes);
  if (!notes.authors.empty()) {
    out += "Authors: ";
    for (std::size_t i = 0; i < notes.authors.size(); ++i)
      out += (i == 0 ? "" : ", ") + notes.authors[i];
    out += "\n";
  }
  if (out.empty())
    return "No changes.\n";
  return out;
}

}  // namespace shipmate::commands
