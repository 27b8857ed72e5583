#include "bot/doctor.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdlib>
#include <deque>
#include <memory>
#include <optional>

#include "bot/integrations_setup.h"
#include "bot/slack/web_api.h"
#include "bot/teams/teams_auth.h"
#include "commands/verification.h"
#include "common/clock.h"
#include "common/redact.h"
#include "integrations/net/http_client.h"

namespace shipmate::bot {
namespace asio = boost::asio;

namespace {

using Verdict = DoctorCheck::Verdict;

DoctorCheck ok(std::string name, std::string detail) {
  return {std::move(name), Verdict::ok, redact(detail)};
}
DoctorCheck failed(std::string name, std::string detail) {
  return {std::move(name), Verdict::failed, redact(detail)};
}
DoctorCheck skipped(std::string name, std::string detail) {
  return {std::move(name), Verdict::skipped, std::move(detail)};
}

using CheckFn = std::function<asio::awaitable<DoctorCheck>()>;

// Runs `check` on `io` until it answers or `timeout` passes. A check that runs out is abandoned,
// not cancelled: it may resume during later checks, so the function (whose captures its
// coroutine uses) is kept in `keep`, which outlives every later run of the loop.
DoctorCheck run_one(asio::io_context& io, std::chrono::milliseconds timeout,
                    const std::string& name, CheckFn check, std::deque<CheckFn>& keep) {
  keep.push_back(std::move(check));
  auto answer = std::make_shared<std::optional<DoctorCheck>>();
  asio::co_spawn(io, keep.back()(), [answer](std::exception_ptr error, DoctorCheck result) {
    if (!error) {
      *answer = std::move(result);
      return;
    }
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      *answer = DoctorCheck{"", Verdict::failed, redact(e.what())};
    }
  });
  io.restart();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!answer->has_value() && std::chrono::steady_clock::now() < deadline) {
    if (io.run_one_until(deadline) == 0 && io.stopped())
      break;
  }
  if (!answer->has_value())
    return failed(name, "no answer within " + std::to_string(timeout.count() / 1000) + " s");
  DoctorCheck out = std::move(**answer);
  if (out.name.empty())
    out.name = name;
  return out;
}

std::string slack_api_url(const DoctorOptions& options) {
  std::string url = options.environment("SLACK_API_URL");
  if (url.empty())
    return "https://slack.com/api/";
  return url.back() == '/' ? url : url + "/";
}

}  // namespace

std::string DoctorCheck::line() const {
  const char* mark = verdict == Verdict::ok       ? "ok    "
                     : verdict == Verdict::failed ? "FAIL  "
                                                  : "skip  ";
  return mark + name + ": " + detail;
}

