// The Kubernetes deploy target, its credentials and image references. Target tests drive the real
// KubernetesTarget (real HttpClient, real sockets) against FakeKubernetes, whose controller rolls
// Deployments out over time; the fake itself is cross-checked with kubectl in
// tests/e2e/kubectl_crosscheck_test.cpp.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/redact.h"
#include "common/timer.h"
#include "integrations/kubernetes/image_ref.h"
#include "integrations/kubernetes/kube_config.h"
#include "integrations/kubernetes/kubernetes_objects.h"
#include "integrations/kubernetes/kubernetes_target.h"
#include "integrations/net/http_client.h"
#include "tests/support/async_test.h"
#include "tests/support/fake_kubernetes.h"
#include "tests/support/non_json_answers.h"
#include "tests/support/test_support.h"

namespace shipmate::integrations {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace json = boost::json;
using testing::ClientCertificates;
using testing::FakeKubernetes;
using testing::FakeRequest;
using testing::TempDir;
using testing::write_file;

const std::string kRepo = "registry.example.com:5000/team/api";
const std::string kDigest =
    "sha256:4b825dc642cb6eb9a060e54bf8d69288fbee4904abcdef0123456789abcdef01";

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

// ---------------------------------------------------------------------------------------------
// rollout_state: kubectl's rollout-status decision, one Deployment at a time

TEST(RolloutState, EveryRow) {
  struct Row {
    const char* name;
    const char* deployment;  // JSON
    bool done;
    bool failed;
    const char* message;
  };
  const Row rows[] = {
      {"spec change not yet observed",
       R"({"metadata":{"name":"api","generation":3},"spec":{"replicas":2},
           "status":{"observedGeneration":2,"replicas":2,"updatedReplicas":2,"availableReplicas":2}})",
       false, false, "Waiting for deployment spec update to be observed..."},
      {"progress deadline exceeded",
       R"({"metadata":{"name":"api","generation":2},"spec":{"replicas":2},
           "status":{"observedGeneration":2,"conditions":[{"type":"Available","reason":"x"},
           {"type":"Progressing","reason":"ProgressDeadlineExceeded"}]}})",
       false, true, "deployment \"api\" exceeded its progress deadline"},
      {"new replicas still being updated",
       R"({"metadata":{"name":"api","generation":2},"spec":{"replicas":3},
           "status":{"observedGeneration":2,"replicas":3,"updatedReplicas":1,"availableReplicas":3}})",
       false, false,
       "Waiting for deployment \"api\" rollout to finish: 1 out of 3 new replicas have been "
       "updated..."},
      {"old replicas pending termination",
       R"({"metadata":{"name":"api","generation":2},"spec":{"replicas":2},
           "status":{"observedGeneration":2,"replicas":3,"updatedReplicas":2,"availableReplicas":2}})",
       false, false,
       "Waiting for deployment \"api\" rollout to finish: 1 old replicas are pending "
       "termination..."},
      {"updated replicas not yet available",
       R"({"metadata":{"name":"api","generation":2},"spec":{"replicas":2},
           "status":{"observedGeneration":2,"replicas":2,"updatedReplicas":2,"availableReplicas":1}})",
       false, false,
       "Waiting for deployment \"api\" rollout to finish: 1 of 2 updated replicas are "
       "available..."},
      {"rolled out",
       R"({"metadata":{"name":"api","generation":2},"spec":{"replicas":2},
           "status":{"observedGeneration":2,"replicas":2,"updatedReplicas":2,"availableReplicas":2}})",
       true, false, "deployment \"api\" successfully rolled out"},
      {"scaled to zero is rolled out",
       R"({"metadata":{"name":"api","generation":2},"spec":{"replicas":0},
           "status":{"observedGeneration":2}})",
       true, false, "deployment \"api\" successfully rolled out"},
      {"no status at all: generation 0 counts as observed",
       R"({"metadata":{"name":"api"},"spec":{"replicas":1}})", false, false,
       "Waiting for deployment \"api\" rollout to finish: 0 out of 1 new replicas have been "
       "updated..."},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    const kube::RolloutState state = kube::rollout_state(json::parse(row.deployment).as_object());
    EXPECT_EQ(state.done, row.done);
    EXPECT_EQ(state.failed, row.failed);
    EXPECT_EQ(state.message, row.message);
  }
}

// ---------------------------------------------------------------------------------------------
// Image references

TEST(ImageRef, PortInRegistryIsNotATag) {
  auto ref = parse_image_ref("localhost:5000/app:tag");
  ASSERT_TRUE(ref) << ref.error().message;
  EXPECT_EQ(ref->registry, "localhost:5000");
  EXPECT_EQ(ref->repository, "app");
  EXPECT_EQ(ref->tag, "tag");
  EXPECT_EQ(ref->digest, "");

  auto untagged = parse_image_ref("localhost:5000/app");
  ASSERT_TRUE(untagged) << untagged.error().message;
  EXPECT_EQ(untagged->registry, "localhost:5000");
  EXPECT_EQ(untagged->tag, "");
  EXPECT_EQ(untagged->version(), "latest");

  auto nested = parse_image_ref("registry.example.com:5000/team/api:v1.4.2");
  ASSERT_TRUE(nested) << nested.error().message;
  EXPECT_EQ(nested->registry, "registry.example.com:5000");
  EXPECT_EQ(nested->repository, "team/api");
  EXPECT_EQ(nested->version(), "v1.4.2");
  EXPECT_EQ(nested->str(), "registry.example.com:5000/team/api:v1.4.2");
}

TEST(ImageRef, DockerHubNamesHaveNoRegistry) {
  auto ref = parse_image_ref("library/nginx:1.25-alpine");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->registry, "");
  EXPECT_EQ(ref->repository, "library/nginx");
  EXPECT_EQ(ref->tag, "1.25-alpine");
  auto bare = parse_image_ref("nginx");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->name(), "nginx");
  EXPECT_EQ(bare->version(), "latest");
}

TEST(ImageRef, Digests) {
  auto by_digest = parse_image_ref(kRepo + "@" + kDigest);
  ASSERT_TRUE(by_digest) << by_digest.error().message;
  EXPECT_EQ(by_digest->tag, "");
  EXPECT_EQ(by_digest->digest, kDigest);
  EXPECT_EQ(by_digest->version(), kDigest);

  auto both = parse_image_ref("localhost:5000/app:v2@" + kDigest);
  ASSERT_TRUE(both) << both.error().message;
  EXPECT_EQ(both->registry, "localhost:5000");
  EXPECT_EQ(both->tag, "v2");
  EXPECT_EQ(both->digest, kDigest);
  EXPECT_EQ(both->version(), "v2");
  EXPECT_EQ(both->str(), "localhost:5000/app:v2@" + kDigest);
}

TEST(ImageRef, RejectsInvalidReferences) {
  for (const std::string& bad : std::vector<std::string>{
           "", "Team/App:v1", "app:-v1", "app:.v1", "app:", "app:v1 2", "app@sha256:abc",
           "app@sha256:" + std::string(64, 'G'), "app@md5:" + std::string(32, 'a'), "a//b", "-app",
           "app-", "reg:99999x/app", "app@" + kDigest.substr(0, 70) + "A"}) {
    EXPECT_FALSE(parse_image_ref(bad)) << bad;
  }
  auto tag_error = parse_image_ref("app:-v1");
  ASSERT_FALSE(tag_error);
  EXPECT_TRUE(contains(tag_error.error().message, "invalid tag \"-v1\""))
      << tag_error.error().message;
  auto digest_error = parse_image_ref("app@sha256:abc");
  ASSERT_FALSE(digest_error);
  EXPECT_TRUE(contains(digest_error.error().message, "invalid digest"));
}

