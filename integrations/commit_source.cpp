#include "integrations/commit_source.h"

namespace shipmate::integrations {

namespace {

// Glob `g` against `p` from their starts; `**` may swallow whole segments.
bool match_from(std::string_view g, std::string_view p) {
  while (!g.empty()) {
    if (g.starts_with("**")) {
      std::string_view rest = g.substr(2);
      if (rest.starts_with("/"))
        rest.remove_prefix(1);
      if (rest.empty())
        return true;  // `dir/**` matches everything below
      // Try the rest at this position and after every `/`.
      for (std::size_t at = 0;; ++at) {
        if (match_from(rest, p.substr(at)))
          return true;
        at = p.find('/', at);
        if (at == std::string_view::npos)
          return false;
      }
    }
    const char c = g.front();
    if (c == '*') {
      const std::string_view rest = g.substr(1);
      for (std::size_t at = 0; at <= p.size(); ++at) {
        if (match_from(rest, p.substr(at)))
          return true;
        if (at < p.size() && p[at] == '/')
          return false;
      }
      return false;
    }
    if (p.empty())
      return false;
    if (c == '?') {
      if (p.front() == '/')
        return false;
    } else if (c != p.front()) {
      return false;
    }
    g.remove_prefix(1);
    p.remove_prefix(1);
  }
  return p.empty();
}

}  // namespace

bool path_glob_matches(std::string_view glob, std::string_view path) {
  while (glob.starts_with("./"))
    glob.remove_prefix(2);
  while (glob.starts_with("/"))
    glob.remove_prefix(1);
  while (glob.ends_with("/") && glob.size() > 1)
    glob.remove_suffix(1);
  if (glob.empty())
    return false;
  if (match_from(glob, path))
    return true;
  // A glob naming a directory matches what is below it.
  if (glob.find_first_of("*?") == std::string_view::npos)
    return path.size() > glob.size() && path.starts_with(glob) && path[glob.size()] == '/';
  std::string below(glob);
  below += "/**";
  return match_from(below, path);
}

bool any_glob_matches(const std::vector<std::string>& globs, std::string_view path) {
  for (const auto& glob : globs) {
    if (path_glob_matches(glob, path))
      return true;
  }
  return false;
}

void split_commit_message(std::string_view message, std::string& subject, std::string& body) {
  subject.clear();
  body.clear();
  // Leading blank lines are not part of the subject.
  while (message.starts_with("\n") || message.starts_with("\r\n"))
    message.remove_prefix(message.front() == '\n' ? 1 : 2);
  std::size_t at = 0;
  while (at < message.size()) {
    std::size_t end = message.find('\n', at);
    if (end == std::string_view::npos)
      end = message.size();
    std::string_view line = message.substr(at, end - at);
    if (line.ends_with('\r'))
      line.remove_suffix(1);
    at = end + 1;
    if (line.find_first_not_of(" \t") == std::string_view::npos)
      break;  // the blank line that ends the subject paragraph
    if (!subject.empty())
      subject += ' ';
    subject += line;
  }
  if (at < message.size()) {
    std::string_view rest = message.substr(at);
    while (rest.starts_with("\n"))
      rest.remove_prefix(1);
    while (rest.ends_with("\n") || rest.ends_with("\r"))
      rest.remove_suffix(1);
    body.assign(rest);
  }
}

}  // namespace shipmate::integrations
