#include "bot/teams/pacing.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace shipmate::bot::teams {

void ThreadPacer::forget_old(Thread& thread, TimePoint now) const {
  const Duration longest = kLimits[std::size(kLimits) - 1].length;
  auto kept = thread.sends.begin();
  while (kept != thread.sends.end() && *kept + longest <= now)
    ++kept;
  thread.sends.erase(thread.sends.begin(), kept);
}

void ThreadPacer::sweep(TimePoint now) {
  for (auto entry = threads_.begin(); entry != threads_.end();) {
    forget_old(entry->second, now);
    if (entry->second.sends.empty() && entry->second.paused_until <= now)
      entry = threads_.erase(entry);
    else
      ++entry;
  }
  next_sweep_ = now + kLimits[std::size(kLimits) - 1].length;
}

ThreadPacer::TimePoint ThreadPacer::allowed_at(const std::string& key, TimePoint now) {
  auto found = threads_.find(key);
  if (found == threads_.end())
    return now;
  Thread& thread = found->second;
  forget_old(thread, now);
  if (thread.sends.empty() && thread.paused_until <= now) {
    threads_.erase(found);
    return now;
  }
  TimePoint at = std::max(now, thread.paused_until);
  for (const Window& window : kLimits) {
    // Sends inside (at - length, at]: when there are max_sends of them, wait until the oldest
    // of the last max_sends leaves the window.
    if (thread.sends.size() < window.max_sends)
      continue;
    const TimePoint oldest_counted = thread.sends[thread.sends.size() - window.max_sends];
    at = std::max(at, oldest_counted + window.length);
  }
  return at;
}

void ThreadPacer::sent(const std::string& key, TimePoint now) {
  // Threads that are never asked about again (a conversation that went quiet) go here.
  if (now >= next_sweep_)
    sweep(now);
  Thread& thread = threads_[key];
  forget_old(thread, now);
  thread.sends.push_back(now);
}

void ThreadPacer::throttled(const std::string& key, TimePoint now, Duration retry_after) {
  Thread& thread = threads_[key];
  thread.paused_until = std::max(thread.paused_until, now + retry_after);
}

std::chrono::milliseconds retry_delay(int attempt,
                                      std::optional<std::chrono::milliseconds> retry_after,
                                      std::chrono::milliseconds base, std::chrono::milliseconds cap,
                                      double random01) {
  if (retry_after)
    return std::clamp(*retry_after, std::chrono::milliseconds(0), cap);
  const int doublings = std::clamp(attempt - 1, 0, 20);
  const double full = std::min(static_cast<double>(base.count()) * std::pow(2.0, doublings),
                               static_cast<double>(cap.count()));
  const double factor = 0.5 + 0.5 * std::clamp(random01, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<long long>(full * factor));
}

std::optional<std::chrono::milliseconds> parse_retry_after(const std::string& header) {
  if (header.empty())
    return std::nullopt;
  double seconds = 0;
  const char* begin = header.data();
  const char* end = header.data() + header.size();
  auto [ptr, ec] = std::from_chars(begin, end, seconds);
  if (ec != std::errc() || ptr != end || !(seconds >= 0) || seconds > 86400)
    return std::nullopt;
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
}

}  // namespace shipmate::bot::teams
