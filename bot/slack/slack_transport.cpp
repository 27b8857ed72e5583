#include "bot/slack/slack_transport.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>
#include <set>

#include "bot/slack/http_mode.h"
#include "bot/slack/slack_protocol.h"
#include "commands/reply.h"
#include "common/redact.h"
#include "integrations/net/http_client.h"
#include "integrations/net/websocket_client.h"
#include "storage/database.h"

namespace shipmate::bot::slack {
namespace asio = boost::asio;
namespace net = integrations::net;

namespace {

// Longer preformatted output (history, audit) goes out as a file rather than a cut message.
constexpr std::size_t kSnippetThreshold = 2800;

bool wants_snippet(const commands::Message& message) {
  return message.preformatted && message.text.size() > kSnippetThreshold;
}

// The first lines of a long output, for the message that announces the snippet.
commands::Message summary_of(const commands::Message& message) {
  commands::Message summary = message;
  std::size_t cut = message.text.rfind('\n', 1200);
  summary.text = message.text.substr(0, cut == std::string::npos ? 1200 : cut) + "\n...";
  summary.context = "Full output (" + std::to_string(message.text.size()) +
                    " characters) is attached as a snippet.";
  return summary;
}

}  // namespace

commands::MessageRef SlackConversation::post(const commands::Message& message) {
  if (wants_snippet(message)) {
    const auto ref = api_.post(channel_, thread_ts_, summary_of(message));
    api_.upload_snippet(channel_, thread_ts_, "Shipmate output", message.text, "");
    return std::to_string(ref);
  }
  return std::to_string(api_.post(channel_, thread_ts_, message));
}

void SlackConversation::update(const commands::MessageRef& ref, const commands::Message& message) {
  api_.update(std::stoull(ref), message);
}

void SlackConversation::thread_reply(const commands::MessageRef& ref,
                                     const commands::Message& message) {
  api_.thread_reply(std::stoull(ref), message);
}

namespace {

// Errors after which reconnecting cannot help: the token or the app is not usable.
bool is_fatal_auth_error(const std::string& message) {
  for (const char* code :
       {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "user_removed_from_team",
        "team_disabled", "link_disabled", "no_permission", "missing_scope"}) {
    if (message.find(code) != std::string::npos)
      return true;
  }
  return false;
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

}  // namespace

struct SlackTransport::Impl : std::enable_shared_from_this<Impl> {
  // An envelope read off a socket, waiting for its batch to be recorded and acked.
  struct Delivery {
    std::shared_ptr<net::WebSocketConnection> socket;
    std::string envelope_id;
    std::optional<InboundCommand> command;  // empty: ack only (bot messages, malformed, ...)
  };
  Impl(asio::any_io_executor executor_in, Router& router_in, storage::InboxStore& inbox_in,
       SlackOptions options_in)
      : executor(std::move(executor_in)),
        router(router_in),
        inbox(inbox_in),
        options(std::move(options_in)),
        http(executor, http_options(options)),
        web(executor, http, options.bot_token, WebApiOptions{options.api_url, 5, options.pacing}),
        random(std::random_device{}()),
        done_timer(executor) {
    register_secret(options.app_token);
    register_secret(options.bot_token);
    register_secret(options.signing_secret);
  }

  asio::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
    asio::steady_timer timer(executor, duration);
    timers.insert(&timer);
    boost::system::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    timers.erase(&timer);
  }

  void fail(const std::string& why) {
    if (stopping)
      return;
    stopping = true;
    spdlog::error("slack: giving up: {}", why);
    for (auto* connection : connections)
      connection->abort();
    for (auto* timer : timers)
      timer->cancel();
    if (fatal_handler)
      fatal_handler(why);
  }

  std::chrono::milliseconds backoff(int failures) {
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    return backoff_delay(failures, options.reconnect_base, options.reconnect_cap, 0.5,
                         unit(random));
  }

