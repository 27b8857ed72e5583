// The command intake against a fake transport and an in-memory SQLite inbox: record before ack,
// group commit, acks before work, mark started, batched done, the restart paths (a new intake
// over the same database after a simulated crash), and the "failed before it ran" reply.
#include "bot/command_intake.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <optional>
#include <stdexcept>

#include "common/metrics.h"
#include "common/request_id.h"
#include "common/timer.h"
#include "storage/database.h"
#include "storage/inbox_store.h"

namespace shipmate::bot {
namespace {

namespace asio = boost::asio;

// Everything the fake transport and dispatcher saw, in order: "ack:<id>", "run:<text>".
using Journal = std::vector<std::string>;

// A connection's acks. With `hold`, acks_written() never completes: the process "crashes" after
// its acks left and before any command of the batch started.
class FakeAcks final : public AckChannel {
 public:
  FakeAcks(asio::io_context& io, Journal& journal) : journal_(journal), never_(io) {}
  bool send_ack(const std::string& ack_id) override {
    journal_.push_back("ack:" + ack_id);
    return !broken;
  }
  asio::awaitable<void> acks_written() override {
    if (hold) {
      never_.expires_at(asio::steady_timer::time_point::max());
      boost::system::error_code ignored;
      co_await never_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    journal_.push_back("written");
  }
  // With `callbacks`, the channel also offers when_written(); with `hold` too, the callbacks wait
  // in `held` until the test calls them.
  bool when_written(std::function<void()> then) override {
    if (!callbacks)
      return false;
    if (hold) {
      held.push_back(std::move(then));
      return true;
    }
    journal_.push_back("written");
    then();
    return true;
  }
  void release() {
    auto waiting = std::move(held);
    held.clear();
    for (auto& then : waiting) {
      journal_.push_back("written");
      then();
    }
  }
  bool hold = false;
  bool broken = false;
  bool callbacks = false;
  std::vector<std::function<void()>> held;

 private:
  Journal& journal_;
  asio::steady_timer never_;
};

// Records what a transport would show.
struct Posted {
  std::string address;
  std::string text;
};
class FakeConversation final : public commands::Conversation {
 public:
  FakeConversation(std::vector<Posted>& posted, std::string address)
      : posted_(posted), address_(std::move(address)) {}
  commands::MessageRef post(const commands::Message& message) override {
    posted_.push_back({address_, message.text});
    return "1";
  }
  void update(const commands::MessageRef&, const commands::Message& message) override {
    posted_.push_back({address_, message.text});
  }
  void thread_reply(const commands::MessageRef&, const commands::Message& message) override {
    posted_.push_back({address_, message.text});
  }
  std::string address() const override { return address_; }

 private:
  std::vector<Posted>& posted_;
  std::string address_;
};

// Commands starting with "deploy" change state. "deploy hang" never finishes (a crash mid-way);
// "boom" fails before its handler runs.
class FakeDispatcher final : public CommandDispatcher {
 public:
  FakeDispatcher(asio::io_context& io, Journal& journal, storage::InboxStore& inbox)
      : journal_(journal), inbox_(inbox), never_(io) {}
  bool changes_state(std::string_view text) const override { return text.starts_with("deploy"); }
  asio::awaitable<void> dispatch(ChatEvent event, commands::Conversation& conversation) override {
    journal_.push_back("run:" + event.text);
    events.push_back(event);
    request_ids.emplace_back(current_request_id());
    bool started = false;
    for (const auto& entry : inbox_.in_state("started"))
      started = started || entry.key == event.event_id;
    started_when_run.push_back(started);
    if (event.text == "boom")
      throw std::runtime_error("the audit log refused a write");
    if (event.text == "deploy hang") {
      never_.expires_at(asio::steady_timer::time_point::max());
      boost::system::error_code ignored;
      co_await never_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    conversation.post(commands::info("done: " + event.text));
  }
  std::vector<ChatEvent> events;
  std::vector<bool> started_when_run;
  std::vector<std::string> request_ids;  // the log's request id while each command ran

 private:
  Journal& journal_;
  storage::InboxStore& inbox_;
  asio::steady_timer never_;
};

// One run of the bot over the shared database: an event loop, an inbox, an intake with the fake
// platform attached. Destroying it without stop() is a crash.
struct Process {
  explicit Process(storage::Database& db, std::string replica = {})
      : inbox(db, clock, std::move(replica)), dispatcher(io, journal, inbox) {
    intake.emplace(io.get_executor(), inbox, dispatcher, timers);
    IntakePlatform platform;
    platform.name = "fake";
    platform.conversation = [this](const std::string& channel, const std::string& thread) {
      return std::make_unique<FakeConversation>(posted, "fake:" + channel + ":" + thread);
    };
    platform.identities = {{"U1", "alice"}};
    platform.clean_text = [](std::string_view text) {
      return std::string(text.starts_with("<bot> ") ? text.substr(6) : text);
    };
    intake->attach(std::move(platform));
    acks = std::make_shared<FakeAcks>(io, journal);
  }