TEST(ImageRef, TagAndDigestSyntax) {
  EXPECT_TRUE(is_valid_tag("v1.4.2"));
  EXPECT_TRUE(is_valid_tag("_build-7"));
  EXPECT_TRUE(is_valid_tag(std::string(128, 'a')));
  EXPECT_FALSE(is_valid_tag(std::string(129, 'a')));
  EXPECT_FALSE(is_valid_tag(".hidden"));
  EXPECT_FALSE(is_valid_tag("-dash"));
  EXPECT_FALSE(is_valid_tag("a/b"));
  EXPECT_TRUE(is_valid_digest(kDigest));
  EXPECT_TRUE(is_valid_digest("sha512:" + std::string(128, 'f')));
  EXPECT_FALSE(is_valid_digest("sha256:" + std::string(63, 'a')));
  EXPECT_FALSE(is_valid_digest("sha256:" + std::string(64, 'A')));
  EXPECT_FALSE(is_valid_digest(std::string(64, 'a')));
}

TEST(ImageRef, ImageForVersion) {
  auto tagged = image_for_version(kRepo, "v1.4.2");
  ASSERT_TRUE(tagged) << tagged.error().message;
  EXPECT_EQ(*tagged, "registry.example.com:5000/team/api:v1.4.2");
  auto digested = image_for_version(kRepo, kDigest);
  ASSERT_TRUE(digested) << digested.error().message;
  EXPECT_EQ(*digested, "registry.example.com:5000/team/api@" + kDigest);
  auto bad_tag = image_for_version(kRepo, "v1 beta");
  ASSERT_FALSE(bad_tag);
  EXPECT_TRUE(contains(bad_tag.error().message, "not a valid image tag"));
  EXPECT_FALSE(image_for_version(kRepo, "sha256:1234"));
  auto with_tag = image_for_version(kRepo + ":v1", "v2");
  ASSERT_FALSE(with_tag);
  EXPECT_TRUE(contains(with_tag.error().message, "must not carry a tag"));
}

// ---------------------------------------------------------------------------------------------
// Credentials

std::string b64(const std::string& text) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < text.size(); i += 3) {
    unsigned n =
        (unsigned char)text[i] << 16 | (unsigned char)text[i + 1] << 8 | (unsigned char)text[i + 2];
    for (int shift : {18, 12, 6, 0})
      out += kAlphabet[(n >> shift) & 63];
  }
  if (i < text.size()) {
    unsigned n = (unsigned char)text[i] << 16;
    if (i + 1 < text.size())
      n |= (unsigned char)text[i + 1] << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < text.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

TEST(KubeConfig, DecodesBase64) {
  EXPECT_EQ(decode_base64("aGVsbG8="), "hello");
  EXPECT_EQ(decode_base64("aGVsbG8"), "hello");
  EXPECT_EQ(decode_base64("aGVs\nbG8="), "hello");
  EXPECT_EQ(decode_base64(b64(std::string("\x00\xff\x10", 3))), std::string("\x00\xff\x10", 3));
  EXPECT_FALSE(decode_base64("a*b="));
  EXPECT_FALSE(decode_base64("aGVsbG8=x"));
  EXPECT_FALSE(decode_base64("a"));
}

TEST(KubeConfig, TokenUserWithRelativeCaFileAndContextNamespace) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("certs"));
  write_file(dir.file("certs/ca.pem"), "CA PEM");
  write_file(dir.file("config"), R"(apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: main
  cluster:
    server: https://k8s.example.com:6443/
    certificate-authority: certs/ca.pem
users:
- name: deployer
  user:
    token: kube-token-abc123
contexts:
- name: prod
  context:
    cluster: main
    user: deployer
    namespace: payments
- name: other
  context:
    cluster: main
    user: deployer
)");
  auto credentials = load_kubeconfig(dir.file("config"));
  ASSERT_TRUE(credentials) << credentials.error().message;
  EXPECT_EQ(credentials->server, "https://k8s.example.com:6443");
  EXPECT_EQ(credentials->ca_file, dir.file("certs/ca.pem"));
  EXPECT_EQ(credentials->token, "kube-token-abc123");
  EXPECT_EQ(credentials->default_namespace, "payments");
  EXPECT_FALSE(credentials->insecure_skip_tls_verify);
  EXPECT_TRUE(contains(credentials->source, "context prod"));
  EXPECT_TRUE(contains_secret("kube-token-abc123"));

  auto other = load_kubeconfig(dir.file("config"), std::string("other"));
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_EQ(other->default_namespace, "default");

  auto missing = load_kubeconfig(dir.file("config"), std::string("staging"));
  ASSERT_FALSE(missing);
  EXPECT_TRUE(contains(missing.error().message, "no context \"staging\" (contexts: prod, other)"))
      << missing.error().message;
}

TEST(KubeConfig, DataFieldsBecomePrivateFiles) {
  TempDir dir;
  write_file(dir.file("config"),
             "clusters:\n"
             "- name: c\n"
             "  cluster:\n"
             "    server: https://10.1.2.3:6443\n"
             "    certificate-authority-data: " +
                 b64("THE CA") +
                 "\n"
                 "    insecure-skip-tls-verify: false\n"
                 "users:\n"
                 "- name: u\n"
                 "  user:\n"
                 "    client-certificate-data: " +
                 b64("THE CERT") +
                 "\n"
                 "    client-key-data: " +
                 b64("THE KEY") +
                 "\n"
                 "contexts:\n"
                 "- name: x\n"
                 "  context: {cluster: c, user: u}\n"
                 "current-context: x\n");
  std::string key_path;
  {
    auto credentials = load_kubeconfig(dir.file("config"));
    ASSERT_TRUE(credentials) << credentials.error().message;
    EXPECT_EQ(testing::read_file(credentials->ca_file), "THE CA");
    EXPECT_EQ(testing::read_file(credentials->client_cert_file), "THE CERT");
    EXPECT_EQ(testing::read_file(credentials->client_key_file), "THE KEY");
    EXPECT_TRUE(credentials->token.empty());
    key_path = credentials->client_key_file;
    struct stat info {};
    ASSERT_EQ(::stat(key_path.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);
    ASSERT_EQ(::stat(std::filesystem::path(key_path).parent_path().c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0700u);
    KubeCredentials copy = *credentials;  // copies share the files
    credentials = make_error("dropped");
    EXPECT_TRUE(std::filesystem::exists(copy.client_key_file));
  }
  EXPECT_FALSE(std::filesystem::exists(key_path)) << "private files outlived the credentials";
}

TEST(KubeConfig, ClientCertificateFilesTokenFileAndInsecure) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("pki"));
  write_file(dir.file("pki/client.crt"), "CERT");
  write_file(dir.file("pki/client.key"), "KEY");
  write_file(dir.file("token"), "  file-token-xyz789\n");
  write_file(dir.file("config"), R"(clusters:
- name: c
  cluster:
    server: http://127.0.0.1:8080
    insecure-skip-tls-verify: true
users:
- name: cert
  user:
    client-certificate: pki/client.crt
    client-key: pki/client.key
- name: file
  user:
    tokenFile: token
contexts:
- name: cert
  context: {cluster: c, user: cert}
- name: file
  context: {cluster: c, user: file}
current-context: cert
)");
  auto cert = load_kubeconfig(dir.file("config"));
  ASSERT_TRUE(cert) << cert.error().message;
  EXPECT_TRUE(cert->insecure_skip_tls_verify);
  EXPECT_EQ(cert->client_cert_file, dir.file("pki/client.crt"));
  EXPECT_EQ(cert->client_key_file, dir.file("pki/client.key"));
  auto file = load_kubeconfig(dir.file("config"), std::string("file"));
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_EQ(file->token_file, dir.file("token"));
  auto token = current_token(*file);
  ASSERT_TRUE(token);
  EXPECT_EQ(*token, "file-token-xyz789");
  EXPECT_TRUE(contains_secret("file-token-xyz789"));
}

