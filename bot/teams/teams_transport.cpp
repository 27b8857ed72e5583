#include "bot/teams/teams_transport.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "bot/command_intake.h"
#include "bot/teams/activity.h"
#include "bot/teams/outgoing_webhook.h"
#include "bot/teams/teams_auth_api.h"
#include "common/redact.h"
#include "common/strings.h"
#include "common/timer.h"
#include "integrations/net/http_client.h"
#include "integrations/net/http_server.h"
#include "storage/conversation_refs.h"

namespace shipmate::bot::teams {
namespace asio = boost::asio;
namespace net = integrations::net;

namespace {

std::string encode_address_part(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '%')
      out += "%25";
    else if (c == ':')
      out += "%3A";
    else
      out += c;
  }
  return out;
}

std::optional<std::string> decode_address_part(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size())
      return std::nullopt;
    const int high = hex_digit_value(text[i + 1]);
    const int low = hex_digit_value(text[i + 2]);
    if (high < 0 || low < 0)
      return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

net::HttpClientOptions http_options(const TeamsOptions& options) {
  net::HttpClientOptions http;
  http.ca_file = options.ca_file;
  http.verify_peer = options.verify_peer;
  // Replies to many threads go out at once, mostly to one service URL: keep their connections.
  http.max_idle_per_host = 64;
  return http;
}

// Outgoing-webhook mode has no connector: connector calls fail with this.
class NoCredentials final : public ConnectorCredentials {
 public:
  asio::awaitable<Result<std::string>> bearer() override {
    co_return make_error("Teams: no app credentials (outgoing-webhook mode only)", ErrorKind::auth);
  }
  void invalidate() override {}
  std::size_t token_requests() const override { return 0; }
};

// Waits until `signal` is cancelled (the work it stands for finished).
asio::awaitable<void> wait_for_signal(std::shared_ptr<asio::steady_timer> signal) {
  boost::system::error_code ignored;
  co_await signal->async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

TeamsResponse text_response(int status, std::string body) {
  return TeamsResponse{status, "text/plain", std::move(body)};
}

// How an inbound POST waits for its activity to be recorded: the activity goes through the
// intake's group commit (CommandIntake::submit), so activities that arrive together (many
// conversations, many connections) share one transaction, and each request is answered once the
// transaction holding its activity committed. The intake's acknowledgement of a delivery wakes
// its request; a batch that could not be recorded wakes it with "not recorded".
class PendingAnswers final : public AckChannel {
 public:
  struct Waiter {
    explicit Waiter(const asio::any_io_executor& executor)
        : wake(executor, asio::steady_timer::time_point::max()) {}
    asio::steady_timer wake;
    bool answered = false;
    bool recorded = false;
    bool duplicate = false;
  };

  // A request's own id for its delivery: two requests carrying one activity (a redelivery that
  // overtook the first) each wait for their own answer.
  std::string add(Waiter& waiter) {
    std::string id = std::to_string(next_id_++);
    waiting_.emplace(id, &waiter);
    return id;
  }
  void remove(const std::string& id) { waiting_.erase(id); }

  bool send_ack(const std::string& ack_id) override {
    wake(ack_id, true);
    return true;
  }
  asio::awaitable<void> acks_written() override { co_return; }
  // The 202 is written when the request's handler resumes; commands need not wait for it (as
  // with accept_now, a reply may reach the connector before the answer reaches Teams).
  bool when_written(std::function<void()> then) override {
    then();
    return true;
  }
  void redelivered(const std::string& ack_id) override {
    if (auto found = waiting_.find(ack_id); found != waiting_.end())
      found->second->duplicate = true;
  }
  void not_recorded(const std::string& ack_id) override { wake(ack_id, false); }

 private:
  void wake(const std::string& ack_id, bool recorded) {
    auto found = waiting_.find(ack_id);
    if (found == waiting_.end())
      return;
    Waiter& waiter = *found->second;
    waiter.answered = true;
    waiter.recorded = recorded;
    waiter.wake.cancel();
  }

  std::map<std::string, Waiter*> waiting_;
  std::uint64_t next_id_ = 1;
};

}  // namespace

