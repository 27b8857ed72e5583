#include "bot/reply_outbox.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <deque>

#include "bot/outbox_policy.h"
#include "common/redact.h"
#include "common/strings.h"
#include "common/timer.h"
#include "storage/database.h"
#include "storage/outbox_store.h"

namespace shipmate::bot {
namespace asio = boost::asio;
namespace json = boost::json;
using commands::Message;
using commands::MessageRef;
using commands::OutboxTicket;

namespace {

constexpr std::string_view tone_name(commands::Tone tone) {
  switch (tone) {
    case commands::Tone::info:
      return "info";
    case commands::Tone::progress:
      return "progress";
    case commands::Tone::success:
      return "success";
    case commands::Tone::warning:
      return "warning";
    case commands::Tone::error:
      return "error";
  }
  return "info";
}

commands::Tone tone_of(std::string_view name) {
  for (auto tone : {commands::Tone::info, commands::Tone::progress, commands::Tone::success,
                    commands::Tone::warning, commands::Tone::error}) {
    if (tone_name(tone) == name)
      return tone;
  }
  return commands::Tone::info;
}

// What a transport's answer means for the row.
OutboxInput input_for(const Result<std::string>& answer) {
  if (answer)
    return OutboxInput::send_ok;
  const Error& error = answer.error();
  switch (error.kind) {
    case ErrorKind::auth:
    case ErrorKind::not_found:
    case ErrorKind::invalid:
    case ErrorKind::tls:
      return OutboxInput::send_refused;
    case ErrorKind::internal:
    case ErrorKind::conflict:
    case ErrorKind::unavailable:
      break;
  }
  switch (error.reach) {
    case Reach::not_sent:
      return OutboxInput::send_not_sent;
    case Reach::sent:
    case Reach::timed_out:
    case Reach::unknown:
      break;
  }
  // An HTTP error status or an unknown reach: the platform may have acted on it.
  return error.kind == ErrorKind::internal ? OutboxInput::send_refused
                                           : OutboxInput::send_maybe_sent;
}

}  // namespace

std::string encode_message(const Message& message) {
  // Written straight into one string: a Boost.JSON object allocated a node per member and hashed
  // each name, for every reply. decode_message() reads it back (any valid escapes will do).
  std::string out;
  out.reserve(48 + message.text.size());
  auto member = [&out](std::string_view name, std::string_view value) {
    out += '"';
    out += name;
    out += "\":";
    append_json_string(out, value);
  };
  out += '{';
  member("tone", tone_name(message.tone));
  out += ',';
  member("text", redact(message.text));
  if (!message.fields.empty()) {
    out += ",\"fields\":[";
    for (std::size_t i = 0; i < message.fields.size(); ++i) {
      out += i == 0 ? "{" : ",{";
      member("label", redact(message.fields[i].label));
      out += ',';
      member("value", redact(message.fields[i].value));
      out += '}';
    }
    out += ']';
  }
  if (!message.context.empty()) {
    out += ',';
    member("context", redact(message.context));
  }
  if (!message.buttons.empty()) {
    out += ",\"buttons\":[";
    for (std::size_t i = 0; i < message.buttons.size(); ++i) {
      out += i == 0 ? "{" : ",{";
      member("label", redact(message.buttons[i].label));
      out += ',';
      member("command", redact(message.buttons[i].command));
      out += ',';
      member("style", message.buttons[i].style);
      out += '}';
    }
    out += ']';
  }
  if (message.preformatted)
    out += ",\"preformatted\":true";
  out += '}';
  return out;
}

Result<Message> decode_message(std::string_view body) {
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec || !value.is_object())
    return make_error("an outbox row's message is not a JSON object", ErrorKind::invalid);
  const auto& object = value.as_object();
  auto text_of = [](const json::object& from, std::string_view name) {
    const auto* found = from.if_contains(name);
    return found != nullptr && found->is_string() ? std::string(found->as_string()) : std::string();
  };
  Message message;
  message.tone = tone_of(text_of(object, "tone"));
  message.text = text_of(object, "text");
  message.context = text_of(object, "context");
  if (const auto* fields = object.if_contains("fields"); fields && fields->is_array()) {
    for (const auto& field : fields->as_array()) {
      if (field.is_object())
        message.fields.push_back(
            {text_of(field.as_object(), "label"), text_of(field.as_object(), "value")});
    }
  }
  if (const auto* buttons = object.if_contains("buttons"); buttons && buttons->is_array()) {
    for (const auto& button : buttons->as_array()) {
      if (button.is_object())
        message.buttons.push_back({text_of(button.as_object(), "label"),
                                   text_of(button.as_object(), "command"),
                                   text_of(button.as_object(), "style")});
    }
  }
  if (const auto* pre = object.if_contains("preformatted"); pre && pre->is_bool())
    message.preformatted = pre->as_bool();
  return message;
}

