// Who is asking: the identity a command runs as.
//
// Contract: a plain value. `user` points into the Catalog, which outlives every command; it is
// null for an identity the configuration does not name (such a caller may only read).
#pragma once

#include <string>

#include "commands/model.h"

namespace shipmate::commands {

struct Caller {
  std::string user_id;             // identity after platform mapping ("alice")
  const UserSpec* user = nullptr;  // null when the identity is not configured
  std::string display() const { return user && !user->name.empty() ? user->name : user_id; }
};

}  // namespace shipmate::commands
