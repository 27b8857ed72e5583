#include "bot/app.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "bot/alert_endpoints.h"
#include "bot/app_database.h"
#include "bot/app_parts.h"
#include "bot/chat_transport.h"
#include "bot/command_intake.h"
#include "bot/incident_rooms.h"
#include "bot/integrations_setup.h"
#include "bot/listeners.h"
#include "bot/ops_metrics.h"
#include "bot/ops_server.h"
#include "bot/platforms.h"
#include "bot/replica.h"
#include "bot/router.h"
#include "bot/runbook_config.h"
#include "bot/terminal.h"
#include "bot/watcher.h"
#include "bot/web_view.h"
#include "bot/work_in_hand.h"
#include "commands/command_table.h"
#include "commands/deploy_flow.h"
#include "commands/deploy_recovery.h"
#include "commands/deploy_runtime.h"
#include "commands/handlers.h"
#include "commands/handover.h"
#include "commands/incident_room_ops.h"
#include "commands/incident_rooms.h"
#include "commands/incidents.h"
#include "commands/resolve.h"
#include "commands/runbook_runner.h"
#include "commands/schedules.h"
#include "commands/timed_jobs.h"
#include "common/redact.h"
#include "common/request_id.h"
#include "common/strings.h"
#include "common/timer.h"
#include "integrations/net/http_client.h"
#include "integrations/net/http_listeners.h"
#include "integrations/net/http_server.h"
#include "integrations/process.h"
#include "scheduler/scheduler.h"
#include "storage/approval_store.h"
#include "storage/audit_log.h"
#include "storage/commit_batcher.h"
#include "storage/database.h"
#include "storage/deploy_ownership.h"
#include "storage/deploy_store.h"
#include "storage/freeze_store.h"
#include "storage/inbox_store.h"
#include "storage/lock_store.h"
#include "storage/outbox_store.h"
#include "storage/release_notes_store.h"
#include "storage/runbook_store.h"
#include "storage/schedule_store.h"
#include "web/site.h"

