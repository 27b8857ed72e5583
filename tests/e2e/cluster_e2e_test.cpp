// End-to-end through the cluster targets: the real shipmate binary (`chat` fed by a pipe, and
// `serve`) deploys through the fake Kubernetes API and the fake Argo CD, both TLS with a test CA.
// Each test drives a chat command to success, failure or rollback and then checks three places:
// what chat said, what the fake now holds (and which requests it got), and the SQLite file.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <boost/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/strings.h"
#include "tests/support/e2e_support.h"
#include "tests/support/fake_argocd.h"
#include "tests/support/fake_kubernetes.h"
#include "tests/support/test_proxy.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

// Every text value stored in any table of the database, one per entry.
std::vector<std::string> all_stored_text(const std::string& db_path) {
  std::vector<std::string> out;
  for (const auto& table :
       query(db_path,
             "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
             "'sqlite_%'")) {
    for (const auto& row : query(db_path, "SELECT * FROM \"" + table + "\""))
      out.push_back(table + ": " + row);
  }
  return out;
}

// A JSON string's value ("" for anything else), for comparing with std::string.
std::string text(const json::value& value) {
  return value.is_string() ? std::string(value.get_string()) : std::string();
}

const std::string kRepo = "registry.local:5000/team/api";

// A shipmate configuration directory and chat sessions against it.
class ClusterSession : public ::testing::Test {
 protected:
  // `target` is the YAML of the service's target, indented for its place under `target:`.
  void write_config(const std::string& target, const std::string& secrets = "",
                    const std::string& environments = "[staging, production]") {
    write_file(dir.file("shipmate.yaml"), R"(shipmate:
  database: state/shipmate.db
  state_dir: state/run
terminal:
  user: alice
environments:
  - name: staging
    allow: {deploy: [developer], rollback: [developer], lock: [developer]}
  - name: production
    production: true
    allow: {deploy: [sre], rollback: [sre], lock: [sre]}
users:
  - {id: alice, name: Alice, roles: [developer, sre]}
)" + secrets + R"(services:
  - name: api
    environments: )" + environments +
                                              R"(
    target:
)" + target);
  }

  std::unique_ptr<Subprocess> start_chat(const std::vector<std::string>& extra = {},
                                         const std::map<std::string, std::string>& env = {}) {
    std::vector<std::string> argv{shipmate_binary()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.insert(argv.end(), {"chat", "--config", dir.file("shipmate.yaml"), "--as", "alice"});
    auto chat = std::make_unique<Subprocess>(argv, env);
    // Commands are read only after start-up has restored what serves, so this also waits for that.
    say(*chat, "ping", "pong");
    return chat;
  }

  // Sends one command and waits until `expect` shows up in the output that follows it.
  void finish(Subprocess& chat) {
    chat.close_stdin();
    EXPECT_EQ(chat.wait(), 0) << chat.output();
  }

  std::vector<std::string> deploys() {
    return query(db(), "SELECT id, kind, environment, version, state FROM deploys ORDER BY id");
  }

  std::string db() const { return dir.file("state/shipmate.db"); }

  TempDir dir;
};

// ---------------------------------------------------------------------------------------------
// Kubernetes

FakeKubernetes::Options kube_options() {
  FakeKubernetes::Options options;
  options.tls = true;
  options.tick = 15ms;
  options.progress_deadline = 300ms;
  return options;
}

class KubernetesE2e : public ClusterSession {
 protected:
  KubernetesE2e() : fake(kube_options()) {}

  void SetUp() override {
    fake.add_deployment("stg", "api", {{"app", kRepo + ":v1.4.0"}}, 3);
    fake.add_deployment("prod", "api", {{"app", kRepo + ":v1.4.0"}}, 3);
    write_kubeconfig();
    write_kubernetes_config("app");
  }

  void write_kubeconfig(const std::string& user = "") {
    write_file(dir.file("kubeconfig"), fake.kubeconfig(user));
  }

