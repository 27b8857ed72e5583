// Teams authentication without the inbound route: the pure decisions (claims, key-fetch policy,
// JWKS, Entra errors, outgoing-webhook HMAC), connector credentials against the fake Entra token
// endpoint over real sockets, and the settings from the config file and the environment.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <map>

#include "bot/config.h"
#include "bot/teams/bot_framework_auth.h"
#include "bot/teams/teams_auth.h"
#include "common/clock.h"
#include "common/redact.h"
#include "integrations/net/http_client.h"
#include "tests/support/async_test.h"
#include "tests/support/fake_bot_framework_auth.h"
#include "tests/support/test_support.h"

namespace shipmate::bot::teams {
namespace {

namespace asio = boost::asio;
using integrations::net::HttpClient;
using testing::FakeBotFrameworkAuth;

// --- Claims
// ---------------------------------------------------------------------------------------

TokenClaims good_claims() {
  TokenClaims claims;
  claims.issuer = "https://api.botframework.com";
  claims.audiences = {"app-1"};
  claims.expires = 2000;
  claims.not_before = 1000;
  claims.service_url = "https://smba.trafficmanager.net/teams/";
  return claims;
}

TEST(TeamsClaims, TableOfClaimChecks) {
  const ClaimExpectations expect{"https://api.botframework.com", "app-1", 1500, 300};
  const std::vector<std::string> teams_key = {"msteams", "skype"};
  struct Row {
    const char* name;
    std::function<void(TokenClaims&, ClaimExpectations&)> change;
    int status;  // 0: accepted
    std::string channel = "msteams";
    std::vector<std::string> endorsements = {"msteams", "skype"};
  };
  const std::vector<Row> rows = {
      {"valid", [](TokenClaims&, ClaimExpectations&) {}, 0},
      {"wrong issuer", [](TokenClaims& c, ClaimExpectations&) { c.issuer = "https://x"; }, 401},
      {"empty issuer", [](TokenClaims& c, ClaimExpectations&) { c.issuer.clear(); }, 401},
      {"wrong audience", [](TokenClaims& c, ClaimExpectations&) { c.audiences = {"app-2"}; }, 401},
      {"audience list containing the app",
       [](TokenClaims& c, ClaimExpectations&) {
         c.audiences = {"other", "app-1"};
       },
       0},
      {"no exp", [](TokenClaims& c, ClaimExpectations&) { c.expires.reset(); }, 401},
      {"expired 301 s ago", [](TokenClaims&, ClaimExpectations& e) { e.now_seconds = 2301; }, 401},
      {"expired 300 s ago (skew)", [](TokenClaims&, ClaimExpectations& e) { e.now_seconds = 2300; },
       0},
      {"nbf 301 s ahead", [](TokenClaims&, ClaimExpectations& e) { e.now_seconds = 699; }, 401},
      {"nbf 300 s ahead (skew)", [](TokenClaims&, ClaimExpectations& e) { e.now_seconds = 700; },
       0},
      {"no nbf", [](TokenClaims& c, ClaimExpectations&) { c.not_before.reset(); }, 0},
      {"key not endorsed for msteams",
       [](TokenClaims&, ClaimExpectations&) {},
       403,
       "msteams",
       {"skype"}},
      {"key with no endorsements", [](TokenClaims&, ClaimExpectations&) {}, 403, "msteams", {}},
      {"activity without channelId", [](TokenClaims&, ClaimExpectations&) {}, 403, ""},
      {"serviceurl differs",
       [](TokenClaims& c, ClaimExpectations&) { c.service_url = "https://evil.example/"; }, 403},
      {"serviceurl differs by a trailing slash",
       [](TokenClaims& c, ClaimExpectations&) {
         c.service_url = "https://smba.trafficmanager.net/teams";
       },
       403},
      {"no serviceurl claim", [](TokenClaims& c, ClaimExpectations&) { c.service_url.clear(); },
       403},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    TokenClaims claims = good_claims();
    ClaimExpectations e = expect;
    row.change(claims, e);
    auto refusal = check_claims(claims, e, row.endorsements, row.channel,
                                "https://smba.trafficmanager.net/teams/");
    if (row.status == 0) {
      EXPECT_FALSE(refusal) << refusal->reason;
    } else {
      ASSERT_TRUE(refusal);
      EXPECT_EQ(refusal->status, row.status) << refusal->reason;
      EXPECT_FALSE(refusal->reason.empty());
    }
  }
}

TEST(TeamsClaims, ParsesStringAndListAudiencesAndRejectsWrongTypes) {
  auto one = parse_token_claims(R"({"iss":"i","aud":"a","exp":10,"nbf":5.5,"serviceurl":"s"})");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->audiences, std::vector<std::string>{"a"});
  EXPECT_EQ(*one->not_before, 5);
  auto list = parse_token_claims(R"({"aud":["a","b"],"exp":10})");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->audiences.size(), 2u);
  EXPECT_FALSE(parse_token_claims(R"({"exp":"tomorrow"})").ok());
  EXPECT_FALSE(parse_token_claims(R"({"aud":7})").ok());
  EXPECT_FALSE(parse_token_claims("[1,2]").ok());
  EXPECT_FALSE(parse_token_claims("not json").ok());
}

