#include "bot/command_intake.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <unordered_map>
#include <vector>

#include "common/metrics.h"
#include "common/redact.h"
#include "common/request_id.h"
#include "common/timer.h"
#include "storage/database.h"
#include "storage/inbox_store.h"
#include "storage/outbox_store.h"

namespace shipmate::bot {
namespace asio = boost::asio;

struct CommandIntake::Impl : std::enable_shared_from_this<Impl> {
  // A delivery waiting for its batch to be recorded and acknowledged.
  using Clock = std::chrono::steady_clock;
  struct Gathered {
    const IntakePlatform* platform;
    Delivery delivery;
    Clock::time_point received;
  };
  // A recorded command, ready to run.
  struct Command {
    const IntakePlatform* platform;
    std::string key;
    IncomingCommand command;
    Clock::time_point received{};  // none for a command replayed after a restart
    // A read-only command run before its delivery is recorded (one commit per command, see
    // commit()), with the conversation made for it then.
    std::shared_ptr<TentativeCommand> tentative{};
    std::unique_ptr<commands::Conversation> conversation{};
  };
  // A platform's series in the registry given to count_in(); looked up once per platform.
  struct PlatformMeters {
    metrics::Histogram* ack = nullptr;
    metrics::Histogram* reply = nullptr;
    metrics::Counter* duplicates = nullptr;
  };

  // Answers the conversation it wraps, timing the first message posted for a command.
  // A conversation someone else owns, for the outbox to wrap (it takes ownership of what it
  // wraps).
  class BorrowedConversation final : public commands::Conversation {
   public:
    explicit BorrowedConversation(commands::Conversation& inner) : inner_(inner) {}
    commands::MessageRef post(const commands::Message& message) override {
      return inner_.post(message);
    }
    void update(const commands::MessageRef& ref, const commands::Message& message) override {
      inner_.update(ref, message);
    }
    void thread_reply(const commands::MessageRef& ref, const commands::Message& message) override {
      inner_.thread_reply(ref, message);
    }
    bool holds_messages() const override { return inner_.holds_messages(); }
    commands::MessageRef post_held(const commands::Message& message,
                                   std::shared_ptr<commands::OutboxTicket> ticket) override {
      return inner_.post_held(message, std::move(ticket));
    }
    void update_held(const commands::MessageRef& ref, const commands::Message& message,
                     std::shared_ptr<commands::OutboxTicket> ticket) override {
      inner_.update_held(ref, message, std::move(ticket));
    }
    void thread_reply_held(const commands::MessageRef& ref, const commands::Message& message,
                           std::shared_ptr<commands::OutboxTicket> ticket) override {
      inner_.thread_reply_held(ref, message, std::move(ticket));
    }
    std::string address() const override { return inner_.address(); }

   private:
    commands::Conversation& inner_;
  };

  class FirstReplyTimer final : public commands::Conversation {
   public:
    FirstReplyTimer(commands::Conversation& inner, metrics::Histogram* histogram,
                    Clock::time_point received, std::shared_ptr<TentativeCommand> tentative)
        : inner_(inner),
          histogram_(histogram),
          received_(received),
          tentative_(std::move(tentative)) {}
    commands::MessageRef post(const commands::Message& message) override {
      seen();
      return inner_.post(message);
    }
    void update(const commands::MessageRef& ref, const commands::Message& message) override {
      seen();
      inner_.update(ref, message);
    }
    void thread_reply(const commands::MessageRef& ref, const commands::Message& message) override {
      seen();
      inner_.thread_reply(ref, message);
    }
    std::string address() const override { return inner_.address(); }

   private:
    void seen() {
      if (histogram_ == nullptr)
        return;
      if (tentative_ && tentative_->state != TentativeCommand::State::recorded) {
        // Undecided: the intake times it once the delivery is recorded (acknowledge()).
        if (!tentative_->dropped() && tentative_->first_message == Clock::time_point{})
          tentative_->first_message = Clock::now();
        histogram_ = nullptr;
        return;
      }
      histogram_->observe_nanoseconds(
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - received_).count());
      histogram_ = nullptr;
    }
    commands::Conversation& inner_;
    metrics::Histogram* histogram_;
    Clock::time_point received_;
    std::shared_ptr<TentativeCommand> tentative_;
  };

