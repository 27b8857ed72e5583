// FakeSlack: a stand-in for slack.com in tests, speaking the real wire protocols over real sockets
// (see /work/shared/protocols.md §1-3).
//
// Contract:
// - The constructor binds 127.0.0.1 on a free port and starts serving on a background thread with
//   its own io_context; the destructor closes every connection and joins that thread.
// - One port serves plain HTTP, or TLS when Options::tls is set (certificates from
//   make_test_certificates; clients trust ca_path()). Routes:
//     POST /api/<method>         the Web API (JSON or form bodies, Bearer token; always HTTP 200
//                                except injected 429s)
//     GET  /link/?ticket=…       the Socket Mode websocket (tickets come from
//                                apps.connections.open and are single-use: an unknown ticket
//                                gets HTTP 401, a reused one 403)
//     POST /upload/<file_id>     upload URLs handed out by files.getUploadURLExternal
//     POST /response/<n>         response_url() targets (recorded as method "response_url")
// - conversations.history (channel, oldest, latest, inclusive, limit, cursor) lists a channel's
//   messages newest first, without thread replies; conversations.replies (channel, ts, limit,
//   cursor) lists a thread oldest first, its parent first. Both include a message's `metadata`
//   only with include_all_metadata=true, as Slack does. The fake holds only messages posted
//   through it, so a thread whose parent is a user's message (never posted here) gets a stub
//   parent {type, ts, thread_ts, reply_count}; a ts with neither parent nor replies is
//   thread_not_found. A cursor is the next offset as text.
// - Web API checks, in order: invalid_json / json_not_object (JSON bodies), unknown_method,
//   injected 429s, injected failures, set_connections_open_error, then the token: missing →
//   not_authed; the other kind of token (xapp for a bot method or xoxb for
//   apps.connections.open) → not_allowed_token_type; anything else wrong → invalid_auth. The token
//   is the Bearer header, or a `token` form field (not for JSON bodies, nor for
//   apps.connections.open). Every request is recorded, whatever the answer. A call is recorded
//   no later than its effect: the message it stored, the upload it filled or the channel it made
//   becomes visible in the same critical section as the call, so a test that waited for an effect
//   may count calls at once.
// - Every public method is thread-safe and may be called from any thread while the fake runs.
//   Recorded data is returned as copies. Socket Mode controls run on the fake's thread and return
//   once the frame is queued (not yet written); they throw std::out_of_range for a connection index
//   that is not open and std::logic_error when there is no open connection at all.
// - Connection indexes are assigned 0, 1, 2, … in accept order and never reused.
// - The payload builders are static and return JSON text in the exact shapes Slack sends.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace shipmate::testing {

class FakeSlack {
 public:
  struct Options {
    bool tls = false;
    std::string app_token = "xapp-1-A1-fake-app-token";
    std::string bot_token = "xoxb-1-fake-bot-token";
    std::string bot_user_id = "UBOT";
    std::string bot_id = "B1";
    std::string team_id = "T1";
    std::string app_id = "A1";
    // How often the server pings each Socket Mode connection (Slack's clients give up after 30 s
    // without one).
    std::chrono::milliseconds server_ping_interval{5000};
  };

  // One Web API (or upload / response_url) request, recorded before it is answered.
  struct ApiCall {
    std::string method;          // "chat.postMessage"; "upload" or "response_url" for those routes
    std::string target;          // request target as sent
    std::string content_type;    // header value as sent
    std::string authorization;   // header value as sent ("" when absent)
    std::string token;           // the token used: Bearer header, else form field `token`
    std::string body;            // raw request body
    boost::json::object params;  // JSON body as is; form bodies as an object of strings
    int status = 0;              // HTTP status answered
    std::string response;        // body answered

    // params[key] as text: strings as they are, anything else serialized; "" when absent.
    std::string param(const std::string& key) const;
    // params[key] as JSON: a string holding JSON (form bodies) is parsed; null when absent.
    boost::json::value param_json(const std::string& key) const;
  };

  // A message the fake holds (from chat.postMessage, chat.update, chat.postEphemeral).
  struct Message {
    std::string channel;
    std::string ts;
    std::string text;
    std::string blocks;          // JSON array text, "" when none
    std::string thread_ts;       // "" when not in a thread
    std::string ephemeral_user;  // set for chat.postEphemeral
    int updates = 0;             // times chat.update changed it
    std::string user;            // a person's message (add_user_message); "" for the bot's
    std::string metadata;        // message metadata as JSON object text, "" when none
  };

