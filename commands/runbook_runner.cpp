// The runbook runner: drives the engine, journals, reports, and the runs' commands.
#include "commands/runbook_runner.h"

#include <spdlog/spdlog.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "commands/deploy_runtime.h"
#include "commands/pending_questions.h"
#include "commands/runbook_run.h"
#include "common/redact.h"
#include "common/strings.h"
#include "common/timer.h"
#include "storage/deploy_ownership.h"

namespace shipmate::commands {
namespace asio = boost::asio;
using runbooks::Action;
using runbooks::Phase;
using runbooks::RunStatus;

namespace {

// Where a run reports when the conversation it started in is not reachable (after a restart).
class LogConversation final : public Conversation {
 public:
  explicit LogConversation(std::string address) : address_(std::move(address)) {}
  MessageRef post(const Message& message) override {
    spdlog::info("{}", redact(message.text));
    return "log";
  }
  void update(const MessageRef&, const Message& message) override {
    spdlog::info("{}", redact(message.text));
  }
  void thread_reply(const MessageRef&, const Message& message) override {
    spdlog::info("  {}", redact(message.text));
  }
  std::string address() const override { return address_; }

 private:
  std::string address_;
};

std::string phase_name(Phase phase) {
  return phase == Phase::main ? "main" : "cleanup";
}

const std::vector<runbooks::StepSpec>& steps_of(const runbooks::Definition& definition,
                                                Phase phase) {
  return phase == Phase::main ? definition.steps : definition.cleanup;
}

std::string audit_target(const RunbookRunner::Run& run) {
  std::string service = run.definition.service;
  std::string environment;
  for (const auto& param : run.definition.params) {
    auto it = run.params.values.find(param.name);
    if (it == run.params.values.end())
      continue;
    if (param.type == runbooks::ParamType::service && service.empty())
      service = it->second;
    if (param.type == runbooks::ParamType::environment && environment.empty())
      environment = it->second;
  }
  if (!service.empty() && !environment.empty())
    return service + "@" + environment;
  return "runbook:" + run.definition.name;
}

}  // namespace

std::string encode_params(const runbooks::BoundParams& params) {
  std::string out;
  for (const auto& [name, value] : params.values)
    out += name + "=" + value + "\n";
  return out;
}

runbooks::BoundParams decode_params(const runbooks::Definition* definition, std::string_view text) {
  runbooks::BoundParams params;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    const std::string_view line =
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    const auto equals = line.find('=');
    if (equals != std::string_view::npos)
      params.values[std::string(line.substr(0, equals))] = std::string(line.substr(equals + 1));
    if (end == std::string_view::npos)
      break;
    start = end + 1;
  }
  if (definition) {
    for (const auto& param : definition->params) {
      if (param.type == runbooks::ParamType::secret)
        params.secret_params.push_back(param.name);
    }
  }
  return params;
}

RunbookRunner::RunbookRunner(Services& services, RunbookLibrary& library,
                             storage::RunbookStore& store, RunbookPorts ports)
    : services_(services),
      library_(library),
      store_(store),
      ports_(std::move(ports)),
      journal_(services.executor, services.database) {}

RunbookRunner::~RunbookRunner() = default;

Result<std::string> RunbookRunner::reveal(const Run& run, const std::string& param) {
  auto it = run.params.values.find(param);
  if (it == run.params.values.end())
    return std::string();
  auto source = runbooks::SecretSource::decode(it->second);
  if (!source)
    return make_error("parameter " + param + " holds no secret reference");
  if (!source->secret.empty()) {
    const auto* configured = library_.secret(source->secret);
    if (configured == nullptr)
      return make_error("secret '" + source->secret + "' is not configured");
    source = *configured;
  }
  std::string value;
  if (!source->env.empty()) {
    const char* raw = std::getenv(source->env.c_str());
    if (raw == nullptr || *raw == '\0')
      return make_error("secret for " + param + ": environment variable " + source->env +
                        " is not set");
    value = raw;
  } else {
    std::ifstream in(source->file);
    if (!in)
      return make_error("secret for " + param + ": cannot read " + source->file);
    std::stringstream buffer;
    buffer << in.rdbuf();
    value = buffer.str();
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r'))
      value.pop_back();
  }
  register_secret(value);
  return value;
}

