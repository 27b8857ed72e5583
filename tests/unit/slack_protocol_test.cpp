#include "bot/slack/slack_protocol.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

namespace shipmate::bot::slack {
namespace {

constexpr std::string_view kBot = "UBOT1";

// An events_api envelope around an event_callback, shaped as Socket Mode delivers it.
std::string events_frame(const std::string& event_json, const std::string& event_id = "Ev01",
                         const std::string& envelope_id = "dbdd0ef3-1543-4f94-bfb4-133d0e6c1545",
                         int retry_attempt = 0, const std::string& retry_reason = "") {
  return R"({"envelope_id":")" + envelope_id +
         R"(","type":"events_api","accepts_response_payload":false,"retry_attempt":)" +
         std::to_string(retry_attempt) + R"(,"retry_reason":")" + retry_reason +
         R"(","payload":{"token":"XXYYZZ","team_id":"T1","api_app_id":"A1","event":)" + event_json +
         R"(,"type":"event_callback","event_id":")" + event_id +
         R"(","event_time":1700000000,"authorizations":[{"enterprise_id":null,"team_id":"T1",)"
         R"("user_id":"UBOT1","is_bot":true,"is_enterprise_install":false}],)"
         R"("is_ext_shared_channel":false,"event_context":"4-abc"}})";
}

const std::string kMention =
    R"({"type":"app_mention","user":"U1","text":"<@UBOT1> deploy api 1.2.3 to staging",)"
    R"("ts":"1700000000.000100","channel":"C1","event_ts":"1700000000.000100"})";

TEST(SocketFrame, HelloCarriesConnectionCount) {
  const auto decoded = decode_socket_frame(
      R"({"type":"hello","num_connections":2,"connection_info":{"app_id":"A1"},)"
      R"("debug_info":{"host":"applink-1","started":"2020-10-11 12:12:12.120",)"
      R"("build_number":54,"approximate_connection_time":3600}})",
      kBot);
  EXPECT_EQ(decoded.envelope.kind, Envelope::Kind::hello);
  EXPECT_EQ(decoded.envelope.num_connections, 2);
  EXPECT_TRUE(decoded.envelope.envelope_id.empty());
  EXPECT_FALSE(decoded.command);
}

TEST(SocketFrame, DisconnectCarriesReason) {
  for (const std::string reason :
       {"refresh_requested", "warning", "link_disabled", "too_many_websockets"}) {
    const auto decoded = decode_socket_frame(
        R"({"type":"disconnect","reason":")" + reason + R"(","debug_info":{"host":"applink-1"}})",
        kBot);
    EXPECT_EQ(decoded.envelope.kind, Envelope::Kind::disconnect);
    EXPECT_EQ(decoded.envelope.disconnect_reason, reason);
  }
}

TEST(SocketFrame, AppMentionBecomesCommand) {
  const auto decoded = decode_socket_frame(events_frame(kMention), kBot);
  ASSERT_EQ(decoded.envelope.kind, Envelope::Kind::events_api);
  EXPECT_EQ(decoded.envelope.envelope_id, "dbdd0ef3-1543-4f94-bfb4-133d0e6c1545");
  EXPECT_FALSE(decoded.envelope.accepts_response_payload);
  ASSERT_TRUE(decoded.command);
  const auto& command = *decoded.command;
  EXPECT_EQ(command.dedupe_key, "event:Ev01");
  EXPECT_EQ(command.user_id, "U1");
  EXPECT_EQ(command.channel, "C1");
  EXPECT_EQ(command.text, "<@UBOT1> deploy api 1.2.3 to staging");
  EXPECT_EQ(command.source, "app_mention");
  // A top-level command threads its replies under itself.
  EXPECT_EQ(command.thread_ts, "1700000000.000100");
  EXPECT_TRUE(command.message_ts.empty());
  EXPECT_TRUE(decoded.ignored_because.empty());
}

TEST(SocketFrame, CommandInsideThreadRepliesToParent) {
  const auto decoded = decode_socket_frame(
      events_frame(R"({"type":"app_mention","user":"U1","text":"<@UBOT1> status",)"
                   R"("ts":"1700000050.000200","thread_ts":"1700000000.000100","channel":"C1",)"
                   R"("event_ts":"1700000050.000200"})"),
      kBot);
  ASSERT_TRUE(decoded.command);
  EXPECT_EQ(decoded.command->thread_ts, "1700000000.000100");
}

