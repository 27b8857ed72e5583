// Health and readiness: what /healthz and /readyz answer (bot/ops_server.h serves them).
//
// Contract
// - Pure: decide_liveness() and decide_readiness() are told what the App observed and answer
//   the verdict; they do no I/O, read no clock and keep no state. Tested step by step in
//   tests/unit/ops_health_test.cpp.
// - Liveness: the process answers at all (the handler runs on the event loop, so an answer
//   proves the loop turns), and the loop's heartbeat (a Watcher job) ran within `deadline`.
//   A loop that answers HTTP but whose timers stall for longer is reported as not live.
// - Readiness, checks in a fixed order, each named in the answer:
//     "shutdown" the App is not draining (after SIGTERM it stops being ready at once);
//     "startup"  start-up (restoring targets, reconciling interrupted deploys, joining chat) done;
//     "database" a write transaction could be opened (BEGIN IMMEDIATE; ROLLBACK);
//     "chat:<platform>" one per chat platform the App joined: its connection is up (Slack Socket
//       Mode: at least one connection has said hello; HTTP-based platforms: listening).
//   Ready only when every check passes; the first failing check is named in `failing`.
// - JSON: {"status":"ok"|"failing","failing":"<check>"|null,"checks":[{"name","ok","detail"}]}.
//   Details are written for a person and never carry a secret (they are passed through redact()).
// - Status code: 200 when ok, 503 otherwise.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/clock.h"

namespace shipmate::bot {

struct HealthCheck {
  std::string name;  // "startup", "database", "chat:slack", "event-loop"
  bool ok = false;
  std::string detail;  // "1 of 2 Socket Mode connections open"
};

struct HealthReport {
  std::vector<HealthCheck> checks;
  bool ok() const;
  // The first failing check's name; empty when ok.
  std::string failing() const;
  int http_status() const { return ok() ? 200 : 503; }
  std::string to_json() const;
};

struct LivenessInputs {
  EpochMillis now = 0;
  EpochMillis last_heartbeat = 0;  // 0: no beat yet (start-up); counted from `started`
  EpochMillis started = 0;
  std::chrono::milliseconds deadline{10'000};
};
HealthReport decide_liveness(const LivenessInputs& in);

struct ChatReadiness {
  std::string platform;  // "slack"
  std::string problem;   // empty when up, else why not ("no Socket Mode connection is open")
};

struct ReadinessInputs {
  bool startup_done = false;
  bool stopping = false;         // shutdown has begun: not ready, whatever else holds
  std::string database_problem;  // empty when writable
  std::vector<ChatReadiness> chat;
};
HealthReport decide_readiness(const ReadinessInputs& in);

}  // namespace shipmate::bot
