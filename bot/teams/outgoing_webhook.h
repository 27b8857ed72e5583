// Teams outgoing-webhook mode, for tenants that cannot register a bot: Teams POSTs the message to
// a URL with `Authorization: HMAC <base64>` and shows whatever the answer says, if it comes within
// 5 seconds. There is no connector to call back, so the command's replies are collected and
// returned in that answer; buttons cannot work and are left out (commands only).
//
// WebhookReplies is the Conversation a command answers into: post() appends a message, update()
// replaces one, thread_reply() appends after it. render_webhook_answer() turns what was collected
// into the answer activity ({"type":"message","text":...}: the text, fields as "**label**: value"
// lines, the context in italics), noting when the command was still running at the deadline.
//
// Contract: pure, event-loop thread only (a Conversation). Text is redacted when rendered.
#pragma once

#include <string>
#include <vector>

#include "commands/reply.h"

namespace shipmate::bot::teams {

class WebhookReplies final : public commands::Conversation {
 public:
  explicit WebhookReplies(std::string address) : address_(std::move(address)) {}
  commands::MessageRef post(const commands::Message& message) override;
  void update(const commands::MessageRef& ref, const commands::Message& message) override;
  void thread_reply(const commands::MessageRef& ref, const commands::Message& message) override;
  std::string address() const override { return address_; }

  const std::vector<commands::Message>& messages() const { return messages_; }
  // No more messages are kept (the answer has gone).
  void close() { closed_ = true; }
  bool closed() const { return closed_; }

 private:
  std::string address_;
  std::vector<commands::Message> messages_;
  bool closed_ = false;
};

// The answer activity as JSON. `finished`: whether the command completed before the deadline.
std::string render_webhook_answer(const std::vector<commands::Message>& messages, bool finished);

}  // namespace shipmate::bot::teams
