#include "commands/incident_rooms.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "commands/incident_model.h"
#include "commands/incidents.h"
#include "common/redact.h"
#include "common/strings.h"

namespace shipmate::commands {
namespace {

namespace asio = boost::asio;

constexpr std::size_t kMaxTopic = 250;
constexpr std::size_t kMaxPinnedText = 1000;

// At most `limit` bytes, never ending inside a UTF-8 sequence; "..." marks a cut.
std::string cut(std::string text, std::size_t limit) {
  if (text.size() <= limit)
    return text;
  text.resize(limit - 3);
  while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xC0) == 0x80)
    text.pop_back();
  if (!text.empty() && static_cast<unsigned char>(text.back()) >= 0xC0)
    text.pop_back();
  return text + "...";
}

// "slack:C1:" -> "slack"
std::string platform_of(std::string_view address) {
  return std::string(address.substr(0, address.find(':')));
}

// A room of its own is stored as a whole channel: its address ends with ':' (no thread).
bool is_own_room(std::string_view room) {
  return !room.empty() && room.back() == ':';
}

// The platform ids of Shipmate users; people without one there are named in `missing`.
std::vector<std::string> platform_ids(const Catalog& catalog, const std::string& platform,
                                      const std::vector<std::string>& identities,
                                      std::vector<std::string>& missing) {
  std::vector<std::string> ids;
  for (const auto& identity : identities) {
    const UserSpec* user = catalog.find_user(identity);
    const std::string id = user == nullptr                ? std::string()
                           : user->ids.contains(platform) ? user->ids.find(platform)->second
                                                          : std::string();
    if (id.empty()) {
      if (std::find(missing.begin(), missing.end(), identity) == missing.end())
        missing.push_back(identity);
      continue;
    }
    if (std::find(ids.begin(), ids.end(), id) == ids.end())
      ids.push_back(id);
  }
  return ids;
}

std::string commander_of(Services& services, std::int64_t id) {
  const auto& roles = services.incident_settings->roles;
  if (roles.empty())
    return {};
  for (const auto& held : services.incidents->roles(id)) {
    if (held.role == roles.front())
      return held.user_id;
  }
  return {};
}

// Who a new room invites: the declarer and everyone holding an `incidents.invite` role.
std::vector<std::string> first_invitees(Services& services, const std::string& declarer) {
  std::vector<std::string> people;
  if (services.catalog.find_user(declarer) != nullptr)
    people.push_back(declarer);
  for (const auto& user : services.catalog.users) {
    for (const auto& role : services.incident_settings->invite_roles) {
      if (user.has_role(role) && std::find(people.begin(), people.end(), user.id) == people.end())
        people.push_back(user.id);
    }
  }
  return people;
}

// The declaring conversation keeps the incident; `why` says why it has no room of its own.
std::string fall_back(Services& services, std::int64_t id, Conversation& declared_in,
                      const std::string& why) {
  post_incident_card(services, id, declared_in);
  if (!why.empty()) {
    declared_in.post(warning("No room of its own for " + storage::incident_label(id) + ": " +
                             redact(why) + ". It runs here instead."));
  }
  return declared_in.address();
}

}  // namespace

std::string room_topic(const storage::IncidentRecord& incident, std::string_view commander) {
  std::string topic = storage::incident_label(incident.id) + " | " +
                      severity_label(incident.severity) + " | " + incident.status;
  if (!commander.empty())
    topic += " | commander " + std::string(commander);
  topic += " | " + incident.title;
  return cut(std::move(topic), kMaxTopic);
}

asio::awaitable<std::string> settle_incident_room(Services& services, std::int64_t incident_id,
                                                  Conversation& declared_in, std::string declarer) {
  const auto incident = services.incidents->get(incident_id);
  if (!incident)
    co_return declared_in.address();
  const IncidentSettings& settings = *services.incident_settings;
  IncidentRooms* rooms = services.incident_rooms;
  const std::string from = declared_in.address();
  if (rooms == nullptr || !settings.create_rooms || services.conversations == nullptr ||
      !rooms->can_create(from))
    co_return fall_back(services, incident_id, declared_in, "");
  const bool is_private = incident->is_private;

  std::optional<OpenedRoom> opened;
  std::string problem;
  int suffix = 0;
  for (;;) {
    std::string name =
        incident_room_name(settings.room_prefix, incident->declared_at, incident->title, suffix);
    std::string from_address = from;
    auto created = co_await rooms->create(std::move(from_address), std::move(name), is_private);
    if (created) {
      opened = *created;
      break;
    }
    const RoomFallback decision = judge_room_failure(created.error(), suffix);
    if (decision.retry_with_suffix == 0) {
      problem = decision.message;
      break;
    }
    suffix = decision.retry_with_suffix;
  }
  if (!opened) {
    co_return fall_back(services, incident_id, declared_in,
                        is_private ? problem + "; this conversation is not private" : problem);
  }
  auto room = services.conversations->open(opened->address);
  if (!room) {
    co_return fall_back(services, incident_id, declared_in,
                        "the room " + opened->address + " was made but cannot be posted to");
  }
  const std::string room_address = room->address();
  post_incident_card(services, incident_id, *room);
  record_incident_event(
      services, incident_id, "room", declarer,
      std::string(is_private ? "private room " : "room ") + opened->address + " opened");
  if (is_private) {
    // The declaring conversation may be public: it learns no more than the id and the room.
    declared_in.post(info(storage::incident_label(incident_id) +
                          " is private: its invite-only room is " + opened->mention));
  } else {
    declared_in.post(info(storage::incident_label(incident_id) + " \"" + incident->title +
                          "\" has its own room: " + opened->mention));
  }

  std::vector<std::string> problems;
  const MessageRef card = services.incidents->get(incident_id)->card_ref;
  std::string pin_room = room_address;
  auto pinned = co_await rooms->pin(std::move(pin_room), card);
  if (!pinned)
    problems.push_back("pin the summary (" + pinned.error().message + ")");
  std::string topic_room = room_address;
  std::string topic = room_topic(*incident, commander_of(services, incident_id));
  auto topic_set = co_await rooms->set_topic(std::move(topic_room), std::move(topic));
  if (!topic_set)
    problems.push_back("set the topic (" + topic_set.error().message + ")");
  std::vector<std::string> missing;
  const std::vector<std::string> people = first_invitees(services, declarer);
  std::vector<std::string> ids =
      platform_ids(services.catalog, platform_of(room_address), people, missing);
  if (!ids.empty()) {
    std::string invite_room = room_address;
    auto invited = co_await rooms->invite(std::move(invite_room), std::move(ids));
    if (!invited)
      problems.push_back("invite " + join(people, ", ") + " (" + invited.error().message + ")");
  }
  if (!missing.empty()) {
    problems.push_back("invite " + join(missing, ", ") + " (no " + platform_of(room_address) +
                       " id under their ids:)");
  }
  if (!problems.empty())
    room->post(warning("Shipmate could not " + redact(join(problems, "; ")) + "."));
  co_return room_address;
}

