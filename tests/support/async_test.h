// Helpers for tests that run coroutines against local (plain or TLS) servers: one set of test
// certificates per test binary, a server TLS context made from them, and a bounded event loop.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>

#include "tests/support/test_support.h"
#include "tests/support/test_tls.h"

namespace shipmate::testing {

// Made once per test binary: generating keys is the slow part of a TLS test.
inline const TestCertificates& shared_test_certificates() {
  static TempDir dir;
  static TestCertificates certificates = make_test_certificates(dir.path());
  return certificates;
}

// A server-side TLS context presenting the shared test certificate.
inline std::shared_ptr<boost::asio::ssl::context> test_server_tls_context() {
  namespace ssl = boost::asio::ssl;
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->use_certificate_chain_file(shared_test_certificates().cert_path);
  context->use_private_key_file(shared_test_certificates().key_path, ssl::context::pem);
  return context;
}

// Runs one test coroutine on a private event loop shared with the test's servers. The loop is
// bounded so a hung test fails instead of blocking the suite. The bound is a hang guard, not a
// timing claim: the loop returns as soon as the coroutine finishes, so a generous default (30 s)
// costs a passing test nothing, while 5 s (the old default) is within reach of a run that is only
// slow, on a loaded 2-core machine.
inline void run_async_test(
    std::function<boost::asio::awaitable<void>(boost::asio::io_context&)> body,
    std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  boost::asio::io_context ioc;
  bool done = false;
  std::exception_ptr failure;
  boost::asio::co_spawn(ioc, body(ioc), [&](std::exception_ptr e) {
    done = true;
    failure = e;
    ioc.stop();
  });
  ioc.run_for(limit);
  if (failure)
    std::rethrow_exception(failure);
  EXPECT_TRUE(done) << "test did not finish within " << limit.count() << " ms";
}

}  // namespace shipmate::testing
