// The shared allow-list for versions and the bound on free text (common/chat_input.h).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/chat_input.h"

namespace shipmate {
namespace {

TEST(ValidateVersion, AcceptsTagsBranchesShasSemverAndDigests) {
  for (const std::string& version : std::vector<std::string>{
           "v1", "v2.3.1", "1.0.0+build.5", "release/2026.12", "feature/ABC-12_x", "a1b2c3d",
           "v1-rc.2", std::string(kMaxVersionLength, 'a'),
           "sha256:4b825dc642cb6eb9a060e54bf8d69288fbee4904abcdef0123456789abcdef01"}) {
    EXPECT_TRUE(validate_version(version).ok()) << version;
  }
}

TEST(ValidateVersion, RefusesInjectionPathsOptionsAndLookalikes) {
  for (const std::string& version :
       std::vector<std::string>{"",
                                "$(id)",
                                ";rm -rf /",
                                "`id`",
                                "../etc",
                                "-rf",
                                ".hidden",
                                "a..b",
                                "v1\nv2",
                                "v 1",
                                "/abs",
                                "v1;",
                                "v1&",
                                "v1|x",
                                "v1>x",
                                "v1'",
                                "v1\"",
                                "v1\\x",
                                "${{ x }}",
                                "v1:latest",
                                "sha256:abc",
                                "md5:" + std::string(32, 'a'),
                                "sha256:" + std::string(64, 'A'),
                                std::string(kMaxVersionLength + 1, 'a'),
                                "v1\xe2\x80\xa4"
                                "2",
                                "\xef\xbd\x96"
                                "1",
                                "v\xd0\xb0",
                                std::string("v\0", 2)}) {
    EXPECT_FALSE(validate_version(version).ok()) << quote_for_message(version);
  }
}

TEST(ValidateVersion, TheRefusalSaysWhatIsAllowedAndQuotesSafely) {
  auto refused = validate_version("v1\n$(id)");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::invalid);
  EXPECT_EQ(refused.error().message,
            "invalid version 'v1\\x0a$(id)': a version uses letters, digits, '.', '_', '-', '/' "
            "and '+' only, does not start with '-', '.' or '/', has no '..', and is at most 128 "
            "characters");
  auto long_one = validate_version(std::string(300, 'x'));
  ASSERT_FALSE(long_one.ok());
  EXPECT_NE(long_one.error().message.find("(300 characters)"), std::string::npos);
  EXPECT_LT(long_one.error().message.size(), 300u);  // the text itself is cut, not echoed whole
}

TEST(ValidateFreeText, BoundsReasonsAndCountsCharactersNotBytes) {
  EXPECT_TRUE(validate_free_text("reason", "").ok());
  EXPECT_TRUE(validate_free_text("reason", std::string(kMaxFreeTextLength, 'r')).ok());
  std::string accented;
  for (std::size_t i = 0; i < kMaxFreeTextLength; ++i)
    accented += "\xc3\xa9";  // é: two bytes, one character
  EXPECT_TRUE(validate_free_text("reason", accented).ok());
  auto refused = validate_free_text("reason", std::string(kMaxFreeTextLength + 1, 'r'));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message,
            "the reason is 501 characters long; keep it to 500 (link to a ticket or document for "
            "more)");
}

}  // namespace
}  // namespace shipmate
