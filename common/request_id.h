// Request ids: which chat request a log line belongs to.
//
// A command gets a request id when the intake starts it (bot/command_intake.h; the terminal's
// commands too, through run_unrecorded); everything that
// command's coroutine does afterwards (the router, a deploy it runs, the integration calls of
// that deploy, the questions it waits on) logs with that id, so one request's lines can be
// pulled out of the log with grep or jq (bot/logging.h puts it in every line).
//
// Contract
// - The id travels with the coroutine, not with a thread: with_request_id() wraps an executor
//   so that every handler it runs (the coroutine's start and every resumption after an
//   asynchronous operation) runs inside a RequestScope. Coroutines co_spawned on
//   `co_await this_coro::executor` inherit it; work spawned on another executor (a transport's
//   send queue, the watcher) does not, and logs without an id.
// - current_request_id() is per thread: "" outside any scope. RequestScope nests (it restores
//   the outer id when it ends). Threading: any thread; the id is read on the thread that logs.
// - Ids are 12 lower-case hex digits from a per-thread random generator: unique enough to find
//   one request among a day of logs, not a secret.
// - Cost: one shared string per request and a small wrapper around each handler the request's
//   coroutine runs; nothing for code without an id.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>

namespace shipmate {

// The request id of the code running now on this thread; "" when none.
std::string_view current_request_id();

// Makes `id` current for the scope's lifetime, then restores the previous one.
class RequestScope {
 public:
  explicit RequestScope(std::shared_ptr<const std::string> id);
  ~RequestScope();
  RequestScope(const RequestScope&) = delete;
  RequestScope& operator=(const RequestScope&) = delete;

 private:
  std::shared_ptr<const std::string> id_;
  const std::string* previous_;
};

// A fresh id ("3f9a0c41b2d7").
std::string new_request_id();

// `inner`, except that every handler it runs does so with `id` current.
boost::asio::any_io_executor with_request_id(boost::asio::any_io_executor inner, std::string id);

}  // namespace shipmate