std::string teams_address(const std::string& conversation_id, const std::string& thread) {
  return "teams:" + encode_address_part(conversation_id) + ":" + encode_address_part(thread);
}

bool parse_teams_address(const std::string& address, std::string& conversation_id,
                         std::string& thread) {
  constexpr std::string_view kPrefix = "teams:";
  if (!address.starts_with(kPrefix))
    return false;
  const std::string_view rest = std::string_view(address).substr(kPrefix.size());
  const auto colon = rest.find(':');
  auto conversation = decode_address_part(rest.substr(0, colon));
  auto thread_part = colon == std::string_view::npos ? std::optional<std::string>("")
                                                     : decode_address_part(rest.substr(colon + 1));
  if (!conversation || !thread_part || conversation->empty())
    return false;
  conversation_id = std::move(*conversation);
  thread = std::move(*thread_part);
  return true;
}

commands::MessageRef TeamsConversation::post(const commands::Message& message) {
  std::vector<commands::Message> parts = split_long_message(message);
  const auto ref = connector_.post(target_, thread_, parts[0]);
  for (std::size_t i = 1; i < parts.size(); ++i)
    connector_.thread_reply(ref, parts[i]);
  return std::to_string(ref);
}

void TeamsConversation::update(const commands::MessageRef& ref, const commands::Message& message) {
  connector_.update(std::stoull(ref), message);
}

void TeamsConversation::thread_reply(const commands::MessageRef& ref,
                                     const commands::Message& message) {
  for (const auto& part : split_long_message(message))
    connector_.thread_reply(std::stoull(ref), part);
}

commands::MessageRef TeamsConversation::post_held(const commands::Message& message,
                                                  std::shared_ptr<commands::OutboxTicket> ticket) {
  return std::to_string(
      connector_.post_held(target_, thread_, split_long_message(message), std::move(ticket)));
}

void TeamsConversation::update_held(const commands::MessageRef& ref,
                                    const commands::Message& message,
                                    std::shared_ptr<commands::OutboxTicket> ticket) {
  connector_.update_held(std::stoull(ref), message, std::move(ticket));
}

void TeamsConversation::thread_reply_held(const commands::MessageRef& ref,
                                          const commands::Message& message,
                                          std::shared_ptr<commands::OutboxTicket> ticket) {
  connector_.thread_reply_held(std::stoull(ref), split_long_message(message), std::move(ticket));
}

std::string TeamsConversation::address() const {
  return teams_address(target_.conversation_id, thread_);
}

struct TeamsTransport::Impl {
  Impl(asio::any_io_executor executor_in, CommandIntake& intake_in, Timers& timers_in,
       InboundVerifier* verifier_in, ConnectorCredentials* credentials_in,
       storage::ConversationRefStore* refs_in, TeamsOptions options_in)
      : executor(std::move(executor_in)),
        intake(intake_in),
        timers(timers_in),
        verifier(verifier_in),
        credentials(credentials_in),
        refs(refs_in),
        options(std::move(options_in)),
        http(executor, http_options(options)),
        connector(executor, http, credentials_in ? *credentials_in : no_credentials, timers,
                  options.connector) {}

  asio::any_io_executor executor;
  CommandIntake& intake;
  Timers& timers;
  InboundVerifier* verifier;
  ConnectorCredentials* credentials;  // null in outgoing-webhook mode
  storage::ConversationRefStore* refs;
  TeamsOptions options;
  NoCredentials no_credentials;
  net::HttpClient http;
  ConnectorClient connector;
  std::unique_ptr<net::HttpServer> own_server;
  // Where each conversation is served, by conversation id; `stored` once the reference as it is
  // now is in the database (an activity that brought it was recorded).
  struct Known {
    storage::ConversationRef ref;
    bool stored = false;
  };
  std::map<std::string, Known> conversations;
  std::shared_ptr<PendingAnswers> answers = std::make_shared<PendingAnswers>();
  TeamsStats stats;
  bool stopping = false;
  net::HttpServer* shared_server = nullptr;  // the routes live on a shared listener
  std::function<void(std::string)> fatal_handler;
  bool failed = false;  // the fatal handler was called (at most once)