struct ReplyOutbox::Impl : std::enable_shared_from_this<Impl> {
  // One row this process is carrying, from queued until confirmed or parked.
  struct Row {
    storage::OutboxRow stored;
    Message message;
    OutboxRowProgress progress;
    std::shared_ptr<OutboxTicket> ticket;         // live rows: the ticket the platform holds
    bool held = false;                            // its message waits in the platform's queue
    bool sent_on_record = false;                  // recorded as sent (a command nothing replays)
    std::shared_ptr<TentativeCommand> tentative;  // its command runs before being recorded
  };
  struct Finished {
    std::string key;
    std::shared_ptr<TentativeCommand> tentative;
  };

  static bool is_dropped(const std::shared_ptr<TentativeCommand>& tentative) {
    return tentative && tentative->dropped();
  }

  Impl(asio::any_io_executor executor_in, storage::OutboxStore& store_in, Timers& timers_in,
       Options options_in)
      : executor(std::move(executor_in)), store(store_in), timers(timers_in), options(options_in) {}

  const OutboxPlatform* platform_named(std::string_view name) const {
    for (const auto& platform : platforms) {
      if (platform.name == name)
        return &platform;
    }
    return nullptr;
  }

  // --- Recording -------------------------------------------------------------------------------

  void queue(std::shared_ptr<Row> row) {
    const bool undecided =
        row->tentative && row->tentative->state == TentativeCommand::State::undecided;
    to_record.push_back(std::move(row));
    // The intake's commit_with() takes a tentative command's rows in this very turn.
    if (flush_posted || undecided)
      return;
    flush_posted = true;
    // The rest of this turn (the command finishing, other commands' replies) joins the commit.
    asio::post(executor, [weak = weak_from_this()] {
      if (auto self = weak.lock()) {
        self->flush_posted = false;
        self->commit();
      }
    });
  }

  void flush_soon() {
    if (flush_posted || flush_armed || stopped)
      return;
    flush_armed = true;
    asio::co_spawn(executor, flush_later(weak_from_this(), timers, options.flush_delay),
                   asio::detached);
  }

  static asio::awaitable<void> flush_later(std::weak_ptr<Impl> weak, Timers& timers,
                                           std::chrono::milliseconds delay) {
    co_await timers.sleep_for(delay);
    if (auto self = weak.lock()) {
      self->flush_armed = false;
      self->commit();
    }
  }

  void commit() { commit_with(nullptr, nullptr); }

