#include "bot/teams/outgoing_webhook.h"

#include <boost/json.hpp>

#include "common/redact.h"

namespace shipmate::bot::teams {

commands::MessageRef WebhookReplies::post(const commands::Message& message) {
  if (closed_)
    return "0";
  messages_.push_back(message);
  return std::to_string(messages_.size() - 1);
}

void WebhookReplies::update(const commands::MessageRef& ref, const commands::Message& message) {
  if (closed_)
    return;
  const std::size_t index = std::stoul(ref);
  if (index < messages_.size())
    messages_[index] = message;
}

void WebhookReplies::thread_reply(const commands::MessageRef&, const commands::Message& message) {
  if (!closed_)
    messages_.push_back(message);
}

std::string render_webhook_answer(const std::vector<commands::Message>& messages, bool finished) {
  std::string text;
  for (const auto& message : messages) {
    if (!text.empty())
      text += "\n\n";
    if (message.preformatted)
      text += "```\n" + message.text + "\n```";
    else
      text += message.text;
    for (const auto& field : message.fields)
      text += "\n**" + field.label + "**: " + field.value;
    if (!message.context.empty())
      text += "\n_" + message.context + "_";
  }
  if (!finished) {
    if (!text.empty())
      text += "\n\n";
    text += "_Still running; an outgoing webhook can only answer once, so check `status` later._";
  }
  if (text.empty())
    text = "Done.";
  constexpr std::size_t kMaxText = 20'000;
  text = redact(text);
  if (text.size() > kMaxText) {
    std::size_t end = kMaxText;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
      --end;
    text.resize(end);
    text += "\u2026";
  }
  return boost::json::serialize(boost::json::object{{"type", "message"}, {"text", text}});
}

}  // namespace shipmate::bot::teams
