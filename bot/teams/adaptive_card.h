// Renders platform-neutral commands::Message values as Adaptive Cards for Teams.
//
// A card holds the message's first line as its title (bold, coloured by tone), the rest as text
// (monospace when preformatted), the fields as a FactSet, the context as small subtle text, and
// the buttons as actions. Each button carries {"shipmate": "<command>"} as its data: the command
// it runs, as if the person pressing it typed it (it is authorized again for that person). Two
// styles: Universal Actions (`Action.Execute`, verb kCommandVerb; Teams answers with an invoke)
// or `Action.Submit` (Teams sends a message activity whose value is the data).
//
// Limits (Teams refuses a message over about 28 KB; cards show at most 6 actions): text is cut
// with an ellipsis at kMaxTextChars, fields at 20 of kMaxFieldChars each, buttons at 6, and the
// whole activity is kept under kMaxActivityBytes by shortening the text further.
//
// Contract: pure, thread-safe. Every string is passed through redact() before it is rendered.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "commands/reply.h"

namespace shipmate::bot::teams {

enum class ButtonStyle { execute, submit };

inline constexpr std::size_t kMaxTextChars = 12000;
inline constexpr std::size_t kMaxFieldChars = 1000;
inline constexpr std::size_t kMaxFields = 20;
inline constexpr std::size_t kMaxButtons = 6;
inline constexpr std::size_t kMaxActivityBytes = 26 * 1024;

// Long output (a log, a long table): Teams has no snippet upload for bots in channels, so a text
// over kMaxTextChars is sent as the message itself carrying the first part, then follow-up
// messages in its thread, each one part. Parts end at the last line break that fits (a single
// line longer than a part is cut at a UTF-8 boundary), at most kPartBytes each so that every
// activity stays under kMaxActivityBytes even with JSON escaping; at most kMaxParts, the last
// saying how many characters were left out. The text is redacted before it is split, so a secret
// cut in two is still caught.
inline constexpr std::size_t kPartBytes = 8000;
inline constexpr std::size_t kMaxParts = 25;

// `text` in parts of at most `max_bytes`, split at line breaks where possible (the break stays
// with the part it ends); concatenated they give `text` back.
std::vector<std::string> split_text(std::string_view text, std::size_t max_bytes);

// The messages `message` is sent as: itself when its text fits one card, else the first part
// with the title, fields and buttons and a note that the output continues in the thread, then
// one preformatted message per further part ("Part 2 of 5").
std::vector<commands::Message> split_long_message(const commands::Message& message);

// The Adaptive Card (a JSON object).
std::string render_card(const commands::Message& message, ButtonStyle style);

// A whole outgoing message activity: {"type":"message","summary":...,"attachments":[card]},
// under kMaxActivityBytes. `reply_to_id` (may be empty) threads it.
std::string render_message_activity(const commands::Message& message, ButtonStyle style,
                                    const std::string& reply_to_id = "");

// The invoke response that answers an Action.Execute: {"statusCode":200,"type":
// "application/vnd.microsoft.card.adaptive","value":<card>}.
std::string render_invoke_card_response(const commands::Message& message);
// An invoke response carrying a message instead of a card (statusCode 200, or an error status).
std::string render_invoke_message_response(int status_code, const std::string& text);

}  // namespace shipmate::bot::teams
