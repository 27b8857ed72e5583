// The web view without sockets: escaping and redaction in every page (hostile names and notes),
// the SVG charts, query parsing and validation, access decisions, pagination over the stores,
// weekly DORA against compute_dora, and the `ops: web:` configuration.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <random>

#include "bot/config.h"
#include "commands/dora.h"
#include "commands/dora_weeks.h"
#include "common/redact.h"
#include "common/strings.h"
#include "storage/approval_store.h"
#include "storage/database.h"
#include "storage/deploy_store.h"
#include "storage/freeze_store.h"
#include "storage/incident_store.h"
#include "storage/lock_store.h"
#include "storage/runbook_store.h"
#include "tests/support/test_support.h"
#include "web/html.h"
#include "web/pages.h"
#include "web/request.h"
#include "web/site.h"
#include "web/svg_chart.h"

namespace shipmate::web {
namespace {

using storage::DeployKind;
using storage::DeployRecord;
using storage::DeployState;

constexpr EpochMillis kHour = 3600LL * 1000;
constexpr EpochMillis kDay = 24 * kHour;
// Wednesday 2026-12-02 12:00Z.
constexpr EpochMillis kNow = 1796212800000;

const std::string kHostile = "<script>alert(1)</script>\"'><img src=x\" onerror=alert(2)>&amp;";

std::size_t count(const std::string& text, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// Markup a hostile string would produce if it were written unescaped anywhere.
void expect_no_injection(const std::string& html) {
  EXPECT_EQ(html.find("<script"), std::string::npos) << html;
  EXPECT_EQ(html.find("<img"), std::string::npos) << html;
  // A raw quote before the attribute would close the value it sits in.
  EXPECT_EQ(html.find("x\" onerror="), std::string::npos) << "an injected attribute: " << html;
  EXPECT_EQ(html.find("\"'>"), std::string::npos) << html;
}

DeployRecord hostile_deploy(std::int64_t id) {
  DeployRecord d;
  d.id = id;
  d.service = kHostile;
  d.environment = kHostile;
  d.version = kHostile;
  d.previous_version = kHostile;
  d.requested_by = kHostile;
  d.state = DeployState::failed;
  d.reason = kHostile;
  d.detail = kHostile;
  d.incident = kHostile;
  d.requested_at = kNow - kHour;
  d.finished_at = kNow;
  d.ci_run_url = "javascript:alert(3)";
  return d;
}

TEST(WebHtml, EscapesEveryMarkupCharacterAndRedactsFirst) {
  EXPECT_EQ(escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  register_secret("hunter2-secret-value");
  EXPECT_EQ(escape("token=hunter2-secret-value<"), "token=[REDACTED]&lt;");
  std::string json;
  append_json(json, "a\"hunter2-secret-value");
  EXPECT_EQ(json, "\"a\\\"[REDACTED]\"");
  EXPECT_EQ(query_value("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
  clear_registered_secrets();
}

TEST(WebChart, DrawsOneBarPerValueAndMarksWeeksWithoutData) {
  ChartSpec spec{"freq", "Deploys <per> week", "deploys", {}};
  spec.points = {{"11-16", 3.0, "3 changes"}, {"11-23", std::nullopt}, {"11-30", 7.5, kHostile}};
  const std::string svg = render_bar_chart(spec);
  EXPECT_TRUE(svg.starts_with("<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_TRUE(svg.ends_with("</svg>"));
  EXPECT_NE(svg.find("role=\"img\""), std::string::npos);
  EXPECT_NE(svg.find("<title id=\"freq-title\">Deploys &lt;per&gt; week</title>"),
            std::string::npos);
  EXPECT_EQ(count(svg, "<rect class=\"bar\""), 2u);
  EXPECT_NE(svg.find("11-23: no data"), std::string::npos);
  EXPECT_NE(svg.find("11-30: 7.5 deploys"), std::string::npos);
  // The y axis ends at a round number above the largest value: 10.
  EXPECT_NE(svg.find(">10</text>"), std::string::npos) << svg;
  expect_no_injection(svg);
}

TEST(WebChart, PercentChartsUseTheFixedMaximumAndClampBars) {
  ChartSpec spec{"cfr", "Change failure rate", "%", {{"w", 150.0}, {"x", 0.0}}, 100.0};
  const std::string svg = render_bar_chart(spec);
  EXPECT_NE(svg.find(">100</text>"), std::string::npos);
  EXPECT_EQ(count(svg, "<rect"), 2u);
  EXPECT_EQ(format_number(0.25), "0.25");
  EXPECT_EQ(format_number(12.0), "12");
  EXPECT_EQ(format_number(1.5), "1.5");
}

TEST(WebRequest, ParsesFormEncodingAndRefusesRepeatsAndBrokenEscapes) {
  auto parsed = parse_query("service=hello&by=a+b%2Fc&empty=&flag");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->value("service"), "hello");
  EXPECT_EQ(parsed->value("by"), "a b/c");
  EXPECT_EQ(parsed->value("empty"), "");
  EXPECT_NE(parsed->get("flag"), nullptr);
  EXPECT_EQ(parsed->get("missing"), nullptr);

  auto repeated = parse_query("service=a&service=b");
  ASSERT_FALSE(repeated);
  EXPECT_EQ(repeated.error().message, "parameter 'service' is given more than once");
  EXPECT_EQ(repeated.error().kind, ErrorKind::invalid);
  for (const char* broken : {"a=%", "a=%4", "a=%zz", "%G1=x"}) {
    auto bad = parse_query(broken);
    ASSERT_FALSE(bad) << broken;
    EXPECT_NE(bad.error().message.find("broken %-escape"), std::string::npos) << broken;
  }
  EXPECT_FALSE(parse_query(std::string(3000, 'a')));

  auto unknown = check_known(*parse_query("sevice=x"), {"service", "environment"});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message,
            "unknown parameter 'sevice'; did you mean 'service'? (this page takes: service, "
            "environment)");
}

TEST(WebRequest, JsonWhenAskedForByAcceptOrFormat) {
  const QueryParams none;
  EXPECT_TRUE(wants_json("application/json", none));
  EXPECT_TRUE(wants_json("Application/JSON; charset=utf-8", none));
  EXPECT_FALSE(wants_json("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", none));
  EXPECT_FALSE(wants_json("", none));
  EXPECT_FALSE(wants_json("*/*", none));
  EXPECT_TRUE(wants_json("text/html", *parse_query("format=json")));
  EXPECT_FALSE(wants_json("application/json", *parse_query("format=html")));
}

TEST(WebAccess, WithoutCredentialsOnlyLoopbackPeersAreServed) {
  const AccessPolicy open;
  EXPECT_EQ(decide_access(open, "", "127.0.0.1:4000").access, Access::allow);
  EXPECT_EQ(decide_access(open, "", "127.8.9.10:4000").access, Access::allow);
  EXPECT_EQ(decide_access(open, "", "[::1]:4000").access, Access::allow);
  EXPECT_EQ(decide_access(open, "", "[::ffff:127.0.0.1]:4000").access, Access::allow);
  EXPECT_EQ(decide_access(open, "", "10.0.0.5:4000").access, Access::forbidden);
  EXPECT_EQ(decide_access(open, "", "[2001:db8::1]:4000").access, Access::forbidden);
  EXPECT_EQ(decide_access(open, "", "[::ffff:10.0.0.1]:4000").access, Access::forbidden);
  EXPECT_TRUE(is_loopback_address("127.0.0.1"));
  EXPECT_TRUE(is_loopback_address("::1"));
  EXPECT_TRUE(is_loopback_address("localhost"));
  EXPECT_FALSE(is_loopback_address("0.0.0.0"));
  EXPECT_FALSE(is_loopback_address("::"));
}

TEST(WebAccess, BearerAndBasicAreCheckedForEveryPeerAndNeverEchoed) {
  AccessPolicy policy{"tok-abcdef-123", "viewer", "pw-zyx-987"};
  const std::string basic = "Basic " + base64_encode("viewer:pw-zyx-987");
  for (const char* peer : {"127.0.0.1:1", "10.1.2.3:1"}) {
    EXPECT_EQ(decide_access(policy, "Bearer tok-abcdef-123", peer).access, Access::allow);
    EXPECT_EQ(decide_access(policy, "bearer   tok-abcdef-123 ", peer).access, Access::allow);
    EXPECT_EQ(decide_access(policy, basic, peer).access, Access::allow);
    const auto none = decide_access(policy, "", peer);
    EXPECT_EQ(none.access, Access::unauthorized);
    EXPECT_EQ(none.challenge,
              "Basic realm=\"Shipmate\", charset=\"UTF-8\", Bearer realm=\"Shipmate\"");
  }
  const std::vector<std::string> wrong = {"Bearer tok-abcdef-12",
                                          "Bearer tok-abcdef-1234",
                                          "Bearer ",
                                          "Basic " + base64_encode("viewer:pw-zyx-98"),
                                          "Basic " + base64_encode("viewe:pw-zyx-987"),
                                          "Basic " + base64_encode("viewerpw-zyx-987"),
                                          "Basic !!!not-base64",
                                          "Digest username=viewer",
                                          "tok-abcdef-123"};
  for (const auto& header : wrong) {
    const auto decision = decide_access(policy, header, "127.0.0.1:1");
    EXPECT_EQ(decision.access, Access::unauthorized) << header;
    EXPECT_EQ(decision.reason.find("tok-abcdef"), std::string::npos);
    EXPECT_EQ(decision.reason.find("pw-zyx"), std::string::npos);
    EXPECT_EQ(decision.challenge.find("tok-abcdef"), std::string::npos);
  }
  // A bearer token when only Basic is configured is a scheme the view does not take.
  AccessPolicy basic_only{"", "viewer", "pw-zyx-987"};
  EXPECT_EQ(decide_access(basic_only, "Bearer pw-zyx-987", "127.0.0.1:1").reason,
            "an authorization scheme that is not configured");
  EXPECT_EQ(decide_access(basic_only, "", "127.0.0.1:1").challenge,
            "Basic realm=\"Shipmate\", charset=\"UTF-8\"");
}

TEST(WebPages, HostileTextIsEscapedOnEveryPageAndTheJsonStaysValid) {
  const Site site{kHostile, kNow};
  NowPage now;
  now.slots.push_back({kHostile, kHostile, hostile_deploy(1), hostile_deploy(2), kHostile});
  now.locks.push_back({kHostile, kHostile, kHostile, kNow, kNow + kHour, ""});
  now.freezes.push_back({kHostile, kHostile, kHostile, false, true, kNow, std::nullopt});
  now.approvals.push_back(
      {hostile_deploy(3), {{3, kHostile, "approve", kHostile, kNow}}, 2, {kHostile}, kNow + kHour});
  now.in_flight.push_back(hostile_deploy(4));
  storage::IncidentRecord incident;
  incident.id = 7;
  incident.title = kHostile;
  incident.services = {kHostile};
  incident.declared_by = kHostile;
  incident.latest_update = kHostile;
  incident.summary = kHostile;
  now.open_incidents.push_back(incident);
  storage::RunbookRunRecord run;
  run.id = 9;
  run.runbook = kHostile;
  run.status = kHostile;
  run.started_by = kHostile;
  run.params = kHostile;
  now.unfinished_runs.push_back(run);

  DeploysPage deploys;
  deploys.query = *parse_query("service=" + query_value(kHostile) + "&by=" + query_value(kHostile));
  deploys.page.rows = {hostile_deploy(5)};
  deploys.page.total = 1;
  deploys.page.has_older = true;
  deploys.services = {kHostile};
  deploys.environments = {kHostile};
  DeployPage deploy{hostile_deploy(6),
                    {{1, 6, kNow, DeployState::queued, DeployState::failed, kHostile}},
                    {{6, kHostile, "deny", kHostile, kNow}}};
  IncidentsPage incidents;
  incidents.page.rows = {incident};
  IncidentPage incident_page{incident,
                             {{kHostile, kHostile, kNow}},
                             {{1, 7, kNow, kNow, kHostile, kHostile, kHostile}},
                             {{6, kHostile, kHostile, kHostile, kHostile, kNow, kNow}}};
  RunsPage runs;
  runs.page.rows = {run};
  runs.runbooks = {kHostile};
  storage::RunbookStepRecord step;
  step.name = kHostile;
  step.phase = kHostile;
  step.status = kHostile;
  step.detail = kHostile;
  step.log = kHostile;
  RunPage run_page{run, {step}};
  DoraPage dora;
  dora.environment = kHostile;
  dora.service = kHostile;
  dora.services = {kHostile};
  dora.environments = {kHostile};
  dora.series = commands::compute_dora_weeks({}, kHostile, kNow, 4);

  const std::vector<std::pair<std::string, std::string>> pages = {
      {render_html(site, now), render_json(site, now)},
      {render_html(site, deploys), render_json(site, deploys)},
      {render_html(site, deploy), render_json(site, deploy)},
      {render_html(site, incidents), render_json(site, incidents)},
      {render_html(site, incident_page), render_json(site, incident_page)},
      {render_html(site, runs), render_json(site, runs)},
      {render_html(site, run_page), render_json(site, run_page)},
      {render_html(site, dora), render_json(site, dora)},
      {render_error_html(site, 400, kHostile, PageKind::deploys, deploys.query, {kHostile},
                         {kHostile}),
       render_error_json(400, kHostile)},
  };
  for (const auto& [html, json] : pages) {
    EXPECT_TRUE(html.starts_with("<!DOCTYPE html>"));
    EXPECT_TRUE(html.ends_with("</html>\n"));
    expect_no_injection(html);
    EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&gt;&lt;img src=x&quot; "
                        "onerror=alert(2)&gt;&amp;amp;"),
              std::string::npos)
        << html;
    EXPECT_EQ(html.find("href=\"javascript:"), std::string::npos);
    boost::system::error_code ec;
    const auto parsed = boost::json::parse(json, ec);
    ASSERT_FALSE(ec) << json;
    EXPECT_NE(json.find("<script>alert(1)</script>"), std::string::npos)
        << "JSON carries the text itself: " << json;
  }
  // The DORA page draws its four charts.
  EXPECT_EQ(count(pages[7].first, "<svg class=\"chart\""), 4u);
}

TEST(WebPages, NoRegisteredSecretReachesAnyPage) {
  const std::string secret = "xoxb-very-secret-token-0042";
  register_secret(secret);
  const Site site{"Shipmate", kNow};
  DeployRecord leaky = hostile_deploy(1);
  leaky.reason = "token " + secret;
  leaky.detail = secret;
  leaky.version = secret;
  storage::RunbookStepRecord step;
  step.log = "curl -H 'Authorization: Bearer " + secret + "'";
  step.detail = secret;
  storage::RunbookRunRecord run;
  run.id = 1;
  run.params = "api_key=" + secret;
  DeploysPage deploys;
  deploys.query = *parse_query("by=" + secret);
  deploys.page.rows = {leaky};
  const std::vector<std::string> pages = {
      render_html(site, deploys),
      render_json(site, deploys),
      render_html(site, DeployPage{leaky, {}, {}}),
      render_json(site, DeployPage{leaky, {}, {}}),
      render_html(site, RunPage{run, {step}}),
      render_json(site, RunPage{run, {step}}),
      render_error_html(site, 400, "bad " + secret, PageKind::deploys, deploys.query),
      render_error_json(400, secret)};
  for (const auto& page : pages) {
    EXPECT_EQ(page.find(secret), std::string::npos) << page;
    EXPECT_NE(page.find("[REDACTED]"), std::string::npos) << page;
  }
  clear_registered_secrets();
}

// A WebView over an in-memory database: the stores, filters, pages and refusals.
class WebViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db = std::move(*storage::Database::open(":memory:"));
    deploys.emplace(*db, clock);
    locks.emplace(*db, clock);
    approvals.emplace(*db, clock);
    incidents.emplace(*db, clock);
    runs.emplace(*db, clock);
    freezes.emplace(*db, clock);
    commands::EnvironmentSpec staging;
    staging.name = "staging";
    commands::EnvironmentSpec production;
    production.name = "production";
    production.production = true;
    production.approvals = commands::ApprovalPolicy{2, {"sre"}, 2 * kHour};
    catalog.environments = {staging, production};
    for (const char* name : {"hello", "api"}) {
      commands::ServiceSpec service;
      service.name = name;
      service.environments = {"staging", "production"};
      catalog.services.push_back(service);
    }
  }

  WebView view(AccessPolicy access = {}) {
    WebSources sources;
    sources.catalog = &catalog;
    sources.database = db.get();
    sources.clock = &clock;
    sources.deploys = &*deploys;
    sources.locks = &*locks;
    sources.approvals = &*approvals;
    sources.incidents = &*incidents;
    sources.runbook_runs = &*runs;
    sources.freezes = &*freezes;
    sources.runbooks = {"restart-hello", "health-report"};
    WebSettings settings;
    settings.access = std::move(access);
    settings.page_size = 3;
    settings.max_page_size = 20;
    return WebView(std::move(sources), std::move(settings));
  }

  std::int64_t add_deploy(const std::string& service, const std::string& env,
                          const std::string& version, DeployState end,
                          DeployKind kind = DeployKind::deploy, const std::string& by = "alice") {
    storage::NewDeploy request{service, env, version, "", kind, by, "because", ""};
    const auto created = deploys->create(request);
    if (end != DeployState::requested)
      deploys->transition(created.id, end, "done");
    return created.id;
  }

  WebResponse get(WebView& web, const std::string& path, const std::string& query = "",
                  const std::string& accept = "text/html") {
    return web.handle({path, query, accept, "", "127.0.0.1:5000"});
  }

  static std::string header(const WebResponse& response, const std::string& name) {
    for (const auto& [key, value] : response.headers) {
      if (key == name)
        return value;
    }
    return "";
  }

  ManualClock clock{kNow};
  std::unique_ptr<storage::Database> db;
  std::optional<storage::DeployStore> deploys;
  std::optional<storage::LockStore> locks;
  std::optional<storage::ApprovalStore> approvals;
  std::optional<storage::IncidentStore> incidents;
  std::optional<storage::RunbookStore> runs;
  std::optional<storage::FreezeStore> freezes;
  commands::Catalog catalog;
};

TEST_F(WebViewTest, DeployHistoryFiltersAndPagesByIdBothWays) {
  for (int i = 1; i <= 10; ++i) {
    add_deploy(i % 2 == 0 ? "hello" : "api", i % 3 == 0 ? "production" : "staging",
               "v" + std::to_string(i), i == 4 ? DeployState::failed : DeployState::succeeded);
  }
  auto web = view();
  auto first = get(web, "/deploys", "service=hello", "application/json");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(header(first, "Content-Type"), "application/json");
  auto json = boost::json::parse(first.body).as_object();
  EXPECT_EQ(json.at("total").as_int64(), 5);
  auto rows = json.at("deploys").as_array();
  ASSERT_EQ(rows.size(), 3u);  // page_size
  EXPECT_EQ(rows[0].at("id").as_int64(), 10);
  EXPECT_EQ(rows[2].at("id").as_int64(), 6);
  EXPECT_EQ(json.at("older").as_string(), "/deploys?service=hello&before=6");
  EXPECT_TRUE(json.at("newer").is_null());

  auto older =
      boost::json::parse(get(web, "/deploys", "service=hello&before=6", "application/json").body)
          .as_object();
  auto older_rows = older.at("deploys").as_array();
  ASSERT_EQ(older_rows.size(), 2u);
  EXPECT_EQ(older_rows[0].at("id").as_int64(), 4);
  EXPECT_EQ(older_rows[1].at("id").as_int64(), 2);
  EXPECT_TRUE(older.at("older").is_null());
  EXPECT_EQ(older.at("newer").as_string(), "/deploys?service=hello&after=4");

  auto newer =
      boost::json::parse(get(web, "/deploys", "service=hello&after=4", "application/json").body)
          .as_object();
  auto newer_rows = newer.at("deploys").as_array();
  ASSERT_EQ(newer_rows.size(), 3u);
  EXPECT_EQ(newer_rows[0].at("id").as_int64(), 10);  // newest first on every page
  EXPECT_EQ(newer_rows[2].at("id").as_int64(), 6);

  auto failed =
      boost::json::parse(
          get(web, "/deploys", "state=failed&environment=staging", "application/json").body)
          .as_object();
  EXPECT_EQ(failed.at("total").as_int64(), 1);
  EXPECT_EQ(failed.at("deploys").as_array()[0].at("id").as_int64(), 4);

  // The HTML page: the table, the form keeping the choices, and the pager's links.
  auto html = get(web, "/deploys", "service=hello&limit=2");
  ASSERT_EQ(html.status, 200);
  EXPECT_EQ(header(html, "Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(html.body.find("<option value=\"hello\" selected>"), std::string::npos);
  EXPECT_NE(html.body.find("5 deploys match."), std::string::npos);
  EXPECT_NE(html.body.find("href=\"/deploys?service=hello&amp;limit=2&amp;before=8\">Older</a>"),
            std::string::npos)
      << html.body;
  EXPECT_EQ(count(html.body, "<a href=\"/deploy?id="), 2u);
}

TEST_F(WebViewTest, DatesFilterTheRequestTimeWithUntilIncludingItsDay) {
  clock.set_ms(kNow - 2 * kDay);  // 2026-11-30
  add_deploy("hello", "staging", "v1", DeployState::succeeded);
  clock.set_ms(kNow);  // 2026-12-02
  add_deploy("hello", "staging", "v2", DeployState::succeeded);
  auto web = view();
  auto total = [&](const std::string& query) {
    auto response = get(web, "/deploys", query, "application/json");
    EXPECT_EQ(response.status, 200) << response.body;
    return boost::json::parse(response.body).at("total").as_int64();
  };
  EXPECT_EQ(total("since=2026-12-01"), 1);
  EXPECT_EQ(total("until=2026-11-30"), 1);
  EXPECT_EQ(total("since=2026-11-30&until=2026-12-02"), 2);
  EXPECT_EQ(total("since=2026-12-02T12:00:01Z"), 0);
}

TEST_F(WebViewTest, BadParametersAre400WithTheReasonAndTheFormRefilled) {
  auto web = view();
  struct Case {
    std::string query;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"service=helo", "unknown service &#39;helo&#39;; did you mean &#39;hello&#39;?"},
      {"environment=prod", "unknown environment &#39;prod&#39;"},
      {"state=done", "unknown state &#39;done&#39;"},
      {"kind=hotfix", "unknown kind &#39;hotfix&#39;"},
      {"limit=0", "&#39;limit&#39; must be a whole number from 1 to 20, not &#39;0&#39;"},
      {"limit=21", "from 1 to 20"},
      {"limit=ten", "not &#39;ten&#39;"},
      {"before=-3", "&#39;before&#39; must be a whole number"},
      {"before=5&after=2", "give &#39;before&#39; or &#39;after&#39;, not both"},
      {"since=yesterday", "&#39;since&#39; must be a date (2026-12-06)"},
      {"since=2026-12-05&until=2026-12-01", "&#39;since&#39; must come before &#39;until&#39;"},
      {"servce=hello", "unknown parameter &#39;servce&#39;; did you mean &#39;service&#39;?"},
      {"service=a&service=b", "given more than once"},
  };
  for (const auto& c : cases) {
    auto response = get(web, "/deploys", c.query);
    EXPECT_EQ(response.status, 400) << c.query;
    EXPECT_NE(response.body.find(c.reason), std::string::npos) << c.query << "\n" << response.body;
    EXPECT_NE(response.body.find("<form class=\"filters\""), std::string::npos) << c.query;
  }
  // What was typed stays in the form, so nothing is lost.
  auto typo = get(web, "/deploys", "service=helo&by=bob");
  EXPECT_NE(typo.body.find("<option value=\"helo\" selected>helo (unknown)</option>"),
            std::string::npos);
  EXPECT_NE(typo.body.find("name=\"by\" type=\"text\" value=\"bob\""), std::string::npos);
  // JSON callers get the reason as JSON.
  auto json = get(web, "/deploys", "limit=0", "application/json");
  EXPECT_EQ(json.status, 400);
  EXPECT_EQ(boost::json::parse(json.body).at("error").as_string(),
            "'limit' must be a whole number from 1 to 20, not '0'");
  for (const auto& [path, query] :
       std::vector<std::pair<std::string, std::string>>{{"/incidents", "status=closed"},
                                                        {"/runbooks", "runbook=restart-helo"},
                                                        {"/dora", "weeks=500"},
                                                        {"/dora", "environment=prod"},
                                                        {"/deploy", "id=abc"},
                                                        {"/deploy", ""},
                                                        {"/", "x=1"}}) {
    EXPECT_EQ(get(web, path, query).status, 400) << path << "?" << query;
  }
}

TEST_F(WebViewTest, UnknownIdsAndPathsAre404) {
  auto web = view();
  auto deploy = get(web, "/deploy", "id=42");
  EXPECT_EQ(deploy.status, 404);
  EXPECT_NE(deploy.body.find("there is no deploy #42"), std::string::npos);
  EXPECT_EQ(get(web, "/incident", "id=INC-3").status, 404);
  EXPECT_EQ(get(web, "/runbook-run", "id=3").status, 404);
  EXPECT_EQ(get(web, "/nothing").status, 404);
}

TEST_F(WebViewTest, NowShowsWhatRunsLocksFreezesAndApprovalsWaiting) {
  add_deploy("hello", "staging", "v1", DeployState::succeeded);
  add_deploy("hello", "staging", "v2", DeployState::deploying);
  const auto waiting = add_deploy("api", "production", "v9", DeployState::awaiting_approval);
  approvals->record(waiting, "carol", "approve", "looks fine");
  ASSERT_TRUE(locks->acquire("service:api@production", "bob", "db migration", kNow + kHour));
  freezes->add("production", kNow - kHour, kNow + kDay, "release train", "carol");
  auto web = view();
  auto response = get(web, "/", "", "application/json");
  ASSERT_EQ(response.status, 200) << response.body;
  auto json = boost::json::parse(response.body).as_object();
  auto slots = json.at("slots").as_array();
  ASSERT_EQ(slots.size(), 4u);
  EXPECT_EQ(slots[0].at("live").at("version").as_string(), "v1");
  EXPECT_EQ(slots[0].at("in_progress").at("version").as_string(), "v2");
  EXPECT_TRUE(slots[1].at("live").is_null());
  EXPECT_EQ(json.at("locks").as_array()[0].at("reason").as_string(), "db migration");
  EXPECT_EQ(json.at("freezes").as_array()[0].at("reason").as_string(), "release train");
  EXPECT_TRUE(json.at("freezes").as_array()[0].at("in_force").as_bool());
  auto wait = json.at("approvals_waiting").as_array()[0].as_object();
  EXPECT_EQ(wait.at("deploy").as_int64(), waiting);
  EXPECT_EQ(wait.at("needed").as_int64(), 2);
  EXPECT_EQ(wait.at("decisions").as_array()[0].at("by").as_string(), "carol");
  EXPECT_EQ(wait.at("expires_at").as_int64(), kNow + 2 * kHour);

  auto html = get(web, "/");
  EXPECT_NE(html.body.find("1 of 2"), std::string::npos);
  EXPECT_NE(html.body.find("db migration"), std::string::npos);
  EXPECT_NE(html.body.find("release train"), std::string::npos);
  EXPECT_NE(header(html, "Content-Security-Policy").find("default-src 'none'"), std::string::npos);
  EXPECT_EQ(html.body.find("<script"), std::string::npos);
  EXPECT_EQ(html.body.find("http://"), std::string::npos) << "no external reference";
}

TEST_F(WebViewTest, IncidentAndRunbookPagesShowTimelinesAndSteps) {
  auto declared = incidents->declare({"checkout errors", 2, {"hello"}, "alice"});
  incidents->append({0, declared.incident.id, kNow - kHour, kNow, "note", "alice", "rolled back"});
  storage::RunbookRunRecord run;
  run.runbook = "restart-hello";
  run.status = "running";
  run.started_by = "alice";
  const auto run_id = runs->create_run(run);
  storage::RunbookStepRecord step;
  step.run_id = run_id;
  step.phase = "main";
  step.name = "restart";
  step.attempt = 1;
  step.status = "started";
  runs->step_started(step, "running", "{}");
  auto web = view();
  auto incident = get(web, "/incident", "id=INC-" + std::to_string(declared.incident.id));
  ASSERT_EQ(incident.status, 200) << incident.body;
  EXPECT_NE(incident.body.find("rolled back"), std::string::npos);
  EXPECT_NE(incident.body.find("<table class=\"timeline\""), std::string::npos);
  auto list = boost::json::parse(get(web, "/incidents", "status=open", "application/json").body);
  EXPECT_EQ(list.at("incidents").as_array().size(), 1u);
  auto resolved =
      boost::json::parse(get(web, "/incidents", "status=resolved", "application/json").body);
  EXPECT_EQ(resolved.at("incidents").as_array().size(), 0u);
  auto steps = boost::json::parse(
      get(web, "/runbook-run", "id=" + std::to_string(run_id), "application/json").body);
  EXPECT_EQ(steps.at("run").at("runbook").as_string(), "restart-hello");
  EXPECT_EQ(steps.at("steps").as_array()[0].at("name").as_string(), "restart");
  auto filtered =
      boost::json::parse(get(web, "/runbooks", "runbook=health-report", "application/json").body);
  EXPECT_EQ(filtered.at("runs").as_array().size(), 0u);
}

// A private incident: shown in full to its people when they sign in as themselves (declarer,
// a role holder, an incidents.invite role, an admin), masked in lists and refused on its page
// for everyone else; an anonymous reader of its page is asked to sign in (401, Basic).
TEST_F(WebViewTest, APrivateIncidentIsShownToItsPeopleWhoSignInAndMaskedForAnyoneElse) {
  for (const auto& [id, role] :
       std::vector<std::pair<std::string, std::string>>{{"alice", "developer"},
                                                        {"bob", "developer"},
                                                        {"carol", "oncall"},
                                                        {"dave", "admin"},
                                                        {"erin", "developer"}}) {
    commands::UserSpec user;
    user.id = id;
    user.roles = {role};
    catalog.users.push_back(user);
  }
  storage::DeclareRequest request{"db credentials leaked", 1, {"api"}, "alice"};
  request.is_private = true;
  const auto secret = incidents->declare(request).incident.id;
  incidents->assign(secret, "comms", "bob");
  incidents->append({0, secret, kNow - kHour, kNow, "note", "alice", "rotated the key"});
  const auto open = incidents->declare({"checkout errors", 2, {"hello"}, "erin"}).incident.id;
  AccessPolicy access;
  access.bearer_token = "shared-tok-3141";
  for (const char* who : {"alice", "bob", "carol", "dave", "erin"})
    access.readers.push_back({who, std::string("pw-") + who});
  WebSources sources;
  sources.catalog = &catalog;
  sources.database = db.get();
  sources.clock = &clock;
  sources.deploys = &*deploys;
  sources.incidents = &*incidents;
  sources.incident_invite_roles = {"oncall"};
  WebSettings settings;
  settings.access = access;
  WebView web(std::move(sources), std::move(settings));
  auto as = [&](const std::string& authorization, const std::string& path, const std::string& query,
                const std::string& accept = "text/html") {
    return web.handle({path, query, accept, authorization, "127.0.0.1:5000"});
  };
  auto basic = [](const std::string& user, const std::string& password) {
    return "Basic " + base64_encode(user + ":" + password);
  };
  const std::string page = "id=INC-" + std::to_string(secret);
  auto titles = [&](const std::string& authorization) {
    auto list =
        boost::json::parse(as(authorization, "/incidents", "status=open", "application/json").body);
    std::vector<std::string> out;
    for (const auto& row : list.at("incidents").as_array())
      out.emplace_back(row.at("title").as_string());
    return out;
  };
  for (const char* member : {"alice", "bob", "carol", "dave"}) {
    const std::string signed_in = basic(member, std::string("pw-") + member);
    auto shown = as(signed_in, "/incident", page);
    ASSERT_EQ(shown.status, 200) << member << ": " << shown.body;
    EXPECT_NE(shown.body.find("db credentials leaked"), std::string::npos) << member;
    EXPECT_NE(shown.body.find("rotated the key"), std::string::npos) << member;
    EXPECT_EQ(titles(signed_in),
              (std::vector<std::string>{"checkout errors", "db credentials leaked"}))
        << member;
  }
  // erin is signed in but none of its people: masked, and its page is not found.
  const std::string erin = basic("erin", "pw-erin");
  EXPECT_EQ(titles(erin), (std::vector<std::string>{"checkout errors", "(private incident)"}));
  auto refused = as(erin, "/incident", page);
  EXPECT_EQ(refused.status, 404);
  EXPECT_NE(refused.body.find("is private"), std::string::npos) << refused.body;
  EXPECT_EQ(refused.body.find("db credentials leaked"), std::string::npos) << refused.body;
  EXPECT_EQ(refused.body.find("rotated the key"), std::string::npos) << refused.body;
  EXPECT_EQ(as(erin, "/incident", "id=INC-" + std::to_string(open)).status, 200);
  // The shared token reads as no one: masked, and the private page asks its people to sign in.
  const std::string shared = "Bearer shared-tok-3141";
  EXPECT_EQ(titles(shared), (std::vector<std::string>{"checkout errors", "(private incident)"}));
  auto sign_in = as(shared, "/incident", page);
  EXPECT_EQ(sign_in.status, 401);
  EXPECT_EQ(header(sign_in, "WWW-Authenticate"), "Basic realm=\"Shipmate\", charset=\"UTF-8\"");
  EXPECT_NE(sign_in.body.find("sign in as one of its people"), std::string::npos) << sign_in.body;
  EXPECT_EQ(sign_in.body.find("db credentials leaked"), std::string::npos);
  auto home = as(shared, "/", "", "application/json");
  EXPECT_EQ(home.body.find("db credentials leaked"), std::string::npos) << home.body;
  EXPECT_NE(as(basic("alice", "pw-alice"), "/", "", "application/json")
                .body.find("db credentials leaked"),
            std::string::npos);
  // A wrong password is no one at all.
  EXPECT_EQ(as(basic("alice", "pw-bob"), "/incident", page).status, 401);
  EXPECT_EQ(as("", "/incidents", "").status, 401);
}

// Incidents and runbook runs page both ways through the same paging_params as deploys: older
// (?before= the last row) and newer (?after= the first row), newest first on every page.
TEST_F(WebViewTest, IncidentAndRunbookListsPageOlderAndNewer) {
  for (int i = 1; i <= 8; ++i)
    incidents->declare({"incident number " + std::to_string(i), 2, {"hello"}, "alice"});
  for (int i = 1; i <= 7; ++i) {
    storage::RunbookRunRecord run;
    run.runbook = i % 2 == 1 ? "restart-hello" : "health-report";
    run.status = "finished";
    run.started_by = "alice";
    runs->create_run(run);
  }
  auto web = view();
  struct Page {
    std::vector<std::int64_t> ids;
    std::string older;  // "" for null
    std::string newer;
  };
  auto page = [&](const std::string& path, const std::string& query, const char* rows) {
    auto response = get(web, path, query, "application/json");
    EXPECT_EQ(response.status, 200) << path << "?" << query << ": " << response.body;
    Page out;
    auto json = boost::json::parse(response.body).as_object();
    for (const auto& row : json.at(rows).as_array())
      out.ids.push_back(row.at("id").as_int64());
    if (json.at("older").is_string())
      out.older = std::string(json.at("older").as_string());
    if (json.at("newer").is_string())
      out.newer = std::string(json.at("newer").as_string());
    return out;
  };
  using Ids = std::vector<std::int64_t>;
  auto first = page("/incidents", "", "incidents");  // page_size 3
  EXPECT_EQ(first.ids, (Ids{8, 7, 6}));
  EXPECT_EQ(first.older, "/incidents?before=6");
  EXPECT_EQ(first.newer, "");
  auto second = page("/incidents", "before=6", "incidents");
  EXPECT_EQ(second.ids, (Ids{5, 4, 3}));
  EXPECT_EQ(second.older, "/incidents?before=3");
  EXPECT_EQ(second.newer, "/incidents?after=5");
  auto last = page("/incidents", "before=3", "incidents");
  EXPECT_EQ(last.ids, (Ids{2, 1}));
  EXPECT_EQ(last.older, "");
  EXPECT_EQ(last.newer, "/incidents?after=2");
  auto back = page("/incidents", "after=2", "incidents");
  EXPECT_EQ(back.ids, (Ids{5, 4, 3}));
  EXPECT_EQ(back.older, "/incidents?before=3");
  EXPECT_EQ(back.newer, "/incidents?after=5");
  auto newest = page("/incidents", "after=5", "incidents");
  EXPECT_EQ(newest.ids, (Ids{8, 7, 6}));
  EXPECT_EQ(newest.newer, "");
  EXPECT_EQ(page("/incidents", "status=open&limit=2&before=8", "incidents").newer,
            "/incidents?status=open&limit=2&after=7");

  // The HTML pager links both ways, keeping the filters.
  auto html = get(web, "/incidents", "status=open&before=6");
  ASSERT_EQ(html.status, 200) << html.body;
  EXPECT_NE(html.body.find("href=\"/incidents?status=open&amp;after=5\">Newer</a>"),
            std::string::npos)
      << html.body;
  EXPECT_NE(html.body.find("href=\"/incidents?status=open&amp;before=3\">Older</a>"),
            std::string::npos);

  // Runbook runs of one runbook: ids 7, 5, 3, 1.
  auto runs_first = page("/runbooks", "runbook=restart-hello", "runs");
  EXPECT_EQ(runs_first.ids, (Ids{7, 5, 3}));
  EXPECT_EQ(runs_first.older, "/runbooks?runbook=restart-hello&before=3");
  EXPECT_EQ(runs_first.newer, "");
  auto runs_older = page("/runbooks", "runbook=restart-hello&before=3", "runs");
  EXPECT_EQ(runs_older.ids, (Ids{1}));
  EXPECT_EQ(runs_older.older, "");
  EXPECT_EQ(runs_older.newer, "/runbooks?runbook=restart-hello&after=1");
  auto runs_newer = page("/runbooks", "runbook=restart-hello&after=1", "runs");
  EXPECT_EQ(runs_newer.ids, (Ids{7, 5, 3}));
  EXPECT_EQ(runs_newer.newer, "");
  EXPECT_EQ(runs_newer.older, "/runbooks?runbook=restart-hello&before=3");
  auto runs_html = get(web, "/runbooks", "runbook=restart-hello&before=3");
  EXPECT_NE(runs_html.body.find("href=\"/runbooks?runbook=restart-hello&amp;after=1\">Newer</a>"),
            std::string::npos)
      << runs_html.body;

  // An empty page past either end still links back.
  auto beyond = get(web, "/incidents", "after=8");
  EXPECT_NE(beyond.body.find("href=\"/incidents?before=9\">Older</a>"), std::string::npos)
      << beyond.body;

  // The same parameter checks as the deploy history.
  for (const std::string path : {"/incidents", "/runbooks"}) {
    auto both = get(web, path, "before=5&after=2", "application/json");
    EXPECT_EQ(both.status, 400) << path;
    EXPECT_EQ(boost::json::parse(both.body).at("error").as_string(),
              "give 'before' or 'after', not both");
    EXPECT_EQ(get(web, path, "after=-1").status, 400) << path;
    EXPECT_EQ(get(web, path, "limit=21").status, 400) << path;
  }
}

TEST_F(WebViewTest, CredentialsAreRequiredWhenConfiguredAndNeverShown) {
  const std::string token = "web-view-token-5551212";
  register_secret(token);
  auto web = view(AccessPolicy{token, "", ""});
  auto refused = web.handle({"/deploys", "", "text/html", "", "127.0.0.1:5"});
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(header(refused, "WWW-Authenticate"), "Bearer realm=\"Shipmate\"");
  auto wrong = web.handle({"/deploys", "", "text/html", "Bearer " + token + "x", "127.0.0.1:5"});
  EXPECT_EQ(wrong.status, 401);
  auto ok = web.handle({"/deploys", "by=" + token, "text/html", "Bearer " + token, "10.0.0.9:5"});
  EXPECT_EQ(ok.status, 200);
  for (const auto* response : {&refused, &wrong, &ok}) {
    EXPECT_EQ(response->body.find(token), std::string::npos);
    for (const auto& [name, value] : response->headers)
      EXPECT_EQ(value.find(token), std::string::npos) << name;
    EXPECT_EQ(response->refusal.find(token), std::string::npos);
  }
  // Without credentials, another host is refused before anything is read.
  auto open = view();
  EXPECT_EQ(open.handle({"/", "", "", "", "192.168.1.4:80"}).status, 403);
  EXPECT_EQ(open.handle({"/style.css", "", "", "", "127.0.0.1:80"}).status, 200);
  clear_registered_secrets();
}

TEST_F(WebViewTest, DoraPageDrawsFourChartsOverTheChosenWeeks) {
  for (int i = 0; i < 30; ++i) {
    clock.set_ms(kNow - i * kDay);
    add_deploy(i % 2 ? "hello" : "api", "production", "v" + std::to_string(i),
               i % 5 == 0 ? DeployState::failed : DeployState::succeeded);
  }
  clock.set_ms(kNow);
  auto web = view();
  auto html = get(web, "/dora", "weeks=6");
  ASSERT_EQ(html.status, 200) << html.body;
  EXPECT_EQ(count(html.body, "<svg class=\"chart\""), 4u);
  for (const char* id :
       {"dora-frequency", "dora-lead-time", "dora-change-failure-rate", "dora-time-to-restore"}) {
    EXPECT_NE(html.body.find(std::string("id=\"") + id + "\""), std::string::npos) << id;
  }
  auto json = boost::json::parse(get(web, "/dora", "weeks=6&service=api", "application/json").body);
  EXPECT_EQ(json.at("environment").as_string(), "production");
  auto series = json.at("series").as_array();
  ASSERT_EQ(series.size(), 6u);
  long long changes = 0;
  for (const auto& week : series)
    changes += week.at("changes").as_int64();
  EXPECT_EQ(changes, 15);
}

// compute_dora_weeks gives, week by week, what compute_dora gives for the same span.
TEST(DoraWeeks, MatchComputeDoraOnRandomHistories) {
  std::mt19937 random(7);
  // Sunday 2026-12-06 00:00Z: the current week started Monday 2026-11-30.
  const EpochMillis now = 1796515200000;
  ASSERT_EQ(commands::week_start_utc(now), now - 6 * kDay);
  ASSERT_EQ(commands::week_start_utc(now - 6 * kDay), now - 6 * kDay);
  ASSERT_EQ(commands::week_start_utc(now - 6 * kDay - 1), now - 13 * kDay);
  for (int round = 0; round < 30; ++round) {
    std::vector<DeployRecord> history;
    std::map<std::string, std::string> live;
    const int n = 40 + static_cast<int>(random() % 80);
    for (int i = 0; i < n; ++i) {
      DeployRecord d;
      d.id = i + 1;
      d.service = random() % 2 ? "a" : "b";
      d.environment = random() % 4 ? "production" : "staging";
      d.requested_at = now - 30 * kDay + static_cast<EpochMillis>(i) * (30 * kDay / n);
      d.finished_at = d.requested_at + static_cast<EpochMillis>(random() % 3600) * 1000;
      if (random() % 3 == 0)
        d.committed_at = d.requested_at - static_cast<EpochMillis>(random() % 100) * kHour;
      const std::string key = d.service + "@" + d.environment;
      if (random() % 5 == 0 && !live[key].empty()) {
        d.kind = DeployKind::rollback;
        d.previous_version = live[key];
        d.version = "old";
      } else {
        d.kind = random() % 7 == 0 ? DeployKind::redeploy : DeployKind::deploy;
        d.version = "v" + std::to_string(i);
        d.previous_version = live[key];
      }
      const int pick = static_cast<int>(random() % 10);
      d.state = pick < 6   ? DeployState::succeeded
                : pick < 7 ? DeployState::failed
                : pick < 8 ? DeployState::rolled_back
                : pick < 9 ? DeployState::cancelled
                           : DeployState::timed_out;
      if (random() % 9 == 0)
        d.incident = "INC-" + std::to_string(1 + random() % 3);
      if (d.state == DeployState::succeeded)
        live[key] = d.version;
      history.push_back(d);
    }
    const std::map<std::string, EpochMillis> restores = {{"INC-1", kHour}, {"INC-2", 3 * kHour}};
    const auto weeks = commands::compute_dora_weeks(history, "production", now, 4, restores);
    ASSERT_EQ(weeks.size(), 4u);
    // The last week is this week so far: compute_dora over its six days.
    const auto last = commands::compute_dora(history, "production", now, 6, restores);
    EXPECT_EQ(weeks[3].report.changes, last.changes) << round;
    EXPECT_EQ(weeks[3].report.deployments, last.deployments) << round;
    EXPECT_EQ(weeks[3].report.failed_changes, last.failed_changes) << round;
    EXPECT_EQ(weeks[3].report.lead_time_median, last.lead_time_median) << round;
    EXPECT_EQ(weeks[3].report.restore_median, last.restore_median) << round;
    EXPECT_EQ(weeks[3].report.restores, last.restores) << round;
    long long changes = 0, deployments = 0;
    for (const auto& week : weeks) {
      changes += week.report.changes;
      deployments += week.report.deployments;
    }
    // All four weeks together: the 27 days from the first Monday.
    const auto all = commands::compute_dora(history, "production", now, 27, {});
    const auto all_weeks = commands::compute_dora_weeks(history, "production", now, 4, {});
    long long failed_no_incidents = 0;
    for (const auto& week : all_weeks)
      failed_no_incidents += week.report.failed_changes;
    EXPECT_EQ(changes, all.changes) << round;
    EXPECT_EQ(deployments, all.deployments) << round;
    EXPECT_EQ(failed_no_incidents, all.failed_changes) << round;
  }
}

TEST(WebConfig, OffByDefaultOnWithTheSectionAndCredentialsByReference) {
  shipmate::testing::TempDir dir;
  std::filesystem::create_directories(dir.file("releases/v1"));
  const std::string base = R"(shipmate:
  database: state/db.sqlite
environments:
  - name: staging
users:
  - {id: alice, roles: [sre]}
secrets:
  web_token: {env: SHIPMATE_TEST_WEB_TOKEN}
services:
  - name: hello
    target:
      kind: local
      releases: releases
      start: [python3, server.py]
      ports: {staging: 18081}
)";
  auto parse = [&](const std::string& extra) {
    return bot::parse_config(base + extra, dir.file("shipmate.yaml"));
  };
  auto first_error = [](const bot::ConfigLoad& load) {
    for (const auto& d : load.diagnostics) {
      if (d.severity == bot::Diagnostic::Severity::error)
        return d.to_string();
    }
    return std::string();
  };
  ::setenv("SHIPMATE_TEST_WEB_TOKEN", "tok-from-env-77", 1);
  auto none = parse("ops:\n  listen: {bind: 127.0.0.1, port: 0}\n");
  ASSERT_TRUE(none.ok()) << first_error(none);
  EXPECT_FALSE(none.config->web.enabled);