void RunbookRunner::audit(const Run& run, const std::string& actor, const std::string& action,
                          const std::string& outcome, const std::string& text) {
  storage::AuditEntry record{.actor = actor,
                             .action = action,
                             .target = audit_target(run),
                             .outcome = outcome,
                             .details = runbooks::runbook_audit_details(run.definition, run.params,
                                                                        std::to_string(run.id)) +
                                        text};
  // Joins this turn's journal transaction, after the writes queued before it.
  journal_.later([this, record = std::move(record)] { services_.audit.append(record); });
}

void RunbookRunner::update_status(Run& run, const std::string& doing) {
  const auto& state = run.engine.state();
  const std::size_t total = run.definition.steps.size();
  Message message(Tone::progress, run.label() + " by " + run.starter.display() + ": " + doing);
  const std::string described = run.params.describe();
  if (!described.empty())
    message.fields.push_back({"Parameters", described});
  if (state.phase == Phase::main && state.cursor < total) {
    message.fields.push_back({"Step", std::to_string(state.cursor + 1) + " of " +
                                          std::to_string(total) + ": " +
                                          run.definition.steps[state.cursor].name});
  } else if (state.phase == Phase::cleanup) {
    message.fields.push_back({"Step", "cleanup " + std::to_string(state.cursor + 1) + " of " +
                                          std::to_string(run.definition.cleanup.size())});
  }
  message.fields.push_back({"Elapsed", format_duration(services_.clock.now_ms() - run.started_at)});
  const std::string id = std::to_string(run.id);
  message.buttons = {{"Abort", "runbook abort " + id, "danger"}};
  if (state.status == RunStatus::waiting_operator) {
    message.tone = Tone::warning;
    message.buttons = {{"Run it again", "runbook resume " + id, "primary"},
                       {"Count it done", "runbook resume " + id + " --skip", ""},
                       {"Abort", "runbook abort " + id, "danger"}};
  }
  if (run.status_ref.empty()) {
    run.status_ref = run.conversation->post(message);
    journal_.later([this, id = run.id, ref = run.status_ref, fence = run.fence] {
      store_.set_message_ref(id, ref, fence);
    });
  } else {
    run.conversation->update(run.status_ref, message);
  }
}

void RunbookRunner::finish(Run& run, const runbooks::Finish& finish) {
  const std::string took = format_duration(services_.clock.now_ms() - run.started_at);
  const Tone tone = finish.status == RunStatus::succeeded ? Tone::success : Tone::error;
  Message message(tone, run.label() + " " + std::string(runbooks::to_string(finish.status)) + ": " +
                            finish.summary + " (took " + took + ")");
  const std::string described = run.params.describe();
  if (!described.empty())
    message.fields.push_back({"Parameters", described});
  message.fields.push_back({"Started by", run.starter.display()});
  if (run.status_ref.empty())
    run.status_ref = run.conversation->post(message);
  else
    run.conversation->update(run.status_ref, message);
  audit(run, "shipmate", "runbook." + std::string(runbooks::to_string(finish.status)),
        finish.status == RunStatus::succeeded ? "ok"
                                              : std::string(runbooks::to_string(finish.status)),
        finish.summary);
}

asio::awaitable<bool> RunbookRunner::save(const Run& run, bool finished) {
  const auto& state = run.engine.state();
  std::string status(runbooks::to_string(state.status));
  std::string encoded = runbooks::encode_state(state);
  const std::int64_t id = run.id;
  const storage::RunFence fence = run.fence;
  bool saved = false;
  auto writing =
      journal_.write([&] { saved = store_.save_state(id, status, encoded, finished, fence); });
  co_await std::move(writing);
  co_return saved;
}

void RunbookRunner::fenced_out(Run& run) {
  spdlog::warn(
      "runbook run {}: another replica has taken it over (this replica's epoch {} is stale); "
      "stopping here without acting",
      run.id, run.fence.epoch);
  run.driving = false;
  run.cancel.emit(asio::cancellation_type::terminal);
  auto it = runs_.find(run.id);
  if (it != runs_.end() && it->second.get() == &run)
    runs_.erase(it);
}

