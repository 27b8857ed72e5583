// The Slack transport: Socket Mode connections in, Web API replies out.
//
// Contract
// - Threading: everything runs on the executor given at construction (the event loop).
// - start() checks the bot token (auth.test) and learns the bot's user id, then keeps
//   `connections` Socket Mode connections (2 by default, so that a cut or refresh of one never
//   leaves the bot without a socket) open until stop(). A slot whose connection is lost
//   reconnects at once; only a second failure in a row backs off (jittered, exponential:
//   reconnect_delay in send_scheduler.h). A `disconnect` (refresh_requested, warning, ...) opens
//   the replacement before closing the old connection. Unrecoverable auth errors (invalid_auth,
//   not_authed, account_inactive, team_disabled, link_disabled, ...) stop the transport and call
//   on_fatal with a clear message instead of looping.
// - Exactly once: every envelope with an id goes through the CommandIntake (bot/command_intake.h)
//   as platform "slack", keyed by its dedupe key: recorded before its ack, a redelivery acked and
//   dropped, acks written before any command starts, whatever the envelope holds. HTTP mode uses
//   the intake's synchronous path (the HTTP answer is the ack). Malformed frames are logged and
//   acked. HTTP mode listens on its own address, or mounts on a shared listener
//   (SlackOptions::listener). Slack's own mention markup ("<@U123>") is removed here
//   (strip_mention_markup), not in the router.
// - start() fails with a message that says which of these it is: Slack's Web API could not be
//   reached (the URL and the reason: refused, timed out, TLS), or Slack refused the bot token.
// - Cancellation: every long-running operation (each connection slot, a hand-over's replacement,
//   the read-back of a reacted-to message) runs with its own asio cancellation signal; stop(), a
//   fatal error and the destructor emit them all, which ends every socket read, reconnect
//   backoff, rate-limit pause (Web API Retry-After, on the same Timers) and hand-over wait at
//   once, with no further call. The operations watch their own cancellation state; there is no
//   transport-wide "stopping" flag for them to poll. Nothing new starts after stop().
// - Replies go through WebApi's paced per-channel queue as a SlackConversation: one message per
//   command, updated in place, details in its thread.
// - The workspace abilities (rooms, invites, pins, topics, archiving, channel names) and the
//   read-back of a reacted-to message are SlackWorkspace's (slack_workspace.h); this class keeps
//   the connections and forwards those calls, holding itself alive until each completes.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "bot/chat_transport.h"
#include "bot/slack/web_api.h"
#include "common/result.h"

namespace shipmate::integrations::net {
class HttpClient;
class HttpServer;
}  // namespace shipmate::integrations::net

namespace shipmate {
class Clock;
class Timers;
}  // namespace shipmate

namespace shipmate::bot {
class CommandIntake;
}

namespace shipmate::bot::slack {

struct SlackOptions {
  // "socket": Socket Mode (needs app_token). "http": Slack POSTs signed requests to
  // http_bind:http_port (needs signing_secret), for teams that cannot use Socket Mode.
  std::string mode = "socket";
  std::string signing_secret;
  std::string http_bind = "0.0.0.0";
  int http_port = 3000;
  // HTTP mode on a listener shared with other owners (integrations/net/http_listeners.h): when
  // set, start() mounts Slack's routes on the server it returns instead of listening on
  // http_bind:http_port itself, and stop() withdraws them (answered 503 from then on).
  std::function<Result<integrations::net::HttpServer*>()> listener;
  std::string app_token;  // xapp-...
  std::string bot_token;  // xoxb-...
  std::string api_url = "https://slack.com/api/";
  int connections = 2;
  std::string ca_file;  // extra trusted CAs (tests, private proxies)
  bool verify_peer = true;
  // Slack user id -> Shipmate identity; unknown Slack users act as "slack:<id>" (read only).
  std::map<std::string, std::string> identities;
  SendScheduler::Options pacing;
  std::chrono::milliseconds reconnect_base{1000};
  std::chrono::milliseconds reconnect_cap{30000};
  std::chrono::milliseconds ping_interval{10000};
  std::chrono::milliseconds idle_timeout{30000};
  // resolve_channel: after a full conversations.list pass that did not find a name, another
  // name missing from the cache is answered "not found" without listing again until this much
  // time has passed, so a stream of unknown names cannot make Shipmate page through every
  // channel of a large workspace each time.
  std::chrono::seconds channel_relist_interval{60};
  // What resolve_channel reads the time from; null: the system clock. Must outlive the transport.
  const Clock* clock = nullptr;
};

struct SlackStats {
  std::uint64_t frames = 0;
  std::uint64_t envelopes = 0;
  std::uint64_t malformed = 0;
  std::uint64_t connects = 0;    // hellos received
  std::uint64_t reconnects = 0;  // connections opened after a slot's first (or for a hand-over)
  int open_connections = 0;
};

// Renders replies into one Slack channel/thread through the paced queue.
class SlackConversation final : public commands::Conversation {
 public:
  SlackConversation(WebApi& api, std::string channel, std::string thread_ts)
      : api_(api), channel_(std::move(channel)), thread_ts_(std::move(thread_ts)) {}
  commands::MessageRef post(const commands::Message& message) override;
  void update(const commands::MessageRef& ref, const commands::Message& message) override;
  void thread_reply(const commands::MessageRef& ref, const commands::Message& message) override;
  // Held by the Web API queue until the reply outbox has recorded them (web_api.h).
  bool holds_messages() const override { return true; }
  commands::MessageRef post_held(const commands::Message& message,
                                 std::shared_ptr<commands::OutboxTicket> ticket) override;
  void update_held(const commands::MessageRef& ref, const commands::Message& message,
                   std::shared_ptr<commands::OutboxTicket> ticket) override;
  void thread_reply_held(const commands::MessageRef& ref, const commands::Message& message,
                         std::shared_ptr<commands::OutboxTicket> ticket) override;
  std::string address() const override { return "slack:" + channel_ + ":" + thread_ts_; }

