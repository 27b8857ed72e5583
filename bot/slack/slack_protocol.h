// Slack wire formats, decoded and encoded without any I/O: Socket Mode frames, Events API
// callbacks, slash-command and interactivity form bodies, and acks.
//
// Contract
// - Pure functions; safe from any thread. JSON is parsed with simdjson.
// - Never throws on bad input: a frame that is not JSON, not an object, or lacks the fields its
//   type requires decodes to Kind::malformed with a one-line reason; a type Shipmate does not
//   know decodes to Kind::unknown. Both still carry the envelope_id when one could be read, so
//   a well-formed envelope is always acked.
// - reaction_added on a message becomes an InboundReaction (not a command: it changes nothing
//   but an incident's timeline, which deduplicates it). Other reaction items are ignored.
// - Only things a person asked Shipmate to do become an InboundCommand: app_mention events,
//   message events in a DM (channel_type "im") or starting with "<@BOTID>", /slash commands, and
//   block_actions button clicks. Bot messages (bot_id, bot_profile, subtype bot_message), edits,
//   deletes, other subtypes and hidden events are ignored with a reason.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace shipmate::bot::slack {

struct InboundCommand {
  // Stable across redeliveries: "event:<event_id>", "slash:<trigger_id>",
  // "action:<trigger_id>" (falling back to "action:<action_ts>:<user>" without a trigger id).
  std::string dedupe_key;
  std::string user_id;     // Slack user id (U...)
  std::string channel;     // channel id (C..., D... for DMs, G...)
  std::string thread_ts;   // parent ts to reply under; empty for a top-level reply
  std::string message_ts;  // block_actions: ts of the message holding the button
  std::string text;        // the command as typed (mention included), or the button's value
  std::string source;      // "app_mention", "message", "slash_command", "block_actions"
  std::string response_url;
};

// A reaction_added event on a message (an incident room's :pushpin: puts the message on the
// timeline). Shipmate's own reactions are ignored like its messages.
struct InboundReaction {
  std::string dedupe_key;  // "event:<event_id>"
  std::string user_id;     // who reacted
  std::string reaction;    // emoji name without colons: "pushpin"
  std::string channel;     // the message's channel
  std::string message_ts;  // the message's ts
  std::string item_user;   // the message's author ("" when Slack did not say)
};

struct Envelope {
  enum class Kind {
    hello,
    disconnect,
    events_api,
    slash_commands,
    interactive,
    unknown,
    malformed
  };
  Kind kind = Kind::malformed;
  std::string envelope_id;  // empty for hello/disconnect
  bool accepts_response_payload = false;
  int retry_attempt = 0;
  std::string retry_reason;
  std::string disconnect_reason;  // disconnect: "refresh_requested", "warning", "link_disabled"...
  int num_connections = 0;        // hello
  std::string error;              // malformed: why
};

struct Decoded {
  Envelope envelope;
  std::optional<InboundCommand> command;    // set when the envelope asks Shipmate to do something
  std::optional<InboundReaction> reaction;  // set for reaction_added on a message
  std::string ignored_because;              // set when a valid envelope carries nothing to do
};

// One Socket Mode text frame. `bot_user_id` is the bot's own user id (to strip/recognise
// mentions and ignore its own messages).
Decoded decode_socket_frame(std::string_view frame, std::string_view bot_user_id);

// The ack for an envelope: {"envelope_id":"...","payload":{...}}. `payload_json` must be a JSON
// object; "{}" when there is nothing to say.
std::string make_ack(std::string_view envelope_id, std::string_view payload_json = "{}");

// HTTP mode. An Events API request body (JSON): event_callback, or url_verification whose
// challenge is returned in `challenge`.
struct EventCallback {
  std::optional<InboundCommand> command;
  std::optional<InboundReaction> reaction;
  std::string challenge;  // url_verification
  std::string ignored_because;
};
Result<EventCallback> decode_event_callback(std::string_view body, std::string_view bot_user_id);
// A slash-command POST body (application/x-www-form-urlencoded).
Result<InboundCommand> decode_slash_command_form(std::string_view body);
// An interactivity POST body: form field payload=<JSON>; only block_actions become commands.
Result<std::optional<InboundCommand>> decode_interaction_form(std::string_view body);

// The command text without Slack's mention markup in front: "<@U123> deploy" and
// "<@U123|name> deploy" become "deploy" (any user id, as a mention of the bot reads when the
// message is a DM to it). Text without markup is returned trimmed, otherwise unchanged.
std::string strip_mention_markup(std::string_view text);

// Decodes application/x-www-form-urlencoded "a=1&b=x+y" (percent escapes, '+' as space).
std::optional<std::string> form_field(std::string_view body, std::string_view name);

}  // namespace shipmate::bot::slack
