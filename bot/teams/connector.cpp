#include "bot/teams/connector.h"

#include <spdlog/spdlog.h>

#include <simdjson.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <variant>

#include "bot/teams/pacing.h"
#include "bot/teams/teams_auth_api.h"
#include "common/redact.h"
#include "common/strings.h"
#include "common/timer.h"
#include "integrations/net/http_client.h"

namespace shipmate::bot::teams {
namespace asio = boost::asio;
namespace net = integrations::net;

std::string encode_path_segment(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() + 16);
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0F];
    }
  }
  return out;
}

namespace {

// Messages whose Teams id is remembered for updates and thread replies.
constexpr std::size_t kRememberedMessages = 50'000;
// Cards with buttons whose content is remembered for answering presses (about 1 KB each).
constexpr std::size_t kRememberedCards = 2'000;

bool retryable_status(int status) {
  return status == 429 || status == 412 || status == 502 || status == 503 || status == 504;
}

std::string activities_url(const ConversationTarget& target, const std::string& activity_id) {
  std::string url = target.service_url;
  if (url.empty() || url.back() != '/')
    url += '/';
  url += "v3/conversations/" + encode_path_segment(target.conversation_id) + "/activities";
  if (!activity_id.empty())
    url += "/" + encode_path_segment(activity_id);
  return url;
}

// What the connector said, shortened for a log line.
std::string excerpt(const std::string& body) {
  std::string text = redact(body.substr(0, 300));
  for (char& c : text)
    if (c == '\n' || c == '\r')
      c = ' ';
  return text;
}

std::string id_of(const std::string& body) {
  thread_local simdjson::dom::parser parser;
  std::string_view id;
  if (parser.parse(body).at_pointer("/id").get_string().get(id) == simdjson::SUCCESS)
    return std::string(id);
  return {};
}

}  // namespace

struct ConnectorClient::Impl : std::enable_shared_from_this<Impl> {
  struct Job {
    enum class Kind { post, update, reply, remove, update_known } kind;
    LocalRef ref = 0;  // post: the ref it resolves; update/reply/remove: the ref they act on
    ConversationTarget target;
    std::string reply_to;     // post
    std::string activity_id;  // update_known; reply: a thread known by its activity id
    commands::Message message;
    // The reply outbox's hold (bot/reply_outbox.h): sent only once released, dropped once
    // cancelled. `reports` false: a follow-up part of a long message, which goes with its
    // ticket's message but does not answer for it.
    std::shared_ptr<commands::OutboxTicket> ticket = {};
    bool reports = true;
  };
  // One per message handed out (up to kRememberedMessages): the target is shared by every
  // message of its conversation (targets below), so an entry costs about 100 bytes, not 300+
  // (a service URL and a Teams conversation id are 40-100 characters each).
  struct Posted {
    std::shared_ptr<const ConversationTarget> target;
    std::string activity_id;  // empty until posted (or when the post failed)
  };

  Impl(asio::any_io_executor executor_in, net::HttpClient& http_in,
       ConnectorCredentials& credentials_in, Timers& timers_in, ConnectorOptions options_in)
      : executor(std::move(executor_in)),
        http(http_in),
        credentials(credentials_in),
        timers(timers_in),
        options(std::move(options_in)),
        random(std::random_device{}()) {}

  asio::any_io_executor executor;
  net::HttpClient& http;
  ConnectorCredentials& credentials;
  Timers& timers;
  ConnectorOptions options;
  std::mt19937_64 random;
  std::set<std::string, std::less<>> allowed_urls;
  ThreadPacer pacer;
  ConnectorStats stats;
  std::function<void(const Error&)> credentials_refused;
  std::map<std::string, std::deque<Job>> queues;  // by conversation id
  std::set<std::string> busy;                     // threads with a worker running
  // The handles of the last kRememberedMessages messages, by LocalRef: refs are handed out in
  // order and each is remembered as it is handed out, so entry i is ref first_posted + i (a
  // deque of 48-byte entries, where a map costs a 96-byte node per entry).
  std::deque<Posted> posted;
  LocalRef first_posted = 1;
  // The current target of each conversation posted to (one per conversation, as the transport's
  // conversation references); messages posted before a serviceUrl changed keep the old one.
  std::map<std::string, std::shared_ptr<const ConversationTarget>, std::less<>> targets;
  LocalRef next_ref = 1;
  std::size_t queued = 0;
  std::size_t in_flight = 0;
  bool stopped = false;
  // Completed (cancelled) whenever the queue becomes empty; drain() waits on it.
  std::vector<std::shared_ptr<asio::steady_timer>> drain_waiters;
  // Jobs waiting for the outbox to release them; shutdown() wakes them.
  std::set<std::shared_ptr<asio::steady_timer>> hold_waiters;

