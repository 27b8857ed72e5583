// Text typed in chat that travels on to other systems: the one allow-list every version (and
// git ref) must pass before it reaches any deploy target or CI pipeline, and the bound on
// free-text fields (reasons, lock notes).
//
// Why: a version typed in chat becomes a GitHub workflow input, a GitLab variable, a Jenkins
// parameter, an image tag, a git revision or a directory name. A workflow that interpolates its
// input into a shell step would run `$(...)`, `;`, backticks; `../` walks paths. So a version is
// letters, digits and `. _ - / +` only (ASCII: a Unicode lookalike is refused), does not start
// with `-` (an option to some tool), `.` (a hidden or relative path) or `/`, contains no `..`,
// and is at most kMaxVersionLength characters. One more shape is accepted because container
// images are pinned that way: a content digest, `sha256:` (or sha384/sha512) and its lowercase
// hex digits, nothing else.
//
// Contract: pure functions, any thread. They answer Ok or an Error (kind `invalid`) written for
// the person who typed the text; the error quotes the text made safe to show (control and non-ASCII
// bytes as \xNN, cut after a few dozen characters). Targets may refuse more (a local release must
// exist, an image tag has its own grammar); none may accept less.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"

namespace shipmate {

inline constexpr std::size_t kMaxVersionLength = 128;
inline constexpr std::size_t kMaxFreeTextLength = 500;

// Ok when `version` passes the allow-list above.
Status validate_version(std::string_view version);

// Ok when `text` (a reason, a lock note) is at most kMaxFreeTextLength characters; `field`
// names it in the refusal ("reason").
Status validate_free_text(std::string_view field, std::string_view text);

// `text` quoted for an error message: printable ASCII kept, other bytes as \xNN, at most
// `limit` characters then "...".
std::string quote_for_message(std::string_view text, std::size_t limit = 40);

}  // namespace shipmate
