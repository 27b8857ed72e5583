// End-to-end: runbooks through the real binary where they meet other systems, over real sockets:
// a secret planted in a command's output, its error and an HTTP answer appears nowhere (chat, logs,
// journal, audit, the database file, step logs, children's command lines); a Prometheus wait
// against the fake Prometheus; a confirmation clicked as a button in the fake Slack.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/e2e/runbook_e2e_support.h"
#include "tests/support/fake_http_server.h"
#include "tests/support/fake_prometheus.h"
#include "tests/support/fake_slack.h"

namespace shipmate::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kSecret = "pl4nted-s3cret-e2e-5d1c";

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Every process's command line on the machine, NULs as spaces.
std::vector<std::string> all_command_lines() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos)
      continue;
    std::string line = slurp(entry.path() / "cmdline");
    for (auto& c : line) {
      if (c == '\0')
        c = ' ';
    }
    out.push_back(line);
  }
  return out;
}

class RunbookIntegrations : public RunbookE2e {};

TEST_F(RunbookIntegrations, APlantedSecretAppearsNowhere) {
  // An HTTP service that answers with the secret it was sent, in a 200 and in a 500.
  FakeHttpServer echo([](const FakeRequest& request) {
    const std::string auth = request.header("Authorization");
    const std::string token = auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : "";
    if (request.path == "/fail")
      return FakeResponse::json(500, R"({"error":"token )" + token + R"( rejected"})");
    return FakeResponse::json(200, R"({"echo":")" + token + R"(","ok":true})");
  });
  write_config("secrets:\n  api: {env: RB_E2E_SECRET}\n");
  write_runbook("leaky", R"(runbook: leaky
params:
  - {name: token, type: secret, default: {secret: api}}
on_failure: continue
steps:
  - name: output
    safety: idempotent
    exec:
      argv: [sh, -c, 'echo "out $TOKEN"; cat "$TOKEN_FILE"; echo; while [ ! -f "$GO" ]; do sleep 0.02; done']
      env: {TOKEN: "{token}", GO: ")" +
                             dir.file("go") + R"("}
      files: {TOKEN_FILE: "{token}"}
  - name: error
    safety: idempotent
    exec:
      argv: [sh, -c, 'echo "cannot use $TOKEN" >&2; exit 3']
      env: {TOKEN: "{token}"}
  - name: answer
    safety: idempotent
    http:
      url: ")" + echo.base_url() +
                             R"(/echo"
      headers: {Authorization: "Bearer {token}"}
      capture: {echoed: echo}
  - name: refused
    safety: idempotent
    http:
      url: ")" + echo.base_url() +
                             R"(/fail"
      headers: {Authorization: "Bearer {token}"}
  - name: tell
    notify: "the answer said {steps.answer.echoed}"
)");
  auto chat = start_chat("alice", {{"RB_E2E_SECRET", kSecret}});
  chat->write("runbook run leaky\n");
  // While the first step's process runs, no command line on the machine holds the secret.
  ASSERT_TRUE(eventually([&] {
    return fs::exists(dir.file("state/run/runbooks/1/output-1.log")) &&
           has(slurp(dir.file("state/run/runbooks/1/output-1.log")), "out ");
  })) << chat->output();
  bool child_seen = false;
  for (const auto& line : all_command_lines()) {
    EXPECT_FALSE(has(line, kSecret)) << line;
    child_seen = child_seen || has(line, "while [ ! -f");
  }
  EXPECT_TRUE(child_seen) << "the step's process was not running when the command lines were read";
  write_file(dir.file("go"), "");
  ASSERT_TRUE(chat->wait_for_output("Runbook leaky #1 succeeded", 30s)) << chat->output();
  finish(*chat);

  // The secret did reach where it was meant to: the process and the HTTP service.
  ASSERT_EQ(echo.requests_to("GET", "/echo").size(), 1u);
  EXPECT_EQ(echo.requests_to("GET", "/echo")[0].header("Authorization"),
            std::string("Bearer ") + kSecret);
  const std::string out = chat->output();
  EXPECT_TRUE(has(out, "out [REDACTED]")) << out;
  EXPECT_TRUE(has(out, "the answer said [REDACTED]")) << out;
  EXPECT_TRUE(has(out, "token [REDACTED] rejected")) << out;
  EXPECT_TRUE(has(out, "cannot use [REDACTED]")) << out;
  // Nowhere: chat and logs (one stream here), the database file and its WAL, step logs.
  EXPECT_FALSE(has(out, kSecret)) << out;
  for (const auto& entry : fs::recursive_directory_iterator(dir.file("state"))) {
    if (entry.is_regular_file()) {
      EXPECT_FALSE(has(slurp(entry.path()), kSecret)) << entry.path();
    }
  }
  EXPECT_EQ(count("SELECT COUNT(*) FROM runbook_steps WHERE log LIKE '%[REDACTED]%' OR detail LIKE "
                  "'%[REDACTED]%'"),
            4);
  EXPECT_EQ(query(db(), "SELECT params FROM runbook_runs"),
            std::vector<std::string>{"token=secret:api\n"});
  EXPECT_TRUE(audit_intact());
}

