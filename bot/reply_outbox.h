// The reply outbox: every reply and status message a chat command produces is recorded before it
// is posted, and posted from the record at most once, across crashes and restarts.
//
// Why: a reply that left just before a SIGKILL used to be sent again after the restart, because
// its command was not yet marked done and ran again. Now:
//
// 1. Keys. The n-th message a command asks for (post, update or thread reply, counted from 0) has
//    the idempotency key "<inbox key>#<n>"; a run of the same command after a crash makes the same
//    keys. The notice for a command interrupted by a restart is "<inbox key>#restart".
// 2. Record before post. wrap() gives the command a Conversation that hands each message to the
//    platform's conversation at once, held (commands::OutboxTicket), so refs and ordering stay the
//    platform's own, and queues its row. Rows queued in one event-loop turn are written in one
//    transaction together with the inbox keys of commands that finished (finished()): a command's
//    last reply and its "done" share a commit. Only then are the held messages released. A row
//    whose key was already recorded (a command run again after a crash) is not sent again; its
//    platform id, when known, stands in for it so later updates edit that message. A platform
//    that cannot hold messages (holds_messages() false) gets each row recorded on its own first.
//    One commit per command (commit_with()): the intake runs a read-only command of a batch
//    before it records the batch (TentativeCommand), so the command's inbox entry, its replies
//    and its "done" are written in that one transaction, and the acks go out before the replies
//    are released. Should the delivery turn out to be a redelivery (or the transaction fail, and
//    the delivery stay unacknowledged), the tentative command is dropped: its held messages are
//    cancelled, it records nothing, and whatever it still asks for later is not sent.
// 3. Sent. The platform's answer (Slack's ts) marks the row sent, batched into the next commit.
//    Failures are decided by bot/outbox_policy.h: back off and resend when the request cannot
//    have been acted on, look on the platform first when it may have been (a dropped connection
//    after the request left), park after kOutboxMaxAttempts (the next start tries again).
// 4. Restart. recover(platform) takes every unsent row, looks for each post on the platform by
//    its key (OutboxHooks::find_sent: Slack reads the bot's messages in the thread, or in the
//    channel since the row was recorded, and their metadata), marks those it finds sent and sends
//    the others, one conversation's rows in their recorded order. The intake replays commands only
//    after that, so a command run again finds its replies recorded.
// 5. Platforms. Slack holds messages in its Web API queue, carries the key as message metadata
//    and can look (conversations.replies/history). Teams holds them in the connector's queue and
//    confirms each with the activity id the connector returns, but cannot look: the Bot
//    Framework connector lists no activities, so a post in doubt is posted again (an update or a
//    thread reply targets the activity id recorded for its post). The terminal and Teams'
//    outgoing webhook run commands outside the inbox (wrap_unrecorded): their rows are recorded
//    as sent when written, since nothing can replay them.
//
// Contract
// - Threading: event-loop thread only; every callback is called there.
// - Ownership: the store, the timers and each attached platform's hooks must outlive the outbox.
//   Wrapped conversations and in-flight sends keep the outbox's state alive.
// - Errors: a transaction that fails is logged and its held messages are released anyway (a
//   possible duplicate beats a lost reply); finished keys and sent marks wait for the next one.
//   Nothing is thrown at commands.
// - Text: each message's text fields pass through redact() before they are stored.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "commands/reply.h"
#include "common/clock.h"
#include "common/result.h"

namespace shipmate {
class Timers;
}
namespace shipmate::storage {
class OutboxStore;
struct OutboxRow;
}  // namespace shipmate::storage

