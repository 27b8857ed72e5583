#include "bot/slack/slack_transport.h"

#include <spdlog/spdlog.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <list>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "bot/command_intake.h"
#include "bot/slack/http_mode.h"
#include "bot/slack/slack_protocol.h"
#include "bot/slack/slack_workspace.h"
#include "commands/reply.h"
#include "common/clock.h"
#include "common/redact.h"
#include "common/timer.h"
#include "integrations/net/http_client.h"
#include "integrations/net/http_server.h"
#include "integrations/net/websocket_client.h"

namespace shipmate::bot::slack {
namespace asio = boost::asio;
namespace net = integrations::net;

namespace {

// Errors after which reconnecting cannot help: the token or the app is not usable (WebApi gives
// them ErrorKind::auth).
bool is_fatal_auth_error(const Error& error) {
  return error.kind == ErrorKind::auth;
}

net::HttpClientOptions http_options(const SlackOptions& options) {
  net::HttpClientOptions http;
  http.ca_file = options.ca_file;
  http.verify_peer = options.verify_peer;
  // Every call goes to one host, and the reply queue sends one call per busy channel at once,
  // so dozens can be in flight. With the default pool of 4 idle connections, each burst beyond
  // four closed its connections and the next burst paid a new TCP (and TLS) handshake per call.
  http.max_idle_per_host = 64;
  return http;
}

// Where a Socket Mode connection's acks go: queued behind its other frames.
class SocketAcks final : public AckChannel {
 public:
  explicit SocketAcks(std::shared_ptr<net::WebSocketConnection> socket)
      : socket_(std::move(socket)) {}
  bool send_ack(const std::string& envelope_id) override {
    auto sent = socket_->queue_send(make_ack(envelope_id));
    if (!sent)
      spdlog::warn("slack: ack for {} not sent: {}", envelope_id, sent.error().message);
    return sent.ok();
  }
  asio::awaitable<void> acks_written() override { return socket_->drained(); }
  bool when_written(std::function<void()> then) override {
    socket_->when_drained(std::move(then));
    return true;
  }

 private:
  std::shared_ptr<net::WebSocketConnection> socket_;
};

IncomingCommand incoming(InboundCommand&& command) {
  return IncomingCommand{std::move(command.dedupe_key), std::move(command.user_id),
                         std::move(command.channel), std::move(command.thread_ts),
                         std::move(command.text)};
}

}  // namespace

struct SlackTransport::Impl : std::enable_shared_from_this<Impl> {
  // A refresh waiting for its replacement connection: the replacement's hello sets `ready` and
  // cancels `timer`, which otherwise bounds the wait.
  struct HandOver {
    explicit HandOver(asio::any_io_executor executor) : timer(std::move(executor)) {}
    asio::steady_timer timer;
    bool ready = false;
  };

  Impl(asio::any_io_executor executor_in, CommandIntake& intake_in, Timers& timers_in,
       SlackOptions options_in)
      : executor(std::move(executor_in)),
        intake(intake_in),
        timers(timers_in),
        options(std::move(options_in)),
        http(executor, http_options(options)),
        web(executor, http, options.bot_token, WebApiOptions{options.api_url, 5, options.pacing},
            timers),
        random(std::random_device{}()),
        workspace(web, options.clock ? *options.clock : system_clock,
                  options.channel_relist_interval) {
    register_secret(options.app_token);
    register_secret(options.bot_token);
    register_secret(options.signing_secret);
  }

  // Every long-running operation (a connection slot, a replacement opened by a hand-over, the
  // read-back of a reacted-to message) runs under a cancellation signal of its own, kept in
  // `operations` until it completes; end() emits them all, which ends every socket read, backoff
  // sleep, rate-limit pause and hand-over wait. Nothing starts once the transport has ended.
  void spawn(asio::awaitable<void> work) {
    if (ended)
      return;
    auto signal = operations.emplace(operations.end());
    asio::co_spawn(executor, std::move(work),
                   asio::bind_cancellation_slot(
                       signal->slot(), [weak = weak_from_this(), signal](std::exception_ptr) {
                         // Erased from a later turn: the signal's slot is still attached here.
                         auto self = weak.lock();
                         if (!self)
                           return;
                         asio::post(self->executor, [weak = std::weak_ptr<Impl>(self), signal] {
                           if (auto impl = weak.lock())
                             impl->operations.erase(signal);
                         });
                       }));
  }

