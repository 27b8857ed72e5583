// What every CI provider shares (contracts in ci_provider.h): run-state names, the template
// filling and input merging, and follow_ci_run()'s polling loop.
#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <boost/asio/this_coro.hpp>

#include "common/clock.h"
#include "common/timer.h"
#include "integrations/ci_provider.h"

namespace shipmate::integrations {
namespace asio = boost::asio;

std::string_view to_string(CiRunState state) {
  switch (state) {
    case CiRunState::queued:
      return "queued";
    case CiRunState::running:
      return "running";
    case CiRunState::succeeded:
      return "succeeded";
    case CiRunState::failed:
      return "failed";
    case CiRunState::cancelled:
      return "cancelled";
    case CiRunState::timed_out:
      return "timed_out";
  }
  return "unknown";
}

namespace {

const std::string* placeholder_value(std::string_view name, const CiRunRequest& request) {
  if (name == "version")
    return &request.version;
  if (name == "environment")
    return &request.environment;
  if (name == "service")
    return &request.service;
  if (name == "correlation_id")
    return &request.correlation_id;
  return nullptr;
}

bool is_word(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace

std::string fill_ci_template(std::string_view text, const CiRunRequest& request) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == '{') {
      const auto close = text.find('}', i);
      if (close != std::string_view::npos) {
        if (const std::string* value =
                placeholder_value(text.substr(i + 1, close - i - 1), request)) {
          out += *value;
          i = close + 1;
          continue;
        }
      }
    }
    out += text[i++];
  }
  return out;
}

std::map<std::string, std::string> merge_ci_inputs(
    const std::map<std::string, std::string>& templates, const CiRunRequest& request) {
  std::map<std::string, std::string> merged;
  for (const auto& [name, text] : templates)
    merged[name] = fill_ci_template(text, request);
  for (const auto& [name, value] : request.inputs)
    merged[name] = value;
  return merged;
}

std::string unknown_ci_placeholder(std::string_view text) {
  const CiRunRequest probe;
  for (std::size_t open = text.find('{'); open != std::string_view::npos;
       open = text.find('{', open + 1)) {
    const auto close = text.find('}', open);
    if (close == std::string_view::npos)
      break;
    const std::string_view name = text.substr(open + 1, close - open - 1);
    if (is_word(name) && !placeholder_value(name, probe))
      return "{" + std::string(name) + "}";
  }
  return {};
}

asio::awaitable<Result<CiRunStatus>> follow_ci_run(
    CiProvider& provider, CiRunHandle handle, FollowOptions options,
    std::function<void(const CiRunStatus&)> progress) {
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  auto executor = co_await asio::this_coro::executor;
  std::unique_ptr<SteadyTimers> own_timers;
  Timers* timers = options.timers;
  if (timers == nullptr) {
    own_timers = std::make_unique<SteadyTimers>(executor);
    timers = own_timers.get();
  }
  // Time since the follow began, for the deadline: real time, or the time the Timers slept when
  // that is more. With real timers the two agree; with ManualTimers a test passes a deadline of
  // an hour by advancing manual time.
  std::chrono::milliseconds slept{0};
  const auto elapsed = [&] {
    return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started),
                    slept);
  };
  auto interval = std::max(options.first_poll, std::chrono::milliseconds(1));
  const auto max_poll = std::max(options.max_poll, interval);
  std::optional<CiRunStatus> last;
  int errors_in_a_row = 0;

  // The first poll is immediate: after a restart the run may have finished long ago.
  for (;;) {
    Result<CiRunStatus> polled = co_await provider.status(handle);
    if (polled) {
      errors_in_a_row = 0;
      CiRunStatus current = std::move(polled).value();
      if (current.url.empty())
        current.url = handle.url;
      const bool changed = !last || last->state != current.state || last->detail != current.detail;
      last = current;
      if (changed && progress)
        progress(current);
      if (is_finished(current.state))
        co_return current;
    } else {
      ++errors_in_a_row;
      if (errors_in_a_row >= std::max(1, options.max_consecutive_errors)) {
        co_return make_error(polled.error().message + " (gave up following " + provider.kind() +
                             " run " + handle.id + " after " + std::to_string(errors_in_a_row) +
                             " failed polls in a row)");
      }
    }

    const auto so_far = elapsed();
    if (so_far >= options.deadline) {
      Status cancelled = co_await provider.cancel(handle);
      CiRunStatus out;
      out.state = CiRunState::timed_out;
      out.url = last ? last->url : handle.url;
      out.detail = "no result after " + format_duration(so_far.count());
      out.detail += cancelled ? "; the run was cancelled"
                              : "; cancelling the run failed: " + cancelled.error().message;
      if (progress)
        progress(out);
      co_return out;
    }
    const auto wait = std::min(interval, options.deadline - so_far);
    const bool waited = co_await timers->sleep_for(wait);
    if (!waited) {
      co_return make_error("stopped following " + provider.kind() + " run " + handle.id +
                           ": the wait was cancelled");
    }
    slept += wait;
    interval = std::min(std::chrono::milliseconds(interval.count() * 3 / 2), max_poll);
    if (interval < std::chrono::milliseconds(2))
      interval = std::chrono::milliseconds(2);
  }
}

}  // namespace shipmate::integrations
