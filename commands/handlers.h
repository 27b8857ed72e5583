// Handlers for the commands in command_table.cpp. Each one reads its arguments from the
// context, does its work and reports in the context's conversation.
//
// Handlers run only through the Router, after the checks commands/permission.h describes: an
// unknown identity never reaches a handler that changes state, a Scope::deploy handler's deploy
// number is well formed, and the spec's policy action has been authorized wherever the scope
// could be resolved from the arguments. A handler checks only what needs more than that (a
// default environment, the holder of a lock, an approval policy).
#pragma once

#include <boost/asio/awaitable.hpp>

#include "commands/context.h"

namespace shipmate::commands {

boost::asio::awaitable<void> handle_deploy(CommandContext& ctx);
boost::asio::awaitable<void> handle_rollback(CommandContext& ctx);
boost::asio::awaitable<void> handle_status(CommandContext& ctx);
boost::asio::awaitable<void> handle_history(CommandContext& ctx);
boost::asio::awaitable<void> handle_lock(CommandContext& ctx);
boost::asio::awaitable<void> handle_unlock(CommandContext& ctx);
boost::asio::awaitable<void> handle_locks(CommandContext& ctx);
boost::asio::awaitable<void> handle_whoami(CommandContext& ctx);
boost::asio::awaitable<void> handle_help(CommandContext& ctx);
boost::asio::awaitable<void> handle_ping(CommandContext& ctx);
boost::asio::awaitable<void> handle_audit_tail(CommandContext& ctx);
boost::asio::awaitable<void> handle_audit_verify(CommandContext& ctx);
boost::asio::awaitable<void> handle_metrics(CommandContext& ctx);
boost::asio::awaitable<void> handle_link(CommandContext& ctx);
boost::asio::awaitable<void> handle_approve(CommandContext& ctx);
boost::asio::awaitable<void> handle_deny(CommandContext& ctx);
boost::asio::awaitable<void> handle_continue(CommandContext& ctx);
boost::asio::awaitable<void> handle_abort(CommandContext& ctx);

// Incidents (incident_commands.cpp).
boost::asio::awaitable<void> handle_incident_declare(CommandContext& ctx);
boost::asio::awaitable<void> handle_incident_status(CommandContext& ctx);
boost::asio::awaitable<void> handle_incident_severity(CommandContext& ctx);
boost::asio::awaitable<void> handle_incident_assign(CommandContext& ctx);
boost::asio::awaitable<void> handle_incident_note(CommandContext& ctx);
boost::asio::awaitable<void> handle_incident_milestone(CommandContext& ctx);
boost::asio::awaitable<void> handle_incident_link(CommandContext& ctx);
boost::asio::awaitable<void> handle_incident_timeline(CommandContext& ctx);
boost::asio::awaitable<void> handle_incident_resolve(CommandContext& ctx);
boost::asio::awaitable<void> handle_incidents(CommandContext& ctx);
// runbook_commands.cpp
boost::asio::awaitable<void> handle_runbook_list(CommandContext& ctx);
boost::asio::awaitable<void> handle_runbook_show(CommandContext& ctx);
boost::asio::awaitable<void> handle_runbook_run(CommandContext& ctx);
boost::asio::awaitable<void> handle_runbook_status(CommandContext& ctx);
boost::asio::awaitable<void> handle_runbook_abort(CommandContext& ctx);
boost::asio::awaitable<void> handle_runbook_resume(CommandContext& ctx);
boost::asio::awaitable<void> handle_runbook_confirm(CommandContext& ctx);
// Schedules and announcements (schedule_commands.cpp), freezes from chat (freeze_commands.cpp).
boost::asio::awaitable<void> handle_announce(CommandContext& ctx);
boost::asio::awaitable<void> handle_schedule_add(CommandContext& ctx);
boost::asio::awaitable<void> handle_schedule_list(CommandContext& ctx);
boost::asio::awaitable<void> handle_schedule_show(CommandContext& ctx);
boost::asio::awaitable<void> handle_schedule_pause(CommandContext& ctx);
boost::asio::awaitable<void> handle_schedule_resume(CommandContext& ctx);
boost::asio::awaitable<void> handle_schedule_cancel(CommandContext& ctx);
boost::asio::awaitable<void> handle_freeze(CommandContext& ctx);
boost::asio::awaitable<void> handle_unfreeze(CommandContext& ctx);
boost::asio::awaitable<void> handle_freezes(CommandContext& ctx);
// Release notes (notes_commands.cpp).
boost::asio::awaitable<void> handle_notes_show(CommandContext& ctx);
boost::asio::awaitable<void> handle_notes_edit(CommandContext& ctx);
boost::asio::awaitable<void> handle_whats_new(CommandContext& ctx);

// Why `env` refuses deploys because of a freeze declared from chat; nullopt when none holds.
std::optional<std::string> chat_freeze_refusal(Services& services, const EnvironmentSpec& env);

// Removes expired locks, audits each and says so where it was taken. Returns what expired.
std::vector<storage::LockRecord> announce_expired_locks(Services& services);
// The lock expiry job's run (commands/timed_jobs.h): removes the lock on `scope` if it still
// expires at `expires_at` and that has passed, audits and announces it; false when the lock was
// released, re-taken or extended since.
bool expire_lock(Services& services, const std::string& scope, EpochMillis expires_at);

}  // namespace shipmate::commands