asio::awaitable<void> RunbookRunner::drive(std::shared_ptr<Run> run, runbooks::Event first) {
  run->driving = true;
  Action action = run->engine.resume(first);
  while (true) {
    if (auto* step = std::get_if<runbooks::RunStep>(&action)) {
      // `step` points into `action`, which the engine's next answer replaces: copy what is needed.
      const auto& spec = steps_of(run->definition, step->phase)[step->index];
      const auto& state = run->engine.state();
      storage::RunbookStepRecord record{.run_id = run->id,
                                        .phase = phase_name(step->phase),
                                        .index = static_cast<int>(step->index),
                                        .name = spec.name,
                                        .attempt = step->attempt};
      // Audited as it starts, so an incident's timeline shows what is being done while it runs;
      // the record commits with the step's row.
      audit(*run, run->starter.user_id, "runbook.step.started", "started",
            spec.name + " (" + std::string(runbooks::to_string(spec.kind)) + ", attempt " +
                std::to_string(step->attempt) + ")");
      // Journal first: once this has committed, a crash finds the step in flight.
      std::int64_t row = 0;
      {
        const std::string status(runbooks::to_string(state.status));
        const std::string encoded = runbooks::encode_state(state);
        const storage::RunFence fence = run->fence;
        auto journaling =
            journal_.write([&] { row = store_.step_started(record, status, encoded, fence); });
        co_await std::move(journaling);
      }
      if (row == 0) {
        fenced_out(*run);  // taken over: the effect is the new owner's to run, not this one's
        co_return;
      }
      if (stopping_) {  // stopped while the row committed: no effect starts after a stop
        run->driving = false;
        co_return;
      }
      update_status(*run, spec.kind == runbooks::StepKind::wait ? "waiting on " + spec.name
                                                                : "running " + spec.name);
      Outcome outcome = co_await execute(*run, spec);
      if (stopping_) {
        // Shutting down: the journal says the step is in flight; the next start reconciles it.
        run->driving = false;
        co_return;
      }
      runbooks::Event event = outcome.event;
      const bool aborted = run->abort_by.has_value();
      if (aborted) {
        // Told once: a cleanup the abort starts must not be aborted by the same request.
        event = runbooks::Abort{*run->abort_by};
        run->abort_by.reset();
      }
      action = run->engine.resume(event);
      const auto& after = run->engine.state();
      const bool finished = runbooks::is_finished(after.status);
      const std::string step_status = aborted ? "aborted" : (outcome.ok ? "succeeded" : "failed");
      {
        const std::string status(runbooks::to_string(after.status));
        const std::string encoded = runbooks::encode_state(after);
        const storage::RunFence fence = run->fence;
        bool recorded = false;
        auto journaling = journal_.write([&] {
          recorded = store_.step_finished(row, step_status, outcome.detail, outcome.log, run->id,
                                          status, encoded, finished, fence);
        });
        co_await std::move(journaling);
        if (!recorded) {
          fenced_out(*run);
          co_return;
        }
      }
      // A wait's unsatisfied probes are not news; everything else goes in the thread.
      const bool probing = spec.kind == runbooks::StepKind::wait && !outcome.ok &&
                           std::holds_alternative<runbooks::Sleep>(action);
      if (!probing) {
        Message line(outcome.ok ? Tone::success : Tone::error,
                     spec.name + ": " + (outcome.detail.empty() ? step_status : outcome.detail));
        if (spec.kind == runbooks::StepKind::exec && !outcome.log.empty()) {
          line.text += "\n" + tail_of(outcome.log, ports_.chat_tail);
          line.preformatted = true;
        }
        run->conversation->thread_reply(run->status_ref, line);
        audit(*run, run->starter.user_id, "runbook.step", step_status,
              spec.name + " (" + std::string(runbooks::to_string(spec.kind)) + ", attempt " +
                  std::to_string(record.attempt) + "): " + first_line(outcome.detail));
      }
      continue;
    }
    if (auto* check = std::get_if<runbooks::RunCheck>(&action)) {
      const auto& spec = steps_of(run->definition, check->phase)[check->index];
      auto saving = save(*run, false);
      if (!co_await std::move(saving)) {
        fenced_out(*run);
        co_return;
      }
      update_status(*run, "checking whether " + spec.name + " already happened");
      bool done = false;
      std::string detail = "no check";
      if (spec.check) {
        Outcome outcome = co_await execute(*run, *spec.check);
        if (stopping_) {
          run->driving = false;
          co_return;
        }
        done = outcome.ok;
        detail = outcome.detail;
      }
      run->conversation->thread_reply(
          run->status_ref, info(spec.name + ": " + (done ? "already happened" : "did not happen") +
                                " (" + first_line(detail) + ")"));
      runbooks::Event event = runbooks::CheckResult{done, detail};
      if (run->abort_by) {
        event = runbooks::Abort{*run->abort_by};
        run->abort_by.reset();
      }
      action = run->engine.resume(event);
      auto saving_after = save(*run, runbooks::is_finished(run->engine.state().status));
      if (!co_await std::move(saving_after)) {
        fenced_out(*run);
        co_return;
      }
      continue;
    }
    if (auto* sleep = std::get_if<runbooks::Sleep>(&action)) {
      auto saving = save(*run, false);
      if (!co_await std::move(saving)) {
        fenced_out(*run);
        co_return;
      }
      if (sleep->why.rfind("retry", 0) == 0)
        run->conversation->thread_reply(run->status_ref, info(first_line(sleep->why)));
      update_status(*run, first_line(sleep->why, 160));
      const auto executor = co_await asio::this_coro::executor;
      auto waiting = services_.timers.sleep_for(std::chrono::milliseconds(sleep->ms));
      co_await asio::co_spawn(
          executor, std::move(waiting),
          asio::bind_cancellation_slot(run->cancel.slot(), asio::use_awaitable));
      if (stopping_) {
        run->driving = false;
        co_return;
      }
      runbooks::Event event = runbooks::SleepElapsed{};
      if (run->abort_by) {
        event = runbooks::Abort{*run->abort_by};
        run->abort_by.reset();
      }
      action = run->engine.resume(event);
      continue;
    }
    if (auto* ask = std::get_if<runbooks::AskOperator>(&action)) {
      auto saving = save(*run, false);
      if (!co_await std::move(saving)) {
        fenced_out(*run);
        co_return;
      }
      const std::string id = std::to_string(run->id);
      Message message(Tone::warning, run->label() + " waits: " + ask->reason + ".");
      message.context = "'runbook resume " + id + "' runs the step again, 'runbook resume " + id +
                        " --skip' counts it done, 'runbook abort " + id + "' stops the run.";
      run->conversation->thread_reply(run->status_ref, message);
      update_status(*run, "waiting for an operator");
      audit(*run, "shipmate", "runbook.waiting", "waiting", ask->reason);
      run->driving = false;
      co_return;
    }
    if (auto* done = std::get_if<runbooks::Finish>(&action)) {
      // Queued, not awaited: after a step the finished state has already committed with the
      // step's end, and the run leaves runs_ in this same turn, as it always has.
      const auto& final_state = run->engine.state();
      journal_.later([this, id = run->id,
                      status = std::string(runbooks::to_string(final_state.status)),
                      encoded = runbooks::encode_state(final_state),
                      fence = run->fence] { store_.save_state(id, status, encoded, true, fence); });
      finish(*run, *done);
      run->driving = false;
      runs_.erase(run->id);
      co_return;
    }
    if (auto* refused = std::get_if<runbooks::Refused>(&action)) {
      spdlog::error("runbook run {}: the engine refused an event: {}", run->id, refused->reason);
      run->driving = false;
      co_return;
    }
  }
}