  // An empty `container` leaves the key out. The API server ends each watch after
  // `watch_window` (1 s is the least timeoutSeconds can say), so each rollout takes about that
  // long.
  void write_kubernetes_config(const std::string& container) {
    write_config(
        "      kind: kubernetes\n"
        "      kubeconfig: kubeconfig\n"
        "      namespaces: {staging: stg, production: prod}\n"
        "      deployment: api\n" +
        (container.empty() ? "" : "      container: " + container + "\n") + "      image: \"" +
        kRepo +
        "\"\n"
        "      timeout: 20s\n"
        "      poll: 50ms\n"
        "      watch_window: 1s\n");
  }

  std::vector<FakeRequest> writes() {
    std::vector<FakeRequest> out;
    for (const auto& request : fake.http().requests()) {
      if (request.method != "GET")
        out.push_back(request);
    }
    return out;
  }

  std::vector<FakeRequest> patches(const std::string& ns = "stg") {
    return fake.http().requests_to("PATCH", "/apis/apps/v1/namespaces/" + ns + "/deployments/api");
  }

  std::string image(const std::string& ns = "stg") { return fake.image_of(ns, "api", "app"); }

  FakeKubernetes fake;
};

TEST_F(KubernetesE2e, DeployPatchesTheImageFollowsTheRolloutAndStatusShowsIt) {
  auto chat = start_chat();
  std::string out = say(*chat, "deploy api v1.4.2 to staging", "Deploy #1 succeeded");
  EXPECT_TRUE(has(out, "api v1.4.2 is live in staging")) << out;
  EXPECT_TRUE(has(out, "Waiting for deployment \"api\" rollout to finish")) << out;
  // The registry's port is not mistaken for a tag.
  EXPECT_EQ(image(), kRepo + ":v1.4.2");
  EXPECT_TRUE(fake.rollout_complete("stg", "api"));
  EXPECT_EQ(image("prod"), kRepo + ":v1.4.0");  // production untouched

  out = say(*chat, "status api", "production");
  EXPECT_TRUE(has(out, "v1.4.2")) << out;
  EXPECT_TRUE(has(out, "deployment stg/api")) << out;
  finish(*chat);

  const auto sent = patches();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].header("Content-Type"), "application/strategic-merge-patch+json");
  const json::value body = json::parse(sent[0].body);
  EXPECT_EQ(body.at("spec").at("template").at("spec").at("containers"),
            json::parse(R"([{"name":"app","image":")" + kRepo + R"(:v1.4.2"}])"));
  EXPECT_TRUE(patches("prod").empty());
  // The rollout was followed through a watch, as `kubectl rollout status` does.
  EXPECT_GE(fake.watch_requests(), 1);

  EXPECT_EQ(deploys(), std::vector<std::string>{"1|deploy|staging|v1.4.2|succeeded"});
  EXPECT_EQ(query(db(), "SELECT to_state FROM deploy_events WHERE deploy_id = 1 ORDER BY id"),
            (std::vector<std::string>{"requested", "deploying", "succeeded"}));
}

TEST_F(KubernetesE2e, StuckRolloutFailsAndPutsThePreviousVersionBack) {
  fake.set_broken_image(kRepo + ":v1.5.0");
  auto chat = start_chat();
  say(*chat, "deploy api v1.4.2 to staging", "Deploy #1 succeeded");
  std::string out = say(*chat, "deploy api v1.5.0 to staging", "Deploy #2 failed");
  EXPECT_TRUE(has(out, "exceeded its progress deadline")) << out;
  EXPECT_TRUE(has(out, "rolled back to v1.4.2, which is serving")) << out;
  EXPECT_TRUE(has(out, "staging keeps serving api v1.4.2")) << out;
  EXPECT_EQ(image(), kRepo + ":v1.4.2");
  EXPECT_TRUE(fake.rollout_complete("stg", "api"));

  out = say(*chat, "status api", "production");
  EXPECT_TRUE(has(out, "v1.4.2")) << out;
  EXPECT_FALSE(has(out, "v1.5.0 (")) << out;
  finish(*chat);

  // The deploy's patch, then the JSON patch that put the previous pod template back.
  const auto sent = patches();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[2].header("Content-Type"), "application/json-patch+json");
  EXPECT_EQ(deploys(), (std::vector<std::string>{"1|deploy|staging|v1.4.2|succeeded",
                                                 "2|deploy|staging|v1.5.0|failed"}));
  EXPECT_EQ(query(db(), "SELECT to_state FROM deploy_events WHERE deploy_id = 2 ORDER BY id"),
            (std::vector<std::string>{"requested", "deploying", "failed"}));
}

