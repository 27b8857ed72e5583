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

  std::string kind() const override { return "fake"; }
  Status validate(const std::string&, const std::string& version) const override {
    if (std::find(versions_.begin(), versions_.end(), version) == versions_.end()) {
      return make_error("no release " + version);
    }
    return Ok{};
  }
  std::vector<std::string> available_versions() const override { return versions_; }
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
  boost::asio::awaitable<std::vector<integrations::ApplyOutcome>> restore() override {
    co_return std::vector<integrations::ApplyOutcome>{};
  }
  boost::asio::awaitable<void> shutdown() override { co_return; }

  std::set<std::string> failing;   // versions whose apply fails
  std::vector<std::string> calls;  // what was asked, in order

 private:
  std::vector<std::string> versions_;
  std::map<std::string, std::string> current_;
};

}  // namespace shipmate::testing