asio::awaitable<void> RunbookRunner::start(CommandContext& ctx,
                                           const runbooks::Definition& definition,
                                           runbooks::BoundParams params) {
  runbooks::RunState initial;
  storage::RunbookRunRecord record{.runbook = definition.name,
                                   .hash = definition.hash,
                                   .params = encode_params(params),
                                   .started_by = ctx.caller.user_id,
                                   .chat_ref = ctx.conversation.address(),
                                   .status = "running",
                                   .state = runbooks::encode_state(initial),
                                   .owner = services_.replica};
  std::int64_t id = 0;
  {
    auto creating = journal_.write([&] { id = store_.create_run(record); });
    co_await std::move(creating);
  }
  auto run = std::make_shared<Run>(definition, initial);
  run->id = id;
  run->params = std::move(params);
  run->starter = ctx.caller;
  run->conversation = &ctx.conversation;
  run->started_at = services_.clock.now_ms();
  run->fence = storage::RunFence{services_.replica, 0};
  runs_[id] = run;
  audit(*run, ctx.caller.user_id, "runbook.started", "ok", "started");
  update_status(*run, "starting");
  co_await drive(run, runbooks::Start{});
}

std::optional<Refusal> RunbookRunner::may_act(const Run& run, const Caller& caller) const {
  if (caller.user_id == run.starter.user_id && caller.user != nullptr)
    return std::nullopt;
  const auto* param = run.definition.environment_param();
  const EnvironmentSpec* environment = nullptr;
  if (param != nullptr && run.params.values.count(param->name))
    environment = services_.catalog.find_environment(run.params.values.at(param->name));
  auto decision = authorize_runbook(run.definition, environment, caller);
  if (decision.allowed)
    return std::nullopt;
  return Refusal{decision.reason, "runbook.refused", audit_target(run), decision.reason};
}

