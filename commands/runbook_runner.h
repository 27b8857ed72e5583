// The runbook executor: carries out what the engine (runbooks/engine.h) answers, journals every
// step before and after its effect (storage/runbook_store.h), reports in one status message per
// run (updated in place, details in its thread) and audits every run and step.
//
// Contract
// - Event-loop thread only. The runner must outlive every run it drives; shutdown() cancels
//   their waits (a sleep, a confirmation) so the loop can drain.
// - Effects, each bounded: exec runs an argv vector through integrations/process.h (no shell;
//   secrets reach the process only through its environment or a 0600 file named in it, never
//   argv), stopped at its timeout or when its output passes `output_cap` (the output reaches its
//   log through a pipe and integrations/output_pump.h, so no more than the cap is ever written);
//   the output is redacted and the full (redacted) log is stored, chat gets its tail. http goes
//   through the shared HttpClient with the step's timeout. command runs through the Router as the
//   person who started the run, so their permissions and every policy (locks, freezes, approvals)
//   apply; it fails when the command answers with an error. confirm asks through PendingQuestions
//   under "runbook:<id>" with buttons. wait probes HTTP or Prometheus (Services::metrics). notify
//   posts.
// - Every text that leaves (chat, journal, audit, logs) passes redact(); a secret's value is read
//   from its reference right before the step that needs it and registered for redaction first.
// - Journal writes go through one GroupCommit (commands/group_commit.h): all runs' writes of one
//   loop turn share a transaction, and a step's effect starts only once its "started" row has
//   committed. Audit records join the same transactions.
// - Crash safety: recover() at start-up reconciles every unfinished run through the engine's
//   Recovered rule (re-run, check, or wait for `runbook resume|abort`). A run whose definition's
//   hash changed since it began waits, and resume is refused; abort is always possible.
// - Replicas (issue 17): a run records its owner (Services::replica) and an epoch, and every
//   journal write is fenced on both (storage/runbook_store.h). recover() takes this replica's own
//   runs and dead replicas' (storage::decide_takeover), never a live replica's;
//   take_over_orphans() (each lease renewal) takes dead replicas' runs. Each takeover is one
//   compare-and-set that bumps the epoch, audited (runbook.taken_over) and announced once in the
//   run's thread by the one winner, then the run is reconciled exactly as after a restart. A run
//   whose write is refused by the fence (another replica took it over: this one was frozen or
//   cut off) stops at once, starts no further effect and says nothing more in chat.
// - Processes: at most `max_processes` exec steps' processes run at once (default 32); more wait
//   their turn in the order they asked (an abort or shutdown ends the wait). 1,000 runs started
//   together would otherwise start 1,000 processes, and hand each back to the loop in one sweep.
// - Errors for people are posted in the run's conversation; nothing here throws at the caller.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "commands/context.h"
#include "commands/group_commit.h"
#include "commands/permission.h"
#include "commands/runbook_library.h"
#include "runbooks/engine.h"
#include "storage/runbook_store.h"

namespace shipmate::integrations::net {
class HttpClient;
}

namespace shipmate::commands {

struct RunbookPorts {
  // Runs `text` as `user` through the Router (every policy applies) and replies into
  // `conversation`, which outlives the call.
  std::function<boost::asio::awaitable<void>(std::string user, std::string text,
                                             Conversation& conversation)>
      run_command;
  integrations::net::HttpClient* http = nullptr;
  std::string work_dir;                      // step logs and secret files (state_dir/runbooks)
  std::size_t output_cap = 4 * 1024 * 1024;  // bytes of output before an exec step is stopped
  std::size_t chat_tail = 1500;              // characters of output shown in chat
  std::size_t max_processes = 32;  // exec steps' processes running at once; more wait their turn
};

class RunbookRunner {
 public:
  RunbookRunner(Services& services, RunbookLibrary& library, storage::RunbookStore& store,
                RunbookPorts ports);
  ~RunbookRunner();
  RunbookRunner(const RunbookRunner&) = delete;
  RunbookRunner& operator=(const RunbookRunner&) = delete;

  // Starts a run of `definition` (parameters already bound and authorized) and drives it in the
  // command's conversation until it finishes or waits for an operator.
  boost::asio::awaitable<void> start(CommandContext& ctx, const runbooks::Definition& definition,
                                     runbooks::BoundParams params);
  // The runs' commands; each explains a refusal in ctx's conversation.
  boost::asio::awaitable<void> resume(CommandContext& ctx, std::int64_t id, bool skip);
  boost::asio::awaitable<void> abort(CommandContext& ctx, std::int64_t id);
  void confirm(CommandContext& ctx, std::int64_t id);
  void status(CommandContext& ctx, std::optional<std::int64_t> id);