  void spawn_slot(int slot, std::shared_ptr<HandOver> replacing = nullptr) {
    spawn(run_slot(shared_from_this(), slot, std::move(replacing)));
  }

  // Stop, fatal error or destruction: records why (readiness reports it), cancels every
  // operation and drops every socket. Only the first call does anything.
  bool end(std::string why) {
    if (ended)
      return false;
    ended = std::move(why);
    for (auto& signal : operations)
      signal.emit(asio::cancellation_type::terminal);
    for (auto* connection : std::set<net::WebSocketConnection*>(connections))
      connection->abort();
    return true;
  }

  void fail(const std::string& why) {
    if (!end(why))
      return;
    spdlog::error("slack: giving up: {}", why);
    if (fatal_handler)
      fatal_handler(why);
  }

  // A long-running operation's coroutines ask their own cancellation state (not a flag of the
  // transport's) whether to go on. Cancellation is observed, never thrown: each operation turns
  // off asio's throw_if_cancelled at its start.
  static bool cancelled(const asio::cancellation_state& state) {
    return state.cancelled() != asio::cancellation_type::none;
  }

  // At once after the first failure (a cut), backing off from the second in a row.
  std::chrono::milliseconds backoff(int failures) {
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    return reconnect_delay(failures, options.reconnect_base, options.reconnect_cap, 0.5,
                           unit(random));
  }

  // Sleeps only when there is a delay: a zero sleep would still cost a turn of the loop.
  static asio::awaitable<void> pause_before_retry(std::shared_ptr<Impl> self, int failures) {
    const auto delay = self->backoff(failures);
    if (delay.count() > 0)
      co_await self->timers.sleep_for(delay);
  }

  // `replacing`, when set, is a hand-over waiting for this slot's first connection to be ready.
  static asio::awaitable<void> run_slot(std::shared_ptr<Impl> self, int slot,
                                        std::shared_ptr<HandOver> replacing) {
    co_await asio::this_coro::throw_if_cancelled(false);
    const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    int failures = 0;
    // A slot's first connection is a connect; every later one, and a hand-over's, a reconnect.
    bool first = !replacing;
    while (!cancelled(state)) {
      if (!first)
        ++self->stats.reconnects;
      first = false;
      std::string method = "apps.connections.open";
      std::string body = "{}";
      std::string token = self->options.app_token;
      auto opened = co_await self->web.call(std::move(method), std::move(body), std::move(token));
      if (cancelled(state))
        break;
      if (!opened) {
        if (is_fatal_auth_error(opened.error())) {
          self->fail("Slack refused the app-level token (" + opened.error().message +
                     "); check SLACK_APP_TOKEN and that Socket Mode is enabled");
          break;
        }
        ++failures;
        spdlog::warn("slack: connection {}: {}", slot, opened.error().message);
        co_await pause_before_retry(self, failures);
        continue;
      }
      const std::string url = opened->field("url");
      net::WebSocketOptions ws_options;
      ws_options.ca_file = self->options.ca_file;
      ws_options.verify_peer = self->options.verify_peer;
      ws_options.ping_interval = self->options.ping_interval;
      ws_options.idle_timeout = self->options.idle_timeout;
      auto connection = co_await net::connect_websocket(self->executor, url, ws_options);
      if (cancelled(state))
        break;
      if (!connection) {
        ++failures;
        spdlog::warn("slack: connection {}: {}", slot, redact(connection.error().message));
        co_await pause_before_retry(self, failures);
        continue;
      }
      std::shared_ptr<net::WebSocketConnection> socket(std::move(*connection));
      const bool handed_over = co_await serve(self, socket, slot, failures, replacing);
      if (handed_over || cancelled(state))
        break;
      // A connection that was ready and got cut is replaced at once (failures was reset by its
      // hello); one that never got ready counts as another failure in a row.
      ++failures;
      co_await pause_before_retry(self, failures);
    }
  }