  void wake_held() {
    for (const auto& waiter : hold_waiters)
      waiter->cancel();
  }

  void job_finished() {
    if (queued + in_flight > 0)
      return;
    for (auto& waiter : drain_waiters)
      waiter->cancel();
    drain_waiters.clear();
  }

  // The latest message shown by each recent card with buttons, by activity id, so that a press
  // can be answered with that card (its buttons kept for whoever presses next).
  std::map<std::string, commands::Message, std::less<>> cards;
  std::deque<std::string> card_order;  // oldest first; may hold ids already replaced or erased

  void remember_card(const std::string& activity_id, const commands::Message& message) {
    if (activity_id.empty())
      return;
    if (message.buttons.empty()) {
      cards.erase(activity_id);
      return;
    }
    if (cards.insert_or_assign(activity_id, message).second)
      card_order.push_back(activity_id);
    while (cards.size() > kRememberedCards && !card_order.empty()) {
      cards.erase(card_order.front());
      card_order.pop_front();
    }
    if (card_order.size() > 4 * kRememberedCards) {
      std::erase_if(card_order, [&](const std::string& id) { return !cards.contains(id); });
    }
  }

  std::shared_ptr<const ConversationTarget> intern(const ConversationTarget& target) {
    auto& shared = targets[target.conversation_id];
    if (!shared || shared->service_url != target.service_url)
      shared = std::make_shared<const ConversationTarget>(target);
    return shared;
  }

  // Hands out the next LocalRef and remembers its message's handle; the oldest are forgotten so
  // memory stays bounded.
  LocalRef remember_posted(const ConversationTarget& target) {
    const LocalRef ref = next_ref++;
    if (posted.empty())
      first_posted = ref;
    posted.push_back(Posted{intern(target), {}});
    while (posted.size() > kRememberedMessages) {
      posted.pop_front();
      ++first_posted;
    }
    return ref;
  }

  // The handle of `ref`; null once forgotten (or never handed out).
  Posted* posted_of(LocalRef ref) {
    if (ref < first_posted || ref - first_posted >= posted.size())
      return nullptr;
    return &posted[ref - first_posted];
  }

  // Records the Teams id of a message still remembered (one forgotten meanwhile stays so).
  void set_posted_id(LocalRef ref, const std::string& activity_id) {
    if (Posted* known = posted_of(ref))
      known->activity_id = activity_id;
  }

  double random01() { return std::uniform_real_distribution<double>(0.0, 1.0)(random); }