// --- Key fetch policy
// -----------------------------------------------------------------------------

TEST(TeamsKeyFetchPolicy, StepByStep) {
  KeyFetchPolicy policy(KeyFetchPolicy::Options{24LL * 3600 * 1000, 300'000});
  EXPECT_TRUE(policy.should_refresh(0));  // nothing loaded
  EXPECT_TRUE(policy.may_fetch_for_unknown_kid(0));
  policy.fetch_started(1000);
  policy.fetch_succeeded(1100);
  EXPECT_FALSE(policy.should_refresh(2000));
  EXPECT_FALSE(policy.may_fetch_for_unknown_kid(2000));
  EXPECT_FALSE(policy.may_fetch_for_unknown_kid(300'999));
  EXPECT_TRUE(policy.may_fetch_for_unknown_kid(301'000));
  // A day later the set is refreshed.
  EXPECT_FALSE(policy.should_refresh(1100 + 24LL * 3600 * 1000 - 1));
  EXPECT_TRUE(policy.should_refresh(1100 + 24LL * 3600 * 1000));
  // A failed refresh attempt is rate-limited too.
  const std::int64_t later = 1100 + 25LL * 3600 * 1000;
  policy.fetch_started(later);
  EXPECT_FALSE(policy.should_refresh(later + 1000));
  EXPECT_FALSE(policy.may_fetch_for_unknown_kid(later + 1000));
  EXPECT_TRUE(policy.should_refresh(later + 300'000));
}

TEST(TeamsKeyFetchPolicy, AFailedFirstFetchIsRetriedOnlyAfterTheLimit) {
  KeyFetchPolicy policy;
  policy.fetch_started(0);
  EXPECT_FALSE(policy.should_refresh(1));
  EXPECT_FALSE(policy.should_refresh(299'999));
  EXPECT_TRUE(policy.should_refresh(300'000));
}

// --- Metadata and keys
// ----------------------------------------------------------------------------

TEST(TeamsKeys, MetadataAndJwksParse) {
  EXPECT_EQ(*parse_openid_metadata(R"({"jwks_uri":"https://login.botframework.com/v1/keys"})"),
            "https://login.botframework.com/v1/keys");
  EXPECT_FALSE(parse_openid_metadata(R"({"issuer":"x"})").ok());
  EXPECT_FALSE(parse_openid_metadata(R"({"jwks_uri":"file:///etc/passwd"})").ok());
  EXPECT_FALSE(parse_openid_metadata("<html>").ok());

  FakeBotFrameworkAuth fake;
  // The fake's published key, turned back into a PEM from n and e, equals the key's own PEM.
  const std::string kid = fake.current_kid();
  // A JWKS built from the fake's answer (fetched through the test's own client would need a loop;
  // the pure parser is fed a hand-built document instead).
  const std::string doc = R"({"keys":[{"kty":"EC","kid":"ec","crv":"P-256","x":"a","y":"b"},
      {"kty":"RSA","kid":"short","n":"AQAB","e":"AQAB"},
      {"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"}]})";
  auto none = parse_jwks(doc);
  EXPECT_FALSE(none.ok());  // nothing usable: EC, too short, encryption key
  EXPECT_FALSE(parse_jwks(R"({"nokeys":[]})").ok());
  EXPECT_FALSE(parse_jwks("garbage").ok());
  EXPECT_FALSE(fake.public_key_pem(kid).empty());
}

TEST(TeamsKeys, JwkModulusAndExponentBecomeTheSamePublicKey) {
  FakeBotFrameworkAuth fake;
  // Fetch the JWKS document with a blocking loop.
  asio::io_context ioc;
  HttpClient http(ioc.get_executor());
  std::string body;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        integrations::net::HttpRequest request;
        request.url = fake.jwks_url();
        auto response = co_await http.send(std::move(request));
        if (response)
          body = response->body;
      },
      asio::detached);
  ioc.run_for(std::chrono::seconds(5));
  auto keys = parse_jwks(body);
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ(keys->front().kid, fake.current_kid());
  EXPECT_EQ(keys->front().public_key_pem, fake.public_key_pem(fake.current_kid()));
  EXPECT_EQ(keys->front().endorsements, (std::vector<std::string>{"msteams", "skype"}));
}

// --- Entra errors
// ---------------------------------------------------------------------------------

TEST(TeamsEntraErrors, EachBecomesASentenceForAPerson) {
  struct Row {
    int status;
    std::string body;
    std::string expected;
    ErrorKind kind;
  };
  const std::vector<Row> rows = {
      {401,
       R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Trace ID: x"})",
       "client secret is wrong", ErrorKind::auth},
      {400,
       R"({"error":"unauthorized_client","error_description":"AADSTS700016: Application with identifier 'a' was not found in the directory 'botframework.com'."})",
       "does not know app id 'app'", ErrorKind::auth},
      {400,
       R"({"error":"invalid_request","error_description":"AADSTS90002: Tenant 'nope' not found."})",
       "tenant 'tenant-1' does not exist", ErrorKind::not_found},
      {401,
       R"({"error":"invalid_client","error_description":"AADSTS7000222: The provided client secret keys for app 'a' are expired."})",
       "has expired", ErrorKind::auth},
      {503, "<html>Service Unavailable</html>", "unavailable (HTTP 503)", ErrorKind::unavailable},
      {429, "{}", "unavailable (HTTP 429)", ErrorKind::unavailable},
      {400,
       R"({"error":"invalid_scope","error_description":"AADSTS70011: The provided value for the input parameter 'scope' is not valid."})",
       "invalid_scope", ErrorKind::invalid},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.body);
    const Error error = describe_token_endpoint_error(row.status, row.body, "app", "tenant-1");
    EXPECT_NE(error.message.find(row.expected), std::string::npos) << error.message;
    EXPECT_EQ(error.kind, row.kind) << error.message;
    EXPECT_EQ(error.message.find("Trace ID"), std::string::npos) << error.message;
  }
}

TEST(TeamsEntraErrors, TokenResponseParses) {
  auto token = parse_token_response(
      R"({"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"ey.x.y"})");
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->token, "ey.x.y");
  EXPECT_EQ(token->expires_in_seconds, 3599);
  auto as_text = parse_token_response(R"({"expires_in":"3599","access_token":"t"})");
  ASSERT_TRUE(as_text.ok());
  EXPECT_EQ(as_text->expires_in_seconds, 3599);
  EXPECT_FALSE(parse_token_response(R"({"expires_in":3599})").ok());
  EXPECT_FALSE(parse_token_response(R"({"access_token":"t"})").ok());
  EXPECT_FALSE(parse_token_response("nope").ok());
}

// --- Outgoing webhooks
// ----------------------------------------------------------------------------

TEST(TeamsOutgoingWebhook, TableOfCases) {
  const std::string secret = "c2VjcmV0LWtleS1mb3ItdGVhbXMtd2ViaG9vaw==";  // base64
  const std::string body = R"({"type":"message","text":"<at>Shipmate</at> deploy hello v2"})";
  const std::string good = sign_outgoing_webhook(body, secret);
  ASSERT_TRUE(good.starts_with("HMAC "));
  std::string flipped = good;
  flipped[10] = flipped[10] == 'A' ? 'B' : 'A';
  struct Row {
    const char* name;
    std::string authorization;
    std::string body;
    std::string secret;
    bool ok;
  };
  const std::vector<Row> rows = {
      {"valid", good, body, secret, true},
      {"lower-case scheme", "hmac " + good.substr(5), body, secret, true},
      {"surrounding spaces", "  " + good + " ", body, secret, true},
      {"no header", "", body, secret, false},
      {"Bearer instead of HMAC", "Bearer " + good.substr(5), body, secret, false},
      {"signature changed", flipped, body, secret, false},
      {"body changed by one byte", good, body + " ", secret, false},
      {"other secret", good, body, "b3RoZXItc2VjcmV0LWtleQ==", false},
      {"signature not base64", "HMAC !!!!", body, secret, false},
      {"signature of the wrong length", "HMAC c2hvcnQ=", body, secret, false},
      {"secret not base64", good, body, "not base64 !!", false},
      {"empty secret", good, body, "", false},
      {"empty body signed", sign_outgoing_webhook("", secret), "", secret, true},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    auto status = verify_outgoing_webhook(row.authorization, row.body, row.secret);
    EXPECT_EQ(status.ok(), row.ok) << (status.ok() ? "" : status.error().message);
    if (!status.ok()) {
      EXPECT_EQ(status.error().message.find(row.secret.empty() ? "\x01" : row.secret),
                std::string::npos);
    }
  }
}

// --- Connector credentials over real sockets
// ------------------------------------------------------

TeamsSettings credentials_settings(const FakeBotFrameworkAuth& fake) {
  TeamsSettings settings;
  settings.app_id = fake.options().app_id;
  settings.app_password = fake.options().app_password;
  settings.endpoints.login_url = fake.login_url();
  settings.endpoints.openid_metadata_url = fake.openid_metadata_url();
  return settings;
}

asio::awaitable<Result<std::string>> bearer_of(ConnectorCredentials& credentials) {
  auto result = co_await credentials.bearer();
  co_return result;
}

TEST(TeamsCredentials, MultiTenantTokenIsCachedRefreshedEarlyAndInvalidated) {
  FakeBotFrameworkAuth fake;
  testing::run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    ManualClock clock;
    HttpClient http(ioc.get_executor());
    auto credentials =
        make_connector_credentials(ioc.get_executor(), credentials_settings(fake), http, clock);
    auto first = co_await bearer_of(*credentials);
    EXPECT_TRUE(first.ok()) << first.error().message;
    EXPECT_EQ(fake.token_requests(), 1u);
    EXPECT_EQ(*first, "Bearer " + fake.issued_tokens().back());
    const auto requests = fake.server().requests_to("POST", "/botframework.com/oauth2/v2.0/token");
    EXPECT_EQ(requests.size(), 1u);
    if (requests.empty())
      co_return;
    EXPECT_NE(requests[0].body.find("grant_type=client_credentials"), std::string::npos);
    EXPECT_NE(requests[0].body.find("scope=https%3A%2F%2Fapi.botframework.com%2F.default"),
              std::string::npos)
        << requests[0].body;
    // Cached for its life minus five minutes (3599 s from the fake).
    clock.advance_ms((3599 - 301) * 1000LL);
    auto cached = co_await bearer_of(*credentials);
    EXPECT_EQ(*cached, *first);
    EXPECT_EQ(fake.token_requests(), 1u);
    clock.advance_ms(2000);
    auto refreshed = co_await bearer_of(*credentials);
    EXPECT_TRUE(refreshed.ok());
    EXPECT_EQ(fake.token_requests(), 2u);
    // The connector said 401: the next call fetches again.
    credentials->invalidate();
    auto after_401 = co_await bearer_of(*credentials);
    EXPECT_TRUE(after_401.ok());
    EXPECT_EQ(fake.token_requests(), 3u);
    EXPECT_EQ(credentials->token_requests(), 3u);
    // The app password is registered for redaction.
    EXPECT_TRUE(contains_secret("x " + fake.options().app_password + " y"));
  });
}

TEST(TeamsCredentials, SingleTenantAppAsksItsOwnTenant) {
  FakeBotFrameworkAuth fake;
  fake.register_app("11111111-2222-3333-4444-555555555555", "single-secret-value",
                    "contoso.onmicrosoft.com");
  testing::run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    ManualClock clock;
    HttpClient http(ioc.get_executor());
    TeamsSettings settings = credentials_settings(fake);
    settings.app_id = "11111111-2222-3333-4444-555555555555";
    settings.app_password = "single-secret-value";
    settings.app_type = TeamsAppType::single_tenant;
    settings.tenant_id = "contoso.onmicrosoft.com";
    auto credentials = make_connector_credentials(ioc.get_executor(), settings, http, clock);
    auto token = co_await bearer_of(*credentials);
    EXPECT_TRUE(token.ok()) << token.error().message;
  });
  EXPECT_EQ(fake.server().requests_to("POST", "/contoso.onmicrosoft.com/oauth2/v2.0/token").size(),
            1u);
}

TEST(TeamsCredentials, EntraRefusalsBecomeSentencesWithoutTheSecret) {
  FakeBotFrameworkAuth fake;
  struct Row {
    const char* name;
    std::function<void(TeamsSettings&)> change;
    std::string expected;
    ErrorKind kind;
  };
  const std::vector<Row> rows = {
      {"wrong secret", [](TeamsSettings& s) { s.app_password = "wrong-password-1234"; },
       "client secret is wrong", ErrorKind::auth},
      {"unknown app", [](TeamsSettings& s) { s.app_id = "99999999-0000-0000-0000-000000000000"; },
       "does not know app id", ErrorKind::auth},
      {"unknown tenant",
       [](TeamsSettings& s) {
         s.app_type = TeamsAppType::single_tenant;
         s.tenant_id = "nowhere.onmicrosoft.com";
       },
       "tenant 'nowhere.onmicrosoft.com' does not exist", ErrorKind::not_found},
      {"unreachable", [](TeamsSettings& s) { s.endpoints.token_url = "http://127.0.0.1:1/token"; },
       "could not reach the Microsoft login endpoint", ErrorKind::unavailable},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    testing::run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
      ManualClock clock;
      HttpClient http(ioc.get_executor());
      TeamsSettings settings = credentials_settings(fake);
      row.change(settings);
      auto credentials = make_connector_credentials(ioc.get_executor(), settings, http, clock);
      auto token = co_await bearer_of(*credentials);
      EXPECT_FALSE(token.ok());
      if (!token.ok()) {
        EXPECT_NE(token.error().message.find(row.expected), std::string::npos)
            << token.error().message;
        EXPECT_EQ(token.error().kind, row.kind);
        EXPECT_EQ(token.error().message.find(settings.app_password), std::string::npos);
      }
    });
  }
}

TEST(TeamsCredentials, A503IsUnavailableAndTheNextCallTriesAgain) {
  FakeBotFrameworkAuth fake;
  fake.fail_token_requests(1, 503, R"({"error":"temporarily_unavailable"})");
  testing::run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    ManualClock clock;
    HttpClient http(ioc.get_executor());
    auto credentials =
        make_connector_credentials(ioc.get_executor(), credentials_settings(fake), http, clock);
    auto failed = co_await bearer_of(*credentials);
    EXPECT_FALSE(failed.ok());
    if (!failed.ok()) {
      EXPECT_EQ(failed.error().kind, ErrorKind::unavailable);
    }
    auto retried = co_await bearer_of(*credentials);
    EXPECT_TRUE(retried.ok());
  });
  EXPECT_EQ(fake.token_requests(), 2u);
}