  // The app's credentials were refused while running (a revoked or changed client secret):
  // every reply would fail from now on, so the App is told once and shuts down.
  void credentials_refused(const Error& error) {
    if (failed || stopping)
      return;
    failed = true;
    const std::string why = "Microsoft refused the app's credentials while running (" +
                            error.message +
                            "); replies cannot be sent. Check MicrosoftAppId, "
                            "MicrosoftAppPassword and, for a single-tenant app, "
                            "MicrosoftAppTenantId";
    spdlog::error("teams: giving up: {}", why);
    if (fatal_handler)
      fatal_handler(why);
  }

  static std::unique_ptr<commands::Conversation> conversation_in(const std::weak_ptr<Impl>& weak,
                                                                 const std::string& channel,
                                                                 const std::string& thread) {
    auto self = weak.lock();
    if (!self || channel.empty())
      return nullptr;
    auto known = self->conversations.find(channel);
    if (known == self->conversations.end()) {
      spdlog::warn("teams: no conversation reference for {}; cannot post there", channel);
      return nullptr;
    }
    return std::make_unique<TeamsConversation>(
        self->connector, ConversationTarget{known->second.ref.service_url, channel}, thread);
  }

  // Remembers where a verified activity's conversation is served. Returns the reference to
  // store when it is new, changed or not stored yet (none without a store): the caller stores it
  // with the activity's record (Delivery::record), or at once for an activity that records none.
  std::optional<storage::ConversationRef> remember(const Activity& activity) {
    connector.allow(activity.service_url);
    auto& known = conversations[activity.conversation_id];
    storage::ConversationRef& ref = known.ref;
    if (ref.service_url != activity.service_url || ref.bot_id != activity.recipient_id) {
      ref.platform = "teams";
      ref.conversation_id = activity.conversation_id;
      ref.service_url = activity.service_url;
      ref.tenant_id = activity.tenant_id;
      ref.conversation_type = activity.conversation_type;
      ref.bot_id = activity.recipient_id;
      known.stored = false;
    }
    if (known.stored || !refs)
      return std::nullopt;
    return ref;
  }

  // `ref` is in the database now: its conversation needs no store until it changes.
  void stored(const storage::ConversationRef& ref) {
    auto known = conversations.find(ref.conversation_id);
    if (known != conversations.end() && known->second.ref.service_url == ref.service_url &&
        known->second.ref.bot_id == ref.bot_id)
      known->second.stored = true;
  }

  // For an activity that is not recorded (ignored: a conversationUpdate, a reaction): its own
  // transaction.
  void store_now(const storage::ConversationRef& ref) {
    try {
      refs->save(ref);
      stored(ref);
    } catch (const std::exception& error) {
      spdlog::error("teams: could not store the conversation reference for {}: {}",
                    ref.conversation_id, error.what());
    }
  }

  // The bot's route (with a verifier) and the outgoing webhook's (with its secret).
  static Status mount(const std::shared_ptr<Impl>& self, net::HttpServer& server) {
    const net::RouteOptions limits{self->options.max_body_bytes};
    if (self->verifier) {
      auto mounted = server.mount("POST", self->options.path, route(self, &Impl::handle), limits);
      if (!mounted)
        return mounted;
    }
    if (self->options.webhook_verify) {
      auto mounted = server.mount("POST", self->options.webhook_path,
                                  route(self, &Impl::handle_webhook), limits);
      if (!mounted)
        return mounted;
    }
    return Ok{};
  }