  // Reads one connection until it ends. Returns true when a replacement took over the slot.
  static asio::awaitable<bool> serve(std::shared_ptr<Impl> self,
                                     std::shared_ptr<net::WebSocketConnection> socket, int slot,
                                     int& failures, std::shared_ptr<HandOver>& replacing) {
    self->connections.insert(socket.get());
    struct Forget {
      Impl& impl;
      net::WebSocketConnection* socket;
      bool connected = false;
      ~Forget() {
        impl.connections.erase(socket);
        if (connected)
          --impl.stats.open_connections;
      }
    } forget{*self, socket.get()};
    auto acks = std::make_shared<SocketAcks>(socket);
    const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;

    while (!cancelled(state)) {
      auto frame = co_await socket->read();
      if (cancelled(state))
        co_return false;  // a frame read as the transport stopped is left unacked, as before
      if (!frame) {
        spdlog::warn("slack: connection {} lost: {}", slot, redact(frame.error().message));
        co_return false;
      }
      ++self->stats.frames;
      Decoded decoded = decode_socket_frame(*frame, self->bot_user);
      const Envelope& envelope = decoded.envelope;
      switch (envelope.kind) {
        case Envelope::Kind::hello:
          if (!forget.connected) {
            forget.connected = true;
            ++self->stats.open_connections;
          }
          ++self->stats.connects;
          failures = 0;
          spdlog::info("slack: connection {} ready ({} open)", slot, self->stats.open_connections);
          // A hand-over waiting for this connection may close the old one now.
          if (replacing) {
            replacing->ready = true;
            replacing->timer.cancel();
            replacing.reset();
          }
          continue;
        case Envelope::Kind::disconnect:
          if (envelope.disconnect_reason == "link_disabled") {
            self->fail("Socket Mode was turned off for this app (disconnect: link_disabled)");
            co_return true;
          }
          spdlog::info("slack: connection {} asked to reconnect ({})", slot,
                       envelope.disconnect_reason);
          co_await hand_over(self, slot);
          co_await socket->close();
          co_return true;
        case Envelope::Kind::malformed:
          ++self->stats.malformed;
          spdlog::warn("slack: ignored a malformed frame: {}", envelope.error);
          if (envelope.envelope_id.empty())
            continue;
          break;
        default:
          break;
      }
      if (envelope.envelope_id.empty())
        continue;
      ++self->stats.envelopes;
      std::optional<IncomingCommand> command;
      if (decoded.command)
        command = incoming(std::move(*decoded.command));
      if (decoded.reaction)
        self->reaction(std::move(*decoded.reaction));
      self->intake.submit(
          "slack", Delivery{acks, std::move(decoded.envelope.envelope_id), std::move(command), {}});
      // Everything read so far is submitted: record and ack it now rather than a turn later.
      if (!socket->has_buffered())
        self->intake.flush();
    }
    co_return false;
  }

