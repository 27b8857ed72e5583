#include "bot/slack/slack_platform.h"

#include <spdlog/spdlog.h>

#include "bot/listeners.h"

namespace shipmate::bot::slack {

std::optional<SlackOptions> slack_options(const PlatformContext& context) {
  const Config& config = context.config;
  SlackOptions options;
  options.mode = config.slack.mode;
  options.app_token = context.environment("SLACK_APP_TOKEN");
  options.bot_token = context.environment("SLACK_BOT_TOKEN");
  options.signing_secret = context.environment("SLACK_SIGNING_SECRET");
  options.http_bind = config.slack.http_bind;
  options.http_port = config.slack.http_port;
  if (options.bot_token.empty())
    return std::nullopt;
  if (options.mode == "socket" && options.app_token.empty())
    return std::nullopt;
  if (options.mode == "http" && options.signing_secret.empty()) {
    spdlog::error("slack mode is http but SLACK_SIGNING_SECRET is not set; not joining Slack");
    return std::nullopt;
  }
  if (auto url = context.environment("SLACK_API_URL"); !url.empty()) {
    options.api_url = url.back() == '/' ? url : url + "/";
  }
  if (options.mode == "http" && context.listeners != nullptr) {
    std::optional<ListenAddress> own;
    if (config.slack.listen_set)
      own = ListenAddress{config.slack.http_bind, config.slack.http_port};
    const ListenerChoice choice =
        choose_listener(config.http, own, ListenAddress{config.slack.http_bind, 3000});
    if (choice.kind == ListenerChoice::Kind::shared)
      options.http_bind = config.http.bind;
    options.listener = [listeners = context.listeners, choice] {
      return listener_for(*listeners, choice, "slack http");
    };
  }
  options.connections = config.slack.connections;
  options.ca_file = config.slack.ca_file;
  options.pacing.interval = std::chrono::milliseconds(config.slack.reply_interval_ms);
  options.pacing.burst = config.slack.reply_burst;
  options.identities = identities_on(config.catalog, "slack");
  return options;
}

std::unique_ptr<ChatTransport> make_slack_transport(const PlatformContext& context) {
  auto options = slack_options(context);
  if (!options)
    return nullptr;
  return std::make_unique<SlackTransport>(context.executor, context.intake, context.timers,
                                          std::move(*options));
}

}  // namespace shipmate::bot::slack
