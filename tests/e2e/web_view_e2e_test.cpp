// End-to-end: the shipmate binary's web view (ops: web:) over real sockets, in headless
// Chromium (Debian's `chromium`, which must be installed: the test fails, never skips, without
// it). The database is seeded before the start with 10,000 deploys, an incident, a lock and a
// runbook run whose texts are hostile markup; each page is loaded (under its own CSP, which
// allows no script; --dump-dom itself needs the browser's JavaScript on), its DOM dumped and
// checked (complete, charts present, nothing injected), and a screenshot saved in
// the test output directory (<build>/test-output/web_view/, or $SHIPMATE_TEST_OUTPUT_DIR).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "common/strings.h"
#include "storage/database.h"
#include "storage/deploy_store.h"
#include "storage/incident_store.h"
#include "storage/lock_store.h"
#include "storage/runbook_store.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

using namespace std::chrono_literals;
constexpr EpochMillis kHour = 3600LL * 1000;
const std::string kHostile = "<img src=x onerror=alert(1)><script>alert(2)</script>\"'&";
const std::string kSecret = "web-view-secret-token-8675309";

std::size_t count(const std::string& text, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++n;
  return n;
}

std::string output_dir() {
  const char* env = std::getenv("SHIPMATE_TEST_OUTPUT_DIR");
  const std::filesystem::path dir =
      env != nullptr && *env != '\0'
          ? std::filesystem::path(env) / "web_view"
          : std::filesystem::path(shipmate_binary()).parent_path() / "test-output" / "web_view";
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::string find_chromium() {
  for (const char* candidate : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (::access(candidate, X_OK) == 0)
      return candidate;
  }
  return "";
}

// GET with headers over a fresh loopback connection; {status, headers+body}.
std::pair<int, std::string> raw_get(int port, const std::string& path,
                                    const std::vector<std::string>& headers = {}) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return {0, ""};
  }
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& header : headers)
    request += header + "\r\n";
  request += "\r\n";
  (void)!::write(fd, request.data(), request.size());
  std::string answer;
  char buffer[65536];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;)
    answer.append(buffer, static_cast<std::size_t>(n));
  ::close(fd);
  const int status = answer.size() > 12 ? std::atoi(answer.c_str() + 9) : 0;
  return {status, answer};
}

