// HTML for the web view's pages (web/pages.h).
#include <array>
#include <cstdio>

#include "common/clock.h"
#include "common/strings.h"
#include "web/html.h"
#include "web/pages.h"
#include "web/svg_chart.h"

namespace shipmate::web {
namespace {

using storage::DeployRecord;

constexpr std::array<std::string_view, 11> kStates = {
    "requested",   "awaiting_approval", "queued",    "building",
    "deploying",   "verifying",         "succeeded", "failed",
    "rolled_back", "cancelled",         "timed_out"};
constexpr std::array<std::string_view, 3> kKinds = {"deploy", "rollback", "redeploy"};

std::string when(EpochMillis at) {
  std::string iso = format_utc(at);
  std::string machine = iso;
  if (machine.size() > 10 && machine[10] == ' ')
    machine[10] = 'T';
  return "<time datetime=\"" + escape(machine) + "\">" + escape(iso) + "</time>";
}

std::string when(const std::optional<EpochMillis>& at) {
  return at ? when(*at) : std::string("&#8211;");
}

std::string badge(std::string_view state) {
  return "<span class=\"state state-" + escape(state) + "\">" + escape(state) + "</span>";
}

std::string deploy_link(std::int64_t id) {
  return "<a href=\"/deploy?id=" + std::to_string(id) + "\">#" + std::to_string(id) + "</a>";
}

std::string incident_link(std::int64_t id) {
  const std::string label = storage::incident_label(id);
  return "<a href=\"/incident?id=" + std::to_string(id) + "\">" + escape(label) + "</a>";
}

std::string run_link(std::int64_t id) {
  return "<a href=\"/runbook-run?id=" + std::to_string(id) + "\">#" + std::to_string(id) + "</a>";
}

std::string layout(const Site& site, std::string_view title, std::string_view active,
                   const std::string& body) {
  std::string out;
  out.reserve(body.size() + 2048);
  out +=
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<meta name=\"referrer\" content=\"no-referrer\">"
      "<link rel=\"stylesheet\" href=\"/style.css\"><title>";
  append_text(out, title);
  out += " &#183; ";
  append_text(out, site.name);
  out += "</title></head><body><header><span class=\"brand\">";
  append_text(out, site.name);
  out += "</span><nav>";
  constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kNav = {{
      {"/", "Now"},
      {"/deploys", "Deploys"},
      {"/incidents", "Incidents"},
      {"/runbooks", "Runbooks"},
      {"/dora", "DORA"},
  }};
  for (const auto& [href, label] : kNav) {
    out += "<a href=\"" + std::string(href) + "\"" +
           (label == active ? " aria-current=\"page\"" : "") + ">" + std::string(label) + "</a>";
  }
  out += "</nav></header><main><h1>";
  append_text(out, title);
  out += "</h1>";
  out += body;
  out += "</main><footer>Read-only. Generated " + when(site.now) +
         ". Every page is also JSON: <code>Accept: application/json</code> or "
         "<code>?format=json</code>.</footer></body></html>\n";
  return out;
}

std::string select(std::string_view name, std::string_view label, const std::string& current,
                   const std::vector<std::string>& options) {
  std::string out = "<label>" + std::string(label) + " <select name=\"" + std::string(name) +
                    "\"><option value=\"\">any</option>";
  for (const auto& option : options) {
    out += "<option value=\"" + escape(option) + "\"" + (option == current ? " selected" : "") +
           ">" + escape(option) + "</option>";
  }
  // A value that is not among the options (a typo in the URL) stays visible and selected.
  bool listed = current.empty();
  for (const auto& option : options)
    listed = listed || option == current;
  if (!listed) {
    out += "<option value=\"" + escape(current) + "\" selected>" + escape(current) +
           " (unknown)</option>";
  }
  return out + "</select></label> ";
}

std::string input(std::string_view name, std::string_view label, std::string_view type,
                  const std::string& current, std::string_view extra = "") {
  return "<label>" + std::string(label) + " <input name=\"" + std::string(name) + "\" type=\"" +
         std::string(type) + "\" value=\"" + escape(current) + "\"" + std::string(extra) +
         "></label> ";
}

std::vector<std::string> names(auto const& list) {
  return std::vector<std::string>(list.begin(), list.end());
}

std::string deploys_form(const QueryParams& query, const std::vector<std::string>& services,
                         const std::vector<std::string>& environments) {
  std::string out = "<form class=\"filters\" method=\"get\" action=\"/deploys\">";
  out += select("service", "Service", query.value("service"), services);
  out += select("environment", "Environment", query.value("environment"), environments);
  out += select("state", "State", query.value("state"), names(kStates));
  out += select("kind", "Kind", query.value("kind"), names(kKinds));
  out += input("by", "By", "text", query.value("by"), " maxlength=\"128\"");
  out += input("since", "From", "date", query.value("since"));
  out += input("until", "Until", "date", query.value("until"));
  out += input("limit", "Per page", "number", query.value("limit"),
               " min=\"1\" max=\"500\" inputmode=\"numeric\"");
  out += "<button type=\"submit\">Filter</button> <a href=\"/deploys\">Clear</a></form>";
  return out;
}

std::string incidents_form(const QueryParams& query) {
  std::string out = "<form class=\"filters\" method=\"get\" action=\"/incidents\">";
  out += select("status", "Status", query.value("status"), {"open", "resolved"});
  out += input("limit", "Per page", "number", query.value("limit"), " min=\"1\" max=\"500\"");
  out += "<button type=\"submit\">Filter</button> <a href=\"/incidents\">Clear</a></form>";
  return out;
}

std::string runs_form(const QueryParams& query, const std::vector<std::string>& runbooks) {
  std::string out = "<form class=\"filters\" method=\"get\" action=\"/runbooks\">";
  out += select("runbook", "Runbook", query.value("runbook"), runbooks);
  out += select("status", "Status", query.value("status"),
                {"running", "waiting_operator", "succeeded", "failed", "aborted"});
  out += input("limit", "Per page", "number", query.value("limit"), " min=\"1\" max=\"500\"");
  out += "<button type=\"submit\">Filter</button> <a href=\"/runbooks\">Clear</a></form>";
  return out;
}

std::string dora_form(const QueryParams& query, const std::vector<std::string>& services,
                      const std::vector<std::string>& environments, const std::string& env) {
  std::string out = "<form class=\"filters\" method=\"get\" action=\"/dora\">";
  out += select("service", "Service", query.value("service"), services);
  std::string chosen = query.value("environment");
  out += "<label>Environment <select name=\"environment\">";
  for (const auto& option : environments) {
    out += "<option value=\"" + escape(option) + "\"" + (option == env ? " selected" : "") + ">" +
           escape(option) + "</option>";
  }
  if (!chosen.empty() && chosen != env) {
    out += "<option value=\"" + escape(chosen) + "\" selected>" + escape(chosen) +
           " (unknown)</option>";
  }
  out += "</select></label> ";
  out += input("weeks", "Weeks", "number", query.value("weeks"), " min=\"1\" max=\"104\"");
  out += "<button type=\"submit\">Show</button></form>";
  return out;
}

std::string deploy_row(const DeployRecord& deploy) {
  std::string out = "<tr><td>" + deploy_link(deploy.id) + "</td><td>";
  append_text(out, deploy.service);
  out += "</td><td>";
  append_text(out, deploy.environment);
  out += "</td><td>";
  append_text(out, deploy.version);
  if (!deploy.previous_version.empty()) {
    out += " <span class=\"muted\">from ";
    append_text(out, deploy.previous_version);
    out += "</span>";
  }
  out += "</td><td>" + escape(storage::to_string(deploy.kind)) + "</td><td>" +
         badge(storage::to_string(deploy.state)) + "</td><td>";
  append_text(out, deploy.requested_by);
  out += "</td><td>" + when(deploy.requested_at) + "</td><td>";
  if (deploy.finished_at)
    out += escape(format_duration(*deploy.finished_at - deploy.requested_at));
  out += "</td><td class=\"wrap\">";
  append_text(out, deploy.reason);
  if (!deploy.incident.empty()) {
    out += " <span class=\"tag\">caused ";
    append_text(out, deploy.incident);
    out += "</span>";
  }
  if (!deploy.detail.empty() && deploy.state != storage::DeployState::succeeded) {
    out += "<div class=\"muted\">";
    append_text(out, deploy.detail);
    out += "</div>";
  }
  return out + "</td></tr>";
}

std::string deploys_table(const std::vector<DeployRecord>& rows) {
  if (rows.empty())
    return "<p class=\"empty\">No deploys.</p>";
  std::string out =
      "<table class=\"deploys\"><thead><tr><th>#</th><th>Service</th><th>Environment</th>"
      "<th>Version</th><th>Kind</th><th>State</th><th>By</th><th>Requested</th><th>Took</th>"
      "<th>Reason</th></tr></thead><tbody>";
  for (const auto& deploy : rows)
    out += deploy_row(deploy);
  return out + "</tbody></table>";
}

std::string pager(const QueryParams& query, std::string_view path, bool newer,
                  std::optional<std::int64_t> newer_after, bool older,
                  std::optional<std::int64_t> older_before) {
  std::string out = "<nav class=\"pager\" aria-label=\"pages\">";
  if (newer || query.get("before") != nullptr || query.get("after") != nullptr) {
    QueryParams first;
    for (const auto& [k, v] : query.items()) {
      if (k != "before" && k != "after")
        first.add(k, v);
    }
    out += "<a rel=\"first\" href=\"" + std::string(path) + escape(with_param(first, "", "")) +
           "\">Newest</a> ";
  }
  if (newer && newer_after) {
    QueryParams base;
    for (const auto& [k, v] : query.items()) {
      if (k != "before")
        base.add(k, v);
    }
    out += "<a rel=\"prev\" href=\"" + std::string(path) +
           escape(with_param(base, "after", std::to_string(*newer_after))) + "\">Newer</a> ";
  }
  if (older && older_before) {
    QueryParams base;
    for (const auto& [k, v] : query.items()) {
      if (k != "after")
        base.add(k, v);
    }
    out += "<a rel=\"next\" href=\"" + std::string(path) +
           escape(with_param(base, "before", std::to_string(*older_before))) + "\">Older</a>";
  }
  return out + "</nav>";
}

// The pager of a list keyed by id (incidents, runbook runs): links to the newest page, the
// newer page (?after= the first row) and the older one (?before= the last row); an empty page
// links back from the window it was asked for.
template <class Row>
std::string id_pager(const QueryParams& query, std::string_view path,
                     const storage::PageWindow& window, const storage::IdPage<Row>& page) {
  std::optional<std::int64_t> newest, oldest;
  if (!page.rows.empty()) {
    newest = page.rows.front().id;
    oldest = page.rows.back().id;
  } else if (window.after_id) {
    oldest = *window.after_id + 1;
  } else if (window.before_id) {
    newest = *window.before_id - 1;
  }
  return pager(query, path, page.has_newer, newest, page.has_older, oldest);
}

std::string incidents_table(const std::vector<storage::IncidentRecord>& rows) {
  if (rows.empty())
    return "<p class=\"empty\">No incidents.</p>";
  std::string out =
      "<table class=\"incidents\"><thead><tr><th>Incident</th><th>Title</th><th>Severity</th>"
      "<th>Status</th><th>Services</th><th>Declared</th><th>Resolved</th></tr></thead><tbody>";
  for (const auto& incident : rows) {
    out += "<tr><td>" + incident_link(incident.id) + "</td><td class=\"wrap\">";
    append_text(out, incident.title);
    out += "</td><td>sev" + std::to_string(incident.severity) + "</td><td>" +
           badge(incident.status) + "</td><td>";
    append_text(out, join(incident.services, ", "));
    out += "</td><td>" + when(incident.declared_at) + "</td><td>" + when(incident.resolved_at) +
           "</td></tr>";
  }
  return out + "</tbody></table>";
}

std::string runs_table(const std::vector<storage::RunbookRunRecord>& rows) {
  if (rows.empty())
    return "<p class=\"empty\">No runbook runs.</p>";
  std::string out =
      "<table class=\"runs\"><thead><tr><th>Run</th><th>Runbook</th><th>Status</th><th>By</th>"
      "<th>Started</th><th>Finished</th></tr></thead><tbody>";
  for (const auto& run : rows) {
    out += "<tr><td>" + run_link(run.id) + "</td><td>";
    append_text(out, run.runbook);
    out += "</td><td>" + badge(run.status) + "</td><td>";
    append_text(out, run.started_by);
    out += "</td><td>" + when(run.started_at) + "</td><td>" + when(run.finished_at) + "</td></tr>";
  }
  return out + "</tbody></table>";
}

std::string fact(std::string_view name, const std::string& html_value) {
  return "<dt>" + std::string(name) + "</dt><dd>" + html_value + "</dd>";
}

}  // namespace

std::string render_html(const Site& site, const NowPage& page) {
  std::string body = "<section><h2>What runs where</h2>";
  if (page.slots.empty()) {
    body += "<p class=\"empty\">No services are configured.</p>";
  } else {
    body +=
        "<table class=\"now\"><thead><tr><th>Service</th><th>Environment</th><th>Version</th>"
        "<th>Deployed</th><th>By</th><th>Running</th><th>In progress</th></tr></thead><tbody>";
    for (const auto& slot : page.slots) {
      body += "<tr><td>";
      append_text(body, slot.service);
      body += "</td><td>";
      append_text(body, slot.environment);
      body += "</td>";
      if (slot.live) {
        body += "<td><strong>";
        append_text(body, slot.live->version);
        body += "</strong> " + deploy_link(slot.live->id) + "</td><td>" +
                when(slot.live->finished_at.value_or(slot.live->requested_at)) + "</td><td>";
        append_text(body, slot.live->requested_by);
        body += "</td>";
      } else {
        body += "<td class=\"muted\">never deployed</td><td></td><td></td>";
      }
      body += "<td class=\"wrap\">";
      append_text(body, slot.running);
      body += "</td><td>";
      if (slot.active) {
        body += deploy_link(slot.active->id) + " ";
        append_text(body, slot.active->version);
        body += " " + badge(storage::to_string(slot.active->state));
      }
      body += "</td></tr>";
    }
    body += "</tbody></table>";
  }
  body += "</section><section><h2>Locks</h2>";
  if (page.locks.empty()) {
    body += "<p class=\"empty\">No locks.</p>";
  } else {
    body +=
        "<table class=\"locks\"><thead><tr><th>Scope</th><th>Held by</th><th>Since</th>"
        "<th>Expires</th><th>Reason</th></tr></thead><tbody>";
    for (const auto& lock : page.locks) {
      body += "<tr><td>";
      append_text(body, lock.scope);
      body += "</td><td>";
      append_text(body, lock.holder);
      body += "</td><td>" + when(lock.since) + "</td><td>" + when(lock.expires_at) +
              "</td><td class=\"wrap\">";
      append_text(body, lock.reason);
      body += "</td></tr>";
    }
    body += "</tbody></table>";
  }
  body += "</section><section><h2>Freezes</h2>";
  if (page.freezes.empty()) {
    body += "<p class=\"empty\">No freezes in force or coming.</p>";
  } else {
    body +=
        "<table class=\"freezes\"><thead><tr><th>Environment</th><th>Status</th><th>From</th>"
        "<th>Until</th><th>By</th><th>Reason</th></tr></thead><tbody>";
    for (const auto& freeze : page.freezes) {
      body += "<tr><td>";
      append_text(body, freeze.environment);
      body += "</td><td>" + badge(freeze.in_force ? "frozen" : "coming") + "</td><td>" +
              when(freeze.starts_at) + "</td><td>" +
              (freeze.ends_at ? when(*freeze.ends_at) : std::string("until unfrozen")) +
              "</td><td>";
      if (freeze.configured)
        body += "<span class=\"muted\">configured</span>";
      else
        append_text(body, freeze.by);
      body += "</td><td class=\"wrap\">";
      append_text(body, freeze.reason);
      body += "</td></tr>";
    }
    body += "</tbody></table>";
  }
  body += "</section><section><h2>Approvals waiting</h2>";
  if (page.approvals.empty()) {
    body += "<p class=\"empty\">Nothing waits for approval.</p>";
  } else {
    body +=
        "<table class=\"approvals\"><thead><tr><th>Deploy</th><th>Service</th><th>Environment</th>"
        "<th>Version</th><th>Requested by</th><th>Approvals</th><th>Expires</th></tr></thead>"
        "<tbody>";
    for (const auto& wait : page.approvals) {
      int approved = 0;
      for (const auto& decision : wait.decisions)
        approved += decision.decision == "approve" ? 1 : 0;
      body += "<tr><td>" + deploy_link(wait.deploy.id) + "</td><td>";
      append_text(body, wait.deploy.service);
      body += "</td><td>";
      append_text(body, wait.deploy.environment);
      body += "</td><td>";
      append_text(body, wait.deploy.version);
      body += "</td><td>";
      append_text(body, wait.deploy.requested_by);
      body += "</td><td>" + std::to_string(approved) + " of " + std::to_string(wait.needed);
      if (!wait.roles.empty()) {
        body += " <span class=\"muted\">(";
        append_text(body, join(wait.roles, ", "));
        body += ")</span>";
      }
      body += "</td><td>" + when(wait.expires_at) + "</td></tr>";
    }
    body += "</tbody></table>";
  }
  body += "</section><section><h2>Deploys in progress</h2>" + deploys_table(page.in_flight);
  body += "</section><section><h2>Open incidents</h2>" + incidents_table(page.open_incidents);
  body += "</section><section><h2>Runbook runs not finished</h2>" +
          runs_table(page.unfinished_runs) + "</section>";
  return layout(site, "Now", "Now", body);
}

std::string render_html(const Site& site, const DeploysPage& page) {
  std::string body = deploys_form(page.query, page.services, page.environments);
  body += "<p class=\"summary\">" + escape(count_of(page.page.total, "deploy")) + " match.</p>";
  body += deploys_table(page.page.rows);
  std::optional<std::int64_t> newest, oldest;
  if (!page.page.rows.empty()) {
    newest = page.page.rows.front().id;
    oldest = page.page.rows.back().id;
  } else if (page.search.after_id) {
    oldest = *page.search.after_id + 1;
  } else if (page.search.before_id) {
    newest = *page.search.before_id - 1;
  }
  body += pager(page.query, "/deploys", page.page.has_newer, newest, page.page.has_older, oldest);
  return layout(site, "Deploys", "Deploys", body);
}

std::string render_html(const Site& site, const DeployPage& page) {
  const auto& deploy = page.deploy;
  std::string body = "<dl class=\"facts\">";
  body += fact("Service", escape(deploy.service));
  body += fact("Environment", escape(deploy.environment));
  body += fact("Version",
               escape(deploy.version) + (deploy.previous_version.empty()
                                             ? std::string()
                                             : " <span class=\"muted\">(was " +
                                                   escape(deploy.previous_version) + ")</span>"));
  body += fact("Kind", escape(storage::to_string(deploy.kind)));
  body += fact("State", badge(storage::to_string(deploy.state)));
  body += fact("Requested by", escape(deploy.requested_by));
  body += fact("Requested", when(deploy.requested_at));
  body += fact("Finished", when(deploy.finished_at));
  if (deploy.committed_at)
    body += fact("Committed", when(*deploy.committed_at));
  if (!deploy.reason.empty())
    body += fact("Reason", escape(deploy.reason));
  if (!deploy.overridden.empty())
    body += fact("Override", escape(deploy.overridden));
  if (!deploy.incident.empty())
    body += fact("Caused", escape(deploy.incident));
  if (!deploy.ci_run_url.empty()) {
    // Only http(s) URLs become links; anything else is shown as text.
    const bool web =
        deploy.ci_run_url.starts_with("https://") || deploy.ci_run_url.starts_with("http://");
    body += fact("CI run", web ? "<a href=\"" + escape(deploy.ci_run_url) +
                                     "\" rel=\"noreferrer\">" + escape(deploy.ci_run_url) + "</a>"
                               : escape(deploy.ci_run_url));
  }
  body += "</dl><h2>Events</h2><ol class=\"timeline\">";
  for (const auto& event : page.events) {
    body += "<li>" + when(event.at) + " " +
            (event.from ? badge(storage::to_string(*event.from)) + " &#8594; " : std::string()) +
            badge(storage::to_string(event.to)) + " <span class=\"wrap\">";
    append_text(body, event.message);
    body += "</span></li>";
  }
  body += "</ol>";
  if (!page.approvals.empty()) {
    body += "<h2>Approvals</h2><ul>";
    for (const auto& approval : page.approvals) {
      body += "<li>" + when(approval.at) + " ";
      append_text(body, approval.approver);
      body += " " + badge(approval.decision) + " ";
      append_text(body, approval.reason);
      body += "</li>";
    }
    body += "</ul>";
  }
  return layout(site, "Deploy #" + std::to_string(deploy.id), "Deploys", body);
}

std::string render_html(const Site& site, const IncidentsPage& page) {
  std::string body = incidents_form(page.query) + incidents_table(page.page.rows);
  body += id_pager(page.query, "/incidents", page.window, page.page);
  return layout(site, "Incidents", "Incidents", body);
}

std::string render_html(const Site& site, const IncidentPage& page) {
  const auto& incident = page.incident;
  std::string body = "<p class=\"lead wrap\">";
  append_text(body, incident.title);
  body += "</p><dl class=\"facts\">";
  body += fact("Severity", "sev" + std::to_string(incident.severity));
  body += fact("Status", badge(incident.status));
  body += fact("Services", escape(join(incident.services, ", ")));
  body += fact("Declared", when(incident.declared_at) + " by " + escape(incident.declared_by));
  body += fact("Detected", when(incident.detected_at));
  body += fact("Acknowledged", when(incident.acknowledged_at));
  body += fact("Mitigated", when(incident.mitigated_at));
  body += fact("Resolved", when(incident.resolved_at));
  for (const auto& role : page.roles)
    body += fact(escape(role.role), escape(role.user_id));
  if (!incident.latest_update.empty())
    body += fact("Latest update", escape(incident.latest_update));
  if (!incident.summary.empty())
    body += fact("Summary", escape(incident.summary));
  body += "</dl>";
  if (!page.linked.empty()) {
    body += "<h2>Linked deploys</h2><ul>";
    for (const auto& deploy : page.linked) {
      body += "<li>" + deploy_link(deploy.id) + " ";
      append_text(body, deploy.service + " " + deploy.version + " in " + deploy.environment);
      body += " " + badge(deploy.state) + "</li>";
    }
    body += "</ul>";
  }
  body +=
      "<h2>Timeline</h2><table class=\"timeline\"><thead><tr><th>When</th><th>Kind</th>"
      "<th>Who</th><th>What</th><th>Recorded</th></tr></thead><tbody>";
  for (const auto& entry : page.timeline) {
    body += "<tr><td>" + when(entry.event_at) + "</td><td>" + badge(entry.kind) + "</td><td>";
    append_text(body, entry.actor);
    body += "</td><td class=\"wrap\">";
    append_text(body, entry.text);
    body += "</td><td class=\"muted\">" + when(entry.ingested_at) + "</td></tr>";
  }
  body += "</tbody></table>";
  return layout(site, storage::incident_label(incident.id), "Incidents", body);
}

std::string render_html(const Site& site, const RunsPage& page) {
  std::string body = runs_form(page.query, page.runbooks) + runs_table(page.page.rows);
  body += id_pager(page.query, "/runbooks", page.window, page.page);
  return layout(site, "Runbook runs", "Runbooks", body);
}

std::string render_html(const Site& site, const RunPage& page) {
  const auto& run = page.run;
  std::string body = "<dl class=\"facts\">";
  body += fact("Runbook", escape(run.runbook));
  body += fact("Status", badge(run.status));
  body += fact("Started by", escape(run.started_by));
  body += fact("Started", when(run.started_at));
  body += fact("Finished", when(run.finished_at));
  if (!run.params.empty())
    body += fact("Parameters", "<pre>" + escape(run.params) + "</pre>");
  body +=
      "</dl><h2>Steps</h2><table class=\"steps\"><thead><tr><th>#</th><th>Step</th><th>Phase</th>"
      "<th>Attempt</th><th>Status</th><th>Started</th><th>Took</th><th>What happened</th>"
      "</tr></thead><tbody>";
  for (const auto& step : page.steps) {
    body += "<tr><td>" + std::to_string(step.index + 1) + "</td><td>";
    append_text(body, step.name);
    body += "</td><td>";
    append_text(body, step.phase);
    body += "</td><td>" + std::to_string(step.attempt) + "</td><td>" + badge(step.status) +
            "</td><td>" + when(step.started_at) + "</td><td>" +
            (step.finished_at ? escape(format_duration(*step.finished_at - step.started_at))
                              : std::string()) +
            "</td><td class=\"wrap\">";
    append_text(body, step.detail);
    if (!step.log.empty()) {
      body += "<details><summary>output</summary><pre>";
      append_text(body, step.log);
      body += "</pre></details>";
    }
    body += "</td></tr>";
  }
  body += "</tbody></table>";
  return layout(site, "Runbook run #" + std::to_string(run.id), "Runbooks", body);
}

std::string render_html(const Site& site, const DoraPage& page) {
  std::string body = dora_form(page.query, page.services, page.environments, page.environment);
  body += "<p class=\"summary\">";
  append_text(body, page.service.empty() ? std::string("All services") : page.service);
  body += " in ";
  append_text(body, page.environment);
  body += ", the last " + std::to_string(page.weeks) +
          " weeks (Monday to Sunday, UTC; the last one is this week so far).</p>";
  ChartSpec frequency{"dora-frequency", "Deployment frequency", "deploys", {}};
  ChartSpec lead{"dora-lead-time", "Lead time for changes (median)", "h", {}};
  ChartSpec failure{"dora-change-failure-rate", "Change failure rate", "%", {}, 100.0};
  ChartSpec restore{"dora-time-to-restore", "Time to restore (median)", "h", {}};
  constexpr double kHour = 3600.0 * 1000.0;
  for (const auto& week : page.series) {
    std::string label = format_utc(week.start).substr(5, 5);  // "11-30"
    const auto& r = week.report;
    frequency.points.push_back(
        {label, static_cast<double>(r.deployments), count_of(r.changes, "change")});
    lead.points.push_back(
        {label,
         r.lead_time_median ? std::optional<double>(*r.lead_time_median / kHour) : std::nullopt,
         count_of(r.lead_time_samples, "deploy") + " with commit times"});
    failure.points.push_back(
        {label,
         r.change_failure_rate ? std::optional<double>(*r.change_failure_rate * 100.0)
                               : std::nullopt,
         std::to_string(r.failed_changes) + " of " + count_of(r.changes, "change")});
    restore.points.push_back(
        {label, r.restore_median ? std::optional<double>(*r.restore_median / kHour) : std::nullopt,
         count_of(r.restores, "restore")});
  }
  body += "<div class=\"charts\">";
  for (const auto* chart : {&frequency, &lead, &failure, &restore})
    body += "<figure>" + render_bar_chart(*chart) + "</figure>";
  body += "</div><h2>Numbers</h2>";
  body +=
      "<table class=\"dora\"><thead><tr><th>Week of</th><th>Deploys</th><th>Changes</th>"
      "<th>Failed</th><th>Change failure rate</th><th>Lead time (median)</th>"
      "<th>Time to restore (median)</th></tr></thead><tbody>";
  for (const auto& week : page.series) {
    const auto& r = week.report;
    body +=
        "<tr><td>" + escape(format_utc(week.start).substr(0, 10)) + "</td><td>" +
        std::to_string(r.deployments) + "</td><td>" + std::to_string(r.changes) + "</td><td>" +
        std::to_string(r.failed_changes) + "</td><td>" +
        (r.change_failure_rate ? format_number(*r.change_failure_rate * 100.0) + "%"
                               : std::string("&#8211;")) +
        "</td><td>" +
        (r.lead_time_median ? escape(format_duration(*r.lead_time_median))
                            : std::string("&#8211;")) +
        "</td><td>" +
        (r.restore_median ? escape(format_duration(*r.restore_median)) : std::string("&#8211;")) +
        "</td></tr>";
  }
  body += "</tbody></table>";
  return layout(site, "DORA metrics", "DORA", body);
}

std::string render_error_html(const Site& site, int status, std::string_view message, PageKind kind,
                              const QueryParams& query, const std::vector<std::string>& services,
                              const std::vector<std::string>& environments) {
  std::string body = "<p class=\"error\" role=\"alert\">";
  append_text(body, message);
  body += "</p>";
  std::string_view active;
  switch (kind) {
    case PageKind::deploys:
      body += deploys_form(query, services, environments);
      active = "Deploys";
      break;
    case PageKind::incidents:
      body += incidents_form(query);
      active = "Incidents";
      break;
    case PageKind::runs:
      body += runs_form(query, services);
      active = "Runbooks";
      break;
    case PageKind::dora:
      body += dora_form(query, services, environments, "");
      active = "DORA";
      break;
    case PageKind::now:
    case PageKind::deploy:
    case PageKind::incident:
    case PageKind::run:
    case PageKind::other:
      break;
  }
  const std::string title = status == 404   ? "Not found"
                            : status == 401 ? "Sign-in needed"
                            : status == 403 ? "Forbidden"
                                            : "Bad request";
  return layout(site, title, active, body);
}

}  // namespace shipmate::web
