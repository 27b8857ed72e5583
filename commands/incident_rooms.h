// Incident rooms: a channel of its own per incident where the platform can make one (Slack), a
// thread where it was declared where it cannot (the terminal, Teams without the permission, a
// Slack app without the scopes, `incidents.rooms: false`). Also the :pushpin: reaction that puts
// any message in a room on the incident's timeline.
//
// The room is settled right after a declare (by a person or an alert rule): the channel is
// created under "<prefix>-<UTC date>-<title words>" (a taken name is tried again with -2, -3, ...;
// judge_room_failure() in incident_model.h decides), the summary card is posted there and
// pinned, the topic says what the incident is, and the declarer and the people holding the
// configured `incidents.invite` roles are invited (later assignees too, by `incident assign`).
// The conversation the declare came from gets a pointer to the room. When the room cannot be
// made, the incident lives in the declaring conversation (its thread), and a warning there says
// why (the missing scope, the platform's answer).
//
// Contract
// - Event-loop thread only (Services). IncidentRooms is implemented by bot/ over the running
//   ChatTransports' workspace abilities; commands/ never names a platform. Its user ids are the
//   platform's (UserSpec::ids), looked up here from the catalog.
// - Failures after the room exists (pin, topic, invite) never undo it: each is reported once in
//   the room as a warning, and the incident goes on. Nothing here throws for a platform error.
// - A room's creation is recorded on the timeline (kind "room") with its audit record.
// - Every room operation (create, pin, topic, invite) goes through the durable queue of
//   commands/incident_room_ops.h: recorded before the platform is asked, retried after a crash
//   or an outage, never carried out twice. A create's room name is recorded before each attempt
//   and the room's address as soon as the platform answered, so a crash in between finds the
//   room by that name instead of making a second one; a room of that name is taken only when
//   Shipmate made it after the create was recorded (a stranger's room, or one left by a crash
//   between a "name taken" answer and the next name's recording, makes it try the next name).
// - A create that fails in an outage (ErrorKind unavailable, tls, internal) leaves the incident
//   in the declaring thread for now and stays on the queue: when the room is made, the incident
//   moves there (card, pin, topic, invites), the thread's card points there and the thread is
//   told. Given up after kRoomOpMostAttempts, which the thread is told once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "commands/context.h"
#include "commands/room_op_pacing.h"
#include "common/result.h"
#include "storage/room_op_store.h"

namespace shipmate::commands {

struct OpenedRoom {
  std::string address;  // where the transport serves it ("slack:C0123")
  std::string mention;  // how a message links to it ("<#C0123>")
  // Filled by find(): whether the platform names Shipmate as the room's maker, and when it was
  // made (Unix ms, the platform's clock).
  bool made_by_shipmate = false;
  EpochMillis created_at = 0;
};

// What a chat platform can do for incident rooms (bot/ implements it over ChatTransport).
class IncidentRooms {
 public:
  virtual ~IncidentRooms() = default;
  // Whether the platform of the conversation at `address` can create rooms.
  virtual bool can_create(const std::string& address) const = 0;
  // Creates a room next to the conversation at `from_address` (invite-only when `is_private`); a
  // taken name is ErrorKind::conflict, a refused permission ErrorKind::auth with the scope it
  // needs.
  virtual boost::asio::awaitable<Result<OpenedRoom>> create(std::string from_address,
                                                            std::string name, bool is_private) = 0;
  // Platform user ids into the room; people already there count as invited.
  virtual boost::asio::awaitable<Status> invite(std::string room,
                                                std::vector<std::string> platform_ids) = 0;
  virtual boost::asio::awaitable<Status> set_topic(std::string room, std::string topic) = 0;
  // Pins a message the room's conversation posted.
  virtual boost::asio::awaitable<Status> pin(std::string room, MessageRef ref) = 0;
  // Whether the room's platform can archive rooms, and archiving it (one already archived
  // counts as done; a platform that is not running answers ErrorKind::unavailable).
  virtual bool can_archive(const std::string& room) const = 0;
  virtual boost::asio::awaitable<Status> archive(std::string room) = 0;
  // The room named `name` next to the conversation at `from_address`, when the app can see it
  // (a room created before a crash cut off its recording), with who made it and when;
  // ErrorKind::not_found otherwise, ErrorKind::unavailable when the platform could not be asked.
  // The caller decides whether it is the incident's (may_adopt_room in incident_model.h).
  virtual boost::asio::awaitable<Result<OpenedRoom>> find(std::string from_address,
                                                          std::string name);

  // How fast the room-operation queue may ask this platform (commands/room_op_pacing.h).
  RoomOpPacer& pacer() { return pacer_; }

 private:
  RoomOpPacer pacer_;
};

// After a declare: makes the incident's room (or falls back), posts the summary card where the
// incident now lives, and returns that conversation's address. `declared_in` is where the
// declare came from; `declarer` the Shipmate identity that declared it ("alerts" for a rule).
boost::asio::awaitable<std::string> settle_incident_room(Services& services,
                                                         std::int64_t incident_id,
                                                         Conversation& declared_in,
                                                         std::string declarer);

// Invites Shipmate users (by identity) into the incident's room when it has one of its own;
// people without an id on that platform are skipped. Failures are posted in the room.
boost::asio::awaitable<void> invite_to_incident_room(Services& services, std::int64_t incident_id,
                                                     std::vector<std::string> identities);

// Sets the room's topic from the incident (after a status, severity or role change). Only for
// rooms of their own; a failure is logged.
boost::asio::awaitable<void> refresh_room_topic(Services& services, std::int64_t incident_id);

// The topic the incident's room should have now (room_topic() with its commander).
std::string current_room_topic(Services& services, std::int64_t incident_id);

// Settles a room whose create operation a crash (or a lost answer) left pending: the room made
// before the crash (recorded with the operation, or found by the name recorded before the
// platform was asked) is used, never made again; the card is posted there unless it already is,
// and the pin, topic and invites are recorded and carried out. Returns false when another attempt
// holds the operation.
boost::asio::awaitable<bool> resume_incident_room(Services& services, storage::RoomOp op);

// Whether `caller` may see the incident: anyone for an incident that is not private; for a
// private one its declarer, the people holding its roles, the holders of `incidents.invite` roles
// (invited into its room) and admins.
bool can_see_incident(Services& services, const storage::IncidentRecord& incident,
                      const Caller& caller);

// The topic line: "INC-3 | sev2 | identified | commander alice | checkout errors" (at most 250
// characters).
std::string room_topic(const storage::IncidentRecord& incident, std::string_view commander);

// A reaction someone added to a message in a conversation.
struct ReactionNote {
  std::string room;            // the conversation address of the message (its channel)
  std::string user;            // who reacted (Shipmate identity or "<platform>:<id>")
  std::string emoji;           // "pushpin"
  std::string message_id;      // the platform's message id; with `room`, the dedup key
  EpochMillis message_at = 0;  // when the message was posted (0: unknown, then now)
  std::string author;
  std::string text;  // "" when unreadable; then `problem` says why
  std::string problem;
};
// A :pushpin: (IncidentSettings::pin_emoji) on a message in an open incident's room puts the
// message on its timeline, once however often the platform delivers the reaction. Other
// reactions and rooms are ignored. Returns whether a timeline entry was added.
bool note_reaction(Services& services, const ReactionNote& reaction);

}  // namespace shipmate::commands