TEST(SocketFrame, RedeliveryKeepsDedupeKey) {
  const auto first = decode_socket_frame(events_frame(kMention, "Ev9", "env-1"), kBot);
  const auto again =
      decode_socket_frame(events_frame(kMention, "Ev9", "env-2", 1, "timeout"), kBot);
  ASSERT_TRUE(first.command);
  ASSERT_TRUE(again.command);
  EXPECT_EQ(first.command->dedupe_key, again.command->dedupe_key);
  EXPECT_NE(first.envelope.envelope_id, again.envelope.envelope_id);
  EXPECT_EQ(again.envelope.retry_attempt, 1);
  EXPECT_EQ(again.envelope.retry_reason, "timeout");
  EXPECT_EQ(first.envelope.retry_attempt, 0);
}

TEST(SocketFrame, DirectMessageBecomesCommand) {
  const auto decoded = decode_socket_frame(
      events_frame(R"({"type":"message","channel":"D1","user":"U2","text":"status api",)"
                   R"("ts":"1700000001.000300","event_ts":"1700000001.000300",)"
                   R"("channel_type":"im"})"),
      kBot);
  ASSERT_TRUE(decoded.command) << decoded.ignored_because;
  EXPECT_EQ(decoded.command->source, "message");
  EXPECT_EQ(decoded.command->channel, "D1");
  EXPECT_EQ(decoded.command->text, "status api");
  EXPECT_EQ(decoded.command->thread_ts, "1700000001.000300");
}

TEST(SocketFrame, ChannelMessageNeedsMentionAtStart) {
  auto message = [](const std::string& text) {
    return events_frame(R"({"type":"message","channel":"C1","user":"U2","text":")" + text +
                        R"(","ts":"1700000001.000300","channel_type":"channel"})");
  };
  const auto addressed = decode_socket_frame(message("<@UBOT1> help"), kBot);
  ASSERT_TRUE(addressed.command);
  EXPECT_EQ(addressed.command->text, "<@UBOT1> help");

  const auto chatter = decode_socket_frame(message("lunch anyone?"), kBot);
  EXPECT_FALSE(chatter.command);
  EXPECT_FALSE(chatter.ignored_because.empty());
  EXPECT_EQ(chatter.envelope.kind, Envelope::Kind::events_api);

  EXPECT_FALSE(decode_socket_frame(message("ask <@UBOT1> later"), kBot).command);
  EXPECT_FALSE(decode_socket_frame(message("<@UBOT10> help"), kBot).command);
  EXPECT_FALSE(decode_socket_frame(message("<@U2> help"), kBot).command);
}

struct IgnoreCase {
  const char* name;
  std::string event;
};