TEST(KubeConfig, ClearErrors) {
  TempDir dir;
  auto write_and_load = [&](const std::string& users, const std::string& extra_cluster = "") {
    write_file(dir.file("config"),
               "clusters:\n"
               "- name: c\n"
               "  cluster:\n"
               "    server: https://k8s:6443\n" +
                   extra_cluster + "users:\n" + users +
                   "contexts:\n"
                   "- name: x\n"
                   "  context: {cluster: c, user: u}\n"
                   "current-context: x\n");
    return load_kubeconfig(dir.file("config"));
  };
  auto exec = write_and_load(
      "- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
      "      command: gke-gcloud-auth-plugin\n");
  ASSERT_FALSE(exec);
  EXPECT_TRUE(contains(exec.error().message, "exec plugin (gke-gcloud-auth-plugin)"))
      << exec.error().message;
  EXPECT_TRUE(contains(exec.error().message, "token")) << exec.error().message;

  auto provider = write_and_load("- name: u\n  user:\n    auth-provider:\n      name: oidc\n");
  ASSERT_FALSE(provider);
  EXPECT_TRUE(contains(provider.error().message, "auth provider \"oidc\""))
      << provider.error().message;

  auto no_user = write_and_load("- name: someone-else\n  user:\n    token: secret-token-q1w2e3\n");
  ASSERT_FALSE(no_user);
  EXPECT_TRUE(contains(no_user.error().message,
                       "names user \"u\", which is not defined (users: someone-else)"))
      << no_user.error().message;
  EXPECT_FALSE(contains(no_user.error().message, "secret-token-q1w2e3"));

  auto unreadable = write_and_load("- name: u\n  user:\n    token: t0k3n-value\n",
                                   "    certificate-authority: missing/ca.pem\n");
  ASSERT_FALSE(unreadable);
  EXPECT_TRUE(contains(unreadable.error().message, dir.file("missing/ca.pem") + ": cannot read"))
      << unreadable.error().message;
  EXPECT_FALSE(contains(unreadable.error().message, "t0k3n-value"));

  auto half = write_and_load("- name: u\n  user:\n    client-certificate-data: " + b64("C") + "\n");
  ASSERT_FALSE(half);
  EXPECT_TRUE(contains(half.error().message, "certificate but no key")) << half.error().message;

  write_file(dir.file("broken"), "clusters: [\n  - name: c\n");
  auto yaml = load_kubeconfig(dir.file("broken"));
  ASSERT_FALSE(yaml);
  EXPECT_TRUE(contains(yaml.error().message, "invalid YAML at line")) << yaml.error().message;

  auto absent = load_kubeconfig(dir.file("nope"));
  ASSERT_FALSE(absent);
  EXPECT_TRUE(contains(absent.error().message, "nope: cannot read")) << absent.error().message;

  write_file(dir.file("nocluster"),
             "contexts:\n- name: x\n  context: {cluster: gone}\ncurrent-context: x\n");
  auto cluster = load_kubeconfig(dir.file("nocluster"));
  ASSERT_FALSE(cluster);
  EXPECT_TRUE(contains(cluster.error().message, "names cluster \"gone\", which is not defined"))
      << cluster.error().message;
}

TEST(KubeConfig, InCluster) {
  TempDir dir;
  write_file(dir.file("token"), "sa-token-5e6f7a8b\n");
  write_file(dir.file("ca.crt"), "CA");
  write_file(dir.file("namespace"), "shipping\n");
  InClusterSource source{dir.path(), "10.96.0.1", "443"};
  auto credentials = load_in_cluster(source);
  ASSERT_TRUE(credentials) << credentials.error().message;
  EXPECT_EQ(credentials->server, "https://10.96.0.1:443");
  EXPECT_EQ(credentials->ca_file, dir.file("ca.crt"));
  EXPECT_EQ(credentials->token_file, dir.file("token"));
  EXPECT_EQ(credentials->default_namespace, "shipping");
  EXPECT_EQ(*current_token(*credentials), "sa-token-5e6f7a8b");

  auto ipv6 = load_in_cluster(InClusterSource{dir.path(), "fd00::1", "6443"});
  ASSERT_TRUE(ipv6);
  EXPECT_EQ(ipv6->server, "https://[fd00::1]:6443");

  auto outside = load_in_cluster(InClusterSource{dir.path(), "", ""});
  ASSERT_FALSE(outside);
  EXPECT_TRUE(contains(outside.error().message, "KUBERNETES_SERVICE_HOST"));

  TempDir empty;
  auto no_token = load_in_cluster(InClusterSource{empty.path(), "10.96.0.1", "443"});
  ASSERT_FALSE(no_token);
  EXPECT_TRUE(contains(no_token.error().message, empty.file("token") + ": cannot read"))
      << no_token.error().message;
}

// ---------------------------------------------------------------------------------------------
// The target against the fake API server

KubeCredentials credentials_for(const FakeKubernetes& fake) {
  KubeCredentials credentials;
  credentials.server = fake.base_url();
  credentials.ca_file = fake.ca_path();
  credentials.token = fake.options().token;
  credentials.source = "the test's credentials";
  return credentials;
}

KubernetesTargetConfig test_config() {
  KubernetesTargetConfig config;
  config.service = "api";
  config.namespaces = {{"staging", "staging"}, {"prod", "prod"}};
  config.deployment = "api";
  config.image_repository = kRepo;
  config.rollout_timeout = 30s;  // a guard: rollouts here take tens of ms of the fake's ticks
  config.poll_interval = 50ms;
  config.watch_window = 1s;
  config.request_timeout = 20s;
  config.retry.max_attempts = 3;
  config.retry.first_backoff = 10ms;
  config.retry.max_backoff = 40ms;
  return config;
}

FakeKubernetes::Options fake_options() {
  FakeKubernetes::Options options;
  options.tick = 15ms;
  options.progress_deadline = 400ms;
  return options;
}

std::unique_ptr<KubernetesTarget> make_target(asio::io_context& ioc, const FakeKubernetes& fake,
                                              KubernetesTargetConfig config = test_config()) {
  return std::make_unique<KubernetesTarget>(ioc.get_executor(), std::move(config),
                                            credentials_for(fake));
}

// run_async_test owns the io_context; targets are built inside the coroutine on that context.
template <class Body>
void with_target(const FakeKubernetes& fake, KubernetesTargetConfig config, Body body,
                 std::chrono::milliseconds limit = 20s) {
  testing::run_async_test(
      [&](asio::io_context& ioc) -> asio::awaitable<void> {
        auto target = make_target(ioc, fake, config);
        co_await body(*target);
      },
      limit);
}

