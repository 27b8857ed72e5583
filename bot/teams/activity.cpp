#include "bot/teams/activity.h"

#include <simdjson.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "common/strings.h"

namespace shipmate::bot::teams {
namespace {

// The string at a JSON pointer ("/conversation/id"); empty when absent or not a string.
std::string string_at(simdjson::dom::element root, std::string_view pointer) {
  std::string_view value;
  if (root.at_pointer(pointer).get_string().get(value) == simdjson::SUCCESS)
    return std::string(value);
  return {};
}

// Reads members of one JSON object in a single pass, each wanted name at its first occurrence
// only (later duplicates are ignored, as a JSON pointer lookup ignores them).
class FirstOnly {
 public:
  // The string value of member `bit`; left empty when it is not a string.
  void take(int bit, simdjson::dom::element value, std::string& out) {
    if (!claim(bit))
      return;
    std::string_view text;
    if (value.get_string().get(text) == simdjson::SUCCESS)
      out.assign(text.data(), text.size());
  }
  // The object value of member `bit`: whether it is one (`out` is only valid then).
  bool take_object(int bit, simdjson::dom::element value, simdjson::dom::object& out) {
    return claim(bit) && value.get_object().get(out) == simdjson::SUCCESS;
  }

 private:
  bool claim(int bit) {
    const std::uint32_t mask = 1u << bit;
    if (seen_ & mask)
      return false;
    seen_ |= mask;
    return true;
  }
  std::uint32_t seen_ = 0;
};

// Reads the string members `wanted` names from `object` into their destinations, each at its
// first occurrence (FirstOnly), in one pass.
void read_strings(simdjson::dom::object object,
                  std::initializer_list<std::pair<std::string_view, std::string*>> wanted) {
  FirstOnly seen;
  for (const auto field : object) {
    const std::string_view key = field.key;
    int bit = 0;
    for (const auto& [name, out] : wanted) {
      if (key == name) {
        seen.take(bit, field.value, *out);
        break;
      }
      ++bit;
    }
  }
}

void append_utf8(std::string& out, std::uint32_t code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x110000) {
    out += static_cast<char>(0xF0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
}

// Decodes the entity starting at text[i] ('&'); returns the characters consumed (0: not one).
std::size_t decode_entity(std::string_view text, std::size_t i, std::string& out) {
  const auto end = text.find(';', i);
  if (end == std::string_view::npos || end - i > 10)
    return 0;
  const std::string_view name = text.substr(i + 1, end - i - 1);
  if (name == "amp") {
    out += '&';
  } else if (name == "lt") {
    out += '<';
  } else if (name == "gt") {
    out += '>';
  } else if (name == "quot") {
    out += '"';
  } else if (name == "apos" || name == "#39") {
    out += '\'';
  } else if (name == "nbsp") {
    out += ' ';
  } else if (name.size() > 1 && name[0] == '#') {
    std::uint32_t code = 0;
    const bool hex = name[1] == 'x' || name[1] == 'X';
    const std::string_view digits = name.substr(hex ? 2 : 1);
    if (digits.empty())
      return 0;
    for (char c : digits) {
      const int digit = hex ? hex_digit_value(c) : (c >= '0' && c <= '9' ? c - '0' : -1);
      if (digit < 0 || code > 0x10FFFF)
        return 0;
      code = code * (hex ? 16 : 10) + static_cast<std::uint32_t>(digit);
    }
    if (code == 0 || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
      return 0;
    append_utf8(out, code == 0xA0 ? ' ' : code);
  } else {
    return 0;
  }
  return end - i + 1;
}

}  // namespace

std::string strip_teams_markup(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool leading = true;  // nothing but whitespace and tags so far
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '<') {
      const auto close = text.find('>', i);
      if (close == std::string_view::npos) {
        out.append(text.substr(i));
        break;
      }
      const std::string tag = to_lower(text.substr(i + 1, close - i - 1));
      if (tag == "at" || tag.starts_with("at ")) {
        const auto end = to_lower(text.substr(close)).find("</at>");
        const std::size_t name_end = end == std::string::npos ? text.size() : close + end;
        if (!leading)
          out.append(strip_teams_markup(text.substr(close + 1, name_end - close - 1)));
        i = end == std::string::npos ? text.size() : name_end + 5;
        continue;
      }
      // Block-level tags separate words; inline ones do not.
      if (tag == "br" || tag == "br/" || tag == "br /" || tag.starts_with("p") ||
          tag.starts_with("/p") || tag.starts_with("div") || tag.starts_with("/div")) {
        if (!out.empty() && out.back() != ' ')
          out += ' ';
      }
      i = close + 1;
      continue;
    }
    if (c == '&') {
      if (const auto used = decode_entity(text, i, out); used > 0) {
        i += used;
        leading = leading && out.back() == ' ';
        continue;
      }
    }
    out += c;
    if (c != ' ' && c != '\n' && c != '\t' && c != '\r')
      leading = false;
    ++i;
  }
  return std::string(trim(out));
}

Result<Activity> decode_activity(std::string_view body) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::object top;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS ||
      root.get_object().get(top) != simdjson::SUCCESS)
    return make_error("the body is not a JSON object", ErrorKind::invalid);
  Activity activity;
  // One pass over the activity's members and over each nested object it reads, instead of a
  // JSON pointer lookup (a scan from the top) per field. As such a lookup would, each name counts
  // at its first occurrence only, and a value that is not a string reads as empty.
  FirstOnly seen;
  simdjson::dom::object conversation, from, recipient;
  bool has_conversation = false, has_from = false, has_recipient = false;
  bool has_value = false, has_channel_data = false;
  for (const auto field : top) {
    const std::string_view key = field.key;
    if (key == "type")
      seen.take(0, field.value, activity.type);
    else if (key == "id")
      seen.take(1, field.value, activity.id);
    else if (key == "name")
      seen.take(2, field.value, activity.name);
    else if (key == "channelId")
      seen.take(3, field.value, activity.channel_id);
    else if (key == "serviceUrl")
      seen.take(4, field.value, activity.service_url);
    else if (key == "replyToId")
      seen.take(5, field.value, activity.reply_to_id);
    else if (key == "text")
      seen.take(6, field.value, activity.text);
    else if (key == "conversation")
      has_conversation = seen.take_object(7, field.value, conversation) || has_conversation;
    else if (key == "from")
      has_from = seen.take_object(8, field.value, from) || has_from;
    else if (key == "recipient")
      has_recipient = seen.take_object(9, field.value, recipient) || has_recipient;
    else if (key == "value")
      has_value = true;
    else if (key == "channelData")
      has_channel_data = true;
  }
  if (activity.type.empty())
    return make_error("the activity has no type", ErrorKind::invalid);
  if (has_conversation)
    read_strings(conversation, {{"id", &activity.conversation_id},
                                {"conversationType", &activity.conversation_type},
                                {"tenantId", &activity.tenant_id}});
  if (activity.tenant_id.empty() && has_channel_data)
    activity.tenant_id = string_at(root, "/channelData/tenant/id");
  if (has_from)
    read_strings(from, {{"id", &activity.from_id},
                        {"aadObjectId", &activity.from_aad_id},
                        {"name", &activity.from_name}});
  if (has_recipient)
    read_strings(recipient, {{"id", &activity.recipient_id}, {"name", &activity.recipient_name}});

  if (has_value && activity.type == "message")
    activity.value_command = string_at(root, "/value/shipmate");
  if (has_value && activity.type == "invoke") {
    activity.action_type = string_at(root, "/value/action/type");
    activity.action_verb = string_at(root, "/value/action/verb");
    activity.action_command = string_at(root, "/value/action/data/shipmate");
  }

  if (activity.type == "message" || activity.type == "invoke") {
    const char* missing = activity.id.empty()                ? "id"
                          : activity.channel_id.empty()      ? "channelId"
                          : activity.service_url.empty()     ? "serviceUrl"
                          : activity.conversation_id.empty() ? "conversation.id"
                          : activity.from_id.empty()         ? "from.id"
                                                             : nullptr;
    if (missing)
      return make_error("the " + activity.type + " activity has no " + missing, ErrorKind::invalid);
  }
  return activity;
}