TEST(TeamsCredentials, ConcurrentCallersShareOneTokenRequest) {
  FakeBotFrameworkAuth fake;
  testing::run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    ManualClock clock;
    HttpClient http(ioc.get_executor());
    auto credentials =
        make_connector_credentials(ioc.get_executor(), credentials_settings(fake), http, clock);
    auto done = std::make_shared<int>(0);
    for (int i = 0; i < 32; ++i) {
      asio::co_spawn(
          ioc,
          [&, done]() -> asio::awaitable<void> {
            auto token = co_await bearer_of(*credentials);
            EXPECT_TRUE(token.ok());
            ++*done;
          },
          asio::detached);
    }
    asio::steady_timer poll(ioc);
    while (*done < 32) {
      poll.expires_after(std::chrono::milliseconds(1));
      co_await poll.async_wait(asio::use_awaitable);
    }
  });
  EXPECT_EQ(fake.token_requests(), 1u);
}

// --- Settings
// --------------------------------------------------------------------------------------

Environment env_of(std::map<std::string, std::string> values) {
  return [values](const char* name) {
    auto found = values.find(name);
    return found == values.end() ? std::string() : found->second;
  };
}

TEST(TeamsSettingsLoad, NothingConfiguredMeansTeamsIsNotAskedFor) {
  Config config;
  auto settings = load_teams_settings(config, env_of({}));
  ASSERT_TRUE(settings.ok());
  EXPECT_FALSE(settings->has_value());
}