  bool commit_with(const std::function<void()>& record, const std::function<void()>& then) {
    std::vector<std::shared_ptr<Row>> queued;
    queued.swap(to_record);
    std::vector<Finished> finishing;
    finishing.swap(finished_keys);
    std::vector<std::pair<std::string, std::string>> confirmed;
    confirmed.swap(sent_marks);
    if (queued.empty() && finishing.empty() && confirmed.empty() && !record) {
      if (then)
        then();
      return true;
    }
    // Decided inside the transaction, once `record` has told the tentative commands apart.
    std::vector<std::shared_ptr<Row>> rows;
    std::vector<std::shared_ptr<Row>> dropped;
    std::vector<std::string> done;
    std::vector<bool> fresh;
    storage::OutboxStore::FreshRows recorded;
    try {
      store.transaction([&] {
        if (record)
          record();
        rows.clear();
        dropped.clear();
        done.clear();
        for (auto& row : queued)
          (is_dropped(row->tentative) ? dropped : rows).push_back(row);
        for (const auto& finish : finishing) {
          if (!is_dropped(finish.tentative))
            done.push_back(finish.key);
        }
        if (rows.empty() && done.empty() && confirmed.empty())
          return;
        // The rows lend their records to the store for the statement and get them back (also
        // when it throws): a copy of each was four or five allocations per reply.
        std::vector<storage::OutboxRow> stored;
        stored.reserve(rows.size());
        for (const auto& row : rows)
          stored.push_back(std::move(row->stored));
        struct GiveBack {
          std::vector<std::shared_ptr<Row>>& rows;
          std::vector<storage::OutboxRow>& stored;
          ~GiveBack() {
            for (std::size_t i = 0; i < stored.size(); ++i)
              rows[i]->stored = std::move(stored[i]);
          }
        } give_back{rows, stored};
        recorded = store.record(stored, done, confirmed);
      });
      // On PostgreSQL the new rows came with the COMMIT's answer: the commit waited once less.
      fresh = recorded.read();
      ++stats.commits;
    } catch (const storage::StorageError& e) {
      // Not recorded: a tentative command's delivery stays unacknowledged and comes again, so
      // none of its messages may leave now.
      rows.clear();
      dropped.clear();
      done.clear();
      for (auto& row : queued) {
        if (row->tentative)
          row->tentative->state = TentativeCommand::State::dropped;
        (is_dropped(row->tentative) ? dropped : rows).push_back(row);
      }
      for (auto& finish : finishing) {
        if (finish.tentative)
          finish.tentative->state = TentativeCommand::State::dropped;
        else
          finished_keys.push_back(std::move(finish));
      }
      if (record)
        spdlog::error(
            "outbox: cannot record a batch of deliveries with {} replies and {} finished "
            "commands: {}; the deliveries stay unacknowledged, the other replies leave unrecorded",
            queued.size(), finishing.size(), e.what());
      else
        spdlog::error(
            "outbox: cannot record {} replies ({} finished commands): {}; sending them unrecorded",
            rows.size(), finishing.size(), e.what());
      sent_marks.insert(sent_marks.end(), confirmed.begin(), confirmed.end());
      fresh.assign(rows.size(), true);
      flush_soon();
      cancel_dropped(dropped);
      release_committed(rows, fresh);
      return false;
    }
    if (then)
      then();
    cancel_dropped(dropped);
    release_committed(rows, fresh);
    return true;
  }

  // Rows of a tentative command that was dropped: never recorded, never sent.
  void cancel_dropped(std::vector<std::shared_ptr<Row>>& dropped) {
    for (auto& row : dropped) {
      if (!row->ticket)
        continue;
      row->ticket->cancel();
      row->ticket.reset();
    }
  }

  void release_committed(std::vector<std::shared_ptr<Row>>& rows, const std::vector<bool>& fresh) {
    for (std::size_t i = 0; i < rows.size(); ++i) {
      auto& row = rows[i];
      if (!fresh[i]) {
        skip_recorded(row);
        continue;
      }
      active[row->stored.key] = row;
      ++stats.recorded;
      step(row, OutboxInput::committed);
    }
  }

  // A command run again after a crash asked for a message it had already recorded: it is not
  // sent again; its platform id (when known) stands in for it, so later updates edit it.
  void skip_recorded(const std::shared_ptr<Row>& row) {
    ++stats.skipped;
    if (auto it = active.find(row->stored.key); it != active.end() && it->second == row)
      active.erase(it);
    if (!row->ticket)
      return;
    std::string existing;
    if (auto earlier = store.find(row->stored.key))
      existing = earlier->platform_id;
    row->ticket->existing_id = existing;
    row->ticket->cancel();
    // The row no longer needs its ticket; whoever still holds the ticket keeps the row through
    // its on_done, and nothing keeps the pair alive once they let go.
    row->ticket.reset();
  }

