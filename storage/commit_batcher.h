// Group commit for requests that are answered: the writes of requests that arrive together go
// into ONE transaction, and each request is answered only after the transaction holding its
// writes committed. Used by the alert webhooks (commands/alert_intake.h); made to be reused by
// any endpoint that must be durable before it answers (Teams activities next).
//
// (commands/group_commit.h is the runbook journal's older variant: asio timers, and a failed
// write fails its whole batch with no retry. This one keeps its decisions free of I/O and fails
// only the writer that failed.)
//
// Why: a commit costs as much as a request's whole other work (an Alertmanager notification of
// 10 alerts: 103 k instructions of commit, 94 k of them writing SQLite's WAL frames, plus the
// kernel's write, next to 97 k for parsing it; bench/README.md), and pages the requests share
// (index tails, the audit chain's) are written once per transaction, not once per request.
//
// How it decides (CommitQueue, pure, tested step by step in tests/unit/commit_batcher_test.cpp)
// - A writer arrives (submit). If no flush is scheduled or running, one is scheduled: with the
//   event loop's scheduler that is "after the handlers already ready in this turn", so requests
//   read in the same turn, or while a transaction was being written, end up in the next one.
// - The flush takes the pending work in arrival order, at most `max_batch` of them, and runs each
//   one's write() in that order inside one transaction, then commits.
// - All committed: each one's done(Ok) is called, in arrival order.
// - The write() of item i throws: the transaction is rolled back (nothing of the batch stays),
//   item i's done() gets an Error naming why, and the other items go back to the FRONT of the
//   queue, in their order, for the next flush (they are not answered yet). So one bad item fails
//   alone and loses no one else's work; each round removes one item, so this ends.
//   On PostgreSQL a statement whose rows nobody reads is only sent (storage/postgres.h), so its
//   failure is thrown at the next wait: in a later item's write() or at COMMIT. Each item's
//   statements are tagged with its index (Database::tag_statements), and a StorageError that
//   carries a tag blames that item wherever it was thrown, COMMIT included; a COMMIT that fails
//   for no statement's sake (a deferred constraint, a lost connection) fails the whole batch.
// - BEGIN or COMMIT fails (disk full, I/O error, a lost PostgreSQL connection): the transaction is
//   rolled back and EVERY item of the batch gets done(Error) ("not recorded: ..."); nothing of it
//   is written, so a caller that answers "try again" loses nothing.
// - Work pending after a flush (more than max_batch arrived, items to retry, or done() callbacks
//   that submitted more) schedules the next flush before any done() is called.
//
// Contract
// - Writers see each other: write()s run one after another on the same connection, so a later
//   item reads what an earlier item of the same batch wrote (a dedupe key inserted by item 1 is a
//   duplicate for item 2, on both backends). A write() must be written to be RUN AGAIN: after a
//   rollback it is called again in a new transaction, so it must start its in-memory results
//   afresh each time and carry out no effect outside the database (post to chat, answer HTTP,
//   tell a scheduler) before its done(Ok).
// - done() is called exactly once per submitted Work, after the outcome is durable (Ok) or
//   certainly void (Error). It must not throw. It may submit() more work.
// - A write() may use Database::transaction() (it joins the shared one) and may throw to refuse;
//   it must not commit, roll back or call flush-related methods itself.
// - Threading: one thread (the event loop's), like the Database. The Schedule callback is the one
//   piece of I/O-ish glue: it must run the function later on this same thread, never inline
//   (App: asio::post to the loop's executor; tests: a queue they pump).
// - The Database must not be inside a transaction when a flush runs (flushes run from the
//   scheduler, never from inside someone's transaction).
// - Lifetime: borrows the Database, which must outlive it. A flush scheduled before the
//   CommitBatcher was destroyed does nothing; work still pending then is answered with
//   done(Error "not recorded: shutting down").
// - Errors reach done() as Error values whose message starts "not recorded: " and says why
//   (the write's own exception text, or that the shared commit failed), on one line; a caller
//   redacts it before answering with it. ErrorKind::unavailable when the commit failed (try
//   again), internal when the item's own write threw.
// - Backends: anything Database::transaction() supports (SQLite: BEGIN IMMEDIATE; PostgreSQL:
//   BEGIN, READ COMMITTED). No asio here: the awaitable wrappers live with their callers
//   (commands/alert_intake.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/result.h"

namespace shipmate::storage {

class Database;

// The decisions of group commit, with no I/O: tickets in, batches and verdicts out.
class CommitQueue {
 public:
  using Ticket = std::uint64_t;
  explicit CommitQueue(std::size_t max_batch);

  // A writer arrives. True when the caller must schedule a flush (none is scheduled or running).
  [[nodiscard]] bool arrive(Ticket ticket);

  // The scheduled flush starts: the tickets of its transaction, in order (at most max_batch).
  // Only after arrive() or a verdict asked for a flush.
  const std::vector<Ticket>& begin_batch();

  enum class Outcome { committed, write_failed, commit_failed };
  struct Verdict {
    std::vector<Ticket> answer_ok;      // done(Ok), in this order
    std::vector<Ticket> answer_failed;  // done(Error)
    bool schedule_flush = false;        // work is pending: schedule the next flush now
  };
  // How the batch ended; `failed_index` is the index (in begin_batch()'s list) of the item whose
  // write threw, for Outcome::write_failed.
  Verdict finish(Outcome outcome, std::size_t failed_index = 0);

  std::size_t pending() const { return pending_.size(); }
  bool running() const { return running_; }
  bool scheduled() const { return scheduled_; }

 private:
  std::size_t max_batch_;
  std::deque<Ticket> pending_;
  std::vector<Ticket> batch_;
  bool scheduled_ = false;
  bool running_ = false;
};

class CommitBatcher {
 public:
  static constexpr std::size_t kMaxBatch = 256;
  using Schedule = std::function<void(std::function<void()>)>;
  struct Work {
    std::function<void()> write;              // inside the shared transaction; may run again
    std::function<void(const Status&)> done;  // once: after COMMIT (Ok) or for certain not
  };
  struct Counters {
    std::uint64_t transactions = 0;  // committed transactions
    std::uint64_t committed = 0;     // work items answered Ok
    std::uint64_t failed = 0;        // work items answered with an Error
    std::uint64_t retried = 0;       // items sent to the next batch after another item failed
  };

  CommitBatcher(Database& db, Schedule schedule, std::size_t max_batch = kMaxBatch);
  ~CommitBatcher();
  CommitBatcher(const CommitBatcher&) = delete;
  CommitBatcher& operator=(const CommitBatcher&) = delete;

  void submit(Work work);
  const Counters& counters() const { return counters_; }

 private:
  void flush();
  void answer(const CommitQueue::Verdict& verdict, const Error& error);

  Database& db_;
  Schedule schedule_;
  CommitQueue queue_;
  CommitQueue::Ticket next_ticket_ = 1;
  std::unordered_map<CommitQueue::Ticket, Work> work_;
  Counters counters_;
  // Set to false by the destructor: a flush scheduled before it must do nothing.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace shipmate::storage
