// The runbooks Shipmate ships (runbooks/shipped/*.yaml), embedded in the binary at build time so
// they are there wherever it runs. The configuration loader parses them like the runbooks of a
// configured directory (bot/runbook_config.h); a configured runbook of the same name wins.
//
// Contract: immutable, built once on first use; safe from any thread.
#pragma once

#include <string>
#include <vector>

namespace shipmate::runbooks {

struct ShippedRunbook {
  std::string path;  // "runbooks/shipped/restart-hello.yaml", for diagnostics
  std::string text;
};

const std::vector<ShippedRunbook>& shipped_runbooks();

}  // namespace shipmate::runbooks
