// Deploy and rollback orchestration: the entry point for handlers. It brings in the four parts
// of the flow, each with its own header and contract:
//
//   deploy_policy.h     prepare_deploy / prepare_rollback: every check that can refuse; writes
//                       nothing.
//   deploy_flow.h       (this header) execute_deploy / run_deploy: record the deploy, then drive
//                       it through build, rollout and verification (deploy_run.cpp).
//   deploy_approvals.h  approve / deny / continue / abort, and approval expiry.
//   deploy_recovery.h   start-up reconciliation and resumption, shutdown cancellation.
//
// Runtime state (which deploys run here, their cancellation signals, their open questions) lives
// in DeployRuntime (deploy_runtime.h), reached through Services::runtime.
//
// Contract: event-loop thread only. execute_deploy() records the deploy, drives the target and
// records every state change before announcing it, so the database always knows at least as much
// as the chat does. Every state change is first put to the deploy state machine
// (deploy_state_machine.h); an answer it refuses is a bug, logged and recorded as a failed deploy
// rather than a crash. A running deploy's waits (bake time, a question to an operator) end at
// once when its cancellation signal is emitted (DeployRuntime::cancel); the deploy then finds
// itself recorded as cancelled and returns. Target operations themselves are not cancelled
// through the signal: the target's own shutdown() stops them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "commands/context.h"
#include "commands/deploy_approvals.h"
#include "commands/deploy_policy.h"
#include "commands/deploy_recovery.h"
#include "commands/rollout_progress.h"
#include "storage/deploy_store.h"

namespace shipmate::commands {

// Runs a prepared plan to completion and reports in `conversation`. Returns the deploy's id.
// A plan for an environment with approvals stops at awaiting_approval (approve_deploy() runs it).
boost::asio::awaitable<std::int64_t> execute_deploy(Services& services, const Caller& caller,
                                                    Conversation& conversation, DeployPlan plan);

// Carries a recorded deploy from `from` (requested, queued once approved, or building when
// resumed) through its rollout, reporting in `conversation` by updating message `ref`. The deploy
// is registered with Services::runtime while this runs. `epoch` is the deploy's epoch when this
// replica took it (every step is fenced by it); when another writer moves the deploy first, the
// run stops and says what happened instead. `resume` is set when this replica took the deploy
// over in deploying (deploy_recovery.h): carry the rollout on from the recorded step, or roll
// back to the stable version, as decide_resume() said.
boost::asio::awaitable<void> run_deploy(Services& services, std::string requester,
                                        Conversation& conversation, MessageRef ref, std::int64_t id,
                                        DeployPlan plan, storage::DeployState from,
                                        std::int64_t epoch,
                                        std::optional<ResumeDecision> resume = std::nullopt);

}  // namespace shipmate::commands
