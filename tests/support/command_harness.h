// Runs commands through the real Router against in-memory storage and fake targets, and
// collects what the conversation was told.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bot/router.h"
#include "commands/command_table.h"
#include "commands/deploy_runtime.h"
#include "common/timer.h"
#include "storage/approval_store.h"
#include "storage/audit_log.h"
#include "storage/deploy_store.h"
#include "storage/freeze_store.h"
#include "storage/lock_store.h"
#include "storage/schedule_store.h"
#include "tests/support/fake_target.h"

namespace shipmate::testing {

class RecordingConversation final : public commands::Conversation {
 public:
  commands::MessageRef post(const commands::Message& message) override {
    posts.push_back(message);
    log.push_back(message.text);
    return std::to_string(posts.size());
  }
  void update(const commands::MessageRef&, const commands::Message& message) override {
    updates.push_back(message);
    log.push_back(message.text);
  }
  void thread_reply(const commands::MessageRef&, const commands::Message& message) override {
    threads.push_back(message);
    log.push_back("  | " + message.text);
  }
  std::string address() const override { return "test"; }

  std::vector<commands::Message> posts, updates, threads;
  std::vector<std::string> log;
};

// A ConversationDirectory whose every address opens the one conversation the test watches
// (`target`); `opened` lists the addresses asked for, in order.
struct OneRoomDirectory final : commands::ConversationDirectory {
  std::unique_ptr<commands::Conversation> open(const std::string& address) override {
    opened.push_back(address);
    return std::make_unique<Forward>(target);
  }
  struct Forward final : commands::Conversation {
    explicit Forward(RecordingConversation& to) : target(to) {}
    commands::MessageRef post(const commands::Message& m) override { return target.post(m); }
    void update(const commands::MessageRef& r, const commands::Message& m) override {
      target.update(r, m);
    }
    void thread_reply(const commands::MessageRef& r, const commands::Message& m) override {
      target.thread_reply(r, m);
    }
    std::string address() const override { return target.address(); }
    RecordingConversation& target;
  };
  RecordingConversation target;
  std::vector<std::string> opened;
};

// Catalog: environments staging (open to developers) and production (sre only); users alice
// (developer, sre), bob (developer), carol (admin); service hello in both environments with
// versions v1..v3.
inline commands::Catalog test_catalog() {
  commands::Catalog catalog;
  commands::EnvironmentSpec staging{"staging", false, {}};
  staging.allowed_roles[commands::Action::deploy] = {"developer", "sre"};
  staging.allowed_roles[commands::Action::rollback] = {"developer", "sre"};
  staging.allowed_roles[commands::Action::lock] = {"developer", "sre"};
  commands::EnvironmentSpec production{"production", true, {}};
  production.allowed_roles[commands::Action::deploy] = {"sre"};
  production.allowed_roles[commands::Action::rollback] = {"sre"};
  catalog.environments = {staging, production};
  catalog.users = {{"alice", "Alice", {"developer", "sre"}},
                   {"bob", "Bob", {"developer"}},
                   {"carol", "Carol", {"admin"}}};
  commands::ServiceSpec hello;
  hello.name = "hello";
  hello.environments = {"staging", "production"};
  hello.target_kind = "fake";
  catalog.services = {hello};
  return catalog;
}

class CommandHarness {
 public:
  // `location`: the database (":memory:" by default; a file or a PostgreSQL URI lets two
  // harnesses share one, as two replicas do).
  explicit CommandHarness(const std::string& location = ":memory:")
      : db(std::move(*storage::Database::open(location))),
        deploys(*db, clock),
        locks(*db, clock),
        audit(*db, clock),
        approvals(*db, clock),
        schedules(*db, clock),
        freezes(*db, clock),
        catalog(test_catalog()),
        registry(commands::build_command_table()) {
    auto fake = std::make_unique<FakeTarget>(std::vector<std::string>{"v1", "v2", "v3"});
    target = fake.get();
    targets["hello"] = std::move(fake);
    services = std::make_unique<commands::Services>(commands::Services{
        io.get_executor(), catalog, clock, *db, deploys, locks, audit, targets, timers, runtime});
    services->registry = &registry;
    services->approvals = &approvals;
    services->schedules = &schedules;
    services->freezes = &freezes;
    router = std::make_unique<bot::Router>(*services, registry, "shipmate");
  }

