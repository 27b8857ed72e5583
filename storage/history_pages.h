// Read-only pages of the deploy ledger, incidents and runbook runs, for the web view
// (web/site.h). Kept apart from the stores' own headers: nothing that writes needs them.
//
// Contract
// - Reads only; the same threading and errors as database.h (StorageError on SQL failure).
// - Every query is bounded by its `limit` (plus one row to know whether more follow), is a
//   count, or is an existence check (LIMIT 1); pages are keyed by id, newest first, so a page
//   stays put while rows are added, and can be walked both ways (PageWindow).
// - Implemented beside each store (deploy_store.cpp, incident_store.cpp, runbook_store.cpp),
//   which read the rows the same way their stores do.
#pragma once

#include <algorithm>
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

// Which page of a list keyed by id: the newest rows (neither bound), an older page (ids below
// `before_id`) or a newer one (ids above `after_id`, which wins). Every page lists newest first.
struct PageWindow {
  std::optional<std::int64_t> before_id = {};
  std::optional<std::int64_t> after_id = {};
  int limit = 50;  // at most this many rows (at least 1)
};

template <class Row>
struct IdPage {
  std::vector<Row> rows = {};  // newest first, at most `limit`
  bool has_older = false;      // a matching row older than the last row (or the window) exists
  bool has_newer = false;      // a matching row newer than the first row (or the window) exists
};

// Incidents in `window`; `status` "open", "resolved" or "" (any).
IdPage<IncidentRecord> incident_page(Database& db, const PageWindow& window,
                                     std::string_view status);

// Runbook runs in `window`, of one runbook ("" any) and one status ("" any).
IdPage<RunbookRunRecord> runbook_run_page(Database& db, const PageWindow& window,
                                          std::string_view runbook, std::string_view status);

// The shared query behind both: `filter` is a WHERE condition over `table` using the
// placeholders ?1..?N (bound by `bind_filter`, N = `filter_params`); the page's id bound and
// limit take ?N+1 and ?N+2. Two bounded existence checks decide has_older / has_newer.
template <class Row, class BindFilter, class ReadRow>
IdPage<Row> page_by_id(Database& db, std::string_view columns, std::string_view table,
                       std::string_view filter, int filter_params, const PageWindow& window,
                       BindFilter bind_filter, ReadRow read_row) {
  const std::string id_param = "?" + std::to_string(filter_params + 1);
  const std::string limit_param = "?" + std::to_string(filter_params + 2);
  const std::string from = " FROM " + std::string(table) + " WHERE (" + std::string(filter) + ")";
  const bool forward = window.after_id.has_value();
  const std::int64_t limit = window.limit < 1 ? 1 : window.limit;
  Statement query = db.prepare(
      "SELECT " + std::string(columns) + from +
      (forward ? " AND id > " + id_param + " ORDER BY id ASC"
               : " AND (" + id_param + " IS NULL OR id < " + id_param + ") ORDER BY id DESC") +
      " LIMIT " + limit_param);
  bind_filter(query);
  if (forward)
    query.bind(filter_params + 1, *window.after_id);
  else
    query.bind(filter_params + 1, window.before_id);
  query.bind(filter_params + 2, limit + 1);
  IdPage<Row> page;
  while (query.step())
    page.rows.push_back(read_row(query));
  const bool more = static_cast<std::int64_t>(page.rows.size()) > limit;
  if (more)
    page.rows.pop_back();
  if (forward)
    std::reverse(page.rows.begin(), page.rows.end());
  auto any = [&](std::string_view bound, std::int64_t id) {
    Statement exists = db.prepare("SELECT 1" + from + " AND id " + std::string(bound) + " " +
                                  id_param + " LIMIT 1");
    bind_filter(exists);
    exists.bind(filter_params + 1, id);
    return exists.step();
  };
  if (forward) {
    page.has_newer = more;
    page.has_older =
        page.rows.empty() ? any("<=", *window.after_id) : any("<", page.rows.back().id);
  } else {
    page.has_older = more;
    if (!page.rows.empty())
      page.has_newer = window.before_id.has_value() && any(">", page.rows.front().id);
    else if (window.before_id)
      page.has_newer = any(">=", *window.before_id);
  }
  return page;
}

}  // namespace shipmate::storage
