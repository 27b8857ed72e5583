// Logging: spdlog, human-readable on a terminal or JSON lines, secrets always redacted.
//
// Every sink Shipmate installs sits behind a redacting sink, so no log line can carry a
// registered secret whatever code wrote it. Logs go to stderr; chat replies own stdout.
#pragma once

#include <memory>
#include <string>

#include <spdlog/sinks/sink.h>

namespace shipmate::bot {

enum class LogFormat { text, json };

// Installs the default logger. `level` is an spdlog level name ("info", "debug", "warn", ...).
void setup_logging(LogFormat format, const std::string& level);

// Wraps `inner` so that every message is redacted before it is formatted. Exposed for tests.
std::shared_ptr<spdlog::sinks::sink> make_redacting_sink(
    std::shared_ptr<spdlog::sinks::sink> inner);
// A formatter that writes one JSON object per line: {"ts":..,"level":..,"logger":..,"msg":..}.
std::unique_ptr<spdlog::formatter> make_json_formatter();

}  // namespace shipmate::bot