TEST_F(KubernetesE2e, RollbackRestoresThePreviousReplicaSetsTemplate) {
  auto chat = start_chat();
  say(*chat, "deploy api v1.4.2 to staging", "Deploy #1 succeeded");
  say(*chat, "deploy api v1.5.0 to staging", "Deploy #2 succeeded");
  ASSERT_EQ(image(), kRepo + ":v1.5.0");
  ASSERT_EQ(fake.replica_sets("stg").size(), 3u);

  std::string out = say(*chat, "rollback api in staging", "Rollback #3 succeeded");
  EXPECT_TRUE(has(out, "api v1.4.2 is live in staging")) << out;
  EXPECT_EQ(image(), kRepo + ":v1.4.2");
  EXPECT_TRUE(fake.rollout_complete("stg", "api"));

  out = say(*chat, "history api", "rollback");
  EXPECT_TRUE(has(out, "v1.5.0")) << out;
  out = say(*chat, "status api", "production");
  EXPECT_TRUE(has(out, "v1.4.2")) << out;
  finish(*chat);

  // As `kubectl rollout undo`: the ReplicaSet of v1.4.2 is reused (no new one) and becomes the
  // newest revision; the Deployment got that ReplicaSet's pod template by JSON patch.
  const auto sets = fake.replica_sets("stg");
  EXPECT_EQ(sets.size(), 3u);
  std::string revision_of_v142;
  for (const auto& rs : sets) {
    const auto& containers = rs.at("spec").at("template").at("spec").at("containers").as_array();
    if (text(containers.at(0).at("image")) == kRepo + ":v1.4.2") {
      revision_of_v142 = json::value_to<std::string>(
          rs.at("metadata").at("annotations").at("deployment.kubernetes.io/revision"));
    }
  }
  EXPECT_EQ(revision_of_v142, "4");
  const auto sent = patches();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[2].header("Content-Type"), "application/json-patch+json");
  EXPECT_TRUE(has(sent[2].body, "/spec/template")) << sent[2].body;

  EXPECT_EQ(deploys(), (std::vector<std::string>{"1|deploy|staging|v1.4.2|succeeded",
                                                 "2|deploy|staging|v1.5.0|succeeded",
                                                 "3|rollback|staging|v1.4.2|succeeded"}));
}

TEST_F(KubernetesE2e, SeveralContainersWithoutAConfiguredOneAreNamedAndNothingChanges) {
  fake.delete_deployment("stg", "api");
  fake.add_deployment("stg", "api",
                      {{"app", kRepo + ":v1.4.0"}, {"envoy", "envoyproxy/envoy:v1.30.1"}}, 2);
  write_kubernetes_config("");
  auto chat = start_chat();
  fake.http().clear_requests();
  std::string out = say(*chat, "deploy api v1.4.2 to staging", "Deploy #1 failed");
  EXPECT_TRUE(has(out, "deployment stg/api has 2 containers (app, envoy)")) << out;
  EXPECT_TRUE(has(out, "set the Kubernetes target's container")) << out;
  finish(*chat);
  EXPECT_TRUE(writes().empty()) << writes().front().method << " " << writes().front().target;
  EXPECT_EQ(image(), kRepo + ":v1.4.0");
  EXPECT_EQ(fake.image_of("stg", "api", "envoy"), "envoyproxy/envoy:v1.30.1");
  EXPECT_EQ(deploys(), std::vector<std::string>{"1|deploy|staging|v1.4.2|failed"});
}

TEST_F(KubernetesE2e, DigestVersionDeploysByDigest) {
  const std::string digest =
      "sha256:4b825dc642cb6eb9a060e54bf8d69288fbee4904a1c6d2a5e0b6c4f7e2d9a1b3";
  auto chat = start_chat();
  std::string out = say(*chat, "deploy api " + digest + " to staging", "Deploy #1 succeeded");
  EXPECT_EQ(image(), kRepo + "@" + digest);
  out = say(*chat, "status api", "production");
  // The digest is longer than the version column and still reads apart from what follows it.
  EXPECT_TRUE(has(out, digest + " deployed by alice")) << out;
  EXPECT_TRUE(has(out, "(" + kRepo + "@" + digest + ") in deployment stg/api")) << out;
  finish(*chat);
  EXPECT_EQ(deploys(), std::vector<std::string>{"1|deploy|staging|" + digest + "|succeeded"});
}