  using Handler = asio::awaitable<TeamsResponse> (*)(std::shared_ptr<Impl>, TeamsRequest);
  static net::RouteHandler route(const std::shared_ptr<Impl>& impl, Handler handler) {
    return [weak = std::weak_ptr<Impl>(impl),
            handler](net::ServerRequest request) -> asio::awaitable<net::ServerResponse> {
      net::ServerResponse response;
      auto self = weak.lock();
      if (!self) {
        response.status = 503;
        co_return response;
      }
      // The request is this handler's own: its 1-2 KB Authorization value is moved, not copied.
      std::string authorization;
      if (auto found = request.headers.find(std::string_view("Authorization"));
          found != request.headers.end())
        authorization = std::move(found->second);
      TeamsRequest incoming{std::move(authorization), std::move(request.body)};
      TeamsResponse answer = co_await handler(self, std::move(incoming));
      response.status = answer.status;
      response.headers.emplace_back("Content-Type", answer.content_type);
      response.body = std::move(answer.body);
      co_return response;
    };
  }

  static asio::awaitable<TeamsResponse> handle(std::shared_ptr<Impl> self, TeamsRequest request) {
    ++self->stats.requests;
    if (self->stopping)
      co_return text_response(503, "shutting down\n");
    if (!self->verifier)
      co_return text_response(404, "not found\n");
    if (request.authorization.empty()) {
      ++self->stats.refused;
      spdlog::warn("teams: refused a request without an Authorization header");
      co_return text_response(401, "unauthorized\n");
    }
    auto decoded = decode_activity(request.body);
    if (!decoded) {
      ++self->stats.malformed;
      spdlog::warn("teams: malformed activity: {}", decoded.error().message);
      co_return text_response(400, "malformed activity\n");
    }
    Activity activity = std::move(*decoded);
    std::string authorization = std::move(request.authorization);
    std::string channel_id = activity.channel_id;
    std::string service_url = activity.service_url;
    auto verified = co_await self->verifier->verify(std::move(authorization), std::move(channel_id),
                                                    std::move(service_url));
    if (!verified.ok()) {
      ++self->stats.refused;
      const int status = verified.status == 403 ? 403 : 401;
      spdlog::warn("teams: refused a {} activity ({}): {}", activity.type, status,
                   redact(verified.reason));
      co_return text_response(status, "unauthorized\n");
    }
    if (!activity.service_url.empty() && verified.caller.service_url != activity.service_url) {
      ++self->stats.refused;
      spdlog::warn("teams: refused a {} activity (403): its serviceUrl {} is not the token's {}",
                   activity.type, activity.service_url, verified.caller.service_url);
      co_return text_response(403, "unauthorized\n");
    }
    std::optional<storage::ConversationRef> to_store;
    if (!activity.service_url.empty() && !activity.conversation_id.empty())
      to_store = self->remember(activity);

    const Classified what = classify(activity);
    if (what.kind == Classified::Kind::ignore) {
      if (to_store)
        self->store_now(*to_store);
      ++self->stats.ignored;
      spdlog::debug("teams: ignored {}", what.why);
      if (activity.type == "invoke")
        co_return text_response(501, "");
      co_return text_response(200, "");
    }
    // A button answers in the thread of the card it was on; a message in its own thread.
    const std::string thread =
        !activity.reply_to_id.empty() &&
                (what.kind == Classified::Kind::card_action || !activity.value_command.empty())
            ? activity.reply_to_id
            : activity.id;
    IncomingCommand command{what.dedupe_key,
                            activity.from_aad_id.empty() ? activity.from_id : activity.from_aad_id,
                            activity.conversation_id, thread, what.text};
    // Recorded (with the activities that arrive together) before the answer; a read-only
    // command runs first and its replies share that commit (bot/command_intake.h, points 2-3).
    PendingAnswers::Waiter waiter(self->executor);
    const std::string ack_id = self->answers->add(waiter);
    // Forgotten however this coroutine ends (a frame destroyed at shutdown included).
    struct Forget {
      PendingAnswers& answers;
      const std::string& id;
      ~Forget() { answers.remove(id); }
    } forget{*self->answers, ack_id};
    Delivery delivery{self->answers, ack_id, std::move(command), {}};
    if (to_store) {
      // A conversation not stored yet: its reference commits with the activity (and the replies
      // that go to it), not in a transaction of its own.
      delivery.record = [weak = std::weak_ptr<Impl>(self), ref = *to_store] {
        if (auto owner = weak.lock(); owner && owner->refs)
          owner->refs->save(ref);
      };
    }
    self->intake.submit("teams", std::move(delivery));
    if (!waiter.answered) {
      // Woken by the intake either way (recorded, or not: a failed or stopped commit). The timer
      // never expires: arming a deadline here would cost two timerfd_settime calls per activity.
      boost::system::error_code ignored;
      co_await waiter.wake.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    if (!waiter.recorded) {
      spdlog::error("teams: could not record activity {}; Teams will send it again",
                    what.dedupe_key);
      co_return text_response(503, "try again\n");
    }
    if (to_store)
      self->stored(*to_store);
    if (waiter.duplicate)
      ++self->stats.duplicates;
    else
      ++self->stats.commands;
    if (what.kind == Classified::Kind::card_action) {
      // The card stays as it is, buttons included (the next person may press one), with a note
      // of the press; the command's outcome follows in the thread.
      const std::string who =
          activity.from_name.empty() ? std::string("someone") : activity.from_name;
      const std::string note =
          what.text + ": pressed by " + who + "; the outcome follows in the thread.";
      commands::Message card;
      if (auto shown = self->connector.card_of(activity.reply_to_id)) {
        card = std::move(*shown);
        card.context = card.context.empty() ? note : card.context + "\n" + note;
      } else {
        card = commands::Message(commands::Tone::progress, what.text);
        card.context = note;
      }
      co_return TeamsResponse{200, "application/json", render_invoke_card_response(card)};
    }
    co_return text_response(202, "");
  }

  static asio::awaitable<TeamsResponse> handle_webhook(std::shared_ptr<Impl> self,
                                                       TeamsRequest request) {
    ++self->stats.requests;
    if (self->stopping)
      co_return text_response(503, "shutting down\n");
    if (auto checked = self->options.webhook_verify(request.authorization, request.body);
        !checked) {
      ++self->stats.refused;
      spdlog::warn("teams webhook: refused a request: {}", checked.error().message);
      co_return text_response(401, "unauthorized\n");
    }
    auto decoded = decode_activity(request.body);
    if (!decoded) {
      ++self->stats.malformed;
      spdlog::warn("teams webhook: malformed activity: {}", decoded.error().message);
      co_return text_response(400, "malformed activity\n");
    }
    const Classified what = classify(*decoded);
    if (what.kind != Classified::Kind::command) {
      ++self->stats.ignored;
      co_return TeamsResponse{200, "application/json", render_webhook_answer({}, true)};
    }
    ++self->stats.commands;
    const Activity& activity = *decoded;
    IncomingCommand command{what.dedupe_key,
                            activity.from_aad_id.empty() ? activity.from_id : activity.from_aad_id,
                            activity.conversation_id, activity.id, what.text};
    auto replies =
        std::make_shared<WebhookReplies>(teams_address(activity.conversation_id, activity.id));
    auto finished = std::make_shared<bool>(false);
    auto signal =
        std::make_shared<asio::steady_timer>(self->executor, asio::steady_timer::time_point::max());
    asio::co_spawn(
        self->executor,
        [self, command = std::move(command), replies, finished,
         signal]() mutable -> asio::awaitable<void> {
          co_await self->intake.run_unrecorded("teams", std::move(command), *replies);
          *finished = true;
          signal->cancel();
        },
        asio::detached);
    if (!*finished) {
      using namespace asio::experimental::awaitable_operators;
      const auto deadline = self->options.webhook_deadline;
      co_await (wait_for_signal(signal) || self->timers.sleep_for(deadline));
    }
    std::string answer = render_webhook_answer(replies->messages(), *finished);
    replies->close();
    if (!*finished)
      spdlog::warn("teams webhook: '{}' still running at the answer deadline", what.text);
    co_return TeamsResponse{200, "application/json", std::move(answer)};
  }
};

TeamsTransport::TeamsTransport(asio::any_io_executor executor, CommandIntake& intake,
                               Timers& timers, InboundVerifier* verifier,
                               ConnectorCredentials* credentials,
                               storage::ConversationRefStore* refs, TeamsOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), intake, timers, verifier, credentials, refs,
                                   std::move(options))) {
  IntakePlatform platform;
  platform.name = "teams";
  platform.conversation = [weak = std::weak_ptr<Impl>(impl_)](const std::string& channel,
                                                              const std::string& thread) {
    return Impl::conversation_in(weak, channel, thread);
  };
  platform.identities = impl_->options.identities;
  platform.clean_text = [](std::string_view text) { return strip_teams_markup(text); };
  // The reply outbox (bot/reply_outbox.h). What Teams lets a bot look up: nothing that says
  // whether a message was posted. The connector has no call that lists a conversation's
  // activities or finds one by a key of ours (reading a chat or channel needs Microsoft Graph
  // permissions that a bot registration does not carry), so find_sent stays null: a post whose
  // answer was lost (killed or cut off after the request left) is posted again, which may show it
  // twice but never loses it. What it can do by id: an update (PUT of a known activity) is simply
  // sent again, and a reply goes under the thread's known activity. Recorded replies leave through
  // the same paced queue, to the conversation's stored service URL.
  platform.outbox.send = [weak = std::weak_ptr<Impl>(impl_)](
                             const std::string& intent, const std::string& channel,
                             const std::string& thread, const std::string& target_id,
                             const commands::Message& message,
                             std::shared_ptr<commands::OutboxTicket> ticket) {
    auto self = weak.lock();
    if (!self) {
      ticket->done(
          make_error("the Teams transport is gone", ErrorKind::unavailable, Reach::not_sent));
      return;
    }
    auto known = self->conversations.find(channel);
    if (known == self->conversations.end()) {
      ticket->done(make_error("Teams: no conversation reference for " + channel +
                                  " (no activity from it was ever verified)",
                              ErrorKind::not_found));
      return;
    }
    self->connector.send_recorded(intent,
                                  ConversationTarget{known->second.ref.service_url, channel},
                                  thread, target_id, message, std::move(ticket));
  };
  intake.attach(std::move(platform));
  impl_->connector.on_credentials_refused([weak = std::weak_ptr<Impl>(impl_)](const Error& error) {
    if (auto self = weak.lock())
      self->credentials_refused(error);
  });
}

