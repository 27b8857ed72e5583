#include "commands/group_commit.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <exception>
#include <vector>

#include "storage/database.h"

namespace shipmate::commands {
namespace asio = boost::asio;

namespace {
// Waiters woken per loop turn after a commit. Waking all of a burst's writers at once (1,000 runs
// started together) ran all of their next steps in one sweep of the loop; in slices, timers and
// I/O get their turn between them.
constexpr std::size_t kWakeSlice = 64;
// Writes per transaction. A turn that queues more (1,000 runs started at once) fills several
// batches, committed one per loop turn, so no single commit holds the loop for all of them.
constexpr std::size_t kMaxBatch = 128;
}  // namespace

struct GroupCommit::Batch {
  explicit Batch(asio::any_io_executor executor) : executor(std::move(executor)) {}
  // The timer that write() number `waiter` of this batch waits on: one per slice of waiters.
  asio::steady_timer& wake_for(std::size_t waiter) {
    const std::size_t slice = waiter / kWakeSlice;
    while (wakes.size() <= slice) {
      // Never expires by itself: cancelled once the batch has committed, slice by slice.
      wakes.push_back(
          std::make_unique<asio::steady_timer>(executor, asio::steady_timer::time_point::max()));
    }
    return *wakes[slice];
  }
  // Wakes slice `from`, and posts the waking of the next one behind what that slice does.
  static void wake_from(std::shared_ptr<Batch> batch, std::size_t from) {
    if (from >= batch->wakes.size())
      return;
    batch->wakes[from]->cancel();
    if (from + 1 < batch->wakes.size()) {
      const asio::any_io_executor executor = batch->executor;
      asio::post(executor, [batch = std::move(batch), from] { wake_from(batch, from + 1); });
    }
  }
  asio::any_io_executor executor;
  std::vector<std::function<void()>> writes;
  std::vector<std::unique_ptr<asio::steady_timer>> wakes;
  std::size_t waiters = 0;
  bool done = false;
  std::exception_ptr error;
};

GroupCommit::GroupCommit(asio::any_io_executor executor, storage::Database& db)
    : executor_(std::move(executor)), db_(db) {}

GroupCommit::~GroupCommit() {
  *alive_ = false;
  flush();  // what was queued is not lost when the owner goes first
}

std::shared_ptr<GroupCommit::Batch> GroupCommit::open_batch() {
  if (pending_ && pending_->writes.size() >= kMaxBatch)
    full_.push_back(std::move(pending_));  // closed; it commits in its turn, before the next
  if (!pending_)
    pending_ = std::make_shared<Batch>(executor_);
  schedule_commit();
  return pending_;
}

void GroupCommit::schedule_commit() {
  if (commit_posted_)
    return;
  commit_posted_ = true;
  // Posted, so it runs after every handler ready in this turn: their writes join the batch.
  asio::post(executor_, [this, alive = alive_] {
    if (!*alive)
      return;
    commit_posted_ = false;
    commit_one();
    // Each further batch in a turn of its own: timers and I/O run between the commits.
    if (!full_.empty() || pending_)
      schedule_commit();
  });
}

void GroupCommit::commit_one() {
  std::shared_ptr<Batch> batch;
  if (!full_.empty()) {
    batch = std::move(full_.front());
    full_.pop_front();
  } else {
    batch = std::move(pending_);
    pending_.reset();
  }
  if (batch)
    commit(std::move(batch));
}

void GroupCommit::later(std::function<void()> fn) {
  open_batch()->writes.push_back(std::move(fn));
}

asio::awaitable<void> GroupCommit::write(std::function<void()> fn) {
  std::shared_ptr<Batch> batch = open_batch();
  batch->writes.push_back(std::move(fn));
  asio::steady_timer& wake = batch->wake_for(batch->waiters++);
  bool woken_up = false;
  while (!woken_up) {
    // Not cancellable from outside: the write is queued and will commit (or fail) regardless,
    // and the caller must not go on believing it did before it has.
    auto woken = wake.async_wait(asio::bind_cancellation_slot(asio::cancellation_slot(),
                                                              asio::as_tuple(asio::use_awaitable)));
    auto [ec] = co_await std::move(woken);
    woken_up = batch->done && ec == asio::error::operation_aborted;
  }
  if (batch->error)
    std::rethrow_exception(batch->error);
}

void GroupCommit::flush() {
  while (!full_.empty() || pending_)
    commit_one();
}

void GroupCommit::commit(std::shared_ptr<Batch> batch) {
  try {
    db_.transaction([&] {
      for (auto& fn : batch->writes)
        fn();
    });
    ++commits_;
    writes_ += batch->writes.size();
  } catch (const std::exception& e) {
    batch->error = std::current_exception();
    spdlog::error("runbook journal: a batch of {} writes was rolled back: {}", batch->writes.size(),
                  e.what());
  }
  batch->done = true;
  Batch::wake_from(batch, 0);
}

}  // namespace shipmate::commands
