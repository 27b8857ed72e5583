#include "commands/timed_jobs.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <spdlog/spdlog.h>

#include "commands/deploy_approvals.h"
#include "commands/handlers.h"
#include "commands/incident_model.h"
#include "commands/incident_rooms.h"
#include "commands/incidents.h"
#include "common/redact.h"
#include "common/strings.h"
#include "scheduler/scheduler.h"

namespace shipmate::commands {
namespace {

using scheduler::TimedOccurrence;
constexpr EpochMillis kFarFuture = std::numeric_limits<EpochMillis>::max();

std::string deploy_key(std::int64_t id) {
  return "#" + std::to_string(id);
}

// "#12" (a deploy) or "INC-3" (an incident) back to the id.
std::optional<std::int64_t> id_of(const std::string& key) {
  return storage::parse_incident_id(key);
}

class LockExpiry final : public scheduler::TimedJob {
 public:
  explicit LockExpiry(Services& services) : services_(services) {}
  std::string_view name() const override { return "lock-expiry"; }
  std::optional<EpochMillis> next_due() override { return services_.locks.next_expiry(); }
  std::vector<TimedOccurrence> due(EpochMillis now, int limit) override {
    std::vector<TimedOccurrence> out;
    for (auto& [scope, at] : services_.locks.expired_by(now, limit))
      out.push_back(TimedOccurrence{std::move(scope), at});
    return out;
  }
  boost::asio::awaitable<Result<std::string>> run(TimedOccurrence occurrence) override {
    const bool expired = expire_lock(services_, occurrence.key, occurrence.nominal);
    co_return expired ? "announced" : "released or re-taken before it expired";
  }

 private:
  Services& services_;
};

class ApprovalTimeout final : public scheduler::TimedJob {
 public:
  explicit ApprovalTimeout(Services& services) : services_(services) {}
  std::string_view name() const override { return "approval-timeout"; }
  // Deploys waiting for approvals are few (one per service and environment at most): their
  // deadlines are computed from the in-flight deploys and the environments' policies.
  std::optional<EpochMillis> next_due() override {
    std::optional<EpochMillis> out;
    for (const auto& deploy : services_.deploys.in_flight()) {
      const auto deadline = approval_deadline(services_, deploy);
      if (deadline && (!out || *deadline < *out))
        out = deadline;
    }
    return out;
  }
  std::vector<TimedOccurrence> due(EpochMillis now, int limit) override {
    std::vector<TimedOccurrence> out;
    for (const auto& deploy : services_.deploys.in_flight()) {
      const auto deadline = approval_deadline(services_, deploy);
      if (deadline && *deadline <= now && static_cast<int>(out.size()) < limit)
        out.push_back(TimedOccurrence{deploy_key(deploy.id), *deadline});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return std::tie(a.nominal, a.key) < std::tie(b.nominal, b.key);
    });
    return out;
  }
  boost::asio::awaitable<Result<std::string>> run(TimedOccurrence occurrence) override {
    const auto id = id_of(occurrence.key);
    const bool expired = id && expire_approval_request(services_, *id);
    co_return expired ? "timed out" : "decided before its deadline";
  }

 private:
  Services& services_;
};

class IncidentReminder final : public scheduler::TimedJob {
 public:
  explicit IncidentReminder(Services& services) : services_(services) {}
  std::string_view name() const override { return "incident-reminder"; }
  std::optional<EpochMillis> next_due() override {
    if (services_.incidents == nullptr)
      return std::nullopt;
    const auto first = services_.incidents->due_reminders(kFarFuture, 1);
    return first.empty() ? std::nullopt : first.front().next_reminder_at;
  }
  std::vector<TimedOccurrence> due(EpochMillis now, int limit) override {
    std::vector<TimedOccurrence> out;
    if (services_.incidents == nullptr)
      return out;
    for (const auto& incident : services_.incidents->due_reminders(now, limit))
      out.push_back(TimedOccurrence{storage::incident_label(incident.id),
                                    incident.next_reminder_at.value_or(now)});
    return out;
  }
  boost::asio::awaitable<Result<std::string>> run(TimedOccurrence occurrence) override {
    const auto id = id_of(occurrence.key);
    const bool reminded = id && remind_incident(services_, *id, occurrence.nominal);
    co_return reminded ? "reminded" : "updated before its reminder";
  }