// Like with_target, but the target waits on ManualTimers: while `body` runs, every sleep the
// target starts is completed at once (manual time moves on by `step`), so its back-offs take no
// real time. Requests still go to the fake over real sockets. Returns the manual time that passed.
template <class Body>
std::chrono::milliseconds with_manual_target(const FakeKubernetes& fake,
                                             KubernetesTargetConfig config, Body body,
                                             std::chrono::milliseconds step) {
  std::chrono::milliseconds passed{0};
  testing::run_async_test(
      [&](asio::io_context& ioc) -> asio::awaitable<void> {
        auto timers = std::make_shared<ManualTimers>(ioc.get_executor());
        auto target = std::make_unique<KubernetesTarget>(ioc.get_executor(), config,
                                                         credentials_for(fake), timers);
        bool finished = false;
        asio::co_spawn(
            ioc,
            [&]() -> asio::awaitable<void> {
              co_await body(*target);
              finished = true;
            },
            asio::detached);
        while (!finished) {
          if (timers->sleeping() > 0)
            timers->advance(step);
          co_await asio::post(ioc, asio::use_awaitable);  // let the socket work run
        }
        passed = timers->now();
      },
      20s);
  return passed;
}

json::value parse(const std::string& text) {
  return json::parse(text);
}

std::vector<FakeRequest> patches(FakeKubernetes& fake, const std::string& ns = "prod") {
  return fake.http().requests_to("PATCH", "/apis/apps/v1/namespaces/" + ns + "/deployments/api");
}

TEST(KubernetesTarget, ApplyPatchesTheImageAndFollowsTheRollout) {
  FakeKubernetes fake(fake_options());
  fake.add_deployment("prod", "api", {{"app", kRepo + ":v1"}}, 3);
  ApplyOutcome outcome;
  std::vector<std::string> progress;
  std::optional<std::string> current;
  std::string description;
  with_target(fake, test_config(), [&](KubernetesTarget& target) -> asio::awaitable<void> {
    ProgressFn report = [&](const std::string& line) { progress.push_back(line); };
    std::string env = "prod";
    std::string version = "v2";
    ProgressFn progress = report;
    outcome = co_await target.apply(env, version, progress);
    current = target.current_version("prod");
    description = target.describe("prod");
  });
  std::string lines;
  for (const auto& line : progress)
    lines += line + "\n";
  ASSERT_TRUE(outcome.ok) << outcome.message << "\n" << lines;
  EXPECT_TRUE(contains(outcome.message, "v2 rolled out in prod")) << outcome.message;
  EXPECT_EQ(outcome.endpoint, "deployment prod/api");
  EXPECT_EQ(fake.image_of("prod", "api", "app"), kRepo + ":v2");
  EXPECT_TRUE(fake.rollout_complete("prod", "api"));
  EXPECT_EQ(current, "v2");
  EXPECT_TRUE(contains(description, "v2 (" + kRepo +
                                        ":v2) in deployment prod/api revision 2, "
                                        "3/3 available"))
      << description;
  EXPECT_TRUE(contains(lines, "Waiting for deployment \"api\" rollout to finish")) << lines;

  auto sent = patches(fake);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].header("Content-Type"), "application/strategic-merge-patch+json");
  EXPECT_EQ(sent[0].header("Authorization"), "Bearer " + fake.options().token);
  json::value body = parse(sent[0].body);
  EXPECT_EQ(body.at("spec").at("template").at("spec").at("containers"),
            parse(R"([{"name":"app","image":")" + kRepo + R"(:v2"}])"));
  EXPECT_EQ(body.at("spec").at("template").at("metadata").at("annotations").at("shipmate/version"),
            "v2");
  EXPECT_EQ(body.at("metadata").at("annotations").at("kubernetes.io/change-cause"),
            "shipmate: deploy api v2 to prod");
  EXPECT_TRUE(body.at("metadata").at("resourceVersion").is_string());
  // The change cause reached the new ReplicaSet, as `kubectl rollout history` shows it.
  bool recorded = false;
  for (const auto& rs : fake.replica_sets("prod")) {
    const auto& annotations = rs.at("metadata").at("annotations").as_object();
    if (annotations.contains("kubernetes.io/change-cause"))
      recorded = annotations.at("kubernetes.io/change-cause") == "shipmate: deploy api v2 to prod";
  }
  EXPECT_TRUE(recorded);

  auto watches = fake.http().requests_to("GET", "/apis/apps/v1/namespaces/prod/deployments");
  bool watched = false;
  for (const auto& request : watches) {
    if (request.query.count("watch") && request.query.at("watch") == "true") {
      watched = true;
      EXPECT_EQ(request.query.at("fieldSelector"), "metadata.name=api");
      EXPECT_FALSE(request.query.at("resourceVersion").empty());
      EXPECT_EQ(request.query.at("timeoutSeconds"), "1");
    }
  }
  EXPECT_TRUE(watched);
}

TEST(KubernetesTarget, DigestVersionDeploysByDigest) {
  FakeKubernetes fake(fake_options());
  fake.add_deployment("prod", "api", {{"app", kRepo + ":v1"}}, 2);
  ApplyOutcome outcome;
  std::optional<std::string> current;
  with_target(fake, test_config(), [&](KubernetesTarget& target) -> asio::awaitable<void> {
    std::string env = "prod";
    std::string version = kDigest;
    ProgressFn progress;
    outcome = co_await target.apply(env, version, progress);
    current = target.current_version("prod");
  });
  ASSERT_TRUE(outcome.ok) << outcome.message;
  EXPECT_EQ(fake.image_of("prod", "api", "app"), kRepo + "@" + kDigest);
  EXPECT_EQ(current, kDigest);
}

TEST(KubernetesTarget, SeveralContainersNeedTheContainerName) {
  FakeKubernetes fake(fake_options());
  fake.add_deployment("prod", "api",
                      {{"app", kRepo + ":v1"}, {"envoy", "envoyproxy/envoy:v1.30.1"}}, 2);
  ApplyOutcome unnamed, named, wrong;
  with_target(fake, test_config(), [&](KubernetesTarget& target) -> asio::awaitable<void> {
    std::string env = "prod";
    std::string version = "v2";
    ProgressFn progress;
    unnamed = co_await target.apply(env, version, progress);
  });
  EXPECT_FALSE(unnamed.ok);
  EXPECT_TRUE(contains(unnamed.message, "deployment prod/api has 2 containers (app, envoy)"))
      << unnamed.message;
  EXPECT_TRUE(patches(fake).empty());

  KubernetesTargetConfig config = test_config();
  config.container = "sidecar";
  with_target(fake, config, [&](KubernetesTarget& target) -> asio::awaitable<void> {
    std::string env = "prod";
    std::string version = "v2";
    ProgressFn progress;
    wrong = co_await target.apply(env, version, progress);
  });
  EXPECT_FALSE(wrong.ok);
  EXPECT_TRUE(contains(wrong.message, "no container \"sidecar\" (its containers: app, envoy)"))
      << wrong.message;

  config.container = "app";
  with_target(fake, config, [&](KubernetesTarget& target) -> asio::awaitable<void> {
    std::string env = "prod";
    std::string version = "v2";
    ProgressFn progress;
    named = co_await target.apply(env, version, progress);
  });
  ASSERT_TRUE(named.ok) << named.message;
  EXPECT_EQ(fake.image_of("prod", "api", "app"), kRepo + ":v2");
  EXPECT_EQ(fake.image_of("prod", "api", "envoy"), "envoyproxy/envoy:v1.30.1");
  auto sent = patches(fake);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(
      parse(sent[0].body).at("spec").at("template").at("spec").at("containers").as_array().size(),
      1u);
}

