// FakeBotFrameworkAuth: the authentication side of Microsoft's Bot Framework for tests, over real
// sockets (plain or TLS), plus a token minter for every forged variant the verifier must refuse.
//
// Contract
// - Built on FakeHttpServer: binds 127.0.0.1 on a free port and serves on its own thread; every
//   request is recorded (requests(), counts below). All public methods are thread-safe.
// - Routes, in the shapes Microsoft serves them:
//     GET  /v1/.well-known/openidconfiguration   Bot Framework OpenID metadata (jwks_uri -> keys)
//     GET  /v1/.well-known/keys                  JWKS: every published key, RSA 2048, each with
//                                                its `endorsements` (channel ids)
//     POST /<tenant>/oauth2/v2.0/token           Microsoft Entra client credentials: form body
//                                                grant_type, client_id, client_secret, scope;
//                                                answers a token or an Entra-shaped error
//     GET  /<tenant>/v2.0/.well-known/openid-configuration   Entra tenant metadata (what MSAL
//                                                reads to find the token endpoint)
//   Anything else: 404. Tenant "botframework.com" (multi-tenant apps) always exists; a
//   single-tenant app's tenant exists once an app is registered in it.
// - Token endpoint errors, each with Entra's JSON shape (error, error_description starting with
//   the AADSTS code, error_codes, timestamp, trace_id, correlation_id): unknown tenant (400
//   invalid_request AADSTS90002), unknown app or app in another tenant (400 unauthorized_client
//   AADSTS700016), wrong secret (401 invalid_client AADSTS7000215), wrong grant (400
//   unsupported_grant_type AADSTS70003), wrong scope (400 invalid_scope AADSTS70011); plus
//   injected failures (fail_token_requests).
// - Keys: the constructor creates one key endorsed for msteams (the current signing key).
//   rotate_key() publishes a new current key (the old one stays published until retire_key()).
//   Key generation takes a moment; keep the number of keys per test small.
// - The minter signs with libjwt and the fake's private keys; Forge picks a forged variant.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/fake_http_server.h"

namespace shipmate::testing {

class FakeBotFrameworkAuth {
 public:
  struct Options {
    bool tls = false;
    std::string app_id = "6f1a3b5c-0d2e-4f70-8a91-b2c3d4e5f607";
    std::string app_password = "fake-app-password-Zq8~";
    std::string tenant = "botframework.com";  // where the app is registered
    std::int64_t token_lifetime_seconds = 3599;
  };

  FakeBotFrameworkAuth();
  explicit FakeBotFrameworkAuth(Options options);
  ~FakeBotFrameworkAuth();
  FakeBotFrameworkAuth(const FakeBotFrameworkAuth&) = delete;
  FakeBotFrameworkAuth& operator=(const FakeBotFrameworkAuth&) = delete;

  const Options& options() const;
  std::string base_url() const;
  std::string ca_path() const;  // for a TLS fake
  std::string openid_metadata_url() const;
  std::string jwks_url() const;
  std::string login_url() const;  // base_url(): "<login_url>/<tenant>/oauth2/v2.0/token"
  std::string token_url(const std::string& tenant) const;
  FakeHttpServer& server();

  // --- keys ---
  std::string current_kid() const;
  // Publishes a new key with these endorsements; returns its kid. With `make_current`, tokens are
  // signed with it from now on.
  std::string add_key(std::vector<std::string> endorsements, bool make_current = false);
  // A new msteams key becomes current; the old one stays published.
  std::string rotate_key();
  // Stops publishing a key (tokens it signed no longer verify once the cache refreshes).
  void retire_key(const std::string& kid);
  // A key the fake never publishes (an attacker's own key), for unknown-kid tokens.
  std::string add_unpublished_key();
  std::string public_key_pem(const std::string& kid) const;

  // --- minting ---
  enum class Forge {
    valid,                  // RS256 with the key `kid` (default: the current key)
    alg_none,               // unsigned, "alg": "none"
    hs256_with_public_key,  // HMAC-SHA256 keyed by the published public key's PEM
    bad_signature,          // a valid token with one signature byte changed
  };
  struct TokenSpec {
    Forge forge = Forge::valid;
    std::string kid;  // empty: the current key
    std::string issuer = "https://api.botframework.com";
    std::string audience;  // empty: the app id
    std::string service_url = "https://smba.trafficmanager.net/teams/";
    std::int64_t now_seconds = 0;        // 0: the real time; iat = nbf = now, exp = now + lifetime
    std::int64_t not_before_offset = 0;  // nbf = now + offset
    std::int64_t lifetime_seconds = 3600;
  };
  std::string mint(const TokenSpec& spec) const;
  // A channel token for the default app, service URL and key, valid from `now_seconds`.
  std::string mint_valid(std::int64_t now_seconds = 0) const;

  // --- token endpoint ---
  // Registers another app (single tenant when `tenant` is not botframework.com).
  void register_app(const std::string& app_id, const std::string& password,
                    const std::string& tenant);
  // The next `count` token requests are answered `status` with `body` (after being recorded).
  void fail_token_requests(int count, int status, std::string body);
  // Access tokens handed out so far (a fake connector may check Bearer tokens against these).
  std::vector<std::string> issued_tokens() const;

  // --- counters ---
  std::size_t metadata_requests() const;
  std::size_t jwks_requests() const;
  std::size_t token_requests() const;
  void clear_requests();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shipmate::testing
