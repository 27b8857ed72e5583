#include "bot/config_checker.h"

#include <fstream>
#include <sstream>

#include "common/redact.h"

namespace shipmate::bot {
namespace fs = std::filesystem;

std::string absolute_from(const fs::path& base, const std::string& path) {
  fs::path p(path);
  if (p.is_relative())
    p = base / p;
  return p.lexically_normal().string();
}

bool looks_like_credential(std::string_view key) {
  const std::string lowered = to_lower(key);
  for (std::string_view word : {"token", "password", "passwd", "secret", "apikey", "api_key",
                                "private_key", "credential"}) {
    if (lowered.find(word) != std::string::npos)
      return true;
  }
  return false;
}

std::optional<std::string> read_secret(Checker& check, const YAML::Node& at, const SecretRef& ref) {
  std::string value;
  if (!ref.env.empty()) {
    const char* raw = std::getenv(ref.env.c_str());
    if (raw == nullptr || *raw == '\0') {
      check.error(at, "secret '" + ref.name + "': environment variable " + ref.env + " is not set");
      return std::nullopt;
    }
    value = raw;
  } else {
    std::ifstream in(ref.file);
    if (!in) {
      check.error(at, "secret '" + ref.name + "': cannot read " + ref.file);
      return std::nullopt;
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    value = buffer.str();
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r'))
      value.pop_back();
  }
  register_secret(value);
  return value;
}

// `{secret: name}` resolved to its value (and registered for redaction). Anything else is an
// error: credentials are never written into the file.
std::optional<std::string> secret_value(Checker& check, const YAML::Node& node, Config& config,
                                        const std::string& what) {
  if (!node.IsMap() || !node["secret"]) {
    check.error(node, what +
                          " must be a reference such as {secret: name}, declared under "
                          "secrets:; credentials are never written in the file");
    return std::nullopt;
  }
  const std::string name = check.scalar(node["secret"], "secret").value_or("");
  auto ref = config.secrets.find(name);
  if (ref == config.secrets.end()) {
    check.error(node["secret"], "unknown secret '" + name + "'; declare it under secrets:");
    return std::nullopt;
  }
  return read_secret(check, node["secret"], ref->second);
}

std::map<std::string, std::string> string_map(Checker& check, const YAML::Node& node,
                                              const std::string& what) {
  std::map<std::string, std::string> out;
  if (!check.expect_map(node, what))
    return out;
  for (const auto& entry : node) {
    const std::string key = entry.first.as<std::string>("");
    if (auto value = check.scalar(entry.second, what + " " + key))
      out[key] = *value;
  }
  return out;
}

std::string required(Checker& check, const YAML::Node& node, const std::string& key,
                     const std::string& where, const std::string& example) {
  if (!node[key]) {
    check.error(node, where + " needs " + key + ": (" + example + ")");
    return {};
  }
  return check.scalar(node[key], key).value_or("");
}

// A per-environment setting must name an environment the service is deployed to.
void check_service_environment(Checker& check, const YAML::Node& at, const std::string& where,
                               const commands::ServiceSpec& service, const std::string& env) {
  if (std::find(service.environments.begin(), service.environments.end(), env) ==
      service.environments.end()) {
    check.error(at, where + " names environment '" + env + "', which " + service.name +
                        " is not deployed to");
  }
}

}  // namespace shipmate::bot