  PlatformMeters meters_of(const IntakePlatform* platform) const {
    const auto found = meters.find(platform);
    return found == meters.end() ? PlatformMeters{} : found->second;
  }

  void add_meters(const IntakePlatform& platform) {
    if (registry == nullptr)
      return;
    const std::vector<std::string> label{"platform"};
    const metrics::Registry::Labels value{platform.name};
    meters[&platform] = PlatformMeters{
        &registry->histogram("shipmate_ack_latency_seconds",
                             "From a delivery's arrival to its acknowledgement being sent (after "
                             "it is recorded).",
                             metrics::short_latency_buckets(), label, value),
        &registry->histogram("shipmate_reply_latency_seconds",
                             "From a command's arrival to the first message Shipmate posts for it.",
                             metrics::latency_buckets(), label, value),
        &registry->counter("shipmate_deliveries_deduplicated_total",
                           "Redelivered commands (envelopes, activities) recognised and dropped.",
                           label, value)};
  }

  Impl(asio::any_io_executor executor_in, storage::InboxStore& inbox_in,
       CommandDispatcher& dispatcher_in, Timers& timers_in, Options options_in)
      : executor(std::move(executor_in)),
        inbox(inbox_in),
        dispatcher(dispatcher_in),
        timers(timers_in),
        options(options_in) {
    if (options.outbox != nullptr)
      outbox.emplace(executor, *options.outbox, timers,
                     ReplyOutbox::Options{options.done_flush_delay});
  }

  const IntakePlatform* platform_named(std::string_view name) const {
    for (const auto& platform : platforms) {
      if (platform.name == name)
        return &platform;
    }
    return nullptr;
  }

  const IntakePlatform& attached(std::string_view name) const {
    const auto* platform = platform_named(name);
    if (platform == nullptr)
      throw std::logic_error("command intake: platform " + std::string(name) + " is not attached");
    return *platform;
  }

  static std::string key_of(const IntakePlatform& platform, const IncomingCommand& command) {
    std::string key;
    key.reserve(platform.name.size() + 1 + command.delivery_id.size());
    key += platform.name;
    key += ':';
    key += command.delivery_id;
    return key;
  }

  static storage::InboxEntry inbox_entry(const IntakePlatform& platform, std::string key,
                                         const IncomingCommand& command) {
    return storage::InboxEntry{std::move(key),
                               platform.name,
                               command.user_id,
                               command.channel,
                               command.thread,
                               command.text,
                               "",
                               0};
  }

  // --- Group commit -----------------------------------------------------------------------

  void gather(Gathered gathered) {
    intake.push_back(std::move(gathered));
    if (gathering)
      return;
    gathering = true;
    intake_seen = intake.size();
    idle_turns = 0;
    post_turn();
  }

  void post_turn() {
    asio::post(executor, [weak = weak_from_this(), generation = batch_generation] {
      auto self = weak.lock();
      // A batch that flush() closed leaves its turn behind; that turn belongs to no batch.
      if (self && self->gathering && self->batch_generation == generation)
        self->turn();
    });
  }

  void close_batch() {
    gathering = false;
    ++batch_generation;
    ++stats.batches;
    commit();
  }

  void turn() {
    // `intake` only grows while a batch gathers, so its size tells whether a delivery came.
    if (intake.size() != intake_seen) {
      intake_seen = intake.size();
      idle_turns = 0;
    } else {
      ++idle_turns;
    }
    if (idle_turns < kIdleTurns && intake.size() < kMaxBatch && !stopping) {
      post_turn();
      return;
    }
    close_batch();
  }