std::shared_ptr<RunbookRunner::Run> RunbookRunner::find_or_explain(CommandContext& ctx,
                                                                   std::int64_t id) {
  journal_.flush();  // what the runs wrote this turn, before reading
  auto it = runs_.find(id);
  if (it != runs_.end())
    return it->second;
  auto stored = store_.get(id);
  if (!stored) {
    ctx.conversation.post(error_message("No runbook run #" + std::to_string(id) +
                                        "; 'runbook status' lists the recent ones"));
  } else if (!stored->finished_at && stored->owner != services_.replica) {
    ctx.conversation.post(error_message(
        "Runbook run #" + std::to_string(id) + " (" + stored->runbook + ") is driven by replica " +
        (stored->owner.empty() ? std::string("(unnamed)") : stored->owner) + ", not this one (" +
        services_.replica +
        "), and only its owner resumes, aborts or confirms it; send the command again (it may "
        "reach that replica)"));
  } else {
    ctx.conversation.post(error_message("Runbook run #" + std::to_string(id) + " (" +
                                        stored->runbook + ") has already " + stored->status));
  }
  return nullptr;
}

asio::awaitable<void> RunbookRunner::resume(CommandContext& ctx, std::int64_t id, bool skip) {
  auto run = find_or_explain(ctx, id);
  if (!run)
    co_return;
  if (auto refusal = may_act(*run, ctx.caller)) {
    ctx.conversation.post(error_message("Resume refused: " + refusal->reply));
    co_return;
  }
  if (run->hash_changed) {
    ctx.conversation.post(error_message(
        "Resume refused: runbook " + run->definition.name + " changed since run #" +
        std::to_string(id) +
        " began, so its remaining steps are not the ones it started with; 'runbook abort " +
        std::to_string(id) + "' ends it, then start it again"));
    co_return;
  }
  if (run->driving || run->engine.state().status != RunStatus::waiting_operator) {
    ctx.conversation.post(error_message(run->label() + " is not waiting for an operator"));
    co_return;
  }
  audit(*run, ctx.caller.user_id, "runbook.resumed", "ok",
        skip ? "counted the step done" : "run the step again");
  ctx.conversation.post(info(
      run->label() + (skip ? ": the step counts as done; going on" : ": running the step again")));
  co_await drive(run, runbooks::OperatorResume{skip});
}

asio::awaitable<void> RunbookRunner::abort(CommandContext& ctx, std::int64_t id) {
  auto run = find_or_explain(ctx, id);
  if (!run)
    co_return;
  if (auto refusal = may_act(*run, ctx.caller)) {
    ctx.conversation.post(error_message("Abort refused: " + refusal->reply));
    co_return;
  }
  audit(*run, ctx.caller.user_id, "runbook.abort", "ok", "abort requested");
  if (run->driving) {
    // A step is running or a wait is pending: stop it; the driver feeds the abort to the engine.
    run->abort_by = ctx.caller.user_id;
    auto& questions = services_.runtime.questions();
    if (questions.is_open(run->key()))
      questions.answer(run->key(), "abort", ctx.caller);
    run->cancel.emit(asio::cancellation_type::terminal);
    ctx.conversation.post(info(run->label() + ": aborting"));
    co_return;
  }
  if (run->hash_changed) {
    // The changed definition's cleanup is not the one the run began with: stop without it.
    runbooks::RunState state = run->engine.state();
    state.status = RunStatus::aborted;
    state.error = "aborted by " + ctx.caller.user_id;
    journal_.later(
        [this, id = run->id, encoded = runbooks::encode_state(state), fence = run->fence] {
          store_.save_state(id, "aborted", encoded, true, fence);
        });
    finish(*run, runbooks::Finish{RunStatus::aborted, state.error + " (definition had changed)"});
    runs_.erase(id);
    co_return;
  }
  co_await drive(run, runbooks::Abort{ctx.caller.user_id});
}

