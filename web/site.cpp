#include "web/site.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <functional>

#include "commands/dora_weeks.h"
#include "commands/incident_model.h"
#include "common/strings.h"
#include "integrations/deploy_target.h"
#include "storage/approval_store.h"
#include "storage/deploy_store.h"
#include "storage/freeze_store.h"
#include "storage/history_pages.h"
#include "storage/incident_store.h"
#include "storage/lock_store.h"
#include "storage/runbook_store.h"
#include "web/pages.h"

namespace shipmate::web {
namespace {

constexpr EpochMillis kDay = 24LL * 60 * 60 * 1000;

Error invalid(std::string message) {
  return Error{std::move(message), ErrorKind::invalid};
}
Error not_found(std::string message) {
  return Error{std::move(message), ErrorKind::not_found};
}

// A private incident that the reader may not see shows only that it exists.
std::vector<storage::IncidentRecord> masked(
    std::vector<storage::IncidentRecord> incidents,
    const std::function<bool(const storage::IncidentRecord&)>& visible) {
  for (auto& incident : incidents) {
    if (!incident.is_private || visible(incident))
      continue;
    incident.title = "(private incident)";
    incident.latest_update.clear();
    incident.summary.clear();
    incident.services.clear();
  }
  return incidents;
}

Result<long long> integer(const QueryParams& query, std::string_view name, long long min,
                          long long max, long long fallback) {
  const auto* text = query.get(name);
  if (text == nullptr || text->empty())
    return fallback;
  long long value = 0;
  const auto* end = text->data() + text->size();
  const auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (ec != std::errc() || ptr != end || value < min || value > max) {
    return invalid("'" + std::string(name) + "' must be a whole number from " +
                   std::to_string(min) + " to " + std::to_string(max) + ", not '" + *text + "'");
  }
  return value;
}

// An id given as "42", or for incidents also "INC-42".
Result<std::int64_t> required_id(const QueryParams& query, std::string_view prefix) {
  const auto* text = query.get("id");
  if (text == nullptr || text->empty())
    return invalid("this page needs ?id=<number>");
  std::string_view digits = *text;
  if (!prefix.empty() && starts_with_ci(digits, prefix))
    digits.remove_prefix(prefix.size());
  long long value = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || value <= 0)
    return invalid("'id' must be a positive number, not '" + *text + "'");
  return static_cast<std::int64_t>(value);
}

Error unknown_value(std::string_view what, const std::string& value,
                    const std::vector<std::string>& known) {
  std::string message = "unknown " + std::string(what) + " '" + value + "'";
  std::string best;
  std::size_t best_distance = 3;
  for (const auto& candidate : known) {
    const std::size_t distance = edit_distance(value, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  if (!best.empty())
    message += "; did you mean '" + best + "'?";
  message += known.empty() ? " (there are none)" : " (known: " + join(known, ", ") + ")";
  return invalid(message);
}

Status one_of(std::string_view what, const std::string& value,
              const std::vector<std::string>& known) {
  if (value.empty() || std::find(known.begin(), known.end(), value) != known.end())
    return Ok{};
  return unknown_value(what, value, known);
}

// "2026-12-06" (a date input's value, midnight UTC) or ISO 8601 with a zone. `end_of_day` moves
// a bare date to the next midnight, so "until 2026-12-06" includes that day.
Result<std::optional<EpochMillis>> day_or_time(const QueryParams& query, std::string_view name,
                                               bool end_of_day) {
  const auto* text = query.get(name);
  if (text == nullptr || text->empty())
    return std::optional<EpochMillis>();
  const bool bare_date = text->size() == 10 && (*text)[4] == '-' && (*text)[7] == '-';
  const auto parsed = parse_iso8601(bare_date ? *text + "T00:00:00Z" : *text);
  if (!parsed) {
    return invalid(
        "'" + std::string(name) +
        "' must be a date (2026-12-06) or a time with a zone (2026-12-06T09:30:00Z), not '" +
        *text + "'");
  }
  return std::optional<EpochMillis>(bare_date && end_of_day ? *parsed + kDay : *parsed);
}

std::vector<std::string> service_names(const commands::Catalog& catalog) {
  std::vector<std::string> out;
  for (const auto& service : catalog.services)
    out.push_back(service.name);
  return out;
}

std::vector<std::string> environment_names(const commands::Catalog& catalog) {
  std::vector<std::string> out;
  for (const auto& env : catalog.environments)
    out.push_back(env.name);
  return out;
}

const std::vector<std::string> kStates = {
    "requested",   "awaiting_approval", "queued",    "building",
    "deploying",   "verifying",         "succeeded", "failed",
    "rolled_back", "cancelled",         "timed_out"};
const std::vector<std::string> kKinds = {"deploy", "rollback", "redeploy"};
const std::vector<std::string> kRunStatuses = {"running", "waiting_operator", "succeeded", "failed",
                                               "aborted"};

PageKind kind_of(std::string_view path) {
  if (path == "/")
    return PageKind::now;
  if (path == "/deploys")
    return PageKind::deploys;
  if (path == "/deploy")
    return PageKind::deploy;
  if (path == "/incidents")
    return PageKind::incidents;
  if (path == "/incident")
    return PageKind::incident;
  if (path == "/runbooks")
    return PageKind::runs;
  if (path == "/runbook-run")
    return PageKind::run;
  if (path == "/dora")
    return PageKind::dora;
  return PageKind::other;
}

void common_headers(WebResponse& response, bool json) {
  response.headers = {
      {"Content-Type", json ? "application/json" : "text/html; charset=utf-8"},
      {"Cache-Control", "no-store"},
      {"Vary", "Accept"},
      {"Content-Security-Policy",
       "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"X-Frame-Options", "DENY"},
  };
}

// The production environments' first (else the last environment): what `metrics` reports on.
std::string default_dora_environment(const commands::Catalog& catalog) {
  for (const auto& env : catalog.environments) {
    if (env.production)
      return env.name;
  }
  return catalog.environments.empty() ? std::string() : catalog.environments.back().name;
}

}  // namespace

const std::vector<std::string>& WebView::paths() {
  static const std::vector<std::string> kPaths = {
      "/",         "/deploys",     "/deploy", "/incidents", "/incident",
      "/runbooks", "/runbook-run", "/dora",   "/style.css"};
  return kPaths;
}

WebView::WebView(WebSources sources, WebSettings settings)
    : sources_(std::move(sources)), settings_(std::move(settings)) {}

WebResponse WebView::handle(const WebRequest& request) {
  WebResponse response;
  const auto access = decide_access(settings_.access, request.authorization, request.peer);
  if (access.access != Access::allow) {
    response.status = access.access == Access::unauthorized ? 401 : 403;
    response.refusal = access.reason;
    response.headers = {{"Content-Type", "text/plain; charset=utf-8"},
                        {"Cache-Control", "no-store"}};
    if (!access.challenge.empty())
      response.headers.emplace_back("WWW-Authenticate", access.challenge);
    response.body = response.status == 401
                        ? "The Shipmate web view needs credentials (a bearer token or Basic).\n"
                        : "The Shipmate web view answers only this host's own requests.\n";
    return response;
  }
  if (request.path == "/style.css") {
    response.headers = {{"Content-Type", "text/css; charset=utf-8"},
                        {"Cache-Control", "max-age=3600"},
                        {"X-Content-Type-Options", "nosniff"}};
    response.body = std::string(stylesheet());
    return response;
  }
  const Site site{settings_.name, sources_.clock->now_ms()};
  const PageKind kind = kind_of(request.path);
  auto parsed = parse_query(request.query);
  const QueryParams empty;
  const bool json = wants_json(request.accept, parsed ? *parsed : empty);
  common_headers(response, json);
  const auto& catalog = *sources_.catalog;
  // Private incidents: shown to a reader signed in as one of their people, masked for anyone
  // else (commands/incident_model.h decides, as it does for chat).
  const std::function<bool(const storage::IncidentRecord&)> visible =
      [&](const storage::IncidentRecord& incident) {
        if (!incident.is_private)
          return true;
        if (access.reader.empty() || sources_.incidents == nullptr)
          return false;
        return commands::incident_visible_to(
            incident, access.reader, catalog.find_user(access.reader),
            sources_.incident_invite_roles, sources_.incidents->roles(incident.id));
      };
  auto fail = [&](const Error& error) {
    response.status = error.kind == ErrorKind::not_found ? 404 : 400;
    if (json) {
      response.body = render_error_json(response.status, error.message);
    } else {
      const bool runs = kind == PageKind::runs;
      response.body = render_error_html(
          site, response.status, error.message, kind, parsed ? *parsed : empty,
          runs ? sources_.runbooks : service_names(catalog), environment_names(catalog));
    }
    return response;
  };
  if (!parsed)
    return fail(parsed.error());
  const QueryParams& query = *parsed;
  auto render = [&](const auto& page) {
    response.body = json ? render_json(site, page) : render_html(site, page);
    return response;
  };
  try {
    switch (kind) {
      case PageKind::now: {
        if (auto known = check_known(query, {"format"}); !known)
          return fail(known.error());
        NowPage page;
        for (const auto& service : catalog.services) {
          for (const auto& env : service.environments) {
            Slot slot{service.name, env, sources_.deploys->last_succeeded(service.name, env),
                      sources_.deploys->active_for(service.name, env)};
            if (sources_.targets != nullptr) {
              const auto target = sources_.targets->find(service.name);
              if (target != sources_.targets->end() && target->second)
                slot.running = target->second->describe(env);
            }
            page.slots.push_back(std::move(slot));
          }
        }
        if (sources_.locks != nullptr)
          page.locks = sources_.locks->list();
        const EpochMillis now = site.now;
        if (sources_.freezes != nullptr) {
          for (const auto& freeze : sources_.freezes->current_and_coming()) {
            page.freezes.push_back({freeze.environment, freeze.reason, freeze.created_by, false,
                                    freeze.starts_at <= now, freeze.starts_at, freeze.ends_at});
          }
        }
        for (const auto& env : catalog.environments) {
          for (const auto& window : env.freezes) {
            if (auto in_force = window.occurrence_at(now)) {
              page.freezes.push_back({env.name, window.reason(), "", true, true, in_force->start_ms,
                                      in_force->end_ms});
            } else if (auto coming = window.next_occurrence_after(now)) {
              page.freezes.push_back(
                  {env.name, window.reason(), "", true, false, coming->start_ms, coming->end_ms});
            }
          }
        }
        for (auto& deploy : sources_.deploys->in_flight()) {
          if (deploy.state == storage::DeployState::awaiting_approval) {
            ApprovalWait wait{deploy};
            if (sources_.approvals != nullptr)
              wait.decisions = sources_.approvals->for_deploy(deploy.id);
            const auto* env = catalog.find_environment(deploy.environment);
            if (env != nullptr && env->approvals) {
              wait.needed = env->approvals->count;
              wait.roles = env->approvals->roles;
              wait.expires_at = deploy.requested_at + env->approvals->expire_ms;
            }
            page.approvals.push_back(std::move(wait));
          }
          page.in_flight.push_back(std::move(deploy));
        }
        if (sources_.incidents != nullptr)
          page.open_incidents = masked(sources_.incidents->open_incidents(), visible);
        if (sources_.runbook_runs != nullptr)
          page.unfinished_runs = sources_.runbook_runs->unfinished();
        return render(page);
      }
      case PageKind::deploys: {
        if (auto known =
                check_known(query, {"service", "environment", "state", "kind", "by", "since",
                                    "until", "before", "after", "limit", "format"});
            !known) {
          return fail(known.error());
        }
        DeploysPage page;
        page.query = query;
        page.services = service_names(catalog);
        page.environments = environment_names(catalog);
        auto& search = page.search;
        search.service = query.value("service");
        search.environment = query.value("environment");
        search.state = query.value("state");
        search.kind = query.value("kind");
        search.requested_by = query.value("by");
        for (const auto& status :
             {one_of("service", search.service, page.services),
              one_of("environment", search.environment, page.environments),
              one_of("state", search.state, kStates), one_of("kind", search.kind, kKinds)}) {
          if (!status)
            return fail(status.error());
        }
        if (search.requested_by.size() > 128)
          return fail(invalid("'by' is longer than 128 characters"));
        auto since = day_or_time(query, "since", false);
        if (!since)
          return fail(since.error());
        auto until = day_or_time(query, "until", true);
        if (!until)
          return fail(until.error());
        search.since = *since;
        search.until = *until;
        if (search.since && search.until && *search.since >= *search.until)
          return fail(invalid("'since' must come before 'until'"));
        auto window = paging_params(query);
        if (!window)
          return fail(window.error());
        search.before_id = window->before_id;
        search.after_id = window->after_id;
        search.limit = window->limit;
        page.page = storage::search_deploys(*sources_.database, search);
        return render(page);
      }
      case PageKind::deploy: {
        if (auto known = check_known(query, {"id", "format"}); !known)
          return fail(known.error());
        auto id = required_id(query, "#");
        if (!id)
          return fail(id.error());
        auto deploy = sources_.deploys->get(*id);
        if (!deploy)
          return fail(not_found("there is no deploy #" + std::to_string(*id)));
        DeployPage page{*deploy, sources_.deploys->events(*id)};
        if (sources_.approvals != nullptr)
          page.approvals = sources_.approvals->for_deploy(*id);
        return render(page);
      }
      case PageKind::incidents: {
        if (auto known = check_known(query, {"status", "before", "after", "limit", "format"});
            !known) {
          return fail(known.error());
        }
        IncidentsPage page;
        page.query = query;
        page.status = query.value("status");
        if (auto ok = one_of("status", page.status, {"open", "resolved"}); !ok)
          return fail(ok.error());
        auto window = paging_params(query);
        if (!window)
          return fail(window.error());
        page.window = *window;
        page.limit = window->limit;
        if (sources_.incidents != nullptr) {
          page.page = storage::incident_page(*sources_.database, page.window, page.status);
          page.page.rows = masked(std::move(page.page.rows), visible);
        }
        return render(page);
      }
      case PageKind::incident: {
        if (auto known = check_known(query, {"id", "format"}); !known)
          return fail(known.error());
        auto id = required_id(query, "INC-");
        if (!id)
          return fail(id.error());
        auto incident = sources_.incidents != nullptr ? sources_.incidents->get(*id)
                                                      : std::optional<storage::IncidentRecord>();
        if (!incident)
          return fail(not_found("there is no incident " + storage::incident_label(*id)));
        if (!visible(*incident)) {
          if (access.reader.empty() && !settings_.access.readers.empty()) {
            // Whoever this is may be one of its people: the browser asks them to sign in.
            response.status = 401;
            response.headers.emplace_back("WWW-Authenticate", reader_challenge());
            response.body = json ? render_error_json(401, storage::incident_label(*id) +
                                                              " is private: sign in as one of "
                                                              "its people to read it")
                                 : render_error_html(site, 401,
                                                     storage::incident_label(*id) +
                                                         " is private: sign in as one of its "
                                                         "people to read it",
                                                     kind, query, service_names(catalog),
                                                     environment_names(catalog));
            return response;
          }
          return fail(not_found(storage::incident_label(*id) +
                                " is private: its people read it in chat, in its room"));
        }
        IncidentPage page{*incident, sources_.incidents->roles(*id),
                          sources_.incidents->timeline(*id),
                          sources_.incidents->linked_deploys(*id)};
        return render(page);
      }
      case PageKind::runs: {
        if (auto known =
                check_known(query, {"runbook", "status", "before", "after", "limit", "format"});
            !known) {
          return fail(known.error());
        }
        RunsPage page;
        page.query = query;
        page.runbooks = sources_.runbooks;
        page.runbook = query.value("runbook");
        page.status = query.value("status");
        if (auto ok = one_of("runbook", page.runbook, page.runbooks); !ok)
          return fail(ok.error());
        if (auto ok = one_of("status", page.status, kRunStatuses); !ok)
          return fail(ok.error());
        auto window = paging_params(query);
        if (!window)
          return fail(window.error());
        page.window = *window;
        page.limit = window->limit;
        if (sources_.runbook_runs != nullptr) {
          page.page =
              storage::runbook_run_page(*sources_.database, page.window, page.runbook, page.status);
        }
        return render(page);
      }
      case PageKind::run: {
        if (auto known = check_known(query, {"id", "format"}); !known)
          return fail(known.error());
        auto id = required_id(query, "#");
        if (!id)
          return fail(id.error());
        auto run = sources_.runbook_runs != nullptr ? sources_.runbook_runs->get(*id)
                                                    : std::optional<storage::RunbookRunRecord>();
        if (!run)
          return fail(not_found("there is no runbook run #" + std::to_string(*id)));
        RunPage page{*run, sources_.runbook_runs->steps(*id)};
        return render(page);
      }
      case PageKind::dora: {
        if (auto known = check_known(query, {"service", "environment", "weeks", "format"});
            !known) {
          return fail(known.error());
        }
        DoraPage page;
        page.query = query;
        page.services = service_names(catalog);
        page.environments = environment_names(catalog);
        page.service = query.value("service");
        page.environment = query.value("environment");
        if (page.environment.empty())
          page.environment = default_dora_environment(catalog);
        if (auto ok = one_of("service", page.service, page.services); !ok)
          return fail(ok.error());
        if (auto ok = one_of("environment", page.environment, page.environments); !ok)
          return fail(ok.error());
        auto weeks = integer(query, "weeks", 1, 104, settings_.dora_weeks);
        if (!weeks)
          return fail(weeks.error());
        page.weeks = static_cast<int>(*weeks);
        const EpochMillis first = commands::week_start_utc(site.now) - (page.weeks - 1) * 7 * kDay;
        auto history = storage::deploys_requested_since(*sources_.database, page.environment, first,
                                                        settings_.dora_max_deploys);
        if (!page.service.empty()) {
          std::erase_if(history, [&](const storage::DeployRecord& deploy) {
            return deploy.service != page.service;
          });
        }
        std::map<std::string, EpochMillis> restores;
        if (sources_.incidents != nullptr) {
          for (const auto& incident : sources_.incidents->list(1000)) {
            const auto end = incident.mitigated_at ? incident.mitigated_at : incident.resolved_at;
            if (end) {
              restores[storage::incident_label(incident.id)] = std::max<EpochMillis>(
                  0, *end - incident.detected_at.value_or(incident.declared_at));
            }
          }
        }
        page.series =
            commands::compute_dora_weeks(history, page.environment, site.now, page.weeks, restores);
        return render(page);
      }
      case PageKind::other:
        break;
    }
  } catch (const std::exception& e) {
    spdlog::error("web view: {} failed: {}", request.path, e.what());
    response.status = 500;
    response.body = json ? render_error_json(500, "the page could not be read from the database")
                         : "<!DOCTYPE html><p>The page could not be read from the database.</p>";
    return response;
  }
  return fail(not_found("no page at " + request.path));
}

Result<storage::PageWindow> WebView::paging_params(const QueryParams& query) const {
  auto before = integer(query, "before", 1, 1LL << 62, 0);
  auto after = integer(query, "after", 0, 1LL << 62, -1);
  auto limit = integer(query, "limit", 1, settings_.max_page_size, settings_.page_size);
  for (const auto* number : {&before, &after, &limit}) {
    if (!*number)
      return number->error();
  }
  if (*before > 0 && *after >= 0)
    return invalid("give 'before' or 'after', not both");
  storage::PageWindow window;
  if (*before > 0)
    window.before_id = *before;
  if (*after >= 0)
    window.after_id = *after;
  window.limit = static_cast<int>(*limit);
  return window;
}

}  // namespace shipmate::web