TEST_F(RunbookIntegrations, APrometheusWaitPollsTheFakePrometheusUntilTheQueryIsWithinBounds) {
  FakePrometheus prometheus;
  const std::string query_text = R"(sum(rate(http_errors_total{env="staging"}[1m])))";
  prometheus.set_vector(query_text, {{{{"env", "staging"}}, "0.4"}});
  write_config("metrics: {prometheus: \"" + prometheus.url() + "\"}\n");
  write_runbook("calm", R"(runbook: calm
service: hello
params:
  - {name: env, type: environment, default: staging}
steps:
  - name: errors-low
    timeout: 2m
    wait: {prometheus: 'sum(rate(http_errors_total{{env="{env}"}}[1m]))', max: 0.05, interval: 100ms}
  - {name: tell, notify: "errors are down in {env}"}
)");
  write_runbook("never-calm", R"(runbook: never-calm
service: hello
params:
  - {name: env, type: environment, default: staging}
steps:
  - name: errors-low
    timeout: 1s
    wait: {prometheus: 'sum(rate(http_errors_total{{env="{env}"}}[1m]))', max: 0.05, interval: 100ms}
)");
  auto chat = start_chat();
  chat->write("runbook run calm\n");
  // Breaching: the wait polls and keeps waiting.
  ASSERT_TRUE(eventually([&] { return prometheus.queries().size() >= 3; })) << chat->output();
  EXPECT_EQ(prometheus.queries().front(), query_text);
  EXPECT_EQ(query(db(), "SELECT status FROM runbook_runs WHERE id = 1"),
            std::vector<std::string>{"running"});
  prometheus.set_vector(query_text, {{{{"env", "staging"}}, "0.01"}});
  ASSERT_TRUE(chat->wait_for_output("Runbook calm #1 succeeded", 30s)) << chat->output();
  EXPECT_TRUE(has(chat->output(), "errors are down in staging")) << chat->output();

  // A wait that never gets there fails at its timeout, saying what it last saw.
  prometheus.set_vector(query_text, {{{{"env", "staging"}}, "0.4"}});
  std::string out = say(*chat, "runbook run never-calm", "Runbook never-calm #2 failed");
  EXPECT_TRUE(has(out, "0.4")) << out;
  finish(*chat);
  EXPECT_EQ(query(db(), "SELECT id, status FROM runbook_runs ORDER BY id"),
            (std::vector<std::string>{"1|succeeded", "2|failed"}));
}

