// The VFS Shipmate opens its database through (storage/single_writer_vfs.h): the WAL index locks
// settled in memory between this process's connections, real locks towards other processes,
// and one write per commit that is on disk (in the WAL file) when the commit returns.
#include "storage/single_writer_vfs.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "storage/database.h"
#include "tests/support/test_support.h"

namespace shipmate::storage {
namespace {

using shipmate::testing::TempDir;

// A connection through SQLite's ordinary VFS, as the sqlite3 shell or a backup tool would open
// the file (here in this process; to the kernel its locks are another owner's).
class Outsider {
 public:
  explicit Outsider(const std::string& path) {
    sqlite3_open(path.c_str(), &db_);
    sqlite3_busy_timeout(db_, 200);
  }
  ~Outsider() { sqlite3_close(db_); }
  Outsider(const Outsider&) = delete;
  Outsider& operator=(const Outsider&) = delete;

  int exec(const std::string& sql) {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) & 0xff;
  }
  std::string text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    std::string out = "<error>";
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      const auto* value = sqlite3_column_text(stmt, 0);
      out = value != nullptr ? reinterpret_cast<const char*>(value) : "NULL";
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

std::unique_ptr<Database> open_or_fail(const std::string& path) {
  auto db = Database::open(path);
  if (!db)
    throw std::runtime_error("open failed: " + db.error().message);
  return std::move(db).value();
}

TEST(SingleWriterVfsTest, OtherConnectionsReadWhatShipmateCommitsButCannotWrite) {
  TempDir dir;
  const std::string path = dir.file("shipmate.db");
  auto db = open_or_fail(path);
  db->exec("CREATE TABLE notes (text TEXT)");
  db->exec("INSERT INTO notes VALUES ('one')");

  Outsider outsider(path);
  EXPECT_EQ(outsider.text("SELECT group_concat(text) FROM notes"), "one");
  // Shipmate is the database's only writer while it has it open.
  EXPECT_EQ(outsider.exec("INSERT INTO notes VALUES ('intruder')"), SQLITE_BUSY);

  // Reading does not stand in Shipmate's way, before or after its next commits.
  for (int i = 0; i < 50; ++i)
    db->exec("INSERT INTO notes VALUES ('more')");
  EXPECT_EQ(outsider.text("SELECT count(*) FROM notes WHERE text = 'more'"), "50");
  db->exec("INSERT INTO notes VALUES ('last')");
  EXPECT_EQ(outsider.text("SELECT text FROM notes ORDER BY rowid DESC LIMIT 1"), "last");

  db.reset();
  EXPECT_EQ(outsider.exec("INSERT INTO notes VALUES ('after')"), SQLITE_OK);
}

// Another process trying Database::open on `path` once `before` has run here. The child is forked
// before `before` runs, so it inherits none of this process's open files or lock table (as a
// second `shipmate` would not). Returns its error message, "" when it opened.
std::string open_in_another_process(const std::string& path, const std::function<void()>& before) {
  int go[2];
  int answer[2];
  if (pipe(go) != 0 || pipe(answer) != 0)
    return "pipe failed";
  const pid_t child = fork();
  if (child == 0) {
    close(go[1]);
    close(answer[0]);
    char signal = 0;
    if (read(go[0], &signal, 1) != 1)
      _exit(1);
    auto db = Database::open(path);
    const std::string message = db.ok() ? "" : db.error().message;
    [[maybe_unused]] auto written = write(answer[1], message.data(), message.size());
    _exit(0);
  }
  close(go[0]);
  close(answer[1]);
  before();
  [[maybe_unused]] auto sent = write(go[1], "!", 1);
  close(go[1]);
  std::string message;
  char buffer[512];
  for (ssize_t n; (n = read(answer[0], buffer, sizeof buffer)) > 0;)
    message.append(buffer, static_cast<std::size_t>(n));
  close(answer[0]);
  int status = 0;
  waitpid(child, &status, 0);
  return message;
}

TEST(SingleWriterVfsTest, ASecondShipmateOnTheSameFileIsRefusedClearly) {
  TempDir dir;
  const std::string path = dir.file("shipmate.db");
  std::unique_ptr<Database> first;
  const std::string refused = open_in_another_process(path, [&] { first = open_or_fail(path); });
  EXPECT_NE(refused.find("database is locked"), std::string::npos) << refused;
  EXPECT_NE(refused.find("second Shipmate"), std::string::npos) << refused;
  EXPECT_NE(refused.find(path), std::string::npos) << refused;
  EXPECT_EQ(open_in_another_process(path, [&] { first.reset(); }), "");
}

// What `shipmate audit verify` does next to a running `serve`: another process, forked before
// Shipmate opens the file (so it inherits none of its files or locks), opens the file read-only
// each time it is told to, counts the rows of `notes` and tries to write. Answers "rows=N
// refused-write" (or the error) for each go.
class Reader {
 public:
  explicit Reader(const std::string& path) {
    if (pipe(go_) != 0 || pipe(answer_) != 0)
      throw std::runtime_error("pipe failed");
    child_ = fork();
    if (child_ == 0) {
      close(go_[1]);
      close(answer_[0]);
      char signal = 0;
      while (read(go_[0], &signal, 1) == 1) {
        std::string message;
        auto db = Database::open_read_only(path);
        if (!db.ok()) {
          message = db.error().message;
        } else {
          auto count = (*db)->prepare("SELECT count(*) FROM notes");
          message = count.step() ? "rows=" + std::to_string(count.column_int64(0)) : "no row";
          try {
            (*db)->exec("INSERT INTO notes VALUES ('from the reader')");
            message += " wrote";
          } catch (const StorageError&) {
            message += " refused-write";
          }
        }
        message += '\n';
        [[maybe_unused]] auto written = write(answer_[1], message.data(), message.size());
      }
      _exit(0);
    }
    close(go_[0]);
    close(answer_[1]);
  }
  ~Reader() {
    close(go_[1]);
    close(answer_[0]);
    int status = 0;
    waitpid(child_, &status, 0);
  }
  std::string read_once() {
    [[maybe_unused]] auto sent = write(go_[1], "!", 1);
    std::string line;
    char c = 0;
    while (read(answer_[0], &c, 1) == 1 && c != '\n')
      line += c;
    return line;
  }

