// The fake Bot Framework's auth side checked by Microsoft's own botframework-connector (npm,
// pulled in by botbuilder; tests/node/botframework_auth_check.mjs): its JwtTokenValidation accepts
// the fake's valid tokens and rejects the forged ones, and its credentials client (MSAL) gets a
// token from the fake's Entra endpoint. Fails (never skips) when Node or the package is missing.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdlib>
#include <filesystem>

#include "tests/support/fake_bot_framework_auth.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

using Forge = FakeBotFrameworkAuth::Forge;

std::string botbuilder_missing() {
  const std::string node_dir = source_dir() + "/tests/node";
  if (!std::filesystem::exists(node_dir + "/node_modules/botbuilder") ||
      !std::filesystem::exists(node_dir + "/node_modules/botframework-connector") ||
      !std::filesystem::exists(node_dir + "/node_modules/@azure/msal-node"))
    return "tests/node/node_modules has no botbuilder: run scripts/install-deps";
  auto [status, version] =
      run_command({"/usr/bin/env", "node", "-p", "process.versions.node.split('.')[0]"});
  if (status != 0 || std::atoi(version.c_str()) < 18)
    return "needs Node.js 18 or newer (found: " + version + ")";
  return "";
}

TEST(OfficialBotbuilder, AcceptsTheFakesTokensRejectsForgedOnesAndGetsACredentialsToken) {
  const std::string missing = botbuilder_missing();
  ASSERT_TRUE(missing.empty()) << missing;  // a cross-check that cannot run is a failure

  FakeBotFrameworkAuth::Options options;
  options.tls = true;  // MSAL only talks https
  FakeBotFrameworkAuth fake(options);
  const std::string service_url = "https://smba.trafficmanager.net/teams/";

  FakeBotFrameworkAuth::TokenSpec spec;
  spec.service_url = service_url;
  const std::string valid = fake.mint(spec);

  boost::json::object forged;
  auto add = [&](const char* name, FakeBotFrameworkAuth::TokenSpec variant) {
    variant.service_url = variant.service_url.empty() ? service_url : variant.service_url;
    forged[name] = fake.mint(variant);
  };
  FakeBotFrameworkAuth::TokenSpec s;
  s.forge = Forge::alg_none;
  add("alg none", s);
  s = {};
  s.forge = Forge::hs256_with_public_key;
  add("HS256 with the public key", s);
  s = {};
  s.forge = Forge::bad_signature;
  add("bad signature", s);
  s = {};
  s.audience = "00000000-1111-2222-3333-444444444444";
  add("wrong aud", s);
  s = {};
  s.issuer = "https://evil.example.com";
  add("wrong iss", s);
  s = {};
  s.now_seconds = std::time(nullptr) - 7200;
  add("expired", s);
  s = {};
  s.not_before_offset = 3600;
  add("not yet valid", s);
  s = {};
  s.kid = fake.add_key({"skype"});
  add("no msteams endorsement", s);
  s = {};
  s.kid = fake.add_unpublished_key();
  add("unknown kid", s);
  s = {};
  add("serviceurl mismatch", s);  // the script sends it with another activity serviceUrl

  const std::string node_dir = source_dir() + "/tests/node";
  Subprocess node({"/usr/bin/env", "node", node_dir + "/botframework_auth_check.mjs"},
                  {{"OPENID_URL", fake.openid_metadata_url()},
                   {"APP_ID", fake.options().app_id},
                   {"APP_PASSWORD", fake.options().app_password},
                   {"SERVICE_URL", service_url},
                   {"VALID_TOKEN", valid},
                   {"FORGED_TOKENS", boost::json::serialize(forged)},
                   {"LOGIN_URL", fake.login_url()},
                   {"TENANT", "botframework.com"},
                   {"NODE_EXTRA_CA_CERTS", fake.ca_path()},
                   {"HTTPS_PROXY", ""},
                   {"https_proxy", ""}},
                  node_dir);
  ASSERT_TRUE(node.wait_for_output("RESULT ok=", std::chrono::seconds(60))) << node.output();
  EXPECT_EQ(node.wait(std::chrono::seconds(30)), 0) << node.output();
  const std::string& out = node.output();
  EXPECT_NE(out.find("VALIDATED aud=" + fake.options().app_id), std::string::npos) << out;
  for (const auto& [name, token] : forged)
    EXPECT_NE(out.find("REJECTED " + std::string(name)), std::string::npos) << name << "\n" << out;
  EXPECT_NE(out.find("TOKEN ey"), std::string::npos) << out;
  EXPECT_NE(out.find("WRONG_SECRET AADSTS7000215"), std::string::npos) << out;
  EXPECT_GE(fake.jwks_requests(), 1u);
  EXPECT_GE(fake.token_requests(), 2u);
  EXPECT_FALSE(fake.issued_tokens().empty());
}

}  // namespace
}  // namespace shipmate::testing
