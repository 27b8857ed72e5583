#include "common/cron.h"

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <exception>
#include <utility>

#include "common/strings.h"

namespace shipmate {
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
  return make_error("cron field '" + std::string(field.name) + "' " + what, ErrorKind::invalid);
}

std::string range_text(const FieldSpec& field) {
  return std::to_string(field.min) + "-" + std::to_string(field.max);
}

// One value of a field: a number in range, or (month, day-of-week) a three-letter name.
Result<unsigned> parse_value(const FieldSpec& field, std::string_view text) {
  if (text.empty())
    return field_error(field, "has an empty value");
  if (field.names) {
    for (std::size_t i = 0; i < field.names->size(); ++i) {
      const char* name = (*field.names)[i];
      if (name && equals_ci(text, name))
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
// Time arithmetic. Only TimeZone talks to date/tz.

std::int64_t floor_div(std::int64_t value, std::int64_t divisor) {
  std::int64_t quotient = value / divisor;
  if ((value % divisor != 0) && ((value < 0) != (divisor < 0)))
    --quotient;
  return quotient;
}

std::chrono::year_month_day civil_day(std::int64_t day_number) {
  return std::chrono::year_month_day{std::chrono::sys_days{std::chrono::days{day_number}}};
}

// The schedule's times of day, in order, as minutes after midnight.
struct TimesOfDay {
  std::array<std::int16_t, 24 * 60> minutes{};
  std::size_t count = 0;
};

TimesOfDay times_of_day(const CronSchedule& cron) {
  TimesOfDay times;
  for (unsigned hour = 0; hour < 24; ++hour) {
    if (!cron.hour_matches(hour))
      continue;
    for (unsigned minute = 0; minute < 60; ++minute) {
      if (cron.minute_matches(minute))
        times.minutes[times.count++] = static_cast<std::int16_t>(hour * 60 + minute);
    }
  }
  return times;
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
                          " fields; expected 5: minute hour day-of-month month day-of-week",
                      ErrorKind::invalid);
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
                            "' never matches: no selected month has the selected days",
                        ErrorKind::invalid);
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
// TimeZone

Result<TimeZone> TimeZone::find(std::string_view name) {
  if (name.empty()) {
    return make_error("time zone is empty; expected an IANA name such as Europe/Berlin",
                      ErrorKind::invalid);
  }
  TimeZone zone;
  try {
    zone.zone_ = date::locate_zone(name);
  } catch (const std::exception&) {
    // locate_zone throws for an unknown name, and get_tzdb() when the database cannot be read;
    // tell the two apart so a missing tzdata package is not reported as a typo.
    try {
      (void)date::get_tzdb();
    } catch (const std::exception& error) {
      return make_error(
          "cannot read the time zone database (is tzdata installed?): " + std::string(error.what()),
          ErrorKind::unavailable);
    }
    // The closest name in the database (case aside), for a typo.
    std::string best;
    std::size_t best_distance = 4;
    const auto consider = [&](std::string_view candidate) {
      const std::size_t distance = edit_distance(to_lower(name), to_lower(candidate));
      if (distance < best_distance) {
        best_distance = distance;
        best = std::string(candidate);
      }
    };
    for (const auto& known : date::get_tzdb().zones)
      consider(known.name());
    return make_error("unknown time zone '" + std::string(name) + "'" +
                          (best.empty() ? "" : " (did you mean " + best + "?)") +
                          "; expected an IANA name such as Europe/Berlin or America/New_York",
                      ErrorKind::invalid);
  }
  zone.name_ = std::string(name);
  return zone;
}

WallMillis TimeZone::to_wall(EpochMillis at) const {
  const date::sys_seconds second{std::chrono::seconds{floor_div(at, 1000)}};
  return at + zone_->get_info(second).offset.count() * 1000;
}

EpochMillis TimeZone::to_instant(WallMillis wall) const {
  const date::local_seconds second{std::chrono::seconds{floor_div(wall, 1000)}};
  const date::local_info info = zone_->get_info(second);
  if (info.result == date::local_info::nonexistent) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               info.second.begin.time_since_epoch())
        .count();
  }
  // unique, or ambiguous: `first` is the offset in force before the clocks went back.
  return wall - info.first.offset.count() * 1000;
}

