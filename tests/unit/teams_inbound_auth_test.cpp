// The Teams inbound verifier over real sockets: a Bot Framework fake (OpenID metadata, JWKS with
// rotating keys and endorsements) and an /api/messages route on the real HttpServer that verifies
// before doing anything else, and only when verified calls out (a token, then a connector
// reply). Every forged request must be answered 401/403 with no outbound call.
#include <gtest/gtest.h>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <atomic>

#include "bot/teams/teams_auth.h"
#include "common/clock.h"
#include "integrations/net/http_client.h"
#include "integrations/net/http_server.h"
#include "tests/support/async_test.h"
#include "tests/support/fake_bot_framework_auth.h"
#include "tests/support/fake_http_server.h"

namespace shipmate::bot::teams {
namespace {

namespace asio = boost::asio;
using integrations::net::HttpClient;
using integrations::net::HttpClientOptions;
using integrations::net::HttpRequest;
using integrations::net::HttpServer;
using integrations::net::HttpServerOptions;
using integrations::net::ServerRequest;
using integrations::net::ServerResponse;
using testing::FakeBotFrameworkAuth;
using testing::FakeHttpServer;
using testing::FakeRequest;
using testing::FakeResponse;
using Forge = FakeBotFrameworkAuth::Forge;

constexpr const char* kServiceUrl = "https://smba.trafficmanager.net/teams/";
constexpr std::int64_t kStartMs = 1'765'000'000'000;  // manual time, Unix ms

// One fake Bot Framework per test binary: keys take a moment to make. Tests that rotate or add
// keys make their own.
FakeBotFrameworkAuth& shared_fake() {
  static FakeBotFrameworkAuth fake;
  return fake;
}

TeamsSettings settings_for(const FakeBotFrameworkAuth& fake) {
  TeamsSettings settings;
  settings.app_id = fake.options().app_id;
  settings.app_password = fake.options().app_password;
  settings.endpoints.openid_metadata_url = fake.openid_metadata_url();
  settings.endpoints.login_url = fake.login_url();
  return settings;
}

std::string activity(const std::string& channel_id, const std::string& service_url) {
  boost::json::object body{{"type", "message"},
                           {"id", "1700000000000"},
                           {"channelId", channel_id},
                           {"serviceUrl", service_url},
                           {"text", "ping"},
                           {"conversation", boost::json::object{{"id", "19:abc@thread.tacv2"}}}};
  return boost::json::serialize(body);
}

// The bot side of one test: the verifier, credentials, and an /api/messages route that does what
// the Teams transport does first: verify, log a refusal once, and only then call out.
struct Bot {
  Bot(asio::io_context& ioc, FakeBotFrameworkAuth& fake, FakeHttpServer& connector,
      InboundVerifierOptions options = {})
      : clock(kStartMs),
        http(ioc.get_executor()),
        settings(settings_for(fake)),
        verifier(make_inbound_verifier(ioc.get_executor(), settings, http, clock, options)),
        credentials(make_connector_credentials(ioc.get_executor(), settings, http, clock)),
        connector_url(connector.base_url()) {
    HttpServerOptions server_options;
    server_options.name = "teams test";
    server = std::move(HttpServer::start(ioc.get_executor(), server_options).value());
    auto mounted = server->mount("POST", "/api/messages", [this](ServerRequest request) {
      return handle(std::move(request));
    });
    EXPECT_TRUE(mounted.ok());
  }

  asio::awaitable<ServerResponse> handle(ServerRequest request) {
    std::string channel_id;
    std::string service_url;
    boost::system::error_code ec;
    auto parsed = boost::json::parse(request.body, ec);
    if (ec || !parsed.is_object())
      co_return ServerResponse::text(400, "malformed activity");
    if (auto* value = parsed.as_object().if_contains("channelId"); value && value->is_string())
      channel_id = value->as_string().c_str();
    if (auto* value = parsed.as_object().if_contains("serviceUrl"); value && value->is_string())
      service_url = value->as_string().c_str();
    std::string authorization = request.header("Authorization");
    auto check = co_await verifier->verify(std::move(authorization), channel_id, service_url);
    if (!check.ok()) {
      ++refusals;
      last_reason = check.reason;
      spdlog::warn("teams: refused an activity ({}): {}", check.status, check.reason);
      co_return ServerResponse::text(check.status, "");
    }
    auto bearer = co_await credentials->bearer();
    if (!bearer)
      co_return ServerResponse::text(502, bearer.error().message);
    HttpRequest reply;
    reply.method = "POST";
    reply.url = connector_url + "/v3/conversations/19:abc@thread.tacv2/activities/1700000000000";
    reply.headers = {{"Authorization", *bearer}, {"Content-Type", "application/json"}};
    reply.body = R"({"type":"message","text":"pong"})";
    auto sent = co_await http.send(std::move(reply));
    co_return ServerResponse::text(sent ? 200 : 502, "");
  }