  // One call with retries. Returns the answer body.
  static asio::awaitable<Result<std::string>> call(std::shared_ptr<Impl> self, std::string method,
                                                   ConversationTarget target,
                                                   std::string activity_id, std::string body) {
    const std::string url = activities_url(target, activity_id);
    // "METHOD url", for error text and warnings only: built when there is one to write.
    const auto what = [&] { return method + " " + url; };
    if (!self->allowed(target.service_url)) {
      ++self->stats.refused_urls;
      co_return make_error(
          "Teams: refusing " + what() + ": no verified request came from " + target.service_url,
          ErrorKind::invalid);
    }
    bool refreshed = false;
    for (int attempt = 1;; ++attempt) {
      auto bearer = co_await self->credentials.bearer();
      if (!bearer) {
        if (bearer.error().kind == ErrorKind::auth && self->credentials_refused)
          self->credentials_refused(bearer.error());
        co_return make_error("Teams: " + what() + ": no connector token: " + bearer.error().message,
                             bearer.error().kind);
      }
      net::HttpRequest request;
      request.method = method;
      request.url = url;
      request.timeout = self->options.timeout;
      request.headers.emplace_back("Authorization", *bearer);
      if (method != "DELETE") {
        request.headers.emplace_back("Content-Type", "application/json; charset=utf-8");
        request.body = body;
      }
      ++self->stats.calls;
      if (attempt > 1)
        ++self->stats.retries;
      auto response = co_await self->http.send(std::move(request));
      self->stats.by_method.count(method, response ? response->status : 0);
      std::optional<std::chrono::milliseconds> retry_after;
      std::string failure;
      ErrorKind kind = ErrorKind::unavailable;
      Reach reach = Reach::unknown;
      bool retry = false;
      if (!response) {
        failure = response.error().message;
        kind = response.error().kind;
        reach = response.error().reach;
        retry = method != "POST" && kind == ErrorKind::unavailable;
      } else {
        const int status = response->status;
        if (status >= 200 && status < 300)
          co_return std::move(response->body);
        if (status == 401 && !refreshed) {
          // The token may have been revoked or rotated early: one more try with a fresh one.
          self->credentials.invalidate();
          refreshed = true;
          --attempt;
          continue;
        }
        failure = "HTTP " + std::to_string(status) + ": " + excerpt(response->body);
        kind = net::http_status_kind(status);
        // Throttled: Teams did not act on it. A server error may have come after it did.
        reach = status == 429 ? Reach::not_sent : Reach::sent;
        retry = retryable_status(status);
        if (status == 429) {
          ++self->stats.rate_limited;
          retry_after = parse_retry_after(response->header("Retry-After"));
          const auto pause = retry_after.value_or(std::chrono::milliseconds(1000));
          self->pacer.throttled(target.conversation_id, self->options.now(), pause);
        } else if (status == 412 || status >= 500) {
          retry_after = parse_retry_after(response->header("Retry-After"));
        }
      }
      if (!retry || attempt >= self->options.max_attempts)
        co_return make_error("Teams: " + what() + ": " + failure, kind, reach);
      const auto wait = retry_delay(attempt, retry_after, self->options.backoff_base,
                                    self->options.backoff_cap, self->random01());
      spdlog::warn("teams: {}: {}; retrying in {} ms", what(), failure, wait.count());
      const bool slept = co_await self->timers.sleep_for(wait);
      if (!slept)
        co_return make_error("Teams: " + what() + ": cancelled while waiting to retry",
                             ErrorKind::unavailable);
    }
  }

  bool allowed(const std::string& url) const { return allowed_urls.contains(url); }

  // An unheld update of a message whose own unheld update still waits in the thread's queue
  // replaces that one's content (the last wins, one PUT), unless something touching the message
  // came in between: a reply under it, a held update or a removal of it.
  bool fold_update(std::deque<Job>& queue, Job& job) {
    if (job.kind != Job::Kind::update || job.ticket || job.ref == 0)
      return false;
    const Posted* known = posted_of(job.ref);
    const std::string activity_id = known ? known->activity_id : std::string();
    for (auto it = queue.rbegin(); it != queue.rend(); ++it) {
      const bool same_message = it->ref == job.ref && it->kind != Job::Kind::post;
      const bool under_it =
          !activity_id.empty() && (it->reply_to == activity_id || it->activity_id == activity_id);
      if (!same_message && !under_it)
        continue;
      if (same_message && it->kind == Job::Kind::update && !it->ticket) {
        it->message = std::move(job.message);
        ++stats.updates_coalesced;
        return true;
      }
      return false;
    }
    return false;
  }

  void enqueue(Job job) {
    if (stopped)
      return;
    if (queued >= options.max_queued) {
      ++stats.dropped;
      spdlog::error("teams: reply queue full ({} jobs); dropping a message for {}", queued,
                    job.target.conversation_id);
      return;
    }
    const std::string thread = job.target.conversation_id;
    auto& queue = queues[thread];
    if (fold_update(queue, job))
      return;
    queue.push_back(std::move(job));
    ++queued;
    if (busy.insert(thread).second)
      asio::co_spawn(executor, work(shared_from_this(), thread), asio::detached);
  }

