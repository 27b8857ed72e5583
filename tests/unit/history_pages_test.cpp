// The web view's history pages (storage/history_pages.h) on both backends, with every optional
// filter and page key left out and given. On PostgreSQL an absent one is a NULL parameter whose
// type the server must know: `?6 IS NULL OR requested_at >= ?6` and `?1 IS NULL OR id < ?1`
// failed there before NULLs were sent typed (storage/postgres.h).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/clock.h"
#include "storage/database.h"
#include "storage/deploy_store.h"
#include "storage/history_pages.h"
#include "storage/incident_store.h"
#include "storage/runbook_store.h"
#include "tests/support/backends.h"
#include "tests/support/test_support.h"

namespace shipmate::storage {
namespace {

using shipmate::testing::Backend;
using shipmate::testing::fresh_location;
using shipmate::testing::open_or_throw;

class HistoryPagesTest : public ::testing::TestWithParam<Backend> {
 protected:
  ManualClock clock;
  shipmate::testing::TempDir dir;
  std::unique_ptr<Database> db = open_or_throw(fresh_location(GetParam(), dir, ":memory:"));
};
SHIPMATE_ON_BOTH_BACKENDS(HistoryPagesTest);

TEST_P(HistoryPagesTest, DeploySearchWithAndWithoutEachOptionalBound) {
  DeployStore deploys(*db, clock);
  const EpochMillis start = clock.now_ms();  // deploy i is requested at start + (i + 1) s
  for (int i = 0; i < 5; ++i) {
    NewDeploy request;
    request.service = "svc" + std::to_string(i);
    request.environment = "prod";
    request.version = "1." + std::to_string(i);
    request.requested_by = "alice";
    clock.advance_ms(1000);
    deploys.create(request);
  }
  DeploySearch all;
  all.limit = 2;
  DeploySearchPage page = search_deploys(*db, all);
  ASSERT_EQ(page.rows.size(), 2u);
  EXPECT_EQ(page.rows[0].id, 5);
  EXPECT_EQ(page.total, 5);
  EXPECT_TRUE(page.has_older);
  EXPECT_FALSE(page.has_newer);

  DeploySearch older = all;
  older.before_id = 4;
  page = search_deploys(*db, older);
  ASSERT_EQ(page.rows.size(), 2u);
  EXPECT_EQ(page.rows[0].id, 3);
  EXPECT_TRUE(page.has_newer);

  DeploySearch newer = all;
  newer.after_id = 1;
  page = search_deploys(*db, newer);
  ASSERT_EQ(page.rows.size(), 2u);
  EXPECT_EQ(page.rows[0].id, 3);
  EXPECT_EQ(page.rows[1].id, 2);

  DeploySearch window;
  window.since = start + 2000;
  window.until = start + 4000;
  page = search_deploys(*db, window);
  EXPECT_EQ(page.total, 2);
  DeploySearch since_only;
  since_only.since = start + 4000;
  EXPECT_EQ(search_deploys(*db, since_only).total, 2);
  DeploySearch until_only;
  until_only.until = start + 2000;
  EXPECT_EQ(search_deploys(*db, until_only).total, 1);
}

TEST_P(HistoryPagesTest, IncidentPageWithAndWithoutABeforeId) {
  IncidentStore incidents(*db, clock);
  for (int i = 0; i < 3; ++i) {
    DeclareRequest request;
    request.title = "incident " + std::to_string(i);
    request.declared_by = "alice";
    clock.advance_ms(10 * 60 * 1000);
    incidents.declare(request);
  }
  auto page = incident_page(*db, PageWindow{std::nullopt, std::nullopt, 2}, "");
  ASSERT_EQ(page.rows.size(), 2u);
  EXPECT_EQ(page.rows[0].id, 3);
  EXPECT_TRUE(page.has_older);
  EXPECT_FALSE(page.has_newer);
  page = incident_page(*db, PageWindow{2, std::nullopt, 2}, "open");
  ASSERT_EQ(page.rows.size(), 1u);
  EXPECT_EQ(page.rows[0].id, 1);
  EXPECT_FALSE(page.has_older);
  EXPECT_TRUE(page.has_newer);
  // Newer: ids above the bound, still newest first.
  page = incident_page(*db, PageWindow{std::nullopt, 1, 1}, "open");
  ASSERT_EQ(page.rows.size(), 1u);
  EXPECT_EQ(page.rows[0].id, 2);
  EXPECT_TRUE(page.has_older);
  EXPECT_TRUE(page.has_newer);
}

TEST_P(HistoryPagesTest, RunbookRunPageWithAndWithoutABeforeId) {
  RunbookStore runs(*db, clock);
  for (int i = 0; i < 3; ++i) {
    RunbookRunRecord run;
    run.runbook = "restart";
    run.started_by = "alice";
    run.status = "running";
    run.started_at = clock.now_ms();
    run.updated_at = clock.now_ms();
    runs.create_run(run);
  }
  auto page = runbook_run_page(*db, PageWindow{std::nullopt, std::nullopt, 2}, "", "");
  ASSERT_EQ(page.rows.size(), 2u);
  EXPECT_TRUE(page.has_older);
  page =
      runbook_run_page(*db, PageWindow{page.rows.back().id, std::nullopt, 5}, "restart", "running");
  ASSERT_EQ(page.rows.size(), 1u);
  EXPECT_FALSE(page.has_older);
  EXPECT_TRUE(page.has_newer);
  page = runbook_run_page(*db, PageWindow{std::nullopt, 1, 5}, "restart", "running");
  ASSERT_EQ(page.rows.size(), 2u);
  EXPECT_EQ(page.rows[0].id, 3);
  EXPECT_FALSE(page.has_newer);
  EXPECT_TRUE(page.has_older);
}

}  // namespace
}  // namespace shipmate::storage
