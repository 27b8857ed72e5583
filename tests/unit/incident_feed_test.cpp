// IncidentTimelineFeed on both backends: it follows what was committed. A transaction that
// changed an incident (resolve, declare, linked service) and in which an engine event made the
// feed read the open incidents, then rolled back, must leave the feed with the committed list.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "commands/incidents.h"
#include "common/clock.h"
#include "storage/audit_log.h"
#include "storage/incident_store.h"
#include "tests/support/backends.h"
#include "tests/support/test_support.h"

namespace shipmate::commands {
namespace {

using shipmate::testing::Backend;
using shipmate::testing::fresh_location;

class IncidentFeedTest : public ::testing::TestWithParam<Backend> {
 protected:
  IncidentFeedTest() { audit.add_observer(&feed); }
  ~IncidentFeedTest() override { audit.remove_observer(&feed); }

  std::int64_t declare(const std::string& title, const std::string& service) {
    return db->transaction([&] {
      const auto id =
          incidents.declare({.title = title, .services = {service}, .declared_by = "alice"})
              .incident.id;
      audit.append({"alice", "incident.declared", storage::incident_label(id), "ok", title});
      return id;
    });
  }
  // An engine event: a lock on `service` in staging.
  void lock(const std::string& service, const std::string& note) {
    audit.append({"alice", "lock.acquired", service + "@staging", "ok", note});
  }
  std::string timeline_text(std::int64_t id) {
    std::string out;
    for (const auto& entry : incidents.timeline(id))
      out += entry.text + "\n";
    return out;
  }

  ManualClock clock;
  shipmate::testing::TempDir dir;
  std::unique_ptr<storage::Database> db =
      shipmate::testing::open_or_throw(fresh_location(GetParam(), dir, ":memory:"));
  storage::AuditLog audit{*db, clock};
  storage::IncidentStore incidents{*db, clock};
  IncidentSettings settings;
  IncidentTimelineFeed feed{*db, incidents, settings};
};
SHIPMATE_ON_BOTH_BACKENDS(IncidentFeedTest);

TEST_P(IncidentFeedTest, ARolledBackResolveLeavesTheIncidentOnTheFeed) {
  const auto id = declare("errors", "hello");
  EXPECT_THROW(db->transaction([&] {
    incidents.set_status(id, "resolved", "not yet", clock.now_ms());
    audit.append({"alice", "incident.resolved", storage::incident_label(id), "ok", "not yet"});
    lock("hello", "inside the resolve");  // the feed reads the open incidents: none
    throw std::runtime_error("the resolve fails");
  }),
               std::runtime_error);
  ASSERT_EQ(incidents.open_incidents().size(), 1u);
  lock("hello", "after the rollback");
  const auto timeline = timeline_text(id);
  EXPECT_NE(timeline.find("after the rollback"), std::string::npos) << timeline;
  EXPECT_EQ(timeline.find("inside the resolve"), std::string::npos) << timeline;
  EXPECT_EQ(feed.take_touched(), std::vector<std::int64_t>{id});
  EXPECT_FALSE(incidents.verify_timeline(id));
}

TEST_P(IncidentFeedTest, AServiceLinkedInARolledBackTransactionTakesNoEvents) {
  const auto id = declare("errors", "hello");
  EXPECT_THROW(db->transaction([&] {
    incidents.add_services(id, {"billing"});
    audit.append({"alice", "incident.link", storage::incident_label(id), "ok", "billing"});
    lock("billing", "inside the link");  // the feed reads the incident with billing
    throw std::runtime_error("the link fails");
  }),
               std::runtime_error);
  lock("billing", "billing after the rollback");  // not this incident's service
  lock("hello", "hello after the rollback");
  const auto timeline = timeline_text(id);
  EXPECT_EQ(timeline.find("billing"), std::string::npos) << timeline;
  EXPECT_NE(timeline.find("hello after the rollback"), std::string::npos) << timeline;
}

TEST_P(IncidentFeedTest, AnIncidentResolvedForRealTakesNoMoreEvents) {
  const auto id = declare("errors", "hello");
  lock("hello", "while open");
  db->transaction([&] {
    incidents.set_status(id, "resolved", "fixed", clock.now_ms());
    audit.append({"alice", "incident.resolved", storage::incident_label(id), "ok", "fixed"});
  });
  EXPECT_THROW(db->transaction([&] { throw std::runtime_error("an unrelated rollback"); }),
               std::runtime_error);
  lock("hello", "after the resolve");
  const auto timeline = timeline_text(id);
  EXPECT_NE(timeline.find("while open"), std::string::npos) << timeline;
  EXPECT_EQ(timeline.find("after the resolve"), std::string::npos) << timeline;
}

}  // namespace
}  // namespace shipmate::commands