TEST(SocketFrame, IgnoresBotsEditsDeletesNoticesAndSelf) {
  const std::vector<IgnoreCase> cases = {
      {"bot_id", R"({"type":"message","channel":"D1","user":"U2","text":"hi","ts":"1.1",)"
                 R"("channel_type":"im","bot_id":"B1"})"},
      {"bot_profile", R"({"type":"app_mention","channel":"C1","user":"U2","text":"<@UBOT1> hi",)"
                      R"("ts":"1.1","bot_profile":{"id":"B1","name":"other"}})"},
      {"bot_message", R"({"type":"message","subtype":"bot_message","channel":"D1",)"
                      R"("text":"hi","ts":"1.1","channel_type":"im"})"},
      {"message_changed",
       R"({"type":"message","subtype":"message_changed","channel":"D1","hidden":true,)"
       R"("channel_type":"im","ts":"1.2","message":{"type":"message","user":"U2",)"
       R"("text":"deploy","ts":"1.1","edited":{"user":"U2","ts":"1.2"}}})"},
      {"message_deleted", R"({"type":"message","subtype":"message_deleted","channel":"D1",)"
                          R"("hidden":true,"deleted_ts":"1.1","ts":"1.3","channel_type":"im"})"},
      {"message_replied", R"({"type":"message","subtype":"message_replied","channel":"D1",)"
                          R"("hidden":true,"ts":"1.4","channel_type":"im"})"},
      {"channel_join", R"({"type":"message","subtype":"channel_join","channel":"C1",)"
                       R"("user":"U2","text":"<@U2> has joined the channel","ts":"1.5"})"},
      {"file_share", R"({"type":"message","subtype":"file_share","channel":"D1","user":"U2",)"
                     R"("text":"deploy","ts":"1.6","channel_type":"im"})"},
      {"hidden", R"({"type":"message","channel":"D1","user":"U2","text":"deploy",)"
                 R"("ts":"1.7","hidden":true,"channel_type":"im"})"},
      {"own message", R"({"type":"message","channel":"D1","user":"UBOT1","text":"deploy",)"
                      R"("ts":"1.8","channel_type":"im"})"},
      {"own mention", R"({"type":"app_mention","channel":"C1","user":"UBOT1",)"
                      R"("text":"<@UBOT1> deploy","ts":"1.9"})"},
      {"reaction on a file", R"({"type":"reaction_added","user":"U2","reaction":"thumbsup",)"
                             R"("item":{"type":"file","file":"F1"},"event_ts":"1.2"})"},
      {"own reaction", R"({"type":"reaction_added","user":"UBOT1","reaction":"pushpin",)"
                       R"("item":{"type":"message","channel":"C1","ts":"1.1"},"event_ts":"1.2"})"},
      {"no user", R"({"type":"message","channel":"D1","text":"deploy","ts":"2.0",)"
                  R"("channel_type":"im"})"},
  };
  for (const auto& c : cases) {
    const auto decoded = decode_socket_frame(events_frame(c.event), kBot);
    EXPECT_EQ(decoded.envelope.kind, Envelope::Kind::events_api)
        << c.name << decoded.envelope.error;
    EXPECT_FALSE(decoded.command) << c.name;
    EXPECT_FALSE(decoded.ignored_because.empty()) << c.name;
    EXPECT_FALSE(decoded.envelope.envelope_id.empty()) << c.name;
  }
}

// A reaction on a message is not a command but a reaction (an incident room's :pushpin:), keyed
// by its event id like a command so a redelivery is recognisable.
TEST(SocketFrame, ReactionAddedOnAMessageIsAReactionNotACommand) {
  const auto decoded = decode_socket_frame(
      events_frame(R"({"type":"reaction_added","user":"U2","reaction":"pushpin",)"
                   R"("item_user":"U3","item":{"type":"message","channel":"C9",)"
                   R"("ts":"1700000000.000100"},"event_ts":"1700000001.000200"})",
                   "EvPin", "env-pin"),
      kBot);
  EXPECT_EQ(decoded.envelope.kind, Envelope::Kind::events_api);
  EXPECT_EQ(decoded.envelope.envelope_id, "env-pin");
  EXPECT_FALSE(decoded.command);
  ASSERT_TRUE(decoded.reaction);
  EXPECT_EQ(decoded.reaction->dedupe_key, "event:EvPin");
  EXPECT_EQ(decoded.reaction->user_id, "U2");
  EXPECT_EQ(decoded.reaction->reaction, "pushpin");
  EXPECT_EQ(decoded.reaction->channel, "C9");
  EXPECT_EQ(decoded.reaction->message_ts, "1700000000.000100");
  EXPECT_EQ(decoded.reaction->item_user, "U3");
  // Without the item's channel or ts it is malformed (and still acked).
  const auto broken = decode_socket_frame(
      events_frame(R"({"type":"reaction_added","user":"U2","reaction":"pushpin",)"
                   R"("item":{"type":"message"}})"),
      kBot);
  EXPECT_EQ(broken.envelope.kind, Envelope::Kind::malformed);
  EXPECT_FALSE(broken.envelope.envelope_id.empty());
  // HTTP mode decodes the same.
  auto callback = decode_event_callback(
      R"({"type":"event_callback","event_id":"EvPin2","event":{"type":"reaction_added",)"
      R"("user":"U2","reaction":"pushpin","item":{"type":"message","channel":"C9","ts":"1.5"}}})",
      kBot);
  ASSERT_TRUE(callback.ok());
  ASSERT_TRUE(callback->reaction);
  EXPECT_EQ(callback->reaction->dedupe_key, "event:EvPin2");
}

