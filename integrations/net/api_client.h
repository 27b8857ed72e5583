// ApiClient: the transport every REST integration shares (GitHub, GitLab, Jenkins, Kubernetes,
// Argo CD, Prometheus). It adds to HttpClient what calling someone else's API needs: a base URL,
// default headers (auth, Accept), retries with back-off, and errors a person can act on.
//
// Contract
// - Threading: like HttpClient, one ApiClient belongs to one executor; call() may run concurrently
//   from many coroutines. The ApiClient borrows the HttpClient, which must outlive it.
// - Retries: a call is retried on transport errors, 5xx, and 429 (honouring Retry-After, in
//   seconds, capped by max_backoff) up to `max_attempts` in all, with jittered exponential back-off
//   starting at `first_backoff`. Calls marked `idempotent = false` (most POSTs) are retried only
//   when the request provably never reached the server (connect failures) and on 429/503, which
//   say the request was not processed.
// - Success: any 2xx, or a status listed in ApiCall::pass_through (e.g. 304 for ETag polling, 409
//   for a caller that resolves conflicts itself). Everything else becomes an Error whose message
//   names the service and the step and says what the status means:
//     "GitHub: trigger workflow deploy.yml: not found (404): Not Found"
//     "Kubernetes: read deployment api: credentials rejected (401): Unauthorized"
//   followed by the server's own message when the body carries one (`message`, `error`,
//   `error_description` or Kubernetes' Status `message`).
// - Error kinds: a refused status gets http_status_kind() (401/403 auth, 404 not_found, 409/412
//   conflict, 5xx/429 unavailable, 400/422 invalid); a transport failure keeps the HttpClient's
//   kind (unavailable for DNS, refused connections and timeouts; tls for certificate trouble).
// - Back-off waits go through a Timers (common/timer.h): ApiClientOptions::timers when given (the
//   targets pass theirs, so a test on ManualTimers moves time instead of waiting), otherwise a
//   SteadyTimers on the executor of the first call that has to wait. A wait whose Timers is
//   cancelled (cancel_all, the caller's cancellation slot) ends the call with the last failure.
// - Whether a failed request may be sent again is decided on Error::reach (common/result.h),
//   never on the message text: a non-idempotent call is retried only when it was not sent.
// - Secrets in default headers never appear in errors or logs.
// - Logging: one line per attempt (service, step, method, path without its query, status or
//   failure, time, attempt): calls that change something at info, reads at debug, failures at
//   warn. Inside a chat request the logger adds its request id (common/request_id.h), so a
//   deploy's integration calls can be pulled out of the log with the deploy's other lines.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "common/result.h"
#include "common/timer.h"
#include "integrations/net/http_client.h"

namespace shipmate::integrations::net {

struct RetryPolicy {
  int max_attempts = 4;
  std::chrono::milliseconds first_backoff{250};
  std::chrono::milliseconds max_backoff{8000};
};

struct ApiClientOptions {
  std::string service;   // how errors name the system: "GitHub", "GitLab", "Jenkins", ...
  std::string base_url;  // "https://api.github.com"; paths in calls are appended to it
  Headers default_headers;
  RetryPolicy retry;
  std::chrono::milliseconds timeout{15000};  // per attempt
  std::shared_ptr<Timers> timers = {};       // back-off waits; null: real time
};

struct ApiCall {
  std::string step;  // what Shipmate was doing, for errors: "trigger workflow deploy.yml"
  std::string method = "GET";
  std::string path;      // "/repos/o/r/actions/runs?per_page=5", or an absolute http(s) URL
  Headers headers = {};  // added to (and overriding) the default headers
  std::string body = {};
  bool idempotent = true;
  std::vector<int> pass_through = {};
};

class ApiClient {
 public:
  ApiClient(HttpClient& http, ApiClientOptions options);

  boost::asio::awaitable<Result<HttpResponse>> call(ApiCall call);

  const ApiClientOptions& options() const { return options_; }
  // Attempts made by the last call() to finish (tests of the retry policy).
  int last_attempts() const { return last_attempts_; }

 private:
  HttpClient& http_;
  ApiClientOptions options_;
  void log_attempt(const ApiCall& call, const Result<HttpResponse>& result, int attempt,
                   std::chrono::steady_clock::time_point started) const;

  int last_attempts_ = 0;
  std::shared_ptr<Timers> timers_;  // options_.timers, or made on the first wait
};

// "not found (404)", "credentials rejected (401)", ... plus the server's message from `body`.
std::string describe_http_failure(int status, std::string_view body);

}  // namespace shipmate::integrations::net
