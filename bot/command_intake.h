// The command intake: the one exactly-once path between every chat transport and the router.
//
// A transport decodes what its platform delivered and hands the intake a command (the platform's
// delivery id, the platform user id, where to answer, the text) together with a way to
// acknowledge the delivery. The intake does the rest, the same way for every platform:
//
// 1. Record before ack. Every command is written to the inbox under "<platform>:<delivery id>"
//    before its delivery is acknowledged. Not recorded means not acknowledged: the platform
//    redelivers when it hears nothing. A delivery whose key is already there (a redelivery) is
//    acknowledged and dropped.
// 2. Group commit. Deliveries submitted together (see submit()) are recorded in one inbox
//    transaction and acknowledged together, in the order they arrived.
// 3. Acks before work. A batch's commands start only once its acknowledgements are written.
//    With the reply outbox, a read-only command whose platform holds messages is the exception:
//    it runs (up to its first wait) before its batch is recorded, so that its delivery, its
//    replies and its "done" take one commit (ReplyOutbox::commit_with); its messages leave only
//    after the acks are queued, and a redelivery's run is dropped unsent (TentativeCommand).
// 4. Mark started. A command that changes anything is marked `started` before it runs, so a
//    crash mid-way is reported after the restart instead of repeated. Read-only commands skip
//    that write and may run again after a crash.
// 5. Batched done. Finished commands are marked done a few at a time, riding along with the next
//    intake commit or a short timer (with the outbox: with the commit of their last replies).
// 6. Restart. replay() runs a platform's commands that were acknowledged but never started,
//    once, and reports those that started but did not finish, each in its own conversation.
//    With the reply outbox (Options::outbox, bot/reply_outbox.h), every reply is recorded before
//    it leaves and carries an idempotency key, so a reply that left just before a crash is found
//    on the platform after the restart instead of being sent again; replay() waits for that.
// 7. "Failed before it ran". The router answers failures inside a handler; a command that fails
//    before its handler runs (its start cannot be recorded, its audit entry fails) is answered
//    with the error and counted as finished, so a restart does not run what the user was told
//    did not run.
// 8. Identity. Platform user ids map to Shipmate identities through the platform's table; an
//    unknown id acts as "<platform>:<id>", which owns no roles. Display names never count.
//
// Contract
// - Threading: event-loop thread only (the executor given at construction). Every callback the
//   intake is given (acks, conversations) is called there.
// - Ownership: the intake outlives nothing it is given; the inbox, the dispatcher and every
//   attached platform's conversation factory must stay valid while the intake or any command it
//   started is alive. Command coroutines keep the intake's state alive on their own.
// - Errors: storage failures while recording are logged and leave the delivery unacknowledged;
//   failures while marking done are logged (the command may be reported as interrupted after a
//   restart). Nothing is thrown at the transport.
// - A transport without redelivery (the terminal) runs commands through run_unrecorded(), the
//   same identity mapping and dispatch without the inbox; with the outbox, its replies are still
//   recorded (as sent, since nothing replays them: ReplyOutbox::wrap_unrecorded).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "bot/chat_event.h"
#include "bot/reply_outbox.h"
#include "commands/reply.h"

namespace shipmate {
class Timers;
}

namespace shipmate::storage {
class InboxStore;
class OutboxStore;
struct InboxEntry;
}  // namespace shipmate::storage
namespace shipmate::metrics {
class Registry;
}

