// The database: one connection, prepared statements, transactions, versioned migrations, on
// one of two backends.
//
// Backends (the seam)
// - SQLite (the default; a file path or ":memory:") is described by everything below.
// - PostgreSQL (a location that starts with postgresql:// or postgres://) goes through libpq
//   (storage/postgres.h): the same Database and Statement, one connection owned by the same
//   thread, used synchronously. Stores write their SQL once, with SQLite's `?NNN` placeholders
//   and in the dialect both accept (ON CONFLICT, RETURNING, explicit column lists); where the
//   two differ they ask dialect(). Transactions begin with BEGIN IMMEDIATE on SQLite (one writer
//   at a time) and plain BEGIN (READ COMMITTED) on PostgreSQL, where each invariant that several
//   writers could break has its own constraint or row lock (see migrations_postgres.cpp).
//   last_insert_rowid() is SQLite-only; stores use RETURNING instead.
//
// Contract
// - Threading: a Database and its Statements belong to one thread at a time (Shipmate uses them
//   only from the event-loop thread). SQLite runs in multi-thread mode; nothing here locks.
// - Ownership: a Statement borrows its Database and must not outlive it.
// - Errors: `Database::open` reports unreadable, locked or corrupt files as an Error value with a
//   one-line message naming the path. After a successful open, SQL failures are programming or
//   environment errors and throw StorageError; callers that face users catch it at the command
//   boundary. `transaction()` rolls back when its body throws, so nothing is half-written.
// - Rollbacks are announced: a RollbackObserver is told after each transaction() that rolled
//   back, so a cache filled inside it (from rows that were never committed) can drop what it
//   read. Nothing is announced for a commit.
// - Files are opened in WAL mode with synchronous=NORMAL and foreign keys on; ":memory:" gives a
//   private in-memory database (tests).
// - Prepared statements are cached per Database and reused (see Statement); SQLite's memory
//   statistics are off process-wide, which spares a global mutex per allocation.
// - Checkpoints (copying the WAL back into the database file, with its fsyncs) run on a
//   background thread with a connection of its own, started once the WAL passes
//   kCheckpointPages. A commit on the event loop therefore never waits for one; before this, a
//   checkpoint every few thousand commits stalled the loop for several milliseconds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/metrics.h"
#include "common/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace shipmate::storage {

class StorageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  // The tag (Database::tag_statements) the failed statement was sent under, when its failure
  // was read after it was sent: in PostgreSQL's pipeline mode a statement whose rows nobody
  // reads fails at the transaction's next wait, possibly in another caller's code or at COMMIT.
  // Empty for a failure thrown where it happened (SQLite, PostgreSQL outside the pipeline) and
  // for what belongs to no statement (a lost connection, BEGIN, COMMIT itself).
  const std::optional<std::size_t>& statement_tag() const { return statement_tag_; }
  void set_statement_tag(std::optional<std::size_t> tag) { statement_tag_ = tag; }

 private:
  std::optional<std::size_t> statement_tag_;
};

// A constraint refused the write (PostgreSQL SQLSTATE class 23, SQLite's SQLITE_CONSTRAINT:
// unique, foreign key, check, not null).
class ConstraintError : public StorageError {
 public:
  using StorageError::StorageError;
};

enum class Dialect { sqlite, postgresql };

namespace detail {
class PgConnection;
class PgStatement;
}  // namespace detail

class Database;
class Checkpointer;

// What the WAL has done since the database was opened, counted by the writer's commits (a
// counter seam for tests and benchmarks; SQLite file databases only, zeros otherwise).
struct WalCounters {
  // Commits that found the WAL started over from its first frame.
  std::uint64_t restarts = 0;
  // Checkpoints the writer ran itself (the WAL had passed six times the background threshold,
  // so background passes could not keep up) that copied the whole WAL back.
  std::uint64_t writer_checkpoints = 0;
  // Background passes asked for by commits, and passes the background thread finished.
  std::uint64_t background_requests = 0;
  std::uint64_t background_passes = 0;
  // The WAL's length in frames after the last commit.
  std::uint64_t wal_frames = 0;
};
struct StatementCache;