TEST(KubernetesTarget, StuckRolloutFailsAndPutsThePreviousVersionBack) {
  FakeKubernetes fake(fake_options());
  fake.add_deployment("prod", "api", {{"app", kRepo + ":v1"}}, 2);
  fake.set_broken_image(kRepo + ":v3");
  ApplyOutcome outcome;
  std::vector<std::string> progress;
  std::optional<std::string> current;
  with_target(fake, test_config(), [&](KubernetesTarget& target) -> asio::awaitable<void> {
    ProgressFn report = [&](const std::string& line) { progress.push_back(line); };
    std::string env = "prod";
    std::string version = "v3";
    ProgressFn progress = report;
    outcome = co_await target.apply(env, version, progress);
    current = target.current_version("prod");
  });
  EXPECT_FALSE(outcome.ok);
  EXPECT_TRUE(contains(outcome.message,
                       "v3 failed to roll out in prod: deployment \"api\" "
                       "exceeded its progress deadline"))
      << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "rolled back to v1, which is serving")) << outcome.message;
  EXPECT_EQ(fake.image_of("prod", "api", "app"), kRepo + ":v1");
  EXPECT_TRUE(fake.rollout_complete("prod", "api"));
  EXPECT_EQ(current, "v1");
  auto sent = patches(fake);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].header("Content-Type"), "application/json-patch+json");
  bool announced = false;
  for (const auto& line : progress)
    announced = announced || contains(line, "putting v1 back");
  EXPECT_TRUE(announced);
}

TEST(KubernetesTarget, ConflictsAreRetriedOnAFreshRead) {
  FakeKubernetes fake(fake_options());
  fake.add_deployment("prod", "api", {{"app", kRepo + ":v1"}}, 2);
  fake.conflict_next_writes(2);
  ApplyOutcome outcome;
  std::vector<std::string> progress;
  // The back-offs before each retry (20 ms, then 40 ms) pass in manual time.
  const auto waited = with_manual_target(
      fake, test_config(),
      [&](KubernetesTarget& target) -> asio::awaitable<void> {
        ProgressFn report = [&](const std::string& line) { progress.push_back(line); };
        std::string env = "prod";
        std::string version = "v2";
        ProgressFn progress = report;
        outcome = co_await target.apply(env, version, progress);
      },
      20ms);
  ASSERT_TRUE(outcome.ok) << outcome.message;
  EXPECT_GE(waited, 60ms);
  EXPECT_EQ(patches(fake).size(), 3u);
  EXPECT_GE(fake.http().requests_to("GET", "/apis/apps/v1/namespaces/prod/deployments/api").size(),
            3u);
  EXPECT_EQ(fake.image_of("prod", "api", "app"), kRepo + ":v2");
  int conflicts = 0;
  for (const auto& line : progress)
    conflicts += contains(line, "409 Conflict") ? 1 : 0;
  EXPECT_EQ(conflicts, 2);
}

TEST(KubernetesTarget, EndlessConflictsGiveUpWithoutChanges) {
  FakeKubernetes fake(fake_options());
  fake.add_deployment("prod", "api", {{"app", kRepo + ":v1"}}, 2);
  fake.conflict_next_writes(100);
  KubernetesTargetConfig config = test_config();
  config.conflict_retries = 2;
  ApplyOutcome outcome;
  const auto waited = with_manual_target(
      fake, config,
      [&](KubernetesTarget& target) -> asio::awaitable<void> {
        std::string env = "prod";
        std::string version = "v2";
        ProgressFn progress;
        outcome = co_await target.apply(env, version, progress);
      },
      20ms);
  EXPECT_EQ(waited, 60ms);  // 20 ms before the second try, 40 ms before the third
  EXPECT_FALSE(outcome.ok);
  EXPECT_TRUE(contains(outcome.message, "Kubernetes: update deployment prod/api: conflict (409)"))
      << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "the object has been modified")) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "gave up after 3 tries")) << outcome.message;
  EXPECT_EQ(patches(fake).size(), 3u);
  EXPECT_EQ(fake.image_of("prod", "api", "app"), kRepo + ":v1");
}

TEST(KubernetesTarget, ExpiredWatchesLeadToAFreshList) {
  for (auto how :
       {FakeKubernetes::WatchExpiry::http_gone, FakeKubernetes::WatchExpiry::error_event}) {
    SCOPED_TRACE(how == FakeKubernetes::WatchExpiry::http_gone ? "410 Gone" : "ERROR event");
    FakeKubernetes fake(fake_options());
    fake.add_deployment("prod", "api", {{"app", kRepo + ":v1"}}, 2);
    // The rollout cannot finish before the first (expiring) watch has been asked for.
    fake.pause_controller(true);
    fake.expire_next_watches(1, how);
    std::thread resume([&] {
      FakeKubernetes::wait_until([&] { return fake.watch_requests() >= 1; }, 30s);
      fake.pause_controller(false);
    });
    ApplyOutcome outcome;
    with_target(fake, test_config(), [&](KubernetesTarget& target) -> asio::awaitable<void> {
      std::string env = "prod";
      std::string version = "v2";
      ProgressFn none;
      outcome = co_await target.apply(env, version, none);
    });
    resume.join();
    ASSERT_TRUE(outcome.ok) << outcome.message;
    EXPECT_GE(fake.watch_requests(), 2);
    EXPECT_GE(fake.list_requests("deployments"), 2);
    EXPECT_EQ(fake.image_of("prod", "api", "app"), kRepo + ":v2");
  }
}

TEST(KubernetesTarget, CompactedHistoryExpiresTheWatchAndIsRelisted) {
  FakeKubernetes fake(fake_options());
  fake.add_deployment("prod", "api", {{"app", kRepo + ":v1"}}, 2);
  fake.pause_controller(true);
  ApplyOutcome outcome;
  with_target(fake, test_config(), [&](KubernetesTarget& target) -> asio::awaitable<void> {
    std::string env = "prod";
    std::string version = "v2";
    ProgressFn progress = [&](const std::string& line) {
      // After the first list: let the controller write, then forget the history, so the watch
      // from the list's resourceVersion is too old.
      if (contains(line, "spec update to be observed") && fake.watch_requests() == 0) {
        fake.pause_controller(false);
        FakeKubernetes::wait_until([&] {
          auto status = fake.deployment("prod", "api").at("status").as_object();
          return status.contains("observedGeneration") && status.at("observedGeneration") == 2;
        });
        fake.compact();
      }
    };
    outcome = co_await target.apply(env, version, progress);
  });
  ASSERT_TRUE(outcome.ok) << outcome.message;
  EXPECT_GE(fake.watch_requests(), 1);
  EXPECT_GE(fake.list_requests("deployments"), 2);
}

TEST(KubernetesTarget, RefusedWatchesFallBackToPolling) {
  FakeKubernetes fake(fake_options());
  fake.add_deployment("prod", "api", {{"app", kRepo + ":v1"}}, 2);
  fake.refuse_watches(true);
  ApplyOutcome outcome;
  std::vector<std::string> progress;
  with_target(fake, test_config(), [&](KubernetesTarget& target) -> asio::awaitable<void> {
    ProgressFn report = [&](const std::string& line) { progress.push_back(line); };
    std::string env = "prod";
    std::string version = "v2";
    ProgressFn progress = report;
    outcome = co_await target.apply(env, version, progress);
  });
  ASSERT_TRUE(outcome.ok) << outcome.message;
  EXPECT_EQ(fake.watch_requests(), 1);
  EXPECT_GE(fake.list_requests("deployments"), 2);
  bool polling = false;
  for (const auto& line : progress)
    polling = polling || contains(line, "polling every 50 ms");
  EXPECT_TRUE(polling);
}

