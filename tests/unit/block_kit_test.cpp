#include "bot/slack/block_kit.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <string>

namespace shipmate::bot::slack {
namespace {

namespace json = boost::json;
using commands::Button;
using commands::Field;
using commands::Message;
using commands::Tone;

json::array parse_blocks(const Message& message) {
  const std::string rendered = render_blocks(message);
  boost::system::error_code ec;
  json::value value = json::parse(rendered, ec);
  EXPECT_FALSE(ec) << rendered;
  EXPECT_TRUE(value.is_array()) << rendered;
  return value.is_array() ? value.as_array() : json::array{};
}

std::string str(const json::value& value) {
  return std::string(value.as_string());
}

// Code points, which is what Slack's limits count (an emoji may count as two; see block_kit.cpp).
std::size_t chars(std::string_view text) {
  std::size_t count = 0;
  for (const char c : text) {
    count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }
  return count;
}

bool valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 6 ? 2 : (lead >> 4) == 14 ? 3 : 4;
    if ((lead >= 0x80 && (lead >> 6) == 2) || i + length > text.size()) {
      return false;
    }
    for (std::size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) {
        return false;
      }
    }
    i += length;
  }
  return true;
}

TEST(BlockKit, ToneSectionContextAndButtons) {
  Message message(Tone::success, "Deployed *api* 1.2.3 to staging");
  message.context = "deploy #42 by ada";
  message.buttons = {{"Promote to prod", "deploy api 1.2.3 to prod", "primary"},
                     {"Roll back", "rollback api in staging", "danger"},
                     {"Logs", "logs api staging", "fancy"}};
  const auto blocks = parse_blocks(message);
  ASSERT_EQ(blocks.size(), 3u);

  const auto& section = blocks[0].as_object();
  EXPECT_EQ(str(section.at("type")), "section");
  EXPECT_EQ(str(section.at("text").at("type")), "mrkdwn");
  EXPECT_EQ(str(section.at("text").at("text")),
            ":white_check_mark: Deployed *api* 1.2.3 to staging");

  const auto& context = blocks[1].as_object();
  EXPECT_EQ(str(context.at("type")), "context");
  ASSERT_EQ(context.at("elements").as_array().size(), 1u);
  EXPECT_EQ(str(context.at("elements").at(0).at("text")), "deploy #42 by ada");

  const auto& actions = blocks[2].as_object();
  EXPECT_EQ(str(actions.at("type")), "actions");
  const auto& elements = actions.at("elements").as_array();
  ASSERT_EQ(elements.size(), 3u);
  EXPECT_EQ(str(elements[0].at("type")), "button");
  EXPECT_EQ(str(elements[0].at("action_id")), "shipmate_cmd_0");
  EXPECT_EQ(str(elements[0].at("value")), "deploy api 1.2.3 to prod");
  EXPECT_EQ(str(elements[0].at("text").at("type")), "plain_text");
  EXPECT_EQ(str(elements[0].at("text").at("text")), "Promote to prod");
  EXPECT_EQ(str(elements[0].at("style")), "primary");
  EXPECT_EQ(str(elements[1].at("style")), "danger");
  EXPECT_EQ(str(elements[1].at("action_id")), "shipmate_cmd_1");
  EXPECT_FALSE(elements[2].as_object().contains("style"));
  EXPECT_EQ(str(elements[2].at("action_id")), "shipmate_cmd_2");
}

TEST(BlockKit, EachToneHasItsEmoji) {
  const std::pair<Tone, std::string> tones[] = {{Tone::success, ":white_check_mark: x"},
                                                {Tone::error, ":x: x"},
                                                {Tone::warning, ":warning: x"},
                                                {Tone::progress, ":hourglass_flowing_sand: x"},
                                                {Tone::info, "x"}};
  for (const auto& [tone, expected] : tones) {
    const auto blocks = parse_blocks(Message(tone, "x"));
    ASSERT_EQ(blocks.size(), 1u);
    EXPECT_EQ(str(blocks[0].at("text").at("text")), expected);
  }
}

TEST(BlockKit, EscapesSlackControlCharacters) {
  Message message(Tone::info, "a < b && c > d <!channel> <@U1> *kept*");
  message.context = "<https://evil|click>";
  message.fields = {{"R&D", "<b>"}};
  const auto blocks = parse_blocks(message);
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_EQ(str(blocks[0].at("text").at("text")),
            "a &lt; b &amp;&amp; c &gt; d &lt;!channel&gt; &lt;@U1&gt; *kept*");
  EXPECT_EQ(str(blocks[1].at("fields").at(0).at("text")), "*R&amp;D*\n&lt;b&gt;");
  EXPECT_EQ(str(blocks[2].at("elements").at(0).at("text")), "&lt;https://evil|click&gt;");
  // JSON metacharacters survive the trip.
  const auto quoted = parse_blocks(Message(Tone::info, "say \"hi\"\\ \n\ttab \x01"));
  EXPECT_EQ(str(quoted[0].at("text").at("text")), "say \"hi\"\\ \n\ttab \x01");
}