  // Opens the replacement connection for `slot` and waits (bounded) until that very connection
  // is ready, so the old one can close without a gap. Its hello ends the wait.
  static asio::awaitable<void> hand_over(std::shared_ptr<Impl> self, int slot) {
    const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    auto waiting = std::make_shared<HandOver>(self->executor);
    waiting->timer.expires_after(kHandOverLimit);
    self->spawn_slot(slot, waiting);
    while (!waiting->ready && !cancelled(state) &&
           waiting->timer.expiry() > std::chrono::steady_clock::now()) {
      boost::system::error_code ignored;
      co_await waiting->timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
  }

  // The conversation a command from channel/thread is answered in (the intake's factory).
  static std::unique_ptr<commands::Conversation> conversation_in(const std::weak_ptr<Impl>& weak,
                                                                 const std::string& channel,
                                                                 const std::string& thread) {
    auto self = weak.lock();
    if (!self || channel.empty())
      return nullptr;
    return std::make_unique<SlackConversation>(self->web, channel, thread);
  }

  static asio::awaitable<void> drain_replies(std::shared_ptr<Impl> self,
                                             std::chrono::milliseconds grace);

  static constexpr std::chrono::milliseconds kHandOverLimit{10000};

  asio::any_io_executor executor;
  CommandIntake& intake;
  // Backoff sleeps, the Web API's retry waits and the reply drain at stop; a sleep ends early
  // when its operation's cancellation signal is emitted.
  Timers& timers;
  SlackOptions options;
  net::HttpClient http;
  WebApi web;
  std::mt19937_64 random;
  std::string bot_user;
  SlackStats stats;
  // Why the transport ended (stop, a fatal error), once it has: readiness reports it and no
  // operation starts after it. The operations themselves watch their cancellation state.
  std::optional<std::string> ended;
  std::set<net::WebSocketConnection*> connections;
  std::list<asio::cancellation_signal> operations;  // one per operation in flight (spawn())
  std::function<void(std::string)> fatal_handler;
  std::unique_ptr<SlackHttpServer> http_server;
  net::HttpServer* shared_server = nullptr;  // HTTP mode on a shared listener
  std::function<void(ReactionAdded)> reaction_handler;
  SystemClock system_clock;
  // Rooms, channel names and reacted-to messages (slack_workspace.h), over `web`.
  SlackWorkspace workspace;

  std::string identity_of(const std::string& slack_user) const {
    if (slack_user.empty())
      return {};
    auto found = options.identities.find(slack_user);
    return found != options.identities.end() ? found->second : "slack:" + slack_user;
  }

  // A reaction: the message's text is read back (conversations.history, the one message at its
  // ts) before the handler hears of it; a message that cannot be read is reported without text.
  void reaction(InboundReaction inbound) {
    if (!reaction_handler)
      return;
    spawn(read_reacted(shared_from_this(), std::move(inbound)));
  }

  static asio::awaitable<void> read_reacted(std::shared_ptr<Impl> self, InboundReaction inbound) {
    co_await asio::this_coro::throw_if_cancelled(false);
    const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    ReactionAdded event;
    event.room = "slack:" + inbound.channel + ":";
    event.user = self->identity_of(inbound.user_id);
    event.emoji = inbound.reaction;
    event.message_id = inbound.message_ts;
    try {  // Slack's ts is the posting time: "<unix seconds>.<sequence>"
      event.message_at = static_cast<long long>(std::stod(inbound.message_ts) * 1000.0);
    } catch (const std::exception&) {
      event.message_at = 0;
    }
    event.author = self->identity_of(inbound.item_user);
    event.delivery_id = inbound.dedupe_key;
    std::string channel = inbound.channel;
    std::string ts = inbound.message_ts;
    auto text = co_await self->workspace.read_message_text(std::move(channel), std::move(ts));
    if (text)
      event.text = std::move(*text);
    else
      event.problem = "its text could not be read (" + text.error().message + ")";
    if (cancelled(state) || !self->reaction_handler)
      co_return;
    self->reaction_handler(std::move(event));
  }
};

SlackTransport::SlackTransport(asio::any_io_executor executor, CommandIntake& intake,
                               Timers& timers, SlackOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), intake, timers, std::move(options))) {
  IntakePlatform platform;
  platform.name = "slack";
  platform.conversation = [weak = std::weak_ptr<Impl>(impl_)](const std::string& channel,
                                                              const std::string& thread) {
    return Impl::conversation_in(weak, channel, thread);
  };
  platform.identities = impl_->options.identities;
  platform.clean_text = [](std::string_view text) { return strip_mention_markup(text); };
  // The reply outbox looks for the bot's own replies by their metadata after a restart, and
  // sends recorded ones through the same queue.
  platform.outbox.find_sent =
      [weak = std::weak_ptr<Impl>(impl_)](
          std::string channel, std::string thread,
          EpochMillis since) -> asio::awaitable<Result<std::map<std::string, std::string>>> {
    auto self = weak.lock();
    if (!self)
      co_return make_error("the Slack transport is gone");
    auto found = co_await self->web.find_keyed(std::move(channel), std::move(thread), since);
    co_return found;
  };
  platform.outbox.send = [weak = std::weak_ptr<Impl>(impl_)](
                             const std::string& intent, const std::string& channel,
                             const std::string& thread, const std::string& target_id,
                             const commands::Message& message,
                             std::shared_ptr<commands::OutboxTicket> ticket) {
    auto self = weak.lock();
    if (!self) {
      ticket->done(make_error("the Slack transport is gone"));
      return;
    }
    self->web.send_recorded(intent, channel, thread, target_id, message, std::move(ticket));
  };
  intake.attach(std::move(platform));
}

