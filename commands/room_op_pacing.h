// Pacing of the incident room-operation queue (commands/incident_room_ops.h), with no I/O: which
// operation may be asked of the platform now, and when the others may.
//
// Two limits; every change to them is also handed back to the caller as a storage::RoomOpPace
// line (RoomOpStore::save_pace), and restore() puts the stored lines back at start-up, so a
// restart keeps a hold's end and a tier's spent calls instead of starting unpaced:
// - Per method tier: Slack limits each Web API method per workspace by tier (conversations.create,
//   conversations.setTopic and pins.add are Tier 2, about 20 a minute; conversations.invite Tier
//   3, about 50 a minute). Each kind of operation has a token bucket of that size that refills
//   at that rate, so a burst (a declare's pin, topic and invite) goes at once and a flood of
//   incidents is spread out instead of being refused. A rate-limited answer to a call whose
//   room is not yet a channel (conversations.create) holds its whole tier until the time Slack
//   gave: Slack limits a method per workspace, so every create waits, nothing else does.
// - Per channel: a rate-limited answer (HTTP 429 with Retry-After) holds that channel's
//   operations until the time Slack gave; operations on every other channel go on.
// A call that is not allowed now is not waited for: the caller stores its new time on the
// operation (RoomOpStore::defer) and moves on to the next one, so nothing queued behind a held
// channel or a spent tier waits for it.
//
// Contract: event-loop thread only (not synchronised). Times are the caller's clock
// (common/clock.h), so tests move them by hand.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "storage/room_op_store.h"

namespace shipmate::commands {

struct RoomOpTier {
  int burst = 20;                      // calls that may go at once
  EpochMillis refill_every_ms = 3000;  // one more call allowed this often
};

// Time in which any tier refills from empty to full (the longest burst * refill of them).
inline constexpr EpochMillis kRoomOpTiersRefillMs = 60 * 1000;

// The tier of an operation kind ("create", "pin", "topic", "invite"); Tier 2 for anything else.
RoomOpTier room_op_tier(std::string_view kind);

class RoomOpPacer {
 public:
  // When an operation of `kind` on `channel` may be asked: `now` when it may go now.
  EpochMillis ready_at(std::string_view channel, std::string_view kind, EpochMillis now) const;
  // It is asked now: one call of its tier is spent. Returns the tier's line to store.
  storage::RoomOpPace spend(std::string_view kind, EpochMillis now);
  // The platform answered a call on `channel` "rate limited, wait until `until`": the channel
  // is held until then (a later, shorter answer never shortens the hold). Returns the channel's
  // line to store.
  storage::RoomOpPace hold_channel(std::string_view channel, EpochMillis until);
  // The same for a whole method tier (a create, whose room is no channel yet).
  storage::RoomOpPace hold_kind(std::string_view kind, EpochMillis until, EpochMillis now);
  // Puts stored lines back (at start-up); unknown scopes are ignored, holds never shortened.
  void restore(const std::vector<storage::RoomOpPace>& lines);

  // Scopes of the stored lines: "channel:<address>", "kind:<operation kind>".
  static std::string channel_scope(std::string_view channel);
  static std::string kind_scope(std::string_view kind);

 private:
  struct Bucket {
    double tokens = 0;
    EpochMillis at = 0;  // when `tokens` was counted
    bool started = false;
    EpochMillis held_until = 0;  // a rate-limited answer to the whole tier
  };
  storage::RoomOpPace line_of(std::string_view kind, const Bucket& bucket) const;
  // The bucket of `kind` as it stands at `now` (full before its first call).
  Bucket refilled(std::string_view kind, EpochMillis now) const;

  std::map<std::string, Bucket, std::less<>> buckets_;    // by operation kind (one method each)
  std::map<std::string, EpochMillis, std::less<>> held_;  // channel -> held until
};

}  // namespace shipmate::commands