// An incident room's link, "<#C0123ABCD>", pings nobody and stays a link; anything that only
// looks like one is escaped as before.
TEST(BlockKit, ChannelLinksAreTheOneMarkupKept) {
  const auto blocks = parse_blocks(
      Message(Tone::info, "room: <#CFA000002> and <#G0ABC> but not <#c12> <#C12|x> <#C <#>"));
  EXPECT_EQ(str(blocks[0].at("text").at("text")),
            "room: <#CFA000002> and <#G0ABC> but not &lt;#c12&gt; &lt;#C12|x&gt; &lt;#C &lt;#&gt;");
}

TEST(BlockKit, PreformattedUsesFence) {
  Message message(Tone::error, "NAME   STATE\napi    failed <oom>");
  message.preformatted = true;
  const auto blocks = parse_blocks(message);
  EXPECT_EQ(str(blocks[0].at("text").at("text")),
            ":x:\n```\nNAME   STATE\napi    failed &lt;oom&gt;\n```");

  Message fenced(Tone::info, "before ``` after");
  fenced.preformatted = true;
  const auto text = str(parse_blocks(fenced)[0].at("text").at("text"));
  EXPECT_TRUE(text.starts_with("```\n"));
  EXPECT_TRUE(text.ends_with("\n```"));
  EXPECT_EQ(text.find("```", 4), text.size() - 3);  // no fence in the middle
}

TEST(BlockKit, LongTextIsTruncatedWithEllipsis) {
  const auto blocks = parse_blocks(Message(Tone::warning, std::string(5000, 'a')));
  const auto text = str(blocks[0].at("text").at("text"));
  EXPECT_EQ(chars(text), 3000u);
  EXPECT_TRUE(text.ends_with("\u2026"));
  EXPECT_TRUE(text.starts_with(":warning: aaa"));

  Message pre(Tone::info, std::string(5000, 'b'));
  pre.preformatted = true;
  const auto fenced = str(parse_blocks(pre)[0].at("text").at("text"));
  EXPECT_LE(chars(fenced), 3000u);
  EXPECT_TRUE(fenced.ends_with("\u2026\n```"));
}

TEST(BlockKit, TruncationKeepsCharactersAndEntitiesWhole) {
  // Multi-byte characters must not be cut in half.
  std::string accents;
  for (int i = 0; i < 2000; ++i) {
    accents += "\xC3\xA9";  // é
  }
  accents += "\xF0\x9F\x9A\x80";  // rocket, outside the BMP
  const auto text =
      str(parse_blocks(Message(Tone::info, accents + accents))[0].at("text").at("text"));
  EXPECT_TRUE(valid_utf8(text));
  EXPECT_LE(chars(text), 3000u);

  // An escaped '<' straddling the limit is dropped whole, not left as "&l".
  const std::string edge = std::string(2998, 'x') + "<<<<";
  const auto escaped = str(parse_blocks(Message(Tone::info, edge))[0].at("text").at("text"));
  EXPECT_TRUE(escaped.ends_with("x\u2026")) << escaped.substr(escaped.size() - 10);
}

TEST(BlockKit, FieldsSplitIntoSectionsOfTen) {
  Message message(Tone::info, "Status");
  for (int i = 0; i < 23; ++i) {
    message.fields.push_back({"env" + std::to_string(i), "v" + std::to_string(i)});
  }
  const auto blocks = parse_blocks(message);
  ASSERT_EQ(blocks.size(), 4u);
  EXPECT_EQ(blocks[1].at("fields").as_array().size(), 10u);
  EXPECT_EQ(blocks[2].at("fields").as_array().size(), 10u);
  EXPECT_EQ(blocks[3].at("fields").as_array().size(), 3u);
  EXPECT_EQ(str(blocks[1].at("fields").at(0).at("text")), "*env0*\nv0");
  EXPECT_EQ(str(blocks[3].at("fields").at(2).at("text")), "*env22*\nv22");
  EXPECT_EQ(str(blocks[1].at("fields").at(0).at("type")), "mrkdwn");
}

TEST(BlockKit, FieldLimits) {
  Message message(Tone::info, "x");
  message.fields = {{"log", std::string(3000, 'z')}, {"", "only value"}, {"only label", ""}};
  const auto fields = parse_blocks(message)[1].at("fields").as_array();
  ASSERT_EQ(fields.size(), 3u);
  EXPECT_LE(chars(str(fields[0].at("text"))), 2000u);
  EXPECT_TRUE(str(fields[0].at("text")).ends_with("\u2026"));
  EXPECT_EQ(str(fields[1].at("text")), "only value");
  EXPECT_EQ(str(fields[2].at("text")), "*only label*");
}

