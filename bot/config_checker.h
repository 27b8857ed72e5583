// The pieces every part of the configuration parser shares (bot/config.cpp for the core,
// bot/config_integrations.cpp and bot/target_kinds.cpp for the integrations): the Checker that
// collects diagnostics while the YAML document is walked, and the readers of paths, secrets and
// small maps.
//
// Contract
// - Private to bot/: only the configuration parser's sources include it (it exposes yaml-cpp).
// - Nothing here throws for bad input: every problem is a diagnostic on the Checker, at the
//   node it concerns, and the reader returns an empty or default value.
// - Secret values are registered for redaction (common/redact.h) as soon as they are read.
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bot/config.h"
#include "commands/registry.h"
#include "common/strings.h"

namespace shipmate::bot {

// Collects diagnostics while walking the document.
class Checker {
 public:
  explicit Checker(std::string file) : file_(std::move(file)) {}

  void error(const YAML::Node& at, const std::string& message) {
    add(Diagnostic::Severity::error, at, message);
  }
  void warning(const YAML::Node& at, const std::string& message) {
    add(Diagnostic::Severity::warning, at, message);
  }
  void error_at(int line, int column, const std::string& message) {
    diagnostics_.push_back({Diagnostic::Severity::error, file_, line, column, message});
  }

  // Reports keys of `map` that are not in `allowed`, with a suggestion.
  void check_keys(const YAML::Node& map, const std::vector<std::string>& allowed,
                  const std::string& where) {
    if (!map.IsMap())
      return;
    for (const auto& entry : map) {
      const std::string key = entry.first.as<std::string>("");
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        error(entry.first, "unknown key '" + key + "' in " + where +
                               commands::did_you_mean(key, allowed) +
                               "; expected one of: " + join(allowed, ", "));
      }
    }
  }

  bool expect_map(const YAML::Node& node, const std::string& what) {
    if (node.IsMap())
      return true;
    error(node, what + " must be a mapping (key: value)");
    return false;
  }
  bool expect_sequence(const YAML::Node& node, const std::string& what) {
    if (node.IsSequence())
      return true;
    error(node, what + " must be a list");
    return false;
  }

  std::optional<std::string> scalar(const YAML::Node& node, const std::string& what) {
    if (node.IsScalar())
      return node.Scalar();
    error(node, what + " must be a single value");
    return std::nullopt;
  }

  std::vector<std::string> string_list(const YAML::Node& node, const std::string& what) {
    std::vector<std::string> out;
    if (node.IsScalar()) {
      out.push_back(node.Scalar());
      return out;
    }
    if (!expect_sequence(node, what))
      return out;
    for (const auto& item : node) {
      if (auto value = scalar(item, "each entry of " + what))
        out.push_back(*value);
    }
    return out;
  }

  std::optional<long long> duration(const YAML::Node& node, const std::string& what) {
    auto text = scalar(node, what);
    if (!text)
      return std::nullopt;
    auto ms = parse_duration_ms(*text);
    if (!ms)
      error(node, what + " '" + *text + "' is not a duration; write e.g. 500ms, 2s, 1m");
    return ms;
  }

  std::optional<long long> integer(const YAML::Node& node, const std::string& what, long long low,
                                   long long high) {
    auto text = scalar(node, what);
    if (!text)
      return std::nullopt;
    char* end = nullptr;
    long long value = std::strtoll(text->c_str(), &end, 10);
    if (text->empty() || *end != '\0' || value < low || value > high) {
      error(node, what + " must be a whole number from " + std::to_string(low) + " to " +
                      std::to_string(high) + ", not '" + *text + "'");
      return std::nullopt;
    }
    return value;
  }

  std::optional<bool> boolean(const YAML::Node& node, const std::string& what) {
    auto text = scalar(node, what);
    if (!text)
      return std::nullopt;
    if (*text == "true" || *text == "yes")
      return true;
    if (*text == "false" || *text == "no")
      return false;
    error(node, what + " must be true or false");
    return std::nullopt;
  }

  // Errors reported so far (to tell whether one part of the document added any).
  std::size_t error_count() const {
    return static_cast<std::size_t>(std::count_if(
        diagnostics_.begin(), diagnostics_.end(),
        [](const Diagnostic& d) { return d.severity == Diagnostic::Severity::error; }));
  }

  bool has_errors() const {
    return std::any_of(diagnostics_.begin(), diagnostics_.end(), [](const Diagnostic& d) {
      return d.severity == Diagnostic::Severity::error;
    });
  }
  std::vector<Diagnostic> take() { return std::move(diagnostics_); }
  const std::string& file() const { return file_; }

 private:
  void add(Diagnostic::Severity severity, const YAML::Node& at, const std::string& message) {
    const auto mark = at.Mark();
    const bool known = mark.line >= 0;
    diagnostics_.push_back(
        {severity, file_, known ? mark.line + 1 : 0, known ? mark.column + 1 : 0, message});
  }

  std::string file_;
  std::vector<Diagnostic> diagnostics_;
};

// `path` made absolute against `base` (the configuration file's directory).
std::string absolute_from(const std::filesystem::path& base, const std::string& path);
// Whether a key's name suggests its value is a credential (token, password, ...).
bool looks_like_credential(std::string_view key);
// The value `ref` names (an environment variable or a file), registered for redaction; an error
// at `at` when it cannot be read.
std::optional<std::string> read_secret(Checker& check, const YAML::Node& at, const SecretRef& ref);
// `{secret: name}` resolved to its value (and registered for redaction). Anything else is an
// error: credentials are never written into the file.
std::optional<std::string> secret_value(Checker& check, const YAML::Node& node, Config& config,
                                        const std::string& what);
// A mapping of single values.
std::map<std::string, std::string> string_map(Checker& check, const YAML::Node& node,
                                              const std::string& what);
// The single value under `key`, or an error naming `where` and an `example` when it is missing.
std::string required(Checker& check, const YAML::Node& node, const std::string& key,
                     const std::string& where, const std::string& example);
// A per-environment setting must name an environment the service is deployed to.
void check_service_environment(Checker& check, const YAML::Node& at, const std::string& where,
                               const commands::ServiceSpec& service, const std::string& env);

// The `http:` section (bot/config_http.cpp): the shared listener, into config.http.
void parse_http_section(Checker& check, const YAML::Node& node, Config& config,
                        const std::filesystem::path& base);
// An owner's `listen: {bind, port}` (port 0: any free port); nullopt after an error.
std::optional<ListenAddress> parse_listen(Checker& check, const YAML::Node& node,
                                          const std::string& where,
                                          const std::string& default_bind);
// The warning for a listen key kept as an alias (slack http_port, ops port, ...).
void deprecated_listen_key(Checker& check, const YAML::Node& at, const std::string& where,
                           const std::string& key);

// The `teams:` section (bot/config_teams.cpp), read after secrets: into config.teams.
void parse_teams_section(Checker& check, const YAML::Node& node, Config& config,
                         const std::filesystem::path& base);

}  // namespace shipmate::bot
