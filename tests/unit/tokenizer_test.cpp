#include "commands/tokenizer.h"

#include <gtest/gtest.h>

namespace shipmate::commands {
namespace {

using Kind = Token::Kind;

std::vector<Token> ok(std::string_view text) {
  auto tokens = tokenize(text);
  EXPECT_TRUE(tokens.ok()) << (tokens.ok() ? "" : tokens.error().message);
  return tokens.ok() ? *tokens : std::vector<Token>{};
}

TEST(Tokenizer, SplitsWordsOnAnyWhitespace) {
  auto tokens = ok("  deploy\thello   v2 to staging ");
  ASSERT_EQ(tokens.size(), 5u);
  EXPECT_EQ(tokens[0].text, "deploy");
  EXPECT_EQ(tokens[4].text, "staging");
  for (const auto& token : tokens)
    EXPECT_EQ(token.kind, Kind::word);
}

TEST(Tokenizer, EmptyInputGivesNoTokens) {
  EXPECT_TRUE(ok("   ").empty());
}

TEST(Tokenizer, DoubleAndSingleQuotesKeepSpaces) {
  auto tokens = ok("incident declare \"db is down\" 'sev 1'");
  ASSERT_EQ(tokens.size(), 4u);
  EXPECT_EQ(tokens[2].kind, Kind::quoted);
  EXPECT_EQ(tokens[2].text, "db is down");
  EXPECT_EQ(tokens[3].text, "sev 1");
}

TEST(Tokenizer, TypographicQuotesFromChatClients) {
  auto tokens =
      ok("note \xE2\x80\x9Chello world\xE2\x80\x9D \xE2\x80\x98it\xE2\x80\x99s\xE2\x80\x99");
  ASSERT_EQ(tokens.size(), 3u);
  EXPECT_EQ(tokens[1].text, "hello world");
  EXPECT_EQ(tokens[1].kind, Kind::quoted);
}

TEST(Tokenizer, BackslashEscapesQuoteInsideQuotes) {
  auto tokens = ok(R"(say "she said \"hi\" \\ ok")");
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_EQ(tokens[1].text, R"(she said "hi" \ ok)");
}

TEST(Tokenizer, KeyValuePairs) {
  auto tokens = ok("runbook run restart replicas=3 note=\"two words\"");
  ASSERT_EQ(tokens.size(), 5u);
  EXPECT_EQ(tokens[3].kind, Kind::key_value);
  EXPECT_EQ(tokens[3].key, "replicas");
  EXPECT_EQ(tokens[3].value, "3");
  EXPECT_EQ(tokens[4].key, "note");
  EXPECT_EQ(tokens[4].value, "two words");
}

TEST(Tokenizer, LeadingEqualsIsAWordNotAPair) {
  auto tokens = ok("=x");
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].kind, Kind::word);
}

TEST(Tokenizer, FlagsWithAndWithoutValues) {
  auto tokens = ok("deploy api --force --strategy=canary --reason \"x y\"");
  ASSERT_EQ(tokens.size(), 6u);
  EXPECT_EQ(tokens[2].kind, Kind::flag);
  EXPECT_EQ(tokens[2].text, "force");
  EXPECT_FALSE(tokens[2].has_value);
  EXPECT_EQ(tokens[3].text, "strategy");
  EXPECT_TRUE(tokens[3].has_value);
  EXPECT_EQ(tokens[3].value, "canary");
  EXPECT_EQ(tokens[4].text, "reason");
  EXPECT_EQ(tokens[5].text, "x y");
}

TEST(Tokenizer, QuotedFlagLookalikeIsText) {
  auto tokens = ok("note \"--force\"");
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_EQ(tokens[1].kind, Kind::quoted);
  EXPECT_EQ(tokens[1].text, "--force");
}

TEST(Tokenizer, UnterminatedQuoteIsAnErrorNamingThePosition) {
  auto tokens = tokenize("deploy \"hello v2");
  ASSERT_FALSE(tokens.ok());
  EXPECT_NE(tokens.error().message.find("unterminated quote"), std::string::npos);
  EXPECT_NE(tokens.error().message.find("character 8"), std::string::npos);
}

TEST(Tokenizer, BareDoubleDashIsAnError) {
  auto tokens = tokenize("deploy --");
  ASSERT_FALSE(tokens.ok());
  EXPECT_NE(tokens.error().message.find("not a flag"), std::string::npos);
}

TEST(Tokenizer, ShellMetacharactersAreJustText) {
  auto tokens = ok("deploy hello;rm -rf / `id` $(whoami)");
  ASSERT_EQ(tokens.size(), 6u);
  EXPECT_EQ(tokens[1].text, "hello;rm");
  EXPECT_EQ(tokens[5].text, "$(whoami)");
}

// leading_words() finds a command's name without tokenizing; it must agree with tokenize() on
// which leading tokens are bare words, or the Slack intake would misjudge what changes state.
TEST(LeadingWords, AgreeWithTokenize) {
  const std::vector<std::string> inputs = {
      "",
      "   ",
      "deploy",
      "  audit   verify  --limit 5",
      "deploy hello v1",
      "deploy \"hello\" v1",
      "\"deploy\" hello",
      "de\"ploy\" hello",
      "deploy key=value",
      "=x word",
      "--force deploy",
      "-x deploy",
      "deploy --force",
      "audit \xE2\x80\x9Cverify\xE2\x80\x9D",
      "audit ver\xE2\x80\x98ify\xE2\x80\x99",
      "it\xE2\x80\x99s fine",
      "lock hello@staging db\tmigration",
      "deploy\thello",
      "'lock' x",
  };
  for (const auto& input : inputs) {
    auto tokens = tokenize(input);
    ASSERT_TRUE(tokens.ok()) << input;
    const LeadingWords words = leading_words(input);
    auto expected = [&](std::size_t i) -> std::string {
      for (std::size_t j = 0; j <= i; ++j) {
        if (j >= tokens->size() || (*tokens)[j].kind != Kind::word)
          return "";
      }
      return (*tokens)[i].text;
    };
    EXPECT_EQ(words.first, expected(0)) << input;
    EXPECT_EQ(words.second, expected(1)) << input;
  }
}

TEST(LeadingWords, AreViewsIntoTheText) {
  const std::string text = "  audit verify --limit 5";
  const LeadingWords words = leading_words(text);
  EXPECT_EQ(words.first.data(), text.data() + 2);
  EXPECT_EQ(words.second.data(), text.data() + 8);
}

}  // namespace
}  // namespace shipmate::commands
