#include "storage/approval_store.h"

#include "common/redact.h"

namespace shipmate::storage {

ApprovalRecord ApprovalStore::record(std::int64_t deploy_id, std::string_view approver,
                                     std::string_view decision, std::string_view reason) {
  ApprovalRecord out{deploy_id, std::string(approver), std::string(decision), redact(reason),
                     clock_.now_ms()};
  db_.prepare(
         "INSERT INTO approvals (deploy_id, approver, decision, reason, at) "
         "VALUES (?1, ?2, ?3, ?4, ?5)")
      .bind(1, out.deploy_id)
      .bind(2, out.approver)
      .bind(3, out.decision)
      .bind(4, out.reason)
      .bind(5, out.at)
      .run();
  return out;
}

std::optional<ApprovalRecord> ApprovalStore::record_while_waiting(std::int64_t deploy_id,
                                                                  std::int64_t epoch,
                                                                  std::string_view approver,
                                                                  std::string_view decision,
                                                                  std::string_view reason) {
  return db_.transaction([&]() -> std::optional<ApprovalRecord> {
    // SQLite's transaction already holds the write lock; PostgreSQL locks the deploy's row, and
    // re-reads it once a concurrent writer of that row commits.
    const std::string check = std::string(
                                  "SELECT 1 FROM deploys WHERE id = ?1 AND state = "
                                  "'awaiting_approval' AND epoch = ?2") +
                              (db_.dialect() == Dialect::postgresql ? " FOR UPDATE" : "");
    auto waiting = db_.prepare(check);
    waiting.bind(1, deploy_id).bind(2, epoch);
    if (!waiting.step())
      return std::nullopt;
    waiting.reset();
    return record(deploy_id, approver, decision, reason);
  });
}

std::vector<ApprovalRecord> ApprovalStore::for_deploy(std::int64_t deploy_id) {
  auto query = db_.prepare(
      "SELECT deploy_id, approver, decision, reason, at FROM approvals WHERE deploy_id = ?1 "
      "ORDER BY id");
  query.bind(1, deploy_id);
  std::vector<ApprovalRecord> out;
  while (query.step()) {
    out.push_back(ApprovalRecord{query.column_int64(0), query.column_text(1), query.column_text(2),
                                 query.column_text(3), query.column_int64(4)});
  }
  return out;
}

}  // namespace shipmate::storage
