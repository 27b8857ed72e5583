#include "integrations/kubernetes/kube_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/redact.h"
#include "common/strings.h"

namespace shipmate::integrations {

namespace {

namespace fs = std::filesystem;

std::string in_quotes(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

Result<std::string> read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return make_error(path + ": cannot read: " + std::strerror(errno));
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad())
    return make_error(path + ": cannot read: " + std::strerror(errno));
  return out.str();
}

// A directory only this process's user can enter, removed with everything in it when the last
// KubeCredentials referring to it goes away.
class PrivateDirectory {
 public:
  static Result<std::shared_ptr<PrivateDirectory>> create() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/shipmate-kube-XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (::mkdtemp(buffer.data()) == nullptr)
      return make_error("cannot create a private directory for credentials: " +
                        std::string(std::strerror(errno)));
    return std::shared_ptr<PrivateDirectory>(new PrivateDirectory(buffer.data()));
  }
  ~PrivateDirectory() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  PrivateDirectory(const PrivateDirectory&) = delete;
  PrivateDirectory& operator=(const PrivateDirectory&) = delete;

  Result<std::string> write(const std::string& name, const std::string& content) {
    std::string path = path_ + "/" + name;
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
      return make_error("cannot write " + path + ": " + std::strerror(errno));
    std::size_t written = 0;
    while (written < content.size()) {
      ssize_t n = ::write(fd, content.data() + written, content.size() - written);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        int saved = errno;
        ::close(fd);
        return make_error("cannot write " + path + ": " + std::strerror(saved));
      }
      written += static_cast<std::size_t>(n);
    }
    ::close(fd);
    return path;
  }

 private:
  explicit PrivateDirectory(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

std::string scalar(const YAML::Node& node, const char* key) {
  const YAML::Node value = node[key];
  if (!value || !value.IsScalar())
    return {};
  return value.as<std::string>();
}

bool truthy(const YAML::Node& node, const char* key) {
  const YAML::Node value = node[key];
  if (!value || !value.IsScalar())
    return false;
  std::string text = to_lower(value.as<std::string>());
  return text == "true" || text == "yes" || text == "1";
}

// Finds `name` in a kubeconfig list (clusters, users, contexts) and returns its inner object
// (the value under `inner`), or an undefined node.
YAML::Node find_named(const YAML::Node& root, const char* list, const std::string& name,
                      const char* inner, std::vector<std::string>* names) {
  const YAML::Node items = root[list];
  if (!items || !items.IsSequence())
    return YAML::Node(YAML::NodeType::Undefined);
  for (const auto& item : items) {
    std::string item_name = scalar(item, "name");
    if (names != nullptr && !item_name.empty())
      names->push_back(item_name);
    if (item_name == name) {
      YAML::Node value = item[inner];
      return value ? value : YAML::Node(YAML::NodeType::Map);
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

std::string resolve(const std::string& base_directory, const std::string& path) {
  if (path.empty() || path.front() == '/')
    return path;
  return (fs::path(base_directory) / path).lexically_normal().string();
}

Status check_readable(const std::string& what, const std::string& path) {
  if (::access(path.c_str(), R_OK) != 0)
    return make_error(what + " " + path + ": cannot read: " + std::strerror(errno));
  return Ok{};
}

struct Loader {
  std::string where;  // "kubeconfig /path"
  std::string base_directory;
  std::shared_ptr<PrivateDirectory> private_dir;

  // A file field or its -data twin: the file path to use, or "" when neither is set.
  Result<std::string> file_or_data(const YAML::Node& node, const char* file_key,
                                   const char* data_key, const std::string& owner,
                                   const std::string& file_name) {
    std::string data = scalar(node, data_key);
    if (!data.empty()) {
      auto decoded = decode_base64(data);
      if (!decoded)
        return make_error(where + ": " + data_key + " of " + owner + " is not valid base64");
      if (!private_dir) {
        auto made = PrivateDirectory::create();
        if (!made)
          return make_error(where + ": " + made.error().message);
        private_dir = *made;
      }
      auto written = private_dir->write(file_name, *decoded);
      if (!written)
        return make_error(where + ": " + written.error().message);
      return *written;
    }
    std::string file = scalar(node, file_key);
    if (file.empty())
      return std::string();
    file = resolve(base_directory, file);
    auto readable = check_readable(std::string(file_key) + " of " + owner, file);
    if (!readable)
      return make_error(where + ": " + readable.error().message);
    return file;
  }
};

}  // namespace

std::optional<std::string> decode_base64(std::string_view text) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  int padding = 0;
  for (char c : text) {
    int value = -1;
    if (c >= 'A' && c <= 'Z')
      value = c - 'A';
    else if (c >= 'a' && c <= 'z')
      value = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      value = c - '0' + 52;
    else if (c == '+' || c == '-')
      value = 62;
    else if (c == '/' || c == '_')
      value = 63;
    else if (c == '=') {
      ++padding;
      continue;
    } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      continue;
    } else {
      return std::nullopt;
    }
    if (padding > 0)
      return std::nullopt;  // data after padding
    buffer = (buffer << 6) | static_cast<unsigned>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  // Leftover bits must be the zero fill of a short final group (2 or 4 bits), never 6.
  if (bits == 6 || padding > 2)
    return std::nullopt;
  return out;
}

Result<KubeCredentials> load_kubeconfig(const std::string& path,
                                        const std::optional<std::string>& context_name) {
  Loader loader;
  loader.where = "kubeconfig " + path;
  auto text = read_whole_file(path);
  if (!text)
    return make_error("kubeconfig " + text.error().message);
  loader.base_directory = fs::path(path).parent_path().string();
  if (loader.base_directory.empty())
    loader.base_directory = ".";

  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    return make_error(loader.where + ": invalid YAML at line " + std::to_string(e.mark.line + 1) +
                      ": " + e.msg);
  }
  if (!root.IsMap())
    return make_error(loader.where +
                      ": not a kubeconfig (expected a mapping with clusters, "
                      "users and contexts)");

  try {
    std::string context = context_name.value_or("");
    if (context.empty())
      context = scalar(root, "current-context");
    if (context.empty())
      return make_error(loader.where + ": no current-context is set; name the context to use");

    std::vector<std::string> context_names;
    YAML::Node ctx = find_named(root, "contexts", context, "context", &context_names);
    if (!ctx) {
      return make_error(loader.where + ": no context " + in_quotes(context) +
                        (context_names.empty() ? std::string(" (the file defines no contexts)")
                                               : " (contexts: " + join(context_names, ", ") + ")"));
    }
    const std::string cluster_name = scalar(ctx, "cluster");
    const std::string user_name = scalar(ctx, "user");
    if (cluster_name.empty())
      return make_error(loader.where + ": context " + in_quotes(context) + " names no cluster");

    KubeCredentials credentials;
    credentials.source = loader.where + ", context " + context;

    std::vector<std::string> cluster_names;
    YAML::Node cluster = find_named(root, "clusters", cluster_name, "cluster", &cluster_names);
    if (!cluster) {
      return make_error(loader.where + ": context " + in_quotes(context) + " names cluster " +
                        in_quotes(cluster_name) + ", which is not defined" +
                        (cluster_names.empty() ? std::string()
                                               : " (clusters: " + join(cluster_names, ", ") + ")"));
    }
    credentials.server = scalar(cluster, "server");
    while (credentials.server.ends_with('/'))
      credentials.server.pop_back();
    if (credentials.server.empty())
      return make_error(loader.where + ": cluster " + in_quotes(cluster_name) + " has no server");
    if (!credentials.server.starts_with("https://") && !credentials.server.starts_with("http://"))
      return make_error(loader.where + ": cluster " + in_quotes(cluster_name) + " server " +
                        in_quotes(credentials.server) + " is not an http(s) URL");
    credentials.insecure_skip_tls_verify = truthy(cluster, "insecure-skip-tls-verify");
    auto ca = loader.file_or_data(cluster, "certificate-authority", "certificate-authority-data",
                                  "cluster " + in_quotes(cluster_name), "ca.crt");
    if (!ca)
      return ca.error();
    credentials.ca_file = *ca;
    if (std::string proxy = scalar(cluster, "proxy-url"); !proxy.empty())
      credentials.proxy_url = proxy;
    if (std::string ns = scalar(ctx, "namespace"); !ns.empty())
      credentials.default_namespace = ns;

    if (!user_name.empty()) {
      std::vector<std::string> user_names;
      YAML::Node user = find_named(root, "users", user_name, "user", &user_names);
      if (!user) {
        return make_error(
            loader.where + ": context " + in_quotes(context) + " names user " +
            in_quotes(user_name) + ", which is not defined" +
            (user_names.empty() ? std::string() : " (users: " + join(user_names, ", ") + ")"));
      }
      const std::string owner = "user " + in_quotes(user_name);
      if (YAML::Node exec = user["exec"]; exec && !exec.IsNull()) {
        std::string command = scalar(exec, "command");
        return make_error(loader.where + ": " + owner + " authenticates with an exec plugin" +
                          (command.empty() ? std::string() : " (" + command + ")") +
                          ", which Shipmate does not run; give it a token instead (users[].user."
                          "token or tokenFile, e.g. a service account token)");
      }
      if (YAML::Node provider = user["auth-provider"]; provider && !provider.IsNull()) {
        std::string name = scalar(provider, "name");
        return make_error(loader.where + ": " + owner + " authenticates with the auth provider " +
                          in_quotes(name) +
                          ", which Shipmate does not support; give it a token instead "
                          "(users[].user.token or tokenFile)");
      }
      credentials.token = scalar(user, "token");
      if (credentials.token.empty()) {
        std::string token_file = scalar(user, "tokenFile");
        if (!token_file.empty()) {
          credentials.token_file = resolve(loader.base_directory, token_file);
          auto token = current_token(credentials);
          if (!token)
            return make_error(loader.where + ": " + owner + ": " + token.error().message);
        }
      } else {
        register_secret(credentials.token);
      }
      credentials.username = scalar(user, "username");
      credentials.password = scalar(user, "password");
      if (!credentials.password.empty())
        register_secret(credentials.password);
      auto cert = loader.file_or_data(user, "client-certificate", "client-certificate-data", owner,
                                      "client.crt");
      if (!cert)
        return cert.error();
      auto key = loader.file_or_data(user, "client-key", "client-key-data", owner, "client.key");
      if (!key)
        return key.error();
      if (cert->empty() != key->empty())
        return make_error(loader.where + ": " + owner + " has a client " +
                          (cert->empty() ? "key but no certificate" : "certificate but no key"));
      credentials.client_cert_file = *cert;
      credentials.client_key_file = *key;
    }
    credentials.private_files = loader.private_dir;
    return credentials;
  } catch (const YAML::Exception& e) {
    return make_error(loader.where + ": unexpected structure at line " +
                      std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

InClusterSource InClusterSource::from_environment() {
  InClusterSource source;
  if (const char* host = std::getenv("KUBERNETES_SERVICE_HOST"))
    source.service_host = host;
  if (const char* port = std::getenv("KUBERNETES_SERVICE_PORT"))
    source.service_port = port;
  return source;
}

Result<KubeCredentials> load_in_cluster(const InClusterSource& source) {
  if (source.service_host.empty() || source.service_port.empty())
    return make_error(
        "in-cluster credentials: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set "
        "(Shipmate is not running in a pod); use a kubeconfig instead");
  KubeCredentials credentials;
  credentials.source = "in-cluster service account (" + source.directory + ")";
  std::string host = source.service_host;
  if (host.find(':') != std::string::npos && !host.starts_with('['))
    host = "[" + host + "]";
  credentials.server = "https://" + host + ":" + source.service_port;
  credentials.token_file = source.directory + "/token";
  auto token = current_token(credentials);
  if (!token)
    return make_error("in-cluster credentials: " + token.error().message);
  credentials.ca_file = source.directory + "/ca.crt";
  auto readable = check_readable("service account CA", credentials.ca_file);
  if (!readable)
    return make_error("in-cluster credentials: " + readable.error().message);
  auto ns = read_whole_file(source.directory + "/namespace");
  if (ns) {
    std::string trimmed(trim(*ns));
    if (!trimmed.empty())
      credentials.default_namespace = trimmed;
  }
  return credentials;
}

Result<std::string> current_token(const KubeCredentials& credentials) {
  if (!credentials.token.empty() || credentials.token_file.empty())
    return credentials.token;
  auto text = read_whole_file(credentials.token_file);
  if (!text)
    return make_error("token file " + text.error().message);
  std::string token(trim(*text));
  if (token.empty())
    return make_error("token file " + credentials.token_file + " is empty");
  register_secret(token);
  return token;
}

}  // namespace shipmate::integrations
