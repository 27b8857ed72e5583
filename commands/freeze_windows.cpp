#include "commands/freeze_windows.h"

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <utility>

namespace shipmate::commands {
namespace {

constexpr std::int64_t kMinuteMs = 60'000;
constexpr std::int64_t kDayMs = 86'400'000;

// ---------------------------------------------------------------------------------------------
// Cron parsing

struct FieldSpec {
  const char* name;  // as error messages call it
  unsigned min;
  unsigned max;  // inclusive; 7 for day-of-week, which folds onto 0 afterwards
  const std::array<const char*, 12>* names = nullptr;  // names[i] means min + i
};

constexpr std::array<const char*, 12> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                     "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<const char*, 12> kWeekdayNames = {"sun", "mon", "tue", "wed",
                                                       "thu", "fri", "sat"};

constexpr FieldSpec kMinuteField{"minute", 0, 59};
constexpr FieldSpec kHourField{"hour", 0, 23};
constexpr FieldSpec kDayOfMonthField{"day-of-month", 1, 31};
constexpr FieldSpec kMonthField{"month", 1, 12, &kMonthNames};
constexpr FieldSpec kDayOfWeekField{"day-of-week", 0, 7, &kWeekdayNames};

Error field_error(const FieldSpec& field, const std::string& what) {
  return make_error("cron field '" + std::string(field.name) + "' " + what);
}

std::string range_text(const FieldSpec& field) {
  return std::to_string(field.min) + "-" + std::to_string(field.max);
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// One value of a field: a number in range, or (month, day-of-week) a three-letter name.
Result<unsigned> parse_value(const FieldSpec& field, std::string_view text) {
  if (text.empty())
    return field_error(field, "has an empty value");
  if (field.names) {
    for (std::size_t i = 0; i < field.names->size(); ++i) {
      const char* name = (*field.names)[i];
      if (name && equals_ignoring_case(text, name))
        return field.min + static_cast<unsigned>(i);
    }
  }
  if (!std::all_of(text.begin(), text.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
    return field_error(field, "value '" + std::string(text) + "' is not " +
                                  (field.names ? "a number or a name" : "a number"));
  }
  unsigned value = 0;
  const auto [end, code] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (code != std::errc() || end != text.data() + text.size() || value < field.min ||
      value > field.max) {
    return field_error(field,
                       "value " + std::string(text) + " is out of range " + range_text(field));
  }
  return value;
}

// Sets the bits one field selects. Returns whether the field starts with '*', which decides how
// day-of-month and day-of-week combine.
Result<bool> parse_field(const FieldSpec& field, std::string_view text, std::bitset<64>& selected) {
  std::size_t item_start = 0;
  while (true) {
    const std::size_t comma = text.find(',', item_start);
    const std::string_view item =
        text.substr(item_start, comma == std::string_view::npos ? text.npos : comma - item_start);
    if (item.empty())
      return field_error(field, "has an empty list item in '" + std::string(text) + "'");

    std::string_view base = item;
    unsigned step = 1;
    const std::size_t slash = item.find('/');
    if (slash != std::string_view::npos) {
      base = item.substr(0, slash);
      const std::string_view step_text = item.substr(slash + 1);
      const bool digits =
          !step_text.empty() && std::all_of(step_text.begin(), step_text.end(), [](char c) {
            return std::isdigit(static_cast<unsigned char>(c)) != 0;
          });
      const auto [end, code] =
          std::from_chars(step_text.data(), step_text.data() + step_text.size(), step);
      if (!digits || code != std::errc() || step == 0) {
        return field_error(field, "step '" + std::string(step_text) + "' in '" + std::string(item) +
                                      "' is not a positive number");
      }
    }

    unsigned low = field.min;
    unsigned high = field.max;
    if (base != "*") {
      const std::size_t dash = base.find('-');
      if (dash == std::string_view::npos) {
        // "5/10" is read differently by different crons (just 5, or 5-59/10), so refuse it.
        if (slash != std::string_view::npos) {
          return field_error(field, "step in '" + std::string(item) +
                                        "' needs a range or '*' before it (e.g. '*/" +
                                        std::to_string(step) + "')");
        }
        auto value = parse_value(field, base);
        if (!value)
          return value.error();
        low = high = *value;
      } else {
        auto first = parse_value(field, base.substr(0, dash));
        if (!first)
          return first.error();
        auto last = parse_value(field, base.substr(dash + 1));
        if (!last)
          return last.error();
        // "fri-sun" is how people write a weekend; let Sunday close a range as 7.
        if (field.max == 7 && *last == 0 && *first > 0)
          last = 7u;
        if (*first > *last) {
          return field_error(field, "range '" + std::string(base) + "' runs backwards");
        }
        low = *first;
        high = *last;
      }
    }
    for (unsigned value = low; value <= high; value += step)
      selected.set(value);

    if (comma == std::string_view::npos)
      break;
    item_start = comma + 1;
  }
  return !text.empty() && text.front() == '*';
}

template <std::size_t N>
std::bitset<N> narrow(const std::bitset<64>& bits) {
  std::bitset<N> out;
  for (std::size_t i = 0; i < N; ++i)
    out[i] = bits[i];
  return out;
}

// ---------------------------------------------------------------------------------------------
// Time arithmetic. Instants are UTC epoch milliseconds; "wall" times are milliseconds since
// 1970-01-01 00:00 on a zone's wall clock. Only these helpers talk to date/tz.

std::int64_t floor_div(std::int64_t value, std::int64_t divisor) {
  std::int64_t quotient = value / divisor;
  if ((value % divisor != 0) && ((value < 0) != (divisor < 0)))
    --quotient;
  return quotient;
}

using WallMs = std::int64_t;

WallMs wall_at(const date::time_zone& zone, EpochMillis at) {
  const date::sys_seconds second{std::chrono::seconds{floor_div(at, 1000)}};
  return at + zone.get_info(second).offset.count() * 1000;
}

// The instant a wall time names, by the rules in the header: a time in a spring-forward gap
// becomes the first instant after the gap; one in a fall-back overlap, its first occurrence.
EpochMillis resolve(const date::time_zone& zone, WallMs wall) {
  const date::local_seconds second{std::chrono::seconds{floor_div(wall, 1000)}};
  const date::local_info info = zone.get_info(second);
  if (info.result == date::local_info::nonexistent) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               info.second.begin.time_since_epoch())
        .count();
  }
  // unique, or ambiguous: `first` is the offset in force before the clocks went back.
  return wall - info.first.offset.count() * 1000;
}

std::chrono::year_month_day civil_day(std::int64_t day_number) {
  return std::chrono::year_month_day{std::chrono::sys_days{std::chrono::days{day_number}}};
}

constexpr std::array<const char*, 7> kWeekdayLabels = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};

