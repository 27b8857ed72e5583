#include "tests/support/fake_bot_framework_auth.h"

#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <boost/json.hpp>

#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>

#include "bot/teams/bot_framework_auth.h"

namespace shipmate::testing {
namespace json = boost::json;

namespace {

constexpr const char* kMultiTenant = "botframework.com";
constexpr const char* kScope = "https://api.botframework.com/.default";

struct Key {
  std::string kid;
  std::string private_pem;
  std::string public_pem;
  std::string n, e;  // base64url
  std::vector<std::string> endorsements;
  bool published = true;
};

std::string bn_base64url(const BIGNUM* bn) {
  std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  return bot::teams::base64url_encode(bytes);
}

Key generate_key(std::string kid, std::vector<std::string> endorsements, bool published) {
  EVP_PKEY* pkey = EVP_RSA_gen(2048);
  if (!pkey)
    throw std::runtime_error("fake bot framework: RSA key generation failed");
  Key key;
  key.kid = std::move(kid);
  key.endorsements = std::move(endorsements);
  key.published = published;
  auto pem_of = [&](bool private_key) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (private_key)
      PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    else
      PEM_write_bio_PUBKEY(bio, pkey);
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(length));
    BIO_free(bio);
    return out;
  };
  key.private_pem = pem_of(true);
  key.public_pem = pem_of(false);
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n);
  EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e);
  key.n = bn_base64url(n);
  key.e = bn_base64url(e);
  BN_free(n);
  BN_free(e);
  EVP_PKEY_free(pkey);
  return key;
}

std::string random_id(std::size_t& counter, const char* prefix) {
  return std::string(prefix) + std::to_string(++counter) + "-" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
}

std::map<std::string, std::string> parse_form(std::string_view body) {
  std::map<std::string, std::string> out;
  while (!body.empty()) {
    const auto amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos)
      continue;
    out[percent_decode(pair.substr(0, eq), true)] = percent_decode(pair.substr(eq + 1), true);
  }
  return out;
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct App {
  std::string password;
  std::string tenant;
};

}  // namespace

struct FakeBotFrameworkAuth::Impl {
  Options options;
  mutable std::mutex mutex;
  std::vector<Key> keys;
  std::string current;
  std::map<std::string, App> apps;
  std::size_t counter = 0;
  int failures_left = 0;
  int failure_status = 0;
  std::string failure_body;
  std::vector<std::string> issued;
  std::unique_ptr<FakeHttpServer> server;

  const Key* find(const std::string& kid) const {
    for (const auto& key : keys) {
      if (key.kid == kid)
        return &key;
    }
    return nullptr;
  }

  static FakeResponse entra_error(int status, const std::string& error, int code,
                                  const std::string& sentence) {
    json::object body;
    const std::string trace = "0f3c2a1e-5b7d-4c8e-9a6f-1b2c3d4e5f60";
    body["error"] = error;
    body["error_description"] = "AADSTS" + std::to_string(code) + ": " + sentence +
                                " Trace ID: " + trace +
                                " Correlation ID: 7d6c5b4a-3e2f-4a1b-8c9d-0e1f2a3b4c5d Timestamp: "
                                "2026-12-06 12:00:00Z";
    body["error_codes"] = json::array{code};
    body["timestamp"] = "2026-12-06 12:00:00Z";
    body["trace_id"] = trace;
    body["correlation_id"] = "7d6c5b4a-3e2f-4a1b-8c9d-0e1f2a3b4c5d";
    body["error_uri"] = "https://login.microsoftonline.com/error?code=" + std::to_string(code);
    return FakeResponse::json(status, json::serialize(body));
  }

  std::string sign_access_token(const std::string& app_id, const std::string& tenant) {
    const Key* key = find(current);
    jwt_t* jwt = nullptr;
    jwt_new(&jwt);
    const std::int64_t now = now_seconds();
    jwt_add_header(jwt, "kid", key->kid.c_str());
    jwt_add_grant(jwt, "aud", "https://api.botframework.com");
    jwt_add_grant(jwt, "iss", ("https://sts.windows.net/" + tenant + "/").c_str());
    jwt_add_grant(jwt, "appid", app_id.c_str());
    jwt_add_grant(jwt, "tid", tenant.c_str());
    jwt_add_grant_int(jwt, "iat", now);
    jwt_add_grant_int(jwt, "nbf", now);
    jwt_add_grant_int(jwt, "exp", now + options.token_lifetime_seconds);
    jwt_add_grant(jwt, "jti", random_id(counter, "tok-").c_str());
    jwt_set_alg(jwt, JWT_ALG_RS256, reinterpret_cast<const unsigned char*>(key->private_pem.data()),
                static_cast<int>(key->private_pem.size()));
    char* encoded = jwt_encode_str(jwt);
    std::string token = encoded ? encoded : "";
    free(encoded);  // NOLINT: libjwt allocates with malloc
    jwt_free(jwt);
    return token;
  }