TEST_F(KubernetesE2e, RejectedCredentialsNameKubernetesAndTheStepAndTheTokenStaysSecret) {
  auto chat = start_chat({"--log-level", "debug"});
  fake.reject_credentials(true);
  std::string out = say(*chat, "deploy api v1.4.2 to staging", "Deploy #1 failed");
  EXPECT_TRUE(has(out, "Kubernetes: read deployment stg/api: credentials rejected (401)")) << out;
  EXPECT_TRUE(has(out, "expired token")) << out;
  finish(*chat);
  EXPECT_EQ(image(), kRepo + ":v1.4.0");
  EXPECT_TRUE(patches().empty());
  // The API server did get the token; nothing Shipmate wrote contains it.
  ASSERT_FALSE(fake.http().requests().empty());
  EXPECT_EQ(fake.http().requests().back().header("Authorization"),
            "Bearer " + fake.options().token);
  const std::string token = fake.options().token;
  EXPECT_FALSE(has(chat->output(), token)) << chat->output();
  const auto stored = all_stored_text(db());
  EXPECT_GT(stored.size(), 5u);  // deploys, events, audit records: there is something to search
  for (const auto& row : stored)
    EXPECT_FALSE(has(row, token)) << row;
  EXPECT_EQ(deploys(), std::vector<std::string>{"1|deploy|staging|v1.4.2|failed"});
}

// README: the Kubernetes client uses its kubeconfig's `proxy-url` (instead of HTTPS_PROXY), and
// credentials in a proxy URL are sent as Basic proxy authorization. Here HTTPS_PROXY names a
// proxy nobody runs, and the kubeconfig names one that requires credentials: every API call of
// a whole deploy goes through the kubeconfig's, with the header. Neither the password nor its
// Basic form appears in debug logs, chat or the database.
TEST_F(KubernetesE2e, KubeconfigProxyUrlWithCredentialsCarriesEveryCallAndNothingLogsThem) {
  const std::string password = "Pr0xy-s3cret-pw";
  const std::string basic = "Basic " + base64_encode("kube-proxy:" + password);
  boost::asio::io_context proxy_io;
  TestProxy proxy(proxy_io);
  proxy.require_authorization(basic);
  auto guard = boost::asio::make_work_guard(proxy_io);
  std::thread proxy_thread([&] { proxy_io.run(); });
  const std::string proxy_url =
      "http://kube-proxy:" + password + "@" + proxy.url().substr(std::string("http://").size());
  std::string kubeconfig = fake.kubeconfig();
  const std::string ca_line = "    certificate-authority: " + fake.ca_path() + "\n";
  kubeconfig.replace(kubeconfig.find(ca_line), ca_line.size(),
                     ca_line + "    proxy-url: " + proxy_url + "\n");
  write_file(dir.file("kubeconfig"), kubeconfig);
  const int nobody = free_port();
  auto chat = start_chat({"--log-level", "debug"},
                         {{"HTTPS_PROXY", "http://127.0.0.1:" + std::to_string(nobody)},
                          {"https_proxy", ""},
                          {"NO_PROXY", ""},
                          {"no_proxy", ""}});
  std::string out = say(*chat, "deploy api v1.4.2 to staging", "Deploy #1 succeeded");
  finish(*chat);
  guard.reset();
  proxy_io.stop();
  proxy_thread.join();

  EXPECT_EQ(image(), kRepo + ":v1.4.2");
  const auto tunnels = proxy.requests();
  ASSERT_FALSE(tunnels.empty());
  const std::string server = fake.base_url().substr(std::string("https://").size());
  for (const auto& request : tunnels)
    EXPECT_EQ(request, "CONNECT " + server);
  // Every connection the API calls used was a tunnel through this proxy (keep-alive reuses them).
  EXPECT_GE(fake.http().request_count(), tunnels.size());
  for (const auto& authorization : proxy.authorizations())
    EXPECT_EQ(authorization, basic);
  EXPECT_FALSE(has(chat->output(), password)) << chat->output();
  EXPECT_FALSE(has(chat->output(), basic.substr(6))) << chat->output();
  for (const auto& row : all_stored_text(db())) {
    EXPECT_FALSE(has(row, password)) << row;
    EXPECT_FALSE(has(row, basic.substr(6))) << row;
  }
}