TEST(TeamsSettingsLoad, BothEnvironmentSpellingsWork) {
  Config config;
  for (const auto& names :
       {std::vector<std::string>{"MicrosoftAppId", "MicrosoftAppPassword", "MicrosoftAppTenantId",
                                 "MicrosoftAppType"},
        std::vector<std::string>{"MICROSOFT_APP_ID", "MICROSOFT_APP_PASSWORD",
                                 "MICROSOFT_APP_TENANT_ID", "MICROSOFT_APP_TYPE"}}) {
    SCOPED_TRACE(names[0]);
    auto settings = load_teams_settings(config, env_of({{names[0], "app-1"},
                                                        {names[1], "env-password-value"},
                                                        {names[2], "tenant-9"},
                                                        {names[3], "SingleTenant"}}));
    ASSERT_TRUE(settings.ok()) << settings.error().message;
    ASSERT_TRUE(settings->has_value());
    const TeamsSettings& s = **settings;
    EXPECT_EQ(s.app_id, "app-1");
    EXPECT_EQ(s.app_password, "env-password-value");
    EXPECT_EQ(s.app_type, TeamsAppType::single_tenant);
    EXPECT_EQ(s.token_url(), "https://login.microsoftonline.com/tenant-9/oauth2/v2.0/token");
    EXPECT_EQ(s.endpoints.openid_metadata_url, kDefaultOpenIdMetadataUrl);
    EXPECT_TRUE(contains_secret("x env-password-value y"));
  }
}