  FakeResponse token_endpoint(const std::string& tenant, const FakeRequest& request) {
    std::lock_guard lock(mutex);
    if (failures_left > 0) {
      --failures_left;
      return FakeResponse::json(failure_status, failure_body);
    }
    const bool tenant_exists = tenant == kMultiTenant || [&] {
      for (const auto& [id, app] : apps) {
        if (app.tenant == tenant)
          return true;
      }
      return false;
    }();
    if (!tenant_exists)
      return entra_error(400, "invalid_request", 90002,
                         "Tenant '" + tenant +
                             "' not found. Check to make sure you have the correct tenant ID and "
                             "are signing into the correct cloud.");
    auto form = parse_form(request.body);
    if (form["grant_type"] != "client_credentials")
      return entra_error(
          400, "unsupported_grant_type", 70003,
          "The app requested an unsupported grant type '" + form["grant_type"] + "'.");
    const std::string client_id = form["client_id"];
    auto app = apps.find(client_id);
    if (app == apps.end() || app->second.tenant != tenant)
      return entra_error(400, "unauthorized_client", 700016,
                         "Application with identifier '" + client_id +
                             "' was not found in the directory '" + tenant +
                             "'. This can happen if the application has not been installed by the "
                             "administrator of the tenant.");
    if (form["client_secret"] != app->second.password)
      return entra_error(401, "invalid_client", 7000215,
                         "Invalid client secret provided. Ensure the secret being sent in the "
                         "request is the client secret value, not the client secret ID, for a "
                         "secret added to app '" +
                             client_id + "'.");
    if (form["scope"] != kScope)
      return entra_error(400, "invalid_scope", 70011,
                         "The provided request must include a 'scope' input parameter. The "
                         "provided value for the input parameter 'scope' is not valid.");
    std::string token = sign_access_token(client_id, tenant);
    issued.push_back(token);
    json::object body;
    body["token_type"] = "Bearer";
    body["expires_in"] = options.token_lifetime_seconds;
    body["ext_expires_in"] = options.token_lifetime_seconds;
    body["access_token"] = token;
    return FakeResponse::json(200, json::serialize(body));
  }

  FakeResponse handle(const FakeRequest& request) {
    const std::string base = server->base_url();
    if (request.method == "GET" && request.path == "/v1/.well-known/openidconfiguration") {
      json::object body;
      body["issuer"] = "https://api.botframework.com";
      body["authorization_endpoint"] = "https://invalid.botframework.com";
      body["jwks_uri"] = base + "/v1/.well-known/keys";
      body["id_token_signing_alg_values_supported"] = json::array{"RS256"};
      body["token_endpoint_auth_methods_supported"] = json::array{"private_key_jwt"};
      return FakeResponse::json(200, json::serialize(body));
    }
    if (request.method == "GET" && request.path == "/v1/.well-known/keys") {
      std::lock_guard lock(mutex);
      json::array list;
      for (const auto& key : keys) {
        if (!key.published)
          continue;
        json::array endorsements;
        for (const auto& e : key.endorsements)
          endorsements.emplace_back(e);
        list.push_back(json::object{{"kty", "RSA"},
                                    {"use", "sig"},
                                    {"kid", key.kid},
                                    {"x5t", key.kid},
                                    {"n", key.n},
                                    {"e", key.e},
                                    {"endorsements", std::move(endorsements)}});
      }
      return FakeResponse::json(200, json::serialize(json::object{{"keys", std::move(list)}}));
    }
    // /<tenant>/oauth2/v2.0/token and /<tenant>/v2.0/.well-known/openid-configuration
    const auto slash = request.path.find('/', 1);
    if (slash != std::string::npos) {
      const std::string tenant = request.path.substr(1, slash - 1);
      const std::string rest = request.path.substr(slash);
      if (request.method == "POST" && rest == "/oauth2/v2.0/token")
        return token_endpoint(tenant, request);
      if (request.method == "GET" && rest == "/v2.0/.well-known/openid-configuration") {
        json::object body;
        const std::string root = base + "/" + tenant;
        body["token_endpoint"] = root + "/oauth2/v2.0/token";
        body["authorization_endpoint"] = root + "/oauth2/v2.0/authorize";
        body["end_session_endpoint"] = root + "/oauth2/v2.0/logout";
        body["device_authorization_endpoint"] = root + "/oauth2/v2.0/devicecode";
        body["jwks_uri"] = base + "/" + tenant + "/discovery/v2.0/keys";
        body["issuer"] = "https://login.microsoftonline.com/" + tenant + "/v2.0";
        body["response_types_supported"] = json::array{"code", "id_token", "token"};
        body["token_endpoint_auth_methods_supported"] =
            json::array{"client_secret_post", "private_key_jwt", "client_secret_basic"};
        body["tenant_region_scope"] = "WW";
        body["cloud_instance_name"] = "microsoftonline.com";
        return FakeResponse::json(200, json::serialize(body));
      }
    }
    return FakeResponse::json(404, R"({"error":"not found"})");
  }
};

