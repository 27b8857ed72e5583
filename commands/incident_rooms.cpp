#include "commands/incident_rooms.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "commands/incident_model.h"
#include "commands/incident_room_ops.h"
#include "commands/incidents.h"
#include "common/rate_limit.h"
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
                      const std::string& why, std::string_view then = "It runs here instead.") {
  post_incident_card(services, id, declared_in);
  if (!why.empty()) {
    declared_in.post(warning("No room of its own for " + storage::incident_label(id) + ": " +
                             redact(why) + ". " + std::string(then)));
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

asio::awaitable<Result<OpenedRoom>> IncidentRooms::find(std::string from_address,
                                                        std::string name) {
  co_return make_error("no room named " + name + " next to " + from_address, ErrorKind::not_found);
}

std::string current_room_topic(Services& services, std::int64_t incident_id) {
  const auto incident = services.incidents->get(incident_id);
  if (!incident)
    return {};
  return room_topic(*incident, commander_of(services, incident_id));
}

namespace {

int op_counter = 0;  // event-loop thread only: keys of operations recorded in the same ms

std::string fresh_key(Services& services, std::string_view kind, std::int64_t id) {
  return std::string(kind) + ":" + storage::incident_label(id) + ":" +
         std::to_string(services.clock.now_ms()) + "." + std::to_string(++op_counter);
}

storage::RoomOp room_op(std::string key, std::int64_t id, std::string kind, std::string room,
                        std::string payload = {}) {
  storage::RoomOp op;
  op.key = std::move(key);
  op.incident_id = id;
  op.kind = std::move(kind);
  op.room = std::move(room);
  op.payload = std::move(payload);
  return op;
}

std::string joined_lines(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids)
    out += (out.empty() ? "" : "\n") + id;
  return out;
}

// "address\nmention" as a create operation records the room it made.
std::optional<OpenedRoom> recorded_room(const storage::RoomOp& op) {
  const auto newline = op.result.find('\n');
  if (op.result.empty() || newline == std::string::npos)
    return std::nullopt;
  return OpenedRoom{op.result.substr(0, newline), op.result.substr(newline + 1)};
}

// The settling of a room, from a declare or resumed after a crash (`op` is the claimed create
// operation; absent without a store). `resuming`: the platform may already have made the room.
asio::awaitable<std::string> settle_room(Services& services, std::int64_t incident_id,
                                         Conversation& declared_in, std::string declarer,
                                         std::optional<storage::RoomOp> op, bool resuming) {
  const auto incident = services.incidents->get(incident_id);
  if (!incident)
    co_return declared_in.address();
  const IncidentSettings& settings = *services.incident_settings;
  IncidentRooms* rooms = services.incident_rooms;
  const std::string from = declared_in.address();
  const bool is_private = incident->is_private;
  storage::RoomOpStore* store = services.room_ops;
  auto finish = [&](std::string_view state, std::string_view result) {
    if (op && store != nullptr)
      store->finish(op->id, state, result, services.clock.now_ms());
  };

  std::optional<OpenedRoom> opened = op ? recorded_room(*op) : std::nullopt;
  std::optional<EpochMillis> held_until;  // a rate-limited create: asked again then
  std::string problem;
  std::optional<Error> failure;
  int suffix = 0;
  bool first = true;
  while (!opened) {
    std::string name = first && op && !op->payload.empty()
                           ? op->payload
                           : incident_room_name(settings.room_prefix, incident->declared_at,
                                                incident->title, suffix);
    first = false;
    if (op && store != nullptr)
      store->set_payload(op->id, name);  // recorded before the platform is asked
    std::string from_address = from;
    std::string create_name = name;
    spend_room_call(services, "create", services.clock.now_ms());
    auto created =
        co_await rooms->create(std::move(from_address), std::move(create_name), is_private);
    if (created) {
      opened = *created;
      break;
    }
    if (const auto wait = rate_limit_wait(created.error())) {
      // Rate limited (Slack limits creates per workspace): every create waits until Slack's
      // time, nothing else does; this one is asked again then.
      const EpochMillis at = services.clock.now_ms();
      held_until = at + wait->count();
      hold_room_calls(services, "", "create", *held_until, at);
    }
    if (resuming && created.error().kind == ErrorKind::conflict) {
      // Made before the crash under the name recorded then? Only a room Shipmate made since the
      // create was recorded is this incident's; a stranger's of that name is passed over.
      std::string find_from = from;
      std::string find_name = name;
      auto found = co_await rooms->find(std::move(find_from), std::move(find_name));
      if (found) {
        const auto living = services.incidents->open_in_room(found->address + ":");
        const auto living_bare = services.incidents->open_in_room(found->address);
        const bool taken_by_other = (living && living->id != incident_id) ||
                                    (living_bare && living_bare->id != incident_id);
        const EpochMillis asked_from = op ? op->created_at : incident->declared_at;
        if (may_adopt_room(found->made_by_shipmate, found->created_at, asked_from,
                           taken_by_other)) {
          opened = *found;
          break;
        }
        spdlog::warn(
            "incidents: {} is taken by a room Shipmate did not make for {}; trying the "
            "next name",
            name, storage::incident_label(incident_id));
      } else if (judge_room_op(Status(found.error())) == RoomOpVerdict::retry) {
        // Cannot tell whose room it is now: asked again later, never a second room meanwhile.
        problem = found.error().message;
        failure = found.error();
        break;
      }
    }
    const RoomFallback decision = judge_room_failure(created.error(), suffix);
    if (decision.retry_with_suffix == 0) {
      problem = decision.message;
      failure = created.error();
      break;
    }
    suffix = decision.retry_with_suffix;
    spdlog::info(
        "incidents: room name {} is taken; trying {}", name,
        incident_room_name(settings.room_prefix, incident->declared_at, incident->title, suffix));
  }
  if (!opened) {
    const auto before = services.incidents->get(incident_id);
    // Already running in the declaring conversation (an earlier attempt fell back there).
    const bool lives_here = before && before->room == from && !before->card_ref.empty();
    const std::string reason =
        is_private ? problem + "; this conversation is not private" : problem;
    if (op && store != nullptr && failure && keeps_trying_room(*failure, op->attempts)) {
      // An outage: the incident runs in the thread for now, and the create stays on the queue
      // (under the name last tried) until the room is made, then the incident moves there.
      const EpochMillis now = services.clock.now_ms();
      std::string why = problem;  // one line: a result with a newline is a room's address
      std::replace(why.begin(), why.end(), '\n', ' ');
      const EpochMillis next = held_until.value_or(room_op_retry_at(op->attempts, now));
      store->retry(op->id, next, why);
      spdlog::warn("incidents: could not make {}'s room ({}); trying again in {}",
                   storage::incident_label(incident_id), redact(problem),
                   format_duration(next - now));
      if (lives_here)
        co_return from;
      co_return fall_back(services, incident_id, declared_in,
                          reason +
                              "; Shipmate keeps trying to make the room and moves the "
                              "incident there when it can",
                          "It runs here until then.");
    }
    finish("failed", problem);
    if (lives_here) {
      declared_in.post(warning("Shipmate gave up making a room for " +
                               storage::incident_label(incident_id) + " (" + redact(reason) +
                               "): it stays here."));
      co_return from;
    }
    co_return fall_back(services, incident_id, declared_in, reason);
  }
  const std::string made = opened->address + "\n" + opened->mention;
  if (op && store != nullptr)  // the room exists: remembered before anything is done in it
    store->retry(op->id, services.clock.now_ms() + kRoomOpLease.count(), made);
  auto room = services.conversations->open(opened->address);
  if (!room) {
    finish("failed", "the room cannot be posted to");
    co_return fall_back(services, incident_id, declared_in,
                        "the room " + opened->address + " was made but cannot be posted to");
  }
  const std::string room_address = room->address();
  const auto now_incident = services.incidents->get(incident_id);
  if (now_incident->room != room_address || now_incident->card_ref.empty()) {
    // It ran in the declaring thread while the room could not be made: that card now points on.
    const bool moving = now_incident->room == from && !now_incident->card_ref.empty();
    const MessageRef old_card = now_incident->card_ref;
    post_incident_card(services, incident_id, *room);
    if (moving) {
      declared_in.update(old_card,
                         info(storage::incident_label(incident_id) + " \"" + incident->title +
                              "\" moved to its own room: " + opened->mention));
    }
    if (!services.incidents->has_entry(incident_id, "room-opened")) {
      record_incident_event(
          services, incident_id, "room", declarer,
          std::string(is_private ? "private room " : "room ") + opened->address + " opened",
          std::nullopt, "room-opened");
    }
    if (is_private) {
      // The declaring conversation may be public: it learns no more than the id and the room.
      declared_in.post(info(storage::incident_label(incident_id) +
                            " is private: its invite-only room is " + opened->mention));
    } else {
      declared_in.post(info(storage::incident_label(incident_id) + " \"" + incident->title +
                            "\" has its own room: " + opened->mention));
    }
  }

  std::vector<std::string> problems;
  auto note = [&](const RoomOpOutcome& outcome, const std::string& what) {
    if (!outcome.answer)
      problems.push_back(what + " (" + outcome.answer.error().message +
                         (outcome.later ? "; trying again later" : "") + ")");
  };
  const std::string label = storage::incident_label(incident_id);
  const MessageRef card = services.incidents->get(incident_id)->card_ref;
  const RoomOpOutcome pinned = co_await perform_room_op(
      services, room_op("pin:" + label + ":" + card, incident_id, "pin", room_address, card));
  note(pinned, "pin the summary");
  const RoomOpOutcome topic_set = co_await perform_room_op(
      services, room_op("topic:" + label + ":first", incident_id, "topic", room_address));
  note(topic_set, "set the topic");
  std::vector<std::string> missing;
  const std::vector<std::string> people = first_invitees(services, declarer);
  std::vector<std::string> ids =
      platform_ids(services.catalog, platform_of(room_address), people, missing);
  if (!ids.empty()) {
    const RoomOpOutcome invited =
        co_await perform_room_op(services, room_op("invite:" + label + ":first", incident_id,
                                                   "invite", room_address, joined_lines(ids)));
    note(invited, "invite " + join(people, ", "));
  }
  if (!missing.empty()) {
    problems.push_back("invite " + join(missing, ", ") + " (no " + platform_of(room_address) +
                       " id under their ids:)");
  }
  finish("done", made);
  if (!problems.empty())
    room->post(warning("Shipmate could not " + redact(join(problems, "; ")) + "."));
  co_return room_address;
}

}  // namespace

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
  std::optional<storage::RoomOp> op;
  if (services.room_ops != nullptr) {
    // Recorded before the platform is asked; claimed by this settling.
    const EpochMillis now = services.clock.now_ms();
    storage::RoomOp create =
        room_op("create:" + storage::incident_label(incident_id), incident_id, "create", from);
    create.created_at = now;
    create.next_at = now;
    op = services.room_ops->add(create);
    // Creates are held (Slack rate-limited one) or their calls are spent: the incident runs
    // in this thread at once and the create waits on the queue for its time, then moves it.
    if (const EpochMillis ready = rooms->pacer().ready_at("", "create", now);
        ready > now && op->state == "pending" && op->attempts == 0 && op->next_at <= now) {
      services.room_ops->defer(op->id, ready, now);
      co_return fall_back(services, incident_id, declared_in,
                          "Slack asked Shipmate to make rooms more slowly; Shipmate makes this "
                          "one in " +
                              format_duration(ready - now) + " and moves the incident there",
                          "It runs here until then.");
    }
    if (!services.room_ops->claim(op->id, now, now + kRoomOpLease.count()))
      co_return declared_in.address();  // settled (or being settled) already
    op = services.room_ops->get(op->id);
  }
  auto home = co_await settle_room(services, incident_id, declared_in, std::move(declarer),
                                   std::move(op), false);
  co_return home;
}