namespace shipmate::bot {

// What runs a command once the intake has taken it: the Router in the product (adapted in
// bot/app.cpp), a fake in tests.
class CommandDispatcher {
 public:
  virtual ~CommandDispatcher() = default;
  // Whether `text` names a command that changes anything.
  virtual bool changes_state(std::string_view text) const = 0;
  // Runs the command and answers in `conversation`; throws only for failures before the handler.
  virtual boost::asio::awaitable<void> dispatch(ChatEvent event,
                                                commands::Conversation& conversation) = 0;
};

// One command as a platform delivered it.
struct IncomingCommand {
  std::string delivery_id;  // stable across redeliveries, e.g. "event:Ev123", "slash:<trigger>"
  std::string user_id;      // the platform's user id (Slack U..., a Teams AAD object id)
  std::string channel;      // where to answer: the platform's channel or conversation id
  std::string thread;       // and the thread in it; may be empty
  std::string text;         // as typed; the platform's clean_text removes its mention markup
};

// Where the acknowledgements of one connection go (a Socket Mode websocket, ...). Shared by all
// deliveries read from that connection.
class AckChannel {
 public:
  virtual ~AckChannel() = default;
  // Queues the acknowledgement of delivery `ack_id`; false when the connection is gone (the
  // platform redelivers, and the inbox recognises the redelivery).
  virtual bool send_ack(const std::string& ack_id) = 0;
  // Completes once every acknowledgement queued so far is written (or the connection failed).
  virtual boost::asio::awaitable<void> acks_written() = 0;
  // The same as a callback: calls `then` once every acknowledgement queued so far is written (or
  // the connection failed), at once when nothing is being written, and returns true. A channel
  // that cannot do this returns false without calling it; the intake then awaits acks_written(),
  // which costs event-loop turns (two epoll_waits per command at one command in flight).
  virtual bool when_written(std::function<void()> then) {
    (void)then;
    return false;
  }
  // The delivery `ack_id` was recorded before (a redelivery): it is acknowledged all the same
  // (send_ack), and this is said right after. For channels that count redeliveries.
  virtual void redelivered(const std::string& ack_id) { (void)ack_id; }
  // The batch holding `ack_id` could not be recorded (or the intake is stopping): it is not
  // acknowledged. A channel that answers each delivery (an HTTP request) answers "try again";
  // one whose platform redelivers what it hears nothing about may ignore it.
  virtual void not_recorded(const std::string& ack_id) { (void)ack_id; }
};

// One delivery for the group-commit path: an acknowledgement, and maybe a command.
struct Delivery {
  std::shared_ptr<AckChannel> acks;
  std::string ack_id;                      // what the platform wants acknowledged
  std::optional<IncomingCommand> command;  // empty: acknowledge only (bot messages, malformed)
  // A write of the transport's own that belongs with this delivery (Teams: the reference of a
  // conversation not stored yet); run inside the transaction that records the delivery's batch,
  // before its inbox entries, so that both are stored or neither. It may throw (StorageError):
  // the batch is then not recorded, as when the inbox write fails. Not run for a batch that is
  // not recorded (stopping).
  std::function<void()> record;
};

// What a transport tells the intake about its platform, once, before submitting.
struct IntakePlatform {
  std::string name;  // "slack", "teams": the inbox key prefix and ChatEvent::platform
  // The conversation a command from channel/thread is answered in (after a restart too).
  std::function<std::unique_ptr<commands::Conversation>(const std::string& channel,
                                                        const std::string& thread)>
      conversation;
  // Platform user id -> Shipmate identity.
  std::map<std::string, std::string> identities;
  // The user id already is a Shipmate identity (the terminal, where --as chose it).
  bool ids_are_identities = false;
  // Removes the platform's mention markup from the front of a command ("<@U123> deploy ...");
  // none when the platform has none.
  std::function<std::string(std::string_view)> clean_text;
  // What the reply outbox needs beyond conversations (looking for the bot's own replies, sending
  // a recorded reply after a restart); see bot/reply_outbox.h. Used only with an outbox.
  OutboxHooks outbox;
};

struct IntakeStats {
  std::uint64_t batches = 0;  // inbox transactions recording deliveries (group commit)
  std::uint64_t acks = 0;     // acknowledgements queued
  std::uint64_t ack_failures = 0;
  std::uint64_t commands = 0;      // dispatched
  std::uint64_t duplicates = 0;    // redeliveries dropped
  std::uint64_t ignored = 0;       // acknowledged deliveries without a command
  std::uint64_t not_recorded = 0;  // deliveries left unacknowledged because recording failed
  std::uint64_t replayed = 0;      // run after a restart
  std::uint64_t interrupted = 0;   // reported after a restart
  std::uint64_t done_flushes = 0;  // transactions marking finished commands done on their own
};

class CommandIntake {
 public:
  struct Options {
    // Under load, finished commands ride along with the next intake commit; this delay only
    // matters when no delivery arrives for a while.
    std::chrono::milliseconds done_flush_delay{20};
    // The reply outbox's table (bot/reply_outbox.h). With it, every reply of a recorded command
    // is recorded before it is posted and "done" is marked in the commit that records the last
    // replies; replay() first settles the replies left unconfirmed by the crash. Without it (some
    // tests), replies go straight to the platform and done rides along with intake commits.
    storage::OutboxStore* outbox = nullptr;
  };

  // `timers` (common/timer.h) times the done flush; it must outlive the intake.
  CommandIntake(boost::asio::any_io_executor executor, storage::InboxStore& inbox,
                CommandDispatcher& dispatcher, Timers& timers, Options options);
  CommandIntake(boost::asio::any_io_executor executor, storage::InboxStore& inbox,
                CommandDispatcher& dispatcher, Timers& timers);
  ~CommandIntake();
  CommandIntake(const CommandIntake&) = delete;
  CommandIntake& operator=(const CommandIntake&) = delete;

