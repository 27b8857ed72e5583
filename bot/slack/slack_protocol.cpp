#include "bot/slack/slack_protocol.h"

#include "common/strings.h"

#include <simdjson.h>

#include <cstddef>
#include <exception>
#include <functional>
#include <initializer_list>
#include <limits>
#include <string>
#include <utility>

namespace shipmate::bot::slack {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

// Typed lookups that treat "missing" and "wrong type" alike: Slack's payloads vary between
// surfaces (team may be null, thread_ts may be absent), and nothing here may throw.
std::optional<element> member(const object& obj, std::string_view key) {
  element value;
  if (obj.at_key(key).get(value) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return value;
}

// A JSON null counts as absent: a user's message may carry "bot_id": null.
bool present(const object& obj, std::string_view key) {
  const auto value = member(obj, key);
  return value && !value->is_null();
}

std::optional<object> object_at(const object& obj, std::string_view key) {
  auto value = member(obj, key);
  object result;
  if (!value || value->get_object().get(result) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return result;
}

std::optional<std::string_view> string_at(const object& obj, std::string_view key) {
  auto value = member(obj, key);
  std::string_view result;
  if (!value || value->get_string().get(result) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return result;
}

// An empty string is as useless as a missing one for ids and timestamps.
std::string nonempty_string_at(const object& obj, std::string_view key) {
  return std::string(string_at(obj, key).value_or(""));
}

std::optional<std::int64_t> int_at(const object& obj, std::string_view key) {
  auto value = member(obj, key);
  std::int64_t result = 0;
  if (!value || value->get_int64().get(result) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return result;
}

bool bool_at(const object& obj, std::string_view key) {
  auto value = member(obj, key);
  bool result = false;
  if (!value || value->get_bool().get(result) != simdjson::SUCCESS) {
    return false;
  }
  return result;
}

int clamp_to_int(std::int64_t value) {
  if (value > std::numeric_limits<int>::max()) {
    return std::numeric_limits<int>::max();
  }
  if (value < std::numeric_limits<int>::min()) {
    return std::numeric_limits<int>::min();
  }
  return static_cast<int>(value);
}

// What one payload (an event_callback, slash command or interaction) amounts to. `error` means
// the payload lacks fields its type requires; `ignored` means it is valid but asks for nothing.
struct PayloadOutcome {
  std::optional<InboundCommand> command;
  std::optional<InboundReaction> reaction;
  std::string ignored;
  std::string error;
};

PayloadOutcome ignored(std::string reason) {
  PayloadOutcome outcome;
  outcome.ignored = std::move(reason);
  return outcome;
}

PayloadOutcome failed(std::string reason) {
  PayloadOutcome outcome;
  outcome.error = std::move(reason);
  return outcome;
}

PayloadOutcome accepted(InboundCommand command) {
  PayloadOutcome outcome;
  outcome.command = std::move(command);
  return outcome;
}

// "<@U123>" or the older "<@U123|name>" form, after any leading whitespace.
bool addressed_to(std::string_view text, std::string_view bot_user_id) {
  if (bot_user_id.empty()) {
    return false;
  }
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    return false;
  }
  text.remove_prefix(first);
  if (!text.starts_with("<@")) {
    return false;
  }
  text.remove_prefix(2);
  if (!text.starts_with(bot_user_id)) {
    return false;
  }
  text.remove_prefix(bot_user_id.size());
  return text.starts_with('>') || text.starts_with('|');
}

PayloadOutcome decode_reaction(const object& event, std::string event_id,
                               std::string_view bot_user_id) {
  const std::string user = nonempty_string_at(event, "user");
  if (user.empty()) {
    return ignored("reaction has no user");
  }
  if (user == bot_user_id) {
    return ignored("reaction by Shipmate itself");
  }
  const auto item = object_at(event, "item");
  if (!item) {
    return failed("reaction_added has no item");
  }
  if (string_at(*item, "type").value_or("") != "message") {
    return ignored("reaction on something other than a message");
  }
  InboundReaction reaction;
  reaction.dedupe_key = "event:" + std::move(event_id);
  reaction.user_id = user;
  reaction.reaction = nonempty_string_at(event, "reaction");
  reaction.channel = nonempty_string_at(*item, "channel");
  reaction.message_ts = nonempty_string_at(*item, "ts");
  reaction.item_user = nonempty_string_at(event, "item_user");
  if (reaction.reaction.empty() || reaction.channel.empty() || reaction.message_ts.empty()) {
    return failed("reaction_added lacks reaction, item.channel or item.ts");
  }
  PayloadOutcome outcome;
  outcome.reaction = std::move(reaction);
  return outcome;
}

PayloadOutcome decode_inner_event(const object& event, std::string event_id,
                                  std::string_view bot_user_id) {
  const auto type = string_at(event, "type");
  if (!type) {
    return failed("event has no type");
  }
  if (*type == "reaction_added") {
    return decode_reaction(event, std::move(event_id), bot_user_id);
  }
  if (*type != "app_mention" && *type != "message") {
    return ignored("event type " + std::string(*type) + " is not handled");
  }
  // Bots, including Shipmate itself, must never trigger commands: two bots answering each other
  // would loop, and a bot's words are not a person's request.
  if (present(event, "bot_id")) {
    return ignored("posted by a bot (bot_id)");
  }
  if (present(event, "bot_profile")) {
    return ignored("posted by a bot (bot_profile)");
  }
  if (present(event, "subtype")) {
    return ignored("message subtype " + std::string(string_at(event, "subtype").value_or("?")) +
                   " is not a command");
  }
  if (bool_at(event, "hidden")) {
    return ignored("hidden event");
  }
  const std::string user = nonempty_string_at(event, "user");
  if (user.empty()) {
    return ignored("event has no user");
  }
  if (user == bot_user_id) {
    return ignored("posted by Shipmate itself");
  }
  const std::string channel = nonempty_string_at(event, "channel");
  if (channel.empty()) {
    return failed("event has no channel");
  }
  const std::string text(string_at(event, "text").value_or(""));
  if (*type == "message") {
    const bool direct = string_at(event, "channel_type").value_or("") == "im";
    if (!direct && !addressed_to(text, bot_user_id)) {
      return ignored("message is neither a DM nor addressed to Shipmate");
    }
  }

  InboundCommand command;
  command.dedupe_key = "event:" + std::move(event_id);
  command.user_id = user;
  command.channel = channel;
  command.text = text;
  command.source = std::string(*type);
  // Replies go into the thread the command belongs to. A top-level command gets its own
  // thread (its ts becomes the parent): a deploy's progress and outcome then stay together
  // under the request instead of interleaving with other traffic in the channel.
  command.thread_ts = nonempty_string_at(event, "thread_ts");
  if (command.thread_ts.empty()) {
    command.thread_ts = nonempty_string_at(event, "ts");
  }
  return accepted(std::move(command));
}

PayloadOutcome decode_callback(const object& body, std::string_view bot_user_id) {
  const auto type = string_at(body, "type");
  if (!type) {
    return failed("event payload has no type");
  }
  if (*type != "event_callback") {
    return ignored("payload type " + std::string(*type) + " is not handled");
  }
  std::string event_id = nonempty_string_at(body, "event_id");
  if (event_id.empty()) {
    return failed("event_callback has no event_id");
  }
  const auto event = object_at(body, "event");
  if (!event) {
    return failed("event_callback has no event object");
  }
  return decode_inner_event(*event, std::move(event_id), bot_user_id);
}

using FieldLookup = std::function<std::optional<std::string>(std::string_view)>;

// Shared by Socket Mode (JSON object) and HTTP mode (form body): the field names are the same.
PayloadOutcome decode_slash(const FieldLookup& field) {
  auto user = field("user_id").value_or("");
  auto channel = field("channel_id").value_or("");
  auto trigger = field("trigger_id").value_or("");
  if (user.empty()) {
    return failed("slash command has no user_id");
  }
  if (channel.empty()) {
    return failed("slash command has no channel_id");
  }
  if (trigger.empty()) {
    return failed("slash command has no trigger_id");
  }
  InboundCommand command;
  command.dedupe_key = "slash:" + trigger;
  command.user_id = std::move(user);
  command.channel = std::move(channel);
  // Slack already leaves the command name ("/shipmate") out of `text`.
  command.text = field("text").value_or("");
  command.source = "slash_command";
  command.response_url = field("response_url").value_or("");
  return accepted(std::move(command));
}

PayloadOutcome decode_slash_object(const object& payload) {
  return decode_slash([&](std::string_view name) -> std::optional<std::string> {
    auto value = string_at(payload, name);
    if (!value) {
      return std::nullopt;
    }
    return std::string(*value);
  });
}

PayloadOutcome decode_interaction(const object& payload) {
  const auto type = string_at(payload, "type");
  if (!type) {
    return failed("interaction has no type");
  }
  if (*type != "block_actions") {
    return ignored("interaction type " + std::string(*type) + " is not handled");
  }
  simdjson::dom::array actions;
  const auto actions_value = member(payload, "actions");
  if (!actions_value || actions_value->get_array().get(actions) != simdjson::SUCCESS) {
    return failed("block_actions has no actions array");
  }
  // A click on a button delivers exactly that one action; other elements (selects, date pickers)
  // carry no `value` and are not commands.
  object action;
  bool found = false;
  for (element candidate : actions) {
    if (candidate.get_object().get(action) == simdjson::SUCCESS) {
      found = true;
      break;
    }
  }
  if (!found) {
    return failed("block_actions has no action");
  }
  const auto action_type = string_at(action, "type").value_or("");
  if (action_type != "button") {
    return ignored("action type " + std::string(action_type) + " is not a button");
  }
  const std::string value(string_at(action, "value").value_or(""));
  if (value.empty()) {
    return ignored("button has no value");
  }

  const auto user = object_at(payload, "user");
  const std::string user_id = user ? nonempty_string_at(*user, "id") : "";
  if (user_id.empty()) {
    return failed("block_actions has no user.id");
  }
  const auto container = object_at(payload, "container");
  const auto message = object_at(payload, "message");
  const auto channel_object = object_at(payload, "channel");
  auto first_of =
      [](std::initializer_list<std::pair<const std::optional<object>*, const char*>> candidates) {
        for (const auto& [obj, key] : candidates) {
          if (*obj) {
            auto value = nonempty_string_at(**obj, key);
            if (!value.empty()) {
              return value;
            }
          }
        }
        return std::string();
      };
  std::string channel = first_of({{&channel_object, "id"}, {&container, "channel_id"}});
  if (channel.empty()) {
    return failed("block_actions has no channel");
  }

  InboundCommand command;
  const std::string trigger = nonempty_string_at(payload, "trigger_id");
  command.dedupe_key = trigger.empty()
                           ? "action:" + nonempty_string_at(action, "action_ts") + ":" + user_id
                           : "action:" + trigger;
  command.user_id = user_id;
  command.channel = std::move(channel);
  command.message_ts = first_of({{&container, "message_ts"}, {&message, "ts"}});
  command.thread_ts = first_of({{&container, "thread_ts"}, {&message, "thread_ts"}});
  command.text = value;
  command.source = "block_actions";
  command.response_url = nonempty_string_at(payload, "response_url");
  return accepted(std::move(command));
}

Envelope::Kind envelope_kind(std::string_view type) {
  if (type == "hello") {
    return Envelope::Kind::hello;
  }
  if (type == "disconnect") {
    return Envelope::Kind::disconnect;
  }
  if (type == "events_api") {
    return Envelope::Kind::events_api;
  }
  if (type == "slash_commands") {
    return Envelope::Kind::slash_commands;
  }
  if (type == "interactive") {
    return Envelope::Kind::interactive;
  }
  return Envelope::Kind::unknown;
}

Decoded malformed(Decoded decoded, std::string why) {
  decoded.envelope.kind = Envelope::Kind::malformed;
  decoded.envelope.error = std::move(why);
  decoded.command.reset();
  decoded.ignored_because.clear();
  return decoded;
}

Decoded decode_frame(std::string_view frame, std::string_view bot_user_id) {
  Decoded decoded;
  // Kept per thread: a parser allocates its buffers on first use, and every Socket Mode frame
  // comes through here. Nothing returned refers into it.
  thread_local simdjson::dom::parser parser;
  element root;
  if (const auto error = parser.parse(frame.data(), frame.size()).get(root);
      error != simdjson::SUCCESS) {
    return malformed(std::move(decoded),
                     std::string("frame is not JSON: ") + simdjson::error_message(error));
  }
  object frame_object;
  if (root.get_object().get(frame_object) != simdjson::SUCCESS) {
    return malformed(std::move(decoded), "frame is not a JSON object");
  }

  Envelope& envelope = decoded.envelope;
  // Read before anything can fail, so that even a frame we cannot use is acked.
  const auto id_value = member(frame_object, "envelope_id");
  const auto id = string_at(frame_object, "envelope_id");
  if (id) {
    envelope.envelope_id = std::string(*id);
  }
  const auto type = string_at(frame_object, "type");
  if (!type) {
    return malformed(std::move(decoded), "frame has no type");
  }
  envelope.kind = envelope_kind(*type);

  switch (envelope.kind) {
    case Envelope::Kind::hello:
      envelope.num_connections = clamp_to_int(int_at(frame_object, "num_connections").value_or(0));
      return decoded;
    case Envelope::Kind::disconnect:
      envelope.disconnect_reason = std::string(string_at(frame_object, "reason").value_or(""));
      return decoded;
    case Envelope::Kind::unknown:
      decoded.ignored_because = "frame type " + std::string(*type) + " is not handled";
      return decoded;
    default:
      break;
  }

  if (id_value && !id) {
    return malformed(std::move(decoded), "envelope_id is not a string");
  }
  if (envelope.envelope_id.empty()) {
    return malformed(std::move(decoded), std::string(*type) + " frame has no envelope_id");
  }
  envelope.accepts_response_payload = bool_at(frame_object, "accepts_response_payload");
  envelope.retry_attempt = clamp_to_int(int_at(frame_object, "retry_attempt").value_or(0));
  envelope.retry_reason = std::string(string_at(frame_object, "retry_reason").value_or(""));

  const auto payload = object_at(frame_object, "payload");
  if (!payload) {
    return malformed(std::move(decoded), std::string(*type) + " frame has no payload object");
  }
  PayloadOutcome outcome;
  if (envelope.kind == Envelope::Kind::events_api) {
    outcome = decode_callback(*payload, bot_user_id);
  } else if (envelope.kind == Envelope::Kind::slash_commands) {
    outcome = decode_slash_object(*payload);
  } else {
    outcome = decode_interaction(*payload);
  }
  if (!outcome.error.empty()) {
    return malformed(std::move(decoded), std::move(outcome.error));
  }
  decoded.command = std::move(outcome.command);
  decoded.reaction = std::move(outcome.reaction);
  decoded.ignored_because = std::move(outcome.ignored);
  return decoded;
}

// A malformed escape ("%", "%4", "%zz") is kept literally, as browsers do, rather than
// rejecting the whole body over one character.
std::string form_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < text.size() && hex_digit_value(text[i + 1]) >= 0 &&
               hex_digit_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit_value(text[i + 1]) * 16 + hex_digit_value(text[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

Decoded decode_socket_frame(std::string_view frame, std::string_view bot_user_id) {
  try {
    return decode_frame(frame, bot_user_id);
  } catch (const std::exception& e) {
    // Only allocation failure can get here; the reader loop must survive it all the same.
    Decoded decoded;
    decoded.envelope.error = std::string("frame could not be decoded: ") + e.what();
    return decoded;
  }
}

std::string make_ack(std::string_view envelope_id, std::string_view payload_json) {
  // Ids are normally plain ASCII, but the ack stays valid JSON whatever the server sent.
  std::string ack = R"({"envelope_id":)";
  append_json_string(ack, envelope_id);
  ack += R"(,"payload":)";
  ack += payload_json.empty() ? std::string_view("{}") : payload_json;
  ack += '}';
  return ack;
}

Result<EventCallback> decode_event_callback(std::string_view body, std::string_view bot_user_id) {
  try {
    simdjson::dom::parser parser;
    object root;
    if (parser.parse(body.data(), body.size()).get_object().get(root) != simdjson::SUCCESS) {
      return make_error("Events API request body is not a JSON object");
    }
    EventCallback callback;
    if (string_at(root, "type").value_or("") == "url_verification") {
      const auto challenge = string_at(root, "challenge");
      if (!challenge) {
        return make_error("url_verification request has no challenge");
      }
      callback.challenge = std::string(*challenge);
      return callback;
    }
    PayloadOutcome outcome = decode_callback(root, bot_user_id);
    if (!outcome.error.empty()) {
      return make_error("Events API request: " + outcome.error);
    }
    callback.command = std::move(outcome.command);
    callback.reaction = std::move(outcome.reaction);
    callback.ignored_because = std::move(outcome.ignored);
    return callback;
  } catch (const std::exception& e) {
    return make_error(std::string("Events API request could not be decoded: ") + e.what());
  }
}

Result<InboundCommand> decode_slash_command_form(std::string_view body) {
  PayloadOutcome outcome =
      decode_slash([&](std::string_view name) { return form_field(body, name); });
  if (!outcome.error.empty()) {
    return make_error(std::move(outcome.error));
  }
  return std::move(*outcome.command);
}

Result<std::optional<InboundCommand>> decode_interaction_form(std::string_view body) {
  const auto payload_text = form_field(body, "payload");
  if (!payload_text) {
    return make_error("interaction request has no payload field");
  }
  try {
    simdjson::dom::parser parser;
    object payload;
    if (parser.parse(*payload_text).get_object().get(payload) != simdjson::SUCCESS) {
      return make_error("interaction payload is not a JSON object");
    }
    PayloadOutcome outcome = decode_interaction(payload);
    if (!outcome.error.empty()) {
      return make_error(std::move(outcome.error));
    }
    return std::move(outcome.command);
  } catch (const std::exception& e) {
    return make_error(std::string("interaction payload could not be decoded: ") + e.what());
  }
}

std::optional<std::string> form_field(std::string_view body, std::string_view name) {
  while (!body.empty()) {
    const auto end = body.find('&');
    const std::string_view pair = body.substr(0, end);
    body = end == std::string_view::npos ? std::string_view() : body.substr(end + 1);
    const auto equals = pair.find('=');
    const std::string_view key = pair.substr(0, equals);
    if (form_decode(key) != name) {
      continue;
    }
    if (equals == std::string_view::npos) {
      return std::string();
    }
    return form_decode(pair.substr(equals + 1));
  }
  return std::nullopt;
}

std::string strip_mention_markup(std::string_view text) {
  text = trim(text);
  if (text.size() > 3 && text.starts_with("<@")) {
    const auto close = text.find('>');
    if (close != std::string_view::npos)
      text = trim(text.substr(close + 1));
  }
  return std::string(text);
}

}  // namespace shipmate::bot::slack