  // Sends one thread's jobs in order, paced, until its queue is empty.
  static asio::awaitable<void> work(std::shared_ptr<Impl> self, std::string thread) {
    while (!self->stopped) {
      auto found = self->queues.find(thread);
      if (found == self->queues.end() || found->second.empty())
        break;
      Job job = std::move(found->second.front());
      found->second.pop_front();
      --self->queued;
      ++self->in_flight;
      if (job.ticket && job.ticket->hold == commands::OutboxTicket::Hold::waiting) {
        // Not recorded yet: the thread waits (its order kept) until the outbox releases it.
        auto wake = std::make_shared<asio::steady_timer>(self->executor,
                                                         asio::steady_timer::time_point::max());
        self->hold_waiters.insert(wake);
        job.ticket->on_hold_ended.push_back([wake] { wake->cancel(); });
        boost::system::error_code ignored;
        co_await wake->async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        self->hold_waiters.erase(wake);
        if (self->stopped) {
          if (job.reports)
            job.ticket->done(make_error("Teams: shutting down before the message was sent",
                                        ErrorKind::unavailable, Reach::not_sent));
          --self->in_flight;
          self->job_finished();
          break;
        }
      }
      if (job.ticket && job.ticket->hold == commands::OutboxTicket::Hold::cancelled) {
        co_await run(self, std::move(job));  // dropped, unpaced: nothing is sent
        --self->in_flight;
        self->job_finished();
        continue;
      }
      const auto now = self->options.now();
      const auto at = self->pacer.allowed_at(thread, now);
      if (at > now) {
        const auto wait = std::chrono::ceil<std::chrono::milliseconds>(at - now);
        co_await self->timers.sleep_for(wait);
      }
      self->pacer.sent(thread, self->options.now());
      co_await run(self, std::move(job));
      --self->in_flight;
      self->job_finished();
    }
    self->queues.erase(thread);
    self->busy.erase(thread);
  }

  // The outbox's answer for a job's ticket (none for a job without one, or a follow-up part).
  static void report(const Job& job, const Result<std::string>& answer) {
    if (job.ticket && job.reports)
      job.ticket->done(answer);
  }

  static asio::awaitable<void> run(std::shared_ptr<Impl> self, Job job) {
    const ButtonStyle buttons = self->options.buttons;
    if (job.ticket && job.ticket->hold == commands::OutboxTicket::Hold::cancelled) {
      // Recorded and sent by an earlier run of the command: its activity id stands in for this
      // post, so the command's later updates edit that message.
      if (job.kind == Job::Kind::post && job.ref != 0 && job.reports &&
          !job.ticket->existing_id.empty())
        self->set_posted_id(job.ref, job.ticket->existing_id);
      co_return;
    }
    switch (job.kind) {
      case Job::Kind::post:
      case Job::Kind::reply: {
        std::string reply_to = job.reply_to;
        ConversationTarget target = job.target;
        if (job.kind == Job::Kind::reply && !job.activity_id.empty()) {
          reply_to = job.activity_id;  // a recorded reply in a thread from before a restart
        } else if (job.kind == Job::Kind::reply) {
          const Posted* known = self->posted_of(job.ref);
          if (!known || known->activity_id.empty()) {
            ++self->stats.dropped;
            spdlog::warn("teams: a thread reply's message was never posted; dropping it");
            report(job, make_error("Teams: the message this replies to was never posted",
                                   ErrorKind::not_found));
            co_return;
          }
          reply_to = known->activity_id;
          target = *known->target;
        }
        std::string body = render_message_activity(job.message, buttons, reply_to);
        std::string method = "POST";
        auto sent = co_await call(self, std::move(method), target, reply_to, std::move(body));
        if (!sent) {
          ++self->stats.dropped;
          if (!job.ticket || !job.reports)  // else the outbox decides, and logs
            spdlog::error("{}", sent.error().message);
          report(job, sent.error());
          co_return;
        }
        const std::string activity_id = id_of(*sent);
        if (job.kind == Job::Kind::post && job.ref != 0)
          self->set_posted_id(job.ref, activity_id);
        self->remember_card(activity_id, job.message);
        report(job, activity_id);
        co_return;
      }
      case Job::Kind::update:
      case Job::Kind::remove:
      case Job::Kind::update_known: {
        ConversationTarget target = job.target;
        std::string activity_id = job.activity_id;
        if (job.kind != Job::Kind::update_known) {
          const Posted* known = self->posted_of(job.ref);
          if (!known || known->activity_id.empty()) {
            ++self->stats.dropped;
            spdlog::warn("teams: the message to {} was never posted; dropping the change",
                         job.kind == Job::Kind::remove ? "delete" : "update");
            report(job, make_error("Teams: the message to update was never posted",
                                   ErrorKind::not_found));
            co_return;
          }
          target = *known->target;
          activity_id = known->activity_id;
        }
        std::string method = job.kind == Job::Kind::remove ? "DELETE" : "PUT";
        std::string body;
        if (job.kind != Job::Kind::remove) {
          body = render_message_activity(job.message, buttons);
          // The connector wants the activity's id in the body of a PUT as well.
          std::string id_member = "\"id\":";
          append_json_string(id_member, activity_id);
          id_member += ',';
          body.insert(1, id_member);
        }
        auto done = co_await call(self, std::move(method), target, activity_id, std::move(body));
        if (!done) {
          ++self->stats.dropped;
          if (!job.ticket || !job.reports)  // else the outbox decides, and logs
            spdlog::error("{}", done.error().message);
          report(job, done.error());
        } else if (job.kind == Job::Kind::remove) {
          self->cards.erase(activity_id);
        } else {
          self->remember_card(activity_id, job.message);
          report(job, activity_id);
        }
        co_return;
      }
    }
  }
};

