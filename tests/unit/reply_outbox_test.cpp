// The reply outbox (bot/reply_outbox.h) through the command intake, against a fake platform that
// holds messages like Slack's queue and a fake "server" that outlives each simulated process:
// record before post, "done" in the same commit, sent marks, the restart paths (a reply that left
// before the crash is found and not sent again; one that did not leave is sent once), retries on
// manual time, and the notice for an interrupted command told once across two crashes.
#include "bot/reply_outbox.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <optional>

#include "bot/command_intake.h"
#include "common/metrics.h"
#include "common/timer.h"
#include "storage/database.h"
#include "storage/inbox_store.h"
#include "storage/outbox_store.h"

namespace shipmate::bot {
namespace {

namespace asio = boost::asio;
using commands::OutboxTicket;

// The platform's side, which survives the bot's crashes: what was posted, with its key.
struct FakeServer {
  struct Posted {
    std::string channel;
    std::string key;
    std::string text;
    std::string id;
    int updates = 0;
  };
  std::vector<Posted> messages;
  // Scripted answers for the next sends: "ok", "not_sent" (nothing posted), "maybe_sent" (posted,
  // then the connection dropped), "silent" (posted; the answer never comes: killed in flight).
  std::deque<std::string> script;
  int next_id = 1;
  // States the outbox had recorded when each message left: (row recorded, command done).
  std::vector<std::pair<bool, bool>> seen_at_release;
  std::function<std::pair<bool, bool>(const std::string& key)> inspect;

  int posts_with(const std::string& key) const {
    int count = 0;
    for (const auto& message : messages)
      count += message.key == key ? 1 : 0;
    return count;
  }

  void deliver(const std::string& intent, const std::string& channel, const std::string& target_id,
               const commands::Message& message, OutboxTicket& ticket) {
    if (inspect)
      seen_at_release.push_back(inspect(ticket.key));
    const std::string how = script.empty() ? "ok" : script.front();
    if (!script.empty())
      script.pop_front();
    if (how == "not_sent") {
      ticket.done(make_error("connection refused", ErrorKind::unavailable, Reach::not_sent));
      return;
    }
    std::string id;
    if (intent == "update" && !target_id.empty()) {
      for (auto& posted : messages) {
        if (posted.id == target_id) {
          posted.text = message.text;
          ++posted.updates;
          id = target_id;
        }
      }
    }
    if (id.empty()) {
      id = "m" + std::to_string(next_id++);
      messages.push_back({channel, ticket.key, message.text, id, 0});
    }
    if (how == "maybe_sent") {
      ticket.done(
          make_error("connection closed before a response", ErrorKind::unavailable, Reach::sent));
      return;
    }
    if (how == "silent")
      return;
    ticket.done(id);
  }
};

// A platform conversation that holds each message until its ticket is released, like Slack's.
class HoldingConversation final : public commands::Conversation {
 public:
  HoldingConversation(FakeServer& server, std::string channel)
      : server_(server), channel_(std::move(channel)) {}
  commands::MessageRef post(const commands::Message&) override { return ""; }
  void update(const commands::MessageRef&, const commands::Message&) override {}
  void thread_reply(const commands::MessageRef&, const commands::Message&) override {}
  std::string address() const override { return "fake:" + channel_; }
  bool holds_messages() const override { return true; }
  commands::MessageRef post_held(const commands::Message& message,
                                 std::shared_ptr<OutboxTicket> ticket) override {
    hold("post", "", message, std::move(ticket));
    return "ref" + std::to_string(++refs_);
  }
  void update_held(const commands::MessageRef&, const commands::Message& message,
                   std::shared_ptr<OutboxTicket> ticket) override {
    // The post's platform id is known once it was sent (at release): the channel's last one.
    hold("update", "", message, std::move(ticket));
  }
  void thread_reply_held(const commands::MessageRef&, const commands::Message& message,
                         std::shared_ptr<OutboxTicket> ticket) override {
    hold("thread_reply", "", message, std::move(ticket));
  }

