#include "web/request.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <array>
#include <optional>

#include "common/strings.h"

namespace shipmate::web {
namespace {

constexpr std::size_t kMaxQuery = 2048;

Error invalid(std::string message) {
  return Error{std::move(message), ErrorKind::invalid};
}

Result<std::string> decode_component(std::string_view text, std::string_view what) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      const int high = i + 1 < text.size() ? hex_digit_value(text[i + 1]) : -1;
      const int low = i + 2 < text.size() ? hex_digit_value(text[i + 2]) : -1;
      if (high < 0 || low < 0)
        return invalid("the query has a broken %-escape in " + std::string(what));
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::array<unsigned char, SHA256_DIGEST_LENGTH> digest(std::string_view text) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> out{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), out.data());
  return out;
}

// Equal contents, in time that depends on neither.
bool same_secret(std::string_view given, std::string_view expected) {
  const auto a = digest(given);
  const auto b = digest(expected);
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

// Standard base64 with optional padding; nullopt on anything else.
std::optional<std::string> base64_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=')
    text.remove_suffix(1);
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (const char c : text) {
    const int v = base64_value(c);
    if (v < 0)
      return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

std::string challenge_for(const AccessPolicy& policy) {
  std::string out;
  if (!policy.basic_user.empty() || !policy.readers.empty())
    out = "Basic realm=\"Shipmate\", charset=\"UTF-8\"";
  if (!policy.bearer_token.empty())
    out += std::string(out.empty() ? "" : ", ") + "Bearer realm=\"Shipmate\"";
  return out;
}

}  // namespace

const std::string* QueryParams::get(std::string_view key) const {
  for (const auto& [name, value] : items_) {
    if (name == key)
      return &value;
  }
  return nullptr;
}

std::string QueryParams::value(std::string_view key) const {
  const auto* found = get(key);
  return found == nullptr ? std::string() : *found;
}

Result<QueryParams> parse_query(std::string_view raw) {
  QueryParams params;
  if (raw.size() > kMaxQuery)
    return invalid("the query is over " + std::to_string(kMaxQuery) + " bytes");
  std::size_t start = 0;
  while (start <= raw.size() && !raw.empty()) {
    const std::size_t amp = raw.find('&', start);
    const std::string_view part =
        raw.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    if (!part.empty()) {
      const std::size_t eq = part.find('=');
      auto key = decode_component(part.substr(0, eq), "a parameter name");
      if (!key)
        return key.error();
      auto value =
          decode_component(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1),
                           "parameter '" + *key + "'");
      if (!value)
        return value.error();
      if (params.get(*key) != nullptr)
        return invalid("parameter '" + *key + "' is given more than once");
      params.add(std::move(*key), std::move(*value));
    }
    if (amp == std::string_view::npos)
      break;
    start = amp + 1;
  }
  return params;
}

Status check_known(const QueryParams& params, const std::vector<std::string_view>& allowed) {
  for (const auto& [name, value] : params.items()) {
    bool known = false;
    for (const auto& candidate : allowed)
      known = known || candidate == name;
    if (known)
      continue;
    std::string message = "unknown parameter '" + name + "'";
    std::string_view best;
    std::size_t best_distance = 3;
    for (const auto& candidate : allowed) {
      const std::size_t distance = edit_distance(name, candidate);
      if (distance < best_distance) {
        best_distance = distance;
        best = candidate;
      }
    }
    if (!best.empty())
      message += "; did you mean '" + std::string(best) + "'?";
    std::vector<std::string> names(allowed.begin(), allowed.end());
    message += " (this page takes: " + join(names, ", ") + ")";
    return invalid(message);
  }
  return Ok{};
}

bool wants_json(std::string_view accept, const QueryParams& params) {
  if (const auto* format = params.get("format"))
    return *format == "json";
  const std::string lower = to_lower(accept);
  const bool json = lower.find("application/json") != std::string::npos ||
                    lower.find("/json") != std::string::npos;
  const bool html = lower.find("text/html") != std::string::npos;
  return json && !html;
}

bool is_loopback_address(std::string_view address) {
  return address.starts_with("127.") || address == "::1" || address == "[::1]" ||
         address == "localhost" || address.starts_with("::ffff:127.");
}

bool is_loopback_peer(std::string_view peer) {
  if (peer.starts_with("[")) {
    const std::size_t close = peer.find(']');
    if (close == std::string_view::npos)
      return false;
    const std::string_view host = peer.substr(1, close - 1);
    return host == "::1" || host.starts_with("::ffff:127.");
  }
  const std::size_t colon = peer.rfind(':');
  const std::string_view host = colon == std::string_view::npos ? peer : peer.substr(0, colon);
  return host.starts_with("127.");
}

AccessDecision decide_access(const AccessPolicy& policy, std::string_view authorization,
                             std::string_view peer) {
  if (!policy.has_credentials()) {
    if (is_loopback_peer(peer))
      return {};
    return {Access::forbidden, "",
            "a request from another host, and no credentials are configured"};
  }
  const std::string_view given = trim(authorization);
  if (given.empty())
    return {Access::unauthorized, challenge_for(policy), "no credentials"};
  bool ok = false;
  bool understood = false;
  if (starts_with_ci(given, "bearer ") && !policy.bearer_token.empty()) {
    understood = true;
    ok = same_secret(trim(given.substr(7)), policy.bearer_token);
  } else if (starts_with_ci(given, "basic ") &&
             (!policy.basic_user.empty() || !policy.readers.empty())) {
    understood = true;
    if (const auto decoded = base64_decode(trim(given.substr(6)))) {
      const std::size_t colon = decoded->find(':');
      if (colon != std::string::npos) {
        const std::string_view user = std::string_view(*decoded).substr(0, colon);
        const std::string_view password = std::string_view(*decoded).substr(colon + 1);
        if (!policy.basic_user.empty()) {
          const bool user_ok = same_secret(user, policy.basic_user);
          const bool password_ok = same_secret(password, policy.basic_password);
          ok = user_ok && password_ok;
        }
        // Every reader is compared (no early exit), so timing does not say which names exist.
        std::string reader;
        for (const auto& candidate : policy.readers) {
          const bool user_ok = same_secret(user, candidate.user);
          const bool password_ok = same_secret(password, candidate.password);
          if (user_ok && password_ok && reader.empty())
            reader = candidate.user;
        }
        if (!reader.empty()) {
          AccessDecision signed_in;
          signed_in.reader = std::move(reader);
          return signed_in;
        }
      }
    }
  }
  if (ok)
    return {};
  return {Access::unauthorized, challenge_for(policy),
          understood ? "wrong credentials" : "an authorization scheme that is not configured"};
}

std::string reader_challenge() {
  return "Basic realm=\"Shipmate\", charset=\"UTF-8\"";
}

}  // namespace shipmate::web