  // --- Sending ---------------------------------------------------------------------------------

  void step(const std::shared_ptr<Row>& row, OutboxInput input,
            const std::string& platform_id = {}) {
    const OutboxStep next = decide(row->progress, input);
    if (input == OutboxInput::send_not_sent || input == OutboxInput::send_maybe_sent ||
        input == OutboxInput::check_failed)
      ++row->progress.attempts;
    row->progress.state = next.next;
    if (!settle_waiters.empty())
      wake_settle_waiters();
    switch (next.action) {
      case OutboxAction::none:
        return;
      case OutboxAction::send:
        send(row);
        return;
      case OutboxAction::check:
        asio::co_spawn(executor, check(shared_from_this(), row), asio::detached);
        return;
      case OutboxAction::mark_sent:
        confirm(row, platform_id);
        return;
      case OutboxAction::retry:
        ++stats.retries;
        asio::co_spawn(executor, retry_later(shared_from_this(), row, next.delay), asio::detached);
        return;
      case OutboxAction::park:
        ++stats.parked;
        spdlog::error(
            "outbox: giving up on reply {} to {} for now (it stays recorded and is "
            "tried again at the next start)",
            row->stored.key, row->stored.channel);
        active.erase(row->stored.key);
        return;
    }
  }

  void confirm(const std::shared_ptr<Row>& row, const std::string& platform_id) {
    ++stats.sent;
    const auto [entry, added] = sent_ids.insert_or_assign(row->stored.key, platform_id);
    if (added) {
      remembered.push_back(entry);
      while (remembered.size() > kRemembered) {
        sent_ids.erase(remembered.front());
        remembered.pop_front();
      }
    }
    active.erase(row->stored.key);
    if (row->sent_on_record)
      return;  // its row already says sent
    sent_marks.emplace_back(row->stored.key, platform_id);
    flush_soon();
  }

  std::shared_ptr<OutboxTicket> ticket_for(const std::shared_ptr<Row>& row) {
    auto ticket = std::make_shared<OutboxTicket>();
    ticket->key = row->stored.key;
    ticket->on_done = [weak = weak_from_this(), row](const Result<std::string>& answer) {
      auto self = weak.lock();
      if (!self)
        return;
      if (!answer)
        spdlog::warn("outbox: reply {} to {} not confirmed: {}", row->stored.key,
                     row->stored.channel, answer.error().message);
      self->step(row, input_for(answer), answer ? answer.value() : std::string());
    };
    return ticket;
  }

  void send(const std::shared_ptr<Row>& row) {
    if (row->held) {
      // The first send of a live row: its message already waits in the platform's queue.
      row->held = false;
      row->ticket->release();
      return;
    }
    // A retry, or a row from before a restart: sent on its own, its target by platform id.
    ++stats.resent;
    auto ticket = ticket_for(row);
    ticket->release();
    const OutboxPlatform* platform = platform_named(row->stored.platform);
    if (platform == nullptr) {
      ticket->done(make_error("the platform " + row->stored.platform + " is not attached"));
      return;
    }
    std::string target_id;
    if (!row->stored.target_key.empty()) {
      auto known = sent_ids.find(row->stored.target_key);
      if (known != sent_ids.end()) {
        target_id = known->second;
      } else if (auto target = store.find(row->stored.target_key)) {
        target_id = target->platform_id;
      }
    }
    if (platform->hooks.send) {
      platform->hooks.send(row->stored.intent, row->stored.channel, row->stored.thread, target_id,
                           row->message, ticket);
      return;
    }
    auto conversation = platform->conversation(row->stored.channel, row->stored.thread);
    if (!conversation) {
      ticket->done(make_error("no conversation for " + row->stored.channel, ErrorKind::not_found));
      return;
    }
    conversation->post_held(row->message, ticket);
  }

