#include "commands/incident_alarm.h"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "commands/incident_model.h"
#include "commands/incident_rooms.h"
#include "commands/incidents.h"
#include "common/redact.h"
#include "common/strings.h"
#include "common/timer.h"

namespace shipmate::commands {
namespace {

namespace asio = boost::asio;

// The longest the loop sleeps without a deadline (it re-reads the earliest one then; a change
// wakes it sooner).
constexpr EpochMillis kLongestSleepMs = 60LL * 60 * 1000;
// Reminders and rooms handled per read, so a backlog is taken in pages.
constexpr int kPage = 200;

}  // namespace

int plan_missing_reminders(Services& services) {
  if (services.incidents == nullptr || services.incident_settings == nullptr)
    return 0;
  int planned = 0;
  for (const auto& incident : services.incidents->open_incidents()) {
    if (incident.next_reminder_at)
      continue;
    const auto due = next_reminder_due(incident, *services.incident_settings);
    if (!due)
      continue;
    services.incidents->set_next_reminder(incident.id, due);
    ++planned;
  }
  return planned;
}

struct IncidentAlarm::Impl {
  explicit Impl(Services& services) : services(services) {}

  // Archives the rooms due at `now` (at most one page); returns how many were archived.
  static asio::awaitable<int> archive_due(std::shared_ptr<Impl> self, EpochMillis now, bool& more) {
    Services& services = self->services;
    const auto due = services.incidents->due_archives(now, kPage);
    more = static_cast<int>(due.size()) == kPage;
    int archived = 0;
    for (const auto& incident : due) {
      const std::string room = incident.room;
      if (services.incident_rooms == nullptr || room.empty()) {
        services.incidents->set_archive(incident.id, std::nullopt, std::nullopt);
        continue;
      }
      std::string address = room;
      auto done = co_await services.incident_rooms->archive(std::move(address));
      const EpochMillis at = services.clock.now_ms();
      if (done) {
        services.database.transaction([&] {
          services.incidents->set_archive(incident.id, std::nullopt, at);
          record_incident_event(services, incident.id, "room", "shipmate",
                                "room " + room + " archived");
        });
        ++archived;
        continue;
      }
      const Error& error = done.error();
      const bool passing = error.kind == ErrorKind::unavailable || error.kind == ErrorKind::tls ||
                           error.kind == ErrorKind::internal;
      if (passing) {
        spdlog::warn("incidents: archiving {}'s room {} failed ({}); trying again in {}",
                     storage::incident_label(incident.id), room, redact(error.message),
                     format_duration(kArchiveRetry.count()));
        services.incidents->set_archive(incident.id, at + kArchiveRetry.count(), std::nullopt);
        continue;
      }
      services.database.transaction([&] {
        services.incidents->set_archive(incident.id, std::nullopt, std::nullopt);
        record_incident_event(services, incident.id, "room", "shipmate",
                              "room " + room + " could not be archived: " + error.message);
      });
    }
    co_return archived;
  }

  static asio::awaitable<StepOutcome> step(std::shared_ptr<Impl> self) {
    StepOutcome outcome;
    Services& services = self->services;
    if (services.incidents == nullptr || services.incident_settings == nullptr)
      co_return outcome;
    outcome.reminded = send_due_reminders(services);
    for (bool more = true; more;) {
      const EpochMillis now = services.clock.now_ms();
      const int archived = co_await archive_due(self, now, more);
      outcome.archived += archived;
    }
    co_return outcome;
  }

  static asio::awaitable<void> loop(std::shared_ptr<Impl> self) {
    Services& services = self->services;
    // co_spawn runs a coroutine inline when called on the loop: the first step waits for the
    // start-up that called start() to finish (and say it is ready) first.
    co_await asio::post(services.executor, asio::use_awaitable);
    while (!self->stopped) {
      ++self->stats.wakeups;
      EpochMillis retry_at = 0;
      try {
        const StepOutcome outcome = co_await step(self);
        if (outcome.reminded + outcome.archived > 0)
          ++self->stats.steps;
      } catch (const std::exception& e) {
        spdlog::error("incidents: the reminder and archive step failed: {}", redact(e.what()));
        retry_at = services.clock.now_ms() + kStepRetry.count();
      }
      if (self->stopped)
        break;
      const EpochMillis now = services.clock.now_ms();
      EpochMillis wait = kLongestSleepMs;
      try {
        if (const auto next =
                services.incidents != nullptr ? services.incidents->next_deadline() : std::nullopt)
          wait = std::min(wait, *next - now);
      } catch (const std::exception& e) {
        spdlog::error("incidents: reading the next deadline failed: {}", redact(e.what()));
        retry_at = now + kStepRetry.count();
      }
      if (retry_at > 0)
        wait = std::max<EpochMillis>(wait, retry_at - now);
      if (wait <= 0)
        continue;
      auto sleeper = services.timers.sleep_for(std::chrono::milliseconds(wait));
      auto token = asio::bind_cancellation_slot(self->wake.slot(), asio::use_awaitable);
      try {
        co_await asio::co_spawn(services.executor, std::move(sleeper), token);
      } catch (const std::exception& e) {
        spdlog::debug("incidents: alarm sleep ended: {}", e.what());
      }
      // The slot held co_spawn's cancellation handler for this sleep; nothing may reach it now.
      self->wake.slot().clear();
    }
  }

  Services& services;
  asio::cancellation_signal wake;
  Stats stats;
  bool started = false;
  bool stopped = false;
};

IncidentAlarm::IncidentAlarm(Services& services) : impl_(std::make_shared<Impl>(services)) {}

IncidentAlarm::~IncidentAlarm() {
  stop();
}

void IncidentAlarm::start() {
  if (impl_->started)
    return;
  impl_->started = true;
  try {
    plan_missing_reminders(impl_->services);
  } catch (const std::exception& e) {
    spdlog::error("incidents: planning reminders at start failed: {}", redact(e.what()));
  }
  asio::co_spawn(impl_->services.executor, Impl::loop(impl_), asio::detached);
}

void IncidentAlarm::stop() {
  if (impl_->stopped)
    return;
  impl_->stopped = true;
  impl_->wake.emit(asio::cancellation_type::terminal);
}

void IncidentAlarm::changed() {
  if (!impl_->started || impl_->stopped)
    return;
  // A change during a step needs no wake-up: the loop reads the earliest deadline after it.
  impl_->wake.emit(asio::cancellation_type::terminal);
}

asio::awaitable<IncidentAlarm::StepOutcome> IncidentAlarm::step() {
  auto self = impl_;
  const StepOutcome outcome = co_await Impl::step(self);
  co_return outcome;
}

IncidentAlarm::Stats IncidentAlarm::stats() const {
  return impl_->stats;
}

}  // namespace shipmate::commands
