// Read-only pages of the deploy ledger, incidents and runbook runs, for the web view
// (web/site.h). Kept apart from the stores' own headers: nothing that writes needs them.
//
// Contract
// - Reads only; the same threading and errors as database.h (StorageError on SQL failure).
// - Every query is bounded by its `limit` (plus one row to know whether more follow) or is a
//   count; pages are keyed by id, newest first, so a page stays put while rows are added.
// - Implemented beside each store (deploy_store.cpp, incident_store.cpp, runbook_store.cpp),
//   which read the rows the same way their stores do.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/database.h"
#include "storage/deploy_store.h"
#include "storage/incident_store.h"
#include "storage/runbook_store.h"

namespace shipmate::storage {

// A filtered page of the deploy ledger; each filter optional ("" or none: any).
struct DeploySearch {
  std::string service = {};
  std::string environment = {};
  std::string state = {};  // a to_string(DeployState) name
  std::string kind = {};   // a to_string(DeployKind) name
  std::string requested_by = {};
  std::optional<EpochMillis> since = {};       // requested_at >= since
  std::optional<EpochMillis> until = {};       // requested_at < until
  std::optional<std::int64_t> before_id = {};  // an older page: ids below this one
  std::optional<std::int64_t> after_id = {};   // a newer page: ids above this one (wins)
  int limit = 50;
};

struct DeploySearchPage {
  std::vector<DeployRecord> rows = {};  // newest first, at most `limit`
  std::int64_t total = 0;               // every deploy matching the filters, on any page
  bool has_older = false;               // a matching deploy older than the last row exists
  bool has_newer = false;               // a matching deploy newer than the first row exists
};

DeploySearchPage search_deploys(Database& db, const DeploySearch& search);

// Every deploy of `environment` (all kinds and states) requested at or after `since`, oldest
// first, at most `limit`: the input of DORA over weeks.
std::vector<DeployRecord> deploys_requested_since(Database& db, std::string_view environment,
                                                  EpochMillis since, int limit);

// Incidents newest first: ids below `before_id` (none: from the newest), at most `limit`;
// `status` "open", "resolved" or "" (any). `has_older` says whether more follow.
std::vector<IncidentRecord> incident_page(Database& db, std::optional<std::int64_t> before_id,
                                          int limit, std::string_view status, bool* has_older);

// Runbook runs newest first, of one runbook ("" any) and one status ("" any), paged as above.
std::vector<RunbookRunRecord> runbook_run_page(Database& db, std::optional<std::int64_t> before_id,
                                               int limit, std::string_view runbook,
                                               std::string_view status, bool* has_older);

}  // namespace shipmate::storage
