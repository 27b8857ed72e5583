// shipmate: the ChatOps bot and release orchestrator. See README.md for a tour.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstdlib>

#include "bot/allocator_tuning.h"
#include "bot/app.h"
#include "bot/config.h"
#include "bot/doctor.h"
#include "bot/integrations_setup.h"
#include "bot/logging.h"
#include "common/redact.h"
#include "storage/copy.h"
#include "storage/database.h"

namespace {

using shipmate::bot::Config;
using shipmate::bot::Diagnostic;

// Loads the configuration, printing every diagnostic; nullopt when it has errors.
std::optional<Config> load_or_report(const std::string& path) {
  auto load = shipmate::bot::load_config(path);
  for (const auto& diagnostic : load.diagnostics) {
    std::fprintf(stderr, "%s\n", diagnostic.to_string().c_str());
  }
  return std::move(load.config);
}

void apply_overrides(Config& config, const std::string& database, const std::string& state_dir) {
  if (!database.empty()) {
    config.database_path = database;
    // A password in a URI given on the command line is still kept out of every message.
    if (shipmate::storage::Database::is_postgresql(database))
      shipmate::storage::Database::postgresql_uri_problem(database, true);
  }
  if (!state_dir.empty())
    config.state_dir = state_dir;
}

// `shipmate storage copy`: prints what was copied and whether the copy's audit chain verifies.
int run_storage_copy(const std::string& from, const std::string& to) {
  auto copied = shipmate::storage::copy_database(from, to);
  if (!copied) {
    std::fprintf(stderr, "shipmate: %s\n", shipmate::redact(copied.error().message).c_str());
    return 2;
  }
  std::printf("copied %s to %s:\n", copied->from.c_str(), copied->to.c_str());
  for (const auto& [table, rows] : copied->rows)
    std::printf("  %-18s %lld rows\n", table.c_str(), static_cast<long long>(rows));
  if (!copied->audit.ok) {
    std::printf("audit log on the copy FAILED verification: %s\n",
                shipmate::redact(copied->audit.problem).c_str());
    return 1;
  }
  std::printf("audit log intact on the copy (%lld records)\n",
              static_cast<long long>(copied->audit.records_checked));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  shipmate::bot::tune_allocator(argv);
  CLI::App app{"Shipmate: deploy, roll back and coordinate incidents from chat."};
  app.require_subcommand(1);
  std::string log_format = "text";
  std::string log_level;
  app.add_option("--log-format", log_format, "Log format on stderr")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.set_version_flag("--version", "shipmate 0.1.0");

  std::string config_path;
  std::string database;
  std::string state_dir;
  std::string as_user;

  auto* serve = app.add_subcommand(
      "serve", "Run Shipmate: chat transports, deploy targets and schedules, until stopped");
  serve->add_option("--config", config_path, "Configuration file")->required();
  serve->add_option("--database", database,
                    "SQLite file or postgresql:// URI (overrides shipmate.database)");
  serve->add_option("--state-dir", state_dir, "State directory (overrides shipmate.state_dir)");
  serve->add_option("--as", as_user, "Identity for terminal chat (default: terminal.user)");
  bool no_terminal = false;
  serve->add_flag("--no-terminal", no_terminal, "Do not read commands from standard input");

  auto* chat = app.add_subcommand(
      "chat", "Terminal chat: read commands from standard input (a TTY or a script) until it ends");
  chat->add_option("--config", config_path, "Configuration file")->required();
  chat->add_option("--as", as_user, "Identity to act as (default: terminal.user)");
  chat->add_option("--database", database,
                   "SQLite file or postgresql:// URI (overrides shipmate.database)");
  chat->add_option("--state-dir", state_dir, "State directory (overrides shipmate.state_dir)");

  std::string check_path;
  auto* check = app.add_subcommand("check-config", "Validate a configuration file and exit");
  check->add_option("file", check_path, "Configuration file")->required();

  auto* doctor = app.add_subcommand(
      "doctor", "Check that chat, deploy targets, CI and Prometheus accept the credentials");
  doctor->add_option("--config", config_path, "Configuration file")->required();

  auto* audit = app.add_subcommand("audit", "Audit log tools");
  audit->require_subcommand(1);
  auto* verify = audit->add_subcommand("verify", "Verify the audit log's hash chain");
  verify->add_option("--config", config_path, "Configuration file")->required();
  verify->add_option("--database", database,
                     "SQLite file or postgresql:// URI (overrides shipmate.database)");

  auto* storage_command = app.add_subcommand("storage", "Database maintenance");
  storage_command->require_subcommand(1);
  auto* copy = storage_command->add_subcommand(
      "copy", "Copy every table into a new, empty database (SQLite <-> PostgreSQL)");
  std::string copy_from;
  std::string copy_to;
  copy->add_option("--from", copy_from, "sqlite:PATH, PATH or postgresql://...")->required();
  copy->add_option("--to", copy_to, "sqlite:PATH, PATH or postgresql://... (must be empty)")
      ->required();

  CLI11_PARSE(app, argc, argv);

  const bool interactive = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
  // Chat sessions keep the terminal for the conversation; logs there are for problems only.
  if (log_level.empty())
    log_level = chat->parsed() ? "warn" : "info";
  shipmate::bot::setup_logging(
      log_format == "json" ? shipmate::bot::LogFormat::json : shipmate::bot::LogFormat::text,
      log_level);

  if (check->parsed()) {
    auto load = shipmate::bot::load_config(check_path);
    for (const auto& diagnostic : load.diagnostics) {
      std::fprintf(stderr, "%s\n", diagnostic.to_string().c_str());
    }
    if (!load.ok())
      return 1;
    // Integrations are built (no network) so missing credentials or an unloadable kubeconfig
    // show up here rather than at the first deploy.
    {
      boost::asio::io_context io;
      auto built = shipmate::bot::build_integrations(io.get_executor(), *load.config);
      if (!built) {
        std::fprintf(stderr, "%s: error: %s\n", check_path.c_str(),
                     shipmate::redact(built.error().message).c_str());
        return 1;
      }
    }
    const auto& catalog = load.config->catalog;
    std::printf("%s: OK (%zu services, %zu environments, %zu users)\n", check_path.c_str(),
                catalog.services.size(), catalog.environments.size(), catalog.users.size());
    std::string names;
    for (const auto& runbook : load.config->runbooks)
      names += (names.empty() ? "" : ", ") + runbook.name;
    std::printf("%s: %zu runbooks valid (%s)\n", check_path.c_str(), load.config->runbooks.size(),
                names.c_str());
    return 0;
  }

  if (copy->parsed())
    return run_storage_copy(copy_from, copy_to);

  auto config = load_or_report(config_path);
  if (!config)
    return 2;
  apply_overrides(*config, database, state_dir);

  if (verify->parsed())
    return shipmate::bot::run_audit_verify(*config);
  if (doctor->parsed())
    return shipmate::bot::run_doctor(*config, stdout);

  shipmate::bot::AppOptions options;
  options.user = as_user.empty() ? config->terminal_user : as_user;
  if (options.user.empty()) {
    const char* login = std::getenv("USER");
    options.user = login ? login : "terminal";
  }
  options.interactive = interactive;
  if (chat->parsed()) {
    options.terminal = true;
    options.echo = !interactive;
  } else {
    options.terminal = !no_terminal && interactive;
    options.chat_platforms = true;
  }
  return shipmate::bot::run_app(*config, options);
}