  static asio::awaitable<void> retry_later(std::shared_ptr<Impl> self, std::shared_ptr<Row> row,
                                           std::chrono::milliseconds delay) {
    const bool waited = co_await self->timers.sleep_for(delay);
    if (!waited || self->stopped)
      co_return;
    self->step(row, OutboxInput::retry_due);
  }

  // Where a row's post would be on the platform: its thread, or the channel around its time.
  std::string search_thread(const Row& row) const {
    if (row.stored.intent == "thread_reply" && !row.stored.target_key.empty()) {
      auto known = sent_ids.find(row.stored.target_key);
      if (known != sent_ids.end() && !known->second.empty())
        return known->second;
      if (auto target = store.find(row.stored.target_key); target && !target->platform_id.empty())
        return target->platform_id;
    }
    return row.stored.thread;
  }

  // A minute before the row was recorded: the platform's clock and ours may disagree.
  static EpochMillis search_since(const Row& row) { return row.stored.created_at - 60'000; }

  static asio::awaitable<void> check(std::shared_ptr<Impl> self, std::shared_ptr<Row> row) {
    const OutboxPlatform* platform = self->platform_named(row->stored.platform);
    if (platform == nullptr || !platform->hooks.find_sent) {
      self->step(row, OutboxInput::check_absent);
      co_return;
    }
    std::string channel = row->stored.channel;
    std::string thread = self->search_thread(*row);
    const EpochMillis since = search_since(*row);
    auto found = co_await platform->hooks.find_sent(std::move(channel), std::move(thread), since);
    if (!found) {
      spdlog::warn("outbox: cannot look for reply {} in {}: {}", row->stored.key,
                   row->stored.channel, found.error().message);
      // Refused for good (a missing scope such as channels:history): a possible duplicate beats a
      // reply that is never sent.
      const bool refused = found.error().kind == ErrorKind::auth;
      self->step(row, refused ? OutboxInput::check_absent : OutboxInput::check_failed);
      co_return;
    }
    auto match = found->find(row->stored.key);
    if (match == found->end()) {
      self->step(row, OutboxInput::check_absent);
      co_return;
    }
    ++self->stats.found;
    self->step(row, OutboxInput::check_found, match->second);
  }

  // --- Restart ---------------------------------------------------------------------------------

  // Waits until `row` has left the sending/checking states (confirmed, parked, or waiting).
  static asio::awaitable<void> settled(std::shared_ptr<Impl> self, std::shared_ptr<Row> row) {
    asio::steady_timer poll(self->executor);
    while (!self->stopped && (row->progress.state == OutboxState::sending ||
                              row->progress.state == OutboxState::checking)) {
      self->settle_waiters.push_back(&poll);
      poll.expires_after(std::chrono::hours(1));
      boost::system::error_code ignored;
      co_await poll.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      std::erase(self->settle_waiters, &poll);
    }
  }

  void wake_settle_waiters() {
    for (auto* waiter : settle_waiters)
      waiter->cancel();
  }

  // `adopted`: a dead replica's rows just adopted; otherwise this replica's own unsent rows.
  static asio::awaitable<void> recover(std::shared_ptr<Impl> self, std::string platform_name,
                                       std::optional<std::vector<storage::OutboxRow>> adopted) {
    std::vector<storage::OutboxRow> unsent;
    if (adopted) {
      unsent = std::move(*adopted);
    } else {
      try {
        unsent = self->store.unsent(platform_name);
      } catch (const storage::StorageError& e) {
        spdlog::error("outbox: cannot read unsent replies of {}: {}", platform_name, e.what());
        co_return;
      }
    }
    const OutboxPlatform* platform = self->platform_named(platform_name);
    if (unsent.empty() || platform == nullptr)
      co_return;
    spdlog::info("outbox: {} replies to {} were recorded but not confirmed before the restart",
                 unsent.size(), platform_name);
    self->stats.recovered += unsent.size();
    const auto found_before = self->stats.found;
    const auto resent_before = self->stats.resent;
    const bool can_check = static_cast<bool>(platform->hooks.find_sent);
    // One look per conversation: the keys found there, for every row of it.
    std::map<std::pair<std::string, std::string>, std::map<std::string, std::string>> looked;
    for (auto& stored : unsent) {
      auto decoded = decode_message(stored.body);
      if (!decoded) {
        spdlog::error("outbox: reply {} cannot be read ({}); dropped", stored.key,
                      decoded.error().message);
        continue;
      }
      auto row = std::make_shared<Row>();
      row->stored = std::move(stored);
      row->message = std::move(*decoded);
      row->progress.idempotent = row->stored.intent == "update";
      row->progress.can_check = can_check;
      self->active[row->stored.key] = row;
      // Rows are handled one at a time, in recorded order: a thread reply needs its post's id.
      OutboxStep first = decide(row->progress, OutboxInput::restarted);
      if (first.action == OutboxAction::check) {
        const auto where = std::make_pair(row->stored.channel, self->search_thread(*row));
        auto seen = looked.find(where);
        if (seen == looked.end()) {
          std::string channel = where.first;
          std::string thread = where.second;
          auto found = co_await platform->hooks.find_sent(std::move(channel), std::move(thread),
                                                          search_since(*row));
          if (!found) {
            spdlog::warn("outbox: cannot look for replies in {}: {}", where.first,
                         found.error().message);
            row->progress.state = OutboxState::checking;
            const bool refused = found.error().kind == ErrorKind::auth;
            self->step(row, refused ? OutboxInput::check_absent : OutboxInput::check_failed);
            if (refused)
              co_await settled(self, row);
            continue;
          }
          seen = looked.emplace(where, std::move(*found)).first;
        }
        row->progress.state = OutboxState::checking;
        auto match = seen->second.find(row->stored.key);
        if (match != seen->second.end()) {
          ++self->stats.found;
          self->step(row, OutboxInput::check_found, match->second);
          continue;
        }
        self->step(row, OutboxInput::check_absent);
      } else {
        self->step(row, OutboxInput::restarted);
      }
      co_await settled(self, row);
    }
    spdlog::info("outbox: of {} unconfirmed replies to {}, {} were found posted and {} sent again",
                 unsent.size(), platform_name, self->stats.found - found_before,
                 self->stats.resent - resent_before);
  }

  asio::any_io_executor executor;
  storage::OutboxStore& store;
  Timers& timers;
  Options options;
  std::deque<OutboxPlatform> platforms;
  OutboxStats stats;
  bool stopped = false;

  std::vector<std::shared_ptr<Row>> to_record;
  std::vector<Finished> finished_keys;
  std::vector<std::pair<std::string, std::string>> sent_marks;
  bool flush_posted = false;
  bool flush_armed = false;
  std::map<std::string, std::shared_ptr<Row>> active;  // key -> row not yet confirmed
  std::map<std::string, std::string> sent_ids;         // key -> platform id, recent ones
  // sent_ids' entries, oldest first (iterators, not copies of the 60-100 byte keys).
  std::deque<std::map<std::string, std::string>::iterator> remembered;
  static constexpr std::size_t kRemembered = 4096;
  std::vector<asio::steady_timer*> settle_waiters;
};

// The conversation a command answers in: each message is recorded, then sent, by the outbox.
class OutboxConversation final : public commands::Conversation {
 public:
  OutboxConversation(std::shared_ptr<ReplyOutbox::Impl> outbox, std::string platform,
                     std::string inbox_key, std::string channel, std::string thread,
                     std::unique_ptr<commands::Conversation> inner, bool sent_on_record,
                     std::shared_ptr<TentativeCommand> tentative)
      : outbox_(std::move(outbox)),
        platform_(std::move(platform)),
        inbox_key_(std::move(inbox_key)),
        channel_(std::move(channel)),
        thread_(std::move(thread)),
        inner_(std::move(inner)),
        sent_on_record_(sent_on_record),
        tentative_(std::move(tentative)) {}

