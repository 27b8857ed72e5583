// Captures from a JSON answer by path, for http steps' `capture:`.
//
// A path is keys separated by dots with optional [n] indexes: "version", "data.items[0].id",
// "[2]". The value captured is a string as it is, a number or boolean as JSON writes it, null as
// "null", and an object or array as its compact JSON text.
//
// Contract: pure; never throws. An answer that is not JSON or a path that does not lead anywhere
// is an Error naming the path and where it stopped ("no key 'items' in data").
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace shipmate::runbooks {

Result<std::string> json_capture(std::string_view json, std::string_view path);

}  // namespace shipmate::runbooks
