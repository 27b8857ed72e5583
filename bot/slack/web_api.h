// The Slack Web API client: method calls with the bot token, and the paced message queue that
// carries every reply Shipmate posts.
//
// Contract
// - Threading: event-loop thread only.
// - call(): POSTs JSON to <base_url><method> with "Authorization: Bearer <bot token>". An HTTP
//   429 is honoured: the call waits Retry-After seconds and tries again (up to `max_attempts`);
//   transport errors and 5xx are retried with backoff; {"ok":false,"error":E} becomes an Error
//   "chat.postMessage failed: E". The token never appears in errors or logs. Waits between
//   attempts go through a Timers (common/timer.h); a wait that is cancelled (the calling
//   coroutine's cancellation slot, or Timers::cancel_all) ends the call with the last failure,
//   without another attempt. Error kinds: Slack's token and permission
//   codes (invalid_auth, not_authed, token_revoked, missing_scope, ...) are `auth`,
//   channel_not_found `not_found`, name_taken `conflict`; transport errors keep the HTTP
//   client's kind (unavailable, tls); 429 and 5xx after the last attempt are `unavailable`.
// - The message queue: post/update/thread-reply jobs are queued per channel (bounded; a full
//   queue drops the job and logs it) and sent in order, one at a time per channel, paced by a
//   SendScheduler. A reply's reference is resolved to Slack's ts when its post completes, so an
//   update queued right after a post edits that very message.
// - Updates coalesce: an update() of a message whose previous update() is still queued (not yet
//   started) replaces that one's content instead of queuing a second chat.update, so N updates
//   of one message waiting behind a paced or rate-limited channel cost one call, with the last
//   content. Order toward the message's thread is kept: once a thread_reply() (or a post into
//   its thread) is queued after the waiting update, a later update queues behind that reply. No
//   post or reply is ever folded away, and the outbox's held updates (each a recorded row whose
//   sending is reported to its ticket) are never coalesced.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "bot/slack/send_scheduler.h"
#include "commands/reply.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/result.h"

namespace shipmate {
class Timers;
}
namespace shipmate::integrations::net {
class HttpClient;
}

namespace shipmate::bot::slack {

struct WebApiOptions {
  std::string base_url = "https://slack.com/api/";
  int max_attempts = 5;
  SendScheduler::Options pacing;
};

struct ApiReply {
  std::string body;  // the raw JSON object of a successful ({"ok":true}) answer
  std::map<std::string, std::string, std::less<>> strings;  // its top-level string fields
  // A top-level string field of the answer ("ts", "channel", "url", ...); empty when absent.
  std::string field(std::string_view name) const;
};

class WebApi {
 public:
  // The retry waits run on real time (a SteadyTimers the WebApi owns)...
  WebApi(boost::asio::any_io_executor executor, integrations::net::HttpClient& http,
         std::string bot_token, WebApiOptions options);
  // ...or on `timers`, which must outlive the WebApi (tests pass ManualTimers).
  WebApi(boost::asio::any_io_executor executor, integrations::net::HttpClient& http,
         std::string bot_token, WebApiOptions options, Timers& timers);
  ~WebApi();
  WebApi(const WebApi&) = delete;
  WebApi& operator=(const WebApi&) = delete;

  // One method call with a JSON object body. `token` overrides the bot token (the app-level
  // token for apps.connections.open).
  boost::asio::awaitable<Result<ApiReply>> call(std::string method, std::string json_body,
                                                std::string token = "");

  // The same, except that a 429 is not waited out: it ends the call at once with
  // rate_limited_error() (common/rate_limit.h) carrying Slack's Retry-After, for callers that
  // pace themselves (the incident room-operation queue). invite() and create_channel() call
  // this way too.
  boost::asio::awaitable<Result<ApiReply>> call_unheld(std::string method, std::string json_body);

  // The same with an application/x-www-form-urlencoded body (integrations::net::form_encode the
  // values): Slack's read methods (conversations.list, conversations.history) take forms.
  boost::asio::awaitable<Result<ApiReply>> call_form(std::string method, std::string form_body);

  // Queued, paced chat operations. `ref` names a message this queue posted (see post()).
  using LocalRef = std::uint64_t;
  LocalRef post(const std::string& channel, const std::string& thread_ts,
                const commands::Message& message);
  void update(LocalRef ref, const commands::Message& message);
  void thread_reply(LocalRef ref, const commands::Message& message);
  void post_ephemeral(const std::string& channel, const std::string& user,
                      const commands::Message& message);

  // The reply outbox's variants (bot/reply_outbox.h): queued like the above, but a job waits in
  // its channel's queue until ticket->release() (dropped on cancel(), its existing_id then
  // standing in for a post's ts), carries the ticket's key as message metadata (event type
  // kOutboxEventType, payload {"key": ...}), is sent once (a failure is reported, not retried
  // here; a 429 still holds the channel and retries) and reports ts or the Error to the ticket.
  static constexpr const char* kOutboxEventType = "shipmate_reply";
  LocalRef post_held(const std::string& channel, const std::string& thread_ts,
                     const commands::Message& message,
                     std::shared_ptr<commands::OutboxTicket> ticket);
  void update_held(LocalRef ref, const commands::Message& message,
                   std::shared_ptr<commands::OutboxTicket> ticket);
  void thread_reply_held(LocalRef ref, const commands::Message& message,
                         std::shared_ptr<commands::OutboxTicket> ticket);
  // A recorded reply sent again after a restart or a failure: `intent` "post" into
  // channel/thread_ts, "update" of the message `target_ts`, "thread_reply" in its thread (with no
  // target_ts both are posts into channel/thread_ts).
  void send_recorded(const std::string& intent, const std::string& channel,
                     const std::string& thread_ts, const std::string& target_ts,
                     const commands::Message& message,
                     std::shared_ptr<commands::OutboxTicket> ticket);
  // The bot's messages that carry an outbox key: conversations.replies of the thread
  // `thread_ts`, or conversations.history of the channel since `since`, with
  // include_all_metadata; key -> ts. Up to 5 pages of 200.
  boost::asio::awaitable<Result<std::map<std::string, std::string>>> find_keyed(
      std::string channel, std::string thread_ts, EpochMillis since);

  // Queues a file upload of `content` (output too long for a message) into channel/thread,
  // with `comment` as the message that introduces it.
  void upload_snippet(const std::string& channel, const std::string& thread_ts,
                      const std::string& title, const std::string& content,
                      const std::string& comment);

  // Creates a channel (incident rooms); returns its id. Errors as in call(), e.g. name_taken.
  boost::asio::awaitable<Result<std::string>> create_channel(std::string name, bool is_private);
  // Invites users into a channel; users already there (already_in_channel) count as invited.
  boost::asio::awaitable<Status> invite(std::string channel, std::vector<std::string> users);

  // Slack's ts for a posted message once known.
  std::optional<std::string> ts_of(LocalRef ref) const;
  // Jobs queued or in flight; completes when the queue is empty (tests, shutdown).
  boost::asio::awaitable<void> drain();
  std::size_t pending() const;
  // Drops every queued job (logging how many) and stops the queue; calls in flight finish.
  void shutdown();

  // Counters (benchmarks, tests).
  std::uint64_t calls_made() const;
  std::uint64_t rate_limited_count() const;
  // Updates folded into an update of the same message still queued (no call of their own).
  std::uint64_t updates_coalesced() const;
  // Every call by method and HTTP status (0: no answer), for /metrics.
  const std::vector<metrics::CallCount>& call_counts() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace shipmate::bot::slack
