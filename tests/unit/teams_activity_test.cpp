// Teams activities decoded and classified without I/O: commands from personal chats, group chats
// and channels, mention markup, card buttons in both action styles, what is ignored, and
// malformed bodies.
#include "bot/teams/activity.h"

#include <gtest/gtest.h>

namespace shipmate::bot::teams {
namespace {

std::string message_json(const std::string& text, const std::string& conversation_type = "personal",
                         const std::string& extra = "") {
  return R"({"type":"message","id":"1700000000001","channelId":"msteams",)"
         R"("serviceUrl":"https://smba.trafficmanager.net/emea/",)"
         R"("from":{"id":"29:1abc","aadObjectId":"00000000-0000-0000-0000-0000000000a1","name":"Alice"},)"
         R"("recipient":{"id":"28:app-id","name":"Shipmate"},)"
         R"("conversation":{"id":"a:1conv","conversationType":")" +
         conversation_type + R"(","tenantId":"tenant-1"},"text":")" + text + "\"" + extra + "}";
}

TEST(TeamsActivity, APersonalMessageIsACommandKeyedByConversationAndId) {
  auto activity = decode_activity(message_json("deploy hello to staging"));
  ASSERT_TRUE(activity.ok()) << activity.error().message;
  EXPECT_EQ(activity->type, "message");
  EXPECT_EQ(activity->from_aad_id, "00000000-0000-0000-0000-0000000000a1");
  EXPECT_EQ(activity->service_url, "https://smba.trafficmanager.net/emea/");
  EXPECT_EQ(activity->tenant_id, "tenant-1");
  EXPECT_EQ(activity->recipient_id, "28:app-id");
  const Classified what = classify(*activity);
  EXPECT_EQ(what.kind, Classified::Kind::command);
  EXPECT_EQ(what.text, "deploy hello to staging");
  EXPECT_EQ(what.dedupe_key, "message:a:1conv:1700000000001");
}

TEST(TeamsActivity, ChannelAndGroupChatMentionsAreStripped) {
  for (const char* type : {"channel", "groupChat"}) {
    auto activity = decode_activity(message_json("<at>Shipmate</at> status", type));
    ASSERT_TRUE(activity.ok());
    EXPECT_EQ(activity->conversation_type, type);
    EXPECT_EQ(classify(*activity).text, "status");
  }
}

TEST(TeamsActivity, MarkupIsUnwrappedAndEntitiesDecoded) {
  EXPECT_EQ(strip_teams_markup("<at>Shipmate</at> lock staging &quot;db move&quot;"),
            "lock staging \"db move\"");
  EXPECT_EQ(strip_teams_markup("<p><at>Ship mate</at>&nbsp;deploy hello</p>"), "deploy hello");
  EXPECT_EQ(strip_teams_markup("<at>Shipmate</at> ping <at>Bob</at>"), "ping Bob");
  EXPECT_EQ(strip_teams_markup("a &amp; b &lt;c&gt; &#39;d&#39; &#x41;"), "a & b <c> 'd' A");
  EXPECT_EQ(strip_teams_markup("deploy<br>hello"), "deploy hello");
  EXPECT_EQ(strip_teams_markup("&bogus; &#xZZ; 5 < 6"), "&bogus; &#xZZ; 5 < 6");
  EXPECT_EQ(strip_teams_markup("<at>Shipmate"), "");
  EXPECT_EQ(strip_teams_markup("&#0; &#55296;"), "&#0; &#55296;");
}

TEST(TeamsActivity, AnActionSubmitRunsTheButtonsCommand) {
  auto activity = decode_activity(
      message_json("", "channel", R"(,"replyToId":"1699","value":{"shipmate":"approve 12"})"));
  ASSERT_TRUE(activity.ok());
  const Classified what = classify(*activity);
  EXPECT_EQ(what.kind, Classified::Kind::command);
  EXPECT_EQ(what.text, "approve 12");
  EXPECT_EQ(what.dedupe_key, "submit:a:1conv:1700000000001");
  EXPECT_EQ(activity->reply_to_id, "1699");
}

TEST(TeamsActivity, AnActionExecuteInvokeIsACardAction) {
  const std::string body =
      R"({"type":"invoke","name":"adaptiveCard/action","id":"f:123","channelId":"msteams",)"
      R"("serviceUrl":"https://smba.trafficmanager.net/emea/","replyToId":"1699",)"
      R"("from":{"id":"29:1bob","aadObjectId":"00000000-0000-0000-0000-0000000000b2"},)"
      R"("conversation":{"id":"19:abc@thread.tacv2;messageid=1699","conversationType":"channel"},)"
      R"("value":{"action":{"type":"Action.Execute","verb":"shipmate.command",)"
      R"("data":{"shipmate":"approve 12"}}}})";
  auto activity = decode_activity(body);
  ASSERT_TRUE(activity.ok()) << activity.error().message;
  const Classified what = classify(*activity);
  EXPECT_EQ(what.kind, Classified::Kind::card_action);
  EXPECT_EQ(what.text, "approve 12");
  EXPECT_EQ(what.dedupe_key, "invoke:19:abc@thread.tacv2;messageid=1699:f:123");
}

