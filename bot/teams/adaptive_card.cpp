#include "bot/teams/adaptive_card.h"

#include <algorithm>
#include <string_view>

#include "bot/teams/activity.h"
#include "common/redact.h"
#include "common/strings.h"

namespace shipmate::bot::teams {
namespace {

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

// Writes JSON straight into a string, commas included. Every reply is rendered once, and building
// a boost::json DOM of the card and serializing it cost about 20,000 instructions per reply
// (callgrind, Release), more than the rest of the connector call's own work.
class JsonOut {
 public:
  explicit JsonOut(std::string& out) : out_(out) {}

  void open_object() { open('{'); }
  void close_object() { close('}'); }
  void open_array() { open('['); }
  void close_array() { close(']'); }
  // Names the next value of the object being written. Names are this file's literals, none of
  // which needs an escape, so they are not scanned for one.
  void key(std::string_view name) {
    separate();
    out_ += '"';
    out_ += name;
    out_ += "\":";
    after_key_ = true;
  }
  void text(std::string_view value) {
    start_value();
    append_json_string(out_, value);
  }
  void flag(bool value) {
    start_value();
    out_ += value ? "true" : "false";
  }
  void number(long long value) {
    start_value();
    out_ += std::to_string(value);
  }
  void text_member(std::string_view name, std::string_view value) {
    key(name);
    text(value);
  }
  void flag_member(std::string_view name, bool value) {
    key(name);
    flag(value);
  }

 private:
  static constexpr int kMaxDepth = 16;  // a card nests 8 deep inside its activity

  void open(char bracket) {
    start_value();
    out_ += bracket;
    ++depth_;
    if (depth_ < kMaxDepth)
      first_[depth_] = true;
  }
  void close(char bracket) {
    out_ += bracket;
    --depth_;
  }
  // A comma before every member or element but a container's first.
  void separate() {
    if (depth_ <= 0 || depth_ >= kMaxDepth)
      return;
    if (!first_[depth_])
      out_ += ',';
    first_[depth_] = false;
  }
  void start_value() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    separate();
  }