asio::awaitable<void> invite_to_incident_room(Services& services, std::int64_t incident_id,
                                              std::vector<std::string> identities) {
  if (services.incident_rooms == nullptr || services.incidents == nullptr)
    co_return;
  const auto incident = services.incidents->get(incident_id);
  if (!incident || !is_own_room(incident->room))
    co_return;
  std::vector<std::string> missing;
  std::vector<std::string> ids =
      platform_ids(services.catalog, platform_of(incident->room), identities, missing);
  std::string problem;
  if (!ids.empty()) {
    std::string room = incident->room;
    auto invited = co_await services.incident_rooms->invite(std::move(room), std::move(ids));
    if (!invited)
      problem = "invite " + join(identities, ", ") + " (" + invited.error().message + ")";
  }
  if (!missing.empty()) {
    problem += (problem.empty() ? "" : "; ") + std::string("invite ") + join(missing, ", ") +
               " (no " + platform_of(incident->room) + " id under their ids:)";
  }
  if (problem.empty() || services.conversations == nullptr)
    co_return;
  if (auto room = services.conversations->open(incident->room))
    room->post(warning("Shipmate could not " + redact(problem) + "."));
}

asio::awaitable<void> refresh_room_topic(Services& services, std::int64_t incident_id) {
  if (services.incident_rooms == nullptr || services.incidents == nullptr)
    co_return;
  const auto incident = services.incidents->get(incident_id);
  if (!incident || !is_own_room(incident->room))
    co_return;
  std::string room = incident->room;
  std::string topic = room_topic(*incident, commander_of(services, incident_id));
  auto set = co_await services.incident_rooms->set_topic(std::move(room), std::move(topic));
  if (!set) {
    spdlog::warn("incidents: could not set the topic of {}'s room: {}",
                 storage::incident_label(incident_id), set.error().message);
  }
}

bool can_see_incident(Services& services, const storage::IncidentRecord& incident,
                      const Caller& caller) {
  if (!incident.is_private)
    return true;
  static const std::vector<std::string> kNoRoles;
  const auto& invite_roles =
      services.incident_settings != nullptr ? services.incident_settings->invite_roles : kNoRoles;
  const std::vector<storage::IncidentRole> holders = services.incidents != nullptr
                                                         ? services.incidents->roles(incident.id)
                                                         : std::vector<storage::IncidentRole>{};
  return incident_visible_to(incident, caller.user_id, caller.user, invite_roles, holders);
}

bool note_reaction(Services& services, const ReactionNote& reaction) {
  if (services.incidents == nullptr || services.incident_settings == nullptr)
    return false;
  if (reaction.emoji != services.incident_settings->pin_emoji)
    return false;
  const auto incident = services.incidents->open_in_room(reaction.room);
  if (!incident)
    return false;
  const std::string source = "reaction:" + reaction.room + reaction.message_id;
  const bool added = services.database.transaction([&] {
    if (services.incidents->has_entry(incident->id, source))
      return false;
    std::string text = reaction.author.empty() ? std::string("a message") : reaction.author;
    text += reaction.text.empty() ? " (" + reaction.problem + ")" : ": " + reaction.text;
    text = cut(std::move(text), kMaxPinnedText);
    const std::optional<EpochMillis> at =
        reaction.message_at > 0 ? std::optional<EpochMillis>(reaction.message_at) : std::nullopt;
    record_incident_event(services, incident->id, "pinned", reaction.user, text, at, source);
    return true;
  });
  if (added)
    refresh_incident_card(services, incident->id);
  return added;
}

}  // namespace shipmate::commands