SlackTransport::~SlackTransport() {
  impl_->end("stopping");
}

asio::awaitable<Status> SlackTransport::start() {
  auto self = impl_;
  std::string method = "auth.test";
  std::string body = "{}";
  auto auth = co_await self->web.call(std::move(method), std::move(body));
  if (!auth) {
    const Error& error = auth.error();
    const std::string& why = error.message;
    switch (error.kind) {
      case ErrorKind::auth:
        co_return make_error("Slack refused the bot token (" + why + "); check SLACK_BOT_TOKEN",
                             ErrorKind::auth);
      case ErrorKind::unavailable:
      case ErrorKind::tls:
        co_return make_error("Slack's Web API at " + self->options.api_url + " is unreachable (" +
                                 why +
                                 "); the bot token was not checked. Check the network, any proxy "
                                 "(HTTPS_PROXY, NO_PROXY) and SLACK_API_URL",
                             error.kind);
      case ErrorKind::internal:
      case ErrorKind::invalid:
      case ErrorKind::not_found:
      case ErrorKind::conflict:
        break;
    }
    co_return make_error("Slack's Web API at " + self->options.api_url +
                             " answered the bot token check with an error (" + why + ")",
                         error.kind);
  }
  self->bot_user = auth->field("user_id");
  spdlog::info("slack: signed in as {} ({} connections)", self->bot_user,
               self->options.connections);

  // Commands acknowledged before a crash: run the ones that never started, report the rest.
  self->intake.replay("slack");

  if (self->options.mode == "http") {
    std::weak_ptr<Impl> weak = self;
    auto handler = std::make_shared<SlackHttpHandler>(
        self->options.signing_secret, self->bot_user,
        [weak](const InboundCommand& command) {
          auto impl = weak.lock();
          if (!impl)
            return false;
          InboundCommand copy = command;
          return impl->intake.accept_now("slack", incoming(std::move(copy))) !=
                 CommandIntake::Accepted::not_recorded;
        },
        [] {
          return std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
              .count();
        });
    handler->on_reaction([weak](const InboundReaction& reaction) {
      if (auto impl = weak.lock())
        impl->reaction(reaction);
    });
    SlackHttpServer::Handler route = [handler](const SlackHttpRequest& request) {
      return handler->handle(request);
    };
    if (self->options.listener) {
      auto shared = self->options.listener();
      if (!shared)
        co_return shared.error();
      auto mounted = mount_slack_routes(**shared, std::move(route));
      if (!mounted)
        co_return mounted.error();
      self->shared_server = *shared;
      spdlog::info("slack: receiving events over HTTP on {}:{}", self->options.http_bind,
                   (*shared)->port());
      co_return Ok{};
    }
    auto server = SlackHttpServer::start(self->executor, self->options.http_bind,
                                         self->options.http_port, std::move(route));
    if (!server)
      co_return server.error();
    self->http_server = std::move(*server);
    spdlog::info("slack: receiving events over HTTP on {}:{}", self->options.http_bind,
                 self->http_server->port());
    co_return Ok{};
  }

  for (int slot = 0; slot < std::max(1, self->options.connections); ++slot)
    self->spawn_slot(slot);
  co_return Ok{};
}

asio::awaitable<void> SlackTransport::stop(std::chrono::milliseconds grace) {
  // No new envelope is read from here on; the rest is waiting for replies.
  impl_->end("stopping");
  if (impl_->http_server)
    impl_->http_server->stop();
  if (impl_->shared_server) {
    for (const char* path : kSlackPaths)
      impl_->shared_server->withdraw("POST", path);
  }
  return Impl::drain_replies(impl_, grace);
}

