// The seam between the Teams transport and Bot Framework authentication: the types only, so the
// transport needs no libjwt or OpenSSL. bot/teams/teams_auth.h makes the real implementations.
//
// Contract: see bot/teams/teams_auth.h. In short: verify() answers status 200 with the caller,
// or 401/403 with one line to log (never the token), making no call other than fetching keys;
// bearer() answers "Bearer <token>", cached; invalidate() after the connector answered 401.
#pragma once

#include <cstddef>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "common/result.h"

namespace shipmate::bot::teams {

struct VerifiedActivityCaller {  // what a verified Bot Framework token proves
  std::string service_url;       // the token's serviceurl claim (== the activity's serviceUrl)
  std::string channel_id;        // the activity's channelId, endorsed by the signing key
  std::string app_id;            // aud: this bot
};

struct InboundCheck {
  int status = 401;               // 200 when verified; otherwise 401 or 403 to answer
  std::string reason;             // one line to log when refused (never the token)
  VerifiedActivityCaller caller;  // when status == 200
  bool ok() const { return status == 200; }
};

class InboundVerifier {
 public:
  virtual ~InboundVerifier() = default;
  virtual boost::asio::awaitable<InboundCheck> verify(std::string authorization,
                                                      std::string channel_id,
                                                      std::string service_url) = 0;
  // How many token signatures were checked with a key so far (a counter for tests and
  // benchmarks: a remembered token is not checked again).
  virtual std::size_t signature_checks() const { return 0; }
};

class ConnectorCredentials {
 public:
  virtual ~ConnectorCredentials() = default;
  virtual boost::asio::awaitable<Result<std::string>> bearer() = 0;
  virtual void invalidate() = 0;
  virtual std::size_t token_requests() const = 0;
};

}  // namespace shipmate::bot::teams
