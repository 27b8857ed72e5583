#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/redact.h"
#include "common/strings.h"

namespace shipmate {
namespace {

TEST(EditDistance, CountsEditsAndTranspositions) {
  EXPECT_EQ(edit_distance("deploy", "deploy"), 0u);
  EXPECT_EQ(edit_distance("depoly", "deploy"), 1u);  // one transposition
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(Strings, TrimLowerJoinPrefix) {
  EXPECT_EQ(trim("  a b \n"), "a b");
  EXPECT_EQ(to_lower("DePloY"), "deploy");
  EXPECT_EQ(join({"a", "b", "c"}, ", "), "a, b, c");
  EXPECT_TRUE(starts_with_ci("Shipmate deploy", "shipmate"));
  EXPECT_FALSE(starts_with_ci("ship", "shipmate"));
}

TEST(Strings, CountsReadAsAPersonWritesThem) {
  EXPECT_EQ(count_of(1, "deploy"), "1 deploy");
  EXPECT_EQ(count_of(0, "deploy"), "0 deploys");
  EXPECT_EQ(count_of(2, "deploy"), "2 deploys");
  EXPECT_EQ(count_of(-1, "degree"), "-1 degrees");
  EXPECT_EQ(count_of(1, "entry", "entries"), "1 entry");
  EXPECT_EQ(count_of(3, "entry", "entries"), "3 entries");
}

TEST(Strings, TimeAgoReadsAsAPersonSaysIt) {
  constexpr long long kMinute = 60'000;
  EXPECT_EQ(time_ago(0), "just now");
  EXPECT_EQ(time_ago(-5'000), "just now");  // a clock step backwards
  EXPECT_EQ(time_ago(59'999), "just now");
  EXPECT_EQ(time_ago(kMinute), "1 min ago");
  EXPECT_EQ(time_ago(3 * kMinute + 59'000), "3 min ago");
  EXPECT_EQ(time_ago(59 * kMinute), "59 min ago");
  EXPECT_EQ(time_ago(60 * kMinute), "1 h ago");
  EXPECT_EQ(time_ago(150 * kMinute), "2 h ago");
  EXPECT_EQ(time_ago(24 * 60 * kMinute - 1), "23 h ago");
  EXPECT_EQ(time_ago(24 * 60 * kMinute), "1 day ago");
  EXPECT_EQ(time_ago(5 * 24 * 60 * kMinute + 1), "5 days ago");
}

TEST(Redact, ReplacesEveryRegisteredSecret) {
  clear_registered_secrets();
  register_secret("xoxb-123-secret");
  register_secret("hunter22");
  EXPECT_EQ(redact("token xoxb-123-secret and hunter22 twice hunter22"),
            "token [REDACTED] and [REDACTED] twice [REDACTED]");
  EXPECT_TRUE(contains_secret("...hunter22..."));
  EXPECT_FALSE(contains_secret("nothing here"));
  clear_registered_secrets();
  EXPECT_EQ(redact("hunter22"), "hunter22");
}

TEST(Redact, LongerSecretWinsOverItsPrefix) {
  clear_registered_secrets();
  register_secret("abcd");
  register_secret("abcdefgh");
  EXPECT_EQ(redact("abcdefgh"), "[REDACTED]");
  clear_registered_secrets();
}

TEST(Redact, ShortValuesAreIgnored) {
  clear_registered_secrets();
  register_secret("ab");
  EXPECT_EQ(redact("about"), "about");
}

TEST(Clock, FormatsUtcAndDurations) {
  EXPECT_EQ(format_utc(0), "1970-01-01 00:00:00Z");
  EXPECT_EQ(format_utc(1'700'000'000'000), "2023-11-14 22:13:20Z");
  EXPECT_EQ(format_duration(850), "850 ms");
  EXPECT_EQ(format_duration(12'340), "12.3 s");
  EXPECT_EQ(format_duration(250'000), "4 min 10 s");
  EXPECT_EQ(format_duration(7'500'000), "2 h 5 min");
  ManualClock clock(1000);
  clock.advance_ms(500);
  EXPECT_EQ(clock.now_ms(), 1500);
}

TEST(Clock, ParsesIso8601WithAZone) {
  EXPECT_EQ(parse_iso8601("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_iso8601("2023-11-14T22:13:20Z"), 1'700'000'000'000);
  EXPECT_EQ(parse_iso8601("2023-11-14T23:13:20+01:00"), 1'700'000'000'000);
  EXPECT_EQ(parse_iso8601("2023-11-14 17:13:20-05:00"), 1'700'000'000'000);
  EXPECT_EQ(parse_iso8601("2023-11-14T22:13Z"), 1'700'000'000'000 - 20'000);
  EXPECT_FALSE(parse_iso8601("2023-11-14T22:13:20"));  // no zone: ambiguous
  EXPECT_FALSE(parse_iso8601("2023-02-30T00:00Z"));
  EXPECT_FALSE(parse_iso8601("yesterday"));
  EXPECT_FALSE(parse_iso8601("2023-11-14T25:00Z"));
}

}  // namespace
TEST(Strings, Base64EncodesTheRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::string("\xff\x00\xfe", 3)), "/wD+");
}

}  // namespace shipmate

namespace shipmate {
namespace {

TEST(JsonString, EscapesWhatJsonRequiresAndPassesUtf8Through) {
  std::string out = "x";
  append_json_string(out, "plain");
  EXPECT_EQ(out, "x\"plain\"");
  out.clear();
  append_json_string(out, std::string_view("q\"b\\n\nr\rt\tz\x01\x1f é\0", 17));
  EXPECT_EQ(out, "\"q\\\"b\\\\n\\nr\\rt\\tz\\u0001\\u001f é\\u0000\"");
  out.clear();
  append_json_string(out, "");
  EXPECT_EQ(out, "\"\"");
}

}  // namespace
}  // namespace shipmate
