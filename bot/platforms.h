// The chat platforms Shipmate can join: one table, read by the App.
//
// Adding a platform (Teams, say) is a folder bot/teams/ with its transport (a ChatTransport,
// feeding the CommandIntake), its config section and user-id format in bot/config.cpp, and one
// line in chat_platforms() (bot/platforms.cpp). The App never names a platform.
//
// Contract: make() runs on the event-loop thread at start-up. It returns null when the platform
// is not asked for (no credentials in the environment); a platform that is asked for but cannot
// join (a credential missing for its mode) logs why and returns null too.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "bot/chat_transport.h"
#include "bot/config.h"

namespace shipmate {
class Timers;
}
namespace shipmate::storage {
class Database;
}
namespace shipmate::integrations::net {
class HttpListeners;
}

namespace shipmate::bot {

class CommandIntake;

struct PlatformContext {
  boost::asio::any_io_executor executor;
  const Config& config;
  CommandIntake& intake;
  Timers& timers;  // every wait a transport makes (common/timer.h)
  // An environment variable's value; "" when unset.
  std::function<std::string(const char* name)> environment;
  // The state database, for transports that remember where to post (Teams' conversation
  // references); null in tests that do not need it.
  storage::Database* database = nullptr;
  // The process's HTTP listeners (bot/listeners.h decides which one a platform's webhook routes
  // go on); null in tests that give a transport a listener of its own.
  integrations::net::HttpListeners* listeners = nullptr;
};

struct ChatPlatform {
  std::string_view name;  // "slack": also the transport's name() and its addresses' prefix
  std::unique_ptr<ChatTransport> (*make)(const PlatformContext& context);
};

const std::vector<ChatPlatform>& chat_platforms();

// The configured users' ids on `platform` (UserSpec::ids), as platform id -> Shipmate identity.
std::map<std::string, std::string> identities_on(const commands::Catalog& catalog,
                                                 std::string_view platform);

}  // namespace shipmate::bot
