#include "commands/registry.h"

#include <algorithm>
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

void CommandRegistry::add(CommandSpec spec) {
  auto taken = [&](const std::string& word) { return find(word) != nullptr; };
  if (taken(spec.name))
    throw std::logic_error("duplicate command " + spec.name);
  for (const auto& alias : spec.aliases) {
    if (taken(alias))
      throw std::logic_error("duplicate command alias " + alias);
  }
  specs_.push_back(std::move(spec));
}

const CommandSpec* CommandRegistry::find(std::string_view name) const {
  const std::string lowered = to_lower(name);
  for (const auto& spec : specs_) {
    if (spec.name == lowered)
      return &spec;
    for (const auto& alias : spec.aliases) {
      if (alias == lowered)
        return &spec;
    }
  }
  return nullptr;
}

std::vector<std::string> CommandRegistry::suggest(std::string_view word) const {
  std::vector<std::string> names;
  for (const auto& spec : specs_) {
    names.push_back(spec.name);
    for (const auto& alias : spec.aliases)
      names.push_back(alias);
  }
  auto matches = closest_matches(word, names);
  // Report aliases by the command they belong to.
  std::vector<std::string> out;
  for (const auto& match : matches) {
    const std::string canonical = find(match)->name;
    if (std::find(out.begin(), out.end(), canonical) == out.end())
      out.push_back(canonical);
  }
  return out;
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
      names.push_back(arg.marker);
    }
  }
  return names;
}

Status check_choice(const CommandSpec& spec, const ArgSpec& arg, const std::string& value) {
  if (arg.choices.empty())
    return Ok{};
  if (std::find(arg.choices.begin(), arg.choices.end(), value) != arg.choices.end())
    return Ok{};
  return make_error(spec.name + ": '" + value + "' is not a valid " + arg.placeholder +
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
               arg.marker == token.text;
      });
      if (it == spec.args.end()) {
        return make_error(spec.name + ": unknown flag --" + token.text +
                          did_you_mean(token.text, flag_names(spec)) + usage_hint);
      }
      if (parsed.has(it->name)) {
        return make_error(spec.name + ": --" + token.text + " given twice" + usage_hint);
      }
      if (it->kind == ArgSpec::Kind::flag) {
        if (token.has_value) {
          return make_error(spec.name + ": --" + token.text + " takes no value" + usage_hint);
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
        return make_error(spec.name + ": --" + token.text + " needs a value (--" + token.text +
                          " <" + it->placeholder + ">)" + usage_hint);
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
          return make_error(spec.name + ": '" + it->marker + "' must be followed by <" +
                            it->placeholder + ">" + usage_hint);
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
        return make_error(spec.name + ": " + token.key + "= given twice" + usage_hint);
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

    return make_error(spec.name + ": unexpected '" + token_text(token) + "'" + usage_hint);
  }

  if (rest != nullptr && !rest_words.empty())
    parsed.values[rest->name] = join(rest_words, " ");
  for (const auto& arg : spec.args) {
    if (arg.required && !parsed.has(arg.name)) {
      return make_error(spec.name + ": missing <" + arg.placeholder + ">" + usage_hint);
    }
  }
  return parsed;
}

std::string CommandRegistry::usage(const CommandSpec& spec) {
  std::string out = spec.name;
  for (const auto& arg : spec.args) {
    std::string piece;
    switch (arg.kind) {
      case ArgSpec::Kind::positional:
        piece = arg.choices.empty() || arg.choices.size() > 4 ? "<" + arg.placeholder + ">"
                                                              : join(arg.choices, "|");
        break;
      case ArgSpec::Kind::keyword:
        piece = arg.marker + " <" + arg.placeholder + ">";
        break;
      case ArgSpec::Kind::option:
        piece = "--" + arg.marker + " <" + arg.placeholder + ">";
        break;
      case ArgSpec::Kind::flag:
        piece = "--" + arg.marker;
        break;
      case ArgSpec::Kind::rest:
        piece = "<" + arg.placeholder + "...>";
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
        name = "--" + arg.marker;
        break;
      case ArgSpec::Kind::keyword:
        name = arg.marker + " <" + arg.placeholder + ">";
        break;
      default:
        name = "<" + arg.placeholder + ">";
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
  out += "Permission: " + (spec.permission.empty() ? std::string("none") : spec.permission);
  return out;
}

std::string CommandRegistry::overview() const {
  std::string out = "Commands:\n";
  std::size_t width = 0;
  for (const auto& spec : specs_)
    width = std::max(width, spec.name.size());
  for (const auto& spec : specs_) {
    out += "  " + spec.name + std::string(width - spec.name.size() + 2, ' ') + spec.summary + "\n";
  }
  out += "Type 'help <command>' for arguments and examples.";
  return out;
}

}  // namespace shipmate::commands
