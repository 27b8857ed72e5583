#include "integrations/git/libgit2_loader.h"

#include <dlfcn.h>

#include <optional>

namespace shipmate::integrations {
namespace {

struct Loaded {
  std::optional<LibGit2> table;
  std::string why;
};

Loaded load() {
  Loaded loaded;
  // The versioned name the libgit2 package installs (the one this build's headers describe).
  void* handle = dlopen("libgit2.so." LIBGIT2_SOVERSION, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* error = dlerror();
    loaded.why =
        std::string("release notes from a clone need libgit2 (libgit2.so." LIBGIT2_SOVERSION
                    "), which could not be loaded: ") +
        (error != nullptr ? error : "not found");
    return loaded;
  }
  LibGit2 table{};
#define SHIPMATE_LIBGIT2_BIND(name)                                          \
  if (void* symbol = dlsym(handle, #name); symbol != nullptr) {              \
    table.name = reinterpret_cast<decltype(table.name)>(symbol);             \
  } else {                                                                   \
    loaded.why = "libgit2 (libgit2.so." LIBGIT2_SOVERSION ") has no " #name; \
    return loaded;                                                           \
  }
  SHIPMATE_LIBGIT2_FUNCTIONS(SHIPMATE_LIBGIT2_BIND)
#undef SHIPMATE_LIBGIT2_BIND
  loaded.table = table;
  return loaded;
}

}  // namespace

const LibGit2* libgit2(std::string* why) {
  static const Loaded loaded = load();  // once, thread-safe
  if (!loaded.table && why != nullptr)
    *why = loaded.why;
  return loaded.table ? &*loaded.table : nullptr;
}

}  // namespace shipmate::integrations
