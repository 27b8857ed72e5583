// The command registry: one explicit table of command specs.
//
// A command has a path of one or two words ("deploy", "audit verify"). Two-word commands belong
// to a group named by their first word ("audit"), declared with a GroupSpec; the group word
// alone runs the group's default command if it declares one, and otherwise lists the group.
// Lookup takes the longest match: two words, then one, then the group.
//
// A CommandSpec declares the path, aliases, typed arguments, summary, examples, what the command
// does (CommandAction) and where its environment comes from (Scope). Help text, usage lines,
// the permission help prints, argument parsing and "did you mean" suggestions are all generated
// from the same specs, so they cannot drift apart. The router checks the action in its scope
// before a handler runs (commands/permission.h).
//
// Contract: add() is called while the table is built (it throws std::logic_error on a malformed
// path, a duplicate, or a two-word command whose group was not declared: programming errors);
// afterwards the registry is read-only and may be shared between threads. Lookups compare case-
// insensitively and allocate nothing. Parsing is pure: tokens in, named arguments or a precise
// one-line error out.
#pragma once

#include <cstdint>
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
  std::string marker = {};  // keyword: the marker word; option/flag: the flag name (default: name)
  std::string placeholder = {};  // shown in usage, e.g. "env" (default: name)
  std::string help = {};
  std::vector<std::string> choices = {};  // allowed values, when the set is fixed

  const std::string& flag_name() const { return marker.empty() ? name : marker; }
  const std::string& shown_as() const { return placeholder.empty() ? name : placeholder; }
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

// What running a command amounts to. Everything but `read` changes state: the router refuses it
// to identities missing from the configuration and audits it.
enum class CommandAction : std::uint8_t {
  read,      // changes nothing; open to everyone
  deploy,    // model.h's Action::deploy in the scope's environment
  rollback,  // Action::rollback in the scope's environment
  lock,      // Action::lock in any environment the scope covers
  unlock,    // release a lock: its holder or an admin (the handler decides)
  approve,   // decide on an approval request: a role the environment's approvals: policy lists,
             // or admin; the requester may only withdraw (the handler decides)
  incident,  // incident.manage: declare, update and resolve incidents; every configured user, or
             // the roles incidents.manage lists (checked by the router)
  runbook,   // Action::runbook in the runbook's environment (and the runbook's own allow:)
  freeze,    // Action::freeze in the scope's environment (freeze, unfreeze)
  schedule,  // schedule.manage: any configured user adds; pausing, resuming and cancelling
             // someone else's schedule is for its creator or an admin (the handler decides)
  notes,     // notes.edit: replace a release's notes; someone who may deploy the service in one
             // of its environments, or admin (the handler decides)
};

// Where the environment an action is checked in comes from.
enum class Scope : std::uint8_t {
  none,         // no environment
  environment,  // the `environment` argument ("to <env>", "in <env>"); when it is absent the
                // handler picks the default environment and checks it
  deploy,       // the environment of the deploy the `deploy` argument numbers ("12" or "#12")
  lock,         // the `scope` argument: a service, an environment, or service@environment
  incident,     // an incident: the --id option, else the room's, else the only open one (no
                // environment; incident.manage is checked for the whole workspace)
  runbook,      // the environment parameter (key=value or its default) of the runbook the
                // `runbook` argument names; a run number's environment is the handler's to check
  workspace,    // no one environment: schedules and announcements; the handler decides who may
};

std::string_view to_string(CommandAction action);

struct CommandSpec {
  std::string path;                       // one or two lowercase words: "deploy", "audit verify"
  std::vector<std::string> aliases = {};  // other whole paths for the same command: "ship"
  std::string summary = {};
  std::vector<ArgSpec> args = {};
  std::vector<std::string> examples = {};  // each parses; a trailing "  (note)" is ignored
  CommandAction action = CommandAction::read;
  Scope scope = Scope::none;
  // The audit action recorded when the router refuses the command (a permission the caller
  // lacks); empty: the path's words joined by '.' plus ".refused" ("deploy.refused").
  std::string refusal_audit = {};
  bool accepts_params = false;  // key=value tokens allowed
  CommandHandler handler = {};

  bool changes_state() const { return action != CommandAction::read; }
  // The group word of a two-word command ("audit" for "audit verify"); empty for one word.
  std::string_view group() const;
};

// A group of two-word commands sharing their first word.
struct GroupSpec {
  std::string word;  // "audit"
  std::string summary = {};
  std::string default_path = {};  // what the word alone runs ("audit tail"); empty: list the group
  // When set, a word after the group's word that is none of its commands is the default's first
  // argument (`notes hello v2` runs `notes show hello v2`) instead of an unknown command.
  bool default_takes_words = false;
};

// What the first words of a command name.
struct Lookup {
  enum class Kind {
    command,  // `spec` runs; the command's words are the first `words` tokens
    group,    // the group word alone, and the group has no default: list `group`
    unknown,  // nothing matches (a group word followed by a word that is none of its commands)
  };
  Kind kind = Kind::unknown;
  const CommandSpec* spec = nullptr;
  const GroupSpec* group = nullptr;  // set whenever the first word is a group's
  std::size_t words = 0;
};

class CommandRegistry {
 public:
  // Declares a group; its two-word commands may be added after it. The default, if named, must
  // be added before the table is used (checked by the registry tests, not at run time).
  void add_group(GroupSpec group);
  void add(CommandSpec spec);

  // `first` and `second` are the command's first two tokens when they are bare words (pass an
  // empty `second` otherwise). Longest match: a two-word path, then a one-word path, then the
  // group (its default command, or the group itself).
  Lookup lookup(std::string_view first, std::string_view second = {}) const;
  // The command with this whole path or alias ("audit verify", "SHIP"), words separated by one
  // space; null when there is none. Group words are not commands.
  const CommandSpec* find(std::string_view path) const;
  const GroupSpec* find_group(std::string_view word) const;
  // Closest paths to what was typed, best first (at most 3; empty when nothing is close). With a
  // `second` word, two-word paths are tried on both words first ("audti verify" -> "audit
  // verify"); then `first` alone against one-word paths and group words.
  std::vector<std::string> suggest(std::string_view first, std::string_view second = {}) const;

  const std::vector<CommandSpec>& all() const { return specs_; }
  const std::vector<GroupSpec>& groups() const { return groups_; }
  std::vector<const CommandSpec*> commands_in(std::string_view group) const;

  // Binds tokens (without the command's words) to the spec's arguments.
  static Result<ParsedArgs> parse(const CommandSpec& spec, const std::vector<Token>& tokens);
  static std::string usage(const CommandSpec& spec);
  // The full help page for one command.
  static std::string describe(const CommandSpec& spec);
  // The help page of a group: its summary, default and commands.
  std::string describe_group(const GroupSpec& group) const;
  // The overview: every command with its summary, two-word commands under their group.
  std::string overview() const;

 private:
  std::vector<CommandSpec> specs_;
  std::vector<GroupSpec> groups_;
};

// What a command needs, as help prints it: "deploy in the environment named by 'to <env>'".
std::string describe_permission(const CommandSpec& spec);

// Closest candidates to `word` by edit distance, best first; used for commands, services,
// environments and flags alike.
std::vector<std::string> closest_matches(std::string_view word,
                                         const std::vector<std::string>& candidates,
                                         std::size_t limit = 3);
// " (did you mean 'x'?)" or "" when nothing is close.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace shipmate::commands