  // A dropped tentative command (a redelivery, or a delivery that could not be recorded) runs on
  // but sends nothing.
  bool muted() const { return tentative_ && tentative_->dropped(); }

  MessageRef post(const Message& message) override {
    if (muted())
      return {};
    auto row = make_row("post", {}, message);
    MessageRef ref;
    if (inner_->holds_messages()) {
      ref = inner_->post_held(message, row->ticket);
      outbox_->queue(row);
    } else {
      record_now(row);
      // Recorded before, by an earlier run of this command: not posted again.
      if (row->ticket->hold == OutboxTicket::Hold::cancelled)
        return row->ticket->existing_id;
      ref = inner_->post_held(message, row->ticket);
    }
    keys_[ref] = row->stored.key;
    return ref;
  }

  void update(const MessageRef& ref, const Message& message) override {
    if (muted())
      return;
    auto row = make_row("update", key_of(ref), message);
    row->progress.idempotent = true;
    if (inner_->holds_messages()) {
      inner_->update_held(ref, message, row->ticket);
      outbox_->queue(row);
    } else {
      record_now(row);
      if (row->ticket->hold != OutboxTicket::Hold::cancelled)
        inner_->update_held(ref, message, row->ticket);
    }
  }

  void thread_reply(const MessageRef& ref, const Message& message) override {
    if (muted())
      return;
    auto row = make_row("thread_reply", key_of(ref), message);
    if (inner_->holds_messages()) {
      inner_->thread_reply_held(ref, message, row->ticket);
      outbox_->queue(row);
    } else {
      record_now(row);
      if (row->ticket->hold != OutboxTicket::Hold::cancelled)
        inner_->thread_reply_held(ref, message, row->ticket);
    }
  }

