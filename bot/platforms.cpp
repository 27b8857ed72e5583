#include "bot/platforms.h"

#include "bot/slack/slack_platform.h"
#include "bot/teams/teams_platform.h"

namespace shipmate::bot {

const std::vector<ChatPlatform>& chat_platforms() {
  static const std::vector<ChatPlatform> platforms{
      {"slack", &slack::make_slack_transport},
      {"teams", &teams::make_teams_transport},
  };
  return platforms;
}

std::map<std::string, std::string> identities_on(const commands::Catalog& catalog,
                                                 std::string_view platform) {
  std::map<std::string, std::string> identities;
  for (const auto& user : catalog.users) {
    auto id = user.ids.find(platform);
    if (id != user.ids.end() && !id->second.empty())
      identities[id->second] = user.id;
  }
  return identities;
}

}  // namespace shipmate::bot