  // Registers a platform; its commands may be submitted from now on. A second attach of the same
  // name replaces the first.
  void attach(IntakePlatform platform);

  // Exports, per platform, into `registry` (which must outlive the intake):
  //   shipmate_ack_latency_seconds{platform}    a delivery's arrival to its ack being sent
  //                                             (recorded first, so it includes the commit);
  //   shipmate_reply_latency_seconds{platform}  a command's arrival to the first message posted
  //                                             for it (replayed commands are not timed);
  //   shipmate_deliveries_deduplicated_total{platform}  redeliveries recognised and dropped.
  // Series are looked up once per platform; each delivery then reads the steady clock and
  // updates atomics, with no allocation. Without count_in() nothing is timed.
  void count_in(metrics::Registry& registry);

  // The group-commit path: the delivery joins the batch being gathered; it is recorded, then
  // acknowledged, then its command started. `platform` must be attached.
  void submit(std::string_view platform, Delivery delivery);

  // Closes the batch being gathered now instead of after kIdleTurns turns of the event loop: the
  // transport has submitted everything it has read and would otherwise wait for the network.
  // Spares the idle turn (an epoll_wait) per command at one command in flight; deliveries from
  // another connection that arrive in the same moment then make a commit of their own.
  void flush();

  // The synchronous path, for platforms whose acknowledgement is the answer to a request (Slack's
  // HTTP mode): records now and starts the command unless it was delivered before. With the
  // outbox, a read-only command runs first and is recorded with its replies (point 3). (Teams
  // waits for an AckChannel's ack through submit() instead, so that requests share commits.)
  enum class Accepted { fresh, duplicate, not_recorded };
  Accepted accept_now(std::string_view platform, IncomingCommand command);

  // After a restart, once the platform's transport can answer: runs its commands acknowledged
  // but never started, and reports (and forgets) those that started but did not finish. With
  // replicas, only this replica's own (the inbox's replica tag); another replica's are left to it.
  void replay(std::string_view platform);

  // Replicas (issue 17): adopts the pending commands of every replica `orphaned` calls dead
  // (asked once per replica name), one compare-and-set per row (storage::InboxStore::adopt: of
  // two survivors exactly one wins it), then runs those never started and reports those that
  // started, as replay() does. Rows of platforms not attached here stay where they are. Returns
  // how many rows this replica adopted.
  std::size_t take_over(const std::function<bool(const std::string& replica)>& orphaned);

  // Without the inbox (a transport that has no redelivery): maps the identity and dispatches.
  // With the outbox, each reply is recorded (and marked sent) before `conversation` shows it.
  // Completes when the command has finished.
  boost::asio::awaitable<void> run_unrecorded(std::string_view platform, IncomingCommand command,
                                              commands::Conversation& conversation);

  // No more commits; marks finished commands done now. Commands already running continue.
  void stop();
  // Commands whose handler is still running (a stop that hands work over waits for them first,
  // so that their replies are recorded and released: bot/work_in_hand.h).
  std::size_t running() const;

  const IntakeStats& stats() const;
  // The reply outbox; null without Options::outbox.
  const ReplyOutbox* outbox() const;

  // The group-commit rule. Every delivery a socket read brought in is submitted at once; the
  // batch then stays open until a few turns of the event loop bring no new delivery, so that
  // stragglers of a burst join it, or until it holds kMaxBatch.
  static constexpr std::size_t kMaxBatch = 64;
  // Turns of the event loop without a new envelope before a batch closes, so that envelopes
  // arriving a moment apart (on another connection, in the same wake-up) share a commit. When
  // each frame cost a read completion of its own, 4 turns measured best on the Slack benchmark
  // (2: ack p99 1.0-1.5 ms, 3: 0.85-1.3 ms, 4: 0.77-0.95 ms). Since a read drains every buffered
  // frame at once, 1, 2 and 4 measure the same at 32 in flight, and each idle turn is an
  // epoll_wait of its own at 1 in flight (3 of the 7.6 per command there): 1.
  static constexpr int kIdleTurns = 1;
  // Finished commands are marked done in batches: one transaction per few milliseconds instead
  // of one per command. Losing a batch in a crash only means a finished command is reported as
  // interrupted (or a read-only one answered twice).
  static constexpr std::size_t kDoneBatch = 256;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace shipmate::bot
