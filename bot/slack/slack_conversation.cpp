// SlackConversation: a command's replies in one Slack channel/thread, through the WebApi's paced
// queue (bot/slack/slack_transport.h).
#include <string>

#include "bot/slack/slack_transport.h"

namespace shipmate::bot::slack {

namespace {

// Longer preformatted output (history, audit) goes out as a file rather than a cut message.
constexpr std::size_t kSnippetThreshold = 2800;

bool wants_snippet(const commands::Message& message) {
  return message.preformatted && message.text.size() > kSnippetThreshold;
}

// The first lines of a long output, for the message that announces the snippet.
commands::Message summary_of(const commands::Message& message) {
  commands::Message summary = message;
  std::size_t cut = message.text.rfind('\n', 1200);
  summary.text = message.text.substr(0, cut == std::string::npos ? 1200 : cut) + "\n...";
  summary.context = "Full output (" + std::to_string(message.text.size()) +
                    " characters) is attached as a snippet.";
  return summary;
}

}  // namespace

commands::MessageRef SlackConversation::post(const commands::Message& message) {
  if (wants_snippet(message)) {
    const auto ref = api_.post(channel_, thread_ts_, summary_of(message));
    api_.upload_snippet(channel_, thread_ts_, "Shipmate output", message.text, "");
    return std::to_string(ref);
  }
  return std::to_string(api_.post(channel_, thread_ts_, message));
}

void SlackConversation::update(const commands::MessageRef& ref, const commands::Message& message) {
  api_.update(std::stoull(ref), message);
}

void SlackConversation::thread_reply(const commands::MessageRef& ref,
                                     const commands::Message& message) {
  api_.thread_reply(std::stoull(ref), message);
}

commands::MessageRef SlackConversation::post_held(const commands::Message& message,
                                                  std::shared_ptr<commands::OutboxTicket> ticket) {
  if (wants_snippet(message)) {
    const auto ref = api_.post_held(channel_, thread_ts_, summary_of(message), std::move(ticket));
    api_.upload_snippet(channel_, thread_ts_, "Shipmate output", message.text, "");
    return std::to_string(ref);
  }
  return std::to_string(api_.post_held(channel_, thread_ts_, message, std::move(ticket)));
}

void SlackConversation::update_held(const commands::MessageRef& ref,
                                    const commands::Message& message,
                                    std::shared_ptr<commands::OutboxTicket> ticket) {
  api_.update_held(std::stoull(ref), message, std::move(ticket));
}

void SlackConversation::thread_reply_held(const commands::MessageRef& ref,
                                          const commands::Message& message,
                                          std::shared_ptr<commands::OutboxTicket> ticket) {
  api_.thread_reply_held(std::stoull(ref), message, std::move(ticket));
}

}  // namespace shipmate::bot::slack
