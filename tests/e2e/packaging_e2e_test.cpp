// Packaging: `cmake --install` into a temporary prefix and DESTDIR, the installed systemd unit
// checked by `systemd-analyze verify` (and its hardening read back), the Dockerfile's steps, and
// the Kubernetes manifests in deploy/kubernetes: their structure read with yaml-cpp and the real
// kubectl's `apply -k --dry-run=client` against FakeKubernetes (discovery only; kubectl needs a
// server to map kinds even in client dry-run). A missing systemd-analyze or kubectl fails the
// test: these checks must not be skipped.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/fake_kubernetes.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

namespace fs = std::filesystem;

std::string build_dir() {
  return fs::path(shipmate_binary()).parent_path().string();
}

bool executable(const std::string& path) {
  return ::access(path.c_str(), X_OK) == 0;
}

std::string find_program(const std::string& name) {
  for (const char* dir : {"/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin"}) {
    const std::string candidate = std::string(dir) + "/" + name;
    if (executable(candidate))
      return candidate;
  }
  return "";
}

// `cmake --install build --prefix PREFIX` with DESTDIR (empty: none); returns the output.
std::string install(const std::string& prefix, const std::string& destdir) {
  std::map<std::string, std::string> env;
  if (!destdir.empty())
    env["DESTDIR"] = destdir;
  const std::string cmake = find_program("cmake");
  EXPECT_FALSE(cmake.empty()) << "cmake is not installed";
  auto [code, output] = run_command({cmake, "--install", build_dir(), "--prefix", prefix}, "", env);
  EXPECT_EQ(code, 0) << output;
  return output;
}

// key -> values of a unit file (a key may repeat); comments and section headers dropped.
std::multimap<std::string, std::string> unit_settings(const std::string& text) {
  std::multimap<std::string, std::string> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#' || line[0] == '[')
      continue;
    const auto eq = line.find('=');
    if (eq != std::string::npos)
      out.emplace(line.substr(0, eq), line.substr(eq + 1));
  }
  return out;
}

std::string one(const std::multimap<std::string, std::string>& settings, const std::string& key) {
  const auto it = settings.find(key);
  return it == settings.end() ? "<missing>" : it->second;
}

TEST(Packaging, InstallIntoDestdirPutsEachFileInItsPlace) {
  TempDir root;
  const std::string output = install("/usr", root.path());
  const std::string usr = root.path() + "/usr";

  EXPECT_TRUE(executable(usr + "/bin/shipmate")) << output;
  for (const char* file :
       {"/share/doc/shipmate/README.md", "/share/doc/shipmate/examples/shipmate.yaml",
        "/share/doc/shipmate/examples/integrations.yaml",
        "/share/doc/shipmate/examples/slack-app-manifest.yaml",
        "/share/doc/shipmate/examples/hello/releases/v1/server.py",
        "/lib/systemd/system/shipmate.service"})
    EXPECT_TRUE(fs::is_regular_file(usr + file)) << file << "\n" << output;
  // Every shipped runbook, by name.
  std::set<std::string> shipped, installed;
  for (const auto& entry : fs::directory_iterator(source_dir() + "/runbooks/shipped"))
    shipped.insert(entry.path().filename().string());
  for (const auto& entry : fs::directory_iterator(usr + "/share/shipmate/runbooks"))
    installed.insert(entry.path().filename().string());
  EXPECT_FALSE(shipped.empty());
  EXPECT_EQ(installed, shipped);
  // Nothing outside the prefix (DESTDIR honoured everywhere, the unit included).
  for (const auto& entry : fs::directory_iterator(root.path()))
    EXPECT_EQ(entry.path().filename(), "usr");

  // The installed unit runs the installed binary; the installed files work.
  const auto unit = unit_settings(read_file(usr + "/lib/systemd/system/shipmate.service"));
  EXPECT_TRUE(one(unit, "ExecStart").starts_with("/usr/bin/shipmate serve --no-terminal"))
      << one(unit, "ExecStart");
  auto [version_code, version] = run_command({usr + "/bin/shipmate", "--version"});
  EXPECT_EQ(version_code, 0) << version;
  EXPECT_NE(version.find("shipmate"), std::string::npos) << version;
  auto [check_code, checked] = run_command(
      {usr + "/bin/shipmate", "check-config", usr + "/share/doc/shipmate/examples/shipmate.yaml"});
  EXPECT_EQ(check_code, 0) << checked;
}

