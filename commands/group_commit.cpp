#include "commands/group_commit.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <vector>

#include "storage/database.h"

namespace shipmate::commands {
namespace asio = boost::asio;

struct GroupCommit::Batch {
  explicit Batch(const asio::any_io_executor& executor)
      : wake(executor, asio::steady_timer::time_point::max()) {}
  std::vector<std::function<void()>> writes;
  asio::steady_timer wake;  // never expires by itself: cancelled once the batch has committed
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
  if (!pending_) {
    pending_ = std::make_shared<Batch>(executor_);
    // Posted, so it runs after every handler ready in this turn: their writes join the batch.
    asio::post(executor_, [this, alive = alive_, batch = pending_] {
      if (*alive && pending_ == batch)
        flush();
    });
  }
  return pending_;
}

void GroupCommit::later(std::function<void()> fn) {
  open_batch()->writes.push_back(std::move(fn));
}

asio::awaitable<void> GroupCommit::write(std::function<void()> fn) {
  std::shared_ptr<Batch> batch = open_batch();
  batch->writes.push_back(std::move(fn));
  while (!batch->done) {
    // Not cancellable from outside: the write is queued and will commit (or fail) regardless,
    // and the caller must not go on believing it did before it has.
    auto woken = batch->wake.async_wait(asio::bind_cancellation_slot(
        asio::cancellation_slot(), asio::as_tuple(asio::use_awaitable)));
    co_await std::move(woken);
  }
  if (batch->error)
    std::rethrow_exception(batch->error);
}

void GroupCommit::flush() {
  std::shared_ptr<Batch> batch = std::move(pending_);
  pending_.reset();
  if (!batch)
    return;
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
  batch->wake.cancel();
}

}  // namespace shipmate::commands
