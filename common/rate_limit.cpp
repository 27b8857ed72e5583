#include "common/rate_limit.h"

#include <charconv>
#include <string_view>

namespace shipmate {
namespace {
constexpr std::string_view kOpen = " (asked to wait ";
constexpr std::string_view kClose = " s)";
}  // namespace

Error rate_limited_error(const std::string& what, std::chrono::seconds wait) {
  return make_error(what + std::string(kOpen) + std::to_string(wait.count()) + std::string(kClose),
                    ErrorKind::unavailable);
}

std::optional<std::chrono::milliseconds> rate_limit_wait(const Error& error) {
  const std::string_view text = error.message;
  if (error.kind != ErrorKind::unavailable || !text.ends_with(kClose))
    return std::nullopt;
  const auto open = text.rfind(kOpen);
  if (open == std::string_view::npos)
    return std::nullopt;
  const char* first = text.data() + open + kOpen.size();
  const char* last = text.data() + text.size() - kClose.size();
  long long seconds = 0;
  const auto [end, problem] = std::from_chars(first, last, seconds);
  if (problem != std::errc() || end != last || seconds < 0)
    return std::nullopt;
  return std::chrono::milliseconds(seconds * 1000);
}

}  // namespace shipmate
