// The `http:` section (the one listener every HTTP owner shares by default) and the `listen:` key
// an owner uses to ask for an address of its own. See bot/config.h (HttpConfig, ListenAddress).
#include <string>

#include "bot/config_checker.h"

namespace shipmate::bot {

std::optional<ListenAddress> parse_listen(Checker& check, const YAML::Node& node,
                                          const std::string& where,
                                          const std::string& default_bind) {
  if (!check.expect_map(node, where + " listen"))
    return std::nullopt;
  check.check_keys(node, {"bind", "port"}, where + " listen");
  ListenAddress address{default_bind, 0};
  if (node["bind"])
    address.bind = check.scalar(node["bind"], "bind").value_or(default_bind);
  if (node["port"])
    address.port = static_cast<int>(check.integer(node["port"], "port", 0, 65535).value_or(0));
  return address;
}

void deprecated_listen_key(Checker& check, const YAML::Node& at, const std::string& where,
                           const std::string& key) {
  check.warning(at, where + " " + key +
                        " is deprecated (still honoured): write listen: {bind: ..., port: ...} "
                        "under " +
                        where + ":, or leave the address out to serve " + where +
                        " on the shared http: listener");
}

void parse_http_section(Checker& check, const YAML::Node& node, Config& config,
                        const std::filesystem::path& base) {
  if (!check.expect_map(node, "http"))
    return;
  HttpConfig& http = config.http;
  http.enabled = true;
  check.check_keys(node,
                   {"bind", "port", "tls_cert_file", "tls_key_file", "header_timeout",
                    "body_timeout", "idle_timeout"},
                   "http");
  if (node["bind"])
    http.bind = check.scalar(node["bind"], "http bind").value_or(http.bind);
  if (node["port"]) {
    http.port =
        static_cast<int>(check.integer(node["port"], "http port", 0, 65535).value_or(http.port));
  }
  for (const char* key : {"tls_cert_file", "tls_key_file"}) {
    if (!node[key])
      continue;
    std::string path = absolute_from(base, check.scalar(node[key], key).value_or(""));
    std::error_code error;
    if (!std::filesystem::exists(path, error))
      check.error(node[key], std::string("http ") + key + " " + path + " does not exist");
    (std::string_view(key) == "tls_cert_file" ? http.tls_cert_file : http.tls_key_file) = path;
  }
  if (http.tls_cert_file.empty() != http.tls_key_file.empty()) {
    check.error(node,
                "http tls_cert_file and tls_key_file go together (both for HTTPS, neither for "
                "plain HTTP behind a proxy)");
  }
  struct Timeout {
    const char* key;
    long long* target;
  };
  for (const Timeout& timeout : {Timeout{"header_timeout", &http.header_timeout_ms},
                                 Timeout{"body_timeout", &http.body_timeout_ms},
                                 Timeout{"idle_timeout", &http.idle_timeout_ms}}) {
    if (!node[timeout.key])
      continue;
    const std::string what = std::string("http ") + timeout.key;
    if (auto ms = check.duration(node[timeout.key], what)) {
      if (*ms <= 0)
        check.error(node[timeout.key], what + " must be longer than 0");
      else
        *timeout.target = *ms;
    }
  }
}

}  // namespace shipmate::bot
