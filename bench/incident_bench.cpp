// Incidents on SQLite (a file in WAL mode, as in production), without sockets:
//  1. timeline write cost per event: `incident note` commands through the real Router (parse,
//     policy, one transaction holding the audit record and its timeline row, the card refreshed
//     in place) with 1 and with 32 commands in flight, each in-flight slot a coroutine that
//     sends its next note as soon as the previous one finished; reported as events per second and
//     the per-command latency p50/p99. Then the engine's own path: deploy audit records appended
//     while N incidents are open on that service, each record fanned out by the timeline feed
//     (IncidentTimelineFeed) inside the appending transaction.
//  2. reminders with 1,000 open incidents: before, the watcher read and planned every open
//     incident each second (reproduced for comparison); after, the watcher's step each second is
//     only the upkeep (pending announcements, touched cards) and the incident alarm reads the
//     earliest deadline through an index when it wakes; and when all 1,000 are due at once (each
//     a transaction with the next due time, the timeline row and the durable announcement, then
//     its delivery).
//  3. timeline appends in batches of 1,000 per transaction (IncidentStore::append_batch).
//  4. Alertmanager notifications of 10 alerts each through parse_alertmanager() and
//     ingest_alerts() (dedup keys, routing, timeline rows, one grouped post): new ones, then the
//     same again, all duplicates; from 1 and from 32 senders in flight, each notification in its
//     own transaction and through the webhooks' shared commit (storage/commit_batcher.h).
//  5. a firing alert whose route opens an incident, to the incident's first chat message (its
//     card), in process (no HTTP; the webhook's own cost is in the alerts e2e).
//
// Run: build-release/bench/shipmate_incident_bench [--notes N] [--incidents N]
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "bot/router.h"
#include "commands/alert_intake.h"
#include "commands/command_table.h"
#include "commands/deploy_runtime.h"
#include "commands/incident_model.h"
#include "commands/incidents.h"
#include "commands/timed_jobs.h"
#include "common/timer.h"
#include "integrations/alerts/alert_payloads.h"
#include "storage/audit_log.h"
#include "storage/commit_batcher.h"
#include "storage/deploy_store.h"
#include "storage/incident_store.h"
#include "storage/lock_store.h"

namespace {

using namespace shipmate;
namespace asio = boost::asio;
using Steady = std::chrono::steady_clock;

class CountingConversation final : public commands::Conversation {
 public:
  explicit CountingConversation(std::string address) : address_(std::move(address)) {}
  commands::MessageRef post(const commands::Message&) override {
    ++messages;
    return std::to_string(messages);
  }
  void update(const commands::MessageRef&, const commands::Message&) override { ++messages; }
  void thread_reply(const commands::MessageRef&, const commands::Message&) override { ++messages; }
  std::string address() const override { return address_; }
  long long messages = 0;

 private:
  std::string address_;
};

// Every address answers with a counting conversation (the chat side costs nothing here).
struct CountingDirectory final : commands::ConversationDirectory {
  std::unique_ptr<commands::Conversation> open(const std::string& address) override {
    ++opened;
    return std::make_unique<CountingConversation>(address);
  }
  long long opened = 0;
};

double percentile(std::vector<double> values, double p) {
  if (values.empty())
    return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<std::size_t>(p * values.size()))];
}

