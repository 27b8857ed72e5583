// The real kubectl against FakeKubernetes: if kubectl can discover, get and follow a rollout on
// the fake, the fake speaks the API the way a real API server does, and the KubernetesTarget tests
// that use it mean something.
//
// kubectl is taken from PATH; SHIPMATE_EXTRA_KUBECTL (colon-separated paths) adds more binaries,
// e.g. Debian's kubernetes-client 1.20 next to a current one. Without any kubectl the tests skip,
// and scripts/test fails on any skipped test. The official JavaScript client
// (@kubernetes/client-node in tests/node, pinned to run on Debian 12's Node 18) is run against the
// same fake (SHIPMATE_KUBE_NODE_DIR names another directory holding kube_client_check.mjs and its
// node_modules, e.g. with another client version).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/fake_kubernetes.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

std::vector<std::string> kubectl_binaries() {
  std::vector<std::string> out;
  auto add_if_executable = [&](const std::string& path) {
    if (!path.empty() && ::access(path.c_str(), X_OK) == 0)
      out.push_back(path);
  };
  if (const char* path = std::getenv("PATH")) {
    std::string_view rest(path);
    while (!rest.empty()) {
      auto colon = rest.find(':');
      std::string dir(rest.substr(0, colon));
      std::string candidate = (dir.empty() ? "." : dir) + "/kubectl";
      if (::access(candidate.c_str(), X_OK) == 0) {
        out.push_back(candidate);
        break;
      }
      if (colon == std::string_view::npos)
        break;
      rest.remove_prefix(colon + 1);
    }
  }
  if (const char* extra = std::getenv("SHIPMATE_EXTRA_KUBECTL")) {
    std::string_view rest(extra);
    while (!rest.empty()) {
      auto colon = rest.find(':');
      add_if_executable(std::string(rest.substr(0, colon)));
      if (colon == std::string_view::npos)
        break;
      rest.remove_prefix(colon + 1);
    }
  }
  return out;
}

// A kubeconfig for the fake with a bearer token and the fake's CA.
std::string write_kubeconfig(const TempDir& dir, const FakeKubernetes& fake) {
  const std::string path = dir.file("kubeconfig");
  write_file(path, fake.kubeconfig("", "default"));
  return path;
}

struct Kubectl {
  std::string binary;
  std::string kubeconfig;
  std::string home;

  std::vector<std::string> argv(std::vector<std::string> args) const {
    std::vector<std::string> out{binary, "--kubeconfig", kubeconfig};
    if (std::getenv("SHIPMATE_KUBECTL_VERBOSE") != nullptr)
      out.push_back("-v=8");
    out.insert(out.end(), args.begin(), args.end());
    return out;
  }
  std::map<std::string, std::string> env() const {
    // A private HOME keeps kubectl's discovery cache and config out of the user's.
    return {{"HOME", home}, {"KUBECONFIG", kubeconfig}, {"KUBECACHEDIR", home + "/cache"}};
  }
  // Exit code and stdout; stderr (kubectl's errors and -v logs) is merged only when asked.
  std::pair<int, std::string> run(std::vector<std::string> args, bool merge_stderr = false) const {
    Subprocess child(argv(std::move(args)), env(), "", merge_stderr);
    child.close_stdin();
    int code = child.wait(std::chrono::seconds(60));
    return {code, child.output()};
  }
};