// ---------------------------------------------------------------------------------------------
// ZonedCron

Result<ZonedCron> ZonedCron::parse(std::string_view expression, std::string_view time_zone) {
  auto schedule = CronSchedule::parse(expression);
  if (!schedule)
    return schedule.error();
  auto zone = TimeZone::find(time_zone);
  if (!zone)
    return zone.error();
  return ZonedCron(std::move(schedule).value(), std::move(zone).value());
}

ZonedCron::ZonedCron(CronSchedule schedule, TimeZone zone)
    : schedule_(std::move(schedule)), zone_(std::move(zone)) {}

std::optional<CronMatch> ZonedCron::next_after(EpochMillis after) const {
  const TimesOfDay times = times_of_day(schedule_);
  if (times.count == 0)
    return std::nullopt;  // unreachable: every field selects at least one value
  const auto wall_of = [&](std::int64_t day, std::size_t index) {
    return day * kDayMs + times.minutes[index] * kMinuteMs;
  };
  // to_instant() never maps a later wall time to an earlier instant, so the answer is the
  // earliest matching wall time that names an instant > after. Start a day before after's wall
  // date: offsets change by less than a day, so no earlier day can hold it.
  const std::int64_t first_day = floor_div(zone_.to_wall(after), kDayMs) - 1;
  for (std::int64_t day = first_day; day <= first_day + kSearchDays; ++day) {
    if (!schedule_.matches_day(civil_day(day)))
      continue;
    if (zone_.to_instant(wall_of(day, times.count - 1)) <= after)
      continue;  // every time this day has passed
    // Invariant: times[high] names an instant > after; times[low] (if >= 0) one <= after.
    std::int64_t low = -1;
    auto high = static_cast<std::int64_t>(times.count - 1);
    while (high - low > 1) {
      const std::int64_t middle = low + (high - low) / 2;
      if (zone_.to_instant(wall_of(day, static_cast<std::size_t>(middle))) > after)
        high = middle;
      else
        low = middle;
    }
    const WallMillis wall = wall_of(day, static_cast<std::size_t>(high));
    return CronMatch{zone_.to_instant(wall), wall};
  }
  return std::nullopt;
}

std::optional<CronMatch> ZonedCron::last_at_or_before(EpochMillis at,
                                                      EpochMillis not_before) const {
  const TimesOfDay times = times_of_day(schedule_);
  if (times.count == 0)
    return std::nullopt;
  const auto wall_of = [&](std::int64_t day, std::size_t index) {
    return day * kDayMs + times.minutes[index] * kMinuteMs;
  };
  // The walk begins a day after at's wall date, because in a fall-back overlap a wall time later
  // than at's can already have passed (its first occurrence), and ends two days before the wall
  // date of not_before (a day's margin for offset changes, which are all under a day).
  const std::int64_t first_day = floor_div(zone_.to_wall(at), kDayMs) + 1;
  const std::int64_t last_day = floor_div(zone_.to_wall(not_before), kDayMs) - 2;
  for (std::int64_t day = first_day; day >= last_day; --day) {
    if (!schedule_.matches_day(civil_day(day)))
      continue;
    if (zone_.to_instant(wall_of(day, 0)) > at)
      continue;  // every time this day is still to come
    // Invariant: times[low] names an instant <= at; times[high] (if < count) one > at.
    std::size_t low = 0;
    std::size_t high = times.count;
    while (high - low > 1) {
      const std::size_t middle = low + (high - low) / 2;
      if (zone_.to_instant(wall_of(day, middle)) <= at)
        low = middle;
      else
        high = middle;
    }
    const WallMillis wall = wall_of(day, low);
    return CronMatch{zone_.to_instant(wall), wall};
  }
  return std::nullopt;
}

}  // namespace shipmate