 private:
  void hold(std::string intent, std::string target, const commands::Message& message,
            std::shared_ptr<OutboxTicket> ticket) {
    OutboxTicket* raw = ticket.get();
    // The ticket owns the callback; the conversation may be gone when it runs.
    ticket->on_hold_ended.push_back(
        [&server = server_, raw, intent, target, message, channel = channel_] {
          if (raw->hold != OutboxTicket::Hold::released)
            return;
          std::string at = target;
          for (const auto& posted : server.messages)
            at = intent == "update" && posted.channel == channel ? posted.id : at;
          server.deliver(intent, channel, at, message, *raw);
        });
    held_.push_back(std::move(ticket));
  }
  FakeServer& server_;
  std::string channel_;
  int refs_ = 0;
  std::vector<std::shared_ptr<OutboxTicket>> held_;
};

// Nothing acked is ever lost here: acks are written at once. Each is noted in `log`.
class InstantAcks final : public AckChannel {
 public:
  bool send_ack(const std::string& id) override {
    log.push_back("ack " + id);
    return true;
  }
  asio::awaitable<void> acks_written() override { co_return; }
  std::vector<std::string> log;
};

// "status": one reply. "slow": a reply, then waits forever. "card": a post, an update of it and a
// thread reply. "deploy hang": marked started, then waits forever (a crash mid-way).
class Dispatcher final : public CommandDispatcher {
 public:
  explicit Dispatcher(asio::io_context& io) : never_(io) {}
  bool changes_state(std::string_view text) const override {
    ++lookups;
    return text.starts_with("deploy");
  }
  asio::awaitable<void> dispatch(ChatEvent event, commands::Conversation& conversation) override {
    ++runs;
    if (event.text == "card") {
      const auto ref = conversation.post(commands::info("card v1"));
      conversation.update(ref, commands::info("card v2"));
      conversation.thread_reply(ref, commands::info("detail"));
      co_return;
    }
    if (event.text == "slow" || event.text == "deploy hang") {
      if (event.text == "slow")
        conversation.post(commands::info("first part"));
      never_.expires_at(asio::steady_timer::time_point::max());
      boost::system::error_code ignored;
      co_await never_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    conversation.post(commands::info("done: " + event.text));
  }
  int runs = 0;
  mutable int lookups = 0;  // changes_state() calls

 private:
  asio::steady_timer never_;
};

// One life of the bot over the shared database and server. Destroying it without stop() is a
// crash (SIGKILL): nothing more is written.
struct Process {
  Process(storage::Database& db, FakeServer& server_in, bool can_look = true)
      : server(server_in), inbox(db, clock), outbox(db, inbox, clock), dispatcher(io) {
    CommandIntake::Options options;
    options.outbox = &outbox;
    intake.emplace(io.get_executor(), inbox, dispatcher, timers, options);
    IntakePlatform platform;
    platform.name = "fake";
    platform.conversation = [this](const std::string& channel, const std::string&) {
      return std::make_unique<HoldingConversation>(server, channel);
    };
    platform.identities = {{"U1", "alice"}};
    if (can_look) {
      platform.outbox.find_sent =
          [this](std::string channel, std::string,
                 EpochMillis) -> asio::awaitable<Result<std::map<std::string, std::string>>> {
        ++looks;
        std::map<std::string, std::string> found;
        for (const auto& posted : server.messages) {
          if (posted.channel == channel && !posted.key.empty())
            found[posted.key] = posted.id;
        }
        co_return found;
      };
    }
    platform.outbox.send = [this](const std::string& intent, const std::string& channel,
                                  const std::string&, const std::string& target_id,
                                  const commands::Message& message,
                                  std::shared_ptr<OutboxTicket> ticket) {
      server.deliver(intent, channel, target_id, message, *ticket);
    };
    intake->attach(std::move(platform));
    server.inspect = [this](const std::string& key) {
      const auto row = outbox.find(key);
      bool done = true;
      const std::string command = key.substr(0, key.rfind('#'));
      for (const auto& state : {"received", "started"}) {
        for (const auto& entry : inbox.in_state(state))
          done = done && entry.key != command;
      }
      return std::make_pair(row.has_value(), done);
    };
  }
  ~Process() { server.inspect = nullptr; }

