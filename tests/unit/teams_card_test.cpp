// Adaptive Cards rendered from commands::Message: layout, both button styles, tone, redaction
// and Teams' size limits.
#include "bot/teams/adaptive_card.h"
#include "bot/teams/outgoing_webhook.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "common/redact.h"

namespace shipmate::bot::teams {
namespace {
namespace json = boost::json;

commands::Message deploy_status() {
  commands::Message message(commands::Tone::progress, "Deploying hello v2 to staging\nstep 1 of 3");
  message.fields = {{"Service", "hello"}, {"Version", "v2"}};
  message.context = "deploy #12 by alice";
  message.buttons = {{"Approve", "approve 12", "primary"}, {"Abort", "abort 12", "danger"}};
  return message;
}

TEST(TeamsCard, RendersTitleTextFactsContextAndExecuteButtons) {
  const json::value card = json::parse(render_card(deploy_status(), ButtonStyle::execute));
  EXPECT_EQ(card.at("type"), "AdaptiveCard");
  EXPECT_EQ(card.at("version"), "1.4");
  const auto& body = card.at("body").as_array();
  const auto& container = body.at(0).as_object();
  EXPECT_EQ(container.at("style"), "accent");
  EXPECT_EQ(container.at("items").at(0).at("text"), "Deploying hello v2 to staging");
  EXPECT_EQ(container.at("items").at(0).at("weight"), "Bolder");
  EXPECT_EQ(container.at("items").at(1).at("text"), "step 1 of 3");
  EXPECT_EQ(body.at(1).at("type"), "FactSet");
  EXPECT_EQ(body.at(1).at("facts").at(1).at("value"), "v2");
  EXPECT_EQ(body.at(2).at("text"), "deploy #12 by alice");
  EXPECT_EQ(body.at(2).at("isSubtle"), true);
  const auto& actions = card.at("actions").as_array();
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions.at(0).at("type"), "Action.Execute");
  EXPECT_EQ(actions.at(0).at("verb"), "shipmate.command");
  EXPECT_EQ(actions.at(0).at("data").at("shipmate"), "approve 12");
  EXPECT_EQ(actions.at(0).at("style"), "positive");
  EXPECT_EQ(actions.at(1).at("style"), "destructive");
}

TEST(TeamsCard, SubmitStyleButtonsCarryTheCommandAsData) {
  const json::value card = json::parse(render_card(deploy_status(), ButtonStyle::submit));
  const auto& action = card.at("actions").at(1);
  EXPECT_EQ(action.at("type"), "Action.Submit");
  EXPECT_FALSE(action.as_object().contains("verb"));
  EXPECT_EQ(action.at("data").at("shipmate"), "abort 12");
}

TEST(TeamsCard, ToneColoursTheTitleAndPreformattedTextIsMonospace) {
  commands::Message failed(commands::Tone::error, "Deploy failed");
  json::value card = json::parse(render_card(failed, ButtonStyle::execute));
  EXPECT_EQ(card.at("body").at(0).at("style"), "attention");
  EXPECT_EQ(card.at("body").at(0).at("items").at(0).at("color"), "Attention");
  commands::Message table(commands::Tone::info, "a  b\n1  2");
  table.preformatted = true;
  card = json::parse(render_card(table, ButtonStyle::execute));
  EXPECT_EQ(card.at("body").at(0).at("items").at(0).at("fontType"), "Monospace");
  EXPECT_EQ(card.at("body").at(0).at("items").at(0).at("text"), "a  b\n1  2");
}

TEST(TeamsCard, SecretsAreRedacted) {
  register_secret("hunter2-secret-value");
  commands::Message message(commands::Tone::info, "token hunter2-secret-value leaked");
  message.fields = {{"key", "hunter2-secret-value"}};
  const std::string rendered = render_message_activity(message, ButtonStyle::execute);
  EXPECT_EQ(rendered.find("hunter2-secret-value"), std::string::npos);
  clear_registered_secrets();
}

TEST(TeamsCard, HugeMessagesStayWithinTeamsLimits) {
  commands::Message huge(commands::Tone::info, std::string(200'000, '"'));
  huge.preformatted = true;
  for (int i = 0; i < 50; ++i)
    huge.fields.push_back({"field " + std::to_string(i), std::string(5000, 'x')});
  for (int i = 0; i < 10; ++i)
    huge.buttons.push_back({"b" + std::to_string(i), "status", ""});
  const std::string rendered = render_message_activity(huge, ButtonStyle::execute, "1699");
  EXPECT_LE(rendered.size(), kMaxActivityBytes);
  const json::value activity = json::parse(rendered);
  EXPECT_EQ(activity.at("replyToId"), "1699");
  const auto& card = activity.at("attachments").at(0).at("content");
  EXPECT_EQ(card.at("actions").as_array().size(), kMaxButtons);
  EXPECT_EQ(card.at("body").at(1).at("facts").as_array().size(), kMaxFields);
}

TEST(TeamsCard, CuttingNeverSplitsAUtf8Character) {
  commands::Message message(commands::Tone::info,
                            "x\n" + std::string(kMaxTextChars, 'a') + "\u00e9\u00e9\u00e9");
  const std::string rendered = render_card(message, ButtonStyle::execute);
  EXPECT_NO_THROW(json::parse(rendered));
  EXPECT_NE(rendered.find("\u2026"), std::string::npos);
}

// The card is written as text, not through a JSON library: every character that JSON must escape
// comes back unchanged, and a message with no text, fields or buttons is still a valid card.
TEST(TeamsCard, TextThatJsonMustEscapeRoundTripsAndEmptyPartsStayValid) {
  const std::string tricky = "say \"hi\" \\ back\tslash \x01\x1f end \u00e9";
  commands::Message message(commands::Tone::warning, tricky + "\nsecond \"line\"");
  message.fields = {{tricky, tricky}};
  message.context = tricky;
  message.buttons = {{tricky, "status " + tricky, ""}};
  const json::value activity = json::parse(render_message_activity(message, ButtonStyle::submit));
  EXPECT_EQ(activity.at("type"), "message");
  EXPECT_EQ(std::string(activity.at("summary").as_string()), tricky);
  EXPECT_FALSE(activity.as_object().contains("replyToId"));
  const auto& card = activity.at("attachments").at(0).at("content");
  EXPECT_EQ(std::string(card.at("body").at(0).at("items").at(0).at("text").as_string()), tricky);
  EXPECT_EQ(card.at("body").at(0).at("items").at(1).at("text"), "second \"line\"");
  EXPECT_EQ(std::string(card.at("body").at(1).at("facts").at(0).at("title").as_string()), tricky);
  EXPECT_EQ(std::string(card.at("body").at(1).at("facts").at(0).at("value").as_string()), tricky);
  EXPECT_EQ(std::string(card.at("body").at(2).at("text").as_string()), tricky);
  EXPECT_EQ(std::string(card.at("actions").at(0).at("title").as_string()), tricky);
  EXPECT_EQ(std::string(card.at("actions").at(0).at("data").at("shipmate").as_string()),
            "status " + tricky);

  const json::value empty =
      json::parse(render_card(commands::Message(commands::Tone::info, ""), ButtonStyle::execute));
  EXPECT_TRUE(empty.at("body").at(0).at("items").as_array().empty());
  EXPECT_EQ(empty.at("body").as_array().size(), 1u);
  EXPECT_FALSE(empty.as_object().contains("actions"));
}

TEST(TeamsCard, InvokeResponsesCarryACardOrAMessage) {
  const json::value card = json::parse(render_invoke_card_response(deploy_status()));
  EXPECT_EQ(card.at("statusCode"), 200);
  EXPECT_EQ(card.at("type"), "application/vnd.microsoft.card.adaptive");
  EXPECT_EQ(card.at("value").at("type"), "AdaptiveCard");
  const json::value message = json::parse(render_invoke_message_response(400, "no such command"));
  EXPECT_EQ(message.at("statusCode"), 400);
  EXPECT_EQ(message.at("value"), "no such command");
}

}  // namespace
}  // namespace shipmate::bot::teams

namespace shipmate::bot::teams {
namespace {

TEST(TeamsWebhookAnswer, CollectsUpdatesAndRendersFieldsWithoutButtons) {
  WebhookReplies replies("teams:c:1");
  const auto ref = replies.post(commands::info("Deploying"));
  replies.update(ref, commands::success("Deployed"));
  commands::Message details(commands::Tone::info, "details");
  details.fields = {{"Version", "v2"}};
  details.context = "deploy #12";
  details.buttons = {{"Roll back", "rollback 12", "danger"}};
  replies.thread_reply(ref, details);
  const json::value answer = json::parse(render_webhook_answer(replies.messages(), true));
  EXPECT_EQ(answer.at("type"), "message");
  EXPECT_EQ(answer.at("text"), "Deployed\n\ndetails\n**Version**: v2\n_deploy #12_");
  replies.close();
  replies.post(commands::info("too late"));
  EXPECT_EQ(replies.messages().size(), 2u);
  const json::value unfinished = json::parse(render_webhook_answer({}, false));
  EXPECT_NE(std::string(unfinished.at("text").as_string()).find("Still running"),
            std::string::npos);
}

}  // namespace
}  // namespace shipmate::bot::teams

namespace shipmate::bot::teams {
namespace {

// split_text() row by row: at line breaks, a long line cut at a UTF-8 boundary, nothing lost.
TEST(TeamsLongOutput, SplitTextBreaksAtLinesAndLosesNothing) {
  struct Row {
    std::string text;
    std::size_t max;
    std::vector<std::string> parts;
  };
  const std::string e_acute = "\xC3\xA9";  // two bytes
  const std::vector<Row> rows = {
      {"", 10, {}},
      {"short", 10, {"short"}},
      {"aaaa\nbbbb\ncccc\n", 10, {"aaaa\nbbbb\n", "cccc\n"}},
      {"aaaa\nbbbbbbbbbbbbbb\ncc", 10, {"aaaa\n", "bbbbbbbbbb", "bbbb\ncc"}},
      {"abcdefghi" + e_acute + "xyz", 10, {"abcdefghi", e_acute + "xyz"}},
  };
  for (const auto& row : rows) {
    EXPECT_EQ(split_text(row.text, row.max), row.parts) << row.text;
    std::string joined;
    for (const auto& part : split_text(row.text, row.max)) {
      EXPECT_LE(part.size(), row.max) << row.text;
      joined += part;
    }
    EXPECT_EQ(joined, row.text);
  }
}

TEST(TeamsLongOutput, ALongMessageContinuesInTheThreadEveryActivityUnderTheLimit) {
  commands::Message short_one(commands::Tone::info, "fits");
  EXPECT_EQ(split_long_message(short_one).size(), 1u);

  std::string log = "Deploy log\n";
  for (int i = 0; i < 1000; ++i)
    log += "line " + std::to_string(100000 + i) + ": health check passed on 127.0.0.1\n";
  commands::Message message(commands::Tone::success, log);
  message.buttons.push_back({"Roll back", "rollback hello staging", "danger"});
  message.preformatted = true;
  const auto parts = split_long_message(message);
  ASSERT_GE(parts.size(), 6u);
  EXPECT_EQ(parts[0].buttons.size(), 1u);
  EXPECT_NE(parts[0].context.find("continues in this thread, in " +
                                  std::to_string(parts.size() - 1) + " more messages"),
            std::string::npos)
      << parts[0].context;
  std::string joined;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    joined += parts[i].text;
    if (i > 0) {
      EXPECT_TRUE(parts[i].buttons.empty());
      EXPECT_TRUE(parts[i].preformatted);
      EXPECT_EQ(parts[i].context,
                "Part " + std::to_string(i + 1) + " of " + std::to_string(parts.size()));
    }
    const std::string activity = render_message_activity(parts[i], ButtonStyle::execute, "1");
    EXPECT_LE(activity.size(), kMaxActivityBytes);
    EXPECT_EQ(activity.find("\u2026"), std::string::npos) << "part " << i << " was cut";
  }
  EXPECT_EQ(joined, log);
}

TEST(TeamsLongOutput, AnEnormousOutputStopsAfterTheLastPartAndSaysHowMuchIsLeftOut) {
  std::string text;
  while (text.size() < (kMaxParts + 3) * kPartBytes)
    text += "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n";
  const auto parts = split_long_message(commands::Message(commands::Tone::info, text));
  ASSERT_EQ(parts.size(), kMaxParts);
  EXPECT_NE(parts.back().context.find("characters are not shown"), std::string::npos)
      << parts.back().context;
}

// A secret that a split would cut in two is redacted first.
TEST(TeamsLongOutput, SecretsAreRedactedBeforeTheSplit) {
  const std::string secret = "split-secret-value-0123456789";
  register_secret(secret);
  std::string text(kPartBytes - 10, 'x');
  text += secret;
  text += std::string(kMaxTextChars, 'y');
  for (const auto& part : split_long_message(commands::Message(commands::Tone::info, text))) {
    EXPECT_EQ(part.text.find("split-secret"), std::string::npos);
    EXPECT_EQ(part.text.find("0123456789"), std::string::npos);
  }
  clear_registered_secrets();
}

}  // namespace
}  // namespace shipmate::bot::teams
