#include "bot/teams/teams_platform.h"

#include <spdlog/spdlog.h>

#include <charconv>

#include "bot/listeners.h"
#include "bot/teams/bot_framework_auth.h"
#include "bot/teams/teams_auth.h"
#include "bot/teams/teams_transport.h"
#include "common/clock.h"
#include "integrations/net/http_client.h"
#include "storage/conversation_refs.h"

namespace shipmate::bot::teams {
namespace asio = boost::asio;
namespace net = integrations::net;

namespace {

constexpr int kDefaultPort = 3978;

// The transport together with everything it borrows: the auth clients, their HTTP client and
// clock, and the conversation-reference store.
class OwningTeamsTransport final : public ChatTransport {
 public:
  OwningTeamsTransport(const PlatformContext& context, TeamsSettings settings_in,
                       TeamsOptions options)
      : settings_(std::move(settings_in)), http_(context.executor, http_options(settings_)) {
    if (!settings_.app_id.empty()) {
      verifier_ = make_inbound_verifier(context.executor, settings_, http_, clock_);
      credentials_ = make_connector_credentials(context.executor, settings_, http_, clock_);
    }
    if (context.database)
      refs_ = std::make_unique<storage::ConversationRefStore>(*context.database, clock_);
    transport_ = std::make_unique<TeamsTransport>(context.executor, context.intake, context.timers,
                                                  verifier_.get(), credentials_.get(), refs_.get(),
                                                  std::move(options));
  }

  std::string_view name() const override { return transport_->name(); }
  asio::awaitable<Status> start() override { return transport_->start(); }
  asio::awaitable<void> stop(std::chrono::milliseconds grace) override {
    return transport_->stop(grace);
  }
  void on_fatal(std::function<void(std::string)> handler) override {
    transport_->on_fatal(std::move(handler));
  }
  std::unique_ptr<commands::Conversation> open(const std::string& address) override {
    return transport_->open(address);
  }
  std::string readiness_problem() const override { return transport_->readiness_problem(); }
  WorkspaceAbilities abilities() const override { return transport_->abilities(); }
  Error unsupported_create_room() const override { return transport_->unsupported_create_room(); }
  asio::awaitable<Result<std::string>> resolve_channel(std::string channel_name) override {
    return transport_->resolve_channel(std::move(channel_name));
  }
  asio::awaitable<Result<std::string>> create_room(std::string room_name,
                                                   bool is_private) override {
    return transport_->create_room(std::move(room_name), is_private);
  }
  asio::awaitable<Status> invite(std::string room_address,
                                 std::vector<std::string> user_ids) override {
    return transport_->invite(std::move(room_address), std::move(user_ids));
  }
  asio::awaitable<Status> pin(std::string room_address, commands::MessageRef ref) override {
    return transport_->pin(std::move(room_address), std::move(ref));
  }
  asio::awaitable<Status> set_topic(std::string room_address, std::string topic) override {
    return transport_->set_topic(std::move(room_address), std::move(topic));
  }
  Counters counters() const override { return transport_->counters(); }

 private:
  static net::HttpClientOptions http_options(const TeamsSettings& settings) {
    net::HttpClientOptions options;
    options.ca_file = settings.ca_file;
    return options;
  }

  TeamsSettings settings_;
  SystemClock clock_;
  net::HttpClient http_;
  std::unique_ptr<InboundVerifier> verifier_;
  std::unique_ptr<ConnectorCredentials> credentials_;
  std::unique_ptr<storage::ConversationRefStore> refs_;
  std::unique_ptr<TeamsTransport> transport_;
};

}  // namespace

Result<std::optional<int>> port_from_environment(const std::string& value) {
  if (value.empty())
    return std::optional<int>();
  int port = 0;
  auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), port);
  if (error != std::errc() || end != value.data() + value.size() || port < 1 || port > 65535)
    return make_error("PORT must be a port number (1-65535), not '" + value + "'",
                      ErrorKind::invalid);
  return std::optional<int>(port);
}

std::unique_ptr<ChatTransport> make_teams_transport(const PlatformContext& context) {
  auto loaded = load_teams_settings(context.config, context.environment);
  if (!loaded) {
    spdlog::error("teams: {}; not joining Teams", loaded.error().message);
    return nullptr;
  }
  if (!*loaded)
    return nullptr;
  TeamsSettings settings = std::move(**loaded);

  auto port = port_from_environment(context.environment("PORT"));
  if (!port) {
    spdlog::error("teams: {}; not joining Teams", port.error().message);
    return nullptr;
  }
  TeamsOptions options;
  options.app_id = settings.app_id;
  // PORT (Bot Framework tooling's convention) or teams listen: ask for an address of its own;
  // otherwise the shared http: listener when there is one (bot/listeners.h).
  std::optional<ListenAddress> own = context.config.teams.listen;
  if (*port)
    own = ListenAddress{own ? own->bind : options.bind_address, **port};
  if (own)
    options.bind_address = own->bind;
  options.port = own ? own->port : kDefaultPort;
  options.ca_file = settings.ca_file;
  options.tls_cert_file = context.environment("TEAMS_TLS_CERT_FILE");
  options.tls_key_file = context.environment("TEAMS_TLS_KEY_FILE");
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    spdlog::error(
        "teams: TEAMS_TLS_CERT_FILE and TEAMS_TLS_KEY_FILE go together (set both for "
        "HTTPS, neither for plain HTTP behind a proxy); not joining Teams");
    return nullptr;
  }
  if (context.listeners != nullptr) {
    const ListenerChoice choice = choose_listener(
        context.config.http, own, ListenAddress{options.bind_address, options.port});
    const bool tls = !options.tls_cert_file.empty();
    if (tls && choice.kind == ListenerChoice::Kind::shared) {
      spdlog::error(
          "teams: TEAMS_TLS_CERT_FILE and TEAMS_TLS_KEY_FILE are for a listener of Teams' own, "
          "but /api/messages is on the shared http: listener; set tls_cert_file and "
          "tls_key_file under http: instead; not joining Teams");
      return nullptr;
    }
    if (choice.kind == ListenerChoice::Kind::shared)
      options.bind_address = context.config.http.bind;
    // With TLS files of its own, Teams keeps its own listener, as before.
    if (!tls) {
      options.listener = [listeners = context.listeners, choice] {
        return listener_for(*listeners, choice, "teams");
      };
    }
  }
  options.identities = identities_on(context.config.catalog, "teams");
  if (!settings.outgoing_webhook_secret.empty()) {
    options.webhook_verify = [secret = settings.outgoing_webhook_secret](
                                 std::string_view authorization, std::string_view body) {
      return verify_outgoing_webhook(authorization, body, secret);
    };
  }
  return std::make_unique<OwningTeamsTransport>(context, std::move(settings), std::move(options));
}

}  // namespace shipmate::bot::teams