TEST(KubernetesTarget, RejectedCredentialsSaySo) {
  FakeKubernetes fake(fake_options());
  fake.add_deployment("prod", "api", {{"app", kRepo + ":v1"}}, 2);
  fake.reject_credentials(true);
  ApplyOutcome outcome;
  with_target(fake, test_config(), [&](KubernetesTarget& target) -> asio::awaitable<void> {
    std::string env = "prod";
    std::string version = "v2";
    ProgressFn progress;
    outcome = co_await target.apply(env, version, progress);
  });
  EXPECT_FALSE(outcome.ok);
  EXPECT_TRUE(contains(outcome.message,
                       "Kubernetes: read deployment prod/api: credentials rejected (401): "
                       "Unauthorized"))
      << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "expired")) << outcome.message;
  EXPECT_FALSE(contains(outcome.message, fake.options().token));
}

// Bad input loses nothing: whatever a proxy or a broken API server sends instead of JSON, the
// deploy fails with an error that names Kubernetes and the step, and restore() says the same.
TEST(KubernetesTarget, NonJsonAnswersAreClearErrorsNamingKubernetes) {
  for (const auto& answer : testing::non_json_answers()) {
    SCOPED_TRACE(answer.name);
    auto server = testing::server_answering(answer.response);
    KubernetesTargetConfig config = test_config();
    config.retry.max_attempts = 2;
    KubeCredentials credentials;
    credentials.server = server->base_url();
    credentials.token = "test-token";
    credentials.source = "the test's credentials";
    ApplyOutcome outcome;
    std::vector<ApplyOutcome> restored;
    testing::run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
      KubernetesTarget target(ioc.get_executor(), config, credentials);
      std::string env = "prod";
      std::string version = "v2";
      ProgressFn progress;
      outcome = co_await target.apply(env, version, progress);
      restored = co_await target.restore();
    });
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(testing::non_json_problem(outcome.message, "Kubernetes: read deployment prod/api"),
              "")
        << outcome.message;
    for (const auto& one : restored) {
      EXPECT_FALSE(one.ok);
      EXPECT_EQ(testing::non_json_problem(one.message, "Kubernetes"), "") << one.message;
    }
    EXPECT_TRUE(server->requests_to("PATCH", "/").empty()) << "nothing is changed on bad reads";
  }
}

TEST(KubernetesTarget, ServerErrorsAreRetried) {
  FakeKubernetes fake(fake_options());
  fake.add_deployment("prod", "api", {{"app", kRepo + ":v1"}}, 2);
  fake.fail_next_requests(2, 500, "/apis/apps/v1/namespaces/prod/deployments/api");
  ApplyOutcome outcome;
  with_target(fake, test_config(), [&](KubernetesTarget& target) -> asio::awaitable<void> {
    std::string env = "prod";
    std::string version = "v2";
    ProgressFn progress;
    outcome = co_await target.apply(env, version, progress);
  });
  ASSERT_TRUE(outcome.ok) << outcome.message;
  EXPECT_EQ(fake.image_of("prod", "api", "app"), kRepo + ":v2");
}

TEST(KubernetesTarget, MissingDeploymentIsNamed) {
  FakeKubernetes fake(fake_options());
  ApplyOutcome outcome;
  with_target(fake, test_config(), [&](KubernetesTarget& target) -> asio::awaitable<void> {
    std::string env = "prod";
    std::string version = "v2";
    ProgressFn progress;
    outcome = co_await target.apply(env, version, progress);
  });
  EXPECT_FALSE(outcome.ok);
  EXPECT_TRUE(contains(outcome.message,
                       "Kubernetes: read deployment prod/api: not found (404): "
                       "deployments.apps \"api\" not found"))
      << outcome.message;
}

TEST(KubernetesTarget, RollBackRestoresTheOldReplicaSetTemplate) {
  FakeKubernetes fake(fake_options());
  fake.add_deployment("prod", "api", {{"app", kRepo + ":v1"}}, 2);
  ApplyOutcome deployed, rolled_back;
  std::optional<std::string> current;
  with_target(fake, test_config(), [&](KubernetesTarget& target) -> asio::awaitable<void> {
    std::string env = "prod";
    std::string version = "v2";
    ProgressFn none;
    deployed = co_await target.apply(env, version, none);
    version = "v1";
    rolled_back = co_await target.roll_back(env, version, none);
    current = target.current_version("prod");
  });
  ASSERT_TRUE(deployed.ok) << deployed.message;
  ASSERT_TRUE(rolled_back.ok) << rolled_back.message;
  EXPECT_TRUE(contains(rolled_back.message, "rolled back to v1 in prod")) << rolled_back.message;
  EXPECT_TRUE(contains(rolled_back.message, "revision 3")) << rolled_back.message;
  EXPECT_EQ(current, "v1");
  EXPECT_EQ(fake.image_of("prod", "api", "app"), kRepo + ":v1");
  // The old ReplicaSet came back (revision 3); no third one was made.
  EXPECT_EQ(fake.replica_sets("prod").size(), 2u);

  auto sent = patches(fake);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].header("Content-Type"), "application/json-patch+json");
  json::value body = parse(sent[1].body);
  const json::value* template_value = nullptr;
  for (const auto& operation : body.as_array()) {
    if (operation.at("path") == "/spec/template")
      template_value = &operation.at("value");
  }
  ASSERT_NE(template_value, nullptr) << sent[1].body;
  EXPECT_EQ(template_value->at("spec").at("containers").at(0).at("image"),
            json::value(kRepo + ":v1"));
  EXPECT_FALSE(
      template_value->at("metadata").at("labels").as_object().contains("pod-template-hash"));
  EXPECT_EQ(template_value->at("metadata").at("labels").at("app"), "api");
  auto listed = fake.http().requests_to("GET", "/apis/apps/v1/namespaces/prod/replicasets");
  ASSERT_FALSE(listed.empty());
  EXPECT_EQ(listed.back().query.at("labelSelector"), "app=api");
}

TEST(KubernetesTarget, RollBackWithoutAVersionTakesThePreviousRevision) {
  FakeKubernetes fake(fake_options());
  fake.add_deployment("prod", "api", {{"app", kRepo + ":v1"}}, 2);
  for (const std::string version : {"v2", "v3"}) {
    fake.set_image("prod", "api", "app", kRepo + ":" + version);
    ASSERT_TRUE(FakeKubernetes::wait_until([&] {
      return fake.image_of("prod", "api", "app") == kRepo + ":" + version &&
             fake.rollout_complete("prod", "api");
    }));
  }
  ApplyOutcome rolled_back;
  with_target(fake, test_config(), [&](KubernetesTarget& target) -> asio::awaitable<void> {
    std::string env = "prod";
    std::string previous;
    ProgressFn none;
    rolled_back = co_await target.roll_back(env, previous, none);
  });
  ASSERT_TRUE(rolled_back.ok) << rolled_back.message;
  EXPECT_TRUE(contains(rolled_back.message, "rolled back to v2 in prod")) << rolled_back.message;
  EXPECT_EQ(fake.image_of("prod", "api", "app"), kRepo + ":v2");
}