void RunbookRunner::confirm(CommandContext& ctx, std::int64_t id) {
  auto run = find_or_explain(ctx, id);
  if (!run)
    return;
  auto verdict = services_.runtime.questions().answer(run->key(), "confirm", ctx.caller);
  if (!verdict.accepted()) {
    ctx.conversation.post(error_message("Confirm refused: " +
                                        (verdict.kind == AnswerVerdict::Kind::not_open
                                             ? run->label() + " is not waiting for a confirmation"
                                             : verdict.reason)));
    return;
  }
  audit(*run, ctx.caller.user_id, "runbook.confirmed", "ok", "confirmed");
  ctx.conversation.post(success(run->label() + ": confirmed by " + ctx.caller.display()));
}

void RunbookRunner::status(CommandContext& ctx, std::optional<std::int64_t> id) {
  journal_.flush();  // what the runs wrote this turn, before reading
  if (!id) {
    auto runs = store_.recent(10);
    if (runs.empty()) {
      ctx.conversation.post(info("No runbook has run yet; 'runbook list' shows what can."));
      return;
    }
    std::string text = "Recent runbook runs:\n";
    for (const auto& run : runs) {
      text += "  #" + std::to_string(run.id) + "  " + run.runbook + "  " + run.status + "  by " +
              run.started_by + ", " + time_ago(services_.clock.now_ms() - run.started_at) + "\n";
    }
    Message message = info(std::string(trim(text)));
    message.preformatted = true;
    ctx.conversation.post(message);
    return;
  }
  auto stored = store_.get(*id);
  if (!stored) {
    ctx.conversation.post(error_message("No runbook run #" + std::to_string(*id)));
    return;
  }
  std::string text = "Runbook " + stored->runbook + " #" + std::to_string(stored->id) + ": " +
                     stored->status + ", started by " + stored->started_by + " " +
                     time_ago(services_.clock.now_ms() - stored->started_at) + "\n";
  for (const auto& step : store_.steps(*id)) {
    text += "  " + step.name + (step.phase == "main" ? "" : " (" + step.phase + ")") + " attempt " +
            std::to_string(step.attempt) + ": " + step.status +
            (step.detail.empty() ? "" : ": " + first_line(step.detail, 200)) + "\n";
  }
  auto state = runbooks::decode_state(stored->state);
  if (state && !state->error.empty())
    text += "  " + state->error + "\n";
  Message message = info(std::string(trim(text)));
  message.preformatted = true;
  ctx.conversation.post(message);
}

void RunbookRunner::recover() {
  for (auto& stored : store_.unfinished()) {
    if (stored.owner == services_.replica) {
      reconcile(std::move(stored), "was interrupted by a restart");
      continue;
    }
    // Another replica's run: a live one's is left alone; a dead one's is taken over first.
    take_over(std::move(stored));
  }
}

std::size_t RunbookRunner::take_over_orphans() {
  if (stopping_)
    return 0;
  journal_.flush();
  std::size_t won = 0;
  for (auto& stored : store_.unfinished()) {
    if (stored.owner == services_.replica || runs_.count(stored.id) > 0)
      continue;
    won += take_over(std::move(stored)) ? 1 : 0;
  }
  return won;
}

bool RunbookRunner::take_over(storage::RunbookRunRecord stored) {
  const storage::TakeoverDecision decision =
      storage::decide_takeover(services_.database, stored.owner, services_.replica,
                               services_.clock.now_ms(), services_.takeover_grace_ms);
  if (decision.verdict != storage::TakeoverVerdict::orphaned)
    return false;
  const auto epoch = store_.take_over(stored.id, {stored.owner, stored.epoch}, services_.replica);
  if (!epoch)
    return false;  // another survivor won it, or it finished meanwhile
  spdlog::warn("runbook run {}: taken over by replica {}: {}", stored.id, services_.replica,
               decision.why);
  stored.owner = services_.replica;
  stored.epoch = *epoch;
  reconcile(std::move(stored),
            "was taken over by replica " + services_.replica + " (" + decision.why + ")");
  return true;
}

