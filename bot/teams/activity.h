// Bot Framework activities as Teams delivers them to POST /api/messages, decoded without I/O.
//
// decode_activity() reads the fields Shipmate uses from one activity (simdjson); classify() then
// decides what the activity means for Shipmate:
// - a `message` with text is a command (personal chat, group chat or channel). The `<at>…</at>`
//   mention of the bot at its front is removed, other mentions keep their names, the HTML Teams
//   wraps text in is unwrapped and its entities decoded (strip_teams_markup);
// - a `message` whose `value` holds {"shipmate": "<command>"} is a card button pressed as an
//   Action.Submit: the command is that text, run as whoever pressed it;
// - an `invoke` named `adaptiveCard/action` is a Universal Actions button (Action.Execute) whose
//   data holds the same {"shipmate": "<command>"}; it must be answered with an invoke response;
// - `conversationUpdate`, `typing`, `messageReaction`, `installationUpdate`, other invokes and
//   messages without a command are acknowledged and ignored.
// The dedupe key is stable across redeliveries: "<kind>:<conversation id>:<activity id>" (Teams'
// activity ids are unique within a conversation only).
//
// Contract: pure functions, thread-safe. Errors (ErrorKind::invalid) say which field is missing
// or malformed, in a line fit for a log; they never echo the whole body.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace shipmate::bot::teams {

struct Activity {
  std::string type;  // "message", "invoke", "conversationUpdate", ...
  std::string id;
  std::string name;  // invokes: "adaptiveCard/action"
  std::string channel_id;
  std::string service_url;
  std::string conversation_id;
  std::string conversation_type;  // "personal", "groupChat", "channel"
  std::string tenant_id;
  std::string from_id;         // "29:..."
  std::string from_aad_id;     // the AAD object id: how users map to Shipmate identities
  std::string from_name;       // display only, never for identity
  std::string recipient_id;    // the bot: "28:<app id>"
  std::string recipient_name;  // the bot's display name
  std::string reply_to_id;
  std::string text;
  std::string value_command;   // message.value.shipmate (Action.Submit)
  std::string action_type;     // invoke value.action.type ("Action.Execute")
  std::string action_verb;     // invoke value.action.verb
  std::string action_command;  // invoke value.action.data.shipmate
};

// Fails when the body is not a JSON object or lacks type, or (for message and invoke) id,
// channelId, serviceUrl or conversation.id.
Result<Activity> decode_activity(std::string_view body);

struct Classified {
  enum class Kind { command, card_action, ignore };
  Kind kind = Kind::ignore;
  std::string dedupe_key;  // command and card_action
  std::string text;        // the command, markup removed
  std::string why;         // ignore: what it was ("conversationUpdate", "a message without text")
};
Classified classify(const Activity& activity);

// "<at>Shipmate</at> deploy hello" -> "deploy hello": removes a leading mention (of the bot),
// keeps the names of later mentions, drops other tags (<p>, <div>, <br> become spaces) and
// decodes &amp; &lt; &gt; &quot; &#39; &nbsp; and numeric entities.
std::string strip_teams_markup(std::string_view text);

// The verb Shipmate's Action.Execute buttons carry.
inline constexpr std::string_view kCommandVerb = "shipmate.command";

}  // namespace shipmate::bot::teams