TEST(TeamsSettingsLoad, MultiTenantUsesBotframeworkComAndEndpointsAreOverridable) {
  Config config;
  auto settings = load_teams_settings(
      config, env_of({{"MicrosoftAppId", "app-1"},
                      {"MicrosoftAppPassword", "pw-123456"},
                      {"MicrosoftAppType", "multitenant"},
                      {"BOTFRAMEWORK_OPENID_METADATA_URL", "http://127.0.0.1:9/v1/openid"},
                      {"BOTFRAMEWORK_LOGIN_URL", "http://127.0.0.1:9/"},
                      {"BOTFRAMEWORK_OAUTH_SCOPE", "api://scope/.default"},
                      {"BOTFRAMEWORK_TOKEN_ISSUER", "http://issuer"}}));
  ASSERT_TRUE(settings.ok()) << settings.error().message;
  const TeamsSettings& s = **settings;
  EXPECT_EQ(s.app_type, TeamsAppType::multi_tenant);
  EXPECT_EQ(s.token_url(), "http://127.0.0.1:9/botframework.com/oauth2/v2.0/token");
  EXPECT_EQ(s.endpoints.openid_metadata_url, "http://127.0.0.1:9/v1/openid");
  EXPECT_EQ(s.endpoints.oauth_scope, "api://scope/.default");
  EXPECT_EQ(s.endpoints.token_issuer, "http://issuer");
  auto explicit_url = load_teams_settings(
      config, env_of({{"MicrosoftAppId", "app-1"},
                      {"MicrosoftAppPassword", "pw-123456"},
                      {"BOTFRAMEWORK_TOKEN_URL", "https://login.example/t/token"}}));
  EXPECT_EQ((*explicit_url)->token_url(), "https://login.example/t/token");
}