TEST(KubernetesTarget, RollBackToAVersionWithNoReplicaSetSetsTheImage) {
  FakeKubernetes fake(fake_options());
  fake.add_deployment("prod", "api", {{"app", kRepo + ":v1"}}, 2);
  ApplyOutcome rolled_back;
  std::vector<std::string> progress;
  with_target(fake, test_config(), [&](KubernetesTarget& target) -> asio::awaitable<void> {
    ProgressFn report = [&](const std::string& line) { progress.push_back(line); };
    std::string env = "prod";
    std::string version = "v0.9";
    ProgressFn progress = report;
    rolled_back = co_await target.roll_back(env, version, progress);
  });
  ASSERT_TRUE(rolled_back.ok) << rolled_back.message;
  EXPECT_EQ(fake.image_of("prod", "api", "app"), kRepo + ":v0.9");
  auto sent = patches(fake);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].header("Content-Type"), "application/strategic-merge-patch+json");
  ASSERT_FALSE(progress.empty());
  EXPECT_TRUE(contains(progress.front(), "no ReplicaSet of deployment prod/api runs v0.9"));
}

TEST(KubernetesTarget, RestoreReadsLiveStateAndChangesNothing) {
  FakeKubernetes fake(fake_options());
  fake.add_deployment("prod", "api", {{"app", kRepo + ":v1.4.2"}}, 3);
  fake.add_deployment("staging", "api", {{"app", kRepo + "@" + kDigest}}, 1);
  KubernetesTargetConfig config = test_config();
  config.namespaces["dev"] = "dev";  // no deployment there
  std::vector<ApplyOutcome> outcomes;
  std::optional<std::string> prod, staging, dev;
  std::string described;
  with_target(fake, config, [&](KubernetesTarget& target) -> asio::awaitable<void> {
    EXPECT_FALSE(target.current_version("prod"));
    outcomes = co_await target.restore();
    prod = target.current_version("prod");
    staging = target.current_version("staging");
    dev = target.current_version("dev");
    described = target.describe("prod");
  });
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_EQ(prod, "v1.4.2");
  EXPECT_EQ(staging, kDigest);
  EXPECT_FALSE(dev);
  EXPECT_TRUE(contains(described, "3/3 available")) << described;
  int ok = 0;
  for (const auto& outcome : outcomes) {
    if (outcome.ok) {
      ++ok;
    } else {
      EXPECT_TRUE(contains(outcome.message, "dev: Kubernetes: read deployment dev/api: not found"))
          << outcome.message;
    }
  }
  EXPECT_EQ(ok, 2);
  EXPECT_TRUE(fake.http().requests_to("PATCH", "/").empty());
  EXPECT_TRUE(fake.http().requests_to("PUT", "/").empty());
}

TEST(KubernetesTarget, ValidateChecksVersionSyntaxAndEnvironment) {
  FakeKubernetes fake(fake_options());
  with_target(fake, test_config(), [&](KubernetesTarget& target) -> asio::awaitable<void> {
    EXPECT_TRUE(target.validate("prod", "v1.4.2"));
    EXPECT_TRUE(target.validate("prod", kDigest));
    auto bad = target.validate("prod", "v1.4.2 final");
    EXPECT_FALSE(bad);
    auto digest = target.validate("prod", "sha256:abcd");
    EXPECT_FALSE(digest);
    auto env = target.validate("qa", "v1");
    EXPECT_FALSE(env);
    if (!env) {
      EXPECT_TRUE(contains(env.error().message, "no namespace for environment qa"));
    }
    EXPECT_TRUE(target.available_versions().empty());
    EXPECT_EQ(target.namespace_for("prod"), "prod");
    co_return;
  });
  EXPECT_EQ(fake.http().request_count(), 0u);
}

TEST(KubernetesTarget, ConfigValidation) {
  KubernetesTargetConfig config = test_config();
  config.credentials.kubeconfig = "/etc/kube/config";
  EXPECT_TRUE(validate_kubernetes_config(config));
  config.deployment = "API_Server";
  config.image_repository = kRepo + ":v1";
  config.namespaces["qa"] = "Bad_NS";
  auto status = validate_kubernetes_config(config);
  ASSERT_FALSE(status);
  EXPECT_TRUE(contains(status.error().message, "deployment \"API_Server\""));
  EXPECT_TRUE(contains(status.error().message, "must not carry a tag"));
  EXPECT_TRUE(contains(status.error().message, "namespace \"Bad_NS\""));
}

TEST(KubernetesTarget, TlsVerificationUsesTheClusterCa) {
  auto options = fake_options();
  options.tls = true;
  FakeKubernetes fake(options);
  fake.add_deployment("prod", "api", {{"app", kRepo + ":v1"}}, 2);
  ApplyOutcome outcome;
  std::vector<ApplyOutcome> untrusted, insecure;
  with_target(fake, test_config(), [&](KubernetesTarget& target) -> asio::awaitable<void> {
    std::string env = "prod";
    std::string version = "v2";
    ProgressFn progress;
    outcome = co_await target.apply(env, version, progress);
  });
  ASSERT_TRUE(outcome.ok) << outcome.message;
  EXPECT_EQ(fake.image_of("prod", "api", "app"), kRepo + ":v2");

  testing::run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    KubeCredentials credentials = credentials_for(fake);
    credentials.ca_file.clear();
    KubernetesTargetConfig config = test_config();
    config.retry.max_attempts = 1;
    KubernetesTarget no_ca(ioc.get_executor(), config, credentials);
    untrusted = co_await no_ca.restore();
    credentials.insecure_skip_tls_verify = true;
    KubernetesTarget skip(ioc.get_executor(), config, credentials);
    insecure = co_await skip.restore();
  });
  ASSERT_FALSE(untrusted.empty());
  EXPECT_FALSE(untrusted[0].ok);
  EXPECT_TRUE(contains(untrusted[0].message, "certificate verify failed")) << untrusted[0].message;
  ASSERT_FALSE(insecure.empty());
  bool any_ok = false;
  for (const auto& o : insecure)
    any_ok = any_ok || o.ok;
  EXPECT_TRUE(any_ok);
}

TEST(KubernetesTarget, ClientCertificateAuthenticatesOverMutualTls) {
  TempDir dir;
  ClientCertificates client = testing::make_client_certificates(dir.path());
  auto options = fake_options();
  options.tls = true;
  options.client_ca_file = client.ca_path;
  FakeKubernetes fake(options);
  fake.add_deployment("prod", "api", {{"app", kRepo + ":v7"}}, 1);
  // The kubeconfig carries the client certificate and key inline, as kind and kubeadm write them.
  write_file(dir.file("config"),
             "clusters:\n"
             "- name: fake\n"
             "  cluster:\n"
             "    server: " +
                 fake.base_url() +
                 "\n"
                 "    certificate-authority-data: " +
                 b64(testing::read_file(fake.ca_path())) +
                 "\n"
                 "users:\n"
                 "- name: admin\n"
                 "  user:\n"
                 "    client-certificate-data: " +
                 b64(client.cert_pem) +
                 "\n"
                 "    client-key-data: " +
                 b64(client.key_pem) +
                 "\n"
                 "contexts:\n"
                 "- name: fake\n"
                 "  context: {cluster: fake, user: admin, namespace: prod}\n"
                 "current-context: fake\n");
  KubernetesTargetConfig config = test_config();
  config.credentials.kubeconfig = dir.file("config");
  config.namespaces = {{"prod", ""}};  // the context's namespace
  config.retry.max_attempts = 1;
  std::vector<ApplyOutcome> with_cert, without_cert;
  std::optional<std::string> version;
  testing::run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    auto created = KubernetesTarget::create(ioc.get_executor(), config);
    EXPECT_TRUE(created) << (created ? "" : created.error().message);
    if (!created)
      co_return;
    with_cert = co_await (*created)->restore();
    version = (*created)->current_version("prod");

    auto credentials = load_kubeconfig(dir.file("config"));
    EXPECT_TRUE(credentials);
    if (!credentials)
      co_return;
    credentials->client_cert_file.clear();
    credentials->client_key_file.clear();
    KubernetesTarget anonymous(ioc.get_executor(), config, *credentials);
    without_cert = co_await anonymous.restore();
  });
  ASSERT_EQ(with_cert.size(), 1u);
  EXPECT_TRUE(with_cert[0].ok) << with_cert[0].message;
  EXPECT_EQ(version, "v7");
  ASSERT_EQ(without_cert.size(), 1u);
  EXPECT_FALSE(without_cert[0].ok);
  EXPECT_TRUE(contains(without_cert[0].message, "certificate required")) << without_cert[0].message;
  EXPECT_FALSE(fake.http().requests().empty());
  for (const auto& request : fake.http().requests())
    EXPECT_EQ(request.header("Authorization"), "");
}

