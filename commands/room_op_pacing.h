// Pacing of the incident room-operation queue (commands/incident_room_ops.h), with no I/O: which
// operation may be asked of the platform now, and when the others may.
//
// Two limits, both kept in memory (a restart starts unpaced; what the platform said still holds
// through each operation's stored retry time):
// - Per method tier: Slack limits each Web API method per workspace by tier (conversations.create,
//   conversations.setTopic and pins.add are Tier 2, about 20 a minute; conversations.invite Tier
//   3, about 50 a minute). Each kind of operation has a token bucket of that size that refills
//   at that rate, so a burst (a declare's pin, topic and invite) goes at once and a flood of
//   incidents is spread out instead of being refused.
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

#include "common/clock.h"

namespace shipmate::commands {

struct RoomOpTier {
  int burst = 20;                      // calls that may go at once
  EpochMillis refill_every_ms = 3000;  // one more call allowed this often
};

// The tier of an operation kind ("create", "pin", "topic", "invite"); Tier 2 for anything else.
RoomOpTier room_op_tier(std::string_view kind);

class RoomOpPacer {
 public:
  // When an operation of `kind` on `channel` may be asked: `now` when it may go now.
  EpochMillis ready_at(std::string_view channel, std::string_view kind, EpochMillis now) const;
  // It is asked now: one call of its tier is spent.
  void spend(std::string_view kind, EpochMillis now);
  // The platform answered a call on `channel` "rate limited, wait until `until`": the channel
  // is held until then (a later, shorter answer never shortens the hold).
  void hold_channel(std::string_view channel, EpochMillis until);

 private:
  struct Bucket {
    double tokens = 0;
    EpochMillis at = 0;  // when `tokens` was counted
    bool started = false;
  };
  // The bucket of `kind` as it stands at `now` (full before its first call).
  Bucket refilled(std::string_view kind, EpochMillis now) const;

  std::map<std::string, Bucket, std::less<>> buckets_;    // by operation kind (one method each)
  std::map<std::string, EpochMillis, std::less<>> held_;  // channel -> held until
};

}  // namespace shipmate::commands
