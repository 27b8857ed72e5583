#include "storage/commit_batcher.h"

#include <algorithm>
#include <exception>
#include <optional>
#include <string>

#include "storage/database.h"

namespace shipmate::storage {

CommitQueue::CommitQueue(std::size_t max_batch) : max_batch_(std::max<std::size_t>(1, max_batch)) {}

bool CommitQueue::arrive(Ticket ticket) {
  pending_.push_back(ticket);
  if (scheduled_ || running_)
    return false;
  scheduled_ = true;
  return true;
}

const std::vector<CommitQueue::Ticket>& CommitQueue::begin_batch() {
  scheduled_ = false;
  running_ = true;
  batch_.clear();
  while (!pending_.empty() && batch_.size() < max_batch_) {
    batch_.push_back(pending_.front());
    pending_.pop_front();
  }
  return batch_;
}

CommitQueue::Verdict CommitQueue::finish(Outcome outcome, std::size_t failed_index) {
  running_ = false;
  Verdict verdict;
  if (outcome == Outcome::write_failed && failed_index >= batch_.size())
    outcome = Outcome::commit_failed;  // no such item: nothing says who failed, so all did
  switch (outcome) {
    case Outcome::committed:
      verdict.answer_ok = batch_;
      break;
    case Outcome::write_failed:
      verdict.answer_failed.push_back(batch_[failed_index]);
      // The others go first in the next batch, in their order.
      for (std::size_t i = batch_.size(); i-- > 0;) {
        if (i != failed_index)
          pending_.push_front(batch_[i]);
      }
      break;
    case Outcome::commit_failed:
      verdict.answer_failed = batch_;
      break;
  }
  batch_.clear();
  if (!pending_.empty()) {
    scheduled_ = true;
    verdict.schedule_flush = true;
  }
  return verdict;
}

CommitBatcher::CommitBatcher(Database& db, Schedule schedule, std::size_t max_batch)
    : db_(db), schedule_(std::move(schedule)), queue_(max_batch) {}

CommitBatcher::~CommitBatcher() {
  *alive_ = false;
  std::vector<CommitQueue::Ticket> tickets;
  for (const auto& entry : work_)
    tickets.push_back(entry.first);
  std::sort(tickets.begin(), tickets.end());
  for (const auto ticket : tickets) {
    auto work = std::move(work_.at(ticket));
    work_.erase(ticket);
    if (work.done)
      work.done(make_error("not recorded: shutting down", ErrorKind::unavailable));
  }
}

void CommitBatcher::submit(Work work) {
  const auto ticket = next_ticket_++;
  work_.emplace(ticket, std::move(work));
  if (queue_.arrive(ticket))
    schedule_([this, alive = alive_] {
      if (*alive)
        flush();
    });
}

void CommitBatcher::flush() {
  const std::vector<CommitQueue::Ticket> batch = queue_.begin_batch();
  auto outcome = CommitQueue::Outcome::committed;
  std::size_t index = 0;
  Error error = make_error("");
  if (!batch.empty()) {
    bool began = false;
    bool written = false;
    std::string what;
    // Which item failed: the one whose write() threw, unless the error names the item that sent
    // the failed statement (PostgreSQL's pipeline reads a failure at the next wait, which may be
    // a later item's read or the COMMIT).
    auto blame = [&](const StorageError* storage_error) {
      // value_or rather than testing the optional: GCC 12 at -O3 takes *tag for uninitialised
      // (-Werror=maybe-uninitialized) and the Release build stopped here.
      const std::size_t tag = storage_error != nullptr
                                  ? storage_error->statement_tag().value_or(batch.size())
                                  : batch.size();
      if (began && tag < batch.size()) {
        index = tag;
        return CommitQueue::Outcome::write_failed;
      }
      return began && !written ? CommitQueue::Outcome::write_failed
                               : CommitQueue::Outcome::commit_failed;
    };
    try {
      db_.transaction([&] {
        began = true;
        for (index = 0; index < batch.size(); ++index) {
          auto& work = work_.at(batch[index]);
          db_.tag_statements(index);
          if (work.write)
            work.write();
        }
        db_.tag_statements(std::nullopt);
        written = true;
      });
    } catch (const StorageError& e) {
      db_.tag_statements(std::nullopt);
      what = e.what();
      outcome = blame(&e);
    } catch (const std::exception& e) {
      db_.tag_statements(std::nullopt);
      what = e.what();
      outcome = blame(nullptr);
    } catch (...) {
      db_.tag_statements(std::nullopt);
      what = "an unknown error";
      outcome = blame(nullptr);
    }
    if (outcome == CommitQueue::Outcome::write_failed) {
      error = make_error("not recorded: " + what);
    } else if (outcome == CommitQueue::Outcome::commit_failed) {
      error = make_error("not recorded: the transaction it shared with " +
                             std::to_string(batch.size() - 1) +
                             " other request(s) failed and was rolled back (" + what + ")",
                         ErrorKind::unavailable);
    }
  }
  const auto verdict = queue_.finish(outcome, index);
  if (outcome == CommitQueue::Outcome::committed && !batch.empty())
    ++counters_.transactions;
  if (outcome == CommitQueue::Outcome::write_failed)
    counters_.retried += batch.size() - 1;
  if (verdict.schedule_flush)
    schedule_([this, alive = alive_] {
      if (*alive)
        flush();
    });
  answer(verdict, error);
}

void CommitBatcher::answer(const CommitQueue::Verdict& verdict, const Error& error) {
  auto take = [this](CommitQueue::Ticket ticket) {
    auto node = work_.extract(ticket);
    return node.empty() ? Work{} : std::move(node.mapped());
  };
  for (const auto ticket : verdict.answer_ok) {
    auto work = take(ticket);
    ++counters_.committed;
    if (work.done)
      work.done(Status(Ok{}));
  }
  for (const auto ticket : verdict.answer_failed) {
    auto work = take(ticket);
    ++counters_.failed;
    if (work.done)
      work.done(Status(error));
  }
}

}  // namespace shipmate::storage