TEST_F(KubernetesE2e, ServeRestartReadsTheLiveImageAndPatchesNothing) {
  {
    auto chat = start_chat();
    say(*chat, "deploy api v1.4.2 to staging", "Deploy #1 succeeded");
    finish(*chat);
  }
  // Someone changes the image behind Shipmate's back while it is down.
  fake.set_image("stg", "api", "app", kRepo + ":v1.4.3");
  ASSERT_TRUE(FakeKubernetes::wait_until([&] { return fake.rollout_complete("stg", "api"); }));
  fake.http().clear_requests();

  Subprocess serve({shipmate_binary(), "--log-level", "info", "serve", "--no-terminal", "--config",
                    dir.file("shipmate.yaml")});
  ASSERT_TRUE(serve.wait_for_output("shipmate ready", 20s)) << serve.output();
  // The restored version is the live one, not the one the database last recorded.
  EXPECT_TRUE(has(serve.output(), "v1.4.3")) << serve.output();
  serve.send_signal(SIGTERM);
  EXPECT_EQ(serve.wait(20s), 0) << serve.output();

  EXPECT_FALSE(
      fake.http().requests_to("GET", "/apis/apps/v1/namespaces/stg/deployments/api").empty());
  EXPECT_FALSE(
      fake.http().requests_to("GET", "/apis/apps/v1/namespaces/prod/deployments/api").empty());
  for (const auto& request : writes())
    ADD_FAILURE() << "restore wrote: " << request.method << " " << request.target;
  EXPECT_EQ(image(), kRepo + ":v1.4.3");
}

TEST_F(KubernetesE2e, CheckConfigRefusesAnExecPluginKubeconfig) {
  write_kubeconfig(
      "    exec:\n"
      "      apiVersion: client.authentication.k8s.io/v1beta1\n"
      "      command: gke-gcloud-auth-plugin\n"
      "      interactiveMode: IfAvailable\n");
  auto [code, output] = run_command({shipmate_binary(), "check-config", dir.file("shipmate.yaml")});
  EXPECT_EQ(code, 1) << output;
  EXPECT_TRUE(has(output, "exec")) << output;
  EXPECT_TRUE(has(output, "token")) << output;
  EXPECT_TRUE(fake.http().requests().empty());
}

// ---------------------------------------------------------------------------------------------
// Argo CD

FakeArgoCd::Options argo_options() {
  FakeArgoCd::Options options;
  options.tls = true;
  options.operation_duration = 30ms;
  options.health_delay = 30ms;
  return options;
}

class ArgoCdE2e : public ClusterSession {
 protected:
  ArgoCdE2e() : fake(argo_options()) {}

  void SetUp() override { write_argo_config("refuse"); }

  void add_app(bool automated = false) {
    FakeArgoCd::AppSetup app;
    app.name = "api-staging";
    app.target_revision = "v1";
    app.automated = automated;
    fake.add_application(app);
  }

  void write_argo_config(const std::string& auto_sync) {
    write_file(dir.file("argocd.token"), fake.options().token + "\n");
    write_config(
        "      kind: argocd\n"
        "      server: " +
            fake.base_url() +
            "\n"
            "      token: {secret: argocd}\n"
            "      applications: {staging: api-staging}\n"
            "      auto_sync: " +
            auto_sync +
            "\n"
            "      poll: 20ms\n"
            "      timeout: 20s\n"
            "      ca_file: " +
            fake.ca_path() + "\n",
        "secrets:\n  argocd: {file: argocd.token}\n", "[staging]");
  }

  std::vector<FakeRequest> syncs() {
    return fake.requests_to("POST", "/api/v1/applications/api-staging/sync");
  }
  std::vector<FakeRequest> rollbacks() {
    return fake.requests_to("POST", "/api/v1/applications/api-staging/rollback");
  }

