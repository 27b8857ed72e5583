#include "integrations/net/websocket_codec.h"

#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace shipmate::integrations::net {
namespace {

// A frame as a server sends it (never masked). `first` carries FIN, RSV and opcode as given.
std::string server_frame(std::uint8_t first, std::string_view payload, bool masked = false) {
  std::string out;
  out.push_back(static_cast<char>(first));
  const std::uint8_t mask_bit = masked ? 0x80 : 0;
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(mask_bit | payload.size()));
  } else if (payload.size() <= 0xFFFF) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size() & 0xFF));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8)
      out.push_back(static_cast<char>((payload.size() >> shift) & 0xFF));
  }
  if (masked)
    out.append("\0\0\0\0", 4);  // a zero key leaves the payload as it is
  out.append(payload);
  return out;
}

constexpr std::uint8_t kFin = 0x80;
constexpr std::uint8_t kText = 0x1;
constexpr std::uint8_t kBinary = 0x2;
constexpr std::uint8_t kContinuation = 0x0;
constexpr std::uint8_t kClose = 0x8;
constexpr std::uint8_t kPing = 0x9;

// Unmasks a client frame the way a server would: (opcode, payload), or nullopt when malformed.
std::optional<std::pair<int, std::string>> read_client_frame(std::string_view frame) {
  if (frame.size() < 2 || (static_cast<std::uint8_t>(frame[1]) & 0x80) == 0)
    return std::nullopt;
  std::uint64_t length = static_cast<std::uint8_t>(frame[1]) & 0x7F;
  std::size_t at = 2;
  if (length == 126 || length == 127) {
    const std::size_t bytes = length == 126 ? 2 : 8;
    length = 0;
    for (std::size_t i = 0; i < bytes; ++i)
      length = (length << 8) | static_cast<std::uint8_t>(frame[at + i]);
    at += bytes;
  }
  const std::string_view key = frame.substr(at, 4);
  at += 4;
  if (frame.size() != at + length)
    return std::nullopt;
  std::string payload(frame.substr(at));
  for (std::size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<char>(payload[i] ^ key[i % 4]);
  return std::make_pair(static_cast<std::uint8_t>(frame[0]) & 0x0F, payload);
}

TEST(WebSocketCodecTest, DecodesEveryMessageOfABurstInOrder) {
  WebSocketDecoder decoder(1 << 20);
  std::string buffer = server_frame(kFin | kText, "one") + server_frame(kFin | kText, "two") +
                       server_frame(kFin | kBinary, "\x01\x02") + server_frame(kFin | kText, "");
  std::string_view input = buffer;
  std::vector<std::pair<WebSocketOpcode, std::string>> seen;
  for (;;) {
    auto step = decoder.next(input);
    ASSERT_FALSE(step.violation);
    if (!step.message)
      break;
    seen.emplace_back(step.message->opcode, step.message->payload);
  }
  EXPECT_TRUE(input.empty());
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0].second, "one");
  EXPECT_EQ(seen[1].second, "two");
  EXPECT_EQ(seen[2].first, WebSocketOpcode::binary);
  EXPECT_EQ(seen[2].second, "\x01\x02");
  EXPECT_EQ(seen[3].second, "");
}

TEST(WebSocketCodecTest, IncompleteFramesWaitForMoreBytes) {
  WebSocketDecoder decoder(1 << 20);
  const std::string payload(300, 'p');  // a 16-bit length
  const std::string frame = server_frame(kFin | kText, payload);
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{3}, frame.size() - 1}) {
    std::string_view input(frame.data(), cut);
    auto step = decoder.next(input);
    EXPECT_FALSE(step.message) << cut;
    EXPECT_FALSE(step.violation) << cut;
    EXPECT_EQ(input.size(), cut) << "nothing consumed from a partial frame";
  }
  EXPECT_EQ(WebSocketDecoder::frame_size(std::string_view(frame.data(), 1)), 0u);
  EXPECT_EQ(WebSocketDecoder::frame_size(std::string_view(frame.data(), 4)), frame.size());
  std::string_view whole = frame;
  auto step = decoder.next(whole);
  ASSERT_TRUE(step.message);
  EXPECT_EQ(step.message->payload, payload);
}

TEST(WebSocketCodecTest, SixtyFourBitLengths) {
  WebSocketDecoder decoder(1 << 20);
  const std::string payload(70000, 'L');
  const std::string frame = server_frame(kFin | kText, payload);
  ASSERT_EQ(static_cast<std::uint8_t>(frame[1]), 127);
  std::string_view input = frame;
  auto step = decoder.next(input);
  ASSERT_TRUE(step.message);
  EXPECT_EQ(step.message->payload.size(), payload.size());
}

