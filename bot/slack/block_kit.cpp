#include "bot/slack/block_kit.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/strings.h"

namespace shipmate::bot::slack {
namespace {

namespace json = boost::json;

// Block Kit limits (docs.slack.dev/reference/block-kit).
constexpr std::size_t kSectionTextMax = 3000;
constexpr std::size_t kFieldTextMax = 2000;
constexpr std::size_t kFieldsPerSection = 10;
constexpr std::size_t kButtonTextMax = 75;
constexpr std::size_t kButtonValueMax = 2000;
constexpr std::size_t kButtonsMax = 25;
constexpr std::size_t kContextTextMax = 3000;
constexpr std::size_t kBlocksMax = 50;
constexpr std::size_t kFieldLabelMax = 100;
constexpr std::size_t kFallbackMax = 4000;

constexpr std::string_view kEllipsis = "\u2026";

// Length of the UTF-8 sequence at text[i]; a stray or truncated byte counts as one.
std::size_t sequence_length(std::string_view text, std::size_t i) {
  const auto lead = static_cast<unsigned char>(text[i]);
  std::size_t length = 1;
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
  }
  if (i + length > text.size()) {
    return 1;
  }
  for (std::size_t k = 1; k < length; ++k) {
    if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) {
      return 1;
    }
  }
  return length;
}

// Slack counts characters; counting UTF-16 units (an emoji is two) is never less than that,
// so text measured this way always fits whichever way Slack counts.
std::size_t units_of(std::size_t sequence) {
  return sequence == 4 ? 2 : 1;
}

std::size_t length_in_units(std::string_view text) {
  std::size_t units = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto length = sequence_length(text, i);
    units += units_of(length);
    i += length;
  }
  return units;
}

// Cuts at a character boundary and ends with "…". With `escaped`, never leaves half of an
// "&amp;"/"&lt;"/"&gt;" behind, which Slack would show as a stray "&am".
std::string truncate(std::string_view text, std::size_t max_units, bool escaped) {
  if (length_in_units(text) <= max_units) {
    return std::string(text);
  }
  if (max_units == 0) {
    return {};
  }
  const std::size_t budget = max_units - 1;  // the ellipsis is one unit
  std::size_t units = 0;
  std::size_t cut = 0;
  while (cut < text.size()) {
    const auto length = sequence_length(text, cut);
    if (units + units_of(length) > budget) {
      break;
    }
    units += units_of(length);
    cut += length;
  }
  std::string_view kept = text.substr(0, cut);
  if (escaped) {
    const auto amp = kept.rfind('&');
    if (amp != std::string_view::npos && kept.find(';', amp) == std::string_view::npos) {
      kept = kept.substr(0, amp);
    }
  }
  return std::string(kept) + std::string(kEllipsis);
}

// A channel link, "<#C0123ABCD>" (public) or "<#G…>" (private): it pings nobody, and an incident
// room is linked this way (SlackTransport::mention), so it is the one markup left as it is.
std::size_t channel_link_length(std::string_view text) {
  if (text.size() < 5 || text[0] != '<' || text[1] != '#' || (text[2] != 'C' && text[2] != 'G'))
    return 0;
  for (std::size_t i = 3; i < text.size() && i < 40; ++i) {
    const char c = text[i];
    if (c == '>')
      return i >= 4 ? i + 1 : 0;
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
      return 0;
  }
  return 0;
}

// Slack's three control characters. Escaping them keeps text that came from users or
// external systems from turning into links or pings ("<!channel>") when echoed back; nothing
// else needs escaping, so *bold* and `code` from commands still render, and channel links stay.
std::string escape_mrkdwn(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '<') {
      if (const std::size_t link = channel_link_length(text.substr(i)); link > 0) {
        out += text.substr(i, link);
        i += link - 1;
        continue;
      }
    }
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string_view tone_emoji(commands::Tone tone) {
  switch (tone) {
    case commands::Tone::progress:
      return ":hourglass_flowing_sand:";
    case commands::Tone::success:
      return ":white_check_mark:";
    case commands::Tone::warning:
      return ":warning:";
    case commands::Tone::error:
      return ":x:";
    case commands::Tone::info:
      break;
  }
  return {};
}

std::string_view tone_word(commands::Tone tone) {
  switch (tone) {
    case commands::Tone::progress:
      return "In progress";
    case commands::Tone::success:
      return "Success";
    case commands::Tone::warning:
      return "Warning";
    case commands::Tone::error:
      return "Error";
    case commands::Tone::info:
      break;
  }
  return {};
}

json::object mrkdwn(std::string text) {
  return json::object{{"type", "mrkdwn"}, {"text", std::move(text)}};
}

