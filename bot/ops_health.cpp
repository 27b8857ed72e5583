#include "bot/ops_health.h"

#include <boost/json.hpp>

#include "common/redact.h"

namespace shipmate::bot {

bool HealthReport::ok() const {
  for (const auto& check : checks) {
    if (!check.ok)
      return false;
  }
  return true;
}

std::string HealthReport::failing() const {
  for (const auto& check : checks) {
    if (!check.ok)
      return check.name;
  }
  return {};
}

std::string HealthReport::to_json() const {
  boost::json::object out;
  out["status"] = ok() ? "ok" : "failing";
  const std::string first = failing();
  if (first.empty())
    out["failing"] = nullptr;
  else
    out["failing"] = first;
  boost::json::array list;
  for (const auto& check : checks) {
    boost::json::object item;
    item["name"] = check.name;
    item["ok"] = check.ok;
    item["detail"] = redact(check.detail);
    list.push_back(std::move(item));
  }
  out["checks"] = std::move(list);
  return boost::json::serialize(out) + "\n";
}

HealthReport decide_liveness(const LivenessInputs& in) {
  const EpochMillis since = in.last_heartbeat != 0 ? in.last_heartbeat : in.started;
  const EpochMillis silent = in.now > since ? in.now - since : 0;
  HealthCheck loop{"event-loop", true, ""};
  if (silent > in.deadline.count()) {
    loop.ok = false;
    loop.detail = "the event loop's heartbeat last ran " + std::to_string(silent) +
                  " ms ago (deadline " + std::to_string(in.deadline.count()) + " ms)";
  } else {
    loop.detail = "heartbeat " + std::to_string(silent) + " ms ago";
  }
  return HealthReport{{std::move(loop)}};
}

HealthReport decide_readiness(const ReadinessInputs& in) {
  HealthReport report;
  report.checks.push_back(
      {"shutdown", !in.stopping, in.stopping ? "shutting down: draining commands" : "running"});
  report.checks.push_back(
      {"startup", in.startup_done,
       in.startup_done ? "done" : "start-up (restoring targets, joining chat) is still running"});
  report.checks.push_back({"database", in.database_problem.empty(),
                           in.database_problem.empty() ? "writable" : in.database_problem});
  for (const auto& chat : in.chat) {
    report.checks.push_back({"chat:" + chat.platform, chat.problem.empty(),
                             chat.problem.empty() ? "connected" : chat.problem});
  }
  return report;
}

}  // namespace shipmate::bot