  // Start-up: reconciles every run an earlier process of this replica (or a dead replica) left
  // unfinished (spawned on the executor).
  void recover();
  // Each lease renewal: takes over and reconciles the unfinished runs of dead replicas. Returns
  // how many this replica won.
  std::size_t take_over_orphans();
  // Shutdown: ends every wait; runs stay journaled and are reconciled at the next start. No
  // effect starts after it (a step whose journal row commits afterwards is left in flight).
  void shutdown();
  // After shutdown(), a rolling restart with replicas (commands/handover.h): each unfinished run
  // of this process is parked (one compare-and-set to no owner at the next epoch, audited as
  // runbook.handed_over), so a survivor takes it over at its next lease renewal and reconciles
  // it as a restart would, and anything this process would still write is fenced out.
  void hand_over(const std::string& why);
  std::size_t active() const { return runs_.size(); }
  std::size_t driving() const;  // runs whose coroutine is still under way (a stop waits for them)
  std::size_t processes_running() const { return processes_running_; }
  std::size_t processes_waiting() const;  // exec steps waiting for their turn

  struct Run;
  struct Outcome;

 private:
  boost::asio::awaitable<void> drive(std::shared_ptr<Run> run, runbooks::Event first);
  boost::asio::awaitable<Outcome> execute(Run& run, const runbooks::StepSpec& step);
  boost::asio::awaitable<Outcome> run_exec(Run& run, const runbooks::StepSpec& step);
  boost::asio::awaitable<Outcome> run_http(Run& run, const runbooks::StepSpec& step);
  boost::asio::awaitable<Outcome> run_command(Run& run, const runbooks::StepSpec& step);
  boost::asio::awaitable<Outcome> run_confirm(Run& run, const runbooks::StepSpec& step);
  boost::asio::awaitable<Outcome> run_wait(Run& run, const runbooks::StepSpec& step);
  Outcome run_notify(Run& run, const runbooks::StepSpec& step);

  Result<std::string> reveal(const Run& run, const std::string& param);
  // Template scopes for a run's steps: the plain one, and one that may also reveal secrets
  // (only where a step sends them to a process's environment or files, or an HTTP request).
  static runbooks::TemplateScope scope_of(const Run& run);
  runbooks::TemplateScope secret_scope_of(const Run& run);
  // The run's engine state into the journal, committed when this completes; false when the
  // fence refused it (the run was taken over: stop driving it).
  boost::asio::awaitable<bool> save(const Run& run, bool finished);
  // A write of `run` was refused by its fence: forget the run here (its new owner drives it).
  void fenced_out(Run& run);
  // Reconciles one unfinished stored run this replica now owns at `fence`; `how` says why in the
  // run's thread ("interrupted by a restart", "taken over by replica b: ...").
  void reconcile(storage::RunbookRunRecord stored, const std::string& how);
  // Takes another replica's unfinished run over when that replica is dead, then reconciles it;
  // false when its owner is alive or another survivor won it.
  bool take_over(storage::RunbookRunRecord stored);
  void update_status(Run& run, const std::string& doing);
  void finish(Run& run, const runbooks::Finish& finish);
  void audit(const Run& run, const std::string& actor, const std::string& action,
             const std::string& outcome, const std::string& text);
  std::optional<Refusal> may_act(const Run& run, const Caller& caller) const;
  std::shared_ptr<Run> find_or_explain(CommandContext& ctx, std::int64_t id);

  struct ProcessWaiter;
  // A turn to run an exec step's process: at most ports_.max_processes at once, the others in
  // the order they asked. False when the run was cancelled (abort, shutdown) while it waited.
  boost::asio::awaitable<bool> take_process_slot(Run& run);
  void release_process_slot();  // hands the turn to the next waiter, or frees it

  Services& services_;
  RunbookLibrary& library_;
  storage::RunbookStore& store_;
  RunbookPorts ports_;
  GroupCommit journal_;  // every journal and audit write of the runs, one commit per loop turn
  std::map<std::int64_t, std::shared_ptr<Run>> runs_;
  bool stopping_ = false;  // shutdown: runs stop where they are, journaled for the next start
  std::size_t processes_running_ = 0;
  std::deque<std::shared_ptr<ProcessWaiter>> process_waiters_;
};

// "name=value" lines, the journal's form of a run's parameters, and back.
std::string encode_params(const runbooks::BoundParams& params);
runbooks::BoundParams decode_params(const runbooks::Definition* definition, std::string_view text);

}  // namespace shipmate::commands
