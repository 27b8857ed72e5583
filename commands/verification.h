// Metric checks during a rollout, as the deploy flow sees them: one question ("does this check
// hold for this version now?") with three answers. The Prometheus client behind it lives in
// integrations/metrics; tests answer with a scripted source.
//
// Contract: evaluate() runs on the event-loop thread and never throws for expected failures. A
// source that cannot decide (no data, unreachable, a bad query) answers `inconclusive` with a
// one-line reason, never `pass`: the flow then asks a person instead of guessing.
#pragma once

#include <map>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "commands/model.h"

namespace shipmate::commands {

enum class CheckVerdict { pass, breach, inconclusive };

struct CheckOutcome {
  CheckVerdict verdict = CheckVerdict::inconclusive;
  std::string message;  // "error_rate: 0.31 > max 0.05 (query: ...)"
};

class MetricsSource {
 public:
  virtual ~MetricsSource() = default;
  // `vars` holds service, environment, version and stable_version for the query template.
  virtual boost::asio::awaitable<CheckOutcome> evaluate(
      const MetricCheckSpec& check, const std::map<std::string, std::string>& vars) = 0;
};

}  // namespace shipmate::commands
