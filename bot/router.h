// The router: from a ChatEvent to a command handler.
//
// It strips the bot's name from the front of the text, tokenizes, finds the command (or suggests
// the closest), binds arguments, refuses changes from unknown identities, audits every command
// that changes anything, and runs the handler. Every failure on the way is a one-line reply in
// the same conversation; nothing is thrown at the transport.
//
// Threading: event-loop thread only. The Conversation must outlive the returned awaitable.
#pragma once

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

  // Whether `text` names a command that changes anything (false for unknown or malformed text,
  // which only gets an error reply).
  bool changes_state(std::string_view text) const;

  // The command text with a leading "@shipmate", "shipmate:", "/shipmate" or "<@U123>" removed.
  std::string strip_address(std::string_view text) const;

 private:
  commands::Services& services_;
  const commands::CommandRegistry& registry_;
  std::string bot_name_;
};

}  // namespace shipmate::bot