  void commit() {
    std::vector<Gathered> batch;
    batch.swap(intake);
    // Not recorded means not acked: the platform redelivers when it hears nothing.
    if (batch.empty())
      return;
    if (stopping) {
      tell_not_recorded(batch);
      return;
    }
    std::vector<storage::InboxEntry> entries;
    for (const auto& gathered : batch) {
      if (gathered.delivery.command) {
        const auto& command = *gathered.delivery.command;
        entries.push_back(
            inbox_entry(*gathered.platform, key_of(*gathered.platform, command), command));
      }
    }
    std::vector<bool> fresh;
    if (!outbox) {
      // Commands finished since the last commit are marked done in the same transaction.
      std::vector<std::string> finished_keys;
      finished_keys.swap(done_keys);
      try {
        inbox.transaction([&] {
          record_carried(batch);
          fresh = inbox.accept_all(entries, finished_keys);
        });
      } catch (const storage::StorageError& e) {
        spdlog::error("intake: cannot record {} commands, leaving them for redelivery: {}",
                      entries.size(), e.what());
        stats.not_recorded += batch.size();
        tell_not_recorded(batch);
        // The finished ones wait for the next commit.
        done_keys.insert(done_keys.begin(), std::make_move_iterator(finished_keys.begin()),
                         std::make_move_iterator(finished_keys.end()));
        return;
      }
      acknowledge(batch, entries, fresh, {});
      return;
    }
    // With the outbox: one commit per command. A read-only command runs now, before its
    // delivery is recorded, its messages held by the platform; the outbox then writes the
    // deliveries, those messages and the "done" of the commands that finished in one
    // transaction, the acks go out, and only then are the messages released. A redelivery's
    // tentative run is dropped (nothing of it is recorded or sent); a command that changes
    // anything still starts only once its ack is written.
    std::vector<std::shared_ptr<TentativeCommand>> tentative = start_tentative(batch, entries);
    const bool recorded = outbox->commit_with(
        [&] {
          record_carried(batch);
          record_finished(entries, tentative);
          fresh = inbox.accept_all(entries, {});
          for (std::size_t i = 0; i < tentative.size(); ++i) {
            if (tentative[i])
              tentative[i]->state =
                  fresh[i] ? TentativeCommand::State::recorded : TentativeCommand::State::dropped;
          }
        },
        [&] { acknowledge(batch, entries, fresh, tentative); });
    if (!recorded) {
      spdlog::error("intake: cannot record {} commands, leaving them for redelivery",
                    entries.size());
      stats.not_recorded += batch.size();
      for (auto& command : tentative) {
        if (command)
          command->state = TentativeCommand::State::dropped;
      }
      tell_not_recorded(batch);
    }
  }

  // The writes the batch's deliveries carry (Delivery::record), in the batch's transaction.
  static void record_carried(const std::vector<Gathered>& batch) {
    for (const auto& gathered : batch) {
      if (gathered.delivery.record)
        gathered.delivery.record();
    }
  }

  static void tell_not_recorded(const std::vector<Gathered>& batch) {
    for (const auto& gathered : batch) {
      if (gathered.delivery.acks)
        gathered.delivery.acks->not_recorded(gathered.delivery.ack_id);
    }
  }

  // A tentative command that already finished is recorded as done (its key only): its replies
  // and its delivery share the transaction, so there is nothing to replay or report.
  static void record_finished(std::vector<storage::InboxEntry>& entries,
                              const std::vector<std::shared_ptr<TentativeCommand>>& tentative) {
    for (std::size_t i = 0; i < entries.size() && i < tentative.size(); ++i) {
      if (tentative[i] && tentative[i]->finished)
        entries[i].state = "done";
    }
  }

  // The read-only commands of a batch whose platform holds messages, started now (each runs up
  // to its first wait); one entry per inbox entry, null where none was started.
  std::vector<std::shared_ptr<TentativeCommand>> start_tentative(
      std::vector<Gathered>& batch, const std::vector<storage::InboxEntry>& entries) {
    std::vector<std::shared_ptr<TentativeCommand>> tentative(entries.size());
    std::size_t index = 0;
    for (auto& gathered : batch) {
      if (!gathered.delivery.command)
        continue;
      const std::size_t at = index++;
      const IntakePlatform& platform = *gathered.platform;
      IncomingCommand& command = *gathered.delivery.command;
      if (dispatcher.changes_state(text_of(platform, command.text)))
        continue;
      auto conversation = platform.conversation(command.channel, command.thread);
      // A platform that cannot hold a message would show it before it is recorded.
      if (!conversation || !conversation->holds_messages())
        continue;
      tentative[at] = std::make_shared<TentativeCommand>();
      // Moved, not copied: the entry holds what is recorded, and nothing reads a tentative
      // command's delivery again (acknowledge() skips it: recorded means already running).
      spawn_handle(
          shared_from_this(),
          Command{gathered.platform, entries[at].key, std::move(*gathered.delivery.command),
                  gathered.received, tentative[at], std::move(conversation)});
    }
    return tentative;
  }

