// The Bot Framework connector client: how Shipmate posts, threads, updates and deletes messages
// in Teams, with the paced queue every reply goes through.
//
// Calls (each returns once the connector answered, after retries):
// - send():   POST {serviceUrl}/v3/conversations/{id}/activities            (a new message)
//             POST {serviceUrl}/v3/conversations/{id}/activities/{replyTo}  (a reply in a thread)
//             and returns the new activity's id;
// - update(): PUT  {serviceUrl}/v3/conversations/{id}/activities/{activityId} (in place);
// - remove(): DELETE the same URL.
// The conversation id is percent-encoded in the path. Each call carries "Authorization: Bearer"
// from ConnectorCredentials; a 401 invalidates the token and the call is tried once more with a
// fresh one. Answers 429, 412, 502, 503 and 504 are retried (up to max_attempts) after the
// Retry-After header when there is one, else after a jittered exponential back-off
// (retry_delay in pacing.h); a PUT or DELETE is also retried after a transport failure, a POST is
// not (it may have arrived). Every wait goes through a Timers (common/timer.h).
//
// Service URLs: a call is only ever made to a service URL that was allowed first (allow(): the
// transport allows a serviceUrl once a verified token vouched for it, or when it loads a stored
// conversation reference that was recorded that way). Anything else fails without a request.
//
// The queue (post/thread_reply/update/remove with LocalRefs): jobs are queued per thread (the
// conversation id) and sent one at a time per thread, in order, paced by a ThreadPacer within
// Teams' limits; a 429 pauses that thread. A LocalRef names a message a post() queued; it
// resolves to Teams' activity id when that post completes, so an update queued right after a
// post edits that very message. The queue is bounded (max_queued); a full queue drops the job
// and logs it. Failed jobs are logged (with the connector's answer, redacted) and dropped; a job
// the reply outbox holds a ticket for reports its failure to the outbox instead, which decides.
// An update() of a message whose previous update() still waits in the queue replaces that one's
// content (the last wins, one PUT) unless a reply under the message, a held update or a removal
// of it was queued in between; posts, replies and held updates are never folded.
//
// Contract: event-loop thread only. The HttpClient, ConnectorCredentials and Timers must outlive
// the client. Error kinds: auth (401 twice, 403), not_found (404), conflict (409/412 after
// retries), unavailable (429/5xx after retries, transport), invalid (400, a URL not allowed).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "bot/teams/adaptive_card.h"
#include "commands/reply.h"
#include "common/metrics.h"
#include "common/result.h"

namespace shipmate {
class Timers;
}
namespace shipmate::integrations::net {
class HttpClient;
}

