#include "common/request_id.h"

#include <cstdio>
#include <random>
#include <utility>

#include <boost/asio/execution.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/require.hpp>

namespace shipmate {
namespace asio = boost::asio;
namespace execution = boost::asio::execution;

namespace {

thread_local const std::string* current = nullptr;

// Runs every function it is given with one request id current. Every property asio's
// any_io_executor needs is forwarded to the wrapped executor, so the wrapper behaves exactly like
// it (same context, same blocking and work-tracking rules).
class TaggedExecutor {
 public:
  TaggedExecutor(asio::any_io_executor inner, std::shared_ptr<const std::string> id) noexcept
      : inner_(std::move(inner)), id_(std::move(id)) {}

  asio::execution_context& query(execution::context_t) const noexcept {
    return asio::query(inner_, execution::context);
  }
  TaggedExecutor require(execution::blocking_t::never_t) const {
    return {asio::require(inner_, execution::blocking.never), id_};
  }
  TaggedExecutor prefer(execution::blocking_t::possibly_t) const {
    return {asio::prefer(inner_, execution::blocking.possibly), id_};
  }
  TaggedExecutor prefer(execution::outstanding_work_t::tracked_t) const {
    return {asio::prefer(inner_, execution::outstanding_work.tracked), id_};
  }
  TaggedExecutor prefer(execution::outstanding_work_t::untracked_t) const {
    return {asio::prefer(inner_, execution::outstanding_work.untracked), id_};
  }
  TaggedExecutor prefer(execution::relationship_t::fork_t) const {
    return {asio::prefer(inner_, execution::relationship.fork), id_};
  }
  TaggedExecutor prefer(execution::relationship_t::continuation_t) const {
    return {asio::prefer(inner_, execution::relationship.continuation), id_};
  }

  template <class Function>
  void execute(Function function) const {
    inner_.execute([id = id_, function = std::move(function)]() mutable {
      RequestScope scope(std::move(id));
      function();
    });
  }

  friend bool operator==(const TaggedExecutor& a, const TaggedExecutor& b) noexcept {
    return a.inner_ == b.inner_ && a.id_ == b.id_;
  }
  friend bool operator!=(const TaggedExecutor& a, const TaggedExecutor& b) noexcept {
    return !(a == b);
  }

 private:
  asio::any_io_executor inner_;
  std::shared_ptr<const std::string> id_;
};

}  // namespace

std::string_view current_request_id() {
  return current != nullptr ? std::string_view(*current) : std::string_view();
}

RequestScope::RequestScope(std::shared_ptr<const std::string> id)
    : id_(std::move(id)), previous_(current) {
  current = id_.get();
}

RequestScope::~RequestScope() {
  current = previous_;
}

std::string new_request_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  char text[17];
  std::snprintf(text, sizeof text, "%012llx",
                static_cast<unsigned long long>(random() & 0xffffffffffffULL));
  return text;
}

asio::any_io_executor with_request_id(asio::any_io_executor inner, std::string id) {
  return TaggedExecutor(std::move(inner), std::make_shared<const std::string>(std::move(id)));
}

}  // namespace shipmate
