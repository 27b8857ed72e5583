// What the scheduler tests share: one event loop on manual time (ManualTimers + ManualClock), an
// in-memory SQLite database and its schedule store. settle() lets every ready handler run;
// run_for() moves time on in one-second steps, settling after each, as real time would (a
// sleep that advance() completes resumes on a later turn).
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>

#include "common/timer.h"
#include "storage/database.h"
#include "storage/schedule_store.h"

namespace shipmate::testing {

class SchedulerFixture : public ::testing::Test {
 protected:
  explicit SchedulerFixture(EpochMillis start) : clock(start) {
    auto opened = storage::Database::open(":memory:");
    db = std::move(opened).value();
    store.emplace(*db, clock);
  }

  void settle() {
    while (io.poll() > 0) {
    }
    io.restart();
  }

  void run_for(EpochMillis millis) {
    for (EpochMillis done = 0; done < millis; done += 1000) {
      timers.advance(std::chrono::milliseconds(1000));
      settle();
    }
  }

  boost::asio::io_context io;
  ManualClock clock;
  ManualTimers timers{io.get_executor(), &clock};
  std::unique_ptr<storage::Database> db;
  std::optional<storage::ScheduleStore> store;
};

}  // namespace shipmate::testing