 private:
  WebApi& api_;
  std::string channel_;
  std::string thread_ts_;
};

class SlackTransport final : public ChatTransport {
 public:
  // Commands go through `intake`, which must outlive the transport; the transport attaches
  // itself as platform "slack" with `options.identities`. `timers` (common/timer.h) times the
  // reconnect backoff and the Web API's retry waits, and must outlive it too.
  SlackTransport(boost::asio::any_io_executor executor, CommandIntake& intake, Timers& timers,
                 SlackOptions options);
  ~SlackTransport() override;
  SlackTransport(const SlackTransport&) = delete;
  SlackTransport& operator=(const SlackTransport&) = delete;

  std::string_view name() const override { return "slack"; }
  boost::asio::awaitable<Status> start() override;
  // Closes every connection and waits for queued replies (bounded by `grace`).
  boost::asio::awaitable<void> stop(std::chrono::milliseconds grace) override;
  void on_fatal(std::function<void(std::string)> handler) override;
  // The conversation behind an address from SlackConversation::address() ("slack:C123:ts").
  std::unique_ptr<commands::Conversation> open(const std::string& address) override;
  // Socket Mode: empty while at least one connection has said hello and not ended; HTTP mode:
  // empty while listening.
  std::string readiness_problem() const override;
  Counters counters() const override;

  WorkspaceAbilities abilities() const override;
  boost::asio::awaitable<Result<std::string>> create_room(std::string room_name,
                                                          bool is_private) override;
  boost::asio::awaitable<Status> invite(std::string room_address,
                                        std::vector<std::string> user_ids) override;
  boost::asio::awaitable<Status> pin(std::string room_address, commands::MessageRef ref) override;
  boost::asio::awaitable<Status> set_topic(std::string room_address, std::string topic) override;
  // conversations.archive; already_archived counts as done.
  boost::asio::awaitable<Status> archive_room(std::string room_address) override;
  boost::asio::awaitable<Result<RoomOrigin>> room_origin(std::string room_address) override;
  // "#deploys", "deploys" -> "slack:C…" through conversations.list (cursor pages; names seen
  // are remembered for the life of the transport). A name not remembered lists again, at most
  // once per options.channel_relist_interval after a full pass that missed; a refused listing
  // (missing_scope, ...) names the channels:read and groups:read scopes.
  boost::asio::awaitable<Result<std::string>> resolve_channel(std::string channel_name) override;
  // reaction_added: the reacted-to message's text is read (conversations.history) first.
  void on_reaction(std::function<void(ReactionAdded)> handler) override;
  std::string mention(const std::string& room_address) const override;

  // Long-running operations not yet finished (connection slots, reaction read-backs); 0 soon
  // after stop() (tests).
  std::size_t operations_in_flight() const;

  const SlackStats& stats() const;
  WebApi& web_api();
  const std::string& bot_user_id() const;
  // HTTP mode: the port actually listened on (0 otherwise).
  int http_port() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace shipmate::bot::slack
