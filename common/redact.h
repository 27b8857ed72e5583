// Secret redaction.
//
// Every secret value Shipmate loads (tokens, passwords, webhook keys) is registered here the
// moment it is read. Loggers, chat replies, error messages and database writes pass their text
// through `redact()`, which replaces each registered value with "[REDACTED]".
//
// Thread safety: all functions may be called from any thread.
#pragma once

#include <string>
#include <string_view>

namespace shipmate {

// Values shorter than 4 characters are ignored: redacting "a" would shred every message.
void register_secret(std::string_view value);
// Forgets every registered secret (tests).
void clear_registered_secrets();
std::string redact(std::string_view text);
bool contains_secret(std::string_view text);

}  // namespace shipmate