  void deliver(const std::string& id, const std::string& text) {
    intake->submit("fake",
                   Delivery{acks, "env-" + id, IncomingCommand{id, "U1", "C1", "", text}, {}});
  }
  void settle() {
    while (io.poll() > 0) {
    }
    io.restart();
  }
  void advance(std::chrono::milliseconds by) {
    timers.advance(by);
    settle();
  }
  std::optional<storage::OutboxRow> row(const std::string& key) { return outbox.find(key); }

  FakeServer& server;
  asio::io_context io;
  ManualClock clock;
  ManualTimers timers{io.get_executor(), &clock};
  storage::InboxStore inbox;
  storage::OutboxStore outbox;
  Dispatcher dispatcher;
  std::optional<CommandIntake> intake;
  std::shared_ptr<InstantAcks> acks = std::make_shared<InstantAcks>();
  int looks = 0;
};

class ReplyOutboxTest : public ::testing::Test {
 protected:
  // Counts the database's commits (the seam bot/app.cpp uses for its commit-time histogram).
  metrics::Histogram commits{std::vector<double>{1.0}};
  std::unique_ptr<storage::Database> db = std::move(*storage::Database::open(":memory:"));
  FakeServer server;
};

TEST_F(ReplyOutboxTest, AReplyLeavesOnlyOnceRecordedTogetherWithItsCommandsDone) {
  Process bot(*db, server);
  bot.deliver("a", "status");
  bot.settle();
  ASSERT_EQ(server.messages.size(), 1u);
  EXPECT_EQ(server.messages[0].key, "fake:a#0");
  EXPECT_EQ(server.messages[0].text, "done: status");
  // When it left, its row was in the database and the command was already marked done.
  ASSERT_EQ(server.seen_at_release.size(), 1u);
  EXPECT_EQ(server.seen_at_release[0], std::make_pair(true, true));
  // The platform's id is recorded with the next commit.
  EXPECT_EQ(bot.row("fake:a#0")->state, "pending");
  bot.advance(std::chrono::milliseconds(20));
  EXPECT_EQ(bot.row("fake:a#0")->state, "sent");
  EXPECT_EQ(bot.row("fake:a#0")->platform_id, "m1");
  EXPECT_EQ(bot.intake->outbox()->stats().sent, 1u);
}

TEST_F(ReplyOutboxTest, PostUpdateAndThreadReplyGetKeysInOrderAndPointAtTheirPost) {
  Process bot(*db, server);
  bot.deliver("c", "card");
  bot.settle();
  const auto update = bot.row("fake:c#1");
  const auto reply = bot.row("fake:c#2");
  ASSERT_TRUE(update && reply);
  EXPECT_EQ(update->intent, "update");
  EXPECT_EQ(update->target_key, "fake:c#0");
  EXPECT_EQ(reply->intent, "thread_reply");
  EXPECT_EQ(reply->target_key, "fake:c#0");
  ASSERT_EQ(server.messages.size(), 2u);  // the post (updated in place) and the thread reply
  EXPECT_EQ(server.messages[0].text, "card v2");
  EXPECT_EQ(server.messages[0].updates, 1);
}

TEST_F(ReplyOutboxTest, AReplyThatLeftJustBeforeACrashIsFoundAndNotSentAgain) {
  {
    Process bot(*db, server);
    server.script = {"silent"};  // posted; killed before the answer (and its sent mark) came
    bot.deliver("a", "status");
    bot.settle();
    ASSERT_EQ(server.messages.size(), 1u);
    EXPECT_EQ(bot.row("fake:a#0")->state, "pending");
  }
  Process again(*db, server);
  again.intake->replay("fake");
  again.settle();
  EXPECT_EQ(again.looks, 1);
  EXPECT_EQ(server.posts_with("fake:a#0"), 1);
  EXPECT_EQ(again.intake->outbox()->stats().found, 1u);
  EXPECT_EQ(again.dispatcher.runs, 0);  // done was committed with its reply
  again.advance(std::chrono::milliseconds(20));
  EXPECT_EQ(again.row("fake:a#0")->state, "sent");
  EXPECT_EQ(again.row("fake:a#0")->platform_id, "m1");
}

TEST_F(ReplyOutboxTest, ACommandRunAgainAfterACrashDoesNotRepeatARecordedReply) {
  {
    Process bot(*db, server);
    server.script = {"silent"};
    bot.deliver("s", "slow");  // replies, then is killed before it finishes
    bot.settle();
    ASSERT_EQ(server.messages.size(), 1u);
  }
  Process again(*db, server);
  again.intake->replay("fake");
  again.settle();
  // Read-only and unfinished, so it ran again; its first reply was recorded and found.
  EXPECT_EQ(again.dispatcher.runs, 1);
  EXPECT_EQ(server.posts_with("fake:s#0"), 1);
  EXPECT_EQ(again.intake->outbox()->stats().skipped, 1u);
}

TEST_F(ReplyOutboxTest, AReplyRecordedButNotPostedBeforeACrashIsSentOnceAfterIt) {
  {
    Process bot(*db, server);
    bot.deliver("a", "status");
    // Recorded (the commit ran) but killed before the platform took it: drop what was posted.
    bot.settle();
    server.messages.clear();
  }
  Process again(*db, server);
  again.intake->replay("fake");
  again.settle();
  EXPECT_EQ(server.posts_with("fake:a#0"), 1);
  EXPECT_EQ(again.intake->outbox()->stats().resent, 1u);
  again.advance(std::chrono::milliseconds(20));
  EXPECT_EQ(again.row("fake:a#0")->state, "sent");
}

TEST_F(ReplyOutboxTest, WithoutAWayToLookAReplyInDoubtIsSentAgainRatherThanLost) {
  {
    Process bot(*db, server, /*can_look=*/false);
    server.script = {"silent"};
    bot.deliver("a", "status");
    bot.settle();
  }
  Process again(*db, server, /*can_look=*/false);
  again.intake->replay("fake");
  again.settle();
  EXPECT_EQ(server.posts_with("fake:a#0"), 2);
}

TEST_F(ReplyOutboxTest, ARefusedConnectionIsRetriedWithBackOffOnManualTime) {
  Process bot(*db, server);
  server.script = {"not_sent", "not_sent"};
  bot.deliver("a", "status");
  bot.settle();
  EXPECT_EQ(server.messages.size(), 0u);
  bot.advance(std::chrono::milliseconds(499));
  EXPECT_EQ(server.messages.size(), 0u);
  bot.advance(std::chrono::milliseconds(1));  // 500 ms: the second attempt, refused again
  EXPECT_EQ(server.messages.size(), 0u);
  bot.advance(std::chrono::milliseconds(1000));  // then 1 s: posted
  EXPECT_EQ(server.posts_with("fake:a#0"), 1);
  EXPECT_EQ(bot.intake->outbox()->stats().retries, 2u);
  bot.advance(std::chrono::milliseconds(20));
  EXPECT_EQ(bot.row("fake:a#0")->state, "sent");
}

TEST_F(ReplyOutboxTest, ADroppedConnectionAfterTheRequestLeftLooksBeforeSendingAgain) {
  Process bot(*db, server);
  server.script = {"maybe_sent"};
  bot.deliver("a", "status");
  bot.settle();
  EXPECT_EQ(server.messages.size(), 1u);
  bot.advance(std::chrono::milliseconds(500));
  EXPECT_EQ(bot.looks, 1);
  EXPECT_EQ(server.posts_with("fake:a#0"), 1);
  bot.advance(std::chrono::milliseconds(20));
  EXPECT_EQ(bot.row("fake:a#0")->state, "sent");
}

TEST_F(ReplyOutboxTest, TheNoticeForAnInterruptedCommandIsToldOnceAcrossTwoCrashes) {
  {
    Process bot(*db, server);
    bot.deliver("d", "deploy hang");
    bot.settle();
  }
  {
    Process second(*db, server);
    server.script = {"silent"};  // the notice leaves; killed before its answer
    second.intake->replay("fake");
    second.settle();
    EXPECT_EQ(server.posts_with("fake:d#restart"), 1);
  }
  Process third(*db, server);
  third.intake->replay("fake");
  third.settle();
  EXPECT_EQ(server.posts_with("fake:d#restart"), 1);
  EXPECT_EQ(third.dispatcher.runs, 0);
}

TEST_F(ReplyOutboxTest, MessagesRoundTripThroughTheirStoredFormWithSecretsRedacted) {
  commands::Message message(commands::Tone::warning, "hello");
  message.fields = {{"env", "staging"}};
  message.context = "small print";
  message.buttons = {{"Roll back", "rollback hello", "danger"}};
  message.preformatted = true;
  auto back = decode_message(encode_message(message));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->tone, commands::Tone::warning);
  EXPECT_EQ(back->text, "hello");
  ASSERT_EQ(back->fields.size(), 1u);
  EXPECT_EQ(back->fields[0].value, "staging");
  EXPECT_EQ(back->context, "small print");
  ASSERT_EQ(back->buttons.size(), 1u);
  EXPECT_EQ(back->buttons[0].command, "rollback hello");
  EXPECT_TRUE(back->preformatted);
  EXPECT_FALSE(decode_message("not json"));

