#include "commands/when.h"

#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <optional>
#include <vector>

#include "common/cron.h"
#include "common/strings.h"

namespace shipmate::commands {
namespace {

constexpr EpochMillis kDayMs = 86'400'000;
constexpr std::array<const char*, 7> kWeekdays = {"sunday",   "monday", "tuesday", "wednesday",
                                                  "thursday", "friday", "saturday"};

Error not_understood(std::string_view text) {
  return make_error("'" + std::string(text) +
                        "' is not a time I understand; write it like 17:00 Europe/Paris, "
                        "tomorrow 09:00, monday 09:00 UTC, 2026-12-24T09:00Z or in 2h",
                    ErrorKind::invalid);
}

EpochMillis floor_div(EpochMillis value, EpochMillis divisor) {
  EpochMillis quotient = value / divisor;
  if (value % divisor != 0 && value < 0)
    --quotient;
  return quotient;
}

bool parse_number(std::string_view text, int& out) {
  if (text.empty())
    return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// "17:00", "9:30", "09:30:15" -> milliseconds after midnight.
bool parse_clock(std::string_view text, EpochMillis& out) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const auto colon = text.find(':', start);
    parts.push_back(text.substr(start, colon == std::string_view::npos ? colon : colon - start));
    if (colon == std::string_view::npos)
      break;
    start = colon + 1;
  }
  if (parts.size() < 2 || parts.size() > 3 || parts[1].size() != 2)
    return false;
  int hour = 0, minute = 0, second = 0;
  if (!parse_number(parts[0], hour) || !parse_number(parts[1], minute) ||
      (parts.size() == 3 && !parse_number(parts[2], second)))
    return false;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59)
    return false;
  out = ((hour * 60LL + minute) * 60 + second) * 1000;
  return true;
}

// "2026-12-24" -> days since 1970-01-01.
bool parse_date(std::string_view text, EpochMillis& day) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-')
    return false;
  int year = 0, month = 0, dom = 0;
  if (!parse_number(text.substr(0, 4), year) || !parse_number(text.substr(5, 2), month) ||
      !parse_number(text.substr(8, 2), dom))
    return false;
  const std::chrono::year_month_day ymd{std::chrono::year{year},
                                        std::chrono::month{static_cast<unsigned>(month)},
                                        std::chrono::day{static_cast<unsigned>(dom)}};
  if (!ymd.ok())
    return false;
  day = std::chrono::sys_days(ymd).time_since_epoch().count();
  return true;
}

std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ')
      ++i;
    const std::size_t start = i;
    while (i < text.size() && text[i] != ' ')
      ++i;
    if (i > start)
      out.push_back(text.substr(start, i - start));
  }
  return out;
}

}  // namespace

Result<EpochMillis> parse_when(std::string_view raw, EpochMillis now, std::string_view zone_name) {
  const std::string_view text = trim(raw);
  if (text.empty())
    return make_error(
        "a time is missing; write it like 17:00 Europe/Paris, tomorrow 09:00 or "
        "2026-12-24T09:00Z",
        ErrorKind::invalid);
  if (auto instant = parse_iso8601(text))
    return *instant;
  std::vector<std::string_view> parts = words(text);

  if (parts.size() == 2 && to_lower(parts[0]) == "in") {
    auto millis = parse_duration_ms(parts[1]);
    if (!millis || *millis <= 0)
      return not_understood(text);
    return now + *millis;
  }

  // A trailing zone.
  std::string zone_text(zone_name.empty() ? "UTC" : zone_name);
  if (parts.size() >= 2) {
    const std::string_view last = parts.back();
    if (last.find('/') != std::string_view::npos || last == "UTC" || last == "utc") {
      auto found = TimeZone::find(last == "utc" ? "UTC" : last);
      if (!found)
        return found.error();
      zone_text = std::string(last == "utc" ? "UTC" : last);
      parts.pop_back();
    }
  }
  auto zone = TimeZone::find(zone_text);
  if (!zone)
    return zone.error();
  const EpochMillis today = floor_div(zone->to_wall(now), kDayMs);

  // "2026-12-24T09:00" (no zone designator) or "2026-12-24 09:00" or "2026-12-24".
  if (parts.size() == 1 && parts[0].size() > 11 && parts[0][10] == 'T') {
    const std::string_view joined = parts[0];
    parts = {joined.substr(0, 10), joined.substr(11)};
  }
  EpochMillis day = 0;
  if (!parts.empty() && parse_date(parts[0], day)) {
    EpochMillis clock = 0;
    if (parts.size() == 1)
      return zone->to_instant(day * kDayMs);
    if (parts.size() == 2 && parse_clock(parts[1], clock))
      return zone->to_instant(day * kDayMs + clock);
    return not_understood(text);
  }

  EpochMillis clock = 0;
  if (parts.size() == 1 && parse_clock(parts[0], clock)) {
    const EpochMillis candidate = zone->to_instant(today * kDayMs + clock);
    if (candidate > now)
      return candidate;
    return zone->to_instant((today + 1) * kDayMs + clock);
  }
  if (parts.size() == 2 && parse_clock(parts[1], clock)) {
    const std::string first = to_lower(parts[0]);
    if (first == "today")
      return zone->to_instant(today * kDayMs + clock);
    if (first == "tomorrow")
      return zone->to_instant((today + 1) * kDayMs + clock);
    // 1970-01-01 was a Thursday (index 4).
    const int weekday_today = static_cast<int>(((today % 7) + 7 + 4) % 7);
    for (int i = 0; i < 7; ++i) {
      const std::string name = kWeekdays[static_cast<std::size_t>(i)];
      if (first == name || (first.size() == 3 && name.compare(0, 3, first) == 0)) {
        int ahead = (i - weekday_today + 7) % 7;
        if (ahead == 0)
          ahead = 7;
        return zone->to_instant((today + ahead) * kDayMs + clock);
      }
    }
  }
  return not_understood(text);
}

