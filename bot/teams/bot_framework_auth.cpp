#include "bot/teams/bot_framework_auth.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <memory>

#include "common/strings.h"

namespace shipmate::bot::teams {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

std::optional<std::string> string_field(object obj, std::string_view key) {
  std::string_view value;
  if (obj.at_key(key).get_string().get(value) != simdjson::SUCCESS)
    return std::nullopt;
  return std::string(value);
}

// Reads a NumericDate claim: an integer, or a number with a fraction (truncated).
std::optional<std::int64_t> number_field(object obj, std::string_view key, bool& wrong_type) {
  element value;
  if (obj.at_key(key).get(value) != simdjson::SUCCESS)
    return std::nullopt;
  std::int64_t integer = 0;
  if (value.get_int64().get(integer) == simdjson::SUCCESS)
    return integer;
  double real = 0;
  if (value.get_double().get(real) == simdjson::SUCCESS && real > -1e15 && real < 1e15)
    return static_cast<std::int64_t>(real);
  wrong_type = true;
  return std::nullopt;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+' || c == '-')
    return 62;
  if (c == '/' || c == '_')
    return 63;
  return -1;
}

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
  void operator()(OSSL_PARAM_BLD* bld) const { OSSL_PARAM_BLD_free(bld); }
  void operator()(OSSL_PARAM* params) const { OSSL_PARAM_free(params); }
  void operator()(BIGNUM* bn) const { BN_free(bn); }
  void operator()(BIO* bio) const { BIO_free(bio); }
  void operator()(EVP_MAC* mac) const { EVP_MAC_free(mac); }
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};
template <class T>
using Owned = std::unique_ptr<T, PkeyFree>;

using Digest = std::array<unsigned char, 32>;

std::optional<Digest> hmac_sha256(std::string_view key, std::string_view data) {
  Owned<EVP_MAC> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac)
    return std::nullopt;
  Owned<EVP_MAC_CTX> ctx(EVP_MAC_CTX_new(mac.get()));
  if (!ctx)
    return std::nullopt;
  char digest_name[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end()};
  static const unsigned char kNoKey = 0;  // a null key means "keep the previous one"
  const auto* key_bytes =
      key.empty() ? &kNoKey : reinterpret_cast<const unsigned char*>(key.data());
  if (EVP_MAC_init(ctx.get(), key_bytes, key.size(), params) != 1)
    return std::nullopt;
  if (!data.empty() &&
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(data.data()), data.size()) !=
          1)
    return std::nullopt;
  Digest digest{};
  std::size_t length = 0;
  if (EVP_MAC_final(ctx.get(), digest.data(), &length, digest.size()) != 1 ||
      length != digest.size())
    return std::nullopt;
  return digest;
}

std::string quoted_excerpt(std::string_view text) {
  constexpr std::size_t kMax = 300;
  std::string out(text.substr(0, kMax));
  std::replace(out.begin(), out.end(), '\n', ' ');
  std::replace(out.begin(), out.end(), '\r', ' ');
  if (text.size() > kMax)
    out += "...";
  return out;
}

}  // namespace

// --- base64 -------------------------------------------------------------------------------------

