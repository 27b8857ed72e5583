// Internal to storage/: PostgreSQL through libpq, the second backend behind Database and
// Statement (database.h). Stores never see these classes; they write SQL once, in the dialect
// both backends accept, and ask Database::dialect() only where the two differ.
//
// Contract
// - Threading: a PgConnection and its PgStatements belong to the thread that owns their
//   Database, like the SQLite connection. libpq is used synchronously (a wait blocks that
//   thread); the non-blocking API is for later.
// - Round trips: outside a transaction each statement is one round trip. A transaction (begin()
//   to commit()) runs in libpq's pipeline mode (libpq 14 and later; an older libpq runs it as
//   outside): BEGIN and every statement whose rows nobody reads (run()) are sent without waiting;
//   the connection waits only when something needs an answer: a statement whose rows are read
//   (step()), changes(), exec(), and COMMIT. A statement sent with send() keeps its rows for
//   step() but waits for nothing: they come with the next wait, at the latest COMMIT's answer. Each
//   wait sends a Sync and reads every answer queued before it, so a transaction of writes only
//   costs one round trip, and one more for each statement whose rows it reads. Prepared statements
//   are prepared inside the same pipeline.
// - Plans: the connection runs with plan_cache_mode = force_custom_plan, so a statement is
//   planned at every execution against the tables as they are then (a generic plan made once,
//   while a table was still empty, would keep scanning it sequentially long after it has grown).
//   A statement whose SQL starts with kKeepPlan (storage/kept_plan.h) is the exception inside a
//   pipelined transaction: before it the
//   pipeline carries `set_config('plan_cache_mode', 'force_generic_plan', false)` and
//   `set_config('enable_seqscan', 'off', false)` (in the same round trip), so its plan is made
//   once, without sequential scans where an index can serve, and kept; the next statement not so
//   marked switches both back first (in the pipeline; outside a transaction in a round trip of
//   its own, before it). The settings are the session's, not the transaction's: they outlive
//   COMMIT, so a transaction of kept statements after another sends no switch at all (at 5,000
//   commands/s nearly every transaction is one), and a ROLLBACK, which undoes them, sets the
//   connection's idea of them back to what it was at BEGIN. A kept plan is made again (under the
//   same settings) only when the server invalidates it (an ANALYZE of its tables, a schema
//   change). BEGIN and COMMIT are prepared statements too.
// - Errors in a pipeline: the server skips everything after a failed statement until the Sync,
//   and the wait that reads its answer throws the error the statement would have thrown on its
//   own (same type, same message naming that statement's SQL, and the tag it was sent under:
//   StorageError::statement_tag, so group commit blames the item that sent it, not the one whose
//   read or COMMIT happened to wait), before anything after it could
//   commit: a statement's failure still rolls the whole transaction back
//   (Database::transaction() calls rollback_quietly(), which reads what is still queued, leaves
//   pipeline mode and sends ROLLBACK). What moves is only WHERE it is thrown: at the next wait of
//   the same transaction (at the latest its COMMIT), not in run() itself. So a caller must not
//   catch a run()'s error inside a transaction to carry on (PostgreSQL refuses every statement
//   of a failed transaction anyway); catching it around the transaction, as every store does,
//   is unchanged. A connection lost mid-pipeline fails that wait the same way, its message
//   saying the connection is lost.
// - Ownership: a PgStatement borrows its PgConnection and must not outlive it; it owns its
//   result.
// - SQL: `?NNN` and `?` placeholders (SQLite's) are rewritten to `$NNN` when a statement is
//   made; integers are sent as int8, text as text. Each distinct SQL text (with its parameter
//   types) is prepared on the server the first time it runs on a connection (one extra round
//   trip, once) and executed by name after that, so the server parses it once, not at every
//   execution (planning: see "Plans" above); past kMaxPrepared distinct texts (SQL built at run
//   time) statements run unnamed, as before. Protocol-level prepared statements outlive a
//   rolled-back transaction. An absent optional value is a NULL of its type (int8 or text), so `?1
//   IS NULL OR id < ?1` works when ?1 is absent: the server cannot infer a type from IS NULL and
//   refused such a query with an untyped NULL ("could not determine data type of parameter").
//   bind_null() alone sends a NULL of no stated type, for places where the context gives the type.
//   Results are read in text form.
// - Errors: connection failures come back from connect() as an Error whose text names the
//   database without its password (the password is registered with redact()). SQL failures
//   throw StorageError (ConstraintError for SQLSTATE class 23) with the server's message and an
//   excerpt of the SQL.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.h"

struct pg_conn;
struct pg_result;