TEST(WebSocketCodecTest, FragmentsAreReassembledAroundControlFrames) {
  WebSocketDecoder decoder(1 << 20);
  // "héllo" with the two bytes of é split between fragments: only the whole must be UTF-8.
  std::string buffer = server_frame(kText, "h\xC3") + server_frame(kFin | kPing, "are you there") +
                       server_frame(kContinuation, "\xA9l") +
                       server_frame(kFin | kContinuation, "lo");
  std::string_view input = buffer;
  auto first = decoder.next(input);
  ASSERT_TRUE(first.message);
  EXPECT_EQ(first.message->opcode, WebSocketOpcode::ping);
  EXPECT_EQ(first.message->payload, "are you there");
  auto second = decoder.next(input);
  ASSERT_FALSE(second.violation) << second.violation->reason;
  ASSERT_TRUE(second.message);
  EXPECT_EQ(second.message->opcode, WebSocketOpcode::text);
  EXPECT_EQ(second.message->payload, "h\xC3\xA9llo");
  EXPECT_TRUE(input.empty());
}

TEST(WebSocketCodecTest, AbsorbedFragmentsLeaveTheBufferEvenBeforeTheMessageEnds) {
  WebSocketDecoder decoder(1 << 20);
  const std::string start = server_frame(kText, "part one, ");
  const std::string end = server_frame(kFin | kContinuation, "part two");
  std::string buffer = start + end.substr(0, 3);
  std::string_view input = buffer;
  auto step = decoder.next(input);
  EXPECT_FALSE(step.message);
  EXPECT_EQ(input.size(), 3u) << "the first fragment is taken, the partial second is not";
  std::string rest = std::string(input) + end.substr(3);
  std::string_view more = rest;
  step = decoder.next(more);
  ASSERT_TRUE(step.message);
  EXPECT_EQ(step.message->payload, "part one, part two");
}

TEST(WebSocketCodecTest, CloseFramesCarryTheirCodeAndReason) {
  WebSocketDecoder decoder(1 << 20);
  std::string buffer = server_frame(kFin | kClose, close_frame_payload(1001, "going home")) +
                       server_frame(kFin | kClose, "");
  std::string_view input = buffer;
  auto with_code = decoder.next(input);
  ASSERT_TRUE(with_code.message);
  EXPECT_EQ(with_code.message->opcode, WebSocketOpcode::close);
  EXPECT_EQ(with_code.message->close_code, 1001);
  EXPECT_EQ(with_code.message->payload, "going home");
  auto without = decoder.next(input);
  ASSERT_TRUE(without.message);
  EXPECT_EQ(without.message->close_code, 1005);
}

struct ViolationCase {
  const char* name;
  std::string bytes;
  std::uint16_t code;
  const char* reason_part;
};

TEST(WebSocketCodecTest, ProtocolViolationsNameTheirCloseCode) {
  const std::vector<ViolationCase> cases = {
      {"masked", server_frame(kFin | kText, "hi", true), 1002, "masked"},
      {"rsv bits", server_frame(kFin | 0x40 | kText, "hi"), 1002, "reserved bits"},
      {"unknown opcode", server_frame(kFin | 0x3, "hi"), 1002, "unknown opcode 3"},
      {"fragmented ping", server_frame(kPing, "hi"), 1002, "control frame"},
      {"long ping", server_frame(kFin | kPing, std::string(126, 'x')), 1002, "control frame"},
      {"lonely continuation", server_frame(kFin | kContinuation, "hi"), 1002, "continuation"},
      {"interrupted message", server_frame(kText, "a") + server_frame(kFin | kText, "b"), 1002,
       "final fragment"},
      {"too big", server_frame(kFin | kText, std::string(101, 'x')), 1009, "larger than 100"},
      {"too big in pieces",
       server_frame(kText, std::string(60, 'x')) +
           server_frame(kFin | kContinuation, std::string(60, 'x')),
       1009, "larger than 100"},
      {"bad utf-8", server_frame(kFin | kText, "\xC3\x28"), 1007, "UTF-8"},
      {"one-byte close", server_frame(kFin | kClose, "\x03"), 1002, "one-byte"},
      {"reserved close code", server_frame(kFin | kClose, close_frame_payload(1005, "")), 1002,
       "invalid close code 1005"},
      {"huge length", std::string("\x81\x7F\x80\0\0\0\0\0\0\0", 10), 1002, "most significant"},
  };
  for (const auto& c : cases) {
    WebSocketDecoder decoder(100);
    std::string_view input = c.bytes;
    WebSocketDecoder::Step step;
    do {
      step = decoder.next(input);
    } while (step.message);
    ASSERT_TRUE(step.violation) << c.name;
    EXPECT_EQ(step.violation->code, c.code) << c.name;
    EXPECT_NE(step.violation->reason.find(c.reason_part), std::string::npos)
        << c.name << ": " << step.violation->reason;
    // A violation is final, whatever comes next.
    std::string good = server_frame(kFin | kText, "fine");
    std::string_view after = good;
    EXPECT_TRUE(decoder.next(after).violation) << c.name;
  }
}