Result<std::vector<DoctorCheck>> run_doctor_checks(const Config& config,
                                                   const DoctorOptions& options) {
  std::vector<DoctorCheck> out;
  // The integrations live on their own loop; each check runs it until it answers.
  auto io = std::make_unique<asio::io_context>();
  std::deque<CheckFn> keep;  // after `io`: destroyed first, once nothing runs the loop again
  auto built = build_integrations(io->get_executor(), config);
  if (!built)
    return built.error();
  std::unique_ptr<Integrations> connected = std::move(*built);

  // --- Slack -----------------------------------------------------------------------------------
  integrations::net::HttpClientOptions slack_http_options;
  slack_http_options.ca_file = config.slack.ca_file;
  integrations::net::HttpClient slack_http(io->get_executor(), slack_http_options);
  const std::string bot_token = options.environment("SLACK_BOT_TOKEN");
  const std::string app_token = options.environment("SLACK_APP_TOKEN");
  register_secret(bot_token);
  register_secret(app_token);
  slack::WebApiOptions web_options;
  web_options.base_url = slack_api_url(options);
  web_options.max_attempts = 1;
  slack::WebApi web(io->get_executor(), slack_http, bot_token, web_options);
  if (bot_token.empty()) {
    out.push_back(skipped("slack", "not configured (SLACK_BOT_TOKEN is not set)"));
  } else {
    out.push_back(run_one(
        *io, options.timeout, "slack bot token",
        [&web]() -> asio::awaitable<DoctorCheck> {
          std::string method = "auth.test";
          std::string body = "{}";
          std::string token;
          auto reply = co_await web.call(std::move(method), std::move(body), std::move(token));
          if (!reply)
            co_return failed("slack bot token", reply.error().message);
          co_return ok("slack bot token", "auth.test accepted it (team " + reply->field("team") +
                                              ", bot " + reply->field("user") + ")");
        },
        keep));
    if (config.slack.mode == "socket") {
      if (app_token.empty()) {
        out.push_back(
            failed("slack app token", "SLACK_APP_TOKEN is not set (Socket Mode needs it)"));
      } else {
        out.push_back(run_one(
            *io, options.timeout, "slack app token",
            [&web, &app_token]() -> asio::awaitable<DoctorCheck> {
              std::string method = "apps.connections.open";
              std::string body = "{}";
              std::string token = app_token;
              auto reply = co_await web.call(std::move(method), std::move(body), std::move(token));
              if (!reply)
                co_return failed("slack app token", reply.error().message);
              co_return ok("slack app token", "apps.connections.open issued a Socket Mode URL");
            },
            keep));
      }
    }
  }

  // --- Teams -----------------------------------------------------------------------------------
  auto teams_settings = teams::load_teams_settings(config, options.environment);
  std::unique_ptr<integrations::net::HttpClient> teams_http;
  std::unique_ptr<teams::ConnectorCredentials> teams_credentials;
  SystemClock clock;
  if (!teams_settings) {
    out.push_back(failed("teams", teams_settings.error().message));
  } else if (!*teams_settings || (*teams_settings)->app_id.empty()) {
    out.push_back(skipped("teams", "not configured (no MicrosoftAppId)"));
  } else {
    const teams::TeamsSettings& settings = **teams_settings;
    integrations::net::HttpClientOptions teams_http_options;
    teams_http_options.ca_file = settings.ca_file;
    teams_http =
        std::make_unique<integrations::net::HttpClient>(io->get_executor(), teams_http_options);
    teams_credentials =
        teams::make_connector_credentials(io->get_executor(), settings, *teams_http, clock);
    const std::string token_url = settings.token_url();
    out.push_back(run_one(
        *io, options.timeout, "teams app credentials",
        [&teams_credentials, token_url]() -> asio::awaitable<DoctorCheck> {
          auto token = co_await teams_credentials->bearer();
          if (!token)
            co_return failed("teams app credentials", token.error().message);
          co_return ok("teams app credentials", token_url + " issued a connector token");
        },
        keep));
  }

  // --- Deploy targets and CI builds --------------------------------------------------------------
  for (auto& [service, target] : connected->targets) {
    const std::string name = target->kind() + " (service " + service + ")";
    integrations::DeployTarget* raw = target.get();
    DoctorCheck check = run_one(
        *io, options.timeout, name,
        [raw, name]() -> asio::awaitable<DoctorCheck> {
          auto read = co_await raw->check_access();
          if (!read)
            co_return failed(name, read.error().message);
          if (!*read)
            co_return skipped(name, "nothing to reach");
          co_return ok(name, **read);
        },
        keep);
    if (check.verdict != Verdict::skipped)
      out.push_back(std::move(check));
  }
  for (auto& [service, provider] : connected->builds) {
    const std::string name = provider->kind() + " build (service " + service + ")";
    integrations::CiProvider* raw = provider.get();
    out.push_back(run_one(
        *io, options.timeout, name,
        [raw, name]() -> asio::awaitable<DoctorCheck> {
          auto read = co_await raw->check_access();
          if (!read)
            co_return failed(name, read.error().message);
          co_return ok(name, "read " + *read);
        },
        keep));
  }

  // --- Prometheus ------------------------------------------------------------------------------
  if (!connected->metrics) {
    out.push_back(skipped("prometheus", "not configured"));
  } else {
    commands::MetricsSource* source = connected->metrics.get();
    out.push_back(run_one(
        *io, options.timeout, "prometheus",
        [source]() -> asio::awaitable<DoctorCheck> {
          const commands::MetricCheckSpec spec{"doctor", "vector(1)", 2.0, {}};
          const std::map<std::string, std::string> vars;
          commands::CheckOutcome outcome = co_await source->evaluate(spec, vars);
          if (outcome.verdict == commands::CheckVerdict::inconclusive)
            co_return failed("prometheus", outcome.message);
          co_return ok("prometheus", "answered the query vector(1)");
        },
        keep));
  }

  // Whatever a timed-out check left behind is abandoned with the loop, after the integrations
  // it refers to are gone from view: the loop is destroyed last.
  connected.reset();
  return out;
}

int run_doctor(const Config& config, std::FILE* out) {
  DoctorOptions options;
  options.environment = [](const char* name) {
    const char* value = std::getenv(name);
    return std::string(value ? value : "");
  };
  auto checks = run_doctor_checks(config, options);
  if (!checks) {
    std::fprintf(out, "FAIL  configuration: %s\n", redact(checks.error().message).c_str());
    return 2;
  }
  int failures = 0;
  for (const auto& check : *checks) {
    std::fprintf(out, "%s\n", check.line().c_str());
    failures += check.verdict == Verdict::failed ? 1 : 0;
  }
  std::fprintf(out, "%s\n",
               failures == 0
                   ? "doctor: every check passed"
                   : ("doctor: " + std::to_string(failures) + " check(s) failed").c_str());
  return failures == 0 ? 0 : 1;
}

}  // namespace shipmate::bot
