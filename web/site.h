// The web view: a read-only window on the deploy ledger, locks, freezes, approvals, incidents,
// runbook runs and DORA charts, answered as HTML or JSON (web/pages.h).
//
// Contract
// - Threading: a WebView belongs to the event loop, like the stores it reads; handle() is called
//   there and returns at once. It never writes.
// - Cost on the loop: every read is bounded. Lists are pages of at most `max_page_size` rows
//   (a count and two existence checks beside them), paged older (?before=) and newer (?after=);
//   detail pages read one record and its children; the DORA page reads the chosen environment's
//   deploys since the first week shown (at most `dora_max_deploys`, default 50,000) and computes
//   the weeks in O(n log n). bench/ web_bench.cpp measures the pages over 10,000 deploys.
// - Requests: handle() takes the path, raw query, Accept, Authorization and peer. Access is
//   decided first (web/request.h decide_access); a refused request reads nothing. Then the
//   query is parsed and validated for its page; a bad one is answered 400 with the reason (and
//   the form refilled), an unknown id 404, an unknown path 404.
// - Answers carry Cache-Control: no-store, Vary: Accept, and a Content-Security-Policy that
//   allows nothing but this origin's stylesheet (no script at all), plus nosniff, no referrer
//   and no framing. /style.css is the stylesheet.
// - Private incidents: shown in full to a reader signed in as one of their people (readers:,
//   web/request.h; commands::incident_visible_to decides), masked in lists for anyone else; an
//   anonymous request for one answers 401 with a Basic challenge when readers are configured (so
//   a browser asks its person to sign in), else 404 saying it is private.
// - Secrets: the configured token and password are only ever compared (web/request.h); every text
//   on every page is redacted (web/html.h).
// - Errors: a StorageError from a read is answered 500 with a one-line reason, after logging it
//   (the caller's HttpServer would otherwise answer a bare 500).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "commands/model.h"
#include "common/clock.h"
#include "web/request.h"

namespace shipmate::integrations {
class DeployTarget;
}
namespace shipmate::storage {
struct PageWindow;
class Database;
class DeployStore;
class LockStore;
class ApprovalStore;
class IncidentStore;
class RunbookStore;
class FreezeStore;
}  // namespace shipmate::storage

namespace shipmate::web {

struct WebSettings {
  AccessPolicy access;
  std::string name = "Shipmate";
  int page_size = 50;       // rows per list page unless ?limit= says otherwise
  int max_page_size = 500;  // the largest ?limit= accepted
  int dora_weeks = 12;      // weeks on the DORA page unless ?weeks= says otherwise
  int dora_max_deploys = 50'000;
};

// What the pages read. Null stores leave their sections empty.
struct WebSources {
  const commands::Catalog* catalog = nullptr;
  storage::Database* database = nullptr;  // for the pages' own bounded queries
  const Clock* clock = nullptr;
  storage::DeployStore* deploys = nullptr;
  storage::LockStore* locks = nullptr;
  storage::ApprovalStore* approvals = nullptr;
  storage::IncidentStore* incidents = nullptr;
  storage::RunbookStore* runbook_runs = nullptr;
  storage::FreezeStore* freezes = nullptr;
  const std::map<std::string, std::unique_ptr<integrations::DeployTarget>>* targets = nullptr;
  std::vector<std::string> runbooks = {};  // runbook names, for the filter
  // incidents.invite: holders of these roles may read every private incident (as in chat).
  std::vector<std::string> incident_invite_roles = {};
};

struct WebRequest {
  std::string path;   // "/deploys"
  std::string query;  // raw, without '?'
  std::string accept;
  std::string authorization;
  std::string peer;  // "127.0.0.1:5555"
};

struct WebResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string refusal = {};  // why access was refused, for one log line ("" when served)
};

class WebView {
 public:
  WebView(WebSources sources, WebSettings settings);
  WebResponse handle(const WebRequest& request);
  // Every path handle() serves, for mounting: "/", "/deploys", ...
  static const std::vector<std::string>& paths();

 private:
  // The paging parameters every list page takes: ?before=<id> (older), ?after=<id> (newer; not
  // with before) and ?limit= (1..max_page_size, default page_size). A bad value is `invalid`
  // with the reason a person reads.
  Result<storage::PageWindow> paging_params(const QueryParams& query) const;

  WebSources sources_;
  WebSettings settings_;
};

}  // namespace shipmate::web