  // A recorded tentative command's first message, asked for before it was recorded.
  static void observe_first_reply(const PlatformMeters& platform_meters,
                                  const TentativeCommand& command, Clock::time_point received) {
    if (platform_meters.reply == nullptr || command.first_message == Clock::time_point{} ||
        received == Clock::time_point{})
      return;
    platform_meters.reply->observe_nanoseconds(
        std::chrono::duration_cast<std::chrono::nanoseconds>(command.first_message - received)
            .count());
  }

  // A recorded batch: its acks, in arrival order, then its commands not yet started.
  void acknowledge(std::vector<Gathered>& batch, std::vector<storage::InboxEntry>& entries,
                   const std::vector<bool>& fresh,
                   const std::vector<std::shared_ptr<TentativeCommand>>& tentative) {
    std::size_t recorded = 0;
    std::vector<Command> to_run;
    const Clock::time_point acked_at = registry != nullptr ? Clock::now() : Clock::time_point{};
    for (auto& gathered : batch) {
      const PlatformMeters platform_meters = meters_of(gathered.platform);
      // Acks leave in the order their deliveries arrived, coalesced into as few writes as the
      // connection allows; a failed send shows up as a lost connection on its next read.
      if (gathered.delivery.acks->send_ack(gathered.delivery.ack_id)) {
        ++stats.acks;
        if (platform_meters.ack != nullptr)
          platform_meters.ack->observe_nanoseconds(
              std::chrono::duration_cast<std::chrono::nanoseconds>(acked_at - gathered.received)
                  .count());
      } else {
        ++stats.ack_failures;
        spdlog::warn("intake: ack for {} not sent", gathered.delivery.ack_id);
      }
      if (!gathered.delivery.command) {
        ++stats.ignored;
        continue;
      }
      const std::size_t at = recorded++;
      // A command whose ack was lost still runs: it is in the inbox, where the platform's
      // redelivery will find it.
      if (!fresh[at]) {
        gathered.delivery.acks->redelivered(gathered.delivery.ack_id);
        ++stats.duplicates;
        if (platform_meters.duplicates != nullptr)
          platform_meters.duplicates->inc();
        continue;
      }
      if (at < tentative.size() && tentative[at]) {
        ++stats.commands;  // already running
        observe_first_reply(platform_meters, *tentative[at], gathered.received);
        continue;
      }
      to_run.push_back(Command{gathered.platform, std::move(entries[at].key),
                               std::move(*gathered.delivery.command), gathered.received});
    }
    if (!to_run.empty())
      start_after_acks(std::move(batch), std::move(to_run));
  }

  // The batch's commands start once its acks are out: started together with the acks, they
  // would hold each ack back behind a command's work. Channels that call back when written spare
  // the event-loop turns of awaiting them.
  void start_after_acks(std::vector<Gathered> batch, std::vector<Command> commands) {
    std::vector<AckChannel*> channels;
    for (const auto& gathered : batch) {
      AckChannel* channel = gathered.delivery.acks.get();
      if (std::find(channels.begin(), channels.end(), channel) == channels.end())
        channels.push_back(channel);
    }
    struct Waiting {
      std::shared_ptr<Impl> self;
      std::vector<Command> commands;
      std::size_t remaining;
    };
    auto waiting = std::make_shared<Waiting>(
        Waiting{shared_from_this(), std::move(commands), channels.size()});
    std::size_t asked = 0;
    for (AckChannel* channel : channels) {
      const bool accepted = channel->when_written([waiting] {
        if (--waiting->remaining == 0)
          waiting->self->start_all(std::move(waiting->commands));
      });
      if (!accepted)
        break;
      ++asked;
    }
    if (asked == channels.size())
      return;
    // A channel without callbacks: await every channel instead; the callbacks already given
    // find `remaining` never reaching zero.
    waiting->remaining = channels.size() + 1;
    asio::co_spawn(
        executor,
        run_after_acks(shared_from_this(), std::move(batch), std::move(waiting->commands)),
        asio::detached);
  }

  void start_all(std::vector<Command> commands) {
    for (auto& command : commands)
      spawn_handle(shared_from_this(), std::move(command));
  }

  static asio::awaitable<void> run_after_acks(std::shared_ptr<Impl> self,
                                              std::vector<Gathered> batch,
                                              std::vector<Command> commands) {
    const AckChannel* previous = nullptr;
    for (const auto& gathered : batch) {
      AckChannel* channel = gathered.delivery.acks.get();
      if (channel != previous)
        co_await channel->acks_written();
      previous = channel;
    }
    for (auto& command : commands)
      spawn_handle(self, std::move(command));
  }