FakeBotFrameworkAuth::FakeBotFrameworkAuth() : FakeBotFrameworkAuth(Options{}) {}

FakeBotFrameworkAuth::FakeBotFrameworkAuth(Options options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->apps[impl_->options.app_id] = App{impl_->options.app_password, impl_->options.tenant};
  impl_->keys.push_back(
      generate_key(random_id(impl_->counter, "fake-key-"), {"msteams", "skype"}, true));
  impl_->current = impl_->keys.back().kid;
  FakeHttpServer::Options server_options;
  server_options.tls = impl_->options.tls;
  Impl* impl = impl_.get();
  impl_->server = std::make_unique<FakeHttpServer>(
      [impl](const FakeRequest& request) { return impl->handle(request); }, server_options);
}

FakeBotFrameworkAuth::~FakeBotFrameworkAuth() {
  impl_->server.reset();
}

const FakeBotFrameworkAuth::Options& FakeBotFrameworkAuth::options() const {
  return impl_->options;
}
std::string FakeBotFrameworkAuth::base_url() const {
  return impl_->server->base_url();
}
std::string FakeBotFrameworkAuth::ca_path() const {
  return impl_->server->ca_path();
}
std::string FakeBotFrameworkAuth::openid_metadata_url() const {
  return base_url() + "/v1/.well-known/openidconfiguration";
}
std::string FakeBotFrameworkAuth::jwks_url() const {
  return base_url() + "/v1/.well-known/keys";
}
std::string FakeBotFrameworkAuth::login_url() const {
  return base_url();
}
std::string FakeBotFrameworkAuth::token_url(const std::string& tenant) const {
  return base_url() + "/" + tenant + "/oauth2/v2.0/token";
}
FakeHttpServer& FakeBotFrameworkAuth::server() {
  return *impl_->server;
}

std::string FakeBotFrameworkAuth::current_kid() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->current;
}

std::string FakeBotFrameworkAuth::add_key(std::vector<std::string> endorsements,
                                          bool make_current) {
  std::string kid;
  {
    std::lock_guard lock(impl_->mutex);
    kid = random_id(impl_->counter, "fake-key-");
  }
  Key key = generate_key(kid, std::move(endorsements), true);
  std::lock_guard lock(impl_->mutex);
  impl_->keys.push_back(std::move(key));
  if (make_current)
    impl_->current = kid;
  return kid;
}

std::string FakeBotFrameworkAuth::rotate_key() {
  return add_key({"msteams", "skype"}, true);
}

void FakeBotFrameworkAuth::retire_key(const std::string& kid) {
  std::lock_guard lock(impl_->mutex);
  for (auto& key : impl_->keys) {
    if (key.kid == kid)
      key.published = false;
  }
}

