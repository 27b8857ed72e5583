#include "bot/slack/web_api.h"

#include <spdlog/spdlog.h>

#include <simdjson.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <deque>
#include <map>
#include <set>

#include "bot/slack/block_kit.h"
#include "common/rate_limit.h"
#include "common/redact.h"
#include "common/strings.h"
#include "common/timer.h"
#include "integrations/net/http_client.h"

namespace shipmate::bot::slack {
namespace asio = boost::asio;
namespace json = boost::json;
using integrations::net::HttpRequest;

std::string ApiReply::field(std::string_view name) const {
  auto found = strings.find(name);
  return found == strings.end() ? std::string() : found->second;
}

namespace {

// One attempt's outcome, before retry policy.
struct Attempt {
  std::optional<ApiReply> reply;
  std::optional<std::chrono::seconds> retry_after;  // 429
  bool retryable = false;                           // transport error or 5xx
  std::string error;
  ErrorKind kind = ErrorKind::internal;
  Reach reach = Reach::unknown;
};

// Slack's error codes that say the token or the app cannot be used as it is.
bool is_auth_error_code(std::string_view code) {
  for (std::string_view auth :
       {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
        "user_removed_from_team", "team_disabled", "link_disabled", "no_permission",
        "missing_scope", "not_allowed_token_type"}) {
    if (code == auth)
      return true;
  }
  return false;
}

// A Web API answer: {"ok":true,...} gives its top-level string fields; anything else gives the
// error to report after the method name (": the answer is not a JSON object", " failed: E").
Result<ApiReply> parse_answer(const std::string& body, int status) {
  // Kept per thread: every reply's answer comes through here.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (parser.parse(body).get_object().get(object) != simdjson::SUCCESS)
    return make_error(": the answer is not a JSON object (HTTP " + std::to_string(status) + ")",
                      ErrorKind::unavailable);
  bool ok = false;
  if (object["ok"].get_bool().get(ok) != simdjson::SUCCESS || !ok) {
    std::string_view error;
    if (object["error"].get_string().get(error) != simdjson::SUCCESS)
      error = "unknown";
    const ErrorKind kind = is_auth_error_code(error)      ? ErrorKind::auth
                           : error == "channel_not_found" ? ErrorKind::not_found
                           : error == "name_taken"        ? ErrorKind::conflict
                                                          : ErrorKind::internal;
    return make_error(" failed: " + std::string(error), kind);
  }
  ApiReply reply;
  for (const auto field : object) {
    std::string_view text;
    if (field.value.get_string().get(text) == simdjson::SUCCESS)
      reply.strings.emplace(std::string(field.key), std::string(text));
  }
  return reply;
}

}  // namespace

constexpr const char* kJson = "application/json; charset=utf-8";
constexpr const char* kForm = "application/x-www-form-urlencoded";

struct WebApi::Impl : std::enable_shared_from_this<Impl> {
  enum class Kind { post, update, thread_reply, ephemeral, upload };
  struct Job {
    Kind kind = Kind::post;
    LocalRef ref = 0;  // post: the ref it creates; update/thread_reply: the message it targets
    std::string channel;
    std::string thread_ts;
    std::string user;
    commands::Message message;
    std::string title = {};  // upload: the snippet's title; message.text is its content
    // The reply outbox's hold (bot/reply_outbox.h): sent only once released, its key carried as
    // message metadata, the answer reported to it.
    std::shared_ptr<commands::OutboxTicket> ticket = {};
    std::string target_ts = {};  // update / thread_reply of a message known only by its ts
  };

  Impl(asio::any_io_executor executor_in, integrations::net::HttpClient& http_in,
       std::string token_in, WebApiOptions options_in, Timers* injected_timers)
      : executor(std::move(executor_in)),
        own_timers(injected_timers ? nullptr : std::make_unique<SteadyTimers>(executor)),
        timers(injected_timers ? injected_timers : own_timers.get()),
        http(http_in),
        token(std::move(token_in)),
        options(std::move(options_in)),
        scheduler(options.pacing),
        wake(executor),
        idle(executor) {
    register_secret(token);
  }

