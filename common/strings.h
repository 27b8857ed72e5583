// Small string helpers shared by every module.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace shipmate {

std::string_view trim(std::string_view text);
std::string to_lower(std::string_view text);
bool starts_with_ci(std::string_view text, std::string_view prefix);
// ASCII case folding, as std::tolower in the "C" locale (the bot never sets another) without a
// library call per byte: A-Z to a-z, every other byte as it is.
constexpr char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
// Equal without regard to ASCII case (HTTP header names, command words, cron's month names).
// Inline: every command's lookup compares its words with each command's names.
inline bool equals_ci(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i]))
      return false;
  }
  return true;
}
std::string join(const std::vector<std::string>& parts, std::string_view separator);
// The value of a hexadecimal digit (either case), or -1.
int hex_digit_value(char c);
// Standard base64 (RFC 4648, with padding): HTTP Basic credentials and the like.
std::string base64_encode(std::string_view data);
// Counts as a person writes them: "1 deploy", "0 deploys", "2 deploys"; `plural_form` for words
// that do not take an "s" ("1 entry", "3 entries").
std::string count_of(long long count, std::string_view singular, std::string_view plural_form = {});
// How long ago something happened, for chat: "just now" (under a minute), "3 min ago",
// "2 h ago", "1 day ago", "5 days ago" (whole units, rounded down). A negative span (a clock step)
// reads "just now".
std::string time_ago(long long elapsed_ms);
// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
std::size_t edit_distance(std::string_view a, std::string_view b);

// Appends `text` as a quoted JSON string (RFC 8259 escapes; UTF-8 passes through) to `out`, which
// may be a std::string or any buffer with push_back(char) and append(std::string_view).
template <class Out>
void append_json_string(Out& out, std::string_view text) {
  constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t plain = 0;  // start of the run of characters that need no escape
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    out.append(text.substr(plain, i - plain));
    plain = i + 1;
    switch (c) {
      case '"':
        out.append(std::string_view("\\\""));
        break;
      case '\\':
        out.append(std::string_view("\\\\"));
        break;
      case '\n':
        out.append(std::string_view("\\n"));
        break;
      case '\r':
        out.append(std::string_view("\\r"));
        break;
      case '\t':
        out.append(std::string_view("\\t"));
        break;
      default: {
        const char escaped[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.append(std::string_view(escaped, sizeof escaped));
      }
    }
  }
  out.append(text.substr(plain));
  out.push_back('"');
}

}  // namespace shipmate
