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

#include "commands/reply.h"

namespace shipmate::bot::teams {

enum class ButtonStyle { execute, submit };

inline constexpr std::size_t kMaxTextChars = 12000;
inline constexpr std::size_t kMaxFieldChars = 1000;
inline constexpr std::size_t kMaxFields = 20;
inline constexpr std::size_t kMaxButtons = 6;
inline constexpr std::size_t kMaxActivityBytes = 26 * 1024;

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
