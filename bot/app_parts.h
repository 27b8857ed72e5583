// Small pieces of the App (bot/app.h) that other parts of bot/ may reuse: a platform's display
// name, logging a coroutine's exception, the Router as the intake's dispatcher, the directory of
// conversations by address over the running transports, and the log as the conversation of last
// resort.
//
// Contract: event-loop thread only, like the App. Directory holds non-owning pointers to
// transports the App owns and removes before destroying them; RouterDispatcher refers to a
// Router that outlives it.
#pragma once

#include <spdlog/spdlog.h>

#include <cctype>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "bot/chat_transport.h"
#include "bot/command_intake.h"
#include "bot/router.h"
#include "commands/context.h"

namespace shipmate::bot {

// "slack" -> "Slack", for messages.
inline std::string display_name(std::string_view platform) {
  std::string name(platform);
  if (!name.empty())
    name[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(name[0])));
  return name;
}

// Logs what ended a coroutine with an exception (none: nothing).
inline void log_exception(const char* what, std::exception_ptr error) {
  if (!error)
    return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    spdlog::error("{}: {}", what, e.what());
  }
}

// The Router as the intake's dispatcher.
class RouterDispatcher final : public CommandDispatcher {
 public:
  explicit RouterDispatcher(Router& router) : router_(router) {}
  bool changes_state(std::string_view text) const override { return router_.changes_state(text); }
  boost::asio::awaitable<void> dispatch(ChatEvent event,
                                        commands::Conversation& conversation) override {
    return router_.dispatch(std::move(event), conversation);
  }

 private:
  Router& router_;
};

// Conversations by address, for the transports that are running now.
struct Directory final : commands::ConversationDirectory {
  std::unique_ptr<commands::Conversation> open(const std::string& address) override {
    for (auto* transport : running) {
      if (transport->owns(address))
        return transport->open(address);
    }
    return nullptr;
  }
  std::vector<ChatTransport*> running;
};

// Where work that outlives its conversation reports when no transport owns that conversation any
// more (a `serve` without the terminal, a platform no longer configured): the log.
struct LogConversation final : commands::Conversation {
  commands::MessageRef post(const commands::Message& message) override {
    spdlog::info("{}", message.text);
    return "log";
  }
  void update(const commands::MessageRef&, const commands::Message& message) override {
    spdlog::info("{}", message.text);
  }
  void thread_reply(const commands::MessageRef&, const commands::Message& message) override {
    spdlog::info("  {}", message.text);
  }
  std::string address() const override { return "log"; }
};

}  // namespace shipmate::bot
