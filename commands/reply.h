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

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

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

// The reply outbox's hold on one message it hands a transport (bot/reply_outbox.h): the message
// may leave only once it is recorded (release()), never when recording failed for good
// (cancel()), and the transport reports the platform's answer to on_done: the platform's id for
// the message (Slack's ts; "" when the platform gives none) or the Error (its kind and reach say
// whether it may have been posted). Event-loop thread only.
struct OutboxTicket {
  enum class Hold { waiting, released, cancelled };
  std::string key;  // the idempotency key, carried on the platform where it can be
  Hold hold = Hold::waiting;
  // Set before cancel() when the key was recorded earlier (a command run again after a crash):
  // the platform's id for that earlier message, which later updates should edit; may be empty.
  std::string existing_id;
  std::vector<std::function<void()>> on_hold_ended;  // transports waiting for release or cancel
  std::function<void(const Result<std::string>&)> on_done;

  void release() { end_hold(Hold::released); }
  void cancel() { end_hold(Hold::cancelled); }
  void done(const Result<std::string>& answer) {
    if (auto callback = std::exchange(on_done, nullptr))
      callback(answer);
  }

 private:
  void end_hold(Hold how) {
    if (hold != Hold::waiting)
      return;
    hold = how;
    auto waiting = std::exchange(on_hold_ended, {});
    for (auto& resume : waiting)
      resume();
  }
};

class Conversation {
 public:
  virtual ~Conversation() = default;
  virtual MessageRef post(const Message& message) = 0;
  virtual void update(const MessageRef& ref, const Message& message) = 0;
  virtual void thread_reply(const MessageRef& ref, const Message& message) = 0;

  // The held variants, for the reply outbox. A transport that returns true from holds_messages()
  // queues the message at once (so the MessageRef is its own, usable like any other) but sends
  // it only after ticket->release(), carries ticket->key on the platform where it can (Slack:
  // message metadata), and reports the answer through ticket->done(). The defaults serve
  // transports that cannot hold: the outbox records the message before calling them, and they
  // send at once and report success without a platform id.
  virtual bool holds_messages() const { return false; }
  virtual MessageRef post_held(const Message& message, std::shared_ptr<OutboxTicket> ticket) {
    const MessageRef ref = post(message);
    ticket->done(std::string());
    return ref;
  }
  virtual void update_held(const MessageRef& ref, const Message& message,
                           std::shared_ptr<OutboxTicket> ticket) {
    update(ref, message);
    ticket->done(std::string());
  }
  virtual void thread_reply_held(const MessageRef& ref, const Message& message,
                                 std::shared_ptr<OutboxTicket> ticket) {
    thread_reply(ref, message);
    ticket->done(std::string());
  }
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
