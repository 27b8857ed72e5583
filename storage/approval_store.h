// Approvals and denials of deploys that wait for them.
//
// Contract: threading and errors as in database.h; reasons pass through redact().
#pragma once

#include <cstdint>
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
  // Oldest first.
  std::vector<ApprovalRecord> for_deploy(std::int64_t deploy_id);

 private:
  Database& db_;
  const Clock& clock_;
};

}  // namespace shipmate::storage