TEST(SocketFrame, IgnoreReasonsNameTheRule) {
  const auto edited = decode_socket_frame(
      events_frame(R"({"type":"message","subtype":"message_changed","channel":"D1",)"
                   R"("hidden":true,"ts":"1.2","channel_type":"im"})"),
      kBot);
  EXPECT_NE(edited.ignored_because.find("message_changed"), std::string::npos);
  const auto bot = decode_socket_frame(
      events_frame(R"({"type":"message","channel":"D1","user":"U2","text":"hi","ts":"1.1",)"
                   R"("channel_type":"im","bot_id":"B1"})"),
      kBot);
  EXPECT_NE(bot.ignored_because.find("bot"), std::string::npos);
}

TEST(SocketFrame, NullBotIdIsNotABot) {
  const auto decoded = decode_socket_frame(
      events_frame(R"({"type":"message","channel":"D1","user":"U2","text":"help","ts":"1.1",)"
                   R"("channel_type":"im","bot_id":null})"),
      kBot);
  EXPECT_TRUE(decoded.command);
}

TEST(SocketFrame, SlashCommand) {
  const auto decoded = decode_socket_frame(
      R"({"envelope_id":"env-slash","type":"slash_commands","accepts_response_payload":true,)"
      R"("payload":{"token":"t","team_id":"T1","team_domain":"acme","channel_id":"C1",)"
      R"("channel_name":"deploys","user_id":"U1","user_name":"ada","command":"/shipmate",)"
      R"("text":"deploy api 1.2.3 to prod","api_app_id":"A1","is_enterprise_install":"false",)"
      R"("response_url":"https://hooks.slack.com/commands/T1/1/abc","trigger_id":"13345.1.2"}})",
      kBot);
  ASSERT_EQ(decoded.envelope.kind, Envelope::Kind::slash_commands);
  EXPECT_TRUE(decoded.envelope.accepts_response_payload);
  ASSERT_TRUE(decoded.command);
  EXPECT_EQ(decoded.command->dedupe_key, "slash:13345.1.2");
  EXPECT_EQ(decoded.command->user_id, "U1");
  EXPECT_EQ(decoded.command->channel, "C1");
  EXPECT_EQ(decoded.command->text, "deploy api 1.2.3 to prod");
  EXPECT_EQ(decoded.command->source, "slash_command");
  EXPECT_EQ(decoded.command->response_url, "https://hooks.slack.com/commands/T1/1/abc");
  EXPECT_TRUE(decoded.command->thread_ts.empty());
}

const std::string kBlockActions =
    R"({"type":"block_actions","team":{"id":"T1","domain":"acme"},)"
    R"("user":{"id":"U3","username":"grace","name":"grace","team_id":"T1"},)"
    R"("api_app_id":"A1","token":"t","trigger_id":"9999.1.3",)"
    R"("container":{"type":"message","message_ts":"1700000100.000400","channel_id":"C2",)"
    R"("is_ephemeral":false,"thread_ts":"1700000000.000100"},)"
    R"("channel":{"id":"C2","name":"deploys"},)"
    R"("message":{"type":"message","ts":"1700000100.000400","text":"Deploy?","bot_id":"B1",)"
    R"("thread_ts":"1700000000.000100","blocks":[]},)"
    R"("state":{"values":{}},"response_url":"https://hooks.slack.com/actions/T1/2/xyz",)"
    R"("actions":[{"type":"button","block_id":"b1","action_id":"shipmate_cmd_0",)"
    R"("action_ts":"1700000101.000500","value":"approve deploy 42",)"
    R"("text":{"type":"plain_text","text":"Approve","emoji":true},"style":"primary"}],)"
    R"("is_enterprise_install":false})";

std::string interactive_frame(const std::string& payload) {
  return R"({"envelope_id":"env-int","type":"interactive","accepts_response_payload":true,)"
         R"("payload":)" +
         payload + "}";
}