TEST(TeamsActivity, OtherActivitiesAreIgnoredWithAReason) {
  auto update = decode_activity(
      R"({"type":"conversationUpdate","membersAdded":[{"id":"28:app"}],"conversation":{"id":"x"}})");
  ASSERT_TRUE(update.ok());
  EXPECT_EQ(classify(*update).kind, Classified::Kind::ignore);
  EXPECT_EQ(classify(*update).why, "conversationUpdate");

  auto empty = decode_activity(message_json("<at>Shipmate</at>"));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(classify(*empty).kind, Classified::Kind::ignore);

  auto other_invoke = decode_activity(
      R"({"type":"invoke","name":"composeExtension/query","id":"1","channelId":"msteams",)"
      R"("serviceUrl":"https://s/","from":{"id":"29:x"},"conversation":{"id":"c"}})");
  ASSERT_TRUE(other_invoke.ok());
  EXPECT_EQ(classify(*other_invoke).kind, Classified::Kind::ignore);

  auto foreign_verb = decode_activity(
      R"({"type":"invoke","name":"adaptiveCard/action","id":"1","channelId":"msteams",)"
      R"("serviceUrl":"https://s/","from":{"id":"29:x"},"conversation":{"id":"c"},)"
      R"("value":{"action":{"type":"Action.Execute","verb":"other","data":{"shipmate":"x"}}}})");
  ASSERT_TRUE(foreign_verb.ok());
  EXPECT_EQ(classify(*foreign_verb).kind, Classified::Kind::ignore);
}

TEST(TeamsActivity, MalformedBodiesAreInvalidAndSayWhatIsMissing) {
  for (const char* body :
       {"", "not json", "[]", "{}", "{\"type\":5}", "{\"type\":\"message\"", "\xff\xfe"}) {
    auto activity = decode_activity(body);
    EXPECT_FALSE(activity.ok()) << body;
    if (!activity.ok()) {
      EXPECT_EQ(activity.error().kind, ErrorKind::invalid);
    }
  }
  auto no_service = decode_activity(
      R"({"type":"message","id":"1","channelId":"msteams","from":{"id":"29:x"},"conversation":{"id":"c"}})");
  ASSERT_FALSE(no_service.ok());
  EXPECT_EQ(no_service.error().message, "the message activity has no serviceUrl");
  auto no_from = decode_activity(
      R"({"type":"message","id":"1","channelId":"msteams","serviceUrl":"https://s/","conversation":{"id":"c"}})");
  ASSERT_FALSE(no_from.ok());
  EXPECT_EQ(no_from.error().message, "the message activity has no from.id");
}

TEST(TeamsActivity, EachFieldIsReadFromItsFirstOccurrenceAndOnlyWhenItIsAString) {
  // A repeated name counts once, at its first occurrence; a value of another type reads as
  // absent; nested objects likewise; the tenant falls back to channelData's.
  auto activity = decode_activity(
      R"({"type":"message","type":"invoke","id":7,"id":"late","channelId":"msteams",)"
      R"("serviceUrl":"https://s/","conversation":{"id":"c1","id":"c2","conversationType":1},)"
      R"("conversation":{"id":"other"},"from":"29:not-an-object","from":{"id":"29:later"},)"
      R"("recipient":{"name":"Shipmate","id":"28:bot"},"channelData":{"tenant":{"id":"t-9"}},)"
      R"("value":{"shipmate":"status"},"text":"hi"})");
  ASSERT_FALSE(activity.ok());  // no id (a number) and no from (not an object)
  EXPECT_EQ(activity.error().message, "the message activity has no id");

  auto good = decode_activity(
      R"({"type":"message","id":"1","channelId":"msteams","serviceUrl":"https://s/",)"
      R"("conversation":{"id":"c1","id":"c2","conversationType":1},"conversation":{"id":"x"},)"
      R"("from":{"id":"29:a","id":"29:b","aadObjectId":"aad"},)"
      R"("recipient":{"name":"Shipmate","id":"28:bot"},"channelData":{"tenant":{"id":"t-9"}},)"
      R"("value":{"shipmate":" status "},"text":"ignored"})");
  ASSERT_TRUE(good.ok()) << good.error().message;
  EXPECT_EQ(good->conversation_id, "c1");
  EXPECT_EQ(good->conversation_type, "");
  EXPECT_EQ(good->tenant_id, "t-9");
  EXPECT_EQ(good->from_id, "29:a");
  EXPECT_EQ(good->from_aad_id, "aad");
  EXPECT_EQ(good->recipient_id, "28:bot");
  EXPECT_EQ(good->recipient_name, "Shipmate");
  EXPECT_EQ(good->value_command, " status ");
  EXPECT_EQ(classify(*good).text, "status");
}

}  // namespace
}  // namespace shipmate::bot::teams
