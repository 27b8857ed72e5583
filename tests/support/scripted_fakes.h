// Scripted stand-ins for the deploy flow's collaborators that talk to the network in production:
// a metrics source answering from a script, and a CI provider whose runs follow a script. No
// sockets; the real clients have their own tests against fake servers.
#pragma once

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "commands/verification.h"
#include "integrations/ci_provider.h"

namespace shipmate::testing {

// Answers each check by name from a queue of outcomes; the last one repeats. A check with no
// script passes.
class ScriptedMetrics final : public commands::MetricsSource {
 public:
  boost::asio::awaitable<commands::CheckOutcome> evaluate(
      const commands::MetricCheckSpec& check,
      const std::map<std::string, std::string>& vars) override {
    asked.push_back(check.name + "@" + vars.at("version"));
    auto& queue = script[check.name];
    if (queue.empty())
      co_return commands::CheckOutcome{commands::CheckVerdict::pass, check.name + ": ok"};
    commands::CheckOutcome outcome = queue.front();
    if (queue.size() > 1)
      queue.pop_front();
    co_return outcome;
  }

  std::map<std::string, std::deque<commands::CheckOutcome>> script;
  std::vector<std::string> asked;
};

// Each trigger starts a run whose polls walk through `states` (the last one repeats).
class ScriptedCi final : public integrations::CiProvider {
 public:
  std::string kind() const override { return "scripted-ci"; }
  Status validate() const override { return Ok{}; }
  boost::asio::awaitable<Result<integrations::CiRunHandle>> trigger(
      integrations::CiRunRequest request) override {
    triggered.push_back(request);
    if (!trigger_error.empty())
      co_return make_error(trigger_error);
    const std::string id = std::to_string(triggered.size());
    polls[id] = 0;
    co_return integrations::CiRunHandle{id, "https://ci.example/runs/" + id};
  }
  boost::asio::awaitable<Result<integrations::CiRunStatus>> status(
      integrations::CiRunHandle handle) override {
    const std::size_t n = polls[handle.id]++;
    integrations::CiRunStatus status;
    status.state = states.empty() ? integrations::CiRunState::succeeded
                                  : states[std::min(n, states.size() - 1)];
    status.detail = status.state == integrations::CiRunState::failed ? failure_detail : "";
    status.url = handle.url;
    co_return status;
  }
  boost::asio::awaitable<Status> cancel(integrations::CiRunHandle handle) override {
    cancelled.push_back(handle.id);
    co_return Ok{};
  }
  boost::asio::awaitable<Result<std::string>> check_access() override {
    co_return std::string("scripted pipeline");
  }

  std::vector<integrations::CiRunState> states;
  std::string failure_detail = "job build failed";
  std::string trigger_error;
  std::vector<integrations::CiRunRequest> triggered;
  std::vector<std::string> cancelled;
  std::map<std::string, std::size_t> polls;
};

}  // namespace shipmate::testing