Result<EpochMillis> parse_since(std::string_view raw, EpochMillis now, std::string_view zone_name) {
  const std::string_view text = trim(raw);
  if (auto back = parse_duration_ms(text); back && *back > 0)
    return now - *back;
  auto candidate = parse_when(text, now, zone_name);
  if (!candidate)
    return candidate;
  if (*candidate <= now)
    return *candidate;
  // A clock time or a weekday names a future instant from now; the same words read from a day
  // or a week earlier name the recent past. The latest such instant at or before now wins.
  const std::vector<std::string_view> parts = words(text);
  const std::string first = parts.empty() ? std::string() : to_lower(parts[0]);
  EpochMillis clock = 0;
  bool repeats = !parts.empty() && parse_clock(parts[0], clock);
  for (const char* name : kWeekdays) {
    const std::string full(name);
    if (first == full || (first.size() == 3 && full.compare(0, 3, first) == 0))
      repeats = true;
  }
  std::optional<EpochMillis> best;
  if (repeats) {
    for (const EpochMillis back : {kDayMs, 7 * kDayMs, 8 * kDayMs}) {
      auto earlier = parse_when(text, now - back, zone_name);
      if (earlier && *earlier <= now && (!best || *earlier > *best))
        best = *earlier;
    }
  }
  if (best)
    return *best;
  return make_error("'" + std::string(text) +
                        "' is in the future; name a time before now (monday 09:00, "
                        "2026-12-01, 3d)",
                    ErrorKind::invalid);
}

std::string written_zone(std::string_view text, std::string_view fallback) {
  text = trim(text);
  const auto space = text.rfind(' ');
  const std::string_view last = space == std::string_view::npos ? text : text.substr(space + 1);
  if ((last.find('/') != std::string_view::npos || last == "UTC") && TimeZone::find(last))
    return std::string(last);
  return std::string(fallback);
}

std::string describe_instant(EpochMillis at, std::string_view zone_name) {
  auto zone = TimeZone::find(zone_name.empty() ? "UTC" : zone_name);
  const auto format_wall = [](WallMillis wall, bool with_day) {
    const EpochMillis day = floor_div(wall, kDayMs);
    const auto in_day = static_cast<long long>(wall - day * kDayMs);
    const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{day}}};
    const std::chrono::weekday weekday{std::chrono::sys_days{std::chrono::days{day}}};
    static constexpr std::array<const char*, 7> kShort = {"Sun", "Mon", "Tue", "Wed",
                                                          "Thu", "Fri", "Sat"};
    char buffer[48];
    if (with_day) {
      std::snprintf(buffer, sizeof buffer, "%s %04d-%02u-%02u %02lld:%02lld",
                    kShort[weekday.c_encoding()], static_cast<int>(ymd.year()),
                    static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                    in_day / 3'600'000, in_day / 60'000 % 60);
    } else {
      std::snprintf(buffer, sizeof buffer, "%02lld:%02lld", in_day / 3'600'000,
                    in_day / 60'000 % 60);
    }
    return std::string(buffer);
  };
  if (!zone || zone->name() == "UTC")
    return format_wall(at, true) + "Z";
  const WallMillis local = zone->to_wall(at);
  const bool same_day = floor_div(local, kDayMs) == floor_div(at, kDayMs);
  return format_wall(local, true) + " " + zone->name() + " (" +
         (same_day ? format_wall(at, false) : format_wall(at, true)) + "Z)";
}

}  // namespace shipmate::commands
