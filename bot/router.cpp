#include "bot/router.h"

#include <spdlog/spdlog.h>

#include "commands/resolve.h"
#include "common/redact.h"
#include "common/strings.h"
#include "storage/database.h"

namespace shipmate::bot {

Router::Router(commands::Services& services, const commands::CommandRegistry& registry,
               std::string bot_name)
    : services_(services), registry_(registry), bot_name_(to_lower(bot_name)) {}

std::string Router::strip_address(std::string_view text) const {
  text = trim(text);
  // Slack-style mention of any user id: <@U123ABC>
  if (text.size() > 3 && text.substr(0, 2) == "<@") {
    auto close = text.find('>');
    if (close != std::string_view::npos)
      text = trim(text.substr(close + 1));
  }
  for (std::string prefix : {"@" + bot_name_, "/" + bot_name_, bot_name_}) {
    if (starts_with_ci(text, prefix)) {
      std::string_view rest = text.substr(prefix.size());
      if (rest.empty() || rest.front() == ' ' || rest.front() == ':' || rest.front() == ',') {
        if (!rest.empty() && (rest.front() == ':' || rest.front() == ','))
          rest.remove_prefix(1);
        text = trim(rest);
        break;
      }
    }
  }
  return std::string(text);
}

bool Router::changes_state(std::string_view text) const {
  auto tokens = commands::tokenize(strip_address(text));
  if (!tokens || tokens->empty() || tokens->front().kind != commands::Token::Kind::word)
    return false;
  const auto* spec = registry_.find(tokens->front().text);
  return spec != nullptr && spec->mutating;
}

boost::asio::awaitable<void> Router::dispatch(ChatEvent event,
                                              commands::Conversation& conversation) {
  using commands::error_message;
  const std::string text = strip_address(event.text);
  if (text.empty()) {
    conversation.post(commands::info("Say 'help' to see what I can do."));
    co_return;
  }
  auto tokens = commands::tokenize(text);
  if (!tokens) {
    conversation.post(error_message(tokens.error().message));
    co_return;
  }
  const std::string word = tokens->front().text;
  const commands::CommandSpec* spec =
      tokens->front().kind == commands::Token::Kind::word ? registry_.find(word) : nullptr;
  if (spec == nullptr) {
    auto suggestions = registry_.suggest(word);
    std::string reply = "Unknown command '" + word + "'";
    reply += suggestions.empty() ? "." : " - did you mean '" + suggestions.front() + "'?";
    reply += " Type 'help' for the list.";
    conversation.post(error_message(reply));
    co_return;
  }
  std::vector<commands::Token> arg_tokens(tokens->begin() + 1, tokens->end());
  auto args = commands::CommandRegistry::parse(*spec, arg_tokens);
  if (!args) {
    conversation.post(error_message(args.error().message));
    co_return;
  }

  commands::Caller caller{event.user_id, services_.catalog.find_user(event.user_id)};
  if (spec->mutating && caller.user == nullptr) {
    const std::string why = event.user_id + " is not a configured user and may not run '" +
                            spec->name + "'; ask an admin to add them under users:";
    commands::record_audit(services_, event.user_id, "command.refused", spec->name, "refused", why);
    conversation.post(error_message(why));
    co_return;
  }
  if (spec->mutating) {
    commands::record_audit(services_, event.user_id, "command", spec->name, "received", text);
  }
  if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("{} ran '{}' via {}", event.user_id, redact(text), event.platform);
  }

  commands::CommandContext ctx{services_, caller, conversation, *spec, std::move(*args), text};
  try {
    co_await spec->handler(ctx);
  } catch (const storage::StorageError& e) {
    spdlog::error("storage failure in '{}': {}", spec->name, redact(e.what()));
    conversation.post(error_message("Internal error while running " + spec->name +
                                    ": the database refused a write (" + redact(e.what()) +
                                    "). Nothing was half-written; try again."));
  } catch (const std::exception& e) {
    spdlog::error("'{}' failed: {}", spec->name, redact(e.what()));
    conversation.post(
        error_message("Internal error while running " + spec->name + ": " + redact(e.what())));
  }
}

}  // namespace shipmate::bot
