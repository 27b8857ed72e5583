#include "common/clock.h"

#include <cstdio>
#include <ctime>

namespace shipmate {

std::string format_utc(EpochMillis at) {
  std::time_t seconds = static_cast<std::time_t>(at / 1000);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%SZ", &parts);
  return buffer;
}

std::string format_duration(EpochMillis millis) {
  if (millis < 0)
    millis = 0;
  char buffer[48];
  if (millis < 1000) {
    std::snprintf(buffer, sizeof buffer, "%lld ms", static_cast<long long>(millis));
  } else if (millis < 60'000) {
    std::snprintf(buffer, sizeof buffer, "%.1f s", static_cast<double>(millis) / 1000.0);
  } else if (millis < 3'600'000) {
    std::snprintf(buffer, sizeof buffer, "%lld min %lld s", static_cast<long long>(millis / 60'000),
                  static_cast<long long>((millis / 1000) % 60));
  } else {
    std::snprintf(buffer, sizeof buffer, "%lld h %lld min",
                  static_cast<long long>(millis / 3'600'000),
                  static_cast<long long>((millis / 60'000) % 60));
  }
  return buffer;
}

}  // namespace shipmate
