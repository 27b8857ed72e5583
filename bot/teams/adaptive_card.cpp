#include "bot/teams/adaptive_card.h"

#include <boost/json.hpp>

#include <string_view>

#include "bot/teams/activity.h"
#include "common/redact.h"

namespace shipmate::bot::teams {
namespace {

namespace json = boost::json;

constexpr std::string_view kEllipsis = "\u2026";

// Cuts `text` to at most `max` bytes without splitting a UTF-8 sequence, adding an ellipsis.
std::string cut(std::string text, std::size_t max) {
  if (text.size() <= max)
    return text;
  std::size_t end = max > kEllipsis.size() ? max - kEllipsis.size() : 0;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
    --end;
  text.resize(end);
  text += kEllipsis;
  return text;
}

std::string_view color_of(commands::Tone tone) {
  switch (tone) {
    case commands::Tone::info:
      return "Default";
    case commands::Tone::progress:
      return "Accent";
    case commands::Tone::success:
      return "Good";
    case commands::Tone::warning:
      return "Warning";
    case commands::Tone::error:
      return "Attention";
  }
  return "Default";
}

std::string_view container_style(commands::Tone tone) {
  switch (tone) {
    case commands::Tone::info:
      return "default";
    case commands::Tone::progress:
      return "accent";
    case commands::Tone::success:
      return "good";
    case commands::Tone::warning:
      return "warning";
    case commands::Tone::error:
      return "attention";
  }
  return "default";
}

json::object text_block(std::string text) {
  return json::object{{"type", "TextBlock"}, {"text", std::move(text)}, {"wrap", true}};
}

json::object build_card(const commands::Message& message, ButtonStyle style, std::size_t max_text) {
  const std::string text = redact(message.text);
  json::array body;
  std::string title = text;
  std::string rest;
  if (!message.preformatted) {
    if (const auto newline = text.find('\n'); newline != std::string::npos) {
      title = text.substr(0, newline);
      rest = text.substr(newline + 1);
    }
  } else {
    title.clear();
    rest = text;
  }
  json::array inner;
  if (!title.empty()) {
    auto block = text_block(cut(title, std::min<std::size_t>(max_text, 2000)));
    block["weight"] = "Bolder";
    block["color"] = color_of(message.tone);
    inner.push_back(std::move(block));
  }
  if (!rest.empty()) {
    auto block = text_block(cut(rest, max_text));
    if (message.preformatted)
      block["fontType"] = "Monospace";
    inner.push_back(std::move(block));
  }
  body.push_back(json::object{{"type", "Container"},
                              {"style", container_style(message.tone)},
                              {"bleed", true},
                              {"items", std::move(inner)}});
  if (!message.fields.empty()) {
    json::array facts;
    for (std::size_t i = 0; i < message.fields.size() && i < kMaxFields; ++i) {
      const auto& field = message.fields[i];
      facts.push_back(json::object{
          {"title", cut(redact(field.label), 200)},
          {"value", cut(redact(field.value),
                        std::min(kMaxFieldChars, std::max<std::size_t>(max_text / 12, 40)))}});
    }
    body.push_back(json::object{{"type", "FactSet"}, {"facts", std::move(facts)}});
  }
  if (!message.context.empty()) {
    auto block = text_block(cut(redact(message.context), 2000));
    block["size"] = "Small";
    block["isSubtle"] = true;
    body.push_back(std::move(block));
  }
  json::object card{{"type", "AdaptiveCard"},
                    {"$schema", "http://adaptivecards.io/schemas/adaptive-card.json"},
                    {"version", "1.4"},
                    {"msteams", json::object{{"width", "Full"}}},
                    {"body", std::move(body)}};
  if (!message.buttons.empty()) {
    json::array actions;
    for (std::size_t i = 0; i < message.buttons.size() && i < kMaxButtons; ++i) {
      const auto& button = message.buttons[i];
      json::object action{{"title", cut(redact(button.label), 80)},
                          {"data", json::object{{"shipmate", redact(button.command)}}}};
      if (style == ButtonStyle::execute) {
        action["type"] = "Action.Execute";
        action["verb"] = kCommandVerb;
      } else {
        action["type"] = "Action.Submit";
      }
      if (button.style == "primary")
        action["style"] = "positive";
      else if (button.style == "danger")
        action["style"] = "destructive";
      actions.push_back(std::move(action));
    }
    card["actions"] = std::move(actions);
  }
  return card;
}

// The first line, for notifications and clients that cannot show cards.
std::string summary_of(const commands::Message& message) {
  const std::string text = redact(message.text);
  return cut(text.substr(0, text.find('\n')), 200);
}

json::object message_activity(const commands::Message& message, ButtonStyle style,
                              const std::string& reply_to_id, std::size_t max_text) {
  json::object activity{
      {"type", "message"},
      {"summary", summary_of(message)},
      {"attachments",
       json::array{json::object{{"contentType", "application/vnd.microsoft.card.adaptive"},
                                {"content", build_card(message, style, max_text)}}}}};
  if (!reply_to_id.empty())
    activity["replyToId"] = reply_to_id;
  return activity;
}

}  // namespace

std::string render_card(const commands::Message& message, ButtonStyle style) {
  return json::serialize(build_card(message, style, kMaxTextChars));
}

std::string render_message_activity(const commands::Message& message, ButtonStyle style,
                                    const std::string& reply_to_id) {
  // Text is the only part without a small fixed bound: shorten it until the activity fits.
  std::size_t max_text = kMaxTextChars;
  while (true) {
    std::string rendered = json::serialize(message_activity(message, style, reply_to_id, max_text));
    if (rendered.size() <= kMaxActivityBytes || max_text < 500)
      return rendered;
    max_text = max_text * 2 / 3;
  }
}

std::string render_invoke_card_response(const commands::Message& message) {
  return json::serialize(
      json::object{{"statusCode", 200},
                   {"type", "application/vnd.microsoft.card.adaptive"},
                   {"value", build_card(message, ButtonStyle::execute, kMaxTextChars)}});
}

std::string render_invoke_message_response(int status_code, const std::string& text) {
  return json::serialize(json::object{{"statusCode", status_code},
                                      {"type", "application/vnd.microsoft.activity.message"},
                                      {"value", redact(text)}});
}

}  // namespace shipmate::bot::teams