namespace shipmate::bot::teams {

class ConnectorCredentials;

struct ConnectorOptions {
  int max_attempts = 6;
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_cap{30'000};
  std::size_t max_queued = 10'000;
  ButtonStyle buttons = ButtonStyle::execute;
  // The pacer's clock; tests pass manual time.
  std::function<std::chrono::steady_clock::time_point()> now = [] {
    return std::chrono::steady_clock::now();
  };
  std::chrono::milliseconds timeout{15'000};
};

// Where a message goes: the service URL and conversation of the activity it answers.
struct ConversationTarget {
  std::string service_url;
  std::string conversation_id;
};

struct ConnectorStats {
  std::uint64_t calls = 0;              // HTTP requests made
  std::uint64_t rate_limited = 0;       // 429 answers
  std::uint64_t retries = 0;            // attempts after the first
  std::uint64_t refused_urls = 0;       // calls refused because the service URL was not allowed
  std::uint64_t dropped = 0;            // jobs dropped (queue full, failed)
  std::uint64_t updates_coalesced = 0;  // updates folded into a queued update of the same message
  // Every HTTP request by method (POST, PUT, DELETE) and status (0: no answer), for /metrics.
  metrics::CallCounts by_method;
};

class ConnectorClient {
 public:
  ConnectorClient(boost::asio::any_io_executor executor, integrations::net::HttpClient& http,
                  ConnectorCredentials& credentials, Timers& timers, ConnectorOptions options);
  ~ConnectorClient();
  ConnectorClient(const ConnectorClient&) = delete;
  ConnectorClient& operator=(const ConnectorClient&) = delete;

  void allow(const std::string& service_url);
  bool allowed(const std::string& service_url) const;

  // Direct calls. `activity_json` is a whole activity object.
  boost::asio::awaitable<Result<std::string>> send(ConversationTarget target,
                                                   std::string reply_to_id,
                                                   std::string activity_json);
  boost::asio::awaitable<Status> update(ConversationTarget target, std::string activity_id,
                                        std::string activity_json);
  boost::asio::awaitable<Status> remove(ConversationTarget target, std::string activity_id);

  // The paced queue. `reply_to` threads a post (empty: a new message in the conversation).
  using LocalRef = std::uint64_t;
  LocalRef post(const ConversationTarget& target, const std::string& reply_to,
                const commands::Message& message);
  void update(LocalRef ref, const commands::Message& message);
  void thread_reply(LocalRef ref, const commands::Message& message);
  void remove(LocalRef ref);
  // The reply outbox's held variants (bot/reply_outbox.h, commands::OutboxTicket): queued in
  // order like the calls above, but a job waits in its thread's queue until ticket->release()
  // and is dropped after ticket->cancel() (a cancelled post's ref then stands for
  // ticket->existing_id, the activity an earlier run posted). The answer goes to ticket->done():
  // the activity id Teams gave, or the Error, whose kind and reach say whether Teams may have
  // acted on it. `parts` is a message split by split_long_message(): the first answers for the
  // ticket, the others follow it in its thread (or after it) and are dropped with it.
  LocalRef post_held(const ConversationTarget& target, const std::string& reply_to,
                     const std::vector<commands::Message>& parts,
                     std::shared_ptr<commands::OutboxTicket> ticket);
  void update_held(LocalRef ref, const commands::Message& message,
                   std::shared_ptr<commands::OutboxTicket> ticket);
  void thread_reply_held(LocalRef ref, const std::vector<commands::Message>& parts,
                         std::shared_ptr<commands::OutboxTicket> ticket);
  // A recorded reply sent outside its command (a retry, or after a restart): intent "post" into
  // `target` (threaded under `reply_to` when not empty), "update" of the activity `activity_id`
  // (PUT), "thread_reply" under it; with no activity id known, the message is posted anew.
  void send_recorded(const std::string& intent, const ConversationTarget& target,
                     const std::string& reply_to, const std::string& activity_id,
                     const commands::Message& message,
                     std::shared_ptr<commands::OutboxTicket> ticket);
  // Queues an update of an activity known by its Teams id (a card a button was pressed on).
  void update_activity(const ConversationTarget& target, const std::string& activity_id,
                       const commands::Message& message);

  // Teams' id for a message post() queued, once it was posted.
  std::optional<std::string> activity_id_of(LocalRef ref) const;
  // What the card with this Teams id shows now, when it has buttons and is among the last 2,000
  // such cards this client posted or updated; nullopt otherwise.
  std::optional<commands::Message> card_of(std::string_view activity_id) const;
  // Jobs queued or in flight.
  std::size_t pending() const;
  // Completes when nothing is queued or in flight.
  boost::asio::awaitable<void> drain();
  // Drops queued jobs (logging how many); calls in flight finish.
  void shutdown();

  const ConnectorStats& stats() const;

  // Called (on the event loop, each time) when a call cannot get a token because the login
  // endpoint refused the app's credentials (ErrorKind::auth: a revoked or wrong client secret,
  // invalid_client, an unknown app id). The transport treats it as fatal.
  void on_credentials_refused(std::function<void(const Error&)> handler);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// "19:abc@thread.tacv2;messageid=1" -> "19%3Aabc%40thread.tacv2%3Bmessageid%3D1".
std::string encode_path_segment(std::string_view text);

}  // namespace shipmate::bot::teams