  // POSTs an activity to /api/messages; the answer's status.
  asio::awaitable<int> post(std::string authorization, std::string body) {
    HttpRequest request;
    request.method = "POST";
    request.url = "http://127.0.0.1:" + std::to_string(server->port()) + "/api/messages";
    request.headers = {{"Content-Type", "application/json"}};
    if (!authorization.empty())
      request.headers.emplace_back("Authorization", std::move(authorization));
    request.body = std::move(body);
    auto response = co_await http.send(std::move(request));
    co_return response ? response->status : -1;
  }

  ManualClock clock;
  HttpClient http;
  TeamsSettings settings;
  std::unique_ptr<InboundVerifier> verifier;
  std::unique_ptr<ConnectorCredentials> credentials;
  std::string connector_url;
  std::unique_ptr<HttpServer> server;
  int refusals = 0;
  std::string last_reason;
};

FakeResponse connector_answer(const FakeRequest&) {
  return FakeResponse::json(200, R"({"id":"1700000000001"})");
}

std::int64_t now_s() {
  return kStartMs / 1000;
}

FakeBotFrameworkAuth::TokenSpec spec_at_start() {
  FakeBotFrameworkAuth::TokenSpec spec;
  spec.now_seconds = now_s();
  return spec;
}

// verify() for a msteams activity at kServiceUrl, every argument named first (GCC 12 mishandles
// temporaries in a co_await's arguments).
asio::awaitable<InboundCheck> verify_token(InboundVerifier& verifier, std::string authorization) {
  std::string channel_id = "msteams";
  std::string service_url = kServiceUrl;
  auto check = co_await verifier.verify(std::move(authorization), std::move(channel_id),
                                        std::move(service_url));
  co_return check;
}

// --- The forged-request table --------------------------------------------------------------------

struct ForgedCase {
  const char* name;
  std::function<std::string(FakeBotFrameworkAuth&)> authorization;
  int expected_status;
  std::string channel_id = "msteams";
  std::string service_url = kServiceUrl;
};

std::string bearer(const std::string& token) {
  return "Bearer " + token;
}

std::vector<ForgedCase> forged_cases() {
  auto minted = [](auto adjust) {
    return [adjust](FakeBotFrameworkAuth& fake) {
      auto spec = spec_at_start();
      adjust(spec, fake);
      return bearer(fake.mint(spec));
    };
  };
  using Spec = FakeBotFrameworkAuth::TokenSpec;
  return {
      {"no Authorization header", [](FakeBotFrameworkAuth&) { return std::string(); }, 401},
      {"not a Bearer token",
       [](FakeBotFrameworkAuth&) { return std::string("Basic dXNlcjpwYXNz"); }, 401},
      {"empty Bearer token", [](FakeBotFrameworkAuth&) { return std::string("Bearer "); }, 401},
      {"alg none", minted([](Spec& s, FakeBotFrameworkAuth&) { s.forge = Forge::alg_none; }), 401},
      {"HS256 signed with the public key",
       minted([](Spec& s, FakeBotFrameworkAuth&) { s.forge = Forge::hs256_with_public_key; }), 401},
      {"bad signature",
       minted([](Spec& s, FakeBotFrameworkAuth&) { s.forge = Forge::bad_signature; }), 401},
      {"unknown kid (an attacker's own key)",
       minted([](Spec& s, FakeBotFrameworkAuth& fake) { s.kid = fake.add_unpublished_key(); }),
       401},
      {"wrong aud", minted([](Spec& s, FakeBotFrameworkAuth&) {
         s.audience = "00000000-1111-2222-3333-444444444444";
       }),
       401},
      {"wrong iss",
       minted([](Spec& s, FakeBotFrameworkAuth&) { s.issuer = "https://evil.example.com"; }), 401},
      {"expired (beyond the 5 min skew)", minted([](Spec& s, FakeBotFrameworkAuth&) {
         s.now_seconds = now_s() - 3600 - 301;
         s.lifetime_seconds = 3600;
       }),
       401},
      {"not yet valid (beyond the 5 min skew)",
       minted([](Spec& s, FakeBotFrameworkAuth&) { s.not_before_offset = 301; }), 401},
      {"expired inside the skew is accepted", minted([](Spec& s, FakeBotFrameworkAuth&) {
         s.now_seconds = now_s() - 3600 - 200;
         s.lifetime_seconds = 3600;
       }),
       200},
      {"not yet valid inside the skew is accepted",
       minted([](Spec& s, FakeBotFrameworkAuth&) { s.not_before_offset = 200; }), 200},
      {"key without the msteams endorsement",
       minted([](Spec& s, FakeBotFrameworkAuth& fake) { s.kid = fake.add_key({"skype"}); }), 403},
      {"activity channel the key is not endorsed for", minted([](Spec&, FakeBotFrameworkAuth&) {}),
       403, "slack"},
      {"serviceurl differs from the activity's", minted([](Spec& s, FakeBotFrameworkAuth&) {
         s.service_url = "https://evil.example.com/teams/";
       }),
       403},
      {"garbage",
       [](FakeBotFrameworkAuth&) { return std::string("Bearer !!not a token at all??"); }, 401},
      {"three dots of garbage",
       [](FakeBotFrameworkAuth&) { return std::string("Bearer abc.def.ghi"); }, 401},
      {"huge header (12 KB token)",
       [](FakeBotFrameworkAuth&) { return "Bearer " + std::string(12 * 1024, 'A') + ".e.e"; }, 401},
      {"a valid token is accepted", minted([](Spec&, FakeBotFrameworkAuth&) {}), 200},
  };
}

TEST(TeamsInboundAuth, ForgedRequestTableOverRealSockets) {
  // Its own fake: the table adds keys.
  FakeBotFrameworkAuth fake;
  FakeHttpServer connector(connector_answer);
  for (const auto& row : forged_cases()) {
    SCOPED_TRACE(row.name);
    const std::string authorization = row.authorization(fake);
    const std::size_t tokens_before = fake.token_requests();
    const std::size_t connector_before = connector.request_count();
    testing::run_async_test(
        [&](asio::io_context& ioc) -> asio::awaitable<void> {
          Bot bot(ioc, fake, connector);
          const std::string body = activity(row.channel_id, row.service_url);
          const int status = co_await bot.post(authorization, body);
          EXPECT_EQ(status, row.expected_status) << bot.last_reason;
          if (row.expected_status != 200) {
            EXPECT_EQ(bot.refusals, 1);
            EXPECT_FALSE(bot.last_reason.empty());
            // The reason is for a log: it never carries the token.
            if (authorization.size() > 20) {
              EXPECT_EQ(bot.last_reason.find(authorization.substr(7)), std::string::npos);
            }
          }
        },
        std::chrono::seconds(20));
    if (row.expected_status == 200) {
      EXPECT_EQ(connector.request_count(), connector_before + 1);
    } else {
      EXPECT_EQ(fake.token_requests(), tokens_before) << "a refused request asked for a token";
      EXPECT_EQ(connector.request_count(), connector_before) << "a refused request called out";
    }
  }
}

TEST(TeamsInboundAuth, OversizedHeaderIsAnswered400ByTheServerNeverCallingOut) {
  auto& fake = shared_fake();
  FakeHttpServer connector(connector_answer);
  testing::run_async_test(
      [&](asio::io_context& ioc) -> asio::awaitable<void> {
        Bot bot(ioc, fake, connector);
        const std::string huge = "Bearer " + std::string(100 * 1024, 'A');
        const std::string body = activity("msteams", kServiceUrl);
        const int status = co_await bot.post(huge, body);
        EXPECT_EQ(status, 400);
        EXPECT_EQ(bot.refusals, 0);  // the server refused it before the route
      },
      std::chrono::seconds(30));
  EXPECT_EQ(connector.request_count(), 0u);
}

TEST(TeamsInboundAuth, KeysAreFetchedOnceAndCachedAcrossRequests) {
  FakeBotFrameworkAuth fake;
  FakeHttpServer connector(connector_answer);
  testing::run_async_test(
      [&](asio::io_context& ioc) -> asio::awaitable<void> {
        Bot bot(ioc, fake, connector);
        for (int i = 0; i < 5; ++i) {
          const std::string token = bearer(fake.mint(spec_at_start()));
          const std::string body = activity("msteams", kServiceUrl);
          const int status = co_await bot.post(token, body);
          EXPECT_EQ(status, 200) << bot.last_reason;
        }
      },
      std::chrono::seconds(30));
  EXPECT_EQ(fake.metadata_requests(), 1u);
  EXPECT_EQ(fake.jwks_requests(), 1u);
  EXPECT_EQ(connector.request_count(), 5u);
  EXPECT_EQ(fake.token_requests(), 1u);  // the connector token is cached too
}

TEST(TeamsInboundAuth, ConcurrentVerificationsOnAColdCacheShareOneFetch) {
  FakeBotFrameworkAuth fake;
  testing::run_async_test(
      [&](asio::io_context& ioc) -> asio::awaitable<void> {
        ManualClock clock(kStartMs);
        HttpClient http(ioc.get_executor());
        auto verifier = make_inbound_verifier(ioc.get_executor(), settings_for(fake), http, clock);
        const std::string token = bearer(fake.mint(spec_at_start()));
        auto done = std::make_shared<int>(0);
        auto accepted = std::make_shared<int>(0);
        for (int i = 0; i < 32; ++i) {
          asio::co_spawn(
              ioc,
              [&, done, accepted]() -> asio::awaitable<void> {
                const std::string check_token = token;
                auto check = co_await verify_token(*verifier, check_token);
                *accepted += check.ok() ? 1 : 0;
                ++*done;
              },
              asio::detached);
        }
        asio::steady_timer poll(ioc);
        while (*done < 32) {
          poll.expires_after(std::chrono::milliseconds(1));
          co_await poll.async_wait(asio::use_awaitable);
        }
        EXPECT_EQ(*accepted, 32);
      },
      std::chrono::seconds(30));
  EXPECT_EQ(fake.metadata_requests(), 1u);
  EXPECT_EQ(fake.jwks_requests(), 1u);
}

TEST(TeamsInboundAuth, AFloodOfUnknownKidsFetchesTheKeySetAtMostAtTheRateLimit) {
  FakeBotFrameworkAuth fake;
  const std::string attacker = fake.add_unpublished_key();
  testing::run_async_test(
      [&](asio::io_context& ioc) -> asio::awaitable<void> {
        ManualClock clock(kStartMs);
        HttpClient http(ioc.get_executor());
        InboundVerifierOptions options;
        options.min_refetch = std::chrono::minutes(5);
        auto verifier =
            make_inbound_verifier(ioc.get_executor(), settings_for(fake), http, clock, options);
        auto spec = spec_at_start();
        spec.kid = attacker;
        const std::string forged = bearer(fake.mint(spec));
        // The first request loads the keys; the next 200 within five minutes fetch nothing more.
        for (int i = 0; i < 200; ++i) {
          const std::string check_token = forged;
          auto check = co_await verify_token(*verifier, check_token);
          EXPECT_EQ(check.status, 401);
          clock.advance_ms(1000);  // 200 s in all
        }
        EXPECT_EQ(fake.jwks_requests(), 1u);
        // Past the limit, one more fetch is allowed, and again only one.
        clock.advance_ms(5 * 60 * 1000);
        for (int i = 0; i < 50; ++i) {
          const std::string check_token = forged;
          auto check = co_await verify_token(*verifier, check_token);
          EXPECT_EQ(check.status, 401);
        }
        EXPECT_EQ(fake.jwks_requests(), 2u);
        // A valid token is still accepted from the cache meanwhile.
        auto good = spec_at_start();
        good.now_seconds = clock.now_ms() / 1000;
        const std::string check_token = bearer(fake.mint(good));
        auto check = co_await verify_token(*verifier, check_token);
        EXPECT_TRUE(check.ok()) << check.reason;
        EXPECT_EQ(fake.jwks_requests(), 2u);
      },
      std::chrono::seconds(30));
}

TEST(TeamsInboundAuth, ARotatedKeyIsPickedUpOnItsFirstUseAndARetiredOneAfterRefresh) {
  FakeBotFrameworkAuth fake;
  testing::run_async_test(
      [&](asio::io_context& ioc) -> asio::awaitable<void> {
        ManualClock clock(kStartMs);
        HttpClient http(ioc.get_executor());
        auto verifier = make_inbound_verifier(ioc.get_executor(), settings_for(fake), http, clock);
        const std::string old_kid = fake.current_kid();
        const std::string first_token = bearer(fake.mint(spec_at_start()));
        auto first = co_await verify_token(*verifier, first_token);
        EXPECT_TRUE(first.ok()) << first.reason;
        clock.advance_ms(10 * 60 * 1000);  // past the unknown-kid rate limit
        const std::string new_kid = fake.rotate_key();
        auto spec = spec_at_start();
        spec.now_seconds = clock.now_ms() / 1000;
        const std::string rotated_token = bearer(fake.mint(spec));
        auto rotated = co_await verify_token(*verifier, rotated_token);
        EXPECT_TRUE(rotated.ok()) << rotated.reason;
        EXPECT_EQ(fake.jwks_requests(), 2u);
        // The old key is retired; after the daily refresh its tokens fail.
        fake.retire_key(old_kid);
        clock.advance_ms(25LL * 3600 * 1000);
        spec.now_seconds = clock.now_ms() / 1000;
        spec.kid = old_kid;
        const std::string retired_token = bearer(fake.mint(spec));
        auto retired = co_await verify_token(*verifier, retired_token);
        EXPECT_EQ(retired.status, 401);
        EXPECT_NE(retired.reason.find("unknown signing key"), std::string::npos) << retired.reason;
        EXPECT_EQ(fake.jwks_requests(), 3u);
      },
      std::chrono::seconds(30));
}

TEST(TeamsInboundAuth, AnUnreachableKeyEndpointRefusesWith401AndSaysWhy) {
  FakeHttpServer down([](const FakeRequest&) { return FakeResponse::json(503, "{}"); });
  testing::run_async_test(
      [&](asio::io_context& ioc) -> asio::awaitable<void> {
        ManualClock clock(kStartMs);
        HttpClient http(ioc.get_executor());
        TeamsSettings settings = settings_for(shared_fake());
        settings.endpoints.openid_metadata_url =
            down.base_url() + "/v1/.well-known/openidconfiguration";
        auto verifier = make_inbound_verifier(ioc.get_executor(), settings, http, clock);
        const std::string check_token = bearer(shared_fake().mint(spec_at_start()));
        auto check = co_await verify_token(*verifier, check_token);
        EXPECT_EQ(check.status, 401);
        EXPECT_NE(check.reason.find("503"), std::string::npos) << check.reason;
        // A second request inside the rate limit does not hammer the endpoint.
        const std::string again_token = bearer(shared_fake().mint(spec_at_start()));
        auto again = co_await verify_token(*verifier, again_token);
        EXPECT_EQ(again.status, 401);
      },
      // A bound for a hung test, not a timing assertion: minting and verifying RSA tokens took over
      // the 5 s default with two CPU hogs on a loaded 2-core machine.
      std::chrono::seconds(30));
  EXPECT_EQ(down.request_count(), 1u);
}

TEST(TeamsInboundAuth, TheVerifierWorksOverTls) {
  FakeBotFrameworkAuth::Options options;
  options.tls = true;
  FakeBotFrameworkAuth fake(options);
  testing::run_async_test(
      [&](asio::io_context& ioc) -> asio::awaitable<void> {
        ManualClock clock(kStartMs);
        HttpClientOptions http_options;
        http_options.ca_file = fake.ca_path();
        HttpClient http(ioc.get_executor(), http_options);
        auto verifier = make_inbound_verifier(ioc.get_executor(), settings_for(fake), http, clock);
        const std::string check_token = bearer(fake.mint(spec_at_start()));
        auto check = co_await verify_token(*verifier, check_token);
        EXPECT_TRUE(check.ok()) << check.reason;
        EXPECT_EQ(check.caller.service_url, kServiceUrl);
        EXPECT_EQ(check.caller.channel_id, "msteams");
        EXPECT_EQ(check.caller.app_id, fake.options().app_id);
      },
      std::chrono::seconds(30));
}

}  // namespace
}  // namespace shipmate::bot::teams

