// Incident room operations through a durable queue (storage/room_op_store.h): creating an
// incident's room, pinning its card, setting its topic and inviting people are each recorded
// before the platform is asked, and marked after it answered.
//
// - An operation has an idempotency key ("pin:INC-3:<card>", "topic:INC-3:<n>"); recording the
//   same key twice records it once. perform_room_op() records it and, when it is due, claims it
//   (a lease of kRoomOpLease, so two attempts never run it at once) and asks the platform.
// - judge_room_op() (pure) decides from the answer: done; a failure that may pass (the platform
//   not running, a timeout, a 5xx, a rate limit: ErrorKind unavailable, tls, internal) is tried
//   again at room_op_retry_at() (30 s, doubling, at most 10 min; given up after
//   kRoomOpMostAttempts, then it fails as below); anything else (a missing scope,
//   a room that is gone) fails for good and the caller says so in the room.
// - Pacing (commands/room_op_pacing.h, the platform's IncidentRooms::pacer()): an operation is
//   asked only when its method's tier has a call left and its room's channel is not held; one
//   that is not allowed yet is moved to when it will be (RoomOpStore::defer, no attempt
//   counted) and the next one goes on. A rate-limited answer (common/rate_limit.h) holds that
//   channel until the time the platform gave and retries the operation then; other channels
//   go on at once. A rate-limited create (its room is no channel yet) holds the create tier
//   only: the incident runs in its thread meanwhile, other rooms' operations go on. Nothing
//   here waits on a timer: the upkeep's next turn picks the rest up.
// - The pacing survives a restart: every spent call and every hold is stored with the queue
//   (RoomOpStore::save_pace) and restore_room_pacing() puts it back at start-up.
// - A crash leaves its claimed operations pending: at start the App releases their claims, and
//   retry_room_ops() (run on the watcher's incident upkeep, every second) runs every operation
//   whose time has come, the ones a crash or an outage left included.
// - Never twice: an operation marked done is never asked again; one whose answer was lost (the
//   platform did it, then Shipmate died before marking it) is asked again, and each kind is
//   idempotent on the platform's side: a pin already there, people already in the room and a
//   topic already set count as done (bot/slack), and a room created before the crash is found by
//   the name recorded before the platform was asked (commands/incident_rooms.h), never made twice.
// - Room archiving is not on this queue: it has its own durable deadline on the incident
//   (a timed job of the scheduler, commands/timed_jobs.h), with the same rules.
//
// Contract: event-loop thread only. Without a store (Services::room_ops null, some tests) an
// operation is asked once, unrecorded. Storage errors propagate (StorageError).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "commands/context.h"
#include "common/result.h"
#include "storage/room_op_store.h"

namespace shipmate::commands {

inline constexpr std::chrono::milliseconds kRoomOpLease{60 * 1000};
inline constexpr std::chrono::milliseconds kRoomOpFirstRetry{30 * 1000};
inline constexpr std::chrono::milliseconds kRoomOpLongestRetry{10 * 60 * 1000};
// A failure that may pass is given up after this many attempts (about an hour of retries).
inline constexpr int kRoomOpMostAttempts = 10;

enum class RoomOpVerdict { done, retry, failed };
RoomOpVerdict judge_room_op(const Status& answer);
// Whether a room create that failed with `failure` on its `attempts`th attempt stays on the queue
// (an outage: the incident runs in the declaring thread meanwhile and moves into the room once it
// is made) rather than leaving the incident in that thread for good.
bool keeps_trying_room(const Error& failure, int attempts);
// When an operation that has been tried `attempts` times (1 or more) is tried again.
EpochMillis room_op_retry_at(int attempts, EpochMillis now);

// What perform_room_op() did: `ran` is false when the operation was done before or is claimed
// by another attempt (then `answer` is Ok); `later` when it failed and will be tried again.
struct RoomOpOutcome {
  bool ran = false;
  bool later = false;
  Status answer = Ok{};
};

// Records a pin, topic or invite operation and carries it out now.
boost::asio::awaitable<RoomOpOutcome> perform_room_op(Services& services, storage::RoomOp op);

// Pacing through the platform's pacer, each change stored with the queue (nothing without a
// pacer; unstored without a store). spend_room_call(): one call of `kind`'s tier is asked now.
// hold_room_calls(): a rate-limited answer; `channel` is held until `until`, or, when it is
// empty (a create), the whole tier of `kind`.
void spend_room_call(Services& services, std::string_view kind, EpochMillis now);
void hold_room_calls(Services& services, std::string_view channel, std::string_view kind,
                     EpochMillis until, EpochMillis now);
// At start-up: the pacing the last run stored is put back into the platform's pacer.
void restore_room_pacing(Services& services);

// Runs every recorded operation that is due (retries, and the ones a crash left); returns how
// many it ran. A create left by a crash resumes the room's settling (incident_rooms.h).
boost::asio::awaitable<int> retry_room_ops(Services& services);

}  // namespace shipmate::commands
