// Group commit for the runbook journal: every write that runs ask for in one turn of the event
// loop goes into one transaction, committed at the end of that turn, instead of one transaction
// (and one WAL append) per write. With 1,000 runs in flight that is a few dozen commits where
// there were a few thousand.
//
// Contract
// - Threading: event-loop thread only (the Database's thread). The commit is posted to the
//   executor when the first write of a turn arrives, so it runs after every handler that was
//   ready in that turn.
// - A batch holds at most 128 writes: a turn that queues more (1,000 runs started at once) fills
//   several, committed in order, one per loop turn, so timers and I/O run between the commits.
// - write(fn) queues `fn` and completes once the transaction that ran it has committed: a step
//   that awaits its "started" row is journaled before its effect, exactly as with a transaction
//   of its own. The writers of a batch are woken 64 per loop turn, in the order they wrote, so a
//   burst (1,000 runs at once) does not run all of their next steps in one sweep of the loop.
//   later(fn) queues without waiting (audit records, a status message's reference);
//   writes run in the order they were queued, so a later write of a run commits no earlier than
//   the writes it queued before.
// - flush() commits everything queued now, every batch in order (before a read that must see
//   it).
// - Errors: when a write throws (StorageError: disk full, a broken database), the whole batch
//   rolls back; each write() of that batch then throws the same exception to its caller, and a
//   later() write is logged. Nothing is retried.
// - Ownership: borrows the Database, which must outlive it; the GroupCommit must outlive every
//   coroutine that awaits it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace shipmate::storage {
class Database;
}

namespace shipmate::commands {

class GroupCommit {
 public:
  GroupCommit(boost::asio::any_io_executor executor, storage::Database& db);
  ~GroupCommit();
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  boost::asio::awaitable<void> write(std::function<void()> fn);
  void later(std::function<void()> fn);
  void flush();

  std::uint64_t commits() const { return commits_; }  // transactions committed so far
  std::uint64_t writes() const { return writes_; }    // writes carried out so far

  struct Batch;

 private:
  std::shared_ptr<Batch> open_batch();
  void schedule_commit();  // posts the commit of the oldest batch, once
  void commit_one();       // commits the oldest batch
  void commit(std::shared_ptr<Batch> batch);

  boost::asio::any_io_executor executor_;
  storage::Database& db_;
  std::deque<std::shared_ptr<Batch>> full_;  // closed batches, oldest first, all before pending_
  std::shared_ptr<Batch> pending_;           // the batch new writes join
  bool commit_posted_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // the posted commit checks it
  std::uint64_t commits_ = 0;
  std::uint64_t writes_ = 0;
};

}  // namespace shipmate::commands
