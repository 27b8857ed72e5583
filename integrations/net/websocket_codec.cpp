#include "integrations/net/websocket_codec.h"

#include <cstring>
#include <memory>

#include <openssl/evp.h>
#include <simdjson.h>

#include "common/strings.h"

namespace shipmate::integrations::net {

namespace {

constexpr std::size_t kMaxControlPayload = 125;

bool is_control(std::uint8_t opcode) {
  return (opcode & 0x8) != 0;
}

bool is_known(std::uint8_t opcode) {
  switch (static_cast<WebSocketOpcode>(opcode)) {
    case WebSocketOpcode::continuation:
    case WebSocketOpcode::text:
    case WebSocketOpcode::binary:
    case WebSocketOpcode::close:
    case WebSocketOpcode::ping:
    case WebSocketOpcode::pong:
      return true;
  }
  return false;
}

// Codes a peer may put on the wire (RFC 6455 7.4 and the IANA registry); 1005, 1006 and 1015 are
// reserved for reporting and must never be sent.
bool is_sendable_close_code(std::uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

struct Header {
  bool fin;
  std::uint8_t rsv;
  std::uint8_t opcode;
  bool masked;
  std::uint64_t payload;
  std::size_t header_bytes;  // including the masking key
};

// Parses the header at the front of `input`; nullopt when it is not complete yet. The length is
// checked by the caller (a 64-bit length with its top bit set is reported as UINT64_MAX).
std::optional<Header> parse_header(std::string_view input) {
  if (input.size() < 2)
    return std::nullopt;
  const auto b0 = static_cast<std::uint8_t>(input[0]);
  const auto b1 = static_cast<std::uint8_t>(input[1]);
  Header h{(b0 & 0x80) != 0,
           static_cast<std::uint8_t>((b0 >> 4) & 0x7),
           static_cast<std::uint8_t>(b0 & 0x0F),
           (b1 & 0x80) != 0,
           static_cast<std::uint64_t>(b1 & 0x7F),
           2};
  std::size_t length_bytes = 0;
  if (h.payload == 126)
    length_bytes = 2;
  else if (h.payload == 127)
    length_bytes = 8;
  h.header_bytes += length_bytes + (h.masked ? 4 : 0);
  if (input.size() < h.header_bytes)
    return std::nullopt;
  if (length_bytes > 0) {
    std::uint64_t length = 0;
    for (std::size_t i = 0; i < length_bytes; ++i)
      length = (length << 8) | static_cast<std::uint8_t>(input[2 + i]);
    h.payload = (length_bytes == 8 && (length >> 63) != 0) ? UINT64_MAX : length;
  }
  return h;
}

// XORs `data` with the 4-byte masking key (RFC 6455 5.3); the same operation masks and unmasks.
void apply_mask(char* data, std::size_t size, const std::uint8_t* key) {
  for (std::size_t i = 0; i < size; ++i)
    data[i] = static_cast<char>(static_cast<std::uint8_t>(data[i]) ^ key[i & 3]);
}

}  // namespace

WebSocketDecoder::Step WebSocketDecoder::fail(std::uint16_t code, std::string reason) {
  failed_ = WebSocketViolation{code, std::move(reason)};
  in_message_ = false;
  message_.clear();
  return Step{std::nullopt, failed_};
}

std::size_t WebSocketDecoder::frame_size(std::string_view input) {
  auto header = parse_header(input);
  if (!header || header->payload == UINT64_MAX)
    return 0;
  return header->header_bytes + static_cast<std::size_t>(header->payload);
}

WebSocketDecoder::Step WebSocketDecoder::next(std::string_view& input) {
  if (failed_)
    return Step{std::nullopt, failed_};
  std::string_view rest = input;
  for (;;) {
    auto header = parse_header(rest);
    if (!header)
      return {};
    if (header->masked)
      return fail(1002, "masked frame from the server");
    if (header->rsv != 0)
      return fail(1002, "reserved bits set without a negotiated extension");
    if (!is_known(header->opcode))
      return fail(1002, "unknown opcode " + std::to_string(header->opcode));
    const bool control = is_control(header->opcode);
    if (control && (!header->fin || header->payload > kMaxControlPayload))
      return fail(1002, "fragmented or oversized control frame");
    if (header->payload == UINT64_MAX)
      return fail(1002, "frame length with its most significant bit set");
    const std::size_t already = control ? 0 : message_.size();
    if (header->payload > max_message_bytes_ || already + header->payload > max_message_bytes_)
      return fail(1009, "message larger than " + std::to_string(max_message_bytes_) + " bytes");
    const auto opcode = static_cast<WebSocketOpcode>(header->opcode);
    if (!control) {
      if (opcode == WebSocketOpcode::continuation && !in_message_)
        return fail(1002, "continuation frame without a message to continue");
      if (opcode != WebSocketOpcode::continuation && in_message_)
        return fail(1002, "new message before the previous one's final fragment");
    }
    const auto payload_size = static_cast<std::size_t>(header->payload);
    if (rest.size() - header->header_bytes < payload_size)
      return {};
    const std::string_view payload = rest.substr(header->header_bytes, payload_size);
    rest.remove_prefix(header->header_bytes + payload_size);

    if (control) {
      WebSocketMessage message{opcode, {}, 0};
      if (opcode == WebSocketOpcode::close) {
        if (payload.size() == 1)
          return fail(1002, "close frame with a one-byte payload");
        if (payload.empty()) {
          message.close_code = 1005;
        } else {
          message.close_code = static_cast<std::uint16_t>(
              (static_cast<std::uint8_t>(payload[0]) << 8) | static_cast<std::uint8_t>(payload[1]));
          if (!is_sendable_close_code(message.close_code))
            return fail(1002, "invalid close code " + std::to_string(message.close_code));
          message.payload.assign(payload.substr(2));
          if (!simdjson::validate_utf8(message.payload.data(), message.payload.size()))
            return fail(1007, "close reason is not valid UTF-8");
        }
      } else {
        message.payload.assign(payload);
      }
      input = rest;
      return Step{std::move(message), std::nullopt};
    }

    if (!in_message_ && header->fin) {
      // The common case, a whole message in one frame: one copy, straight into the result.
      if (opcode == WebSocketOpcode::text &&
          !simdjson::validate_utf8(payload.data(), payload.size()))
        return fail(1007, "text message is not valid UTF-8");
      input = rest;
      return Step{WebSocketMessage{opcode, std::string(payload), 0}, std::nullopt};
    }
    if (!in_message_) {
      in_message_ = true;
      message_opcode_ = opcode;
      message_.clear();
    }
    message_.append(payload);
    // The fragment is absorbed: its bytes are gone from the caller's buffer even if the message
    // is not complete yet.
    input = rest;
    if (!header->fin)
      continue;
    in_message_ = false;
    if (message_opcode_ == WebSocketOpcode::text &&
        !simdjson::validate_utf8(message_.data(), message_.size()))
      return fail(1007, "text message is not valid UTF-8");
    WebSocketMessage message{message_opcode_, std::move(message_), 0};
    message_.clear();
    return Step{std::move(message), std::nullopt};
  }
}

void append_client_frame(std::string& out, WebSocketOpcode opcode, std::string_view payload,
                         WebSocketMask mask) {
  const std::size_t size = payload.size();
  out.push_back(static_cast<char>(0x80 | static_cast<std::uint8_t>(opcode)));
  if (size < 126) {
    out.push_back(static_cast<char>(0x80 | size));
  } else if (size <= 0xFFFF) {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>(size >> 8));
    out.push_back(static_cast<char>(size & 0xFF));
  } else {
    out.push_back(static_cast<char>(0x80 | 127));
    for (int shift = 56; shift >= 0; shift -= 8)
      out.push_back(static_cast<char>((static_cast<std::uint64_t>(size) >> shift) & 0xFF));
  }
  out.append(reinterpret_cast<const char*>(mask.data()), mask.size());
  const std::size_t start = out.size();
  out.append(payload);
  apply_mask(out.data() + start, size, mask.data());
}

std::string close_frame_payload(std::uint16_t code, std::string_view reason) {
  std::string out;
  out.push_back(static_cast<char>(code >> 8));
  out.push_back(static_cast<char>(code & 0xFF));
  out.append(reason.substr(0, kMaxControlPayload - 2));
  return out;
}

std::string websocket_accept_value(std::string_view client_key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string input(client_key);
  input += kGuid;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &length, EVP_sha1(), nullptr) != 1)
    return {};
  return base64_encode(std::string_view(reinterpret_cast<const char*>(digest), length));
}

std::string_view close_code_name(std::uint16_t code) {
  switch (code) {
    case 1000:
      return "normal";
    case 1001:
      return "going away";
    case 1002:
      return "protocol error";
    case 1003:
      return "unsupported data";
    case 1005:
      return "no status";
    case 1006:
      return "abnormal";
    case 1007:
      return "invalid payload";
    case 1008:
      return "policy violation";
    case 1009:
      return "message too big";
    case 1010:
      return "extension required";
    case 1011:
      return "internal error";
    case 1012:
      return "service restart";
    case 1013:
      return "try again later";
    default:
      return "unknown";
  }
}

}  // namespace shipmate::integrations::net