  auto bare = parse("ops:\n  listen: {bind: 127.0.0.1, port: 0}\n  web:\n");
  ASSERT_TRUE(bare.ok()) << first_error(bare);
  EXPECT_TRUE(bare.config->web.enabled);
  EXPECT_EQ(bare.config->web.page_size, 50);

  auto off = parse("ops:\n  web: {enabled: false}\n");
  ASSERT_TRUE(off.ok()) << first_error(off);
  EXPECT_FALSE(off.config->web.enabled);

  auto open_to_network = parse("ops:\n  listen: {bind: 0.0.0.0, port: 9464}\n  web: {}\n");
  ASSERT_FALSE(open_to_network.ok());
  EXPECT_NE(first_error(open_to_network)
                .find("which other hosts can reach; give the web view "
                      "credentials"),
            std::string::npos)
      << first_error(open_to_network);

  auto token = parse(
      "ops:\n  bind: 0.0.0.0\n  web: {token: {secret: web_token}, page_size: 20, dora_weeks: "
      "26}\n");
  ASSERT_TRUE(token.ok()) << first_error(token);
  EXPECT_EQ(token.config->web.token, "tok-from-env-77");
  EXPECT_EQ(token.config->web.page_size, 20);
  EXPECT_EQ(token.config->web.dora_weeks, 26);
  EXPECT_EQ(redact("x tok-from-env-77"), "x [REDACTED]");

