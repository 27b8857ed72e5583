#include "bot/slack/signing.h"

#include "common/strings.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <memory>
#include <optional>
#include <string>

namespace shipmate::bot::slack {
namespace {

using Digest = std::array<unsigned char, 32>;

struct MacDeleter {
  void operator()(EVP_MAC* mac) const { EVP_MAC_free(mac); }
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};

// HMAC-SHA256 over "v0:<timestamp>:<body>", fed in pieces so the body is never copied.
std::optional<Digest> hmac_v0(std::string_view secret, std::string_view timestamp,
                              std::string_view body) {
  std::unique_ptr<EVP_MAC, MacDeleter> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) {
    return std::nullopt;
  }
  std::unique_ptr<EVP_MAC_CTX, MacDeleter> ctx(EVP_MAC_CTX_new(mac.get()));
  if (!ctx) {
    return std::nullopt;
  }
  char digest_name[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end()};
  // A null key means "keep the previous key" to EVP_MAC_init, so an empty secret still needs a
  // valid pointer.
  static const unsigned char kNoKey = 0;
  const auto* key =
      secret.empty() ? &kNoKey : reinterpret_cast<const unsigned char*>(secret.data());
  auto update = [&](std::string_view part) {
    return part.empty() ||
           EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(part.data()),
                          part.size()) == 1;
  };
  if (EVP_MAC_init(ctx.get(), key, secret.size(), params) != 1 || !update("v0:") ||
      !update(timestamp) || !update(":") || !update(body)) {
    return std::nullopt;
  }
  Digest digest{};
  std::size_t length = 0;
  if (EVP_MAC_final(ctx.get(), digest.data(), &length, digest.size()) != 1 ||
      length != digest.size()) {
    return std::nullopt;
  }
  return digest;
}

// "v0=" followed by exactly 64 hex digits.
std::optional<Digest> parse_signature(std::string_view header) {
  constexpr std::string_view kPrefix = "v0=";
  if (!header.starts_with(kPrefix) || header.size() != kPrefix.size() + 64) {
    return std::nullopt;
  }
  header.remove_prefix(kPrefix.size());
  Digest digest{};
  for (std::size_t i = 0; i < digest.size(); ++i) {
    const int high = hex_digit_value(header[2 * i]);
    const int low = hex_digit_value(header[2 * i + 1]);
    if (high < 0 || low < 0) {
      return std::nullopt;
    }
    digest[i] = static_cast<unsigned char>(high * 16 + low);
  }
  return digest;
}

// Digits only: no sign, spaces or fraction. Fifteen digits is far beyond any real Unix time
// and keeps every later subtraction free of overflow.
std::optional<std::int64_t> parse_timestamp(std::string_view header) {
  if (header.empty() || header.size() > 15) {
    return std::nullopt;
  }
  std::int64_t value = 0;
  for (const char c : header) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace

Status verify_signature(std::string_view signing_secret, std::string_view timestamp_header,
                        std::string_view signature_header, std::string_view body,
                        std::int64_t now_seconds, std::int64_t max_age_seconds) {
  if (signing_secret.empty()) {
    return make_error("Slack signing secret is not configured");
  }
  if (timestamp_header.empty()) {
    return make_error("missing X-Slack-Request-Timestamp header");
  }
  if (signature_header.empty()) {
    return make_error("missing X-Slack-Signature header");
  }
  const auto timestamp = parse_timestamp(timestamp_header);
  if (!timestamp) {
    return make_error("malformed X-Slack-Request-Timestamp header (expected Unix seconds)");
  }
  const auto presented = parse_signature(signature_header);
  if (!presented) {
    return make_error("malformed X-Slack-Signature header (expected v0=<64 hex digits>)");
  }
  std::int64_t age = 0;
  if (__builtin_sub_overflow(now_seconds, *timestamp, &age)) {
    return make_error("request timestamp is out of range");
  }
  const std::int64_t max_age = max_age_seconds < 0 ? 0 : max_age_seconds;
  // Replays are the threat: a captured request stays valid only inside this window. Slack's
  // own SDK checks only the past; a future timestamp is as suspect (or a badly set clock).
  if (age > max_age) {
    return make_error("stale request timestamp (" + std::to_string(age) + " s old)");
  }
  if (age < -max_age) {
    return make_error("request timestamp is " + std::to_string(-age) + " s in the future");
  }
  const auto expected = hmac_v0(signing_secret, timestamp_header, body);
  if (!expected) {
    return make_error("could not compute the request signature (OpenSSL HMAC failed)");
  }
  if (CRYPTO_memcmp(expected->data(), presented->data(), expected->size()) != 0) {
    return make_error("signature mismatch");
  }
  return Ok{};
}

std::string compute_signature(std::string_view signing_secret, std::string_view timestamp,
                              std::string_view body) {
  const auto digest = hmac_v0(signing_secret, timestamp, body);
  if (!digest) {
    return {};
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string signature = "v0=";
  for (const unsigned char byte : *digest) {
    signature += kHex[byte >> 4];
    signature += kHex[byte & 0x0f];
  }
  return signature;
}

}  // namespace shipmate::bot::slack