TEST(TeamsSettingsLoad, TheEnvironmentWinsOverTheFile) {
  Config config;
  config.teams.present = true;
  config.teams.app_id = "file-app";
  config.teams.app_password = "file-password";
  config.teams.login_url = "https://file.example";
  auto from_file = load_teams_settings(config, env_of({}));
  ASSERT_TRUE(from_file.ok());
  EXPECT_EQ((*from_file)->app_id, "file-app");
  EXPECT_EQ((*from_file)->endpoints.login_url, "https://file.example");
  auto overridden = load_teams_settings(config, env_of({{"MICROSOFT_APP_ID", "env-app"}}));
  ASSERT_TRUE(overridden.ok());
  EXPECT_EQ((*overridden)->app_id, "env-app");
  EXPECT_EQ((*overridden)->app_password, "file-password");
}

TEST(TeamsSettingsLoad, UnusableSettingsSaySoInOneSentence) {
  Config config;
  struct Row {
    std::map<std::string, std::string> env;
    std::string expected;
  };
  const std::vector<Row> rows = {
      {{{"MicrosoftAppId", "app-1"}}, "has no password: set MicrosoftAppPassword"},
      {{{"MicrosoftAppPassword", "pw-123456"}}, "has no app id"},
      {{{"MicrosoftAppId", "a"},
        {"MicrosoftAppPassword", "pw-123456"},
        {"MicrosoftAppType", "UserAssignedMSI"}},
       "managed identities are not supported"},
      {{{"MicrosoftAppId", "a"},
        {"MicrosoftAppPassword", "pw-123456"},
        {"MicrosoftAppType", "Sometimes"}},
       "MicrosoftAppType must be MultiTenant or SingleTenant"},
      {{{"MicrosoftAppId", "a"},
        {"MicrosoftAppPassword", "pw-123456"},
        {"MICROSOFT_APP_TYPE", "SingleTenant"}},
       "needs its tenant: set MicrosoftAppTenantId"},
      {{{"MicrosoftAppId", "a"},
        {"MicrosoftAppPassword", "pw-123456"},
        {"BOTFRAMEWORK_LOGIN_URL", "ftp://x"}},
       "BOTFRAMEWORK_LOGIN_URL must be an http(s) URL"},
      {{{"MicrosoftAppId", "a"},
        {"MicrosoftAppPassword", "pw-123456"},
        {"BOTFRAMEWORK_CA_FILE", "/nonexistent/ca.pem"}},
       "BOTFRAMEWORK_CA_FILE names /nonexistent/ca.pem, which does not exist"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.expected);
    auto settings = load_teams_settings(config, env_of(row.env));
    ASSERT_FALSE(settings.ok());
    EXPECT_NE(settings.error().message.find(row.expected), std::string::npos)
        << settings.error().message;
  }
}

