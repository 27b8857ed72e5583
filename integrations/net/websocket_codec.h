// RFC 6455 framing for the client end of a WebSocket, without I/O.
//
// Why the client frames its own messages: Beast's websocket stream completes one message per
// operation, and when the next message is already buffered it posts that completion behind
// everything else the event loop has ready. Socket Mode delivers envelopes in bursts, so each one
// waited a full turn of the loop before it could be recorded and acknowledged. With the framing
// here, one socket read yields every message it holds, and a batch of acknowledgements leaves in
// one write (bench/README.md has the measurements). Beast still performs the HTTP upgrade.
//
// Contract
// - Pure functions and a decoder object: no sockets, clocks or threads; a decoder belongs to one
//   connection and is used from one thread.
// - The decoder enforces what a client must check: frames from a server are never masked, RSV
//   bits are zero (no extensions are negotiated), opcodes are known, control frames are final and
//   at most 125 bytes, fragments continue a started message, a close frame's code is a valid one,
//   text is UTF-8, and no message exceeds the configured size. A violation is an Error whose
//   `code` is the close code the connection should fail with (1002, 1007 or 1009).
// - The encoder writes masked frames, as a client must, with the caller's masking key.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shipmate::integrations::net {

enum class WebSocketOpcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

struct WebSocketMessage {
  // text or binary for data messages (reassembled from their fragments); close, ping or pong for
  // control frames, which may arrive between the fragments of a data message.
  WebSocketOpcode opcode = WebSocketOpcode::text;
  std::string payload;           // for close: the reason text only
  std::uint16_t close_code = 0;  // close only: 1005 ("no status") when the frame carried none
};

struct WebSocketViolation {
  std::uint16_t code = 1002;  // the close code to fail the connection with
  std::string reason;         // for a person: "masked frame from the server"
};

class WebSocketDecoder {
 public:
  explicit WebSocketDecoder(std::size_t max_message_bytes)
      : max_message_bytes_(max_message_bytes) {}

  // Takes the next complete message from the front of `input` and removes the bytes it used,
  // fragments included. Returns nothing, and leaves `input` as it was, when `input` ends inside a
  // frame: call again with more bytes appended. A violation is final: the decoder returns it
  // again on every later call.
  struct Step {
    std::optional<WebSocketMessage> message;
    std::optional<WebSocketViolation> violation;
  };
  Step next(std::string_view& input);

  // Bytes of the frame at the front of `input` that a caller must buffer before next() can use
  // it (at least the header; 0 when unknown yet). Lets a reader size its buffer for one frame.
  static std::size_t frame_size(std::string_view input);

 private:
  Step fail(std::uint16_t code, std::string reason);

  std::size_t max_message_bytes_;
  std::optional<WebSocketViolation> failed_;
  // A fragmented data message in progress.
  bool in_message_ = false;
  WebSocketOpcode message_opcode_ = WebSocketOpcode::text;
  std::string message_;
};

using WebSocketMask = std::array<std::uint8_t, 4>;

// Appends one final, masked frame carrying `payload` to `out`.
void append_client_frame(std::string& out, WebSocketOpcode opcode, std::string_view payload,
                         WebSocketMask mask);

// The payload of a close frame: the code in network order, then the reason (cut to fit the
// 125-byte control frame limit).
std::string close_frame_payload(std::uint16_t code, std::string_view reason);

// The Sec-WebSocket-Accept value a server must answer to `client_key`:
// base64(SHA-1(client_key + the RFC's GUID)).
std::string websocket_accept_value(std::string_view client_key);

// A name for a close code, for messages: 1001 -> "going away".
std::string_view close_code_name(std::uint16_t code);

}  // namespace shipmate::integrations::net
