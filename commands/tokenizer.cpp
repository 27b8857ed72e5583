#include "commands/tokenizer.h"

#include <cctype>

namespace shipmate::commands {
namespace {

// The UTF-8 typographic quotes chat clients substitute for plain ones.
constexpr std::string_view kLeftDouble = "\xE2\x80\x9C";
constexpr std::string_view kRightDouble = "\xE2\x80\x9D";
constexpr std::string_view kLeftSingle = "\xE2\x80\x98";
constexpr std::string_view kRightSingle = "\xE2\x80\x99";

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

// If `text` starts with an opening quote, returns its length and the closers that end it.
std::size_t opening_quote(std::string_view text, std::vector<std::string_view>& closers) {
  if (text.empty())
    return 0;
  if (text[0] == '"') {
    closers = {"\"", kRightDouble};
    return 1;
  }
  if (text[0] == '\'') {
    closers = {"'", kRightSingle};
    return 1;
  }
  if (text.substr(0, 3) == kLeftDouble || text.substr(0, 3) == kRightDouble) {
    closers = {"\"", kRightDouble, kLeftDouble};
    return 3;
  }
  if (text.substr(0, 3) == kLeftSingle) {
    closers = {"'", kRightSingle};
    return 3;
  }
  return 0;
}

// Whether a quote opens at the start of `text` (the openers opening_quote() knows).
bool opens_quote(std::string_view text) {
  return !text.empty() && (text[0] == '"' || text[0] == '\'' || text.substr(0, 3) == kLeftDouble ||
                           text.substr(0, 3) == kRightDouble || text.substr(0, 3) == kLeftSingle);
}

// Whether the whitespace-free run `token` is a bare word for tokenize(): no quote anywhere, not a
// --flag, and no '=' after its first character (key=value).
bool is_bare_word(std::string_view token) {
  for (std::size_t i = 0; i < token.size(); ++i) {
    if (opens_quote(token.substr(i)))
      return false;
  }
  if (token.size() >= 2 && token[0] == '-' && token[1] == '-')
    return false;
  const auto eq = token.find('=');
  return eq == std::string_view::npos || eq == 0;
}

}  // namespace

LeadingWords leading_words(std::string_view text) {
  std::string_view found[2];
  std::size_t i = 0;
  for (auto& word : found) {
    while (i < text.size() && is_space(text[i]))
      ++i;
    const std::size_t start = i;
    while (i < text.size() && !is_space(text[i]))
      ++i;
    const std::string_view token = text.substr(start, i - start);
    if (token.empty() || !is_bare_word(token))
      break;
    word = token;
  }
  return {found[0], found[1]};
}

Result<std::vector<Token>> tokenize(std::string_view text) {
  std::vector<Token> tokens;
  std::size_t i = 0;
  while (i < text.size()) {
    if (is_space(text[i])) {
      ++i;
      continue;
    }
    // A token is a run of plain characters and quoted sections; `key="a b"` is one token.
    std::string value;
    bool quoted = false;
    bool leading_quote = false;
    const std::size_t token_start = i;
    while (i < text.size() && !is_space(text[i])) {
      std::vector<std::string_view> closers;
      std::size_t open = opening_quote(text.substr(i), closers);
      if (open == 0) {
        value += text[i++];
        continue;
      }
      if (i == token_start)
        leading_quote = true;
      quoted = true;
      i += open;
      bool closed = false;
      while (i < text.size()) {
        if (text[i] == '\\' && i + 1 < text.size() &&
            (text[i + 1] == '\\' || text[i + 1] == '"' || text[i + 1] == '\'')) {
          value += text[i + 1];
          i += 2;
          continue;
        }
        std::size_t close_len = 0;
        for (auto closer : closers) {
          if (text.substr(i, closer.size()) == closer) {
            close_len = closer.size();
            break;
          }
        }
        if (close_len > 0) {
          i += close_len;
          closed = true;
          break;
        }
        value += text[i++];
      }
      if (!closed) {
        return make_error("unterminated quote starting at character " +
                          std::to_string(token_start + 1) + ": close it with a matching quote");
      }
    }

    Token token;
    if (leading_quote) {
      token.kind = Token::Kind::quoted;
      token.text = value;
    } else if (value.size() >= 2 && value[0] == '-' && value[1] == '-') {
      std::string body = value.substr(2);
      auto eq = body.find('=');
      token.kind = Token::Kind::flag;
      if (eq != std::string::npos) {
        token.text = body.substr(0, eq);
        token.value = body.substr(eq + 1);
        token.has_value = true;
      } else {
        token.text = body;
      }
      if (token.text.empty()) {
        return make_error("'" + value + "' is not a flag: write --name or --name=value");
      }
    } else if (auto eq = value.find('='); eq != std::string::npos && eq > 0) {
      token.kind = Token::Kind::key_value;
      token.key = value.substr(0, eq);
      token.value = value.substr(eq + 1);
      token.text = value;
    } else {
      token.kind = quoted ? Token::Kind::quoted : Token::Kind::word;
      token.text = value;
    }
    tokens.push_back(std::move(token));
  }
  return tokens;
}

}  // namespace shipmate::commands
