// JSON for the web view's pages (web/pages.h), the stylesheet and query-string links.
#include <cstdio>

#include "common/clock.h"
#include "common/strings.h"
#include "web/html.h"
#include "web/pages.h"

namespace shipmate::web {
namespace {

// A small writer for one JSON object at a time; keys are literals, values escaped.
class Json {
 public:
  Json& open() {
    comma();
    out_ += '{';
    first_ = true;
    return *this;
  }
  Json& close() {
    out_ += '}';
    first_ = false;
    return *this;
  }
  Json& open_array(std::string_view key) {
    name(key);
    out_ += '[';
    first_ = true;
    return *this;
  }
  Json& close_array() {
    out_ += ']';
    first_ = false;
    return *this;
  }
  Json& open_object(std::string_view key) {
    name(key);
    out_ += '{';
    first_ = true;
    return *this;
  }
  Json& str(std::string_view key, std::string_view value) {
    name(key);
    append_json(out_, value);
    return *this;
  }
  // The next open() becomes this key's value.
  Json& field(std::string_view key) {
    name(key);
    first_ = true;
    return *this;
  }
  Json& str_item(std::string_view value) {
    comma();
    append_json(out_, value);
    return *this;
  }
  Json& num(std::string_view key, long long value) {
    name(key);
    out_ += std::to_string(value);
    return *this;
  }
  Json& real(std::string_view key, std::optional<double> value) {
    name(key);
    if (value) {
      char buffer[40];
      std::snprintf(buffer, sizeof buffer, "%.6g", *value);
      out_ += buffer;
    } else {
      out_ += "null";
    }
    return *this;
  }
  Json& boolean(std::string_view key, bool value) {
    name(key);
    out_ += value ? "true" : "false";
    return *this;
  }
  Json& null(std::string_view key) {
    name(key);
    out_ += "null";
    return *this;
  }
  // `key` as epoch milliseconds and `key`_utc as text; null when absent.
  Json& time(std::string_view key, std::optional<EpochMillis> at) {
    if (!at) {
      null(key);
      return null(std::string(key) + "_utc");
    }
    num(key, *at);
    return str(std::string(key) + "_utc", format_utc(*at));
  }
  Json& str_list(std::string_view key, const std::vector<std::string>& values) {
    open_array(key);
    for (const auto& value : values)
      str_item(value);
    return close_array();
  }
  std::string take() { return std::move(out_); }

