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
    return Bucket{static_cast<double>(tier.burst), now, true, bucket.held_until};
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
  ready = std::max(ready, bucket.held_until);
  if (bucket.tokens < 1.0) {
    const double missing = 1.0 - bucket.tokens;
    const auto wait = static_cast<EpochMillis>(
        std::ceil(missing * static_cast<double>(room_op_tier(kind).refill_every_ms)));
    ready = std::max(ready, now + wait);
  }
  return ready;
}

storage::RoomOpPace RoomOpPacer::spend(std::string_view kind, EpochMillis now) {
  Bucket bucket = refilled(kind, now);
  bucket.tokens = std::max(0.0, bucket.tokens - 1.0);
  buckets_.insert_or_assign(std::string(kind), bucket);
  return line_of(kind, bucket);
}

storage::RoomOpPace RoomOpPacer::hold_channel(std::string_view channel, EpochMillis until) {
  auto [it, inserted] = held_.try_emplace(std::string(channel), until);
  if (!inserted)
    it->second = std::max(it->second, until);
  storage::RoomOpPace line;
  line.scope = channel_scope(channel);
  line.held_until = it->second;
  return line;
}

storage::RoomOpPace RoomOpPacer::hold_kind(std::string_view kind, EpochMillis until,
                                           EpochMillis now) {
  Bucket bucket = refilled(kind, now);
  bucket.held_until = std::max(bucket.held_until, until);
  buckets_.insert_or_assign(std::string(kind), bucket);
  return line_of(kind, bucket);
}

void RoomOpPacer::restore(const std::vector<storage::RoomOpPace>& lines) {
  for (const auto& line : lines) {
    if (line.scope.starts_with("channel:")) {
      hold_channel(std::string_view(line.scope).substr(8), line.held_until);
    } else if (line.scope.starts_with("kind:")) {
      const std::string kind = line.scope.substr(5);
      Bucket& bucket = buckets_[kind];
      bucket.held_until = std::max(bucket.held_until, line.held_until);
      if (line.counted_at > 0) {
        bucket.started = true;
        bucket.tokens = std::clamp<double>(line.tokens, 0.0, room_op_tier(kind).burst);
        bucket.at = line.counted_at;
      }
    }
  }
}

std::string RoomOpPacer::channel_scope(std::string_view channel) {
  return "channel:" + std::string(channel);
}

std::string RoomOpPacer::kind_scope(std::string_view kind) {
  return "kind:" + std::string(kind);
}

storage::RoomOpPace RoomOpPacer::line_of(std::string_view kind, const Bucket& bucket) const {
  storage::RoomOpPace line;
  line.scope = kind_scope(kind);
  line.held_until = bucket.held_until;
  line.tokens = bucket.tokens;
  line.counted_at = bucket.started ? bucket.at : 0;
  return line;
}

}  // namespace shipmate::commands