// "Mon 2026-11-23 09:00" (or "...09:00:30" when not on a whole minute) for a wall time.
std::string format_wall(WallMs wall, bool with_weekday, bool with_date) {
  const std::int64_t day = floor_div(wall, kDayMs);
  const std::int64_t in_day = wall - day * kDayMs;
  const auto ymd = civil_day(day);
  const std::chrono::weekday weekday{std::chrono::sys_days{std::chrono::days{day}}};
  const auto hour = in_day / 3'600'000;
  const auto minute = in_day / kMinuteMs % 60;
  const auto second = in_day / 1000 % 60;
  const bool whole_minute = in_day % kMinuteMs == 0;

  char buffer[64];
  int length = 0;
  if (with_date) {
    length = std::snprintf(buffer, sizeof buffer, "%s%s%04d-%02u-%02u ",
                           with_weekday ? kWeekdayLabels[weekday.c_encoding()] : "",
                           with_weekday ? " " : "", static_cast<int>(ymd.year()),
                           static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  }
  if (whole_minute) {
    std::snprintf(buffer + length, sizeof buffer - static_cast<std::size_t>(length),
                  "%02lld:%02lld", static_cast<long long>(hour), static_cast<long long>(minute));
  } else {
    std::snprintf(buffer + length, sizeof buffer - static_cast<std::size_t>(length),
                  "%02lld:%02lld:%02lld", static_cast<long long>(hour),
                  static_cast<long long>(minute), static_cast<long long>(second));
  }
  return buffer;
}

Result<const date::time_zone*> find_zone(std::string_view name) {
  if (name.empty())
    return make_error("time zone is empty; expected an IANA name such as Europe/Berlin");
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    // locate_zone throws for an unknown name, and get_tzdb() when the database cannot be read;
    // tell the two apart so a missing tzdata package is not reported as a typo.
    try {
      (void)date::get_tzdb();
    } catch (const std::exception& error) {
      return make_error("cannot read the time zone database (is tzdata installed?): " +
                        std::string(error.what()));
    }
    return make_error("unknown time zone '" + std::string(name) +
                      "'; expected an IANA name such as Europe/Berlin or America/New_York");
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// CronSchedule

Result<CronSchedule> CronSchedule::parse(std::string_view expression) {
  std::array<std::string_view, 5> fields;
  std::size_t count = 0;
  std::size_t position = 0;
  while (position < expression.size()) {
    while (position < expression.size() &&
           std::isspace(static_cast<unsigned char>(expression[position])))
      ++position;
    if (position == expression.size())
      break;
    std::size_t end = position;
    while (end < expression.size() && !std::isspace(static_cast<unsigned char>(expression[end])))
      ++end;
    if (count < fields.size())
      fields[count] = expression.substr(position, end - position);
    ++count;
    position = end;
  }
  if (count != fields.size()) {
    return make_error("cron expression '" + std::string(expression) + "' has " +
                      std::to_string(count) +
                      " fields; expected 5: minute hour day-of-month month day-of-week");
  }

  CronSchedule schedule;
  std::bitset<64> bits;
  if (auto star = parse_field(kMinuteField, fields[0], bits); !star)
    return star.error();
  schedule.minutes_ = narrow<60>(bits);
  bits.reset();
  if (auto star = parse_field(kHourField, fields[1], bits); !star)
    return star.error();
  schedule.hours_ = narrow<24>(bits);
  bits.reset();
  auto day_of_month_star = parse_field(kDayOfMonthField, fields[2], bits);
  if (!day_of_month_star)
    return day_of_month_star.error();
  schedule.days_of_month_ = narrow<32>(bits);
  bits.reset();
  if (auto star = parse_field(kMonthField, fields[3], bits); !star)
    return star.error();
  schedule.months_ = narrow<13>(bits);
  bits.reset();
  auto day_of_week_star = parse_field(kDayOfWeekField, fields[4], bits);
  if (!day_of_week_star)
    return day_of_week_star.error();
  if (bits.test(7))
    bits.set(0);  // 7 is Sunday too
  schedule.days_of_week_ = narrow<7>(bits);
  schedule.day_of_month_star_ = *day_of_month_star;
  schedule.day_of_week_star_ = *day_of_week_star;

  // Day-of-month alone can pick a date no month has ("0 0 31 2 *"); such a schedule would
  // silently never freeze anything, so refuse it. With day-of-week restricted too (either may
  // match), or day-of-week alone, every selection occurs in some year.
  if (!schedule.day_of_month_star_ && schedule.day_of_week_star_) {
    constexpr std::array<unsigned, 13> kLongestMonth = {0,  31, 29, 31, 30, 31, 30,
                                                        31, 31, 30, 31, 30, 31};
    bool possible = false;
    for (unsigned month = 1; month <= 12 && !possible; ++month) {
      for (unsigned day = 1; day <= kLongestMonth[month] && !possible; ++day)
        possible = schedule.months_.test(month) && schedule.days_of_month_.test(day);
    }
    if (!possible) {
      return make_error("cron expression '" + std::string(expression) +
                        "' never matches: no selected month has the selected days");
    }
  }
  schedule.text_ = std::string(expression);
  return schedule;
}

bool CronSchedule::matches_day(std::chrono::year_month_day day) const {
  if (!day.ok() || !months_.test(static_cast<unsigned>(day.month())))
    return false;
  const bool day_of_month = days_of_month_.test(static_cast<unsigned>(day.day()));
  const bool day_of_week = days_of_week_.test(std::chrono::weekday{day}.c_encoding());
  if (day_of_month_star_ || day_of_week_star_)
    return day_of_month && day_of_week;
  return day_of_month || day_of_week;
}

bool CronSchedule::matches(std::chrono::year_month_day day, unsigned hour, unsigned minute) const {
  return hour_matches(hour) && minute_matches(minute) && matches_day(day);
}

// ---------------------------------------------------------------------------------------------
// FreezeWindow

Result<FreezeWindow> FreezeWindow::recurring(std::string_view cron, EpochMillis duration_ms,
                                             std::string_view time_zone, std::string reason) {
  auto schedule = CronSchedule::parse(cron);
  if (!schedule)
    return schedule.error();
  if (duration_ms <= 0)
    return make_error("freeze duration must be positive");
  if (duration_ms > kMaxDurationMs) {
    return make_error("freeze duration " + format_duration(duration_ms) +
                      " is longer than 366 days; use a one-off window instead");
  }
  auto zone = find_zone(time_zone);
  if (!zone)
    return zone.error();
  FreezeWindow window;
  window.reason_ = std::move(reason);
  window.time_zone_ = std::string(time_zone);
  window.zone_ = *zone;
  window.schedule_ = std::move(schedule).value();
  window.duration_ms_ = duration_ms;
  return window;
}

Result<FreezeWindow> FreezeWindow::one_off(EpochMillis start_ms, EpochMillis end_ms,
                                           std::string reason, std::string_view time_zone) {
  if (end_ms <= start_ms) {
    return make_error("freeze from " + format_utc(start_ms) + " to " + format_utc(end_ms) +
                      " ends before it starts");
  }
  FreezeWindow window;
  if (!time_zone.empty()) {
    auto zone = find_zone(time_zone);
    if (!zone)
      return zone.error();
    window.zone_ = *zone;
    window.time_zone_ = std::string(time_zone);
  }
  window.reason_ = std::move(reason);
  window.start_ms_ = start_ms;
  window.end_ms_ = end_ms;
  window.duration_ms_ = end_ms - start_ms;
  return window;
}

std::optional<FreezeOccurrence> FreezeWindow::occurrence_at(EpochMillis now) const {
  if (!schedule_) {
    if (start_ms_ <= now && now < end_ms_)
      return FreezeOccurrence{start_ms_, end_ms_};
    return std::nullopt;
  }
  const date::time_zone& zone = *zone_;
  const CronSchedule& cron = *schedule_;

  // The cron's times of day, in order, as minutes after midnight.
  std::array<std::int16_t, 24 * 60> times{};
  std::size_t time_count = 0;
  for (unsigned hour = 0; hour < 24; ++hour) {
    if (!cron.hour_matches(hour))
      continue;
    for (unsigned minute = 0; minute < 60; ++minute) {
      if (cron.minute_matches(minute))
        times[time_count++] = static_cast<std::int16_t>(hour * 60 + minute);
    }
  }
  if (time_count == 0)
    return std::nullopt;  // unreachable: every field selects at least one value

  // resolve() never maps a later wall time to an earlier instant, so the start that began last
  // at or before `now` is the latest matching wall time that resolves to <= now, and because
  // the end is start + duration on the same wall clock, it is also the one that ends last. Walk
  // candidate days backwards and binary-search the times within the first day that has one.
  //
  // The walk begins a day after now's wall date, because in a fall-back overlap a wall time
  // later than now's can already have passed (its first occurrence). It stops two days before
  // the wall date of now - duration: a start any earlier has ended, with a day's margin for
  // offset changes, which in the tz database are all under a day.
  const WallMs now_wall = wall_at(zone, now);
  const std::int64_t first_day = floor_div(now_wall, kDayMs) + 1;
  const std::int64_t last_day = floor_div(now_wall - duration_ms_, kDayMs) - 2;
  const auto wall_of = [&](std::int64_t day, std::size_t index) {
    return day * kDayMs + times[index] * kMinuteMs;
  };
  for (std::int64_t day = first_day; day >= last_day; --day) {
    if (!cron.matches_day(civil_day(day)))
      continue;
    if (resolve(zone, wall_of(day, 0)) > now)
      continue;  // every start this day is still to come
    // Invariant: times[low] resolves to <= now; times[high] (if < count) to > now.
    std::size_t low = 0;
    std::size_t high = time_count;
    while (high - low > 1) {
      const std::size_t middle = low + (high - low) / 2;
      if (resolve(zone, wall_of(day, middle)) <= now)
        low = middle;
      else
        high = middle;
    }
    const WallMs start_wall = wall_of(day, low);
    const EpochMillis start = resolve(zone, start_wall);
    const EpochMillis end = resolve(zone, start_wall + duration_ms_);
    if (now < end)
      return FreezeOccurrence{start, end};
    return std::nullopt;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------

std::optional<ActiveFreeze> active_freeze(const std::vector<FreezeWindow>& windows,
                                          EpochMillis now) {
  std::optional<ActiveFreeze> best;
  for (std::size_t index = 0; index < windows.size(); ++index) {
    const auto occurrence = windows[index].occurrence_at(now);
    if (!occurrence || (best && occurrence->end_ms <= best->ends_at_ms))
      continue;
    best = ActiveFreeze{index, windows[index].reason(), occurrence->start_ms, occurrence->end_ms};
  }
  return best;
}

std::string describe_until(const FreezeWindow& window, EpochMillis end_ms) {
  const WallMs utc_wall = end_ms;  // the UTC wall clock reads the instant itself
  if (window.zone_ == nullptr)
    return "until " + format_wall(utc_wall, true, true) + "Z";
  const WallMs local_wall = wall_at(*window.zone_, end_ms);
  const bool same_date = floor_div(local_wall, kDayMs) == floor_div(utc_wall, kDayMs);
  return "until " + format_wall(local_wall, true, true) + " " + window.time_zone() + " (" +
         format_wall(utc_wall, false, !same_date) + "Z)";
}

}  // namespace shipmate::commands