  struct Upload {
    std::string file_id;
    std::string filename;
    std::size_t declared_length = 0;
    std::string bytes;  // what was POSTed to the upload URL (file part of a multipart body)
    bool uploaded = false;
    bool completed = false;
    std::string title;
    std::string channel_id;
    std::string initial_comment;
    std::string thread_ts;
  };

  // A client text frame that parsed as a JSON object with "envelope_id".
  struct Ack {
    int connection = -1;
    std::string envelope_id;
    std::string payload;  // JSON text of "payload"; "" when the ack had none
    std::string raw;
  };

  // Any other frame from a client (not an ack).
  struct ClientFrame {
    int connection = -1;
    std::string text;
    bool binary = false;
  };

  struct Envelope {
    std::string envelope_id;
    std::string type;
    int connection = -1;
    std::string json;  // the frame as sent
  };

  FakeSlack();
  explicit FakeSlack(Options options);
  ~FakeSlack();
  FakeSlack(const FakeSlack&) = delete;
  FakeSlack& operator=(const FakeSlack&) = delete;

  const Options& options() const;
  int port() const;
  std::string base_url() const;  // "http(s)://127.0.0.1:PORT"
  std::string api_url() const;   // base_url() + "/api/" (what clients use as slackApiUrl)
  std::string ca_path() const;   // TLS only: PEM file of the CA that signed the server certificate
  std::string ca_pem() const;
  // A URL on this fake for payload builders' response_url; POSTs to it are recorded as calls.
  std::string response_url();