namespace shipmate::bot {
namespace asio = boost::asio;

namespace {
constexpr auto kShutdownDeadline = std::chrono::seconds(20);
// Platforms redeliver within minutes; a day of remembered keys is ample.
constexpr EpochMillis kInboxMemory = 24LL * 60 * 60 * 1000;
// Pending incident announcements and touched cards are looked at this often (the watcher).
constexpr std::chrono::milliseconds kUpkeepPeriod{1000};
// Finished inbox keys and sent replies older than kInboxMemory are forgotten at start-up and
// then this often, so a bot that runs for months keeps about a day of them, and each pass
// deletes about ten minutes' worth (a short write on the event loop).
constexpr std::chrono::milliseconds kPrunePeriod{10 * 60 * 1000};
// The event loop's heartbeat, which /healthz reads: one timer wait per period.
constexpr std::chrono::milliseconds kHeartbeatPeriod{1000};

std::string environment_variable(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

// A deploy left building by an earlier process (or a replica), carried on where it was asked for.
asio::awaitable<void> resume_in(commands::Services& services,
                                std::unique_ptr<commands::Conversation> where,
                                storage::DeployRecord deploy) {
  co_await commands::resume_deploy(services, *where, std::move(deploy));
}

// The drain's deadline and the post-drain linger limit, shared by the event loop and the
// watchdog thread.
struct Watchdog {
  std::mutex mutex;
  std::condition_variable done;
  bool drained = false;
  bool finished = false;  // run() returned, or the App is going: the io_context is not to be used
};

}  // namespace

struct App::Impl {
  Impl(const Config& config_in, AppOptions options_in)
      : config(config_in), options(std::move(options_in)) {}
  ~Impl() { finish_watchdog(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  int open();
  int start_ops();
  int start_web_view(integrations::net::HttpServer& server, const std::string& bind);
  HealthReport readiness();
  asio::awaitable<void> heartbeat();
  // Forgets finished inbox keys, then sent replies, older than kInboxMemory.
  void prune_inbox();
  void build_transports();
  void watch_signals();
  asio::awaitable<void> start_up();
  void announce_reconciled();
  void resume_deploys();
  void take_over_dead_replicas();
  void shutdown(std::string why);
  asio::awaitable<void> drain(std::vector<asio::awaitable<void>> stops, std::string why);
  // The watchdog stands down: the event loop has ended (or the App is going).
  void finish_watchdog();
  // The loop still had work post_drain_linger after the drain: say what, and stop it.
  void end_lingering_loop();

  const Config& config;
  AppOptions options;
  // One thread runs the loop and does all I/O; other threads (the terminal's stdin reader, and
  // Asio's own resolver thread) only post to it. So the scheduler keeps its lock and per-socket
  // locking goes. (Without the scheduler's lock, name resolution fails: "operation not
  // supported".) Declared first: destroyed last, after everything its handlers refer to.
  asio::io_context io{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};

  SystemClock clock;
  // What /metrics renders (bot/ops_metrics.h); before the database, which keeps a histogram.
  metrics::Registry meters;
  metrics::Histogram* loop_lag = nullptr;
  std::optional<DeployMetrics> deploy_meter;
  std::unique_ptr<storage::Database> database;
  std::optional<ReplicaLease> replica;  // PostgreSQL only (bot/replica.h)
  asio::cancellation_signal replica_stop;
  std::optional<storage::DeployStore> deploys;
  std::optional<storage::LockStore> locks;
  std::optional<storage::AuditLog> audit;
  std::optional<storage::ApprovalStore> approvals;
  std::optional<storage::InboxStore> inbox;
  std::optional<storage::OutboxStore> outbox;  // replies recorded before they are posted
  commands::IncidentSettings incident_settings;
  std::optional<storage::IncidentStore> incidents;
  std::optional<storage::RoomOpStore> room_ops;
  std::optional<commands::IncidentTimelineFeed> incident_feed;
  std::optional<TransportRooms> incident_rooms;  // rooms over the running transports
  commands::AlertSettings alert_settings;        // config.alerts, channel names resolved
  // The alert webhooks' shared transactions (one per event-loop turn's notifications).
  std::optional<storage::CommitBatcher> alert_commits;
  std::unique_ptr<Integrations> connected;
  commands::CommandRegistry registry = commands::build_command_table();
  std::optional<commands::Services> services;
  std::optional<commands::RunbookLibrary> runbooks;
  std::optional<storage::RunbookStore> runbook_store;
  std::unique_ptr<integrations::net::HttpClient> runbook_http;
  std::optional<commands::RunbookRunner> runbook_runner;
  std::optional<WorkInHand> work_in_hand;  // what a stop does with deploys and runs
  std::optional<Router> router;
  std::optional<RouterDispatcher> dispatcher;
  SteadyTimers timers{io.get_executor()};
  commands::DeployRuntime deploy_runtime{timers};
  std::optional<CommandIntake> intake;
  // Every HTTP listener (bot/listeners.h): the shared http: one and any an owner asks for; after
  // what their routes use, before the transports that mount on them.
  std::unique_ptr<integrations::net::HttpListeners> listeners;
  integrations::net::HttpServer* alert_server = nullptr;  // where the alert webhooks are mounted
  std::optional<Watcher> watcher;
  // Schedules (announcements, digests) and chat freezes; the scheduler runs the schedules.
  std::optional<storage::ScheduleStore> schedules;
  std::optional<storage::FreezeStore> freezes;
  // Release notes: stored notes and the services' commit sources (moved out of `connected`).
  std::optional<storage::ReleaseNotesStore> notes_store;
  std::optional<commands::ReleaseNotesBook> notes_book;
  std::unique_ptr<scheduler::Scheduler> schedule_runner;
  // Chat platforms from the table, in table order; the terminal is kept apart: it starts last.
  std::vector<std::unique_ptr<ChatTransport>> platforms;
  std::unique_ptr<TerminalTransport> terminal;
  Directory directory;
  std::vector<storage::DeployRecord> reconciled;

  // Operations (bot/ops_server.h): the loop's heartbeat and what readiness reads.
  asio::cancellation_signal heartbeat_stop;
  EpochMillis started_ms = 0;
  EpochMillis last_heartbeat = 0;
  bool startup_done = false;

  std::optional<asio::signal_set> signals;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  bool stopping = false;
  bool asked_to_stop = false;  // by a signal: with replicas, the work is handed over
  int exit_code = 0;
  std::shared_ptr<Watchdog> watchdog;  // from the first shutdown() on
};

int App::Impl::open() {
  auto opened = open_app_database(config);
  if (!opened) {
    std::fprintf(stderr, "shipmate: %s\n", redact(opened.error().message).c_str());
    return 2;
  }
  database = std::move(*opened);
  if (auto name = replica_name(config.replica, database->dialect() == storage::Dialect::postgresql,
                               std::getenv("SHIPMATE_REPLICA"));
      !name) {
    std::fprintf(stderr, "shipmate: %s\n", name.error().message.c_str());
    return 2;
  } else if (!name->empty()) {
    replica.emplace(*database, clock, *name, replica_lease_timing(config.replica_lease_ms));
    auto claimed =
        replica->claim([](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); });
    if (!claimed) {
      std::fprintf(stderr, "shipmate: cannot use database %s: %s\n",
                   redact(database->path()).c_str(), claimed.error().message.c_str());
      return 2;
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(config.state_dir, ec);
  if (ec) {
    std::fprintf(stderr, "shipmate: cannot create state directory %s: %s\n",
                 config.state_dir.c_str(), ec.message().c_str());
    return 2;
  }
  deploys.emplace(*database, clock);
  locks.emplace(*database, clock);
  database->set_commit_histogram(&meters.histogram("shipmate_sqlite_commit_seconds",
                                                   "SQLite transaction COMMIT latency.",
                                                   metrics::short_latency_buckets()));
  loop_lag = &meters.histogram("shipmate_event_loop_lag_seconds",
                               "How late the event loop's 1 s heartbeat timer fired.",
                               metrics::short_latency_buckets());
  register_app_metrics(meters, *database, *locks);
  register_store_metrics(meters, *database, config.catalog, clock);
  register_transport_metrics(meters, [this] {
    std::vector<const ChatTransport*> running;
    for (const auto& transport : platforms) {
      if (std::find(directory.running.begin(), directory.running.end(), transport.get()) !=
          directory.running.end())
        running.push_back(transport.get());
    }
    return running;
  });
  deploy_meter.emplace(meters, &config.catalog);
  audit.emplace(*database, clock);
  approvals.emplace(*database, clock);

  auto built = build_integrations(io.get_executor(), config);
  if (!built) {
    std::fprintf(stderr, "shipmate: %s\n", redact(built.error().message).c_str());
    return 2;
  }
  connected = std::move(*built);

  services.emplace(commands::Services{io.get_executor(), config.catalog, clock, *database, *deploys,
                                      *locks, *audit, connected->targets, timers, deploy_runtime});
  services->registry = &registry;
  services->approvals = &*approvals;
  services->builds = &connected->builds;
  services->metrics = connected->metrics.get();
  if (connected->github_mirror)
    services->observers.push_back(connected->github_mirror.get());
  services->observers.push_back(&*deploy_meter);
  services->meters = &meters;
  services->conversations = &directory;
  if (replica) {
    services->replica = replica->name();
    services->takeover_grace_ms = replica_takeover_grace(config.replica_lease_ms);
    services->may_act = [this] { return replica->may_act(); };
  }
  // Incidents: the store, and the feed that puts the engine's audit records on timelines.
  incident_settings = config.incidents;
  if (incident_settings.postmortem_dir.empty())
    incident_settings.postmortem_dir =
        (std::filesystem::path(config.state_dir) / "incidents").string();
  incidents.emplace(*database, clock);
  incident_feed.emplace(*database, *incidents, incident_settings);
  audit->add_observer(&*incident_feed);
  services->incidents = &*incidents;
  services->incident_settings = &incident_settings;
  incident_rooms.emplace(directory.running);
  services->incident_rooms = &*incident_rooms;
  // Room operations a stop cut off are claimed by no one now: due at the first upkeep step.
  room_ops.emplace(*database, replica ? replica->name() : std::string());
  if (const int released = room_ops->release_claims(); released > 0)
    spdlog::info("incidents: {} room operation(s) a stop cut off will be carried out", released);
  services->room_ops = &*room_ops;
  // The pacing the last run stored (holds a rate-limited answer set, spent calls) holds again.
  commands::restore_room_pacing(*services);
  runbooks.emplace(make_runbook_library(config));
  services->runbooks = &*runbooks;
  router.emplace(*services, registry, config.bot_name);
  router->count_commands(meters);
  dispatcher.emplace(*router);

  // Runbook runs: command steps go through the router as the person who started the run.
  runbook_store.emplace(*database, clock);
  runbook_http = std::make_unique<integrations::net::HttpClient>(io.get_executor());
  commands::RunbookPorts ports;
  ports.run_command = [this](std::string user, std::string text,
                             commands::Conversation& where) -> asio::awaitable<void> {
    ChatEvent event{"runbook", "", std::move(user), "", "", std::move(text)};
    co_await router->dispatch(std::move(event), where);
  };
  ports.http = runbook_http.get();
  ports.work_dir = (std::filesystem::path(config.state_dir) / "runbooks").string();
  runbook_runner.emplace(*services, *runbooks, *runbook_store, std::move(ports));
  runbooks->set_runner(&*runbook_runner);

  inbox.emplace(*database, clock, replica ? replica->name() : std::string());
  outbox.emplace(*database, *inbox, clock);
  prune_inbox();
  CommandIntake::Options intake_options;
  intake_options.outbox = &*outbox;
  intake.emplace(io.get_executor(), *inbox, *dispatcher, timers, intake_options);
  work_in_hand.emplace(*services, *runbook_runner, *intake, [this](const std::string& text) {
    spdlog::warn("{}", text);  // and where the operator is:
    if (terminal)
      terminal->conversation().post(commands::warning(text));
  });
  listeners = std::make_unique<integrations::net::HttpListeners>(io.get_executor());
  if (config.http.enabled)
    listeners->set_shared(shared_listener_options(config.http));
  // Per-delivery timing only when something can scrape it (the ops listener is configured).
  if (config.ops.enabled)
    intake->count_in(meters);

  schedules.emplace(*database, clock);
  freezes.emplace(*database, clock);
  services->schedules = &*schedules;
  services->freezes = &*freezes;
  notes_store.emplace(*database, clock);
  notes_book.emplace(*notes_store, std::move(connected->notes));
  services->notes = &*notes_book;
  schedule_runner = std::make_unique<scheduler::Scheduler>(
      io.get_executor(), timers, clock, *database, *schedules,
      [this](const storage::ScheduleRecord& schedule, EpochMillis nominal) {
        return commands::run_scheduled(*services, schedule, nominal);
      });
  services->scheduler = schedule_runner.get();
  // Lock expiry, approval timeouts, incident reminders and room archiving: the scheduler's timed
  // jobs, claimed per occurrence under this replica's name (commands/timed_jobs.h).
  commands::add_timed_jobs(*schedule_runner, *services);
  schedule_runner->set_claim_holder(replica ? replica->name() : std::string());
  commands::sync_configured_schedules(*services, config.schedules);

  // What is not timed: pending announcements (waiting for a platform), touched cards, room ops.
  watcher.emplace(io.get_executor(), timers, clock);
  watcher->add("incident upkeep", kUpkeepPeriod,
               [this] { commands::run_incident_upkeep(*services, &*incident_feed); });
  watcher->add("inbox pruning", kPrunePeriod, [this] { prune_inbox(); });
  return 0;
}

// The read-only web view on the ops listener (bot/web_view.h), when `ops: web:` turns it on.
int App::Impl::start_web_view(integrations::net::HttpServer& server, const std::string& bind) {
  if (!config.web.enabled)
    return 0;
  web::WebSources sources;
  sources.catalog = &config.catalog;
  sources.database = database.get();
  sources.clock = &clock;
  sources.deploys = &*deploys;
  sources.locks = &*locks;
  sources.approvals = &*approvals;
  sources.incidents = &*incidents;
  sources.runbook_runs = &*runbook_store;
  sources.freezes = &*freezes;
  sources.targets = &connected->targets;
  sources.runbooks = runbooks->names();
  sources.incident_invite_roles = config.incidents.invite_roles;
  web::WebSettings settings;
  settings.access = {config.web.token, config.web.basic_user, config.web.basic_password};
  for (const auto& [user, password] : config.web.readers)
    settings.access.readers.push_back({user, password});
  settings.name = config.bot_name.empty() ? std::string("Shipmate") : config.bot_name;
  settings.page_size = config.web.page_size;
  settings.max_page_size = config.web.max_page_size;
  settings.dora_weeks = config.web.dora_weeks;
  auto view = std::make_shared<web::WebView>(std::move(sources), std::move(settings));
  if (auto mounted = mount_web_view(server, std::move(view)); !mounted) {
    std::fprintf(stderr, "shipmate: %s\n", redact(mounted.error().message).c_str());
    return 2;
  }
  spdlog::info("web view: {}://{}:{}/ ({})", server.tls() ? "https" : "http", bind, server.port(),
               config.web.token.empty() && config.web.basic_user.empty()
                   ? "this host only, no credentials"
                   : "credentials required");
  return 0;
}

int App::Impl::start_ops() {
  started_ms = clock.now_ms();
  if (!config.ops.enabled)
    return 0;
  OpsProbes probes;
  probes.liveness = [this] {
    return decide_liveness({clock.now_ms(), last_heartbeat, started_ms,
                            std::chrono::milliseconds(config.ops.liveness_deadline_ms)});
  };
  probes.readiness = [this] { return readiness(); };
  probes.metrics = [this] { return meters.render(); };
  std::optional<ListenAddress> own;
  if (config.ops.listen_set)
    own = ListenAddress{config.ops.bind, config.ops.port};
  const ListenerChoice choice =
      choose_listener(config.http, own, ListenAddress{config.ops.bind, config.ops.port});
  auto server = listener_for(*listeners, choice, "ops http");
  Status mounted = server ? mount_ops_routes(**server, std::move(probes)) : Status(server.error());
  if (!mounted) {
    std::fprintf(stderr, "shipmate: %s\n", redact(mounted.error().message).c_str());
    return 2;
  }
  const std::string& bind =
      choice.kind == ListenerChoice::Kind::shared ? config.http.bind : choice.address.bind;
  spdlog::info("ops http: listening on {}:{} (/healthz, /readyz, /metrics)", bind,
               (*server)->port());
  if (const int failed = start_web_view(**server, bind); failed != 0)
    return failed;
  asio::co_spawn(io, heartbeat(),
                 asio::bind_cancellation_slot(heartbeat_stop.slot(), asio::detached));
  return 0;
}

HealthReport App::Impl::readiness() {
  ReadinessInputs in;
  in.startup_done = startup_done;
  in.stopping = stopping;
  in.database_problem = database_write_problem(*database);
  for (const auto& transport : platforms) {
    const bool running = std::find(directory.running.begin(), directory.running.end(),
                                   transport.get()) != directory.running.end();
    in.chat.push_back({std::string(transport->name()),
                       running ? transport->readiness_problem() : "not joined yet"});
  }
  return decide_readiness(in);
}

asio::awaitable<void> App::Impl::heartbeat() {
  while (!stopping) {
    const auto before = std::chrono::steady_clock::now();
    const bool slept = co_await timers.sleep_for(kHeartbeatPeriod);
    if (!slept)
      co_return;
    const auto late = std::chrono::steady_clock::now() - before - kHeartbeatPeriod;
    loop_lag->observe_nanoseconds(std::max<std::int64_t>(
        0, std::chrono::duration_cast<std::chrono::nanoseconds>(late).count()));
    last_heartbeat = clock.now_ms();
  }
}

void App::Impl::prune_inbox() {
  const EpochMillis cutoff = clock.now_ms() - kInboxMemory;
  const int keys = inbox->prune_done_before(cutoff);
  const int replies = outbox->prune_sent_before(cutoff);
  if (keys > 0 || replies > 0)
    spdlog::debug("forgot {} finished inbox key(s) and {} sent reply row(s) older than a day", keys,
                  replies);
}

void App::Impl::build_transports() {
  if (options.chat_platforms) {
    const PlatformContext context{io.get_executor(),     config,         *intake,        timers,
                                  &environment_variable, database.get(), listeners.get()};
    const auto& table = options.platforms != nullptr ? *options.platforms : chat_platforms();
    for (const auto& platform : table) {
      auto transport = platform.make(context);
      if (!transport)
        continue;
      const std::string name = display_name(platform.name);
      transport->on_fatal([this, name](std::string why) {
        exit_code = 1;
        shutdown(name + ": " + why);
      });
      // A :pushpin: on a message in an incident's room puts it on the timeline.
      transport->on_reaction([this](ReactionAdded reaction) {
        commands::ReactionNote note;
        note.room = std::move(reaction.room);
        note.user = std::move(reaction.user);
        note.emoji = std::move(reaction.emoji);
        note.message_id = std::move(reaction.message_id);
        note.message_at = reaction.message_at;
        note.author = std::move(reaction.author);
        note.text = std::move(reaction.text);
        note.problem = std::move(reaction.problem);
        try {
          commands::note_reaction(*services, note);
        } catch (const std::exception& e) {
          spdlog::error("incidents: a reaction could not be recorded: {}", redact(e.what()));
        }
      });
      platforms.push_back(std::move(transport));
    }
  }
  if (options.terminal) {
    TerminalTransport::Options terminal_options{options.user, options.interactive, options.echo,
                                                [this] { shutdown("terminal input ended"); }};
    terminal = std::make_unique<TerminalTransport>(io.get_executor(), *intake,
                                                   std::move(terminal_options));
    directory.running.push_back(terminal.get());
  }
}

void App::Impl::watch_signals() {
  signals->async_wait([this](boost::system::error_code error, int signal_number) {
    if (error)
      return;
    if (stopping) {
      spdlog::warn("second signal: exiting immediately");
      // Without the drain, nothing else would stop a release that ignores SIGTERM.
      integrations::ChildProcess::kill_all_now();
      std::_Exit(128 + signal_number);
    }
    asked_to_stop = true;
    shutdown(signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    watch_signals();
  });
}

// Deploys cut off by a crash were settled at start-up; each is announced where it was requested.
void App::Impl::announce_reconciled() {
  for (const auto& deploy : reconciled) {
    const std::string text = "Deploy #" + std::to_string(deploy.id) + " (" + deploy.service + " " +
                             deploy.version + " to " + deploy.environment + ") " + deploy.detail;
    spdlog::warn("{}", text);
    if (auto conversation = directory.open(deploy.chat_ref)) {
      conversation->post(commands::warning(text));
    } else if (terminal) {
      terminal->conversation().post(commands::warning(text));
    }
  }
}

void App::Impl::resume_deploys() {
  for (auto& deploy : commands::resumable_deploys(*services)) {
    std::unique_ptr<commands::Conversation> where = directory.open(deploy.chat_ref);
    if (!where && terminal)
      where = terminal->open("terminal");
    if (!where)
      where = std::make_unique<LogConversation>();
    // A resumed deploy runs as a request of its own (its lines say "resuming").
    std::string request = new_request_id();
    spdlog::info("deploy #{}: resuming after a restart as request {}", deploy.id, request);
    asio::co_spawn(with_request_id(io.get_executor(), std::move(request)),
                   resume_in(*services, std::move(where), std::move(deploy)), asio::detached);
  }
}

// Every lease renewal: a dead replica's deploys and commands are taken over (each by one
// survivor: compare-and-set), announced once where they were requested, and carried on.
void App::Impl::take_over_dead_replicas() {
  if (stopping || !startup_done || !replica || !replica->may_act())
    return;
  auto found = commands::take_over_orphaned_deploys(*services);
  for (const auto& deploy : found.taken_over) {
    if (deploy.state == storage::DeployState::awaiting_approval)
      spdlog::warn("deploy #{}: replica {} took it over; it still waits for approval", deploy.id,
                   replica->name());
  }
  reconciled = std::move(found.settled);
  announce_reconciled();
  resume_deploys();
  runbook_runner->take_over_orphans();
  intake->take_over([this](const std::string& owner) {
    return storage::decide_takeover(*database, owner, replica->name(), clock.now_ms(),
                                    services->takeover_grace_ms)
               .verdict == storage::TakeoverVerdict::orphaned;
  });
}

asio::awaitable<void> App::Impl::start_up() {
  for (auto& [name, target] : connected->targets) {
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
  for (auto& transport : platforms) {
    auto started = co_await transport->start();
    if (!started) {
      spdlog::error("{}", started.error().message);
      exit_code = 1;
      shutdown(display_name(transport->name()) + ": " + started.error().message);
      co_return;
    }
    directory.running.push_back(transport.get());
  }
  std::optional<ListenAddress> alerts_own;
  if (config.alerts.port >= 0)
    alerts_own = ListenAddress{config.alerts.bind, config.alerts.port};
  const ListenerChoice alerts_choice = wants_alert_routes(config.alerts)
                                           ? choose_listener(config.http, alerts_own, std::nullopt)
                                           : ListenerChoice{};
  if (alerts_choice.kind != ListenerChoice::Kind::none) {
    // Channels named rather than addressed ("slack:#incidents") are looked up once, now.
    alert_settings = config.alerts;
    std::vector<std::string*> addresses{&alert_settings.channel};
    for (auto& route : alert_settings.routes)
      addresses.push_back(&route.channel);
    for (std::string* address : addresses) {
      std::string named = *address;
      auto resolved = co_await resolve_channel_address(directory.running, std::move(named));
      if (!resolved) {
        const std::string why = "alerts: " + resolved.error().message;
        spdlog::error("{}", why);
        exit_code = 1;
        shutdown(why);
        co_return;
      }
      if (*resolved != *address)
        spdlog::info("alerts: {} is {}", *address, *resolved);
      *address = *resolved;
    }
    // Alert webhooks, once the transports they post to are running.
    auto server = listener_for(*listeners, alerts_choice, "alerts http");
    alert_commits.emplace(*database, [executor = io.get_executor()](std::function<void()> flush) {
      asio::post(executor, std::move(flush));
    });
    Status mounted = server
                         ? mount_alert_routes(**server, *services, alert_settings, &*alert_commits)
                         : Status(server.error());
    if (!mounted) {
      spdlog::error("{}", mounted.error().message);
      exit_code = 1;
      shutdown(mounted.error().message);
      co_return;
    }
    alert_server = *server;
    const std::string& bind = alerts_choice.kind == ListenerChoice::Kind::shared
                                  ? config.http.bind
                                  : alerts_choice.address.bind;
    spdlog::info("alerts: listening on {}:{}", bind, alert_server->port());
  }
  for (auto* listener : listeners->open()) {
    spdlog::info("{}: port {} serves {}", listener->name(), listener->port(),
                 join(listener->routes(), ", "));
  }
  announce_reconciled();
  resume_deploys();
  // Incident announcements a crash left pending go out now, and cards catch up with changes
  // committed before it.
  commands::deliver_announcements(*services);
  for (const auto& incident : incidents->open_incidents())
    commands::refresh_incident_card(*services, incident.id);
  runbook_runner->recover();
  if (replica) {
    asio::co_spawn(io,
                   replica->keep(
                       timers, [this] { take_over_dead_replicas(); },
                       [this](std::string why) {
                         exit_code = 1;
                         shutdown(std::move(why));
                       }),
                   asio::bind_cancellation_slot(replica_stop.slot(), asio::detached));
  }
  watcher->start();
  commands::plan_missing_reminders(*services);
  schedule_runner->start();
  startup_done = true;
  spdlog::info("{} ready: {} services, {} environments, database {}", config.bot_name,
               config.catalog.services.size(), config.catalog.environments.size(),
               config.database_path);
  if (terminal) {
    if (options.interactive) {
      std::printf(
          "Shipmate terminal chat as %s. Type 'help' for commands, 'exit' or Ctrl-D to "
          "quit.\n",
          options.user.c_str());
      // The first minute: how to open an incident (it runs in this conversation: the terminal
      // cannot make rooms), and what to do with it next.
      const std::string service =
          config.catalog.services.empty() ? std::string() : " " + config.catalog.services[0].name;
      std::printf(
          "Try an incident: incident declare \"checkout errors\" sev2%s, then incident status "
          "identified \"what we know\", incident timeline, incident resolve \"summary\" (writes "
          "a postmortem skeleton).\n",
          service.c_str());
      std::fflush(stdout);
    }
    auto started = co_await terminal->start();
    (void)started;
  }
}

void App::Impl::shutdown(std::string why) {
  if (stopping)
    return;
  stopping = true;
  spdlog::info("shutting down: {}", why);
  // Every transport refuses new commands from here on; the terminal first, as it always did.
  std::vector<asio::awaitable<void>> stops;
  if (terminal)
    stops.push_back(terminal->stop(options.transport_grace));
  for (auto& transport : platforms)
    stops.push_back(transport->stop(options.transport_grace));
  const auto mode = commands::stop_mode(replica.has_value(), asked_to_stop,
                                        replica.has_value() && replica->may_act());
  if (replica && mode == commands::StopMode::cancel) {  // one handing over renews to the end
    replica->stop();
    replica_stop.emit(asio::cancellation_type::terminal);
  }
  watcher->stop();
  if (alert_server)
    withdraw_alert_routes(*alert_server, config.alerts);
  schedule_runner->stop();
  work_in_hand->stop(mode, why);  // cancel, or hand over (commands/handover.h)
  // A watchdog thread rather than a timer: a pending timer would itself keep the loop alive. It
  // exits the process if draining takes over kShutdownDeadline. After the drain, the loop has
  // nothing left to do and run() returns; if it still has work post_drain_linger later (a stray
  // coroutine, timer or socket), the watchdog has the loop log what is still running and stop.
  // It stands down when run() returns or the App goes (so a test's App leaves no thread behind).
  watchdog = std::make_shared<Watchdog>();
  std::thread([this, watchdog = watchdog, linger = options.post_drain_linger] {
    std::unique_lock lock(watchdog->mutex);
    if (!watchdog->done.wait_for(lock, kShutdownDeadline,
                                 [&] { return watchdog->drained || watchdog->finished; })) {
      spdlog::error("shutdown took too long; exiting now");
      std::_Exit(1);
    }
    if (watchdog->done.wait_for(lock, linger, [&] { return watchdog->finished; }))
      return;
    // Under the lock, so the io_context is still there (finish_watchdog() waits for it).
    asio::post(io, [this] { end_lingering_loop(); });
    if (watchdog->done.wait_for(lock, kShutdownDeadline, [&] { return watchdog->finished; }))
      return;
    spdlog::error("shutdown: the event loop did not stop after the drain; exiting now");
    std::_Exit(1);
  }).detach();
  asio::co_spawn(io, drain(std::move(stops), why), [this](std::exception_ptr error) {
    {
      std::lock_guard lock(watchdog->mutex);
      watchdog->drained = true;
    }
    watchdog->done.notify_all();
    log_exception("shutdown", error);
    spdlog::debug("shutdown complete");
    signals->cancel();
    heartbeat_stop.emit(asio::cancellation_type::terminal);
    replica_stop.emit(asio::cancellation_type::terminal);  // released (or past releasing)
    listeners->stop();
    work.reset();
  });
}

void App::Impl::finish_watchdog() {
  if (!watchdog)
    return;
  {
    std::lock_guard lock(watchdog->mutex);
    watchdog->finished = true;
  }
  watchdog->done.notify_all();
}

void App::Impl::end_lingering_loop() {
  std::vector<std::string> running;
  if (intake && intake->running() > 0)
    running.push_back(count_of(static_cast<long long>(intake->running()), "command"));
  if (runbook_runner && runbook_runner->driving() > 0)
    running.push_back(count_of(static_cast<long long>(runbook_runner->driving()), "runbook run"));
  if (runbook_runner && runbook_runner->processes_running() > 0)
    running.push_back(count_of(static_cast<long long>(runbook_runner->processes_running()),
                               "runbook process", "runbook processes"));
  spdlog::error(
      "shutdown: drained, but the event loop still had work {} ms later ({}); stopping it now",
      options.post_drain_linger.count(),
      running.empty() ? "nothing Shipmate tracks: a timer, socket or coroutine left behind"
                      : join(running, ", ") + " still running");
  io.stop();
}

asio::awaitable<void> App::Impl::drain(std::vector<asio::awaitable<void>> stops, std::string why) {
  co_await work_in_hand->settle(why);  // deploys a replica finishes before it lets go
  for (std::size_t i = 0; i < stops.size(); ++i)
    co_await std::move(stops[i]);
  for (auto& [name, target] : connected->targets) {
    spdlog::debug("stopping {}", name);
    co_await target->shutdown();
  }
  commands::record_audit(*services, "shipmate", "shipmate.stopped", config.bot_name, "ok", why);
  if (replica)
    replica->release();  // the others need not wait for it to expire
}

App::App(const Config& config, AppOptions options)
    : impl_(std::make_unique<Impl>(config, std::move(options))) {}

App::~App() = default;

int App::start() {
  Impl& app = *impl_;
  if (const int failed = app.open(); failed != 0)
    return failed;
  if (const int failed = app.start_ops(); failed != 0)
    return failed;
  app.build_transports();
  app.reconciled = commands::reconcile_interrupted_deploys(*app.services);
  commands::record_audit(*app.services, "shipmate", "shipmate.started", app.config.bot_name, "ok",
                         "config " + app.config.path);
  app.work.emplace(asio::make_work_guard(app.io));
  app.signals.emplace(app.io, SIGINT, SIGTERM);
  app.watch_signals();
  asio::co_spawn(app.io, app.start_up(), [&app](std::exception_ptr error) {
    if (!error)
      return;
    log_exception("start-up failed", error);
    app.shutdown("start-up failed");
  });
  return 0;
}

int App::run() {
  impl_->io.run();
  impl_->finish_watchdog();
  return impl_->exit_code;
}

void App::shutdown(std::string why) {
  impl_->shutdown(std::move(why));
}

std::vector<std::string> App::timed_jobs() const {
  return impl_->schedule_runner ? impl_->schedule_runner->job_names() : std::vector<std::string>{};
}

std::vector<std::pair<std::string, std::chrono::milliseconds>> App::watcher_jobs() const {
  if (!impl_->watcher)
    return {};
  return impl_->watcher->jobs();
}

int run_app(const Config& config, const AppOptions& options) {
  App app(config, options);
  if (const int failed = app.start(); failed != 0)
    return failed;
  return app.run();
}

}  // namespace shipmate::bot
