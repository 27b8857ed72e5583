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

std::vector<std::string> split_text(std::string_view text, std::size_t max_bytes) {
  std::vector<std::string> parts;
  if (max_bytes < 8)
    max_bytes = 8;
  while (!text.empty()) {
    if (text.size() <= max_bytes) {
      parts.emplace_back(text);
      break;
    }
    std::size_t end = text.rfind('\n', max_bytes - 1);
    if (end != std::string_view::npos) {
      end += 1;  // the line break stays with the part it ends
    } else {
      end = max_bytes;
      while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
        --end;
      if (end == 0)
        end = max_bytes;  // not UTF-8 at all: cut where the limit is
    }
    parts.emplace_back(text.substr(0, end));
    text.remove_prefix(end);
  }
  return parts;
}

std::vector<commands::Message> split_long_message(const commands::Message& message) {
  const std::string text = redact(message.text);
  if (text.size() <= kMaxTextChars)
    return {message};
  std::vector<std::string> parts = split_text(text, kPartBytes);
  std::size_t left_out = 0;
  if (parts.size() > kMaxParts) {
    for (std::size_t i = kMaxParts; i < parts.size(); ++i)
      left_out += parts[i].size();
    parts.resize(kMaxParts);
  }
  const std::size_t count = parts.size();
  std::vector<commands::Message> out;
  commands::Message first = message;
  first.text = std::move(parts[0]);
  const std::string continues =
      "The output (" + std::to_string(text.size()) + " characters) continues in this thread, in " +
      std::to_string(count - 1) + " more message" + (count == 2 ? "" : "s") + ".";
  first.context = first.context.empty() ? continues : first.context + " " + continues;
  out.push_back(std::move(first));
  for (std::size_t i = 1; i < count; ++i) {
    commands::Message part(message.tone, std::move(parts[i]));
    part.preformatted = message.preformatted;
    part.context = "Part " + std::to_string(i + 1) + " of " + std::to_string(count);
    if (i + 1 == count && left_out > 0)
      part.context += "; the last " + std::to_string(left_out) + " characters are not shown";
    out.push_back(std::move(part));
  }
  return out;
}

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
