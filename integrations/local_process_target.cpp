#include "integrations/local_process_target.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

#include <boost/asio/awaitable.hpp>

#include "common/clock.h"
#include "common/strings.h"
#include "integrations/http_probe.h"
#include "integrations/local_process_core.h"
#include "integrations/process.h"
#include "integrations/tcp_forwarder.h"

namespace shipmate::integrations::local_process {

namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr std::size_t kMaxVersionLength = 128;
constexpr int kLogTailLines = 5;
// The destructor blocks the event loop while it stops children, so it caps the grace period.
constexpr milliseconds kDestructorGrace{1000};

bool valid_version(std::string_view version) {
  if (version.empty() || version.size() > kMaxVersionLength || version.front() == '.')
    return false;
  return std::all_of(version.begin(), version.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

bool is_digit(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) != 0;
}

// "v2" < "v10": digit runs compare by value, everything else byte by byte.
bool natural_less(const std::string& a, const std::string& b) {
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() && j < b.size()) {
    if (is_digit(a[i]) && is_digit(b[j])) {
      std::size_t i_end = i;
      std::size_t j_end = j;
      while (i_end < a.size() && is_digit(a[i_end]))
        ++i_end;
      while (j_end < b.size() && is_digit(b[j_end]))
        ++j_end;
      std::string_view x(a.data() + i, i_end - i);
      std::string_view y(b.data() + j, j_end - j);
      while (x.size() > 1 && x.front() == '0')
        x.remove_prefix(1);
      while (y.size() > 1 && y.front() == '0')
        y.remove_prefix(1);
      if (x.size() != y.size())
        return x.size() < y.size();
      if (x != y)
        return x < y;
      i = i_end;
      j = j_end;
    } else {
      if (a[i] != b[j])
        return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  if (a.size() - i != b.size() - j)
    return a.size() - i < b.size() - j;
  return a < b;
}

std::string substitute(std::string text, const std::map<std::string, std::string>& values) {
  for (const auto& [key, value] : values) {
    std::size_t at = 0;
    while ((at = text.find(key, at)) != std::string::npos) {
      text.replace(at, key.size(), value);
      at += value.size();
    }
  }
  return text;
}

// Asks the kernel for a free loopback port. Another process could take it before the service
// binds; the service then exits and the deploy fails with its log, which is good enough.
Result<int> pick_private_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return make_error(std::string("cannot create a socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    int error = errno;
    ::close(fd);
    return make_error(std::string("cannot find a free loopback port: ") + std::strerror(error));
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

std::uintmax_t file_size_or_zero(const std::string& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  return ec ? 0 : size;
}

// The last few non-empty lines written to `path` since `offset`, joined for a one-line message.
std::string log_tail(const std::string& path, std::uintmax_t offset) {
  constexpr std::uintmax_t kWindow = 16 * 1024;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return "";
  std::uintmax_t size = file_size_or_zero(path);
  std::uintmax_t from = std::max(offset, size > kWindow ? size - kWindow : 0);
  in.seekg(static_cast<std::streamoff>(from));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) {
    std::string_view trimmed = trim(line);
    if (trimmed.empty())
      continue;
    if (trimmed.size() > 200)
      trimmed = trimmed.substr(0, 200);
    lines.emplace_back(trimmed);
  }
  if (lines.size() > static_cast<std::size_t>(kLogTailLines)) {
    lines.erase(lines.begin(), lines.end() - kLogTailLines);
  }
  return join(lines, " | ");
}

std::string attempts_text(int n) {
  return std::to_string(n) + (n == 1 ? " attempt" : " attempts");
}

}  // namespace

Status Core::validate(const std::string& environment, const std::string& version) const {
  if (version.empty())
    return make_error("no version given for " + config_.service);
  if (!valid_version(version)) {
    return make_error("invalid version '" + version +
                      "': use letters, digits, '.', '_' and '-', not starting with '.'");
  }
  if (config_.environments.count(environment) == 0) {
    std::vector<std::string> known;
    for (const auto& [name, ignored] : config_.environments)
      known.push_back(name);
    return make_error("unknown environment '" + environment + "' for " + config_.service +
                      " (known: " + (known.empty() ? "none" : join(known, ", ")) + ")");
  }
  const std::string dir = release_dir(version);
  std::error_code ec;
  auto status = fs::status(dir, ec);
  if (status.type() == fs::file_type::not_found || (ec && !fs::exists(status))) {
    auto versions = available_versions();
    return make_error("no release " + version + " for " + config_.service + ": " + dir +
                      " does not exist (" +
                      (versions.empty() ? "no releases in " + config_.releases_dir
                                        : "available: " + join(versions, ", ")) +
                      ")");
  }
  if (!fs::is_directory(status)) {
    return make_error("no release " + version + " for " + config_.service + ": " + dir +
                      " is not a directory");
  }
  return Ok{};
}

std::vector<std::string> Core::available_versions() const {
  std::vector<std::string> versions;
  std::error_code ec;
  for (fs::directory_iterator it(config_.releases_dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    std::error_code type_error;
    if (valid_version(name) && it->is_directory(type_error))
      versions.push_back(std::move(name));
  }
  std::sort(versions.begin(), versions.end(), natural_less);
  return versions;
}

std::optional<std::string> Core::current_version(const std::string& environment) const {
  if (config_.environments.count(environment) == 0)
    return std::nullopt;
  const std::string dir = env_dir(environment);
  std::error_code ec;
  fs::path target = fs::read_symlink(dir + "/current", ec);
  if (!ec) {
    std::string name = target.filename().string();
    if (valid_version(name))
      return name;
  }
  // The symlink is the record; the version file only helps when someone replaced the link.
  std::ifstream in(dir + "/current_version");
  std::string version;
  if (in && std::getline(in, version)) {
    version = std::string(trim(version));
    if (valid_version(version))
      return version;
  }
  return std::nullopt;
}

std::string Core::describe(const std::string& environment) {
  auto it = envs_.find(environment);
  if (it == envs_.end())
    return "unknown environment '" + environment + "'";
  EnvState& env = it->second;
  forget_exited(env);
  std::string text;
  if (env.current && env.current->process->running()) {
    auto up = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() -
                                                       env.current->process->started_at());
    text = env.current->version +
           " at http://127.0.0.1:" + std::to_string(config_.environments.at(environment).port) +
           " (pid " + std::to_string(env.current->process->pid()) + ", up " +
           format_duration(up.count()) + ")";
  } else if (auto recorded = current_version(environment)) {
    text = *recorded + " recorded but not running";
    if (env.current && env.current->version == *recorded) {
      text += " (" + env.current->process->poll()->describe() + ")";
    }
  } else {
    text = "nothing deployed";
  }
  if (env.candidate) {
    const Instance& candidate = *env.candidate;
    text += "; candidate " + candidate.version;
    if (auto status = candidate.process->poll()) {
      text += " not running (" + status->describe() + "; was at " +
              std::to_string(env.candidate_percent) + "% of new connections)";
    } else {
      text += " at " + std::to_string(env.candidate_percent) + "% of new connections (pid " +
              std::to_string(candidate.process->pid()) +
              ", http://127.0.0.1:" + std::to_string(candidate.port) + ")";
    }
  }
  if (env.busy)
    text += "; deploying " + *env.busy;
  return text;
}

Status Core::record_current(const std::string& environment, const std::string& version) const {
  const std::string dir = env_dir(environment);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return make_error("cannot create " + dir + ": " + ec.message());
  // Called right after the failing call, so errno is still its error.
  auto fail = [&](const char* what, const std::string& path) {
    const int error = errno;
    return make_error("cannot record " + version + " as current for " + label(environment) + ": " +
                      what + " " + path + ": " + std::strerror(error));
  };
  const std::string version_file = dir + "/current_version";
  const std::string version_tmp = version_file + ".tmp";
  {
    std::ofstream out(version_tmp, std::ios::trunc);
    out << version << "\n";
    out.flush();
    if (!out)
      return fail("writing", version_tmp);
  }
  if (::rename(version_tmp.c_str(), version_file.c_str()) != 0)
    return fail("renaming", version_tmp);

  // rename() replaces the old link in one step, so a reader sees either release, never none.
  const std::string link = dir + "/current";
  const std::string link_tmp = dir + "/.current.tmp";
  ::unlink(link_tmp.c_str());
  fs::path release = fs::absolute(release_dir(version), ec);
  if (ec)
    release = release_dir(version);
  if (::symlink(release.c_str(), link_tmp.c_str()) != 0)
    return fail("creating", link_tmp);
  if (::rename(link_tmp.c_str(), link.c_str()) != 0)
    return fail("renaming", link_tmp);
  return Ok{};
}

asio::awaitable<Status> Core::run_check_command(std::shared_ptr<Core> self,
                                                const Starting& candidate) {
  const auto& health = self->config_.health;
  ProcessSpec spec;
  auto values = self->placeholders(candidate.environment, candidate.version, candidate.port);
  for (const auto& arg : health.command)
    spec.argv.push_back(substitute(arg, values));
  spec.cwd = self->release_dir(candidate.version);
  spec.env = self->process_env(candidate.environment, candidate.version, candidate.port);
  spec.log_path = candidate.log_path;
  auto starting = ChildProcess::start_off_loop(spec);
  auto started = co_await std::move(starting);
  if (!started)
    co_return make_error("cannot run the check command: " + started.error().message);
  std::shared_ptr<ChildProcess> check = std::move(*started);
  self->envs_[candidate.environment].live.push_back(check);
  auto status = co_await check->wait_for(health.timeout);
  if (!status) {
    co_await check->stop(milliseconds(0));
    co_return make_error("check command timed out after " + std::to_string(health.timeout.count()) +
                         " ms");
  }
  if (status->code == 0)
    co_return Ok{};
  co_return make_error("check command " + status->describe());
}

asio::awaitable<Result<int>> Core::check_health(std::shared_ptr<Core> self,
                                                const Starting& candidate, const ProgressFn& say,
                                                std::uint64_t epoch) {
  const auto& health = self->config_.health;
  const int attempts = std::max(1, health.retries);
  const std::string name = self->config_.service + " " + candidate.version;
  auto exited = [&](const ExitStatus& status) {
    std::string tail = log_tail(candidate.log_path, candidate.log_offset);
    return make_error(name + " " + status.describe() + " during its health check" +
                      (tail.empty() ? std::string(" (no output)") : "; last output: " + tail));
  };
  std::string last_problem;
  std::string last_reported;  // the problem of the last attempt reported (report_attempt())
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    // Waiting before every attempt (the first included) gives a fresh process time to bind, and
    // watching the process meanwhile turns a crash into an immediate failure.
    if (auto status = co_await candidate.process->wait_for(health.interval)) {
      co_return exited(*status);
    }
    // A stop (shutdown()) ends the checks between two attempts, whatever is left of them.
    if (self->epoch_ != epoch)
      co_return make_error(name + ": health check stopped: Shipmate is shutting down");
    Status verdict = Ok{};
    if (!health.http_path.empty()) {
      auto answer = co_await http_probe(candidate.port, health.http_path, health.timeout);
      if (!answer) {
        verdict = answer.error();
      } else if (answer->status < 200 || answer->status > 299) {
        verdict = make_error(describe_http_answer(*answer));
      }
    } else if (!health.command.empty()) {
      verdict = co_await run_check_command(self, candidate);
    }
    if (auto status = candidate.process->poll())
      co_return exited(*status);
    if (verdict)
      co_return attempt;
    last_problem = verdict.error().message;
    if (say && report_attempt(attempt, last_problem, last_reported)) {
      last_reported = last_problem;
      say("health check " + std::to_string(attempt) + "/" + std::to_string(attempts) + ": " +
          last_problem);
    }
  }
  co_return make_error(name + " failed its health check after " + attempts_text(attempts) +
                       " (last: " + last_problem + ")");
}

asio::awaitable<Result<Core::Starting>> Core::launch(std::shared_ptr<Core> self,
                                                     const std::string& environment,
                                                     const std::string& version,
                                                     const ProgressFn& progress,
                                                     std::uint64_t epoch) {
  auto say = [&progress](const std::string& line) {
    if (progress)
      progress(line);
  };
  const LocalTargetConfig& config = self->config_;
  const std::string service = config.service;
  EnvState& env = self->envs_[environment];

  // What to add to a failure so the reader knows traffic did not move.
  auto still_serving = [&env]() -> std::string {
    if (env.current && env.current->process->running()) {
      return "; " + env.current->version + " is still serving";
    }
    return "";
  };

  auto port = pick_private_port();
  if (!port)
    co_return port.error();

  Starting candidate;
  candidate.environment = environment;
  candidate.version = version;
  candidate.port = *port;
  candidate.log_path = self->env_dir(environment) + "/logs/" + version + ".log";

  ProcessSpec spec;
  auto values = self->placeholders(environment, version, *port);
  for (const auto& arg : config.start_command)
    spec.argv.push_back(substitute(arg, values));
  spec.cwd = self->release_dir(version);
  spec.env = self->process_env(environment, version, *port);
  spec.log_path = candidate.log_path;
  // A banner per start keeps runs apart in the appended log and marks where this run's output
  // begins, for the tail quoted when it crashes. Written on the spawner thread with the fork
  // (integrations/process.h), so neither blocks the event loop.
  const std::string banner = "=== shipmate: starting " + service + " " + version + " for " +
                             environment + " on 127.0.0.1:" + std::to_string(*port) + " at " +
                             format_utc(SystemClock().now_ms()) + " ===\n";
  auto log_offset = std::make_shared<std::uintmax_t>(0);
  auto write_banner = [log_path = candidate.log_path, banner, log_offset]() -> Status {
    std::error_code ignored;
    fs::create_directories(fs::path(log_path).parent_path(), ignored);
    {
      std::ofstream log(log_path, std::ios::app);
      log << banner;
    }
    *log_offset = file_size_or_zero(log_path);
    return Ok{};
  };
  auto starting = ChildProcess::start_off_loop(spec, std::move(write_banner));
  auto started = co_await std::move(starting);
  candidate.log_offset = *log_offset;
  if (!started) {
    co_return make_error("cannot start " + service + " " + version + ": " +
                         started.error().message + still_serving());
  }
  candidate.process = std::move(*started);
  if (self->epoch_ != epoch) {
    // shutdown() came while the process was being started, so it did not see this one: left
    // alone, it would run every health check before the stop could end.
    co_await candidate.process->stop(config.stop_grace);
    co_return make_error("deploy of " + service + " " + version + " to " + environment +
                         " was interrupted: Shipmate is shutting down" + still_serving());
  }
  env.live.push_back(candidate.process);
  say("starting " + service + " " + version + " on 127.0.0.1:" + std::to_string(*port) + " (pid " +
      std::to_string(candidate.process->pid()) + ")");

  auto healthy = co_await check_health(self, candidate, progress, epoch);
  std::string failure;
  if (self->epoch_ != epoch) {
    failure = "deploy of " + service + " " + version + " to " + environment +
              " was interrupted: Shipmate is shutting down";
  } else if (!healthy) {
    failure = healthy.error().message;
  }
  if (!failure.empty()) {
    co_await candidate.process->stop(config.stop_grace);
    co_return make_error(failure + still_serving() + "; log: " + candidate.log_path);
  }
  say("healthy after " + attempts_text(*healthy));
  co_return std::move(candidate);
}

Result<std::unique_ptr<Core::EnvClaim>> Core::claim(
    const std::string& environment, const std::string& version,
    const std::function<std::string(EnvState&)>& refuse) {
  if (auto valid = validate(environment, version); !valid)
    return valid.error();
  EnvState& env = envs_[environment];
  if (env.busy) {
    return make_error(
        label(environment) + " is busy deploying " + *env.busy + "; try again when it finishes",
        ErrorKind::conflict);
  }
  if (std::string refused = refuse(env); !refused.empty())
    return make_error(std::move(refused), ErrorKind::conflict);
  if (config_.start_command.empty())
    return make_error("no start command configured for " + config_.service, ErrorKind::invalid);
  env.busy = version;
  auto claimed = std::make_unique<EnvClaim>(env, epoch_);
  forget_exited(env);
  return claimed;
}

asio::awaitable<ApplyOutcome> Core::apply(std::shared_ptr<Core> self, std::string environment,
                                          std::string version, ProgressFn progress, Mode mode) {
  auto say = [&progress](const std::string& line) {
    if (progress)
      progress(line);
  };
  auto fail = [](std::string message) { return ApplyOutcome{false, std::move(message), ""}; };
  const LocalTargetConfig& config = self->config_;
  const std::string service = config.service;
  auto claimed = self->claim(environment, version, [&](EnvState& state) -> std::string {
    if (state.candidate && mode == Mode::deploy) {
      return self->label(environment) + " has a candidate " + state.candidate->version + " at " +
             std::to_string(state.candidate_percent) + "%; promote or abort it before deploying " +
             version;
    }
    return "";
  });
  if (!claimed)
    co_return fail(claimed.error().message);
  const std::unique_ptr<EnvClaim> claim = std::move(*claimed);
  EnvState& env = claim->env();
  const std::uint64_t epoch = claim->epoch();

  if (env.candidate) {
    // A rollback (or a restore) must not wait for whoever runs the canary.
    say("aborting candidate " + env.candidate->version + " first");
    auto aborted = co_await abort_candidate(self, environment);
    say(aborted.message);
  }

  auto still_serving = [&env]() -> std::string {
    if (env.current && env.current->process->running()) {
      return "; " + env.current->version + " is still serving";
    }
    return "";
  };

  auto launched = co_await launch(self, environment, version, progress, epoch);
  if (!launched)
    co_return fail(launched.error().message);
  Starting candidate = std::move(*launched);

  // Stops the candidate and builds the failure outcome; old process and forwarder stay as they are.
  auto abandon = [&](std::string why) -> asio::awaitable<ApplyOutcome> {
    co_await candidate.process->stop(config.stop_grace);
    co_return fail(why + still_serving() + "; log: " + candidate.log_path);
  };

  const int public_port = config.environments.at(environment).port;
  bool new_forwarder = false;
  if (!env.forwarder) {
    auto forwarder =
        TcpForwarder::start(self->executor_, public_port, candidate.port, self->label(environment));
    if (!forwarder) {
      co_return co_await abandon(forwarder.error().message + "; stopped " + service + " " +
                                 version);
    }
    env.forwarder = std::move(*forwarder);
    new_forwarder = true;
  }
  if (auto recorded = self->record_current(environment, version); !recorded) {
    if (new_forwarder)
      env.forwarder.reset();
    co_return co_await abandon(recorded.error().message);
  }
  say("switching " + environment + " to " + version);
  env.forwarder->set_backend(candidate.port);
  auto previous = std::exchange(
      env.current, std::make_shared<Instance>(
                       Instance{version, candidate.port, candidate.process, candidate.log_path}));

  if (previous && previous->process) {
    const int old_pid = previous->process->pid();
    if (auto status = previous->process->poll()) {
      say(previous->version + " (pid " + std::to_string(old_pid) + ") had already " +
          status->describe());
    } else {
      co_await previous->process->stop(config.stop_grace);
      say("stopped " + previous->version + " (pid " + std::to_string(old_pid) + ")");
    }
  }
  forget_exited(env);

  ApplyOutcome outcome;
  outcome.ok = true;
  outcome.endpoint = "http://127.0.0.1:" + std::to_string(public_port);
  const std::string where =
      outcome.endpoint + " (pid " + std::to_string(candidate.process->pid()) + ")";
  switch (mode) {
    case Mode::deploy:
      outcome.message = service + " " + version + " is serving " + environment + " at " + where;
      break;
    case Mode::roll_back:
      outcome.message = "rolled back " + service + " in " + environment + " to " + version +
                        ", serving at " + where;
      break;
    case Mode::restore:
      outcome.message =
          "restored " + service + " " + version + " in " + environment + " at " + where;
      break;
  }
  co_return outcome;
}

asio::awaitable<std::vector<ApplyOutcome>> Core::restore(std::shared_ptr<Core> self) {
  std::vector<ApplyOutcome> outcomes;
  for (const auto& [name, ignored] : self->config_.environments) {
    auto version = self->current_version(name);
    if (!version)
      continue;
    EnvState& env = self->envs_[name];
    if (env.current && env.current->version == *version && env.current->process->running() &&
        env.forwarder) {
      const std::string endpoint =
          "http://127.0.0.1:" + std::to_string(self->config_.environments.at(name).port);
      outcomes.push_back(ApplyOutcome{true,
                                      self->config_.service + " " + *version +
                                          " is already serving " + name + " at " + endpoint,
                                      endpoint});
      continue;
    }
    outcomes.push_back(co_await apply(self, name, *version, nullptr, Mode::restore));
  }
  co_return outcomes;
}

std::vector<std::shared_ptr<ChildProcess>> Core::abandon_everything() {
  ++epoch_;
  std::vector<std::shared_ptr<ChildProcess>> processes;
  for (auto& [name, env] : envs_) {
    env.forwarder.reset();
    env.current.reset();
    env.candidate.reset();
    env.candidate_percent = 0;
    for (auto& process : env.live)
      processes.push_back(process);
    env.live.clear();
  }
  // Signal everyone first so the grace periods run side by side.
  for (auto& process : processes)
    process->signal_group(SIGTERM);
  return processes;
}

asio::awaitable<void> Core::shutdown(std::shared_ptr<Core> self) {
  for (auto& process : self->abandon_everything())
    co_await process->stop(self->config_.stop_grace);
}

void Core::kill_everything_now() {
  auto processes = abandon_everything();
  const auto deadline =
      std::chrono::steady_clock::now() + std::min(config_.stop_grace, kDestructorGrace);
  for (auto& process : processes) {
    auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    process->stop_now(std::max(left, milliseconds(0)));
  }
}

}  // namespace shipmate::integrations::local_process

namespace shipmate::integrations {

namespace {

namespace asio = boost::asio;
using local_process::Core;
using local_process::Mode;
using local_process::valid_version;

class LocalProcessTarget final : public DeployTarget {
 public:
  LocalProcessTarget(asio::any_io_executor executor, LocalTargetConfig config)
      : core_(std::make_shared<Core>(std::move(executor), std::move(config))) {}
  ~LocalProcessTarget() override { core_->kill_everything_now(); }
  LocalProcessTarget(const LocalProcessTarget&) = delete;
  LocalProcessTarget& operator=(const LocalProcessTarget&) = delete;

