// A chat transport: how Shipmate sits in one chat platform (the terminal, Slack, later Teams).
//
// The App holds every running transport behind this interface and never names a platform: it
// starts them, asks them for conversations by address, hears about fatal errors, and stops them.
// Commands reach the router through the CommandIntake (bot/command_intake.h), which every
// transport feeds the same way; incidents use the optional workspace abilities below.
//
// Contract
// - Threading: every member is called on the event loop the transport was built for; callbacks
//   (on_fatal) are called there too.
// - Lifecycle: start() once; it completes when the transport can receive and answer (or failed,
//   with a message for a person: what is wrong and what to check). stop() once, after or instead
//   of start(): it stops taking new commands when it is called (before its awaitable is awaited),
//   and the awaitable gives queued replies up to `grace` to leave.
// - Addresses: every Conversation a transport makes has an address that starts with name()
//   ("terminal", "slack:C123:1700000000.0001"). open() turns one back into a conversation, so work
//   that outlives a command (a deploy resumed after a restart, an expiring lock) reports where it
//   was asked. It returns null for an address the transport cannot serve.
// - Mention markup: a transport removes its platform's own markup ("<@U123>") before the router
//   sees the text; the router only strips the bot's name ("@shipmate", "shipmate:", "/shipmate").
// - Workspace abilities are optional. abilities() says which the transport has; one it lacks
//   answers with an Error saying so, and the caller falls back (an incident without a room of its
//   own runs in a thread of the channel where it was declared).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "commands/reply.h"
#include "common/metrics.h"
#include "common/result.h"

namespace shipmate::bot {

// What a transport can do in its workspace beyond conversations.
struct WorkspaceAbilities {
  bool create_room = false;      // a new channel, e.g. an incident room
  bool invite = false;           // bring people into a room
  bool pin = false;              // pin a message in its room
  bool set_topic = false;        // set a room's topic
  bool resolve_channel = false;  // find a channel by its name
  bool archive_room = false;     // archive a room (an incident's, after it is resolved)
};

// A reaction someone added to a message (an incident room's :pushpin: puts it on the timeline).
struct ReactionAdded {
  std::string room;          // the message's conversation, as open() accepts it (no thread)
  std::string user;          // who reacted: a Shipmate identity, else "<platform>:<id>"
  std::string emoji;         // without colons: "pushpin"
  std::string message_id;    // the platform's id for the message (Slack: its ts)
  long long message_at = 0;  // when it was posted, Unix ms (0: unknown)
  std::string author;        // who wrote it (identity as for `user`); "" when unknown
  std::string text;          // what it says; "" when it could not be read (`problem` says why)
  std::string problem;
  std::string delivery_id;  // the platform's id for this event (redeliveries repeat it)
};
// Who made a room and when: a room found by name after a crash is taken as Shipmate's only when
// Shipmate's own user made it while the create was under way (commands/incident_model.h).
struct RoomOrigin {
  bool made_by_me = false;   // the platform names this app's own user as its creator
  long long created_at = 0;  // Unix ms (the platform's clock; Slack's is in whole seconds)
};

struct RoomOrThread;

class ChatTransport {
 public:
  virtual ~ChatTransport() = default;

  // The platform: "terminal", "slack", "teams". Also the prefix of every address it makes.
  virtual std::string_view name() const = 0;

  virtual boost::asio::awaitable<Status> start() = 0;
  virtual boost::asio::awaitable<void> stop(std::chrono::milliseconds grace) = 0;

  // Called at most once, on the event loop, when the platform refuses Shipmate for good (a
  // revoked token, the app switched off). The App shuts down with exit code 1.
  virtual void on_fatal(std::function<void(std::string why)> handler) = 0;

  // Whether `address` is one of this transport's: name() itself or name() followed by ':'.
  bool owns(std::string_view address) const {
    const std::string_view prefix = name();
    return address.substr(0, prefix.size()) == prefix &&
           (address.size() == prefix.size() || address[prefix.size()] == ':');
  }
  // The conversation behind an address this transport made; null when it cannot serve it.
  virtual std::unique_ptr<commands::Conversation> open(const std::string& address) = 0;

  // Why the transport cannot take commands right now ("no Socket Mode connection is open"), for
  // /readyz (bot/ops_health.h); empty when it can. Asked only after start() succeeded.
  virtual std::string readiness_problem() const { return {}; }

  // What /metrics reports about the platform connection (bot/ops_metrics.h), read at scrape time
  // on the event loop from counters the transport keeps anyway; zeros for a platform without them.
  struct Counters {
    std::uint64_t reconnects = 0;               // connections opened after the first one
    std::uint64_t rate_limit_pauses = 0;        // 429 answers that made it hold its sends
    std::vector<metrics::CallCount> api_calls;  // Web API / connector calls by method and status
  };
  virtual Counters counters() const { return {}; }

  // --- Optional workspace abilities ------------------------------------------------------------
  virtual WorkspaceAbilities abilities() const { return {}; }
  // The address of a channel for its name ("#deploys" or "deploys").
  virtual boost::asio::awaitable<Result<std::string>> resolve_channel(std::string channel_name);
  // Creates a room and returns its address.
  virtual boost::asio::awaitable<Result<std::string>> create_room(std::string room_name,
                                                                  bool is_private);
  // Invites platform user ids into the room at `room_address`.
  virtual boost::asio::awaitable<Status> invite(std::string room_address,
                                                std::vector<std::string> user_ids);
  // Pins a message that a conversation for `room_address` posted (its MessageRef).
  virtual boost::asio::awaitable<Status> pin(std::string room_address, commands::MessageRef ref);
  virtual boost::asio::awaitable<Status> set_topic(std::string room_address, std::string topic);
  // Archives the room at `room_address`; one already archived counts as archived.
  virtual boost::asio::awaitable<Status> archive_room(std::string room_address);
  // Who made the room at `room_address`, and when.
  virtual boost::asio::awaitable<Result<RoomOrigin>> room_origin(std::string room_address);
  // Reactions added to messages, delivered on the event loop (at least once: a platform's
  // redelivery repeats `delivery_id`). Transports that see none never call it.
  virtual void on_reaction(std::function<void(ReactionAdded)> handler) { (void)handler; }
  // How a person sees a room's address in a message ("<#C123>" in Slack); the address itself by
  // default.
  virtual std::string mention(const std::string& room_address) const { return room_address; }
  // The Error create_room() answers when the transport cannot create rooms (a transport may say
  // more precisely why, as Teams does).
  virtual Error unsupported_create_room() const;

 protected:
  // The Error an ability the transport lacks answers with.
  Error unsupported(std::string_view ability) const;
};

// Where work that wants a room of its own (an incident) goes: the room, or the thread it fell back
// to, and why.
struct RoomOrThread {
  std::string address;   // the new room's address, or `thread_address`
  bool room = false;     // a room was created
  std::string fallback;  // why not (the transport's sentence), when room is false
};

// Creates `room_name` through `transport` when it can, else falls back to `thread_address` (the
// thread of the conversation the work started in): when the transport lacks the ability
// (terminal, Teams without Microsoft Graph permissions) or the platform refuses this time. Never
// fails: the fallback is always a place to post.
boost::asio::awaitable<RoomOrThread> room_or_thread(ChatTransport& transport, std::string room_name,
                                                    bool is_private, std::string thread_address);

}  // namespace shipmate::bot
