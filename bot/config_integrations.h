// The integration half of the configuration parser: what a service's entry says about the
// systems outside Shipmate (its target:, build:, strategy: and github_deployments:), and the
// top-level metrics: block. bot/config.cpp parses the core (environments, users, secrets, the
// services' names and environments) and calls these.
//
// Contract
// - Private to bot/: only the configuration parser's sources include it.
// - As for load_config(): nothing throws; every problem is a diagnostic on `check`. Results go
//   into `config.integrations[service]`, `config.metrics` and the service's own spec.
// - Target kinds come from the table in bot/target_kinds.h; nothing here names a kind.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bot/config.h"

namespace YAML {
class Node;
}

namespace shipmate::bot {

class Checker;

// `metrics: {prometheus: URL, token, ca_file, timeout}`.
void parse_metrics(Checker& check, const YAML::Node& node, Config& config);

// The integration keys of one `services:` entry (`item`): target (through the target-kind table),
// build, strategy and github_deployments. Metric checks need parse_metrics() to have run first.
// `used_ports` collects the loopback ports local targets take, so none is used twice.
void parse_service_integrations(Checker& check, const YAML::Node& item, Config& config,
                                commands::ServiceSpec& service, std::set<long long>& used_ports);

// A CI block: `provider_key:` (github, gitlab or jenkins) plus that provider's fields. Used for a
// service's build: and for targets of kind pipeline, whose block also allows `extra_keys`.
std::optional<CiSpec> parse_ci(Checker& check, const YAML::Node& node, Config& config,
                               const std::string& where, const std::string& provider_key,
                               std::vector<std::string> extra_keys);

}  // namespace shipmate::bot
