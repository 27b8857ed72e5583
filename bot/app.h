// The application: owns the event loop and wires configuration, storage, targets, the command
// table, the router and the chat transports together.
//
// Shutdown is two-stage: the first SIGINT/SIGTERM (or the end of terminal input) records every
// in-flight deploy as cancelled, stops the processes the targets started and lets running
// commands finish; a second signal exits at once.
#pragma once

#include <string>

#include "bot/config.h"

namespace shipmate::bot {

struct AppOptions {
  std::string user;             // identity for the terminal transport
  bool terminal = true;         // attach the terminal transport
  bool interactive = false;     // prompt and colour
  bool echo = false;            // echo commands (scripted sessions)
  bool chat_platforms = false;  // join Slack when SLACK_APP_TOKEN and SLACK_BOT_TOKEN are set
};

// Runs until shutdown; returns the process exit code.
int run_app(const Config& config, const AppOptions& options);

// `shipmate audit verify`: 0 when the chain is intact, 1 when tampered, 2 when unreadable.
int run_audit_verify(const Config& config);

}  // namespace shipmate::bot