namespace shipmate::bot {

class OutboxConversation;

// What a platform gives the outbox beyond its conversations. Both are optional.
struct OutboxHooks {
  // The bot's own messages carrying an outbox key in a conversation: in the thread `thread` when
  // it is not empty, else in the channel since `since` (milliseconds since the epoch). Answers
  // key -> the platform's id for the message. Null: the platform cannot look, and a message that
  // may have been posted is posted again.
  std::function<boost::asio::awaitable<Result<std::map<std::string, std::string>>>(
      std::string channel, std::string thread, EpochMillis since)>
      find_sent;
  // Sends a recorded row outside a command's conversation (after a restart, or a retry):
  // `intent` "post" into channel/thread, "thread_reply" into the thread of the message with
  // platform id `target_id`, "update" of that message. Null: through a fresh conversation, which
  // cannot target a message from before the restart (an update is then posted anew).
  std::function<void(const std::string& intent, const std::string& channel,
                     const std::string& thread, const std::string& target_id,
                     const commands::Message& message,
                     std::shared_ptr<commands::OutboxTicket> ticket)>
      send;
};

// A command the intake started before recording its delivery (commit_with()). Its replies are
// held and recorded only if the delivery is recorded as new in that same transaction.
struct TentativeCommand {
  enum class State { undecided, recorded, dropped };
  State state = State::undecided;
  // When it first asked for a message while undecided: its reply is timed only once it is
  // recorded (a dropped redelivery's is not a reply anyone sees).
  std::chrono::steady_clock::time_point first_message{};
  // It finished before its delivery was recorded (finished() while undecided): the intake
  // records the delivery as done at once (its key only, storage::InboxStore::accept), so nothing
  // marks it done later.
  bool finished = false;
  bool dropped() const { return state == State::dropped; }
};

struct OutboxPlatform {
  std::string name;
  std::function<std::unique_ptr<commands::Conversation>(const std::string& channel,
                                                        const std::string& thread)>
      conversation;
  OutboxHooks hooks;
};

struct OutboxStats {
  std::uint64_t recorded = 0;   // rows written
  std::uint64_t skipped = 0;    // rows whose key was already recorded (not sent again)
  std::uint64_t sent = 0;       // rows the platform confirmed
  std::uint64_t found = 0;      // rows found on the platform after a restart or a failure
  std::uint64_t resent = 0;     // rows sent again after a restart or a failure
  std::uint64_t retries = 0;    // back-offs
  std::uint64_t parked = 0;     // given up until the next start
  std::uint64_t commits = 0;    // transactions
  std::uint64_t recovered = 0;  // unsent rows found at start-up
};

// A message as a row's body (JSON), and back; redacts the text fields.
std::string encode_message(const commands::Message& message);
Result<commands::Message> decode_message(std::string_view body);

class ReplyOutbox {
 public:
  struct Options {
    // Sent marks and finished keys with no reply to ride along with wait at most this long.
    std::chrono::milliseconds flush_delay{20};
  };
  ReplyOutbox(boost::asio::any_io_executor executor, storage::OutboxStore& store, Timers& timers,
              Options options);
  ~ReplyOutbox();
  ReplyOutbox(const ReplyOutbox&) = delete;
  ReplyOutbox& operator=(const ReplyOutbox&) = delete;

  void attach(OutboxPlatform platform);

  // The conversation a command with inbox key `inbox_key` answers in: every message goes through
  // the outbox into `inner` (the platform's conversation for channel/thread).
  // `tentative`: the command runs before its delivery is recorded (see commit_with()); once it
  // is dropped, the conversation sends nothing more.
  std::unique_ptr<commands::Conversation> wrap(
      std::string_view platform, std::string inbox_key, std::string channel, std::string thread,
      std::unique_ptr<commands::Conversation> inner,
      std::shared_ptr<TentativeCommand> tentative = nullptr);

  // The conversation of a command that is not in the inbox (the terminal, Teams' outgoing
  // webhook): nothing redelivers or replays it, so there is nothing to recover either. Its
  // messages get rows all the same (keyed "<key>#<n>"; `key` must be unique across restarts),
  // written before each is shown; a conversation that cannot hold (the terminal writes at once)
  // has each row recorded as sent in that same commit.
  std::unique_ptr<commands::Conversation> wrap_unrecorded(
      std::string_view platform, std::string key, std::string channel, std::string thread,
      std::unique_ptr<commands::Conversation> inner);

  // The command with this inbox key has finished: marked done in the commit that records its last
  // replies (or the next one). A dropped tentative command is not marked (its delivery is
  // another's, or unrecorded); an undecided one is only flagged (TentativeCommand::finished),
  // and its delivery is recorded as done in commit_with().
  void finished(std::string inbox_key, std::shared_ptr<TentativeCommand> tentative = nullptr);

  // Commits what waits now, in one transaction that first runs `record` (the intake recording a
  // batch of deliveries, which decides each TentativeCommand: recorded or dropped). Rows and
  // finished keys of dropped tentative commands are left out and their held messages cancelled.
  // After the commit and before any held message is released, runs `then` (the acks). When the
  // transaction fails (StorageError, logged), every tentative command with rows or a finished key
  // waiting is dropped, the others' messages are released unrecorded as after any failed commit,
  // `then` is not run, and false is returned.
  bool commit_with(const std::function<void()>& record, const std::function<void()>& then);

  // Records one message that belongs to no running command (the notice for an interrupted one)
  // under `key`, marks `finished_key` done in the same commit, and sends it.
  void notify(std::string_view platform, std::string key, std::string channel, std::string thread,
              const commands::Message& message, std::string finished_key);

  // After a restart: every unsent row of the platform is looked for and marked sent, or sent.
  // Completes when each has been confirmed, parked, or handed over (its answer may come later).
  boost::asio::awaitable<void> recover(std::string platform);
  // Replicas (issue 17): the same for `rows` only, a dead replica's unsent rows this replica has
  // just adopted (storage::OutboxStore::adopt_unsent), while its own replies keep flowing.
  boost::asio::awaitable<void> recover_adopted(std::string platform,
                                               std::vector<storage::OutboxRow> rows);

  // Whether the platform has rows left unconfirmed (read from the database).
  bool has_unsent(std::string_view platform) const;

  // Commits what waits now (shutdown). Held messages not yet recorded are recorded and released.
  void flush();

  const OutboxStats& stats() const;

 private:
  friend class OutboxConversation;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace shipmate::bot
