// The command registry: one explicit table of command specs.
//
// A CommandSpec declares a command's name, aliases, typed arguments, summary, examples, the
// permission it needs and whether it changes anything. Help text, usage lines, argument parsing
// and "did you mean" suggestions are all generated from the same specs, so they cannot drift
// apart. Parsing is pure: tokens in, named arguments or a precise error out.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "commands/tokenizer.h"
#include "common/result.h"

namespace shipmate::commands {

struct CommandContext;

struct ArgSpec {
  enum class Kind {
    positional,  // the next bare word
    keyword,     // "to <env>": a marker word, then the value
    option,      // --name value or --name=value
    flag,        // --name
    rest,        // every remaining token, joined by spaces (free text such as a reason)
  };
  std::string name;  // key in ParsedArgs
  Kind kind = Kind::positional;
  bool required = false;
  std::string marker;       // keyword: the marker word; option/flag: the flag name
  std::string placeholder;  // shown in usage, e.g. "env"
  std::string help;
  std::vector<std::string> choices;  // allowed values, when the set is fixed
};

struct ParsedArgs {
  std::map<std::string, std::string> values;
  std::map<std::string, std::string> params;  // key=value tokens

  bool has(const std::string& name) const { return values.count(name) > 0; }
  std::string get(const std::string& name, const std::string& fallback = "") const {
    auto it = values.find(name);
    return it == values.end() ? fallback : it->second;
  }
};

using CommandHandler = std::function<boost::asio::awaitable<void>(CommandContext&)>;

struct CommandSpec {
  std::string name;
  std::vector<std::string> aliases;
  std::string summary;
  std::vector<ArgSpec> args;
  std::vector<std::string> examples;
  std::string permission;       // human-readable: "deploy in the target environment", "none"
  bool mutating = false;        // changes state: audited, refused to unknown users
  bool accepts_params = false;  // key=value tokens allowed
  CommandHandler handler;
};

class CommandRegistry {
 public:
  // Throws std::logic_error on a duplicate name or alias (a programming error in the table).
  void add(CommandSpec spec);

  const CommandSpec* find(std::string_view name) const;
  // Closest known names to `word`, best first (at most 3; empty when nothing is close).
  std::vector<std::string> suggest(std::string_view word) const;
  const std::vector<CommandSpec>& all() const { return specs_; }

  // Binds tokens (without the command word) to the spec's arguments.
  static Result<ParsedArgs> parse(const CommandSpec& spec, const std::vector<Token>& tokens);
  static std::string usage(const CommandSpec& spec);
  // The full help page for one command.
  static std::string describe(const CommandSpec& spec);
  // The overview: every command with its summary.
  std::string overview() const;

 private:
  std::vector<CommandSpec> specs_;
};

// Closest candidates to `word` by edit distance, best first; used for commands, services,
// environments and flags alike.
std::vector<std::string> closest_matches(std::string_view word,
                                         const std::vector<std::string>& candidates,
                                         std::size_t limit = 3);
// " (did you mean 'x'?)" or "" when nothing is close.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace shipmate::commands
