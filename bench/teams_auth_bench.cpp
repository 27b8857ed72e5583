// Teams inbound verification: how many Bot Framework tokens Shipmate's InboundVerifier checks per
// second, with 1 and 32 verifications in flight, the latency of each, and the CPU per token.
//
// The benchmark hosts the Bot Framework's OpenID metadata and JWKS itself, on loopback, through
// the real HttpServer; the verifier fetches them once (warm-up) and then verifies from its cache,
// as it does in production between key refreshes. Tokens are RS256 JWTs minted here with libjwt
// and a 2048-bit key (Microsoft's size), each with its own serviceurl and exp, all valid.
//
//   build/bench/shipmate_teams_auth_bench [--tokens N] [--in-flight N ...]
#include <jwt.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/resource.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bot/teams/teams_auth.h"
#include "common/clock.h"
#include "integrations/net/http_client.h"
#include "integrations/net/http_server.h"

namespace asio = boost::asio;
using namespace shipmate;
using namespace shipmate::bot::teams;
using integrations::net::HttpClient;
using integrations::net::HttpServer;
using integrations::net::ServerRequest;
using integrations::net::ServerResponse;

namespace {

struct Key {
  std::string private_pem;
  std::string n, e;
};

std::string bn_b64url(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(key, name, &bn);
  std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  BN_free(bn);
  return base64url_encode(bytes);
}

Key make_key() {
  EVP_PKEY* pkey = EVP_RSA_gen(2048);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  Key key{std::string(data, static_cast<std::size_t>(length)), bn_b64url(pkey, "n"),
          bn_b64url(pkey, "e")};
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  return key;
}

std::string mint(const Key& key, const std::string& app_id, const std::string& service_url,
                 std::int64_t now) {
  jwt_t* jwt = nullptr;
  jwt_new(&jwt);
  jwt_add_header(jwt, "kid", "bench-key");
  jwt_add_grant(jwt, "iss", "https://api.botframework.com");
  jwt_add_grant(jwt, "aud", app_id.c_str());
  jwt_add_grant(jwt, "serviceurl", service_url.c_str());
  jwt_add_grant_int(jwt, "nbf", now);
  jwt_add_grant_int(jwt, "exp", now + 3600);
  jwt_set_alg(jwt, JWT_ALG_RS256, reinterpret_cast<const unsigned char*>(key.private_pem.data()),
              static_cast<int>(key.private_pem.size()));
  char* encoded = jwt_encode_str(jwt);
  std::string token = "Bearer " + std::string(encoded);
  free(encoded);  // NOLINT: libjwt allocates with malloc
  jwt_free(jwt);
  return token;
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

struct Run {
  double per_second = 0;
  double p50_us = 0, p99_us = 0;
  double cpu_us_per_token = 0;
  int refused = 0;
};

}  // namespace

int main(int argc, char** argv) {
  int tokens = 20000;
  int distinct = 1000;  // below the verifier's 1024 remembered tokens
  std::vector<int> in_flight_list = {1, 32};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--tokens" && i + 1 < argc) {
      tokens = std::atoi(argv[++i]);
    } else if (arg == "--distinct" && i + 1 < argc) {
      distinct = std::atoi(argv[++i]);
    } else if (arg == "--in-flight" && i + 1 < argc) {
      in_flight_list = {std::atoi(argv[++i])};
    } else {
      std::fprintf(stderr, "usage: %s [--tokens N] [--distinct N] [--in-flight N]\n", argv[0]);
      return 2;
    }
  }

  asio::io_context ioc;
  const Key key = make_key();
  auto server = std::move(HttpServer::start(ioc.get_executor(), {}).value());
  const std::string base = "http://127.0.0.1:" + std::to_string(server->port());
  (void)server->mount("GET", "/v1/.well-known/openidconfiguration",
                      [base](ServerRequest) -> asio::awaitable<ServerResponse> {
                        co_return ServerResponse{
                            200,
                            {{"Content-Type", "application/json"}},
                            R"({"issuer":"https://api.botframework.com","jwks_uri":")" + base +
                                R"(/v1/.well-known/keys"})"};
                      });
  (void)server->mount(
      "GET", "/v1/.well-known/keys", [&key](ServerRequest) -> asio::awaitable<ServerResponse> {
        co_return ServerResponse{200,
                                 {{"Content-Type", "application/json"}},
                                 R"({"keys":[{"kty":"RSA","use":"sig","kid":"bench-key","n":")" +
                                     key.n + R"(","e":")" + key.e +
                                     R"(","endorsements":["msteams","skype"]}]})"};
      });

  TeamsSettings settings;
  settings.app_id = "6f1a3b5c-0d2e-4f70-8a91-b2c3d4e5f607";
  settings.app_password = "unused-by-this-bench";
  settings.endpoints.openid_metadata_url = base + "/v1/.well-known/openidconfiguration";
  SystemClock clock;
  HttpClient http(ioc.get_executor());
  std::unique_ptr<InboundVerifier> verifier;

  const std::int64_t now = clock.now_ms() / 1000;
  std::vector<std::string> minted;
  std::vector<std::string> service_urls;
  minted.reserve(static_cast<std::size_t>(distinct));
  for (int i = 0; i < distinct; ++i) {
    service_urls.push_back("https://smba.trafficmanager.net/teams-" + std::to_string(i) + "/");
    minted.push_back(mint(key, settings.app_id, service_urls.back(), now + i % 60));
  }

  std::printf("Teams inbound verification (RS256, 2048-bit key, keys cached)\n");
  std::printf("%-34s %10s %12s %9s %9s %13s %8s\n", "run", "in flight", "tokens/s", "p50 us",
              "p99 us", "CPU us/token", "refused");
  bool all_ok = true;
  auto run_one = [&](int in_flight, int count) {
    Run run;
    std::vector<double> latencies;
    latencies.reserve(static_cast<std::size_t>(count));
    int next = 0;
    int finished = 0;
    const double cpu_before = cpu_seconds();
    const auto started = std::chrono::steady_clock::now();
    for (int w = 0; w < in_flight; ++w) {
      asio::co_spawn(
          ioc,
          [&]() -> asio::awaitable<void> {
            while (next < count) {
              const int index = next++;
              std::string authorization = minted[static_cast<std::size_t>(index) % minted.size()];
              std::string channel = "msteams";
              std::string url = service_urls[static_cast<std::size_t>(index) % minted.size()];
              const auto t0 = std::chrono::steady_clock::now();
              auto check = co_await verifier->verify(std::move(authorization), std::move(channel),
                                                     std::move(url));
              const auto t1 = std::chrono::steady_clock::now();
              latencies.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
              if (!check.ok()) {
                ++run.refused;
                if (run.refused == 1)
                  std::fprintf(stderr, "refused: %s\n", check.reason.c_str());
              }
              if (++finished == count)
                ioc.stop();
            }
          },
          asio::detached);
    }
    ioc.restart();
    ioc.run_for(std::chrono::minutes(5));
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const double cpu = cpu_seconds() - cpu_before;
    std::sort(latencies.begin(), latencies.end());
    if (!latencies.empty()) {
      run.p50_us = latencies[latencies.size() / 2];
      run.p99_us = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
    }
    run.per_second = finished / elapsed;
    run.cpu_us_per_token = cpu * 1e6 / std::max(finished, 1);
    return run;
  };

  for (const int in_flight : in_flight_list) {
    // A fresh verifier whose keys are loaded (one throwaway verification), then every distinct
    // token once (each signature checked), then `tokens` verifications cycling over the same
    // tokens (as in production, where the Bot Framework reuses a token for about an hour).
    verifier = make_inbound_verifier(ioc.get_executor(), settings, http, clock);
    const std::string throwaway = minted.back();
    minted.back() = mint(key, settings.app_id, service_urls.back(), now);
    (void)run_one(1, 1);
    minted.back() = throwaway;
    const Run cold = run_one(in_flight, distinct);
    const Run warm = run_one(in_flight, tokens);
    std::printf("%-34s %10d %12.0f %9.1f %9.1f %13.1f %8d\n", "new tokens (signature checked)",
                in_flight, cold.per_second, cold.p50_us, cold.p99_us, cold.cpu_us_per_token,
                cold.refused);
    std::printf("%-34s %10d %12.0f %9.1f %9.1f %13.1f %8d\n", "tokens seen before (claims only)",
                in_flight, warm.per_second, warm.p50_us, warm.p99_us, warm.cpu_us_per_token,
                warm.refused);
    all_ok = all_ok && cold.refused == 0 && warm.refused == 0;
  }
  server->stop();
  return all_ok ? 0 : 1;
}
