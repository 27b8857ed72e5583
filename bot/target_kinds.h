// Deploy target kinds: the one table that says which `target: {kind: ...}` a service may have.
// Each entry names the kind, parses its `target:` block into the configuration, and builds the
// DeployTarget from that configuration. The configuration parser (bot/config_integrations.cpp)
// and build_integrations() (bot/integrations_setup.cpp) both read this table and nothing else, so
// adding a kind is one entry here plus its parse and build functions (docs/architecture.md,
// "Clusters and CI systems", has the recipe).
//
// Contract
// - The table is constant and ordered as `check-config` lists the kinds; names are unique.
// - parse() reports every problem on the Checker (never throws) and stores what it read in the
//   service spec or `config.integrations[service]`. build() does no network I/O; its errors start
//   with `where` ("service api") and say what is wrong.
// - Threading: build() runs on the event-loop thread and creates the target for `executor`.
#pragma once

#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "bot/config.h"
#include "common/result.h"
#include "integrations/deploy_target.h"

namespace YAML {
class Node;
}

namespace shipmate::bot {

class Checker;
struct Integrations;

// What a kind's parser is given.
struct TargetParse {
  Checker& check;
  const YAML::Node& node;  // the service's `target:` mapping (its `kind:` included)
  Config& config;          // read so far: paths, secrets, environments, integrations
  commands::ServiceSpec& service;
  std::set<long long>& used_ports;  // loopback ports local targets took so far
};

// What a kind's builder is given.
struct TargetBuild {
  boost::asio::any_io_executor executor;
  const Config& config;
  const commands::ServiceSpec& service;
  const ServiceIntegrations& extra;  // config.integrations of the service (may be empty)
  Integrations& out;                 // its HTTP clients may be shared
  const std::string& where;          // "service api", to start error messages
};

struct TargetKind {
  std::string_view name;  // the `kind:` value
  void (*parse)(const TargetParse& in);
  Result<std::unique_ptr<integrations::DeployTarget>> (*build)(const TargetBuild& in);
};

// Every kind, in the order they are listed to people.
std::span<const TargetKind> target_kinds();
// The kind called `name`, or nullptr.
const TargetKind* find_target_kind(std::string_view name);
// The names, in table order (for "Shipmate supports ..." and did-you-mean).
std::vector<std::string> target_kind_names();

}  // namespace shipmate::bot