Classified classify(const Activity& activity) {
  Classified result;
  const std::string key_tail = activity.conversation_id + ":" + activity.id;
  if (activity.type == "message") {
    if (!activity.value_command.empty()) {
      result.kind = Classified::Kind::command;
      result.dedupe_key = "submit:" + key_tail;
      result.text = std::string(trim(activity.value_command));
      return result;
    }
    std::string text = strip_teams_markup(activity.text);
    if (text.empty()) {
      result.why = "a message without a command";
      return result;
    }
    result.kind = Classified::Kind::command;
    result.dedupe_key = "message:" + key_tail;
    result.text = std::move(text);
    return result;
  }
  if (activity.type == "invoke") {
    if (activity.name != "adaptiveCard/action") {
      result.why = "an invoke named '" + activity.name + "'";
      return result;
    }
    if (activity.action_verb != kCommandVerb || trim(activity.action_command).empty()) {
      result.why = "a card action that is not Shipmate's (verb '" + activity.action_verb + "')";
      return result;
    }
    result.kind = Classified::Kind::card_action;
    result.dedupe_key = "invoke:" + key_tail;
    result.text = std::string(trim(activity.action_command));
    return result;
  }
  result.why = activity.type.empty() ? "an activity without a type" : activity.type;
  return result;
}

}  // namespace shipmate::bot::teams
