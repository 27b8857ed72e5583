// The chat inbox: commands as delivered by a chat platform, recorded before they are
// acknowledged.
//
// Exactly-once works like this: a transport calls accept() with the platform's stable event key
// *before* acking the delivery. accept() returns false for a key it has seen (a redelivery),
// which the transport acks and drops. After a restart, entries still `received` were acked but
// never started (run them now); entries `started` were interrupted (say so, do not rerun: the
// command may have had effects). A finished command keeps only its key and arrival time, for
// deduplication; what it said is deleted.
//
// Replicas (issue 17): each pending row carries the replica that received it (empty for a single
// replica). A replica replays only its own rows; a dead replica's rows are adopted by a survivor
// with adopt(), a compare-and-set on the tag, so of two survivors exactly one runs (or reports)
// each command.
//
// Contract: threading and errors as in database.h. Text passes through redact() before storage.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "storage/database.h"

namespace shipmate::storage {

struct InboxEntry {
  std::string key;  // platform-scoped, e.g. "slack:event:Ev0123"
  std::string platform;
  std::string user_id;
  std::string channel;
  std::string thread;
  std::string text;
  std::string state;  // "received", "started", "done"
  EpochMillis received_at = 0;
  std::string replica = {};  // the replica that received it (or adopted it); empty: single
};

// Keeps its prepared statements for its lifetime, so it must be destroyed before `db`.
class InboxStore {
 public:
  // `replica` tags every row this store accepts (empty for a single replica).
  InboxStore(Database& db, const Clock& clock, std::string replica = {})
      : db_(db), clock_(clock), replica_(std::move(replica)) {}

  const std::string& replica() const { return replica_; }

  // Records a delivery in state "received"; false when the key is already there (whether or not
  // that command has finished). An entry whose `state` is "done" (a command that already ran and
  // finished, its replies recorded in the same transaction) is recorded finished: its key only.
  bool accept(const InboxEntry& entry);
  // Records many deliveries in one transaction (a transport's group commit): element i is
  // accept(entries[i]). Keys in `finished` are marked done in the same transaction, which saves
  // the commit of their own. All or nothing: when it throws, nothing was written. On PostgreSQL
  // the batch is one statement (its entries as a JSON array; accept() takes two), so a batch
  // costs the server the round trips of a single delivery.
  std::vector<bool> accept_all(const std::vector<InboxEntry>& entries,
                               const std::vector<std::string>& finished = {});
  // Runs `body` in one transaction; accept_all() and other stores' writes on the same database
  // inside it join it (the intake records a batch with the writes its deliveries carry this way).
  template <typename F>
  decltype(auto) transaction(F&& body) {
    return db_.transaction(std::forward<F>(body));
  }
  void mark_started(std::string_view key);
  // Forgets the command's content, keeping its key.
  void mark_done(std::string_view key);
  // Marks many entries done in one transaction (commands finish in bursts).
  void mark_done(const std::vector<std::string>& keys);
  // Entries in `state` (of every replica), oldest first. "done" entries carry only key, state
  // and received_at.
  std::vector<InboxEntry> in_state(std::string_view state);
  // Pending entries of replicas other than this one (received or started), oldest first.
  std::vector<InboxEntry> others_pending();
  // Moves pending entry `key` from replica `from` to this one; false when it is no longer
  // `from`'s (another survivor adopted it first) or no longer pending.
  bool adopt(std::string_view key, std::string_view from);
  // Forgets the keys of finished commands received before `cutoff`; keys younger than the
  // platform's redelivery window must stay so that redeliveries are still recognised.
  int prune_done_before(EpochMillis cutoff);
  std::size_t size();

 private:
  // accept() and the state changes run for every chat command; preparing their SQL each time
  // cost about as much as executing it, so they are prepared once.
  Statement& cached(std::optional<Statement>& slot, std::string_view sql);
  std::vector<bool> accept_batch(const std::vector<InboxEntry>& entries);

  Database& db_;
  const Clock& clock_;
  std::string replica_;
  std::optional<Statement> remember_;
  std::optional<Statement> insert_;
  std::optional<Statement> set_started_;
  std::optional<Statement> remove_;
  std::optional<Statement> remove_all_;
  std::optional<Statement> accept_batch_;  // PostgreSQL: a whole batch in one statement
};

}  // namespace shipmate::storage
