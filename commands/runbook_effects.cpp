// Carrying out one runbook step: exec, http, command, confirm, wait, notify.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "commands/deploy_runtime.h"
#include "commands/pending_questions.h"
#include "commands/runbook_run.h"
#include "common/redact.h"
#include "common/strings.h"
#include "common/timer.h"
#include "integrations/net/http_client.h"
#include "integrations/output_pump.h"
#include "integrations/process.h"
#include "runbooks/json_capture.h"

namespace shipmate::commands {
namespace fs = std::filesystem;
namespace asio = boost::asio;
using runbooks::StepFailed;
using runbooks::StepKind;
using runbooks::StepSpec;
using runbooks::StepSucceeded;

std::string first_line(std::string_view text, std::size_t limit) {
  text = trim(text);
  const auto newline = text.find('\n');
  std::string line(text.substr(0, newline));
  if (line.size() > limit)
    line = line.substr(0, limit) + "...";
  return line;
}

std::string tail_of(std::string_view text, std::size_t limit) {
  text = trim(text);
  if (text.size() <= limit)
    return std::string(text);
  return "..." + std::string(text.substr(text.size() - limit));
}

namespace {

RunbookRunner::Outcome failed(std::string detail, bool retryable = true, std::string log = {}) {
  RunbookRunner::Outcome outcome;
  outcome.event = StepFailed{detail, retryable};
  outcome.detail = std::move(detail);
  outcome.log = std::move(log);
  return outcome;
}

RunbookRunner::Outcome succeeded(std::map<std::string, std::string> outputs, std::string detail,
                                 std::string log = {}) {
  RunbookRunner::Outcome outcome;
  outcome.event = StepSucceeded{std::move(outputs)};
  outcome.detail = std::move(detail);
  outcome.log = std::move(log);
  outcome.ok = true;
  return outcome;
}

bool status_expected(const std::vector<int>& expected, int status) {
  if (expected.empty())
    return status >= 200 && status < 300;
  return std::find(expected.begin(), expected.end(), status) != expected.end();
}

// At most `limit` bytes from the start of the file (a step may have written far past the cap).
// Reads in small chunks: a buffer of the cap's size per step (4 MiB, zeroed, mapped and unmapped
// for a few bytes of output) cost the loop more than the step itself.
std::string read_file(const fs::path& path, std::size_t limit) {
  std::ifstream in(path, std::ios::binary);
  std::string out;
  char chunk[16 * 1024];
  while (in && out.size() < limit) {
    in.read(chunk, static_cast<std::streamsize>(std::min(sizeof chunk, limit - out.size())));
    out.append(chunk, static_cast<std::size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  }
  return out;
}

// Collects what a command step's command says, and passes it on to the run's thread while the
// run is there to take it (a command that outlived its step's timeout may outlive the run too;
// what it says after that goes to the log).
class CommandCapture final : public Conversation {
 public:
  CommandCapture(std::weak_ptr<RunbookRunner::Run> run, MessageRef thread, std::string address)
      : run_(std::move(run)), thread_(std::move(thread)), address_(std::move(address)) {}
  MessageRef post(const Message& message) override {
    note(message);
    forward(message);
    return std::to_string(++posts_);
  }
  void update(const MessageRef&, const Message& message) override {
    note(message);
    forward(message);
  }
  void thread_reply(const MessageRef&, const Message& message) override { forward(message); }
  std::string address() const override { return address_; }

  bool failed = false;
  std::string last;
  bool done = false;     // the command has returned
  bool waiting = false;  // the step waits for it (its completion wakes the wait)

 private:
  void note(const Message& message) {
    if (message.tone == Tone::error)
      failed = true;
    last = message.text;
  }
  void forward(const Message& message) {
    if (auto run = run_.lock(); run && run->conversation) {
      run->conversation->thread_reply(thread_, message);
      return;
    }
    spdlog::info("runbook command (after its step ended): {}", redact(message.text));
  }
  std::weak_ptr<RunbookRunner::Run> run_;
  MessageRef thread_;
  std::string address_;
  int posts_ = 0;
};

}  // namespace

asio::awaitable<RunbookRunner::Outcome> RunbookRunner::execute(Run& run, const StepSpec& step) {
  switch (step.kind) {
    case StepKind::exec:
      co_return co_await run_exec(run, step);
    case StepKind::http:
      co_return co_await run_http(run, step);
    case StepKind::command:
      co_return co_await run_command(run, step);
    case StepKind::confirm:
      co_return co_await run_confirm(run, step);
    case StepKind::wait:
      co_return co_await run_wait(run, step);
    case StepKind::notify:
      co_return run_notify(run, step);
  }
  co_return failed("unknown step kind", false);
}

runbooks::TemplateScope RunbookRunner::scope_of(const Run& run) {
  return {.definition = &run.definition,
          .params = &run.params,
          .outputs = &run.engine.state().outputs,
          .run_id = std::to_string(run.id),
          .run_by = run.starter.user_id};
}

runbooks::TemplateScope RunbookRunner::secret_scope_of(const Run& run) {
  runbooks::TemplateScope scope = scope_of(run);
  scope.reveal_secret = [this, &run](const std::string& param) { return reveal(run, param); };
  return scope;
}

struct RunbookRunner::ProcessWaiter {
  explicit ProcessWaiter(asio::any_io_executor executor)
      : wake(std::move(executor), asio::steady_timer::time_point::max()) {}
  asio::steady_timer wake;  // cancelled when the turn is handed over
  bool granted = false;
  bool gone = false;  // cancelled while waiting: passed by
};

asio::awaitable<bool> RunbookRunner::take_process_slot(Run& run) {
  const std::size_t limit = std::max<std::size_t>(1, ports_.max_processes);
  if (processes_running_ < limit && process_waiters_.empty()) {
    ++processes_running_;
    co_return true;
  }
  const auto executor = co_await asio::this_coro::executor;
  auto waiter = std::make_shared<ProcessWaiter>(executor);
  process_waiters_.push_back(waiter);
  auto waiting = waiter->wake.async_wait(
      asio::bind_cancellation_slot(run.cancel.slot(), asio::as_tuple(asio::use_awaitable)));
  co_await std::move(waiting);
  if (waiter->granted)
    co_return true;
  waiter->gone = true;
  co_return false;
}

void RunbookRunner::release_process_slot() {
  while (!process_waiters_.empty()) {
    std::shared_ptr<ProcessWaiter> next = std::move(process_waiters_.front());
    process_waiters_.pop_front();
    if (next->gone)
      continue;
    next->granted = true;  // the turn passes on; the count of running processes stays
    next->wake.cancel();
    return;
  }
  --processes_running_;
}

std::size_t RunbookRunner::processes_waiting() const {
  return static_cast<std::size_t>(std::count_if(process_waiters_.begin(), process_waiters_.end(),
                                                [](const auto& w) { return !w->gone; }));
}

asio::awaitable<RunbookRunner::Outcome> RunbookRunner::run_exec(Run& run, const StepSpec& step) {
  const runbooks::TemplateScope plain = scope_of(run);
  const runbooks::TemplateScope secret_scope = secret_scope_of(run);
  integrations::ProcessSpec spec;
  for (const auto& arg : step.exec.argv) {
    auto expanded = runbooks::expand(arg, plain);
    if (!expanded)
      co_return failed(expanded.error().message, false);
    spec.argv.push_back(std::move(*expanded));  // one element, whatever it contains
  }
  const fs::path dir = fs::path(ports_.work_dir) / std::to_string(run.id);
  if (!step.exec.cwd.empty()) {
    auto cwd = runbooks::expand(step.exec.cwd, plain);
    if (!cwd)
      co_return failed(cwd.error().message, false);
    spec.cwd = *cwd;
  } else {
    spec.cwd = ports_.work_dir;
  }
  for (const auto& [name, value] : step.exec.env) {
    auto expanded = runbooks::expand(value, secret_scope);
    if (!expanded)
      co_return failed(expanded.error().message, false);
    spec.env[name] = std::move(*expanded);
  }
  std::vector<std::pair<fs::path, std::string>> secret_files;
  for (const auto& [name, value] : step.exec.files) {
    auto expanded = runbooks::expand(value, secret_scope);
    if (!expanded)
      co_return failed(expanded.error().message, false);
    const fs::path file = dir / (step.name + "." + name);
    spec.env[name] = file.string();
    secret_files.emplace_back(file, std::move(*expanded));
  }
  const fs::path log_path =
      dir / (step.name + "-" + std::to_string(run.engine.state().attempt) + ".log");
  spec.log_path = log_path.string();
  spec.log_cap = ports_.output_cap;  // output through a pipe: never more than the cap on disk
  // The file-system work (the run's directory, secret files, a stale log) and the fork and exec
  // happen on the spawner thread: with many runs at once, a thousand mkdirs on the loop stalled
  // it for seconds. The loop goes on with other runs meanwhile.
  auto cannot_write = std::make_shared<bool>(false);
  auto prepare = [dir, files = secret_files, log_path, cannot_write]() -> Status {
    std::error_code ignored;
    fs::create_directories(dir, ignored);
    fs::permissions(dir, fs::perms::owner_all, ignored);
    for (const auto& [file, value] : files) {
      const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const ssize_t wrote = fd < 0 ? -1 : ::write(fd, value.data(), value.size());
      if (fd >= 0)
        ::close(fd);
      if (wrote != static_cast<ssize_t>(value.size())) {
        *cannot_write = true;
        return make_error("cannot write " + file.string());
      }
    }
    fs::remove(log_path, ignored);
    return Ok{};
  };
  // Waits for a turn among the processes running now (RunbookPorts::max_processes).
  auto taking = take_process_slot(run);
  if (!co_await std::move(taking)) {
    co_return failed(run.abort_by ? "stopped: the run was aborted by " + *run.abort_by
                                  : std::string("not started: Shipmate is stopping"),
                     false);
  }
  struct TurnBack {
    RunbookRunner* runner;
    ~TurnBack() { runner->release_process_slot(); }
  } turn_back{this};
  auto starting = integrations::ChildProcess::start_off_loop(spec, std::move(prepare));
  auto started = co_await std::move(starting);
  std::error_code ec;
  if (!started) {
    for (const auto& file : secret_files)
      fs::remove(file.first, ec);
    co_return failed(started.error().message, !*cannot_write);
  }
  auto child = std::move(*started);
  const auto executor = co_await asio::this_coro::executor;
  const std::shared_ptr<integrations::OutputPump> pump = integrations::OutputPump::start(
      executor, child->take_output(), log_path.string(), ports_.output_cap);
  const std::string past_the_cap =
      "its output passed " + std::to_string(ports_.output_cap / 1024) + " KiB";
  // Passing the cap ends the wait for the child at once, through the run's signal (as an abort
  // does); the loop below then sees capped() and stops the child.
  std::weak_ptr<Run> weak_run;
  if (auto found = runs_.find(run.id); found != runs_.end())
    weak_run = found->second;
  pump->on_capped([weak_run] {
    if (auto alive = weak_run.lock())
      alive->cancel.emit(asio::cancellation_type::terminal);
  });
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(step.timeout_ms);
  std::optional<integrations::ExitStatus> exit;
  std::string stopped_because;
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    if (pump->capped()) {
      stopped_because = past_the_cap;
    } else if (now >= deadline) {
      stopped_because = "it ran past its timeout of " + format_duration(step.timeout_ms);
    } else if (run.abort_by) {
      stopped_because = "the run was aborted by " + *run.abort_by;
    } else if (stopping_) {
      // Shipmate stops: the journal keeps the step in flight for whoever reconciles the run.
      stopped_because = "Shipmate is stopping";
    }
    if (!stopped_because.empty()) {
      auto stopped = co_await child->stop(std::chrono::milliseconds(2000));
      exit = stopped;
      break;
    }
    // The exit wakes this at once (a pidfd, see integrations/process.h); so do an abort and the
    // output passing its cap (both through the run's cancellation signal), and the deadline.
    // Past the cap the pump has closed the pipe, so a child that goes on writing usually dies of
    // SIGPIPE first; one that ignores it is stopped here.
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
    auto waiting = asio::co_spawn(
        executor, child->wait_for(left),
        asio::bind_cancellation_slot(run.cancel.slot(), asio::as_tuple(asio::use_awaitable)));
    auto waited_or_error = co_await std::move(waiting);
    auto waited = std::get<1>(std::move(waited_or_error));  // an exception: cancelled early
    if (waited) {
      exit = waited;
      break;
    }
  }
  pump->on_capped({});
  for (const auto& file : secret_files)
    fs::remove(file.first, ec);
  // Everything the pump will write is in the file once it is finished: the pipe's end comes with
  // the exit of the child's group; a descendant that left the group and holds it is not waited
  // for past a moment.
  auto draining = pump->finish(std::chrono::milliseconds(2000));
  co_await std::move(draining);
  if (pump->capped() && stopped_because.empty())
    stopped_because = past_the_cap;
  // The log on disk and in the journal holds only redacted text, at most the cap.
  std::string raw = read_file(log_path, ports_.output_cap);
  if (pump->capped())
    raw += "\n[output cut at the cap]";
  if (pump->failed())
    raw += "\n[" + pump->error() + "]";
  const std::string log = redact(raw);
  {
    std::ofstream out(log_path, std::ios::binary | std::ios::trunc);
    out << log;
  }
  const int code = exit ? exit->code : -1;
  std::map<std::string, std::string> outputs = {{"stdout", tail_of(log, ports_.chat_tail)},
                                                {"exit_code", std::to_string(code)}};
  if (!stopped_because.empty())
    co_return failed("stopped: " + stopped_because, run.abort_by.has_value() ? false : true, log);
  const auto& expected = step.exec.expect_exit;
  if (std::find(expected.begin(), expected.end(), code) == expected.end()) {
    std::string why = exit ? exit->describe() : "ended without an exit status";
    const std::string last = first_line(tail_of(log, 300));
    co_return failed(spec.argv[0] + " " + why + (last.empty() ? "" : ": " + last), true, log);
  }
  co_return succeeded(std::move(outputs), spec.argv[0] + " exited with " + std::to_string(code),
                      log);
}

asio::awaitable<RunbookRunner::Outcome> RunbookRunner::run_http(Run& run, const StepSpec& step) {
  if (ports_.http == nullptr)
    co_return failed("no HTTP client is set up", false);
  const runbooks::TemplateScope plain = scope_of(run);
  const runbooks::TemplateScope secret_scope = secret_scope_of(run);
  integrations::net::HttpRequest request;
  request.method = step.http.method;
  auto url = runbooks::expand(step.http.url, plain);
  if (!url)
    co_return failed(url.error().message, false);
  request.url = *url;
  for (const auto& [name, value] : step.http.headers) {
    auto expanded = runbooks::expand(value, secret_scope);
    if (!expanded)
      co_return failed(expanded.error().message, false);
    request.headers.emplace_back(name, std::move(*expanded));
  }
  auto body = runbooks::expand(step.http.body, secret_scope);
  if (!body)
    co_return failed(body.error().message, false);
  request.body = std::move(*body);
  request.timeout = std::chrono::milliseconds(step.timeout_ms);
  const std::string what = request.method + " " + request.url;
  auto answer = co_await ports_.http->send(std::move(request));
  if (!answer)
    co_return failed(redact(answer.error().message));
  const std::string shown_body = redact(answer->body);
  std::map<std::string, std::string> outputs = {{"status", std::to_string(answer->status)},
                                                {"body", tail_of(shown_body, ports_.chat_tail)}};
  if (!status_expected(step.http.expect_status, answer->status)) {
    co_return failed(what + " answered " + std::to_string(answer->status) +
                         (shown_body.empty() ? "" : ": " + first_line(shown_body, 200)),
                     true, shown_body);
  }
  std::vector<std::string> captured;
  for (const auto& [name, path] : step.http.captures) {
    auto value = runbooks::json_capture(answer->body, path);
    if (!value)
      co_return failed(what + ": " + value.error().message, true, shown_body);
    outputs[name] = redact(*value);
    captured.push_back(name + "=" + first_line(outputs[name], 80));
  }
  co_return succeeded(std::move(outputs),
                      what + " answered " + std::to_string(answer->status) +
                          (captured.empty() ? "" : " (" + join(captured, ", ") + ")"),
                      shown_body);
}

asio::awaitable<RunbookRunner::Outcome> RunbookRunner::run_command(Run& run, const StepSpec& step) {
  if (!ports_.run_command)
    co_return failed("command steps are not set up", false);
  const runbooks::TemplateScope plain = scope_of(run);
  auto text = runbooks::expand(step.command, plain);
  if (!text)
    co_return failed(text.error().message, false);
  auto found = runs_.find(run.id);
  std::weak_ptr<Run> weak_run;
  if (found != runs_.end())
    weak_run = found->second;
  // The command runs on its own, so that the step's timeout can end the wait for it without
  // cutting a deploy off half-way; its completion wakes the wait through the run's signal.
  auto capture =
      std::make_shared<CommandCapture>(weak_run, run.status_ref, run.conversation->address());
  const auto executor = co_await asio::this_coro::executor;
  auto command_port = ports_.run_command;
  auto carry_out = [](decltype(command_port) port, std::string user, std::string command,
                      std::shared_ptr<CommandCapture> into,
                      std::weak_ptr<Run> owner) -> asio::awaitable<void> {
    co_await port(std::move(user), std::move(command), *into);
    into->done = true;
    if (into->waiting) {
      if (auto alive = owner.lock())
        alive->cancel.emit(asio::cancellation_type::terminal);
    }
  };
  asio::co_spawn(executor, carry_out(command_port, run.starter.user_id, *text, capture, weak_run),
                 asio::detached);
  const EpochMillis deadline = services_.clock.now_ms() + step.timeout_ms;
  while (!capture->done) {
    const long long left = deadline - services_.clock.now_ms();
    if (left <= 0)
      break;
    capture->waiting = true;
    auto sleeping = services_.timers.sleep_for(std::chrono::milliseconds(left));
    co_await asio::co_spawn(executor, std::move(sleeping),
                            asio::bind_cancellation_slot(run.cancel.slot(), asio::use_awaitable));
    capture->waiting = false;
    if (stopping_)
      co_return failed("Shipmate is stopping", false);
    // An abort wakes the wait too; the run still waits for the command, so that its cleanup
    // does not race the command it would undo.
  }
  if (!capture->done) {
    // Not retried: the command may still be at work, and running it again could do it twice.
    co_return failed("'" + first_line(*text, 120) + "' did not finish within " +
                         format_duration(step.timeout_ms) +
                         "; it goes on by itself (its own status shows how it ends)",
                     false);
  }
  if (capture->failed)
    co_return failed(first_line(capture->last), true);
  co_return succeeded({{"reply", first_line(capture->last)}}, first_line(capture->last));
}

asio::awaitable<RunbookRunner::Outcome> RunbookRunner::run_confirm(Run& run, const StepSpec& step) {
  const runbooks::TemplateScope plain = scope_of(run);
  auto prompt = runbooks::expand(step.prompt, plain);
  if (!prompt)
    co_return failed(prompt.error().message, false);
  const std::string id = std::to_string(run.id);
  Message ask(Tone::warning, *prompt);
  ask.context = "Answer with the buttons, or type 'runbook confirm " + id + "' or 'runbook abort " +
                id + "' (waits " + format_duration(step.timeout_ms) + ")";
  ask.buttons = {{"Confirm", "runbook confirm " + id, "primary"},
                 {"Abort", "runbook abort " + id, "danger"}};
  run.conversation->thread_reply(run.status_ref, ask);
  update_status(run, "waiting for confirmation: " + first_line(*prompt, 120));
  const runbooks::Definition& definition = run.definition;
  const Catalog& catalog = services_.catalog;
  const std::string env_name = [&] {
    const auto* param = definition.environment_param();
    if (param == nullptr || !run.params.values.count(param->name))
      return std::string();
    return run.params.values.at(param->name);
  }();
  std::vector<std::string> roles = step.confirm_roles;
  MayAnswer may_answer = [&definition, &catalog, env_name, roles](const std::string& choice,
                                                                  const Caller& caller) -> Status {
    const EnvironmentSpec* environment = catalog.find_environment(env_name);
    if (choice == "confirm" && !roles.empty()) {
      const bool allowed = caller.user != nullptr &&
                           (caller.user->has_role(kAdminRole) ||
                            std::any_of(roles.begin(), roles.end(), [&](const std::string& role) {
                              return caller.user->has_role(role);
                            }));
      if (!allowed) {
        return make_error(caller.user_id +
                          " may not confirm this step; it needs: " + join(roles, ", "));
      }
      return Ok{};
    }
    auto decision = authorize_runbook(definition, environment, caller);
    if (!decision.allowed)
      return make_error(decision.reason);
    return Ok{};
  };
  auto& questions = services_.runtime.questions();
  std::vector<std::string> choices = {"confirm", "abort"};
  auto asking = questions.ask(run.key(), std::move(choices),
                              std::chrono::milliseconds(step.timeout_ms), std::move(may_answer));
  const auto executor = co_await asio::this_coro::executor;
  // Bound to the run's signal: an abort or a shutdown ends the wait at once.
  auto outcome =
      co_await asio::co_spawn(executor, std::move(asking),
                              asio::bind_cancellation_slot(run.cancel.slot(), asio::use_awaitable));
  switch (outcome.kind) {
    case QuestionOutcome::Kind::answered:
      if (outcome.choice == "confirm")
        co_return succeeded({{"by", outcome.answered_by}}, "confirmed by " + outcome.answered_by);
      run.abort_by = outcome.answered_by;
      co_return failed("aborted by " + outcome.answered_by, false);
    case QuestionOutcome::Kind::timed_out:
      co_return failed("nobody confirmed within " + format_duration(step.timeout_ms), false);
    case QuestionOutcome::Kind::cancelled:
      break;
  }
  co_return failed("the confirmation was cancelled", false);
}

asio::awaitable<RunbookRunner::Outcome> RunbookRunner::run_wait(Run& run, const StepSpec& step) {
  const auto& state = run.engine.state();
  const std::pair<int, std::size_t> here{static_cast<int>(state.phase), state.cursor};
  if (run.wait_of != here) {
    run.wait_of = here;
    run.wait_started = services_.clock.now_ms();
  }
  const runbooks::TemplateScope plain = scope_of(run);
  bool satisfied = false;
  std::string detail;
  if (step.wait.probe == runbooks::WaitSpec::Probe::http) {
    auto url = runbooks::expand(step.wait.http.url, plain);
    if (!url)
      co_return failed(url.error().message, false);
    if (ports_.http == nullptr)
      co_return failed("no HTTP client is set up", false);
    integrations::net::HttpRequest request;
    request.url = *url;
    request.timeout = std::chrono::milliseconds(
        std::min<long long>(std::max<long long>(step.wait.interval_ms, 1000), 10'000));
    auto answer = co_await ports_.http->send(std::move(request));
    if (!answer) {
      detail = redact(answer.error().message);
    } else {
      satisfied = status_expected(step.wait.http.expect_status, answer->status);
      detail = "GET " + *url + " answered " + std::to_string(answer->status);
    }
  } else {
    if (services_.metrics == nullptr)
      co_return failed("no Prometheus is configured (metrics:)", false);
    // Values go into the query as PromQL string content: one cannot close its quotes.
    runbooks::TemplateScope quoted = plain;
    quoted.escape_value = [](std::string_view value) {
      return runbooks::escape_promql_string(value);
    };
    auto query = runbooks::expand(step.wait.query, quoted);
    if (!query)
      co_return failed(query.error().message, false);
    MetricCheckSpec check{.name = step.name,
                          .query = *query,
                          .max = step.wait.max,
                          .min = step.wait.min,
                          .expanded = true};
    const std::map<std::string, std::string> vars;
    auto verdict = co_await services_.metrics->evaluate(check, vars);
    satisfied = verdict.verdict == CheckVerdict::pass;
    detail = redact(verdict.message);
  }
  Outcome outcome;
  outcome.event =
      runbooks::ProbeResult{satisfied, detail, services_.clock.now_ms() - run.wait_started};
  outcome.detail = detail;
  outcome.ok = satisfied;
  co_return outcome;
}

RunbookRunner::Outcome RunbookRunner::run_notify(Run& run, const StepSpec& step) {
  const runbooks::TemplateScope plain = scope_of(run);
  auto text = runbooks::expand(step.text, plain);
  if (!text)
    return failed(text.error().message, false);
  Message message = info(redact(*text));
  if (step.channel.empty()) {
    run.conversation->thread_reply(run.status_ref, message);
    return succeeded({}, "posted in the run's thread");
  }
  std::unique_ptr<Conversation> where =
      services_.conversations ? services_.conversations->open(step.channel) : nullptr;
  if (!where)
    return failed("no conversation " + step.channel + " is reachable now");
  where->post(message);
  return succeeded({}, "posted to " + step.channel);
}

}  // namespace shipmate::commands