  static asio::awaitable<void> run_slot(std::shared_ptr<Impl> self, int slot) {
    int failures = 0;
    while (!self->stopping) {
      std::string method = "apps.connections.open";
      std::string body = "{}";
      std::string token = self->options.app_token;
      auto opened = co_await self->web.call(std::move(method), std::move(body), std::move(token));
      if (self->stopping)
        break;
      if (!opened) {
        if (is_fatal_auth_error(opened.error().message)) {
          self->fail("Slack refused the app-level token (" + opened.error().message +
                     "); check SLACK_APP_TOKEN and that Socket Mode is enabled");
          break;
        }
        ++failures;
        spdlog::warn("slack: connection {}: {}", slot, opened.error().message);
        co_await self->sleep_for(self->backoff(failures));
        continue;
      }
      const std::string url = opened->field("url");
      net::WebSocketOptions ws_options;
      ws_options.ca_file = self->options.ca_file;
      ws_options.verify_peer = self->options.verify_peer;
      ws_options.ping_interval = self->options.ping_interval;
      ws_options.idle_timeout = self->options.idle_timeout;
      auto connection = co_await net::connect_websocket(self->executor, url, ws_options);
      if (self->stopping)
        break;
      if (!connection) {
        ++failures;
        spdlog::warn("slack: connection {}: {}", slot, redact(connection.error().message));
        co_await self->sleep_for(self->backoff(failures));
        continue;
      }
      std::shared_ptr<net::WebSocketConnection> socket(std::move(*connection));
      const bool handed_over = co_await serve(self, socket, slot, failures);
      if (handed_over || self->stopping)
        break;
      ++failures;
      co_await self->sleep_for(self->backoff(failures));
    }
  }

