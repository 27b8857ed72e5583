#include "web/html.h"

#include "common/redact.h"
#include "common/strings.h"

namespace shipmate::web {
namespace {

void append_escaped_raw(std::string& out, std::string_view text) {
  for (const char c : text) {
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
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
}

}  // namespace

void append_text(std::string& out, std::string_view text) {
  if (contains_secret(text)) {
    append_escaped_raw(out, redact(text));
    return;
  }
  append_escaped_raw(out, text);
}

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  append_text(out, text);
  return out;
}

std::string query_value(std::string_view text) {
  constexpr char kHex[] = "0123456789ABCDEF";
  const std::string clean = contains_secret(text) ? redact(text) : std::string(text);
  std::string out;
  for (const char ch : clean) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

void append_json(std::string& out, std::string_view text) {
  if (contains_secret(text)) {
    append_json_string(out, redact(text));
    return;
  }
  append_json_string(out, text);
}

}  // namespace shipmate::web