TEST(Packaging, InstalledUnitIsHardenedAndPassesSystemdAnalyzeVerify) {
  const std::string analyze = find_program("systemd-analyze");
  ASSERT_FALSE(analyze.empty()) << "systemd-analyze is missing (Debian: systemd); the unit must "
                                   "be verified, not skipped";
  TempDir prefix;  // a real prefix (no DESTDIR), so ExecStart names a binary that exists
  install(prefix.path(), "");
  const std::string unit_path = prefix.path() + "/lib/systemd/system/shipmate.service";
  ASSERT_TRUE(fs::is_regular_file(unit_path));
  const auto unit = unit_settings(read_file(unit_path));

  EXPECT_EQ(one(unit, "ExecStart").substr(0, one(unit, "ExecStart").find(' ')),
            prefix.path() + "/bin/shipmate");
  EXPECT_EQ(one(unit, "DynamicUser"), "yes");
  EXPECT_EQ(one(unit, "ProtectSystem"), "strict");
  EXPECT_EQ(one(unit, "StateDirectory"), "shipmate");
  EXPECT_EQ(one(unit, "NoNewPrivileges"), "yes");
  EXPECT_EQ(one(unit, "Restart"), "on-failure");
  EXPECT_EQ(one(unit, "KillSignal"), "SIGTERM");
  EXPECT_EQ(one(unit, "CapabilityBoundingSet"), "");
  // The database and state live in the StateDirectory, the only writable place.
  EXPECT_NE(one(unit, "ExecStart").find("--database /var/lib/shipmate/shipmate.db"),
            std::string::npos);
  EXPECT_NE(one(unit, "ExecStart").find("--state-dir /var/lib/shipmate/state"), std::string::npos);

  TempDir home;
  auto [code, output] = run_command({analyze, "verify", unit_path}, "",
                                    {{"SYSTEMD_LOG_LEVEL", "notice"}, {"HOME", home.path()}});
  EXPECT_EQ(code, 0) << output;
  // verify prints nothing about a unit it is happy with.
  EXPECT_EQ(output.find("shipmate.service"), std::string::npos) << output;

  // The exposure score systemd computes from the sandboxing (0 is locked down, 10 is exposed).
  auto [security_code, security] =
      run_command({analyze, "security", "--offline=true", "--no-pager", unit_path});
  EXPECT_EQ(security_code, 0) << security;
  const auto at = security.find("Overall exposure level for shipmate.service: ");
  ASSERT_NE(at, std::string::npos) << security;
  const double exposure = std::stod(security.substr(at + 45));
  EXPECT_LT(exposure, 3.0) << security;
  std::cout << "systemd-analyze security: exposure " << exposure << "\n";
}

TEST(Packaging, DockerfileRunsExactlyTheProjectsOwnScripts) {
  std::istringstream lines(read_file(source_dir() + "/Dockerfile"));
  std::string line;
  std::vector<std::string> runs;
  std::string from;
  while (std::getline(lines, line)) {
    if (line.starts_with("RUN "))
      runs.push_back(line.substr(4));
    if (line.starts_with("FROM "))
      from = line.substr(5);
  }
  EXPECT_EQ(from, "debian:12");
  const std::vector<std::string> expected{"./scripts/install-deps", "./scripts/build",
                                          "cmake --install build --prefix /usr/local"};
  EXPECT_EQ(runs, expected);
  for (const auto& script : {"/scripts/install-deps", "/scripts/build"})
    EXPECT_TRUE(executable(source_dir() + script)) << script;
}

std::vector<YAML::Node> manifests() {
  std::vector<YAML::Node> out;
  const YAML::Node kustomization =
      YAML::LoadFile(source_dir() + "/deploy/kubernetes/kustomization.yaml");
  EXPECT_EQ(kustomization["kind"].as<std::string>(), "Kustomization");
  for (const auto& resource : kustomization["resources"])
    for (const auto& document :
         YAML::LoadAllFromFile(source_dir() + "/deploy/kubernetes/" + resource.as<std::string>()))
      out.push_back(document);
  return out;
}

std::vector<YAML::Node> of_kind(const std::vector<YAML::Node>& all, const std::string& kind) {
  std::vector<YAML::Node> out;
  for (const auto& node : all)
    if (node["kind"].as<std::string>() == kind)
      out.push_back(node);
  return out;
}

TEST(KubernetesManifests, EveryObjectIsWellFormed) {
  const auto all = manifests();
  ASSERT_FALSE(all.empty());
  std::set<std::string> names;
  for (const auto& node : all) {
    ASSERT_TRUE(node["apiVersion"] && node["kind"] && node["metadata"]["name"]) << node;
    if (node["kind"].as<std::string>() != "Namespace") {
      EXPECT_TRUE(node["metadata"]["namespace"]) << node["metadata"]["name"];
    }
    const std::string key = node["kind"].as<std::string>() + "/" +
                            node["metadata"]["namespace"].as<std::string>("") + "/" +
                            node["metadata"]["name"].as<std::string>();
    EXPECT_TRUE(names.insert(key).second) << "twice: " << key;
  }
  for (const char* kind : {"Namespace", "ServiceAccount", "Role", "RoleBinding", "ConfigMap",
                           "PersistentVolumeClaim", "Deployment", "Service"})
    EXPECT_FALSE(of_kind(all, kind).empty()) << kind;
  // No credentials in the manifests: Secrets are created by hand and referenced.
  EXPECT_TRUE(of_kind(all, "Secret").empty());
}

