#include "bot/app.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>

#include "bot/integrations_setup.h"
#include "bot/router.h"
#include "bot/slack/slack_transport.h"
#include "bot/terminal.h"
#include "commands/command_table.h"
#include "commands/deploy_flow.h"
#include "commands/handlers.h"
#include "commands/resolve.h"
#include "common/redact.h"
#include "integrations/local_process_target.h"
#include "storage/approval_store.h"
#include "storage/audit_log.h"
#include "storage/database.h"
#include "storage/deploy_store.h"
#include "storage/inbox_store.h"
#include "storage/lock_store.h"

namespace shipmate::bot {
namespace asio = boost::asio;

namespace {

constexpr auto kShutdownDeadline = std::chrono::seconds(20);
// Platforms redeliver within minutes; a day of remembered keys is ample.
constexpr EpochMillis kInboxMemory = 24LL * 60 * 60 * 1000;

std::string environment_variable(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

// Slack joins when its credentials are in the environment: the bot token, plus the app-level
// token (Socket Mode) or the signing secret (HTTP mode).
std::optional<bot::slack::SlackOptions> slack_options(const Config& config) {
  bot::slack::SlackOptions options;
  options.mode = config.slack.mode;
  options.app_token = environment_variable("SLACK_APP_TOKEN");
  options.bot_token = environment_variable("SLACK_BOT_TOKEN");
  options.signing_secret = environment_variable("SLACK_SIGNING_SECRET");
  options.http_bind = config.slack.http_bind;
  options.http_port = config.slack.http_port;
  if (options.bot_token.empty())
    return std::nullopt;
  if (options.mode == "socket" && options.app_token.empty())
    return std::nullopt;
  if (options.mode == "http" && options.signing_secret.empty()) {
    spdlog::error("slack mode is http but SLACK_SIGNING_SECRET is not set; not joining Slack");
    return std::nullopt;
  }
  if (auto url = environment_variable("SLACK_API_URL"); !url.empty()) {
    options.api_url = url.back() == '/' ? url : url + "/";
  }
  options.connections = config.slack.connections;
  options.ca_file = config.slack.ca_file;
  options.pacing.interval = std::chrono::milliseconds(config.slack.reply_interval_ms);
  options.pacing.burst = config.slack.reply_burst;
  for (const auto& user : config.catalog.users) {
    if (!user.slack_id.empty())
      options.identities[user.slack_id] = user.id;
  }
  return options;
}

// Conversations by address, for the transports this process runs.
struct Directory final : commands::ConversationDirectory {
  std::unique_ptr<commands::Conversation> open(const std::string& address) override {
    if (address.rfind("slack:", 0) == 0 && slack != nullptr) {
      return slack->conversation_for(address);
    }
    if (address == "terminal" && terminal != nullptr) {
      return std::make_unique<ForwardingConversation>(*terminal);
    }
    return nullptr;
  }

  // The terminal has one conversation for the whole session; this lends it out.
  struct ForwardingConversation final : commands::Conversation {
    explicit ForwardingConversation(commands::Conversation& target) : target(target) {}
    commands::MessageRef post(const commands::Message& message) override {
      return target.post(message);
    }
    void update(const commands::MessageRef& ref, const commands::Message& message) override {
      target.update(ref, message);
    }
    void thread_reply(const commands::MessageRef& ref, const commands::Message& message) override {
      target.thread_reply(ref, message);
    }
    std::string address() const override { return target.address(); }
    commands::Conversation& target;
  };

  commands::Conversation* terminal = nullptr;
  slack::SlackTransport* slack = nullptr;
};

// Where work that outlives its conversation reports when no transport owns that conversation any
// more (a `serve` without the terminal, a Slack workspace no longer configured): the log.
struct LogConversation final : commands::Conversation {
  commands::MessageRef post(const commands::Message& message) override {
    spdlog::info("{}", message.text);
    return "log";
  }
  void update(const commands::MessageRef&, const commands::Message& message) override {
    spdlog::info("{}", message.text);
  }
  void thread_reply(const commands::MessageRef&, const commands::Message& message) override {
    spdlog::info("  {}", message.text);
  }
  std::string address() const override { return "log"; }
};

// A deploy left building by an earlier process, carried on where it was requested.
asio::awaitable<void> resume_in(commands::Services& services,
                                std::unique_ptr<commands::Conversation> where,
                                storage::DeployRecord deploy) {
  co_await commands::resume_deploy(services, *where, std::move(deploy));
}

Result<std::unique_ptr<storage::Database>> open_database(const Config& config) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(config.database_path).parent_path(),
                                      ec);
  return storage::Database::open(config.database_path);
}

}  // namespace