  // Runs one command to completion as `user`; returns everything said, joined by newlines.
  std::string run(const std::string& user, const std::string& text) {
    RecordingConversation conversation;
    bool finished = false;
    boost::asio::co_spawn(
        io, router->dispatch(bot::ChatEvent{"test", "", user, "c", "", text}, conversation),
        [&finished](std::exception_ptr) { finished = true; });
    if (background.empty()) {
      io.run();
      io.restart();
    } else {
      // A deploy paused in the background keeps the loop busy: run until this command is done,
      // then until the work it released has settled.
      run_until([&] { return finished; }, std::chrono::seconds(30));
      while (io.poll() > 0) {
      }
    }
    last = conversation;
    std::string out;
    for (const auto& line : conversation.log)
      out += line + "\n";
    return out;
  }

  // Runs one command to completion like run(), moving manual time on by `step` whenever
  // everything left is asleep (a deploy polling its build): no real waiting.
  std::string run_with_time(const std::string& user, const std::string& text,
                            std::chrono::milliseconds step) {
    RecordingConversation conversation;
    bool finished = false;
    boost::asio::co_spawn(
        io, router->dispatch(bot::ChatEvent{"test", "", user, "c", "", text}, conversation),
        [&finished](std::exception_ptr) { finished = true; });
    drive([&] { return finished; }, step);
    last = conversation;
    std::string out;
    for (const auto& line : conversation.log)
      out += line + "\n";
    return out;
  }

  // Runs ready handlers; when none is left and `done` does not hold, moves manual time on by
  // `step`. Stops after 1000 steps, so a deploy that never ends fails the test.
  bool drive(const std::function<bool()>& done, std::chrono::milliseconds step) {
    for (int i = 0; i < 1000; ++i) {
      io.restart();
      while (io.poll() > 0) {
      }
      if (done())
        return true;
      timers.advance(step);
    }
    return done();
  }

  // Starts a command without waiting for it to finish (a deploy that pauses for a decision);
  // drive the loop with run_until() or a later run().
  RecordingConversation& start(const std::string& user, const std::string& text) {
    background.push_back(std::make_unique<RecordingConversation>());
    RecordingConversation& conversation = *background.back();
    boost::asio::co_spawn(
        io, router->dispatch(bot::ChatEvent{"test", "", user, "c", "", text}, conversation),
        boost::asio::detached);
    return conversation;
  }

  // Runs handlers until `done` holds; false when `limit` passed first. The default is a guard
  // for a loaded 2-core machine, not a time the work is expected to take.
  bool run_until(const std::function<bool()>& done,
                 std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline)
        return false;
      if (io.stopped())
        io.restart();
      io.run_one_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  boost::asio::io_context io;
  std::vector<std::unique_ptr<RecordingConversation>> background;
  ManualClock clock;
  // Sleeps in the deploy flow (bake times, decision timeouts) wait for advance(), never for real.
  ManualTimers timers{io.get_executor(), &clock};
  commands::DeployRuntime runtime{timers};
  std::unique_ptr<storage::Database> db;
  storage::DeployStore deploys;
  storage::LockStore locks;
  storage::AuditLog audit;
  storage::ApprovalStore approvals;
  storage::ScheduleStore schedules;
  storage::FreezeStore freezes;
  commands::Catalog catalog;
  commands::CommandRegistry registry;
  std::map<std::string, std::unique_ptr<integrations::DeployTarget>> targets;
  FakeTarget* target = nullptr;
  std::unique_ptr<commands::Services> services;
  std::unique_ptr<bot::Router> router;
  RecordingConversation last;
};

}  // namespace shipmate::testing
