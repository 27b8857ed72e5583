// A deploy target for command tests: knows a fixed set of versions, records what it was asked
// to do, and succeeds or fails as the test says. No processes, no sockets.
#pragma once

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "integrations/deploy_target.h"

namespace shipmate::testing {

class FakeTarget final : public integrations::DeployTarget {
 public:
  explicit FakeTarget(std::vector<std::string> versions) : versions_(std::move(versions)) {}

  std::string kind() const override { return kind_name; }
  Status validate(const std::string&, const std::string& version) const override {
    if (std::find(versions_.begin(), versions_.end(), version) == versions_.end()) {
      return make_error("no release " + version);
    }
    return Ok{};
  }
  std::vector<std::string> available_versions() const override { return versions_; }
  void add_version(std::string version) { versions_.push_back(std::move(version)); }
  std::optional<std::string> current_version(const std::string& env) const override {
    auto it = current_.find(env);
    if (it == current_.end())
      return std::nullopt;
    return it->second;
  }
  std::string describe(const std::string& env) const override {
    auto current = current_version(env);
    return current ? *current + " running (fake)" : "nothing deployed";
  }
  boost::asio::awaitable<integrations::ApplyOutcome> apply(
      std::string env, std::string version, integrations::ProgressFn progress) override {
    calls.push_back("apply " + env + " " + version);
    progress("fake: starting " + version);
    if (failing.count(version) > 0) {
      co_return integrations::ApplyOutcome{false, "health check of " + version + " failed", ""};
    }
    current_[env] = version;
    co_return integrations::ApplyOutcome{true, version + " healthy", "fake://" + env};
  }
  boost::asio::awaitable<integrations::ApplyOutcome> roll_back(
      std::string env, std::string version, integrations::ProgressFn progress) override {
    calls.push_back("roll_back " + env + " " + version);
    progress("fake: rolling back to " + version);
    current_[env] = version;
    co_return integrations::ApplyOutcome{true, "rolled back to " + version, "fake://" + env};
  }
  // Traffic splitting, when `split` is on: the candidate and its weight are tracked per
  // environment; promote makes it current.
  bool supports_traffic_split() const override { return split; }
  boost::asio::awaitable<integrations::ApplyOutcome> start_candidate(
      std::string env, std::string version, integrations::ProgressFn progress) override {
    calls.push_back("start_candidate " + env + " " + version);
    progress("fake: starting candidate " + version);
    if (failing.count(version) > 0)
      co_return integrations::ApplyOutcome{false, "health check of " + version + " failed", ""};
    candidate_[env] = version;
    co_return integrations::ApplyOutcome{
        true, version + " healthy beside " + current_version(env).value_or("nothing"),
        "fake://" + env + "/candidate"};
  }
  boost::asio::awaitable<integrations::ApplyOutcome> set_candidate_weight(std::string env,
                                                                          int percent) override {
    calls.push_back("weight " + env + " " + std::to_string(percent));
    weights[env] = percent;
    co_return integrations::ApplyOutcome{true, std::to_string(percent) + "%", ""};
  }
  boost::asio::awaitable<integrations::ApplyOutcome> promote_candidate(std::string env) override {
    calls.push_back("promote " + env);
    current_[env] = candidate_[env];
    candidate_.erase(env);
    co_return integrations::ApplyOutcome{true, current_[env] + " promoted", "fake://" + env};
  }
  boost::asio::awaitable<integrations::ApplyOutcome> abort_candidate(std::string env) override {
    calls.push_back("abort " + env);
    candidate_.erase(env);
    weights[env] = 0;
    co_return integrations::ApplyOutcome{true, "candidate stopped", "fake://" + env};
  }

  boost::asio::awaitable<std::vector<integrations::ApplyOutcome>> restore() override {
    co_return std::vector<integrations::ApplyOutcome>{};
  }
  boost::asio::awaitable<void> shutdown() override { co_return; }

  std::set<std::string> failing;   // versions whose apply fails
  std::vector<std::string> calls;  // what was asked, in order
  std::string kind_name = "fake";  // what kind() answers
  bool split = false;
  std::map<std::string, int> weights;

 private:
  std::vector<std::string> versions_;
  std::map<std::string, std::string> current_;
  std::map<std::string, std::string> candidate_;
};

}  // namespace shipmate::testing