int run_app(const Config& config, const AppOptions& options) {
  // One thread runs the loop and does all I/O; other threads (the terminal's stdin reader, and
  // Asio's own resolver thread) only post to it. So the scheduler keeps its lock and per-socket
  // locking goes. (Without the scheduler's lock, name resolution fails: "operation not
  // supported".)
  asio::io_context io(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);

  auto database = open_database(config);
  if (!database) {
    std::fprintf(stderr, "shipmate: %s\n", redact(database.error().message).c_str());
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(config.state_dir, ec);
  if (ec) {
    std::fprintf(stderr, "shipmate: cannot create state directory %s: %s\n",
                 config.state_dir.c_str(), ec.message().c_str());
    return 2;
  }

  SystemClock clock;
  storage::DeployStore deploys(**database, clock);
  storage::LockStore locks(**database, clock);
  storage::AuditLog audit(**database, clock);
  storage::ApprovalStore approvals(**database, clock);

  auto built = build_integrations(io.get_executor(), config);
  if (!built) {
    std::fprintf(stderr, "shipmate: %s\n", redact(built.error().message).c_str());
    return 2;
  }
  Integrations& connected = **built;
  auto& targets = connected.targets;

  const commands::CommandRegistry registry = commands::build_command_table();
  commands::Services services{io.get_executor(), config.catalog, clock, **database,
                              deploys,           locks,          audit, targets};
  services.registry = &registry;
  services.approvals = &approvals;
  services.builds = &connected.builds;
  services.metrics = connected.metrics.get();
  if (connected.github_mirror)
    services.observers.push_back(connected.github_mirror.get());
  Router router(services, registry, config.bot_name);

  storage::InboxStore inbox(**database, clock);
  inbox.prune_done_before(clock.now_ms() - kInboxMemory);
  int exit_code = 0;
  std::unique_ptr<slack::SlackTransport> slack_transport;
  if (options.chat_platforms) {
    if (auto slack = slack_options(config)) {
      slack_transport =
          std::make_unique<slack::SlackTransport>(io.get_executor(), router, inbox, *slack);
    }
  }

  std::optional<TerminalTransport> terminal;
  if (options.terminal) {
    terminal.emplace(io.get_executor(), router,
                     TerminalTransport::Options{options.user, options.interactive, options.echo});
  }

  // Deploys cut off by a crash are settled now and announced once the transports are up, where
  // each was requested.
  const auto reconciled = commands::reconcile_interrupted_deploys(services);
  Directory directory;
  if (terminal)
    directory.terminal = &terminal->conversation();
  services.conversations = &directory;
  auto announce_reconciled = [&] {
    for (const auto& deploy : reconciled) {
      const std::string text = "Deploy #" + std::to_string(deploy.id) + " (" + deploy.service +
                               " " + deploy.version + " to " + deploy.environment + ") " +
                               deploy.detail;
      spdlog::warn("{}", text);
      if (auto conversation = directory.open(deploy.chat_ref)) {
        conversation->post(commands::warning(text));
      } else if (terminal) {
        terminal->conversation().post(commands::warning(text));
      }
    }
  };
  commands::record_audit(services, "shipmate", "shipmate.started", config.bot_name, "ok",
                         "config " + config.path);

  auto work = asio::make_work_guard(io);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  bool stopping = false;
  // Locks expire on their own; this notices within a second and says so where each was taken.
  asio::steady_timer lock_watch(io);
  std::function<void()> watch_locks = [&] {
    lock_watch.expires_after(std::chrono::seconds(1));
    lock_watch.async_wait([&](boost::system::error_code error) {
      if (error || stopping)
        return;
      try {
        commands::announce_expired_locks(services);
        commands::expire_approval_requests(services);
      } catch (const std::exception& e) {
        spdlog::error("expiry watch: {}", e.what());
      }
      watch_locks();
    });
  };

  auto shutdown = [&](std::string why) {
    if (stopping)
      return;
    stopping = true;
    spdlog::info("shutting down: {}", why);
    if (terminal)
      terminal->stop();
    lock_watch.cancel();
    for (const auto& deploy : commands::cancel_running_deploys(services, "cancelled: " + why)) {
      const std::string text = "Deploy #" + std::to_string(deploy.id) + " of " + deploy.service +
                               " " + deploy.version + " was cancelled: " + why;
      spdlog::warn("{}", text);
      if (terminal)
        terminal->conversation().post(commands::warning(text));
    }
    // Deploys waiting out a bake time or a decision are over (recorded as cancelled above):
    // wake them so they see it and end.
    for (auto& [id, wake] : std::map(services.wakers))
      wake();
    asio::co_spawn(
        io,
        [&, why]() -> asio::awaitable<void> {
          if (slack_transport)
            co_await slack_transport->stop();
          for (auto& [name, target] : targets) {
            spdlog::debug("stopping {}", name);
            co_await target->shutdown();
          }
          commands::record_audit(services, "shipmate", "shipmate.stopped", config.bot_name, "ok",
                                 why);
        },
        [&](std::exception_ptr error) {
          if (error) {
            try {
              std::rethrow_exception(error);
            } catch (const std::exception& e) {
              spdlog::error("shutdown: {}", e.what());
            }
          }
          spdlog::debug("shutdown complete");
          signals.cancel();
          work.reset();
        });
    // A watchdog thread rather than a timer: a pending timer would itself keep the loop alive.
    std::thread([] {
      std::this_thread::sleep_for(kShutdownDeadline);
      spdlog::error("shutdown took too long; exiting now");
      std::_Exit(1);
    }).detach();
  };

  std::function<void(boost::system::error_code, int)> on_signal =
      [&](boost::system::error_code error, int signal_number) {
        if (error)
          return;
        if (stopping) {
          spdlog::warn("second signal: exiting immediately");
          std::_Exit(128 + signal_number);
        }
        shutdown(signal_number == SIGINT ? "SIGINT" : "SIGTERM");
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);
  if (slack_transport) {
    slack_transport->on_fatal([&](std::string why) {
      exit_code = 1;
      shutdown("Slack: " + why);
    });
  }

  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (auto& [name, target] : targets) {
          const auto outcomes = co_await target->restore();
          for (const auto& outcome : outcomes) {
            if (outcome.ok) {
              spdlog::info("{}: {}", name, outcome.message);
            } else {
              spdlog::warn("{}: could not restore: {}", name, outcome.message);
              if (terminal) {
                terminal->conversation().post(
                    commands::warning(name + " could not be restarted: " + outcome.message));
              }
            }
          }
        }
        if (stopping)
          co_return;
        if (slack_transport) {
          auto started = co_await slack_transport->start();
          if (!started) {
            spdlog::error("{}", started.error().message);
            exit_code = 1;
            shutdown("Slack: " + started.error().message);
            co_return;
          }
          directory.slack = slack_transport.get();
        }
        announce_reconciled();
        for (auto& deploy : commands::resumable_deploys(services)) {
          std::unique_ptr<commands::Conversation> where = directory.open(deploy.chat_ref);
          if (!where && terminal)
            where = std::make_unique<Directory::ForwardingConversation>(terminal->conversation());
          if (!where)
            where = std::make_unique<LogConversation>();
          asio::co_spawn(io, resume_in(services, std::move(where), std::move(deploy)),
                         asio::detached);
        }
        watch_locks();
        spdlog::info("{} ready: {} services, {} environments, database {}", config.bot_name,
                     config.catalog.services.size(), config.catalog.environments.size(),
                     config.database_path);
        if (terminal) {
          if (options.interactive) {
            std::printf(
                "Shipmate terminal chat as %s. Type 'help' for commands, 'exit' or Ctrl-D to "
                "quit.\n",
                options.user.c_str());
            std::fflush(stdout);
          }
          terminal->start([&] { shutdown("terminal input ended"); });
        }
      },
      [&](std::exception_ptr error) {
        if (!error)
          return;
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          spdlog::error("start-up failed: {}", e.what());
        }
        shutdown("start-up failed");
      });

  io.run();
  return exit_code;
}

int run_audit_verify(const Config& config) {
  auto database = storage::Database::open(config.database_path);
  if (!database) {
    std::fprintf(stderr, "shipmate: %s\n", database.error().message.c_str());
    return 2;
  }
  SystemClock clock;
  storage::AuditLog audit(**database, clock);
  auto report = audit.verify();
  if (report.ok) {
    std::printf("audit log intact: %lld records, hash chain verified\n",
                static_cast<long long>(report.records_checked));
    return 0;
  }
  std::printf("audit log TAMPERED: %s\n", report.problem.c_str());
  return 1;
}

}  // namespace shipmate::bot
