// The terminal chat transport: the same path every chat platform uses (line of text ->
// ChatEvent -> Router -> command -> Reply), with a person at a TTY or a script on a pipe.
//
// Contract
// - Lines are read on a helper thread and handed to the event loop; commands run one at a time
//   in the order typed, so a scripted session is deterministic.
// - Replies are written to `out` (stdout), passed through redact() first. Logs go elsewhere.
// - When input ends, `on_end` runs on the event loop after the last command has finished.
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "bot/router.h"
#include "commands/reply.h"

namespace shipmate::bot {

// Renders platform-neutral messages as plain text lines.
class TerminalConversation final : public commands::Conversation {
 public:
  TerminalConversation(std::FILE* out, bool color) : out_(out), color_(color) {}
  commands::MessageRef post(const commands::Message& message) override;
  void update(const commands::MessageRef& ref, const commands::Message& message) override;
  void thread_reply(const commands::MessageRef& ref, const commands::Message& message) override;
  std::string address() const override { return "terminal"; }

  static std::string render(const commands::Message& message, bool color);

 private:
  void write(const std::string& text);
  std::FILE* out_;
  bool color_;
  int next_ref_ = 1;
};

class TerminalTransport {
 public:
  struct Options {
    std::string user_id;
    bool interactive = false;  // prompt and colour (stdin and stdout are TTYs)
    bool echo = false;         // print each command before its reply (scripted sessions)
  };

  TerminalTransport(boost::asio::any_io_executor executor, Router& router, Options options);
  ~TerminalTransport();

  void start(std::function<void()> on_end);
  // Tells the transport that commands must no longer start (shutdown in progress).
  void stop() { stopped_ = true; }
  TerminalConversation& conversation() { return conversation_; }

 private:
  struct Shared;
  boost::asio::any_io_executor executor_;
  Router& router_;
  Options options_;
  TerminalConversation conversation_;
  std::shared_ptr<Shared> shared_;
  bool stopped_ = false;
};

}  // namespace shipmate::bot
