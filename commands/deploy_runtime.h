// What the deploy flow keeps while it runs, apart from the database: which deploys run in this
// process, one cancellation signal per running deploy, and the questions they wait on.
//
// Services (context.h) is wiring only and points here; the application owns one DeployRuntime
// for its lifetime (tests own theirs).
//
// Contract
// - Event-loop thread only; no locking.
// - run_deploy() registers a deploy with track() for as long as its coroutine runs; the returned
//   Registration unregisters it when destroyed. is_running() is what recovery asks ("is this
//   in-flight row ours, or an orphan of an earlier process?").
// - Each registered deploy has one asio::cancellation_signal. The deploy's waits (sleep_for: a
//   bake time; ask: a question to an operator) are bound to it, so cancel(id) or cancel_all()
//   ends the current wait at once: sleep_for answers false, ask answers `cancelled`. A deploy
//   cancelled between waits stays cancelled: its next wait ends at once. Target operations are
//   not bound to the signal (the target's shutdown() stops those).
// - Sleeping goes through the Timers given at construction, so tests use manual time; the
//   deploy's CI polling sleeps through timers_for(id), so it is bound to the signal too.
// - cancel() records nothing: the caller records the cancellation in the database first
//   (cancel_running_deploys in deploy_recovery.h), and the woken deploy, finding itself
//   terminal, returns.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "commands/pending_questions.h"

namespace shipmate {
class Timers;
}

namespace shipmate::commands {

// The answers a deploy paused on inconclusive checks offers (the `continue N` / `abort N`
// commands give them).
inline constexpr std::string_view kContinueChoice = "continue";
inline constexpr std::string_view kAbortChoice = "abort";

class DeployRuntime {
 public:
  explicit DeployRuntime(Timers& timers);
  ~DeployRuntime();
  DeployRuntime(const DeployRuntime&) = delete;
  DeployRuntime& operator=(const DeployRuntime&) = delete;

  // Holds a deploy registered while its coroutine runs.
  class Registration {
   public:
    Registration(DeployRuntime& runtime, std::int64_t id) : runtime_(&runtime), id_(id) {}
    Registration(Registration&& other) noexcept
        : runtime_(std::exchange(other.runtime_, nullptr)), id_(other.id_) {}
    Registration& operator=(Registration&&) = delete;
    ~Registration();

   private:
    DeployRuntime* runtime_;
    std::int64_t id_;
  };
  [[nodiscard]] Registration track(std::int64_t id);

  bool is_running(std::int64_t id) const;
  std::vector<std::int64_t> running() const;
  bool cancelled(std::int64_t id) const;

  // Waits `duration` for deploy `id`: true when the time passed, false when the deploy was
  // cancelled (before or during the wait). An unregistered id just sleeps.
  boost::asio::awaitable<bool> sleep_for(std::int64_t id, std::chrono::milliseconds duration);
  // Asks question_key(id) through questions(), ended early by the deploy's cancellation.
  boost::asio::awaitable<QuestionOutcome> ask(std::int64_t id, std::vector<std::string> choices,
                                              std::chrono::milliseconds timeout,
                                              MayAnswer may_answer);
  // A Timers whose sleeps are deploy `id`'s own (sleep_for(id, ...) above), for code that takes
  // a Timers, such as CI polling (FollowOptions::timers); its cancel_all() cancels the deploy.
  std::unique_ptr<Timers> timers_for(std::int64_t id);
  // "deploy:12": the key deploy `id` asks its questions under.
  static std::string question_key(std::int64_t id);

  // Emits deploy `id`'s cancellation signal (and remembers it); no-op for an unknown id.
  void cancel(std::int64_t id);
  // The same for every running deploy (shutdown).
  void cancel_all();

  PendingQuestions& questions() { return questions_; }

 private:
  struct Entry;
  Entry* find(std::int64_t id) const;
  Timers& timers_;
  PendingQuestions questions_;
  std::map<std::int64_t, std::unique_ptr<Entry>> running_;
};

}  // namespace shipmate::commands
