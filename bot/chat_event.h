// What a transport hands the router: one thing a person did in chat.
#pragma once

#include <string>

namespace shipmate::bot {

struct ChatEvent {
  std::string platform;  // "terminal", "slack", "teams"
  std::string event_id;  // the platform's id, for de-duplication; may be empty
  std::string user_id;   // the Shipmate identity (already mapped from the platform's user id)
  std::string channel;
  std::string thread;
  std::string text;  // the command text, with any mention of the bot still in it
};

}  // namespace shipmate::bot
