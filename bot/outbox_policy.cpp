#include "bot/outbox_policy.h"

#include <algorithm>

namespace shipmate::bot {

std::chrono::milliseconds outbox_retry_delay(int attempts) {
  const int doublings = std::clamp(attempts - 1, 0, 20);
  const auto delay = kOutboxFirstRetry * (std::int64_t{1} << doublings);
  return std::min<std::chrono::milliseconds>(delay, kOutboxLongestRetry);
}

namespace {

constexpr OutboxStep stay(OutboxState state) {
  return {state, OutboxAction::none, {}};
}

// What a row whose post may already be on the platform does next.
OutboxStep when_unsure(const OutboxRowProgress& row) {
  if (row.idempotent || !row.can_check)
    return {OutboxState::sending, OutboxAction::send, {}};
  return {OutboxState::checking, OutboxAction::check, {}};
}

// After a failed attempt (the caller counts it): wait and try again, or park.
OutboxStep after_failure(const OutboxRowProgress& row, OutboxState retry_from) {
  const int failed = row.attempts + 1;
  if (failed >= kOutboxMaxAttempts)
    return {OutboxState::parked, OutboxAction::park, {}};
  // `retry_from` is what retry_due resumes: a plain resend, or a check first.
  return {retry_from, OutboxAction::retry, outbox_retry_delay(failed)};
}

}  // namespace

OutboxStep decide(const OutboxRowProgress& row, OutboxInput input) {
  switch (row.state) {
    case OutboxState::recorded:
      switch (input) {
        case OutboxInput::committed:
          return {OutboxState::sending, OutboxAction::send, {}};
        case OutboxInput::restarted:
          return when_unsure(row);
        case OutboxInput::send_ok:
        case OutboxInput::send_not_sent:
        case OutboxInput::send_maybe_sent:
        case OutboxInput::send_refused:
        case OutboxInput::check_found:
        case OutboxInput::check_absent:
        case OutboxInput::check_failed:
        case OutboxInput::retry_due:
          return stay(row.state);
      }
      break;
    case OutboxState::sending:
      switch (input) {
        case OutboxInput::send_ok:
          return {OutboxState::sent, OutboxAction::mark_sent, {}};
        case OutboxInput::send_not_sent:
          return after_failure(row, OutboxState::waiting);
        case OutboxInput::send_maybe_sent:
          // Sending it again could post it twice: look first (after the back-off).
          if (row.idempotent || !row.can_check)
            return after_failure(row, OutboxState::waiting);
          return after_failure(row, OutboxState::unknown);
        case OutboxInput::send_refused:
          return {OutboxState::parked, OutboxAction::park, {}};
        case OutboxInput::committed:
        case OutboxInput::restarted:
        case OutboxInput::check_found:
        case OutboxInput::check_absent:
        case OutboxInput::check_failed:
        case OutboxInput::retry_due:
          return stay(row.state);
      }
      break;
    case OutboxState::unknown:
      switch (input) {
        case OutboxInput::restarted:
        case OutboxInput::retry_due:
          return when_unsure(row);
        case OutboxInput::committed:
        case OutboxInput::send_ok:
        case OutboxInput::send_not_sent:
        case OutboxInput::send_maybe_sent:
        case OutboxInput::send_refused:
        case OutboxInput::check_found:
        case OutboxInput::check_absent:
        case OutboxInput::check_failed:
          return stay(row.state);
      }
      break;
    case OutboxState::checking:
      switch (input) {
        case OutboxInput::check_found:
          return {OutboxState::sent, OutboxAction::mark_sent, {}};
        case OutboxInput::check_absent:
          return {OutboxState::sending, OutboxAction::send, {}};
        case OutboxInput::check_failed:
          return after_failure(row, OutboxState::unknown);
        case OutboxInput::committed:
        case OutboxInput::restarted:
        case OutboxInput::send_ok:
        case OutboxInput::send_not_sent:
        case OutboxInput::send_maybe_sent:
        case OutboxInput::send_refused:
        case OutboxInput::retry_due:
          return stay(row.state);
      }
      break;
    case OutboxState::waiting:
      switch (input) {
        case OutboxInput::retry_due:
          return {OutboxState::sending, OutboxAction::send, {}};
        case OutboxInput::committed:
        case OutboxInput::restarted:
        case OutboxInput::send_ok:
        case OutboxInput::send_not_sent:
        case OutboxInput::send_maybe_sent:
        case OutboxInput::send_refused:
        case OutboxInput::check_found:
        case OutboxInput::check_absent:
        case OutboxInput::check_failed:
          return stay(row.state);
      }
      break;
    case OutboxState::sent:
    case OutboxState::parked:
      switch (input) {
        case OutboxInput::committed:
        case OutboxInput::restarted:
        case OutboxInput::send_ok:
        case OutboxInput::send_not_sent:
        case OutboxInput::send_maybe_sent:
        case OutboxInput::send_refused:
        case OutboxInput::check_found:
        case OutboxInput::check_absent:
        case OutboxInput::check_failed:
        case OutboxInput::retry_due:
          return stay(row.state);
      }
      break;
  }
  return stay(row.state);
}

std::string_view to_string(OutboxState state) {
  switch (state) {
    case OutboxState::recorded:
      return "recorded";
    case OutboxState::sending:
      return "sending";
    case OutboxState::unknown:
      return "unknown";
    case OutboxState::checking:
      return "checking";
    case OutboxState::waiting:
      return "waiting";
    case OutboxState::sent:
      return "sent";
    case OutboxState::parked:
      return "parked";
  }
  return "?";
}

std::string_view to_string(OutboxInput input) {
  switch (input) {
    case OutboxInput::committed:
      return "committed";
    case OutboxInput::restarted:
      return "restarted";
    case OutboxInput::send_ok:
      return "send_ok";
    case OutboxInput::send_not_sent:
      return "send_not_sent";
    case OutboxInput::send_maybe_sent:
      return "send_maybe_sent";
    case OutboxInput::send_refused:
      return "send_refused";
    case OutboxInput::check_found:
      return "check_found";
    case OutboxInput::check_absent:
      return "check_absent";
    case OutboxInput::check_failed:
      return "check_failed";
    case OutboxInput::retry_due:
      return "retry_due";
  }
  return "?";
}

std::string_view to_string(OutboxAction action) {
  switch (action) {
    case OutboxAction::none:
      return "none";
    case OutboxAction::send:
      return "send";
    case OutboxAction::check:
      return "check";
    case OutboxAction::mark_sent:
      return "mark_sent";
    case OutboxAction::retry:
      return "retry";
    case OutboxAction::park:
      return "park";
  }
  return "?";
}

}  // namespace shipmate::bot