  std::string kind() const override { return "local"; }
  Status validate(const std::string& environment, const std::string& version) const override {
    return core_->validate(environment, version);
  }
  std::vector<std::string> available_versions() const override {
    return core_->available_versions();
  }
  // A release may say when it was committed, in a RELEASE file of key=value lines:
  // committed_at=2026-11-20T10:00:00Z
  std::optional<long long> commit_time(const std::string& version) const override {
    if (!valid_version(version))
      return std::nullopt;
    std::ifstream in(core_->release_dir(version) + "/RELEASE");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("committed_at=", 0) == 0)
        return parse_iso8601(line.substr(13));
    }
    return std::nullopt;
  }
  // `commit=<sha>` in the same file names the commit the release was built from.
  std::optional<std::string> release_commit(const std::string& version) const override {
    if (!valid_version(version))
      return std::nullopt;
    std::ifstream in(core_->release_dir(version) + "/RELEASE");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("commit=", 0) == 0) {
        std::string sha = line.substr(7);
        while (!sha.empty() && (sha.back() == '\r' || sha.back() == ' '))
          sha.pop_back();
        if (sha.size() >= 7 && sha.size() <= 64 &&
            sha.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos)
          return sha;
        return std::nullopt;
      }
    }
    return std::nullopt;
  }
  std::optional<std::string> current_version(const std::string& environment) const override {
    return core_->current_version(environment);
  }
  std::string describe(const std::string& environment) const override {
    return core_->describe(environment);
  }
  // The coroutines get their own reference to the core, so a target destroyed mid-deploy leaves
  // them a live (if emptied) state to unwind against.
  asio::awaitable<ApplyOutcome> apply(std::string environment, std::string version,
                                      ProgressFn progress) override {
    return Core::apply(core_, std::move(environment), std::move(version), std::move(progress),
                       Mode::deploy);
  }
  asio::awaitable<ApplyOutcome> roll_back(std::string environment, std::string version,
                                          ProgressFn progress) override {
    return Core::apply(core_, std::move(environment), std::move(version), std::move(progress),
                       Mode::roll_back);
  }
  bool supports_traffic_split() const override { return true; }
  asio::awaitable<ApplyOutcome> start_candidate(std::string environment, std::string version,
                                                ProgressFn progress) override {
    return Core::start_candidate(core_, std::move(environment), std::move(version),
                                 std::move(progress));
  }
  asio::awaitable<ApplyOutcome> set_candidate_weight(std::string environment,
                                                     int percent) override {
    auto core = core_;
    co_return core->set_candidate_weight(environment, percent);
  }
  asio::awaitable<ApplyOutcome> promote_candidate(std::string environment) override {
    return Core::promote_candidate(core_, std::move(environment));
  }
  asio::awaitable<ApplyOutcome> abort_candidate(std::string environment) override {
    return Core::abort_candidate(core_, std::move(environment));
  }
  asio::awaitable<std::vector<ApplyOutcome>> restore() override { return Core::restore(core_); }
  asio::awaitable<void> shutdown() override { return Core::shutdown(core_); }

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace

std::unique_ptr<DeployTarget> make_local_process_target(asio::any_io_executor executor,
                                                        LocalTargetConfig config) {
  return std::make_unique<LocalProcessTarget>(std::move(executor), std::move(config));
}

bool report_attempt(int attempt, std::string_view problem, std::string_view last_reported) {
  const bool power_of_two = attempt > 0 && (attempt & (attempt - 1)) == 0;
  return power_of_two || problem != last_reported;
}

}  // namespace shipmate::integrations