std::optional<std::string> decode_base64_any(std::string_view text) {
  while (!text.empty() && text.back() == '=')
    text.remove_suffix(1);
  if (text.size() % 4 == 1)
    return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const char c : text) {
    const int value = base64_value(c);
    if (value < 0)
      return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

std::string base64url_encode(std::string_view data) {
  std::string out = base64_encode(data);
  while (!out.empty() && out.back() == '=')
    out.pop_back();
  for (char& c : out) {
    if (c == '+')
      c = '-';
    else if (c == '/')
      c = '_';
  }
  return out;
}

// --- OpenID metadata and keys -------------------------------------------------------------------

Result<std::string> parse_openid_metadata(std::string_view json) {
  simdjson::dom::parser parser;
  object root;
  if (parser.parse(json.data(), json.size()).get_object().get(root) != simdjson::SUCCESS)
    return make_error("OpenID metadata is not a JSON object", ErrorKind::invalid);
  auto uri = string_field(root, "jwks_uri");
  if (!uri || uri->empty())
    return make_error("OpenID metadata has no jwks_uri", ErrorKind::invalid);
  if (!uri->starts_with("https://") && !uri->starts_with("http://"))
    return make_error("OpenID metadata's jwks_uri is not an http(s) URL", ErrorKind::invalid);
  return *uri;
}

Result<std::string> rsa_public_key_pem(std::string_view n_base64url, std::string_view e_base64url) {
  const auto n = decode_base64_any(n_base64url);
  const auto e = decode_base64_any(e_base64url);
  if (!n || !e || n->empty() || e->empty())
    return make_error("RSA key's n or e is not base64url", ErrorKind::invalid);
  if (n->size() < 256)  // below 2048 bits
    return make_error("RSA key is shorter than 2048 bits", ErrorKind::invalid);
  Owned<BIGNUM> bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()),
                               static_cast<int>(n->size()), nullptr));
  Owned<BIGNUM> bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()),
                               static_cast<int>(e->size()), nullptr));
  Owned<OSSL_PARAM_BLD> build(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !build ||
      OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
    return make_error("could not build an RSA key (OpenSSL)");
  Owned<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(build.get()));
  Owned<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return make_error("RSA key's n and e do not form a key", ErrorKind::invalid);
  Owned<EVP_PKEY> key(raw);
  Owned<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1)
    return make_error("could not write an RSA public key (OpenSSL)");
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

Result<std::vector<SigningKey>> parse_jwks(std::string_view json) {
  simdjson::dom::parser parser;
  object root;
  if (parser.parse(json.data(), json.size()).get_object().get(root) != simdjson::SUCCESS)
    return make_error("key set is not a JSON object", ErrorKind::invalid);
  simdjson::dom::array keys;
  if (root.at_key("keys").get_array().get(keys) != simdjson::SUCCESS)
    return make_error("key set has no \"keys\" list", ErrorKind::invalid);
  std::vector<SigningKey> out;
  for (element item : keys) {
    object jwk;
    if (item.get_object().get(jwk) != simdjson::SUCCESS)
      continue;
    auto kty = string_field(jwk, "kty");
    auto kid = string_field(jwk, "kid");
    auto use = string_field(jwk, "use");
    auto n = string_field(jwk, "n");
    auto e = string_field(jwk, "e");
    if (!kty || *kty != "RSA" || !kid || kid->empty() || !n || !e || (use && *use != "sig"))
      continue;
    auto pem = rsa_public_key_pem(*n, *e);
    if (!pem)
      continue;
    SigningKey key{*kid, std::move(*pem), {}};
    simdjson::dom::array endorsements;
    if (jwk.at_key("endorsements").get_array().get(endorsements) == simdjson::SUCCESS) {
      for (element endorsement : endorsements) {
        std::string_view value;
        if (endorsement.get_string().get(value) == simdjson::SUCCESS)
          key.endorsements.emplace_back(value);
      }
    }
    out.push_back(std::move(key));
  }
  if (out.empty())
    return make_error("key set holds no usable RSA signing key", ErrorKind::invalid);
  return out;
}

// --- Claims
// ---------------------------------------------------------------------------------------

Result<TokenClaims> parse_token_claims(std::string_view payload_json) {
  simdjson::dom::parser parser;
  object root;
  if (parser.parse(payload_json.data(), payload_json.size()).get_object().get(root) !=
      simdjson::SUCCESS)
    return make_error("token payload is not a JSON object", ErrorKind::auth);
  TokenClaims claims;
  claims.issuer = string_field(root, "iss").value_or("");
  element aud;
  if (root.at_key("aud").get(aud) == simdjson::SUCCESS) {
    std::string_view single;
    simdjson::dom::array list;
    if (aud.get_string().get(single) == simdjson::SUCCESS) {
      claims.audiences.emplace_back(single);
    } else if (aud.get_array().get(list) == simdjson::SUCCESS) {
      for (element item : list) {
        if (item.get_string().get(single) == simdjson::SUCCESS)
          claims.audiences.emplace_back(single);
      }
    } else {
      return make_error("token's aud claim is neither a string nor a list", ErrorKind::auth);
    }
  }
  bool wrong_type = false;
  claims.expires = number_field(root, "exp", wrong_type);
  claims.not_before = number_field(root, "nbf", wrong_type);
  if (wrong_type)
    return make_error("token's exp or nbf claim is not a number", ErrorKind::auth);
  claims.service_url = string_field(root, "serviceurl").value_or("");
  return claims;
}

