#include "commands/pending_questions.h"

#include <algorithm>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/strings.h"
#include "common/timer.h"

namespace shipmate::commands {
namespace asio = boost::asio;

struct PendingQuestions::Open {
  std::vector<std::string> choices;
  MayAnswer may_answer;
  // Ends the timeout sleep early: emitted by answer(), cancel_all() or the asker's own slot.
  asio::cancellation_signal wake;
  bool answered = false;
  std::string choice;
  std::string answered_by;
};

PendingQuestions::PendingQuestions(Timers& timers) : timers_(timers) {}

PendingQuestions::~PendingQuestions() = default;

asio::awaitable<QuestionOutcome> PendingQuestions::ask(std::string key,
                                                       std::vector<std::string> choices,
                                                       std::chrono::milliseconds timeout,
                                                       MayAnswer may_answer) {
  // Cancellation must end the wait, not throw out of the asker.
  co_await asio::this_coro::throw_if_cancelled(false);
  if (open_.count(key) > 0)
    co_return QuestionOutcome{};
  auto open = std::make_shared<Open>();
  open->choices = std::move(choices);
  open->may_answer = std::move(may_answer);
  open_[key] = open;

  // The asker's cancellation (a deploy's signal, say) is forwarded to this question's own
  // signal, which the sleep below is bound to; answer() emits the same signal.
  asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
  asio::cancellation_slot outer = state.slot();
  if (outer.is_connected())
    outer.assign([open](asio::cancellation_type type) { open->wake.emit(type); });
  const auto executor = co_await asio::this_coro::executor;
  auto sleep = timers_.sleep_for(timeout);
  const bool elapsed =
      co_await asio::co_spawn(executor, std::move(sleep),
                              asio::bind_cancellation_slot(open->wake.slot(), asio::use_awaitable));
  if (outer.is_connected())
    outer.clear();
  if (auto found = open_.find(key); found != open_.end() && found->second == open)
    open_.erase(found);

  QuestionOutcome outcome;
  if (open->answered) {
    outcome.kind = QuestionOutcome::Kind::answered;
    outcome.choice = open->choice;
    outcome.answered_by = open->answered_by;
  } else if (elapsed) {
    outcome.kind = QuestionOutcome::Kind::timed_out;
  } else {
    outcome.kind = QuestionOutcome::Kind::cancelled;
  }
  co_return outcome;
}

AnswerVerdict PendingQuestions::answer(const std::string& key, const std::string& choice,
                                       const Caller& caller) {
  auto found = open_.find(key);
  if (found == open_.end())
    return {AnswerVerdict::Kind::not_open, "nothing is waiting for an answer"};
  std::shared_ptr<Open> open = found->second;
  if (std::find(open->choices.begin(), open->choices.end(), choice) == open->choices.end()) {
    return {AnswerVerdict::Kind::refused,
            "'" + choice + "' is not one of the answers (" + join(open->choices, ", ") + ")"};
  }
  if (open->may_answer) {
    if (auto allowed = open->may_answer(choice, caller); !allowed)
      return {AnswerVerdict::Kind::refused, allowed.error().message};
  }
  open->answered = true;
  open->choice = choice;
  open->answered_by = caller.user_id;
  open_.erase(found);
  open->wake.emit(asio::cancellation_type::terminal);
  return {AnswerVerdict::Kind::accepted, ""};
}

bool PendingQuestions::is_open(const std::string& key) const {
  return open_.count(key) > 0;
}

std::size_t PendingQuestions::open_count() const {
  return open_.size();
}

void PendingQuestions::cancel_all() {
  auto open = std::move(open_);
  open_.clear();
  for (auto& [key, question] : open)
    question->wake.emit(asio::cancellation_type::terminal);
}

}  // namespace shipmate::commands