TEST(KubernetesTarget, UnloadableClientCertificateIsNamed) {
  TempDir dir;
  write_file(dir.file("cert.pem"), "not a certificate");
  write_file(dir.file("key.pem"), "not a key");
  std::string error;
  testing::run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    net::HttpClientOptions options;
    options.client_cert_file = dir.file("cert.pem");
    options.client_key_file = dir.file("key.pem");
    net::HttpClient client(ioc.get_executor(), options);
    net::HttpRequest request;
    request.url = "https://127.0.0.1:1/";
    request.timeout = 2s;
    auto response = co_await client.send(std::move(request));
    EXPECT_FALSE(response);
    if (!response)
      error = response.error().message;
  });
  EXPECT_TRUE(contains(error, "client certificate " + dir.file("cert.pem") + " does not load"))
      << error;
}

// ---------------------------------------------------------------------------------------------
// The fake's own rules (what kubectl and the target rely on)

struct RawResult {
  int status = 0;
  std::string body;
};

RawResult raw(const FakeKubernetes& fake, std::string method, std::string path, std::string body,
              std::string content_type, bool with_token = true) {
  RawResult result;
  testing::run_async_test([&](asio::io_context& ioc) -> asio::awaitable<void> {
    net::HttpClient client(ioc.get_executor());
    net::HttpRequest request;
    request.method = method;
    request.url = fake.base_url() + path;
    request.body = body;
    if (!content_type.empty())
      request.headers.emplace_back("Content-Type", content_type);
    if (with_token)
      request.headers.emplace_back("Authorization", "Bearer " + fake.options().token);
    auto response = co_await client.send(std::move(request));
    EXPECT_TRUE(response);
    if (response) {
      result.status = response->status;
      result.body = response->body;
    }
  });
  return result;
}

TEST(FakeKubernetes, StatusObjectsForErrors) {
  FakeKubernetes fake(fake_options());
  fake.add_deployment("prod", "api", {{"app", kRepo + ":v1"}}, 1);
  const std::string path = "/apis/apps/v1/namespaces/prod/deployments/api";

  auto anonymous = raw(fake, "GET", path, "", "", false);
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(parse(anonymous.body).at("reason"), "Unauthorized");

  auto stale = raw(fake, "PATCH", path, R"({"metadata":{"resourceVersion":"1"}})",
                   "application/merge-patch+json");
  EXPECT_EQ(stale.status, 409);
  json::value conflict = parse(stale.body);
  EXPECT_EQ(conflict.at("kind"), "Status");
  EXPECT_EQ(conflict.at("reason"), "Conflict");
  EXPECT_EQ(conflict.at("code"), 409);

  auto apply_patch = raw(fake, "PATCH", path, "{}", "application/apply-patch+yaml");
  EXPECT_EQ(apply_patch.status, 415);

  auto invalid = raw(fake, "PATCH", path,
                     R"({"spec":{"template":{"spec":{"containers":[{"name":"app","image":""}]}}}})",
                     "application/strategic-merge-patch+json");
  EXPECT_EQ(invalid.status, 422);
  EXPECT_EQ(parse(invalid.body).at("reason"), "Invalid");

  // A merge patch replaces lists whole; a strategic merge patch merges containers by name.
  auto generation_before = fake.deployment("prod", "api").at("metadata").at("generation");
  auto merged =
      raw(fake, "PATCH", path,
          R"({"spec":{"template":{"spec":{"containers":[{"name":"app","image":"x:2"}]}}}})",
          "application/strategic-merge-patch+json");
  EXPECT_EQ(merged.status, 200);
  json::value after = parse(merged.body);
  const auto& container = after.at("spec").at("template").at("spec").at("containers").at(0);
  EXPECT_EQ(container.at("image"), "x:2");
  EXPECT_TRUE(container.as_object().contains("ports")) << "strategic merge kept other fields";
  EXPECT_EQ(after.at("metadata").at("generation").as_int64(), generation_before.as_int64() + 1);

  auto missing = raw(fake, "GET", "/apis/apps/v1/namespaces/prod/deployments/nope", "", "");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(parse(missing.body).at("message"), "deployments.apps \"nope\" not found");
}

TEST(FakeKubernetes, SelectorsAndWatchListInitialEvents) {
  FakeKubernetes fake(fake_options());
  fake.add_deployment("prod", "api", {{"app", kRepo + ":v1"}}, 1);
  fake.add_deployment("prod", "worker", {{"app", kRepo + ":v1"}}, 1);
  auto hash = [&] {
    return std::string(fake.replica_sets("prod")
                           .front()
                           .at("metadata")
                           .at("labels")
                           .at("pod-template-hash")
                           .as_string());
  };
  const std::string selector = "app in (api,web),pod-template-hash=" + hash();
  auto listed =
      raw(fake, "GET",
          "/apis/apps/v1/namespaces/prod/replicasets?labelSelector=" + net::form_encode(selector),
          "", "");
  ASSERT_EQ(listed.status, 200) << listed.body;
  json::value list = parse(listed.body);
  EXPECT_EQ(list.at("kind"), "ReplicaSetList");
  std::size_t matched = list.at("items").as_array().size();
  EXPECT_EQ(matched, 1u) << listed.body;

  // client-go 1.35's WatchList: initial ADDED events, then a BOOKMARK marking their end.
  auto watched = raw(fake, "GET",
                     "/apis/apps/v1/namespaces/prod/deployments?watch=true&sendInitialEvents=true"
                     "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1"
                     "&fieldSelector=metadata.name%3Dworker",
                     "", "");
  ASSERT_EQ(watched.status, 200);
  std::vector<json::value> events;
  std::size_t start = 0;
  while (start < watched.body.size()) {
    auto newline = watched.body.find('\n', start);
    events.push_back(parse(watched.body.substr(start, newline - start)));
    start = newline + 1;
  }
  ASSERT_EQ(events.size(), 2u) << watched.body;
  EXPECT_EQ(events[0].at("type"), "ADDED");
  EXPECT_EQ(events[0].at("object").at("metadata").at("name"), "worker");
  EXPECT_EQ(events[1].at("type"), "BOOKMARK");
  EXPECT_EQ(events[1].at("object").at("metadata").at("annotations").at("k8s.io/initial-events-end"),
            "true");
}

}  // namespace
}  // namespace shipmate::integrations