void RunbookRunner::reconcile(storage::RunbookRunRecord stored, const std::string& how) {
  const storage::RunFence fence{stored.owner, stored.epoch};
  const bool taken_over = how.rfind("was taken over", 0) == 0;
  const std::string cut_off = taken_over ? "cut off: it " + how : "cut off by a restart";
  const runbooks::Definition* definition = library_.find(stored.runbook);
  std::unique_ptr<Conversation> where =
      services_.conversations ? services_.conversations->open(stored.chat_ref) : nullptr;
  if (!where)
    where = std::make_unique<LogConversation>(stored.chat_ref);
  auto state = runbooks::decode_state(stored.state);
  if (definition == nullptr || !state) {
    const std::string why = definition == nullptr
                                ? "runbook " + stored.runbook + " no longer exists"
                                : state.error().message;
    runbooks::RunState failed_state;
    failed_state.status = RunStatus::failed;
    failed_state.error = why;
    if (!store_.interrupt_open_steps(stored.id, cut_off, fence) ||
        !store_.save_state(stored.id, "failed", runbooks::encode_state(failed_state), true, fence))
      return;
    where->post(error_message("Runbook run #" + std::to_string(stored.id) + " (" + stored.runbook +
                              ") " + how + " and cannot go on: " + why));
    return;
  }
  const bool hash_changed = definition->hash != stored.hash;
  const std::string reason = "runbook " + definition->name +
                             " changed since this run began (hash " + stored.hash.substr(0, 12) +
                             " then, " + definition->hash.substr(0, 12) + " now)";
  if (hash_changed) {
    state->status = RunStatus::waiting_operator;
    state->operator_reason = reason;
  }
  auto run = std::make_shared<Run>(*definition, *state);
  run->id = stored.id;
  run->params = decode_params(definition, stored.params);
  run->starter = Caller{stored.started_by, services_.catalog.find_user(stored.started_by)};
  run->owned = std::move(where);
  run->conversation = run->owned.get();
  run->status_ref = stored.message_ref;
  run->started_at = stored.started_at;
  run->fence = fence;
  if (!store_.interrupt_open_steps(stored.id, cut_off, fence))
    return;  // taken over again meanwhile
  runs_[run->id] = run;
  if (taken_over) {
    audit(*run, "shipmate", "runbook.taken_over", "ok",
          "by replica " + services_.replica + ": " + how);
  }
  audit(*run, "shipmate", "runbook.recovered", "ok",
        taken_over ? "reconciled after a takeover" : "reconciled after a restart");
  if (hash_changed) {
    run->hash_changed = true;
    if (!store_.save_state(run->id, "waiting", runbooks::encode_state(*state), false, fence)) {
      runs_.erase(run->id);
      return;
    }
    Message message(Tone::warning,
                    run->label() + " " + how + " and cannot resume: " + reason + ".");
    message.context = "'runbook abort " + std::to_string(run->id) + "' ends it.";
    run->conversation->post(message);
    return;
  }
  // A new message, and a new status message from here on: the old one's reference belonged to
  // the process that posted it (a Slack reply's reference is local to its process's queue).
  run->status_ref.clear();
  run->conversation->post(warning(run->label() + " " + how + "; reconciling"));
  asio::co_spawn(services_.executor, drive(run, runbooks::Recovered{}), asio::detached);
}

std::size_t RunbookRunner::driving() const {
  std::size_t count = 0;
  for (const auto& [id, run] : runs_)
    count += run->driving ? 1 : 0;
  return count;
}

void RunbookRunner::hand_over(const std::string& why) {
  journal_.flush();
  for (auto& [id, run] : runs_) {
    const auto epoch = store_.take_over(id, run->fence, "");
    if (!epoch)
      continue;  // taken over already (this replica was frozen or cut off)
    spdlog::info("runbook run {}: handed over ({})", id, why);
    audit(*run, "shipmate", "runbook.handed_over", "ok",
          "by replica " + services_.replica + " (" + why + "); another replica carries it on");
  }
  journal_.flush();
}

void RunbookRunner::shutdown() {
  stopping_ = true;
  for (auto& [id, run] : runs_)
    run->cancel.emit(asio::cancellation_type::terminal);
  journal_.flush();  // last: it throws when the database is out of reach
}

}  // namespace shipmate::commands