ConnectorClient::ConnectorClient(asio::any_io_executor executor, net::HttpClient& http,
                                 ConnectorCredentials& credentials, Timers& timers,
                                 ConnectorOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), http, credentials, timers,
                                   std::move(options))) {}

ConnectorClient::~ConnectorClient() {
  impl_->stopped = true;
  impl_->wake_held();
}

void ConnectorClient::allow(const std::string& service_url) {
  impl_->allowed_urls.insert(service_url);
}
bool ConnectorClient::allowed(const std::string& service_url) const {
  return impl_->allowed(service_url);
}

asio::awaitable<Result<std::string>> ConnectorClient::send(ConversationTarget target,
                                                           std::string reply_to_id,
                                                           std::string activity_json) {
  auto self = impl_;
  std::string method = "POST";
  auto answer = co_await Impl::call(self, std::move(method), std::move(target),
                                    std::move(reply_to_id), std::move(activity_json));
  if (!answer)
    co_return answer.error();
  co_return id_of(*answer);
}

asio::awaitable<Status> ConnectorClient::update(ConversationTarget target, std::string activity_id,
                                                std::string activity_json) {
  auto self = impl_;
  std::string method = "PUT";
  auto answer = co_await Impl::call(self, std::move(method), std::move(target),
                                    std::move(activity_id), std::move(activity_json));
  if (!answer)
    co_return answer.error();
  co_return Ok{};
}

asio::awaitable<Status> ConnectorClient::remove(ConversationTarget target,
                                                std::string activity_id) {
  auto self = impl_;
  std::string method = "DELETE";
  std::string body;
  auto answer = co_await Impl::call(self, std::move(method), std::move(target),
                                    std::move(activity_id), std::move(body));
  if (!answer)
    co_return answer.error();
  co_return Ok{};
}

ConnectorClient::LocalRef ConnectorClient::post(const ConversationTarget& target,
                                                const std::string& reply_to,
                                                const commands::Message& message) {
  const LocalRef ref = impl_->remember_posted(target);
  impl_->enqueue(Impl::Job{Impl::Job::Kind::post, ref, target, reply_to, {}, message});
  return ref;
}

ConnectorClient::LocalRef ConnectorClient::post_held(
    const ConversationTarget& target, const std::string& reply_to,
    const std::vector<commands::Message>& parts, std::shared_ptr<commands::OutboxTicket> ticket) {
  const LocalRef ref = impl_->remember_posted(target);
  Impl::Job job{Impl::Job::Kind::post, ref, target, reply_to, {}, parts.front()};
  job.ticket = ticket;
  impl_->enqueue(std::move(job));
  for (std::size_t i = 1; i < parts.size(); ++i) {
    Impl::Job follow_up{Impl::Job::Kind::reply, ref, target, {}, {}, parts[i]};
    follow_up.ticket = ticket;
    follow_up.reports = false;
    impl_->enqueue(std::move(follow_up));
  }
  return ref;
}

void ConnectorClient::update_held(LocalRef ref, const commands::Message& message,
                                  std::shared_ptr<commands::OutboxTicket> ticket) {
  const Impl::Posted* known = impl_->posted_of(ref);
  if (!known) {
    ticket->done(
        make_error("Teams: the message to update is no longer known", ErrorKind::not_found));
    return;
  }
  Impl::Job job{Impl::Job::Kind::update, ref, *known->target, {}, {}, message};
  job.ticket = std::move(ticket);
  impl_->enqueue(std::move(job));
}

