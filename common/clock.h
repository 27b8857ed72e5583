// Time as a seam: production code asks a Clock, tests hand in a ManualClock.
//
// Timestamps cross module boundaries as milliseconds since the Unix epoch (UTC), which is also
// how storage keeps them.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shipmate {

using EpochMillis = std::int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual EpochMillis now_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  EpochMillis now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(EpochMillis start = 1'700'000'000'000) : now_(start) {}
  EpochMillis now_ms() const override { return now_; }
  void advance_ms(EpochMillis delta) { now_ += delta; }
  void set_ms(EpochMillis value) { now_ = value; }

 private:
  EpochMillis now_;
};

// "2026-11-22 00:49:49Z"
std::string format_utc(EpochMillis at);
// "500ms", "2s", "1.5s", "3m", "1h" (and "2d") -> milliseconds; nullopt when malformed.
std::optional<long long> parse_duration_ms(std::string_view text);
// "2026-12-20T00:00:00Z", "2026-12-20T09:30Z", "2026-12-20 09:30:00+01:00" -> UTC epoch ms;
// nullopt when malformed. An explicit zone (Z or an offset) is required.
std::optional<EpochMillis> parse_iso8601(std::string_view text);
// "850 ms", "12.3 s", "4 min 10 s", "2 h 5 min"
std::string format_duration(EpochMillis millis);

}  // namespace shipmate
