// Platform-neutral replies.
//
// A command says what to show (text, labelled fields, a context line, buttons) and where (a new
// message, an update to one it posted before, or a reply in that message's thread). Transports
// map this onto their platform: plain lines on a terminal, Block Kit on Slack, Adaptive Cards on
// Teams. Nothing in commands/ knows which one it is talking to.
//
// Contract: a Conversation is used on the event-loop thread only; its calls never block (a
// transport queues the write and returns). Text passed in may contain secrets by accident, so
// every transport runs it through redact() before it leaves the process.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace shipmate::commands {

enum class Tone { info, progress, success, warning, error };

struct Field {
  std::string label;
  std::string value;
};

struct Button {
  std::string label;
  std::string command;  // the command a click runs, as if the clicking user typed it
  std::string style;    // "primary", "danger" or empty
};

struct Message {
  Message() = default;
  Message(Tone tone_in, std::string text_in) : tone(tone_in), text(std::move(text_in)) {}

  Tone tone = Tone::info;
  std::string text;
  std::vector<Field> fields;
  std::string context;  // small print under the message
  std::vector<Button> buttons;
  bool preformatted = false;  // tables and logs: render in a monospace block
};

// Identifies a message this conversation posted, so it can be updated or threaded on.
using MessageRef = std::string;

class Conversation {
 public:
  virtual ~Conversation() = default;
  virtual MessageRef post(const Message& message) = 0;
  virtual void update(const MessageRef& ref, const Message& message) = 0;
  virtual void thread_reply(const MessageRef& ref, const Message& message) = 0;
  // Opaque text identifying where this conversation happens; stored with deploys so that a
  // restarted Shipmate can report outcomes to the same place.
  virtual std::string address() const = 0;
};

// Finds the conversation behind an address that Conversation::address() produced earlier, so
// work that outlives a command (a restart's reconciliation, approvals, lock expiry, schedules,
// incident reminders) can report where the request came from. Transports register themselves by
// prefix.
class ConversationDirectory {
 public:
  virtual ~ConversationDirectory() = default;
  // Null when no transport that is running now owns the address.
  virtual std::unique_ptr<Conversation> open(const std::string& address) = 0;
};

inline Message info(std::string text) {
  return Message(Tone::info, std::move(text));
}
inline Message error_message(std::string text) {
  return Message(Tone::error, std::move(text));
}
inline Message success(std::string text) {
  return Message(Tone::success, std::move(text));
}
inline Message warning(std::string text) {
  return Message(Tone::warning, std::move(text));
}

}  // namespace shipmate::commands