  // `body` by value: a reply's body (most of the request) is moved in, not copied.
  asio::awaitable<Attempt> attempt(std::string_view method, std::string body,
                                   const std::string& auth_token,
                                   const char* content_type = kJson) {
    HttpRequest request;
    request.method = "POST";
    request.url.reserve(options.base_url.size() + method.size());
    request.url += options.base_url;
    request.url += method;
    // Made in place: a braced list of headers is copied into the vector, two allocations more.
    request.headers.reserve(2);
    std::string& bearer = request.headers.emplace_back("Authorization", std::string()).second;
    bearer.reserve(7 + auth_token.size());
    bearer += "Bearer ";
    bearer += auth_token;
    request.headers.emplace_back("Content-Type", content_type);
    request.body = std::move(body);
    ++calls_made;
    auto response = co_await http.send(std::move(request));
    call_counts.count(method, response ? response->status : 0);
    Attempt result;
    if (!response) {
      // TLS trouble (a certificate that does not verify) will not clear up on a retry.
      result.retryable = response.error().kind != ErrorKind::tls;
      result.error = redact(response.error().message);
      result.kind = response.error().kind;
      result.reach = response.error().reach;
      co_return result;
    }
    if (response->status == 429) {
      long seconds = 1;
      try {
        seconds = std::stol(response->header("Retry-After"));
      } catch (const std::exception&) {
      }
      result.retry_after = std::chrono::seconds(std::clamp<long>(seconds, 0, 600));
      ++rate_limited;
      result.error = std::string(method) + " was rate limited";
      result.kind = ErrorKind::unavailable;
      co_return result;
    }
    if (response->status >= 500) {
      result.retryable = true;
      result.error = std::string(method) + ": HTTP " + std::to_string(response->status);
      result.kind = ErrorKind::unavailable;
      result.reach = Reach::sent;
      co_return result;
    }
    auto reply = parse_answer(response->body, response->status);
    if (!reply) {
      result.error = std::string(method) + reply.error().message;
      result.kind = reply.error().kind;
      co_return result;
    }
    reply->body = std::move(response->body);
    result.reply = std::move(*reply);
    co_return result;
  }

  asio::awaitable<Result<ApiReply>> call(std::string method, std::string body, std::string auth,
                                         const char* content_type = kJson,
                                         bool hold_on_rate_limit = true) {
    std::string last_error;
    ErrorKind last_kind = ErrorKind::internal;
    for (int attempt_number = 1; attempt_number <= options.max_attempts; ++attempt_number) {
      const std::string& auth_token = auth.empty() ? token : auth;
      const std::string_view method_name = method;
      std::string sent_body = body;  // each attempt sends the same body
      Attempt result =
          co_await attempt(method_name, std::move(sent_body), auth_token, content_type);
      if (result.reply)
        co_return std::move(*result.reply);
      last_error = result.error;
      last_kind = result.kind;
      // An unheld call leaves a 429 to its caller, with the wait Slack asked for.
      if (result.retry_after && !hold_on_rate_limit)
        co_return rate_limited_error(result.error, *result.retry_after);
      // No wait after the last attempt: nothing follows it (an unreachable API used to be
      // reported 6.4 s after its last refusal).
      if (attempt_number == options.max_attempts)
        break;
      if (result.retry_after) {
        spdlog::warn("slack: {}; retrying in {} s", result.error, result.retry_after->count());
        const std::chrono::milliseconds wait = *result.retry_after;
        const bool waited = co_await timers->sleep_for(wait);
        if (!waited)
          break;  // cancelled (the caller stopped): no further attempt
        continue;
      }
      if (!result.retryable)
        break;
      const std::chrono::milliseconds backoff(200 << std::min(attempt_number, 5));
      const bool waited = co_await timers->sleep_for(backoff);
      if (!waited)
        break;
    }
    co_return make_error(last_error, last_kind);
  }

