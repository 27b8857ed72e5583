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

std::optional<EpochMillis> parse_iso8601(std::string_view text) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  char separator = 0;
  int consumed = 0;
  const std::string copy(text);
  if (std::sscanf(copy.c_str(), "%4d-%2d-%2d%c%2d:%2d%n", &year, &month, &day, &separator, &hour,
                  &minute, &consumed) != 6 ||
      (separator != 'T' && separator != ' ')) {
    return std::nullopt;
  }
  std::string_view rest = text.substr(static_cast<std::size_t>(consumed));
  if (!rest.empty() && rest.front() == ':') {
    if (rest.size() < 3 || !std::isdigit(static_cast<unsigned char>(rest[1])) ||
        !std::isdigit(static_cast<unsigned char>(rest[2]))) {
      return std::nullopt;
    }
    second = (rest[1] - '0') * 10 + (rest[2] - '0');
    rest.remove_prefix(3);
  }
  long offset_minutes = 0;
  if (rest == "Z") {
    offset_minutes = 0;
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int oh = 0, om = 0;
    if (std::sscanf(std::string(rest.substr(1)).c_str(), "%2d:%2d", &oh, &om) != 2) {
      return std::nullopt;
    }
    offset_minutes = (rest[0] == '-' ? -1 : 1) * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  std::tm parts{};
  parts.tm_year = year - 1900;
  parts.tm_mon = month - 1;
  parts.tm_mday = day;
  parts.tm_hour = hour;
  parts.tm_min = minute;
  parts.tm_sec = second;
  const std::time_t seconds = timegm(&parts);
  std::tm check{};
  gmtime_r(&seconds, &check);
  if (check.tm_mday != day)
    return std::nullopt;  // 2026-02-30 and the like
  return (static_cast<EpochMillis>(seconds) - offset_minutes * 60) * 1000;
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
