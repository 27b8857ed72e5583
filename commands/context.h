// What a command handler gets to work with.
//
// Contract: everything here is owned by the running application (bot/app.cpp) and outlives every
// command; handlers run on the event-loop thread and may co_await target operations. Services is
// wiring only: references to what the application owns. What changes while deploys run (which
// run here, their cancellation signals, the questions they wait on) is DeployRuntime's
// (deploy_runtime.h). A handler reports user-facing failures by posting an error Message, never
// by throwing; an exception escaping a handler is a bug and is reported by the router as an
// internal error.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "commands/caller.h"
#include "commands/model.h"
#include "commands/registry.h"
#include "commands/reply.h"
#include "commands/verification.h"
#include "common/clock.h"
#include "integrations/ci_provider.h"
#include "integrations/deploy_target.h"
#include "storage/approval_store.h"
#include "storage/audit_log.h"
#include "storage/database.h"
#include "storage/deploy_store.h"
#include "storage/freeze_store.h"
#include "storage/incident_store.h"
#include "storage/lock_store.h"
#include "storage/room_op_store.h"
#include "storage/schedule_store.h"

namespace shipmate {
class Timers;
}

namespace shipmate::scheduler {
class Scheduler;
}

namespace shipmate::metrics {
class Registry;
}

namespace shipmate::commands {

class DeployRuntime;
struct IncidentSettings;
class IncidentRooms;
class RunbookLibrary;
class ReleaseNotesBook;

// Told about every recorded change of a deploy (its creation included), after it is persisted.
// Used to mirror deploys elsewhere (GitHub Deployments). Must not block: an observer that talks
// to the network queues the work and returns.
class DeployObserver {
 public:
  virtual ~DeployObserver() = default;
  virtual void deploy_changed(const storage::DeployRecord& deploy) = 0;
};

// What commands work with, wired by the application.
struct Services {
  boost::asio::any_io_executor executor;
  const Catalog& catalog;
  const Clock& clock;
  storage::Database& database;
  storage::DeployStore& deploys;
  storage::LockStore& locks;
  storage::AuditLog& audit;
  // Deploy targets by service name.
  std::map<std::string, std::unique_ptr<integrations::DeployTarget>>& targets;
  // Every sleep in the deploy flow (bake times, question timeouts) goes through these.
  Timers& timers;
  // Running deploys, their cancellation signals and open questions.
  DeployRuntime& runtime;
  const CommandRegistry* registry = nullptr;       // for help
  ConversationDirectory* conversations = nullptr;  // to report work that outlives a command
  storage::ApprovalStore* approvals = nullptr;     // required when an environment asks for them
  // Where metric checks are evaluated; null when no metrics source is configured.
  MetricsSource* metrics = nullptr;
  // CI builds by service name (services with a build: pipeline); null when none is configured.
  std::map<std::string, std::unique_ptr<integrations::CiProvider>>* builds = nullptr;
  std::vector<DeployObserver*> observers = {};
  // What GET /metrics renders (common/metrics.h); null when nothing counts (tests).
  metrics::Registry* meters = nullptr;
  // Incidents (commands/incident_commands.h); the incident commands answer that incidents are
  // not set up when these are null.
  storage::IncidentStore* incidents = nullptr;
  const IncidentSettings* incident_settings = nullptr;
  IncidentRooms* incident_rooms = nullptr;  // rooms, invites, pins; null: threads where declared
  // The durable queue of room operations (commands/incident_room_ops.h); null: each operation is
  // asked once, unrecorded (tests without a database of their own).
  storage::RoomOpStore* room_ops = nullptr;
  // Runbook definitions and their runs; null when runbooks are not wired (some tests).
  RunbookLibrary* runbooks = nullptr;
  // Schedules and chat freezes (issue 15). Null when not wired: the commands say so. The
  // scheduler is told about every schedule a command adds or changes, and about every deadline
  // of its timed jobs a command moves (commands/timed_jobs.h: locks, approval requests, incident
  // reminders and room archiving); null: nothing runs them (tests call them by hand).
  storage::ScheduleStore* schedules = nullptr;
  scheduler::Scheduler* scheduler = nullptr;
  storage::FreezeStore* freezes = nullptr;
  // Release notes (issue 15): commit sources per service and the stored notes. Null: deploys
  // post no notes and the notes commands say they are not set up.
  ReleaseNotesBook* notes = nullptr;
  // Replicas on one PostgreSQL (issue 17): this process's replica name (empty for a single
  // replica), recorded as the owner of every deploy it creates, and the grace added to another
  // replica's lease before its work counts as orphaned (storage/deploy_ownership.h).
  std::string replica = {};
  EpochMillis takeover_grace_ms = 2'000;
  // Whether this replica may still act (its lease, bot/replica.h); empty: always (one process).
  // A replica that may not (cut off from the database, or frozen past its lease) says nothing
  // more in chat about work another replica takes over.
  std::function<bool()> may_act = {};
};

struct CommandContext {
  Services& services;
  Caller caller;
  Conversation& conversation;
  const CommandSpec& spec;
  ParsedArgs args;
  std::string text;  // the command as typed
};

}  // namespace shipmate::commands