 private:
  Services& services_;
};

class RoomArchive final : public scheduler::TimedJob {
 public:
  explicit RoomArchive(Services& services) : services_(services) {}
  std::string_view name() const override { return "room-archive"; }
  std::optional<EpochMillis> next_due() override {
    if (services_.incidents == nullptr)
      return std::nullopt;
    const auto first = services_.incidents->due_archives(kFarFuture, 1);
    return first.empty() ? std::nullopt : first.front().archive_at;
  }
  std::vector<TimedOccurrence> due(EpochMillis now, int limit) override {
    std::vector<TimedOccurrence> out;
    if (services_.incidents == nullptr)
      return out;
    for (const auto& incident : services_.incidents->due_archives(now, limit))
      out.push_back(
          TimedOccurrence{storage::incident_label(incident.id), incident.archive_at.value_or(now)});
    return out;
  }
  boost::asio::awaitable<Result<std::string>> run(TimedOccurrence occurrence) override {
    const auto id = id_of(occurrence.key);
    if (!id)
      co_return make_error("not an incident: " + occurrence.key);
    const bool archived = co_await archive_incident_room(services_, *id, occurrence.nominal);
    co_return archived ? "archived" : "not archived now";
  }

 private:
  Services& services_;
};

}  // namespace

void add_timed_jobs(scheduler::Scheduler& scheduler, Services& services) {
  scheduler.add_job(std::make_unique<LockExpiry>(services));
  scheduler.add_job(std::make_unique<ApprovalTimeout>(services));
  scheduler.add_job(std::make_unique<IncidentReminder>(services));
  scheduler.add_job(std::make_unique<RoomArchive>(services));
}

void timed_deadlines_changed(Services& services) {
  if (services.scheduler != nullptr)
    services.scheduler->jobs_changed();
}

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

boost::asio::awaitable<bool> archive_incident_room(Services& services, std::int64_t incident_id,
                                                   EpochMillis due_at) {
  if (services.incidents == nullptr)
    co_return false;
  const auto incident = services.incidents->get(incident_id);
  if (!incident || incident->open() || incident->archive_at != due_at ||
      due_at > services.clock.now_ms())
    co_return false;
  const std::string room = incident->room;
  if (services.incident_rooms == nullptr || room.empty()) {
    services.incidents->set_archive(incident_id, std::nullopt, std::nullopt);
    co_return false;
  }
  std::string address = room;
  auto done = co_await services.incident_rooms->archive(std::move(address));
  const EpochMillis at = services.clock.now_ms();
  if (done) {
    services.database.transaction([&] {
      services.incidents->set_archive(incident_id, std::nullopt, at);
      record_incident_event(services, incident_id, "room", "shipmate",
                            "room " + room + " archived");
    });
    co_return true;
  }
  const Error& error = done.error();
  const bool passing = error.kind == ErrorKind::unavailable || error.kind == ErrorKind::tls ||
                       error.kind == ErrorKind::internal;
  if (passing) {
    spdlog::warn("incidents: archiving {}'s room {} failed ({}); trying again in {}",
                 storage::incident_label(incident_id), room, redact(error.message),
                 format_duration(kArchiveRetry.count()));
    services.incidents->set_archive(incident_id, at + kArchiveRetry.count(), std::nullopt);
    timed_deadlines_changed(services);
    co_return false;
  }
  services.database.transaction([&] {
    services.incidents->set_archive(incident_id, std::nullopt, std::nullopt);
    record_incident_event(services, incident_id, "room", "shipmate",
                          "room " + room + " could not be archived: " + error.message);
  });
  co_return false;
}

}  // namespace shipmate::commands