// User and system CPU time of this process so far: what a notification costs, whatever the
// machine's load (its wall-clock rate depends on the CPU share it gets).
double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double seconds_since(Steady::time_point start) {
  return std::chrono::duration<double>(Steady::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::off);
  int notes = 20000;
  int open_incidents = 1000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--notes")
      notes = std::max(32, std::atoi(argv[i + 1]));
    if (std::string(argv[i]) == "--incidents")
      open_incidents = std::max(1, std::atoi(argv[i + 1]));
  }
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("shipmate-incident-bench-" + std::to_string(getpid()) + ".db"));
  auto remove_files = [&] {
    for (const char* suffix : {"", "-wal", "-shm"})
      std::filesystem::remove(path + suffix);
  };
  remove_files();

  asio::io_context io(1);
  auto opened = storage::Database::open(path);
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.error().message.c_str());
    return 1;
  }
  storage::Database& db = **opened;
  SystemClock clock;
  storage::DeployStore deploys(db, clock);
  storage::LockStore locks(db, clock);
  storage::AuditLog audit(db, clock);
  storage::IncidentStore incidents(db, clock);
  commands::IncidentSettings settings;
  settings.postmortem_dir = "";
  commands::IncidentTimelineFeed feed(db, incidents, settings);
  audit.add_observer(&feed);
  commands::Catalog catalog;
  catalog.environments.push_back({"staging", false, {}});
  catalog.users.push_back({"alice", "Alice", {"admin"}});
  commands::ServiceSpec hello;
  hello.name = "hello";
  hello.environments = {"staging"};
  hello.target_kind = "bench";
  catalog.services.push_back(hello);
  std::map<std::string, std::unique_ptr<integrations::DeployTarget>> targets;
  const auto registry = commands::build_command_table();
  SteadyTimers timers(io.get_executor());
  commands::DeployRuntime runtime(timers);
  CountingDirectory directory;
  commands::Services services{io.get_executor(), catalog, clock,  db, deploys, locks, audit,
                              targets,           timers,  runtime};
  services.registry = &registry;
  services.conversations = &directory;
  services.incidents = &incidents;
  services.incident_settings = &settings;
  bot::Router router(services, registry, "shipmate");

  // 32 open incidents to write notes on (one per in-flight slot), each with its own room.
  auto declare = [&](int i) {
    CountingConversation room("bench:room" + std::to_string(i));
    bool done = false;
    asio::co_spawn(
        io,
        router.dispatch(bot::ChatEvent{"bench", "", "alice", "c", "",
                                       "incident declare \"bench " + std::to_string(i) + "\" sev3"},
                        room),
        [&done](std::exception_ptr) { done = true; });
    while (!done) {
      if (io.run_one() == 0)
        io.restart();
    }
  };
  for (int i = 0; i < 32; ++i)
    declare(i);

  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::printf("incident bench: SQLite file in WAL mode (%s)\n", path.c_str());
  for (const int in_flight : {1, 32}) {
    std::vector<double> latencies;
    latencies.reserve(static_cast<std::size_t>(notes));
    int sent = 0;
    int finished = 0;
    io.restart();
    const auto start = Steady::now();
    for (int slot = 0; slot < in_flight; ++slot) {
      asio::co_spawn(
          io,
          [&, slot]() -> asio::awaitable<void> {
            CountingConversation room("bench:room" + std::to_string(slot));
            while (sent < notes) {
              ++sent;
              const auto began = Steady::now();
              std::string text = "incident note \"progress report number " + std::to_string(sent) +
                                 " from slot " + std::to_string(slot) + "\"";
              bot::ChatEvent event{"bench", "", "alice", "c", "", std::move(text)};
              co_await router.dispatch(std::move(event), room);
              latencies.push_back(
                  std::chrono::duration<double, std::micro>(Steady::now() - began).count());
              ++finished;
            }
          },
          asio::detached);
    }
    io.run();
    io.restart();
    const double elapsed = seconds_since(start);
    std::printf(
        "  incident note through the Router, %2d in flight: %d events in %.2f s = %.0f events/s "
        "(%.1f us each); latency p50 %.0f us, p99 %.0f us\n",
        in_flight, finished, elapsed, finished / elapsed, elapsed * 1e6 / finished,
        percentile(latencies, 0.5), percentile(latencies, 0.99));
  }

  // The engine's path: deploy records appended, fanned out by the feed to every open incident
  // of the service. The 32 incidents above name no service, so they would take every service's
  // events: resolve them first, then open `fanout` on hello.
  for (const auto& incident : incidents.open_incidents())
    incidents.set_status(incident.id, "resolved", "", clock.now_ms());
  for (const int fanout : {1, 10}) {
    for (int i = 0; i < fanout; ++i) {
      storage::DeclareRequest request;
      request.title = "hello trouble " + std::to_string(fanout) + "-" + std::to_string(i);
      request.severity = 3;
      request.services = {"hello"};
      request.declared_by = "alice";
      request.room = "bench:feed";
      incidents.declare(request);
    }
    audit.append({"alice", "incident.declared", "INC-0", "ok", "reload the feed"});
    const int records = notes / 2;
    const auto start = Steady::now();
    for (int i = 0; i < records; ++i) {
      audit.append({"alice", "deploy.succeeded", "hello@staging", "ok",
                    "#" + std::to_string(i) + " hello v" + std::to_string(i) + " is live"});
    }
    const double elapsed = seconds_since(start);
    std::printf(
        "  deploy audit records fed to %2d open incident(s) of the service: %d records in %.2f s "
        "= %.1f us per record (%.1f us per timeline row)\n",
        fanout, records, elapsed, elapsed * 1e6 / records, elapsed * 1e6 / (records * fanout));
    // Resolve them so the next round counts its own fan-out.
    for (const auto& incident : incidents.open_incidents()) {
      if (incident.room == "bench:feed")
        incidents.set_status(incident.id, "resolved", "", clock.now_ms());
    }
    audit.append({"alice", "incident.resolved", "INC-0", "ok", "reload the feed"});
  }

  // The reminder sweep with `open_incidents` open incidents (sev1: 30 min cadence).
  for (const auto& incident : incidents.open_incidents())
    incidents.set_status(incident.id, "resolved", "", clock.now_ms());
  db.transaction([&] {
    for (int i = 0; i < open_incidents; ++i) {
      storage::DeclareRequest request;
      request.title = "sweep " + std::to_string(i);
      request.severity = 1;
      request.declared_by = "alice";
      request.room = "bench:sweep" + std::to_string(i);
      const auto id = incidents.declare(request).incident.id;
      incidents.assign(id, "commander", "alice");
    }
  });
  commands::plan_missing_reminders(services);  // each one's first due time, as at start
  // Before: the watcher read every open incident each second and planned them all (what
  // run_incident_watch did until the incident alarm); reproduced here for the comparison.
  std::vector<double> sweep;
  for (int round = 0; round < 20; ++round) {
    const auto start = Steady::now();
    const auto open = incidents.open_incidents();
    const auto steps = commands::plan_reminders(open, settings, clock.now_ms());
    sweep.push_back(seconds_since(start) * 1e3);
    if (!steps.empty())
      std::printf("  (unexpected: %zu reminder steps)\n", steps.size());
  }
  std::printf(
      "  before: reading and planning all %d open incidents each second: p50 %.2f ms, max %.2f "
      "ms\n",
      open_incidents, percentile(sweep, 0.5), percentile(sweep, 1.0));
  // After: each second only the upkeep (pending announcements, touched cards); the alarm reads
  // the earliest deadline when it wakes (at that deadline, or on a change), and then only the
  // incidents that are due.
  std::vector<double> quiet, deadline;
  for (int round = 0; round < 20; ++round) {
    auto start = Steady::now();
    commands::run_incident_upkeep(services, &feed);
    quiet.push_back(seconds_since(start) * 1e3);
    start = Steady::now();
    const auto next = incidents.next_deadline();
    deadline.push_back(seconds_since(start) * 1e3);
    if (!next)
      std::printf("  (unexpected: no deadline)\n");
  }
  std::printf(
      "  after: the watcher's upkeep each second p50 %.3f ms, max %.3f ms; the alarm's "
      "next-deadline read p50 %.3f ms, max %.3f ms; due reminders read: %zu\n",
      percentile(quiet, 0.5), percentile(quiet, 1.0), percentile(deadline, 0.5),
      percentile(deadline, 1.0), incidents.due_reminders(clock.now_ms(), 1000).size());
  db.exec("UPDATE incidents SET next_reminder_at = 1 WHERE status != 'resolved'");
  const long long before = directory.opened;
  const auto start = Steady::now();
  const int reminded = commands::send_due_reminders(services);
  const double due_ms = seconds_since(start) * 1e3;
  std::printf(
      "  all %d open incidents due at once: %.1f ms (%.0f us per reminder: decided, "
      "recorded with its timeline row and announcement, delivered); %d decided, %lld "
      "delivered\n",
      open_incidents, due_ms, due_ms * 1e3 / open_incidents, reminded, directory.opened - before);

  // 3. Timeline appends, batched: 1,000 entries per transaction on one open incident.
  for (const auto& incident : incidents.open_incidents())
    incidents.set_status(incident.id, "resolved", "", clock.now_ms());
  audit.append({"alice", "incident.resolved", "INC-0", "ok", "reload the feed"});
  storage::DeclareRequest target;
  target.title = "timeline target";
  target.declared_by = "alice";
  target.services = {"hello"};
  const auto target_id = incidents.declare(target).incident.id;
  {
    constexpr int kBatches = 50, kBatch = 1000;
    const auto start = Steady::now();
    for (int b = 0; b < kBatches; ++b) {
      std::vector<storage::TimelineEntry> batch(kBatch);
      for (int i = 0; i < kBatch; ++i) {
        auto& entry = batch[static_cast<std::size_t>(i)];
        entry.incident_id = target_id;
        entry.event_at = entry.ingested_at = clock.now_ms();
        entry.kind = "alert";
        entry.actor = "alertmanager";
        entry.text = "HighErrors firing on hello (batch " + std::to_string(b) + ")";
        entry.source_ref = "bench:" + std::to_string(b) + ":" + std::to_string(i);
      }
      incidents.append_batch(batch);
    }
    const double took = seconds_since(start);
    std::printf("  timeline appends, batches of %d: %.0f entries/s\n", kBatch,
                kBatches * kBatch / took);
  }

  // 4. Alertmanager notifications of 10 alerts each (parsed, deduplicated, routed, put on the
  // open incident's timeline, one grouped post): new ones, then the same again (all duplicates).
  commands::AlertSettings alert_settings;
  alert_settings.channel = "bench:alerts";
  const auto payload = [](int n, const std::string& status) {
    std::string body = R"({"version":"4","groupKey":"{}:{alertname=\"G)" + std::to_string(n) +
                       R"(\"}","status":")" + status +
                       R"(","receiver":"shipmate","groupLabels":{},"commonLabels":{},)"
                       R"("commonAnnotations":{},"externalURL":"http://am","alerts":[)";
    for (int a = 0; a < 10; ++a) {
      body += std::string(a ? "," : "") + R"({"status":")" + status +
              R"(","labels":{"alertname":"G)" + std::to_string(n) +
              R"(","service":"hello","severity":"warning","instance":"i)" + std::to_string(a) +
              R"("},"annotations":{"summary":"high"},"startsAt":"2026-12-06T10:00:00Z",)"
              R"("endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom",)"
              R"("fingerprint":"f)" +
              std::to_string(n) + "-" + std::to_string(a) + R"("})";
    }
    return body + "]}";
  };
  // Each slot is a sender: it parses its next body and ingests it, and sends the next one when
  // that was answered. "own commit": ingest_alerts(), one transaction per notification (what the
  // webhooks did before the shared commit); "shared commit": ingest_alerts_grouped() through a
  // CommitBatcher, as the webhooks do now (answered after the transaction holding it committed).
  constexpr int kNotifications = 2000;
  storage::CommitBatcher alert_commits(
      db, [&io](std::function<void()> flush) { asio::post(io, std::move(flush)); });
  int round = 0;
  for (const int in_flight : {1, 32}) {
    for (const bool shared : {false, true}) {
      std::vector<std::string> bodies;
      for (int n = 0; n < kNotifications; ++n)
        bodies.push_back(payload(round * kNotifications + n, "firing"));
      ++round;
      for (const bool repeat : {false, true}) {
        int accepted = 0, duplicates = 0, failed = 0;
        std::size_t next = 0;
        std::vector<double> latencies;
        latencies.reserve(bodies.size());
        const auto transactions = alert_commits.counters().transactions;
        io.restart();
        const double cpu_before = cpu_seconds();
        const auto start = Steady::now();
        for (int slot = 0; slot < in_flight; ++slot) {
          asio::co_spawn(
              io,
              [&, shared]() -> asio::awaitable<void> {
                while (next < bodies.size()) {
                  const std::string& body = bodies[next++];
                  const auto began = Steady::now();
                  auto notification = integrations::alerts::parse_alertmanager(body);
                  if (!notification) {
                    ++failed;
                    continue;
                  }
                  if (shared) {
                    integrations::alerts::AlertNotification decoded = std::move(*notification);
                    auto ingested = co_await commands::ingest_alerts_grouped(
                        services, alert_commits, alert_settings, std::move(decoded));
                    if (!ingested) {
                      ++failed;
                      continue;
                    }
                    accepted += ingested->accepted;
                    duplicates += ingested->duplicates;
                  } else {
                    const auto ingested =
                        commands::ingest_alerts(services, alert_settings, *notification);
                    accepted += ingested.accepted;
                    duplicates += ingested.duplicates;
                    // A sender's answer is a loop turn away, as over HTTP.
                    co_await asio::post(io, asio::use_awaitable);
                  }
                  latencies.push_back(
                      std::chrono::duration<double, std::micro>(Steady::now() - began).count());
                }
              },
              asio::detached);
        }
        io.run();
        io.restart();
        const double took = seconds_since(start);
        const double cpu = cpu_seconds() - cpu_before;
        const auto commits = alert_commits.counters().transactions - transactions;
        std::printf(
            "  Alertmanager notifications of 10 alerts, %2d in flight, %s commit, %s: %.0f "
            "notifications/s (%d alerts accepted, %d duplicates, %d failed; latency p50 %.0f us, "
            "p99 %.0f us; %s; CPU %.0f us each, user+system)\n",
            in_flight, shared ? "shared" : "own", repeat ? "the same again (duplicates)" : "new",
            static_cast<double>(bodies.size()) / took, accepted, duplicates, failed,
            percentile(latencies, 0.5), percentile(latencies, 0.99),
            shared ? (std::to_string(commits) + " shared commits").c_str() : "one commit each",
            cpu * 1e6 / static_cast<double>(bodies.size()));
      }
    }
  }

  // 5. A firing alert whose route opens an incident, to the incident's first chat message (its
  // card; no room platform here, so it is posted where the alert posts), in process.
  commands::AlertRoute opens;
  opens.match = {{"severity", "critical"}};
  opens.open_incident = true;
  alert_settings.routes.push_back(opens);
  incidents.set_status(target_id, "resolved", "", clock.now_ms());  // else alerts join it
  audit.append({"alice", "incident.resolved", "INC-0", "ok", "reload the feed"});
  std::vector<double> first_message;
  for (int n = 0; n < 50; ++n) {
    std::string body = payload(100000 + n, "firing");
    for (auto at = body.find("warning"); at != std::string::npos; at = body.find("warning"))
      body.replace(at, 7, "critical");
    const long long before_posts = directory.opened;
    const auto start = Steady::now();
    auto notification = integrations::alerts::parse_alertmanager(body);
    const auto ingested = commands::ingest_alerts(services, alert_settings, *notification);
    first_message.push_back(seconds_since(start) * 1e3);
    if (ingested.incidents_opened.size() != 1 || directory.opened == before_posts)
      std::printf("  (unexpected: %zu opened)\n", ingested.incidents_opened.size());
    for (const auto id : ingested.incidents_opened)
      incidents.set_status(id, "resolved", "", clock.now_ms());
    audit.append({"alice", "incident.resolved", "INC-0", "ok", "reload the feed"});
  }
  std::printf("  firing alert to the incident's first chat message: p50 %.2f ms, max %.2f ms\n",
              percentile(first_message, 0.5), percentile(first_message, 1.0));
  audit.remove_observer(&feed);
  remove_files();
  return 0;
}
