// UrlCache: parse_url() for a client that calls one API over and over, remembering the last URL.
//
// Contract
// - parse(text) returns what parse_url(text) returns. The last URL parsed is remembered: the
//   same text again is not parsed (Slack's chat.postMessage for every reply), and a URL with the
//   same scheme and authority (the text up to the first '/' after "://") and another target
//   takes the last one's scheme, host and port and only its own target, when every byte of that
//   target is one RFC 3986 allows there as it is (unreserved and sub-delims characters, ':', '@',
//   '/', '?' and %XX escapes), so that the parser would have returned it unchanged (the Teams
//   connector's /v3/conversations/<id>/activities/<id>, one URL per conversation). Anything else
//   goes through the parser.
// - parsed() counts the texts that went through the parser (tests, benchmarks).
// - Not thread-safe: one per HttpClient, used on its executor.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "integrations/net/http_client.h"

namespace shipmate::integrations::net::detail {

// Whether `target` (a path and query) is made only of what RFC 3986 allows there as it is.
bool is_plain_target(std::string_view target);

class UrlCache {
 public:
  std::optional<ParsedUrl> parse(const std::string& text);
  std::size_t parsed() const { return parsed_; }

 private:
  std::optional<std::pair<std::string, ParsedUrl>> last_;
  std::size_t origin_ = 0;  // length of last_'s scheme://authority; 0: no shortcut
  std::size_t parsed_ = 0;
};

}  // namespace shipmate::integrations::net::detail