  FakeArgoCd fake;
};

TEST_F(ArgoCdE2e, DeploySyncsToTheRevisionAndSucceeds) {
  add_app();
  auto chat = start_chat();
  std::string out = say(*chat, "deploy api v2 to staging", "Deploy #1 succeeded");
  EXPECT_TRUE(has(out, "api v2 is live in staging")) << out;
  out = say(*chat, "status api", "staging");
  EXPECT_TRUE(has(out, "v2")) << out;
  finish(*chat);

  EXPECT_EQ(fake.target_revision("api-staging"), "v2");
  const json::value app = fake.application("api-staging");
  EXPECT_EQ(text(app.at("status").at("sync").at("status")), "Synced");
  EXPECT_EQ(text(app.at("status").at("health").at("status")), "Healthy");
  EXPECT_EQ(text(app.at("status").at("sync").at("revision")), FakeArgoCd::resolve_revision("v2"));
  const auto sent = syncs();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(text(json::parse(sent[0].body).at("revision")), "v2");
  EXPECT_EQ(sent[0].header("Authorization"), "Bearer " + fake.options().token);
  EXPECT_TRUE(rollbacks().empty());
  EXPECT_EQ(fake.history_ids("api-staging").size(), 2u);
  EXPECT_FALSE(has(chat->output(), fake.options().token));
  const auto stored = all_stored_text(db());
  EXPECT_GT(stored.size(), 5u);
  for (const auto& row : stored)
    EXPECT_FALSE(has(row, fake.options().token)) << row;
  EXPECT_EQ(deploys(), std::vector<std::string>{"1|deploy|staging|v2|succeeded"});
}

TEST_F(ArgoCdE2e, DegradedHealthFailsAndRollsBackToThePreviousHistoryId) {
  add_app();
  fake.degrade_on("api-staging", "v3", "Deployment api exceeded its progress deadline");
  auto chat = start_chat();
  say(*chat, "deploy api v2 to staging", "Deploy #1 succeeded");
  const auto before = fake.history_ids("api-staging");
  ASSERT_EQ(before.size(), 2u);
  const std::string v2_id = std::to_string(before.back());

  std::string out = say(*chat, "deploy api v3 to staging", "Deploy #2 failed");
  EXPECT_TRUE(has(out, "Degraded")) << out;
  EXPECT_TRUE(has(out, "rolled back to history id " + v2_id + " (v2), which is Healthy")) << out;
  EXPECT_TRUE(has(out, "staging keeps serving api v2")) << out;
  out = say(*chat, "status api", "staging");
  EXPECT_TRUE(has(out, "v2")) << out;
  finish(*chat);

  const auto asked = rollbacks();
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(json::parse(asked[0].body).at("id").to_number<long long>(), before.back());
  // The spec points at what serves again, so Argo CD itself agrees.
  EXPECT_EQ(fake.target_revision("api-staging"), "v2");
  const json::value app = fake.application("api-staging");
  EXPECT_EQ(text(app.at("status").at("sync").at("revision")), FakeArgoCd::resolve_revision("v2"));
  EXPECT_EQ(text(app.at("status").at("health").at("status")), "Healthy");
  EXPECT_EQ(deploys(), (std::vector<std::string>{"1|deploy|staging|v2|succeeded",
                                                 "2|deploy|staging|v3|failed"}));
}

TEST_F(ArgoCdE2e, AppAlreadySyncingIsRefusedAndNothingIsHeld) {
  add_app();
  fake.start_foreign_operation("api-staging", "bob@example.com");
  auto chat = start_chat();
  std::string out = say(*chat, "deploy api v2 to staging", "Deploy #1 failed");
  EXPECT_TRUE(has(out, "Argo CD app api-staging is already syncing")) << out;
  EXPECT_TRUE(has(out, "bob@example.com")) << out;
  EXPECT_TRUE(syncs().empty());
  EXPECT_TRUE(rollbacks().empty());
  EXPECT_TRUE(fake.requests_to("PATCH", "/api/v1/applications").empty());
  EXPECT_TRUE(fake.requests_to("PUT", "/api/v1/applications").empty());
  EXPECT_TRUE(fake.requests_to("DELETE", "/api/v1/applications").empty());
  EXPECT_EQ(deploys(), std::vector<std::string>{"1|deploy|staging|v2|failed"});

  // Nothing was left running or held: once the other sync is done, the next deploy goes ahead.
  fake.finish_foreign_operation("api-staging");
  say(*chat, "deploy api v2 to staging", "Deploy #2 succeeded");
  finish(*chat);
  EXPECT_EQ(deploys(), (std::vector<std::string>{"1|deploy|staging|v2|failed",
                                                 "2|deploy|staging|v2|succeeded"}));
}