void ConnectorClient::thread_reply_held(LocalRef ref, const std::vector<commands::Message>& parts,
                                        std::shared_ptr<commands::OutboxTicket> ticket) {
  const Impl::Posted* known = impl_->posted_of(ref);
  if (!known) {
    ticket->done(
        make_error("Teams: the message this replies to is no longer known", ErrorKind::not_found));
    return;
  }
  for (std::size_t i = 0; i < parts.size(); ++i) {
    Impl::Job job{Impl::Job::Kind::reply, ref, *known->target, {}, {}, parts[i]};
    job.ticket = ticket;
    job.reports = i == 0;
    impl_->enqueue(std::move(job));
  }
}

void ConnectorClient::send_recorded(const std::string& intent, const ConversationTarget& target,
                                    const std::string& reply_to, const std::string& activity_id,
                                    const commands::Message& message,
                                    std::shared_ptr<commands::OutboxTicket> ticket) {
  if (intent == "update" && !activity_id.empty()) {
    Impl::Job job{Impl::Job::Kind::update_known, 0, target, {}, activity_id, message};
    job.ticket = std::move(ticket);
    impl_->enqueue(std::move(job));
    return;
  }
  if (intent == "thread_reply" && !activity_id.empty()) {
    Impl::Job job{Impl::Job::Kind::reply, 0, target, {}, activity_id, message};
    job.ticket = std::move(ticket);
    impl_->enqueue(std::move(job));
    return;
  }
  // A post, or a change of a message whose id was never learned: posted anew.
  Impl::Job job{Impl::Job::Kind::post, 0, target, reply_to, {}, message};
  job.ticket = std::move(ticket);
  impl_->enqueue(std::move(job));
}

void ConnectorClient::update(LocalRef ref, const commands::Message& message) {
  const Impl::Posted* known = impl_->posted_of(ref);
  if (!known)
    return;
  impl_->enqueue(Impl::Job{Impl::Job::Kind::update, ref, *known->target, {}, {}, message});
}

void ConnectorClient::thread_reply(LocalRef ref, const commands::Message& message) {
  const Impl::Posted* known = impl_->posted_of(ref);
  if (!known)
    return;
  impl_->enqueue(Impl::Job{Impl::Job::Kind::reply, ref, *known->target, {}, {}, message});
}

void ConnectorClient::remove(LocalRef ref) {
  const Impl::Posted* known = impl_->posted_of(ref);
  if (!known)
    return;
  impl_->enqueue(Impl::Job{Impl::Job::Kind::remove, ref, *known->target, {}, {}, {}});
}

void ConnectorClient::update_activity(const ConversationTarget& target,
                                      const std::string& activity_id,
                                      const commands::Message& message) {
  impl_->enqueue(Impl::Job{Impl::Job::Kind::update_known, 0, target, {}, activity_id, message});
}

std::optional<std::string> ConnectorClient::activity_id_of(LocalRef ref) const {
  const Impl::Posted* known = impl_->posted_of(ref);
  if (!known || known->activity_id.empty())
    return std::nullopt;
  return known->activity_id;
}

std::optional<commands::Message> ConnectorClient::card_of(std::string_view activity_id) const {
  auto found = impl_->cards.find(activity_id);
  if (found == impl_->cards.end())
    return std::nullopt;
  return found->second;
}

std::size_t ConnectorClient::pending() const {
  return impl_->queued + impl_->in_flight;
}

asio::awaitable<void> ConnectorClient::drain() {
  auto self = impl_;
  if (self->queued + self->in_flight == 0)
    co_return;
  auto waiter =
      std::make_shared<asio::steady_timer>(self->executor, asio::steady_timer::time_point::max());
  self->drain_waiters.push_back(waiter);
  boost::system::error_code ignored;
  co_await waiter->async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

void ConnectorClient::shutdown() {
  if (impl_->queued > 0)
    spdlog::warn("teams: dropping {} queued replies at shutdown", impl_->queued);
  impl_->stopped = true;
  impl_->queues.clear();
  impl_->queued = 0;
  impl_->wake_held();
  impl_->job_finished();
}

void ConnectorClient::on_credentials_refused(std::function<void(const Error&)> handler) {
  impl_->credentials_refused = std::move(handler);
}

const ConnectorStats& ConnectorClient::stats() const {
  return impl_->stats;
}

}  // namespace shipmate::bot::teams