std::optional<Refusal> check_claims(const TokenClaims& claims, const ClaimExpectations& expect,
                                    const std::vector<std::string>& key_endorsements,
                                    std::string_view activity_channel_id,
                                    std::string_view activity_service_url) {
  if (claims.issuer != expect.issuer)
    return Refusal{
        401, "token issuer '" + quoted_excerpt(claims.issuer) + "' is not '" + expect.issuer + "'"};
  if (std::find(claims.audiences.begin(), claims.audiences.end(), expect.audience) ==
      claims.audiences.end())
    return Refusal{401, "token audience '" + quoted_excerpt(join(claims.audiences, ",")) +
                            "' is not this bot's app id"};
  if (!claims.expires)
    return Refusal{401, "token has no exp claim"};
  if (expect.now_seconds > *claims.expires + expect.skew_seconds)
    return Refusal{
        401, "token expired " + std::to_string(expect.now_seconds - *claims.expires) + " s ago"};
  if (claims.not_before && expect.now_seconds < *claims.not_before - expect.skew_seconds)
    return Refusal{401, "token is not valid for another " +
                            std::to_string(*claims.not_before - expect.now_seconds) + " s"};
  if (activity_channel_id.empty())
    return Refusal{403, "activity has no channelId"};
  if (std::find(key_endorsements.begin(), key_endorsements.end(), activity_channel_id) ==
      key_endorsements.end())
    return Refusal{403, "signing key is not endorsed for channel '" +
                            quoted_excerpt(activity_channel_id) + "'"};
  if (claims.service_url.empty())
    return Refusal{403, "token has no serviceurl claim"};
  if (claims.service_url != activity_service_url)
    return Refusal{403, "token's serviceurl '" + quoted_excerpt(claims.service_url) +
                            "' differs from the activity's serviceUrl '" +
                            quoted_excerpt(activity_service_url) + "'"};
  return std::nullopt;
}

// --- Fetch policy
// ---------------------------------------------------------------------------------

bool KeyFetchPolicy::should_refresh(std::int64_t now_ms) const {
  if (!last_success_ms_) {
    // Nothing loaded yet: fetch, unless a failed attempt was just made (the rate limit also
    // covers an unreachable key endpoint).
    return !last_attempt_ms_ || now_ms - *last_attempt_ms_ >= options_.min_refetch_ms;
  }
  if (now_ms - *last_success_ms_ < options_.refresh_after_ms)
    return false;
  return !last_attempt_ms_ || *last_attempt_ms_ <= *last_success_ms_ ||
         now_ms - *last_attempt_ms_ >= options_.min_refetch_ms;
}

bool KeyFetchPolicy::may_fetch_for_unknown_kid(std::int64_t now_ms) const {
  return !last_attempt_ms_ || now_ms - *last_attempt_ms_ >= options_.min_refetch_ms;
}

// --- Entra --------------------------------------------------------------------------------------

Result<AccessToken> parse_token_response(std::string_view body) {
  simdjson::dom::parser parser;
  object root;
  if (parser.parse(body.data(), body.size()).get_object().get(root) != simdjson::SUCCESS)
    return make_error("token response is not a JSON object", ErrorKind::unavailable);
  auto token = string_field(root, "access_token");
  if (!token || token->empty())
    return make_error("token response has no access_token", ErrorKind::unavailable);
  AccessToken out{std::move(*token), 0};
  bool wrong_type = false;
  if (auto seconds = number_field(root, "expires_in", wrong_type)) {
    out.expires_in_seconds = *seconds;
  } else if (auto text = string_field(root, "expires_in")) {
    // Some Entra versions send it as a string.
    out.expires_in_seconds = std::strtoll(text->c_str(), nullptr, 10);
  }
  if (out.expires_in_seconds <= 0)
    return make_error("token response has no usable expires_in", ErrorKind::unavailable);
  return out;
}