asio::awaitable<void> SlackTransport::Impl::drain_replies(std::shared_ptr<Impl> self,
                                                          std::chrono::milliseconds grace) {
  // Give queued replies a moment to go out, then drop the rest.
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (self->web.pending() > 0 && std::chrono::steady_clock::now() < deadline) {
    const auto pause = std::chrono::milliseconds(20);
    co_await self->timers.sleep_for(pause);
  }
  self->web.shutdown();
  spdlog::info("slack: {} envelopes recorded in {} inbox commits", self->stats.envelopes,
               self->intake.stats().batches);
}

void SlackTransport::on_fatal(std::function<void(std::string)> handler) {
  impl_->fatal_handler = std::move(handler);
}

ChatTransport::Counters SlackTransport::counters() const {
  Counters out;
  out.reconnects = impl_->stats.reconnects;
  out.rate_limit_pauses = impl_->web.rate_limited_count();
  out.api_calls = impl_->web.call_counts();
  return out;
}

std::size_t SlackTransport::operations_in_flight() const {
  return impl_->operations.size();
}

const SlackStats& SlackTransport::stats() const {
  return impl_->stats;
}
WebApi& SlackTransport::web_api() {
  return impl_->web;
}
const std::string& SlackTransport::bot_user_id() const {
  return impl_->bot_user;
}

std::unique_ptr<commands::Conversation> SlackTransport::open(const std::string& address) {
  auto [channel, thread] = split_slack_address(address);
  return Impl::conversation_in(impl_, channel, thread);
}

std::string SlackTransport::readiness_problem() const {
  if (impl_->ended)
    return "stopping";
  if (impl_->options.mode == "http")
    return impl_->http_server || impl_->shared_server ? ""
                                                      : "the Slack HTTP endpoint is not listening";
  if (impl_->stats.open_connections > 0)
    return {};
  return "no Socket Mode connection is open (0 of " + std::to_string(impl_->options.connections) +
         "); reconnecting";
}

int SlackTransport::http_port() const {
  if (impl_->shared_server)
    return impl_->shared_server->port();
  return impl_->http_server ? impl_->http_server->port() : 0;
}

WorkspaceAbilities SlackTransport::abilities() const {
  WorkspaceAbilities abilities;
  abilities.create_room = true;
  abilities.invite = true;
  abilities.pin = true;
  abilities.set_topic = true;
  abilities.resolve_channel = true;
  abilities.archive_room = true;
  return abilities;
}

void SlackTransport::on_reaction(std::function<void(ReactionAdded)> handler) {
  impl_->reaction_handler = std::move(handler);
}

std::string SlackTransport::mention(const std::string& room_address) const {
  return SlackWorkspace::mention(room_address);
}

// The workspace abilities are SlackWorkspace's (slack_workspace.h); each call holds the Impl
// (and so the workspace and the Web API) until it completes.
asio::awaitable<Result<std::string>> SlackTransport::resolve_channel(std::string channel_name) {
  auto self = impl_;
  co_return co_await self->workspace.resolve_channel(std::move(channel_name));
}

asio::awaitable<Result<std::string>> SlackTransport::create_room(std::string room_name,
                                                                 bool is_private) {
  auto self = impl_;
  co_return co_await self->workspace.create_room(std::move(room_name), is_private);
}

asio::awaitable<Status> SlackTransport::invite(std::string room_address,
                                               std::vector<std::string> user_ids) {
  auto self = impl_;
  co_return co_await self->workspace.invite(std::move(room_address), std::move(user_ids));
}

asio::awaitable<Status> SlackTransport::pin(std::string room_address, commands::MessageRef ref) {
  auto self = impl_;
  co_return co_await self->workspace.pin(std::move(room_address), std::move(ref));
}

asio::awaitable<Status> SlackTransport::set_topic(std::string room_address, std::string topic) {
  auto self = impl_;
  co_return co_await self->workspace.set_topic(std::move(room_address), std::move(topic));
}

asio::awaitable<Status> SlackTransport::archive_room(std::string room_address) {
  auto self = impl_;
  co_return co_await self->workspace.archive_room(std::move(room_address));
}

asio::awaitable<Result<RoomOrigin>> SlackTransport::room_origin(std::string room_address) {
  auto self = impl_;
  std::string me = bot_user_id();
  auto origin = co_await self->workspace.room_origin(std::move(room_address), std::move(me));
  co_return origin;
}

}  // namespace shipmate::bot::slack
