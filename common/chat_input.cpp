#include "common/chat_input.h"

#include <algorithm>
#include <cstdio>

namespace shipmate {
namespace {

bool is_ascii_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_lower_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

// "sha256:<64 hex>", "sha384:<96 hex>", "sha512:<128 hex>".
bool is_content_digest(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos)
    return false;
  const std::string_view algorithm = text.substr(0, colon);
  const std::string_view hex = text.substr(colon + 1);
  std::size_t expected = 0;
  if (algorithm == "sha256")
    expected = 64;
  else if (algorithm == "sha384")
    expected = 96;
  else if (algorithm == "sha512")
    expected = 128;
  return expected > 0 && hex.size() == expected &&
         std::all_of(hex.begin(), hex.end(), is_lower_hex);
}

}  // namespace

std::string quote_for_message(std::string_view text, std::size_t limit) {
  std::string out = "'";
  std::size_t shown = 0;
  for (char c : text) {
    if (shown == limit) {
      out += "...";
      break;
    }
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) {
      out += c;
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    }
    ++shown;
  }
  return out + "'";
}

Status validate_version(std::string_view version) {
  if (version.empty())
    return make_error("no version given", ErrorKind::invalid);
  const std::string rule =
      ": a version uses letters, digits, '.', '_', '-', '/' and '+' only, does not start with "
      "'-', '.' or '/', has no '..', and is at most " +
      std::to_string(kMaxVersionLength) + " characters";
  if (is_content_digest(version))
    return Ok{};
  if (version.size() > kMaxVersionLength) {
    return make_error("invalid version " + quote_for_message(version) + " (" +
                          std::to_string(version.size()) + " characters)" + rule,
                      ErrorKind::invalid);
  }
  const bool allowed_chars = std::all_of(version.begin(), version.end(), [](char c) {
    return is_ascii_alnum(c) || c == '.' || c == '_' || c == '-' || c == '/' || c == '+';
  });
  if (!allowed_chars || version.front() == '-' || version.front() == '.' ||
      version.front() == '/' || version.find("..") != std::string_view::npos) {
    return make_error("invalid version " + quote_for_message(version) + rule, ErrorKind::invalid);
  }
  return Ok{};
}

Status validate_free_text(std::string_view field, std::string_view text) {
  // Characters as people count them: UTF-8 continuation bytes are not counted.
  const auto length = static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  }));
  if (length <= kMaxFreeTextLength)
    return Ok{};
  return make_error("the " + std::string(field) + " is " + std::to_string(length) +
                        " characters long; keep it to " + std::to_string(kMaxFreeTextLength) +
                        " (link to a ticket or document for more)",
                    ErrorKind::invalid);
}

}  // namespace shipmate
