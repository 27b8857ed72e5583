// The router: from a ChatEvent to a command handler.
//
// It strips the bot's name from the front of the text, tokenizes, finds the command by its
// longest path (two words, then one, then a group's default; a group word alone lists the
// group), binds arguments, refuses what commands/permission.h decides before a handler (unknown
// identities for commands that change state, a malformed deploy number, the spec's policy action
// where its scope resolves from the arguments), audits every command that changes anything and
// every refusal, and runs the handler. Every failure on the way is a one-line reply in the same
// conversation; nothing is thrown at the transport.
//
// Threading: event-loop thread only. The Conversation must outlive the returned awaitable.
#pragma once

#include <array>
#include <unordered_map>

#include "common/metrics.h"

#include <string>

#include <boost/asio/awaitable.hpp>

#include "bot/chat_event.h"
#include "commands/context.h"

namespace shipmate::bot {

class Router {
 public:
  Router(commands::Services& services, const commands::CommandRegistry& registry,
         std::string bot_name);

  boost::asio::awaitable<void> dispatch(ChatEvent event, commands::Conversation& conversation);

  // Whether `text` names a command that changes anything (false for unknown text). Called per
  // command on the Slack intake's path, so it allocates nothing: it reads the first two words
  // without tokenizing the rest, and so errs towards true for a state-changing command whose
  // later arguments are malformed (it is then reported, not re-run, after a crash).
  bool changes_state(std::string_view text) const;

  // The command text with a leading "@shipmate", "shipmate:", "/shipmate" removed (platform markup
  // such as Slack's <@U123> is the transport's to strip).
  std::string strip_address(std::string_view text) const;

  // Counts every dispatched command in `registry` as shipmate_commands_total{command,outcome}
  // (outcome: ok, error, refused, bad_arguments; command "unknown" for text that names none).
  // Every series is made here, so counting allocates nothing. Call once, before dispatching.
  void count_commands(metrics::Registry& registry);

 private:
  enum Outcome { kOk, kError, kRefused, kBadArguments, kOutcomes };
  void count(const commands::CommandSpec* spec, Outcome outcome);

  std::string_view strip_address_view(std::string_view text) const;

  commands::Services& services_;
  const commands::CommandRegistry& registry_;
  std::string bot_name_;
  std::unordered_map<const commands::CommandSpec*, std::array<metrics::Counter*, kOutcomes>>
      counters_;
  metrics::Counter* unknown_ = nullptr;
};

}  // namespace shipmate::bot