  std::string& out_;
  bool first_[kMaxDepth] = {};
  int depth_ = 0;
  bool after_key_ = false;
};

// {"type":"TextBlock","text":...,"wrap":true, then the caller's members}; the caller closes it.
void open_text_block(JsonOut& json, std::string_view text) {
  json.open_object();
  json.text_member("type", "TextBlock");
  json.text_member("text", text);
  json.flag_member("wrap", true);
}

// The card for `message`, whose text `text` has already been redacted.
void write_card(JsonOut& json, const commands::Message& message, const std::string& text,
                ButtonStyle style, std::size_t max_text) {
  std::string_view title = text;
  std::string_view rest;
  if (!message.preformatted) {
    if (const auto newline = text.find('\n'); newline != std::string::npos) {
      title = std::string_view(text).substr(0, newline);
      rest = std::string_view(text).substr(newline + 1);
    }
  } else {
    title = {};
    rest = text;
  }
  json.open_object();
  json.text_member("type", "AdaptiveCard");
  json.text_member("$schema", "http://adaptivecards.io/schemas/adaptive-card.json");
  json.text_member("version", "1.4");
  json.key("msteams");
  json.open_object();
  json.text_member("width", "Full");
  json.close_object();
  json.key("body");
  json.open_array();
  json.open_object();
  json.text_member("type", "Container");
  json.text_member("style", container_style(message.tone));
  json.flag_member("bleed", true);
  json.key("items");
  json.open_array();
  if (!title.empty()) {
    open_text_block(json, cut(std::string(title), std::min<std::size_t>(max_text, 2000)));
    json.text_member("weight", "Bolder");
    json.text_member("color", color_of(message.tone));
    json.close_object();
  }
  if (!rest.empty()) {
    open_text_block(json, cut(std::string(rest), max_text));
    if (message.preformatted)
      json.text_member("fontType", "Monospace");
    json.close_object();
  }
  json.close_array();
  json.close_object();
  if (!message.fields.empty()) {
    json.open_object();
    json.text_member("type", "FactSet");
    json.key("facts");
    json.open_array();
    for (std::size_t i = 0; i < message.fields.size() && i < kMaxFields; ++i) {
      const auto& field = message.fields[i];
      json.open_object();
      json.text_member("title", cut(redact(field.label), 200));
      json.text_member("value",
                       cut(redact(field.value),
                           std::min(kMaxFieldChars, std::max<std::size_t>(max_text / 12, 40))));
      json.close_object();
    }
    json.close_array();
    json.close_object();
  }
  if (!message.context.empty()) {
    open_text_block(json, cut(redact(message.context), 2000));
    json.text_member("size", "Small");
    json.flag_member("isSubtle", true);
    json.close_object();
  }
  json.close_array();
  if (!message.buttons.empty()) {
    json.key("actions");
    json.open_array();
    for (std::size_t i = 0; i < message.buttons.size() && i < kMaxButtons; ++i) {
      const auto& button = message.buttons[i];
      json.open_object();
      json.text_member("title", cut(redact(button.label), 80));
      json.key("data");
      json.open_object();
      json.text_member("shipmate", redact(button.command));
      json.close_object();
      if (style == ButtonStyle::execute) {
        json.text_member("type", "Action.Execute");
        json.text_member("verb", kCommandVerb);
      } else {
        json.text_member("type", "Action.Submit");
      }
      if (button.style == "primary")
        json.text_member("style", "positive");
      else if (button.style == "danger")
        json.text_member("style", "destructive");
      json.close_object();
    }
    json.close_array();
  }
  json.close_object();
}

// {"type":"message","summary":<the first line>,"attachments":[{"contentType":...,"content":
// <card>}],"replyToId":...}.
std::string message_activity(const commands::Message& message, const std::string& text,
                             ButtonStyle style, const std::string& reply_to_id,
                             std::size_t max_text) {
  std::string out;
  out.reserve(768 + std::min(text.size(), max_text) + message.context.size());
  JsonOut json(out);
  json.open_object();
  json.text_member("type", "message");
  // The first line, for notifications and clients that cannot show cards.
  json.text_member("summary", cut(text.substr(0, text.find('\n')), 200));
  json.key("attachments");
  json.open_array();
  json.open_object();
  json.text_member("contentType", "application/vnd.microsoft.card.adaptive");
  json.key("content");
  write_card(json, message, text, style, max_text);
  json.close_object();
  json.close_array();
  if (!reply_to_id.empty())
    json.text_member("replyToId", reply_to_id);
  json.close_object();
  return out;
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
  std::string out;
  JsonOut json(out);
  write_card(json, message, redact(message.text), style, kMaxTextChars);
  return out;
}

std::string render_message_activity(const commands::Message& message, ButtonStyle style,
                                    const std::string& reply_to_id) {
  const std::string text = redact(message.text);
  // Text is the only part without a small fixed bound: shorten it until the activity fits.
  std::size_t max_text = kMaxTextChars;
  while (true) {
    std::string rendered = message_activity(message, text, style, reply_to_id, max_text);
    if (rendered.size() <= kMaxActivityBytes || max_text < 500)
      return rendered;
    max_text = max_text * 2 / 3;
  }
}

std::string render_invoke_card_response(const commands::Message& message) {
  std::string out;
  JsonOut json(out);
  json.open_object();
  json.key("statusCode");
  json.number(200);
  json.text_member("type", "application/vnd.microsoft.card.adaptive");
  json.key("value");
  write_card(json, message, redact(message.text), ButtonStyle::execute, kMaxTextChars);
  json.close_object();
  return out;
}

std::string render_invoke_message_response(int status_code, const std::string& text) {
  std::string out;
  JsonOut json(out);
  json.open_object();
  json.key("statusCode");
  json.number(status_code);
  json.text_member("type", "application/vnd.microsoft.activity.message");
  json.text_member("value", redact(text));
  json.close_object();
  return out;
}

}  // namespace shipmate::bot::teams