  auto literal = parse("ops:\n  web: {token: plain-text-token}\n");
  EXPECT_FALSE(literal.ok());
  auto typo = parse("ops:\n  web: {pagesize: 20}\n");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(first_error(typo).find("page_size"), std::string::npos) << first_error(typo);
  auto half_basic = parse("ops:\n  web: {basic: {user: viewer}}\n");
  EXPECT_FALSE(half_basic.ok());

  // Readers sign in as themselves: each a user of users:, the password by reference.
  auto readers = parse(
      "ops:\n  bind: 0.0.0.0\n  web: {readers: [{user: alice, password: {secret: "
      "web_token}}]}\n");
  ASSERT_TRUE(readers.ok()) << first_error(readers);
  ASSERT_EQ(readers.config->web.readers.size(), 1u);
  EXPECT_EQ(readers.config->web.readers[0].first, "alice");
  EXPECT_EQ(readers.config->web.readers[0].second, "tok-from-env-77");
  auto stranger =
      parse("ops:\n  web: {readers: [{user: mallory, password: {secret: web_token}}]}\n");
  ASSERT_FALSE(stranger.ok());
  EXPECT_NE(first_error(stranger).find("mallory is not one of users:"), std::string::npos)
      << first_error(stranger);
  auto plain = parse("ops:\n  web: {readers: [{user: alice, password: hunter2}]}\n");
  EXPECT_FALSE(plain.ok());
  ::unsetenv("SHIPMATE_TEST_WEB_TOKEN");
  clear_registered_secrets();
}

}  // namespace
}  // namespace shipmate::web