TEST(WebSocketCodecTest, ClientFramesAreMaskedAndRoundTrip) {
  const WebSocketMask mask{0x37, 0xFA, 0x21, 0x3D};
  for (std::size_t size : {0, 1, 125, 126, 65535, 65536, 100000}) {
    std::string payload(size, '\0');
    for (std::size_t i = 0; i < size; ++i)
      payload[i] = static_cast<char>('a' + i % 26);
    std::string out = "prefix";
    append_client_frame(out, WebSocketOpcode::text, payload, mask);
    ASSERT_EQ(out.substr(0, 6), "prefix");
    const std::string_view frame = std::string_view(out).substr(6);
    EXPECT_EQ(static_cast<std::uint8_t>(frame[0]), 0x81) << "FIN and text";
    auto decoded = read_client_frame(frame);
    ASSERT_TRUE(decoded) << size;
    EXPECT_EQ(decoded->first, 1);
    EXPECT_EQ(decoded->second, payload) << size;
    if (size > 0) {
      EXPECT_EQ(frame.find(payload.substr(0, std::min<std::size_t>(size, 8))), std::string::npos)
          << "the payload is not sent in the clear";
    }
  }
  std::string close;
  append_client_frame(close, WebSocketOpcode::close, close_frame_payload(1000, "bye"), mask);
  auto decoded = read_client_frame(close);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->first, 8);
  EXPECT_EQ(decoded->second, std::string("\x03\xE8"
                                         "bye",
                                         5));
}

TEST(WebSocketCodecTest, CloseReasonIsCutToTheControlFrameLimit) {
  EXPECT_EQ(close_frame_payload(1000, std::string(300, 'r')).size(), 125u);
}

TEST(WebSocketCodecTest, AcceptValueMatchesTheRfcExample) {
  // RFC 6455 section 1.3.
  EXPECT_EQ(websocket_accept_value("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketCodecTest, RandomFragmentationAndChunkingDecodeToTheSameMessages) {
  // Messages of random sizes, each split into random fragments with pings between some of them,
  // fed to the decoder in random chunks as a socket might deliver them. Fixed seed: repeatable.
  std::mt19937 random(20261122);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::string> sent;
    std::string wire;
    int pings_sent = 0;
    for (int m = 0; m < 20; ++m) {
      std::string text(m % 4 == 0 ? random() % 70000 : random() % 300, 'a');
      for (auto& c : text)
        c = static_cast<char>('a' + random() % 26);
      sent.push_back(text);
      std::size_t at = 0;
      bool first = true;
      do {
        const std::size_t piece = std::min<std::size_t>(text.size() - at, 1 + random() % 5000);
        const bool last = at + piece == text.size();
        wire += server_frame(
            static_cast<std::uint8_t>((last ? kFin : 0) | (first ? kText : kContinuation)),
            std::string_view(text).substr(at, piece));
        at += piece;
        first = false;
        if (!last && random() % 3 == 0) {
          wire += server_frame(kFin | kPing, "p");
          ++pings_sent;
        }
      } while (at < text.size());
    }
    WebSocketDecoder decoder(1 << 20);
    std::vector<std::string> received;
    int pings_received = 0;
    std::string buffer;
    std::size_t fed = 0;
    while (fed < wire.size() || !buffer.empty()) {
      const std::size_t chunk = std::min<std::size_t>(wire.size() - fed, 1 + random() % 3000);
      buffer.append(wire, fed, chunk);
      fed += chunk;
      std::string_view input = buffer;
      for (;;) {
        auto step = decoder.next(input);
        ASSERT_FALSE(step.violation) << step.violation->reason;
        if (!step.message)
          break;
        if (step.message->opcode == WebSocketOpcode::ping)
          ++pings_received;
        else
          received.push_back(std::move(step.message->payload));
      }
      buffer.erase(0, buffer.size() - input.size());
      if (chunk == 0)
        break;
    }
    EXPECT_TRUE(buffer.empty()) << "round " << round;
    EXPECT_EQ(received, sent) << "round " << round;
    EXPECT_EQ(pings_received, pings_sent) << "round " << round;
  }
}

TEST(WebSocketCodecTest, ArbitraryBytesNeverBreakTheDecoder) {
  // Whatever a broken or hostile server sends, the decoder either waits, yields messages within
  // the size limit, or reports a violation; it never reads past its input.
  std::mt19937 random(7);
  for (int round = 0; round < 2000; ++round) {
    std::string bytes(random() % 200, '\0');
    for (auto& c : bytes)
      c = static_cast<char>(random());
    if (!bytes.empty() && random() % 2 == 0)
      bytes[0] = static_cast<char>(bytes[0] & 0x8F);  // clear RSV so more inputs get further
    if (bytes.size() > 1 && random() % 2 == 0)
      bytes[1] = static_cast<char>(bytes[1] & 0x7F);  // unmasked, as a server must send
    WebSocketDecoder decoder(64);
    std::string_view input = bytes;
    for (int steps = 0; steps < 300; ++steps) {
      const std::size_t before = input.size();
      auto step = decoder.next(input);
      EXPECT_LE(input.size(), before);
      if (!step.message)
        break;
      const bool control = static_cast<int>(step.message->opcode) >= 0x8;
      EXPECT_LE(step.message->payload.size(), control ? 125u : 64u);
    }
  }
}

}  // namespace
}  // namespace shipmate::integrations::net
