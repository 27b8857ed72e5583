// The Slack transport: Socket Mode connections in, Web API replies out.
//
// Contract
// - Threading: everything runs on the executor given at construction (the event loop).
// - start() checks the bot token (auth.test) and learns the bot's user id, then keeps
//   `connections` Socket Mode connections open until stop(), reconnecting with jittered
//   exponential backoff. A `disconnect` (refresh_requested, warning, ...) opens the replacement
//   before closing the old connection. Unrecoverable auth errors (invalid_auth, not_authed,
//   account_inactive, team_disabled, link_disabled, ...) stop the transport and call on_fatal
//   with a clear message instead of looping.
// - Exactly once: each delivered command is recorded in the inbox under its platform key before
//   its envelope is acked; a redelivery is acked and dropped. Every envelope with an id is acked
//   before any work starts, whatever its content. Malformed frames are logged and ignored.
// - Replies go through WebApi's paced per-channel queue as a SlackConversation: one message per
//   command, updated in place, details in its thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "bot/router.h"
#include "bot/slack/web_api.h"
#include "common/result.h"
#include "storage/inbox_store.h"

namespace shipmate::integrations::net {
class HttpClient;
}

namespace shipmate::bot::slack {

struct SlackOptions {
  // "socket": Socket Mode (needs app_token). "http": Slack POSTs signed requests to
  // http_bind:http_port (needs signing_secret), for teams that cannot use Socket Mode.
  std::string mode = "socket";
  std::string signing_secret;
  std::string http_bind = "0.0.0.0";
  int http_port = 3000;
  std::string app_token;  // xapp-...
  std::string bot_token;  // xoxb-...
  std::string api_url = "https://slack.com/api/";
  int connections = 1;
  std::string ca_file;  // extra trusted CAs (tests, private proxies)
  bool verify_peer = true;
  // Slack user id -> Shipmate identity; unknown Slack users act as "slack:<id>" (read only).
  std::map<std::string, std::string> identities;
  SendScheduler::Options pacing;
  std::chrono::milliseconds reconnect_base{1000};
  std::chrono::milliseconds reconnect_cap{30000};
  std::chrono::milliseconds ping_interval{10000};
  std::chrono::milliseconds idle_timeout{30000};
};

struct SlackStats {
  std::uint64_t frames = 0;
  std::uint64_t envelopes = 0;
  std::uint64_t acks = 0;
  std::uint64_t intake_batches = 0;  // inbox transactions recording envelopes (group commit)
  std::uint64_t commands = 0;        // dispatched to the router
  std::uint64_t duplicates = 0;      // redeliveries dropped
  std::uint64_t ignored = 0;         // envelopes with nothing to do (bot messages, edits, ...)
  std::uint64_t malformed = 0;
  std::uint64_t connects = 0;  // hellos received
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
  std::string address() const override { return "slack:" + channel_ + ":" + thread_ts_; }

 private:
  WebApi& api_;
  std::string channel_;
  std::string thread_ts_;
};

class SlackTransport {
 public:
  SlackTransport(boost::asio::any_io_executor executor, Router& router, storage::InboxStore& inbox,
                 SlackOptions options);
  ~SlackTransport();
  SlackTransport(const SlackTransport&) = delete;
  SlackTransport& operator=(const SlackTransport&) = delete;

  boost::asio::awaitable<Status> start();
  // Closes every connection and waits for queued replies (bounded by `grace`).
  boost::asio::awaitable<void> stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

  // Called once, on the event loop, when Slack refuses Shipmate for good.
  void on_fatal(std::function<void(std::string)> handler);

  // The conversation behind an address from SlackConversation::address() ("slack:C123:ts").
  std::unique_ptr<commands::Conversation> conversation_for(const std::string& address);

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
