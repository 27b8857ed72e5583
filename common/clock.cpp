#include "common/clock.h"

#include <cctype>
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

std::optional<long long> parse_duration_ms(std::string_view text) {
  while (!text.empty() && text.front() == ' ')
    text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ')
    text.remove_suffix(1);
  std::size_t digits = 0;
  bool dot = false;
  while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) ||
                                  (text[digits] == '.' && !dot))) {
    dot = dot || text[digits] == '.';
    ++digits;
  }
  if (digits == 0 || text[0] == '.' || text[digits - 1] == '.')
    return std::nullopt;
  std::string_view unit = text.substr(digits);
  while (!unit.empty() && unit.front() == ' ')
    unit.remove_prefix(1);
  double factor = 0;
  if (unit == "ms") {
    factor = 1;
  } else if (unit == "s") {
    factor = 1000;
  } else if (unit == "m" || unit == "min") {
    factor = 60'000;
  } else if (unit == "h") {
    factor = 3'600'000;
  } else if (unit == "d") {
    factor = 86'400'000;
  } else {
    return std::nullopt;
  }
  const double amount = std::stod(std::string(text.substr(0, digits)));
  return static_cast<long long>(amount * factor);
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