TEST(KubectlCrossCheck, GetsDeploymentAsJsonAndTable) {
  const auto binaries = kubectl_binaries();
  if (binaries.empty())
    GTEST_SKIP() << "kubectl is not installed; the fake Kubernetes is not cross-checked";
  FakeKubernetes::Options options;
  options.tls = true;
  options.tick = 40ms;
  FakeKubernetes fake(options);
  fake.add_deployment("prod", "api", {{"app", "registry.example.com:5000/team/api:v1"}}, 3);

  for (const auto& binary : binaries) {
    SCOPED_TRACE(binary);
    TempDir dir;
    Kubectl kubectl{binary, write_kubeconfig(dir, fake), dir.path()};

    auto [code, output] = kubectl.run({"get", "deployment", "api", "-n", "prod", "-o", "json"});
    ASSERT_EQ(code, 0) << output;
    auto json_start = output.find('{');
    ASSERT_NE(json_start, std::string::npos) << output;
    boost::system::error_code ec;
    json::value parsed = json::parse(output.substr(json_start), ec);
    ASSERT_FALSE(ec) << output;
    EXPECT_EQ(parsed.at("kind").as_string(), "Deployment");
    EXPECT_EQ(parsed.at("metadata").at("name").as_string(), "api");
    EXPECT_EQ(parsed.at("spec").at("template").at("spec").at("containers").at(0).at("image"),
              fake.deployment("prod", "api")
                  .at("spec")
                  .at("template")
                  .at("spec")
                  .at("containers")
                  .at(0)
                  .at("image"));

    // The default output asks for a server-side Table.
    auto [table_code, table] = kubectl.run({"get", "deployment", "api", "-n", "prod"});
    EXPECT_EQ(table_code, 0) << table;
    EXPECT_NE(table.find("READY"), std::string::npos) << table;
    EXPECT_NE(table.find("3/3"), std::string::npos) << table;

    auto [missing_code, missing] = kubectl.run({"get", "deployment", "nope", "-n", "prod"}, true);
    EXPECT_NE(missing_code, 0);
    EXPECT_NE(missing.find("deployments.apps \"nope\" not found"), std::string::npos) << missing;
  }
}

// kubectl changes the image (strategic merge patch), follows the rollout the fake controller runs
// (list + watch), sees a stuck rollout fail, and undoes it (JSON patch from the old ReplicaSet).
TEST(KubectlCrossCheck, SetImageRolloutStatusAndUndo) {
  const auto binaries = kubectl_binaries();
  if (binaries.empty())
    GTEST_SKIP() << "kubectl is not installed; the fake Kubernetes is not cross-checked";
  for (const auto& binary : binaries) {
    SCOPED_TRACE(binary);
    FakeKubernetes::Options options;
    options.tls = true;
    options.tick = 30ms;
    options.progress_deadline = 800ms;
    FakeKubernetes fake(options);
    fake.add_deployment("prod", "api", {{"app", "registry.example.com:5000/team/api:v1"}}, 3);
    TempDir dir;
    Kubectl kubectl{binary, write_kubeconfig(dir, fake), dir.path()};

    auto [set_code, set_output] = kubectl.run({"set", "image", "deployment/api", "-n", "prod",
                                               "app=registry.example.com:5000/team/api:v2"},
                                              true);
    ASSERT_EQ(set_code, 0) << set_output;
    auto patches =
        fake.http().requests_to("PATCH", "/apis/apps/v1/namespaces/prod/deployments/api");
    ASSERT_FALSE(patches.empty());
    EXPECT_EQ(patches.back().header("Content-Type"), "application/strategic-merge-patch+json");

    auto [status_code, status] =
        kubectl.run({"rollout", "status", "deployment/api", "-n", "prod", "--timeout=20s"}, true);
    EXPECT_EQ(status_code, 0) << status;
    EXPECT_NE(status.find("successfully rolled out"), std::string::npos) << status;
    EXPECT_TRUE(fake.rollout_complete("prod", "api"));
    EXPECT_GE(fake.watch_requests(), 1);

    fake.set_broken_image("registry.example.com:5000/team/api:v3");
    auto [broken_code, broken_output] = kubectl.run({"set", "image", "deployment/api", "-n", "prod",
                                                     "app=registry.example.com:5000/team/api:v3"},
                                                    true);
    ASSERT_EQ(broken_code, 0) << broken_output;
    auto [stuck_code, stuck] =
        kubectl.run({"rollout", "status", "deployment/api", "-n", "prod", "--timeout=20s"}, true);
    EXPECT_EQ(stuck_code, 1) << stuck;
    EXPECT_NE(stuck.find("exceeded its progress deadline"), std::string::npos) << stuck;

    auto [undo_code, undo] = kubectl.run({"rollout", "undo", "deployment/api", "-n", "prod"}, true);
    ASSERT_EQ(undo_code, 0) << undo;
    EXPECT_NE(undo.find("rolled back"), std::string::npos) << undo;
    auto [after_code, after] =
        kubectl.run({"rollout", "status", "deployment/api", "-n", "prod", "--timeout=20s"}, true);
    EXPECT_EQ(after_code, 0) << after;
    EXPECT_EQ(fake.image_of("prod", "api", "app"), "registry.example.com:5000/team/api:v2");

    auto [history_code, history] =
        kubectl.run({"rollout", "history", "deployment/api", "-n", "prod"}, true);
    EXPECT_EQ(history_code, 0) << history;
    // v1 (1), v3 (3) and v2 again (4): the undo reused revision 2's ReplicaSet.
    EXPECT_NE(history.find("4 "), std::string::npos) << history;
  }
}