  // Reads one connection until it ends. Returns true when a replacement took over the slot.
  static asio::awaitable<bool> serve(std::shared_ptr<Impl> self,
                                     std::shared_ptr<net::WebSocketConnection> socket, int slot,
                                     int& failures) {
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

    while (!self->stopping) {
      auto frame = co_await socket->read();
      if (!frame) {
        if (!self->stopping) {
          spdlog::warn("slack: connection {} lost: {}", slot, redact(frame.error().message));
        }
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

      self->intake.push_back(
          Delivery{socket, std::move(decoded.envelope.envelope_id), std::move(decoded.command)});
      self->gather_intake();
    }
    co_return false;
  }

  // Group commit. Envelopes that arrive together (already buffered on the socket, or read one
  // after another without the event loop going idle) are recorded in one inbox transaction and
  // then acked together, instead of paying a WAL commit and a socket write per envelope. Each
  // ack still follows the commit of its envelope. Every envelope a socket read brought in is
  // decoded at once; the batch then stays open until a few turns of the event loop bring no new
  // envelope (kIntakeIdleTurns), so that stragglers of a burst join it.
  void gather_intake() {
    if (intake_gathering)
      return;
    intake_gathering = true;
    intake_seen = intake.size();
    intake_idle_turns = 0;
    post_intake_turn();
  }

  void post_intake_turn() {
    asio::post(executor, [weak = weak_from_this()] {
      if (auto self = weak.lock())
        self->intake_turn();
    });
  }

  void intake_turn() {
    // `intake` only grows while a batch gathers, so its size tells whether an envelope came.
    if (intake.size() != intake_seen) {
      intake_seen = intake.size();
      intake_idle_turns = 0;
    } else {
      ++intake_idle_turns;
    }
    if (intake_idle_turns < kIntakeIdleTurns && intake.size() < kMaxIntakeBatch && !stopping) {
      post_intake_turn();
      return;
    }
    intake_gathering = false;
    ++stats.intake_batches;
    commit_intake();
  }

  void commit_intake() {
    std::vector<Delivery> batch;
    batch.swap(intake);
    // Not recorded means not acked: Slack redelivers when it hears nothing.
    if (batch.empty() || stopping)
      return;
    std::vector<storage::InboxEntry> entries;
    for (const auto& delivery : batch) {
      if (delivery.command)
        entries.push_back(inbox_entry(*delivery.command));
    }
    // Commands finished since the last commit are marked done in the same transaction.
    std::vector<std::string> finished_keys;
    finished_keys.swap(done_keys);
    std::vector<bool> fresh;
    try {
      fresh = inbox.accept_all(entries, finished_keys);
    } catch (const storage::StorageError& e) {
      spdlog::error("slack: cannot record {} commands, leaving them for redelivery: {}",
                    entries.size(), e.what());
      // The finished ones wait for the next commit.
      done_keys.insert(done_keys.begin(), std::make_move_iterator(finished_keys.begin()),
                       std::make_move_iterator(finished_keys.end()));
      return;
    }
    std::size_t recorded = 0;
    std::vector<InboundCommand> to_run;
    for (auto& delivery : batch) {
      // Acks leave in the order their envelopes arrived, coalesced into as few writes as the
      // connection allows; a failed send shows up as a lost connection on its next read.
      auto sent = delivery.socket->queue_send(make_ack(delivery.envelope_id));
      if (sent)
        ++stats.acks;
      else
        spdlog::warn("slack: ack for {} not sent: {}", delivery.envelope_id, sent.error().message);
      if (!delivery.command) {
        ++stats.ignored;
        continue;
      }
      // A command whose ack was lost still runs: it is in the inbox, where Slack's
      // redelivery will find it.
      if (!fresh[recorded++]) {
        ++stats.duplicates;
        continue;
      }
      to_run.push_back(std::move(*delivery.command));
    }
    if (!to_run.empty()) {
      asio::co_spawn(executor,
                     run_after_acks(shared_from_this(), std::move(batch), std::move(to_run)),
                     asio::detached);
    }
  }

  // The batch's commands start once its acks are out: started together with the acks, they
  // would hold each ack back behind a command's work.
  static asio::awaitable<void> run_after_acks(std::shared_ptr<Impl> self,
                                              std::vector<Delivery> batch,
                                              std::vector<InboundCommand> commands) {
    net::WebSocketConnection* previous = nullptr;
    for (const auto& delivery : batch) {
      if (delivery.socket.get() != previous)
        co_await delivery.socket->drained();
      previous = delivery.socket.get();
    }
    for (auto& command : commands)
      asio::co_spawn(self->executor, handle(self, std::move(command)), asio::detached);
  }

  // Opens the replacement connection for `slot` and waits (bounded) until it is ready, so the
  // old one can close without a gap.
  static asio::awaitable<void> hand_over(std::shared_ptr<Impl> self, int slot) {
    const auto connects_before = self->stats.connects;
    asio::co_spawn(self->executor, run_slot(self, slot), asio::detached);
    for (int waited = 0; waited < 200 && self->stats.connects == connects_before && !self->stopping;
         ++waited) {
      co_await self->sleep_for(std::chrono::milliseconds(50));
    }
  }

  // Records a delivered command and schedules it; false when it cannot be recorded (the
  // platform should deliver it again later). A redelivery is recorded as a duplicate only.
  static bool accept(const std::shared_ptr<Impl>& self, InboundCommand command) {
    auto fresh = self->record(command);
    if (!fresh)
      return false;
    if (!*fresh) {
      ++self->stats.duplicates;
      return true;
    }
    asio::co_spawn(self->executor, handle(self, std::move(command)), asio::detached);
    return true;
  }

  // Writes a delivered command to the inbox: true when it is new, false for a redelivery,
  // nullopt when the database refused (the delivery must not be acknowledged).
  std::optional<bool> record(const InboundCommand& command) {
    try {
      return inbox.accept(inbox_entry(command));
    } catch (const storage::StorageError& e) {
      spdlog::error("slack: cannot record command {}: {}", command.dedupe_key, e.what());
      return std::nullopt;
    }
  }

  static storage::InboxEntry inbox_entry(const InboundCommand& command) {
    return storage::InboxEntry{"slack:" + command.dedupe_key,
                               "slack",
                               command.user_id,
                               command.channel,
                               command.thread_ts,
                               command.text,
                               "",
                               0};
  }

  static asio::awaitable<void> handle(std::shared_ptr<Impl> self, InboundCommand command) {
    const std::string key = "slack:" + command.dedupe_key;
    auto identity = self->options.identities.find(command.user_id);
    const std::string user =
        identity != self->options.identities.end() ? identity->second : "slack:" + command.user_id;
    SlackConversation conversation(self->web, command.channel, command.thread_ts);
    ++self->stats.commands;
    std::string failure;
    try {
      // A command that changes things is marked started before it runs, so a crash mid-way is
      // reported instead of repeated. A read-only one may simply run again after a crash, which
      // saves a write per command.
      if (self->router.changes_state(command.text))
        self->inbox.mark_started(key);
      // A named event, not a temporary: GCC 12 destroys temporaries in co_await arguments twice.
      ChatEvent event{"slack", key, user, command.channel, command.thread_ts, command.text};
      co_await self->router.dispatch(std::move(event), conversation);
      self->finished(key);
      co_return;
    } catch (const std::exception& e) {
      failure = redact(e.what());
      spdlog::error("slack: command {} failed before it ran: {}", key, failure);
    }
    // The Router answers for failures inside a command's handler; what reaches here failed before
    // the handler ran (recording its start, its audit entry). The user hears that, and the
    // command counts as finished: a restart must not run what the user was told did not run.
    conversation.post(commands::error_message("Internal error: " + failure +
                                              ". The command did not run; try again."));
    self->finished(key);
  }

  // Finished commands are marked done in batches: one transaction per few milliseconds instead
  // of one per command. Losing a batch in a crash only means a finished command is reported as
  // interrupted (or a read-only one answered twice).
  void finished(const std::string& key) {
    done_keys.push_back(key);
    if (done_keys.size() >= kDoneBatch) {
      flush_done();
      return;
    }
    if (flush_armed)
      return;
    flush_armed = true;
    done_timer.expires_after(kDoneFlushDelay);
    done_timer.async_wait([weak = weak_from_this()](boost::system::error_code) {
      if (auto self = weak.lock())
        self->flush_done();
    });
  }

  void flush_done() {
    flush_armed = false;
    if (done_keys.empty())
      return;
    std::vector<std::string> keys;
    keys.swap(done_keys);
    try {
      inbox.mark_done(keys);
    } catch (const storage::StorageError& e) {
      spdlog::error("slack: cannot mark {} commands done: {}", keys.size(), e.what());
    }
  }

  static constexpr std::size_t kMaxIntakeBatch = 64;
  // Turns of the event loop without a new envelope before a batch closes, so that envelopes
  // arriving a moment apart share a commit. When each frame cost a read completion of its own,
  // 4 turns measured best on the Slack benchmark (2: ack p99 1.0-1.5 ms, 3: 0.85-1.3 ms, 4:
  // 0.77-0.95 ms). Since a read drains every buffered frame at once, 1, 2 and 4 measure the same
  // within the host's noise (0.6-0.8 ms); 4 stayed.
  static constexpr int kIntakeIdleTurns = 4;
  std::vector<Delivery> intake;
  std::size_t intake_seen = 0;  // intake.size() at the last turn
  int intake_idle_turns = 0;
  bool intake_gathering = false;

  static constexpr std::size_t kDoneBatch = 256;
  // Under load, finished commands ride along with the next intake commit; the timer only
  // matters when no envelope arrives for a while.
  static constexpr std::chrono::milliseconds kDoneFlushDelay{20};
  std::vector<std::string> done_keys;
  bool flush_armed = false;

  asio::any_io_executor executor;
  Router& router;
  storage::InboxStore& inbox;
  SlackOptions options;
  net::HttpClient http;
  WebApi web;
  std::mt19937_64 random;
  asio::steady_timer done_timer;
  std::string bot_user;
  SlackStats stats;
  bool stopping = false;
  std::set<net::WebSocketConnection*> connections;
  std::set<asio::steady_timer*> timers;
  std::function<void(std::string)> fatal_handler;
  std::unique_ptr<SlackHttpServer> http_server;
};

SlackTransport::SlackTransport(asio::any_io_executor executor, Router& router,
                               storage::InboxStore& inbox, SlackOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), router, inbox, std::move(options))) {}

