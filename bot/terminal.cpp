#include "bot/terminal.h"

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include "bot/command_intake.h"
#include "common/redact.h"
#include "common/strings.h"

namespace shipmate::bot {

namespace {

const char* tone_marker(commands::Tone tone) {
  switch (tone) {
    case commands::Tone::progress:
      return "... ";
    case commands::Tone::success:
      return "OK ";
    case commands::Tone::warning:
      return "WARNING ";
    case commands::Tone::error:
      return "ERROR ";
    case commands::Tone::info:
      break;
  }
  return "";
}

const char* tone_color(commands::Tone tone) {
  switch (tone) {
    case commands::Tone::success:
      return "\x1b[32m";
    case commands::Tone::warning:
      return "\x1b[33m";
    case commands::Tone::error:
      return "\x1b[31m";
    case commands::Tone::progress:
      return "\x1b[36m";
    case commands::Tone::info:
      break;
  }
  return "";
}

}  // namespace

std::string TerminalConversation::render(const commands::Message& message, bool color) {
  std::string out;
  const std::string marker = tone_marker(message.tone);
  if (color && !marker.empty()) {
    out += std::string(tone_color(message.tone)) + marker + "\x1b[0m";
  } else {
    out += marker;
  }
  out += message.text + "\n";
  for (const auto& field : message.fields)
    out += "    " + field.label + ": " + field.value + "\n";
  if (!message.context.empty())
    out += "    " + message.context + "\n";
  for (const auto& button : message.buttons) {
    out += "    [" + button.label + "] type: " + button.command + "\n";
  }
  return out;
}

void TerminalConversation::write(const std::string& text) {
  const std::string safe = redact(text);
  std::fwrite(safe.data(), 1, safe.size(), out_);
  std::fflush(out_);
}

void TerminalConversation::show(const commands::Message& message) {
  write(render(message, color_));
  if (!message.buttons.empty() && on_buttons_shown_)
    on_buttons_shown_();
}

commands::MessageRef TerminalConversation::post(const commands::Message& message) {
  show(message);
  return std::to_string(next_ref_++);
}

void TerminalConversation::update(const commands::MessageRef&, const commands::Message& message) {
  show(message);
}

void TerminalConversation::thread_reply(const commands::MessageRef&,
                                        const commands::Message& message) {
  std::string out = "    | " + message.text + "\n";
  // A question asked in a thread (a runbook's confirmation) shows its buttons as the commands
  // they type, like a top-level message does.
  for (const auto& button : message.buttons)
    out += "    |   [" + button.label + "] type: " + button.command + "\n";
  write(out);
  if (!message.buttons.empty() && on_buttons_shown_)
    on_buttons_shown_();
}

// Lines cross from the reader thread to the event loop here. The reader waits for each command
// to finish before reading on, so that a command's output never interleaves with the prompt,
// unless the command asks a question: a deploy paused for "continue N" / "abort N" would
// otherwise wait for an answer the reader never reads.
struct TerminalTransport::Shared {
  std::mutex mutex;
  std::condition_variable done;
  std::uint64_t latest = 0;  // the command the reader waits for
  int running = 0;           // commands started and not finished
  bool read_on = true;       // the reader may read the next line
  bool closing = false;

