#include "bot/slack/signing.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

namespace shipmate::bot::slack {
namespace {

constexpr std::string_view kSecret = "8f742231b10e8888abcd99yyyzzz85a5";
constexpr std::string_view kTimestamp = "1531420618";
constexpr std::int64_t kNow = 1531420618;
const std::string kBody =
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
    "&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
    "&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands"
    "%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121"
    ".803a0bc887a14d10d2c447fce8b6703c";

// Computed here with OpenSSL's one-shot HMAC(), independently of the code under test.
std::string reference_signature(std::string_view secret, std::string_view timestamp,
                                std::string_view body) {
  const std::string base = "v0:" + std::string(timestamp) + ":" + std::string(body);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(base.data()), base.size(), digest, &length);
  std::string hex = "v0=";
  char buffer[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(buffer, sizeof buffer, "%02x", digest[i]);
    hex += buffer;
  }
  return hex;
}

TEST(Signing, KnownAnswer) {
  const std::string expected = reference_signature(kSecret, kTimestamp, kBody);
  ASSERT_EQ(expected.size(), 3u + 64u);
  EXPECT_EQ(compute_signature(kSecret, kTimestamp, kBody), expected);
  EXPECT_EQ(compute_signature("k", "1", ""), reference_signature("k", "1", ""));
  // RFC 4231 test case 2 ("Jefe"), reached through the v0 prefix: "v0:" + "" + ":" + rest.
  EXPECT_EQ(compute_signature("Jefe", "", "what do ya want for nothing?"),
            reference_signature("Jefe", "", "what do ya want for nothing?"));
}

TEST(Signing, AcceptsValidRequest) {
  const std::string signature = compute_signature(kSecret, kTimestamp, kBody);
  EXPECT_TRUE(verify_signature(kSecret, kTimestamp, signature, kBody, kNow));
  EXPECT_TRUE(verify_signature(kSecret, kTimestamp, signature, kBody, kNow + 300));
  EXPECT_TRUE(verify_signature(kSecret, kTimestamp, signature, kBody, kNow - 300));
  // Hex case does not matter.
  std::string upper = signature;
  for (std::size_t i = 3; i < upper.size(); ++i) {
    upper[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper[i])));
  }
  EXPECT_TRUE(verify_signature(kSecret, kTimestamp, upper, kBody, kNow));
}

TEST(Signing, RejectsForgedSignatureAndTamperedBody) {
  const std::string signature = compute_signature(kSecret, kTimestamp, kBody);
  const std::string forged = compute_signature("not-the-secret", kTimestamp, kBody);
  auto forged_result = verify_signature(kSecret, kTimestamp, forged, kBody, kNow);
  ASSERT_FALSE(forged_result);
  EXPECT_EQ(forged_result.error().message, "signature mismatch");

  std::string tampered = kBody;
  tampered.replace(tampered.find("text="), 5, "text=deploy");
  EXPECT_EQ(verify_signature(kSecret, kTimestamp, signature, tampered, kNow).error().message,
            "signature mismatch");
  // Same signature replayed with another timestamp.
  EXPECT_EQ(verify_signature(kSecret, "1531420619", signature, kBody, kNow).error().message,
            "signature mismatch");
  // One flipped hex digit.
  std::string flipped = signature;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  EXPECT_FALSE(verify_signature(kSecret, kTimestamp, flipped, kBody, kNow));
}

TEST(Signing, RejectsStaleAndFutureTimestamps) {
  const std::string signature = compute_signature(kSecret, kTimestamp, kBody);
  const auto stale = verify_signature(kSecret, kTimestamp, signature, kBody, kNow + 412);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().message, "stale request timestamp (412 s old)");
  const auto future = verify_signature(kSecret, kTimestamp, signature, kBody, kNow - 301);
  ASSERT_FALSE(future);
  EXPECT_EQ(future.error().message, "request timestamp is 301 s in the future");
  EXPECT_FALSE(verify_signature(kSecret, kTimestamp, signature, kBody, kNow + 31, 30));
  EXPECT_TRUE(verify_signature(kSecret, kTimestamp, signature, kBody, kNow + 30, 30));
}

TEST(Signing, RejectsMissingAndMalformedHeaders) {
  const std::string signature = compute_signature(kSecret, kTimestamp, kBody);
  EXPECT_EQ(verify_signature(kSecret, kTimestamp, "", kBody, kNow).error().message,
            "missing X-Slack-Signature header");
  EXPECT_EQ(verify_signature(kSecret, "", signature, kBody, kNow).error().message,
            "missing X-Slack-Request-Timestamp header");

  for (const std::string bad_timestamp :
       {"-1531420618", "+1531420618", " 1531420618", "1531420618 ", "1531420618.5", "0x5B47", "abc",
        "99999999999999999999999"}) {
    const auto result = verify_signature(kSecret, bad_timestamp, signature, kBody, kNow);
    ASSERT_FALSE(result) << bad_timestamp;
    EXPECT_NE(result.error().message.find("malformed X-Slack-Request-Timestamp"), std::string::npos)
        << bad_timestamp;
  }

  const std::string hex = signature.substr(3);
  for (const std::string& bad_signature : std::vector<std::string>{
           hex, "v1=" + hex, "v0=" + hex.substr(1), "v0=" + hex + "0", "v0=" + hex.substr(2) + "zz",
           "v0=", "sha256=" + hex, " v0=" + hex}) {
    const auto result = verify_signature(kSecret, kTimestamp, bad_signature, kBody, kNow);
    ASSERT_FALSE(result) << bad_signature;
    EXPECT_NE(result.error().message.find("malformed X-Slack-Signature"), std::string::npos)
        << bad_signature;
  }
}

TEST(Signing, ErrorsNeverEchoTheSecret) {
  const std::string signature = compute_signature(kSecret, kTimestamp, kBody);
  for (const auto& result : {verify_signature(kSecret, kTimestamp, "v0=00", kBody, kNow),
                             verify_signature(kSecret, kTimestamp, signature, kBody, kNow + 1000),
                             verify_signature(kSecret, kTimestamp, signature, kBody + "x", kNow)}) {
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().message.find(kSecret), std::string::npos);
  }
}

TEST(Signing, EmptySecretIsRefused) {
  const std::string signature = compute_signature("", kTimestamp, kBody);
  EXPECT_EQ(signature, reference_signature("", kTimestamp, kBody));
  EXPECT_FALSE(verify_signature("", kTimestamp, signature, kBody, kNow));
}

}  // namespace
}  // namespace shipmate::bot::slack