  // ---- Web API: records and injection ----
  std::vector<ApiCall> calls() const;
  std::vector<ApiCall> calls(const std::string& method) const;
  // Waits until at least `count` calls of `method` ("" = any) were recorded.
  bool wait_for_calls(const std::string& method, std::size_t count,
                      std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;
  // The next `times` calls of `method` answer {"ok":false,"error":error_code}.
  void fail_next(const std::string& method, const std::string& error_code, int times = 1);
  // The next `times` calls of `method` answer HTTP 429, Retry-After,
  // {"ok":false,"error":"ratelimited"}.
  void rate_limit_next(const std::string& method, int retry_after_seconds, int times = 1);
  // Every apps.connections.open answers {"ok":false,"error":error} until cleared with "".
  void set_connections_open_error(const std::string& error);

  std::vector<Message> messages() const;
  std::optional<Message> message(const std::string& channel, const std::string& ts) const;
  std::vector<Upload> uploads() const;
  // Channel id → members, for channels made by conversations.create (the bot is a member) or
  // given to conversations.invite.
  std::map<std::string, std::vector<std::string>> channel_members() const;
  // Channel ids archived by conversations.archive.
  std::set<std::string> archived_channels() const;
  // Channel id → topic set by conversations.setTopic.
  std::map<std::string, std::string> channel_topics() const;
  // Channel id → ts of the messages pinned there (pins.add), in pin order.
  std::map<std::string, std::vector<std::string>> channel_pins() const;
  // A channel that exists before the test (conversations.list and conversations.info show it,
  // made by `creator` now; conversations.history, pins.add and setTopic accept it); returns its
  // id.
  std::string add_channel(const std::string& name, bool is_private = false,
                          const std::string& creator = "U0PERSON");
  // A message a person posted (conversations.history returns it); returns its ts.
  std::string add_user_message(const std::string& channel, const std::string& user,
                               const std::string& text);

  // ---- Socket Mode ----
  // Sends {"envelope_id","type","payload","accepts_response_payload","retry_attempt",
  // "retry_reason"}; accepts_response_payload is false for events_api, true otherwise.
  // connection -1 picks open connections round robin. Returns the envelope id. Throws when
  // payload_json is not JSON.
  std::string send_envelope(const std::string& type, const std::string& payload_json,
                            int retry_attempt = 0, const std::string& retry_reason = "",
                            const std::string& envelope_id = "", int connection = -1);
  // connection -1: round robin, as for send_envelope.
  void send_raw(const std::string& text, int connection = -1);
  // For these three, connection -1 means every open connection.
  void send_disconnect(const std::string& reason, int connection = -1);
  // Drops the TCP connection with a reset: no close frame, no TLS close_notify.
  void cut(int connection = -1);
  // Starts the websocket closing handshake with `code`.
  void close(int connection = -1, int code = 1000);

  int connection_count() const;   // open now
  int total_connections() const;  // accepted websockets, ever
  std::vector<int> open_connections() const;
  bool wait_for_connections(int count,
                            std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;
  bool wait_for_closed(int connection,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;
  int rejected_upgrades() const;  // websocket upgrades refused (unknown or reused ticket)

  std::vector<Envelope> envelopes() const;
  std::vector<Ack> acks() const;
  bool wait_for_acks(std::size_t count,
                     std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;
  int ack_count(const std::string& envelope_id) const;
  std::map<std::string, int> ack_counts() const;  // envelope id → acks received
  std::vector<ClientFrame> client_frames() const;
  int pings_from_clients() const;  // websocket pings received (answered automatically)
  int pongs_from_clients() const;  // answers to the fake's own pings
  // Text frames (hello, envelopes, disconnects, raw) whose write to a socket completed, on all
  // connections together: a frame counted here is in the kernel's buffers, not just queued.
  int texts_written() const;
  bool wait_for_texts_written(int count,
                              std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;

  // ---- Payload builders (JSON text, protocols.md §2) ----
  struct MentionSpec {
    std::string event_id = "Ev0001";
    std::string user = "U1";
    std::string channel = "C1";
    std::string text = "<@UBOT> help";
    std::string ts = "1700000000.000100";
    std::string thread_ts;  // omitted when empty
    std::string team_id = "T1";
    std::string app_id = "A1";
    std::string bot_user_id = "UBOT";
  };
  // An event_callback body whose event is an app_mention.
  static std::string app_mention_event(const MentionSpec& spec);

  struct MessageSpec {
    std::string event_id = "Ev0002";
    std::string user = "U1";
    std::string channel = "D1";
    std::string channel_type = "im";
    std::string text = "help";
    std::string ts = "1700000000.000200";
    std::string thread_ts;  // omitted when empty
    std::string subtype;    // omitted when empty
    std::string bot_id;     // omitted when empty (adds bot_profile too)
    std::string team_id = "T1";
    std::string app_id = "A1";
    std::string bot_user_id = "UBOT";
  };
  // An event_callback body whose event is a message (a DM by default).
  static std::string message_event(const MessageSpec& spec);

  struct ReactionSpec {
    std::string event_id = "Ev0004";
    std::string user = "U1";
    std::string reaction = "pushpin";
    std::string channel = "C1";
    std::string item_ts = "1700000000.000100";  // the message reacted to
    std::string item_user = "U2";               // its author
    std::string event_ts = "1700000001.000100";
    std::string team_id = "T1";
    std::string app_id = "A1";
    std::string bot_user_id = "UBOT";
  };
  // An event_callback body whose event is reaction_added on a message.
  static std::string reaction_added_event(const ReactionSpec& spec);

  struct SlashSpec {
    std::string user_id = "U1";
    std::string user_name = "alice";
    std::string channel_id = "C1";
    std::string channel_name = "deploys";
    std::string command = "/shipmate";
    std::string text = "help";
    std::string trigger_id = "1234.5678.abcdef";
    std::string response_url = "https://hooks.slack.com/commands/T1/1/fake";
    std::string team_id = "T1";
    std::string app_id = "A1";
  };
  // The slash_commands payload object (what Socket Mode puts in "payload").
  static std::string slash_command(const SlashSpec& spec);

  struct BlockActionSpec {
    std::string user_id = "U1";
    std::string user_name = "alice";
    std::string channel_id = "C1";
    std::string channel_name = "deploys";
    std::string message_ts = "1700000000.000300";
    std::string thread_ts;  // omitted when empty
    std::string block_id = "deploy-1";
    std::string action_id = "approve";
    std::string value = "1";
    std::string button_text = "Approve";
    std::string trigger_id = "1234.5678.abcdef";
    std::string response_url = "https://hooks.slack.com/actions/T1/1/fake";
    std::string team_id = "T1";
    std::string app_id = "A1";
    std::string bot_user_id = "UBOT";
    std::string bot_id = "B1";
  };
  // A block_actions payload for one button click (Socket Mode type "interactive").
  static std::string block_actions(const BlockActionSpec& spec);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shipmate::testing