  // Quotes, backslashes, line breaks, control bytes and UTF-8 come back as they were.
  const std::string awkward = "say \"hi\" \\ to\nyou\t\x01 caf\xc3\xa9 \xe2\x9c\x85";
  commands::Message plain(commands::Tone::info, awkward);
  plain.fields = {{awkward, "a"}, {"b", awkward}};
  plain.buttons = {{"x", awkward, ""}};
  auto again = decode_message(encode_message(plain));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->tone, commands::Tone::info);
  EXPECT_EQ(again->text, awkward);
  ASSERT_EQ(again->fields.size(), 2u);
  EXPECT_EQ(again->fields[0].label, awkward);
  EXPECT_EQ(again->fields[1].value, awkward);
  ASSERT_EQ(again->buttons.size(), 1u);
  EXPECT_EQ(again->buttons[0].command, awkward);
  EXPECT_FALSE(again->preformatted);
  EXPECT_TRUE(again->context.empty());
}

TEST_F(ReplyOutboxTest, SentRowsOfFinishedCommandsArePrunedOthersStay) {
  Process bot(*db, server);
  bot.deliver("a", "status");
  bot.deliver("s", "slow");
  bot.settle();
  bot.advance(std::chrono::milliseconds(20));
  EXPECT_EQ(bot.outbox.size(), 2u);
  // "slow" has not finished: its row stays for a possible rerun after a crash.
  EXPECT_EQ(bot.outbox.prune_sent_before(bot.clock.now_ms() + 1), 1);
  EXPECT_TRUE(bot.row("fake:s#0"));
  EXPECT_FALSE(bot.row("fake:a#0"));
}

// Shows each message at once, as the terminal does, and notes how many rows were recorded then.
class ShownAtOnce final : public commands::Conversation {
 public:
  explicit ShownAtOnce(storage::OutboxStore& outbox) : outbox_(outbox) {}
  commands::MessageRef post(const commands::Message& message) override {
    shown.push_back(message.text);
    rows_when_shown.push_back(outbox_.size());
    return std::to_string(shown.size());
  }
  void update(const commands::MessageRef&, const commands::Message& message) override {
    post(message);
  }
  void thread_reply(const commands::MessageRef&, const commands::Message& message) override {
    post(message);
  }
  std::string address() const override { return "terminal"; }
  std::vector<std::string> shown;
  std::vector<std::size_t> rows_when_shown;