Error describe_token_endpoint_error(int status, std::string_view body, std::string_view app_id,
                                    std::string_view tenant) {
  std::string code;
  std::string description;
  simdjson::dom::parser parser;
  object root;
  if (parser.parse(body.data(), body.size()).get_object().get(root) == simdjson::SUCCESS) {
    code = string_field(root, "error").value_or("");
    description = string_field(root, "error_description").value_or("");
  }
  // Entra's descriptions start with the AADSTS code, then a sentence, then trace ids.
  const auto has = [&](std::string_view aadsts) {
    return description.find(aadsts) != std::string::npos;
  };
  const std::string app = "'" + std::string(app_id) + "'";
  const std::string in_tenant = "tenant '" + std::string(tenant) + "'";
  const std::string first_line =
      quoted_excerpt(description.substr(0, description.find(" Trace ID")));
  if (has("AADSTS7000222"))
    return make_error("the client secret of app " + app +
                          " has expired (AADSTS7000222); create a new one in the Azure portal",
                      ErrorKind::auth);
  if (has("AADSTS7000215") || (code == "invalid_client" && has("secret")))
    return make_error("Microsoft Entra refused the app password for app " + app +
                          ": the client secret is wrong (AADSTS7000215); check "
                          "MicrosoftAppPassword or the teams app_password secret",
                      ErrorKind::auth);
  if (has("AADSTS700016") || code == "unauthorized_client")
    return make_error("Microsoft Entra does not know app id " + app + " in " + in_tenant +
                          " (AADSTS700016); check MicrosoftAppId, and for a single-tenant bot "
                          "MicrosoftAppTenantId",
                      ErrorKind::auth);
  if (has("AADSTS90002") || has("AADSTS900023") || has("AADSTS90013"))
    return make_error(in_tenant + " does not exist in Microsoft Entra (" +
                          (has("AADSTS90002") ? std::string("AADSTS90002") : first_line) +
                          "); check MicrosoftAppTenantId",
                      ErrorKind::not_found);
  if (status == 429 || status >= 500)
    return make_error("the Microsoft login endpoint is unavailable (HTTP " +
                          std::to_string(status) + ")" +
                          (first_line.empty() ? "" : ": " + first_line),
                      ErrorKind::unavailable);
  if (status == 401 || status == 403 || code == "invalid_client")
    return make_error("Microsoft Entra refused the credentials of app " + app + " (HTTP " +
                          std::to_string(status) + ")" +
                          (first_line.empty() ? "" : ": " + first_line),
                      ErrorKind::auth);
  return make_error("Microsoft Entra refused the token request for app " + app + " (HTTP " +
                        std::to_string(status) + (code.empty() ? "" : ", " + code) + ")" +
                        (first_line.empty() ? "" : ": " + first_line),
                    ErrorKind::invalid);
}

// --- Outgoing webhooks
// ----------------------------------------------------------------------------

Status verify_outgoing_webhook(std::string_view authorization, std::string_view raw_body,
                               std::string_view base64_secret) {
  const auto key = decode_base64_any(trim(base64_secret));
  if (!key || key->empty())
    return make_error("the outgoing-webhook security token is not base64", ErrorKind::auth);
  authorization = trim(authorization);
  if (authorization.empty())
    return make_error("no Authorization header", ErrorKind::auth);
  constexpr std::string_view kScheme = "HMAC ";
  if (!starts_with_ci(authorization, kScheme))
    return make_error("Authorization is not an HMAC signature", ErrorKind::auth);
  const std::string_view presented_text = trim(authorization.substr(kScheme.size()));
  const auto presented = decode_base64_any(presented_text);
  if (!presented || presented->size() != 32)
    return make_error("HMAC signature is not base64 of 32 bytes", ErrorKind::auth);
  const auto expected = hmac_sha256(*key, raw_body);
  if (!expected)
    return make_error("could not compute the HMAC (OpenSSL)", ErrorKind::internal);
  if (CRYPTO_memcmp(expected->data(), presented->data(), expected->size()) != 0)
    return make_error("HMAC signature mismatch", ErrorKind::auth);
  return Ok{};
}

std::string sign_outgoing_webhook(std::string_view raw_body, std::string_view base64_secret) {
  const auto key = decode_base64_any(trim(base64_secret));
  if (!key || key->empty())
    return {};
  const auto digest = hmac_sha256(*key, raw_body);
  if (!digest)
    return {};
  return "HMAC " + base64_encode(std::string_view(reinterpret_cast<const char*>(digest->data()),
                                                  digest->size()));
}

}  // namespace shipmate::bot::teams
