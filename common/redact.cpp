#include "common/redact.h"

#include <algorithm>
#include <mutex>
#include <shared_mutex>
#include <vector>

namespace shipmate {
namespace {

constexpr std::string_view kMask = "[REDACTED]";

struct Registry {
  std::shared_mutex mutex;
  std::vector<std::string> secrets;  // longest first, so a secret containing another wins
};

Registry& registry() {
  static Registry instance;
  return instance;
}

}  // namespace

void register_secret(std::string_view value) {
  if (value.size() < 4)
    return;
  auto& reg = registry();
  std::unique_lock lock(reg.mutex);
  if (std::find(reg.secrets.begin(), reg.secrets.end(), value) != reg.secrets.end())
    return;
  reg.secrets.emplace_back(value);
  std::sort(reg.secrets.begin(), reg.secrets.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

void clear_registered_secrets() {
  auto& reg = registry();
  std::unique_lock lock(reg.mutex);
  reg.secrets.clear();
}

std::string redact(std::string_view text) {
  auto& reg = registry();
  std::shared_lock lock(reg.mutex);
  std::string out(text);
  for (const auto& secret : reg.secrets) {
    std::size_t pos = 0;
    while ((pos = out.find(secret, pos)) != std::string::npos) {
      out.replace(pos, secret.size(), kMask);
      pos += kMask.size();
    }
  }
  return out;
}

bool contains_secret(std::string_view text) {
  auto& reg = registry();
  std::shared_lock lock(reg.mutex);
  return std::any_of(reg.secrets.begin(), reg.secrets.end(), [&](const std::string& secret) {
    return text.find(secret) != std::string_view::npos;
  });
}

}  // namespace shipmate
