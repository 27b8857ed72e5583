#include "bot/slack/send_scheduler.h"

#include <algorithm>
#include <cmath>

namespace shipmate::bot::slack {

SendScheduler::SendScheduler(Options options) : options_(options) {
  options_.burst = std::max(options_.burst, 1);
  options_.interval = std::max(options_.interval, Duration::zero());
}

SendScheduler::Duration SendScheduler::capacity() const {
  return options_.interval * options_.burst;
}

SendScheduler::Duration SendScheduler::cost() const {
  return options_.interval;
}

void SendScheduler::refill(Channel& channel, TimePoint now) const {
  if (!channel.initialised) {
    // A channel seen for the first time may use its whole burst at once.
    channel.credit = capacity();
    channel.refilled_at = now;
    channel.initialised = true;
    return;
  }
  if (now <= channel.refilled_at) {
    return;
  }
  const Duration elapsed = now - channel.refilled_at;
  const Duration room = capacity() - channel.credit;
  channel.credit = elapsed >= room ? capacity() : channel.credit + elapsed;
  channel.refilled_at = now;
}

bool SendScheduler::push(const std::string& channel, std::uint64_t id) {
  if (queued_ >= options_.max_queued) {
    return false;
  }
  channels_[channel].jobs.push_back(id);
  ++queued_;
  return true;
}

SendScheduler::Next SendScheduler::next(TimePoint now) {
  Next result;
  // Forget idle channels once their bucket is full again: a fresh entry would start full too,
  // so nothing changes except that the map does not grow with every channel ever used.
  for (auto it = channels_.begin(); it != channels_.end();) {
    if (it->second.jobs.empty() && !it->second.in_flight) {
      refill(it->second, now);
      if (it->second.credit >= capacity()) {
        it = channels_.erase(it);
        continue;
      }
    }
    ++it;
  }
  if (queued_ == 0) {
    return result;
  }
  if (now < paused_until_) {
    result.wake_at = paused_until_;
    return result;
  }

  auto it = channels_.upper_bound(last_served_);
  for (std::size_t visited = 0; visited < channels_.size(); ++visited, ++it) {
    if (it == channels_.end()) {
      it = channels_.begin();
    }
    auto& [name, channel] = *it;
    if (channel.jobs.empty() || channel.in_flight) {
      continue;
    }
    refill(channel, now);
    if (channel.credit >= cost()) {
      channel.credit -= cost();
      result.job = channel.jobs.front();
      result.channel = name;
      channel.jobs.pop_front();
      channel.in_flight = true;
      --queued_;
      last_served_ = name;
      return result;
    }
    const TimePoint ready = now + (cost() - channel.credit);
    if (!result.wake_at || ready < *result.wake_at) {
      result.wake_at = ready;
    }
  }
  return result;
}

void SendScheduler::done(const std::string& channel) {
  const auto found = channels_.find(channel);
  if (found != channels_.end()) {
    found->second.in_flight = false;
  }
}

void SendScheduler::rate_limited(const std::string& channel, std::uint64_t id, TimePoint now,
                                 Duration retry_after) {
  // Exempt from max_queued: the job was accepted once and must not be lost now.
  Channel& entry = channels_[channel];
  entry.jobs.push_front(id);
  entry.in_flight = false;
  ++queued_;
  paused_until_ = std::max(paused_until_, now + std::max(retry_after, Duration::zero()));
}

std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds base,
                                        std::chrono::milliseconds cap, double jitter,
                                        double random01) {
  using std::chrono::milliseconds;
  if (base <= milliseconds::zero() || cap <= milliseconds::zero()) {
    return milliseconds::zero();
  }
  milliseconds delay = std::min(base, cap);
  // Doubling stops at the cap, so a huge attempt count neither loops long nor overflows.
  for (int i = 1; i < attempt && delay < cap; ++i) {
    delay = delay.count() > cap.count() / 2 ? cap : delay * 2;
  }
  const double spread = std::isnan(jitter) ? 0.0 : std::clamp(jitter, 0.0, 1.0);
  const double draw = std::isnan(random01) ? 0.0 : std::clamp(random01, 0.0, 1.0);
  // Subtracting the jitter (rather than scaling) keeps a delay near milliseconds::max() from
  // overflowing when converted back from double.
  const double cut = static_cast<double>(delay.count()) * spread * draw;
  if (cut >= static_cast<double>(delay.count())) {
    return milliseconds::zero();
  }
  return delay - milliseconds(std::llround(cut));
}

std::chrono::milliseconds reconnect_delay(int failures, std::chrono::milliseconds base,
                                          std::chrono::milliseconds cap, double jitter,
                                          double random01) {
  if (failures <= 1)
    return std::chrono::milliseconds::zero();
  return backoff_delay(failures - 1, base, cap, jitter, random01);
}

}  // namespace shipmate::bot::slack