class WebViewE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    ops_port = free_port();
    std::filesystem::create_directories(dir.file("state"));
    seed();
  }

  // 10,000 deploys over 12 weeks (failures, rollbacks, commit times), an incident with a
  // timeline, a lock and a runbook run, many texts hostile, one deploy carrying kSecret.
  void seed() {
    auto opened = storage::Database::open(dir.file("state/shipmate.db"));
    ASSERT_TRUE(opened) << opened.error().message;
    auto& db = **opened;
    ManualClock clock(SystemClock().now_ms() - 12 * 7 * 24 * kHour);
    storage::DeployStore deploys(db, clock);
    // Spread over the 12 weeks before now, each deploy taking a minute.
    const EpochMillis step = (12 * 7 * 24 * kHour - 10'001 * 60'000) / 10'000;
    db.transaction([&] {
      for (int i = 1; i <= 10'000; ++i) {
        clock.advance_ms(step);
        const bool prod = i % 3 == 0;
        storage::NewDeploy request{
            i % 2 ? "hello" : "api",
            prod ? "production" : "staging",
            "v" + std::to_string(i),
            "v" + std::to_string(i - 1),
            i % 17 == 0 ? storage::DeployKind::rollback : storage::DeployKind::deploy,
            i % 5 ? "alice" : "bob",
            i % 10 == 0 ? kHostile : "routine",
            "",
            clock.now_ms() - 5 * kHour,
            ""};
        if (i == 9'999)
          request.reason = "leaked " + kSecret;
        const auto created = deploys.create(request);
        clock.advance_ms(60'000);
        deploys.transition(created.id,
                           i % 11 == 0   ? storage::DeployState::failed
                           : i % 13 == 0 ? storage::DeployState::rolled_back
                                         : storage::DeployState::succeeded,
                           i % 10 == 0 ? kHostile : "done");
      }
    });
    storage::IncidentStore incidents(db, clock);
    auto declared = incidents.declare({kHostile + " checkout errors", 2, {"hello"}, "alice"});
    incidents.append({0, declared.incident.id, clock.now_ms(), clock.now_ms(), "note", "alice",
                      "rolled back " + kHostile});
    storage::LockStore locks(db, clock);
    ASSERT_TRUE(locks.acquire("service:hello@staging", "bob", kHostile, std::nullopt));
    storage::RunbookStore runs(db, clock);
    storage::RunbookRunRecord run;
    run.runbook = "restart-hello";
    run.status = "succeeded";
    run.started_by = "alice";
    run.params = "env=staging\n";
    const auto run_id = runs.create_run(run);
    storage::RunbookStepRecord record;
    record.run_id = run_id;
    record.phase = "main";
    record.name = "restart";
    record.attempt = 1;
    const auto step_id = runs.step_started(record, "running", "{}");
    runs.step_finished(step_id, "succeeded", "restarted", "output " + kHostile, run_id, "succeeded",
                       "{}", true);
  }

  void write_config(const std::string& web_block) {
    write_file(dir.file("shipmate.yaml"), R"(shipmate:
  database: state/shipmate.db
  state_dir: state/run
ops:
  listen: {bind: 127.0.0.1, port: )" + std::to_string(ops_port) +
                                              "}\n" + web_block +
                                              R"(environments:
  - name: staging
  - name: production
    production: true
users:
  - {id: alice, roles: [sre]}
  - {id: erin, roles: [developer]}
secrets:
  web_token: {env: SHIPMATE_E2E_WEB_TOKEN}
services:
  - name: hello
    target:
      kind: local
      releases: )" + source_dir() + R"(/examples/hello/releases
      start: [python3, server.py]
      ports: {staging: )" + std::to_string(free_port()) +
                                              ", production: " + std::to_string(free_port()) +
                                              R"(}
  - name: api
    target:
      kind: local
      releases: )" + source_dir() + R"(/examples/hello/releases
      start: [python3, server.py]
      ports: {staging: )" + std::to_string(free_port()) +
                                              ", production: " + std::to_string(free_port()) +
                                              "}\n");
  }

  std::unique_ptr<Subprocess> start() {
    auto shipmate = std::make_unique<Subprocess>(
        std::vector<std::string>{shipmate_binary(), "--log-level", "info", "serve", "--no-terminal",
                                 "--config", dir.file("shipmate.yaml")},
        std::map<std::string, std::string>{{"SHIPMATE_E2E_WEB_TOKEN", kSecret}});
    EXPECT_TRUE(shipmate->wait_for_output("web view: http://", 30s)) << shipmate->output();
    return shipmate;
  }

  // Loads `path` in headless Chromium; returns the DOM after load and saves
  // a screenshot as <output dir>/<name>.png.
  std::string browse(const std::string& path, const std::string& name, int height = 1400) {
    const std::string chromium = find_chromium();
    if (chromium.empty()) {
      ADD_FAILURE() << "chromium is not installed (Debian: apt-get install chromium; "
                       "scripts/install-deps does it): the web view's page tests cannot run";
      return "";
    }
    const std::string shot = output_dir() + "/" + name + ".png";
    std::filesystem::remove(shot);
    TempDir profile;
    auto [code, out] =
        run_command({chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     "--disable-dev-shm-usage", "--user-data-dir=" + profile.path(),
                     "--window-size=1280," + std::to_string(height), "--screenshot=" + shot,
                     "--dump-dom", "http://127.0.0.1:" + std::to_string(ops_port) + path},
                    "", {}, "");
    EXPECT_EQ(code, 0) << out;
    EXPECT_TRUE(std::filesystem::exists(shot)) << "no screenshot " << shot << "\n" << out;
    if (std::filesystem::exists(shot)) {
      EXPECT_GT(std::filesystem::file_size(shot), 10'000u) << shot;
    }
    return out;
  }

  TempDir dir;
  int ops_port = 0;
};

// A DOM Chromium built from the page: complete, and no element made from hostile text.
void expect_complete_and_inert(const std::string& dom) {
  EXPECT_NE(dom.find("<footer>Read-only."), std::string::npos) << dom.substr(0, 2000);
  EXPECT_NE(dom.find("</html>"), std::string::npos);
  EXPECT_EQ(dom.find("<img"), std::string::npos) << "an element was injected";
  EXPECT_EQ(dom.find("<script"), std::string::npos) << "an element was injected";
}

TEST_F(WebViewE2E, PagesRenderInChromiumWithChartsAndNothingInjected) {
  write_config("  web: {}\n");
  auto shipmate = start();

  const std::string now = browse("/", "now");
  expect_complete_and_inert(now);
  EXPECT_NE(now.find("<h2>What runs where</h2>"), std::string::npos);
  EXPECT_NE(now.find("&lt;img src=x onerror=alert(1)&gt;"), std::string::npos)
      << "the lock's hostile reason shows as text";
  EXPECT_NE(now.find("service:hello@staging"), std::string::npos);

  // The ledger's first page over 10,000 deploys: complete, 50 rows, the count and the pager.
  const std::string deploys = browse("/deploys", "deploys", 2400);
  expect_complete_and_inert(deploys);
  EXPECT_NE(deploys.find("10000 deploys match."), std::string::npos);
  EXPECT_EQ(count(deploys, "<a href=\"/deploy?id="), 50u);
  EXPECT_NE(deploys.find(">Older</a>"), std::string::npos);

  // The largest page the view allows: 500 rows, complete.
  const std::string big = browse("/deploys?limit=500&environment=production", "deploys-500", 2400);
  expect_complete_and_inert(big);
  EXPECT_EQ(count(big, "<a href=\"/deploy?id="), 500u);

  const std::string dora = browse("/dora", "dora", 1100);
  expect_complete_and_inert(dora);
  EXPECT_EQ(count(dora, "<svg class=\"chart\""), 4u);
  EXPECT_GT(count(dora, "<rect class=\"bar\""), 12u) << "bars for the seeded weeks";
  for (const char* id :
       {"dora-frequency", "dora-lead-time", "dora-change-failure-rate", "dora-time-to-restore"}) {
    EXPECT_NE(dora.find(std::string("id=\"") + id + "\""), std::string::npos) << id;
  }

  const std::string incident = browse("/incident?id=1", "incident", 900);
  expect_complete_and_inert(incident);
  EXPECT_NE(incident.find("rolled back &lt;img"), std::string::npos);

  const std::string run = browse("/runbook-run?id=1", "runbook-run", 700);
  expect_complete_and_inert(run);
  EXPECT_NE(run.find("<details><summary>output</summary>"), std::string::npos);

  // A filter typed into the form: the GET it makes, with a typo, keeps what was typed.
  const std::string typo = browse("/deploys?service=helo&by=bob", "deploys-typo", 700);
  expect_complete_and_inert(typo);
  EXPECT_NE(typo.find("did you mean 'hello'?"), std::string::npos);
  EXPECT_NE(typo.find("value=\"bob\""), std::string::npos);

  // JSON of the same page over a real socket.
  auto [status, json] = raw_get(ops_port, "/deploys?limit=2", {"Accept: application/json"});
  EXPECT_EQ(status, 200);
  EXPECT_NE(json.find("\"total\":10000"), std::string::npos) << json;

  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
}

TEST_F(WebViewE2E, WithCredentialsEveryRequestNeedsThemAndNoSecretIsShown) {
  write_config(
      "  web: {token: {secret: web_token}, basic: {user: viewer, password: {secret: "
      "web_token}}}\n");
  auto shipmate = start();
  auto [none, none_body] = raw_get(ops_port, "/");
  EXPECT_EQ(none, 401);
  EXPECT_NE(none_body.find("WWW-Authenticate: Basic realm=\"Shipmate\""), std::string::npos);
  auto [wrong, wrong_body] = raw_get(ops_port, "/", {"Authorization: Bearer " + kSecret + "0"});
  EXPECT_EQ(wrong, 401);
  auto [bearer, bearer_body] =
      raw_get(ops_port, "/deploys?limit=5", {"Authorization: Bearer " + kSecret});
  EXPECT_EQ(bearer, 200);
  auto [basic, basic_body] = raw_get(
      ops_port, "/deploys?limit=5", {"Authorization: Basic " + base64_encode("viewer:" + kSecret)});
  EXPECT_EQ(basic, 200);
  EXPECT_NE(basic_body.find("leaked [REDACTED]"), std::string::npos);
  for (const auto* body : {&none_body, &wrong_body, &bearer_body, &basic_body})
    EXPECT_EQ(body->find(kSecret), std::string::npos) << *body;
  // Probes stay open.
  EXPECT_EQ(raw_get(ops_port, "/healthz").first, 200);

  // A browser with the Basic credentials in the URL gets the page and its stylesheet.
  const std::string chromium = find_chromium();
  ASSERT_FALSE(chromium.empty()) << "chromium is not installed";
  TempDir profile;
  const std::string shot = output_dir() + "/basic-auth.png";
  auto [code, dom] = run_command(
      {chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
       "--user-data-dir=" + profile.path(), "--window-size=1280,700", "--screenshot=" + shot,
       "--dump-dom",
       "http://viewer:" + kSecret + "@127.0.0.1:" + std::to_string(ops_port) + "/deploys?limit=5"});
  EXPECT_EQ(code, 0) << dom;
  EXPECT_NE(dom.find("<footer>Read-only."), std::string::npos) << dom.substr(0, 3000);

  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  EXPECT_EQ(shipmate->output().find(kSecret), std::string::npos) << "the log shows the secret";
  EXPECT_NE(shipmate->output().find("web view: refused GET / from 127.0.0.1"), std::string::npos)
      << shipmate->output();
}

// A private incident in Chromium: its declarer, signed in as herself (Basic in the URL), reads
// it in full; erin, signed in but none of its people, sees it masked and its page refused; the
// shared token reads as no one, so its page asks for a sign-in (401, Basic).
TEST_F(WebViewE2E, APrivateIncidentIsShownInChromiumToItsPeopleOnly) {
  {
    auto opened = storage::Database::open(dir.file("state/shipmate.db"));
    ASSERT_TRUE(opened) << opened.error().message;
    SystemClock clock;
    storage::IncidentStore incidents(**opened, clock);
    storage::DeclareRequest request{"db credentials leaked", 1, {"api"}, "alice"};
    request.is_private = true;
    ASSERT_EQ(incidents.declare(request).incident.id, 2);
  }
  write_config(
      "  web:\n    token: {secret: web_token}\n    readers:\n"
      "      - {user: alice, password: {secret: web_token}}\n"
      "      - {user: erin, password: {secret: web_token}}\n");
  auto shipmate = start();
  const std::string chromium = find_chromium();
  ASSERT_FALSE(chromium.empty()) << "chromium is not installed";
  auto as = [&](const std::string& user, const std::string& path, const std::string& name) {
    TempDir profile;
    auto [code, dom] = run_command(
        {chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-dev-shm-usage", "--user-data-dir=" + profile.path(), "--window-size=1280,900",
         "--screenshot=" + output_dir() + "/" + name + ".png", "--dump-dom",
         "http://" + user + ":" + kSecret + "@127.0.0.1:" + std::to_string(ops_port) + path},
        "", {}, "");
    EXPECT_EQ(code, 0) << dom;
    return dom;
  };
  const std::string alice_page = as("alice", "/incident?id=INC-2", "private-incident-alice");
  EXPECT_NE(alice_page.find("db credentials leaked"), std::string::npos)
      << alice_page.substr(0, 3000);
  EXPECT_NE(alice_page.find("<footer>Read-only."), std::string::npos);
  const std::string alice_list = as("alice", "/incidents", "private-incidents-alice");
  EXPECT_NE(alice_list.find("db credentials leaked"), std::string::npos)
      << alice_list.substr(0, 3000);
  const std::string erin_page = as("erin", "/incident?id=INC-2", "private-incident-erin");
  EXPECT_NE(erin_page.find("is private"), std::string::npos) << erin_page.substr(0, 3000);
  EXPECT_EQ(erin_page.find("db credentials leaked"), std::string::npos);
  const std::string erin_list = as("erin", "/incidents", "private-incidents-erin");
  EXPECT_NE(erin_list.find("(private incident)"), std::string::npos) << erin_list.substr(0, 3000);
  EXPECT_EQ(erin_list.find("db credentials leaked"), std::string::npos);
  auto [status, answer] =
      raw_get(ops_port, "/incident?id=INC-2", {"Authorization: Bearer " + kSecret});
  EXPECT_EQ(status, 401) << answer;
  EXPECT_NE(answer.find("WWW-Authenticate: Basic realm=\"Shipmate\""), std::string::npos) << answer;
  EXPECT_EQ(answer.find("db credentials leaked"), std::string::npos);
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
}

}  // namespace
}  // namespace shipmate::testing
