// The Microsoft Teams transport: Bot Framework activities in (POST /api/messages), connector
// calls out, with no SDK.
//
// Contract
// - Threading: everything runs on the executor given at construction (the event loop).
// - Inbound (handle()): a request without an Authorization header is answered 401 at once; a
//   body that is not an activity 400; then the InboundVerifier decides (401 or 403, see
//   teams_auth_api.h), logging one line and making no outbound call on refusal. Only then is
//   anything remembered (the serviceUrl is allowed for connector calls, the conversation
//   reference stored) or run. A command is handed to the CommandIntake (accept_now: recorded
//   before the answer, so a redelivered activity is answered and dropped), and the request is
//   answered at once (202), before the command runs. An Action.Execute invoke is answered 200
//   with an invoke response carrying the updated card: the card as this process last showed it
//   (buttons kept for whoever presses next) with a note of the press, or a plain card naming the
//   command and who pressed it when the card is not remembered; the result follows in the thread.
//   conversationUpdate and other activities are answered 200 and ignored; other invokes 501.
//   Storage trouble answers 503 so Teams retries.
// - Identity: the sender's AAD object id (from.aadObjectId) is the platform user id the intake
//   maps through `ids: {teams: ...}`; display names never count. Mention markup is removed here.
// - Replies: one TeamsConversation per command, answering in the activity's thread through the
//   ConnectorClient's paced queue: one card per command, updated in place, details in its
//   thread; an output too long for one card continues in follow-up messages in that thread
//   (split_long_message, adaptive_card.h). Addresses are "teams:<conversation id>:<thread id>" with
//   '%' and ':' percent-encoded, so open() finds the conversation (and, through the stored
//   reference, its service URL) after a restart.
// - start() checks the app's credentials once (a refused secret fails start() with a sentence
//   naming the variables to check; an unreachable login endpoint only warns), loads the stored
//   conversation references, replays the intake's unfinished commands and listens (or mounts
//   its routes on the shared listener, TeamsOptions::listener). stop() closes its own listener
//   or withdraws its routes from the shared one and gives queued replies up
//   to `grace`.
// - Fatal errors: when the login endpoint refuses the app's credentials while running (a client
//   secret revoked or rotated away: invalid_client), the on_fatal handler is called once with a
//   sentence naming the variables to check; the App then shuts down with exit code 1.
// - Outgoing-webhook mode (options.webhook_verify): POST /api/teams-webhook, HMAC-checked (401
//   otherwise, nothing run), runs the command without the inbox (Teams does not redeliver these)
//   and answers with its replies if it finishes within webhook_deadline (4.5 s of Teams' 5), or
//   with what it has said so far and a note that it is still running.
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
#include "bot/teams/adaptive_card.h"
#include "bot/teams/connector.h"
#include "common/result.h"

namespace shipmate {
class Timers;
}
namespace shipmate::storage {
class ConversationRefStore;
}
namespace shipmate::integrations::net {
class HttpServer;
}

namespace shipmate::bot {
class CommandIntake;
}

