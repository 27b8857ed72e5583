// The App (bot/app.h) with a fake chat platform in place of the real table: start-up starts the
// transport, shutdown stops it with the configured grace and exits 0, a transport failing for good
// exits 1, one that cannot start exits 1 without running anything else, and the watcher has its
// periodic jobs. No sockets to a chat platform; the real event loop, storage and targets.
#include "bot/app.h"

#include <gtest/gtest.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>
#include <sstream>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "bot/chat_transport.h"
#include "bot/platforms.h"
#include "storage/database.h"
#include "tests/support/test_support.h"

namespace shipmate::bot {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using shipmate::testing::TempDir;
using shipmate::testing::write_file;

// What the fake platform saw, and what it does once started.
struct Script {
  std::vector<std::string> events;
  std::function<void()> after_start;  // posted to the loop once start() has answered
  Status start_result = Ok{};
  std::function<void(std::string)> fatal;
  bool stray_timer = false;  // start() leaves a coroutine waiting on an hour-long timer behind
};
Script* script = nullptr;  // the running test's

class FakeTransport final : public ChatTransport {
 public:
  explicit FakeTransport(asio::any_io_executor executor) : executor_(std::move(executor)) {}
  std::string_view name() const override { return "fake"; }
  asio::awaitable<Status> start() override {
    script->events.push_back("start");
    if (script->stray_timer) {
      asio::co_spawn(
          executor_,
          [executor = executor_]() -> asio::awaitable<void> {
            asio::steady_timer timer(executor, std::chrono::hours(1));
            boost::system::error_code ignored;
            co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
          },
          asio::detached);
    }
    if (script->start_result.ok() && script->after_start)
      asio::post(executor_, script->after_start);
    co_return script->start_result;
  }
  asio::awaitable<void> stop(std::chrono::milliseconds grace) override {
    script->events.push_back("stop " + std::to_string(grace.count()) + "ms");
    co_return;
  }
  void on_fatal(std::function<void(std::string)> handler) override {
    script->fatal = std::move(handler);
  }
  std::unique_ptr<commands::Conversation> open(const std::string&) override { return nullptr; }

 private:
  asio::any_io_executor executor_;
};

std::unique_ptr<ChatTransport> make_fake(const PlatformContext& context) {
  script->events.push_back("made");
  return std::make_unique<FakeTransport>(context.executor);
}

const std::vector<ChatPlatform> kFakeTable = {{"fake", &make_fake}};

class AppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    script = &fake;
    write_file(dir.file("shipmate.yaml"), R"(shipmate:
  database: state/shipmate.db
  state_dir: state/run
environments:
  - name: staging
users:
  - {id: alice, roles: [developer]}
services:
  - name: hello
    target:
      kind: local
      releases: )" + shipmate::testing::source_dir() +
                                              R"(/examples/hello/releases
      start: [python3, server.py]
      ports: {staging: )" + std::to_string(shipmate::testing::free_port()) +
                                              "}\n");
    auto load = load_config(dir.file("shipmate.yaml"));
    ASSERT_TRUE(load.ok());
    config = std::move(*load.config);
    options.terminal = false;
    options.chat_platforms = true;
    options.platforms = &kFakeTable;
    options.transport_grace = 1234ms;
  }
  void TearDown() override { script = nullptr; }

  // The audit actions recorded, in order.
  std::vector<std::string> audit_actions() {
    auto database = storage::Database::open_read_only(config.database_path);
    EXPECT_TRUE(database.ok());
    std::vector<std::string> out;
    if (!database.ok())
      return out;
    storage::Statement statement(**database, "SELECT action FROM audit_log ORDER BY seq");
    while (statement.step())
      out.push_back(statement.column_text(0));
    return out;
  }

  TempDir dir;
  Script fake;
  Config config;
  AppOptions options;
};

TEST_F(AppTest, StartsTheTransportAndShutsDownWithItsGrace) {
  App app(config, options);
  fake.after_start = [&app] { app.shutdown("test over"); };
  ASSERT_EQ(app.start(), 0);
  // Timed work is on the one scheduler, at its deadlines; the watcher keeps the incident upkeep
  // (pending announcements, touched cards, due room operations), once a second, and forgets
  // day-old inbox keys and sent replies every ten minutes (not only at start-up).
  EXPECT_EQ(app.timed_jobs(), (std::vector<std::string>{"lock-expiry", "approval-timeout",
                                                        "incident-reminder", "room-archive"}));
  const auto jobs = app.watcher_jobs();
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].first, "incident upkeep");
  EXPECT_EQ(jobs[0].second, 1000ms);
  EXPECT_EQ(jobs[1].first, "inbox pruning");
  EXPECT_EQ(jobs[1].second, 10min);
  EXPECT_EQ(app.run(), 0);
  EXPECT_EQ(fake.events, (std::vector<std::string>{"made", "start", "stop 1234ms"}));
  const auto actions = audit_actions();
  ASSERT_GE(actions.size(), 2u);
  EXPECT_EQ(actions.front(), "shipmate.started");
  EXPECT_EQ(actions.back(), "shipmate.stopped");
}

TEST_F(AppTest, ATransportFailingForGoodStopsEverythingWithExitCode1) {
  App app(config, options);
  fake.after_start = [] { script->fatal("the token was revoked"); };
  ASSERT_EQ(app.start(), 0);
  EXPECT_EQ(app.run(), 1);
  EXPECT_EQ(fake.events, (std::vector<std::string>{"made", "start", "stop 1234ms"}));
  EXPECT_EQ(audit_actions().back(), "shipmate.stopped");
}

TEST_F(AppTest, ATransportThatCannotStartEndsStartUpWithExitCode1) {
  fake.start_result = make_error("the credentials were refused", ErrorKind::auth);
  App app(config, options);
  ASSERT_EQ(app.start(), 0);
  EXPECT_EQ(app.run(), 1);
  EXPECT_EQ(fake.events, (std::vector<std::string>{"made", "start", "stop 1234ms"}));
}

// Regression: after a completed drain the watchdog stood down, and a timer (or coroutine) left
// behind kept the event loop, and the process, alive for ever. Now the loop is stopped after the
// post-drain linger limit (zero here: no real wait), with an error saying so.
TEST_F(AppTest, AStrayTimerAfterTheDrainIsStoppedAtTheLingerLimitWithALogLine) {
  fake.stray_timer = true;
  options.post_drain_linger = 0ms;
  std::ostringstream logs;
  const auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "app-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(logs)));
  int code = -1;
  {
    App app(config, options);
    fake.after_start = [&app] { app.shutdown("test over"); };
    ASSERT_EQ(app.start(), 0);
    code = app.run();  // before: never returned
  }
  spdlog::set_default_logger(previous);
  EXPECT_EQ(code, 0);  // the drain completed; the stop it decided stands
  EXPECT_EQ(fake.events, (std::vector<std::string>{"made", "start", "stop 1234ms"}));
  EXPECT_NE(logs.str().find("shutdown: drained, but the event loop still had work 0 ms later "
                            "(nothing Shipmate tracks: a timer, socket or coroutine left behind)"),
            std::string::npos)
      << logs.str();
  EXPECT_EQ(audit_actions().back(), "shipmate.stopped");
}

TEST_F(AppTest, WithoutChatPlatformsNothingIsMade) {
  options.chat_platforms = false;
  App app(config, options);
  ASSERT_EQ(app.start(), 0);
  app.shutdown("nothing to do");
  EXPECT_EQ(app.run(), 0);
  EXPECT_TRUE(fake.events.empty());
}

}  // namespace
}  // namespace shipmate::bot
