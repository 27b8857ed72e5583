// Text into HTML, URLs and JSON for the web view (web/pages.h), with secrets redacted first.
//
// Contract
// - Pure functions; thread-safe (redact() may be called from any thread).
// - Every piece of text that reaches a page goes through one of these: append_text() and
//   escape() redact registered secrets (common/redact.h), then escape & < > " ' as entities, so
//   the result is safe both as element content and inside a quoted attribute value. Nothing in
//   the web view writes text into a page any other way.
// - query_value() percent-encodes everything but RFC 3986's unreserved characters, for building
//   links whose values came from the database or a request.
// - append_json() writes a redacted JSON string (common/strings.h's escapes).
#pragma once

#include <string>
#include <string_view>

namespace shipmate::web {

void append_text(std::string& out, std::string_view text);
std::string escape(std::string_view text);
std::string query_value(std::string_view text);
void append_json(std::string& out, std::string_view text);

}  // namespace shipmate::web
