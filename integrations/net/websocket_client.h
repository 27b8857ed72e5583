// WebSocket client (ws:// and wss://) for chat transports.
//
// Contract
// - Threading: a WebSocketConnection is used from one executor (the event loop). At most one
//   read() at a time; send() may be called while a read is pending and while other sends are
//   queued: frames go out in call order, one write in flight (an internal queue).
// - TLS as in http_client.h (verification and SNI on; `ca_file`; `verify_peer` for tests), and
//   proxies too: through an HTTP CONNECT tunnel (`proxy`, or the environment).
// - Liveness: the client answers pings automatically, sends its own ping every
//   `ping_interval`, and fails the connection (read() returns an Error) when nothing at all,
//   pong included, has arrived for `idle_timeout`.
// - Beast performs the HTTP upgrade; frames are encoded and decoded by websocket_codec.h (which
//   says why). read() returns the next text message, without suspending when one is already
//   buffered, so a caller drains a burst in one turn of the event loop; binary messages are
//   skipped. Frames queued together (send, queue_send, pings, pongs) leave in one write.
// - When the peer closes or the socket drops, read() returns an Error describing it ("closed by
//   peer (1001 going away)", "connection reset", "no traffic for 30000 ms").
// - A message larger than `max_frame_bytes` (after reassembly) fails the connection with close
//   code 1009 and a clear Error; a protocol violation by the server fails it with 1002 or 1007
//   ("protocol error: masked frame from the server").
// - close() sends a close frame and waits for the peer's, at most `close_wait` (a peer that never
//   answers must not hold the caller long); safe to call more than once.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "common/result.h"

namespace shipmate::integrations::net {

struct WebSocketOptions {
  std::string ca_file;
  bool verify_peer = true;
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds ping_interval{10000};
  std::chrono::milliseconds idle_timeout{30000};
  std::size_t max_frame_bytes = 1024 * 1024;
  std::chrono::milliseconds close_wait{2000};
  // "http://[user:pass@]host:port" to tunnel through (HTTP CONNECT); "" for none; nullopt: from
  // HTTPS_PROXY (wss) or HTTP_PROXY (ws), honouring NO_PROXY, as the HTTP client does.
  std::optional<std::string> proxy;
};

class WebSocketConnection {
 public:
  virtual ~WebSocketConnection() = default;
  virtual boost::asio::awaitable<Result<std::string>> read() = 0;
  // Whether bytes read from the socket are waiting to be decoded: when false, the next read()
  // waits for the network (a caller can finish its work on what it has read so far).
  virtual bool has_buffered() const = 0;
  virtual boost::asio::awaitable<Status> send(std::string text) = 0;
  // Queues a text frame behind any others and returns at once, without waiting for the write:
  // for frames whose delivery the caller does not need to confirm one by one (Socket Mode acks).
  // An error here means the connection is already failed or closing; a write that fails later
  // fails the connection, which the next read() reports.
  virtual Status queue_send(std::string text) = 0;
  // Completes once every frame queued so far has been handed to the socket (or failed).
  virtual boost::asio::awaitable<void> drained() = 0;
  // Calls `then` once every frame queued so far has been handed to the socket (or failed): at
  // once when nothing is being written, else from the writer as its last write completes, with
  // no event-loop turn of its own (drained() costs a timer wake-up).
  virtual void when_drained(std::function<void()> then) = 0;
  virtual boost::asio::awaitable<void> close() = 0;
  // Drops the TCP connection without a close handshake (tests, and giving up on a dead peer).
  virtual void abort() = 0;
};

boost::asio::awaitable<Result<std::unique_ptr<WebSocketConnection>>> connect_websocket(
    boost::asio::any_io_executor executor, std::string url, WebSocketOptions options = {});

}  // namespace shipmate::integrations::net
