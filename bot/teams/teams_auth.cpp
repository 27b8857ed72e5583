#include "bot/teams/teams_auth.h"

#include <jwt.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <map>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/redact.h"
#include "common/strings.h"
#include "integrations/net/http_client.h"

namespace shipmate::bot::teams {
namespace asio = boost::asio;
using integrations::net::HttpClient;
using integrations::net::HttpRequest;

namespace {

struct JwtFree {
  void operator()(jwt_t* jwt) const { jwt_free(jwt); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtFree>;
struct FreeString {
  void operator()(char* text) const { free(text); }  // NOLINT: libjwt allocates with malloc
};

// Concurrent callers wait for one fetch: the first runs it, the others wait on the flight's timer
// (which never expires; finishing the fetch cancels it to wake them).
struct Flight {
  explicit Flight(asio::any_io_executor executor) : wake(executor) {
    wake.expires_at(asio::steady_timer::time_point::max());
  }
  asio::steady_timer wake;
};

// The flight in progress, if any. Shared with the fetch that runs it, so that fetch can end its
// flight even when its frame outlives the verifier (destroyed with the event loop at shutdown).
using FlightSlot = std::shared_ptr<std::shared_ptr<Flight>>;

// Ends a flight however its fetch ends (a result, an exception, the frame destroyed): clears the
// slot and wakes the waiters, so a fetch that never finished cannot leave them waiting.
class FlightGuard {
 public:
  FlightGuard(FlightSlot slot, std::shared_ptr<Flight> flight)
      : slot_(std::move(slot)), flight_(std::move(flight)) {}
  ~FlightGuard() {
    if (*slot_ == flight_)
      slot_->reset();
    flight_->wake.cancel();
  }
  FlightGuard(const FlightGuard&) = delete;
  FlightGuard& operator=(const FlightGuard&) = delete;

 private:
  FlightSlot slot_;
  std::shared_ptr<Flight> flight_;
};

asio::awaitable<void> wait_for(std::shared_ptr<Flight> flight) {
  co_await flight->wake.async_wait(asio::as_tuple(asio::use_awaitable));
}

bool is_base64url_or_dot(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

std::string excerpt(std::string_view text) {
  constexpr std::size_t kMax = 80;
  std::string out;
  for (const char c : text.substr(0, kMax))
    out.push_back(static_cast<unsigned char>(c) < 0x20 ? '?' : c);
  if (text.size() > kMax)
    out += "...";
  return out;
}

InboundCheck refuse(int status, std::string reason) {
  InboundCheck check;
  check.status = status;
  check.reason = std::move(reason);
  return check;
}

class Verifier final : public InboundVerifier {
 public:
  Verifier(asio::any_io_executor executor, const TeamsSettings& settings, HttpClient& http,
           const Clock& clock, InboundVerifierOptions options)
      : executor_(std::move(executor)),
        metadata_url_(settings.endpoints.openid_metadata_url),
        issuer_(settings.endpoints.token_issuer),
        app_id_(settings.app_id),
        http_(http),
        clock_(clock),
        options_(options),
        policy_(
            KeyFetchPolicy::Options{options.refresh_after.count(), options.min_refetch.count()}) {}

  asio::awaitable<InboundCheck> verify(std::string authorization, std::string channel_id,
                                       std::string service_url) override {
    // 1. The header: a Bearer token of reasonable size and alphabet.
    std::string_view header = trim(authorization);
    if (header.empty())
      co_return refuse(401, "no Authorization header");
    constexpr std::string_view kBearer = "Bearer ";
    if (!starts_with_ci(header, kBearer))
      co_return refuse(401, "Authorization is not a Bearer token");
    const std::string_view token = trim(header.substr(kBearer.size()));
    if (token.size() > options_.max_token_bytes)
      co_return refuse(401, "token is too long (" + std::to_string(token.size()) + " bytes)");

    // A token whose signature verified before skips the signature check (the Bot Framework
    // sends one token for many activities); its key must still be in the key set, and its
    // claims are checked against this activity as always. Looked up first: a remembered token is
    // byte for byte one that passed the form check below, which walks every byte (a third of
    // the cost of a remembered token's check).
    if (auto hit = verified_tokens_.find(token); hit != verified_tokens_.end()) {
      // With the key set current and its key in it, checked in place: nothing is copied and
      // nothing suspends (find_key would find the same key without a fetch).
      if (!policy_.should_refresh(clock_.now_ms()) && !*flight_) {
        if (auto key = keys_.find(hit->second.kid); key != keys_.end())
          co_return finish(hit->second.claims, key->second, std::move(channel_id), service_url);
      }
      const std::string cached_kid = hit->second.kid;
      const TokenClaims cached_claims = hit->second.claims;
      auto key = co_await find_key(cached_kid);
      if (!key)
        co_return refuse(401, key.error().message);
      co_return finish(cached_claims, *key, std::move(channel_id), service_url);
    }

    const std::string token_text(token);
    if (std::count(token.begin(), token.end(), '.') != 2 ||
        !std::all_of(token.begin(), token.end(), is_base64url_or_dot))
      co_return refuse(401, "token is not a JWS in compact form");

    // 2. Its header, parsed by libjwt without a key (nothing is trusted yet): the algorithm is
    // checked here, before any key is looked up, and again after verification below.
    std::string alg;
    std::string kid;
    {
      jwt_t* raw = nullptr;
      if (jwt_decode(&raw, token_text.c_str(), nullptr, 0) != 0 || raw == nullptr)
        co_return refuse(401, "token does not parse as a JWT");
      JwtPtr parsed(raw);
      const char* alg_text = jwt_get_header(parsed.get(), "alg");
      const char* kid_text = jwt_get_header(parsed.get(), "kid");
      alg = alg_text ? alg_text : "";
      kid = kid_text ? kid_text : "";
    }
    if (alg != "RS256")
      co_return refuse(401, "token algorithm '" + excerpt(alg) + "' refused (only RS256)");
    if (kid.empty())
      co_return refuse(401, "token names no signing key (kid)");

    // 3. The key, from the cache or a (rate-limited) fetch.
    auto key = co_await find_key(kid);
    if (!key)
      co_return refuse(401, key.error().message);

    // 4. The signature, by libjwt with that key, and the algorithm once more: libjwt takes the
    // algorithm from the token's header, so anything but RS256 here means a forged header.
    JwtPtr verified;
    {
      jwt_t* raw = nullptr;
      ++signature_checks_;
      const auto& pem = key->public_key_pem;
      const int rc =
          jwt_decode(&raw, token_text.c_str(), reinterpret_cast<const unsigned char*>(pem.data()),
                     static_cast<int>(pem.size()));
      verified.reset(raw);
      if (rc != 0 || !verified)
        co_return refuse(401, "token signature does not verify with key '" + excerpt(kid) + "'");
      if (jwt_get_alg(verified.get()) != JWT_ALG_RS256)
        co_return refuse(401, "token algorithm refused (only RS256)");
    }

    // 5. The claims.
    std::unique_ptr<char, FreeString> payload(jwt_get_grants_json(verified.get(), nullptr));
    if (!payload)
      co_return refuse(401, "token has no claims");
    auto claims = parse_token_claims(payload.get());
    if (!claims)
      co_return refuse(401, claims.error().message);
    remember(token_text, kid, *claims);
    co_return finish(*claims, *key, std::move(channel_id), service_url);
  }

  std::size_t signature_checks() const override { return signature_checks_; }

 private:
  InboundCheck finish(const TokenClaims& claims, const SigningKey& key, std::string channel_id,
                      const std::string& service_url) const {
    ClaimExpectations expect{issuer_, app_id_, clock_.now_ms() / 1000, options_.skew.count()};
    if (auto refusal = check_claims(claims, expect, key.endorsements, channel_id, service_url))
      return refuse(refusal->status, std::move(refusal->reason));
    InboundCheck check;
    check.status = 200;
    check.caller = VerifiedActivityCaller{claims.service_url, std::move(channel_id), app_id_};
    return check;
  }

  // Remembers a token whose signature verified. Bounded: when full, expired entries go, and if
  // none has expired, all of them (only tokens Microsoft signed get here, so nobody can fill it
  // on purpose faster than tokens are issued).
  void remember(const std::string& token, const std::string& kid, const TokenClaims& claims) {
    constexpr std::size_t kMaxRemembered = 1024;
    if (verified_tokens_.size() >= kMaxRemembered) {
      const std::int64_t now = clock_.now_ms() / 1000;
      std::erase_if(verified_tokens_, [&](const auto& entry) {
        const auto& expires = entry.second.claims.expires;
        return !expires || *expires + options_.skew.count() < now;
      });
      if (verified_tokens_.size() >= kMaxRemembered)
        verified_tokens_.clear();
    }
    verified_tokens_.emplace(token, VerifiedToken{kid, claims});
  }

  std::optional<SigningKey> cached(const std::string& kid) const {
    auto found = keys_.find(kid);
    if (found == keys_.end())
      return std::nullopt;
    return found->second;
  }

  asio::awaitable<Result<SigningKey>> find_key(std::string kid) {
    if (policy_.should_refresh(clock_.now_ms()) || *flight_) {
      auto refreshed = co_await fetch_shared();
      if (!refreshed && keys_.empty())
        co_return prefix_error("could not load the Bot Framework signing keys: ",
                               refreshed.error());
    }
    if (auto key = cached(kid))
      co_return *key;
    if (keys_.empty() && !policy_.may_fetch_for_unknown_kid(clock_.now_ms())) {
      const std::string why =
          last_fetch_ ? std::string("no usable key") : last_fetch_.error().message;
      co_return make_error(
          "the Bot Framework signing keys are not loaded (" + why + "); not fetching again yet",
          ErrorKind::auth);
    }
    if (!policy_.may_fetch_for_unknown_kid(clock_.now_ms()))
      co_return make_error("unknown signing key '" + excerpt(kid) +
                               "' (key set fetched recently; not fetching again yet)",
                           ErrorKind::auth);
    auto refetched = co_await fetch_shared();
    if (auto key = cached(kid))
      co_return *key;
    if (!refetched)
      co_return prefix_error(
          "unknown signing key '" + excerpt(kid) + "', and fetching keys failed: ",
          refetched.error());
    co_return make_error("unknown signing key '" + excerpt(kid) + "'", ErrorKind::auth);
  }

  // Runs one fetch, or waits for the one already running.
  asio::awaitable<Status> fetch_shared() {
    if (*flight_) {
      auto flight = *flight_;
      co_await wait_for(flight);
      co_return last_fetch_;
    }
    auto flight = std::make_shared<Flight>(executor_);
    *flight_ = flight;
    FlightGuard guard(flight_, flight);
    policy_.fetch_started(clock_.now_ms());
    auto result = co_await fetch_keys();
    if (result) {
      keys_.clear();
      for (auto& key : *result)
        keys_.emplace(key.kid, std::move(key));
      policy_.fetch_succeeded(clock_.now_ms());
      last_fetch_ = Ok{};
    } else {
      last_fetch_ = result.error();
    }
    co_return last_fetch_;
  }

  asio::awaitable<Result<std::vector<SigningKey>>> fetch_keys() {
    HttpRequest metadata_request;
    metadata_request.url = metadata_url_;
    metadata_request.timeout = std::chrono::seconds(10);
    auto metadata = co_await http_.send(std::move(metadata_request));
    if (!metadata)
      co_return prefix_error("OpenID metadata: ", metadata.error());
    if (metadata->status != 200)
      co_return make_error(
          "OpenID metadata " + metadata_url_ + " answered HTTP " + std::to_string(metadata->status),
          ErrorKind::unavailable);
    auto jwks_uri = parse_openid_metadata(metadata->body);
    if (!jwks_uri)
      co_return jwks_uri.error();
    HttpRequest keys_request;
    keys_request.url = *jwks_uri;
    keys_request.timeout = std::chrono::seconds(10);
    auto keys = co_await http_.send(std::move(keys_request));
    if (!keys)
      co_return prefix_error("key set: ", keys.error());
    if (keys->status != 200)
      co_return make_error(
          "key set " + *jwks_uri + " answered HTTP " + std::to_string(keys->status),
          ErrorKind::unavailable);
    co_return parse_jwks(keys->body);
  }

  asio::any_io_executor executor_;
  std::string metadata_url_;
  std::string issuer_;
  std::string app_id_;
  HttpClient& http_;
  const Clock& clock_;
  InboundVerifierOptions options_;
  KeyFetchPolicy policy_;
  std::map<std::string, SigningKey> keys_;
  struct VerifiedToken {
    std::string kid;
    TokenClaims claims;
  };
  // Looked up by the request's string_view, without copying the 1-2 KB token.
  struct TokenHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const {
      return std::hash<std::string_view>{}(text);
    }
  };
  std::unordered_map<std::string, VerifiedToken, TokenHash, std::equal_to<>> verified_tokens_;
  std::size_t signature_checks_ = 0;
  FlightSlot flight_ = std::make_shared<std::shared_ptr<Flight>>();
  Status last_fetch_ = Ok{};
};

class Credentials final : public ConnectorCredentials {
 public:
  Credentials(asio::any_io_executor executor, const TeamsSettings& settings, HttpClient& http,
              const Clock& clock, ConnectorCredentialsOptions options)
      : executor_(std::move(executor)),
        app_id_(settings.app_id),
        secret_(settings.app_password),
        tenant_(settings.token_tenant()),
        token_url_(settings.token_url()),
        scope_(settings.endpoints.oauth_scope),
        http_(http),
        clock_(clock),
        options_(options) {
    register_secret(secret_);
  }

  asio::awaitable<Result<std::string>> bearer() override {
    if (fresh())
      co_return "Bearer " + token_;
    if (*flight_) {
      auto flight = *flight_;
      co_await wait_for(flight);
      if (fresh())
        co_return "Bearer " + token_;
      co_return last_error_;
    }
    Status result = Ok{};
    {
      auto flight = std::make_shared<Flight>(executor_);
      *flight_ = flight;
      FlightGuard guard(flight_, flight);
      result = co_await request_token();
    }
    if (!result) {
      last_error_ = result.error();
      co_return result.error();
    }
    co_return "Bearer " + token_;
  }

  void invalidate() override {
    token_.clear();
    refresh_at_ms_ = 0;
  }

  std::size_t token_requests() const override { return requests_; }

 private:
  bool fresh() const { return !token_.empty() && clock_.now_ms() < refresh_at_ms_; }

  asio::awaitable<Status> request_token() {
    ++requests_;
    HttpRequest request;
    request.method = "POST";
    request.url = token_url_;
    request.timeout = options_.timeout;
    request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                       {"Accept", "application/json"}};
    using integrations::net::form_encode;
    request.body = "grant_type=client_credentials&client_id=" + form_encode(app_id_) +
                   "&client_secret=" + form_encode(secret_) + "&scope=" + form_encode(scope_);
    const EpochMillis sent_at = clock_.now_ms();
    auto response = co_await http_.send(std::move(request));
    if (!response) {
      co_return make_error(
          redact("could not reach the Microsoft login endpoint " + token_url_ + ": " +
                 response.error().message),
          response.error().kind == ErrorKind::tls ? ErrorKind::tls : ErrorKind::unavailable);
    }
    if (response->status != 200) {
      auto error =
          describe_token_endpoint_error(response->status, response->body, app_id_, tenant_);
      error.message = redact(error.message);
      co_return error;
    }
    auto token = parse_token_response(response->body);
    if (!token)
      co_return prefix_error("Microsoft login endpoint " + token_url_ + ": ", token.error());
    // The access token is not registered for redaction: it only travels in the Authorization
    // header, which no log line or error carries, and a new one every hour would grow the
    // redaction list (which every log line scans) for as long as the process runs.
    token_ = std::move(token->token);
    const std::int64_t lifetime_ms = token->expires_in_seconds * 1000;
    const std::int64_t margin_ms =
        std::min<std::int64_t>(options_.refresh_margin.count() * 1000, lifetime_ms / 2);
    refresh_at_ms_ = sent_at + lifetime_ms - margin_ms;
    co_return Ok{};
  }

  asio::any_io_executor executor_;
  std::string app_id_;
  std::string secret_;
  std::string tenant_;
  std::string token_url_;
  std::string scope_;
  HttpClient& http_;
  const Clock& clock_;
  ConnectorCredentialsOptions options_;
  std::string token_;
  EpochMillis refresh_at_ms_ = 0;
  FlightSlot flight_ = std::make_shared<std::shared_ptr<Flight>>();
  Error last_error_;
  std::size_t requests_ = 0;
};

}  // namespace

std::string TeamsSettings::token_tenant() const {
  if (app_type == TeamsAppType::single_tenant && !tenant_id.empty())
    return tenant_id;
  return tenant_id.empty() ? kMultiTenantAuthority : tenant_id;
}

std::string TeamsSettings::token_url() const {
  if (!endpoints.token_url.empty())
    return endpoints.token_url;
  std::string base = endpoints.login_url;
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  return base + "/" + token_tenant() + "/oauth2/v2.0/token";
}

std::unique_ptr<InboundVerifier> make_inbound_verifier(asio::any_io_executor executor,
                                                       const TeamsSettings& settings,
                                                       HttpClient& http, const Clock& clock,
                                                       InboundVerifierOptions options) {
  return std::make_unique<Verifier>(std::move(executor), settings, http, clock, options);
}

std::unique_ptr<ConnectorCredentials> make_connector_credentials(
    asio::any_io_executor executor, const TeamsSettings& settings, HttpClient& http,
    const Clock& clock, ConnectorCredentialsOptions options) {
  return std::make_unique<Credentials>(std::move(executor), settings, http, clock, options);
}

}  // namespace shipmate::bot::teams
