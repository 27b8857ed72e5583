#include "bot/allocator_tuning.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace shipmate::bot {

namespace {

constexpr const char* kTunables = "GLIBC_TUNABLES";
constexpr const char* kCacheSetting = "glibc.malloc.tcache_count";
constexpr const char* kCacheSize = "128";
// Set across the exec: what GLIBC_TUNABLES was before ("" when it was unset).
constexpr const char* kOriginal = "SHIPMATE_ORIGINAL_GLIBC_TUNABLES";

}  // namespace

std::optional<std::string> tuned_glibc_tunables(const char* current) {
  if (current != nullptr && std::strstr(current, kCacheSetting) != nullptr)
    return std::nullopt;
  std::string value = current != nullptr && *current != '\0' ? std::string(current) + ":" : "";
  return value + kCacheSetting + "=" + kCacheSize;
}

void tune_allocator(char** argv) {
  if (const char* original = std::getenv(kOriginal)) {
    // The re-executed process: glibc has read the setting; hide it from our children again.
    if (*original == '\0')
      unsetenv(kTunables);
    else
      setenv(kTunables, original, 1);
    unsetenv(kOriginal);
    return;
  }
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
  const char* current = std::getenv(kTunables);
  const auto tuned = tuned_glibc_tunables(current);
  if (!tuned)
    return;
  // The resolved path, not /proc/self/exe itself: the process name (ps, top, pgrep) comes from
  // the file executed.
  char self[4096];
  const ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
  if (length <= 0)
    return;
  self[length] = '\0';
  setenv(kOriginal, current != nullptr ? current : "", 1);
  setenv(kTunables, tuned->c_str(), 1);
  execv(self, argv);
  // No /proc, or no permission: run untuned, with the environment as it was.
  if (current != nullptr)
    setenv(kTunables, current, 1);
  else
    unsetenv(kTunables);
  unsetenv(kOriginal);
#else
  (void)argv;
#endif
}

}  // namespace shipmate::bot
