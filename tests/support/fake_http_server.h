// FakeHttpServer: the HTTP plumbing every fake external system in the tests shares (GitHub,
// GitLab, Jenkins, Kubernetes, Argo CD, Prometheus). A fake supplies one handler that maps a
// request to a response; this class owns sockets, TLS, keep-alive, recording and streaming.
//
// Contract
// - The constructor binds 127.0.0.1 on a free port and serves on a background thread with its own
//   io_context; the destructor closes every connection and joins that thread.
// - The handler is called on the server's thread, one request at a time, so a fake's state needs a
//   mutex only for what tests read or change from their own thread.
// - Every request is recorded before the handler sees it; requests() returns copies.
// - Responses: Content-Length is set unless the response streams. A streaming response (for
//   watches: Kubernetes `?watch=true`) is sent with chunked encoding; the server polls `stream`
//   every `stream_poll` and writes each non-empty chunk it returns, ending the body when it
//   returns nullopt or the server stops.
// - `close_connection` drops the socket without answering (a connection error for the client);
//   `delay` holds the answer back (timeouts).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shipmate::testing {

struct FakeRequest {
  std::string method;
  std::string target;                        // as sent: path and query
  std::string path;                          // target without the query, percent-decoded
  std::map<std::string, std::string> query;  // decoded; the last value wins
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Case-insensitive; empty when absent.
  std::string header(std::string_view name) const;
};

struct FakeResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // Content-Type defaults to JSON
  std::string body;
  std::chrono::milliseconds delay{0};
  bool close_connection = false;
  std::function<std::optional<std::string>()> stream = {};
  std::chrono::milliseconds stream_poll{20};

  static FakeResponse json(int status, std::string body);
  static FakeResponse text(int status, std::string body);
};

class FakeHttpServer {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&)>;
  struct Options {
    bool tls = false;  // certificates from shared_test_certificates(); clients trust ca_path()
    // With tls: require every client to present a certificate signed by this PEM CA (mutual TLS,
    // as Kubernetes API servers do); the handshake fails without one. Empty: no client certs.
    std::string client_ca_file = {};
  };

  explicit FakeHttpServer(Handler handler);
  FakeHttpServer(Handler handler, Options options);
  ~FakeHttpServer();
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  unsigned short port() const;
  std::string base_url() const;  // "http://127.0.0.1:PORT" or "https://localhost:PORT"
  std::string ca_path() const;   // empty for a plain server

  std::vector<FakeRequest> requests() const;
  std::size_t request_count() const;
  // Requests whose method matches and whose path starts with `path_prefix`.
  std::vector<FakeRequest> requests_to(std::string_view method, std::string_view path_prefix) const;
  void clear_requests();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Percent-decoding for paths and query values ('+' as space in query values only).
std::string percent_decode(std::string_view text, bool plus_as_space);

}  // namespace shipmate::testing
