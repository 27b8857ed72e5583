// Approvals and denials of deploys that wait for them.
//
// Contract: threading and errors as in database.h; reasons pass through redact().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "storage/database.h"

namespace shipmate::storage {

struct ApprovalRecord {
  std::int64_t deploy_id = 0;
  std::string approver;  // user id
  std::string decision;  // "approve" or "deny"
  std::string reason;
  EpochMillis at = 0;
};

class ApprovalStore {
 public:
  ApprovalStore(Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  ApprovalRecord record(std::int64_t deploy_id, std::string_view approver,
                        std::string_view decision, std::string_view reason);
  // record(), but only while deploy `deploy_id` is still awaiting approval at `epoch`, checked
  // and written in one transaction that holds the deploy's row (so a denial, expiry or takeover
  // that moves it either happens before, and nothing is written, or waits for this). Empty when
  // the deploy moved on: an approval that lost the race leaves no row.
  std::optional<ApprovalRecord> record_while_waiting(std::int64_t deploy_id, std::int64_t epoch,
                                                     std::string_view approver,
                                                     std::string_view decision,
                                                     std::string_view reason);
  // Oldest first.
  std::vector<ApprovalRecord> for_deploy(std::int64_t deploy_id);

 private:
  Database& db_;
  const Clock& clock_;
};

}  // namespace shipmate::storage
