// The terminal chat transport: the same path every chat platform uses (line of text ->
// ChatEvent -> Router -> command -> Reply), with a person at a TTY or a script on a pipe.
//
// Contract
// - Lines are read on a helper thread and handed to the event loop; commands run one at a time
//   in the order typed, so a scripted session is deterministic. The one exception: a message
//   that offers buttons (such as "continue or roll back?") invites an answer, so the next line
//   is read while the command that showed it waits for that answer.
// - Replies are written to `out` (stdout), passed through redact() first. Logs go elsewhere.
// - When input ends, `on_end` runs on the event loop after every command has finished.
// - As a ChatTransport it is named "terminal" and owns the one address "terminal". It has no
//   redelivery, so its commands skip the inbox: they go through CommandIntake::run_unrecorded,
//   with the --as user as the identity. stop() refuses new commands as soon as it is called.
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include <boost/asio/any_io_executor.hpp>

#include "bot/chat_transport.h"
#include "commands/reply.h"

namespace shipmate::bot {

class CommandIntake;

// Renders platform-neutral messages as plain text lines.
class TerminalConversation final : public commands::Conversation {
 public:
  TerminalConversation(std::FILE* out, bool color) : out_(out), color_(color) {}
  commands::MessageRef post(const commands::Message& message) override;
  void update(const commands::MessageRef& ref, const commands::Message& message) override;
  void thread_reply(const commands::MessageRef& ref, const commands::Message& message) override;
  std::string address() const override { return "terminal"; }

  static std::string render(const commands::Message& message, bool color);
  // Called (on the event loop) whenever a message offering buttons is shown.
  void on_buttons_shown(std::function<void()> callback) { on_buttons_shown_ = std::move(callback); }

 private:
  void write(const std::string& text);
  void show(const commands::Message& message);
  std::FILE* out_;
  bool color_;
  int next_ref_ = 1;
  std::function<void()> on_buttons_shown_;
};

class TerminalTransport final : public ChatTransport {
 public:
  struct Options {
    std::string user_id;
    bool interactive = false;      // prompt and colour (stdin and stdout are TTYs)
    bool echo = false;             // print each command before its reply (scripted sessions)
    std::function<void()> on_end;  // input ended (EOF, "exit") and every command finished
  };

  // Attaches itself to `intake` as platform "terminal"; `intake` must outlive it.
  TerminalTransport(boost::asio::any_io_executor executor, CommandIntake& intake, Options options);
  ~TerminalTransport() override;

  std::string_view name() const override { return "terminal"; }
  // Starts reading lines.
  boost::asio::awaitable<Status> start() override;
  // Commands must no longer start (shutdown in progress); effective at the call.
  boost::asio::awaitable<void> stop(std::chrono::milliseconds grace) override;
  // The terminal never fails for good.
  void on_fatal(std::function<void(std::string)>) override {}
  std::unique_ptr<commands::Conversation> open(const std::string& address) override;

  TerminalConversation& conversation() { return conversation_; }

 private:
  struct Shared;
  boost::asio::any_io_executor executor_;
  CommandIntake& intake_;
  Options options_;
  TerminalConversation conversation_;
  std::shared_ptr<Shared> shared_;
  bool stopped_ = false;
};

}  // namespace shipmate::bot
