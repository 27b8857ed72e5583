// The proxy settings every outbound client shares, read from the environment as curl and git
// read them: HTTPS_PROXY / https_proxy for secure schemes, HTTP_PROXY / http_proxy for plain
// ones, and NO_PROXY / no_proxy ("example.org", ".example.org", "*.example.org", "host:port",
// "*") for the hosts to reach directly. Pure helpers without Beast, so clients outside
// shipmate_net (the libgit2 commit source) decide exactly as the HTTP and WebSocket clients do.
//
// Contract: thread-safe (they read the environment, which Shipmate never changes after start);
// nothing throws.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace shipmate::integrations::net::detail {

// The first of two environment variables that is set and not empty, or nullptr.
const char* env_first(const char* upper, const char* lower);

// NO_PROXY's entries, normalised for bypasses_proxy().
std::vector<std::string> parse_no_proxy(const char* value);
bool bypasses_proxy(const std::vector<std::string>& no_proxy, const std::string& host);

// The proxy URL text for one connection: `configured` when given (an empty string means none),
// else the environment's for the scheme; nullopt when none applies or NO_PROXY covers `host`.
std::optional<std::string> proxy_text_for(const std::optional<std::string>& configured, bool secure,
                                          const std::string& host);

}  // namespace shipmate::integrations::net::detail
