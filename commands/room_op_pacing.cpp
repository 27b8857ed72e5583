#include "commands/room_op_pacing.h"

#include <algorithm>
#include <cmath>

namespace shipmate::commands {

RoomOpTier room_op_tier(std::string_view kind) {
  if (kind == "invite")
    return RoomOpTier{50, 1200};  // conversations.invite: Tier 3
  return RoomOpTier{20, 3000};    // conversations.create, setTopic, pins.add: Tier 2
}

RoomOpPacer::Bucket RoomOpPacer::refilled(std::string_view kind, EpochMillis now) const {
  const RoomOpTier tier = room_op_tier(kind);
  Bucket bucket;
  if (auto found = buckets_.find(kind); found != buckets_.end())
    bucket = found->second;
  if (!bucket.started)
    return Bucket{static_cast<double>(tier.burst), now, true};
  if (now > bucket.at) {
    const double gained =
        static_cast<double>(now - bucket.at) / static_cast<double>(tier.refill_every_ms);
    bucket.tokens = std::min<double>(tier.burst, bucket.tokens + gained);
    bucket.at = now;
  }
  return bucket;
}

EpochMillis RoomOpPacer::ready_at(std::string_view channel, std::string_view kind,
                                  EpochMillis now) const {
  EpochMillis ready = now;
  if (auto held = held_.find(channel); held != held_.end())
    ready = std::max(ready, held->second);
  const Bucket bucket = refilled(kind, now);
  if (bucket.tokens < 1.0) {
    const double missing = 1.0 - bucket.tokens;
    const auto wait = static_cast<EpochMillis>(
        std::ceil(missing * static_cast<double>(room_op_tier(kind).refill_every_ms)));
    ready = std::max(ready, now + wait);
  }
  return ready;
}

void RoomOpPacer::spend(std::string_view kind, EpochMillis now) {
  Bucket bucket = refilled(kind, now);
  bucket.tokens = std::max(0.0, bucket.tokens - 1.0);
  buckets_.insert_or_assign(std::string(kind), bucket);
}

void RoomOpPacer::hold_channel(std::string_view channel, EpochMillis until) {
  auto [it, inserted] = held_.try_emplace(std::string(channel), until);
  if (!inserted)
    it->second = std::max(it->second, until);
}

}  // namespace shipmate::commands