std::string trim_newline(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.pop_back();
  return text;
}

// Empty when the official Node client can run here; otherwise why not.
std::string kube_node_dir() {
  const char* override_dir = std::getenv("SHIPMATE_KUBE_NODE_DIR");
  return override_dir != nullptr && *override_dir != '\0' ? override_dir
                                                          : source_dir() + "/tests/node";
}

std::string node_client_unavailable() {
  const std::string node_dir = kube_node_dir();
  if (!std::filesystem::exists(node_dir + "/node_modules/@kubernetes/client-node"))
    return node_dir + "/node_modules is missing: run scripts/install-deps";
  auto [code, major] =
      run_command({"/usr/bin/env", "node", "-p", "process.versions.node.split('.')[0]"});
  if (code != 0)
    return "node is not installed";
  if (std::atoi(major.c_str()) < 18)
    return "node " + major + " is older than 18";
  // tests/node pins a client that loads on Debian 12's Node 18; loading it tells if one does not.
  auto [load_code, load_output] = run_command({"/usr/bin/env", "node", "--input-type=module", "-e",
                                               "await import('@kubernetes/client-node')"},
                                              "", {}, node_dir);
  if (load_code != 0) {
    std::string first_error;
    for (std::size_t start = 0; start < load_output.size();) {
      auto end = load_output.find('\n', start);
      std::string line = load_output.substr(start, end - start);
      if (line.find("Error") != std::string::npos) {
        first_error = line;
        break;
      }
      start = end == std::string::npos ? load_output.size() : end + 1;
    }
    return "@kubernetes/client-node does not load with node " + std::string(trim_newline(major)) +
           " (" + first_error + ")";
  }
  return {};
}

TEST(OfficialKubernetesClient, ReadsPatchesWatchesAndListsAgainstTheFake) {
  const std::string why_not = node_client_unavailable();
  if (!why_not.empty())
    GTEST_SKIP() << why_not;
  FakeKubernetes::Options options;
  options.tls = true;
  options.tick = 20ms;
  FakeKubernetes fake(options);
  fake.add_deployment("prod", "api", {{"app", "registry.example.com:5000/team/api:v1"}}, 2);
  TempDir dir;
  const std::string kubeconfig = write_kubeconfig(dir, fake);
  const std::string node_dir = kube_node_dir();
  auto [code, output] =
      run_command({"/usr/bin/env", "node", node_dir + "/kube_client_check.mjs", kubeconfig, "prod",
                   "api", "app", "registry.example.com:5000/team/api:v2"},
                  "", {{"HOME", dir.path()}}, node_dir);
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("READ image=registry.example.com:5000/team/api:v1 generation=1"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find("PATCHED image=registry.example.com:5000/team/api:v2 generation=2"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find("ROLLED_OUT revision=2"), std::string::npos) << output;
  EXPECT_NE(output.find("REPLICASETS count=2"), std::string::npos) << output;
  auto patches = fake.http().requests_to("PATCH", "/apis/apps/v1/namespaces/prod/deployments/api");
  ASSERT_EQ(patches.size(), 1u);
  EXPECT_EQ(patches[0].header("Content-Type"), "application/strategic-merge-patch+json");
  EXPECT_EQ(fake.image_of("prod", "api", "app"), "registry.example.com:5000/team/api:v2");
}

}  // namespace
}  // namespace shipmate::testing