TeamsTransport::~TeamsTransport() {
  impl_->stopping = true;
}

asio::awaitable<Status> TeamsTransport::start() {
  auto self = impl_;
  if (self->refs) {
    try {
      for (auto& ref : self->refs->list("teams")) {
        self->connector.allow(ref.service_url);
        const std::string id = ref.conversation_id;
        self->conversations.emplace(id, Impl::Known{std::move(ref), true});
      }
    } catch (const std::exception& error) {
      co_return make_error(std::string("teams: could not read the conversation references: ") +
                           error.what());
    }
  }
  // Like Slack's token check: a refused app secret stops here with a sentence saying so, instead
  // of every reply failing later. An unreachable login endpoint only warns: inbound still works.
  if (self->credentials) {
    auto token = co_await self->credentials->bearer();
    if (!token) {
      const Error& error = token.error();
      if (error.kind == ErrorKind::unavailable || error.kind == ErrorKind::tls) {
        spdlog::warn(
            "teams: no connector token yet ({}); replies fail until the login endpoint "
            "answers",
            error.message);
      } else {
        co_return make_error("Teams refused the app's credentials (" + error.message +
                                 "); check MicrosoftAppId, MicrosoftAppPassword and, for a "
                                 "single-tenant app, MicrosoftAppTenantId",
                             ErrorKind::auth);
      }
    }
  }
  // Commands recorded before a crash: run the ones that never started, report the rest.
  self->intake.replay("teams");
  if (self->options.listener) {
    auto shared = self->options.listener();
    if (!shared)
      co_return shared.error();
    auto mounted = Impl::mount(self, **shared);
    if (!mounted)
      co_return mounted.error();
    self->shared_server = *shared;
    if (self->verifier)
      spdlog::info("teams: receiving activities on {}:{}{} ({}, {} known conversations)",
                   self->options.bind_address, (*shared)->port(), self->options.path,
                   (*shared)->tls() ? "https" : "http", self->conversations.size());
    if (self->options.webhook_verify)
      spdlog::info("teams: outgoing webhook on {}:{}{}", self->options.bind_address,
                   (*shared)->port(), self->options.webhook_path);
  } else {
    net::HttpServerOptions server;
    server.name = "teams";
    server.bind_address = self->options.bind_address;
    server.port = self->options.port;
    server.tls_cert_file = self->options.tls_cert_file;
    server.tls_key_file = self->options.tls_key_file;
    auto started = net::HttpServer::start(self->executor, std::move(server));
    if (!started)
      co_return started.error();
    self->own_server = std::move(*started);
    auto mounted = Impl::mount(self, *self->own_server);
    if (!mounted)
      co_return mounted.error();
    if (self->verifier)
      spdlog::info("teams: receiving activities on {}:{}{} ({}, {} known conversations)",
                   self->options.bind_address, self->own_server->port(), self->options.path,
                   self->own_server->tls() ? "https" : "http", self->conversations.size());
    if (self->options.webhook_verify)
      spdlog::info("teams: outgoing webhook on {}:{}{}", self->options.bind_address,
                   self->own_server->port(), self->options.webhook_path);
  }
  co_return Ok{};
}