SlackTransport::~SlackTransport() {
  impl_->stopping = true;
  for (auto* connection : impl_->connections)
    connection->abort();
  for (auto* timer : impl_->timers)
    timer->cancel();
}

asio::awaitable<Status> SlackTransport::start() {
  auto self = impl_;
  std::string method = "auth.test";
  std::string body = "{}";
  auto auth = co_await self->web.call(std::move(method), std::move(body));
  if (!auth) {
    co_return make_error("Slack refused the bot token (" + auth.error().message +
                         "); check SLACK_BOT_TOKEN");
  }
  self->bot_user = auth->field("user_id");
  spdlog::info("slack: signed in as {} ({} connections)", self->bot_user,
               self->options.connections);

  // Commands acknowledged before a crash: run the ones that never started, report the rest.
  for (const auto& entry : self->inbox.in_state("received")) {
    if (entry.platform != "slack")
      continue;
    InboundCommand command;
    command.dedupe_key = entry.key.substr(6);
    command.user_id = entry.user_id;
    command.channel = entry.channel;
    command.thread_ts = entry.thread;
    command.text = entry.text;
    asio::co_spawn(self->executor, Impl::handle(self, std::move(command)), asio::detached);
  }
  for (const auto& entry : self->inbox.in_state("started")) {
    if (entry.platform != "slack")
      continue;
    SlackConversation conversation(self->web, entry.channel, entry.thread);
    conversation.post(commands::warning("Shipmate restarted while running '" + entry.text +
                                        "'; check 'status' and 'history' before trying again."));
    self->inbox.mark_done(entry.key);
  }

  if (self->options.mode == "http") {
    std::weak_ptr<Impl> weak = self;
    auto handler = std::make_shared<SlackHttpHandler>(
        self->options.signing_secret, self->bot_user,
        [weak](const InboundCommand& command) {
          auto impl = weak.lock();
          return impl && Impl::accept(impl, command);
        },
        [] {
          return std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
              .count();
        });
    auto server = SlackHttpServer::start(
        self->executor, self->options.http_bind, self->options.http_port,
        [handler](const SlackHttpRequest& request) { return handler->handle(request); });
    if (!server)
      co_return server.error();
    self->http_server = std::move(*server);
    spdlog::info("slack: receiving events over HTTP on {}:{}", self->options.http_bind,
                 self->http_server->port());
    co_return Ok{};
  }

  for (int slot = 0; slot < std::max(1, self->options.connections); ++slot) {
    asio::co_spawn(self->executor, Impl::run_slot(self, slot), asio::detached);
  }
  co_return Ok{};
}