TEST(TeamsSettingsLoad, OutgoingWebhookSecretAloneEnablesWebhookMode) {
  Config config;
  auto settings =
      load_teams_settings(config, env_of({{"TEAMS_OUTGOING_WEBHOOK_SECRET", "c2VjcmV0LWtleQ=="}}));
  ASSERT_TRUE(settings.ok()) << settings.error().message;
  ASSERT_TRUE(settings->has_value());
  EXPECT_TRUE((*settings)->app_id.empty());
  EXPECT_EQ((*settings)->outgoing_webhook_secret, "c2VjcmV0LWtleQ==");
}

// --- The teams: section of the config file
// ---------------------------------------------------------

std::string base_yaml(const testing::TempDir& dir) {
  return R"(environments:
  - name: staging
users:
  - {id: alice, roles: [sre]}
services:
  - name: hello
    environments: [staging]
    target:
      kind: local
      releases: )" +
         dir.path() + R"(
      start: [python3, server.py]
      health: {http: /health, timeout: 1s, retries: 3, interval: 100ms}
      ports: {staging: 18081}
)";
}

TEST(TeamsConfigSection, ReadsEveryKeyWithTheSecretByReference) {
  testing::TempDir dir;
  ::setenv("SHIPMATE_TEST_TEAMS_PW", "config-password-value", 1);
  const std::string yaml = base_yaml(dir) + R"(secrets:
  teams_password: {env: SHIPMATE_TEST_TEAMS_PW}
teams:
  app_id: 6f1a3b5c-0d2e-4f70-8a91-b2c3d4e5f607
  app_password: {secret: teams_password}
  tenant_id: contoso.onmicrosoft.com
  app_type: SingleTenant
  openid_metadata_url: http://127.0.0.1:1/v1/.well-known/openidconfiguration
  login_url: http://127.0.0.1:1
  oauth_scope: https://api.botframework.com/.default
  token_issuer: https://api.botframework.com
)";
  auto load = parse_config(yaml, dir.file("shipmate.yaml"));
  ASSERT_TRUE(load.ok()) << (load.diagnostics.empty() ? "" : load.diagnostics[0].to_string());
  const TeamsConfig& teams = load.config->teams;
  EXPECT_TRUE(teams.present);
  EXPECT_EQ(teams.app_password, "config-password-value");
  EXPECT_EQ(teams.app_type, "SingleTenant");
  auto settings = load_teams_settings(*load.config, env_of({}));
  ASSERT_TRUE(settings.ok()) << settings.error().message;
  EXPECT_EQ((*settings)->token_url(),
            "http://127.0.0.1:1/contoso.onmicrosoft.com/oauth2/v2.0/token");
}

