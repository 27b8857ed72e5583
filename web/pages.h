// The web view's pages: what each shows (plain structs filled by web/site.h from the stores) and
// how it is written as HTML or JSON.
//
// Contract
// - Pure: models in, a string out; no I/O, no clock (`Site::now` is handed in); thread-safe.
// - HTML: one complete document per page, plain HTML and CSS (the stylesheet at /style.css, no
//   script, no external reference, no font file), usable with JavaScript off: filters are GET
//   forms, pagination is links, details are <details>. Every piece of text from the stores or
//   the request goes through web/html.h (secrets redacted, then escaped); the renderers write no
//   text any other way. Charts are inline SVG (web/svg_chart.h).
// - JSON: the same model as one object; times are epoch milliseconds plus an ISO-8601 UTC text;
//   text redacted like the HTML. Pagination links appear in both ("older"/"newer" as query
//   strings of the same page).
// - Error pages: render_error() keeps what the person typed (the filter form, refilled from the
//   raw query) above the reason, so nothing is lost on a bad value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commands/dora_weeks.h"
#include "storage/approval_store.h"
#include "storage/deploy_store.h"
#include "storage/history_pages.h"
#include "storage/incident_store.h"
#include "storage/lock_store.h"
#include "storage/runbook_store.h"
#include "web/request.h"

namespace shipmate::web {

// What every page shares: the name in the header and the time the page was made.
struct Site {
  std::string name = "Shipmate";
  EpochMillis now = 0;
};

// "What runs where now", locks, freezes, approvals waiting, work in flight.
struct Slot {
  std::string service = {};
  std::string environment = {};
  std::optional<storage::DeployRecord> live;    // the newest succeeded deploy
  std::optional<storage::DeployRecord> active;  // a deploy in progress
  std::string running = {};                     // the target's own description
};

struct FreezeView {
  std::string environment = {};
  std::string reason = {};
  std::string by;  // who froze it from chat; "" for a configured window
  bool configured = false;
  bool in_force = false;
  EpochMillis starts_at = 0;
  std::optional<EpochMillis> ends_at;  // none: until someone unfreezes
};

struct ApprovalWait {
  storage::DeployRecord deploy = {};
  std::vector<storage::ApprovalRecord> decisions = {};
  int needed = 1;
  std::vector<std::string> roles = {};
  std::optional<EpochMillis> expires_at = {};
};

struct NowPage {
  std::vector<Slot> slots = {};
  std::vector<storage::LockRecord> locks = {};
  std::vector<FreezeView> freezes = {};
  std::vector<ApprovalWait> approvals = {};
  std::vector<storage::DeployRecord> in_flight = {};
  std::vector<storage::IncidentRecord> open_incidents = {};
  std::vector<storage::RunbookRunRecord> unfinished_runs = {};
};

// The deploy ledger with its filters. `query` is what was asked (refills the form).
struct DeploysPage {
  QueryParams query = {};
  storage::DeploySearch search = {};
  storage::DeploySearchPage page = {};
  std::vector<std::string> services = {};
  std::vector<std::string> environments = {};
};

struct DeployPage {
  storage::DeployRecord deploy = {};
  std::vector<storage::DeployEvent> events = {};
  std::vector<storage::ApprovalRecord> approvals = {};
};

struct IncidentsPage {
  QueryParams query = {};
  std::string status;  // "open", "resolved" or ""
  int limit = 50;
  storage::PageWindow window = {};  // the page asked for (?before= / ?after=)
  storage::IdPage<storage::IncidentRecord> page = {};
};

struct IncidentPage {
  storage::IncidentRecord incident = {};
  std::vector<storage::IncidentRole> roles = {};
  std::vector<storage::TimelineEntry> timeline = {};
  std::vector<storage::LinkedDeploy> linked = {};
};

struct RunsPage {
  QueryParams query = {};
  std::string runbook = {};
  std::string status = {};
  int limit = 50;
  storage::PageWindow window = {};  // the page asked for (?before= / ?after=)
  storage::IdPage<storage::RunbookRunRecord> page = {};
  std::vector<std::string> runbooks;  // the known names, for the filter
};

struct RunPage {
  storage::RunbookRunRecord run = {};
  std::vector<storage::RunbookStepRecord> steps = {};
};

struct DoraPage {
  QueryParams query = {};
  std::string environment = {};
  std::string service;  // "" for every service
  int weeks = 12;
  std::vector<commands::DoraWeek> series = {};
  std::vector<std::string> services = {};
  std::vector<std::string> environments = {};
};

// The page a request was for, to refill its form on an error ("" when it has none).
enum class PageKind { now, deploys, deploy, incidents, incident, runs, run, dora, other };

std::string render_html(const Site& site, const NowPage& page);
std::string render_html(const Site& site, const DeploysPage& page);
std::string render_html(const Site& site, const DeployPage& page);
std::string render_html(const Site& site, const IncidentsPage& page);
std::string render_html(const Site& site, const IncidentPage& page);
std::string render_html(const Site& site, const RunsPage& page);
std::string render_html(const Site& site, const RunPage& page);
std::string render_html(const Site& site, const DoraPage& page);

std::string render_json(const Site& site, const NowPage& page);
std::string render_json(const Site& site, const DeploysPage& page);
std::string render_json(const Site& site, const DeployPage& page);
std::string render_json(const Site& site, const IncidentsPage& page);
std::string render_json(const Site& site, const IncidentPage& page);
std::string render_json(const Site& site, const RunsPage& page);
std::string render_json(const Site& site, const RunPage& page);
std::string render_json(const Site& site, const DoraPage& page);

// An error page: the reason, and (for a list page) its filter form refilled from `query`.
std::string render_error_html(const Site& site, int status, std::string_view message, PageKind kind,
                              const QueryParams& query,
                              const std::vector<std::string>& services = {},
                              const std::vector<std::string>& environments = {});
std::string render_error_json(int status, std::string_view message);

// The stylesheet served at /style.css.
std::string_view stylesheet();

// The query string (with its '?', or "" when empty) for `page` with `key` set to `value` (an
// empty value removes it); the other parameters are kept. For pagination and filter links.
std::string with_param(const QueryParams& query, std::string_view key, std::string_view value);

}  // namespace shipmate::web
