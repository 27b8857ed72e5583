// Renders platform-neutral commands::Message values as Slack Block Kit.
//
// Contract: pure; respects Block Kit limits (section text 3000 chars, 10 fields, button text 75,
// value 2000, actions 25, context 10) by truncating with an ellipsis rather than failing. Each
// button's `value` is the command it runs; its action_id is "shipmate_cmd_<n>".
#pragma once

#include <string>

#include "commands/reply.h"

namespace shipmate::bot::slack {

// A JSON array of blocks.
std::string render_blocks(const commands::Message& message);
// The same, appended to `out` (a request body being written: no string of its own).
void append_blocks(std::string& out, const commands::Message& message);
// The notification text sent alongside blocks (and shown where blocks are not).
std::string fallback_text(const commands::Message& message);

}  // namespace shipmate::bot::slack