  // --- Running --------------------------------------------------------------------------------

  std::string identity_of(const IntakePlatform& platform, const std::string& user_id) const {
    if (platform.ids_are_identities)
      return user_id;
    auto found = platform.identities.find(user_id);
    if (found != platform.identities.end())
      return found->second;
    return platform.name + ":" + user_id;
  }

  static std::string text_of(const IntakePlatform& platform, const std::string& text) {
    return platform.clean_text ? platform.clean_text(text) : text;
  }

  // Every command runs as a request of its own: what its coroutine logs (the router, a deploy,
  // the deploy's integration calls) carries a fresh request id (common/request_id.h).
  static void spawn_handle(const std::shared_ptr<Impl>& self, Command command) {
    std::string id = new_request_id();
    asio::co_spawn(with_request_id(self->executor, std::move(id)), handle(self, std::move(command)),
                   asio::detached);
  }

  static asio::awaitable<void> handle(std::shared_ptr<Impl> self, Command command) {
    ++self->running;
    struct Ended {
      Impl& impl;
      ~Ended() { --impl.running; }
    } ended{*self};
    const IntakePlatform& platform = *command.platform;
    const std::shared_ptr<TentativeCommand> tentative = command.tentative;
    // Started after its batch turned out a redelivery (or unrecorded): nothing to do.
    if (tentative && tentative->dropped())
      co_return;
    std::unique_ptr<commands::Conversation> platform_conversation =
        command.conversation
            ? std::move(command.conversation)
            : platform.conversation(command.command.channel, command.command.thread);
    if (platform_conversation && self->outbox) {
      platform_conversation =
          self->outbox->wrap(platform.name, command.key, command.command.channel,
                             command.command.thread, std::move(platform_conversation), tentative);
    }
    if (!platform_conversation) {
      spdlog::error("intake: {} has no conversation for {}; command {} dropped", platform.name,
                    command.command.channel, command.key);
      self->finished(command.key, tentative);
      co_return;
    }
    // Times the first reply (not for a replayed command: its arrival was before the restart).
    const bool timed = command.received != Clock::time_point{};
    FirstReplyTimer first_reply(*platform_conversation,
                                timed ? self->meters_of(&platform).reply : nullptr,
                                command.received, tentative);
    commands::Conversation* conversation = &first_reply;
    if (!tentative)
      ++self->stats.commands;  // a tentative one counts once recorded (acknowledge())
    if (spdlog::should_log(spdlog::level::debug))
      spdlog::debug("intake: {} runs {}", command.key, platform.name);
    std::string failure;
    try {
      const std::string text = text_of(platform, command.command.text);
      // A command that changes things is marked started before it runs, so a crash mid-way is
      // reported instead of repeated. A read-only one may simply run again after a crash, which
      // saves a write per command.
      // A tentative command was found read-only when it was started (start_tentative()), a
      // moment ago: not looked up again.
      if (!tentative && self->dispatcher.changes_state(text))
        self->inbox.mark_started(command.key);
      // A named event, not a temporary: GCC 12 destroys temporaries in co_await arguments twice.
      // The command's channel and thread are not read again (the outbox's conversation has
      // its own copies): moved into the event.
      ChatEvent event{platform.name,
                      command.key,
                      self->identity_of(platform, command.command.user_id),
                      std::move(command.command.channel),
                      std::move(command.command.thread),
                      text};
      co_await self->dispatcher.dispatch(std::move(event), *conversation);
      self->finished(command.key, tentative);
      co_return;
    } catch (const std::exception& e) {
      failure = redact(e.what());
      spdlog::error("intake: command {} failed before it ran: {}", command.key, failure);
    }
    // What reaches here failed before the handler ran (recording its start, its audit entry).
    // The user hears that, and the command counts as finished: a restart must not run what the
    // user was told did not run.
    conversation->post(commands::error_message("Internal error: " + failure +
                                               ". The command did not run; try again."));
    self->finished(command.key, tentative);
  }

  static asio::awaitable<void> replay_after_outbox(std::shared_ptr<Impl> self,
                                                   std::string platform_name);
  void replay_now(const IntakePlatform& platform);
  void resume_pending(const IntakePlatform& platform, storage::InboxEntry entry,
                      const std::string& who);

