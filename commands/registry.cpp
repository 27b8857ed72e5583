#include "commands/registry.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "common/strings.h"

namespace shipmate::commands {

std::vector<std::string> closest_matches(std::string_view word,
                                         const std::vector<std::string>& candidates,
                                         std::size_t limit) {
  const std::string lowered = to_lower(word);
  std::vector<std::pair<std::size_t, std::string>> scored;
  for (const auto& candidate : candidates) {
    const std::string lowered_candidate = to_lower(candidate);
    std::size_t distance = edit_distance(lowered, lowered_candidate);
    // A prefix of a long name ("dep" for "deploy") is a strong hint even at a large distance.
    bool prefix = lowered.size() >= 2 && lowered_candidate.rfind(lowered, 0) == 0;
    std::size_t allowed =
        std::max<std::size_t>(1, std::min<std::size_t>(3, lowered.size() / 3 + 1));
    if (prefix)
      distance = std::min<std::size_t>(distance, 1);
    if (distance <= allowed)
      scored.emplace_back(distance, candidate);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (const auto& [distance, candidate] : scored) {
    if (std::find(out.begin(), out.end(), candidate) != out.end())
      continue;
    out.push_back(candidate);
    if (out.size() == limit)
      break;
  }
  return out;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  auto matches = closest_matches(word, candidates, 2);
  if (matches.empty())
    return "";
  if (matches.size() == 1)
    return " (did you mean '" + matches[0] + "'?)";
  return " (did you mean '" + matches[0] + "' or '" + matches[1] + "'?)";
}

namespace {

// Whether `path` ("audit verify") is `first` and `second` ("AUDIT", "verify"), or `first` alone
// when `second` is empty.
bool path_is(std::string_view path, std::string_view first, std::string_view second) {
  if (second.empty())
    return equals_ci(path, first);
  return path.size() == first.size() + 1 + second.size() && path[first.size()] == ' ' &&
         equals_ci(path.substr(0, first.size()), first) &&
         equals_ci(path.substr(first.size() + 1), second);
}

bool spec_named(const CommandSpec& spec, std::string_view first, std::string_view second) {
  if (path_is(spec.path, first, second))
    return true;
  for (const auto& alias : spec.aliases) {
    if (path_is(alias, first, second))
      return true;
  }
  return false;
}

std::size_t word_count(std::string_view path) {
  return path.find(' ') == std::string_view::npos ? 1 : 2;
}

// One or two lowercase words separated by one space.
void check_path(const std::string& path, const char* what) {
  const auto space = path.find(' ');
  const bool ok = !path.empty() && path.front() != ' ' && path.back() != ' ' &&
                  (space == std::string::npos || path.find(' ', space + 1) == std::string::npos) &&
                  std::none_of(path.begin(), path.end(), [](char c) {
                    return std::isupper(static_cast<unsigned char>(c)) != 0 || c == '\t';
                  });
  if (!ok)
    throw std::logic_error(std::string(what) + " '" + path +
                           "' must be one or two lowercase words");
}

}  // namespace

std::string_view to_string(CommandAction action) {
  switch (action) {
    case CommandAction::read:
      return "read";
    case CommandAction::deploy:
      return "deploy";
    case CommandAction::rollback:
      return "rollback";
    case CommandAction::lock:
      return "lock";
    case CommandAction::unlock:
      return "unlock";
    case CommandAction::approve:
      return "approve";
    case CommandAction::incident:
      return "incident.manage";
    case CommandAction::runbook:
      return "runbook";
    case CommandAction::freeze:
      return "freeze";
    case CommandAction::schedule:
      return "schedule.manage";
    case CommandAction::notes:
      return "notes.edit";
  }
  return "?";
}

std::string_view CommandSpec::group() const {
  const auto space = path.find(' ');
  return space == std::string::npos ? std::string_view() : std::string_view(path).substr(0, space);
}

void CommandRegistry::add_group(GroupSpec group) {
  check_path(group.word, "group");
  if (word_count(group.word) != 1)
    throw std::logic_error("group '" + group.word + "' must be one word");
  if (find_group(group.word) != nullptr || find(group.word) != nullptr)
    throw std::logic_error("duplicate command or group " + group.word);
  if (!group.default_path.empty() &&
      (word_count(group.default_path) != 2 ||
       group.default_path.compare(0, group.word.size() + 1, group.word + " ") != 0)) {
    throw std::logic_error("group " + group.word + "'s default '" + group.default_path +
                           "' is not one of its commands");
  }
  groups_.push_back(std::move(group));
}

void CommandRegistry::add(CommandSpec spec) {
  auto check_new = [&](const std::string& path, const char* what) {
    check_path(path, what);
    if (find(path) != nullptr)
      throw std::logic_error("duplicate command " + std::string(what) + " " + path);
    if (word_count(path) == 1 && find_group(path) != nullptr)
      throw std::logic_error("command " + std::string(what) + " " + path + " is a group's word");
    if (word_count(path) == 2 && find_group(path.substr(0, path.find(' '))) == nullptr) {
      throw std::logic_error("command " + path + ": declare its group '" +
                             path.substr(0, path.find(' ')) + "' first (add_group)");
    }
  };
  check_new(spec.path, "name");
  for (const auto& alias : spec.aliases)
    check_new(alias, "alias");
  specs_.push_back(std::move(spec));
}

Lookup CommandRegistry::lookup(std::string_view first, std::string_view second) const {
  Lookup found;
  if (first.empty())
    return found;
  found.group = find_group(first);
  if (!second.empty()) {
    for (const auto& spec : specs_) {
      if (spec_named(spec, first, second))
        return {Lookup::Kind::command, &spec, found.group, 2};
    }
  }
  for (const auto& spec : specs_) {
    if (spec_named(spec, first, {}))
      return {Lookup::Kind::command, &spec, found.group, 1};
  }
  if (found.group == nullptr || (!second.empty() && !found.group->default_takes_words))
    return found;  // unknown; a word after a group's word that is none of its commands too
  if (found.group->default_path.empty()) {
    found.kind = Lookup::Kind::group;
    return found;
  }
  found.spec = find(found.group->default_path);
  found.kind = found.spec == nullptr ? Lookup::Kind::group : Lookup::Kind::command;
  found.words = 1;
  return found;
}

const CommandSpec* CommandRegistry::find(std::string_view path) const {
  const auto space = path.find(' ');
  const std::string_view first = path.substr(0, space);
  const std::string_view second =
      space == std::string_view::npos ? std::string_view() : path.substr(space + 1);
  if (space != std::string_view::npos && second.empty())
    return nullptr;
  for (const auto& spec : specs_) {
    if (spec_named(spec, first, second))
      return &spec;
  }
  return nullptr;
}

const GroupSpec* CommandRegistry::find_group(std::string_view word) const {
  for (const auto& group : groups_) {
    if (equals_ci(group.word, word))
      return &group;
  }
  return nullptr;
}

std::vector<const CommandSpec*> CommandRegistry::commands_in(std::string_view group) const {
  std::vector<const CommandSpec*> out;
  for (const auto& spec : specs_) {
    if (!spec.group().empty() && equals_ci(spec.group(), group))
      out.push_back(&spec);
  }
  return out;
}

std::vector<std::string> CommandRegistry::suggest(std::string_view first,
                                                  std::string_view second) const {
  // Candidates by path, each mapped back to its command's path (aliases are reported by the
  // command they belong to); group words stand for themselves.
  auto suggest_among = [&](std::size_t words, const std::string& typed) {
    std::vector<std::string> names;
    for (const auto& spec : specs_) {
      if (word_count(spec.path) == words)
        names.push_back(spec.path);
      for (const auto& alias : spec.aliases) {
        if (word_count(alias) == words)
          names.push_back(alias);
      }
    }
    if (words == 1) {
      for (const auto& group : groups_)
        names.push_back(group.word);
    }
    std::vector<std::string> out;
    for (const auto& match : closest_matches(typed, names)) {
      const CommandSpec* spec = find(match);
      std::string canonical = spec != nullptr ? spec->path : match;
      if (std::find(out.begin(), out.end(), canonical) == out.end())
        out.push_back(std::move(canonical));
    }
    return out;
  };
  if (!second.empty()) {
    auto two = suggest_among(2, std::string(first) + " " + std::string(second));
    if (!two.empty() || find_group(first) != nullptr)
      return two;
  }
  return suggest_among(1, std::string(first));
}

namespace {

std::string token_text(const Token& token) {
  switch (token.kind) {
    case Token::Kind::flag:
      return "--" + token.text + (token.has_value ? "=" + token.value : "");
    case Token::Kind::key_value:
      return token.key + "=" + token.value;
    default:
      return token.text;
  }
}

std::vector<std::string> flag_names(const CommandSpec& spec) {
  std::vector<std::string> names;
  for (const auto& arg : spec.args) {
    if (arg.kind == ArgSpec::Kind::option || arg.kind == ArgSpec::Kind::flag) {
      names.push_back(arg.flag_name());
    }
  }
  return names;
}

Status check_choice(const CommandSpec& spec, const ArgSpec& arg, const std::string& value) {
  if (arg.choices.empty())
    return Ok{};
  if (std::find(arg.choices.begin(), arg.choices.end(), value) != arg.choices.end())
    return Ok{};
  return make_error(spec.path + ": '" + value + "' is not a valid " + arg.shown_as() +
                    "; choose one of: " + join(arg.choices, ", ") +
                    did_you_mean(value, arg.choices));
}

}  // namespace

Result<ParsedArgs> CommandRegistry::parse(const CommandSpec& spec,
                                          const std::vector<Token>& tokens) {
  ParsedArgs parsed;
  const std::string usage_hint = ". Usage: " + usage(spec);
  std::size_t next_positional = 0;
  std::vector<const ArgSpec*> positionals;
  const ArgSpec* rest = nullptr;
  for (const auto& arg : spec.args) {
    if (arg.kind == ArgSpec::Kind::positional)
      positionals.push_back(&arg);
    if (arg.kind == ArgSpec::Kind::rest)
      rest = &arg;
  }

  std::vector<std::string> rest_words;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const Token& token = tokens[i];
    if (token.kind == Token::Kind::flag) {
      auto it = std::find_if(spec.args.begin(), spec.args.end(), [&](const ArgSpec& arg) {
        return (arg.kind == ArgSpec::Kind::option || arg.kind == ArgSpec::Kind::flag) &&
               arg.flag_name() == token.text;
      });
      if (it == spec.args.end()) {
        return make_error(spec.path + ": unknown flag --" + token.text +
                          did_you_mean(token.text, flag_names(spec)) + usage_hint);
      }
      if (parsed.has(it->name)) {
        return make_error(spec.path + ": --" + token.text + " given twice" + usage_hint);
      }
      if (it->kind == ArgSpec::Kind::flag) {
        if (token.has_value) {
          return make_error(spec.path + ": --" + token.text + " takes no value" + usage_hint);
        }
        parsed.values[it->name] = "true";
        continue;
      }
      std::string value;
      if (token.has_value) {
        value = token.value;
      } else if (i + 1 < tokens.size() && tokens[i + 1].kind != Token::Kind::flag) {
        value = token_text(tokens[++i]);
        if (tokens[i].kind == Token::Kind::quoted)
          value = tokens[i].text;
      } else {
        return make_error(spec.path + ": --" + token.text + " needs a value (--" + token.text +
                          " <" + it->shown_as() + ">)" + usage_hint);
      }
      if (auto ok = check_choice(spec, *it, value); !ok)
        return ok.error();
      parsed.values[it->name] = value;
      continue;
    }

    if (token.kind == Token::Kind::word) {
      auto it = std::find_if(spec.args.begin(), spec.args.end(), [&](const ArgSpec& arg) {
        return arg.kind == ArgSpec::Kind::keyword && to_lower(token.text) == arg.marker &&
               !parsed.has(arg.name);
      });
      if (it != spec.args.end()) {
        if (i + 1 >= tokens.size() || tokens[i + 1].kind == Token::Kind::flag) {
          return make_error(spec.path + ": '" + it->marker + "' must be followed by <" +
                            it->shown_as() + ">" + usage_hint);
        }
        const Token& value_token = tokens[++i];
        std::string value =
            value_token.kind == Token::Kind::quoted ? value_token.text : token_text(value_token);
        if (auto ok = check_choice(spec, *it, value); !ok)
          return ok.error();
        parsed.values[it->name] = value;
        continue;
      }
    }

    if (token.kind == Token::Kind::key_value && spec.accepts_params) {
      if (parsed.params.count(token.key) > 0) {
        return make_error(spec.path + ": " + token.key + "= given twice" + usage_hint);
      }
      parsed.params[token.key] = token.value;
      continue;
    }

    if (next_positional < positionals.size()) {
      const ArgSpec& arg = *positionals[next_positional++];
      std::string value = token.kind == Token::Kind::quoted ? token.text : token_text(token);
      if (auto ok = check_choice(spec, arg, value); !ok)
        return ok.error();
      parsed.values[arg.name] = value;
      continue;
    }

    if (rest != nullptr) {
      // Free text takes every remaining word; --flags anywhere in it are still flags, so
      // "lock hello db migration --for 2h" keeps its expiry.
      rest_words.push_back(token.kind == Token::Kind::quoted ? token.text : token_text(token));
      continue;
    }

    return make_error(spec.path + ": unexpected '" + token_text(token) + "'" + usage_hint);
  }

  if (rest != nullptr && !rest_words.empty())
    parsed.values[rest->name] = join(rest_words, " ");
  for (const auto& arg : spec.args) {
    if (arg.required && !parsed.has(arg.name)) {
      return make_error(spec.path + ": missing <" + arg.shown_as() + ">" + usage_hint);
    }
  }
  return parsed;
}

std::string CommandRegistry::usage(const CommandSpec& spec) {
  std::string out = spec.path;
  for (const auto& arg : spec.args) {
    std::string piece;
    switch (arg.kind) {
      case ArgSpec::Kind::positional:
        piece = arg.choices.empty() || arg.choices.size() > 4 ? "<" + arg.shown_as() + ">"
                                                              : join(arg.choices, "|");
        break;
      case ArgSpec::Kind::keyword:
        piece = arg.marker + " <" + arg.shown_as() + ">";
        break;
      case ArgSpec::Kind::option:
        piece = "--" + arg.flag_name() + " <" + arg.shown_as() + ">";
        break;
      case ArgSpec::Kind::flag:
        piece = "--" + arg.flag_name();
        break;
      case ArgSpec::Kind::rest:
        piece = "<" + arg.shown_as() + "...>";
        break;
    }
    out += arg.required ? " " + piece : " [" + piece + "]";
  }
  if (spec.accepts_params)
    out += " [key=value ...]";
  return out;
}

std::string CommandRegistry::describe(const CommandSpec& spec) {
  std::string out = usage(spec) + "\n  " + spec.summary + "\n";
  if (!spec.aliases.empty())
    out += "  Also: " + join(spec.aliases, ", ") + "\n";
  bool header = false;
  for (const auto& arg : spec.args) {
    if (arg.help.empty())
      continue;
    if (!header) {
      out += "Arguments:\n";
      header = true;
    }
    std::string name;
    switch (arg.kind) {
      case ArgSpec::Kind::option:
      case ArgSpec::Kind::flag:
        name = "--" + arg.flag_name();
        break;
      case ArgSpec::Kind::keyword:
        name = arg.marker + " <" + arg.shown_as() + ">";
        break;
      default:
        name = "<" + arg.shown_as() + ">";
    }
    out += "  " + name + std::string(name.size() < 18 ? 18 - name.size() : 1, ' ') + arg.help;
    if (!arg.choices.empty())
      out += " (" + join(arg.choices, ", ") + ")";
    out += "\n";
  }
  if (!spec.examples.empty()) {
    out += "Examples:\n";
    for (const auto& example : spec.examples)
      out += "  " + example + "\n";
  }
  out += "Permission: " + describe_permission(spec);
  return out;
}

namespace {

// "  name    summary\n" with the summary starting at column `width` + 4.
std::string summary_line(std::string_view indent, std::string_view name, std::string_view summary,
                         std::size_t width) {
  std::string line(indent);
  line += name;
  line.append(width > name.size() ? width - name.size() + 2 : 2, ' ');
  line += summary;
  line += "\n";
  return line;
}

std::string default_note(const GroupSpec& group) {
  return group.default_path.empty() ? std::string()
                                    : " ('" + group.word + "' alone: " + group.default_path + ")";
}

}  // namespace

std::string CommandRegistry::describe_group(const GroupSpec& group) const {
  std::string out = group.word + ": " + group.summary + default_note(group) + "\n";
  const auto members = commands_in(group.word);
  std::size_t width = 0;
  for (const auto* spec : members)
    width = std::max(width, usage(*spec).size());
  for (const auto* spec : members)
    out += summary_line("  ", usage(*spec), spec->summary, width);
  out += "Type 'help " + group.word + " <command>' for arguments and examples.";
  return out;
}

std::string CommandRegistry::overview() const {
  // One-word commands and groups in table order (a group where its first command is), each
  // group's commands indented under it.
  std::size_t width = 0;
  for (const auto& spec : specs_)
    width = std::max(width, spec.path.size() + (spec.group().empty() ? 0 : 2));
  std::string out = "Commands:\n";
  std::vector<std::string_view> shown;
  for (const auto& spec : specs_) {
    const std::string_view word = spec.group();
    if (word.empty()) {
      out += summary_line("  ", spec.path, spec.summary, width);
      continue;
    }
    if (std::find(shown.begin(), shown.end(), word) != shown.end())
      continue;
    shown.push_back(word);
    const GroupSpec* group = find_group(word);
    out += summary_line("  ", group->word, group->summary + default_note(*group), width);
    for (const auto* member : commands_in(word))
      out += summary_line("    ", member->path, member->summary, width - 2);
  }
  out += "Type 'help <command>' for arguments and examples, 'help <group>' for a group.";
  return out;
}

std::string describe_permission(const CommandSpec& spec) {
  std::string where;
  switch (spec.scope) {
    case Scope::none:
      where = "";
      break;
    case Scope::environment:
      where = " in the target environment";
      break;
    case Scope::deploy:
      where = " in the deploy's environment";
      break;
    case Scope::lock:
      where = " in an environment the scope covers";
      break;
    case Scope::incident:
      where = " on the incident";
      break;
    case Scope::runbook:
      where = " in the runbook's environment, and a role its allow: lists";
      break;
    case Scope::workspace:
      where = "";
      break;
  }
  switch (spec.action) {
    case CommandAction::read:
      return "none (reads only; open to everyone)";
    case CommandAction::deploy:
    case CommandAction::rollback:
    case CommandAction::lock:
    case CommandAction::runbook:
    case CommandAction::freeze:
      return std::string(to_string(spec.action)) + where + " (a configured user; audited)";
    case CommandAction::schedule:
      return "schedule.manage: any configured user; someone else's schedule only its creator or "
             "an admin (audited)";
    case CommandAction::unlock:
      return "the lock's holder, or admin (audited)";
    case CommandAction::approve:
      return "a role the approvals: policy" + where +
             " lists, or admin; the requester may only withdraw (audited)";
    case CommandAction::incident:
      return "incident.manage: a configured user, or a role incidents.manage lists (audited)";
    case CommandAction::notes:
      return "notes.edit: someone who may deploy the service in one of its environments, or "
             "admin (audited)";
  }
  return "?";
}

}  // namespace shipmate::commands
