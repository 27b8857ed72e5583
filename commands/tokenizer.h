// Splits a chat command into tokens.
//
// Grammar: words separated by whitespace; "double" or 'single' quoted strings (backslash escapes
// the quote character and itself inside them); key=value pairs; --flags and --flag=value.
// Chat clients send typographic quotes, so “ ” and ‘ ’ count as quotes too.
// Pure function; no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace shipmate::commands {

struct Token {
  enum class Kind { word, quoted, key_value, flag };
  Kind kind = Kind::word;
  std::string text;        // the word, the unquoted string, or the flag name without dashes
  std::string key;         // key_value: the key
  std::string value;       // key_value: the value; flag: the value after '=' if any
  bool has_value = false;  // flag written as --name=value
};

// Fails on an unterminated quote or an empty flag name ("--").
Result<std::vector<Token>> tokenize(std::string_view text);

// The first two tokens of `text` when tokenize() would make them bare words (Token::Kind::word),
// as views into `text`; a token that is not a bare word, and everything after it, is left empty.
// Allocates nothing: it is how a command's name is found on hot paths that must not tokenize.
struct LeadingWords {
  std::string_view first;
  std::string_view second;
};
LeadingWords leading_words(std::string_view text);

}  // namespace shipmate::commands