 private:
  int go_[2] = {-1, -1};
  int answer_[2] = {-1, -1};
  pid_t child_ = -1;
};

TEST(SingleWriterVfsTest, AReadOnlyOpenWorksWhileShipmateHoldsTheFile) {
  TempDir dir;
  const std::string path = dir.file("shipmate.db");
  Reader reader(path);
  auto db = open_or_fail(path);
  db->exec("CREATE TABLE notes (text TEXT)");
  db->exec("INSERT INTO notes VALUES ('one'), ('two')");
  // Database::open would be refused here (the test above); the read-only open is not.
  EXPECT_EQ(reader.read_once(), "rows=2 refused-write");
  db->exec("INSERT INTO notes VALUES ('three')");
  EXPECT_EQ(reader.read_once(), "rows=3 refused-write");
}

TEST(SingleWriterVfsTest, AReadOnlyOpenNeverCreatesOrMigrates) {
  TempDir dir;
  const std::string missing = dir.file("missing.db");
  auto absent = Database::open_read_only(missing);
  ASSERT_FALSE(absent.ok());
  EXPECT_NE(absent.error().message.find(missing), std::string::npos) << absent.error().message;
  EXPECT_NE(access(missing.c_str(), F_OK), 0) << "the read-only open created the file";

  // A file from an older build is not migrated behind the running Shipmate's back.
  const std::string old = dir.file("old.db");
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(old.c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(
        sqlite3_exec(raw, "CREATE TABLE t (x); PRAGMA user_version = 1", nullptr, nullptr, nullptr),
        SQLITE_OK);
    sqlite3_close(raw);
  }
  auto stale = Database::open_read_only(old);
  ASSERT_FALSE(stale.ok());
  EXPECT_NE(stale.error().message.find("version 1"), std::string::npos) << stale.error().message;
  EXPECT_NE(stale.error().message.find("shipmate serve"), std::string::npos)
      << stale.error().message;
}

TEST(SingleWriterVfsTest, ATransactionLargerThanTheGatherBufferCommits) {
  // One commit's WAL frames are gathered into one write of at most a few MB; a transaction of
  // many more pages than that must still commit whole, and be read back whole.
  TempDir dir;
  const std::string path = dir.file("shipmate.db");
  auto db = open_or_fail(path);
  db->exec("CREATE TABLE notes (text TEXT)");
  db->transaction([&] {
    auto insert = db->prepare("INSERT INTO notes VALUES (?)");
    for (int i = 0; i < 40000; ++i) {
      insert.bind(1, std::string(400, static_cast<char>('a' + i % 26)));
      insert.run();
      insert.reset();
    }
  });
  Outsider outsider(path);
  EXPECT_EQ(outsider.text("SELECT count(*) FROM notes"), "40000");
  db.reset();
  auto reopened = open_or_fail(path);
  auto count = reopened->prepare("SELECT count(*), sum(length(text)) FROM notes");
  ASSERT_TRUE(count.step());
  EXPECT_EQ(count.column_int64(0), 40000);
  EXPECT_EQ(count.column_int64(1), 40000 * 400);
}

TEST(SingleWriterVfsTest, AnOutsiderInTheMiddleOfAWriteKeepsShipmateOut) {
  TempDir dir;
  const std::string path = dir.file("shipmate.db");
  open_or_fail(path);
  Outsider outsider(path);
  ASSERT_EQ(outsider.exec("BEGIN IMMEDIATE; INSERT INTO locks (scope, holder, since) "
                          "VALUES ('x', 'y', 1);"),
            SQLITE_OK);
  auto refused = Database::open(path);
  EXPECT_FALSE(refused.ok());
  ASSERT_EQ(outsider.exec("COMMIT"), SQLITE_OK);
  auto db = open_or_fail(path);
  auto count = db->prepare("SELECT count(*) FROM locks");
  ASSERT_TRUE(count.step());
  EXPECT_EQ(count.column_int64(0), 1);
}

// Commits are gathered into one write each; that write has happened when the commit returns,
// so a process killed right after it loses nothing it committed.
TEST(SingleWriterVfsTest, EveryCommitIsInTheFileWhenItReturns) {
  TempDir dir;
  const std::string path = dir.file("shipmate.db");
  constexpr int kCommits = 300;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto opened = Database::open(path);
    if (!opened)
      _exit(2);
    auto& db = **opened;
    db.exec("CREATE TABLE numbers (n INTEGER, payload BLOB)");
    auto insert = db.prepare("INSERT INTO numbers VALUES (?, zeroblob(?))");
    for (int i = 1; i <= kCommits; ++i) {
      insert.reset();
      // Some commits span several pages, so frames of one commit are gathered together.
      insert.bind(1, std::int64_t{i}).bind(2, std::int64_t{i % 7 == 0 ? 20000 : 100});
      insert.run();
    }
    // No close, no checkpoint: as if the process were killed here.
    kill(getpid(), SIGKILL);
    _exit(3);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child failed before its commits: " << status;
  auto db = open_or_fail(path);
  auto check = db->prepare("SELECT count(*), sum(n), sum(length(payload)) FROM numbers");
  ASSERT_TRUE(check.step());
  EXPECT_EQ(check.column_int64(0), kCommits);
  EXPECT_EQ(check.column_int64(1), kCommits * (kCommits + 1) / 2);
  const std::int64_t big = kCommits / 7;
  EXPECT_EQ(check.column_int64(2), big * 20000 + (kCommits - big) * 100);
  auto integrity = db->prepare("PRAGMA integrity_check");
  ASSERT_TRUE(integrity.step());
  EXPECT_EQ(integrity.column_text(0), "ok");
}

// The background checkpointer's connection and the writer's settle their locks in memory, many
// checkpoints over (a threshold of 50 pages), and an outside reader still sees every row.
TEST(SingleWriterVfsTest, BackgroundCheckpointsAndOutsideReadersAgree) {
  TempDir dir;
  const std::string path = dir.file("shipmate.db");
  auto opened = Database::open(path, 50);
  ASSERT_TRUE(opened.ok());
  auto db = std::move(*opened);
  db->exec("CREATE TABLE filler (payload BLOB)");
  for (int i = 0; i < 400; ++i)
    db->exec("INSERT INTO filler VALUES (zeroblob(2000))");
  Outsider outsider(path);
  EXPECT_EQ(outsider.text("SELECT count(*) FROM filler"), "400");
  auto integrity = db->prepare("PRAGMA integrity_check");
  ASSERT_TRUE(integrity.step());
  EXPECT_EQ(integrity.column_text(0), "ok");
}

}  // namespace
}  // namespace shipmate::storage