namespace shipmate::bot::teams {

class InboundVerifier;
class ConnectorCredentials;

struct TeamsOptions {
  std::string app_id;  // the bot's Microsoft app id
  std::string bind_address = "0.0.0.0";
  int port = 3978;  // PORT, as Bot Framework tooling uses it
  std::string path = "/api/messages";
  // A listener shared with other owners (integrations/net/http_listeners.h): when set, start()
  // mounts the routes on the server it returns instead of listening on bind_address:port, and
  // stop() withdraws them (answered 503 from then on).
  std::function<Result<integrations::net::HttpServer*>()> listener;
  // HTTPS on the listener itself (PEM files); both empty: plain HTTP behind a reverse proxy.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::size_t max_body_bytes = 256 * 1024;
  std::string ca_file;  // extra trusted CAs for the connector (tests, private proxies)
  bool verify_peer = true;
  // AAD object id -> Shipmate identity; unknown users act as "teams:<id>" (read only).
  std::map<std::string, std::string> identities;
  ConnectorOptions connector;
  // Outgoing-webhook mode (outgoing_webhook.h): when set, POST `webhook_path` checks the HMAC
  // with it (raw Authorization header, raw body) and answers with the command's replies within
  // `webhook_deadline`.
  std::function<Status(std::string_view authorization, std::string_view body)> webhook_verify;
  std::string webhook_path = "/api/teams-webhook";
  std::chrono::milliseconds webhook_deadline{4500};
};

struct TeamsStats {
  std::uint64_t requests = 0;
  std::uint64_t refused = 0;    // 401/403 from verification
  std::uint64_t malformed = 0;  // 400
  std::uint64_t commands = 0;   // handed to the intake (fresh)
  std::uint64_t duplicates = 0;
  std::uint64_t ignored = 0;
};

// The raw request, as the HTTP server hands it over.
struct TeamsRequest {
  std::string authorization;
  std::string body;
};
struct TeamsResponse {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
};

class TeamsConversation final : public commands::Conversation {
 public:
  TeamsConversation(ConnectorClient& connector, ConversationTarget target, std::string thread)
      : connector_(connector), target_(std::move(target)), thread_(std::move(thread)) {}
  commands::MessageRef post(const commands::Message& message) override;
  void update(const commands::MessageRef& ref, const commands::Message& message) override;
  void thread_reply(const commands::MessageRef& ref, const commands::Message& message) override;
  // Held in the connector's queue until the reply outbox has recorded them; the activity id the
  // connector returns confirms the row (connector.h).
  bool holds_messages() const override { return true; }
  commands::MessageRef post_held(const commands::Message& message,
                                 std::shared_ptr<commands::OutboxTicket> ticket) override;
  void update_held(const commands::MessageRef& ref, const commands::Message& message,
                   std::shared_ptr<commands::OutboxTicket> ticket) override;
  void thread_reply_held(const commands::MessageRef& ref, const commands::Message& message,
                         std::shared_ptr<commands::OutboxTicket> ticket) override;
  std::string address() const override;

 private:
  ConnectorClient& connector_;
  ConversationTarget target_;
  std::string thread_;
};

// "teams:<conversation>:<thread>" and back ('%' and ':' percent-encoded inside the parts).
std::string teams_address(const std::string& conversation_id, const std::string& thread);
// False when `address` is not one of teams_address()'s.
bool parse_teams_address(const std::string& address, std::string& conversation_id,
                         std::string& thread);

class TeamsTransport final : public ChatTransport {
 public:
  // `intake`, `timers`, `verifier`, `credentials` and `refs` must outlive the transport.
  // `verifier` and `credentials` null: outgoing-webhook mode only (no /api/messages). `refs` null:
  // no proactive messages after a restart.
  TeamsTransport(boost::asio::any_io_executor executor, CommandIntake& intake, Timers& timers,
                 InboundVerifier* verifier, ConnectorCredentials* credentials,
                 storage::ConversationRefStore* refs, TeamsOptions options);
  ~TeamsTransport() override;
  TeamsTransport(const TeamsTransport&) = delete;
  TeamsTransport& operator=(const TeamsTransport&) = delete;

  std::string_view name() const override { return "teams"; }
  boost::asio::awaitable<Status> start() override;
  boost::asio::awaitable<void> stop(std::chrono::milliseconds grace) override;
  void on_fatal(std::function<void(std::string)> handler) override;
  std::unique_ptr<commands::Conversation> open(const std::string& address) override;
  // Workspace abilities: none. Creating a channel, adding members, pinning and topics need
  // Microsoft Graph application permissions (Channel.Create, ChannelMember.ReadWrite.All, ...)
  // that a Bot Framework registration does not carry; Shipmate does not call Graph, so callers
  // fall back to the conversation's thread (room_or_thread()).
  WorkspaceAbilities abilities() const override;
  Error unsupported_create_room() const override;
  boost::asio::awaitable<Result<std::string>> create_room(std::string room_name,
                                                          bool is_private) override;
  // Connector calls by method and status, and its 429 pauses (Teams has no connection to redo).
  Counters counters() const override;

  // One inbound request (what the routes run).
  boost::asio::awaitable<TeamsResponse> handle(TeamsRequest request);
  boost::asio::awaitable<TeamsResponse> handle_webhook(TeamsRequest request);

  // The port listened on (the shared listener's when mounted there; 0 before start()).
  int port() const;
  ConnectorClient& connector();
  const TeamsStats& stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace shipmate::bot::teams