TEST_F(ArgoCdE2e, AutomatedSyncIsRefusedUnderTheRefusePolicy) {
  add_app(true);
  auto chat = start_chat();
  std::string out = say(*chat, "deploy api v2 to staging", "Deploy #1 failed");
  EXPECT_TRUE(has(out, "has automated sync on")) << out;
  EXPECT_TRUE(has(out, "auto_sync: suspend")) << out;
  finish(*chat);
  EXPECT_TRUE(syncs().empty());
  EXPECT_TRUE(fake.requests_to("PATCH", "/api/v1/applications").empty());
  EXPECT_TRUE(fake.requests_to("PUT", "/api/v1/applications").empty());
  EXPECT_TRUE(fake.automated("api-staging"));
  EXPECT_EQ(fake.target_revision("api-staging"), "v1");
  EXPECT_EQ(deploys(), std::vector<std::string>{"1|deploy|staging|v2|failed"});
}

TEST_F(ArgoCdE2e, AutomatedSyncIsSuspendedForTheDeployAndRestored) {
  add_app(true);
  write_argo_config("suspend");
  auto chat = start_chat();
  std::string out = say(*chat, "deploy api v2 to staging", "Deploy #1 succeeded");
  EXPECT_TRUE(has(out, "automated sync suspended")) << out;
  EXPECT_TRUE(has(out, "automated sync restored")) << out;
  finish(*chat);
  EXPECT_TRUE(fake.automated("api-staging"));
  EXPECT_EQ(fake.target_revision("api-staging"), "v2");
  EXPECT_EQ(syncs().size(), 1u);
  const json::value app = fake.application("api-staging");
  EXPECT_EQ(text(app.at("status").at("sync").at("status")), "Synced");
  EXPECT_EQ(text(app.at("status").at("sync").at("revision")), FakeArgoCd::resolve_revision("v2"));
  EXPECT_EQ(deploys(), std::vector<std::string>{"1|deploy|staging|v2|succeeded"});
}

TEST_F(ArgoCdE2e, RollbackGoesToTheHistoryIdOfThePreviousVersion) {
  add_app();
  auto chat = start_chat();
  say(*chat, "deploy api v2 to staging", "Deploy #1 succeeded");
  const long long v2_id = fake.history_ids("api-staging").back();
  say(*chat, "deploy api v3 to staging", "Deploy #2 succeeded");
  ASSERT_EQ(fake.history_ids("api-staging").size(), 3u);

  std::string out = say(*chat, "rollback api in staging", "Rollback #3 succeeded");
  EXPECT_TRUE(has(out, "api v2 is live in staging")) << out;
  out = say(*chat, "history api", "rollback");
  EXPECT_TRUE(has(out, "v3")) << out;
  finish(*chat);

  const auto asked = rollbacks();
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(json::parse(asked[0].body).at("id").to_number<long long>(), v2_id);
  EXPECT_EQ(fake.target_revision("api-staging"), "v2");
  const json::value app = fake.application("api-staging");
  EXPECT_EQ(text(app.at("status").at("sync").at("revision")), FakeArgoCd::resolve_revision("v2"));
  EXPECT_EQ(text(app.at("status").at("health").at("status")), "Healthy");
  const auto operations = fake.operations("api-staging");
  ASSERT_FALSE(operations.empty());
  EXPECT_EQ(operations.back().kind, "rollback");
  EXPECT_EQ(deploys(), (std::vector<std::string>{"1|deploy|staging|v2|succeeded",
                                                 "2|deploy|staging|v3|succeeded",
                                                 "3|rollback|staging|v2|succeeded"}));
}

}  // namespace
}  // namespace shipmate::testing
