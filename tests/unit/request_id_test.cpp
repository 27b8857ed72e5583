// Request ids travel with a coroutine across every resumption (posts, timers, sleeps woken from
// elsewhere, coroutines it co_spawns on its own executor) and never leak into other coroutines
// or code outside a request.
#include "common/request_id.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <string>
#include <vector>

#include "common/timer.h"

namespace shipmate {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

TEST(RequestId, NewIdsAreTwelveHexDigitsAndDiffer) {
  const std::string a = new_request_id();
  const std::string b = new_request_id();
  EXPECT_EQ(a.size(), 12u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos) << a;
  EXPECT_NE(a, b);
}

TEST(RequestId, ScopesNestAndRestore) {
  EXPECT_EQ(current_request_id(), "");
  {
    RequestScope outer(std::make_shared<const std::string>("outer"));
    EXPECT_EQ(current_request_id(), "outer");
    {
      RequestScope inner(std::make_shared<const std::string>("inner"));
      EXPECT_EQ(current_request_id(), "inner");
    }
    EXPECT_EQ(current_request_id(), "outer");
  }
  EXPECT_EQ(current_request_id(), "");
}

// Two requests interleave on one thread: each sees its own id after every kind of resumption.
TEST(RequestId, FollowsEachCoroutineAcrossResumptionsOnOneThread) {
  asio::io_context io;
  ManualTimers timers(io.get_executor());
  std::map<std::string, std::vector<std::string>> seen;
  std::vector<std::string> untagged;

  auto child = [&](std::string name) -> asio::awaitable<void> {
    seen[name + "/child"].emplace_back(current_request_id());
    auto executor = co_await asio::this_coro::executor;
    co_await asio::post(executor, asio::use_awaitable);
    seen[name + "/child"].emplace_back(current_request_id());
  };
  auto request = [&](std::string name) -> asio::awaitable<void> {
    seen[name].emplace_back(current_request_id());
    for (int i = 0; i < 3; ++i) {
      auto executor = co_await asio::this_coro::executor;
      co_await asio::post(executor, asio::use_awaitable);
      seen[name].emplace_back(current_request_id());
    }
    // Woken by advance(), called from code that runs outside any request.
    const bool slept = co_await timers.sleep_for(1s);
    EXPECT_TRUE(slept);
    seen[name].emplace_back(current_request_id());
    // A coroutine it co_spawns on its own executor inherits the id, and waiting for it too.
    auto executor = co_await asio::this_coro::executor;
    auto spawned = child(name);
    co_await asio::co_spawn(executor, std::move(spawned), asio::use_awaitable);
    seen[name].emplace_back(current_request_id());
  };
  auto plain = [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      untagged.emplace_back(current_request_id());
      auto executor = co_await asio::this_coro::executor;
      co_await asio::post(executor, asio::use_awaitable);
    }
    untagged.emplace_back(current_request_id());
  };
  asio::co_spawn(with_request_id(io.get_executor(), "aaaaaaaaaaaa"), request("a"), asio::detached);
  asio::co_spawn(with_request_id(io.get_executor(), "bbbbbbbbbbbb"), request("b"), asio::detached);
  asio::co_spawn(io.get_executor(), plain(), asio::detached);
  while (timers.sleeping() < 2 && io.run_one() > 0) {
  }
  ASSERT_EQ(timers.sleeping(), 2u);
  EXPECT_EQ(current_request_id(), "");
  timers.advance(1s);
  io.run();

  EXPECT_EQ(seen["a"], std::vector<std::string>(6, "aaaaaaaaaaaa"));
  EXPECT_EQ(seen["b"], std::vector<std::string>(6, "bbbbbbbbbbbb"));
  EXPECT_EQ(seen["a/child"], std::vector<std::string>(2, "aaaaaaaaaaaa"));
  EXPECT_EQ(seen["b/child"], std::vector<std::string>(2, "bbbbbbbbbbbb"));
  EXPECT_EQ(untagged, std::vector<std::string>(4, ""));
  EXPECT_EQ(current_request_id(), "");
}

}  // namespace
}  // namespace shipmate