TEST(SocketFrame, ButtonClickBecomesCommand) {
  const auto decoded = decode_socket_frame(interactive_frame(kBlockActions), kBot);
  ASSERT_EQ(decoded.envelope.kind, Envelope::Kind::interactive);
  ASSERT_TRUE(decoded.command) << decoded.envelope.error << decoded.ignored_because;
  const auto& command = *decoded.command;
  EXPECT_EQ(command.dedupe_key, "action:9999.1.3");
  EXPECT_EQ(command.user_id, "U3");
  EXPECT_EQ(command.channel, "C2");
  EXPECT_EQ(command.message_ts, "1700000100.000400");
  EXPECT_EQ(command.thread_ts, "1700000000.000100");
  EXPECT_EQ(command.text, "approve deploy 42");
  EXPECT_EQ(command.source, "block_actions");
  EXPECT_EQ(command.response_url, "https://hooks.slack.com/actions/T1/2/xyz");
}

TEST(SocketFrame, ButtonClickFallsBackToContainerAndMessage) {
  // No channel object, team null, no trigger id, thread only on the message.
  const std::string payload =
      R"({"type":"block_actions","team":null,"user":{"id":"U3","team_id":"T1"},)"
      R"("container":{"type":"message","channel_id":"C7","is_ephemeral":false},)"
      R"("message":{"type":"message","ts":"5.5","thread_ts":"4.4","text":"x"},)"
      R"("actions":[{"type":"button","block_id":"b","action_id":"shipmate_cmd_1",)"
      R"("action_ts":"6.6","value":"status"}]})";
  const auto decoded = decode_socket_frame(interactive_frame(payload), kBot);
  ASSERT_TRUE(decoded.command) << decoded.envelope.error;
  EXPECT_EQ(decoded.command->channel, "C7");
  EXPECT_EQ(decoded.command->message_ts, "5.5");
  EXPECT_EQ(decoded.command->thread_ts, "4.4");
  EXPECT_EQ(decoded.command->dedupe_key, "action:6.6:U3");
}

TEST(SocketFrame, OtherInteractionsAreIgnored) {
  for (const std::string type : {"view_submission", "block_suggestion", "shortcut"}) {
    const auto decoded = decode_socket_frame(
        interactive_frame(R"({"type":")" + type + R"(","user":{"id":"U3"},"view":{}})"), kBot);
    EXPECT_EQ(decoded.envelope.kind, Envelope::Kind::interactive) << type;
    EXPECT_FALSE(decoded.command) << type;
    EXPECT_NE(decoded.ignored_because.find(type), std::string::npos);
  }
  // A select menu in a block_actions payload carries no command.
  const auto select = decode_socket_frame(
      interactive_frame(R"({"type":"block_actions","user":{"id":"U3"},"channel":{"id":"C1"},)"
                        R"("actions":[{"type":"static_select","action_id":"a",)"
                        R"("action_ts":"1.1"}]})"),
      kBot);
  EXPECT_FALSE(select.command);
  EXPECT_FALSE(select.ignored_because.empty());
}

TEST(SocketFrame, UnknownTypeStillYieldsEnvelopeId) {
  const auto decoded =
      decode_socket_frame(R"({"envelope_id":"env-x","type":"brand_new_thing","payload":{}})", kBot);
  EXPECT_EQ(decoded.envelope.kind, Envelope::Kind::unknown);
  EXPECT_EQ(decoded.envelope.envelope_id, "env-x");
  EXPECT_FALSE(decoded.command);
}

