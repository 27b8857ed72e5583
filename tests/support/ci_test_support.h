// Shared by the CI provider tests (GitLab, Jenkins): fast polling, a follow that records what it
// saw, the deploy request they trigger, and HTTP options that trust a fake's test CA.
#pragma once

#include <chrono>
#include <functional>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/awaitable.hpp>

#include "integrations/ci_provider.h"
#include "integrations/net/http_client.h"

// GoogleTest's ASSERT_* return from the enclosing function, which a coroutine cannot do.
#define CO_ASSERT_TRUE(condition, message)                        \
  do {                                                            \
    if (!(condition)) {                                           \
      ADD_FAILURE() << "expected " #condition << ". " << message; \
      co_return;                                                  \
    }                                                             \
  } while (false)
#define CO_ASSERT_OK(result) CO_ASSERT_TRUE((result).ok(), (result).error().message)
#define CO_ASSERT_FAILS(result) CO_ASSERT_TRUE(!(result).ok(), "it succeeded")

namespace shipmate::testing {

inline integrations::FollowOptions fast_follow() {
  using namespace std::chrono_literals;
  integrations::FollowOptions options;
  options.first_poll = 10ms;
  options.max_poll = 25ms;
  // A guard, not a timing claim: the fakes' runs end in about 100 ms of wall time, but a loaded
  // machine may stretch that; the tests of the time-out set a deadline of their own.
  options.deadline = 30s;
  options.max_consecutive_errors = 3;
  return options;
}

// follow_ci_run with the callback named first: GCC 12 mishandles temporaries with destructors in
// the arguments of an awaited call.
inline boost::asio::awaitable<Result<integrations::CiRunStatus>> follow(
    integrations::CiProvider& provider, integrations::CiRunHandle handle,
    integrations::FollowOptions options = fast_follow(),
    std::vector<integrations::CiRunStatus>* seen = nullptr) {
  std::function<void(const integrations::CiRunStatus&)> progress =
      [seen](const integrations::CiRunStatus& status) {
        if (seen)
          seen->push_back(status);
      };
  auto result = co_await integrations::follow_ci_run(provider, std::move(handle), options,
                                                     std::move(progress));
  co_return result;
}

inline integrations::CiRunRequest deploy_request() {
  integrations::CiRunRequest request;
  request.service = "api";
  request.environment = "staging";
  request.version = "v2.3.1";
  request.correlation_id = "shipmate-7-1700000000";
  return request;
}

// Trusts the fake's CA, and never routes the loopback fake through a proxy from the environment.
template <class Fake>
integrations::net::HttpClientOptions client_options(const Fake& fake) {
  integrations::net::HttpClientOptions options;
  options.ca_file = fake.ca_path();
  options.proxy = "";
  return options;
}

}  // namespace shipmate::testing