std::string main_text(const commands::Message& message) {
  const std::string_view emoji = tone_emoji(message.tone);
  if (message.text.empty()) {
    return std::string(emoji);
  }
  if (!message.preformatted) {
    std::string prefix = emoji.empty() ? std::string() : std::string(emoji) + " ";
    return prefix +
           truncate(escape_mrkdwn(message.text), kSectionTextMax - length_in_units(prefix), true);
  }
  // A fence inside the text would end the code block early; a zero-width space between the
  // backticks keeps it literal.
  std::string body = escape_mrkdwn(message.text);
  for (auto pos = body.find("```"); pos != std::string::npos; pos = body.find("```", pos)) {
    body.insert(pos + 2, "\u200b");
    pos += 2;
  }
  const std::string open = emoji.empty() ? "```\n" : std::string(emoji) + "\n```\n";
  const std::string close = "\n```";
  const std::size_t overhead = length_in_units(open) + length_in_units(close);
  return open + truncate(body, kSectionTextMax - overhead, true) + close;
}

std::string field_text(const commands::Field& field) {
  std::string label = truncate(escape_mrkdwn(field.label), kFieldLabelMax, true);
  std::string value = escape_mrkdwn(field.value);
  if (label.empty()) {
    return truncate(value, kFieldTextMax, true);
  }
  std::string head = "*" + label + "*";
  if (value.empty()) {
    return head;
  }
  head += "\n";
  return head + truncate(value, kFieldTextMax - length_in_units(head), true);
}

json::object button(const commands::Button& source, std::size_t index) {
  const std::string& label = source.label.empty() ? source.command : source.label;
  json::object element{
      {"type", "button"},
      {"action_id", "shipmate_cmd_" + std::to_string(index)},
      {"text", json::object{{"type", "plain_text"},
                            {"text", truncate(label, kButtonTextMax, false)},
                            {"emoji", true}}},
      {"value", source.command},
  };
  if (source.style == "primary" || source.style == "danger") {
    element["style"] = source.style;
  }
  return element;
}

}  // namespace

std::string render_blocks(const commands::Message& message) {
  std::string out;
  append_blocks(out, message);
  return out;
}

void append_blocks(std::string& out, const commands::Message& message) {
  const std::string text = main_text(message);
  // Most replies are text alone ("pong", a status line): written straight out as the JSON below
  // would serialize it, without building a tree of Boost.JSON values for every reply.
  if (message.fields.empty() && message.buttons.empty() && message.context.empty()) {
    if (text.empty()) {
      out += "[]";
      return;
    }
    out += R"([{"type":"section","text":{"type":"mrkdwn","text":)";
    append_json_string(out, text);
    out += "}}]";
    return;
  }
  json::array blocks;
  if (!text.empty()) {
    blocks.push_back(json::object{{"type", "section"}, {"text", mrkdwn(text)}});
  }

  std::vector<std::string> fields;
  for (const auto& field : message.fields) {
    std::string rendered = field_text(field);
    if (!rendered.empty()) {
      fields.push_back(std::move(rendered));
    }
  }
  // Whatever the fields need must leave room for the context and actions blocks.
  const std::size_t reserved = blocks.size() + 2;
  const std::size_t max_fields = (kBlocksMax - reserved) * kFieldsPerSection;
  if (fields.size() > max_fields) {
    const std::size_t dropped = fields.size() - (max_fields - 1);
    fields.resize(max_fields - 1);
    fields.push_back(std::string(kEllipsis) + " " + std::to_string(dropped) + " more");
  }
  for (std::size_t start = 0; start < fields.size(); start += kFieldsPerSection) {
    json::array section_fields;
    const std::size_t end = std::min(fields.size(), start + kFieldsPerSection);
    for (std::size_t i = start; i < end; ++i) {
      section_fields.push_back(mrkdwn(fields[i]));
    }
    blocks.push_back(json::object{{"type", "section"}, {"fields", std::move(section_fields)}});
  }

  json::array elements;
  for (std::size_t i = 0; i < message.buttons.size() && elements.size() < kButtonsMax; ++i) {
    const auto& source = message.buttons[i];
    // A cut-short command would run something other than what the button says, so a button
    // whose command does not fit is left out rather than truncated.
    if (source.command.empty() || length_in_units(source.command) > kButtonValueMax) {
      continue;
    }
    elements.push_back(button(source, i));
  }

  if (!message.context.empty()) {
    blocks.push_back(json::object{
        {"type", "context"},
        {"elements",
         json::array{mrkdwn(truncate(escape_mrkdwn(message.context), kContextTextMax, true))}}});
  }
  if (!elements.empty()) {
    blocks.push_back(json::object{{"type", "actions"}, {"elements", std::move(elements)}});
  }
  out += json::serialize(blocks);
}

std::string fallback_text(const commands::Message& message) {
  std::string text = message.text;
  if (text.empty()) {
    for (const auto& field : message.fields) {
      if (!text.empty()) {
        text += "; ";
      }
      text += field.label.empty() ? field.value : field.label + ": " + field.value;
    }
  }
  const std::string_view word = tone_word(message.tone);
  if (!word.empty()) {
    text = text.empty() ? std::string(word) : std::string(word) + ": " + text;
  }
  // The top-level text is parsed for links and mentions just like mrkdwn.
  return truncate(escape_mrkdwn(text), kFallbackMax, true);
}

}  // namespace shipmate::bot::slack