TEST(KubernetesManifests, DeploymentProbesSecretsVolumeAndOneReplica) {
  const auto deployments = of_kind(manifests(), "Deployment");
  ASSERT_EQ(deployments.size(), 1u);
  const YAML::Node deployment = deployments[0];
  EXPECT_EQ(deployment["spec"]["replicas"].as<int>(), 1);
  EXPECT_EQ(deployment["spec"]["strategy"]["type"].as<std::string>(), "Recreate");
  const std::string text = read_file(source_dir() + "/deploy/kubernetes/deployment.yaml");
  EXPECT_NE(text.find("issue 17"), std::string::npos) << "replicas: 1 names the HA issue";

  const YAML::Node pod = deployment["spec"]["template"]["spec"];
  EXPECT_EQ(pod["serviceAccountName"].as<std::string>(), "shipmate");
  EXPECT_TRUE(pod["securityContext"]["runAsNonRoot"].as<bool>());
  ASSERT_EQ(pod["containers"].size(), 1u);
  const YAML::Node container = pod["containers"][0];
  EXPECT_EQ(container["ports"][0]["containerPort"].as<int>(), 9464);
  EXPECT_EQ(container["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/healthz");
  EXPECT_EQ(container["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/readyz");
  EXPECT_EQ(container["livenessProbe"]["httpGet"]["port"].as<std::string>(), "ops");
  EXPECT_FALSE(container["securityContext"]["allowPrivilegeEscalation"].as<bool>());
  EXPECT_TRUE(container["securityContext"]["readOnlyRootFilesystem"].as<bool>());

  // Every credential is an environment variable from a Secret, never a literal value.
  std::set<std::string> from_secrets;
  for (const auto& env : container["env"]) {
    EXPECT_FALSE(env["value"]) << env["name"];
    ASSERT_TRUE(env["valueFrom"]["secretKeyRef"]) << env["name"];
    from_secrets.insert(env["name"].as<std::string>());
  }
  EXPECT_EQ(from_secrets, (std::set<std::string>{"SLACK_APP_TOKEN", "SLACK_BOT_TOKEN"}));

  // The database lives on the PersistentVolumeClaim, at the path the configuration names.
  std::map<std::string, std::string> mounts;
  for (const auto& mount : container["volumeMounts"])
    mounts[mount["name"].as<std::string>()] = mount["mountPath"].as<std::string>();
  EXPECT_EQ(mounts["data"], "/var/lib/shipmate");
  EXPECT_EQ(mounts["config"], "/etc/shipmate");
  std::string claim;
  for (const auto& volume : pod["volumes"]) {
    if (volume["name"].as<std::string>() == "data")
      claim = volume["persistentVolumeClaim"]["claimName"].as<std::string>();
  }
  const auto claims = of_kind(manifests(), "PersistentVolumeClaim");
  ASSERT_EQ(claims.size(), 1u);
  EXPECT_EQ(claim, claims[0]["metadata"]["name"].as<std::string>());
}

TEST(KubernetesManifests, RbacGrantsExactlyWhatTheKubernetesTargetUses) {
  const auto all = manifests();
  const YAML::Node config =
      YAML::Load(of_kind(all, "ConfigMap")[0]["data"]["shipmate.yaml"].as<std::string>());
  // The namespaces the configured Kubernetes targets deploy to.
  std::set<std::string> target_namespaces;
  for (const auto& service : config["services"])
    if (service["target"]["kind"].as<std::string>() == "kubernetes")
      for (const auto& entry : service["target"]["namespaces"])
        target_namespaces.insert(entry.second.as<std::string>());
  ASSERT_FALSE(target_namespaces.empty());

  std::set<std::string> role_namespaces, bound_namespaces;
  for (const auto& role : of_kind(all, "Role")) {
    role_namespaces.insert(role["metadata"]["namespace"].as<std::string>());
    std::map<std::string, std::set<std::string>> granted;
    for (const auto& rule : role["rules"]) {
      ASSERT_EQ(rule["apiGroups"].size(), 1u);
      EXPECT_EQ(rule["apiGroups"][0].as<std::string>(), "apps");
      for (const auto& resource : rule["resources"])
        for (const auto& verb : rule["verbs"])
          granted[resource.as<std::string>()].insert(verb.as<std::string>());
    }
    const std::map<std::string, std::set<std::string>> needed{
        {"deployments", {"get", "list", "watch", "patch"}}, {"replicasets", {"get", "list"}}};
    EXPECT_EQ(granted, needed) << role["metadata"]["namespace"];
  }
  for (const auto& binding : of_kind(all, "RoleBinding")) {
    bound_namespaces.insert(binding["metadata"]["namespace"].as<std::string>());
    EXPECT_EQ(binding["roleRef"]["kind"].as<std::string>(), "Role");
    ASSERT_EQ(binding["subjects"].size(), 1u);
    EXPECT_EQ(binding["subjects"][0]["kind"].as<std::string>(), "ServiceAccount");
    EXPECT_EQ(binding["subjects"][0]["name"].as<std::string>(), "shipmate");
    EXPECT_EQ(binding["subjects"][0]["namespace"].as<std::string>(), "shipmate");
  }
  EXPECT_EQ(role_namespaces, target_namespaces);
  EXPECT_EQ(bound_namespaces, target_namespaces);
  EXPECT_TRUE(of_kind(all, "ClusterRole").empty());
  EXPECT_TRUE(of_kind(all, "ClusterRoleBinding").empty());
}

TEST(KubernetesManifests, ConfigMapConfigurationPassesCheckConfig) {
  const auto maps = of_kind(manifests(), "ConfigMap");
  ASSERT_EQ(maps.size(), 1u);
  TempDir dir;
  // Outside a pod there are no in-cluster credentials, so the one `in_cluster: true` is swapped
  // for a kubeconfig (of the fake) to let check-config read everything else as it stands.
  std::string text = maps[0]["data"]["shipmate.yaml"].as<std::string>();
  const auto at = text.find("in_cluster: true");
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(text.find("in_cluster: true", at + 1), std::string::npos);
  FakeKubernetes fake{FakeKubernetes::Options{}};
  write_file(dir.file("kubeconfig"), fake.kubeconfig("", "default"));
  text.replace(at, std::string("in_cluster: true").size(), "kubeconfig: " + dir.file("kubeconfig"));
  write_file(dir.file("shipmate.yaml"), text);
  auto [code, output] = run_command({shipmate_binary(), "check-config", dir.file("shipmate.yaml")});
  EXPECT_EQ(code, 0) << output;
  const YAML::Node config = YAML::LoadFile(dir.file("shipmate.yaml"));
  EXPECT_EQ(config["ops"]["listen"]["bind"].as<std::string>(), "0.0.0.0");
  EXPECT_EQ(config["ops"]["listen"]["port"].as<int>(), 9464);
  EXPECT_EQ(output.find("deprecated"), std::string::npos) << output;
  EXPECT_TRUE(config["shipmate"]["database"].as<std::string>().starts_with("/var/lib/shipmate/"));
}

TEST(KubernetesManifests, KubectlAppliesThemInClientDryRun) {
  const std::string kubectl = find_program("kubectl");
  ASSERT_FALSE(kubectl.empty()) << "kubectl is missing (Debian: kubernetes-client); the manifests "
                                   "must be checked, not skipped";
  FakeKubernetes::Options options;
  options.tls = true;
  FakeKubernetes fake(options);
  TempDir home;
  write_file(home.file("kubeconfig"), fake.kubeconfig("", "default"));
  const std::map<std::string, std::string> env{{"HOME", home.path()},
                                               {"KUBECONFIG", home.file("kubeconfig")},
                                               {"KUBECACHEDIR", home.path() + "/cache"}};
  auto [code, output] =
      run_command({kubectl, "--kubeconfig", home.file("kubeconfig"), "apply", "--dry-run=client",
                   "--validate=false", "-k", source_dir() + "/deploy/kubernetes"},
                  "", env);
  ASSERT_EQ(code, 0) << output;
  for (const char* line :
       {"namespace/shipmate created (dry run)", "serviceaccount/shipmate created (dry run)",
        "role.rbac.authorization.k8s.io/shipmate-deployer created (dry run)",
        "rolebinding.rbac.authorization.k8s.io/shipmate-deployer created (dry run)",
        "configmap/shipmate-config created (dry run)",
        "persistentvolumeclaim/shipmate-data created (dry run)",
        "deployment.apps/shipmate created (dry run)", "service/shipmate-ops created (dry run)"})
    EXPECT_NE(output.find(line), std::string::npos) << line << "\n" << output;
  // Client dry-run only reads: nothing was written to the server.
  for (const auto& request : fake.http().requests())
    EXPECT_EQ(request.method, "GET") << request.path;
}

}  // namespace
}  // namespace shipmate::testing