 private:
  storage::OutboxStore& outbox_;
};

TEST_F(ReplyOutboxTest, ATerminalCommandsRepliesAreRecordedAsSentBeforeEachIsShown) {
  Process bot(*db, server);
  IntakePlatform terminal;
  terminal.name = "terminal";
  terminal.conversation = [](const std::string&, const std::string&) { return nullptr; };
  terminal.ids_are_identities = true;
  bot.intake->attach(std::move(terminal));
  ShownAtOnce conversation(bot.outbox);
  for (int i = 0; i < 2; ++i) {
    asio::co_spawn(
        bot.io,
        bot.intake->run_unrecorded("terminal", IncomingCommand{"", "bob", "terminal", "", "card"},
                                   conversation),
        asio::detached);
    bot.settle();
  }
  ASSERT_EQ(conversation.shown, (std::vector<std::string>{"card v1", "card v2", "detail", "card v1",
                                                          "card v2", "detail"}));
  // Each message's row was committed before it was shown.
  EXPECT_EQ(conversation.rows_when_shown, (std::vector<std::size_t>{1, 2, 3, 4, 5, 6}));
  // Nothing is left to recover (nothing could replay a terminal command), and the two runs of
  // one text have keys of their own.
  EXPECT_TRUE(bot.outbox.unsent("terminal").empty());
  EXPECT_EQ(bot.inbox.size(), 0u);
  std::vector<std::string> keys;
  auto select = db->prepare("SELECT idem_key, state, intent FROM outbox ORDER BY seq");
  while (select.step()) {
    keys.push_back(select.column_text(0));
    EXPECT_EQ(select.column_text(1), "sent");
  }
  ASSERT_EQ(keys.size(), 6u);
  EXPECT_TRUE(keys[0].starts_with("terminal:local:")) << keys[0];
  EXPECT_TRUE(keys[0].ends_with(":1#0")) << keys[0];
  EXPECT_TRUE(keys[5].ends_with(":2#2")) << keys[5];
  EXPECT_EQ(bot.outbox.find(keys[1])->intent, "update");
  EXPECT_EQ(bot.outbox.find(keys[1])->target_key, keys[0]);
  // One commit per message, and no later commit to mark them sent.
  bot.advance(std::chrono::milliseconds(100));
  EXPECT_EQ(bot.intake->outbox()->stats().commits, 6u);
}

// One commit per command: a read-only command runs before its delivery is recorded, and the
// delivery, its reply and its "done" are written together; the reply leaves after the ack.
TEST_F(ReplyOutboxTest, AReadOnlyCommandTakesOneCommitForItsDeliveryItsReplyAndItsDone) {
  Process bot(*db, server);
  db->set_commit_histogram(&commits);
  std::vector<std::string> order;
  auto inspect = server.inspect;
  server.inspect = [&](const std::string& key) {
    order.push_back("post " + key);
    return inspect(key);
  };
  for (int i = 0; i < 10; ++i) {
    const std::string id = "c" + std::to_string(i);
    bot.deliver(id, "status");
    bot.settle();
    ASSERT_EQ(server.messages.size(), static_cast<std::size_t>(i + 1));
    // The previous reply's sent mark rode along with this commit.
    EXPECT_EQ(commits.count(), static_cast<std::uint64_t>(i + 1)) << "after command " << i;
  }
  for (const auto& seen : server.seen_at_release)
    EXPECT_EQ(seen, std::make_pair(true, true));
  EXPECT_EQ(bot.intake->stats().commands, 10u);
  EXPECT_TRUE(bot.inbox.in_state("received").empty());  // each marked done in its one commit
  // The ack of each delivery was queued before its reply was released.
  ASSERT_EQ(bot.acks->log.size(), 10u);
  std::vector<std::string> merged;
  for (std::size_t i = 0; i < 10; ++i) {
    merged.push_back(bot.acks->log[i]);
    merged.push_back(order.at(i));
  }
  EXPECT_EQ(merged[0], "ack env-c0");
  EXPECT_EQ(merged[1], "post fake:c0#0");
  // The last sent mark waits for the flush delay: one more commit, and every row is sent.
  bot.advance(std::chrono::milliseconds(20));
  EXPECT_EQ(commits.count(), 11u);
  EXPECT_TRUE(bot.outbox.unsent("fake").empty());
  db->set_commit_histogram(nullptr);
}

// A read-only command that finished before its commit leaves only its key: no pending entry is
// written only to be deleted in the same transaction. One that is still running when its delivery
// is recorded gets its pending entry, as before. Either way a restart neither runs the finished
// one again nor sends its reply twice.
TEST_F(ReplyOutboxTest, ACommandFinishedBeforeItsCommitIsRecordedDoneWithoutAPendingEntry) {
  db->exec("CREATE TEMP TABLE pending_inserts (key TEXT)");
  db->exec(
      "CREATE TEMP TRIGGER count_pending AFTER INSERT ON inbox_pending "
      "BEGIN INSERT INTO pending_inserts VALUES (NEW.key); END");
  const auto pending_inserts = [&] {
    std::vector<std::string> keys;
    auto select = db->prepare("SELECT key FROM pending_inserts ORDER BY rowid");
    while (select.step())
      keys.push_back(select.column_text(0));
    return keys;
  };
  {
    Process bot(*db, server);
    db->set_commit_histogram(&commits);
    bot.deliver("a", "status");
    bot.settle();
    bot.deliver("b", "status");
    bot.deliver("s", "slow");  // in the same batch: replies, then waits
    bot.settle();
    EXPECT_EQ(commits.count(), 2u);
    db->set_commit_histogram(nullptr);
    EXPECT_EQ(pending_inserts(), (std::vector<std::string>{"fake:s"}));
    ASSERT_EQ(bot.inbox.in_state("received").size(), 1u);
    EXPECT_EQ(bot.inbox.in_state("received")[0].key, "fake:s");
    std::vector<std::string> done;
    for (const auto& entry : bot.inbox.in_state("done"))
      done.push_back(entry.key);
    EXPECT_EQ(done, (std::vector<std::string>{"fake:a", "fake:b"}));
    // Each reply was recorded when it left; a's and b's commands were done, s's still running.
    EXPECT_EQ(server.seen_at_release,
              (std::vector<std::pair<bool, bool>>{{true, true}, {true, true}, {true, false}}));
    EXPECT_EQ(bot.intake->stats().commands, 3u);
    // Killed now: the last replies' sent marks were never written.
  }
  Process again(*db, server);
  again.intake->replay("fake");
  again.settle();
  EXPECT_EQ(again.dispatcher.runs, 1);  // only "slow" ran again
  EXPECT_EQ(server.posts_with("fake:a#0"), 1);
  EXPECT_EQ(server.posts_with("fake:b#0"), 1);
  EXPECT_EQ(server.posts_with("fake:s#0"), 1);
  // A redelivery of a finished one is recognised by its key.
  again.deliver("a", "status");
  again.settle();
  EXPECT_EQ(server.posts_with("fake:a#0"), 1);
  EXPECT_EQ(again.intake->stats().duplicates, 1u);
}

TEST_F(ReplyOutboxTest, AReadOnlyCommandStartedTentativelyIsLookedUpOnce) {
  Process bot(*db, server);
  bot.deliver("a", "status");
  bot.settle();
  ASSERT_EQ(server.messages.size(), 1u);
  EXPECT_EQ(server.messages[0].text, "done: status");
  // Found read-only when it was started before its commit; not looked up again when it runs.
  EXPECT_EQ(bot.dispatcher.lookups, 1);
  EXPECT_EQ(bot.inbox.in_state("started").size(), 0u);
}

TEST_F(ReplyOutboxTest, ACommandThatChangesThingsStillStartsAfterItsAckInACommitOfItsOwn) {
  Process bot(*db, server);
  db->set_commit_histogram(&commits);
  bot.deliver("d", "deploy now");
  bot.settle();
  ASSERT_EQ(server.messages.size(), 1u);
  EXPECT_EQ(server.messages[0].text, "done: deploy now");
  // Recorded; then, after its ack, marked started (one statement, outside these transactions);
  // then its reply and "done".
  EXPECT_EQ(commits.count(), 2u);
  EXPECT_EQ(bot.acks->log, (std::vector<std::string>{"ack env-d"}));
  EXPECT_EQ(server.seen_at_release.at(0), std::make_pair(true, true));
  db->set_commit_histogram(nullptr);
}

TEST_F(ReplyOutboxTest, ARedeliveryOfAReadOnlyCommandIsRunTentativelyButNeitherRecordedNorSent) {
  Process bot(*db, server);
  bot.deliver("a", "status");
  bot.settle();
  bot.deliver("a", "status");  // Slack's retry, after the first was answered
  bot.settle();
  // Both in one batch: the second is the redelivery.
  bot.deliver("b", "card");
  bot.deliver("b", "card");
  bot.settle();
  EXPECT_EQ(server.posts_with("fake:a#0"), 1);
  EXPECT_EQ(server.posts_with("fake:b#0"), 1);
  EXPECT_EQ(server.posts_with("fake:b#2"), 1);
  EXPECT_EQ(server.messages.size(), 3u);  // a's reply; b's card (updated in place) and detail
  EXPECT_EQ(bot.dispatcher.runs, 4);      // each redelivery ran, tentatively
  EXPECT_EQ(bot.intake->stats().commands, 2u);
  EXPECT_EQ(bot.intake->stats().duplicates, 2u);
  EXPECT_EQ(bot.acks->log.size(), 4u);  // every delivery acknowledged
  bot.advance(std::chrono::milliseconds(20));
  EXPECT_TRUE(bot.outbox.unsent("fake").empty());
  EXPECT_EQ(bot.outbox.size(), 4u);
}

TEST_F(ReplyOutboxTest, ATentativeCommandWhoseDeliveryCannotBeRecordedSendsNothingAndIsNotAcked) {
  Process bot(*db, server);
  db->exec(
      "CREATE TEMP TRIGGER refuse BEFORE INSERT ON inbox_pending "
      "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END");
  bot.deliver("a", "slow");  // replies, then waits: what it asks for later must not leave either
  bot.settle();
  EXPECT_TRUE(server.messages.empty());
  EXPECT_TRUE(bot.acks->log.empty());
  EXPECT_EQ(bot.intake->stats().not_recorded, 1u);
  EXPECT_EQ(bot.outbox.size(), 0u);
  // The platform delivers it again once the database takes writes: answered once.
  db->exec("DROP TRIGGER refuse");
  bot.deliver("a", "status");
  bot.settle();
  EXPECT_EQ(bot.acks->log, (std::vector<std::string>{"ack env-a"}));
  EXPECT_EQ(server.posts_with("fake:a#0"), 1);
  EXPECT_EQ(server.messages.at(0).text, "done: status");
}

// A tentative run's first message is timed as a reply only once its delivery is recorded: a
// redelivery's dropped run is not a reply anyone saw (the e2e metrics test found it counted).
TEST_F(ReplyOutboxTest, OnlyRecordedTentativeCommandsAreTimedAsReplies) {
  metrics::Registry registry;
  Process bot(*db, server);
  bot.intake->count_in(registry);
  auto& replies = registry.histogram("shipmate_reply_latency_seconds", "",
                                     metrics::latency_buckets(), {"platform"}, {"fake"});
  bot.deliver("a", "status");
  bot.settle();
  EXPECT_EQ(replies.count(), 1u);
  bot.deliver("a", "status");  // a redelivery: runs tentatively, dropped
  bot.deliver("b", "status");
  bot.deliver("b", "status");  // and one inside a batch
  bot.settle();
  EXPECT_EQ(replies.count(), 2u);
  EXPECT_EQ(server.messages.size(), 2u);
  // The synchronous path too.
  EXPECT_EQ(bot.intake->accept_now("fake", IncomingCommand{"c", "U1", "C1", "", "status"}),
            CommandIntake::Accepted::fresh);
  EXPECT_EQ(bot.intake->accept_now("fake", IncomingCommand{"c", "U1", "C1", "", "status"}),
            CommandIntake::Accepted::duplicate);
  bot.settle();
  EXPECT_EQ(replies.count(), 3u);
  EXPECT_EQ(server.posts_with("fake:c#0"), 1);
}

}  // namespace
}  // namespace shipmate::bot
