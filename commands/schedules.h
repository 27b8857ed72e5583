// Scheduled work from chat and configuration: announcements, release digests and DORA digests,
// stored as schedules (storage/schedule_store.h) and run by the scheduler (scheduler/scheduler.h).
//
// Contract: event-loop thread, like every handler. run_scheduled() is the scheduler's Job: it
// never throws for a user-facing failure (a channel no platform serves now, an environment no
// longer configured); it returns an Error whose message is stored with the run and logged.
// Channels: "here" is the conversation the command came from; any other name is a channel on the
// same platform ("#ops" on Slack becomes the address "slack:#ops"); the terminal has one
// conversation, so on the terminal every channel is the terminal.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "commands/context.h"
#include "storage/schedule_store.h"

namespace shipmate::commands {

// The kinds of work a schedule does, as stored and typed.
inline constexpr std::string_view kAnnounce = "announce";
inline constexpr std::string_view kReleaseDigest = "release-digest";
inline constexpr std::string_view kDoraDigest = "dora-digest";

// Runs one occurrence of `schedule` (the scheduler's Job). The string is the run's detail.
boost::asio::awaitable<Result<std::string>> run_scheduled(Services& services,
                                                          const storage::ScheduleRecord& schedule,
                                                          EpochMillis nominal);

// The address a channel typed in chat names, relative to the conversation it was typed in; an
// error for a name that cannot be a channel.
Result<std::string> channel_address(const Conversation& here, std::string_view channel);

// Checks a schedule before it is stored: a known action with a payload it can use (an
// environment that exists), a timing that parses, a misfire policy and lateness in range.
Status validate_schedule(const Catalog& catalog, const storage::ScheduleRecord& record);

// Schedules declared in the configuration: each is added (origin "config") or, when one of that
// name exists, its definition is replaced (keeping its watermark and whether it is paused).
// Config schedules no longer declared are cancelled. Returns the ids touched, for the scheduler.
std::vector<std::int64_t> sync_configured_schedules(
    Services& services, const std::vector<storage::ScheduleRecord>& declared);

}  // namespace shipmate::commands