TEST_F(RunbookIntegrations, APlaceholderInsideAValueReachesPrometheusAsText) {
  // The value "a{env}b" is substituted once, escaped for a PromQL string, and never expanded
  // again: Prometheus gets exactly up{job="a{env}b"}, and the wait passes.
  FakePrometheus prometheus;
  const std::string query_text = R"(up{job="a{env}b"})";
  prometheus.set_vector(query_text, {{{{"job", "a{env}b"}}, "1"}});
  write_config("metrics: {prometheus: \"" + prometheus.url() + "\"}\n");
  write_runbook("up", R"(runbook: up
service: hello
params:
  - {name: env, type: environment, default: staging}
  - {name: job, type: string}
steps:
  - name: is-up
    timeout: 1m
    wait: {prometheus: 'up{{job="{job}"}}', min: 1, interval: 100ms}
)");
  auto chat = start_chat();
  std::string out = say(*chat, "runbook run up job=a{env}b", "Runbook up #1 succeeded");
  EXPECT_FALSE(has(out, "has no value")) << out;
  finish(*chat);
  ASSERT_FALSE(prometheus.queries().empty());
  EXPECT_EQ(prometheus.queries().front(), query_text);
}

TEST_F(RunbookIntegrations, AConfirmationIsAnsweredByAButtonClickedInSlack) {
  FakeSlack slack;
  write_config("slack: {connections: 1}\n");
  write_runbook("ask", R"(runbook: ask
service: hello
params:
  - {name: env, type: environment, default: staging}
steps:
  - {name: sure, confirm: {prompt: "go on in {env}?", roles: [sre]}}
  - {name: tell, notify: "confirmed by {steps.sure.by}"}
)");
  auto shipmate = std::make_unique<Subprocess>(
      std::vector<std::string>{shipmate_binary(), "--log-level", "info", "serve", "--no-terminal",
                               "--config", dir.file("shipmate.yaml")},
      std::map<std::string, std::string>{{"SLACK_APP_TOKEN", slack.options().app_token},
                                         {"SLACK_BOT_TOKEN", slack.options().bot_token},
                                         {"SLACK_API_URL", slack.api_url()}});
  ASSERT_TRUE(shipmate->wait_for_output("shipmate ready", 20s)) << shipmate->output();
  ASSERT_TRUE(slack.wait_for_connections(1, 20s)) << shipmate->output();

  FakeSlack::MentionSpec mention;
  mention.event_id = "EvRunbook1";
  mention.user = "UALICE";
  mention.text = "<@UBOT> runbook run ask";
  mention.ts = "1700000100.000100";
  slack.send_envelope("events_api", FakeSlack::app_mention_event(mention));
  // The question is asked in the run's thread with a Confirm button that carries its command.
  std::string question_ts;
  ASSERT_TRUE(eventually([&] {
    for (const auto& message : slack.messages()) {
      if (has(message.text, "go on in staging?") &&
          has(message.blocks, "\"value\":\"runbook confirm 1\"")) {
        question_ts = message.ts;
        return true;
      }
    }
    return false;
  })) << shipmate->output();

  auto click = [&](const std::string& user, const std::string& trigger) {
    FakeSlack::BlockActionSpec action;
    action.user_id = user;
    action.value = "runbook confirm 1";
    action.button_text = "Confirm";
    action.action_id = "shipmate_cmd_0";
    action.trigger_id = trigger;
    action.message_ts = question_ts;
    slack.send_envelope("interactive", FakeSlack::block_actions(action));
  };
  // Bob is no sre: his click is refused, and the run still waits.
  click("UBOB", "t-bob");
  ASSERT_TRUE(eventually([&] {
    for (const auto& message : slack.messages()) {
      if (has(message.text, "bob may not confirm this step; it needs: sre"))
        return true;
    }
    return false;
  })) << shipmate->output();
  click("UALICE", "t-alice");
  ASSERT_TRUE(eventually([&] {
    for (const auto& message : slack.messages()) {
      if (has(message.text, "Runbook ask #1 succeeded"))
        return true;
    }
    return false;
  })) << shipmate->output();
  bool told = false;
  for (const auto& message : slack.messages())
    told = told || has(message.text, "confirmed by alice");
  EXPECT_TRUE(told);
  shipmate->send_signal(SIGTERM);
  EXPECT_EQ(shipmate->wait(30s), 0) << shipmate->output();
  EXPECT_EQ(count("SELECT COUNT(*) FROM audit_log WHERE action = 'runbook.confirmed' AND actor = "
                  "'alice'"),
            1);
}

}  // namespace
}  // namespace shipmate::testing