  void finished(const std::string& key,
                const std::shared_ptr<TentativeCommand>& tentative = nullptr) {
    if (outbox) {
      // Marked done in the commit that records the command's last replies.
      outbox->finished(key, tentative);
      return;
    }
    done_keys.push_back(key);
    if (done_keys.size() >= kDoneBatch) {
      flush_done();
      return;
    }
    if (flush_armed)
      return;
    flush_armed = true;
    asio::co_spawn(executor, flush_later(weak_from_this(), timers, options.done_flush_delay),
                   asio::detached);
  }

  static asio::awaitable<void> flush_later(std::weak_ptr<Impl> weak, Timers& timers,
                                           std::chrono::milliseconds delay) {
    co_await timers.sleep_for(delay);
    if (auto self = weak.lock())
      self->flush_done();
  }

  void flush_done() {
    flush_armed = false;
    if (done_keys.empty())
      return;
    std::vector<std::string> keys;
    keys.swap(done_keys);
    ++stats.done_flushes;
    try {
      inbox.mark_done(keys);
    } catch (const storage::StorageError& e) {
      spdlog::error("intake: cannot mark {} commands done: {}", keys.size(), e.what());
    }
  }

  asio::any_io_executor executor;
  storage::InboxStore& inbox;
  CommandDispatcher& dispatcher;
  Timers& timers;
  Options options;
  // Stable addresses: gathered deliveries and commands point at their platform.
  std::deque<IntakePlatform> platforms;
  IntakeStats stats;
  metrics::Registry* registry = nullptr;
  std::unordered_map<const IntakePlatform*, PlatformMeters> meters;
  bool stopping = false;
  std::size_t running = 0;  // commands whose handler has not returned yet

  std::vector<Gathered> intake;
  std::size_t intake_seen = 0;  // intake.size() at the last turn
  int idle_turns = 0;
  bool gathering = false;
  std::uint64_t batch_generation = 0;  // which batch a posted turn was for

  std::vector<std::string> done_keys;
  bool flush_armed = false;
  std::optional<ReplyOutbox> outbox;
  // Keys of commands outside the inbox: "<platform>:local:<session>:<n>".
  std::string local_session =
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count());
  std::uint64_t local_commands = 0;
};

CommandIntake::CommandIntake(asio::any_io_executor executor, storage::InboxStore& inbox,
                             CommandDispatcher& dispatcher, Timers& timers, Options options)
    : impl_(std::make_shared<Impl>(std::move(executor), inbox, dispatcher, timers, options)) {}

CommandIntake::CommandIntake(asio::any_io_executor executor, storage::InboxStore& inbox,
                             CommandDispatcher& dispatcher, Timers& timers)
    : CommandIntake(std::move(executor), inbox, dispatcher, timers, Options{}) {}

CommandIntake::~CommandIntake() {
  impl_->stopping = true;
}

void CommandIntake::attach(IntakePlatform platform) {
  if (impl_->outbox)
    impl_->outbox->attach(OutboxPlatform{platform.name, platform.conversation, platform.outbox});
  for (auto& existing : impl_->platforms) {
    if (existing.name == platform.name) {
      existing = std::move(platform);
      impl_->add_meters(existing);
      return;
    }
  }
  impl_->platforms.push_back(std::move(platform));
  impl_->add_meters(impl_->platforms.back());
}

void CommandIntake::count_in(metrics::Registry& registry) {
  impl_->registry = &registry;
  for (const auto& platform : impl_->platforms)
    impl_->add_meters(platform);
}

void CommandIntake::submit(std::string_view platform, Delivery delivery) {
  const Impl::Clock::time_point received =
      impl_->registry != nullptr ? Impl::Clock::now() : Impl::Clock::time_point{};
  impl_->gather(Impl::Gathered{&impl_->attached(platform), std::move(delivery), received});
}

void CommandIntake::flush() {
  if (impl_->gathering)
    impl_->close_batch();
}

