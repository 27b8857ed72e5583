// Deploy approvals and operator decisions: the answers people give to a deploy that waits.
//
// - approve / deny answer a deploy held in awaiting_approval by its environment's approval
//   policy (EnvironmentSpec::approvals). The requester never approves their own deploy; the
//   last approval runs the deploy in the approver's conversation and tells the requester in
//   theirs; expire_approval_requests() times out what nobody answered.
// - continue / abort answer a deploy paused on inconclusive metric checks. The deploy asked
//   through the pending-question registry (pending_questions.h, key "deploy:<id>"); the answer
//   is checked there against the permission the deploy gave (deploy to continue, rollback to
//   abort) and ends the deploy's wait at once.
//
// Contract: event-loop thread only. Each call reports in `conversation` (refusals as error
// messages, written for a person) and audits both what it did and what it refused; none throws
// for an expected refusal. Free-text reasons longer than kMaxFreeTextLength are refused.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "commands/context.h"

namespace shipmate::commands {

// approve / deny: decisions on a deploy that waits for approvals. Each reports in
// `conversation`; an approval that completes the count runs the deploy there.
boost::asio::awaitable<void> approve_deploy(Services& services, const Caller& caller,
                                            Conversation& conversation, std::int64_t id);
void deny_deploy(Services& services, const Caller& caller, Conversation& conversation,
                 std::int64_t id, const std::string& reason);
// continue / abort: an operator's answer to a deploy paused on inconclusive checks. Continuing
// needs the deploy permission in its environment, aborting (rolling back) the rollback one.
void decide_paused_deploy(Services& services, const Caller& caller, Conversation& conversation,
                          std::int64_t id, bool roll_back);
// Times out approval requests past their policy's expiry; returns how many.
int expire_approval_requests(Services& services);
// When the approval request of `deploy` times out (its environment's approvals.expire after it
// was requested); nullopt when it is not waiting for approvals.
std::optional<EpochMillis> approval_deadline(const Services& services,
                                             const storage::DeployRecord& deploy);
// Times out deploy `id` if it is still waiting for approvals and its deadline has passed (the
// approval timeout job's run, commands/timed_jobs.h); false when it was decided since.
bool expire_approval_request(Services& services, std::int64_t id);

}  // namespace shipmate::commands
