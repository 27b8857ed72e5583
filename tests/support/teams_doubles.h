// Test doubles for the Teams auth seam (bot/teams/teams_auth_api.h), for unit tests of the
// transport and the connector client: a verifier that accepts or refuses as scripted, and
// credentials that hand out "Bearer <token>" and count invalidations.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bot/teams/teams_auth_api.h"

namespace shipmate::testing {

class ScriptedVerifier final : public bot::teams::InboundVerifier {
 public:
  // Accepts "Bearer good" for any activity (the caller's service URL is the activity's, or
  // `token_service_url` when set); refuses anything else with `refusal`.
  boost::asio::awaitable<bot::teams::InboundCheck> verify(std::string authorization,
                                                          std::string channel_id,
                                                          std::string service_url) override {
    calls.push_back(authorization);
    if (authorization != "Bearer good")
      co_return refusal;
    bot::teams::InboundCheck check;
    check.status = 200;
    check.caller = {token_service_url.empty() ? service_url : token_service_url, channel_id,
                    "app-id"};
    co_return check;
  }
  bot::teams::InboundCheck refusal{401, "bad signature", {}};
  std::string token_service_url;
  std::vector<std::string> calls;
};

class CountingCredentials final : public bot::teams::ConnectorCredentials {
 public:
  explicit CountingCredentials(std::vector<std::string> tokens_in = {"T1"})
      : tokens(std::move(tokens_in)) {}
  boost::asio::awaitable<Result<std::string>> bearer() override {
    ++requested;
    if (failure)
      co_return *failure;
    co_return "Bearer " + tokens[std::min(invalidated, tokens.size() - 1)];
  }
  void invalidate() override { ++invalidated; }
  std::size_t token_requests() const override { return requested; }
  std::vector<std::string> tokens;
  std::size_t invalidated = 0;
  std::size_t requested = 0;
  std::optional<Error> failure;  // when set, bearer() fails with it
};

}  // namespace shipmate::testing