  std::string address() const override { return inner_->address(); }

 private:
  std::string key_of(const MessageRef& ref) const {
    auto found = keys_.find(ref);
    return found == keys_.end() ? std::string() : found->second;
  }

  std::shared_ptr<ReplyOutbox::Impl::Row> make_row(std::string intent, std::string target_key,
                                                   const Message& message) {
    auto row = std::make_shared<ReplyOutbox::Impl::Row>();
    // One allocation: `inbox_key_ + "#" + ...` made the string twice.
    std::string& key = row->stored.key;
    const std::string index = std::to_string(next_index_++);
    key.reserve(inbox_key_.size() + 1 + index.size());
    key += inbox_key_;
    key += '#';
    key += index;
    row->stored.platform = platform_;
    row->stored.channel = channel_;
    row->stored.thread = thread_;
    row->stored.intent = std::move(intent);
    row->stored.target_key = std::move(target_key);
    row->stored.body = encode_message(message);
    row->message = message;
    row->held = true;
    row->tentative = tentative_;
    row->ticket = outbox_->ticket_for(row);
    // Registered as active once committed (a dropped tentative row never is).
    return row;
  }

  // A platform that cannot hold a message: its row is written before the message is handed over.
  void record_now(const std::shared_ptr<ReplyOutbox::Impl::Row>& row) {
    outbox_->to_record.push_back(row);
    if (sent_on_record_) {
      // Written as it is shown (a terminal): marked sent in the commit that records it.
      row->sent_on_record = true;
      outbox_->sent_marks.emplace_back(row->stored.key, std::string());
    }
    outbox_->commit();
  }

