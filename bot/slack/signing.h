// Slack request signing (HTTP mode): v0=HMAC-SHA256(secret, "v0:<timestamp>:<body>").
//
// Contract: pure and constant-time in the signature comparison. Rejects a missing or malformed
// header, a timestamp more than `max_age_seconds` from `now_seconds` in either direction, and a
// signature that does not match; the Error says which, without echoing the secret.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace shipmate::bot::slack {

Status verify_signature(std::string_view signing_secret, std::string_view timestamp_header,
                        std::string_view signature_header, std::string_view body,
                        std::int64_t now_seconds, std::int64_t max_age_seconds = 300);

// "v0=<hex>" for the given inputs (tests and the fake server sign with it).
std::string compute_signature(std::string_view signing_secret, std::string_view timestamp,
                              std::string_view body);

}  // namespace shipmate::bot::slack