asio::awaitable<bool> resume_incident_room(Services& services, storage::RoomOp op) {
  if (services.room_ops == nullptr || services.incidents == nullptr ||
      services.incident_rooms == nullptr || services.conversations == nullptr)
    co_return false;
  // Its platform is not running yet (reconnecting after the restart): left for a later turn, so
  // a room is never given up for a thread only because the chat was not back yet.
  if (!services.incident_rooms->can_create(op.room))
    co_return false;
  const EpochMillis now = services.clock.now_ms();
  if (!services.room_ops->claim(op.id, now, now + kRoomOpLease.count()))
    co_return false;
  const auto incident = services.incidents->get(op.incident_id);
  auto declared_in = services.conversations->open(op.room);
  if (!incident || !declared_in) {
    services.room_ops->finish(op.id, "failed", "the declaring conversation " + op.room + " is gone",
                              now);
    co_return true;
  }
  spdlog::info("incidents: settling {}'s room again (a stop, an outage or a rate limit cut it off)",
               storage::incident_label(op.incident_id));
  auto claimed = services.room_ops->get(op.id);
  co_await settle_room(services, op.incident_id, *declared_in, incident->declared_by,
                       std::move(claimed), true);
  co_return true;
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
    const RoomOpOutcome invited = co_await perform_room_op(
        services, room_op(fresh_key(services, "invite", incident_id), incident_id, "invite",
                          incident->room, joined_lines(ids)));
    if (!invited.answer) {
      problem = "invite " + join(identities, ", ") + " (" + invited.answer.error().message +
                (invited.later ? "; trying again later" : "") + ")";
    }
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
  const RoomOpOutcome set = co_await perform_room_op(
      services,
      room_op(fresh_key(services, "topic", incident_id), incident_id, "topic", incident->room));
  if (!set.answer) {
    spdlog::warn("incidents: could not set the topic of {}'s room: {}",
                 storage::incident_label(incident_id), set.answer.error().message);
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