asio::awaitable<void> SlackTransport::stop(std::chrono::milliseconds grace) {
  auto self = impl_;
  self->stopping = true;
  for (auto* connection : std::set<net::WebSocketConnection*>(self->connections)) {
    connection->abort();
  }
  for (auto* timer : self->timers)
    timer->cancel();
  if (self->http_server)
    self->http_server->stop();
  self->done_timer.cancel();
  self->flush_done();
  // Give queued replies a moment to go out, then drop the rest.
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (self->web.pending() > 0 && std::chrono::steady_clock::now() < deadline) {
    asio::steady_timer timer(self->executor, std::chrono::milliseconds(20));
    boost::system::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  self->web.shutdown();
  spdlog::info("slack: {} envelopes recorded in {} inbox commits", self->stats.envelopes,
               self->stats.intake_batches);
}

void SlackTransport::on_fatal(std::function<void(std::string)> handler) {
  impl_->fatal_handler = std::move(handler);
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

std::unique_ptr<commands::Conversation> SlackTransport::conversation_for(
    const std::string& address) {
  // "slack:<channel>:<thread ts>", the thread part possibly empty.
  const std::string rest = address.substr(6);
  const auto colon = rest.find(':');
  const std::string channel = rest.substr(0, colon);
  const std::string thread = colon == std::string::npos ? "" : rest.substr(colon + 1);
  if (channel.empty())
    return nullptr;
  return std::make_unique<SlackConversation>(impl_->web, channel, thread);
}

int SlackTransport::http_port() const {
  return impl_->http_server ? impl_->http_server->port() : 0;
}

}  // namespace shipmate::bot::slack