  // Written as text: the blocks are already JSON, and parsing them into a tree only to
  // serialize it again cost about as much as the rest of a reply's rendering.
  static std::string message_body(const Job& job, const std::string& ts) {
    std::string body;
    // One allocation for the whole body instead of growing it step by step.
    body.reserve(320 + 2 * job.message.text.size());
    body = "{\"channel\":";
    auto add = [&body](std::string_view name, std::string_view value) {
      body += ",\"";
      body += name;
      body += "\":";
      append_json_string(body, value);
    };
    append_json_string(body, job.channel);
    add("text", fallback_text(job.message));
    body += ",\"blocks\":";
    append_blocks(body, job.message);
    if (!ts.empty())
      add("ts", ts);
    if (!job.thread_ts.empty())
      add("thread_ts", job.thread_ts);
    if (!job.user.empty())
      add("user", job.user);
    if (job.ticket) {
      // Looked for after a restart (find_keyed): did this reply leave before the crash?
      body += ",\"metadata\":{\"event_type\":";
      append_json_string(body, kOutboxEventType);
      body += ",\"event_payload\":{\"key\":";
      append_json_string(body, job.ticket->key);
      body += "}}";
    }
    body += '}';
    return body;
  }

  // Turns a queued job into the method call it needs, given what is known by now. The method's
  // name is a literal (a std::string of "chat.postMessage" was an allocation per reply).
  std::pair<std::string_view, std::string> request_for(Job& job) {
    switch (job.kind) {
      case Kind::update: {
        if (!job.target_ts.empty())
          return {"chat.update", message_body(job, job.target_ts)};
        auto ts = posted.find(job.ref);
        if (ts != posted.end())
          return {"chat.update", message_body(job, ts->second)};
        // The original post never made it: say it as a new message instead of losing it.
        return {"chat.postMessage", message_body(job, "")};
      }
      case Kind::thread_reply: {
        auto ts = posted.find(job.ref);
        if (!job.target_ts.empty())
          job.thread_ts = job.target_ts;
        else if (ts != posted.end())
          job.thread_ts = ts->second;
        return {"chat.postMessage", message_body(job, "")};
      }
      case Kind::ephemeral:
        return {"chat.postEphemeral", message_body(job, "")};
      case Kind::post:
      case Kind::upload:
        break;
    }
    return {"chat.postMessage", message_body(job, "")};
  }

  // An unheld update of a message (a card refreshed in place) that will not be sent for itself.
  static bool coalescable(const Job& job) {
    return job.kind == Kind::update && !job.ticket && job.target_ts.empty() && job.ref != 0;
  }

  // A job that changes a message or puts something in its thread (a held update, a thread
  // reply, a post into that thread): the update queued before it must be sent as it is, before
  // it, so a later update of that message no longer replaces it.
  void close_updates_before(const Job& job) {
    if (queued_updates.empty())
      return;
    if (job.ref != 0 && (job.kind == Kind::update || job.kind == Kind::thread_reply))
      queued_updates.erase(job.ref);
    const std::string& ts = job.target_ts.empty() ? job.thread_ts : job.target_ts;
    if (ts.empty())
      return;
    std::erase_if(queued_updates, [&](const auto& entry) {
      auto found = posted.find(entry.first);
      return found != posted.end() && found->second == ts;
    });
  }

  LocalRef enqueue(Job job) {
    if (stopped)
      return job.ref;
    if (coalescable(job)) {
      // The same message's update still queued (not started) takes this one's content: the
      // last wins, in one chat.update (an alert batch refreshes one card once per notification).
      auto queued = queued_updates.find(job.ref);
      if (queued != queued_updates.end()) {
        auto waiting = jobs.find(queued->second);
        if (waiting != jobs.end()) {
          waiting->second.message = std::move(job.message);
          ++updates_coalesced;
          return job.ref;
        }
        queued_updates.erase(queued);
      }
    } else {
      close_updates_before(job);
    }
    const std::uint64_t id = next_job++;
    const std::string channel = job.channel;
    if (!scheduler.push(channel, id)) {
      spdlog::error("slack: message queue full ({} queued); dropping a reply to {}",
                    scheduler.queued(), channel);
      return job.ref;
    }
    const LocalRef ref = job.ref;
    if (coalescable(job))
      queued_updates[ref] = id;
    jobs.emplace(id, std::move(job));
    kick();
    return ref;
  }

