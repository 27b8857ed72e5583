// A rate-limited answer carried as an Error: the platform said "too many calls, wait N s" (Slack:
// HTTP 429 with Retry-After). The wait travels in the error's text, in one fixed form that a
// person can read ("pins.add was rate limited (asked to wait 30 s)"), so it crosses the
// ChatTransport seam without widening every ability's result type; only these two functions
// write and read that form.
//
// Contract: pure functions, any thread. The error's kind is ErrorKind::unavailable (trying
// again later may work).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "common/result.h"

namespace shipmate {

Error rate_limited_error(const std::string& what, std::chrono::seconds wait);
// The wait a rate_limited_error() carries; nullopt for any other error.
std::optional<std::chrono::milliseconds> rate_limit_wait(const Error& error);

}  // namespace shipmate