namespace shipmate::storage::detail {

// "?1" -> "$1", "?" -> "$N" (one past the highest number so far, as SQLite numbers them);
// quoted strings, quoted identifiers and comments are left alone.
std::string postgres_placeholders(std::string_view sql);
// For error messages: SQL on one line, cut at 60 characters, in quotes.
std::string sql_excerpt(std::string_view sql);
std::string one_line(std::string text);

class PgStatement;

class PgConnection {
 public:
  // `uri` is a libpq connection URI (postgresql://...); its query parameters (sslmode,
  // sslrootcert, sslcert, sslkey, connect_timeout, ...) reach libpq unchanged.
  static Result<std::unique_ptr<PgConnection>> connect(const std::string& uri);
  // Database::postgresql_uri_problem().
  static std::string uri_problem(const std::string& uri, bool password_allowed);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs one or more statements with no parameters (migrations). Inside a pipelined
  // transaction it waits for what is queued and runs the rest of the transaction outside
  // pipeline mode.
  void exec(std::string_view sql);
  // A transaction: BEGIN (sent, not waited for, in pipeline mode) and COMMIT (which waits).
  void begin();
  void commit();
  // Whether a transaction is open (or failed and not yet rolled back).
  bool in_transaction() const;
  void rollback_quietly() noexcept;
  // Rows changed by the most recent INSERT, UPDATE or DELETE run through a PgStatement (waits
  // for the answers still queued first).
  int changes();
  // Database::tag_statements(): the tag of each statement sent from now on.
  void tag_statements(std::optional<std::size_t> tag) { tag_ = tag; }
  // postgresql://user@host:port/db, without the password: for messages and Database::path().
  const std::string& description() const { return description_; }

  pg_conn* handle() const { return conn_; }
  // The name of the server-side prepared statement for `sql` with parameter `types`, preparing
  // it first if this is its first use; null once kMaxPrepared statements exist. Throws
  // StorageError when the server refuses the statement.
  static constexpr std::size_t kMaxPrepared = 256;
  const std::string* prepared(const std::string& sql, const std::vector<unsigned int>& types);
  // Throws StorageError (or ConstraintError) for a failed `result`, which it clears.
  [[noreturn]] void throw_error(std::string_view what, pg_result* result,
                                std::optional<std::size_t> tag = std::nullopt) const;

 private:
  PgConnection(pg_conn* conn, std::string description)
      : conn_(conn), description_(std::move(description)) {}
  // A statement sent in pipeline mode whose answer is not read yet: `statement` takes its result
  // (null: nobody reads it); `prepared_key` is set for a Parse, forgotten if it fails.
  struct Pending {
    PgStatement* statement = nullptr;
    std::string what;
    std::string prepared_key;
    std::optional<std::size_t> tag;  // tag_ when it was sent
  };
  void send_command(const char* sql);
  // Waits for every pending answer (one Sync); throws the first failure among them.
  void settle();
  // Leaves pipeline mode (nothing may be pending).
  void leave_pipeline() noexcept;
  void count_changes(pg_result* result);
  // Switches the session to the settings under which kept plans are made (`keep`: only in a
  // pipelined transaction, sent without waiting) or back to those of every other statement (in
  // the pipeline, or outside one in a round trip of its own).
  void keep_plans(bool keep);

  pg_conn* conn_;
  std::string description_;
  int changes_ = 0;
  bool pipelined_ = false;
  bool keeping_plans_ = false;     // the session has (or will have, once what is sent has run)
                                   // the kept plans' settings
  bool keeping_at_begin_ = false;  // keeping_plans_ when the current transaction began
  std::optional<std::size_t> tag_;
  std::vector<Pending> pending_;
  // Prepared statement names by parameter types and SQL text (see prepared()).
  std::unordered_map<std::string, std::string> prepared_;
  friend class PgStatement;
};

class PgStatement {
 public:
  PgStatement(PgConnection& connection, std::string_view sql);
  ~PgStatement();
  PgStatement(const PgStatement&) = delete;
  PgStatement& operator=(const PgStatement&) = delete;

  void bind(int index, std::int64_t value);
  void bind(int index, std::string_view value);
  void bind_null(int index);
  void bind_null_int8(int index);
  void bind_null_text(int index);

  // The first call runs the statement; each call moves to the next row.
  bool step();
  // Runs it; in a pipelined transaction it is only sent (see the contract above).
  void run();
  // Runs it and keeps its rows for step(): in a pipelined transaction it is only sent, and its
  // result is taken at the connection's next wait (Statement::send()).
  void send();
  // Forgets the result; bindings stay, as in SQLite.
  void reset();

  std::int64_t column_int64(int index) const;
  std::string column_text(int index) const;
  bool column_is_null(int index) const;

 private:
  // Sends the statement; `wanted`: waits for its result (always, outside pipeline mode);
  // `keep`: its result is taken at the next wait even if it does not wait now (send()).
  void execute(bool wanted, bool keep = false);
  // Stops a result still on its way from being handed to this statement (reset, destruction).
  void detach() noexcept;
  void take(pg_result* result);
  void set(int index, std::optional<std::string> value, unsigned int type);

  PgConnection* connection_;
  std::string sql_;
  std::vector<std::optional<std::string>> values_;
  std::vector<unsigned int> types_;
  pg_result* result_ = nullptr;
  int row_ = -1;
  int rows_ = 0;
  bool awaiting_ = false;   // send() in a pipeline: its result comes with the next wait
  bool keep_plan_ = false;  // the SQL starts with kKeepPlan (see "Plans" above)
  friend class PgConnection;
};

}  // namespace shipmate::storage::detail