CommandIntake::Accepted CommandIntake::accept_now(std::string_view platform_name,
                                                  IncomingCommand command) {
  const IntakePlatform& platform = impl_->attached(platform_name);
  std::string key = Impl::key_of(platform, command);
  const Impl::Clock::time_point received =
      impl_->registry != nullptr ? Impl::Clock::now() : Impl::Clock::time_point{};
  bool fresh = false;
  if (impl_->outbox) {
    // One commit per command, as for a batch (Impl::commit()): a read-only command runs first,
    // and its delivery, replies and "done" are recorded together.
    std::vector<Impl::Gathered> batch;
    batch.push_back(Impl::Gathered{&platform, Delivery{nullptr, "", command, {}}, received});
    std::vector<storage::InboxEntry> entries{Impl::inbox_entry(platform, key, command)};
    auto tentative = impl_->start_tentative(batch, entries);
    const bool recorded = impl_->outbox->commit_with(
        [&] {
          Impl::record_finished(entries, tentative);
          fresh = impl_->inbox.accept(entries[0]);
          if (tentative[0])
            tentative[0]->state =
                fresh ? TentativeCommand::State::recorded : TentativeCommand::State::dropped;
        },
        nullptr);
    if (!recorded) {
      spdlog::error("intake: cannot record command {}", key);
      ++impl_->stats.not_recorded;
      if (tentative[0])
        tentative[0]->state = TentativeCommand::State::dropped;
      return Accepted::not_recorded;
    }
    if (fresh && tentative[0]) {
      ++impl_->stats.commands;  // already running
      Impl::observe_first_reply(impl_->meters_of(&platform), *tentative[0], received);
      return Accepted::fresh;
    }
  } else {
    try {
      fresh = impl_->inbox.accept(Impl::inbox_entry(platform, key, command));
    } catch (const storage::StorageError& e) {
      spdlog::error("intake: cannot record command {}: {}", key, e.what());
      ++impl_->stats.not_recorded;
      return Accepted::not_recorded;
    }
  }
  if (!fresh) {
    ++impl_->stats.duplicates;
    if (auto* duplicates = impl_->meters_of(&platform).duplicates)
      duplicates->inc();
    return Accepted::duplicate;
  }
  Impl::spawn_handle(impl_, Impl::Command{&platform, std::move(key), std::move(command), received});
  return Accepted::fresh;
}

void CommandIntake::replay(std::string_view platform_name) {
  const IntakePlatform& platform = impl_->attached(platform_name);
  if (impl_->outbox && impl_->outbox->has_unsent(platform.name)) {
    // Replies left unconfirmed by the crash are settled first: a command run again then finds
    // its replies recorded and does not send them twice. (With none, replay runs now, before any
    // new delivery, as it always did.)
    asio::co_spawn(impl_->executor, Impl::replay_after_outbox(impl_, platform.name),
                   asio::detached);
    return;
  }
  impl_->replay_now(platform);
}

asio::awaitable<void> CommandIntake::Impl::replay_after_outbox(std::shared_ptr<Impl> self,
                                                               std::string platform_name) {
  std::string name = platform_name;
  co_await self->outbox->recover(std::move(name));
  if (self->stopping)
    co_return;
  if (const auto* platform = self->platform_named(platform_name))
    self->replay_now(*platform);
}

// This replica's own rows only (the inbox's replica tag): another replica's are its own to
// replay, or a survivor's to take over (take_over()).
void CommandIntake::Impl::replay_now(const IntakePlatform& platform) {
  const std::string& self = inbox.replica();
  for (auto& entry : inbox.in_state("received")) {
    if (entry.platform != platform.name || entry.replica != self)
      continue;
    resume_pending(platform, std::move(entry), "Shipmate restarted");
  }
  for (auto& entry : inbox.in_state("started")) {
    if (entry.platform != platform.name || entry.replica != self)
      continue;
    resume_pending(platform, std::move(entry), "Shipmate restarted");
  }
}