namespace shipmate::bot::teams {
namespace {

// The Bot Framework sends one token for many activities: a token seen before skips the signature
// check, but its claims are checked against every activity, it expires, and it dies with its key.
TEST(TeamsInboundAuth, ARememberedTokenIsStillCheckedAgainstEachActivityAndItsKey) {
  FakeBotFrameworkAuth fake;
  testing::run_async_test(
      [&](asio::io_context& ioc) -> asio::awaitable<void> {
        ManualClock clock(kStartMs);
        HttpClient http(ioc.get_executor());
        auto verifier = make_inbound_verifier(ioc.get_executor(), settings_for(fake), http, clock);
        const std::string token = bearer(fake.mint(spec_at_start()));
        auto first = co_await verify_token(*verifier, token);
        EXPECT_TRUE(first.ok()) << first.reason;
        EXPECT_EQ(verifier->signature_checks(), 1u);
        auto again = co_await verify_token(*verifier, token);
        EXPECT_TRUE(again.ok()) << again.reason;
        EXPECT_EQ(verifier->signature_checks(), 1u);  // remembered: not verified twice
        // The same claims with one signature byte changed are other bytes: checked, and refused.
        auto forged_spec = spec_at_start();
        forged_spec.forge = Forge::bad_signature;
        auto forged = co_await verify_token(*verifier, bearer(fake.mint(forged_spec)));
        EXPECT_EQ(forged.status, 401);
        EXPECT_EQ(verifier->signature_checks(), 2u);
        auto forged_again = co_await verify_token(*verifier, bearer(fake.mint(forged_spec)));
        EXPECT_EQ(forged_again.status, 401);  // a refused token is never remembered
        EXPECT_EQ(verifier->signature_checks(), 3u);
        // Another activity's serviceUrl or channel: refused although the signature is known good.
        std::string copy = token;
        std::string channel = "msteams";
        std::string other_url = "https://evil.example.com/teams/";
        auto moved =
            co_await verifier->verify(std::move(copy), std::move(channel), std::move(other_url));
        EXPECT_EQ(moved.status, 403);
        copy = token;
        channel = "slack";
        other_url = kServiceUrl;
        auto other_channel =
            co_await verifier->verify(std::move(copy), std::move(channel), std::move(other_url));
        EXPECT_EQ(other_channel.status, 403);
        // Past exp plus the skew it is refused.
        clock.advance_ms((3600 + 301) * 1000LL);
        auto expired = co_await verify_token(*verifier, token);
        EXPECT_EQ(expired.status, 401);
        EXPECT_NE(expired.reason.find("expired"), std::string::npos) << expired.reason;
        // Every refusal of the remembered token came from its remembered claims, not a new check.
        EXPECT_EQ(verifier->signature_checks(), 3u);
      },
      std::chrono::seconds(20));
}

TEST(TeamsInboundAuth, ARememberedTokenDiesWithItsRetiredKey) {
  FakeBotFrameworkAuth fake;
  testing::run_async_test(
      [&](asio::io_context& ioc) -> asio::awaitable<void> {
        ManualClock clock(kStartMs);
        HttpClient http(ioc.get_executor());
        auto verifier = make_inbound_verifier(ioc.get_executor(), settings_for(fake), http, clock);
        const std::string old_kid = fake.current_kid();
        auto spec = spec_at_start();
        spec.lifetime_seconds = 3 * 24 * 3600;  // outlives the daily key refresh
        const std::string token = bearer(fake.mint(spec));
        auto first = co_await verify_token(*verifier, token);
        EXPECT_TRUE(first.ok()) << first.reason;
        fake.rotate_key();
        fake.retire_key(old_kid);
        clock.advance_ms(25LL * 3600 * 1000);
        auto retired = co_await verify_token(*verifier, token);
        EXPECT_EQ(retired.status, 401);
        EXPECT_NE(retired.reason.find("unknown signing key"), std::string::npos) << retired.reason;
        EXPECT_EQ(fake.jwks_requests(), 2u);  // the daily refresh happened
      },
      std::chrono::seconds(20));
}

}  // namespace
}  // namespace shipmate::bot::teams