  std::shared_ptr<ReplyOutbox::Impl> outbox_;
  std::string platform_;
  std::string inbox_key_;
  std::string channel_;
  std::string thread_;
  std::unique_ptr<commands::Conversation> inner_;
  bool sent_on_record_ = false;
  std::shared_ptr<TentativeCommand> tentative_;
  int next_index_ = 0;
  std::map<MessageRef, std::string> keys_;  // the platform's ref -> the post's key
};

ReplyOutbox::ReplyOutbox(asio::any_io_executor executor, storage::OutboxStore& store,
                         Timers& timers, Options options)
    : impl_(std::make_shared<Impl>(std::move(executor), store, timers, options)) {}

ReplyOutbox::~ReplyOutbox() {
  impl_->stopped = true;
  impl_->wake_settle_waiters();
  // A row and its ticket refer to each other (the ticket's on_done holds the row) until the
  // platform confirms it; rows still unconfirmed when the outbox goes (a stop or a crash in a
  // test) would keep each other alive. Their records stay in the store for the next start.
  for (auto& [key, row] : impl_->active) {
    if (row->ticket) {
      row->ticket->on_done = nullptr;
      row->ticket.reset();
    }
  }
  impl_->active.clear();
  for (auto& row : impl_->to_record) {
    if (row->ticket) {
      row->ticket->on_done = nullptr;
      row->ticket.reset();
    }
  }
  impl_->to_record.clear();
}

void ReplyOutbox::attach(OutboxPlatform platform) {
  for (auto& existing : impl_->platforms) {
    if (existing.name == platform.name) {
      existing = std::move(platform);
      return;
    }
  }
  impl_->platforms.push_back(std::move(platform));
}

std::unique_ptr<commands::Conversation> ReplyOutbox::wrap(
    std::string_view platform, std::string inbox_key, std::string channel, std::string thread,
    std::unique_ptr<commands::Conversation> inner, std::shared_ptr<TentativeCommand> tentative) {
  return std::make_unique<OutboxConversation>(impl_, std::string(platform), std::move(inbox_key),
                                              std::move(channel), std::move(thread),
                                              std::move(inner), false, std::move(tentative));
}

std::unique_ptr<commands::Conversation> ReplyOutbox::wrap_unrecorded(
    std::string_view platform, std::string key, std::string channel, std::string thread,
    std::unique_ptr<commands::Conversation> inner) {
  const bool shown_at_once = !inner->holds_messages();
  return std::make_unique<OutboxConversation>(impl_, std::string(platform), std::move(key),
                                              std::move(channel), std::move(thread),
                                              std::move(inner), shown_at_once, nullptr);
}

void ReplyOutbox::finished(std::string inbox_key, std::shared_ptr<TentativeCommand> tentative) {
  if (tentative && tentative->dropped())
    return;
  if (tentative && tentative->state == TentativeCommand::State::undecided) {
    // Finished before its delivery was recorded (the intake's commit_with() in this very turn):
    // the delivery is recorded as done, so no pending entry is written only to be deleted in
    // the same commit (one B-tree page and two statements fewer per command).
    tentative->finished = true;
    return;
  }
  impl_->finished_keys.push_back({std::move(inbox_key), std::move(tentative)});
  // With replies waiting to be recorded, it joins their commit (already posted).
  impl_->flush_soon();
}

void ReplyOutbox::notify(std::string_view platform_name, std::string key, std::string channel,
                         std::string thread, const commands::Message& message,
                         std::string finished_key) {
  auto row = std::make_shared<Impl::Row>();
  row->stored.key = std::move(key);
  row->stored.platform = std::string(platform_name);
  row->stored.channel = std::move(channel);
  row->stored.thread = std::move(thread);
  row->stored.intent = "post";
  row->stored.body = encode_message(message);
  row->message = message;
  impl_->finished_keys.push_back({std::move(finished_key), nullptr});
  impl_->queue(std::move(row));
}

asio::awaitable<void> ReplyOutbox::recover(std::string platform) {
  auto self = impl_;
  co_await Impl::recover(self, std::move(platform), std::nullopt);
}

asio::awaitable<void> ReplyOutbox::recover_adopted(std::string platform,
                                                   std::vector<storage::OutboxRow> rows) {
  auto self = impl_;
  std::optional<std::vector<storage::OutboxRow>> adopted(std::move(rows));
  co_await Impl::recover(self, std::move(platform), std::move(adopted));
}

bool ReplyOutbox::has_unsent(std::string_view platform) const {
  return !impl_->store.unsent(platform).empty();
}

bool ReplyOutbox::commit_with(const std::function<void()>& record,
                              const std::function<void()>& then) {
  return impl_->commit_with(record, then);
}

void ReplyOutbox::flush() {
  impl_->commit();
  impl_->stopped = true;
  impl_->wake_settle_waiters();
}

const OutboxStats& ReplyOutbox::stats() const {
  return impl_->stats;
}

}  // namespace shipmate::bot
