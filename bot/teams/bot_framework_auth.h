// The decisions behind Teams authentication, with no I/O: what the Bot Framework's OpenID
// metadata and key set say, whether a verified token's claims may speak for an activity, when the
// key set may be fetched again, what Microsoft Entra's token-endpoint errors mean to a person, and
// the outgoing-webhook HMAC. teams_auth.h performs the I/O around these.
//
// Contract
// - Pure: no sockets, no clock reads (time is passed in as Unix seconds or milliseconds), no
//   logging. Thread-safe (no shared state).
// - Errors are one line for a log or a person; they never contain a token, a secret or a key.
// - Signature checks are not here: JWS parsing and RS256 verification are libjwt's
// (teams_auth.cpp);
//   this file turns a JWK's modulus and exponent into the PEM public key libjwt takes, with
//   OpenSSL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace shipmate::bot::teams {

// --- OpenID metadata and keys ---------------------------------------------------------------

// The `jwks_uri` of an OpenID metadata document; an Error when the body is not JSON or has none.
Result<std::string> parse_openid_metadata(std::string_view json);

// One signing key of the Bot Framework's key set.
struct SigningKey {
  std::string kid;
  std::string public_key_pem;             // "-----BEGIN PUBLIC KEY-----..." (from n and e)
  std::vector<std::string> endorsements;  // channels the key may sign for: "msteams", ...
};

// The RSA signing keys of a JWKS document. Keys that are not RSA, that are marked for another
// use than "sig", or whose n/e do not decode are skipped (a key set may hold keys Shipmate does not
// use); an Error only when the document itself is malformed or holds no usable key.
Result<std::vector<SigningKey>> parse_jwks(std::string_view json);

// A PEM SubjectPublicKeyInfo for the RSA key with this base64url modulus and exponent.
Result<std::string> rsa_public_key_pem(std::string_view n_base64url, std::string_view e_base64url);

// --- Claims ---------------------------------------------------------------------------------

// What a token whose signature has been verified claims.
struct TokenClaims {
  std::string issuer;                      // iss
  std::vector<std::string> audiences;      // aud (a string or a list in the token)
  std::optional<std::int64_t> expires;     // exp, Unix seconds
  std::optional<std::int64_t> not_before;  // nbf, Unix seconds
  std::string service_url;                 // serviceurl (Bot Framework's own claim)
};

// The claims of a JWT payload (JSON); an Error when it is not a JSON object or a claim has the
// wrong type.
Result<TokenClaims> parse_token_claims(std::string_view payload_json);

struct ClaimExpectations {
  std::string issuer;    // "https://api.botframework.com"
  std::string audience;  // the bot's app id
  std::int64_t now_seconds = 0;
  std::int64_t skew_seconds = 300;  // exp and nbf are allowed this much clock skew
};

// Why a token was refused, and with which HTTP status: 401 when the token is not a valid token
// for this bot; 403 when it is, but may not speak for this activity (the signing key is not
// endorsed for the activity's channel, or its serviceurl differs from the activity's).
struct Refusal {
  int status = 401;
  std::string reason;
};

// Checks issuer, audience, exp (required) and nbf (optional) with the skew, the key's endorsements
// against the activity's channelId, and the serviceurl claim against the activity's serviceUrl
// (exact match). nullopt when everything holds.
std::optional<Refusal> check_claims(const TokenClaims& claims, const ClaimExpectations& expect,
                                    const std::vector<std::string>& key_endorsements,
                                    std::string_view activity_channel_id,
                                    std::string_view activity_service_url);

// --- When the key set may be fetched ----------------------------------------------------------

// The key cache's fetch policy. The set is fetched when there is none yet, when it is older than
// `refresh_after_ms` (keys rotate; Microsoft publishes the next key ahead of use), and when a
// token names a kid the cache does not hold, but then at most once per `min_refetch_ms`, so a
// flood of tokens with made-up kids cannot make Shipmate fetch in a loop. A failed fetch counts as
// an attempt.
class KeyFetchPolicy {
 public:
  struct Options {
    std::int64_t refresh_after_ms = 24LL * 3600 * 1000;
    std::int64_t min_refetch_ms = 5LL * 60 * 1000;
  };
  KeyFetchPolicy() = default;
  explicit KeyFetchPolicy(Options options) : options_(options) {}

  // Whether to fetch before using the cache (none yet, or stale).
  bool should_refresh(std::int64_t now_ms) const;
  // Whether a token with a kid the cache lacks may trigger a fetch now.
  bool may_fetch_for_unknown_kid(std::int64_t now_ms) const;
  // Record a fetch started at `now_ms`, and whether it succeeded.
  void fetch_started(std::int64_t now_ms) { last_attempt_ms_ = now_ms; }
  void fetch_succeeded(std::int64_t now_ms) { last_success_ms_ = now_ms; }

 private:
  Options options_;
  std::optional<std::int64_t> last_attempt_ms_;
  std::optional<std::int64_t> last_success_ms_;
};

// --- Microsoft Entra token endpoint ---------------------------------------------------------

// A sentence a person can act on for a refused or failed client-credentials request (HTTP
// `status`, Entra's JSON `body`): a wrong secret, an unknown app id, an unknown tenant, an expired
// secret, or the server's own description. `app_id` and `tenant` name what was asked for.
// The kind is `auth` for refused credentials, `not_found` for an unknown tenant, `unavailable`
// for 5xx/429, `invalid` otherwise.
Error describe_token_endpoint_error(int status, std::string_view body, std::string_view app_id,
                                    std::string_view tenant);

// A successful token response: the access token and its lifetime in seconds.
struct AccessToken {
  std::string token;
  std::int64_t expires_in_seconds = 0;
};
Result<AccessToken> parse_token_response(std::string_view body);

// --- Outgoing webhooks ----------------------------------------------------------------------

// Teams outgoing-webhook mode: `Authorization: HMAC <base64 of HMAC-SHA256(raw body)>`, keyed by
// the base64-decoded security token Teams showed when the webhook was created. Compared in
// constant time. Errors (all meaning 401): no or malformed header, a secret that is not base64,
// a mismatch.
Status verify_outgoing_webhook(std::string_view authorization, std::string_view raw_body,
                               std::string_view base64_secret);
// "HMAC <base64>" for this body (tests and fakes sign with it); empty when the secret is not
// base64.
std::string sign_outgoing_webhook(std::string_view raw_body, std::string_view base64_secret);

// --- Helpers shared with the verifier and tests -------------------------------------------------

// RFC 4648 base64 and base64url (padding optional); nullopt when malformed.
std::optional<std::string> decode_base64_any(std::string_view text);
std::string base64url_encode(std::string_view data);

}  // namespace shipmate::bot::teams