TEST(SocketFrame, MalformedFrames) {
  struct Case {
    const char* name;
    std::string frame;
    std::string envelope_id;  // still recovered
  };
  std::string garbage(1 << 20, '\0');
  for (std::size_t i = 0; i < garbage.size(); ++i) {
    garbage[i] = static_cast<char>((i * 7919 + 13) % 251);
  }
  const std::vector<Case> cases = {
      {"empty", "", ""},
      {"truncated", events_frame(kMention).substr(0, 80), ""},
      {"array", R"([{"envelope_id":"e1","type":"events_api"}])", ""},
      {"string", R"("hello")", ""},
      {"no type", R"({"envelope_id":"e2","payload":{}})", "e2"},
      {"missing envelope_id", R"({"type":"events_api","payload":{}})", ""},
      {"envelope_id number", R"({"envelope_id":42,"type":"slash_commands","payload":{}})", ""},
      {"envelope_id empty", R"({"envelope_id":"","type":"interactive","payload":{}})", ""},
      {"no payload", R"({"envelope_id":"e3","type":"events_api"})", "e3"},
      {"payload not object", R"({"envelope_id":"e4","type":"interactive","payload":"x"})", "e4"},
      {"event_callback without event_id",
       R"({"envelope_id":"e5","type":"events_api","payload":{"type":"event_callback",)"
       R"("event":{"type":"app_mention"}}})",
       "e5"},
      {"slash without trigger",
       R"({"envelope_id":"e6","type":"slash_commands","payload":{"user_id":"U1",)"
       R"("channel_id":"C1","text":"x"}})",
       "e6"},
      {"garbage", garbage, ""},
      {"garbage after JSON", R"({"type":"hello"} trailing)", ""},
  };
  for (const auto& c : cases) {
    const auto decoded = decode_socket_frame(c.frame, kBot);
    EXPECT_EQ(decoded.envelope.kind, Envelope::Kind::malformed) << c.name;
    EXPECT_FALSE(decoded.envelope.error.empty()) << c.name;
    EXPECT_EQ(decoded.envelope.error.find('\n'), std::string::npos) << c.name;
    EXPECT_EQ(decoded.envelope.envelope_id, c.envelope_id) << c.name;
    EXPECT_FALSE(decoded.command) << c.name;
  }
}

TEST(SocketFrame, WrongTypesInPayloadDoNotThrow) {
  const auto decoded = decode_socket_frame(
      events_frame(R"({"type":"app_mention","user":7,"text":["x"],"ts":1,"channel":"C1"})"), kBot);
  EXPECT_FALSE(decoded.command);
  const auto odd = decode_socket_frame(
      interactive_frame(R"({"type":"block_actions","user":"U3","channel":5,"actions":{}})"), kBot);
  EXPECT_FALSE(odd.command);
  EXPECT_EQ(odd.envelope.envelope_id, "env-int");
}

TEST(Ack, EchoesEnvelopeIdWithPayload) {
  EXPECT_EQ(make_ack("dbdd0ef3-1543"), R"({"envelope_id":"dbdd0ef3-1543","payload":{}})");
  EXPECT_EQ(make_ack("e1", R"({"text":"ok","response_type":"in_channel"})"),
            R"({"envelope_id":"e1","payload":{"text":"ok","response_type":"in_channel"}})");
  EXPECT_EQ(make_ack("a\"b\\c\n\x01"), R"({"envelope_id":"a\"b\\c\n\u0001","payload":{}})");
}

TEST(HttpMode, UrlVerificationEchoesChallenge) {
  const auto result = decode_event_callback(
      R"({"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",)"
      R"("type":"url_verification"})",
      kBot);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->challenge, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
  EXPECT_FALSE(result->command);
}

TEST(HttpMode, EventCallbackBody) {
  const std::string frame = events_frame(kMention, "Ev77");
  // The HTTP body is exactly the envelope's payload.
  const auto start = frame.find(R"("payload":)") + 10;
  const std::string body = frame.substr(start, frame.size() - start - 1);
  const auto result = decode_event_callback(body, kBot);
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_TRUE(result->command);
  EXPECT_EQ(result->command->dedupe_key, "event:Ev77");
  EXPECT_TRUE(result->challenge.empty());

  const auto ignored = decode_event_callback(
      R"({"type":"event_callback","event_id":"Ev78","event":{"type":"message",)"
      R"("subtype":"bot_message","channel":"C1","text":"x","ts":"1.1"}})",
      kBot);
  ASSERT_TRUE(ignored);
  EXPECT_FALSE(ignored->command);
  EXPECT_FALSE(ignored->ignored_because.empty());

  EXPECT_FALSE(decode_event_callback("not json", kBot));
  EXPECT_FALSE(decode_event_callback("[]", kBot));
  EXPECT_FALSE(decode_event_callback(R"({"type":"url_verification"})", kBot));
}

