// What a web-view request asks for, decided without I/O: its query parameters, whether it wants
// JSON, and whether it may see anything at all.
//
// Contract
// - Pure functions; thread-safe.
// - parse_query(): application/x-www-form-urlencoded (`+` is a space, %XX escapes). Refused with
//   an Error (ErrorKind::invalid, a sentence naming the parameter) when an escape is malformed,
//   a parameter repeats, or the query is over 2 KiB. check_known() refuses a parameter the page
//   does not take, with a "did you mean" by edit distance. Each page then validates its values
//   (web/site.h); an invalid request is answered 400 with the reason, never partly served.
// - wants_json(): JSON when the query says `format=json`, or when the Accept header names
//   application/json (or `*/json`) and not text/html; a browser's Accept gets HTML.
// - decide_access(): the web view's access rule.
//     - No credentials configured: only a loopback peer (127.0.0.0/8, ::1, ::ffff:127.x) is
//       served; the configuration refuses a non-loopback bind without credentials
//       (bot/config.cpp), and this check holds even if that were bypassed.
//     - A bearer token and/or Basic credentials configured: every request must present one of
//       them, from any peer, loopback included. Comparisons are constant-time over SHA-256
//       digests, so neither content nor length leaks through timing.
//     - Readers (`readers:`) are Basic credentials of their own: a reader who signs in with
//       their Shipmate id and password is allowed and named in the decision (`reader`), so the
//       pages can show them the private incidents they belong to; the shared token or Basic
//       pair reads as no one in particular. Every reader's pair is compared, whichever matches.
//   A refusal carries the WWW-Authenticate challenge to send (401) and a reason for the log;
//   neither ever contains what the client sent or what is configured.
// - reader_challenge(): the Basic challenge a page answers (401) when only a reader signed in as
//   themselves may read it.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace shipmate::web {

class QueryParams {
 public:
  // The value of `key`; nullptr when absent.
  const std::string* get(std::string_view key) const;
  // The value, or "" when absent.
  std::string value(std::string_view key) const;
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }
  void add(std::string key, std::string value) {
    items_.emplace_back(std::move(key), std::move(value));
  }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

Result<QueryParams> parse_query(std::string_view raw);
Status check_known(const QueryParams& params, const std::vector<std::string_view>& allowed);

bool wants_json(std::string_view accept, const QueryParams& params);

// A person who signs in to the web view as themselves (Basic, their Shipmate id and their own
// password), so the pages can show them the private incidents they belong to.
struct WebReader {
  std::string user;  // a Shipmate user id
  std::string password;
};

struct AccessPolicy {
  std::string bearer_token = {};    // empty: no bearer token
  std::string basic_user = {};      // empty: no Basic credentials
  std::string basic_password = {};  // with basic_user
  std::vector<WebReader> readers = {};
  bool has_credentials() const {
    return !bearer_token.empty() || !basic_user.empty() || !readers.empty();
  }
};

enum class Access { allow, unauthorized, forbidden };

struct AccessDecision {
  Access access = Access::allow;
  std::string challenge = {};  // the WWW-Authenticate value for a 401
  std::string reason = {};     // for the log: "no credentials", "wrong credentials", ...
  std::string reader = {};     // the reader who signed in as themselves; "" for anyone else
};

AccessDecision decide_access(const AccessPolicy& policy, std::string_view authorization,
                             std::string_view peer);
std::string reader_challenge();
// "127.0.0.1:5555", "[::1]:5555", "[::ffff:127.0.0.1]:5555" (HttpServer's ServerRequest::peer).
bool is_loopback_peer(std::string_view peer);
// A bind address only this host can reach: 127.x.y.z, ::1, localhost.
bool is_loopback_address(std::string_view address);

}  // namespace shipmate::web