  void deliver(const std::string& id, const std::string& text, const std::string& user = "U1") {
    intake->submit("fake",
                   Delivery{acks, "env-" + id, IncomingCommand{id, user, "C1", "", text}, {}});
  }
  void deliver_ack_only(const std::string& id) {
    intake->submit("fake", Delivery{acks, "env-" + id, std::nullopt, {}});
  }
  // Runs whatever is ready, without waiting for timers.
  void settle() {
    while (io.poll() > 0) {
    }
    io.restart();
  }

  asio::io_context io;
  ManualClock clock;
  ManualTimers timers{io.get_executor(), &clock};
  storage::InboxStore inbox;
  Journal journal;
  std::vector<Posted> posted;
  FakeDispatcher dispatcher;
  std::optional<CommandIntake> intake;
  std::shared_ptr<FakeAcks> acks;
};

class CommandIntakeTest : public ::testing::Test {
 protected:
  std::unique_ptr<storage::Database> db = std::move(*storage::Database::open(":memory:"));
};

TEST_F(CommandIntakeTest, RecordsBeforeAckingAndAcksBeforeRunning) {
  Process bot(*db);
  bot.deliver("a", "<bot> status");
  bot.deliver_ack_only("b");
  bot.deliver("c", "deploy hello v1");
  // Nothing is acked before the batch is recorded.
  EXPECT_TRUE(bot.journal.empty());
  bot.settle();
  EXPECT_EQ(bot.journal, (Journal{"ack:env-a", "ack:env-b", "ack:env-c", "written", "run:status",
                                  "run:deploy hello v1"}));
  EXPECT_EQ(bot.intake->stats().batches, 1u);
  EXPECT_EQ(bot.intake->stats().acks, 3u);
  EXPECT_EQ(bot.intake->stats().ignored, 1u);
  // Mention markup went through the platform's clean_text; the identity was mapped.
  ASSERT_EQ(bot.dispatcher.events.size(), 2u);
  EXPECT_EQ(bot.dispatcher.events[0].user_id, "alice");
  EXPECT_EQ(bot.dispatcher.events[0].platform, "fake");
  EXPECT_EQ(bot.dispatcher.events[0].event_id, "fake:a");
  ASSERT_EQ(bot.posted.size(), 2u);
  EXPECT_EQ(bot.posted[0].address, "fake:C1:");
}

TEST_F(CommandIntakeTest, AcksThatCallBackWhenWrittenStartTheBatchThen) {
  Process bot(*db);
  bot.acks->callbacks = true;
  bot.acks->hold = true;
  bot.deliver("a", "status");
  bot.deliver("b", "deploy hello v1");
  bot.settle();
  // Recorded and acked, but the acks are not written yet: nothing runs.
  EXPECT_EQ(bot.journal, (Journal{"ack:env-a", "ack:env-b"}));
  ASSERT_EQ(bot.acks->held.size(), 1u);
  bot.acks->release();
  bot.settle();
  EXPECT_EQ(bot.journal,
            (Journal{"ack:env-a", "ack:env-b", "written", "run:status", "run:deploy hello v1"}));
}

TEST_F(CommandIntakeTest, ABatchOverTwoConnectionsWaitsForBothAcksWhateverKindTheyAre) {
  Process bot(*db);
  bot.acks->callbacks = true;
  bot.acks->hold = true;
  auto other = std::make_shared<FakeAcks>(bot.io, bot.journal);  // awaited, not called back
  other->hold = true;
  bot.deliver("a", "status");
  bot.intake->submit("fake",
                     Delivery{other, "env-b", IncomingCommand{"b", "U1", "C1", "", "ping"}, {}});
  bot.settle();
  EXPECT_EQ(bot.journal, (Journal{"ack:env-a", "ack:env-b"}));
  // The first connection's acks are written; the second's are not: still nothing runs.
  bot.acks->release();
  bot.settle();
  EXPECT_EQ(bot.journal, (Journal{"ack:env-a", "ack:env-b", "written"}));
  EXPECT_TRUE(bot.dispatcher.events.empty());
}

TEST_F(CommandIntakeTest, FlushRecordsAndAcksTheBatchWithoutWaitingForATurn) {
  Process bot(*db);
  bot.deliver("a", "status");
  bot.deliver("b", "ping");
  bot.intake->flush();
  // Recorded and acked at once, in one transaction.
  EXPECT_EQ(bot.journal, (Journal{"ack:env-a", "ack:env-b"}));
  EXPECT_EQ(bot.intake->stats().batches, 1u);
  EXPECT_EQ(bot.inbox.size(), 2u);
  bot.deliver("c", "whoami");
  bot.settle();
  // The turn the first batch had posted closed nothing; the next batch closed by its own turn.
  EXPECT_EQ(bot.intake->stats().batches, 2u);
  EXPECT_EQ(bot.dispatcher.events.size(), 3u);
  bot.intake->flush();  // nothing gathered: nothing to do
  EXPECT_EQ(bot.intake->stats().batches, 2u);
}

TEST_F(CommandIntakeTest, UnknownPlatformUsersActUnderAPlatformScopedName) {
  Process bot(*db);
  bot.deliver("a", "status", "U999");
  bot.settle();
  ASSERT_EQ(bot.dispatcher.events.size(), 1u);
  EXPECT_EQ(bot.dispatcher.events[0].user_id, "fake:U999");
}

TEST_F(CommandIntakeTest, AMutatingCommandIsMarkedStartedBeforeItRunsAReadOnlyOneIsNot) {
  Process bot(*db);
  bot.deliver("a", "deploy hello v1");
  bot.deliver("b", "status");
  bot.settle();
  EXPECT_EQ(bot.dispatcher.started_when_run, (std::vector<bool>{true, false}));
}

TEST_F(CommandIntakeTest, ARedeliveryIsAckedAndDropped) {
  Process bot(*db);
  bot.deliver("a", "deploy hello v1");
  bot.settle();
  bot.deliver("a", "deploy hello v1");
  bot.settle();
  EXPECT_EQ(bot.journal, (Journal{"ack:env-a", "written", "run:deploy hello v1", "ack:env-a"}));
  EXPECT_EQ(bot.intake->stats().duplicates, 1u);
  EXPECT_EQ(bot.dispatcher.events.size(), 1u);
}

TEST_F(CommandIntakeTest, ARedeliveryInsideOneBatchRunsOnce) {
  Process bot(*db);
  bot.deliver("a", "status");
  bot.deliver("a", "status");
  bot.settle();
  EXPECT_EQ(bot.intake->stats().batches, 1u);
  EXPECT_EQ(bot.intake->stats().acks, 2u);
  EXPECT_EQ(bot.dispatcher.events.size(), 1u);
}

TEST_F(CommandIntakeTest, ARecordFailureMeansNoAck) {
  Process bot(*db);
  db->exec("DROP TABLE inbox_pending");
  bot.deliver("a", "deploy hello v1");
  bot.settle();
  EXPECT_TRUE(bot.journal.empty());
  EXPECT_EQ(bot.intake->stats().not_recorded, 1u);
  EXPECT_EQ(bot.intake->accept_now("fake", IncomingCommand{"b", "U1", "C1", "", "status"}),
            CommandIntake::Accepted::not_recorded);
  bot.settle();
  EXPECT_TRUE(bot.dispatcher.events.empty());
}

TEST_F(CommandIntakeTest, DoneIsBatched) {
  Process bot(*db);
  bot.deliver("a", "deploy hello v1");
  bot.deliver("b", "deploy hello v2");
  bot.deliver("c", "status");
  bot.settle();
  ASSERT_EQ(bot.dispatcher.events.size(), 3u);
  // Finished, but not yet marked done one by one.
  EXPECT_EQ(bot.intake->stats().done_flushes, 0u);
  EXPECT_EQ(bot.inbox.in_state("started").size(), 2u);
  // The next delivery's commit carries them.
  bot.deliver("d", "status");
  bot.settle();
  EXPECT_EQ(bot.inbox.in_state("started").size(), 0u);
  EXPECT_EQ(bot.inbox.in_state("received").size(), 1u);  // "d": finished, waiting for its batch
  EXPECT_EQ(bot.intake->stats().done_flushes, 0u);
  // Alone, they are marked done together once the flush delay has passed.
  bot.timers.advance(std::chrono::milliseconds(19));
  bot.settle();
  EXPECT_EQ(bot.intake->stats().done_flushes, 0u);
  bot.timers.advance(std::chrono::milliseconds(1));
  bot.settle();
  EXPECT_EQ(bot.intake->stats().done_flushes, 1u);
  EXPECT_EQ(bot.inbox.in_state("received").size(), 0u);
}

TEST_F(CommandIntakeTest, StopMarksFinishedCommandsDoneAndRecordsNothingMore) {
  Process bot(*db);
  bot.deliver("a", "deploy hello v1");
  bot.settle();
  bot.intake->stop();
  EXPECT_EQ(bot.inbox.in_state("started").size(), 0u);
  bot.deliver("b", "status");
  bot.settle();
  EXPECT_EQ(bot.journal.back(), "run:deploy hello v1");  // "b" was neither acked nor run
}

TEST_F(CommandIntakeTest, AckedButNotStartedRunsExactlyOnceAfterACrash) {
  {
    Process crashed(*db);
    crashed.acks->hold = true;
    crashed.deliver("a", "deploy hello v1");
    crashed.deliver("b", "status");
    crashed.settle();
    EXPECT_EQ(crashed.journal, (Journal{"ack:env-a", "ack:env-b"}));
    EXPECT_TRUE(crashed.dispatcher.events.empty());
  }
  Process restarted(*db);
  restarted.intake->replay("fake");
  restarted.settle();
  EXPECT_EQ(restarted.journal, (Journal{"run:deploy hello v1", "run:status"}));
  EXPECT_EQ(restarted.intake->stats().replayed, 2u);
  ASSERT_EQ(restarted.posted.size(), 2u);
  EXPECT_EQ(restarted.posted[0].text, "done: deploy hello v1");
  // The platform redelivers (the ack may never have arrived): acked and dropped.
  restarted.deliver("a", "deploy hello v1");
  restarted.settle();
  EXPECT_EQ(restarted.dispatcher.events.size(), 2u);
  EXPECT_EQ(restarted.journal.back(), "ack:env-a");
  // And a second restart runs nothing again.
  restarted.intake->stop();
  Process again(*db);
  again.intake->replay("fake");
  again.settle();
  EXPECT_TRUE(again.dispatcher.events.empty());
}

TEST_F(CommandIntakeTest, StartedButUnfinishedIsReportedNotRerunAfterACrash) {
  {
    Process crashed(*db);
    crashed.deliver("a", "deploy hang");
    crashed.settle();
    ASSERT_EQ(crashed.dispatcher.started_when_run, (std::vector<bool>{true}));
  }
  Process restarted(*db);
  restarted.intake->replay("fake");
  restarted.settle();
  EXPECT_TRUE(restarted.dispatcher.events.empty());
  EXPECT_EQ(restarted.intake->stats().interrupted, 1u);
  ASSERT_EQ(restarted.posted.size(), 1u);
  EXPECT_EQ(restarted.posted[0].address, "fake:C1:");
  EXPECT_NE(restarted.posted[0].text.find("Shipmate restarted while running 'deploy hang'"),
            std::string::npos);
  // Reported once: forgotten afterwards.
  Process again(*db);
  again.intake->replay("fake");
  again.settle();
  EXPECT_TRUE(again.posted.empty());
}

TEST_F(CommandIntakeTest, ReplayLeavesOtherPlatformsCommandsToTheirOwnTransport) {
  {
    Process crashed(*db);
    crashed.acks->hold = true;
    crashed.deliver("a", "status");
    crashed.settle();
  }
  ManualClock clock;
  storage::InboxStore inbox(*db, clock);
  Process restarted(*db);
  IntakePlatform other;
  other.name = "other";
  other.conversation = [](const std::string&, const std::string&) { return nullptr; };
  restarted.intake->attach(std::move(other));
  restarted.intake->replay("other");
  restarted.settle();
  EXPECT_TRUE(restarted.dispatcher.events.empty());
  EXPECT_EQ(inbox.in_state("received").size(), 1u);
  restarted.intake->replay("fake");
  restarted.settle();
  EXPECT_EQ(restarted.dispatcher.events.size(), 1u);
}

// Replicas (issue 17): each inbox row carries the replica that received it. A replica's replay
// leaves another's rows alone (a new replica never re-runs or reports a live one's commands); a
// dead replica's rows are adopted by one survivor, which runs the unstarted ones once and reports
// the started ones.
TEST_F(CommandIntakeTest, AReplicaReplaysOnlyItsOwnAndOneSurvivorTakesADeadOnesOver) {
  {
    Process a(*db, "a");
    a.deliver("x", "deploy hang");  // started, never finishes
    a.settle();
    a.acks->hold = true;
    a.deliver("y", "deploy hello v1");  // acked, never started
    a.deliver("z", "status");
    a.settle();
    ASSERT_EQ(a.dispatcher.events.size(), 1u);
  }
  ManualClock clock;
  storage::InboxStore reader(*db, clock);
  for (const auto& entry : reader.others_pending())
    EXPECT_EQ(entry.replica, "a") << entry.key;
  ASSERT_EQ(reader.others_pending().size(), 3u);

  Process b(*db, "b");
  Process c(*db, "c");
  b.intake->replay("fake");
  c.intake->replay("fake");
  b.settle();
  c.settle();
  EXPECT_TRUE(b.dispatcher.events.empty());
  EXPECT_TRUE(c.dispatcher.events.empty());
  EXPECT_TRUE(b.posted.empty());
  // While a is alive, nobody touches its commands.
  std::vector<std::string> asked;
  EXPECT_EQ(b.intake->take_over([&](const std::string& replica) {
    asked.push_back(replica);
    return false;
  }),
            0u);
  EXPECT_EQ(asked, (std::vector<std::string>{"a"}));  // asked once per replica, not per row
  b.settle();
  EXPECT_TRUE(b.dispatcher.events.empty());
  EXPECT_EQ(reader.others_pending().size(), 3u);

  // a is dead: b adopts all three; c, asking next, finds none left.
  const auto dead = [](const std::string& replica) { return replica == "a"; };
  EXPECT_EQ(b.intake->take_over(dead), 3u);
  EXPECT_EQ(c.intake->take_over(dead), 0u);
  b.settle();
  c.settle();
  EXPECT_EQ(b.journal, (Journal{"run:deploy hello v1", "run:status"}));
  EXPECT_TRUE(c.dispatcher.events.empty());
  EXPECT_TRUE(c.posted.empty());
  ASSERT_EQ(b.posted.size(), 3u);
  EXPECT_EQ(b.posted[0].text,
            "Shipmate replica a stopped while running 'deploy hang'; check 'status' and 'history' "
            "before trying again.");
  EXPECT_EQ(b.posted[1].text, "done: deploy hello v1");
  EXPECT_EQ(b.posted[2].text, "done: status");
  b.intake->stop();
  EXPECT_TRUE(reader.in_state("received").empty());
  EXPECT_TRUE(reader.in_state("started").empty());
  // Redelivered to any replica: recognised, acked, dropped.
  c.deliver("y", "deploy hello v1");
  c.settle();
  EXPECT_TRUE(c.dispatcher.events.empty());
}

TEST_F(CommandIntakeTest, ACommandThatFailsBeforeItRunsIsAnsweredAndCountsAsFinished) {
  {
    Process bot(*db);
    bot.deliver("a", "boom");
    bot.settle();
    ASSERT_EQ(bot.posted.size(), 1u);
    EXPECT_EQ(bot.posted[0].text,
              "Internal error: the audit log refused a write. The command did not run; try again.");
    bot.intake->stop();
  }
  Process restarted(*db);
  restarted.intake->replay("fake");
  restarted.settle();
  EXPECT_TRUE(restarted.dispatcher.events.empty());
  EXPECT_TRUE(restarted.posted.empty());
}

TEST_F(CommandIntakeTest, AcceptNowRecordsAtOnceAndRecognisesRedeliveries) {
  Process bot(*db);
  EXPECT_EQ(bot.intake->accept_now("fake", IncomingCommand{"a", "U1", "C1", "", "deploy x"}),
            CommandIntake::Accepted::fresh);
  EXPECT_EQ(bot.inbox.in_state("received").size(), 1u);
  EXPECT_EQ(bot.intake->accept_now("fake", IncomingCommand{"a", "U1", "C1", "", "deploy x"}),
            CommandIntake::Accepted::duplicate);
  bot.settle();
  EXPECT_EQ(bot.dispatcher.events.size(), 1u);
}

// count_in(): per platform, every ack and every command's first reply is timed once, and every
// recognised redelivery counted; the conversation a command sees still answers where it should.
TEST_F(CommandIntakeTest, CountsAckAndFirstReplyLatencyAndRedeliveriesPerPlatform) {
  metrics::Registry registry;
  Process bot(*db);
  bot.intake->count_in(registry);
  auto& acks = registry.histogram("shipmate_ack_latency_seconds", "",
                                  metrics::short_latency_buckets(), {"platform"}, {"fake"});
  auto& replies = registry.histogram("shipmate_reply_latency_seconds", "",
                                     metrics::latency_buckets(), {"platform"}, {"fake"});
  auto& duplicates =
      registry.counter("shipmate_deliveries_deduplicated_total", "", {"platform"}, {"fake"});
  bot.deliver("a", "status");
  bot.deliver_ack_only("b");
  bot.deliver("a", "status");  // a redelivery inside the batch
  bot.settle();
  EXPECT_EQ(acks.count(), 3u);     // every acknowledgement sent
  EXPECT_EQ(replies.count(), 1u);  // one command ran and answered
  EXPECT_EQ(duplicates.value(), 1u);
  ASSERT_EQ(bot.posted.size(), 1u);
  EXPECT_EQ(bot.posted[0].address, "fake:C1:");

  // The synchronous path counts its redeliveries and times its replies too.
  EXPECT_EQ(bot.intake->accept_now("fake", IncomingCommand{"c", "U1", "C1", "", "ping"}),
            CommandIntake::Accepted::fresh);
  EXPECT_EQ(bot.intake->accept_now("fake", IncomingCommand{"c", "U1", "C1", "", "ping"}),
            CommandIntake::Accepted::duplicate);
  bot.settle();
  EXPECT_EQ(duplicates.value(), 2u);
  EXPECT_EQ(replies.count(), 2u);
  // One series per platform, in the registry's text.
  const std::string text = registry.render();
  EXPECT_NE(text.find("shipmate_ack_latency_seconds_count{platform=\"fake\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("shipmate_deliveries_deduplicated_total{platform=\"fake\"} 2\n"),
            std::string::npos)
      << text;
}

TEST_F(CommandIntakeTest, ACommandReplayedAfterARestartIsNotTimed) {
  {
    Process crashed(*db);
    crashed.acks->hold = true;  // acked and recorded, but never started
    crashed.deliver("a", "status");
    crashed.settle();
  }
  metrics::Registry registry;
  Process restarted(*db);
  restarted.intake->count_in(registry);
  restarted.intake->replay("fake");
  restarted.settle();
  ASSERT_EQ(restarted.dispatcher.events.size(), 1u);
  EXPECT_EQ(registry
                .histogram("shipmate_reply_latency_seconds", "", metrics::latency_buckets(),
                           {"platform"}, {"fake"})
                .count(),
            0u);
}

TEST_F(CommandIntakeTest, RunUnrecordedSkipsTheInbox) {
  Process bot(*db);
  IntakePlatform terminal;
  terminal.name = "terminal";
  terminal.conversation = [](const std::string&, const std::string&) { return nullptr; };
  terminal.ids_are_identities = true;
  bot.intake->attach(std::move(terminal));
  std::vector<Posted> posted;
  FakeConversation conversation(posted, "terminal");
  asio::co_spawn(
      bot.io,
      bot.intake->run_unrecorded("terminal", IncomingCommand{"", "bob", "terminal", "", "deploy y"},
                                 conversation),
      asio::detached);
  bot.settle();
  ASSERT_EQ(bot.dispatcher.events.size(), 1u);
  EXPECT_EQ(bot.dispatcher.events[0].user_id, "bob");
  EXPECT_EQ(bot.inbox.size(), 0u);
  ASSERT_EQ(posted.size(), 1u);
}

// Every command runs as a request of its own (common/request_id.h): grouped deliveries, the
// synchronous path, a replay after a restart and the terminal's unrecorded path each log with a
// fresh id, and code outside a command has none.
TEST_F(CommandIntakeTest, EveryCommandRunsWithARequestIdOfItsOwn) {
  {
    Process bot(*db);
    bot.deliver("a", "status");
    bot.deliver("b", "deploy hang");  // started, never finishes: reported after the restart
    bot.settle();
    EXPECT_EQ(bot.intake->accept_now("fake", IncomingCommand{"c", "U1", "C1", "", "ping"}),
              CommandIntake::Accepted::fresh);
    bot.settle();
    IntakePlatform terminal;
    terminal.name = "terminal";
    terminal.conversation = [](const std::string&, const std::string&) { return nullptr; };
    terminal.ids_are_identities = true;
    bot.intake->attach(std::move(terminal));
    std::vector<Posted> posted;
    FakeConversation conversation(posted, "terminal");
    asio::co_spawn(
        bot.io,
        bot.intake->run_unrecorded("terminal", IncomingCommand{"", "bob", "terminal", "", "ping"},
                                   conversation),
        asio::detached);
    bot.settle();
    const auto& ids = bot.dispatcher.request_ids;
    ASSERT_EQ(ids.size(), 4u);
    for (const auto& id : ids) {
      EXPECT_EQ(id.size(), 12u) << id;
      EXPECT_EQ(std::count(ids.begin(), ids.end(), id), 1) << id << " was used twice";
    }
    EXPECT_EQ(current_request_id(), "");
  }
  Process restarted(*db);
  restarted.deliver("d", "status");
  restarted.settle();
  restarted.intake->replay("fake");
  restarted.settle();
  ASSERT_FALSE(restarted.dispatcher.request_ids.empty());
  for (const auto& id : restarted.dispatcher.request_ids)
    EXPECT_EQ(id.size(), 12u);
}

}  // namespace
}  // namespace shipmate::bot