std::string FakeBotFrameworkAuth::add_unpublished_key() {
  std::string kid;
  {
    std::lock_guard lock(impl_->mutex);
    kid = random_id(impl_->counter, "attacker-key-");
  }
  Key key = generate_key(kid, {"msteams"}, false);
  std::lock_guard lock(impl_->mutex);
  impl_->keys.push_back(std::move(key));
  return kid;
}

std::string FakeBotFrameworkAuth::public_key_pem(const std::string& kid) const {
  std::lock_guard lock(impl_->mutex);
  const Key* key = impl_->find(kid);
  return key ? key->public_pem : std::string();
}

std::string FakeBotFrameworkAuth::mint(const TokenSpec& spec) const {
  Key key;
  {
    std::lock_guard lock(impl_->mutex);
    const Key* found = impl_->find(spec.kid.empty() ? impl_->current : spec.kid);
    if (!found)
      throw std::invalid_argument("fake bot framework: no key " + spec.kid);
    key = *found;
  }
  const std::int64_t now = spec.now_seconds != 0 ? spec.now_seconds : now_seconds();
  jwt_t* jwt = nullptr;
  jwt_new(&jwt);
  jwt_add_header(jwt, "kid", key.kid.c_str());
  jwt_add_header(jwt, "x5t", key.kid.c_str());
  jwt_add_grant(jwt, "serviceurl", spec.service_url.c_str());
  jwt_add_grant(jwt, "iss", spec.issuer.c_str());
  jwt_add_grant(jwt, "aud",
                (spec.audience.empty() ? impl_->options.app_id : spec.audience).c_str());
  jwt_add_grant_int(jwt, "nbf", now + spec.not_before_offset);
  jwt_add_grant_int(jwt, "exp", now + spec.lifetime_seconds);
  jwt_add_grant_int(jwt, "iat", now);
  switch (spec.forge) {
    case Forge::valid:
    case Forge::bad_signature:
      jwt_set_alg(jwt, JWT_ALG_RS256,
                  reinterpret_cast<const unsigned char*>(key.private_pem.data()),
                  static_cast<int>(key.private_pem.size()));
      break;
    case Forge::alg_none:
      break;  // libjwt writes "alg": "none" and no signature
    case Forge::hs256_with_public_key:
      jwt_set_alg(jwt, JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(key.public_pem.data()),
                  static_cast<int>(key.public_pem.size()));
      break;
  }
  char* encoded = jwt_encode_str(jwt);
  std::string token = encoded ? encoded : "";
  free(encoded);  // NOLINT: libjwt allocates with malloc
  jwt_free(jwt);
  if (spec.forge == Forge::bad_signature) {
    // Change one character in the middle of the signature (not the last, whose low bits may be
    // padding).
    const auto dot = token.rfind('.');
    const std::size_t at = dot + 1 + (token.size() - dot - 1) / 2;
    token[at] = token[at] == 'A' ? 'B' : 'A';
  }
  return token;
}

std::string FakeBotFrameworkAuth::mint_valid(std::int64_t now) const {
  TokenSpec spec;
  spec.now_seconds = now;
  return mint(spec);
}

void FakeBotFrameworkAuth::register_app(const std::string& app_id, const std::string& password,
                                        const std::string& tenant) {
  std::lock_guard lock(impl_->mutex);
  impl_->apps[app_id] = App{password, tenant};
}

void FakeBotFrameworkAuth::fail_token_requests(int count, int status, std::string body) {
  std::lock_guard lock(impl_->mutex);
  impl_->failures_left = count;
  impl_->failure_status = status;
  impl_->failure_body = std::move(body);
}

std::vector<std::string> FakeBotFrameworkAuth::issued_tokens() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->issued;
}

std::size_t FakeBotFrameworkAuth::metadata_requests() const {
  return impl_->server->requests_to("GET", "/v1/.well-known/openidconfiguration").size();
}
std::size_t FakeBotFrameworkAuth::jwks_requests() const {
  return impl_->server->requests_to("GET", "/v1/.well-known/keys").size();
}
std::size_t FakeBotFrameworkAuth::token_requests() const {
  std::size_t count = 0;
  for (const auto& request : impl_->server->requests()) {
    if (request.method == "POST" && request.path.ends_with("/oauth2/v2.0/token"))
      ++count;
  }
  return count;
}
void FakeBotFrameworkAuth::clear_requests() {
  impl_->server->clear_requests();
}

}  // namespace shipmate::testing
