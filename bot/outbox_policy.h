// What the reply outbox does next with one recorded reply: the decision, with no I/O.
//
// A reply row (storage/outbox_store.h) moves through these states in the sender
// (bot/reply_outbox.h), which tells decide() what happened and carries out what it answers:
//
//   recorded --committed--> sending --send_ok--> sent
//                             |  \--send_failed (not sent)--> waiting --retry_due--> sending
//                             |   \-send_failed (may have been posted)--> unknown
//   (found unsent at start) --restarted--> unknown --> checking --found--> sent
//                                                              \--absent--> sending
//
// A reply whose post may have reached the platform (the process was killed while it was out, or
// the connection dropped after the request left) is never posted again blindly: the sender first
// looks for it on the platform by its idempotency key (Slack: the message metadata of the bot's
// own messages in the thread or channel). Updates are idempotent (the same text on the same
// message), so they are simply sent again. A platform that cannot look (can_check false) gets the
// reply again: a duplicate is better than a lost answer. Retries back off (kFirstRetry doubling up
// to kLongestRetry); after kMaxAttempts the row is parked, still unsent in the database, and the
// next start tries it again.
//
// Contract: pure and thread-agnostic; every (state, input) pair has an answer (switches without a
// default, so a new state or input does not compile until each case has decided). An input that
// cannot happen in a state (a late answer for a row already sent) answers Action::none and keeps
// the state.
#pragma once

#include <chrono>
#include <string_view>

namespace shipmate::bot {

enum class OutboxState { recorded, sending, unknown, checking, waiting, sent, parked };

enum class OutboxInput {
  committed,        // the row is in the database (live path)
  restarted,        // the row was found unsent at start-up
  send_ok,          // the platform took it and gave its id
  send_not_sent,    // failed before the platform can have acted (connect failed, 5xx, 429)
  send_maybe_sent,  // failed after the request left (dropped socket, timeout): maybe posted
  send_refused,     // the platform refused it for good (channel gone, bad request, token)
  check_found,      // the platform has it (its id comes with it)
  check_absent,     // the platform does not have it
  check_failed,     // the platform could not be asked
  retry_due,        // a waiting row's back-off has passed
};

enum class OutboxAction {
  none,
  send,       // hand the row to the platform
  check,      // look for the row on the platform by its key
  mark_sent,  // record the platform's id; the row is done
  retry,      // wait `delay`, then feed retry_due
  park,       // give up for now; the row stays unsent for the next start
};

struct OutboxRowProgress {
  OutboxState state = OutboxState::recorded;
  bool idempotent = false;  // an update: sending it twice changes nothing
  bool can_check = true;    // the platform can look for a message by its key
  int attempts = 0;         // sends and checks that failed so far
};

struct OutboxStep {
  OutboxState next;
  OutboxAction action;
  std::chrono::milliseconds delay{0};  // for Action::retry
};

inline constexpr int kOutboxMaxAttempts = 8;
inline constexpr std::chrono::milliseconds kOutboxFirstRetry{500};
inline constexpr std::chrono::milliseconds kOutboxLongestRetry{60000};

// The back-off before attempt `attempts` + 1: kFirstRetry doubling, at most kLongestRetry.
std::chrono::milliseconds outbox_retry_delay(int attempts);

// The step for `row` given `input`. The caller stores `next` (and counts a failed attempt
// itself: attempts + 1 after send_not_sent, send_maybe_sent and check_failed).
OutboxStep decide(const OutboxRowProgress& row, OutboxInput input);

std::string_view to_string(OutboxState state);
std::string_view to_string(OutboxInput input);
std::string_view to_string(OutboxAction action);

}  // namespace shipmate::bot
