// The command table: every chat command Shipmate understands, in one place.
#pragma once

#include "commands/registry.h"

namespace shipmate::commands {

// Builds the registry with every command's spec and handler.
CommandRegistry build_command_table();

}  // namespace shipmate::commands