// Told after a transaction rolled back (its writes are gone), on the database's thread. It must
// not throw and must not use the database from inside the call: it only marks what it holds as
// stale, to be read again later.
class RollbackObserver {
 public:
  virtual ~RollbackObserver() = default;
  virtual void rolled_back() noexcept = 0;
};

// A prepared statement. Preparing parses and plans the SQL, which cost more than running most
// of Shipmate's statements, so a Statement comes from its Database's cache of idle prepared
// statements when one for the same SQL is there, and goes back to it (reset, bindings cleared)
// when destroyed. Two live Statements never share one: a nested use of the same SQL gets its own.
class Statement {
 public:
  Statement(Database& db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;

  // Parameters are 1-based, as in SQLite.
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view value);
  Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, const std::string& value) {
    return bind(index, std::string_view(value));
  }
  // Binds `value` without copying it (SQLITE_STATIC): the bytes must stay valid and unchanged
  // until the last step() or scalar() that uses this binding has returned, and the parameter is
  // not read again after that until it is bound anew (a Statement going back to the cache, or
  // reset(), leaves the pointer unread). For buffers that outlive the statement's run: a row's
  // fields bound, run, then dropped. bind() copies, which costs an allocation and a memcpy.
  Statement& bind_borrowed(int index, std::string_view value);
  Statement& bind_null(int index);
  Statement& bind(int index, const std::optional<std::int64_t>& value);
  Statement& bind(int index, const std::optional<std::string>& value);

  // Returns true while a row is available; false when done.
  bool step();
  // Runs a statement that returns no rows.
  void run();
  // PostgreSQL only (throws StorageError on SQLite, whose statements run where they are
  // stepped): runs the statement and leaves its rows to be read with step() LATER, even after
  // the transaction's COMMIT. Inside a pipelined transaction it is only sent, and its rows come
  // with the transaction's next wait (at the latest COMMIT's answer), so reading them costs no
  // round trip of its own. The Statement must outlive that wait and not be reset before it.
  void send();
  // Runs a statement and returns the first column of its first row as an integer (0 when there
  // is no row), then resets it: `INSERT ... RETURNING id`, on both backends.
  std::int64_t scalar();
  void reset();

  std::int64_t column_int64(int index) const;
  std::string column_text(int index) const;
  bool column_is_null(int index) const;
  std::optional<std::int64_t> column_optional_int64(int index) const;

 private:
  Database* db_;
  sqlite3_stmt* stmt_ = nullptr;
  // Where the statement goes back to; null when it is finalized instead.
  std::shared_ptr<StatementCache> cache_;
  std::vector<sqlite3_stmt*>* idle_list_ = nullptr;  // the cache's list for this SQL
  std::unique_ptr<detail::PgStatement> pg_;          // PostgreSQL only; stmt_ is then null
};