  // Jobs the scheduler lets go now start here at once; the pump runs only while some job waits
  // for its channel or its pacing. (Starting every job from the pump cost two event-loop turns
  // per reply, its start and its wake-up, each an epoll_wait at one command in flight.)
  void kick() {
    if (pump_running) {
      wake.cancel();
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    for (auto next = scheduler.next(now); next.job; next = scheduler.next(now))
      start(shared_from_this(), *next.job, std::move(next.channel));
    if (scheduler.queued() > 0) {
      pump_running = true;
      asio::co_spawn(executor, pump(shared_from_this()), asio::detached);
    }
  }

  bool busy() const { return pump_running || in_flight > 0 || scheduler.queued() > 0; }

  static asio::awaitable<void> pump(std::shared_ptr<Impl> self) {
    while (true) {
      const auto now = std::chrono::steady_clock::now();
      auto next = self->scheduler.next(now);
      if (next.job) {
        start(self, *next.job, std::move(next.channel));
        continue;
      }
      if (!next.wake_at && self->in_flight == 0 && self->scheduler.queued() == 0) {
        self->pump_running = false;
        self->idle.cancel();
        co_return;
      }
      self->wake.expires_at(next.wake_at.value_or(now + std::chrono::hours(1)));
      boost::system::error_code ignored;
      co_await self->wake.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
  }

  // Slack's file upload: ask for an upload URL, POST the bytes there, then share the file.
  static asio::awaitable<Attempt> upload(std::shared_ptr<Impl> self, Job job) {
    using integrations::net::form_encode;
    const std::string filename = "output.txt";
    std::string request =
        "filename=" + form_encode(filename) + "&length=" + std::to_string(job.message.text.size());
    const std::string_view get_url = "files.getUploadURLExternal";
    Attempt step = co_await self->attempt(get_url, std::move(request), self->token, kForm);
    if (!step.reply)
      co_return step;
    const std::string upload_url = step.reply->field("upload_url");
    const std::string file_id = step.reply->field("file_id");

    HttpRequest bytes;
    bytes.method = "POST";
    bytes.url = upload_url;
    bytes.headers = {{"Content-Type", "application/octet-stream"}};
    bytes.body = job.message.text;
    auto sent = co_await self->http.send(std::move(bytes));
    if (!sent || sent->status != 200) {
      Attempt failed;
      failed.error = "file upload failed: " +
                     (sent ? "HTTP " + std::to_string(sent->status) : redact(sent.error().message));
      co_return failed;
    }

    json::array files;
    files.push_back(json::object{{"id", file_id}, {"title", job.title}});
    std::string complete =
        "files=" + form_encode(json::serialize(files)) + "&channel_id=" + form_encode(job.channel);
    if (!job.thread_ts.empty())
      complete += "&thread_ts=" + form_encode(job.thread_ts);
    if (!job.user.empty())
      complete += "&initial_comment=" + form_encode(job.user);
    const std::string_view share = "files.completeUploadExternal";
    co_return co_await self->attempt(share, std::move(complete), self->token, kForm);
  }

  // A job the scheduler lets go. A held reply (the outbox has not recorded it yet, the usual
  // case: the command's commit comes later in the same turn) only waits for its release, so
  // that wait is registered here instead of in a coroutine started for it: spawning one cost
  // about 2,000 instructions per reply (callgrind, bench/README.md, session 17).
  static void start(const std::shared_ptr<Impl>& self, std::uint64_t id, std::string channel) {
    auto held = self->jobs.find(id);
    if (held != self->jobs.end() && held->second.ticket &&
        held->second.ticket->hold == commands::OutboxTicket::Hold::waiting &&
        !coalescable(held->second)) {
      ++self->in_flight;
      wait_for_release(self, held->second, id, std::move(channel));
      return;
    }
    asio::co_spawn(self->executor, send(self, id, std::move(channel)), asio::detached);
  }

  // Not recorded yet: the channel waits (its order kept) until the outbox releases (or cancels)
  // the job, then sends it. Counted in flight already.
  static void wait_for_release(const std::shared_ptr<Impl>& self, Job& job, std::uint64_t id,
                               std::string channel) {
    job.ticket->on_hold_ended.push_back([self, id, channel = std::move(channel)] {
      asio::co_spawn(self->executor, send_now(self, id, channel), asio::detached);
    });
  }

  static asio::awaitable<void> send(std::shared_ptr<Impl> self, std::uint64_t id,
                                    std::string channel) {
    ++self->in_flight;
    auto held = self->jobs.find(id);
    if (held != self->jobs.end() && coalescable(held->second)) {
      // Started: a later update of this message is queued (and sent) after it.
      auto queued = self->queued_updates.find(held->second.ref);
      if (queued != self->queued_updates.end() && queued->second == id)
        self->queued_updates.erase(queued);
    }
    if (held != self->jobs.end() && held->second.ticket &&
        held->second.ticket->hold == commands::OutboxTicket::Hold::waiting) {
      wait_for_release(self, held->second, id, std::move(channel));
      co_return;
    }
    co_await send_now(self, id, std::move(channel));
  }

  static asio::awaitable<void> send_now(std::shared_ptr<Impl> self, std::uint64_t id,
                                        std::string channel) {
    auto found = self->jobs.find(id);
    if (found != self->jobs.end() && found->second.ticket &&
        found->second.ticket->hold == commands::OutboxTicket::Hold::cancelled) {
      // Recorded by an earlier run and sent then: its ts stands in for this post.
      if (found->second.kind == Kind::post && !found->second.ticket->existing_id.empty())
        self->posted[found->second.ref] = found->second.ticket->existing_id;
      self->jobs.erase(found);
      found = self->jobs.end();
    }
    if (found != self->jobs.end()) {
      Attempt result;
      if (found->second.kind == Kind::upload) {
        Job job = found->second;
        result = co_await upload(self, std::move(job));
      } else {
        auto request = self->request_for(found->second);
        const std::string_view method = request.first;
        result = co_await self->attempt(method, std::move(request.second), self->token);
      }
      found = self->jobs.find(id);
      if (found == self->jobs.end()) {
        // Dropped by shutdown() while the call was out.
      } else if (result.retry_after) {
        spdlog::warn("slack: {} in {}; holding replies for {} s", result.error, channel,
                     result.retry_after->count());
        self->scheduler.rate_limited(channel, id, std::chrono::steady_clock::now(),
                                     *result.retry_after);
      } else {
        auto ticket = std::move(found->second.ticket);
        std::string ts;
        if (result.reply) {
          // Taken, not copied: nothing reads the answer after this.
          auto& strings = result.reply->strings;
          if (auto answered = strings.find("ts"); answered != strings.end())
            ts = std::move(answered->second);
          if (found->second.kind == Kind::post)
            self->posted[found->second.ref] = ts;
        } else if (!ticket) {
          spdlog::error("slack: reply to {} lost: {}", channel, result.error);
        }
        self->jobs.erase(found);
        // The outbox retries (or looks for it first) what failed here.
        if (ticket) {
          if (result.reply)
            ticket->done(std::move(ts));
          else
            ticket->done(make_error(result.error, result.kind, result.reach));
        }
      }
    }
    self->scheduler.done(channel);
    --self->in_flight;
    if (self->pump_running) {
      self->wake.cancel();
      co_return;
    }
    // The channel's next job (if any) may go now.
    if (!self->stopped)
      self->kick();
    if (!self->busy())
      self->idle.cancel();
  }

  asio::any_io_executor executor;
  std::unique_ptr<SteadyTimers> own_timers;  // when none was injected
  Timers* timers;                            // the retry waits (429 Retry-After, back-off)
  integrations::net::HttpClient& http;
  std::string token;
  WebApiOptions options;
  SendScheduler scheduler;
  asio::steady_timer wake;
  asio::steady_timer idle;
  std::map<std::uint64_t, Job> jobs;
  std::map<LocalRef, std::string> posted;    // ref -> ts
  std::map<LocalRef, std::string> channels;  // ref -> channel it was posted in
  // ref -> the job id of that message's unheld update still queued (not started), which a later
  // update of the message replaces; see enqueue() and close_updates_before().
  std::map<LocalRef, std::uint64_t> queued_updates;
  std::deque<LocalRef> remembered;  // oldest first, to bound the two maps above

  std::string channel_of(LocalRef ref) const {
    auto found = channels.find(ref);
    return found == channels.end() ? std::string() : found->second;
  }

  // Messages are only updated soon after they are posted, so old references can go.
  void remember(LocalRef ref, const std::string& channel) {
    channels[ref] = channel;
    remembered.push_back(ref);
    while (remembered.size() > kRememberedMessages) {
      posted.erase(remembered.front());
      channels.erase(remembered.front());
      remembered.pop_front();
    }
  }
  static constexpr std::size_t kRememberedMessages = 4096;
  std::uint64_t next_job = 1;
  LocalRef next_ref = 1;
  std::size_t in_flight = 0;
  bool pump_running = false;
  bool stopped = false;
  std::uint64_t calls_made = 0;
  std::uint64_t rate_limited = 0;
  std::uint64_t updates_coalesced = 0;
  metrics::CallCounts call_counts;
};

WebApi::WebApi(asio::any_io_executor executor, integrations::net::HttpClient& http,
               std::string bot_token, WebApiOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), http, std::move(bot_token),
                                   std::move(options), nullptr)) {}

WebApi::WebApi(asio::any_io_executor executor, integrations::net::HttpClient& http,
               std::string bot_token, WebApiOptions options, Timers& timers)
    : impl_(std::make_shared<Impl>(std::move(executor), http, std::move(bot_token),
                                   std::move(options), &timers)) {}

WebApi::~WebApi() {
  impl_->wake.cancel();
  impl_->idle.cancel();
}

asio::awaitable<Result<ApiReply>> WebApi::call(std::string method, std::string json_body,
                                               std::string token) {
  return impl_->call(std::move(method), std::move(json_body), std::move(token));
}

asio::awaitable<Result<ApiReply>> WebApi::call_unheld(std::string method, std::string json_body) {
  return impl_->call(std::move(method), std::move(json_body), "", kJson, false);
}

asio::awaitable<Result<ApiReply>> WebApi::call_form(std::string method, std::string form_body) {
  return impl_->call(std::move(method), std::move(form_body), "", kForm);
}

WebApi::LocalRef WebApi::post(const std::string& channel, const std::string& thread_ts,
                              const commands::Message& message) {
  const LocalRef ref = impl_->next_ref++;
  impl_->remember(ref, channel);
  return impl_->enqueue(Impl::Job{Impl::Kind::post, ref, channel, thread_ts, "", message});
}

void WebApi::update(LocalRef ref, const commands::Message& message) {
  auto job = Impl::Job{Impl::Kind::update, ref, impl_->channel_of(ref), "", "", message};
  impl_->enqueue(std::move(job));
}

void WebApi::thread_reply(LocalRef ref, const commands::Message& message) {
  impl_->enqueue(Impl::Job{Impl::Kind::thread_reply, ref, impl_->channel_of(ref), "", "", message});
}

WebApi::LocalRef WebApi::post_held(const std::string& channel, const std::string& thread_ts,
                                   const commands::Message& message,
                                   std::shared_ptr<commands::OutboxTicket> ticket) {
  const LocalRef ref = impl_->next_ref++;
  impl_->remember(ref, channel);
  Impl::Job job{Impl::Kind::post, ref, channel, thread_ts, "", message};
  job.ticket = std::move(ticket);
  return impl_->enqueue(std::move(job));
}

void WebApi::update_held(LocalRef ref, const commands::Message& message,
                         std::shared_ptr<commands::OutboxTicket> ticket) {
  Impl::Job job{Impl::Kind::update, ref, impl_->channel_of(ref), "", "", message};
  job.ticket = std::move(ticket);
  impl_->enqueue(std::move(job));
}

void WebApi::thread_reply_held(LocalRef ref, const commands::Message& message,
                               std::shared_ptr<commands::OutboxTicket> ticket) {
  Impl::Job job{Impl::Kind::thread_reply, ref, impl_->channel_of(ref), "", "", message};
  job.ticket = std::move(ticket);
  impl_->enqueue(std::move(job));
}

void WebApi::send_recorded(const std::string& intent, const std::string& channel,
                           const std::string& thread_ts, const std::string& target_ts,
                           const commands::Message& message,
                           std::shared_ptr<commands::OutboxTicket> ticket) {
  Impl::Job job{Impl::Kind::post, 0, channel, thread_ts, "", message};
  if (!target_ts.empty() && intent == "update") {
    job.kind = Impl::Kind::update;
    job.target_ts = target_ts;
  } else if (!target_ts.empty() && intent == "thread_reply") {
    job.kind = Impl::Kind::thread_reply;
    job.target_ts = target_ts;
  }
  job.ticket = std::move(ticket);
  impl_->enqueue(std::move(job));
}

asio::awaitable<Result<std::map<std::string, std::string>>> WebApi::find_keyed(
    std::string channel, std::string thread_ts, EpochMillis since) {
  auto self = impl_;
  std::map<std::string, std::string> found;
  std::string cursor;
  // A few pages: the replies looked for were posted moments before a crash.
  for (int page = 0; page < 5; ++page) {
    using integrations::net::form_encode;
    std::string body = "channel=" + form_encode(channel) + "&include_all_metadata=true&limit=200";
    std::string method = "conversations.history";
    if (!thread_ts.empty()) {
      method = "conversations.replies";
      body += "&ts=" + form_encode(thread_ts);
    } else {
      char oldest[32];
      std::snprintf(oldest, sizeof oldest, "%lld.%06lld",
                    static_cast<long long>(std::max<EpochMillis>(since, 0) / 1000),
                    static_cast<long long>(std::max<EpochMillis>(since, 0) % 1000) * 1000);
      body += "&oldest=";
      body += oldest;
    }
    if (!cursor.empty())
      body += "&cursor=" + form_encode(cursor);
    const std::string_view method_name = method;
    Attempt result = co_await self->attempt(method_name, std::move(body), self->token, kForm);
    // No such thread (its parent was deleted, or nothing was ever posted in it): nothing there.
    if (!result.reply && result.error.ends_with("failed: thread_not_found"))
      break;
    if (!result.reply)
      co_return make_error(result.error, result.kind, result.reach);
    boost::system::error_code ec;
    json::value value = json::parse(result.reply->body, ec);
    if (ec || !value.is_object())
      co_return make_error(method + ": the answer is not a JSON object", ErrorKind::unavailable);
    const auto& object = value.as_object();
    if (const auto* messages = object.if_contains("messages"); messages && messages->is_array()) {
      for (const auto& entry : messages->as_array()) {
        if (!entry.is_object())
          continue;
        const auto& message = entry.as_object();
        const auto* metadata = message.if_contains("metadata");
        const auto* ts = message.if_contains("ts");
        if (metadata == nullptr || !metadata->is_object() || ts == nullptr || !ts->is_string())
          continue;
        const auto* type = metadata->as_object().if_contains("event_type");
        const auto* payload = metadata->as_object().if_contains("event_payload");
        if (type == nullptr || !type->is_string() || type->as_string() != kOutboxEventType ||
            payload == nullptr || !payload->is_object())
          continue;
        const auto* key = payload->as_object().if_contains("key");
        if (key != nullptr && key->is_string())
          found[std::string(key->as_string())] = std::string(ts->as_string());
      }
    }
    cursor.clear();
    if (const auto* meta = object.if_contains("response_metadata"); meta && meta->is_object()) {
      if (const auto* next = meta->as_object().if_contains("next_cursor");
          next && next->is_string())
        cursor = std::string(next->as_string());
    }
    if (cursor.empty())
      break;
  }
  co_return found;
}

void WebApi::post_ephemeral(const std::string& channel, const std::string& user,
                            const commands::Message& message) {
  impl_->enqueue(Impl::Job{Impl::Kind::ephemeral, 0, channel, "", user, message});
}

void WebApi::upload_snippet(const std::string& channel, const std::string& thread_ts,
                            const std::string& title, const std::string& content,
                            const std::string& comment) {
  Impl::Job job{Impl::Kind::upload, 0, channel, thread_ts, comment, {}, title};
  job.message.text = content;
  impl_->enqueue(std::move(job));
}

asio::awaitable<Result<std::string>> WebApi::create_channel(std::string name, bool is_private) {
  json::object body{{"name", name}, {"is_private", is_private}};
  // Unheld: a 429 comes back at once with its wait; the room-operation queue holds the create
  // tier until then while the incident runs in its thread.
  auto reply =
      co_await impl_->call("conversations.create", json::serialize(body), "", kJson, false);
  if (!reply)
    co_return reply.error();
  boost::system::error_code ec;
  auto value = json::parse(reply->body, ec);
  const auto* channel = ec ? nullptr : value.as_object().if_contains("channel");
  if (channel == nullptr || !channel->is_object() || !channel->as_object().contains("id")) {
    co_return make_error("conversations.create: the answer has no channel id");
  }
  co_return std::string(channel->as_object().at("id").as_string());
}

asio::awaitable<Status> WebApi::invite(std::string channel, std::vector<std::string> users) {
  std::string joined;
  for (const auto& user : users)
    joined += (joined.empty() ? "" : ",") + user;
  json::object body{{"channel", channel}, {"users", joined}};
  // Unheld: a 429 comes back at once with its wait (the room-operation queue paces itself).
  auto reply =
      co_await impl_->call("conversations.invite", json::serialize(body), "", kJson, false);
  // Someone already in the room (the declarer who made it, a second invite) is not a failure.
  if (!reply && (reply.error().message.ends_with("already_in_channel") ||
                 reply.error().message.ends_with("cant_invite_self")))
    co_return Ok{};
  if (!reply)
    co_return reply.error();
  co_return Ok{};
}

std::optional<std::string> WebApi::ts_of(LocalRef ref) const {
  auto found = impl_->posted.find(ref);
  if (found == impl_->posted.end())
    return std::nullopt;
  return found->second;
}

asio::awaitable<void> WebApi::drain() {
  while (impl_->busy()) {
    impl_->idle.expires_after(std::chrono::hours(1));
    boost::system::error_code ignored;
    co_await impl_->idle.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
}

void WebApi::shutdown() {
  auto& impl = *impl_;
  impl.stopped = true;
  if (!impl.jobs.empty()) {
    spdlog::warn("slack: shutting down with {} replies unsent", impl.jobs.size());
  }
  impl.jobs.clear();
  impl.queued_updates.clear();
  impl.scheduler = SendScheduler(impl.options.pacing);
  impl.wake.cancel();
  impl.idle.cancel();
}

std::size_t WebApi::pending() const {
  return impl_->scheduler.queued() + impl_->in_flight;
}
std::uint64_t WebApi::calls_made() const {
  return impl_->calls_made;
}
const std::vector<metrics::CallCount>& WebApi::call_counts() const {
  return impl_->call_counts.all();
}
std::uint64_t WebApi::updates_coalesced() const {
  return impl_->updates_coalesced;
}
std::uint64_t WebApi::rate_limited_count() const {
  return impl_->rate_limited;
}

}  // namespace shipmate::bot::slack
