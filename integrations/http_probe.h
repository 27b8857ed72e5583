// A one-shot HTTP/1.1 GET against a loopback port, for health checks.
//
// Contract
// - Connects to 127.0.0.1:<port>, sends "GET <path>" with "Connection: close", and reads the
//   status line, headers and up to a few KB of body. The whole exchange (connect included) is
//   bounded by `timeout`.
// - Any HTTP answer is a success here, whatever its status; the caller decides what is healthy.
//   Errors are one lowercase phrase for a progress line: "connection refused",
//   "timed out after 2000 ms", "malformed response".
// - Threading: runs on the awaiting coroutine's executor; no shared state.
#pragma once

#include <chrono>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "common/result.h"

namespace shipmate::integrations {

struct HttpProbeResult {
  int status = 0;
  std::string body;  // the first bytes of the body (at most 4 KB), as received
};

boost::asio::awaitable<Result<HttpProbeResult>> http_probe(int port, std::string path,
                                                           std::chrono::milliseconds timeout);

// "HTTP 500: database connection failed" — status plus the body's first line, shortened.
std::string describe_http_answer(const HttpProbeResult& answer);

}  // namespace shipmate::integrations
