// Logging: spdlog, human-readable on a terminal or JSON lines, secrets always redacted.
//
// Every sink Shipmate installs sits behind a redacting sink, so no log line can carry a
// registered secret whatever code wrote it. Logs go to stderr; chat replies own stdout.
//
// Request ids (common/request_id.h): a line written while a chat request's coroutine runs
// carries its id, in text as "req=<id> " before the message and in JSON as a "request" field,
// so one request's lines (a deploy and its integration calls) can be pulled out with grep or jq.
// Lines written outside any request have neither. The logger is synchronous: the id is read on
// the thread that logs, while it logs.
#pragma once

#include <memory>
#include <string>

#include <spdlog/formatter.h>
#include <spdlog/sinks/sink.h>

namespace shipmate::bot {

enum class LogFormat { text, json };

// Installs the default logger. `level` is an spdlog level name ("info", "debug", "warn", ...).
void setup_logging(LogFormat format, const std::string& level);

// Wraps `inner` so that every message is redacted before it is formatted. Exposed for tests.
std::shared_ptr<spdlog::sinks::sink> make_redacting_sink(
    std::shared_ptr<spdlog::sinks::sink> inner);
// A formatter that writes one JSON object per line:
// {"ts":..,"level":..,"logger":..,"request":..,"msg":..} ("request" only inside a request).
std::unique_ptr<spdlog::formatter> make_json_formatter();
// The text formatter: spdlog's `pattern`, where %Q stands for "req=<id> " inside a request and
// for nothing outside one.
std::unique_ptr<spdlog::formatter> make_text_formatter(
    const std::string& pattern = "%Y-%m-%d %H:%M:%S.%e %^%l%$ %Q%v");

}  // namespace shipmate::bot
