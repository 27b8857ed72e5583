// Credentials for a Kubernetes API server: from a kubeconfig file (what kubectl uses) or from the
// service account a pod runs as (in-cluster).
//
// Contract
// - Loading reads files synchronously (call it at startup, not on a hot path). Nothing is cached
//   globally; each call returns a fresh KubeCredentials.
// - Relative file paths inside a kubeconfig are resolved against the kubeconfig's directory, as
//   client-go does. `*-data` fields (base64 PEM) win over their file counterparts; their decoded
//   contents are written to a private directory (0700, files 0600) that lives as long as the last
//   copy of the KubeCredentials that made it.
// - Tokens are registered with common/redact.h as they are read and never appear in an error.
// - Errors are one line naming the file, the context/user/cluster and what is wrong. Exec plugins
//   and auth providers (gke-gcloud-auth-plugin, aws eks get-token, oidc) are refused with a message
//   saying to use a token: Shipmate runs no credential helper commands.
// - Choosing a kubeconfig (KUBECONFIG, ~/.kube/config) is the caller's business: pass a path.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace shipmate::integrations {

struct KubeCredentials {
  std::string server;   // "https://10.0.0.1:6443", no trailing slash
  std::string ca_file;  // PEM bundle to trust; empty: the system store
  bool insecure_skip_tls_verify = false;
  std::string token;       // bearer token (secret); empty when token_file or no token is used
  std::string token_file;  // bearer token read from here on use (service account tokens rotate)
  std::string username;    // basic auth, when the kubeconfig user has username/password
  std::string password;
  std::string client_cert_file;  // PEM client certificate and key (mutual TLS)
  std::string client_key_file;
  std::optional<std::string> proxy_url;  // clusters[].cluster.proxy-url
  std::string default_namespace = "default";
  // Where these came from, for messages: "kubeconfig /home/a/.kube/config, context prod".
  std::string source;
  // Owns the private directory of files written from *-data fields.
  std::shared_ptr<const void> private_files = {};
};

// Reads `path` and picks `context_name` (or current-context when empty/nullopt).
Result<KubeCredentials> load_kubeconfig(const std::string& path,
                                        const std::optional<std::string>& context_name = {});

// A pod's service account. The defaults are what a pod sees; tests point them elsewhere.
struct InClusterSource {
  std::string directory = "/var/run/secrets/kubernetes.io/serviceaccount";
  std::string service_host;  // KUBERNETES_SERVICE_HOST
  std::string service_port;  // KUBERNETES_SERVICE_PORT
  // The default directory and the two variables from this process's environment.
  static InClusterSource from_environment();
};

Result<KubeCredentials> load_in_cluster(const InClusterSource& source);

// The bearer token to send now: `token`, or the contents of `token_file` (trimmed, registered as a
// secret); empty when the credentials use none.
Result<std::string> current_token(const KubeCredentials& credentials);

// RFC 4648 base64 (padding optional, whitespace ignored); nullopt when malformed.
std::optional<std::string> decode_base64(std::string_view text);

}  // namespace shipmate::integrations