class Database {
 public:
  // WAL size in pages at which a background checkpoint is requested: 4 MB with the 1 KB pages of
  // a database made since 2026-12-07 (database.cpp's kNewDatabasePageSize), 16 MB with SQLite's
  // 4 KB. SQLite's own automatic checkpoint runs at 1000 pages inside the commit; measured on the
  // Slack benchmark, 4000 cut the checkpoints' CPU enough to raise throughput by about 5%.
  static constexpr int kCheckpointPages = 4000;
  // Opens (creating if needed) and migrates to the latest schema. `checkpoint_pages` replaces
  // kCheckpointPages (tests use small values). A postgresql:// location connects to that server
  // instead and migrates its schema (the database itself must exist).
  static Result<std::unique_ptr<Database>> open(const std::string& path,
                                                int checkpoint_pages = kCheckpointPages);
  // Opens an existing database for reading only, through SQLite's default file handling, so it
  // works while a running Shipmate holds the file as its only writer (`shipmate audit verify`
  // next to `serve`). Never creates or migrates: a missing file, or one whose schema is not this
  // build's, is an Error naming the path. Every write through it fails with StorageError.
  static Result<std::unique_ptr<Database>> open_read_only(const std::string& path);
  // Whether `location` names a PostgreSQL database rather than an SQLite file.
  static bool is_postgresql(std::string_view location);
  // Why a postgresql:// URI cannot be used, or empty: libpq cannot parse it, or (when
  // `password_allowed` is false: the URI was written in the configuration file) it carries a
  // password. Never repeats the password.
  static std::string postgresql_uri_problem(const std::string& uri, bool password_allowed);
  // `uri` with `key=value` query parameters added (percent-encoded), for TLS options that reach
  // libpq unchanged: sslmode, sslrootcert, sslcert, sslkey.
  static std::string with_uri_parameters(
      std::string uri, const std::vector<std::pair<std::string, std::string>>& parameters);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void exec(std::string_view sql);
  Statement prepare(std::string_view sql) { return Statement(*this, sql); }
  // SQLite only (throws StorageError on PostgreSQL): write `INSERT ... RETURNING id` instead.
  std::int64_t last_insert_rowid() const;
  // Rows changed by the most recent INSERT, UPDATE or DELETE.
  int changes() const;
  int schema_version();
  // The file, or for PostgreSQL the server and database without the password.
  const std::string& path() const { return path_; }
  Dialect dialect() const { return pg_ ? Dialect::postgresql : Dialect::sqlite; }

  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT; rolls back and rethrows if it throws.
  // Nested calls join the outer transaction.
  template <class F>
  decltype(auto) transaction(F&& body) {
    if (transaction_depth_ > 0)
      return body();
    begin();
    ++transaction_depth_;
    try {
      if constexpr (std::is_void_v<decltype(body())>) {
        body();
        --transaction_depth_;
        commit();
        return;
      } else {
        auto result = body();
        --transaction_depth_;
        commit();
        return result;
      }
    } catch (...) {
      transaction_depth_ = 0;
      rollback_quietly();
      throw;
    }
  }

  // Observers are told in the order added; each must be removed before it is destroyed (or
  // outlive the Database). Adding one twice tells it twice.
  void add_rollback_observer(RollbackObserver* observer) {
    rollback_observers_.push_back(observer);
  }
  void remove_rollback_observer(RollbackObserver* observer);

  // Tags the statements sent from now on (empty: untagged), so that a failure read later than
  // its statement was sent still names who sent it (StorageError::statement_tag; group commit,
  // storage/commit_batcher.h, tags each item's writes with its index). Only PostgreSQL's
  // pipelined transactions read failures late; elsewhere this is remembered and unused.
  void tag_statements(std::optional<std::size_t> tag);

  // Where each transaction's COMMIT time goes (shipmate_sqlite_commit_seconds); null: nowhere.
  // The histogram must outlive the Database.
  void set_commit_histogram(metrics::Histogram* histogram) { commit_histogram_ = histogram; }

  // Read from any thread (the counters are atomic); see WalCounters.
  WalCounters wal_counters() const;

  // SQLite's handle; null on PostgreSQL.
  sqlite3* handle() const { return db_; }
  [[noreturn]] void throw_error(std::string_view what) const;

 private:
  Database(sqlite3* db, std::string path);
  explicit Database(std::unique_ptr<detail::PgConnection> pg);
  static Result<std::unique_ptr<Database>> open_postgresql(const std::string& uri, bool read_only);
  void begin();
  void rollback_quietly() noexcept;
  void commit();
  // exec() for a statement run often: prepared once, from the statement cache.
  void run_prepared(std::string_view sql);
  void migrate();

  sqlite3* db_;
  std::string path_;
  int transaction_depth_ = 0;
  std::vector<RollbackObserver*> rollback_observers_;
  metrics::Histogram* commit_histogram_ = nullptr;
  std::unique_ptr<Checkpointer> checkpointer_;  // file databases only
  // Shared with the Statements it lent out, so one that outlives the Database finds it closed.
  std::shared_ptr<StatementCache> statements_;
  std::unique_ptr<detail::PgConnection> pg_;  // PostgreSQL only; db_ is then null
  friend class Statement;
};

}  // namespace shipmate::storage
