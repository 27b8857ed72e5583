// Waiting for an answer in chat: a keyed registry of open questions.
//
// Some work has to stop and ask a person ("the checks could not decide: continue or roll back?",
// and next, a runbook step's "run this?"). The asking coroutine calls ask() and is suspended
// until someone answers, the timeout passes, or the asker is cancelled; the command that carries
// the answer (`continue 12`, `abort 12`) calls answer(), which checks it and ends the wait at
// once. Keys name what is asked about ("deploy:12"), so each owner keeps to its own prefix.
//
// Contract
// - Event-loop thread only; no locking. The registry must outlive every ask() in progress.
// - ask() never throws for an expected outcome: it returns answered (with the choice and who
//   chose), timed_out, or cancelled. It is cancelled through the awaiting coroutine's
//   cancellation slot (bind_cancellation_slot, or a signal the caller owns) or cancel_all().
//   The timeout is measured on the Timers given at construction, so tests move time by hand.
// - One open question per key: ask() under a key that is already open returns `cancelled` at once
//   and leaves the open one alone.
// - answer() decides synchronously: a refusal (no open question, a choice not offered, or the
//   asker's `may_answer` check said no) changes nothing and says why in one line; an accepted
//   answer closes the question, so a second answer finds nothing open.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "commands/caller.h"
#include "common/result.h"

namespace shipmate {
class Timers;
}

namespace shipmate::commands {

struct QuestionOutcome {
  enum class Kind { answered, timed_out, cancelled };
  Kind kind = Kind::cancelled;
  std::string choice;       // when answered: one of the choices offered
  std::string answered_by;  // when answered: the caller's user id
};

// Who may give which answer; Ok or a one-line refusal ("bob may not deploy in production").
using MayAnswer = std::function<Status(const std::string& choice, const Caller& caller)>;

struct AnswerVerdict {
  enum class Kind { accepted, refused, not_open };
  Kind kind = Kind::not_open;
  std::string reason;  // for refused / not_open: why, for a person
  bool accepted() const { return kind == Kind::accepted; }
};

class PendingQuestions {
 public:
  explicit PendingQuestions(Timers& timers);
  ~PendingQuestions();
  PendingQuestions(const PendingQuestions&) = delete;
  PendingQuestions& operator=(const PendingQuestions&) = delete;

  // Opens a question under `key` offering `choices` and waits for the outcome. `may_answer`
  // (optional) is asked about every answer before it is accepted.
  boost::asio::awaitable<QuestionOutcome> ask(std::string key, std::vector<std::string> choices,
                                              std::chrono::milliseconds timeout,
                                              MayAnswer may_answer = {});

  // An answer from chat; see the contract above.
  AnswerVerdict answer(const std::string& key, const std::string& choice, const Caller& caller);

  bool is_open(const std::string& key) const;
  std::size_t open_count() const;
  // Ends every open question as cancelled (shutdown).
  void cancel_all();

 private:
  struct Open;
  Timers& timers_;
  std::map<std::string, std::shared_ptr<Open>> open_;
};

}  // namespace shipmate::commands
