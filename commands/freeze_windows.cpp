#include "commands/freeze_windows.h"

#include <array>
#include <cstdint>
#include <cstdio>
#include <utility>

namespace shipmate::commands {
namespace {

constexpr std::int64_t kMinuteMs = 60'000;
constexpr std::int64_t kDayMs = 86'400'000;

std::int64_t floor_div(std::int64_t value, std::int64_t divisor) {
  std::int64_t quotient = value / divisor;
  if ((value % divisor != 0) && ((value < 0) != (divisor < 0)))
    --quotient;
  return quotient;
}

std::chrono::year_month_day civil_day(std::int64_t day_number) {
  return std::chrono::year_month_day{std::chrono::sys_days{std::chrono::days{day_number}}};
}
constexpr std::array<const char*, 7> kWeekdayLabels = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};

// "Mon 2026-11-23 09:00" (or "...09:00:30" when not on a whole minute) for a wall time.
std::string format_wall(WallMillis wall, bool with_weekday, bool with_date) {
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

}  // namespace

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
  auto zone = TimeZone::find(time_zone);
  if (!zone)
    return zone.error();
  FreezeWindow window;
  window.reason_ = std::move(reason);
  window.zone_ = *zone;
  window.cron_.emplace(std::move(schedule).value(), std::move(zone).value());
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
    auto zone = TimeZone::find(time_zone);
    if (!zone)
      return zone.error();
    window.zone_ = std::move(zone).value();
  }
  window.reason_ = std::move(reason);
  window.start_ms_ = start_ms;
  window.end_ms_ = end_ms;
  window.duration_ms_ = end_ms - start_ms;
  return window;
}

const std::string& FreezeWindow::time_zone() const {
  static const std::string kNone;
  return zone_ ? zone_->name() : kNone;
}

std::optional<FreezeOccurrence> FreezeWindow::occurrence_at(EpochMillis now) const {
  if (!cron_) {
    if (start_ms_ <= now && now < end_ms_)
      return FreezeOccurrence{start_ms_, end_ms_};
    return std::nullopt;
  }
  // The start that began last at or before `now` is also the one that ends last, because the
  // end is start + duration on the same wall clock. A start before now - duration has ended.
  const auto start = cron_->last_at_or_before(now, now - duration_ms_);
  if (!start)
    return std::nullopt;
  const EpochMillis end = cron_->zone().to_instant(start->wall + duration_ms_);
  if (now < end)
    return FreezeOccurrence{start->at, end};
  return std::nullopt;
}

std::optional<FreezeOccurrence> FreezeWindow::next_occurrence_after(EpochMillis now) const {
  if (!cron_) {
    if (start_ms_ > now)
      return FreezeOccurrence{start_ms_, end_ms_};
    return std::nullopt;
  }
  const auto start = cron_->next_after(now);
  if (!start)
    return std::nullopt;
  return FreezeOccurrence{start->at, cron_->zone().to_instant(start->wall + duration_ms_)};
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
  const WallMillis utc_wall = end_ms;  // the UTC wall clock reads the instant itself
  if (!window.zone_)
    return "until " + format_wall(utc_wall, true, true) + "Z";
  const WallMillis local_wall = window.zone_->to_wall(end_ms);
  const bool same_date = floor_div(local_wall, kDayMs) == floor_div(utc_wall, kDayMs);
  return "until " + format_wall(local_wall, true, true) + " " + window.time_zone() + " (" +
         format_wall(utc_wall, false, !same_date) + "Z)";
}

}  // namespace shipmate::commands