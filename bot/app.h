// The application: owns the event loop and wires configuration, storage, targets, the command
// table, the router, the command intake, the watcher and the chat transports together.
//
// Contract
// - Threading: one thread runs the event loop and does all I/O; other threads (the terminal's
//   stdin reader, Asio's resolver, the shutdown watchdog) only post to it.
// - Chat platforms come from the table in bot/platforms.h; the App names none of them. The
//   terminal (when AppOptions::terminal) is one more ChatTransport, started last, once the bot is
//   ready.
// - Timed work (lock expiry, approval timeouts, incident reminders and room archiving) runs on the
//   one scheduler (scheduler/scheduler.h, commands/timed_jobs.h) beside the stored schedules; the
//   Watcher (bot/watcher.h) keeps only the incident upkeep, which is not timed.
// - Shutdown is two-stage: the first SIGINT/SIGTERM (or the end of terminal input, or a transport
//   failing for good) stops every transport from taking commands (each gets
//   AppOptions::transport_grace to send what it has queued), records every in-flight deploy as
//   cancelled, stops the processes the targets started and lets running commands finish; a
//   second signal exits at once. A replica on PostgreSQL stopped by a signal hands its deploys
//   and runbook runs over instead of cancelling them, and releases its lease last, so survivors
//   take everything over at once (bot/work_in_hand.h, commands/handover.h). A watchdog exits with
//   status 1 if draining takes over 20 s. After the drain the event loop has nothing left and
//   run() returns; if it still has work AppOptions::post_drain_linger later (a stray coroutine,
//   timer or socket), the App logs an error naming what it knows to be still running (commands,
//   runbook runs and processes) and stops the loop, and run() returns the exit code the shutdown
//   decided. The watchdog stands down when run() returns or the App is destroyed.
// - Errors: start-up failures (storage, state directory, integrations) are printed on stderr and
//   give exit code 2; a chat platform that cannot join or fails for good gives exit code 1.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bot/config.h"

namespace shipmate::bot {

struct ChatPlatform;  // bot/platforms.h

struct AppOptions {
  std::string user;             // identity for the terminal transport
  bool terminal = true;         // attach the terminal transport
  bool interactive = false;     // prompt and colour
  bool echo = false;            // echo commands (scripted sessions)
  bool chat_platforms = false;  // join the chat platforms whose credentials are in the environment
  // The platform table to use instead of chat_platforms() (tests: fake transports); must outlive
  // the App.
  const std::vector<ChatPlatform>* platforms = nullptr;
  // How long a stopping transport may take to send the replies it has queued.
  std::chrono::milliseconds transport_grace{5000};
  // How long the event loop may keep running after a completed drain before it is stopped.
  std::chrono::milliseconds post_drain_linger{5000};
};

class App {
 public:
  // `config` must outlive the App.
  App(const Config& config, AppOptions options);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Opens storage, builds integrations and transports, and schedules start-up on the event loop.
  // Returns 0, or the exit code of a failure it has already reported on stderr.
  int start();
  // Runs the event loop until shutdown has completed; returns the process exit code.
  int run();
  // The first stage of shutdown (drain); later calls do nothing. Event-loop thread only.
  void shutdown(std::string why);

  // The periodic jobs registered with the watcher, by name and period (after start()).
  std::vector<std::pair<std::string, std::chrono::milliseconds>> watcher_jobs() const;
  // The scheduler's timed jobs (lock expiry, approval timeouts, reminders, archiving), by name.
  std::vector<std::string> timed_jobs() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// start() then run(): returns the process exit code.
int run_app(const Config& config, const AppOptions& options);

// `shipmate audit verify`: 0 when the chain is intact, 1 when tampered, 2 when unreadable.
int run_audit_verify(const Config& config);

}  // namespace shipmate::bot