 private:
  void comma() {
    if (!first_)
      out_ += ',';
    first_ = false;
  }
  void name(std::string_view key) {
    comma();
    append_json_string(out_, key);
    out_ += ':';
  }
  std::string out_;
  bool first_ = true;
};

void deploy_object(Json& json, const storage::DeployRecord& deploy) {
  json.open()
      .num("id", deploy.id)
      .str("service", deploy.service)
      .str("environment", deploy.environment)
      .str("version", deploy.version)
      .str("previous_version", deploy.previous_version)
      .str("kind", storage::to_string(deploy.kind))
      .str("state", storage::to_string(deploy.state))
      .str("requested_by", deploy.requested_by)
      .str("reason", deploy.reason)
      .str("detail", deploy.detail)
      .time("requested_at", deploy.requested_at)
      .time("finished_at", deploy.finished_at)
      .time("committed_at", deploy.committed_at)
      .str("ci_run_url", deploy.ci_run_url)
      .str("overridden", deploy.overridden)
      .str("incident", deploy.incident)
      .close();
}

void incident_object(Json& json, const storage::IncidentRecord& incident) {
  json.open()
      .num("id", incident.id)
      .str("label", storage::incident_label(incident.id))
      .str("title", incident.title)
      .num("severity", incident.severity)
      .str("status", incident.status)
      .str_list("services", incident.services)
      .str("declared_by", incident.declared_by)
      .time("declared_at", incident.declared_at)
      .time("detected_at", incident.detected_at)
      .time("acknowledged_at", incident.acknowledged_at)
      .time("mitigated_at", incident.mitigated_at)
      .time("resolved_at", incident.resolved_at)
      .str("latest_update", incident.latest_update)
      .str("summary", incident.summary)
      .close();
}

void run_object(Json& json, const storage::RunbookRunRecord& run) {
  json.open()
      .num("id", run.id)
      .str("runbook", run.runbook)
      .str("status", run.status)
      .str("started_by", run.started_by)
      .str("params", run.params)
      .time("started_at", run.started_at)
      .time("finished_at", run.finished_at)
      .close();
}

Json start(const Site& site, std::string_view page) {
  Json json;
  json.open().str("page", page).time("generated_at", site.now);
  return json;
}

std::string paging(const QueryParams& query, std::string_view path, std::string_view key,
                   std::int64_t id) {
  QueryParams base;
  for (const auto& [k, v] : query.items()) {
    if (k != "before" && k != "after")
      base.add(k, v);
  }
  return std::string(path) + with_param(base, key, std::to_string(id));
}

// "older" and "newer" of a list keyed by id: the URL of the next page each way, or null.
template <class Row>
void paging_links(Json& json, const QueryParams& query, std::string_view path,
                  const storage::IdPage<Row>& page) {
  if (page.has_older && !page.rows.empty())
    json.str("older", paging(query, path, "before", page.rows.back().id));
  else
    json.null("older");
  if (page.has_newer && !page.rows.empty())
    json.str("newer", paging(query, path, "after", page.rows.front().id));
  else
    json.null("newer");
}

}  // namespace

std::string with_param(const QueryParams& query, std::string_view key, std::string_view value) {
  std::string out;
  bool replaced = false;
  auto add = [&](std::string_view k, std::string_view v) {
    if (v.empty())
      return;
    out += out.empty() ? "?" : "&";
    out += query_value(k) + "=" + query_value(v);
  };
  for (const auto& [k, v] : query.items()) {
    if (!key.empty() && k == key) {
      add(k, value);
      replaced = true;
    } else {
      add(k, v);
    }
  }
  if (!replaced && !key.empty())
    add(key, value);
  return out;
}

std::string render_json(const Site& site, const NowPage& page) {
  Json json = start(site, "now");
  json.open_array("slots");
  for (const auto& slot : page.slots) {
    json.open().str("service", slot.service).str("environment", slot.environment);
    if (slot.live) {
      json.open_object("live")
          .num("deploy", slot.live->id)
          .str("version", slot.live->version)
          .str("by", slot.live->requested_by)
          .time("since", slot.live->finished_at.value_or(slot.live->requested_at))
          .close();
    } else {
      json.null("live");
    }
    json.str("running", slot.running);
    if (slot.active) {
      json.open_object("in_progress")
          .num("deploy", slot.active->id)
          .str("version", slot.active->version)
          .str("state", storage::to_string(slot.active->state))
          .close();
    } else {
      json.null("in_progress");
    }
    json.close();
  }
  json.close_array().open_array("locks");
  for (const auto& lock : page.locks) {
    json.open()
        .str("scope", lock.scope)
        .str("holder", lock.holder)
        .str("reason", lock.reason)
        .time("since", lock.since)
        .time("expires_at", lock.expires_at)
        .close();
  }
  json.close_array().open_array("freezes");
  for (const auto& freeze : page.freezes) {
    json.open()
        .str("environment", freeze.environment)
        .str("reason", freeze.reason)
        .str("by", freeze.by)
        .boolean("configured", freeze.configured)
        .boolean("in_force", freeze.in_force)
        .time("starts_at", freeze.starts_at)
        .time("ends_at", freeze.ends_at)
        .close();
  }
  json.close_array().open_array("approvals_waiting");
  for (const auto& wait : page.approvals) {
    json.open().num("deploy", wait.deploy.id);
    json.str("service", wait.deploy.service)
        .str("environment", wait.deploy.environment)
        .str("version", wait.deploy.version)
        .str("requested_by", wait.deploy.requested_by)
        .num("needed", wait.needed)
        .str_list("roles", wait.roles)
        .time("expires_at", wait.expires_at)
        .open_array("decisions");
    for (const auto& decision : wait.decisions) {
      json.open()
          .str("by", decision.approver)
          .str("decision", decision.decision)
          .str("reason", decision.reason)
          .time("at", decision.at)
          .close();
    }
    json.close_array().close();
  }
  json.close_array().open_array("in_progress");
  for (const auto& deploy : page.in_flight)
    deploy_object(json, deploy);
  json.close_array().open_array("open_incidents");
  for (const auto& incident : page.open_incidents)
    incident_object(json, incident);
  json.close_array().open_array("unfinished_runbook_runs");
  for (const auto& run : page.unfinished_runs)
    run_object(json, run);
  json.close_array().close();
  return json.take();
}

std::string render_json(const Site& site, const DeploysPage& page) {
  Json json = start(site, "deploys");
  json.open_object("filters")
      .str("service", page.search.service)
      .str("environment", page.search.environment)
      .str("state", page.search.state)
      .str("kind", page.search.kind)
      .str("by", page.search.requested_by)
      .time("since", page.search.since)
      .time("until", page.search.until)
      .num("limit", page.search.limit)
      .close();
  json.num("total", page.page.total).open_array("deploys");
  for (const auto& deploy : page.page.rows)
    deploy_object(json, deploy);
  json.close_array();
  if (page.page.has_older && !page.page.rows.empty())
    json.str("older", paging(page.query, "/deploys", "before", page.page.rows.back().id));
  else
    json.null("older");
  if (page.page.has_newer && !page.page.rows.empty())
    json.str("newer", paging(page.query, "/deploys", "after", page.page.rows.front().id));
  else
    json.null("newer");
  return json.close().take();
}

std::string render_json(const Site& site, const DeployPage& page) {
  Json out = start(site, "deploy");
  deploy_object(out.field("deploy"), page.deploy);
  out.open_array("events");
  for (const auto& event : page.events) {
    out.open()
        .time("at", event.at)
        .str("from", event.from ? storage::to_string(*event.from) : std::string_view())
        .str("to", storage::to_string(event.to))
        .str("message", event.message)
        .close();
  }
  out.close_array().open_array("approvals");
  for (const auto& approval : page.approvals) {
    out.open()
        .str("by", approval.approver)
        .str("decision", approval.decision)
        .str("reason", approval.reason)
        .time("at", approval.at)
        .close();
  }
  return out.close_array().close().take();
}

std::string render_json(const Site& site, const IncidentsPage& page) {
  Json json = start(site, "incidents");
  json.str("status", page.status).num("limit", page.limit).open_array("incidents");
  for (const auto& incident : page.page.rows)
    incident_object(json, incident);
  json.close_array();
  paging_links(json, page.query, "/incidents", page.page);
  return json.close().take();
}

std::string render_json(const Site& site, const IncidentPage& page) {
  Json json = start(site, "incident");
  incident_object(json.field("incident"), page.incident);
  json.open_array("roles");
  for (const auto& role : page.roles)
    json.open()
        .str("role", role.role)
        .str("user", role.user_id)
        .time("at", role.assigned_at)
        .close();
  json.close_array().open_array("timeline");
  for (const auto& entry : page.timeline) {
    json.open()
        .time("event_at", entry.event_at)
        .time("ingested_at", entry.ingested_at)
        .str("kind", entry.kind)
        .str("actor", entry.actor)
        .str("text", entry.text)
        .close();
  }
  json.close_array().open_array("linked_deploys");
  for (const auto& deploy : page.linked) {
    json.open()
        .num("id", deploy.id)
        .str("service", deploy.service)
        .str("environment", deploy.environment)
        .str("version", deploy.version)
        .str("state", deploy.state)
        .close();
  }
  return json.close_array().close().take();
}

std::string render_json(const Site& site, const RunsPage& page) {
  Json json = start(site, "runbook_runs");
  json.str("runbook", page.runbook).str("status", page.status).num("limit", page.limit);
  json.open_array("runs");
  for (const auto& run : page.page.rows)
    run_object(json, run);
  json.close_array();
  paging_links(json, page.query, "/runbooks", page.page);
  return json.close().take();
}

std::string render_json(const Site& site, const RunPage& page) {
  Json json = start(site, "runbook_run");
  run_object(json.field("run"), page.run);
  json.open_array("steps");
  for (const auto& step : page.steps) {
    json.open()
        .num("index", step.index)
        .str("name", step.name)
        .str("phase", step.phase)
        .num("attempt", step.attempt)
        .str("status", step.status)
        .str("detail", step.detail)
        .str("log", step.log)
        .time("started_at", step.started_at)
        .time("finished_at", step.finished_at)
        .close();
  }
  return json.close_array().close().take();
}

std::string render_json(const Site& site, const DoraPage& page) {
  Json json = start(site, "dora");
  json.str("environment", page.environment).str("service", page.service).num("weeks", page.weeks);
  json.open_array("series");
  for (const auto& week : page.series) {
    const auto& r = week.report;
    json.open()
        .time("week_start", week.start)
        .num("deployments", r.deployments)
        .num("changes", r.changes)
        .num("failed_changes", r.failed_changes)
        .real("change_failure_rate", r.change_failure_rate)
        .real("lead_time_median_ms",
              r.lead_time_median ? std::optional<double>(*r.lead_time_median) : std::nullopt)
        .num("lead_time_samples", r.lead_time_samples)
        .real("restore_median_ms",
              r.restore_median ? std::optional<double>(*r.restore_median) : std::nullopt)
        .num("restores", r.restores)
        .close();
  }
  return json.close_array().close().take();
}

std::string render_error_json(int status, std::string_view message) {
  Json json;
  json.open().num("status", status).str("error", message).close();
  return json.take();
}

std::string_view stylesheet() {
  return R"css(:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--muted:#5c6670;--line:#d8dee4;--accent:#0b62c4;--ok:#1a7f37;--bad:#c62828;--warn:#9a6700;--bar:#3b82c4}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9aa5b1;--line:#30363d;--accent:#58a6ff;--ok:#3fb950;--bad:#f85149;--warn:#d29922;--bar:#58a6ff}}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;gap:1.5rem;align-items:center;padding:.6rem 1.2rem;border-bottom:1px solid var(--line)}
.brand{font-weight:700}nav a{margin-right:1rem;color:var(--accent);text-decoration:none}nav a[aria-current=page]{font-weight:700;text-decoration:underline}
main{padding:0 1.2rem 2rem;max-width:1400px}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:top;white-space:nowrap}
td.wrap,.wrap{white-space:normal;overflow-wrap:anywhere}.muted,.empty{color:var(--muted)}
.state{display:inline-block;padding:0 .4rem;border-radius:.6rem;border:1px solid var(--line);font-size:.85em}
.state-succeeded,.state-resolved,.state-approve{color:var(--ok)}.state-failed,.state-rolled_back,.state-timed_out,.state-aborted,.state-deny,.state-frozen{color:var(--bad)}
.state-awaiting_approval,.state-waiting_operator,.state-investigating,.state-coming{color:var(--warn)}
.tag{font-size:.85em;color:var(--bad)}.error{border-left:4px solid var(--bad);padding:.5rem .8rem;background:rgba(198,40,40,.08)}
form.filters{display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:end;margin:.5rem 0 1rem}form.filters label{display:flex;flex-direction:column;font-size:.85em;color:var(--muted)}
input,select,button{font:inherit}.pager a{margin-right:1rem}dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dl.facts dt{color:var(--muted)}dl.facts dd{margin:0;overflow-wrap:anywhere}
pre{white-space:pre-wrap;overflow-wrap:anywhere;max-height:30rem;overflow:auto;background:rgba(127,127,127,.08);padding:.5rem}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:1rem}figure{margin:0}
svg.chart{max-width:100%;height:auto;font:11px system-ui,sans-serif}svg .bar{fill:var(--bar)}svg .grid{stroke:var(--line)}svg .axis{stroke:var(--muted)}
svg text{fill:var(--muted)}svg .chart-title{fill:var(--fg);font-weight:700;font-size:13px}
footer{padding:1rem 1.2rem;color:var(--muted);border-top:1px solid var(--line);font-size:.85em}
)css";
}

}  // namespace shipmate::web