asio::awaitable<void> TeamsTransport::stop(std::chrono::milliseconds grace) {
  auto self = impl_;
  self->stopping = true;
  if (self->own_server)
    self->own_server->stop();
  if (self->shared_server) {
    self->shared_server->withdraw("POST", self->options.path);
    self->shared_server->withdraw("POST", self->options.webhook_path);
  }
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (self->connector.pending() > 0 && std::chrono::steady_clock::now() < deadline) {
    const auto pause = std::chrono::milliseconds(20);
    co_await self->timers.sleep_for(pause);
  }
  self->connector.shutdown();
  spdlog::info("teams: {} commands, {} redeliveries dropped, {} requests refused",
               self->stats.commands, self->stats.duplicates, self->stats.refused);
}

void TeamsTransport::on_fatal(std::function<void(std::string)> handler) {
  impl_->fatal_handler = std::move(handler);
}

std::unique_ptr<commands::Conversation> TeamsTransport::open(const std::string& address) {
  std::string conversation;
  std::string thread;
  if (!parse_teams_address(address, conversation, thread))
    return nullptr;
  return Impl::conversation_in(impl_, conversation, thread);
}

WorkspaceAbilities TeamsTransport::abilities() const {
  return {};
}

Error TeamsTransport::unsupported_create_room() const {
  return make_error(
      "teams cannot create rooms: creating a Teams channel needs Microsoft Graph permissions "
      "(Channel.Create) that the bot's registration does not have; Shipmate carries on in the "
      "conversation's thread instead",
      ErrorKind::invalid);
}

asio::awaitable<Result<std::string>> TeamsTransport::create_room(std::string, bool) {
  co_return unsupported_create_room();
}

asio::awaitable<TeamsResponse> TeamsTransport::handle(TeamsRequest request) {
  return Impl::handle(impl_, std::move(request));
}

asio::awaitable<TeamsResponse> TeamsTransport::handle_webhook(TeamsRequest request) {
  return Impl::handle_webhook(impl_, std::move(request));
}

int TeamsTransport::port() const {
  if (impl_->shared_server)
    return impl_->shared_server->port();
  return impl_->own_server ? impl_->own_server->port() : 0;
}

ChatTransport::Counters TeamsTransport::counters() const {
  Counters out;
  const ConnectorStats& stats = impl_->connector.stats();
  out.rate_limit_pauses = stats.rate_limited;
  out.api_calls = stats.by_method.all();
  return out;
}

ConnectorClient& TeamsTransport::connector() {
  return impl_->connector;
}

const TeamsStats& TeamsTransport::stats() const {
  return impl_->stats;
}

}  // namespace shipmate::bot::teams