TEST(TeamsConfigSection, MistakesAreReportedAtTheirLine) {
  testing::TempDir dir;
  struct Row {
    std::string section;
    std::string expected;
  };
  const std::vector<Row> rows = {
      {"teams:\n  app_pasword: x\n",
       "unknown key 'app_pasword' in teams (did you mean 'app_password'?)"},
      {"teams:\n  app_id: a\n  app_password: hunter2-literal\n",
       "teams app_password must be a reference such as {secret: name}"},
      {"teams:\n  app_type: UserAssignedMSI\n",
       "UserAssignedMSI (a managed identity) is not supported"},
      {"teams:\n  app_type: MultiTennant\n", "did you mean 'MultiTenant'"},
      {"teams:\n  app_type: SingleTenant\n", "a SingleTenant teams app needs tenant_id"},
      {"teams:\n  login_url: login.microsoftonline.com\n",
       "teams login_url must be an http(s) URL"},
      {"teams:\n  ca_file: missing-ca.pem\n", "does not exist"},
      {"teams: yes\n", "teams must be a mapping"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.section);
    auto load = parse_config(base_yaml(dir) + row.section, dir.file("shipmate.yaml"));
    EXPECT_FALSE(load.ok());
    bool found = false;
    for (const auto& d : load.diagnostics) {
      if (d.message.find(row.expected) != std::string::npos) {
        found = true;
        EXPECT_GT(d.line, 0);
      }
    }
    EXPECT_TRUE(found) << (load.diagnostics.empty() ? "no diagnostics"
                                                    : load.diagnostics[0].to_string());
  }
}

}  // namespace
}  // namespace shipmate::bot::teams