  void finished(std::uint64_t command) {
    std::lock_guard lock(mutex);
    --running;
    if (command == latest)
      read_on = true;
    done.notify_all();
  }
  void invite_answer() {
    std::lock_guard lock(mutex);
    read_on = true;
    done.notify_all();
  }
};

namespace {

// The terminal has one conversation for the whole session; this lends it out.
struct LentConversation final : commands::Conversation {
  explicit LentConversation(commands::Conversation& target) : target(target) {}
  commands::MessageRef post(const commands::Message& message) override {
    return target.post(message);
  }
  void update(const commands::MessageRef& ref, const commands::Message& message) override {
    target.update(ref, message);
  }
  void thread_reply(const commands::MessageRef& ref, const commands::Message& message) override {
    target.thread_reply(ref, message);
  }
  std::string address() const override { return target.address(); }
  commands::Conversation& target;
};

}  // namespace

TerminalTransport::TerminalTransport(boost::asio::any_io_executor executor, CommandIntake& intake,
                                     Options options)
    : executor_(std::move(executor)),
      intake_(intake),
      options_(std::move(options)),
      conversation_(stdout, options_.interactive),
      shared_(std::make_shared<Shared>()) {
  conversation_.on_buttons_shown([shared = shared_] { shared->invite_answer(); });
  IntakePlatform platform;
  platform.name = "terminal";
  platform.conversation = [this](const std::string&, const std::string&) {
    return std::unique_ptr<commands::Conversation>(
        std::make_unique<LentConversation>(conversation_));
  };
  platform.ids_are_identities = true;
  intake_.attach(std::move(platform));
}

std::unique_ptr<commands::Conversation> TerminalTransport::open(const std::string& address) {
  if (address != "terminal")
    return nullptr;
  return std::make_unique<LentConversation>(conversation_);
}

boost::asio::awaitable<void> TerminalTransport::stop(std::chrono::milliseconds) {
  stopped_ = true;
  return []() -> boost::asio::awaitable<void> { co_return; }();
}

TerminalTransport::~TerminalTransport() {
  std::lock_guard lock(shared_->mutex);
  shared_->closing = true;
  shared_->done.notify_all();
}

boost::asio::awaitable<Status> TerminalTransport::start() {
  auto shared = shared_;
  auto executor = executor_;
  const bool interactive = options_.interactive;
  std::function<void()> on_end = [] {};
  if (options_.on_end)
    on_end = options_.on_end;
  // The reader thread only touches `shared` and posts to the executor; everything else happens
  // on the event loop. It is detached because a blocking read cannot be interrupted portably;
  // the process exits without waiting for it.
  std::thread([this, shared, executor, interactive, on_end] {
    std::string line;
    while (true) {
      if (interactive) {
        std::fputs("shipmate> ", stdout);
        std::fflush(stdout);
      }
      if (!std::getline(std::cin, line))
        break;
      const std::string_view word = trim(line);
      if (word == "exit" || word == "quit")
        break;
      std::uint64_t command = 0;
      {
        std::unique_lock lock(shared->mutex);
        if (shared->closing)
          return;
        command = ++shared->latest;
        ++shared->running;
        shared->read_on = false;
      }
      boost::asio::post(executor, [this, shared, line, command] {
        if (stopped_) {
          shared->finished(command);
          return;
        }
        boost::asio::co_spawn(
            executor_,
            [this, line]() -> boost::asio::awaitable<void> {
              if (line.find_first_not_of(" \t\r") == std::string::npos || line.rfind("#", 0) == 0) {
                co_return;
              }
              if (options_.echo) {
                std::string echoed = options_.user_id + "> " + line + "\n";
                std::fputs(redact(echoed).c_str(), stdout);
                std::fflush(stdout);
              }
              IncomingCommand command{"", options_.user_id, "terminal", "", line};
              co_await intake_.run_unrecorded("terminal", std::move(command), conversation_);
            },
            [shared, command](std::exception_ptr) { shared->finished(command); });
      });
      std::unique_lock lock(shared->mutex);
      shared->done.wait(lock, [&] { return shared->read_on || shared->closing; });
      if (shared->closing)
        return;
    }
    if (interactive)
      std::fputs("\n", stdout);
    std::unique_lock lock(shared->mutex);
    // A command still waiting for an answer finishes (or times out) before the session ends.
    shared->done.wait(lock, [&] { return shared->running == 0 || shared->closing; });
    if (!shared->closing)
      boost::asio::post(executor, on_end);
  }).detach();
  co_return Ok{};
}

}  // namespace shipmate::bot
