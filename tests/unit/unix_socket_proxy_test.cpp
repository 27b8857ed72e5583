// The test support's Unix-socket proxy (tests/support/unix_socket_proxy.h) in front of the real
// test PostgreSQL: queries go through it, and cut() ends the open connection and refuses new ones.
#include "tests/support/unix_socket_proxy.h"

#include <gtest/gtest.h>

#include <string>

#include "storage/database.h"
#include "tests/support/postgres_server.h"
#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

TEST(UnixSocketProxyTest, CarriesQueriesUntilCutThenEndsAndRefusesConnections) {
  auto& server = postgres_server();
  const std::string uri = server.fresh_database();
  TempDir dir;
  const std::string socket = "/.s.PGSQL.5432";
  UnixSocketProxy proxy(server.socket_dir() + socket, dir.path() + socket);
  const std::string proxied = through_proxy(uri, server.socket_dir(), dir.path());

  auto db = storage::Database::open(proxied);
  ASSERT_TRUE(db.ok()) << db.error().message;
  (*db)->exec("CREATE TABLE t (v BIGINT)");
  (*db)->exec("INSERT INTO t VALUES (7)");
  auto read = (*db)->prepare("SELECT v FROM t");
  ASSERT_TRUE(read.step());
  EXPECT_EQ(read.column_int64(0), 7);
  read.reset();
  EXPECT_EQ(proxy.connections_accepted(), 1);
  const auto sent = proxy.bytes_upstream();
  EXPECT_GT(sent, 0u);

  proxy.cut();
  EXPECT_ANY_THROW((*db)->exec("INSERT INTO t VALUES (8)"));
  auto again = storage::Database::open(proxied);
  EXPECT_FALSE(again.ok());
  EXPECT_EQ(proxy.bytes_upstream(), sent);  // nothing reached the server after the cut
  // The server itself never saw the refused write.
  auto direct = storage::Database::open(uri);
  ASSERT_TRUE(direct.ok()) << direct.error().message;
  auto count = (*direct)->prepare("SELECT COUNT(*) FROM t");
  ASSERT_TRUE(count.step());
  EXPECT_EQ(count.column_int64(0), 1);
}

}  // namespace
}  // namespace shipmate::testing