TEST(BlockKit, NeverMoreThanFiftyBlocks) {
  Message message(Tone::info, "many");
  for (int i = 0; i < 1000; ++i) {
    message.fields.push_back({"k", "v"});
  }
  message.context = "ctx";
  message.buttons = {{"Go", "status", ""}};
  const auto blocks = parse_blocks(message);
  EXPECT_LE(blocks.size(), 50u);
  EXPECT_EQ(str(blocks.back().at("type")), "actions");
  const auto& last_fields = blocks[blocks.size() - 3].at("fields").as_array();
  EXPECT_NE(str(last_fields.back().at("text")).find("more"), std::string::npos);
}

TEST(BlockKit, ButtonLimits) {
  Message message(Tone::info, "pick");
  message.buttons.push_back({std::string(100, 'L'), "status", ""});
  message.buttons.push_back({"Too long", std::string(2001, 'c'), ""});
  message.buttons.push_back({"", "help deploy", ""});
  message.buttons.push_back({"Nothing", "", ""});
  for (int i = 0; i < 30; ++i) {
    message.buttons.push_back({"b" + std::to_string(i), "status " + std::to_string(i), ""});
  }
  const auto blocks = parse_blocks(message);
  const auto& elements = blocks.back().at("elements").as_array();
  EXPECT_EQ(elements.size(), 25u);
  const auto label = str(elements[0].at("text").at("text"));
  EXPECT_EQ(chars(label), 75u);
  EXPECT_TRUE(label.ends_with("\u2026"));
  // The over-long command is left out (a cut-short command would run something else), and so
  // is the button without a command; numbering follows the message's own button index.
  EXPECT_EQ(str(elements[1].at("value")), "help deploy");
  EXPECT_EQ(str(elements[1].at("text").at("text")), "help deploy");
  EXPECT_EQ(str(elements[1].at("action_id")), "shipmate_cmd_2");
  EXPECT_EQ(str(elements[2].at("action_id")), "shipmate_cmd_4");
  for (const auto& element : elements) {
    EXPECT_LE(chars(str(element.at("value"))), 2000u);
  }
  std::string value_2000(2000, 'v');
  Message exact(Tone::info, "x");
  exact.buttons = {{"ok", value_2000, ""}};
  EXPECT_EQ(str(parse_blocks(exact).back().at("elements").at(0).at("value")), value_2000);
}

TEST(BlockKit, ContextIsTruncated) {
  Message message(Tone::info, "x");
  message.context = std::string(4000, 'c');
  const auto blocks = parse_blocks(message);
  EXPECT_LE(chars(str(blocks.back().at("elements").at(0).at("text"))), 3000u);
}

// Text alone, the commonest reply, is one section; a message with nothing to show, no block.
TEST(BlockKit, TextAloneIsOneSectionAndNothingIsNoBlock) {
  EXPECT_EQ(render_blocks(Message(Tone::info, "pong")),
            R"([{"type":"section","text":{"type":"mrkdwn","text":"pong"}}])");
  EXPECT_EQ(render_blocks(Message()), "[]");
}

TEST(BlockKit, EmptyTextOmitsSectionForInfo) {
  Message message;
  message.fields = {{"a", "b"}};
  const auto blocks = parse_blocks(message);
  ASSERT_EQ(blocks.size(), 1u);
  EXPECT_TRUE(blocks[0].as_object().contains("fields"));
}

TEST(FallbackText, ToneWordAndPlainText) {
  EXPECT_EQ(fallback_text(Message(Tone::error, "deploy failed")), "Error: deploy failed");
  EXPECT_EQ(fallback_text(Message(Tone::success, "done")), "Success: done");
  EXPECT_EQ(fallback_text(Message(Tone::warning, "careful")), "Warning: careful");
  EXPECT_EQ(fallback_text(Message(Tone::progress, "deploying")), "In progress: deploying");
  EXPECT_EQ(fallback_text(Message(Tone::info, "hello")), "hello");
  EXPECT_EQ(fallback_text(Message(Tone::info, "<!here> & co")), "&lt;!here&gt; &amp; co");

  Message fields_only;
  fields_only.fields = {{"api", "1.2.3"}, {"web", "2.0"}};
  EXPECT_EQ(fallback_text(fields_only), "api: 1.2.3; web: 2.0");

  const auto long_text = fallback_text(Message(Tone::error, std::string(10000, 'e')));
  EXPECT_EQ(chars(long_text), 4000u);
  EXPECT_TRUE(long_text.ends_with("\u2026"));
}

}  // namespace
}  // namespace shipmate::bot::slack
