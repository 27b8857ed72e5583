#include "bot/router.h"

#include <spdlog/spdlog.h>

#include "commands/permission.h"
#include "commands/resolve.h"
#include "common/redact.h"
#include "common/strings.h"
#include "storage/database.h"

namespace shipmate::bot {

Router::Router(commands::Services& services, const commands::CommandRegistry& registry,
               std::string bot_name)
    : services_(services), registry_(registry), bot_name_(to_lower(bot_name)) {}

std::string_view Router::strip_address_view(std::string_view text) const {
  text = trim(text);
  // "@shipmate", "/shipmate" or "shipmate", then the end, a space, ':' or ','.
  std::string_view rest = text;
  if (!rest.empty() && (rest.front() == '@' || rest.front() == '/'))
    rest.remove_prefix(1);
  if (!starts_with_ci(rest, bot_name_))
    return text;
  rest.remove_prefix(bot_name_.size());
  if (!rest.empty() && rest.front() != ' ' && rest.front() != ':' && rest.front() != ',')
    return text;
  if (!rest.empty() && (rest.front() == ':' || rest.front() == ','))
    rest.remove_prefix(1);
  return trim(rest);
}

std::string Router::strip_address(std::string_view text) const {
  return std::string(strip_address_view(text));
}

bool Router::changes_state(std::string_view text) const {
  const auto words = commands::leading_words(strip_address_view(text));
  const auto found = registry_.lookup(words.first, words.second);
  return found.kind == commands::Lookup::Kind::command && found.spec->changes_state();
}

boost::asio::awaitable<void> Router::dispatch(ChatEvent event,
                                              commands::Conversation& conversation) {
  using commands::error_message;
  using commands::Lookup;
  using commands::Token;
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
  auto bare = [&](std::size_t i) -> std::string_view {
    return i < tokens->size() && (*tokens)[i].kind == Token::Kind::word
               ? std::string_view((*tokens)[i].text)
               : std::string_view();
  };
  const std::string_view first = bare(0);
  const std::string_view second = first.empty() ? std::string_view() : bare(1);
  const Lookup found = registry_.lookup(first, second);
  if (found.kind == Lookup::Kind::group) {
    commands::Message listing = commands::info(registry_.describe_group(*found.group));
    listing.preformatted = true;
    conversation.post(listing);
    co_return;
  }
  if (found.kind == Lookup::Kind::unknown) {
    auto suggestions = registry_.suggest(first.empty() ? tokens->front().text : first, second);
    // Echo both words when they were read as one path: a group's word and a word that is none
    // of its commands, or a near miss of a two-word command.
    const bool two = !second.empty() &&
                     (found.group != nullptr ||
                      (!suggestions.empty() && suggestions.front().find(' ') != std::string::npos));
    const std::string typed =
        two ? std::string(first) + " " + std::string(second) : tokens->front().text;
    std::string reply = "Unknown command '" + typed + "'";
    if (!suggestions.empty())
      reply += " - did you mean '" + suggestions.front() + "'? Type 'help' for the list.";
    else if (found.group != nullptr)
      reply += ". Type 'help " + found.group->word + "' for its commands.";
    else
      reply += ". Type 'help' for the list.";
    conversation.post(error_message(reply));
    count(nullptr, kBadArguments);
    co_return;
  }
  const commands::CommandSpec& spec = *found.spec;
  std::vector<Token> arg_tokens(tokens->begin() + static_cast<std::ptrdiff_t>(found.words),
                                tokens->end());
  auto args = commands::CommandRegistry::parse(spec, arg_tokens);
  if (!args) {
    conversation.post(error_message(args.error().message));
    count(&spec, kBadArguments);
    co_return;
  }

  commands::Caller caller{event.user_id, services_.catalog.find_user(event.user_id)};
  auto refuse = [&](const commands::Refusal& refusal) {
    if (!refusal.audit_action.empty()) {
      commands::record_audit(services_, event.user_id, refusal.audit_action, refusal.audit_target,
                             "refused", refusal.reason);
    }
    conversation.post(error_message(refusal.reply));
    count(&spec, kRefused);
  };
  if (auto refusal = commands::check_identity(spec, caller)) {
    refuse(*refusal);
    co_return;
  }
  if (spec.changes_state()) {
    commands::record_audit(services_, event.user_id, "command", spec.path, "received", text);
  }
  if (auto refusal = commands::check_scope(services_, spec, *args, caller)) {
    refuse(*refusal);
    co_return;
  }
  if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("{} ran '{}' via {}", event.user_id, redact(text), event.platform);
  }

  commands::CommandContext ctx{services_, caller, conversation, spec, std::move(*args), text};
  try {
    co_await spec.handler(ctx);
    count(&spec, kOk);
  } catch (const storage::StorageError& e) {
    spdlog::error("storage failure in '{}': {}", spec.path, redact(e.what()));
    // A replica that lost its lease (cut off from the database) stays quiet: whoever takes its
    // work over reports on it, and "try again" would be wrong advice.
    if (!services_.may_act || services_.may_act()) {
      conversation.post(error_message("Internal error while running " + spec.path +
                                      ": the database refused a write (" + redact(e.what()) +
                                      "). Nothing was half-written; try again."));
    }
    count(&spec, kError);
  } catch (const std::exception& e) {
    spdlog::error("'{}' failed: {}", spec.path, redact(e.what()));
    conversation.post(
        error_message("Internal error while running " + spec.path + ": " + redact(e.what())));
    count(&spec, kError);
  }
}

void Router::count_commands(metrics::Registry& registry) {
  static constexpr const char* kNames[kOutcomes] = {"ok", "error", "refused", "bad_arguments"};
  const std::string help = "Commands dispatched, by command and outcome.";
  const std::vector<std::string> labels = {"command", "outcome"};
  for (const auto& spec : registry_.all()) {
    auto& slots = counters_[&spec];
    for (int i = 0; i < kOutcomes; ++i)
      slots[i] = &registry.counter("shipmate_commands_total", help, labels, {spec.path, kNames[i]});
  }
  unknown_ =
      &registry.counter("shipmate_commands_total", help, labels, {"unknown", "bad_arguments"});
}

void Router::count(const commands::CommandSpec* spec, Outcome outcome) {
  if (spec == nullptr) {
    if (unknown_ != nullptr)
      unknown_->inc();
    return;
  }
  const auto found = counters_.find(spec);
  if (found != counters_.end())
    found->second[outcome]->inc();
}

}  // namespace shipmate::bot