TEST(HttpMode, SlashCommandForm) {
  const auto result = decode_slash_command_form(
      "token=gIkuvaNzQIHg97ATvDxqgjtO&team_id=T0001&team_domain=example&enterprise_id=E0001"
      "&channel_id=C2147483705&channel_name=test&user_id=U2147483697&user_name=Steve"
      "&command=%2Fshipmate&text=deploy+api+1.2.3+to+prod+--reason+%22hot+fix%22"
      "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1234%2F5678"
      "&trigger_id=13345224609.738474920.8088930838d88f008e0&api_app_id=A123456");
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->user_id, "U2147483697");
  EXPECT_EQ(result->channel, "C2147483705");
  EXPECT_EQ(result->text, "deploy api 1.2.3 to prod --reason \"hot fix\"");
  EXPECT_EQ(result->response_url, "https://hooks.slack.com/commands/1234/5678");
  EXPECT_EQ(result->dedupe_key, "slash:13345224609.738474920.8088930838d88f008e0");
  EXPECT_EQ(result->source, "slash_command");

  const auto missing = decode_slash_command_form("ssl_check=1&token=x");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("user_id"), std::string::npos);
}

std::string form_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

TEST(HttpMode, InteractionForm) {
  const auto clicked = decode_interaction_form("payload=" + form_encode(kBlockActions));
  ASSERT_TRUE(clicked) << clicked.error().message;
  ASSERT_TRUE(clicked.value());
  EXPECT_EQ(clicked.value()->text, "approve deploy 42");
  EXPECT_EQ(clicked.value()->dedupe_key, "action:9999.1.3");

  const auto view = decode_interaction_form(
      "payload=" + form_encode(R"({"type":"view_submission","user":{"id":"U1"},"view":{}})"));
  ASSERT_TRUE(view);
  EXPECT_FALSE(view.value());

  EXPECT_FALSE(decode_interaction_form("token=x"));
  EXPECT_FALSE(decode_interaction_form("payload=%7Bnot+json"));
  EXPECT_FALSE(decode_interaction_form("payload=" + form_encode(R"({"type":"block_actions"})")));
}

TEST(FormField, DecodesAndFindsFields) {
  const std::string body = "a=1&b=x+y&c=%41%62%2b%26&d=&e&caf%C3%A9=%E2%9C%93&a=2";
  EXPECT_EQ(form_field(body, "a"), "1");  // first occurrence wins
  EXPECT_EQ(form_field(body, "b"), "x y");
  EXPECT_EQ(form_field(body, "c"), "Ab+&");
  EXPECT_EQ(form_field(body, "d"), "");
  EXPECT_EQ(form_field(body, "e"), "");
  EXPECT_EQ(form_field(body, "caf\xC3\xA9"), "\xE2\x9C\x93");
  EXPECT_EQ(form_field(body, "z"), std::nullopt);
  EXPECT_EQ(form_field("", "a"), std::nullopt);
  EXPECT_EQ(form_field("&&=x&", "a"), std::nullopt);
}

TEST(FormField, MalformedEscapesStayLiteral) {
  EXPECT_EQ(form_field("a=100%", "a"), "100%");
  EXPECT_EQ(form_field("a=%4", "a"), "%4");
  EXPECT_EQ(form_field("a=%zz%41", "a"), "%zzA");
  EXPECT_EQ(form_field("a=%%41", "a"), "%A");
  EXPECT_EQ(form_field("a=%00b", "a"), std::string("\0b", 2));
}

// Slack's mention markup is the Slack transport's to remove; the router only knows the bot's name.
TEST(StripMentionMarkup, RemovesALeadingMentionOfAnyUser) {
  EXPECT_EQ(strip_mention_markup("<@U024BE7LH> status"), "status");
  EXPECT_EQ(strip_mention_markup("  <@UBOT1|shipmate>   deploy api 1.2 to staging "),
            "deploy api 1.2 to staging");
  EXPECT_EQ(strip_mention_markup("<@UBOT1>"), "");
  EXPECT_EQ(strip_mention_markup("status"), "status");
  EXPECT_EQ(strip_mention_markup("ask <@UBOT1> later"), "ask <@UBOT1> later");
  EXPECT_EQ(strip_mention_markup("@shipmate status"), "@shipmate status");
  EXPECT_EQ(strip_mention_markup("<@U1 no close"), "<@U1 no close");
}

}  // namespace
}  // namespace shipmate::bot::slack