std::size_t CommandIntake::take_over(
    const std::function<bool(const std::string& replica)>& orphaned) {
  std::size_t adopted = 0;
  std::map<std::string, bool> verdicts;  // one lease read per replica
  const auto dead = [&](const std::string& replica) {
    auto [verdict, fresh] = verdicts.try_emplace(replica, false);
    if (fresh)
      verdict->second = orphaned(replica);
    return verdict->second;
  };
  // A dead replica's replies recorded but never confirmed: adopted (one UPDATE per replica: of
  // two survivors one gets them) and settled as after a restart, before its commands are.
  if (impl_->outbox) {
    for (const auto& platform : impl_->platforms) {
      for (const auto& replica : impl_->options.outbox->others_with_unsent(platform.name)) {
        if (!dead(replica))
          continue;
        auto rows = impl_->options.outbox->adopt_unsent(platform.name, replica);
        if (rows.empty())
          continue;
        spdlog::warn("outbox: {} unsent replies to {} adopted from replica {}", rows.size(),
                     platform.name, replica);
        asio::co_spawn(impl_->executor,
                       impl_->outbox->recover_adopted(platform.name, std::move(rows)),
                       asio::detached);
      }
    }
  }
  for (auto& entry : impl_->inbox.others_pending()) {
    const IntakePlatform* platform = impl_->platform_named(entry.platform);
    if (platform == nullptr)
      continue;  // answered by the transport of that platform, where it runs
    if (!dead(entry.replica) || !impl_->inbox.adopt(entry.key, entry.replica))
      continue;  // alive, or another survivor adopted it first
    ++adopted;
    spdlog::warn("inbox {}: adopted from replica {} ({})", entry.key, entry.replica, entry.state);
    const std::string who = "Shipmate replica " + entry.replica + " stopped";
    impl_->resume_pending(*platform, std::move(entry), who);
  }
  return adopted;
}

// A received row runs now; a started one is reported (`who` stopped while running it) and
// forgotten.
void CommandIntake::Impl::resume_pending(const IntakePlatform& platform, storage::InboxEntry entry,
                                         const std::string& who) {
  if (entry.state == "received") {
    ++stats.replayed;
    IncomingCommand command{entry.key.substr(platform.name.size() + 1), std::move(entry.user_id),
                            std::move(entry.channel), std::move(entry.thread),
                            std::move(entry.text)};
    Impl::spawn_handle(shared_from_this(), Impl::Command{&platform, entry.key, std::move(command)});
    return;
  }
  ++stats.interrupted;
  const auto notice = commands::warning(who + " while running '" + entry.text +
                                        "'; check 'status' and 'history' before trying again.");
  if (outbox) {
    // Recorded with the command's "done" in one commit: told once, across further crashes.
    outbox->notify(platform.name, entry.key + "#restart", entry.channel, entry.thread, notice,
                   entry.key);
    return;
  }
  if (auto conversation = platform.conversation(entry.channel, entry.thread))
    conversation->post(notice);
  inbox.mark_done(entry.key);
}

asio::awaitable<void> CommandIntake::run_unrecorded(std::string_view platform_name,
                                                    IncomingCommand command,
                                                    commands::Conversation& conversation) {
  auto self = impl_;
  const IntakePlatform& platform = self->attached(platform_name);
  ++self->stats.commands;
  // Its replies are recorded too (bot/reply_outbox.h), under a key no other run of any process
  // makes: this intake's start time and a count.
  std::unique_ptr<commands::Conversation> recorded;
  commands::Conversation* replies = &conversation;
  if (self->outbox) {
    std::string key = platform.name + ":local:" + self->local_session + ":" +
                      std::to_string(++self->local_commands);
    recorded = self->outbox->wrap_unrecorded(
        platform.name, std::move(key), command.channel, command.thread,
        std::make_unique<Impl::BorrowedConversation>(conversation));
    replies = recorded.get();
  }
  ChatEvent event{platform.name,
                  command.delivery_id,
                  self->identity_of(platform, command.user_id),
                  std::move(command.channel),
                  std::move(command.thread),
                  Impl::text_of(platform, command.text)};
  // A command without redelivery (the terminal's) is a request too: it is dispatched on an
  // executor that carries a fresh request id (common/request_id.h) and awaited here.
  auto executor = co_await asio::this_coro::executor;
  auto tagged = with_request_id(executor, new_request_id());
  auto dispatched = self->dispatcher.dispatch(std::move(event), *replies);
  co_await asio::co_spawn(tagged, std::move(dispatched), asio::use_awaitable);
}

void CommandIntake::stop() {
  impl_->stopping = true;
  impl_->flush_done();
  if (impl_->outbox)
    impl_->outbox->flush();
}

std::size_t CommandIntake::running() const {
  return impl_->running;
}

const ReplyOutbox* CommandIntake::outbox() const {
  return impl_->outbox ? &*impl_->outbox : nullptr;
}

const IntakeStats& CommandIntake::stats() const {
  return impl_->stats;
}

}  // namespace shipmate::bot
